//! Stable, sanitizer-free replay of fuzz inputs: `replay [TARGET [PATH...]]`.
//!
//! Every file under each PATH (default: `seeds/TARGET` and `regressions/TARGET`, relative to
//! the fuzz directory) is run through the target's `run` function. With no TARGET, all
//! targets are replayed. A panic prints the file and fails the process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            files(&e, out);
        }
    } else if p.is_file()
        && p.file_name()
            .is_some_and(|n| n != "README.md" && n != ".gitkeep")
    {
        out.push(p.to_path_buf());
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let targets: Vec<String> = match args.first() {
        Some(t) => vec![t.clone()],
        None => hv_dynmem_fuzz::TARGETS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let mut failed = 0usize;
    for t in &targets {
        let paths: Vec<PathBuf> = if args.len() > 1 {
            args[1..].iter().map(PathBuf::from).collect()
        } else {
            vec![root.join("seeds").join(t), root.join("regressions").join(t)]
        };
        let mut list = Vec::new();
        for p in &paths {
            files(p, &mut list);
        }
        let mut ok = 0usize;
        for f in &list {
            let data = match std::fs::read(f) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{}: {e}", f.display());
                    failed += 1;
                    continue;
                }
            };
            let name = t.clone();
            let r = std::panic::catch_unwind(|| hv_dynmem_fuzz::run_target(&name, &data));
            match r {
                Ok(true) => ok += 1,
                Ok(false) => {
                    eprintln!("unknown target {t}");
                    return ExitCode::FAILURE;
                }
                Err(_) => {
                    eprintln!("FAIL {t}: {}", f.display());
                    failed += 1;
                }
            }
        }
        println!("{t}: {ok} of {} inputs passed", list.len());
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
