//! The two halves of a VMBus ring: [`OutgoingRing`] (we write, the peer reads) and
//! [`IncomingRing`] (the peer writes, we read).
//!
//! This restates the model of OpenVMM's `vmbus_ring` (`rust-anchors.md` §1.4) for a `no_std`
//! guest:
//! - indices are byte offsets into the data area; every index loaded from shared memory is
//!   checked (`< data size`, multiple of 8) before use, every time;
//! - each side keeps a private copy of the index it owns and reports
//!   [`RingError::IndexTampered`] if the shared copy changes under it;
//! - the ring is never filled completely: 8 bytes always stay free, because a full ring would
//!   look like an empty one;
//! - writes and reads are two-phase: `try_write`/`try_read` move a private cursor, and
//!   `commit_write`/`commit_read` publish it and return whether the peer must be signalled
//!   (the caller signals; nothing is hidden);
//! - no allocation, no panics, no out-of-bounds access whatever the peer writes into the
//!   control page or the data area.
#![forbid(unsafe_code)]

use core::fmt;
use core::sync::atomic::Ordering;

use crate::mem::{
    self, ControlWord, FEATURE_SUPPORTS_PENDING_SEND_SIZE, OutOfBounds, RingMem, data_size,
};
use crate::packet::{
    DESCRIPTOR_SIZE, PACKET_OVERHEAD, PacketDescriptor, PacketFlags, PacketTrailer, PacketType,
    TRAILER_SIZE, round_up_8,
};

/// Smallest data area a ring accepts: one empty packet (24 bytes) plus the 8 reserved bytes.
pub const MIN_DATA_SIZE: usize = 32;
/// Largest data area a ring accepts (indices are `u32`; this keeps all sums below 2^32).
pub const MAX_DATA_SIZE: usize = 1 << 31;
/// Largest packet (descriptor + padded payload, without trailer) that `length8: u16` can
/// describe.
pub const MAX_PACKET_LEN: usize = u16::MAX as usize * 8;

/// Which ring index an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexKind {
    /// The write index (control word 0, owned by the writer).
    Write,
    /// The read index (control word 1, owned by the reader).
    Read,
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Write => "write",
            Self::Read => "read",
        })
    }
}

/// What was wrong with a ring. Every variant is reachable from corrupt shared memory (or,
/// for [`RingError::BadRingSize`] and [`RingError::InvalidCommit`], from a caller error) and
/// is reported instead of reading or writing out of bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The data area is not a multiple of 8 between [`MIN_DATA_SIZE`] and [`MAX_DATA_SIZE`].
    #[error("ring data area of {size} bytes is not a multiple of 8 between 32 and 2^31")]
    BadRingSize {
        /// The data area size.
        size: usize,
    },
    /// An index loaded from the control page is not below the data size.
    #[error("{which} index {value:#x} is beyond the {size}-byte data area")]
    IndexOutOfRange {
        /// Which index.
        which: IndexKind,
        /// The value found.
        value: u32,
        /// The data area size.
        size: u32,
    },
    /// An index loaded from the control page is not a multiple of 8.
    #[error("{which} index {value:#x} is not 8-byte aligned")]
    IndexMisaligned {
        /// Which index.
        which: IndexKind,
        /// The value found.
        value: u32,
    },
    /// The shared copy of the index this side owns changed under it (the peer wrote it).
    #[error("our {which} index was changed by the peer: expected {expected:#x}, found {found:#x}")]
    IndexTampered {
        /// Which index.
        which: IndexKind,
        /// Our private value.
        expected: u32,
        /// The value in shared memory.
        found: u32,
    },
    /// Fewer bytes are available than the smallest packet (descriptor plus trailer).
    #[error("only {available} bytes available, fewer than a 24-byte minimal packet")]
    Truncated {
        /// Bytes between the read and the write index.
        available: u32,
    },
    /// The descriptor's data offset points inside the 16-byte descriptor (`offset8 < 2`).
    #[error("descriptor data offset8 {offset8} points inside the 16-byte descriptor")]
    OffsetInsideDescriptor {
        /// The descriptor's `data_offset8`.
        offset8: u16,
    },
    /// The descriptor's length is smaller than its data offset (`length8 < offset8`).
    #[error("descriptor length8 {length8} is smaller than its data offset8 {offset8}")]
    LengthBeforeOffset {
        /// The descriptor's `length8`.
        length8: u16,
        /// The descriptor's `data_offset8`.
        offset8: u16,
    },
    /// The packet (with trailer) is longer than the bytes available in the ring.
    #[error("packet of {packet_len} bytes (with trailer) exceeds the {available} bytes available")]
    PacketBeyondAvailable {
        /// `length8 * 8 + 8`.
        packet_len: usize,
        /// Bytes between the read and the write index.
        available: u32,
    },
    /// The descriptor's type is not one of 6, 7, 9, 11.
    #[error("unknown packet type {0}")]
    UnknownPacketType(u16),
    /// The descriptor has flag bits other than completion-requested.
    #[error("unknown packet flags {flags:#06x}")]
    UnknownFlags {
        /// The descriptor's flags.
        flags: u16,
    },
    /// `commit_write_to` was given an index outside the written-but-uncommitted range.
    #[error("commit target {index:#x} is outside the written but uncommitted range")]
    InvalidCommit {
        /// The index asked for.
        index: u32,
    },
    /// A copy went outside the data area (ring-logic bug; host values are checked first).
    #[error(transparent)]
    Memory(#[from] OutOfBounds),
}

