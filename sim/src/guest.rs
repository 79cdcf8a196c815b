//! The simulated guest: the reference buddy allocator, anonymous memory of processes, a page
//! cache with LRU reclaim, `drop_caches`, compaction, and balloon/hot-add hooks for the DM
//! driver.
//!
//! Memory is cut into zones ([`super::layout`]): allocations walk the zonelist (Normal, then
//! DMA32, then DMA) with Linux's per-zone watermark check, and small (and THP) blocks pass
//! through per-CPU lists ([`super::pcp`]) on their way in and out of the buddy allocator.
//!
//! Every allocated block has an owner (kernel, a process, a cached file, the balloon, or
//! "offline" for RAM not yet hot-added) recorded on its head frame, so blocks can be migrated
//! by compaction. The guest's memory is the reporting crate's "nothing lost" harness
//! ([`hv_reporting::harness::GuestMemory`]): the reference buddy allocator plus the simulated
//! hypervisor, with a version number per written frame, so any discard of live data is caught
//! with its frame number.

use super::layout::MemoryLayout;
use super::pcp::PerCpuLists;
use hv_reporting::FreeMemory;
use hv_reporting::buddy::BuddyError;
use hv_reporting::harness::GuestMemory as Harness;
use hv_reporting::zone::{AllocMark, DMA_END_PFN, ZoneKind, ZonedAllocator};
use hvcall::sim::SimHypervisor;
use std::collections::{BTreeMap, HashMap};
use std::prelude::rust_2024::*;
use std::string::String;
use std::vec::Vec;

/// Frames per pageblock (order 9, 2 MiB).
pub const PAGEBLOCK: u64 = 512;

/// Who owns an allocated block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    None,
    Kernel,
    Offline,
    Balloon,
    Entity(u32),
}

const O_NONE: u32 = 0;
const O_KERNEL: u32 = 1;
const O_OFFLINE: u32 = 2;
const O_BALLOON: u32 = 3;
const O_BASE: u32 = 4;

fn decode(o: u32) -> Owner {
    match o {
        O_NONE => Owner::None,
        O_KERNEL => Owner::Kernel,
        O_OFFLINE => Owner::Offline,
        O_BALLOON => Owner::Balloon,
        e => Owner::Entity(e - O_BASE),
    }
}

#[derive(Debug, Default)]
struct Entity {
    /// Blocks (pfn, order).
    blocks: Vec<(u64, u8)>,
    pages: u64,
    /// Files: size in pages and last-use stamp.
    size_pages: u64,
    stamp: u64,
    /// Files: pages evicted and not read back yet (the kernel's shadow entries).
    evicted: u64,
    /// Files: reads that found the file cached (two or more: on the active list).
    hits: u32,
    /// Files: dirty (written, not yet written back) since then, ns.
    dirty_since: Option<u64>,
}

/// Counters the guest keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GuestStats {
    /// Frames reclaimed from the page cache by kswapd-like or direct reclaim.
    pub reclaimed_pages: u64,
    /// Frames dropped by `drop_caches` or the cache policy.
    pub dropped_pages: u64,
    /// Frames moved by compaction.
    pub migrated_pages: u64,
    /// Compaction runs.
    pub compactions: u64,
    /// Allocations that found no memory even after reclaim (the step waits and retries).
    pub alloc_stalls: u64,
}

/// The guest.
pub struct Guest {
    /// The allocator and the hypervisor, with the nothing-lost checks.
    mem: Harness,
    owner: Vec<u32>,
    slot: Vec<u32>,
    entities: Vec<Entity>,
    by_name: HashMap<String, u32>,
    lru: BTreeMap<u64, u32>,
    stamp: u64,
    kernel: Vec<(u64, u8)>,
    offline: Vec<(u64, u8)>,
    /// Ballooned blocks: head → (order, frames already given back).
    balloon: BTreeMap<u64, (u8, u64)>,
    anon_order: u8,
    online_pages: u64,
    anon_pages: u64,
    cache_pages: u64,
    kernel_pages: u64,
    balloon_pages: u64,
    /// Freed blocks whose merged order was at or above this are reported to the caller.
    notify_order: u8,
    pending_notify: bool,
    /// Where the RAM sits.
    layout: MemoryLayout,
    /// Per-CPU page lists.
    pcp: PerCpuLists,
    /// The CPU the current operation runs on.
    cpu: u32,
    /// Scratch: blocks a per-CPU list gives back.
    pcp_out: Vec<(u64, u8)>,
    /// Counters.
    pub stats: GuestStats,
    /// Working-set counters the reclaim policies read (refaults, memory stall).
    pub ws: WorkingSet,
    /// Files with dirty pages.
    dirty: Vec<u32>,
}

/// What a reclaim policy reads about the working set: the model of `workingset_refault_file`
/// and of PSI memory `some`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkingSet {
    /// Evicted file pages read again (every eviction counts, including `drop_caches`, which in
    /// Linux leaves no shadow entry: the model counts what was lost, the kernel a part of it).
    pub refault_pages: u64,
    /// Time tasks stalled reading refaulted pages back, ns ([`REFAULT_STALL_NS`] a page).
    pub stall_ns: u64,
}

/// Stall per refaulted 4 KiB page: a read at 400 MB/s.
pub const REFAULT_STALL_NS: u64 = 10_000;

/// Dirty file pages are written back this long after their file was first dirtied (Linux's
/// `dirty_expire_centisecs`, 3000, per inode).
pub const DIRTY_EXPIRE_NS: u64 = 30_000_000_000;

/// Creates the guest. `online` frames are usable at boot (the rest is offline until
/// hot-added); `kernel` frames are allocated and written at boot.
impl Guest {
    /// A guest of `frames` 4 KiB frames in one run from frame 0 (no hole), of which the first
    /// `online` are online at boot and `kernel` are taken by the kernel; 2 CPUs; anonymous
    /// memory is allocated in blocks of `anon_order`. `setup` sets up the host's backing
    /// before the guest writes anything.
    pub fn new(
        frames: u64,
        online: u64,
        kernel: u64,
        anon_order: u8,
        setup: impl FnOnce(&mut SimHypervisor),
    ) -> Self {
        Self::with_layout(
            &MemoryLayout::flat(frames, online),
            kernel,
            0,
            anon_order,
            2,
            setup,
        )
    }

