//! A simulated VMBus channel: a guest endpoint and a host endpoint over two real rings in
//! memory, laid out byte for byte as Hyper-V lays them out (feature `sim`).
//!
//! ```text
//!                    guest -> host ring (control page + data)
//!   GuestEndpoint  ---- OutgoingRing ==========> IncomingRing ---->  HostEndpoint
//!   (impl Channel) <--- IncomingRing <========== OutgoingRing <----  (test / simulated DM host)
//!                    host -> guest ring (control page + data)
//! ```
//!
//! Everything is deterministic and single-threaded in use: both endpoints are cheap handles to
//! one shared state (`Arc<spin::Mutex<_>>`, so they are also `Send`), no operation blocks,
//! and time is a virtual step counter advanced by [`HostEndpoint::advance`].
//!
//! - **Signals** are recorded, never delivered asynchronously: [`Channel::signal`] on the guest
//!   marks the host as signalled ([`HostEndpoint::take_signal`]) and the host's signals mark
//!   the guest ([`GuestEndpoint::take_signal`]). The guest endpoint never signals on its own:
//!   the driver must act on `signal_needed`. The host signals automatically when its ring
//!   operations say so (switch off with [`HostEndpoint::set_auto_signal`]).
//! - **Counters** per direction ([`SimCounters`]): packets sent and received, payload and ring
//!   bytes, signals needed and signals made, ring-full events.
//! - **Fault injection**: forced ring-full for the guest's next N sends; delayed delivery of
//!   host packets (written now, published after N steps); raw control-page and data-area
//!   writes in either ring; malformed packets (any type, flags, or unframed bytes).
//!
//! ```
//! use vmbus::Channel;
//! use vmbus::sim::SimVmbus;
//!
//! let sim = SimVmbus::dm();
//! let (mut guest, mut host) = (sim.guest(), sim.host());
//! assert!(guest.send(b"version request", 1, false).unwrap().signal_needed);
//! guest.signal();
//! assert!(host.take_signal());
//! let (packet, payload) = host.recv_vec().unwrap().unwrap();
//! assert_eq!((packet.transaction_id, &payload[..15]), (1, &b"version request"[..]));
//! host.send(b"version response", 0, false).unwrap();
//! assert!(guest.take_signal(), "the host signalled: its ring was empty before");
//! let mut buf = [0u8; vmbus::DM_MAX_PAYLOAD];
//! let got = guest.try_recv(&mut buf).unwrap().unwrap();
//! assert_eq!(&buf[..16], b"version response");
//! assert_eq!(got.len, 16);
//! ```

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use spin::Mutex;

use crate::channel::{Channel, DiscardedPacket, ReceivedPacket, RecvError, SendError, SendOk};
use crate::mem::{self, CONTROL_PAGE_SIZE, ControlWord, FlatRingMem, OutOfBounds, RingMem};
use crate::packet::{PacketFlags, PacketType, in_band_packet_size};
use crate::ring::{
    IncomingPacket, IncomingRing, OutgoingPacket, OutgoingRing, ReadError, RingError, WriteError,
};

/// One of the two rings of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The ring the guest writes and the host reads.
    GuestToHost,
    /// The ring the host writes and the guest reads.
    HostToGuest,
}

/// Ring sizes of a simulated channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Data area bytes of the guest-to-host ring (multiple of 8, at least 32).
    pub guest_to_host_data_size: usize,
    /// Data area bytes of the host-to-guest ring (multiple of 8, at least 32).
    pub host_to_guest_data_size: usize,
}

impl SimConfig {
    /// The Dynamic Memory channel: 16 KiB of data per direction (`dm-protocol.md` §0).
    #[must_use]
    pub const fn dm() -> Self {
        Self::with_data_size(crate::DM_RING_DATA_SIZE)
    }

    /// The same data size in both directions (small rings make boundary tests short).
    #[must_use]
    pub const fn with_data_size(data_size: usize) -> Self {
        Self {
            guest_to_host_data_size: data_size,
            host_to_guest_data_size: data_size,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::dm()
    }
}

/// Counters for one direction. "Sender" is the guest for
/// [`Direction::GuestToHost`], the host for [`Direction::HostToGuest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionCounters {
    /// Packets the sender wrote into the ring (framed ones; raw bytes not counted).
    pub packets_sent: u64,
    /// Packets the receiver took off the ring.
    pub packets_received: u64,
    /// Payload bytes sent (unpadded).
    pub payload_bytes: u64,
    /// Ring bytes sent (descriptor, padded payload, trailer).
    pub ring_bytes: u64,
    /// Times the sender's side was told to signal the other side (by a write into an empty
    /// ring, or by its reads crossing the other side's pending-send size).
    pub signals_needed: u64,
    /// Times the sender's side actually signalled the other side.
    pub signals: u64,
    /// Sends refused because the ring was full (real or forced).
    pub ring_full: u64,
}

