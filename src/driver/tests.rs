//! Driver unit tests against a byte-level channel double ([`crate::sim::dm_host::pipe`]): the
//! test plays the host by hand and checks the exact bytes the driver sends.

use std::vec;
use std::vec::Vec;

use vmbus::Channel;
use zerocopy::IntoBytes;

use super::*;
use crate::protocol::{MessageType, encode};
use crate::sim::dm_host::pipe::{PipeEnd, pipe};
use crate::sim::fake_os::FakeMemory;

const S: u64 = 1_000_000_000;
const GIB: u64 = 262_144;

struct T {
    d: Driver,
    g: PipeEnd,
    h: PipeEnd,
    mem: FakeMemory,
}

impl T {
    fn new(cfg: Config) -> Self {
        let (g, h) = pipe(16 * 1024);
        Self {
            d: Driver::new(cfg, 32_768),
            g,
            h,
            mem: FakeMemory::new(GIB, 2 * GIB, 32_768),
        }
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

    fn host_send(&mut self, bytes: &[u8], now: u64) {
        self.h.send(bytes, 0, false).unwrap();
        self.d.on_channel_interrupt(&mut self.g, &mut self.mem, now);
    }

    fn poll(&mut self, now: u64) {
        self.d.poll(&mut self.g, &mut self.mem, now);
    }

    /// Runs deferred work due now until nothing is due.
    fn run(&mut self, now: u64) {
        for _ in 0..10_000 {
            if self.d.next_deadline().is_none_or(|t| t > now) {
                return;
            }
            self.poll(now);
        }
        panic!("livelock");
    }

    fn connected() -> Self {
        let mut t = Self::new(Config {
            pressure_report_delay: 0,
            ..Config::default()
        });
        t.d.start(&mut t.g, 0);
        t.sent();
        t.host_send(encode::version_response(1, true).as_bytes(), 0);
        t.sent();
        t.host_send(
            encode::capabilities_response(2, true, false, false).as_bytes(),
            0,
        );
        assert!(t.d.is_running());
        assert_eq!(
            t.d.poll_event(),
            Some(Event::Connected {
                version: Version::WIN10
            })
        );
        t
    }
}

/// Leaves the guest→host direction with room for small messages only.
fn fill_ring(t: &mut T) {
    t.sent();
    let (g, h) = pipe(2000);
    t.g = g;
    t.h = h;
    t.g.send(&[0u8; 1700], 0, false).unwrap();
}

fn balloon_only(v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.into_iter()
        .filter(|m| ty(m) == MessageType::BALLOON_RESPONSE)
        .collect()
}

fn ty(b: &[u8]) -> MessageType {
    MessageType(u16::from_le_bytes([b[0], b[1]]))
}

fn trans_id(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[4], b[5], b[6], b[7]])
}

#[test]
fn handshake_bytes_and_trans_ids() {
    let mut t = T::new(Config::default());
    t.d.start(&mut t.g, 0);
    let s = t.sent();
    assert_eq!(
        s,
        vec![
            encode::version_request(1, Version::WIN10, false)
                .as_bytes()
                .to_vec()
        ]
    );
    t.host_send(encode::version_response(1, false).as_bytes(), 10);
    t.host_send(encode::version_response(2, false).as_bytes(), 20);
    let s = t.sent();
    assert_eq!(
        s,
        vec![
            encode::version_request(2, Version::WIN8, false)
                .as_bytes()
                .to_vec(),
            encode::version_request(3, Version::WIN7, true)
                .as_bytes()
                .to_vec(),
        ]
    );
    t.host_send(encode::version_response(3, true).as_bytes(), 30);
    let s = t.sent();
    let caps = Caps::new(true, true, 7, false);
    assert_eq!(
        s,
        vec![
            encode::capabilities_report(4, caps, 0, u64::MAX)
                .as_bytes()
                .to_vec()
        ]
    );
    assert_eq!(t.d.state(), State::Initializing);
    t.host_send(
        encode::capabilities_response(9, true, true, false).as_bytes(),
        40,
    );
    assert_eq!(t.d.state(), State::Initialized);
    assert_eq!(t.d.counters().host_version, Version::WIN7);
}

