//! The seam between a VMBus device driver and its channel.
//!
//! The Dynamic Memory driver core only ever talks to its host through this trait: the Linux
//! module implements it on top of the kernel's `vmbus_sendpacket`/`vmbus_recvpacket`, the
//! simulated VMBus implements it on two in-memory rings laid out exactly as Hyper-V lays them out.

/// What a successful send did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendOk {
    /// The write made the ring non-empty while the peer's interrupts were unmasked: the caller
    /// must signal the peer (or has already, if the implementation signals itself; see
    /// [`Channel::signal`]).
    pub signal_needed: bool,
}

/// Why a send failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The outgoing ring has not enough free space for the packet now. Nothing was written.
    /// `needed` is the packet's total size in the ring (descriptor, padded payload, trailer);
    /// the implementation has set the pending-send size so the peer signals once that much is
    /// free. Retry after the next signal (or timer).
    #[error("outgoing ring full: {needed} bytes needed")]
    Full {
        /// Bytes the packet needs in the ring.
        needed: usize,
    },
    /// The payload can never fit in this ring, whatever the peer does.
    #[error("packet of {len} bytes can never fit in the ring (max {max})")]
    TooLarge {
        /// Payload length asked for.
        len: usize,
        /// Largest payload the ring can ever carry.
        max: usize,
    },
    /// The ring's shared state is corrupt (the peer wrote garbage into it). Nothing was written.
    #[error("outgoing ring corrupt: {0}")]
    Corrupt(&'static str),
    /// The channel is closed (rescinded or torn down).
    #[error("channel closed")]
    Closed,
}

/// One packet taken off the incoming ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedPacket {
    /// The VMBus packet type (6 = in-band data, 11 = completion).
    pub packet_type: u16,
    /// The packet's transaction id.
    pub transaction_id: u64,
    /// Whether the sender asked for a completion.
    pub completion_requested: bool,
    /// Payload bytes copied into the caller's buffer (`buf[..len]`). This is the VMBus payload
    /// length, a multiple of 8: VMBus pads payloads with zeros and does not record the
    /// unpadded length, so protocols carry their own (DM: `dm_header.size`).
    pub len: usize,
    /// Whether the read freed enough space that the reader must signal the writer
    /// (pending-send-size crossing).
    pub signal_needed: bool,
}

/// Why a receive failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The next packet's payload is larger than the caller's buffer. The packet stays in the
    /// ring (nothing was consumed) so the ring stays consistent.
    #[error("packet payload of {len} bytes does not fit the {buf} byte buffer")]
    BufferTooSmall {
        /// Payload length of the waiting packet.
        len: usize,
        /// Size of the caller's buffer.
        buf: usize,
    },
    /// The incoming ring is corrupt (the peer wrote garbage). The description says what.
    #[error("incoming ring corrupt: {0}")]
    Corrupt(&'static str),
    /// The channel is closed.
    #[error("channel closed")]
    Closed,
}

/// A VMBus channel as a device driver sees it: in-band packets out, packets in, signals.
///
/// Implementations: `vmbus::sim::GuestEndpoint` (feature `sim`, two rings in memory) and the
/// Linux module's wrapper around the kernel's VMBus calls. Signalling decisions are returned
/// (`signal_needed`), never hidden: the caller calls [`Channel::signal`] when told to.
pub trait Channel {
    /// Writes one in-band data packet (type 6) carrying `payload`.
    fn send(
        &mut self,
        payload: &[u8],
        transaction_id: u64,
        completion_requested: bool,
    ) -> Result<SendOk, SendError>;

    /// Takes the next packet off the incoming ring, copying its payload into `buf`.
    /// `Ok(None)` when the ring is empty. A DM driver passes a buffer of
    /// [`crate::DM_MAX_PAYLOAD`] bytes. Implementations return in-band (6) and completion (11)
    /// packets; other well-formed types are consumed and reported as
    /// [`RecvError::Corrupt`] (see `docs/vmbus.md` §2).
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<ReceivedPacket>, RecvError>;

    /// Drops the next packet without copying it: the way out after
    /// [`RecvError::BufferTooSmall`], so one oversized packet cannot stall the channel.
    /// Returns the dropped packet's payload length, `Ok(None)` when the ring is empty.
    fn discard(&mut self) -> Result<Option<DiscardedPacket>, RecvError>;

    /// Signals the peer (the host's interrupt for this channel).
    fn signal(&mut self);
}

/// A packet dropped by [`Channel::discard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscardedPacket {
    /// Its payload length in bytes.
    pub len: usize,
    /// Whether the read freed enough space that the reader must signal the writer.
    pub signal_needed: bool,
}
