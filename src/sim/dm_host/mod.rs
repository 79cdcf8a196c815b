//! A simulated Dynamic Memory host (VSP) speaking the host side of the protocol over any
//! [`HostChannel`] — the simulated VMBus host endpoint in the end-to-end tests.
//!
//! Two policies (host-side.md §1, §2, §3.6):
//! - [`Policy::Qemu`]: QEMU-faithful. Accepts 0.3–2.0, always accepts capabilities, waits a
//!   quiet period (50 s) after the handshake, one transaction at a time, target driven
//!   ([`DmHost::set_target`]): inflate ≤ 585 728 pages per request, deflate in ≤ 2 GiB
//!   single-range chunks sent back to back with one reply expected, hot-add in ≤ 2 GiB
//!   aligned chunks; malformed or out-of-state messages are logged and ignored.
//! - [`Policy::HyperV`]: Hyper-V-like dynamic memory: startup/minimum/maximum memory and a
//!   buffer percentage; the target follows the guest's committed memory from its status
//!   reports; memory is added by unballooning first, then hot-adding, and removed by
//!   ballooning; the info message (maximum page count) is sent after the quiet period.
//!
//! [`Policy::Manual`] does nothing on its own; tests drive it with `request_*`.
//!
//! `no_std` + `alloc` (feature `dm-host`, implied by `sim`): the kernel self-test runs it over
//! in-memory VMBus rings. Only the [`HostChannel`] implementation for the simulated VMBus
//! (`vmbus::sim::HostEndpoint`) needs the full `sim` feature.
//!
//! Both keep a [`Ledger`] of ballooned and hot-added frames and record every protocol
//! violation by the guest in [`DmHost::violations`]. Everything is driven by virtual time: the
//! caller passes `now` (ns) to [`DmHost::poll`] and asks [`DmHost::next_deadline`].

pub mod bench;
pub mod pipe;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zerocopy::IntoBytes;

use crate::driver::RangeSet;
use crate::protocol::encode;
use crate::protocol::{Caps, Message, PageRange, Version, parse};

const NS_PER_S: u64 = 1_000_000_000;

/// Why the host could not send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSendError {
    /// The host-to-guest ring is full: retry later.
    Full,
    /// Anything else (closed, too large): dropped.
    Failed,
}

/// The host end of a channel as the simulated host uses it.
pub trait HostChannel {
    /// Sends one in-band packet to the guest (signalling it as the ring rules say).
    fn host_send(&mut self, payload: &[u8]) -> Result<(), HostSendError>;
    /// Takes the next packet from the guest into `buf`; its payload length, or `None` if
    /// there is none (or the ring failed, which is logged).
    fn host_recv(&mut self, buf: &mut [u8]) -> Option<usize>;
    /// Advances the channel's own notion of time by one step (delayed delivery, forced
    /// ring-full runs). Default: nothing.
    fn tick(&mut self) {}
}

impl HostChannel for pipe::PipeEnd {
    fn host_send(&mut self, payload: &[u8]) -> Result<(), HostSendError> {
        use vmbus::Channel as _;
        match self.send(payload, 0, false) {
            Ok(_) => Ok(()),
            Err(vmbus::SendError::Full { .. }) => Err(HostSendError::Full),
            Err(_) => Err(HostSendError::Failed),
        }
    }
    fn host_recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        use vmbus::Channel as _;
        self.try_recv(buf).ok().flatten().map(|p| p.len)
    }
}

#[cfg(feature = "sim")]
impl HostChannel for vmbus::sim::HostEndpoint {
    fn host_send(&mut self, payload: &[u8]) -> Result<(), HostSendError> {
        match self.send(payload, 0, false) {
            Ok(_) => Ok(()),
            Err(vmbus::ring::WriteError::Full { .. }) => Err(HostSendError::Full),
            Err(e) => {
                log::warn!("dm_host: ring write failed: {e}");
                Err(HostSendError::Failed)
            }
        }
    }
    fn host_recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        match self.try_recv(buf) {
            Ok(p) => p.map(|p| p.len),
            Err(e) => {
                log::warn!("dm_host: ring read failed: {e}");
                None
            }
        }
    }
    fn tick(&mut self) {
        if let Err(e) = self.advance(1) {
            log::warn!("dm_host: ring advance failed: {e}");
        }
    }
}

