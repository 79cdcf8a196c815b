//! Vocabulary shared by the allocator, the engine and the reporter.

use core::fmt;
use core::time::Duration;

/// Size of one frame (guest page and Hyper-V page): 4 KiB.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
/// Highest buddy order (Linux `MAX_PAGE_ORDER` on x86-64): order 10 = 1024 frames = 4 MiB.
#[doc(alias = "MAX_PAGE_ORDER")]
pub const MAX_ORDER: u8 = 10;
/// Number of buddy orders (0 ..= [`MAX_ORDER`]).
pub const NR_ORDERS: usize = MAX_ORDER as usize + 1;
/// Pageblock order (x86-64, 4 KiB pages): 9 = 2 MiB. The default reporting order and the order
/// the Hyper-V reporter falls back to when the host rejects smaller ranges.
#[doc(alias = "pageblock_order")]
pub const PAGEBLOCK_ORDER: u8 = 9;
/// Entries per report call in Linux's core (`PAGE_REPORTING_CAPACITY`).
#[doc(alias = "PAGE_REPORTING_CAPACITY")]
pub const REPORTING_CAPACITY: usize = 32;
/// Delay between a request and the start of a pass (`PAGE_REPORTING_DELAY` = 2 s).
#[doc(alias = "PAGE_REPORTING_DELAY")]
pub const REPORTING_DELAY: Duration = Duration::from_secs(2);
/// Most ranges one `HvExtCallMemoryHeatHint` can carry: (4096 − 8) / 8.
#[doc(alias = "HV_MEMORY_HINT_MAX_GPA_PAGE_RANGES")]
pub const MAX_RANGES_PER_HINT: usize = 511;

/// A physically contiguous run of free frames handed to a [`ReportSink`].
///
/// With [`Policy::Linux`](crate::Policy::Linux) every extent is exactly one naturally aligned
/// buddy block (`pages` is a power of two and `pfn` a multiple of it); with
/// [`Policy::Coalesced`](crate::Policy::Coalesced) an extent is the union of adjacent blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Extent {
    /// First 4 KiB frame number.
    pub pfn: u64,
    /// Number of 4 KiB frames (≥ 1).
    pub pages: u64,
}

impl Extent {
    /// The naturally aligned buddy block of `order` starting at `pfn`.
    pub const fn block(pfn: u64, order: u8) -> Self {
        Self {
            pfn,
            pages: 1 << order,
        }
    }

    /// One past the last frame (saturating).
    pub const fn end(&self) -> u64 {
        self.pfn.saturating_add(self.pages)
    }

    /// Length in bytes (saturating).
    pub const fn bytes(&self) -> u64 {
        self.pages.saturating_mul(PAGE_SIZE)
    }

    /// Iterate the maximal naturally aligned blocks (order ≤ [`MAX_ORDER`]) that tile this
    /// extent, lowest address first.
    pub fn blocks(&self) -> ExtentBlocks {
        ExtentBlocks {
            next: self.pfn,
            end: self.end(),
        }
    }
}

impl fmt::Display for Extent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, +{} frames)", self.pfn, self.pages)
    }
}

/// Iterator of `(pfn, order)` blocks tiling an [`Extent`]; see [`Extent::blocks`].
#[derive(Clone, Debug)]
pub struct ExtentBlocks {
    next: u64,
    end: u64,
}

impl Iterator for ExtentBlocks {
    type Item = (u64, u8);

    fn next(&mut self) -> Option<(u64, u8)> {
        if self.next >= self.end {
            return None;
        }
        let pfn = self.next;
        let left = self.end - pfn;
        let mut order = MAX_ORDER;
        while order > 0 && (pfn & ((1u64 << order) - 1) != 0 || (1u64 << order) > left) {
            order -= 1;
        }
        self.next = pfn + (1 << order);
        Some((pfn, order))
    }
}

/// A free block as seen through [`FreeMemory::free_block_at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeBlock {
    /// Buddy order of the block.
    pub order: u8,
    /// Whether the block carries the reported flag (`PG_reported`).
    pub reported: bool,
}

/// Free-page counters and watermarks of one zone, in 4 KiB frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneInfo {
    /// Frames on the free lists (isolated blocks are not counted).
    pub free_pages: u64,
    /// The zone's min watermark.
    pub min_wmark: u64,
    /// The zone's low watermark.
    pub low_wmark: u64,
}

/// Why [`FreeMemory::isolate`] refused a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IsolateError {
    /// No free block of that order starts at that frame (it was allocated, merged or is
    /// already isolated).
    #[error("no free block of order {order} at frame {pfn:#x}")]
    NotFree {
        /// The frame asked for.
        pfn: u64,
        /// The order asked for.
        order: u8,
    },
}