    /// A guest laid out as `layout` with `cpus` CPUs. `kernel` frames are taken at boot:
    /// `kernel_low` of them at the bottom of `ZONE_DMA32` (the kernel image, bounce buffers),
    /// the rest top-down from the end of the boot RAM (memblock's direction).
    pub fn with_layout(
        layout: &MemoryLayout,
        kernel: u64,
        kernel_low: u64,
        anon_order: u8,
        cpus: u32,
        setup: impl FnOnce(&mut SimHypervisor),
    ) -> Self {
        let mut mem =
            Harness::with_zones(&layout.zones).expect("guest size validated by the scenario");
        let n = layout.end_pfn as usize;
        setup(mem.hypervisor_mut());
        // The setup's discards happened before any guest data existed.
        mem.absorb_discards();
        let zones = layout.zones.len();
        let mut g = Self {
            mem,
            owner: std::vec![O_NONE; n],
            slot: std::vec![0; n],
            entities: Vec::new(),
            by_name: HashMap::new(),
            lru: BTreeMap::new(),
            stamp: 0,
            kernel: Vec::new(),
            offline: Vec::new(),
            balloon: BTreeMap::new(),
            anon_order: anon_order.min(10),
            online_pages: layout.boot_frames(),
            anon_pages: 0,
            cache_pages: 0,
            kernel_pages: 0,
            balloon_pages: 0,
            notify_order: 9,
            pending_notify: false,
            layout: layout.clone(),
            pcp: PerCpuLists::new(cpus, zones, anon_order.min(10) == 9),
            cpu: 0,
            pcp_out: Vec::new(),
            stats: GuestStats::default(),
            ws: WorkingSet::default(),
            dirty: Vec::new(),
        };
        g.boot(kernel, kernel_low);
        g
    }

    /// Boot: take every block, then give back what is neither kernel nor offline.
    fn boot(&mut self, kernel: u64, kernel_low: u64) {
        let low_start = self
            .layout
            .ram
            .first()
            .map_or(0, |&(s, _)| s.max(DMA_END_PFN));
        let low = (low_start, low_start + kernel_low);
        // Top-down from the end of the boot RAM.
        let mut high = Vec::new();
        let mut left = kernel.saturating_sub(kernel_low);
        for &(s, n) in self.layout.ram.iter().rev() {
            let e = (s + n).min(self.layout.boot_end_pfn);
            if e <= s || left == 0 {
                continue;
            }
            let take = left.min(e - s);
            high.push((e - take, e));
            left -= take;
        }
        let boot_end = self.layout.boot_end_pfn;
        let class = |p: u64| -> u8 {
            if p >= boot_end {
                2
            } else if (p >= low.0 && p < low.1) || high.iter().any(|&(a, b)| p >= a && p < b) {
                1
            } else {
                0
            }
        };
        let mut all = Vec::new();
        for z in 0..self.mem.allocator().len() {
            for order in (0..=10u8).rev() {
                while let Ok(a) = self.mem.alloc_from(z, order) {
                    all.push((a.pfn, order));
                }
            }
        }
        // Split blocks that straddle a class boundary into single frames (only that block's
        // frames are free while it is split).
        let mut pieces = Vec::with_capacity(all.len());
        for (pfn, order) in all {
            let c = class(pfn);
            if (pfn..pfn + (1 << order)).all(|p| class(p) == c) {
                pieces.push((pfn, order, c));
                continue;
            }
            let z = self.mem.allocator().zone_of(pfn).unwrap_or(0);
            let _ = self.mem.free(pfn, order);
            while let Ok(a) = self.mem.alloc_from(z, 0) {
                pieces.push((a.pfn, 0, class(a.pfn)));
            }
        }
        for (pfn, order, c) in pieces {
            match c {
                0 => {
                    let _ = self.mem.free(pfn, order);
                }
                1 => {
                    self.set_owner(pfn, O_KERNEL, self.kernel.len());
                    self.kernel.push((pfn, order));
                    self.write(pfn, 1 << order);
                    self.kernel_pages += 1 << order;
                }
                _ => {
                    self.set_owner(pfn, O_OFFLINE, self.offline.len());
                    self.offline.push((pfn, order));
                }
            }
        }
        self.update_managed();
    }

    /// Managed pages per zone (online RAM), watermarks, reserves and per-CPU limits.
    fn update_managed(&mut self) {
        let zones = self.mem.allocator().len();
        let mut offline = std::vec![0u64; zones];
        for &(p, o) in &self.offline {
            if let Some(z) = self.mem.allocator().zone_of(p) {
                offline[z] += 1 << o;
            }
        }
        for (z, off) in offline.into_iter().enumerate() {
            let frames = self.mem.allocator().zone(z).nr_frames();
            let a = self.mem.allocator_mut();
            a.set_managed_pages(z, frames - off);
        }
        for z in 0..zones {
            let a = self.mem.allocator();
            let (m, low) = (a.managed_pages(z), a.zone(z).watermarks().low);
            self.pcp.update_zone(z, m, low);
        }
    }

    /// The memory layout.
    pub fn layout(&self) -> &MemoryLayout {
        &self.layout
    }

    /// The per-CPU page lists.
    pub fn pcp(&self) -> &PerCpuLists {
        &self.pcp
    }

    /// Frames on per-CPU lists (free to the guest, invisible to reporting).
    pub fn pcp_pages(&self) -> u64 {
        self.pcp.pages()
    }

    /// The guest's allocator (the reporting engine's `FreeMemory`).
    pub fn buddy(&self) -> &ZonedAllocator {
        self.mem.allocator()
    }

    /// The guest's allocator, mutable (for the reporting engine only: allocate and free
    /// through the guest's own operations).
    pub fn buddy_mut(&mut self) -> &mut ZonedAllocator {
        self.mem.allocator_mut()
    }

    /// The nothing-lost harness (allocator + hypervisor + data versions).
    pub fn harness(&self) -> &Harness {
        &self.mem
    }

    /// The nothing-lost harness, mutable.
    pub fn harness_mut(&mut self) -> &mut Harness {
        &mut self.mem
    }

    /// Allocates through the harness; a split that leaves an unreported remainder at or
    /// above the notify order requests a reporting pass.
    fn alloc_raw(&mut self, order: u8) -> Result<u64, BuddyError> {
        let a = self.mem.alloc(order)?;
        if a.remainder_order.is_some_and(|o| o >= self.notify_order) {
            self.pending_notify = true;
        }
        Ok(a.pfn)
    }

