//! Unit-file text: escaping for systemd (specifiers, Exec quoting, `$` expansion) and for Quadlet,
//! the checks that refuse what a unit file cannot carry, and a parse-back of rendered units.

use std::fmt::Write as _;

/// The environment variable that stands for an empty argument in a Quadlet `Exec=` line: quadlet
/// 5.4 drops a quoted empty word (`""`), but `${VAR}` as a word of its own always becomes exactly one
/// argument in systemd, the empty one when the variable is empty. Each unit that needs it sets it.
pub const EMPTY_VAR: &str = "MISP_GEN_EMPTY";

pub use crate::plan::refusals::{inexpressible, inexpressible_word};

/// `%` doubled: systemd expands specifiers in nearly every value.
#[must_use]
pub fn specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// A value that ends up as one argument of an `Exec` line without being split (Quadlet's
/// `Image=`, `Volume=`, `HealthCmd=`, …): `%` and `$` doubled, no quoting (quadlet quotes it).
#[must_use]
pub fn exec_value(s: &str) -> String {
    s.replace('%', "%%").replace('$', "$$")
}

/// One word of an `Exec` line (or of a Quadlet `Exec=`, `Environment=`, `PodmanArgs=`), read back
/// by systemd's rules as exactly `s`: `%` and `$` doubled, and double-quoted with `\\`, `\"`
/// escapes and C escapes for control characters (`\n`, `\r`, `\t`, `\xNN`, `\uNNNN`) when it is
/// empty or holds whitespace, quotes, backslashes, `;` or a control character. systemd unescapes
/// these in `Exec` lines; quadlet unescapes its keys and escapes the words again for the service
/// it generates. A NUL cannot be carried ([`inexpressible_word`]).
#[must_use]
pub fn exec_word(s: &str) -> String {
    quoted(&exec_value(s))
}

/// One `NAME=value` of systemd's own `Environment=` (in `[Service]`), read back as exactly `s`:
/// `%` doubled (`$` means nothing there), quoted and escaped as [`exec_word`] does.
#[must_use]
pub fn environment_word(s: &str) -> String {
    quoted(&specifiers(s))
}

/// `t` as one word: double-quoted with escapes when it needs to be.
fn quoted(t: &str) -> String {
    let needs_quotes = t.is_empty()
        || t.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | ';'));
    if !needs_quotes {
        return t.to_owned();
    }
    let mut out = String::with_capacity(t.len() + 2);
    out.push('"');
    for c in t.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A word of a Quadlet `Exec=` line: as [`exec_word`], but an empty argument is written as
/// `${MISP_GEN_EMPTY}` (see [`EMPTY_VAR`]).
#[must_use]
pub fn quadlet_exec_word(s: &str) -> String {
    if s.is_empty() {
        format!("${{{EMPTY_VAR}}}")
    } else {
        exec_word(s)
    }
}

/// A command line of words, each escaped.
#[must_use]
pub fn exec_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| exec_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Check a rendered unit file: every line is blank, a comment, a `[Section]` header or
/// `Key=value`, and nothing in it is a control character. A failure is a bug in a template.
///
/// # Errors
/// The first offending line.
pub fn check(path: &str, text: &str) -> Result<(), String> {
    let mut section = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(why) = inexpressible(line) {
            return Err(format!("{path}:{n}: holds {why}"));
        }
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with('[') {
            if !t.ends_with(']') || t.len() < 3 {
                return Err(format!("{path}:{n}: malformed section header"));
            }
            section = true;
            continue;
        }
        if !section {
            return Err(format!("{path}:{n}: a key before any [Section]"));
        }
        let Some((key, _)) = t.split_once('=') else {
            return Err(format!("{path}:{n}: not Key=value"));
        };
        if key.is_empty() || !key.trim().chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("{path}:{n}: bad key `{key}`"));
        }
        if t.ends_with('\\') {
            return Err(format!(
                "{path}:{n}: ends with a backslash (a line continuation)"
            ));
        }
    }
    if !text.ends_with('\n') {
        return Err(format!("{path}: no final newline"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the quoting of Exec words: plain words stay bare, the rest is double-quoted with escapes.
    #[test]
    fn exec_words() {
        assert_eq!(exec_word("plain"), "plain");
        assert_eq!(exec_word(""), "\"\"");
        assert_eq!(exec_word("100% $HOME"), "\"100%% $$HOME\"");
        assert_eq!(exec_word(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(exec_word("it's"), "\"it's\"");
        assert_eq!(exec_word(";"), "\";\"");
        assert_eq!(exec_word("a\tb"), "\"a\\tb\"");
        assert_eq!(exec_word("a\nb\r\n"), r#""a\nb\r\n""#);
        assert_eq!(exec_word("bell\u{7}"), r#""bell\x07""#);
        assert_eq!(exec_word("nel\u{85}"), r#""nel\u0085""#);
        assert_eq!(quadlet_exec_word(""), "${MISP_GEN_EMPTY}");
        assert_eq!(environment_word("K=1% $x"), "\"K=1%% $x\"");
        assert_eq!(environment_word("K=a\r\nb"), r#""K=a\r\nb""#);
        assert_eq!(exec_line(&["a", "b c"]), "a \"b c\"");
    }

    // Pins what cannot go into a unit file at all.
    #[test]
    fn inexpressible_values() {
        assert_eq!(inexpressible("a\tb ünï"), None);
        assert_eq!(inexpressible("a\nb"), Some("a line break"));
        assert_eq!(inexpressible("a\rb"), Some("a line break"));
        assert_eq!(inexpressible("a\0b"), Some("a NUL character"));
        assert_eq!(inexpressible("a\u{7f}b"), Some("a control character"));
        assert_eq!(inexpressible("a\u{85}b"), Some("a control character"));
    }

    // Pins what a word of an Exec line carries: everything but a NUL (as C escapes).
    #[test]
    fn inexpressible_words() {
        assert_eq!(inexpressible_word("a\nb\r\u{7}\u{85}"), None);
        assert_eq!(inexpressible_word("a\0b"), Some("a NUL character"));
    }

    // Pins the parse-back check of rendered unit files.
    #[test]
    fn checks_units() {
        assert!(
            check(
                "u",
                "[Unit]\nDescription=x\n\n# c\n[Service]\nExecStart=/bin/true\n"
            )
            .is_ok()
        );
        assert!(check("u", "Description=x\n").is_err());
        assert!(check("u", "[Unit]\nDescription x\n").is_err());
        assert!(check("u", "[Unit]\nDescription=x \\\n").is_err());
        assert!(check("u", "[Unit]\nDescription=x").is_err());
    }
}
