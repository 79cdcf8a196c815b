//! `dm_driver`: the sans-IO Dynamic Memory driver against a hostile host.
//!
//! The driver runs on the crate's own doubles (feature `sim`): the strict fake OS
//! ([`FakeMemory`]) and either the packet pipe ([`pipe`]) or the simulated VMBus
//! ([`SimVmbus`], real rings in memory, where the host can also corrupt the control pages and
//! data areas, send unframed bytes or unknown packet types, delay delivery, force the guest's
//! ring full and close the channel). After a normal handshake (or, rarely, none) the input is
//! a sequence of steps: arbitrary host packets, well-formed requests aimed at the driver's
//! state (balloon, unballoon of ranges it holds or not, hot-add, info, hot-remove, stray
//! responses), timer polls, guest workload, suspend/resume, OS onlining (only frames the
//! driver reports backed, as Linux's online callback) and offlining, and bursts of up to 100
//! steps without a signal to the guest (more than 64 packets waiting, full queues).
//!
//! Asserted after every step:
//! - no panic anywhere, and no livelock (deferred work finishes in a bounded number of polls);
//! - the fake OS recorded no violation: no frame freed that was not ballooned (a frame in use
//!   freed), none set offline that was not allocated, none onlined that was not added;
//! - every range the driver says the host holds ([`Driver::ballooned`]) is offline in the OS
//!   (first, middle and last frame per step; every frame at the end);
//! - every message the guest sends parses (the guest never sends malformed bytes, unless the
//!   host corrupted the guest's own ring), and a balloon response only names frames that are
//!   offline when the host reads it (unless the host asked for them back meanwhile).
//!
//! At the end (after a settle second): nothing leaks — frames offline in the
//! OS = the driver's `pages_ballooned` (held + pending), and no frame is left allocated but
//! not offline.

use arbitrary::{Result, Unstructured};
use hv_dynmem::driver::{Config, Driver};
use hv_dynmem::os::{AddMemoryError, GuestMemory};
use hv_dynmem::protocol::{
    Caps, Header, InfoHeader, InfoMessageHeader, Message, MessageType, PageRange, encode, parse,
};
use hv_dynmem::sim::dm_host::pipe::{PipeEnd, pipe};
use hv_dynmem::sim::fake_os::{FakeMemory, Frame};
use vmbus::mem::ControlWord;
use vmbus::packet::PacketType;
use vmbus::ring::OutgoingPacket;
use vmbus::sim::{Direction, GuestEndpoint, HostEndpoint, SimConfig, SimVmbus};
use vmbus::{Channel, DiscardedPacket, ReceivedPacket, RecvError, SendError, SendOk};
use zerocopy::IntoBytes;
use zerocopy::little_endian::U32;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
/// Boot RAM of the fake OS: 64 MiB.
const RAM: u64 = 16_384;
/// Highest frame the fake OS can hot-add up to: 256 MiB.
const MAX_PFN: u64 = 4 * RAM;
/// Memory block (hot-add chunk): 32 MiB.
const BLOCK: u64 = 8192;

/// `HV_FUZZ_TRACE=1` prints every step and every message (for reading a crash input).
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("HV_FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($t:tt)*) => {
        if tracing() {
            eprintln!($($t)*);
        }
    };
}

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = drive(&mut u);
}

/// The guest's channel: one of the two doubles.
enum Guest {
    Pipe(PipeEnd),
    Ring(GuestEndpoint),
}

impl Channel for Guest {
    fn send(&mut self, p: &[u8], id: u64, c: bool) -> core::result::Result<SendOk, SendError> {
        match self {
            Guest::Pipe(g) => g.send(p, id, c),
            Guest::Ring(g) => g.send(p, id, c),
        }
    }
    fn try_recv(
        &mut self,
        buf: &mut [u8],
    ) -> core::result::Result<Option<ReceivedPacket>, RecvError> {
        match self {
            Guest::Pipe(g) => g.try_recv(buf),
            Guest::Ring(g) => g.try_recv(buf),
        }
    }
    fn discard(&mut self) -> core::result::Result<Option<DiscardedPacket>, RecvError> {
        match self {
            Guest::Pipe(g) => g.discard(),
            Guest::Ring(g) => g.discard(),
        }
    }
    fn signal(&mut self) {
        match self {
            Guest::Pipe(g) => g.signal(),
            Guest::Ring(g) => g.signal(),
        }
    }
}

