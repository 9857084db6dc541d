//! The YAML 1.2 loader: a file's text into a JSON value plus a JSON-pointer → position index.
//!
//! This is the only module that knows the YAML parser. `serde_yaml` is not used: it is unmaintained,
//! keeps the last of two duplicate keys silently and cannot say where a schema error is.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Number, Value};

use crate::diag::{Code, Diagnostic, Pos};

/// Largest spec accepted. A real spec is a few kilobytes; this bounds the memory a hostile file can take.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Most nodes that aliases may add by expansion (a billion-laughs file asks for 10^9).
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Most bytes of text that aliases may add by expansion (a few aliases of one huge scalar are
/// few nodes but much memory).
pub const MAX_ALIAS_BYTES: usize = MAX_BYTES;

/// The longest mapping key: every node under a key carries it in its pointer.
pub const MAX_KEY: usize = 1024;

/// Bytes of text in a value (strings and keys), for [`MAX_ALIAS_BYTES`].
fn text_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(text_bytes).fold(0, usize::saturating_add),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| k.len().saturating_add(text_bytes(v)))
            .fold(0, usize::saturating_add),
        _ => 8,
    }
}
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// Where one node of the document is in the source.
#[derive(Debug, Clone, Copy)]
pub struct NodePos {
    /// Position of the key, for mapping entries.
    pub key: Option<Pos>,
    /// Position of the value.
    pub value: Pos,
    /// Character range of the value in the source (scalars only; used to find text inside it).
    pub chars: Option<(usize, usize)>,
}

/// Where each node is, by JSON pointer. A spec of 1 000 services has some 40 000 nodes, each
/// inserted once and looked up a few times: hashed with foldhash, not the standard library's
/// `SipHash` (which cost a tenth of `validate`'s CPU on such a spec). The keys are the document's
/// own pointers, not chosen by anyone who could aim collisions at the table, and the table dies
/// with the process.
pub type Index = HashMap<String, NodePos, foldhash::fast::FixedState>;

/// A loaded YAML file.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    pub source: String,
    pub value: Value,
    pub index: Index,
}

impl Document {
    /// Position of the value at `pointer`, or of its nearest ancestor that has one.
    #[must_use]
    pub fn pos(&self, pointer: &str) -> Pos {
        self.lookup(pointer).map_or(Pos::START, |n| n.value)
    }

    /// Position of the key of the entry at `pointer` (falls back to the value).
    #[must_use]
    pub fn key_pos(&self, pointer: &str) -> Pos {
        self.lookup(pointer)
            .map_or(Pos::START, |n| n.key.unwrap_or(n.value))
    }

    /// Whether the document has a node at `pointer` itself.
    #[must_use]
    pub fn has(&self, pointer: &str) -> bool {
        self.index.contains_key(pointer)
    }

    #[must_use]
    pub fn lookup(&self, pointer: &str) -> Option<&NodePos> {
        let mut p = pointer;
        loop {
            if let Some(n) = self.index.get(p) {
                return Some(n);
            }
            let cut = p.rfind('/')?;
            p = &p[..cut];
        }
    }

    /// Position of the `nth` occurrence of `needle` (not counting `$${` escapes) inside the scalar
    /// at `pointer`, when the source text holds it literally; else the scalar's own position.
    #[must_use]
    pub fn pos_in_scalar(&self, pointer: &str, needle: &str, nth: usize) -> Pos {
        let Some(node) = self.index.get(pointer) else {
            return self.pos(pointer);
        };
        let Some((start, end)) = node.chars else {
            return node.value;
        };
        let text: String = self.source.chars().skip(start).take(end - start).collect();
        let Some(byte_off) = crate::placeholder::unescaped_matches(&text, needle)
            .get(nth)
            .copied()
        else {
            return node.value;
        };
        let mut pos = node.value;
        // `node.value` is the position of `start`; walk to the match.
        for c in text[..byte_off].chars() {
            if c == '\n' {
                pos.line += 1;
                pos.col = 1;
            } else {
                pos.col += 1;
            }
        }
        pos
    }

    fn diag(&self, pos: Pos, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            pos,
            pointer: String::new(),
            code,
            message: message.into(),
            help: None,
        }
    }
}

