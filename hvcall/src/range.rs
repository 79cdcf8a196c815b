//! `HV_GPA_PAGE_RANGE`: one 64-bit guest physical range with three views (fact sheet D.5,
//! dm-protocol.md §7.4).
//!
//! | view | bits | field |
//! |---|---|---|
//! | raw | 63:0 | the whole qword |
//! | 4 KiB | 10:0 | `additional_pages` (count − 1) |
//! | 4 KiB | 11 | `largepage` |
//! | 4 KiB | 63:12 | `basepfn` (4 KiB frame number) |
//! | large | 11:0 | (additional_pages + largepage, as above) |
//! | large | 12 | `page_size`: 0 = 2 MiB, 1 = 1 GiB |
//! | large | 20:13 | `reserved1` (must be 0) |
//! | large | 63:21 | `base_large_pfn` = GPA >> 21 (2 MiB units, also for 1 GiB pages) |
//!
//! The 1 GiB form is **UNVERIFIED**: Linux never emits it; that the base is still GPA >> 21 and
//! must be 1 GiB aligned is our reading of the union (fact sheet D.5).

use core::fmt;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Number of 4 KiB frames in the 2^52-frame (2^64-byte) guest physical space.
pub const PFN_LIMIT: u64 = 1 << 52;

/// Largest number of units (4 KiB, 2 MiB or 1 GiB) one range can hold: the 11-bit
/// `additional_pages` field + 1 (`HV_GPA_PAGE_RANGE_MAX_PAGES`, fact sheet D.5).
#[doc(alias = "HV_GPA_PAGE_RANGE_MAX_PAGES")]
#[doc(alias = "HV_MAX_FLUSH_PAGES")]
pub const MAX_UNITS_PER_RANGE: u64 = 2048;

/// 4 KiB frames in a 2 MiB page.
pub const FRAMES_PER_2M: u64 = 512;
/// 4 KiB frames in a 1 GiB page.
pub const FRAMES_PER_1G: u64 = 1 << 18;

/// The unit a [`GpaPageRange`] counts in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageUnit {
    /// 4 KiB frames (`largepage` = 0).
    Size4K,
    /// 2 MiB pages (`largepage` = 1, `page_size` = 0).
    Size2M,
    /// 1 GiB pages (`largepage` = 1, `page_size` = 1) — semantics **UNVERIFIED**.
    Size1G,
}

impl PageUnit {
    /// 4 KiB frames per unit (1, 512 or 262144). Also the required base alignment in frames.
    pub const fn frames(self) -> u64 {
        match self {
            Self::Size4K => 1,
            Self::Size2M => FRAMES_PER_2M,
            Self::Size1G => FRAMES_PER_1G,
        }
    }
}

/// A [`GpaPageRange`] could not be built or decoded.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GpaRangeError {
    /// A range holds 1..=2048 units.
    #[error("a GPA page range holds 1..=2048 units, not {units}")]
    BadUnitCount {
        /// The requested unit count.
        units: u64,
    },
    /// A buddy block too large for one range (more than 2048 × 2 MiB, order > 20).
    #[error("a block of order {order} needs more than 2048 units (largest order is 20)")]
    BadOrder {
        /// The block order.
        order: u32,
    },
    /// The base frame is not aligned to the unit.
    #[error("base frame {first_pfn:#x} is not aligned to the {unit:?} unit ({} frames)", unit.frames())]
    Misaligned {
        /// First 4 KiB frame.
        first_pfn: u64,
        /// Unit asked for.
        unit: PageUnit,
    },
    /// The range would reach past the 2^52-frame guest physical space.
    #[error(
        "range at frame {first_pfn:#x} of {frames} frames reaches past the 2^52-frame GPA space"
    )]
    OutOfRange {
        /// First 4 KiB frame.
        first_pfn: u64,
        /// Frames in the range.
        frames: u64,
    },
    /// `reserved1` (bits 20:13) is set in a large-page range.
    #[error("large-page range {raw:#018x} has reserved bits 20:13 set")]
    ReservedBits {
        /// The raw range.
        raw: u64,
    },
    /// A 1 GiB range whose `base_large_pfn` is not 1 GiB aligned.
    #[error("1 GiB range {raw:#018x} has a base that is not 1 GiB aligned")]
    Misaligned1G {
        /// The raw range.
        raw: u64,
    },
}

