//! Rendering: the shared template environment, the in-memory file set, and one module per target.

pub mod compose;
pub mod kubernetes;
pub use crate::plan::pod_security;
pub mod systemd;
pub mod unitfile;

use std::fmt::Write as _;
use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::error::Error;
pub use crate::fileset::{FileSet, OutFile, add, add_mounted_secret, add_secret};

use crate::plan::{Deployment, Lookup, Naming, Resolved, container};
use crate::secrets::Secrets;

/// Expand every placeholder of `text` for a target.
#[must_use]
pub fn resolve(
    lookup: &dyn Lookup,
    secrets: &Secrets,
    naming: &dyn Naming,
    text: &str,
) -> Resolved {
    crate::domain::expand(lookup, &|s| secrets.text(s), naming, text)
}

/// Expand an argument list for a target: `entrypoint`, `command` and an exec health check all go
/// through here, so each is resolved and unescaped (`$${` to `${`) the same way.
#[must_use]
pub fn resolve_args(
    spec: &dyn Lookup,
    secrets: &Secrets,
    naming: &dyn Naming,
    args: &[String],
) -> Vec<String> {
    args.iter()
        .map(|a| resolve(spec, secrets, naming, a).text)
        .collect()
}

/// A health check as a target runs it: an exec check's arguments expanded like `command:`. The
/// other kinds hold no spec text that placeholders reach (the database's are misp-gen's own).
#[must_use]
pub fn resolve_health(
    spec: &dyn Lookup,
    secrets: &Secrets,
    naming: &dyn Naming,
    h: &container::Health,
) -> container::Health {
    let mut h = h.clone();
    if let container::Check::Exec(args) = &h.check {
        h.check = container::Check::Exec(resolve_args(spec, secrets, naming, args));
    }
    h
}

/// One file of a mounted secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile<'a> {
    /// The file's key: the secret's own name (a text secret), or `ca.crt`, `tls.crt`, `tls.key`
    /// (a TLS set).
    pub key: &'a str,
    /// One file of a TLS set.
    pub tls: bool,
    /// Its name under the mount path: the key, or what `items` renames it to.
    pub name: String,
    pub content: &'a str,
}

/// The files a `{ secret, path, items }` mount puts under its path, in key order of the set:
/// every file of the secret, or (with `items`) the ones it names, renamed. The same on every
/// target that mounts files (Kubernetes mounts the Secret object, with the same `items`).
/// Whether it is a TLS set is the spec's to say, as everywhere
/// ([`crate::spec::model::Secret::is_tls`]).
#[must_use]
pub fn mounted_secret_files<'a>(
    deployment: &Deployment,
    secrets: &'a Secrets,
    secret: &'a str,
    items: &std::collections::BTreeMap<String, String>,
) -> Vec<SecretFile<'a>> {
    let tls = deployment.is_tls(secret);
    let all: Vec<(&'a str, bool, &'a str)> = if tls {
        secrets
            .tls(secret)
            .map(|cert| {
                vec![
                    ("ca.crt", true, cert.ca_crt.as_str()),
                    ("tls.crt", true, cert.tls_crt.as_str()),
                    ("tls.key", true, cert.tls_key.as_str()),
                ]
            })
            .unwrap_or_default()
    } else {
        secrets
            .text(secret)
            .map(|t| vec![(secret, false, t)])
            .unwrap_or_default()
    };
    all.into_iter()
        .filter_map(|(key, tls, content)| {
            let name = if items.is_empty() {
                key.to_owned()
            } else {
                items.get(key)?.clone()
            };
            Some(SecretFile {
                key,
                tls,
                name,
                content,
            })
        })
        .collect()
}

