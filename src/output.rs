//! Output: the file set, atomic writes, stale-file removal, SHA256SUMS and the `--check` diff.

use std::io::Write as _;
use std::path::Path;

/// Write `bytes` to `path` atomically: a temporary file in the same directory, synced, then renamed
/// over the target, so a reader sees the old file or the new one, never half of one.
///
/// # Errors
/// I/O errors.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".misp-gen-")
        .tempfile_in(dir)?;
    if let Some(m) = mode {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(m))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
