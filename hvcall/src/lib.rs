//! The Hyper-V hypercall ABI for guests, `no_std` and allocation-free on the call path.
//!
//! Layers, bottom up:
//!
//! * wire values: [`Control`] (input value, fact sheet C.1), [`HypercallOutput`] (result, C.2),
//!   [`HvStatus`]/[`HvError`]/[`HvResult`] (C.7), [`HypercallCode`], [`GpaPageRange`] (D.5),
//!   [`MemoryHintHeader`]/[`HeatType`] (D.4), [`ExtCapabilities`] (D.3);
//! * [`HvPage`]: a 4 KiB, 4 KiB-aligned input/output page whose writers fail instead of
//!   truncating (C.5);
//! * [`HypercallBackend`]: the raw call with backend-owned input/output pages — real ones in
//!   [`arch`], a simulated hypervisor in `sim` (feature `sim`);
//! * [`Hypercalls`]: the safe layer — simple calls, rep calls restarted from "reps completed"
//!   (C.6), `HvExtCallQueryCapabilities` (0x8001) and `HvExtCallMemoryHeatHint` (0x8003);
//! * [`builder`]: free runs → the fewest valid GPA page ranges;
//! * [`discovery`]: CPUID-based Hyper-V detection and the extended-hypercall privilege (D.1);
//! * [`setup`]: the guest OS id and hypercall MSR values (C.3).
//!
//! The ABI with sources is summarised in `docs/hvcall.md`.
//!
//! # Reporting free memory
//! ```
//! # #[cfg(feature = "sim")] {
//! use hvcall::{FreeRun, HeatType, Hypercalls, RangeOptions, sim::SimHypervisor};
//!
//! let mut sim = SimHypervisor::new(1 << 19); // 2 GiB guest
//! let cold_discard = {
//!     let cpu = sim.cpuid_view();
//!     Hypercalls::new(&mut sim).cold_discard_supported(&cpu).unwrap()
//! };
//! assert!(cold_discard);
//! let mut hc = Hypercalls::new(&mut sim);
//! let runs = [FreeRun::new(0x40200, 512), FreeRun::new(0x12340, 16)];
//! let mut sorted = runs;
//! sorted.sort_unstable();
//! let done = hc.heat_hint_runs(HeatType::COLD_DISCARD, sorted, RangeOptions::LINUX).unwrap();
//! assert_eq!(done.frames, 528);
//! assert_eq!(sim.backed_frames(), (1 << 19) - 528);
//! # }
//! ```
#![no_std]
#![deny(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod arch;
mod backend;
pub mod builder;
mod control;
pub mod discovery;
mod ext;
mod hypercalls;
mod page;
mod range;
pub mod setup;
#[cfg(feature = "sim")]
pub mod sim;
mod status;

pub use backend::HypercallBackend;
pub use builder::{BuildError, FreeRun, RangeBuilder, RangeError, RangeOptions};
pub use control::{Control, HypercallCode, HypercallOutput};
pub use discovery::{
    CpuId, CpuIdResult, HyperVInfo, PartitionPrivileges, extended_hypercalls_allowed,
};
pub use ext::{
    ExtCapabilities, HEAT_HINT_HEADER_SIZE, HeatType, MAX_HEAT_HINT_RANGES, MemoryHintHeader,
    heat_hint_range_offset,
};
pub use hypercalls::{
    CallError, HeatHintError, HeatHintFailure, HeatHintWriter, HintProgress, Hypercalls, RepError,
    RepErrorKind,
};
pub use page::{HV_PAGE_SHIFT, HV_PAGE_SIZE, HvPage, LayoutError, PageOverflow};
pub use range::{
    FRAMES_PER_1G, FRAMES_PER_2M, GpaPageRange, GpaRangeError, MAX_UNITS_PER_RANGE, PFN_LIMIT,
    PageUnit,
};
pub use status::{HvError, HvResult, HvStatus};

// Hyper-V is little-endian only; the wire types are native-endian integers.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "Hyper-V guests are little-endian"
);
