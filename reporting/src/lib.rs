//! Free page reporting: the engine, the reference buddy allocator and the Hyper-V reporter.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;
