//! The Dynamic Memory wire structures (dm-protocol.md §1), byte for byte.
//!
//! Every structure is `#[repr(C)]` over little-endian zerocopy integers (alignment 1, so the
//! layout is the packed C layout). Bitfields are exposed through accessor methods at the bit
//! positions the fact sheet documents. Sizes and offsets are checked at compile time.

use core::fmt;
use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of one Hyper-V page (4 KiB) — the unit of every page count in the protocol.
#[doc(alias = "HV_HYP_PAGE_SIZE")]
pub const PAGE_SIZE: u64 = 4096;

/// Largest DM message the guest receives or sends (its static 4096-byte buffer, §0).
pub const MAX_MESSAGE_SIZE: usize = 4096;

/// Pages in one 2 MiB balloon unit.
pub const PAGES_IN_2M: u64 = 512;

/// Most page ranges one balloon response (or unballoon request) can carry:
/// (4096 − 16) / 8 = 510 (§1.13, §4a).
pub const MAX_RANGES_PER_MESSAGE: usize = (MAX_MESSAGE_SIZE - 16) / 8;

/// One past the highest 4 KiB frame number the 40-bit `start_page` field can name (§1.10).
pub const FRAME_SPACE_END: u64 = 1 << 40;

/// Largest `page_cnt` a page range can carry (24 bits, §1.10).
pub const MAX_RANGE_PAGES: u64 = (1 << 24) - 1;

/// The DM message type carried in [`Header::ty`] (§1.1). An open enum: every `u16` is
/// representable; [`MessageType::name`] knows the fact sheet's names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[doc(alias = "dm_message_type")]
pub struct MessageType(pub u16);

impl MessageType {
    /// Error (no payload defined; the guest handles none).
    #[doc(alias = "DM_ERROR")]
    pub const ERROR: Self = Self(0);
    /// Guest → host: propose a protocol version.
    #[doc(alias = "DM_VERSION_REQUEST")]
    pub const VERSION_REQUEST: Self = Self(1);
    /// Host → guest: accept or reject the proposed version.
    #[doc(alias = "DM_VERSION_RESPONSE")]
    pub const VERSION_RESPONSE: Self = Self(2);
    /// Guest → host: the guest's capabilities.
    #[doc(alias = "DM_CAPABILITIES_REPORT")]
    pub const CAPABILITIES_REPORT: Self = Self(3);
    /// Host → guest: capabilities accepted or not.
    #[doc(alias = "DM_CAPABILITIES_RESPONSE")]
    pub const CAPABILITIES_RESPONSE: Self = Self(4);
    /// Guest → host: memory pressure report (no reply).
    #[doc(alias = "DM_STATUS_REPORT")]
    pub const STATUS_REPORT: Self = Self(5);
    /// Host → guest: give pages to the host (inflate).
    #[doc(alias = "DM_BALLOON_REQUEST")]
    pub const BALLOON_REQUEST: Self = Self(6);
    /// Guest → host: pages given (one or more per transaction).
    #[doc(alias = "DM_BALLOON_RESPONSE")]
    pub const BALLOON_RESPONSE: Self = Self(7);
    /// Host → guest: take pages back (deflate).
    #[doc(alias = "DM_UNBALLOON_REQUEST")]
    pub const UNBALLOON_REQUEST: Self = Self(8);
    /// Guest → host: pages taken back.
    #[doc(alias = "DM_UNBALLOON_RESPONSE")]
    pub const UNBALLOON_RESPONSE: Self = Self(9);
    /// Host → guest: back (and if needed add) memory.
    #[doc(alias = "DM_MEM_HOT_ADD_REQUEST")]
    pub const MEM_HOT_ADD_REQUEST: Self = Self(10);
    /// Guest → host: hot-add result.
    #[doc(alias = "DM_MEM_HOT_ADD_RESPONSE")]
    pub const MEM_HOT_ADD_RESPONSE: Self = Self(11);
    /// Host → guest: information (maximum page count), protocol ≥ 1.0.
    #[doc(alias = "DM_INFO_MESSAGE")]
    pub const INFO_MESSAGE: Self = Self(12);
    /// Host → guest: remove memory, protocol 2.0.
    #[doc(alias = "DM_MEM_HOT_REMOVE_REQUEST")]
    pub const MEM_HOT_REMOVE_REQUEST: Self = Self(13);
    /// Guest → host: hot-remove result, protocol 2.0.
    #[doc(alias = "DM_MEM_HOT_REMOVE_RESPONSE")]
    pub const MEM_HOT_REMOVE_RESPONSE: Self = Self(14);

