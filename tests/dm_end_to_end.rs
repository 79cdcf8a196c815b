//! End-to-end: the DM driver against the simulated DM host over the simulated VMBus.
#![cfg(feature = "sim")]

use hv_dynmem::driver::{Config, Driver, Event, InitFailure, State, compute_balloon_floor};
use hv_dynmem::os::GuestMemory;
use hv_dynmem::protocol::{PageRange, Version};
use hv_dynmem::sim::dm_host::bench::{Bench, on_sim_vmbus};
use hv_dynmem::sim::dm_host::{DmHost, HostConfig, Policy};
use hv_dynmem::sim::fake_os::{FakeMemory, Frame};
use vmbus::sim::{GuestEndpoint, HostEndpoint};

const S: u64 = 1_000_000_000;
const GIB: u64 = 262_144;
const BLOCK: u64 = 32_768;

type B = Bench<FakeMemory, GuestEndpoint, HostEndpoint>;

fn bench_with(cfg: Config, host: HostConfig, ram: u64) -> B {
    let mem = FakeMemory::new(ram, ram + 8 * GIB, BLOCK);
    let driver = Driver::new(cfg, mem.memory_block_pages());
    let mut b = on_sim_vmbus(driver, mem, DmHost::new(host));
    b.start();
    b
}

fn manual(ram: u64) -> B {
    let mut host = HostConfig::new(Policy::Manual, ram);
    host.quiet_period_ns = 0;
    host.hot_add_pages = 4 * GIB;
    let mut b = bench_with(Config::default(), host, ram);
    b.advance(1);
    assert!(b.driver.is_running());
    assert!(b.host.is_idle());
    b
}

/// Everything the host holds is ballooned in the guest, and the driver's record matches.
fn check_ledger(b: &B) {
    assert!(
        b.host.violations.is_empty(),
        "host saw violations: {:?}",
        b.host.violations
    );
    assert!(
        b.mem.violations.is_empty(),
        "guest OS saw violations: {:?}",
        b.mem.violations
    );
    assert_eq!(
        b.host.ledger.ballooned,
        *b.driver.ballooned(),
        "host ledger == driver record"
    );
    for (s, e) in b.host.ledger.ballooned.iter() {
        for p in s..e {
            assert_eq!(
                b.mem.frame(p),
                Frame::Ballooned,
                "frame {p:#x} held by host"
            );
        }
    }
    assert_eq!(b.mem.ballooned_pages(), b.host.ledger.ballooned.pages());
}

#[test]
fn negotiates_2_0() {
    let b = manual(GIB);
    assert_eq!(b.host.negotiated, Some(Version::WIN10));
    assert_eq!(b.host.version_requests, vec![(Version::WIN10, false)]);
    assert_eq!(
        b.events,
        vec![Event::Connected {
            version: Version::WIN10
        }]
    );
    let caps = b.host.guest_caps.unwrap();
    assert!(caps.balloon() && caps.hot_add());
    assert_eq!(caps.hot_add_alignment(), 7, "128 MiB blocks");
    assert_eq!(b.driver.state(), State::Initialized);
}

fn with_host(f: impl FnOnce(&mut HostConfig), ram: u64) -> B {
    let mut host = HostConfig::new(Policy::Manual, ram);
    host.quiet_period_ns = 0;
    f(&mut host);
    bench_with(Config::default(), host, ram)
}

#[test]
fn negotiates_1_0_after_2_0_rejected() {
    let mut b = with_host(|h| h.reject_versions = vec![Version::WIN10], GIB);
    b.advance(1);
    assert_eq!(
        b.host.version_requests,
        vec![(Version::WIN10, false), (Version::WIN8, false)]
    );
    assert_eq!(b.host.negotiated, Some(Version::WIN8));
    assert_eq!(
        b.events,
        vec![Event::Connected {
            version: Version::WIN8
        }]
    );
    assert!(b.host.violations.is_empty());
}

#[test]
fn negotiates_0_3_after_2_0_and_1_0_rejected() {
    let mut b = with_host(
        |h| h.reject_versions = vec![Version::WIN10, Version::WIN8],
        GIB,
    );
    b.advance(1);
    assert_eq!(
        b.host.version_requests,
        vec![
            (Version::WIN10, false),
            (Version::WIN8, false),
            (Version::WIN7, true)
        ]
    );
    assert_eq!(b.host.negotiated, Some(Version::WIN7));
    assert!(b.driver.is_running());
    assert_eq!(b.driver.counters().host_version, Version::WIN7);
    assert!(b.host.violations.is_empty());
}

