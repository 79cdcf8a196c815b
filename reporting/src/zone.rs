//! Memory zones: `ZONE_DMA`, `ZONE_DMA32` and `ZONE_NORMAL`, each a [`BuddyAllocator`] of its
//! own, with Linux's per-zone watermarks, lowmem reserves and zone fallback order.
//!
//! Facts taken from Linux (`mm/page_alloc.c`, `mm/mmzone.c`; x86-64):
//!
//! * DMA covers the first 16 MiB, DMA32 the rest below 4 GiB, Normal everything above. A zone
//!   spans one contiguous run of RAM here (on a PC the RAM below 4 GiB ends at the low-memory
//!   boundary, and the Normal zone starts at 4 GiB).
//! * Buddy blocks never cross a zone: every zone is its own allocator, so a block (and a batch
//!   of the reporting engine) always lies in one zone.
//! * `min_free_kbytes = clamp(isqrt(16 × managed KiB), 128, 262 144)`; each zone's `min`
//!   watermark is its share of it by managed pages; `low = min + d`, `high = min + 2d` with
//!   `d = max(min / 4, managed × watermark_scale_factor / 10 000)` (factor 10).
//! * `lowmem_reserve[j]` of zone `i` (what an allocation that may use zones up to `j` must
//!   leave free in `i`) is the managed pages of zones `i + 1 ..= j` divided by the zone's
//!   `lowmem_reserve_ratio` (256 for DMA and DMA32, 32 for Normal).
//! * An allocation walks its zonelist from the highest zone it may use down (Normal → DMA32 →
//!   DMA) and takes the first zone that passes the watermark check
//!   `free − (2^order − 1) > mark + lowmem_reserve[highest]`.

use alloc::vec::Vec;

use crate::buddy::{Allocation, BuddyAllocator, BuddyError, Freed, Watermarks};
use crate::types::{FreeBlock, FreeMemory, IsolateError, MAX_ORDER, ZoneInfo};

/// First frame above `ZONE_DMA` (16 MiB).
pub const DMA_END_PFN: u64 = (16 << 20) >> 12;
/// First frame above `ZONE_DMA32` (4 GiB).
pub const DMA32_END_PFN: u64 = (4u64 << 30) >> 12;

/// Which kind of zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZoneKind {
    /// `ZONE_DMA`: the first 16 MiB.
    Dma = 0,
    /// `ZONE_DMA32`: 16 MiB up to 4 GiB.
    Dma32 = 1,
    /// `ZONE_NORMAL`: above 4 GiB.
    Normal = 2,
}

impl ZoneKind {
    /// All kinds, lowest first.
    pub const ALL: [ZoneKind; 3] = [ZoneKind::Dma, ZoneKind::Dma32, ZoneKind::Normal];

    /// The name Linux prints in `/proc/zoneinfo` and `/proc/buddyinfo`.
    pub const fn name(self) -> &'static str {
        match self {
            ZoneKind::Dma => "DMA",
            ZoneKind::Dma32 => "DMA32",
            ZoneKind::Normal => "Normal",
        }
    }

    /// The kind named `name` (as in `/proc/zoneinfo`), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Linux's default `lowmem_reserve_ratio` of this zone.
    pub const fn lowmem_reserve_ratio(self) -> u64 {
        match self {
            ZoneKind::Dma | ZoneKind::Dma32 => 256,
            ZoneKind::Normal => 32,
        }
    }

    /// The kind of the zone holding frame `pfn`.
    pub const fn of_pfn(pfn: u64) -> Self {
        if pfn < DMA_END_PFN {
            ZoneKind::Dma
        } else if pfn < DMA32_END_PFN {
            ZoneKind::Dma32
        } else {
            ZoneKind::Normal
        }
    }
}

/// One zone's frames: `frames` frames from `start_pfn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneSpan {
    /// The kind of zone.
    pub kind: ZoneKind,
    /// First frame.
    pub start_pfn: u64,
    /// Number of frames.
    pub frames: u64,
}

