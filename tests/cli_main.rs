//! The main job: `hv-dynmem` with no arguments (what `cargo run --release` runs on a fresh
//! clone) shows memory going back to the host and writes its plot.
use std::process::Command;

#[test]
fn no_arguments_runs_wsl_build_with_and_without_reporting() {
    let dir = std::env::temp_dir().join(format!("hvdm-main-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_hv-dynmem"))
        .env("CARGO_TARGET_DIR", &dir)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
