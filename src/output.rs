//! Output: writing a file set into the output directory (staged, then renamed into place, stale
//! files removed, the manifests last), `verify`, and the `--check` comparison.
//!
//! Two manifests, so that what may be committed never carries anything derived from a secret:
//! `DIR/SHA256SUMS` (0644) lists every file outside `secrets/`; `DIR/secrets/SHA256SUMS` (0600)
//! lists every file under `secrets/`, by paths relative to `secrets/`. A checkout without
//! `secrets/` (CI) is checked against the first alone.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::error::Error;
use crate::render::FileSet;

/// The manifest of the outputs outside `secrets/` (the ones that may be committed), written last.
pub const SUMS: &str = "SHA256SUMS";

/// The manifest of the files under `secrets/`, inside it (0600), paths relative to `secrets/`.
pub const SECRET_SUMS: &str = "secrets/SHA256SUMS";

/// The directory of secrets and everything derived from them.
pub const SECRETS_DIR: &str = "secrets";

/// Whether a path (relative to the output directory) is under `secrets/`.
#[must_use]
pub fn is_secret_path(rel: &str) -> bool {
    rel == SECRETS_DIR
        || rel
            .strip_prefix(SECRETS_DIR)
            .is_some_and(|r| r.starts_with('/'))
}

/// Whether `DIR/secrets/` exists (a directory, or a link to one).
#[must_use]
pub fn has_secrets(dir: &Path) -> bool {
    dir.join(SECRETS_DIR).is_dir()
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory, synced, then renamed
/// over the target, so a reader sees the old file or the new one, never half of one.
///
/// # Errors
/// I/O errors.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let tmp = stage(path, bytes, mode.unwrap_or(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn stage(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".misp-gen-")
        .tempfile_in(dir)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    // No fsync per file: the rename already makes each file old or new after a crash of misp-gen,
    // which is the promise; durability against power loss is the file system's, as for `cp`. An
    // fsync per file made a render ten times slower than copying its output.
    Ok(tmp)
}

/// Lower-case hex SHA-256.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The SHA256SUMS text of the files outside `secrets/`: `HEX  PATH` lines sorted by path, as
/// `sha256sum -c` reads them. Nothing under `secrets/` is listed: an unsalted digest of a
/// password in a 0644 file (or a CI log) would allow guessing it offline.
#[must_use]
pub fn sums(files: &FileSet) -> String {
    let mut s = String::new();
    for (path, f) in files.iter().filter(|(p, _)| !is_secret_path(p)) {
        s.push_str(&sha256_hex(&f.bytes));
        s.push_str("  ");
        s.push_str(path);
        s.push('\n');
    }
    s
}

/// The `secrets/SHA256SUMS` text: the files under `secrets/`, paths relative to it (so that
/// `cd secrets && sha256sum -c SHA256SUMS` works wherever the directory is copied). `None` when
/// the set has nothing under `secrets/`.
#[must_use]
pub fn secret_sums(files: &FileSet) -> Option<String> {
    let mut s = String::new();
    for (path, f) in files {
        let Some(rel) = path.strip_prefix("secrets/") else {
            continue;
        };
        s.push_str(&sha256_hex(&f.bytes));
        s.push_str("  ");
        s.push_str(rel);
        s.push('\n');
    }
    (!s.is_empty()).then_some(s)
}

/// The file set with its two manifests added.
#[must_use]
pub fn with_manifests(files: &FileSet) -> FileSet {
    let mut all = files.clone();
    if let Some(text) = secret_sums(files) {
        crate::render::add_secret(&mut all, SECRET_SUMS, text);
    }
    crate::render::add(&mut all, SUMS, sums(files), 0o644);
    all
}

/// A path from a SHA256SUMS file that is safe to touch: relative, no `..`, no empty parts.
fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Read `DIR/SHA256SUMS`: path → hex. Missing file: empty. (A manifest written before the split
/// may still list files under `secrets/`; callers decide what to do with those.)
fn read_sums(dir: &Path) -> Result<BTreeMap<String, String>, Error> {
    Ok(read_manifest(dir, SUMS, "")?.unwrap_or_default())
}

/// Read the manifest `DIR/rel`, prefixing each path with `prefix`: path → hex. `None` when the
/// file does not exist.
fn read_manifest(
    dir: &Path,
    rel: &str,
    prefix: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    let p = dir.join(rel);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io(format!("cannot read {}", p.display()), e)),
    };
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((hex, path)) = line.split_once("  ").or_else(|| line.split_once(" *")) else {
            continue;
        };
        if hex.len() == 64 && safe_rel(path) {
            out.insert(format!("{prefix}{path}"), hex.to_owned());
        }
    }
    Ok(Some(out))
}

fn dir_mode(rel_dir: &str) -> u32 {
    if rel_dir == "secrets" || rel_dir.starts_with("secrets/") {
        0o700
    } else {
        0o755
    }
}