/// QEMU's largest balloon request (host-side.md §1.2).
pub const QEMU_MAX_BALLOON_PAGES: u32 = 585_728;
/// QEMU's largest unballoon or hot-add chunk: 2 GiB in pages.
pub const QEMU_MAX_CHUNK_PAGES: u64 = 524_288;

/// Hyper-V-like dynamic memory settings, in 4 KiB pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HyperVParams {
    /// Minimum memory: never balloon below.
    pub min_pages: u64,
    /// Maximum memory: never grow above.
    pub max_pages: u64,
    /// Buffer percentage on top of demand (5–2000, default 20).
    pub buffer_percent: u64,
    /// How often the balancer re-evaluates, ns.
    pub period_ns: u64,
    /// Differences smaller than this many pages are ignored.
    pub hysteresis_pages: u64,
}

impl Default for HyperVParams {
    fn default() -> Self {
        Self {
            min_pages: 128 * 256,
            max_pages: 4 * 262_144,
            buffer_percent: 20,
            period_ns: NS_PER_S,
            hysteresis_pages: 16 * 256,
        }
    }
}

/// What drives the host's requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Only explicit `request_*` calls.
    Manual,
    /// QEMU-faithful, target driven.
    Qemu,
    /// Hyper-V-like, demand driven.
    HyperV(HyperVParams),
}

/// Host configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// The policy.
    pub policy: Policy,
    /// Guest boot RAM: frames `[0, boot_pages)` (startup memory).
    pub boot_pages: u64,
    /// First frame of the hot-add area (QEMU `addr`).
    pub hot_add_base: u64,
    /// Size of the hot-add area in pages (QEMU `memdev` size); 0 = no hot-add.
    pub hot_add_pages: u64,
    /// Quiet period after the handshake, ns (default 50 s).
    pub quiet_period_ns: u64,
    /// Versions this host rejects (to exercise the guest's fallback).
    pub reject_versions: Vec<Version>,
    /// Accept the guest's capabilities.
    pub accept_caps: bool,
    /// Answer version requests at all (false: the guest must time out).
    pub answer_versions: bool,
    /// Answer capability reports at all.
    pub answer_caps: bool,
    /// Ask the guest not to send status reports (QEMU with `status-report=off`).
    pub suppress_pressure_reports: bool,
    /// Send `DM_INFO_MESSAGE` after the quiet period (Hyper-V does; QEMU does not).
    pub send_info: bool,
}

impl HostConfig {
    /// QEMU-like defaults for a guest with `boot_pages` of RAM and no hot-add area.
    pub fn new(policy: Policy, boot_pages: u64) -> Self {
        Self {
            send_info: matches!(policy, Policy::HyperV(_)),
            policy,
            boot_pages,
            hot_add_base: boot_pages.next_multiple_of(32_768),
            hot_add_pages: 0,
            quiet_period_ns: 50 * NS_PER_S,
            reject_versions: Vec::new(),
            accept_caps: true,
            answer_versions: true,
            answer_caps: true,
            suppress_pressure_reports: false,
        }
    }
}

/// A protocol violation by the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// A frame was given to the host that the host already holds.
    FrameGivenTwice,
    /// A frame outside guest RAM was given.
    FrameOutsideGuestRam,
    /// A response arrived that no request asked for.
    UnsolicitedResponse,
    /// A message failed to parse.
    Malformed,
    /// A message the host never expects from a guest, or one out of state.
    UnexpectedMessage,
    /// Version negotiation out of order (wrong version or `is_last_attempt`).
    BadNegotiation,
    /// A hot-add response claims more pages than asked.
    HotAddOvercount,
}

/// One recorded violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// When, ns.
    pub at: u64,
    /// What.
    pub kind: ViolationKind,
    /// Details.
    pub detail: String,
}