#[test]
fn version_timeout_is_for_the_whole_chain() {
    let mut t = T::new(Config::default());
    t.d.start(&mut t.g, 0);
    t.host_send(encode::version_response(1, false).as_bytes(), 4 * S);
    assert_eq!(
        t.d.next_deadline(),
        Some(5 * S),
        "the rejection did not restart the clock"
    );
    t.poll(5 * S);
    assert_eq!(
        t.d.poll_event(),
        Some(Event::InitFailed(InitFailure::Timeout))
    );
}

#[test]
fn caps_timeout_starts_at_version_acceptance() {
    let mut t = T::new(Config::default());
    t.d.start(&mut t.g, 0);
    t.host_send(encode::version_response(1, true).as_bytes(), 3 * S);
    assert_eq!(t.d.next_deadline(), Some(8 * S));
}

#[test]
fn handshake_send_failure_stops_the_driver() {
    let mut t = T::new(Config::default());
    t.g.close();
    t.d.start(&mut t.g, 0);
    assert_eq!(t.d.state(), State::InitError);
    assert!(matches!(
        t.d.poll_event(),
        Some(Event::InitFailed(InitFailure::SendFailed(_)))
    ));
}

#[test]
fn balloon_floor_matches_the_fact_sheet_samples() {
    // (MiB of RAM, MiB of floor) from dm-protocol.md §3.4.
    for (ram, floor) in [
        (16, 16),
        (32, 24),
        (128, 72),
        (512, 168),
        (2048, 360),
        (8192, 744),
        (32768, 1512),
    ] {
        assert_eq!(compute_balloon_floor(ram * 256), floor * 256, "{ram} MiB");
    }
    assert_eq!(
        compute_balloon_floor(0),
        8 * 256,
        "the code's 8 MiB at T = 0"
    );
    assert_eq!(compute_balloon_floor(GIB), 232 * 256);
    assert_eq!(compute_balloon_floor(4 * GIB), 488 * 256);
}

#[test]
fn capabilities_follow_the_block_size() {
    for (block, align) in [(32_768u64, 7u8), (65_536, 8), (524_288, 11), (256, 0)] {
        assert_eq!(
            Driver::new(Config::default(), block)
                .capabilities()
                .hot_add_alignment(),
            align
        );
    }
}

#[test]
fn balloon_work_is_deferred_and_bounded_per_poll() {
    let mut t = T::connected();
    t.host_send(encode::balloon_request(1, 1000).as_bytes(), S / 2);
    assert!(
        t.sent().is_empty(),
        "nothing is allocated in the channel callback"
    );
    assert_eq!(t.d.next_deadline(), Some(0), "work is due now");
    t.poll(S / 2);
    let s = balloon_only(t.sent());
    // One message per poll: 1000 pages = 1 × 2 MiB, then 488 × 4 KiB.
    assert_eq!(s.len(), 1);
    t.poll(S / 2);
    let s2 = balloon_only(t.sent());
    assert_eq!(s2.len(), 1);
    assert_eq!(ty(&s2[0]), MessageType::BALLOON_RESPONSE);
    assert!(
        t.d.next_deadline().is_some_and(|d| d > S / 2),
        "transaction finished"
    );
    assert!(trans_id(&s2[0]) > trans_id(&s[0]));
}

#[test]
fn balloon_send_error_returns_the_pages() {
    let mut t = T::connected();
    t.host_send(encode::balloon_request(1, 600).as_bytes(), 0);
    t.g.close();
    t.run(0);
    let c = t.d.counters();
    assert!(c.send_failures >= 1);
    assert_eq!(
        c.pages_ballooned, 0,
        "pages of the failed message went back to the OS"
    );
    assert_eq!(t.mem.free_pages(), GIB);
    assert!(t.mem.violations.is_empty());
}

