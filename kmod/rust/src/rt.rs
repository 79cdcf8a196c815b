//! The kernel runtime: global allocator over `kmalloc`, and the panic handler.
//!
//! A Rust panic never takes the machine down: the handler calls `kglue_panic`, which prints a
//! WARN with the message and a stack trace, marks the driver dead (the C glue calls no Rust
//! entry point again) and leaves the Rust code through the innermost guarded call of this task
//! (`kglue_guarded_call`), which returns `-EFAULT` to the C caller. Memory and pages owned by
//! the abandoned Rust state are deliberately leaked: a driver in an unknown state must not give
//! back pages the host may still own.
#![expect(
    unsafe_code,
    reason = "GlobalAlloc and the panic handler are FFI by nature"
)]

use core::alloc::{GlobalAlloc, Layout};
use core::panic::PanicInfo;
use hyperv_bindings::kernel as k;

/// `kmalloc`/`kfree` as Rust's global allocator (GFP_KERNEL: process context only).
pub struct KernelAlloc;

// SAFETY: `kglue_alloc` returns null or a block of at least `size` bytes aligned to `align`
// (the C side rounds power-of-two sizes so kmalloc's natural alignment applies and refuses
// align > PAGE_SIZE with null); `kglue_free` takes exactly the pointers `kglue_alloc` returned.
unsafe impl GlobalAlloc for KernelAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain integers in; the C side allocates.
        unsafe { k::kglue_alloc(layout.size(), layout.align()).cast() }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above (GlobalAlloc's contract on the caller).
        unsafe { k::kglue_free(ptr.cast()) }
    }
}

#[global_allocator]
static ALLOCATOR: KernelAlloc = KernelAlloc;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut line = crate::klog::LineBuf::new();
    let _ = write!(line, "{info}");
    let msg = line.as_bytes();
    // SAFETY: `msg` is valid for its length during the call. With a guard active the call does
    // not return (it resumes in `kglue_guarded_call`); the trap below covers the case where no
    // guard is active, which the C glue never allows (every Rust entry is guarded).
    unsafe { k::kglue_panic(msg.as_ptr(), msg.len()) };
    trap()
}

/// An undefined instruction: the kernel reports an oops in this task. Reached only without a
/// guard.
#[cfg(target_arch = "x86_64")]
fn trap() -> ! {
    // SAFETY: `ud2` raises #UD and never falls through.
    unsafe { core::arch::asm!("ud2", options(noreturn, nomem, nostack)) }
}

/// An undefined instruction: the kernel reports an oops in this task. Reached only without a
/// guard.
#[cfg(target_arch = "aarch64")]
fn trap() -> ! {
    // SAFETY: `udf #0` is permanently undefined (an undefined-instruction exception) and never
    // falls through.
    unsafe { core::arch::asm!("udf #0", options(noreturn, nomem, nostack)) }
}
