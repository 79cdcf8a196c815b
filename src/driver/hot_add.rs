//! Hot-add bookkeeping (dm-protocol.md §6): regions, what has been added to the OS, what the
//! host has backed, and gaps of unbacked frames.
//!
//! Like Linux, a request is served from the region that holds its first frame, whether the host
//! named a region or not: a host that names the same (or an overlapping) region again gets its
//! range served from the region it already set up, and a range that runs past its region is
//! served up to the region's end. Deviations from Linux, all on the safe side:
//! - regions never overlap: a named region that overlaps existing ones only contributes the
//!   frames no region covers yet (Linux keeps a duplicate record, and adding memory from its
//!   start would add memory twice); if the memory block holding the range's first frame
//!   belongs to another region, the request is refused;
//! - a synthesised region (request without one) covers the request's *end* too (Linux rounds
//!   the size alone up and can claim frames it never added);
//! - a named region whose start is not aligned to the memory block size, or that does not hold
//!   the range's first frame, is refused (0 pages) and counted;
//! - a request whose first frame is already backed is refused and counted (Linux counts the
//!   frames again and moves its covered end past frames the host never backed);
//! - the bookkeeping is bounded by the memory it describes, not by a fixed table: regions in
//!   which memory was added are never limited (each stands for at least one memory block the
//!   kernel accepted, whose `struct page` array dwarfs the record); at most
//!   [`MAX_EMPTY_REGIONS`] regions may exist without memory added yet; gaps are limited to
//!   [`BASE_GAPS`] plus one per 2 MiB added, so a host cannot make the guest allocate records
//!   for memory it never gave.

use alloc::vec::Vec;

use crate::os::{AddMemoryError, GuestMemory, Pfn};
use crate::protocol::PageRange;

/// Most regions remembered that have no memory added yet (regions with memory added are
/// not limited).
pub const MAX_EMPTY_REGIONS: usize = 64;
/// Gaps allowed before any memory is added; one more is allowed per [`PAGES_PER_GAP`] pages
/// added.
pub const BASE_GAPS: usize = 256;
/// Pages added (2 MiB) that buy one more gap record.
pub const PAGES_PER_GAP: u64 = 512;

/// One hot-add region (Linux `struct hv_hotadd_state`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Region start (frame).
    pub start: Pfn,
    /// Region end (exclusive).
    pub end: Pfn,
    /// End of what has been added to the OS (whole memory blocks).
    pub ha_end: Pfn,
    /// First frame the host backed.
    pub covered_start: Pfn,
    /// End of backed frames.
    pub covered_end: Pfn,
    /// Unbacked holes inside `[covered_start, covered_end)`.
    pub gaps: Vec<(Pfn, Pfn)>,
}

impl Region {
    fn is_backed(&self, pfn: Pfn) -> bool {
        pfn >= self.covered_start
            && pfn < self.covered_end
            && pfn < self.ha_end
            && !self.gaps.iter().any(|&(s, e)| pfn >= s && pfn < e)
    }

    /// Backed frames in `[start, end)`.
    fn backed_in(&self, start: Pfn, end: Pfn) -> u64 {
        let s = start.max(self.covered_start).max(self.start);
        let e = end.min(self.covered_end).min(self.ha_end);
        if s >= e {
            return 0;
        }
        let gaps: u64 = self
            .gaps
            .iter()
            .map(|&(gs, ge)| {
                let (a, b) = (gs.max(s), ge.min(e));
                b.saturating_sub(a)
            })
            .sum();
        (e - s).saturating_sub(gaps)
    }
}

/// Why a hot-add request was refused outright.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The named region does not hold the range's first frame.
    RangeOutsideRegion,
    /// The region start or size is not a multiple of the memory block size.
    UnalignedRegion,
    /// The memory block holding the range's first frame belongs to another region (adding it
    /// would add memory twice).
    OverlapsRegion,
    /// The range's first frame is already backed (or lies in a gap behind the backed end).
    AlreadyBacked,
    /// Too many regions without memory, or more gaps than the memory added allows.
    TooManyRecords,
}

/// Outcome of one hot-add request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Pages newly backed (the response's `page_count`).
    pub pages: u64,
    /// Pages the OS onlined while handling the request.
    pub onlined: u64,
    /// Set when the request was refused by validation.
    pub refused: Option<Refusal>,
    /// Set when the OS failed to add a memory block.
    pub os_error: Option<AddMemoryError>,
}

