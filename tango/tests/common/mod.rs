//! Shared by the golden tests and the seed-corpus harness: loading the captured messages of
//! `tests/golden/*-messages.jsonl` and building the object table of the capture's server.
#![allow(dead_code)]

use std::path::PathBuf;

use tango::dispatch::Dispatcher;

pub const CAPTURES: [&str; 3] = ["nodb", "db", "fake"];
pub const DEVICE: &str = "mid_sdp/elt/subarray_1";
pub const ADMIN: &str = "dserver/SDPSubarray/test";

/// One line of a `*-messages.jsonl` file.
#[derive(Debug, Clone)]
pub struct CapturedMsg {
    pub index: usize,
    pub conn: u64,
    pub src: String,
    pub dst: String,
    pub proto: String,
    pub kind: String,
    pub request_id: Option<u64>,
    pub operation: Option<String>,
    pub bytes: Vec<u8>,
}

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("tests").join("golden")
}

pub fn load(capture: &str) -> Vec<CapturedMsg> {
    let path = golden_dir().join(format!("{capture}-messages.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(index, l)| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{capture} line {}: {e}", index + 1));
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            CapturedMsg {
                index,
                conn: v["conn"].as_u64().expect("conn"),
                src: s("src"),
                dst: s("dst"),
                proto: s("proto"),
                kind: s("type"),
                request_id: v.get("request_id").and_then(|x| x.as_u64()),
                operation: v.get("operation").and_then(|x| x.as_str()).map(String::from),
                bytes: hex::decode(s("hex")).unwrap_or_else(|e| panic!("{capture} line {}: hex: {e}", index + 1)),
            }
        })
        .collect()
}

pub fn dispatcher() -> Dispatcher {
    tango::test_device::sans_io_dispatcher("SDPSubarray", "test", DEVICE, "vm")
}
