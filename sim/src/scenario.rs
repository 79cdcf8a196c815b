//! Scenario files: TOML documents of timed workload steps, plus the built-in scenarios.
//!
//! A scenario names the guest (memory size, boot-time kernel memory), the host mode, the
//! reporting and cache policies, and a list of `[[step]]`s, each with an `at` time and an action
//! (`do`). Sizes are strings such as `"512MiB"`, `"3GB"` or plain byte counts; durations are
//! strings such as `"250ms"`, `"30s"`, `"10m"` or `"1h"`. See `docs/simulator.md` for the format.
//!
//! Errors name the line, the column and the field, e.g.
//! `wsl-build.toml:12:8: field `size`: invalid size "3XB" (use e.g. 512MiB, 3GB, 4096)`.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::format;
use std::prelude::rust_2024::*;
use std::string::{String, ToString};
use std::vec::Vec;

/// A byte count parsed from `"512MiB"`, `"3GB"`, `"4 KiB"` or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

/// A duration in nanoseconds of simulated time, parsed from `"250ms"`, `"2s"`, `"10m"`, `"1h"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct SimDuration(pub u64);

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// Parses a size such as `"512MiB"`, `"3GB"`, `"1.5 GiB"` or `"4096"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: String = num.chars().filter(|&c| c != '_').collect();
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {text:?} (use e.g. 512MiB, 3GB, 4096)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "gb" => 1e9,
        "t" | "tib" => 1024.0f64.powi(4),
        "tb" => 1e12,
        _ => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)",
                unit.trim()
            ));
        }
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes < 0.0 || bytes > 2f64.powi(52) {
        return Err(format!("invalid size {text:?}: out of range"));
    }
    Ok(bytes.round() as u64)
}

/// Parses a duration such as `"250ms"`, `"2s"`, `"1.5m"`, `"1h"` or `"10m40s"` into
/// nanoseconds (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration (use e.g. 250ms, 30s, 10m40s, 1h)".to_string());
    }
    let mut rest = t;
    let mut total = 0f64;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?} (use e.g. 250ms, 30s, 10m40s, 1h)"))?;
        let ulen = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(ulen);
        let mult: f64 = match unit.trim() {
            "ns" => 1.0,
            "us" => 1e3,
            "ms" => 1e6,
            "" | "s" => 1e9,
            "m" | "min" => 60e9,
            "h" => 3600e9,
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (use ns, us, ms, s, m, h)"
                ));
            }
        };
        total += value * mult;
        rest = next;
    }
    if !total.is_finite() || total > 1e18 {
        return Err(format!("invalid duration {text:?}: out of range"));
    }
    Ok(total.round() as u64)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(u64),
    Str(String),
}

/// Keeps serde's "missing field" error; replaces anything else with `what`.
fn keep_missing<E: serde::de::Error>(e: E, what: &str) -> E {
    if e.to_string().contains("missing field") {
        e
    } else {
        E::custom(what)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrStr::deserialize(d).map_err(|e| {
            keep_missing(
                e,
                "expected a size: a string such as \"512MiB\" or an integer",
            )
        })? {
            NumOrStr::Num(n) => Ok(Self(n)),
            NumOrStr::Str(s) => parse_size(&s).map(Self).map_err(serde::de::Error::custom),
        }
    }
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrStr::deserialize(d).map_err(|e| {
            keep_missing(
                e,
                "expected a duration: a string such as \"30s\" or an integer of seconds",
            )
        })? {
            NumOrStr::Num(n) => n
                .checked_mul(NS_PER_SEC)
                .map(Self)
                .ok_or_else(|| serde::de::Error::custom("duration out of range")),
            NumOrStr::Str(s) => parse_duration(&s)
                .map(Self)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// How the host runs the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HostMode {
    /// WSL2: fixed size, deferred commit, no ballooning; memory returns through cold-discard
    /// heat hints (free page reporting).
    #[default]
    Wsl2,
    /// Hyper-V dynamic memory: startup/minimum/maximum, balloon and hot-add.
    Hyperv,
}

/// Reporting policy names (the engine's policies plus `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReportPolicy {
    /// Linux's upstream free page reporting semantics.
    #[default]
    Linux,
    /// Coalesced ranges, no per-pass budget when idle.
    Coalesced,
    /// No free page reporting at all.
    Off,
}

