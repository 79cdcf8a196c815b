//! Per-CPU page lists (Linux's `per_cpu_pages`, 6.1 semantics), one set per (CPU, zone).
//!
//! Freed blocks of orders 0–3, and of the pageblock order 9 when transparent huge pages are on,
//! go to the freeing CPU's list for their zone first. While there they are allocated as far as
//! the buddy allocator knows — on no free list, so free page reporting never sees them. A list
//! that reaches its `high` limit gives blocks back to the buddy allocator in bulk, oldest first;
//! an allocation of a pcp order takes the newest block, and refills an empty list with a batch
//! from the buddy allocator. Nothing drains a local CPU's list on an idle system, so what sits
//! there after a large free stays unreported.
//!
//! The limits follow the kernel's formulas (`mm/page_alloc.c`, 6.1):
//!
//! * `batch = max(1, rounddown_pow_of_two(b + b / 2) − 1)` with `b = max(1, min(managed / 1024, 256) / 4)`
//!   (256 = 1 MiB of pages);
//! * `high = max(low_wmark / cpus, 4 × batch)` (the zone's low watermark split over the CPUs of
//!   the node), recomputed whenever the watermarks change;
//! * a free that brings a list to `high` frees `clamp(batch << free_factor, batch, high −
//!   batch)` pages, at least one whole block, round-robin over the orders starting with the
//!   freed one; `free_factor` grows by one per such bulk free while `batch << free_factor` is
//!   below `high − batch`, and halves on every allocation from the list;
//! * freeing an order-1..3 block while `free_factor` is non-zero empties the list (6.1's
//!   `free_high`);
//! * a refill takes `max(batch >> order, 2)` blocks (one block if `batch` is 1).

use std::collections::VecDeque;
use std::prelude::rust_2024::*;
use std::vec::Vec;

/// Highest order kept on the lists besides the pageblock order (`PAGE_ALLOC_COSTLY_ORDER`).
pub const COSTLY_ORDER: u8 = 3;
/// The pageblock (THP) order.
pub const PAGEBLOCK_ORDER: u8 = 9;
const NR_LISTS: usize = COSTLY_ORDER as usize + 2;

/// `batch` of a zone with `managed` pages (`zone_batchsize`).
pub fn zone_batch(managed: u64) -> u64 {
    let b = (managed / 1024).min(256) / 4;
    let b = b.max(1);
    let x = b + b / 2;
    ((1u64 << (63 - x.leading_zeros())) - 1).max(1)
}

/// `high` of a zone with low watermark `low` and `batch`, split over `cpus` (`zone_highsize`).
pub fn zone_high(low: u64, batch: u64, cpus: u32) -> u64 {
    (low / u64::from(cpus.max(1))).max(batch * 4)
}

#[derive(Debug, Clone, Default)]
struct Pcp {
    count: u64,
    high: u64,
    batch: u64,
    free_factor: u32,
    /// Per order slot: newest at the front.
    lists: [VecDeque<u64>; NR_LISTS],
}

/// The per-CPU lists of every (CPU, zone).
#[derive(Debug, Clone)]
pub struct PerCpuLists {
    cpus: usize,
    zones: usize,
    thp: bool,
    pcp: Vec<Pcp>,
    pages: u64,
}

impl PerCpuLists {
    /// Lists for `cpus` CPUs and `zones` zones; `thp`: order-9 blocks use the lists too.
    pub fn new(cpus: u32, zones: usize, thp: bool) -> Self {
        let cpus = cpus.max(1) as usize;
        Self {
            cpus,
            zones,
            thp,
            pcp: std::vec![Pcp::default(); cpus * zones],
            pages: 0,
        }
    }

    /// Number of CPUs.
    pub fn cpus(&self) -> u32 {
        self.cpus as u32
    }

    /// Whether blocks of `order` go through the lists (`pcp_allowed_order`).
    pub fn allowed(&self, order: u8) -> bool {
        order <= COSTLY_ORDER || (self.thp && order == PAGEBLOCK_ORDER)
    }

