//! Real hypercall backends: the crate's only `unsafe` code, one small module per architecture.
//!
//! * [`x86_64`] (only on `target_arch = "x86_64"`): MSR setup and a CALL through
//!   the hypercall page (fact sheet C.3).
//! * `aarch64` (only on `target_arch = "aarch64"`): `HVC #0` with the SMCCC function id
//!   0x46000001 (fact sheet C.4). It type-checks with
//!   `cargo check -p hvcall --target aarch64-unknown-linux-gnu` (the target's std was
//!   installable here with rustup).
//!
//! Neither can run in this environment (they need CPL 0 / EL1 under Hyper-V); the simulated
//! hypervisor (`hvcall::sim`) stands in for them in tests.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;
