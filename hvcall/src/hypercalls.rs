//! The safe layer over a [`HypercallBackend`]: simple calls, rep calls with restart, and the
//! extended calls used for free memory reporting.

use crate::backend::HypercallBackend;
use crate::builder::{FreeRun, RangeBuilder, RangeError, RangeOptions};
use crate::control::{Control, HypercallCode};
use crate::discovery::CpuId;
use crate::ext::{
    ExtCapabilities, HeatType, MAX_HEAT_HINT_RANGES, MemoryHintHeader, heat_hint_range_offset,
};
use crate::page::{HvPage, LayoutError};
use crate::range::GpaPageRange;
use crate::status::HvError;

/// A simple (non-rep) call failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The hypervisor returned an error status.
    #[error("hypercall failed: {0}")]
    Status(HvError),
    /// The input did not fit the input page (nothing was issued).
    #[error("hypercall input rejected before the call: {0}")]
    Input(#[from] LayoutError),
}

impl CallError {
    /// The hypervisor status, if the call was issued and failed.
    pub const fn status(&self) -> Option<HvError> {
        match self {
            Self::Status(e) => Some(*e),
            Self::Input(_) => None,
        }
    }
}

/// Why a rep call stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RepErrorKind {
    /// The hypervisor returned an error status.
    #[error("hypercall failed: {0}")]
    Status(HvError),
    /// The backend reported success but no new completed reps (would loop forever).
    #[error(
        "hypercall reported success without progress (rep start {rep_start}, reps completed {reps_completed})"
    )]
    NoProgress {
        /// Rep start index of the call.
        rep_start: u16,
        /// Reps completed it reported.
        reps_completed: u16,
    },
    /// The input did not fit the input page (nothing was issued).
    #[error("hypercall input rejected before the call: {0}")]
    Input(#[from] LayoutError),
    /// Rep count must be 1..=4095 (12-bit field, fact sheet C.1).
    #[error("rep count {count} is outside 1..=4095")]
    BadRepCount {
        /// The rejected count.
        count: usize,
    },
}

/// A rep call stopped before every element was done.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} after {completed} completed elements")]
pub struct RepError {
    /// Why it stopped.
    pub kind: RepErrorKind,
    /// Elements completed, counted from element 0 of the request (absolute, like the
    /// hypervisor's "reps completed"; for chunked calls, across all chunks).
    pub completed: usize,
}

impl RepError {
    /// The hypervisor status, if a call was issued and failed.
    pub const fn status(&self) -> Option<HvError> {
        match self.kind {
            RepErrorKind::Status(e) => Some(e),
            _ => None,
        }
    }
}

/// What a heat hint sequence completed: only ranges the hypervisor accepted are counted.
///
/// Ranges go out in the order they were given (for [`Hypercalls::heat_hint_runs`]: ascending
/// GPA order), so on failure the first `frames` frames of the (sorted) input are done.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct HintProgress {
    /// Batches completed (one batch = one input page of ≤ 511 ranges, possibly several
    /// hypercalls if the hypervisor returned early).
    pub batches: u64,
    /// Ranges completed.
    pub ranges: u64,
    /// 4 KiB frames covered by the completed ranges.
    pub frames: u64,
}

/// Why a heat hint sequence stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeatHintFailure {
    /// A hypercall failed.
    #[error("{0}")]
    Hypercall(RepErrorKind),
    /// The free runs were invalid (the batch being filled was not sent).
    #[error("{0}")]
    Range(RangeError),
}

/// A heat hint sequence stopped; `progress` says what was completed before.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("memory heat hint stopped: {cause} (completed {} ranges, {} frames)", progress.ranges, progress.frames)]
pub struct HeatHintError {
    /// Why it stopped.
    pub cause: HeatHintFailure,
    /// What was completed.
    pub progress: HintProgress,
}

