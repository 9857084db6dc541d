//! Schema errors: the spec document checked against the JSON Schema, each error turned into a
//! located diagnostic with a message of our own (jsonschema's messages print the whole offending
//! value, which may be long or hold text the user would rather not see in CI logs).

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use crate::diag::{Code, Diagnostic, closest};
use crate::spec::Document;
use crate::spec::load::escape_segment;

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(crate::spec::schema)
}

/// Start compiling the schema on a thread of its own, so that it is ready (or nearly) by the time
/// the spec has been read and parsed: the compile is most of a small spec's validation.
pub fn warm() {
    let _ = std::thread::Builder::new().name("schema".into()).spawn(|| {
        let _ = validator();
    });
}

fn validator() -> Option<&'static jsonschema::Validator> {
    static VALIDATOR: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    VALIDATOR.get_or_init(|| compile(schema()).ok()).as_ref()
}

/// Where the spec schema is registered for [`compile`].
const SPEC_URI: &str = "urn:misp-gen:spec";

/// Compile the spec schema as a 2020-12 schema, without checking it against the 2020-12
/// meta-schema first: `jsonschema` does that for every schema it compiles, and building the
/// meta-schema's validator costs more than compiling the spec schema itself (1.2 ms of each run
/// against 0.5). The schema is built in (`spec::SCHEMA_JSON`) and
/// `the_spec_schema_is_valid_2020_12` checks it against the meta-schema once, in the tests.
///
/// The root compiled is a draft-07 `{"$ref": …}` to the spec schema, registered under
/// [`SPEC_URI`]: `jsonschema` checks that one-keyword root against the much smaller draft-07
/// meta-schema, and the spec schema, which names its own dialect (`$schema`), is compiled as
/// 2020-12. Formats are annotations, as 2020-12 has them by default (draft-07 asserts them).
fn compile(spec: &'static Value) -> Result<jsonschema::Validator, String> {
    let registry = jsonschema::Registry::new()
        .retrieve_known_draft_meta_schemas(false)
        .add(SPEC_URI, spec)
        .and_then(jsonschema::RegistryBuilder::prepare)
        .map_err(|e| e.to_string())?;
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(false)
        .with_registry(&registry)
        .build(&serde_json::json!({ "$ref": SPEC_URI }))
        .map_err(|e| e.to_string())
}

/// A schema error: the diagnostic, and the pointer of the node to prune so the rest can still be
/// read into the typed model.
pub struct SchemaError {
    pub diag: Diagnostic,
    pub prune: String,
}

/// A diagnostic at the node's value, and that node pruned.
fn at_node_impl(
    doc: &Document,
    out: &mut Vec<SchemaError>,
    ptr: String,
    code: Code,
    message: String,
) {
    out.push(SchemaError {
        diag: Diagnostic {
            file: doc.file.clone(),
            pos: doc.pos(&ptr),
            pointer: ptr.clone(),
            code,
            message,
            help: None,
        },
        prune: ptr,
    });
}

