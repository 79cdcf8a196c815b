//! Tests of the simulated VMBus (`sim.rs`): both directions, signals, counters and every kind
//! of injected fault, driven from one thread as the DM driver tests will.

use super::*;
use crate::packet::PacketDescriptor;
use crate::ring::IndexKind;

fn small() -> (SimVmbus, GuestEndpoint, HostEndpoint) {
    let sim = SimVmbus::new(SimConfig::with_data_size(256)).unwrap();
    let (g, h) = (sim.guest(), sim.host());
    (sim, g, h)
}

fn raw_descriptor(
    packet_type: u16,
    offset8: u16,
    length8: u16,
    flags: u16,
    body: usize,
) -> Vec<u8> {
    let mut v = Vec::new();
    for w in PacketDescriptor::from_raw(packet_type, offset8, length8, flags, 3).to_words() {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.resize(16 + body, 0);
    v
}

#[test]
fn endpoints_are_send() {
    fn is_send<T: Send>() {}
    is_send::<GuestEndpoint>();
    is_send::<HostEndpoint>();
    is_send::<SimVmbus>();
}

#[test]
fn dm_sized_channel() {
    let sim = SimVmbus::dm();
    for dir in [Direction::GuestToHost, Direction::HostToGuest] {
        assert_eq!(sim.ring_mem(dir).mapped_size(), 4096 + 16384);
        assert_eq!(sim.host().control_word(dir, ControlWord::FEATURE_BITS), 1);
    }
    assert_eq!(sim.guest().max_payload(), 16384 - 32);
    assert_eq!(SimConfig::default(), SimConfig::dm());
    assert!(SimVmbus::new(SimConfig::with_data_size(100)).is_err());
    assert!(SimVmbus::new(SimConfig::with_data_size(16)).is_err());
}

#[test]
fn round_trip_both_directions_with_counters() {
    let (sim, mut guest, mut host) = small();
    let ok = guest.send(b"hello host", 42, true).unwrap();
    assert!(ok.signal_needed, "ring was empty, host unmasked");
    guest.signal();
    assert!(host.take_signal());
    assert!(!host.take_signal(), "taken");
    let (p, payload) = host.recv_vec().unwrap().unwrap();
    assert_eq!(p.packet_type, PacketType::IN_BAND);
    assert_eq!(p.transaction_id, 42);
    assert!(p.flags.contains(PacketFlags::COMPLETION_REQUESTED));
    assert_eq!(&payload[..10], b"hello host");
    assert_eq!(payload.len(), 16, "padded length");
    assert_eq!(host.recv_vec().unwrap(), None);

    host.send_completion(42, b"done").unwrap();
    assert!(guest.take_signal());
    let mut buf = [0u8; 64];
    let r = guest.try_recv(&mut buf).unwrap().unwrap();
    assert_eq!(r.packet_type, 11);
    assert_eq!(r.transaction_id, 42);
    assert!(!r.completion_requested);
    assert_eq!(&buf[..4], b"done");
    assert_eq!(guest.try_recv(&mut buf).unwrap(), None);

    let c = sim.counters();
    assert_eq!(
        c.guest_to_host,
        DirectionCounters {
            packets_sent: 1,
            packets_received: 1,
            payload_bytes: 10,
            ring_bytes: 40,
            signals_needed: 1,
            signals: 1,
            ring_full: 0,
        }
    );
    assert_eq!(c.host_to_guest.packets_sent, 1);
    assert_eq!(c.host_to_guest.packets_received, 1);
    assert_eq!(c.host_to_guest.ring_bytes, 32);
    assert_eq!(c.host_to_guest.signals, 1);
    assert_eq!(guest.counters(), host.counters());
}

#[test]
fn host_sees_exact_bytes_the_guest_wrote() {
    let (_sim, mut guest, host) = small();
    guest.send(&[0xab; 3], 0x0102, false).unwrap();
    let bytes = host.data_snapshot(Direction::GuestToHost);
    assert_eq!(
        &bytes[..32],
        &[
            6, 0, 2, 0, 3, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0xab, 0xab, 0xab, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0
        ]
    );
    assert_eq!(
        host.control_snapshot(Direction::GuestToHost)[..4],
        [32, 0, 0, 0]
    );
    assert_eq!(
        host.control_word(Direction::GuestToHost, ControlWord::WRITE_INDEX),
        32
    );
}

#[test]
fn guest_completion_reaches_host() {
    let (_sim, mut guest, mut host) = small();
    guest.send_completion(9, &[1, 2]).unwrap();
    let (p, _) = host.recv_vec().unwrap().unwrap();
    assert_eq!(
        (p.packet_type, p.transaction_id),
        (PacketType::COMPLETION, 9)
    );
}

#[test]
fn guest_signal_needed_only_when_ring_was_empty_and_host_unmasked() {
    let (_sim, mut guest, mut host) = small();
    assert!(guest.send(&[], 1, false).unwrap().signal_needed);
    assert!(!guest.send(&[], 2, false).unwrap().signal_needed);
    host.try_recv(&mut []).unwrap().unwrap();
    host.try_recv(&mut []).unwrap().unwrap();
    host.set_interrupt_mask(true);
    assert!(
        !guest.send(&[], 3, false).unwrap().signal_needed,
        "host polls"
    );
    host.set_interrupt_mask(false);
    host.try_recv(&mut []).unwrap().unwrap();
    assert!(guest.send(&[], 4, false).unwrap().signal_needed);
}

#[test]
fn host_signals_only_when_the_guest_ring_was_empty_and_guest_unmasked() {
    let (sim, mut guest, mut host) = small();
    host.send(&[1], 1, false).unwrap();
    host.send(&[2], 2, false).unwrap();
    assert!(guest.take_signal());
    let mut buf = [0u8; 8];
    guest.try_recv(&mut buf).unwrap().unwrap();
    guest.try_recv(&mut buf).unwrap().unwrap();
    guest.set_interrupt_mask(true);
    host.send(&[3], 3, false).unwrap();
    assert!(!guest.take_signal(), "guest masked");
    guest.set_interrupt_mask(false);
    guest.try_recv(&mut buf).unwrap().unwrap();
    host.set_auto_signal(false);
    host.send(&[4], 4, false).unwrap();
    assert!(!guest.take_signal(), "auto-signal off");
    assert_eq!(sim.counters().host_to_guest.signals_needed, 2);
    host.signal();
    assert!(guest.take_signal());
}

#[test]
fn guest_ring_full_then_host_drain_signals_pending_send_size_crossing() {
    let (sim, mut guest, mut host) = small();
    // 5 × 48 bytes = 240 of 248 usable.
    for i in 0..5 {
        guest.send(&[0; 24], i, false).unwrap();
    }
    assert_eq!(
        guest.send(&[0; 100], 9, false),
        Err(SendError::Full { needed: 128 })
    );
    assert_eq!(
        host.control_word(Direction::GuestToHost, ControlWord::PENDING_SEND_SIZE),
        128
    );
    assert_eq!(sim.counters().guest_to_host.ring_full, 1);
    let mut buf = [0u8; 24];
    for expect_signal in [false, false, true] {
        let p = host.try_recv(&mut buf).unwrap().unwrap();
        assert_eq!(p.signal, expect_signal);
        assert_eq!(guest.take_signal(), expect_signal, "auto-signalled");
    }
    assert!(guest.send(&[0; 100], 9, false).is_ok());
    assert_eq!(
        host.control_word(Direction::GuestToHost, ControlWord::PENDING_SEND_SIZE),
        0
    );
}

#[test]
fn guest_draining_host_ring_reports_signal_needed_on_crossing() {
    let (sim, mut guest, mut host) = small();
    for i in 0..5 {
        host.send(&[0; 24], i, false).unwrap();
    }
    assert!(matches!(
        host.send(&[0; 100], 9, false),
        Err(WriteError::Full { needed: 128, .. })
    ));
    assert_eq!(sim.counters().host_to_guest.ring_full, 1);
    let mut buf = [0u8; 24];
    let needed: Vec<bool> = (0..3)
        .map(|_| guest.try_recv(&mut buf).unwrap().unwrap().signal_needed)
        .collect();
    assert_eq!(needed, [false, false, true]);
    assert_eq!(sim.counters().guest_to_host.signals_needed, 1);
}

#[test]
fn send_too_large_for_ring() {
    let (_sim, mut guest, _host) = small();
    assert_eq!(
        guest.send(&[0; 225], 1, false),
        Err(SendError::TooLarge { len: 225, max: 224 })
    );
}

#[test]
fn forced_ring_full_for_next_sends() {
    let (sim, mut guest, mut host) = small();
    host.force_guest_ring_full(2);
    for _ in 0..2 {
        assert_eq!(
            guest.send(&[0; 8], 1, false),
            Err(SendError::Full { needed: 32 })
        );
    }
    assert_eq!(
        host.control_word(Direction::GuestToHost, ControlWord::WRITE_INDEX),
        0,
        "nothing written"
    );
    assert!(!guest.take_signal());
    host.advance(1).unwrap();
    assert!(
        guest.take_signal(),
        "host 'drained' the ring after the forced run"
    );
    assert!(guest.send(&[0; 8], 1, false).is_ok());
    assert_eq!(sim.counters().guest_to_host.ring_full, 2);
    host.advance(1).unwrap();
    assert!(!guest.take_signal(), "owed once only");
}

#[test]
fn delayed_delivery_is_deterministic_and_in_order() {
    let (_sim, mut guest, mut host) = small();
    host.set_delivery_delay(3);
    host.send(b"a", 1, false).unwrap();
    host.set_delivery_delay(1);
    host.send(b"b", 2, false).unwrap();
    assert_eq!(host.in_flight(), 2);
    let mut buf = [0u8; 8];
    assert_eq!(guest.try_recv(&mut buf).unwrap(), None);
    host.advance(2).unwrap();
    assert_eq!(
        guest.try_recv(&mut buf).unwrap(),
        None,
        "b may not overtake a"
    );
    assert!(!guest.take_signal());
    host.advance(1).unwrap();
    assert_eq!(host.now(), 3);
    assert_eq!(host.in_flight(), 0);
    assert!(guest.take_signal(), "published into an empty ring");
    assert_eq!(guest.try_recv(&mut buf).unwrap().unwrap().transaction_id, 1);
    assert_eq!(guest.try_recv(&mut buf).unwrap().unwrap().transaction_id, 2);
    // Delayed packets still occupy ring space.
    host.set_delivery_delay(10);
    for i in 0..5 {
        host.send(&[0; 24], i, false).unwrap();
    }
    assert!(matches!(
        host.send(&[0; 24], 5, false),
        Err(WriteError::Full { .. })
    ));
    host.set_delivery_delay(0);
    host.advance(10).unwrap();
    assert_eq!(
        guest.try_recv(&mut buf).unwrap_err(),
        RecvError::BufferTooSmall { len: 24, buf: 8 }
    );
}

#[test]
fn closed_channel() {
    let (_sim, mut guest, mut host) = small();
    host.send(&[1], 1, false).unwrap();
    host.close();
    assert_eq!(guest.send(&[], 1, false), Err(SendError::Closed));
    assert_eq!(guest.try_recv(&mut [0u8; 8]), Err(RecvError::Closed));
}

#[test]
fn buffer_too_small_keeps_packet_for_a_bigger_buffer() {
    let (_sim, mut guest, mut host) = small();
    host.send(&[7; 40], 1, false).unwrap();
    assert_eq!(
        guest.try_recv(&mut [0u8; 32]),
        Err(RecvError::BufferTooSmall { len: 40, buf: 32 })
    );
    let mut buf = [0u8; 40];
    assert_eq!(guest.try_recv(&mut buf).unwrap().unwrap().len, 40);
    assert_eq!(buf, [7; 40]);
}

#[test]
fn discard_drops_an_oversized_packet_and_the_next_one_arrives() {
    let (_sim, mut guest, mut host) = small();
    host.send(&[7; 40], 1, false).unwrap();
    host.send(&[8; 8], 2, false).unwrap();
    assert_eq!(
        guest.try_recv(&mut [0u8; 32]),
        Err(RecvError::BufferTooSmall { len: 40, buf: 32 })
    );
    let dropped = guest.discard().unwrap().unwrap();
    assert_eq!(dropped.len, 40);
    let mut buf = [0u8; 32];
    let p = guest.try_recv(&mut buf).unwrap().unwrap();
    assert_eq!((p.transaction_id, p.len), (2, 8));
    assert_eq!(&buf[..8], &[8; 8]);
    assert_eq!(guest.discard(), Ok(None), "empty ring");
    assert_eq!(guest.counters().host_to_guest.packets_received, 2);
}

// ------------------------------------------------------------- injected corruption

#[test]
fn host_corrupts_its_write_index_beyond_ring() {
    let (_sim, mut guest, mut host) = small();
    host.write_control_word(Direction::HostToGuest, ControlWord::WRITE_INDEX, 0x1000);
    assert_eq!(
        guest.try_recv(&mut [0u8; 8]),
        Err(RecvError::Corrupt("write index beyond the data area"))
    );
    assert_eq!(
        guest.last_ring_error(),
        Some(RingError::IndexOutOfRange {
            which: IndexKind::Write,
            value: 0x1000,
            size: 256
        })
    );
    // The host's own ring state notices too.
    assert!(matches!(
        host.send(&[], 1, false),
        Err(WriteError::Corrupt(RingError::IndexTampered { .. }))
    ));
}

#[test]
fn host_corrupts_its_write_index_misaligned() {
    let (_sim, mut guest, mut host) = small();
    host.write_control_word(Direction::HostToGuest, ControlWord::WRITE_INDEX, 4);
    assert_eq!(
        guest.try_recv(&mut [0u8; 8]),
        Err(RecvError::Corrupt("write index not 8-byte aligned"))
    );
}

#[test]
fn host_corrupts_guest_read_index() {
    let (_sim, mut guest, mut host) = small();
    host.write_control_word(Direction::HostToGuest, ControlWord::READ_INDEX, 16);
    assert_eq!(
        guest.try_recv(&mut [0u8; 8]),
        Err(RecvError::Corrupt("own read index changed by the peer"))
    );
}

#[test]
fn host_corrupts_its_read_index_seen_by_guest_sender() {
    let (_sim, mut guest, mut host) = small();
    host.write_control_word(Direction::GuestToHost, ControlWord::READ_INDEX, 0xffff_ffff);
    assert_eq!(
        guest.send(&[1], 1, false),
        Err(SendError::Corrupt("read index beyond the data area"))
    );
    host.write_control_word(Direction::GuestToHost, ControlWord::READ_INDEX, 0);
    assert!(
        guest.send(&[1], 1, false).is_ok(),
        "recovers once the host repairs it"
    );
}

#[test]
fn host_sets_guest_interrupt_mask() {
    let (_sim, mut guest, mut host) = small();
    host.write_control_word(Direction::HostToGuest, ControlWord::INTERRUPT_MASK, 1);
    host.send(&[1], 1, false).unwrap();
    assert!(!guest.take_signal(), "the mask says: do not signal");
    assert!(
        guest.try_recv(&mut [0u8; 8]).unwrap().is_some(),
        "data still readable"
    );
}

#[test]
fn host_garbage_control_page() {
    let (_sim, mut guest, mut host) = small();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 37 + 11) as u8).collect();
    host.fill_control_page(Direction::HostToGuest, &garbage);
    assert!(matches!(
        guest.try_recv(&mut [0u8; 64]),
        Err(RecvError::Corrupt(_))
    ));
}

