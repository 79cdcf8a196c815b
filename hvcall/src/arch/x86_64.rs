//! x86-64: guest OS id / hypercall MSR setup and calls through the hypercall page
//! (fact sheet C.3).
//!
//! UNSAFETY: CPUID-free privileged instructions (`rdmsr`, `wrmsr`) and a `call` into the
//! hypervisor-provided hypercall page. Every `unsafe` block states why it is sound; the
//! callers' obligations are the `# Safety` sections of the `unsafe fn`s.
#![expect(
    unsafe_code,
    reason = "MSR access and the hypercall page CALL are inherently unsafe"
)]

use core::arch::asm;
use core::ptr::NonNull;

use crate::backend::HypercallBackend;
use crate::control::{Control, HypercallOutput};
use crate::discovery::{CpuId, CpuIdResult};
use crate::page::HvPage;
use crate::setup::{
    GuestOsId, HypercallMsr, MSR_GUEST_OS_ID, MSR_HYPERCALL, SetupError, verify_hypercall_msr,
};
use crate::status::HvStatus;

/// The CPU's own CPUID instruction.
#[derive(Copy, Clone, Debug, Default)]
pub struct NativeCpuId;

impl CpuId for NativeCpuId {
    fn cpuid(&self, leaf: u32) -> CpuIdResult {
        // `__cpuid_count` is a safe function since Rust 1.87 and an unsafe one before; the
        // block keeps the declared rust-version (1.85) building.
        #[allow(unused_unsafe, reason = "unsafe only before Rust 1.87")]
        // SAFETY: CPUID exists on every x86_64 processor (it is part of the baseline ISA), reads
        // no memory and only writes the four registers the intrinsic returns.
        let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, 0) };
        CpuIdResult {
            eax: r.eax,
            ebx: r.ebx,
            ecx: r.ecx,
            edx: r.edx,
        }
    }
}

/// Read a model-specific register.
///
/// # Safety
/// Must run at CPL 0, and `msr` must exist on this CPU (else `#GP`).
pub unsafe fn read_msr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller guarantees CPL 0 and an existing MSR; `rdmsr` only writes EAX/EDX,
    // which are declared as outputs, touches no memory and does not change flags.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Write a model-specific register.
///
/// # Safety
/// Must run at CPL 0, `msr` must exist and accept `value`, and the write's side effects must
/// be ones the caller can uphold (for the hypercall MSR: the page at the GPA becomes an
/// overlay).
pub unsafe fn write_msr(msr: u32, value: u64) {
    let lo = value as u32;
    let hi = (value >> 32) as u32;
    // SAFETY: the caller guarantees CPL 0, an existing MSR and acceptable side effects;
    // `wrmsr` reads only ECX/EAX/EDX and does not change flags. Memory is not declared
    // untouched (no `nomem`) because MSR writes can change what memory means (overlays).
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") lo, in("edx") hi, options(nostack, preserves_flags));
    }
}

/// Set the guest OS id, then enable the hypercall page at `page_gpa` and verify it by reading
/// the MSR back (fact sheet C.3 steps 4–5).
///
/// # Safety
/// * CPL 0 under Hyper-V with the AccessHypercallMsrs privilege (CPUID 0x40000003 EAX bit 5);
/// * `page_gpa` is a 4 KiB page the caller dedicates to the hypercall page overlay: nothing
///   else may use its contents afterwards, and the caller maps it executable to call it;
/// * no other CPU is setting the (partition-wide) MSRs at the same time.
pub unsafe fn enable_hypercall_page(
    guest_os_id: GuestOsId,
    page_gpa: u64,
) -> Result<(), SetupError> {
    if guest_os_id.0 == 0 {
        return Err(SetupError::ZeroGuestOsId);
    }
    // SAFETY: caller guarantees CPL 0 on Hyper-V with hypercall MSR access; the guest OS id
    // MSR exists there and accepts any non-zero value.
    unsafe { write_msr(MSR_GUEST_OS_ID, guest_os_id.0) };
    // SAFETY: as above; the hypercall MSR exists.
    let current = HypercallMsr(unsafe { read_msr(MSR_HYPERCALL) });
    let wanted = current
        .enable_at(page_gpa)
        .ok_or(SetupError::MisalignedPage { gpa: page_gpa })?;
    // SAFETY: as above; the caller dedicates `page_gpa` to the overlay, so turning it into the
    // hypercall page invalidates nothing the program still relies on.
    unsafe { write_msr(MSR_HYPERCALL, wanted.0) };
    // SAFETY: as above.
    let read_back = HypercallMsr(unsafe { read_msr(MSR_HYPERCALL) });
    verify_hypercall_msr(wanted, read_back)
}