/// Counters for both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Guest to host: guest sends, host receives; guest signals host.
    pub guest_to_host: DirectionCounters,
    /// Host to guest: host sends, guest receives; host signals guest.
    pub host_to_guest: DirectionCounters,
}

type Mem = Arc<FlatRingMem>;

struct State {
    g2h: Mem,
    h2g: Mem,
    guest_out: OutgoingRing<Mem>,
    guest_in: IncomingRing<Mem>,
    host_out: OutgoingRing<Mem>,
    host_in: IncomingRing<Mem>,
    counters: SimCounters,
    guest_signalled: bool,
    host_signalled: bool,
    host_auto_signal: bool,
    closed: bool,
    forced_full: u64,
    forced_full_owes_signal: bool,
    now: u64,
    delivery_delay: u64,
    /// Host packets written but not yet published: (due step, write index after the packet).
    in_flight: VecDeque<(u64, u32)>,
    last_guest_error: Option<RingError>,
}

impl State {
    fn mem(&self, dir: Direction) -> &FlatRingMem {
        match dir {
            Direction::GuestToHost => &self.g2h,
            Direction::HostToGuest => &self.h2g,
        }
    }

    fn signal_guest(&mut self) {
        self.counters.host_to_guest.signals += 1;
        self.guest_signalled = true;
    }

    fn host_wants_to_signal(&mut self) {
        self.counters.host_to_guest.signals_needed += 1;
        if self.host_auto_signal {
            self.signal_guest();
        }
    }

    /// Publishes host packets whose time has come.
    fn deliver_due(&mut self) -> Result<(), RingError> {
        let mut publish_to = None;
        while let Some(&(due, end)) = self.in_flight.front() {
            if due > self.now {
                break;
            }
            publish_to = Some(end);
            self.in_flight.pop_front();
        }
        if let Some(end) = publish_to {
            if self.host_out.commit_write_to(end)? {
                self.host_wants_to_signal();
            }
        }
        Ok(())
    }

    fn host_write(
        &mut self,
        packet: &OutgoingPacket<'_>,
        raw: Option<&[u8]>,
    ) -> Result<usize, WriteError> {
        let result = match raw {
            Some(bytes) => self.host_out.try_write_raw(bytes),
            None => self.host_out.try_write(packet),
        };
        let c = &mut self.counters.host_to_guest;
        let ring_bytes = match result {
            Ok(n) => n,
            Err(e) => {
                if matches!(e, WriteError::Full { .. }) {
                    c.ring_full += 1;
                }
                return Err(e);
            }
        };
        if raw.is_none() {
            c.packets_sent += 1;
            c.payload_bytes += packet.payload.len() as u64;
        }
        c.ring_bytes += ring_bytes as u64;
        let end = self.host_out.uncommitted_index();
        if self.delivery_delay == 0 && self.in_flight.is_empty() {
            if self.host_out.commit_write() {
                self.host_wants_to_signal();
            }
        } else {
            let due = self.now.saturating_add(self.delivery_delay);
            let due = self
                .in_flight
                .back()
                .map_or(due, |&(last, _)| due.max(last));
            self.in_flight.push_back((due, end));
            self.deliver_due()?;
        }
        Ok(ring_bytes)
    }

