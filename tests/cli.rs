//! The command line: `init`, `schema`, `validate` formats and exit codes.

mod common;

use std::fmt::Write as _;

use common::{Ran, Run as _, bin, example, repo};

fn run(args: &[&str], dir: &std::path::Path) -> Ran {
    bin().args(args).current_dir(dir).ran()
}

// Pins that `init` writes a commented starter with the schema line that validates under both
// profiles, refuses to overwrite without --force, and writes to stdout with `-`.
#[test]
fn init_writes_a_valid_starter() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = run(&["init"], tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(tmp.path().join("misp-gen.yaml")).expect("written");
    assert!(
        text.starts_with("# yaml-language-server: $schema=misp-gen.schema.json\n"),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            > 5,
        "commented"
    );
    for profile in ["single-node", "ha"] {
        let v = run(
            &["validate", "misp-gen.yaml", "--profile", profile],
            tmp.path(),
        );
        assert!(
            v.status.success(),
            "{profile}: {}",
            String::from_utf8_lossy(&v.stderr)
        );
    }
    let again = run(&["init"], tmp.path());
    again.code(2);
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("misp-gen.yaml")).expect("kept"),
        text
    );
    let forced = run(&["init", "--force", "--example", "misp"], tmp.path());
    forced.success();
    let misp = std::fs::read_to_string(tmp.path().join("misp-gen.yaml")).expect("written");
    assert!(misp.contains("jisccti/misp-web"));
    assert_eq!(
        misp.matches("yaml-language-server").count(),
        1,
        "one schema line"
    );
    for profile in ["single-node", "ha"] {
        let v = run(
            &["validate", "misp-gen.yaml", "--profile", profile],
            tmp.path(),
        );
        assert!(
            v.status.success(),
            "{profile}: {}",
            String::from_utf8_lossy(&v.stderr)
        );
    }
    let stdout = run(&["init", "-", "--example", "portus"], tmp.path());
    stdout.success();
    assert!(
        String::from_utf8_lossy(&stdout.stdout).contains("opensuse/portus"),
        "{}",
        stdout.said()
    );
}

// Pins `schema`: JSON Schema 2020-12, described fields, no remote reference anywhere.
#[test]
fn schema_is_local_2020_12() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = run(&["schema"], tmp.path());
    o.success();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let text = String::from_utf8_lossy(&o.stdout);
    for r in text.match_indices("\"$ref\"") {
        let rest = &text[r.0..];
        let value = rest.split('"').nth(3).unwrap_or("");
        assert!(value.starts_with("#/"), "remote $ref: {value}");
    }
    assert!(
        v["properties"]["services"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert!(
        v["$defs"]["Service"]["properties"]["image"]["description"]
            .as_str()
            .is_some()
    );
}

// Pins the exit codes: 0 valid, 1 invalid, 2 for usage and I/O errors; JSON output on stdout.
#[test]
fn exit_codes_and_formats() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ok = bin()
        .arg("validate")
        .arg(example("misp"))
        .args(["--format", "json"])
        .ran();
    ok.code(0);
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "[]");
    std::fs::write(
        tmp.path().join("bad.yaml"),
        "apiVersion: misp-gen/v2\nname: x\nservices: {}\n",
    )
    .expect("write");
    let bad = run(&["validate", "bad.yaml", "--format", "json"], tmp.path());
    bad.code(1);
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("JSON on stdout");
    assert_eq!(v[0]["line"], 1);
    assert_eq!(v[0]["column"], 13);
    assert_eq!(v[0]["code"], "E204-wrong-constant");
    let human = run(&["validate", "bad.yaml"], tmp.path());
    human.code(1);
    let err = String::from_utf8_lossy(&human.stderr);
    assert!(
        err.starts_with("bad.yaml:1:13: error[E204-wrong-constant]") && err.contains('^'),
        "{err}"
    );
    run(&["validate", "missing.yaml"], tmp.path()).code(2);
    run(&["validate", "bad.yaml", "--profile", "nope"], tmp.path()).code(2);
    run(&["render"], tmp.path()).code(2);
    run(&["verify", "nowhere"], tmp.path()).code(1);
}

