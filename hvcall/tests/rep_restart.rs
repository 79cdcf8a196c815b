//! The rep restart loop (fact sheet C.6) against the simulated hypervisor: partial completion,
//! failure after N elements, the no-progress guard, chunking past 511 ranges, and a scripted
//! backend for results the simulator would never produce.

use hvcall::sim::{FailPlan, SimHypervisor};
use hvcall::{
    Control, FreeRun, GpaPageRange, HeatHintFailure, HeatType, HvError, HvPage, HvStatus,
    HypercallBackend, HypercallCode, HypercallOutput, Hypercalls, RangeOptions, RepError,
    RepErrorKind,
};

const GUEST_FRAMES: u64 = 1 << 20; // 4 GiB

/// `n` one-frame ranges at every other frame (so none merge).
fn ranges(n: u64) -> Vec<GpaPageRange> {
    (0..n)
        .map(|i| GpaPageRange::new_4k(i * 2, 1).unwrap())
        .collect()
}

fn new_sim() -> SimHypervisor {
    let mut s = SimHypervisor::new(GUEST_FRAMES);
    s.set_record_calls(true);
    s
}

fn starts(sim: &SimHypervisor) -> Vec<(u16, u16)> {
    sim.call_log()
        .iter()
        .map(|c| (c.control.rep_start(), c.result.reps_completed()))
        .collect()
}

#[test]
fn partial_completion_restarts_from_reps_completed() {
    let mut sim = new_sim();
    sim.set_reps_per_call(Some(3));
    let done = Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(10))
        .unwrap();
    assert_eq!((done.batches, done.ranges, done.frames), (1, 10, 10));
    // Absolute reps completed: 3, 6, 9, 10; each restart uses it as the new rep start.
    assert_eq!(starts(&sim), [(0, 3), (3, 6), (6, 9), (9, 10)]);
    assert!(sim.call_log().iter().all(|c| c.control.rep_count() == 10));
    assert_eq!(sim.stats().partial_calls, 3);
    assert_eq!(sim.stats().heat_hint_calls, 4);
    assert_eq!(sim.backed_frames(), GUEST_FRAMES - 10);
    assert!((0..10).all(|i| !sim.is_backed(i * 2) && sim.is_backed(i * 2 + 1)));
}

#[test]
fn one_rep_per_call_still_finishes() {
    let mut sim = new_sim();
    sim.set_reps_per_call(Some(0)); // treated as 1: at least one rep is always attempted
    Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(5))
        .unwrap();
    assert_eq!(starts(&sim), [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]);
}

#[test]
fn random_partial_completion_is_deterministic_and_complete() {
    let run = |seed: u64| {
        let mut sim = new_sim();
        sim.set_random_partial_completion(Some(seed));
        let done = Hypercalls::new(&mut sim)
            .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(1200))
            .unwrap();
        assert_eq!(done.ranges, 1200);
        assert_eq!(sim.backed_frames(), GUEST_FRAMES - 1200);
        // Every call made progress, so at most one call per range.
        assert!(sim.stats().heat_hint_calls <= 1200);
        starts(&sim)
    };
    for seed in 0..16 {
        assert_eq!(run(seed), run(seed), "seed {seed}");
    }
    assert_ne!(run(1), run(2));
}

#[test]
fn failure_after_n_elements_reports_completed() {
    let mut sim = new_sim();
    sim.set_fail_after_elements(Some((7, HvStatus::TIME_OUT)));
    let err = Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(10))
        .unwrap_err();
    assert_eq!(
        err,
        RepError {
            kind: RepErrorKind::Status(HvError::TIME_OUT),
            completed: 7
        }
    );
    assert_eq!(err.status(), Some(HvError::TIME_OUT));
    assert_eq!(starts(&sim), [(0, 7)]);
    // The first 7 took effect, the rest did not.
    assert!((0..7).all(|i| !sim.is_backed(i * 2)));
    assert!((7..10).all(|i| sim.is_backed(i * 2)));
}

#[test]
fn failure_after_n_elements_with_partial_completion() {
    let mut sim = new_sim();
    sim.set_reps_per_call(Some(3));
    sim.set_fail_after_elements(Some((7, HvStatus::INSUFFICIENT_MEMORY)));
    let err = Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(10))
        .unwrap_err();
    assert_eq!(err.completed, 7);
    assert_eq!(err.status(), Some(HvError::INSUFFICIENT_MEMORY));
    assert_eq!(starts(&sim), [(0, 3), (3, 6), (6, 7)]);
    assert_eq!(sim.backed_frames(), GUEST_FRAMES - 7);
}

#[test]
fn failure_after_n_calls_reports_completed() {
    let mut sim = new_sim();
    sim.set_reps_per_call(Some(2));
    sim.set_fail_plan(Some(
        FailPlan::once(HvStatus::OPERATION_DENIED).after_calls(2),
    ));
    let err = Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(10))
        .unwrap_err();
    assert_eq!(
        err,
        RepError {
            kind: RepErrorKind::Status(HvError::OPERATION_DENIED),
            completed: 4
        }
    );
    assert_eq!(starts(&sim), [(0, 2), (2, 4), (4, 4)]);
    // The plan fired once: the next attempt succeeds.
    Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(10))
        .unwrap();
}

