//! Property tests for the range builder (issue 2 acceptance): for random sets of free runs the
//! ranges cover exactly the input frames (none lost, none added, none twice), every range is
//! valid, and the count is minimal — checked against an independent dynamic program.

use hvcall::builder::{RangeError, RangeOptions, build_ranges, count_ranges};
use hvcall::{FRAMES_PER_1G, FRAMES_PER_2M, FreeRun, GpaPageRange, MAX_UNITS_PER_RANGE, PageUnit};
use proptest::prelude::*;
use std::collections::VecDeque;

/// Merge sorted, non-overlapping runs into maximal intervals [start, end).
fn merged(runs: &[FreeRun]) -> Vec<(u64, u64)> {
    let mut v: Vec<FreeRun> = runs.to_vec();
    v.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for r in v {
        match out.last_mut() {
            Some(last) if last.1 == r.first_pfn => last.1 = r.first_pfn + r.page_count,
            _ => out.push((r.first_pfn, r.first_pfn + r.page_count)),
        }
    }
    out
}

/// Decode, validate and merge the builder's output; panics on overlap (a frame twice).
fn covered(ranges: &[GpaPageRange], options: RangeOptions) -> Vec<(u64, u64)> {
    let mut iv: Vec<(u64, u64)> = ranges
        .iter()
        .map(|r| {
            let (first, frames) = r.decode().expect("every range decodes");
            // Valid by construction: the validating constructor gives back the same bits.
            assert_eq!(
                GpaPageRange::new(first, r.units(), r.unit()),
                Ok(*r),
                "{r:?}"
            );
            match r.unit() {
                PageUnit::Size4K => assert!(
                    options.allows_4k(),
                    "4 KiB range with 4 KiB disabled: {r:?}"
                ),
                PageUnit::Size1G => assert!(
                    options.allows_1gib(),
                    "1 GiB range with 1 GiB disabled: {r:?}"
                ),
                PageUnit::Size2M => {}
            }
            (first, first + frames)
        })
        .collect();
    iv.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in iv {
        match out.last_mut() {
            Some(last) => {
                assert!(s >= last.1, "frame {s:#x} covered twice");
                if s == last.1 {
                    last.1 = e;
                } else {
                    out.push((s, e));
                }
            }
            None => out.push((s, e)),
        }
    }
    out
}

/// Independent minimum: dynamic program over positions in steps of `q` frames (q = 512 for
/// 2 MiB-aligned runs, else 1). dp[x] = fewest ranges covering [start, start + x·q). A level
/// with unit u contributes ranges of 1..=2048 units whose start is u-aligned; sliding-window
/// minima keep it linear.
#[expect(
    clippy::needless_range_loop,
    reason = "dp[x] is read after the inner loops update it"
)]
fn min_ranges_dp(start: u64, end: u64, options: RangeOptions) -> u64 {
    let q = if start % FRAMES_PER_2M == 0 && end % FRAMES_PER_2M == 0 {
        FRAMES_PER_2M
    } else {
        1
    };
    let n = ((end - start) / q) as usize;
    let mut units = Vec::new();
    if options.allows_4k() {
        units.push(1u64);
    }
    units.push(FRAMES_PER_2M);
    if options.allows_1gib() {
        units.push(FRAMES_PER_1G);
    }
    const INF: u64 = u64::MAX / 2;
    let mut dp = vec![INF; n + 1];
    dp[0] = 0;
    // One monotone deque of (position, dp) per level, holding candidate range starts.
    let mut deques: Vec<VecDeque<(usize, u64)>> = vec![VecDeque::new(); units.len()];
    for x in 0..=n {
        let abs = start + x as u64 * q;
        if x > 0 {
            let mut best = INF;
            for (li, &u) in units.iter().enumerate() {
                // A range of this level may end at x only if its length is a multiple of u,
                // i.e. (for u > q) x is u-aligned; its start y must be u-aligned too.
                if u > q && abs % u != 0 {
                    continue;
                }
                let max_len = (MAX_UNITS_PER_RANGE * u / q) as usize;
                let dq = &mut deques[li];
                while dq.front().is_some_and(|&(y, _)| x - y > max_len) {
                    dq.pop_front();
                }
                if let Some(&(_, v)) = dq.front() {
                    best = best.min(v + 1);
                }
            }
            dp[x] = best;
        }
        // Position x becomes a possible start for each level it is aligned for.
        for (li, &u) in units.iter().enumerate() {
            if abs % u != 0 || dp[x] >= INF {
                continue;
            }
            let dq = &mut deques[li];
            while dq.back().is_some_and(|&(_, v)| v >= dp[x]) {
                dq.pop_back();
            }
            dq.push_back((x, dp[x]));
        }
    }
    dp[n]
}

