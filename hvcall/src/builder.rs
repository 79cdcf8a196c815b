//! The range builder: free runs of 4 KiB frames → the fewest valid [`GpaPageRange`]s.
//!
//! Input is a list of free runs `(first_pfn, page_count)` in 4 KiB Hyper-V frames (a guest with
//! larger pages converts first, fact sheet C.5). The builder
//!
//! * merges adjacent runs (`a.first_pfn + a.page_count == b.first_pfn`),
//! * rejects zero-length runs, runs past the 2^52-frame GPA space, and overlapping or duplicate
//!   runs, each with a [`RangeError`] that names the run,
//! * covers each merged run with the **fewest** ranges, where a range is 1..=2048 units of
//!   4 KiB (any base), 2 MiB (2 MiB-aligned base) or — only with
//!   [`RangeOptions::allow_1gib`] — 1 GiB (1 GiB-aligned base),
//! * among covers of equal size prefers the one that uses the larger units where alignment
//!   allows (so 2 MiB-aligned input always comes out in 2 MiB units, like Linux's encoding of
//!   order ≥ 9 blocks, dm-protocol.md §7.5).
//!
//! # Minimality
//! For one merged run, an optimal cover has the shape *lower-level head, one block of top-level
//! units, lower-level tail* (top-level ranges with anything between them can be replaced by
//! `ceil(len / (2048·unit))` top-level ranges, which is never more). A head or tail never needs
//! to absorb 4 or more top-level units: 4 top units are 2^20 frames (4 KiB level) or 4 GiB
//! (2 MiB level), which is exactly one full range of the level below, so absorbing 4 more costs
//! that level one range and saves the top level at most one. The builder therefore tries the 16
//! head/tail splits per level plus "do not use this level", recursively. The property tests check
//! the result against an independent dynamic program.
//!
//! # 1 GiB units
//! Linux never emits the 1 GiB form and its semantics are **UNVERIFIED** (fact sheet D.5), so it
//! is off by default. The default ([`RangeOptions::LINUX`]) is 4 KiB + 2 MiB units, exactly the
//! encodings Linux sends. [`RangeOptions::allow_4k`]`(false)` is the mode for older hosts that
//! reject sub-2 MiB ranges with `HV_STATUS_INVALID_PARAMETER` (fact sheet D.5): input that is not
//! 2 MiB aligned is then an error ([`RangeError::Misaligned`]).
//!
//! # No allocation
//! [`RangeBuilder`] streams *sorted* runs into a caller sink (`FnMut(GpaPageRange) ->
//! Result<(), E>`), e.g. a hypercall input page ([`crate::HeatHintWriter`]) or a fixed array
//! ([`collect_into`]). Unsorted input can be sorted in place with [`build_unsorted`]
//! (`slice::sort_unstable` is in `core`). [`build_ranges`] (feature `alloc`) returns a `Vec`.

use crate::range::{
    FRAMES_PER_1G, FRAMES_PER_2M, GpaPageRange, MAX_UNITS_PER_RANGE, PFN_LIMIT, PageUnit,
};

/// A run of free 4 KiB guest frames.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FreeRun {
    /// First 4 KiB frame (Hyper-V PFN = GPA >> 12).
    pub first_pfn: u64,
    /// Number of 4 KiB frames.
    pub page_count: u64,
}

impl FreeRun {
    /// A run of `page_count` frames from `first_pfn`.
    pub const fn new(first_pfn: u64, page_count: u64) -> Self {
        Self {
            first_pfn,
            page_count,
        }
    }

    /// One past the last frame (saturating; validated runs never saturate).
    pub const fn end_pfn(self) -> u64 {
        self.first_pfn.saturating_add(self.page_count)
    }
}

/// Which range units the builder may use.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct RangeOptions {
    allow_4k: bool,
    allow_1g: bool,
}

impl RangeOptions {
    /// 4 KiB and 2 MiB units, no 1 GiB units: the encodings Linux uses (the default).
    pub const LINUX: Self = Self {
        allow_4k: true,
        allow_1g: false,
    };
    /// 2 MiB units only: for hosts that reject sub-2 MiB ranges (fact sheet D.5).
    pub const LARGE_ONLY: Self = Self {
        allow_4k: false,
        allow_1g: false,
    };