#[test]
fn chunks_of_511_count_completed_across_calls() {
    let mut sim = new_sim();
    sim.set_fail_after_elements(Some((600, HvStatus::INVALID_PARAMETER)));
    let err = Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(1200))
        .unwrap_err();
    assert_eq!(err.completed, 600);
    assert_eq!(err.status(), Some(HvError::INVALID_PARAMETER));
    let calls: Vec<(u16, u16, u16)> = sim
        .call_log()
        .iter()
        .map(|c| {
            (
                c.control.rep_count(),
                c.control.rep_start(),
                c.result.reps_completed(),
            )
        })
        .collect();
    assert_eq!(calls, [(511, 0, 511), (511, 0, 89)]);

    let mut sim = new_sim();
    let done = Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(1200))
        .unwrap();
    assert_eq!((done.batches, done.ranges), (3, 1200));
    let counts: Vec<u16> = sim
        .call_log()
        .iter()
        .map(|c| c.control.rep_count())
        .collect();
    assert_eq!(counts, [511, 511, 178]);
}

#[test]
fn success_without_progress_is_an_error_not_a_hang() {
    let mut sim = new_sim();
    sim.set_no_progress(true);
    let err = Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges(4))
        .unwrap_err();
    assert_eq!(
        err,
        RepError {
            kind: RepErrorKind::NoProgress {
                rep_start: 0,
                reps_completed: 0
            },
            completed: 0
        }
    );
    assert_eq!(sim.stats().calls, 1);

    // After some progress: stops at the stalled rep start.
    let mut script = Scripted::new(&[
        HypercallOutput::new(HvStatus::SUCCESS, 2),
        HypercallOutput::new(HvStatus::SUCCESS, 2),
    ]);
    let err = Hypercalls::new(&mut script)
        .rep_call_prepared(HypercallCode::EXT_MEMORY_HEAT_HINT, 6)
        .unwrap_err();
    assert_eq!(
        err,
        RepError {
            kind: RepErrorKind::NoProgress {
                rep_start: 2,
                reps_completed: 2
            },
            completed: 2
        }
    );
    assert_eq!(script.controls.len(), 2);
}

/// A backend that returns scripted results and records control words.
struct Scripted {
    input: Box<HvPage>,
    output: Box<HvPage>,
    results: Vec<HypercallOutput>,
    controls: Vec<Control>,
}

impl Scripted {
    fn new(results: &[HypercallOutput]) -> Self {
        let mut results = results.to_vec();
        results.reverse();
        Self {
            input: Box::new(HvPage::zeroed()),
            output: Box::new(HvPage::zeroed()),
            results,
            controls: Vec::new(),
        }
    }
}

impl HypercallBackend for Scripted {
    fn input_page(&mut self) -> &mut HvPage {
        &mut self.input
    }
    fn output_page(&self) -> &HvPage {
        &self.output
    }
    fn call(&mut self, control: Control) -> HypercallOutput {
        self.controls.push(control);
        self.results.pop().expect("no more scripted results")
    }
}

#[test]
fn odd_results_from_the_backend() {
    // More reps completed than requested, with success: done (as Linux treats it).
    let mut s = Scripted::new(&[HypercallOutput::new(HvStatus::SUCCESS, 0xFFF)]);
    Hypercalls::new(&mut s)
        .rep_call_prepared(HypercallCode::EXT_MEMORY_HEAT_HINT, 5)
        .unwrap();
    // Reserved result bits set: ignored (C.2).
    let mut s = Scripted::new(&[HypercallOutput::new(HvStatus::SUCCESS, 5)
        .with_reserved_low(0xFFFF)
        .with_reserved_high(0xFFFFF)]);
    Hypercalls::new(&mut s)
        .rep_call_prepared(HypercallCode::EXT_MEMORY_HEAT_HINT, 5)
        .unwrap();
    // An error that claims fewer reps than an earlier call completed: clamped to the rep start.
    let mut s = Scripted::new(&[
        HypercallOutput::new(HvStatus::SUCCESS, 3),
        HypercallOutput::new(HvStatus::TIME_OUT, 1),
    ]);
    let err = Hypercalls::new(&mut s)
        .rep_call_prepared(HypercallCode::EXT_MEMORY_HEAT_HINT, 5)
        .unwrap_err();
    assert_eq!(err.completed, 3);
    // An error that claims more reps than requested: clamped to the rep count.
    let mut s = Scripted::new(&[HypercallOutput::new(HvStatus::TIME_OUT, 9)]);
    let err = Hypercalls::new(&mut s)
        .rep_call_prepared(HypercallCode::EXT_MEMORY_HEAT_HINT, 5)
        .unwrap_err();
    assert_eq!(err.completed, 5);
    // All-ones: hypercall page not set up -> an error status (unknown 0xFFFF), never success.
    let mut s = Scripted::new(&[HypercallOutput(u64::MAX)]);
    let err = Hypercalls::new(&mut s)
        .rep_call_prepared(HypercallCode::EXT_MEMORY_HEAT_HINT, 5)
        .unwrap_err();
    assert_eq!(err.status().map(|e| e.status()), Some(HvStatus(0xFFFF)));
    assert_eq!(err.completed, 5);
}