    /// The fact sheet's name (`"DM_BALLOON_RESPONSE"`), or `None` for an unknown value.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "DM_ERROR",
            1 => "DM_VERSION_REQUEST",
            2 => "DM_VERSION_RESPONSE",
            3 => "DM_CAPABILITIES_REPORT",
            4 => "DM_CAPABILITIES_RESPONSE",
            5 => "DM_STATUS_REPORT",
            6 => "DM_BALLOON_REQUEST",
            7 => "DM_BALLOON_RESPONSE",
            8 => "DM_UNBALLOON_REQUEST",
            9 => "DM_UNBALLOON_RESPONSE",
            10 => "DM_MEM_HOT_ADD_REQUEST",
            11 => "DM_MEM_HOT_ADD_RESPONSE",
            12 => "DM_INFO_MESSAGE",
            13 => "DM_MEM_HOT_REMOVE_REQUEST",
            14 => "DM_MEM_HOT_REMOVE_RESPONSE",
            _ => return None,
        })
    }
}

hv_open_enum::open_enum_fmt!(MessageType, "message type", 4);

/// A protocol version word (§1.2): major in bits 31..16, minor in bits 15..0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[doc(alias = "dm_version")]
pub struct Version(pub u32);

impl Version {
    /// Protocol 0.3 (Windows 7).
    #[doc(alias = "DYNMEM_PROTOCOL_VERSION_1")]
    #[doc(alias = "DYNMEM_PROTOCOL_VERSION_WIN7")]
    pub const WIN7: Self = Self(0x0000_0003);
    /// Protocol 1.0 (Windows 8).
    #[doc(alias = "DYNMEM_PROTOCOL_VERSION_2")]
    #[doc(alias = "DYNMEM_PROTOCOL_VERSION_WIN8")]
    pub const WIN8: Self = Self(0x0001_0000);
    /// Protocol 2.0 (Windows 10), the current version.
    #[doc(alias = "DYNMEM_PROTOCOL_VERSION_3")]
    #[doc(alias = "DYNMEM_PROTOCOL_VERSION_WIN10")]
    pub const WIN10: Self = Self(0x0002_0000);

    /// Builds a version from major and minor.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self(((major as u32) << 16) | minor as u32)
    }
    /// The major version (bits 31..16).
    pub const fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }
    /// The minor version (bits 15..0).
    pub const fn minor(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The capability word `union dm_caps` (§1.6; bit 6 `hot_remove` from protocol 2.0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[doc(alias = "dm_caps")]
pub struct Caps(pub u64);

impl Caps {
    /// Bit 0: the guest can balloon.
    pub const fn balloon(self) -> bool {
        self.0 & 1 != 0
    }
    /// Bit 1: the guest can hot-add.
    pub const fn hot_add(self) -> bool {
        self.0 & 2 != 0
    }
    /// Bits 2..5: hot-add alignment *n*, meaning 2^n MiB.
    pub const fn hot_add_alignment(self) -> u8 {
        ((self.0 >> 2) & 0xf) as u8
    }
    /// Bit 6 (protocol 2.0): the guest can hot-remove.
    pub const fn hot_remove(self) -> bool {
        self.0 & (1 << 6) != 0
    }
    /// Bits 7..63: reserved, zero.
    pub const fn reservedz(self) -> u64 {
        self.0 >> 7
    }
    /// Builds a capability word. `hot_add_alignment` is masked to its 4 bits.
    pub const fn new(
        balloon: bool,
        hot_add: bool,
        hot_add_alignment: u8,
        hot_remove: bool,
    ) -> Self {
        Self(
            balloon as u64
                | (hot_add as u64) << 1
                | ((hot_add_alignment as u64) & 0xf) << 2
                | (hot_remove as u64) << 6,
        )
    }
}

impl fmt::Debug for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caps")
            .field("balloon", &self.balloon())
            .field("hot_add", &self.hot_add())
            .field("hot_add_alignment", &self.hot_add_alignment())
            .field("hot_remove", &self.hot_remove())
            .finish()
    }
}