/// Random non-overlapping runs, then some split into adjacent pieces, then shuffled.
fn runs_strategy(aligned: bool, near_gib: bool) -> impl Strategy<Value = Vec<FreeRun>> {
    let q = if aligned { FRAMES_PER_2M } else { 1 };
    let max_len = if aligned { 6 * 1024 } else { 6000 }; // in q-units: 12 GiB / ~23 MiB
    let max_gap = if aligned { 600 } else { 3000 };
    (
        prop::collection::vec(
            (0..max_gap as u64, 1..max_len as u64, 0..3u64, any::<bool>()),
            1..6,
        ),
        0..8u64,
        -4i64..4,
        any::<u64>(),
    )
        .prop_map(move |(parts, gib, off, seed)| {
            let mut pos: u64 = if near_gib {
                (gib * FRAMES_PER_1G).saturating_add_signed(off * FRAMES_PER_2M as i64)
            } else {
                gib * 7919 * q
            };
            let mut runs = Vec::new();
            for (gap, len, splits, adjacent) in parts {
                if !adjacent {
                    pos += gap * q + q; // leave a hole so runs stay separate
                }
                let mut len = len * q;
                let mut start = pos;
                // Split into adjacent pieces to exercise merging.
                for s in 0..splits {
                    let piece = (len / 3).max(q) / q * q;
                    if piece == 0 || piece >= len {
                        break;
                    }
                    let _ = s;
                    runs.push(FreeRun::new(start, piece));
                    start += piece;
                    len -= piece;
                }
                runs.push(FreeRun::new(start, len));
                pos = start + len;
            }
            // Deterministic shuffle from the seed.
            let mut state = seed;
            for i in (1..runs.len()).rev() {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let j = (state >> 33) as usize % (i + 1);
                runs.swap(i, j);
            }
            runs
        })
}

