//! `misp-gen import`: compose fixtures shaped like public stacks go through import → validate →
//! render, and `docker compose config` of the original and of the render agree on every service
//! except what the conversion report lists; the report is located, strict and secret-free;
//! hostile and broken inputs end in a clear located error, quickly, with nothing written.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test: a failure is a panic that says what went wrong"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{Ran, Run as _, bin, repo, tool};
use serde_json::Value;

/// The fixtures: directory and compose files in order.
const FIXTURES: &[(&str, &[&str])] = &[
    ("misp", &["docker-compose.yml"]),
    ("registry", &["docker-compose.yml"]),
    (
        "app",
        &["docker-compose.yml", "docker-compose.override.yml"],
    ),
];

fn fixture_files(dir: &str, files: &[&str]) -> Vec<String> {
    files
        .iter()
        .map(|f| format!("tests/fixtures/import/{dir}/{f}"))
        .collect()
}

/// The secret values the fixtures' `.env` files hold (each ends in `42` or a digit run).
fn fixture_secrets() -> Vec<String> {
    let mut v = Vec::new();
    for (dir, _) in FIXTURES {
        let env = std::fs::read_to_string(repo().join(format!("tests/fixtures/import/{dir}/.env")))
            .expect(".env");
        for l in env.lines() {
            if let Some((k, val)) = l.split_once('=')
                && (k.contains("PASSWORD") || k.contains("SECRET") || k.contains("KEY"))
                && val.len() >= 6
            {
                v.push(val.to_owned());
            }
        }
    }
    v
}

/// Run `misp-gen import` from the repository root with a clean environment (plus `env`).
fn import(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut c = bin();
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(repo())
        .arg("import")
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.ran()
}

fn report_json(o: &Ran) -> Vec<Value> {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", o.said()))
}

/// `docker compose config` as JSON, with a clean environment.
fn compose_config(compose: &Path, project_dir: &Path, files: &[PathBuf], home: &Path) -> Value {
    let mut c = std::process::Command::new(compose);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .current_dir(project_dir)
        .arg("--project-directory")
        .arg(project_dir);
    for f in files {
        c.arg("-f").arg(f);
    }
    let o = c.args(["config", "--format", "json"]).ran();
    o.success();
    serde_json::from_slice(&o.stdout).expect("compose config prints JSON")
}

/// The comparison tool: what `docker compose config` shows of one service, in a form both sides
/// share, and the differences between the original and the render that the report does not list.
mod compare {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    /// The parts of a service both sides must agree on.
    #[derive(Debug, Default)]
    pub struct Seen {
        pub image: String,
        pub env: BTreeMap<String, String>,
        pub ports: BTreeSet<(u64, String, String)>,
        pub mounts: BTreeSet<String>,
        /// The mount targets that are read-only.
        pub read_only: BTreeSet<String>,
        /// `cap_add` and `cap_drop`, without `CAP_`.
        pub cap_add: BTreeSet<String>,
        pub cap_drop: BTreeSet<String>,
        pub health: Option<Vec<String>>,
        pub depends: BTreeMap<String, String>,
    }

    fn image(s: &str) -> String {
        let s = s.strip_prefix("docker.io/").unwrap_or(s);
        s.strip_prefix("library/").unwrap_or(s).to_owned()
    }