#[test]
fn unballoon_queued_before_a_pending_response_is_sent_cannot_name_its_frames() {
    // Found by the dm_driver fuzz target: the ring frees up between the unballoon request's
    // arrival and the next poll, which then sends the pending balloon response. The request was
    // made before the host held those frames, so it must not free them.
    let mut t = T::connected();
    fill_ring(&mut t);
    t.host_send(encode::balloon_request(1, 100).as_bytes(), 0);
    t.run(0);
    let pending: Vec<PageRange> = t.d.pending.clone();
    assert!(
        !pending.is_empty() && t.d.ballooned().is_empty(),
        "response pending"
    );
    let msg = encode::to_vec(&encode::unballoon_request(2, false, 1), &pending[..1]);
    t.host_send(&msg, 0);
    t.sent(); // the host reads the filler: the ring has room again
    t.run(S);
    let c = t.d.counters();
    assert_eq!(c.refused_unballoon_pages, pending[0].page_cnt());
    assert_eq!(
        c.pages_ballooned, 100,
        "the response's frames stay with the host"
    );
    assert!(t.d.ballooned().contains(pending[0].start_page()));
    assert!(t.mem.violations.is_empty());
}

#[test]
fn pages_in_an_unsent_response_are_not_returned_by_unballoon() {
    let mut t = T::connected();
    fill_ring(&mut t);
    t.host_send(encode::balloon_request(1, 100).as_bytes(), 0);
    t.run(0);
    let c = t.d.counters();
    assert!(c.ring_full >= 1);
    assert_eq!(c.pages_ballooned, 100, "allocated, pending");
    assert!(t.d.ballooned().is_empty(), "but not given to the host yet");
    // A host guessing those frames gets nothing.
    let pending: Vec<PageRange> = t.d.pending.clone();
    let msg = encode::to_vec(&encode::unballoon_request(2, false, 1), &pending[..1]);
    t.h.send(&msg, 0, false).unwrap();
    t.d.on_channel_interrupt(&mut t.g, &mut t.mem, 0);
    t.poll(0);
    assert_eq!(t.d.counters().refused_unballoon_pages, 1);
    assert!(t.mem.violations.is_empty());
}

#[test]
fn unballoon_replies_only_after_the_last_message() {
    let mut t = T::connected();
    t.host_send(encode::balloon_request(1, 4).as_bytes(), 0);
    t.run(0);
    t.sent();
    let frames: Vec<(u64, u64)> = t.d.ballooned().iter().collect();
    let mut ranges = Vec::new();
    for (s, e) in frames {
        for p in s..e {
            ranges.push(PageRange::new(p, 1).unwrap());
        }
    }
    assert_eq!(ranges.len(), 4);
    for (i, r) in ranges.iter().enumerate() {
        let more = i + 1 < ranges.len();
        let msg = encode::to_vec(&encode::unballoon_request(10 + i as u32, more, 1), &[*r]);
        t.host_send(&msg, 0);
        t.run(0);
        let s = t.sent();
        if more {
            assert!(s.is_empty(), "no reply while more_pages = 1");
            assert_eq!(t.d.state(), State::BalloonDown);
        } else {
            assert_eq!(s.len(), 1);
            assert_eq!(ty(&s[0]), MessageType::UNBALLOON_RESPONSE);
            assert_eq!(s[0].len(), 8);
        }
    }
    assert_eq!(t.d.state(), State::Initialized);
    assert_eq!(t.d.counters().pages_ballooned, 0);
}

#[test]
fn hibernation_ignores_balloon_requests() {
    let mut t = T::new(Config {
        hibernation: true,
        ..Config::default()
    });
    t.d.start(&mut t.g, 0);
    t.host_send(encode::version_response(1, true).as_bytes(), 0);
    t.host_send(
        encode::capabilities_response(2, true, false, false).as_bytes(),
        0,
    );
    t.sent();
    t.host_send(encode::balloon_request(3, 100).as_bytes(), 0);
    t.run(0);
    assert!(t.sent().is_empty(), "no response at all, as Linux");
    assert_eq!(t.d.counters().unsupported_requests, 1);
}

#[test]
fn debugfs_capabilities_show_hibernation() {
    let t = T::new(Config {
        hibernation: true,
        ..Config::default()
    });
    let text = std::format!("{}", t.d.debugfs(&t.mem));
    assert_eq!(
        text.lines().nth(1),
        Some("capabilities          : enabled hot_add hibernation"),
        "the advertised bits as hv_balloon, then the hibernation mode"
    );
}

