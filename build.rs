//! Build script for the `hv-dynmem` package.
//!
//! The default build (`cargo build`, `cargo test`) needs neither libclang nor kernel headers
//! and does nothing here. Kernel builds (see `docs/linux.md`) generate `hyperv-bindings` from the
//! target kernel's own headers.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}
