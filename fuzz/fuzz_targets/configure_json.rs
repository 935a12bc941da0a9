//! cargo-fuzz target `configure_json`; the body is src/configure_json.rs (also replayed by the seed tests).
#![no_main]

#[path = "../src/configure_json.rs"]
mod configure_json;

libfuzzer_sys::fuzz_target!(|data: &[u8]| configure_json::run(data));
