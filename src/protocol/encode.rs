//! Building DM messages: constructors for every fixed part and [`write_message`] to lay a
//! fixed part plus its page ranges into a caller's buffer (no allocation).

use alloc::vec::Vec;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{Immutable, IntoBytes};

use super::wire::*;

/// Why a message could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The message does not fit the buffer (or the 16-bit size field).
    #[error("message of {needed} bytes does not fit the {available} byte buffer")]
    TooLarge {
        /// Bytes the message needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// Writes `fixed` followed by `ranges` into `buf` and patches the header's size to the total.
/// The fixed part must start with a [`Header`]. Returns the message length.
pub fn write_message<T: IntoBytes + Immutable>(
    buf: &mut [u8],
    fixed: &T,
    ranges: &[PageRange],
) -> Result<usize, EncodeError> {
    let head = fixed.as_bytes();
    let total = head.len() + ranges.len() * 8;
    let available = buf.len().min(usize::from(u16::MAX));
    if total > available || head.len() < 8 {
        return Err(EncodeError::TooLarge {
            needed: total,
            available,
        });
    }
    let (h, rest) = buf.split_at_mut(head.len());
    h.copy_from_slice(head);
    let r = rest
        .get_mut(..ranges.len() * 8)
        .ok_or(EncodeError::TooLarge {
            needed: total,
            available,
        })?;
    r.copy_from_slice(ranges.as_bytes());
    // total <= u16::MAX was checked above.
    let size = (total as u16).to_le_bytes();
    h[2..4].copy_from_slice(&size);
    Ok(total)
}

/// [`write_message`] into a fresh vector (host side and tools).
pub fn to_vec<T: IntoBytes + Immutable>(fixed: &T, ranges: &[PageRange]) -> Vec<u8> {
    let mut v = alloc::vec![0u8; fixed.as_bytes().len() + ranges.len() * 8];
    match write_message(&mut v, fixed, ranges) {
        Ok(n) => v.truncate(n),
        // Only reachable for > 64 KiB messages: keep the raw bytes (size field left as given).
        Err(_) => {
            v.clear();
            v.extend_from_slice(fixed.as_bytes());
            v.extend_from_slice(ranges.as_bytes());
        }
    }
    v
}

/// `DM_VERSION_REQUEST`.
pub fn version_request(trans_id: u32, version: Version, is_last_attempt: bool) -> VersionRequest {
    VersionRequest {
        hdr: Header::new(MessageType::VERSION_REQUEST, 16, trans_id),
        version: U32::new(version.0),
        flags: U32::new(is_last_attempt as u32),
    }
}

/// `DM_VERSION_RESPONSE`.
pub fn version_response(trans_id: u32, is_accepted: bool) -> VersionResponse {
    VersionResponse {
        hdr: Header::new(MessageType::VERSION_RESPONSE, 16, trans_id),
        flags: U64::new(is_accepted as u64),
    }
}

/// `DM_CAPABILITIES_REPORT`.
pub fn capabilities_report(
    trans_id: u32,
    caps: Caps,
    min_page_cnt: u64,
    max_page_number: u64,
) -> CapabilitiesReport {
    CapabilitiesReport {
        hdr: Header::new(MessageType::CAPABILITIES_REPORT, 32, trans_id),
        caps: U64::new(caps.0),
        min_page_cnt: U64::new(min_page_cnt),
        max_page_number: U64::new(max_page_number),
    }
}

/// `DM_CAPABILITIES_RESPONSE`.
pub fn capabilities_response(
    trans_id: u32,
    is_accepted: bool,
    hot_remove: bool,
    suppress_pressure_reports: bool,
) -> CapabilitiesResponse {
    CapabilitiesResponse {
        hdr: Header::new(MessageType::CAPABILITIES_RESPONSE, 16, trans_id),
        flags: U64::new(CapabilitiesResponse::flags_word(
            is_accepted,
            hot_remove,
            suppress_pressure_reports,
        )),
    }
}

/// `DM_STATUS_REPORT` (the Linux fields: the four others are zero).
pub fn status_report(trans_id: u32, num_avail: u64, num_committed: u64) -> StatusReport {
    StatusReport {
        hdr: Header::new(MessageType::STATUS_REPORT, 48, trans_id),
        num_avail: U64::new(num_avail),
        num_committed: U64::new(num_committed),
        page_file_size: U64::new(0),
        zero_free: U64::new(0),
        page_file_writes: U32::new(0),
        io_diff: U32::new(0),
    }
}

/// `DM_BALLOON_REQUEST`.
pub fn balloon_request(trans_id: u32, num_pages: u32) -> BalloonRequest {
    BalloonRequest {
        hdr: Header::new(MessageType::BALLOON_REQUEST, 16, trans_id),
        num_pages: U32::new(num_pages),
        reservedz: U32::new(0),
    }
}

/// Fixed part of `DM_BALLOON_RESPONSE` (size is patched by [`write_message`]).
pub fn balloon_response(
    trans_id: u32,
    more_pages: bool,
    range_count: u32,
) -> BalloonResponseHeader {
    BalloonResponseHeader {
        hdr: Header::new(MessageType::BALLOON_RESPONSE, 16, trans_id),
        reservedz: U32::new(0),
        flags: U32::new(BalloonResponseHeader::flags_word(more_pages, range_count)),
    }
}

/// Fixed part of `DM_UNBALLOON_REQUEST`.
pub fn unballoon_request(
    trans_id: u32,
    more_pages: bool,
    range_count: u32,
) -> UnballoonRequestHeader {
    UnballoonRequestHeader {
        hdr: Header::new(MessageType::UNBALLOON_REQUEST, 16, trans_id),
        flags: U32::new(more_pages as u32),
        range_count: U32::new(range_count),
    }
}

/// `DM_UNBALLOON_RESPONSE`.
pub fn unballoon_response(trans_id: u32) -> Header {
    Header::new(MessageType::UNBALLOON_RESPONSE, 8, trans_id)
}

/// `DM_MEM_HOT_ADD_REQUEST` (16 bytes; pass the region as a trailing range for 24).
pub fn hot_add_request(trans_id: u32, range: PageRange) -> HotAddRequest {
    HotAddRequest {
        hdr: Header::new(MessageType::MEM_HOT_ADD_REQUEST, 16, trans_id),
        range,
    }
}

/// `DM_MEM_HOT_ADD_RESPONSE`.
pub fn hot_add_response(trans_id: u32, page_count: u32, result: bool) -> HotAddResponse {
    HotAddResponse {
        hdr: Header::new(MessageType::MEM_HOT_ADD_RESPONSE, 16, trans_id),
        page_count: U32::new(page_count),
        result: U32::new(result as u32),
    }
}

/// A complete 32-byte `DM_INFO_MESSAGE` carrying `INFO_TYPE_MAX_PAGE_CNT`.
pub fn info_max_page_count(trans_id: u32, max_page_count: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    let fixed = InfoMessageHeader {
        hdr: Header::new(MessageType::INFO_MESSAGE, 32, trans_id),
        reserved: U32::new(0),
        info_size: U32::new(16),
    };
    let ih = InfoHeader {
        ty: U32::new(InfoType::MAX_PAGE_CNT.0),
        data_size: U32::new(8),
    };
    b[..16].copy_from_slice(fixed.as_bytes());
    b[16..24].copy_from_slice(ih.as_bytes());
    b[24..].copy_from_slice(&max_page_count.to_le_bytes());
    b
}

/// `DM_MEM_HOT_REMOVE_REQUEST`.
pub fn hot_remove_request(
    trans_id: u32,
    virtual_node: u32,
    page_count: u32,
    qos_flags: u32,
) -> HotRemoveRequest {
    HotRemoveRequest {
        hdr: Header::new(MessageType::MEM_HOT_REMOVE_REQUEST, 24, trans_id),
        virtual_node: U32::new(virtual_node),
        page_count: U32::new(page_count),
        qos_flags: U32::new(qos_flags),
        reservedz: U32::new(0),
    }
}

/// Fixed part of `DM_MEM_HOT_REMOVE_RESPONSE`.
pub fn hot_remove_response(
    trans_id: u32,
    result: bool,
    range_count: u32,
    more_pages: bool,
) -> HotRemoveResponseHeader {
    HotRemoveResponseHeader {
        hdr: Header::new(MessageType::MEM_HOT_REMOVE_RESPONSE, 24, trans_id),
        result: U32::new(result as u32),
        range_count: U32::new(range_count),
        flags: U64::new(more_pages as u64),
    }
}
