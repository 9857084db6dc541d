//! The CI drift gate with secrets out of git: the outputs outside `DIR/secrets/` never depend on a
//! secret's value, `render --check` works in a fresh checkout without `secrets/`, and the two
//! manifests (SHA256SUMS for what may be committed, secrets/SHA256SUMS for the rest) keep every
//! digest of a secret inside `secrets/`.

#![expect(clippy::expect_used, reason = "tests fail by panicking")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use common::{EXAMPLES, PROFILES, bin, example, render, tree};

/// The files of `dir` outside `secrets/`.
fn committed(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(dir)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("secrets/"))
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=misp-gen test",
            "-c",
            "user.email=test@misp-gen.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(dir)
        .env_remove("MISP_GEN_SECRET_SMTP_PASSWORD")
        .output()
        .expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The files a `--check` report names: diff headers, `missing:`, `differs:`, `stale:`.
fn named(report: &str) -> BTreeSet<String> {
    report
        .lines()
        .filter_map(|l| {
            l.strip_prefix("--- a/")
                .or_else(|| l.strip_prefix("+++ b/"))
                .or_else(|| l.strip_prefix("missing: "))
                .or_else(|| l.strip_prefix("differs: "))
                .or_else(|| l.strip_prefix("stale: "))
        })
        .map(|l| l.split(" (").next().unwrap_or(l).trim().to_owned())
        .collect()
}

