//! Engine + buddy allocator + Hyper-V reporter + simulated hypervisor, end to end, at orders
//! 0, 5, 9 and 10, for both policies.
#![cfg(feature = "sim")]

use std::time::Duration;

use hv_reporting::harness::GuestMemory;
use hv_reporting::hyperv::HvReporterConfig;
use hv_reporting::{EngineConfig, HvReporter, MAX_ORDER, Policy, ReportingEngine};

const MIB: u64 = 256;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn end_to_end(policy: Policy, order: u8, seed: u64) {
    let frames = 256 * MIB;
    let mut g = GuestMemory::new(frames).unwrap();
    let cpu = g.hypervisor().cpuid_view();
    let mut r = HvReporter::probe(g.hypervisor_mut(), &cpu, HvReporterConfig::default());
    assert!(r.is_enabled());
    let mut e = ReportingEngine::new(EngineConfig::new(policy).with_order(order).unwrap());
    e.register(Duration::ZERO);
    let mut rng = Rng(seed);
    let mut live: Vec<(u64, u8)> = Vec::new();
    // Fill ~70 % with blocks of mixed orders, then free a random half of them.
    while g.allocator().free_pages() > frames * 3 / 10 {
        let o = rng.below(u64::from(MAX_ORDER) + 1) as u8;
        if let Ok(a) = g.alloc(o) {
            g.touch(a.pfn + rng.below(1 << o));
            live.push((a.pfn, o));
        }
    }
    let mut now = Duration::ZERO;
    for i in (0..live.len()).rev() {
        if rng.below(2) == 0 {
            let (p, o) = live.swap_remove(i);
            let f = g.free(p, o).unwrap();
            e.notify_free(now, f.order);
        }
        now += Duration::from_millis(10);
        g.run_reporting(&mut e, &mut r, now);
    }
    g.run_until_idle(&mut e, &mut r, now, 1000);
    assert_eq!(e.next_deadline(), None);

    let a = g.allocator();
    let tag = format!("{policy} order {order}");
    assert!(r.stats().batches > 0, "{tag}");
    assert_eq!(r.stats().batches_failed, 0, "{tag}");
    assert_eq!(
        a.unreported_pages(order),
        0,
        "{tag}: every free block ≥ order reported"
    );
    for o in 0..order {
        assert!(
            a.free_list(o).all(|(_, rep)| !rep),
            "{tag}: order {o} < {order} reported"
        );
    }
    // Every frame of a reported block is unbacked on the host; live written frames are backed.
    for o in order..=MAX_ORDER {
        for (pfn, rep) in a.free_list(o) {
            assert!(rep);
            assert!(
                (pfn..pfn + (1 << o)).all(|f| !g.hypervisor().is_backed(f)),
                "{tag}"
            );
        }
    }
    let reported = a.reported_pages();
    assert!(reported > 0);
    assert!(g.hypervisor().backed_frames() <= frames - reported, "{tag}");
    // Reuse: allocate everything again and write it — fresh frames, backed again on touch.
    let backed_before = g.hypervisor().backed_frames();
    let mut again = Vec::new();
    while let Ok(a) = g.alloc(0) {
        g.touch(a.pfn);
        again.push(a.pfn);
    }
    assert_eq!(
        g.hypervisor().backed_frames(),
        frames,
        "{tag}: all memory in use and backed"
    );
    assert_eq!(g.stats().refaults, frames - backed_before, "{tag}");
    assert!(frames - backed_before >= reported);
    assert_eq!(g.verify(), 0, "{tag}");
    assert!(
        g.violations().is_empty(),
        "{tag}: {:?}",
        g.violations().first()
    );
}

#[test]
fn order_0() {
    for p in Policy::ALL {
        end_to_end(p, 0, 1);
    }
}

#[test]
fn order_5() {
    for p in Policy::ALL {
        end_to_end(p, 5, 2);
    }
}

#[test]
fn order_9() {
    for p in Policy::ALL {
        end_to_end(p, 9, 3);
    }
}

#[test]
fn order_10() {
    for p in Policy::ALL {
        end_to_end(p, 10, 4);
    }
}
