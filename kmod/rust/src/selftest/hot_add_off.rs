//! Self-test (arm64): hot-add is off, as in Linux's `hv_balloon` on arm64 — neither advertised
//! to the host nor done when the host asks anyway.
//!
//! Through `hv_dynmem.ko`'s own entry points and the in-memory channel, with the parameters
//! the driver's probe passes (`kglue_probe_arch` on a `hot_add=1` load):
//! * the architecture's rule: no hot-add capability, `hot_add` forced off;
//! * the capabilities report: balloon set, hot-add clear;
//! * a hot-add request (with its region, 1 GiB past the end of RAM) is answered with the
//!   permanent failure (0 pages, result 1), `MemTotal` does not change, the glue never called
//!   `add_memory()`, and debugfs shows nothing added (no pages, no blocks, no failures:
//!   hot-add being off is not a failure, as in `hv_balloon`);
//! * ballooning still works (a 64-page balloon and its unballoon).

use super::Ktap;
use super::driver_glue::{
    connect, debugfs, debugfs_value, hot_add_response, load_params, step_until,
};
use crate::driver::hvdm_drv_stop;
use crate::ffi;
use alloc::vec::Vec;
use core::ffi::c_int;
use hv_dynmem::protocol::{Message, PageRange, encode};
use zerocopy::IntoBytes;

/// The test body.
pub fn run() -> c_int {
    let mut t = Ktap::start("hot_add_off", 5);
    let mut buf = alloc::vec![0u8; 8192];
    let block = ffi::memory_block_pages();
    let mut p = load_params(true, false);
    p.hot_add_cap = 1;
    ffi::probe_arch(&mut p);
    t.check(
        p.hot_add_cap == 0 && p.hot_add == 0,
        "arch_rule_turns_hot_add_off",
        format_args!("hot_add_cap {}, hot_add {}", p.hot_add_cap, p.hot_add),
    );

    let caps = connect(&mut p, &mut buf);
    t.check(
        caps.is_some_and(|c| c.balloon() && !c.hot_add()),
        "hot_add_not_advertised",
        format_args!("{caps:?}"),
    );

    // The host asks anyway: one memory block, region of 8 blocks, 1 GiB past the end of RAM
    // (block aligned), where nothing is.
    let h0 = ffi::ha_stats();
    let total0 = ffi::meminfo().totalram;
    let start = (ffi::st_end_pfn() + (1 << 18)).next_multiple_of(block);
    let (range, region) = match (
        PageRange::new(start, block),
        PageRange::new(start, 8 * block),
    ) {
        (Some(r), Some(g)) => (r, g),
        _ => {
            t.check(
                false,
                "hot_add_request_refused_permanently",
                format_args!("pfn {start:#x} is beyond the protocol's page ranges"),
            );
            hvdm_drv_stop(core::ptr::null_mut());
            return t.finish();
        }
    };
    let fixed = encode::hot_add_request(7, range);
    ffi::st_host_send(&encode::to_vec(&fixed, &[region]));
    let resp = hot_add_response(&mut buf, 10, 10);
    let h1 = ffi::ha_stats();
    let total1 = ffi::meminfo().totalram;
    t.check(
        resp == Some((0, 1))
            && total1 == total0
            && h1.blocks_added == h0.blocks_added
            && h1.add_refused == h0.add_refused,
        "hot_add_request_refused_permanently",
        format_args!(
            "response {resp:?}, MemTotal {total0} -> {total1}, add_memory calls {} -> {}",
            h0.blocks_added + h0.add_refused,
            h1.blocks_added + h1.add_refused
        ),
    );
    let text = debugfs();
    let caps_line = text.lines().find(|l| l.starts_with("capabilities"));
    t.diag(format_args!("debugfs: {}", caps_line.unwrap_or("")));
    t.check(
        caps_line.is_some_and(|l| l.ends_with(": enabled"))
            && debugfs_value(&text, "pages_added") == Some(0)
            && debugfs_value(&text, "hot_add_failures") == Some(0)
            && debugfs_value(&text, "hot_add_blocks") == Some(0),
        "debugfs_shows_nothing_added",
        format_args!("{text:?}"),
    );

    // Ballooning is unaffected.
    let before = ffi::meminfo().totalram;
    ffi::st_host_send(encode::balloon_request(8, 64).as_bytes());
    let mut given: Vec<PageRange> = Vec::new();
    step_until(&mut buf, 50, 20, |m| {
        if let Message::BalloonResponse { hdr, ranges } = m {
            given.extend_from_slice(ranges);
            return !hdr.more_pages();
        }
        false
    });
    let during = ffi::meminfo().totalram;
    let req = encode::unballoon_request(9, false, u32::try_from(given.len()).unwrap_or(0));
    ffi::st_host_send(&encode::to_vec(&req, &given));
    let acked = step_until(&mut buf, 20, 20, |m| {
        matches!(m, Message::UnballoonResponse(_))
    });
    let after = ffi::meminfo().totalram;
    let pages: u64 = given.iter().map(|r| r.page_cnt()).sum();
    t.check(
        pages == 64 && before - during == 64 && acked && after == before,
        "balloon_still_works",
        format_args!("{pages} pages, acked {acked}, totalram {before} -> {during} -> {after}"),
    );
    hvdm_drv_stop(core::ptr::null_mut());
    t.finish()
}
