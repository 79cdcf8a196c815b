//! "Nothing lost": a guest-memory model that checks every discard against live data
//! (feature `sim`).
//!
//! [`GuestMemory`] pairs the reference buddy allocator (the guest's allocator: one
//! [`BuddyAllocator`](crate::BuddyAllocator) per zone, in a [`ZonedAllocator`]) with
//! [`SimHypervisor`] (the host) and models what every frame *holds*:
//!
//! * the guest writes data with [`touch`](GuestMemory::touch): the frame gets a new version
//!   number, the guest remembers it as the frame's checksum, and the host backs the frame
//!   again if a discard had unbacked it (so the hypervisor's backed set grows);
//! * every range the hypervisor discards (its discard log, drained by
//!   [`absorb_discards`](GuestMemory::absorb_discards)) **poisons** its frames: their
//!   contents are gone;
//! * a discarded frame that is allocated at that moment is a
//!   [`Violation::ReportedWhileAllocated`]; live data that no longer matches its checksum when
//!   the guest reads it ([`touch`](GuestMemory::touch), [`verify`](GuestMemory::verify)) is a
//!   [`Violation::DataLost`]. Both name the frame.
//! * A frame that was reported and is allocated again is fresh: the guest has no expectation
//!   of its contents until it writes it.
//!
//! The simulator reuses it as its guest: allocate and free through it, drive a
//! [`ReportingEngine`] + [`HvReporter`] with [`run_reporting`](GuestMemory::run_reporting)
//! (or [`report_batch`](GuestMemory::report_batch) for a batch it got from
//! [`ReportingEngine::poll`] itself), and read [`violations`](GuestMemory::violations).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use hvcall::sim::SimHypervisor;

use crate::buddy::{Allocation, BuddyError, Freed, Watermarks};
use crate::engine::ReportingEngine;
use crate::hyperv::HvReporter;
use crate::types::{Extent, ReportError};
use crate::zone::{AllocMark, ZoneKind, ZoneSpan, ZonedAllocator};

/// Contents of a frame after the host discarded it.
pub const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// A data-loss finding, with the frame number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The hypervisor discarded a frame the guest had allocated.
    ReportedWhileAllocated {
        /// The frame.
        pfn: u64,
    },
    /// Live data changed behind the guest's back.
    DataLost {
        /// The frame.
        pfn: u64,
        /// The version the guest last wrote.
        expected: u64,
        /// What the frame holds.
        found: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReportedWhileAllocated { pfn } => {
                write!(f, "frame {pfn:#x} was discarded while allocated")
            }
            Self::DataLost {
                pfn,
                expected,
                found,
            } => write!(
                f,
                "frame {pfn:#x} lost its data: expected version {expected:#x}, found {found:#x}"
            ),
        }
    }
}

const LIVE: u8 = 1;
const WRITTEN: u8 = 2;

/// Counters of the memory model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestStats {
    /// Frames written.
    pub writes: u64,
    /// Writes that found the frame unbacked (the host backed it again).
    pub refaults: u64,
    /// Frames poisoned by discards.
    pub frames_poisoned: u64,
    /// Frames checked by reads.
    pub frames_verified: u64,
}

/// The guest memory model. See the [module docs](self).
pub struct GuestMemory {
    alloc: ZonedAllocator,
    hv: SimHypervisor,
    /// What each frame holds (version number or [`POISON`]).
    content: Vec<u64>,
    /// The version the guest last wrote to a live frame.
    expected: Vec<u64>,
    flags: Vec<u8>,
    version: u64,
    violations: Vec<Violation>,
    stats: GuestStats,
}

