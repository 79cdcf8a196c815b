//! cargo-fuzz entry point for the `dm_parse` target; the logic (and what it asserts) is in
//! `hv_dynmem_fuzz::dm_parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hv_dynmem_fuzz::dm_parse::run(data));