/// One `HV_GPA_PAGE_RANGE` (fact sheet D.5): a guest physical range in 4 KiB, 2 MiB or
/// 1 GiB units.
///
/// Build it with [`GpaPageRange::new`] (validating) or the per-unit constructors; read it with
/// the field getters of each view or [`GpaPageRange::decode`].
#[doc(alias = "HV_GPA_PAGE_RANGE")]
#[doc(alias = "hv_gpa_page_range")]
#[repr(transparent)]
#[derive(
    Copy,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
pub struct GpaPageRange(pub u64);

const _: () = assert!(size_of::<GpaPageRange>() == 8);

impl GpaPageRange {
    /// Mask of `additional_pages`, bits 10:0.
    pub const ADDITIONAL_PAGES_MASK: u64 = 0x7FF;
    /// Mask of `largepage`, bit 11.
    pub const LARGEPAGE_MASK: u64 = 0x800;
    /// Mask of `basepfn`, bits 63:12.
    pub const BASEPFN_MASK: u64 = 0xFFFF_FFFF_FFFF_F000;
    /// Mask of `page_size`, bit 12 (large view).
    pub const PAGE_SIZE_MASK: u64 = 0x1000;
    /// Mask of `reserved1`, bits 20:13 (large view).
    pub const RESERVED1_MASK: u64 = 0x1F_E000;
    /// Mask of `base_large_pfn`, bits 63:21 (large view).
    pub const BASE_LARGE_PFN_MASK: u64 = 0xFFFF_FFFF_FFE0_0000;

    /// A validated range of `units` units of `unit` starting at 4 KiB frame `first_pfn`.
    ///
    /// Errors: `units` not in 1..=2048, `first_pfn` not aligned to the unit, or the range
    /// reaching past the 2^52-frame space.
    pub const fn new(first_pfn: u64, units: u64, unit: PageUnit) -> Result<Self, GpaRangeError> {
        if units == 0 || units > MAX_UNITS_PER_RANGE {
            return Err(GpaRangeError::BadUnitCount { units });
        }
        let per = unit.frames();
        if first_pfn % per != 0 {
            return Err(GpaRangeError::Misaligned { first_pfn, unit });
        }
        let frames = units * per;
        if first_pfn >= PFN_LIMIT || frames > PFN_LIMIT - first_pfn {
            return Err(GpaRangeError::OutOfRange { first_pfn, frames });
        }
        let additional = units - 1;
        Ok(match unit {
            PageUnit::Size4K => Self((first_pfn << 12) | additional),
            // base_large_pfn = GPA >> 21 = first_pfn >> 9, stored in bits 63:21, i.e. the GPA
            // itself with its low 21 bits clear (aligned).
            PageUnit::Size2M => Self((first_pfn << 12) | Self::LARGEPAGE_MASK | additional),
            PageUnit::Size1G => {
                Self((first_pfn << 12) | Self::LARGEPAGE_MASK | Self::PAGE_SIZE_MASK | additional)
            }
        })
    }

    /// `pages` 4 KiB frames (1..=2048) at `first_pfn` (4 KiB view, `largepage` = 0).
    pub const fn new_4k(first_pfn: u64, pages: u64) -> Result<Self, GpaRangeError> {
        Self::new(first_pfn, pages, PageUnit::Size4K)
    }

    /// `units` 2 MiB pages (1..=2048) at 2 MiB-aligned frame `first_pfn`.
    pub const fn new_2m(first_pfn: u64, units: u64) -> Result<Self, GpaRangeError> {
        Self::new(first_pfn, units, PageUnit::Size2M)
    }

    /// `units` 1 GiB pages (1..=2048) at 1 GiB-aligned frame `first_pfn` (**UNVERIFIED** form).
    pub const fn new_1g(first_pfn: u64, units: u64) -> Result<Self, GpaRangeError> {
        Self::new(first_pfn, units, PageUnit::Size1G)
    }

