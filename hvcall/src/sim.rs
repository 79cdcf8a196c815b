//! A simulated Hyper-V for tests (feature `sim`): [`SimHypervisor`].
//!
//! It implements [`HypercallBackend`] and [`CpuId`], decodes the input page the way the fact
//! sheet says Hyper-V does, tracks which 4 KiB guest frames are backed by host memory, and
//! injects faults. It is fully deterministic: the only randomness (optional partial completion)
//! comes from a caller-supplied seed.
//!
//! # What it checks, in order
//! | check | status | source |
//! |---|---|---|
//! | injected call failure ([`FailPlan`]) | the chosen status | — |
//! | RsvdZ bits of the control word set | `INVALID_HYPERCALL_INPUT` | C.1, C.6 |
//! | fast or nested bit set | `INVALID_HYPERCALL_INPUT` | sim choice: memory-based, not nested |
//! | extended call without the privilege | `ACCESS_DENIED` | sim choice (**UNVERIFIED**) |
//! | unknown call code | `INVALID_HYPERCALL_CODE` | C.7 |
//! | variable header size ≠ 0 | `INVALID_HYPERCALL_INPUT` | C.1 |
//! | simple call with rep count or rep start ≠ 0 | `INVALID_HYPERCALL_INPUT` | C.6 |
//! | rep call with rep count 0, or rep start ≥ rep count | `INVALID_HYPERCALL_INPUT` | C.6 |
//! | heat hint rep count > 511 (list runs past the input page) | `INVALID_ALIGNMENT` | C.5, D.4 |
//! | heat hint header reserved bits 63:2 set, heat type 3 | `INVALID_PARAMETER` | sim choice |
//! | cold discard without the capability | `INVALID_PARAMETER` | sim choice |
//! | per range: `reserved1` set, 1 GiB base not 1 GiB aligned | `INVALID_PARAMETER` | sim choice |
//! | per range: 4 KiB form on an "old host" | `INVALID_PARAMETER` | D.5, B.2 |
//! | per range: outside guest memory | `INVALID_PARAMETER` | sim choice |
//!
//! A failing range stops the call with "reps completed" = its index (absolute, C.6); ranges
//! before it have taken effect.

use std::boxed::Box;
use std::vec::Vec;

use crate::backend::HypercallBackend;
use crate::control::{Control, HypercallCode, HypercallOutput};
use crate::discovery::{CpuId, CpuIdResult, FixedCpuId, PartitionPrivileges};
use crate::ext::{
    ExtCapabilities, HeatType, MAX_HEAT_HINT_RANGES, MemoryHintHeader, heat_hint_range_offset,
};
use crate::page::HvPage;
use crate::range::{GpaPageRange, PageUnit};
use crate::status::HvStatus;

/// When injected call failures fire.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FailPlan {
    /// The status the failing calls return.
    pub status: HvStatus,
    /// Calls that succeed normally before failures start.
    pub after_calls: u64,
    /// How many calls fail (`None` = every call from then on).
    pub times: Option<u64>,
}

impl FailPlan {
    /// Fail the next call once.
    pub const fn once(status: HvStatus) -> Self {
        Self {
            status,
            after_calls: 0,
            times: Some(1),
        }
    }

    /// Fail every call.
    pub const fn always(status: HvStatus) -> Self {
        Self {
            status,
            after_calls: 0,
            times: None,
        }
    }

    /// Let `calls` calls through first.
    pub const fn after_calls(self, calls: u64) -> Self {
        Self {
            after_calls: calls,
            ..self
        }
    }
}

/// One range a cold-discard hint unbacked (or re-hinted), in 4 KiB frames.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DiscardRecord {
    /// First 4 KiB frame.
    pub first_pfn: u64,
    /// Number of frames.
    pub frame_count: u64,
}

/// One hypercall as the simulator saw it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// The control word.
    pub control: Control,
    /// The result returned.
    pub result: HypercallOutput,
}

/// Counters kept by the simulator.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct SimStats {
    /// Hypercalls issued (every code, failed ones included).
    pub calls: u64,
    /// Calls that returned a status other than success.
    pub failed_calls: u64,
    /// `HvExtCallQueryCapabilities` calls.
    pub query_capabilities_calls: u64,
    /// `HvExtCallMemoryHeatHint` calls.
    pub heat_hint_calls: u64,
    /// Heat hint calls that returned success with fewer reps than requested.
    pub partial_calls: u64,
    /// Heat hint ranges that took effect.
    pub ranges: u64,
    /// Frames named by ranges that took effect (any heat type).
    pub frames_hinted: u64,
    /// Frames a cold-discard hint moved from backed to unbacked.
    pub frames_discarded: u64,
    /// Frames a guest write backed again after a discard.
    pub frames_refaulted: u64,
}

