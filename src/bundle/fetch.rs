//! Where the images of a new bundle come from: their registries (or a mirror), pulled by
//! manifest and blob, or the local engine's store (`docker save` / `podman save`).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::registry::{self, Registry, Scheme};
use super::staging::Staging;
use super::{
    ImageRecord, OCI_CONFIG, bounded, descriptors, mib, parse_json, platform_matches, platform_of,
    progress,
};
use crate::Error;
use crate::image::ImageRef;

/// Pull one single-platform manifest and its blobs; returns (size of all, platform).
fn pull_manifest(
    reg: &Registry,
    repo: &str,
    manifest: &[u8],
    staging: &Staging,
    what: &str,
) -> Result<(u64, String), Error> {
    let m = parse_json(manifest, what, "the manifest")?;
    let mut descs = descriptors(&m, "config", what)?;
    if descs.len() != 1 {
        return Err(Error::Failed(format!(
            "{what}: the manifest has no config (an index inside an index is not pulled)"
        )));
    }
    descs.extend(descriptors(&m, "layers", what)?);
    let mut total = manifest.len() as u64;
    let mut platform = String::from("?/?");
    let n = descs.len();
    for (i, d) in descs.iter().enumerate() {
        let digest = &d.digest;
        let size = d.size;
        total = total.saturating_add(size);
        let label = if i == 0 {
            format!("config {digest}")
        } else {
            format!("layer {i}/{} {digest} ({})", n - 1, mib(size))
        };
        if i == 0 && size > bounded::MAX_DOC {
            return Err(Error::Failed(format!(
                "{what}: the image config {digest} declares {size} bytes, more than the {} an image config ever is",
                mib(bounded::MAX_DOC)
            )));
        }
        if !staging.has(digest) {
            let mut r = reg.blob(repo, digest, size, &format!("{what}: {label}"))?;
            staging.put(&mut r, Some(digest), what, &label)?;
        }
        if i == 0 {
            let cfg = parse_json(&staging.read(digest)?, what, "the image config")?;
            platform = platform_of(&cfg);
        }
    }
    Ok((total, platform))
}