    /// [`Self::alloc_raw`] from zone `zone` only.
    fn alloc_raw_in(&mut self, zone: usize, order: u8) -> Result<u64, BuddyError> {
        let a = self.mem.alloc_from(zone, order)?;
        if a.remainder_order.is_some_and(|o| o >= self.notify_order) {
            self.pending_notify = true;
        }
        Ok(a.pfn)
    }

    /// One block of `order` through the zonelist (Normal → DMA32 → DMA), from the first zone
    /// that passes the watermark check at `mark`; orders the per-CPU lists keep come from the
    /// current CPU's list, refilled with a batch from the buddy allocator when empty.
    fn alloc_page(&mut self, order: u8, mark: AllocMark) -> Option<u64> {
        let cpu = self.cpu;
        for z in (0..self.mem.allocator().len()).rev() {
            if !self
                .mem
                .allocator()
                .watermark_ok(z, order, mark, ZoneKind::Normal)
            {
                continue;
            }
            if !self.pcp.allowed(order) {
                if let Ok(p) = self.alloc_raw_in(z, order) {
                    return Some(p);
                }
                continue;
            }
            if let Some(p) = self.pcp.take(cpu, z, order) {
                self.mem.unpark(p, order);
                return Some(p);
            }
            for _ in 0..self.pcp.refill_count(z, order) {
                let Ok(p) = self.alloc_raw_in(z, order) else {
                    break;
                };
                self.mem.park(p, order);
                self.pcp.add_refilled(cpu, z, p, order);
            }
            if let Some(p) = self.pcp.take(cpu, z, order) {
                self.mem.unpark(p, order);
                return Some(p);
            }
        }
        None
    }

    /// Gives every block on the per-CPU lists back to the buddy allocator (`drain_all_pages`).
    pub fn drain_pcp(&mut self) {
        let mut out = core::mem::take(&mut self.pcp_out);
        self.pcp.drain(None, &mut out);
        self.free_drained(&mut out);
        self.pcp_out = out;
    }

    fn free_drained(&mut self, out: &mut Vec<(u64, u8)>) {
        for (p, o) in out.drain(..) {
            if let Ok(f) = self.mem.free_parked(p, o) {
                if f.order >= self.notify_order {
                    self.pending_notify = true;
                }
            }
        }
    }

    /// The guest writes `pages` frames from `pfn` (each gets fresh data; the host backs it).
    fn write(&mut self, pfn: u64, pages: u64) {
        for p in pfn..pfn + pages {
            self.mem.touch(p);
        }
    }

    /// Compaction's copy: read every source frame (checking its data), write the destination.
    fn migrate_data(&mut self, from: u64, to: u64, pages: u64) {
        for i in 0..pages {
            self.mem.touch(from + i);
            self.mem.touch(to + i);
        }
    }

    /// Sets the order at or above which frees request a reporting pass.
    pub fn set_notify_order(&mut self, order: u8) {
        self.notify_order = order;
    }

    /// Whether a free is waiting to be notified (see [`Self::take_notify`]).
    pub fn has_notify(&self) -> bool {
        self.pending_notify
    }

    /// Whether a free since the last call reached the notify order (Linux's
    /// `page_reporting_notify_free`); clears the flag.
    pub fn take_notify(&mut self) -> bool {
        core::mem::take(&mut self.pending_notify)
    }

    fn set_owner(&mut self, pfn: u64, owner: u32, slot: usize) {
        if let Some(o) = self.owner.get_mut(pfn as usize) {
            *o = owner;
        }
        if let Some(s) = self.slot.get_mut(pfn as usize) {
            *s = slot as u32;
        }
    }

    /// Frees a block of a process or the page cache: through the current CPU's per-CPU list
    /// for the orders it keeps, else straight to the buddy allocator.
    fn free_block(&mut self, pfn: u64, order: u8) {
        let zone = self.mem.allocator().zone_of(pfn);
        match zone {
            Some(z)
                if self.pcp.allowed(order)
                    && self.mem.allocator().allocated_order(pfn) == Some(order) =>
            {
                self.set_owner(pfn, O_NONE, 0);
                self.mem.park(pfn, order);
                let mut out = core::mem::take(&mut self.pcp_out);
                self.pcp.free(self.cpu, z, pfn, order, &mut out);
                self.free_drained(&mut out);
                self.pcp_out = out;
            }
            _ => self.free_direct(pfn, order),
        }
    }

    /// Frees a block straight to the buddy allocator (balloon, hot-add, boot).
    fn free_direct(&mut self, pfn: u64, order: u8) {
        self.set_owner(pfn, O_NONE, 0);
        if let Ok(f) = self.mem.free(pfn, order) {
            if f.order >= self.notify_order {
                self.pending_notify = true;
            }
        }
    }

    /// Online frames (guest RAM the guest can use).
    pub fn online_pages(&self) -> u64 {
        self.online_pages
    }
    /// Anonymous frames of processes.
    pub fn anon_pages(&self) -> u64 {
        self.anon_pages
    }
    /// Page-cache frames.
    pub fn cache_pages(&self) -> u64 {
        self.cache_pages
    }
    /// Kernel frames.
    pub fn kernel_pages(&self) -> u64 {
        self.kernel_pages
    }
    /// Ballooned frames.
    pub fn balloon_pages(&self) -> u64 {
        self.balloon_pages
    }
    /// Free frames (on the free lists, isolated for reporting, or on per-CPU lists).
    pub fn free_pages(&self) -> u64 {
        self.mem.allocator().free_pages() + self.mem.allocator().isolated_pages() + self.pcp.pages()
    }

    fn entity(&mut self, name: &str, is_file: bool) -> u32 {
        let key = if is_file {
            std::format!("file:{name}")
        } else {
            std::format!("proc:{name}")
        };
        if let Some(&e) = self.by_name.get(&key) {
            return e;
        }
        let e = self.entities.len() as u32;
        self.entities.push(Entity::default());
        self.by_name.insert(key, e);
        e
    }

