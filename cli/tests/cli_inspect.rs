//! `inspect` on captured /proc files and on the live machine.
use hv_sim::proc::{Inspection, inspect_text};
mod common;
use common::{hv_dynmem, succeeds};

fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn wsl_fixture_exact_figures() {
    let i =
        inspect_text(&fixture("meminfo-wsl.txt"), &fixture("buddyinfo-wsl.txt")).expect("parse");
    assert_eq!(i.total, 16_283_228 * 1024);
    assert_eq!(i.free, 9_512_340 * 1024);
    assert_eq!(i.cached, 4_871_204 * 1024);
    // Active(file) + Inactive(file) - Dirty - Writeback - Mapped.
    assert_eq!(
        i.droppable_cache,
        (1_980_608 + 2_991_876 - 1024 - 263_168) * 1024
    );
    assert_eq!(i.reportable_by_order.len(), 11);
    // Order 10: (3 + 600 + 1700) blocks of 4 MiB.
    assert_eq!(i.reportable_by_order[10], 2303 * (4 << 20));
    // Order 9 adds (1 + 4 + 60) blocks of 2 MiB.
    assert_eq!(i.reportable_by_order[9], 2303 * (4 << 20) + 65 * (2 << 20));
    // Monotone: a lower order can report at least as much.
    assert!(i.reportable_by_order.windows(2).all(|w| w[0] >= w[1]));
    // Order 0 is all free memory in the buddy lists.
    let pages: u64 = [1u64, 1, 1, 1, 1, 1, 1, 0, 1, 1, 3]
        .iter()
        .enumerate()
        .map(|(o, n)| n << o)
        .sum::<u64>()
        + [1200u64, 800, 400, 200, 100, 50, 20, 10, 6, 4, 600]
            .iter()
            .enumerate()
            .map(|(o, n)| n << o)
            .sum::<u64>()
        + [
            30000u64, 12000, 6000, 3000, 1500, 800, 400, 200, 100, 60, 1700,
        ]
        .iter()
        .enumerate()
        .map(|(o, n)| n << o)
        .sum::<u64>();
    assert_eq!(i.reportable_by_order[0], pages * 4096);
    let text = i.render();
    assert!(text.contains("drop_caches") && text.contains("order"));
}

#[test]
fn host_fixture_parses() {
    let i =
        inspect_text(&fixture("meminfo-host.txt"), &fixture("buddyinfo-host.txt")).expect("parse");
    assert!(i.total > 0 && i.reportable_by_order[0] > 0);
    assert!(
        i.reportable_by_order[0] <= i.free + (64 << 20),
        "buddy free ≈ MemFree"
    );
}

#[test]
fn cli_on_fixtures_and_on_the_live_machine() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = succeeds(
        hv_dynmem()
            .args(["inspect", "--json", "--meminfo"])
            .arg(dir.join("meminfo-wsl.txt"))
            .arg("--buddyinfo")
            .arg(dir.join("buddyinfo-wsl.txt")),
    );
    let i: Inspection = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(i.reportable_by_order[10], 2303 * (4 << 20));

    // The live machine (Linux): whatever it holds, the figures are consistent.
    let out = succeeds(hv_dynmem().args(["inspect", "--json"]));
    let i: Inspection = serde_json::from_slice(&out.stdout).expect("json");
    assert!(i.total > 0);
    assert!(i.reportable_by_order.windows(2).all(|w| w[0] >= w[1]));
    let out = succeeds(hv_dynmem().arg("inspect"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("free page reporting could return"));
}

#[test]
fn bad_proc_text_is_rejected_with_the_line() {
    let e = inspect_text(
        "MemTotal: 1 kB\nMemFree: x kB\n",
        "Node 0, zone Normal 1 2\n",
    )
    .expect_err("bad");
    assert_eq!((e.file, e.line), ("meminfo", 2));
    let e = inspect_text("MemTotal: 1 kB\n", "Node 0, zone Normal 1 2\nNode x\n").expect_err("bad");
    assert_eq!((e.file, e.line), ("buddyinfo", 2));
}

