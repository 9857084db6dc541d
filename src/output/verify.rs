//! `verify` (the directory against its manifests, and the modes of `secrets/`) and the
//! `--check` comparison of a render with what is written.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::{
    Entry, SECRET_SUMS, SECRETS_DIR, SUMS, entry, has_secrets, is_derived_secret, is_secret_path,
    read_entry, read_manifest, read_sums, sha256_hex, with_manifests,
};
use crate::error::Error;
use crate::fileset::FileSet;

/// Problems `verify` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verify {
    pub modified: Vec<String>,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// `secrets/` was absent, so only the files outside it were checked.
    pub secrets_skipped: bool,
    /// Directories under `secrets/` wider than 0700, and values or keys readable by others.
    pub modes: Vec<String>,
}

impl Verify {
    #[must_use]
    pub fn ok(&self) -> bool {
        self.modified.is_empty()
            && self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.modes.is_empty()
    }
}

/// What under `secrets/` others can reach: a directory wider than 0700, or a kept value (not a
/// derived file, see [`is_derived_secret`]) with any group or other bit.
fn wide_secret_modes(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, rel: &str, out: &mut Vec<String>) {
        let p = root.join(rel);
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            return;
        };
        let mode = m.permissions().mode() & 0o777;
        if m.is_dir() {
            if mode & 0o077 != 0 {
                out.push(format!("{rel}/ is {mode:04o}, wider than 0700"));
            }
            let Ok(rd) = std::fs::read_dir(&p) else {
                return;
            };
            let mut names: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                walk(root, &format!("{rel}/{n}"), out);
            }
        } else if m.is_file() && mode & 0o077 != 0 && !is_derived_secret(rel) {
            // The kept values; derived files have the modes their readers need (0444 copies
            // for non-root containers), inside the 0700 directories.
            out.push(format!("{rel} is {mode:04o}, readable by others"));
        }
    }
    let mut out = Vec::new();
    walk(dir, SECRETS_DIR, &mut out);
    out
}

fn walk(root: &Path, rel: &str, out: &mut BTreeSet<String>) -> std::io::Result<()> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(root, &child, out)?;
        } else {
            out.insert(child);
        }
    }
    Ok(())
}

/// Check `dir` against its manifests: `SHA256SUMS` for the files outside `secrets/`, and, when
/// `secrets/` is there, `secrets/SHA256SUMS` for the files under it. Without `secrets/` (a
/// checkout of the committed outputs) nothing under it is expected.
///
/// # Errors
/// No SHA256SUMS, or I/O errors.
pub fn verify(dir: &Path) -> Result<Verify, Error> {
    if !dir.join(SUMS).is_file() {
        return Err(Error::Failed(format!(
            "{} has no {SUMS}: it was not written by misp-gen render, or the file is lost",
            dir.display()
        )));
    }
    let top = read_sums(dir)?;
    let secrets = has_secrets(dir);
    let mut expected: BTreeMap<String, String> = top
        .iter()
        .filter(|(p, _)| !is_secret_path(p))
        .map(|(p, h)| (p.clone(), h.clone()))
        .collect();
    let mut v = Verify {
        secrets_skipped: !secrets,
        ..Verify::default()
    };
    if secrets {
        if let Some(listed) = read_manifest(dir, SECRET_SUMS, "secrets/")? {
            expected.extend(listed);
        } else {
            // A directory rendered before the manifests were split lists its secrets in
            // SHA256SUMS; anything newer must have secrets/SHA256SUMS.
            let old: Vec<_> = top.iter().filter(|(p, _)| is_secret_path(p)).collect();
            if old.is_empty() {
                v.missing.push(SECRET_SUMS.to_owned());
            }
            expected.extend(old.into_iter().map(|(p, h)| (p.clone(), h.clone())));
        }
    }
    for (rel, hex) in &expected {
        match read_entry(dir, rel) {
            Ok(Some(b)) if sha256_hex(&b) == *hex => {}
            Ok(None) => v.missing.push(rel.clone()),
            // Changed, or a link, a FIFO or a directory where a file was written (never
            // followed or read).
            Ok(Some(_)) | Err(_) => v.modified.push(rel.clone()),
        }
    }
    if secrets {
        v.modes = wide_secret_modes(dir);
    }
    let mut present = BTreeSet::new();
    walk(dir, "", &mut present)
        .map_err(|e| Error::Io(format!("cannot read {}", dir.display()), e))?;
    for rel in present {
        if rel != SUMS && rel != SECRET_SUMS && !expected.contains_key(&rel) {
            v.unexpected.push(rel);
        }
    }
    v.missing.sort();
    Ok(v)
}

