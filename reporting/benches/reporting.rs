//! Guest CPU time to report free memory, per policy, and hypercalls per GiB.
//!
//! Layouts (4 KiB frames, one zone, Linux-like watermarks):
//! * `contiguous`: `N` GiB free in one region, 64 MiB more free in order-8 blocks (below the
//!   reporting order, like the small free pages any guest has), 256 MiB allocated;
//! * `islands`: `N` GiB free as 2 MiB islands — every other 2 MiB block allocated (zone = 2N).
//!
//! One iteration = register the engine, then run every pass (virtual time, 2 s apart) until
//! the engine is idle, reporting through the real [`HvReporter`] into a backend that accepts
//! every heat hint. The hypervisor's own work is not in the figure. Before the timing, each
//! case is run once and its hypercalls, passes and virtual time are printed.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hv_reporting::hyperv::ReporterState;
use hv_reporting::{
    BuddyAllocator, EngineConfig, HvReporter, HvReporterConfig, Policy, ReportingEngine,
};
use hvcall::{Control, HvPage, HvStatus, HypercallBackend, HypercallOutput};

const GIB: u64 = 262_144;

/// A hypervisor that accepts every call at once.
struct AcceptAll {
    input: Box<HvPage>,
    output: Box<HvPage>,
}

impl HypercallBackend for AcceptAll {
    fn input_page(&mut self) -> &mut HvPage {
        &mut self.input
    }
    fn output_page(&self) -> &HvPage {
        &self.output
    }
    fn call(&mut self, control: Control) -> HypercallOutput {
        black_box(self.input.qword(1));
        HypercallOutput::new(HvStatus::SUCCESS, control.rep_count())
    }
}

fn contiguous(gib: u64) -> BuddyAllocator {
    let used = GIB / 4;
    let mut a = BuddyAllocator::new(0, gib * GIB + used).expect("zone");
    let mut blocks = Vec::new();
    while let Ok(p) = a.alloc(8) {
        blocks.push(p);
    }
    for &p in &blocks {
        let small = p < used && p % 1024 == 0;
        if p >= used || small {
            a.free(p, 8).expect("free");
        }
    }
    a
}

fn islands(gib: u64) -> BuddyAllocator {
    let mut a = BuddyAllocator::new(0, 2 * gib * GIB).expect("zone");
    let mut blocks = Vec::new();
    while let Ok(p) = a.alloc(9) {
        blocks.push(p);
    }
    for &p in &blocks {
        if p % 1024 == 0 {
            a.free(p, 9).expect("free");
        }
    }
    a
}

struct Outcome {
    hypercalls: u64,
    passes: u64,
    bytes: u64,
    t_90: Duration,
    t_all: Duration,
}

fn report_all(mem: &mut BuddyAllocator, policy: Policy, backend: &mut AcceptAll) -> Outcome {
    let target = mem.unreported_pages(9);
    let mut engine = ReportingEngine::new(EngineConfig::new(policy));
    let mut rep = HvReporter::with_state(HvReporterConfig::default(), ReporterState::Enabled);
    engine.register(Duration::ZERO);
    let (mut t_90, mut t_all) = (Duration::ZERO, Duration::ZERO);
    while let Some(now) = engine.next_deadline() {
        engine.run(mem, &mut rep.sink(&mut *backend), now);
        let done = engine.stats().pages_reported;
        if t_90.is_zero() && done * 10 >= target * 9 {
            t_90 = now;
        }
        t_all = now;
    }
    Outcome {
        hypercalls: rep.stats().hypercalls,
        passes: engine.stats().passes,
        bytes: rep.stats().bytes_reported,
        t_90,
        t_all,
    }
}

fn bench(c: &mut Criterion) {
    let mut backend = AcceptAll {
        input: Box::new(HvPage::zeroed()),
        output: Box::new(HvPage::zeroed()),
    };
    let mut group = c.benchmark_group("report");
    for gib in [1u64, 16] {
        for (layout, build) in [
            ("contiguous", contiguous as fn(u64) -> BuddyAllocator),
            ("islands", islands),
        ] {
            let template = build(gib);
            for policy in Policy::ALL {
                let o = report_all(&mut template.clone(), policy, &mut backend);
                let gib_reported = o.bytes as f64 / (1u64 << 30) as f64;
                println!(
                    "FIGURES {policy:<9} {gib:>2} GiB {layout:<10}: {:>5} hypercalls \
                     ({:.2} per GiB), {} passes, 90% at {:.0} s, all at {:.0} s, {:.3} GiB",
                    o.hypercalls,
                    o.hypercalls as f64 / gib_reported,
                    o.passes,
                    o.t_90.as_secs_f64(),
                    o.t_all.as_secs_f64(),
                    gib_reported,
                );
                group.bench_function(format!("{policy}/{gib}GiB/{layout}"), |b| {
                    b.iter_batched(
                        || template.clone(),
                        // The allocator is returned so that dropping it is not timed.
                        |mut mem| {
                            let calls = report_all(&mut mem, policy, &mut backend).hypercalls;
                            (mem, calls)
                        },
                        BatchSize::PerIteration,
                    )
                });
            }
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
