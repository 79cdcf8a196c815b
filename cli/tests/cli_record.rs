//! `record -- CMD` then `simulate --trace FILE`: the round trip on a small real command.
use hv_sim::engine::{RunConfig, run, scenario_for_trace};
use hv_sim::proc::RecordedTrace;
mod common;
use common::{fails, hv_dynmem, succeeds, temp_dir};

#[test]
fn record_then_replay() {
    let dir = temp_dir("rec");
    let trace = dir.join("trace.json");
    succeeds(
        hv_dynmem()
            .args(["record", "--period-ms", "50", "--out"])
            .arg(&trace)
            .args(["--", "sleep", "0.3"]),
    );
    let t = RecordedTrace::parse(&std::fs::read_to_string(&trace).expect("trace"))
        .expect("valid trace");
    assert_eq!(t.command, ["sleep", "0.3"]);
    // One sample before, at least one while it ran, one after.
    assert!(t.samples.len() >= 3, "{}", t.samples.len());
    assert!(t.samples.last().map_or(0, |s| s.t_ns) >= 300_000_000);
    assert_eq!(t.samples[0].buddy.len(), 11);

    // Replay through the binary...
    let out = succeeds(
        hv_dynmem()
            .args(["simulate", "--json", "--check", "--trace"])
            .arg(&trace),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["runs"][0]["scenario"], "trace");
    assert_eq!(
        v["runs"][0]["counters"]["violations"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    // ...and through the library.
    let sc = scenario_for_trace(&t);
    let cfg = RunConfig {
        seed: 1,
        check_invariants: true,
        replay: Some(t.clone()),
        ..RunConfig::default()
    };
    let a = run(&sc, &cfg).expect("run");
    // Deterministic: the binary's replay of the file and this one agree bit for bit.
    assert_eq!(v["runs"][0]["trace_hash"], format!("{:016x}", a.trace_hash));
    assert!(a.counters.violations.is_empty());
    // The replayed guest's used memory follows the trace (within the kernel estimate).
    let first = &t.samples[0];
    let s = a
        .samples
        .iter()
        .find(|s| s.t_ns >= 2_000_000_000)
        .expect("sample");
    assert!(
        s.used.abs_diff(first.used) < first.used / 2 + (64 << 20),
        "{} vs {}",
        s.used,
        first.used
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn record_without_a_command_fails_and_bad_traces_are_rejected() {
    fails(hv_dynmem().arg("record"));
    assert!(RecordedTrace::parse("{}").is_err());
    assert!(
        RecordedTrace::parse(
            r#"{"format":"x","version":1,"command":[],"total":1,"period_ns":1,"samples":[]}"#
        )
        .is_err()
    );
}
