//! `dm_parse`: the DM message parser ([`hv_dynmem::protocol::parse()`]) on arbitrary bytes.
//!
//! Asserts, for every input:
//! - `parse` returns (never panics); an error renders a non-empty message;
//! - an accepted message obeys the parser's own rules: `size` ≥ 8, `size` ≤ bytes received,
//!   the type is the header's type, counted ranges fit inside `size`, host-request ranges stay
//!   inside the 40-bit frame space, and what [`Tolerated`] reports is what the bytes show
//!   (bytes after `size` beyond VMBus padding, bytes inside `size` after the fields);
//! - round trip: the value re-encoded with the crate's encoders (`write_message` and the
//!   fixed-part constructors' types) is exactly the first `size` bytes received when nothing
//!   was tolerated; otherwise it is those bytes minus the ignored ones, with only the size
//!   field changed, and it parses to the same fields. `DM_INFO_MESSAGE` is rebuilt from its
//!   decoded parts (the blob may carry slack the value does not keep), so only the value is
//!   compared; `INFO_TYPE_MAX_PAGE_CNT` is also rebuilt with `encode::info_max_page_count`;
//! - the JSON decoder (`hv-dynmem decode`) accepts what `parse` accepts, shows a request
//!   `parse` refuses for a range past the frame space (saying so under `"problems"`), and
//!   refuses everything else `parse` refuses, with the same error.

