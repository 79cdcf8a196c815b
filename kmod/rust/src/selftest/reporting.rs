//! Self-test (a): the Hyper-V reporter behind the kernel's real page-reporting core.
//!
//! The test registers with `page_reporting_register` (through the C glue), lets the core sweep
//! the free memory it finds, then allocates and frees memory of its own: 4 MiB blocks (order
//! 10, encoded in 2 MiB units) and order-5 blocks whose buddies it keeps allocated so they
//! cannot merge (encoded in 4 KiB units). Every batch the kernel hands over goes through
//! [`crate::report::report`] into [`HvReporter`] with a [`RecordingBackend`] instead of the
//! hypervisor; the backend decodes each heat-hint hypercall exactly as Hyper-V would read it.

use super::Ktap;
use crate::ffi::{self, Block};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::{c_int, c_void};
use hv_reporting::hyperv::ReporterState;
use hv_reporting::{HvReporter, HvReporterConfig};
use hvcall::{
    Control, GpaPageRange, HeatType, HvPage, HvStatus, HypercallBackend, HypercallCode,
    HypercallOutput, MemoryHintHeader,
};
use hyperv_bindings::kernel as k;
use spin::Mutex;

/// Order the test registers at (the core then reports blocks of order ≥ 5).
const ORDER: u32 = 5;
/// Order of the large blocks the test frees (4 MiB: encoded as two 2 MiB units).
const BIG: u32 = 10;
/// Pages in one of them.
const BIG_PAGES: u64 = 1 << BIG;
/// Most ranges/blocks recorded; more is a test failure, never an allocation in the callback.
const LOG_CAP: usize = 16384;

/// One heat-hint range as the hypervisor would read it, with the batch it came in.
#[derive(Clone, Copy)]
struct Range {
    raw: u64,
    batch: u32,
}

/// A hypercall backend that records heat hints instead of making them.
pub struct RecordingBackend {
    input: Box<HvPage>,
    output: Box<HvPage>,
    ranges: Vec<Range>,
    batch: u32,
    calls: u64,
    /// The first thing a real hypervisor would have rejected.
    violation: Option<&'static str>,
    /// Fault injection: answer this many calls that carry a 4 KiB-unit range with
    /// `HV_STATUS_INVALID_PARAMETER` (a host that only takes 2 MiB units).
    fail_small: u32,
    /// Batches failed by the fault injection.
    failed_batches: Vec<u32>,
}

impl RecordingBackend {
    fn new() -> Self {
        Self {
            input: Box::new(HvPage::zeroed()),
            output: Box::new(HvPage::zeroed()),
            ranges: Vec::with_capacity(LOG_CAP),
            batch: 0,
            calls: 0,
            violation: None,
            fail_small: 0,
            failed_batches: Vec::with_capacity(16),
        }
    }

    fn violate(&mut self, what: &'static str) -> HypercallOutput {
        self.violation.get_or_insert(what);
        HypercallOutput::new(HvStatus::INVALID_HYPERCALL_INPUT, 0)
    }

    fn qword(&self, index: usize) -> u64 {
        let b = self.input.bytes();
        let mut q = [0u8; 8];
        q.copy_from_slice(&b[index * 8..index * 8 + 8]);
        u64::from_le_bytes(q)
    }
}

impl HypercallBackend for RecordingBackend {
    fn input_page(&mut self) -> &mut HvPage {
        &mut self.input
    }

    fn output_page(&self) -> &HvPage {
        &self.output
    }