fn ensure_dirs(out: &Path, rel: &str) -> Result<(), Error> {
    let mut cur = PathBuf::from(out);
    let parts: Vec<&str> = rel.split('/').collect();
    let mut rel_dir = String::new();
    for part in &parts[..parts.len().saturating_sub(1)] {
        cur.push(part);
        if !rel_dir.is_empty() {
            rel_dir.push('/');
        }
        rel_dir.push_str(part);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {
                if rel_dir == "secrets" && m.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(&cur, std::fs::Permissions::from_mode(0o700))
                        .map_err(|e| Error::Io(format!("cannot restrict {}", cur.display()), e))?;
                }
            }
            Ok(_) => {
                return Err(Error::Failed(format!(
                    "{} exists and is not a directory",
                    cur.display()
                )));
            }
            Err(_) => {
                std::fs::create_dir(&cur)
                    .map_err(|e| Error::Io(format!("cannot create {}", cur.display()), e))?;
                std::fs::set_permissions(&cur, std::fs::Permissions::from_mode(dir_mode(&rel_dir)))
                    .map_err(|e| {
                        Error::Io(format!("cannot set the mode of {}", cur.display()), e)
                    })?;
            }
        }
    }
    Ok(())
}

/// What a write changed.
#[derive(Debug, Default)]
pub struct Report {
    pub written: Vec<String>,
    pub unchanged: usize,
    pub removed: Vec<String>,
}

/// Write `files` into `out`: every changed file staged first (so a failure changes nothing), then
/// renamed into place; files the previous render listed and this one does not are removed (never
/// under `secrets/`); SHA256SUMS last.
///
/// # Errors
/// I/O errors; nothing was changed when staging failed.
pub fn write(out: &Path, files: &FileSet) -> Result<Report, Error> {
    match std::fs::symlink_metadata(out) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::Failed(format!(
                "{} exists and is not a directory",
                out.display()
            )));
        }
        Ok(_) => {}
        Err(_) => std::fs::create_dir_all(out)
            .map_err(|e| Error::Io(format!("cannot create {}", out.display()), e))?,
    }
    let previous = read_sums(out)?;
    let mut report = Report::default();
    // Stage.
    let mut staged = Vec::new();
    for (rel, f) in files {
        let path = out.join(rel);
        let same = std::fs::read(&path).is_ok_and(|b| b == f.bytes)
            && std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o777 == f.mode);
        if same {
            report.unchanged += 1;
            continue;
        }
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            return Err(Error::Failed(format!(
                "{} is a directory; misp-gen needs to write a file there",
                path.display()
            )));
        }
        ensure_dirs(out, rel)?;
        let tmp = stage(&path, &f.bytes, f.mode)
            .map_err(|e| Error::Io(format!("cannot write {}", path.display()), e))?;
        staged.push((rel.clone(), path, tmp));
    }
    // Commit.
    for (rel, path, tmp) in staged {
        tmp.persist(&path)
            .map_err(|e| Error::Io(format!("cannot write {}", path.display()), e.error))?;
        report.written.push(rel);
    }
    // Remove what the previous render wrote and this one does not.
    for rel in previous.keys() {
        if files.contains_key(rel) || is_secret_path(rel) {
            continue;
        }
        let path = out.join(rel);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(&path)
                .map_err(|e| Error::Io(format!("cannot remove {}", path.display()), e))?;
            report.removed.push(rel.clone());
            let mut dir = path.parent().map(Path::to_path_buf);
            while let Some(d) = dir {
                if d == out || std::fs::remove_dir(&d).is_err() {
                    break;
                }
                dir = d.parent().map(Path::to_path_buf);
            }
        }
    }
    // The manifests last: the secrets' one first, so that SHA256SUMS, the last file written,
    // marks a complete render.
    if let Some(text) = secret_sums(files) {
        let p = out.join(SECRET_SUMS);
        ensure_dirs(out, SECRET_SUMS)?;
        write_atomic(&p, text.as_bytes(), Some(0o600))
            .map_err(|e| Error::Io(format!("cannot write {}", p.display()), e))?;
    }
    write_atomic(&out.join(SUMS), sums(files).as_bytes(), Some(0o644))
        .map_err(|e| Error::Io(format!("cannot write {}", out.join(SUMS).display()), e))?;
    Ok(report)
}

/// Problems `verify` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verify {
    pub modified: Vec<String>,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// `secrets/` was absent, so only the files outside it were checked.
    pub secrets_skipped: bool,
}

impl Verify {
    #[must_use]
    pub fn ok(&self) -> bool {
        self.modified.is_empty() && self.missing.is_empty() && self.unexpected.is_empty()
    }
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
        match std::fs::read(dir.join(rel)) {
            Ok(b) if sha256_hex(&b) == *hex => {}
            Ok(_) => v.modified.push(rel.clone()),
            Err(_) => v.missing.push(rel.clone()),
        }
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
        let path = out.join(rel);
        let Ok(old) = std::fs::read(&path) else {
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
        report.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{rel}"), &format!("b/{rel}"))
                .to_string(),
        );
    }
    for rel in previous.keys() {
        if !files.contains_key(rel) && !is_secret_path(rel) && out.join(rel).is_file() {
            let _ = writeln!(report, "stale: {rel} (render would remove it)");
        }
    }
    Ok(report)
}
