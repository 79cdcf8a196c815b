//! The hostile-host suite: one test per attack. In every case the driver keeps running,
//! counts the error, and frees or reports no frame it still uses.
#![cfg(feature = "sim")]

use hv_dynmem::driver::{Config, Counters, Driver};
use hv_dynmem::protocol::{FRAME_SPACE_END, MessageType, PageRange, encode};
use hv_dynmem::sim::dm_host::bench::{Bench, on_sim_vmbus};
use hv_dynmem::sim::dm_host::{DmHost, HostConfig, Policy};
use hv_dynmem::sim::fake_os::{FakeMemory, Frame};
use vmbus::sim::{GuestEndpoint, HostEndpoint};
use zerocopy::IntoBytes;

const GIB: u64 = 262_144;
const BLOCK: u64 = 32_768;

type B = Bench<FakeMemory, GuestEndpoint, HostEndpoint>;

/// A connected guest (1 GiB) with 4 MiB + 10 pages ballooned and some memory in use.
fn setup() -> B {
    let mut host = HostConfig::new(Policy::Manual, GIB);
    host.quiet_period_ns = 0;
    let mut mem = FakeMemory::new(GIB, 4 * GIB, BLOCK);
    mem.use_pages(20_000);
    let driver = Driver::new(
        Config {
            pressure_report_delay: 0,
            ..Config::default()
        },
        BLOCK,
    );
    let mut b = on_sim_vmbus(driver, mem, DmHost::new(host));
    b.start();
    b.advance(1);
    assert!(b.driver.is_running());
    assert!(b.host.request_balloon(&mut b.host_ch, 1034));
    b.advance(1);
    assert_eq!(b.driver.counters().pages_ballooned, 1034);
    b
}

fn send(b: &mut B, bytes: &[u8]) {
    b.host.send_raw(&mut b.host_ch, bytes);
    b.advance(1);
}

/// The invariants every hostile test ends with.
fn survived(b: &mut B, before: &Counters, counter: impl Fn(&Counters) -> u64) {
    let after = b.driver.counters();
    assert!(b.driver.is_running(), "driver stopped");
    assert!(
        counter(&after) > counter(before),
        "error counter did not move: {after:?}"
    );
    assert!(
        b.mem.violations.is_empty(),
        "the OS saw misuse: {:?}",
        b.mem.violations
    );
    // Nothing the guest uses was freed: every in-use frame is still in use.
    assert_eq!(b.mem.used_pages(), 20_000, "in-use frames untouched");
    // Everything the driver says it gave is really ballooned, and nothing else is.
    for (s, e) in b.driver.ballooned().iter() {
        assert!((s..e).all(|p| b.mem.frame(p) == Frame::Ballooned));
    }
    assert_eq!(b.mem.ballooned_pages(), b.driver.ballooned().pages());
    // Every frame ever reported to the host was ballooned at the time and is either still
    // ballooned or was returned by a legitimate unballoon.
    for r in b.host.balloon_responses.iter().flat_map(|r| &r.ranges) {
        for p in r.start_page()..r.end_page() {
            let f = b.mem.frame(p);
            assert!(
                f == Frame::Ballooned || f == Frame::Free,
                "reported frame {p:#x} is {f:?}"
            );
            assert!(p < GIB, "reported frame outside RAM");
        }
    }
    // And it still works: a normal balloon transaction completes.
    let held = b.driver.counters().pages_ballooned;
    if b.host.is_idle() {
        assert!(b.host.request_balloon(&mut b.host_ch, 512));
        b.advance(1);
        assert_eq!(
            b.driver.counters().pages_ballooned,
            held + 512,
            "still serves requests"
        );
    }
}

#[test]
fn unknown_message_type() {
    let mut b = setup();
    let before = b.driver.counters();
    send(
        &mut b,
        encode::to_vec(
            &hv_dynmem::protocol::Header::new(MessageType(77), 16, 1),
            &[],
        )
        .as_slice(),
    );
    let mut raw = encode::balloon_request(1, 5).as_bytes().to_vec();
    raw[0] = 200;
    send(&mut b, &raw);
    survived(&mut b, &before, |c| c.parse_errors);
    assert_eq!(b.driver.counters().parse_errors, before.parse_errors + 2);
}

#[test]
fn dm_error_and_guest_only_types_are_counted() {
    let mut b = setup();
    let before = b.driver.counters();
    send(
        &mut b,
        hv_dynmem::protocol::Header::new(MessageType::ERROR, 8, 1).as_bytes(),
    );
    send(&mut b, encode::status_report(1, 2, 3).as_bytes());
    survived(&mut b, &before, |c| c.unknown_messages);
}