    /// `${NAME}` → `$NAME` (import writes shell text that way; the shell reads both the same).
    fn unbrace(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            if let Some(e) = after.find('}') {
                out.push('$');
                out.push_str(&after[..e]);
                rest = &after[e + 1..];
            } else {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
        out.push_str(rest);
        out
    }

    pub fn seen(svc: &Value, names: &dyn Fn(&str) -> String) -> Seen {
        let mut s = Seen {
            image: image(svc["image"].as_str().unwrap_or_default()),
            ..Seen::default()
        };
        if let Some(env) = svc["environment"].as_object() {
            for (k, v) in env {
                s.env
                    .insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
            }
        }
        for p in svc["ports"].as_array().into_iter().flatten() {
            if let Some(published) = p["published"].as_str().filter(|x| !x.is_empty()) {
                s.ports.insert((
                    p["target"].as_u64().unwrap_or(0),
                    published.to_owned(),
                    p["protocol"].as_str().unwrap_or("tcp").to_owned(),
                ));
            }
        }
        for v in svc["volumes"].as_array().into_iter().flatten() {
            let target = v["target"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned();
            if v["read_only"] == true {
                s.read_only.insert(target.clone());
            }
            s.mounts.insert(target);
        }
        for t in svc["tmpfs"].as_array().into_iter().flatten() {
            let t = t.as_str().unwrap_or_default();
            s.mounts.insert(t.split(':').next().unwrap_or(t).to_owned());
        }
        for (key, set) in [("cap_add", &mut s.cap_add), ("cap_drop", &mut s.cap_drop)] {
            for c in svc[key].as_array().into_iter().flatten() {
                let c = c.as_str().unwrap_or_default().to_ascii_uppercase();
                set.insert(c.trim_start_matches("CAP_").to_owned());
            }
        }
        if let Some(test) = svc["healthcheck"]["test"].as_array() {
            let words: Vec<String> = test
                .iter()
                .map(|w| w.as_str().unwrap_or_default().to_owned())
                .collect();
            s.health = match words.first().map(String::as_str) {
                Some("CMD-SHELL") => Some(vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    unbrace(&words[1..].join(" ")),
                ]),
                Some("CMD") => Some(words[1..].iter().map(|w| unbrace(w)).collect()),
                _ => None,
            };
        }
        if let Some(d) = svc["depends_on"].as_object() {
            for (k, v) in d {
                s.depends.insert(
                    names(k),
                    v["condition"].as_str().unwrap_or_default().to_owned(),
                );
            }
        }
        s
    }

    /// Whether the report lists something about `field` of compose service `svc` that
    /// mentions `needle` (empty: anything under that field).
    pub fn listed(report: &[Value], svc: &str, fields: &[&str], needle: &str) -> bool {
        report.iter().any(|d| {
            let p = d["pointer"].as_str().unwrap_or_default();
            fields
                .iter()
                .any(|f| p.starts_with(&format!("/services/{svc}/{f}")))
                && (needle.is_empty() || d["message"].as_str().unwrap_or_default().contains(needle))
        })
    }

    /// Every difference between the original service and its render that the report does not list.
    pub fn unlisted(
        svc: &str,
        orig: &Seen,
        rendered: &Seen,
        report: &[Value],
        database: bool,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if orig.image != rendered.image {
            out.push(format!("image {} vs {}", orig.image, rendered.image));
        }
        let mounts_missing = orig.mounts.difference(&rendered.mounts);
        for m in mounts_missing {
            let data_dir = database && m.starts_with("/var/lib/");
            if !(listed(report, svc, &["volumes", "tmpfs"], m) || data_dir) {
                out.push(format!("mount {m} missing"));
            }
        }
        for m in orig.read_only.symmetric_difference(&rendered.read_only) {
            if orig.mounts.contains(m)
                && rendered.mounts.contains(m)
                && !listed(report, svc, &["volumes"], m)
            {
                out.push(format!("mount {m}: read_only differs"));
            }
        }
        // Capabilities: what compose adds is added, and what it drops is not added back (the
        // render drops all and adds the effective set).
        for c in orig.cap_add.difference(&rendered.cap_add) {
            if !listed(report, svc, &["cap_add"], c) {
                out.push(format!("capability {c} not added"));
            }
        }
        for c in orig.cap_drop.intersection(&rendered.cap_add) {
            if !orig.cap_add.contains(c) && !listed(report, svc, &["cap_drop"], c) {
                out.push(format!(
                    "capability {c} dropped in compose, added in the render"
                ));
            }
        }
        if database {
            // The database's env, health check and dependencies are misp-gen's; the report says so.
            return out;
        }
        for (k, v) in &orig.env {
            if rendered.env.get(k) != Some(v)
                && !listed(report, svc, &["environment", "env_file"], k)
            {
                out.push(format!("env {k} differs or is missing"));
            }
        }
        for k in rendered.env.keys() {
            if !orig.env.contains_key(k) {
                out.push(format!("env {k} added"));
            }
        }
        if orig.ports != rendered.ports && !listed(report, svc, &["ports"], "") {
            out.push(format!("ports {:?} vs {:?}", orig.ports, rendered.ports));
        }
        if orig.health != rendered.health && !listed(report, svc, &["healthcheck"], "") {
            out.push(format!("health {:?} vs {:?}", orig.health, rendered.health));
        }
        if orig.depends != rendered.depends && !listed(report, svc, &["depends_on"], "") {
            out.push(format!(
                "depends_on {:?} vs {:?}",
                orig.depends, rendered.depends
            ));
        }
        out
    }
}

// Pins the whole way for every fixture: import writes a spec that validates and renders for every
// target, the kept secrets are the compose project's values (0600), and `docker compose config`
// of the original and of the render agree on each service's image, env, ports, mount targets,
// health test and depends_on except where the report lists a difference.
#[test]
fn fixtures_round_trip_through_compose() {
    let compose = tool("docker-compose");
    let home = tempfile::tempdir().expect("tmp");
    for (dir, files) in FIXTURES {
        let tmp = tempfile::tempdir().expect("tmp");
        let out = tmp.path().join("out");
        let spec = out.join("spec.yaml");
        std::fs::create_dir_all(&out).expect("mkdir");
        let mut args: Vec<String> = fixture_files(dir, files);
        args.extend(["--out".into(), spec.display().to_string()]);
        args.extend(["--keep-secrets".into(), out.display().to_string()]);
        args.extend(["--format".into(), "json".into()]);
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = import(&arg_refs, &[]);
        o.success();
        let report = report_json(&o);
        assert!(!report.is_empty(), "{dir}: an empty report");
        for s in std::fs::read_dir(out.join("secrets")).expect("secrets/") {
            let m = s.expect("entry").metadata().expect("meta");
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777,
                0o600,
                "{dir}"
            );
        }
        bin().arg("validate").arg(&spec).ran().success();
        bin()
            .arg("render")
            .arg(&spec)
            .arg("--out")
            .arg(&out)
            .ran()
            .success();
        let text = std::fs::read_to_string(&spec).expect("spec");
        for secret in fixture_secrets() {
            assert!(!text.contains(&secret), "{dir}: a secret value in the spec");
            assert!(
                !String::from_utf8_lossy(&o.stdout).contains(&secret),
                "{dir}: a secret value in the report"
            );
        }
        let Some(compose) = &compose else { continue };
        let fixture = repo().join("tests/fixtures/import").join(dir);
        let orig = compose_config(
            compose,
            &fixture,
            &files.iter().map(|f| fixture.join(f)).collect::<Vec<_>>(),
            home.path(),
        );
        let cdir = out.join("compose");
        let rendered = compose_config(compose, &cdir, &[cdir.join("compose.yaml")], home.path());
        let database: Option<String> = report.iter().find_map(|d| {
            let m = d["message"].as_str()?;
            let rest = m.strip_prefix("service `")?;
            m.contains("becomes the spec's `database:`")
                .then(|| rest.split('`').next().unwrap_or_default().to_owned())
        });
        let names = |n: &str| -> String {
            if Some(n) == database.as_deref() {
                "database".into()
            } else {
                n.to_ascii_lowercase().replace('_', "-")
            }
        };
        let mut problems = Vec::new();
        for (name, svc) in orig["services"].as_object().expect("services") {
            let Some(r) = rendered["services"].get(names(name)) else {
                problems.push(format!("{name}: not rendered"));
                continue;
            };
            let a = compare::seen(svc, &names);
            let b = compare::seen(r, &|n| n.to_owned());
            for p in compare::unlisted(
                name,
                &a,
                &b,
                &report,
                Some(name.as_str()) == database.as_deref(),
            ) {
                problems.push(format!("{name}: {p}"));
            }
        }
        assert!(
            problems.is_empty(),
            "{dir}: differences the report does not list:\n{}",
            problems.join("\n")
        );
    }
}

