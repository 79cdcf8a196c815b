//! Every input check of the simulated hypervisor (see the table in `hvcall::sim`), each with the
//! status the fact sheet (or the documented sim choice) prescribes, plus frame tracking and
//! fault injection.

use hvcall::sim::{DiscardRecord, FailPlan, SimHypervisor};
use hvcall::{
    Control, CpuId, ExtCapabilities, FreeRun, GpaPageRange, HeatType, HvError, HvStatus,
    HypercallBackend, HypercallCode, HypercallOutput, Hypercalls, MemoryHintHeader, RangeOptions,
    extended_hypercalls_allowed, heat_hint_range_offset,
};

const FRAMES: u64 = 1 << 19; // 2 GiB

fn heat_hint(count: u16) -> Control {
    Control::new(HypercallCode::EXT_MEMORY_HEAT_HINT).with_rep_count(count)
}

/// Fill the input page with `header` and `ranges`, issue `control`, return the raw result.
fn raw(sim: &mut SimHypervisor, control: Control, header: u64, ranges: &[u64]) -> HypercallOutput {
    let page = sim.input_page();
    page.clear();
    page.write_at(0, &header).unwrap();
    for (i, r) in ranges.iter().enumerate() {
        page.write_at(heat_hint_range_offset(i), r).unwrap();
    }
    sim.call(control)
}

fn ok_range() -> u64 {
    GpaPageRange::new_4k(100, 4).unwrap().0
}

#[track_caller]
fn expect(out: HypercallOutput, status: HvStatus, reps: u16) {
    assert_eq!(
        (out.status(), out.reps_completed()),
        (status, reps),
        "{out:?}"
    );
}

#[test]
fn c1_rsvdz_bits_in_the_control_word() {
    for bits in [1u64 << 27, 1 << 30, 1 << 44, 1 << 47, 1 << 60, 1 << 63] {
        let mut sim = SimHypervisor::new(FRAMES);
        let out = raw(&mut sim, Control(heat_hint(1).0 | bits), 2, &[ok_range()]);
        expect(out, HvStatus::INVALID_HYPERCALL_INPUT, 0);
        assert_eq!(sim.backed_frames(), FRAMES, "nothing discarded");
    }
}

#[test]
fn fast_and_nested_bits_are_refused() {
    let mut sim = SimHypervisor::new(FRAMES);
    expect(
        raw(&mut sim, heat_hint(1).with_fast(true), 2, &[ok_range()]),
        HvStatus::INVALID_HYPERCALL_INPUT,
        0,
    );
    expect(
        raw(&mut sim, heat_hint(1).with_nested(true), 2, &[ok_range()]),
        HvStatus::INVALID_HYPERCALL_INPUT,
        0,
    );
}

#[test]
fn c1_variable_header_size_must_be_zero() {
    let mut sim = SimHypervisor::new(FRAMES);
    let out = raw(
        &mut sim,
        heat_hint(1).with_variable_header_size(1),
        2,
        &[ok_range()],
    );
    expect(out, HvStatus::INVALID_HYPERCALL_INPUT, 0);
    let q = Control::new(HypercallCode::EXT_QUERY_CAPABILITIES).with_variable_header_size(1);
    expect(sim.call(q), HvStatus::INVALID_HYPERCALL_INPUT, 0);
}

#[test]
fn c6_rep_count_zero_on_a_rep_call() {
    let mut sim = SimHypervisor::new(FRAMES);
    expect(
        raw(&mut sim, heat_hint(0), 2, &[ok_range()]),
        HvStatus::INVALID_HYPERCALL_INPUT,
        0,
    );
}

#[test]
fn c6_rep_count_or_start_on_a_simple_call() {
    let mut sim = SimHypervisor::new(FRAMES);
    let q = Control::new(HypercallCode::EXT_QUERY_CAPABILITIES);
    expect(
        sim.call(q.with_rep_count(1)),
        HvStatus::INVALID_HYPERCALL_INPUT,
        0,
    );
    expect(
        sim.call(q.with_rep_start(1)),
        HvStatus::INVALID_HYPERCALL_INPUT,
        1,
    );
    expect(sim.call(q), HvStatus::SUCCESS, 0);
}

