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
