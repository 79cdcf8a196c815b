//! `hv-dynmem`: the command line of the Dynamic Memory driver project.
//!
//! A thin layer: argument parsing, output and exit codes over the simulator (`hv-sim`) and the
//! driver crate's decoder (`hv-dynmem`). With no arguments it runs the main job (the
//! `wsl-build` scenario with and without free page reporting) and prints a summary; `reclaim`
//! runs the guest reclaim agent (`hv-reclaim-agent`); see
//! `hv-dynmem --help` for the subcommands. It holds no simulation or protocol logic itself.
#![forbid(unsafe_code)]

mod cli;
mod reclaim;

fn main() -> std::process::ExitCode {
    cli::main()
}
