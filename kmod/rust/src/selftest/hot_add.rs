//! Self-tests (g, h): memory hot-add well past the old 64-block (8 GiB) limit, and offline
//! accounting, with the real kernel's memory hotplug.
//!
//! `scripts/kmod-test` boots an 18 GiB QEMU guest with `mem=1G`: the RAM above 4 GiB is real,
//! QEMU-backed memory the kernel does not use, so it can be hot-added for real. The driver
//! runs through `hv_dynmem.ko`'s own entry points and hot-add glue (`kmod/hotadd.c`, compiled
//! into the self-test module too), the host is a script over the in-memory channel.
//!
//! * **hot_add_12g**: one region over the whole area (the first request names it, the rest
//!   continue it), all but the last 4 memory blocks backed one block per request, the last 4
//!   in 2 MiB pieces every 4 MiB (127 gaps: 128 separate backed ranges, twice the old fixed
//!   table), and finally one piece more inside an already online block. Each block is onlined
//!   after its response through its sysfs `state` file, as udev does, so the kernel calls our
//!   online callback. Checks: every response, `MemTotal`, the debugfs counters, the glue's
//!   bookkeeping, and allocations from the new memory that keep what is written to them.
//! * **memory_offline**: offlines a fully backed block through sysfs: the memory notifier
//!   reports it, the core's `pages_onlined` drops by the block (so those pages count as
//!   committed, as Linux), `MemTotal` drops; onlining it again restores both.

use super::Ktap;
use super::driver_glue::{connect, debugfs, debugfs_value, hot_add_response, load_params};
use crate::driver::{hvdm_drv_step, hvdm_drv_stop};
use crate::ffi;
use alloc::vec::Vec;
use core::ffi::c_int;
use hv_dynmem::protocol::{PageRange, encode};
use zerocopy::IntoBytes;

/// Blocks at the end of the area backed in pieces.
const FRAGMENTED_BLOCKS: u64 = 4;
/// Piece size and stride in the fragmented blocks (2 MiB every 4 MiB).
const PIECE: u64 = 512;
const STRIDE: u64 = 1024;
/// At least this much must be hot-added (12 GiB, in pages).
const MIN_PAGES: u64 = 12 << 18;

/// Sends one hot-add request (with `region` if given) and steps the driver until it answers:
/// `(page_count, result)`.
fn hot_add(buf: &mut [u8], id: u32, range: PageRange, region: Option<PageRange>) -> (u32, u32) {
    let fixed = encode::hot_add_request(id, range);
    match region {
        Some(r) => ffi::st_host_send(&encode::to_vec(&fixed, &[r])),
        None => ffi::st_host_send(fixed.as_bytes()),
    };
    hot_add_response(buf, 20, 0).unwrap_or((0, u32::MAX))
}

fn range(start: u64, pages: u64) -> PageRange {
    // Every range here lies below 2^40 frames.
    PageRange::new(start, pages).unwrap_or_else(|| unreachable!())
}

