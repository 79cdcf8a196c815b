//! arm64: hypercalls with `HVC #0` and the Arm SMCCC function id 0x46000001 (fact sheet C.4).
//!
//! X0 = function id, X1 = control word, X2 = input GPA, X3 = output GPA; result in X0.
//! There is no hypercall page. Setup (guest OS id through HvCallSetVpRegisters, privileges from
//! register 0x200) uses ordinary hypercalls on top of this backend.
//!
//! UNSAFETY: one `hvc` instruction; its soundness rests on [`SmcccBackend::new`]'s contract.
#![expect(unsafe_code, reason = "the HVC instruction is inherently unsafe")]

use core::arch::asm;

use crate::backend::HypercallBackend;
use crate::control::{Control, HypercallOutput};
use crate::page::HvPage;
use crate::setup::SMCCC_HV_FUNC_ID;
use crate::status::HvStatus;

/// A backend issuing `HVC #0` (SMCCC) hypercalls with two borrowed parameter pages.
#[derive(Debug)]
pub struct SmcccBackend<'a> {
    input: &'a mut HvPage,
    input_gpa: u64,
    output: &'a mut HvPage,
    output_gpa: u64,
}

impl<'a> SmcccBackend<'a> {
    /// A backend over two parameter pages.
    ///
    /// # Safety
    /// For the whole lifetime of the backend:
    /// * the code runs at EL1 in a guest of Hyper-V (detected via ACPI "MsHyperV" or the SMCCC
    ///   vendor UUID, fact sheet C.4) — `HVC` elsewhere is undefined;
    /// * `input_gpa` / `output_gpa` are the guest physical addresses of `input` / `output`
    ///   (in 4 KiB Hyper-V units, whatever the guest page size), ordinary RAM pages;
    /// * nothing else uses the two pages while a call runs (keep interrupts disabled).
    pub unsafe fn new(
        input: &'a mut HvPage,
        input_gpa: u64,
        output: &'a mut HvPage,
        output_gpa: u64,
    ) -> Self {
        Self {
            input,
            input_gpa,
            output,
            output_gpa,
        }
    }
}

impl HypercallBackend for SmcccBackend<'_> {
    fn input_page(&mut self) -> &mut HvPage {
        self.input
    }

    fn output_page(&self) -> &HvPage {
        self.output
    }

    /// Memory-based calls only: a fast control word is refused without a call and answered
    /// with `HV_STATUS_INVALID_HYPERCALL_INPUT` (fast output registers are not described).
    fn call(&mut self, control: Control) -> HypercallOutput {
        if control.fast() {
            return HypercallOutput::new(HvStatus::INVALID_HYPERCALL_INPUT, 0);
        }
        let result: u64;
        // SAFETY: `new`'s contract guarantees EL1 under Hyper-V and that the GPAs name
        // `self.input` / `self.output`, borrowed exclusively by `self`. The hypervisor reads
        // the input page and writes at most the output page (memory not declared untouched).
        // SMCCC returns in X0 and may leave X1–X17 changed (SMCCC 1.0), so they are all
        // declared clobbered.
        unsafe {
            asm!(
                "hvc #0",
                inout("x0") SMCCC_HV_FUNC_ID => result,
                inout("x1") control.0 => _,
                inout("x2") self.input_gpa => _,
                inout("x3") self.output_gpa => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _,
                out("x16") _, out("x17") _,
                options(nostack),
            );
        }
        HypercallOutput(result)
    }
}
