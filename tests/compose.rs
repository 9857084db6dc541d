//! The render pipeline and the compose target: secrets kept, bytes stable, SHA256SUMS, --check,
//! verify, failure leaves the output intact, hostile text intact, and the real Compose loader.

mod common;

use std::path::Path;

use common::{EXAMPLES, PROFILES, Run as _, assert_no_leak, bin, example, render, tool, tree};

// Pins compose.yaml for each example × profile (it holds no secret value and nothing derived from
// one, so nothing is redacted), and that no secret leaks into any file outside secrets/.
#[test]
fn compose_snapshots_and_no_leaks() {
    for ex in EXAMPLES {
        for profile in PROFILES {
            let tmp = tempfile::tempdir().expect("tmp");
            render(
                &example(ex),
                tmp.path(),
                &["--profile", profile, "--target", "compose"],
            );
            assert_no_leak(tmp.path());
            let text = std::fs::read_to_string(tmp.path().join("compose/compose.yaml"))
                .expect("compose.yaml");
            // Nothing in it depends on a secret (the secrets' content label is read from a file
            // under secrets/), so the content label is pinned as it is.
            insta::assert_snapshot!(format!("{ex}-{profile}-compose.yaml"), text);
            if let Ok(cfg) =
                std::fs::read_to_string(tmp.path().join("compose/files/edge-proxy.cfg"))
            {
                insta::assert_snapshot!(format!("{ex}-{profile}-edge-proxy.cfg"), cfg);
            }
        }
    }
}

// Pins that the real Compose loader and yamllint accept every example × profile without a word.
// Compose runs in an empty environment (PATH and a fresh HOME only, as .ci/conformance.sh runs it):
// no variable of the caller's may satisfy a `${VAR}` of the file. `.ci/run` does not run these two
// checks again on its compose renders.
#[test]
fn compose_loader_accepts_examples() {
    let Some(compose) = tool("docker-compose") else {
        return;
    };
    let yamllint = tool("yamllint");
    let home = tempfile::tempdir().expect("tmp");
    for ex in EXAMPLES {
        for profile in PROFILES {
            let tmp = tempfile::tempdir().expect("tmp");
            render(
                &example(ex),
                tmp.path(),
                &["--profile", profile, "--target", "compose"],
            );
            let dir = tmp.path().join("compose");
            let f = dir.join("compose.yaml");
            let o = std::process::Command::new(&compose)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", home.path())
                .current_dir(&dir)
                .arg("--project-directory")
                .arg(&dir)
                .arg("-f")
                .arg(&f)
                .args(["config", "-q"])
                .output()
                .expect("runs");
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                o.status.success() && said.is_empty(),
                "{ex}/{profile}: compose config said:\n{said}"
            );
            if let Some(y) = &yamllint {
                // Every YAML file of the compose directory, not only compose.yaml.
                let files = tree(&dir)
                    .into_keys()
                    .filter(|rel| {
                        Path::new(rel)
                            .extension()
                            .is_some_and(|e| e == "yaml" || e == "yml")
                    })
                    .map(|rel| dir.join(rel));
                let o = std::process::Command::new(y)
                    .args(["-s", "-d", "{extends: default, rules: {document-start: disable, line-length: {max: 200}, truthy: {check-keys: false}, indentation: {spaces: consistent, indent-sequences: whatever}}}"])
                    .args(files)
                    .output()
                    .expect("runs");
                assert!(
                    o.status.success() && o.stdout.is_empty(),
                    "{ex}/{profile}: yamllint said:\n{}",
                    String::from_utf8_lossy(&o.stdout)
                );
            }
        }
    }
}

// Pins that re-rendering never changes a byte: ten renders in a row, secrets and certificates included.
#[test]
fn ten_renders_are_byte_identical() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(&example("misp"), tmp.path(), &["--target", "compose"]);
    let first = tree(tmp.path());
    assert!(first.contains_key("secrets/tls/tls.crt") && first.contains_key("SHA256SUMS"));
    for _ in 0..9 {
        render(&example("misp"), tmp.path(), &["--target", "compose"]);
    }
    assert_eq!(first, tree(tmp.path()), "a re-render changed bytes");
}