    fn guest_error(&mut self, e: RingError) -> &'static str {
        self.last_guest_error = Some(e);
        e.what()
    }

    /// Takes the next packet off the guest's incoming ring with `take` (read or skip), commits
    /// the read and counts it. Returns the packet and the reader's signal decision.
    fn guest_take(
        &mut self,
        take: impl FnOnce(&mut IncomingRing<Mem>) -> Result<Option<IncomingPacket>, ReadError>,
    ) -> Result<Option<(IncomingPacket, bool)>, RecvError> {
        if self.closed {
            return Err(RecvError::Closed);
        }
        let packet = match take(&mut self.guest_in) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(None),
            Err(ReadError::BufferTooSmall { len, buf }) => {
                return Err(RecvError::BufferTooSmall { len, buf });
            }
            Err(ReadError::Corrupt(e)) => return Err(RecvError::Corrupt(self.guest_error(e))),
        };
        let signal_needed = self.guest_in.commit_read();
        let c = &mut self.counters;
        c.host_to_guest.packets_received += 1;
        if signal_needed {
            c.guest_to_host.signals_needed += 1;
        }
        Ok(Some((packet, signal_needed)))
    }

    fn guest_send(&mut self, packet: &OutgoingPacket<'_>) -> Result<SendOk, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let len = packet.payload.len();
        let max = self.guest_out.max_payload();
        let Some(needed) = in_band_packet_size(len).filter(|_| len <= max) else {
            return Err(SendError::TooLarge { len, max });
        };
        let c = &mut self.counters.guest_to_host;
        if self.forced_full > 0 {
            self.forced_full -= 1;
            self.forced_full_owes_signal = true;
            c.ring_full += 1;
            return Err(SendError::Full { needed });
        }
        match self.guest_out.write(packet) {
            Ok(ok) => {
                c.packets_sent += 1;
                c.payload_bytes += len as u64;
                c.ring_bytes += ok.ring_bytes as u64;
                if ok.signal {
                    c.signals_needed += 1;
                }
                Ok(SendOk {
                    signal_needed: ok.signal,
                })
            }
            Err(WriteError::Full { needed, .. }) => {
                c.ring_full += 1;
                Err(SendError::Full { needed })
            }
            Err(WriteError::TooLarge { len, max }) => Err(SendError::TooLarge { len, max }),
            Err(WriteError::Corrupt(e)) => Err(SendError::Corrupt(self.guest_error(e))),
        }
    }
}

/// The simulated channel: owns both rings and hands out endpoint handles.
#[derive(Clone)]
pub struct SimVmbus {
    state: Arc<Mutex<State>>,
}

impl core::fmt::Debug for SimVmbus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("SimVmbus")
            .field("g2h", &*s.g2h)
            .field("h2g", &*s.h2g)
            .field("counters", &s.counters)
            .field("now", &s.now)
            .finish()
    }
}

impl SimVmbus {
    /// A channel with the given ring sizes, both rings empty and initialised (feature bit for
    /// pending-send size set, interrupts unmasked).
    ///
    /// # Errors
    ///
    /// [`RingError::BadRingSize`] for a data size that is not a multiple of 8 in
    /// `32..=2^31`.
    pub fn new(config: SimConfig) -> Result<Self, RingError> {
        for size in [
            config.guest_to_host_data_size,
            config.host_to_guest_data_size,
        ] {
            if size % 8 != 0 {
                return Err(RingError::BadRingSize { size });
            }
        }
        let g2h = Arc::new(FlatRingMem::new(config.guest_to_host_data_size));
        let h2g = Arc::new(FlatRingMem::new(config.host_to_guest_data_size));
        let state = State {
            guest_out: OutgoingRing::new(Arc::clone(&g2h))?,
            host_in: IncomingRing::new(Arc::clone(&g2h))?,
            host_out: OutgoingRing::new(Arc::clone(&h2g))?,
            guest_in: IncomingRing::new(Arc::clone(&h2g))?,
            g2h,
            h2g,
            counters: SimCounters::default(),
            guest_signalled: false,
            host_signalled: false,
            host_auto_signal: true,
            closed: false,
            forced_full: 0,
            forced_full_owes_signal: false,
            now: 0,
            delivery_delay: 0,
            in_flight: VecDeque::new(),
            last_guest_error: None,
        };
        Ok(Self {
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// A channel with the Dynamic Memory ring sizes (16 KiB data + 4 KiB control page per
    /// direction).
    #[must_use]
    pub fn dm() -> Self {
        match Self::new(SimConfig::dm()) {
            Ok(sim) => sim,
            // 16 KiB is a valid size; this arm only exists to avoid a panic path.
            Err(_) => unreachable!("the DM ring size is valid"),
        }
    }

    /// A guest endpoint handle (implements [`Channel`]). All handles share one state.
    #[must_use]
    pub fn guest(&self) -> GuestEndpoint {
        GuestEndpoint {
            state: Arc::clone(&self.state),
        }
    }

    /// A host endpoint handle. All handles share one state.
    #[must_use]
    pub fn host(&self) -> HostEndpoint {
        HostEndpoint {
            state: Arc::clone(&self.state),
        }
    }

    /// Both endpoints of a new channel.
    ///
    /// # Errors
    ///
    /// As [`SimVmbus::new`].
    pub fn pair(config: SimConfig) -> Result<(GuestEndpoint, HostEndpoint), RingError> {
        let sim = Self::new(config)?;
        Ok((sim.guest(), sim.host()))
    }

    /// The counters so far.
    #[must_use]
    pub fn counters(&self) -> SimCounters {
        self.state.lock().counters
    }

    /// The memory of one ring (for inspection; both endpoints use it).
    #[must_use]
    pub fn ring_mem(&self, dir: Direction) -> Arc<FlatRingMem> {
        let s = self.state.lock();
        Arc::clone(match dir {
            Direction::GuestToHost => &s.g2h,
            Direction::HostToGuest => &s.h2g,
        })
    }
}

/// The guest's end of a simulated channel: what the DM driver gets.
#[derive(Clone)]
pub struct GuestEndpoint {
    state: Arc<Mutex<State>>,
}

impl core::fmt::Debug for GuestEndpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GuestEndpoint").finish_non_exhaustive()
    }
}

impl GuestEndpoint {
    /// Sends a completion packet (type 11) for `transaction_id`.
    ///
    /// # Errors
    ///
    /// As [`Channel::send`].
    pub fn send_completion(
        &mut self,
        transaction_id: u64,
        payload: &[u8],
    ) -> Result<SendOk, SendError> {
        self.state
            .lock()
            .guest_send(&OutgoingPacket::completion(transaction_id, payload))
    }

