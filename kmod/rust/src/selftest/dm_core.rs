//! Self-test (c): the DM driver core in the kernel against the project's simulated DM host,
//! over in-memory VMBus rings.
//!
//! The host is the simulator's own [`DmHost`] (`hv_dynmem::sim::dm_host`, built `no_std` with
//! the `dm-host` feature) with its QEMU-faithful policy: it answers the handshake, waits its
//! quiet period (shortened to 1 s through [`HostConfig`]), then drives the guest towards the
//! target the test sets, keeping a ledger of the frames it holds and a log of every protocol
//! violation by the guest. The guest is the real driver core ([`Driver`]) acting through the
//! real Linux adapter ([`LinuxMemory`]): balloon pages come from the kernel's page allocator
//! and go back to it, and `si_meminfo` must agree at every step.
//!
//! The two ends talk over two real VMBus rings (`vmbus::ring` on `FlatRingMem`, the DM
//! channel's 16 KiB each): the guest through [`vmbus::Channel`], the host through
//! [`HostChannel`]. The simulator's test [`Bench`] steps both in virtual time driven by the
//! test (no sleeping): the driver's 1 s status-report timer and its default
//! `pressure_report_delay` of 45 reports run in a few hundred rounds.
//! A livelock between the two would make `Bench::settle` panic; the self-test module's
//! guarded call turns that into a failed test (and a second WARN, which `scripts/kmod-test`
//! also rejects), never a hang.
//!
//! Covered: version negotiation (2.0 accepted first), capabilities, a status report received
//! by the host (checked against `si_mem_available`), a 2048-page balloon checked against the
//! host's ledger and `totalram`, the unballoon of everything back, and an empty violation log.

use super::Ktap;
use crate::ffi;
use crate::linux::LinuxMemory;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_int;
use hv_dynmem::driver::{Config, Driver, Event, State};
use hv_dynmem::protocol::Version;
use hv_dynmem::sim::dm_host::bench::Bench;
use hv_dynmem::sim::dm_host::{DmHost, HostChannel, HostConfig, HostSendError, Policy};
use vmbus::mem::FlatRingMem;
use vmbus::ring::{IncomingRing, OutgoingRing, ReadError, WriteError};
use vmbus::{Channel, DiscardedPacket, ReceivedPacket, RecvError, SendError, SendOk};

/// Pages the host balloons (8 MiB).
const BALLOON_PAGES: u64 = 2048;
/// The host's quiet period after the handshake (QEMU waits 50 s; shortened here), ns.
const QUIET_NS: u64 = 1_000_000_000;
/// One virtual second, ns.
const SECOND: u64 = 1_000_000_000;

/// The guest end: writes the guest→host ring, reads the host→guest ring.
struct RingChannel<'a> {
    out: OutgoingRing<&'a FlatRingMem>,
    inc: IncomingRing<&'a FlatRingMem>,
}

impl Channel for RingChannel<'_> {
    fn send(&mut self, payload: &[u8], id: u64, completion: bool) -> Result<SendOk, SendError> {
        match self.out.write_in_band(id, completion, payload) {
            Ok(w) => Ok(SendOk {
                signal_needed: w.signal,
            }),
            Err(WriteError::Full { needed, .. }) => Err(SendError::Full { needed }),
            Err(_) => Err(SendError::Corrupt("outgoing ring")),
        }
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<ReceivedPacket>, RecvError> {
        match self.inc.read(buf) {
            Ok(None) => Ok(None),
            Ok(Some(p)) => Ok(Some(ReceivedPacket {
                packet_type: p.packet_type.0,
                transaction_id: p.transaction_id,
                completion_requested: false,
                len: p.len,
                signal_needed: p.signal,
            })),
            Err(ReadError::BufferTooSmall { len, buf }) => {
                Err(RecvError::BufferTooSmall { len, buf })
            }
            Err(ReadError::Corrupt(_)) => Err(RecvError::Corrupt("incoming ring")),
        }
    }

    fn discard(&mut self) -> Result<Option<DiscardedPacket>, RecvError> {
        match self.inc.try_skip() {
            Ok(None) => Ok(None),
            Ok(Some(p)) => Ok(Some(DiscardedPacket {
                len: p.len,
                signal_needed: self.inc.commit_read(),
            })),
            Err(ReadError::BufferTooSmall { len, buf }) => {
                Err(RecvError::BufferTooSmall { len, buf })
            }
            Err(ReadError::Corrupt(_)) => Err(RecvError::Corrupt("incoming ring")),
        }
    }

    fn signal(&mut self) {}
}

/// The host end: writes the host→guest ring, reads the guest→host ring.
struct HostRing<'a> {
    out: OutgoingRing<&'a FlatRingMem>,
    inc: IncomingRing<&'a FlatRingMem>,
}