impl HeatHintError {
    /// The hypervisor status, if a call was issued and failed (e.g.
    /// [`HvError::INVALID_PARAMETER`] from a host that rejects sub-2 MiB ranges).
    pub const fn status(&self) -> Option<HvError> {
        match self.cause {
            HeatHintFailure::Hypercall(RepErrorKind::Status(e)) => Some(e),
            _ => None,
        }
    }
}

/// The safe hypercall layer over a backend.
///
/// Nothing here allocates or panics on hypervisor data.
#[derive(Debug)]
pub struct Hypercalls<B> {
    backend: B,
}

impl<B: HypercallBackend> Hypercalls<B> {
    /// Wrap a backend.
    pub const fn new(backend: B) -> Self {
        Self { backend }
    }

    /// The backend.
    pub const fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutable.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Unwrap the backend.
    pub fn into_inner(self) -> B {
        self.backend
    }

    /// The input page, to fill before [`Hypercalls::rep_call_prepared`].
    pub fn input_page(&mut self) -> &mut HvPage {
        self.backend.input_page()
    }

    /// A simple (non-rep, memory-based) call: `input` is copied to the start of the input page
    /// (an error if it exceeds 4096 bytes); on success the output page is returned.
    pub fn simple_call(&mut self, code: HypercallCode, input: &[u8]) -> Result<&HvPage, CallError> {
        self.backend
            .input_page()
            .write_bytes_at(0, input)
            .map_err(LayoutError::from)?;
        let out = self.backend.call(Control::new(code));
        out.result().map_err(CallError::Status)?;
        Ok(self.backend.output_page())
    }

    /// A rep call: `header` (a multiple of 8 bytes) then `elements` are written to the input
    /// page, then the call is issued and restarted until every element is done
    /// (see [`Hypercalls::rep_call_prepared`]).
    ///
    /// Errors before any call: header not a multiple of 8, input larger than the page, or
    /// 0 / more than 4095 elements.
    pub fn rep_call<H, E>(
        &mut self,
        code: HypercallCode,
        header: &H,
        elements: &[E],
    ) -> Result<(), RepError>
    where
        H: zerocopy::IntoBytes + zerocopy::Immutable + ?Sized,
        E: zerocopy::IntoBytes + zerocopy::Immutable,
    {
        let count = rep_count(elements.len()).map_err(|kind| RepError { kind, completed: 0 })?;
        self.backend
            .input_page()
            .write_header_and_elements(header, elements)
            .map_err(|e| RepError {
                kind: e.into(),
                completed: 0,
            })?;
        self.rep_call_prepared(code, count)
    }

    /// Issue a rep call whose input page is already filled, restarting it until all
    /// `rep_count` elements are done (fact sheet C.6):
    ///
    /// 1. issue with rep start = 0;
    /// 2. status ≠ success → stop with that status, `completed` = reps completed (absolute);
    /// 3. reps completed ≥ rep count → done;
    /// 4. reps completed ≤ rep start (success without progress) → stop with
    ///    [`RepErrorKind::NoProgress`] instead of looping forever;
    /// 5. otherwise rep start = reps completed, go to 2.
    ///
    /// At most `rep_count` calls are issued. On failure `completed` is clamped to
    /// `rep start..=rep_count`.
    pub fn rep_call_prepared(
        &mut self,
        code: HypercallCode,
        rep_count: u16,
    ) -> Result<(), RepError> {
        if rep_count == 0 || rep_count > Control::MAX_REP_COUNT {
            return Err(RepError {
                kind: RepErrorKind::BadRepCount {
                    count: rep_count.into(),
                },
                completed: 0,
            });
        }
        let mut start: u16 = 0;
        loop {
            let control = Control::new(code)
                .with_rep_count(rep_count)
                .with_rep_start(start);
            let out = self.backend.call(control);
            let done = out.reps_completed();
            if let Err(e) = out.result() {
                let completed = done.clamp(start, rep_count);
                return Err(RepError {
                    kind: RepErrorKind::Status(e),
                    completed: completed.into(),
                });
            }
            if done >= rep_count {
                return Ok(());
            }
            if done <= start {
                return Err(RepError {
                    kind: RepErrorKind::NoProgress {
                        rep_start: start,
                        reps_completed: done,
                    },
                    completed: start.into(),
                });
            }
            log::trace!("rep call {code:?}: {done}/{rep_count} done, restarting");
            start = done;
        }
    }

