//! Self-test (c): the DM driver core in the kernel, over in-memory VMBus rings.
//!
//! The project's simulated DM host (`hv_dynmem::sim::dm_host`) is std-only (it lives behind the
//! `sim` feature), so it cannot run in the kernel. This test therefore plays the host with a
//! short script of its own, built from the project's DM protocol encoder and parser
//! (`hv_dynmem::protocol`), over two real VMBus rings (`vmbus::ring` on `FlatRingMem`, the DM
//! channel's 16 KiB each). The guest side is the real driver core ([`Driver`]) acting through
//! the real Linux adapter ([`LinuxMemory`]): balloon pages come from the kernel's page
//! allocator and go back to it, and `si_meminfo` must agree at every step.
//!
//! Script: version negotiation (2.0 accepted), capabilities (accepted), one status report
//! (checked against `si_mem_available`), a 2048-page balloon request, an unballoon of exactly
//! what the guest gave.

use super::Ktap;
use crate::ffi;
use crate::linux::LinuxMemory;
use alloc::vec::Vec;
use core::ffi::c_int;
use hv_dynmem::driver::{Config, Driver, Event};
use hv_dynmem::protocol::{Message, PageRange, Version, encode, parse};
use vmbus::mem::FlatRingMem;
use vmbus::ring::{IncomingRing, OutgoingRing, ReadError};
use vmbus::{Channel, ReceivedPacket, RecvError, SendError, SendOk};
use zerocopy::IntoBytes;

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
            Err(vmbus::ring::WriteError::Full { needed, .. }) => Err(SendError::Full { needed }),
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

    fn signal(&mut self) {}
}

/// The host end of the script.
struct Host<'a> {
    out: OutgoingRing<&'a FlatRingMem>,
    inc: IncomingRing<&'a FlatRingMem>,
    buf: Vec<u8>,
    next_id: u32,
}

impl Host<'_> {
    /// Takes the next guest message (bytes copied into `self.buf`); `None` when none is waiting.
    fn recv(&mut self) -> Option<usize> {
        self.buf.resize(8192, 0);
        match self.inc.read(&mut self.buf) {
            Ok(Some(p)) => Some(p.len),
            _ => None,
        }
    }

    fn send(&mut self, bytes: &[u8]) -> bool {
        self.next_id += 1;
        self.out.write_in_band(0, false, bytes).is_ok()
    }
}