#[test]
fn host_bad_descriptor_offset() {
    let (_sim, mut guest, mut host) = small();
    host.send_raw_bytes(&raw_descriptor(6, 0, 2, 0, 8)).unwrap();
    assert_eq!(
        guest.try_recv(&mut [0u8; 64]),
        Err(RecvError::Corrupt(
            "descriptor data offset inside the descriptor (offset8 < 2)"
        ))
    );
}

#[test]
fn host_bad_descriptor_length_before_offset() {
    let (_sim, mut guest, mut host) = small();
    host.send_raw_bytes(&raw_descriptor(6, 4, 3, 0, 8)).unwrap();
    assert_eq!(
        guest.try_recv(&mut [0u8; 64]),
        Err(RecvError::Corrupt(
            "descriptor length8 smaller than offset8"
        ))
    );
}

#[test]
fn host_bad_descriptor_length_beyond_available() {
    let (_sim, mut guest, mut host) = small();
    host.send_raw_bytes(&raw_descriptor(6, 2, 30, 0, 8))
        .unwrap();
    assert_eq!(
        guest.try_recv(&mut [0u8; 256]),
        Err(RecvError::Corrupt("packet longer than the bytes available"))
    );
}

#[test]
fn host_truncated_packet() {
    let (_sim, mut guest, mut host) = small();
    host.send_raw_bytes(&[6, 0, 2, 0]).unwrap();
    assert_eq!(
        guest.try_recv(&mut [0u8; 64]),
        Err(RecvError::Corrupt(
            "fewer bytes available than a minimal packet"
        ))
    );
}

