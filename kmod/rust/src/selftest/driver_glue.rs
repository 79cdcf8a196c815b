//! Self-test (d): `hv_dynmem.ko`'s own Rust entry points, in the kernel.
//!
//! Calls `hvdm_drv_start`/`hvdm_drv_step`/`hvdm_drv_debugfs`/`hvdm_drv_stop` exactly as the
//! driver's C glue does, with the self-test module's in-memory stand-in for the VMBus channel
//! underneath [`crate::channel::KernelChannel`] (`kglue_vmbus_send`/`recv` in `selftest.c`).
//! The host end is a short script from the project's protocol encoder and parser: handshake,
//! a status report after a real second, a 512-page balloon and its unballoon. The driver's
//! reporter probe runs too: without Hyper-V's CPUID leaves it must stay off.

use super::Ktap;
use crate::driver::{hvdm_drv_debugfs, hvdm_drv_start, hvdm_drv_step, hvdm_drv_stop};
use crate::ffi;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::{c_int, c_void};
use hv_dynmem::protocol::{Caps, Message, PageRange, Version, encode, parse};
use hyperv_bindings::kernel as k;
use zerocopy::IntoBytes;

/// Takes every waiting guest message and hands each to `f`.
pub(super) fn drain(buf: &mut [u8], mut f: impl FnMut(Message<'_>)) {
    while let Some(n) = ffi::st_host_recv(buf) {
        if let Some(m) = buf.get(..n).and_then(|b| parse(b).ok()) {
            f(m);
        }
    }
}

/// The debugfs file as the C glue would print it.
pub(super) fn debugfs() -> String {
    let mut data = alloc::vec![0u8; 4096];
    let mut kb = k::kglue_buf {
        data: data.as_mut_ptr(),
        cap: data.len(),
        len: 0,
    };
    // SAFETY: `kb` describes `data`, which is writable for its length and unused during the
    // call.
    let ret = unsafe { hvdm_drv_debugfs((&raw mut kb).cast::<c_void>()) };
    let len = kb.len.min(data.len());
    if ret != 0 {
        return String::new();
    }
    String::from_utf8_lossy(&data[..len]).into_owned()
}

/// The value of the debugfs line `key` as a number.
pub(super) fn debugfs_value(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// Starts the driver through `hvdm_drv_start` and answers its handshake as the host
/// (version 2.0 and capabilities accepted); the capabilities the driver reported, or `None`
/// when the handshake did not go as it should.
pub(super) fn connect(params: &mut k::kglue_drv_params, buf: &mut [u8]) -> Option<Caps> {
    // SAFETY: `params` is a valid `kglue_drv_params` for the call.
    let started = unsafe { hvdm_drv_start((&raw mut *params).cast::<c_void>()) };
    if started != 0 {
        return None;
    }
    handshake(buf)
}

/// Answers a version request and the capabilities report that follows; the capabilities.
pub(super) fn handshake(buf: &mut [u8]) -> Option<Caps> {
    let mut version = None;
    drain(buf, |m| {
        if let Message::VersionRequest(v) = m {
            version = Some(v.version());
        }
    });
    if version != Some(Version::WIN10) {
        return None;
    }
    ffi::st_host_send(encode::version_response(1, true).as_bytes());
    hvdm_drv_step(core::ptr::null_mut());
    let mut caps = None;
    drain(buf, |m| {
        if let Message::CapabilitiesReport(r) = m {
            caps = Some(r.caps());
        }
    });
    ffi::st_host_send(encode::capabilities_response(2, true, false, false).as_bytes());
    hvdm_drv_step(core::ptr::null_mut());
    caps
}

/// The parameters as the module's load options give them (`hot_add`, `hibernation`), before
/// any probe rule (`ffi::probe_arch`).
pub(super) fn load_params(hot_add: bool, hibernation: bool) -> k::kglue_drv_params {
    k::kglue_drv_params {
        pressure_report_delay: 0,
        hot_add: u32::from(hot_add),
        reporting: 0,
        reporting_order: 0,
        memory_block_pages: ffi::memory_block_pages(),
        hibernation: u32::from(hibernation),
        hot_add_cap: 0,
    }
}

/// Steps the driver (as [`step_until`]) until it answers a hot-add request: the response's
/// (page count, result), or `None` without an answer.
pub(super) fn hot_add_response(buf: &mut [u8], steps: u32, ms: u32) -> Option<(u32, u32)> {
    let mut resp = None;
    step_until(buf, steps, ms, |m| {
        if let Message::HotAddResponse(r) = m {
            resp = Some((r.page_count.get(), r.result.get()));
            return true;
        }
        false
    });
    resp
}

/// Steps the driver until `f` has seen what it waits for (returns true), at most `steps`
/// times with `ms` milliseconds between steps.
pub(super) fn step_until(
    buf: &mut [u8],
    steps: u32,
    ms: u32,
    mut f: impl FnMut(Message<'_>) -> bool,
) -> bool {
    for _ in 0..steps {
        hvdm_drv_step(core::ptr::null_mut());
        let mut done = false;
        drain(buf, |m| done |= f(m));
        if done {
            return true;
        }
        if ms > 0 {
            ffi::msleep(ms);
        }
    }
    false
}

/// The test body.
pub fn run() -> c_int {
    let mut t = Ktap::start("driver_entry_points", 8);
    let mut buf = alloc::vec![0u8; 8192];
    let mut params = k::kglue_drv_params {
        pressure_report_delay: 0,
        hot_add: 1,
        reporting: 1,
        reporting_order: 0,
        memory_block_pages: 32768,
        hibernation: 0,
        hot_add_cap: 0,
    };
    // As the driver's probe: the architecture decides the hot-add capability.
    ffi::probe_arch(&mut params);
    // SAFETY: `params` is a valid `kglue_drv_params` for the call.
    let started = unsafe { hvdm_drv_start((&raw mut params).cast::<c_void>()) };
    let mut first = None;
    drain(&mut buf, |m| {
        if let Message::VersionRequest(v) = m {
            first = Some(v.version());
        }
    });
    t.check(
        started == 0 && first == Some(Version::WIN10),
        "start_sends_version_request",
        format_args!("start {started}, first {first:?}"),
    );

    ffi::st_host_send(encode::version_response(1, true).as_bytes());
    let step = |_: ()| hvdm_drv_step(core::ptr::null_mut());
    let ms = step(());
    let mut caps = false;
    drain(&mut buf, |m| {
        caps |= matches!(m, Message::CapabilitiesReport(_))
    });
    ffi::st_host_send(encode::capabilities_response(2, true, false, false).as_bytes());
    let ms2 = step(());
    t.check(
        caps && (0..=1000).contains(&ms) && (0..=1000).contains(&ms2),
        "handshake_through_kernel_channel",
        format_args!("caps {caps}, next steps in {ms} / {ms2} ms"),
    );

    // A real second later a status report is due.
    ffi::msleep(1100);
    step(());
    let mut status = None;
    drain(&mut buf, |m| {
        if let Message::StatusReport(s) = m {
            status = Some(s.num_avail.get());
        }
    });
    t.check(
        status.is_some_and(|a| a > 0),
        "status_report_sent",
        format_args!("{status:?}"),
    );

    // Balloon 512 pages.
    let before = ffi::meminfo().totalram;
    ffi::st_host_send(encode::balloon_request(3, 512).as_bytes());
    let mut given: Vec<PageRange> = Vec::new();
    let mut done = false;
    for _ in 0..50 {
        step(());
        drain(&mut buf, |m| {
            if let Message::BalloonResponse { hdr, ranges } = m {
                given.extend_from_slice(ranges);
                done |= !hdr.more_pages();
            }
        });
        if done {
            break;
        }
        ffi::msleep(25);
    }
    let pages: u64 = given.iter().map(|r| r.page_cnt()).sum();
    let during = ffi::meminfo().totalram;
    t.check(
        done && pages == 512 && before - during == 512,
        "balloon_512_pages",
        format_args!("done {done}, {pages} pages, totalram {before} -> {during}"),
    );

    let text = debugfs();
    let lines_ok = [
        "host_version",
        "capabilities",
        "state",
        "page_size",
        "pages_added",
        "pages_onlined",
        "pages_ballooned",
        "total_pages_committed",
        "max_dynamic_page_count",
        "balloon_blocks",
        "reporting",
    ]
    .iter()
    .all(|l| text.lines().any(|x| x.starts_with(l)));
    let values_ok = text
        .lines()
        .any(|l| l.starts_with("host_version") && l.ends_with(": 2.0"))
        && text
            .lines()
            .any(|l| l.starts_with("pages_ballooned") && l.ends_with(": 512"));
    t.check(
        lines_ok && values_ok,
        "debugfs_has_hv_balloon_lines_and_ours",
        format_args!("{text:?}"),
    );
    for l in text.lines() {
        t.diag(format_args!("debugfs: {l}"));
    }
    t.check(
        text.lines()
            .any(|l| l.starts_with("reporting") && l.contains("off")),
        "reporting_stays_off_without_hyper_v",
        format_args!("{text:?}"),
    );

    let req = encode::unballoon_request(4, false, u32::try_from(given.len()).unwrap_or(0));
    ffi::st_host_send(&encode::to_vec(&req, &given));
    let mut acked = false;
    for _ in 0..20 {
        step(());
        drain(&mut buf, |m| {
            acked |= matches!(m, Message::UnballoonResponse(_))
        });
        if acked {
            break;
        }
        ffi::msleep(25);
    }
    let after = ffi::meminfo().totalram;
    t.check(
        acked && after == before,
        "unballoon_restores_totalram",
        format_args!("acked {acked}, totalram {before} -> {during} -> {after}"),
    );
    let stopped = hvdm_drv_stop(core::ptr::null_mut());
    t.check(
        stopped == 0 && hvdm_drv_step(core::ptr::null_mut()) == -1,
        "stop_ends_the_driver",
        format_args!("stop {stopped}"),
    );
    t.finish()
}
