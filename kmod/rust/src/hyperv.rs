//! The real hypercall backend: the kernel's `hv_do_hypercall()` (the hypercall page on x86-64,
//! `HVC #0` on arm64).
//!
//! The input and output pages are this backend's own (kmalloc'd, page-aligned, direct-mapped),
//! not the kernel's per-CPU pages, so nothing here needs interrupts disabled: the owner keeps
//! the backend behind a lock for the duration of a batch. The call itself is the kernel's
//! `hv_do_hypercall()` in the C glue (set up by the kernel's Hyper-V code on either architecture).
#![expect(
    unsafe_code,
    reason = "FFI: the hypercall and the physical address lookup"
)]

use alloc::boxed::Box;
use hvcall::{Control, HvPage, HypercallBackend, HypercallOutput};
use hyperv_bindings::kernel as k;

/// A [`HypercallBackend`] over the kernel's `hv_do_hypercall()` with two pages of its own.
pub struct KernelHypercalls {
    input: Box<HvPage>,
    output: Box<HvPage>,
    input_gpa: u64,
    output_gpa: u64,
}

impl KernelHypercalls {
    /// Allocates the two parameter pages (GFP_KERNEL; process context), zeroed directly on the
    /// heap (no 4 KiB temporary on the kernel stack); `None` when the allocation fails.
    pub fn new() -> Option<Self> {
        let input = HvPage::new_boxed().ok()?;
        let output = HvPage::new_boxed().ok()?;
        // SAFETY: a live kmalloc'd (direct-mapped) allocation; only its address is used.
        let input_gpa = unsafe { k::kglue_virt_to_phys((&raw const *input).cast()) };
        // SAFETY: as above.
        let output_gpa = unsafe { k::kglue_virt_to_phys((&raw const *output).cast()) };
        Some(Self {
            input,
            output,
            input_gpa,
            output_gpa,
        })
    }
}

impl HypercallBackend for KernelHypercalls {
    fn input_page(&mut self) -> &mut HvPage {
        &mut self.input
    }

    fn output_page(&self) -> &HvPage {
        &self.output
    }

    fn call(&mut self, control: Control) -> HypercallOutput {
        // SAFETY: the GPAs name `self.input`/`self.output`, owned by `self` and borrowed
        // exclusively by `&mut self` for the call; the hypervisor reads at most the input page
        // and writes at most the output page. The C side refuses calls without a hypercall
        // page (it returns U64_MAX, which decodes as a failure status).
        HypercallOutput(unsafe { k::kglue_hypercall(control.0, self.input_gpa, self.output_gpa) })
    }
}