impl ReportPolicy {
    /// The policy's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Coalesced => "coalesced",
            Self::Off => "off",
        }
    }
}

pub use hv_reclaim::{CacheEra, CachePolicy, ReclaimMode};

/// `[guest]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSpec {
    /// Guest RAM (WSL2: the fixed VM size; Hyper-V: the maximum).
    pub memory: ByteSize,
    /// Unmovable kernel memory allocated (and backed) at boot.
    #[serde(default = "default_kernel")]
    pub kernel: ByteSize,
    /// Buddy order of anonymous allocations: 9 = transparent huge pages (the default), 0 =
    /// single 4 KiB pages (slower to simulate, more fragmentation).
    #[serde(default = "default_order")]
    pub anon_order: u8,
    /// Virtual CPUs: each has its own per-CPU page lists (default 2).
    #[serde(default = "default_cpus")]
    pub cpus: u32,
    /// The low-memory boundary: RAM below 4 GiB ends here and the rest starts at 4 GiB
    /// (default per host mode: 3968 MiB for `wsl2` and `hyperv`; QEMU `pc` uses 3 GiB).
    #[serde(default)]
    pub low_memory: Option<ByteSize>,
    /// The part of `kernel` placed at the bottom of `ZONE_DMA32` (kernel image, swiotlb
    /// bounce buffers); the rest is taken top-down from the end of the boot RAM, as memblock
    /// allocates (default 0).
    #[serde(default)]
    pub kernel_low: ByteSize,
}

fn default_cpus() -> u32 {
    2
}

fn default_kernel() -> ByteSize {
    ByteSize(256 << 20)
}

/// `[host]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// `wsl2` or `hyperv`.
    #[serde(default)]
    pub mode: HostMode,
    /// Hyper-V: memory at boot (default: the guest's memory).
    pub startup: Option<ByteSize>,
    /// Hyper-V: minimum memory (default: startup).
    pub minimum: Option<ByteSize>,
    /// Hyper-V: memory buffer percentage (default 20).
    pub buffer: Option<u32>,
}

/// `[reporting]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportingSpec {
    /// `linux`, `coalesced` or `off`.
    #[serde(default)]
    pub policy: ReportPolicy,
    /// Minimum reporting order (0–10; default 9 = 2 MiB).
    #[serde(default = "default_order")]
    pub order: u8,
}

impl Default for ReportingSpec {
    fn default() -> Self {
        Self {
            policy: ReportPolicy::Linux,
            order: default_order(),
        }
    }
}

fn default_order() -> u8 {
    9
}

/// `[cache]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// `disabled`, `dropcache` or `gradual`.
    #[serde(default)]
    pub policy: CachePolicy,
    /// `"2024"` or `"2026"` (default).
    #[serde(default)]
    pub era: CacheEra,
    /// `wsl2024`, `wsl2026` or `ours`; absent: WSL's thread of `era`.
    #[serde(default)]
    pub mode: Option<ReclaimMode>,
    /// Run the three modes (`wsl2024`, `wsl2026`, `ours`) side by side.
    #[serde(default)]
    pub compare: bool,
}

impl CacheSpec {
    /// The reclaim mode this spec runs.
    pub fn mode(&self) -> ReclaimMode {
        self.mode.unwrap_or(ReclaimMode::of_era(self.era))
    }
}

