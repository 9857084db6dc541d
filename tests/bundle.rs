//! `misp-gen bundle` against a real registry: Debian's `docker-registry` (distribution 2.8),
//! started here on 127.0.0.1 with a generated CA and TLS certificate and htpasswd (bcrypt) auth.
//! Small images are made and pushed by the test; `bundle`, `bundle verify` and `bundle push` run
//! as the binary. Skips with a message when docker-registry, htpasswd or openssl is missing; under
//! CI=true that fails instead. (Docker and Compose: tests/e2e/bundle.sh.)

#![allow(clippy::expect_used, reason = "a test fails where it cannot go on")]
#![allow(clippy::unwrap_used, reason = "a test fails where it cannot go on")]
#![allow(clippy::panic, reason = "a test fails where it cannot go on")]
#![allow(
    clippy::too_many_lines,
    reason = "each test is one deployment, step by step"
)]

mod common;

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use common::{bin, tool};
use misp_gen::bundle::archive::Archive;
use misp_gen::bundle::registry::{self, Registry};

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", misp_gen::output::sha256_hex(bytes))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A docker-registry on 127.0.0.1 with TLS (its own CA) and one htpasswd user; stopped on drop.
struct TestRegistry {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl TestRegistry {
    fn start(user: &str, password: &str) -> Option<TestRegistry> {
        let registry = tool("docker-registry")?;
        let openssl = tool("openssl")?;
        let htpasswd = tool("htpasswd")?;
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let run = |cmd: &mut Command| {
            let o = cmd.current_dir(d).output().expect("runs");
            assert!(o.status.success(), "{cmd:?}: {}", text(&o));
            o
        };
        run(Command::new(&openssl).args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=misp-gen test CA",
        ]));
        run(Command::new(&openssl).args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]));
        std::fs::write(
            d.join("ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write");
        run(Command::new(&openssl).args([
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "tls.crt",
        ]));
        let o = run(Command::new(&htpasswd).args(["-Bbn", user, password]));
        std::fs::write(d.join("htpasswd"), &o.stdout).expect("write");
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .expect("bind")
                .local_addr()
                .expect("addr")
                .port();
            let config = format!(
                "version: 0.1\nlog: {{ level: error }}\nstorage:\n  filesystem: {{ rootdirectory: {d}/data }}\nhttp:\n  addr: 127.0.0.1:{port}\n  tls: {{ certificate: {d}/tls.crt, key: {d}/tls.key }}\nauth:\n  htpasswd: {{ realm: misp-gen-test, path: {d}/htpasswd }}\n",
                d = d.display()
            );
            std::fs::write(d.join("config.yml"), config).expect("write");
            let log = std::fs::File::create(d.join("log")).expect("log");
            let mut child = Command::new(&registry)
                .arg("serve")
                .arg(d.join("config.yml"))
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("docker-registry starts");
            // Up when it accepts a connection: at most 10 s.
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(TestRegistry { dir, port, child });
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(d.join("log")).unwrap_or_default()
        );
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn client(&self, user: &str, password: &str) -> Registry {
        Registry::with_credentials(
            &self.host(),
            Some(&self.ca()),
            Some((user.into(), password.into())),
        )
        .expect("client")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-layer image for `arch` whose layer holds `payload`; pushed by digest. Returns the
/// manifest's digest and bytes.
fn push_manifest(reg: &Registry, repo: &str, arch: &str, payload: &[u8]) -> (String, Vec<u8>) {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(payload.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    layer
        .append_data(&mut h, "payload.bin", payload)
        .expect("tar");
    let layer = layer.into_inner().expect("tar");
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": { "Cmd": ["true"] },
        "rootfs": { "type": "layers", "diff_ids": [sha(&layer)] },
    }))
    .expect("json");
    for blob in [&layer, &config] {
        let b = blob.clone();
        reg.push_blob(
            repo,
            &sha(blob),
            &mut || {
                Ok((
                    Box::new(std::io::Cursor::new(b.clone())) as Box<dyn std::io::Read>,
                    b.len() as u64,
                ))
            },
            "test",
        )
        .expect("push blob");
    }
    let manifest = serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": registry::OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(&layer), "size": layer.len() }],
    }))
    .expect("json");
    let d = sha(&manifest);
    reg.push_manifest(repo, &d, registry::OCI_MANIFEST, &manifest, "test")
        .expect("push manifest");
    (d, manifest)
}

