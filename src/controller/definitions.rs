//! Workflow definitions: which (type, id, version) the controller may deploy and the
//! image of each, from a JSON file in the 2019 `workflows.json` format, validated
//! against `schemas/workflows.json` before use.

use crate::error::Result;
use serde_json::Value;
use std::collections::BTreeMap;

/// The JSON Schema of a definitions file.
pub const SCHEMA: &str = include_str!("../../schemas/workflows.json");
/// The definitions built in (the 2019 prototype's file).
pub const BUILTIN: &str = include_str!("workflows.json");

/// (type, id, version) → image.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    images: BTreeMap<(String, String, String), String>,
}

impl Definitions {
    /// Parse and validate a definitions file. Schema violations are an error (listing
    /// every violation with its location); entries naming an unknown repository are
    /// skipped with a warning, later duplicates replace earlier ones with a warning.
    pub fn parse(text: &str) -> Result<Self> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("workflow definitions are not valid JSON: {e}"))?;
        let schema: Value = serde_json::from_str(SCHEMA).expect("built-in schema is JSON");
        let validator = jsonschema::validator_for(&schema).map_err(|e| format!("built-in workflow schema: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("{}: {e}", if at.is_empty() { "/".to_string() } else { at })
            })
            .collect();
        if !errors.is_empty() {
            return Err(format!("workflow definitions do not match the schema: {}", errors.join("; ")).into());
        }
        let mut repos = BTreeMap::new();
        for r in doc["repositories"].as_array().into_iter().flatten() {
            repos.insert(r["name"].as_str().unwrap_or_default().to_string(), r["path"].as_str().unwrap_or_default().to_string());
        }
        let mut images = BTreeMap::new();
        for w in doc["workflows"].as_array().into_iter().flatten() {
            let kind = w["type"].as_str().unwrap_or("realtime");
            let id = w["id"].as_str().unwrap_or_default();
            let repo = w["repository"].as_str().unwrap_or_default();
            let Some(path) = repos.get(repo) else {
                tracing::warn!("workflow {kind}:{id}: unknown repository {repo:?}, entry skipped");
                continue;
            };
            let image = w["image"].as_str().unwrap_or_default();
            for v in w["versions"].as_array().into_iter().flatten() {
                let v = v.as_str().unwrap_or_default();
                let key = (kind.to_string(), id.to_string(), v.to_string());
                if images.insert(key, format!("{path}/{image}:{v}")).is_some() {
                    tracing::warn!("workflow {kind}:{id}:{v} defined more than once; the last definition is used");
                }
            }
        }
        Ok(Definitions { images })
    }

    /// From `path`, or the built-in definitions when `None`.
    pub fn load(path: Option<&str>) -> Result<Self> {
        match path {
            None => Self::parse(BUILTIN),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read workflow definitions {p}: {e}"))?;
                Self::parse(&text).map_err(|e| format!("{p}: {e}").into())
            }
        }
    }

    pub fn image(&self, kind: &str, id: &str, version: &str) -> Option<&str> {
        self.images.get(&(kind.to_string(), id.to_string(), version.to_string())).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_definitions_give_the_seed_image() {
        let d = Definitions::parse(BUILTIN).unwrap();
        assert_eq!(d.image("realtime", "testdask", "0.1.0"), Some("nexus.engageska-portugal.pt/sdp-prototype/workflow-testdask:0.1.0"));
        assert_eq!(
            d.image("realtime", "vis_receive", "0.1.0"),
            Some("nexus.engageska-portugal.pt/sdp-prototype/workflow-vis-receive:0.1.0")
        );
        assert_eq!(d.image("realtime", "testdask", "0.2.0"), None);
        assert_eq!(d.len(), 5);
    }

    #[test]
    fn schema_violations_are_reported_with_their_location() {
        let bad = r#"{"version": {"date-time": "x"}, "repositories": [], "workflows": [{"id": "a", "repository": "r", "image": "i", "versions": ["1"], "type": "streaming", "colour": 1}]}"#;
        let e = Definitions::parse(bad).unwrap_err().to_string();
        assert!(e.contains("/repositories"), "{e}");
        assert!(e.contains("/workflows/0/type"), "{e}");
        assert!(e.contains("colour"), "{e}");
        assert!(Definitions::parse("{").unwrap_err().to_string().contains("not valid JSON"));
        assert!(Definitions::parse(r#"{"version": {"date-time": "x"}}"#).is_err());
    }

    #[test]
    fn unknown_repository_is_skipped_and_type_defaults_to_realtime() {
        let text = r#"{"version": {"date-time": "x"}, "repositories": [{"name": "r", "path": "reg/p"}],
            "workflows": [{"id": "a", "repository": "r", "image": "img", "versions": ["1", "2"]},
                          {"id": "b", "repository": "nope", "image": "img", "versions": ["1"]}]}"#;
        let d = Definitions::parse(text).unwrap();
        assert_eq!(d.image("realtime", "a", "2"), Some("reg/p/img:2"));
        assert_eq!(d.image("realtime", "b", "1"), None);
    }
}