/// `union dm_mem_page_range` (§1.10): `start_page` in bits 0..39, `page_cnt` in bits 40..63.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
    Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_mem_page_range")]
pub struct PageRange {
    raw: U64,
}

impl PageRange {
    /// Builds a range. `None` if `start_page` does not fit 40 bits or `page_cnt` 24 bits.
    pub const fn new(start_page: u64, page_cnt: u64) -> Option<Self> {
        if start_page >= FRAME_SPACE_END || page_cnt > MAX_RANGE_PAGES {
            return None;
        }
        Some(Self::from_raw(start_page | (page_cnt << 40)))
    }
    /// Wraps a raw 64-bit value.
    pub const fn from_raw(raw: u64) -> Self {
        Self { raw: U64::new(raw) }
    }
    /// The raw 64-bit value.
    pub const fn raw(self) -> u64 {
        self.raw.get()
    }
    /// First 4 KiB frame (40 bits).
    pub const fn start_page(self) -> u64 {
        self.raw() & (FRAME_SPACE_END - 1)
    }
    /// Number of pages (24 bits).
    pub const fn page_cnt(self) -> u64 {
        self.raw() >> 40
    }
    /// One past the last frame. May exceed [`FRAME_SPACE_END`] for a hostile range; the parser
    /// rejects such ranges in host requests.
    pub const fn end_page(self) -> u64 {
        self.start_page() + self.page_cnt()
    }
}

impl fmt::Debug for PageRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}+{}]", self.start_page(), self.page_cnt())
    }
}

/// `struct dm_header` (§1.3): 8 bytes, the prefix of every message.
#[derive(
    Clone, Copy, PartialEq, Eq, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_header")]
pub struct Header {
    /// Message type (`type`).
    pub ty: U16,
    /// Total size in bytes, header included.
    pub size: U16,
    /// Transaction id.
    pub trans_id: U32,
}

impl Header {
    /// Builds a header.
    pub const fn new(ty: MessageType, size: u16, trans_id: u32) -> Self {
        Self {
            ty: U16::new(ty.0),
            size: U16::new(size),
            trans_id: U32::new(trans_id),
        }
    }
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        MessageType(self.ty.get())
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("type", &self.message_type())
            .field("size", &self.size.get())
            .field("trans_id", &self.trans_id.get())
            .finish()
    }
}

/// `struct dm_version_request` (§1.4), guest → host, 16 bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_version_request")]
pub struct VersionRequest {
    /// Header, type 1.
    pub hdr: Header,
    /// Proposed version word.
    pub version: U32,
    /// Bit 0 `is_last_attempt`; bits 1..31 reserved.
    pub flags: U32,
}

impl VersionRequest {
    /// Bit 0: this is the guest's last proposal.
    pub fn is_last_attempt(&self) -> bool {
        self.flags.get() & 1 != 0
    }
    /// The proposed version.
    pub fn version(&self) -> Version {
        Version(self.version.get())
    }
}

