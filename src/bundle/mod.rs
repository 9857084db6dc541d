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

pub mod archive;
pub mod registry;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use crate::Error;
use crate::image::ImageRef;
use archive::{Archive, Source};
use registry::Registry;

/// The bundle format version in `bundle.json`.
pub const FORMAT: u32 = 1;
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Where `bundle` takes the images from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// The registries the spec names, or a mirror that serves them (`HOST[:PORT][/PATH]`).
    Registry {
        mirror: Option<String>,
        ca_file: Option<PathBuf>,
    },
    /// The local store of `docker` or `podman` (the program's name or path).
    Engine(String),
}

/// What `bundle` is asked to make.
#[derive(Debug, Clone)]
pub struct Create {
    pub spec: PathBuf,
    pub profile: Option<String>,
    pub out: PathBuf,
    pub source: ImageSource,
    /// `os/arch[/variant]`; empty: the host's.
    pub platforms: Vec<String>,
}

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

/// The staging directory of a bundle being made: blobs land here, checked, before the archive is
/// written. Removed when dropped.
struct Staging {
    dir: tempfile::TempDir,
}

impl Staging {
    fn blob_path(&self, digest: &str) -> Result<PathBuf, Error> {
        Ok(self.dir.path().join(blob_name(digest)?))
    }

