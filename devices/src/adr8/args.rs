//! The arguments of the ADR-8 subarray's commands: telescope-model JSON, parsed once into
//! typed values, with one error type.
//!
//! Each argument names its schema in an `interface` key (`https://schema.skao.int/<name>/<v>`);
//! without one it is read as the oldest version supported, as TMC releases that predate the
//! key expect. The JSON Schemas are in `schemas/telmodel/` (embedded). A handler gets either a
//! value it can act on or an [`ArgError`] that names the JSON path and says what is allowed,
//! before anything changes.

use std::sync::OnceLock;

use sdp_config::{entity::dependencies_from_value, entity::script_from_value, ProcessingBlock};
use serde_json::{json, Map, Value};
use tango::DevFailed;

use crate::schema::{compile, decode_error, describe};

/// The reason of every argument error (stable; clients may match it).
pub const INVALID_ARGUMENT: &str = "SDP_InvalidArgument";

/// Where schema URIs live.
pub const SCHEMA_BASE: &str = "https://schema.skao.int/";

/// A refused argument: the command, where in the JSON (`/` for the whole), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    pub command: &'static str,
    pub path: String,
    pub what: String,
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} argument rejected at JSON path {}: {}; nothing was changed", self.command, self.path, self.what)
    }
}

impl ArgError {
    pub fn new(command: &'static str, path: impl Into<String>, what: impl Into<String>) -> ArgError {
        ArgError { command, path: path.into(), what: what.into() }
    }

    pub fn to_dev_failed(&self, class: &str) -> DevFailed {
        DevFailed::new(INVALID_ARGUMENT, self.to_string(), format!("{class}.{}()", self.command))
    }
}

/// One schema family: its name and the versions supported, oldest first.
struct Family {
    name: &'static str,
    versions: &'static [(&'static str, &'static str)],
}

const ASSIGNRES: Family = Family {
    name: "ska-sdp-assignres",
    versions: &[
        ("0.3", include_str!("../../../schemas/telmodel/ska-sdp-assignres-0.3.json")),
        ("0.4", include_str!("../../../schemas/telmodel/ska-sdp-assignres-0.4.json")),
        ("1.0", include_str!("../../../schemas/telmodel/ska-sdp-assignres-1.0.json")),
    ],
};
const RELEASERES: Family =
    Family { name: "ska-sdp-releaseres", versions: &[("0.4", include_str!("../../../schemas/telmodel/ska-sdp-releaseres-0.4.json"))] };
const CONFIGURE: Family =
    Family { name: "ska-sdp-configure", versions: &[("0.4", include_str!("../../../schemas/telmodel/ska-sdp-configure-0.4.json"))] };
const SCAN: Family = Family { name: "ska-sdp-scan", versions: &[("0.4", include_str!("../../../schemas/telmodel/ska-sdp-scan-0.4.json"))] };

/// The compiled validator of (family, version), built once.
fn validator(family: &Family, version: &str) -> &'static jsonschema::Validator {
    static ALL: OnceLock<std::sync::Mutex<std::collections::HashMap<String, &'static jsonschema::Validator>>> = OnceLock::new();
    let key = format!("{}/{version}", family.name);
    let mut map = ALL.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    map.entry(key).or_insert_with(|| {
        let text = family.versions.iter().find(|(v, _)| *v == version).expect("a supported version").1;
        Box::leak(Box::new(compile(text)))
    })
}