    /// Whether the host signalled the guest since the last call (and clears it): the
    /// simulated interrupt.
    pub fn take_signal(&mut self) -> bool {
        core::mem::take(&mut self.state.lock().guest_signalled)
    }

    /// Sets the guest's interrupt mask on the host-to-guest ring (the host then does not
    /// signal new data). After unmasking, poll the ring once more.
    pub fn set_interrupt_mask(&mut self, masked: bool) {
        self.state.lock().guest_in.set_interrupt_mask(masked);
    }

    /// Largest payload [`Channel::send`] accepts.
    #[must_use]
    pub fn max_payload(&self) -> usize {
        self.state.lock().guest_out.max_payload()
    }

    /// The full error behind the last [`SendError::Corrupt`] / [`RecvError::Corrupt`] this
    /// endpoint returned (with the values found); `None` if there was none, or if the last one
    /// was a dropped transfer-page / GPA-direct packet (a well-formed ring).
    #[must_use]
    pub fn last_ring_error(&self) -> Option<RingError> {
        self.state.lock().last_guest_error
    }

    /// The counters so far.
    #[must_use]
    pub fn counters(&self) -> SimCounters {
        self.state.lock().counters
    }
}

impl Channel for GuestEndpoint {
    /// Writes an in-band packet into the guest-to-host ring. Never signals by itself.
    fn send(
        &mut self,
        payload: &[u8],
        transaction_id: u64,
        completion_requested: bool,
    ) -> Result<SendOk, SendError> {
        self.state.lock().guest_send(&OutgoingPacket::in_band(
            transaction_id,
            completion_requested,
            payload,
        ))
    }

    /// Takes the next in-band (6) or completion (11) packet. Transfer-page (7) and GPA-direct
    /// (9) packets are well-formed VMBus but not used on the DM channel: they are dropped
    /// (consumed) and reported as [`RecvError::Corrupt`].
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<ReceivedPacket>, RecvError> {
        let mut s = self.state.lock();
        let Some((packet, signal_needed)) = s.guest_take(|r| r.try_read(buf))? else {
            return Ok(None);
        };
        if packet.packet_type != PacketType::IN_BAND && packet.packet_type != PacketType::COMPLETION
        {
            s.last_guest_error = None;
            return Err(RecvError::Corrupt(
                "transfer-page or GPA-direct packet on a channel that takes only in-band and completion packets (dropped)",
            ));
        }
        Ok(Some(ReceivedPacket {
            packet_type: packet.packet_type.0,
            transaction_id: packet.transaction_id,
            completion_requested: packet.flags.contains(PacketFlags::COMPLETION_REQUESTED),
            len: packet.len,
            signal_needed,
        }))
    }