/// A backend that CALLs the hypercall page with control in RCX, input GPA in RDX, output GPA
/// in R8 and the result in RAX (fact sheet C.3).
///
/// It borrows one input and one output page (normally the current CPU's) for its lifetime.
#[derive(Debug)]
pub struct HypercallPageBackend<'a> {
    hypercall_page: NonNull<u8>,
    input: &'a mut HvPage,
    input_gpa: u64,
    output: &'a mut HvPage,
    output_gpa: u64,
}

impl<'a> HypercallPageBackend<'a> {
    /// A backend over an enabled hypercall page and two parameter pages.
    ///
    /// # Safety
    /// For the whole lifetime of the backend:
    /// * `hypercall_page` points to the start of the enabled hypercall page (see
    ///   [`enable_hypercall_page`]), mapped executable;
    /// * calls are made at CPL 0 in long mode on a valid stack without a red zone (kernel code);
    /// * `input_gpa` / `output_gpa` are the guest physical addresses of `input` / `output`,
    ///   which are ordinary RAM pages, not overlay pages (C.5);
    /// * nothing else (an interrupt handler on this CPU included) uses the two pages while a
    ///   call runs — e.g. keep interrupts disabled while the backend is in use, as Linux does.
    pub unsafe fn new(
        hypercall_page: NonNull<u8>,
        input: &'a mut HvPage,
        input_gpa: u64,
        output: &'a mut HvPage,
        output_gpa: u64,
    ) -> Self {
        Self {
            hypercall_page,
            input,
            input_gpa,
            output,
            output_gpa,
        }
    }
}

impl HypercallBackend for HypercallPageBackend<'_> {
    fn input_page(&mut self) -> &mut HvPage {
        self.input
    }

    fn output_page(&self) -> &HvPage {
        self.output
    }

    /// Memory-based calls only: a control word with the fast bit set is refused without a call
    /// and answered with `HV_STATUS_INVALID_HYPERCALL_INPUT`, because fast calls may return
    /// output in registers this wrapper does not describe.
    fn call(&mut self, control: Control) -> HypercallOutput {
        if control.fast() {
            return HypercallOutput::new(HvStatus::INVALID_HYPERCALL_INPUT, 0);
        }
        let result: u64;
        // SAFETY: `new`'s contract guarantees an enabled, executable hypercall page, CPL 0 and
        // a usable stack, and that the GPAs name `self.input` / `self.output`, which `self`
        // borrows exclusively. The hypervisor reads the input page and writes at most the
        // output page (memory is not declared untouched). Registers: RCX/RDX/R8 in (declared
        // clobbered: rep calls update RCX), RAX out; R9–R11 and flags declared clobbered as
        // Linux does (C.3). The page ends with a near return, so control comes back here.
        unsafe {
            asm!(
                "call {page}",
                page = in(reg) self.hypercall_page.as_ptr(),
                inout("rcx") control.0 => _,
                inout("rdx") self.input_gpa => _,
                inout("r8") self.output_gpa => _,
                out("rax") result,
                out("r9") _,
                out("r10") _,
                out("r11") _,
            );
        }
        HypercallOutput(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{
        DiscoveryError, HV_INTERFACE_SIGNATURE, HyperVInfo, hypervisor_present,
    };

    /// The real CPUID runs in user space too: discovery's verdict must agree with the raw bits
    /// (whatever hypervisor, if any, this test machine runs under).
    #[test]
    fn native_cpuid_agrees_with_discovery() {
        let cpu = NativeCpuId;
        assert!(
            cpu.cpuid(0).eax >= 1,
            "CPUID leaf 0 reports at least leaf 1"
        );
        let present = hypervisor_present(&cpu);
        match HyperVInfo::probe(&cpu) {
            Err(DiscoveryError::NoHypervisor) => assert!(!present),
            Err(DiscoveryError::MaxLeafTooLow { max_leaf }) => {
                assert!(present);
                assert_eq!(max_leaf, cpu.cpuid(0x4000_0000).eax);
            }
            Err(DiscoveryError::NotHyperV { signature }) => {
                assert!(present);
                assert_ne!(signature, HV_INTERFACE_SIGNATURE);
            }
            Ok(info) => {
                assert!(present);
                assert_eq!(cpu.cpuid(0x4000_0001).eax, HV_INTERFACE_SIGNATURE);
                assert_eq!(
                    info.privileges.bits() >> 32,
                    u64::from(cpu.cpuid(0x4000_0003).ebx)
                );
            }
        }
    }
}
