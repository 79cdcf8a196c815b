//! JSON rendering of one DM message (used by `hv-dynmem decode`).
//!
//! `"type"` is the fact sheet's name (`"DM_BALLOON_RESPONSE"`); every field appears under its
//! fact-sheet name in snake_case; page ranges are objects `{ "start_page", "page_cnt" }`; bit
//! flags are booleans; versions are objects `{ "major", "minor" }` plus the raw word.

use std::string::{String, ToString};
use std::vec::Vec;

use serde_json::{Map, Value, json};

use super::parse::{Info, Message, ParseError, parse};
use super::wire::*;

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

/// Parses one DM message and renders it as pretty JSON, with `"type"`, `"size"` and
/// `"trans_id"` first and the message's fields after them in wire order where the message
/// defines one (nested objects are alphabetical).
pub fn decode(bytes: &[u8]) -> Result<String, ParseError> {
    let m = parse(bytes)?;
    let v = to_value(&m);
    let Value::Object(map) = &v else {
        return Ok(v.to_string());
    };
    let order = field_order(&m);
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(usize::MAX));
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
}