/// `ptr/segment`, the segment escaped (RFC 6901), in one allocation.
fn child_pointer(ptr: &str, segment: &str) -> String {
    let mut p = String::with_capacity(ptr.len() + 1 + segment.len());
    p.push_str(ptr);
    p.push('/');
    if segment.contains(['~', '/']) {
        p.push_str(&escape_segment(segment));
    } else {
        p.push_str(segment);
    }
    p
}

/// Escape one JSON-pointer segment (RFC 6901).
#[must_use]
pub fn escape_segment(s: &str) -> String {
    if s.contains(['~', '/']) {
        s.replace('~', "~0").replace('/', "~1")
    } else {
        s.to_owned()
    }
}

fn marker_pos(m: &saphyr_parser::Marker) -> Pos {
    Pos {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        ptr: String,
        nodes: usize,
    },
    Map {
        map: Map<String, Value>,
        anchor: usize,
        ptr: String,
        nodes: usize,
        /// The key waiting for its value, and where the key is.
        key: Option<(String, Pos)>,
    },
}

struct Anchored {
    value: Value,
    nodes: usize,
    bytes: usize,
}

/// Read an input file (a spec or a profile): a regular file only (a FIFO or `/dev/zero` would hang
/// or never end), at most [`MAX_BYTES`] + 1 bytes read (so that a larger one is refused as such).
///
/// # Errors
/// Not a regular file, or I/O errors.
pub fn read_input(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    // Checked before opening: opening a FIFO blocks until a writer comes.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let f = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    f.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Load one YAML file from its bytes.
///
/// # Errors
/// Every problem that stops loading, as one diagnostic (a YAML parser stops at its first error).
pub fn load(file: &str, bytes: &[u8]) -> Result<Document, Box<Diagnostic>> {
    let mut doc = Document {
        file: file.to_owned(),
        source: String::new(),
        value: Value::Null,
        index: Index::default(),
    };
    if bytes.len() > MAX_BYTES {
        return Err(Box::new(doc.diag(
            Pos::START,
            Code::YamlTooLarge,
            format!(
                "the file is {} bytes; a spec may be at most {MAX_BYTES} bytes",
                bytes.len()
            ),
        )));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.split(|b| *b == b'\n').count();
            let last_line = good.rsplit(|b| *b == b'\n').next().unwrap_or(good);
            let col = String::from_utf8_lossy(last_line).chars().count() + 1;
            let pos = Pos {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                col: u32::try_from(col).unwrap_or(u32::MAX),
            };
            return Err(Box::new(
                doc.diag(pos, Code::YamlNotUtf8, "the file is not valid UTF-8")
                    .with_help("save the spec as UTF-8"),
            ));
        }
    };
    if let Some(at) = text.find('\0') {
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let pos = Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        };
        return Err(Box::new(
            doc.diag(
                pos,
                Code::YamlSyntax,
                "a NUL byte: YAML text cannot hold one",
            )
            .with_help("the file is binary or damaged; remove the byte"),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.clone_into(&mut doc.source);
    match build(&doc, text) {
        Ok((value, index)) => {
            doc.value = value;
            doc.index = index;
            Ok(doc)
        }
        Err(d) => Err(d),
    }
}

fn scan_error(doc: &Document, e: &ScanError) -> Diagnostic {
    doc.diag(
        marker_pos(e.marker()),
        Code::YamlSyntax,
        format!("YAML syntax error: {}", e.info()),
    )
}

#[expect(
    clippy::too_many_lines,
    reason = "one state machine over the event stream reads best whole"
)]
fn build(doc: &Document, text: &str) -> Result<(Value, Index), Box<Diagnostic>> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Anchored> = HashMap::new();
    let mut index =
        Index::with_capacity_and_hasher(text.len() / 16, foldhash::fast::FixedState::default());
    let mut root: Option<Value> = None;
    let mut documents = 0usize;
    // A later document is accepted only while it is empty (a stray trailing `---`).
    let mut extra_doc: Option<Pos> = None;
    let mut alias_nodes = 0usize;
    let mut alias_bytes = 0usize;
    let err = |pos: Pos, code: Code, msg: String| Box::new(doc.diag(pos, code, msg));

    while let Some(ev) = parser.next_event() {
        let (event, span): (Event<'_>, Span) = ev.map_err(|e| Box::new(scan_error(doc, &e)))?;
        let pos = marker_pos(&span.start);
        let is_key = matches!(stack.last(), Some(Frame::Map { key: None, .. }));
        // A node starts: where does it go? (Asked only of a node that is not a key.)
        let place = |stack: &[Frame]| -> (String, Option<Pos>) {
            match stack.last() {
                Some(Frame::Seq { items, ptr, .. }) => {
                    let mut p = String::with_capacity(ptr.len() + 4);
                    p.push_str(ptr);
                    p.push('/');
                    let _ = std::fmt::Write::write_fmt(&mut p, format_args!("{}", items.len()));
                    (p, None)
                }
                Some(Frame::Map {
                    key: Some((k, kp)),
                    ptr,
                    ..
                }) => (child_pointer(ptr, k), Some(*kp)),
                _ => (String::new(), None),
            }
        };
        let finished: Option<(Value, usize, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    extra_doc = Some(pos);
                }
                None
            }
            Event::Alias(id) => {
                if is_key {
                    return Err(err(
                        pos,
                        Code::YamlComplexKey,
                        "an alias cannot be a mapping key".into(),
                    ));
                }
                let Some(a) = anchors.get(&id) else {
                    return Err(err(
                        pos,
                        Code::YamlSyntax,
                        "alias to an unknown anchor".into(),
                    ));
                };
                alias_nodes = alias_nodes.saturating_add(a.nodes);
                alias_bytes = alias_bytes.saturating_add(a.bytes);
                if alias_bytes > MAX_ALIAS_BYTES {
                    return Err(Box::new(
                        doc.diag(
                            pos,
                            Code::YamlAliasLimit,
                            format!(
                                "aliases expand to more than {MAX_ALIAS_BYTES} bytes of text (an alias bomb?)"
                            ),
                        )
                        .with_help("write the repeated parts out, or use fewer aliases"),
                    ));
                }
                if alias_nodes > MAX_ALIAS_NODES {
                    return Err(Box::new(
                        doc.diag(
                            pos,
                            Code::YamlAliasLimit,
                            format!(
                                "aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?)"
                            ),
                        )
                        .with_help("write the repeated parts out, or use fewer nested aliases"),
                    ));
                }
                let (value_ptr, key_pos) = place(&stack);
                index.insert(
                    value_ptr,
                    NodePos {
                        key: key_pos,
                        value: pos,
                        chars: None,
                    },
                );
                Some((a.value.clone(), a.nodes, 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                if is_key {
                    if let Some(t) = &tag
                        && !(t.is_yaml_core_schema() && t.suffix == "str")
                    {
                        return Err(err(
                            pos,
                            Code::YamlUnsupportedTag,
                            format!("unsupported tag `{t}` on a key"),
                        ));
                    }
                    if text.len() > MAX_KEY {
                        return Err(err(
                            pos,
                            Code::YamlTooLarge,
                            format!(
                                "a key of {} bytes; keys may be at most {MAX_KEY}",
                                text.len()
                            ),
                        ));
                    }
                    if let Some(Frame::Map { key, map, ptr, .. }) = stack.last_mut() {
                        // The entries before this key are in `map` already, each with its key's
                        // position in the index.
                        if map.contains_key(text.as_ref()) {
                            let first = index
                                .get(&child_pointer(ptr, &text))
                                .map_or(Pos::START, |n| n.key.unwrap_or(n.value));
                            return Err(Box::new(
                                doc.diag(
                                    pos,
                                    Code::YamlDuplicateKey,
                                    format!(
                                        "duplicate key `{text}` (first defined at line {}, column {})",
                                        first.line, first.col
                                    ),
                                )
                                .with_help("each key may appear once in a mapping; remove or merge one of them"),
                            ));
                        }
                        *key = Some((text.into_owned(), pos));
                    }
                    continue;
                }
                let value = resolve_scalar(&text, style, tag.as_deref())
                    .map_err(|(code, msg)| err(pos, code, msg))?;
                let (value_ptr, key_pos) = place(&stack);
                index.insert(
                    value_ptr,
                    NodePos {
                        key: key_pos,
                        value: pos,
                        chars: Some((span.start.index(), span.end.index())),
                    },
                );
                Some((value, 1, anchor))
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if is_key {
                    return Err(err(
                        pos,
                        Code::YamlComplexKey,
                        "a mapping key must be a plain string, not a mapping or a list".into(),
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        pos,
                        Code::YamlTooDeep,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let is_map = matches!(event, Event::MappingStart(..));
                check_collection_tag(tag.as_deref(), is_map)
                    .map_err(|m| err(pos, Code::YamlUnsupportedTag, m))?;
                let (value_ptr, key_pos) = place(&stack);
                index.insert(
                    value_ptr.clone(),
                    NodePos {
                        key: key_pos,
                        value: pos,
                        chars: None,
                    },
                );
                stack.push(if is_map {
                    Frame::Map {
                        map: Map::new(),
                        anchor,
                        ptr: value_ptr,
                        nodes: 1,
                        key: None,
                    }
                } else {
                    Frame::Seq {
                        items: Vec::new(),
                        anchor,
                        ptr: value_ptr,
                        nodes: 1,
                    }
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    anchor,
                    nodes,
                    ..
                }) => Some((Value::Array(items), nodes, anchor)),
                Some(Frame::Map {
                    map, anchor, nodes, ..
                }) => Some((Value::Object(map), nodes, anchor)),
                None => None,
            },
        };
        if let Some((value, nodes, anchor)) = finished {
            if anchor != 0 {
                anchors.insert(
                    anchor,
                    Anchored {
                        bytes: text_bytes(&value),
                        value: value.clone(),
                        nodes,
                    },
                );
            }
            match stack.last_mut() {
                Some(Frame::Seq {
                    items, nodes: n, ..
                }) => {
                    items.push(value);
                    *n = n.saturating_add(nodes);
                }
                Some(Frame::Map {
                    map, key, nodes: n, ..
                }) => {
                    if let Some((k, _)) = key.take() {
                        map.insert(k, value);
                    }
                    *n = n.saturating_add(nodes);
                }
                None => match extra_doc {
                    Some(doc_pos) if !value.is_null() => {
                        return Err(err(
                            doc_pos,
                            Code::YamlMultipleDocuments,
                            "a spec is one YAML document; this file holds another one here".into(),
                        ));
                    }
                    Some(_) => {}
                    None => root = Some(value),
                },
            }
        }
    }
    match root {
        Some(v) if !v.is_null() => Ok((v, index)),
        _ => Err(Box::new(
            doc.diag(
                Pos::START,
                Code::YamlEmpty,
                "the file holds no spec (it is empty or only comments)",
            )
            .with_help("start from `misp-gen init`"),
        )),
    }
}

fn check_collection_tag(tag: Option<&Tag>, is_map: bool) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(t) if t.handle == "!" && t.suffix.is_empty() => Ok(()),
        Some(t) if t.is_yaml_core_schema() && t.suffix == if is_map { "map" } else { "seq" } => {
            Ok(())
        }
        Some(t) => Err(format!("unsupported tag `{t}`")),
    }
}

/// Resolve a scalar by the YAML 1.2 core schema: `yes`, `on` and `0755`-looking octals of YAML 1.1
/// stay strings and integers as 1.2 says.
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<Value, (Code, String)> {
    if let Some(t) = tag {
        if t.handle == "!" && t.suffix.is_empty() {
            return Ok(Value::String(text.to_owned()));
        }
        if !t.is_yaml_core_schema() {
            return Err((Code::YamlUnsupportedTag, format!("unsupported tag `{t}`")));
        }
        let plain = resolve_plain(text);
        let bad = || {
            (
                Code::YamlBadNumber,
                format!("the value is not a valid !!{}", t.suffix),
            )
        };
        return match t.suffix.as_str() {
            "str" => Ok(Value::String(text.to_owned())),
            "int" => match plain? {
                Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Value::Number(n)),
                _ => Err(bad()),
            },
            "float" => match plain? {
                Value::Number(n) => Ok(Value::Number(n)),
                _ => Err(bad()),
            },
            "bool" => match plain? {
                v @ Value::Bool(_) => Ok(v),
                _ => Err(bad()),
            },
            "null" => match plain? {
                Value::Null => Ok(Value::Null),
                _ => Err(bad()),
            },
            _ => Err((Code::YamlUnsupportedTag, format!("unsupported tag `{t}`"))),
        };
    }
    if style == ScalarStyle::Plain {
        resolve_plain(text)
    } else {
        Ok(Value::String(text.to_owned()))
    }
}

