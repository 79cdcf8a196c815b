//! The Hyper-V cold-discard reporter: what hv_balloon's page-reporting callback does, in Rust.
//!
//! [`HvReporter`] holds the reporter's state and counters; the hypercalls go through a
//! [`HypercallBackend`] passed per call, because in a kernel the input page is per CPU and is
//! only borrowed (interrupts off) for the duration of one batch. Nothing on the report path
//! allocates: each extent is covered with [`hvcall::builder::cover_run`] and the ranges are
//! written straight into the input page by [`hvcall::HeatHintWriter`], which issues
//! `HvExtCallMemoryHeatHint` (0x8003, heat type COLD_DISCARD) as a rep call of ≤ 511 ranges and
//! restarts it while the hypervisor returns early.
//!
//! * **Enablement** ([`HvReporter::probe`]): extended hypercalls must be allowed (CPUID
//!   0x40000003 EBX bit 20) and `HvExtCallQueryCapabilities` must report
//!   `COLD_DISCARD_HINT` (bit 8). Otherwise the reporter stays off, logs why once, and never
//!   issues a heat hint.
//! * **Encoding**: one extent at a time, never merged with its neighbours in the batch. A
//!   Linux block of order ≥ 9 becomes one range in 2 MiB units, a smaller one one range in
//!   4 KiB units — Linux's encoding (dm-protocol.md §7.5). A coalesced extent gets the fewest
//!   ranges the builder finds (1 GiB units only with [`HvReporterConfig::allow_1gib`]).
//! * **Failures** (dm-protocol.md §7.7): any failure fails the whole batch (its blocks go back
//!   unreported). The failure counter increments on a failure only once it is non-zero;
//!   `HV_STATUS_INVALID_PARAMETER` raises the reporting order to 9 ([`ReportSink::order_floor`])
//!   and increments it as well. At 2 the reporter asks to be disabled; like hv_balloon (which
//!   does it from its own thread, never from the callback) the owner applies it with
//!   [`HvReporter::poll_disable`] and then unregisters the engine.

use core::fmt;

use hvcall::builder::{BuildError, cover_run};
use hvcall::{
    CpuId, ExtCapabilities, FreeRun, HeatHintError, HeatHintFailure, HeatType, HvError, HvStatus,
    HypercallBackend, HypercallOutput, Hypercalls, RangeOptions, RepErrorKind,
};

use crate::types::{Extent, MAX_ORDER, PAGEBLOCK_ORDER, ReportError, ReportSink};

/// `HV_MAX_FAILURES`: counted failures after which reporting is disabled.
#[doc(alias = "HV_MAX_FAILURES")]
pub const MAX_FAILURES: u32 = 2;

/// Why the reporter is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisableReason {
    /// The partition may not make extended hypercalls (CPUID 0x40000003 EBX bit 20 clear).
    NoExtendedHypercalls,
    /// `HvExtCallQueryCapabilities` failed (Linux treats it as "no capabilities").
    CapabilityQueryFailed(HvStatus),
    /// The host does not offer the cold-discard hint (capability bit 8 clear).
    NoColdDiscardCapability,
    /// Two counted heat-hint failures.
    TooManyFailures,
    /// Turned off by its owner.
    Requested,
}

impl fmt::Display for DisableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoExtendedHypercalls => {
                f.write_str("the partition may not make extended hypercalls")
            }
            Self::CapabilityQueryFailed(s) => {
                write!(f, "HvExtCallQueryCapabilities failed with {s}")
            }
            Self::NoColdDiscardCapability => {
                f.write_str("cold memory discard hint not supported by Hyper-V")
            }
            Self::TooManyFailures => f.write_str("multiple heat hint failures"),
            Self::Requested => f.write_str("disabled by its owner"),
        }
    }
}

/// Whether the reporter reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReporterState {
    /// Cold-discard hints are issued.
    Enabled,
    /// Off, and why.
    Disabled(DisableReason),
}

/// Reporter configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvReporterConfig {
    /// Use 1 GiB range units for 1 GiB-aligned parts of an extent. Off by default: Linux
    /// never emits them and their semantics are UNVERIFIED (fact sheet D.5).
    pub allow_1gib: bool,
}

/// Number of distinct failure statuses counted individually; others go to
/// [`FailureCounts::other`].
const FAILURE_SLOTS: usize = 8;

/// Failed batches per hypervisor status (no allocation: a few fixed slots).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailureCounts {
    slots: [(u16, u64); FAILURE_SLOTS],
    /// Failures with a status that found no free slot.
    pub other_status: u64,
    /// Failures without a status: the hypervisor claimed success without progress, or the
    /// batch could not be encoded.
    pub no_status: u64,
}

impl FailureCounts {
    fn record(&mut self, status: Option<HvStatus>) {
        let Some(s) = status else {
            self.no_status += 1;
            return;
        };
        if let Some(slot) = self.slots.iter_mut().find(|(st, n)| *n > 0 && *st == s.0) {
            slot.1 += 1;
        } else if let Some(slot) = self.slots.iter_mut().find(|(_, n)| *n == 0) {
            *slot = (s.0, 1);
        } else {
            self.other_status += 1;
        }
    }

