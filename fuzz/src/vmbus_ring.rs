//! `vmbus_ring`: VMBus rings whose shared memory the peer controls.
//!
//! Two modes, chosen by the first input byte:
//!
//! - **hostile memory** (even): an [`IncomingRing`] and an [`OutgoingRing`] over a
//!   [`FlatRingMem`] whose size, control page and data area are arbitrary; then a sequence of
//!   reads (`try_read`, `read`, `peek`, `try_skip`, `available`, `commit_read` with arbitrary
//!   buffer sizes), writes (`try_write`, `try_write_raw`, `commit_write`, `commit_write_to`)
//!   and further peer writes into the control page and data area. Asserts: no panic; every
//!   packet returned is consistent (payload fits the buffer, multiple of 8, ring bytes within
//!   the ring, known type and flags); published indices are always in range and aligned; a
//!   write that fails changes no data byte; a write never changes the bytes between the
//!   (valid) read index the peer published and our write cursor (unread data).
//! - **writer/reader pair** (odd): our own writer and reader share one ring; packets are
//!   written, committed and read in arbitrary order, and the peer may corrupt the control
//!   page or the data area at any step. Until the first corruption, every read returns
//!   exactly the next packet written (type, flags, id, payload, zero padding): nothing is
//!   lost, duplicated or reordered. After it: typed errors only.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use arbitrary::{Result, Unstructured};
use vmbus::mem::{ControlWord, FlatRingMem, RingMem};
use vmbus::packet::{PacketFlags, PacketType};
use vmbus::ring::{
    IncomingPacket, IncomingRing, OutgoingPacket, OutgoingRing, ReadError, RingError, WriteError,
};

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mode) = u.arbitrary::<u8>() else {
        return;
    };
    let _ = if mode % 2 == 0 {
        hostile_memory(&mut u)
    } else {
        pair(&mut u)
    };
}

/// A data area size: mostly small valid rings (wrap-around is reached quickly), sometimes
/// invalid ones, sometimes the DM size.
fn ring_size(u: &mut Unstructured<'_>) -> Result<usize> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => usize::from(u.int_in_range(0u8..=40)?),
        1 => vmbus::DM_RING_DATA_SIZE,
        _ => 8 * usize::from(u.int_in_range(4u16..=160)?),
    })
}

fn control_word(u: &mut Unstructured<'_>) -> Result<ControlWord> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 | 1 => ControlWord::WRITE_INDEX,
        2 | 3 => ControlWord::READ_INDEX,
        4 => ControlWord::INTERRUPT_MASK,
        5 => ControlWord::PENDING_SEND_SIZE,
        6 => ControlWord::FEATURE_BITS,
        _ => ControlWord(usize::from(u.int_in_range(0u16..=1100)?)),
    })
}

/// An index value: mostly plausible (aligned, near the ring), sometimes anything.
fn index_value(u: &mut Unstructured<'_>, size: usize) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => u.arbitrary()?,
        1 => (size as u32).wrapping_add(u.int_in_range(0u32..=64)?) & !7,
        _ => u.int_in_range(0u32..=(size as u32 / 8).saturating_sub(1))? * 8,
    })
}

fn snapshot(mem: &FlatRingMem) -> Vec<u8> {
    mem.data_snapshot()
}

fn load(mem: &FlatRingMem, w: ControlWord) -> u32 {
    mem.control().load(w, Ordering::SeqCst)
}

/// Bytes of the circular interval `[from, to)` of a ring snapshot.
fn circular(bytes: &[u8], from: usize, to: usize) -> Vec<u8> {
    if from <= to {
        bytes[from..to].to_vec()
    } else {
        let mut v = bytes[from..].to_vec();
        v.extend_from_slice(&bytes[..to]);
        v
    }
}

fn check_packet(p: &IncomingPacket, buf_len: Option<usize>, size: usize) {
    assert!(
        p.packet_type.is_known(),
        "unknown packet type returned: {p:?}"
    );
    assert_eq!(
        p.flags.bits() & !PacketFlags::all().bits(),
        0,
        "unknown flags returned"
    );
    assert_eq!(p.len % 8, 0, "payload length not padded: {p:?}");
    if let Some(b) = buf_len {
        assert!(p.len <= b, "payload {} beyond the {b}-byte buffer", p.len);
    }
    assert!(
        p.ring_bytes >= p.len + 24,
        "ring bytes below payload + overhead: {p:?}"
    );
    assert!(
        p.ring_bytes <= size - 8,
        "packet larger than a ring can hold: {p:?}"
    );
}

fn check_index(v: u32, size: usize) {
    assert!(
        (v as usize) < size && v.is_multiple_of(8),
        "published index {v:#x} invalid for {size}"
    );
}

fn check_read(
    r: &core::result::Result<Option<IncomingPacket>, ReadError>,
    buf: Option<usize>,
    size: usize,
) {
    match r {
        Ok(Some(p)) => check_packet(p, buf, size),
        Ok(None) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn packet_type(u: &mut Unstructured<'_>) -> Result<u16> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => PacketType::IN_BAND.0,
        1 => PacketType::COMPLETION.0,
        2 => PacketType::TRANSFER_PAGES.0,
        3 => PacketType::GPA_DIRECT.0,
        _ => u.arbitrary()?,
    })
}