    /// Allocates one block of `order` (or smaller pieces), reclaiming page cache when short.
    /// Returns `None` when nothing could be had even after reclaim.
    fn alloc_block(&mut self, order: u8) -> Option<(u64, u8)> {
        let wm = self.mem.allocator().watermarks();
        // kswapd-like background reclaim: keep free memory above the high watermark.
        if self.mem.allocator().free_pages() < wm.low + (1 << order) && self.cache_pages > 0 {
            let want = (wm.high + (1 << order)).saturating_sub(self.mem.allocator().free_pages());
            self.reclaim_cache(want.max(256), false);
        }
        for o in (0..=order).rev() {
            if let Some(pfn) = self
                .alloc_page(o, AllocMark::Low)
                .or_else(|| self.alloc_page(o, AllocMark::Min))
            {
                return Some((pfn, o));
            }
        }
        // Slow path: reclaim a batch (the zones of the zonelist may be short while the total
        // is not), drain the per-CPU lists as the kernel does after direct reclaim, retry.
        if self.cache_pages > 0 {
            let want = (wm.high + (1 << order)).saturating_sub(self.mem.allocator().free_pages());
            self.reclaim_cache(want.max(256), false);
            self.drain_pcp();
            for o in (0..=order).rev() {
                if let Some(pfn) = self.alloc_page(o, AllocMark::Min) {
                    return Some((pfn, o));
                }
            }
        }
        self.stats.alloc_stalls += 1;
        None
    }

    /// A process allocates `pages` frames of anonymous memory, writing them when `touch`.
    /// Returns how many frames it got (less when memory ran out).
    pub fn alloc_anon(&mut self, process: &str, pages: u64, touch: bool) -> u64 {
        let e = self.entity(process, false);
        self.cpu = e % self.pcp.cpus();
        let mut got = 0;
        while got < pages {
            let left = pages - got;
            let order = (63 - left.leading_zeros()).min(u32::from(self.anon_order)) as u8;
            let Some((pfn, o)) = self.alloc_block(order) else {
                break;
            };
            let slot = self.entities[e as usize].blocks.len();
            self.set_owner(pfn, O_BASE + e, slot);
            let ent = &mut self.entities[e as usize];
            ent.blocks.push((pfn, o));
            ent.pages += 1 << o;
            if touch {
                self.write(pfn, 1 << o);
            }
            self.anon_pages += 1 << o;
            got += 1 << o;
        }
        got
    }

    /// A process frees up to `pages` frames (its most recent allocations first); `None` frees
    /// everything. Returns the frames freed.
    pub fn free_anon(&mut self, process: &str, pages: Option<u64>) -> u64 {
        let Some(&e) = self.by_name.get(&std::format!("proc:{process}")) else {
            return 0;
        };
        self.cpu = e % self.pcp.cpus();
        let limit = pages.unwrap_or(u64::MAX);
        let mut freed = 0;
        while freed < limit {
            let Some(&(pfn, order)) = self.entities[e as usize].blocks.last() else {
                break;
            };
            self.entities[e as usize].blocks.pop();
            self.entities[e as usize].pages -= 1 << order;
            self.anon_pages -= 1 << order;
            self.free_block(pfn, order);
            freed += 1 << order;
        }
        freed
    }

    /// Anonymous frames a process holds.
    pub fn process_pages(&self, process: &str) -> u64 {
        self.by_name
            .get(&std::format!("proc:{process}"))
            .and_then(|&e| self.entities.get(e as usize))
            .map_or(0, |e| e.pages)
    }

    /// Reads frames `[from, from + pages)` of file `name` (of `size_pages` frames) through the
    /// page cache: cached frames are hits, the rest is allocated (order 0, as Linux 6.1 fills
    /// the cache of most file systems) and written. Returns the frames newly cached.
    pub fn read_file(&mut self, name: &str, size_pages: u64, from: u64, pages: u64) -> u64 {
        let e = self.entity(name, true);
        self.cpu = e % self.pcp.cpus();
        self.stamp += 1;
        let stamp = self.stamp;
        {
            let old = self.entities[e as usize].stamp;
            if old != 0 {
                self.lru.remove(&old);
                // A read of pages already cached: they go to the active list.
                let ent = &mut self.entities[e as usize];
                if from < ent.pages {
                    ent.hits = ent.hits.saturating_add(1);
                }
            }
            let ent = &mut self.entities[e as usize];
            ent.stamp = stamp;
            ent.size_pages = ent.size_pages.max(size_pages);
        }
        self.lru.insert(stamp, e);
        // The cache holds a prefix of the file (eviction trims from the end): the frames in it
        // are counted, their places in the file are not. `pages + evicted` frames of the file
        // were read before. A slice that starts at or beyond them reads the file for the first
        // time (a file read in slices while reclaim evicts its earlier slices): it caches only
        // what it reads, the evicted frames behind it are not read back (no refaults), as the
        // kernel evicts a stream's oldest pages and the stream goes on reading new ones.
        let ent = &self.entities[e as usize];
        let read_before = ent.pages + ent.evicted;
        let end = (from + pages).min(ent.size_pages);
        let first_read = ent.evicted > 0 && from >= read_before;
        let end = if first_read {
            ent.pages + end.saturating_sub(read_before)
        } else {
            end
        };
        let mut added = 0;
        while self.entities[e as usize].pages < end {
            let Some((pfn, o)) = self.alloc_block(0) else {
                break;
            };
            let slot = self.entities[e as usize].blocks.len();
            self.set_owner(pfn, O_BASE + e, slot);
            let ent = &mut self.entities[e as usize];
            ent.blocks.push((pfn, o));
            ent.pages += 1 << o;
            self.write(pfn, 1 << o);
            self.cache_pages += 1 << o;
            added += 1 << o;
        }
        let ent = &mut self.entities[e as usize];
        let refaults = if first_read {
            0
        } else {
            added.min(ent.evicted)
        };
        ent.evicted -= refaults;
        self.ws.refault_pages += refaults;
        self.ws.stall_ns += refaults * REFAULT_STALL_NS;
        added
    }

    /// A process writes frames `[from, from + pages)` of the new file `name` (of
    /// `size_pages` frames) at `now`: cached as [`Self::read_file`] caches them, and dirty
    /// until written back ([`Self::writeback`], [`Self::sync`]). Returns the frames newly
    /// cached.
    pub fn write_file(
        &mut self,
        name: &str,
        size_pages: u64,
        from: u64,
        pages: u64,
        now: u64,
    ) -> u64 {
        let added = self.read_file(name, size_pages, from, pages);
        let e = self.entity(name, true);
        let ent = &mut self.entities[e as usize];
        if ent.dirty_since.is_none() {
            ent.dirty_since = Some(now);
            self.dirty.push(e);
        }
        added
    }

