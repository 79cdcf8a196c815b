//! Self-tests (e, f): the driver's suspend/resume entry points and its hibernation mode, in
//! the kernel, through `hv_dynmem.ko`'s own Rust entry points and the in-memory channel.
//!
//! * **suspend_resume**: `hvdm_drv_suspend` / `hvdm_drv_resume` as the C glue's `.suspend`
//!   and `.resume` call them (after cancelling the work item, unregistering page reporting
//!   and closing the channel; after reopening it). A suspended driver sends and consumes
//!   nothing; pages the host holds stay ballooned; resume negotiates again from version 2.0
//!   and the host can then return the pages.
//! * **hibernation**: Linux's probe rule (`kglue_probe_hibernation`: hibernation possible ⇒
//!   hot-add off) and the driver with hibernation on: the capability bits as without it
//!   (balloon, and hot-add where the architecture advertises it),
//!   balloon and unballoon requests get no response and are counted, a hot-add request gets
//!   the permanent failure (0 pages, result 1), and debugfs shows ` hibernation`.

use super::Ktap;
use super::driver_glue::{
    connect, debugfs, debugfs_value, drain, handshake, hot_add_response, load_params, step_until,
};
use crate::driver::{hvdm_drv_resume, hvdm_drv_step, hvdm_drv_stop, hvdm_drv_suspend};
use crate::ffi;
use alloc::vec::Vec;
use core::ffi::c_int;
use hv_dynmem::protocol::{Message, PageRange, encode};
use hyperv_bindings::kernel as k;
use zerocopy::IntoBytes;

/// The parameters after the architecture's rule (`kglue_probe_arch`), as probe passes them.
fn params(hot_add: bool, hibernation: bool) -> k::kglue_drv_params {
    let mut p = load_params(hot_add, hibernation);
    ffi::probe_arch(&mut p);
    p
}

/// Balloons `pages` pages through the host script; the ranges the guest gave.
fn balloon(buf: &mut [u8], pages: u32) -> Vec<PageRange> {
    ffi::st_host_send(encode::balloon_request(3, pages).as_bytes());
    let mut given = Vec::new();
    step_until(buf, 50, 20, |m| {
        if let Message::BalloonResponse { hdr, ranges } = m {
            given.extend_from_slice(ranges);
            return !hdr.more_pages();
        }
        false
    });
    given
}

/// Test (e).
pub fn run_suspend_resume() -> c_int {
    let mut t = Ktap::start("suspend_resume", 6);
    let mut buf = alloc::vec![0u8; 8192];
    let mut p = params(true, false);
    let caps = connect(&mut p, &mut buf);
    let before = ffi::meminfo().totalram;
    let given = balloon(&mut buf, 256);
    let pages: u64 = given.iter().map(|r| r.page_cnt()).sum();
    t.check(
        caps.is_some() && pages == 256,
        "connected_and_ballooned_256",
        format_args!("caps {caps:?}, {pages} pages"),
    );

    let suspended = hvdm_drv_suspend(core::ptr::null_mut());
    // A suspended driver consumes nothing and sends nothing, however often it is stepped.
    ffi::st_host_send(encode::balloon_request(5, 64).as_bytes());
    let mut sent = 0u32;
    for _ in 0..3 {
        hvdm_drv_step(core::ptr::null_mut());
        drain(&mut buf, |_| sent += 1);
    }
    // The channel is closed across a real suspend: what the host left in it is dropped
    // here, and it must still be there (the suspended driver did not read it).
    let mut stale = 0u32;
    loop {
        let mut len = 0u32;
        // SAFETY: `len` is a valid out-pointer for the call.
        unsafe { k::kglue_vmbus_discard(&mut len) };
        if len == 0 {
            break;
        }
        stale += 1;
    }
    let text = debugfs();
    let held = debugfs_value(&text, "pages_ballooned");
    t.check(
        suspended == 0 && sent == 0 && stale == 1 && held == Some(256),
        "suspend_stops_all_work_and_keeps_the_host_s_pages",
        format_args!("suspend {suspended}, {sent} sent, {stale} unread, pages_ballooned {held:?}"),
    );

    let resumed = hvdm_drv_resume(core::ptr::null_mut());
    let caps2 = handshake(&mut buf);
    t.check(
        resumed == 0 && caps2.is_some() && caps2 == caps,
        "resume_negotiates_again_from_2_0",
        format_args!("resume {resumed}, caps {caps2:?} (before {caps:?})"),
    );
    let text = debugfs();
    t.check(
        text.lines()
            .any(|l| l.starts_with("state") && l.ends_with("(Initialized)"))
            && debugfs_value(&text, "pages_ballooned") == Some(256),
        "running_again_with_the_balloon_intact",
        format_args!("{text:?}"),
    );

    let req = encode::unballoon_request(6, false, u32::try_from(given.len()).unwrap_or(0));
    ffi::st_host_send(&encode::to_vec(&req, &given));
    let acked = step_until(&mut buf, 20, 20, |m| {
        matches!(m, Message::UnballoonResponse(_))
    });
    let after = ffi::meminfo().totalram;
    t.check(
        acked && after == before,
        "unballoon_after_resume_restores_totalram",
        format_args!("acked {acked}, totalram {before} -> {after}"),
    );
    let stopped = hvdm_drv_stop(core::ptr::null_mut());
    t.check(
        stopped == 0 && hvdm_drv_suspend(core::ptr::null_mut()) < 0,
        "suspend_after_stop_is_refused",
        format_args!("stop {stopped}"),
    );
    t.finish()
}