/// Parse `arg`, pick the schema its `interface` names, validate. Returns the value and the
/// version used.
fn parse(command: &'static str, family: &Family, arg: &str) -> Result<(Value, &'static str), ArgError> {
    if arg.trim().is_empty() {
        return Err(ArgError::new(command, "/", "the argument is empty; a JSON object is required"));
    }
    let v: Value = serde_json::from_str(arg).map_err(|e| ArgError::new(command, "/", format!("not valid JSON ({})", decode_error(&e))))?;
    if !v.is_object() {
        return Err(ArgError::new(command, "/", "the argument must be a JSON object"));
    }
    let supported = || family.versions.iter().map(|(ver, _)| format!("{SCHEMA_BASE}{}/{ver}", family.name)).collect::<Vec<_>>().join(", ");
    let version = match v.get("interface") {
        None => family.versions[0].0,
        Some(Value::String(uri)) => {
            let ver = uri.strip_prefix(SCHEMA_BASE).and_then(|rest| rest.strip_prefix(family.name)).and_then(|rest| rest.strip_prefix('/'));
            match ver.and_then(|ver| family.versions.iter().find(|(v, _)| *v == ver)) {
                Some((v, _)) => v,
                None => {
                    return Err(ArgError::new(command, "/interface", format!("unsupported interface {uri:?}; supported: {}", supported())))
                }
            }
        }
        Some(other) => {
            return Err(ArgError::new(command, "/interface", format!("{other} is not a schema URI; supported: {}", supported())))
        }
    };
    if let Some(first) = validator(family, version).iter_errors(&v).next() {
        let text = describe(&first);
        // `describe` ends with "(at JSON path P)": split it into what and where
        let (what, path) = match text.rsplit_once(" (at JSON path ") {
            Some((what, rest)) => (what.to_string(), rest.trim_end_matches(')').to_string()),
            None => (text, "/".to_string()),
        };
        return Err(ArgError::new(command, path, format!("{what} (schema {SCHEMA_BASE}{}/{version})", family.name)));
    }
    Ok((v, version))
}

fn transaction_id(v: &Value) -> Option<String> {
    v.get("transaction_id").and_then(Value::as_str).map(str::to_string)
}

/// The script whose processing block publishes the receive addresses.
pub const RECEIVE_SCRIPT: &str = "vis_receive";

/// AssignResources: an execution block and its processing blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    pub version: &'static str,
    pub transaction_id: Option<String>,
    pub eb_id: String,
    /// What is stored at `/eb/<eb_id>`: the execution block as given, with `resources`.
    pub eb: Value,
    pub pbs: Vec<ProcessingBlock>,
    /// The real-time receive PB, whose state publishes the receive addresses.
    pub receive_pb: Option<String>,
}

pub fn assign_resources(arg: &str) -> Result<Assign, ArgError> {
    const CMD: &str = "AssignResources";
    let (v, version) = parse(CMD, &ASSIGNRES, arg)?;
    // 0.3 is flat (eb_id at the top; PBs name a `workflow`); later ones nest the EB and name a `script`
    let (eb, script_key) = if version == "0.3" {
        let mut eb = Map::new();
        for k in ["eb_id", "max_length", "scan_types"] {
            eb.insert(k.into(), v[k].clone());
        }
        for (k, empty) in
            [("context", json!({})), ("beams", json!([])), ("channels", json!([])), ("polarisations", json!([])), ("fields", json!([]))]
        {
            eb.insert(k.into(), empty);
        }
        eb.insert("resources".into(), json!({}));
        (Value::Object(eb), "workflow")
    } else {
        let mut eb = v["execution_block"].clone();
        eb["resources"] = v.get("resources").cloned().unwrap_or_else(|| json!({}));
        (eb, "script")
    };
    let eb_id = eb["eb_id"].as_str().unwrap_or_default().to_string();
    let mut pbs: Vec<ProcessingBlock> = Vec::new();
    for (i, p) in v["processing_blocks"].as_array().into_iter().flatten().enumerate() {
        let at = |k: &str| format!("/processing_blocks/{i}/{k}");
        let pb_id = p["pb_id"].as_str().unwrap_or_default();
        if pbs.iter().any(|q| q.pb_id == pb_id) {
            return Err(ArgError::new(CMD, at("pb_id"), format!("pb_id {pb_id} appears twice; each processing block needs its own id")));
        }
        let script = script_from_value(&p[script_key]).map_err(|e| ArgError::new(CMD, at(script_key), e.to_string()))?;
        let deps = dependencies_from_value(p.get("dependencies").unwrap_or(&json!([])))
            .map_err(|e| ArgError::new(CMD, at("dependencies"), e.to_string()))?;
        let params = p.get("parameters").cloned().unwrap_or_else(|| json!({}));
        let pb =
            ProcessingBlock::for_script(pb_id, &eb_id, script, params, deps).map_err(|e| ArgError::new(CMD, at("pb_id"), e.to_string()))?;
        pbs.push(pb);
    }
    for (i, pb) in pbs.iter().enumerate() {
        for d in &pb.dependencies {
            if !pbs.iter().any(|q| q.pb_id == d.pb_id) {
                return Err(ArgError::new(
                    CMD,
                    format!("/processing_blocks/{i}/dependencies"),
                    format!("processing block {} depends on {}, which is not one of this execution block's", pb.pb_id, d.pb_id),
                ));
            }
        }
    }
    let receive_pb = pbs.iter().find(|p| p.workflow.kind == "realtime" && p.workflow.id == RECEIVE_SCRIPT).map(|p| p.pb_id.clone());
    Ok(Assign { version, transaction_id: transaction_id(&v), eb_id, eb, pbs, receive_pb })
}

