//! What the Dynamic Memory driver needs from its kernel: one small trait.
//!
//! All page numbers and counts are in 4 KiB (Hyper-V) pages. The Linux adapter converts from
//! its `PAGE_SIZE`; the simulator's guest model implements this directly. Time is not here:
//! every driver entry point takes `now` in nanoseconds, and the driver reports its next
//! deadline (see [`crate::driver::Driver::next_deadline`]).

/// A 4 KiB guest frame number.
pub type Pfn = u64;

/// Memory statistics, all in 4 KiB pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStats {
    /// Memory available for new allocations without swapping (Linux `si_mem_available()`).
    pub available: u64,
    /// Committed memory (Linux `vm_memory_committed()`, "Committed_AS").
    pub committed: u64,
    /// Pages managed by the allocator (Linux `totalram_pages()`); shrinks by one for every
    /// page the driver marks offline and grows when memory is onlined.
    pub total: u64,
}

/// Why adding memory failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddMemoryError {
    /// The range overlaps memory the OS already has (Linux `-EEXIST`): the address map rules
    /// out hot-add, so the driver disables hot-add permanently.
    #[error("range overlaps existing memory")]
    AlreadyExists,
    /// Any other failure (out of resources, …): transient, the host may retry later.
    #[error("hot-add failed (transient)")]
    Failed,
    /// The OS cannot hot-add at all (no memory hotplug): permanent.
    #[error("memory hot-add is not supported")]
    Unsupported,
}

/// The kernel services the driver acts through.
///
/// Implementations must never block for long: the Linux module calls the driver from work
/// items and (for unballoon) from the channel callback.
pub trait GuestMemory {
    /// Current memory statistics.
    fn stats(&self) -> MemStats;

    /// Allocates one naturally aligned block of `2^order` pages for the balloon, without trying
    /// hard (no retries, no emergency reserves, no warning). `None` if none is free.
    ///
    /// The driver immediately follows a successful allocation with [`Self::set_offline`].
    fn alloc_block(&mut self, order: u8) -> Option<Pfn>;

    /// Marks `count` pages from `pfn` as ballooned: offline, removed from the managed count
    /// (so [`MemStats::total`] drops by `count`). The pages stay allocated.
    fn set_offline(&mut self, pfn: Pfn, count: u64);

    /// Returns `count` ballooned pages from `pfn` to the OS: clears the offline mark, adds them
    /// back to the managed count and frees them page by page. The driver only ever calls this
    /// for pages it obtained from [`Self::alloc_block`] and marked offline.
    fn free_offline(&mut self, pfn: Pfn, count: u64);

    /// The OS memory block size in pages (hot-add granularity; Linux default 128 MiB = 32768).
    /// Must be a power of two of at least 256 pages (1 MiB).
    fn memory_block_pages(&self) -> u64;

    /// Adds one memory block `[start, start + pages)` to the OS (not yet online).
    fn add_memory(&mut self, start: Pfn, pages: u64) -> Result<(), AddMemoryError>;

    /// Brings `pages` pages from `start`, all inside memory the driver added and all backed by
    /// the host, online. Returns how many were onlined now; pages the OS onlines later are
    /// reported through [`crate::driver::Driver::on_pages_onlined`].
    fn online_pages(&mut self, start: Pfn, pages: u64) -> u64;
}