/// What the reporting engine needs from an allocator: Linux's free lists seen from
/// `mm/page_reporting.c`.
///
/// A zone's free list of one order is a sequence with a head and a tail; allocation takes from
/// the head; reported blocks are put back at the tail. Implementations must keep the reported
/// flag exactly as Linux does: cleared whenever a block leaves a free list (allocation, being
/// absorbed by a merge, isolation), set only by [`put_back`](Self::put_back) with
/// `reported = true` when the block did not merge.
pub trait FreeMemory {
    /// Number of zones (≥ 1). Batches never span zones.
    fn zone_count(&self) -> usize;
    /// Counters and watermarks of `zone`.
    fn zone_info(&self, zone: usize) -> ZoneInfo;
    /// Number of free blocks of `order` in `zone` (`nr_free`).
    fn nr_free(&self, zone: usize, order: u8) -> u64;
    /// First frame of the block at the head of the free list, `None` if the list is empty.
    fn list_head(&self, zone: usize, order: u8) -> Option<u64>;
    /// The block after `pfn` on its free list, `None` at the tail. `pfn` must be on the list.
    fn list_next(&self, zone: usize, order: u8, pfn: u64) -> Option<u64>;
    /// Rotate the free list so that `pfn` (on the list) becomes its head, keeping the cyclic
    /// order (Linux `list_rotate_to_front`).
    fn rotate_to_front(&mut self, zone: usize, order: u8, pfn: u64);
    /// The free block whose first frame is `pfn`, if any (an isolated block is not free).
    fn free_block_at(&self, zone: usize, pfn: u64) -> Option<FreeBlock>;
    /// Take the free block (`pfn`, `order`) off its list for reporting: clears its reported flag
    /// and removes its frames from the zone's free count. The engine checks the watermark first.
    fn isolate(&mut self, zone: usize, pfn: u64, order: u8) -> Result<(), IsolateError>;
    /// Give an isolated block back: merge with free buddies, link at the **tail** of the free
    /// list, do not notify. If `reported` and the block did not merge, set its reported flag.
    /// Returns whether the block merged with a free buddy (the merged block is unreported).
    fn put_back(&mut self, zone: usize, pfn: u64, order: u8, reported: bool) -> bool;
}

/// Why a report failed (the whole batch goes back unreported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The hypervisor answered a heat hint with a failure status (raw 16-bit HV_STATUS).
    #[error("heat hint hypercall failed with HV status {0:#06x}")]
    Hypercall(u16),
    /// The hypervisor answered success without completing any more ranges.
    #[error("heat hint hypercall reported success without progress")]
    NoProgress,
    /// Reporting is disabled (capability or privilege missing, or too many failures).
    #[error("free page reporting is disabled")]
    Disabled,
    /// The batch was malformed (empty, a zero-length extent, or a frame number too large to
    /// encode).
    #[error("malformed report batch")]
    BadBatch,
}

/// The receiving end of a batch: Linux's `page_reporting_dev_info::report` callback.
pub trait ReportSink {
    /// Report one batch. `Ok` marks every extent reported; `Err` returns them all unreported.
    fn report(&mut self, batch: &[Extent]) -> Result<(), ReportError>;
    /// The lowest order this sink currently accepts. The engine reports at
    /// `max(configured order, order_floor())`; the Hyper-V reporter raises it to 9 after
    /// `HV_STATUS_INVALID_PARAMETER`, as hv_balloon overwrites `page_reporting_order`.
    fn order_floor(&self) -> u8 {
        0
    }
}

impl<S: ReportSink + ?Sized> ReportSink for &mut S {
    fn report(&mut self, batch: &[Extent]) -> Result<(), ReportError> {
        (**self).report(batch)
    }
    fn order_floor(&self) -> u8 {
        (**self).order_floor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn extent_blocks_tile_with_maximal_aligned_blocks() {
        let e = Extent {
            pfn: 512,
            pages: 512 + 1024 + 2048 + 3,
        };
        let b: Vec<_> = e.blocks().collect();
        assert_eq!(
            b,
            [
                (512, 9),
                (1024, 10),
                (2048, 10),
                (3072, 10),
                (4096, 1),
                (4098, 0)
            ]
        );
        assert_eq!(b.iter().map(|&(_, o)| 1u64 << o).sum::<u64>(), e.pages);
        assert_eq!(
            Extent::block(1024, 10).blocks().collect::<Vec<_>>(),
            [(1024, 10)]
        );
    }
}
