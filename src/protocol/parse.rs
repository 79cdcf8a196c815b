//! The DM message parser: bytes in, a typed [`Message`] or a typed [`ParseError`] out.
//!
//! Rules (stricter than Linux, which trusts the host):
//! - at least the 8-byte header must be present;
//! - the header's `size` must not exceed the bytes received, and the bytes received may exceed
//!   `size` only by VMBus padding (up to the next multiple of 8);
//! - `size` must reach the message type's minimum;
//! - a count field is checked against the bytes: the message must be exactly its fixed part
//!   plus `count` ranges;
//! - page ranges in host requests must lie inside the 40-bit frame space (no wrap-around).

use core::fmt;

use zerocopy::FromBytes;

use super::wire::*;

/// Why a byte string is not a valid DM message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than the 8-byte header.
    #[error("message of {len} bytes is shorter than the 8-byte DM header")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// The header's size field claims more bytes than were received.
    #[error("header size {size} is larger than the {received} bytes received")]
    SizeLargerThanPacket {
        /// The header's size field.
        size: u16,
        /// Bytes received.
        received: usize,
    },
    /// The header's size field is smaller than the packet by more than VMBus padding.
    #[error("header size {size} is smaller than the {received} bytes received (beyond padding)")]
    SizeSmallerThanPacket {
        /// The header's size field.
        size: u16,
        /// Bytes received.
        received: usize,
    },
    /// The message is shorter than its type's fixed part.
    #[error("{ty} needs at least {min} bytes, header size is {size}")]
    TooSmallForType {
        /// Message type.
        ty: MessageType,
        /// The header's size field.
        size: u16,
        /// Minimum size for this type.
        min: usize,
    },
    /// A count field does not match the bytes present.
    #[error(
        "{ty} says {count} ranges, but its size {size} holds {fixed} + 8 x n bytes with n = {actual}"
    )]
    CountMismatch {
        /// Message type.
        ty: MessageType,
        /// The count field.
        count: u32,
        /// The header's size field.
        size: u16,
        /// Size of the fixed part.
        fixed: usize,
        /// Ranges the bytes actually hold (rounded down).
        actual: usize,
    },
    /// A fixed-size message has a size other than its own.
    #[error("{ty} must be {expected} bytes, header size is {size}")]
    WrongSize {
        /// Message type.
        ty: MessageType,
        /// The header's size field.
        size: u16,
        /// Expected size.
        expected: usize,
    },
    /// A page range runs past the 40-bit frame space.
    #[error("{ty} range #{index} {range:?} runs past the 40-bit frame space")]
    RangeBeyondFrameSpace {
        /// Message type.
        ty: MessageType,
        /// Index of the range in the message (0 = the hot-add range, 1 = its region).
        index: usize,
        /// The offending range.
        range: PageRange,
    },
    /// The info blob does not fit the message, or the info is malformed.
    #[error("DM_INFO_MESSAGE malformed: {0}")]
    BadInfo(&'static str),
    /// The message type is not one of 0–14.
    #[error("unknown DM message type {0}")]
    UnknownType(u16),
}

/// Contents of a `DM_INFO_MESSAGE`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Info<'a> {
    /// `INFO_TYPE_MAX_PAGE_CNT`: the maximum dynamic memory size in 4 KiB pages.
    MaxPageCount(u64),
    /// Any other info type, passed through.
    Other {
        /// The info type.
        ty: InfoType,
        /// Its data bytes.
        data: &'a [u8],
    },
}

impl fmt::Debug for Info<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Info::MaxPageCount(n) => write!(f, "MaxPageCount({n})"),
            Info::Other { ty, data } => write!(f, "Other({ty:?}, {} bytes)", data.len()),
        }
    }
}

