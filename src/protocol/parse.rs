//! The DM message parser: bytes in, a typed [`Message`] or a typed [`ParseError`] out.
//!
//! Linux reads every field from a zeroed 4096-byte buffer and checks no length at all. We
//! refuse what cannot be read safely and, like Linux, ignore what is merely extra:
//!
//! Refused (a [`ParseError`]):
//! - fewer than the 8-byte header;
//! - a header `size` larger than the bytes received (a truncated message);
//! - a `size` below the message type's fixed part (hot-add: a region cut short, 17–23 bytes);
//! - a count field naming more ranges than `size` holds;
//! - a page range of a host request running past the 40-bit frame space (no wrap-around);
//! - an info blob whose header or data run past the message.
//!
//! Tolerated (the message is accepted and [`Tolerated`] says what was ignored):
//! - bytes received after `size` (VMBus pads to 8; more is ignored too);
//! - a fixed-size message longer than its structure, a hot-add longer than 24 bytes, a counted
//!   message holding more than `count` ranges: the bytes after the defined fields are ignored;
//! - an `info_size` other than the info header plus its data.
//!
//! [`refused_request`] recognises a host *request* the parser refused, so the driver can still
//! answer it (a host waits for every answer).

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
    /// The message is shorter than its type's fixed part.
    #[error("{ty:?} needs at least {min} bytes, header size is {size}")]
    TooSmallForType {
        /// Message type.
        ty: MessageType,
        /// The header's size field.
        size: u16,
        /// Minimum size for this type.
        min: usize,
    },
    /// A count field names more ranges than the message holds.
    #[error(
        "{ty:?} says {count} ranges, but its size {size} holds {fixed} + 8 x n bytes with n = {actual}"
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
    /// A page range runs past the 40-bit frame space.
    #[error("{ty:?} range #{index} {range:?} runs past the 40-bit frame space")]
    RangeBeyondFrameSpace {
        /// Message type.
        ty: MessageType,
        /// Index of the range in the message (0 = the hot-add range, 1 = its region).
        index: usize,
        /// The offending range.
        range: PageRange,
    },
    /// The info header or its data run past the message, or the info is malformed.
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

/// What the parser ignored in an accepted message (all zero / `None` for a canonical one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tolerated {
    /// Bytes received after `size` beyond VMBus padding (`size` rounded up to 8), or 0.
    pub excess_bytes: usize,
    /// Bytes inside `size` after the fields the message defines (a fixed-size message longer
    /// than its structure, a hot-add longer than 24 bytes, ranges beyond `range_count`).
    pub ignored_bytes: usize,
    /// For `DM_INFO_MESSAGE`: the `info_size` that would have been right (8 + `data_size`),
    /// when the message's `info_size` differs from it.
    pub info_size_expected: Option<u32>,
}

impl Tolerated {
    /// True if nothing was tolerated.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

/// An accepted message and what the parser ignored in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The message.
    pub message: Message<'a>,
    /// What was ignored.
    pub tolerated: Tolerated,
}

/// A host request the parser refused, with what the driver needs to answer it anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusedRequest {
    /// `DM_BALLOON_REQUEST`, `DM_UNBALLOON_REQUEST`, `DM_MEM_HOT_ADD_REQUEST` or
    /// `DM_MEM_HOT_REMOVE_REQUEST`.
    pub ty: MessageType,
    /// The header's transaction id.
    pub trans_id: u32,
    /// `DM_UNBALLOON_REQUEST` only: its `more_pages` flag when the flag word lies inside both
    /// `size` and the bytes received; otherwise `false` (answer now rather than never).
    pub more_pages: bool,
}