#[test]
fn packets_drained_per_call_are_bounded() {
    let mut t = T::connected();
    t.h.set_capacity(1 << 20);
    for i in 0..(MAX_PACKETS_PER_CALL + 10) {
        t.h.send(
            encode::info_max_page_count(i as u32, i as u64).as_slice(),
            0,
            false,
        )
        .unwrap();
    }
    t.d.on_channel_interrupt(&mut t.g, &mut t.mem, 0);
    assert_eq!(
        t.d.counters().messages_received,
        2 + MAX_PACKETS_PER_CALL as u64
    );
    assert_eq!(
        t.d.next_deadline(),
        Some(0),
        "the rest is drained from poll"
    );
    t.poll(0);
    assert_eq!(
        t.d.counters().messages_received,
        2 + MAX_PACKETS_PER_CALL as u64 + 10
    );
}

#[test]
fn status_report_values_and_rate() {
    let mut t = T::connected();
    t.mem.use_pages(1000);
    t.poll(S);
    let s = t.sent();
    assert_eq!(s.len(), 1);
    assert_eq!(ty(&s[0]), MessageType::STATUS_REPORT);
    let avail = u64::from_le_bytes(s[0][8..16].try_into().unwrap());
    let committed = u64::from_le_bytes(s[0][16..24].try_into().unwrap());
    assert_eq!(avail, GIB - 1000);
    assert_eq!(committed, 1000 + compute_balloon_floor(GIB));
    assert!(s[0][24..48].iter().all(|&b| b == 0));
    // At most one per second even when balloon sends ask for more.
    t.host_send(encode::balloon_request(3, 1).as_bytes(), S + 1);
    t.run(S + 1);
    let s = t.sent();
    assert!(s.iter().all(|m| ty(m) != MessageType::STATUS_REPORT));
}

#[test]
fn debugfs_lines() {
    let t = T::connected();
    let text = std::format!("{}", t.d.debugfs(&t.mem));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "host_version          : 2.0");
    assert_eq!(lines[1], "capabilities          : enabled hot_add");
    assert_eq!(lines[2], "state                 : 1 (Initialized)");
    assert_eq!(lines[3], "page_size             : 4096");
    assert_eq!(lines[4], "pages_added           : 0");
    assert_eq!(lines[5], "pages_onlined         : 0");
    assert_eq!(lines[6], "pages_ballooned       : 0");
    assert_eq!(
        lines[7],
        std::format!("total_pages_committed : {}", compute_balloon_floor(GIB))
    );
    assert_eq!(lines[8], "max_dynamic_page_count: 0");
}

#[test]
fn recv_buffer_too_small_is_counted_dropped_and_not_fatal() {
    let mut t = T::connected();
    t.h.set_capacity(1 << 20);
    t.h.send(&[0u8; 5000], 0, false).unwrap();
    t.h.send(encode::balloon_request(1, 10).as_bytes(), 0, false)
        .unwrap();
    t.d.on_channel_interrupt(&mut t.g, &mut t.mem, 0);
    t.run(0);
    assert_eq!(t.d.counters().oversized_packets, 1);
    assert_eq!(t.d.counters().recv_errors, 0);
    assert!(t.d.is_running());
    assert_eq!(
        t.d.counters().pages_ballooned,
        10,
        "the next packet was served"
    );
}

#[test]
fn suspend_returns_unsent_pages() {
    let mut t = T::connected();
    fill_ring(&mut t);
    t.host_send(encode::balloon_request(1, 50).as_bytes(), 0);
    t.run(0);
    assert_eq!(t.d.counters().pages_ballooned, 50);
    t.d.suspend(&mut t.mem);
    assert_eq!(t.d.counters().pages_ballooned, 0);
    assert_eq!(t.mem.free_pages(), GIB);
    assert!(t.mem.violations.is_empty());
}