/// `repo:tag` as a single-platform image (linux/amd64 and the host's arch alike: the host's).
fn push_single(reg: &Registry, repo: &str, tag: &str, payload: &[u8]) -> String {
    let arch = misp_gen::bundle::host_platform();
    let arch = arch.trim_start_matches("linux/");
    let (d, m) = push_manifest(reg, repo, arch, payload);
    reg.push_manifest(repo, tag, registry::OCI_MANIFEST, &m, "test")
        .expect("tag");
    d
}

/// `repo:tag` as an index of linux/amd64 and linux/arm64: (index digest, child digest by arch).
fn push_multi(reg: &Registry, repo: &str, tag: &str) -> (String, Vec<(String, String)>) {
    let mut children = Vec::new();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let (d, m) = push_manifest(reg, repo, arch, format!("{arch} payload").as_bytes());
        entries.push(serde_json::json!({
            "mediaType": registry::OCI_MANIFEST, "digest": d, "size": m.len(),
            "platform": { "os": "linux", "architecture": arch },
        }));
        children.push((format!("linux/{arch}"), d));
    }
    let index = serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2, "mediaType": registry::OCI_INDEX, "manifests": entries,
    }))
    .expect("json");
    reg.push_manifest(repo, tag, registry::OCI_INDEX, &index, "test")
        .expect("index");
    (sha(&index), children)
}

fn payload(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = common::Rng(seed);
    (0..n).map(|_| rng.next().to_le_bytes()[3]).collect()
}

fn spec(dir: &Path, images: &[(&str, &str)]) -> PathBuf {
    let mut s = String::from(
        "apiVersion: misp-gen/v1\nname: bundle-test\nsecrets:\n  token: { generate: password, length: 20 }\nservices:\n",
    );
    for (name, image) in images {
        let _ = write!(
            s,
            "  {name}:\n    image: {image}\n    command: [\"sleep\", \"3600\"]\n    env: {{ TOKEN: \"${{secrets.token}}\" }}\n"
        );
    }
    let p = dir.join("spec.yaml");
    std::fs::write(&p, s).expect("write spec");
    p
}

/// `misp-gen bundle …` with the registry credentials in its environment.
fn misp(args: &[&str], creds: Option<(&str, &str)>) -> Output {
    let mut c = bin();
    c.args(args)
        .env_remove("MISP_GEN_REGISTRY_USER")
        .env_remove("MISP_GEN_REGISTRY_PASSWORD")
        .env_remove("MISP_GEN_REGISTRY_CA");
    if let Some((u, p)) = creds {
        c.env("MISP_GEN_REGISTRY_USER", u)
            .env("MISP_GEN_REGISTRY_PASSWORD", p);
    }
    c.output().expect("runs")
}

/// `misp-gen bundle push FILE --registry REGISTRY --ca-file CA [EXTRA...] --out OUT` as the site
/// registry's user (`site-user`).
fn push(file: &Path, registry: &str, ca: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "bundle",
        "push",
        file.to_str().expect("utf-8"),
        "--registry",
        registry,
        "--ca-file",
        ca.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().expect("utf-8")]);
    misp(&args, Some(("site-user", "site-pass")))
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn bundle_json(file: &Path) -> serde_json::Value {
    let ar = Archive::open(file).expect("archive");
    serde_json::from_slice(&ar.read("bundle.json").expect("bundle.json")).expect("json")
}

fn digest_of(file: &Path, image: &str) -> String {
    bundle_json(file)["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["image"] == image)
        .unwrap_or_else(|| panic!("{image} not in bundle.json"))["digest"]
        .as_str()
        .expect("digest")
        .to_owned()
}

/// Flip one byte in the middle of the archive's entry `name`.
fn tamper(file: &Path, name: &str) {
    use std::io::{Seek as _, SeekFrom, Write as _};
    let ar = Archive::open(file).expect("archive");
    let e = ar.entries[name];
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .expect("open");
    let at = e.offset + e.size / 2;
    f.seek(SeekFrom::Start(at)).expect("seek");
    let mut b = [0u8; 1];
    f.read_exact(&mut b).expect("read");
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&[b[0] ^ 0xff]).expect("write");
}