/// If `bytes` start with the header of a host request (balloon, unballoon, hot-add,
/// hot-remove), what is needed to answer it. Meant for bytes [`parse`] refused.
pub fn refused_request(bytes: &[u8]) -> Option<RefusedRequest> {
    let (hdr, _) = Header::ref_from_prefix(bytes).ok()?;
    let ty = hdr.message_type();
    if !matches!(
        ty,
        MessageType::BALLOON_REQUEST
            | MessageType::UNBALLOON_REQUEST
            | MessageType::MEM_HOT_ADD_REQUEST
            | MessageType::MEM_HOT_REMOVE_REQUEST
    ) {
        return None;
    }
    let readable = bytes.len().min(usize::from(hdr.size.get()));
    let more_pages = ty == MessageType::UNBALLOON_REQUEST
        && readable >= 12
        && bytes.get(8).is_some_and(|b| b & 1 != 0);
    Some(RefusedRequest {
        ty,
        trans_id: hdr.trans_id.get(),
        more_pages,
    })
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

/// Splits `msg` into its fixed part `T` and its first `count` ranges; also returns how many
/// bytes follow them (ignored).
fn counted<T: FromBytes + zerocopy::KnownLayout + zerocopy::Immutable>(
    msg: &[u8],
    ty: MessageType,
    size: u16,
    count: impl Fn(&T) -> u32,
) -> Result<(&T, &[PageRange], usize), ParseError> {
    let fixed_len = core::mem::size_of::<T>();
    let (head, rest) = T::ref_from_prefix(msg).map_err(|_| ParseError::TooSmallForType {
        ty,
        size,
        min: fixed_len,
    })?;
    let n = count(head);
    let actual = rest.len() / 8;
    let mismatch = ParseError::CountMismatch {
        ty,
        count: n,
        size,
        fixed: fixed_len,
        actual,
    };
    let wanted = usize::try_from(n).map_err(|_| mismatch)?;
    if wanted > actual {
        return Err(mismatch);
    }
    let (ranges, _) =
        <[PageRange]>::ref_from_prefix_with_elems(rest, wanted).map_err(|_| mismatch)?;
    Ok((head, ranges, rest.len() - wanted * 8))
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

/// A fixed-size message: at least `expected` bytes; returns the bytes after them (ignored).
fn at_least(ty: MessageType, size: u16, expected: usize) -> Result<usize, ParseError> {
    usize::from(size)
        .checked_sub(expected)
        .ok_or(ParseError::TooSmallForType {
            ty,
            size,
            min: expected,
        })
}

/// Parses one DM message from the bytes of one VMBus packet payload.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, ParseError> {
    parse_detailed(bytes).map(|p| p.message)
}

/// [`parse`], also saying what was tolerated.
pub fn parse_detailed(bytes: &[u8]) -> Result<Parsed<'_>, ParseError> {
    parse_inner(bytes, true)
}

/// [`parse_detailed`] without the 40-bit frame-space check on request ranges, for decoders
/// that show such a message (the driver refuses it: [`parse`] returns
/// [`ParseError::RangeBeyondFrameSpace`]).
pub fn parse_unchecked_ranges(bytes: &[u8]) -> Result<Parsed<'_>, ParseError> {
    parse_inner(bytes, false)
}