    fn slot(order: u8) -> usize {
        if order <= COSTLY_ORDER {
            order as usize
        } else {
            NR_LISTS - 1
        }
    }

    fn slot_order(slot: usize) -> u8 {
        if slot == NR_LISTS - 1 {
            PAGEBLOCK_ORDER
        } else {
            slot as u8
        }
    }

    fn idx(&self, cpu: u32, zone: usize) -> usize {
        (cpu as usize % self.cpus) * self.zones + zone
    }

    /// Set `batch` and `high` of every CPU's list for `zone` from its managed pages and low
    /// watermark (`zone_pcp_update`).
    pub fn update_zone(&mut self, zone: usize, managed: u64, low_wmark: u64) {
        let batch = zone_batch(managed);
        let high = if managed == 0 {
            0
        } else {
            zone_high(low_wmark, batch, self.cpus as u32)
        };
        for cpu in 0..self.cpus {
            let p = &mut self.pcp[cpu * self.zones + zone];
            p.batch = batch;
            p.high = high;
        }
    }

    /// `high` and `batch` of `zone` (the same on every CPU).
    pub fn limits(&self, zone: usize) -> (u64, u64) {
        self.pcp.get(zone).map_or((0, 0), |p| (p.high, p.batch))
    }

    /// Pages on all lists.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Pages on the lists of `zone`, all CPUs.
    pub fn zone_pages(&self, zone: usize) -> u64 {
        (0..self.cpus)
            .map(|c| self.pcp[c * self.zones + zone].count)
            .sum()
    }

    /// Put a freed block on `cpu`'s list for `zone`. Blocks the list gives back to the buddy
    /// allocator are appended to `out` as `(pfn, order)`.
    pub fn free(&mut self, cpu: u32, zone: usize, pfn: u64, order: u8, out: &mut Vec<(u64, u8)>) {
        let i = self.idx(cpu, zone);
        let slot = Self::slot(order);
        let p = &mut self.pcp[i];
        p.lists[slot].push_front(pfn);
        p.count += 1 << order;
        self.pages += 1 << order;
        let free_high = p.free_factor > 0 && order > 0 && order <= COSTLY_ORDER;
        let high = if free_high { 0 } else { p.high };
        if p.count >= high {
            let n = if free_high {
                p.count
            } else if high < p.batch {
                1
            } else {
                let min_nr = p.batch;
                let max_nr = high - p.batch;
                let b = p.batch << p.free_factor.min(32);
                if b < max_nr {
                    p.free_factor += 1;
                }
                b.min(max_nr).max(min_nr)
            };
            self.bulk_free(i, n, slot, out);
        }
    }

    /// Give `count` pages (at least one block) of list set `i` back, round-robin over the
    /// order slots starting at `first`, oldest block first.
    fn bulk_free(&mut self, i: usize, count: u64, first: usize, out: &mut Vec<(u64, u8)>) {
        let p = &mut self.pcp[i];
        let mut left = count.min(p.count) as i64;
        let mut slot = first;
        while left > 0 {
            while p.lists[slot].is_empty() {
                slot = (slot + 1) % NR_LISTS;
            }
            let order = Self::slot_order(slot);
            while left > 0 {
                let Some(pfn) = p.lists[slot].pop_back() else {
                    break;
                };
                left -= 1 << order;
                p.count -= 1 << order;
                self.pages -= 1 << order;
                out.push((pfn, order));
            }
            slot = (slot + 1) % NR_LISTS;
        }
    }

    /// Take the newest block of `order` from `cpu`'s list for `zone`, if any.
    pub fn take(&mut self, cpu: u32, zone: usize, order: u8) -> Option<u64> {
        let i = self.idx(cpu, zone);
        let p = &mut self.pcp[i];
        p.free_factor >>= 1;
        let pfn = p.lists[Self::slot(order)].pop_front()?;
        p.count -= 1 << order;
        self.pages -= 1 << order;
        Some(pfn)
    }