    /// The default: [`RangeOptions::LINUX`].
    pub const fn new() -> Self {
        Self::LINUX
    }

    /// Allow 1 GiB units (semantics **UNVERIFIED**; Linux never emits them).
    pub const fn allow_1gib(self, allow: bool) -> Self {
        Self {
            allow_1g: allow,
            ..self
        }
    }

    /// Allow 4 KiB units (default `true`). With `false`, every merged run must be 2 MiB aligned
    /// in start and length, else [`RangeError::Misaligned`].
    pub const fn allow_4k(self, allow: bool) -> Self {
        Self {
            allow_4k: allow,
            ..self
        }
    }

    /// Whether 1 GiB units are allowed.
    pub const fn allows_1gib(self) -> bool {
        self.allow_1g
    }

    /// Whether 4 KiB units are allowed.
    pub const fn allows_4k(self) -> bool {
        self.allow_4k
    }

    /// The smallest unit in frames (1 or 512): every merged run must be a multiple of it.
    pub const fn min_unit_frames(self) -> u64 {
        if self.allow_4k { 1 } else { FRAMES_PER_2M }
    }

    /// The allowed units, smallest first, and how many there are.
    const fn levels(self) -> ([PageUnit; 3], usize) {
        match (self.allow_4k, self.allow_1g) {
            (true, true) => ([PageUnit::Size4K, PageUnit::Size2M, PageUnit::Size1G], 3),
            (true, false) => ([PageUnit::Size4K, PageUnit::Size2M, PageUnit::Size2M], 2),
            (false, true) => ([PageUnit::Size2M, PageUnit::Size1G, PageUnit::Size1G], 2),
            (false, false) => ([PageUnit::Size2M, PageUnit::Size2M, PageUnit::Size2M], 1),
        }
    }
}

impl Default for RangeOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Bad builder input.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// A run of zero frames.
    #[error("free run at frame {first_pfn:#x} has zero length")]
    ZeroLength {
        /// The run's first frame.
        first_pfn: u64,
    },
    /// A run that reaches past the 2^52-frame guest physical space.
    #[error(
        "free run at frame {first_pfn:#x} of {page_count} frames reaches past the 2^52-frame GPA space"
    )]
    OutOfRange {
        /// The run's first frame.
        first_pfn: u64,
        /// The run's length.
        page_count: u64,
    },
    /// A run overlaps (or duplicates) an earlier run.
    #[error(
        "free run {first_pfn:#x}+{page_count} overlaps frames {other_first:#x}..{other_end:#x} of another run (overlapping or duplicate runs)"
    )]
    Overlap {
        /// The run's first frame.
        first_pfn: u64,
        /// The run's length.
        page_count: u64,
        /// First frame of the (merged) run it overlaps.
        other_first: u64,
        /// One past the last frame of the (merged) run it overlaps.
        other_end: u64,
    },
    /// Streaming input must be sorted by `first_pfn`.
    #[error(
        "free run at frame {first_pfn:#x} comes after frame {previous_end:#x}: streaming input must be sorted by first_pfn (use build_unsorted)"
    )]
    Unsorted {
        /// The run's first frame.
        first_pfn: u64,
        /// One past the last frame seen so far.
        previous_end: u64,
    },
    /// 4 KiB units are disabled and a merged run is not 2 MiB aligned in start and length.
    #[error(
        "merged free run {first_pfn:#x}+{page_count} is not 2 MiB aligned and 4 KiB ranges are disabled (host rejects sub-2 MiB ranges)"
    )]
    Misaligned {
        /// The merged run's first frame.
        first_pfn: u64,
        /// The merged run's length.
        page_count: u64,
    },
}

/// A builder failure: bad input, or the sink refused a range.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError<E> {
    /// Bad input.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// The sink returned an error (e.g. a hypercall failed, or a fixed array is full).
    #[error("range sink failed: {0}")]
    Sink(E),
}