// Pins that the report of the MISP fixture is what the closing note shows: each line located,
// no secret value in it (the excerpts of secret-bearing lines are masked).
#[test]
fn misp_report_snapshot() {
    let tmp = tempfile::tempdir().expect("tmp");
    let scratch = tmp.path().join("spec.yaml");
    let o = import(
        &[
            "tests/fixtures/import/misp/docker-compose.yml",
            "--out",
            scratch.to_str().expect("utf-8"),
        ],
        &[],
    );
    o.success();
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    for secret in fixture_secrets() {
        assert!(!text.contains(&secret), "a secret value in the report");
    }
    insta::assert_snapshot!("misp-report", text);
}

// Pins that every report line of every fixture is located in one of its compose files, inside
// the file, in every machine format; and that GitHub and SARIF carry the same number of lines.
#[test]
fn every_report_line_is_located() {
    let tmp = tempfile::tempdir().expect("tmp");
    let scratch = tmp.path().join("spec.yaml");
    for (dir, files) in FIXTURES {
        let paths = fixture_files(dir, files);
        let lines: BTreeMap<String, usize> = paths
            .iter()
            .map(|p| {
                (
                    p.clone(),
                    std::fs::read_to_string(repo().join(p))
                        .expect("read")
                        .lines()
                        .count(),
                )
            })
            .collect();
        let mut args: Vec<&str> = paths.iter().map(String::as_str).collect();
        args.extend([
            "--out",
            scratch.to_str().expect("utf-8"),
            "--format",
            "json",
        ]);
        let o = import(&args, &[]);
        o.success();
        let report = report_json(&o);
        for d in &report {
            let file = d["file"].as_str().expect("file");
            let line = usize::try_from(d["line"].as_u64().expect("line")).expect("fits");
            assert!(lines.contains_key(file), "{dir}: {d}");
            assert!(
                line >= 1 && line <= lines[file] && d["column"].as_u64() >= Some(1),
                "{dir}: {d}"
            );
            assert!(
                d["code"].as_str().is_some_and(|c| c.starts_with("I60")),
                "{dir}: {d}"
            );
            assert_eq!(d["severity"], "note");
        }
        args.pop();
        args.push("github");
        let gh = import(&args, &[]);
        let gh_text = String::from_utf8_lossy(&gh.stdout);
        assert_eq!(
            gh_text
                .lines()
                .filter(|l| l.starts_with("::notice file="))
                .count(),
            report.len(),
            "{dir}"
        );
        args.pop();
        args.push("sarif");
        let sarif: Value = serde_json::from_slice(&import(&args, &[]).stdout).expect("sarif");
        let results = sarif["runs"][0]["results"].as_array().expect("results");
        assert_eq!(results.len(), report.len(), "{dir}");
        assert!(results.iter().all(|r| r["level"] == "note"
            && r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64() >= Some(1)));
    }
}

