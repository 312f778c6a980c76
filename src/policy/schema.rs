//! A JSON Schema (draft 2020-12) of the policy file, generated from the key table the
//! loader reads, for editors (`# yaml-language-server: $schema=…`) and CI. It rejects
//! unknown keys, as the loader does; the loader checks more than a schema can say
//! (that a layout compiles, that a zone exists), so `sweep check` stays the last word.

use serde_json::{Map, Value, json};

use super::keys::{self, Key, Place, Shape};

/// Keys whose value may be a bare number (a count, or a size in bytes).
const NUMERIC: &[&str] = &["max_delete", "max_bytes", "min_free", "min_free_inodes"];

/// The schema of one value.
fn value(k: &Key) -> Value {
    let mut v = match k.shape {
        Shape::Text { pattern } => {
            // A plain `5000` in YAML is a number, and the loader takes it as text.
            let numeric = NUMERIC.contains(&k.name);
            let mut t = json!({"type": if numeric { json!(["string", "integer"]) } else { json!("string") }});
            if let Some(p) = pattern {
                t["pattern"] = json!(p);
            }
            t
        }
        Shape::Choice(words) => json!({"type": "string", "enum": words}),
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Count => json!({"type": "integer", "minimum": 0}),
        Shape::List => {
            let item = if k.name == "holidays" {
                json!({"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})
            } else {
                json!({"type": "string", "minLength": 1})
            };
            json!({"type": "array", "items": item})
        }
        // The mapping's own keys, so that `compress.format: xz` is caught by an editor
        // as it is by the loader.
        Shape::Map(sub) => object(sub, None, true),
    };
    v["description"] = json!(k.doc);
    if let Some(d) = k.default {
        v["default"] = match k.shape {
            Shape::Bool => json!(d == "true"),
            Shape::Count => d.parse::<u64>().map_or(json!(d), |n| json!(n)),
            _ => json!(d),
        };
    }
    v
}

fn object(keys: &[Key], place: Option<Place>, required: bool) -> Value {
    let mut props = Map::new();
    let mut req = Vec::new();
    for k in keys.iter().filter(|k| place.is_none_or(|p| p == Place::Policy || k.place == Place::Either)) {
        props.insert(k.name.to_string(), value(k));
        if required && k.required {
            req.push(k.name);
        }
    }
    let mut o = json!({"type": "object", "additionalProperties": false, "properties": props});
    if !req.is_empty() {
        o["required"] = json!(req);
    }
    o
}

/// The schema.
pub fn schema() -> Value {
    let mut defaults = object(keys::POLICY, Some(Place::Either), false);
    defaults["description"] = json!("Values for every policy of this file that does not set them.");
    let mut test = object(keys::TEST, None, true);
    let actions: Vec<&str> = crate::bucket::Action::ALL.iter().map(|a| a.as_str()).collect();
    test["properties"]["expect"] = json!({
        "type": "object",
        "description": keys::TEST[1].doc,
        "propertyNames": {"pattern": "^(/|s3://|gs://|az://)"},
        "additionalProperties": {"enum": actions}
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sweep policy file",
        "description": "Retention policies for sweep; see sweep.yaml(5).",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "policies"],
        "properties": {
            "version": {"const": 1, "description": keys::FILE[0].doc},
            "defaults": {"$ref": "#/$defs/defaults"},
            "policies": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/policy"}, "description": keys::FILE[2].doc},
            "tests": {"type": "array", "items": {"$ref": "#/$defs/test"}, "description": keys::FILE[3].doc}
        },
        "$defs": {
            "policy": object(keys::POLICY, None, true),
            "defaults": defaults,
            "test": test
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_key_is_in_the_schema_and_defaults_cannot_name_a_root() {
        let s = schema();
        for k in keys::POLICY {
            assert!(s["$defs"]["policy"]["properties"].get(k.name).is_some(), "{}", k.name);
            let in_defaults = s["$defs"]["defaults"]["properties"].get(k.name).is_some();
            assert_eq!(in_defaults, k.place == Place::Either, "{}", k.name);
        }
        assert_eq!(s["$defs"]["policy"]["additionalProperties"], false);
        assert_eq!(s["$defs"]["policy"]["required"], json!(["name", "root", "layouts", "keep"]));
    }
}