/// `validate` on a spec written to a temp dir: (exit code, stderr).
#[expect(clippy::expect_used, reason = "a test helper")]
fn validate_text(text: &str) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("s.yaml"), text).expect("write");
    let o = run(&["validate", "s.yaml"], tmp.path());
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const BASE: &str = "apiVersion: misp-gen/v1\nname: demo\nservices:\n";

// Pins that `validate` refuses what `render` would (it runs every target in memory), each at its
// position with the real reason: names Kubernetes cannot take, a Pod Security level the pods do not
// meet, and the server-side limits: int32 seconds, zero intervals, 1 MiB objects, DNS hosts.
#[test]
fn validate_refuses_what_render_refuses() {
    let long = "a".repeat(60);
    let cases: Vec<(String, String)> = vec![
        (
            format!("{BASE}  {long}{long}:\n    image: docker.io/library/nginx:1.27\n"),
            format!(
                "s.yaml:4:3: error[E300-invalid-name]: service name `{long}{long}` is 120 characters, at most 63"
            ),
        ),
        (
            format!("{BASE}  {long}:\n    image: docker.io/library/nginx:1.27\n"),
            "s.yaml:4:3: error[E300-invalid-name]: kubernetes: the ServiceAccount name `demo-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` is 65 characters; at most 63 fit here".into(),
        ),
        (
            format!(
                "{BASE}  web:\n    image: docker.io/library/nginx:1.27\ntargets:\n  kubernetes: {{ pod_security: restricted }}\n"
            ),
            "s.yaml:5:5: error[E501-pod-security]: targets.kubernetes.pod_security is restricted, which forbids this: container `web` of `web` runs as the image's user, which may be root".into(),
        ),
        // `cap_add` adds to the default set: the level is judged on the effective set, at the
        // field that decides it.
        (
            format!(
                "{BASE}  web:\n    image: docker.io/library/nginx:1.27\n    security: {{ cap_add: [NET_ADMIN] }}\ntargets:\n  kubernetes: {{ pod_security: baseline }}\n"
            ),
            "s.yaml:6:26: error[E501-pod-security]: targets.kubernetes.pod_security is baseline, which forbids this: container `web` of `web` adds NET_ADMIN, beyond what baseline allows".into(),
        ),
        (
            format!(
                "{BASE}  web:\n    image: docker.io/library/nginx:1.27\n    ports: [{{ name: http, port: 80 }}]\n    healthcheck: {{ tcp: http, interval: 2147483648s }}\n"
            ),
            "s.yaml:7:41: error[E323-duration]: `2147483648s` is 2147483648s; at most 2147483647s".into(),
        ),
        (
            format!(
                "{BASE}  web:\n    image: docker.io/library/nginx:1.27\n    ports: [{{ name: http, port: 80 }}]\n    healthcheck: {{ tcp: http, timeout: 0s }}\n"
            ),
            "s.yaml:7:40: error[E323-duration]: `0s` is zero".into(),
        ),
        (
            format!(
                "files:\n  big: {{ content: \"{}\" }}\n{BASE}  web:\n    image: docker.io/library/nginx:1.27\n",
                "x".repeat((1 << 20) + 1)
            ),
            "s.yaml:2:19: error[E502-kubernetes-limit]: file `big` is 1048577 bytes; a Kubernetes ConfigMap or Secret holds at most 1048576".into(),
        ),
        (
            format!(
                "{BASE}  web:\n    image: docker.io/library/nginx:1.27\n    ports: [{{ name: http, port: 80 }}]\nedge: {{ service: web, port: http, host: 192.0.2.7 }}\n"
            ),
            "s.yaml:7:41: error[E300-invalid-name]: `192.0.2.7` is an IP address; the edge's host must be a DNS name".into(),
        ),
    ];
    for (spec, want) in cases {
        let (code, err) = validate_text(&spec);
        assert_eq!(code, Some(1), "{want}\n{err}");
        assert!(err.contains(&want), "want {want}\ngot {err}");
    }
}

