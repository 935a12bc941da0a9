//! cargo-fuzz target `giop_decode`; the body is src/giop_decode.rs (also replayed by the seed tests).
#![no_main]

#[path = "../src/giop_decode.rs"]
mod giop_decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| giop_decode::run(data));
