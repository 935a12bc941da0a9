//! Validation of command arguments against the JSON Schemas in `schemas/` (embedded at build
//! time), with error texts that keep the 2019 device's prefixes and name the JSON path.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
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
    if arg.trim().is_empty() {
        return Err(Invalid("Empty JSON configuration!".into()));
    }
    let v: Value = serde_json::from_str(arg).map_err(|e| Invalid(format!("Unable to load JSON configuration: {}", decode_error(&e))))?;
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| describe(&e)).collect();
    if let Some(first) = errors.first() {
        let more = if errors.len() > 1 { format!(" (and {} more: {})", errors.len() - 1, errors[1..].join("; ")) } else { String::new() };
        return Err(Invalid(format!("{what} JSON validation error: {first}{more}")));
    }
    Ok(v)
}

/// The keys of `configure.scanParameters` in document order (serde_json's map is sorted
/// unless its `preserve_order` feature is on, which this crate does not switch on for the
/// whole workspace). Empty if the argument has no such object.
pub fn scan_keys_in_order(arg: &str) -> Vec<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, IgnoredAny)) = m.next_entry::<String, IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    #[derive(serde::Deserialize)]
    struct Conf {
        #[serde(rename = "scanParameters")]
        scan_parameters: Option<Keys>,
    }
    #[derive(serde::Deserialize)]
    struct Arg {
        configure: Option<Conf>,
    }
    serde_json::from_str::<Arg>(arg).ok().and_then(|a| a.configure).and_then(|c| c.scan_parameters).map(|k| k.0).unwrap_or_default()
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
