//! The simulated host against a hand-played (misbehaving) guest.

use alloc::vec;
use alloc::vec::Vec;

use vmbus::Channel;
use zerocopy::IntoBytes;

use super::pipe::{PipeEnd, pipe};
use super::*;

const GIB: u64 = 262_144;

fn connected(policy: Policy) -> (DmHost, PipeEnd, PipeEnd) {
    let (mut g, mut h) = pipe(64 * 1024);
    let mut cfg = HostConfig::new(policy, GIB);
    cfg.quiet_period_ns = 0;
    cfg.hot_add_pages = GIB;
    let mut host = DmHost::new(cfg);
    g.send(
        encode::version_request(1, Version::WIN10, false).as_bytes(),
        0,
        false,
    )
    .unwrap();
    host.poll(&mut h, 0);
    g.send(
        encode::capabilities_report(2, Caps::new(true, true, 7, false), 0, u64::MAX).as_bytes(),
        0,
        false,
    )
    .unwrap();
    host.poll(&mut h, 0);
    host.poll(&mut h, 1);
    assert!(host.is_idle());
    drain(&mut g);
    (host, g, h)
}

fn drain(g: &mut PipeEnd) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    while let Ok(Some(p)) = g.try_recv(&mut buf) {
        out.push(buf[..p.len].to_vec());
    }
    out
}

fn respond(g: &mut PipeEnd, more: bool, ranges: &[PageRange]) {
    let msg = encode::to_vec(
        &encode::balloon_response(9, more, ranges.len() as u32),
        ranges,
    );
    g.send(&msg, 0, false).unwrap();
}

fn kinds(h: &DmHost) -> Vec<ViolationKind> {
    h.violations.iter().map(|v| v.kind.clone()).collect()
}

#[test]
fn handshake_answers_and_records() {
    let (host, _, _) = connected(Policy::Manual);
    assert_eq!(host.negotiated, Some(Version::WIN10));
    assert!(host.guest_caps.unwrap().balloon());
    assert!(host.violations.is_empty());
}

#[test]
fn bad_version_sequence_is_a_violation() {
    let (mut g, mut h) = pipe(4096);
    let mut host = DmHost::new(HostConfig::new(Policy::Manual, GIB));
    g.send(
        encode::version_request(1, Version::WIN7, false).as_bytes(),
        0,
        false,
    )
    .unwrap();
    host.poll(&mut h, 0);
    assert_eq!(kinds(&host), vec![ViolationKind::BadNegotiation]);
}

#[test]
fn frame_given_twice_and_outside_ram_are_violations() {
    let (mut host, mut g, mut h) = connected(Policy::Manual);
    assert!(host.request_balloon(&mut h, 10));
    respond(&mut g, true, &[PageRange::new(100, 5).unwrap()]);
    respond(&mut g, true, &[PageRange::new(102, 5).unwrap()]);
    respond(&mut g, false, &[PageRange::new(GIB + 10, 1).unwrap()]);
    host.poll(&mut h, 2);
    assert_eq!(
        kinds(&host),
        vec![
            ViolationKind::FrameGivenTwice,
            ViolationKind::FrameOutsideGuestRam
        ]
    );
    assert_eq!(host.ledger.ballooned.pages(), 8, "duplicates counted once");
    assert!(host.is_idle());
}

#[test]
fn unsolicited_responses_are_violations() {
    let (mut host, mut g, mut h) = connected(Policy::Manual);
    respond(&mut g, false, &[PageRange::new(100, 1).unwrap()]);
    g.send(encode::unballoon_response(3).as_bytes(), 0, false)
        .unwrap();
    g.send(encode::hot_add_response(4, 1, true).as_bytes(), 0, false)
        .unwrap();
    g.send(&[1, 2, 3], 0, false).unwrap();
    host.poll(&mut h, 2);
    assert_eq!(
        kinds(&host),
        vec![
            ViolationKind::UnsolicitedResponse,
            ViolationKind::UnsolicitedResponse,
            ViolationKind::UnsolicitedResponse,
            ViolationKind::Malformed
        ]
    );
    assert!(
        host.ledger.ballooned.is_empty(),
        "nothing recorded from an unsolicited response"
    );
}