    fn call(&mut self, control: Control) -> HypercallOutput {
        self.calls += 1;
        if control.code() != HypercallCode::EXT_MEMORY_HEAT_HINT {
            return self.violate("not HvExtCallMemoryHeatHint");
        }
        if control.fast() || control.variable_header_size() != 0 || control.reserved_bits() != 0 {
            return self.violate("fast bit, variable header or reserved bits set");
        }
        let (start, count) = (control.rep_start(), control.rep_count());
        if count == 0 || start >= count || usize::from(count) > hvcall::MAX_HEAT_HINT_RANGES {
            return self.violate("bad rep count/start");
        }
        let header = MemoryHintHeader(self.qword(0));
        if header.0 != u64::from(HeatType::COLD_DISCARD.0) {
            return self.violate("header is not COLD_DISCARD with reserved bits clear");
        }
        if self.fail_small > 0
            && (usize::from(start)..usize::from(count))
                .any(|i| !GpaPageRange::from_bits(self.qword(1 + i)).largepage())
        {
            self.fail_small -= 1;
            if self.failed_batches.len() < self.failed_batches.capacity() {
                self.failed_batches.push(self.batch);
            }
            return HypercallOutput::new(HvStatus::INVALID_PARAMETER, start);
        }
        for i in usize::from(start)..usize::from(count) {
            if self.ranges.len() == LOG_CAP {
                return self.violate("range log full");
            }
            let raw = self.qword(1 + i);
            self.ranges.push(Range {
                raw,
                batch: self.batch,
            });
        }
        HypercallOutput::new(HvStatus::SUCCESS, count)
    }
}

/// Everything the callback records, shared with the test body.
struct Rec {
    reporter: HvReporter,
    backend: RecordingBackend,
    /// Blocks the kernel handed over: (pfn, order, batch).
    blocks: Vec<(u64, u32, u32)>,
    batches: u32,
    largest_batch: usize,
    refused: u32,
    last_batch_ns: u64,
}

static REC: Mutex<Option<Rec>> = Mutex::new(None);

/// The page-reporting callback (C: `st_report` → guarded call). `arg` is a `kglue_batch`.
///
/// # Safety
/// `arg` must point to a valid `kglue_batch` (see [`crate::ffi::batch`]).
#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "reads the batch the C glue passes")]
pub unsafe extern "C" fn hvdm_selftest_report(arg: *mut c_void) -> c_int {
    // SAFETY: the C glue passes a valid `kglue_batch` whose `blocks` points to `count` (≤ 32)
    // initialised `kglue_block`s on its stack, alive for the whole call.
    let blocks: &[Block] = unsafe { crate::ffi::batch(arg) };
    let mut guard = REC.lock();
    let Some(rec) = guard.as_mut() else { return -1 };
    rec.batches += 1;
    rec.largest_batch = rec.largest_batch.max(blocks.len());
    rec.last_batch_ns = ffi::now_ns();
    rec.backend.batch = rec.batches;
    for b in blocks {
        if rec.blocks.len() < LOG_CAP {
            rec.blocks.push((b.pfn, b.order, rec.batches));
        }
    }
    let Rec {
        reporter, backend, ..
    } = rec;
    match crate::report::report(reporter, &mut *backend, blocks) {
        Ok(()) => 0,
        Err(_) => {
            rec.refused += 1;
            -1
        }
    }
}

/// `[first pfn, end pfn)` of a range, decoded with hvcall's accessors.
fn span(r: GpaPageRange) -> (u64, u64) {
    let first = if r.largepage() {
        r.base_large_pfn() << 9
    } else {
        r.basepfn()
    };
    (first, first + r.units() * r.unit().frames())
}

/// The same, decoded through the kernel's own `union hv_gpa_page_range` bitfields (bindgen).
fn span_kernel(raw: u64) -> (u64, u64) {
    let u = k::hv_gpa_page_range { address_space: raw };
    // SAFETY-free: reading a union field is unsafe, so use the bitfield views through a copy.
    let (page, large) = union_views(u);
    if page.largepage() != 0 {
        let first = large.base_large_pfn() << 9;
        (first, first + (page.additional_pages() + 1) * 512)
    } else {
        let first = page.basepfn();
        (first, first + page.additional_pages() + 1)
    }
}