// Finding 1 of the output-directory issue: a `profile:` path (or `--profile`) naming a file that is
// not a profile (a secret, a key) gets its position and reason, never its content, in any format.
#[test]
fn a_file_that_is_not_a_profile_is_never_shown() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("db_password"), "Hunter2-very-secret\n").expect("write");
    std::fs::write(
        tmp.path().join("s.yaml"),
        format!("{BASE}  web:\n    image: docker.io/library/nginx:1.27\nprofile: ./db_password\n"),
    )
    .expect("write");
    for format in ["human", "json", "github"] {
        for args in [
            vec!["validate", "s.yaml", "--format", format],
            vec![
                "validate",
                "s.yaml",
                "--format",
                format,
                "--profile",
                "./db_password",
            ],
        ] {
            let o = run(&args, tmp.path());
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(o.status.code(), Some(1), "{args:?}: {all}");
            assert!(
                all.contains("db_password"),
                "{args:?}: the file is named: {all}"
            );
            assert!(
                !all.contains("Hunter2"),
                "{args:?}: the content is shown: {all}"
            );
        }
    }
}

// Finding 6: inputs that are not regular files are refused at once (no hang, no endless read),
// and thousands of errors on one long line print a bounded report.
#[test]
fn hostile_inputs_are_bounded() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = run(&["validate", "/dev/zero"], tmp.path());
    o.code(2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a regular file"));
    let fifo = tmp.path().join("fifo.yaml");
    std::process::Command::new("mkfifo")
        .arg(&fifo)
        .ran()
        .success();
    run(&["validate", "fifo.yaml"], tmp.path()).code(2);
    std::fs::write(
        tmp.path().join("p.yaml"),
        format!("{BASE}  web:\n    image: docker.io/library/nginx:1.27\nprofile: /dev/zero\n"),
    )
    .expect("write");
    let o = run(&["validate", "p.yaml"], tmp.path());
    o.code(1);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("cannot read profile /dev/zero: not a regular file")
    );
    // 5000 unknown fields on one 100 KB line.
    let fields: Vec<String> = (0..5000).map(|i| format!("bogus{i}: 1")).collect();
    std::fs::write(
        tmp.path().join("wide.yaml"),
        format!(
            "{BASE}  web: {{ image: docker.io/library/nginx:1.27, {} }}\n",
            fields.join(", ")
        ),
    )
    .expect("write");
    let o = run(&["validate", "wide.yaml"], tmp.path());
    o.code(1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("and 4900 more (use --format json for all of them)"),
        "{}",
        &err[err.len().saturating_sub(300)..]
    );
    assert!(err.ends_with("5000 errors\n"));
    assert!(
        err.lines().all(|l| l.chars().count() < 400),
        "an excerpt is not width-capped"
    );
    assert!(err.len() < 100_000, "{} bytes", err.len());
    // Aliases of a large scalar are few nodes but much memory: bounded by bytes too.
    std::fs::write(
        tmp.path().join("alias.yaml"),
        format!(
            "x: &big {}
{BASE}  web:\n    image: docker.io/library/nginx:1.27\n    command: [{}]\n",
            "a".repeat(100_000),
            vec!["*big"; 200].join(", ")
        ),
    )
    .expect("write");
    let o = run(&["validate", "alias.yaml"], tmp.path());
    o.code(1);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("error[E105-alias-limit]: aliases expand to more than 8388608 bytes of text"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A key every node under it would carry in its pointer.
    std::fs::write(
        tmp.path().join("key.yaml"),
        format!(
            "{BASE}  ? {}\n  : {{ image: docker.io/library/nginx:1.27 }}\n",
            "k".repeat(2000)
        ),
    )
    .expect("write");
    let o = run(&["validate", "key.yaml"], tmp.path());
    o.code(1);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "key.yaml:4:5: error[E107-too-large]: a key of 2000 bytes; keys may be at most 1024"
        ),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

