//! VMBus packet framing: the 16-byte descriptor, the 8-byte trailer and packet types and flags.
//!
//! Layout follows `rust-anchors.md` §1.4 (the `vmbus_ring` model) and `dm-protocol.md` §0. All
//! multi-byte fields are little-endian on the wire; the types here use zerocopy's little-endian
//! integers so the byte image is right on any host.
//!
//! ```text
//!  byte 0        2          4          6        8                      16
//!       +--------+----------+----------+--------+----------------------+
//!       | type   | offset8  | length8  | flags  | transaction id (u64) |   descriptor
//!       +--------+----------+----------+--------+----------------------+
//!       | payload, zero-padded to a multiple of 8 bytes ...            |
//!       +-------------------------------+------------------------------+
//!       | reserved (u32, 0)             | start write index (u32)      |   trailer (u64)
//!       +-------------------------------+------------------------------+
//! ```
//!
//! `offset8` is where the payload starts and `length8` where it ends, both counted in 8-byte
//! units from the start of the descriptor (so an in-band packet has `offset8 == 2`). The
//! trailer is not covered by `length8`.
#![forbid(unsafe_code)]

use core::mem::{offset_of, size_of};

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size in bytes of [`PacketDescriptor`].
pub const DESCRIPTOR_SIZE: usize = 16;
/// Size in bytes of [`PacketTrailer`].
pub const TRAILER_SIZE: usize = 8;
/// Bytes a packet adds around its payload: descriptor plus trailer.
pub const PACKET_OVERHEAD: usize = DESCRIPTOR_SIZE + TRAILER_SIZE;

/// Rounds `n` up to a multiple of 8 (`None` on overflow).
#[must_use]
pub const fn round_up_8(n: usize) -> Option<usize> {
    match n.checked_add(7) {
        Some(v) => Some(v & !7),
        None => None,
    }
}

/// Bytes an in-band packet with an `n`-byte payload occupies in a ring: descriptor, payload
/// padded to 8, trailer (`16 + round_up_8(n) + 8`). `None` on overflow.
#[must_use]
pub const fn in_band_packet_size(payload_len: usize) -> Option<usize> {
    match round_up_8(payload_len) {
        Some(p) => p.checked_add(PACKET_OVERHEAD),
        None => None,
    }
}

/// A VMBus packet type (descriptor field `type`). An open enum: any `u16` may arrive from the
/// host; [`PacketType::is_known`] says whether it is one the ring parser accepts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct PacketType(pub u16);

impl PacketType {
    /// In-band data: the payload follows the descriptor.
    #[doc(alias = "VM_PKT_DATA_INBAND")]
    pub const IN_BAND: Self = Self(6);
    /// Data using transfer pages (payload starts with a transfer-page header).
    #[doc(alias = "VM_PKT_DATA_USING_XFER_PAGES")]
    pub const TRANSFER_PAGES: Self = Self(7);
    /// Data with a GPA-direct page range list.
    #[doc(alias = "VM_PKT_DATA_USING_GPA_DIRECT")]
    pub const GPA_DIRECT: Self = Self(9);
    /// Completion of an earlier packet (matched by transaction id).
    #[doc(alias = "VM_PKT_COMP")]
    pub const COMPLETION: Self = Self(11);

    /// Whether this is one of the four types the ring parser accepts (6, 7, 9, 11).
    #[must_use]
    pub const fn is_known(self) -> bool {
        matches!(self.0, 6 | 7 | 9 | 11)
    }

    /// The name of a known type, `None` for any other value.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            6 => Some("IN_BAND"),
            7 => Some("TRANSFER_PAGES"),
            9 => Some("GPA_DIRECT"),
            11 => Some("COMPLETION"),
            _ => None,
        }
    }
}

hv_open_enum::open_enum_fmt!(PacketType, "packet type", 4);

bitflags::bitflags! {
    /// Packet descriptor flags. Only [`PacketFlags::COMPLETION_REQUESTED`] is defined; any other
    /// bit in a received descriptor is an error.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PacketFlags: u16 {
        /// The sender asks for a completion packet carrying the same transaction id.
        #[doc(alias = "VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED")]
        const COMPLETION_REQUESTED = 1;
    }
}

/// The 16-byte descriptor at the start of every packet.
#[doc(alias = "vmpacket_descriptor")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct PacketDescriptor {
    /// Packet type, see [`PacketType`].
    pub packet_type: U16,
    /// Payload start, in 8-byte units from the start of the descriptor (≥ 2).
    pub data_offset8: U16,
    /// Packet length without the trailer, in 8-byte units (≥ `data_offset8`).
    pub length8: U16,
    /// Flags, see [`PacketFlags`].
    pub flags: U16,
    /// Transaction id (request id), echoed in the completion.
    pub transaction_id: U64,
}

const _: () = assert!(size_of::<PacketDescriptor>() == DESCRIPTOR_SIZE);
const _: () = assert!(offset_of!(PacketDescriptor, packet_type) == 0);
const _: () = assert!(offset_of!(PacketDescriptor, data_offset8) == 2);
const _: () = assert!(offset_of!(PacketDescriptor, length8) == 4);
const _: () = assert!(offset_of!(PacketDescriptor, flags) == 6);
const _: () = assert!(offset_of!(PacketDescriptor, transaction_id) == 8);

