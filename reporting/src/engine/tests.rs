use super::*;
use crate::buddy::{BuddyAllocator, Watermarks};
use crate::types::ReportError;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

const S: Duration = Duration::from_secs(1);

/// Records every batch; fails the next `fail` batches.
#[derive(Default)]
struct Recorder {
    batches: Vec<Vec<Extent>>,
    fail: usize,
}

impl ReportSink for Recorder {
    fn report(&mut self, batch: &[Extent]) -> Result<(), ReportError> {
        self.batches.push(batch.to_vec());
        if self.fail > 0 {
            self.fail -= 1;
            return Err(ReportError::Hypercall(5));
        }
        Ok(())
    }
}

const GIB: u64 = 262_144;

fn wm() -> Watermarks {
    Watermarks {
        min: 256,
        low: 320,
        high: 384,
    }
}

/// Frames of extra free memory in order-8 blocks (below the default order) that every
/// [`zone_with_free_top`] zone has, so the isolation watermark never stops the last block.
const SMALL_FREE: u64 = 512;

/// A zone with `free` frames free at the top (contiguous, order-10 blocks), two free order-8
/// blocks at the bottom ([`SMALL_FREE`]) and the rest allocated.
fn zone_with_free_top(total: u64, free: u64) -> BuddyAllocator {
    let mut a = BuddyAllocator::with_watermarks(0, total, wm()).unwrap();
    let mut blocks = Vec::new();
    while let Ok(p) = a.alloc(8) {
        blocks.push(p);
    }
    for &p in blocks.iter().rev().take((free / 256) as usize) {
        a.free(p, 8).unwrap();
    }
    a.free(0, 8).unwrap();
    a.free(512, 8).unwrap();
    a
}

fn engine(policy: Policy) -> ReportingEngine {
    ReportingEngine::new(EngineConfig::new(policy))
}

#[test]
fn policy_names_parse() {
    assert_eq!("linux".parse::<Policy>(), Ok(Policy::Linux));
    assert_eq!(" Coalesced".parse::<Policy>(), Ok(Policy::Coalesced));
    let e = "fast".parse::<Policy>().unwrap_err();
    assert_eq!(
        alloc::format!("{e}"),
        "unknown page-reporting policy \"fast\": expected \"linux\" or \"coalesced\""
    );
    for p in Policy::ALL {
        assert_eq!(p.to_string().parse::<Policy>(), Ok(p));
    }
}

#[test]
fn config_validation() {
    let c = EngineConfig::new(Policy::Linux);
    assert_eq!(c.order(), 9);
    assert_eq!(c.capacity(), 32);
    assert_eq!(EngineConfig::new(Policy::Coalesced).capacity(), 511);
    assert_eq!(c.with_order(11), Err(ConfigError::BadOrder(11)));
    assert_eq!(c.with_order(0).unwrap().order(), 0);
    assert_eq!(c.with_capacity(0), Err(ConfigError::BadCapacity(0)));
    assert_eq!(c.with_capacity(512), Err(ConfigError::BadCapacity(512)));
    assert_eq!(
        c.with_max_extent_pages(1000),
        Err(ConfigError::BadExtentCap(1000))
    );
}

#[test]
fn state_machine_idle_requested_active() {
    let mut a = zone_with_free_top(GIB, GIB / 4);
    let mut e = engine(Policy::Linux);
    let mut r = Recorder::default();
    // Not registered: notifications do nothing.
    e.notify_free(Duration::ZERO, 10);
    assert_eq!(e.next_deadline(), None);
    e.register(Duration::ZERO);
    assert_eq!(e.state(), EngineState::Requested);
    assert_eq!(e.next_deadline(), Some(2 * S));
    // Further requests keep the first deadline.
    e.notify_free(S, 10);
    assert_eq!(e.next_deadline(), Some(2 * S));
    assert_eq!(e.run(&mut a, &mut r, S), 0, "not due yet");
    // The pass: ACTIVE while a batch is outstanding.
    assert!(e.poll(&mut a, 2 * S).is_some());
    assert_eq!(e.state(), EngineState::Active);
    // A free during the pass: REQUESTED; rescheduled when the pass ends.
    e.notify_free(2 * S, 9);
    assert_eq!(e.state(), EngineState::Requested);
    e.complete(&mut a, Ok(()));
    while let Some(b) = e.poll(&mut a, 3 * S) {
        assert!(!b.is_empty());
        e.complete(&mut a, Ok(()));
    }
    assert_eq!(e.state(), EngineState::Requested);
    assert_eq!(e.next_deadline(), Some(5 * S));
    e.run(&mut a, &mut r, 5 * S);
    assert_eq!(e.state(), EngineState::Idle);
    assert_eq!(e.next_deadline(), None);
    // Small frees (order below 9) do not request.
    e.notify_free(6 * S, 8);
    assert_eq!(e.state(), EngineState::Idle);
}

