//! The Hyper-V cold-discard reporter against `hvcall::sim::SimHypervisor`: enablement,
//! encoding, rep restarts and Linux's failure policy (dm-protocol.md §7, fact sheet B.2/D).
#![cfg(feature = "sim")]

use std::time::Duration;

use hv_reporting::harness::GuestMemory;
use hv_reporting::hyperv::{DisableReason, HvReporterConfig, MAX_FAILURES, ReporterState};
use hv_reporting::{
    EngineConfig, EngineState, Extent, HvReporter, Policy, ReportError, ReportingEngine,
};
use hvcall::HvStatus;
use hvcall::sim::{FailPlan, SimHypervisor};

const S: Duration = Duration::from_secs(1);
const MIB: u64 = 256;

fn probe(sim: &mut SimHypervisor) -> HvReporter {
    let cpu = sim.cpuid_view();
    HvReporter::probe(&mut *sim, &cpu, HvReporterConfig::default())
}

/// A 256 MiB guest: the upper half free (order-10 blocks); the lower half allocated frame by
/// frame (kept, every 7th written) with free holes of order 0, 5 and 8. Engine registered.
fn guest(policy: Policy, order: u8) -> (GuestMemory, ReportingEngine, Vec<(u64, u8)>) {
    let mut g = GuestMemory::new(256 * MIB).unwrap();
    let mut kept = Vec::new();
    let mut all = Vec::new();
    while let Ok(a) = g.alloc(0) {
        all.push(a.pfn);
    }
    for &p in &all {
        let hole = p % 64 == 1
            || (3072..3072 + 32).contains(&(p % 4096))
            || (6144..6144 + 256).contains(&(p % 8192));
        let keep = p < 128 * MIB && !hole;
        if keep {
            kept.push((p, 0));
        } else {
            g.free(p, 0).unwrap();
        }
    }
    for &(p, _) in kept.iter().step_by(7) {
        assert!(g.touch(p));
    }
    let cfg = EngineConfig::new(policy).with_order(order).unwrap();
    let mut e = ReportingEngine::new(cfg);
    e.register(Duration::ZERO);
    (g, e, kept)
}

/// An eligible free: allocate and free an order-10 block, and notify.
fn free_big(g: &mut GuestMemory, e: &mut ReportingEngine, now: Duration) {
    let p = g.alloc(10).unwrap().pfn;
    let f = g.free(p, 10).unwrap();
    e.notify_free(now, f.order);
}

#[test]
fn capability_absent_means_no_heat_hint_ever() {
    for policy in Policy::ALL {
        let (mut g, mut e, _) = guest(policy, 9);
        g.hypervisor_mut().set_cold_discard_capability(false);
        let mut r = probe(g.hypervisor_mut());
        assert_eq!(
            r.state(),
            ReporterState::Disabled(DisableReason::NoColdDiscardCapability)
        );
        assert_eq!(g.hypervisor().stats().query_capabilities_calls, 1);
        g.run_until_idle(&mut e, &mut r, Duration::ZERO, 50);
        assert_eq!(g.hypervisor().stats().heat_hint_calls, 0, "{policy}");
        assert_eq!(g.hypervisor().backed_frames(), 256 * MIB);
        assert_eq!(g.allocator().reported_pages(), 0);
        assert_eq!(r.stats().hypercalls, 0);
        assert_eq!(
            r.report(g.hypervisor_mut(), [Extent::block(0, 9)]),
            Err(ReportError::Disabled)
        );
        assert_eq!(g.hypervisor().stats().heat_hint_calls, 0);
        assert!(g.violations().is_empty());
    }
}