#[test]
fn fails_cleanly_when_every_version_is_rejected() {
    let mut b = with_host(
        |h| h.reject_versions = vec![Version::WIN10, Version::WIN8, Version::WIN7],
        GIB,
    );
    b.advance(10 * S);
    assert_eq!(b.host.version_requests.len(), 3);
    assert_eq!(
        b.events,
        vec![Event::InitFailed(InitFailure::VersionRejected)]
    );
    assert_eq!(b.driver.state(), State::InitError);
    assert!(!b.driver.is_running());
    assert_eq!(
        b.driver.next_deadline(),
        None,
        "a failed driver asks for no timers"
    );
    assert!(b.host.status_reports.is_empty());
}

#[test]
fn version_phase_times_out_after_5_s() {
    let mut b = with_host(|h| h.answer_versions = false, GIB);
    b.run_until(5 * S - 1);
    assert_eq!(b.driver.state(), State::Initializing);
    assert!(b.events.is_empty());
    b.run_until(5 * S);
    assert_eq!(b.events, vec![Event::InitFailed(InitFailure::Timeout)]);
    assert_eq!(b.driver.state(), State::InitError);
}

#[test]
fn capabilities_phase_times_out_after_5_s() {
    let mut b = with_host(|h| h.answer_caps = false, GIB);
    b.run_until(5 * S - 1);
    assert!(b.events.is_empty());
    b.run_until(5 * S + 1);
    assert_eq!(b.events, vec![Event::InitFailed(InitFailure::Timeout)]);
}

#[test]
fn rejected_capabilities_stop_the_driver() {
    let mut b = with_host(|h| h.accept_caps = false, GIB);
    b.advance(60 * S);
    assert_eq!(
        b.events,
        vec![Event::InitFailed(InitFailure::CapabilitiesRejected)]
    );
    assert_eq!(b.driver.state(), State::InitError);
    assert!(
        b.host.status_reports.is_empty(),
        "a stopped driver sends nothing"
    );
}

/// Balloons `n` pages and checks every response and the ledgers.
fn balloon(b: &mut B, n: u32) -> Vec<hv_dynmem::sim::dm_host::BalloonResponseRecord> {
    let before = b.host.balloon_responses.len();
    let held = b.host.ledger.ballooned.pages();
    assert!(b.host.request_balloon(&mut b.host_ch, n));
    b.advance(1);
    if !b.host.is_idle() {
        b.advance(S / 2); // ring-full retries run on a 20 ms timer
    }
    assert!(b.host.is_idle(), "transaction finished");
    let resps = b.host.balloon_responses[before..].to_vec();
    let (last, rest) = resps.split_last().expect("at least one response");
    assert!(!last.more_pages, "final response has more_pages = 0");
    assert!(
        rest.iter().all(|r| r.more_pages),
        "all but the last have more_pages = 1"
    );
    assert!(resps.iter().all(|r| r.ranges.len() <= 510));
    let pages: u64 = resps
        .iter()
        .flat_map(|r| &r.ranges)
        .map(|r| r.page_cnt())
        .sum();
    assert_eq!(b.host.ledger.ballooned.pages() - held, pages);
    check_ledger(b);
    resps
}

#[test]
fn balloon_0_pages_sends_one_empty_terminator() {
    let mut b = manual(GIB);
    let r = balloon(&mut b, 0);
    assert_eq!(r.len(), 1);
    assert!(r[0].ranges.is_empty());
    assert_eq!(b.driver.counters().pages_ballooned, 0);
}

#[test]
fn balloon_1_page() {
    let mut b = manual(GIB);
    let r = balloon(&mut b, 1);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].ranges.len(), 1);
    assert_eq!(r[0].ranges[0].page_cnt(), 1);
    assert_eq!(b.driver.counters().pages_ballooned, 1);
}

#[test]
fn balloon_511_pages_needs_two_messages_of_4k_units() {
    let mut b = manual(GIB);
    let r = balloon(&mut b, 511);
    assert_eq!(
        r.iter().map(|r| r.ranges.len()).collect::<Vec<_>>(),
        vec![510, 1]
    );
    assert!(r.iter().flat_map(|r| &r.ranges).all(|r| r.page_cnt() == 1));
    assert_eq!(b.host.ledger.ballooned.pages(), 511);
}