    /// `HvExtCallQueryCapabilities` (0x8001): simple call, no input, one u64 of output
    /// (fact sheet D.3). Check [`crate::extended_hypercalls_allowed`] first, as Linux does;
    /// the result does not change at runtime, so cache it.
    pub fn query_capabilities(&mut self) -> Result<ExtCapabilities, CallError> {
        let out = self.simple_call(HypercallCode::EXT_QUERY_CAPABILITIES, &[])?;
        Ok(ExtCapabilities::from_bits_retain(out.qword(0).unwrap_or(0)))
    }

    /// Whether cold-discard heat hints can be used: extended hypercalls allowed by the
    /// partition privileges (`cpu`, fact sheet D.1) and capability bit 8 set (D.3). Returns
    /// `Ok(false)` without a hypercall when the privilege is absent.
    pub fn cold_discard_supported(&mut self, cpu: &impl CpuId) -> Result<bool, CallError> {
        if !crate::discovery::extended_hypercalls_allowed(cpu) {
            return Ok(false);
        }
        Ok(self
            .query_capabilities()?
            .contains(ExtCapabilities::COLD_DISCARD_HINT))
    }

    /// `HvExtCallMemoryHeatHint` (0x8003) as a rep call over `ranges`, in calls of at most 511
    /// ranges (fact sheet D.4). `RepError::completed` counts ranges over all calls.
    pub fn memory_heat_hint(
        &mut self,
        heat: HeatType,
        ranges: &[GpaPageRange],
    ) -> Result<HintProgress, RepError> {
        let mut writer = self.heat_hint_writer(heat);
        let result = ranges
            .iter()
            .try_for_each(|&range| writer.push_raw(range))
            .and_then(|()| writer.flush_raw());
        let progress = writer.progress();
        match result {
            Ok(()) => Ok(progress),
            Err(kind) => Err(RepError {
                kind,
                completed: usize::try_from(progress.ranges).unwrap_or(usize::MAX),
            }),
        }
    }

    /// Report sorted free runs as heat hints: the runs go through a [`RangeBuilder`] with
    /// `options` and the ranges are written straight into the input page, 511 per batch
    /// (no allocation). Unsorted input: sort it first (`slice::sort_unstable`).
    ///
    /// On a bad run the batch being filled is *not* sent; `progress` tells what was done.
    pub fn heat_hint_runs<I>(
        &mut self,
        heat: HeatType,
        runs: I,
        options: RangeOptions,
    ) -> Result<HintProgress, HeatHintError>
    where
        I: IntoIterator<Item = FreeRun>,
    {
        let mut writer = self.heat_hint_writer(heat);
        let mut builder = RangeBuilder::new(options);
        let mut failure = None;
        for run in runs {
            if let Err(e) = builder.push(run, &mut |r| writer.push(r)) {
                failure = Some(e);
                break;
            }
        }
        if failure.is_none() {
            if let Err(e) = builder.finish(&mut |r| writer.push(r)) {
                failure = Some(e);
            }
        }
        match failure {
            None => writer.finish(),
            Some(crate::builder::BuildError::Sink(e)) => Err(e),
            Some(crate::builder::BuildError::Range(e)) => Err(HeatHintError {
                cause: HeatHintFailure::Range(e),
                progress: writer.progress(),
            }),
        }
    }