#[test]
fn privilege_absent_means_no_hypercall_at_all() {
    for policy in Policy::ALL {
        let (mut g, mut e, _) = guest(policy, 9);
        g.hypervisor_mut().set_extended_hypercalls(false);
        let mut r = probe(g.hypervisor_mut());
        assert_eq!(
            r.state(),
            ReporterState::Disabled(DisableReason::NoExtendedHypercalls)
        );
        g.run_until_idle(&mut e, &mut r, Duration::ZERO, 50);
        let st = g.hypervisor().stats();
        assert_eq!(
            (st.calls, st.heat_hint_calls, st.query_capabilities_calls),
            (0, 0, 0)
        );
        assert_eq!(g.allocator().reported_pages(), 0);
    }
}

#[test]
fn failed_capability_query_disables() {
    let mut sim = SimHypervisor::new(1024);
    sim.set_fail_plan(Some(FailPlan::once(HvStatus::ACCESS_DENIED)));
    let r = probe(&mut sim);
    assert_eq!(
        r.state(),
        ReporterState::Disabled(DisableReason::CapabilityQueryFailed(
            HvStatus::ACCESS_DENIED
        ))
    );
}

/// Golden encodings of fact sheet D.4/D.5 (worked examples) in the input page.
#[test]
fn linux_encoding_in_the_input_page() {
    let mut sim = SimHypervisor::new(0x80000);
    let mut r = probe(&mut sim);
    assert!(r.is_enabled());
    // 2 MiB block at GPA 0x4020_0000, 4 MiB at 0x4040_0000, 64 KiB at 0x1234_0000.
    let blocks = [(0x40200, 9), (0x40400, 10), (0x12340, 4)];
    r.report_blocks(&mut sim, &blocks).unwrap();
    let page = hvcall::HypercallBackend::input_page(&mut sim).clone();
    assert_eq!(
        page.qword(0),
        Some(0x0000_0000_0000_0002),
        "COLD_DISCARD header"
    );
    assert_eq!(page.qword(1), Some(0x4020_0800));
    assert_eq!(page.qword(2), Some(0x4040_0801));
    assert_eq!(page.qword(3), Some(0x1234_000F));
    let st = r.stats();
    assert_eq!((st.batches, st.ranges, st.hypercalls), (1, 3, 1));
    assert_eq!(st.bytes_reported, (512 + 1024 + 16) * 4096);
    assert_eq!(sim.backed_frames(), 0x80000 - 512 - 1024 - 16);
    // Adjacent blocks in one batch stay separate ranges, as in Linux.
    r.report_blocks(&mut sim, &[(0, 9), (512, 9)]).unwrap();
    assert_eq!(r.stats().ranges, 5);
}

#[test]
fn coalesced_extents_use_the_fewest_ranges() {
    let mut sim = SimHypervisor::new(1 << 20);
    let mut r = probe(&mut sim);
    // 1 GiB aligned, 2 GiB long: one 2 MiB-unit range (1024 units ≤ 2048).
    r.report(
        &mut sim,
        [Extent {
            pfn: 1 << 18,
            pages: 1 << 19,
        }],
    )
    .unwrap();
    assert_eq!(r.stats().ranges, 1);
    // With 1 GiB units allowed: same extent, still one range.
    let mut r1 = HvReporter::with_state(
        HvReporterConfig { allow_1gib: true },
        ReporterState::Enabled,
    );
    r1.report(
        &mut sim,
        [Extent {
            pfn: 0,
            pages: 1 << 20,
        }],
    )
    .unwrap();
    assert_eq!(r1.stats().ranges, 1);
    // 600 separate 2 MiB islands: two hypercalls (511 + 89 ranges).
    let islands: Vec<Extent> = (0..600).map(|i| Extent::block(i * 1024, 9)).collect();
    r.report(&mut sim, islands).unwrap();
    assert_eq!(r.stats().hypercalls, 3);
    assert_eq!(r.stats().ranges, 601);
}