    /// The flusher: files dirty for [`DIRTY_EXPIRE_NS`] at `now` are written back (clean).
    pub fn writeback(&mut self, now: u64) {
        if self.dirty.is_empty() {
            return;
        }
        let entities = &mut self.entities;
        self.dirty.retain(|&e| {
            let ent = &mut entities[e as usize];
            let expired = ent
                .dirty_since
                .is_none_or(|t| now.saturating_sub(t) >= DIRTY_EXPIRE_NS);
            if expired {
                ent.dirty_since = None;
            }
            !expired
        });
    }

    /// `sync`: every dirty file is written back.
    pub fn sync(&mut self) {
        for e in core::mem::take(&mut self.dirty) {
            self.entities[e as usize].dirty_since = None;
        }
    }

    /// Page-cache frames not yet written back.
    pub fn dirty_pages(&self) -> u64 {
        self.dirty
            .iter()
            .map(|&e| self.entities[e as usize].pages)
            .sum()
    }

    /// The least recently used file reclaim may take (not dirty), with its LRU stamp.
    fn lru_clean(&self) -> Option<(u64, u32)> {
        self.lru
            .iter()
            .find(|&(_, &e)| self.entities[e as usize].dirty_since.is_none())
            .map(|(&s, &e)| (s, e))
    }

    /// Frees up to `pages` frames of page cache, least recently used files first (dirty files
    /// are skipped: reclaim and `drop_caches` take clean pages only).
    /// `drop` counts them as dropped (drop_caches / cache policy) instead of reclaimed.
    pub fn reclaim_cache(&mut self, pages: u64, drop: bool) -> u64 {
        let mut freed = 0;
        while freed < pages {
            let Some((stamp, e)) = self.lru_clean() else {
                break;
            };
            loop {
                if freed >= pages {
                    break;
                }
                let Some(&(pfn, order)) = self.entities[e as usize].blocks.last() else {
                    self.lru.remove(&stamp);
                    self.entities[e as usize].stamp = 0;
                    break;
                };
                self.entities[e as usize].blocks.pop();
                self.entities[e as usize].pages -= 1 << order;
                self.entities[e as usize].evicted += 1 << order;
                self.cache_pages -= 1 << order;
                self.free_block(pfn, order);
                freed += 1 << order;
            }
            if self.entities[e as usize].blocks.is_empty() && self.entities[e as usize].stamp != 0 {
                self.lru.remove(&stamp);
                self.entities[e as usize].stamp = 0;
            }
        }
        if drop {
            self.stats.dropped_pages += freed;
        } else {
            self.stats.reclaimed_pages += freed;
        }
        freed
    }

    /// `drop_caches`: frees the whole page cache.
    pub fn drop_caches(&mut self) -> u64 {
        self.cpu = 0;
        self.reclaim_cache(u64::MAX, true)
    }

