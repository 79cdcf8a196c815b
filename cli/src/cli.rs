//! The `hv-dynmem` command line.
//!
//! * no arguments — the main job: `wsl-build` with and without free page reporting, a summary
//!   and a plot;
//! * `simulate` — run a scenario (built in or a file) or replay a recorded trace;
//! * `decode <hex>` — print one DM message as JSON;
//! * `inspect` — what free page reporting and a cache drop could return on this machine;
//! * `record -- CMD...` — sample `/proc` while a command runs and write a trace;
//! * `reclaim` — the page-cache reclaim agent (`hv-reclaim-agent`) as a daemon.

use clap::{Parser, Subcommand, ValueEnum};
use hv_sim::engine::{self, RunConfig, RunResult};
use hv_sim::plot;
use hv_sim::proc;
use hv_sim::scenario::{self, CacheEra, CachePolicy, ReportPolicy, Scenario};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;
use std::process::ExitCode;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{eprintln, format, vec};

/// Writes to stdout, ignoring a closed pipe (`hv-dynmem ... | head` must not panic).
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `hv-dynmem`: the Hyper-V Dynamic Memory guest driver, its reclaim simulator and tools.
#[derive(Debug, Parser)]
#[command(
    name = "hv-dynmem",
    version,
    about = "Hyper-V Dynamic Memory guest driver: the reclaim simulator and tools (no command: the main job, wsl-build with and without free page reporting)",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PolicyArg {
    Linux,
    Coalesced,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CacheArg {
    Disabled,
    Dropcache,
    Gradual,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EraArg {
    #[value(name = "2024")]
    Y2024,
    #[value(name = "2026")]
    Y2026,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario (built in or a TOML file) or replay a recorded trace.
    Simulate(SimulateArgs),
    /// Decode one Dynamic Memory message (hex bytes) and print it as JSON.
    Decode {
        /// The message bytes in hex (spaces, `0x` and `:` allowed).
        hex: Vec<String>,
    },
    /// Show how much memory free page reporting (per order) and a cache drop could return on
    /// this machine right now.
    Inspect {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Read this file instead of /proc/meminfo.
        #[arg(long, value_name = "FILE", requires = "buddyinfo")]
        meminfo: Option<PathBuf>,
        /// Read this file instead of /proc/buddyinfo.
        #[arg(long, value_name = "FILE", requires = "meminfo")]
        buddyinfo: Option<PathBuf>,
        /// Read this file instead of /proc/zoneinfo (per-zone figures; with --buddyinfo).
        #[arg(long, value_name = "FILE", requires = "buddyinfo")]
        zoneinfo: Option<PathBuf>,
    },
    /// Run a command, sampling /proc/meminfo and /proc/buddyinfo, and write a trace that
    /// `simulate --trace` replays.
    Record {
        /// Where to write the trace (JSON).
        #[arg(
            long,
            short,
            value_name = "FILE",
            default_value = "hv-dynmem-trace.json"
        )]
        out: PathBuf,
        /// Sampling period in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
        period_ms: u64,
        /// The command and its arguments (after `--`).
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// List the built-in scenarios.
    Scenarios,
    /// Run the page-cache reclaim agent in this Linux guest (a daemon; needs root and
    /// cgroup v2): cold cache goes back to free memory, for any free page reporting driver.
    Reclaim(crate::reclaim::ReclaimArgs),
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// A built-in scenario name or a scenario file (TOML).
    #[arg(long, short, value_name = "NAME|FILE", conflicts_with = "trace")]
    scenario: Option<String>,
    /// Replay a trace written by `hv-dynmem record`.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Free page reporting policy (overrides the scenario).
    #[arg(long, value_enum)]
    policy: Option<PolicyArg>,
    /// Minimum reporting order 0..=10 (overrides the scenario).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=10))]
    order: Option<u8>,
    /// WSL autoMemoryReclaim mode (overrides the scenario).
    #[arg(long, value_enum)]
    cache_policy: Option<CacheArg>,
    /// Which WSL reclaim-thread generation to model (runs WSL's thread).
    #[arg(long, value_enum)]
    cache_era: Option<EraArg>,
    /// Reclaim mode: `ours`, `wsl2026` or `wsl2024` (overrides the scenario and --cache-era).
    #[arg(long, value_enum)]
    reclaim: Option<crate::reclaim::ModeArg>,
    /// Seed of the workload's random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also run without reporting and show both.
    #[arg(long)]
    compare: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Write the time series as CSV.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write the plot (SVG).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Write every VMBus packet and hypercall as a JSON line.
    #[arg(long, value_name = "FILE")]
    trace_out: Option<PathBuf>,
    /// Check the "nothing lost" invariants (slower; on in tests).
    #[arg(long)]
    check: bool,
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, then a rename,
/// so nothing partial is left behind on error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

fn apply_overrides(sc: &mut Scenario, a: &SimulateArgs) {
    if let Some(p) = a.policy {
        sc.reporting.policy = match p {
            PolicyArg::Linux => ReportPolicy::Linux,
            PolicyArg::Coalesced => ReportPolicy::Coalesced,
            PolicyArg::Off => ReportPolicy::Off,
        };
    }
    if let Some(o) = a.order {
        sc.reporting.order = o;
    }
    if let Some(c) = a.cache_policy {
        sc.cache.policy = match c {
            CacheArg::Disabled => CachePolicy::Disabled,
            CacheArg::Dropcache => CachePolicy::Dropcache,
            CacheArg::Gradual => CachePolicy::Gradual,
        };
    }
    if let Some(e) = a.cache_era {
        sc.cache.era = match e {
            EraArg::Y2024 => CacheEra::Y2024,
            EraArg::Y2026 => CacheEra::Y2026,
        };
        sc.cache.mode = None;
    }
    if let Some(m) = a.reclaim {
        sc.cache.mode = Some(m.mode());
    }
}

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

fn secs(t: Option<f64>) -> String {
    match t {
        Some(s) if s >= 120.0 => format!("{:.1} min", s / 60.0),
        Some(s) => format!("{s:.1} s"),
        None => "never".to_string(),
    }
}

/// A compact time label: `90s`, `7.5m`, `1h`.
fn short_time(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    let trim = |v: f64| {
        let t = format!("{v:.1}");
        t.strip_suffix(".0").map(String::from).unwrap_or(t)
    };
    if s >= 3600.0 && (s / 3600.0).fract() == 0.0 {
        format!("{}h", trim(s / 3600.0))
    } else if s >= 120.0 {
        format!("{}m", trim(s / 60.0))
    } else {
        format!("{}s", trim(s))
    }
}

/// Default place for the main job's plot: `$CARGO_TARGET_DIR` or `./target` if present, else
/// the temporary directory; under `hv-dynmem/`.
fn default_out_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            Path::new("target")
                .is_dir()
                .then(|| PathBuf::from("target"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("hv-dynmem")
}

/// A readable summary of one or two runs.
pub fn summary(runs: &[&RunResult]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let Some(first) = runs.first() else { return s };
    let _ = writeln!(s, "scenario {}: {}", first.scenario, first.description);
    let _ = writeln!(
        s,
        "guest {:.0} GiB ({}), {} simulated, seed {}",
        gib(first.guest_bytes),
        first.host_mode,
        secs(Some(first.duration_ns as f64 / 1e9)),
        first.seed
    );
    // Host-committed over time.
    // Before the work ends, when it ends, then at log-spaced times after it.
    let dur = first.duration_ns;
    let mark = first.mark_ns.min(dur);
    let rest = dur - mark;
    let mut times = std::vec![0, mark / 2, mark];
    times.extend([32, 16, 8, 4, 2, 1].iter().map(|d| mark + rest / d));
    times.dedup();
    let width = runs
        .iter()
        .map(|r| r.label.len())
        .max()
        .unwrap_or(0)
        .max(24);
    let _ = write!(
        s,
        "\nhost-committed memory (GiB) over time (the work ends at {})\n  {:<width$}",
        short_time(mark),
        "time"
    );
    for t in &times {
        let _ = write!(s, "{:>8}", short_time(*t));
    }
    let _ = writeln!(s);
    for r in runs {
        let _ = write!(s, "  {:<width$}", r.label);
        for c in hv_sim::series::committed_at_times(&r.samples, &times) {
            let _ = write!(s, "{:>8.2}", gib(c));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
    for r in runs {
        let _ = writeln!(s, "{}:", r.label);
        if let Some(m) = &r.metrics {
            let _ = writeln!(
                s,
                "  host-committed: peak {:.2} GiB, {:.2} GiB when the work ended, {:.2} GiB at the end",
                gib(m.committed_peak),
                gib(m.committed_at_mark),
                gib(m.committed_at_end)
            );
            let pct = if m.returnable == 0 {
                100.0
            } else {
                m.returned as f64 * 100.0 / m.returnable as f64
            };
            let _ = writeln!(
                s,
                "  returned to the host after the work ended: {:.2} GiB of {:.2} GiB freed ({pct:.1} %)",
                gib(m.returned),
                gib(m.returnable)
            );
            let _ = writeln!(
                s,
                "  time to 50 % / 90 % / 99 % returned: {} / {} / {}",
                secs(m.t50_s),
                secs(m.t90_s),
                secs(m.t99_s)
            );
            if let Some(f) = m.first_report_s {
                let _ = writeln!(
                    s,
                    "  first heat hint {} after the work ended; {} reporting passes after it",
                    secs(Some(f)),
                    m.report_passes_s.len()
                );
            }
        }
        let _ = writeln!(
            s,
            "  hypercalls: {} ({} heat-hint ranges, {:.2} GiB reported); VMBus packets: {} guest->host, {} host->guest",
            r.counters.hypercalls,
            r.counters.hint_ranges,
            gib(r.counters.bytes_reported),
            r.counters.vmbus_to_host,
            r.counters.vmbus_to_guest
        );
        let _ = writeln!(
            s,
            "  guest: {:.2} GiB reclaimed by kswapd, {:.2} GiB dropped by the cache policy, {} compactions ({:.2} GiB moved)",
            gib(r.counters.guest.reclaimed_pages * 4096),
            gib(r.counters.guest.dropped_pages * 4096),
            r.counters.guest.compactions,
            gib(r.counters.guest.migrated_pages * 4096)
        );
        let _ = writeln!(
            s,
            "  invariants: {} checks, {} violations; trace hash {:016x}",
            r.counters.invariant_checks,
            r.counters.violations.len(),
            r.trace_hash
        );
        for v in r.counters.violations.iter().take(5) {
            let _ = writeln!(s, "    VIOLATION: {v}");
        }
    }
    s
}

fn csv(runs: &[&RunResult]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from(
        "run,t_s,total_bytes,used_bytes,cache_bytes,free_bytes,host_committed_bytes\n",
    );
    for r in runs {
        for x in &r.samples {
            let _ = writeln!(
                s,
                "{},{:.3},{},{},{},{},{}",
                r.label.replace(',', ";"),
                x.t_ns as f64 / 1e9,
                x.total,
                x.used,
                x.cache,
                x.free,
                x.host_committed
            );
        }
    }
    s
}

fn plot_runs(runs: &[&RunResult]) -> String {
    let title = format!(
        "hv-dynmem simulator: {}",
        runs.first().map_or("", |r| r.scenario.as_str())
    );
    let panels: Vec<plot::Panel<'_>> = runs
        .iter()
        .map(|r| plot::Panel {
            title: &r.label,
            samples: &r.samples,
            mark_ns: Some(r.mark_ns),
        })
        .collect();
    plot::render(&title, &panels)
}

fn run_one(
    sc: &Scenario,
    seed: u64,
    check: bool,
    trace: Option<&proc::RecordedTrace>,
    trace_out: bool,
) -> Result<RunResult, String> {
    let cfg = RunConfig {
        seed,
        check_invariants: check,
        record_trace: trace_out,
        progress: true,
        replay: trace.cloned(),
    };
    engine::run(sc, &cfg).map_err(|e| e.to_string())
}

fn without_reporting(sc: &Scenario) -> Scenario {
    let mut off = sc.clone();
    off.reporting.policy = ReportPolicy::Off;
    off
}

fn main_job() -> Result<(), String> {
    let sc = scenario::load("wsl-build").map_err(|e| e.to_string())?;
    eprintln!(
        "hv-dynmem: simulating `wsl-build` (16 GiB WSL2 VM, one hour) with and without free page reporting..."
    );
    // The main job checks the "nothing lost" invariants (about 15 % slower): a summary of a
    // run that lost a page would be worthless.
    let with = run_one(&sc, 1, true, None, false)?;
    let without = run_one(&without_reporting(&sc), 1, true, None, false)?;
    let runs = [&with, &without];
    outln!("{}", summary(&runs));
    let out = default_out_dir().join("wsl-build.svg");
    write_atomic(&out, plot_runs(&runs).as_bytes())?;
    if let (Some(a), Some(b)) = (&with.metrics, &without.metrics) {
        outln!(
            "=> with free page reporting the VM gave {:.2} GiB back to the host after the build; without it, {:.2} GiB.",
            gib(a.returned),
            gib(b.returned)
        );
    }
    outln!("plot: {}", out.display());
    outln!("(more: `hv-dynmem simulate --help`, `hv-dynmem scenarios`, `hv-dynmem inspect`)");
    let violations: usize = runs.iter().map(|r| r.counters.violations.len()).sum();
    if violations > 0 {
        return Err(format!("{violations} invariant violations"));
    }
    Ok(())
}

fn simulate(a: &SimulateArgs) -> Result<(), String> {
    let (mut sc, trace) = match (&a.scenario, &a.trace) {
        (_, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read trace {}: {e}", path.display()))?;
            let t = proc::RecordedTrace::parse(&text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            (engine::scenario_for_trace(&t), Some(t))
        }
        (Some(s), None) => (scenario::load(s).map_err(|e| e.to_string())?, None),
        (None, None) => (
            scenario::load("wsl-build").map_err(|e| e.to_string())?,
            None,
        ),
    };
    apply_overrides(&mut sc, a);
    if sc.cache.compare && a.reclaim.is_none() && a.cache_era.is_none() {
        return compare_reclaim(&sc, a);
    }
    let main = run_one(&sc, a.seed, a.check, trace.as_ref(), a.trace_out.is_some())?;
    let other = if a.compare && sc.reporting.policy != ReportPolicy::Off {
        Some(run_one(
            &without_reporting(&sc),
            a.seed,
            a.check,
            trace.as_ref(),
            false,
        )?)
    } else {
        None
    };
    let mut runs = vec![&main];
    if let Some(o) = &other {
        runs.push(o);
    }
    // Everything is computed before anything is written.
    if let Some(p) = &a.trace_out {
        write_atomic(p, main.trace_lines.join("\n").as_bytes())?;
    }
    emit_runs(&runs, a, false)
}

/// Writes the CSV and plot `a` asks for, prints the runs (JSON, or the summary plus, with
/// `reclaim_modes`, the reclaim modes' table) and fails on any invariant violation.
fn emit_runs(runs: &[&RunResult], a: &SimulateArgs, reclaim_modes: bool) -> Result<(), String> {
    if let Some(p) = &a.csv {
        write_atomic(p, csv(runs).as_bytes())?;
    }
    if let Some(p) = &a.plot {
        write_atomic(p, plot_runs(runs).as_bytes())?;
    }
    if a.json {
        let v = serde_json::json!({ "runs": runs.iter().map(|r| r.to_json()).collect::<Vec<_>>() });
        outln!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
    } else {
        outln!("{}", summary(runs));
        if reclaim_modes {
            outln!("{}", reclaim_table(runs));
        }
        if let Some(p) = &a.plot {
            outln!("plot: {}", p.display());
        }
    }
    let violations: usize = runs.iter().map(|r| r.counters.violations.len()).sum();
    if violations > 0 {
        return Err(format!("{violations} invariant violations"));
    }
    Ok(())
}

/// The three reclaim modes side by side (a scenario with `[cache] compare = true`).
fn compare_reclaim(sc: &Scenario, a: &SimulateArgs) -> Result<(), String> {
    use hv_sim::scenario::ReclaimMode;
    let mut runs = Vec::new();
    for m in [
        ReclaimMode::Wsl2024,
        ReclaimMode::Wsl2026,
        ReclaimMode::Ours,
    ] {
        let mut s = sc.clone();
        s.cache.mode = Some(m);
        runs.push(run_one(&s, a.seed, a.check, None, false)?);
    }
    let refs: Vec<&RunResult> = runs.iter().collect();
    emit_runs(&refs, a, true)
}

/// The reclaim modes' table: GiB·min held above anonymous + kernel memory after the mark,
/// the page cache left at the end, refaulted bytes and the stall they cost.
pub fn reclaim_table(runs: &[&RunResult]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "reclaim modes            GiB·min held   cache at end   refaulted   stall (s)"
    );
    for r in runs {
        let mark = r.mark_ns;
        let end_cache = r.samples.last().map_or(0, |x| x.cache);
        // Held above what processes and the kernel use (anonymous + kernel): page cache and
        // free memory the host still backs, from the mark to the end.
        let mut held = 0f64;
        for w in r.samples.windows(2) {
            if w[0].t_ns < mark {
                continue;
            }
            let above = w[0].host_committed.saturating_sub(w[0].used) as f64 / (1u64 << 30) as f64;
            held += above * (w[1].t_ns - w[0].t_ns) as f64 / 60e9;
        }
        let _ = writeln!(
            s,
            "  {:<22} {:>12.1} {:>10.2} GiB {:>7.0} MiB {:>11.1}",
            r.label
                .rsplit("cache: ")
                .next()
                .unwrap_or("")
                .trim_end_matches(')'),
            held,
            gib(end_cache),
            (r.counters.working_set.refault_pages * 4096) as f64 / (1u64 << 20) as f64,
            r.counters.working_set.stall_ns as f64 / 1e9
        );
    }
    s
}

fn decode(hex: &[String]) -> Result<(), String> {
    let text: String = hex.concat();
    let bytes = parse_hex(&text)?;
    let v = hv_dynmem::protocol::json::decode(&bytes).map_err(|e| e.to_string())?;
    outln!("{v}");
    Ok(())
}

/// Parses hex text (whitespace, `:`, `,` and `0x` prefixes allowed).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = text
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .map(|w| {
            w.strip_prefix("0x")
                .or_else(|| w.strip_prefix("0X"))
                .unwrap_or(w)
        })
        .collect();
    if cleaned.is_empty() {
        return Err(
            "no bytes given: pass the message as hex, e.g. `hv-dynmem decode 0a2000000200...`"
                .into(),
        );
    }
    if cleaned.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", cleaned.len()));
    }
    (0..cleaned.len())
        .step_by(2)
        .map(|i| {
            let pair = cleaned.get(i..i + 2).unwrap_or("");
            u8::from_str_radix(pair, 16)
                .map_err(|_| format!("not a hex byte at digit {}: {pair:?}", i + 1))
        })
        .collect()
}

fn inspect(
    json: bool,
    meminfo: Option<&Path>,
    buddyinfo: Option<&Path>,
    zoneinfo: Option<&Path>,
) -> Result<(), String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let ins = match (meminfo, buddyinfo) {
        (Some(m), Some(b)) => {
            let zt = zoneinfo.map(read).transpose()?;
            proc::inspect_zones(&read(m)?, &read(b)?, zt.as_deref()).map_err(|e| e.to_string())?
        }
        _ => proc::inspect_live()?,
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&ins).map_err(|e| e.to_string())?
        );
    } else {
        out!("{}", ins.render());
    }
    Ok(())
}