/// A fixed output array is full.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("output array of {capacity} ranges is full")]
pub struct ArrayFull {
    /// Capacity of the array.
    pub capacity: usize,
}

/// Streaming range builder over runs sorted by `first_pfn` (see the [module docs](self)).
///
/// Call [`RangeBuilder::push`] per run and [`RangeBuilder::finish`] at the end; ranges are
/// emitted in ascending GPA order as soon as a merged run is complete.
#[derive(Clone, Debug)]
pub struct RangeBuilder {
    options: RangeOptions,
    /// The merged run being collected: [start, end).
    pending: Option<(u64, u64)>,
}

impl RangeBuilder {
    /// A builder with `options`.
    pub const fn new(options: RangeOptions) -> Self {
        Self {
            options,
            pending: None,
        }
    }

    /// The options.
    pub const fn options(&self) -> RangeOptions {
        self.options
    }

    /// Add the next run (runs must come sorted by `first_pfn`; adjacent runs are merged).
    pub fn push<E, S>(&mut self, run: FreeRun, sink: &mut S) -> Result<(), BuildError<E>>
    where
        S: FnMut(GpaPageRange) -> Result<(), E>,
    {
        validate_run(run)?;
        let end = run.first_pfn + run.page_count;
        match self.pending {
            None => self.pending = Some((run.first_pfn, end)),
            Some((start, pend)) if run.first_pfn == pend => self.pending = Some((start, end)),
            Some((start, pend)) if run.first_pfn > pend => {
                self.pending = Some((run.first_pfn, end));
                emit_merged(start, pend, self.options, sink)?;
            }
            Some((start, pend)) => {
                return Err(if end <= start {
                    RangeError::Unsorted {
                        first_pfn: run.first_pfn,
                        previous_end: pend,
                    }
                } else {
                    RangeError::Overlap {
                        first_pfn: run.first_pfn,
                        page_count: run.page_count,
                        other_first: start,
                        other_end: pend,
                    }
                }
                .into());
            }
        }
        Ok(())
    }

    /// Emit the last merged run. The builder is empty afterwards and can be reused.
    pub fn finish<E, S>(&mut self, sink: &mut S) -> Result<(), BuildError<E>>
    where
        S: FnMut(GpaPageRange) -> Result<(), E>,
    {
        match self.pending.take() {
            Some((start, end)) => emit_merged(start, end, self.options, sink),
            None => Ok(()),
        }
    }
}

fn validate_run(run: FreeRun) -> Result<(), RangeError> {
    if run.page_count == 0 {
        return Err(RangeError::ZeroLength {
            first_pfn: run.first_pfn,
        });
    }
    if run.first_pfn >= PFN_LIMIT || run.page_count > PFN_LIMIT - run.first_pfn {
        return Err(RangeError::OutOfRange {
            first_pfn: run.first_pfn,
            page_count: run.page_count,
        });
    }
    Ok(())
}

fn emit_merged<E, S>(
    start: u64,
    end: u64,
    options: RangeOptions,
    sink: &mut S,
) -> Result<(), BuildError<E>>
where
    S: FnMut(GpaPageRange) -> Result<(), E>,
{
    let min = options.min_unit_frames();
    if start % min != 0 || end % min != 0 {
        return Err(RangeError::Misaligned {
            first_pfn: start,
            page_count: end - start,
        }
        .into());
    }
    let (levels, n) = options.levels();
    emit(&levels[..n], start, end, sink).map_err(BuildError::Sink)
}

/// Cover one run (without merging it with anything) with the fewest ranges, in ascending order.
///
/// The same validation as [`RangeBuilder::push`] applies.
pub fn cover_run<E, S>(
    run: FreeRun,
    options: RangeOptions,
    sink: &mut S,
) -> Result<(), BuildError<E>>
where
    S: FnMut(GpaPageRange) -> Result<(), E>,
{
    validate_run(run)?;
    emit_merged(run.first_pfn, run.first_pfn + run.page_count, options, sink)
}