/// RAM that cannot be cut into zones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The ranges are not sorted, overlap, or are empty.
    #[error("RAM ranges must be non-empty, sorted and disjoint")]
    BadRanges,
    /// RAM of one zone is not contiguous (this model keeps one run per zone).
    #[error("the RAM of zone {0} is not contiguous")]
    Discontiguous(&'static str),
}

/// Cuts RAM (`(start_pfn, frames)` runs, sorted) into zone spans at 16 MiB and 4 GiB.
pub fn zone_spans(ram: &[(u64, u64)]) -> Result<Vec<ZoneSpan>, LayoutError> {
    let mut out: Vec<ZoneSpan> = Vec::new();
    let mut last_end = 0;
    for (i, &(start, frames)) in ram.iter().enumerate() {
        if frames == 0 || (i > 0 && start < last_end) {
            return Err(LayoutError::BadRanges);
        }
        last_end = start + frames;
        let mut pfn = start;
        while pfn < last_end {
            let kind = ZoneKind::of_pfn(pfn);
            let limit = match kind {
                ZoneKind::Dma => DMA_END_PFN,
                ZoneKind::Dma32 => DMA32_END_PFN,
                ZoneKind::Normal => u64::MAX,
            };
            let end = last_end.min(limit);
            match out.last_mut() {
                Some(z) if z.kind == kind => {
                    if z.start_pfn + z.frames != pfn {
                        return Err(LayoutError::Discontiguous(kind.name()));
                    }
                    z.frames += end - pfn;
                }
                _ => out.push(ZoneSpan {
                    kind,
                    start_pfn: pfn,
                    frames: end - pfn,
                }),
            }
            pfn = end;
        }
    }
    if out.is_empty() {
        return Err(LayoutError::BadRanges);
    }
    Ok(out)
}

fn isqrt(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let mut x = n;
    let mut y = x.div_ceil(2);
    while y < x {
        x = y;
        y = (x + n / x) / 2;
    }
    x
}

/// Linux's watermarks for zones with these managed page counts (see the [module docs](self)).
pub fn zone_watermarks(managed: &[u64]) -> Vec<Watermarks> {
    let total: u64 = managed.iter().sum();
    let min_free_kbytes = isqrt(total.saturating_mul(4).saturating_mul(16)).clamp(128, 262_144);
    let pages_min = min_free_kbytes / 4;
    managed
        .iter()
        .map(|&m| {
            if total == 0 || m == 0 {
                return Watermarks::default();
            }
            let min = (u128::from(pages_min) * u128::from(m) / u128::from(total)) as u64;
            let delta = core::cmp::max(min / 4, m * 10 / 10_000);
            Watermarks {
                min,
                low: min + delta,
                high: min + 2 * delta,
            }
        })
        .collect()
}

/// Which watermark an allocation must leave free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocMark {
    /// `ALLOC_WMARK_LOW`: the fast path.
    Low,
    /// `ALLOC_WMARK_MIN`: the slow path after waking kswapd.
    Min,
    /// `ALLOC_WMARK_HIGH`.
    High,
    /// No check (boot-time and model setup).
    None,
}

#[derive(Clone, Debug)]
struct Zone {
    kind: ZoneKind,
    buddy: BuddyAllocator,
    managed: u64,
    /// `lowmem_reserve[kind of highest usable zone]`.
    reserve: [u64; 3],
}

/// Several zones, each a [`BuddyAllocator`]; implements [`FreeMemory`] with one engine zone per
/// memory zone, in ascending address order (the order Linux's reporting walks them).
#[derive(Clone, Debug)]
pub struct ZonedAllocator {
    zones: Vec<Zone>,
}

