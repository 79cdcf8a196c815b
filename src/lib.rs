//! hv-dynmem: the Hyper-V Dynamic Memory guest driver core.
//!
//! A sans-IO state machine that speaks the VMBus Dynamic Memory protocol with the host and
//! hands free memory back through Hyper-V cold-discard hints. `no_std` + `alloc`; `std` only
//! behind the `std` feature (simulator, CLI).
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
/// The simulator's DM host alone (feature `dm-host` without `sim`): `no_std` + `alloc`, at the
/// same path as in the full simulator, so the kernel self-test can run it.
#[cfg(all(feature = "dm-host", not(feature = "sim")))]
pub mod sim {
    pub mod dm_host;
}
