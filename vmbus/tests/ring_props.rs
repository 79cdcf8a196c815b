//! Property tests for the VMBus ring.
//!
//! - `interleavings_deliver_every_packet_intact_and_in_order`: random interleavings of a writer
//!   and a reader (batched and single writes/reads, random payload sizes, random start
//!   offset) through a small ring, against a model: every packet arrives intact and in order,
//!   `free()` is exactly what the model says (never more), `Full`/`TooLarge` exactly when the
//!   model says, and both signal decisions match the rules.
//! - `random_shared_memory_never_panics`: control page and data area filled with random bytes,
//!   then random reads, writes and further corruption: every outcome is a value or a typed
//!   error, and everything returned stays inside the ring and the caller's buffer.
//! - `sim_guest_survives_random_host_memory`: the same through the simulated channel.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use proptest::prelude::*;
use vmbus::mem::{ControlWord, FlatRingMem, RingMem};
use vmbus::packet::in_band_packet_size;
use vmbus::ring::{IncomingRing, OutgoingPacket, OutgoingRing, ReadError, WriteError};

fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as u8).wrapping_mul(37).wrapping_add(i as u8))
        .collect()
}

#[derive(Clone, Debug)]
enum Op {
    /// Write and publish one packet.
    Write(usize),
    /// Write without publishing.
    TryWrite(usize),
    CommitWrite,
    /// Read and publish one packet.
    Read,
    /// Read without publishing.
    TryRead,
    CommitRead,
}

fn op(max_payload: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..=max_payload + 8).prop_map(Op::Write),
        2 => (0..=max_payload).prop_map(Op::TryWrite),
        1 => Just(Op::CommitWrite),
        3 => Just(Op::Read),
        2 => Just(Op::TryRead),
        1 => Just(Op::CommitRead),
    ]
}

fn ring_case() -> impl Strategy<Value = (usize, u32, Vec<Op>)> {
    prop_oneof![Just(64usize), Just(128), Just(200), Just(256), Just(512)].prop_flat_map(|size| {
        (
            Just(size),
            (0..size as u32 / 8).prop_map(|i| i * 8),
            prop::collection::vec(op(size - 32), 1..120),
        )
    })
}

/// The model of one ring.
#[derive(Default)]
struct Model {
    /// Packets in the ring, oldest first: (sequence number, payload length, ring bytes).
    queue: VecDeque<(u64, usize, usize)>,
    /// How many of `queue`'s packets are published (visible to the reader).
    committed_writes: usize,
    /// How many of `queue`'s front packets the reader has taken but not published.
    uncommitted_reads: usize,
    /// Pending-send size the writer set (0 = none).
    pending: usize,
    next_seq: u64,
    next_expected: u64,
}

impl Model {
    fn used(&self) -> usize {
        self.queue.iter().map(|p| p.2).sum()
    }
    fn used_published(&self) -> usize {
        self.queue
            .iter()
            .take(self.committed_writes)
            .map(|p| p.2)
            .sum()
    }
    fn unread_published(&self) -> usize {
        self.committed_writes - self.uncommitted_reads
    }
}