/// ReleaseResources.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub transaction_id: Option<String>,
    pub release_all: bool,
}

pub fn release_resources(arg: &str) -> Result<Release, ArgError> {
    let (v, _) = parse("ReleaseResources", &RELEASERES, arg)?;
    Ok(Release { transaction_id: transaction_id(&v), release_all: v.get("release_all").and_then(Value::as_bool).unwrap_or(true) })
}

/// Configure: the scan type to configure, and scan types to add to the execution block.
#[derive(Debug, Clone, PartialEq)]
pub struct Configure {
    pub transaction_id: Option<String>,
    pub scan_type: String,
    pub new_scan_types: Vec<Value>,
}

pub fn configure(arg: &str) -> Result<Configure, ArgError> {
    let (v, _) = parse("Configure", &CONFIGURE, arg)?;
    Ok(Configure {
        transaction_id: transaction_id(&v),
        scan_type: v["scan_type"].as_str().unwrap_or_default().to_string(),
        new_scan_types: v.get("new_scan_types").and_then(Value::as_array).cloned().unwrap_or_default(),
    })
}

impl Configure {
    /// Check the scan type against the execution block's scan types (and the new ones).
    pub fn check_scan_type(&self, eb: &Value) -> Result<(), ArgError> {
        let ids = |list: &[Value]| list.iter().filter_map(|t| t["scan_type_id"].as_str().map(str::to_string)).collect::<Vec<_>>();
        let mut known = ids(eb["scan_types"].as_array().map(Vec::as_slice).unwrap_or_default());
        known.extend(ids(&self.new_scan_types));
        if known.contains(&self.scan_type) {
            Ok(())
        } else {
            Err(ArgError::new(
                "Configure",
                "/scan_type",
                format!(
                    "scan type {:?} is not one of the execution block's ({}); add it with new_scan_types",
                    self.scan_type,
                    known.join(", ")
                ),
            ))
        }
    }
}

/// Scan: the scan id.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub transaction_id: Option<String>,
    pub scan_id: i64,
}