fn resolve_plain(text: &str) -> Result<Value, (Code, String)> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        _ => {}
    }
    let not_repr = || {
        (
            Code::YamlBadNumber,
            format!("`{text}` is a number that JSON cannot hold; quote it if it is meant as text"),
        )
    };
    let lower = text.to_ascii_lowercase();
    if matches!(lower.trim_start_matches(['+', '-']), ".inf" | ".nan") {
        return Err(not_repr());
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return u64::from_str_radix(oct, 8)
                .map(|n| Value::Number(n.into()))
                .map_err(|_| not_repr());
        }
        return Ok(Value::String(text.to_owned()));
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return u64::from_str_radix(hex, 16)
                .map(|n| Value::Number(n.into()))
                .map_err(|_| not_repr());
        }
        return Ok(Value::String(text.to_owned()));
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = text.trim_start_matches('+').parse::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        return Err(not_repr());
    }
    if is_float(digits) {
        let f: f64 = text.parse().map_err(|_| not_repr())?;
        return Number::from_f64(f).map(Value::Number).ok_or_else(not_repr);
    }
    Ok(Value::String(text.to_owned()))
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, sign already removed.
fn is_float(s: &str) -> bool {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => {
            (!a.is_empty() || !b.is_empty())
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
                && !(a.is_empty() && b.is_empty())
                && (!a.is_empty() || !b.is_empty())
        }
        None => !mant.is_empty() && mant.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mant_ok && exp_ok
}

