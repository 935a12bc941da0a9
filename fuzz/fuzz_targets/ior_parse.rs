//! cargo-fuzz target `ior_parse`; the body is src/ior_parse.rs (also replayed by the seed tests).
#![no_main]

#[path = "../src/ior_parse.rs"]
mod ior_parse;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ior_parse::run(data));