#[test]
fn a_closed_channel_stops_the_driver() {
    let mut t = T::connected();
    t.g.close();
    t.d.on_channel_interrupt(&mut t.g, &mut t.mem, 0);
    assert_eq!(t.d.poll_event(), Some(Event::ChannelClosed));
    assert!(!t.d.is_running());
    assert_eq!(t.d.next_deadline(), None);
}

#[test]
fn refused_requests_are_counted_and_shown() {
    let mut t = T::connected();
    let mut bad = encode::balloon_request(3, 100).as_bytes().to_vec();
    bad[2] = 200;
    t.host_send(&bad, 0);
    t.run(0);
    let mut bad_ha = encode::hot_add_request(4, PageRange::new(GIB, 8).unwrap())
        .as_bytes()
        .to_vec();
    bad_ha[2] = 20;
    bad_ha.extend_from_slice(&[0; 4]);
    t.host_send(&bad_ha, 0);
    t.run(0);
    let s: Vec<Vec<u8>> = t
        .sent()
        .into_iter()
        .filter(|m| ty(m) != MessageType::STATUS_REPORT)
        .collect();
    assert_eq!(s.len(), 2, "both answered");
    assert_eq!(ty(&s[0]), MessageType::BALLOON_RESPONSE);
    assert_eq!(&s[0][8..16], &[0; 8], "final, no ranges");
    assert_eq!(ty(&s[1]), MessageType::MEM_HOT_ADD_RESPONSE);
    assert_eq!(&s[1][8..16], &[0; 8], "0 pages, transient failure");
    let c = t.d.counters();
    assert_eq!((c.parse_errors, c.refused_requests), (2, 2));
    let text = std::format!("{}", t.d.debugfs(&t.mem));
    assert!(text.contains("refused_requests      : 2\n"), "{text}");
}

#[test]
fn refused_hot_add_is_permanent_once_hot_add_is_off() {
    let mut t = T::new(Config {
        hot_add: false,
        pressure_report_delay: 1000,
        ..Config::default()
    });
    t.d.start(&mut t.g, 0);
    t.host_send(encode::version_response(1, true).as_bytes(), 0);
    t.host_send(
        encode::capabilities_response(2, true, false, false).as_bytes(),
        0,
    );
    t.sent();
    let r = PageRange::new(FRAME_SPACE_END - 1, 2).unwrap();
    t.host_send(encode::hot_add_request(9, r).as_bytes(), 0);
    t.run(0);
    assert_eq!(
        t.sent(),
        vec![encode::hot_add_response(3, 0, true).as_bytes().to_vec()]
    );
}

#[test]
fn hibernation_ignores_malformed_balloon_requests_too() {
    let mut t = T::new(Config {
        hibernation: true,
        ..Config::default()
    });
    t.d.start(&mut t.g, 0);
    t.host_send(encode::version_response(1, true).as_bytes(), 0);
    t.host_send(
        encode::capabilities_response(2, true, false, false).as_bytes(),
        0,
    );
    t.sent();
    let mut bad = encode::balloon_request(3, 100).as_bytes().to_vec();
    bad[2] = 12;
    t.host_send(&bad[..12], 0);
    t.run(0);
    assert!(t.sent().is_empty(), "ignored, as a well-formed one");
    assert_eq!(t.d.counters().unsupported_requests, 1);
    assert_eq!(t.d.counters().refused_requests, 0);
}

#[test]
fn status_reports_go_out_when_the_host_sets_suppress_pressure_reports() {
    let mut t = T::new(Config {
        pressure_report_delay: 0,
        ..Config::default()
    });
    t.d.start(&mut t.g, 0);
    t.host_send(encode::version_response(1, true).as_bytes(), 0);
    t.host_send(
        encode::capabilities_response(2, true, true, true).as_bytes(),
        0,
    );
    t.sent();
    assert!(t.d.pressure_reports_suppressed(), "recorded");
    t.mem.use_pages(1000);
    t.poll(S);
    assert_eq!(
        t.sent(),
        vec![
            encode::status_report(3, GIB - 1000, 1000 + compute_balloon_floor(GIB))
                .as_bytes()
                .to_vec()
        ],
        "sent anyway, as Linux"
    );
}
