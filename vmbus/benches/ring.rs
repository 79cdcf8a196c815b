//! Throughput of the VMBus ring: one packet written and read back per iteration, for 32-byte
//! and 4 KiB payloads, with the machine's plain `memcpy` of the same size as the yardstick.
//!
//! - `ring/write_read`: `OutgoingRing::write` + `IncomingRing::read` on a DM-sized ring
//!   (16 KiB data), the cost a driver pays per packet;
//! - `sim/send_recv`: the same through the simulated channel (`GuestEndpoint::send` +
//!   `HostEndpoint::try_recv`: lock, counters, signal bookkeeping);
//! - `memcpy/1x`: `copy_from_slice` of the payload into a `black_box`'d buffer;
//! - `memcpy/2x`: two such copies (into a ring-sized buffer and out again), since a ring
//!   packet is copied in by the writer and out by the reader.
//!
//! Run: `cargo bench -p vmbus --features sim --bench ring -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vmbus::Channel;
use vmbus::mem::FlatRingMem;
use vmbus::ring::{IncomingRing, OutgoingRing};
use vmbus::sim::SimVmbus;

const SIZES: [usize; 2] = [32, 4096];

fn ring(c: &mut Criterion) {
    for size in SIZES {
        let mut group = c.benchmark_group(format!("payload_{size}B"));
        group.throughput(Throughput::ElementsAndBytes {
            elements: 1,
            bytes: size as u64,
        });
        let payload = vec![0xa5u8; size];
        let mut buf = vec![0u8; size];

        let mem = FlatRingMem::dm_channel();
        let mut out = OutgoingRing::new(&mem).expect("fresh ring");
        let mut inc = IncomingRing::new(&mem).expect("fresh ring");
        group.bench_function("ring/write_read", |b| {
            b.iter(|| {
                out.write_in_band(7, false, black_box(&payload))
                    .expect("ring has room");
                let p = inc.read(black_box(&mut buf)).expect("valid ring");
                black_box(p)
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
                black_box(p)
            });
        });

        let mut dst = vec![0u8; size];
        group.bench_function("memcpy/1x", |b| {
            b.iter(|| {
                black_box(&mut dst).copy_from_slice(black_box(&payload));
            });
        });

        let mut mid = vec![0u8; size];
        group.bench_function("memcpy/2x", |b| {
            b.iter(|| {
                black_box(&mut mid).copy_from_slice(black_box(&payload));
                black_box(&mut dst).copy_from_slice(black_box(&mid));
            });
        });
        group.finish();
    }
}

criterion_group!(benches, ring);
criterion_main!(benches);