#[test]
fn c6_rep_start_at_or_past_rep_count() {
    let mut sim = SimHypervisor::new(FRAMES);
    expect(
        raw(
            &mut sim,
            heat_hint(2).with_rep_start(2),
            2,
            &[ok_range(); 2],
        ),
        HvStatus::INVALID_HYPERCALL_INPUT,
        2,
    );
    expect(
        raw(
            &mut sim,
            heat_hint(2).with_rep_start(3),
            2,
            &[ok_range(); 2],
        ),
        HvStatus::INVALID_HYPERCALL_INPUT,
        3,
    );
    // A valid restart processes only the remaining elements.
    let a = GpaPageRange::new_4k(0, 1).unwrap().0;
    let b = GpaPageRange::new_4k(10, 1).unwrap().0;
    expect(
        raw(&mut sim, heat_hint(2).with_rep_start(1), 2, &[a, b]),
        HvStatus::SUCCESS,
        2,
    );
    assert!(sim.is_backed(0));
    assert!(!sim.is_backed(10));
}

#[test]
fn d4_rep_count_over_511_runs_past_the_page() {
    let mut sim = SimHypervisor::new(FRAMES);
    let out = sim.call(heat_hint(512));
    expect(out, HvStatus::INVALID_ALIGNMENT, 0);
    let out = sim.call(heat_hint(4095));
    expect(out, HvStatus::INVALID_ALIGNMENT, 0);
}

#[test]
fn d4_header_reserved_bits_and_unknown_heat_type() {
    let mut sim = SimHypervisor::new(FRAMES);
    expect(
        raw(&mut sim, heat_hint(1), 2 | 1 << 2, &[ok_range()]),
        HvStatus::INVALID_PARAMETER,
        0,
    );
    expect(
        raw(&mut sim, heat_hint(1), 2 | 1 << 63, &[ok_range()]),
        HvStatus::INVALID_PARAMETER,
        0,
    );
    expect(
        raw(&mut sim, heat_hint(1), 3, &[ok_range()]),
        HvStatus::INVALID_PARAMETER,
        0,
    );
    assert_eq!(sim.stats().ranges, 0);
}

#[test]
fn d5_range_reserved1_bits_stop_at_that_element() {
    let mut sim = SimHypervisor::new(FRAMES);
    let good = GpaPageRange::new_2m(0, 1).unwrap();
    let bad = GpaPageRange::new_2m(1024, 1).unwrap().with_reserved1(0x80);
    let out = raw(&mut sim, heat_hint(3), 2, &[good.0, bad.0, good.0]);
    expect(out, HvStatus::INVALID_PARAMETER, 1);
    // Element 0 took effect (C.6: reps completed = elements done before the failing one).
    assert!(!sim.is_backed(0));
    assert!(sim.is_backed(1024));
    assert_eq!(
        sim.discards(),
        [DiscardRecord {
            first_pfn: 0,
            frame_count: 512
        }]
    );
}

#[test]
fn d5_misaligned_1gib_base() {
    let mut sim = SimHypervisor::new(FRAMES);
    let bad = GpaPageRange::new_1g(0, 1).unwrap().with_base_large_pfn(1);
    expect(
        raw(&mut sim, heat_hint(1), 2, &[bad.0]),
        HvStatus::INVALID_PARAMETER,
        0,
    );
    let good = GpaPageRange::new_1g(1 << 18, 1).unwrap();
    expect(
        raw(&mut sim, heat_hint(1), 2, &[good.0]),
        HvStatus::SUCCESS,
        1,
    );
    assert_eq!(sim.backed_frames(), FRAMES - (1 << 18));
}

#[test]
fn ranges_outside_guest_memory() {
    let mut sim = SimHypervisor::new(FRAMES);
    let past = GpaPageRange::new_4k(FRAMES - 1, 2).unwrap();
    expect(
        raw(&mut sim, heat_hint(1), 2, &[past.0]),
        HvStatus::INVALID_PARAMETER,
        0,
    );
    let last = GpaPageRange::new_4k(FRAMES - 1, 1).unwrap();
    expect(
        raw(&mut sim, heat_hint(1), 2, &[last.0]),
        HvStatus::SUCCESS,
        1,
    );
}

