//! The output directory as a transaction: torn TLS sets repaired under the kept CA, a broken CA
//! refused, no escape through links, no hang on a FIFO, staged leftovers and derived secret files
//! cleaned, modes re-asserted, a read-only directory with nothing to change, and concurrent
//! renders serialised by the lock.

#![expect(clippy::expect_used, reason = "tests fail by panicking")]

mod common;

use std::fmt::Write as _;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

use common::{bin, tree};

const SPEC: &str = r"apiVersion: misp-gen/v1
name: tx
secrets:
  pw: { generate: password }
  tls: { generate: tls, hosts: [HOSTS] }
services:
  web:
    image: docker.io/library/nginx:1.27.3
    env: { PW: '${secrets.pw}' }
    mounts: [{ secret: tls, path: /etc/tls }]
";

fn spec(dir: &Path, hosts: &str) -> std::path::PathBuf {
    let p = dir.join("spec.yaml");
    std::fs::write(&p, SPEC.replace("HOSTS", hosts)).expect("spec");
    p
}

fn render(spec: &Path, out: &Path, args: &[&str]) -> Output {
    bin()
        .arg("render")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .expect("runs")
}

fn verify(out: &Path) -> Output {
    bin().arg("verify").arg(out).output().expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", text(o));
}

fn consistent(tls: &Path, host: &str) -> bool {
    common::tls_consistent(tls, host).is_ok()
}

// Finding 2: a render killed between renaming `hosts` and `tls.crt`/`tls.key` after the hosts
// changed leaves a leaf that does not cover them; a leaf or key from another set is as bad. The
// next render re-issues the leaf under the kept CA and says so; the CA and passwords stay.
#[test]
fn torn_tls_set_is_reissued_under_the_kept_ca() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    ok(&render(
        &spec(tmp.path(), "a.example"),
        &out,
        &["--target", "compose"],
    ));
    let tls = out.join("secrets/tls");
    let ca = std::fs::read(tls.join("ca.key")).expect("ca");
    let pw = std::fs::read(out.join("secrets/pw")).expect("pw");
    // The torn state: the new hosts file renamed into place, the old leaf still there.
    std::fs::write(tls.join("hosts"), "b.example\n").expect("hosts");
    let o = render(
        &spec(tmp.path(), "b.example"),
        &out,
        &["--target", "compose"],
    );
    ok(&o);
    assert!(
        text(&o).contains(
            "tls.crt does not name b.example; issued a new certificate under the kept CA"
        ),
        "{}",
        text(&o)
    );
    assert!(consistent(&tls, "b.example"));
    assert_eq!(std::fs::read(tls.join("ca.key")).expect("ca"), ca);
    assert_eq!(std::fs::read(out.join("secrets/pw")).expect("pw"), pw);
    ok(&verify(&out));

    // A key of another set beside the certificate (two renders interleaved).
    let other = tempfile::tempdir().expect("tmp");
    ok(&render(
        &spec(other.path(), "b.example"),
        other.path(),
        &["--target", "compose"],
    ));
    std::fs::copy(
        other.path().join("secrets/tls/tls.key"),
        tls.join("tls.key"),
    )
    .expect("copy");
    let o = render(
        &spec(tmp.path(), "b.example"),
        &out,
        &["--target", "compose"],
    );
    ok(&o);
    assert!(
        text(&o).contains("tls.key is not the key of tls.crt"),
        "{}",
        text(&o)
    );
    assert!(consistent(&tls, "b.example"));
    assert_eq!(std::fs::read(tls.join("ca.key")).expect("ca"), ca);

    // A CA key that is not the CA certificate's is never replaced by itself: exit 1, named.
    std::fs::copy(other.path().join("secrets/tls/ca.key"), tls.join("ca.key")).expect("copy");
    let before = tree(&out);
    let o = render(
        &spec(tmp.path(), "b.example"),
        &out,
        &["--target", "compose"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("secrets/tls: ca.key is not the key of ca.crt"),
        "{}",
        text(&o)
    );
    assert_eq!(before, tree(&out), "a refused render changed the directory");
}