/// `struct dm_version_response` (§1.5), host → guest, 16 bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_version_response")]
pub struct VersionResponse {
    /// Header, type 2.
    pub hdr: Header,
    /// Bit 0 `is_accepted`; bits 1..63 reserved.
    pub flags: U64,
}

impl VersionResponse {
    /// Bit 0: the host accepted the proposed version.
    pub fn is_accepted(&self) -> bool {
        self.flags.get() & 1 != 0
    }
}

/// `struct dm_capabilities` (§1.7), guest → host, 32 bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_capabilities")]
pub struct CapabilitiesReport {
    /// Header, type 3.
    pub hdr: Header,
    /// Capability word.
    pub caps: U64,
    /// Minimum page count (Linux: 0).
    pub min_page_cnt: U64,
    /// Maximum page number (Linux: all ones).
    pub max_page_number: U64,
}

impl CapabilitiesReport {
    /// The capability word.
    pub fn caps(&self) -> Caps {
        Caps(self.caps.get())
    }
}

/// `struct dm_capabilities_resp_msg` (§1.8 plus the 2.0 flags), host → guest, 16 bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_capabilities_resp_msg")]
pub struct CapabilitiesResponse {
    /// Header, type 4.
    pub hdr: Header,
    /// Bit 0 `is_accepted`, bit 1 `hot_remove`, bit 2 `suppress_pressure_reports`.
    pub flags: U64,
}

impl CapabilitiesResponse {
    /// Bit 0: the host accepted the capabilities.
    pub fn is_accepted(&self) -> bool {
        self.flags.get() & 1 != 0
    }
    /// Bit 1 (2.0): the host supports hot-remove.
    pub fn hot_remove(&self) -> bool {
        self.flags.get() & 2 != 0
    }
    /// Bit 2 (2.0): the guest should not send status reports.
    pub fn suppress_pressure_reports(&self) -> bool {
        self.flags.get() & 4 != 0
    }
    /// Builds the flags word.
    pub const fn flags_word(is_accepted: bool, hot_remove: bool, suppress: bool) -> u64 {
        is_accepted as u64 | (hot_remove as u64) << 1 | (suppress as u64) << 2
    }
}

/// `struct dm_status` (§1.9), guest → host, 48 bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_status")]
pub struct StatusReport {
    /// Header, type 5.
    pub hdr: Header,
    /// Available memory, pages.
    pub num_avail: U64,
    /// Committed memory, pages.
    pub num_committed: U64,
    /// Page file size, pages (Linux: 0).
    pub page_file_size: U64,
    /// Zero and free pages (Linux: 0).
    pub zero_free: U64,
    /// Page file writes, pages (Linux: 0).
    pub page_file_writes: U32,
    /// File-cache faults minus page reads (Linux: 0).
    pub io_diff: U32,
}

/// `struct dm_balloon` (§1.11), host → guest, 16 bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_balloon")]
pub struct BalloonRequest {
    /// Header, type 6.
    pub hdr: Header,
    /// Pages to give to the host.
    pub num_pages: U32,
    /// Reserved, zero.
    pub reservedz: U32,
}

/// Fixed part of `struct dm_balloon_response` (§1.12), guest → host, 16 + 8n bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_balloon_response")]
pub struct BalloonResponseHeader {
    /// Header, type 7.
    pub hdr: Header,
    /// Reserved, zero.
    pub reservedz: U32,
    /// Bit 0 `more_pages`, bits 1..31 `range_count`.
    pub flags: U32,
}

impl BalloonResponseHeader {
    /// Bit 0: more responses follow in this transaction.
    pub fn more_pages(&self) -> bool {
        self.flags.get() & 1 != 0
    }
    /// Bits 1..31: number of ranges that follow.
    pub fn range_count(&self) -> u32 {
        self.flags.get() >> 1
    }
    /// Builds the flags word. `range_count` is masked to 31 bits.
    pub const fn flags_word(more_pages: bool, range_count: u32) -> u32 {
        more_pages as u32 | (range_count << 1)
    }
}

