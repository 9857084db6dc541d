//! The spec: its typed model, the YAML loader and the schema generated from the model.

pub mod load;
pub mod model;

pub use load::Document;
pub use model::Spec;

use serde_json::Value;

/// The JSON Schema (2020-12) of the spec as `misp-gen schema` prints it: [`generate_schema`]'s
/// output, committed as `src/spec/schema.json` and embedded, so that a run parses 31 kB of JSON
/// instead of generating the schema from the model (half a millisecond of every `validate` and
/// `render`). The test `embedded_schema_is_the_generated_one` keeps the two equal; with
/// `MISP_GEN_UPDATE_SCHEMA=1` it rewrites the file instead.
pub const SCHEMA_JSON: &str = include_str!("schema.json");

/// The JSON Schema (2020-12) of the spec: [`SCHEMA_JSON`], parsed. No remote `$ref`.
#[must_use]
pub fn schema() -> Value {
    // The test pins that the embedded text parses (and equals the generated schema); should it
    // ever not, the schema is generated as before rather than validating against nothing.
    serde_json::from_str(SCHEMA_JSON).unwrap_or_else(|_| generate_schema())
}

/// The JSON Schema (2020-12) of the spec, generated from the typed model. No remote `$ref`.
#[must_use]
pub fn generate_schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Spec>().to_value();
    drop_null(&mut schema);
    schema
}

/// Optional fields are simply not required: drop the `null` alternative schemars gives them. An
/// `anyOf` would turn a precise "unknown field" error inside an optional block into a vague one,
/// and a spec never needs an explicit null (overlays delete with null before the check).
fn drop_null(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    map.insert("type".into(), t);
                }
            }
            let mut collapse = None;
            if let Some(Value::Array(branches)) = map.get_mut("anyOf") {
                branches.retain(|b| b.get("type").and_then(Value::as_str) != Some("null"));
                if branches.len() == 1 {
                    collapse = Some(branches.remove(0));
                }
            }
            if let Some(Value::Object(inner)) = collapse {
                map.remove("anyOf");
                for (k, val) in inner {
                    map.entry(k).or_insert(val);
                }
            }
            if map.get("default").is_some_and(Value::is_null) {
                map.remove("default");
            }
            for val in map.values_mut() {
                drop_null(val);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins that the embedded schema cannot drift from the model: it is exactly what `schemars`
    // generates from it, in the text `misp-gen schema` prints. After a change to the model,
    // `MISP_GEN_UPDATE_SCHEMA=1 cargo test --lib embedded_schema` rewrites `src/spec/schema.json`.
    #[test]
    fn embedded_schema_is_the_generated_one() {
        let generated = generate_schema();
        let mut text = serde_json::to_string_pretty(&generated).unwrap();
        text.push('\n');
        if std::env::var_os("MISP_GEN_UPDATE_SCHEMA").is_some() && text != SCHEMA_JSON {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/spec/schema.json");
            std::fs::write(path, &text).unwrap();
            return;
        }
        assert!(
            text == SCHEMA_JSON,
            "src/spec/schema.json is not the schema the model generates: rerun with MISP_GEN_UPDATE_SCHEMA=1 to rewrite it"
        );
        assert_eq!(schema(), generated);
    }
}
