//! The Dynamic Memory guest driver as a sans-IO state machine (dm-protocol.md §2–§6).
//!
//! The driver owns no channel, allocator or clock. The caller feeds it events and lends it a
//! [`Channel`] and a [`GuestMemory`] for the duration of each call:
//!
//! - [`Driver::start`] once the channel is open (probe): sends the first version request;
//! - [`Driver::on_channel_interrupt`] whenever the host signals the channel;
//! - [`Driver::poll`] whenever `now >= `[`Driver::next_deadline`] (timeouts, the 1 s status
//!   tick, ring-full retries, and deferred work: balloon-up one message per call, hot-add);
//! - [`Driver::suspend`] / [`Driver::resume`] around hibernation.
//!
//! Work per call is bounded: at most [`MAX_PACKETS_PER_CALL`] packets are drained and at most
//! one balloon response (≤ 510 allocations) is built per call; anything left makes
//! `next_deadline()` return `now` (a deadline at or before `now` means "call `poll` now").
//! Buffers are allocated once in [`Driver::new`].
//!
//! Contexts (for a kernel): [`Driver::on_channel_interrupt`] does no heap allocation and does
//! not allocate pages; it parses, records requests, sends small replies and may free pages
//! only when more than [`UNBALLOON_QUEUE`] unballoon ranges pile up without a `poll` in
//! between — it can run in the channel callback (atomic context). [`Driver::poll`] allocates
//! pages (balloon-up), adds memory (hot-add), frees ballooned pages (unballoon) and updates
//! the ballooned-frame record (B-tree nodes): call it from process context (a work item),
//! scheduled for [`Driver::next_deadline`].
//!
//! Safety against a hostile host: the driver remembers exactly which frames it has given to
//! the host ([`RangeSet`]); an unballoon request can only return frames from that set, and a
//! frame is recorded only once its balloon response has actually been written to the ring.

pub mod hot_add;
pub mod range_set;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use vmbus::{Channel, RecvError, SendError};
use zerocopy::IntoBytes;

use crate::os::{GuestMemory, MemStats};
use crate::protocol::encode;
use crate::protocol::{
    Caps, FRAME_SPACE_END, Info, MAX_MESSAGE_SIZE, MAX_RANGES_PER_MESSAGE, Message, MessageType,
    PAGES_IN_2M, PageRange, ParseError, RefusedRequest, Version, parse_detailed, refused_request,
};
pub use hot_add::{HotAdd, Refusal};
pub use range_set::RangeSet;

/// Most packets drained per [`Driver::on_channel_interrupt`] / [`Driver::poll`] call.
pub const MAX_PACKETS_PER_CALL: usize = 64;

/// Unballoon ranges buffered between the channel callback and [`Driver::poll`] (four full
/// messages). More than that are processed in the callback itself.
pub const UNBALLOON_QUEUE: usize = 4 * MAX_RANGES_PER_MESSAGE;

/// Events kept for [`Driver::poll_event`].
pub const MAX_EVENTS: usize = 8;

/// Most small control responses (unballoon, hot-add, hot-remove) kept for retry while the
/// ring is full.
pub const MAX_QUEUED_RESPONSES: usize = 8;

const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;

/// Driver configuration (Linux module parameters and constants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Status reports to skip after connecting (`pressure_report_delay`, default 45).
    pub pressure_report_delay: u32,
    /// Attempt hot-add (`hot_add` module parameter, default true).
    pub hot_add: bool,
    /// The VM can hibernate: balloon requests are ignored and hot-add refused (as Linux).
    pub hibernation: bool,
    /// Advertise the balloon capability (Linux: guest page size is 4 KiB).
    pub balloon_cap: bool,
    /// Advertise the hot-add capability (Linux: not on ARM64).
    pub hot_add_cap: bool,
    /// Time allowed for each handshake phase (version, capabilities), ns. Default 5 s.
    pub phase_timeout_ns: u64,
    /// Status report period, ns. Default 1 s.
    pub status_interval_ns: u64,
    /// Delay before retrying a send that found the ring full, ns. Default 20 ms.
    pub ring_full_retry_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            pressure_report_delay: 45,
            hot_add: true,
            hibernation: false,
            balloon_cap: true,
            hot_add_cap: true,
            phase_timeout_ns: 5 * NS_PER_S,
            status_interval_ns: NS_PER_S,
            ring_full_retry_ns: 20 * NS_PER_MS,
        }
    }
}

/// Driver state as Linux's debugfs shows it (`enum hv_dm_state`, dm-protocol.md §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum State {
    /// Handshake in progress (`DM_INITIALIZING`).
    #[default]
    Initializing = 0,
    /// Idle and connected (`DM_INITIALIZED`).
    Initialized = 1,
    /// Balloon request being served (`DM_BALLOON_UP`).
    BalloonUp = 2,
    /// Unballoon request being served (`DM_BALLOON_DOWN`).
    BalloonDown = 3,
    /// Hot-add request being served (`DM_HOT_ADD`).
    HotAdd = 4,
    /// Handshake failed; the driver is stopped (`DM_INIT_ERROR`).
    InitError = 5,
}

impl State {
    /// The debugfs name.
    pub const fn name(self) -> &'static str {
        match self {
            State::Initializing => "Initializing",
            State::Initialized => "Initialized",
            State::BalloonUp => "Balloon Up",
            State::BalloonDown => "Balloon Down",
            State::HotAdd => "Hot Add",
            State::InitError => "Error",
        }
    }
}

/// Why the handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InitFailure {
    /// The host rejected 2.0, 1.0 and 0.3.
    #[error("host rejected every protocol version")]
    VersionRejected,
    /// The host rejected the capabilities.
    #[error("capabilities not accepted by host")]
    CapabilitiesRejected,
    /// A handshake phase took longer than its timeout.
    #[error("handshake timed out")]
    Timeout,
    /// A handshake message could not be sent.
    #[error("handshake send failed: {0}")]
    SendFailed(SendError),
}

