//! In-kernel self-tests (run by `hv_dynmem_selftest.ko`), printing KTAP.
//!
//! The C module prints the top-level KTAP header and one `ok`/`not ok` line per test (so a
//! test that panics still shows up as failed); each test here prints its own indented subtest
//! plan and results through [`Ktap`].
#![expect(unsafe_code, reason = "the entry points are called from C")]

use crate::ktap;

mod balloon;
mod dm_core;
mod driver_glue;
#[cfg(target_arch = "x86_64")]
mod hot_add;
#[cfg(target_arch = "aarch64")]
mod hot_add_off;
mod lifecycle;
mod reporting;
use core::ffi::{c_int, c_void};

/// One subtest reporter for a test: numbers the subtest lines and counts failures.
pub struct Ktap {
    n: u32,
    failed: u32,
}

impl Ktap {
    /// Starts a test: prints the nested KTAP header, the test's name and its plan.
    pub fn start(name: &str, plan: u32) -> Self {
        ktap!("    KTAP version 1");
        ktap!("    # Subtest: {name}");
        ktap!("    1..{plan}");
        Self { n: 0, failed: 0 }
    }

    /// Records one subtest result, with a diagnostic line when it failed.
    pub fn check(&mut self, ok: bool, name: &str, diag: core::fmt::Arguments<'_>) {
        self.n += 1;
        if ok {
            ktap!("    ok {} {name}", self.n);
        } else {
            self.failed += 1;
            ktap!("    # {name}: {diag}");
            ktap!("    not ok {} {name}", self.n);
        }
    }

    /// Prints a diagnostic line.
    pub fn diag(&self, args: core::fmt::Arguments<'_>) {
        ktap!("    # {args}");
    }

    /// The number of failed subtests.
    pub fn finish(self) -> c_int {
        c_int::try_from(self.failed).unwrap_or(c_int::MAX)
    }
}

/// A test: name and body (returns the number of failed subtests).
type Test = (&'static core::ffi::CStr, fn() -> c_int);

/// The Rust suite, in order.
const TESTS: &[Test] = &[
    (c"runtime", runtime),
    (c"balloon", balloon::run),
    (c"dm_core", dm_core::run),
    (c"driver_entry_points", driver_glue::run),
    (c"page_reporting", reporting::run),
    (c"page_reporting_failure", reporting::run_failure),
    (c"suspend_resume", lifecycle::run_suspend_resume),
    (c"hibernation", lifecycle::run_hibernation),
    // x86-64: real hot-add in the QEMU pc guest's unused RAM, then offlining it.
    #[cfg(target_arch = "x86_64")]
    (c"hot_add_12g", hot_add::run_hot_add),
    #[cfg(target_arch = "x86_64")]
    (c"memory_offline", hot_add::run_memory_offline),
    // arm64: hot-add is off as in hv_balloon; the test proves it is neither advertised nor done.
    #[cfg(target_arch = "aarch64")]
    (c"hot_add_off", hot_add_off::run),
];

/// Number of tests in the Rust suite.
#[unsafe(no_mangle)]
pub extern "C" fn hvdm_selftest_count() -> c_int {
    c_int::try_from(TESTS.len()).unwrap_or(0)
}

/// The name of test `index` as a static C string.
#[unsafe(no_mangle)]
pub extern "C" fn hvdm_selftest_name(index: c_int) -> *const core::ffi::c_char {
    usize::try_from(index)
        .ok()
        .and_then(|i| TESTS.get(i))
        .map_or(c"?".as_ptr(), |t| t.0.as_ptr())
}

/// Panics on purpose: the panic guard test (the C side expects `-EFAULT` back).
#[unsafe(no_mangle)]
pub extern "C" fn hvdm_selftest_panic(_arg: *mut c_void) -> c_int {
    let v: alloc::vec::Vec<u8> = alloc::vec::Vec::new();
    // An out-of-bounds index the optimiser cannot prove: the length comes from the kernel clock.
    let i = (crate::ffi::now_ns() as usize) | 1;
    c_int::from(v[i])
}

/// Runs test `index` (passed as the pointer-sized guarded-call argument); returns its failures,
/// or -1 when there is no such test.
#[unsafe(no_mangle)]
pub extern "C" fn hvdm_selftest_run(index: *mut c_void) -> c_int {
    crate::klog::init(log::LevelFilter::Info);
    crate::klog::set_ktap_mode(true);
    match TESTS.get(index as usize) {
        Some((_, body)) => body(),
        None => -1,
    }
}

/// The runtime itself: allocator, formatting, 128-bit arithmetic.
fn runtime() -> c_int {
    use alloc::vec::Vec;
    let mut t = Ktap::start("runtime", 3);
    let mut v: Vec<u64> = (0..1000u64).rev().collect();
    v.sort_unstable();
    t.check(
        v.iter().enumerate().all(|(i, &x)| x == i as u64),
        "alloc_vec_sort",
        format_args!("{:?}", v.get(..4)),
    );
    let big = alloc::boxed::Box::new([7u8; 8192]);
    t.check(
        big.iter().all(|&b| b == 7),
        "alloc_8k_box",
        format_args!("contents differ"),
    );
    let q = (1u128 << 80) / 3;
    t.check(
        q as u64 == 0x5555_5555_5555_5555,
        "u128_division",
        format_args!("{q:#x}"),
    );
    t.finish()
}