#[test]
fn size_field_larger_than_packet() {
    let mut b = setup();
    let before = b.driver.counters();
    let mut raw = encode::balloon_request(1, 100_000).as_bytes().to_vec();
    raw[2] = 200; // claims 200 bytes, 16 sent
    send(&mut b, &raw);
    survived(&mut b, &before, |c| c.parse_errors);
    assert_eq!(
        b.driver.counters().pages_ballooned,
        1034 + 512,
        "the bogus request was not served"
    );
}

#[test]
fn packet_larger_than_any_dm_message() {
    // 6000 bytes (a DM message is at most 4096) that start like a valid balloon request: the
    // driver drops the packet unread instead of stalling the channel on it, and serves the
    // next request (the normal balloon in `survived`).
    let mut b = setup();
    let before = b.driver.counters();
    let mut raw = vec![0u8; 6000];
    raw[..16].copy_from_slice(encode::balloon_request(1, 100_000).as_bytes());
    send(&mut b, &raw);
    assert_eq!(b.driver.counters().oversized_packets, 1);
    assert_eq!(b.driver.counters().pages_ballooned, 1034, "not served");
    survived(&mut b, &before, |c| c.oversized_packets);
}

#[test]
fn size_field_smaller_than_packet() {
    let mut b = setup();
    let before = b.driver.counters();
    // An unballoon request whose size hides its real ranges behind a smaller size.
    let (s, _) = b.driver.ballooned().iter().next().unwrap();
    let mut raw = encode::to_vec(
        &encode::unballoon_request(1, false, 2),
        &[PageRange::new(s, 1).unwrap(); 2],
    );
    raw[2] = 16;
    send(&mut b, &raw);
    survived(&mut b, &before, |c| c.parse_errors);
}

#[test]
fn truncated_packets() {
    let mut b = setup();
    let before = b.driver.counters();
    send(&mut b, &[6, 0, 16]); // shorter than the header
    let full = encode::to_vec(
        &encode::unballoon_request(1, false, 3),
        &[PageRange::new(0, 5).unwrap(); 3],
    );
    let mut cut = full[..24].to_vec(); // count says 3, one range present
    cut[2] = 24;
    send(&mut b, &cut);
    let mut cut = encode::info_max_page_count(1, 99)[..24].to_vec();
    cut[2] = 24;
    send(&mut b, &cut);
    survived(&mut b, &before, |c| c.parse_errors);
    assert_eq!(b.driver.counters().parse_errors, before.parse_errors + 3);
    assert_eq!(b.driver.counters().max_dynamic_page_count, 0);
}

#[test]
fn balloon_request_while_one_is_running() {
    let mut b = setup();
    let before = b.driver.counters();
    // A transaction of two responses; the second request arrives after the first response.
    assert!(b.host.request_balloon(&mut b.host_ch, 20_000));
    let n = b.host.balloon_responses.len();
    while b.host.balloon_responses.len() == n {
        b.round();
    }
    assert!(b.host.balloon_responses[n].more_pages, "mid-transaction");
    b.host
        .send_raw(&mut b.host_ch, encode::balloon_request(99, 700).as_bytes());
    b.advance(1);
    let c = b.driver.counters();
    assert_eq!(
        c.pages_ballooned,
        1034 + 20_000 + 700,
        "the running transaction finishes, the second is served after it"
    );
    // Two requests queued behind a running one: the later replaces the earlier (Linux
    // semantics: one pending slot, bounded).
    let n = b.host.balloon_responses.len();
    assert!(b.host.request_balloon(&mut b.host_ch, 20_000));
    while b.host.balloon_responses.len() == n {
        b.round();
    }
    b.host
        .send_raw(&mut b.host_ch, encode::balloon_request(100, 300).as_bytes());
    b.host
        .send_raw(&mut b.host_ch, encode::balloon_request(101, 200).as_bytes());
    b.advance(1);
    assert_eq!(
        b.driver.counters().pages_ballooned,
        1034 + 40_000 + 700 + 200
    );
    survived(&mut b, &before, |c| c.overlapping_requests);
}

#[test]
fn unballoon_of_frames_never_ballooned() {
    let mut b = setup();
    let before = b.driver.counters();
    let free_before = b.mem.free_pages();
    // Frames 0..100 are in use by the workload; 500_000.. is free memory never ballooned.
    let ranges = [
        PageRange::new(0, 100).unwrap(),
        PageRange::new(200_000, 1000).unwrap(),
    ];
    assert!(
        b.host
            .request_unballoon_multi(&mut b.host_ch, &ranges, false)
    );
    b.advance(1);
    let c = b.driver.counters();
    assert_eq!(c.refused_unballoon_ranges, 2);
    assert_eq!(c.refused_unballoon_pages, 1100);
    assert_eq!(c.pages_ballooned, 1034, "nothing freed");
    assert_eq!(b.mem.free_pages(), free_before);
    assert_eq!(
        b.host.unballoon_responses, 1,
        "the request is still answered"
    );
    survived(&mut b, &before, |c| c.refused_unballoon_ranges);
}

