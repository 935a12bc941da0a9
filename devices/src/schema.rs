//! Validation of command arguments against the JSON Schemas in `schemas/` (embedded at build
//! time), with error texts that keep the 2019 device's prefixes and name the JSON path.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use sdp_config::{ProcessingBlock, Workflow};
use serde_json::Value;

/// `schemas/configure.json` (draft-07, the subarray 0.5.19 Configure shape).
pub const CONFIGURE_SCHEMA: &str = include_str!("../../schemas/configure.json");

/// `schemas/configure_scan.json` (draft-07, the subarray 0.5.19 ConfigureScan shape).
pub const CONFIGURE_SCAN_SCHEMA: &str = include_str!("../../schemas/configure_scan.json");

pub(crate) fn compile(text: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(text).expect("embedded schema is JSON");
    jsonschema::draft7::new(&schema).expect("embedded schema is a valid draft-07 schema")
}

fn configure_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| compile(CONFIGURE_SCHEMA))
}

fn configure_scan_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| compile(CONFIGURE_SCAN_SCHEMA))
}

/// A rejected argument: the text users see (2019 prefixes) and where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A JSON value the way Python prints it in jsonschema messages (`'configure'`, `1`).
fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn type_name(t: &jsonschema::JsonType) -> String {
    format!("'{t}'")
}

/// One validation error in the wording of Python's jsonschema (which the 2019 device
/// printed), plus the JSON path of the offending value.
pub(crate) fn describe(e: &jsonschema::ValidationError<'_>) -> String {
    let msg = match e.kind() {
        ValidationErrorKind::Required { property } => format!("{} is a required property", py_repr(property)),
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let names: Vec<String> = unexpected.iter().map(|n| format!("'{n}'")).collect();
            let verb = if names.len() == 1 { "was" } else { "were" };
            format!("Additional properties are not allowed ({} {verb} unexpected)", names.join(", "))
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => type_name(t),
                TypeKind::Multiple(ts) => {
                    let names: Vec<String> = ts.iter().map(|t| type_name(&t)).collect();
                    format!("[{}]", names.join(", "))
                }
            };
            format!("{} is not of type {expected}", py_repr(e.instance()))
        }
        _ => e.to_string(),
    };
    let path = e.instance_path().as_str().to_string();
    let path = if path.is_empty() { "/".to_string() } else { path };
    format!("{msg} (at JSON path {path})")
}

/// Python's `json.loads` wording for the commonest decode error, so that the 2019 text
/// `Unable to load JSON configuration: Expecting value` still appears.
pub(crate) fn decode_error(e: &serde_json::Error) -> String {
    let raw = e.to_string();
    let (line, col) = (e.line(), e.column());
    // serde says "expected ident" for `not json` (it tried `null`): Python says "Expecting value"
    if raw.starts_with("expected value") || raw.starts_with("expected ident") || raw.starts_with("EOF while parsing a value") {
        format!("Expecting value: line {line} column {col}")
    } else if raw.starts_with("EOF while parsing") {
        format!("Expecting value: line {line} column {col} (unexpected end of input)")
    } else {
        let mut c = raw.chars();
        match c.next() {
            Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
            None => raw,
        }
    }
}

/// Parse and validate a Configure argument. Errors carry the 2019 prefixes:
/// `Empty JSON configuration!`, `Unable to load JSON configuration: …`,
/// `Configure JSON validation error: …`.
pub fn parse_configure(arg: &str) -> Result<Value, Invalid> {
    parse_with(arg, configure_validator(), "Configure")
}

/// Parse and validate a ConfigureScan argument (same prefixes, `ConfigureScan JSON
/// validation error: …`).
pub fn parse_configure_scan(arg: &str) -> Result<Value, Invalid> {
    parse_with(arg, configure_scan_validator(), "ConfigureScan")
}

fn parse_with(arg: &str, validator: &jsonschema::Validator, what: &str) -> Result<Value, Invalid> {
    let v = read_json(arg, |a| serde_json::from_str::<Value>(a))?;
    validate(&v, validator, what)?;
    Ok(v)
}

/// The argument as JSON (`read`), with the 2019 texts for an empty or unreadable one.
fn read_json<T>(arg: &str, read: impl FnOnce(&str) -> Result<T, serde_json::Error>) -> Result<T, Invalid> {
    if arg.trim().is_empty() {
        return Err(Invalid("Empty JSON configuration!".into()));
    }
    read(arg).map_err(|e| Invalid(format!("Unable to load JSON configuration: {}", decode_error(&e))))
}