/// Upstream figure: 1 GiB freed → 4 passes 2 s apart, 8 calls of 32 order-10 blocks.
#[test]
fn linux_policy_reports_a_free_gib_in_four_passes() {
    let mut a = zone_with_free_top(2 * GIB, GIB);
    let mut e = engine(Policy::Linux);
    let mut r = Recorder::default();
    e.register(Duration::ZERO);
    let mut passes = Vec::new();
    let mut now = Duration::ZERO;
    while let Some(d) = e.next_deadline() {
        now = d;
        let n = e.run(&mut a, &mut r, now);
        passes.push((now.as_secs(), n, a.reported_pages()));
    }
    assert_eq!(
        passes,
        vec![
            (2, 2, GIB / 4),
            (4, 2, GIB / 2),
            (6, 2, 3 * GIB / 4),
            (8, 2, GIB)
        ],
        "(time, calls, reported frames) per pass"
    );
    assert_eq!(now, 8 * S);
    assert_eq!(r.batches.len(), 8);
    assert!(
        r.batches
            .iter()
            .all(|b| b.len() == 32 && b.iter().all(|x| x.pages == 1024))
    );
    assert_eq!(e.stats().budget_stops, 3);
    assert_eq!(a.unreported_pages(9), 0);
    a.check_invariants().unwrap();
}

#[test]
fn coalesced_policy_reports_a_free_gib_in_one_extent() {
    let mut a = zone_with_free_top(2 * GIB, GIB);
    let mut e = engine(Policy::Coalesced);
    let mut r = Recorder::default();
    e.register(Duration::ZERO);
    e.run(&mut a, &mut r, 2 * S);
    assert_eq!(
        r.batches,
        vec![vec![Extent {
            pfn: GIB,
            pages: GIB
        }]]
    );
    assert_eq!(e.next_deadline(), None);
    assert_eq!(a.unreported_pages(9), 0);
    assert_eq!(a.reported_pages(), GIB);
    a.check_invariants().unwrap();
}

/// Every other 2 MiB allocated: order-9 islands that cannot coalesce.
fn islands(total: u64) -> BuddyAllocator {
    let mut a = BuddyAllocator::with_watermarks(0, total, wm()).unwrap();
    let mut blocks = Vec::new();
    while let Ok(p) = a.alloc(9) {
        blocks.push(p);
    }
    for &p in &blocks {
        if p % 1024 == 0 {
            a.free(p, 9).unwrap();
        }
    }
    a
}

#[test]
fn fragmented_islands_per_policy() {
    for policy in Policy::ALL {
        let mut a = islands(2 * GIB);
        let mut e = engine(policy);
        let mut r = Recorder::default();
        e.register(Duration::ZERO);
        while let Some(d) = e.next_deadline() {
            e.run(&mut a, &mut r, d);
        }
        assert_eq!(a.reported_pages(), GIB, "{policy}");
        let extents: usize = r.batches.iter().map(Vec::len).sum();
        assert_eq!(extents, 512, "{policy}: one extent per island");
        match policy {
            // 512 blocks, budget ceil(512/512) = 1 → 64 blocks per pass.
            Policy::Linux => assert_eq!((r.batches.len(), e.stats().passes), (16, 8)),
            Policy::Coalesced => assert_eq!((r.batches.len(), e.stats().passes), (2, 1)),
        }
    }
}

