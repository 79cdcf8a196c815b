//! Bad input and bad environments: malformed /proc and cgroup files (fixtures), failing cgroup
//! writes (EBUSY, EAGAIN, EINVAL), a kernel without `memory.reclaim`, no cgroup v2, not root,
//! SIGTERM in the middle of a step.

use hv_reclaim::{Action, CachePolicy, OursConfig, ReclaimMode, Reclaimer};
use hv_reclaim_agent::{
    Capabilities, EnvError, Executor, FakeSys, RunOptions, Sampler, Sys, check_env, parse, run,
};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
const RECLAIM: &str = "/sys/fs/cgroup/memory.reclaim";
const MIB: u64 = 1 << 20;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIX}{name}")).expect("fixture")
}

/// A guest that looks like a 6.1+ kernel with cgroup v2, PSI and memory.reclaim.
fn good_sys() -> FakeSys {
    let s = FakeSys::default();
    s.set("/sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    s.set("/sys/fs/cgroup/memory.stat", &fixture("memory.stat"));
    s.set(RECLAIM, "");
    s.set("/proc/meminfo", &fixture("meminfo"));
    s.set("/proc/stat", &fixture("stat"));
    s.set(
        "/proc/pressure/memory",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    );
    s.set("/proc/sys/vm/drop_caches", "");
    s.set("/proc/sys/vm/compact_memory", "");
    s
}

fn caps(s: &FakeSys) -> Capabilities {
    check_env(s, false).expect("environment fine")
}

fn reclaim(bytes: u64) -> Action {
    Action::Reclaim {
        bytes,
        swappiness: Some(0),
        time_limit_ns: 1_000_000_000,
    }
}

#[test]
fn good_fixtures_parse() {
    let s = good_sys();
    s.set("/proc/pressure/memory", &fixture("pressure-memory"));
    let sample = Sampler::new(caps(&s), 60_000).sample(&s).expect("sample");
    assert_eq!(sample.file, 2 << 30);
    assert_eq!(sample.active_file, 200 * MIB);
    assert_eq!(sample.refault_pages, 1234);
    assert_eq!(
        (sample.psi_some_total_us, sample.psi_some_avg10),
        (123_456, 50)
    );
    assert!(sample.mem_total > 0 && sample.cpus >= 1);
    assert_eq!(sample.cold_file, None);
}

#[test]
fn mglru_without_debugfs_still_reports_lru_gen_and_kept_pages() {
    // memory.stat of the root cgroup at the end of scripts/reclaim-qemu's hot-cache run with
    // `ours` on Debian's 6.12.117 (MGLRU on; its reclaim kept the 640 MiB hot set: pgrefill).
    let s = good_sys();
    s.set(
        "/sys/fs/cgroup/memory.stat",
        &fixture("memory.stat.6.12-mglru"),
    );
    s.set("/sys/kernel/mm/lru_gen/enabled", "0x0007\n");
    let c = caps(&s);
    assert!(
        c.lru_gen_enabled && !c.lru_gen,
        "no debugfs: no ages, but MGLRU is on"
    );
    let sample = Sampler::new(c, 30_000).sample(&s).expect("sample");
    assert!(sample.lru_gen);
    assert_eq!(sample.cold_file, None);
    assert_eq!(sample.kept_pages, 163_832);
    assert_eq!(sample.refault_pages, 22_604);
    // A classic LRU (the good fixture, no lru_gen file): not MGLRU.
    let s = good_sys();
    let sample = Sampler::new(caps(&s), 30_000).sample(&s).expect("sample");
    assert!(!sample.lru_gen);
}

#[test]
fn the_agents_own_cpu_time_comes_from_proc_self_stat() {
    // utime 250 + stime 130 ticks of USER_HZ (100): 3.8 s.
    assert_eq!(parse::self_cpu(&fixture("self-stat")), Ok(3_800_000_000));
    assert!(parse::self_cpu("1234 (hv-dynmem) S garbage").is_err());
    let s = good_sys();
    s.set("/proc/self/stat", &fixture("self-stat"));
    let sample = Sampler::new(caps(&s), 30_000).sample(&s).expect("sample");
    assert_eq!(sample.own_cpu_ns, 3_800_000_000);
    // Unreadable: 0 (the idle test then counts the agent's CPU as busy), not an error.
    s.set("/proc/self/stat", "garbage");
    let sample = Sampler::new(caps(&s), 30_000).sample(&s).expect("sample");
    assert_eq!(sample.own_cpu_ns, 0);
}

#[test]
fn malformed_files_are_clear_errors_naming_the_file() {
    for (path, fix, needle) in [
        (
            "/sys/fs/cgroup/memory.stat",
            "memory.stat.bad-number",
            "active_file: not a number",
        ),
        (
            "/sys/fs/cgroup/memory.stat",
            "memory.stat.missing-key",
            "no `inactive_file`",
        ),
        (
            "/proc/pressure/memory",
            "pressure-memory.truncated",
            "/proc/pressure/memory",
        ),
        ("/proc/meminfo", "meminfo.truncated", "/proc/meminfo"),
        ("/proc/stat", "stat.garbage", "/proc/stat"),
    ] {
        let s = good_sys();
        s.set(path, &fixture(fix));
        let e = Sampler::new(caps(&s), 60_000)
            .sample(&s)
            .expect_err(fix)
            .to_string();
        assert!(e.contains(needle), "{fix}: {e}");
    }
    assert!(parse::memory_stat("file 1\nactive_file 9999999999\ninactive_file 0\n").is_err());
    assert!(parse::memory_stat("file 1 2 3\n").is_err());
}

#[test]
fn a_root_cgroup_without_memory_stat_reads_vmstat() {
    let s = good_sys();
    s.remove("/sys/fs/cgroup/memory.stat");
    s.set("/proc/vmstat", &fixture("vmstat"));
    let c = caps(&s);
    assert!(!c.root_memory_stat);
    let sample = Sampler::new(c, 60_000).sample(&s).expect("sample");
    // The file LRU (200 + 300 pages), not `nr_file_pages` (520: shmem too).
    assert_eq!(
        (sample.file, sample.active_file, sample.refault_pages),
        (500 * 4096, 200 * 4096, 7)
    );
}

#[test]
fn shmem_is_not_cache_the_policy_can_reclaim() {
    // The QEMU guest once its cache was gone: `file` is 4.5 MiB of shmem (/run, /dev/shm)
    // and 24 KiB on the file LRU. The sample's `file` is the LRU, so the policy is at its
    // floor instead of asking for 4.5 MiB every interval that reclaim cannot free.
    let s = good_sys();
    s.set(
        "/sys/fs/cgroup/memory.stat",
        "file 4775936\nshmem 4751360\nactive_file 8192\ninactive_file 16384\n",
    );
    let sample = Sampler::new(caps(&s), 60_000).sample(&s).expect("sample");
    assert_eq!(sample.file, 24576);
}

#[test]
fn a_malformed_sample_skips_the_step_and_does_nothing() {
    let s = good_sys();
    let c = caps(&s);
    s.set(
        "/sys/fs/cgroup/memory.stat",
        &fixture("memory.stat.bad-number"),
    );
    let mut p = Reclaimer::new(
        ReclaimMode::Ours,
        CachePolicy::Dropcache,
        9,
        OursConfig::default(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut metrics = Vec::new();
    let sys = &s;
    let stop2 = stop.clone();
    let mut n = 0;
    let sum = run(
        sys,
        c,
        &mut p,
        RunOptions::default(),
        Some(&mut metrics),
        stop.clone(),
        &mut |d: Duration| {
            *sys.clock.lock().expect("clock") += d.as_nanos() as u64;
            n += 1;
            if n > 500 {
                stop2.store(true, Ordering::SeqCst);
            }
        },
    );
    assert!(
        sum.bad_samples >= 3 && sum.samples == 0 && sum.actions == 0,
        "{sum:?}"
    );
    assert!(s.written().is_empty(), "no writes on bad data");
    let text = String::from_utf8(metrics).expect("utf8");
    assert!(text.lines().all(|l| l.contains("\"kind\":\"bad_sample\"")));
}

#[test]
fn ebusy_eagain_and_einval_from_memory_reclaim() {
    let s = good_sys();
    let stop = Arc::new(AtomicBool::new(false));
    let mut e = Executor::new(&s, caps(&s), stop);
    // EBUSY: nothing freed, Busy.
    s.fail
        .lock()
        .expect("lock")
        .insert(RECLAIM.into(), vec![io::ErrorKind::ResourceBusy]);
    let o = e.apply(&reclaim(8 * MIB));
    assert_eq!((o.freed, o.error), (0, Some(hv_reclaim::ActError::Busy)));
    // EAGAIN after one chunk: the kernel found less; what went before counts.
    s.fail
        .lock()
        .expect("lock")
        .insert(RECLAIM.into(), vec![io::ErrorKind::WouldBlock]);
    e.chunk = 4 * MIB;
    // The first chunk fails: nothing freed, Short.
    let o = e.apply(&reclaim(8 * MIB));
    assert_eq!((o.freed, o.error), (0, Some(hv_reclaim::ActError::Short)));
    // EINVAL for `swappiness=` (Linux < 6.9): a warning, then plain byte counts.
    *s.reject.lock().expect("lock") = Some("swappiness".into());
    let o = e.apply(&reclaim(8 * MIB));
    assert_eq!((o.freed, o.error), (8 * MIB, None));
    assert_eq!(e.swappiness_accepted(), Some(false));
    let w = s.written();
    assert_eq!(w.last().map(|x| x.1.as_str()), Some("4194304"));
    // EINVAL for the plain count too: an error, not a loop.
    *s.reject.lock().expect("lock") = Some("4194304".into());
    let o = e.apply(&reclaim(8 * MIB));
    assert_eq!((o.freed, o.error), (0, Some(hv_reclaim::ActError::Invalid)));
}

#[test]
fn swappiness_is_sent_where_the_kernel_takes_it() {
    let s = good_sys();
    let mut e = Executor::new(&s, caps(&s), Arc::new(AtomicBool::new(false)));
    let o = e.apply(&reclaim(20 * MIB));
    assert_eq!((o.freed, o.error), (20 * MIB, None));
    let w: Vec<String> = s.written().into_iter().map(|(_, d)| d).collect();
    assert_eq!(w, ["16777216 swappiness=0", "4194304 swappiness=0"]);
}

#[test]
fn the_time_limit_ends_a_step_between_chunks() {
    let s = FakeSys {
        write_cost_ns: 400_000_000,
        ..good_sys()
    };
    let mut e = Executor::new(&s, caps(&s), Arc::new(AtomicBool::new(false)));
    e.chunk = MIB;
    let o = e.apply(&reclaim(64 * MIB));
    assert_eq!(o.error, Some(hv_reclaim::ActError::TimedOut));
    assert_eq!(o.freed, 3 * MIB, "1 s limit, 0.4 s a chunk");
}

#[test]
fn a_kernel_without_memory_reclaim_falls_back_to_drop_caches() {
    let s = good_sys();
    s.remove(RECLAIM);
    let c = caps(&s);
    assert!(!c.memory_reclaim);
    let mut e = Executor::new(&s, c, Arc::new(AtomicBool::new(false)));
    let o = e.apply(&reclaim(8 * MIB));
    assert_eq!(o.error, None);
    assert_eq!(
        s.written(),
        [("/proc/sys/vm/drop_caches".into(), "1".into())]
    );
    // Neither interface: refuse to start.
    s.remove("/proc/sys/vm/drop_caches");
    assert_eq!(check_env(&s, false), Err(EnvError::NoInterface));
}

#[test]
fn no_cgroup2_or_not_root_refuse_to_start_with_distinct_codes() {
    let s = good_sys();
    s.remove("/sys/fs/cgroup/cgroup.controllers");
    let e = check_env(&s, false).expect_err("no cgroup v2");
    assert_eq!((e.clone(), e.exit_code()), (EnvError::NoCgroup2, 3));
    assert!(e.to_string().contains("cgroup v2"));
    let s = FakeSys {
        unprivileged: true,
        ..good_sys()
    };
    let e = check_env(&s, false).expect_err("not root");
    assert_eq!((e.clone(), e.exit_code()), (EnvError::NotRoot, 4));
    assert!(check_env(&s, true).is_ok(), "a dry run only reads");
    assert!(!s.is_root());
}

#[test]
fn sigterm_mid_step_finishes_the_write_in_progress_and_nothing_more() {
    let stop = Arc::new(AtomicBool::new(false));
    let raise = stop.clone();
    let s = FakeSys {
        on_write: Some(Arc::new(move || raise.store(true, Ordering::SeqCst))),
        ..good_sys()
    };
    let mut e = Executor::new(&s, caps(&s), stop.clone());
    e.chunk = MIB;
    // The plan holds a 64 MiB reclaim and a compaction: SIGTERM arrives during the first
    // chunk; the chunk completes, the rest of the reclaim and the compaction do not run.
    let o = e.apply(&reclaim(64 * MIB));
    assert_eq!((o.freed, o.error), (MIB, None));
    assert_eq!(s.written().len(), 1);
    assert!(stop.load(Ordering::SeqCst));
}

#[test]
fn sigterm_during_the_loop_stops_between_steps() {
    let s = good_sys();
    let c = caps(&s);
    let stop = Arc::new(AtomicBool::new(false));
    let mut p = Reclaimer::new(
        ReclaimMode::Ours,
        CachePolicy::Dropcache,
        9,
        OursConfig::default(),
    );
    let sys = &s;
    let stop2 = stop.clone();
    let mut metrics = Vec::new();
    let sum = run(
        sys,
        c,
        &mut p,
        RunOptions::default(),
        Some(&mut metrics),
        stop.clone(),
        &mut |d: Duration| {
            let mut clk = sys.clock.lock().expect("clock");
            *clk += d.as_nanos() as u64;
            // SIGTERM after 20 s.
            if *clk >= 20_000_000_000 {
                stop2.store(true, Ordering::SeqCst);
            }
        },
    );
    // Samples at 5, 10, 15 and 20 s (the last one races the stop and loses).
    assert_eq!(sum.samples, 3, "{sum:?}");
    assert!(sum.actions >= 1, "the first steps reclaimed: {sum:?}");
    let text = String::from_utf8(metrics).expect("utf8");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(text.contains("\"kind\":\"action\""));
}

#[test]
fn dry_run_writes_nothing_and_once_stops_after_one_step() {
    let s = good_sys();
    let c = check_env(&s, true).expect("env");
    let mut p = Reclaimer::new(
        ReclaimMode::Ours,
        CachePolicy::Dropcache,
        9,
        OursConfig::default(),
    );
    let sys = &s;
    let sum = run(
        sys,
        c,
        &mut p,
        RunOptions {
            dry_run: true,
            once: true,
            ..RunOptions::default()
        },
        None,
        Arc::new(AtomicBool::new(false)),
        &mut |d: Duration| *sys.clock.lock().expect("clock") += d.as_nanos() as u64,
    );
    assert_eq!(sum.samples, 2);
    assert!(sum.actions >= 1, "{sum:?}");
    assert!(s.written().is_empty());
    // Under pressure (the fixture's avg10 = 0.50 %) the same step does nothing.
    s.set("/proc/pressure/memory", &fixture("pressure-memory"));
    let mut p = Reclaimer::new(
        ReclaimMode::Ours,
        CachePolicy::Dropcache,
        9,
        OursConfig::default(),
    );
    let sum = run(
        sys,
        c,
        &mut p,
        RunOptions {
            dry_run: true,
            once: true,
            ..RunOptions::default()
        },
        None,
        Arc::new(AtomicBool::new(false)),
        &mut |d: Duration| *sys.clock.lock().expect("clock") += d.as_nanos() as u64,
    );
    assert_eq!((sum.samples, sum.actions), (2, 0));
}