    /// How many blocks of `order` a refill of `zone`'s list takes from the buddy allocator.
    pub fn refill_count(&self, zone: usize, order: u8) -> u64 {
        let batch = self.pcp.get(zone).map_or(1, |p| p.batch);
        if batch > 1 {
            (batch >> order).max(2)
        } else {
            1
        }
    }

    /// Add a refilled block (from the buddy allocator) at the old end of `cpu`'s list.
    pub fn add_refilled(&mut self, cpu: u32, zone: usize, pfn: u64, order: u8) {
        let i = self.idx(cpu, zone);
        let p = &mut self.pcp[i];
        p.lists[Self::slot(order)].push_back(pfn);
        p.count += 1 << order;
        self.pages += 1 << order;
    }

    /// Empty every list of `zone` (or all zones), appending the blocks to `out` (`drain_all_pages`).
    pub fn drain(&mut self, zone: Option<usize>, out: &mut Vec<(u64, u8)>) {
        for i in 0..self.pcp.len() {
            if zone.is_some_and(|z| i % self.zones != z) {
                continue;
            }
            let c = self.pcp[i].count;
            if c > 0 {
                self.bulk_free(i, c, 0, out);
            }
        }
    }

    /// Whether `pfn` heads a block on some list (O(pages on the lists); for checks).
    pub fn holds(&self, pfn: u64) -> bool {
        self.pcp
            .iter()
            .any(|p| p.lists.iter().any(|l| l.contains(&pfn)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_kernel_formulas() {
        // A 1 GiB zone: min(262144 / 1024, 256) / 4 = 64 → rounddown_pow_of_two(96) − 1 = 63.
        assert_eq!(zone_batch(262_144), 63);
        assert_eq!(
            zone_batch(100),
            1,
            "tiny zone: b = 1 → 1 − 1 = 0, at least 1"
        );
        assert_eq!(zone_batch(3_976), 1);
        assert_eq!(zone_high(778, 63, 2), 389);
        assert_eq!(zone_high(100, 63, 2), 252, "at least 4 × batch");
    }

    #[test]
    fn thp_frees_pass_through_a_small_list_and_stay_on_a_large_one() {
        let mut l = PerCpuLists::new(2, 2, true);
        l.update_zone(0, 262_144, 778); // high 389 < 512
        l.update_zone(1, 782_000, 2_286); // high 1143
        let mut out = Vec::new();
        l.free(0, 0, 0x10_0000, 9, &mut out);
        assert_eq!(out, [(0x10_0000, 9)], "over high at once: given back");
        out.clear();
        for k in 0..3u64 {
            l.free(0, 1, k * 512, 9, &mut out);
        }
        // The third reaches 1536 ≥ 1143: the oldest block goes back, two stay.
        assert_eq!(out, [(0, 9)]);
        assert_eq!(l.zone_pages(1), 1024);
        assert_eq!(l.pages(), 1024);
        assert!(l.holds(1024) && !l.holds(0));
        // Allocation takes the newest.
        assert_eq!(l.take(0, 1, 9), Some(1024));
        assert_eq!(l.take(1, 1, 9), None, "other CPU's list is empty");
        out.clear();
        l.drain(None, &mut out);
        assert_eq!(out, [(512, 9)]);
        assert_eq!(l.pages(), 0);
    }

    #[test]
    fn order_zero_frees_are_given_back_in_growing_batches() {
        let mut l = PerCpuLists::new(1, 1, true);
        l.update_zone(0, 262_144, 1_000); // batch 63, high 1000
        let mut out = Vec::new();
        for p in 0..5000u64 {
            l.free(0, 0, p, 0, &mut out);
        }
        assert!(l.pages() < 1000);
        assert_eq!(out.len() as u64 + l.pages(), 5000);
        // Oldest first.
        assert_eq!(out[0], (0, 0));
        assert!(!l.allowed(4) && l.allowed(3) && l.allowed(9));
        assert_eq!(l.refill_count(0, 0), 63);
        assert_eq!(l.refill_count(0, 9), 2);
    }
}