/// The number of ranges [`cover_run`] emits for `run` (the minimum).
pub fn count_ranges(run: FreeRun, options: RangeOptions) -> Result<u64, RangeError> {
    validate_run(run)?;
    let (start, end) = (run.first_pfn, run.first_pfn + run.page_count);
    let min = options.min_unit_frames();
    if start % min != 0 || end % min != 0 {
        return Err(RangeError::Misaligned {
            first_pfn: start,
            page_count: run.page_count,
        });
    }
    let (levels, n) = options.levels();
    Ok(best(&levels[..n], start, end).0)
}

/// Stream sorted runs through a [`RangeBuilder`] into `sink`.
pub fn build_sorted<E, S, I>(
    runs: I,
    options: RangeOptions,
    sink: &mut S,
) -> Result<(), BuildError<E>>
where
    I: IntoIterator<Item = FreeRun>,
    S: FnMut(GpaPageRange) -> Result<(), E>,
{
    let mut builder = RangeBuilder::new(options);
    for run in runs {
        builder.push(run, sink)?;
    }
    builder.finish(sink)
}

/// Sort `runs` in place (no allocation) and stream them into `sink`.
pub fn build_unsorted<E, S>(
    runs: &mut [FreeRun],
    options: RangeOptions,
    sink: &mut S,
) -> Result<(), BuildError<E>>
where
    S: FnMut(GpaPageRange) -> Result<(), E>,
{
    runs.sort_unstable();
    build_sorted(runs.iter().copied(), options, sink)
}

/// Sort `runs` in place and write the ranges into `out`; returns how many were written.
pub fn collect_into(
    runs: &mut [FreeRun],
    options: RangeOptions,
    out: &mut [GpaPageRange],
) -> Result<usize, BuildError<ArrayFull>> {
    let mut len = 0usize;
    let capacity = out.len();
    build_unsorted(runs, options, &mut |range| {
        let slot = out.get_mut(len).ok_or(ArrayFull { capacity })?;
        *slot = range;
        len += 1;
        Ok(())
    })?;
    Ok(len)
}

/// Build the ranges of unsorted `runs` into a `Vec` (copies and sorts the input).
#[cfg(feature = "alloc")]
pub fn build_ranges(
    runs: &[FreeRun],
    options: RangeOptions,
) -> Result<alloc::vec::Vec<GpaPageRange>, RangeError> {
    let mut sorted = alloc::vec::Vec::from(runs);
    let mut out = alloc::vec::Vec::new();
    build_unsorted(&mut sorted, options, &mut |r| {
        out.push(r);
        Ok::<(), core::convert::Infallible>(())
    })
    .map_err(|e| match e {
        BuildError::Range(e) => e,
        BuildError::Sink(never) => match never {},
    })?;
    Ok(out)
}

/// How a level is used for one interval: `None` = not at all, `Some((a, b))` = top-level
/// units on [a, b), lower levels on [start, a) and [b, end).
type Choice = Option<(u64, u64)>;

/// The fewest ranges covering [start, end) with `levels` (ascending), and how to split.
///
/// `start` and `end` are multiples of `levels[0]`'s frames. Tries the 4×4 head/tail splits
/// plus "skip the top level"; ties keep the earlier candidate, i.e. the larger units.
fn best(levels: &[PageUnit], start: u64, end: u64) -> (u64, Choice) {
    if start >= end {
        return (0, None);
    }
    let Some((&top, lower)) = levels.split_last() else {
        return (u64::MAX, None);
    };
    let unit = top.frames();
    let span = unit * MAX_UNITS_PER_RANGE;
    if lower.is_empty() {
        return ((end - start).div_ceil(span), Some((start, end)));
    }
    let first = start.div_ceil(unit) * unit;
    let last = end / unit * unit;
    let mut best_cost = u64::MAX;
    let mut choice = None;
    if first < last {
        for i in 0..4u64 {
            for j in 0..4u64 {
                let (Some(a), Some(b)) = (first.checked_add(i * unit), last.checked_sub(j * unit))
                else {
                    continue;
                };
                if a >= b {
                    continue;
                }
                let cost = best(lower, start, a)
                    .0
                    .saturating_add((b - a).div_ceil(span))
                    .saturating_add(best(lower, b, end).0);
                if cost < best_cost {
                    best_cost = cost;
                    choice = Some((a, b));
                }
            }
        }
    }
    let skip = best(lower, start, end).0;
    if skip < best_cost {
        best_cost = skip;
        choice = None;
    }
    (best_cost, choice)
}

