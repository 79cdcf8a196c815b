//! hv-reclaim-agent: the Linux guest side of `hv-reclaim`.
//!
//! The policies of `hv-reclaim` are sans-IO; this crate is their I/O in a real guest:
//! [`Sampler`] reads `/proc/meminfo`, the root cgroup's `memory.stat` (or `/proc/vmstat`),
//! `/proc/pressure/memory`, `/proc/stat` and MGLRU's `lru_gen` into a [`hv_reclaim::Sample`];
//! [`Executor`] carries out [`hv_reclaim::Action`]s by writing the root cgroup's
//! `memory.reclaim` (in chunks, with the step's time limit, `swappiness=` only where the
//! kernel takes it), `/proc/sys/vm/compact_memory` and `/proc/sys/vm/drop_caches`; [`run`] is
//! the daemon loop (`hv-dynmem reclaim`). All file access goes through [`Sys`], so the tests
//! feed malformed files and failing writes through a double ([`FakeSys`]).
//!
//! It works with any free page reporting driver (hv-dynmem's, `hv_balloon`,
//! `virtio_balloon`): it only turns page cache into free memory and compacts it; reporting it
//! to the host is the driver's job.
#![forbid(unsafe_code)]

use hv_reclaim::{ActError, Action, Outcome, Plan, Reclaimer, Sample};
use log::{debug, info, warn};
use std::collections::HashMap;
use std::io::{self, Write};
use std::string::String;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod parse;

/// The cgroup v2 mount point.
pub const CGROUP: &str = "/sys/fs/cgroup";

/// What the agent needs from the system: files, privileges and a clock.
pub trait Sys {
    /// Reads a whole file.
    fn read(&self, path: &str) -> io::Result<String>;
    /// Writes `data` to a file in one `write` (sysfs/cgroup files take one value per write).
    fn write(&self, path: &str, data: &str) -> io::Result<()>;
    /// Whether a path exists.
    fn exists(&self, path: &str) -> bool;
    /// Monotonic time, ns.
    fn now_ns(&self) -> u64;
    /// Whether the process runs as root (effective uid 0).
    fn is_root(&self) -> bool {
        self.read("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_ascii_whitespace().nth(1))
                == Some("0")
        })
    }
}

/// The real system.
#[derive(Debug)]
pub struct RealSys {
    start: Instant,
}

impl Default for RealSys {
    fn default() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Sys for RealSys {
    fn read(&self, path: &str) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn write(&self, path: &str, data: &str) -> io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.write_all(data.as_bytes())
    }
    fn exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A test double: files in a map, scripted write failures, a clock that advances by
/// `write_cost_ns` per write.
#[derive(Default)]
pub struct FakeSys {
    /// Path → contents.
    pub files: Mutex<HashMap<String, String>>,
    /// Every write that reached a file: (path, data).
    pub writes: Mutex<Vec<(String, String)>>,
    /// Scripted results for writes to a path, consumed in order (then success).
    pub fail: Mutex<HashMap<String, Vec<io::ErrorKind>>>,
    /// Writes containing this string fail with `InvalidInput` (a kernel that refuses an
    /// argument).
    pub reject: Mutex<Option<String>>,
    /// The clock, ns.
    pub clock: Mutex<u64>,
    /// What a write costs on the clock.
    pub write_cost_ns: u64,
    /// Runs on every write (e.g. raising the stop flag: SIGTERM mid-step).
    pub on_write: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Not root.
    pub unprivileged: bool,
}

impl core::fmt::Debug for FakeSys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FakeSys")
            .field("files", &self.files)
            .field("writes", &self.writes)
            .finish_non_exhaustive()
    }
}

impl FakeSys {
    /// Sets a file.
    pub fn set(&self, path: &str, text: &str) {
        self.files
            .lock()
            .expect("lock")
            .insert(path.into(), text.into());
    }
    /// Removes a file.
    pub fn remove(&self, path: &str) {
        self.files.lock().expect("lock").remove(path);
    }
    /// The writes so far.
    pub fn written(&self) -> Vec<(String, String)> {
        self.writes.lock().expect("lock").clone()
    }
}

