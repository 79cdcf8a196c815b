//! The deterministic event loop: virtual time in nanoseconds, a seeded workload, the guest
//! model, the real reporting engine and Hyper-V reporter against the simulated hypervisor, and
//! (in Hyper-V mode) the real DM driver against the simulated DM host over the simulated VMBus.
//!
//! Each iteration jumps to the earliest deadline of: the workload, the reporting engine, the
//! reclaim thread, the DM driver and host, and the next sample. Nothing reads the wall clock,
//! so the same scenario and seed give the same result bit for bit (the trace hash).

pub use super::counters::Counters;
use super::guest::Guest;
use super::host::{Host, HostError};
use super::proc::RecordedTrace;
use super::scenario::{
    ByteSize, CacheSpec, GuestSpec, HostMode, HostSpec, NS_PER_SEC, ReportPolicy, ReportingSpec,
    Scenario, SimDuration,
};
use super::series::{self, ReclaimMetrics, Sample};
use super::trace::{SharedLog, TraceLog};
use super::workload::Workload;
use core::time::Duration;
use hv_reclaim::{OursConfig, Reclaimer};
use hv_reporting::{EngineConfig, Policy, ReportingEngine};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::io::{IsTerminal as _, Write as _};
use std::prelude::rust_2024::*;
use std::rc::Rc;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{eprint, eprintln, format};

const PAGE: u64 = 4096;

/// Consecutive 1 ns steps after which the run is declared stalled.
const MAX_TINY_STEPS: u32 = 100_000;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    /// Seed of the workload's random choices.
    pub seed: u64,
    /// Check the "nothing lost" invariants (checksums of live data, allocator invariants).
    pub check_invariants: bool,
    /// Keep every VMBus packet and hypercall as a JSON line (`--trace-out`).
    pub record_trace: bool,
    /// Show a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Replay this recorded trace as the workload instead of the scenario's steps.
    pub replay: Option<RecordedTrace>,
}

/// Why a run could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The scenario cannot be simulated as given.
    #[error("scenario {0}: {1}")]
    Scenario(String, String),
    /// The simulated host refused to set up.
    #[error("host setup: {0}")]
    Host(#[from] HostError),
    /// The event loop stopped advancing: some deadline stayed in the past (a bug).
    #[error("simulation stalled at {0} ns: a deadline does not advance")]
    Stalled(u64),
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Run label, e.g. `free page reporting: linux, order 9`.
    pub label: String,
    /// `wsl2` or `hyperv`.
    pub host_mode: String,
    /// Guest memory in bytes.
    pub guest_bytes: u64,
    /// Simulated duration, ns.
    pub duration_ns: u64,
    /// Seed.
    pub seed: u64,
    /// When the workload ended, ns.
    pub mark_ns: u64,
    /// Time series.
    pub samples: Vec<Sample>,
    /// Reclaim metrics.
    pub metrics: Option<ReclaimMetrics>,
    /// Counters.
    pub counters: Counters,
    /// FNV-1a over every recorded packet/hypercall and every sample.
    pub trace_hash: u64,
    /// The `--trace-out` lines (empty unless asked for).
    pub trace_lines: Vec<String>,
}

impl RunResult {
    /// The result as JSON (samples included).
    pub fn to_json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "label": self.label,
            "host_mode": self.host_mode,
            "guest_bytes": self.guest_bytes,
            "duration_ns": self.duration_ns,
            "seed": self.seed,
            "mark_ns": self.mark_ns,
            "metrics": self.metrics,
            "counters": self.counters,
            "trace_hash": format!("{:016x}", self.trace_hash),
            "samples": self.samples,
        })
    }
}

/// The scenario used to replay a recorded trace: a WSL2 guest the size of the recorded
/// machine, reporting `linux` order 9, `dropcache`, and three idle minutes after the trace (long
/// enough for the cache policy's two-minute idle window).
pub fn scenario_for_trace(t: &RecordedTrace) -> Scenario {
    let total = t.total.div_ceil(4 << 20) * (4 << 20);
    let span = t.samples.last().map_or(0, |s| s.t_ns) - t.samples.first().map_or(0, |s| s.t_ns);
    let kernel = t
        .samples
        .iter()
        .map(|s| s.used)
        .min()
        .unwrap_or(0)
        .min(total / 4)
        .max(64 << 20);
    Scenario {
        name: "trace".into(),
        description: format!(
            "replay of `{}` ({} samples)",
            t.command.join(" "),
            t.samples.len()
        ),
        duration: SimDuration(span + 181 * NS_PER_SEC),
        sample: SimDuration(t.period_ns.clamp(NS_PER_SEC / 10, NS_PER_SEC)),
        guest: GuestSpec {
            memory: ByteSize(total.max(256 << 20)),
            kernel: ByteSize(kernel.div_ceil(PAGE) * PAGE),
            anon_order: 9,
            cpus: 2,
            low_memory: None,
            kernel_low: ByteSize(0),
        },
        host: HostSpec::default(),
        reporting: ReportingSpec::default(),
        cache: CacheSpec::default(),
        steps: Vec::new(),
    }
}

