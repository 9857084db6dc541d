//! The spec: its typed model, the YAML loader and the schema generated from the model.

pub mod load;
pub mod model;

pub use load::Document;
pub use model::Spec;

use serde_json::Value;

/// The JSON Schema (2020-12) of the spec, generated from the typed model. No remote `$ref`.
#[must_use]
pub fn schema() -> Value {
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
