//! `bundle load`: every image into the local engine, then the spec rendered with pull policy
//! never.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::site::{SiteRender, site_render};
use super::verify::{Bundle, require_intact};
use super::{blob_name, bounded, host_platform, mib, platform_matches, walk};
use crate::Error;
use crate::image::ImageRef;

/// The single-platform manifest of an image for this host: (config, layers).
fn host_manifest(
    b: &Bundle,
    image: &str,
    digest: &str,
    media_type: &str,
) -> Result<(String, Vec<String>), Error> {
    let w = walk(digest, media_type, &mut |d| b.read_manifest(d), image)?;
    let gone = || Error::Failed(format!("{image}: a manifest of it is not in the bundle"));
    let root = w.node(digest).ok_or_else(gone)?;
    let node = if root.children.is_empty() {
        root
    } else {
        let host = host_platform();
        let child = root
            .children
            .iter()
            .find(|c| platform_matches(c.platform.as_deref().unwrap_or("?/?"), &host))
            .ok_or_else(|| {
                Error::Failed(format!(
                    "{image}: the bundle has no {host} manifest for it (bundle it with --platform {host})"
                ))
            })?;
        w.node(&child.digest).ok_or_else(gone)?
    };
    let mut blobs = node.blobs.iter().map(|d| d.digest.clone());
    let config = blobs.next().ok_or_else(|| {
        Error::Failed(format!(
            "{image}: the {host} manifest {} has no config",
            node.digest,
            host = host_platform()
        ))
    })?;
    Ok((config, blobs.collect()))
}

/// `bundle load`: every image into the local engine (`docker load` / `podman load` of one
/// docker-archive stream), then the spec rendered with pull policy never.
///
/// # Errors
/// A bundle that is not intact (1), the engine refusing (1), a render that fails.
pub fn load(file: &Path, engine: &str, site: &SiteRender) -> Result<String, Error> {
    let started = Instant::now();
    // The spec is validated and its images checked against bundle.json before anything is loaded.
    let (b, valid) = require_intact(file)?;
    // docker-archive: manifest.json naming each image's config and layers by their blob paths.
    let mut list = Vec::new();
    let mut blobs = BTreeSet::new();
    for (image, digest, media_type) in b.images()? {
        let image = bounded::shown(&image, 200);
        let (cfg, layers) = host_manifest(&b, &image, &digest, &media_type)?;
        let mut layer_paths = Vec::new();
        for l in &layers {
            layer_paths.push(blob_name(l)?);
            blobs.insert(l.clone());
        }
        blobs.insert(cfg.clone());
        // An engine tags by name and tag; a digest in the name is not a tag.
        let tag = ImageRef::parse(&image)
            .map(|r| ImageRef { digest: None, ..r }.to_string())
            .unwrap_or(image.clone());
        list.push(json!({
            "Config": blob_name(&cfg)?,
            "RepoTags": [tag],
            "Layers": layer_paths,
        }));
    }
    let mut manifest_json =
        serde_json::to_vec(&list).map_err(|e| Error::Internal(e.to_string()))?;
    manifest_json.push(b'\n');
    let mut child = std::process::Command::new(engine)
        .arg("load")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Io(format!("cannot run `{engine} load`"), e))?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::Internal("no stdin".into()))?;
    let fed = (|| -> std::io::Result<u64> {
        let mut builder = tar::Builder::new(std::io::BufWriter::new(stdin));
        let mut total = 0;
        let header = |size: u64| {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            h
        };
        for d in &blobs {
            let name = format!("images/{}", blob_name(d).map_err(std::io::Error::other)?);
            let r = b.archive.reader(&name)?;
            let blob_size = r.limit();
            total += blob_size;
            let mut h = header(blob_size);
            builder.append_data(&mut h, &name["images/".len()..], r)?;
        }
        let mut h = header(manifest_json.len() as u64);
        builder.append_data(&mut h, "manifest.json", manifest_json.as_slice())?;
        builder.into_inner()?.flush()?;
        Ok(total)
    })();
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Io(format!("cannot run `{engine} load`"), e))?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "`{engine} load` refused the images of {}: {}",
            file.display(),
            bounded::shown(String::from_utf8_lossy(&out.stderr).trim(), 2000)
        )));
    }
    let total =
        fed.map_err(|e| Error::Io(format!("cannot feed the images to `{engine} load`"), e))?;
    let load_secs = started.elapsed().as_secs_f64();
    let site = SiteRender {
        pull: Some(site.pull.unwrap_or(crate::domain::LOADED_BUNDLE_PULL)),
        ..site.clone()
    };
    site_render(&valid, None, &site, std::collections::BTreeMap::new())?;
    Ok(format!(
        "loaded {} images ({}) into {engine} in {load_secs:.1}s; rendered {} with pull policy never",
        list.len(),
        mib(total),
        site.out.display()
    ))
}
