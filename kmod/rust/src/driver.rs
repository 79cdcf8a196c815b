//! The Rust side of `hv_dynmem.ko`: the DM driver core, the Linux adapter and the Hyper-V
//! reporter, driven by the C glue's work items.
//!
//! Threading: every entry point runs in process context (a work item, probe/remove, or the
//! kernel's page-reporting work) inside `kglue_guarded_call`. The driver core and the reporter
//! live behind separate locks so the page-reporting callback never waits for a driver step.
#![expect(unsafe_code, reason = "entry points called from C with C pointers")]

use crate::ffi::Block;
use crate::hyperv::KernelHypercalls;
use core::ffi::{c_int, c_void};
use hv_reporting::HvReporter;
use hyperv_bindings::kernel as k;
use spin::Mutex;

/// The reporter and its hypercall backend (created when the driver enables reporting).
struct Reporting {
    reporter: HvReporter,
    backend: KernelHypercalls,
}

static REPORTING: Mutex<Option<Reporting>> = Mutex::new(None);

/// The page-reporting callback of `hv_dynmem.ko` (arg: `kglue_batch`). 0 = reported.
#[unsafe(no_mangle)]
pub extern "C" fn hvdm_drv_report(arg: *mut c_void) -> c_int {
    // SAFETY: the C glue passes a valid `kglue_batch` whose `blocks` points to `count` (≤ 32)
    // initialised `kglue_block`s on its stack, alive for the whole call.
    let blocks: &[Block] = unsafe {
        let b = &*(arg as *const k::kglue_batch);
        core::slice::from_raw_parts(b.blocks, b.count as usize)
    };
    let mut guard = REPORTING.lock();
    let Some(r) = guard.as_mut() else { return -1 };
    match crate::report::report(&mut r.reporter, &mut r.backend, blocks) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}