    /// Failures with `status`.
    pub fn get(&self, status: HvStatus) -> u64 {
        self.slots
            .iter()
            .find(|(s, n)| *n > 0 && *s == status.0)
            .map_or(0, |&(_, n)| n)
    }

    /// `(status, count)` for every status seen.
    pub fn iter(&self) -> impl Iterator<Item = (HvStatus, u64)> + '_ {
        self.slots
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|&(s, n)| (HvStatus(s), n))
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.slots.iter().map(|s| s.1).sum::<u64>() + self.other_status + self.no_status
    }
}

/// Reporter counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReporterStats {
    /// Batches received while enabled.
    pub batches: u64,
    /// Batches that failed.
    pub batches_failed: u64,
    /// Ranges the hypervisor accepted.
    pub ranges: u64,
    /// Heat-hint hypercalls issued (restarts of a partially completed rep call included).
    pub hypercalls: u64,
    /// Bytes in successful batches.
    pub bytes_reported: u64,
    /// Failed batches by status.
    pub failures: FailureCounts,
}

/// A backend wrapper that counts calls.
struct Counting<'c, B> {
    inner: B,
    calls: &'c mut u64,
}

impl<B: HypercallBackend> HypercallBackend for Counting<'_, B> {
    fn input_page(&mut self) -> &mut hvcall::HvPage {
        self.inner.input_page()
    }
    fn output_page(&self) -> &hvcall::HvPage {
        self.inner.output_page()
    }
    fn call(&mut self, control: hvcall::Control) -> HypercallOutput {
        *self.calls += 1;
        self.inner.call(control)
    }
}

/// The Hyper-V cold-discard reporter. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct HvReporter {
    cfg: HvReporterConfig,
    state: ReporterState,
    order_floor: u8,
    failures: u32,
    stats: ReporterStats,
}

impl HvReporter {
    /// Decide whether cold-discard reporting can be used, as hv_balloon does at probe: the
    /// extended-hypercall privilege from `cpu`, then one `HvExtCallQueryCapabilities` and
    /// capability bit 8. When either is missing the reporter is created disabled and logs the
    /// reason once; no heat hint will ever be issued.
    pub fn probe<B: HypercallBackend>(backend: B, cpu: &impl CpuId, cfg: HvReporterConfig) -> Self {
        let state = if !hvcall::extended_hypercalls_allowed(cpu) {
            ReporterState::Disabled(DisableReason::NoExtendedHypercalls)
        } else {
            match Hypercalls::new(backend).query_capabilities() {
                Err(e) => ReporterState::Disabled(DisableReason::CapabilityQueryFailed(
                    e.status().map_or(HvStatus(0xFFFF), HvError::status),
                )),
                Ok(caps) if !caps.contains(ExtCapabilities::COLD_DISCARD_HINT) => {
                    ReporterState::Disabled(DisableReason::NoColdDiscardCapability)
                }
                Ok(_) => ReporterState::Enabled,
            }
        };
        match state {
            ReporterState::Enabled => log::info!("cold memory discard hint enabled"),
            ReporterState::Disabled(r) => log::info!("free page reporting stays off: {r}"),
        }
        Self::with_state(cfg, state)
    }

    /// A reporter in a given state without probing (for a caller that already knows the
    /// capabilities, e.g. from a cached query).
    pub fn with_state(cfg: HvReporterConfig, state: ReporterState) -> Self {
        Self {
            cfg,
            state,
            order_floor: 0,
            failures: 0,
            stats: ReporterStats::default(),
        }
    }

    /// Enabled or disabled and why.
    pub fn state(&self) -> ReporterState {
        self.state
    }

    /// Whether heat hints are issued.
    pub fn is_enabled(&self) -> bool {
        self.state == ReporterState::Enabled
    }

    /// Counters.
    pub fn stats(&self) -> &ReporterStats {
        &self.stats
    }

    /// The current failure count (`hv_hypercall_multi_failure`).
    pub fn failure_count(&self) -> u32 {
        self.failures
    }

    /// The lowest order the host accepts as far as we know: 0, or 9 after
    /// `HV_STATUS_INVALID_PARAMETER`. The engine (or Linux's `page_reporting_order`) must report
    /// at `max(configured, this)`.
    pub fn order_floor(&self) -> u8 {
        self.order_floor
    }

    /// The order in force for a configured order `configured`.
    pub fn current_order(&self, configured: u8) -> u8 {
        configured.max(self.order_floor).min(MAX_ORDER)
    }

    /// Whether the failure count asks for reporting to be disabled.
    pub fn disable_requested(&self) -> bool {
        self.failures >= MAX_FAILURES && self.is_enabled()
    }

    /// Apply a pending disable, from outside the report path (hv_balloon's DM thread, about
    /// once a second). Returns the reason when the reporter has just been disabled; the caller
    /// then unregisters the engine ([`ReportingEngine::unregister`](crate::ReportingEngine::unregister))
    /// or Linux's page reporting.
    pub fn poll_disable(&mut self) -> Option<DisableReason> {
        if !self.disable_requested() {
            return None;
        }
        self.failures = 0;
        self.state = ReporterState::Disabled(DisableReason::TooManyFailures);
        log::warn!("multiple failures in cold memory discard hypercall, disabling page reporting");
        Some(DisableReason::TooManyFailures)
    }