#[test]
fn coalesced_budget_applies_while_frees_keep_coming() {
    let mut a = zone_with_free_top(2 * GIB, GIB);
    let mut e = engine(Policy::Coalesced);
    let mut r = Recorder::default();
    e.register(Duration::ZERO);
    // A free right before the pass: the guest is not idle → 32 × ceil(256/512) blocks.
    e.notify_free(Duration::from_millis(1900), 10);
    e.run(&mut a, &mut r, 2 * S);
    assert_eq!(
        r.batches,
        vec![vec![Extent {
            pfn: GIB,
            pages: 32 * 1024
        }]]
    );
    assert_eq!(e.state(), EngineState::Requested);
    // The next pass, with no free in the 2 s before it, takes the rest in one extent.
    e.run(&mut a, &mut r, 4 * S);
    assert_eq!(
        r.batches[1],
        vec![Extent {
            pfn: GIB + 32 * 1024,
            pages: GIB - 32 * 1024
        }]
    );
    assert_eq!(e.state(), EngineState::Idle);
    assert_eq!(a.unreported_pages(9), 0);
}

#[test]
fn zone_gate_skips_a_zone_near_its_low_watermark() {
    for policy in Policy::ALL {
        // 62 MiB free; the gate at order 9 is 320 + 16384 frames: skipped.
        let mut a = zone_with_free_top(GIB, 15 * 1024);
        let mut e = engine(policy);
        let mut r = Recorder::default();
        e.register(Duration::ZERO);
        e.run(&mut a, &mut r, 2 * S);
        assert!(r.batches.is_empty(), "{policy}");
        assert_eq!(e.stats().zone_gate_skips, 1);
        assert_eq!(e.state(), EngineState::Idle);
        // At order 5 the gate is 320 + 1024: the zone is reported.
        e.set_order(5).unwrap();
        e.notify_free(3 * S, 10);
        while let Some(d) = e.next_deadline() {
            e.run(&mut a, &mut r, d);
        }
        assert_eq!(a.reported_pages(), 15 * 1024 + SMALL_FREE, "{policy}");
    }
}

#[test]
fn isolation_watermark_stops_the_list_and_a_later_pass_finishes() {
    for policy in Policy::ALL {
        // 74 MiB free: the gate (2100 + 16384) passes; isolation stops once free ≤ 2048 + 1024,
        // i.e. after 16 of the 18 order-10 blocks.
        let mut a = zone_with_free_top(GIB, 18 * 1024);
        a.set_watermarks(Watermarks {
            min: 2048,
            low: 2100,
            high: 2200,
        });
        let mut e = engine(policy);
        let mut r = Recorder::default();
        e.register(Duration::ZERO);
        e.run(&mut a, &mut r, 2 * S);
        assert!(e.stats().isolation_stops >= 1, "{policy}");
        assert_eq!(
            a.reported_pages(),
            16 * 1024,
            "{policy}: free must stay above min + 1024"
        );
        assert_eq!(e.state(), EngineState::Requested);
        e.run(&mut a, &mut r, 4 * S);
        assert_eq!(a.reported_pages(), 18 * 1024, "{policy}");
        assert_eq!(e.state(), EngineState::Idle);
    }
}

#[test]
fn isolated_blocks_cannot_be_allocated_while_reported() {
    let mut a = zone_with_free_top(GIB, 128 * 1024);
    let mut e = engine(Policy::Linux);
    e.register(Duration::ZERO);
    let batch: Vec<Extent> = e.poll(&mut a, 2 * S).unwrap().to_vec();
    assert_eq!(batch.len(), 32);
    assert_eq!(a.isolated_pages(), 32 * 1024);
    // Everything still on the free lists can be allocated; nothing from the batch.
    let mut got = Vec::new();
    while let Ok(p) = a.alloc(10) {
        got.push(p);
    }
    assert_eq!(got.len(), 128 - 32);
    assert!(got.iter().all(|p| batch.iter().all(|b| b.pfn != *p)));
    e.complete(&mut a, Ok(()));
    assert_eq!(a.reported_pages(), 32 * 1024);
    assert!(e.poll(&mut a, 2 * S).is_none());
    a.check_invariants().unwrap();
}

