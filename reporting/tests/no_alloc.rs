//! The report path does not allocate: it runs in Linux's page-reporting callback and writes
//! ranges straight into the per-CPU hypercall input page.
//!
//! A counting global allocator counts allocations made by this test's thread while
//! `HvReporter::report_blocks` runs — successful batches, restarted rep calls, 511-range page
//! flushes and failures alike.
#![expect(
    unsafe_code,
    reason = "a counting global allocator needs `unsafe impl GlobalAlloc`"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hv_reporting::hyperv::{HvReporterConfig, ReporterState};
use hv_reporting::{Extent, HvReporter, ReportError};
use hvcall::{Control, HvPage, HvStatus, HypercallBackend, HypercallOutput};

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; the counters are
// const-initialised thread-locals that never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout` (all allocations do).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Accepts at most `per_call` reps per call (0 = all), or fails with `fail`.
struct Backend {
    input: Box<HvPage>,
    output: Box<HvPage>,
    per_call: u16,
    fail: Option<HvStatus>,
    calls: u64,
}

impl HypercallBackend for Backend {
    fn input_page(&mut self) -> &mut HvPage {
        &mut self.input
    }
    fn output_page(&self) -> &HvPage {
        &self.output
    }
    fn call(&mut self, control: Control) -> HypercallOutput {
        self.calls += 1;
        if let Some(s) = self.fail {
            return HypercallOutput::new(s, control.rep_start());
        }
        let step = if self.per_call == 0 {
            control.rep_count()
        } else {
            self.per_call
        };
        let done = control
            .rep_start()
            .saturating_add(step)
            .min(control.rep_count());
        HypercallOutput::new(HvStatus::SUCCESS, done)
    }
}

fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.with(Cell::get))
}

#[test]
fn the_report_path_does_not_allocate() {
    // The counter works.
    let (v, allocs) = counted(|| Vec::<u64>::with_capacity(4));
    assert_eq!((v.capacity(), allocs), (4, 1));
    let mut b = Backend {
        input: Box::new(HvPage::zeroed()),
        output: Box::new(HvPage::zeroed()),
        per_call: 3,
        fail: None,
        calls: 0,
    };
    let mut r = HvReporter::with_state(HvReporterConfig::default(), ReporterState::Enabled);
    // A Linux batch of 32 mixed-order blocks, restarted every 3 reps.
    let blocks: [(u64, u8); 32] = core::array::from_fn(|i| (i as u64 * 2048, (i % 11) as u8));
    let (res, allocs) = counted(|| r.report_blocks(&mut b, &blocks));
    assert_eq!(res, Ok(()));
    assert_eq!(allocs, 0);
    assert_eq!(b.calls, 11);
    // 600 extents: two input pages.
    b.per_call = 0;
    let (res, allocs) =
        counted(|| r.report(&mut b, (0..600u64).map(|i| Extent::block(i * 1024, 9))));
    assert_eq!(res, Ok(()));
    assert_eq!(allocs, 0);
    assert_eq!(r.stats().hypercalls, 13);
    // Failure path (INVALID_PARAMETER: order raised, counter bumped, logged).
    b.fail = Some(HvStatus::INVALID_PARAMETER);
    let (res, allocs) = counted(|| r.report_blocks(&mut b, &blocks));
    assert_eq!(res, Err(ReportError::Hypercall(5)));
    assert_eq!(allocs, 0);
    assert_eq!(r.order_floor(), 9);
}