/// Something the composition layer should act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed: enable free page reporting now (Linux does it here).
    Connected {
        /// The negotiated protocol version.
        version: Version,
    },
    /// The handshake failed: the driver has stopped; close the channel.
    InitFailed(InitFailure),
    /// The channel reported itself closed (rescind): the driver has stopped.
    ChannelClosed,
}

/// Counters: Linux's debugfs values plus our error and activity counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Negotiated version (debugfs `host_version`).
    pub host_version: Version,
    /// Capabilities advertised (debugfs `capabilities`).
    pub capabilities: Caps,
    /// Current state (debugfs `state`).
    pub state: State,
    /// Always 4096 (debugfs `page_size`).
    pub page_size: u64,
    /// Pages the host backed through hot-add (debugfs `pages_added`).
    pub pages_added: u64,
    /// Hot-added pages brought online (debugfs `pages_onlined`).
    pub pages_onlined: u64,
    /// Pages currently in the balloon (debugfs `pages_ballooned`).
    pub pages_ballooned: u64,
    /// From the info message (debugfs `max_dynamic_page_count`).
    pub max_dynamic_page_count: u64,
    /// Messages received (parsed or not).
    pub messages_received: u64,
    /// Messages that failed to parse.
    pub parse_errors: u64,
    /// Host requests that failed to parse and were answered anyway with a refusal (balloon:
    /// an empty final response; unballoon: the response, nothing freed; hot-add: 0 pages,
    /// transient failure; hot-remove: failed). Each is also one of `parse_errors`.
    pub refused_requests: u64,
    /// `DM_ERROR` or types the guest never expects from a host.
    pub unknown_messages: u64,
    /// Responses nobody asked for (version/caps outside the handshake, …).
    pub unsolicited_messages: u64,
    /// Requests that arrived while one of the same kind was still being served.
    pub overlapping_requests: u64,
    /// Unballoon ranges that were not (entirely) ballooned by this driver.
    pub refused_unballoon_ranges: u64,
    /// Pages in those ranges that were refused (not freed).
    pub refused_unballoon_pages: u64,
    /// Hot-add requests refused by validation.
    pub refused_hot_adds: u64,
    /// Hot-add requests where the OS failed to add memory (overlap with existing RAM,
    /// out of resources).
    pub hot_add_failures: u64,
    /// Requests answered as unsupported (hot-remove) or ignored (hibernation).
    pub unsupported_requests: u64,
    /// Sends that failed with an error other than "ring full".
    pub send_failures: u64,
    /// Sends that found the ring full (and were retried).
    pub ring_full: u64,
    /// Responses dropped because the retry queue was full.
    pub dropped_responses: u64,
    /// Receive errors from the channel.
    pub recv_errors: u64,
    /// Packets larger than any DM message (the 4096-byte receive buffer), dropped unread.
    pub oversized_packets: u64,
    /// Blocks the OS returned that were unusable (misaligned or outside the frame space).
    pub bad_allocations: u64,
    /// Status reports sent.
    pub status_reports: u64,
    /// Balloon response messages sent.
    pub balloon_responses: u64,
}

impl Counters {
    /// Sum of every error counter.
    pub fn errors(&self) -> u64 {
        self.parse_errors
            + self.unknown_messages
            + self.unsolicited_messages
            + self.overlapping_requests
            + self.refused_unballoon_ranges
            + self.refused_hot_adds
            + self.hot_add_failures
            + self.unsupported_requests
            + self.send_failures
            + self.dropped_responses
            + self.recv_errors
            + self.oversized_packets
            + self.bad_allocations
    }
}

/// Handshake / run phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Stopped,
    Version { deadline: u64 },
    Caps { deadline: u64 },
    Running,
    Failed,
}

/// A balloon-up transaction in progress.
#[derive(Clone, Copy, Debug)]
struct BalloonTxn {
    remaining: u64,
    unit: u64,
}

/// The hot-add request waiting for [`Driver::poll`].
#[derive(Clone, Copy, Debug)]
enum HotAddJob {
    /// A well-formed request: the range and, if given, the region.
    Serve(PageRange, Option<PageRange>),
    /// A request that did not parse: answer 0 pages.
    Refuse,
}

/// A small queued response (≤ 24 bytes) waiting for ring space.
#[derive(Clone, Copy, Debug)]
struct Queued {
    bytes: [u8; 24],
    len: u8,
}

/// Compute the balloon floor (Linux `compute_balloon_floor`, dm-protocol.md §3.4) for `total`
/// managed pages.
pub const fn compute_balloon_floor(total: u64) -> u64 {
    const fn mb(x: u64) -> u64 {
        x * 256
    }
    if total < mb(128) {
        mb(8) + total / 2
    } else if total < mb(512) {
        mb(40) + total / 4
    } else if total < mb(2048) {
        mb(104) + total / 8
    } else if total < mb(8192) {
        mb(232) + total / 16
    } else {
        mb(488) + total / 32
    }
}