/// Test (g).
pub fn run_hot_add() -> c_int {
    let mut t = Ktap::start("hot_add_12g", 8);
    let mut buf = alloc::vec![0u8; 8192];
    let (area, area_pages) = ffi::st_hot_add_area();
    let block = ffi::memory_block_pages();
    let blocks = area_pages / block;
    let full = blocks.saturating_sub(FRAGMENTED_BLOCKS);
    t.diag(format_args!(
        "area: pfn {area:#x}, {} MiB = {blocks} blocks of {} MiB; RAM in use ends at pfn {:#x}",
        area_pages >> 8,
        block >> 8,
        ffi::st_end_pfn()
    ));

    let init = ffi::ha_init();
    let mut p = load_params(true, false);
    ffi::probe_arch(&mut p);
    let caps = connect(&mut p, &mut buf);
    t.check(
        init == 0
            && p.hot_add_cap == 1
            && caps.is_some_and(|c| c.hot_add())
            && full * block >= MIN_PAGES,
        "callback_notifier_installed_and_connected",
        format_args!("init {init}, caps {caps:?}, {full} full blocks"),
    );
    let total0 = ffi::meminfo().totalram;

    // Whole blocks, one per request; each onlined through sysfs after its response.
    let region = range(area, blocks * block);
    let (mut bad_resp, mut bad_online, mut id) = (0u32, 0u32, 10u32);
    let mut expect: u64 = 0;
    for i in 0..full {
        let start = area + i * block;
        let r = hot_add(
            &mut buf,
            id,
            range(start, block),
            (i == 0).then_some(region),
        );
        id += 1;
        if r != (u32::try_from(block).unwrap_or(0), 1) {
            if bad_resp == 0 {
                t.diag(format_args!("block {i}: response {r:?}"));
            }
            bad_resp += 1;
            continue;
        }
        expect += block;
        let on = ffi::st_memory_block_state(start, "online_movable");
        if on != 0 {
            if bad_online == 0 {
                t.diag(format_args!("block {i}: online_movable -> {on}"));
            }
            bad_online += 1;
        }
    }
    hvdm_drv_step(core::ptr::null_mut());
    let total1 = ffi::meminfo().totalram;
    t.check(
        bad_resp == 0 && bad_online == 0 && total1 - total0 == expect,
        "blocks_beyond_64_added_and_onlined",
        format_args!(
            "{bad_resp} bad responses, {bad_online} online failures; MemTotal +{} pages, expected +{expect}",
            total1 - total0
        ),
    );

    // The last blocks in pieces: 2 MiB backed every 4 MiB, each block onlined after its
    // pieces (the callback onlines the pieces and keeps the holes offline).
    let mut pieces_bad = 0u32;
    for j in 0..FRAGMENTED_BLOCKS {
        let bstart = area + (full + j) * block;
        for q in 0..block / STRIDE {
            let r = hot_add(&mut buf, id, range(bstart + q * STRIDE, PIECE), None);
            id += 1;
            if r == (PIECE as u32, 1) {
                expect += PIECE;
            } else {
                pieces_bad += 1;
            }
        }
        if ffi::st_memory_block_state(bstart, "online_movable") != 0 {
            pieces_bad += 1;
        }
    }
    hvdm_drv_step(core::ptr::null_mut());
    let total2 = ffi::meminfo().totalram;
    t.check(
        pieces_bad == 0 && total2 - total0 == expect,
        "partly_backed_blocks_online_only_backed_pages",
        format_args!(
            "{pieces_bad} failures; MemTotal +{} pages, expected +{expect}",
            total2 - total0
        ),
    );

    // One piece more: the hole at the end of the last (online) block, onlined at once.
    let last_end = area + blocks * block - (STRIDE - PIECE);
    let r = hot_add(&mut buf, id, range(last_end, PIECE), None);
    let total3 = ffi::meminfo().totalram;
    if r == (PIECE as u32, 1) {
        expect += PIECE;
    }
    t.check(
        r == (PIECE as u32, 1) && total3 - total2 == PIECE,
        "backing_inside_an_online_block_onlines_now",
        format_args!("response {r:?}, MemTotal +{}", total3 - total2),
    );

    hvdm_drv_step(core::ptr::null_mut());
    let text = debugfs();
    let added = debugfs_value(&text, "pages_added");
    let onlined = debugfs_value(&text, "pages_onlined");
    t.check(
        added == Some(expect)
            && onlined == Some(expect)
            && debugfs_value(&text, "refused_hot_adds") == Some(0)
            && debugfs_value(&text, "hot_add_failures") == Some(0),
        "debugfs_pages_added_and_onlined",
        format_args!("added {added:?}, onlined {onlined:?}, expected {expect}"),
    );
    let h = ffi::ha_stats();
    t.diag(format_args!(
        "glue: {} blocks added, {} refused, {} added range(s), {} backed ranges, capacity {}, {} record failures",
        h.blocks_added, h.add_refused, h.added_ranges, h.backed_ranges, h.range_capacity,
        h.record_failures
    ));
    t.check(
        h.blocks_added == blocks
            && h.add_refused == 0
            && h.record_failures == 0
            && h.added_ranges == 1
            && h.backed_ranges == FRAGMENTED_BLOCKS * (block / STRIDE)
            && h.range_capacity > h.backed_ranges,
        "bookkeeping_grew_past_the_old_64_entries",
        format_args!(
            "{} blocks, {} backed ranges",
            h.blocks_added, h.backed_ranges
        ),
    );
    let gib = (total3 - total0) >> 18;
    t.diag(format_args!(
        "hot-added {} MiB ({gib} GiB) in {} requests; MemTotal {} -> {} MiB",
        (total3 - total0) >> 8,
        id - 10 + 1,
        total0 >> 8,
        total3 >> 8
    ));
    t.check(
        total3 - total0 >= MIN_PAGES,
        "at_least_12_gib_online",
        format_args!("{} pages", total3 - total0),
    );

    // Allocate from the new memory (movable allocations prefer ZONE_MOVABLE, where it went)
    // and check it keeps what is written to it.
    let (lo, hi) = (area, area + blocks * block);
    let mut taken: Vec<u64> = Vec::new();
    let mut inside = 0u32;
    let mut bad = 0u64;
    for _ in 0..1024 {
        let Some(pfn) = ffi::alloc_pages(9) else {
            break;
        };
        taken.push(pfn);
        if (lo..hi).contains(&pfn) {
            inside += 1;
            bad += ffi::st_fill_check(pfn, PIECE, 0x5a5a_0000_0000_0000 | u64::from(inside));
            if inside == 64 {
                break;
            }
        }
    }
    for &pfn in &taken {
        ffi::free_pages(pfn, 9);
    }
    t.check(
        inside == 64 && bad == 0,
        "allocations_from_hot_added_memory_hold_data",
        format_args!(
            "{inside} of {} 2 MiB blocks inside, {bad} pages lost the pattern",
            taken.len()
        ),
    );
    // The driver stays connected for memory_offline.
    t.finish()
}