/// The hot-add state of the driver.
#[derive(Clone, Debug)]
pub struct HotAdd {
    /// Memory block size in pages (the hot-add chunk).
    pub chunk: u64,
    /// Hot-add still allowed (Linux `do_hot_add`); cleared for good on `AlreadyExists`.
    pub enabled: bool,
    /// Regions in creation order.
    pub regions: Vec<Region>,
    gaps: usize,
}

impl HotAdd {
    /// New state; `enabled` is the configuration's hot-add switch.
    pub fn new(chunk: u64, enabled: bool) -> Self {
        Self {
            chunk: chunk.max(1),
            enabled,
            regions: Vec::new(),
            gaps: 0,
        }
    }

    /// Regions without memory added yet.
    fn empty_regions(&self) -> usize {
        self.regions.iter().filter(|r| r.ha_end == r.start).count()
    }

    /// Whether one more region without memory may be set up.
    fn may_add_region(&self) -> bool {
        self.empty_regions() < MAX_EMPTY_REGIONS
    }

    /// Gap records allowed now: [`BASE_GAPS`] plus one per [`PAGES_PER_GAP`] pages added.
    pub fn gap_budget(&self) -> usize {
        let added: u64 = self.regions.iter().map(|r| r.ha_end - r.start).sum();
        BASE_GAPS.saturating_add(usize::try_from(added / PAGES_PER_GAP).unwrap_or(usize::MAX))
    }

    fn round_down(&self, x: u64) -> u64 {
        x - x % self.chunk
    }

    fn round_up(&self, x: u64) -> u64 {
        x.div_ceil(self.chunk).saturating_mul(self.chunk)
    }

    fn find(&self, pfn: Pfn) -> Option<usize> {
        self.regions
            .iter()
            .position(|r| r.start <= pfn && pfn < r.end)
    }

    fn overlaps_region(&self, start: Pfn, end: Pfn, except: Option<usize>) -> bool {
        self.regions
            .iter()
            .enumerate()
            .any(|(i, r)| Some(i) != except && r.start < end && start < r.end)
    }

    /// True if `pfn` lies in memory the driver added and the host backed (the Linux
    /// online-page callback's test).
    pub fn is_backed(&self, pfn: Pfn) -> bool {
        self.find(pfn)
            .is_some_and(|i| self.regions[i].is_backed(pfn))
    }

    /// Backed frames in `[start, end)` over all regions (for the offline notifier).
    pub fn backed_in(&self, start: Pfn, end: Pfn) -> u64 {
        self.regions.iter().map(|r| r.backed_in(start, end)).sum()
    }

    /// Prepares region `i`, which holds `range`'s first frame, to back `range`: refuses frames
    /// already backed, records skipped frames as a gap, and grows the region (in whole memory
    /// blocks, not into another region) when the range runs past its end (Linux
    /// `pfn_covered`).
    fn join(&mut self, i: usize, range: PageRange) -> Result<usize, Refusal> {
        let pg_start = range.start_page();
        let r = &self.regions[i];
        if pg_start < r.covered_end {
            return Err(Refusal::AlreadyBacked);
        }
        if pg_start > r.covered_end {
            if self.gaps >= self.gap_budget() {
                return Err(Refusal::TooManyRecords);
            }
            let ce = r.covered_end;
            self.regions[i].gaps.push((ce, pg_start));
            self.gaps += 1;
            self.regions[i].covered_end = pg_start;
        }
        let end = range.end_page();
        if end > self.regions[i].end {
            let new_end = self.round_up(end);
            if !self.overlaps_region(self.regions[i].end, new_end, Some(i)) {
                self.regions[i].end = new_end;
            }
        }
        Ok(i)
    }