#[expect(
    unsafe_code,
    reason = "reading the bitfield views of a plain-integer union"
)]
fn union_views(
    u: k::hv_gpa_page_range,
) -> (
    k::hv_gpa_page_range__bindgen_ty_1,
    k::hv_gpa_page_range__bindgen_ty_2,
) {
    // SAFETY: every view of `hv_gpa_page_range` is a u64-sized bitfield struct: any bit
    // pattern is valid for each.
    let page = unsafe { u.page };
    // SAFETY: as above.
    let large = unsafe { u.__bindgen_anon_1 };
    (page, large)
}

/// Waits (sleeping) until `done` holds or `bound_ms` passes; returns the milliseconds taken.
fn wait_until(bound_ms: u32, mut done: impl FnMut() -> bool) -> Option<u32> {
    let mut waited = 0;
    loop {
        if done() {
            return Some(waited);
        }
        if waited >= bound_ms {
            return None;
        }
        ffi::msleep(250);
        waited += 250;
    }
}

/// The test body.
pub fn run() -> c_int {
    let mut t = Ktap::start("page_reporting", 11);
    *REC.lock() = Some(Rec {
        reporter: HvReporter::with_state(HvReporterConfig::default(), ReporterState::Enabled),
        backend: RecordingBackend::new(),
        blocks: Vec::with_capacity(LOG_CAP),
        batches: 0,
        largest_batch: 0,
        refused: 0,
        last_batch_ns: 0,
    });
    let reg = ffi::st_reporting_register(ORDER);
    t.check(
        reg == 0,
        "register_with_kernel_core",
        format_args!("page_reporting_register: {reg}"),
    );
    if reg != 0 {
        *REC.lock() = None;
        return t.finish();
    }

    // 1. The core's first pass starts 2 s after registration; let it sweep what is free.
    let swept = wait_until(120_000, || {
        let r = REC.lock();
        let r = r.as_ref().map_or((0, 0), |r| (r.batches, r.last_batch_ns));
        r.0 > 0 && ffi::st_reporting_state() == 0 && ffi::now_ns() - r.1 > 3_000_000_000
    });
    let (sweep_batches, sweep_blocks) = REC
        .lock()
        .as_ref()
        .map_or((0, 0), |r| (r.batches, r.blocks.len()));
    t.check(
        swept.is_some() && sweep_batches > 0,
        "kernel_sweep_batches",
        format_args!("{sweep_batches} batches in {swept:?} ms"),
    );
    t.diag(format_args!(
        "initial sweep: {sweep_batches} kernel batches, {sweep_blocks} blocks, {} ms",
        swept.unwrap_or(0)
    ));
    let mark = sweep_blocks;

    // 2. Free memory of our own: 16 x 4 MiB (order 10: Linux 6.1 keeps freed order-9 blocks on
    // its per-CPU lists, out of the reporter's sight, until they are drained), and order-5
    // blocks whose buddies stay allocated so they cannot merge.
    let mut big = Vec::with_capacity(16);
    for _ in 0..16 {
        if let Some(pfn) = ffi::alloc_pages(BIG) {
            big.push(pfn);
        }
    }
    let mut small_all = Vec::with_capacity(256);
    for _ in 0..256 {
        if let Some(pfn) = ffi::alloc_pages(ORDER) {
            small_all.push(pfn);
        }
    }
    let step = 1u64 << ORDER;
    let mut small_freed = Vec::new();
    let mut small_kept = Vec::new();
    for &p in &small_all {
        if p & step == 0 && small_all.contains(&(p | step)) {
            small_freed.push(p);
        } else {
            small_kept.push(p);
        }
    }
    for &p in &big {
        ffi::free_pages(p, BIG);
    }
    for &p in &small_freed {
        ffi::free_pages(p, ORDER);
    }
    let freed_pages = big.len() as u64 * BIG_PAGES + small_freed.len() as u64 * step;
    t.diag(format_args!(
        "freed {} x 4 MiB + {} x order-{ORDER} blocks ({} KiB)",
        big.len(),
        small_freed.len(),
        freed_pages * 4
    ));

    // 3. Every freed block must come back inside a block the kernel reports after the mark.
    let covered = |rec: &Rec, pfn: u64, pages: u64| {
        rec.blocks[mark.min(rec.blocks.len())..]
            .iter()
            .any(|&(p, o, _)| o < 64 && p <= pfn && pfn + pages <= p + (1u64 << o))
    };
    let took = wait_until(30_000, || {
        let r = REC.lock();
        let Some(rec) = r.as_ref() else { return false };
        big.iter().all(|&p| covered(rec, p, BIG_PAGES))
            && small_freed.iter().all(|&p| covered(rec, p, step))
    });
    ffi::st_reporting_unregister();
    for &p in &small_kept {
        ffi::free_pages(p, ORDER);
    }
    let Some(rec) = REC.lock().take() else {
        t.check(false, "recorder", format_args!("state vanished"));
        return t.finish();
    };
    let (big_cov, small_cov) = (
        big.iter().filter(|&&p| covered(&rec, p, BIG_PAGES)).count(),
        small_freed
            .iter()
            .filter(|&&p| covered(&rec, p, step))
            .count(),
    );
    // Freed blocks sit at the head of their free lists, so the kernel may hand part of one out
    // again before the next pass: require the freed amount in bytes, and nearly every block.
    let after_mark: u64 = rec.blocks[mark.min(rec.blocks.len())..]
        .iter()
        .map(|&(_, o, _)| if o < 64 { 1u64 << o } else { 0 })
        .sum();
    let blocks_freed = big.len() + small_freed.len();
    t.check(
        !big.is_empty() && !small_freed.is_empty() && after_mark >= freed_pages
            && (big_cov + small_cov) * 10 >= blocks_freed * 9,
        "freed_memory_reported_within_30s",
        format_args!(
            "{after_mark} pages reported for {freed_pages} freed; 4 MiB: {big_cov}/{} covered, order {ORDER}: {small_cov}/{} covered",
            big.len(),
            small_freed.len()
        ),
    );
    t.diag(format_args!(
        "after freeing: {after_mark} pages reported; {}/{blocks_freed} freed blocks covered {}",
        big_cov + small_cov,
        match took {
            Some(ms) => alloc::format!("after {ms} ms"),
            None => alloc::string::String::from("by the 30 s bound"),
        }
    ));

    // 4. What the kernel handed over.
    let aligned = rec
        .blocks
        .iter()
        .all(|&(p, o, _)| o < 64 && p & ((1u64 << o) - 1) == 0);
    t.check(
        aligned,
        "kernel_blocks_aligned",
        format_args!("a block is not aligned to its order"),
    );
    let min_order = rec.blocks.iter().map(|b| b.1).min().unwrap_or(0);
    t.check(
        min_order >= ORDER && rec.largest_batch <= report_capacity(),
        "kernel_blocks_at_least_order_and_batches_within_capacity",
        format_args!("min order {min_order}, largest batch {}", rec.largest_batch),
    );

    // 5. What the reporter encoded: one range per block, in order, equal spans.
    let ranges = &rec.backend.ranges;
    t.check(
        rec.backend.violation.is_none() && rec.refused == 0,
        "hypercalls_well_formed",
        format_args!(
            "violation {:?}, {} batches refused",
            rec.backend.violation, rec.refused
        ),
    );
    let one_to_one = ranges.len() == rec.blocks.len()
        && ranges.iter().zip(&rec.blocks).all(|(r, &(p, o, b))| {
            r.batch == b && span(GpaPageRange::from_bits(r.raw)) == (p, p + (1u64 << o))
        });
    t.check(
        one_to_one,
        "each_range_matches_its_kernel_block",
        format_args!("{} ranges for {} blocks", ranges.len(), rec.blocks.len()),
    );
    let units_ok = ranges.iter().zip(&rec.blocks).all(|(r, &(_, o, _))| {
        let g = GpaPageRange::from_bits(r.raw);
        let (first, _) = span(g);
        g.largepage() == (o >= 9) && first % g.unit().frames() == 0
    });
    t.check(
        units_ok,
        "ranges_use_linux_units_and_are_aligned",
        format_args!("a range uses the wrong unit"),
    );
    let kernel_view = ranges
        .iter()
        .all(|r| span_kernel(r.raw) == span(GpaPageRange::from_bits(r.raw)));
    t.check(
        kernel_view,
        "ranges_decode_identically_with_kernel_bitfields",
        format_args!("hvcall and the kernel's hv_gpa_page_range disagree"),
    );
    let small_ranges = ranges
        .iter()
        .filter(|r| !GpaPageRange::from_bits(r.raw).largepage())
        .count();
    t.check(
        small_ranges > 0 && small_ranges < ranges.len(),
        "both_4k_and_2m_encodings_seen",
        format_args!("{small_ranges} of {} ranges in 4 KiB units", ranges.len()),
    );
    let stats = rec.reporter.stats();
    let bytes: u64 = rec.blocks.iter().map(|&(_, o, _)| 4096u64 << o).sum();
    t.check(
        stats.batches == u64::from(rec.batches)
            && stats.bytes_reported == bytes
            && stats.batches_failed == 0,
        "reporter_counters_match_kernel_batches",
        format_args!(
            "stats: {} batches, {} bytes; kernel: {} batches, {bytes} bytes",
            stats.batches, stats.bytes_reported, rec.batches
        ),
    );
    t.diag(format_args!(
        "{} kernel batches, {} blocks, {} ranges in {} hypercalls ({} MiB hinted)",
        rec.batches,
        rec.blocks.len(),
        ranges.len(),
        rec.backend.calls,
        bytes >> 20
    ));
    t.finish()
}