#[test]
fn rep_call_input_errors_issue_nothing() {
    let mut s = Scripted::new(&[]);
    let mut hc = Hypercalls::new(&mut s);
    let err = hc
        .rep_call(HypercallCode::EXT_MEMORY_HEAT_HINT, &2u64, &[0u64; 0])
        .unwrap_err();
    assert_eq!(err.kind, RepErrorKind::BadRepCount { count: 0 });
    let err = hc
        .rep_call(HypercallCode::EXT_MEMORY_HEAT_HINT, &2u64, &[0u64; 512])
        .unwrap_err();
    assert!(matches!(err.kind, RepErrorKind::Input(_)), "{err}");
    let err = hc
        .rep_call(
            HypercallCode::EXT_MEMORY_HEAT_HINT,
            &[0u8; 3][..],
            &[0u64; 1],
        )
        .unwrap_err();
    assert!(matches!(err.kind, RepErrorKind::Input(_)), "{err}");
    let err = hc
        .rep_call_prepared(HypercallCode::EXT_MEMORY_HEAT_HINT, 4096)
        .unwrap_err();
    assert_eq!(err.kind, RepErrorKind::BadRepCount { count: 4096 });
    let err = hc
        .simple_call(HypercallCode::EXT_QUERY_CAPABILITIES, &[0u8; 4097])
        .unwrap_err();
    assert_eq!(err.status(), None);
    assert!(s.controls.is_empty());
}

#[test]
fn generic_rep_call_through_the_sim() {
    let mut sim = new_sim();
    sim.set_reps_per_call(Some(2));
    let elems = ranges(5);
    Hypercalls::new(&mut sim)
        .rep_call(
            HypercallCode::EXT_MEMORY_HEAT_HINT,
            &hvcall::MemoryHintHeader::new(HeatType::COLD_DISCARD),
            &elems,
        )
        .unwrap();
    assert_eq!(starts(&sim), [(0, 2), (2, 4), (4, 5)]);
    assert_eq!(sim.discards().len(), 5);
}

#[test]
fn heat_hint_runs_progress_on_failure() {
    let mut sim = new_sim();
    // 600 separate runs of 3 frames: 600 ranges, two batches; fail inside the second batch.
    let runs: Vec<FreeRun> = (0..600u64).map(|i| FreeRun::new(i * 8, 3)).collect();
    sim.set_fail_after_elements(Some((520, HvStatus::INVALID_PARAMETER)));
    let err = Hypercalls::new(&mut sim)
        .heat_hint_runs(
            HeatType::COLD_DISCARD,
            runs.iter().copied(),
            RangeOptions::LINUX,
        )
        .unwrap_err();
    assert_eq!(err.status(), Some(HvError::INVALID_PARAMETER));
    assert_eq!(
        (
            err.progress.batches,
            err.progress.ranges,
            err.progress.frames
        ),
        (1, 520, 1560)
    );
    assert_eq!(sim.backed_frames(), GUEST_FRAMES - 1560);

    // A bad run stops before the batch being filled is sent.
    let mut sim = new_sim();
    let bad = [FreeRun::new(0, 4), FreeRun::new(2, 4)];
    let err = Hypercalls::new(&mut sim)
        .heat_hint_runs(HeatType::COLD_DISCARD, bad, RangeOptions::LINUX)
        .unwrap_err();
    assert!(
        matches!(
            err.cause,
            HeatHintFailure::Range(hvcall::RangeError::Overlap { .. })
        ),
        "{err}"
    );
    assert_eq!(err.progress.ranges, 0);
    assert_eq!(sim.stats().calls, 0);
}

#[test]
fn old_host_fallback_to_2mib_ranges() {
    let mut sim = new_sim();
    sim.set_reject_small_ranges(true);
    let runs = [
        FreeRun::new(512, 512),
        FreeRun::new(2048, 16),
        FreeRun::new(4096, 1024),
    ];
    let err = Hypercalls::new(&mut sim)
        .heat_hint_runs(HeatType::COLD_DISCARD, runs, RangeOptions::LINUX)
        .unwrap_err();
    // The 2 MiB range went through, the 4 KiB one was refused (as Linux observes, D.5/B.2).
    assert_eq!(err.status(), Some(HvError::INVALID_PARAMETER));
    assert_eq!(err.progress.ranges, 1);
    // Falling back: only 2 MiB-aligned runs, 4 KiB units off.
    let large = [FreeRun::new(4096, 1024)];
    let done = Hypercalls::new(&mut sim)
        .heat_hint_runs(HeatType::COLD_DISCARD, large, RangeOptions::LARGE_ONLY)
        .unwrap();
    assert_eq!(done.frames, 1024);
}
