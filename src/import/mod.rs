//! `misp-gen import`: compose files in, a spec that validates and a conversion report out.
//!
//! Compose files are read as Compose reads them (interpolation from `.env` or `--env-file` and the
//! environment, override files merged in order, profiles), then converted key by key; every key
//! is carried, carried with a change of meaning, guessed or not carried, and each of those is a
//! report line at its compose `file:line:col`. The spec is checked by `validate` and rendered in
//! memory for every target before anything is written.

pub mod convert;
pub mod emit;
pub mod interp;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostic, Invalid, Pos};
use crate::error::Error;
use crate::spec::load;

/// What `import` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    /// The process environment (a map in tests).
    pub environment: BTreeMap<String, String>,
}

/// What `import` made: the spec's text, the report, and the values the compose project held.
#[derive(Debug)]
pub struct Imported {
    pub spec: String,
    pub report: Vec<Diagnostic>,
    /// The compose sources the report points into, secret values masked.
    pub sources: BTreeMap<String, String>,
    /// (secret name, value) for `--keep-secrets`.
    pub held: Vec<(String, String)>,
}

impl Imported {
    /// Whether a key or service was not carried (what `--strict` fails on).
    #[must_use]
    pub fn dropped(&self) -> usize {
        self.report
            .iter()
            .filter(|d| matches!(d.code, Code::NoteNotCarried | Code::NoteProfileOff))
            .count()
    }
}

const TOP_KEYS: [&str; 8] = [
    "version", "name", "services", "volumes", "networks", "secrets", "configs", "include",
];

fn located(file: &str, pos: Pos, code: Code, message: String, help: Option<&str>) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        pos,
        pointer: String::new(),
        code,
        message,
        help: help.map(str::to_owned),
    }
}

fn invalid(diags: Vec<Diagnostic>, sources: BTreeMap<String, String>) -> Error {
    let mut diags = diags;
    crate::diag::sort_dedup(&mut diags);
    Error::Invalid(Invalid { diags, sources })
}

/// A loader message about "a spec" reworded for a compose file.
fn for_compose(mut d: Diagnostic) -> Diagnostic {
    d.message = d
        .message
        .replace("a spec may be", "a compose file may be")
        .replace(
            "a spec is one YAML document",
            "a compose file is one YAML document",
        )
        .replace("holds no spec", "holds no compose project");
    d.help = d.help.map(|h| {
        h.replace("save the spec as UTF-8", "save the compose file as UTF-8")
            .replace(
                "start from `misp-gen init`",
                "a compose file lists its containers under `services:`",
            )
    });
    d
}

/// Read the env files Compose reads: each `--env-file` in order, else `.env` beside the first
/// compose file. The process environment wins over all of them (Compose's precedence).
fn project_env(
    opts: &Options,
    project_dir: &Path,
) -> Result<BTreeMap<String, String>, Vec<Diagnostic>> {
    let mut files: Vec<(PathBuf, bool)> =
        opts.env_files.iter().map(|f| (f.clone(), true)).collect();
    if files.is_empty() {
        files.push((project_dir.join(".env"), false));
    }
    let mut vars = BTreeMap::new();
    let mut errors = Vec::new();
    for (path, required) in files {
        let name = path.display().to_string();
        let bytes = match load::read_input(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => {
                errors.push(located(
                    &name,
                    Pos::START,
                    Code::ComposeFile,
                    format!("cannot read the env file: {e}"),
                    None,
                ));
                continue;
            }
        };
        let Ok(text) = String::from_utf8(bytes) else {
            errors.push(located(
                &name,
                Pos::START,
                Code::ComposeFile,
                "the env file is not UTF-8 text".into(),
                None,
            ));
            continue;
        };
        let outer = |k: &str| {
            opts.environment
                .get(k)
                .cloned()
                .or_else(|| vars.get(k).cloned())
        };
        match interp::parse_env_file(&text, &outer) {
            Ok(lines) => {
                for l in lines {
                    vars.insert(l.name, l.value);
                }
            }
            Err(e) => errors.push(located(
                &name,
                Pos {
                    line: e.line,
                    col: 1,
                },
                Code::Interpolation,
                e.failure.message,
                e.failure.help.as_deref(),
            )),
        }
    }
    if errors.is_empty() {
        Ok(vars)
    } else {
        Err(errors)
    }
}

/// Compose's project name: lowercase letters, digits, `-` and `_`.
fn normalize_project(s: &str) -> String {
    let out: String = s
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    let out = out.trim_start_matches(['-', '_']).to_owned();
    if out.is_empty() {
        "default".into()
    } else {
        out
    }
}

