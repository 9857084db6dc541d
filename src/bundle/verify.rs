//! An opened bundle (its archive index and `bundle.json`), and `bundle verify`: every checksum
//! and every image blob's digest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::archive::Archive;
use super::{FORMAT, blob_name, referenced};
use crate::Error;

/// An opened bundle: its index and `bundle.json`.
pub struct Bundle {
    pub archive: Archive,
    pub manifest: Value,
}

/// Open `file` as a bundle.
///
/// # Errors
/// Not readable (2), not a whole tar or no `bundle.json` (1), each naming the file.
pub fn open(file: &Path) -> Result<Bundle, Error> {
    if let Err(e) = std::fs::metadata(file) {
        return Err(Error::Io(
            format!("cannot read the bundle {}", file.display()),
            e,
        ));
    }
    let archive =
        Archive::open(file).map_err(|m| Error::Failed(format!("{}: {m}", file.display())))?;
    let bytes = archive.read("bundle.json").map_err(|_| {
        Error::Failed(format!(
            "{}: not a misp-gen bundle (no bundle.json)",
            file.display()
        ))
    })?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Failed(format!("{}: bundle.json is not JSON: {e}", file.display())))?;
    if manifest["bundle"].as_u64() != Some(u64::from(FORMAT)) {
        return Err(Error::Failed(format!(
            "{}: a bundle of format {}, this misp-gen reads format {FORMAT}",
            file.display(),
            manifest["bundle"]
        )));
    }
    Ok(Bundle { archive, manifest })
}

impl Bundle {
    pub(super) fn read_blob(&self, digest: &str) -> Result<Vec<u8>, Error> {
        let name = format!("images/{}", blob_name(digest)?);
        self.archive
            .read(&name)
            .map_err(|e| Error::Failed(format!("{}: {name}: {e}", self.archive.path.display())))
    }

    /// The images of `bundle.json`: (image, digest, media type).
    #[must_use]
    pub fn images(&self) -> Vec<(String, String, String)> {
        self.manifest["images"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    i["image"].as_str().unwrap_or_default().to_owned(),
                    i["digest"].as_str().unwrap_or_default().to_owned(),
                    i["media_type"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// Every difference between the bundle and its checksums and digests, one line each: `modified:`,
/// `missing:`, `unexpected:` for entries, `digest:` for a blob whose content is not its name,
/// `missing blob:` for one an image needs; each names the images a blob belongs to.
///
/// # Errors
/// As [`open`], and no SHA256SUMS (1).
pub fn verify(file: &Path) -> Result<Vec<String>, Error> {
    let b = open(file)?;
    let sums = b
        .archive
        .read("SHA256SUMS")
        .map_err(|_| Error::Failed(format!("{}: no SHA256SUMS", file.display())))?;
    let sums = String::from_utf8_lossy(&sums).into_owned();
    let mut listed = BTreeMap::new();
    for line in sums.lines() {
        if let Some((hex, path)) = line.split_once("  ") {
            listed.insert(path.to_owned(), hex.to_owned());
        }
    }
    // Which images each blob belongs to, from the manifests (read as they are).
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut needed = BTreeSet::new();
    for (image, digest, _) in b.images() {
        let mut set = BTreeSet::new();
        let _ = referenced(&digest, &|d| b.read_blob(d), &mut set);
        set.insert(digest.clone());
        for d in set {
            if let Ok(n) = blob_name(&d) {
                let name = format!("images/{n}");
                owners.entry(name.clone()).or_default().push(image.clone());
                needed.insert(name);
            }
        }
    }
    let of = |name: &str| {
        owners
            .get(name)
            .map(|o| format!(" (of {})", o.join(", ")))
            .unwrap_or_default()
    };
    let mut diffs = Vec::new();
    let io = |name: &str, e: std::io::Error| {
        Error::Io(format!("cannot read {name} in {}", file.display()), e)
    };
    // Each entry hashed once.
    let mut got = BTreeMap::new();
    for path in b.archive.entries.keys() {
        got.insert(
            path.clone(),
            b.archive.sha256(path).map_err(|e| io(path, e))?,
        );
    }
    for (path, want) in &listed {
        match got.get(path) {
            None => diffs.push(format!("missing: {path}{}", of(path))),
            Some(g) if g != want => diffs.push(format!("modified: {path}{}", of(path))),
            Some(_) => {}
        }
    }
    for (path, got) in &got {
        if path != "SHA256SUMS" && !listed.contains_key(path) {
            diffs.push(format!("unexpected: {path}"));
        }
        if let Some(hex) = path.strip_prefix("images/blobs/sha256/")
            && got != hex
        {
            diffs.push(format!("digest: {path} holds sha256:{got}{}", of(path)));
        }
    }
    for name in &needed {
        if !b.archive.entries.contains_key(name) && !listed.contains_key(name) {
            diffs.push(format!("missing blob: {name}{}", of(name)));
        }
    }
    Ok(diffs)
}

/// Fail (exit 1) naming every difference when the bundle is not intact.
pub(super) fn require_intact(file: &Path) -> Result<Bundle, Error> {
    let diffs = verify(file)?;
    if !diffs.is_empty() {
        return Err(Error::Failed(format!(
            "{} is not intact; nothing was done:\n  {}",
            file.display(),
            diffs.join("\n  ")
        )));
    }
    open(file)
}
