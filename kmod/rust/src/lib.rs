//! The Rust half of the `hv_dynmem` Linux kernel modules.
//!
//! Built as a `#![no_std]` staticlib for `x86_64-unknown-none` or (arm64)
//! `aarch64-unknown-none-softfloat` with `-Zbuild-std=core,alloc`
//! (see `kmod/Makefile`) and linked into the module objects by `kmod/Kbuild`. It provides:
//! * the kernel runtime: a global allocator over `kmalloc`, a panic handler that disables the
//!   driver with a WARN ([`rt`]), and a `log` backend that prints through `printk` ([`klog`]);
//! * the Linux adapter: the hypercall backend over the kernel's hypercall page, the page
//!   allocator behind the balloon, the page-reporting callback feeding the Hyper-V reporter;
//! * the in-kernel self-tests run by `hv_dynmem_selftest.ko` ([`selftest`]), printing KTAP.
//!
//! The C<->Rust ABI is `kmod/include/hv_dynmem_glue.h`, turned into Rust by bindgen in
//! `hyperv-bindings` at build time.
#![no_std]
#![deny(warnings)]

extern crate alloc;

pub mod channel;
pub mod driver;
pub mod ffi;
pub mod hyperv;
pub mod klog;
pub mod linux;
pub mod report;
pub mod rt;
pub mod selftest;
