//! `misp-gen bundle SPEC --out FILE`: make a bundle.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use super::archive::{self, Source};
use super::fetch::{engine_image, pull_image};
use super::registry;
use super::staging::Staging;
use super::{FORMAT, REF_NAME, blob_name, bounded, host_platform, mib, walk};
use crate::Error;

/// Where `bundle` takes the images from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// The registries the spec names, or a mirror that serves them (`HOST[:PORT][/PATH]`).
    Registry {
        mirror: Option<String>,
        ca_file: Option<PathBuf>,
        /// `--plain-http`: reach the registries over plain HTTP, never with a credential.
        plain_http: bool,
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
    // The archive replaces a file of that name (or a link, not what it points to) and nothing
    // else: a device, a FIFO or a directory there is not a bundle to overwrite.
    if let Ok(m) = std::fs::symlink_metadata(&args.out)
        && !m.is_file()
        && !m.file_type().is_symlink()
    {
        return Err(Error::Usage(format!(
            "--out {}: there is something there that is not a file (a device, a FIFO or a directory); name a file",
            crate::diag::printable(&args.out.display().to_string())
        )));
    }
    let staging = Staging::new(
        tempfile::Builder::new()
            .prefix(&format!(".{file_name}.parts-"))
            .tempdir_in(&parent)
            .map_err(|e| {
                Error::Io(
                    format!("cannot make a staging directory in {}", parent.display()),
                    e,
                )
            })?,
    );
    let images = super::spec_images(&valid);
    let mut records = Vec::new();
    let mut registries = BTreeMap::new();
    for image in &images {
        let rec = match &args.source {
            ImageSource::Registry {
                mirror,
                ca_file,
                plain_http,
            } => {
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
                    if *plain_http {
                        registry::Scheme::PlainHttp
                    } else {
                        registry::Scheme::Https
                    },
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
    let opts = crate::pipeline::RenderOptions {
        allow_state_change: Vec::new(),
        target: crate::cli::Target::All,
        templates: None,
        registry_mirror: None,
        flavor: None,
    };
    let files = crate::pipeline::render_files_with(
        &valid,
        Path::new("."),
        &opts,
        &|_| None,
        crate::pipeline::SecretSource::Placeholders,
    )?;
    let files = crate::output::with_manifests(&files);
    let mut entries: BTreeMap<String, Source> = BTreeMap::new();
    for (path, f) in &files {
        if !crate::output::is_secret_path(path) {
            entries.insert(format!("output/{path}"), Source::Bytes(f.bytes.clone()));
        }
    }
    // At most what `bundle verify` and `push` read of them at the site.
    let read_small = |p: &Path| -> Result<Vec<u8>, Error> {
        let mut f = std::fs::File::open(p)
            .map_err(|e| Error::Io(format!("cannot read {}", p.display()), e))?;
        bounded::read_bounded(&mut f, bounded::MAX_DOC).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::Failed(format!(
                    "{}: {e}; a bundle carries at most that",
                    p.display()
                ))
            } else {
                Error::Io(format!("cannot read {}", p.display()), e)
            }
        })
    };
    entries.insert("spec.yaml".into(), Source::Bytes(read_small(&args.spec)?));
    let profile_file = args
        .profile
        .as_deref()
        .filter(|p| !matches!(*p, "single-node" | "ha"));
    if let Some(p) = profile_file {
        entries.insert(
            "profile.yaml".into(),
            Source::Bytes(read_small(Path::new(p))?),
        );
    }
    // The OCI layout: every blob the images refer to, and an index naming each image.
    let mut blobs = BTreeSet::new();
    for r in &records {
        let w = walk(
            &r.digest,
            &r.media_type,
            &mut |d| staging.read(d).map(Some),
            &r.image,
        )?;
        blobs.extend(w.digests());
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
    let _tmp_guard = super::cleanup::guard(tmp.path());
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
