//! The Linux adapter: kernel services behind the driver core's [`GuestMemory`] trait.
//!
//! Pages are Hyper-V's 4 KiB pages on x86-64 and on 4 KiB arm64 kernels, the only arm64 kernels
//! the module builds for (`kmod/Makefile` refuses others; the C glue checks `PAGE_SIZE` at build
//! time), so page frame numbers pass through unchanged.

use crate::ffi;
use hv_dynmem::os::{AddMemoryError, GuestMemory, MemStats, Pfn};

/// Counters the adapter keeps about what it did to the kernel's memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemCounters {
    /// Blocks taken from the page allocator.
    pub blocks_allocated: u64,
    /// Allocation attempts that found nothing free.
    pub alloc_failures: u64,
    /// Pages currently marked offline (ballooned).
    pub pages_offline: u64,
    /// Pages given back to the kernel.
    pub pages_freed: u64,
}

/// The kernel's memory, as the driver core sees it.
#[derive(Debug, Default)]
pub struct LinuxMemory {
    counters: MemCounters,
    block_pages: u64,
}

impl LinuxMemory {
    /// An adapter; `memory_block_pages` is `memory_block_size_bytes() / 4096`.
    pub fn new(memory_block_pages: u64) -> Self {
        Self {
            counters: MemCounters::default(),
            block_pages: memory_block_pages,
        }
    }

    /// What the adapter did so far.
    pub fn counters(&self) -> MemCounters {
        self.counters
    }
}

impl GuestMemory for LinuxMemory {
    fn stats(&self) -> MemStats {
        let m = ffi::meminfo();
        MemStats {
            available: m.available,
            committed: m.committed,
            total: m.totalram,
        }
    }

    fn alloc_block(&mut self, order: u8) -> Option<Pfn> {
        let pfn = ffi::alloc_block(u32::from(order));
        match pfn {
            Some(_) => self.counters.blocks_allocated += 1,
            None => self.counters.alloc_failures += 1,
        }
        pfn
    }

    fn set_offline(&mut self, pfn: Pfn, count: u64) {
        ffi::set_offline(pfn, count);
        self.counters.pages_offline += count;
    }

    fn free_offline(&mut self, pfn: Pfn, count: u64) {
        ffi::free_offline(pfn, count);
        self.counters.pages_offline = self.counters.pages_offline.saturating_sub(count);
        self.counters.pages_freed += count;
    }

    fn memory_block_pages(&self) -> u64 {
        self.block_pages
    }

    fn add_memory(&mut self, start: Pfn, pages: u64) -> Result<(), AddMemoryError> {
        match ffi::add_memory(start, pages) {
            0 => Ok(()),
            -17 => Err(AddMemoryError::AlreadyExists), // -EEXIST
            -95 | -38 => Err(AddMemoryError::Unsupported), // -EOPNOTSUPP, -ENOSYS
            _ => Err(AddMemoryError::Failed),
        }
    }

    fn online_pages(&mut self, start: Pfn, pages: u64) -> u64 {
        ffi::online_pages(start, pages)
    }
}