/// Import compose files into a spec.
///
/// # Errors
/// `Error::Invalid` with every located problem (exit 1): unreadable or malformed files,
/// interpolation failures, services that cannot be carried.
#[expect(clippy::too_many_lines, reason = "the stages of an import in order")]
pub fn import(opts: &Options) -> Result<Imported, Error> {
    let Some(first) = opts.files.first() else {
        return Err(Error::Usage(
            "import needs at least one compose file".into(),
        ));
    };
    let project_dir = first
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let project_dir = if project_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        project_dir
    };
    let names: Vec<String> = opts.files.iter().map(|p| p.display().to_string()).collect();
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    let env_vars = project_env(opts, &project_dir).map_err(|d| invalid(d, BTreeMap::new()))?;
    let lookup = |k: &str| {
        opts.environment
            .get(k)
            .cloned()
            .or_else(|| env_vars.get(k).cloned())
    };
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut report: Vec<Diagnostic> = Vec::new();
    let mut merged: Option<tree::Node> = None;
    for (i, path) in opts.files.iter().enumerate() {
        let name = &names[i];
        let bytes = match load::read_input(path) {
            Ok(b) => b,
            Err(e) => {
                errors.push(located(
                    name,
                    Pos::START,
                    Code::ComposeFile,
                    format!("cannot read the compose file: {e}"),
                    None,
                ));
                continue;
            }
        };
        let doc = match load::load(name, &bytes) {
            Ok(d) => d,
            Err(d) => {
                errors.push(for_compose(*d));
                continue;
            }
        };
        sources.insert(name.clone(), doc.source.clone());
        let mut node = tree::from_doc(&doc, i);
        if !node.is_map() {
            errors.push(located(
                name,
                doc.pos(""),
                Code::ComposeFile,
                format!(
                    "not a compose file: the top level is {}, not a mapping",
                    node.kind()
                ),
                Some("a compose file is a mapping with `services:`"),
            ));
            continue;
        }
        let mut bad = false;
        for (k, n) in node.entries() {
            if !TOP_KEYS.contains(&k.as_str()) && !k.starts_with("x-") {
                let help = if k == "apiVersion" {
                    Some("this looks like a misp-gen spec already: `misp-gen validate` it")
                } else {
                    Some(
                        "the top level of a compose file has version, name, services, volumes, networks, secrets, configs, include and x-… keys",
                    )
                };
                errors.push(located(
                    name,
                    n.at.key,
                    Code::ComposeFile,
                    format!("not a compose file: unknown top-level key `{k}`"),
                    help,
                ));
                bad = true;
            }
        }
        if bad {
            continue;
        }
        // Interpolation, as Compose does it: every string value, before files are merged.
        let mut seen = interp::Seen::default();
        let mut interp_errors: Vec<Diagnostic> = Vec::new();
        let mut unset: BTreeMap<String, tree::Loc> = BTreeMap::new();
        tree::map_strings(
            &mut node,
            &mut |s: &str, at: &tree::Loc| {
                let before = seen.unset.len();
                let r = interp::interpolate(s, &lookup, &mut seen).map_err(|f| Diagnostic {
                    file: name.clone(),
                    pos: at.pos,
                    pointer: at.ptr.clone(),
                    code: Code::Interpolation,
                    message: f.message,
                    help: f.help,
                });
                for v in seen.unset.drain(before..) {
                    unset.entry(v).or_insert_with(|| at.clone());
                }
                r
            },
            &mut interp_errors,
        );
        errors.extend(interp_errors);
        for (v, at) in unset {
            report.push(Diagnostic {
                file: name.clone(),
                pos: at.pos,
                pointer: at.ptr.clone(),
                code: Code::NoteChanged,
                message: format!("variable {v} is not set: a blank string here, as Compose does"),
                help: Some(
                    "set it in .env or the environment, or give it a default (`${V:-default}`)"
                        .into(),
                ),
            });
        }
        tree::normalize(&mut node);
        match &mut merged {
            None => merged = Some(node),
            Some(base) => tree::merge(base, node, &[]),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors, sources));
    }
    let Some(root) = merged else {
        return Err(invalid(errors, sources));
    };
    let mut profiles: BTreeSet<String> = opts.profiles.iter().cloned().collect();
    if let Some(p) = lookup("COMPOSE_PROFILES") {
        profiles.extend(
            p.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
    }
    let project = root
        .get("name")
        .and_then(tree::Node::text)
        .or_else(|| lookup("COMPOSE_PROJECT_NAME"))
        .unwrap_or_else(|| {
            std::fs::canonicalize(&project_dir)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "default".into())
        });
    let cx = convert::Ctx {
        files: &names,
        lookup: &lookup,
        project_dir: project_dir.clone(),
        profiles,
        project: normalize_project(&project),
    };
    let conv = convert::convert(&root, &cx);
    let held: Vec<(String, String)> = conv
        .secrets
        .iter()
        .filter_map(|s| s.value.clone().map(|v| (s.name.clone(), v)))
        .collect();
    mask(&mut sources, &names, &conv.masked, &held);
    report.extend(conv.report);
    if !conv.errors.is_empty() {
        return Err(invalid(conv.errors, sources));
    }
    let mut comments = conv.comments;
    comments.insert(
        String::new(),
        vec![format!(
            "Imported by `misp-gen import` from {}.\nEvery change of meaning, every guess and every key not carried is in the import's\nreport (each at its compose file:line:col); read it before deploying. Validate with\n`misp-gen validate`, render with `misp-gen render`.",
            names.join(", ")
        )],
    );
    let text = emit::yaml(&conv.spec, &comments);
    // The spec must validate and render for every target: what import writes is a spec.
    let checked = crate::validate::validate_bytes("imported spec", text.as_bytes(), None, None)
        .and_then(|v| crate::pipeline::check_renderable(&v));
    if let Err(e) = checked {
        let detail = match e {
            Error::Invalid(inv) => inv
                .diags
                .iter()
                .map(|d| format!("{}:{}: {}", d.pos.line, d.pos.col, d.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        return Err(Error::Internal(format!(
            "the spec import made does not validate ({detail}); please report this with the compose file's shape"
        )));
    }
    crate::diag::sort_dedup(&mut report);
    Ok(Imported {
        spec: text,
        report,
        sources,
        held,
    })
}

/// Keep secret values out of the excerpts the human report prints: the scalars that held one, and
/// any other place the value appears, are replaced by `*` (same length, so carets stay put).
fn mask(
    sources: &mut BTreeMap<String, String>,
    names: &[String],
    masked: &[tree::Loc],
    held: &[(String, String)],
) {
    for (file, text) in sources.iter_mut() {
        let mut chars: Vec<char> = text.chars().collect();
        for at in masked {
            if names.get(at.file) != Some(file) {
                continue;
            }
            if let Some((s, e)) = at.chars {
                let end = e.min(chars.len());
                for c in chars.iter_mut().take(end).skip(s) {
                    if *c != '\n' {
                        *c = '*';
                    }
                }
            }
        }
        let mut t: String = chars.into_iter().collect();
        for (_, v) in held {
            if v.chars().count() >= 3 && !v.contains('\n') {
                t = t.replace(v.as_str(), &"*".repeat(v.chars().count()));
            }
        }
        *text = t;
    }
}

/// Write each held secret to `DIR/secrets/<name>` (0600, the directory 0700) in the form `render`
/// reads: the value alone. A file that is there already with another value is refused before
/// anything is written.
///
/// # Errors
/// A different kept value, or I/O.
pub fn keep_secrets(dir: &Path, held: &[(String, String)]) -> Result<Vec<String>, Error> {
    let secrets = dir.join("secrets");
    let mut written = Vec::new();
    for (name, value) in held {
        let p = secrets.join(name);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if !m.is_file() => {
                return Err(Error::Failed(format!(
                    "{} is not a regular file: remove it, or choose another --keep-secrets DIR",
                    p.display()
                )));
            }
            Ok(_) => {
                let old = load::read_input(&p)
                    .map_err(|e| Error::Io(format!("cannot read {}", p.display()), e))?;
                let old = String::from_utf8_lossy(&old);
                if old.trim_end_matches(['\n', '\r']) != value {
                    return Err(Error::Failed(format!(
                        "{} holds another value already; misp-gen never replaces a kept secret: move it away to keep the compose project's value",
                        p.display()
                    )));
                }
            }
            Err(_) => {}
        }
    }
    if !held.is_empty() {
        private_dir(&secrets)?;
    }
    for (name, value) in held {
        let p = secrets.join(name);
        crate::output::write_atomic(&p, value.as_bytes(), Some(0o600))
            .map_err(|e| Error::Io(format!("cannot write {}", p.display()), e))?;
        written.push(p.display().to_string());
    }
    Ok(written)
}

/// `dir` (and its parents) created, `dir` itself 0700 whatever it was.
fn private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Failed(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        Err(_) => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::Io(format!("cannot create {}", dir.display()), e))?,
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::Io(format!("cannot restrict {}", dir.display()), e))
}
