//! Unit tests for the ring halves (`ring.rs`): layout golden bytes, wrap-around, boundaries,
//! signalling tables, pending-send size and each corruption case.

use super::*;
use crate::mem::{ControlWord, FlatRingMem};
use std::vec;
use std::vec::Vec;

fn ctl(mem: &FlatRingMem, word: ControlWord) -> u32 {
    mem.control().load(word, Ordering::SeqCst)
}

fn set(mem: &FlatRingMem, word: ControlWord, v: u32) {
    mem.control().store(word, v, Ordering::SeqCst);
}

/// A ring whose read and write indices both start at `start`.
fn ring_at(size: usize, start: u32) -> FlatRingMem {
    let mem = FlatRingMem::new(size);
    set(&mem, ControlWord::WRITE_INDEX, start);
    set(&mem, ControlWord::READ_INDEX, start);
    mem
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

fn data_word(mem: &FlatRingMem, offset: usize) -> u64 {
    mem::read_word(mem.data(), offset).unwrap()
}

// ---------------------------------------------------------------- layout

/// Golden bytes of two packets as they sit in the data area (rust-anchors.md §1.4: descriptor,
/// payload padded to 8, trailer with the start index in the upper half).
#[test]
fn packet_golden_bytes_in_ring() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let ok = out.write_in_band(0x1122, true, b"abc").unwrap();
    assert_eq!(ok.ring_bytes, 32);
    out.write(&OutgoingPacket::completion(7, &[])).unwrap();
    let bytes = mem.data_snapshot();
    #[rustfmt::skip]
    let expected: [u8; 56] = [
        // descriptor: type 6, offset8 2, length8 3, flags 1, transaction id 0x1122
        0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00,
        0x22, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // payload "abc", zero-padded
        0x61, 0x62, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00,
        // trailer: reserved 0, start index 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // completion: type 11, offset8 2, length8 2, flags 0, transaction id 7
        0x0b, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // trailer: start index 32 in bytes 4..8
        0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
    ];
    assert_eq!(&bytes[..56], &expected[..]);
    assert_eq!(ctl(&mem, ControlWord::WRITE_INDEX), 56);
    assert_eq!(mem.control().snapshot()[..4], [56, 0, 0, 0]);
}

// ---------------------------------------------------------------- wrap-around

/// Every 8-byte start offset of a 256-byte ring, with payload sizes that put the descriptor,
/// the payload and the trailer across the end of the data area.
#[test]
fn wrap_around_at_every_offset() {
    const SIZE: usize = 256;
    for start in (0..SIZE as u32).step_by(8) {
        for len in [0usize, 1, 7, 8, 9, 40, 100, 199, 224] {
            let mem = ring_at(SIZE, start);
            let mut out = OutgoingRing::new(&mem).unwrap();
            let mut inc = IncomingRing::new(&mem).unwrap();
            let payload = pattern(start as u8, len);
            let total = 24 + len.div_ceil(8) * 8;
            let ok = out
                .write_in_band(u64::from(start), false, &payload)
                .unwrap();
            assert_eq!(ok.ring_bytes, total);
            let end = (start as usize + total) % SIZE;
            assert_eq!(ctl(&mem, ControlWord::WRITE_INDEX) as usize, end);
            let trailer_at = (start as usize + total - 8) % SIZE;
            assert_eq!(
                data_word(&mem, trailer_at),
                u64::from(start) << 32,
                "trailer at start {start} len {len}"
            );
            let mut buf = [0xffu8; 256];
            let p = inc.read(&mut buf).unwrap().unwrap();
            assert_eq!(p.transaction_id, u64::from(start));
            assert_eq!(p.len, len.div_ceil(8) * 8);
            assert_eq!(
                &buf[..len],
                &payload[..],
                "payload at start {start} len {len}"
            );
            assert!(buf[len..p.len].iter().all(|&b| b == 0), "padding is zero");
            assert_eq!(ctl(&mem, ControlWord::READ_INDEX) as usize, end);
            assert_eq!(inc.read(&mut buf).unwrap(), None);
        }
    }
}

