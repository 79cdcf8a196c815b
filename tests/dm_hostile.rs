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
    let mut b = connected(4 * GIB, BLOCK);
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
fn hot_add_naming_the_same_region_again_is_served_from_it_like_linux() {
    // Hyper-V-style: one region of 4 blocks, filled by successive requests that each name it.
    let mut b = setup();
    let before = b.driver.counters();
    let region = PageRange::new(2 * GIB, 4 * BLOCK).unwrap();
    for i in 0..4 {
        let r = PageRange::new(2 * GIB + i * BLOCK, BLOCK).unwrap();
        assert!(b.host.request_hot_add(&mut b.host_ch, r, Some(region)));
        b.advance(1);
        assert_eq!(
            *b.host.hot_add_responses.last().unwrap(),
            (BLOCK as u32, 1),
            "block {i}"
        );
    }
    let c = b.driver.counters();
    assert_eq!(c.pages_added, 4 * BLOCK);
    assert_eq!(c.pages_onlined, 4 * BLOCK);
    assert_eq!(c.refused_hot_adds, before.refused_hot_adds);
    assert_eq!(
        b.driver.hot_add_state().regions.len(),
        1,
        "one region record"
    );
    assert!(b.mem.violations.is_empty(), "{:?}", b.mem.violations);
    // Re-sending the last request would back frames already backed: refused.
    let r = PageRange::new(2 * GIB + 3 * BLOCK, BLOCK).unwrap();
    assert!(b.host.request_hot_add(&mut b.host_ch, r, Some(region)));
    b.advance(1);
    assert_eq!(*b.host.hot_add_responses.last().unwrap(), (0, 0));
    assert_eq!(b.driver.counters().pages_onlined, 4 * BLOCK);
    survived(&mut b, &before, |c| c.refused_hot_adds);
}

#[test]
fn hot_add_region_overlapping_an_earlier_one_adds_only_what_is_new() {
    let mut b = setup();
    let before = b.driver.counters();
    let first = PageRange::new(2 * GIB, 2 * BLOCK).unwrap();
    assert!(b.host.request_hot_add(&mut b.host_ch, first, Some(first)));
    b.advance(1);
    assert_eq!(
        *b.host.hot_add_responses.last().unwrap(),
        (2 * BLOCK as u32, 1)
    );
    // A region starting inside the first, with a range just after it. Linux would add
    // memory from the new region's start (already added: -EEXIST, hot-add off for good).
    let region = PageRange::new(2 * GIB + BLOCK, 3 * BLOCK).unwrap();
    let r = PageRange::new(2 * GIB + 2 * BLOCK, BLOCK).unwrap();
    assert!(b.host.request_hot_add(&mut b.host_ch, r, Some(region)));
    b.advance(1);
    assert_eq!(*b.host.hot_add_responses.last().unwrap(), (BLOCK as u32, 1));
    assert!(b.driver.hot_add_state().enabled);
    assert_eq!(b.driver.counters().pages_onlined, 3 * BLOCK);
    assert_eq!(b.mem.violations, Vec::<String>::new());
    assert_eq!(
        b.driver.counters().hot_add_failures,
        before.hot_add_failures
    );
}