#[test]
fn failure_returns_blocks_unreported_and_ends_the_pass() {
    for policy in Policy::ALL {
        let mut a = zone_with_free_top(2 * GIB, GIB);
        let mut e = engine(policy);
        let mut r = Recorder {
            fail: 1,
            ..Default::default()
        };
        e.register(Duration::ZERO);
        assert_eq!(
            e.run(&mut a, &mut r, 2 * S),
            1,
            "{policy}: the pass stops at the failure"
        );
        assert_eq!(a.reported_pages(), 0);
        assert_eq!(a.free_pages(), GIB + SMALL_FREE);
        assert_eq!(e.stats().batches_failed, 1);
        assert_eq!(e.state(), EngineState::Idle, "no automatic retry");
        assert_eq!(e.next_deadline(), None);
        // The next eligible free requests a pass and the blocks are reported then.
        e.notify_free(10 * S, 10);
        while let Some(d) = e.next_deadline() {
            e.run(&mut a, &mut r, d);
        }
        assert_eq!(a.reported_pages(), GIB, "{policy}");
        a.check_invariants().unwrap();
    }
}

#[test]
fn unchanged_reported_blocks_are_never_reported_again() {
    for policy in Policy::ALL {
        let mut a = zone_with_free_top(2 * GIB, GIB);
        let mut e = engine(policy);
        let mut r = Recorder::default();
        e.register(Duration::ZERO);
        while let Some(d) = e.next_deadline() {
            e.run(&mut a, &mut r, d);
        }
        let before = r.batches.len();
        // Allocate and free one order-10 block: only that block is reported again.
        let p = a.alloc(10).unwrap();
        let f = a.free(p, 10).unwrap();
        e.notify_free(100 * S, f.order);
        while let Some(d) = e.next_deadline() {
            e.run(&mut a, &mut r, d);
        }
        let again: Vec<Extent> = r.batches[before..].concat();
        assert_eq!(again, vec![Extent::block(f.pfn, 10)], "{policy}");
        // A pass with nothing new reports nothing.
        e.notify_free(200 * S, 10);
        e.run(&mut a, &mut r, 202 * S);
        assert_eq!(r.batches.len(), before + 1, "{policy}");
    }
}

#[test]
fn only_blocks_at_or_above_the_order_are_reported() {
    for policy in Policy::ALL {
        let mut a = BuddyAllocator::with_watermarks(0, 64 * 1024, wm()).unwrap();
        // Allocate all in order-4 blocks, free a pattern that leaves blocks of orders 4..=6.
        let mut blocks = Vec::new();
        while let Ok(p) = a.alloc(4) {
            blocks.push(p);
        }
        for &p in &blocks {
            if p % 128 < 64 || p % 512 == 64 {
                a.free(p, 4).unwrap();
            }
        }
        let cfg = EngineConfig::new(policy).with_order(5).unwrap();
        let mut e = ReportingEngine::new(cfg);
        let mut r = Recorder::default();
        e.register(Duration::ZERO);
        while let Some(d) = e.next_deadline() {
            e.run(&mut a, &mut r, d);
        }
        assert_eq!(a.unreported_pages(5), 0, "{policy}");
        assert_eq!(
            a.free_list(4).filter(|x| x.1).count(),
            0,
            "{policy}: order 4 not reported"
        );
        assert!(a.free_list(4).count() > 0);
        for b in r.batches.concat() {
            assert!(b.pages >= 32 && b.pfn % 32 == 0, "{policy}: {b}");
        }
    }
}

#[test]
fn unregister_returns_the_outstanding_batch() {
    let mut a = zone_with_free_top(GIB, 128 * 1024);
    let mut e = engine(Policy::Coalesced);
    e.register(Duration::ZERO);
    assert!(e.poll(&mut a, 2 * S).is_some());
    assert_eq!(a.free_pages(), SMALL_FREE);
    e.unregister(&mut a);
    assert_eq!(a.free_pages(), 128 * 1024 + SMALL_FREE);
    assert_eq!(a.reported_pages(), 0);
    assert_eq!(e.next_deadline(), None);
    assert!(!e.is_registered());
    e.notify_free(3 * S, 10);
    assert_eq!(e.next_deadline(), None);
}

#[test]
fn order_floor_raises_the_order() {
    let mut e = engine(Policy::Linux);
    e.set_order(5).unwrap();
    assert_eq!(e.order(), 5);
    e.set_order_floor(9);
    assert_eq!(e.order(), 9);
    e.set_order(10).unwrap();
    assert_eq!(e.order(), 10);
}

