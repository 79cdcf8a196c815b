//! A reference buddy allocator with Linux's free-page-reporting behaviour.
//!
//! * 4 KiB frames, orders 0 ..= [`MAX_ORDER`] (10 = 4 MiB), blocks naturally aligned in
//!   **absolute** frame numbers (so a block's guest-physical range is what the host sees).
//! * One free list per order. Linux keeps one list per (order, migratetype); this model has a
//!   single migratetype, which is what the reporting core sees on a guest that never changes
//!   pageblock types. Lists are circular, doubly linked through per-frame `next`/`prev` arrays,
//!   so unlink, link at head or tail and rotation are O(1) and a free, an allocation or a
//!   put-back is O(`MAX_ORDER`) — no per-frame scan anywhere. Memory: 9 bytes per frame
//!   (36 MiB of metadata for 16 GiB).
//! * The reported flag (`PG_reported`) lives on free block heads. Every removal from a free
//!   list clears it — allocation, a split's source block, a buddy absorbed by a merge, and
//!   isolation — so split remainders and merged blocks are unreported, exactly as in Linux.
//!   It is set only by [`FreeMemory::put_back`] with `reported = true` when the block did not
//!   merge.
//! * Allocation takes the head of the smallest non-empty list ≥ the order and puts split
//!   remainders at the head; freed blocks go to the head; reported blocks go back at the tail,
//!   so unreported memory is reused first and host-discarded memory last.
//! * The zone has min/low/high watermarks ([`Watermarks`]) used by the engine's gates.

use alloc::vec;
use alloc::vec::Vec;

use crate::types::{FreeBlock, FreeMemory, IsolateError, MAX_ORDER, NR_ORDERS, ZoneInfo};

const NIL: u32 = u32::MAX;
/// Frame is the head of a block on a free list. Low 4 bits: order.
const FREE: u8 = 0x80;
/// Free head carries the reported flag.
const REPORTED: u8 = 0x40;
/// Frame is the head of an allocated block. Low 4 bits: order.
const ALLOCATED: u8 = 0x20;
/// Frame is the head of a block isolated for reporting. Low 4 bits: order.
const ISOLATED: u8 = 0x10;
const ORDER_MASK: u8 = 0x0F;

/// Zone watermarks in 4 KiB frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watermarks {
    /// `min_wmark`: below this only emergency allocations succeed.
    pub min: u64,
    /// `low_wmark`: kswapd wakes below this; the reporting gate is `low + (32 << order)`.
    pub low: u64,
    /// `high_wmark`: kswapd stops reclaiming above this.
    pub high: u64,
}

impl Watermarks {
    /// Watermarks close to what Linux computes for a single zone of `pages` frames:
    /// `min_free_kbytes = sqrt(16 × KiB)` clamped to 128 KiB … 256 MiB, and
    /// `low = min + max(min / 4, pages / 1000)`, `high = low + (low − min)`
    /// (default `watermark_scale_factor` = 10). An approximation: real zones also carry
    /// lowmem reserves and per-zone shares of `min_free_kbytes`.
    pub fn linux_like(pages: u64) -> Self {
        let kib = pages * 4;
        let min_kib = isqrt(kib.saturating_mul(16)).clamp(128, 262_144);
        let min = min_kib / 4;
        let delta = core::cmp::max(min / 4, pages / 1000);
        Self {
            min,
            low: min + delta,
            high: min + 2 * delta,
        }
    }
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

/// Errors of the allocator's own API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuddyError {
    /// Order above [`MAX_ORDER`].
    #[error("order {0} is above the maximum order 10")]
    BadOrder(u8),
    /// No free block large enough.
    #[error("out of memory for an order-{0} block")]
    OutOfMemory(u8),
    /// `free` of something that is not an allocated block head of that order.
    #[error("frame {pfn:#x} is not the head of an allocated order-{order} block")]
    NotAllocated {
        /// The frame passed.
        pfn: u64,
        /// The order passed.
        order: u8,
    },
    /// The requested zone does not fit the model (zero frames, or more than 2^32 − 2).
    #[error("zone of {0} frames is not supported (1 ..= 2^32 - 2 frames)")]
    BadZoneSize(u64),
}

