//! Test doubles for the driver core (feature `sim`), public so other crates' tests can use
//! them, like `hvcall::sim` and `vmbus::sim`: the simulated DM host ([`dm_host`]: the
//! host's side of the protocol with QEMU-faithful, Hyper-V-like and manual policies) and a
//! strict fake OS ([`fake_os`]) that records every action a real kernel would not survive.
//!
//! The whole-VM simulator (guest model, workloads, scenarios) is not here: it is the
//! `hv-sim` crate, which uses these doubles.
pub mod dm_host;
pub mod fake_os;
