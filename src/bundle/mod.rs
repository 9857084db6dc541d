//! `misp-gen bundle`: one archive that carries a deployment across an air gap — the spec, the
//! rendered output of every target, every image as an OCI image layout, a manifest and checksums —
//! and, on the other side, `bundle verify`, `bundle push` (into the site's registry, then a render
//! pinned by digest through it) and `bundle load` (into the local engine, then a render that never
//! pulls).
//!
//! Archive layout (a plain tar, entries sorted, see [`archive`]):
//! ```text
//! bundle.json                 what is in it: spec name and version, profile, images and digests
//! SHA256SUMS                  every other entry
//! spec.yaml                   the spec as written [profile.yaml: a profile given as a file]
//! output/…                    the render of every target, without secrets/
//! images/oci-layout, images/index.json, images/blobs/sha256/…   one OCI image layout
//! ```
//!
//! This module holds what the parts share (`bundle.json`'s image records, platforms, blob names).
//! Making a bundle: `create.rs`, with the images from `fetch.rs` staged in `staging.rs`. Reading
//! one: `verify.rs` ([`open`], [`verify`](verify())). At the site: `push.rs` and `load.rs`, which validate and
//! render the bundled spec through `site.rs`. What a registry or a bundle hands over is bounded by
//! `bounded.rs` and walked by `walk`; a signal removes the staging through `cleanup.rs`.

pub mod archive;
pub mod bounded;
mod cleanup;
mod create;
mod fetch;
mod load;
mod push;
pub mod registry;
mod site;
mod staging;
mod verify;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::Value;

use crate::Error;

pub use create::{Create, ImageSource, create};
pub use load::load;
pub use push::push;
pub use site::SiteRender;
pub use verify::{Bundle, open, verify};

/// The bundle format version in `bundle.json`.
pub const FORMAT: u32 = 1;
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The host's platform, as OCI names it.
#[must_use]
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

fn progress(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn mib(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a figure for people")]
    let m = bytes as f64 / 1_048_576.0;
    format!("{m:.1} MiB")
}

fn blob_name(digest: &str) -> Result<String, Error> {
    if !bounded::is_digest(digest) {
        return Err(not_a_digest(digest));
    }
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

fn not_a_digest(digest: &str) -> Error {
    Error::Failed(format!(
        "`{}` is not a digest (`sha256:` and 64 lowercase hex digits)",
        bounded::shown(digest, 80)
    ))
}

/// One image of a bundle, as `bundle.json` lists it.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// As the spec's targets name it (normalised, no mirror).
    pub image: String,
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub platforms: Vec<String>,
}

fn platform_of(p: &Value) -> String {
    let mut s = format!(
        "{}/{}",
        p["os"].as_str().unwrap_or("?"),
        p["architecture"].as_str().unwrap_or("?")
    );
    if let Some(v) = p["variant"].as_str() {
        let _ = write!(s, "/{v}");
    }
    // A registry's or a bundle's text, printed in messages.
    bounded::shown(&s, 100)
}

fn platform_matches(have: &str, want: &str) -> bool {
    have == want || (want.matches('/').count() == 1 && have.starts_with(&format!("{want}/")))
}

fn parse_json(bytes: &[u8], what: &str, label: &str) -> Result<Value, Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Failed(format!("{what}: {label} is not JSON: {e}")))
}

/// A descriptor of a manifest or index, its digest checked.
#[derive(Debug, Clone)]
pub(crate) struct Desc {
    pub digest: String,
    pub media_type: Option<String>,
    pub size: u64,
    pub platform: Option<String>,
}

/// The descriptors of `v[key]` (an array, or one object for `config`), each digest checked and
/// each size a number: a manifest that names something else refuses to be read.
fn descriptors(v: &Value, key: &str, of: &str) -> Result<Vec<Desc>, Error> {
    let list: Vec<&Value> = match &v[key] {
        Value::Null => Vec::new(),
        Value::Array(a) => a.iter().collect(),
        one @ Value::Object(_) if key == "config" => vec![one],
        _ => {
            return Err(Error::Failed(format!(
                "{of}: `{key}` is not a list of descriptors"
            )));
        }
    };
    list.into_iter()
        .map(|d| {
            let digest = d["digest"].as_str().unwrap_or_default();
            if !bounded::is_digest(digest) {
                return Err(Error::Failed(format!(
                    "{of}: a descriptor in `{key}` has the digest `{}`, which is not one (`sha256:` and 64 lowercase hex digits)",
                    bounded::shown(digest, 80)
                )));
            }
            let size = d["size"].as_u64().ok_or_else(|| {
                Error::Failed(format!(
                    "{of}: the descriptor {digest} in `{key}` has no size"
                ))
            })?;
            let media_type = d["mediaType"].as_str().map(str::to_owned);
            if let Some(m) = &media_type
                && !bounded::is_media_type(m)
            {
                return Err(Error::Failed(format!(
                    "{of}: the descriptor {digest} in `{key}` has the media type `{}`, which is not one",
                    bounded::shown(m, 80)
                )));
            }
            Ok(Desc {
                digest: digest.to_owned(),
                media_type,
                size,
                platform: d.get("platform").map(platform_of),
            })
        })
        .collect()
}