#[test]
fn balloon_512_pages_is_one_2m_range() {
    let mut b = manual(GIB);
    let r = balloon(&mut b, 512);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].ranges.len(), 1);
    assert_eq!(r[0].ranges[0].page_cnt(), 512);
    assert_eq!(r[0].ranges[0].start_page() % 512, 0, "naturally aligned");
}

#[test]
fn balloon_513_pages_is_2m_then_4k() {
    let mut b = manual(GIB);
    let r = balloon(&mut b, 513);
    let cnts: Vec<Vec<u64>> = r
        .iter()
        .map(|r| r.ranges.iter().map(|x| x.page_cnt()).collect())
        .collect();
    assert_eq!(cnts, vec![vec![512], vec![1]]);
}

#[test]
fn balloon_300_000_pages() {
    let mut b = manual(4 * GIB);
    let r = balloon(&mut b, 300_000);
    let units: Vec<(usize, u64)> = r
        .iter()
        .map(|r| (r.ranges.len(), r.ranges.iter().map(|x| x.page_cnt()).sum()))
        .collect();
    // 585 2 MiB units (510 + 75), then the 480-page remainder in 4 KiB units.
    assert_eq!(units, vec![(510, 261_120), (75, 38_400), (480, 480)]);
    assert_eq!(b.host.ledger.ballooned.pages(), 300_000);
    assert_eq!(b.driver.counters().pages_ballooned, 300_000);
    assert_eq!(
        b.mem.stats().total,
        4 * GIB - 300_000,
        "ballooned pages leave the managed count"
    );
}

#[test]
fn balloon_is_clamped_to_available_minus_floor() {
    let mut b = manual(GIB);
    b.mem.use_pages(100_000);
    let st = b.mem.stats();
    let floor = compute_balloon_floor(st.total);
    assert_eq!(floor, 232 * 256, "1 GiB guest: 232 MiB floor");
    let expect = st.available - floor;
    balloon(&mut b, 200_000);
    assert_eq!(b.host.ledger.ballooned.pages(), expect);
    // The floor shrinks with the managed count, so later requests still get a little; keep
    // asking until the guest answers with an empty terminator. The floor is never crossed.
    let mut rounds = 0;
    loop {
        let r = balloon(&mut b, 100_000);
        let st = b.mem.stats();
        assert!(
            st.available >= compute_balloon_floor(st.total),
            "floor crossed: {st:?}"
        );
        if r.len() == 1 && r[0].ranges.is_empty() {
            break;
        }
        rounds += 1;
        assert!(rounds < 20, "converges");
    }
    let st = b.mem.stats();
    assert!(
        st.available - compute_balloon_floor(st.total) < 512 * 2,
        "{st:?}"
    );
}

#[test]
fn partial_and_full_unballoon() {
    let mut b = manual(GIB);
    balloon(&mut b, 10_000);
    let free_before = b.mem.free_pages();
    // Partial: the top half of the highest range, sent as several messages, one reply.
    let (s, e) = b.host.ledger.ballooned.iter().last().unwrap();
    let mid = s + (e - s) / 2;
    let ranges = [
        PageRange::new(mid, (e - mid) / 2).unwrap(),
        PageRange::new(mid + (e - mid) / 2, e - mid - (e - mid) / 2).unwrap(),
    ];
    assert!(b.host.request_unballoon(&mut b.host_ch, &ranges));
    b.advance(1);
    assert_eq!(b.host.unballoon_responses, 1);
    assert_eq!(b.mem.free_pages() - free_before, e - mid);
    check_ledger(&b);
    // Full: everything left, one range per message.
    let all: Vec<PageRange> = b
        .host
        .ledger
        .ballooned
        .iter()
        .flat_map(|(s, e)| {
            (s..e)
                .step_by(1 << 20)
                .map(move |x| PageRange::new(x, (e - x).min(1 << 20)).unwrap())
        })
        .collect();
    assert!(b.host.request_unballoon(&mut b.host_ch, &all));
    b.advance(1);
    assert_eq!(b.host.unballoon_responses, 2);
    assert_eq!(b.driver.counters().pages_ballooned, 0);
    assert_eq!(b.mem.free_pages(), GIB);
    assert_eq!(b.mem.stats().total, GIB);
    check_ledger(&b);
    assert_eq!(b.driver.counters().errors(), 0);
}

