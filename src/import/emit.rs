//! The imported spec as YAML text: block style, a comment above any key that has one, strings
//! plain where YAML 1.1 and 1.2 both read them as the same string, JSON-quoted otherwise.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::spec::load::escape_segment;

/// `value` as YAML; `comments` by JSON pointer, each line written as `# line` above its key (or
/// list item).
#[must_use]
pub fn yaml(value: &Value, comments: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::new();
    if let Some(top) = comments.get("") {
        for l in top {
            comment(&mut out, 0, l);
        }
    }
    node(&mut out, value, "", 0, comments);
    out
}

fn comment(out: &mut String, indent: usize, line: &str) {
    for l in line.lines() {
        if l.is_empty() {
            let _ = writeln!(out, "{:indent$}#", "");
        } else {
            let _ = writeln!(out, "{:indent$}# {l}", "");
        }
    }
}

fn node(
    out: &mut String,
    v: &Value,
    ptr: &str,
    indent: usize,
    comments: &BTreeMap<String, Vec<String>>,
) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{ptr}/{}", escape_segment(k));
                if let Some(cs) = comments.get(&p) {
                    for c in cs {
                        comment(out, indent, c);
                    }
                }
                let _ = write!(out, "{:indent$}{}:", "", key(k));
                value_after_key(out, x, &p, indent, comments);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                let p = format!("{ptr}/{i}");
                if let Some(cs) = comments.get(&p) {
                    for c in cs {
                        comment(out, indent, c);
                    }
                }
                let _ = write!(out, "{:indent$}-", "");
                match x {
                    Value::Object(m) if !m.is_empty() => {
                        // The first entry on the dash's line, the rest under it.
                        let mut first = true;
                        for (k, y) in m {
                            let kp = format!("{p}/{}", escape_segment(k));
                            if first {
                                let _ = write!(out, " {}:", key(k));
                                first = false;
                            } else {
                                let _ = write!(out, "{:w$}{}:", "", key(k), w = indent + 2);
                            }
                            value_after_key(out, y, &kp, indent + 2, comments);
                        }
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        node(out, x, &p, indent + 2, comments);
                    }
                    _ => {
                        let _ = writeln!(out, " {}", scalar(x));
                    }
                }
            }
        }
        _ => {
            let _ = writeln!(out, "{:indent$}{}", "", scalar(v));
        }
    }
}

fn value_after_key(
    out: &mut String,
    x: &Value,
    p: &str,
    indent: usize,
    comments: &BTreeMap<String, Vec<String>>,
) {
    match x {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            node(out, x, p, indent + 2, comments);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            node(out, x, p, indent + 2, comments);
        }
        _ => {
            let _ = writeln!(out, " {}", scalar(x));
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Words some YAML reader takes for something other than a string.
fn reserved(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
    )
}

fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !reserved(k);
    if plain { k.to_owned() } else { quoted(k) }
}

fn string(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '@' | ':'))
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '_')
        && !s.ends_with(':')
        && !reserved(s);
    if plain { s.to_owned() } else { quoted(s) }
}

/// A JSON string is a YAML double-quoted scalar.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins that the writer's YAML reads back as the same value, comments and all.
    #[test]
    fn round_trips() {
        let v = serde_json::json!({
            "a": "plain", "b": "yes", "c": "1.5", "d": "x: y", "e": [],
            "f": [{"g": 1, "h": ["i", {"j": "k"}]}, "l", ["m"]],
            "n": {}, "o": "", "p": "nginx:1.27.3", "q #": "-x", "r": true,
        });
        let mut comments = BTreeMap::new();
        comments.insert(String::new(), vec!["top".to_owned()]);
        comments.insert("/f/0".to_owned(), vec!["first\n\nsecond".to_owned()]);
        let text = yaml(&v, &comments);
        let doc = crate::spec::load::load("t.yaml", text.as_bytes()).unwrap();
        assert_eq!(doc.value, v, "{text}");
        assert!(text.starts_with("# top\n"), "{text}");
    }
}
