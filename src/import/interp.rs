//! Compose's variable interpolation (`$$`, `$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:?e}`,
//! `${V?e}`, `${V:+x}`, `${V+x}`) and its `.env` file format.

use std::collections::BTreeMap;

/// How deep `${A:-${B:-…}}` may nest: a real file nests once or twice; the bound keeps a hostile
/// one from exhausting the stack.
pub const MAX_NESTING: usize = 16;

/// What interpolating one string found besides its result.
#[derive(Debug, Default)]
pub struct Seen {
    /// Variables referenced without a default that were not set (Compose: a blank string).
    pub unset: Vec<String>,
}

/// Why a string does not interpolate. The message quotes only the `${…}` expression or the
/// variable's own error text, never a variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub help: Option<String>,
}

fn fail(message: impl Into<String>, help: Option<&str>) -> Failure {
    Failure {
        message: message.into(),
        help: help.map(str::to_owned),
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Interpolate `s` as Compose does. `lookup` gives a variable's value (`None`: unset).
///
/// # Errors
/// A malformed `$`/`${…}`, a required variable that is unset, or nesting past [`MAX_NESTING`].
pub fn interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    seen: &mut Seen,
) -> Result<String, Failure> {
    expand(s, lookup, seen, 0)
}

#[expect(
    clippy::many_single_char_names,
    reason = "a scanner over one string: its index, character and text"
)]
fn expand(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    seen: &mut Seen,
    depth: usize,
) -> Result<String, Failure> {
    if depth > MAX_NESTING {
        return Err(fail(
            format!("`${{…}}` nested deeper than {MAX_NESTING} levels"),
            None,
        ));
    }
    if !s.contains('$') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                match lookup(&name) {
                    Some(v) => out.push_str(&v),
                    None => seen.unset.push(name),
                }
                i = j;
            }
            Some('{') => {
                // The matching `}`: nested `${` open, `}` close.
                let mut level = 1usize;
                let mut j = i + 2;
                while j < chars.len() {
                    if chars[j] == '$' && chars.get(j + 1) == Some(&'{') {
                        level += 1;
                        j += 2;
                        continue;
                    }
                    if chars[j] == '}' {
                        level -= 1;
                        if level == 0 {
                            break;
                        }
                    }
                    j += 1;
                }
                if level != 0 {
                    return Err(fail(
                        "a `${` without its closing `}`",
                        Some("close it, or write `$$` for a literal `$`"),
                    ));
                }
                let inner: String = chars[i + 2..j].iter().collect();
                out.push_str(&braced(&inner, lookup, seen, depth)?);
                i = j + 1;
            }
            _ => {
                return Err(fail(
                    "a `$` that is neither `$$`, `$NAME` nor `${…}`",
                    Some("write `$$` for a literal `$` (Compose refuses this too)"),
                ));
            }
        }
    }
    Ok(out)
}

fn braced(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    seen: &mut Seen,
    depth: usize,
) -> Result<String, Failure> {
    let name_len = inner
        .char_indices()
        .find(|(_, c)| !is_name(*c))
        .map_or(inner.len(), |(i, _)| i);
    let name = &inner[..name_len];
    let rest = &inner[name_len..];
    let shown = || {
        let mut e: String = inner.chars().take(60).collect();
        if e.len() < inner.len() {
            e.push('…');
        }
        format!("${{{e}}}")
    };
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(fail(
            format!("`{}` does not name a variable", shown()),
            Some("a variable name is letters, digits and `_`, not starting with a digit"),
        ));
    }
    let value = lookup(name);
    if rest.is_empty() {
        return Ok(value.unwrap_or_else(|| {
            seen.unset.push(name.to_owned());
            String::new()
        }));
    }
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else {
        return Err(fail(
            format!("`{}` is not an interpolation Compose knows", shown()),
            Some(
                "use ${V}, ${V:-default}, ${V-default}, ${V:?error}, ${V?error} or ${V:+alternative}",
            ),
        ));
    };
    let empty = value.as_deref().is_none_or(str::is_empty);
    let unset = value.is_none();
    match op {
        ":-" if empty => expand(arg, lookup, seen, depth + 1),
        "-" if unset => expand(arg, lookup, seen, depth + 1),
        ":?" | "?" if (op == ":?" && empty) || (op == "?" && unset) => {
            let why = expand(arg, lookup, seen, depth + 1).unwrap_or_default();
            let why: String = why.chars().take(200).collect();
            Err(fail(
                if why.is_empty() {
                    format!("required variable {name} is unset or empty")
                } else {
                    format!("required variable {name} is unset or empty: {why}")
                },
                Some(
                    "set it in the environment, in `.env` beside the first compose file, or in an --env-file",
                ),
            ))
        }
        ":+" if !empty => expand(arg, lookup, seen, depth + 1),
        "+" if !unset => expand(arg, lookup, seen, depth + 1),
        ":+" | "+" => Ok(String::new()),
        _ => Ok(value.unwrap_or_default()),
    }
}