/// The built-in templates, embedded at build time; `--templates DIR` overrides them by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "compose/compose.yaml.j2",
        include_str!("../../templates/compose/compose.yaml.j2"),
    ),
    (
        "compose/haproxy.cfg.j2",
        include_str!("../../templates/compose/haproxy.cfg.j2"),
    ),
    (
        "kubernetes/workload.yaml.j2",
        include_str!("../../templates/kubernetes/workload.yaml.j2"),
    ),
    (
        "kubernetes/service.yaml.j2",
        include_str!("../../templates/kubernetes/service.yaml.j2"),
    ),
    (
        "kubernetes/pvc.yaml.j2",
        include_str!("../../templates/kubernetes/pvc.yaml.j2"),
    ),
    (
        "kubernetes/pdb.yaml.j2",
        include_str!("../../templates/kubernetes/pdb.yaml.j2"),
    ),
    (
        "kubernetes/ingress.yaml.j2",
        include_str!("../../templates/kubernetes/ingress.yaml.j2"),
    ),
    (
        "kubernetes/serviceaccount.yaml.j2",
        include_str!("../../templates/kubernetes/serviceaccount.yaml.j2"),
    ),
    (
        "kubernetes/networkpolicy.yaml.j2",
        include_str!("../../templates/kubernetes/networkpolicy.yaml.j2"),
    ),
    (
        "kubernetes/namespace.yaml.j2",
        include_str!("../../templates/kubernetes/namespace.yaml.j2"),
    ),
    (
        "kubernetes/kustomization.yaml.j2",
        include_str!("../../templates/kubernetes/kustomization.yaml.j2"),
    ),
    (
        "kubernetes/secrets-kustomization.yaml.j2",
        include_str!("../../templates/kubernetes/secrets-kustomization.yaml.j2"),
    ),
    (
        "systemd/unit.j2",
        include_str!("../../templates/systemd/unit.j2"),
    ),
];

/// The template environment, built once per run.
pub struct Templates {
    env: Environment<'static>,
    /// Some template came from `--templates`: its YAML output is parsed back before use.
    overridden: bool,
    /// Only checking what a render would refuse (`validate`): every decision a renderer makes
    /// is made, but no template runs and every text is empty.
    check_only: bool,
}

impl Templates {
    /// The built-in templates, with those in `overrides` (same relative names) replacing them.
    ///
    /// # Errors
    /// An override that cannot be read or does not compile.
    pub fn new(overrides: Option<&Path>) -> Result<Templates, Error> {
        if let Some(d) = overrides
            && !d.is_dir()
        {
            return Err(Error::Usage(format!(
                "--templates {}: no such directory",
                d.display()
            )));
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?,
        );
        // Quoting is explicit (`q`, `cq`); the default would JSON-escape `.yaml` templates again.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("q", quote);
        env.add_filter("cq", compose_quote);
        env.add_filter("kq", kube_quote);
        env.add_filter("kv", kv_lines);
        let mut overridden = false;
        for (name, source) in TEMPLATES {
            let text = match overrides.map(|d| d.join(name)) {
                Some(p) => match read_template(&p)? {
                    Some(text) => {
                        overridden = true;
                        text
                    }
                    None => (*source).to_owned(),
                },
                None => (*source).to_owned(),
            };
            env.add_template_owned(*name, text)
                .map_err(|e| template_error(&e))?;
        }
        // A template from `--templates` is code from outside: its work is bounded. The built-in
        // ones loop over the spec only (at most `MAX_BYTES` of it), and counting their every
        // step cost a tenth of a large render.
        if overridden {
            env.set_fuel(Some(FUEL));
        }
        Ok(Templates {
            env,
            overridden,
            check_only: false,
        })
    }

    /// Templates for a render that is only checked, never written: every renderer makes all its
    /// decisions (and refuses what it cannot carry), but [`Templates::render`] returns empty text,
    /// so no template is compiled either. `validate` renders every target so, in half the time.
    #[must_use]
    pub fn check_only() -> Templates {
        Templates {
            env: Environment::new(),
            overridden: false,
            check_only: true,
        }
    }