impl ZonedAllocator {
    /// Zones for `spans` (ascending, disjoint), all frames free and managed, with Linux's
    /// watermarks and lowmem reserves.
    pub fn new(spans: &[ZoneSpan]) -> Result<Self, BuddyError> {
        let mut zones = Vec::with_capacity(spans.len());
        for s in spans {
            zones.push(Zone {
                kind: s.kind,
                buddy: BuddyAllocator::with_watermarks(
                    s.start_pfn,
                    s.frames,
                    Watermarks::default(),
                )?,
                managed: s.frames,
                reserve: [0; 3],
            });
        }
        if zones.is_empty() {
            return Err(BuddyError::BadZoneSize(0));
        }
        let mut z = Self { zones };
        z.update_watermarks();
        Ok(z)
    }

    /// One zone of `frames` frames from `base_pfn` with explicit watermarks (the single-zone
    /// model of [`BuddyAllocator`]).
    pub fn single(base_pfn: u64, frames: u64, wmark: Watermarks) -> Result<Self, BuddyError> {
        Ok(Self {
            zones: alloc::vec![Zone {
                kind: ZoneKind::Normal,
                buddy: BuddyAllocator::with_watermarks(base_pfn, frames, wmark)?,
                managed: frames,
                reserve: [0; 3],
            }],
        })
    }

    /// Number of zones.
    pub fn len(&self) -> usize {
        self.zones.len()
    }

    /// Whether there are no zones (never: construction needs one).
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// The allocator of zone `i`.
    pub fn zone(&self, i: usize) -> &BuddyAllocator {
        &self.zones[i].buddy
    }

    /// The kind of zone `i`.
    pub fn kind(&self, i: usize) -> ZoneKind {
        self.zones[i].kind
    }

    /// Managed (online) pages of zone `i`.
    pub fn managed_pages(&self, i: usize) -> u64 {
        self.zones[i].managed
    }

    /// `lowmem_reserve` of zone `i` for allocations that may use zones up to `highest`.
    pub fn lowmem_reserve(&self, i: usize, highest: ZoneKind) -> u64 {
        self.zones[i].reserve[highest as usize]
    }

    /// The zone holding frame `pfn`.
    pub fn zone_of(&self, pfn: u64) -> Option<usize> {
        self.zones.iter().position(|z| z.buddy.contains(pfn))
    }

    /// One past the highest frame of any zone.
    pub fn end_pfn(&self) -> u64 {
        self.zones
            .iter()
            .map(|z| z.buddy.base_pfn() + z.buddy.nr_frames())
            .max()
            .unwrap_or(0)
    }

    /// Set the managed pages of zone `i` (memory taken offline or brought online) and
    /// recompute every zone's watermarks and reserves, as Linux does on memory hotplug.
    pub fn set_managed_pages(&mut self, i: usize, managed: u64) {
        self.zones[i].managed = managed.min(self.zones[i].buddy.nr_frames());
        self.update_watermarks();
    }

    /// Recompute watermarks and lowmem reserves from the managed pages.
    pub fn update_watermarks(&mut self) {
        let managed: Vec<u64> = self.zones.iter().map(|z| z.managed).collect();
        for (z, w) in self.zones.iter_mut().zip(zone_watermarks(&managed)) {
            z.buddy.set_watermarks(w);
        }
        for i in 0..self.zones.len() {
            let ratio = self.zones[i].kind.lowmem_reserve_ratio();
            let mut reserve = [0u64; 3];
            for hk in ZoneKind::ALL {
                if hk <= self.zones[i].kind {
                    continue;
                }
                let upper: u64 = self.zones[i + 1..]
                    .iter()
                    .filter(|u| u.kind <= hk)
                    .map(|u| u.managed)
                    .sum();
                reserve[hk as usize] = upper / ratio;
            }
            self.zones[i].reserve = reserve;
        }
    }

    /// Replace the watermarks of every zone with `wmark` (single-zone tests).
    pub fn set_watermarks(&mut self, wmark: Watermarks) {
        for z in &mut self.zones {
            z.buddy.set_watermarks(wmark);
        }
    }