#[test]
fn unballoon_range_straddling_ballooned_and_used_frames() {
    let mut b = setup();
    let before = b.driver.counters();
    let (s, e) = b.driver.ballooned().iter().next().unwrap();
    // Half ballooned, half beyond: only the ballooned part comes back.
    let r = PageRange::new(s, (e - s) + 50).unwrap();
    assert!(b.host.request_unballoon_multi(&mut b.host_ch, &[r], false));
    b.advance(1);
    let c = b.driver.counters();
    assert_eq!(c.pages_ballooned, 1034 - (e - s));
    assert_eq!(c.refused_unballoon_pages, 50);
    survived(&mut b, &before, |c| c.refused_unballoon_pages);
}

#[test]
fn page_range_beyond_the_40_bit_frame_space() {
    let mut b = setup();
    let before = b.driver.counters();
    // start = 2^40 - 1 with 16 pages: end beyond the frame space.
    let r = PageRange::new(FRAME_SPACE_END - 1, 16).unwrap();
    send(
        &mut b,
        &encode::to_vec(&encode::unballoon_request(1, false, 1), &[r]),
    );
    send(&mut b, &encode::to_vec(&encode::hot_add_request(2, r), &[]));
    survived(&mut b, &before, |c| c.parse_errors);
    assert_eq!(b.driver.counters().parse_errors, before.parse_errors + 2);
    assert_eq!(b.driver.counters().pages_added, 0);
}

#[test]
fn page_range_wrapping_around() {
    let mut b = setup();
    let before = b.driver.counters();
    // The largest count from the top of the frame space: wraps a 40-bit address.
    let r = PageRange::from_raw(u64::MAX);
    send(
        &mut b,
        &encode::to_vec(&encode::unballoon_request(1, false, 1), &[r]),
    );
    let region = PageRange::from_raw(u64::MAX);
    send(
        &mut b,
        &encode::to_vec(
            &encode::hot_add_request(2, PageRange::new(GIB, 1).unwrap()),
            &[region],
        ),
    );
    survived(&mut b, &before, |c| c.parse_errors);
    assert_eq!(b.driver.counters().parse_errors, before.parse_errors + 2);
}

#[test]
fn hot_add_overlapping_existing_ram() {
    let mut b = setup();
    let before = b.driver.counters();
    // Region over boot RAM (which includes ballooned and used frames).
    let r = PageRange::new(0, BLOCK).unwrap();
    assert!(b.host.request_hot_add(&mut b.host_ch, r, Some(r)));
    b.advance(1);
    assert_eq!(
        *b.host.hot_add_responses.last().unwrap(),
        (0, 1),
        "permanent failure"
    );
    assert_eq!(b.driver.counters().pages_onlined, 0);
    assert!(!b.driver.hot_add_state().enabled);
    survived(&mut b, &before, |c| c.hot_add_failures);
    assert!((0..BLOCK).all(|p| b.mem.frame(p) != Frame::AddedOffline));
}

#[test]
fn hot_add_region_overlapping_an_earlier_region() {
    let mut b = setup();
    let before = b.driver.counters();
    let r = PageRange::new(2 * GIB, BLOCK).unwrap();
    assert!(b.host.request_hot_add(&mut b.host_ch, r, Some(r)));
    b.advance(1);
    assert_eq!(*b.host.hot_add_responses.last().unwrap(), (BLOCK as u32, 1));
    // Again the same region: refused, nothing onlined twice.
    assert!(b.host.request_hot_add(&mut b.host_ch, r, Some(r)));
    b.advance(1);
    assert_eq!(*b.host.hot_add_responses.last().unwrap(), (0, 0));
    assert_eq!(b.driver.counters().pages_onlined, BLOCK);
    survived(&mut b, &before, |c| c.refused_hot_adds);
}

#[test]
fn version_response_nobody_asked_for() {
    let mut b = setup();
    let before = b.driver.counters();
    send(&mut b, encode::version_response(5, false).as_bytes());
    send(
        &mut b,
        encode::capabilities_response(6, false, false, true).as_bytes(),
    );
    survived(&mut b, &before, |c| c.unsolicited_messages);
    assert_eq!(
        b.driver.counters().unsolicited_messages,
        before.unsolicited_messages + 2
    );
    assert!(
        !b.driver.pressure_reports_suppressed(),
        "an unsolicited caps response changes nothing"
    );
}