// Finding 4: a link inside DIR is never followed: a render whose stale files sit behind a
// linked `kubernetes/` is refused with exit 2 before anything changes, and nothing outside DIR
// is touched; a linked `secrets/` is refused the same way.
#[test]
fn links_inside_the_output_directory_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let s = spec(tmp.path(), "a.example");
    ok(&render(&s, &out, &["--target", "kubernetes"]));
    let outside = tmp.path().join("outside");
    std::fs::rename(out.join("kubernetes"), &outside).expect("move");
    std::os::unix::fs::symlink(&outside, out.join("kubernetes")).expect("link");
    let outside_before = tree(&outside);
    let before = tree(&out);
    let o = render(&s, &out, &["--target", "compose"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is a symbolic link"), "{}", text(&o));
    assert_eq!(outside_before, tree(&outside), "files outside DIR changed");
    assert_eq!(before, tree(&out));

    let out2 = tmp.path().join("out2");
    std::fs::create_dir(&out2).expect("mkdir");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, out2.join("secrets")).expect("link");
    let o = render(&s, &out2, &["--target", "compose"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("out2/secrets is a symbolic link"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_dir(&elsewhere).expect("dir").count(), 0);
}

// Finding 6 (FIFO): a FIFO where an output is expected hangs neither `verify` nor `render`.
#[test]
fn a_fifo_hangs_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let s = spec(tmp.path(), "a.example");
    ok(&render(&s, &out, &["--target", "compose"]));
    std::fs::remove_file(out.join("images.txt")).expect("rm");
    let mkfifo = std::process::Command::new("mkfifo")
        .arg(out.join("images.txt"))
        .status()
        .expect("mkfifo");
    assert!(mkfifo.success());
    let o = verify(&out);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("modified: images.txt"), "{}", text(&o));
    let o = render(&s, &out, &["--target", "compose"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a regular file"), "{}", text(&o));
}

// Finding 5: what killed renders left staged is removed by the next render (under the lock), and
// the env file of a removed service goes with it; `verify` is clean afterwards.
#[test]
fn leftovers_are_cleaned() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let two = format!(
        "{}  api:\n    image: docker.io/library/nginx:1.27.3\n    env: {{ PW: '${{secrets.pw}}' }}\n",
        SPEC.replace("HOSTS", "a.example")
    );
    let s = tmp.path().join("two.yaml");
    std::fs::write(&s, &two).expect("spec");
    ok(&render(&s, &out, &[]));
    assert!(out.join("secrets/compose/api.env").exists());
    std::fs::write(out.join("secrets/tls/.misp-gen-abc123"), "old key").expect("staged");
    std::fs::write(out.join("compose/.misp-gen-def456"), "half").expect("staged");
    ok(&render(&spec(tmp.path(), "a.example"), &out, &[]));
    let left: Vec<String> = tree(&out)
        .into_keys()
        .filter(|k| k.contains(".misp-gen-") || k.contains("api"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    ok(&verify(&out));
}

// Finding 8: a widened secrets/ is reported by verify and made 0700 again by the next render.
#[test]
fn secret_modes_are_reasserted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let s = spec(tmp.path(), "a.example");
    ok(&render(&s, &out, &["--target", "compose"]));
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    std::fs::set_permissions(out.join("secrets"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::set_permissions(
        out.join("secrets/tls"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::fs::set_permissions(
        out.join("secrets/pw"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let o = verify(&out);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("mode: secrets/ is 0755, wider than 0700"),
        "{said}"
    );
    assert!(
        said.contains("mode: secrets/pw is 0644, readable by others"),
        "{said}"
    );
    ok(&render(&s, &out, &["--target", "compose"]));
    assert_eq!(mode(&out.join("secrets")), 0o700);
    assert_eq!(mode(&out.join("secrets/tls")), 0o700);
    assert_eq!(mode(&out.join("secrets/pw")), 0o600);
    ok(&verify(&out));
}

// Finding 11: a re-render with nothing to change rewrites nothing, not even SHA256SUMS, so a
// read-only directory renders fine. (Root writes through modes, so the test checks the
// mechanism, that no file is replaced, rather than making the directory read-only.)
#[test]
fn read_only_directory_with_nothing_to_change() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let s = spec(tmp.path(), "a.example");
    ok(&render(&s, &out, &["--target", "compose"]));
    let before = tree(&out);
    let sums = out.join("SHA256SUMS");
    let mtime = std::fs::metadata(&sums)
        .expect("meta")
        .modified()
        .expect("mtime");
    ok(&render(&s, &out, &["--target", "compose"]));
    assert_eq!(
        std::fs::metadata(&sums)
            .expect("meta")
            .modified()
            .expect("mtime"),
        mtime,
        "SHA256SUMS was rewritten although nothing changed"
    );
    assert_eq!(before, tree(&out));
}

// Finding 3: renders of two different specs into one DIR at the same time never mix: each pair
// ends as one spec's complete render, secrets consistent, `verify` clean.
#[test]
fn overlapping_renders_never_mix() {
    let pairs: usize = std::env::var("MISP_GEN_OVERLAP_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir().expect("tmp");
    let a = spec(tmp.path(), "a.example");
    let b = tmp.path().join("b.yaml");
    std::fs::write(
        &b,
        SPEC.replace("HOSTS", "b.example")
            .replace("nginx:1.27.3", "nginx:1.27.4"),
    )
    .expect("spec");
    let mut waited = 0;
    for i in 0..pairs {
        let out = tmp.path().join(format!("out-{i}"));
        let spawn = |s: &Path| {
            bin()
                .arg("render")
                .arg(s)
                .arg("--out")
                .arg(&out)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawns")
        };
        let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let x = spawn(first);
        let y = spawn(second);
        let x = x.wait_with_output().expect("waits");
        let y = y.wait_with_output().expect("waits");
        ok(&x);
        ok(&y);
        waited += usize::from(text(&x).contains("waiting for") || text(&y).contains("waiting for"));
        ok(&verify(&out));
        // The directory is exactly one spec's render: rendering either again changes nothing or
        // everything that spec decides, never a mix.
        let compose = std::fs::read_to_string(out.join("compose/compose.yaml")).expect("compose");
        let host = std::fs::read_to_string(out.join("secrets/tls/hosts")).expect("hosts");
        let is_b = compose.contains("nginx:1.27.4");
        assert_eq!(
            host.trim(),
            if is_b { "b.example" } else { "a.example" },
            "pair {i}: mixed"
        );
        assert!(
            consistent(&out.join("secrets/tls"), host.trim()),
            "pair {i}: torn TLS set"
        );
        let check = render(if is_b { &b } else { &a }, &out, &["--check"]);
        assert!(check.status.success(), "pair {i}: {}", text(&check));
    }
    eprintln!(
        "overlap: {pairs} pairs of concurrent renders, {waited} waited for the lock, none mixed"
    );
}

// Finding 3, deterministically: while another process holds DIR's lock, a render waits, and
// with `MISP_GEN_LOCK_WAIT=0` fails at once naming that process, changing nothing.
#[test]
fn a_held_lock_is_waited_for_and_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let s = spec(tmp.path(), "a.example");
    ok(&render(&s, &out, &["--target", "compose"]));
    let before = tree(&out);
    let held = std::fs::File::open(&out).expect("open DIR");
    held.lock().expect("lock DIR");
    let o = bin()
        .arg("render")
        .arg(&s)
        .arg("--out")
        .arg(&out)
        .env("MISP_GEN_LOCK_WAIT", "0")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "is being rendered by process {}",
            std::process::id()
        )),
        "{}",
        text(&o)
    );
    assert_eq!(before, tree(&out));
    // Waiting: the render goes on once the lock is released.
    let child = bin()
        .arg("render")
        .arg(&s)
        .arg("--out")
        .arg(&out)
        .env("MISP_GEN_LOCK_WAIT", "30")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    std::thread::sleep(std::time::Duration::from_millis(500));
    held.unlock().expect("unlock");
    let o = child.wait_with_output().expect("waits");
    ok(&o);
    assert!(text(&o).contains("waiting for process"), "{}", text(&o));
}

// The mode check covers the kept values only: derived files keep the modes their readers need
// (the edge proxy's 0444 certificate bundle, read by a non-root HAProxy) and verify stays clean.
#[test]
fn derived_files_keep_their_modes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    ok(&render(
        &common::example("misp"),
        &out,
        &["--profile", "ha", "--target", "compose"],
    ));
    let pem = out.join("secrets/compose/edge-proxy.pem");
    assert_eq!(
        std::fs::metadata(&pem).expect("pem").permissions().mode() & 0o777,
        0o444
    );
    ok(&verify(&out));
}

// Pins that a render of more files than the process may hold open succeeds (each staged file is
// closed once written: with 1024 descriptors, the common default, a render of ~130 services
// failed with "Too many open files").
#[test]
fn more_files_than_open_descriptors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut body = String::from("apiVersion: misp-gen/v1\nname: many\nservices:\n");
    for i in 0..40 {
        let _ = write!(
            body,
            "  s{i}:\n    image: docker.io/library/nginx:1.27.3\n    ports: [{{ name: http, port: 80 }}]\n"
        );
    }
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(&spec, body).expect("spec");
    let out = tmp.path().join("out");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" render \"$1\" --out \"$2\"")
        .arg(env!("CARGO_BIN_EXE_misp-gen"))
        .arg(&spec)
        .arg(&out)
        .output()
        .expect("runs");
    ok(&o);
    let files = tree(&out).len();
    assert!(
        files > 64 * 3,
        "only {files} files: the limit was not exceeded"
    );
    ok(&verify(&out));
}