fn hostile_memory(u: &mut Unstructured<'_>) -> Result<()> {
    let mem = FlatRingMem::new(ring_size(u)?);
    // The data area is whole 8-byte words.
    let size = vmbus::mem::data_size(mem.data());
    // Peer-written control words and data.
    for _ in 0..u.int_in_range(0u8..=6)? {
        let w = control_word(u)?;
        let v = index_value(u, size)?;
        mem.control().store(w, v, Ordering::SeqCst);
    }
    let fill_len = u.int_in_range(0..=size)?;
    mem.fill_data(u.bytes(fill_len)?);
    let mut inc = match IncomingRing::new(&mem) {
        Ok(r) => Some(r),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            None
        }
    };
    let mut out = OutgoingRing::new(&mem).ok();
    if inc.is_none() && out.is_none() {
        return Ok(());
    }
    let mut steps = 0;
    while !u.is_empty() && steps < 200 {
        steps += 1;
        match u.int_in_range(0u8..=12)? {
            0..=2 => {
                if let Some(r) = inc.as_mut() {
                    let blen = u.int_in_range(0..=size + 8)?;
                    let mut buf = vec![0u8; blen];
                    let got = if u.arbitrary()? {
                        r.try_read(&mut buf)
                    } else {
                        r.read(&mut buf)
                    };
                    check_read(&got, Some(blen), size);
                    if let Err(ReadError::Corrupt(_)) = got {
                        // Nothing consumed: a second look (memory unchanged) fails the same way.
                        let again = r.peek();
                        assert_eq!(again.err(), got.err(), "corrupt read consumed something");
                    }
                    check_index(r.committed_index(), size);
                }
            }
            3 => {
                if let Some(r) = inc.as_mut() {
                    let p = r.peek();
                    check_read(&p, None, size);
                    let s = r.try_skip();
                    check_read(&s, None, size);
                    if let (Ok(a), Ok(b)) = (&p, &s) {
                        assert_eq!(a, b, "skip took a different packet than peek saw");
                    }
                }
            }
            4 => {
                if let Some(r) = inc.as_mut() {
                    let _ = r.commit_read();
                    check_index(r.committed_index(), size);
                    if let Ok(a) = r.available() {
                        assert!(a < size, "available {a} not below the ring size {size}");
                    }
                }
            }
            5..=7 => {
                if let Some(w) = out.as_mut() {
                    let len = u.int_in_range(0..=size + 8)?;
                    let payload = u.bytes(len)?.to_vec();
                    let packet = OutgoingPacket {
                        packet_type: PacketType(packet_type(u)?),
                        flags: u.arbitrary()?,
                        transaction_id: u.arbitrary()?,
                        payload: &payload,
                    };
                    let raw = u.ratio(1u8, 5)?;
                    write_checked(&mem, w, size, |w| {
                        if raw {
                            w.try_write_raw(&payload)
                        } else {
                            w.try_write(&packet)
                        }
                    });
                }
            }
            8 => {
                if let Some(w) = out.as_mut() {
                    if u.arbitrary()? {
                        let _ = w.commit_write();
                    } else {
                        let to = index_value(u, size)?;
                        match w.commit_write_to(to) {
                            Ok(_) => {}
                            Err(e) => assert!(matches!(e, RingError::InvalidCommit { .. }), "{e}"),
                        }
                    }
                    check_index(w.committed_index(), size);
                    let _ = w.free();
                }
            }
            9 | 10 => {
                let w = control_word(u)?;
                let v = index_value(u, size)?;
                mem.control().store(w, v, Ordering::SeqCst);
            }
            11 => {
                let len = u.int_in_range(0..=size)?;
                mem.fill_data(u.bytes(len)?);
            }
            _ => {
                if let Some(r) = inc.as_ref() {
                    r.set_interrupt_mask(u.arbitrary()?);
                    let _ = r.interrupts_masked();
                }
                if let Some(w) = out.as_mut() {
                    if u.arbitrary()? {
                        w.set_pending_send_size(u.arbitrary::<u32>()? as usize);
                    } else {
                        w.clear_pending_send_size();
                    }
                }
            }
        }
    }
    Ok(())
}