#[test]
fn unballoon_multi_range_message() {
    let mut b = manual(GIB);
    balloon(&mut b, 600);
    let ranges: Vec<PageRange> = b
        .host
        .ledger
        .ballooned
        .iter()
        .map(|(s, e)| PageRange::new(s, e - s).unwrap())
        .collect();
    assert!(
        b.host
            .request_unballoon_multi(&mut b.host_ch, &ranges, false)
    );
    b.advance(1);
    assert_eq!(b.host.unballoon_responses, 1);
    assert_eq!(b.driver.counters().pages_ballooned, 0);
    check_ledger(&b);
}

// ---------------------------------------------------------------- hot-add

fn hot_add(b: &mut B, start: u64, cnt: u64, region: Option<(u64, u64)>) -> (u32, u32) {
    let range = PageRange::new(start, cnt).unwrap();
    let region = region.map(|(s, c)| PageRange::new(s, c).unwrap());
    assert!(b.host.request_hot_add(&mut b.host_ch, range, region));
    b.advance(1);
    assert!(b.host.is_idle());
    *b.host.hot_add_responses.last().unwrap()
}

#[test]
fn hot_add_with_region() {
    let mut b = manual(GIB);
    let base = 4 * GIB;
    assert_eq!(
        hot_add(&mut b, base, 2 * BLOCK, Some((base, 2 * BLOCK))),
        (2 * BLOCK as u32, 1)
    );
    let c = b.driver.counters();
    assert_eq!((c.pages_added, c.pages_onlined), (2 * BLOCK, 2 * BLOCK));
    assert_eq!(b.mem.stats().total, GIB + 2 * BLOCK);
    assert!((base..base + 2 * BLOCK).all(|p| b.mem.frame(p) == Frame::Free));
    assert!(b.driver.is_backed(base) && !b.driver.is_backed(base + 2 * BLOCK));
    assert!(b.mem.violations.is_empty() && b.host.violations.is_empty());
}

#[test]
fn hot_add_without_region_then_contiguous_and_with_a_gap() {
    let mut b = manual(GIB);
    let base = 4 * GIB;
    // Unaligned start: the synthesised region covers whole blocks, only the range is onlined.
    assert_eq!(hot_add(&mut b, base + 1000, 5000, None), (5000, 1));
    assert_eq!(
        b.mem.frame(base + 999),
        Frame::AddedOffline,
        "unbacked stays offline"
    );
    assert_eq!(b.mem.frame(base + 1000), Frame::Free);
    assert_eq!(b.mem.frame(base + 5999), Frame::Free);
    assert_eq!(b.mem.frame(base + 6000), Frame::AddedOffline);
    // Contiguous: inside the block already added, no new memory block needed.
    assert_eq!(hot_add(&mut b, base + 6000, 3000, None), (3000, 1));
    // With a gap: [9000, 10000) stays unbacked.
    assert_eq!(hot_add(&mut b, base + 10_000, 100, None), (100, 1));
    assert!(!b.driver.is_backed(base + 9500));
    assert_eq!(b.mem.frame(base + 9500), Frame::AddedOffline);
    // Past the region end: the region grows by whole blocks.
    assert_eq!(
        hot_add(&mut b, base + 10_100, BLOCK, None),
        (BLOCK as u32, 1)
    );
    let c = b.driver.counters();
    assert_eq!(c.pages_added, 5000 + 3000 + 100 + BLOCK);
    assert_eq!(c.pages_onlined, c.pages_added);
    assert!(b.mem.violations.is_empty(), "{:?}", b.mem.violations);
}

#[test]
fn hot_add_unaligned_region_is_refused() {
    let mut b = manual(GIB);
    let base = 4 * GIB + 100;
    assert_eq!(hot_add(&mut b, base, BLOCK, Some((base, BLOCK))), (0, 0));
    assert_eq!(b.driver.counters().refused_hot_adds, 1);
    assert!(b.driver.is_running());
}