/// The driver. `Send`, so a kernel can keep it behind a lock shared by its channel callback
/// and work items.
pub struct Driver {
    config: Config,
    state: State,
    phase: Phase,
    trans_id: u32,
    version: Version,
    next_version: Option<Version>,
    caps: Caps,
    suppress_pressure_reports: bool,
    // status
    delay_remaining: u32,
    last_post: Option<u64>,
    next_status: Option<u64>,
    // balloon
    ballooned: RangeSet,
    balloon_req: Option<u32>,
    balloon: Option<BalloonTxn>,
    /// Ranges of the balloon response being sent (allocated, not yet given to the host).
    pending: Vec<PageRange>,
    pending_more: bool,
    pending_retry: Option<u64>,
    // unballoon ranges received, not yet processed
    unballoon_q: Vec<PageRange>,
    unballoon_reply: bool,
    // control responses waiting for ring space
    queue: VecDeque<Queued>,
    queue_retry: Option<u64>,
    // hot-add
    hot_add: HotAdd,
    hot_add_req: Option<HotAddJob>,
    // misc
    refusal_logged: bool,
    rx_more: bool,
    rx_buf: Box<[u8]>,
    tx_buf: Box<[u8]>,
    events: VecDeque<Event>,
    counters: Counters,
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Driver>();
};

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("state", &self.state)
            .field("phase", &self.phase)
            .field("version", &self.version)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

fn log_parse_error(e: &ParseError) {
    log::warn!("hv_dynmem: dropping malformed message: {e}");
}

impl Driver {
    /// Builds a driver. `memory_block_pages` is the OS memory block size in 4 KiB pages (the
    /// hot-add chunk; [`GuestMemory::memory_block_pages`]).
    pub fn new(config: Config, memory_block_pages: u64) -> Self {
        let chunk = memory_block_pages.max(256).next_power_of_two();
        let alignment = (chunk / 256).trailing_zeros() as u8; // log2(chunk MiB)
        let caps = Caps::new(config.balloon_cap, config.hot_add_cap, alignment, false);
        let hot_add = HotAdd::new(chunk, config.hot_add && !config.hibernation);
        Self {
            delay_remaining: config.pressure_report_delay,
            config,
            state: State::Initializing,
            phase: Phase::Stopped,
            trans_id: 0,
            version: Version::WIN10,
            next_version: Some(Version::WIN8),
            caps,
            suppress_pressure_reports: false,
            last_post: None,
            next_status: None,
            ballooned: RangeSet::new(),
            balloon_req: None,
            balloon: None,
            pending: Vec::with_capacity(MAX_RANGES_PER_MESSAGE),
            pending_more: false,
            pending_retry: None,
            unballoon_q: Vec::with_capacity(UNBALLOON_QUEUE),
            unballoon_reply: false,
            queue: VecDeque::with_capacity(MAX_QUEUED_RESPONSES),
            queue_retry: None,
            hot_add,
            hot_add_req: None,
            refusal_logged: false,
            rx_more: false,
            rx_buf: alloc::vec![0u8; MAX_MESSAGE_SIZE].into_boxed_slice(),
            tx_buf: alloc::vec![0u8; MAX_MESSAGE_SIZE].into_boxed_slice(),
            events: VecDeque::with_capacity(MAX_EVENTS),
            counters: Counters {
                page_size: 4096,
                ..Counters::default()
            },
        }
    }

    // ---------------------------------------------------------------- accessors

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// True once the handshake completed (and the driver has not failed or been suspended).
    pub fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// The capabilities this driver advertises.
    pub fn capabilities(&self) -> Caps {
        self.caps
    }

    /// Whether the host set `suppress_pressure_reports` in its capabilities response. The
    /// driver sends status reports anyway, as Linux does (which does not read the bit): the
    /// only host known to set it, QEMU, sets it when it drops every report unread, and a host
    /// that does read them must not be starved of them (docs/protocol.md, "Status reports").
    pub fn pressure_reports_suppressed(&self) -> bool {
        self.suppress_pressure_reports
    }