#[test]
fn coalesced_extents_respect_the_cap() {
    let mut a = zone_with_free_top(2 * GIB, GIB);
    let cfg = EngineConfig::new(Policy::Coalesced)
        .with_max_extent_pages(GIB / 4)
        .unwrap();
    let mut e = ReportingEngine::new(cfg);
    let mut r = Recorder::default();
    e.register(Duration::ZERO);
    e.run(&mut a, &mut r, 2 * S);
    assert_eq!(r.batches.len(), 1);
    assert_eq!(r.batches[0].len(), 4);
    assert!(r.batches[0].iter().all(|x| x.pages == GIB / 4));
}

#[test]
fn after_a_gate_skip_any_free_requests_a_pass() {
    let mut a = zone_with_free_top(GIB, 20 * 1024);
    let gate = wm().low + (32 << 9);
    let x: Vec<u64> = (0..8192).map(|_| a.alloc(0).unwrap()).collect();
    assert!(a.free_pages() <= gate);
    let mut e = engine(Policy::Linux);
    let mut r = Recorder::default();
    e.register(Duration::ZERO);
    e.run(&mut a, &mut r, 2 * S);
    assert_eq!(e.stats().zone_gate_skips, 1);
    assert_eq!(e.state(), EngineState::Idle);
    // Order-0 frees (each buddy still allocated: no merge, upstream would never notify) lift
    // the zone above the gate.
    let set: alloc::collections::BTreeSet<u64> = x.iter().copied().collect();
    let singles: Vec<u64> = x
        .iter()
        .copied()
        .filter(|p| p % 2 == 0 && set.contains(&(p + 1)))
        .collect();
    let (now_free, later) = singles.split_at(singles.len() - 1);
    for &p in now_free {
        assert_eq!(a.free(p, 0).unwrap().order, 0);
        e.notify_free(3 * S, 0);
    }
    assert!(a.free_pages() > gate);
    assert_eq!(
        e.next_deadline(),
        Some(5 * S),
        "an order-0 free requests after a gate skip"
    );
    e.run(&mut a, &mut r, 5 * S);
    assert_eq!(a.unreported_pages(9), 0);
    assert!(a.reported_pages() >= 20 * 1024 - 8192);
    assert_eq!(e.next_deadline(), None);
    // Once the gate passed again, small frees are filtered as upstream does.
    a.free(later[0], 0).unwrap();
    e.notify_free(6 * S, 0);
    assert_eq!(e.next_deadline(), None);
}

#[test]
fn split_remainders_are_reported_when_notified() {
    for policy in Policy::ALL {
        let mut a = zone_with_free_top(GIB, 128 * 1024);
        let mut e = engine(policy);
        let mut r = Recorder::default();
        e.register(Duration::ZERO);
        while let Some(d) = e.next_deadline() {
            e.run(&mut a, &mut r, d);
        }
        assert_eq!(a.unreported_pages(9), 0);
        // Allocating 2 MiB splits a reported order-10 block: the order-9 remainder is
        // unreported, and nothing was freed.
        let got = a.allocate(9).unwrap();
        assert_eq!(got.remainder_order, Some(9));
        assert_eq!(a.unreported_pages(9), 512, "{policy}");
        e.notify_free(100 * S, 9);
        while let Some(d) = e.next_deadline() {
            e.run(&mut a, &mut r, d);
        }
        assert_eq!(a.unreported_pages(9), 0, "{policy}");
    }
}

#[test]
fn a_reported_block_that_merges_on_put_back_requests_a_pass() {
    let mut a = zone_with_free_top(GIB, 64 * 1024);
    // Two order-9 halves of one order-10 block, both allocated; free the lower one.
    let lo = a.alloc(9).unwrap();
    let hi = a.alloc(9).unwrap();
    assert_eq!(hi, lo + 512);
    a.free(lo, 9).unwrap();
    let mut e = engine(Policy::Linux);
    e.register(Duration::ZERO);
    let batch = e.poll(&mut a, 2 * S).unwrap().to_vec();
    assert!(batch.contains(&Extent::block(lo, 9)));
    // The buddy is freed while `lo` is isolated, and (say) nobody notifies.
    a.free(hi, 9).unwrap();
    e.complete(&mut a, Ok(()));
    while e.poll(&mut a, 2 * S).is_some() {
        e.complete(&mut a, Ok(()));
    }
    assert_eq!(e.stats().merge_requests, 1);
    assert_eq!(e.next_deadline(), Some(4 * S));
    let mut r = Recorder::default();
    while let Some(d) = e.next_deadline() {
        e.run(&mut a, &mut r, d);
    }
    assert_eq!(
        a.free_block_at(0, lo),
        Some(crate::FreeBlock {
            order: 10,
            reported: true
        })
    );
    assert_eq!(a.unreported_pages(9), 0);
}

