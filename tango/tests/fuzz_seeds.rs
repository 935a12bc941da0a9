//! The `giop_decode` fuzz target (`fuzz/`) without libFuzzer: its harness runs here over the
//! committed seeds `fuzz/seeds/giop_decode/` and over every captured message, so `cargo test`
//! exercises the same path on a stable toolchain.
//!
//! Seeds and corpus are made from the captures in `tests/golden/`:
//!   cargo test -p tango --test fuzz_seeds -- --ignored write_seeds    (fuzz/seeds/giop_decode, committed)
//!   cargo test -p tango --test fuzz_seeds -- --ignored write_corpus   (fuzz/corpus/giop_decode, gitignored)

mod common;
#[path = "../../fuzz/src/harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::{load, CapturedMsg, CAPTURES};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("fuzz")
}

/// One input per whole GIOP message of every capture (fragment chains kept as their parts,
/// so inputs exercise the Assembler), with a name telling what it is.
fn inputs() -> Vec<(String, bool, Vec<u8>)> {
    let mut out = Vec::new();
    for cap in CAPTURES {
        let msgs = load(cap);
        let mut client: BTreeMap<u64, String> = BTreeMap::new();
        // per (conn, sender): the bytes of the message being joined, and its named part
        type Open<'a> = BTreeMap<(u64, String), (Vec<u8>, Option<&'a CapturedMsg>)>;
        let mut open: Open = BTreeMap::new();
        for m in msgs.iter().filter(|m| m.proto == "GIOP") {
            let c = client.entry(m.conn).or_insert_with(|| m.src.clone()).clone();
            let from_client = c == m.src;
            let e = open.entry((m.conn, m.src.clone())).or_default();
            e.0.extend_from_slice(&m.bytes);
            if m.operation.is_some() {
                e.1 = Some(m);
            }
            let more = m.bytes.len() > 6 && m.bytes[5] >= 1 && m.bytes[6] & 2 == 2;
            if !more {
                let (bytes, named) = std::mem::take(e);
                let named = named.unwrap_or(m);
                let mut name = format!("{cap}-c{}-{}-{}", m.conn, if from_client { "req" } else { "rep" }, named.kind);
                if let Some(id) = named.request_id {
                    name += &format!("-{id}");
                }
                if let Some(op) = &named.operation {
                    name += &format!("-{op}");
                }
                out.push((name, from_client, bytes));
            }
        }
    }
    out
}

#[test]
fn harness_runs_over_every_captured_message() {
    let all = inputs();
    assert!(all.len() > 500, "{}", all.len());
    for (_, _, bytes) in &all {
        harness::run(bytes);
    }
    // and the whole client streams at once (several messages per input)
    let joined: Vec<u8> = all.iter().filter(|x| x.1 && x.0.starts_with("nodb")).flat_map(|x| x.2.clone()).collect();
    harness::run(&joined);
}

#[test]
fn harness_runs_over_the_seeds() {
    let dir = fuzz_dir().join("seeds").join("giop_decode");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        harness::run(&std::fs::read(&p).unwrap());
        n += 1;
    }
    assert!(n >= 24, "only {n} seeds in {}", dir.display());
}

/// Also run anything in fuzz/artifacts (crashes found by cargo fuzz) when present.
#[test]
fn harness_runs_over_fuzz_artifacts() {
    let dir = fuzz_dir().join("artifacts").join("giop_decode");
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd {
            let p = e.unwrap().path();
            eprintln!("artifact {}", p.display());
            harness::run(&std::fs::read(&p).unwrap());
        }
    }
}

fn write(dir: PathBuf, only_distinct: bool) {
    std::fs::create_dir_all(&dir).unwrap();
    let mut seen = BTreeSet::new();
    let mut n = 0;
    for (name, from_client, bytes) in inputs() {
        if only_distinct {
            // one request per (GIOP version, operation, command), the fragmented ones, and
            // a few replies
            let ver = bytes[5];
            let key = if from_client {
                let op = name.rsplit('-').next().unwrap_or("");
                let cmd = command_of(&bytes);
                if name.contains("Fragment") {
                    name.clone()
                } else {
                    format!("req {ver} {op} {cmd}")
                }
            } else if name.contains("Fragment") || name.contains("USER") || name.contains("command_inout") && n % 5 == 0 {
                format!("rep {name}")
            } else {
                continue;
            };
            if !seen.insert(key) {
                continue;
            }
        }
        std::fs::write(dir.join(format!("{name}.bin")), &bytes).unwrap();
        n += 1;
    }
    eprintln!("wrote {n} inputs to {}", dir.display());
}

/// The command name of a command_inout request, to tell seeds apart.
fn command_of(bytes: &[u8]) -> String {
    let splitter = tango::giop::FrameSplitter::new(1 << 24);
    let mut asm = tango::giop::Assembler::new(1 << 24);
    let mut buf = bytes;
    while let Ok(Some(n)) = splitter.complete_len(buf) {
        if let Ok(Some(whole)) = asm.push(buf[..n].to_vec()) {
            if let Ok(tango::giop::Message::Request(r)) = tango::giop::decode(whole) {
                if r.operation.starts_with("command_inout") {
                    return r.body().read_string().unwrap_or_default();
                }
            }
        }
        buf = &buf[n..];
    }
    String::new()
}

#[test]
#[ignore]
fn write_seeds() {
    write(fuzz_dir().join("seeds").join("giop_decode"), true);
}

#[test]
#[ignore]
fn write_corpus() {
    write(fuzz_dir().join("corpus").join("giop_decode"), false);
}