impl RingError {
    /// A fixed one-line description of the error kind, for interfaces that carry a
    /// `&'static str` (such as [`crate::RecvError::Corrupt`]).
    #[must_use]
    pub const fn what(&self) -> &'static str {
        match self {
            Self::BadRingSize { .. } => "ring data area size invalid",
            Self::IndexOutOfRange {
                which: IndexKind::Write,
                ..
            } => "write index beyond the data area",
            Self::IndexOutOfRange {
                which: IndexKind::Read,
                ..
            } => "read index beyond the data area",
            Self::IndexMisaligned {
                which: IndexKind::Write,
                ..
            } => "write index not 8-byte aligned",
            Self::IndexMisaligned {
                which: IndexKind::Read,
                ..
            } => "read index not 8-byte aligned",
            Self::IndexTampered {
                which: IndexKind::Write,
                ..
            } => "own write index changed by the peer",
            Self::IndexTampered {
                which: IndexKind::Read,
                ..
            } => "own read index changed by the peer",
            Self::Truncated { .. } => "fewer bytes available than a minimal packet",
            Self::OffsetInsideDescriptor { .. } => {
                "descriptor data offset inside the descriptor (offset8 < 2)"
            }
            Self::LengthBeforeOffset { .. } => "descriptor length8 smaller than offset8",
            Self::PacketBeyondAvailable { .. } => "packet longer than the bytes available",
            Self::UnknownPacketType(_) => "unknown packet type",
            Self::UnknownFlags { .. } => "unknown packet flags",
            Self::InvalidCommit { .. } => "commit target outside the uncommitted range",
            Self::Memory(_) => "ring memory access out of bounds",
        }
    }
}

/// Why a write failed. Nothing was written in any case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// Not enough free space now. The pending-send size has been set to `needed` (rounded to
    /// 8), so a reader that supports it signals once enough is free.
    #[error("ring full: {needed} bytes needed, {free} free")]
    Full {
        /// Bytes the packet needs (descriptor, padded payload, trailer).
        needed: usize,
        /// Bytes free when the write was tried.
        free: usize,
    },
    /// The payload can never fit in this ring.
    #[error("payload of {len} bytes can never fit (max {max})")]
    TooLarge {
        /// Payload length asked for.
        len: usize,
        /// Largest payload this ring can carry.
        max: usize,
    },
    /// The shared state is corrupt.
    #[error("ring corrupt: {0}")]
    Corrupt(#[from] RingError),
}

