//! Golden-byte tests: each names the dm-protocol.md section whose table it follows.

use super::encode::*;
use super::*;
use zerocopy::IntoBytes;

#[test]
fn header_golden_s1_3() {
    let h = Header::new(MessageType::BALLOON_RESPONSE, 0x0110, 0x1234_5678);
    assert_eq!(h.as_bytes(), &[7, 0, 0x10, 0x01, 0x78, 0x56, 0x34, 0x12]);
}

#[test]
fn version_words_s1_2() {
    assert_eq!(Version::WIN7.0, 0x0000_0003);
    assert_eq!(Version::WIN8.0, 0x0001_0000);
    assert_eq!(Version::WIN10.0, 0x0002_0000);
    assert_eq!(Version::new(2, 0), Version::WIN10);
    assert_eq!(Version::WIN7.major(), 0);
    assert_eq!(Version::WIN7.minor(), 3);
    assert_eq!(std::format!("{}", Version::WIN8), "1.0");
    // In memory: minor at offset 0, major at offset 2.
    let req = version_request(1, Version::WIN10, false);
    assert_eq!(&req.as_bytes()[8..12], &[0, 0, 2, 0]);
}

#[test]
fn version_request_golden_s1_4() {
    let req = version_request(3, Version::WIN7, true);
    assert_eq!(
        req.as_bytes(),
        &[1, 0, 16, 0, 3, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0],
        "type 1, size 16, trans_id 3, version 0.3, is_last_attempt bit 0"
    );
}