    /// Render template `name` with `ctx`.
    ///
    /// # Errors
    /// A template error, naming the template and line but never the values it saw.
    pub fn render<T: serde::Serialize>(&self, name: &str, ctx: &T) -> Result<String, Error> {
        if self.check_only {
            return Ok(String::new());
        }
        let t = self
            .env
            .get_template(name)
            .map_err(|e| template_error(&e))?;
        let mut out = Bounded {
            buf: Vec::new(),
            full: false,
        };
        match t.render_captured_to(Value::from(minijinja::value::Serde(ctx)), &mut out) {
            Ok(_) => String::from_utf8(out.buf).map_err(|_| {
                Error::Internal(format!("template {name} wrote text that is not UTF-8"))
            }),
            Err(_) if out.full => Err(Error::Failed(format!(
                "template {name}: its output is larger than {} MiB, more than any deployment needs: check the template's loops",
                MAX_OUTPUT >> 20
            ))),
            Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => Err(Error::Failed(format!(
                "template {name}: it did more work than any deployment needs (the limit is {FUEL} steps): check the template's loops"
            ))),
            Err(e) => Err(template_error(&e)),
        }
    }
}

/// The work one render of one template may do, in minijinja's fuel (about one instruction, or
/// 64 bytes of data it builds, checked before a filter such as `replace` or `join` allocates): a
/// template from `--templates` is code from outside, and a `{% for %}` over `range(100000)`
/// nested twice would otherwise run for hours. The built-in templates stay far inside it:
/// compose.yaml of 1000 services (the most a spec may hold) took 430 000. At 64 bytes a unit it
/// bounds what one template builds in memory to 256 MB (20 000 000, 1.28 GB, let one filter call
/// abort a process under a 2 GB memory limit).
pub const FUEL: u64 = 4_000_000;

/// The most one template may write, in bytes: the same bound as on a file read back from the
/// output directory, so that whatever is rendered can be compared by `--check`.
pub const MAX_OUTPUT: usize = 64 << 20;

/// The largest template file `--templates` may hold: the built-in ones are a few kilobytes.
pub const MAX_TEMPLATE: u64 = 1 << 20;