    /// Compaction: empties sparsely used pageblocks by moving their movable blocks (anonymous
    /// memory and page cache) into holes elsewhere, so whole 2 MiB blocks become free.
    /// Stops when only whole pageblocks are left to allocate from. Returns frames moved.
    pub fn compact(&mut self) -> u64 {
        self.stats.compactions += 1;
        // A block on a per-CPU list would pin its pageblock: the model drains them first.
        self.drain_pcp();
        let frames = self.owner.len() as u64;
        // Candidate pageblocks: partly free, only movable blocks in use; emptiest first.
        let mut cands: Vec<(u64, u64)> = Vec::new();
        let mut pb = 0;
        while pb + PAGEBLOCK <= frames {
            if !self.layout.is_ram(pb) {
                pb += PAGEBLOCK;
                continue;
            }
            if let Some((used, movable_only)) = self.pageblock_usage(pb) {
                if movable_only && used > 0 && used <= PAGEBLOCK / 2 {
                    cands.push((used, pb));
                }
            }
            pb += PAGEBLOCK;
        }
        cands.sort_unstable();
        let mut moved = 0;
        'blocks: for (_, pb) in cands {
            // Is there room outside whole pageblocks for what this block holds?
            let small_free: u64 = (0..9u8)
                .map(|o| self.mem.allocator().nr_free_blocks(o) << o)
                .sum();
            let (used, movable_only) = match self.pageblock_usage(pb) {
                Some(u) => u,
                None => continue,
            };
            if !movable_only || used == 0 || used > PAGEBLOCK / 2 {
                continue;
            }
            let inside_free = PAGEBLOCK - used;
            let zone = self.mem.allocator().zone_of(pb).unwrap_or(0);
            if small_free.saturating_sub(inside_free)
                < used + self.mem.allocator().watermarks().low.min(4096)
            {
                break;
            }
            // Isolate the free blocks inside so nothing lands here.
            let mut isolated = Vec::new();
            let mut used_blocks = Vec::new();
            let mut p = pb;
            while p < pb + PAGEBLOCK {
                if let Some(fb) = self.mem.allocator().free_block_at(zone, p) {
                    if self.mem.allocator_mut().isolate(zone, p, fb.order).is_ok() {
                        isolated.push((p, fb.order));
                    }
                    p += 1 << fb.order;
                } else if let Some(o) = self.mem.allocator().allocated_order(p) {
                    used_blocks.push((p, o));
                    p += 1 << o;
                } else if let Some(o) = self.mem.allocator().isolated_order(p) {
                    // Being reported right now: leave this pageblock alone.
                    let _ = o;
                    for (q, qo) in isolated {
                        self.mem.allocator_mut().put_back(zone, q, qo, false);
                    }
                    continue 'blocks;
                } else {
                    p += 1;
                }
            }
            for (from, order) in used_blocks {
                let Ok(to) = self.alloc_raw_in(zone, order) else {
                    break;
                };
                let owner = self.owner.get(from as usize).copied().unwrap_or(O_NONE);
                let slot = self.slot.get(from as usize).copied().unwrap_or(0) as usize;
                let Owner::Entity(e) = decode(owner) else {
                    let _ = self.mem.free(to, order);
                    continue;
                };
                self.migrate_data(from, to, 1 << order);
                if let Some(b) = self
                    .entities
                    .get_mut(e as usize)
                    .and_then(|en| en.blocks.get_mut(slot))
                {
                    *b = (to, order);
                }
                self.set_owner(to, owner, slot);
                self.set_owner(from, O_NONE, 0);
                if let Ok(f) = self.mem.free(from, order) {
                    if self
                        .mem
                        .allocator_mut()
                        .isolate(zone, f.pfn, f.order)
                        .is_ok()
                    {
                        isolated.push((f.pfn, f.order));
                    }
                }
                moved += 1 << order;
            }
            for (q, qo) in isolated {
                self.mem.allocator_mut().put_back(zone, q, qo, false);
            }
            if let Some(fb) = self
                .mem
                .allocator()
                .free_block(pb & !1023)
                .or_else(|| self.mem.allocator().free_block(pb))
            {
                if fb.order >= self.notify_order {
                    self.pending_notify = true;
                }
            }
        }
        self.stats.migrated_pages += moved;
        moved
    }

    /// (used frames, whether all used blocks are movable) of the pageblock at `pb`, or `None`
    /// if it lies inside a free block of order ≥ 9.
    fn pageblock_usage(&self, pb: u64) -> Option<(u64, bool)> {
        if self
            .mem
            .allocator()
            .free_block(pb)
            .is_some_and(|f| f.order >= 9)
            || self
                .mem
                .allocator()
                .free_block(pb & !1023)
                .is_some_and(|f| f.order >= 10)
        {
            return None;
        }
        let mut used = 0;
        let mut movable = true;
        let mut p = pb;
        while p < pb + PAGEBLOCK {
            if let Some(fb) = self.mem.allocator().free_block(p) {
                p += 1 << fb.order;
            } else if let Some(o) = self
                .mem
                .allocator()
                .allocated_order(p)
                .or_else(|| self.mem.allocator().isolated_order(p))
            {
                let owner = decode(self.owner.get(p as usize).copied().unwrap_or(O_NONE));
                if !matches!(owner, Owner::Entity(_)) {
                    movable = false;
                }
                used += 1 << o;
                p += 1 << o;
            } else {
                p += 1;
            }
        }
        Some((used, movable))
    }

    /// Balloon: take one block of `order` out of the guest (for the DM driver's
    /// `alloc_block`). No cache reclaim: Linux's balloon allocates without retrying.
    pub fn balloon_alloc(&mut self, order: u8) -> Option<u64> {
        let wm = self.mem.allocator().watermarks();
        if self.mem.allocator().free_pages() < wm.high + (1 << order) {
            return None;
        }
        let pfn = self.alloc_raw(order).ok()?;
        self.set_owner(pfn, O_BALLOON, 0);
        self.balloon.insert(pfn, (order, 0));
        Some(pfn)
    }

    /// Balloon: the driver marked `count` frames from `pfn` offline (given to the host).
    pub fn balloon_offline(&mut self, count: u64) {
        self.balloon_pages += count;
        self.online_pages = self.online_pages.saturating_sub(count);
    }

    /// The ballooned block `(head, order)` containing `pfn`, if any.
    fn balloon_block_of(&self, pfn: u64) -> Option<(u64, u8)> {
        (0..=10u8).find_map(|o| {
            let head = pfn & !((1u64 << o) - 1);
            self.balloon
                .get(&head)
                .filter(|(bo, _)| *bo == o)
                .map(|_| (head, o))
        })
    }

    /// Balloon: the host gave back `pages` frames from `pfn`. A block is freed to the allocator
    /// once all its frames are back. Returns the frames that were not ballooned (0 if all
    /// were); those are left alone.
    pub fn balloon_free(&mut self, pfn: u64, pages: u64) -> u64 {
        let end = pfn + pages;
        let mut p = pfn;
        let mut stray = 0;
        while p < end {
            let Some((head, order)) = self.balloon_block_of(p) else {
                stray += 1;
                p += 1;
                continue;
            };
            let n = (head + (1 << order)).min(end) - p;
            let entry = self.balloon.get_mut(&head).map(|e| {
                e.1 += n;
                e.1
            });
            self.balloon_pages = self.balloon_pages.saturating_sub(n);
            self.online_pages += n;
            if entry.is_some_and(|back| back >= 1 << order) {
                self.balloon.remove(&head);
                self.free_direct(head, order);
            }
            p += n;
        }
        stray
    }

    /// Hot-add: brings up to `pages` offline frames starting at `pfn` online. Returns the
    /// frames onlined.
    pub fn online(&mut self, pfn: u64, pages: u64) -> u64 {
        let mut done = 0;
        let mut keep = Vec::with_capacity(self.offline.len());
        for (p, o) in core::mem::take(&mut self.offline) {
            if p >= pfn && p + (1 << o) <= pfn + pages {
                self.online_pages += 1 << o;
                done += 1 << o;
                self.free_direct(p, o);
            } else {
                keep.push((p, o));
            }
        }
        for (i, &(p, _)) in keep.iter().enumerate() {
            self.set_owner(p, O_OFFLINE, i);
        }
        self.offline = keep;
        self.update_managed();
        done
    }

    /// Frames not yet online (hot-add space).
    pub fn offline_pages(&self) -> u64 {
        self.offline.iter().map(|&(_, o)| 1u64 << o).sum()
    }
}

impl Guest {
    /// `memory.reclaim`'s order: the inactive file list (files not read again while cached)
    /// least recently used first, then the rest as [`Self::reclaim_cache`] takes it. Counts as
    /// dropped. Returns the frames freed.
    pub fn reclaim_inactive_first(&mut self, pages: u64) -> u64 {
        let inactive: Vec<(u64, u32)> = self
            .lru
            .iter()
            .filter(|&(_, &e)| {
                self.entities
                    .get(e as usize)
                    .is_some_and(|x| x.hits == 0 && x.dirty_since.is_none())
            })
            .map(|(&st, &e)| (st, e))
            .collect();
        let mut freed = 0;
        for (stamp, e) in inactive {
            while freed < pages {
                let Some(&(pfn, order)) = self.entities[e as usize].blocks.last() else {
                    break;
                };
                let ent = &mut self.entities[e as usize];
                ent.blocks.pop();
                ent.pages -= 1 << order;
                ent.evicted += 1 << order;
                self.cache_pages -= 1 << order;
                self.free_block(pfn, order);
                freed += 1 << order;
            }
            if self.entities[e as usize].blocks.is_empty() {
                self.lru.remove(&stamp);
                self.entities[e as usize].stamp = 0;
            }
            if freed >= pages {
                break;
            }
        }
        self.stats.dropped_pages += freed;
        if freed < pages {
            freed += self.reclaim_cache(pages - freed, true);
        }
        freed
    }