/// A free block after a free, with its final (merged) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freed {
    /// First frame of the merged block.
    pub pfn: u64,
    /// Final order after merging: pass this to
    /// [`ReportingEngine::notify_free`](crate::ReportingEngine::notify_free).
    pub order: u8,
}

/// An allocated block, and what its split left on the free lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// First frame.
    pub pfn: u64,
    /// Order.
    pub order: u8,
    /// If the block was split off a larger free block: the order of the largest (unreported)
    /// remainder. Pass it to [`ReportingEngine::notify_free`](crate::ReportingEngine::notify_free)
    /// so the remainder gets reported even if nothing else is freed.
    pub remainder_order: Option<u8>,
}

/// The reference buddy allocator: one zone of `nr_frames` frames from `base_pfn`.
#[derive(Clone, Debug)]
pub struct BuddyAllocator {
    base_pfn: u64,
    nr_frames: u32,
    next: Vec<u32>,
    prev: Vec<u32>,
    meta: Vec<u8>,
    heads: [u32; NR_ORDERS],
    nr_free: [u64; NR_ORDERS],
    free_pages: u64,
    isolated_pages: u64,
    wmark: Watermarks,
}

impl BuddyAllocator {
    /// A zone of `nr_frames` frames starting at frame `base_pfn`, all free (tiled with maximal
    /// aligned blocks, lowest address at the head of each list), with
    /// [`Watermarks::linux_like`].
    pub fn new(base_pfn: u64, nr_frames: u64) -> Result<Self, BuddyError> {
        Self::with_watermarks(base_pfn, nr_frames, Watermarks::linux_like(nr_frames))
    }

    /// Like [`new`](Self::new) with explicit watermarks.
    pub fn with_watermarks(
        base_pfn: u64,
        nr_frames: u64,
        wmark: Watermarks,
    ) -> Result<Self, BuddyError> {
        if nr_frames == 0 || nr_frames >= u64::from(NIL) {
            return Err(BuddyError::BadZoneSize(nr_frames));
        }
        let n = nr_frames as usize;
        let mut a = Self {
            base_pfn,
            nr_frames: nr_frames as u32,
            next: vec![NIL; n],
            prev: vec![NIL; n],
            meta: vec![0; n],
            heads: [NIL; NR_ORDERS],
            nr_free: [0; NR_ORDERS],
            free_pages: 0,
            isolated_pages: 0,
            wmark,
        };
        let all = crate::Extent {
            pfn: base_pfn,
            pages: nr_frames,
        };
        for (pfn, order) in all.blocks() {
            let i = a.idx(pfn);
            a.link(i, order, true);
        }
        Ok(a)
    }

    /// First frame of the zone.
    pub fn base_pfn(&self) -> u64 {
        self.base_pfn
    }

    /// Number of frames in the zone.
    pub fn nr_frames(&self) -> u64 {
        u64::from(self.nr_frames)
    }

    /// Frames on the free lists.
    pub fn free_pages(&self) -> u64 {
        self.free_pages
    }

    /// Frames currently isolated for reporting.
    pub fn isolated_pages(&self) -> u64 {
        self.isolated_pages
    }

    /// The zone's watermarks.
    pub fn watermarks(&self) -> Watermarks {
        self.wmark
    }

    /// Replace the zone's watermarks.
    pub fn set_watermarks(&mut self, wmark: Watermarks) {
        self.wmark = wmark;
    }

    /// Whether `pfn` lies in this zone.
    pub fn contains(&self, pfn: u64) -> bool {
        pfn >= self.base_pfn && pfn - self.base_pfn < u64::from(self.nr_frames)
    }

    fn idx(&self, pfn: u64) -> u32 {
        (pfn - self.base_pfn) as u32
    }

    fn pfn(&self, i: u32) -> u64 {
        self.base_pfn + u64::from(i)
    }

    fn meta_of(&self, pfn: u64) -> Option<u8> {
        if self.contains(pfn) {
            self.meta.get(self.idx(pfn) as usize).copied()
        } else {
            None
        }
    }