pub fn scan(arg: &str) -> Result<Scan, ArgError> {
    let (v, _) = parse("Scan", &SCAN, arg)?;
    Ok(Scan { transaction_id: transaction_id(&v), scan_id: v["scan_id"].as_i64().unwrap_or_default() })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An AssignResources argument (0.4) with a receive PB and a batch PB depending on it.
    pub fn assign_04(eb_id: &str, pb: &str) -> String {
        json!({
            "interface": "https://schema.skao.int/ska-sdp-assignres/0.4",
            "transaction_id": "txn-test-20210630-00000000",
            "resources": {"receptors": ["SKA001", "SKA002"], "receive_nodes": 1},
            "execution_block": {
                "eb_id": eb_id, "max_length": 100.0, "context": {},
                "beams": [{"beam_id": "vis0", "function": "visibilities"}],
                "scan_types": [{"scan_type_id": "science", "beams": {"vis0": {"channels_id": "vis_channels", "polarisations_id": "all"}}}],
                "channels": [{"channels_id": "vis_channels", "spectral_windows": [{"spectral_window_id": "fsp_1_channels", "count": 4, "start": 0, "stride": 2}]}],
                "polarisations": [{"polarisations_id": "all", "corr_type": ["XX", "XY", "YX", "YY"]}],
                "fields": [{"field_id": "field_a", "phase_dir": {"ra": [123.0], "dec": [-60.0], "reference_time": "...", "reference_frame": "ICRF3"}}]
            },
            "processing_blocks": [
                {"pb_id": format!("{pb}-rt"), "script": {"kind": "realtime", "name": "vis_receive", "version": "0.1.0"}, "parameters": {}},
                {"pb_id": format!("{pb}-b"), "script": {"kind": "batch", "name": "testdask", "version": "0.1.0"}, "parameters": {},
                 "dependencies": [{"pb_id": format!("{pb}-rt"), "kind": ["visibilities"]}]}
            ]
        })
        .to_string()
    }

    #[test]
    fn assign_04_parses_into_an_eb_and_script_pbs() {
        let a = assign_resources(&assign_04("eb-test-20210630-00000", "pb-test")).unwrap();
        assert_eq!((a.version, a.eb_id.as_str()), ("0.4", "eb-test-20210630-00000"));
        assert_eq!(a.transaction_id.as_deref(), Some("txn-test-20210630-00000000"));
        assert_eq!(a.eb["resources"]["receptors"], json!(["SKA001", "SKA002"]));
        assert_eq!(a.pbs.len(), 2);
        assert_eq!(a.receive_pb.as_deref(), Some("pb-test-rt"));
        assert_eq!(a.pbs[1].dependencies[0].pb_id, "pb-test-rt");
        assert_eq!(a.pbs[1].eb_id.as_deref(), Some("eb-test-20210630-00000"));
    }

    #[test]
    fn interface_chooses_the_schema_and_absent_is_the_oldest() {
        // 0.3 (flat): accepted without an interface key, refused when it claims 0.4
        let flat = json!({"eb_id": "eb-1", "max_length": 10.0, "scan_types": [{"scan_type_id": "science"}],
                          "processing_blocks": [{"pb_id": "pb-1", "workflow": {"kind": "realtime", "name": "vis_receive", "version": "0.1.0"}}]});
        let a = assign_resources(&flat.to_string()).unwrap();
        assert_eq!((a.version, a.receive_pb.as_deref()), ("0.3", Some("pb-1")));
        assert_eq!(a.eb["beams"], json!([]));
        let mut claimed = flat.clone();
        claimed["interface"] = json!("https://schema.skao.int/ska-sdp-assignres/0.4");
        let e = assign_resources(&claimed.to_string()).unwrap_err();
        assert_eq!(e.path, "/");
        assert!(e.what.starts_with("'execution_block' is a required property"), "{e}");
        let mut unknown = flat;
        unknown["interface"] = json!("https://schema.skao.int/ska-sdp-assignres/9.9");
        let e = assign_resources(&unknown.to_string()).unwrap_err();
        assert_eq!(e.path, "/interface");
        assert!(e.what.contains("supported: https://schema.skao.int/ska-sdp-assignres/0.3, https://schema.skao.int/ska-sdp-assignres/0.4, https://schema.skao.int/ska-sdp-assignres/1.0"), "{e}");
        // 1.0: phase_dir has target_name/reference_frame/attrs
        let mut v: Value = serde_json::from_str(&assign_04("eb-2", "pb-2")).unwrap();
        v["interface"] = json!("https://schema.skao.int/ska-sdp-assignres/1.0");
        let e = assign_resources(&v.to_string()).unwrap_err();
        assert_eq!(e.path, "/execution_block/fields/0/phase_dir");
        v["execution_block"]["fields"][0]["phase_dir"] =
            json!({"target_name": "a", "reference_frame": "icrs", "attrs": {"c1": 1.0, "c2": 2.0}});
        assert_eq!(assign_resources(&v.to_string()).unwrap().version, "1.0");
    }

    #[test]
    fn errors_name_the_json_path() {
        let bad = assign_04("eb-1", "pb-1").replace("\"realtime\"", "\"streaming\"");
        let e = assign_resources(&bad).unwrap_err();
        assert_eq!(e.path, "/processing_blocks/0/script/kind");
        let df = e.to_dev_failed("SDPSubarray");
        assert_eq!(df.errors[0].reason, INVALID_ARGUMENT);
        assert!(
            df.errors[0].desc.starts_with("AssignResources argument rejected at JSON path /processing_blocks/0/script/kind: "),
            "{}",
            df.errors[0].desc
        );
        assert!(df.errors[0].desc.ends_with("; nothing was changed"));
        let mut twice: Value = serde_json::from_str(&assign_04("eb-1", "pb-1")).unwrap();
        twice["processing_blocks"][1]["pb_id"] = json!("pb-1-rt");
        assert_eq!(assign_resources(&twice.to_string()).unwrap_err().path, "/processing_blocks/1/pb_id");
        let mut orphan: Value = serde_json::from_str(&assign_04("eb-1", "pb-1")).unwrap();
        orphan["processing_blocks"][1]["dependencies"][0]["pb_id"] = json!("pb-9");
        assert_eq!(assign_resources(&orphan.to_string()).unwrap_err().path, "/processing_blocks/1/dependencies");
        assert_eq!(assign_resources("").unwrap_err().what, "the argument is empty; a JSON object is required");
        assert!(assign_resources("{").unwrap_err().what.starts_with("not valid JSON"));
        assert_eq!(assign_resources("[]").unwrap_err().what, "the argument must be a JSON object");
        let bad_id = assign_04("eb_1", "pb-1");
        assert_eq!(assign_resources(&bad_id).unwrap_err().path, "/execution_block/eb_id");
    }

    #[test]
    fn configure_scan_release() {
        let c = configure(r#"{"interface": "https://schema.skao.int/ska-sdp-configure/0.4", "scan_type": "science"}"#).unwrap();
        assert_eq!(c.scan_type, "science");
        let eb = json!({"scan_types": [{"scan_type_id": "science"}]});
        assert!(c.check_scan_type(&eb).is_ok());
        let other = configure(r#"{"scan_type": "cal"}"#).unwrap();
        let e = other.check_scan_type(&eb).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.what.as_str()),
            ("/scan_type", "scan type \"cal\" is not one of the execution block's (science); add it with new_scan_types")
        );
        let added = configure(r#"{"scan_type": "cal", "new_scan_types": [{"scan_type_id": "cal", "beams": {}}]}"#).unwrap();
        assert!(added.check_scan_type(&eb).is_ok());
        assert_eq!(
            configure("{}").unwrap_err().what,
            "'scan_type' is a required property (schema https://schema.skao.int/ska-sdp-configure/0.4)"
        );
        assert_eq!(scan(r#"{"scan_id": 7}"#).unwrap().scan_id, 7);
        assert_eq!(scan(r#"{"scan_id": "7"}"#).unwrap_err().path, "/scan_id");
        assert!(
            release_resources(r#"{"interface": "https://schema.skao.int/ska-sdp-releaseres/0.4", "release_all": true}"#)
                .unwrap()
                .release_all
        );
        assert!(release_resources("{}").unwrap().release_all);
    }
}
