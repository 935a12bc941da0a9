//! The `configure_json` fuzz target (`fuzz/`) without libFuzzer: its body
//! (`fuzz/src/configure_json.rs`) runs here over the committed seeds
//! `fuzz/seeds/configure_json/` (the regression inputs of bugs the fuzzer found among them)
//! and anything in `fuzz/artifacts/configure_json/`, on a stable toolchain.
//!
//! The seeds are the Configure arguments of the spec and the acceptance tests, some with a
//! CBF output link map after a NUL:
//!   cargo test -p sdp-devices --test fuzz_seeds -- --ignored write_seeds

#[path = "../../fuzz/src/configure_json.rs"]
mod configure_json;

use std::path::PathBuf;

use serde_json::{json, Value};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("fuzz")
}

fn replay(kind: &str) -> usize {
    let dir = fuzz_dir().join(kind).join("configure_json");
    let Ok(rd) = std::fs::read_dir(&dir) else { return 0 };
    let mut n = 0;
    for e in rd {
        let p = e.unwrap().path();
        eprintln!("{kind}: {}", p.display());
        configure_json::run(&std::fs::read(&p).unwrap());
        n += 1;
    }
    n
}

#[test]
fn configure_json_runs_over_its_seeds_and_artifacts() {
    let n = replay("seeds");
    assert!(n >= 6, "only {n} configure_json seeds");
    replay("artifacts");
}

/// The same id twice in a row succeeds twice: the harness really resets between inputs
/// (otherwise every input after the first success would only test the FSM guard).
#[test]
fn configure_json_harness_starts_each_input_from_idle() {
    let arg = seed_arg("pb-twice", "testdask", "1");
    configure_json::run(arg.as_bytes());
    configure_json::run(arg.as_bytes());
    configure_json::run(b"not json");
}

fn seed_arg(pb_id: &str, workflow: &str, scan: &str) -> String {
    format!(
        r#"{{ "configure": {{ "id": "{pb_id}", "sbiId": "xyz", "workflow": {{ "type": "realtime", "version": "0.1.0", "id": "{workflow}" }}, "parameters": {{}}, "scanParameters": {{ "{scan}": {{}} }} }} }}"#
    )
}

/// CFG-TEST of the acceptance scenarios (tests/devices/conftest.py).
fn cfg_test(pb_id: &str) -> Value {
    json!({"configure": {
        "id": pb_id, "sbiId": "20190627-0001", "cspCbfOutlinkAddress": "mid_csp/elt/subarray01/cbfOutLink",
        "workflow": {"type": "realtime", "version": "0.1.0", "id": "vis_ingest"},
        "parameters": {"numStations": 4, "numPolarisations": 4, "numChannels": 93, "maxChannelsPerHost": 400,
                       "channelAveragingFactor": 8, "portOffset": 9000, "freqEndHz": 1050000000.0, "freqStartHz": 350000000.0,
                       "fields": {"0": {"name": "NGC6251", "dec": "89:15:51.4", "system": "ICRS", "ra": "2:31:50.91"}}},
        "scanParameters": {"4": {}}}})
}

/// LINK-SIMPLE of the acceptance scenarios: FSP 1 with seven channels on four links, FSP 2
/// without links.
fn link_simple() -> Value {
    let ch = |ids: &[i64]| -> Value { ids.iter().map(|i| json!({"bw": 53763, "cf": 350000000 + i * 1000, "chanID": i})).collect() };
    json!({"scanID": 4, "fsp": [
        {"fspID": 1, "frequencySliceID": 1, "cbfOutLink": [
            {"linkID": 1, "channel": ch(&[665])},
            {"linkID": 2, "channel": ch(&[681])},
            {"linkID": 3, "channel": ch(&[273, 313])},
            {"linkID": 4, "channel": ch(&[153, 529, 689])}]},
        {"fspID": 2, "frequencySliceID": 20, "cbfOutLink": []}]})
}

#[test]
#[ignore]
fn write_seeds() {
    let dir = fuzz_dir().join("seeds").join("configure_json");
    std::fs::create_dir_all(&dir).unwrap();
    let example = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/examples/configure_seed.json")).unwrap();
    let with_link = |arg: &Value, link: &Value| [arg.to_string().as_bytes(), &[0], link.to_string().as_bytes()].concat();
    let mut several = cfg_test("pb-hosts");
    several["configure"]["parameters"]["maxChannelsPerHost"] = json!(3);
    several["configure"]["parameters"]["numChannels"] = json!(8);
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("example-configure_seed", example),
        ("seed-vis_receive", seed_arg("xyz", "vis_receive", "1").into_bytes()),
        ("seed-testdask", seed_arg("pb-dask", "testdask", "12345").into_bytes()),
        ("bad-scan-id", seed_arg("pb-bad", "testdask", "one").into_bytes()),
        ("bad-pb-id", seed_arg("bad_id", "testdask", "1").into_bytes()),
        ("cfg-test", cfg_test("realtime-20190627-0001").to_string().into_bytes()),
        ("cfg-test-link-simple", with_link(&cfg_test("realtime-20190627-0002"), &link_simple())),
        ("cfg-test-several-hosts", with_link(&several, &link_simple())),
        ("empty", Vec::new()),
        ("not-json", b"not json".to_vec()),
    ];
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(format!("{name}.json")), bytes).unwrap();
    }
    eprintln!("wrote {} inputs to {}", seeds.len(), dir.display());
}