// Findings 9 and 10: names render would trip over are refused by validate, at the name.
#[test]
fn colliding_names_are_refused() {
    let (code, err) = validate_text(&format!(
        "secrets:\n  compose: {{ generate: password }}\n  db-pw: {{ generate: password }}\n  db_pw: {{ generate: password }}\n{BASE}  web:\n    image: docker.io/library/nginx:1.27\n"
    ));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("s.yaml:2:3: error[E300-invalid-name]: secret name `compose` is taken: misp-gen keeps its compose files in OUT/secrets/compose/"), "{err}");
    assert!(err.contains("s.yaml:4:3: error[E300-invalid-name]: secret names `db-pw` and `db_pw` differ only by `-` and `_`"), "{err}");
}

// Finding 10 and 11: edge values are refused at their node (a memory limit engines refuse, a
// mount over the whole image, a NUL byte), an empty external secret is no value, and a
// `--templates` directory that does not exist is a usage error.
#[test]
fn edge_values_are_refused() {
    let (code, err) = validate_text(&format!(
        "{BASE}  web:\n    image: docker.io/library/nginx:1.27\n    resources: {{ memory: 1Ki }}\n    mounts: [{{ scratch: true, path: / }}]\n"
    ));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("s.yaml:6:26: error[E324-quantity]: `1Ki` is 1024 bytes; container engines need at least 6Mi"), "{err}");
    assert!(
        err.contains("error[E321-mount-source]: a mount at `/` would hide the whole image"),
        "{err}"
    );
    let (code, err) = validate_text(&format!(
        "{BASE}  web:\n    image: \"docker.io/library/nginx:1.27\0\"\n"
    ));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("s.yaml:5:41: error[E100-yaml-syntax]: a NUL byte: YAML text cannot hold one"),
        "{err}"
    );

    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("s.yaml"),
        format!("secrets:\n  ext: {{ external: true }}\n{BASE}  web:\n    image: docker.io/library/nginx:1.27\n    env: {{ P: '${{secrets.ext}}' }}\n"),
    )
    .expect("write");
    let o = bin()
        .args(["render", "s.yaml", "--out", "out"])
        .env("MISP_GEN_SECRET_EXT", "")
        .current_dir(tmp.path())
        .ran();
    o.code(1);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("external secret `ext` has no value (or an empty one)")
    );
    assert!(
        !tmp.path().join("out").exists(),
        "a failed render left a directory"
    );
    // A directory known not to exist: a fixed path such as /nonexistent may exist on a machine.
    let missing = tmp.path().join("no-such-templates");
    let o = bin()
        .args(["render", "s.yaml", "--out", "out", "--templates"])
        .arg(&missing)
        .env("MISP_GEN_SECRET_EXT", "set")
        .current_dir(tmp.path())
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(2),
        "render --templates {}: {said}",
        missing.display()
    );
    assert!(
        said.contains(&format!(
            "--templates {}: no such directory",
            missing.display()
        )),
        "{said}"
    );
}

