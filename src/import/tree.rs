//! A compose file as a tree of located values (each node knows its file, line:col and pointer),
//! YAML merge keys (`<<`) applied, and several files merged as Compose merges them.

use serde_json::{Number, Value};

use crate::diag::Pos;
use crate::spec::load::{Document, escape_segment};

/// Where a node is: which input file, the key's and the value's positions, its pointer there.
#[derive(Debug, Clone)]
pub struct Loc {
    pub file: usize,
    pub key: Pos,
    pub pos: Pos,
    pub ptr: String,
    /// Character range of a scalar in its file's source (to keep it out of printed excerpts).
    pub chars: Option<(usize, usize)>,
}

/// A located value.
#[derive(Debug, Clone)]
pub struct Node {
    pub v: V,
    pub at: Loc,
}

#[derive(Debug, Clone)]
pub enum V {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The entry `key` of a mapping.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.v {
            V::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, n)| n),
            _ => None,
        }
    }

    #[must_use]
    pub fn entries(&self) -> &[(String, Node)] {
        match &self.v {
            V::Map(m) => m,
            _ => &[],
        }
    }

    #[must_use]
    pub fn items(&self) -> &[Node] {
        match &self.v {
            V::Seq(s) => s,
            _ => &[],
        }
    }

    #[must_use]
    pub fn is_map(&self) -> bool {
        matches!(self.v, V::Map(_))
    }

    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match &self.v {
            V::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text (numbers and booleans as YAML writes them); `None` for null and collections.
    #[must_use]
    pub fn text(&self) -> Option<String> {
        match &self.v {
            V::Str(s) => Some(s.clone()),
            V::Num(n) => Some(n.to_string()),
            V::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match &self.v {
            V::Bool(b) => Some(*b),
            V::Str(s) if s == "true" => Some(true),
            V::Str(s) if s == "false" => Some(false),
            _ => None,
        }
    }

    /// What kind of value it is, for messages.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self.v {
            V::Null => "null",
            V::Bool(_) => "a boolean",
            V::Num(_) => "a number",
            V::Str(_) => "a string",
            V::Seq(_) => "a list",
            V::Map(_) => "a mapping",
        }
    }
}

/// The tree of a loaded document, `<<` merge keys applied (explicit keys win, then the merged
/// mappings in order).
#[must_use]
pub fn from_doc(doc: &Document, file: usize) -> Node {
    build(doc, file, &doc.value, "")
}

fn build(doc: &Document, file: usize, v: &Value, ptr: &str) -> Node {
    let (key, pos, chars) = match doc.lookup(ptr) {
        Some(n) => (n.key.unwrap_or(n.value), n.value, n.chars),
        None => (Pos::START, Pos::START, None),
    };
    // A node under an alias has no entry of its own: it takes its ancestor's position, and no
    // character range (that range would be the ancestor's).
    let chars = if doc.index.contains_key(ptr) {
        chars
    } else {
        None
    };
    let at = Loc {
        file,
        key,
        pos,
        ptr: ptr.to_owned(),
        chars,
    };
    let v = match v {
        Value::Null => V::Null,
        Value::Bool(b) => V::Bool(*b),
        Value::Number(n) => V::Num(n.clone()),
        Value::String(s) => V::Str(s.clone()),
        Value::Array(a) => V::Seq(
            a.iter()
                .enumerate()
                .map(|(i, x)| build(doc, file, x, &format!("{ptr}/{i}")))
                .collect(),
        ),
        Value::Object(m) => {
            let mut entries: Vec<(String, Node)> = Vec::new();
            let mut merged: Vec<Node> = Vec::new();
            for (k, x) in m {
                let child = build(doc, file, x, &format!("{ptr}/{}", escape_segment(k)));
                if k == "<<" {
                    match child.v {
                        V::Map(_) => merged.push(child),
                        V::Seq(items) => merged.extend(items.into_iter().filter(Node::is_map)),
                        _ => entries.push((k.clone(), child)),
                    }
                } else {
                    entries.push((k.clone(), child));
                }
            }
            for m in merged {
                if let V::Map(es) = m.v {
                    for (k, x) in es {
                        if !entries.iter().any(|(e, _)| *e == k) {
                            entries.push((k, x));
                        }
                    }
                }
            }
            V::Map(entries)
        }
    };
    Node { v, at }
}

/// Apply `f` to every string value (not keys) of the tree, in place, collecting the failures.
pub fn map_strings<E>(
    node: &mut Node,
    f: &mut dyn FnMut(&str, &Loc) -> Result<String, E>,
    errors: &mut Vec<E>,
) {
    match &mut node.v {
        V::Str(s) => match f(s, &node.at) {
            Ok(n) => *s = n,
            Err(e) => errors.push(e),
        },
        V::Seq(items) => {
            for i in items {
                map_strings(i, f, errors);
            }
        }
        V::Map(entries) => {
            for (_, x) in entries {
                map_strings(x, f, errors);
            }
        }
        _ => {}
    }
}

