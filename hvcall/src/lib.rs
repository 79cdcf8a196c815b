//! The Hyper-V hypercall ABI for guests.
//!
//! `no_std` (`core` only). The raw call is a [`backend`] trait; everything above it is safe.
#![no_std]
#![deny(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;