// Pins the same output for the same spec and secrets in two different directories (no paths,
// clocks or random order leak into the files).
#[test]
fn output_is_independent_of_directory() {
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    render(
        &example("misp"),
        a.path(),
        &["--profile", "ha", "--target", "compose"],
    );
    // Same secrets in b: copy them, then render.
    let secrets = tree(&a.path().join("secrets"));
    for (rel, bytes) in &secrets {
        let p = b.path().join("secrets").join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    }
    render(
        &example("misp"),
        b.path(),
        &["--profile", "ha", "--target", "compose"],
    );
    assert_eq!(tree(a.path()), tree(b.path()));
}

#[expect(clippy::expect_used, reason = "a test helper")]
fn write_spec(dir: &Path, hosts: &str) -> std::path::PathBuf {
    let spec = dir.join("spec.yaml");
    std::fs::write(
        &spec,
        format!(
            "apiVersion: misp-gen/v1\nname: t\nsecrets:\n  pw: {{ generate: password }}\n  tls: {{ generate: tls, hosts: [{hosts}] }}\nservices:\n  web:\n    image: nginx:1.27.3\n    env: {{ P: \"${{secrets.pw}}\" }}\n    mounts: [{{ secret: tls, path: /certs }}]\n"
        ),
    )
    .expect("write spec");
    spec
}

// Pins that changing the TLS hosts re-issues the leaf under the same, kept CA, and that the new
// leaf verifies against it; the password is untouched.
#[test]
fn tls_hosts_change_reissues_leaf_under_same_ca() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let spec = write_spec(tmp.path(), "a.example.org");
    render(&spec, &out, &["--target", "compose"]);
    let before = tree(&out.join("secrets"));
    let spec = write_spec(tmp.path(), "a.example.org, b.example.org");
    render(&spec, &out, &["--target", "compose"]);
    let after = tree(&out.join("secrets"));
    assert_eq!(before["tls/ca.crt"], after["tls/ca.crt"], "CA kept");
    assert_eq!(before["tls/ca.key"], after["tls/ca.key"], "CA key kept");
    assert_eq!(before["pw"], after["pw"], "password kept");
    assert_ne!(
        before["tls/tls.crt"], after["tls/tls.crt"],
        "leaf re-issued"
    );
    assert_eq!(after["tls/hosts"], b"a.example.org\nb.example.org\n");
    if let Some(openssl) = tool("openssl") {
        let dir = out.join("secrets/tls");
        let o = std::process::Command::new(&openssl)
            .args(["verify", "-CAfile"])
            .arg(dir.join("ca.crt"))
            .arg(dir.join("tls.crt"))
            .output()
            .expect("runs");
        assert!(
            o.status.success(),
            "openssl verify: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let o = std::process::Command::new(&openssl)
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(dir.join("tls.crt"))
            .output()
            .expect("runs");
        let san = String::from_utf8_lossy(&o.stdout);
        assert!(
            san.contains("DNS:a.example.org") && san.contains("DNS:b.example.org"),
            "{san}"
        );
    }
}

// Pins the file modes of secrets: directories 0700, files 0600, except the copies Compose
// bind-mounts into containers (secrets/compose/mounted/, the edge proxy's PEM): 0444, so a
// container user other than the host file's owner can read them.
#[test]
fn secret_modes() {
    use std::os::unix::fs::PermissionsExt as _;
    for profile in PROFILES {
        let tmp = tempfile::tempdir().expect("tmp");
        render(
            &example("misp"),
            tmp.path(),
            &["--target", "compose", "--profile", profile],
        );
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&tmp.path().join("secrets")), 0o700);
        assert_eq!(mode(&tmp.path().join("secrets/tls")), 0o700);
        assert_eq!(mode(&tmp.path().join("secrets/compose")), 0o700);
        let mut mounted = 0;
        for rel in tree(&tmp.path().join("secrets")).keys() {
            let want = if rel.starts_with("compose/mounted/") || rel == "compose/edge-proxy.pem" {
                mounted += 1;
                0o444
            } else {
                0o600
            };
            assert_eq!(
                mode(&tmp.path().join("secrets").join(rel)),
                want,
                "{profile}: {rel}"
            );
        }
        assert!(mounted > 0, "{profile}: no mounted secret copies");
    }
}