    /// Page-cache frames of files read again while cached (the active file list).
    pub fn active_file_pages(&self) -> u64 {
        self.lru
            .values()
            .filter_map(|&e| self.entities.get(e as usize))
            .filter(|e| e.hits > 0)
            .map(|e| e.pages)
            .sum()
    }

    /// What a reclaim policy samples at `now` with `busy_ns` of CPU busy time (one CPU).
    pub fn reclaim_sample(&self, now: u64, busy_ns: u64) -> hv_reclaim::Sample {
        let page = hv_reclaim::PAGE;
        let active = self.active_file_pages();
        hv_reclaim::Sample {
            now_ns: now,
            mem_total: self.online_pages * page,
            mem_free: self.free_pages() * page,
            file: self.cache_pages * page,
            active_file: active * page,
            inactive_file: (self.cache_pages - active) * page,
            refault_pages: self.ws.refault_pages,
            psi_some_total_us: self.ws.stall_ns / 1000,
            psi_some_avg10: 0,
            cpu_busy_ns: busy_ns,
            cpus: 1,
            cold_file: None,
            // The model is a classic two-list LRU; it does not count scanned-and-kept pages.
            lru_gen: false,
            kept_pages: 0,
            // The model's reclaim costs no CPU.
            own_cpu_ns: 0,
        }
    }
}