/// Check that `text` is one well-formed YAML document with no duplicate keys, without building a
/// value (the renderers parse every output back this way before anything is written).
///
/// # Errors
/// Where the text stops being valid YAML, as `(line, column, message)`.
pub fn check_syntax(text: &str) -> Result<(), (Pos, String)> {
    let mut parser = Parser::new_from_str(text);
    // Per open collection: `Some(keys, expecting_key)` for mappings, `None` for sequences.
    let mut stack: Vec<Option<(std::collections::HashSet<String>, bool)>> = Vec::new();
    let mut documents = 0usize;
    while let Some(ev) = parser.next_event() {
        let (event, span) = ev.map_err(|e| (marker_pos(e.marker()), e.info().to_owned()))?;
        let pos = marker_pos(&span.start);
        // A node in a mapping alternates key, value.
        let mut key_text = None;
        if let Some(Some((_, expecting_key))) = stack.last_mut() {
            if *expecting_key {
                key_text = Some(match &event {
                    Event::Scalar(t, ..) => Some(t.to_string()),
                    _ => None,
                });
            }
            if !matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                *expecting_key = !*expecting_key;
            }
        }
        if let Some(Some(k)) = key_text
            && let Some(Some((keys, _))) = stack.last_mut()
            && !keys.insert(k.clone())
        {
            return Err((pos, format!("duplicate key `{k}`")));
        }
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err((pos, "more than one YAML document".into()));
                }
            }
            Event::MappingStart(..) => stack.push(Some((std::collections::HashSet::new(), true))),
            Event::SequenceStart(..) => stack.push(None),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod check_syntax_tests {
    use super::check_syntax;

    // Pins that the output check catches broken YAML and duplicate keys at any depth, and passes
    // good YAML with flow collections, block scalars and keys repeated in different mappings.
    #[test]
    fn catches_what_it_must() {
        assert!(check_syntax("a: 1\nb: [1, {c: 2}]\nd: |\n  text\ne: {c: 3}\n").is_ok());
        assert!(check_syntax("a:\n  b: 1\n  b: 2\n").is_err());
        assert!(check_syntax("a: [ {x: 1, x: 2} ]\n").is_err());
        assert!(check_syntax("a: \"unterminated\n").is_err());
        assert!(check_syntax("a: 1\n---\nb: 2\n").is_err());
    }
}