#[test]
fn hot_add_range_running_past_its_region_is_served_up_to_the_region_end() {
    let mut b = setup();
    let region = PageRange::new(2 * GIB, BLOCK).unwrap();
    let r = PageRange::new(2 * GIB, 2 * BLOCK).unwrap();
    assert!(b.host.request_hot_add(&mut b.host_ch, r, Some(region)));
    b.advance(1);
    assert_eq!(
        *b.host.hot_add_responses.last().unwrap(),
        (BLOCK as u32, 1),
        "partial: the region's part"
    );
    assert_eq!(b.driver.counters().pages_onlined, BLOCK);
    assert!(
        (2 * GIB + BLOCK..2 * GIB + 2 * BLOCK).all(|p| b.mem.frame(p) == Frame::Absent),
        "nothing added past the region"
    );
    assert!(b.mem.violations.is_empty());
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

mod every_request_is_answered {
    //! A host waits for the answer to each balloon, unballoon, hot-add and hot-remove request
    //! (QEMU's host never times out). A request the parser refuses is still answered, with a
    //! refusal; where Linux tolerates a harmless deviation (bytes after `size`, a fixed message
    //! longer than its structure, more ranges than counted, `info_size`), so does the driver.
    //! The host is played by hand over the byte pipe, and every answer is checked byte for
    //! byte.
    use super::*;
    use hv_dynmem::sim::dm_host::pipe::{PipeEnd, pipe};
    use vmbus::Channel;

    struct Raw {
        d: Driver,
        g: PipeEnd,
        h: PipeEnd,
        mem: FakeMemory,
    }

    impl Raw {
        /// Connected at t = 0 (version request id 1, capabilities report id 2), no status
        /// reports in the way; 20 000 frames in use.
        fn connected_with(cfg: Config) -> Self {
            let (g, h) = pipe(64 * 1024);
            let mut mem = FakeMemory::new(GIB, 4 * GIB, BLOCK);
            mem.use_pages(20_000);
            let mut r = Raw {
                d: Driver::new(cfg, BLOCK),
                g,
                h,
                mem,
            };
            r.d.start(&mut r.g, 0);
            r.host(encode::version_response(1, true).as_bytes());
            r.host(encode::capabilities_response(2, true, false, false).as_bytes());
            assert!(r.d.is_running());
            assert_eq!(r.sent().len(), 2);
            r
        }

        fn connected() -> Self {
            Self::connected_with(Config {
                pressure_report_delay: 1_000_000,
                ..Config::default()
            })
        }

        /// Sends raw bytes to the guest and runs the work that is due (time stands still).
        fn host(&mut self, bytes: &[u8]) {
            self.h.send(bytes, 0, false).unwrap();
            self.d.on_channel_interrupt(&mut self.g, &mut self.mem, 0);
            for _ in 0..10_000 {
                if self.d.next_deadline().is_none_or(|t| t > 0) {
                    return;
                }
                self.d.poll(&mut self.g, &mut self.mem, 0);
            }
            panic!("livelock");
        }

        /// Everything the guest sent since the last call.
        fn sent(&mut self) -> Vec<Vec<u8>> {
            let mut out = Vec::new();
            let mut buf = vec![0u8; 8192];
            while let Ok(Some(p)) = self.h.try_recv(&mut buf) {
                out.push(buf[..p.len].to_vec());
            }
            out
        }

        /// Balloons `n` single pages (ids advance by one) and returns their frames.
        fn balloon(&mut self, n: u32) -> Vec<u64> {
            self.host(encode::balloon_request(50, n).as_bytes());
            let s = self.sent();
            assert_eq!(s.len(), 1);
            s[0][16..]
                .chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()) & (FRAME_SPACE_END - 1))
                .collect()
        }

        fn safe(&self) {
            assert!(self.d.is_running());
            assert!(self.mem.violations.is_empty(), "{:?}", self.mem.violations);
            assert_eq!(self.mem.used_pages(), 20_000, "in-use frames untouched");
            assert_eq!(self.mem.ballooned_pages(), self.d.ballooned().pages());
        }
    }

    /// `DM_BALLOON_RESPONSE`, final, no ranges, `trans_id` 3 (the first id after the
    /// handshake).
    const EMPTY_BALLOON_RESPONSE_3: [u8; 16] = [7, 0, 16, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    /// `DM_UNBALLOON_RESPONSE`, `trans_id` 3.
    const UNBALLOON_RESPONSE_3: [u8; 8] = [9, 0, 8, 0, 3, 0, 0, 0];
    /// `DM_MEM_HOT_ADD_RESPONSE` 0 pages, result 0 (transient failure), `trans_id` 3.
    const HOT_ADD_REFUSED_3: [u8; 16] = [11, 0, 16, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    /// The same refusal for the next transaction (id 4).
    const HOT_ADD_REFUSED_4: [u8; 16] = [11, 0, 16, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn balloon_request_claiming_more_bytes_than_sent_gets_an_empty_final_response() {
        let mut r = Raw::connected();
        let mut raw = encode::balloon_request(9, 100_000).as_bytes().to_vec();
        raw[2] = 200; // claims 200 bytes, 16 sent: truncated, num_pages not trusted
        r.host(&raw);
        assert_eq!(r.sent(), vec![EMPTY_BALLOON_RESPONSE_3.to_vec()]);
        assert_eq!(r.d.counters().pages_ballooned, 0);
        r.safe();
    }

    #[test]
    fn balloon_request_shorter_than_its_structure_gets_an_empty_final_response() {
        let mut r = Raw::connected();
        let mut raw = encode::balloon_request(9, 100_000).as_bytes()[..12].to_vec();
        raw[2] = 12;
        r.host(&raw);
        assert_eq!(r.sent(), vec![EMPTY_BALLOON_RESPONSE_3.to_vec()]);
        r.safe();
    }

    #[test]
    fn balloon_request_with_bytes_after_it_is_served_like_linux() {
        let mut r = Raw::connected();
        // size 24: 8 bytes after num_pages/reservedz inside the message, and 8 more after
        // size in the packet. Linux reads num_pages and ignores the rest.
        let mut raw = encode::balloon_request(9, 3).as_bytes().to_vec();
        raw.extend_from_slice(&[0x5a; 16]);
        raw[2] = 24;
        r.host(&raw);
        let s = r.sent();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0][..16],
            [7, 0, 40, 0, 3, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0],
            "final, 3 ranges"
        );
        for c in s[0][16..].chunks(8) {
            let v = u64::from_le_bytes(c.try_into().unwrap());
            assert_eq!(v >> 40, 1, "one 4 KiB page per range");
            assert_eq!(r.mem.frame(v & (FRAME_SPACE_END - 1)), Frame::Ballooned);
        }
        assert_eq!(r.d.counters().pages_ballooned, 3);
        r.safe();
    }

    #[test]
    fn unballoon_request_counting_more_ranges_than_it_holds_is_answered_and_frees_nothing() {
        let mut r = Raw::connected();
        let frames = r.balloon(2); // ids 3
        let ranges = [PageRange::new(frames[0], 1).unwrap()];
        let mut raw = encode::to_vec(&encode::unballoon_request(9, false, 1), &ranges);
        raw[12] = 3; // count 3, one range present
        r.host(&raw);
        assert_eq!(r.sent(), vec![vec![9, 0, 8, 0, 4, 0, 0, 0]]);
        assert_eq!(r.d.counters().pages_ballooned, 2, "nothing freed");
        r.safe();
    }

    #[test]
    fn unballoon_request_with_a_range_past_the_frame_space_is_answered_and_frees_nothing() {
        let mut r = Raw::connected();
        let frames = r.balloon(1);
        let ranges = [
            PageRange::new(frames[0], 1).unwrap(),
            PageRange::new(FRAME_SPACE_END - 1, 16).unwrap(),
        ];
        r.host(&encode::to_vec(
            &encode::unballoon_request(9, false, 2),
            &ranges,
        ));
        assert_eq!(r.sent(), vec![vec![9, 0, 8, 0, 4, 0, 0, 0]]);
        assert_eq!(r.d.counters().pages_ballooned, 1, "nothing freed");
        r.safe();
    }

    #[test]
    fn unballoon_request_holding_more_ranges_than_counted_frees_the_counted_ones() {
        let mut r = Raw::connected();
        let frames = r.balloon(2);
        let ranges = [
            PageRange::new(frames[0], 1).unwrap(),
            PageRange::new(frames[1], 1).unwrap(),
        ];
        // Count 1, two ranges inside size: Linux frees the counted one.
        let raw = encode::to_vec(&encode::unballoon_request(9, false, 1), &ranges);
        r.host(&raw);
        assert_eq!(r.sent(), vec![vec![9, 0, 8, 0, 4, 0, 0, 0]]);
        assert_eq!(r.d.counters().pages_ballooned, 1);
        assert_eq!(r.mem.frame(frames[0]), Frame::Free);
        assert_eq!(r.mem.frame(frames[1]), Frame::Ballooned);
        r.safe();
    }

    #[test]
    fn malformed_unballoon_saying_more_follow_waits_for_the_final_one() {
        let mut r = Raw::connected();
        let frames = r.balloon(2);
        let mut raw = encode::to_vec(
            &encode::unballoon_request(9, true, 1),
            &[PageRange::new(frames[0], 1).unwrap()],
        );
        raw[12] = 2; // count 2, one range: refused, but more_pages = 1 is readable
        r.host(&raw);
        assert!(r.sent().is_empty(), "more follow: no answer yet");
        r.host(&encode::to_vec(
            &encode::unballoon_request(10, false, 1),
            &[PageRange::new(frames[1], 1).unwrap()],
        ));
        assert_eq!(r.sent(), vec![vec![9, 0, 8, 0, 4, 0, 0, 0]], "one answer");
        assert_eq!(r.d.counters().pages_ballooned, 1);
        r.safe();
    }

    #[test]
    fn unballoon_request_too_short_for_its_fixed_part_is_answered() {
        let mut r = Raw::connected();
        let mut raw = encode::unballoon_request(9, false, 0).as_bytes()[..8].to_vec();
        raw[2] = 8;
        r.host(&raw);
        assert_eq!(r.sent(), vec![UNBALLOON_RESPONSE_3.to_vec()]);
        r.safe();
    }

    #[test]
    fn hot_add_past_the_frame_space_is_refused_as_a_transient_failure() {
        let mut r = Raw::connected();
        let range = PageRange::new(FRAME_SPACE_END - 1, 16).unwrap();
        r.host(encode::hot_add_request(9, range).as_bytes());
        assert_eq!(r.sent(), vec![HOT_ADD_REFUSED_3.to_vec()]);
        // A region past the frame space too.
        let ok = PageRange::new(GIB, BLOCK).unwrap();
        r.host(&encode::to_vec(
            &encode::hot_add_request(10, ok),
            &[PageRange::from_raw(u64::MAX)],
        ));
        assert_eq!(r.sent(), vec![HOT_ADD_REFUSED_4.to_vec()]);
        assert_eq!(r.d.counters().pages_added, 0);
        r.safe();
    }

    #[test]
    fn hot_add_with_its_region_cut_short_is_refused() {
        let mut r = Raw::connected();
        let range = PageRange::new(GIB, BLOCK).unwrap();
        let mut raw = encode::to_vec(&encode::hot_add_request(9, range), &[range]);
        raw.truncate(20);
        raw[2] = 20;
        r.host(&raw);
        assert_eq!(r.sent(), vec![HOT_ADD_REFUSED_3.to_vec()]);
        let mut raw = encode::hot_add_request(9, range).as_bytes()[..12].to_vec();
        raw[2] = 12;
        r.host(&raw);
        assert_eq!(r.sent(), vec![HOT_ADD_REFUSED_4.to_vec()]);
        assert_eq!(r.d.counters().pages_added, 0);
        r.safe();
    }

    #[test]
    fn hot_add_longer_than_24_bytes_reads_the_region_like_linux() {
        let mut r = Raw::connected();
        let range = PageRange::new(GIB, BLOCK).unwrap();
        let raw = encode::to_vec(
            &encode::hot_add_request(9, range),
            &[range, PageRange::default()],
        );
        assert_eq!(raw.len(), 32);
        r.host(&raw);
        let mut want = vec![11, 0, 16, 0, 3, 0, 0, 0];
        want.extend_from_slice(&(BLOCK as u32).to_le_bytes());
        want.extend_from_slice(&[1, 0, 0, 0]);
        assert_eq!(r.sent(), vec![want]);
        assert_eq!(r.d.counters().pages_added, BLOCK);
        r.safe();
    }

    #[test]
    fn truncated_hot_remove_is_answered_failed() {
        let mut r = Raw::connected();
        let mut raw = encode::hot_remove_request(9, 0, 1 << 20, 0).as_bytes()[..16].to_vec();
        raw[2] = 16;
        r.host(&raw);
        assert_eq!(
            r.sent(),
            vec![vec![
                14, 0, 24, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]]
        );
        r.safe();
    }

    #[test]
    fn info_size_is_ignored_like_linux() {
        for (info_size, max) in [(200u8, 0x4_0000u64), (8, 0x8_0000)] {
            let mut r = Raw::connected();
            let mut raw = encode::info_max_page_count(9, max);
            raw[12] = info_size; // larger than the message / not covering the data
            r.host(&raw);
            assert_eq!(r.d.counters().max_dynamic_page_count, max);
            assert!(r.sent().is_empty(), "an info message gets no answer");
            r.safe();
        }
    }

    #[test]
    fn malformed_requests_before_the_handshake_get_no_answer() {
        let (g, h) = pipe(64 * 1024);
        let mut r = Raw {
            d: Driver::new(Config::default(), BLOCK),
            g,
            h,
            mem: FakeMemory::new(GIB, 4 * GIB, BLOCK),
        };
        r.d.start(&mut r.g, 0);
        r.sent();
        let mut raw = encode::balloon_request(9, 5).as_bytes().to_vec();
        raw[2] = 200;
        r.h.send(&raw, 0, false).unwrap();
        r.d.on_channel_interrupt(&mut r.g, &mut r.mem, 0);
        r.d.poll(&mut r.g, &mut r.mem, 0);
        assert!(r.sent().is_empty());
    }
}

