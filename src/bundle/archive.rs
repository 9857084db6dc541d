//! The bundle's archive: a plain tar written in one fixed way (entries sorted by path, mtime 0,
//! uid and gid 0, mode 0644, no owner names), so that identical contents give identical bytes;
//! and a reader that indexes the entries to read any one of them in place.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek as _, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// Where an entry's bytes come from when writing.
pub enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Write `entries` (path → source) as a tar to `w`, in path order.
///
/// # Errors
/// Reading a source file or writing fails.
pub fn write_tar<W: Write>(writer: W, entries: &BTreeMap<String, Source>) -> std::io::Result<W> {
    let mut builder = tar::Builder::new(writer);
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, src) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        match src {
            Source::Bytes(bytes) => {
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, bytes.as_slice())?;
            }
            Source::File(file) => {
                let f = File::open(file)?;
                header.set_size(f.metadata()?.len());
                builder.append_data(&mut header, path, f)?;
            }
        }
    }
    builder.into_inner()
}

/// An entry of an archive on disk: where its bytes start and how many there are.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub offset: u64,
    pub size: u64,
}

/// A tar on disk, indexed by path.
pub struct Archive {
    pub path: PathBuf,
    pub entries: BTreeMap<String, Entry>,
}

/// The largest entry [`Archive::read`] reads into memory.
pub const MAX_READ: u64 = super::bounded::MAX_DOC;

/// `a/./b`, `./a//b` → `a/b`; `None` for an absolute path, `..` anywhere, or nothing left.
fn normalize(raw: &str) -> Option<String> {
    if raw.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for p in raw.split('/') {
        match p {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl Archive {
    /// Index every regular file of the tar at `path`.
    ///
    /// # Errors
    /// `Err(message)` when it cannot be read as a whole tar (truncated, not a tar, an entry that
    /// is not a regular file, a path twice or one that climbs out).
    pub fn open(path: &Path) -> Result<Archive, String> {
        // A FIFO would block the open itself, a device reads forever: a bundle is a file.
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => {
                return Err("it is not a file (a FIFO, a device or a directory)".into());
            }
            _ => {}
        }
        let f = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        let mut ar = tar::Archive::new(f);
        let mut entries = BTreeMap::new();
        let mut any = false;
        let mut data_end = 0u64;
        for e in ar
            .entries_with_seek()
            .map_err(|e| format!("not a tar archive: {e}"))?
        {
            let e = e.map_err(|e| format!("truncated or not a bundle: {e}"))?;
            any = true;
            // Where this entry's data ends, padded to its 512-byte block.
            data_end = e
                .raw_file_position()
                .saturating_add(e.size().div_ceil(512).saturating_mul(512))
                .max(data_end);
            let raw = e
                .path()
                .map_err(|e| format!("an entry with an unreadable name: {e}"))?
                .to_string_lossy()
                .into_owned();
            let shown = super::bounded::shown(&raw, 300);
            match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {}
                tar::EntryType::Directory => continue,
                other => {
                    return Err(format!(
                        "{shown}: a {other:?} entry (a link, a device, a FIFO…); a bundle holds regular files only"
                    ));
                }
            }
            // One name for one file: `./spec.yaml` is `spec.yaml`, as `tar xf` sees it, so that
            // what verify checks is what is unpacked.
            let name = normalize(&raw).ok_or_else(|| {
                format!("{shown}: an entry path that is not a plain relative path (absolute, `..`, or empty)")
            })?;
            let entry = Entry {
                offset: e.raw_file_position(),
                size: e.size(),
            };
            if entry
                .offset
                .checked_add(entry.size)
                .is_none_or(|end| end > len)
            {
                return Err(format!(
                    "{shown}: truncated ({} of {} bytes present)",
                    len.saturating_sub(entry.offset),
                    entry.size
                ));
            }
            if entries.insert(name.clone(), entry).is_some() {
                return Err(format!(
                    "{}: twice in the archive (after `./` and `//` are taken away); a bundle names each file once",
                    super::bounded::shown(&name, 300)
                ));
            }
        }
        if !any {
            return Err("empty, or not a tar archive".into());
        }
        // The end-of-archive block must follow the last entry: an entry that declares more than
        // it holds swallows it, and `tar xf` then stops with an error where this read would not.
        if data_end.saturating_add(512) > len {
            return Err(format!(
                "truncated: the last entry runs to byte {data_end} and no end-of-archive block follows (the file has {len} bytes)"
            ));
        }
        Ok(Archive {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// A reader of the entry `name`.
    ///
    /// # Errors
    /// No such entry, or the file cannot be read.
    pub fn reader(&self, name: &str) -> std::io::Result<std::io::Take<File>> {
        let e = self.entries.get(name).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{name} is not in the bundle"),
            )
        })?;
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(e.offset))?;
        Ok(f.take(e.size))
    }

    /// The whole entry `name`, for the small ones read into memory (bundle.json, SHA256SUMS, the
    /// spec, manifests and image configs): at most [`MAX_READ`] bytes, so that a forged bundle
    /// cannot make misp-gen hold a layer-sized "manifest" in memory.
    ///
    /// # Errors
    /// As [`Archive::reader`]; an entry larger than [`MAX_READ`].
    pub fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        if let Some(e) = self.entries.get(name)
            && e.size > MAX_READ
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{name} is {} bytes, more than the {MAX_READ} a bundle's manifest, spec or image manifest ever is",
                    e.size
                ),
            ));
        }
        super::bounded::read_bounded(&mut self.reader(name)?, MAX_READ)
    }

    /// Lower-case hex SHA-256 of the entry `name`, streamed.
    ///
    /// # Errors
    /// As [`Archive::reader`].
    pub fn sha256(&self, name: &str) -> std::io::Result<String> {
        let mut r = self.reader(name)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(hex(&h.finalize()))
    }
}