/// Why a read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The next packet's payload does not fit the buffer; it stays in the ring.
    #[error("packet payload of {len} bytes does not fit the {buf}-byte buffer")]
    BufferTooSmall {
        /// Payload bytes of the waiting packet (padded to 8).
        len: usize,
        /// Buffer size.
        buf: usize,
    },
    /// The shared state or the packet is corrupt.
    #[error("ring corrupt: {0}")]
    Corrupt(#[from] RingError),
}

/// A packet to write with [`OutgoingRing::try_write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutgoingPacket<'a> {
    /// Packet type (any value; simulators may send unknown ones on purpose).
    pub packet_type: PacketType,
    /// Raw flag bits (any value).
    pub flags: u16,
    /// Transaction id.
    pub transaction_id: u64,
    /// Payload, padded with zeros to 8 bytes in the ring.
    pub payload: &'a [u8],
}

impl<'a> OutgoingPacket<'a> {
    /// An in-band data packet (type 6).
    #[must_use]
    pub fn in_band(transaction_id: u64, completion_requested: bool, payload: &'a [u8]) -> Self {
        Self {
            packet_type: PacketType::IN_BAND,
            flags: if completion_requested {
                PacketFlags::COMPLETION_REQUESTED.bits()
            } else {
                0
            },
            transaction_id,
            payload,
        }
    }

    /// A completion packet (type 11) for `transaction_id`.
    #[must_use]
    pub fn completion(transaction_id: u64, payload: &'a [u8]) -> Self {
        Self {
            packet_type: PacketType::COMPLETION,
            flags: 0,
            transaction_id,
            payload,
        }
    }
}

/// A successful write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOk {
    /// Bytes the packet took in the ring.
    pub ring_bytes: usize,
    /// The peer must be signalled (ring was empty before and the peer's interrupts are not
    /// masked).
    pub signal: bool,
}

/// A packet taken off an incoming ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncomingPacket {
    /// Packet type (always one of the four known types).
    pub packet_type: PacketType,
    /// Flags (only known bits).
    pub flags: PacketFlags,
    /// Transaction id.
    pub transaction_id: u64,
    /// Payload bytes copied into the caller's buffer: `(length8 - offset8) * 8`. VMBus does not
    /// record the unpadded length; protocols carry their own.
    pub len: usize,
    /// Bytes the packet occupied in the ring (descriptor, payload, trailer).
    pub ring_bytes: usize,
    /// The writer must be signalled (free space crossed its pending-send size). Always `false`
    /// from [`IncomingRing::try_read`]; set by [`IncomingRing::read`].
    pub signal: bool,
}

/// Adds two ring offsets, wrapping once. Both are `< 2 * size <= 2^32`, so the sum cannot
/// overflow `u64`.
fn add_offset(a: u32, b: usize, size: u32) -> u32 {
    let sum = u64::from(a) + b as u64;
    let size64 = u64::from(size);
    let wrapped = if sum >= size64 { sum - size64 } else { sum };
    // `wrapped < size <= 2^31` whenever `a < size` and `b <= size`, which every caller
    // guarantees; the fallback is unreachable but never panics.
    u32::try_from(wrapped).unwrap_or(0)
}

/// Bytes from `from` forward to `to` (0 if equal).
fn distance(from: u32, to: u32, size: u32) -> u32 {
    if to >= from {
        to - from
    } else {
        size - from + to
    }
}

/// Bytes the writer at `write` could write before reaching the reader at `read`, including the
/// 8 reserved bytes (`size` when the ring is empty).
fn writable(read: u32, write: u32, size: u32) -> u32 {
    size - distance(read, write, size)
}

fn check_size(data: &[core::sync::atomic::AtomicU64]) -> Result<u32, RingError> {
    let size = data_size(data);
    if !(MIN_DATA_SIZE..=MAX_DATA_SIZE).contains(&size) {
        return Err(RingError::BadRingSize { size });
    }
    u32::try_from(size).map_err(|_| RingError::BadRingSize { size })
}

