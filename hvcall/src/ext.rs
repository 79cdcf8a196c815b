//! Extended hypercall data: capabilities (0x8001, fact sheet D.3) and the memory heat hint
//! header (0x8003, fact sheet D.4).

use core::fmt;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::page::HvPage;
use crate::range::GpaPageRange;

bitflags::bitflags! {
    /// The 64-bit extended capability mask returned by `HvExtCallQueryCapabilities` (0x8001).
    ///
    /// Sources disagree on the layout (fact sheet D.3); we follow Linux, which gates page
    /// reporting on bit 8. Unknown bits are kept.
    #[doc(alias = "HV_EXT_CAPABILITY")]
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
    pub struct ExtCapabilities: u64 {
        /// Boot-zeroed memory query (bit 0; in the TLFS list and a later Linux header —
        /// **UNVERIFIED** whether merged in Linux).
        const GET_BOOT_ZEROED_MEMORY = 1 << 0;
        /// Cold memory discard hints (bit 8, 0x100): what Linux checks before enabling free
        /// page reporting (fact sheet B.2, D.3; dm-protocol.md §7.2).
        #[doc(alias = "HV_EXT_CAPABILITY_MEMORY_COLD_DISCARD_HINT")]
        const COLD_DISCARD_HINT = 1 << 8;
        // Keep every other bit as reported.
        const _ = !0;
    }
}

/// Heat type in bits 1:0 of the heat hint header (open enum, fact sheet D.4).
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct HeatType(pub u8);

impl HeatType {
    /// Cold (0): contents must be kept.
    #[doc(alias = "HV_EXTMEM_HEAT_HINT_COLD")]
    pub const COLD: Self = Self(0);
    /// Hot (1).
    #[doc(alias = "HV_EXTMEM_HEAT_HINT_HOT")]
    pub const HOT: Self = Self(1);
    /// Cold discard (2): the host may drop the backing; the guest treats contents as lost.
    /// What free page reporting uses.
    #[doc(alias = "HV_EXTMEM_HEAT_HINT_COLD_DISCARD")]
    #[doc(alias = "HV_EXT_MEMORY_HEAT_HINT_TYPE_COLD_DISCARD")]
    pub const COLD_DISCARD: Self = Self(2);

    /// The name of a known value.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("HV_EXTMEM_HEAT_HINT_COLD"),
            1 => Some("HV_EXTMEM_HEAT_HINT_HOT"),
            2 => Some("HV_EXTMEM_HEAT_HINT_COLD_DISCARD"),
            _ => None,
        }
    }
}

hv_open_enum::open_enum_fmt!(HeatType, "heat type", 2);

/// The 8-byte `HvExtCallMemoryHeatHint` header (`hv_memory_hint`): bits 1:0 heat type,
/// bits 63:2 reserved zero (fact sheet D.4, dm-protocol.md §7.3).
#[doc(alias = "hv_memory_hint")]
#[repr(transparent)]
#[derive(
    Copy, Clone, PartialEq, Eq, Hash, Default, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MemoryHintHeader(pub u64);

const _: () = assert!(size_of::<MemoryHintHeader>() == 8);

impl MemoryHintHeader {
    /// Mask of the heat type, bits 1:0.
    pub const HEAT_TYPE_MASK: u64 = 0x3;
    /// Mask of the reserved bits 63:2.
    pub const RESERVED_MASK: u64 = !0x3;

    /// A header with `heat` (2 bits kept) and reserved bits zero.
    pub const fn new(heat: HeatType) -> Self {
        Self(heat.0 as u64 & Self::HEAT_TYPE_MASK)
    }

    /// Heat type, bits 1:0.
    pub const fn heat_type(self) -> HeatType {
        HeatType((self.0 & Self::HEAT_TYPE_MASK) as u8)
    }

    /// Reserved bits 63:2 that are set (0 for a valid header).
    pub const fn reserved_bits(self) -> u64 {
        self.0 & Self::RESERVED_MASK
    }
}

impl fmt::Debug for MemoryHintHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryHintHeader")
            .field("heat_type", &self.heat_type())
            .field("reserved", &format_args!("{:#x}", self.reserved_bits()))
            .finish()
    }
}

/// Size of the heat hint header in bytes.
pub const HEAT_HINT_HEADER_SIZE: usize = size_of::<MemoryHintHeader>();

/// Most ranges per `HvExtCallMemoryHeatHint` call: (4096 − 8) / 8 = 511 (fact sheet D.4).
#[doc(alias = "HV_MEMORY_HINT_MAX_GPA_PAGE_RANGES")]
pub const MAX_HEAT_HINT_RANGES: usize =
    HvPage::capacity_after(HEAT_HINT_HEADER_SIZE, size_of::<GpaPageRange>());

const _: () = assert!(MAX_HEAT_HINT_RANGES == 511);
const _: () = assert!(MAX_HEAT_HINT_RANGES <= crate::Control::MAX_REP_COUNT as usize);

/// Byte offset of range `index` in a heat hint input page.
pub const fn heat_hint_range_offset(index: usize) -> usize {
    HEAT_HINT_HEADER_SIZE + index * size_of::<GpaPageRange>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fact sheet D.4: the cold-discard header is 0x0000_0000_0000_0002.
    #[test]
    fn table_d4_cold_discard_header() {
        assert_eq!(
            MemoryHintHeader::new(HeatType::COLD_DISCARD).0,
            0x0000_0000_0000_0002
        );
        assert_eq!(MemoryHintHeader::new(HeatType::HOT).0, 1);
        assert_eq!(MemoryHintHeader::new(HeatType::COLD).0, 0);
        assert_eq!(MemoryHintHeader(0x6).reserved_bits(), 0x4);
        assert_eq!(MemoryHintHeader(0x6).heat_type(), HeatType::COLD_DISCARD);
        assert_eq!(heat_hint_range_offset(510), 4088);
    }

    #[test]
    fn heat_types_print_their_tlfs_names() {
        extern crate std;
        use std::format;
        assert_eq!(
            format!("{:?}", HeatType::COLD_DISCARD),
            "HV_EXTMEM_HEAT_HINT_COLD_DISCARD"
        );
        assert_eq!(
            format!("{}", HeatType::HOT),
            "HV_EXTMEM_HEAT_HINT_HOT (0x01)"
        );
        assert_eq!(format!("{:?}", HeatType(3)), "HeatType(0x03)");
    }

    /// Fact sheet D.3 / B.2: cold discard = bit 8 (0x100).
    #[test]
    fn table_d3_cold_discard_capability_bit() {
        assert_eq!(ExtCapabilities::COLD_DISCARD_HINT.bits(), 0x100);
        let caps = ExtCapabilities::from_bits_retain(0x8000_0000_0000_0101);
        assert!(caps.contains(ExtCapabilities::COLD_DISCARD_HINT));
        assert_eq!(caps.bits(), 0x8000_0000_0000_0101);
    }
}