    /// Linux's encoding of one naturally aligned buddy block of 2^`order` 4 KiB frames
    /// (dm-protocol.md §7.5): order ≥ 9 → 2 MiB units (2^(order − 9) of them), else 4 KiB
    /// units. Errors if `first_pfn` is not aligned to the block, the block needs more than
    /// 2048 units (order > 20), or it leaves the GPA space.
    pub const fn linux_block(first_pfn: u64, order: u32) -> Result<Self, GpaRangeError> {
        if order > 20 {
            return Err(GpaRangeError::BadOrder { order });
        }
        let frames = 1u64 << order;
        if first_pfn % frames != 0 {
            let unit = if order >= 9 {
                PageUnit::Size2M
            } else {
                PageUnit::Size4K
            };
            return Err(GpaRangeError::Misaligned { first_pfn, unit });
        }
        if order >= 9 {
            Self::new(first_pfn, frames / FRAMES_PER_2M, PageUnit::Size2M)
        } else {
            Self::new(first_pfn, frames, PageUnit::Size4K)
        }
    }

    /// The raw qword (the "raw" view).
    pub const fn into_bits(self) -> u64 {
        self.0
    }

    /// From a raw qword (no validation; see [`GpaPageRange::decode`]).
    pub const fn from_bits(raw: u64) -> Self {
        Self(raw)
    }

    // --- 4 KiB view ---

    /// `additional_pages`, bits 10:0: units − 1 (in every view).
    pub const fn additional_pages(self) -> u16 {
        (self.0 & Self::ADDITIONAL_PAGES_MASK) as u16
    }
    /// Sets `additional_pages` (11 bits kept).
    pub const fn with_additional_pages(self, v: u16) -> Self {
        Self((self.0 & !Self::ADDITIONAL_PAGES_MASK) | (v as u64 & Self::ADDITIONAL_PAGES_MASK))
    }
    /// `largepage`, bit 11.
    pub const fn largepage(self) -> bool {
        self.0 & Self::LARGEPAGE_MASK != 0
    }
    /// Sets `largepage`.
    pub const fn with_largepage(self, v: bool) -> Self {
        Self((self.0 & !Self::LARGEPAGE_MASK) | if v { Self::LARGEPAGE_MASK } else { 0 })
    }
    /// `basepfn`, bits 63:12: the 4 KiB frame number (meaningful when `largepage` = 0).
    pub const fn basepfn(self) -> u64 {
        self.0 >> 12
    }
    /// Sets `basepfn` (52 bits kept).
    pub const fn with_basepfn(self, pfn: u64) -> Self {
        Self((self.0 & !Self::BASEPFN_MASK) | (pfn << 12))
    }

    // --- large view ---

    /// `page_size`, bit 12 of the large view: `false` = 2 MiB, `true` = 1 GiB.
    pub const fn page_size_1g(self) -> bool {
        self.0 & Self::PAGE_SIZE_MASK != 0
    }
    /// Sets `page_size` (large view).
    pub const fn with_page_size_1g(self, v: bool) -> Self {
        Self((self.0 & !Self::PAGE_SIZE_MASK) | if v { Self::PAGE_SIZE_MASK } else { 0 })
    }
    /// `reserved1`, bits 20:13 of the large view (must be 0).
    pub const fn reserved1(self) -> u8 {
        ((self.0 & Self::RESERVED1_MASK) >> 13) as u8
    }
    /// Sets `reserved1` (for tests of host-side validation).
    pub const fn with_reserved1(self, v: u8) -> Self {
        Self((self.0 & !Self::RESERVED1_MASK) | ((v as u64) << 13))
    }
    /// `base_large_pfn`, bits 63:21: GPA >> 21 (2 MiB units, also for 1 GiB pages).
    pub const fn base_large_pfn(self) -> u64 {
        self.0 >> 21
    }
    /// Sets `base_large_pfn` (43 bits kept).
    pub const fn with_base_large_pfn(self, v: u64) -> Self {
        Self((self.0 & !Self::BASE_LARGE_PFN_MASK) | (v << 21))
    }

    // --- decoding ---

    /// The unit this range counts in.
    pub const fn unit(self) -> PageUnit {
        match (self.largepage(), self.page_size_1g()) {
            (false, _) => PageUnit::Size4K,
            (true, false) => PageUnit::Size2M,
            (true, true) => PageUnit::Size1G,
        }
    }