/// Emit the cover chosen by [`best`] in ascending order.
fn emit<E, S>(levels: &[PageUnit], start: u64, end: u64, sink: &mut S) -> Result<(), E>
where
    S: FnMut(GpaPageRange) -> Result<(), E>,
{
    if start >= end {
        return Ok(());
    }
    let Some((&top, lower)) = levels.split_last() else {
        return Ok(());
    };
    match best(levels, start, end).1 {
        None => emit(lower, start, end, sink),
        Some((a, b)) => {
            emit(lower, start, a, sink)?;
            let unit = top.frames();
            let mut pos = a;
            while pos < b {
                let units = ((b - pos) / unit).min(MAX_UNITS_PER_RANGE);
                // Cannot fail: `pos` is aligned to `unit`, 1 <= units <= 2048, and the range
                // lies inside a validated run (< 2^52 frames). Skip defensively if it ever did.
                if let Ok(range) = GpaPageRange::new(pos, units, top) {
                    sink(range)?;
                }
                pos += units * unit;
            }
            emit(lower, b, end, sink)
        }
    }
}

const _: () = assert!(FRAMES_PER_1G % FRAMES_PER_2M == 0);

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn build(runs: &[FreeRun], opts: RangeOptions) -> Result<Vec<GpaPageRange>, RangeError> {
        let mut v = runs.to_vec();
        let mut out = Vec::new();
        build_unsorted(&mut v, opts, &mut |r| {
            out.push(r);
            Ok::<(), ()>(())
        })
        .map_err(|e| match e {
            BuildError::Range(e) => e,
            BuildError::Sink(()) => unreachable!(),
        })?;
        Ok(out)
    }

    #[test]
    fn aligned_2m_block_is_one_large_range() {
        let out = build(&[FreeRun::new(0x40200, 512)], RangeOptions::LINUX).unwrap();
        assert_eq!(out, [GpaPageRange(0x4020_0800)]);
    }

    #[test]
    fn adjacent_unsorted_runs_merge() {
        let out = build(
            &[FreeRun::new(0x40400 + 512, 512), FreeRun::new(0x40400, 512)],
            RangeOptions::LINUX,
        )
        .unwrap();
        assert_eq!(out, [GpaPageRange(0x4040_0801)]);
    }

    #[test]
    fn unaligned_head_and_tail() {
        // 16 frames before a 2 MiB boundary, eight 2 MiB pages, 3 frames after: 3 ranges either
        // way (4 KiB units only: ceil(4115 / 2048) = 3), so the large units win the tie.
        let out = build(
            &[FreeRun::new(512 - 16, 16 + 8 * 512 + 3)],
            RangeOptions::LINUX,
        )
        .unwrap();
        assert_eq!(
            out,
            [
                GpaPageRange::new_4k(496, 16).unwrap(),
                GpaPageRange::new_2m(512, 8).unwrap(),
                GpaPageRange::new_4k(512 + 8 * 512, 3).unwrap(),
            ]
        );
        // With one 2 MiB page in the middle, one 4 KiB-unit range (531 frames) is fewer.
        let out = build(&[FreeRun::new(512 - 16, 16 + 512 + 3)], RangeOptions::LINUX).unwrap();
        assert_eq!(out, [GpaPageRange::new_4k(496, 531).unwrap()]);
    }

    #[test]
    fn one_4k_range_beats_greedy_large_units() {
        // 2048 frames from frame 511: greedy "large where aligned" needs 3 ranges
        // (1 + 3x2MiB + 511), a single 4 KiB-unit range covers it.
        let out = build(&[FreeRun::new(511, 2048)], RangeOptions::LINUX).unwrap();
        assert_eq!(out, [GpaPageRange::new_4k(511, 2048).unwrap()]);
    }

    #[test]
    fn splits_at_2048_units() {
        let out = build(&[FreeRun::new(0, 2049 * 512)], RangeOptions::LINUX).unwrap();
        assert_eq!(
            out,
            [
                GpaPageRange::new_2m(0, 2048).unwrap(),
                GpaPageRange::new_2m(2048 * 512, 1).unwrap()
            ]
        );
        let out = build(&[FreeRun::new(1, 2049)], RangeOptions::LINUX).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn gib_units_only_when_allowed() {
        let run = FreeRun::new(FRAMES_PER_1G, 3 * FRAMES_PER_1G);
        let out = build(&[run], RangeOptions::LINUX).unwrap();
        assert_eq!(out, [GpaPageRange::new_2m(FRAMES_PER_1G, 1536).unwrap()]);
        let out = build(&[run], RangeOptions::LINUX.allow_1gib(true)).unwrap();
        assert_eq!(out, [GpaPageRange::new_1g(FRAMES_PER_1G, 3).unwrap()]);
        // 100 GiB from 2 MiB before a GiB boundary: 2 MiB head, GiB middle, 2 MiB tail.
        let run = FreeRun::new(FRAMES_PER_1G - 512, 100 * FRAMES_PER_1G);
        let out = build(&[run], RangeOptions::LINUX.allow_1gib(true)).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(count_ranges(run, RangeOptions::LINUX), Ok(25));
    }

    #[test]
    fn errors_name_the_run() {
        assert_eq!(
            build(&[FreeRun::new(5, 0)], RangeOptions::LINUX),
            Err(RangeError::ZeroLength { first_pfn: 5 })
        );
        assert_eq!(
            build(&[FreeRun::new(PFN_LIMIT - 1, 2)], RangeOptions::LINUX),
            Err(RangeError::OutOfRange {
                first_pfn: PFN_LIMIT - 1,
                page_count: 2
            })
        );
        assert_eq!(
            build(
                &[FreeRun::new(0, 10), FreeRun::new(5, 10)],
                RangeOptions::LINUX
            ),
            Err(RangeError::Overlap {
                first_pfn: 5,
                page_count: 10,
                other_first: 0,
                other_end: 10
            })
        );
        assert!(matches!(
            build(
                &[FreeRun::new(7, 1), FreeRun::new(7, 1)],
                RangeOptions::LINUX
            ),
            Err(RangeError::Overlap { .. })
        ));
        assert_eq!(
            build(&[FreeRun::new(0, 100)], RangeOptions::LARGE_ONLY),
            Err(RangeError::Misaligned {
                first_pfn: 0,
                page_count: 100
            })
        );
        let msg = std::format!(
            "{}",
            RangeError::Overlap {
                first_pfn: 5,
                page_count: 10,
                other_first: 0,
                other_end: 10
            }
        );
        assert!(msg.contains("overlap"), "{msg}");
    }

    #[test]
    fn streaming_rejects_unsorted() {
        let mut b = RangeBuilder::new(RangeOptions::LINUX);
        let mut sink = |_r: GpaPageRange| Ok::<(), ()>(());
        b.push(FreeRun::new(100, 10), &mut sink).unwrap();
        assert_eq!(
            b.push(FreeRun::new(0, 10), &mut sink),
            Err(BuildError::Range(RangeError::Unsorted {
                first_pfn: 0,
                previous_end: 110
            }))
        );
    }

    #[test]
    fn collect_into_reports_full_array() {
        let mut runs = [FreeRun::new(0, 1), FreeRun::new(2, 1), FreeRun::new(4, 1)];
        let mut out = [GpaPageRange(0); 2];
        assert_eq!(
            collect_into(&mut runs, RangeOptions::LINUX, &mut out),
            Err(BuildError::Sink(ArrayFull { capacity: 2 }))
        );
        let mut out = [GpaPageRange(0); 3];
        assert_eq!(
            collect_into(&mut runs, RangeOptions::LINUX, &mut out),
            Ok(3)
        );
    }
}