    /// Sets up the region the host named for `range` (whose first frame is in no region),
    /// clipped to the frames no existing region covers.
    fn new_named(&mut self, range: PageRange, rg: PageRange) -> Result<usize, Refusal> {
        let pg_start = range.start_page();
        if pg_start < rg.start_page() || pg_start >= rg.end_page() {
            return Err(Refusal::RangeOutsideRegion);
        }
        if rg.start_page() % self.chunk != 0 {
            return Err(Refusal::UnalignedRegion);
        }
        // The free stretch of the named region around pg_start.
        let mut lo = rg.start_page();
        let mut hi = rg.end_page();
        for r in &self.regions {
            if r.end <= pg_start && r.end > lo {
                lo = r.end;
            }
            if r.start > pg_start && r.start < hi {
                hi = r.start;
            }
        }
        // Memory is added in whole blocks from the region start: a block shared with another
        // region would be added twice.
        let lo = self.round_up(lo);
        if lo > pg_start {
            return Err(Refusal::OverlapsRegion);
        }
        if !self.may_add_region() {
            return Err(Refusal::TooManyRecords);
        }
        self.regions.push(Region {
            start: lo,
            end: hi,
            ha_end: lo,
            covered_start: pg_start,
            covered_end: pg_start,
            gaps: Vec::new(),
        });
        Ok(self.regions.len() - 1)
    }

    fn refuse(r: Refusal) -> Outcome {
        Outcome {
            pages: 0,
            onlined: 0,
            refused: Some(r),
            os_error: None,
        }
    }

    /// Handles one request: `range` to back, `region` if the host named one.
    pub fn process<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        range: PageRange,
        region: Option<PageRange>,
    ) -> Outcome {
        let (pg_start, mut cnt) = (range.start_page(), range.page_cnt());
        if cnt == 0 || !self.enabled {
            return Outcome {
                pages: 0,
                onlined: 0,
                refused: None,
                os_error: None,
            };
        }
        let idx = match (self.find(pg_start), region) {
            // The first frame lies in a region already set up: serve it from there, whether
            // or not the host named (again) a region.
            (Some(i), _) => match self.join(i, range) {
                Ok(i) => i,
                Err(why) => return Self::refuse(why),
            },
            (None, Some(rg)) if rg.page_cnt() != 0 => match self.new_named(range, rg) {
                Ok(i) => i,
                Err(why) => return Self::refuse(why),
            },
            (None, _) => {
                let start = self.round_down(pg_start);
                let end = self.round_up(range.end_page());
                if self.overlaps_region(start, end, None) {
                    return Self::refuse(Refusal::OverlapsRegion);
                }
                if !self.may_add_region() {
                    return Self::refuse(Refusal::TooManyRecords);
                }
                self.regions.push(Region {
                    start,
                    end,
                    ha_end: start,
                    covered_start: pg_start,
                    covered_end: pg_start,
                    gaps: Vec::new(),
                });
                self.regions.len() - 1
            }
        };
        let chunk = self.chunk;
        let r = &mut self.regions[idx];
        let old_covered = r.covered_end;
        let mut onlined = 0;
        let mut os_error = None;
        cnt = cnt.min(r.end - pg_start);
        let want_end = pg_start + cnt;
        // Frames inside memory already added: backing them is enough; bring them online.
        if pg_start < r.ha_end {
            let n = (r.ha_end - pg_start).min(cnt);
            r.covered_end += n;
            onlined += mem.online_pages(pg_start, n);
        }
        // The rest needs memory blocks added first.
        while r.covered_end < want_end && r.ha_end < r.end {
            let size = chunk.min(r.end - r.ha_end);
            match mem.add_memory(r.ha_end, size) {
                Ok(()) => {
                    r.ha_end += size;
                    let upto = want_end.min(r.ha_end);
                    let from = r.covered_end.max(r.covered_start);
                    if upto > from {
                        onlined += mem.online_pages(from, upto - from);
                    }
                    r.covered_end = upto.max(r.covered_end);
                }
                Err(e) => {
                    log::warn!(
                        "hv_dynmem: hot-add of {size} pages at {:#x} failed: {e}",
                        r.ha_end
                    );
                    os_error = Some(e);
                    if matches!(
                        e,
                        AddMemoryError::AlreadyExists | AddMemoryError::Unsupported
                    ) {
                        self.enabled = false;
                    }
                    break;
                }
            }
        }
        let r = &self.regions[idx];
        let pages = r.covered_end - old_covered;
        // A region we created but could not use at all is forgotten again.
        if r.ha_end == r.start && pages == 0 && r.gaps.is_empty() {
            self.regions.remove(idx);
        }
        Outcome {
            pages,
            onlined,
            refused: None,
            os_error,
        }
    }
}