/// Two packets back to back from every start offset: the second always starts where the
/// first ended, wrapped.
#[test]
fn consecutive_packets_wrap_at_every_offset() {
    const SIZE: usize = 128;
    for start in (0..SIZE as u32).step_by(8) {
        let mem = ring_at(SIZE, start);
        let mut out = OutgoingRing::new(&mem).unwrap();
        let mut inc = IncomingRing::new(&mem).unwrap();
        let a = pattern(1, 20);
        let b = pattern(2, 33);
        out.write_in_band(1, false, &a).unwrap();
        out.write_in_band(2, true, &b).unwrap();
        let mut buf = [0u8; 64];
        let p = inc.read(&mut buf).unwrap().unwrap();
        assert_eq!((p.transaction_id, &buf[..20]), (1, &a[..]));
        let p = inc.read(&mut buf).unwrap().unwrap();
        assert_eq!((p.transaction_id, &buf[..33]), (2, &b[..]));
        assert!(p.flags.contains(PacketFlags::COMPLETION_REQUESTED));
        assert_eq!(inc.read(&mut buf).unwrap(), None);
    }
}

// ---------------------------------------------------------------- boundaries

#[test]
fn empty_ring_reads_none_and_has_all_but_eight_bytes_free() {
    let mem = FlatRingMem::new(128);
    let out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    assert_eq!(out.free().unwrap(), 120);
    assert_eq!(out.max_payload(), 96);
    assert_eq!(inc.available().unwrap(), 0);
    assert_eq!(inc.read(&mut [0u8; 8]).unwrap(), None);
    assert!(!inc.commit_read(), "nothing read, nothing to signal");
}

#[test]
fn ring_fills_to_size_minus_eight_and_never_completely() {
    let mem = FlatRingMem::new(128);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    // Largest payload exactly fills the usable space.
    out.write_in_band(1, false, &[0xaa; 96]).unwrap();
    assert_eq!(out.free().unwrap(), 0);
    assert_eq!(inc.available().unwrap(), 120);
    // Even an empty packet does not fit any more; the write index never catches the reader.
    assert_eq!(
        out.write_in_band(2, false, &[]),
        Err(WriteError::Full {
            needed: 24,
            free: 0
        })
    );
    assert_eq!(ctl(&mem, ControlWord::WRITE_INDEX), 120);
    let mut buf = [0u8; 96];
    inc.read(&mut buf).unwrap().unwrap();
    assert_eq!(out.free().unwrap(), 120);
}

#[test]
fn packet_that_exactly_fits_and_one_that_is_eight_bytes_too_big() {
    let mem = FlatRingMem::new(128);
    let mut out = OutgoingRing::new(&mem).unwrap();
    out.write_in_band(1, false, &[1; 40]).unwrap(); // 64 bytes
    assert_eq!(out.free().unwrap(), 56);
    assert_eq!(
        out.write_in_band(2, false, &[2; 33]),
        Err(WriteError::Full {
            needed: 64,
            free: 56
        })
    );
    assert_eq!(
        out.write_in_band(3, false, &[3; 32]).unwrap().ring_bytes,
        56
    );
    assert_eq!(out.free().unwrap(), 0);
}

#[test]
fn payload_larger_than_any_ring_space_is_too_large() {
    let mem = FlatRingMem::new(128);
    let mut out = OutgoingRing::new(&mem).unwrap();
    assert_eq!(
        out.write_in_band(1, false, &[0; 97]),
        Err(WriteError::TooLarge { len: 97, max: 96 })
    );
    assert_eq!(
        ctl(&mem, ControlWord::PENDING_SEND_SIZE),
        0,
        "no pending size for never"
    );
}

#[test]
fn dm_sized_ring_carries_a_4096_byte_payload() {
    let mem = FlatRingMem::dm_channel();
    assert_eq!(mem.mapped_size(), 20480);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    let payload = pattern(9, crate::DM_MAX_PAYLOAD);
    for i in 0..3 {
        out.write_in_band(i, false, &payload).unwrap();
    }
    assert_eq!(out.free().unwrap(), 16384 - 8 - 3 * 4120);
    let mut buf = vec![0u8; crate::DM_MAX_PAYLOAD];
    for i in 0..3 {
        let p = inc.read(&mut buf).unwrap().unwrap();
        assert_eq!(p.transaction_id, i);
        assert_eq!(buf, payload);
    }
}