    /// A writer that fills the input page with heat hint ranges and issues a call each time
    /// 511 ranges are queued (and on [`HeatHintWriter::finish`]).
    pub fn heat_hint_writer(&mut self, heat: HeatType) -> HeatHintWriter<'_, B> {
        HeatHintWriter {
            hc: self,
            header: MemoryHintHeader::new(heat),
            queued: 0,
            progress: HintProgress::default(),
        }
    }
}

fn rep_count(len: usize) -> Result<u16, RepErrorKind> {
    match u16::try_from(len) {
        Ok(n) if n != 0 && n <= Control::MAX_REP_COUNT => Ok(n),
        _ => Err(RepErrorKind::BadRepCount { count: len }),
    }
}

/// Queues heat hint ranges directly in the hypercall input page (see
/// [`Hypercalls::heat_hint_writer`]).
///
/// Call [`HeatHintWriter::finish`] (or [`HeatHintWriter::flush`]) at the end: dropping the
/// writer discards the queued ranges without sending them.
#[derive(Debug)]
pub struct HeatHintWriter<'a, B: HypercallBackend> {
    hc: &'a mut Hypercalls<B>,
    header: MemoryHintHeader,
    queued: usize,
    progress: HintProgress,
}

impl<B: HypercallBackend> HeatHintWriter<'_, B> {
    /// Queue one range; issues the queued batch first if the page is full (511 ranges).
    pub fn push(&mut self, range: GpaPageRange) -> Result<(), HeatHintError> {
        self.push_raw(range).map_err(|kind| self.error(kind))
    }

    /// Issue the queued ranges now (nothing if none are queued).
    pub fn flush(&mut self) -> Result<(), HeatHintError> {
        self.flush_raw().map_err(|kind| self.error(kind))
    }

    /// Ranges queued in the page and not yet issued.
    pub const fn queued(&self) -> usize {
        self.queued
    }

    /// What has been completed so far.
    pub const fn progress(&self) -> HintProgress {
        self.progress
    }

    /// Issue what is queued and return the total progress.
    pub fn finish(mut self) -> Result<HintProgress, HeatHintError> {
        self.flush()?;
        Ok(self.progress)
    }

    fn error(&self, kind: RepErrorKind) -> HeatHintError {
        HeatHintError {
            cause: HeatHintFailure::Hypercall(kind),
            progress: self.progress,
        }
    }

    fn push_raw(&mut self, range: GpaPageRange) -> Result<(), RepErrorKind> {
        if self.queued >= MAX_HEAT_HINT_RANGES {
            self.flush_raw()?;
        }
        let page = self.hc.backend.input_page();
        if self.queued == 0 {
            page.write_at(0, &self.header)
                .map_err(|e| RepErrorKind::Input(e.into()))?;
        }
        page.write_at(heat_hint_range_offset(self.queued), &range)
            .map_err(|e| RepErrorKind::Input(e.into()))?;
        self.queued += 1;
        Ok(())
    }

    fn flush_raw(&mut self) -> Result<(), RepErrorKind> {
        if self.queued == 0 {
            return Ok(());
        }
        let count = self.queued;
        self.queued = 0;
        // `count` is 1..=511: always a valid 12-bit rep count.
        let reps = u16::try_from(count).unwrap_or(Control::MAX_REP_COUNT);
        let result = self
            .hc
            .rep_call_prepared(HypercallCode::EXT_MEMORY_HEAT_HINT, reps);
        let done = match result {
            Ok(()) => count,
            Err(e) => e.completed.min(count),
        };
        let page = self.hc.backend.input_page();
        let frames: u64 = (0..done)
            .filter_map(|i| page.read_at::<GpaPageRange>(heat_hint_range_offset(i)))
            .filter_map(|r| r.decode().ok())
            .map(|(_, n)| n)
            .sum();
        self.progress.ranges += done as u64;
        self.progress.frames += frames;
        match result {
            Ok(()) => {
                self.progress.batches += 1;
                Ok(())
            }
            Err(e) => Err(e.kind),
        }
    }
}
