//! Safe wrappers over the C glue (`kglue_*` in `kmod/include/hv_dynmem_glue.h`).
//!
//! This module and [`crate::rt`] are the crate's only unsafe code: every call below passes
//! plain integers or pointers to memory Rust owns for the duration of the call.
#![expect(unsafe_code, reason = "FFI calls into the module's C glue")]

use hyperv_bindings::kernel as k;

pub use k::kglue_block as Block;
pub use k::kglue_ha_stats as HaStats;
pub use k::kglue_meminfo as MemInfo;

/// The blocks of a `kglue_batch` the C glue passed as a callback argument.
///
/// # Safety
/// `arg` must point to a valid `kglue_batch` whose `blocks` points to `count` initialised
/// `kglue_block`s, all alive and unchanged for `'a`.
pub unsafe fn batch<'a>(arg: *mut core::ffi::c_void) -> &'a [Block] {
    // SAFETY: the caller's contract: `arg` is a valid `kglue_batch` alive for `'a`.
    let b: &'a k::kglue_batch = unsafe { &*arg.cast::<k::kglue_batch>() };
    if b.count == 0 || b.blocks.is_null() {
        return &[];
    }
    // SAFETY: the caller's contract: `blocks` points to `count` initialised blocks.
    unsafe { core::slice::from_raw_parts(b.blocks, b.count as usize) }
}

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

/// Marks `count` pages from `pfn` (from [`alloc_block`]) ballooned: PageOffline, managed
/// page count down.
pub fn set_offline(pfn: u64, count: u64) {
    // SAFETY: plain integers; the pages are ours (from `alloc_block`).
    unsafe { k::kglue_set_offline(pfn, count) }
}

/// Undoes [`set_offline`] and frees the pages one by one. The C side checks each page is an
/// offline page with one reference and refuses (WARN) anything else.
pub fn free_offline(pfn: u64, count: u64) {
    // SAFETY: plain integers; the C glue validates every page before freeing it.
    unsafe { k::kglue_free_offline(pfn, count) }
}

/// A plain (unsplit) allocation of 2^`order` pages, for tests that shape free memory.
pub fn alloc_pages(order: u32) -> Option<u64> {
    // SAFETY: plain integer in, plain integer out.
    let pfn = unsafe { k::kglue_alloc_pages(order) };
    (pfn != 0).then_some(pfn)
}

/// Frees an allocation made by [`alloc_pages`] with the same order.
pub fn free_pages(pfn: u64, order: u32) {
    // SAFETY: plain integers; the caller passes a pair from `alloc_pages` (tests only).
    unsafe { k::kglue_free_pages(pfn, order) }
}

/// Sleeps for `ms` milliseconds (process context).
pub fn msleep(ms: u32) {
    // SAFETY: plain integer; callers run in process context (every Rust entry does).
    unsafe { k::kglue_msleep(ms) }
}

/// Self-test module: registers its `page_reporting_dev_info` at `order`; 0 or -errno.
pub fn st_reporting_register(order: u32) -> i32 {
    // SAFETY: plain integer; the C side owns the device descriptor.
    unsafe { k::kglue_st_reporting_register(order) }
}

/// Self-test module: unregisters from the page-reporting core (waits for a running pass).
pub fn st_reporting_unregister() {
    // SAFETY: no arguments.
    unsafe { k::kglue_st_reporting_unregister() }
}

/// Self-test module: the core's state for our device (0 idle, 1 requested, 2 active).
pub fn st_reporting_state() -> u32 {
    // SAFETY: no arguments.
    unsafe { k::kglue_st_reporting_state() }
}

/// The kernel's memory statistics, in 4 KiB pages.
pub fn meminfo() -> MemInfo {
    let mut m = MemInfo {
        totalram: 0,
        freeram: 0,
        available: 0,
        committed: 0,
        page_size: 0,
    };
    // SAFETY: `m` is a valid, writable `kglue_meminfo` for the duration of the call.
    unsafe { k::kglue_meminfo(&mut m) };
    m
}

/// Monotonic time in nanoseconds.
pub fn now_ns() -> u64 {
    // SAFETY: no arguments, returns an integer.
    unsafe { k::kglue_now_ns() }
}

/// Adds `[start, start + pages)` (4 KiB pages) to the kernel as a memory block, not yet online
/// (`add_memory`). 0 or -errno.
pub fn add_memory(start: u64, pages: u64) -> i32 {
    // SAFETY: plain integers; the C glue checks the range against the memory block size.
    unsafe { k::kglue_add_memory(start, pages) }
}