#[test]
fn unknown_codes() {
    let mut sim = SimHypervisor::new(FRAMES);
    for code in [0x0001u16, 0x005C, 0x8000, 0x8002, 0x8007, 0xFFFF] {
        expect(
            sim.call(Control::new(HypercallCode(code))),
            HvStatus::INVALID_HYPERCALL_CODE,
            0,
        );
    }
}

#[test]
fn extended_hypercalls_refused_without_the_privilege() {
    let mut sim = SimHypervisor::new(FRAMES);
    sim.set_extended_hypercalls(false);
    assert!(!extended_hypercalls_allowed(&sim));
    assert_eq!(sim.cpuid(0x4000_0003).ebx & 0x0010_0000, 0);
    let cpu = sim.cpuid_view();
    // Linux's order: check the privilege, no hypercall at all.
    assert_eq!(
        Hypercalls::new(&mut sim).cold_discard_supported(&cpu),
        Ok(false)
    );
    assert_eq!(sim.stats().calls, 0);
    // Issued anyway: refused.
    let err = Hypercalls::new(&mut sim).query_capabilities().unwrap_err();
    assert_eq!(err.status(), Some(HvError::ACCESS_DENIED));
    expect(
        raw(&mut sim, heat_hint(1), 2, &[ok_range()]),
        HvStatus::ACCESS_DENIED,
        0,
    );
    sim.set_extended_hypercalls(true);
    assert!(extended_hypercalls_allowed(&sim));
    assert_eq!(sim.cpuid(0x4000_0003).ebx & 0x0010_0000, 0x0010_0000);
}

#[test]
fn d3_capabilities_with_and_without_cold_discard() {
    let mut sim = SimHypervisor::new(FRAMES);
    let cpu = sim.cpuid_view();
    assert_eq!(
        Hypercalls::new(&mut sim).query_capabilities(),
        Ok(ExtCapabilities::COLD_DISCARD_HINT)
    );
    assert_eq!(sim.output_page().qword(0), Some(0x100));
    assert_eq!(
        Hypercalls::new(&mut sim).cold_discard_supported(&cpu),
        Ok(true)
    );

    sim.set_cold_discard_capability(false);
    assert_eq!(
        Hypercalls::new(&mut sim).cold_discard_supported(&cpu),
        Ok(false)
    );
    // Cold discard refused, other heat types still accepted (and they do not unback).
    expect(
        raw(&mut sim, heat_hint(1), 2, &[ok_range()]),
        HvStatus::INVALID_PARAMETER,
        0,
    );
    expect(
        raw(&mut sim, heat_hint(1), 0, &[ok_range()]),
        HvStatus::SUCCESS,
        1,
    );
    expect(
        raw(&mut sim, heat_hint(1), 1, &[ok_range()]),
        HvStatus::SUCCESS,
        1,
    );
    assert_eq!(sim.backed_frames(), FRAMES);
    assert_eq!(sim.stats().frames_hinted, 8);

    sim.set_capabilities(ExtCapabilities::from_bits_retain(0xF0F0_0000_0000_0101));
    assert_eq!(
        Hypercalls::new(&mut sim)
            .query_capabilities()
            .unwrap()
            .bits(),
        0xF0F0_0000_0000_0101
    );
}

#[test]
fn old_host_rejects_4k_form_ranges() {
    let mut sim = SimHypervisor::new(FRAMES);
    sim.set_reject_small_ranges(true);
    let small = GpaPageRange::new_4k(0x12340, 16).unwrap();
    let large = GpaPageRange::new_2m(0x40200, 1).unwrap();
    expect(
        raw(&mut sim, heat_hint(2), 2, &[large.0, small.0]),
        HvStatus::INVALID_PARAMETER,
        1,
    );
    assert!(!sim.is_backed(0x40200));
    assert!(sim.is_backed(0x12340));
}