// Pins --check: 0 on a fresh render, 1 with a diff on an edited file, and it writes nothing.
#[test]
fn check_detects_drift_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(&example("portus"), tmp.path(), &["--target", "compose"]);
    let ok = bin()
        .arg("render")
        .arg(example("portus"))
        .arg("--out")
        .arg(tmp.path())
        .args(["--check", "--target", "compose"])
        .output()
        .expect("runs");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let f = tmp.path().join("compose/compose.yaml");
    let edited = std::fs::read_to_string(&f)
        .expect("read")
        .replace("unless-stopped", "always");
    std::fs::write(&f, &edited).expect("edit");
    let before = tree(tmp.path());
    let drift = bin()
        .arg("render")
        .arg(example("portus"))
        .arg("--out")
        .arg(tmp.path())
        .args(["--check", "--target", "compose"])
        .ran();
    drift.code(1);
    let diff = String::from_utf8_lossy(&drift.stdout);
    assert!(
        diff.contains("--- a/compose/compose.yaml")
            && diff.contains("+    restart: \"unless-stopped\""),
        "{diff}"
    );
    assert_eq!(before, tree(tmp.path()), "--check wrote something");
}

// Pins verify: 0 when intact; 1 naming a modified, a missing and an unexpected file.
#[test]
fn verify_names_every_difference() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(&example("starter"), tmp.path(), &["--target", "compose"]);
    bin().arg("verify").arg(tmp.path()).ran().code(0);
    std::fs::write(tmp.path().join("images.txt"), "tampered\n").expect("modify");
    std::fs::remove_file(tmp.path().join("compose/compose.yaml")).expect("remove");
    std::fs::write(tmp.path().join("compose/extra.yaml"), "x: 1\n").expect("add");
    let bad = bin().arg("verify").arg(tmp.path()).ran();
    bad.code(1);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("modified: images.txt"), "{out}");
    assert!(out.contains("missing: compose/compose.yaml"), "{out}");
    assert!(out.contains("unexpected: compose/extra.yaml"), "{out}");
    if let Some(sha) = tool("sha256sum") {
        render(&example("starter"), tmp.path(), &["--target", "compose"]);
        std::fs::remove_file(tmp.path().join("compose/extra.yaml")).expect("remove");
        let o = std::process::Command::new(sha)
            .args(["-c", "--quiet", "SHA256SUMS"])
            .current_dir(tmp.path())
            .output()
            .expect("runs");
        assert!(
            o.status.success(),
            "sha256sum -c: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

// Pins that a failed render changes nothing: a missing external secret (exit 1, both ways named),
// and a write that cannot happen (exit 2) after a previous good render.
#[test]
fn failed_render_leaves_output_intact() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let spec = tmp.path().join("spec.yaml");
    let base = "apiVersion: misp-gen/v1\nname: t\nsecrets:\n  pw: { generate: password }\nservices:\n  web:\n    image: nginx:1.27.3\n    env: { P: \"${secrets.pw}\", MODE: one }\n";
    std::fs::write(&spec, base).expect("spec");
    render(&spec, &out, &["--target", "compose"]);
    let before = tree(&out);

    // 1. An external secret with no value: exit 1, message names both ways, nothing written.
    std::fs::write(
        &spec,
        format!(
            "{base}  other:\n    image: nginx:1.27.3\n    env: {{ X: \"${{secrets.ext}}\" }}\n"
        )
        .replace("secrets:\n", "secrets:\n  ext: { external: true }\n"),
    )
    .expect("spec");
    let o = bin()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--target", "compose"])
        .env_remove("MISP_GEN_SECRET_EXT")
        .ran();
    o.code(1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("MISP_GEN_SECRET_EXT") && err.contains("secrets/ext"),
        "{err}"
    );
    assert!(err.contains(":4:3:"), "points at the secret's line: {err}");
    assert_eq!(before, tree(&out));

    // 2. A path that cannot be written: a later file in the set is blocked by a directory.
    std::fs::write(&spec, base.replace("MODE: one", "MODE: two")).expect("spec");
    std::fs::remove_file(out.join("images.txt")).expect("remove");
    std::fs::create_dir(out.join("images.txt")).expect("block");
    let mut before = tree(&out);
    before.remove("images.txt");
    let o = bin()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--target", "compose"])
        .output()
        .expect("runs");
    // Refused before anything is written: an I/O-class refusal, exit 2.
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut after = tree(&out);
    after.remove("images.txt");
    assert_eq!(
        before, after,
        "compose.yaml or SHA256SUMS changed although the render failed"
    );
}

// Pins that files an earlier render wrote and this one does not are removed, derived files under
// secrets/ (the edge proxy's certificate bundle) included, and the kept values never are.
#[test]
fn stale_files_are_removed_secrets_kept() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(
        &example("misp"),
        tmp.path(),
        &["--profile", "ha", "--target", "compose"],
    );
    assert!(tmp.path().join("compose/files/edge-proxy.cfg").exists());
    render(
        &example("misp"),
        tmp.path(),
        &["--profile", "single-node", "--target", "compose"],
    );
    assert!(
        !tmp.path().join("compose/files/edge-proxy.cfg").exists(),
        "stale LB config kept"
    );
    assert!(
        !tmp.path().join("secrets/compose/edge-proxy.pem").exists(),
        "a derived secret file of a removed service is kept"
    );
    assert!(
        tmp.path().join("secrets/tls/ca.key").exists(),
        "a kept value was removed"
    );
    let ok = bin().arg("verify").arg(tmp.path()).output().expect("runs");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
}