/// Loads an index from the control page and validates it.
fn load_index<M: RingMem>(
    mem: &M,
    which: IndexKind,
    size: u32,
    order: Ordering,
) -> Result<u32, RingError> {
    let word = match which {
        IndexKind::Write => ControlWord::WRITE_INDEX,
        IndexKind::Read => ControlWord::READ_INDEX,
    };
    let value = mem.control().load(word, order);
    validate_index(which, value, size)
}

/// Checks that an index is inside the data area and 8-aligned.
pub fn validate_index(which: IndexKind, value: u32, size: u32) -> Result<u32, RingError> {
    if value >= size {
        Err(RingError::IndexOutOfRange { which, value, size })
    } else if value % 8 != 0 {
        Err(RingError::IndexMisaligned { which, value })
    } else {
        Ok(value)
    }
}

/// The writing half of a ring.
#[derive(Debug)]
pub struct OutgoingRing<M> {
    mem: M,
    size: u32,
    /// Write index last published to the control page.
    committed: u32,
    /// Write index including written but unpublished packets.
    tail: u32,
    /// We set the pending-send size and have not cleared it yet.
    pending_set: bool,
}

impl<M: RingMem> OutgoingRing<M> {
    /// Takes over the writing side of `mem`, starting at its current (validated) write index.
    ///
    /// # Errors
    ///
    /// [`RingError::BadRingSize`] or an invalid write index.
    pub fn new(mem: M) -> Result<Self, RingError> {
        let size = check_size(mem.data())?;
        let w = load_index(&mem, IndexKind::Write, size, Ordering::Acquire)?;
        Ok(Self {
            mem,
            size,
            committed: w,
            tail: w,
            pending_set: false,
        })
    }

    /// The ring memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// Data area size in bytes.
    #[must_use]
    pub fn data_size(&self) -> usize {
        self.size as usize
    }

    /// Largest payload this ring can ever carry (`data size - 32`, at most what `length8`
    /// can describe).
    #[must_use]
    pub fn max_payload(&self) -> usize {
        (self.data_size() - 8 - PACKET_OVERHEAD).min(MAX_PACKET_LEN - DESCRIPTOR_SIZE)
    }

    /// The published write index.
    #[must_use]
    pub fn committed_index(&self) -> u32 {
        self.committed
    }

    /// The write index after the written but not yet committed packets.
    #[must_use]
    pub fn uncommitted_index(&self) -> u32 {
        self.tail
    }

    fn check_own(&self) -> Result<(), RingError> {
        let found = self
            .mem
            .control()
            .load(ControlWord::WRITE_INDEX, Ordering::Relaxed);
        if found == self.committed {
            Ok(())
        } else {
            Err(RingError::IndexTampered {
                which: IndexKind::Write,
                expected: self.committed,
                found,
            })
        }
    }

    fn free_with(&self, order: Ordering) -> Result<usize, RingError> {
        let r = load_index(&self.mem, IndexKind::Read, self.size, order)?;
        Ok((writable(r, self.tail, self.size) - 8) as usize)
    }

    /// Bytes a packet may take right now (the peer's validated read index to our cursor,
    /// minus the 8 bytes that always stay free).
    ///
    /// # Errors
    ///
    /// An invalid or tampered index.
    pub fn free(&self) -> Result<usize, RingError> {
        self.check_own()?;
        self.free_with(Ordering::Acquire)
    }