// Pins the gate as a repository uses it: the spec and the rendered outputs committed without
// secrets/ (.gitignore), a fresh clone, `validate` and `render --check` exit 0 there and write
// nothing (no secrets/ appears); one spec field changed: exit 1, and the diff names exactly the
// files that field changes (plus SHA256SUMS); every secret regenerated (secrets/ deleted, rendered
// again): the committed files are byte-identical (`git status` clean) while the secrets differ.
#[test]
#[expect(clippy::too_many_lines, reason = "one repository, step by step")]
fn fresh_checkout_check_gate() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    std::fs::copy(example("misp"), repo.join("misp.yaml")).expect("spec");
    std::fs::write(repo.join(".gitignore"), "out/secrets/\n").expect("gitignore");
    git(&repo, &["init", "-q"]);
    let o = run(&repo, &["render", "misp.yaml", "--out", "out"]);
    assert!(o.status.success(), "{}", text(&o));
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "spec and rendered outputs"]);
    let listed = git(&repo, &["ls-files"]);
    assert!(
        listed.contains("out/compose/compose.yaml")
            && listed.contains("out/SHA256SUMS")
            && !listed.contains("out/secrets"),
        "{listed}"
    );

    let clone = tmp.path().join("clone");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            repo.to_str().expect("utf-8"),
            clone.to_str().expect("utf-8"),
        ],
    );
    assert!(!clone.join("out/secrets").exists());
    let before = tree(&clone);
    // The steps of the GitHub Actions example in the book (docs/src/ci.md), as written there.
    let o = run(&clone, &["validate", "misp.yaml", "--format", "github"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    let o = run(&clone, &["render", "misp.yaml", "--out", "out", "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has no secrets/"),
        "{}",
        text(&o)
    );
    assert_eq!(before, tree(&clone), "--check wrote something");
    let o = run(&clone, &["verify", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // One field changed: exactly the files it changes are named.
    let spec = std::fs::read_to_string(clone.join("misp.yaml")).expect("spec");
    let changed = spec.replacen(
        r#"resources: { cpu: "500m", memory: "3Gi" }"#,
        r#"resources: { cpu: "500m", memory: "4Gi" }"#,
        1,
    );
    assert_ne!(
        spec, changed,
        "the example no longer has the field this test edits"
    );
    std::fs::write(clone.join("misp.yaml"), &changed).expect("edit");
    let o = run(&clone, &["render", "misp.yaml", "--out", "out", "--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout).into_owned();
    // What the change really touches: a full render of the changed spec, compared file by file.
    let scratch = tmp.path().join("scratch");
    render(&clone.join("misp.yaml"), &scratch, &[]);
    let new = committed(&scratch);
    let old = committed(&clone.join("out"));
    let affected: BTreeSet<String> = new
        .iter()
        .filter(|(p, b)| old.get(*p) != Some(b))
        .map(|(p, _)| p.clone())
        .chain(old.keys().filter(|p| !new.contains_key(*p)).cloned())
        .collect();
    assert!(
        affected.len() >= 3 && affected.len() < old.len() / 2,
        "{affected:?}"
    );
    assert!(affected.contains("SHA256SUMS"), "{affected:?}");
    assert_eq!(named(&report), affected, "{report}");
    assert!(
        !clone.join("out/secrets").exists(),
        "--check created secrets/"
    );

    // Every secret regenerated: the committed files do not change.
    let secrets_before = tree(&repo.join("out/secrets"));
    std::fs::remove_dir_all(repo.join("out/secrets")).expect("rm secrets");
    let o = run(&repo, &["render", "misp.yaml", "--out", "out"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        git(&repo, &["status", "--porcelain"]),
        "",
        "committed files changed"
    );
    let secrets_after = tree(&repo.join("out/secrets"));
    assert_eq!(
        secrets_before.keys().collect::<Vec<_>>(),
        secrets_after.keys().collect::<Vec<_>>()
    );
    // Every generated value: the plain secrets and the TLS keys.
    let values: Vec<&String> = secrets_before
        .keys()
        .filter(|p| {
            (!p.contains('/') && p.as_str() != "SHA256SUMS")
                || Path::new(p).extension().is_some_and(|e| e == "key")
        })
        .collect();
    assert!(values.len() > 5, "{values:?}");
    for rel in values {
        assert_ne!(
            secrets_before.get(rel),
            secrets_after.get(rel),
            "{rel} was not regenerated"
        );
    }
    let o = run(&repo, &["verify", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

const EXTERNAL_SPEC: &str = r#"apiVersion: misp-gen/v1
name: ext
secrets:
  pw: { generate: password }
  smtp_password: { external: true }
  tls: { generate: tls, hosts: [ext.example.org], key: rsa-2048 }
files:
  conf: { content: "user=app\npassword=${secrets.pw}\n" }
services:
  web:
    image: docker.io/library/nginx:1.27.3
    env: { SMTP: "${secrets.smtp_password}", MIXED: "smtp:${secrets.smtp_password}@mail" }
    mounts:
      - { secret: tls, path: /etc/tls }
      - { file: conf, path: /etc/app.conf }
"#;

// Pins that no file outside secrets/ holds anything derived from a secret: every example ×
// profile, and a spec with an external secret, a secret-bearing file and a TLS secret, rendered
// for every target twice with different secrets (generated anew, another external value): the
// files outside secrets/ are byte-identical, the secrets are not.
#[test]
fn outputs_outside_secrets_do_not_depend_on_secret_values() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ext = tmp.path().join("ext.yaml");
    std::fs::write(&ext, EXTERNAL_SPEC).expect("spec");
    let mut cases: Vec<(String, std::path::PathBuf, &str)> = Vec::new();
    for ex in EXAMPLES {
        for profile in PROFILES {
            cases.push((format!("{ex}/{profile}"), example(ex), profile));
        }
    }
    cases.push(("ext".into(), ext, "single-node"));
    for (label, spec, profile) in cases {
        let mut outs = Vec::new();
        for (i, smtp) in ["first-external-value", "second-external-value"]
            .iter()
            .enumerate()
        {
            let out = tmp.path().join(format!("{}-{i}", label.replace('/', "-")));
            let o = bin()
                .arg("render")
                .arg(&spec)
                .arg("--out")
                .arg(&out)
                .args(["--profile", profile])
                .env("MISP_GEN_SECRET_SMTP_PASSWORD", smtp)
                .output()
                .expect("runs");
            assert!(o.status.success(), "{label}: {}", text(&o));
            outs.push(out);
        }
        let (a, b) = (&outs[0], &outs[1]);
        let (ca, cb) = (committed(a), committed(b));
        for (rel, bytes) in &ca {
            assert!(
                cb.get(rel) == Some(bytes),
                "{label}: {rel} differs between two renders with different secrets"
            );
        }
        assert_eq!(
            ca.keys().collect::<Vec<_>>(),
            cb.keys().collect::<Vec<_>>(),
            "{label}"
        );
        let (sa, sb) = (tree(&a.join("secrets")), tree(&b.join("secrets")));
        assert!(
            sa.iter().any(|(p, v)| sb.get(p) != Some(v)),
            "{label}: the secrets did not differ"
        );
    }
}

// Pins finding 7 of issue 12: SHA256SUMS (0644) lists only files outside secrets/ and holds no
// digest of a secret file; secrets/SHA256SUMS (0600) lists every file under secrets/ relative to
// it, and `sha256sum -c` accepts both; `render --check` never prints a secret's digest, even over
// a SHA256SUMS written before the split that still lists them.
#[test]
fn sha256sums_hold_no_secret_digest() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    render(&example("misp"), &out, &["--profile", "ha"]);
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).expect("sums");
    let secret_files = tree(&out.join("secrets"));
    let digests: Vec<String> = secret_files
        .iter()
        .filter(|(p, _)| p.as_str() != "SHA256SUMS")
        .map(|(_, b)| misp_gen::output::sha256_hex(b))
        .collect();
    assert!(!digests.is_empty());
    assert!(!sums.contains("secrets/"), "{sums}");
    for d in &digests {
        assert!(
            !sums.contains(d.as_str()),
            "SHA256SUMS holds a secret's digest"
        );
    }
    let listed: BTreeSet<String> = sums
        .lines()
        .map(|l| l.split_once("  ").expect("two fields").1.to_owned())
        .collect();
    let expected: BTreeSet<String> = committed(&out)
        .into_keys()
        .filter(|p| p != "SHA256SUMS")
        .collect();
    assert_eq!(listed, expected);

    let manifest = out.join("secrets/SHA256SUMS");
    let mode = std::fs::metadata(&manifest)
        .expect("manifest")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let manifest_text = std::fs::read_to_string(&manifest).expect("manifest");
    let listed: BTreeSet<String> = manifest_text
        .lines()
        .map(|l| l.split_once("  ").expect("two fields").1.to_owned())
        .collect();
    let expected: BTreeSet<String> = secret_files
        .into_keys()
        .filter(|p| p != "SHA256SUMS")
        .collect();
    assert_eq!(listed, expected);
    if let Some(sha) = common::tool("sha256sum") {
        for dir in [out.clone(), out.join("secrets")] {
            let o = Command::new(&sha)
                .args(["-c", "--quiet", "SHA256SUMS"])
                .current_dir(&dir)
                .output()
                .expect("runs");
            assert!(
                o.status.success(),
                "sha256sum -c in {}: {}",
                dir.display(),
                text(&o)
            );
        }
    }

    // Drift everywhere, and a SHA256SUMS of the old format that lists the secrets' digests.
    let mut old = sums.clone();
    for l in manifest_text.lines() {
        let (h, p) = l.split_once("  ").expect("two fields");
        old.extend([h, "  secrets/", p, "\n"]);
    }
    std::fs::write(out.join("SHA256SUMS"), &old).expect("old format");
    std::fs::write(out.join("secrets/db_password"), "changed-password-value").expect("secret");
    let f = out.join("compose/compose.yaml");
    let edited = std::fs::read_to_string(&f)
        .expect("read")
        .replace("unless-stopped", "always");
    std::fs::write(&f, edited).expect("edit");
    let o = bin()
        .arg("render")
        .arg(example("misp"))
        .arg("--out")
        .arg(&out)
        .args(["--profile", "ha", "--check"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let printed = text(&o);
    assert!(printed.contains("--- a/compose/compose.yaml"), "{printed}");
    assert!(printed.contains("--- a/SHA256SUMS"), "{printed}");
    // The changed password is read back as the kept value; what is derived from it differs.
    assert!(
        printed.contains("differs: secrets/compose/web.env (holds a secret; content not shown)")
            && printed.contains("differs: secrets/SHA256SUMS (holds a secret; content not shown)"),
        "{printed}"
    );
    for l in old.lines() {
        let (h, p) = l.split_once("  ").expect("two fields");
        if p.starts_with("secrets/") {
            assert!(!printed.contains(h), "--check printed the digest of {p}");
        }
    }
    let now = misp_gen::output::sha256_hex(b"changed-password-value");
    assert!(!printed.contains(&now), "--check printed a secret's digest");
}

// Pins verify with the split manifests: a directory rendered before the split still verifies and
// the next render splits its manifest; a changed secret is reported from secrets/SHA256SUMS; a
// lost secrets/SHA256SUMS is reported; without secrets/ (a checkout), verify checks the rest,
// exits 0 and says that secrets/ was skipped.
#[test]
fn verify_checks_secrets_when_present_and_notes_when_absent() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    render(&example("starter"), &out, &[]);
    let verify = || bin().arg("verify").arg(&out).output().expect("runs");
    let o = verify();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stderr.is_empty(), "{}", text(&o));

    // A directory rendered before the split: SHA256SUMS lists the secrets, no secrets/SHA256SUMS.
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).expect("sums");
    let manifest = std::fs::read_to_string(out.join("secrets/SHA256SUMS")).expect("manifest");
    let mut old = sums.clone();
    for l in manifest.lines() {
        let (h, p) = l.split_once("  ").expect("two fields");
        old.extend([h, "  secrets/", p, "\n"]);
    }
    std::fs::write(out.join("SHA256SUMS"), old).expect("old format");
    std::fs::remove_file(out.join("secrets/SHA256SUMS")).expect("rm");
    let o = verify();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    render(&example("starter"), &out, &[]);
    assert_eq!(
        std::fs::read_to_string(out.join("SHA256SUMS")).expect("sums"),
        sums
    );
    assert_eq!(
        std::fs::read_to_string(out.join("secrets/SHA256SUMS")).expect("manifest"),
        manifest,
        "the next render splits them again"
    );

    let secret = tree(&out.join("secrets"))
        .into_keys()
        .find(|p| !p.contains('/') && p != "SHA256SUMS")
        .expect("a plain secret");
    std::fs::write(out.join("secrets").join(&secret), "tampered").expect("tamper");
    std::fs::write(out.join("secrets/extra"), "x").expect("add");
    let o = verify();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.contains(&format!("modified: secrets/{secret}")),
        "{report}"
    );
    assert!(report.contains("unexpected: secrets/extra"), "{report}");
    assert!(
        !report.contains("unexpected: secrets/SHA256SUMS"),
        "{report}"
    );

    std::fs::remove_file(out.join("secrets/SHA256SUMS")).expect("rm");
    let o = verify();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("missing: secrets/SHA256SUMS"),
        "{}",
        text(&o)
    );

    std::fs::remove_dir_all(out.join("secrets")).expect("rm secrets");
    let o = verify();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has no secrets/"),
        "{}",
        text(&o)
    );
    std::fs::write(out.join("images.txt"), "tampered\n").expect("tamper");
    let o = verify();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("modified: images.txt"));
}

// Pins `render --check` without secrets/: an external secret with no value anywhere and a TLS
// secret do not stop it (nothing is read, generated or written: exit 0, the tree unchanged, no
// secrets/ appears); drift is still found. With secrets/ present, --check compares them too.
#[test]
fn check_without_secrets_needs_no_secret_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("ext.yaml");
    std::fs::write(&spec, EXTERNAL_SPEC).expect("spec");
    let out = tmp.path().join("out");
    let o = bin()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .env("MISP_GEN_SECRET_SMTP_PASSWORD", "from-the-environment")
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", text(&o));
    let check = || {
        bin()
            .arg("render")
            .arg(&spec)
            .arg("--out")
            .arg(&out)
            .arg("--check")
            .env_remove("MISP_GEN_SECRET_SMTP_PASSWORD")
            .output()
            .expect("runs")
    };
    // With secrets/: everything, the external value read back from secrets/.
    let o = check();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(out.join("secrets/compose/web.env"), "SMTP=other\n").expect("tamper");
    let o = check();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("differs: secrets/compose/web.env (holds a secret; content not shown)"),
        "{}",
        text(&o)
    );

    std::fs::remove_dir_all(out.join("secrets")).expect("rm secrets");
    let before = tree(&out);
    let o = check();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert_eq!(before, tree(&out), "--check wrote something");
    assert!(!out.join("secrets").exists());

    std::fs::remove_file(out.join("images.txt")).expect("rm");
    let o = check();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("missing: images.txt"),
        "{}",
        text(&o)
    );
}