#[test]
fn buffer_too_small_leaves_the_packet_in_the_ring() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    out.write_in_band(5, false, &pattern(3, 20)).unwrap();
    let mut small = [0u8; 16];
    assert_eq!(
        inc.read(&mut small),
        Err(ReadError::BufferTooSmall { len: 24, buf: 16 })
    );
    assert_eq!(ctl(&mem, ControlWord::READ_INDEX), 0);
    let mut buf = [0u8; 24];
    let p = inc.read(&mut buf).unwrap().unwrap();
    assert_eq!(p.transaction_id, 5);
    assert_eq!(&buf[..20], &pattern(3, 20)[..]);
}

#[test]
fn all_known_packet_types_are_parsed() {
    let mem = FlatRingMem::new(512);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    for t in [6u16, 7, 9, 11] {
        out.write(&OutgoingPacket {
            packet_type: PacketType(t),
            flags: 0,
            transaction_id: u64::from(t),
            payload: &[t as u8; 8],
        })
        .unwrap();
    }
    let mut buf = [0u8; 8];
    for t in [6u16, 7, 9, 11] {
        let p = inc.read(&mut buf).unwrap().unwrap();
        assert_eq!(p.packet_type, PacketType(t));
        assert_eq!(buf, [t as u8; 8]);
    }
}

#[test]
fn peek_and_skip_do_not_copy() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    out.write_in_band(1, false, &[1; 40]).unwrap();
    out.write_in_band(2, false, &[2; 8]).unwrap();
    let p = inc.peek().unwrap().unwrap();
    assert_eq!((p.transaction_id, p.len, p.ring_bytes), (1, 40, 64));
    assert_eq!(inc.try_skip().unwrap().unwrap().transaction_id, 1);
    assert!(!inc.commit_read());
    let mut buf = [0u8; 8];
    assert_eq!(inc.read(&mut buf).unwrap().unwrap().transaction_id, 2);
}

#[test]
fn batched_writes_are_invisible_until_committed() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    let first = out
        .try_write(&OutgoingPacket::in_band(1, false, &[1; 8]))
        .unwrap();
    out.try_write(&OutgoingPacket::in_band(2, false, &[2; 8]))
        .unwrap();
    assert_eq!(inc.read(&mut [0u8; 8]).unwrap(), None);
    // Publish only the first packet (the simulator's delayed delivery uses this).
    assert!(out.commit_write_to(first as u32).unwrap());
    let mut buf = [0u8; 8];
    assert_eq!(inc.read(&mut buf).unwrap().unwrap().transaction_id, 1);
    assert_eq!(inc.read(&mut buf).unwrap(), None);
    assert_eq!(
        out.commit_write_to(8),
        Err(RingError::InvalidCommit { index: 8 })
    );
    assert!(out.commit_write(), "reader had emptied the ring");
    assert_eq!(inc.read(&mut buf).unwrap().unwrap().transaction_id, 2);
    assert!(!out.commit_write(), "nothing left to commit");
}

// ---------------------------------------------------------------- signalling

/// Writer side: signal iff the ring was empty before the write and the reader's interrupt
/// mask is clear.
#[test]
fn writer_signal_table() {
    // (ring empty before, interrupt mask, expected signal)
    let cases = [
        (true, 0u32, true),
        (true, 1, false),
        (true, 0xffff_ffff, false),
        (false, 0, false),
        (false, 1, false),
    ];
    for (empty_before, mask, expected) in cases {
        let mem = FlatRingMem::new(256);
        let mut out = OutgoingRing::new(&mem).unwrap();
        if !empty_before {
            out.write_in_band(0, false, &[0; 8]).unwrap();
        }
        set(&mem, ControlWord::INTERRUPT_MASK, mask);
        let ok = out.write_in_band(1, false, &[1; 8]).unwrap();
        assert_eq!(
            ok.signal, expected,
            "empty_before={empty_before} mask={mask:#x}"
        );
    }
}

#[test]
fn writer_signals_again_once_the_reader_caught_up() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    assert!(out.write_in_band(1, false, &[]).unwrap().signal);
    assert!(!out.write_in_band(2, false, &[]).unwrap().signal);
    let mut buf = [0u8; 0];
    inc.read(&mut buf).unwrap().unwrap();
    assert!(
        !out.write_in_band(3, false, &[]).unwrap().signal,
        "one still unread"
    );
    inc.read(&mut buf).unwrap().unwrap();
    inc.read(&mut buf).unwrap().unwrap();
    assert!(out.write_in_band(4, false, &[]).unwrap().signal);
    inc.set_interrupt_mask(true);
    assert!(inc.interrupts_masked());
    inc.read(&mut buf).unwrap().unwrap();
    assert!(!out.write_in_band(5, false, &[]).unwrap().signal, "masked");
}