fn record(out: &Path, period_ms: u64, command: &[String]) -> Result<ExitCode, String> {
    let (trace, status) = proc::record(command, std::time::Duration::from_millis(period_ms))?;
    let json = serde_json::to_string_pretty(&trace).map_err(|e| e.to_string())?;
    write_atomic(out, json.as_bytes())?;
    eprintln!(
        "hv-dynmem: recorded {} samples over {:.2} s into {} (replay: hv-dynmem simulate --trace {})",
        trace.samples.len(),
        trace.samples.last().map_or(0, |s| s.t_ns) as f64 / 1e9,
        out.display(),
        out.display()
    );
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// Entry point of the `hv-dynmem` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => main_job().map(|()| ExitCode::SUCCESS),
        Some(Command::Simulate(a)) => simulate(a).map(|()| ExitCode::SUCCESS),
        Some(Command::Decode { hex }) => decode(hex).map(|()| ExitCode::SUCCESS),
        Some(Command::Inspect {
            json,
            meminfo,
            buddyinfo,
            zoneinfo,
        }) => inspect(
            *json,
            meminfo.as_deref(),
            buddyinfo.as_deref(),
            zoneinfo.as_deref(),
        )
        .map(|()| ExitCode::SUCCESS),
        Some(Command::Record {
            out,
            period_ms,
            command,
        }) => record(out, *period_ms, command),
        Some(Command::Reclaim(a)) => crate::reclaim::reclaim(a),
        Some(Command::Scenarios) => {
            for (name, text) in scenario::BUILTIN {
                let d = Scenario::parse(text, name)
                    .map(|s| s.description)
                    .unwrap_or_default();
                outln!("{name:<16} {d}");
            }
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hv-dynmem: error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_time_labels() {
        assert_eq!(short_time(0), "0s");
        assert_eq!(short_time(450 * 1_000_000_000), "7.5m");
        assert_eq!(short_time(3600 * 1_000_000_000), "1h");
        assert_eq!(short_time(8_750_000_000), "8.8s");
    }

    #[test]
    fn hex_parsing() {
        assert_eq!(parse_hex("0a 20:00,0x01"), Ok(vec![0x0a, 0x20, 0x00, 0x01]));
        assert!(parse_hex("abc").unwrap_err().contains("odd"));
        assert!(parse_hex("zz").unwrap_err().contains("not a hex byte"));
        assert!(parse_hex("  ").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
