#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""The host side of the reclaim proof (scripts/reclaim-qemu).

rq.py run    boots one guest (QEMU TCG, virtio-balloon free page reporting), timestamps the
             guest's "RQ ..." console lines, samples QEMU's VmRSS every 100 ms, unpacks the
             guest's results (a tar archive on the second disk) and writes summary.json.
rq.py report reads the run directories, writes one SVG per scenario (host RSS over time, one
             line per policy), a markdown table, and with --check tests the targets.
Standard library only.
"""
import argparse
import json
import os
import subprocess
import sys
import tarfile
import threading
import time

MiB = 1 << 20
GiB = 1 << 30

# What each scenario keeps hot and what it leaves cold (bytes); must match the guest's init
# and the data image built by scripts/reclaim-qemu (a/: 16 x 64 MiB, h/: 4 x 32 MiB).
def scenario_sizes(name, files):
    """(hot, cold) bytes for `files` of the 64 MiB files in a/."""
    a = files * 64 * MiB
    nhot = files * 10 // 16
    return {
        "dev-box": (128 * MiB, a),
        "hot-cache": (nhot * 64 * MiB, a - nhot * 64 * MiB + 128 * MiB),
        "build-idle": (0, a + files // 2 * 32 * MiB),
    }[name]


SCENARIOS = ("dev-box", "hot-cache", "build-idle")


def vmrss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run(a):
    os.makedirs(a.out, exist_ok=True)
    res_img = os.path.join(a.out, "results.img")
    with open(res_img, "wb") as f:
        f.truncate(64 * MiB)
    cmdline = (
        "console=ttyS0 panic=-1 loglevel=4 no_timer_check "
        f"rq.scenario={a.scenario} rq.policy={a.policy} rq.scale={a.scale} rq.dur={a.dur} "
        f"rq.files={a.files}"
    )
    qemu = [
        "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", a.mem,
        "-nographic", "-no-reboot", "-kernel", a.kernel, "-initrd", a.initrd, "-append", cmdline,
        "-drive", f"file={a.data},format=raw,if=virtio,snapshot=on",
        "-drive", f"file={res_img},format=raw,if=virtio",
        "-device", "virtio-balloon-pci,free-page-reporting=on",
    ]
    t0 = time.monotonic()
    p = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    events = []
    console = open(os.path.join(a.out, "console.txt"), "wb")

    def reader():
        for raw in p.stdout:
            console.write(raw)
            line = raw.decode("utf-8", "replace").strip("\r\n")
            i = line.find("RQ ")
            if i >= 0:
                events.append((time.monotonic() - t0, line[i + 3:]))
                print(f"[{time.monotonic() - t0:7.1f}s] {line[i + 3:]}", flush=True)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    rss = []
    deadline = t0 + a.timeout
    while p.poll() is None:
        r = vmrss(p.pid)
        if r is not None:
            rss.append((round(time.monotonic() - t0, 2), r))
        if time.monotonic() > deadline:
            p.kill()
            break
        time.sleep(0.1)
    p.wait()
    th.join(5)
    console.close()
    with open(os.path.join(a.out, "rss.csv"), "w") as f:
        f.write("t_s,vmrss_bytes\n")
        for t, r in rss:
            f.write(f"{t},{r}\n")
    ev = {}
    for t, e in events:
        k, _, rest = e.partition(" ")
        ev.setdefault(k, (t, rest))
    timed_out = time.monotonic() > deadline
    try:
        with tarfile.open(res_img) as tf:
            try:
                tf.extractall(a.out, filter="data")
            except TypeError:  # Python < 3.11.4: no filters (our own guest's archive)
                tf.extractall(a.out)
    except (tarfile.TarError, OSError) as e:
        print(f"rq: no results from the guest ({e})", file=sys.stderr)
    os.remove(res_img)
    s = summarize(a.scenario, a.policy, a.scale, a.dur, a.files, rss, ev, a.out)
    s["timed_out"] = timed_out
    s["qemu_rc"] = p.returncode
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(s, f, indent=1)
    print(json.dumps(s, indent=1))
    if timed_out or "done" not in ev or "error" in ev:
        print(f"rq: FAIL: the guest did not finish cleanly ({a.out}/console.txt)", file=sys.stderr)
        return 1
    return 0


def at(rss, t):
    """RSS at host time t (the last sample at or before t)."""
    v = rss[0][1]
    for ts, r in rss:
        if ts > t:
            break
        v = r
    return v


def summarize(scenario, policy, scale, dur, files, rss, ev, out):
    hot, cold = scenario_sizes(scenario, files)
    sc = {"hot": hot, "cold": cold}
    s = {"scenario": scenario, "policy": policy, "scale": scale, "dur_s": dur,
         "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if "fill-start" not in ev or "fill-end" not in ev or not rss:
        s["error"] = "missing fill markers"
        return s
    t_fs, t_fe = ev["fill-start"][0], ev["fill-end"][0]
    t_end = ev.get("run-end", (rss[-1][0], ""))[0]
    base = at(rss, t_fs)  # QEMU + booted guest + agent, no file cache yet
    fill = at(rss, t_fe)
    ws = base + sc["hot"]
    held = 0.0
    prev = None
    for t, r in rss:
        if t < t_fe or t > t_end:
            continue
        if prev is not None:
            held += max(0, prev[1] - ws) * (t - prev[0])
        prev = (t, r)
    end_rss = at(rss, t_end)
    # The cold cache "returned" at t: what the host no longer holds of it. The host would hold
    # base + hot + cold with nobody reclaiming (wsl2026 on a busy machine); a policy that
    # reclaims while the cache is read never lets it reach the host at all, which counts as
    # returned too. Returned(t) = base + hot + cold - RSS(t).
    returned = [(t - t_fe, ws + sc["cold"] - r) for t, r in rss if t_fe <= t <= t_end]
    t90 = next((t for t, b in returned if b >= 0.9 * sc["cold"]), None)
    final = ws + sc["cold"] - end_rss
    t90own = next((t for t, b in returned if final > 0 and b >= 0.9 * final), None)
    s.update({
        "boot_s": round(t_fs, 1), "fill_s": round(t_fe - t_fs, 1), "run_s": round(t_end - t_fe, 1),
        "rss_base": base, "rss_fill": fill, "rss_end": end_rss, "rss_peak": max(r for _, r in rss),
        "hot": sc["hot"], "cold": sc["cold"],
        "returned_end": final,
        "returned_of_cold": round(final / sc["cold"], 3),
        "t90_cold_s": None if t90 is None else round(t90, 1),
        "t90_own_s": None if t90own is None else round(t90own, 1),
        "gib_min_above_ws": round(held / GiB / 60, 3),
    })
    try:
        r0 = int(ev["fill-end"][1].split()[0])
        r1 = int(ev["run-end"][1].split()[0])
        s["refault_bytes"] = (r1 - r0) * 4096
        # Per hour of the run's own clock: a scaled run (--time-scale, workload periods scaled
        # with it) stands for `scale` times as long.
        if sc["hot"]:
            hours = max(t_end - t_fe, 1) * scale / 3600
            s["refault_hot_per_hour"] = round((r1 - r0) * 4096 / sc["hot"] / hours, 4)
        if "reread-1" in ev:
            # Steady state: from the end of the first re-read of the hot set to the end.
            rr, t_rr = int(ev["reread-1"][1].split()[0]), ev["reread-1"][0]
            s["refault_bytes_first_reread"] = (rr - r0) * 4096
            s["refault_bytes_after_first_reread"] = (r1 - rr) * 4096
            if sc["hot"]:
                hours = max(t_end - t_rr, 1) * scale / 3600
                s["refault_hot_per_hour_steady"] = round((r1 - rr) * 4096 / sc["hot"] / hours, 4)
    except (KeyError, ValueError, IndexError):
        s["refault_bytes"] = None
    # Guest sampler: "uptime avg10 total refault file free active inactive" every second.
    psi_peak, psi_peak_run = 0.0, 0.0
    try:
        with open(os.path.join(out, "guest.txt")) as f:
            rows = [line.split() for line in f if len(line.split()) >= 3]
        up_fe = None
        for row in rows:
            psi_peak = max(psi_peak, float(row[1]))
        # The guest's uptime at fill end: the first row after the refault count at fill end
        # is not known exactly; use the guest's own clock offset from the boot marker.
        off = None
        if "agent" in ev and rows:
            off = float(rows[0][0]) - ev["agent"][0]  # guest uptime - host time, roughly
        if off is not None:
            up_fe = t_fe + off
            psi_peak_run = max((float(r[1]) for r in rows if float(r[0]) >= up_fe), default=0.0)
    except (OSError, ValueError, IndexError):
        pass
    s["psi_some_avg10_peak"] = psi_peak
    s["psi_some_avg10_peak_after_fill"] = psi_peak_run
    if "agent-cpu-ticks" in ev:
        f = ev["agent-cpu-ticks"][1].split()
        s["agent_cpu_s"] = int(f[0]) / 100
        if len(f) >= 5 and f[1] == "utime":
            # stime includes the kernel's reclaim and compaction, done in the writer's context.
            s["agent_user_s"], s["agent_sys_s"] = int(f[2]) / 100, int(f[4]) / 100
    # Guest CPU busy share during the run, from the agent's samples.
    try:
        with open(os.path.join(out, "metrics.jsonl")) as f:
            smp = [json.loads(line)["sample"] for line in f if '"kind":"sample"' in line]
        run_s = [x for x in smp if x["now_ns"] / 1e9 >= (t_fe - ev["agent"][0]) + 30]
        if len(run_s) >= 2:
            a, b = run_s[0], run_s[-1]
            s["guest_busy_pct"] = round(100 * (b["cpu_busy_ns"] - a["cpu_busy_ns"])
                                        / ((b["now_ns"] - a["now_ns"]) * b["cpus"]), 2)
        s["agent_samples"] = len(smp)
        acts = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))
                if '"kind":"action"' in line]
        s["agent_actions"] = len(acts)
        s["agent_freed"] = sum(x["outcome"]["freed"] for x in acts)
    except (OSError, ValueError, KeyError):
        pass
    return s


def svg(scenario, runs, path):
    W, H, L, R, T, B = 720, 360, 60, 20, 30, 45
    xs = [t for r in runs for t, _ in r["rss"]]
    ys = [v for r in runs for _, v in r["rss"]]
    xmax = max(xs) or 1
    ymax = max(ys) / GiB * 1.1 or 1
    X = lambda t: L + (W - L - R) * t / xmax  # noqa: E731
    Y = lambda g: H - B - (H - T - B) * g / ymax  # noqa: E731
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="18" font-size="14">{scenario}: QEMU VmRSS (host), '
         f'time from fill end (min)</text>']
    step = max(1, round(xmax / 60 / 8))
    m = 0
    while m * 60 <= xmax:
        x = X(m * 60)
        o.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - B}" stroke="#ddd"/>'
                 f'<text x="{x:.1f}" y="{H - B + 16}" text-anchor="middle">{m}</text>')
        m += step
    g = 0.0
    gs = 0.25 if ymax <= 2 else 0.5
    while g <= ymax:
        y = Y(g)
        o.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>'
                 f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{g:.2f}</text>')
        g += gs
    o.append(f'<text x="14" y="{(H - B + T) / 2}" transform="rotate(-90 14 {(H - B + T) / 2})" '
             f'text-anchor="middle">GiB</text>')
    colors = {"wsl2026": "#d62728", "ours": "#1f77b4", "wsl2024": "#ff7f0e"}
    for i, r in enumerate(runs):
        c = colors.get(r["policy"], "#333")
        pts = " ".join(f"{X(t):.1f},{Y(v / GiB):.1f}" for t, v in r["rss"][::5])
        o.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{pts}"/>')
        o.append(f'<text x="{W - R - 150}" y="{T + 16 + 16 * i}" fill="{c}">'
                 f'{r["policy"]} (scale {r["scale"]})</text>')
    if runs and runs[0].get("ws"):
        y = Y(runs[0]["ws"] / GiB)
        o.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#2ca02c" '
                 f'stroke-dasharray="4 3"/><text x="{L + 4}" y="{y - 4:.1f}" fill="#2ca02c">'
                 f'working set (base + hot)</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def fmt_t(v):
    return "never" if v is None else f"{v / 60:.1f} min"


def report(a):
    runs = []
    for d in a.dirs:
        try:
            s = json.load(open(os.path.join(d, "summary.json")))
        except OSError:
            print(f"rq: {d}: no summary.json", file=sys.stderr)
            continue
        rows = [line.split(",") for line in open(os.path.join(d, "rss.csv")).read().split()[1:]]
        t_fe = s["boot_s"] + s["fill_s"]
        s["rss"] = [(float(t) - t_fe, int(v)) for t, v in rows if float(t) >= t_fe]
        s["ws"] = s["rss_base"] + s["hot"]
        s["dir"] = d
        runs.append(s)
    lines = ["| scenario | policy | scale | run | filled RSS | end RSS | returned (of cold) | "
             "90 % of cold returned | GiB·min above working set | refaulted | "
             "PSI some avg10 peak | agent CPU | guest busy |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: |"]
    for s in runs:
        ref = s.get("refault_bytes")
        ref_s = "?" if ref is None else f"{ref / MiB:.1f} MiB"
        if s.get("refault_hot_per_hour") is not None:
            ref_s += f" ({100 * s['refault_hot_per_hour']:.1f} % of hot/h"
            if s.get("refault_hot_per_hour_steady") is not None:
                ref_s += (f"; after the 1st re-read "
                          f"{s['refault_bytes_after_first_reread'] / MiB:.1f} MiB, "
                          f"{100 * s['refault_hot_per_hour_steady']:.1f} %/h")
            ref_s += ")"
        lines.append(
            f"| {s['scenario']} | {s['policy']} | {s['scale']} | {s['run_s'] / 60:.1f} min | "
            f"{s['rss_fill'] / GiB:.2f} GiB | {s['rss_end'] / GiB:.2f} GiB | "
            f"{s['returned_end'] / MiB:.0f} MiB ({100 * s['returned_of_cold']:.0f} %) | "
            f"{fmt_t(s['t90_cold_s'])} | {s['gib_min_above_ws']:.2f} | {ref_s} | "
            f"{s['psi_some_avg10_peak_after_fill']:.2f} % | {s.get('agent_cpu_s', '?')} s"
            + (f" ({s['agent_user_s']} user)" if "agent_user_s" in s else "") + " | "
            f"{s.get('guest_busy_pct', '?')} % |")
    table = "\n".join(lines) + "\n"
    os.makedirs(a.out, exist_ok=True)
    open(os.path.join(a.out, "table.md"), "w").write(table)
    print(table)
    for sc in sorted({s["scenario"] for s in runs}):
        svg(sc, [s for s in runs if s["scenario"] == sc], os.path.join(a.out, f"{sc}.svg"))
    if not a.check:
        return 0
    fails = []
    by = {(s["scenario"], s["policy"]): s for s in runs}
    # Scaled runs shorten the policy's time constants, so the 5-minute limit scales too.
    for (sc, pol), s in by.items():
        if pol != "ours":
            continue
        lim = 300 / s["scale"] if s["scale"] > 1 else 300
        if sc == "dev-box":
            if s["t90_cold_s"] is None or s["t90_cold_s"] > lim:
                fails.append(f"dev-box/ours: 90 % of the cold cache not returned within "
                             f"{lim:.0f} s (returned {100 * s['returned_of_cold']:.0f} %, "
                             f"t90 {s['t90_cold_s']})")
        if sc == "hot-cache":
            # A short scaled run is too short to extrapolate its first minute to an hour: it
            # is judged on the steady state (after the first re-read), the full run on all.
            key = "refault_hot_per_hour_steady" if s["scale"] > 1 else "refault_hot_per_hour"
            if (s.get(key) or 0) >= 0.05:
                fails.append(f"hot-cache/ours: refaults {100 * s[key]:.1f} % of the hot set "
                             f"per hour ({key}; target < 5 %)")
            if s["psi_some_avg10_peak_after_fill"] > 1.0:
                fails.append(f"hot-cache/ours: PSI some avg10 peaked at "
                             f"{s['psi_some_avg10_peak_after_fill']} % (target <= 1 %)")
        if sc == "build-idle" and ("build-idle", "wsl2026") in by:
            w = by[("build-idle", "wsl2026")]
            if s["returned_end"] < 0.95 * w["returned_end"]:
                fails.append("build-idle: ours returned less than wsl2026 dropcache")
            # "Sooner" compares the times to 90 % of what each returned; it means nothing
            # where dropcache never fired (its idle test failed: 6.1 on 2026-12-03, 3 MiB
            # returned, "90 %" of that at once) and returned under half of what ours did.
            if (w["t90_own_s"] is not None and w["returned_end"] >= 0.5 * s["returned_end"]
                    and (s["t90_own_s"] is None or s["t90_own_s"] > w["t90_own_s"])):
                fails.append("build-idle: ours was not sooner than wsl2026 dropcache")
    for (sc, pol), s in by.items():
        if sc == "dev-box" and pol == "wsl2026" and s["returned_of_cold"] > 0.1:
            fails.append(f"dev-box/wsl2026 returned {100 * s['returned_of_cold']:.0f} % "
                         "(expected none: never idle)")
    for f in fails:
        print(f"rq: target missed: {f}", file=sys.stderr)
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--kernel", required=True)
    r.add_argument("--initrd", required=True)
    r.add_argument("--data", required=True)
    r.add_argument("--scenario", required=True, choices=SCENARIOS)
    r.add_argument("--files", type=int, default=16)
    r.add_argument("--policy", required=True)
    r.add_argument("--scale", type=int, default=1)
    r.add_argument("--dur", type=int, required=True)
    r.add_argument("--mem", default="2G")
    r.add_argument("--timeout", type=int, default=900)
    r.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--out", required=True)
    p.add_argument("--check", action="store_true")
    p.add_argument("dirs", nargs="+")
    a = ap.parse_args()
    sys.exit(run(a) if a.cmd == "run" else report(a))


if __name__ == "__main__":
    main()
