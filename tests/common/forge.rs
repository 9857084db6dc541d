//! Bundles written by hand, entry by entry, for the tests of what `bundle verify`, `push` and
//! `load` do with one that lies: a good one to start from, and the means to change any entry,
//! add links or duplicate names, and write the archive (as a raw tar, names as given).

use std::path::Path;

use serde_json::json;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", misp_gen::output::sha256_hex(bytes))
}

/// What kind of tar entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Symlink(String),
    Hardlink(String),
    Fifo,
    CharDevice,
    /// A regular file whose header declares this size, whatever its bytes.
    SizeLie(u64),
}

/// A bundle's entries in archive order.
#[derive(Debug, Clone)]
pub struct Forge {
    pub entries: Vec<(String, Kind, Vec<u8>)>,
}

/// The spec of a forged bundle: one service running `image`.
pub fn spec_text(image: &str) -> String {
    format!(
        "apiVersion: misp-gen/v1\nname: forge\nsecrets:\n  token: {{ generate: password, length: 20 }}\nservices:\n  app:\n    image: {image}\n    command: [\"sleep\", \"3600\"]\n    env: {{ TOKEN: \"${{secrets.token}}\" }}\n"
    )
}

/// A one-layer linux/`arch` image: (manifest, config, layer).
pub fn image(arch: &str, payload: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let layer = payload.to_vec();
    let config = serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux",
        "config": { "Cmd": ["true"] },
        "rootfs": { "type": "layers", "diff_ids": [sha(&layer)] },
    }))
    .expect("json");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(&layer), "size": layer.len() }],
    }))
    .expect("json");
    (manifest, config, layer)
}

/// The host's architecture as OCI names it.
pub fn host_arch() -> String {
    misp_gen::bundle::host_platform()
        .trim_start_matches("linux/")
        .to_owned()
}

impl Forge {
    /// A good bundle of `spec` whose one image `image_ref` is the manifest `root` (its media
    /// type `media`) over `blobs` (every blob, manifests included).
    pub fn new(spec: &str, images: &[(&str, &str, &str)], blobs: &[Vec<u8>]) -> Forge {
        let mut f = Forge {
            entries: Vec::new(),
        };
        f.put("spec.yaml", spec.as_bytes().to_vec());
        for b in blobs {
            f.put_blob(b);
        }
        f.set_images(images);
        f.put(
            "images/oci-layout",
            b"{\"imageLayoutVersion\":\"1.0.0\"}\n".to_vec(),
        );
        f.resum();
        f
    }

    /// A good bundle of one single-platform image of the host's platform.
    pub fn good(image_ref: &str) -> Forge {
        let (m, c, l) = image(&host_arch(), b"layer payload");
        Forge::new(
            &spec_text(image_ref),
            &[(image_ref, &sha(&m), OCI_MANIFEST)],
            &[m, c, l],
        )
    }

    /// `bundle.json` listing `images` (name, digest, media type).
    pub fn set_images(&mut self, images: &[(&str, &str, &str)]) {
        let manifest = json!({
            "bundle": 1,
            "misp_gen": "test",
            "spec": { "name": "forge", "version": null, "file": "spec.yaml" },
            "profile": { "name": "single-node", "file": null },
            "platforms": [misp_gen::bundle::host_platform()],
            "images_from": "registry",
            "images": images.iter().map(|(i, d, m)| json!({
                "image": i, "digest": d, "media_type": m, "platforms": [], "size": 0,
            })).collect::<Vec<_>>(),
            "secrets": "none",
        });
        self.put(
            "bundle.json",
            serde_json::to_vec_pretty(&manifest).expect("json"),
        );
    }

    /// Replace (or add) the regular file `name`.
    pub fn put(&mut self, name: &str, bytes: Vec<u8>) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == name) {
            e.2 = bytes;
        } else {
            self.entries.push((name.to_owned(), Kind::File, bytes));
        }
    }

    /// Add a blob under its digest; returns the digest.
    pub fn put_blob(&mut self, bytes: &[u8]) -> String {
        let d = sha(bytes);
        self.put(
            &format!("images/blobs/sha256/{}", &d["sha256:".len()..]),
            bytes.to_vec(),
        );
        d
    }

    /// Add an entry of any kind, even under a name already there.
    pub fn push(&mut self, name: &str, kind: Kind, bytes: Vec<u8>) {
        self.entries.push((name.to_owned(), kind, bytes));
    }

    /// SHA256SUMS of every regular file but itself, so that only the lie under test remains.
    pub fn resum(&mut self) {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .filter(|(n, k, _)| *k == Kind::File && n != "SHA256SUMS")
            .map(|(n, _, b)| format!("{}  {n}", misp_gen::output::sha256_hex(b)))
            .collect();
        lines.sort();
        lines.dedup();
        let mut text = lines.join("\n");
        text.push('\n');
        self.put("SHA256SUMS", text.into_bytes());
    }

    /// The archive as a raw tar: names and kinds as given, in order.
    pub fn tar(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, bytes) in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_mtime(0);
            let size = match kind {
                Kind::File => bytes.len() as u64,
                Kind::SizeLie(n) => *n,
                _ => 0,
            };
            h.set_size(size);
            h.set_entry_type(match kind {
                Kind::File | Kind::SizeLie(_) => tar::EntryType::Regular,
                Kind::Symlink(_) => tar::EntryType::Symlink,
                Kind::Hardlink(_) => tar::EntryType::Link,
                Kind::Fifo => tar::EntryType::Fifo,
                Kind::CharDevice => tar::EntryType::Char,
            });
            if let Kind::Symlink(t) | Kind::Hardlink(t) = kind {
                h.set_link_name(t).expect("link name");
            }
            // Names as given, `..` and `/x` included: written into the header raw.
            {
                let gnu = h.as_gnu_mut().expect("gnu");
                let n = name.as_bytes();
                assert!(n.len() < 100, "forged names are short");
                gnu.name[..n.len()].copy_from_slice(n);
                gnu.name[n.len()..].fill(0);
            }
            h.set_cksum();
            let data: &[u8] = match kind {
                Kind::File | Kind::SizeLie(_) => bytes,
                _ => &[],
            };
            b.append(&h, data).expect("tar");
        }
        b.into_inner().expect("tar")
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.tar()).expect("write the bundle");
    }
}