/// Runs one write and checks "an error writes nothing" and "unread bytes stay untouched".
fn write_checked<M: RingMem>(
    mem: &FlatRingMem,
    w: &mut OutgoingRing<M>,
    size: usize,
    f: impl FnOnce(&mut OutgoingRing<M>) -> core::result::Result<usize, WriteError>,
) {
    let before = snapshot(mem);
    let read = load(mem, ControlWord::READ_INDEX) as usize;
    let tail = w.uncommitted_index() as usize;
    let res = f(w);
    let after = snapshot(mem);
    match res {
        Ok(n) => {
            assert!(
                n % 8 == 0 && n <= size - 8,
                "write took {n} bytes of a {size}-byte ring"
            );
            if read < size && read.is_multiple_of(8) {
                assert_eq!(
                    circular(&before, read, tail),
                    circular(&after, read, tail),
                    "a write changed unread bytes [{read:#x}, {tail:#x})"
                );
            }
            let new_tail = w.uncommitted_index() as usize;
            assert_eq!(
                new_tail,
                (tail + n) % size,
                "cursor did not move by the bytes written (tail {tail:#x}, {n} bytes, ring {size}, read {read:#x})"
            );
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert!(before == after, "failed write ({e}) changed the data area");
            assert_eq!(
                w.uncommitted_index() as usize,
                tail,
                "failed write moved the cursor"
            );
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Sent {
    ty: u16,
    flags: u16,
    id: u64,
    payload: Vec<u8>,
}

fn pair(u: &mut Unstructured<'_>) -> Result<()> {
    let size = 8 * usize::from(u.int_in_range(4u16..=128)?);
    let mem = FlatRingMem::new(size);
    // Start anywhere: both indices at the same (valid) offset.
    let start = u.int_in_range(0..=(size / 8 - 1))? as u32 * 8;
    mem.control()
        .store(ControlWord::WRITE_INDEX, start, Ordering::SeqCst);
    mem.control()
        .store(ControlWord::READ_INDEX, start, Ordering::SeqCst);
    let mut out = OutgoingRing::new(&mem).expect("valid ring");
    let mut inc = IncomingRing::new(&mem).expect("valid ring");
    let mut written: VecDeque<Sent> = VecDeque::new();
    let mut committed = 0usize;
    let mut corrupted = false;
    let mut steps = 0;
    while !u.is_empty() && steps < 300 {
        steps += 1;
        match u.int_in_range(0u8..=9)? {
            0..=3 => {
                let len = u.int_in_range(0..=size)?;
                let payload = u.bytes(len)?.to_vec();
                let ty = if u.arbitrary()? {
                    PacketType::IN_BAND
                } else {
                    PacketType::COMPLETION
                };
                let flags = if u.arbitrary()? {
                    PacketFlags::COMPLETION_REQUESTED.bits()
                } else {
                    0
                };
                let id = u.arbitrary()?;
                let packet = OutgoingPacket {
                    packet_type: ty,
                    flags,
                    transaction_id: id,
                    payload: &payload,
                };
                let mut ok = false;
                write_checked(&mem, &mut out, size, |w| {
                    let r = w.try_write(&packet);
                    ok = r.is_ok();
                    r
                });
                if ok {
                    written.push_back(Sent {
                        ty: ty.0,
                        flags,
                        id,
                        payload,
                    });
                } else if !corrupted {
                    // The only errors an intact ring gives.
                }
            }
            4 => {
                let _ = out.commit_write();
                committed = written.len();
            }
            5..=7 => {
                let blen = u.int_in_range(0..=size)?;
                let mut buf = vec![0u8; blen];
                let got = inc.read(&mut buf);
                check_read(&got, Some(blen), size);
                if corrupted {
                    continue;
                }
                match got {
                    Ok(Some(p)) => {
                        assert!(committed > 0, "read a packet that was never committed");
                        let s = written.pop_front().expect("model has the packet");
                        committed -= 1;
                        assert_eq!(p.packet_type.0, s.ty);
                        assert_eq!(p.flags.bits(), s.flags);
                        assert_eq!(p.transaction_id, s.id);
                        assert_eq!(p.len, s.payload.len().next_multiple_of(8));
                        assert_eq!(&buf[..s.payload.len()], &s.payload[..], "payload changed");
                        assert!(
                            buf[s.payload.len()..p.len].iter().all(|&b| b == 0),
                            "padding not zero"
                        );
                    }
                    Ok(None) => {
                        assert_eq!(committed, 0, "committed packets not seen by the reader")
                    }
                    Err(ReadError::BufferTooSmall { len, .. }) => {
                        let s = written.front().expect("a packet is waiting");
                        assert_eq!(len, s.payload.len().next_multiple_of(8));
                        assert!(blen < len);
                    }
                    Err(e) => panic!("intact ring reported {e}"),
                }
            }
            8 => {
                corrupted = true;
                let w = control_word(u)?;
                let v = index_value(u, size)?;
                mem.control().store(w, v, Ordering::SeqCst);
            }
            _ => {
                // Benign peer activity: masks and pending-send size do not corrupt anything.
                match u.int_in_range(0u8..=2)? {
                    0 => inc.set_interrupt_mask(u.arbitrary()?),
                    1 => out.set_pending_send_size(u.int_in_range(0..=size)?),
                    _ => {
                        corrupted = true;
                        let off = u.int_in_range(0..=(size / 8 - 1))? * 8;
                        let len = u.int_in_range(0..=size)?;
                        let bytes = u.bytes(len)?;
                        let _ = vmbus::mem::write_bytes(mem.data(), off, bytes);
                    }
                }
            }
        }
    }
    Ok(())
}
