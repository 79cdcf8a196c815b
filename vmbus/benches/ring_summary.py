#!/usr/bin/env python3
"""Summarises a run of `vmbus/benches/ring.rs` from criterion's raw samples.

Usage: python3 vmbus/benches/ring_summary.py [$CARGO_TARGET_DIR/criterion]

For every benchmark it prints the best sample (minimum over criterion's samples of
time / iterations) and criterion's median. On a shared machine, preemption by other jobs
inflates means and medians; criterion's first samples are short, so the best sample is close
to the undisturbed cost. Then the acceptance ratios of issue 15 for both statistics:
4 KiB round trip / two-copy yardstick (same ring size), hot 4 KiB memcpy / round trip
(payload throughput relative to memcpy), and 32 B bulk / word-loop round trip.
"""
import glob
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
res = {}
for f in sorted(glob.glob(os.path.join(root, "payload_*_ring_*", "*", "new", "sample.json"))):
    parts = f.split(os.sep)
    group, bench = parts[-4], parts[-3]
    s = json.load(open(f))
    est = json.load(open(os.path.join(os.path.dirname(f), "estimates.json")))
    best = min(t / i for t, i in zip(s["times"], s["iters"]))
    res[(group, bench)] = (best, est["median"]["point_estimate"])
    print(f"{group:26} {bench:20} best {best:8.1f} ns   median {res[(group, bench)][1]:8.1f} ns")

for k, stat in [(0, "best"), (1, "median")]:
    hot = res[("payload_4096B_ring_16KiB", "memcpy_1x")][k]
    for ring in ["16KiB", "256KiB"]:
        g = f"payload_4096B_ring_{ring}"
        bulk, word, two = (res[(g, b)][k] for b in ["ring_bulk", "ring_word", "memcpy_2x_ring_buf"])
        print(f"[{stat}] 4 KiB, {ring:6} ring: bulk/2x {bulk / two:.2f}  word/2x {word / two:.2f}"
              f"  memcpy_1x/bulk {hot / bulk:.2f}  word/bulk {word / bulk:.2f}")
    for ring in ["16KiB", "256KiB"]:
        g = f"payload_32B_ring_{ring}"
        print(f"[{stat}] 32 B, {ring:6} ring: bulk/word {res[(g, 'ring_bulk')][k] / res[(g, 'ring_word')][k]:.2f}")