fn check(runs: &[FreeRun], options: RangeOptions) -> Result<(), TestCaseError> {
    let ranges = build_ranges(runs, options).expect("valid runs build");
    let want = merged(runs);
    prop_assert_eq!(covered(&ranges, options), want.clone(), "exact cover");
    let min: u64 = want
        .iter()
        .map(|&(s, e)| min_ranges_dp(s, e, options))
        .sum();
    prop_assert_eq!(ranges.len() as u64, min, "minimal count for {:?}", want);
    for &(s, e) in &want {
        prop_assert_eq!(
            count_ranges(FreeRun::new(s, e - s), options),
            Ok(min_ranges_dp(s, e, options))
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// 2 MiB-aligned input, default options (4 KiB + 2 MiB): exact cover, valid, minimal —
    /// and then every range is a 2 MiB range.
    #[test]
    fn aligned_default_options(runs in runs_strategy(true, false)) {
        check(&runs, RangeOptions::LINUX)?;
        let ranges = build_ranges(&runs, RangeOptions::LINUX).unwrap();
        prop_assert!(ranges.iter().all(|r| r.unit() == PageUnit::Size2M));
        // Independent closed form for this case: sum of ceil(units / 2048).
        let closed: u64 = merged(&runs).iter().map(|&(s, e)| ((e - s) / 512).div_ceil(2048)).sum();
        prop_assert_eq!(ranges.len() as u64, closed);
    }

    /// 2 MiB-aligned input near 1 GiB boundaries with 1 GiB units allowed.
    #[test]
    fn aligned_with_1gib(runs in runs_strategy(true, true)) {
        check(&runs, RangeOptions::LINUX.allow_1gib(true))?;
    }

    /// 2 MiB-aligned input with 4 KiB units disabled (older hosts).
    #[test]
    fn aligned_large_only(runs in runs_strategy(true, true)) {
        check(&runs, RangeOptions::LARGE_ONLY)?;
        check(&runs, RangeOptions::LARGE_ONLY.allow_1gib(true))?;
    }

    /// Arbitrary (unaligned) input: exact cover, valid, and minimal too.
    #[test]
    fn unaligned_default_options(runs in runs_strategy(false, false)) {
        check(&runs, RangeOptions::LINUX)?;
    }

    /// Unaligned input with 4 KiB disabled is an error that names a merged run.
    #[test]
    fn unaligned_large_only_is_an_error(start in 0u64..1_000_000, len in 1u64..100_000) {
        prop_assume!(start % 512 != 0 || len % 512 != 0);
        let r = build_ranges(&[FreeRun::new(start, len)], RangeOptions::LARGE_ONLY);
        prop_assert_eq!(r, Err(RangeError::Misaligned { first_pfn: start, page_count: len }));
    }

    /// Overlapping input is always rejected, whatever the order.
    #[test]
    fn overlaps_are_rejected(start in 0u64..1 << 30, len in 1u64..5000, cut in 0u64..5000, seed in any::<bool>()) {
        let other = FreeRun::new(start + cut % len, len);
        let runs = if seed { [FreeRun::new(start, len), other] } else { [other, FreeRun::new(start, len)] };
        let rejected = matches!(build_ranges(&runs, RangeOptions::LINUX), Err(RangeError::Overlap { .. }));
        prop_assert!(rejected, "overlap not rejected: {:?}", runs);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Unaligned runs whose 2 MiB middle is near the 2048-unit limit of one range: here the
    /// fewest cover may let the 4 KiB head or tail absorb a few 2 MiB units.
    #[test]
    fn unaligned_near_the_2048_unit_split(
        block in 0u64..64,
        head in 0u64..512,
        units in 2040u64..2058,
        tail in 0u64..512,
    ) {
        let start = block * FRAMES_PER_2M + (FRAMES_PER_2M - head) % FRAMES_PER_2M;
        let run = FreeRun::new(start, head + units * FRAMES_PER_2M + tail);
        check(&[run], RangeOptions::LINUX)?;
    }
}

/// The DP agrees with hand-computed minima (it is the oracle above, so check it first).
#[test]
fn dp_oracle_sanity() {
    let o = RangeOptions::LINUX;
    assert_eq!(min_ranges_dp(0, 512, o), 1);
    assert_eq!(min_ranges_dp(511, 511 + 2048, o), 1);
    assert_eq!(min_ranges_dp(0, 2049, o), 2);
    assert_eq!(min_ranges_dp(496, 496 + 16 + 8 * 512 + 3, o), 3);
    assert_eq!(min_ranges_dp(0, 2049 * 512, o), 2);
    // 1 frame + 2049 x 2 MiB: the head range absorbs one 2 MiB unit -> 2 ranges, not 3.
    assert_eq!(min_ranges_dp(511, 512 + 2049 * 512, o), 2);
    assert_eq!(count_ranges(FreeRun::new(511, 1 + 2049 * 512), o), Ok(2));
    let g = o.allow_1gib(true);
    assert_eq!(
        min_ranges_dp(
            FRAMES_PER_1G - 512,
            FRAMES_PER_1G - 512 + 100 * FRAMES_PER_1G,
            g
        ),
        3
    );
    assert_eq!(
        min_ranges_dp(
            FRAMES_PER_1G - 512,
            FRAMES_PER_1G - 512 + 100 * FRAMES_PER_1G,
            o
        ),
        25
    );
}

/// Big runs: 2048-unit splits of 1 GiB ranges and runs up to the top of the GPA space.
#[test]
fn huge_runs_split_and_stay_in_range() {
    let g = RangeOptions::LINUX.allow_1gib(true);
    let run = FreeRun::new(0, 2049 * FRAMES_PER_1G);
    let ranges = build_ranges(&[run], g).unwrap();
    assert_eq!(
        ranges,
        [
            GpaPageRange::new_1g(0, 2048).unwrap(),
            GpaPageRange::new_1g(2048 * FRAMES_PER_1G, 1).unwrap()
        ]
    );
    let top = FreeRun::new(
        hvcall::PFN_LIMIT - 3 * FRAMES_PER_1G - 5,
        3 * FRAMES_PER_1G + 5,
    );
    let ranges = build_ranges(&[top], g).unwrap();
    assert_eq!(
        covered(&ranges, g),
        vec![(top.first_pfn, hvcall::PFN_LIMIT)]
    );
    assert!(build_ranges(&[FreeRun::new(hvcall::PFN_LIMIT - 1, 2)], g).is_err());
}