/// One timed workload step.
#[derive(Debug, Clone, Deserialize)]
pub struct Step {
    /// When the step starts (from boot).
    pub at: SimDuration,
    /// What it does.
    #[serde(flatten)]
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A process allocates (and by default touches) anonymous memory, spread over `over`.
    Alloc {
        /// Process name.
        process: String,
        /// Bytes to allocate.
        size: ByteSize,
        /// Spread the allocation over this long (default: at once).
        #[serde(default)]
        over: SimDuration,
        /// Touch (write) the memory (default true). Untouched memory is never backed.
        #[serde(default = "yes")]
        touch: bool,
    },
    /// A process frees anonymous memory (all of it when `size` is absent).
    Free {
        /// Process name.
        process: String,
        /// Bytes to free (default: all).
        size: Option<ByteSize>,
    },
    /// Files are read through the page cache (a re-read of a cached file costs nothing).
    Read {
        /// File name (files are identified by name).
        file: String,
        /// File size.
        size: ByteSize,
        /// Spread the read over this long (default: at once).
        #[serde(default)]
        over: SimDuration,
    },
    /// A process writes a new file through the page cache (spread over `over`): its pages are
    /// cached and dirty until they are written back (30 s after the file was first dirtied,
    /// or at a `sync`); dirty pages are not reclaimed or dropped.
    Write {
        /// File name (files are identified by name).
        file: String,
        /// Bytes written.
        size: ByteSize,
        /// Spread the write over this long (default: at once).
        #[serde(default)]
        over: SimDuration,
    },
    /// `sync`: every dirty page is written back (clean, reclaimable).
    Sync,
    /// `echo N > /proc/sys/vm/drop_caches` (1 = page cache; 3 adds reclaimable slab).
    DropCaches {
        /// 1, 2 or 3.
        #[serde(default = "one")]
        level: u8,
    },
    /// `echo 1 > /proc/sys/vm/compact_memory`.
    Compact,
    /// CPU is busy (no memory change) for `over`.
    Busy {
        /// How long.
        over: SimDuration,
    },
    /// A build-like churn: `jobs` parallel short-lived processes, each allocating a random
    /// anonymous size and reading random files from a pool, for `over`.
    Churn {
        /// How long the churn runs.
        over: SimDuration,
        /// Parallel jobs.
        jobs: u32,
        /// Smallest anonymous size of one job.
        job_min: ByteSize,
        /// Largest anonymous size of one job.
        job_max: ByteSize,
        /// Lifetime of one job (uniform between half and one and a half times this).
        job_time: SimDuration,
        /// Distinct file data the jobs read from (the source tree, headers, objects).
        file_pool: ByteSize,
        /// Bytes of files each job reads.
        reads_per_job: ByteSize,
    },
    /// A hot set: `file` (of `size`) read again every `every` for `over`, each read costing
    /// `cpu` of CPU time (a small busy signal that keeps the machine from ever being idle).
    Reread {
        /// File name.
        file: String,
        /// File size (read whole).
        size: ByteSize,
        /// Period.
        every: SimDuration,
        /// How long the re-reads go on.
        over: SimDuration,
        /// CPU busy per read (default 100 ms).
        #[serde(default = "default_reread_cpu")]
        cpu: SimDuration,
    },
    /// Marks the end of the workload: reclaim metrics count from here (default: the end of
    /// the last step).
    Mark,
}

fn yes() -> bool {
    true
}

fn default_reread_cpu() -> SimDuration {
    SimDuration(NS_PER_SEC / 10)
}

fn one() -> u8 {
    1
}

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Simulated length.
    pub duration: SimDuration,
    /// Time series sampling period (default 1 s).
    #[serde(default = "default_sample")]
    pub sample: SimDuration,
    /// The guest.
    pub guest: GuestSpec,
    /// The host.
    #[serde(default)]
    pub host: HostSpec,
    /// Free page reporting.
    #[serde(default)]
    pub reporting: ReportingSpec,
    /// WSL's cache reclaim policy.
    #[serde(default)]
    pub cache: CacheSpec,
    /// Timed steps.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
}

fn default_sample() -> SimDuration {
    SimDuration(NS_PER_SEC)
}

/// A scenario file that could not be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// File name (or built-in name).
    pub source_name: String,
    /// 1-based line, if known.
    pub line: Option<usize>,
    /// 1-based column, if known.
    pub column: Option<usize>,
    /// The field the error is about, if known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source_name)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based (line, column) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |p| offset - p - 1) + 1;
    (line, col)
}

/// The key written at the start of the line holding `offset` (`key = value`), if any.
fn key_on_line(src: &str, offset: usize) -> Option<String> {
    let offset = offset.min(src.len());
    let start = src.get(..offset)?.rfind('\n').map_or(0, |p| p + 1);
    let line = src.get(start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        None
    } else {
        Some(key.to_string())
    }
}

fn err_at(
    src: &str,
    source_name: &str,
    offset: usize,
    field: Option<String>,
    message: String,
) -> ScenarioError {
    let (line, column) = line_col(src, offset);
    ScenarioError {
        source_name: source_name.to_string(),
        line: Some(line),
        column: Some(column),
        field,
        message,
    }
}