    /// Turn reporting off (module unload, resume failure).
    pub fn disable(&mut self) {
        self.state = ReporterState::Disabled(DisableReason::Requested);
    }

    /// Report one batch of free, isolated extents as cold-discard hints through `backend`.
    ///
    /// `Ok` when every range was accepted; on `Err` the caller must return the whole batch
    /// unreported. Does not allocate.
    pub fn report<B, I>(&mut self, backend: B, batch: I) -> Result<(), ReportError>
    where
        B: HypercallBackend,
        I: IntoIterator<Item = Extent>,
    {
        if !self.is_enabled() {
            return Err(ReportError::Disabled);
        }
        self.stats.batches += 1;
        let options = RangeOptions::LINUX.allow_1gib(self.cfg.allow_1gib);
        let mut calls = 0u64;
        let mut bytes = 0u64;
        let result = {
            let mut hc = Hypercalls::new(Counting {
                inner: backend,
                calls: &mut calls,
            });
            let mut writer = hc.heat_hint_writer(HeatType::COLD_DISCARD);
            let mut failed: Option<Result<HeatHintError, ()>> = None;
            for e in batch {
                let run = FreeRun::new(e.pfn, e.pages);
                match cover_run(run, options, &mut |r| writer.push(r)) {
                    Ok(()) => bytes += e.bytes(),
                    Err(BuildError::Sink(h)) => {
                        failed = Some(Ok(h));
                        break;
                    }
                    Err(BuildError::Range(_)) => {
                        failed = Some(Err(()));
                        break;
                    }
                }
            }
            match failed {
                None => writer.finish().map_err(Ok),
                Some(f) => {
                    // Ranges already issued stay issued (they were free); the batch fails.
                    let p = writer.progress();
                    Err(f.map(|h| HeatHintError { progress: p, ..h }))
                }
            }
        };
        self.stats.hypercalls += calls;
        match result {
            Ok(progress) => {
                self.stats.ranges += progress.ranges;
                self.stats.bytes_reported += bytes;
                Ok(())
            }
            Err(Ok(h)) => {
                self.stats.ranges += h.progress.ranges;
                Err(self.failed(h))
            }
            Err(Err(())) => {
                self.stats.batches_failed += 1;
                self.stats.failures.record(None);
                log::error!("cold memory discard: batch holds a range that cannot be encoded");
                Err(ReportError::BadBatch)
            }
        }
    }

    /// Report a batch as Linux's callback receives it: `(first frame, order)` blocks.
    pub fn report_blocks<B: HypercallBackend>(
        &mut self,
        backend: B,
        blocks: &[(u64, u8)],
    ) -> Result<(), ReportError> {
        if blocks.iter().any(|&(_, o)| o >= 52) {
            return Err(ReportError::BadBatch);
        }
        self.report(
            backend,
            blocks.iter().map(|&(pfn, order)| Extent::block(pfn, order)),
        )
    }

    /// The failure policy of dm-protocol.md §7.7.
    fn failed(&mut self, h: HeatHintError) -> ReportError {
        self.stats.batches_failed += 1;
        let status = h.status().map(HvError::status);
        self.stats.failures.record(status);
        match status {
            Some(s) => log::warn!("cold memory discard hypercall failed with status {s}"),
            None => log::warn!("cold memory discard hypercall failed: {}", h.cause),
        }
        if self.failures > 0 {
            self.failures += 1;
        }
        if status == Some(HvStatus::INVALID_PARAMETER) {
            log::warn!(
                "the host rejects reporting orders below {PAGEBLOCK_ORDER}; using order {PAGEBLOCK_ORDER}"
            );
            self.order_floor = PAGEBLOCK_ORDER;
            self.failures += 1;
        }
        match (status, h.cause) {
            (Some(s), _) => ReportError::Hypercall(s.0),
            (None, HeatHintFailure::Hypercall(RepErrorKind::NoProgress { .. })) => {
                ReportError::NoProgress
            }
            (None, _) => ReportError::BadBatch,
        }
    }

    /// A [`ReportSink`] that reports through `backend`, for
    /// [`ReportingEngine::run`](crate::ReportingEngine::run).
    pub fn sink<B: HypercallBackend>(&mut self, backend: B) -> HvSink<'_, B> {
        HvSink {
            reporter: self,
            backend,
        }
    }
}

/// [`HvReporter`] + a backend as a [`ReportSink`]; see [`HvReporter::sink`].
pub struct HvSink<'r, B> {
    reporter: &'r mut HvReporter,
    backend: B,
}

impl<B: HypercallBackend> ReportSink for HvSink<'_, B> {
    fn report(&mut self, batch: &[Extent]) -> Result<(), ReportError> {
        self.reporter
            .report(&mut self.backend, batch.iter().copied())
    }

    fn order_floor(&self) -> u8 {
        self.reporter.order_floor()
    }
}

impl<B> fmt::Debug for HvSink<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HvSink")
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}
