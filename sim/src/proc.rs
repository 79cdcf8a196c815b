//! `/proc/meminfo`, `/proc/buddyinfo` and `/proc/zoneinfo` parsing, `inspect` and `record`.
//!
//! `inspect` answers, for the machine it runs on: for each reporting order 0–10, how much free
//! memory free page reporting could hand back right now (free blocks of that order or larger),
//! and how much page cache `drop_caches` would free. With `/proc/zoneinfo` it also shows, per
//! zone, what reporting at order 9 could return now (nothing while the zone is below its
//! low watermark + 32 blocks), how much one pass may report (the per-list budgets), and what
//! sits on the per-CPU lists (which reporting never sees). `record` samples both files while a real
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

/// One zone of `/proc/zoneinfo` (the fields `inspect` uses; pages of 4 KiB).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneInfoEntry {
    /// NUMA node.
    pub node: u32,
    /// Zone name.
    pub zone: String,
    /// `pages free`.
    pub free: u64,
    /// `min` watermark.
    pub min: u64,
    /// `low` watermark.
    pub low: u64,
    /// `high` watermark.
    pub high: u64,
    /// `managed` pages.
    pub managed: u64,
    /// Per CPU: (`count`, `high`, `batch`) of its page list.
    pub pcp: Vec<(u64, u64, u64)>,
}

/// `/proc/zoneinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneInfo {
    /// Every zone, in file order.
    pub zones: Vec<ZoneInfoEntry>,
}

impl ZoneInfo {
    /// Parses the text of `/proc/zoneinfo` (per-node statistics are skipped).
    pub fn parse(text: &str) -> Result<Self, ProcError> {
        let mut zones: Vec<ZoneInfoEntry> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let err = |message: String| ProcError {
                file: "zoneinfo",
                line: i + 1,
                message,
            };
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("Node") {
                let (node, rest) = rest
                    .split_once(',')
                    .ok_or_else(|| err("missing `,` after the node".into()))?;
                let node: u32 = node
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("bad node number {:?}", node.trim())))?;
                let zone = rest
                    .trim_start()
                    .strip_prefix("zone")
                    .map(str::trim)
                    .filter(|z| !z.is_empty())
                    .ok_or_else(|| err("missing `zone NAME`".into()))?;
                zones.push(ZoneInfoEntry {
                    node,
                    zone: zone.to_string(),
                    ..ZoneInfoEntry::default()
                });
                continue;
            }
            let Some(z) = zones.last_mut() else {
                if t.is_empty() {
                    continue;
                }
                return Err(err("data before the first `Node N, zone NAME`".into()));
            };
            let mut parts = t.split_whitespace();
            let (Some(key), Some(val)) = (parts.next(), parts.next()) else {
                continue;
            };
            let num = |v: &str| -> Result<u64, ProcError> {
                v.parse()
                    .map_err(|_| err(format!("{key}: value {v:?} is not a number")))
            };
            match (key, val) {
                ("pages", "free") => {
                    let v = parts
                        .next()
                        .ok_or_else(|| err("pages free: missing value".into()))?;
                    z.free = num(v)?;
                }
                ("min", v) => z.min = num(v)?,
                ("low", v) => z.low = num(v)?,
                ("high", v) => z.high = num(v)?,
                ("managed", v) => z.managed = num(v)?,
                ("cpu:", _) => z.pcp.push((0, 0, 0)),
                ("count:", v) => {
                    let n = num(v)?;
                    if let Some(c) = z.pcp.last_mut() {
                        c.0 = n;
                    }
                }
                ("high:", v) => {
                    let n = num(v)?;
                    if let Some(c) = z.pcp.last_mut() {
                        c.1 = n;
                    }
                }
                ("batch:", v) => {
                    let n = num(v)?;
                    if let Some(c) = z.pcp.last_mut() {
                        c.2 = n;
                    }
                }
                _ => {}
            }
        }
        if zones.is_empty() {
            return Err(ProcError {
                file: "zoneinfo",
                line: 1,
                message: "no zones".into(),
            });
        }
        Ok(Self { zones })
    }
}

/// What one zone could give back now (from `/proc/zoneinfo` and `/proc/buddyinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneReport {
    /// NUMA node.
    pub node: u32,
    /// Zone name.
    pub zone: String,
    /// Managed bytes.
    pub managed: u64,
    /// Free bytes on the buddy lists.
    pub free: u64,
    /// The reporting gate in bytes: low watermark + 32 blocks of order 9.
    pub gate: u64,
    /// Free bytes in blocks of order ≥ 9 (what reporting at order 9 could hand back; some of
    /// it may be reported already — `/proc` does not say which).
    pub reportable: u64,
    /// Whether the zone passes the gate now (else reporting skips it).
    pub passes_gate: bool,
    /// Most one `linux` pass may report in this zone: per order ≥ 9,
    /// (ceil(nr_free / 512) + 1) × 32 blocks, at most what is free.
    pub per_pass: u64,
    /// Bytes on the per-CPU lists (all CPUs): free, but never reported.
    pub pcp: u64,
    /// CPUs with a list in this zone.
    pub cpus: usize,
    /// `high` of the first CPU's list, in bytes.
    pub pcp_high: u64,
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
    /// Per zone, with `/proc/zoneinfo` (empty without it).
    #[serde(default)]
    pub zones: Vec<ZoneReport>,
}