impl HostChannel for HostRing<'_> {
    fn host_send(&mut self, payload: &[u8]) -> Result<(), HostSendError> {
        match self.out.write_in_band(0, false, payload) {
            Ok(_) => Ok(()),
            Err(WriteError::Full { .. }) => Err(HostSendError::Full),
            Err(e) => {
                log::warn!("dm_core host: ring write failed: {e}");
                Err(HostSendError::Failed)
            }
        }
    }

    fn host_recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        match self.inc.read(buf) {
            Ok(p) => p.map(|p| p.len),
            Err(e) => {
                log::warn!("dm_core host: ring read failed: {e}");
                None
            }
        }
    }
}

type KBench<'a> = Bench<LinuxMemory, RingChannel<'a>, HostRing<'a>>;

/// Advances virtual time a second at a time until `done` holds (at most `seconds`); whether it
/// did.
fn advance_until(b: &mut KBench<'_>, seconds: u32, done: impl Fn(&KBench<'_>) -> bool) -> bool {
    for _ in 0..seconds {
        if done(b) {
            return true;
        }
        b.advance(SECOND);
    }
    done(b)
}

/// The test body.
pub fn run() -> c_int {
    let mut t = Ktap::start("dm_core", 11);
    run_on_rings(&mut t);
    t.finish()
}

/// Builds the rings, the host and the bench, then runs the checks. Kept out of line, and the
/// bench is built and checked in functions of their own, so no frame nears the kernel's 2 KiB
/// stack-frame limit.
#[inline(never)]
fn run_on_rings(t: &mut Ktap) {
    let g2h = FlatRingMem::dm_channel();
    let h2g = FlatRingMem::dm_channel();
    let (Ok(gout), Ok(ginc), Ok(hout), Ok(hinc)) = (
        OutgoingRing::new(&g2h),
        IncomingRing::new(&h2g),
        OutgoingRing::new(&h2g),
        IncomingRing::new(&g2h),
    ) else {
        t.check(false, "rings", format_args!("ring setup failed"));
        return;
    };
    // Guest RAM as the host sees it: every frame below the end of the highest online node.
    let boot_pages = ffi::st_end_pfn();
    let mut b = bench(
        boot_pages,
        RingChannel {
            out: gout,
            inc: ginc,
        },
        HostRing {
            out: hout,
            inc: hinc,
        },
    );
    t.diag(format_args!(
        "guest RAM to the host: {boot_pages} pages; QEMU policy, quiet period {} ms",
        QUIET_NS / 1_000_000
    ));
    handshake(t, &mut b);
    balloon(t, &mut b);
}

/// The bench on the heap: driver + host + rings together are too large for a kernel stack
/// frame.
#[inline(never)]
fn bench<'a>(boot_pages: u64, guest: RingChannel<'a>, host: HostRing<'a>) -> Box<KBench<'a>> {
    let mut cfg = HostConfig::new(Policy::Qemu, boot_pages);
    cfg.quiet_period_ns = QUIET_NS;
    Box::new(Bench::new(
        Driver::new(Config::default(), 32768),
        LinuxMemory::new(32768),
        DmHost::new(cfg),
        guest,
        host,
    ))
}

/// Negotiation, capabilities, the quiet period and a status report.
#[inline(never)]
fn handshake(t: &mut Ktap, b: &mut KBench<'_>) {
    // Negotiation: 2.0 first, accepted at once.
    b.start();
    let connected = b
        .events
        .iter()
        .any(|e| matches!(e, Event::Connected { version } if *version == Version::WIN10));
    t.check(
        b.host.version_requests.as_slice() == [(Version::WIN10, false)]
            && b.host.negotiated == Some(Version::WIN10)
            && connected,
        "version_negotiated_2_0",
        format_args!(
            "requests {:?}, host {:?}, guest events {:?}",
            b.host.version_requests, b.host.negotiated, b.events
        ),
    );
    let caps = b.host.guest_caps;
    t.check(
        caps.is_some_and(|c| c.balloon() && c.hot_add()) && b.driver.state() == State::Initialized,
        "capabilities_accepted_by_host",
        format_args!("guest caps {caps:?}, driver state {:?}", b.driver.state()),
    );

    // The quiet period passes in virtual time; the host becomes idle.
    b.advance(QUIET_NS + 1);
    t.check(
        b.host.is_idle(),
        "host_idle_after_quiet_period",
        format_args!("host {:?}", b.host.next_deadline()),
    );

    // Status reports: the driver skips its first 45 (pressure_report_delay), then reports
    // every second.
    let got = advance_until(b, 60, |b| !b.host.status_reports.is_empty());
    let avail_kernel = ffi::meminfo().available;
    let last = b.host.status_reports.last().copied();
    t.check(
        got && last.is_some_and(|s| {
            s.num_avail > 0
                && s.num_avail.abs_diff(avail_kernel) <= avail_kernel / 10
                && s.num_committed > 0
        }),
        "status_report_received_by_host",
        format_args!(
            "after {} ns: {last:?}, si_mem_available {avail_kernel}",
            b.now
        ),
    );
}