/// Which guest frames the host holds (ballooned) or has added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Frames the guest gave to the host and has not got back.
    pub ballooned: RangeSet,
    /// Frames hot-added (accepted by the guest).
    pub added: RangeSet,
}

/// One balloon response as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalloonResponseRecord {
    /// `more_pages`.
    pub more_pages: bool,
    /// The ranges.
    pub ranges: Vec<PageRange>,
}

/// One status report as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRecord {
    /// When, ns.
    pub at: u64,
    /// `num_avail`.
    pub num_avail: u64,
    /// `num_committed`.
    pub num_committed: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HState {
    Closed,
    Version,
    Caps,
    Quiet { until: u64 },
    Idle,
    BalloonWait { asked: u64, got: u64 },
    UnballoonSending { chunks: VecDeque<PageRange> },
    UnballoonWait,
    HotAddWait { range: PageRange },
}

/// The simulated DM host.
#[derive(Debug)]
pub struct DmHost {
    config: HostConfig,
    state: HState,
    trans_id: u32,
    /// Ledger of frames.
    pub ledger: Ledger,
    /// Every violation by the guest.
    pub violations: Vec<Violation>,
    /// Every version request: (version, is_last_attempt).
    pub version_requests: Vec<(Version, bool)>,
    /// The accepted version.
    pub negotiated: Option<Version>,
    /// The guest's capabilities.
    pub guest_caps: Option<Caps>,
    /// Balloon responses received (all).
    pub balloon_responses: Vec<BalloonResponseRecord>,
    /// Unballoon responses received.
    pub unballoon_responses: u64,
    /// Hot-add responses received: (page_count, result).
    pub hot_add_responses: Vec<(u32, u32)>,
    /// Hot-remove responses received: (result, range count).
    pub hot_remove_responses: Vec<(u32, u32)>,
    /// Status reports received.
    pub status_reports: Vec<StatusRecord>,
    /// Messages the host failed to send (ring full) and will retry.
    outbox: VecDeque<Vec<u8>>,
    target: Option<u64>,
    stalled: bool,
    hot_add_unusable: bool,
    next_tick: Option<u64>,
    hot_add_next: u64,
    rx_buf: Vec<u8>,
}