/// How [`walk`] reads a manifest by its digest: `None` when it is not there.
pub(crate) type ReadManifest<'a> = dyn FnMut(&str) -> Result<Option<Vec<u8>>, Error> + 'a;

/// One manifest or index met by [`walk`].
pub(crate) struct Node {
    pub digest: String,
    /// As the descriptor that led here names it, else as the manifest says, else an OCI manifest.
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// An index's manifests.
    pub children: Vec<Desc>,
    /// A manifest's config and layers.
    pub blobs: Vec<Desc>,
}

/// The manifests reachable from one root: each once, children before their parents.
#[derive(Default)]
pub(crate) struct Walk {
    pub nodes: Vec<Node>,
    /// Manifests named but not there (`read` gave `None`).
    pub missing: Vec<String>,
}

impl Walk {
    /// Every digest the walk met: the manifests and their blobs (missing ones included).
    pub fn digests(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.missing.iter().cloned().collect();
        for n in &self.nodes {
            out.insert(n.digest.clone());
            out.extend(n.blobs.iter().map(|b| b.digest.clone()));
        }
        out
    }

    pub fn node(&self, digest: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.digest == digest)
    }
}

/// Walk the manifests from `root` (its media type as `bundle.json` or a registry names it),
/// reading each with `read` (`None`: not there). The one walk of manifests in bundle code: one
/// visited set, so a manifest that lists itself or a DAG of indexes costs one read per manifest,
/// and at most [`bounded::MAX_DEPTH`] levels of indexes.
///
/// # Errors
/// `read` failing, a manifest that is not JSON or names a non-digest, nesting too deep.
pub(crate) fn walk(
    root: &str,
    media_type: &str,
    read: &mut ReadManifest<'_>,
    what: &str,
) -> Result<Walk, Error> {
    fn visit(
        d: &str,
        media_type: Option<&str>,
        depth: usize,
        visited: &mut BTreeSet<String>,
        read: &mut ReadManifest<'_>,
        out: &mut Walk,
        what: &str,
    ) -> Result<(), Error> {
        if !bounded::is_digest(d) {
            return Err(Error::Failed(format!("{what}: {}", not_a_digest(d))));
        }
        if !visited.insert(d.to_owned()) {
            return Ok(());
        }
        if depth > bounded::MAX_DEPTH {
            return Err(Error::Failed(format!(
                "{what}: indexes nested more than {} deep (at {d}); a real image has one index",
                bounded::MAX_DEPTH
            )));
        }
        let Some(bytes) = read(d)? else {
            out.missing.push(d.to_owned());
            return Ok(());
        };
        let of = format!("{what}: the manifest {d}");
        let v = parse_json(&bytes, what, &format!("the manifest {d}"))?;
        let children = descriptors(&v, "manifests", &of)?;
        let mut blobs = descriptors(&v, "config", &of)?;
        if children.is_empty() && blobs.is_empty() {
            return Err(Error::Failed(format!(
                "{of} is neither an index with manifests nor a manifest with a config"
            )));
        }
        blobs.extend(descriptors(&v, "layers", &of)?);
        for c in &children {
            visit(
                &c.digest,
                c.media_type.as_deref(),
                depth + 1,
                visited,
                read,
                out,
                what,
            )?;
        }
        let media_type = media_type
            .map(str::to_owned)
            .or_else(|| v["mediaType"].as_str().map(str::to_owned))
            .unwrap_or_else(|| registry::OCI_MANIFEST.to_owned());
        if !bounded::is_media_type(&media_type) {
            return Err(Error::Failed(format!(
                "{of}: its media type `{}` is not one",
                bounded::shown(&media_type, 80)
            )));
        }
        out.nodes.push(Node {
            digest: d.to_owned(),
            media_type,
            bytes,
            children,
            blobs,
        });
        Ok(())
    }
    let mut out = Walk::default();
    let mut visited = BTreeSet::new();
    let media = (!media_type.is_empty()).then_some(media_type);
    visit(root, media, 0, &mut visited, read, &mut out, what)?;
    Ok(out)
}

/// The images a bundle carries for `valid`: as every target names them, without a mirror, sorted.
/// `bundle` pulls these, and `verify` holds `bundle.json` to them.
fn spec_images(valid: &crate::validate::Valid) -> Vec<String> {
    crate::plan::images_used(
        &valid.deployment,
        None,
        crate::plan::Rendered {
            compose: true,
            kubernetes: true,
        },
    )
    .into_keys()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins platform matching: `linux/arm64` takes any arm64 variant, `linux/arm64/v8` that one.
    #[test]
    fn platforms_match_with_and_without_variant() {
        assert!(platform_matches("linux/amd64", "linux/amd64"));
        assert!(platform_matches("linux/arm64/v8", "linux/arm64"));
        assert!(!platform_matches("linux/arm64", "linux/arm64/v8"));
        assert!(!platform_matches("linux/arm/v7", "linux/arm64"));
    }
}
