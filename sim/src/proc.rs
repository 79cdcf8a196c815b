//! `/proc/meminfo` and `/proc/buddyinfo` parsing, `inspect` and `record`.
//!
//! `inspect` answers, for the machine it runs on: for each reporting order 0–10, how much free
//! memory free page reporting could hand back right now (free blocks of that order or larger),
//! and how much page cache `drop_caches` would free. `record` samples both files while a real
//! command runs and writes a trace that `simulate --trace` replays.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::format;
use std::prelude::rust_2024::*;
use std::string::{String, ToString};
use std::vec::Vec;

/// Highest buddy order Linux keeps on x86-64 (MAX_PAGE_ORDER).
pub const MAX_ORDER: usize = 10;

/// A parse error in a `/proc` file: which file, which line, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcError {
    /// `meminfo` or `buddyinfo`.
    pub file: &'static str,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ProcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "/proc/{} line {}: {}",
            self.file, self.line, self.message
        )
    }
}

impl std::error::Error for ProcError {}

/// `/proc/meminfo` as key → bytes (values given in kB are converted; counts are kept as is).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemInfo {
    /// Every field, in bytes (fields without a unit are raw numbers).
    pub fields: BTreeMap<String, u64>,
}

impl MemInfo {
    /// Parses the text of `/proc/meminfo`.
    pub fn parse(text: &str) -> Result<Self, ProcError> {
        let mut fields = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let err = |message: String| ProcError {
                file: "meminfo",
                line: i + 1,
                message,
            };
            let (key, rest) = line
                .split_once(':')
                .ok_or_else(|| err(format!("expected `Key: value`, got {line:?}")))?;
            let mut parts = rest.split_whitespace();
            let num: u64 = parts
                .next()
                .ok_or_else(|| err(format!("{key}: missing value")))?
                .parse()
                .map_err(|_| err(format!("{key}: value is not a number")))?;
            let value = match parts.next() {
                Some("kB") => num
                    .checked_mul(1024)
                    .ok_or_else(|| err(format!("{key}: value out of range")))?,
                None => num,
                Some(u) => return Err(err(format!("{key}: unknown unit {u:?}"))),
            };
            fields.insert(key.trim().to_string(), value);
        }
        if !fields.contains_key("MemTotal") {
            return Err(ProcError {
                file: "meminfo",
                line: 1,
                message: "no MemTotal field".into(),
            });
        }
        Ok(Self { fields })
    }

    /// A field in bytes (0 when absent).
    pub fn get(&self, key: &str) -> u64 {
        self.fields.get(key).copied().unwrap_or(0)
    }

    /// Page cache a `drop_caches=1` would free: clean, unmapped file pages. Estimated as
    /// `Active(file) + Inactive(file) − Shmem... − Dirty − Writeback − Mapped` (never below 0):
    /// mapped and dirty pages stay, shared memory is not on the file LRU.
    pub fn droppable_cache(&self) -> u64 {
        let file = self.get("Active(file)") + self.get("Inactive(file)");
        let file = if file == 0 {
            self.get("Cached").saturating_sub(self.get("Shmem"))
        } else {
            file
        };
        file.saturating_sub(self.get("Dirty") + self.get("Writeback") + self.get("Mapped"))
    }

    /// Memory in use by processes and the kernel, excluding free memory and page cache.
    pub fn used(&self) -> u64 {
        self.get("MemTotal").saturating_sub(
            self.get("MemFree")
                + self.get("Buffers")
                + self.get("Cached")
                + self.get("SReclaimable"),
        )
    }
}

/// One zone line of `/proc/buddyinfo`: free block counts per order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuddyZone {
    /// NUMA node.
    pub node: u32,
    /// Zone name (`DMA`, `DMA32`, `Normal`, `Movable`).
    pub zone: String,
    /// Free blocks of order 0, 1, … (as many columns as the kernel printed).
    pub free: Vec<u64>,
}

/// `/proc/buddyinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuddyInfo {
    /// Every zone.
    pub zones: Vec<BuddyZone>,
}

