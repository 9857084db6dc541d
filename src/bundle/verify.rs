//! An opened bundle (its archive index and `bundle.json`), and `bundle verify`: every checksum,
//! every image blob's digest, every manifest walked once, and the bundled spec's images against
//! `bundle.json`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::archive::Archive;
use super::{FORMAT, blob_name, bounded, walk};
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

    /// `read` for [`walk`]: a blob of the bundle, `None` when it has no such entry.
    pub(super) fn read_manifest(&self, digest: &str) -> Result<Option<Vec<u8>>, Error> {
        let name = format!("images/{}", blob_name(digest)?);
        if !self.archive.entries.contains_key(&name) {
            return Ok(None);
        }
        self.read_blob(digest).map(Some)
    }

    /// The images of `bundle.json`: (image, digest, media type), each digest checked.
    ///
    /// # Errors
    /// `images` is not a list of objects with a name and a digest.
    pub fn images(&self) -> Result<Vec<(String, String, String)>, Error> {
        let bad = |what: &str| {
            Error::Failed(format!(
                "{}: bundle.json: {what}",
                self.archive.path.display()
            ))
        };
        let list = self.manifest["images"]
            .as_array()
            .ok_or_else(|| bad("`images` is not a list"))?;
        list.iter()
            .map(|i| {
                let image = i["image"]
                    .as_str()
                    .ok_or_else(|| bad("an image without a name"))?;
                let digest = i["digest"].as_str().unwrap_or_default();
                if !bounded::is_digest(digest) {
                    return Err(bad(&format!(
                        "the image {} has the digest `{}`, which is not one (`sha256:` and 64 lowercase hex digits)",
                        bounded::shown(image, 200),
                        bounded::shown(digest, 80)
                    )));
                }
                Ok((
                    image.to_owned(),
                    digest.to_owned(),
                    i["media_type"].as_str().unwrap_or_default().to_owned(),
                ))
            })
            .collect()
    }
}

/// The differences between the bundle and its checksums and digests.
fn digest_diffs(file: &Path) -> Result<Vec<String>, Error> {
    let b = open(file)?;
    let sums = b
        .archive
        .read("SHA256SUMS")
        .map_err(|_| Error::Failed(format!("{}: no SHA256SUMS", file.display())))?;
    let sums = String::from_utf8_lossy(&sums).into_owned();
    // Each line `HEX  PATH`, as `sha256sum -c` reads it: anything else is named, not skipped,
    // so that nothing hides in SHA256SUMS (the one entry no checksum covers).
    let mut listed = BTreeMap::new();
    let mut malformed = Vec::new();
    for (n, line) in sums.lines().enumerate() {
        match line.split_once("  ") {
            Some((hex, path))
                if hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    && !path.is_empty() =>
            {
                listed.insert(path.to_owned(), hex.to_owned());
            }
            _ => malformed.push(format!(
                "malformed: SHA256SUMS line {}: `{}` is not `SHA256  PATH`",
                n + 1,
                bounded::shown(line, 120)
            )),
        }
    }
    // Which images each blob belongs to, from the manifests (read as they are, each once).
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut needed = BTreeSet::new();
    let mut broken = Vec::new();
    for (image, digest, media_type) in b.images()? {
        let shown = bounded::shown(&image, 200);
        let w = match walk(&digest, &media_type, &mut |d| b.read_manifest(d), &shown) {
            Ok(w) => w,
            Err(e) => {
                broken.push(format!("unreadable: {e}"));
                continue;
            }
        };
        for d in w.digests() {
            let name = format!("images/{}", blob_name(&d)?);
            owners
                .entry(name.clone())
                .or_default()
                .push(bounded::shown(&image, 200));
            needed.insert(name);
        }
    }
    let of = |name: &str| {
        owners
            .get(name)
            .map(|o| format!(" (of {})", o.join(", ")))
            .unwrap_or_default()
    };
    let mut diffs = malformed;
    diffs.extend(broken);
    let io = |name: &str, e: std::io::Error| {
        Error::Io(
            format!(
                "cannot read {} in {}",
                bounded::shown(name, 300),
                file.display()
            ),
            e,
        )
    };
    // Each entry hashed once.
    let mut got = BTreeMap::new();
    for path in b.archive.entries.keys() {
        got.insert(
            path.clone(),
            b.archive.sha256(path).map_err(|e| io(path, e))?,
        );
    }
    // Every name printed is the archive's or SHA256SUMS' text: escaped, so that a name with a
    // line break cannot forge a `modified:` line or a CI annotation.
    let show = |p: &str| bounded::shown(p, 300);
    for (path, want) in &listed {
        match got.get(path) {
            None => diffs.push(format!("missing: {}{}", show(path), of(path))),
            Some(g) if g != want => diffs.push(format!("modified: {}{}", show(path), of(path))),
            Some(_) => {}
        }
    }
    for (path, got) in &got {
        if path != "SHA256SUMS" && !listed.contains_key(path) {
            diffs.push(format!("unexpected: {}", show(path)));
        }
        if let Some(hex) = path.strip_prefix("images/blobs/sha256/")
            && got != hex
        {
            diffs.push(format!(
                "digest: {} holds sha256:{got}{}",
                show(path),
                of(path)
            ));
        }
    }
    for name in &needed {
        if !b.archive.entries.contains_key(name) && !listed.contains_key(name) {
            diffs.push(format!("missing blob: {name}{}", of(name)));
        }
    }
    Ok(diffs)
}