    /// Counters (debugfs values plus errors).
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        c.state = self.state;
        c.host_version = self.version;
        c.capabilities = self.caps;
        c.pages_ballooned = self.ballooned.pages() + self.pending_pages();
        c
    }

    /// Frames currently given to the host.
    pub fn ballooned(&self) -> &RangeSet {
        &self.ballooned
    }

    /// The hot-add bookkeeping.
    pub fn hot_add_state(&self) -> &HotAdd {
        &self.hot_add
    }

    /// True if `pfn` is hot-added memory the host has backed (for the OS's online-page
    /// callback: unbacked frames must stay offline).
    pub fn is_backed(&self, pfn: u64) -> bool {
        self.hot_add.is_backed(pfn)
    }

    /// Takes the next event for the composition layer.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn push_event(&mut self, e: Event) {
        // Events are rare (one per handshake or closure); keep the queue within its
        // pre-sized capacity by dropping the oldest.
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn pending_pages(&self) -> u64 {
        self.pending.iter().map(|r| r.page_cnt()).sum()
    }

    /// Linux `get_pages_committed` (dm-protocol.md §3.3): committed + ballooned + hot-added
    /// but not yet onlined + the balloon floor.
    pub fn pages_committed(&self, stats: &MemStats) -> u64 {
        let c = self.counters();
        stats
            .committed
            .saturating_add(c.pages_ballooned)
            .saturating_add(c.pages_added.saturating_sub(c.pages_onlined))
            .saturating_add(compute_balloon_floor(stats.total))
    }

    /// The debugfs file's contents (dm-protocol.md §8).
    pub fn debugfs<M: GuestMemory + ?Sized>(&self, mem: &M) -> DebugFs {
        DebugFs {
            counters: self.counters(),
            committed: self.pages_committed(&mem.stats()),
            hibernation: self.config.hibernation,
        }
    }

    /// When the driver next needs [`Driver::poll`]; `None` if never (until a packet arrives).
    pub fn next_deadline(&self) -> Option<u64> {
        if matches!(self.phase, Phase::Stopped | Phase::Failed) {
            return None;
        }
        let mut d: Option<u64> = None;
        let mut add = |t: Option<u64>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |d| d.min(t)));
            }
        };
        match self.phase {
            Phase::Version { deadline } | Phase::Caps { deadline } => add(Some(deadline)),
            _ => {}
        }
        add(self.next_status);
        add(self.pending_retry);
        add(self.queue_retry);
        let work_now = self.rx_more
            || self.unballoon_reply
            || !self.unballoon_q.is_empty()
            || (self.pending.is_empty() && (self.balloon.is_some() || self.balloon_req.is_some()))
            || self.hot_add_req.is_some();
        if work_now {
            add(Some(0));
        }
        d
    }

    // ---------------------------------------------------------------- sending

    fn next_id(&mut self) -> u32 {
        self.trans_id = self.trans_id.wrapping_add(1);
        self.trans_id
    }

    fn send_bytes<C: Channel + ?Sized>(ch: &mut C, bytes: &[u8]) -> Result<(), SendError> {
        let ok = ch.send(bytes, 0, false)?;
        if ok.signal_needed {
            ch.signal();
        }
        Ok(())
    }

    /// Sends a small control response, queueing it if the ring is full.
    fn send_ctrl<C: Channel + ?Sized>(&mut self, ch: &mut C, msg: &[u8], now: u64) {
        if self.queue.is_empty() {
            match Self::send_bytes(ch, msg) {
                Ok(()) => return,
                Err(SendError::Full { .. }) => self.counters.ring_full += 1,
                Err(e) => {
                    log::warn!("hv_dynmem: response send failed: {e}");
                    self.counters.send_failures += 1;
                    return;
                }
            }
        }
        let mut q = Queued {
            bytes: [0; 24],
            len: msg.len().min(24) as u8,
        };
        q.bytes[..usize::from(q.len)].copy_from_slice(&msg[..usize::from(q.len)]);
        if self.queue.len() >= MAX_QUEUED_RESPONSES {
            self.queue.pop_front();
            self.counters.dropped_responses += 1;
        }
        self.queue.push_back(q);
        self.queue_retry
            .get_or_insert(now.saturating_add(self.config.ring_full_retry_ns));
    }

    fn flush_queue<C: Channel + ?Sized>(&mut self, ch: &mut C, now: u64) {
        while let Some(q) = self.queue.front().copied() {
            match Self::send_bytes(ch, &q.bytes[..usize::from(q.len)]) {
                Ok(()) => {
                    self.queue.pop_front();
                }
                Err(SendError::Full { .. }) => {
                    self.counters.ring_full += 1;
                    self.queue_retry = Some(now.saturating_add(self.config.ring_full_retry_ns));
                    return;
                }
                Err(e) => {
                    log::warn!("hv_dynmem: queued response send failed: {e}");
                    self.counters.send_failures += 1;
                    self.queue.pop_front();
                }
            }
        }
        self.queue_retry = None;
    }

    // ---------------------------------------------------------------- lifecycle

    /// Starts the handshake (probe): sends `DM_VERSION_REQUEST` 2.0. The channel must be open.
    pub fn start<C: Channel + ?Sized>(&mut self, ch: &mut C, now: u64) {
        self.state = State::Initializing;
        self.version = Version::WIN10;
        self.next_version = Some(Version::WIN8);
        self.phase = Phase::Version {
            deadline: now.saturating_add(self.config.phase_timeout_ns),
        };
        self.send_version(ch, Version::WIN10, false);
    }

    fn send_version<C: Channel + ?Sized>(&mut self, ch: &mut C, v: Version, last: bool) {
        self.version = v;
        let id = self.next_id();
        let msg = encode::version_request(id, v, last);
        if let Err(e) = Self::send_bytes(ch, msg.as_bytes()) {
            self.fail(InitFailure::SendFailed(e));
        }
    }

    fn fail(&mut self, why: InitFailure) {
        log::error!("hv_dynmem: {why}");
        self.state = State::InitError;
        self.phase = Phase::Failed;
        self.next_status = None;
        self.push_event(Event::InitFailed(why));
    }

    /// Suspends (hibernation): stops all work. Pages allocated for a balloon response that
    /// was never sent go back to the OS; pages the host holds stay ballooned.
    pub fn suspend<M: GuestMemory + ?Sized>(&mut self, mem: &mut M) {
        self.release_pending(mem);
        // Frames the host already asked back are returned; the reply is moot after resume.
        self.process_unballoon(mem, 0);
        self.unballoon_reply = false;
        self.balloon = None;
        self.balloon_req = None;
        self.hot_add_req = None;
        self.queue.clear();
        self.queue_retry = None;
        self.next_status = None;
        self.rx_more = false;
        self.phase = Phase::Stopped;
    }

    /// Resumes: renegotiates from scratch (version 2.0 first, then capabilities), as Linux's
    /// resume path does. The channel must have been reopened.
    pub fn resume<C: Channel + ?Sized>(&mut self, ch: &mut C, now: u64) {
        self.start(ch, now);
    }

    fn release_pending<M: GuestMemory + ?Sized>(&mut self, mem: &mut M) {
        for r in self.pending.drain(..) {
            mem.free_offline(r.start_page(), r.page_cnt());
        }
        self.pending_retry = None;
    }

    // ---------------------------------------------------------------- events in

    /// The host signalled the channel: retry blocked sends, then drain incoming packets.
    pub fn on_channel_interrupt<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        now: u64,
    ) {
        if matches!(self.phase, Phase::Stopped) {
            return;
        }
        if !self.queue.is_empty() {
            self.flush_queue(ch, now);
        }
        if !self.pending.is_empty() {
            // Retry from poll (recording given frames may allocate).
            self.pending_retry = Some(now);
        }
        self.drain(ch, mem, now);
    }

    /// Runs timers and deferred work due at `now`.
    pub fn poll<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        now: u64,
    ) {
        match self.phase {
            Phase::Stopped | Phase::Failed => return,
            Phase::Version { deadline } | Phase::Caps { deadline } if now >= deadline => {
                self.fail(InitFailure::Timeout);
                return;
            }
            _ => {}
        }
        if self.rx_more {
            self.drain(ch, mem, now);
        }
        if self.queue_retry.is_some_and(|t| now >= t) {
            self.flush_queue(ch, now);
        }
        // Unballoon requests queued so far arrived before a balloon response still pending was
        // in the ring, so they cannot legitimately name its frames: apply them first, against
        // what the host held when it asked.
        if self.phase == Phase::Running && (self.unballoon_reply || !self.unballoon_q.is_empty()) {
            self.finish_unballoon(ch, mem, now);
        }
        if self.pending_retry.is_some_and(|t| now >= t) {
            if self.queue.is_empty() {
                self.send_pending(ch, mem, now);
            } else {
                // Queued responses go first; try again when they have.
                self.pending_retry = Some(now.saturating_add(self.config.ring_full_retry_ns));
            }
        }
        if self.phase != Phase::Running {
            return;
        }
        if self.pending.is_empty() {
            if self.balloon.is_none() {
                if let Some(n) = self.balloon_req.take() {
                    self.begin_balloon(mem, n);
                }
            }
            if self.balloon.is_some() {
                self.balloon_step(ch, mem, now);
            }
        }
        match self.hot_add_req.take() {
            Some(HotAddJob::Serve(range, region)) => self.do_hot_add(ch, mem, range, region, now),
            Some(HotAddJob::Refuse) => self.refuse_hot_add(ch, mem, now),
            None => {}
        }
        if self.next_status.is_some_and(|t| now >= t) {
            self.next_status = Some(now.saturating_add(self.config.status_interval_ns));
            self.post_status(ch, mem, now);
        }
    }

    /// The OS onlined `pages` hot-added pages on its own (after [`GuestMemory::online_pages`]
    /// returned fewer than asked, or through its own online path).
    pub fn on_pages_onlined(&mut self, pages: u64) {
        self.counters.pages_onlined = self.counters.pages_onlined.saturating_add(pages);
    }

    /// The OS took `[start, start + pages)` offline (Linux memory notifier `MEM_OFFLINE`):
    /// backed hot-added frames in it no longer count as onlined.
    pub fn on_memory_offline(&mut self, start: u64, pages: u64) {
        let n = self.hot_add.backed_in(start, start.saturating_add(pages));
        if n > self.counters.pages_onlined {
            log::warn!("hv_dynmem: more pages offlined than onlined");
        }
        self.counters.pages_onlined = self.counters.pages_onlined.saturating_sub(n);
    }

    fn drain<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        now: u64,
    ) {
        self.rx_more = false;
        for _ in 0..MAX_PACKETS_PER_CALL {
            if matches!(self.phase, Phase::Stopped | Phase::Failed) {
                return;
            }
            let mut buf = core::mem::take(&mut self.rx_buf);
            buf.fill(0);
            let got = ch.try_recv(&mut buf);
            match got {
                Ok(None) => {
                    self.rx_buf = buf;
                    return;
                }
                Ok(Some(p)) => {
                    if p.signal_needed {
                        ch.signal();
                    }
                    let len = p.len.min(buf.len());
                    self.counters.messages_received += 1;
                    match parse_detailed(&buf[..len]) {
                        Ok(p) => {
                            if !p.tolerated.is_none() {
                                log::debug!(
                                    "hv_dynmem: {} accepted, ignoring {:?}",
                                    p.message.message_type(),
                                    p.tolerated
                                );
                            }
                            self.on_message(ch, mem, p.message, now)
                        }
                        Err(e) => {
                            log_parse_error(&e);
                            self.counters.parse_errors += 1;
                            if let Some(r) = refused_request(&buf[..len]) {
                                self.on_refused_request(ch, r, &e, now);
                            }
                        }
                    }
                    self.rx_buf = buf;
                }
                Err(RecvError::BufferTooSmall { len, .. }) => {
                    // No DM message is this large: drop it so it cannot stall the channel.
                    self.rx_buf = buf;
                    self.counters.oversized_packets += 1;
                    log::error!(
                        "hv_dynmem: dropped a {len}-byte packet (larger than any DM message)"
                    );
                    match ch.discard() {
                        Ok(Some(d)) => {
                            if d.signal_needed {
                                ch.signal();
                            }
                        }
                        Ok(None) => return,
                        Err(e) => {
                            self.on_recv_error(e);
                            return;
                        }
                    }
                }
                Err(e) => {
                    self.rx_buf = buf;
                    self.on_recv_error(e);
                    return;
                }
            }
        }
        self.rx_more = true;
    }

    fn on_recv_error(&mut self, e: RecvError) {
        self.counters.recv_errors += 1;
        log::error!("hv_dynmem: receive failed: {e}");
        if matches!(e, RecvError::Closed) {
            self.phase = Phase::Stopped;
            self.next_status = None;
            self.push_event(Event::ChannelClosed);
        }
    }

    fn on_message<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        m: Message<'_>,
        now: u64,
    ) {
        match m {
            Message::VersionResponse(r) => self.on_version_response(ch, r.is_accepted(), now),
            Message::CapabilitiesResponse(r) => {
                if !matches!(self.phase, Phase::Caps { .. }) {
                    log::warn!("hv_dynmem: unsolicited capabilities response");
                    self.counters.unsolicited_messages += 1;
                    return;
                }
                if !r.is_accepted() {
                    self.fail(InitFailure::CapabilitiesRejected);
                    return;
                }
                self.suppress_pressure_reports = r.suppress_pressure_reports();
                self.phase = Phase::Running;
                self.state = State::Initialized;
                self.next_status = Some(now.saturating_add(self.config.status_interval_ns));
                log::info!(
                    "hv_dynmem: Using Dynamic Memory protocol version {}.{}",
                    self.version.major(),
                    self.version.minor() & 0xff
                );
                self.push_event(Event::Connected {
                    version: self.version,
                });
            }
            _ if self.phase != Phase::Running => {
                log::warn!(
                    "hv_dynmem: {} before the handshake completed",
                    m.message_type()
                );
                self.counters.unsolicited_messages += 1;
            }
            Message::BalloonRequest(r) => {
                if self.config.hibernation {
                    log::info!("hv_dynmem: Ignore balloon-up request!");
                    self.counters.unsupported_requests += 1;
                    return;
                }
                if self.balloon.is_some() || self.balloon_req.is_some() {
                    log::warn!("hv_dynmem: balloon request while one is being served");
                    self.counters.overlapping_requests += 1;
                }
                self.state = State::BalloonUp;
                self.balloon_req = Some(r.num_pages.get());
            }
            Message::UnballoonRequest { hdr, ranges } => {
                if self.config.hibernation {
                    self.counters.unsupported_requests += 1;
                    return;
                }
                self.unballoon(mem, hdr.more_pages(), ranges, now);
            }
            Message::HotAddRequest { req, region } => {
                if self.hot_add_req.is_some() {
                    log::warn!("hv_dynmem: hot-add request while one is being served");
                    self.counters.overlapping_requests += 1;
                }
                self.state = State::HotAdd;
                self.hot_add_req = Some(HotAddJob::Serve(req.range, region));
            }
            Message::InfoMessage { info, .. } => match info {
                Info::MaxPageCount(n) => {
                    log::info!("hv_dynmem: Max. dynamic memory size: {} MB", n >> 8);
                    self.counters.max_dynamic_page_count = n;
                }
                Info::Other { ty, .. } => {
                    log::info!("hv_dynmem: Received Unknown type: {}", ty.0);
                }
            },
            Message::HotRemoveRequest(r) => {
                // Not advertised (caps bit 6 clear) and not implemented: answer "failed,
                // nothing removed" so the host does not wait.
                log::warn!(
                    "hv_dynmem: hot-remove of {} pages requested; not supported",
                    r.page_count.get()
                );
                self.counters.unsupported_requests += 1;
                let id = self.next_id();
                let msg = encode::hot_remove_response(id, false, 0, false);
                self.send_ctrl(ch, msg.as_bytes(), now);
            }
            Message::Error { .. }
            | Message::VersionRequest(_)
            | Message::CapabilitiesReport(_)
            | Message::StatusReport(_)
            | Message::BalloonResponse { .. }
            | Message::UnballoonResponse(_)
            | Message::HotAddResponse(_)
            | Message::HotRemoveResponse { .. } => {
                log::warn!("hv_dynmem: Unhandled message: type: {}", m.message_type());
                self.counters.unknown_messages += 1;
            }
        }
    }

    /// A host request that did not parse: answer it with a refusal, because a host waits for
    /// every answer (QEMU's host stays in its reply-wait state forever). Nothing is allocated,
    /// freed or added for it.
    fn on_refused_request<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        r: RefusedRequest,
        why: &ParseError,
        now: u64,
    ) {
        if self.phase != Phase::Running {
            // Before the handshake no request is served, well-formed or not.
            return;
        }
        if self.config.hibernation
            && matches!(
                r.ty,
                MessageType::BALLOON_REQUEST | MessageType::UNBALLOON_REQUEST
            )
        {
            // As for a well-formed one: ignored (Linux).
            self.counters.unsupported_requests += 1;
            return;
        }
        self.counters.refused_requests += 1;
        if core::mem::replace(&mut self.refusal_logged, true) {
            log::debug!("hv_dynmem: refusing malformed {} ({why})", r.ty);
        } else {
            log::warn!(
                "hv_dynmem: refusing malformed {} ({why}); further refusals are counted in refused_requests",
                r.ty
            );
        }
        match r.ty {
            MessageType::BALLOON_REQUEST => {
                // Served as a request for 0 pages: one empty final response, in turn.
                if self.balloon.is_some() || self.balloon_req.is_some() {
                    self.counters.overlapping_requests += 1;
                }
                self.state = State::BalloonUp;
                self.balloon_req = Some(0);
            }
            MessageType::UNBALLOON_REQUEST => {
                // Nothing is freed; the response (after whatever is queued) ends the
                // transaction unless the request said more follow.
                self.state = State::BalloonDown;
                if !r.more_pages {
                    self.unballoon_reply = true;
                }
            }
            MessageType::MEM_HOT_ADD_REQUEST => {
                if self.hot_add_req.is_some() {
                    self.counters.overlapping_requests += 1;
                }
                self.state = State::HotAdd;
                self.hot_add_req = Some(HotAddJob::Refuse);
            }
            _ => {
                self.counters.unsupported_requests += 1;
                let id = self.next_id();
                let msg = encode::hot_remove_response(id, false, 0, false);
                self.send_ctrl(ch, msg.as_bytes(), now);
            }
        }
    }

    fn on_version_response<C: Channel + ?Sized>(&mut self, ch: &mut C, accepted: bool, now: u64) {
        if !matches!(self.phase, Phase::Version { .. }) {
            log::warn!("hv_dynmem: unsolicited version response");
            self.counters.unsolicited_messages += 1;
            return;
        }
        if accepted {
            self.phase = Phase::Caps {
                deadline: now.saturating_add(self.config.phase_timeout_ns),
            };
            let id = self.next_id();
            let msg = encode::capabilities_report(id, self.caps, 0, u64::MAX);
            if let Err(e) = Self::send_bytes(ch, msg.as_bytes()) {
                self.fail(InitFailure::SendFailed(e));
            }
            return;
        }
        match self.next_version {
            None => self.fail(InitFailure::VersionRejected),
            Some(v) => {
                let last = v != Version::WIN8;
                self.next_version = if last { None } else { Some(Version::WIN7) };
                self.send_version(ch, v, last);
            }
        }
    }

    // ---------------------------------------------------------------- status

    fn post_status<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        now: u64,
    ) {
        // `suppress_pressure_reports` is recorded, not obeyed (see
        // `pressure_reports_suppressed`).
        if self.phase != Phase::Running {
            return;
        }
        if self.delay_remaining > 0 {
            self.delay_remaining -= 1;
            return;
        }
        if self
            .last_post
            .is_some_and(|last| now < last.saturating_add(NS_PER_S))
        {
            return;
        }
        let stats = mem.stats();
        let committed = self.pages_committed(&stats);
        let id = self.next_id();
        let msg = encode::status_report(id, stats.available, committed);
        self.last_post = Some(now);
        match Self::send_bytes(ch, msg.as_bytes()) {
            Ok(()) => self.counters.status_reports += 1,
            Err(SendError::Full { .. }) => self.counters.ring_full += 1,
            Err(_) => self.counters.send_failures += 1,
        }
    }

    // ---------------------------------------------------------------- balloon up

    fn begin_balloon<M: GuestMemory + ?Sized>(&mut self, mem: &mut M, requested: u32) {
        let mut n = u64::from(requested);
        let stats = mem.stats();
        let floor = compute_balloon_floor(stats.total);
        let avail = stats.available;
        if avail < n || avail - n < floor {
            log::warn!(
                "hv_dynmem: Balloon request will be partially fulfilled. {}",
                if avail < n {
                    "Not enough memory."
                } else {
                    "Balloon floor reached."
                }
            );
            n = avail.saturating_sub(floor);
        }
        self.state = State::BalloonUp;
        self.balloon = Some(BalloonTxn {
            remaining: n,
            unit: PAGES_IN_2M,
        });
    }

    /// Builds and sends one balloon response.
    fn balloon_step<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        now: u64,
    ) {
        let Some(mut txn) = self.balloon else { return };
        let mut got = 0u64;
        loop {
            let units = (txn.remaining / txn.unit).min(MAX_RANGES_PER_MESSAGE as u64);
            let order = txn.unit.trailing_zeros() as u8;
            for _ in 0..units {
                let Some(pfn) = mem.alloc_block(order) else {
                    break;
                };
                if pfn % txn.unit != 0 || pfn.saturating_add(txn.unit) > FRAME_SPACE_END {
                    log::error!("hv_dynmem: allocator returned unusable block {pfn:#x}");
                    self.counters.bad_allocations += 1;
                    // Give it straight back rather than leak it.
                    mem.set_offline(pfn, txn.unit);
                    mem.free_offline(pfn, txn.unit);
                    break;
                }
                mem.set_offline(pfn, txn.unit);
                if let Some(r) = PageRange::new(pfn, txn.unit) {
                    self.pending.push(r);
                }
                got += txn.unit;
            }
            if txn.unit != 1 && got == 0 {
                txn.unit = 1;
                continue;
            }
            break;
        }
        let last = got == 0 || got == txn.remaining;
        txn.remaining -= got;
        self.pending_more = !last;
        self.balloon = if last { None } else { Some(txn) };
        self.send_pending(ch, mem, now);
    }

    /// Sends (or re-sends) the pending balloon response.
    fn send_pending<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        now: u64,
    ) {
        let id = self.next_id();
        let fixed = encode::balloon_response(id, self.pending_more, self.pending.len() as u32);
        let len = match encode::write_message(&mut self.tx_buf, &fixed, &self.pending) {
            Ok(n) => n,
            Err(e) => {
                // Unreachable: pending never exceeds 510 ranges.
                log::error!("hv_dynmem: balloon response encode failed: {e}");
                self.counters.send_failures += 1;
                self.release_pending(mem);
                return;
            }
        };
        let res = Self::send_bytes(ch, &self.tx_buf[..len]);
        match res {
            Ok(()) => {
                for r in self.pending.drain(..) {
                    self.ballooned.insert(r.start_page(), r.end_page());
                }
                self.pending_retry = None;
                self.counters.balloon_responses += 1;
                if !self.pending_more {
                    self.state = State::Initialized;
                }
            }
            Err(SendError::Full { .. }) => {
                self.counters.ring_full += 1;
                self.pending_retry = Some(now.saturating_add(self.config.ring_full_retry_ns));
            }
            Err(e) => {
                log::error!("hv_dynmem: Balloon response failed: {e}");
                self.counters.send_failures += 1;
                self.release_pending(mem);
                self.balloon = None;
                self.state = State::Initialized;
            }
        }
        self.post_status(ch, mem, now);
    }

    // ---------------------------------------------------------------- balloon down

    /// Queues an unballoon request's ranges (no allocation: the queue is pre-sized). If the
    /// queue cannot take them, what is queued is processed first.
    fn unballoon<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        more_pages: bool,
        ranges: &[PageRange],
        now: u64,
    ) {
        self.state = State::BalloonDown;
        if self.unballoon_q.len() + ranges.len() > UNBALLOON_QUEUE {
            self.process_unballoon(mem, now);
        }
        self.unballoon_q.extend_from_slice(ranges);
        if !more_pages {
            self.unballoon_reply = true;
        }
    }

    /// Frees the queued unballoon ranges (only frames this driver gave to the host) and, after
    /// the final request of a transaction, answers it.
    fn process_unballoon<M: GuestMemory + ?Sized>(&mut self, mem: &mut M, now: u64) {
        let mut q = core::mem::take(&mut self.unballoon_q);
        for r in q.drain(..) {
            let (s, e) = (r.start_page(), r.end_page());
            let freed = self
                .ballooned
                .remove(s, e, |a, b| mem.free_offline(a, b - a));
            let refused = r.page_cnt() - freed;
            if refused > 0 {
                log::warn!(
                    "hv_dynmem: unballoon range {r:?}: {refused} pages were not ballooned by this driver; refused"
                );
                self.counters.refused_unballoon_ranges += 1;
                self.counters.refused_unballoon_pages += refused;
            }
            if freed > 0 && self.next_status.is_some() {
                // Linux wakes its status thread after each range freed.
                self.next_status = Some(now);
            }
        }
        self.unballoon_q = q;
    }

    fn finish_unballoon<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        now: u64,
    ) {
        self.process_unballoon(mem, now);
        if core::mem::take(&mut self.unballoon_reply) {
            let id = self.next_id();
            let msg = encode::unballoon_response(id);
            self.send_ctrl(ch, msg.as_bytes(), now);
            self.state = State::Initialized;
        }
    }

    // ---------------------------------------------------------------- hot-add

    fn do_hot_add<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        range: PageRange,
        region: Option<PageRange>,
        now: u64,
    ) {
        let out = self.hot_add.process(mem, range, region);
        if let Some(why) = out.refused {
            log::warn!("hv_dynmem: hot-add {range:?} region {region:?} refused: {why:?}");
            self.counters.refused_hot_adds += 1;
        }
        if out.os_error.is_some() {
            self.counters.hot_add_failures += 1;
        }
        self.counters.pages_added += out.pages;
        self.counters.pages_onlined += out.onlined;
        if out.pages == 0 {
            log::warn!("hv_dynmem: Memory hot add failed");
        }
        let result = out.pages > 0 || !self.hot_add.enabled;
        let id = self.next_id();
        let page_count = u32::try_from(out.pages).unwrap_or(u32::MAX);
        let msg = encode::hot_add_response(id, page_count, result);
        self.send_ctrl(ch, msg.as_bytes(), now);
        self.state = State::Initialized;
        self.post_status(ch, mem, now);
    }
}

