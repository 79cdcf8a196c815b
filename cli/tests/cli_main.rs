//! The main job: `hv-dynmem` with no arguments (what `cargo run --release` runs on a fresh
//! clone) shows memory going back to the host and writes its plot.
mod common;
use common::{hv_dynmem, succeeds, temp_dir};

#[test]
fn no_arguments_runs_wsl_build_with_and_without_reporting() {
    let dir = temp_dir("main");
    let out = succeeds(hv_dynmem().env("CARGO_TARGET_DIR", &dir));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("scenario wsl-build"), "{text}");
    assert!(
        text.contains("reporting: linux, order 9") && text.contains("no reporting"),
        "{text}"
    );
    assert!(
        text.contains("time to 50 % / 90 % / 99 % returned"),
        "{text}"
    );
    assert!(
        text.contains("hypercalls:") && text.contains("VMBus packets:"),
        "{text}"
    );
    // Both runs check the invariants, and none is violated.
    let checks: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("invariants: "))
        .map(|l| {
            let n = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok()).expect("a count");
            let mut w = l.split(' ');
            let checks = n(w.next());
            let violations = n(w.nth(1));
            (checks, violations)
        })
        .collect();
    assert_eq!(checks.len(), 2, "{text}");
    assert!(checks.iter().all(|&(c, v)| c > 0 && v == 0), "{checks:?}");
    // "=> with free page reporting the VM gave X GiB back ...; without it, 0.00 GiB."
    let line = text
        .lines()
        .find(|l| l.starts_with("=> with free page reporting"))
        .expect("verdict line");
    let gave: f64 = line
        .split("gave ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a number");
    assert!(gave > 8.0, "{line}");
    assert!(line.ends_with("without it, 0.00 GiB."), "{line}");
    let plot = text
        .lines()
        .find_map(|l| l.strip_prefix("plot: "))
        .expect("plot path");
    let svg = std::fs::read_to_string(plot).expect("plot written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(plot.starts_with(dir.to_str().expect("utf-8 path")));
    let _ = std::fs::remove_dir_all(&dir);
}