const HOSTILE: &str = "100% off $HOME $${HOME} $$${x} \"quoted\" back\\slash 'single' ünïcödé\ttab";

// Pins that hostile text in env, command and file content reaches the container unchanged, as the
// real Compose loader reads it back (`config --format json`), and secret-bearing env in the raw env file.
#[test]
fn hostile_text_survives_compose() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let spec = tmp.path().join("spec.yaml");
    // In the spec `$${` is a literal `${`; everything else is literal text.
    let yaml_str = serde_json::to_string(HOSTILE).expect("json");
    let multiline = serde_json::to_string(&format!("{HOSTILE}\nline two")).expect("json");
    std::fs::write(
        &spec,
        format!(
            "apiVersion: misp-gen/v1\nname: t\nsecrets:\n  pw: {{ generate: password }}\nfiles:\n  conf: {{ content: {multiline} }}\nservices:\n  web:\n    image: nginx:1.27.3\n    command: [{yaml_str}, \"\"]\n    env:\n      PLAIN: {multiline}\n      SECRET: \"pw=${{secrets.pw}} {}\"\n    mounts: [{{ file: conf, path: /etc/conf }}]\n",
            HOSTILE.replace('\\', "\\\\").replace('"', "\\\"")
        ),
    )
    .expect("spec");
    render(&spec, &out, &["--target", "compose"]);
    let expected = HOSTILE.replace("$${", "${");
    let file = std::fs::read_to_string(out.join("compose/files/conf")).expect("file");
    assert_eq!(file, format!("{expected}\nline two"));
    let env_file = std::fs::read_to_string(out.join("secrets/compose/web.env")).expect("env file");
    let pw = std::fs::read_to_string(out.join("secrets/pw")).expect("pw");
    assert_eq!(env_file, format!("SECRET=pw={pw} {expected}\n"));
    let Some(compose) = tool("docker-compose") else {
        return;
    };
    let o = std::process::Command::new(compose)
        .arg("-f")
        .arg(out.join("compose/compose.yaml"))
        .args(["config", "--format", "json"])
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let web = &v["services"]["web"];
    // The JSON output is itself compose input: `$` comes back doubled. Undo that to compare.
    let un = |s: &serde_json::Value| s.as_str().expect("string").replace("$$", "$");
    assert_eq!(un(&web["command"][0]), expected);
    assert_eq!(un(&web["command"][1]), "");
    assert_eq!(
        un(&web["environment"]["PLAIN"]),
        format!("{expected}\nline two")
    );
    assert_eq!(
        un(&web["environment"]["SECRET"]),
        format!("pw={pw} {expected}")
    );
}

