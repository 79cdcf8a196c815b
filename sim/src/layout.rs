//! Where the guest's RAM sits in guest-physical memory, and the zones that makes.
//!
//! On a PC-like VM the RAM below 4 GiB ends at the *low-memory boundary* (the start of the
//! 32-bit MMIO window); the rest of the RAM starts at 4 GiB. Linux cuts it into `ZONE_DMA`
//! (first 16 MiB), `ZONE_DMA32` (the rest below 4 GiB) and `ZONE_NORMAL` (above 4 GiB), see
//! [`hv_reporting::zone`]. The boundary is a scenario setting (`[guest] low_memory`); the
//! defaults per host mode are in `docs/simulator.md` with their sources:
//!
//! * QEMU `pc` (the calibration machine): 3 GiB below 4 GiB once the VM has 3.5 GiB or more;
//! * Hyper-V generation 2 and WSL2: the low MMIO window is the top 128 MiB below 4 GiB, so RAM
//!   below 4 GiB ends at 3968 MiB.
//!
//! In Hyper-V mode only the startup memory is laid out at boot; hot-add space follows the boot
//! RAM (above 4 GiB as soon as the boot RAM reaches the boundary or the VM's maximum exceeds it).

use hv_reporting::zone::{LayoutError, ZoneSpan, zone_spans};
use std::prelude::rust_2024::*;
use std::vec::Vec;

/// First frame at 4 GiB.
pub const FOUR_GIB_PFN: u64 = 1 << 20;
/// The default low-memory boundary of Hyper-V generation 2 VMs and WSL2: 4 GiB − 128 MiB.
pub const HYPERV_LOW_MEMORY: u64 = (4 << 30) - (128 << 20);

/// The RAM layout of a guest, in 4 KiB frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLayout {
    /// RAM runs `(start_pfn, frames)`, ascending.
    pub ram: Vec<(u64, u64)>,
    /// The zones.
    pub zones: Vec<ZoneSpan>,
    /// RAM at or above this frame is offline at boot (hot-add space).
    pub boot_end_pfn: u64,
    /// First frame of the hot-add space (equal to `end_pfn` when there is none).
    pub hot_add_pfn: u64,
    /// One past the last RAM frame.
    pub end_pfn: u64,
}

impl MemoryLayout {
    /// `frames` of RAM (the VM's maximum), of which the first `boot` are present at boot, with
    /// at most `low` frames below 4 GiB.
    pub fn new(frames: u64, boot: u64, low: u64) -> Result<Self, LayoutError> {
        let boot = boot.min(frames);
        let low = low.min(FOUR_GIB_PFN);
        let ram = if frames <= low {
            std::vec![(0, frames)]
        } else {
            let below = boot.min(low);
            std::vec![(0, below), (FOUR_GIB_PFN, frames - below)]
        };
        let zones = zone_spans(&ram)?;
        let (boot_end_pfn, hot_add_pfn) = if ram.len() == 1 {
            (boot, boot)
        } else if boot <= ram[0].1 {
            (boot, FOUR_GIB_PFN)
        } else {
            let e = FOUR_GIB_PFN + (boot - ram[0].1);
            (e, e)
        };
        let end_pfn = ram.last().map_or(0, |&(s, n)| s + n);
        Ok(Self {
            ram,
            zones,
            boot_end_pfn,
            hot_add_pfn: hot_add_pfn.min(end_pfn),
            end_pfn,
        })
    }

    /// One run of `frames` frames from 0, all present at boot (no hole).
    pub fn flat(frames: u64, boot: u64) -> Self {
        Self::new(frames, boot, FOUR_GIB_PFN).expect("a non-empty flat layout")
    }

    /// Whether `pfn` is RAM.
    pub fn is_ram(&self, pfn: u64) -> bool {
        self.ram.iter().any(|&(s, n)| pfn >= s && pfn < s + n)
    }

    /// Frames that are not RAM below `end_pfn` (the MMIO hole).
    pub fn holes(&self) -> Vec<(u64, u64)> {
        self.ram
            .windows(2)
            .map(|w| (w[0].0 + w[0].1, w[1].0 - (w[0].0 + w[0].1)))
            .collect()
    }

    /// RAM frames present at boot.
    pub fn boot_frames(&self) -> u64 {
        self.ram
            .iter()
            .map(|&(s, n)| (s + n).min(self.boot_end_pfn).saturating_sub(s))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MIB: u64 = 256;

    #[test]
    fn qemu_pc_4_gib() {
        let l = MemoryLayout::new(4096 * MIB, 4096 * MIB, 3072 * MIB).unwrap();
        assert_eq!(l.ram, [(0, 3072 * MIB), (FOUR_GIB_PFN, 1024 * MIB)]);
        assert_eq!(l.zones.len(), 3);
        assert_eq!(l.end_pfn, 5120 * MIB);
        assert_eq!(l.boot_end_pfn, l.end_pfn);
        assert_eq!(l.holes(), [(3072 * MIB, 1024 * MIB)]);
        assert_eq!(l.boot_frames(), 4096 * MIB);
        assert!(!l.is_ram(3500 * MIB) && l.is_ram(4200 * MIB));
    }

    #[test]
    fn small_and_hot_add_layouts() {
        let l = MemoryLayout::new(2048 * MIB, 2048 * MIB, HYPERV_LOW_MEMORY / 4096).unwrap();
        assert_eq!(l.ram, [(0, 2048 * MIB)]);
        assert_eq!(l.zones.len(), 2, "no Normal zone");
        // Hyper-V, 2 GiB startup, 8 GiB maximum: hot-add space above 4 GiB.
        let l = MemoryLayout::new(8192 * MIB, 2048 * MIB, HYPERV_LOW_MEMORY / 4096).unwrap();
        assert_eq!(l.ram, [(0, 2048 * MIB), (FOUR_GIB_PFN, 6144 * MIB)]);
        assert_eq!((l.boot_end_pfn, l.hot_add_pfn), (2048 * MIB, FOUR_GIB_PFN));
        assert_eq!(l.boot_frames(), 2048 * MIB);
        // 6 GiB startup: 3968 MiB low, the rest from 4 GiB.
        let l = MemoryLayout::new(8192 * MIB, 6144 * MIB, HYPERV_LOW_MEMORY / 4096).unwrap();
        assert_eq!(l.boot_end_pfn, FOUR_GIB_PFN + (6144 - 3968) * MIB);
        assert_eq!(l.boot_frames(), 6144 * MIB);
    }
}
