//! Free page reporting: hand free guest memory back to the host.
//!
//! Three layers, each usable on its own:
//!
//! * [`buddy`] — a reference buddy allocator (4 KiB frames, orders 0–10) with Linux's
//!   per-free-block *reported* flag. The simulator uses it as the guest's allocator; a Rust
//!   kernel could adopt it. It implements [`FreeMemory`].
//! * [`zone`] — DMA / DMA32 / Normal zones, each a buddy allocator, with Linux's per-zone
//!   watermarks, lowmem reserves and zone fallback order ([`ZonedAllocator`], also a
//!   [`FreeMemory`]).
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
//!
//! # Example
//! A 1 GiB guest whose memory is all free, reported with the `coalesced` policy to the
//! simulated hypervisor (virtual time: every pass runs at its deadline).
//! ```
//! use core::time::Duration;
//! use hv_reporting::hyperv::HvReporterConfig;
//! use hv_reporting::{BuddyAllocator, EngineConfig, HvReporter, Policy, ReportingEngine};
//! use hvcall::sim::SimHypervisor;
//!
//! let frames = 1 << 18;
//! let mut mem = BuddyAllocator::new(0, frames).unwrap();
//! let mut hv = SimHypervisor::new(frames);
//! let cpu = hv.cpuid_view();
//! let mut reporter = HvReporter::probe(&mut hv, &cpu, HvReporterConfig::default());
//! let policy: Policy = "coalesced".parse().unwrap();
//! let mut engine = ReportingEngine::new(EngineConfig::new(policy));
//! engine.register(Duration::ZERO);
//! while let Some(now) = engine.next_deadline() {
//!     engine.run(&mut mem, &mut reporter.sink(&mut hv), now);
//! }
//! assert_eq!(mem.unreported_pages(9), 0);
//! assert_eq!(hv.backed_frames(), 0, "all of it went back to the host");
//! assert!(reporter.stats().hypercalls <= 2);
//! ```
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
pub mod zone;

pub use buddy::BuddyAllocator;
pub use engine::{EngineConfig, EngineState, Policy, ReportingEngine};
pub use hyperv::{HvReporter, HvReporterConfig};
pub use types::*;
pub use zone::{ZoneKind, ZonedAllocator};