// Pins that a secret-bearing env value with a line break is refused for compose (the raw env file
// cannot carry it) with a located error, and nothing is written.
#[test]
fn secret_env_with_newline_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(&spec, "apiVersion: misp-gen/v1\nname: t\nsecrets:\n  pw: { generate: password }\nservices:\n  web:\n    image: nginx:1.27.3\n    env:\n      S: \"a\\n${secrets.pw}\"\n").expect("spec");
    let out = tmp.path().join("out");
    let o = bin()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--target", "compose"])
        .ran();
    o.code(1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("spec.yaml:9:10") && err.contains("E500-unit-value"),
        "{err}"
    );
    assert!(!out.exists(), "something was written");
}

/// The `org.misp-gen.mounted-content` label of each service in a compose.yaml, and the
/// `org.misp-gen.mounted-secrets` label of each service from its label file under secrets/.
#[expect(clippy::expect_used, reason = "a test helper")]
fn content_labels(
    out: &Path,
) -> (
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, String>,
) {
    let text = std::fs::read_to_string(out.join("compose/compose.yaml")).expect("compose.yaml");
    let mut labels = std::collections::BTreeMap::new();
    let mut secret_labels = std::collections::BTreeMap::new();
    let mut service = String::new();
    let mut in_label_file = false;
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix("  \"")
            .and_then(|l| l.strip_suffix("\":"))
        {
            name.clone_into(&mut service);
        }
        if let Some(v) = line
            .trim()
            .strip_prefix("\"org.misp-gen.mounted-content\": \"")
            .and_then(|l| l.strip_suffix('"'))
        {
            labels.insert(service.clone(), v.to_owned());
        }
        if line.trim() == "label_file:" {
            in_label_file = true;
            continue;
        }
        if in_label_file {
            in_label_file = false;
            let rel = line
                .trim()
                .strip_prefix("- \"../")
                .and_then(|l| l.strip_suffix('"'))
                .expect("one label file");
            assert_eq!(rel, format!("secrets/compose/{service}.labels"));
            let file = std::fs::read_to_string(out.join(rel)).expect("label file");
            let v = file
                .strip_prefix("org.misp-gen.mounted-secrets=")
                .and_then(|l| l.strip_suffix('\n'))
                .expect("one label");
            assert_eq!(v.len(), 16, "{file}");
            secret_labels.insert(service.clone(), v.to_owned());
        }
    }
    (labels, secret_labels)
}