    /// Sets the pending-send size (rounded up to 8) so a reader signals once that many bytes
    /// are free.
    pub fn set_pending_send_size(&mut self, bytes: usize) {
        let v = round_up_8(bytes)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0xffff_fff8);
        self.mem
            .control()
            .store(ControlWord::PENDING_SEND_SIZE, v, Ordering::SeqCst);
        self.pending_set = v != 0;
    }

    /// Clears the pending-send size.
    pub fn clear_pending_send_size(&mut self) {
        self.mem
            .control()
            .store(ControlWord::PENDING_SEND_SIZE, 0, Ordering::SeqCst);
        self.pending_set = false;
    }

    /// Reserves `needed` bytes: checks space, sets the pending-send size and re-checks if
    /// short. Returns the free space seen.
    fn reserve(&mut self, needed: usize) -> Result<usize, WriteError> {
        self.check_own()?;
        let free = self.free_with(Ordering::Acquire)?;
        if needed <= free {
            return Ok(free);
        }
        // Ask the reader to signal us, then look again: it may have freed space between our
        // load and our store, and would then never see the pending size cross.
        self.set_pending_send_size(needed);
        let free = self.free_with(Ordering::SeqCst)?;
        if needed <= free {
            Ok(free)
        } else {
            Err(WriteError::Full { needed, free })
        }
    }

    /// Writes one packet after the uncommitted cursor without publishing it. Returns the
    /// bytes it took. Call [`OutgoingRing::commit_write`] to publish.
    ///
    /// # Errors
    ///
    /// [`WriteError::TooLarge`], [`WriteError::Full`] (pending-send size now set) or
    /// [`WriteError::Corrupt`]. Nothing is written on error.
    pub fn try_write(&mut self, packet: &OutgoingPacket<'_>) -> Result<usize, WriteError> {
        let len = packet.payload.len();
        let max = self.max_payload();
        let needed = match round_up_8(len) {
            Some(padded) if len <= max => padded + PACKET_OVERHEAD,
            _ => return Err(WriteError::TooLarge { len, max }),
        };
        self.reserve(needed)?;
        let length8 = u16::try_from((needed - TRAILER_SIZE) / 8)
            .map_err(|_| WriteError::TooLarge { len, max })?;
        let desc = PacketDescriptor::from_raw(
            packet.packet_type.0,
            (DESCRIPTOR_SIZE / 8) as u16,
            length8,
            packet.flags,
            packet.transaction_id,
        );
        let data = self.mem.data();
        let start = self.tail;
        let [d0, d1] = desc.to_words();
        let trailer = PacketTrailer::word_for(start);
        if let Some([w0, w1, body @ .., last]) = mem::contiguous(data, start as usize, needed) {
            // The packet does not wrap (the common case): one bounds check for all of it.
            w0.store(d0, Ordering::Relaxed);
            w1.store(d1, Ordering::Relaxed);
            mem::bytes_to_words(packet.payload, body);
            last.store(trailer, Ordering::Relaxed);
        } else {
            mem::write_word(data, start as usize, d0).map_err(RingError::from)?;
            mem::write_word(data, add_offset(start, 8, self.size) as usize, d1)
                .map_err(RingError::from)?;
            let payload_at = add_offset(start, DESCRIPTOR_SIZE, self.size);
            mem::write_bytes(data, payload_at as usize, packet.payload).map_err(RingError::from)?;
            let trailer_at = add_offset(start, needed - TRAILER_SIZE, self.size);
            mem::write_word(data, trailer_at as usize, trailer).map_err(RingError::from)?;
        }
        self.tail = add_offset(start, needed, self.size);
        if self.pending_set {
            self.clear_pending_send_size();
        }
        Ok(needed)
    }

    /// Writes arbitrary bytes (zero-padded to 8) after the uncommitted cursor, with no
    /// framing: simulators use this to put malformed packets in front of a reader.
    ///
    /// # Errors
    ///
    /// As [`OutgoingRing::try_write`] (`TooLarge` if the padded bytes exceed the free space
    /// of an empty ring).
    pub fn try_write_raw(&mut self, bytes: &[u8]) -> Result<usize, WriteError> {
        let max = self.data_size() - 8;
        let needed = match round_up_8(bytes.len()) {
            Some(p) if p <= max => p,
            _ => {
                return Err(WriteError::TooLarge {
                    len: bytes.len(),
                    max,
                });
            }
        };
        self.reserve(needed)?;
        mem::write_bytes(self.mem.data(), self.tail as usize, bytes).map_err(RingError::from)?;
        self.tail = add_offset(self.tail, needed, self.size);
        if self.pending_set {
            self.clear_pending_send_size();
        }
        Ok(needed)
    }

    /// Publishes everything written so far. Returns whether the reader must be signalled: the
    /// ring was empty before (the reader's index equals our previous write index) and the
    /// reader has not set its interrupt mask. Returns `false` if nothing was pending.
    pub fn commit_write(&mut self) -> bool {
        if self.tail == self.committed {
            return false;
        }
        self.publish(self.tail)
    }

    /// Publishes the uncommitted packets up to `index`, which must be the end of one of them
    /// (used by the simulator to delay delivery). Returns the signal decision as
    /// [`OutgoingRing::commit_write`].
    ///
    /// # Errors
    ///
    /// [`RingError::InvalidCommit`] if `index` is not between the committed and the
    /// uncommitted index.
    pub fn commit_write_to(&mut self, index: u32) -> Result<bool, RingError> {
        let pending = distance(self.committed, self.tail, self.size);
        if index >= self.size
            || index % 8 != 0
            || distance(self.committed, index, self.size) > pending
        {
            return Err(RingError::InvalidCommit { index });
        }
        if index == self.committed {
            return Ok(false);
        }
        Ok(self.publish(index))
    }

    fn publish(&mut self, index: u32) -> bool {
        let old = self.committed;
        let control = self.mem.control();
        control.store(ControlWord::WRITE_INDEX, index, Ordering::SeqCst);
        self.committed = index;
        // The reader's index and mask are only compared here, never used to address memory.
        let masked = control.load(ControlWord::INTERRUPT_MASK, Ordering::SeqCst) != 0;
        let read = control.load(ControlWord::READ_INDEX, Ordering::SeqCst);
        !masked && read == old
    }

    /// Writes and publishes one packet.
    ///
    /// # Errors
    ///
    /// As [`OutgoingRing::try_write`].
    pub fn write(&mut self, packet: &OutgoingPacket<'_>) -> Result<WriteOk, WriteError> {
        let ring_bytes = self.try_write(packet)?;
        let signal = self.commit_write();
        Ok(WriteOk { ring_bytes, signal })
    }

    /// Writes and publishes one in-band data packet.
    ///
    /// # Errors
    ///
    /// As [`OutgoingRing::try_write`].
    pub fn write_in_band(
        &mut self,
        transaction_id: u64,
        completion_requested: bool,
        payload: &[u8],
    ) -> Result<WriteOk, WriteError> {
        self.write(&OutgoingPacket::in_band(
            transaction_id,
            completion_requested,
            payload,
        ))
    }
}