/// Fixed part of `struct dm_unballoon_request` (§1.13), host → guest, 16 + 8n bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_unballoon_request")]
pub struct UnballoonRequestHeader {
    /// Header, type 8.
    pub hdr: Header,
    /// Bit 0 `more_pages`; bits 1..31 reserved.
    pub flags: U32,
    /// Number of ranges that follow (a full u32).
    pub range_count: U32,
}

impl UnballoonRequestHeader {
    /// Bit 0: more unballoon requests follow.
    pub fn more_pages(&self) -> bool {
        self.flags.get() & 1 != 0
    }
}

/// `struct dm_unballoon_response` (§1.14): the header alone, type 9, 8 bytes.
#[doc(alias = "dm_unballoon_response")]
pub type UnballoonResponse = Header;

/// `struct dm_hot_add` (§1.15), host → guest: 16 bytes, 24 with the region.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_hot_add")]
pub struct HotAddRequest {
    /// Header, type 10.
    pub hdr: Header,
    /// Pages to back (and add).
    pub range: PageRange,
}

/// `struct dm_hot_add_response` (§1.16), guest → host, 16 bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_hot_add_response")]
pub struct HotAddResponse {
    /// Header, type 11.
    pub hdr: Header,
    /// Pages successfully hot-added.
    pub page_count: U32,
    /// 1 = success (or permanent failure with 0 pages), 0 = transient failure (§6.6).
    pub result: U32,
}

/// Fixed part of `struct dm_info_msg` (§1.17), host → guest, 16 bytes + blob.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_info_msg")]
pub struct InfoMessageHeader {
    /// Header, type 12.
    pub hdr: Header,
    /// Reserved.
    pub reserved: U32,
    /// Size of the info blob that follows.
    pub info_size: U32,
}

/// `struct dm_info_header` (§1.17), 8 bytes at the start of the info blob.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_info_header")]
pub struct InfoHeader {
    /// Info type (`enum dm_info_type`).
    pub ty: U32,
    /// Size of the data after this header.
    pub data_size: U32,
}

/// `enum dm_info_type` (§1.17).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[doc(alias = "dm_info_type")]
pub struct InfoType(pub u32);

impl InfoType {
    /// The maximum dynamic memory size, a u64 page count.
    #[doc(alias = "INFO_TYPE_MAX_PAGE_CNT")]
    pub const MAX_PAGE_CNT: Self = Self(0);

    /// The fact sheet's name, if known.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("INFO_TYPE_MAX_PAGE_CNT"),
            _ => None,
        }
    }
}

hv_open_enum::open_enum_fmt!(InfoType, "info type", 8);

/// `struct dm_hot_remove` (protocol 2.0), host → guest, 24 bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_hot_remove")]
pub struct HotRemoveRequest {
    /// Header, type 13.
    pub hdr: Header,
    /// NUMA node to remove from.
    pub virtual_node: U32,
    /// Pages to remove.
    pub page_count: U32,
    /// Bit 0 `DM_REMOVE_QOS_LARGE`, bit 1 `DM_REMOVE_QOS_LOCAL`.
    pub qos_flags: U32,
    /// Reserved, zero.
    pub reservedz: U32,
}

/// Fixed part of `struct dm_hot_remove_response` (protocol 2.0), guest → host, 24 + 8n bytes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
#[doc(alias = "dm_hot_remove_response")]
pub struct HotRemoveResponseHeader {
    /// Header, type 14.
    pub hdr: Header,
    /// Result: 1 success, 0 failure.
    pub result: U32,
    /// Number of ranges that follow.
    pub range_count: U32,
    /// Bit 0 `more_pages`; bits 1..63 reserved.
    pub flags: U64,
}

impl HotRemoveResponseHeader {
    /// Bit 0: more responses follow.
    pub fn more_pages(&self) -> bool {
        self.flags.get() & 1 != 0
    }
}