/// Balloon and unballoon through the host's policy; the ledgers and the violation log.
#[inline(never)]
fn balloon(t: &mut Ktap, b: &mut KBench<'_>) {
    // Balloon: the host's target drops by 2048 pages; it asks, the guest gives from the
    // kernel's page allocator.
    let before = ffi::meminfo();
    let host_before = b.host.current_pages();
    b.host.set_target(host_before - BALLOON_PAGES);
    let done = advance_until(b, 30, |b| {
        b.host.is_idle() && b.host.ledger.ballooned.pages() >= BALLOON_PAGES
    });
    let ledger = b.host.ledger.ballooned.pages();
    let responded: u64 = b
        .host
        .balloon_responses
        .iter()
        .flat_map(|r| r.ranges.iter())
        .map(|r| r.page_cnt())
        .sum();
    t.check(
        done && ledger == BALLOON_PAGES
            && responded == BALLOON_PAGES
            && b.host.current_pages() == host_before - BALLOON_PAGES,
        "balloon_2048_pages_in_host_ledger",
        format_args!(
            "done {done}, ledger {ledger} pages in {} ranges, {responded} pages in {} responses",
            b.host.ledger.ballooned.ranges(),
            b.host.balloon_responses.len()
        ),
    );
    t.diag(format_args!(
        "host ledger: {ledger} pages in {} ranges from {} balloon responses",
        b.host.ledger.ballooned.ranges(),
        b.host.balloon_responses.len()
    ));
    let guest_set: Vec<(u64, u64)> = b.driver.ballooned().iter().collect();
    let host_set: Vec<(u64, u64)> = b.host.ledger.ballooned.iter().collect();
    t.check(
        guest_set == host_set && b.driver.counters().pages_ballooned == BALLOON_PAGES,
        "guest_balloon_matches_host_ledger",
        format_args!("guest {guest_set:?}, host {host_set:?}"),
    );
    let during = ffi::meminfo();
    t.check(
        before.totalram - during.totalram == BALLOON_PAGES
            && b.mem.counters().pages_offline == BALLOON_PAGES,
        "balloon_totalram_drops_by_2048",
        format_args!(
            "totalram {} -> {}, adapter {:?}",
            before.totalram,
            during.totalram,
            b.mem.counters()
        ),
    );

    // Unballoon: the target goes back up; the host returns everything it holds (QEMU style:
    // one range per message, back to back, one reply).
    b.host.set_target(host_before);
    let done = advance_until(b, 30, |b| {
        b.host.is_idle() && b.host.ledger.ballooned.is_empty()
    });
    t.check(
        done && b.host.unballoon_responses >= 1 && b.host.current_pages() == host_before,
        "unballoon_all_host_ledger_empty",
        format_args!(
            "done {done}, {} replies, ledger {} pages",
            b.host.unballoon_responses,
            b.host.ledger.ballooned.pages()
        ),
    );
    t.check(
        b.driver.ballooned().is_empty() && b.driver.counters().pages_ballooned == 0,
        "guest_balloon_empty",
        format_args!("guest still holds {} pages", b.driver.ballooned().pages()),
    );
    let after = ffi::meminfo();
    t.check(
        after.totalram == before.totalram,
        "unballoon_totalram_restored",
        format_args!(
            "totalram {} -> {} -> {}",
            before.totalram, during.totalram, after.totalram
        ),
    );

    for v in &b.host.violations {
        t.diag(format_args!(
            "violation at {} ns: {:?} {}",
            v.at, v.kind, v.detail
        ));
    }
    let errors = b.driver.counters().errors();
    t.check(
        b.host.violations.is_empty() && errors == 0,
        "no_host_violations_no_driver_errors",
        format_args!(
            "{} violations, driver errors {errors}",
            b.host.violations.len()
        ),
    );
    let c = b.driver.counters();
    t.diag(format_args!(
        "virtual time {} ms; host got {} status reports, {} balloon responses, {} unballoon \
         replies; driver sent {} status reports, {} balloon responses",
        b.now / 1_000_000,
        b.host.status_reports.len(),
        b.host.balloon_responses.len(),
        b.host.unballoon_responses,
        c.status_reports,
        c.balloon_responses
    ));
}