#[test]
fn host_unknown_type_and_flags() {
    let (_sim, mut guest, mut host) = small();
    host.send_packet(&OutgoingPacket {
        packet_type: PacketType(0x99),
        flags: 0,
        transaction_id: 1,
        payload: &[],
    })
    .unwrap();
    assert_eq!(
        guest.try_recv(&mut [0u8; 8]),
        Err(RecvError::Corrupt("unknown packet type"))
    );
    assert_eq!(
        guest.last_ring_error(),
        Some(RingError::UnknownPacketType(0x99))
    );

    let (_sim, mut guest, mut host) = small();
    host.send_packet(&OutgoingPacket {
        packet_type: PacketType::IN_BAND,
        flags: 0x0100,
        transaction_id: 1,
        payload: &[],
    })
    .unwrap();
    assert_eq!(
        guest.try_recv(&mut [0u8; 8]),
        Err(RecvError::Corrupt("unknown packet flags"))
    );
}

#[test]
fn transfer_page_packet_is_dropped_and_reported() {
    let (_sim, mut guest, mut host) = small();
    host.send_packet(&OutgoingPacket {
        packet_type: PacketType::TRANSFER_PAGES,
        flags: 0,
        transaction_id: 1,
        payload: &[0; 16],
    })
    .unwrap();
    host.send(b"next", 2, false).unwrap();
    let mut buf = [0u8; 64];
    assert!(matches!(
        guest.try_recv(&mut buf),
        Err(RecvError::Corrupt(_))
    ));
    assert_eq!(guest.last_ring_error(), None, "the ring itself is fine");
    assert_eq!(guest.try_recv(&mut buf).unwrap().unwrap().transaction_id, 2);
}

