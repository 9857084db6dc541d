//! Profiles (built-in or a user's file) and JSON Merge Patch (RFC 7386) of a spec's own overlays.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diag::{Code, Diagnostic};
use crate::spec::load::{self, Document, escape_segment};

/// The built-in profiles, embedded at build time.
pub const BUILTIN: &[(&str, &str)] = &[
    ("single-node", include_str!("../profiles/single-node.yaml")),
    ("ha", include_str!("../profiles/ha.yaml")),
];

/// A profile: defaults for what a spec leaves open, and rules the effective spec must follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    /// The profile's name: the key of the spec's overlay under `profiles:`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub defaults: Defaults,
    pub rules: Rules,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Replicas of replicable services that do not set `replicas`.
    pub replicas: u32,
    pub update: Update,
    pub disruption_budget: Budget,
    pub spread: Spread,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    pub strategy: Strategy,
    #[serde(default)]
    pub max_unavailable: u32,
    #[serde(default = "one")]
    pub max_surge: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Recreate,
    Rolling,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Budget {
    None(NoBudget),
    MinAvailable { min_available: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoBudget {
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Spread {
    None,
    Hosts,
    Zones,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub database: DatabaseRule,
    pub shared_volumes: bool,
    pub host_ports_on_replicated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseRule {
    Any,
    /// Only an external server.
    External,
    /// An external server or an embedded cluster (`database.cluster`); never a single embedded
    /// server.
    Replicated,
}

/// Where a profile comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Builtin(&'static str),
    File(std::path::PathBuf),
}

/// Find a profile by built-in name or path.
#[must_use]
pub fn find(name_or_path: &str) -> Option<Source> {
    if let Some((n, _)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        return Some(Source::Builtin(n));
    }
    let p = std::path::Path::new(name_or_path);
    let yaml_ext = p
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    if name_or_path.contains('/') || yaml_ext || p.exists() {
        return Some(Source::File(p.to_path_buf()));
    }
    None
}

/// Load and check a profile.
///
/// # Errors
/// Diagnostics located in the profile file, or an I/O error.
pub fn load(source: &Source) -> Result<(Profile, Document), ProfileError> {
    let (file, bytes): (String, Vec<u8>) = match source {
        Source::Builtin(name) => {
            let text = BUILTIN
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, t)| t);
            (
                format!("<built-in profile {name}>"),
                text.as_bytes().to_vec(),
            )
        }
        Source::File(p) => {
            let bytes =
                load::read_input(p).map_err(|e| ProfileError::Io(p.display().to_string(), e))?;
            (p.display().to_string(), bytes)
        }
    };
    let doc = load::load(&file, &bytes).map_err(|d| ProfileError::Invalid(vec![*d]))?;
    let de = serde_path_to_error::deserialize::<_, Profile>(&doc.value);
    match de {
        Ok(p) => {
            let mut diags = Vec::new();
            if p.api_version != "misp-gen/v1" {
                diags.push(profile_diag(
                    &doc,
                    "/apiVersion",
                    "a profile's apiVersion must be `misp-gen/v1`",
                ));
            }
            if p.kind != "Profile" {
                diags.push(profile_diag(
                    &doc,
                    "/kind",
                    "a profile's kind must be `Profile`",
                ));
            }
            if diags.is_empty() {
                Ok((p, doc))
            } else {
                Err(ProfileError::Invalid(diags))
            }
        }
        Err(e) => {
            let pointer = path_to_pointer(e.path());
            let msg = format!("invalid profile: {}", e.inner());
            Err(ProfileError::Invalid(vec![profile_diag(
                &doc, &pointer, &msg,
            )]))
        }
    }
}

fn profile_diag(doc: &Document, pointer: &str, message: &str) -> Diagnostic {
    Diagnostic {
        file: doc.file.clone(),
        pos: doc.pos(pointer),
        pointer: pointer.to_owned(),
        code: Code::SchemaOther,
        message: message.to_owned(),
        help: Some("see profiles/single-node.yaml for the format".into()),
    }
}

/// Turn a serde path (`a.b[0].c`) into a JSON pointer.
#[must_use]
pub fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Seq { index } => {
                out.push('/');
                out.push_str(&index.to_string());
            }
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&escape_segment(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {0}: {1}")]
    Io(String, std::io::Error),
    #[error("invalid profile")]
    Invalid(Vec<Diagnostic>),
}

/// The effective document: `base` with the overlay at `/profiles/<name>` merged on top (RFC 7386).
/// Nodes that come from the overlay keep the overlay's positions, so errors in them point there.
#[must_use]
pub fn apply_overlay(base: &Document, profile_name: &str) -> Document {
    let overlay_ptr = format!("/profiles/{}", escape_segment(profile_name));
    let Some(patch) = base.value.pointer(&overlay_ptr) else {
        return base.clone();
    };
    let patch = patch.clone();
    let mut out = base.clone();
    merge(
        &mut out.value,
        &patch,
        "",
        &overlay_ptr,
        &mut out.index,
        &base.index,
    );
    out
}

fn drop_under(index: &mut crate::spec::load::Index, ptr: &str) {
    let prefix = format!("{ptr}/");
    index.retain(|k, _| k != ptr && !k.starts_with(&prefix));
}

/// Whether `v` is a list or a mapping, the only nodes with nodes under them.
fn has_children(v: &Value) -> bool {
    matches!(v, Value::Array(_) | Value::Object(_))
}

fn copy_under(
    index: &mut crate::spec::load::Index,
    src: &crate::spec::load::Index,
    from: &str,
    to: &str,
) {
    let prefix = format!("{from}/");
    for (k, v) in src {
        if k == from {
            index.insert(to.to_owned(), *v);
        } else if let Some(rest) = k.strip_prefix(&prefix) {
            index.insert(format!("{to}/{rest}"), *v);
        }
    }
}

fn merge(
    target: &mut Value,
    patch: &Value,
    tptr: &str,
    pptr: &str,
    index: &mut crate::spec::load::Index,
    src: &crate::spec::load::Index,
) {
    let Value::Object(pmap) = patch else {
        // Only a list or a mapping has nodes under it in an index: a scalar replaced, or put in
        // place, is its own entry alone, without a pass over the whole index for what is under it.
        if has_children(target) {
            drop_under(index, tptr);
        } else {
            index.remove(tptr);
        }
        *target = patch.clone();
        if has_children(patch) {
            copy_under(index, src, pptr, tptr);
        } else if let Some(n) = src.get(pptr) {
            index.insert(tptr.to_owned(), *n);
        }
        return;
    };
    if !target.is_object() {
        if has_children(target) {
            drop_under(index, tptr);
        } else {
            index.remove(tptr);
        }
        *target = Value::Object(serde_json::Map::new());
        if let Some(n) = src.get(pptr) {
            index.insert(tptr.to_owned(), *n);
        }
    }
    if let Value::Object(tmap) = target {
        for (k, v) in pmap {
            let tchild = format!("{tptr}/{}", escape_segment(k));
            let pchild = format!("{pptr}/{}", escape_segment(k));
            if v.is_null() {
                match tmap.remove(k) {
                    Some(old) if has_children(&old) => drop_under(index, &tchild),
                    _ => {
                        index.remove(&tchild);
                    }
                }
            } else {
                let entry = tmap.entry(k.clone()).or_insert(Value::Null);
                merge(entry, v, &tchild, &pchild, index, src);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins RFC 7386 semantics (merge maps, null deletes, arrays replace) and that overlay nodes keep
    // the overlay's source positions.
    #[test]
    fn merge_patch_and_positions() {
        let src =
            "a: {b: 1, c: [1, 2], d: x}\nprofiles:\n  ha:\n    a: {b: 2, c: [3], d: null, e: y}\n";
        let doc = load::load("t.yaml", src.as_bytes()).expect("loads");
        let eff = apply_overlay(&doc, "ha");
        assert_eq!(
            eff.value["a"],
            serde_json::json!({"b": 2, "c": [3], "e": "y"})
        );
        assert_eq!(eff.pos("/a/b").line, 4);
        assert_eq!(eff.pos("/a/c/0").line, 4);
        assert!(!eff.index.contains_key("/a/d"));
        assert!(!eff.index.contains_key("/a/c/1"));
    }

    // Pins that both built-in profiles parse.
    #[test]
    fn builtins_load() {
        for (name, _) in BUILTIN {
            let (p, _) = load(&Source::Builtin(name)).expect("built-in profile loads");
            assert_eq!(p.name, *name);
        }
    }
}