// Pins the size bounds (E333): more services than a spec may hold are refused at `services`
// before any other rule or render runs, and 1 000 services (the bound) validate.
#[test]
fn size_bounds_are_errors_with_a_position() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = |n: usize| {
        let mut s = String::from("apiVersion: misp-gen/v1\nname: big\nservices:\n");
        for i in 0..n {
            let _ = write!(
                s,
                "  s{i}:\n    image: docker.io/library/nginx:1.27.3\n    user: \"10001\"\n"
            );
        }
        let p = tmp.path().join(format!("s{n}.yaml"));
        std::fs::write(&p, s).expect("spec");
        p
    };
    let o = bin().arg("validate").arg(spec(1001)).ran();
    o.code(1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "s1001.yaml:3:1: error[E333-too-many]: 1001 services, at most 1000 in one spec"
        ),
        "{err}"
    );
    assert_eq!(err.matches("error[").count(), 1, "{err}");
    let o = bin()
        .arg("validate")
        .arg(spec(1000))
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every command of the CLI, from its one definition (so a new command is covered here too).
fn commands() -> Vec<String> {
    let all: Vec<String> = <misp_gen::cli::Cli as clap::CommandFactory>::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for known in [
        "validate",
        "render",
        "verify",
        "images",
        "schema",
        "codes",
        "init",
        "bundle",
        "completions",
        "man",
    ] {
        assert!(all.iter().any(|c| c == known), "no `{known}` in {all:?}");
    }
    all
}