#[test]
fn qemu_policy_inflates_in_chunks_of_585728() {
    let (mut g, mut h) = pipe(64 * 1024);
    let mut cfg = HostConfig::new(Policy::Qemu, 4 * GIB);
    cfg.quiet_period_ns = 0;
    let mut host = DmHost::new(cfg);
    g.send(
        encode::version_request(1, Version::WIN10, false).as_bytes(),
        0,
        false,
    )
    .unwrap();
    g.send(
        encode::capabilities_report(2, Caps::new(true, true, 7, false), 0, u64::MAX).as_bytes(),
        0,
        false,
    )
    .unwrap();
    host.poll(&mut h, 0);
    host.poll(&mut h, 1);
    drain(&mut g);
    host.set_target(GIB);
    host.poll(&mut h, 2);
    let sent = drain(&mut g);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0],
        encode::balloon_request(1, QEMU_MAX_BALLOON_PAGES).as_bytes()
    );
    // The guest answers with an empty terminator: "at its minimum", stop until a new target.
    respond(&mut g, false, &[]);
    host.poll(&mut h, 3);
    host.poll(&mut h, 4);
    assert!(drain(&mut g).is_empty());
    assert!(host.is_idle());
    assert!(host.violations.is_empty());
}

#[test]
fn qemu_policy_deflates_back_to_back_with_one_reply() {
    let (mut host, mut g, mut h) = connected(Policy::Qemu);
    host.set_target(GIB - 3 * 512);
    host.poll(&mut h, 2);
    assert_eq!(drain(&mut g).len(), 1);
    respond(
        &mut g,
        false,
        &[
            PageRange::new(0, 512).unwrap(),
            PageRange::new(4096, 512).unwrap(),
            PageRange::new(8192, 512).unwrap(),
        ],
    );
    host.poll(&mut h, 3);
    assert_eq!(host.current_pages(), GIB - 1536);
    host.set_target(GIB);
    host.poll(&mut h, 4);
    let sent = drain(&mut g);
    assert_eq!(
        sent.len(),
        3,
        "one single-range message per ballooned range, back to back"
    );
    let more: Vec<bool> = sent.iter().map(|m| m[8] & 1 == 1).collect();
    assert_eq!(more, vec![true, true, false]);
    assert!(sent.iter().all(|m| m[12] == 1 && m.len() == 24));
    // Highest-addressed first.
    assert_eq!(
        &sent[0][16..24],
        PageRange::new(8192, 512).unwrap().as_bytes()
    );
    g.send(encode::unballoon_response(5).as_bytes(), 0, false)
        .unwrap();
    host.poll(&mut h, 5);
    assert_eq!(host.unballoon_responses, 1);
    assert!(host.is_idle());
    assert!(host.violations.is_empty());
}

#[test]
fn qemu_policy_hot_adds_aligned_chunks_with_region() {
    let (mut host, mut g, mut h) = connected(Policy::Qemu);
    host.set_target(GIB + 3 * GIB / 4 + 1000);
    host.poll(&mut h, 2);
    let sent = drain(&mut g);
    assert_eq!(sent.len(), 1);
    let m = parse(&sent[0]).unwrap();
    let Message::HotAddRequest { req, region } = m else {
        panic!("{m:?}")
    };
    assert_eq!(req.range.page_cnt(), 3 * GIB / 4, "rounded down to 128 MiB");
    assert_eq!(region, Some(req.range));
    assert_eq!(req.range.start_page() % 32_768, 0);
    // Partial success: the rest of the area becomes unusable.
    g.send(
        encode::hot_add_response(6, 32_768, true).as_bytes(),
        0,
        false,
    )
    .unwrap();
    host.poll(&mut h, 3);
    assert_eq!(host.ledger.added.pages(), 32_768);
    host.poll(&mut h, 4);
    assert!(
        drain(&mut g).is_empty(),
        "no more hot-add after a short answer"
    );
}
