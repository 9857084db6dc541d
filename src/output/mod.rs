//! Output: writing a file set into the output directory (staged, then renamed into place, stale
//! files removed, the manifests last), `verify`, and the `--check` comparison.
//!
//! Two manifests, so that what may be committed never carries anything derived from a secret:
//! `DIR/SHA256SUMS` (0644) lists every file outside `secrets/`; `DIR/secrets/SHA256SUMS` (0600)
//! lists every file under `secrets/`, by paths relative to `secrets/`. A checkout without
//! `secrets/` (CI) is checked against the first alone.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::fileset::FileSet;
pub use crate::fileset::sha256_hex;

mod verify;
pub use verify::{Verify, check, verify};

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

/// How long a render waits for another one that holds the output directory's lock.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// [`LOCK_WAIT`], or `MISP_GEN_LOCK_WAIT` seconds (0: fail at once when another render holds it).
#[must_use]
pub fn lock_wait() -> std::time::Duration {
    std::env::var("MISP_GEN_LOCK_WAIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(LOCK_WAIT, std::time::Duration::from_secs)
}

/// The largest file misp-gen reads back from an output directory (a kept secret, a manifest, an
/// output to compare): larger ones are not its own.
pub const MAX_READ: u64 = 64 << 20;

/// A held lock on an output directory: `flock` on the directory itself, so that nothing is added
/// to the tree (nothing to commit or ignore). Released when dropped, or when the process ends
/// however it ends (the kernel releases it: a `kill -9` leaves no stale lock).
#[derive(Debug)]
pub struct DirLock {
    _dir: std::fs::File,
}

/// A refusal to touch the output directory (exit 2): nothing was written or removed.
fn refused(msg: String) -> Error {
    Error::Io(msg, std::io::Error::other("refused"))
}

/// The PID holding a `flock` on `dir`, from `/proc/locks` (Linux), if it can be told.
fn lock_holder(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(dir).ok()?;
    let dev = m.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let key = format!("{major:02x}:{minor:02x}:{}", m.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF`
        let i = f.iter().position(|w| *w == "FLOCK")?;
        (f.get(i + 4) == Some(&key.as_str()))
            .then(|| f.get(i + 3)?.parse().ok())
            .flatten()
    })
}

fn open_dir(dir: &Path) -> Result<std::fs::File, Error> {
    std::fs::File::open(dir).map_err(|e| Error::Io(format!("cannot open {}", dir.display()), e))
}

/// Take `dir`'s lock exclusive (a render; `dir` is created): waits up to `wait` for a render that
/// holds it, then fails naming that process.
///
/// # Errors
/// Another render holds the lock past `wait`; I/O errors.
pub fn lock_exclusive(dir: &Path, wait: std::time::Duration) -> Result<DirLock, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Io(format!("cannot create {}", dir.display()), e))?;
    let file = open_dir(dir)?;
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(DirLock { _dir: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = lock_holder(dir)
                    .map_or_else(|| "another misp-gen".to_owned(), |p| format!("process {p}"));
                if started.elapsed() >= wait {
                    return Err(Error::Failed(format!(
                        "{} is being rendered by {holder}; waited {}s: try again when it is done",
                        dir.display(),
                        wait.as_secs()
                    )));
                }
                if !told {
                    told = true;
                    eprintln!(
                        "waiting for {holder}, which is rendering into {} (up to {}s)",
                        dir.display(),
                        wait.as_secs()
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::Io(format!("cannot lock {}", dir.display()), e));
            }
        }
    }
}

/// Take `dir`'s lock shared (`verify`, `--check`): waits while a render holds it. No directory:
/// nothing to wait for.
///
/// # Errors
/// I/O errors.
pub fn lock_shared(dir: &Path) -> Result<Option<DirLock>, Error> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let file = open_dir(dir)?;
    file.lock_shared()
        .map_err(|e| Error::Io(format!("cannot lock {}", dir.display()), e))?;
    Ok(Some(DirLock { _dir: file }))
}

/// What is at `dir/rel`, checked without following links: every directory on the way must be a
/// real directory inside `dir` (a link would let a write or a removal escape it), and the file
/// itself a regular file (a FIFO would hang a read, a device or a link is not misp-gen's).
#[derive(Debug)]
pub enum Entry {
    Absent,
    File(std::fs::Metadata),
}

/// See [`Entry`].
///
/// # Errors
/// A refusal naming what is in the way (exit 2).
pub fn entry(dir: &Path, rel: &str) -> Result<Entry, Error> {
    entry_with(dir, rel, &mut std::collections::HashSet::new())
}

/// [`entry`], skipping the directories on the way already found to be real directories inside
/// `dir` (`known`, relative paths; the caller holds the lock, so they stay so) and adding those
/// it checks: a render of thousands of files looks at each directory once.
fn entry_with(
    dir: &Path,
    rel: &str,
    known: &mut std::collections::HashSet<String>,
) -> Result<Entry, Error> {
    let mut cur = dir.to_path_buf();
    let mut end = 0;
    for part in rel.split('/') {
        cur.push(part);
        end += part.len();
        // `rel` up to and including this part.
        let prefix = &rel[..end];
        end += 1;
        let last = end > rel.len();
        if !last && known.contains(prefix) {
            continue;
        }
        match std::fs::symlink_metadata(&cur) {
            Err(_) => return Ok(Entry::Absent),
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refused(format!(
                    "{} is a symbolic link; misp-gen never reads, writes or removes through a link inside the output directory: replace it with a directory or file of its own",
                    cur.display()
                )));
            }
            Ok(m) if last && m.is_file() => return Ok(Entry::File(m)),
            Ok(m) if !last && m.is_dir() => {
                known.insert(prefix.to_owned());
            }
            Ok(m) => {
                let what = if m.is_dir() {
                    "a directory"
                } else if m.is_file() {
                    "a file"
                } else {
                    "not a regular file or directory"
                };
                return Err(refused(format!(
                    "{} is {what}; misp-gen needs a {} there",
                    cur.display(),
                    if last { "regular file" } else { "directory" }
                )));
            }
        }
    }
    Ok(Entry::Absent)
}

/// The bytes of `dir/rel` if it is a regular file inside `dir` of at most [`MAX_READ`] bytes.
///
/// # Errors
/// See [`entry`]; a file that is too large; I/O errors.
pub fn read_entry(dir: &Path, rel: &str) -> Result<Option<Vec<u8>>, Error> {
    match entry(dir, rel)? {
        Entry::Absent => Ok(None),
        Entry::File(m) if m.len() > MAX_READ => Err(refused(format!(
            "{} is {} bytes, more than misp-gen ever writes",
            dir.join(rel).display(),
            m.len()
        ))),
        Entry::File(m) => {
            use std::io::Read as _;
            use std::os::unix::fs::MetadataExt as _;
            let p = dir.join(rel);
            let io = |e| Error::Io(format!("cannot read {}", p.display()), e);
            let file = std::fs::File::open(&p).map_err(io)?;
            // What was opened is what was looked at: not a link or a FIFO swapped in since.
            let opened = file.metadata().map_err(io)?;
            if !opened.is_file() || (opened.dev(), opened.ino()) != (m.dev(), m.ino()) {
                return Err(refused(format!(
                    "{} changed while misp-gen read it; nothing else may write into the output directory during a render",
                    p.display()
                )));
            }
            let mut buf = Vec::new();
            file.take(MAX_READ + 1).read_to_end(&mut buf).map_err(io)?;
            if buf.len() as u64 > MAX_READ {
                return Err(refused(format!(
                    "{} grew past {} bytes while misp-gen read it",
                    p.display(),
                    MAX_READ
                )));
            }
            Ok(Some(buf))
        }
    }
}

/// The bytes of a file [`entry_with`] found to be a regular file inside the directory, of `len`
/// bytes (its size already compared with what is about to be written): at most `len + 1` bytes
/// (one more, so that a file grown since compares unequal) into a buffer of that size. Through
/// `take`, as `File`'s own `read_to_end` (and `std::fs::read`) asks for the size and position
/// again: two system calls more per unchanged file of a re-render.
fn read_checked(p: &Path, len: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let read = || {
        let limit = len.saturating_add(1);
        let mut buf = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
        std::fs::File::open(p)?.take(limit).read_to_end(&mut buf)?;
        Ok(buf)
    };
    read().map_err(|e| Error::Io(format!("cannot read {}", p.display()), e))
}

/// Remove what killed renders left staged (`.misp-gen-*` temporary files), never following links.
fn remove_staged(dir: &Path) -> Result<usize, Error> {
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name();
        if ft.is_dir() {
            n += remove_staged(&e.path())?;
        } else if ft.is_file() && name.to_string_lossy().starts_with(".misp-gen-") {
            std::fs::remove_file(e.path())
                .map_err(|err| Error::Io(format!("cannot remove {}", e.path().display()), err))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Directories under `secrets/` are 0700 whatever they were widened to.
fn restrict_secret_dirs(dir: &Path) -> Result<(), Error> {
    fn walk(d: &Path) -> Result<(), Error> {
        let m = std::fs::symlink_metadata(d)
            .map_err(|e| Error::Io(format!("cannot read {}", d.display()), e))?;
        if !m.is_dir() {
            return Ok(());
        }
        if m.permissions().mode() & 0o777 != 0o700 {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::Io(format!("cannot restrict {}", d.display()), e))?;
        }
        for e in std::fs::read_dir(d)
            .map_err(|e| Error::Io(format!("cannot read {}", d.display()), e))?
            .flatten()
        {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path())?;
            }
        }
        Ok(())
    }
    walk(&dir.join(SECRETS_DIR))
}

/// Files under `secrets/` that a render derives from the values (per-target env files, mounted
/// copies, label files, the Kubernetes kustomization): removed like any output when no longer
/// rendered. The values themselves (`secrets/<name>`, `secrets/<name>/…`) are kept forever.
#[must_use]
pub fn is_derived_secret(rel: &str) -> bool {
    [
        "secrets/compose/",
        "secrets/kubernetes/",
        "secrets/systemd/",
    ]
    .iter()
    .any(|p| rel.starts_with(p))
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

/// A file written beside `path` under a temporary name and closed (a render stages thousands:
/// holding each open would run out of file descriptors); removed on drop unless persisted.
fn stage(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<tempfile::TempPath> {
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
    Ok(tmp.into_temp_path())
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
        crate::fileset::add_secret(&mut all, SECRET_SUMS, text);
    }
    crate::fileset::add(&mut all, SUMS, sums(files), 0o644);
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
    let Some(bytes) = read_entry(dir, rel)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
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

/// The directories a write has checked (relative paths) and those it created (removed again,
/// when empty, if the write fails).
#[derive(Default)]
struct Dirs {
    known: std::collections::HashSet<String>,
    created: Vec<PathBuf>,
}

fn ensure_dirs(out: &Path, rel: &str, dirs: &mut Dirs) -> Result<(), Error> {
    let mut cur = PathBuf::from(out);
    let parts: Vec<&str> = rel.split('/').collect();
    let mut rel_dir = String::new();
    for part in &parts[..parts.len().saturating_sub(1)] {
        cur.push(part);
        if !rel_dir.is_empty() {
            rel_dir.push('/');
        }
        rel_dir.push_str(part);
        // `secrets` is looked at every time: its mode is re-asserted before a value lands in it.
        if rel_dir != "secrets" && dirs.known.contains(&rel_dir) {
            continue;
        }
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
                dirs.created.push(cur.clone());
                std::fs::set_permissions(&cur, std::fs::Permissions::from_mode(dir_mode(&rel_dir)))
                    .map_err(|e| {
                        Error::Io(format!("cannot set the mode of {}", cur.display()), e)
                    })?;
            }
        }
        dirs.known.insert(rel_dir.clone());
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

/// Write `files` into `out` under its lock ([`lock_exclusive`], which the caller holds from
/// reading `secrets/` on): what killed renders left staged is removed first; every path is checked
/// (no link, FIFO or directory in the way) before anything changes; every changed file is staged
/// (so a failure changes nothing), then renamed into place; outputs the previous render listed and
/// this one does not are removed, derived files under `secrets/` included, kept values never;
/// directories under `secrets/` are made 0700 again; the manifests last.
///
/// # Errors
/// I/O errors and refusals (exit 2); nothing was changed when checking or staging failed.
pub fn write(out: &Path, files: &FileSet, _lock: &DirLock) -> Result<Report, Error> {
    let mut dirs = Dirs::default();
    let result = write_locked(out, files, &mut dirs);
    if result.is_err() {
        // Nothing staged is left (each staged file is removed on drop); directories this write
        // created for files it never committed go too.
        for d in dirs.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
    result
}

fn write_locked(out: &Path, files: &FileSet, dirs: &mut Dirs) -> Result<Report, Error> {
    match std::fs::metadata(out) {
        Ok(m) if !m.is_dir() => {
            return Err(refused(format!(
                "{} exists and is not a directory",
                out.display()
            )));
        }
        Ok(_) => {}
        Err(_) => std::fs::create_dir_all(out)
            .map_err(|e| Error::Io(format!("cannot create {}", out.display()), e))?,
    }
    remove_staged(out)?;
    let previous = read_sums(out)?;
    let previous_secrets = read_manifest(out, SECRET_SUMS, "secrets/")?.unwrap_or_default();
    // What goes: outputs of the previous render that this one does not write.
    let stale: Vec<&String> = previous
        .keys()
        .chain(previous_secrets.keys())
        .filter(|rel| !files.contains_key(*rel) && (!is_secret_path(rel) || is_derived_secret(rel)))
        .collect();
    // Check every path first: nothing is written or removed through a link.
    let mut existing = BTreeMap::new();
    for rel in files
        .keys()
        .chain(stale.iter().copied())
        .chain([&SUMS.to_owned(), &SECRET_SUMS.to_owned()])
    {
        if let Entry::File(m) = entry_with(out, rel, &mut dirs.known)? {
            existing.insert(rel.clone(), m);
        }
    }
    let mut report = Report::default();
    // Stage.
    let mut staged = Vec::new();
    for (rel, f) in files {
        let path = out.join(rel);
        if let Some(m) = existing.get(rel)
            && m.permissions().mode() & 0o777 == f.mode
            && m.len() == f.bytes.len() as u64
            && read_checked(&path, m.len())? == f.bytes
        {
            report.unchanged += 1;
            continue;
        }
        ensure_dirs(out, rel, dirs)?;
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
    for rel in stale {
        if !existing.contains_key(rel) {
            continue;
        }
        let path = out.join(rel);
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
    if existing.keys().any(|r| is_secret_path(r)) || files.keys().any(|r| is_secret_path(r)) {
        restrict_secret_dirs(out)?;
    }
    // The manifests last: the secrets' one first, so that SHA256SUMS, the last file written,
    // marks a complete render. Unchanged manifests are not rewritten (a read-only directory with
    // nothing to change renders fine).
    if let Some(text) = secret_sums(files)
        && read_entry(out, SECRET_SUMS)?.is_none_or(|b| b != text.as_bytes())
    {
        let p = out.join(SECRET_SUMS);
        ensure_dirs(out, SECRET_SUMS, dirs)?;
        write_atomic(&p, text.as_bytes(), Some(0o600))
            .map_err(|e| Error::Io(format!("cannot write {}", p.display()), e))?;
    }
    let text = sums(files);
    if read_entry(out, SUMS)?.is_none_or(|b| b != text.as_bytes()) {
        write_atomic(&out.join(SUMS), text.as_bytes(), Some(0o644))
            .map_err(|e| Error::Io(format!("cannot write {}", out.join(SUMS).display()), e))?;
    }
    Ok(report)
}
