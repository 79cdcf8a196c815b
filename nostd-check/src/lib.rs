//! A `#![no_std]` staticlib linking the core crates with `default-features = false`.
//!
//! If any of them (or a dependency) pulled in `std`, this crate would fail to build with
//! `error[E0152]: found duplicate lang item panic_impl`. `.ci/run` builds it on its own
//! (`cargo build --manifest-path nostd-check/Cargo.toml --release`, its own workspace), so feature unification with the std users in the
//! workspace cannot hide a leak.
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::panic::PanicInfo;

pub use hv_dynmem;
pub use hv_reclaim;
pub use hv_reporting;
pub use hvcall;
pub use vmbus;

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// An allocator that never has memory: enough to link `alloc` users without `std`.
struct NoMemory;

// SAFETY: `alloc` always returns null, which `GlobalAlloc` allows ("returning a null pointer
// indicates that either memory is exhausted or layout does not meet this allocator's size or
// alignment constraints"); `dealloc` is then never called with a pointer from this allocator,
// so doing nothing in it upholds its contract.
#[expect(unsafe_code, reason = "a GlobalAlloc impl is unsafe by definition")]
unsafe impl GlobalAlloc for NoMemory {
    unsafe fn alloc(&self, _layout: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: NoMemory = NoMemory;

/// A guest with nothing to reclaim: instantiates the generic reclaim policies so their code
/// is compiled (and linked) without `std` too, not only type-checked.
struct NothingToReclaim;

impl hv_reclaim::CacheControl for NothingToReclaim {
    fn reclaim(&mut self, _bytes: u64, _sw: Option<u8>, _limit: u64) -> hv_reclaim::Outcome {
        hv_reclaim::Outcome::default()
    }
    fn drop_caches(&mut self, _level: u8) -> hv_reclaim::Outcome {
        hv_reclaim::Outcome::default()
    }
    fn compact(&mut self) -> hv_reclaim::Outcome {
        hv_reclaim::Outcome::default()
    }
}

/// One step of WSL's 2026 `gradual` policy and of ours at `now` (ns): whether WSL judged the
/// VM idle.
#[unsafe(no_mangle)]
pub extern "C" fn nostd_check_reclaim_tick(now: u64) -> bool {
    let s = hv_reclaim::Sample {
        now_ns: now,
        ..hv_reclaim::Sample::default()
    };
    let mut ours = hv_reclaim::Reclaimer::new(
        hv_reclaim::ReclaimMode::Ours,
        hv_reclaim::CachePolicy::Gradual,
        9,
        hv_reclaim::OursConfig::default(),
    );
    ours.run(&s, &mut NothingToReclaim);
    let mut thread = hv_reclaim::ReclaimThread::new(
        hv_reclaim::CachePolicy::Gradual,
        hv_reclaim::CacheEra::Y2026,
        9,
    );
    let mut w = hv_reclaim::Reclaimer::Wsl(thread.clone());
    w.run(&s, &mut NothingToReclaim);
    thread.step(&s);
    thread.idle()
}