/// Test (f).
pub fn run_hibernation() -> c_int {
    let mut t = Ktap::start("hibernation", 5);
    let mut buf = alloc::vec![0u8; 8192];

    // Linux's probe rule, on this kernel (QEMU offers ACPI S4 or not; either way the rule).
    let mut p = load_params(true, false);
    ffi::probe_hibernation(&mut p);
    t.diag(format_args!(
        "hv_is_hibernation_supported() here: {}",
        p.hibernation != 0
    ));
    t.check(
        (p.hibernation != 0) == (p.hot_add == 0),
        "probe_rule_hibernation_turns_hot_add_off",
        format_args!("hibernation {}, hot_add {}", p.hibernation, p.hot_add),
    );

    // The driver in hibernation mode, as probe starts it when the rule applies.
    // Hibernation changes no capability bit: balloon, and hot-add where the architecture
    // advertises it (x86-64; not arm64).
    let mut p = params(false, true);
    let hot_add_cap = p.hot_add_cap != 0;
    let caps = connect(&mut p, &mut buf);
    t.check(
        caps.is_some_and(|c| c.balloon() && c.hot_add() == hot_add_cap),
        "capabilities_unchanged_by_hibernation",
        format_args!("{caps:?}, architecture's hot-add capability {hot_add_cap}"),
    );
    let before = ffi::meminfo().totalram;
    ffi::st_host_send(encode::balloon_request(3, 128).as_bytes());
    let fake = [PageRange::new(0x1000, 16).unwrap_or_else(|| unreachable!())];
    let req = encode::unballoon_request(4, false, 1);
    ffi::st_host_send(&encode::to_vec(&req, &fake));
    let answered = step_until(&mut buf, 5, 10, |m| {
        matches!(
            m,
            Message::BalloonResponse { .. } | Message::UnballoonResponse(_)
        )
    });
    let text = debugfs();
    t.check(
        !answered
            && debugfs_value(&text, "unsupported_requests") == Some(2)
            && debugfs_value(&text, "pages_ballooned") == Some(0)
            && ffi::meminfo().totalram == before,
        "balloon_and_unballoon_ignored_as_linux",
        format_args!("answered {answered}, {text:?}"),
    );

    let range = PageRange::new(0x40_0000, 32_768).unwrap_or_else(|| unreachable!());
    ffi::st_host_send(encode::hot_add_request(5, range).as_bytes());
    let resp = hot_add_response(&mut buf, 5, 10);
    t.check(
        resp == Some((0, 1)),
        "hot_add_refused_as_permanent_failure",
        format_args!("{resp:?}"),
    );
    let text = debugfs();
    let caps_line = text.lines().find(|l| l.starts_with("capabilities"));
    t.diag(format_args!("debugfs: {}", caps_line.unwrap_or("")));
    let want = if hot_add_cap {
        ": enabled hot_add hibernation"
    } else {
        ": enabled hibernation"
    };
    t.check(
        caps_line.is_some_and(|l| l.ends_with(want)),
        "debugfs_capabilities_show_hibernation",
        format_args!("{caps_line:?}"),
    );
    hvdm_drv_stop(core::ptr::null_mut());
    t.finish()
}