/// SHA256SUMS text with the digest of every file under `secrets/` replaced: a manifest written
/// before the split listed them, and a diff must not print them.
fn redact_sums(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match line.split_once("  ").or_else(|| line.split_once(" *")) {
            Some((_, path)) if is_secret_path(path.trim_end_matches('\n')) => {
                out.push_str("[digest of a file under secrets/, not shown]  ");
                out.push_str(path);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Compare a rendered file set with what `out` holds; a unified diff of every difference (secret
/// files are named, their content never shown). Empty when equal. With `with_secrets` false (a
/// checkout without `secrets/`), only the files outside `secrets/` and SHA256SUMS are compared.
///
/// # Errors
/// I/O errors.
pub fn check(out: &Path, files: &FileSet, with_secrets: bool) -> Result<String, Error> {
    use std::fmt::Write as _;
    let mut report = String::new();
    let previous = read_sums(out)?;
    for (rel, f) in &with_manifests(files) {
        if !with_secrets && is_secret_path(rel) {
            continue;
        }
        let Some(old) = read_entry(out, rel)? else {
            let _ = writeln!(report, "missing: {rel} (render would create it)");
            continue;
        };
        if old == f.bytes {
            continue;
        }
        if f.secret {
            let _ = writeln!(report, "differs: {rel} (holds a secret; content not shown)");
            continue;
        }
        let mut old_text = String::from_utf8_lossy(&old).into_owned();
        if rel == SUMS {
            old_text = redact_sums(&old_text);
        }
        let new_text = String::from_utf8_lossy(&f.bytes);
        let diff = similar::TextDiff::from_lines(old_text.as_str(), new_text.as_ref());
        let diff = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{rel}"), &format!("b/{rel}"))
            .to_string();
        // The old side is whatever the directory holds: a line with a control character (ESC,
        // a CR that would let it pass for another) is shown escaped; the others as they are.
        for line in diff.split_inclusive('\n') {
            let body = line.strip_suffix('\n').unwrap_or(line);
            let escaped = crate::diag::printable(body);
            if escaped.replace("\\\\", "\\") == body {
                report.push_str(line);
            } else {
                report.push_str(&escaped);
                report.push('\n');
            }
        }
    }
    let previous_secrets = if with_secrets {
        read_manifest(out, SECRET_SUMS, "secrets/")?.unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    let mut stale = BTreeSet::new();
    for rel in previous.keys().chain(previous_secrets.keys()) {
        if !files.contains_key(rel)
            && (!is_secret_path(rel) || is_derived_secret(rel))
            && matches!(entry(out, rel)?, Entry::File(_))
        {
            let _ = writeln!(
                report,
                "stale: {} (render would remove it)",
                crate::diag::printable(rel)
            );
            stale.insert(rel.clone());
        }
    }
    let owned = with_manifests(files);
    for rel in extras(out, files, with_secrets)? {
        if !owned.contains_key(&rel) && !stale.contains(&rel) {
            let _ = writeln!(
                report,
                "unexpected: {} (the spec does not render it)",
                crate::diag::printable(&rel)
            );
        }
    }
    Ok(report)
}

/// What `--check` compares beyond the rendered files: everything under each directory it
/// renders into (`compose/`, `kubernetes/`, `systemd/`, and with `secrets/` present their
/// derived counterparts `secrets/compose/`…), so that a file added there (an extra unit, a
/// `compose.override.yaml` the engine would merge) is drift and not a way around the gate. The
/// kept values under `secrets/` are not compared: they stay when the spec stops using them. The
/// paths found, sorted; links and other non-regular entries are listed, never followed.
fn extras(out: &Path, files: &FileSet, with_secrets: bool) -> Result<BTreeSet<String>, Error> {
    let mut dirs = BTreeSet::new();
    for rel in files.keys() {
        let parts: Vec<&str> = rel.split('/').collect();
        match parts.as_slice() {
            [SECRETS_DIR, target, _, ..] if with_secrets && is_derived_secret(rel) => {
                dirs.insert(format!("{SECRETS_DIR}/{target}"));
            }
            [target, _, ..] if *target != SECRETS_DIR => {
                dirs.insert((*target).to_owned());
            }
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    for d in dirs {
        // A target directory that is a link, or not a directory, is refused by the comparison of
        // the files in it already.
        if std::fs::symlink_metadata(out.join(&d)).is_ok_and(|m| m.is_dir()) {
            walk(out, &d, &mut found)
                .map_err(|e| Error::Io(format!("cannot read {}", out.join(&d).display()), e))?;
        }
    }
    Ok(found)
}
