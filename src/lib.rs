//! hv-dynmem: the Hyper-V Dynamic Memory guest driver core.
//!
//! This crate is what a guest kernel links: the Dynamic Memory wire protocol ([`protocol`]:
//! zerocopy wire types, a parser that never trusts a count, encoders), the sans-IO driver
//! state machine ([`driver`]: negotiation, capabilities, status reports, balloon up/down,
//! hot-add, info messages, suspend/resume) and the one trait it acts through ([`os`]). It is
//! `no_std` + `alloc`, has no `unsafe` and does no I/O: bytes come in through a
//! [`vmbus::Channel`], actions go out through [`os::GuestMemory`], time is an argument.
//! It is not the simulator (`hv-sim`), the command line (`hv-dynmem` binary in `cli/`), the
//! page-cache reclaim policies (`hv-reclaim`) or the Linux module (`kmod/`). Features: `std`
//! adds the JSON decoder of DM messages; `sim` adds the public test doubles ([`sim`]: a
//! simulated DM host and a strict fake OS); `dm-host` the simulated host alone, `no_std`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub use hv_reporting as reporting;
pub use hvcall;
pub use vmbus;
pub mod driver;
pub mod os;
pub mod protocol;
#[cfg(feature = "sim")]
pub mod sim;
/// The simulated DM host alone (feature `dm-host` without `sim`): `no_std` + `alloc`, at the
/// same path as with `sim`, so the kernel self-test can run it.
#[cfg(all(feature = "dm-host", not(feature = "sim")))]
pub mod sim {
    pub mod dm_host;
}