fn parse_inner(bytes: &[u8], check_frames: bool) -> Result<Parsed<'_>, ParseError> {
    let (hdr, _) =
        Header::ref_from_prefix(bytes).map_err(|_| ParseError::TooShort { len: bytes.len() })?;
    let size = hdr.size.get();
    let received = bytes.len();
    if usize::from(size) > received {
        return Err(ParseError::SizeLargerThanPacket { size, received });
    }
    let mut tolerated = Tolerated::default();
    if received > usize::from(size).next_multiple_of(8) {
        tolerated.excess_bytes = received - usize::from(size);
    }
    let msg = bytes.get(..usize::from(size)).unwrap_or(bytes);
    let ty = hdr.message_type();
    let frames = |ranges: &[PageRange]| {
        if check_frames {
            check_frame_space(ty, ranges)
        } else {
            Ok(())
        }
    };
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
            tolerated.ignored_bytes = at_least(ty, size, 16)?;
            Message::VersionRequest(fixed(msg, ty, size)?)
        }
        MessageType::VERSION_RESPONSE => {
            tolerated.ignored_bytes = at_least(ty, size, 16)?;
            Message::VersionResponse(fixed(msg, ty, size)?)
        }
        MessageType::CAPABILITIES_REPORT => {
            tolerated.ignored_bytes = at_least(ty, size, 32)?;
            Message::CapabilitiesReport(fixed(msg, ty, size)?)
        }
        MessageType::CAPABILITIES_RESPONSE => {
            tolerated.ignored_bytes = at_least(ty, size, 16)?;
            Message::CapabilitiesResponse(fixed(msg, ty, size)?)
        }
        MessageType::STATUS_REPORT => {
            tolerated.ignored_bytes = at_least(ty, size, 48)?;
            Message::StatusReport(fixed(msg, ty, size)?)
        }
        MessageType::BALLOON_REQUEST => {
            tolerated.ignored_bytes = at_least(ty, size, 16)?;
            Message::BalloonRequest(fixed(msg, ty, size)?)
        }
        MessageType::BALLOON_RESPONSE => {
            let (hdr, ranges, extra) =
                counted::<BalloonResponseHeader>(msg, ty, size, |h| h.range_count())?;
            tolerated.ignored_bytes = extra;
            Message::BalloonResponse { hdr, ranges }
        }
        MessageType::UNBALLOON_REQUEST => {
            let (hdr, ranges, extra) =
                counted::<UnballoonRequestHeader>(msg, ty, size, |h| h.range_count.get())?;
            frames(ranges)?;
            tolerated.ignored_bytes = extra;
            Message::UnballoonRequest { hdr, ranges }
        }
        MessageType::UNBALLOON_RESPONSE => {
            tolerated.ignored_bytes = at_least(ty, size, 8)?;
            Message::UnballoonResponse(hdr)
        }
        MessageType::MEM_HOT_ADD_REQUEST => {
            // Linux: exactly 16 bytes means "no region"; any other size reads the region at
            // offset 16. A region cut short (17..23) cannot be read.
            let min = if size <= 16 { 16 } else { 24 };
            let extra = at_least(ty, size, min)?;
            let req: &HotAddRequest = fixed(msg, ty, size)?;
            let region = match msg.get(16..24) {
                Some(b) if size >= 24 => PageRange::read_from_bytes(b).ok(),
                _ => None,
            };
            frames(&[req.range])?;
            if let Some(r) = region {
                if check_frames && r.end_page() > FRAME_SPACE_END {
                    return Err(ParseError::RangeBeyondFrameSpace {
                        ty,
                        index: 1,
                        range: r,
                    });
                }
            }
            tolerated.ignored_bytes = extra;
            Message::HotAddRequest { req, region }
        }
        MessageType::MEM_HOT_ADD_RESPONSE => {
            tolerated.ignored_bytes = at_least(ty, size, 16)?;
            Message::HotAddResponse(fixed(msg, ty, size)?)
        }
        MessageType::INFO_MESSAGE => {
            // Linux reads the info header at offset 16 and its data after it, and never looks
            // at `info_size`; we only require both to lie inside the message.
            let (ih, blob) = InfoMessageHeader::ref_from_prefix(msg)
                .map_err(|_| ParseError::TooSmallForType { ty, size, min: 16 })?;
            let (info_hdr, data) = InfoHeader::ref_from_prefix(blob)
                .map_err(|_| ParseError::BadInfo("info blob shorter than its 8-byte header"))?;
            let data_size = info_hdr.data_size.get();
            let data = data
                .get(..data_size as usize)
                .ok_or(ParseError::BadInfo("data_size exceeds the message"))?;
            let needed = 8 + data_size;
            if ih.info_size.get() != needed {
                tolerated.info_size_expected = Some(needed);
            }
            tolerated.ignored_bytes = blob.len() - 8 - data.len();
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
            tolerated.ignored_bytes = at_least(ty, size, 24)?;
            Message::HotRemoveRequest(fixed(msg, ty, size)?)
        }
        MessageType::MEM_HOT_REMOVE_RESPONSE => {
            let (hdr, ranges, extra) =
                counted::<HotRemoveResponseHeader>(msg, ty, size, |h| h.range_count.get())?;
            tolerated.ignored_bytes = extra;
            Message::HotRemoveResponse { hdr, ranges }
        }
        MessageType(other) => return Err(ParseError::UnknownType(other)),
    };
    Ok(Parsed {
        message: m,
        tolerated,
    })
}
