//! Throughput of the VMBus ring: one packet written and read back per iteration (write +
//! commit + read + commit), for 32-byte and 4 KiB payloads, through 16 KiB (the DM channel's
//! size) and 256 KiB rings, with plain `memcpy` yardsticks measured in the same run.
//!
//! Per payload size and ring size (group `payload_<n>B/ring_<k>KiB`):
//! - `ring/bulk`: `OutgoingRing::write_in_band` + `IncomingRing::read` with the data-area copies
//!   done by the bulk copy (`rep movsq` on x86-64; see `vmbus::mem::has_bulk_copy`);
//! - `ring/word`: the same with the original word-at-a-time copy loop
//!   (`vmbus::mem::set_word_copy(true)`), for comparison;
//! - `memcpy/2x_ring_buf`: the two copies a ring needs at least, into a buffer the size of the
//!   ring's data area (at the offset the ring packet would take, moving on like the ring's
//!   cursor, so the cache footprint matches) and out of it again;
//! - `memcpy/1x` (16 KiB groups only): one hot `copy_from_slice` of the payload between two
//!   fixed buffers, the throughput ceiling;
//! - `sim/send_recv` (16 KiB groups only): through the simulated channel
//!   (`GuestEndpoint::send` + `HostEndpoint::try_recv`: lock, counters, signal bookkeeping).
//!
//! Run: `cargo bench -p vmbus --features sim,word-copy-switch --bench ring -- --warm-up-time 1
//! --measurement-time 2` (pinned: `taskset -c 1 target/release/deps/ring-* --bench ...`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vmbus::Channel;
use vmbus::mem::{FlatRingMem, set_word_copy};
use vmbus::packet::in_band_packet_size;
use vmbus::ring::{IncomingRing, OutgoingRing};
use vmbus::sim::SimVmbus;

const PAYLOADS: [usize; 2] = [32, 4096];
const RINGS: [usize; 2] = [16 * 1024, 256 * 1024];

fn ring(c: &mut Criterion) {
    for size in PAYLOADS {
        for ring_size in RINGS {
            let mut group =
                c.benchmark_group(format!("payload_{size}B/ring_{}KiB", ring_size / 1024));
            group.throughput(Throughput::ElementsAndBytes {
                elements: 1,
                bytes: size as u64,
            });
            let payload = vec![0xa5u8; size];
            let mut buf = vec![0u8; size];

            for (name, word) in [("ring/bulk", false), ("ring/word", true)] {
                let mem = FlatRingMem::new(ring_size);
                let mut out = OutgoingRing::new(&mem).expect("fresh ring");
                let mut inc = IncomingRing::new(&mem).expect("fresh ring");
                set_word_copy(word);
                group.bench_function(name, |b| {
                    b.iter(|| {
                        out.write_in_band(7, false, black_box(&payload))
                            .expect("ring has room");
                        let p = inc.read(black_box(&mut buf)).expect("valid ring");
                        // By reference: the result must exist in memory, but a by-value
                        // `black_box(p)` adds a 48-byte copy no caller makes, whose 16-byte
                        // reloads of just-written fields stall store forwarding (~3 ns).
                        black_box(&p);
                    });
                });
                set_word_copy(false);
            }

            // The ring packet's footprint: descriptor, padded payload, trailer.
            let step = in_band_packet_size(size).expect("small payload");
            let mut mid = vec![0u8; ring_size];
            let mut dst = vec![0u8; size];
            let mut at = 0usize;
            group.bench_function("memcpy/2x_ring_buf", |b| {
                b.iter(|| {
                    if at + step > ring_size {
                        at = 0;
                    }
                    let slot = &mut black_box(&mut mid)[at + 16..at + 16 + size];
                    slot.copy_from_slice(black_box(&payload));
                    black_box(&mut dst).copy_from_slice(black_box(&*slot));
                    at += step;
                });
            });

            if ring_size == RINGS[0] {
                let mut hot = vec![0u8; size];
                group.bench_function("memcpy/1x", |b| {
                    b.iter(|| {
                        black_box(&mut hot).copy_from_slice(black_box(&payload));
                    });
                });

                let sim = SimVmbus::dm();
                let (mut guest, mut host) = (sim.guest(), sim.host());
                group.bench_function("sim/send_recv", |b| {
                    b.iter(|| {
                        guest
                            .send(black_box(&payload), 7, false)
                            .expect("ring has room");
                        let p = host.try_recv(black_box(&mut buf)).expect("valid ring");
                        black_box(&p);
                    });
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, ring);
criterion_main!(benches);