    /// Whether `pfn` heads a free block of `order` (reported or not).
    fn is_free_head(&self, pfn: u64, order: u8) -> bool {
        self.meta_of(pfn)
            .is_some_and(|m| m & !REPORTED == FREE | order)
    }

    /// Link free block head `i` of `order` at the head or tail of its list.
    fn link(&mut self, i: u32, order: u8, tail: bool) {
        let o = order as usize;
        let head = self.heads[o];
        if head == NIL {
            self.next[i as usize] = i;
            self.prev[i as usize] = i;
            self.heads[o] = i;
        } else {
            let last = self.prev[head as usize];
            self.next[i as usize] = head;
            self.prev[i as usize] = last;
            self.next[last as usize] = i;
            self.prev[head as usize] = i;
            if !tail {
                self.heads[o] = i;
            }
        }
        self.meta[i as usize] = FREE | order;
        self.nr_free[o] += 1;
        self.free_pages += 1 << order;
    }

    /// Unlink free block head `i` of `order`; clears its flags (incl. reported).
    fn unlink(&mut self, i: u32, order: u8) {
        let o = order as usize;
        let (n, p) = (self.next[i as usize], self.prev[i as usize]);
        if n == i {
            self.heads[o] = NIL;
        } else {
            self.next[p as usize] = n;
            self.prev[n as usize] = p;
            if self.heads[o] == i {
                self.heads[o] = n;
            }
        }
        self.next[i as usize] = NIL;
        self.prev[i as usize] = NIL;
        self.meta[i as usize] = 0;
        self.nr_free[o] -= 1;
        self.free_pages -= 1 << order;
    }

    /// Allocate a block of `order` from the head of the smallest non-empty list; split
    /// remainders go to the head of their lists, unreported.
    pub fn alloc(&mut self, order: u8) -> Result<u64, BuddyError> {
        self.allocate(order).map(|a| a.pfn)
    }

    /// [`alloc`](Self::alloc), also telling whether the allocation split a larger block.
    pub fn allocate(&mut self, order: u8) -> Result<Allocation, BuddyError> {
        if order > MAX_ORDER {
            return Err(BuddyError::BadOrder(order));
        }
        let Some(mut k) = (order..=MAX_ORDER).find(|&k| self.heads[k as usize] != NIL) else {
            return Err(BuddyError::OutOfMemory(order));
        };
        let i = self.heads[k as usize];
        self.unlink(i, k);
        let remainder_order = (k > order).then(|| k - 1);
        while k > order {
            k -= 1;
            self.link(i + (1u32 << k), k, false);
        }
        self.meta[i as usize] = ALLOCATED | order;
        Ok(Allocation {
            pfn: self.pfn(i),
            order,
            remainder_order,
        })
    }

    /// Free the allocated block (`pfn`, `order`): merge with free buddies and link the result
    /// at the head of its list. Returns the merged block; if its order is ≥ the reporting order
    /// the caller notifies the engine (Linux's `page_reporting_notify_free`).
    pub fn free(&mut self, pfn: u64, order: u8) -> Result<Freed, BuddyError> {
        if self.meta_of(pfn) != Some(ALLOCATED | order) || order > MAX_ORDER {
            return Err(BuddyError::NotAllocated { pfn, order });
        }
        let i = self.idx(pfn);
        self.meta[i as usize] = 0;
        Ok(self.insert_merged(pfn, order, false))
    }

    /// Merge (`pfn`, `order`) with free buddies and link it; returns the final block.
    fn insert_merged(&mut self, mut pfn: u64, mut order: u8, tail: bool) -> Freed {
        while order < MAX_ORDER {
            let buddy = pfn ^ (1u64 << order);
            if self.is_free_head(buddy, order) {
                let bi = self.idx(buddy);
                self.unlink(bi, order);
                pfn = pfn.min(buddy);
                order += 1;
            } else {
                break;
            }
        }
        let i = self.idx(pfn);
        self.link(i, order, tail);
        Freed { pfn, order }
    }