#[test]
fn free_memory_the_buddy_lists_do_not_show_is_said() {
    // The host fixture: MemFree 19.65 GiB, buddy lists 4.20 GiB (a sandbox kernel that counts
    // free memory outside its zones). The report says so instead of a bare "21 %".
    let i =
        inspect_text(&fixture("meminfo-host.txt"), &fixture("buddyinfo-host.txt")).expect("parse");
    assert_eq!(i.buddy_free, i.reportable_by_order[0]);
    let note = i.free_mismatch().expect("a note");
    assert!(
        note.contains("MemFree counts 19.65 GiB") && note.contains("show only 4.20 GiB"),
        "{note}"
    );
    assert!(i.render().contains(&note));
    // Buddy lists showing more than MemFree (files read at different moments): said too.
    let i =
        inspect_text(&fixture("meminfo-wsl.txt"), &fixture("buddyinfo-wsl.txt")).expect("parse");
    let note = i.free_mismatch().expect("a note");
    assert!(note.contains("more than MemFree"), "{note}");
    // Agreeing files: no note. 1 GiB free in both: 256 order-10 blocks of 4 MiB.
    let mut buddy = String::from("Node 0, zone   Normal");
    for n in [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 256] {
        buddy.push_str(&format!(" {n}"));
    }
    buddy.push('\n');
    let i = inspect_text("MemTotal: 2097152 kB\nMemFree: 1048576 kB\n", &buddy).expect("parse");
    assert_eq!(i.buddy_free, 1 << 30);
    assert_eq!(i.free_mismatch(), None);
    assert!(!i.render().contains("note:"));
}

#[test]
fn zoneinfo_gives_per_zone_reportable_and_per_cpu_figures() {
    use hv_sim::proc::inspect_zones;
    let zi = fixture("zoneinfo-host.txt");
    let i = inspect_zones(
        &fixture("meminfo-host.txt"),
        &fixture("buddyinfo-host.txt"),
        Some(&zi),
    )
    .expect("parse");
    let mib = 1u64 << 20;
    let names: Vec<&str> = i.zones.iter().map(|z| z.zone.as_str()).collect();
    assert_eq!(names, ["DMA", "DMA32", "Normal"]);
    let (dma, dma32, normal) = (&i.zones[0], &i.zones[1], &i.zones[2]);
    // DMA: 3840 free pages, below its gate (low 6 + 32 × 512): skipped, nothing per pass.
    assert!(!dma.passes_gate);
    assert_eq!(dma.reportable, 2 * mib + 3 * 4 * mib);
    assert_eq!(dma.per_pass, 0);
    // DMA32: 2 order-9 and 752 order-10 blocks; one pass: all 2 + (ceil(752/512)+1) × 32 = 96.
    assert!(dma32.passes_gate);
    assert_eq!(dma32.gate, (1411 + 16_384) * 4096);
    assert_eq!(dma32.reportable, 2 * 2 * mib + 752 * 4 * mib);
    assert_eq!(dma32.per_pass, 2 * 2 * mib + 96 * 4 * mib);
    assert_eq!(dma32.pcp, (12 + 340 + 61) * 4096);
    assert_eq!((dma32.cpus, dma32.pcp_high), (4, 352 * 4096));
    // Normal: 18 order-9 and 31 order-10 blocks, all within one pass's budget.
    assert_eq!(normal.reportable, 18 * 2 * mib + 31 * 4 * mib);
    assert_eq!(normal.per_pass, normal.reportable);
    assert_eq!(normal.pcp, (1021 + 388 + 2045 + 97) * 4096);
    assert_eq!(normal.managed, (6_171_021 - 3840 - 782_000) * 4096);
    let text = i.render();
    assert!(
        text.contains("below gate") && text.contains("per-CPU lists"),
        "{text}"
    );

    // The same through the command line.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = succeeds(
        hv_dynmem()
            .args(["inspect", "--json", "--meminfo"])
            .arg(dir.join("meminfo-host.txt"))
            .arg("--buddyinfo")
            .arg(dir.join("buddyinfo-host.txt"))
            .arg("--zoneinfo")
            .arg(dir.join("zoneinfo-host.txt")),
    );
    let j: Inspection = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(j.zones, i.zones);
    // A malformed file names its line.
    let bad = hv_sim::proc::ZoneInfo::parse("Node 0, zone DMA\n  pages free x\n").unwrap_err();
    assert_eq!((bad.file, bad.line), ("zoneinfo", 2));
}
