//! The staging directory of a bundle being made: every blob is written there under its digest,
//! checked while it streams, before the archive is written.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use super::{archive, blob_name, bounded, cleanup, mib, progress};
use crate::Error;

/// The staging directory of a bundle being made: blobs land here, checked, before the archive is
/// written. Removed when dropped, and when a signal stops misp-gen.
pub(super) struct Staging {
    pub(super) dir: tempfile::TempDir,
    _guard: cleanup::Guard,
}

impl Staging {
    pub(super) fn new(dir: tempfile::TempDir) -> Staging {
        Staging {
            _guard: cleanup::guard(dir.path()),
            dir,
        }
    }

    pub(super) fn blob_path(&self, digest: &str) -> Result<PathBuf, Error> {
        Ok(self.dir.path().join(blob_name(digest)?))
    }

    pub(super) fn has(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// Stream `r` into the blob store, checking it against `digest` when one is expected;
    /// returns the digest and size.
    pub(super) fn put(
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

    pub(super) fn put_bytes(&self, bytes: &[u8], what: &str, label: &str) -> Result<String, Error> {
        Ok(self.put(&mut &bytes[..], None, what, label)?.0)
    }

    /// A staged manifest, index or image config: at most [`bounded::MAX_DOC`] bytes.
    pub(super) fn read(&self, digest: &str) -> Result<Vec<u8>, Error> {
        let p = self.blob_path(digest)?;
        let mut f = std::fs::File::open(&p)
            .map_err(|e| Error::Io(format!("cannot read {}", p.display()), e))?;
        bounded::read_bounded(&mut f, bounded::MAX_DOC).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::Failed(format!("{digest}: {e}"))
            } else {
                Error::Io(format!("cannot read {}", p.display()), e)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins that a blob whose bytes are not its digest is refused while it streams, naming both
    // digests, and that nothing of it stays in the blob store.
    #[test]
    fn a_blob_that_is_not_its_digest_is_refused() {
        let staging = Staging::new(tempfile::tempdir().expect("tmp"));
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
}