fn validate(v: &Value, validator: &jsonschema::Validator, what: &str) -> Result<(), Invalid> {
    let errors: Vec<String> = validator.iter_errors(v).map(|e| describe(&e)).collect();
    if let Some(first) = errors.first() {
        let more = if errors.len() > 1 { format!(" (and {} more: {})", errors.len() - 1, errors[1..].join("; ")) } else { String::new() };
        return Err(Invalid(format!("{what} JSON validation error: {first}{more}")));
    }
    Ok(())
}

/// Where a node of the Configure document is, for [`Ordered`]: the root, `configure`,
/// `configure.scanParameters`, or anywhere else.
#[derive(Clone, Copy, PartialEq)]
enum At {
    Root,
    Configure,
    ScanParameters,
    Elsewhere,
}

/// Reads a JSON document once into a [`Value`], noting the keys of
/// `configure.scanParameters` in document order on the way (serde_json's map is sorted, unless
/// its `preserve_order` feature is on, which would change every crate's maps).
struct Ordered<'a> {
    at: At,
    scan_keys: &'a mut Vec<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Ordered<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Ordered<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Value, S::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Ordered { at: At::Elsewhere, scan_keys: &mut *self.scan_keys })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Value, M::Error> {
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let child = match (self.at, k.as_str()) {
                (At::Root, "configure") => At::Configure,
                (At::Configure, "scanParameters") => At::ScanParameters,
                _ => At::Elsewhere,
            };
            if self.at == At::ScanParameters {
                self.scan_keys.push(k.clone());
            }
            let v = map.next_value_seed(Ordered { at: child, scan_keys: &mut *self.scan_keys })?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// The text as JSON, and the scan keys in document order.
fn read_ordered(arg: &str) -> Result<(Value, Vec<String>), serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut keys = Vec::new();
    let mut de = serde_json::Deserializer::from_str(arg);
    let v = Ordered { at: At::Root, scan_keys: &mut keys }.deserialize(&mut de)?;
    de.end()?;
    Ok((v, keys))
}

/// The keys of `configure.scanParameters` in document order. Empty if the argument has no
/// such object (or is not JSON).
pub fn scan_keys_in_order(arg: &str) -> Vec<String> {
    read_ordered(arg).map(|(_, keys)| keys).unwrap_or_default()
}

/// A Configure argument of the 2019 interface, read once and checked once: everything the
/// device needs, or one [`Invalid`] in the 2019 wording.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigureArg {
    /// The `configure` object.
    pub configure: Value,
    /// The processing block it describes (id, sbi id, workflow, parameters, scan parameters).
    pub pb: ProcessingBlock,
    pub sbi_id: String,
    /// The scan ids, in document order (the first is the current scan).
    pub scan_ids: Vec<i64>,
}

impl ConfigureArg {
    /// A receive workflow: Configure computes receive addresses for it.
    pub fn is_receive(&self) -> bool {
        matches!(self.pb.workflow.id.as_str(), "vis_receive" | "vis_ingest")
    }
}

/// Read and check a Configure argument. Errors carry the 2019 prefixes:
/// `Empty JSON configuration!`, `Unable to load JSON configuration: …`,
/// `Configure JSON validation error: …` (with the JSON path).
pub fn configure(arg: &str) -> Result<ConfigureArg, Invalid> {
    let (v, keys) = read_json(arg, read_ordered)?;
    validate(&v, configure_validator(), "Configure")?;
    let invalid = |what: String, at: &str| Invalid(format!("Configure JSON validation error: {what} (at JSON path {at})"));
    let c = &v["configure"];
    let Some(scans) = c.get("scanParameters").and_then(Value::as_object) else {
        return Err(invalid("'scanParameters' is a required property".into(), "/configure"));
    };
    let scan_ids = keys
        .iter()
        .map(|k| k.trim().parse::<i64>().map_err(|_| invalid(format!("scan id '{k}' is not an integer"), "/configure/scanParameters")))
        .collect::<Result<Vec<_>, _>>()?;
    let workflow = Workflow::from_value(&c["workflow"]).map_err(|e| invalid(e.to_string(), "/configure/workflow"))?;
    let pb_id = c["id"].as_str().unwrap_or_default();
    let sbi_id = c["sbiId"].as_str().unwrap_or_default().to_string();
    let mut pb =
        ProcessingBlock::new(pb_id, Value::String(sbi_id.clone()), workflow).map_err(|e| invalid(e.to_string(), "/configure/id"))?;
    pb.parameters = c["parameters"].clone();
    pb.scan_parameters = Value::Object(scans.clone());
    Ok(ConfigureArg { configure: c.clone(), pb, sbi_id, scan_ids })
}