proptest! {
    #[test]
    fn interleavings_deliver_every_packet_intact_and_in_order((size, start, ops) in ring_case()) {
        let mem = FlatRingMem::new(size);
        mem.control().store(ControlWord::WRITE_INDEX, start, Ordering::SeqCst);
        mem.control().store(ControlWord::READ_INDEX, start, Ordering::SeqCst);
        let mut out = OutgoingRing::new(&mem).unwrap();
        let mut inc = IncomingRing::new(&mem).unwrap();
        let mut m = Model::default();
        let max = size - 32;
        let mut buf = vec![0u8; size];
        for op in ops {
            match op {
                Op::Write(len) | Op::TryWrite(len) => {
                    let seq = m.next_seq;
                    let data = payload(seq, len);
                    let pkt = OutgoingPacket::in_band(seq, false, &data);
                    let free = size - 8 - m.used();
                    let publish = matches!(op, Op::Write(_));
                    // Empty before: the reader has published reading every published packet.
                    let ring_empty_before = m.committed_writes == 0;
                    let result = if publish { out.write(&pkt).map(|ok| (ok.ring_bytes, Some(ok.signal))) }
                                 else { out.try_write(&pkt).map(|n| (n, None)) };
                    if len > max {
                        prop_assert_eq!(result, Err(WriteError::TooLarge { len, max }));
                        continue;
                    }
                    let needed = in_band_packet_size(len).unwrap();
                    if needed > free {
                        prop_assert_eq!(result, Err(WriteError::Full { needed, free }));
                        m.pending = needed;
                        continue;
                    }
                    let (n, signal) = result.unwrap();
                    prop_assert_eq!(n, needed);
                    m.pending = 0;
                    m.queue.push_back((seq, len, needed));
                    m.next_seq += 1;
                    if publish {
                        // Everything written so far is now published.
                        m.committed_writes = m.queue.len();
                        // Signal iff the reader had published everything before this commit.
                        prop_assert_eq!(signal, Some(ring_empty_before));
                    }
                }
                Op::CommitWrite => {
                    let had_uncommitted = m.committed_writes < m.queue.len();
                    let empty_before = m.committed_writes == 0;
                    let signal = out.commit_write();
                    prop_assert_eq!(signal, had_uncommitted && empty_before);
                    m.committed_writes = m.queue.len();
                }
                Op::Read | Op::TryRead => {
                    let publish = matches!(op, Op::Read);
                    let got = if publish { inc.read(&mut buf) } else { inc.try_read(&mut buf) }.unwrap();
                    if m.unread_published() == 0 {
                        prop_assert_eq!(got, None);
                        continue;
                    }
                    let p = got.unwrap();
                    let (seq, len, ring_bytes) = m.queue[m.uncommitted_reads];
                    prop_assert_eq!(seq, m.next_expected);
                    prop_assert_eq!(p.transaction_id, seq);
                    prop_assert_eq!(p.ring_bytes, ring_bytes);
                    prop_assert_eq!(&buf[..len], &payload(seq, len)[..]);
                    m.next_expected += 1;
                    m.uncommitted_reads += 1;
                    if publish {
                        let expected = commit_model(&mut m, size);
                        prop_assert_eq!(p.signal, expected);
                    }
                }
                Op::CommitRead => {
                    let expected = commit_model(&mut m, size);
                    prop_assert_eq!(inc.commit_read(), expected);
                }
            }
            // The writer never sees more free space than the model has.
            prop_assert_eq!(out.free().unwrap(), size - 8 - m.used());
        }
        // Drain: everything published arrives, in order.
        out.commit_write();
        m.committed_writes = m.queue.len();
        while let Some(p) = inc.read(&mut buf).unwrap() {
            let (seq, len, _) = m.queue[m.uncommitted_reads];
            prop_assert_eq!(p.transaction_id, seq);
            prop_assert_eq!(&buf[..len], &payload(seq, len)[..]);
            m.uncommitted_reads += 1;
        }
        prop_assert_eq!(m.uncommitted_reads, m.queue.len());
        // Earlier `TryRead`s may still be unpublished.
        inc.commit_read();
        prop_assert_eq!(out.free().unwrap(), size - 8);
    }
}

/// Applies a read commit to the model; returns the expected reader signal.
/// The reader sees only published packets, so its free space is computed from them.
fn commit_model(m: &mut Model, size: usize) -> bool {
    let released = m.uncommitted_reads;
    if released == 0 {
        return false;
    }
    let free_before = size - 8 - m.used_published();
    for _ in 0..released {
        m.queue.pop_front();
    }
    m.committed_writes -= released;
    m.uncommitted_reads = 0;
    let free_after = size - 8 - m.used_published();
    let pending = m.pending & !7;
    pending != 0 && free_before < pending && pending <= free_after
}

#[derive(Clone, Debug)]
enum Chaos {
    Read(usize),
    Skip,
    Write(usize),
    WriteRaw(Vec<u8>),
    CommitWrite,
    CommitRead,
    Control(usize, u32),
    Data(usize, u64),
}

fn chaos() -> impl Strategy<Value = Chaos> {
    prop_oneof![
        4 => (0usize..600).prop_map(Chaos::Read),
        1 => Just(Chaos::Skip),
        3 => (0usize..600).prop_map(Chaos::Write),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Chaos::WriteRaw),
        1 => Just(Chaos::CommitWrite),
        1 => Just(Chaos::CommitRead),
        2 => (0usize..20, any::<u32>()).prop_map(|(w, v)| Chaos::Control(w, v)),
        2 => (0usize..64, any::<u64>()).prop_map(|(i, v)| Chaos::Data(i, v)),
    ]
}