    /// Drops the next packet of any type without copying it.
    fn discard(&mut self) -> Result<Option<DiscardedPacket>, RecvError> {
        let taken = self.state.lock().guest_take(IncomingRing::try_skip)?;
        Ok(taken.map(|(packet, signal_needed)| DiscardedPacket {
            len: packet.len,
            signal_needed,
        }))
    }

    /// Signals the host (recorded: [`HostEndpoint::take_signal`]).
    fn signal(&mut self) {
        let mut s = self.state.lock();
        s.counters.guest_to_host.signals += 1;
        s.host_signalled = true;
    }
}

/// The host's end of a simulated channel: a simulated DM host (or a test) drives it.
#[derive(Clone)]
pub struct HostEndpoint {
    state: Arc<Mutex<State>>,
}

impl core::fmt::Debug for HostEndpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostEndpoint").finish_non_exhaustive()
    }
}

impl HostEndpoint {
    /// Sends an in-band packet (type 6) to the guest. Published now, or after the delivery
    /// delay; signals the guest when the ring was empty before (if auto-signal is on).
    /// Returns the ring bytes used.
    ///
    /// # Errors
    ///
    /// [`WriteError`] from the host-to-guest ring (`Full` if the guest has not drained it).
    pub fn send(
        &mut self,
        payload: &[u8],
        transaction_id: u64,
        completion_requested: bool,
    ) -> Result<usize, WriteError> {
        self.send_packet(&OutgoingPacket::in_band(
            transaction_id,
            completion_requested,
            payload,
        ))
    }

    /// Sends a completion packet (type 11).
    ///
    /// # Errors
    ///
    /// As [`HostEndpoint::send`].
    pub fn send_completion(
        &mut self,
        transaction_id: u64,
        payload: &[u8],
    ) -> Result<usize, WriteError> {
        self.send_packet(&OutgoingPacket::completion(transaction_id, payload))
    }

    /// Sends a well-framed packet of any type and flags (including unknown ones, to test the
    /// guest's parser).
    ///
    /// # Errors
    ///
    /// As [`HostEndpoint::send`].
    pub fn send_packet(&mut self, packet: &OutgoingPacket<'_>) -> Result<usize, WriteError> {
        self.state.lock().host_write(packet, None)
    }

    /// Writes `bytes` (zero-padded to 8) into the host-to-guest ring with no framing at all and
    /// publishes them like a packet: a malformed descriptor, a truncated packet, garbage.
    ///
    /// # Errors
    ///
    /// As [`HostEndpoint::send`].
    pub fn send_raw_bytes(&mut self, bytes: &[u8]) -> Result<usize, WriteError> {
        let dummy = OutgoingPacket::in_band(0, false, &[]);
        self.state.lock().host_write(&dummy, Some(bytes))
    }