/// Brings pages of added memory online (through the online callback); returns how many.
pub fn online_pages(start: u64, pages: u64) -> u64 {
    // SAFETY: plain integers; the C glue only touches pages inside memory it added.
    unsafe { k::kglue_online_pages(start, pages) }
}

/// Self-test module: the host end of the in-memory DM channel sends `buf`; 0 or -errno.
pub fn st_host_send(buf: &[u8]) -> i32 {
    let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    // SAFETY: `buf` is valid for `len` bytes during the call; the C side copies it.
    unsafe { k::kglue_st_host_send(buf.as_ptr(), len) }
}

/// Self-test module: the host end takes the next guest packet into `buf`; its length, `None`
/// when there is none (or it does not fit).
pub fn st_host_recv(buf: &mut [u8]) -> Option<usize> {
    let cap = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    let mut len = 0u32;
    // SAFETY: `buf` is writable for `cap` bytes and `len` is a valid out-pointer.
    let ret = unsafe { k::kglue_st_host_recv(buf.as_mut_ptr(), cap, &mut len) };
    (ret == 0 && len > 0).then_some(len as usize)
}

/// Self-test module: one past the highest page frame of any online node (4 KiB pages).
pub fn st_end_pfn() -> u64 {
    // SAFETY: no arguments, returns an integer.
    unsafe { k::kglue_st_end_pfn() }
}

/// The hot-add glue's bookkeeping counters.
pub fn ha_stats() -> HaStats {
    let mut h = HaStats {
        added_ranges: 0,
        backed_ranges: 0,
        range_capacity: 0,
        blocks_added: 0,
        add_refused: 0,
        record_failures: 0,
        offline_events: 0,
    };
    // SAFETY: `h` is a valid, writable `kglue_ha_stats` for the duration of the call.
    unsafe { k::kglue_ha_stats(&mut h) };
    h
}

/// Installs the hot-add glue's online callback and memory notifier; 0 or -errno.
pub fn ha_init() -> i32 {
    // SAFETY: no arguments; process context.
    unsafe { k::kglue_ha_init() }
}

/// Removes the online callback and memory notifier and forgets the bookkeeping.
pub fn ha_exit() {
    // SAFETY: no arguments; process context.
    unsafe { k::kglue_ha_exit() }
}

/// `memory_block_size_bytes()` in 4 KiB pages.
pub fn memory_block_pages() -> u64 {
    // SAFETY: no arguments, returns an integer.
    unsafe { k::kglue_memory_block_pages() }
}

/// Linux's probe rule on `p`: sets `hibernation` from `hv_is_hibernation_supported()` and
/// clears `hot_add` when it is set.
pub fn probe_hibernation(p: &mut k::kglue_drv_params) {
    // SAFETY: `p` is a valid, writable `kglue_drv_params` for the duration of the call.
    unsafe { k::kglue_probe_hibernation(p) }
}

/// The architecture's rule on `p` (`kglue_probe_arch`): sets `hot_add_cap` (1 on x86-64, 0 on
/// arm64) and clears `hot_add` when there is no capability.
pub fn probe_arch(p: &mut k::kglue_drv_params) {
    // SAFETY: `p` is a valid, writable `kglue_drv_params` for the duration of the call.
    unsafe { k::kglue_probe_arch(p) }
}

/// Self-test module: the RAM the kernel was told not to use, `(start pfn, pages)`.
pub fn st_hot_add_area() -> (u64, u64) {
    let (mut start, mut pages) = (0u64, 0u64);
    // SAFETY: both are valid out-pointers for the call.
    unsafe { k::kglue_st_hot_add_area(&mut start, &mut pages) };
    (start, pages)
}

/// Self-test module: writes `state` to the sysfs state file of the memory block holding
/// `pfn`; 0 or -errno.
pub fn st_memory_block_state(pfn: u64, state: &str) -> i32 {
    let len = u32::try_from(state.len()).unwrap_or(u32::MAX);
    // SAFETY: `state` is valid for `len` bytes during the call; the C side copies it.
    unsafe { k::kglue_st_memory_block_state(pfn, state.as_ptr(), len) }
}

/// Self-test module: pattern write + read-back over `pages` allocated pages from `pfn`;
/// returns the pages that did not keep it.
pub fn st_fill_check(pfn: u64, pages: u64, seed: u64) -> u64 {
    // SAFETY: plain integers; the caller passes pages it allocated (tests only).
    unsafe { k::kglue_st_fill_check(pfn, pages, seed) }
}