/// A guest of 1 GiB (20 000 pages in use) with memory blocks of `block` pages and frames up
/// to `max_frames` (hot-add space above 1 GiB), connected to a manual host.
fn connected(max_frames: u64, block: u64) -> B {
    let mut host = HostConfig::new(Policy::Manual, GIB);
    host.quiet_period_ns = 0;
    let mut mem = FakeMemory::new(GIB, max_frames, block);
    mem.use_pages(20_000);
    let driver = Driver::new(
        Config {
            pressure_report_delay: 0,
            ..Config::default()
        },
        block,
    );
    let mut b = on_sim_vmbus(driver, mem, DmHost::new(host));
    b.start();
    b.advance(1);
    assert!(b.driver.is_running());
    b
}

/// A connected guest of 1 GiB with 2 MiB memory blocks and hot-add space for `blocks` more.
fn setup_small_blocks(blocks: u64) -> B {
    connected(GIB + blocks * 512, 512)
}

#[test]
fn hot_add_naming_a_new_region_each_time_grows_past_64_regions() {
    // A host that names a fresh one-block region in every request (the old core kept 64
    // region records and refused the 65th as a transient failure: the VM stopped growing).
    const SMALL: u64 = 512;
    let mut b = setup_small_blocks(100);
    for i in 0..100 {
        let r = PageRange::new(GIB + i * SMALL, SMALL).unwrap();
        assert!(b.host.request_hot_add(&mut b.host_ch, r, Some(r)));
        b.advance(1);
        assert_eq!(
            *b.host.hot_add_responses.last().unwrap(),
            (SMALL as u32, 1),
            "region {i}"
        );
    }
    let c = b.driver.counters();
    assert_eq!(c.pages_added, 100 * SMALL);
    assert_eq!(c.pages_onlined, 100 * SMALL);
    assert_eq!(c.refused_hot_adds, 0);
    assert_eq!(b.driver.hot_add_state().regions.len(), 100);
    assert!(b.mem.violations.is_empty(), "{:?}", b.mem.violations);
}

