//! Shared test helpers: the binary, external tools, reading output trees.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test that calls them"
)]

pub mod forge;

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
        Err(format!("{said} at {}, older than {a}.{b}", path.display()))
    }
}

/// An external tool from [`tool_dirs`]: the first one found that is new enough ([`MIN_VERSIONS`]).
/// `None` means skip, with a message saying why; under CI=true a missing or too old tool fails the
/// test instead.
pub fn tool(name: &str) -> Option<PathBuf> {
    let mut too_old = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in tool_dirs().into_iter().map(|d| d.join(name)) {
        // /bin and /usr/bin are one directory on a merged /usr: one tool, said once.
        if !p.is_file() || !seen.insert(std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone())) {
            continue;
        }
        match new_enough(name, &p) {
            Ok(()) => return Some(p),
            Err(why) => too_old.push(why),
        }
    }
    let why = if too_old.is_empty() {
        "not installed".to_owned()
    } else {
        format!("too old: {}", too_old.join("; "))
    };
    skip(name, &why);
    None
}

/// Skip the part of the running test that needs `what` (a tool, an engine, an image), because
/// `why`. Under CI=true that is a failure instead. Outside CI the line goes straight to standard
/// error, past the test harness's capture, so a skip is never a silent `ok`; it is also recorded
/// for the run's closing line (`tests/zz_closing.rs`).
pub fn skip(what: &str, why: &str) {
    use std::io::Write as _;
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is required under CI=true: {why} (.ci/tools.sh and tests/e2e/build-images.sh install what the tests need)"
    );
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {what}: {why}");
    let dir = skip_dir(std::os::unix::process::parent_id());
    if std::fs::create_dir_all(&dir).is_ok() {
        let file = dir.join(format!("{}.tsv", std::process::id()));
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let clean = |s: &str| s.replace(['\t', '\n'], " ");
            let _ = f.write_all(format!("{}\t{}\n", clean(what), clean(why)).as_bytes());
        }
    }
}

/// Where the skips of one `cargo test` run are recorded: the test binaries of one run share
/// their parent, cargo.
pub fn skip_dir(cargo_pid: u32) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("skips")
        .join(cargo_pid.to_string())
}

/// A command that ran: its command line and what it did. Assertions on it ([`Ran::code`],
/// [`Ran::success`], or any with [`Ran::said`] as the message) print the command and its output,
/// so a failure says more than `left: Some(0) right: Some(2)` (`.ci/status_assertions.py` finds
/// the assertions on a status that do not).
pub struct Ran {
    pub cmd: String,
    pub out: Output,
}

impl Deref for Ran {
    type Target = Output;
    fn deref(&self) -> &Output {
        &self.out
    }
}

/// What a failure message shows of one stream: its end, where errors and summaries are.
const SAID_BYTES: usize = 16 * 1024;

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= SAID_BYTES {
        return text.into_owned();
    }
    let mut cut = text.len() - SAID_BYTES;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    format!("[{cut} bytes before]…{}", &text[cut..])
}

impl Ran {
    /// The command line, the exit status, stderr and stdout, each labelled.
    pub fn said(&self) -> String {
        format!(
            "command: {}\nstatus: {}\nstderr:\n{}\nstdout:\n{}",
            self.cmd,
            self.out.status,
            tail(&self.out.stderr),
            tail(&self.out.stdout)
        )
    }

    /// Assert the command exited with code `n`.
    #[track_caller]
    pub fn code(&self, n: i32) -> &Self {
        assert_eq!(self.out.status.code(), Some(n), "{}", self.said());
        self
    }

    /// Assert the command exited with 0.
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(self.out.status.success(), "{}", self.said());
        self
    }
}

/// Running a command into a [`Ran`].
pub trait Run {
    /// Run to completion, output captured; panics naming the command when it cannot start.
    fn ran(&mut self) -> Ran;
}

impl Run for Command {
    #[track_caller]
    fn ran(&mut self) -> Ran {
        let cmd = format!("{self:?}");
        match self.output() {
            Ok(out) => Ran { cmd, out },
            Err(e) => panic!("cannot run {cmd}: {e}"),
        }
    }
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
