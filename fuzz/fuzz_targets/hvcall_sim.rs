//! cargo-fuzz entry point for the `hvcall_sim` target; the logic (and what it asserts) is in
//! `hv_dynmem_fuzz::hvcall_sim`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hv_dynmem_fuzz::hvcall_sim::run(data));