/// Check `doc` against the spec schema.
#[must_use]
#[expect(
    clippy::too_many_lines,
    reason = "one arm per kind of schema error reads best in one place"
)]
pub fn check(doc: &Document) -> Vec<SchemaError> {
    let Some(v) = validator() else {
        return vec![SchemaError {
            diag: Diagnostic {
                file: doc.file.clone(),
                pos: crate::diag::Pos::START,
                pointer: String::new(),
                code: Code::Other,
                message: "internal error: the built-in schema does not compile".into(),
                help: None,
            },
            prune: String::new(),
        }];
    };
    let mut out = Vec::new();
    let at_node = |out: &mut Vec<SchemaError>, ptr: String, code: Code, message: String| {
        at_node_impl(doc, out, ptr, code, message);
    };
    // Missing required fields by object, to merge "unknown `imgae`" with "missing `image`".
    let mut required: Vec<(String, String)> = Vec::new();
    // One validation pass; the list is walked three times below.
    let errors: Vec<_> = v.iter_errors(&doc.value).collect();
    for e in &errors {
        if let ValidationErrorKind::Required { property } = e.kind() {
            required.push((
                e.instance_path().as_str().to_owned(),
                property.as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    let mut merged: Vec<(String, String)> = Vec::new();
    for e in &errors {
        if let ValidationErrorKind::AdditionalProperties { unexpected } = e.kind() {
            let ptr = e.instance_path().as_str();
            let missing_here: Vec<&str> = required
                .iter()
                .filter(|(o, _)| o == ptr)
                .map(|(_, f)| f.as_str())
                .collect();
            for key in unexpected {
                if let Some(s) = closest(key, missing_here.iter().copied()) {
                    merged.push((ptr.to_owned(), s.to_owned()));
                }
            }
        }
    }
    for e in &errors {
        let ptr = e.instance_path().as_str().to_owned();
        let instance = e.instance();
        let mk = |pointer: String, pos, code, message: String| Diagnostic {
            file: doc.file.clone(),
            pos,
            pointer,
            code,
            message,
            help: None,
        };
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_fields(&ptr);
                for key in unexpected {
                    let p = format!("{ptr}/{}", escape_segment(key));
                    let mut d = mk(
                        p.clone(),
                        doc.key_pos(&p),
                        Code::SchemaUnknownField,
                        format!("unknown field `{key}`"),
                    );
                    if let Some(s) = closest(key, allowed.iter().map(String::as_str)) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    } else if key == "<<" {
                        d = d.with_help("YAML merge keys are YAML 1.1, not 1.2; write the keys out or use a profile overlay");
                    } else if !allowed.is_empty() {
                        d = d.with_help(format!("allowed here: {}", allowed.join(", ")));
                    }
                    out.push(SchemaError {
                        diag: d,
                        prune: (p),
                    });
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or("?");
                if merged.iter().any(|(o, f)| *o == ptr && f == name) {
                    continue;
                }
                let what = if ptr.is_empty() {
                    "the spec".to_owned()
                } else {
                    format!("`{}`", last_segment(&ptr))
                };
                out.push(SchemaError {
                    diag: mk(
                        ptr.clone(),
                        doc.key_pos(&ptr),
                        Code::SchemaMissingField,
                        format!("missing required field `{name}` in {what}"),
                    ),
                    prune: ptr.clone(),
                });
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => article(&t.to_string()),
                    TypeKind::Multiple(ts) => ts
                        .iter()
                        .map(|t| article(&t.to_string()))
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                let found = type_name(instance);
                let mut d = mk(
                    ptr.clone(),
                    doc.pos(&ptr),
                    Code::SchemaType,
                    format!("expected {expected}, found {found}"),
                );
                if expected.contains("string")
                    && matches!(instance.as_ref(), Value::Number(_) | Value::Bool(_))
                {
                    d = d.with_help("quote the value to make it a string (YAML reads 10.11 as a number and true as a boolean)");
                }
                out.push(SchemaError {
                    diag: d,
                    prune: (ptr),
                });
            }
            ValidationErrorKind::Enum { options } => {
                let opts: Vec<String> = options
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let got = instance
                    .as_str()
                    .map_or_else(|| type_name(instance), |s| format!("`{s}`"));
                let mut d = mk(
                    ptr.clone(),
                    doc.pos(&ptr),
                    Code::SchemaEnum,
                    format!(
                        "{got} is not allowed here; expected one of: {}",
                        opts.join(", ")
                    ),
                );
                if let Some(s) = instance
                    .as_str()
                    .and_then(|s| closest(s, opts.iter().map(String::as_str)))
                {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                out.push(SchemaError {
                    diag: d,
                    prune: (ptr),
                });
            }
            ValidationErrorKind::Constant { expected_value } => {
                at_node(
                    &mut out,
                    ptr,
                    Code::SchemaConst,
                    format!("must be `{}`", expected_value.as_str().unwrap_or("?")),
                );
            }
            ValidationErrorKind::Minimum { limit }
            | ValidationErrorKind::ExclusiveMinimum { limit } => {
                at_node(
                    &mut out,
                    ptr,
                    Code::SchemaRange,
                    format!("{instance} is too small (minimum {limit})"),
                );
            }
            ValidationErrorKind::Maximum { limit }
            | ValidationErrorKind::ExclusiveMaximum { limit } => {
                at_node(
                    &mut out,
                    ptr,
                    Code::SchemaRange,
                    format!("{instance} is too large (maximum {limit})"),
                );
            }
            ValidationErrorKind::Pattern { pattern } => {
                at_node(
                    &mut out,
                    ptr,
                    Code::SchemaPattern,
                    format!("does not match the required format `{pattern}`"),
                );
            }
            ValidationErrorKind::MinLength { limit } | ValidationErrorKind::MinItems { limit } => {
                at_node(
                    &mut out,
                    ptr,
                    Code::SchemaLength,
                    format!("too short (at least {limit})"),
                );
            }
            ValidationErrorKind::MaxLength { limit } | ValidationErrorKind::MaxItems { limit } => {
                at_node(
                    &mut out,
                    ptr,
                    Code::SchemaLength,
                    format!("too long (at most {limit})"),
                );
            }
            other => {
                let desc = describe(&ptr)
                    .unwrap_or_else(|| format!("fails the schema's `{}` rule", other.keyword()));
                at_node(
                    &mut out,
                    ptr,
                    Code::SchemaOther,
                    format!("expected {desc}, found {}", type_name(instance)),
                );
            }
        }
    }
    out
}

fn article(t: &str) -> String {
    match t {
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "integer" => "an integer".into(),
        "null" => "nothing".into(),
        other => format!("a {other}"),
    }
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "nothing (null)".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(n) if n.is_f64() => "a decimal number".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn last_segment(ptr: &str) -> String {
    ptr.rsplit('/')
        .next()
        .unwrap_or("")
        .replace("~1", "/")
        .replace("~0", "~")
}

/// The schema node that describes the instance at `pointer` (following `$ref`, `properties`,
/// `additionalProperties`, `items` and the object branch of `anyOf`).
fn schema_at(pointer: &str) -> Option<&'static Value> {
    let root = schema();
    let mut node = resolve(root, root)?;
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        let next = node
            .get("properties")
            .and_then(|p| p.get(&seg))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
            .or_else(|| node.get("items").filter(|a| a.is_object()))?;
        node = resolve(root, next)?;
    }
    Some(node)
}

fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> Option<&'a Value> {
    for _ in 0..16 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            node = root.pointer(r.strip_prefix('#')?)?;
        } else if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
            node = branches
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))?;
        } else {
            return Some(node);
        }
    }
    Some(node)
}