    /// Order of the allocated block whose head is `pfn`, if any.
    pub fn allocated_order(&self, pfn: u64) -> Option<u8> {
        self.meta_of(pfn)
            .filter(|m| m & ALLOCATED != 0)
            .map(|m| m & ORDER_MASK)
    }

    /// Order of the isolated block whose head is `pfn`, if any.
    pub fn isolated_order(&self, pfn: u64) -> Option<u8> {
        self.meta_of(pfn)
            .filter(|m| m & ISOLATED != 0)
            .map(|m| m & ORDER_MASK)
    }

    /// Number of free blocks of `order`.
    pub fn nr_free_blocks(&self, order: u8) -> u64 {
        self.nr_free.get(order as usize).copied().unwrap_or(0)
    }

    /// Iterate the free list of `order` from head to tail as `(pfn, reported)`.
    pub fn free_list(&self, order: u8) -> impl Iterator<Item = (u64, bool)> + '_ {
        let head = self.heads.get(order as usize).copied().unwrap_or(NIL);
        let mut cur = head;
        let mut started = false;
        core::iter::from_fn(move || {
            if cur == NIL || (started && cur == head) {
                return None;
            }
            started = true;
            let i = cur;
            cur = self.next[i as usize];
            Some((self.pfn(i), self.meta[i as usize] & REPORTED != 0))
        })
    }

    /// Free blocks of order ≥ `min_order` that are not reported, summed in frames.
    /// O(free blocks); meant for tests and statistics, not hot paths.
    pub fn unreported_pages(&self, min_order: u8) -> u64 {
        (min_order..=MAX_ORDER)
            .map(|o| self.free_list(o).filter(|&(_, r)| !r).count() as u64 * (1u64 << o))
            .sum()
    }

    /// Free frames whose block carries the reported flag.
    /// O(free blocks); meant for tests and statistics.
    pub fn reported_pages(&self) -> u64 {
        (0..=MAX_ORDER)
            .map(|o| self.free_list(o).filter(|&(_, r)| r).count() as u64 * (1u64 << o))
            .sum()
    }

    /// Check the allocator's invariants (list links, counters, flag placement); returns a
    /// description of the first broken one. O(frames): for tests.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        let mut pages = 0;
        for o in 0..=MAX_ORDER {
            let mut n = 0;
            for (pfn, _) in self.free_list(o) {
                let i = self.idx(pfn) as usize;
                if self.meta[i] & !REPORTED != FREE | o {
                    return Err("list member is not a free head of the list's order");
                }
                if pfn & ((1u64 << o) - 1) != 0 {
                    return Err("free block not naturally aligned");
                }
                if self.prev[self.next[i] as usize] as usize != i {
                    return Err("broken prev/next link");
                }
                n += 1;
            }
            if n != self.nr_free[o as usize] {
                return Err("nr_free does not match the list length");
            }
            pages += n << o;
        }
        if pages != self.free_pages {
            return Err("free_pages does not match the lists");
        }
        if self.meta.iter().filter(|&&m| m & FREE != 0).count() as u64
            != self.nr_free.iter().sum::<u64>()
        {
            return Err("a free head is not on any list");
        }
        Ok(())
    }
}

impl FreeMemory for BuddyAllocator {
    fn zone_count(&self) -> usize {
        1
    }

    fn zone_info(&self, _zone: usize) -> ZoneInfo {
        ZoneInfo {
            free_pages: self.free_pages,
            min_wmark: self.wmark.min,
            low_wmark: self.wmark.low,
        }
    }

    fn nr_free(&self, _zone: usize, order: u8) -> u64 {
        self.nr_free_blocks(order)
    }

    fn list_head(&self, _zone: usize, order: u8) -> Option<u64> {
        let h = *self.heads.get(order as usize)?;
        (h != NIL).then(|| self.pfn(h))
    }

    fn list_next(&self, _zone: usize, order: u8, pfn: u64) -> Option<u64> {
        let head = *self.heads.get(order as usize)?;
        if !self.contains(pfn) {
            return None;
        }
        let n = *self.next.get(self.idx(pfn) as usize)?;
        (n != NIL && n != head).then(|| self.pfn(n))
    }