#[test]
fn flood_of_1000_balloon_requests() {
    let mut b = setup();
    let before = b.driver.counters();
    for i in 0..1000 {
        b.host.send_raw(
            &mut b.host_ch,
            encode::balloon_request(1000 + i, 3).as_bytes(),
        );
    }
    b.advance(1);
    b.advance(1_000_000_000);
    let c = b.driver.counters();
    assert_eq!(c.messages_received - before.messages_received, 1000);
    assert!(
        c.overlapping_requests - before.overlapping_requests >= 900,
        "{c:?}"
    );
    // Bounded: at most one transaction per request, each of 3 pages.
    assert!(c.pages_ballooned - 1034 <= 3000 && c.pages_ballooned > 1034);
    assert_eq!(c.pages_ballooned, b.mem.ballooned_pages());
    // Keeps working afterwards (host bookkeeping saw unsolicited responses: it is not used).
    survived(&mut b, &before, |c| c.overlapping_requests);
}

#[test]
fn unsolicited_hot_remove_is_answered_unsupported() {
    let mut b = setup();
    let before = b.driver.counters();
    send(
        &mut b,
        encode::hot_remove_request(1, 0, 1 << 20, 3).as_bytes(),
    );
    assert_eq!(b.host.hot_remove_responses, vec![(0, 0)]);
    survived(&mut b, &before, |c| c.unsupported_requests);
    assert_eq!(b.driver.counters().pages_ballooned, 1034 + 512);
}

mod random_hosts {
    //! Random hostile sequences: whatever the host sends, the invariants hold.
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Act {
        Balloon(u32),
        Unballoon(Vec<(u64, u64)>, bool),
        HotAdd(u64, u64, Option<(u64, u64)>),
        Bytes(Vec<u8>),
        Info(u64),
        Time(u64),
    }

    fn act() -> impl Strategy<Value = Act> {
        prop_oneof![
            (0u32..5000).prop_map(Act::Balloon),
            (
                proptest::collection::vec((0u64..40_000, 0u64..2000), 0..6),
                any::<bool>()
            )
                .prop_map(|(r, m)| Act::Unballoon(r, m)),
            (
                0u64..300_000,
                0u64..40_000,
                proptest::option::of((0u64..300_000, 0u64..80_000))
            )
                .prop_map(|(s, c, r)| Act::HotAdd(s, c, r)),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Act::Bytes),
            any::<u64>().prop_map(Act::Info),
            (0u64..3_000_000_000).prop_map(Act::Time),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
        #[test]
        fn invariants_hold(acts in proptest::collection::vec(act(), 1..25)) {
            const RAM: u64 = 32_768; // 128 MiB
            let mut host = HostConfig::new(Policy::Manual, RAM);
            host.quiet_period_ns = 0;
            let mut mem = FakeMemory::new(RAM, 320_000, 4096);
            mem.use_pages(5000);
            let driver = Driver::new(Config { pressure_report_delay: 0, ..Config::default() }, 4096);
            let mut b = on_sim_vmbus(driver, mem, DmHost::new(host));
            b.start();
            b.advance(1);
            for a in acts {
                let msg = match a {
                    Act::Balloon(n) => encode::balloon_request(1, n).as_bytes().to_vec(),
                    Act::Unballoon(rs, more) => {
                        let rs: Vec<PageRange> =
                            rs.iter().map(|&(s, c)| PageRange::new(s, c).unwrap()).collect();
                        encode::to_vec(&encode::unballoon_request(2, more, rs.len() as u32), &rs)
                    }
                    Act::HotAdd(s, c, r) => {
                        let fixed = encode::hot_add_request(3, PageRange::new(s, c).unwrap());
                        match r {
                            Some((rs, rc)) => encode::to_vec(&fixed, &[PageRange::new(rs, rc).unwrap()]),
                            None => fixed.as_bytes().to_vec(),
                        }
                    }
                    Act::Bytes(v) => v,
                    Act::Info(n) => encode::info_max_page_count(4, n).to_vec(),
                    Act::Time(dt) => {
                        b.advance(dt);
                        continue;
                    }
                };
                b.host.send_raw(&mut b.host_ch, &msg);
                b.advance(50_000_000);
                prop_assert!(b.driver.is_running());
                prop_assert!(b.mem.violations.is_empty(), "{:?}", b.mem.violations);
                prop_assert_eq!(b.mem.used_pages(), 5000);
                prop_assert_eq!(b.mem.ballooned_pages(), b.driver.counters().pages_ballooned);
                for (s, e) in b.driver.ballooned().iter() {
                    prop_assert!((s..e).all(|p| b.mem.frame(p) == Frame::Ballooned));
                }
            }
        }
    }
}