#[test]
fn fail_plans_once_always_after() {
    let mut sim = SimHypervisor::new(FRAMES);
    let q = Control::new(HypercallCode::EXT_QUERY_CAPABILITIES);
    sim.set_fail_plan(Some(FailPlan::once(HvStatus::INSUFFICIENT_MEMORY)));
    expect(sim.call(q), HvStatus::INSUFFICIENT_MEMORY, 0);
    expect(sim.call(q), HvStatus::SUCCESS, 0);

    sim.set_fail_plan(Some(
        FailPlan::always(HvStatus::NO_RESOURCES).after_calls(2),
    ));
    let got: Vec<HvStatus> = (0..5).map(|_| sim.call(q).status()).collect();
    assert_eq!(
        got,
        [
            HvStatus::SUCCESS,
            HvStatus::SUCCESS,
            HvStatus::NO_RESOURCES,
            HvStatus::NO_RESOURCES,
            HvStatus::NO_RESOURCES
        ]
    );
    sim.set_fail_plan(None);
    expect(sim.call(q), HvStatus::SUCCESS, 0);
    assert_eq!(sim.stats().failed_calls, 4);
}

#[test]
fn frame_tracking_discard_and_refault() {
    let mut sim = SimHypervisor::new(FRAMES);
    let runs = [
        FreeRun::new(0x40200, 512),
        FreeRun::new(0x12340, 16),
        FreeRun::new(63, 70),
    ];
    let mut sorted = runs;
    sorted.sort_unstable();
    let done = Hypercalls::new(&mut sim)
        .heat_hint_runs(HeatType::COLD_DISCARD, sorted, RangeOptions::LINUX)
        .unwrap();
    assert_eq!(done.frames, 598);
    assert_eq!(sim.backed_frames(), FRAMES - 598);
    assert_eq!(sim.stats().frames_discarded, 598);
    // Discarding again does not double count.
    Hypercalls::new(&mut sim)
        .heat_hint_runs(HeatType::COLD_DISCARD, sorted, RangeOptions::LINUX)
        .unwrap();
    assert_eq!(sim.stats().frames_discarded, 598);
    assert_eq!(sim.stats().frames_hinted, 2 * 598);
    // The guest writes some frames: backed again.
    assert!(sim.guest_write(0x40200));
    assert!(!sim.guest_write(0x40200));
    assert!(!sim.guest_write(FRAMES + 5));
    assert_eq!(sim.guest_touch(60, 10), 7); // 63..70 were discarded
    assert_eq!(sim.stats().frames_refaulted, 8);
    assert_eq!(sim.backed_frames(), FRAMES - 598 + 8);
    let log = sim.take_discards();
    assert_eq!(log.len(), 6);
    assert_eq!(
        log[0],
        DiscardRecord {
            first_pfn: 63,
            frame_count: 70
        }
    );
    assert!(sim.discards().is_empty());
}

#[test]
fn frame_tracking_scales_to_a_16_gib_guest() {
    let frames = 4 << 20; // 16 GiB
    let mut sim = SimHypervisor::new(frames);
    assert_eq!(sim.backed_frames(), frames);
    let runs = [FreeRun::new(1 << 18, 12 << 18), FreeRun::new(3, 1000)];
    let mut sorted = runs;
    sorted.sort_unstable();
    let done = Hypercalls::new(&mut sim)
        .heat_hint_runs(
            HeatType::COLD_DISCARD,
            sorted,
            RangeOptions::LINUX.allow_1gib(true),
        )
        .unwrap();
    assert_eq!(done.frames, (12 << 18) + 1000);
    assert_eq!(sim.backed_frames(), frames - (12 << 18) - 1000);
    assert_eq!(sim.guest_touch(0, frames), (12 << 18) + 1000);
    assert_eq!(sim.backed_frames(), frames);
}

#[test]
fn header_written_by_the_safe_layer_is_valid() {
    let mut sim = SimHypervisor::new(FRAMES);
    Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::HOT, &[GpaPageRange(ok_range())])
        .unwrap();
    assert_eq!(
        sim.input_page().qword(0),
        Some(MemoryHintHeader::new(HeatType::HOT).0)
    );
    assert_eq!(sim.backed_frames(), FRAMES);
}