#[test]
fn partial_reps_are_restarted() {
    let mut sim = SimHypervisor::new(1 << 18);
    let mut r = probe(&mut sim);
    sim.set_reps_per_call(Some(5));
    let batch: Vec<(u64, u8)> = (0..32).map(|i| (i * 2048, 10)).collect();
    r.report_blocks(&mut sim, &batch).unwrap();
    assert_eq!(r.stats().hypercalls, 7, "ceil(32 / 5) calls for one batch");
    assert_eq!(r.stats().ranges, 32);
    assert_eq!(sim.backed_frames(), (1 << 18) - 32 * 1024);
    assert_eq!(sim.stats().partial_calls, 6);
    // Random partial completion, end to end through the engine.
    for policy in Policy::ALL {
        let (mut g, mut e, _) = guest(policy, 9);
        g.hypervisor_mut().set_random_partial_completion(Some(7));
        let mut r = probe(g.hypervisor_mut());
        g.run_until_idle(&mut e, &mut r, Duration::ZERO, 100);
        if policy == Policy::Linux {
            // (Coalesced batches here are one range each: nothing to split.)
            assert!(
                r.stats().hypercalls > r.stats().batches,
                "restarts happened"
            );
        }
        assert_eq!(r.stats().batches_failed, 0);
        assert_eq!(g.allocator().unreported_pages(9), 0, "{policy}");
        assert!(g.violations().is_empty());
    }
}

#[test]
fn no_progress_fails_the_batch() {
    let mut sim = SimHypervisor::new(1 << 18);
    let mut r = probe(&mut sim);
    sim.set_no_progress(true);
    assert_eq!(
        r.report_blocks(&mut sim, &[(0, 9), (1024, 9)]),
        Err(ReportError::NoProgress)
    );
    assert_eq!(r.stats().failures.no_status, 1);
    assert_eq!(
        r.failure_count(),
        0,
        "a failure with the counter at 0 does not count"
    );
}

/// INVALID_PARAMETER: the host rejects sub-2 MiB ranges → order 9, the batch comes back
/// unreported and its ≥ 2 MiB blocks are reported by a later pass.
#[test]
fn invalid_parameter_raises_the_order_to_9_and_the_batch_is_retried_later() {
    for policy in Policy::ALL {
        let (mut g, mut e, _) = guest(policy, 5);
        g.hypervisor_mut().set_reject_small_ranges(true);
        let mut r = probe(g.hypervisor_mut());
        assert_eq!(e.order(), 5);
        g.run_reporting(&mut e, &mut r, 2 * S);
        assert_eq!(r.order_floor(), 9, "{policy}");
        assert_eq!(e.order(), 9);
        assert_eq!(r.failure_count(), 1);
        assert_eq!(r.stats().failures.get(HvStatus::INVALID_PARAMETER), 1);
        assert!(r.is_enabled());
        assert_eq!(e.stats().batches_failed, 1);
        if policy == Policy::Linux {
            assert_eq!(e.state(), EngineState::Idle, "no retry without a request");
        }
        let unreported_9 = g.allocator().unreported_pages(9);
        assert!(unreported_9 > 0);
        // The failed batch holds ≥ 2 MiB blocks too; they are back, unreported. A later free
        // requests a pass, which reports them (≥ order 9 only, 2 MiB units only).
        free_big(&mut g, &mut e, 10 * S);
        g.run_until_idle(&mut e, &mut r, 10 * S, 100);
        assert_eq!(g.allocator().unreported_pages(9), 0, "{policy}");
        assert!(g.allocator().reported_pages() >= unreported_9);
        for o in 0..9 {
            assert!(
                g.allocator().free_list(o).all(|(_, rep)| !rep),
                "{policy}: order {o}"
            );
        }
        assert_eq!(r.failure_count(), 1);
        assert!(g.violations().is_empty());
    }
}