/// A template's output, refused past [`MAX_OUTPUT`].
struct Bounded {
    buf: Vec<u8>,
    full: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + b.len() > MAX_OUTPUT {
            self.full = true;
            return Err(std::io::Error::other("template output too large"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The override at `p`, if there is one: a regular file (a link to one is fine) of at most
/// [`MAX_TEMPLATE`] bytes, UTF-8. Anything else at that name is refused rather than skipped or
/// read: a FIFO would hang the render, `/dev/zero` would fill the memory.
fn read_template(p: &Path) -> Result<Option<String>, Error> {
    use std::io::Read as _;
    let shown = p.display();
    let m = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(p).is_ok() {
                return Err(Error::Usage(format!(
                    "template {shown} is a symbolic link to nothing: remove it, or point it at a template file"
                )));
            }
            return Ok(None);
        }
        Err(e) => return Err(Error::Io(format!("cannot read template {shown}"), e)),
    };
    if !m.is_file() {
        return Err(Error::Usage(format!(
            "template {shown} is not a regular file: a template is a text file, at most {} KiB",
            MAX_TEMPLATE >> 10
        )));
    }
    let too_large = || {
        Error::Usage(format!(
            "template {shown} is larger than {} KiB: a template is a text file, at most {} KiB",
            MAX_TEMPLATE >> 10,
            MAX_TEMPLATE >> 10
        ))
    };
    if m.len() > MAX_TEMPLATE {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    // Bounded again while reading: the file may grow after it was looked at.
    std::fs::File::open(p)
        .and_then(|f| f.take(MAX_TEMPLATE + 1).read_to_end(&mut buf))
        .map_err(|e| Error::Io(format!("cannot read template {shown}"), e))?;
    if buf.len() as u64 > MAX_TEMPLATE {
        return Err(too_large());
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| Error::Usage(format!("template {shown} is not UTF-8 text")))
}

/// Format a template error with `{}` only: the debug form would print the context, which holds secrets.
fn template_error(e: &minijinja::Error) -> Error {
    let at = match (e.name(), e.line()) {
        (Some(n), Some(l)) => format!("template {n}, line {l}"),
        (Some(n), None) => format!("template {n}"),
        _ => "a template".into(),
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    Error::Failed(format!("{at}: {:?}{detail}", e.kind()))
}

/// A YAML scalar that stays a string under YAML 1.1 and 1.2 readers alike: JSON-quoted.
fn quote(v: &Value) -> String {
    with_str(v, |s| json_quoted(s, Dollar::Keep))
}

/// `$` doubled first (compose interpolates every string of compose.yaml), then quoted.
fn compose_quote(v: &Value) -> String {
    with_str(v, |s| json_quoted(s, Dollar::Double))
}

/// The kubelet expands `$(VAR)` and turns `$$` into `$` in a container's command, args and env
/// values: `$` is doubled where it would be read so (before `(` or `$`), then the value is quoted.
fn kube_quote(v: &Value) -> String {
    with_str(v, |s| json_quoted(s, Dollar::Kube))
}

/// A list of `{key, value}` as the lines of a YAML mapping, `indent` spaces in, each key and
/// value quoted as [`quote`] does (`"compose"`: as [`compose_quote`] does), without the last line
/// break: `{{ meta.labels | kv(4) }}` on a line of its own writes what a `{% for %}` over the
/// list writing `{{ l.key | q }}: {{ l.value | q }}` does, in one call (labels and selectors are
/// a third of a manifest's lines).
///
/// # Errors
/// The value is not a list, an entry has no `key` or `value`, or `quoting` is another word.
fn kv_lines(
    list: &Value,
    indent: usize,
    quoting: Option<&str>,
) -> Result<String, minijinja::Error> {
    let bad = |what: &str| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("kv: {what}"),
        )
    };
    let dollar = match quoting {
        None => Dollar::Keep,
        Some("compose") => Dollar::Double,
        Some(_) => return Err(bad("the quoting is `compose` or none")),
    };
    let mut out = String::new();
    for (i, item) in list.try_iter().map_err(|_| bad("not a list"))?.enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let key = item
            .get_attr("key")
            .map_err(|_| bad("an entry without `key`"))?;
        let value = item
            .get_attr("value")
            .map_err(|_| bad("an entry without `value`"))?;
        if key.is_undefined() || value.is_undefined() {
            return Err(bad("an entry without `key` or `value`"));
        }
        out.extend(std::iter::repeat_n(' ', indent));
        out.push_str(&with_str(&key, |k| json_quoted(k, dollar)));
        out.push_str(": ");
        out.push_str(&with_str(&value, |v| json_quoted(v, dollar)));
    }
    Ok(out)
}

/// `f` of the value's text: a string as it is (not copied), anything else as it displays.
fn with_str(v: &Value, f: impl FnOnce(&str) -> String) -> String {
    match v.as_str() {
        Some(s) => f(s),
        None => f(&v.to_string()),
    }
}

/// What [`json_quoted`] does with a `$`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dollar {
    Keep,
    /// Every `$` doubled (compose).
    Double,
    /// Doubled before `(` or `$` (the kubelet's escaping, [`kube_escape`]).
    Kube,
}

/// `s` as a JSON string (what `serde_json` writes: `"`, `\\` and control characters escaped,
/// the rest as it is), `$` treated as `dollar` says, in one pass and one allocation: the
/// quoting filters run for nearly every value of every rendered file.
fn json_quoted(s: &str, dollar: Dollar) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &str = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            b'$' if dollar == Dollar::Double
                || (dollar == Dollar::Kube && matches!(b.get(i + 1), Some(b'$' | b'('))) =>
            {
                "$$"
            }
            _ => continue,
        };
        out.push_str(&s[start..i]);
        start = i + 1;
        if esc.is_empty() {
            let _ = write!(out, "\\u{c:04x}");
        } else {
            out.push_str(esc);
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
    out
}

/// The kubelet's escaping (see [`kube_quote`]) without the quotes.
#[must_use]
pub fn kube_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' && matches!(chars.peek(), Some('$' | '(')) {
            out.push('$');
        }
    }
    out
}