#[expect(clippy::too_many_lines, reason = "an index and a manifest, in order")]
/// Pull `image` (as the spec names it) from `from` (its registry, or the mirror) into `staging`.
pub(super) fn pull_image(
    image: &str,
    mirror: Option<&str>,
    ca_file: Option<&Path>,
    scheme: Scheme,
    platforms: &[String],
    staging: &Staging,
    registries: &mut BTreeMap<String, Registry>,
) -> Result<ImageRecord, Error> {
    let r = ImageRef::parse(image).map_err(|e| Error::Failed(format!("{image}: {e}")))?;
    let from = match mirror {
        Some(m) => r.mirrored(m),
        None => r.clone(),
    };
    let what = if mirror.is_some() {
        format!("{image} (from {from})")
    } else {
        image.to_owned()
    };
    if !registries.contains_key(&from.registry) {
        registries.insert(
            from.registry.clone(),
            Registry::new(&from.registry, ca_file, scheme)?,
        );
    }
    let reg = &registries[&from.registry];
    let reference = from
        .digest
        .clone()
        .or_else(|| from.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let started = Instant::now();
    progress(&format!("pulling {what}"));
    let (media, bytes) = reg.manifest(&from.path, &reference, &what)?;
    if !bounded::is_media_type(&media) {
        return Err(Error::Failed(format!(
            "{what}: the registry {} sent the media type `{}`, which is not one",
            from.registry,
            bounded::shown(&media, 80)
        )));
    }
    let top_digest = format!("sha256:{}", crate::output::sha256_hex(&bytes));
    if let Some(d) = &from.digest
        && *d != top_digest
    {
        return Err(Error::Failed(format!(
            "{what}: the registry sent a manifest whose digest is {top_digest}, not the pinned {d}"
        )));
    }
    let (digest, media_type, size, found) = if registry::is_index(&media) {
        let index = parse_json(&bytes, &what, "the index")?;
        let entries = index["manifests"].as_array().cloned().unwrap_or_default();
        // Each distinct manifest once: an index that lists one digest a thousand times costs one
        // request (the visited set of this walk).
        let mut chosen = Vec::new();
        let mut offered = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let checked = descriptors(&index, "manifests", &what)?;
        for (e, desc) in entries.iter().zip(&checked) {
            let p = platform_of(&e["platform"]);
            if p != "unknown/unknown" {
                offered.push(p.clone());
            }
            if platforms.iter().any(|w| platform_matches(&p, w)) && seen.insert(desc.digest.clone())
            {
                chosen.push((e.clone(), p));
            }
        }
        let mut total = 0;
        let mut found = Vec::new();
        for (e, p) in &chosen {
            let d = e["digest"].as_str().unwrap_or_default();
            let (cm, cb) = reg.manifest(&from.path, d, &what)?;
            let got = staging.put_bytes(&cb, &what, &format!("{p} manifest"))?;
            if got != d {
                return Err(Error::Failed(format!(
                    "{what}: the {p} manifest should be {d} but what arrived is {got}"
                )));
            }
            let _ = cm;
            let (t, _) = pull_manifest(reg, &from.path, &cb, staging, &what)?;
            total += t;
            found.push(p.clone());
        }
        if chosen.len() == 1 {
            let e = &chosen[0].0;
            (
                e["digest"].as_str().unwrap_or_default().to_owned(),
                e["mediaType"]
                    .as_str()
                    .unwrap_or(registry::OCI_MANIFEST)
                    .to_owned(),
                total,
                found,
            )
        } else if chosen.len() == offered.len() && entries.len() == chosen.len() {
            // Every platform of the index: kept as the registry's bytes, its digest unchanged.
            let d = staging.put_bytes(&bytes, &what, "index")?;
            (d, media, total + bytes.len() as u64, found)
        } else {
            // A subset of the platforms: a new index of those, with a digest of its own.
            let sub = json!({
                "schemaVersion": 2,
                "mediaType": registry::OCI_INDEX,
                "manifests": chosen.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>(),
            });
            let text =
                serde_json::to_vec_pretty(&sub).map_err(|e| Error::Internal(e.to_string()))?;
            let d = staging.put_bytes(&text, &what, "index")?;
            (
                d,
                registry::OCI_INDEX.to_owned(),
                total + text.len() as u64,
                found,
            )
        }
    } else {
        let d = staging.put_bytes(&bytes, &what, "manifest")?;
        let (total, p) = pull_manifest(reg, &from.path, &bytes, staging, &what)?;
        if !platforms.iter().any(|w| platform_matches(&p, w)) {
            return Err(Error::Failed(format!(
                "{what}: a single-platform image for {p}; asked for {}",
                platforms.join(", ")
            )));
        }
        (d, media, total, vec![p])
    };
    progress(&format!(
        "pulled {what}: {} in {:.1}s, {digest}",
        mib(size),
        started.elapsed().as_secs_f64()
    ));
    Ok(ImageRecord {
        image: image.to_owned(),
        digest,
        media_type,
        size,
        platforms: found,
    })
}

#[expect(clippy::too_many_lines, reason = "read, check, convert, in order")]
/// Take `image` out of the local engine's store with `ENGINE save` (the docker-archive format
/// both Docker and podman write; Docker 25+ adds an OCI layout whose blobs it names the same way)
/// and store it as an OCI image manifest over the same config and layers.
pub(super) fn engine_image(
    engine: &str,
    image: &str,
    staging: &Staging,
) -> Result<ImageRecord, Error> {
    let started = Instant::now();
    progress(&format!("saving {image} from {engine}"));
    let mut child = std::process::Command::new(engine)
        .args(["save", image])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Io(format!("cannot run `{engine} save`"), e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::Internal("no stdout".into()))?;
    let mut names: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut manifest_json = None;
    let mut tar = tar::Archive::new(stdout);
    let read = (|| -> Result<(), Error> {
        let entries = tar
            .entries()
            .map_err(|e| Error::Failed(format!("{image}: `{engine} save` wrote no tar: {e}")))?;
        for e in entries {
            let mut e = e.map_err(|e| {
                Error::Failed(format!("{image}: `{engine} save` wrote a broken tar: {e}"))
            })?;
            if e.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = e
                .path()
                .map_err(|e| Error::Failed(e.to_string()))?
                .to_string_lossy()
                .into_owned();
            match name.as_str() {
                "manifest.json" => {
                    let v = bounded::read_bounded(&mut e, bounded::MAX_DOC)
                        .map_err(|e| Error::Failed(format!("{image}: manifest.json: {e}")))?;
                    manifest_json = Some(v);
                }
                "repositories" | "index.json" | "oci-layout" => {}
                _ => {
                    let got = staging.put(&mut e, None, image, &name)?;
                    names.insert(name, got);
                }
            }
        }
        Ok(())
    })();
    let read_err = read.err();
    if read_err.is_some() {
        // Stop the engine, which would otherwise wait for us to read the rest.
        let _ = child.kill();
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Io(format!("cannot run `{engine} save`"), e))?;
    if let Some(e @ Error::Io(..)) = read_err {
        return Err(e);
    }
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "{image}: not in the local {engine} store (`{engine} save`: {})",
            bounded::shown(String::from_utf8_lossy(&out.stderr).trim(), 2000)
        )));
    }
    if let Some(e) = read_err {
        return Err(e);
    }
    let manifest_json = manifest_json
        .ok_or_else(|| Error::Failed(format!("{image}: `{engine} save` wrote no manifest.json")))?;
    let m = parse_json(&manifest_json, image, "manifest.json")?;
    let m = &m[0];
    let lookup = |n: &str| {
        names.get(n).cloned().ok_or_else(|| {
            Error::Failed(format!(
                "{image}: `{engine} save` lists {n} but did not write it"
            ))
        })
    };
    let (cfg_digest, cfg_size) = lookup(m["Config"].as_str().unwrap_or_default())?;
    let cfg = parse_json(&staging.read(&cfg_digest)?, image, "the image config")?;
    let mut layers = Vec::new();
    let mut total = cfg_size;
    for l in m["Layers"].as_array().cloned().unwrap_or_default() {
        let (d, size) = lookup(l.as_str().unwrap_or_default())?;
        let mut magic = [0u8; 4];
        let _ = std::fs::File::open(staging.blob_path(&d)?).and_then(|mut f| f.read(&mut magic));
        let media = match magic {
            [0x1f, 0x8b, ..] => "application/vnd.oci.image.layer.v1.tar+gzip",
            [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
            _ => "application/vnd.oci.image.layer.v1.tar",
        };
        total += size;
        layers.push(json!({"mediaType": media, "digest": d, "size": size}));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": registry::OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": cfg_size},
        "layers": layers,
    });
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    let digest = staging.put_bytes(&bytes, image, "manifest")?;
    total += bytes.len() as u64;
    progress(&format!(
        "saved {image}: {} in {:.1}s, {digest}",
        mib(total),
        started.elapsed().as_secs_f64()
    ));
    Ok(ImageRecord {
        image: image.to_owned(),
        digest,
        media_type: registry::OCI_MANIFEST.to_owned(),
        size: total,
        platforms: vec![platform_of(&cfg)],
    })
}