/// hv_hypercall_multi_failure: counts only once non-zero; INVALID_PARAMETER adds one more;
/// at 2 the owner (not the callback) disables reporting and resets the counter.
#[test]
fn two_counted_failures_disable_reporting() {
    for policy in Policy::ALL {
        let (mut g, mut e, _) = guest(policy, 9);
        let mut r = probe(g.hypervisor_mut());
        let mut now = 2 * S;
        // 1. A failure while the counter is 0 does not count.
        g.hypervisor_mut()
            .set_fail_plan(Some(FailPlan::once(HvStatus::INSUFFICIENT_MEMORY)));
        g.run_reporting(&mut e, &mut r, now);
        assert_eq!(r.failure_count(), 0);
        assert_eq!(r.stats().failures.get(HvStatus::INSUFFICIENT_MEMORY), 1);
        // 2. INVALID_PARAMETER: counter 1, order 9.
        free_big(&mut g, &mut e, now);
        now += 3 * S;
        g.hypervisor_mut()
            .set_fail_plan(Some(FailPlan::once(HvStatus::INVALID_PARAMETER)));
        g.run_reporting(&mut e, &mut r, now);
        assert_eq!(r.failure_count(), 1);
        assert!(!r.disable_requested());
        // 3. Any further failure: counter 2 → disabled by the owner's poll, engine unregistered.
        free_big(&mut g, &mut e, now);
        now += 3 * S;
        g.hypervisor_mut()
            .set_fail_plan(Some(FailPlan::once(HvStatus::OPERATION_FAILED)));
        g.run_reporting(&mut e, &mut r, now);
        assert_eq!(
            r.state(),
            ReporterState::Disabled(DisableReason::TooManyFailures),
            "{policy}"
        );
        assert_eq!(r.failure_count(), 0, "reset when disabling");
        assert!(!e.is_registered());
        assert_eq!(r.stats().batches_failed, 3);
        assert_eq!(r.stats().failures.total(), 3);
        // Nothing is reported any more, nothing is lost.
        let calls = g.hypervisor().stats().heat_hint_calls;
        free_big(&mut g, &mut e, now);
        g.run_until_idle(&mut e, &mut r, now, 20);
        assert_eq!(g.hypervisor().stats().heat_hint_calls, calls);
        assert_eq!(
            g.allocator().reported_pages(),
            0,
            "{policy}: failed batches stay unreported"
        );
        assert_eq!(g.verify(), 0);
        assert!(g.violations().is_empty());
    }
}

#[test]
fn a_second_invalid_parameter_adds_two() {
    let mut sim = SimHypervisor::new(1 << 18);
    let mut r = probe(&mut sim);
    sim.set_fail_plan(Some(FailPlan::always(HvStatus::INVALID_PARAMETER)));
    assert_eq!(
        r.report_blocks(&mut sim, &[(0, 9)]),
        Err(ReportError::Hypercall(5))
    );
    assert_eq!(r.failure_count(), 1);
    assert_eq!(
        r.report_blocks(&mut sim, &[(0, 9)]),
        Err(ReportError::Hypercall(5))
    );
    assert_eq!(r.failure_count(), 3);
    assert!(r.failure_count() >= MAX_FAILURES && r.disable_requested());
    // The callback keeps working until the owner applies the disable.
    assert!(r.is_enabled());
    assert_eq!(r.poll_disable(), Some(DisableReason::TooManyFailures));
    assert_eq!(r.poll_disable(), None);
    assert_eq!(
        r.report_blocks(&mut sim, &[(0, 9)]),
        Err(ReportError::Disabled)
    );
}

#[test]
fn bad_batches_are_typed_errors() {
    let mut sim = SimHypervisor::new(1 << 18);
    let mut r = probe(&mut sim);
    assert_eq!(
        r.report(&mut sim, [Extent { pfn: 0, pages: 0 }]),
        Err(ReportError::BadBatch)
    );
    assert_eq!(
        r.report_blocks(&mut sim, &[(0, 60)]),
        Err(ReportError::BadBatch)
    );
    assert_eq!(sim.stats().heat_hint_calls, 0);
    // An empty batch issues nothing and succeeds.
    assert_eq!(r.report(&mut sim, []), Ok(()));
    assert_eq!(sim.stats().heat_hint_calls, 0);
}
