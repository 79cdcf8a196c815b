//! The raw hypercall seam: [`HypercallBackend`].

use crate::control::{Control, HypercallOutput};
use crate::page::HvPage;

/// Issues raw hypercalls with a per-CPU input and output page it owns.
///
/// The backend owns (or exclusively borrows) one input page and one output page and knows their
/// guest physical addresses, so the OS adapter — not this crate — does the virtual-to-GPA
/// translation once, when it builds the backend. The safe layer ([`crate::Hypercalls`]) fills
/// [`input_page`](Self::input_page), calls [`call`](Self::call) and reads
/// [`output_page`](Self::output_page). Nothing on this path allocates, so it can run in atomic
/// context with interrupts off (as Linux uses its per-CPU pages, fact sheet C.5).
///
/// Implementations:
/// * `hvcall::arch::x86_64::HypercallPageBackend` — CALL through the hypercall page
///   (fact sheet C.3);
/// * `hvcall::arch::aarch64::SmcccBackend` — `HVC #0` with the SMCCC function id (C.4);
/// * `hvcall::sim::SimHypervisor` (feature `sim`) — a simulated hypervisor for tests;
/// * `&mut B` for any backend `B`.
pub trait HypercallBackend {
    /// The input page the next call reads (its GPA is passed as the input parameter GPA).
    fn input_page(&mut self) -> &mut HvPage;

    /// The output page the last call wrote (its GPA is passed as the output parameter GPA).
    fn output_page(&self) -> &HvPage;

    /// Issue one hypercall with `control`, the input page and the output page, and return the
    /// raw result value. Memory-based calls only (the safe layer never sets the fast bit).
    ///
    /// This is exactly one hypercall: rep calls that return early are restarted by the caller
    /// ([`crate::Hypercalls::rep_call_prepared`]), not here.
    fn call(&mut self, control: Control) -> HypercallOutput;
}

impl<B: HypercallBackend + ?Sized> HypercallBackend for &mut B {
    fn input_page(&mut self) -> &mut HvPage {
        (**self).input_page()
    }

    fn output_page(&self) -> &HvPage {
        (**self).output_page()
    }

    fn call(&mut self, control: Control) -> HypercallOutput {
        (**self).call(control)
    }
}