#[test]
fn hot_add_partial_success_at_the_guests_ceiling() {
    let mut host = HostConfig::new(Policy::Manual, GIB);
    host.quiet_period_ns = 0;
    let mem = FakeMemory::new(GIB, GIB + BLOCK, BLOCK); // room for one block only
    let driver = Driver::new(Config::default(), BLOCK);
    let mut b = on_sim_vmbus(driver, mem, DmHost::new(host));
    b.start();
    b.advance(1);
    let (pc, res) = hot_add(&mut b, GIB, 3 * BLOCK, Some((GIB, 3 * BLOCK)));
    assert_eq!(
        (pc, res),
        (BLOCK as u32, 1),
        "partial success: fewer pages, result 1"
    );
    assert!(b.mem.violations.is_empty());
}

#[test]
fn hot_add_permanent_failure_answers_success_with_0_pages() {
    let mut b = manual(GIB);
    b.mem.fail_add_memory = Some(hv_dynmem::os::AddMemoryError::AlreadyExists);
    assert_eq!(hot_add(&mut b, 4 * GIB, BLOCK, None), (0, 1));
    b.mem.fail_add_memory = None;
    assert_eq!(
        hot_add(&mut b, 5 * GIB, BLOCK, None),
        (0, 1),
        "hot-add stays disabled"
    );
}

#[test]
fn hot_add_transient_failure_answers_failure() {
    let mut b = manual(GIB);
    b.mem.fail_add_memory = Some(hv_dynmem::os::AddMemoryError::Failed);
    assert_eq!(hot_add(&mut b, 4 * GIB, BLOCK, None), (0, 0));
    b.mem.fail_add_memory = None;
    assert_eq!(
        hot_add(&mut b, 4 * GIB, BLOCK, None),
        (BLOCK as u32, 1),
        "the host may retry"
    );
}

#[test]
fn hot_add_disabled_by_config_or_hibernation_is_permanent() {
    for cfg in [
        Config {
            hot_add: false,
            ..Config::default()
        },
        Config {
            hibernation: true,
            ..Config::default()
        },
    ] {
        let mut host = HostConfig::new(Policy::Manual, GIB);
        host.quiet_period_ns = 0;
        let mut b = bench_with(cfg, host, GIB);
        b.advance(1);
        assert!(
            b.host.guest_caps.unwrap().hot_add(),
            "the cap is still advertised, as Linux"
        );
        assert_eq!(hot_add(&mut b, 4 * GIB, BLOCK, None), (0, 1));
    }
}

#[test]
fn hot_added_pages_count_as_committed_until_onlined() {
    let mut b = manual(GIB);
    b.mem.online_immediately = false;
    assert_eq!(hot_add(&mut b, 4 * GIB, BLOCK, None), (BLOCK as u32, 1));
    let st = b.mem.stats();
    let c = b.driver.counters();
    assert_eq!((c.pages_added, c.pages_onlined), (BLOCK, 0));
    assert_eq!(
        b.driver.pages_committed(&st),
        st.committed + BLOCK + compute_balloon_floor(st.total)
    );
    let n = b.mem.online_all();
    b.driver.on_pages_onlined(n);
    let st = b.mem.stats();
    assert_eq!(
        b.driver.pages_committed(&st),
        st.committed + compute_balloon_floor(st.total)
    );
}

// ---------------------------------------------------------------- status, info, hot-remove

#[test]
fn status_cadence_and_values() {
    let mut host = HostConfig::new(Policy::Manual, GIB);
    host.quiet_period_ns = 0;
    let mut b = bench_with(Config::default(), host, GIB);
    b.mem.use_pages(50_000);
    b.mem.base_committed = 70_000;
    let t0 = b.now;
    b.run_until(t0 + 45 * S + S / 2);
    assert!(
        b.host.status_reports.is_empty(),
        "the first 45 reports are skipped"
    );
    b.run_until(t0 + 46 * S);
    assert_eq!(b.host.status_reports.len(), 1);
    assert_eq!(b.host.status_reports[0].at, t0 + 46 * S);
    b.run_until(t0 + 56 * S);
    let times: Vec<u64> = b.host.status_reports.iter().map(|r| r.at - t0).collect();
    assert_eq!(
        times,
        (46..=56).map(|s| s * S).collect::<Vec<_>>(),
        "one per second"
    );
    let last = *b.host.status_reports.last().unwrap();
    let st = b.mem.stats();
    assert_eq!(last.num_avail, st.available);
    assert_eq!(last.num_committed, 120_000 + compute_balloon_floor(GIB));
    // Ballooned pages count as committed.
    balloon(&mut b, 1024);
    b.advance(2 * S);
    let last = *b.host.status_reports.last().unwrap();
    let st = b.mem.stats();
    assert_eq!(
        last.num_committed,
        120_000 + 1024 + compute_balloon_floor(GIB - 1024)
    );
    assert_eq!(last.num_avail, st.available);
}