    fn has(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// Stream `r` into the blob store, checking it against `digest` when one is expected;
    /// returns the digest and size.
    fn put(
        &self,
        r: &mut dyn std::io::Read,
        expect: Option<&str>,
        what: &str,
        label: &str,
    ) -> Result<(String, u64), Error> {
        let io = |e: std::io::Error| {
            Error::Io(
                format!(
                    "cannot write the staged images under {}",
                    self.dir.path().display()
                ),
                e,
            )
        };
        let mut tmp = tempfile::NamedTempFile::new_in(self.dir.path()).map_err(io)?;
        let started = Instant::now();
        let mut next = 64u64 << 20;
        let (hex, size) = {
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            let res = archive::copy_hashing(r, &mut w, &mut |n| {
                if n >= next {
                    progress(&format!("  {what}: {label} {} so far", mib(n)));
                    next += 64 << 20;
                }
            });
            let res = match res {
                Ok(v) => v,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return Err(io(e)),
                Err(e) => {
                    return Err(Error::Failed(format!(
                        "{what}: reading {label} failed: {e}"
                    )));
                }
            };
            w.flush().map_err(io)?;
            res
        };
        let digest = format!("sha256:{hex}");
        if let Some(want) = expect
            && want != digest
        {
            return Err(Error::Failed(format!(
                "{what}: {label} should be {want} but what arrived is {digest}"
            )));
        }
        let dest = self.blob_path(&digest)?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        tmp.persist(&dest).map_err(|e| io(e.error))?;
        if size >= 1 << 20 {
            progress(&format!(
                "  {what}: {label} {} in {:.1}s",
                mib(size),
                started.elapsed().as_secs_f64()
            ));
        }
        Ok((digest, size))
    }

    fn put_bytes(&self, bytes: &[u8], what: &str, label: &str) -> Result<String, Error> {
        Ok(self.put(&mut &bytes[..], None, what, label)?.0)
    }

    fn read(&self, digest: &str) -> Result<Vec<u8>, Error> {
        let p = self.blob_path(digest)?;
        std::fs::read(&p).map_err(|e| Error::Io(format!("cannot read {}", p.display()), e))
    }
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

/// Pull one single-platform manifest and its blobs; returns (size of all, platform).
fn pull_manifest(
    reg: &Registry,
    repo: &str,
    manifest: &[u8],
    staging: &Staging,
    what: &str,
) -> Result<(u64, String), Error> {
    let m = parse_json(manifest, what, "the manifest")?;
    let config = &m["config"];
    let mut descs = vec![config.clone()];
    descs.extend(m["layers"].as_array().cloned().unwrap_or_default());
    let mut total = manifest.len() as u64;
    let mut platform = String::from("?/?");
    let n = descs.len();
    for (i, d) in descs.iter().enumerate() {
        let digest = d["digest"]
            .as_str()
            .ok_or_else(|| Error::Failed(format!("{what}: a descriptor without a digest")))?;
        let size = d["size"].as_u64().unwrap_or(0);
        total += size;
        let label = if i == 0 {
            format!("config {digest}")
        } else {
            format!("layer {i}/{} {digest} ({})", n - 1, mib(size))
        };
        if !staging.has(digest) {
            let mut r = reg.blob(repo, digest, &format!("{what}: {label}"))?;
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
fn pull_image(
    image: &str,
    mirror: Option<&str>,
    ca_file: Option<&Path>,
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
            Registry::new(&from.registry, ca_file)?,
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
        let mut chosen = Vec::new();
        let mut offered = Vec::new();
        for e in &entries {
            let p = platform_of(&e["platform"]);
            if p != "unknown/unknown" {
                offered.push(p.clone());
            }
            if platforms.iter().any(|w| platform_matches(&p, w)) {
                chosen.push((e.clone(), p));
            }
        }
        if chosen.is_empty() {
            return Err(Error::Failed(format!(
                "{what}: no manifest for {} (it has {})",
                platforms.join(", "),
                offered.join(", ")
            )));
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
fn engine_image(engine: &str, image: &str, staging: &Staging) -> Result<ImageRecord, Error> {
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
                    let mut v = Vec::new();
                    e.read_to_end(&mut v)
                        .map_err(|e| Error::Failed(format!("{image}: {e}")))?;
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
            String::from_utf8_lossy(&out.stderr).trim()
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

fn sums_text(entries: &BTreeMap<String, Source>) -> Result<String, Error> {
    let mut s = String::new();
    for (path, src) in entries {
        let hex = match src {
            Source::Bytes(b) => crate::output::sha256_hex(b),
            Source::File(p) => {
                let mut f = std::fs::File::open(p)
                    .map_err(|e| Error::Io(format!("cannot read {}", p.display()), e))?;
                archive::copy_hashing(&mut f, &mut std::io::sink(), &mut |_| {})
                    .map_err(|e| Error::Io(format!("cannot read {}", p.display()), e))?
                    .0
            }
        };
        let _ = writeln!(s, "{hex}  {path}");
    }
    Ok(s)
}

/// Make a bundle. Returns a summary line.
///
/// # Errors
/// An invalid spec (1); an image missing or refused (1); writing fails (2). The archive appears
/// under its name only when it is whole.
#[expect(clippy::too_many_lines, reason = "one pass, in order")]
pub fn create(args: &Create) -> Result<String, Error> {
    let started = Instant::now();
    let valid = crate::validate::validate_file(&args.spec, args.profile.as_deref())?;
    let platforms = if args.platforms.is_empty() {
        vec![host_platform()]
    } else {
        args.platforms.clone()
    };
    let parent = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = args
        .out
        .file_name()
        .ok_or_else(|| Error::Usage(format!("--out {}: not a file name", args.out.display())))?
        .to_string_lossy()
        .into_owned();
    let staging = Staging {
        dir: tempfile::Builder::new()
            .prefix(&format!(".{file_name}.parts-"))
            .tempdir_in(&parent)
            .map_err(|e| {
                Error::Io(
                    format!("cannot make a staging directory in {}", parent.display()),
                    e,
                )
            })?,
    };
    // The images as every target names them, without a mirror.
    let images: Vec<String> = crate::plan::images_used(
        &valid,
        None,
        crate::plan::Rendered {
            compose: true,
            kubernetes: true,
        },
    )
    .into_keys()
    .collect();
    let mut records = Vec::new();
    let mut registries = BTreeMap::new();
    for image in &images {
        let rec = match &args.source {
            ImageSource::Registry { mirror, ca_file } => {
                let mirror = mirror
                    .clone()
                    .or_else(|| valid.spec.images.as_ref().and_then(|i| i.mirror.clone()));
                if let Some(m) = &mirror {
                    crate::image::check_mirror(m)
                        .map_err(|e| Error::Usage(format!("--registry-mirror: {e}")))?;
                }
                pull_image(
                    image,
                    mirror.as_deref(),
                    ca_file.as_deref(),
                    &platforms,
                    &staging,
                    &mut registries,
                )?
            }
            ImageSource::Engine(engine) => engine_image(engine, image, &staging)?,
        };
        records.push(rec);
    }
    // The render of every target, with stand-ins for the secrets: nothing outside secrets/
    // depends on a secret's value, and no secret value goes into the bundle.
    let opts = crate::RenderOptions {
        target: crate::cli::Target::All,
        templates: None,
        registry_mirror: None,
        flavor: None,
    };
    let files = crate::render_files_with(
        &valid,
        Path::new("."),
        &opts,
        &|_| None,
        crate::SecretSource::Placeholders,
    )?;
    let files = crate::output::with_manifests(&files);
    let mut entries: BTreeMap<String, Source> = BTreeMap::new();
    for (path, f) in &files {
        if !crate::output::is_secret_path(path) {
            entries.insert(format!("output/{path}"), Source::Bytes(f.bytes.clone()));
        }
    }
    let spec_bytes = std::fs::read(&args.spec)
        .map_err(|e| Error::Io(format!("cannot read {}", args.spec.display()), e))?;
    entries.insert("spec.yaml".into(), Source::Bytes(spec_bytes));
    let profile_file = args
        .profile
        .as_deref()
        .filter(|p| !matches!(*p, "single-node" | "ha"));
    if let Some(p) = profile_file {
        let bytes = std::fs::read(p).map_err(|e| Error::Io(format!("cannot read {p}"), e))?;
        entries.insert("profile.yaml".into(), Source::Bytes(bytes));
    }
    // The OCI layout: every blob the images refer to, and an index naming each image.
    let mut blobs = BTreeSet::new();
    for r in &records {
        referenced(&r.digest, &|d| staging.read(d), &mut blobs)?;
    }
    for d in &blobs {
        let name = blob_name(d)?;
        entries.insert(
            format!("images/{name}"),
            Source::File(staging.dir.path().join(&name)),
        );
    }
    let mut index_entries = Vec::new();
    for r in &records {
        let size = std::fs::metadata(staging.blob_path(&r.digest)?)
            .map_err(|e| Error::Io("cannot read a staged manifest".into(), e))?
            .len();
        index_entries.push(json!({
            "mediaType": r.media_type,
            "digest": r.digest,
            "size": size,
            "annotations": { REF_NAME: r.image },
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": registry::OCI_INDEX,
        "manifests": index_entries,
    });
    let mut index_bytes =
        serde_json::to_vec_pretty(&index).map_err(|e| Error::Internal(e.to_string()))?;
    index_bytes.push(b'\n');
    entries.insert("images/index.json".into(), Source::Bytes(index_bytes));
    entries.insert(
        "images/oci-layout".into(),
        Source::Bytes(b"{\"imageLayoutVersion\":\"1.0.0\"}\n".to_vec()),
    );
    let source = match &args.source {
        ImageSource::Registry { .. } => "registry",
        ImageSource::Engine(_) => "engine",
    };
    let manifest = json!({
        "bundle": FORMAT,
        "misp_gen": env!("CARGO_PKG_VERSION"),
        "spec": {
            "name": valid.spec.name,
            "version": valid.spec.version,
            "file": "spec.yaml",
        },
        "profile": {
            "name": valid.profile.name,
            "file": profile_file.map(|_| "profile.yaml"),
        },
        "platforms": platforms,
        "images_from": source,
        "images": records.iter().map(|r| json!({
            "image": r.image,
            "digest": r.digest,
            "media_type": r.media_type,
            "platforms": r.platforms,
            "size": r.size,
        })).collect::<Vec<_>>(),
        "secrets": "none: generated on the site by `bundle push` or `bundle load`",
    });
    let mut manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    manifest_bytes.push(b'\n');
    entries.insert("bundle.json".into(), Source::Bytes(manifest_bytes));
    let sums = sums_text(&entries)?;
    entries.insert("SHA256SUMS".into(), Source::Bytes(sums.into_bytes()));
    // Written beside its name and renamed only when whole: a failed run leaves no archive that
    // looks good.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}.tmp-"))
        .tempfile_in(&parent)
        .map_err(|e| Error::Io(format!("cannot write in {}", parent.display()), e))?;
    let write_err =
        |e: std::io::Error| Error::Io(format!("cannot write the bundle {}", args.out.display()), e);
    {
        let w = std::io::BufWriter::new(tmp.as_file_mut());
        let mut w = archive::write_tar(w, &entries).map_err(write_err)?;
        w.flush().map_err(write_err)?;
    }
    tmp.as_file().sync_all().map_err(write_err)?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
    }
    let size = tmp.as_file().metadata().map_err(write_err)?.len();
    tmp.persist(&args.out).map_err(|e| write_err(e.error))?;
    Ok(format!(
        "bundled {} images ({} blobs) and {} rendered files into {}: {} in {:.1}s",
        records.len(),
        blobs.len(),
        files.len(),
        args.out.display(),
        mib(size),
        started.elapsed().as_secs_f64()
    ))
}

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
    fn read_blob(&self, digest: &str) -> Result<Vec<u8>, Error> {
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
fn require_intact(file: &Path) -> Result<Bundle, Error> {
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

/// How the site renders after `push` or `load`.
#[derive(Debug, Clone)]
pub struct SiteRender {
    pub out: PathBuf,
    pub pull: Option<crate::spec::model::Pull>,
    pub flavor: Option<crate::spec::model::Flavor>,
}

/// The bundle's spec (and profile), validated as they were bundled.
fn bundled_spec(b: &Bundle, tmp: &Path) -> Result<crate::validate::Valid, Error> {
    let spec = tmp.join("spec.yaml");
    let bytes = b
        .archive
        .read("spec.yaml")
        .map_err(|e| Error::Failed(format!("{}: spec.yaml: {e}", b.archive.path.display())))?;
    crate::output::write_atomic(&spec, &bytes, Some(0o600))
        .map_err(|e| Error::Io(format!("cannot write {}", spec.display()), e))?;
    let profile = if b.manifest["profile"]["file"].is_string() {
        let p = tmp.join("profile.yaml");
        let bytes = b.archive.read("profile.yaml").map_err(|e| {
            Error::Failed(format!("{}: profile.yaml: {e}", b.archive.path.display()))
        })?;
        crate::output::write_atomic(&p, &bytes, Some(0o600))
            .map_err(|e| Error::Io(format!("cannot write {}", p.display()), e))?;
        Some(p.to_string_lossy().into_owned())
    } else {
        b.manifest["profile"]["name"].as_str().map(str::to_owned)
    };
    crate::validate::validate_file(&spec, profile.as_deref())
}

/// Pin every image of the spec to the digest the bundle carries.
fn pin(valid: &mut crate::validate::Valid, digests: &BTreeMap<String, String>) {
    let pinned = |image: &str| -> String {
        match ImageRef::parse(image) {
            Ok(mut r) => {
                // The bundled digest replaces one the spec wrote: for a multi-platform image
                // bundled for one platform it is that platform's manifest, which the site has.
                let key = ImageRef {
                    digest: None,
                    ..r.clone()
                }
                .to_string();
                if let Some(d) = digests.get(&key) {
                    r.digest = Some(d.clone());
                }
                r.to_string()
            }
            Err(_) => image.to_owned(),
        }
    };
    let spec = &mut valid.spec;
    for svc in spec.services.values_mut() {
        svc.image = pinned(&svc.image);
    }
    if let Some(db) = crate::plan::database_image(spec)
        && let Some(d) = spec.database.as_mut()
    {
        d.image = Some(pinned(&db));
    }
    if spec.edge.is_some() {
        let lb = pinned(&crate::plan::lb_image(spec));
        if let Some(e) = spec.edge.as_mut() {
            e.image = Some(lb);
        }
    }
    if let Some(w) = spec.targets.kubernetes.wait_image.clone() {
        spec.targets.kubernetes.wait_image = Some(pinned(&w));
    }
}

fn site_render(
    mut valid: crate::validate::Valid,
    mirror: Option<String>,
    site: &SiteRender,
) -> Result<(), Error> {
    if let Some(p) = site.pull {
        valid.spec.images.get_or_insert_with(Default::default).pull = Some(p);
    }
    let opts = crate::RenderOptions {
        target: crate::cli::Target::All,
        templates: None,
        registry_mirror: mirror,
        flavor: site.flavor,
    };
    crate::render_to_dir(&valid, &site.out, &opts)
}

/// `HOST[:PORT][/PATH]` → (host, path prefix).
fn split_registry(registry: &str) -> (String, String) {
    let r = registry.trim_end_matches('/');
    match r.split_once('/') {
        Some((h, p)) => (h.to_owned(), p.to_owned()),
        None => (r.to_owned(), String::new()),
    }
}

/// Push a manifest (or an index and its manifests) and its blobs from the bundle.
fn push_tree(
    b: &Bundle,
    reg: &Registry,
    repo: &str,
    digest: &str,
    media_type: &str,
    what: &str,
    pushed: &mut u64,
) -> Result<(), Error> {
    let bytes = b.read_blob(digest)?;
    let v: Value = parse_json(&bytes, what, "a manifest")?;
    if let Some(children) = v["manifests"].as_array() {
        for c in children {
            let d = c["digest"].as_str().unwrap_or_default();
            let m = c["mediaType"].as_str().unwrap_or(registry::OCI_MANIFEST);
            push_tree(b, reg, repo, d, m, what, pushed)?;
        }
    } else {
        let descs: Vec<Value> = std::iter::once(v["config"].clone())
            .chain(v["layers"].as_array().cloned().unwrap_or_default())
            .collect();
        for d in descs {
            let digest = d["digest"].as_str().unwrap_or_default().to_owned();
            let label = format!("{what}: blob {digest}");
            if reg.has_blob(repo, &digest, &label)? {
                continue;
            }
            let name = format!("images/{}", blob_name(&digest)?);
            let size = b.archive.entries.get(&name).map_or(0, |e| e.size);
            let started = Instant::now();
            reg.push_blob(
                repo,
                &digest,
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
    }
    reg.push_manifest(repo, digest, media_type, &bytes, what)
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
    site: &SiteRender,
) -> Result<String, Error> {
    crate::image::check_mirror(registry_arg)
        .map_err(|e| Error::Usage(format!("--registry: {e}")))?;
    let started = Instant::now();
    let b = require_intact(file)?;
    let (host, _) = split_registry(registry_arg);
    let reg = Registry::new(&host, ca_file)?;
    let mut digests = BTreeMap::new();
    let mut pushed = 0u64;
    for (image, digest, media_type) in b.images() {
        let r = ImageRef::parse(&image).map_err(|e| Error::Failed(format!("{image}: {e}")))?;
        let to = r.mirrored(registry_arg);
        let what = format!("{image} (to {to})");
        progress(&format!("pushing {what}"));
        push_tree(&b, &reg, &to.path, &digest, &media_type, &what, &mut pushed)?;
        if let Some(tag) = &to.tag {
            let bytes = b.read_blob(&digest)?;
            reg.push_manifest(&to.path, tag, &media_type, &bytes, &what)?;
        }
        digests.insert(ImageRef { digest: None, ..r }.to_string(), digest);
    }
    let push_secs = started.elapsed().as_secs_f64();
    let tmp = tempfile::tempdir()
        .map_err(|e| Error::Io("cannot make a temporary directory".into(), e))?;
    let mut valid = bundled_spec(&b, tmp.path())?;
    pin(&mut valid, &digests);
    site_render(valid, Some(registry_arg.to_owned()), site)?;
    Ok(format!(
        "pushed {} images to {registry_arg} ({} uploaded) in {push_secs:.1}s; rendered {} pinned by digest",
        digests.len(),
        mib(pushed),
        site.out.display()
    ))
}

/// The single-platform manifest of an image for this host.
fn host_manifest(b: &Bundle, image: &str, digest: &str) -> Result<Value, Error> {
    let v: Value = parse_json(&b.read_blob(digest)?, image, "the manifest")?;
    let Some(children) = v["manifests"].as_array() else {
        return Ok(v);
    };
    let host = host_platform();
    let child = children
        .iter()
        .find(|c| platform_matches(&platform_of(&c["platform"]), &host))
        .ok_or_else(|| {
            Error::Failed(format!(
                "{image}: the bundle has no {host} manifest for it (bundle it with --platform {host})"
            ))
        })?;
    parse_json(
        &b.read_blob(child["digest"].as_str().unwrap_or_default())?,
        image,
        "the manifest",
    )
}

/// `bundle load`: every image into the local engine (`docker load` / `podman load` of one
/// docker-archive stream), then the spec rendered with pull policy never.
///
/// # Errors
/// A bundle that is not intact (1), the engine refusing (1), a render that fails.
pub fn load(file: &Path, engine: &str, site: &SiteRender) -> Result<String, Error> {
    let started = Instant::now();
    let b = require_intact(file)?;
    // docker-archive: manifest.json naming each image's config and layers by their blob paths.
    let mut list = Vec::new();
    let mut blobs = BTreeSet::new();
    for (image, digest, _) in b.images() {
        let m = host_manifest(&b, &image, &digest)?;
        let cfg = m["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let layers: Vec<String> = m["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["digest"].as_str().unwrap_or_default().to_owned())
            .collect();
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
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let total =
        fed.map_err(|e| Error::Io(format!("cannot feed the images to `{engine} load`"), e))?;
    let load_secs = started.elapsed().as_secs_f64();
    let tmp = tempfile::tempdir()
        .map_err(|e| Error::Io("cannot make a temporary directory".into(), e))?;
    let valid = bundled_spec(&b, tmp.path())?;
    let site = SiteRender {
        pull: Some(site.pull.unwrap_or(crate::spec::model::Pull::Never)),
        ..site.clone()
    };
    site_render(valid, None, &site)?;
    Ok(format!(
        "loaded {} images ({}) into {engine} in {load_secs:.1}s; rendered {} with pull policy never",
        list.len(),
        mib(total),
        site.out.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins that a blob whose bytes are not its digest is refused while it streams, naming both
    // digests, and that nothing of it stays in the blob store.
    #[test]
    fn a_blob_that_is_not_its_digest_is_refused() {
        let staging = Staging {
            dir: tempfile::tempdir().expect("tmp"),
        };
        let want = format!("sha256:{}", crate::output::sha256_hex(b"expected"));
        let err = staging
            .put(&mut &b"tampered"[..], Some(&want), "img:1", "layer 1/1")
            .expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains(&want) && msg.contains("img:1"), "{msg}");
        assert!(!staging.has(&want));
        assert_eq!(
            std::fs::read_dir(staging.dir.path()).expect("dir").count(),
            0,
            "a temporary file was left"
        );
        let (d, n) = staging
            .put(&mut &b"expected"[..], Some(&want), "img:1", "layer 1/1")
            .expect("accepted");
        assert_eq!((d.as_str(), n), (want.as_str(), 8));
        assert!(staging.has(&want));
    }

    // Pins platform matching: `linux/arm64` takes any arm64 variant, `linux/arm64/v8` that one.
    #[test]
    fn platforms_match_with_and_without_variant() {
        assert!(platform_matches("linux/amd64", "linux/amd64"));
        assert!(platform_matches("linux/arm64/v8", "linux/arm64"));
        assert!(!platform_matches("linux/arm64", "linux/arm64/v8"));
        assert!(!platform_matches("linux/arm/v7", "linux/arm64"));
    }
}
