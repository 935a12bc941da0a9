//! cargo-fuzz target: bytes as a client would send them → FrameSplitter → Assembler →
//! giop::decode → Dispatcher::handle (TestDevice + admin device), so request bodies are
//! decoded by the operations too. See src/harness.rs.
#![no_main]

#[path = "../src/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
