//! JSON rendering of one DM message (used by `hv-dynmem decode`).
//!
//! `"type"` is the fact sheet's name (`"DM_BALLOON_RESPONSE"`); every field appears under its
//! fact-sheet name in snake_case; page ranges are objects `{ "start_page", "page_cnt" }`; bit
//! flags are booleans; versions are objects `{ "major", "minor" }` plus the raw word; the data
//! of an info type the fact sheet does not define is shown as hex.
//!
//! A decoder shows what it can: a request whose range runs past the 40-bit frame space (which
//! the driver refuses) is decoded anyway, and what the parser tolerated (bytes ignored, an
//! `info_size` that does not match) is listed, each under `"problems"` in plain words.

use std::string::{String, ToString};
use std::vec::Vec;

use serde_json::{Map, Value, json};

use super::parse::{
    Info, Message, ParseError, Parsed, Tolerated, parse_detailed, parse_unchecked_ranges,
};
use super::wire::*;

fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn range(r: &PageRange) -> Value {
    json!({ "start_page": r.start_page(), "page_cnt": r.page_cnt() })
}

fn ranges(rs: &[PageRange]) -> Value {
    Value::Array(rs.iter().map(range).collect::<Vec<_>>())
}

fn version(v: Version) -> Value {
    json!({ "major": v.major(), "minor": v.minor(), "value": v.0 })
}

fn caps(c: Caps) -> Value {
    json!({
        "balloon": c.balloon(),
        "hot_add": c.hot_add(),
        "hot_add_alignment": c.hot_add_alignment(),
        "hot_remove": c.hot_remove(),
        "reservedz": c.reservedz(),
    })
}

/// Renders a parsed message as a JSON object.
pub fn to_value(m: &Message<'_>) -> Value {
    let hdr = m.header();
    let ty = hdr.message_type();
    let mut o = Map::new();
    o.insert(
        "type".into(),
        Value::String(
            ty.name()
                .map(String::from)
                .unwrap_or_else(|| std::format!("{}", ty.0)),
        ),
    );
    o.insert("size".into(), json!(hdr.size.get()));
    o.insert("trans_id".into(), json!(hdr.trans_id.get()));
    let fields = match *m {
        Message::Error { payload, .. } => json!({ "payload_len": payload.len() }),
        Message::VersionRequest(r) => json!({
            "version": version(r.version()),
            "is_last_attempt": r.is_last_attempt(),
            "reservedz": r.flags.get() >> 1,
        }),
        Message::VersionResponse(r) => json!({
            "is_accepted": r.is_accepted(),
            "reservedz": r.flags.get() >> 1,
        }),
        Message::CapabilitiesReport(r) => json!({
            "caps": caps(r.caps()),
            "min_page_cnt": r.min_page_cnt.get(),
            "max_page_number": r.max_page_number.get(),
        }),
        Message::CapabilitiesResponse(r) => json!({
            "is_accepted": r.is_accepted(),
            "hot_remove": r.hot_remove(),
            "suppress_pressure_reports": r.suppress_pressure_reports(),
            "reservedz": r.flags.get() >> 3,
        }),
        Message::StatusReport(r) => json!({
            "num_avail": r.num_avail.get(),
            "num_committed": r.num_committed.get(),
            "page_file_size": r.page_file_size.get(),
            "zero_free": r.zero_free.get(),
            "page_file_writes": r.page_file_writes.get(),
            "io_diff": r.io_diff.get(),
        }),
        Message::BalloonRequest(r) => json!({
            "num_pages": r.num_pages.get(),
            "reservedz": r.reservedz.get(),
        }),
        Message::BalloonResponse { hdr, ranges: rs } => json!({
            "reservedz": hdr.reservedz.get(),
            "more_pages": hdr.more_pages(),
            "range_count": hdr.range_count(),
            "range_array": ranges(rs),
        }),
        Message::UnballoonRequest { hdr, ranges: rs } => json!({
            "more_pages": hdr.more_pages(),
            "reservedz": hdr.flags.get() >> 1,
            "range_count": hdr.range_count.get(),
            "range_array": ranges(rs),
        }),
        Message::UnballoonResponse(_) => json!({}),
        Message::HotAddRequest { req, region } => {
            let mut f = Map::new();
            f.insert("range".into(), range(&req.range));
            if let Some(r) = region {
                f.insert("region".into(), range(&r));
            }
            Value::Object(f)
        }
        Message::HotAddResponse(r) => json!({
            "page_count": r.page_count.get(),
            "result": r.result.get(),
        }),
        Message::InfoMessage { hdr, info } => {
            let info = match info {
                Info::MaxPageCount(n) => json!({
                    "type": "INFO_TYPE_MAX_PAGE_CNT",
                    "data_size": 8,
                    "max_page_count": n,
                }),
                Info::Other { ty, data } => json!({
                    "type": ty.0,
                    "data_size": data.len(),
                    "data": hex(data),
                }),
            };
            json!({
                "reserved": hdr.reserved.get(),
                "info_size": hdr.info_size.get(),
                "info": info,
            })
        }
        Message::HotRemoveRequest(r) => json!({
            "virtual_node": r.virtual_node.get(),
            "page_count": r.page_count.get(),
            "qos_flags": {
                "large": r.qos_flags.get() & HOT_REMOVE_QOS_LARGE != 0,
                "local": r.qos_flags.get() & HOT_REMOVE_QOS_LOCAL != 0,
            },
            "reservedz": r.reservedz.get(),
        }),
        Message::HotRemoveResponse { hdr, ranges: rs } => json!({
            "result": hdr.result.get(),
            "range_count": hdr.range_count.get(),
            "more_pages": hdr.more_pages(),
            "range_array": ranges(rs),
        }),
    };
    if let Value::Object(f) = fields {
        o.extend(f);
    }
    Value::Object(o)
}