impl Sys for FakeSys {
    fn read(&self, path: &str) -> io::Result<String> {
        self.files
            .lock()
            .expect("lock")
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn write(&self, path: &str, data: &str) -> io::Result<()> {
        *self.clock.lock().expect("lock") += self.write_cost_ns;
        if let Some(h) = &self.on_write {
            h();
        }
        if !self.files.lock().expect("lock").contains_key(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        if let Some(k) = self
            .fail
            .lock()
            .expect("lock")
            .get_mut(path)
            .and_then(|v| (!v.is_empty()).then(|| v.remove(0)))
        {
            return Err(k.into());
        }
        if self
            .reject
            .lock()
            .expect("lock")
            .as_deref()
            .is_some_and(|r| data.contains(r))
        {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        self.writes
            .lock()
            .expect("lock")
            .push((path.into(), data.into()));
        Ok(())
    }
    fn exists(&self, path: &str) -> bool {
        self.files.lock().expect("lock").contains_key(path)
    }
    fn now_ns(&self) -> u64 {
        *self.clock.lock().expect("lock")
    }
    fn is_root(&self) -> bool {
        !self.unprivileged
    }
}

/// Why the agent cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// No cgroup v2 hierarchy.
    #[error(
        "no cgroup v2 at {CGROUP} (no cgroup.controllers): the agent needs the unified hierarchy (boot with systemd.unified_cgroup_hierarchy=1 or mount -t cgroup2 none {CGROUP})"
    )]
    NoCgroup2,
    /// Not root.
    #[error(
        "must run as root (it writes {CGROUP}/memory.reclaim and /proc/sys/vm); use --dry-run to only watch"
    )]
    NotRoot,
    /// Neither `memory.reclaim` nor `drop_caches` is writable.
    #[error(
        "neither {CGROUP}/memory.reclaim nor /proc/sys/vm/drop_caches exists: nothing to act with"
    )]
    NoInterface,
}

impl EnvError {
    /// The process exit code for this error (2 is clap's usage error).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NoCgroup2 => 3,
            Self::NotRoot => 4,
            Self::NoInterface => 5,
        }
    }
}

/// How the agent acts, found at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The root cgroup has `memory.reclaim` (Linux ≥ 5.19).
    pub memory_reclaim: bool,
    /// The root cgroup has `memory.stat` (else `/proc/vmstat` is read).
    pub root_memory_stat: bool,
    /// PSI is there.
    pub psi: bool,
    /// MGLRU is on and its debug file readable.
    pub lru_gen: bool,
    /// MGLRU is on (`/sys/kernel/mm/lru_gen/enabled`).
    pub lru_gen_enabled: bool,
}

/// Checks that the agent can act here (`dry_run`: only watch, root not needed).
pub fn check_env(sys: &dyn Sys, dry_run: bool) -> Result<Capabilities, EnvError> {
    if !sys.exists(&format!("{CGROUP}/cgroup.controllers")) {
        return Err(EnvError::NoCgroup2);
    }
    if !dry_run && !sys.is_root() {
        return Err(EnvError::NotRoot);
    }
    let lru_gen_enabled = sys
        .read("/sys/kernel/mm/lru_gen/enabled")
        .is_ok_and(|s| s.trim() != "0x0000" && s.trim() != "0");
    let caps = Capabilities {
        memory_reclaim: sys.exists(&format!("{CGROUP}/memory.reclaim")),
        root_memory_stat: sys.exists(&format!("{CGROUP}/memory.stat")),
        psi: sys.exists("/proc/pressure/memory"),
        lru_gen: lru_gen_enabled && sys.exists(LRU_GEN_DEBUG),
        lru_gen_enabled,
    };
    if !caps.memory_reclaim && !sys.exists(DROP_CACHES) {
        return Err(EnvError::NoInterface);
    }
    Ok(caps)
}

const DROP_CACHES: &str = "/proc/sys/vm/drop_caches";
const COMPACT: &str = "/proc/sys/vm/compact_memory";
const LRU_GEN_DEBUG: &str = "/sys/kernel/debug/lru_gen";

/// Reads [`Sample`]s.
#[derive(Debug, Clone)]
pub struct Sampler {
    caps: Capabilities,
    /// MGLRU: generations at least this old are cold (ms).
    pub cold_age_ms: u64,
}

impl Sampler {
    /// A sampler for what `caps` found.
    pub fn new(caps: Capabilities, cold_age_ms: u64) -> Self {
        Self { caps, cold_age_ms }
    }