    /// Takes the next packet the guest sent, copying its payload into `buf`. `signal` in the
    /// result says the read crossed the guest's pending-send size; with auto-signal on (the
    /// default) the guest has already been signalled.
    ///
    /// # Errors
    ///
    /// [`ReadError`] from the guest-to-host ring.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<IncomingPacket>, ReadError> {
        let mut s = self.state.lock();
        let Some(packet) = s.host_in.read(buf)? else {
            return Ok(None);
        };
        s.counters.guest_to_host.packets_received += 1;
        if packet.signal {
            s.host_wants_to_signal();
        }
        Ok(Some(packet))
    }

    /// Like [`HostEndpoint::try_recv`] into a new buffer of exactly the payload size.
    ///
    /// # Errors
    ///
    /// [`ReadError::Corrupt`].
    pub fn recv_vec(&mut self) -> Result<Option<(IncomingPacket, Vec<u8>)>, ReadError> {
        let len = {
            let mut s = self.state.lock();
            match s.host_in.peek()? {
                Some(p) => p.len,
                None => return Ok(None),
            }
        };
        let mut buf = vec![0u8; len];
        Ok(self.try_recv(&mut buf)?.map(|p| (p, buf)))
    }

    /// Signals the guest (recorded: [`GuestEndpoint::take_signal`]).
    pub fn signal(&mut self) {
        self.state.lock().signal_guest();
    }

    /// Whether the guest signalled the host since the last call (and clears it).
    pub fn take_signal(&mut self) -> bool {
        core::mem::take(&mut self.state.lock().host_signalled)
    }

    /// Whether the host signals the guest by itself when its ring operations say so (default
    /// on). Off: only [`HostEndpoint::signal`] signals; `signals_needed` still counts.
    pub fn set_auto_signal(&mut self, on: bool) {
        self.state.lock().host_auto_signal = on;
    }

    /// Sets the host's interrupt mask on the guest-to-host ring (a polling host): the guest's
    /// writes then never ask for a signal.
    pub fn set_interrupt_mask(&mut self, masked: bool) {
        self.state.lock().host_in.set_interrupt_mask(masked);
    }

    /// Virtual time (steps advanced so far).
    #[must_use]
    pub fn now(&self) -> u64 {
        self.state.lock().now
    }

    /// Delays host packets sent from now on: each becomes visible to the guest `steps` steps
    /// after it was sent (and never before an earlier one). 0 = immediately.
    pub fn set_delivery_delay(&mut self, steps: u64) {
        self.state.lock().delivery_delay = steps;
    }

    /// Host packets written but not yet visible to the guest.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.state.lock().in_flight.len()
    }

    /// Advances virtual time by `steps`: publishes delayed host packets that are due (signalling
    /// the guest as the ring rules say) and, once a forced ring-full run is over, signals the
    /// guest as if the host had drained the ring.
    ///
    /// # Errors
    ///
    /// [`RingError`] if the host's own ring state was corrupted with
    /// [`HostEndpoint::write_control_word`].
    pub fn advance(&mut self, steps: u64) -> Result<(), RingError> {
        let mut s = self.state.lock();
        s.now = s.now.saturating_add(steps);
        s.deliver_due()?;
        if s.forced_full == 0 && core::mem::take(&mut s.forced_full_owes_signal) {
            s.host_wants_to_signal();
        }
        Ok(())
    }

    /// Makes the guest's next `sends` sends fail with [`SendError::Full`] (counted as ring-full
    /// events) without touching the ring. No pending-send size is involved: the guest gets its
    /// signal from the first [`HostEndpoint::advance`] after the run is over.
    pub fn force_guest_ring_full(&mut self, sends: u64) {
        self.state.lock().forced_full = sends;
    }

    /// Closes (rescinds) the channel: every guest operation returns `Closed` from now on.
    pub fn close(&mut self) {
        self.state.lock().closed = true;
    }

    /// Reads a control-page word of either ring.
    #[must_use]
    pub fn control_word(&self, dir: Direction, word: ControlWord) -> u32 {
        self.state
            .lock()
            .mem(dir)
            .control()
            .load(word, Ordering::SeqCst)
    }

    /// Writes any value into any control-page word of either ring (indices, interrupt mask,
    /// pending-send size, feature bits, reserved words). Words past the page are ignored.
    pub fn write_control_word(&mut self, dir: Direction, word: ControlWord, value: u32) {
        self.state
            .lock()
            .mem(dir)
            .control()
            .store(word, value, Ordering::SeqCst);
    }

    /// Overwrites a ring's control page with `bytes` (a prefix if shorter than 4096).
    pub fn fill_control_page(&mut self, dir: Direction, bytes: &[u8]) {
        self.state.lock().mem(dir).control().fill_from(bytes);
    }

    /// A copy of a ring's control page.
    #[must_use]
    pub fn control_snapshot(&self, dir: Direction) -> [u8; CONTROL_PAGE_SIZE] {
        self.state.lock().mem(dir).control().snapshot()
    }

    /// Writes `bytes` into a ring's data area at 8-aligned `offset`, wrapping once (a trailing
    /// partial word is zero-padded). Indices are not touched.
    ///
    /// # Errors
    ///
    /// [`OutOfBounds`] for a misaligned or too large request.
    pub fn write_data(
        &mut self,
        dir: Direction,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), OutOfBounds> {
        mem::write_bytes(self.state.lock().mem(dir).data(), offset, bytes)
    }

    /// A copy of a ring's data area (what the guest wrote, byte for byte).
    #[must_use]
    pub fn data_snapshot(&self, dir: Direction) -> Vec<u8> {
        self.state.lock().mem(dir).data_snapshot()
    }

    /// The counters so far.
    #[must_use]
    pub fn counters(&self) -> SimCounters {
        self.state.lock().counters
    }
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
