//! Criterion benches for the hot paths of `hvcall`: the range builder and one heat-hint report
//! through the simulated hypervisor. Run briefly while developing:
//! `cargo bench -p hvcall --all-features -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hvcall::builder::{RangeOptions, build_sorted, count_ranges};
use hvcall::sim::SimHypervisor;
use hvcall::{FreeRun, GpaPageRange, HeatType, Hypercalls};

/// 32 Linux-style blocks: naturally aligned, orders 0..=10, not adjacent.
fn linux_batch() -> Vec<FreeRun> {
    (0..32u64)
        .map(|i| FreeRun::new(i << 11, 1 << (i % 11)))
        .collect()
}

/// `n` unaligned, partly adjacent runs.
fn coalesced(n: u64) -> Vec<FreeRun> {
    let mut pos = 7;
    (0..n)
        .map(|i| {
            let len = 1 + (i * 2654435761 % 3000);
            let run = FreeRun::new(pos, len);
            pos += len + if i % 3 == 0 { 0 } else { 1 + i % 700 };
            run
        })
        .collect()
}

fn builder(c: &mut Criterion) {
    let batch = linux_batch();
    c.bench_function("build 32 linux blocks", |b| {
        b.iter(|| {
            let mut n = 0u32;
            build_sorted(
                black_box(&batch).iter().copied(),
                RangeOptions::LINUX,
                &mut |r: GpaPageRange| {
                    n += r.additional_pages() as u32 & 1;
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
            n
        })
    });
    let runs = coalesced(10_000);
    c.bench_function("build 10k unaligned runs", |b| {
        b.iter(|| {
            let mut n = 0u64;
            build_sorted(
                black_box(&runs).iter().copied(),
                RangeOptions::LINUX,
                &mut |_r| {
                    n += 1;
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
            n
        })
    });
    let big = FreeRun::new((1 << 18) - 511, 5000 * (1 << 18) + 1234);
    c.bench_function("count ranges, one run, 1 GiB on (worst-case search)", |b| {
        b.iter(|| count_ranges(black_box(big), RangeOptions::LINUX.allow_1gib(true)).unwrap())
    });
}

fn report(c: &mut Criterion) {
    let mut sim = SimHypervisor::new(1 << 22);
    sim.set_record_discards(false);
    let runs: Vec<FreeRun> = (0..511u64).map(|i| FreeRun::new(i * 1024, 512)).collect();
    c.bench_function("heat hint 511 ranges through the sim (one call)", |b| {
        b.iter(|| {
            Hypercalls::new(&mut sim)
                .heat_hint_runs(
                    HeatType::COLD_DISCARD,
                    black_box(&runs).iter().copied(),
                    RangeOptions::LINUX,
                )
                .unwrap()
        })
    });
}

criterion_group!(benches, builder, report);
criterion_main!(benches);