// Pins --strict: a project with anything not carried exits 1 and writes neither the spec nor a
// kept secret; one that carries everything exits 0.
#[test]
fn strict_fails_on_what_was_not_carried() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    let o = import(
        &[
            "tests/fixtures/import/misp/docker-compose.yml",
            "--strict",
            "--out",
            spec.to_str().expect("utf-8"),
            "--keep-secrets",
            tmp.path().to_str().expect("utf-8"),
        ],
        &[],
    );
    o.code(1);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not carried (--strict)"),
        "{}",
        o.said()
    );
    assert!(!spec.exists() && !tmp.path().join("secrets").exists());
    let clean = tmp.path().join("c.yaml");
    std::fs::write(
        &clean,
        "services:\n  web:\n    image: nginx:1.27.3\n    ports: [\"8080:80\"]\n",
    )
    .expect("write");
    let o = import(
        &[
            clean.to_str().expect("utf-8"),
            "--strict",
            "--out",
            spec.to_str().expect("utf-8"),
        ],
        &[],
    );
    o.success();
    assert!(spec.exists());
}

// Pins Compose's interpolation precedence: the environment over `.env`; `--env-file` replaces
// `.env`; a later --env-file wins; `COMPOSE_PROFILES` and --compose-profile enable a service.
#[test]
fn interpolation_and_profiles_follow_compose() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("compose.yaml");
    std::fs::write(&file, "services:\n  web:\n    image: nginx:${TAG}\n    environment:\n      WHO: ${WHO:-default}\n      LIT: \"$$HOME and $${X}\"\n  dbg:\n    image: busybox:1.36.1\n    profiles: [debug]\n").expect("write");
    std::fs::write(tmp.path().join(".env"), "TAG=1.27.1\nWHO=dotenv\n").expect("write");
    let a = tmp.path().join("a.env");
    let b = tmp.path().join("b.env");
    std::fs::write(&a, "TAG=1.27.2\nWHO=a\n").expect("write");
    std::fs::write(&b, "WHO=b\n").expect("write");
    let p = file.to_str().expect("utf-8");
    let spec = |o: &Ran| String::from_utf8_lossy(&o.stdout).into_owned();
    let o = import(&[p], &[]);
    o.success();
    assert!(
        spec(&o).contains("nginx:1.27.1") && spec(&o).contains("WHO: dotenv"),
        "{}",
        o.said()
    );
    assert!(
        spec(&o).contains("LIT: \"$HOME and $${X}\""),
        "{}",
        o.said()
    );
    assert!(!spec(&o).contains("dbg:"));
    let o = import(&[p], &[("WHO", "shell")]);
    assert!(spec(&o).contains("WHO: shell"), "{}", o.said());
    let o = import(
        &[
            p,
            "--env-file",
            a.to_str().expect("utf-8"),
            "--env-file",
            b.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(
        spec(&o).contains("nginx:1.27.2") && spec(&o).contains("WHO: b"),
        "{}",
        o.said()
    );
    let o = import(&[p, "--compose-profile", "debug"], &[]);
    assert!(spec(&o).contains("dbg:"), "{}", o.said());
    let o = import(&[p], &[("COMPOSE_PROFILES", "debug")]);
    assert!(spec(&o).contains("dbg:"), "{}", o.said());
}

/// Import one file with `text`, expect exit 1 with `code` in the report, and nothing written.
#[track_caller]
fn refused(name: &str, text: &[u8], code: &str) -> String {
    let tmp = tempfile::tempdir().expect("tmp");
    let f = tmp.path().join(name);
    std::fs::write(&f, text).expect("write");
    let out = tmp.path().join("spec.yaml");
    let start = std::time::Instant::now();
    let o = import(
        &[
            f.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        &[("NEEDED", "")],
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{name}: took {:?}",
        start.elapsed()
    );
    o.code(1);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains(code), "{name}: no {code}\n{}", o.said());
    assert!(!err.contains("panicked"), "{}", o.said());
    assert!(!out.exists(), "{name}: a spec was written");
    assert!(
        err.contains(&format!("{}:", f.display())),
        "{name}: not located\n{err}"
    );
    err
}

// Pins that broken and hostile inputs end quickly in a located error, exit 1, nothing written,
// no panic, and no secret value in the message.
#[test]
fn bad_and_hostile_inputs_are_refused() {
    refused("bad.yaml", b"services: [\n", "E100-yaml-syntax");
    refused(
        "latin1.yaml",
        b"services:\n  web:\n    image: caf\xe9:1\n",
        "E102-not-utf8",
    );
    let mut big = b"services:\n".to_vec();
    big.resize(9 * 1024 * 1024, b'#');
    refused("big.yaml", &big, "E107-too-large");
    let deep = format!(
        "services:\n  web:\n    x: {}1{}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    refused("deep.yaml", deep.as_bytes(), "E106-too-deep");
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let _ = writeln!(
            laughs,
            "x-{i}: &a{i} [{}]",
            vec![
                if i == 1 {
                    "*a".to_owned()
                } else {
                    format!("*a{}", i - 1)
                };
                10
            ]
            .join(", ")
        );
    }
    refused(
        "laughs.yaml",
        format!("services: {{}}\n{laughs}").as_bytes(),
        "E105-alias-limit",
    );
    refused(
        "a-spec.yaml",
        b"apiVersion: misp-gen/v1\nname: x\nservices: {}\n",
        "E600-compose-file",
    );
    refused("list.yaml", b"- a\n- b\n", "E600-compose-file");
    let err = refused(
        "required.yaml",
        b"services:\n  web:\n    image: nginx:1.27.3\n    environment:\n      PW: ${NEEDED:?set the password}\n",
        "E601-interpolation",
    );
    assert!(
        err.contains("required variable NEEDED") && err.contains("set the password"),
        "{err}"
    );
    refused(
        "dollar.yaml",
        b"services:\n  web:\n    image: nginx:1.27.3\n    command: echo $1\n",
        "E601-interpolation",
    );
    refused(
        "cycle.yaml",
        b"services:\n  a:\n    image: nginx:1.27.3\n    depends_on: [b]\n  b:\n    image: nginx:1.27.3\n    depends_on: [a]\n",
        "E317-dependency-cycle",
    );
    refused(
        "build.yaml",
        b"services:\n  web:\n    build: .\n",
        "E602-cannot-import",
    );
    refused(
        "latest.yaml",
        b"services:\n  web:\n    image: nginx\n",
        "E602-cannot-import",
    );
    let err = refused(
        "secretfile.yaml",
        b"services:\n  web:\n    image: nginx:1.27.3\n    environment:\n      DB_PASSWORD: TopSecretValue99\n    secrets: [missing]\nsecrets:\n  missing:\n    file: ./nowhere\n",
        "E600-compose-file",
    );
    assert!(!err.contains("TopSecretValue99"), "{err}");
    // `--out` at a device is refused before anything is done (a rename would replace it).
    let o = import(
        &[
            "tests/fixtures/import/app/docker-compose.yml",
            "--out",
            "/dev/null",
        ],
        &[],
    );
    o.code(2);
    assert!(
        std::fs::metadata("/dev/null").is_ok_and(|m| !m.is_file()),
        "/dev/null was replaced"
    );
    // A file that is not there: located at the file, exit 1.
    let o = import(&["/nonexistent/compose.yaml"], &[]);
    o.code(1);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("/nonexistent/compose.yaml:1:1: error[E600-compose-file]"),
        "{}",
        o.said()
    );
}

// Pins that an override file merges as Compose merges: maps key by key, ports appended, and the
// report points into the file each value came from.
#[test]
fn override_files_merge_and_report_where_values_came_from() {
    let tmp = tempfile::tempdir().expect("tmp");
    let scratch = tmp.path().join("spec.yaml");
    let paths = fixture_files(
        "app",
        &["docker-compose.yml", "docker-compose.override.yml"],
    );
    let mut args: Vec<&str> = paths.iter().map(String::as_str).collect();
    args.extend([
        "--format",
        "json",
        "--out",
        scratch.to_str().expect("utf-8"),
    ]);
    let o = import(&args, &[]);
    o.success();
    let o2 = import(&paths.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let spec = String::from_utf8_lossy(&o2.stdout).into_owned();
    assert!(
        spec.contains("DEBUG: \"false\"")
            && spec.contains("publish: 8443")
            && spec.contains("publish: 8000"),
        "{spec}"
    );
    assert!(spec.contains("PRICE_TEMPLATE: \"$${AMOUNT}\""), "{spec}");
    let files: BTreeSet<String> = report_json(&o)
        .iter()
        .filter_map(|d| d["file"].as_str().map(str::to_owned))
        .collect();
    assert!(files.contains(&paths[0]), "{files:?}");
}
