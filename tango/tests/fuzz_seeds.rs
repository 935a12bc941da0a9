//! The fuzz targets of `fuzz/` without libFuzzer: each target's body (`fuzz/src/<target>.rs`)
//! runs here over its committed seeds `fuzz/seeds/<target>/` (which include the regression
//! inputs of bugs the fuzzers found), over anything in `fuzz/artifacts/<target>/`, and
//! `giop_decode` over every captured message, so `cargo test` exercises the same paths on a
//! stable toolchain. (`configure_json` needs the devices crate: `devices/tests/fuzz_seeds.rs`.)
//!
//! Seeds and corpus are made from the captures in `tests/golden/`:
//!   cargo test -p tango --test fuzz_seeds -- --ignored write_seeds    (fuzz/seeds/<target>, committed)
//!   cargo test -p tango --test fuzz_seeds -- --ignored write_corpus   (fuzz/corpus/giop_decode, gitignored)

#[path = "../../fuzz/src/any_decode.rs"]
mod any_decode;
mod common;
#[path = "../../fuzz/src/db_mysql_select.rs"]
mod db_mysql_select;
#[path = "../../fuzz/src/giop_decode.rs"]
mod giop_decode;
#[path = "../../fuzz/src/ior_parse.rs"]
mod ior_parse;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::{load, CapturedMsg, CAPTURES};
use tango::any::CmdValue;
use tango::giop::{self, Assembler, FrameSplitter, Message};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("fuzz")
}

/// Run `run` over every file of `fuzz/<kind>/<target>/`; how many there were.
fn replay(kind: &str, target: &str, run: fn(&[u8])) -> usize {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else { return 0 };
    let mut n = 0;
    for e in rd {
        let p = e.unwrap().path();
        eprintln!("{kind}/{target}: {}", p.display());
        run(&std::fs::read(&p).unwrap());
        n += 1;
    }
    n
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

/// The whole (reassembled) GIOP messages of one input.
fn messages(bytes: &[u8]) -> Vec<Message> {
    let splitter = FrameSplitter::new(1 << 24);
    let mut asm = Assembler::new(1 << 24);
    let mut out = Vec::new();
    let mut buf = bytes;
    while let Ok(Some(n)) = splitter.complete_len(buf) {
        if let Ok(Some(whole)) = asm.push(buf[..n].to_vec()) {
            if let Ok(m) = giop::decode(whole) {
                out.push(m);
            }
        }
        buf = &buf[n..];
    }
    out
}

#[test]
fn giop_decode_runs_over_every_captured_message() {
    let all = inputs();
    assert!(all.len() > 500, "{}", all.len());
    for (_, _, bytes) in &all {
        giop_decode::run(bytes);
    }
    // and the whole client streams at once (several messages per input)
    let joined: Vec<u8> = all.iter().filter(|x| x.1 && x.0.starts_with("nodb")).flat_map(|x| x.2.clone()).collect();
    giop_decode::run(&joined);
}

#[test]
fn giop_decode_runs_over_its_seeds_and_artifacts() {
    let n = replay("seeds", "giop_decode", giop_decode::run);
    assert!(n >= 24, "only {n} giop_decode seeds");
    replay("artifacts", "giop_decode", giop_decode::run);
}

#[test]
fn any_decode_runs_over_its_seeds_and_artifacts() {
    let n = replay("seeds", "any_decode", any_decode::run);
    assert!(n >= 20, "only {n} any_decode seeds");
    replay("artifacts", "any_decode", any_decode::run);
}

#[test]
fn ior_parse_runs_over_its_seeds_and_artifacts() {
    let n = replay("seeds", "ior_parse", ior_parse::run);
    assert!(n >= 4, "only {n} ior_parse seeds");
    replay("artifacts", "ior_parse", ior_parse::run);
}

#[test]
fn db_mysql_select_runs_over_its_seeds_and_artifacts() {
    let n = replay("seeds", "db_mysql_select", db_mysql_select::run);
    assert!(n >= 4, "only {n} db_mysql_select seeds");
    replay("artifacts", "db_mysql_select", db_mysql_select::run);
}

/// The harnesses check what they should: the accepted queries give rows, others a refusal.
#[test]
fn db_mysql_select_harness_sees_both_outcomes() {
    db_mysql_select::run(b"SELECT name, alias, server, class FROM device order by name");
    db_mysql_select::run(b"select name, alias from attribute_alias order by alias;");
    db_mysql_select::run(b"SELECT CONCAT(server, '/', class), IFNULL(alias, '') FROM device WHERE name LIKE 'mid\\_sdp/%'");
    db_mysql_select::run(b"DROP TABLE device");
    db_mysql_select::run(b"SELECT 1; DELETE FROM device");
    db_mysql_select::run(b"WITH d AS (SELECT 1) DELETE FROM device");
    db_mysql_select::run(&[0xff; 4000]);
}

fn write_giop(dir: PathBuf, only_distinct: bool) {
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
    for m in messages(bytes) {
        if let Message::Request(r) = m {
            if r.operation.starts_with("command_inout") {
                return r.body().read_string().unwrap_or_default();
            }
        }
    }
    String::new()
}

/// `any_decode` inputs from the captures: the `any` of every command request and reply, the
/// attribute values of read replies and write requests; the flag octet keeps each one's
/// byte order and alignment within its message. Distinct TypeCode prefixes only.
fn any_seeds() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (name, _, bytes) in inputs() {
        for m in messages(&bytes) {
            let (le, raw, at) = match &m {
                Message::Request(r) if r.operation.starts_with("command_inout") => {
                    let mut b = r.body();
                    if b.read_string().is_err() {
                        continue;
                    }
                    (r.little_endian, &r.bytes, b.position())
                }
                Message::Request(r) if r.operation.starts_with("write_attributes") => (r.little_endian, &r.bytes, r.body_offset),
                Message::Reply(r) if r.status == 0 && (name.contains("command_inout") || name.contains("read_attributes")) => {
                    (r.little_endian, &r.bytes, r.body_offset)
                }
                _ => continue,
            };
            let Some(data) = raw.get(at..) else { continue };
            // de-duplicate on the TypeCode / first bytes: one seed per shape
            if !seen.insert(data[..data.len().min(48)].to_vec()) {
                continue;
            }
            let mut seed = vec![le as u8 | (((at % 8) as u8) << 1)];
            seed.extend_from_slice(data);
            out.insert(name.clone(), seed);
        }
    }
    out
}