#[cfg(test)]
mod tests {
    #[test]
    fn scan_keys_keep_document_order() {
        let arg = r#"{"configure": {"id": "x", "scanParameters": {"12345": {"a": 1}, "1": {}, "7": {}}, "parameters": {}}}"#;
        assert_eq!(super::scan_keys_in_order(arg), ["12345", "1", "7"]);
        assert!(super::scan_keys_in_order("{}").is_empty());
    }

    use super::*;

    const SEED: &str = r#"{ "configure": { "id": "xyz", "sbiId": "xyz", "workflow": { "type": "realtime", "version": "0.1.0", "id": "vis_receive" }, "parameters": {}, "scanParameters": { "1": {} } } }"#;

    #[test]
    fn the_seed_argument_is_valid() {
        let v = parse_configure(SEED).unwrap();
        assert_eq!(v["configure"]["id"], "xyz");
    }

    #[test]
    fn texts_keep_the_2019_prefixes_and_name_the_path() {
        assert_eq!(parse_configure("").unwrap_err().0, "Empty JSON configuration!");
        assert!(parse_configure("not json").unwrap_err().0.starts_with("Unable to load JSON configuration: Expecting value"));
        assert_eq!(
            parse_configure("{}").unwrap_err().0,
            "Configure JSON validation error: 'configure' is a required property (at JSON path /)"
        );
        let extra = SEED.replacen(r#""sbiId""#, r#""extra": 1, "sbiId""#, 1);
        assert_eq!(
            parse_configure(&extra).unwrap_err().0,
            "Configure JSON validation error: Additional properties are not allowed ('extra' was unexpected) (at JSON path /configure)"
        );
        let bad_type = SEED.replacen(r#""version": "0.1.0""#, r#""version": 1"#, 1);
        assert_eq!(
            parse_configure(&bad_type).unwrap_err().0,
            "Configure JSON validation error: 1 is not of type 'string' (at JSON path /configure/workflow/version)"
        );
        let no_wf_id = SEED.replacen(r#", "id": "vis_receive""#, "", 1);
        assert!(parse_configure(&no_wf_id).unwrap_err().0.contains("'id' is a required property (at JSON path /configure/workflow)"));
    }

    #[test]
    fn top_level_extras_allowed_and_scan_parameters_optional_in_the_schema() {
        let v = SEED.replacen("{ \"configure\"", "{ \"other\": 1, \"configure\"", 1);
        assert!(parse_configure(&v).is_ok());
        let v = SEED.replacen(r#", "scanParameters": { "1": {} }"#, "", 1);
        assert!(parse_configure(&v).is_ok());
        let v = SEED.replacen(r#""1": {}"#, r#""1": 5"#, 1);
        assert!(parse_configure(&v).unwrap_err().0.contains("/configure/scanParameters/1"));
    }
}

#[cfg(test)]
mod configure_once {
    use super::*;

    #[test]
    fn one_read_gives_the_pb_and_the_scan_order() {
        let arg = r#"{"configure": {"id": "pb-1", "sbiId": "sbi-1", "workflow": {"type": "realtime", "version": "0.1.0", "id": "vis_receive"},
                     "parameters": {"a": [1, 2.5, null, true]}, "scanParameters": {"12": {}, "3": {"x": 1}}}}"#;
        let c = configure(arg).unwrap();
        assert_eq!(c.scan_ids, [12, 3]);
        assert_eq!((c.pb.pb_id.as_str(), c.sbi_id.as_str(), c.pb.workflow.id.as_str()), ("pb-1", "sbi-1", "vis_receive"));
        assert_eq!(c.pb.parameters, serde_json::json!({"a": [1, 2.5, null, true]}));
        assert!(c.is_receive());
        // the ordered read gives the same value as serde_json's
        assert_eq!(read_ordered(arg).unwrap().0, serde_json::from_str::<Value>(arg).unwrap());
        assert_eq!(
            configure(&arg.replace(r#""3": {"x": 1}"#, r#""three": {}"#)).unwrap_err().0,
            "Configure JSON validation error: scan id 'three' is not an integer (at JSON path /configure/scanParameters)"
        );
        assert!(configure("[1] x").unwrap_err().0.starts_with("Unable to load JSON configuration: "));
    }
}
