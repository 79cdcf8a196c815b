//! Property tests of the rep restart loop and the simulator: whatever the partial completion
//! pattern and wherever an element fails, exactly the first `completed` ranges take effect; and
//! arbitrary control words and page contents never panic the simulator.

use hvcall::sim::SimHypervisor;
use hvcall::{Control, GpaPageRange, HeatType, HvStatus, HypercallBackend, Hypercalls};
use proptest::prelude::*;

const FRAMES: u64 = 1 << 16;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn completed_is_exactly_what_took_effect(
        n in 1usize..1300,
        seed in any::<u64>(),
        reps in prop::option::of(1u16..40),
        fail_at in prop::option::of(0u64..1400),
    ) {
        let mut sim = SimHypervisor::new(FRAMES);
        match reps {
            Some(r) => sim.set_reps_per_call(Some(r)),
            None => sim.set_random_partial_completion(Some(seed)),
        }
        sim.set_fail_after_elements(fail_at.map(|f| (f, HvStatus::INSUFFICIENT_MEMORY)));
        // Disjoint one- or two-frame ranges at a stride of 4 frames (the stride keeps them
        // apart; the sizes vary with the seed).
        let ranges: Vec<GpaPageRange> = (0..n as u64)
            .map(|i| GpaPageRange::new_4k(i * 4, 1 + ((seed >> (i % 64)) & 1)).unwrap())
            .collect();
        let result = Hypercalls::new(&mut sim).memory_heat_hint(HeatType::COLD_DISCARD, &ranges);
        let completed = match (result, fail_at) {
            (Ok(p), f) => {
                prop_assert!(f.is_none_or(|f| f >= n as u64));
                prop_assert_eq!(p.ranges, n as u64);
                n
            }
            (Err(e), Some(f)) => {
                prop_assert_eq!(e.status().map(|s| s.status()), Some(HvStatus::INSUFFICIENT_MEMORY));
                prop_assert_eq!(e.completed as u64, f);
                e.completed
            }
            (Err(e), None) => return Err(TestCaseError::fail(format!("unexpected {e}"))),
        };
        for (i, r) in ranges.iter().enumerate() {
            let (first, count) = r.decode().unwrap();
            for pfn in first..first + count {
                prop_assert_eq!(sim.is_backed(pfn), i >= completed, "range {} frame {:#x}", i, pfn);
            }
        }
        let discarded: u64 = ranges[..completed].iter().map(|r| r.decode().unwrap().1).sum();
        prop_assert_eq!(sim.backed_frames(), FRAMES - discarded);
        // Every call made progress or failed: never more calls than elements (+ the failure).
        prop_assert!(sim.stats().heat_hint_calls <= n as u64 + 1);
    }

    #[test]
    fn simulator_never_panics_on_arbitrary_input(control in any::<u64>(), words in prop::collection::vec(any::<u64>(), 0..64)) {
        let mut sim = SimHypervisor::new(FRAMES);
        for (i, w) in words.iter().enumerate() {
            sim.input_page().write_at(i * 8, w).unwrap();
        }
        let before = sim.backed_frames();
        let out = sim.call(Control(control));
        let c = Control(control);
        if c.reserved_bits() != 0 || c.fast() || c.nested() {
            prop_assert_eq!(out.status(), HvStatus::INVALID_HYPERCALL_INPUT);
        }
        if out.status().is_err() {
            prop_assert!(out.reps_completed() >= c.rep_start().min(c.rep_count()) || c.rep_count() == 0);
        }
        prop_assert!(sim.backed_frames() <= before);
    }
}
