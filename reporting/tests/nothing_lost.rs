//! "Nothing lost": 1 000 seeded random allocate / free / touch sequences per policy against the
//! simulated hypervisor, with batches held outstanding while the guest keeps allocating.
//!
//! Per sequence: zero data-loss violations, and once the guest is idle every free block at or
//! above the order is reported (whenever the zone passes the reporting gate
//! `low_wmark + (32 << order)`; below it Linux — and the engine — leave the zone alone).
#![cfg(feature = "sim")]

use std::time::Duration;

use hv_reporting::harness::GuestMemory;
use hv_reporting::hyperv::HvReporterConfig;
use hv_reporting::{
    EngineConfig, Extent, HvReporter, MAX_ORDER, Policy, REPORTING_CAPACITY, ReportingEngine,
};

const SEQUENCES: u64 = 1000;
const MIB: u64 = 256;

/// xorshift64*: deterministic, seedable.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn order(&mut self) -> u8 {
        // Mostly small allocations, sometimes large ones.
        match self.below(10) {
            0..=5 => self.below(4) as u8,
            6..=8 => self.below(9) as u8,
            _ => self.below(u64::from(MAX_ORDER) + 1) as u8,
        }
    }
}

#[derive(Default)]
struct Totals {
    sequences: u64,
    complete_checked: u64,
    batches: u64,
    outstanding_interleavings: u64,
    frames_poisoned: u64,
    refaults: u64,
}

fn sequence(policy: Policy, seed: u64, t: &mut Totals) {
    let mut rng = Rng::new(seed);
    let frames = [64, 96, 128, 192, 256][rng.below(5) as usize] * MIB;
    let order = [0u8, 3, 5, 7, 9, 10][rng.below(6) as usize];
    let tag = format!("{policy} seed {seed} ({} MiB, order {order})", frames / MIB);
    let mut g = GuestMemory::new(frames).unwrap();
    let cpu = g.hypervisor().cpuid_view();
    let mut r = HvReporter::probe(g.hypervisor_mut(), &cpu, HvReporterConfig::default());
    if rng.below(4) == 0 {
        g.hypervisor_mut().set_random_partial_completion(Some(seed));
    }
    let mut e = ReportingEngine::new(EngineConfig::new(policy).with_order(order).unwrap());
    let mut now = Duration::ZERO;
    e.register(now);
    let mut live: Vec<(u64, u8)> = Vec::new();

    let steps = 40 + rng.below(80);
    for _ in 0..steps {
        match rng.below(16) {
            // Allocate (and write a few frames).
            0..=5 => {
                let o = rng.order();
                if let Ok(a) = g.alloc(o) {
                    let p = a.pfn;
                    if let Some(r) = a.remainder_order {
                        e.notify_free(now, r);
                    }
                    for _ in 0..1 + rng.below(3) {
                        g.touch(p + rng.below(1 << o));
                    }
                    live.push((p, o));
                }
            }
            // Free a random live block.
            6..=9 if !live.is_empty() => {
                let (p, o) = live.swap_remove(rng.below(live.len() as u64) as usize);
                let f = g.free(p, o).unwrap();
                e.notify_free(now, f.order);
            }
            // Read and rewrite frames of a live block.
            10..=11 if !live.is_empty() => {
                let (p, o) = live[rng.below(live.len() as u64) as usize];
                for _ in 0..1 + rng.below(4) {
                    g.touch(p + rng.below(1 << o));
                }
            }
            // Time passes; due passes run.
            12..=13 => {
                now += Duration::from_millis(rng.below(3000));
                t.batches += g.run_reporting(&mut e, &mut r, now) as u64;
            }
            // A batch stays outstanding while the guest allocates, frees and writes.
            _ => {
                now += Duration::from_millis(rng.below(3000));
                let Some(batch) = e.poll(g.allocator_mut(), now) else {
                    continue;
                };
                let batch: Vec<Extent> = batch.to_vec();
                t.outstanding_interleavings += 1;
                for _ in 0..rng.below(6) {
                    if rng.below(2) == 0 {
                        let o = rng.order();
                        if let Ok(a) = g.alloc(o) {
                            let p = a.pfn;
                            if let Some(r) = a.remainder_order {
                                e.notify_free(now, r);
                            }
                            assert!(
                                batch.iter().all(|x| p + (1 << o) <= x.pfn || p >= x.end()),
                                "{tag}: allocated an isolated frame"
                            );
                            g.touch(p);
                            live.push((p, o));
                        }
                    } else if !live.is_empty() {
                        let (p, o) = live.swap_remove(rng.below(live.len() as u64) as usize);
                        let f = g.free(p, o).unwrap();
                        e.notify_free(now, f.order);
                    }
                }
                let res = g.report_batch(&mut r, &batch);
                e.complete(g.allocator_mut(), res);
                t.batches += 1 + g.run_reporting(&mut e, &mut r, now) as u64;
            }
        }
    }

    // The guest goes idle: it frees part of its memory, then nothing happens but reporting.
    for _ in 0..live.len() / 2 {
        let (p, o) = live.swap_remove(rng.below(live.len() as u64) as usize);
        let f = g.free(p, o).unwrap();
        e.notify_free(now, f.order);
    }
    now = g.run_until_idle(&mut e, &mut r, now, 10_000);
    assert_eq!(e.next_deadline(), None, "{tag}: engine idle at {now:?}");

    assert_eq!(g.verify(), 0, "{tag}");
    assert!(g.violations().is_empty(), "{tag}: {}", g.violations()[0]);
    assert_eq!(r.stats().batches_failed, 0, "{tag}");
    let a = g.allocator();
    a.check_invariants().unwrap();
    let w = a.watermarks();
    if a.free_pages() > w.low + ((REPORTING_CAPACITY as u64) << order) {
        assert_eq!(
            a.unreported_pages(order),
            0,
            "{tag}: idle guest with unreported blocks"
        );
        t.complete_checked += 1;
    }
    for o in 0..order {
        assert!(
            a.free_list(o).all(|(_, rep)| !rep),
            "{tag}: order {o} block reported"
        );
    }
    // Reported blocks are really discarded.
    for o in order..=MAX_ORDER {
        for (pfn, rep) in a.free_list(o) {
            if rep {
                assert!(
                    !g.hypervisor().is_backed(pfn),
                    "{tag}: reported frame {pfn:#x} backed"
                );
            }
        }
    }
    t.sequences += 1;
    t.frames_poisoned += g.stats().frames_poisoned;
    t.refaults += g.stats().refaults;
}

fn run(policy: Policy) {
    let mut t = Totals::default();
    for seed in 0..SEQUENCES {
        sequence(policy, seed, &mut t);
    }
    println!(
        "{policy}: {} sequences, {} checked complete, {} batches, {} outstanding interleavings, \
         {} frames discarded, {} refaults",
        t.sequences,
        t.complete_checked,
        t.batches,
        t.outstanding_interleavings,
        t.frames_poisoned,
        t.refaults
    );
    assert_eq!(t.sequences, SEQUENCES);
    assert!(
        t.complete_checked * 2 > SEQUENCES,
        "{policy}: the completeness check rarely applied"
    );
    assert!(t.outstanding_interleavings > SEQUENCES, "{policy}");
    assert!(
        t.refaults > 0,
        "{policy}: reported frames were never reused"
    );
}

#[test]
fn nothing_lost_linux() {
    run(Policy::Linux);
}

#[test]
fn nothing_lost_coalesced() {
    run(Policy::Coalesced);
}
