//! The in-memory result of a render: every file by its path under the output directory. The
//! renderers fill it; `output` writes it. Below both, so neither imports the other.

use std::collections::BTreeMap;

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub bytes: Vec<u8>,
    /// Unix mode; secrets are 0600.
    pub mode: u32,
    /// Holds a secret value: never print its content (diffs, messages).
    pub secret: bool,
}

/// Every file of a render, by path relative to the output directory.
pub type FileSet = BTreeMap<String, OutFile>;

/// Add a file that holds no secret.
pub fn add(files: &mut FileSet, path: impl Into<String>, text: impl Into<Vec<u8>>, mode: u32) {
    files.insert(
        path.into(),
        OutFile {
            bytes: text.into(),
            mode,
            secret: false,
        },
    );
}

/// Add a file that holds a secret (it must live under `secrets/`).
pub fn add_secret(files: &mut FileSet, path: impl Into<String>, text: impl Into<Vec<u8>>) {
    files.insert(
        path.into(),
        OutFile {
            bytes: text.into(),
            mode: 0o600,
            secret: true,
        },
    );
}

/// Add a secret file that a container engine bind-mounts as it is (it must live under
/// `secrets/`): mode 0444, so the container's user can read it whatever its uid; on the host the
/// 0700 directories of `secrets/` keep it to the owner, as they do the 0600 files beside it.
pub fn add_mounted_secret(files: &mut FileSet, path: impl Into<String>, text: impl Into<Vec<u8>>) {
    files.insert(
        path.into(),
        OutFile {
            bytes: text.into(),
            mode: 0o444,
            secret: true,
        },
    );
}

/// Lower-case hex SHA-256.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    // By hand, not `write!("{b:02x}")` per byte: a render hashes every file it writes.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut s = String::with_capacity(64);
    for b in digest.as_ref() {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}
