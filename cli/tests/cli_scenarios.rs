//! Bad scenario files are rejected with the line and the field; nothing partial is written.
use hv_sim::scenario::Scenario;
mod common;
use common::{fails, hv_dynmem, succeeds, temp_dir};

const GOOD_HEAD: &str = "name = \"t\"\nduration = \"1m\"\n[guest]\nmemory = \"1GiB\"\n";

fn err(src: &str) -> hv_sim::scenario::ScenarioError {
    Scenario::parse(src, "t.toml").expect_err("must be rejected")
}

#[test]
fn unknown_field_in_a_step_names_line_and_field() {
    let src = format!(
        "{GOOD_HEAD}[[step]]\nat = \"1s\"\ndo = \"alloc\"\nprocess = \"a\"\nsize = \"1MiB\"\nsizee = 3\n"
    );
    let e = err(&src);
    assert_eq!(e.line, Some(10), "{e}");
    assert_eq!(e.field.as_deref(), Some("sizee"), "{e}");
    assert!(e.to_string().starts_with("t.toml:10:"), "{e}");
}

#[test]
fn bad_size_names_line_and_field() {
    let src = format!(
        "{GOOD_HEAD}[[step]]\nat = \"1s\"\ndo = \"alloc\"\nprocess = \"a\"\nsize = \"3XB\"\n"
    );
    let e = err(&src);
    assert_eq!(e.line, Some(9), "{e}");
    assert_eq!(e.field.as_deref(), Some("size"), "{e}");
    assert!(e.message.contains("3XB"), "{e}");
}

#[test]
fn bad_duration_and_unknown_action() {
    let e = err("name = \"t\"\nduration = \"1 fortnight\"\n[guest]\nmemory = \"1GiB\"\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(2), Some("duration")),
        "{e}"
    );
    let e = err(&format!(
        "{GOOD_HEAD}[[step]]\nat = \"1s\"\ndo = \"explode\"\n"
    ));
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.contains("explode"), "{e}");
}

#[test]
fn semantic_errors_name_the_field() {
    let e = err(
        "name = \"t\"\nduration = \"1m\"\n[guest]\nmemory = \"1GiB\"\n[reporting]\norder = 11\n",
    );
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(6), Some("order")),
        "{e}"
    );
    let e = err(&format!(
        "{GOOD_HEAD}[[step]]\nat = \"2m\"\ndo = \"compact\"\n"
    ));
    assert_eq!((e.line, e.field.as_deref()), (Some(6), Some("at")), "{e}");
    let e = err(&format!(
        "{GOOD_HEAD}[[step]]\nat = \"1s\"\ndo = \"drop_caches\"\nlevel = 4\n"
    ));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(8), Some("level")),
        "{e}"
    );
    let e = err("name = \"t\"\nduration = \"1m\"\n[guest]\nmemory = \"100MiB\"\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(4), Some("memory")),
        "{e}"
    );
}

#[test]
fn missing_field_and_syntax_error() {
    let e = err("name = \"t\"\n[guest]\nmemory = \"1GiB\"\n");
    assert_eq!(e.field.as_deref(), Some("duration"), "{e}");
    let e = err("name = \"t\"\nduration = \n");
    assert_eq!(e.line, Some(2), "{e}");
}

#[test]
fn the_binary_rejects_a_bad_file_and_writes_nothing() {
    let dir = temp_dir("cli-bad");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "{GOOD_HEAD}[[step]]\nat = \"1s\"\ndo = \"alloc\"\nprocess = \"a\"\nsize = \"3XB\"\n"
        ),
    )
    .expect("write");
    let plot = dir.join("out.svg");
    let out = fails(
        hv_dynmem()
            .args(["simulate", "--scenario"])
            .arg(&bad)
            .arg("--plot")
            .arg(&plot),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:9:") && stderr.contains("field `size`"),
        "{stderr}"
    );
    assert!(!plot.exists());
    assert_eq!(
        std::fs::read_dir(&dir).expect("dir").count(),
        1,
        "only the scenario file"
    );
    // Missing file and unknown option.
    let out = fails(hv_dynmem().args(["simulate", "-s", "/nonexistent/x.toml"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read scenario file"));
    let out = fails(hv_dynmem().args(["simulate", "--frobnicate"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--frobnicate"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_writes_plot_csv_json_and_trace() {
    let dir = temp_dir("cli-out");
    let (plot, csv, trace) = (dir.join("p.svg"), dir.join("s.csv"), dir.join("t.jsonl"));
    let out = succeeds(
        hv_dynmem()
            .args([
                "simulate",
                "-s",
                "alloc-free-1g",
                "--compare",
                "--json",
                "--check",
                "--plot",
            ])
            .arg(&plot)
            .arg("--csv")
            .arg(&csv)
            .arg("--trace-out")
            .arg(&trace),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    assert!(runs[0]["metrics"]["returned"].as_u64().unwrap_or(0) >= 1 << 30);
    assert_eq!(runs[1]["metrics"]["returned"].as_u64(), Some(0));
    let svg = std::fs::read_to_string(&plot).expect("plot");
    assert!(svg.starts_with("<svg") && svg.contains("host-committed"));
    let csv = std::fs::read_to_string(&csv).expect("csv");
    assert!(csv.starts_with("run,t_s,"));
    assert!(csv.lines().count() > 1000);
    let lines = std::fs::read_to_string(&trace).expect("trace");
    assert!(
        lines
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(lines.contains("HvExtCallMemoryHeatHint"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scenarios_and_decode_subcommands() {
    let out = succeeds(hv_dynmem().arg("scenarios"));
    let s = String::from_utf8_lossy(&out.stdout);
    for n in [
        "wsl-build",
        "alloc-free",
        "pagecache-drop",
        "fragmentation",
        "hyperv-dm",
    ] {
        assert!(s.contains(n), "{s}");
    }
    let out = fails(hv_dynmem().args(["decode", "zz"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a hex byte"));
}

#[test]
fn decode_shows_a_hot_add_past_the_frame_space_and_flags_it() {
    // DM_MEM_HOT_ADD_REQUEST, size 16, trans_id 1, range start 2^40 - 1, 16 pages: the driver
    // refuses it; the decoder shows the fields and says so (exit 0).
    let out = succeeds(hv_dynmem().args(["decode", "0a00100001000000ffffffffff100000"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["type"], "DM_MEM_HOT_ADD_REQUEST");
    assert_eq!(v["range"]["start_page"], (1u64 << 40) - 1);
    assert_eq!(v["range"]["page_cnt"], 16);
    assert_eq!(
        v["problems"][0],
        "DM_MEM_HOT_ADD_REQUEST range #0 [0xffffffffff+16] runs past the 40-bit frame space: \
         the driver refuses this message"
    );
}

#[test]
fn decode_shows_the_data_of_an_unknown_info_type() {
    // DM_INFO_MESSAGE, size 28, info_size 12, info type 5, data_size 4, data de ad be ef.
    let out = succeeds(hv_dynmem().args([
        "decode",
        "0c001c000100000000000000 0c000000 05000000 04000000 deadbeef",
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["info"]["type"], 5);
    assert_eq!(v["info"]["data_size"], 4);
    assert_eq!(v["info"]["data"], "deadbeef");
}