/// The reading half of a ring.
#[derive(Debug)]
pub struct IncomingRing<M> {
    mem: M,
    size: u32,
    /// Read index last published to the control page.
    committed: u32,
    /// Read index after packets read but not yet committed.
    head: u32,
    /// Last validated write index (fallback for the signal decision).
    last_write: u32,
}

/// A validated descriptor at the head of the ring.
struct Parsed {
    desc: PacketDescriptor,
    payload_at: u32,
    payload_len: usize,
    packet_len: usize,
}

impl<M: RingMem> IncomingRing<M> {
    /// Takes over the reading side of `mem`, starting at its current (validated) read index.
    ///
    /// # Errors
    ///
    /// [`RingError::BadRingSize`] or an invalid read index.
    pub fn new(mem: M) -> Result<Self, RingError> {
        let size = check_size(mem.data())?;
        let r = load_index(&mem, IndexKind::Read, size, Ordering::Acquire)?;
        Ok(Self {
            mem,
            size,
            committed: r,
            head: r,
            last_write: r,
        })
    }

    /// The ring memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// Data area size in bytes.
    #[must_use]
    pub fn data_size(&self) -> usize {
        self.size as usize
    }

    /// The published read index.
    #[must_use]
    pub fn committed_index(&self) -> u32 {
        self.committed
    }

