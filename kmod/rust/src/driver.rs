//! The Rust side of `hv_dynmem.ko`: the DM driver core ([`hv_dynmem::driver::Driver`]) with
//! the Linux adapter ([`LinuxMemory`], [`KernelChannel`]) and the Hyper-V reporter, driven by
//! the C glue's work item.
//!
//! Threading: every entry point runs in process context (the work item, probe/remove, debugfs
//! reads, or the kernel's page-reporting work) inside `kglue_guarded_call`. The driver core and
//! the reporter live behind separate locks, so the page-reporting callback never waits for a
//! driver step and a driver step never waits for a report.
#![expect(unsafe_code, reason = "entry points called from C with C pointers")]

use crate::channel::KernelChannel;
use crate::ffi::{self, Block};
use crate::hyperv::KernelHypercalls;
use crate::linux::LinuxMemory;
use core::ffi::{c_int, c_void};
use core::fmt::Write;
use hv_dynmem::driver::{Config, Driver, Event};
use hv_reporting::{HvReporter, HvReporterConfig};
use hvcall::PartitionPrivileges;
use hvcall::discovery::FixedCpuId;
use hyperv_bindings::kernel as k;
use spin::Mutex;

/// The driver core and what it acts through.
struct DrvState {
    driver: Driver,
    mem: LinuxMemory,
    ch: KernelChannel,
    reporting: bool,
    reporting_order: u32,
}

/// The reporter and its hypercall backend (created when the handshake completes).
struct Reporting {
    reporter: HvReporter,
    backend: KernelHypercalls,
}

static DRIVER: Mutex<Option<DrvState>> = Mutex::new(None);
static REPORTING: Mutex<Option<Reporting>> = Mutex::new(None);

/// Longest sleep between steps (ms): the reporter's failure check runs about once a second.
const MAX_SLEEP_MS: u64 = 1000;

/// Probe: creates the driver core and sends the first version request.
///
/// # Safety
/// `arg` must point to a valid `kglue_drv_params` for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hvdm_drv_start(arg: *mut c_void) -> c_int {
    crate::klog::init(log::LevelFilter::Info);
    // SAFETY: the caller's contract (the C glue passes its stack copy of the parameters).
    let p = unsafe { &*arg.cast::<k::kglue_drv_params>() };
    let config = Config {
        pressure_report_delay: p.pressure_report_delay,
        // The glue's architecture rule (`kglue_probe_arch`): no hot-add capability means no
        // hot-add either (arm64).
        hot_add: p.hot_add != 0 && p.hot_add_cap != 0,
        hot_add_cap: p.hot_add_cap != 0,
        hibernation: p.hibernation != 0,
        ..Config::default()
    };
    let mut st = DrvState {
        driver: Driver::new(config, p.memory_block_pages),
        mem: LinuxMemory::new(p.memory_block_pages),
        ch: KernelChannel,
        reporting: p.reporting != 0,
        reporting_order: p.reporting_order,
    };
    st.driver.start(&mut st.ch, ffi::now_ns());
    *DRIVER.lock() = Some(st);
    0
}