/// Lower-case hex.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Copy `r` into `w`, returning the SHA-256 (hex) and the byte count; `progress` is called with
/// the running count.
///
/// # Errors
/// Reading or writing fails.
pub fn copy_hashing(
    r: &mut dyn Read,
    w: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n_total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        n_total += n as u64;
        progress(n_total);
    }
    Ok((hex(&h.finalize()), n_total))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins that the same entries give the same bytes whatever order they are given in, and that
    // the reader finds each entry's bytes in place.
    #[test]
    fn writes_deterministically_and_reads_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = BTreeMap::new();
        a.insert("b/x.txt".to_owned(), Source::Bytes(b"second".to_vec()));
        a.insert("a.txt".to_owned(), Source::Bytes(b"first".to_vec()));
        let long = format!("output/{}/file.yaml", "d".repeat(120));
        a.insert(long.clone(), Source::Bytes(vec![7u8; 1000]));
        let one = write_tar(Vec::new(), &a).expect("tar");
        let two = write_tar(Vec::new(), &a).expect("tar");
        assert_eq!(one, two);
        let p = dir.path().join("t.tar");
        std::fs::write(&p, &one).expect("write");
        let ar = Archive::open(&p).expect("opens");
        assert_eq!(
            ar.entries.keys().cloned().collect::<Vec<_>>(),
            vec!["a.txt".to_owned(), "b/x.txt".to_owned(), long.clone()]
        );
        assert_eq!(ar.read("b/x.txt").expect("read"), b"second");
        assert_eq!(ar.read(&long).expect("read"), vec![7u8; 1000]);
        assert_eq!(
            ar.sha256("a.txt").expect("sum"),
            crate::output::sha256_hex(b"first")
        );
        // An entry too large to be a manifest is refused by `read`, still streamed by `reader`.
        let mut big = BTreeMap::new();
        big.insert(
            "images/blobs/sha256/x".to_owned(),
            Source::Bytes(vec![0u8; usize::try_from(MAX_READ).expect("fits") + 1]),
        );
        let q = dir.path().join("big.tar");
        std::fs::write(&q, write_tar(Vec::new(), &big).expect("tar")).expect("write");
        let ar = Archive::open(&q).expect("opens");
        let err = ar.read("images/blobs/sha256/x").expect_err("too large");
        assert!(err.to_string().contains("more than"), "{err}");
        assert_eq!(
            std::io::copy(
                &mut ar.reader("images/blobs/sha256/x").expect("reader"),
                &mut std::io::sink()
            )
            .expect("streams"),
            MAX_READ + 1
        );
        // Cut inside an entry: named as truncated.
        let cut = &one[..1536 + 512 + 100];
        std::fs::write(&p, cut).expect("write");
        let err = Archive::open(&p).err().expect("truncated");
        assert!(err.contains("truncated"), "{err}");
    }
}