/// Builds the inspection from the two files' contents.
pub fn inspect_text(meminfo: &str, buddyinfo: &str) -> Result<Inspection, ProcError> {
    inspect_zones(meminfo, buddyinfo, None)
}

/// Reporting order `inspect`'s per-zone figures use (Linux's default, the pageblock order).
const ZONE_ORDER: usize = 9;

fn zone_report(z: &ZoneInfoEntry, b: &BuddyInfo) -> ZoneReport {
    let counts = b
        .zones
        .iter()
        .find(|bz| bz.node == z.node && bz.zone == z.zone)
        .map_or(&[][..], |bz| bz.free.as_slice());
    let page = 4096u64;
    let gate = z.low + (32 << ZONE_ORDER);
    let mut reportable = 0u64;
    let mut per_pass = 0u64;
    for (o, &n) in counts.iter().enumerate().skip(ZONE_ORDER) {
        let block = page << o;
        reportable = reportable.saturating_add(n.saturating_mul(block));
        let budget_blocks = (n.div_ceil(512) + 1) * 32;
        per_pass = per_pass.saturating_add(n.min(budget_blocks).saturating_mul(block));
    }
    let passes_gate = z.free > gate;
    ZoneReport {
        node: z.node,
        zone: z.zone.clone(),
        managed: z.managed * page,
        free: z.free * page,
        gate: gate * page,
        reportable,
        passes_gate,
        per_pass: if passes_gate { per_pass } else { 0 },
        pcp: z.pcp.iter().map(|c| c.0).sum::<u64>() * page,
        cpus: z.pcp.len(),
        pcp_high: z.pcp.first().map_or(0, |c| c.1) * page,
    }
}

/// Builds the inspection from `/proc/meminfo`, `/proc/buddyinfo` and, if given,
/// `/proc/zoneinfo`.
pub fn inspect_zones(
    meminfo: &str,
    buddyinfo: &str,
    zoneinfo: Option<&str>,
) -> Result<Inspection, ProcError> {
    let m = MemInfo::parse(meminfo)?;
    let b = BuddyInfo::parse(buddyinfo)?;
    let zones = match zoneinfo {
        Some(t) => ZoneInfo::parse(t)?
            .zones
            .iter()
            .filter(|z| z.managed > 0)
            .map(|z| zone_report(z, &b))
            .collect(),
        None => Vec::new(),
    };
    Ok(Inspection {
        total: m.get("MemTotal"),
        free: m.get("MemFree"),
        used: m.used(),
        cached: m.get("Cached"),
        droppable_cache: m.droppable_cache(),
        reportable_by_order: (0..=MAX_ORDER).map(|o| b.free_at_or_above(o)).collect(),
        buddy_free: b.free_at_or_above(0),
        zones,
    })
}

/// Reads the live `/proc` files of this machine (`/proc/zoneinfo` too when readable).
pub fn inspect_live() -> Result<Inspection, String> {
    let m = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| format!("cannot read /proc/meminfo: {e}"))?;
    let b = std::fs::read_to_string("/proc/buddyinfo")
        .map_err(|e| format!("cannot read /proc/buddyinfo: {e}"))?;
    let z = std::fs::read_to_string("/proc/zoneinfo").ok();
    inspect_zones(&m, &b, z.as_deref()).map_err(|e| e.to_string())
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
        if !self.zones.is_empty() {
            let _ = writeln!(
                s,
                "per zone, reporting at order 9 (gate: low watermark + 32 blocks):"
            );
            let _ = writeln!(
                s,
                "  zone        managed        free   reportable   one pass   per-CPU lists (high per CPU)"
            );
            for z in &self.zones {
                let pass = if z.passes_gate {
                    human(z.per_pass)
                } else {
                    "below gate".to_string()
                };
                let _ = writeln!(
                    s,
                    "  {:<8} {:>10}  {:>10}  {:>11}  {:>9}   {} on {} CPUs ({})",
                    z.zone,
                    human(z.managed),
                    human(z.free),
                    human(z.reportable),
                    pass,
                    human(z.pcp),
                    z.cpus,
                    human(z.pcp_high)
                );
            }
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