/// Compose's merge of an override file into what came before: mappings merge key by key;
/// `command`, `entrypoint` and a health check's `test` are replaced whole; `ports`, `volumes`,
/// `secrets` and `configs` are appended, an entry with the same target replacing the earlier one;
/// other lists are appended, repeats dropped. `environment`, `labels` and `depends_on` are
/// mappings by then (see `normalize`), so they merge key by key.
pub fn merge(base: &mut Node, over: Node, path: &[&str]) {
    match (&mut base.v, over.v) {
        (V::Map(b), V::Map(o)) => {
            for (k, x) in o {
                let mut sub: Vec<&str> = path.to_vec();
                sub.push(&k);
                if let Some((_, existing)) = b.iter_mut().find(|(e, _)| *e == k) {
                    merge(existing, x, &sub);
                } else {
                    b.push((k, x));
                }
            }
        }
        (V::Seq(b), V::Seq(o)) if !replaced_whole(path) => {
            let keyed = unique_by_target(path);
            for x in o {
                if keyed {
                    let t = target_of(&x);
                    if t.is_some()
                        && let Some(slot) = b.iter_mut().find(|e| target_of(e) == t)
                    {
                        *slot = x;
                        continue;
                    }
                } else if let Some(t) = x.text()
                    && b.iter().any(|e| e.text().as_deref() == Some(t.as_str()))
                {
                    continue;
                }
                b.push(x);
            }
        }
        (_, v) => {
            base.v = v;
            base.at = over.at;
        }
    }
}

fn replaced_whole(path: &[&str]) -> bool {
    matches!(
        path,
        ["services", _, "command" | "entrypoint" | "profiles"]
            | ["services", _, "healthcheck", "test"]
    )
}

fn unique_by_target(path: &[&str]) -> bool {
    matches!(
        path,
        ["services", _, "ports" | "volumes" | "secrets" | "configs"]
    )
}

/// The key Compose merges `ports`, `volumes`, `secrets` and `configs` entries by: the container
/// side of the short form, or `target` (`source` for secrets without one) of the long form.
fn target_of(n: &Node) -> Option<String> {
    match &n.v {
        V::Str(s) => {
            // `src:dst[:mode]` (volumes), `[ip:]host:container[/proto]` (ports), `name` (secrets).
            let parts: Vec<&str> = s.split(':').collect();
            // A volume's mode (`ro`, `rw`, `z`…) is last; the target is before it.
            let last = parts[parts.len() - 1];
            Some(
                if parts.len() >= 3
                    && !last.starts_with('/')
                    && !last.chars().any(|c| c.is_ascii_digit())
                {
                    parts[parts.len() - 2].to_owned()
                } else {
                    last.to_owned()
                },
            )
        }
        V::Num(x) => Some(x.to_string()),
        V::Map(_) => n
            .get("target")
            .or_else(|| n.get("source"))
            .and_then(Node::text),
        _ => None,
    }
}

/// Turn the list forms Compose also accepts into mappings, so that files merge key by key:
/// `environment` and `labels` (`- K=V`, `- K`), and `depends_on` (`- svc`).
pub fn normalize(root: &mut Node) {
    let V::Map(top) = &mut root.v else { return };
    for (k, services) in top.iter_mut() {
        if k != "services" {
            continue;
        }
        let V::Map(list) = &mut services.v else {
            continue;
        };
        for (_, svc) in list.iter_mut() {
            let V::Map(keys) = &mut svc.v else { continue };
            for (key, val) in keys.iter_mut() {
                match key.as_str() {
                    "environment" | "labels" => list_to_map(val, true),
                    "depends_on" => list_to_map(val, false),
                    _ => {}
                }
            }
        }
    }
}

fn list_to_map(val: &mut Node, pairs: bool) {
    let V::Seq(items) = &val.v else { return };
    let mut entries: Vec<(String, Node)> = Vec::new();
    for it in items {
        let Some(text) = it.text() else { continue };
        let (k, v) = if pairs {
            match text.split_once('=') {
                Some((k, v)) => (k.to_owned(), V::Str(v.to_owned())),
                None => (text.clone(), V::Null),
            }
        } else {
            (text.clone(), V::Null)
        };
        let node = Node {
            v,
            at: it.at.clone(),
        };
        entries.retain(|(e, _)| *e != k);
        entries.push((k, node));
    }
    val.v = V::Map(entries);
}