enum Host {
    Pipe(PipeEnd),
    Ring(HostEndpoint),
}

impl Host {
    /// Sends one DM message; `false` if the host's ring is full (or broken).
    fn send(&mut self, bytes: &[u8]) -> bool {
        match self {
            Host::Pipe(h) => h.send(bytes, 0, false).is_ok(),
            Host::Ring(h) => h.send(bytes, 0, false).is_ok(),
        }
    }

    /// Everything the guest sent (stops at the first receive error); `true` if the ring was
    /// read until empty.
    fn drain(&mut self) -> (Vec<Vec<u8>>, bool) {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        for _ in 0..512 {
            let got = match self {
                Host::Pipe(h) => h
                    .try_recv(&mut buf)
                    .map(|p| p.map(|p| p.len))
                    .map_err(|_| ()),
                Host::Ring(h) => h
                    .try_recv(&mut buf)
                    .map(|p| p.map(|p| p.len))
                    .map_err(|_| ()),
            };
            match got {
                Ok(Some(len)) => out.push(buf[..len.min(buf.len())].to_vec()),
                Ok(None) => return (out, true),
                Err(()) => break,
            }
        }
        (out, false)
    }
}

struct World {
    d: Driver,
    g: Guest,
    h: Host,
    mem: FakeMemory,
    now: u64,
    trans: u32,
    /// The host corrupted the guest-to-host ring (ring mode): what the host reads back may be
    /// anything, so the checks on guest messages (they parse, balloon responses name offline
    /// frames) are off; the checks on the OS side stay.
    corrupted_g2h: bool,
    /// Ranges the host asked back (unballoon requests) and the driver may not have processed
    /// before the host read its latest balloon responses: frames named by a balloon response
    /// may legitimately be free again if they are in here (the driver processes unballoon
    /// requests later, from `poll`, against what it holds then).
    released: Vec<(u64, u64)>,
    /// The host wrote unframed bytes: the guest may read anything out of them (including an
    /// unballoon request), so the balloon-response freshness check is off.
    unframed: bool,
    /// Inside a burst: the host does not signal the guest after each message.
    quiet: bool,
    /// The host tampered with the host-to-guest ring (ring mode): host messages may sit
    /// unread behind a corrupt packet and be read later.
    h2g_tainted: bool,
}

impl World {
    fn id(&mut self) -> u32 {
        self.trans = self.trans.wrapping_add(1);
        self.trans
    }

    fn interrupt(&mut self) {
        self.d
            .on_channel_interrupt(&mut self.g, &mut self.mem, self.now);
    }

    fn poll(&mut self) {
        self.d.poll(&mut self.g, &mut self.mem, self.now);
    }

    /// Runs deferred work due now; a livelock is a finding.
    ///
    /// With nothing due, every unballoon request the driver has received is processed (the
    /// driver defers them to `poll`); once the host has then read everything, no balloon
    /// response it reads later can name a frame freed by those requests, so they are
    /// forgotten.
    fn run_due(&mut self) {
        for _ in 0..2_000 {
            if self.d.next_deadline().is_none_or(|t| t > self.now) {
                if self.host_drain() && self.all_host_messages_read() {
                    self.released.clear();
                }
                return;
            }
            self.poll();
        }
        panic!(
            "livelock: deadline still due after 2000 polls: {:?}",
            self.d
        );
    }

    /// The OS onlines hot-added frames later (after `online_pages` returned fewer): as
    /// Linux's online callback, only frames the driver says are backed (`is_backed`); then it
    /// tells the driver. (`FakeMemory::online_all` would online unbacked frames too, which no
    /// OS using this driver does.)
    fn online_backed(&mut self) {
        let immediate = self.mem.online_immediately;
        self.mem.online_immediately = true;
        let mut total = 0;
        let mut pfn = RAM;
        while pfn < MAX_PFN {
            if self.mem.frame(pfn) == Frame::AddedOffline && self.d.is_backed(pfn) {
                let start = pfn;
                while pfn < MAX_PFN
                    && self.mem.frame(pfn) == Frame::AddedOffline
                    && self.d.is_backed(pfn)
                {
                    pfn += 1;
                }
                total += GuestMemory::online_pages(&mut self.mem, start, pfn - start);
            } else {
                pfn += 1;
            }
        }
        self.mem.online_immediately = immediate;
        self.d.on_pages_onlined(total);
    }