/// Reader side: signal iff the feature bit is set, pending (masked `& !7`) is non-zero, free
/// space was below it before the read and is at least it after.
#[test]
fn reader_signal_table() {
    // Ring of 256: three 80-byte packets leave 8 bytes free; reading one frees 80 (8 -> 88).
    // (name, pending-send size, feature bits, expected signal)
    let cases = [
        ("pending zero", 0u32, 1u32, false),
        ("crossing", 80, 1, true),
        ("crossing to exactly free", 88, 1, true),
        ("not crossing: still short", 96, 1, false),
        ("already above before", 8, 1, false),
        ("size-1 style value masked down to 80", 87, 1, true),
        ("masked 95 -> 88 crosses", 95, 1, true),
        ("masked 7 -> 0", 7, 1, false),
        ("feature bit clear", 80, 0, false),
        ("beyond any free space", 4096, 1, false),
    ];
    for (name, pending, features, expected) in cases {
        let mem = FlatRingMem::new(256);
        let mut out = OutgoingRing::new(&mem).unwrap();
        let mut inc = IncomingRing::new(&mem).unwrap();
        for i in 0..3 {
            out.write_in_band(i, false, &[0; 56]).unwrap();
        }
        assert_eq!(out.free().unwrap(), 8);
        set(&mem, ControlWord::PENDING_SEND_SIZE, pending);
        set(&mem, ControlWord::FEATURE_BITS, features);
        let p = inc.read(&mut [0u8; 56]).unwrap().unwrap();
        assert_eq!(p.signal, expected, "{name}");
    }
}

#[test]
fn pending_send_size_crossing_end_to_end() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    // Five 48-byte packets: 240 of 248 bytes used.
    for i in 0..5 {
        out.write_in_band(i, false, &[0; 24]).unwrap();
    }
    // A 100-byte payload needs 128 bytes: full, pending set to 128 (already a multiple of 8).
    assert_eq!(
        out.write_in_band(9, false, &[9; 100]),
        Err(WriteError::Full {
            needed: 128,
            free: 8
        })
    );
    assert_eq!(ctl(&mem, ControlWord::PENDING_SEND_SIZE), 128);
    let mut buf = [0u8; 24];
    // free: 8 -> 56 -> 104 -> 152: only the third read crosses 128.
    let signals: Vec<bool> = (0..4)
        .map(|_| inc.read(&mut buf).unwrap().unwrap().signal)
        .collect();
    assert_eq!(signals, [false, false, true, false]);
    let ok = out.write_in_band(9, false, &[9; 100]).unwrap();
    assert_eq!(ok.ring_bytes, 128);
    assert_eq!(
        ctl(&mem, ControlWord::PENDING_SEND_SIZE),
        0,
        "cleared after write"
    );
}

#[test]
fn set_pending_send_size_rounds_up_to_eight() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    out.set_pending_send_size(13);
    assert_eq!(ctl(&mem, ControlWord::PENDING_SEND_SIZE), 16);
    out.clear_pending_send_size();
    assert_eq!(ctl(&mem, ControlWord::PENDING_SEND_SIZE), 0);
    out.set_pending_send_size(usize::MAX);
    assert_eq!(ctl(&mem, ControlWord::PENDING_SEND_SIZE), 0xffff_fff8);
}

#[test]
fn new_ring_sets_feature_bit() {
    let mem = FlatRingMem::new(64);
    assert_eq!(
        ctl(&mem, ControlWord::FEATURE_BITS),
        FEATURE_SUPPORTS_PENDING_SEND_SIZE
    );
}

// ---------------------------------------------------------------- corruption

/// Host-made descriptors: write `desc` plus `extra` zero bytes into the ring and publish.
fn host_raw(mem: &FlatRingMem, bytes: &[u8]) {
    let mut host = OutgoingRing::new(mem).unwrap();
    host.try_write_raw(bytes).unwrap();
    host.commit_write();
}