// Pins the completion scripts: each names every command, and the bash one is valid bash that
// completes `render --ta` to `--target` when sourced.
#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _misp__gen"),
        ("zsh", "#compdef misp-gen"),
        ("fish", "-c misp-gen"),
    ] {
        let o = bin().args(["completions", shell]).output().expect("runs");
        assert!(
            o.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let script = String::from_utf8(o.stdout).expect("utf-8");
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        for cmd in commands() {
            assert!(script.contains(&cmd), "{shell}: `{cmd}` missing");
        }
    }
    let o = bin().args(["completions", "bash"]).output().expect("runs");
    let tmp = tempfile::tempdir().expect("tmp");
    let script = tmp.path().join("misp-gen.bash");
    std::fs::write(&script, &o.stdout).expect("write");
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(
            r#"source "$0"; COMP_WORDS=(misp-gen render --ta); COMP_CWORD=2; _misp__gen misp-gen --ta render; printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg(&script)
        .output()
        .expect("bash runs");
    let replies = String::from_utf8_lossy(&o.stdout);
    assert!(
        replies.lines().any(|l| l == "--target"),
        "bash completed `render --ta` to {replies:?} ({})",
        String::from_utf8_lossy(&o.stderr)
    );
}

// Pins the manual pages: the main one on standard output, and with --out one per command, each a
// roff page that groff formats (when installed) with the command's options in it.
#[test]
fn manual_pages() {
    let o = bin().arg("man").ran();
    o.success();
    let page = String::from_utf8(o.out.stdout).expect("utf-8");
    assert!(
        page.starts_with(".ie") || page.contains(".TH misp-gen 1"),
        "{page}"
    );
    assert!(page.contains(".TH misp-gen 1"));
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("man1");
    let o = bin()
        .arg("man")
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for cmd in commands() {
        let p = dir.join(format!("misp-gen-{cmd}.1"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            text.contains(&format!(".TH misp-gen-{cmd} 1")),
            "{}",
            p.display()
        );
    }
    let render = std::fs::read_to_string(dir.join("misp-gen-render.1")).expect("page");
    for opt in ["\\-\\-check", "\\-\\-target", "\\-\\-registry\\-mirror"] {
        assert!(render.contains(opt), "misp-gen-render.1 lacks {opt}");
    }
    if let Ok(o) = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(dir.join("misp-gen-render.1"))
        .output()
    {
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "groff: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

// Pins that `misp-gen codes` lists every code once in each format, and that the book's table of
// diagnostic codes is exactly its `--format markdown`: the list has one definition (src/diag.rs).
#[test]
fn codes_lists_every_code_and_the_book_table_is_its_output() {
    use misp_gen::diag::Code;
    let run_codes = |format: &str| {
        let o = bin()
            .args(["codes", "--format", format])
            .output()
            .expect("runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("utf-8")
    };
    let text = run_codes("text");
    assert_eq!(text.lines().count(), Code::ALL.len(), "{text}");
    let json: Vec<serde_json::Value> = serde_json::from_str(&run_codes("json")).expect("json");
    assert_eq!(json.len(), Code::ALL.len());
    let markdown = run_codes("markdown");
    for c in Code::ALL {
        let code = c.as_str();
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(code)),
            "{code} not in the text list"
        );
        assert!(
            json.iter().any(|e| e["code"] == code
                && e["severity"] == c.severity()
                && e["summary"] == c.summary()),
            "{code} not in the JSON list"
        );
        assert_eq!(
            markdown.matches(&format!("| `{code}` |")).count(),
            1,
            "{code} in the Markdown table"
        );
    }
    let page = repo().join("docs/src/reference/codes.md");
    let page = std::fs::read_to_string(&page).expect("docs/src/reference/codes.md");
    assert!(
        page.ends_with(&format!("\n\n{markdown}")),
        "docs/src/reference/codes.md's table is not `misp-gen codes --format markdown`; regenerate it with MISP_GEN_BLESS=1 cargo test --test docs"
    );
}

// Pins `--version`: the package's version and the commit the binary was built from (`git
// rev-parse` of this checkout; `unknown` only where there is no git to ask).
#[test]
fn version_names_the_version_and_the_commit() {
    let o = bin().arg("--version").output().expect("runs");
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "misp-gen --version: {said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|g| g.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |g| String::from_utf8_lossy(&g.stdout).trim().to_owned(),
        );
    assert_eq!(
        said.trim(),
        format!("misp-gen {} (commit {head})", env!("CARGO_PKG_VERSION")),
        "misp-gen --version"
    );
}

// Pins `optional: true` on an external secret: with neither `MISP_GEN_SECRET_<NAME>` nor a kept
// file, every target renders the empty value (and says so) instead of refusing; a value given
// in the environment is still taken.
#[test]
fn optional_external_secret_renders_empty() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("s.yaml"),
        format!("secrets:\n  relay: {{ external: true, optional: true }}\n{BASE}  web:\n    image: docker.io/library/nginx:1.27.3\n    env: {{ RELAY_PASSWORD: '${{secrets.relay}}' }}\n"),
    )
    .expect("write");
    for flavor in ["quadlet", "podman", "docker"] {
        let out = format!("out-{flavor}");
        let o = bin()
            .args(["render", "s.yaml", "--out", &out, "--flavor", flavor])
            .env_remove("MISP_GEN_SECRET_RELAY")
            .current_dir(tmp.path())
            .ran();
        o.success();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("optional external secret `relay` has no value"),
            "{err}"
        );
        let kept = std::fs::read(tmp.path().join(&out).join("secrets/relay")).unwrap_or_default();
        assert!(kept.is_empty(), "{flavor}: the kept value is not empty");
        let mut found = Vec::new();
        for entry in walk(&tmp.path().join(&out)) {
            let text = std::fs::read_to_string(&entry).unwrap_or_default();
            if text.lines().any(|l| l == "RELAY_PASSWORD=") {
                found.push(entry.display().to_string());
            }
        }
        for target in ["compose", "systemd"] {
            assert!(
                found
                    .iter()
                    .any(|f| f.ends_with(&format!("/secrets/{target}/web.env"))),
                "{flavor}: no empty RELAY_PASSWORD for {target} in {found:?}"
            );
        }
        // Kubernetes: the Secret the variable references, generated from an empty file.
        let value = tmp
            .path()
            .join(&out)
            .join("secrets/kubernetes/values/relay");
        assert_eq!(
            std::fs::read(&value).map(|v| v.len()).ok(),
            Some(0),
            "{flavor}: {}",
            value.display()
        );
    }
    let o = bin()
        .args(["render", "s.yaml", "--out", "given"])
        .env("MISP_GEN_SECRET_RELAY", "from-env")
        .current_dir(tmp.path())
        .ran();
    o.success();
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("given/secrets/relay")).expect("kept"),
        "from-env"
    );
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