/// What a decoder should say about a message beyond its fields: the refusal the driver would
/// make (`refused`) and what the parser tolerated, in plain words.
pub fn problems(p: &Parsed<'_>, refused: Option<&ParseError>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = refused {
        out.push(std::format!("{e}: the driver refuses this message"));
    }
    let Tolerated {
        excess_bytes,
        ignored_bytes,
        info_size_expected,
    } = p.tolerated;
    let size = p.message.header().size.get();
    if excess_bytes > 0 {
        out.push(std::format!(
            "{excess_bytes} bytes follow the message's size {size} (more than VMBus padding); ignored"
        ));
    }
    if ignored_bytes > 0 {
        out.push(std::format!(
            "{ignored_bytes} bytes inside size {size} after the fields the message defines; ignored"
        ));
    }
    if let (Some(want), Message::InfoMessage { hdr, .. }) = (info_size_expected, p.message) {
        out.push(std::format!(
            "info_size {} is not 8 + data_size = {want}; ignored (Linux does not read it)",
            hdr.info_size.get()
        ));
    }
    out
}

/// Parses one DM message and renders it as pretty JSON, with `"type"`, `"size"` and
/// `"trans_id"` first and the message's fields after them in wire order where the message
/// defines one (nested objects are alphabetical), then `"problems"` if there are any.
///
/// Errors only for bytes that cannot be read as a message at all; a message the driver would
/// refuse for its content (a range past the 40-bit frame space) is shown with the refusal
/// under `"problems"`.
pub fn decode(bytes: &[u8]) -> Result<String, ParseError> {
    let (p, refused) = match parse_detailed(bytes) {
        Ok(p) => (p, None),
        Err(e @ ParseError::RangeBeyondFrameSpace { .. }) => {
            (parse_unchecked_ranges(bytes)?, Some(e))
        }
        Err(e) => return Err(e),
    };
    let m = p.message;
    let mut v = to_value(&m);
    let problems = problems(&p, refused.as_ref());
    if let Value::Object(map) = &mut v {
        if !problems.is_empty() {
            map.insert(
                "problems".into(),
                Value::Array(problems.into_iter().map(Value::String).collect()),
            );
        }
    }
    let Value::Object(map) = &v else {
        return Ok(v.to_string());
    };
    let order = field_order(&m);
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| {
        if k.as_str() == "problems" {
            usize::MAX
        } else {
            order.iter().position(|o| o == k).unwrap_or(usize::MAX - 1)
        }
    });
    let mut out = String::from("{\n");
    for (i, k) in keys.iter().enumerate() {
        let val = serde_json::to_string_pretty(&map[k.as_str()]).unwrap_or_default();
        out.push_str("  ");
        out.push_str(&Value::String((*k).clone()).to_string());
        out.push_str(": ");
        out.push_str(&val.replace('\n', "\n  "));
        out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
    }
    out.push('}');
    Ok(out)
}