fn label(sc: &Scenario) -> String {
    let cache = match sc.cache.mode() {
        hv_reclaim::ReclaimMode::Ours => "ours".to_string(),
        m if sc.cache.mode.is_some() => format!("{} {}", m.name(), sc.cache.policy.name()),
        _ => sc.cache.policy.name().to_string(),
    };
    match sc.reporting.policy {
        ReportPolicy::Off => format!("no reporting (cache: {cache})"),
        p => format!(
            "reporting: {}, order {} (cache: {cache})",
            p.name(),
            sc.reporting.order,
        ),
    }
}

struct Progress {
    on: bool,
    last: u64,
    total: u64,
}

impl Progress {
    fn update(&mut self, now: u64) {
        if !self.on {
            return;
        }
        let pct = now.saturating_mul(100) / self.total.max(1);
        if pct != self.last {
            self.last = pct;
            let filled = (pct / 4) as usize;
            eprint!(
                "\r  [{}{}] {pct:>3} %",
                "#".repeat(filled),
                ".".repeat(25 - filled.min(25))
            );
            let _ = std::io::stderr().flush();
        }
    }
    fn done(&self) {
        if self.on {
            eprint!("\r{}\r", " ".repeat(40));
        }
    }
}

/// Runs `sc` with `cfg`.
pub fn run(sc: &Scenario, cfg: &RunConfig) -> Result<RunResult, SimError> {
    let layout = sc.layout();
    let kernel = sc.guest.kernel.0.div_ceil(PAGE);
    let log: SharedLog = Rc::new(RefCell::new(TraceLog {
        keep_lines: cfg.record_trace,
        ..TraceLog::default()
    }));
    let mut host = Host::new(sc, cfg.check_invariants, log.clone())?;
    let mut guest = Guest::with_layout(
        &layout,
        kernel,
        sc.guest.kernel_low.0.div_ceil(PAGE).min(kernel),
        sc.guest_anon_order(),
        sc.guest.cpus,
        |hv| host.setup_hypervisor(hv),
    );
    host.probe(&mut guest);
    let policy = match sc.reporting.policy {
        ReportPolicy::Off => None,
        ReportPolicy::Linux => Some(Policy::Linux),
        ReportPolicy::Coalesced => Some(Policy::Coalesced),
    };
    let mut engine = match policy {
        Some(p) => {
            let cfg_e = EngineConfig::new(p)
                .with_order(sc.reporting.order)
                .map_err(|e| SimError::Scenario(sc.name.clone(), e.to_string()))?;
            // Registered when the DM driver has connected, as hv_balloon does; the reporter
            // decides on its own (at probe) whether it may report at all.
            Some(ReportingEngine::new(cfg_e))
        }
        None => None,
    };
    if let Some(e) = &engine {
        guest.set_notify_order(e.order());
    } else {
        guest.set_notify_order(u8::MAX);
    }
    let mut workload = match &cfg.replay {
        Some(t) => Workload::from_trace(t.clone(), kernel, cfg.seed),
        None => Workload::from_scenario(sc, cfg.seed),
    };
    let mut reclaim = Reclaimer::new(
        sc.cache.mode(),
        sc.cache.policy,
        sc.reporting.order,
        OursConfig::default(),
    );
    let end = sc.duration.0;
    let sample_every = sc.sample.0;
    let mut next_sample = 0u64;
    let mut samples = Vec::with_capacity((end / sample_every + 2) as usize);
    let mut now = 0u64;
    let mut busy_ns = 0u64;
    let mut tiny_steps = 0u32;
    let mut progress = Progress {
        on: cfg.progress && std::io::stderr().is_terminal() && end > 600 * NS_PER_SEC,
        last: u64::MAX,
        total: end,
    };
    let mut checks = 0u64;
    let mut next_check = 0u64;
    // At most ~30 full data verifications per run (each is O(frames)), at least every 10 s.
    let check_every = (end / 30).max(10 * NS_PER_SEC);
    host.start(now);
    loop {
        log.borrow_mut().now_ns = now;
        // 0. Sample the state just before the events at `now`.
        if now >= next_sample {
            samples.push(Sample {
                t_ns: now,
                total: guest.online_pages() * PAGE,
                used: (guest.anon_pages() + guest.kernel_pages()) * PAGE,
                cache: guest.cache_pages() * PAGE,
                free: guest.free_pages() * PAGE,
                host_committed: host.committed_frames(&guest) * PAGE,
            });
            next_sample = now + sample_every;
            progress.update(now);
        }
        // 1. The flusher, then the workload.
        guest.writeback(now);
        if workload.next_deadline(now).is_some_and(|d| d <= now) {
            workload.run(now, &mut guest);
        }
        // 2. Reclaim policy: a sample of the guest in, actions on the guest out.
        if reclaim.next_deadline().is_some_and(|d| d <= now) {
            let s = guest.reclaim_sample(now, busy_ns);
            reclaim.run(&s, &mut guest);
        }
        // 3. Frees that should wake the reporting engine (taken even with reporting off, so a
        // pending notification never keeps the loop at this instant).
        let notified = guest.take_notify();
        if let Some(e) = engine.as_mut() {
            if notified {
                e.notify_free(Duration::from_nanos(now), e.order());
            }
            if e.next_deadline()
                .is_some_and(|d| d.as_nanos() as u64 <= now)
            {
                host.report_pass(e, &mut guest, Duration::from_nanos(now));
                guest.set_notify_order(e.order());
            }
        }
        // 4. DM driver and host; free page reporting starts once the driver has connected.
        host.poll(now, &mut guest);
        if let (Some(e), Some(t)) = (engine.as_mut(), host.connected_at()) {
            // A reporter that disabled itself stays off (the engine is not registered again).
            if !e.is_registered() && host.reporter_enabled() {
                e.register(Duration::from_nanos(t));
            }
        }
        // 5. Invariants.
        if cfg.check_invariants && now >= next_check {
            checks += 1;
            host.check(&mut guest);
            next_check = now + check_every;
        }
        if now >= end {
            break;
        }
        // Next event.
        let mut next = end.min(next_sample);
        let mut consider = |d: Option<u64>| {
            if let Some(d) = d {
                next = next.min(d.max(now + 1));
            }
        };
        consider(workload.next_deadline(now));
        consider(reclaim.next_deadline());
        consider(
            engine
                .as_ref()
                .and_then(|e| e.next_deadline())
                .map(|d| d.as_nanos() as u64),
        );
        if guest.has_notify() {
            consider(Some(now + 1));
        }
        consider(host.next_deadline());
        if cfg.check_invariants {
            consider(Some(next_check));
        }
        if workload.busy(now) {
            busy_ns += next - now;
        }
        // Guard: a deadline stuck in the past would step 1 ns at a time for ever.
        tiny_steps = if next - now <= 1 { tiny_steps + 1 } else { 0 };
        if tiny_steps > MAX_TINY_STEPS {
            return Err(SimError::Stalled(now));
        }
        now = next;
    }
    progress.done();
    if cfg.check_invariants {
        checks += 1;
        host.check(&mut guest);
    }
    let mark_ns = workload.mark_ns.min(end);
    let metrics = series::metrics(&samples, mark_ns, &log.borrow().hint_times);
    let mut counters = Counters {
        guest: guest.stats,
        working_set: guest.ws,
        invariant_checks: checks,
        ..Counters::default()
    };
    if let Some(e) = &engine {
        let s = e.stats();
        counters.passes = s.passes;
        counters.batches = s.batches;
        counters.bytes_reported = s.pages_reported * PAGE;
    }
    host.finish(&guest, &mut counters);
    let mut log_b = log.borrow_mut();
    counters.hypercalls = log_b.hypercalls;
    counters.hint_ranges = log_b.hint_ranges;
    counters.vmbus_to_host = log_b.to_host;
    counters.vmbus_to_guest = log_b.to_guest;
    for s in &samples {
        for v in [s.t_ns, s.total, s.used, s.cache, s.free, s.host_committed] {
            log_b.hash.u64(v);
        }
    }
    let trace_hash = log_b.hash.0;
    let trace_lines = core::mem::take(&mut log_b.lines);
    drop(log_b);
    if !counters.violations.is_empty() && cfg.progress {
        eprintln!(
            "hv-dynmem: {} invariant violations",
            counters.violations.len()
        );
    }
    Ok(RunResult {
        scenario: sc.name.clone(),
        description: sc.description.clone(),
        label: label(sc),
        host_mode: match sc.host.mode {
            HostMode::Wsl2 => "WSL2".into(),
            HostMode::Hyperv => "Hyper-V dynamic memory".into(),
        },
        guest_bytes: sc.guest.memory.0,
        duration_ns: end,
        seed: cfg.seed,
        mark_ns,
        samples,
        metrics,
        counters,
        trace_hash,
        trace_lines,
    })
}
