//! A small, strict fake OS implementing [`GuestMemory`] for the DM driver's tests.
//!
//! Every frame has a state; the fake records a violation whenever the driver does something a
//! real kernel would not survive (freeing a frame that is not ballooned, onlining a frame that
//! was never added, …). Tests assert the violation list is empty. The simulator's buddy
//! allocator guest is the realistic model; this one is for protocol tests.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::os::{AddMemoryError, GuestMemory, MemStats, Pfn};

/// State of one 4 KiB frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// No memory here.
    Absent,
    /// Free.
    Free,
    /// In use by the guest's workload (or kernel).
    Used,
    /// Allocated for the balloon but not yet marked offline.
    Allocated,
    /// Ballooned: offline, owned by the host.
    Ballooned,
    /// Hot-added, not yet online.
    AddedOffline,
}

const BLOCK: u64 = 512;

/// The fake OS.
#[derive(Clone, Debug)]
pub struct FakeMemory {
    frames: Vec<Frame>,
    block_free: Vec<u16>,
    free: u64,
    used: u64,
    managed: u64,
    block_pages: u64,
    cursor: usize,
    /// Extra committed pages reported on top of the used frames (kernel overhead).
    pub base_committed: u64,
    /// Force `add_memory` to fail with this error.
    pub fail_add_memory: Option<AddMemoryError>,
    /// Online hot-added pages when asked (true) or leave them for a later
    /// [`FakeMemory::online_all`] (false).
    pub online_immediately: bool,
    /// Everything the driver did wrong.
    pub violations: Vec<String>,
}

impl FakeMemory {
    /// `ram_pages` of boot RAM from frame 0, room for frames up to `max_pfn` (hot-add), memory
    /// block size `block_pages`.
    pub fn new(ram_pages: u64, max_pfn: u64, block_pages: u64) -> Self {
        let max = max_pfn.max(ram_pages);
        let mut frames = vec![Frame::Absent; max as usize];
        frames[..ram_pages as usize].fill(Frame::Free);
        let mut block_free = vec![0u16; max.div_ceil(BLOCK) as usize];
        for (b, f) in block_free.iter_mut().enumerate() {
            let s = b as u64 * BLOCK;
            *f = ram_pages.saturating_sub(s).min(BLOCK) as u16;
        }
        Self {
            frames,
            block_free,
            free: ram_pages,
            used: 0,
            managed: ram_pages,
            block_pages,
            cursor: 0,
            base_committed: 0,
            fail_add_memory: None,
            online_immediately: true,
            violations: Vec::new(),
        }
    }

    /// State of a frame (`Absent` beyond the modelled space).
    pub fn frame(&self, pfn: Pfn) -> Frame {
        self.frames
            .get(pfn as usize)
            .copied()
            .unwrap_or(Frame::Absent)
    }

    /// Free frames.
    pub fn free_pages(&self) -> u64 {
        self.free
    }

    /// Frames in the `Used` state.
    pub fn used_pages(&self) -> u64 {
        self.used
    }

    /// Frames currently ballooned.
    pub fn ballooned_pages(&self) -> u64 {
        self.frames
            .iter()
            .filter(|&&f| f == Frame::Ballooned)
            .count() as u64
    }

    fn set(&mut self, pfn: Pfn, to: Frame) {
        let i = pfn as usize;
        let from = self.frames[i];
        if from == Frame::Free {
            self.free -= 1;
            self.block_free[i / BLOCK as usize] -= 1;
        }
        if to == Frame::Free {
            self.free += 1;
            self.block_free[i / BLOCK as usize] += 1;
        }
        if from == Frame::Used {
            self.used -= 1;
        }
        if to == Frame::Used {
            self.used += 1;
        }
        self.frames[i] = to;
    }

    /// The workload takes `n` free frames (lowest first). Returns how many it got.
    pub fn use_pages(&mut self, n: u64) -> u64 {
        let mut got = 0;
        let mut pfn = 0;
        while got < n && (pfn as usize) < self.frames.len() {
            if self.frames[pfn as usize] == Frame::Free {
                self.set(pfn, Frame::Used);
                got += 1;
            }
            pfn += 1;
        }
        got
    }