#[test]
fn hot_add_gaps_are_limited_by_the_memory_added() {
    // One region of 8 blocks; the host backs one page and skips one, again and again. Each
    // skip is a gap record; the records allowed grow with the memory added (256 + one per
    // 2 MiB), so the host cannot make the guest keep one record per page it never gave.
    const SMALL: u64 = 512;
    let mut b = setup_small_blocks(8);
    let region = PageRange::new(GIB, 8 * SMALL).unwrap();
    let before = b.driver.counters();
    let mut served = 0u64;
    let mut refused_at = None;
    for i in 0..(4 * SMALL) {
        let r = PageRange::new(GIB + 2 * i, 1).unwrap();
        assert!(b.host.request_hot_add(&mut b.host_ch, r, Some(region)));
        b.advance(1);
        match *b.host.hot_add_responses.last().unwrap() {
            (1, 1) => served += 1,
            (0, 0) => {
                refused_at = Some(i);
                break;
            }
            other => panic!("request {i}: unexpected response {other:?}"),
        }
    }
    // The first request makes no gap; blocks added by then: the first (1 x 512 pages) buys
    // one extra record, then each newly added block one more.
    let budget = b.driver.hot_add_state().gap_budget();
    assert_eq!(
        refused_at,
        Some(served),
        "refused once the gap budget ran out"
    );
    assert_eq!(served, budget as u64 + 1, "budget {budget}");
    assert!((257..=264).contains(&budget), "{budget}");
    survived(&mut b, &before, |c| c.refused_hot_adds);
}