#[test]
fn host_garbage_in_data_area_under_a_packet() {
    let (_sim, mut guest, mut host) = small();
    host.send(&[1; 16], 1, false).unwrap();
    // Overwrite the descriptor's first word: type 0xffff, offset8 0xffff, length8 1.
    host.write_data(
        Direction::HostToGuest,
        0,
        &[0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0],
    )
    .unwrap();
    assert_eq!(
        guest.try_recv(&mut [0u8; 64]),
        Err(RecvError::Corrupt(
            "descriptor length8 smaller than offset8"
        ))
    );
    assert!(host.write_data(Direction::HostToGuest, 3, &[0]).is_err());
    assert!(
        host.write_data(Direction::HostToGuest, 0, &[0; 300])
            .is_err()
    );
}

#[test]
fn host_corrupts_guest_write_index_guest_detects_tampering() {
    let (_sim, mut guest, mut host) = small();
    guest.send(&[1], 1, false).unwrap();
    host.write_control_word(Direction::GuestToHost, ControlWord::WRITE_INDEX, 200);
    assert_eq!(
        guest.send(&[2], 2, false),
        Err(SendError::Corrupt("own write index changed by the peer"))
    );
    assert_eq!(
        guest.last_ring_error(),
        Some(RingError::IndexTampered {
            which: IndexKind::Write,
            expected: 32,
            found: 200
        })
    );
}

#[test]
fn pair_and_debug() {
    let (guest, host) = SimVmbus::pair(SimConfig::with_data_size(64)).unwrap();
    assert_eq!(guest.max_payload(), 32);
    assert!(std::format!("{guest:?} {host:?}").contains("GuestEndpoint"));
    let sim = SimVmbus::dm();
    assert!(std::format!("{sim:?}").contains("data_size: 16384"));
}
