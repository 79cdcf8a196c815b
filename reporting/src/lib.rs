//! Free page reporting: hand free guest memory back to the host.
//!
//! Three layers, each usable on its own:
//!
//! * [`buddy`] — a reference buddy allocator (4 KiB frames, orders 0–10) with Linux's
//!   per-free-block *reported* flag. The simulator uses it as the guest's allocator; a Rust
//!   kernel could adopt it. It implements [`FreeMemory`].
//! * [`engine`] — the page-reporting engine with Linux's semantics (IDLE/REQUESTED/ACTIVE, 2 s
//!   delay, 32 blocks per batch, per-list budget, zone watermark gate, isolation while a batch is
//!   being reported, put-back at the tail) over the [`FreeMemory`] trait, plus a second policy
//!   ([`Policy::Coalesced`]) that reports physically adjacent free blocks as one range.
//! * [`hyperv`] — the Hyper-V cold-discard reporter: turns a batch into `HV_GPA_PAGE_RANGE`s
//!   with the `hvcall` range builder and issues `HvExtCallMemoryHeatHint` rep calls, with Linux's
//!   failure policy. It is what Linux's page-reporting callback calls in the kernel module, and
//!   the [`ReportSink`] the engine drives everywhere else.
//!
//! With the `sim` feature, [`harness`] adds the "nothing lost" guest-memory model that checks
//! every discard against live data.
//!
//! See `docs/page-reporting.md` for how this maps onto Linux's design.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod buddy;
pub mod engine;
#[cfg(feature = "sim")]
pub mod harness;
pub mod hyperv;
mod types;

pub use buddy::BuddyAllocator;
pub use engine::{EngineConfig, EngineState, Policy, ReportingEngine};
pub use hyperv::{HvReporter, HvReporterConfig};
pub use types::*;