/// `DM_REMOVE_QOS_LARGE`: bit 0 of [`HotRemoveRequest::qos_flags`].
pub const HOT_REMOVE_QOS_LARGE: u32 = 1;
/// `DM_REMOVE_QOS_LOCAL`: bit 1 of [`HotRemoveRequest::qos_flags`].
pub const HOT_REMOVE_QOS_LOCAL: u32 = 2;

// Compile-time layout checks (dm-protocol.md §10 table).
const _: () = assert!(size_of::<Header>() == 8);
const _: () = assert!(offset_of!(Header, size) == 2);
const _: () = assert!(offset_of!(Header, trans_id) == 4);
const _: () = assert!(size_of::<PageRange>() == 8);
const _: () = assert!(size_of::<VersionRequest>() == 16);
const _: () = assert!(offset_of!(VersionRequest, version) == 8);
const _: () = assert!(offset_of!(VersionRequest, flags) == 12);
const _: () = assert!(size_of::<VersionResponse>() == 16);
const _: () = assert!(offset_of!(VersionResponse, flags) == 8);
const _: () = assert!(size_of::<CapabilitiesReport>() == 32);
const _: () = assert!(offset_of!(CapabilitiesReport, caps) == 8);
const _: () = assert!(offset_of!(CapabilitiesReport, min_page_cnt) == 16);
const _: () = assert!(offset_of!(CapabilitiesReport, max_page_number) == 24);
const _: () = assert!(size_of::<CapabilitiesResponse>() == 16);
const _: () = assert!(size_of::<StatusReport>() == 48);
const _: () = assert!(offset_of!(StatusReport, num_avail) == 8);
const _: () = assert!(offset_of!(StatusReport, num_committed) == 16);
const _: () = assert!(offset_of!(StatusReport, page_file_size) == 24);
const _: () = assert!(offset_of!(StatusReport, zero_free) == 32);
const _: () = assert!(offset_of!(StatusReport, page_file_writes) == 40);
const _: () = assert!(offset_of!(StatusReport, io_diff) == 44);
const _: () = assert!(size_of::<BalloonRequest>() == 16);
const _: () = assert!(offset_of!(BalloonRequest, num_pages) == 8);
const _: () = assert!(size_of::<BalloonResponseHeader>() == 16);
const _: () = assert!(offset_of!(BalloonResponseHeader, flags) == 12);
const _: () = assert!(size_of::<UnballoonRequestHeader>() == 16);
const _: () = assert!(offset_of!(UnballoonRequestHeader, flags) == 8);
const _: () = assert!(offset_of!(UnballoonRequestHeader, range_count) == 12);
const _: () = assert!(size_of::<HotAddRequest>() == 16);
const _: () = assert!(offset_of!(HotAddRequest, range) == 8);
const _: () = assert!(size_of::<HotAddResponse>() == 16);
const _: () = assert!(offset_of!(HotAddResponse, page_count) == 8);
const _: () = assert!(offset_of!(HotAddResponse, result) == 12);
const _: () = assert!(size_of::<InfoMessageHeader>() == 16);
const _: () = assert!(offset_of!(InfoMessageHeader, info_size) == 12);
const _: () = assert!(size_of::<InfoHeader>() == 8);
const _: () = assert!(size_of::<HotRemoveRequest>() == 24);
const _: () = assert!(offset_of!(HotRemoveRequest, page_count) == 12);
const _: () = assert!(offset_of!(HotRemoveRequest, qos_flags) == 16);
const _: () = assert!(size_of::<HotRemoveResponseHeader>() == 24);
const _: () = assert!(offset_of!(HotRemoveResponseHeader, range_count) == 12);
const _: () = assert!(offset_of!(HotRemoveResponseHeader, flags) == 16);
const _: () = assert!(MAX_RANGES_PER_MESSAGE == 510);