    fn host_send(&mut self, bytes: &[u8]) {
        // The host reads what the guest sent before it sends anything new.
        let _ = self.host_drain();
        self.note_released(bytes);
        trace!("  host -> guest {:?}", parse(bytes));
        if self.h.send(bytes) && !self.quiet {
            self.interrupt();
        }
    }

    /// True if the guest has read every message the host sent (so no unballoon request is
    /// still waiting in the channel).
    fn all_host_messages_read(&self) -> bool {
        if self.quiet {
            return false;
        }
        match (&self.g, &self.h) {
            (Guest::Pipe(g), _) => g.pending_in() == 0,
            (_, Host::Ring(h)) => h.in_flight() == 0 && !self.h2g_tainted,
            _ => false,
        }
    }

    /// Records the ranges of an unballoon request the host is about to send.
    fn note_released(&mut self, bytes: &[u8]) {
        if let Ok(Message::UnballoonRequest { ranges, .. }) = parse(bytes) {
            self.released
                .extend(ranges.iter().map(|r| (r.start_page(), r.end_page())));
        }
    }

    /// The host reads the guest's messages; each must parse, and balloon responses must name
    /// frames that are offline now (unless the host has asked for them back since).
    fn host_drain(&mut self) -> bool {
        let (msgs, complete) = self.h.drain();
        for m in msgs {
            trace!("  guest -> host {:?}", parse(&m));
            match parse(&m) {
                Ok(Message::BalloonResponse { ranges, .. }) => {
                    for r in ranges {
                        for pfn in r.start_page()..r.end_page() {
                            let released = self.released.iter().any(|&(s, e)| pfn >= s && pfn < e);
                            if released || self.unframed || self.corrupted_g2h {
                                continue;
                            }
                            assert_eq!(
                                self.mem.frame(pfn),
                                Frame::Ballooned,
                                "balloon response names frame {pfn:#x} not offline"
                            );
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    assert!(
                        self.corrupted_g2h,
                        "guest sent a malformed message ({e}): {m:02x?}"
                    );
                }
            }
        }
        complete
    }

    fn check(&mut self, full: bool) {
        assert!(
            self.mem.violations.is_empty(),
            "fake OS violations: {:?}",
            &self.mem.violations[..self.mem.violations.len().min(8)]
        );
        for (s, e) in self.d.ballooned().iter() {
            // Every frame at the full checks; the ends and the middle of each range otherwise
            // (the scan is what dominates an instrumented run).
            let probe = |pfn: u64| {
                assert_eq!(
                    self.mem.frame(pfn),
                    Frame::Ballooned,
                    "frame {pfn:#x} held by the host is not offline"
                );
            };
            if full {
                (s..e).for_each(probe);
            } else {
                [s, s + (e - s) / 2, e - 1].into_iter().for_each(probe);
            }
        }
        if full {
            let _ = self.d.debugfs(&self.mem).to_string();
            let mut offline = 0u64;
            for pfn in 0..MAX_PFN {
                match self.mem.frame(pfn) {
                    Frame::Ballooned => offline += 1,
                    Frame::Allocated => panic!("frame {pfn:#x} allocated for the balloon and left"),
                    _ => {}
                }
            }
            assert_eq!(
                offline,
                self.d.counters().pages_ballooned,
                "offline frames differ from the driver's ballooned + pending pages (leak)"
            );
        }
    }
}

fn handshake(w: &mut World, u: &mut Unstructured<'_>) -> Result<()> {
    w.d.start(&mut w.g, w.now);
    w.host_drain();
    // Possibly reject a version or two first.
    for _ in 0..u.int_in_range(0u8..=1)? {
        let id = w.id();
        w.host_send(encode::version_response(id, false).as_bytes());
        let _ = w.host_drain();
    }
    let id = w.id();
    w.host_send(encode::version_response(id, true).as_bytes());
    w.host_drain();
    let id = w.id();
    let (hot_remove, suppress) = (u.ratio(1u8, 8)?, u.ratio(1u8, 8)?);
    w.host_send(encode::capabilities_response(id, true, hot_remove, suppress).as_bytes());
    w.host_drain();
    while w.d.poll_event().is_some() {}
    Ok(())
}

fn page_range(u: &mut Unstructured<'_>) -> Result<PageRange> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => PageRange::from_raw(u.arbitrary()?),
        _ => {
            let start = u.int_in_range(0..=MAX_PFN + BLOCK)?;
            let cnt = u.int_in_range(0u64..=4 * BLOCK)?;
            PageRange::new(start, cnt).unwrap_or_default()
        }
    })
}