/// Top-level key order: header first, then the fields in wire order.
fn field_order(m: &Message<'_>) -> &'static [&'static str] {
    match m {
        Message::VersionRequest(_) => &[
            "type",
            "size",
            "trans_id",
            "version",
            "is_last_attempt",
            "reservedz",
        ],
        Message::CapabilitiesReport(_) => &[
            "type",
            "size",
            "trans_id",
            "caps",
            "min_page_cnt",
            "max_page_number",
        ],
        Message::CapabilitiesResponse(_) => &[
            "type",
            "size",
            "trans_id",
            "is_accepted",
            "hot_remove",
            "suppress_pressure_reports",
            "reservedz",
        ],
        Message::StatusReport(_) => &[
            "type",
            "size",
            "trans_id",
            "num_avail",
            "num_committed",
            "page_file_size",
            "zero_free",
            "page_file_writes",
            "io_diff",
        ],
        Message::BalloonResponse { .. } => &[
            "type",
            "size",
            "trans_id",
            "reservedz",
            "more_pages",
            "range_count",
            "range_array",
        ],
        Message::UnballoonRequest { .. } => &[
            "type",
            "size",
            "trans_id",
            "more_pages",
            "reservedz",
            "range_count",
            "range_array",
        ],
        Message::HotAddRequest { .. } => &["type", "size", "trans_id", "range", "region"],
        Message::InfoMessage { .. } => {
            &["type", "size", "trans_id", "reserved", "info_size", "info"]
        }
        Message::HotRemoveRequest(_) => &[
            "type",
            "size",
            "trans_id",
            "virtual_node",
            "page_count",
            "qos_flags",
            "reservedz",
        ],
        Message::HotRemoveResponse { .. } => &[
            "type",
            "size",
            "trans_id",
            "result",
            "range_count",
            "more_pages",
            "range_array",
        ],
        _ => &[
            "type",
            "size",
            "trans_id",
            "is_accepted",
            "num_pages",
            "page_count",
            "result",
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode::*;
    use super::*;
    use zerocopy::IntoBytes;

    #[test]
    fn balloon_response_json() {
        let r = [PageRange::new(0x200, 512).unwrap()];
        let b = to_vec(&balloon_response(3, false, 1), &r);
        let v: Value = serde_json::from_str(&decode(&b).unwrap()).unwrap();
        assert_eq!(v["type"], "DM_BALLOON_RESPONSE");
        assert_eq!(v["more_pages"], false);
        assert_eq!(v["range_count"], 1);
        assert_eq!(v["range_array"][0]["start_page"], 0x200);
        assert_eq!(v["range_array"][0]["page_cnt"], 512);
        assert_eq!(v["trans_id"], 3);
    }

    #[test]
    fn caps_and_version_json() {
        let b = capabilities_report(2, Caps::new(true, true, 7, false), 0, u64::MAX);
        let v: Value = serde_json::from_str(&decode(b.as_bytes()).unwrap()).unwrap();
        assert_eq!(v["type"], "DM_CAPABILITIES_REPORT");
        assert_eq!(v["caps"]["balloon"], true);
        assert_eq!(v["caps"]["hot_add_alignment"], 7);
        assert_eq!(v["max_page_number"], u64::MAX);
        let b = version_request(1, Version::WIN7, true);
        let v: Value = serde_json::from_str(&decode(b.as_bytes()).unwrap()).unwrap();
        assert_eq!(v["is_last_attempt"], true);
        assert_eq!(v["version"]["minor"], 3);
        let b = capabilities_response(1, true, false, true);
        let v: Value = serde_json::from_str(&decode(b.as_bytes()).unwrap()).unwrap();
        assert_eq!(v["suppress_pressure_reports"], true);
    }

    #[test]
    fn every_type_renders() {
        let r = PageRange::new(1, 2).unwrap();
        let msgs: std::vec::Vec<std::vec::Vec<u8>> = std::vec![
            Header::new(MessageType::ERROR, 8, 0).as_bytes().to_vec(),
            version_response(1, false).as_bytes().to_vec(),
            status_report(1, 2, 3).as_bytes().to_vec(),
            balloon_request(1, 2).as_bytes().to_vec(),
            to_vec(&unballoon_request(1, true, 1), &[r]),
            unballoon_response(1).as_bytes().to_vec(),
            to_vec(&hot_add_request(1, r), &[r]),
            hot_add_response(1, 2, true).as_bytes().to_vec(),
            info_max_page_count(1, 7).to_vec(),
            hot_remove_request(1, 0, 5, 3).as_bytes().to_vec(),
            to_vec(&hot_remove_response(1, true, 1, false), &[r]),
        ];
        for m in msgs {
            let v: Value = serde_json::from_str(&decode(&m).unwrap()).unwrap();
            assert!(v["type"].as_str().unwrap().starts_with("DM_"), "{v}");
        }
    }

    #[test]
    fn type_comes_first_and_output_is_valid_json() {
        let b = status_report(4, 1, 2);
        let text = decode(b.as_bytes()).unwrap();
        assert!(
            text.starts_with("{\n  \"type\": \"DM_STATUS_REPORT\",\n  \"size\": 48,"),
            "{text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["num_committed"], 2);
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn unknown_info_type_shows_its_data_in_hex() {
        let mut b = info_max_page_count(1, 0x0807_0605_0403_0201).to_vec();
        b[16] = 7; // info type 7
        let v: Value = serde_json::from_str(&decode(&b).unwrap()).unwrap();
        assert_eq!(v["info"]["type"], 7);
        assert_eq!(v["info"]["data_size"], 8);
        assert_eq!(v["info"]["data"], "0102030405060708");
        assert!(v.get("problems").is_none(), "{v}");
    }

    #[test]
    fn hot_add_past_the_frame_space_is_shown_and_flagged() {
        let r = PageRange::new(FRAME_SPACE_END - 1, 16).unwrap();
        let b = hot_add_request(9, r).as_bytes().to_vec();
        let text = decode(&b).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "DM_MEM_HOT_ADD_REQUEST");
        assert_eq!(v["range"]["start_page"], FRAME_SPACE_END - 1);
        assert_eq!(v["range"]["page_cnt"], 16);
        let p = v["problems"][0].as_str().unwrap();
        assert!(p.contains("runs past the 40-bit frame space"), "{p}");
        assert!(p.contains("the driver refuses"), "{p}");
        assert!(
            text.trim_end().ends_with("]\n}"),
            "problems come last: {text}"
        );
    }

    #[test]
    fn tolerated_bytes_are_listed() {
        let mut b = balloon_request(1, 5).as_bytes().to_vec();
        b.extend_from_slice(&[0; 16]);
        b[2] = 24; // 8 bytes inside size after num_pages/reservedz, 8 more after size
        let v: Value = serde_json::from_str(&decode(&b).unwrap()).unwrap();
        assert_eq!(v["num_pages"], 5);
        assert_eq!(
            v["problems"],
            json!([
                "8 bytes follow the message's size 24 (more than VMBus padding); ignored",
                "8 bytes inside size 24 after the fields the message defines; ignored"
            ])
        );
        let mut info = info_max_page_count(1, 5);
        info[12] = 100;
        let v: Value = serde_json::from_str(&decode(&info).unwrap()).unwrap();
        assert_eq!(v["info"]["max_page_count"], 5);
        assert_eq!(
            v["problems"],
            json!(["info_size 100 is not 8 + data_size = 16; ignored (Linux does not read it)"])
        );
    }
}
