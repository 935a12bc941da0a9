//! cargo-fuzz target `any_decode`; the body is src/any_decode.rs (also replayed by the seed tests).
#![no_main]

#[path = "../src/any_decode.rs"]
mod any_decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| any_decode::run(data));
