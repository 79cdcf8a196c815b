//! `hv-dynmem`: the reclaim simulator and tools around the Dynamic Memory driver.
//!
//! With no arguments it runs the main job (the `wsl-build` scenario with and without free page
//! reporting) and prints a summary; see `hv-dynmem --help` for the subcommands.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    hv_dynmem::sim::cli::main()
}