fn report_capacity() -> usize {
    crate::report::CAPACITY
}

/// Self-test (a'): the failure path with the real core. The recording backend plays a host
/// that rejects 4 KiB-unit ranges once (`HV_STATUS_INVALID_PARAMETER`), as hosts without
/// sub-2 MiB support do. The kernel must put that batch back unreported and offer it again;
/// the reporter counts one failure and raises its order floor to 9; from then on the adapter
/// hints only 2 MiB-unit ranges and acknowledges smaller blocks without a hint.
pub fn run_failure() -> c_int {
    let mut t = Ktap::start("page_reporting_failure", 5);
    let mut backend = RecordingBackend::new();
    backend.fail_small = 1;
    *REC.lock() = Some(Rec {
        reporter: HvReporter::with_state(HvReporterConfig::default(), ReporterState::Enabled),
        backend,
        blocks: Vec::with_capacity(LOG_CAP),
        batches: 0,
        largest_batch: 0,
        refused: 0,
        last_batch_ns: 0,
    });
    let reg = ffi::st_reporting_register(ORDER);
    if reg != 0 {
        t.check(
            false,
            "register",
            format_args!("page_reporting_register: {reg}"),
        );
        *REC.lock() = None;
        return t.finish();
    }
    // Fresh free memory of both kinds; one 4 MiB block is kept back to re-trigger a pass.
    let trigger = ffi::alloc_pages(BIG);
    let big: Vec<u64> = (0..8).filter_map(|_| ffi::alloc_pages(BIG)).collect();
    let small_all: Vec<u64> = (0..128).filter_map(|_| ffi::alloc_pages(ORDER)).collect();
    let step = 1u64 << ORDER;
    let (small_freed, small_kept): (Vec<u64>, Vec<u64>) = small_all
        .iter()
        .partition(|&&p| p & step == 0 && small_all.contains(&(p | step)));
    for &p in &big {
        ffi::free_pages(p, BIG);
    }
    for &p in &small_freed {
        ffi::free_pages(p, ORDER);
    }

    // 1. The first batch with a small block fails.
    let failed = wait_until(30_000, || {
        REC.lock()
            .as_ref()
            .is_some_and(|r| !r.backend.failed_batches.is_empty())
    });
    let (failed_batch, failed_blocks) = REC.lock().as_ref().map_or((0, Vec::new()), |r| {
        let b = r.backend.failed_batches.first().copied().unwrap_or(0);
        (
            b,
            r.blocks
                .iter()
                .filter(|x| x.2 == b)
                .map(|x| (x.0, x.1))
                .collect(),
        )
    });
    let had_small = failed_blocks.iter().any(|&(_, o)| o < 9);
    t.check(
        failed.is_some() && had_small,
        "host_rejects_a_batch_with_4k_ranges",
        format_args!(
            "failed batch {failed_batch} with {} blocks",
            failed_blocks.len()
        ),
    );

    // 2. A new free re-triggers a pass; the kernel offers the returned blocks again.
    if let Some(p) = trigger {
        ffi::free_pages(p, BIG);
    }
    let offered_again = |rec: &Rec, pfn: u64, order: u32| {
        rec.blocks.iter().any(|&(p, o, b)| {
            b > failed_batch && o < 64 && p <= pfn && pfn + (1u64 << order) <= p + (1u64 << o)
        })
    };
    let took = wait_until(30_000, || {
        let r = REC.lock();
        let Some(rec) = r.as_ref() else { return false };
        failed_blocks.iter().all(|&(p, o)| offered_again(rec, p, o))
            && small_freed.iter().all(|&p| offered_again(rec, p, ORDER))
    });
    ffi::st_reporting_unregister();
    for &p in &small_kept {
        ffi::free_pages(p, ORDER);
    }
    let Some(rec) = REC.lock().take() else {
        t.check(false, "recorder", format_args!("state vanished"));
        return t.finish();
    };
    let again = failed_blocks
        .iter()
        .filter(|&&(p, o)| offered_again(&rec, p, o))
        .count();
    t.check(
        !failed_blocks.is_empty() && again * 10 >= failed_blocks.len() * 9,
        "kernel_offers_the_failed_batch_again",
        format_args!(
            "{again}/{} blocks offered again ({took:?} ms)",
            failed_blocks.len()
        ),
    );
    let r = &rec.reporter;
    t.check(
        r.failure_count() == 1
            && r.order_floor() == 9
            && r.is_enabled()
            && r.stats().batches_failed == 1,
        "reporter_counts_one_failure_and_raises_floor",
        format_args!(
            "failures {}, floor {}, enabled {}, failed batches {}",
            r.failure_count(),
            r.order_floor(),
            r.is_enabled(),
            r.stats().batches_failed
        ),
    );
    let late: Vec<&Range> = rec
        .backend
        .ranges
        .iter()
        .filter(|x| x.batch > failed_batch)
        .collect();
    t.check(
        late.iter()
            .all(|x| GpaPageRange::from_bits(x.raw).largepage()),
        "only_2m_units_after_the_failure",
        format_args!("{} ranges after the failure", late.len()),
    );
    let acked = small_freed
        .iter()
        .filter(|&&p| offered_again(&rec, p, ORDER))
        .count();
    t.check(
        !small_freed.is_empty() && acked * 10 >= small_freed.len() * 9 && rec.refused == 1,
        "small_blocks_acknowledged_without_hints",
        format_args!(
            "{acked}/{} small blocks offered after the failure, {} batches refused",
            small_freed.len(),
            rec.refused
        ),
    );
    t.diag(format_args!(
        "{} kernel batches, {} ranges hinted after the failure",
        rec.batches,
        late.len()
    ));
    t.finish()
}
