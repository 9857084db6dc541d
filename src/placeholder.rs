//! `${…}` placeholders: parsing a string into literal text and references.

/// What a placeholder refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ref {
    /// `${params.K}`
    Param(String),
    /// `${secrets.S}`
    Secret(String),
    /// `${database.host|port|name|user}`
    Database(DbField),
    /// `${services.S.host}`
    ServiceHost(String),
    /// `${services.S.port}`: the first port
    ServicePort(String),
    /// `${services.S.ports.P}`
    ServiceNamedPort(String, String),
    /// `${name}`
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DbField {
    Host,
    Port,
    Name,
    User,
}

/// A piece of a string with placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    /// The reference and its source text (`${…}`), for locating it in the file.
    Ref(Ref, String),
}

/// A placeholder that does not parse: its text and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPlaceholder {
    pub text: String,
    pub message: String,
    pub unterminated: bool,
    /// Byte offset of the placeholder in the string.
    pub offset: usize,
}

/// Byte offsets of `needle` in `s` that are not escaped as `$${`.
#[must_use]
pub fn unescaped_matches(s: &str, needle: &str) -> Vec<usize> {
    s.match_indices(needle)
        .map(|(i, _)| i)
        .filter(|&i| !(needle.starts_with('$') && s[..i].ends_with('$')))
        .collect()
}

/// True when the string has anything to expand (or a `$${` escape to undo).
#[must_use]
pub fn has_placeholders(s: &str) -> bool {
    find_open(s).is_some()
}

/// Split `s` into pieces. `$${` is a literal `${`.
///
/// # Errors
/// The first malformed or unknown placeholder.
pub fn parse(s: &str) -> Result<Vec<Piece>, BadPlaceholder> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    let offset_of = |rest: &str, i: usize| s.len() - rest.len() + i;
    while let Some(i) = find_open(rest) {
        if rest[..i].ends_with('$') {
            // `$${`: keep one `$` and a literal `{`.
            lit.push_str(&rest[..i]);
            lit.push('{');
            rest = &rest[i + 2..];
            continue;
        }
        lit.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.bytes().position(|b| b == b'}') else {
            return Err(BadPlaceholder {
                text: rest[i..].chars().take(40).collect(),
                message: "unterminated placeholder: `${` without a closing `}`".into(),
                unterminated: true,
                offset: offset_of(rest, i),
            });
        };
        let inner = &after[..end];
        // `${inner}` exactly as written.
        let text = &rest[i..=i + 2 + end];
        let offset = offset_of(rest, i);
        let r = parse_ref(inner).map_err(|message| BadPlaceholder {
            text: text.to_owned(),
            message,
            unterminated: false,
            offset,
        })?;
        if !lit.is_empty() {
            out.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        out.push(Piece::Ref(r, text.to_owned()));
        rest = &after[end + 1..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

/// Byte offset of the first `${` in `s`. A scan for `$` and a look at the next byte: `str::find`
/// with a two-byte pattern builds a substring searcher on every call, which cost more than the
/// rest of [`parse`] on the short strings placeholders live in.
fn find_open(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b'$') {
        let at = from + i;
        if b.get(at + 1) == Some(&b'{') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Text that expands to exactly `s`: every `${` escaped as `$${`.
#[must_use]
pub fn escape(s: &str) -> String {
    s.replace("${", "$${")
}

/// The text of a value that expands nothing (a `params` value): `$${` undone as everywhere else,
/// anything that reads as a placeholder kept as written (validation refuses those there).
#[must_use]
pub fn literal(s: &str) -> String {
    if !has_placeholders(s) {
        return s.to_owned();
    }
    match parse(s) {
        Ok(pieces) => pieces
            .into_iter()
            .map(|p| match p {
                Piece::Lit(l) => l,
                Piece::Ref(_, raw) => raw,
            })
            .collect(),
        Err(_) => s.to_owned(),
    }
}

fn parse_ref(inner: &str) -> Result<Ref, String> {
    // At most five parts are asked about; a sixth means "unknown" as any other shape does.
    let mut buf = [""; 6];
    let mut n = 0;
    for part in inner.splitn(6, '.') {
        buf[n] = part;
        n += 1;
    }
    let parts = &buf[..n];
    let ok_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let r = match parts {
        ["name"] => Some(Ref::Name),
        ["params", k] if ok_name(k) => Some(Ref::Param((*k).to_owned())),
        ["secrets", k] if ok_name(k) => Some(Ref::Secret((*k).to_owned())),
        ["database", f] => match *f {
            "host" => Some(Ref::Database(DbField::Host)),
            "port" => Some(Ref::Database(DbField::Port)),
            "name" => Some(Ref::Database(DbField::Name)),
            "user" => Some(Ref::Database(DbField::User)),
            _ => None,
        },
        ["services", s, "host"] if ok_name(s) => Some(Ref::ServiceHost((*s).to_owned())),
        ["services", s, "port"] if ok_name(s) => Some(Ref::ServicePort((*s).to_owned())),
        ["services", s, "ports", p] if ok_name(s) && ok_name(p) => {
            Some(Ref::ServiceNamedPort((*s).to_owned(), (*p).to_owned()))
        }
        _ => None,
    };
    r.ok_or_else(|| {
        format!(
            "unknown placeholder `${{{inner}}}`; known forms: ${{params.K}}, ${{secrets.S}}, \
             ${{database.host|port|name|user}}, ${{services.S.host}}, ${{services.S.port}}, \
             ${{services.S.ports.P}}, ${{name}} (write `$${{` for a literal `${{`)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the escape rule and the split into literal and reference pieces.
    #[test]
    fn parses_pieces_and_escapes() {
        let p = parse("a${params.x}b$${c}").expect("parses");
        assert_eq!(
            p,
            vec![
                Piece::Lit("a".into()),
                Piece::Ref(Ref::Param("x".into()), "${params.x}".into()),
                Piece::Lit("b${c}".into()),
            ]
        );
        assert!(parse("${params.x").expect_err("unterminated").unterminated);
        assert!(parse("${nope}").is_err());
        // A `$` not followed by `{`, and one at the very end, are text.
        assert_eq!(
            parse("a$b${name}$").expect("parses"),
            vec![
                Piece::Lit("a$b".into()),
                Piece::Ref(Ref::Name, "${name}".into()),
                Piece::Lit("$".into()),
            ]
        );
        assert!(!has_placeholders("$ {x} $"));
        // More parts than any known form: unknown, not cut to a known one.
        assert!(parse("${services.a.ports.b.c}").is_err());
        assert!(parse("${services.a.ports.b.c.d}").is_err());
        assert_eq!(literal("a$${b}c"), "a${b}c");
        assert_eq!(literal("${params.x}"), "${params.x}");
        assert_eq!(
            parse("${services.web.ports.https}").expect("parses"),
            vec![Piece::Ref(
                Ref::ServiceNamedPort("web".into(), "https".into()),
                "${services.web.ports.https}".into()
            )]
        );
    }
}