/// Unballoon ranges: pieces of what the driver holds, or anything.
fn unballoon_ranges(w: &World, u: &mut Unstructured<'_>) -> Result<Vec<PageRange>> {
    let held: Vec<(u64, u64)> = w.d.ballooned().iter().collect();
    let n = u.int_in_range(0usize..=24)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if !held.is_empty() && !u.ratio(1u8, 5)? {
            let &(s, e) = u.choose(&held)?;
            let len = e - s;
            let off = u.int_in_range(0..=len - 1)?;
            let cnt = u.int_in_range(1..=len - off)?;
            // Sometimes run past the held range.
            let extra = if u.ratio(1u8, 8)? {
                u.int_in_range(1u64..=600)?
            } else {
                0
            };
            out.push(PageRange::new(s + off, cnt + extra).unwrap_or_default());
        } else {
            out.push(page_range(u)?);
        }
    }
    Ok(out)
}

fn hot_add_range(u: &mut Unstructured<'_>) -> Result<PageRange> {
    Ok(if u.ratio(1u8, 4)? {
        page_range(u)?
    } else {
        let start = RAM + u.int_in_range(0u64..=(MAX_PFN - RAM) / 512)? * 512;
        PageRange::new(
            start,
            u.int_in_range(1u64..=2)? * u.int_in_range(1u64..=BLOCK)?,
        )
        .unwrap_or_default()
    })
}