impl PacketDescriptor {
    /// Builds a descriptor from raw field values (no checks: simulators use this to build
    /// malformed packets on purpose).
    #[must_use]
    #[inline]
    pub fn from_raw(
        packet_type: u16,
        data_offset8: u16,
        length8: u16,
        flags: u16,
        transaction_id: u64,
    ) -> Self {
        Self {
            packet_type: U16::new(packet_type),
            data_offset8: U16::new(data_offset8),
            length8: U16::new(length8),
            flags: U16::new(flags),
            transaction_id: U64::new(transaction_id),
        }
    }

    /// The packet type.
    #[must_use]
    #[inline]
    pub fn packet_type(&self) -> PacketType {
        PacketType(self.packet_type.get())
    }

    /// The descriptor as the two little-endian 64-bit words it occupies in the ring.
    #[must_use]
    #[inline]
    pub fn to_words(&self) -> [u64; 2] {
        let b = self.as_bytes();
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&b[..8]);
        hi.copy_from_slice(&b[8..]);
        [u64::from_le_bytes(lo), u64::from_le_bytes(hi)]
    }

    /// Parses the descriptor from the two little-endian 64-bit words it occupies in the ring.
    /// Any bit pattern is a descriptor; validation happens in the ring reader.
    #[must_use]
    #[inline]
    pub fn from_words(words: [u64; 2]) -> Self {
        let lo = words[0];
        let hi = words[1];
        Self::from_raw(
            (lo & 0xffff) as u16,
            ((lo >> 16) & 0xffff) as u16,
            ((lo >> 32) & 0xffff) as u16,
            (lo >> 48) as u16,
            hi,
        )
    }
}

/// The 8-byte trailer after every packet's padded payload. Linux and Hyper-V store the write
/// index at which the packet starts in the upper half; the lower half is reserved (0).
#[doc(alias = "prev_indices")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct PacketTrailer {
    /// Reserved, written as 0, ignored on read.
    pub reserved: U32,
    /// The ring write index (byte offset in the data area) at which this packet starts.
    pub start_write_index: U32,
}

const _: () = assert!(size_of::<PacketTrailer>() == TRAILER_SIZE);
const _: () = assert!(offset_of!(PacketTrailer, reserved) == 0);
const _: () = assert!(offset_of!(PacketTrailer, start_write_index) == 4);

impl PacketTrailer {
    /// The trailer for a packet starting at `start_write_index`, as its ring word
    /// (`start_write_index << 32`).
    #[must_use]
    pub const fn word_for(start_write_index: u32) -> u64 {
        (start_write_index as u64) << 32
    }

    /// Decodes the trailer from its ring word.
    #[must_use]
    pub fn from_word(word: u64) -> Self {
        Self {
            reserved: U32::new((word & 0xffff_ffff) as u32),
            start_write_index: U32::new((word >> 32) as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden bytes for the descriptor (rust-anchors.md §1.4 `PacketDescriptor`).
    #[test]
    fn descriptor_golden_bytes() {
        let d = PacketDescriptor::from_raw(6, 2, 5, 1, 0x1122_3344_5566_7788);
        assert_eq!(
            d.as_bytes(),
            &[
                0x06, 0x00, 0x02, 0x00, 0x05, 0x00, 0x01, 0x00, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
                0x22, 0x11
            ]
        );
        let words = d.to_words();
        assert_eq!(words, [0x0001_0005_0002_0006, 0x1122_3344_5566_7788]);
        assert_eq!(PacketDescriptor::from_words(words), d);
    }

    /// Golden bytes for the trailer (rust-anchors.md §1.4 `Footer { reserved, offset }`):
    /// the start index sits in bytes 4..8.
    #[test]
    fn trailer_golden_bytes() {
        let w = PacketTrailer::word_for(0x0000_1238);
        assert_eq!(w.to_le_bytes(), [0, 0, 0, 0, 0x38, 0x12, 0, 0]);
        let t = PacketTrailer::from_word(w);
        assert_eq!(t.start_write_index.get(), 0x1238);
        assert_eq!(t.reserved.get(), 0);
        assert_eq!(t.as_bytes(), &w.to_le_bytes());
    }

    #[test]
    fn sizes() {
        assert_eq!(in_band_packet_size(0), Some(24));
        assert_eq!(in_band_packet_size(1), Some(32));
        assert_eq!(in_band_packet_size(8), Some(32));
        assert_eq!(in_band_packet_size(4096), Some(4120));
        assert_eq!(in_band_packet_size(usize::MAX), None);
        assert_eq!(round_up_8(usize::MAX - 3), None);
    }

    #[test]
    fn packet_type_names() {
        assert!(PacketType::IN_BAND.is_known());
        assert!(!PacketType(8).is_known());
        assert_eq!(
            std::format!("{}", PacketType::COMPLETION),
            "COMPLETION (0x000B)"
        );
        assert_eq!(std::format!("{:?}", PacketType::COMPLETION), "COMPLETION");
        assert_eq!(std::format!("{:?}", PacketType(42)), "PacketType(0x002A)");
        assert_eq!(
            std::format!("{}", PacketType(42)),
            "unknown packet type 0x002A"
        );
    }
}