/// The test body.
pub fn run() -> c_int {
    let mut t = Ktap::start("dm_core", 9);
    let g2h = FlatRingMem::dm_channel();
    let h2g = FlatRingMem::dm_channel();
    let (Ok(gout), Ok(ginc), Ok(hout), Ok(hinc)) = (
        OutgoingRing::new(&g2h),
        IncomingRing::new(&h2g),
        OutgoingRing::new(&h2g),
        IncomingRing::new(&g2h),
    ) else {
        t.check(false, "rings", format_args!("ring setup failed"));
        return t.finish();
    };
    let mut ch = RingChannel {
        out: gout,
        inc: ginc,
    };
    let mut host = Host {
        out: hout,
        inc: hinc,
        buf: Vec::new(),
        next_id: 100,
    };
    let mut mem = LinuxMemory::new(32768);
    let config = Config {
        pressure_report_delay: 0,
        ..Config::default()
    };
    let mut drv = Driver::new(config, 32768);
    let mut now = ffi::now_ns();

    // Negotiation: the first message must be a 2.0 version request.
    drv.start(&mut ch, now);
    let first = host.recv().map(|n| host.buf[..n].to_vec());
    let version_ok = first.as_deref().and_then(|b| parse(b).ok()).is_some_and(|m| {
        matches!(m, Message::VersionRequest(v) if v.version() == Version::WIN10 && !v.is_last_attempt())
    });
    t.check(
        version_ok,
        "version_request_2_0",
        format_args!("first message {first:?}"),
    );
    host.send(encode::version_response(1, true).as_bytes());
    drv.on_channel_interrupt(&mut ch, &mut mem, now);
    let caps = host.recv().map(|n| host.buf[..n].to_vec());
    let caps_ok = caps.as_deref().and_then(|b| parse(b).ok()).is_some_and(
        |m| matches!(m, Message::CapabilitiesReport(c) if c.caps().balloon() && c.caps().hot_add()),
    );
    t.check(
        caps_ok,
        "capabilities_report",
        format_args!("second message {caps:?}"),
    );
    host.send(encode::capabilities_response(2, true, false, false).as_bytes());
    drv.on_channel_interrupt(&mut ch, &mut mem, now);
    let connected = core::iter::from_fn(|| drv.poll_event())
        .any(|e| matches!(e, Event::Connected { version } if version == Version::WIN10));
    t.check(
        connected,
        "connected_at_2_0",
        format_args!("state {:?}", drv.state()),
    );

    // A status report, computed from the kernel's own statistics.
    now += 2_000_000_000;
    drv.poll(&mut ch, &mut mem, now);
    let avail_kernel = ffi::meminfo().available;
    let mut status = None;
    while let Some(n) = host.recv() {
        if let Ok(Message::StatusReport(s)) = parse(&host.buf[..n]) {
            status = Some((s.num_avail.get(), s.num_committed.get()));
        }
    }
    let status_ok = status.is_some_and(|(avail, committed)| {
        avail > 0 && avail.abs_diff(avail_kernel) <= avail_kernel / 10 && committed > 0
    });
    t.check(
        status_ok,
        "status_report_matches_si_mem_available",
        format_args!("report {status:?}, si_mem_available {avail_kernel}"),
    );

    // Balloon 2048 pages (8 MiB) through the real page allocator.
    let before = ffi::meminfo();
    host.send(encode::balloon_request(3, 2048).as_bytes());
    let mut given: Vec<PageRange> = Vec::new();
    let mut done = false;
    for _ in 0..64 {
        drv.on_channel_interrupt(&mut ch, &mut mem, now);
        drv.poll(&mut ch, &mut mem, now);
        while let Some(n) = host.recv() {
            if let Ok(Message::BalloonResponse { hdr, ranges }) = parse(&host.buf[..n]) {
                given.extend_from_slice(ranges);
                done |= !hdr.more_pages();
            }
        }
        if done {
            break;
        }
        now += 20_000_000;
    }
    let pages: u64 = given.iter().map(|r| r.page_cnt()).sum();
    t.check(
        done && pages == 2048,
        "balloon_2048_pages",
        format_args!("done {done}, {pages} pages in {} ranges", given.len()),
    );
    let during = ffi::meminfo();
    t.check(
        before.totalram - during.totalram == pages,
        "balloon_totalram_drops",
        format_args!("totalram {} -> {}", before.totalram, during.totalram),
    );
    let unique = {
        let mut v: Vec<(u64, u64)> = given
            .iter()
            .map(|r| (r.start_page(), r.end_page()))
            .collect();
        v.sort_unstable();
        v.windows(2).all(|w| w[0].1 <= w[1].0)
    };
    t.check(
        unique,
        "balloon_ranges_disjoint",
        format_args!("overlapping ranges {given:?}"),
    );

    // Unballoon exactly what was given.
    let req = encode::unballoon_request(4, false, u32::try_from(given.len()).unwrap_or(u32::MAX));
    let msg = encode::to_vec(&req, &given);
    let sent = host.send(&msg);
    let mut acked = false;
    for _ in 0..16 {
        drv.on_channel_interrupt(&mut ch, &mut mem, now);
        drv.poll(&mut ch, &mut mem, now);
        while let Some(n) = host.recv() {
            acked |= matches!(parse(&host.buf[..n]), Ok(Message::UnballoonResponse(_)));
        }
        if acked {
            break;
        }
        now += 20_000_000;
    }
    t.check(
        sent && acked,
        "unballoon_acknowledged",
        format_args!("sent {sent}, acked {acked}"),
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
    t.diag(format_args!("driver counters: {:?}", drv.counters()));
    t.finish()
}