/// `ior_parse` inputs: every `IOR:` string in the captures (DbImportDevice replies,
/// DbExportDevice requests), as text and as CDR.
fn ior_seeds() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (name, _, bytes) in inputs() {
        let mut i = 0;
        while let Some(off) = bytes[i..].windows(4).position(|w| w == b"IOR:") {
            let start = i + off;
            let end = bytes[start + 4..].iter().position(|b| !b.is_ascii_hexdigit()).map_or(bytes.len(), |e| start + 4 + e);
            let text = &bytes[start..end];
            i = end;
            if !seen.insert(text.to_vec()) {
                continue;
            }
            let k = seen.len();
            out.insert(format!("{name}-{k}-text"), [&[0u8][..], text].concat());
            if let Ok(ior) = tango::ior::Ior::parse(std::str::from_utf8(text).unwrap()) {
                let mut w = tango::cdr::CdrWriter::new();
                ior.encode_to(&mut w);
                out.insert(format!("{name}-{k}-cdr"), [&[3u8][..], w.as_bytes()].concat());
            }
        }
    }
    out
}

/// `db_mysql_select` inputs: the queries in the `db` capture (itango's), and variants.
fn sql_seeds() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (name, from_client, bytes) in inputs() {
        if !from_client {
            continue;
        }
        for m in messages(&bytes) {
            let Message::Request(r) = m else { continue };
            let mut b = r.body();
            if !r.operation.starts_with("command_inout") || b.read_string().as_deref() != Ok("DbMySqlSelect") {
                continue;
            }
            if let Ok(CmdValue::String(sql)) = tango::any::decode_any(&mut b) {
                out.insert(name.clone(), tango::cdr::string_to_latin1(&sql).into_owned());
            }
        }
    }
    for (name, sql) in [
        ("lower-semicolon", "select name, alias, server, class from device order by name;"),
        ("spaces", "  SELECT   name,alias FROM attribute_alias\n order by alias  "),
        ("no-select", "name, alias FROM attribute_alias order by alias"),
        ("other-table", "SELECT name FROM property_device WHERE device LIKE 'sys/%'"),
        ("injection", "SELECT name, alias, server, class FROM device order by name; DROP TABLE device"),
    ] {
        out.insert(name.to_string(), sql.as_bytes().to_vec());
    }
    out
}

fn write_map(target: &str, seeds: BTreeMap<String, Vec<u8>>) {
    let dir = fuzz_dir().join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(format!("{name}.bin")), bytes).unwrap();
    }
    eprintln!("wrote {} inputs to {}", seeds.len(), dir.display());
}

#[test]
#[ignore]
fn write_seeds() {
    write_giop(fuzz_dir().join("seeds").join("giop_decode"), true);
    write_map("any_decode", any_seeds());
    write_map("ior_parse", ior_seeds());
    write_map("db_mysql_select", sql_seeds());
}

#[test]
#[ignore]
fn write_corpus() {
    write_giop(fuzz_dir().join("corpus").join("giop_decode"), false);
}
