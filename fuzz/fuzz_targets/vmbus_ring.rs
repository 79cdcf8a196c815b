//! cargo-fuzz entry point for the `vmbus_ring` target; the logic (and what it asserts) is in
//! `hv_dynmem_fuzz::vmbus_ring`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hv_dynmem_fuzz::vmbus_ring::run(data));