fn step(w: &mut World, u: &mut Unstructured<'_>, ring: bool) -> Result<()> {
    let op = u.int_in_range(0u8..=22)?;
    trace!(
        "step {op} at {} ns; ballooned {:?}",
        w.now,
        w.d.ballooned().iter().collect::<Vec<_>>()
    );
    match op {
        // Arbitrary bytes as a DM message.
        0 | 1 => {
            let len = u.int_in_range(0usize..=4200)?;
            let mut bytes = u.bytes(len.min(u.len()))?.to_vec();
            if bytes.len() >= 4 && u.arbitrary()? {
                // Make the size field right more often than chance.
                let sz = bytes.len() as u16;
                bytes[2..4].copy_from_slice(&sz.to_le_bytes());
            }
            w.host_send(&bytes);
        }
        2 | 3 => {
            let n = match u.int_in_range(0u8..=3)? {
                0 => u.arbitrary()?,
                1 => u.int_in_range(0u32..=600)?,
                _ => u.int_in_range(0u32..=(RAM as u32 / 2))?,
            };
            let id = w.id();
            w.host_send(encode::balloon_request(id, n).as_bytes());
        }
        4 | 5 => {
            let ranges = unballoon_ranges(w, u)?;
            let id = w.id();
            let more = u.ratio(1u8, 4)?;
            let mut fixed = encode::unballoon_request(id, more, ranges.len() as u32);
            if u.ratio(1u8, 16)? {
                fixed.range_count = U32::new(u.arbitrary()?);
            }
            let bytes = encode::to_vec(&fixed, &ranges);
            w.host_send(&bytes);
        }
        6 => {
            let id = w.id();
            let req = encode::hot_add_request(id, hot_add_range(u)?);
            let bytes = if u.arbitrary()? {
                let region = hot_add_range(u)?;
                encode::to_vec(&req, &[region])
            } else {
                req.as_bytes().to_vec()
            };
            w.host_send(&bytes);
        }
        7 => {
            let id = w.id();
            let bytes = if u.arbitrary()? {
                encode::info_max_page_count(id, u.arbitrary()?).to_vec()
            } else {
                let dlen = u.int_in_range(0usize..=64)?;
                let data = u.bytes(dlen)?;
                let fixed = InfoMessageHeader {
                    hdr: Header::new(MessageType::INFO_MESSAGE, 0, id),
                    reserved: U32::new(0),
                    info_size: U32::new(u.int_in_range(0u32..=80)?),
                };
                let ih = InfoHeader {
                    ty: U32::new(u.int_in_range(0u32..=3)?),
                    data_size: U32::new(u.int_in_range(0u32..=72)?),
                };
                let mut v = fixed.as_bytes().to_vec();
                v.extend_from_slice(ih.as_bytes());
                v.extend_from_slice(data);
                let sz = v.len() as u16;
                v[2..4].copy_from_slice(&sz.to_le_bytes());
                v
            };
            w.host_send(&bytes);
        }
        8 => {
            let id = w.id();
            let m = encode::hot_remove_request(id, u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
            w.host_send(m.as_bytes());
        }
        9 => {
            // Stray handshake / guest-direction messages.
            let id = w.id();
            let bytes = match u.int_in_range(0u8..=5)? {
                0 => encode::version_response(id, u.arbitrary()?)
                    .as_bytes()
                    .to_vec(),
                1 => encode::capabilities_response(
                    id,
                    u.arbitrary()?,
                    u.arbitrary()?,
                    u.arbitrary()?,
                )
                .as_bytes()
                .to_vec(),
                2 => encode::status_report(id, u.arbitrary()?, u.arbitrary()?)
                    .as_bytes()
                    .to_vec(),
                3 => encode::capabilities_report(id, Caps(u.arbitrary()?), 0, u64::MAX)
                    .as_bytes()
                    .to_vec(),
                4 => encode::unballoon_response(id).as_bytes().to_vec(),
                _ => encode::hot_add_response(id, u.arbitrary()?, u.arbitrary()?)
                    .as_bytes()
                    .to_vec(),
            };
            w.host_send(&bytes);
        }
        10..=12 => {
            w.now = w.now.saturating_add(match u.int_in_range(0u8..=5)? {
                0 => 0,
                1 => MS,
                2 => 20 * MS,
                3 => S,
                4 => 6 * S,
                _ => u.arbitrary::<u32>()? as u64,
            });
            w.poll();
        }
        13 | 14 => w.run_due(),
        15 => {
            let _ = w.host_drain();
        }
        16 => {
            if u.arbitrary()? {
                let n = u.int_in_range(0u64..=RAM / 2)?;
                w.mem.use_pages(n);
            } else {
                let n = u.int_in_range(0u64..=RAM / 2)?;
                w.mem.release_pages(n);
            }
        }
        17 => match u.int_in_range(0u8..=4)? {
            0 => {
                w.d.suspend(&mut w.mem);
                let _ = w.host_drain();
                w.d.resume(&mut w.g, w.now);
                let _ = w.host_drain();
                let id = w.id();
                w.host_send(encode::version_response(id, true).as_bytes());
                let id = w.id();
                w.host_send(encode::capabilities_response(id, true, false, false).as_bytes());
            }
            1 => w.online_backed(),
            2 => {
                let start = u.int_in_range(0..=MAX_PFN)?;
                w.d.on_memory_offline(start, u.int_in_range(0..=BLOCK)?);
            }
            3 => {
                w.mem.fail_add_memory = match u.int_in_range(0u8..=3)? {
                    0 => Some(AddMemoryError::AlreadyExists),
                    1 => Some(AddMemoryError::Failed),
                    2 => Some(AddMemoryError::Unsupported),
                    _ => None,
                };
                w.mem.online_immediately = u.arbitrary()?;
            }
            _ => while w.d.poll_event().is_some() {},
        },
        18 => {
            // Make the guest's outgoing direction small or large.
            match &mut w.h {
                Host::Pipe(h) => h.set_capacity(u.int_in_range(0usize..=20_000)?),
                Host::Ring(h) => h.force_guest_ring_full(u.int_in_range(0u64..=4)?),
            }
        }
        19 if ring => ring_fault(w, u)?,
        19 => w.interrupt(),
        20 => w.interrupt(),
        22 if !w.quiet => {
            // A burst: up to 100 steps with no signal to the guest, then one interrupt (more
            // than 64 packets waiting, full response and unballoon queues).
            w.quiet = true;
            let mut r = Ok(());
            for _ in 0..u.int_in_range(1u8..=100)? {
                r = step(w, u, ring);
                if r.is_err() {
                    break;
                }
            }
            w.quiet = false;
            w.interrupt();
            r?;
        }
        _ => {
            // A burst of balloon work with polls in between, to reach retries and more_pages.
            let id = w.id();
            w.host_send(encode::balloon_request(id, u.int_in_range(0u32..=20_000)?).as_bytes());
            for _ in 0..u.int_in_range(0u8..=8)? {
                w.now = w.now.saturating_add(20 * MS);
                w.poll();
            }
        }
    }
    Ok(())
}

fn ring_fault(w: &mut World, u: &mut Unstructured<'_>) -> Result<()> {
    let Host::Ring(h) = &mut w.h else {
        return Ok(());
    };
    let dir = if u.arbitrary()? {
        Direction::HostToGuest
    } else {
        Direction::GuestToHost
    };
    // Any of these may leave host messages unread for a while (conservative).
    w.h2g_tainted = true;
    match u.int_in_range(0u8..=7)? {
        0 | 1 => {
            let word = match u.int_in_range(0u8..=5)? {
                0 => ControlWord::WRITE_INDEX,
                1 => ControlWord::READ_INDEX,
                2 => ControlWord::INTERRUPT_MASK,
                3 => ControlWord::PENDING_SEND_SIZE,
                4 => ControlWord::FEATURE_BITS,
                _ => ControlWord(u.int_in_range(0usize..=1100)?),
            };
            let v = if u.arbitrary()? {
                u.arbitrary()?
            } else {
                u.int_in_range(0u32..=2047)? * 8
            };
            h.write_control_word(dir, word, v);
            if dir == Direction::GuestToHost {
                w.corrupted_g2h = true;
            }
        }
        2 => {
            let off = u.int_in_range(0usize..=2047)? * 8;
            let len = u.int_in_range(0usize..=64)?;
            let _ = h.write_data(dir, off, u.bytes(len)?);
            if dir == Direction::GuestToHost {
                w.corrupted_g2h = true;
            }
        }
        3 => {
            let len = u.int_in_range(0usize..=256)?;
            let _ = h.send_raw_bytes(u.bytes(len)?);
            w.unframed = true;
        }
        4 => {
            let len = u.int_in_range(0usize..=64)?;
            let payload = u.bytes(len)?;
            let p = OutgoingPacket {
                packet_type: PacketType(if u.arbitrary()? {
                    *u.choose(&[6u16, 7, 9, 11])?
                } else {
                    u.arbitrary()?
                }),
                flags: u.arbitrary()?,
                transaction_id: u.arbitrary()?,
                payload,
            };
            if let Ok(Message::UnballoonRequest { ranges, .. }) = parse(payload) {
                w.released
                    .extend(ranges.iter().map(|r| (r.start_page(), r.end_page())));
            }
            let _ = h.send_packet(&p);
        }
        5 => {
            h.set_delivery_delay(u.int_in_range(0u64..=3)?);
            let _ = h.advance(u.int_in_range(0u64..=3)?);
        }
        6 => h.set_interrupt_mask(u.arbitrary()?),
        _ => {
            if u.ratio(1u8, 4)? {
                h.close();
            }
        }
    }
    w.interrupt();
    Ok(())
}

fn drive(u: &mut Unstructured<'_>) -> Result<()> {
    let flags: u8 = u.arbitrary()?;
    let ring = flags & 1 != 0;
    let config = Config {
        pressure_report_delay: u32::from((flags >> 1) & 3),
        hot_add: flags & 8 == 0,
        hibernation: flags & 0x70 == 0x70,
        ..Config::default()
    };
    let (g, h) = if ring {
        let (g, h) = SimVmbus::pair(SimConfig::dm()).expect("DM ring size is valid");
        (Guest::Ring(g), Host::Ring(h))
    } else {
        let (g, h) = pipe(16 * 1024);
        (Guest::Pipe(g), Host::Pipe(h))
    };
    let mut w = World {
        d: Driver::new(config, BLOCK),
        g,
        h,
        mem: FakeMemory::new(RAM, MAX_PFN, BLOCK),
        now: 0,
        trans: 0,
        corrupted_g2h: false,
        released: Vec::new(),
        unframed: false,
        quiet: false,
        h2g_tainted: false,
    };
    if flags & 0x80 == 0 {
        handshake(&mut w, u)?;
    } else {
        w.d.start(&mut w.g, 0);
    }
    w.check(false);
    let mut n = 0u32;
    while !u.is_empty() && n < 96 {
        n += 1;
        let r = step(&mut w, u, ring);
        w.check(false);
        r?;
    }
    // Let everything settle, then the full check.
    w.now = w.now.saturating_add(S);
    w.run_due();
    w.host_drain();
    w.check(true);
    Ok(())
}