/// Finds the byte offset of the `index`-th `[[step]]` header.
fn step_offset(src: &str, index: usize) -> Option<usize> {
    let mut n = 0;
    let mut pos = 0;
    for line in src.split_inclusive('\n') {
        if line.trim_start().starts_with("[[step]]") {
            if n == index {
                return Some(pos);
            }
            n += 1;
        }
        pos += line.len();
    }
    None
}

/// The keys (and their value text) of the table whose header is at or after `from`.
fn table_keys(src: &str, from: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut first = true;
    for line in src.get(from..).unwrap_or("").lines() {
        let t = line.trim_start();
        if !first && t.starts_with('[') {
            break;
        }
        first = false;
        if let Some((k, v)) = t.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Which key of the table at `from` an error `message` is about: the action name for an
/// unknown variant, else the first size or duration that does not parse, else the key whose
/// value the message quotes.
fn key_in_table(src: &str, from: usize, message: &str) -> Option<String> {
    let keys = table_keys(src, from);
    if message.contains("variant") {
        return Some("do".to_string());
    }
    const SIZES: [&str; 8] = [
        "low_memory",
        "kernel_low",
        "size",
        "job_min",
        "job_max",
        "file_pool",
        "reads_per_job",
        "memory",
    ];
    const DURATIONS: [&str; 3] = ["at", "over", "job_time"];
    for (k, v) in &keys {
        let text = v.trim_matches('"');
        let quoted = v.starts_with('"');
        if SIZES.contains(&k.as_str()) && quoted && parse_size(text).is_err() {
            return Some(k.clone());
        }
        if DURATIONS.contains(&k.as_str()) && quoted && parse_duration(text).is_err() {
            return Some(k.clone());
        }
    }
    keys.iter()
        .find(|(_, v)| {
            let text = v.trim_matches('"');
            !text.is_empty() && message.contains(text)
        })
        .map(|(k, _)| k.clone())
}

/// Offset of `key =` inside the step starting at `from` (stops at the next table header).
fn key_offset_after(src: &str, from: usize, key: &str) -> Option<usize> {
    let mut pos = from;
    let mut first = true;
    for line in src.get(from..)?.split_inclusive('\n') {
        let t = line.trim_start();
        if !first && t.starts_with('[') {
            return None;
        }
        first = false;
        if let Some((k, _)) = t.split_once('=') {
            if k.trim() == key {
                return Some(pos + (line.len() - t.len()));
            }
        }
        pos += line.len();
    }
    None
}

impl Scenario {
    /// The anonymous allocation order (clamped to 0..=10).
    pub fn guest_anon_order(&self) -> u8 {
        self.guest.anon_order.min(10)
    }

    /// The low-memory boundary in bytes: `[guest] low_memory`, or the host mode's default.
    pub fn low_memory(&self) -> u64 {
        self.guest.low_memory.map_or(
            match self.host.mode {
                HostMode::Wsl2 | HostMode::Hyperv => crate::layout::HYPERV_LOW_MEMORY,
            },
            |b| b.0,
        )
    }

    /// Frames present at boot (WSL2: all; Hyper-V: the startup memory).
    pub fn boot_frames(&self) -> u64 {
        let frames = self.guest.memory.0 / 4096;
        match self.host.mode {
            HostMode::Wsl2 => frames,
            HostMode::Hyperv => self.host.startup.map_or(frames, |s| s.0 / 4096),
        }
    }

    /// Where the guest's RAM sits and its zones.
    pub fn layout(&self) -> crate::layout::MemoryLayout {
        crate::layout::MemoryLayout::new(
            self.guest.memory.0 / 4096,
            self.boot_frames(),
            self.low_memory() / 4096,
        )
        .expect("validated: memory is at least 256 MiB")
    }

    /// Parses and validates a scenario. `source_name` is used in error messages.
    pub fn parse(src: &str, source_name: &str) -> Result<Self, ScenarioError> {
        let sc: Scenario = toml::from_str(src).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let mut field = key_on_line(src, span.start);
                    // "unknown field `x`" / "missing field `x`": name the field from the message.
                    if let Some(rest) = message.split('`').nth(1) {
                        if message.starts_with("unknown field")
                            || message.starts_with("missing field")
                        {
                            field = Some(rest.to_string());
                        }
                    }
                    // An error about a whole table (a step's action is read as a unit): find
                    // the key inside it that the message is about.
                    if field.is_none() {
                        field = key_in_table(src, span.start, &message);
                    }
                    // Point at the offending key itself when it is written inside the table.
                    let at = field
                        .as_deref()
                        .and_then(|f| key_offset_after(src, span.start, f))
                        .unwrap_or(span.start);
                    err_at(src, source_name, at, field, message)
                }
                None => ScenarioError {
                    source_name: source_name.to_string(),
                    line: None,
                    column: None,
                    field: None,
                    message,
                },
            }
        })?;
        sc.validate(src, source_name)?;
        Ok(sc)
    }

    fn validate(&self, src: &str, source_name: &str) -> Result<(), ScenarioError> {
        let top = |field: &str, message: String| {
            let off = src
                .lines()
                .scan(0usize, |pos, l| {
                    let here = *pos;
                    *pos += l.len() + 1;
                    Some((here, l))
                })
                .find(|(_, l)| l.split_once('=').is_some_and(|(k, _)| k.trim() == field))
                .map(|(p, _)| p);
            match off {
                Some(o) => err_at(src, source_name, o, Some(field.to_string()), message),
                None => ScenarioError {
                    source_name: source_name.to_string(),
                    line: None,
                    column: None,
                    field: Some(field.to_string()),
                    message,
                },
            }
        };
        const MIB: u64 = 1 << 20;
        let mem = self.guest.memory.0;
        if !(256 * MIB..=(1u64 << 40)).contains(&mem) {
            return Err(top(
                "memory",
                format!("guest memory must be between 256MiB and 1TiB, not {mem} bytes"),
            ));
        }
        if mem % (4 << 20) != 0 {
            return Err(top(
                "memory",
                "guest memory must be a multiple of 4MiB".to_string(),
            ));
        }
        if self.guest.kernel.0 >= mem / 2 {
            return Err(top(
                "kernel",
                "kernel memory must be less than half the guest memory".to_string(),
            ));
        }
        if !(1..=256).contains(&self.guest.cpus) {
            return Err(top(
                "cpus",
                format!("cpus must be 1..=256, not {}", self.guest.cpus),
            ));
        }
        if let Some(l) = self.guest.low_memory {
            if l.0 < 256 * MIB || l.0 > (4 << 30) || l.0 % (4 << 20) != 0 {
                return Err(top(
                    "low_memory",
                    "low_memory must be a multiple of 4MiB between 256MiB and 4GiB".to_string(),
                ));
            }
        }
        if self.guest.kernel_low.0 > self.guest.kernel.0 {
            return Err(top(
                "kernel_low",
                "kernel_low must not exceed kernel".to_string(),
            ));
        }
        if self.guest.anon_order > 10 {
            return Err(top(
                "anon_order",
                format!("anon_order must be 0..=10, not {}", self.guest.anon_order),
            ));
        }
        if self.reporting.order > 10 {
            return Err(top(
                "order",
                format!(
                    "reporting order must be 0..=10, not {}",
                    self.reporting.order
                ),
            ));
        }
        if self.duration.0 == 0 {
            return Err(top("duration", "duration must be positive".to_string()));
        }
        if self.sample.0 < NS_PER_SEC / 100 {
            return Err(top(
                "sample",
                "sample period must be at least 10ms".to_string(),
            ));
        }
        if let Some(b) = self.host.buffer {
            if b > 2000 {
                return Err(top(
                    "buffer",
                    format!("buffer percentage must be 0..=2000, not {b}"),
                ));
            }
        }
        if let (Some(s), Some(m)) = (self.host.startup, self.host.minimum) {
            if m > s {
                return Err(top(
                    "minimum",
                    "minimum memory must not exceed startup memory".to_string(),
                ));
            }
        }
        if let Some(s) = self.host.startup {
            if s.0 > mem || s.0 < 128 * MIB {
                return Err(top(
                    "startup",
                    "startup memory must be between 128MiB and the guest memory".to_string(),
                ));
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            let base = step_offset(src, i).unwrap_or(0);
            let bad = |key: &str, message: String| {
                let off = key_offset_after(src, base, key).unwrap_or(base);
                err_at(src, source_name, off, Some(key.to_string()), message)
            };
            if step.at.0 > self.duration.0 {
                return Err(bad(
                    "at",
                    "step starts after the end of the scenario (`duration`)".to_string(),
                ));
            }
            match &step.action {
                Action::Alloc { size, .. } if size.0 >= mem => {
                    return Err(bad("size", "allocation larger than the guest".to_string()));
                }
                Action::Read { size, .. } | Action::Write { size, .. } if size.0 >= mem => {
                    return Err(bad("size", "file larger than the guest".to_string()));
                }
                Action::DropCaches { level } if !(1..=3).contains(level) => {
                    return Err(bad(
                        "level",
                        format!("drop_caches level must be 1, 2 or 3, not {level}"),
                    ));
                }
                Action::Churn {
                    jobs,
                    job_min,
                    job_max,
                    job_time,
                    file_pool,
                    ..
                } => {
                    if *jobs == 0 || *jobs > 1024 {
                        return Err(bad("jobs", "jobs must be 1..=1024".to_string()));
                    }
                    if job_min.0 > job_max.0 {
                        return Err(bad(
                            "job_min",
                            "job_min must not exceed job_max".to_string(),
                        ));
                    }
                    if job_max.0.saturating_mul(u64::from(*jobs)) >= mem {
                        return Err(bad(
                            "job_max",
                            "jobs x job_max must fit in the guest".to_string(),
                        ));
                    }
                    if job_time.0 < NS_PER_SEC / 10 {
                        return Err(bad(
                            "job_time",
                            "job_time must be at least 100ms".to_string(),
                        ));
                    }
                    if file_pool.0 >= mem {
                        return Err(bad(
                            "file_pool",
                            "file pool larger than the guest".to_string(),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The built-in scenarios: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("wsl-build", include_str!("../scenarios/wsl-build.toml")),
    ("alloc-free", include_str!("../scenarios/alloc-free.toml")),
    (
        "alloc-free-1g",
        include_str!("../scenarios/alloc-free-1g.toml"),
    ),
    (
        "pagecache-drop",
        include_str!("../scenarios/pagecache-drop.toml"),
    ),
    ("dev-box", include_str!("../scenarios/dev-box.toml")),
    ("hot-cache", include_str!("../scenarios/hot-cache.toml")),
    (
        "fragmentation",
        include_str!("../scenarios/fragmentation.toml"),
    ),
    ("hyperv-dm", include_str!("../scenarios/hyperv-dm.toml")),
    (
        "alloc-free-4g",
        include_str!("../scenarios/alloc-free-4g.toml"),
    ),
    ("build-idle", include_str!("../scenarios/build-idle.toml")),
];

/// Loads a built-in scenario by name, or a scenario file by path.
pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
    if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        return Scenario::parse(text, &format!("{name}.toml (built in)"));
    }
    let text = std::fs::read_to_string(name_or_path).map_err(|e| ScenarioError {
        source_name: name_or_path.to_string(),
        line: None,
        column: None,
        field: None,
        message: format!(
            "cannot read scenario file: {e} (built-in scenarios: {})",
            BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })?;
    Scenario::parse(&text, name_or_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("3GB"), Ok(3_000_000_000));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert!(parse_size("3XB").is_err());
        assert!(parse_size("GB").is_err());
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("2s"), Ok(2 * NS_PER_SEC));
        assert_eq!(parse_duration("10m"), Ok(600 * NS_PER_SEC));
        assert_eq!(parse_duration("1h"), Ok(3600 * NS_PER_SEC));
        assert!(parse_duration("1y").is_err());
        assert_eq!(parse_duration("10m40s"), Ok(640 * NS_PER_SEC));
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn every_builtin_parses() {
        for (name, _) in BUILTIN {
            let sc = load(name).unwrap_or_else(|e| std::panic!("{e}"));
            assert_eq!(&sc.name, name);
            assert!(!sc.steps.is_empty());
        }
    }

    #[test]
    fn line_col_and_key() {
        let src = "a = 1\nsize = \"3XB\"\n";
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(key_on_line(src, 13), Some("size".to_string()));
    }
}