impl Templates {
    /// Parse a rendered YAML file back when a template came from `--templates`, before anything
    /// is written. The built-in templates' output is parsed back by the tests instead (every
    /// example, and every mutant of `tests/mutate.rs`): doing it on every render cost a third of
    /// the time of a large one.
    ///
    /// # Errors
    /// The file does not parse: a bug in a user's template.
    pub fn check_yaml(&self, path: &str, text: &str) -> Result<(), Error> {
        if self.overridden {
            check_yaml(path, text)
        } else {
            Ok(())
        }
    }
}

impl Templates {
    /// Read a rendered unit file back when a template came from `--templates`, as
    /// [`Templates::check_yaml`] does for YAML; the built-in template's units are read back by
    /// the tests (every example, every mutant of `tests/mutate.rs`).
    ///
    /// # Errors
    /// A line that is not a section, a comment or `Key=value`: a bug in a user's template.
    pub fn check_unit(&self, path: &str, text: &str) -> Result<(), Error> {
        if self.overridden {
            unitfile::check(path, text)
                .map_err(|e| Error::Internal(format!("a rendered unit does not parse back: {e}")))
        } else {
            Ok(())
        }
    }
}

/// Parse a rendered YAML file back.
///
/// # Errors
/// The file does not parse: a bug in a template.
pub fn check_yaml(path: &str, text: &str) -> Result<(), Error> {
    crate::spec::load::check_syntax(text).map_err(|(pos, message)| {
        Error::Internal(format!(
            "rendered {path} does not parse back as YAML at {}:{}: {message}",
            pos.line, pos.col
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::{Dollar, Templates, json_quoted, kube_escape};

    /// `kv` writes what the loop it replaces wrote, with either quoting, and refuses what is not
    /// a list of `{key, value}`.
    #[test]
    fn kv_writes_what_the_loop_wrote() {
        let t = Templates::new(None).expect("templates");
        let mut env = t.env.clone();
        env.add_template(
            "loop",
            "a:\n{% for l in x %}\n  {{ l.key | q }}: {{ l.value | q }}\n{% endfor %}\nb:\n{% for l in x %}\n    {{ l.key | cq }}: {{ l.value | cq }}\n{% endfor %}\n",
        )
        .expect("loop");
        env.add_template(
            "kv",
            "a:\n{{ x | kv(2) }}\nb:\n{{ x | kv(4, \"compose\") }}\n",
        )
        .expect("kv");
        let x = serde_json::json!({"x": [
            {"key": "app.kubernetes.io/name", "value": "misp"},
            {"key": "yes", "value": "0755"},
            {"key": "q\"uote", "value": "$HOME and $$ and\nnew line"},
        ]});
        let x = minijinja::Value::from(minijinja::value::Serde(&x));
        let render = |n: &str| env.get_template(n).and_then(|t| t.render(&x)).expect(n);
        assert_eq!(render("kv"), render("loop"));
        for bad in [
            "{{ 3 | kv(2) }}",
            "{{ [{'key': 1}] | kv(2) }}",
            "{{ [] | kv(2, 'x') }}",
        ] {
            assert!(env.render_str(bad, ()).is_err(), "{bad}");
        }
    }

    /// The one-pass quoting writes what `serde_json` writes, with `$` handled as before.
    #[test]
    fn json_quoted_is_serde_jsons_quoting() {
        let mut cases: Vec<String> = [
            "",
            "plain",
            "yes",
            "0755",
            "a\"b",
            "back\\slash",
            "new\nline",
            "tab\there",
            "uni — ü 日本",
            "$HOME",
            "$$",
            "$(VAR)",
            "a$$(b)$",
            "\u{7f}del",
            "end$",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        cases.extend((0u8..0x20).map(|c| format!("x{}y", char::from(c))));
        for s in &cases {
            let json = |t: &str| serde_json::to_string(t).expect("a string serializes");
            assert_eq!(json_quoted(s, Dollar::Keep), json(s), "{s:?}");
            assert_eq!(
                json_quoted(s, Dollar::Double),
                json(&s.replace('$', "$$")),
                "{s:?}"
            );
            assert_eq!(json_quoted(s, Dollar::Kube), json(&kube_escape(s)), "{s:?}");
        }
    }
}