    /// Sets or clears our interrupt mask (control word 2). After unmasking, check the ring
    /// again: a packet may have arrived while the mask was set, with no signal.
    pub fn set_interrupt_mask(&self, masked: bool) {
        self.mem.control().store(
            ControlWord::INTERRUPT_MASK,
            u32::from(masked),
            Ordering::SeqCst,
        );
    }

    /// Whether the interrupt mask is set.
    #[must_use]
    pub fn interrupts_masked(&self) -> bool {
        self.mem
            .control()
            .load(ControlWord::INTERRUPT_MASK, Ordering::SeqCst)
            != 0
    }

    fn check_own(&self) -> Result<(), RingError> {
        let found = self
            .mem
            .control()
            .load(ControlWord::READ_INDEX, Ordering::Relaxed);
        if found == self.committed {
            Ok(())
        } else {
            Err(RingError::IndexTampered {
                which: IndexKind::Read,
                expected: self.committed,
                found,
            })
        }
    }

    /// Bytes between our read cursor and the writer's (validated) write index.
    ///
    /// # Errors
    ///
    /// An invalid or tampered index.
    pub fn available(&mut self) -> Result<usize, RingError> {
        self.check_own()?;
        let w = load_index(&self.mem, IndexKind::Write, self.size, Ordering::Acquire)?;
        self.last_write = w;
        Ok(distance(self.head, w, self.size) as usize)
    }

    fn parse(&mut self) -> Result<Option<Parsed>, RingError> {
        let available = self.available()?;
        if available == 0 {
            return Ok(None);
        }
        let avail32 = u32::try_from(available).unwrap_or(u32::MAX);
        if available < PACKET_OVERHEAD {
            return Err(RingError::Truncated { available: avail32 });
        }
        let data = self.mem.data();
        let (w0, w1) = if let Some([w0, w1]) = mem::contiguous(data, self.head as usize, 16) {
            (w0.load(Ordering::Relaxed), w1.load(Ordering::Relaxed))
        } else {
            let w0 = mem::read_word(data, self.head as usize)?;
            (
                w0,
                mem::read_word(data, add_offset(self.head, 8, self.size) as usize)?,
            )
        };
        let desc = PacketDescriptor::from_words([w0, w1]);
        let offset8 = desc.data_offset8.get();
        let length8 = desc.length8.get();
        if usize::from(offset8) * 8 < DESCRIPTOR_SIZE {
            return Err(RingError::OffsetInsideDescriptor { offset8 });
        }
        if length8 < offset8 {
            return Err(RingError::LengthBeforeOffset { length8, offset8 });
        }
        let packet_len = usize::from(length8) * 8 + TRAILER_SIZE;
        if packet_len > available {
            return Err(RingError::PacketBeyondAvailable {
                packet_len,
                available: avail32,
            });
        }
        let packet_type = desc.packet_type.get();
        if !PacketType(packet_type).is_known() {
            return Err(RingError::UnknownPacketType(packet_type));
        }
        let flags = desc.flags.get();
        if PacketFlags::from_bits(flags).is_none() {
            return Err(RingError::UnknownFlags { flags });
        }
        Ok(Some(Parsed {
            desc,
            payload_at: add_offset(self.head, usize::from(offset8) * 8, self.size),
            payload_len: usize::from(length8 - offset8) * 8,
            packet_len,
        }))
    }

    fn packet_of(parsed: &Parsed) -> IncomingPacket {
        IncomingPacket {
            packet_type: parsed.desc.packet_type(),
            flags: PacketFlags::from_bits_retain(parsed.desc.flags.get()),
            transaction_id: parsed.desc.transaction_id.get(),
            len: parsed.payload_len,
            ring_bytes: parsed.packet_len,
            signal: false,
        }
    }