    /// Number of units: `additional_pages` + 1 (1..=2048).
    pub const fn units(self) -> u64 {
        self.additional_pages() as u64 + 1
    }

    /// Validate and decode into (first 4 KiB frame, number of 4 KiB frames).
    ///
    /// Errors: `reserved1` set in a large form; 1 GiB form with a base that is not 1 GiB
    /// aligned; a range that runs past the 2^52-frame space (only possible for large forms).
    pub const fn decode(self) -> Result<(u64, u64), GpaRangeError> {
        let unit = self.unit();
        let frames = self.units() * unit.frames();
        let first_pfn = match unit {
            PageUnit::Size4K => self.basepfn(),
            PageUnit::Size2M | PageUnit::Size1G => {
                if self.reserved1() != 0 {
                    return Err(GpaRangeError::ReservedBits { raw: self.0 });
                }
                let first = self.base_large_pfn() * FRAMES_PER_2M;
                if matches!(unit, PageUnit::Size1G) && first % FRAMES_PER_1G != 0 {
                    return Err(GpaRangeError::Misaligned1G { raw: self.0 });
                }
                first
            }
        };
        if frames > PFN_LIMIT - first_pfn {
            return Err(GpaRangeError::OutOfRange { first_pfn, frames });
        }
        Ok((first_pfn, frames))
    }
}