/// Test (h); runs after `hot_add_12g` on the memory it added.
pub fn run_memory_offline() -> c_int {
    let mut t = Ktap::start("memory_offline", 4);
    let (area, _) = ffi::st_hot_add_area();
    let block = ffi::memory_block_pages();
    let h0 = ffi::ha_stats();
    let text = debugfs();
    let added0 = debugfs_value(&text, "pages_added").unwrap_or(0);
    let onlined0 = debugfs_value(&text, "pages_onlined").unwrap_or(0);
    let committed0 = debugfs_value(&text, "total_pages_committed");
    let total0 = ffi::meminfo().totalram;
    t.check(
        hvdm_drv_step(core::ptr::null_mut()) >= 0 && h0.blocks_added > 0 && onlined0 >= block,
        "hot_added_memory_present",
        format_args!("{} blocks, onlined {onlined0}", h0.blocks_added),
    );

    // The first block is fully backed and movable: the kernel can offline it.
    let off = ffi::st_memory_block_state(area, "offline");
    hvdm_drv_step(core::ptr::null_mut());
    let text = debugfs();
    let added1 = debugfs_value(&text, "pages_added").unwrap_or(0);
    let onlined1 = debugfs_value(&text, "pages_onlined").unwrap_or(0);
    let total1 = ffi::meminfo().totalram;
    let h1 = ffi::ha_stats();
    t.check(
        off == 0
            && h1.offline_events == h0.offline_events + 1
            && added1 == added0
            && onlined0 - onlined1 == block
            && total0 - total1 == block,
        "offline_lowers_pages_onlined",
        format_args!(
            "offline {off}, events {}, added {added0} -> {added1}, onlined {onlined0} -> {onlined1}, MemTotal -{}",
            h1.offline_events,
            total0.saturating_sub(total1)
        ),
    );
    t.check(
        added1 - onlined1 == block,
        "offlined_pages_count_as_committed",
        format_args!("added - onlined = {}", added1 - onlined1),
    );
    t.diag(format_args!(
        "total_pages_committed {:?} -> {:?}",
        committed0,
        debugfs_value(&text, "total_pages_committed")
    ));

    // Online again: the callback onlines the whole (backed) block, the core counts it.
    let on = ffi::st_memory_block_state(area, "online_movable");
    hvdm_drv_step(core::ptr::null_mut());
    let text = debugfs();
    let onlined2 = debugfs_value(&text, "pages_onlined").unwrap_or(0);
    let total2 = ffi::meminfo().totalram;
    t.check(
        on == 0 && onlined2 == onlined0 && total2 == total0,
        "online_again_restores_the_count",
        format_args!("online {on}, onlined {onlined2}, MemTotal {total0} -> {total2}"),
    );
    hvdm_drv_stop(core::ptr::null_mut());
    t.finish()
}
