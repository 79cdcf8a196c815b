//! Fuzz targets for everything in hv-dynmem that reads host (or hypervisor) data.
//!
//! Each target is a plain function `run(&[u8])` so it runs three ways:
//! - under libFuzzer through `cargo fuzz run <target>` (the thin wrappers in `fuzz_targets/`);
//! - as a stable, sanitizer-free corpus replay: `cargo run --no-default-features --bin replay`
//!   (see the `replay` script);
//! - from a unit test, to reproduce a crash: `hv_dynmem_fuzz::<target>::run(&[...])`.
//!
//! The rule every target checks: bad input from a host (ring bytes, DM messages) or from a
//! hypervisor (hypercall results) gets a typed error, loses nothing and never panics. A panic
//! (an `assert!` here, or one inside the code under test) is a finding.
//!
//! | target | what is fed | what is asserted |
//! |---|---|---|
//! | [`dm_parse`] | arbitrary bytes to `protocol::parse` | no panic; accepted messages satisfy the size rules, re-encode byte for byte (or, for info messages, to an equal value) and render as JSON |
//! | [`dm_driver`] | a handshake, then arbitrary host packets, timer ticks, ring faults and OS events to the sans-IO driver | no panic, no livelock; the fake OS records no violation (no frame in use freed or onlined); every ballooned frame is offline; no balloon frame leaks; every guest message parses |
//! | [`vmbus_ring`] | rings whose control page and data area are arbitrary, plus a writer/reader pair with corruption steps | no panic; typed errors; reads of an intact ring return exactly what was written; a write never touches unread bytes and an error writes nothing |
//! | [`hvcall_sim`] | arbitrary control words and input pages to `SimHypervisor`; arbitrary runs to the range builder; arbitrary results from a hostile backend to the safe layer | statuses, never panics; builder errors exactly when the input is bad, otherwise an exact, ordered, minimal cover; rep-call restart bounded and progress never over-counted |

pub mod dm_driver;
pub mod dm_parse;
pub mod hvcall_sim;
pub mod vmbus_ring;

/// The target names, for the replay tool.
pub const TARGETS: [&str; 4] = ["dm_parse", "dm_driver", "vmbus_ring", "hvcall_sim"];

/// Runs target `name` on `data`; `false` if there is no such target.
pub fn run_target(name: &str, data: &[u8]) -> bool {
    match name {
        "dm_parse" => dm_parse::run(data),
        "dm_driver" => dm_driver::run(data),
        "vmbus_ring" => vmbus_ring::run(data),
        "hvcall_sim" => hvcall_sim::run(data),
        _ => return false,
    }
    true
}