/// One step: channel, timers, events. Returns the milliseconds until the next step is due.
#[unsafe(no_mangle)]
pub extern "C" fn hvdm_drv_step(_arg: *mut c_void) -> c_int {
    let mut guard = DRIVER.lock();
    let Some(st) = guard.as_mut() else { return -1 };
    let now = ffi::now_ns();
    // SAFETY: no arguments.
    let onlined = unsafe { k::kglue_drv_take_onlined() };
    if onlined > 0 {
        st.driver.on_pages_onlined(onlined);
    }
    // Memory the kernel took offline since the last step (the C memory notifier queues it:
    // it cannot call in here, a step may be waiting for the hotplug lock the notifier holds).
    let (mut start, mut pages) = (0u64, 0u64);
    // SAFETY: both are valid out-pointers for the duration of each call.
    while unsafe { k::kglue_drv_take_offlined(&mut start, &mut pages) } != 0 {
        st.driver.on_memory_offline(start, pages);
    }
    st.driver.on_channel_interrupt(&mut st.ch, &mut st.mem, now);
    st.driver.poll(&mut st.ch, &mut st.mem, now);
    while let Some(ev) = st.driver.poll_event() {
        match ev {
            Event::Connected { version } => {
                log::info!("connected to the host, protocol {version:?}");
                if st.reporting {
                    enable_reporting(st.reporting_order);
                }
            }
            Event::InitFailed(why) => log::error!("handshake failed: {why}"),
            // Later core versions add events (e.g. the channel closing); they all mean the
            // core has stopped, which `next_deadline` already reflects.
            #[allow(unreachable_patterns, reason = "depends on the core's version")]
            other => log::warn!("driver core stopped: {other:?}"),
        }
    }
    if let Some(why) = REPORTING
        .lock()
        .as_mut()
        .and_then(|r| r.reporter.poll_disable())
    {
        log::warn!("disabling page reporting: {why}");
        // SAFETY: no arguments; we are in the work item, never in the report callback.
        unsafe { k::kglue_drv_reporting_disable() };
    }
    let next = st
        .driver
        .next_deadline()
        .map_or(MAX_SLEEP_MS, |d| d.saturating_sub(now) / 1_000_000)
        .min(MAX_SLEEP_MS);
    c_int::try_from(next).unwrap_or(1000)
}

/// Probes the cold-discard capability and registers with the kernel's page-reporting core.
fn enable_reporting(order: u32) {
    let Some(mut backend) = KernelHypercalls::new() else {
        log::warn!("page reporting off: no memory for the hypercall parameter pages");
        return;
    };
    // The privileges as the kernel read them at boot (CPUID on x86-64, a Hyper-V register on
    // arm64): the kernel's Hyper-V code found the hypervisor, or hv_vmbus would not have
    // probed us. hv_balloon decides on the same fields.
    // SAFETY: no arguments, returns an integer.
    let privileges = PartitionPrivileges::from_bits_retain(unsafe { k::kglue_hv_privileges() });
    let cpu = FixedCpuId::hyperv(privileges);
    let reporter = HvReporter::probe(&mut backend, &cpu, HvReporterConfig::default());
    if !reporter.is_enabled() {
        return;
    }
    *REPORTING.lock() = Some(Reporting { reporter, backend });
    // SAFETY: plain integer; called from the work item.
    let ret = unsafe { k::kglue_drv_reporting_enable(order) };
    if ret != 0 {
        *REPORTING.lock() = None;
    }
}

/// Remove: drops the driver core (the channel is closed already, reporting unregistered).
#[unsafe(no_mangle)]
pub extern "C" fn hvdm_drv_stop(_arg: *mut c_void) -> c_int {
    if let Some(mut st) = DRIVER.lock().take() {
        st.driver.suspend(&mut st.mem);
    }
    *REPORTING.lock() = None;
    0
}

/// Suspend (hibernation): the C glue has cancelled the work item, unregistered page
/// reporting and closed the channel. The core stops all work; the reporter is dropped and
/// probed again once the core reconnects after resume.
#[unsafe(no_mangle)]
pub extern "C" fn hvdm_drv_suspend(_arg: *mut c_void) -> c_int {
    let mut guard = DRIVER.lock();
    let Some(st) = guard.as_mut() else {
        return -19; // -ENODEV
    };
    st.driver.suspend(&mut st.mem);
    drop(guard);
    *REPORTING.lock() = None;
    0
}

/// Resume: the channel is open again; the core negotiates from scratch (version 2.0 first).
#[unsafe(no_mangle)]
pub extern "C" fn hvdm_drv_resume(_arg: *mut c_void) -> c_int {
    let mut guard = DRIVER.lock();
    let Some(st) = guard.as_mut() else {
        return -19; // -ENODEV
    };
    st.driver.resume(&mut st.ch, ffi::now_ns());
    0
}