#[test]
fn version_response_golden_s1_5() {
    let bytes = [2, 0, 16, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    match parse(&bytes).unwrap() {
        Message::VersionResponse(r) => {
            assert!(r.is_accepted());
            assert_eq!(r.hdr.trans_id.get(), 9);
        }
        m => panic!("wrong message {m:?}"),
    }
    assert_eq!(version_response(9, true).as_bytes(), &bytes);
}

#[test]
fn caps_bits_s1_6() {
    let c = Caps::new(true, true, 7, false);
    assert_eq!(
        c.0, 0b1_1111,
        "balloon bit 0, hot_add bit 1, alignment 7 in bits 2..5"
    );
    assert!(c.balloon() && c.hot_add());
    assert_eq!(c.hot_add_alignment(), 7);
    assert_eq!(Caps::new(false, false, 11, false).0, 11 << 2);
    assert_eq!(
        Caps::new(false, false, 0, true).0,
        1 << 6,
        "hot_remove bit 6"
    );
    assert_eq!(
        Caps::new(false, false, 0x1f, false).hot_add_alignment(),
        0xf
    );
}

#[test]
fn capabilities_report_golden_s1_7() {
    let m = capabilities_report(2, Caps::new(true, true, 7, false), 0, u64::MAX);
    let mut expect = std::vec![3, 0, 32, 0, 2, 0, 0, 0, 0x1f, 0, 0, 0, 0, 0, 0, 0];
    expect.extend_from_slice(&[0; 8]);
    expect.extend_from_slice(&[0xff; 8]);
    assert_eq!(m.as_bytes(), expect.as_slice());
}

#[test]
fn capabilities_response_bits_s1_8() {
    let r = capabilities_response(1, true, true, true);
    assert_eq!(&r.as_bytes()[8..16], &[7, 0, 0, 0, 0, 0, 0, 0]);
    let bytes = capabilities_response(1, true, false, true)
        .as_bytes()
        .to_vec();
    match parse(&bytes).unwrap() {
        Message::CapabilitiesResponse(r) => {
            assert!(r.is_accepted() && !r.hot_remove() && r.suppress_pressure_reports());
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn status_report_golden_s1_9() {
    let m = status_report(5, 0x0102, 0x0304);
    let b = m.as_bytes();
    assert_eq!(b.len(), 48);
    assert_eq!(&b[..8], &[5, 0, 48, 0, 5, 0, 0, 0]);
    assert_eq!(&b[8..16], &[2, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&b[16..24], &[4, 3, 0, 0, 0, 0, 0, 0]);
    assert!(b[24..].iter().all(|&x| x == 0));
}

#[test]
fn page_range_bits_s1_10() {
    let r = PageRange::new(0x12_3456_789a, 0xab_cdef).unwrap();
    assert_eq!(r.raw(), 0xabcd_ef12_3456_789a);
    assert_eq!(
        r.as_bytes(),
        &[0x9a, 0x78, 0x56, 0x34, 0x12, 0xef, 0xcd, 0xab]
    );
    assert_eq!(r.start_page(), 0x12_3456_789a);
    assert_eq!(r.page_cnt(), 0xab_cdef);
    assert!(PageRange::new(1 << 40, 1).is_none());
    assert!(PageRange::new(0, 1 << 24).is_none());
}

#[test]
fn balloon_request_golden_s1_11() {
    let bytes = [6, 0, 16, 0, 1, 0, 0, 0, 0xff, 0x01, 0, 0, 0, 0, 0, 0];
    match parse(&bytes).unwrap() {
        Message::BalloonRequest(r) => assert_eq!(r.num_pages.get(), 511),
        m => panic!("{m:?}"),
    }
    assert_eq!(balloon_request(1, 511).as_bytes(), &bytes);
}

#[test]
fn balloon_response_golden_s1_12() {
    let ranges = [
        PageRange::new(0x200, 512).unwrap(),
        PageRange::new(0x1000, 1).unwrap(),
    ];
    let mut buf = [0u8; 64];
    let n = write_message(&mut buf, &balloon_response(7, true, 2), &ranges).unwrap();
    assert_eq!(n, 32);
    assert_eq!(
        &buf[..16],
        &[7, 0, 32, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0b101, 0, 0, 0]
    );
    assert_eq!(&buf[16..24], &[0, 2, 0, 0, 0, 0, 2, 0]);
    match parse(&buf[..n]).unwrap() {
        Message::BalloonResponse { hdr, ranges: r } => {
            assert!(hdr.more_pages());
            assert_eq!(hdr.range_count(), 2);
            assert_eq!(r, &ranges);
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn unballoon_request_golden_s1_13() {
    let ranges = [PageRange::new(0x100, 3).unwrap()];
    let mut buf = [0u8; 32];
    let n = write_message(&mut buf, &unballoon_request(4, true, 1), &ranges).unwrap();
    assert_eq!(
        &buf[..16],
        &[8, 0, 24, 0, 4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    );
    match parse(&buf[..n]).unwrap() {
        Message::UnballoonRequest { hdr, ranges: r } => {
            assert!(hdr.more_pages());
            assert_eq!(r, &ranges);
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn unballoon_response_golden_s1_14() {
    assert_eq!(unballoon_response(3).as_bytes(), &[9, 0, 8, 0, 3, 0, 0, 0]);
}

#[test]
fn hot_add_golden_s1_15_and_response_s1_16() {
    let range = PageRange::new(0x40000, 0x8000).unwrap();
    let b16 = hot_add_request(1, range).as_bytes().to_vec();
    assert_eq!(&b16[..8], &[10, 0, 16, 0, 1, 0, 0, 0]);
    match parse(&b16).unwrap() {
        Message::HotAddRequest { req, region } => {
            assert_eq!(req.range, range);
            assert_eq!(region, None);
        }
        m => panic!("{m:?}"),
    }
    let b24 = to_vec(&hot_add_request(1, range), &[range]);
    assert_eq!(b24.len(), 24);
    match parse(&b24).unwrap() {
        Message::HotAddRequest { region, .. } => assert_eq!(region, Some(range)),
        m => panic!("{m:?}"),
    }
    assert_eq!(
        hot_add_response(2, 0x8000, true).as_bytes(),
        &[11, 0, 16, 0, 2, 0, 0, 0, 0, 0x80, 0, 0, 1, 0, 0, 0]
    );
}

#[test]
fn info_message_golden_s1_17() {
    let b = info_max_page_count(1, 0x10_0000);
    assert_eq!(
        &b[..16],
        &[12, 0, 32, 0, 1, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0]
    );
    assert_eq!(&b[16..24], &[0, 0, 0, 0, 8, 0, 0, 0]);
    match parse(&b).unwrap() {
        Message::InfoMessage {
            info: Info::MaxPageCount(n),
            ..
        } => assert_eq!(n, 0x10_0000),
        m => panic!("{m:?}"),
    }
}

#[test]
fn hot_remove_layout_protocol_2_0() {
    let r = hot_remove_request(1, 0, 1024, HOT_REMOVE_QOS_LARGE);
    assert_eq!(
        r.as_bytes(),
        &[
            13, 0, 24, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0
        ]
    );
    let resp = to_vec(&hot_remove_response(2, false, 0, false), &[]);
    assert_eq!(resp.len(), 24);
    assert!(matches!(
        parse(&resp).unwrap(),
        Message::HotRemoveResponse { ranges: [], .. }
    ));
}

#[test]
fn message_type_names_s1_1() {
    assert_eq!(
        MessageType::BALLOON_RESPONSE.name(),
        Some("DM_BALLOON_RESPONSE")
    );
    assert_eq!(MessageType(14).name(), Some("DM_MEM_HOT_REMOVE_RESPONSE"));
    assert_eq!(MessageType(15).name(), None);
    assert_eq!(std::format!("{:?}", MessageType(99)), "MessageType(0x0063)");
    assert_eq!(
        std::format!("{}", MessageType(99)),
        "unknown message type 0x0063"
    );
    assert_eq!(
        std::format!("{}", MessageType::BALLOON_REQUEST),
        "DM_BALLOON_REQUEST (0x0006)"
    );
    assert_eq!(
        std::format!("{:?}", crate::protocol::InfoType(7)),
        "InfoType(0x00000007)"
    );
}

// ---- parser error cases ----

#[test]
fn parse_rejects_short_and_truncated() {
    assert_eq!(parse(&[1, 0, 8]), Err(ParseError::TooShort { len: 3 }));
    let mut b = balloon_request(1, 5).as_bytes().to_vec();
    b[2] = 24;
    assert_eq!(
        parse(&b),
        Err(ParseError::SizeLargerThanPacket {
            size: 24,
            received: 16
        })
    );
    b[2] = 12;
    assert_eq!(
        parse(&b[..12]),
        Err(ParseError::TooSmallForType {
            ty: MessageType::BALLOON_REQUEST,
            size: 12,
            min: 16
        })
    );
    // A size below the fixed part with the fields still in the packet: the fields are not
    // part of the message.
    assert_eq!(
        parse(&b),
        Err(ParseError::TooSmallForType {
            ty: MessageType::BALLOON_REQUEST,
            size: 12,
            min: 16
        })
    );
}

#[test]
fn parse_tolerates_bytes_after_size_like_linux() {
    let mut b = unballoon_response(1).as_bytes().to_vec();
    assert_eq!(parse_detailed(&b).unwrap().tolerated, Tolerated::default());
    b.extend_from_slice(&[0xaa; 8]);
    let p = parse_detailed(&b).unwrap();
    assert_eq!(
        p.message,
        Message::UnballoonResponse(&unballoon_response(1))
    );
    assert_eq!(p.tolerated.excess_bytes, 8);
    // A size that is not a multiple of 8 may be followed by VMBus padding: not reported.
    let mut e = Header::new(MessageType::ERROR, 11, 1).as_bytes().to_vec();
    e.extend_from_slice(&[1, 2, 3, 0, 0, 0, 0, 0]);
    let p = parse_detailed(&e).unwrap();
    assert!(p.tolerated.is_none(), "{p:?}");
    assert_eq!(
        p.message,
        Message::Error {
            hdr: &Header::new(MessageType::ERROR, 11, 1),
            payload: &[1, 2, 3]
        }
    );
}

#[test]
fn parse_tolerates_fixed_messages_longer_than_their_struct() {
    let mut b = balloon_request(3, 77).as_bytes().to_vec();
    b.extend_from_slice(&[0xee; 8]);
    b[2] = 24;
    let p = parse_detailed(&b).unwrap();
    match p.message {
        Message::BalloonRequest(r) => assert_eq!(r.num_pages.get(), 77),
        m => panic!("{m:?}"),
    }
    assert_eq!(p.tolerated.ignored_bytes, 8);
    assert_eq!(p.tolerated.excess_bytes, 0);
}

#[test]
fn parse_checks_counts_against_bytes() {
    let ranges = [PageRange::new(1, 1).unwrap(); 3];
    let mut b = to_vec(&unballoon_request(1, false, 3), &ranges);
    assert!(parse_detailed(&b).unwrap().tolerated.is_none());
    // Count says 4 but only 3 ranges present.
    b[12] = 4;
    assert!(matches!(
        parse(&b),
        Err(ParseError::CountMismatch {
            count: 4,
            actual: 3,
            ..
        })
    ));
    // Count says 2 but 3 present: Linux reads 2; so do we, and say 8 bytes were ignored.
    b[12] = 2;
    let p = parse_detailed(&b).unwrap();
    match p.message {
        Message::UnballoonRequest { ranges: r, .. } => assert_eq!(r, &ranges[..2]),
        m => panic!("{m:?}"),
    }
    assert_eq!(p.tolerated.ignored_bytes, 8);
    // Huge count.
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(parse(&b), Err(ParseError::CountMismatch { .. })));
    // A partial range after the counted ones is ignored too.
    let mut b = to_vec(&unballoon_request(1, false, 1), &ranges[..1]);
    b.extend_from_slice(&[1, 2, 3]);
    b[2] = 27;
    assert_eq!(parse_detailed(&b).unwrap().tolerated.ignored_bytes, 3);
}

#[test]
fn parse_rejects_ranges_beyond_frame_space() {
    let r = PageRange::new(FRAME_SPACE_END - 1, 2).unwrap();
    let b = to_vec(&unballoon_request(1, false, 1), &[r]);
    assert!(matches!(
        parse(&b),
        Err(ParseError::RangeBeyondFrameSpace { index: 0, .. })
    ));
    let b = to_vec(&hot_add_request(1, PageRange::new(0, 1).unwrap()), &[r]);
    assert!(matches!(
        parse(&b),
        Err(ParseError::RangeBeyondFrameSpace { index: 1, .. })
    ));
}

#[test]
fn parse_rejects_unknown_type_and_bad_info() {
    let h = Header::new(MessageType(42), 8, 0);
    assert_eq!(parse(h.as_bytes()), Err(ParseError::UnknownType(42)));
    let mut info = info_max_page_count(1, 5);
    info[20] = 4; // data_size 4
    assert!(matches!(parse(&info), Err(ParseError::BadInfo(_))));
    let mut info = info_max_page_count(1, 5);
    info[20] = 9; // data_size 9: past the message
    assert!(matches!(parse(&info), Err(ParseError::BadInfo(_))));
    let mut info = info_max_page_count(1, 5);
    info[2] = 20; // size cuts the info header
    assert!(matches!(parse(&info[..20]), Err(ParseError::BadInfo(_))));
}

#[test]
fn parse_ignores_info_size_like_linux() {
    for info_size in [0u8, 8, 200] {
        let mut info = info_max_page_count(1, 5);
        info[12] = info_size;
        let p = parse_detailed(&info).unwrap();
        assert!(matches!(
            p.message,
            Message::InfoMessage {
                info: Info::MaxPageCount(5),
                ..
            }
        ));
        assert_eq!(p.tolerated.info_size_expected, Some(16));
    }
}

#[test]
fn hot_add_sizes() {
    let range = PageRange::new(0, 1).unwrap();
    let region = PageRange::new(0, 8).unwrap();
    // 32 bytes: Linux reads the region at offset 16 and ignores the rest.
    let mut b = to_vec(&hot_add_request(1, range), &[region, PageRange::default()]);
    assert_eq!(b[2], 32);
    let p = parse_detailed(&b).unwrap();
    match p.message {
        Message::HotAddRequest { req, region: r } => {
            assert_eq!(req.range, range);
            assert_eq!(r, Some(region));
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(p.tolerated.ignored_bytes, 8);
    // 17..=23: the region is cut short.
    b[2] = 20;
    assert_eq!(
        parse(&b[..20]),
        Err(ParseError::TooSmallForType {
            ty: MessageType::MEM_HOT_ADD_REQUEST,
            size: 20,
            min: 24
        })
    );
}

#[test]
fn refused_requests_are_recognised() {
    let mut b = balloon_request(7, 5).as_bytes().to_vec();
    b[2] = 200;
    assert!(parse(&b).is_err());
    assert_eq!(
        refused_request(&b),
        Some(RefusedRequest {
            ty: MessageType::BALLOON_REQUEST,
            trans_id: 7,
            more_pages: false
        })
    );
    let mut u = to_vec(
        &unballoon_request(8, true, 2),
        &[PageRange::new(1, 1).unwrap()],
    );
    assert!(parse(&u).is_err());
    assert!(refused_request(&u).unwrap().more_pages);
    u[2] = 10; // the flag word is outside size: answer now
    assert!(!refused_request(&u).unwrap().more_pages);
    assert_eq!(refused_request(status_report(1, 2, 3).as_bytes()), None);
    assert_eq!(refused_request(&[6, 0, 16]), None);
}

#[test]
fn write_message_rejects_overflow() {
    let ranges = [PageRange::default(); 511];
    let mut buf = [0u8; MAX_MESSAGE_SIZE];
    assert!(write_message(&mut buf, &balloon_response(1, false, 511), &ranges).is_err());
    assert_eq!(
        write_message(&mut buf, &balloon_response(1, false, 510), &ranges[..510]),
        Ok(MAX_MESSAGE_SIZE)
    );
}

proptest::proptest! {
    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn parser_never_panics_with_plausible_header(
        ty in 0u16..16, extra in proptest::collection::vec(proptest::num::u8::ANY, 0..100)
    ) {
        let mut b = std::vec::Vec::new();
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&((8 + extra.len()) as u16).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&extra);
        let _ = parse(&b);
    }
}
