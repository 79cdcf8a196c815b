//! Safe wrappers over the C glue (`kglue_*` in `kmod/include/hv_dynmem_glue.h`).
//!
//! This module and [`crate::rt`] are the crate's only unsafe code: every call below passes
//! plain integers or pointers to memory Rust owns for the duration of the call.
#![expect(unsafe_code, reason = "FFI calls into the module's C glue")]

use hyperv_bindings::kernel as k;

pub use k::kglue_block as Block;
pub use k::kglue_meminfo as MemInfo;

/// Prints `msg` through `printk` at `level` (a `log::Level` as 1..=5) with the module prefix.
pub fn log(level: u32, msg: &[u8]) {
    // SAFETY: `msg` is valid for `msg.len()` bytes for the duration of the call; the C side
    // copies it into the printk buffer and keeps no reference.
    unsafe { k::kglue_log(level, msg.as_ptr(), msg.len()) }
}

/// Takes 2^`order` contiguous pages from the kernel's page allocator (no retries, no OOM
/// killer). Returns the first page frame number, or `None` when no such block is free now.
pub fn alloc_block(order: u32) -> Option<u64> {
    // SAFETY: plain integer in, plain integer out; the C side does the allocation.
    let pfn = unsafe { k::kglue_alloc_block(order) };
    (pfn != 0).then_some(pfn)
}

/// Gives back a block taken with [`alloc_block`].
///
/// The caller must pass a `(pfn, order)` pair it got from [`alloc_block`] and not given back
/// yet; the C side checks that the page is a live allocation head and refuses (with a WARN)
/// anything else, so a wrong pair cannot corrupt the allocator.
pub fn free_block(pfn: u64, order: u32) {
    // SAFETY: plain integers; the C glue validates the pfn (pfn_valid, page refcount) first.
    unsafe { k::kglue_free_block(pfn, order) }
}

/// The kernel's memory statistics, in 4 KiB pages.
pub fn meminfo() -> MemInfo {
    let mut m = MemInfo { totalram: 0, freeram: 0, committed: 0, page_size: 0 };
    // SAFETY: `m` is a valid, writable `kglue_meminfo` for the duration of the call.
    unsafe { k::kglue_meminfo(&mut m) };
    m
}

/// Monotonic time in nanoseconds.
pub fn now_ns() -> u64 {
    // SAFETY: no arguments, returns an integer.
    unsafe { k::kglue_now_ns() }
}