    /// The workload frees `n` used frames (highest first). Returns how many.
    pub fn release_pages(&mut self, n: u64) -> u64 {
        let mut done = 0;
        let mut pfn = self.frames.len();
        while done < n && pfn > 0 {
            pfn -= 1;
            if self.frames[pfn] == Frame::Used {
                self.set(pfn as u64, Frame::Free);
                done += 1;
            }
        }
        done
    }

    /// Onlines every hot-added frame still offline; returns how many (tell the driver with
    /// `Driver::on_pages_onlined`).
    pub fn online_all(&mut self) -> u64 {
        let mut n = 0;
        for pfn in 0..self.frames.len() as u64 {
            if self.frames[pfn as usize] == Frame::AddedOffline {
                self.set(pfn, Frame::Free);
                self.managed += 1;
                n += 1;
            }
        }
        n
    }

    fn block_is_free(&self, pfn: Pfn, pages: u64) -> bool {
        (pfn..pfn + pages).all(|p| self.frames.get(p as usize) == Some(&Frame::Free))
    }
}

impl GuestMemory for FakeMemory {
    fn stats(&self) -> MemStats {
        MemStats {
            available: self.free,
            committed: self.used + self.base_committed,
            total: self.managed,
        }
    }

    fn alloc_block(&mut self, order: u8) -> Option<Pfn> {
        let pages = 1u64 << order;
        let nblocks = self.block_free.len();
        // Scan memory blocks from the cursor, wrapping once.
        for k in 0..nblocks {
            let b = (self.cursor + k) % nblocks;
            let bf = u64::from(self.block_free[b]);
            if bf < pages.min(BLOCK) {
                continue;
            }
            let base = b as u64 * BLOCK;
            if pages >= BLOCK {
                if base % pages == 0 && self.block_is_free(base, pages) {
                    for p in base..base + pages {
                        self.set(p, Frame::Allocated);
                    }
                    self.cursor = b;
                    return Some(base);
                }
                continue;
            }
            let mut p = base;
            while p < base + BLOCK {
                if self.block_is_free(p, pages) {
                    for q in p..p + pages {
                        self.set(q, Frame::Allocated);
                    }
                    self.cursor = b;
                    return Some(p);
                }
                p += pages;
            }
        }
        None
    }

    fn set_offline(&mut self, pfn: Pfn, count: u64) {
        for p in pfn..pfn + count {
            if self.frame(p) != Frame::Allocated {
                self.violations.push(format!(
                    "set_offline of frame {p:#x} in state {:?}",
                    self.frame(p)
                ));
                continue;
            }
            self.set(p, Frame::Ballooned);
            self.managed -= 1;
        }
    }

    fn free_offline(&mut self, pfn: Pfn, count: u64) {
        for p in pfn..pfn + count {
            if self.frame(p) != Frame::Ballooned {
                self.violations.push(format!(
                    "free_offline of frame {p:#x} in state {:?}",
                    self.frame(p)
                ));
                continue;
            }
            self.set(p, Frame::Free);
            self.managed += 1;
        }
    }

    fn memory_block_pages(&self) -> u64 {
        self.block_pages
    }

    fn add_memory(&mut self, start: Pfn, pages: u64) -> Result<(), AddMemoryError> {
        if let Some(e) = self.fail_add_memory {
            return Err(e);
        }
        if (start..start + pages).any(|p| !matches!(self.frame(p), Frame::Absent)) {
            return Err(AddMemoryError::AlreadyExists);
        }
        if start + pages > self.frames.len() as u64 {
            return Err(AddMemoryError::Failed);
        }
        for p in start..start + pages {
            self.frames[p as usize] = Frame::AddedOffline;
        }
        Ok(())
    }

    fn online_pages(&mut self, start: Pfn, pages: u64) -> u64 {
        if !self.online_immediately {
            return 0;
        }
        let mut n = 0;
        for p in start..start + pages {
            if self.frame(p) != Frame::AddedOffline {
                self.violations.push(format!(
                    "online of frame {p:#x} in state {:?}",
                    self.frame(p)
                ));
                continue;
            }
            self.set(p, Frame::Free);
            self.managed += 1;
            n += 1;
        }
        n
    }
}
