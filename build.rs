//! Build script shared by two packages (one file, one job: kernel bindings).
//!
//! * For the root package `hv-dynmem` it does nothing: the default build (`cargo build`,
//!   `cargo test --workspace --all-features`) needs neither libclang nor kernel headers.
//! * `hyperv-bindings/Cargo.toml` names this same file as its build script
//!   (`build = "../build.rs"`) and enables its `generate` feature, which compiles the
//!   [`kernel`] module below. That package lives outside the root workspace: only the
//!   kernel-module build (`kmod/rust`, driven by `scripts/kmod-build`) depends on it.
//!
//! When generating, the kernel tree comes from `HV_DYNMEM_KERNEL_DIR` (for example
//! `/lib/modules/$(uname -r)/build` or `/usr/src/linux-headers-<release>`). The script builds
//! a probe module with that tree's own Kbuild to learn the exact C flags the kernel compiles
//! modules with (include paths, defines, `-include` files), keeps the ones clang needs, and
//! runs bindgen over `hyperv-bindings/wrapper.h`. The output goes to `OUT_DIR` only: the
//! kernel headers are GPL-2.0, so generated bindings are never committed.
//!
//! See `docs/linux.md` ("hyperv-bindings").
#![allow(
    unexpected_cfgs,
    reason = "`feature = \"generate\"` exists in hyperv-bindings, not in hv-dynmem"
)]

fn main() {
    println!("cargo::rerun-if-changed={}", file!());
    #[cfg(feature = "generate")]
    kernel::generate();
}

/// Kernel bindings generation (compiled only for the `hyperv-bindings` package).
#[cfg(feature = "generate")]
mod kernel {
    use std::env;
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The environment variable naming the kernel build tree.
    const KDIR_VAR: &str = "HV_DYNMEM_KERNEL_DIR";
    /// Extra `make` variables for the kernel's Kbuild (`ARCH=arm64 CROSS_COMPILE=... CC=...` when
    /// the tree is for another architecture than the build machine; kmod/Makefile sets it).
    const KBUILD_ARGS_VAR: &str = "HV_DYNMEM_KBUILD_ARGS";

    /// Runs the whole generation; any failure stops the build with a message saying what to do.
    pub fn generate() {
        println!("cargo::rerun-if-env-changed={KDIR_VAR}");
        println!("cargo::rerun-if-env-changed={KBUILD_ARGS_VAR}");
        let Some(kdir) = env::var_os(KDIR_VAR) else {
            fail(&format!(
                "{KDIR_VAR} is not set. hyperv-bindings is generated from the target kernel's own \
                 headers: set {KDIR_VAR}=/lib/modules/<release>/build (or run scripts/kmod-build)"
            ));
        };
        let kdir = PathBuf::from(kdir);
        if !kdir.join("Makefile").is_file() {
            fail(&format!(
                "{KDIR_VAR}={} has no Makefile: not a kernel build tree",
                kdir.display()
            ));
        }
        let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
        let wrapper = manifest.join("wrapper.h");
        let glue_include = manifest.join("../kmod/include");
        println!("cargo::rerun-if-changed={}", wrapper.display());
        println!(
            "cargo::rerun-if-changed={}",
            glue_include.join("hv_dynmem_glue.h").display()
        );
        // Kernel headers change with a new headers package, which also changes the release.
        println!(
            "cargo::rerun-if-changed={}",
            kdir.join("include/config/auto.conf").display()
        );

        // The kernel's architecture is the crate's target architecture (x86_64-unknown-none,
        // aarch64-unknown-none-softfloat): clang parses the headers as that Linux target.
        let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        let clang_target = match arch.as_str() {
            "x86_64" => "--target=x86_64-linux-gnu",
            "aarch64" => "--target=aarch64-linux-gnu",
            other => fail(&format!(
                "target architecture {other:?}: the kernel module supports x86_64 and aarch64"
            )),
        };
        let mut args = kernel_clang_args(&kdir, &out);
        args.push(format!("-I{}", glue_include.display()));
        args.extend(
            [
                clang_target,
                "-Wno-everything",
                "-D__BINDGEN__",
                "-fno-builtin",
            ]
            .map(String::from),
        );

        let bindings = bindgen::Builder::default()
            .header(wrapper.display().to_string())
            .clang_args(&args)
            .use_core()
            .ctypes_prefix("core::ffi")
            .rust_target(
                bindgen::RustTarget::stable(82, 0).unwrap_or_else(|e| fail(&e.to_string())),
            )
            .layout_tests(true)
            .wrap_unsafe_ops(true)
            .derive_default(false)
            .derive_debug(false)
            .generate_comments(false)
            .prepend_enum_name(false)
            .allowlist_type("hv_gpa_page_range")
            .allowlist_type("hv_memory_hint")
            .allowlist_type("hv_ring_buffer")
            .allowlist_type("vmpacket_descriptor")
            .allowlist_type("vmbus_packet_type")
            .allowlist_type("hvb_.*")
            .allowlist_var("HV_STATUS_.*")
            .allowlist_var("HV_EXT_CALL_.*")
            .allowlist_var("HV_EXT_MEMORY_HEAT_HINT_TYPE_.*")
            .allowlist_var("HV_HYPERCALL_.*")
            .allowlist_var("PAGE_REPORTING_CAPACITY")
            .allowlist_var("HVB_.*")
            .allowlist_var("KGLUE_.*")
            .allowlist_type("kglue_.*")
            .allowlist_function("kglue_.*")
            .allowlist_function("hvdm_.*")
            .generate()
            .unwrap_or_else(|e| fail(&format!("bindgen failed on {}: {e}", wrapper.display())));
        bindings
            .write_to_file(out.join("bindings.rs"))
            .unwrap_or_else(|e| fail(&format!("writing bindings: {e}")));
    }