    /// One sample. A missing optional source (PSI, MGLRU) leaves its fields 0/`None`; a
    /// malformed file is an error (the caller skips the step: no action on bad data).
    pub fn sample(&self, sys: &dyn Sys) -> Result<Sample, parse::ParseError> {
        let now_ns = sys.now_ns();
        let io = |f: &str, e: io::Error| parse::ParseError {
            file: f.into(),
            why: e.to_string(),
        };
        let mi = sys
            .read("/proc/meminfo")
            .map_err(|e| io("/proc/meminfo", e))?;
        let (mem_total, mem_free, cached) = parse::meminfo(&mi)?;
        let lru = if self.caps.root_memory_stat {
            let f = format!("{CGROUP}/memory.stat");
            parse::memory_stat(&sys.read(&f).map_err(|e| io(&f, e))?)?
        } else {
            parse::vmstat(
                &sys.read("/proc/vmstat")
                    .map_err(|e| io("/proc/vmstat", e))?,
            )?
        };
        let (psi_some_total_us, psi_some_avg10) = if self.caps.psi {
            parse::psi(
                &sys.read("/proc/pressure/memory")
                    .map_err(|e| io("/proc/pressure/memory", e))?,
            )?
        } else {
            (0, 0)
        };
        let (cpu_busy_ns, cpus) =
            parse::cpu(&sys.read("/proc/stat").map_err(|e| io("/proc/stat", e))?)?;
        let cold_file = if self.caps.lru_gen {
            // Optional: an unreadable or odd debug file falls back to the active list.
            sys.read(LRU_GEN_DEBUG)
                .ok()
                .and_then(|t| parse::lru_gen_cold(&t, self.cold_age_ms).ok())
        } else {
            None
        };
        // The file LRU is the cache reclaim can take. `file` (and `Cached`) also count shmem
        // and tmpfs, which sit on the anon LRU: `memory.reclaim` with `swappiness=0` (or
        // without swap) never frees them, and counted as cache they kept the policy asking for
        // reclaim that freed nothing (the 4.5 MiB of the QEMU guest's /run and /dev/shm, every
        // 5 s once the real cache was gone, so that the compaction "once caught up" never ran).
        let lru_file = lru.active_file.saturating_add(lru.inactive_file);
        Ok(Sample {
            now_ns,
            mem_total,
            mem_free,
            file: if lru_file > 0 {
                lru_file
            } else if lru.file > 0 {
                lru.file
            } else {
                cached
            },
            active_file: lru.active_file,
            inactive_file: lru.inactive_file,
            refault_pages: lru.refault_pages,
            psi_some_total_us,
            psi_some_avg10,
            cpu_busy_ns,
            cpus,
            cold_file,
            lru_gen: self.caps.lru_gen_enabled,
            kept_pages: lru.kept_pages,
            // Optional: unknown, the idle test counts the agent's own CPU as busy.
            own_cpu_ns: sys
                .read("/proc/self/stat")
                .ok()
                .and_then(|t| parse::self_cpu(&t).ok())
                .unwrap_or(0),
        })
    }
}

/// Carries out actions on the real (or fake) system.
pub struct Executor<'a> {
    sys: &'a dyn Sys,
    caps: Capabilities,
    /// Largest single `memory.reclaim` write (the time limit is checked between writes).
    pub chunk: u64,
    swappiness_ok: Option<bool>,
    warned_fallback: bool,
    stop: Arc<AtomicBool>,
}

impl core::fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Executor")
            .field("caps", &self.caps)
            .field("chunk", &self.chunk)
            .field("swappiness_ok", &self.swappiness_ok)
            .finish_non_exhaustive()
    }
}

fn act_error(e: &io::Error) -> ActError {
    match e.kind() {
        io::ErrorKind::WouldBlock => ActError::Short,
        io::ErrorKind::ResourceBusy | io::ErrorKind::Interrupted => ActError::Busy,
        io::ErrorKind::InvalidInput => ActError::Invalid,
        _ => ActError::Unavailable,
    }
}

impl<'a> Executor<'a> {
    /// An executor; `stop` ends a chunked reclaim between two writes.
    pub fn new(sys: &'a dyn Sys, caps: Capabilities, stop: Arc<AtomicBool>) -> Self {
        Self {
            sys,
            caps,
            chunk: 16 << 20,
            swappiness_ok: None,
            warned_fallback: false,
            stop,
        }
    }

    /// Whether the kernel took `swappiness=` (`None`: not tried yet).
    pub fn swappiness_accepted(&self) -> Option<bool> {
        self.swappiness_ok
    }

