//! cargo-fuzz entry point for the `dm_driver` target; the logic (and what it asserts) is in
//! `hv_dynmem_fuzz::dm_driver`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hv_dynmem_fuzz::dm_driver::run(data));