/// One variable of a `.env` file, and the line it is on.
#[derive(Debug, Clone)]
pub struct EnvLine {
    pub name: String,
    pub value: String,
    pub line: u32,
}

/// A problem in a `.env` file, at its line (1-based).
#[derive(Debug, Clone)]
pub struct EnvError {
    pub line: u32,
    pub failure: Failure,
}

/// Parse a `.env` file (Compose's format: `KEY=VALUE`, `export KEY=VALUE`, `#` comments, single
/// quotes literal, double quotes with `\n`-style escapes, `${…}` interpolated in unquoted and
/// double-quoted values from `outer` first, then the file's own earlier variables; `KEY` alone
/// takes the value from `outer`).
///
/// # Errors
/// The first line that does not parse or interpolate.
pub fn parse_env_file(
    text: &str,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<EnvLine>, EnvError> {
    let mut vars: Vec<EnvLine> = Vec::new();
    let mut own: BTreeMap<String, String> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let err = |m: &str, h: Option<&str>| EnvError {
            line,
            failure: fail(m, h),
        };
        let l = raw.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").map_or(l, str::trim_start);
        let (key, value) = match l.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim_start())),
            None => (l.trim(), None),
        };
        if key.is_empty() || !key.starts_with(is_name_start) || !key.chars().all(is_name) {
            return Err(err(
                "not a `NAME=VALUE` line",
                Some("each line is NAME=VALUE, with NAME of letters, digits and `_`"),
            ));
        }
        let Some(value) = value else {
            if let Some(v) = outer(key) {
                own.insert(key.to_owned(), v.clone());
                vars.push(EnvLine {
                    name: key.to_owned(),
                    value: v,
                    line,
                });
            }
            continue;
        };
        let lookup = |name: &str| outer(name).or_else(|| own.get(name).cloned());
        let mut seen = Seen::default();
        let value = if let Some(body) = value.strip_prefix('\'') {
            let Some(end) = body.find('\'') else {
                return Err(err("a single quote without its closing quote", None));
            };
            body[..end].to_owned()
        } else if let Some(body) = value.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = body.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some('t') => v.push('\t'),
                        Some('r') => v.push('\r'),
                        Some(o) => v.push(o),
                        None => {}
                    },
                    o => v.push(o),
                }
            }
            if !closed {
                return Err(err("a double quote without its closing quote", None));
            }
            interpolate(&v, &lookup, &mut seen).map_err(|f| EnvError { line, failure: f })?
        } else {
            let v = match value.find(" #") {
                Some(i) => &value[..i],
                None => value,
            };
            interpolate(v.trim_end(), &lookup, &mut seen)
                .map_err(|f| EnvError { line, failure: f })?
        };
        own.insert(key.to_owned(), value.clone());
        vars.retain(|x| x.name != key);
        vars.push(EnvLine {
            name: key.to_owned(),
            value,
            line,
        });
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Result<String, Failure> {
        let env = |k: &str| match k {
            "SET" => Some("v".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        interpolate(s, &env, &mut Seen::default())
    }

    // Pins each form of Compose's interpolation, set, empty and unset.
    #[test]
    fn forms() {
        assert_eq!(run("a$$b").unwrap(), "a$b");
        assert_eq!(run("$SET/${SET}").unwrap(), "v/v");
        assert_eq!(run("${UNSET}").unwrap(), "");
        assert_eq!(run("${UNSET:-d}${EMPTY:-e}${SET:-x}").unwrap(), "dev");
        assert_eq!(run("${UNSET-d}${EMPTY-e}").unwrap(), "d");
        assert_eq!(run("${SET:+x}${EMPTY:+y}${EMPTY+z}").unwrap(), "xz");
        assert_eq!(run("${UNSET:-${SET}}").unwrap(), "v");
        assert!(run("${EMPTY:?need it}").is_err());
        assert_eq!(run("${EMPTY?need it}").unwrap(), "");
        assert!(run("${UNSET?x}").unwrap_err().message.contains("UNSET"));
        assert!(run("a $ b").is_err());
        assert!(run("${1x}").is_err());
        assert!(run("${open").is_err());
        let deep = format!("{}x{}", "${U:-".repeat(40), "}".repeat(40));
        assert!(run(&deep).is_err());
    }

    // Pins the `.env` format: export, comments, quotes, interpolation from earlier lines.
    #[test]
    fn env_files() {
        let text = "# c\nexport A=1\nB = ${A}2 # note\nC='${A}'\nD=\"x\\ny\"\n\nE\n";
        let outer = |k: &str| (k == "E").then(|| "from-env".to_owned());
        let vars = parse_env_file(text, &outer).unwrap();
        let got: Vec<(&str, &str)> = vars
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("A", "1"),
                ("B", "12"),
                ("C", "${A}"),
                ("D", "x\ny"),
                ("E", "from-env")
            ]
        );
        assert_eq!(parse_env_file("ok=1\n=x\n", &outer).unwrap_err().line, 2);
    }
}