    fn reclaim_chunk(&mut self, bytes: u64, swappiness: Option<u8>) -> io::Result<()> {
        let path = format!("{CGROUP}/memory.reclaim");
        if let (Some(sw), Some(true) | None) = (swappiness, self.swappiness_ok) {
            match self.sys.write(&path, &format!("{bytes} swappiness={sw}")) {
                Ok(()) => {
                    self.swappiness_ok = Some(true);
                    return Ok(());
                }
                Err(e)
                    if e.kind() == io::ErrorKind::InvalidInput && self.swappiness_ok.is_none() =>
                {
                    warn!(
                        "memory.reclaim does not take swappiness= on this kernel (Linux < 6.9?): writing plain byte counts; with swap on, anonymous memory may be reclaimed too"
                    );
                    self.swappiness_ok = Some(false);
                }
                Err(e) => return Err(e),
            }
        }
        self.sys.write(&path, &format!("{bytes}"))
    }

    /// Runs one action.
    pub fn apply(&mut self, a: &Action) -> Outcome {
        let t0 = self.sys.now_ns();
        let mut o = match *a {
            Action::Reclaim {
                bytes,
                swappiness,
                time_limit_ns,
            } => {
                if !self.caps.memory_reclaim {
                    if !self.warned_fallback {
                        warn!(
                            "no {CGROUP}/memory.reclaim (Linux < 5.19): falling back to drop_caches, which drops hot cache with the cold"
                        );
                        self.warned_fallback = true;
                    }
                    return self.drop_caches(1, t0);
                }
                let mut o = Outcome::default();
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(self.chunk);
                    if let Err(e) = self.reclaim_chunk(n, swappiness) {
                        o.error = Some(act_error(&e));
                        if o.error != Some(ActError::Short) {
                            warn!("memory.reclaim {n}: {e}");
                        } else {
                            debug!("memory.reclaim {n}: {e} (the kernel found less)");
                        }
                        break;
                    }
                    o.freed += n;
                    left -= n;
                    if left > 0 && self.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if left > 0
                        && time_limit_ns > 0
                        && self.sys.now_ns().saturating_sub(t0) >= time_limit_ns
                    {
                        o.error = Some(ActError::TimedOut);
                        break;
                    }
                }
                o
            }
            Action::DropCaches { level } => return self.drop_caches(level, t0),
            Action::Compact => {
                let mut o = Outcome::default();
                if let Err(e) = self.sys.write(COMPACT, "1") {
                    warn!("{COMPACT}: {e}");
                    o.error = Some(act_error(&e));
                }
                o
            }
        };
        o.elapsed_ns = self.sys.now_ns().saturating_sub(t0);
        o
    }

    fn drop_caches(&mut self, level: u8, t0: u64) -> Outcome {
        let before = self.cached();
        let mut o = Outcome::default();
        match self.sys.write(DROP_CACHES, &format!("{level}")) {
            Ok(()) => o.freed = before.saturating_sub(self.cached()),
            Err(e) => {
                warn!("{DROP_CACHES}: {e}");
                o.error = Some(act_error(&e));
            }
        }
        o.elapsed_ns = self.sys.now_ns().saturating_sub(t0);
        o
    }

    fn cached(&self) -> u64 {
        self.sys
            .read("/proc/meminfo")
            .ok()
            .and_then(|t| parse::meminfo(&t).ok())
            .map_or(0, |m| m.2)
    }
}

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Print what would be done; write nothing.
    pub dry_run: bool,
    /// Take one baseline sample, wait one interval, run one step, exit.
    pub once: bool,
    /// Sleep slices (the stop flag is checked between them).
    pub poll: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            once: false,
            poll: Duration::from_millis(100),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Samples taken.
    pub samples: u64,
    /// Samples skipped because a file could not be read or parsed.
    pub bad_samples: u64,
    /// Actions run (or, dry, printed).
    pub actions: u64,
    /// Bytes reclaimed or dropped.
    pub freed: u64,
    /// Actions that failed.
    pub failures: u64,
}

/// One metrics line.
fn metric(out: &mut Option<&mut dyn Write>, v: serde_json::Value) {
    if let Some(w) = out.as_mut() {
        if let Err(e) = writeln!(w, "{v}").and_then(|()| w.flush()) {
            warn!("metrics: {e}");
        }
    }
}