/// The reclaim policies (`hv-reclaim`) act on the guest model through this: reclaim by a
/// policy counts as dropped cache, as `drop_caches` and `memory.reclaim` writes do; a reclaim
/// with `swappiness=` takes the inactive list first, as `memory.reclaim` does. It takes no
/// time in the model (time limits never run out).
impl hv_reclaim::CacheControl for Guest {
    fn reclaim(&mut self, bytes: u64, swappiness: Option<u8>, _limit: u64) -> hv_reclaim::Outcome {
        let want = bytes / hv_reclaim::PAGE;
        let freed = match swappiness {
            // WSL's 2024 thread (no `swappiness=`) is modelled as it always was: whole LRU.
            None => Guest::reclaim_cache(self, want, true),
            Some(_) => self.reclaim_inactive_first(want),
        };
        hv_reclaim::Outcome {
            freed: freed * hv_reclaim::PAGE,
            elapsed_ns: 0,
            error: (freed < want).then_some(hv_reclaim::ActError::Short),
        }
    }
    fn drop_caches(&mut self, _level: u8) -> hv_reclaim::Outcome {
        hv_reclaim::Outcome {
            freed: Guest::drop_caches(self) * hv_reclaim::PAGE,
            ..hv_reclaim::Outcome::default()
        }
    }
    fn compact(&mut self) -> hv_reclaim::Outcome {
        Guest::compact(self);
        hv_reclaim::Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 256 MiB guest, all online, 16 MiB of kernel memory, fully backed.
    fn guest(anon_order: u8) -> Guest {
        Guest::new(65_536, 65_536, 4096, anon_order, |_| {})
    }

    fn accounted(g: &Guest) -> u64 {
        g.anon_pages()
            + g.cache_pages()
            + g.kernel_pages()
            + g.free_pages()
            + g.balloon_pages()
            + g.offline_pages()
    }

    #[test]
    fn anonymous_memory_and_page_cache_are_accounted() {
        let mut g = guest(9);
        assert_eq!(g.kernel_pages(), 4096);
        assert_eq!(g.alloc_anon("a", 10_000, true), 10_000);
        assert_eq!(g.process_pages("a"), 10_000);
        // A re-read of cached data is a hit: nothing new is cached.
        assert_eq!(g.read_file("f", 2000, 0, 2000), 2000);
        assert_eq!(g.read_file("f", 2000, 0, 2000), 0);
        assert_eq!(accounted(&g), 65_536);
        // Most recent blocks first, whole blocks: 16 + 256 + 512 + 512 frames.
        assert_eq!(g.free_anon("a", Some(1000)), 1296);
        assert_eq!(g.free_anon("a", None), 10_000 - 1296);
        assert_eq!(g.drop_caches(), 2000);
        assert_eq!(g.free_pages(), 65_536 - 4096);
        assert!(g.harness().violations().is_empty());
        g.buddy().check_invariants().expect("allocator");
    }

    #[test]
    fn pressure_reclaims_the_least_recently_used_cache() {
        let mut g = guest(0);
        g.read_file("old", 20_000, 0, 20_000);
        g.read_file("new", 20_000, 0, 20_000);
        // Touch "old" again: "new" is now the least recently used file.
        g.read_file("old", 20_000, 0, 20_000);
        let got = g.alloc_anon("big", 30_000, true);
        assert_eq!(got, 30_000);
        assert!(g.stats.reclaimed_pages > 0);
        // "new" lost pages first (eviction trims the LRU file first).
        assert!(g.read_file("old", 20_000, 0, 20_000) < g.read_file("new", 20_000, 0, 20_000));
        assert!(g.harness().violations().is_empty());
    }

    #[test]
    fn a_stream_read_while_reclaim_runs_does_not_refault() {
        let mut g = guest(0);
        // A 4000-frame file read in slices of 1000; 300 of its cached frames are reclaimed
        // after the first slice: the stream goes on with new frames, nothing is read back.
        assert_eq!(g.read_file("f", 4000, 0, 1000), 1000);
        assert_eq!(g.reclaim_inactive_first(300), 300);
        assert_eq!(g.read_file("f", 4000, 1000, 1000), 1000);
        assert_eq!(g.reclaim_inactive_first(200), 200);
        assert_eq!(g.read_file("f", 4000, 2000, 2000), 2000);
        assert_eq!(g.ws.refault_pages, 0);
        assert_eq!(g.cache_pages(), 3500);
        // Read whole again: the 500 evicted frames are read back, as refaults.
        assert_eq!(g.read_file("f", 4000, 0, 4000), 500);
        assert_eq!(g.ws.refault_pages, 500);
        assert_eq!(g.cache_pages(), 4000);
        assert!(g.harness().violations().is_empty());
    }

    #[test]
    fn dirty_files_are_not_reclaimed_until_written_back() {
        let s = 1_000_000_000;
        let mut g = guest(0);
        g.read_file("src", 1000, 0, 1000);
        assert_eq!(g.write_file("obj", 2000, 0, 1000, 10 * s), 1000);
        assert_eq!(g.write_file("obj", 2000, 1000, 1000, 20 * s), 1000);
        assert_eq!(g.dirty_pages(), 2000);
        // Reclaim and drop_caches take clean pages only.
        assert_eq!(g.reclaim_inactive_first(3000), 1000);
        assert_eq!(g.drop_caches(), 0);
        // Written back 30 s after the file was first dirtied (per file, as Linux's inodes).
        g.writeback(39 * s);
        assert_eq!(g.dirty_pages(), 2000);
        g.writeback(40 * s);
        assert_eq!(g.dirty_pages(), 0);
        assert_eq!(g.drop_caches(), 2000);
        // `sync` cleans at once.
        g.write_file("obj2", 500, 0, 500, 50 * s);
        assert_eq!(g.drop_caches(), 0);
        g.sync();
        assert_eq!(g.drop_caches(), 500);
        assert_eq!(g.ws.refault_pages, 0);
        assert!(g.harness().violations().is_empty());
    }

    #[test]
    fn compaction_empties_sparse_pageblocks() {
        let mut g = guest(0);
        // Interleave anon and cache page by page, then free the anon: every pageblock is left
        // half used by cache.
        for i in 0..24_000u64 {
            g.alloc_anon("a", 1, true);
            g.read_file(&std::format!("f{}", i % 8), 3000, i / 8, 1);
        }
        assert_eq!(g.stats.reclaimed_pages, 0, "no pressure in this test");
        g.free_anon("a", None);
        let whole = |g: &Guest| {
            (9..=10u8)
                .map(|o| g.buddy().nr_free_blocks(o) << o)
                .sum::<u64>()
        };
        let before = whole(&g);
        let moved = g.compact();
        assert!(moved > 0);
        assert!(whole(&g) > before + 4096, "{} -> {}", before, whole(&g));
        // Every migrated frame's data was read back intact.
        g.harness_mut().verify();
        assert!(
            g.harness().violations().is_empty(),
            "{:?}",
            g.harness().violations()
        );
        g.buddy().check_invariants().expect("allocator");
    }

    #[test]
    fn balloon_partial_give_back_frees_a_block_once_complete() {
        let mut g = guest(9);
        let pfn = g.balloon_alloc(9).expect("2 MiB");
        g.balloon_offline(512);
        let online = g.online_pages();
        assert_eq!(g.balloon_free(pfn, 100), 0);
        assert_eq!(g.balloon_pages(), 412);
        assert_eq!(
            g.buddy().allocated_order(pfn),
            Some(9),
            "still held until complete"
        );
        assert_eq!(g.balloon_free(pfn + 100, 412), 0);
        assert_eq!(g.balloon_pages(), 0);
        assert_eq!(g.online_pages(), online + 512);
        assert_eq!(g.buddy().allocated_order(pfn), None);
        // Frames never ballooned are refused and counted.
        assert_eq!(g.balloon_free(pfn, 4), 4);
    }

    #[test]
    fn allocations_prefer_normal_and_frees_leave_blocks_on_per_cpu_lists() {
        // 4 GiB laid out as QEMU `pc` does: 3 GiB below 4 GiB, 1 GiB above.
        let l = MemoryLayout::new(1 << 20, 1 << 20, 3 << 18).unwrap();
        let mut g = Guest::with_layout(&l, 16_384, 0, 9, 2, |_| {});
        assert_eq!(g.buddy().len(), 3);
        // Boot memory is taken top-down: from the top of Normal.
        assert_eq!(g.buddy().zone(2).free_pages(), (1 << 18) - 16_384);
        // 512 MiB fits in Normal; 1 GiB more spills into DMA32 once Normal is at its low
        // watermark.
        assert_eq!(g.alloc_anon("a", 1 << 17, true), 1 << 17);
        assert_eq!(g.buddy().zone(1).free_pages(), (3 << 18) - 4096);
        assert_eq!(g.alloc_anon("a", 1 << 18, true), 1 << 18);
        let n = g.buddy().zone(2);
        assert!(
            n.free_pages() <= n.watermarks().low + 1024,
            "Normal drained to its low mark"
        );
        assert!(g.buddy().zone(1).free_pages() < (3 << 18) - 4096 - 100_000);
        g.free_anon("a", None);
        // DMA32's per-CPU high (its low watermark over 2 CPUs) holds up to two 2 MiB blocks
        // (bulk frees grow while nothing is allocated, so how many stay depends on the count);
        // Normal's is below 512 pages, so every THP free there gives one block back: one stays
        // (the spare of the allocation's last refill of two).
        let (high, batch) = g.pcp().limits(1);
        assert!(high > 1024 && high < 1536, "high {high}");
        assert_eq!(batch, 63);
        assert!(g.pcp().limits(2).0 < 512);
        assert_eq!(g.pcp().zone_pages(2), 512);
        assert!(g.pcp().zone_pages(1) < high);
        assert_eq!(accounted(&g), 1 << 20);
        g.buddy().check_invariants().expect("allocator");
        assert!(g.harness().violations().is_empty());
        // Draining gives them back.
        g.drain_pcp();
        assert_eq!(g.pcp_pages(), 0);
        assert_eq!(g.free_pages(), (1 << 20) - 16_384);
    }

    #[test]
    fn hot_add_onlines_offline_memory() {
        let mut g = Guest::new(65_536, 32_768, 1024, 9, |_| {});
        assert_eq!(g.online_pages(), 32_768);
        assert_eq!(g.offline_pages(), 32_768);
        assert_eq!(accounted(&g), 65_536);
        assert_eq!(g.online(32_768, 16_384), 16_384);
        assert_eq!(g.online_pages(), 49_152);
        assert_eq!(g.online(32_768, 16_384), 0, "already online");
        assert_eq!(accounted(&g), 65_536);
        g.buddy().check_invariants().expect("allocator");
    }
}