    /// The watermarks of all zones added up (for whole-guest heuristics).
    pub fn watermarks(&self) -> Watermarks {
        self.zones.iter().fold(Watermarks::default(), |a, z| {
            let w = z.buddy.watermarks();
            Watermarks {
                min: a.min + w.min,
                low: a.low + w.low,
                high: a.high + w.high,
            }
        })
    }

    /// Whether zone `i` may serve an `order` allocation at `mark` for an allocation that may
    /// use zones up to `highest` (Linux's `zone_watermark_ok`, free-page part).
    pub fn watermark_ok(&self, i: usize, order: u8, mark: AllocMark, highest: ZoneKind) -> bool {
        let z = &self.zones[i];
        let w = z.buddy.watermarks();
        let m = match mark {
            AllocMark::Low => w.low,
            AllocMark::Min => w.min,
            AllocMark::High => w.high,
            AllocMark::None => return true,
        };
        let free = z.buddy.free_pages() as i64 - ((1i64 << order) - 1);
        free > (m + z.reserve[highest as usize]) as i64
    }

    /// Allocate a block of `order` from the first zone of the zonelist (zones up to
    /// `highest`, highest first) that passes the watermark check at `mark` and has a block.
    /// Returns the zone index and the allocation.
    pub fn allocate_in(
        &mut self,
        order: u8,
        mark: AllocMark,
        highest: ZoneKind,
    ) -> Result<(usize, Allocation), BuddyError> {
        if order > MAX_ORDER {
            return Err(BuddyError::BadOrder(order));
        }
        for i in (0..self.zones.len()).rev() {
            if self.zones[i].kind > highest || !self.watermark_ok(i, order, mark, highest) {
                continue;
            }
            if let Ok(a) = self.zones[i].buddy.allocate(order) {
                return Ok((i, a));
            }
        }
        Err(BuddyError::OutOfMemory(order))
    }

    /// Allocate without a watermark check, highest zone first.
    pub fn allocate(&mut self, order: u8) -> Result<Allocation, BuddyError> {
        self.allocate_in(order, AllocMark::None, ZoneKind::Normal)
            .map(|(_, a)| a)
    }

    /// Allocate `order` from zone `i` only, without a watermark check.
    pub fn allocate_from(&mut self, i: usize, order: u8) -> Result<Allocation, BuddyError> {
        self.zones
            .get_mut(i)
            .ok_or(BuddyError::OutOfMemory(order))?
            .buddy
            .allocate(order)
    }

    /// Free the allocated block (`pfn`, `order`) into its zone. Returns the zone and the
    /// merged block.
    pub fn free(&mut self, pfn: u64, order: u8) -> Result<(usize, Freed), BuddyError> {
        let i = self
            .zone_of(pfn)
            .ok_or(BuddyError::NotAllocated { pfn, order })?;
        self.zones[i].buddy.free(pfn, order).map(|f| (i, f))
    }

    /// Frames on the free lists of all zones.
    pub fn free_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.buddy.free_pages()).sum()
    }

    /// Frames isolated for reporting in all zones.
    pub fn isolated_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.buddy.isolated_pages()).sum()
    }

    /// Free blocks of `order` in all zones.
    pub fn nr_free_blocks(&self, order: u8) -> u64 {
        self.zones
            .iter()
            .map(|z| z.buddy.nr_free_blocks(order))
            .sum()
    }

    /// The free lists of `order` of every zone, lowest zone first, as `(pfn, reported)`.
    pub fn free_list(&self, order: u8) -> impl Iterator<Item = (u64, bool)> + '_ {
        self.zones
            .iter()
            .flat_map(move |z| z.buddy.free_list(order))
    }

    /// Unreported free frames in blocks ≥ `min_order`, all zones. O(free blocks).
    pub fn unreported_pages(&self, min_order: u8) -> u64 {
        self.zones
            .iter()
            .map(|z| z.buddy.unreported_pages(min_order))
            .sum()
    }

    /// Free frames flagged reported, all zones. O(free blocks).
    pub fn reported_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.buddy.reported_pages()).sum()
    }

    /// Order of the allocated block whose head is `pfn`.
    pub fn allocated_order(&self, pfn: u64) -> Option<u8> {
        self.zone_of(pfn)
            .and_then(|i| self.zones[i].buddy.allocated_order(pfn))
    }

    /// Order of the isolated block whose head is `pfn`.
    pub fn isolated_order(&self, pfn: u64) -> Option<u8> {
        self.zone_of(pfn)
            .and_then(|i| self.zones[i].buddy.isolated_order(pfn))
    }

    /// The free block whose head is `pfn`, in whatever zone.
    pub fn free_block(&self, pfn: u64) -> Option<FreeBlock> {
        self.zone_of(pfn)
            .and_then(|i| self.zones[i].buddy.free_block_at(0, pfn))
    }

    /// Check every zone's invariants. O(frames): for tests.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        self.zones
            .iter()
            .try_for_each(|z| z.buddy.check_invariants())
    }
}