/// The daemon loop: sample, step the policy, act, sleep; until `stop` (checked between
/// actions, between reclaim chunks and while sleeping) or, with `once`, after one step.
/// `sleep` sleeps the real way (`std::thread::sleep`) or, in tests, advances a fake clock.
pub fn run(
    sys: &dyn Sys,
    caps: Capabilities,
    policy: &mut Reclaimer,
    opts: RunOptions,
    mut metrics: Option<&mut dyn Write>,
    stop: Arc<AtomicBool>,
    sleep: &mut dyn FnMut(Duration),
) -> RunSummary {
    let cold_age_ms = match policy {
        Reclaimer::Ours(o) => o.config().cold_age_ns / 1_000_000,
        Reclaimer::Wsl(_) => 60_000,
    };
    let sampler = Sampler::new(caps, cold_age_ms);
    let mut exec = Executor::new(sys, caps, stop.clone());
    let mut sum = RunSummary::default();
    // The policies count time from boot; the agent's clock starts at 0 as well.
    let mut wake = policy.next_deadline();
    let mut steps = 0u32;
    while !stop.load(Ordering::SeqCst) {
        let Some(w) = wake else {
            info!("the policy runs no reclaim thread ({policy:?}); exiting");
            break;
        };
        // Sleep until the wake-up, in slices.
        while !stop.load(Ordering::SeqCst) {
            let now = sys.now_ns();
            if now >= w {
                break;
            }
            sleep(Duration::from_nanos(w - now).min(opts.poll));
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let s = match sampler.sample(sys) {
            Ok(s) => s,
            Err(e) => {
                warn!("sample skipped: {e}");
                sum.bad_samples += 1;
                metric(
                    &mut metrics,
                    serde_json::json!({"kind": "bad_sample", "t_ns": sys.now_ns(), "error": e.to_string()}),
                );
                wake = Some(sys.now_ns() + 1_000_000_000);
                continue;
            }
        };
        sum.samples += 1;
        let plan: Plan = policy.step(&s);
        metric(
            &mut metrics,
            serde_json::json!({"kind": "sample", "sample": s, "verdict": verdict(policy)}),
        );
        for a in plan.actions() {
            if stop.load(Ordering::SeqCst) {
                info!("stop requested: skipping the rest of the step");
                break;
            }
            let o = if opts.dry_run {
                info!("dry run: would {}", describe(a));
                Outcome::default()
            } else {
                let o = exec.apply(a);
                info!(
                    "{} -> freed {} MiB in {} ms{}",
                    describe(a),
                    o.freed >> 20,
                    o.elapsed_ns / 1_000_000,
                    o.error.map(|e| format!(" ({e:?})")).unwrap_or_default()
                );
                o
            };
            sum.actions += 1;
            sum.freed += o.freed;
            sum.failures += u64::from(o.error.is_some());
            policy.outcome(a, &o);
            metric(
                &mut metrics,
                serde_json::json!({"kind": "action", "t_ns": sys.now_ns(), "action": a, "outcome": o, "dry_run": opts.dry_run}),
            );
        }
        wake = plan.wake_at_ns;
        steps += 1;
        // `--once`: the baseline sample and one step after it (WSL's thread: one tick).
        let steps_for_once = if matches!(policy, Reclaimer::Ours(_)) {
            2
        } else {
            1
        };
        if opts.once && steps >= steps_for_once {
            break;
        }
    }
    info!(
        "stopped: {} samples ({} skipped), {} actions, {} MiB freed, {} failed",
        sum.samples,
        sum.bad_samples,
        sum.actions,
        sum.freed >> 20,
        sum.failures
    );
    sum
}

fn verdict(p: &Reclaimer) -> serde_json::Value {
    match p {
        Reclaimer::Ours(o) => serde_json::json!(o.verdict()),
        Reclaimer::Wsl(t) => serde_json::json!(if t.idle() { "idle" } else { "busy" }),
    }
}

/// One line for the log.
pub fn describe(a: &Action) -> String {
    match *a {
        Action::Reclaim {
            bytes, swappiness, ..
        } => match swappiness {
            Some(s) => format!("reclaim {} MiB (swappiness={s})", bytes >> 20),
            None => format!("reclaim {} MiB", bytes >> 20),
        },
        Action::DropCaches { level } => format!("drop caches (level {level})"),
        Action::Compact => "compact memory".into(),
    }
}
