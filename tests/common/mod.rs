//! Shared test helpers: the binary, external tools, reading output trees.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test that calls them"
)]

pub mod forge;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const EXAMPLES: &[&str] = &["misp", "portus", "starter"];
pub const PROFILES: &[&str] = &["single-node", "ha"];

/// The misp-gen binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_misp-gen"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where external tools are looked up, in order: `$MISP_GEN_TOOLS` and `target/ci-tools` (where
/// `.ci/tools.sh` installs the pinned versions), then PATH (Debian's `docker-compose` on PATH is the
/// old v1, so the pinned one comes first).
pub fn tool_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(t) = std::env::var_os("MISP_GEN_TOOLS") {
        dirs.push(PathBuf::from(&t).join("venv/bin"));
        dirs.push(PathBuf::from(&t).join("bin"));
    }
    dirs.push(repo().join("target/ci-tools/venv/bin"));
    dirs.push(repo().join("target/ci-tools/bin"));
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    dirs
}

/// PATH with the tool directories first, for scripts that look tools up themselves.
pub fn tool_path() -> std::ffi::OsString {
    std::env::join_paths(tool_dirs()).expect("joinable PATH")
}

/// The oldest version of an external tool the checks can use, where an older one is common
/// (Debian's `docker-compose` is Compose v1, 1.29, which rejects what Compose v2 and later
/// accept): `.ci/min-versions`, the list the .ci scripts read too (.ci/tool-lookup.sh).
const MIN_VERSIONS: &str = include_str!("../../.ci/min-versions");

/// The first `N.N` in `text`.
pub fn first_version(text: &str) -> Option<(u32, u32)> {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if !b.is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            continue;
        }
        let rest = &text[i..];
        let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[major.len()..];
        let Some(minor_text) = after.strip_prefix('.') else {
            continue;
        };
        let minor: String = minor_text
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let (Ok(a), Ok(b)) = (major.parse(), minor.parse()) {
            return Some((a, b));
        }
    }
    None
}

/// Whether the tool at `path` is new enough (`.ci/min-versions`); `Err` says what it is.
pub fn new_enough(name: &str, path: &Path) -> Result<(), String> {
    let Some((min, args)) = MIN_VERSIONS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::split_whitespace)
        .find_map(|mut w| {
            (w.next() == Some(name))
                .then(|| (w.next().and_then(first_version), w.collect::<Vec<_>>()))
        })
    else {
        return Ok(());
    };
    let out = Command::new(path).args(&args).output();
    let said = out
        .as_ref()
        .map_or_else(std::string::ToString::to_string, |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        });
    let found = first_version(&said);
    if out.is_ok_and(|o| o.status.success()) && found.is_some() && found >= min {
        Ok(())
    } else {
        let (a, b) = min.unwrap_or_default();
        Err(format!(
            "{} is {said:?}, older than {a}.{b}",
            path.display()
        ))
    }
}

/// An external tool from [`tool_dirs`]: the first one found that is new enough ([`MIN_VERSIONS`]).
/// `None` means skip, with a message saying why; under CI=true a missing or too old tool fails the
/// test instead.
pub fn tool(name: &str) -> Option<PathBuf> {
    let mut too_old = Vec::new();
    for p in tool_dirs().into_iter().map(|d| d.join(name)) {
        if !p.is_file() {
            continue;
        }
        match new_enough(name, &p) {
            Ok(()) => return Some(p),
            Err(why) => too_old.push(why),
        }
    }
    let why = if too_old.is_empty() {
        format!("{name} is not installed")
    } else {
        format!("{name} is too old ({})", too_old.join("; "))
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{name} is required under CI=true: {why} (run .ci/tools.sh)"
    );
    eprintln!("skipping the {name} part: {why} (run .ci/tools.sh)");
    None
}

/// Render `spec` into `out` with extra args; panics with stderr on failure.
pub fn render(spec: &Path, out: &Path, args: &[&str]) {
    let o = bin()
        .arg("render")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .expect("runs");
    assert!(
        o.status.success(),
        "render {} {args:?} failed:\n{}",
        spec.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every regular file under `dir`: relative path → bytes.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("readable dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&p).expect("readable file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The secret values kept under `dir/secrets`: plain secret files whole (six characters or more)
/// and every base64 line of a private key (sixteen or more).
pub fn secret_values(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for (rel, bytes) in tree(&dir.join("secrets")) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if Path::new(&rel).extension().is_some_and(|e| e == "key") {
            v.extend(
                text.lines()
                    .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                    .map(str::to_owned),
            );
        } else if !rel.contains('/') && text.len() >= 6 {
            v.push(text);
        }
    }
    v
}

/// Assert no secret value appears in any file outside `dir/secrets`.
pub fn assert_no_leak(dir: &Path) {
    let needles = secret_values(dir);
    assert!(
        !needles.is_empty(),
        "no secrets found under {}",
        dir.display()
    );
    for (rel, bytes) in tree(dir) {
        if rel.starts_with("secrets/") {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        for n in &needles {
            assert!(
                !text.contains(n.as_str()),
                "a secret value appears in {rel}"
            );
        }
    }
}

pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.yaml"))
}

/// Whether the kept TLS set in `tls` (a `secrets/<name>/` directory) is consistent, as openssl
/// sees it: the key is the certificate's, the certificate verifies under `ca.crt` and names
/// `host`. `Ok` without openssl (a skip, or a failure under CI=true, as [`tool`] says).
pub fn tls_consistent(tls: &Path, host: &str) -> Result<(), String> {
    let Some(openssl) = tool("openssl") else {
        return Ok(());
    };
    let run = |args: &[&str]| {
        Command::new(&openssl)
            .args(args)
            .current_dir(tls)
            .output()
            .expect("openssl runs")
    };
    let pub_crt = run(&["x509", "-in", "tls.crt", "-noout", "-pubkey"]);
    let pub_key = run(&["pkey", "-in", "tls.key", "-pubout"]);
    if pub_crt.stdout != pub_key.stdout {
        return Err("tls.key is not the key of tls.crt".into());
    }
    if !run(&["verify", "-CAfile", "ca.crt", "tls.crt"])
        .status
        .success()
    {
        return Err("tls.crt is not signed by ca.crt".into());
    }
    let names = run(&["x509", "-in", "tls.crt", "-noout", "-ext", "subjectAltName"]);
    if !String::from_utf8_lossy(&names.stdout).contains(&format!("DNS:{host}")) {
        return Err(format!("tls.crt does not name {host}"));
    }
    Ok(())
}

/// xorshift64*: reproducible random choices from a printed seed, with no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}