impl FreeMemory for ZonedAllocator {
    fn zone_count(&self) -> usize {
        self.zones.len()
    }
    fn zone_info(&self, zone: usize) -> ZoneInfo {
        self.zones
            .get(zone)
            .map_or(ZoneInfo::default(), |z| z.buddy.zone_info(0))
    }
    fn nr_free(&self, zone: usize, order: u8) -> u64 {
        self.zones
            .get(zone)
            .map_or(0, |z| z.buddy.nr_free_blocks(order))
    }
    fn list_head(&self, zone: usize, order: u8) -> Option<u64> {
        self.zones.get(zone)?.buddy.list_head(0, order)
    }
    fn list_next(&self, zone: usize, order: u8, pfn: u64) -> Option<u64> {
        self.zones.get(zone)?.buddy.list_next(0, order, pfn)
    }
    fn rotate_to_front(&mut self, zone: usize, order: u8, pfn: u64) {
        if let Some(z) = self.zones.get_mut(zone) {
            z.buddy.rotate_to_front(0, order, pfn);
        }
    }
    fn free_block_at(&self, zone: usize, pfn: u64) -> Option<FreeBlock> {
        self.zones.get(zone)?.buddy.free_block_at(0, pfn)
    }
    fn isolate(&mut self, zone: usize, pfn: u64, order: u8) -> Result<(), IsolateError> {
        match self.zones.get_mut(zone) {
            Some(z) => z.buddy.isolate(0, pfn, order),
            None => Err(IsolateError::NotFree { pfn, order }),
        }
    }
    fn put_back(&mut self, zone: usize, pfn: u64, order: u8, reported: bool) -> bool {
        match self.zones.get_mut(zone) {
            Some(z) => z.buddy.put_back(0, pfn, order, reported),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 256; // frames

    #[test]
    fn spans_cut_at_16_mib_and_4_gib() {
        // QEMU `pc`, 4 GiB: 3 GiB below 4 GiB, 1 GiB above.
        let s = zone_spans(&[(0, 3072 * MIB), (4096 * MIB, 1024 * MIB)]).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].kind, s[0].start_pfn, s[0].frames),
            (ZoneKind::Dma, 0, 16 * MIB)
        );
        assert_eq!(
            (s[1].kind, s[1].start_pfn, s[1].frames),
            (ZoneKind::Dma32, 16 * MIB, 3056 * MIB)
        );
        assert_eq!(
            (s[2].kind, s[2].start_pfn, s[2].frames),
            (ZoneKind::Normal, 4096 * MIB, 1024 * MIB)
        );
        // A small guest has no Normal zone.
        assert_eq!(zone_spans(&[(0, 2048 * MIB)]).unwrap().len(), 2);
        assert!(zone_spans(&[(0, 0)]).is_err());
        assert_eq!(
            zone_spans(&[(0, 20 * MIB), (30 * MIB, 10 * MIB)]),
            Err(LayoutError::Discontiguous("DMA32"))
        );
    }

    #[test]
    fn watermarks_and_reserves_follow_linux() {
        // One 1 GiB zone: min_free_kbytes = isqrt(16 × 1 Mi KiB) = 4096 KiB = 1024 pages.
        assert_eq!(
            zone_watermarks(&[262_144])[0],
            Watermarks::linux_like(262_144)
        );
        let spans = zone_spans(&[(0, 3072 * MIB), (4096 * MIB, 1024 * MIB)]).unwrap();
        let z = ZonedAllocator::new(&spans).unwrap();
        let total = 4096 * MIB;
        // 4 GiB: min_free_kbytes = 8192 KiB = 2048 pages, shared by managed pages.
        let mins: Vec<u64> = (0..3).map(|i| z.zone(i).watermarks().min).collect();
        assert_eq!(mins[2], 2048 * 1024 * MIB / total);
        assert!(mins.iter().sum::<u64>() <= 2048 && mins.iter().sum::<u64>() >= 2046);
        let n = z.zone(2).watermarks();
        assert_eq!(n.low - n.min, 262_144 / 1000, "Normal: scale factor wins");
        // DMA32 keeps Normal / 256 for Normal allocations; DMA keeps (DMA32 + Normal) / 256.
        assert_eq!(z.lowmem_reserve(1, ZoneKind::Normal), 262_144 / 256);
        assert_eq!(
            z.lowmem_reserve(0, ZoneKind::Normal),
            (3056 + 1024) * MIB / 256
        );
        assert_eq!(z.lowmem_reserve(0, ZoneKind::Dma32), 3056 * MIB / 256);
        assert_eq!(z.lowmem_reserve(2, ZoneKind::Normal), 0);
    }

    #[test]
    fn allocations_fall_back_from_normal_to_dma32_to_dma() {
        let spans = zone_spans(&[(0, 64 * MIB), (4096 * MIB, 32 * MIB)]).unwrap();
        let mut z = ZonedAllocator::new(&spans).unwrap();
        let mut order_of_zones = Vec::new();
        while let Ok((i, a)) = z.allocate_in(9, AllocMark::Low, ZoneKind::Normal) {
            assert_eq!(z.zone_of(a.pfn), Some(i));
            if order_of_zones.last() != Some(&i) {
                order_of_zones.push(i);
            }
        }
        // Normal first, then DMA32, then DMA, each down to its low watermark plus its
        // reserve for Normal allocations.
        assert_eq!(order_of_zones, [2, 1, 0]);
        for i in 0..z.len() {
            let keep = z.zone(i).watermarks().low + z.lowmem_reserve(i, ZoneKind::Normal);
            assert!(z.zone(i).free_pages() + 511 >= keep, "zone {i}");
            assert!(z.zone(i).free_pages() <= keep + 512, "zone {i}");
        }
        // A DMA32 allocation may use the DMA zone (its reserve for DMA32 is smaller).
        let before = z.zone(0).free_pages();
        while z.allocate_in(0, AllocMark::Min, ZoneKind::Dma32).is_ok() {}
        assert!(z.zone(0).free_pages() < before);
        z.check_invariants().unwrap();
    }

    #[test]
    fn free_goes_back_to_the_zone_of_the_frame() {
        let spans = zone_spans(&[(0, 64 * MIB), (4096 * MIB, 32 * MIB)]).unwrap();
        let mut z = ZonedAllocator::new(&spans).unwrap();
        let (i, a) = z
            .allocate_in(10, AllocMark::None, ZoneKind::Normal)
            .unwrap();
        assert_eq!(z.kind(i), ZoneKind::Normal);
        assert_eq!(z.allocated_order(a.pfn), Some(10));
        let (j, f) = z.free(a.pfn, 10).unwrap();
        assert_eq!((j, f.order), (i, 10));
        assert_eq!(z.free_pages(), 96 * MIB);
        assert_eq!(z.end_pfn(), 4128 * MIB);
        assert!(z.free(5, 0).is_err());
    }
}