/// One parsed DM message, borrowing the bytes it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// `DM_ERROR` (no payload is defined; the bytes after the header are passed through).
    Error {
        /// Header.
        hdr: &'a Header,
        /// Bytes after the header.
        payload: &'a [u8],
    },
    /// `DM_VERSION_REQUEST`.
    VersionRequest(&'a VersionRequest),
    /// `DM_VERSION_RESPONSE`.
    VersionResponse(&'a VersionResponse),
    /// `DM_CAPABILITIES_REPORT`.
    CapabilitiesReport(&'a CapabilitiesReport),
    /// `DM_CAPABILITIES_RESPONSE`.
    CapabilitiesResponse(&'a CapabilitiesResponse),
    /// `DM_STATUS_REPORT`.
    StatusReport(&'a StatusReport),
    /// `DM_BALLOON_REQUEST`.
    BalloonRequest(&'a BalloonRequest),
    /// `DM_BALLOON_RESPONSE` with its ranges.
    BalloonResponse {
        /// Fixed part.
        hdr: &'a BalloonResponseHeader,
        /// Exactly `range_count` ranges.
        ranges: &'a [PageRange],
    },
    /// `DM_UNBALLOON_REQUEST` with its ranges.
    UnballoonRequest {
        /// Fixed part.
        hdr: &'a UnballoonRequestHeader,
        /// Exactly `range_count` ranges.
        ranges: &'a [PageRange],
    },
    /// `DM_UNBALLOON_RESPONSE`.
    UnballoonResponse(&'a Header),
    /// `DM_MEM_HOT_ADD_REQUEST`, with the optional region.
    HotAddRequest {
        /// Fixed part.
        req: &'a HotAddRequest,
        /// The hot-add region, present when the message is 24 bytes.
        region: Option<PageRange>,
    },
    /// `DM_MEM_HOT_ADD_RESPONSE`.
    HotAddResponse(&'a HotAddResponse),
    /// `DM_INFO_MESSAGE`.
    InfoMessage {
        /// Fixed part.
        hdr: &'a InfoMessageHeader,
        /// The decoded info.
        info: Info<'a>,
    },
    /// `DM_MEM_HOT_REMOVE_REQUEST`.
    HotRemoveRequest(&'a HotRemoveRequest),
    /// `DM_MEM_HOT_REMOVE_RESPONSE` with its ranges.
    HotRemoveResponse {
        /// Fixed part.
        hdr: &'a HotRemoveResponseHeader,
        /// Exactly `range_count` ranges.
        ranges: &'a [PageRange],
    },
}

impl<'a> Message<'a> {
    /// The message's header.
    pub fn header(&self) -> &'a Header {
        match *self {
            Message::Error { hdr, .. } => hdr,
            Message::VersionRequest(m) => &m.hdr,
            Message::VersionResponse(m) => &m.hdr,
            Message::CapabilitiesReport(m) => &m.hdr,
            Message::CapabilitiesResponse(m) => &m.hdr,
            Message::StatusReport(m) => &m.hdr,
            Message::BalloonRequest(m) => &m.hdr,
            Message::BalloonResponse { hdr, .. } => &hdr.hdr,
            Message::UnballoonRequest { hdr, .. } => &hdr.hdr,
            Message::UnballoonResponse(h) => h,
            Message::HotAddRequest { req, .. } => &req.hdr,
            Message::HotAddResponse(m) => &m.hdr,
            Message::InfoMessage { hdr, .. } => &hdr.hdr,
            Message::HotRemoveRequest(m) => &m.hdr,
            Message::HotRemoveResponse { hdr, .. } => &hdr.hdr,
        }
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        self.header().message_type()
    }
}

/// Reads a fixed-size struct at the start of `msg` (already length-checked by the caller).
fn fixed<T: FromBytes + zerocopy::KnownLayout + zerocopy::Immutable>(
    msg: &[u8],
    ty: MessageType,
    size: u16,
) -> Result<&T, ParseError> {
    T::ref_from_prefix(msg)
        .map(|(t, _)| t)
        .map_err(|_| ParseError::TooSmallForType {
            ty,
            size,
            min: core::mem::size_of::<T>(),
        })
}

/// Splits `msg` into its fixed part `T` and exactly `count` ranges.
fn counted<T: FromBytes + zerocopy::KnownLayout + zerocopy::Immutable>(
    msg: &[u8],
    ty: MessageType,
    size: u16,
    count: impl Fn(&T) -> u32,
) -> Result<(&T, &[PageRange]), ParseError> {
    let fixed_len = core::mem::size_of::<T>();
    let (head, rest) = T::ref_from_prefix(msg).map_err(|_| ParseError::TooSmallForType {
        ty,
        size,
        min: fixed_len,
    })?;
    let n = count(head);
    let actual = rest.len() / 8;
    if rest.len() % 8 != 0 || u32::try_from(actual).ok() != Some(n) {
        return Err(ParseError::CountMismatch {
            ty,
            count: n,
            size,
            fixed: fixed_len,
            actual,
        });
    }
    let ranges = <[PageRange]>::ref_from_bytes(rest).map_err(|_| ParseError::CountMismatch {
        ty,
        count: n,
        size,
        fixed: fixed_len,
        actual,
    })?;
    Ok((head, ranges))
}

fn check_frame_space(ty: MessageType, ranges: &[PageRange]) -> Result<(), ParseError> {
    for (index, r) in ranges.iter().enumerate() {
        if r.end_page() > FRAME_SPACE_END {
            return Err(ParseError::RangeBeyondFrameSpace {
                ty,
                index,
                range: *r,
            });
        }
    }
    Ok(())
}

fn exact(ty: MessageType, size: u16, expected: usize) -> Result<(), ParseError> {
    if usize::from(size) < expected {
        Err(ParseError::TooSmallForType {
            ty,
            size,
            min: expected,
        })
    } else if usize::from(size) != expected {
        Err(ParseError::WrongSize { ty, size, expected })
    } else {
        Ok(())
    }
}

/// Parses one DM message from the bytes of one VMBus packet payload.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, ParseError> {
    let (hdr, _) =
        Header::ref_from_prefix(bytes).map_err(|_| ParseError::TooShort { len: bytes.len() })?;
    let size = hdr.size.get();
    let received = bytes.len();
    if usize::from(size) > received {
        return Err(ParseError::SizeLargerThanPacket { size, received });
    }
    if received > usize::from(size).next_multiple_of(8) {
        return Err(ParseError::SizeSmallerThanPacket { size, received });
    }
    let msg = bytes.get(..usize::from(size)).unwrap_or(bytes);
    let ty = hdr.message_type();
    let m = match ty {
        MessageType::ERROR => {
            if msg.len() < 8 {
                return Err(ParseError::TooSmallForType { ty, size, min: 8 });
            }
            Message::Error {
                hdr,
                payload: msg.get(8..).unwrap_or(&[]),
            }
        }
        MessageType::VERSION_REQUEST => {
            exact(ty, size, 16)?;
            Message::VersionRequest(fixed(msg, ty, size)?)
        }
        MessageType::VERSION_RESPONSE => {
            exact(ty, size, 16)?;
            Message::VersionResponse(fixed(msg, ty, size)?)
        }
        MessageType::CAPABILITIES_REPORT => {
            exact(ty, size, 32)?;
            Message::CapabilitiesReport(fixed(msg, ty, size)?)
        }
        MessageType::CAPABILITIES_RESPONSE => {
            exact(ty, size, 16)?;
            Message::CapabilitiesResponse(fixed(msg, ty, size)?)
        }
        MessageType::STATUS_REPORT => {
            exact(ty, size, 48)?;
            Message::StatusReport(fixed(msg, ty, size)?)
        }
        MessageType::BALLOON_REQUEST => {
            exact(ty, size, 16)?;
            Message::BalloonRequest(fixed(msg, ty, size)?)
        }
        MessageType::BALLOON_RESPONSE => {
            let (hdr, ranges) =
                counted::<BalloonResponseHeader>(msg, ty, size, |h| h.range_count())?;
            Message::BalloonResponse { hdr, ranges }
        }
        MessageType::UNBALLOON_REQUEST => {
            let (hdr, ranges) =
                counted::<UnballoonRequestHeader>(msg, ty, size, |h| h.range_count.get())?;
            check_frame_space(ty, ranges)?;
            Message::UnballoonRequest { hdr, ranges }
        }
        MessageType::UNBALLOON_RESPONSE => {
            exact(ty, size, 8)?;
            Message::UnballoonResponse(hdr)
        }
        MessageType::MEM_HOT_ADD_REQUEST => {
            if size != 16 && size != 24 {
                return Err(if size < 16 {
                    ParseError::TooSmallForType { ty, size, min: 16 }
                } else {
                    ParseError::WrongSize {
                        ty,
                        size,
                        expected: 24,
                    }
                });
            }
            let req: &HotAddRequest = fixed(msg, ty, size)?;
            let region = match msg.get(16..24) {
                Some(b) if size == 24 => PageRange::read_from_bytes(b).ok(),
                _ => None,
            };
            check_frame_space(ty, &[req.range])?;
            if let Some(r) = region {
                if r.end_page() > FRAME_SPACE_END {
                    return Err(ParseError::RangeBeyondFrameSpace {
                        ty,
                        index: 1,
                        range: r,
                    });
                }
            }
            Message::HotAddRequest { req, region }
        }
        MessageType::MEM_HOT_ADD_RESPONSE => {
            exact(ty, size, 16)?;
            Message::HotAddResponse(fixed(msg, ty, size)?)
        }
        MessageType::INFO_MESSAGE => {
            let (ih, blob) = InfoMessageHeader::ref_from_prefix(msg)
                .map_err(|_| ParseError::TooSmallForType { ty, size, min: 16 })?;
            let info_size = ih.info_size.get() as usize;
            let blob = blob
                .get(..info_size)
                .ok_or(ParseError::BadInfo("info_size exceeds the message"))?;
            let (info_hdr, data) = InfoHeader::ref_from_prefix(blob)
                .map_err(|_| ParseError::BadInfo("info blob shorter than its 8-byte header"))?;
            let data = data
                .get(..info_hdr.data_size.get() as usize)
                .ok_or(ParseError::BadInfo("data_size exceeds the info blob"))?;
            let info_ty = InfoType(info_hdr.ty.get());
            let info = if info_ty == InfoType::MAX_PAGE_CNT {
                let v = <[u8; 8]>::try_from(data).map_err(|_| {
                    ParseError::BadInfo("INFO_TYPE_MAX_PAGE_CNT data_size is not 8")
                })?;
                Info::MaxPageCount(u64::from_le_bytes(v))
            } else {
                Info::Other { ty: info_ty, data }
            };
            Message::InfoMessage { hdr: ih, info }
        }
        MessageType::MEM_HOT_REMOVE_REQUEST => {
            exact(ty, size, 24)?;
            Message::HotRemoveRequest(fixed(msg, ty, size)?)
        }
        MessageType::MEM_HOT_REMOVE_RESPONSE => {
            let (hdr, ranges) =
                counted::<HotRemoveResponseHeader>(msg, ty, size, |h| h.range_count.get())?;
            Message::HotRemoveResponse { hdr, ranges }
        }
        MessageType(other) => return Err(ParseError::UnknownType(other)),
    };
    Ok(m)
}