fn raw_packet(packet_type: u16, offset8: u16, length8: u16, flags: u16, body: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for w in PacketDescriptor::from_raw(packet_type, offset8, length8, flags, 1).to_words() {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.resize(16 + body, 0);
    v
}

fn read_err(mem: &FlatRingMem) -> RingError {
    let mut inc = IncomingRing::new(mem).unwrap();
    let mut buf = [0u8; 256];
    match inc.read(&mut buf) {
        Err(ReadError::Corrupt(e)) => {
            assert_eq!(ctl(mem, ControlWord::READ_INDEX), 0, "nothing consumed");
            e
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn corrupt_write_index_beyond_data_size() {
    let mem = FlatRingMem::new(256);
    set(&mem, ControlWord::WRITE_INDEX, 256);
    let e = read_err(&mem);
    assert_eq!(
        e,
        RingError::IndexOutOfRange {
            which: IndexKind::Write,
            value: 256,
            size: 256
        }
    );
    assert_eq!(e.what(), "write index beyond the data area");
}

#[test]
fn corrupt_write_index_not_aligned() {
    let mem = FlatRingMem::new(256);
    set(&mem, ControlWord::WRITE_INDEX, 12);
    assert_eq!(
        read_err(&mem),
        RingError::IndexMisaligned {
            which: IndexKind::Write,
            value: 12
        }
    );
}

#[test]
fn corrupt_read_index_beyond_data_size_seen_by_writer() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    set(&mem, ControlWord::READ_INDEX, 0xffff_fff8);
    let e = out.write_in_band(1, false, &[1; 8]).unwrap_err();
    assert_eq!(
        e,
        WriteError::Corrupt(RingError::IndexOutOfRange {
            which: IndexKind::Read,
            value: 0xffff_fff8,
            size: 256
        })
    );
    assert_eq!(ctl(&mem, ControlWord::WRITE_INDEX), 0, "nothing written");
    assert!(out.free().is_err());
}

#[test]
fn corrupt_read_index_not_aligned_seen_by_writer() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    set(&mem, ControlWord::READ_INDEX, 4);
    assert_eq!(
        out.write_in_band(1, false, &[]),
        Err(WriteError::Corrupt(RingError::IndexMisaligned {
            which: IndexKind::Read,
            value: 4
        }))
    );
}

#[test]
fn corrupt_own_write_index_changed_by_peer() {
    let mem = FlatRingMem::new(256);
    let mut out = OutgoingRing::new(&mem).unwrap();
    out.write_in_band(1, false, &[]).unwrap();
    set(&mem, ControlWord::WRITE_INDEX, 64);
    assert_eq!(
        out.write_in_band(2, false, &[]),
        Err(WriteError::Corrupt(RingError::IndexTampered {
            which: IndexKind::Write,
            expected: 24,
            found: 64
        }))
    );
}

#[test]
fn corrupt_own_read_index_changed_by_peer() {
    let mem = FlatRingMem::new(256);
    let mut inc = IncomingRing::new(&mem).unwrap();
    set(&mem, ControlWord::READ_INDEX, 8);
    assert_eq!(
        inc.read(&mut [0u8; 8]),
        Err(ReadError::Corrupt(RingError::IndexTampered {
            which: IndexKind::Read,
            expected: 0,
            found: 8
        }))
    );
}

#[test]
fn corrupt_ring_setup_refused() {
    let mem = FlatRingMem::new(256);
    set(&mem, ControlWord::READ_INDEX, 3);
    set(&mem, ControlWord::WRITE_INDEX, 1000);
    assert!(matches!(
        IncomingRing::new(&mem),
        Err(RingError::IndexMisaligned { .. })
    ));
    assert!(matches!(
        OutgoingRing::new(&mem),
        Err(RingError::IndexOutOfRange { .. })
    ));
    assert_eq!(
        OutgoingRing::new(FlatRingMem::new(24)).unwrap_err(),
        RingError::BadRingSize { size: 24 }
    );
}

#[test]
fn corrupt_truncated_packet() {
    let mem = FlatRingMem::new(256);
    host_raw(&mem, &[0u8; 16]);
    assert_eq!(read_err(&mem), RingError::Truncated { available: 16 });
}

#[test]
fn corrupt_descriptor_offset_inside_descriptor() {
    let mem = FlatRingMem::new(256);
    host_raw(&mem, &raw_packet(6, 1, 3, 0, 16));
    assert_eq!(
        read_err(&mem),
        RingError::OffsetInsideDescriptor { offset8: 1 }
    );
}

#[test]
fn corrupt_descriptor_length_before_offset() {
    let mem = FlatRingMem::new(256);
    host_raw(&mem, &raw_packet(6, 3, 2, 0, 16));
    let e = read_err(&mem);
    assert_eq!(
        e,
        RingError::LengthBeforeOffset {
            length8: 2,
            offset8: 3
        }
    );
    assert!(std::format!("{e}").contains("length8 2"));
}

#[test]
fn corrupt_descriptor_length_beyond_available() {
    let mem = FlatRingMem::new(256);
    host_raw(&mem, &raw_packet(6, 2, 0xffff, 0, 16));
    assert_eq!(
        read_err(&mem),
        RingError::PacketBeyondAvailable {
            packet_len: 0xffff * 8 + 8,
            available: 32
        }
    );
    // One unit too long: the trailer is missing.
    let mem = FlatRingMem::new(256);
    host_raw(&mem, &raw_packet(6, 2, 4, 0, 16));
    assert_eq!(
        read_err(&mem),
        RingError::PacketBeyondAvailable {
            packet_len: 40,
            available: 32
        }
    );
}

#[test]
fn corrupt_unknown_packet_type() {
    let mem = FlatRingMem::new(256);
    host_raw(&mem, &raw_packet(8, 2, 2, 0, 8));
    assert_eq!(read_err(&mem), RingError::UnknownPacketType(8));
}

#[test]
fn corrupt_unknown_flags() {
    let mem = FlatRingMem::new(256);
    host_raw(&mem, &raw_packet(6, 2, 2, 0x8001, 8));
    assert_eq!(read_err(&mem), RingError::UnknownFlags { flags: 0x8001 });
}

#[test]
fn corrupt_garbage_control_words_do_not_matter_elsewhere() {
    // Reserved control-page words and a set interrupt mask never break reads or writes.
    let mem = FlatRingMem::new(256);
    for w in 4..1024 {
        if w != ControlWord::FEATURE_BITS.0 {
            set(&mem, ControlWord(w), 0xdead_beef);
        }
    }
    set(&mem, ControlWord::INTERRUPT_MASK, 0xdead_beef);
    let mut out = OutgoingRing::new(&mem).unwrap();
    let mut inc = IncomingRing::new(&mem).unwrap();
    assert!(!out.write_in_band(1, false, &[1; 8]).unwrap().signal);
    assert_eq!(inc.read(&mut [0u8; 8]).unwrap().unwrap().transaction_id, 1);
}

#[test]
fn every_error_has_a_distinct_description() {
    let errs = [
        RingError::BadRingSize { size: 1 },
        RingError::IndexOutOfRange {
            which: IndexKind::Read,
            value: 0,
            size: 0,
        },
        RingError::IndexOutOfRange {
            which: IndexKind::Write,
            value: 0,
            size: 0,
        },
        RingError::IndexMisaligned {
            which: IndexKind::Read,
            value: 0,
        },
        RingError::IndexMisaligned {
            which: IndexKind::Write,
            value: 0,
        },
        RingError::IndexTampered {
            which: IndexKind::Read,
            expected: 0,
            found: 0,
        },
        RingError::IndexTampered {
            which: IndexKind::Write,
            expected: 0,
            found: 0,
        },
        RingError::Truncated { available: 0 },
        RingError::OffsetInsideDescriptor { offset8: 0 },
        RingError::LengthBeforeOffset {
            length8: 0,
            offset8: 0,
        },
        RingError::PacketBeyondAvailable {
            packet_len: 0,
            available: 0,
        },
        RingError::UnknownPacketType(0),
        RingError::UnknownFlags { flags: 0 },
        RingError::InvalidCommit { index: 0 },
        RingError::Memory(OutOfBounds {
            offset: 0,
            len: 0,
            size: 0,
        }),
    ];
    let mut whats: Vec<&str> = errs.iter().map(RingError::what).collect();
    whats.sort_unstable();
    whats.dedup();
    assert_eq!(whats.len(), errs.len());
}