#[test]
fn status_delay_is_configurable() {
    let mut host = HostConfig::new(Policy::Manual, GIB);
    host.quiet_period_ns = 0;
    let mut b = bench_with(
        Config {
            pressure_report_delay: 0,
            ..Config::default()
        },
        host,
        GIB,
    );
    b.run_until(3 * S);
    assert_eq!(b.host.status_reports.len(), 3);
}

#[test]
fn pressure_reports_are_sent_even_when_the_host_suppresses_them() {
    // Linux ignores `suppress_pressure_reports`; QEMU sets it only when it drops every report
    // unread. Reports keep their cadence and values whether the bit is set or not.
    let run = |suppress: bool| {
        let mut host = HostConfig::new(Policy::Manual, GIB);
        host.suppress_pressure_reports = suppress;
        let mut b = bench_with(
            Config {
                pressure_report_delay: 0,
                ..Config::default()
            },
            host,
            GIB,
        );
        b.run_until(3 * S);
        assert_eq!(b.driver.pressure_reports_suppressed(), suppress);
        assert!(b.host.violations.is_empty(), "{:?}", b.host.violations);
        b.host
            .status_reports
            .iter()
            .map(|r| (r.at, r.num_avail, r.num_committed))
            .collect::<Vec<_>>()
    };
    let suppressed = run(true);
    assert_eq!(suppressed.len(), 3);
    assert_eq!(suppressed, run(false));
}

#[test]
fn info_message_sets_max_dynamic_page_count() {
    let params = hv_dynmem::sim::dm_host::HyperVParams {
        max_pages: 16 * GIB,
        ..Default::default()
    };
    let host = HostConfig::new(Policy::HyperV(params), GIB);
    let mut b = bench_with(Config::default(), host, GIB);
    b.run_until(49 * S);
    assert_eq!(
        b.driver.counters().max_dynamic_page_count,
        0,
        "quiet period"
    );
    b.run_until(51 * S);
    assert_eq!(b.driver.counters().max_dynamic_page_count, 16 * GIB);
    let text = b.driver.debugfs(&b.mem).to_string();
    assert!(
        text.contains(&format!("max_dynamic_page_count: {}", 16 * GIB)),
        "{text}"
    );
    assert!(text.contains("host_version          : 2.0"), "{text}");
    assert!(
        text.contains("capabilities          : enabled hot_add"),
        "{text}"
    );
    assert!(
        text.contains("state                 : 1 (Initialized)"),
        "{text}"
    );
}

#[test]
fn hot_remove_is_answered_as_unsupported() {
    let mut b = manual(GIB);
    b.host.request_hot_remove(&mut b.host_ch, 1024);
    b.advance(1);
    assert_eq!(b.host.hot_remove_responses, vec![(0, 0)]);
    assert!(!b.host.guest_caps.unwrap().hot_remove());
    assert!(b.driver.is_running());
}

// ---------------------------------------------------------------- suspend / resume

#[test]
fn suspend_and_resume_renegotiate() {
    let mut b = manual(GIB);
    balloon(&mut b, 2048);
    b.driver.suspend(&mut b.mem);
    assert_eq!(b.driver.next_deadline(), None);
    b.advance(10 * S);
    assert_eq!(b.host.version_requests.len(), 1);
    // Resume: the channel is reopened and the full handshake runs again.
    b.host.reset();
    b.driver.resume(&mut b.guest_ch, b.now);
    b.advance(1);
    assert_eq!(
        b.host.version_requests,
        vec![(Version::WIN10, false), (Version::WIN10, false)]
    );
    assert!(b.driver.is_running());
    assert_eq!(b.events.len(), 2);
    // The balloon survived; the host can still take it back.
    assert_eq!(b.driver.counters().pages_ballooned, 2048);
    let all: Vec<PageRange> = b
        .host
        .ledger
        .ballooned
        .iter()
        .map(|(s, e)| PageRange::new(s, e - s).unwrap())
        .collect();
    assert!(b.host.request_unballoon(&mut b.host_ch, &all));
    b.advance(1);
    assert_eq!(b.driver.counters().pages_ballooned, 0);
    check_ledger(&b);
}

