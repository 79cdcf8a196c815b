//! Stable replay of the hand-made seeds and every saved regression input (no libFuzzer):
//! `cargo test --manifest-path fuzz/Cargo.toml --no-default-features`.

use std::path::Path;

fn replay_dir(target: &str, dir: &str) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(target);
    let Ok(entries) = std::fs::read_dir(&path) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_file()
            || p.file_name()
                .is_some_and(|f| f == "README.md" || f == ".gitkeep")
        {
            continue;
        }
        let data = std::fs::read(&p).expect("readable input");
        eprintln!("{target}: {}", p.display());
        assert!(hv_dynmem_fuzz::run_target(target, &data));
        n += 1;
    }
    n
}

#[test]
fn seeds_replay() {
    for t in hv_dynmem_fuzz::TARGETS {
        assert!(replay_dir(t, "seeds") > 0, "no seeds for {t}");
    }
}

#[test]
fn regressions_replay() {
    for t in hv_dynmem_fuzz::TARGETS {
        replay_dir(t, "regressions");
    }
}
