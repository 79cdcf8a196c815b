//! Self-test (b): the balloon path through the real page allocator.
//!
//! Takes 2 MiB and 4 KiB blocks through [`LinuxMemory`] exactly as the driver core does for a
//! balloon request (`alloc_block` then `set_offline`), checks the kernel's own accounting
//! (`si_meminfo`: total RAM drops by exactly the ballooned pages, free RAM by at least most of
//! them), gives everything back (`free_offline`) and checks total RAM is restored exactly.

use super::Ktap;
use crate::ffi;
use crate::linux::LinuxMemory;
use alloc::vec::Vec;
use core::ffi::c_int;
use hv_dynmem::os::GuestMemory;

/// The test body.
pub fn run() -> c_int {
    let mut t = Ktap::start("balloon", 7);
    let mut mem = LinuxMemory::new(32768);
    let before = ffi::meminfo();
    let stats_before = mem.stats();
    t.check(
        stats_before.total == before.totalram && before.totalram > 0,
        "stats_match_si_meminfo",
        format_args!(
            "stats {stats_before:?}, si_meminfo total {}",
            before.totalram
        ),
    );

    // 16 x 2 MiB and 64 x 4 KiB, as a balloon request would take them.
    let mut taken: Vec<(u64, u64)> = Vec::with_capacity(80);
    for _ in 0..16 {
        if let Some(pfn) = mem.alloc_block(9) {
            mem.set_offline(pfn, 512);
            taken.push((pfn, 512));
        }
    }
    for _ in 0..64 {
        if let Some(pfn) = mem.alloc_block(0) {
            mem.set_offline(pfn, 1);
            taken.push((pfn, 1));
        }
    }
    let pages: u64 = taken.iter().map(|t| t.1).sum();
    t.check(
        pages == 16 * 512 + 64,
        "took_2m_and_4k_blocks",
        format_args!("took {pages} pages in {} blocks", taken.len()),
    );
    let aligned = taken.iter().all(|&(p, n)| p % n == 0);
    t.check(
        aligned,
        "blocks_naturally_aligned",
        format_args!("{taken:?}"),
    );

    let during = ffi::meminfo();
    t.check(
        before.totalram - during.totalram == pages && mem.counters().pages_offline == pages,
        "totalram_drops_by_ballooned_pages",
        format_args!(
            "totalram {} -> {} (-{}), adapter says {} offline",
            before.totalram,
            during.totalram,
            before.totalram - during.totalram,
            mem.counters().pages_offline
        ),
    );
    // Free memory moves with everything else in the kernel; allow 25% slack.
    let free_drop = before.freeram.saturating_sub(during.freeram);
    t.check(
        free_drop >= pages * 3 / 4,
        "freeram_drops_with_balloon",
        format_args!("freeram dropped by {free_drop} pages for {pages} ballooned"),
    );

    for &(pfn, n) in &taken {
        mem.free_offline(pfn, n);
    }
    let after = ffi::meminfo();
    t.check(
        after.totalram == before.totalram && mem.counters().pages_offline == 0,
        "totalram_restored_after_unballoon",
        format_args!("totalram {} -> {}", before.totalram, after.totalram),
    );
    // Pages given back one by one first land on the per-CPU free lists, which NR_FREE_PAGES
    // (and so si_meminfo's freeram) does not count until they are drained: only the direction
    // is deterministic here.
    let free_back = after.freeram.saturating_sub(during.freeram);
    t.check(
        after.freeram > during.freeram,
        "freeram_rises_after_unballoon",
        format_args!("freeram rose by {free_back} pages for {pages} given back"),
    );
    t.diag(format_args!(
        "ballooned {pages} pages: totalram {} -> {} -> {}, freeram {} -> {} -> {}",
        before.totalram,
        during.totalram,
        after.totalram,
        before.freeram,
        during.freeram,
        after.freeram
    ));
    t.finish()
}