// Pins the connected side and the registry side against a real registry: `bundle` pulls every
// image the spec names (a single-platform one, and a two-platform index of which the host's
// platform alone is taken by default, and both with --platform twice, keeping the index's digest),
// writes the same bytes twice, carries the render without secrets/ and verifies clean; `bundle
// push` puts every image into a second registry under the mirror path, where each tag serves the
// bundled digest, and renders every target pinned by digest through it.
#[test]
fn bundle_pulls_verifies_and_pushes_pinned_by_digest() {
    let Some(up) = TestRegistry::start("up-user", "up-pass") else {
        return;
    };
    let Some(site) = TestRegistry::start("site-user", "site-pass") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let client = up.client("up-user", "up-pass");
    let app = push_single(&client, "test/app", "1", &payload(300_000, 7));
    let (index, children) = push_multi(&client, "test/multi", "2");
    let app_ref = format!("{}/test/app:1", up.host());
    let multi_ref = format!("{}/test/multi:2", up.host());
    let spec = spec(tmp.path(), &[("app", &app_ref), ("multi", &multi_ref)]);
    let out = tmp.path().join("site.bundle");
    let ca = up.ca();
    let args = |out: &Path, extra: &[&str]| {
        let mut v = vec![
            "bundle".to_owned(),
            spec.display().to_string(),
            "--ca-file".into(),
            ca.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let run = |out: &Path, extra: &[&str]| {
        let a = args(out, extra);
        misp(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            Some(("up-user", "up-pass")),
        )
    };
    let o = run(&out, &[]);
    assert!(o.status.success(), "bundle: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("pulled {app_ref}")), "{err}");
    assert_eq!(
        names_in(tmp.path()),
        ["site.bundle", "spec.yaml"],
        "nothing staged is left"
    );
    // Identical inputs, identical bytes.
    let again = tmp.path().join("again.bundle");
    let o = run(&again, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&out).expect("read"),
        std::fs::read(&again).expect("read")
    );
    // The digests are the registry's: the single image's manifest, the host's child of the index.
    assert_eq!(digest_of(&out, &app_ref), app);
    let host = misp_gen::bundle::host_platform();
    let child = &children
        .iter()
        .find(|(p, _)| *p == host)
        .expect("host platform")
        .1;
    assert_eq!(digest_of(&out, &multi_ref), *child);
    let j = bundle_json(&out);
    assert_eq!(j["spec"]["name"], "bundle-test");
    assert_eq!(j["misp_gen"], env!("CARGO_PKG_VERSION"));
    let ar = Archive::open(&out).expect("archive");
    assert!(ar.entries.contains_key("output/compose/compose.yaml"));
    assert!(ar.entries.contains_key("output/SHA256SUMS"));
    assert!(ar.entries.contains_key("images/index.json"));
    assert!(ar.entries.contains_key("images/oci-layout"));
    assert!(
        !ar.entries.keys().any(|k| k.starts_with("output/secrets")),
        "no secret goes into a bundle"
    );
    // Both platforms: the index itself, digest kept.
    let both = tmp.path().join("both.bundle");
    let o = run(
        &both,
        &["--platform", "linux/amd64", "--platform", "linux/arm64"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(digest_of(&both, &multi_ref), index);
    let o = misp(&["bundle", "verify", both.to_str().expect("utf-8")], None);
    assert!(o.status.success(), "{}", text(&o));

    // The site: push, then the render pinned by digest through it.
    let rendered = tmp.path().join("out");
    let mirror = format!("{}/site", site.host());
    let o = push(&out, &mirror, &site.ca(), &rendered, &[]);
    assert!(o.status.success(), "bundle push: {}", text(&o));
    let sc = site.client("site-user", "site-pass");
    for (repo, tag, want) in [
        ("site/test/app", "1", &app),
        ("site/test/multi", "2", child),
    ] {
        let (_, bytes) = sc.manifest(repo, tag, "check").expect("pushed");
        assert_eq!(sha(&bytes), **want, "{repo}:{tag} on the site registry");
    }
    let compose = std::fs::read_to_string(rendered.join("compose/compose.yaml")).expect("compose");
    assert!(
        compose.contains(&format!("\"{mirror}/test/app:1@{app}\"")),
        "{compose}"
    );
    assert!(
        compose.contains(&format!("\"{mirror}/test/multi:2@{child}\"")),
        "{compose}"
    );
    for dir in ["kubernetes", "systemd"] {
        for (rel, bytes) in common::tree(&rendered.join(dir)) {
            let t = String::from_utf8_lossy(&bytes);
            assert!(
                !t.contains(&up.host()),
                "{dir}/{rel} names the upstream registry"
            );
        }
    }
    let o = bin().arg("verify").arg(&rendered).output().expect("runs");
    assert!(o.status.success(), "{}", text(&o));
    // Pushed again into the same directory (a newer bundle, say): the site's secrets are kept.
    let secrets = common::tree(&rendered.join("secrets"));
    assert!(secrets.contains_key("token"), "{:?}", secrets.keys());
    let o = push(&out, &mirror, &site.ca(), &rendered, &["--pull", "always"]);
    assert!(o.status.success(), "bundle push again: {}", text(&o));
    assert_eq!(common::tree(&rendered.join("secrets")), secrets);
    let compose = std::fs::read_to_string(rendered.join("compose/compose.yaml")).expect("compose");
    assert!(compose.contains("pull_policy: \"always\""), "{compose}");
}

// Pins each bad input as a clear error naming the image, registry or file, with its exit code,
// and no archive left that looks good: a missing image (404), a wrong password and none (401),
// no CA for the registry's certificate (TLS), an --out in a missing directory and on a full disk
// (exit 2); a truncated archive and a tampered blob or rendered file (verify and push exit 1,
// naming it; push sends nothing and renders nothing); a failed run leaves a good archive of the
// same name as it was.
#[test]
fn bundle_bad_inputs_are_named_and_leave_nothing() {
    let Some(up) = TestRegistry::start("up-user", "up-pass") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let client = up.client("up-user", "up-pass");
    push_single(&client, "test/app", "1", &payload(2_500_000, 11));
    let app_ref = format!("{}/test/app:1", up.host());
    let good_spec = spec(tmp.path(), &[("app", &app_ref)]);
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let out = work.join("b.bundle");
    let ca = up.ca();
    let bundle = |spec: &Path, out: &Path, creds: Option<(&str, &str)>, ca: Option<&Path>| {
        let mut a = vec![
            "bundle".to_owned(),
            spec.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        if let Some(ca) = ca {
            a.push("--ca-file".into());
            a.push(ca.display().to_string());
        }
        misp(&a.iter().map(String::as_str).collect::<Vec<_>>(), creds)
    };
    let ok = bundle(&good_spec, &out, Some(("up-user", "up-pass")), Some(&ca));
    assert!(ok.status.success(), "{}", text(&ok));
    let good = std::fs::read(&out).expect("read");

    // A missing image: 404, named; the good archive of the same name untouched.
    let missing_ref = format!("{}/test/absent:1", up.host());
    let dir2 = tempfile::tempdir().expect("tmp");
    let missing_spec = spec(dir2.path(), &[("app", &app_ref), ("gone", &missing_ref)]);
    let o = bundle(&missing_spec, &out, Some(("up-user", "up-pass")), Some(&ca));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains(&missing_ref) && e.contains("404"), "{e}");
    assert_eq!(
        std::fs::read(&out).expect("read"),
        good,
        "a failed run replaced the archive"
    );
    assert_eq!(names_in(&work), ["b.bundle"], "nothing staged is left");

    // Credentials: wrong, then none.
    let o = bundle(
        &good_spec,
        &work.join("x.bundle"),
        Some(("up-user", "wrong")),
        Some(&ca),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(&up.host()) && e.contains("401") && e.contains("MISP_GEN_REGISTRY_PASSWORD"),
        "{e}"
    );
    let o = bundle(&good_spec, &work.join("x.bundle"), None, Some(&ca));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("MISP_GEN_REGISTRY_USER"), "{e}");
    // TLS: a private CA not given.
    let o = bundle(
        &good_spec,
        &work.join("x.bundle"),
        Some(("up-user", "up-pass")),
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("TLS") && e.contains("--ca-file"), "{e}");
    assert_eq!(
        names_in(&work),
        ["b.bundle"],
        "nothing left by the failed runs"
    );
    // --out in a directory that does not exist: exit 2.
    let o = bundle(
        &good_spec,
        &tmp.path().join("no/such/dir/x.bundle"),
        Some(("up-user", "up-pass")),
        Some(&ca),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!tmp.path().join("no").exists());

    // A full disk: a 1 MiB tmpfs (the image is 2.5 MB). Root only; skipped with a message else.
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small)
        .output()
        .is_ok_and(|o| o.status.success());
    if mounted {
        let o = bundle(
            &good_spec,
            &small.join("x.bundle"),
            Some(("up-user", "up-pass")),
            Some(&ca),
        );
        let leftover = names_in(&small);
        let _ = Command::new("umount").arg(&small).status();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("No space left") || e.contains("space"), "{e}");
        assert!(leftover.is_empty(), "left on the full disk: {leftover:?}");
    } else {
        common::skip(
            "tmpfs",
            "cannot mount a tmpfs for the full-disk part (not root?)",
        );
    }

    // A truncated archive: every command that reads it says so, exit 1.
    let cut = work.join("cut.bundle");
    // An engine known not to exist (a fixed path such as /nonexistent may exist on a machine).
    let missing_engine = tmp.path().join("no-such-engine");
    std::fs::write(&cut, &good[..good.len() / 2]).expect("write");
    for args in [
        vec!["bundle", "verify", cut.to_str().expect("utf-8")],
        vec![
            "bundle",
            "push",
            cut.to_str().expect("utf-8"),
            "--registry",
            "127.0.0.1:9/x",
        ],
        vec![
            "bundle",
            "load",
            cut.to_str().expect("utf-8"),
            "--engine",
            missing_engine.to_str().expect("utf-8"),
        ],
    ] {
        let o = misp(&args, None);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("cut.bundle") && e.contains("truncated"),
            "{args:?}: {e}"
        );
    }

    // A tampered blob, and a tampered rendered file: each named, exit 1.
    let ar = Archive::open(&out).expect("archive");
    let layer = ar
        .entries
        .iter()
        .filter(|(k, _)| k.starts_with("images/blobs/"))
        .max_by_key(|(_, e)| e.size)
        .map(|(k, _)| k.clone())
        .expect("a layer");
    let bad = work.join("bad.bundle");
    std::fs::write(&bad, &good).expect("write");
    tamper(&bad, &layer);
    tamper(&bad, "output/compose/compose.yaml");
    let o = misp(&["bundle", "verify", bad.to_str().expect("utf-8")], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains(&format!("modified: {layer} (of {app_ref})")),
        "{said}"
    );
    assert!(
        said.contains(&format!("digest: {layer} holds sha256:")),
        "{said}"
    );
    assert!(
        said.contains("modified: output/compose/compose.yaml"),
        "{said}"
    );
    // push refuses before sending anything.
    let Some(site) = TestRegistry::start("site-user", "site-pass") else {
        return;
    };
    let rendered = work.join("out");
    let o = push(&bad, &site.host(), &site.ca(), &rendered, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&layer),
        "{}",
        text(&o)
    );
    assert!(!rendered.exists(), "push rendered from a tampered bundle");
    let sc = site.client("site-user", "site-pass");
    let r = sc.manifest("test/app", "1", "check");
    assert!(r.is_err(), "push sent an image from a tampered bundle");
    // The digest check alone: a blob changed and SHA256SUMS rewritten to agree still fails.
    let forged = work.join("forged.bundle");
    std::fs::write(&forged, &good).expect("write");
    tamper(&forged, &layer);
    let ar = Archive::open(&forged).expect("archive");
    let new_hex = ar.sha256(&layer).expect("sum");
    let old_hex = layer.rsplit('/').next().expect("hex").to_owned();
    let sums = String::from_utf8(ar.read("SHA256SUMS").expect("sums")).expect("utf-8");
    let forged_sums = sums.replace(
        &format!("{old_hex}  {layer}"),
        &format!("{new_hex}  {layer}"),
    );
    assert_ne!(sums, forged_sums);
    {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&forged)
            .expect("open");
        f.seek(SeekFrom::Start(ar.entries["SHA256SUMS"].offset))
            .expect("seek");
        f.write_all(forged_sums.as_bytes()).expect("write");
    }
    let o = misp(&["bundle", "verify", forged.to_str().expect("utf-8")], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains(&format!(
            "digest: {layer} holds sha256:{new_hex} (of {app_ref})"
        )),
        "{said}"
    );
    assert!(!said.contains("modified:"), "{said}");
}