// ---------------------------------------------------------------- policies

#[test]
fn qemu_policy_inflates_and_deflates_to_target() {
    let mut host = HostConfig::new(Policy::Qemu, 2 * GIB);
    host.hot_add_pages = 2 * GIB;
    let mut b = bench_with(Config::default(), host, 2 * GIB);
    b.advance(51 * S);
    assert!(b.host.is_idle());
    b.host.set_target(GIB + GIB / 2);
    b.advance(S);
    assert_eq!(b.host.current_pages(), GIB + GIB / 2);
    check_ledger(&b);
    // Grow: unballoon everything (2 GiB chunks, one reply), then hot-add 512 MiB.
    b.host.set_target(2 * GIB + GIB / 2);
    b.advance(S);
    assert_eq!(b.host.current_pages(), 2 * GIB + GIB / 2);
    assert_eq!(b.host.ledger.ballooned.pages(), 0);
    assert_eq!(b.host.ledger.added.pages(), GIB / 2);
    assert_eq!(b.driver.counters().pages_added, GIB / 2);
    check_ledger(&b);
}

#[test]
fn hyperv_policy_follows_committed_memory() {
    let params = hv_dynmem::sim::dm_host::HyperVParams {
        min_pages: GIB / 2,
        max_pages: 4 * GIB,
        ..Default::default()
    };
    let mut host = HostConfig::new(Policy::HyperV(params), 2 * GIB);
    host.hot_add_pages = 2 * GIB;
    let cfg = Config {
        pressure_report_delay: 0,
        ..Config::default()
    };
    let mut b = bench_with(cfg, host, 2 * GIB);
    // Idle guest: demand = floor + small committed → the host balloons memory away.
    b.advance(80 * S);
    let shrunk = b.host.current_pages();
    assert!(shrunk < 2 * GIB, "balloons an idle guest: {shrunk}");
    assert!(shrunk >= GIB / 2, "never below minimum");
    check_ledger(&b);
    // Pressure: the workload commits a lot → unballoon first, then hot-add.
    let free = b.mem.free_pages();
    b.mem.use_pages(free - 10_000);
    b.mem.base_committed = GIB;
    b.advance(60 * S);
    assert_eq!(b.host.ledger.ballooned.pages(), 0, "unballooned first");
    assert!(b.host.ledger.added.pages() > 0, "then hot-added");
    assert!(b.host.current_pages() <= 4 * GIB);
    check_ledger(&b);
}

// ---------------------------------------------------------------- ring full

#[test]
fn balloon_response_is_retried_when_the_ring_is_full() {
    let mut b = manual(GIB);
    b.host_ch.force_guest_ring_full(5);
    let r = balloon(&mut b, 1024 + 3);
    assert_eq!(r.len(), 2);
    let c = b.driver.counters();
    assert!(c.ring_full >= 5, "{c:?}");
    assert_eq!(c.send_failures, 0);
    assert_eq!(c.pages_ballooned, 1027);
}

#[test]
fn unballoon_response_is_retried_when_the_ring_is_full() {
    let mut b = manual(GIB);
    balloon(&mut b, 512);
    b.host_ch.force_guest_ring_full(3);
    let all: Vec<PageRange> = b
        .host
        .ledger
        .ballooned
        .iter()
        .map(|(s, e)| PageRange::new(s, e - s).unwrap())
        .collect();
    assert!(b.host.request_unballoon(&mut b.host_ch, &all));
    b.advance(S);
    assert_eq!(b.host.unballoon_responses, 1);
    assert!(b.driver.counters().ring_full >= 3);
    check_ledger(&b);
}

#[test]
fn offlining_hot_added_memory_reduces_pages_onlined() {
    let mut b = manual(GIB);
    let base = 4 * GIB;
    assert_eq!(hot_add(&mut b, base, 1000, None), (1000, 1));
    assert_eq!(b.driver.counters().pages_onlined, 1000);
    // The OS offlines the whole block: only the 1000 backed frames counted as onlined.
    b.driver.on_memory_offline(base, BLOCK);
    assert_eq!(b.driver.counters().pages_onlined, 0);
    let st = b.mem.stats();
    assert_eq!(
        b.driver.pages_committed(&st),
        st.committed + 1000 + compute_balloon_floor(st.total)
    );
}