    fn rotate_to_front(&mut self, _zone: usize, order: u8, pfn: u64) {
        if self.is_free_head(pfn, order) {
            self.heads[order as usize] = self.idx(pfn);
        }
    }

    fn free_block_at(&self, _zone: usize, pfn: u64) -> Option<FreeBlock> {
        let m = self.meta_of(pfn)?;
        (m & FREE != 0).then_some(FreeBlock {
            order: m & ORDER_MASK,
            reported: m & REPORTED != 0,
        })
    }

    fn isolate(&mut self, _zone: usize, pfn: u64, order: u8) -> Result<(), IsolateError> {
        if !self.is_free_head(pfn, order) {
            return Err(IsolateError::NotFree { pfn, order });
        }
        let i = self.idx(pfn);
        self.unlink(i, order);
        self.meta[i as usize] = ISOLATED | order;
        self.isolated_pages += 1 << order;
        Ok(())
    }

    fn put_back(&mut self, _zone: usize, pfn: u64, order: u8, reported: bool) -> bool {
        if self.meta_of(pfn) != Some(ISOLATED | order) {
            // Not ours to give back: ignoring it keeps the lists sound.
            log::error!("put_back of frame {pfn:#x} order {order} that is not isolated");
            return false;
        }
        let i = self.idx(pfn);
        self.meta[i as usize] = 0;
        self.isolated_pages -= 1 << order;
        let f = self.insert_merged(pfn, order, true);
        let merged = f.order != order;
        if reported && !merged {
            self.meta[i as usize] |= REPORTED;
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(frames: u64) -> BuddyAllocator {
        BuddyAllocator::with_watermarks(0, frames, Watermarks::default()).unwrap()
    }

    #[test]
    fn new_zone_tiles_with_max_order_blocks() {
        let a = zone(4096 + 512 + 1);
        assert_eq!(a.nr_free_blocks(10), 4);
        assert_eq!(a.nr_free_blocks(9), 1);
        assert_eq!(a.nr_free_blocks(0), 1);
        assert_eq!(a.free_pages(), 4096 + 512 + 1);
        a.check_invariants().unwrap();
        // Unaligned base: blocks stay naturally aligned in absolute frame numbers.
        let b = BuddyAllocator::new(3, 2048).unwrap();
        for o in 0..=MAX_ORDER {
            for (pfn, _) in b.free_list(o) {
                assert_eq!(pfn % (1 << o), 0);
            }
        }
        b.check_invariants().unwrap();
        assert_eq!(b.free_pages(), 2048);
    }

    #[test]
    fn alloc_splits_from_head_and_free_merges_back() {
        let mut a = zone(2048);
        let got = a.allocate(0).unwrap();
        assert_eq!(
            got,
            Allocation {
                pfn: 0,
                order: 0,
                remainder_order: Some(9)
            }
        );
        let p = got.pfn;
        for o in 0..10 {
            assert_eq!(a.nr_free_blocks(o), 1, "one remainder per order {o}");
        }
        assert_eq!(a.nr_free_blocks(10), 1);
        let f = a.free(p, 0).unwrap();
        assert_eq!(f, Freed { pfn: 0, order: 10 });
        assert_eq!(a.nr_free_blocks(10), 2);
        a.check_invariants().unwrap();
        assert_eq!(
            a.free(p, 0),
            Err(BuddyError::NotAllocated { pfn: 0, order: 0 })
        );
        assert_eq!(a.alloc(11), Err(BuddyError::BadOrder(11)));
    }

    #[test]
    fn out_of_memory() {
        let mut a = zone(1024);
        a.alloc(10).unwrap();
        assert_eq!(a.alloc(0), Err(BuddyError::OutOfMemory(0)));
        assert!(BuddyAllocator::new(0, 0).is_err());
    }

    /// Isolate + put back reported, the way the engine does after a successful report.
    fn report(a: &mut BuddyAllocator, pfn: u64, order: u8) {
        a.isolate(0, pfn, order).unwrap();
        assert!(!a.put_back(0, pfn, order, true));
    }

    #[test]
    fn reported_blocks_go_to_tail_and_allocation_clears_the_flag() {
        let mut a = zone(4096);
        report(&mut a, 0, 10);
        let list: Vec<_> = a.free_list(10).collect();
        assert_eq!(
            list,
            [(1024, false), (2048, false), (3072, false), (0, true)]
        );
        // Allocation takes from the head: unreported memory first.
        assert_eq!(a.alloc(10).unwrap(), 1024);
        assert_eq!(a.alloc(10).unwrap(), 2048);
        assert_eq!(a.alloc(10).unwrap(), 3072);
        assert_eq!(a.alloc(10).unwrap(), 0);
        assert_eq!(a.free(0, 10).unwrap(), Freed { pfn: 0, order: 10 });
        assert_eq!(
            a.free_block_at(0, 0),
            Some(FreeBlock {
                order: 10,
                reported: false
            })
        );
    }

    #[test]
    fn split_clears_the_flag_of_remainders() {
        let mut a = zone(1024);
        report(&mut a, 0, 10);
        assert_eq!(a.reported_pages(), 1024);
        let p = a.alloc(8).unwrap();
        assert_eq!(p, 0);
        assert_eq!(
            a.reported_pages(),
            0,
            "remainders of a split are unreported"
        );
        assert_eq!(
            a.free_block_at(0, 512),
            Some(FreeBlock {
                order: 9,
                reported: false
            })
        );
        assert_eq!(
            a.free_block_at(0, 256),
            Some(FreeBlock {
                order: 8,
                reported: false
            })
        );
    }

    #[test]
    fn merge_clears_the_flag() {
        let mut a = zone(1024);
        let lo = a.alloc(9).unwrap();
        let hi = a.alloc(9).unwrap();
        assert_eq!((lo, hi), (0, 512));
        a.free(hi, 9).unwrap();
        report(&mut a, 512, 9);
        assert_eq!(
            a.free_block_at(0, 512),
            Some(FreeBlock {
                order: 9,
                reported: true
            })
        );
        // Freeing the buddy absorbs the reported block: the merged block is unreported.
        assert_eq!(a.free(lo, 9).unwrap(), Freed { pfn: 0, order: 10 });
        assert_eq!(
            a.free_block_at(0, 0),
            Some(FreeBlock {
                order: 10,
                reported: false
            })
        );
        assert_eq!(a.reported_pages(), 0);
        a.check_invariants().unwrap();
    }

    #[test]
    fn put_back_that_merges_is_not_flagged() {
        let mut a = zone(1024);
        let lo = a.alloc(9).unwrap();
        let hi = a.alloc(9).unwrap();
        a.free(lo, 9).unwrap();
        a.isolate(0, lo, 9).unwrap();
        assert_eq!(a.free_pages(), 0);
        assert_eq!(a.isolated_pages(), 512);
        // While isolated the block cannot merge or be allocated.
        assert_eq!(a.alloc(9), Err(BuddyError::OutOfMemory(9)));
        a.free(hi, 9).unwrap();
        assert_eq!(
            a.free_block_at(0, 512),
            Some(FreeBlock {
                order: 9,
                reported: false
            })
        );
        a.put_back(0, lo, 9, true);
        assert_eq!(
            a.free_block_at(0, 0),
            Some(FreeBlock {
                order: 10,
                reported: false
            })
        );
        assert_eq!(a.isolated_pages(), 0);
        a.check_invariants().unwrap();
    }

    #[test]
    fn isolation_clears_the_flag_and_failed_put_back_stays_unreported() {
        let mut a = zone(1024);
        report(&mut a, 0, 10);
        a.isolate(0, 0, 10).unwrap();
        assert_eq!(a.isolated_order(0), Some(10));
        assert_eq!(
            a.isolate(0, 0, 10),
            Err(IsolateError::NotFree { pfn: 0, order: 10 })
        );
        a.put_back(0, 0, 10, false);
        assert_eq!(
            a.free_block_at(0, 0),
            Some(FreeBlock {
                order: 10,
                reported: false
            })
        );
    }

    #[test]
    fn list_walk_and_rotation() {
        let mut a = zone(4096);
        assert_eq!(a.list_head(0, 10), Some(0));
        assert_eq!(a.list_next(0, 10, 0), Some(1024));
        assert_eq!(a.list_next(0, 10, 3072), None);
        a.rotate_to_front(0, 10, 2048);
        let list: Vec<_> = a.free_list(10).map(|(p, _)| p).collect();
        assert_eq!(list, [2048, 3072, 0, 1024]);
        assert_eq!(a.list_head(0, 9), None);
    }

    #[test]
    fn linux_like_watermarks() {
        // 1 GiB zone: min_free_kbytes = sqrt(16 × 1 Mi KiB) = 4096 KiB = 1024 frames.
        let w = Watermarks::linux_like(262_144);
        assert_eq!(w.min, 1024);
        assert_eq!(w.low, 1024 + 262);
        assert_eq!(w.high, 1024 + 524);
    }

    /// xorshift64* for the randomized test below.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    /// Random alloc / free / isolate / put-back sequences on a zone with an unaligned base:
    /// blocks are disjoint and aligned, counters add up, the lists stay sound, and a reported
    /// flag only ever covers frames not allocated since they were reported.
    #[test]
    fn randomized_sequences_keep_invariants_and_flag_safety() {
        const BASE: u64 = 0x1234;
        const FRAMES: u64 = 6000;
        for seed in 1..=60u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut a =
                BuddyAllocator::with_watermarks(BASE, FRAMES, Watermarks::default()).unwrap();
            let mut owner = vec![false; FRAMES as usize];
            let mut clean = vec![false; FRAMES as usize];
            let mut live: Vec<(u64, u8)> = Vec::new();
            let mut isolated: Vec<(u64, u8)> = Vec::new();
            for step in 0..400 {
                match rng.below(10) {
                    0..=3 => {
                        let o = rng.below(11) as u8;
                        if let Ok(got) = a.allocate(o) {
                            assert_eq!(got.pfn % (1 << o), 0, "aligned");
                            for f in got.pfn - BASE..got.pfn - BASE + (1 << o) {
                                assert!(!owner[f as usize], "seed {seed}: frame handed out twice");
                                owner[f as usize] = true;
                                clean[f as usize] = false;
                            }
                            live.push((got.pfn, o));
                        }
                    }
                    4..=6 if !live.is_empty() => {
                        let (p, o) = live.swap_remove(rng.below(live.len() as u64) as usize);
                        for f in p - BASE..p - BASE + (1 << o) {
                            owner[f as usize] = false;
                        }
                        let fr = a.free(p, o).unwrap();
                        assert!(fr.order >= o && fr.pfn <= p);
                    }
                    7 => {
                        // Isolate a random free block at the head of a random list.
                        let o = rng.below(11) as u8;
                        if let Some(p) = a.list_head(0, o) {
                            a.isolate(0, p, o).unwrap();
                            isolated.push((p, o));
                        }
                    }
                    _ if !isolated.is_empty() => {
                        let (p, o) =
                            isolated.swap_remove(rng.below(isolated.len() as u64) as usize);
                        let reported = rng.below(2) == 0;
                        if !a.put_back(0, p, o, reported) && reported {
                            for f in p - BASE..p - BASE + (1 << o) {
                                clean[f as usize] = true;
                            }
                        }
                    }
                    _ => {}
                }
                let used: u64 = live.iter().map(|&(_, o)| 1u64 << o).sum();
                assert_eq!(
                    a.free_pages() + a.isolated_pages() + used,
                    FRAMES,
                    "seed {seed}"
                );
                if step % 50 == 0 {
                    a.check_invariants().unwrap();
                    for o in 0..=MAX_ORDER {
                        for (p, rep) in a.free_list(o) {
                            let frames = p - BASE..p - BASE + (1 << o);
                            assert!(frames.clone().all(|f| !owner[f as usize]));
                            if rep {
                                assert!(
                                    frames.into_iter().all(|f| clean[f as usize]),
                                    "seed {seed}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