fn index_value() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (0u32..64).prop_map(|i| i * 8), 0u32..600]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_shared_memory_never_panics(
        words in 4usize..64,
        control in prop::collection::vec(any::<u8>(), 0..128),
        data in prop::collection::vec(any::<u8>(), 0..512),
        indices in (index_value(), index_value(), any::<u32>(), any::<u32>()),
        ops in prop::collection::vec(chaos(), 1..60),
    ) {
        let size = words * 8;
        let mem = FlatRingMem::new(size);
        mem.control().fill_from(&control);
        mem.fill_data(&data);
        let c = mem.control();
        c.store(ControlWord::WRITE_INDEX, indices.0, Ordering::SeqCst);
        c.store(ControlWord::READ_INDEX, indices.1, Ordering::SeqCst);
        c.store(ControlWord::INTERRUPT_MASK, indices.2, Ordering::SeqCst);
        c.store(ControlWord::PENDING_SEND_SIZE, indices.3, Ordering::SeqCst);
        // Construction either works or names the bad index; then start from valid ones.
        let (out, inc) = (OutgoingRing::new(&mem), IncomingRing::new(&mem));
        let (mut out, mut inc) = match (out, inc) {
            (Ok(o), Ok(i)) => (o, i),
            (o, i) => {
                for e in [o.err(), i.err()].into_iter().flatten() {
                    prop_assert!(!e.what().is_empty());
                }
                c.store(ControlWord::WRITE_INDEX, (indices.0 % size as u32) & !7, Ordering::SeqCst);
                c.store(ControlWord::READ_INDEX, (indices.1 % size as u32) & !7, Ordering::SeqCst);
                (OutgoingRing::new(&mem).unwrap(), IncomingRing::new(&mem).unwrap())
            }
        };
        for op in ops {
            match op {
                Chaos::Read(n) => {
                    let mut buf = vec![0u8; n];
                    match inc.read(&mut buf) {
                        Ok(Some(p)) => {
                            prop_assert!(p.len <= n);
                            prop_assert!(p.ring_bytes >= 24 && p.ring_bytes <= size - 8);
                            prop_assert!(p.packet_type.is_known());
                        }
                        Ok(None) => {}
                        Err(ReadError::BufferTooSmall { len, buf }) => prop_assert!(len > buf),
                        Err(ReadError::Corrupt(e)) => prop_assert!(!e.what().is_empty()),
                    }
                }
                Chaos::Skip => { let _ = inc.try_skip(); }
                Chaos::Write(n) => {
                    let data = vec![0x5a; n];
                    match out.write(&OutgoingPacket::in_band(1, true, &data)) {
                        Ok(ok) => prop_assert!(ok.ring_bytes <= size - 8),
                        Err(WriteError::Full { needed, free }) => prop_assert!(needed > free),
                        Err(WriteError::TooLarge { len, max }) => prop_assert!(len > max),
                        Err(WriteError::Corrupt(e)) => prop_assert!(!e.what().is_empty()),
                    }
                }
                Chaos::WriteRaw(bytes) => { let _ = out.try_write_raw(&bytes); }
                Chaos::CommitWrite => { let _ = out.commit_write(); }
                Chaos::CommitRead => { let _ = inc.commit_read(); }
                Chaos::Control(w, v) => c.store(ControlWord(w), v, Ordering::SeqCst),
                Chaos::Data(i, v) => {
                    if let Some(word) = mem.data().get(i) { word.store(v, Ordering::SeqCst) }
                }
            }
            // Our own indices only ever hold valid values.
            prop_assert!(out.committed_index() < size as u32 && out.committed_index() % 8 == 0);
            prop_assert!(inc.committed_index() < size as u32 && inc.committed_index() % 8 == 0);
        }
    }

    #[test]
    fn sim_guest_survives_random_host_memory(
        control in prop::collection::vec(any::<u8>(), 0..80),
        data in prop::collection::vec(any::<u8>(), 0..256),
        write_index in index_value(),
        reads in prop::collection::vec(0usize..300, 1..20),
    ) {
        use vmbus::Channel;
        use vmbus::sim::{Direction, SimConfig, SimVmbus};
        let sim = SimVmbus::new(SimConfig::with_data_size(256)).unwrap();
        let (mut guest, mut host) = (sim.guest(), sim.host());
        host.write_data(Direction::HostToGuest, 0, &data[..data.len().min(256)]).unwrap();
        host.fill_control_page(Direction::HostToGuest, &control);
        host.write_control_word(Direction::HostToGuest, ControlWord::WRITE_INDEX, write_index);
        for n in reads {
            let mut buf = vec![0u8; n];
            match guest.try_recv(&mut buf) {
                Ok(Some(p)) => prop_assert!(p.len <= n),
                Ok(None) => {}
                Err(vmbus::RecvError::BufferTooSmall { len, buf }) => prop_assert!(len > buf),
                Err(vmbus::RecvError::Corrupt(what)) => {
                    prop_assert!(!what.is_empty());
                }
                Err(vmbus::RecvError::Closed) => prop_assert!(false, "never closed"),
            }
            let _ = guest.send(&buf[..n.min(100)], 1, false);
        }
    }
}