fn allowed_fields(pointer: &str) -> Vec<String> {
    schema_at(pointer)
        .and_then(|n| n.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn describe(pointer: &str) -> Option<String> {
    let root = schema();
    let mut node = resolve(root, root)?;
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        let next = node
            .get("properties")
            .and_then(|p| p.get(&seg))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
            .or_else(|| node.get("items").filter(|a| a.is_object()))?;
        node = next;
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let target = root.pointer(r.strip_prefix('#')?)?;
            if target.get("anyOf").is_some() {
                node = target;
            } else {
                node = resolve(root, target)?;
            }
        }
    }
    let d = node.get("description").and_then(Value::as_str)?;
    Some(d.trim_end_matches('.').to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins what `compile` leaves to the tests: the built-in schema is a valid 2020-12 schema,
    // and it compiles.
    #[test]
    fn the_spec_schema_is_valid_2020_12() {
        assert_eq!(
            schema()["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        jsonschema::meta::validate(schema()).expect("valid against the 2020-12 meta-schema");
        assert!(validator().is_some());
    }

    // Pins that the spec schema compiled through the draft-07 root reports what `jsonschema`
    // reports for it compiled directly (place, schema keyword and message of every error; only
    // the absolute keyword locations differ, which `check` never reads), on a spec with one
    // error of each kind `check` words and one it words generically.
    #[test]
    fn the_compiled_schema_reports_as_a_direct_compile() {
        let direct = jsonschema::validator_for(schema()).expect("compiles");
        let bad = serde_json::json!({
            "apiVersion": "misp-gen/v2",
            "name": 7,
            "profile": "nope",
            "params": { "a": [] },
            "volumes": { "v": { "size": "1Gi", "sharedd": true } },
            "services": {
                "web": {
                    "imagee": "x",
                    "replicas": -1,
                    "ports": [{ "name": "http", "port": 70000, "protocol": "sctp" }],
                    "healthcheck": { "tcp": 80, "exec": ["true"] },
                    "command": "not a list",
                    "resources": { "cpu": 0.5 }
                }
            }
        });
        let errors = |v: &jsonschema::Validator| {
            v.iter_errors(&bad)
                .map(|e| {
                    (
                        e.instance_path().as_str().to_owned(),
                        e.schema_path().as_str().to_owned(),
                        e.to_string(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let ours = errors(validator().expect("compiles"));
        assert!(ours.len() > 8, "{ours:?}");
        assert_eq!(ours, errors(&direct));
    }
}