    /// Builds a probe module with the kernel's Kbuild and returns the clang arguments taken from
    /// the compile command Kbuild recorded (`.probe.o.cmd`): `-nostdinc`, `-I`, `-isystem`,
    /// `-include`, `-D`, `-U`, `-std=` and `-fms-extensions`. Everything else there is a GCC
    /// code-generation flag that does not change type layouts and that clang may not know.
    fn kernel_clang_args(kdir: &Path, out: &Path) -> Vec<String> {
        let probe = out.join("kflags-probe");
        fs::create_dir_all(&probe).unwrap_or_else(|e| fail(&format!("mkdir {probe:?}: {e}")));
        write(&probe.join("Kbuild"), "obj-m := probe.o\n");
        write(
            &probe.join("probe.c"),
            "// SPDX-License-Identifier: GPL-2.0\n#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\n",
        );
        let kbuild_args = env::var(KBUILD_ARGS_VAR).unwrap_or_default();
        let status = Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(kdir)
            .arg(format!("M={}", probe.display()))
            .args(kbuild_args.split_whitespace())
            .arg("probe.o")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("MAKELEVEL")
            .status()
            .unwrap_or_else(|e| fail(&format!("running make for the kernel flags probe: {e}")));
        if !status.success() {
            fail(&format!(
                "the kernel flags probe (make -C {} M=...) failed",
                kdir.display()
            ));
        }
        let cmd = fs::read_to_string(probe.join(".probe.o.cmd"))
            .unwrap_or_else(|e| fail(&format!("reading .probe.o.cmd: {e}")));
        let line = cmd.lines().next().unwrap_or_default();
        let Some((_, command)) = line.split_once(":=") else {
            fail("unexpected .probe.o.cmd format (no `:=` on its first line)");
        };
        let abs = |p: &str| -> String {
            let path = Path::new(p);
            if path.is_absolute() {
                p.to_owned()
            } else {
                kdir.join(path).display().to_string()
            }
        };
        let mut args = Vec::new();
        let mut words = command.split_whitespace();
        while let Some(w) = words.next() {
            match w {
                // -fms-extensions changes what parses (7.x headers use anonymous struct
                // members of a named struct type, e.g. `struct filename`); clang knows it.
                "-nostdinc" | "-fms-extensions" => args.push(w.to_owned()),
                "-include" | "-isystem" | "-I" => {
                    if let Some(p) = words.next() {
                        args.push(w.to_owned());
                        args.push(abs(p));
                    }
                }
                _ if w.starts_with("-I") => args.push(format!("-I{}", abs(&w[2..]))),
                _ if w.starts_with("-std=") => args.push(w.to_owned()),
                // Quoted defines (KBUILD_MODNAME and friends) name the probe, not the kernel.
                _ if (w.starts_with("-D") || w.starts_with("-U")) && !w.contains('\'') => {
                    args.push(w.to_owned());
                }
                _ => {}
            }
        }
        if !args.iter().any(|a| a == "-D__KERNEL__") {
            fail("the kernel flags probe did not show -D__KERNEL__: not a kernel compile command");
        }
        args
    }

    fn write(path: &Path, text: &str) {
        fs::write(path, text).unwrap_or_else(|e| fail(&format!("writing {path:?}: {e}")));
    }

    fn fail(msg: &str) -> ! {
        eprintln!("error: hyperv-bindings: {msg}");
        std::process::exit(1);
    }
}