/// The images `bundle.json` lists against those the bundled spec uses (as `misp-gen images`
/// computes them, before a mirror): one line for each extra or missing one. A bundle whose
/// images are not its spec's would push over, or retag, images the site runs for something else.
fn image_diffs(b: &Bundle, valid: &crate::validate::Valid) -> Result<Vec<String>, Error> {
    let used: BTreeSet<String> = super::spec_images(valid).into_iter().collect();
    let listed: BTreeSet<String> = b.images()?.into_iter().map(|(i, _, _)| i).collect();
    let mut diffs = Vec::new();
    for i in listed.difference(&used) {
        diffs.push(format!(
            "extra image: {} (bundle.json lists it, spec.yaml does not use it)",
            bounded::shown(i, 200)
        ));
    }
    for i in used.difference(&listed) {
        diffs.push(format!(
            "missing image: {} (spec.yaml uses it, bundle.json does not list it)",
            bounded::shown(i, 200)
        ));
    }
    Ok(diffs)
}

/// [`verify`], then the bundled spec validated and its images checked against `bundle.json`:
/// every difference, and the spec when there are none.
fn check(file: &Path, tmp: &Path) -> Result<(Vec<String>, Option<crate::validate::Valid>), Error> {
    let diffs = digest_diffs(file)?;
    if !diffs.is_empty() {
        return Ok((diffs, None));
    }
    let b = open(file)?;
    let valid = super::site::bundled_spec(&b, tmp)?;
    let diffs = image_diffs(&b, &valid)?;
    Ok((diffs, Some(valid)))
}

/// Every difference between the bundle and its checksums, digests and spec, one line each:
/// `modified:`, `missing:`, `unexpected:` for entries, `digest:` for a blob whose content is not
/// its name, `missing blob:` for one an image needs, `unreadable:` for a manifest that cannot be
/// walked; when those are none, `extra image:` and `missing image:` for the images of
/// `bundle.json` the bundled spec does not use or uses without it listing them.
///
/// # Errors
/// As [`open`], no SHA256SUMS (1), an invalid bundled spec (1).
pub fn verify(file: &Path) -> Result<Vec<String>, Error> {
    let tmp = tempfile::tempdir()
        .map_err(|e| Error::Io("cannot make a temporary directory".into(), e))?;
    Ok(check(file, tmp.path())?.0)
}

/// Fail (exit 1) naming every difference when the bundle is not intact; else the bundle and its
/// spec, validated before anything is pushed or loaded.
pub(super) fn require_intact(file: &Path) -> Result<(Bundle, crate::validate::Valid), Error> {
    let tmp = tempfile::tempdir()
        .map_err(|e| Error::Io("cannot make a temporary directory".into(), e))?;
    let (diffs, valid) = check(file, tmp.path())?;
    match valid {
        Some(valid) if diffs.is_empty() => Ok((open(file)?, valid)),
        _ => {
            // One line (the error line is escaped into one), the first few differences:
            // `bundle verify` lists every one.
            const SHOWN: usize = 10;
            let mut said = diffs
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            if diffs.len() > SHOWN {
                let _ = write!(
                    said,
                    "; and {} more (`misp-gen bundle verify` lists them all)",
                    diffs.len() - SHOWN
                );
            }
            Err(Error::Failed(format!(
                "{} is not intact; nothing was done: {said}",
                file.display()
            )))
        }
    }
}
