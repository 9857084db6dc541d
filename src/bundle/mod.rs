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
//! render the bundled spec through `site.rs`.

pub mod archive;
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
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| Error::Failed(format!("`{digest}` is not a sha256 digest")))?;
    Ok(format!("blobs/sha256/{hex}"))
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
    s
}

fn platform_matches(have: &str, want: &str) -> bool {
    have == want || (want.matches('/').count() == 1 && have.starts_with(&format!("{want}/")))
}

fn parse_json(bytes: &[u8], what: &str, label: &str) -> Result<Value, Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Failed(format!("{what}: {label} is not JSON: {e}")))
}

/// The blobs a manifest or index refers to (itself included), with the index's children.
fn referenced(
    digest: &str,
    read: &dyn Fn(&str) -> Result<Vec<u8>, Error>,
    out: &mut BTreeSet<String>,
) -> Result<(), Error> {
    out.insert(digest.to_owned());
    let v: Value = serde_json::from_slice(&read(digest)?)
        .map_err(|e| Error::Failed(format!("the manifest {digest} is not JSON: {e}")))?;
    if let Some(children) = v["manifests"].as_array() {
        for c in children {
            if let Some(d) = c["digest"].as_str() {
                referenced(d, read, out)?;
            }
        }
    }
    for d in std::iter::once(&v["config"]).chain(v["layers"].as_array().into_iter().flatten()) {
        if let Some(d) = d["digest"].as_str() {
            out.insert(d.to_owned());
        }
    }
    Ok(())
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