/// The calibration machine's zones (QEMU `pc`, 4 GiB: DMA32 3056 MiB, Normal 1 GiB) with
/// 746 / 219 free order-10 blocks: one `linux` pass reports (ceil(nr_free / 512) + 1) × 32
/// blocks per zone — 96 in DMA32 and 64 in Normal — and requests the next pass.
#[test]
fn linux_budget_is_per_zone_and_order() {
    use crate::zone::{ZoneKind, ZonedAllocator, zone_spans};
    let mib = 256;
    let spans = zone_spans(&[(0, 3072 * mib), (4096 * mib, 1024 * mib)]).unwrap();
    let mut z = ZonedAllocator::new(&spans).unwrap();
    // Take everything, then free 746 order-10 blocks in DMA32 and 219 in Normal.
    let mut taken: [Vec<u64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    while let Ok(a) = z.allocate(10) {
        taken[z.zone_of(a.pfn).unwrap()].push(a.pfn);
    }
    for (zone, n) in [(1usize, 746usize), (2, 219)] {
        for &p in taken[zone].iter().take(n) {
            z.free(p, 10).unwrap();
        }
        assert_eq!(z.nr_free(zone, 10), n as u64);
    }
    assert_eq!(z.kind(2), ZoneKind::Normal);
    let mut e = engine(Policy::Linux);
    let mut r = Recorder::default();
    e.register(Duration::ZERO);
    e.run(&mut z, &mut r, 2 * S);
    let in_zone = |zone: usize| {
        r.batches
            .iter()
            .flatten()
            .filter(|x| z.zone_of(x.pfn) == Some(zone))
            .count()
    };
    assert_eq!((in_zone(1), in_zone(2)), (96, 64));
    assert!(r.batches.iter().all(|b| b.len() == 32), "full batches only");
    assert_eq!(e.stats().budget_stops, 2);
    assert_eq!(e.state(), EngineState::Requested);
    // Passes 2 s apart until both zones are done: DMA32 takes 8 passes (746 / 96), Normal 4.
    let mut passes = 1;
    while let Some(d) = e.next_deadline() {
        e.run(&mut z, &mut r, d);
        passes += 1;
    }
    assert_eq!(passes, 8);
    assert_eq!(z.unreported_pages(5), 0);
}

/// The coalesced policy works zone by zone: a range never spans a zone boundary, not even the
/// DMA/DMA32 one at 16 MiB where the RAM is contiguous (batches, isolation and put-back are
/// per zone, as in Linux).
#[test]
fn coalesced_ranges_stay_inside_their_zone() {
    use crate::zone::{DMA_END_PFN, ZonedAllocator, zone_spans};
    let spans = zone_spans(&[(0, 64 * 256), (1 << 20, 32 * 256)]).unwrap();
    let mut z = ZonedAllocator::new(&spans).unwrap();
    // Order 5, so that the small DMA zone passes its gate (low + 32 blocks).
    let cfg = EngineConfig::new(Policy::Coalesced).with_order(5).unwrap();
    let mut e = ReportingEngine::new(cfg);
    let mut r = Recorder::default();
    e.register(Duration::ZERO);
    while let Some(d) = e.next_deadline() {
        e.run(&mut z, &mut r, d);
    }
    let extents: Vec<Extent> = r.batches.iter().flatten().copied().collect();
    for x in &extents {
        assert_eq!(z.zone_of(x.pfn), z.zone_of(x.end() - 1), "{x} spans zones");
    }
    // Each zone in one range in the first pass (but its last block, which the isolation
    // watermark holds back until the batch is in): DMA from 0, DMA32 from 16 MiB, Normal from
    // 4 GiB; everything in the end.
    assert_eq!(extents[0].pfn, 0);
    assert_eq!(extents[1].pfn, DMA_END_PFN);
    assert_eq!(extents[2].pfn, 4 << 18);
    assert_eq!(extents.iter().map(|x| x.pages).sum::<u64>(), 96 * 256);
    assert_eq!(z.unreported_pages(5), 0);
}