impl BuddyInfo {
    /// Parses `Node 0, zone   Normal   12  3 ...`.
    pub fn parse(text: &str) -> Result<Self, ProcError> {
        let mut zones = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let err = |message: String| ProcError {
                file: "buddyinfo",
                line: i + 1,
                message,
            };
            let rest = line.trim_start().strip_prefix("Node").ok_or_else(|| {
                err(format!(
                    "expected `Node N, zone NAME counts...`, got {line:?}"
                ))
            })?;
            let (node, rest) = rest
                .split_once(',')
                .ok_or_else(|| err("missing `,` after the node".into()))?;
            let node: u32 = node
                .trim()
                .parse()
                .map_err(|_| err(format!("bad node number {:?}", node.trim())))?;
            let rest = rest
                .trim_start()
                .strip_prefix("zone")
                .ok_or_else(|| err("missing `zone`".into()))?;
            let mut parts = rest.split_whitespace();
            let zone = parts
                .next()
                .ok_or_else(|| err("missing zone name".into()))?
                .to_string();
            let free = parts
                .map(|p| {
                    p.parse::<u64>()
                        .map_err(|_| err(format!("bad count {p:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if free.is_empty() || free.len() > 16 {
                return Err(err(format!(
                    "expected 1..=16 order columns, got {}",
                    free.len()
                )));
            }
            zones.push(BuddyZone { node, zone, free });
        }
        if zones.is_empty() {
            return Err(ProcError {
                file: "buddyinfo",
                line: 1,
                message: "no zones".into(),
            });
        }
        Ok(Self { zones })
    }

    /// Free bytes in blocks of order `order` or larger, over all zones (4 KiB pages).
    pub fn free_at_or_above(&self, order: usize) -> u64 {
        self.zones
            .iter()
            .flat_map(|z| z.free.iter().enumerate())
            .filter(|(o, _)| *o >= order)
            .map(|(o, n)| n.saturating_mul(4096u64 << o))
            .fold(0u64, u64::saturating_add)
    }
}

/// What `inspect` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// MemTotal in bytes.
    pub total: u64,
    /// MemFree in bytes.
    pub free: u64,
    /// Used by processes and kernel (not cache, not free).
    pub used: u64,
    /// Page cache (`Cached`).
    pub cached: u64,
    /// What `drop_caches=1` would free (estimate).
    pub droppable_cache: u64,
    /// For each order 0..=10: free bytes free page reporting at that order could return now.
    pub reportable_by_order: Vec<u64>,
    /// Free bytes on the buddy free lists (`/proc/buddyinfo`, all orders and zones).
    pub buddy_free: u64,
}

/// Builds the inspection from the two files' contents.
pub fn inspect_text(meminfo: &str, buddyinfo: &str) -> Result<Inspection, ProcError> {
    let m = MemInfo::parse(meminfo)?;
    let b = BuddyInfo::parse(buddyinfo)?;
    Ok(Inspection {
        total: m.get("MemTotal"),
        free: m.get("MemFree"),
        used: m.used(),
        cached: m.get("Cached"),
        droppable_cache: m.droppable_cache(),
        reportable_by_order: (0..=MAX_ORDER).map(|o| b.free_at_or_above(o)).collect(),
        buddy_free: b.free_at_or_above(0),
    })
}

/// Reads the live `/proc` files of this machine.
pub fn inspect_live() -> Result<Inspection, String> {
    let m = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| format!("cannot read /proc/meminfo: {e}"))?;
    let b = std::fs::read_to_string("/proc/buddyinfo")
        .map_err(|e| format!("cannot read /proc/buddyinfo: {e}"))?;
    inspect_text(&m, &b).map_err(|e| e.to_string())
}

/// Bytes as a short human string (`1.50 GiB`).
pub fn human(bytes: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {}", U[i])
    }
}

impl Inspection {
    /// A note when the buddy free lists and `MemFree` disagree by more than 10 % of `MemFree`
    /// and 64 MiB: free page reporting sees only the buddy lists, so the table's percentages
    /// (of `MemFree`) do not add up without it.
    pub fn free_mismatch(&self) -> Option<String> {
        let (buddy, free) = (self.buddy_free, self.free);
        let diff = buddy.abs_diff(free);
        if diff <= (free / 10).max(64 << 20) {
            return None;
        }
        Some(if buddy < free {
            format!(
                "note: MemFree counts {} free, but the buddy free lists (/proc/buddyinfo) show only {}: \
                 this kernel counts {} as free that is on no buddy list, and free page reporting, \
                 which takes its blocks from the buddy lists, cannot return it; the percentages \
                 below are of MemFree",
                human(free),
                human(buddy),
                human(diff)
            )
        } else {
            format!(
                "note: the buddy free lists (/proc/buddyinfo) show {} free, {} more than MemFree \
                 ({}): the two files were read at different moments, or describe different \
                 machines; the percentages below are of MemFree",
                human(buddy),
                human(diff),
                human(free)
            )
        })
    }

    /// A readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "memory: total {}, used {}, page cache {}, free {}",
            human(self.total),
            human(self.used),
            human(self.cached),
            human(self.free)
        );
        if let Some(note) = self.free_mismatch() {
            let _ = writeln!(s, "{note}");
        }
        let _ = writeln!(
            s,
            "a page-cache drop (drop_caches=1) would free about {}",
            human(self.droppable_cache)
        );
        let _ = writeln!(s, "free page reporting could return now, by minimum order:");
        let _ = writeln!(s, "  order       block   reportable   of free");
        for (o, bytes) in self.reportable_by_order.iter().enumerate() {
            let pct = if self.free == 0 {
                0.0
            } else {
                *bytes as f64 * 100.0 / self.free as f64
            };
            let note = match o {
                5 => "  (WSL on hosts with 64 KiB fault clusters)",
                9 => "  (Linux default: pageblock)",
                _ => "",
            };
            let _ = writeln!(
                s,
                "  {o:>5}  {:>10}  {:>11}  {pct:>6.1} %{note}",
                human(4096 << o),
                human(*bytes)
            );
        }
        s
    }
}