// Issue 28: a kept secret written by hand with `echo value > out/secrets/x` ends in a line break
// that is not part of the value. Render takes the value without it (one `\n` or `\r\n`), says so
// once, and writes the file back without it; the next render has nothing to say or change.
#[test]
fn a_hand_written_secret_loses_its_trailing_line_break() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let s = tmp.path().join("spec.yaml");
    std::fs::write(
        &s,
        r"apiVersion: misp-gen/v1
name: tx
secrets:
  pw: { generate: password }
  smtp: { external: true }
services:
  web:
    image: docker.io/library/nginx:1.27.3
    env: { PW: '${secrets.pw}', SMTP: '${secrets.smtp}' }
",
    )
    .expect("spec");
    let secrets = out.join("secrets");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(secrets.join("pw"), "handwritten1\n").expect("pw");
    std::fs::write(secrets.join("smtp"), "smtp-value-2\r\n").expect("smtp");
    let o = render(&s, &out, &["--target", "compose"]);
    ok(&o);
    let said = text(&o);
    for name in ["pw", "smtp"] {
        assert!(
            said.contains(&format!("secrets/{name} ended in a line break")),
            "{said}"
        );
    }
    assert!(
        !said.contains("handwritten1") && !said.contains("smtp-value-2"),
        "{said}"
    );
    let env = std::fs::read_to_string(out.join("secrets/compose/web.env")).expect("env file");
    assert_eq!(env, "PW=handwritten1\nSMTP=smtp-value-2\n");
    assert_eq!(
        std::fs::read(secrets.join("pw")).expect("pw"),
        b"handwritten1"
    );
    assert_eq!(
        std::fs::read(secrets.join("smtp")).expect("smtp"),
        b"smtp-value-2"
    );
    ok(&verify(&out));
    let again = render(&s, &out, &["--target", "compose"]);
    ok(&again);
    assert!(!text(&again).contains("line break"), "{}", text(&again));

    // A value of two lines is a value of two lines: still refused where it cannot go.
    std::fs::write(secrets.join("pw"), "two\nlines\n").expect("pw");
    let o = render(&s, &out, &["--target", "compose"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}
