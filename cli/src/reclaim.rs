//! `hv-dynmem reclaim`: the page-cache reclaim agent (a thin shell over `hv-reclaim-agent`).

use hv_reclaim::{CachePolicy, OursConfig, ReclaimMode, Reclaimer};
use hv_reclaim_agent::{RealSys, RunOptions, check_env, run};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::string::String;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::{eprintln, format};

/// The reclaim mode (`--policy`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    /// Continuous cold-cache reclaim (the default).
    Ours,
    /// WSL's July 2026 reclaim thread.
    Wsl2026,
    /// WSL's 2024 reclaim thread.
    Wsl2024,
}

impl ModeArg {
    /// The mode.
    pub fn mode(self) -> ReclaimMode {
        match self {
            Self::Ours => ReclaimMode::Ours,
            Self::Wsl2026 => ReclaimMode::Wsl2026,
            Self::Wsl2024 => ReclaimMode::Wsl2024,
        }
    }
}

/// WSL's sub-mode (`--wsl-mode`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum WslArg {
    /// Drop the whole page cache once per idle period.
    Dropcache,
    /// Reclaim in steps while idle.
    Gradual,
}

/// `hv-dynmem reclaim` options.
#[derive(Debug, clap::Args)]
pub struct ReclaimArgs {
    /// Reclaim policy.
    #[arg(long, value_enum, default_value = "ours")]
    policy: ModeArg,
    /// WSL's autoMemoryReclaim mode (with --policy wsl2026/wsl2024).
    #[arg(long, value_enum, default_value = "dropcache")]
    wsl_mode: WslArg,
    /// Print what would be done; write nothing (root not needed).
    #[arg(long)]
    dry_run: bool,
    /// Run one step and exit (ours: a baseline sample, one interval, one step).
    #[arg(long)]
    once: bool,
    /// Append every sample and action to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Divide our policy's time constants by N (tests and the short QEMU proof).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    time_scale: u64,
}

/// Runs the agent until SIGTERM/SIGINT (or one step with `--once`).
pub fn reclaim(a: &ReclaimArgs) -> Result<ExitCode, String> {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Stderr)
        .try_init();
    let sys = RealSys::default();
    let caps = match check_env(&sys, a.dry_run) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hv-dynmem reclaim: {e}");
            return Ok(ExitCode::from(e.exit_code()));
        }
    };
    log::info!(
        "policy {:?}, memory.reclaim {}, root memory.stat {}, PSI {}, MGLRU {}{}",
        a.policy,
        caps.memory_reclaim,
        caps.root_memory_stat,
        caps.psi,
        caps.lru_gen,
        if a.dry_run { ", dry run" } else { "" }
    );
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    let mode = a.policy.mode();
    let wsl = match a.wsl_mode {
        WslArg::Dropcache => CachePolicy::Dropcache,
        WslArg::Gradual => CachePolicy::Gradual,
    };
    // Page reporting order 9 (2 MiB): what every reporting driver uses on x86-64.
    let mut policy = Reclaimer::new(mode, wsl, 9, OursConfig::scaled(a.time_scale));
    let mut file = match &a.metrics {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("cannot open {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let opts = RunOptions {
        dry_run: a.dry_run,
        once: a.once,
        ..RunOptions::default()
    };
    run(
        &sys,
        caps,
        &mut policy,
        opts,
        file.as_mut().map(|f| f as &mut dyn Write),
        stop,
        &mut std::thread::sleep,
    );
    Ok(ExitCode::SUCCESS)
}
