//! Simulator speed: simulated seconds per wall second.
//!
//! * `wsl-build/16GiB-1h/{linux,off}`: the main job's scenario (a 16 GiB WSL2 guest, a 10-minute
//!   build, then idle until one hour), with free page reporting (`linux`) and without;
//! * `alloc-free-1g/linux` and `hyperv-dm/off`: a small WSL2 run and the Hyper-V dynamic
//!   memory run (real DM driver + simulated DM host over the simulated VMBus).
//!
//! Criterion's throughput is in "elements" = simulated seconds, so elem/s is simulated seconds
//! per wall second. Invariant checks are off, as in the main job.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hv_sim::engine::{RunConfig, run};
use hv_sim::scenario::{self, ReportPolicy};
use std::hint::black_box;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    for (name, policy) in [
        ("wsl-build", ReportPolicy::Linux),
        ("wsl-build", ReportPolicy::Off),
        ("alloc-free-1g", ReportPolicy::Linux),
        ("hyperv-dm", ReportPolicy::Off),
    ] {
        let mut sc = scenario::load(name).expect("built-in scenario");
        sc.reporting.policy = policy;
        let secs = sc.duration.0 / 1_000_000_000;
        g.throughput(Throughput::Elements(secs));
        let cfg = RunConfig {
            seed: 1,
            ..RunConfig::default()
        };
        // One untimed run to print what the bench simulates.
        let r = run(&sc, &cfg).expect("run");
        eprintln!(
            "{name}/{}: {} s simulated, {} hypercalls, {} VMBus packets, peak {:.2} GiB committed",
            policy.name(),
            secs,
            r.counters.hypercalls,
            r.counters.vmbus_to_host + r.counters.vmbus_to_guest,
            r.metrics.as_ref().map_or(0, |m| m.committed_peak) as f64 / (1u64 << 30) as f64
        );
        g.bench_function(format!("{name}/{}", policy.name()), |b| {
            b.iter(|| black_box(run(&sc, &cfg).expect("run").trace_hash));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