/// One sample of a recorded trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceSample {
    /// Time since the start of the recording, ns.
    pub t_ns: u64,
    /// Memory used by processes and kernel (bytes).
    pub used: u64,
    /// Page cache (bytes).
    pub cached: u64,
    /// Free (bytes).
    pub free: u64,
    /// Free blocks per order (all zones), if buddyinfo was readable.
    #[serde(default)]
    pub buddy: Vec<u64>,
}

/// A recorded workload: what `record` writes and `simulate --trace` replays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedTrace {
    /// Format marker, always `hv-dynmem-trace`.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// The command that ran.
    pub command: Vec<String>,
    /// MemTotal of the machine (bytes).
    pub total: u64,
    /// Sampling period, ns.
    pub period_ns: u64,
    /// Samples in time order.
    pub samples: Vec<TraceSample>,
}

impl RecordedTrace {
    /// Parses and checks a trace file's JSON.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t: Self = serde_json::from_str(text).map_err(|e| format!("not a valid trace: {e}"))?;
        if t.format != "hv-dynmem-trace" {
            return Err(format!("not an hv-dynmem trace (format {:?})", t.format));
        }
        if t.version != 1 {
            return Err(format!("unsupported trace version {}", t.version));
        }
        if t.samples.is_empty() {
            return Err("trace has no samples".into());
        }
        if t.samples.windows(2).any(|w| w[1].t_ns < w[0].t_ns) {
            return Err("trace samples are not in time order".into());
        }
        if t.total < (64 << 20) {
            return Err(format!("trace total memory {} is too small", t.total));
        }
        Ok(t)
    }
}

/// Takes one sample from the given file contents.
pub fn sample_from(
    t_ns: u64,
    meminfo: &str,
    buddyinfo: Option<&str>,
) -> Result<(u64, TraceSample), ProcError> {
    let m = MemInfo::parse(meminfo)?;
    let buddy = match buddyinfo {
        Some(b) => {
            let b = BuddyInfo::parse(b)?;
            let mut per = std::vec![0u64; MAX_ORDER + 1];
            for z in &b.zones {
                for (o, n) in z.free.iter().enumerate() {
                    if let Some(slot) = per.get_mut(o) {
                        *slot += n;
                    }
                }
            }
            per
        }
        None => Vec::new(),
    };
    let cached = m.get("Cached") + m.get("Buffers");
    Ok((
        m.get("MemTotal"),
        TraceSample {
            t_ns,
            used: m.used(),
            cached,
            free: m.get("MemFree"),
            buddy,
        },
    ))
}

/// Runs `command`, sampling `/proc/meminfo` and `/proc/buddyinfo` every `period`, and returns
/// the trace plus the command's exit status. One sample is taken before the start and one
/// after the end.
pub fn record(
    command: &[String],
    period: std::time::Duration,
) -> Result<(RecordedTrace, std::process::ExitStatus), String> {
    let (prog, args) = command
        .split_first()
        .ok_or("record needs a command: hv-dynmem record -- CMD [ARGS...]")?;
    let start = std::time::Instant::now();
    let mut samples = Vec::new();
    let mut total = 0;
    let mut take = |samples: &mut Vec<TraceSample>| -> Result<(), String> {
        let m = std::fs::read_to_string("/proc/meminfo")
            .map_err(|e| format!("cannot read /proc/meminfo: {e}"))?;
        let b = std::fs::read_to_string("/proc/buddyinfo").ok();
        let t_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let (tot, s) = sample_from(t_ns, &m, b.as_deref()).map_err(|e| e.to_string())?;
        total = tot;
        samples.push(s);
        Ok(())
    };
    take(&mut samples)?;
    let mut child = std::process::Command::new(prog)
        .args(args)
        .spawn()
        .map_err(|e| format!("cannot run {prog:?}: {e}"))?;
    let status = loop {
        match child
            .try_wait()
            .map_err(|e| format!("waiting for {prog:?}: {e}"))?
        {
            Some(st) => break st,
            None => {
                std::thread::sleep(period);
                take(&mut samples)?;
            }
        }
    };
    take(&mut samples)?;
    Ok((
        RecordedTrace {
            format: "hv-dynmem-trace".into(),
            version: 1,
            command: command.to_vec(),
            total,
            period_ns: u64::try_from(period.as_nanos()).unwrap_or(u64::MAX),
            samples,
        },
        status,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buddyinfo_sums() {
        let b = BuddyInfo::parse("Node 0, zone      DMA      1      1      1      0      2      1      1      0      1      1      3\nNode 0, zone   Normal   10 0 0 0 0 0 0 0 0 1 2\n").unwrap();
        assert_eq!(b.zones.len(), 2);
        assert_eq!(b.free_at_or_above(10), 5 * (4 << 20));
        assert_eq!(b.free_at_or_above(9), 5 * (4 << 20) + 2 * (2 << 20));
    }

    #[test]
    fn bad_lines_are_named() {
        let e = MemInfo::parse("MemTotal: 10 kB\nMemFree x\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = BuddyInfo::parse("Node 0, zone Normal 1 x\n").unwrap_err();
        assert!(e.message.contains("bad count"), "{e}");
    }
}