// Pins the labels that make Compose recreate a container whose bind-mounted files changed (a
// re-render writes a new inode; the running container would keep the old file): the same
// inputs give the same labels; a changed `files:` entry changes the label in compose.yaml of the
// services that mount it and of no other; a replaced secret changes the label that Compose reads
// from secrets/compose/<service>.labels for the services that mount it, and compose.yaml not at
// all (it holds nothing derived from a secret).
#[test]
fn mounted_content_label_follows_mounted_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    let write = |greeting: &str| {
        std::fs::write(
            &spec,
            format!(
                r#"apiVersion: misp-gen/v1
name: lbl
secrets:
  token: {{ generate: hex, length: 16 }}
files:
  conf: {{ content: "greeting={greeting}\n" }}
  private: {{ content: "token=${{secrets.token}}\n" }}
services:
  a:
    image: docker.io/library/busybox:1.36.1
    mounts: [{{ file: conf, path: /etc/a.conf }}]
  b:
    image: docker.io/library/busybox:1.36.1
    mounts: [{{ secret: token, path: /run/s }}]
  c:
    image: docker.io/library/busybox:1.36.1
  d:
    image: docker.io/library/busybox:1.36.1
    mounts: [{{ file: private, path: /etc/d.conf }}, {{ file: conf, path: /etc/a.conf }}]
"#
            ),
        )
        .expect("spec");
    };
    let out = tmp.path().join("out");
    write("hello");
    render(&spec, &out, &["--target", "compose"]);
    let (first, first_s) = content_labels(&out);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        ["a", "d"],
        "a label in compose.yaml on each service that mounts a file without secrets: {first:?}"
    );
    assert_eq!(
        first_s.keys().collect::<Vec<_>>(),
        ["b", "d"],
        "a label file on each service that mounts a secret-bearing file: {first_s:?}"
    );
    assert_eq!(first["a"], first["d"], "the same files, the same digest");
    render(&spec, &out, &["--target", "compose"]);
    assert_eq!(
        content_labels(&out),
        (first.clone(), first_s.clone()),
        "same inputs, same labels"
    );
    write("bonjour");
    render(&spec, &out, &["--target", "compose"]);
    let (second, second_s) = content_labels(&out);
    assert_ne!(second["a"], first["a"], "the file changed");
    assert_ne!(second["d"], first["d"], "the file changed");
    assert_eq!(second_s, first_s, "no secret-bearing file changed");
    let compose_before = std::fs::read(out.join("compose/compose.yaml")).expect("compose.yaml");
    std::fs::remove_file(out.join("secrets/token")).expect("rm secret");
    render(&spec, &out, &["--target", "compose"]);
    let (third, third_s) = content_labels(&out);
    assert_eq!(third, second, "compose.yaml's labels do not follow secrets");
    assert_ne!(third_s["b"], second_s["b"], "the secret was generated anew");
    assert_ne!(
        third_s["d"], second_s["d"],
        "the secret-bearing file changed"
    );
    assert_eq!(
        std::fs::read(out.join("compose/compose.yaml")).expect("compose.yaml"),
        compose_before,
        "compose.yaml changed with a secret"
    );
    assert_eq!(
        std::fs::read(out.join("secrets/compose/mounted/token")).expect("mounted copy"),
        std::fs::read(out.join("secrets/token")).expect("secret"),
        "the mounted copy follows the secret"
    );
}

// The database's chosen host name: `${database.host}` resolves to it, and the compose service
// `database` (whose name the HA design fixes) answers to it as a network alias.
#[test]
fn database_hostname_is_an_alias() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "apiVersion: misp-gen/v1\nname: t\nsecrets:\n  pw: { generate: password }\ndatabase:\n  engine: mariadb\n  version: \"10.11\"\n  name: misp\n  user: misp\n  password: pw\n  hostname: db\nservices:\n  web:\n    image: nginx:1.27.3\n    env: { MYSQL_HOST: \"${database.host}\", MODULES: \"${services.web.host}\" }\n",
    )
    .expect("write spec");
    let out = tmp.path().join("out");
    render(&spec, &out, &["--target", "compose"]);
    let path = out.join("compose/compose.yaml");
    let bytes = std::fs::read(&path).expect("compose.yaml");
    let v = misp_gen::spec::load::load("compose.yaml", &bytes)
        .unwrap_or_else(|d| panic!("{}", d.message))
        .value;
    assert_eq!(
        v.pointer("/services/database/networks/default/aliases"),
        Some(&serde_json::json!(["db"])),
        "{v}"
    );
    assert_eq!(
        v.pointer("/services/web/environment/MYSQL_HOST"),
        Some(&serde_json::json!("db"))
    );
    assert_eq!(
        v.pointer("/services/web/environment/MODULES"),
        Some(&serde_json::json!("web"))
    );
    assert!(v.pointer("/services/web/networks").is_none(), "{v}");
}