use hv_dynmem::protocol::{
    FRAME_SPACE_END, Info, InfoHeader, InfoType, Message, MessageType, PageRange, ParseError,
    Tolerated, encode, json, parse, parse_detailed,
};
use zerocopy::IntoBytes;
use zerocopy::little_endian::U32;

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let (m, tolerated) = match parse_detailed(data) {
        Ok(p) => (p.message, p.tolerated),
        Err(e) => {
            assert!(!format!("{e}").is_empty());
            if matches!(e, ParseError::RangeBeyondFrameSpace { .. }) {
                let text = json::decode(data).expect("decode shows a refused range");
                assert!(
                    text.contains("\"problems\"") && text.contains("frame space: the driver refuses"),
                    "the refusal is flagged: {text}"
                );
            } else {
                assert_eq!(
                    json::decode(data).err(),
                    Some(e),
                    "decode and parse disagree"
                );
            }
            return;
        }
    };
    assert_eq!(parse(data), Ok(m), "parse and parse_detailed disagree");
    let hdr = m.header();
    let size = usize::from(hdr.size.get());
    assert!(size >= 8, "accepted a message with size {size}");
    assert!(
        size <= data.len(),
        "size {size} beyond {} bytes",
        data.len()
    );
    let padded = size.next_multiple_of(8);
    assert_eq!(
        tolerated.excess_bytes,
        if data.len() > padded { data.len() - size } else { 0 },
        "excess bytes reported"
    );
    assert_eq!(
        m.message_type(),
        MessageType(u16::from_le_bytes([data[0], data[1]]))
    );
    let _ = format!("{m:?}");
    let _ = json::to_value(&m);
    assert!(
        json::decode(data).is_ok(),
        "parse accepted what decode refused"
    );

    let msg = &data[..size];
    let mut buf = vec![0u8; 1 << 16];
    let n = match m {
        Message::Error { hdr, payload } => {
            assert_eq!(8 + payload.len(), size);
            match ranges_of(payload) {
                Some(ranges) => encode::write_message(&mut buf, hdr, ranges),
                None => {
                    // Payload not a multiple of 8: lay it out by hand.
                    buf[..8].copy_from_slice(hdr.as_bytes());
                    buf[8..size].copy_from_slice(payload);
                    Ok(size)
                }
            }
        }
        Message::VersionRequest(r) => encode::write_message(&mut buf, r, &[]),
        Message::VersionResponse(r) => encode::write_message(&mut buf, r, &[]),
        Message::CapabilitiesReport(r) => encode::write_message(&mut buf, r, &[]),
        Message::CapabilitiesResponse(r) => encode::write_message(&mut buf, r, &[]),
        Message::StatusReport(r) => encode::write_message(&mut buf, r, &[]),
        Message::BalloonRequest(r) => encode::write_message(&mut buf, r, &[]),
        Message::BalloonResponse { hdr, ranges } => {
            assert_eq!(hdr.range_count() as usize, ranges.len());
            encode::write_message(&mut buf, hdr, ranges)
        }
        Message::UnballoonRequest { hdr, ranges } => {
            assert_eq!(hdr.range_count.get() as usize, ranges.len());
            in_frame_space(ranges);
            encode::write_message(&mut buf, hdr, ranges)
        }
        Message::UnballoonResponse(h) => encode::write_message(&mut buf, h, &[]),
        Message::HotAddRequest { req, region } => {
            in_frame_space(&[req.range]);
            match region {
                Some(r) => {
                    in_frame_space(&[r]);
                    encode::write_message(&mut buf, req, &[r])
                }
                None => encode::write_message(&mut buf, req, &[]),
            }
        }
        Message::HotAddResponse(r) => encode::write_message(&mut buf, r, &[]),
        Message::HotRemoveRequest(r) => encode::write_message(&mut buf, r, &[]),
        Message::HotRemoveResponse { hdr, ranges } => {
            assert_eq!(hdr.range_count.get() as usize, ranges.len());
            encode::write_message(&mut buf, hdr, ranges)
        }
        Message::InfoMessage { hdr, info } => {
            // Rebuild from the decoded parts: fixed part, info header, data (no slack).
            let (ty, data_bytes): (u32, Vec<u8>) = match info {
                Info::MaxPageCount(n) => {
                    let canon = encode::info_max_page_count(hdr.hdr.trans_id.get(), n);
                    let again = parse(&canon).expect("info_max_page_count output parses");
                    assert_eq!(again_info(&again), Some(info));
                    (InfoType::MAX_PAGE_CNT.0, n.to_le_bytes().to_vec())
                }
                Info::Other { ty, data } => (ty.0, data.to_vec()),
            };
            let mut fixed = *hdr;
            fixed.info_size = U32::new(8 + data_bytes.len() as u32);
            let ih = InfoHeader {
                ty: U32::new(ty),
                data_size: U32::new(data_bytes.len() as u32),
            };
            let mut v = fixed.as_bytes().to_vec();
            v.extend_from_slice(ih.as_bytes());
            v.extend_from_slice(&data_bytes);
            let Ok(total) = u16::try_from(v.len()) else {
                return;
            };
            v[2..4].copy_from_slice(&total.to_le_bytes());
            let again = parse(&v).expect("rebuilt info message parses");
            assert_eq!(again_info(&again), Some(info), "info round trip");
            assert_eq!(again.header().trans_id, hdr.hdr.trans_id);
            return;
        }
    };
    let n = n.expect("re-encoding an accepted message fits 64 KiB");
    let out = &buf[..n];
    if tolerated.ignored_bytes == 0 {
        assert_eq!(
            out, msg,
            "re-encoded bytes differ from the message for {m:?}"
        );
        let again = parse(out).expect("re-encoded message parses");
        assert_eq!(again, m, "round trip changed the value");
        return;
    }
    // Bytes were ignored: the canonical form is the message without them.
    assert_eq!(n + tolerated.ignored_bytes, size, "ignored bytes reported for {m:?}");
    assert_eq!(out[..2], msg[..2]);
    assert_eq!(out[4..], msg[4..n], "only the size field differs for {m:?}");
    let again = parse_detailed(out).expect("canonical form parses");
    assert_eq!(again.tolerated, Tolerated::default(), "canonical form is canonical");
    let mut a = json::to_value(&again.message);
    let mut b = json::to_value(&m);
    for v in [&mut a, &mut b] {
        if let Some(o) = v.as_object_mut() {
            o.remove("size");
        }
    }
    assert_eq!(a, b, "round trip changed the fields");
}

fn again_info<'a>(m: &Message<'a>) -> Option<Info<'a>> {
    match *m {
        Message::InfoMessage { info, .. } => Some(info),
        _ => None,
    }
}

/// The payload of a `DM_ERROR` as ranges when it is a multiple of 8 bytes (so it goes through
/// `write_message` too).
fn ranges_of(payload: &[u8]) -> Option<&[PageRange]> {
    use zerocopy::FromBytes;
    <[PageRange]>::ref_from_bytes(payload).ok()
}

fn in_frame_space(ranges: &[PageRange]) {
    for r in ranges {
        assert!(
            r.end_page() <= FRAME_SPACE_END,
            "accepted a range past the frame space: {r:?}"
        );
    }
}