impl From<u64> for GpaPageRange {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl From<GpaPageRange> for u64 {
    fn from(value: GpaPageRange) -> Self {
        value.0
    }
}

impl fmt::Debug for GpaPageRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Ok((first, frames)) => write!(
                f,
                "GpaPageRange({:#018x}: {:?} x{} = frames {first:#x}..{:#x})",
                self.0,
                self.unit(),
                self.units(),
                first + frames
            ),
            Err(_) => write!(f, "GpaPageRange({:#018x}: invalid)", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fact sheet D.5 worked encoding: 2 MiB block at GPA 0x4020_0000 -> 0x4020_0800.
    #[test]
    fn table_d5_2m_block_at_0x4020_0000() {
        let r = GpaPageRange::new_2m(0x4020_0000 >> 12, 1).unwrap();
        assert_eq!(r.0, 0x4020_0800);
        assert_eq!(r.base_large_pfn(), 0x4020_0000 >> 21);
        assert_eq!(r.decode(), Ok((0x40200, 512)));
    }

    /// Fact sheet D.5 worked encoding: 4 MiB block (order 10) at GPA 0x4040_0000 -> 0x4040_0801.
    #[test]
    fn table_d5_4m_block_at_0x4040_0000() {
        let r = GpaPageRange::new_2m(0x4040_0000 >> 12, 2).unwrap();
        assert_eq!(r.0, 0x4040_0801);
        assert_eq!(r.decode(), Ok((0x40400, 1024)));
    }

    /// Fact sheet D.5 worked encoding: 64 KiB block (order 4) at GPA 0x1234_0000 -> 0x1234_000F.
    #[test]
    fn table_d5_64k_block_at_0x1234_0000() {
        let r = GpaPageRange::new_4k(0x12340, 16).unwrap();
        assert_eq!(r.0, 0x1234_000F);
        assert_eq!(r.basepfn(), 0x12340);
        assert_eq!(r.additional_pages(), 15);
        assert!(!r.largepage());
        assert_eq!(r.decode(), Ok((0x12340, 16)));
    }

    /// dm-protocol.md §7.5 / fact sheet D.5: Linux's per-block encoding gives the worked values.
    #[test]
    fn table_d5_linux_block_encoding() {
        assert_eq!(
            GpaPageRange::linux_block(0x40200, 9).unwrap().0,
            0x4020_0800
        );
        assert_eq!(
            GpaPageRange::linux_block(0x40400, 10).unwrap().0,
            0x4040_0801
        );
        assert_eq!(
            GpaPageRange::linux_block(0x12340, 4).unwrap().0,
            0x1234_000F
        );
        assert_eq!(
            GpaPageRange::linux_block(0x12300, 8).unwrap().0,
            0x1230_00FF
        );
        assert_eq!(GpaPageRange::linux_block(0, 20).unwrap().units(), 2048);
        assert_eq!(
            GpaPageRange::linux_block(0, 21),
            Err(GpaRangeError::BadOrder { order: 21 })
        );
        assert_eq!(
            GpaPageRange::linux_block(0x40300, 9),
            Err(GpaRangeError::Misaligned {
                first_pfn: 0x40300,
                unit: PageUnit::Size2M
            })
        );
    }

    /// Fact sheet D.5, 1 GiB form (UNVERIFIED semantics): 3 GiB at GPA 0x4000_0000.
    #[test]
    fn table_d5_1g_form() {
        let r = GpaPageRange::new_1g(0x4000_0000 >> 12, 3).unwrap();
        assert_eq!(r.0, 0x4000_1802);
        assert!(r.largepage());
        assert!(r.page_size_1g());
        assert_eq!(r.base_large_pfn(), 0x200);
        assert_eq!(r.decode(), Ok((0x40000, 3 * FRAMES_PER_1G)));
    }

    /// Fact sheet D.5 masks for every field of every view.
    #[test]
    fn table_d5_field_masks() {
        let z = GpaPageRange(0);
        assert_eq!(z.with_additional_pages(0x7FF).0, 0x7FF);
        assert_eq!(z.with_largepage(true).0, 0x800);
        assert_eq!(z.with_basepfn((1 << 52) - 1).0, 0xFFFF_FFFF_FFFF_F000);
        assert_eq!(z.with_page_size_1g(true).0, 0x1000);
        assert_eq!(z.with_reserved1(0xFF).0, 0x1F_E000);
        assert_eq!(
            z.with_base_large_pfn((1 << 43) - 1).0,
            0xFFFF_FFFF_FFE0_0000
        );
        let all = GpaPageRange(u64::MAX);
        assert_eq!(all.additional_pages(), 0x7FF);
        assert_eq!(all.reserved1(), 0xFF);
        assert_eq!(all.base_large_pfn(), (1 << 43) - 1);
        assert_eq!(all.basepfn(), (1 << 52) - 1);
    }

    #[test]
    fn constructors_validate() {
        assert_eq!(
            GpaPageRange::new_4k(0, 0),
            Err(GpaRangeError::BadUnitCount { units: 0 })
        );
        assert_eq!(
            GpaPageRange::new_4k(0, 2049),
            Err(GpaRangeError::BadUnitCount { units: 2049 })
        );
        assert!(GpaPageRange::new_4k(0, 2048).is_ok());
        assert_eq!(
            GpaPageRange::new_2m(1, 1),
            Err(GpaRangeError::Misaligned {
                first_pfn: 1,
                unit: PageUnit::Size2M
            })
        );
        assert_eq!(
            GpaPageRange::new_1g(512, 1),
            Err(GpaRangeError::Misaligned {
                first_pfn: 512,
                unit: PageUnit::Size1G
            })
        );
        assert_eq!(
            GpaPageRange::new_4k(PFN_LIMIT - 1, 2),
            Err(GpaRangeError::OutOfRange {
                first_pfn: PFN_LIMIT - 1,
                frames: 2
            })
        );
        assert!(GpaPageRange::new_4k(PFN_LIMIT - 1, 1).is_ok());
        assert!(GpaPageRange::new_4k(PFN_LIMIT, 1).is_err());
    }

    #[test]
    fn decode_rejects_bad_large_forms() {
        let bad = GpaPageRange::new_2m(0, 1).unwrap().with_reserved1(1);
        assert_eq!(
            bad.decode(),
            Err(GpaRangeError::ReservedBits { raw: bad.0 })
        );
        let bad = GpaPageRange::new_1g(0, 1).unwrap().with_base_large_pfn(1);
        assert_eq!(
            bad.decode(),
            Err(GpaRangeError::Misaligned1G { raw: bad.0 })
        );
        // Largest 2 MiB base with 2048 units runs past the GPA space.
        let bad = GpaPageRange(GpaPageRange::BASE_LARGE_PFN_MASK | 0x800 | 0x7FF);
        assert!(matches!(
            bad.decode(),
            Err(GpaRangeError::OutOfRange { .. })
        ));
    }
}