impl Driver {
    /// Answers a hot-add request that did not parse: 0 pages; a transient failure while
    /// hot-add is enabled (the host may send a well-formed one), permanent once it is off.
    fn refuse_hot_add<C: Channel + ?Sized, M: GuestMemory + ?Sized>(
        &mut self,
        ch: &mut C,
        mem: &mut M,
        now: u64,
    ) {
        let id = self.next_id();
        let msg = encode::hot_add_response(id, 0, !self.hot_add.enabled);
        self.send_ctrl(ch, msg.as_bytes(), now);
        self.state = State::Initialized;
        self.post_status(ch, mem, now);
    }
}

/// The debugfs file (`/sys/kernel/debug/hv-balloon`), rendered by `Display`.
#[derive(Clone, Copy, Debug)]
pub struct DebugFs {
    /// Counter snapshot.
    pub counters: Counters,
    /// `total_pages_committed`.
    pub committed: u64,
    /// [`Config::hibernation`]: shown as ` hibernation` on the `capabilities` line (hv_balloon
    /// shows only the advertised bits, which hibernation does not change).
    pub hibernation: bool,
}

impl fmt::Display for DebugFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        writeln!(
            f,
            "{:<22}: {}.{}",
            "host_version",
            c.host_version.major(),
            c.host_version.minor() & 0xff
        )?;
        write!(f, "{:<22}:", "capabilities")?;
        if c.capabilities.balloon() {
            write!(f, " enabled")?;
        }
        if c.capabilities.hot_add() {
            write!(f, " hot_add")?;
        }
        if self.hibernation {
            write!(f, " hibernation")?;
        }
        writeln!(f)?;
        writeln!(f, "{:<22}: {} ({})", "state", c.state as u8, c.state.name())?;
        writeln!(f, "{:<22}: {}", "page_size", c.page_size)?;
        writeln!(f, "{:<22}: {}", "pages_added", c.pages_added)?;
        writeln!(f, "{:<22}: {}", "pages_onlined", c.pages_onlined)?;
        writeln!(f, "{:<22}: {}", "pages_ballooned", c.pages_ballooned)?;
        writeln!(f, "{:<22}: {}", "total_pages_committed", self.committed)?;
        writeln!(
            f,
            "{:<22}: {}",
            "max_dynamic_page_count", c.max_dynamic_page_count
        )?;
        writeln!(f, "{:<22}: {}", "parse_errors", c.parse_errors)?;
        writeln!(f, "{:<22}: {}", "refused_requests", c.refused_requests)?;
        writeln!(f, "{:<22}: {}", "unknown_messages", c.unknown_messages)?;
        writeln!(
            f,
            "{:<22}: {}",
            "unsolicited_messages", c.unsolicited_messages
        )?;
        writeln!(
            f,
            "{:<22}: {}",
            "overlapping_requests", c.overlapping_requests
        )?;
        writeln!(
            f,
            "{:<22}: {}",
            "refused_unballoon", c.refused_unballoon_pages
        )?;
        writeln!(f, "{:<22}: {}", "refused_hot_adds", c.refused_hot_adds)?;
        writeln!(f, "{:<22}: {}", "hot_add_failures", c.hot_add_failures)?;
        writeln!(
            f,
            "{:<22}: {}",
            "unsupported_requests", c.unsupported_requests
        )?;
        writeln!(f, "{:<22}: {}", "send_failures", c.send_failures)?;
        writeln!(f, "{:<22}: {}", "oversized_packets", c.oversized_packets)?;
        writeln!(f, "{:<22}: {}", "ring_full", c.ring_full)
    }
}

#[cfg(all(test, feature = "sim"))]
mod tests;