    /// Validates the next packet without consuming it or copying its payload
    /// (`len` is the payload size a buffer needs). `Ok(None)` when the ring is empty.
    ///
    /// # Errors
    ///
    /// [`ReadError::Corrupt`] naming what is wrong.
    pub fn peek(&mut self) -> Result<Option<IncomingPacket>, ReadError> {
        Ok(self.parse()?.as_ref().map(Self::packet_of))
    }

    /// Takes the next packet, copying its payload into `buf`, without publishing the new read
    /// index. `Ok(None)` when the ring is empty. Call [`IncomingRing::commit_read`] to publish.
    ///
    /// # Errors
    ///
    /// [`ReadError::BufferTooSmall`] (the packet stays in the ring) or [`ReadError::Corrupt`]
    /// (nothing consumed).
    pub fn try_read(&mut self, buf: &mut [u8]) -> Result<Option<IncomingPacket>, ReadError> {
        let Some(parsed) = self.parse()? else {
            return Ok(None);
        };
        let Some(dst) = buf.get_mut(..parsed.payload_len) else {
            return Err(ReadError::BufferTooSmall {
                len: parsed.payload_len,
                buf: buf.len(),
            });
        };
        let data = self.mem.data();
        if let Some(words) = mem::contiguous(data, parsed.payload_at as usize, dst.len()) {
            mem::words_to_bytes(words, dst);
        } else {
            mem::read_bytes(data, parsed.payload_at as usize, dst).map_err(RingError::from)?;
        }
        self.head = add_offset(self.head, parsed.packet_len, self.size);
        Ok(Some(Self::packet_of(&parsed)))
    }

    /// Consumes the next packet without copying it (to drop a packet the caller does not
    /// handle). Not published until [`IncomingRing::commit_read`].
    ///
    /// # Errors
    ///
    /// [`ReadError::Corrupt`].
    pub fn try_skip(&mut self) -> Result<Option<IncomingPacket>, ReadError> {
        let Some(parsed) = self.parse()? else {
            return Ok(None);
        };
        self.head = add_offset(self.head, parsed.packet_len, self.size);
        Ok(Some(Self::packet_of(&parsed)))
    }

    /// Publishes the read index after everything read so far. Returns whether the writer
    /// must be signalled: the ring supports pending-send-size (feature bit), the writer's
    /// pending-send size (masked with `!7`) is non-zero, free space was below it before this
    /// commit and is at least it now. Returns `false` if nothing was read.
    pub fn commit_read(&mut self) -> bool {
        if self.head == self.committed {
            return false;
        }
        let old = self.committed;
        let control = self.mem.control();
        control.store(ControlWord::READ_INDEX, self.head, Ordering::SeqCst);
        self.committed = self.head;
        let features = control.load(ControlWord::FEATURE_BITS, Ordering::SeqCst);
        if features & FEATURE_SUPPORTS_PENDING_SEND_SIZE == 0 {
            return false;
        }
        // Some peers set "ring size - 1"; only whole 8-byte units count.
        let pending = control.load(ControlWord::PENDING_SEND_SIZE, Ordering::SeqCst) & !7;
        if pending == 0 {
            return false;
        }
        let w = load_index(&self.mem, IndexKind::Write, self.size, Ordering::SeqCst)
            .unwrap_or(self.last_write);
        let free_before = writable(old, w, self.size) - 8;
        let free_after = writable(self.head, w, self.size) - 8;
        free_before < pending && free_after >= pending
    }

    /// Takes the next packet and publishes the read index; `signal` in the result says
    /// whether to signal the writer.
    ///
    /// # Errors
    ///
    /// As [`IncomingRing::try_read`].
    pub fn read(&mut self, buf: &mut [u8]) -> Result<Option<IncomingPacket>, ReadError> {
        let packet = self.try_read(buf)?;
        Ok(packet.map(|mut p| {
            p.signal = self.commit_read();
            p
        }))
    }
}

#[cfg(all(test, feature = "alloc"))]
#[path = "ring_tests.rs"]
mod tests;