impl DmHost {
    /// A host with `config`, waiting for the guest to open the channel.
    pub fn new(config: HostConfig) -> Self {
        Self {
            hot_add_next: config.hot_add_base,
            config,
            state: HState::Version,
            trans_id: 0,
            ledger: Ledger::default(),
            violations: Vec::new(),
            version_requests: Vec::new(),
            negotiated: None,
            guest_caps: None,
            balloon_responses: Vec::new(),
            unballoon_responses: 0,
            hot_add_responses: Vec::new(),
            hot_remove_responses: Vec::new(),
            status_reports: Vec::new(),
            outbox: VecDeque::new(),
            target: None,
            stalled: false,
            hot_add_unusable: false,
            next_tick: None,
            rx_buf: alloc::vec![0u8; 16 * 1024],
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The guest closed and reopened the channel (reset, resume): the handshake starts over.
    /// Hot-added memory and the ballooned ledger are kept (the guest still does not have them).
    pub fn reset(&mut self) {
        self.state = HState::Version;
        self.outbox.clear();
        self.next_tick = None;
    }

    /// The channel is closed; nothing happens until [`DmHost::reset`].
    pub fn close(&mut self) {
        self.state = HState::Closed;
    }

    /// True when no transaction is in flight (and the handshake and quiet period are over).
    pub fn is_idle(&self) -> bool {
        self.state == HState::Idle && self.outbox.is_empty()
    }

    /// Guest memory as the host sees it: boot RAM + added − ballooned.
    pub fn current_pages(&self) -> u64 {
        (self.config.boot_pages + self.ledger.added.pages())
            .saturating_sub(self.ledger.ballooned.pages())
    }

    /// Sets the logical VM size (QEMU `balloon` command). Re-issuing retries a stalled one.
    pub fn set_target(&mut self, pages: u64) {
        self.target = Some(pages);
        self.stalled = false;
    }

    fn violation(&mut self, at: u64, kind: ViolationKind, detail: String) {
        log::warn!("dm_host: guest violation {kind:?}: {detail}");
        self.violations.push(Violation { at, kind, detail });
    }

    fn next_id(&mut self) -> u32 {
        self.trans_id = self.trans_id.wrapping_add(1);
        self.trans_id
    }

    fn send<C: HostChannel + ?Sized>(&mut self, ch: &mut C, bytes: Vec<u8>) {
        if self.outbox.is_empty() {
            match ch.host_send(&bytes) {
                Ok(()) => return,
                Err(HostSendError::Full) => {}
                Err(HostSendError::Failed) => {
                    log::warn!("dm_host: send failed, expect problems");
                    return;
                }
            }
        }
        self.outbox.push_back(bytes);
    }

    fn flush<C: HostChannel + ?Sized>(&mut self, ch: &mut C) {
        while let Some(b) = self.outbox.front() {
            match ch.host_send(b) {
                Ok(()) => {
                    self.outbox.pop_front();
                }
                Err(HostSendError::Full) => return,
                Err(HostSendError::Failed) => {
                    log::warn!("dm_host: send failed");
                    self.outbox.pop_front();
                }
            }
        }
    }

    /// Sends raw bytes to the guest regardless of state (hostile tests).
    pub fn send_raw<C: HostChannel + ?Sized>(&mut self, ch: &mut C, bytes: &[u8]) {
        self.send(ch, bytes.to_vec());
    }

    /// Starts a balloon transaction for `num_pages` (must be idle; returns false otherwise).
    pub fn request_balloon<C: HostChannel + ?Sized>(&mut self, ch: &mut C, num_pages: u32) -> bool {
        if self.state != HState::Idle {
            return false;
        }
        let id = self.next_id();
        self.send(
            ch,
            encode::balloon_request(id, num_pages).as_bytes().to_vec(),
        );
        self.state = HState::BalloonWait {
            asked: u64::from(num_pages),
            got: 0,
        };
        true
    }

    /// Starts an unballoon transaction: one message per range, `more_pages` on all but the
    /// last, sent back to back (QEMU style). Returns false unless idle.
    pub fn request_unballoon<C: HostChannel + ?Sized>(
        &mut self,
        ch: &mut C,
        ranges: &[PageRange],
    ) -> bool {
        if self.state != HState::Idle || ranges.is_empty() {
            return false;
        }
        self.state = HState::UnballoonSending {
            chunks: ranges.iter().copied().collect(),
        };
        self.pump_unballoon(ch);
        true
    }

    /// Sends one unballoon message carrying several ranges (`more_pages` as given); the
    /// ledger is updated when the guest answers. Returns false unless idle.
    pub fn request_unballoon_multi<C: HostChannel + ?Sized>(
        &mut self,
        ch: &mut C,
        ranges: &[PageRange],
        more_pages: bool,
    ) -> bool {
        if self.state != HState::Idle && self.state != HState::UnballoonWait {
            return false;
        }
        let id = self.next_id();
        let msg = encode::to_vec(
            &encode::unballoon_request(id, more_pages, ranges.len() as u32),
            ranges,
        );
        self.send(ch, msg);
        for r in ranges {
            self.ledger
                .ballooned
                .remove(r.start_page(), r.end_page(), |_, _| {});
        }
        self.state = HState::UnballoonWait;
        true
    }

    /// Starts a hot-add transaction (region optional). Returns false unless idle.
    pub fn request_hot_add<C: HostChannel + ?Sized>(
        &mut self,
        ch: &mut C,
        range: PageRange,
        region: Option<PageRange>,
    ) -> bool {
        if self.state != HState::Idle {
            return false;
        }
        let id = self.next_id();
        let fixed = encode::hot_add_request(id, range);
        let msg = match region {
            Some(r) => encode::to_vec(&fixed, &[r]),
            None => fixed.as_bytes().to_vec(),
        };
        self.send(ch, msg);
        self.state = HState::HotAddWait { range };
        true
    }

    /// Sends a hot-remove request (protocol 2.0); the answer lands in `hot_remove_responses`.
    pub fn request_hot_remove<C: HostChannel + ?Sized>(&mut self, ch: &mut C, pages: u32) {
        let id = self.next_id();
        self.send(
            ch,
            encode::hot_remove_request(id, 0, pages, 0)
                .as_bytes()
                .to_vec(),
        );
    }

    fn pump_unballoon<C: HostChannel + ?Sized>(&mut self, ch: &mut C) {
        while let HState::UnballoonSending { chunks } = &mut self.state {
            let Some(r) = chunks.pop_front() else { break };
            let more = !chunks.is_empty();
            let id = self.next_id();
            let msg = encode::to_vec(&encode::unballoon_request(id, more, 1), &[r]);
            self.send(ch, msg);
            self.ledger
                .ballooned
                .remove(r.start_page(), r.end_page(), |_, _| {});
            if !more {
                self.state = HState::UnballoonWait;
            }
        }
    }

    /// When the host next needs [`DmHost::poll`].
    pub fn next_deadline(&self) -> Option<u64> {
        let mut d = match self.state {
            HState::Quiet { until } => Some(until),
            _ => None,
        };
        if let Some(t) = self.next_tick {
            d = Some(d.map_or(t, |d| d.min(t)));
        }
        if self.state == HState::Idle && self.target.is_some() && !self.stalled && self.wants_work()
        {
            d = Some(0);
        }
        d
    }

    fn wants_work(&self) -> bool {
        let Some(t) = self.target else { return false };
        let cur = self.current_pages();
        let caps = self.guest_caps.unwrap_or_default();
        (t < cur && caps.balloon())
            || (t > cur
                && (!self.ledger.ballooned.is_empty()
                    || (caps.hot_add() && !self.hot_add_unusable && self.hot_add_left() > 0)))
    }

    fn hot_add_left(&self) -> u64 {
        (self.config.hot_add_base + self.config.hot_add_pages).saturating_sub(self.hot_add_next)
    }

    /// Handles everything due: incoming packets, timers, the policy.
    pub fn poll<C: HostChannel + ?Sized>(&mut self, ch: &mut C, now: u64) {
        if self.state == HState::Closed {
            return;
        }
        self.flush(ch);
        let mut buf = core::mem::take(&mut self.rx_buf);
        while let Some(len) = ch.host_recv(&mut buf) {
            let len = len.min(buf.len());
            let bytes = buf[..len].to_vec();
            self.on_packet(ch, &bytes, now);
        }
        self.rx_buf = buf;
        if let HState::Quiet { until } = self.state {
            if now >= until {
                self.state = HState::Idle;
                if self.config.send_info {
                    let max = match &self.config.policy {
                        Policy::HyperV(p) => p.max_pages,
                        _ => self.config.boot_pages + self.config.hot_add_pages,
                    };
                    let id = self.next_id();
                    self.send(ch, encode::info_max_page_count(id, max).to_vec());
                }
                if let Policy::HyperV(p) = &self.config.policy {
                    self.next_tick = Some(now + p.period_ns);
                }
            }
        }
        if let (Policy::HyperV(p), Some(t)) = (&self.config.policy, self.next_tick) {
            if now >= t {
                let p = p.clone();
                self.next_tick = Some(now + p.period_ns);
                self.balance(&p);
            }
        }
        if self.state == HState::Idle && !self.stalled && self.outbox.is_empty() {
            self.act(ch);
        }
    }

    fn balance(&mut self, p: &HyperVParams) {
        let Some(last) = self.status_reports.last() else {
            return;
        };
        // The guest's committed figure counts the pages it holds in the balloon (dm-protocol.md
        // §3.3: the host expects ballooned-out pages inside committed memory). Those pages are
        // not demand the VM needs backed: without taking them off, every balloon raises the
        // "demand" by its own size and the host gives the pages straight back (oscillation).
        let demand = last
            .num_committed
            .saturating_sub(self.ledger.ballooned.pages());
        let want =
            (demand.saturating_mul(100 + p.buffer_percent) / 100).clamp(p.min_pages, p.max_pages);
        let cur = self.current_pages();
        if want.abs_diff(cur) >= p.hysteresis_pages {
            self.set_target(want);
        }
    }

    fn act<C: HostChannel + ?Sized>(&mut self, ch: &mut C) {
        let Some(target) = self.target else { return };
        let caps = self.guest_caps.unwrap_or_default();
        let cur = self.current_pages();
        if target < cur {
            if caps.balloon() {
                let n = (cur - target).min(u64::from(QEMU_MAX_BALLOON_PAGES)) as u32;
                self.request_balloon(ch, n);
            }
            return;
        }
        if target == cur {
            return;
        }
        let mut diff = target - cur;
        if !self.ledger.ballooned.is_empty() {
            // Highest-addressed ranges first, top end first, ≤ 2 GiB each.
            let mut chunks = VecDeque::new();
            for (s, e) in self.ledger.ballooned.iter().rev() {
                let mut end = e;
                while end > s && diff > 0 {
                    let n = (end - s).min(QEMU_MAX_CHUNK_PAGES).min(diff);
                    if let Some(r) = PageRange::new(end - n, n) {
                        chunks.push_back(r);
                    }
                    end -= n;
                    diff -= n;
                }
                if diff == 0 {
                    break;
                }
            }
            self.state = HState::UnballoonSending { chunks };
            self.pump_unballoon(ch);
            return;
        }
        if caps.hot_add() && !self.hot_add_unusable {
            let align = 256u64 << caps.hot_add_alignment();
            let mut n = diff
                .min(self.hot_add_left())
                .min(QEMU_MAX_CHUNK_PAGES.max(align));
            n -= n % align;
            if n == 0 {
                self.stalled = true;
                return;
            }
            if let Some(r) = PageRange::new(self.hot_add_next, n) {
                self.request_hot_add(ch, r, Some(r));
            }
        } else {
            self.stalled = true;
        }
    }

    fn on_packet<C: HostChannel + ?Sized>(&mut self, ch: &mut C, bytes: &[u8], now: u64) {
        let m = match parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.violation(now, ViolationKind::Malformed, format!("{e}"));
                return;
            }
        };
        match m {
            Message::VersionRequest(r) => {
                if self.state != HState::Version {
                    self.violation(
                        now,
                        ViolationKind::UnexpectedMessage,
                        "version request out of state".into(),
                    );
                    return;
                }
                let v = r.version();
                let expected_last = v == Version::WIN7;
                let order_ok = match self.version_requests.last() {
                    None => v == Version::WIN10,
                    Some((prev, _)) => {
                        (*prev == Version::WIN10 && v == Version::WIN8)
                            || (*prev == Version::WIN8 && v == Version::WIN7)
                            || v == Version::WIN10
                    }
                };
                if !order_ok || r.is_last_attempt() != expected_last {
                    self.violation(
                        now,
                        ViolationKind::BadNegotiation,
                        format!(
                            "version {v} last={} after {:?}",
                            r.is_last_attempt(),
                            self.version_requests.last()
                        ),
                    );
                }
                self.version_requests.push((v, r.is_last_attempt()));
                if !self.config.answer_versions {
                    return;
                }
                let ok = (Version::WIN7..=Version::WIN10).contains(&v)
                    && !self.config.reject_versions.contains(&v);
                let id = r.hdr.trans_id.get();
                self.send(ch, encode::version_response(id, ok).as_bytes().to_vec());
                if ok {
                    self.negotiated = Some(v);
                    self.state = HState::Caps;
                }
            }
            Message::CapabilitiesReport(r) => {
                if self.state != HState::Caps {
                    self.violation(
                        now,
                        ViolationKind::UnexpectedMessage,
                        "capabilities report out of state".into(),
                    );
                    return;
                }
                self.guest_caps = Some(r.caps());
                if !self.config.answer_caps {
                    return;
                }
                let id = r.hdr.trans_id.get();
                let resp = encode::capabilities_response(
                    id,
                    self.config.accept_caps,
                    true,
                    self.config.suppress_pressure_reports,
                );
                self.send(ch, resp.as_bytes().to_vec());
                if self.config.accept_caps {
                    self.state = HState::Quiet {
                        until: now + self.config.quiet_period_ns,
                    };
                }
            }
            Message::StatusReport(r) => {
                if self.config.suppress_pressure_reports {
                    // QEMU drops reports it asked not to get; a guest sending them anyway is
                    // not wrong per the protocol, just noted.
                    log::debug!("dm_host: status report despite suppression");
                }
                self.status_reports.push(StatusRecord {
                    at: now,
                    num_avail: r.num_avail.get(),
                    num_committed: r.num_committed.get(),
                });
            }
            Message::BalloonResponse { hdr, ranges } => {
                let HState::BalloonWait { asked, mut got } = self.state.clone() else {
                    self.violation(
                        now,
                        ViolationKind::UnsolicitedResponse,
                        "balloon response".into(),
                    );
                    return;
                };
                for r in ranges {
                    let (s, e) = (r.start_page(), r.end_page());
                    // Frames above boot RAM must have been hot-added.
                    let above_boot = s.max(self.config.boot_pages);
                    if r.page_cnt() == 0 || !self.ledger.added.contains_all(above_boot, e) {
                        self.violation(now, ViolationKind::FrameOutsideGuestRam, format!("{r:?}"));
                    }
                    if self.ledger.ballooned.overlap(s, e) > 0 {
                        self.violation(now, ViolationKind::FrameGivenTwice, format!("{r:?}"));
                    }
                    got += self.ledger.ballooned.insert(s, e);
                }
                self.balloon_responses.push(BalloonResponseRecord {
                    more_pages: hdr.more_pages(),
                    ranges: ranges.to_vec(),
                });
                if ranges.is_empty() {
                    // "Guest is at its minimum" (QEMU): stop trying until a new target.
                    if self.target.is_some_and(|t| t < self.current_pages()) {
                        self.stalled = true;
                    }
                    self.state = HState::Idle;
                } else if hdr.more_pages() {
                    self.state = HState::BalloonWait { asked, got };
                } else {
                    self.state = HState::Idle;
                }
            }
            Message::UnballoonResponse(_) => {
                if self.state != HState::UnballoonWait {
                    self.violation(
                        now,
                        ViolationKind::UnsolicitedResponse,
                        "unballoon response".into(),
                    );
                    return;
                }
                self.unballoon_responses += 1;
                self.state = HState::Idle;
            }
            Message::HotAddResponse(r) => {
                let HState::HotAddWait { range } = self.state else {
                    self.violation(
                        now,
                        ViolationKind::UnsolicitedResponse,
                        "hot-add response".into(),
                    );
                    return;
                };
                let (pc, res) = (r.page_count.get(), r.result.get());
                self.hot_add_responses.push((pc, res));
                let asked = range.page_cnt();
                if u64::from(pc) > asked {
                    self.violation(
                        now,
                        ViolationKind::HotAddOvercount,
                        format!("{pc} > {asked}"),
                    );
                }
                let accepted = u64::from(pc).min(asked);
                self.ledger
                    .added
                    .insert(range.start_page(), range.start_page() + accepted);
                if range.start_page() == self.hot_add_next {
                    self.hot_add_next += accepted;
                }
                if res == 0 || accepted < asked {
                    // QEMU: the rest of the range is unusable from now on.
                    self.hot_add_unusable = true;
                }
                self.state = HState::Idle;
            }
            Message::HotRemoveResponse { hdr, .. } => {
                self.hot_remove_responses
                    .push((hdr.result.get(), hdr.range_count.get()));
            }
            other => {
                self.violation(
                    now,
                    ViolationKind::UnexpectedMessage,
                    format!("{} from the guest", other.message_type()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