impl fmt::Debug for GuestMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestMemory")
            .field("frames", &self.content.len())
            .field("free_pages", &self.alloc.free_pages())
            .field("backed_frames", &self.hv.backed_frames())
            .field("violations", &self.violations.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl GuestMemory {
    /// A guest of `frames` 4 KiB frames from frame 0, all free, with
    /// [`Watermarks::linux_like`]; the hypervisor backs all of it and offers cold discard.
    pub fn new(frames: u64) -> Result<Self, BuddyError> {
        Self::with_watermarks(frames, Watermarks::linux_like(frames))
    }

    /// Like [`new`](Self::new) with explicit watermarks.
    pub fn with_watermarks(frames: u64, wmark: Watermarks) -> Result<Self, BuddyError> {
        Ok(Self::from_allocator(ZonedAllocator::single(
            0, frames, wmark,
        )?))
    }

    /// A guest whose RAM is cut into `zones` (see [`crate::zone::zone_spans`]), all free, with
    /// Linux's per-zone watermarks. Frames in holes between zones exist for the hypervisor
    /// (backed until discarded) but are never allocated.
    pub fn with_zones(zones: &[ZoneSpan]) -> Result<Self, BuddyError> {
        Ok(Self::from_allocator(ZonedAllocator::new(zones)?))
    }

    fn from_allocator(alloc: ZonedAllocator) -> Self {
        let n = alloc.end_pfn() as usize;
        Self {
            alloc,
            hv: SimHypervisor::new(n as u64),
            content: vec![0; n],
            expected: vec![0; n],
            flags: vec![0; n],
            version: 0,
            violations: Vec::new(),
            stats: GuestStats::default(),
        }
    }

    /// The guest's allocator (the engine's [`FreeMemory`](crate::FreeMemory)).
    pub fn allocator(&self) -> &ZonedAllocator {
        &self.alloc
    }

    /// The guest's allocator, mutable. Allocate and free through
    /// [`alloc`](Self::alloc) / [`free`](Self::free) instead, or the model loses track.
    pub fn allocator_mut(&mut self) -> &mut ZonedAllocator {
        &mut self.alloc
    }

    /// The simulated hypervisor.
    pub fn hypervisor(&self) -> &SimHypervisor {
        &self.hv
    }

    /// The simulated hypervisor, mutable (fault injection).
    pub fn hypervisor_mut(&mut self) -> &mut SimHypervisor {
        &mut self.hv
    }

    /// Counters.
    pub fn stats(&self) -> &GuestStats {
        &self.stats
    }

    /// Every violation found so far.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    fn frames(&self, pfn: u64, order: u8) -> core::ops::Range<usize> {
        let start = pfn as usize;
        start..start + (1usize << order)
    }

    /// Allocate a block; its frames are live but hold no data the guest relies on yet (a
    /// frame that was reported is fresh). If the result has a
    /// [`remainder_order`](Allocation::remainder_order), pass it to
    /// [`ReportingEngine::notify_free`].
    pub fn alloc(&mut self, order: u8) -> Result<Allocation, BuddyError> {
        self.alloc_in(order, AllocMark::None, ZoneKind::Normal)
            .map(|(_, a)| a)
    }

    /// [`alloc`](Self::alloc) through the zonelist: the first zone up to `highest` (highest
    /// first) that passes the watermark check at `mark`. Returns the zone index too.
    pub fn alloc_in(
        &mut self,
        order: u8,
        mark: AllocMark,
        highest: ZoneKind,
    ) -> Result<(usize, Allocation), BuddyError> {
        let (z, a) = self.alloc.allocate_in(order, mark, highest)?;
        self.revive(a.pfn, order);
        Ok((z, a))
    }

    /// [`alloc`](Self::alloc) from zone `zone` only (no watermark check).
    pub fn alloc_from(&mut self, zone: usize, order: u8) -> Result<Allocation, BuddyError> {
        let a = self.alloc.allocate_from(zone, order)?;
        self.revive(a.pfn, order);
        Ok(a)
    }

    fn revive(&mut self, pfn: u64, order: u8) {
        for i in self.frames(pfn, order) {
            self.flags[i] = LIVE;
            self.expected[i] = 0;
        }
    }

    /// Free a block (its data is dead). Returns the merged block: notify the engine with its
    /// order.
    pub fn free(&mut self, pfn: u64, order: u8) -> Result<Freed, BuddyError> {
        let (_, freed) = self.alloc.free(pfn, order)?;
        self.park(pfn, order);
        Ok(freed)
    }

    /// The guest gave up the data of (`pfn`, `order`) but the block stays allocated in the
    /// buddy allocator (a per-CPU free list holds it): its frames are dead. The reporting
    /// engine never sees such a block (it is on no free list).
    pub fn park(&mut self, pfn: u64, order: u8) {
        for i in self.frames(pfn, order) {
            self.flags[i] = 0;
            self.expected[i] = 0;
        }
    }

    /// A parked block is handed out again (an allocation served from a per-CPU list): its
    /// frames are live and fresh.
    pub fn unpark(&mut self, pfn: u64, order: u8) {
        self.revive(pfn, order);
    }

    /// A parked block goes back to the buddy allocator (per-CPU list drained). Returns the
    /// merged block.
    pub fn free_parked(&mut self, pfn: u64, order: u8) -> Result<Freed, BuddyError> {
        self.alloc.free(pfn, order).map(|(_, f)| f)
    }

    /// The guest reads then writes frame `pfn` (which must be allocated): the read checks the
    /// last write is still there; the write stores a new version and backs the frame again if
    /// the host had discarded it. Returns `false` if the frame is not allocated (no write).
    pub fn touch(&mut self, pfn: u64) -> bool {
        let i = pfn as usize;
        if self.flags.get(i).is_none_or(|f| f & LIVE == 0) {
            return false;
        }
        self.check(i);
        if self.hv.guest_write(pfn) {
            self.stats.refaults += 1;
        }
        self.version += 1;
        self.content[i] = self.version;
        self.expected[i] = self.version;
        self.flags[i] |= WRITTEN;
        self.stats.writes += 1;
        true
    }

    fn check(&mut self, i: usize) {
        self.stats.frames_verified += 1;
        if self.flags[i] == LIVE | WRITTEN && self.content[i] != self.expected[i] {
            self.violations.push(Violation::DataLost {
                pfn: i as u64,
                expected: self.expected[i],
                found: self.content[i],
            });
            // Report each loss once.
            self.expected[i] = self.content[i];
        }
    }

    /// Read every live frame and check its data. Returns the number of new violations.
    /// O(frames).
    pub fn verify(&mut self) -> usize {
        let before = self.violations.len();
        for i in 0..self.flags.len() {
            if self.flags[i] & LIVE != 0 {
                self.check(i);
            }
        }
        self.violations.len() - before
    }

    /// Apply the hypervisor's discard log: poison every discarded frame and flag any that is
    /// allocated. Call after every report (the `report_*`/`run_*` helpers do).
    pub fn absorb_discards(&mut self) {
        for d in self.hv.take_discards() {
            for pfn in d.first_pfn..d.first_pfn + d.frame_count {
                let Some(flag) = self.flags.get(pfn as usize).copied() else {
                    continue;
                };
                if flag & LIVE != 0 {
                    self.violations
                        .push(Violation::ReportedWhileAllocated { pfn });
                }
                self.content[pfn as usize] = POISON;
                self.stats.frames_poisoned += 1;
            }
        }
    }

    /// Report one batch (from [`ReportingEngine::poll`]) through `reporter` to the simulated
    /// hypervisor, then absorb the discards.
    pub fn report_batch(
        &mut self,
        reporter: &mut HvReporter,
        batch: &[Extent],
    ) -> Result<(), ReportError> {
        let r = reporter.report(&mut self.hv, batch.iter().copied());
        self.absorb_discards();
        r
    }

    /// Run the engine's due pass at `now` against the simulated hypervisor: every batch is
    /// reported, its discards absorbed, and completed. Also applies a pending disable request
    /// of the reporter (unregistering the engine), as hv_balloon's thread does. Returns the
    /// number of batches.
    pub fn run_reporting(
        &mut self,
        engine: &mut ReportingEngine,
        reporter: &mut HvReporter,
        now: Duration,
    ) -> usize {
        let mut n = 0;
        engine.set_order_floor(reporter.order_floor());
        while let Some(batch) = engine.poll(&mut self.alloc, now) {
            let r = reporter.report(&mut self.hv, batch.iter().copied());
            self.absorb_discards();
            engine.complete(&mut self.alloc, r);
            engine.set_order_floor(reporter.order_floor());
            n += 1;
        }
        if reporter.poll_disable().is_some() {
            engine.unregister(&mut self.alloc);
        }
        n
    }

    /// Run passes at their deadlines until the engine is idle (or `limit` passes). Returns the
    /// virtual time of the last pass.
    pub fn run_until_idle(
        &mut self,
        engine: &mut ReportingEngine,
        reporter: &mut HvReporter,
        mut now: Duration,
        limit: usize,
    ) -> Duration {
        for _ in 0..limit {
            let Some(d) = engine.next_deadline() else {
                break;
            };
            now = now.max(d);
            self.run_reporting(engine, reporter, now);
        }
        now
    }
}