/// The simulated hypervisor. See the [module docs](self).
pub struct SimHypervisor {
    input: Box<HvPage>,
    output: Box<HvPage>,
    guest_frames: u64,
    backed: Vec<u64>,
    backed_count: u64,
    privileges: PartitionPrivileges,
    capabilities: ExtCapabilities,
    reject_small_ranges: bool,
    reps_per_call: Option<u16>,
    partial_rng: Option<u64>,
    no_progress: bool,
    fail_plan: Option<FailPlan>,
    fail_calls_seen: u64,
    fail_element: Option<(u64, HvStatus)>,
    elements_seen: u64,
    stats: SimStats,
    discards: Vec<DiscardRecord>,
    record_discards: bool,
    record_calls: bool,
    calls: Vec<CallRecord>,
}

impl core::fmt::Debug for SimHypervisor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimHypervisor")
            .field("guest_frames", &self.guest_frames)
            .field("backed_frames", &self.backed_count)
            .field("privileges", &self.privileges)
            .field("capabilities", &self.capabilities)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl SimHypervisor {
    /// A partition with `guest_frames` 4 KiB frames of RAM (GPA 0 up), all backed, extended
    /// hypercalls allowed, the cold-discard capability present, no faults.
    ///
    /// Frame tracking is a bitmap of `guest_frames / 8` bytes (512 KiB for a 16 GiB guest).
    pub fn new(guest_frames: u64) -> Self {
        let words = usize::try_from(guest_frames.div_ceil(64)).unwrap_or(usize::MAX);
        let mut sim = Self {
            input: HvPage::new_boxed().unwrap_or_else(|_| Box::new(HvPage::zeroed())),
            output: HvPage::new_boxed().unwrap_or_else(|_| Box::new(HvPage::zeroed())),
            guest_frames,
            backed: std::vec![0; words],
            backed_count: 0,
            privileges: PartitionPrivileges::ACCESS_HYPERCALL_MSRS
                | PartitionPrivileges::ENABLE_EXTENDED_HYPERCALLS,
            capabilities: ExtCapabilities::COLD_DISCARD_HINT,
            reject_small_ranges: false,
            reps_per_call: None,
            partial_rng: None,
            no_progress: false,
            fail_plan: None,
            fail_calls_seen: 0,
            fail_element: None,
            elements_seen: 0,
            stats: SimStats::default(),
            discards: Vec::new(),
            record_discards: true,
            record_calls: false,
            calls: Vec::new(),
        };
        sim.set_backed(0, guest_frames, true);
        sim
    }

    // ----- configuration and fault injection -----

    /// Grant or refuse the EnableExtendedHypercalls privilege (CPUID and enforcement).
    pub fn set_extended_hypercalls(&mut self, allowed: bool) {
        self.privileges
            .set(PartitionPrivileges::ENABLE_EXTENDED_HYPERCALLS, allowed);
    }

    /// Report (or not) the cold-discard capability (bit 8); without it cold-discard hints fail
    /// with `INVALID_PARAMETER`.
    pub fn set_cold_discard_capability(&mut self, present: bool) {
        self.capabilities
            .set(ExtCapabilities::COLD_DISCARD_HINT, present);
    }

    /// The whole capability mask `HvExtCallQueryCapabilities` returns.
    pub fn set_capabilities(&mut self, caps: ExtCapabilities) {
        self.capabilities = caps;
    }

    /// Behave like an older host: reject 4 KiB-form (sub-2 MiB) ranges with
    /// `INVALID_PARAMETER` (fact sheet D.5).
    pub fn set_reject_small_ranges(&mut self, reject: bool) {
        self.reject_small_ranges = reject;
    }

    /// Complete at most `reps` elements per call, then return success early (`None`: all).
    /// `Some(0)` is treated as 1: Hyper-V always attempts at least one rep (C.6).
    pub fn set_reps_per_call(&mut self, reps: Option<u16>) {
        self.reps_per_call = reps;
    }

    /// Complete a pseudo-random 1..=remaining elements per call, from `seed` (`None`: off).
    pub fn set_random_partial_completion(&mut self, seed: Option<u64>) {
        self.partial_rng = seed;
    }

    /// Misbehave: return success without completing any new element (to test the caller's
    /// no-progress guard).
    pub fn set_no_progress(&mut self, on: bool) {
        self.no_progress = on;
    }

    /// Fail calls as `plan` says (counting calls from now); `None` clears it.
    pub fn set_fail_plan(&mut self, plan: Option<FailPlan>) {
        self.fail_plan = plan;
        self.fail_calls_seen = 0;
    }

    /// Once `elements` more heat hint elements have been processed, fail the next one with
    /// `status` (one shot); `None` clears it.
    pub fn set_fail_after_elements(&mut self, plan: Option<(u64, HvStatus)>) {
        self.fail_element = plan;
        self.elements_seen = 0;
    }

    /// Keep the discard log ([`SimHypervisor::discards`]); on by default. Long runs that do not
    /// read it can turn it off to keep memory flat.
    pub fn set_record_discards(&mut self, on: bool) {
        self.record_discards = on;
    }

    /// Keep a log of every call's control word and result ([`SimHypervisor::call_log`]).
    pub fn set_record_calls(&mut self, on: bool) {
        self.record_calls = on;
    }

    // ----- observation -----

    /// The CPUID answers of this partition (a copy, usable while the simulator is borrowed).
    pub fn cpuid_view(&self) -> FixedCpuId {
        FixedCpuId::hyperv(self.privileges)
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Guest RAM size in 4 KiB frames.
    pub fn guest_frames(&self) -> u64 {
        self.guest_frames
    }

    /// Frames currently backed by host memory (host-committed memory, in 4 KiB frames).
    pub fn backed_frames(&self) -> u64 {
        self.backed_count
    }

    /// Whether `pfn` is backed (false outside guest memory).
    pub fn is_backed(&self, pfn: u64) -> bool {
        if pfn >= self.guest_frames {
            return false;
        }
        let (w, b) = word_bit(pfn);
        self.backed.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    /// Ranges discarded so far, in call order.
    pub fn discards(&self) -> &[DiscardRecord] {
        &self.discards
    }

    /// Take the discard log (e.g. for a guest model that poisons those frames).
    pub fn take_discards(&mut self) -> Vec<DiscardRecord> {
        core::mem::take(&mut self.discards)
    }

    /// Recorded calls (see [`SimHypervisor::set_record_calls`]).
    pub fn call_log(&self) -> &[CallRecord] {
        &self.calls
    }

    // ----- the guest touching memory -----

    /// The guest writes `pfn`: the host backs it again. Returns whether it had been unbacked
    /// (a refault). Frames outside guest memory are ignored (`false`).
    pub fn guest_write(&mut self, pfn: u64) -> bool {
        if pfn >= self.guest_frames || self.is_backed(pfn) {
            return false;
        }
        self.set_backed(pfn, 1, true);
        self.stats.frames_refaulted += 1;
        true
    }

    /// The guest writes every frame of `first_pfn..first_pfn + count` (clipped to guest
    /// memory). Returns how many were refaulted.
    pub fn guest_touch(&mut self, first_pfn: u64, count: u64) -> u64 {
        let end = first_pfn.saturating_add(count).min(self.guest_frames);
        if first_pfn >= end {
            return 0;
        }
        let n = self.set_backed(first_pfn, end - first_pfn, true);
        self.stats.frames_refaulted += n;
        n
    }

    /// Set frames [first, first + count) (inside guest memory) to `backed`; returns how many
    /// changed. Word-at-a-time.
    fn set_backed(&mut self, first: u64, count: u64, backed: bool) -> u64 {
        let end = first + count;
        let mut pos = first;
        let mut changed = 0u64;
        while pos < end {
            let (w, b) = word_bit(pos);
            let n = (64 - b as u64).min(end - pos);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << b
            };
            if let Some(word) = self.backed.get_mut(w) {
                let before = *word;
                *word = if backed {
                    before | mask
                } else {
                    before & !mask
                };
                changed += u64::from((before ^ *word).count_ones());
            }
            pos += n;
        }
        if backed {
            self.backed_count += changed;
        } else {
            self.backed_count -= changed;
        }
        changed
    }

    // ----- the hypercall -----

    fn dispatch(&mut self, control: Control) -> HypercallOutput {
        let start = control.rep_start();
        let fail = |status: HvStatus| HypercallOutput::new(status, start);

        if let Some(plan) = self.fail_plan {
            let seen = self.fail_calls_seen;
            self.fail_calls_seen += 1;
            let firing =
                seen >= plan.after_calls && plan.times.is_none_or(|t| seen - plan.after_calls < t);
            if firing {
                return fail(plan.status);
            }
        }
        if control.reserved_bits() != 0 || control.fast() || control.nested() {
            return fail(HvStatus::INVALID_HYPERCALL_INPUT);
        }
        let code = control.code();
        if code.is_extended() && !self.privileges.extended_hypercalls_allowed() {
            return fail(HvStatus::ACCESS_DENIED);
        }
        match code {
            HypercallCode::EXT_QUERY_CAPABILITIES => {
                self.stats.query_capabilities_calls += 1;
                if control.variable_header_size() != 0 || control.rep_count() != 0 || start != 0 {
                    return fail(HvStatus::INVALID_HYPERCALL_INPUT);
                }
                self.output.clear();
                let _ = self.output.write_at(0, &self.capabilities.bits());
                HypercallOutput::SUCCESS
            }
            HypercallCode::EXT_MEMORY_HEAT_HINT => {
                self.stats.heat_hint_calls += 1;
                self.heat_hint(control)
            }
            _ => fail(HvStatus::INVALID_HYPERCALL_CODE),
        }
    }

    fn heat_hint(&mut self, control: Control) -> HypercallOutput {
        let count = control.rep_count();
        let start = control.rep_start();
        let fail = |status: HvStatus| HypercallOutput::new(status, start);
        if control.variable_header_size() != 0 || count == 0 || start >= count {
            return fail(HvStatus::INVALID_HYPERCALL_INPUT);
        }
        if usize::from(count) > MAX_HEAT_HINT_RANGES {
            return fail(HvStatus::INVALID_ALIGNMENT);
        }
        let header = MemoryHintHeader(self.input.qword(0).unwrap_or(0));
        let heat = header.heat_type();
        if header.reserved_bits() != 0 || heat.name().is_none() {
            return fail(HvStatus::INVALID_PARAMETER);
        }
        if heat == HeatType::COLD_DISCARD
            && !self
                .capabilities
                .contains(ExtCapabilities::COLD_DISCARD_HINT)
        {
            return fail(HvStatus::INVALID_PARAMETER);
        }
        if self.no_progress {
            return HypercallOutput::new(HvStatus::SUCCESS, start);
        }
        let remaining = count - start;
        let mut budget = self
            .reps_per_call
            .map_or(remaining, |n| n.max(1))
            .min(remaining);
        if let Some(state) = self.partial_rng.as_mut() {
            let r = splitmix64(state);
            budget = budget.min(1 + (r % u64::from(remaining)) as u16);
        }
        let stop = start + budget;
        for index in start..stop {
            if let Some((after, status)) = self.fail_element {
                if self.elements_seen >= after {
                    self.fail_element = None;
                    return HypercallOutput::new(status, index);
                }
            }
            let raw = self
                .input
                .read_at::<GpaPageRange>(heat_hint_range_offset(index.into()));
            let Some(range) = raw else {
                return HypercallOutput::new(HvStatus::INVALID_ALIGNMENT, index);
            };
            let (first, frames) = match range.decode() {
                Ok(v) => v,
                Err(_) => return HypercallOutput::new(HvStatus::INVALID_PARAMETER, index),
            };
            if self.reject_small_ranges && range.unit() == PageUnit::Size4K {
                return HypercallOutput::new(HvStatus::INVALID_PARAMETER, index);
            }
            if first >= self.guest_frames || frames > self.guest_frames - first {
                return HypercallOutput::new(HvStatus::INVALID_PARAMETER, index);
            }
            self.elements_seen += 1;
            self.stats.ranges += 1;
            self.stats.frames_hinted += frames;
            if heat == HeatType::COLD_DISCARD {
                self.stats.frames_discarded += self.set_backed(first, frames, false);
                if self.record_discards {
                    self.discards.push(DiscardRecord {
                        first_pfn: first,
                        frame_count: frames,
                    });
                }
            }
        }
        if stop < count {
            self.stats.partial_calls += 1;
        }
        HypercallOutput::new(HvStatus::SUCCESS, stop)
    }
}

impl HypercallBackend for SimHypervisor {
    fn input_page(&mut self) -> &mut HvPage {
        &mut self.input
    }

    fn output_page(&self) -> &HvPage {
        &self.output
    }

    fn call(&mut self, control: Control) -> HypercallOutput {
        self.stats.calls += 1;
        let result = self.dispatch(control);
        if result.status().is_err() {
            self.stats.failed_calls += 1;
        }
        if self.record_calls {
            self.calls.push(CallRecord { control, result });
        }
        result
    }
}

impl CpuId for SimHypervisor {
    fn cpuid(&self, leaf: u32) -> CpuIdResult {
        self.cpuid_view().cpuid(leaf)
    }
}

fn word_bit(pfn: u64) -> (usize, u32) {
    (
        usize::try_from(pfn / 64).unwrap_or(usize::MAX),
        (pfn % 64) as u32,
    )
}

/// SplitMix64 step (deterministic, seedable).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
