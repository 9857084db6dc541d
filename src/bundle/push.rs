//! `bundle push`: every image into the site's registry, then the spec rendered through it, each
//! image pinned by its digest.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::registry::{Registry, Scheme};
use super::site::{SiteRender, site_render};
use super::verify::{Bundle, require_intact};
use super::{blob_name, bounded, mib, progress, walk};
use crate::Error;
use crate::image::ImageRef;

/// `HOST[:PORT][/PATH]` → (host, path prefix).
fn split_registry(registry: &str) -> (String, String) {
    let r = registry.trim_end_matches('/');
    match r.split_once('/') {
        Some((h, p)) => (h.to_owned(), p.to_owned()),
        None => (r.to_owned(), String::new()),
    }
}

/// Push an image from the bundle: every manifest of its walk, children before their index, each
/// after its blobs. Returns the root's media type (checked by the walk).
fn push_tree(
    b: &Bundle,
    reg: &Registry,
    repo: &str,
    digest: &str,
    media_type: &str,
    what: &str,
    pushed: &mut u64,
) -> Result<String, Error> {
    let w = walk(digest, media_type, &mut |d| b.read_manifest(d), what)?;
    if let Some(d) = w.missing.first() {
        return Err(Error::Failed(format!(
            "{what}: the manifest {d} is not in the bundle"
        )));
    }
    for node in &w.nodes {
        for d in &node.blobs {
            let digest = &d.digest;
            let label = format!("{what}: blob {digest}");
            if reg.has_blob(repo, digest, &label)? {
                continue;
            }
            let name = format!("images/{}", blob_name(digest)?);
            let size = b.archive.entries.get(&name).map_or(0, |e| e.size);
            let started = Instant::now();
            reg.push_blob(
                repo,
                digest,
                &mut || {
                    let r = b.archive.reader(&name).map_err(|e| {
                        Error::Failed(format!("{}: {name}: {e}", b.archive.path.display()))
                    })?;
                    Ok((Box::new(r) as Box<dyn std::io::Read>, size))
                },
                &label,
            )?;
            *pushed += size;
            if size >= 1 << 20 {
                progress(&format!(
                    "  {what}: pushed {digest} ({}) in {:.1}s",
                    mib(size),
                    started.elapsed().as_secs_f64()
                ));
            }
        }
        reg.push_manifest(repo, &node.digest, &node.media_type, &node.bytes, what)?;
    }
    Ok(w.node(digest)
        .map_or_else(|| media_type.to_owned(), |n| n.media_type.clone()))
}

/// `bundle push`: every image into `registry`, then the spec rendered through it, each image
/// pinned by the digest the bundle carries.
///
/// # Errors
/// A bundle that is not intact (1, naming each difference), a registry that refuses (1), a
/// render that fails.
pub fn push(
    file: &Path,
    registry_arg: &str,
    ca_file: Option<&Path>,
    scheme: Scheme,
    site: &SiteRender,
) -> Result<String, Error> {
    crate::image::check_mirror(registry_arg)
        .map_err(|e| Error::Usage(format!("--registry: {e}")))?;
    let started = Instant::now();
    // The spec is validated and its images checked against bundle.json before anything is sent.
    let (b, valid) = require_intact(file)?;
    let (host, _) = split_registry(registry_arg);
    let reg = Registry::new(&host, ca_file, scheme)?;
    let mut digests = BTreeMap::new();
    let mut pushed = 0u64;
    for (image, digest, media_type) in b.images()? {
        let r = ImageRef::parse(&image)
            .map_err(|e| Error::Failed(format!("{}: {e}", bounded::shown(&image, 200))))?;
        let to = r.mirrored(registry_arg);
        let what = format!("{image} (to {to})");
        progress(&format!("pushing {what}"));
        let media_type = push_tree(&b, &reg, &to.path, &digest, &media_type, &what, &mut pushed)?;
        if let Some(tag) = &to.tag {
            let bytes = b.read_blob(&digest)?;
            reg.push_manifest(&to.path, tag, &media_type, &bytes, &what)?;
        }
        digests.insert(ImageRef { digest: None, ..r }.to_string(), digest);
    }
    let push_secs = started.elapsed().as_secs_f64();
    let count = digests.len();
    site_render(&valid, Some(registry_arg.to_owned()), site, digests)?;
    Ok(format!(
        "pushed {} images to {registry_arg} ({} uploaded) in {push_secs:.1}s; rendered {} pinned by digest",
        count,
        mib(pushed),
        site.out.display()
    ))
}