/// The page-reporting callback (arg: `kglue_batch`). 0 = reported.
///
/// # Safety
/// `arg` must point to a valid `kglue_batch` (see [`crate::ffi::batch`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hvdm_drv_report(arg: *mut c_void) -> c_int {
    // SAFETY: the C glue passes a valid `kglue_batch` whose `blocks` points to `count` (≤ 32)
    // initialised `kglue_block`s on its stack, alive for the whole call.
    let blocks: &[Block] = unsafe { crate::ffi::batch(arg) };
    // Never wait here: a step holding the lock briefly means this batch simply goes back
    // unreported (and a context that panicked holding it must not stall the kernel's work).
    let Some(mut guard) = REPORTING.try_lock() else {
        return -1;
    };
    let Some(r) = guard.as_mut() else { return -1 };
    match crate::report::report(&mut r.reporter, &mut r.backend, blocks) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// A `kglue_buf` as a `fmt::Write` target (truncates at its capacity).
struct BufWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for BufWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// debugfs: hv_balloon's lines, then the reporter's and the adapter's counters.
///
/// # Safety
/// `arg` must point to a valid `kglue_buf` whose `data` is writable for `cap` bytes, not used
/// elsewhere during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hvdm_drv_debugfs(arg: *mut c_void) -> c_int {
    // SAFETY: the caller's contract.
    let kb = unsafe { &mut *arg.cast::<k::kglue_buf>() };
    // SAFETY: as above: `data` points to `cap` writable bytes owned by the caller.
    let bytes = unsafe { core::slice::from_raw_parts_mut(kb.data, kb.cap) };
    let mut w = BufWriter { buf: bytes, len: 0 };
    let Some(driver) = DRIVER.try_lock() else {
        let _ = writeln!(w, "busy: a driver step is running, read again");
        kb.len = w.len;
        return 0;
    };
    if let Some(st) = driver.as_ref() {
        let _ = write!(w, "{}", st.driver.debugfs(&st.mem));
        let c = st.mem.counters();
        let _ = writeln!(w, "{:<22}: {}", "balloon_blocks", c.blocks_allocated);
        let _ = writeln!(w, "{:<22}: {}", "balloon_alloc_failures", c.alloc_failures);
        let _ = writeln!(w, "{:<22}: {}", "balloon_pages_freed", c.pages_freed);
        let h = ffi::ha_stats();
        let _ = writeln!(w, "{:<22}: {}", "hot_add_blocks", h.blocks_added);
        let _ = writeln!(w, "{:<22}: {}", "hot_add_refused", h.add_refused);
        let _ = writeln!(w, "{:<22}: {}", "hot_add_ranges", h.added_ranges);
        let _ = writeln!(w, "{:<22}: {}", "backed_ranges", h.backed_ranges);
        let _ = writeln!(w, "{:<22}: {}", "range_capacity", h.range_capacity);
        let _ = writeln!(w, "{:<22}: {}", "record_failures", h.record_failures);
        let _ = writeln!(w, "{:<22}: {}", "offline_events", h.offline_events);
    }
    drop(driver);
    match REPORTING.try_lock().as_ref().and_then(|r| r.as_ref()) {
        Some(r) => {
            let s = r.reporter.stats();
            let _ = writeln!(w, "{:<22}: {:?}", "reporting", r.reporter.state());
            let _ = writeln!(w, "{:<22}: {}", "reported_batches", s.batches);
            let _ = writeln!(w, "{:<22}: {}", "reported_failed", s.batches_failed);
            let _ = writeln!(w, "{:<22}: {}", "reported_ranges", s.ranges);
            let _ = writeln!(w, "{:<22}: {}", "reported_bytes", s.bytes_reported);
            let _ = writeln!(w, "{:<22}: {}", "heat_hint_hypercalls", s.hypercalls);
        }
        None => {
            let _ = writeln!(w, "{:<22}: off", "reporting");
        }
    }
    kb.len = w.len;
    0
}
