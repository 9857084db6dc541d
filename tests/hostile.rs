//! Hostile inputs (issue 29, round 2): templates from `--templates`, extra files in a checked
//! directory, links and FIFOs in the output directory, and `man --out`. Each gets a clear error
//! with exit 1 or 2, in bounded time and memory, and nothing is written or read that should not be.

#![expect(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, tree};

/// Run `cmd`, killing it after `limit`: a hang fails the test instead of hanging it.
fn bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs misp-gen");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().expect("output");
            panic!(
                "misp-gen ran for more than {limit:?} (killed):\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo")
        .arg(p)
        .status()
        .expect("mkfifo")
        .success();
    assert!(ok, "mkfifo {}", p.display());
}

const SPEC: &str = r"apiVersion: misp-gen/v1
name: tx
secrets:
  pw: { generate: password }
services:
  web:
    image: docker.io/library/nginx:1.27.3
    env: { PW: '${secrets.pw}' }
";

fn spec(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("spec.yaml");
    std::fs::write(&p, SPEC).expect("spec");
    p
}

// A template from `--templates` is code from outside: a loop of 10^10 steps runs out of fuel,
// 1 GB of output stops at the output bound, a FIFO or `/dev/zero` at a template's name is
// refused without being read. Each is a clear error naming the template, exit 1 or 2, and the
// output directory is not created.
#[test]
fn templates_are_bounded() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = spec(tmp.path());
    let cases: &[(&str, &str, i32)] = &[
        (
            "loop",
            "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
            1,
        ),
        (
            "output",
            "{% for i in range(10000) %}{{ 'x' * 100000 }}{% endfor %}",
            1,
        ),
        ("fifo", "", 2),
        ("zero", "", 2),
        ("large", "", 2),
    ];
    for (case, template, code) in cases {
        let dir = tmp.path().join(case);
        std::fs::create_dir_all(dir.join("compose")).expect("mkdir");
        let t = dir.join("compose/compose.yaml.j2");
        match *case {
            "fifo" => mkfifo(&t),
            "zero" => std::os::unix::fs::symlink("/dev/zero", &t).expect("link"),
            "large" => std::fs::write(&t, "#".repeat(2 << 20)).expect("write"),
            _ => std::fs::write(&t, template).expect("write"),
        }
        let out = tmp.path().join(format!("out-{case}"));
        let mut c = bin();
        c.arg("render")
            .arg(&s)
            .args(["--target", "compose", "--templates"])
            .arg(&dir)
            .arg("--out")
            .arg(&out);
        let o = bounded(c, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(*code), "{case}: {err}");
        assert!(err.contains("compose/compose.yaml.j2"), "{case}: {err}");
        assert!(!out.exists(), "{case}: the output directory was created");
    }
}

// Pins the memory a template may build: a filter that makes a huge string in one step
// (`replace`, `join`) runs out of fuel before it allocates (exit 1, naming the template), under
// a 1 GB address-space limit; with fuel worth 1.28 GB of data it aborted there (exit 134).
#[test]
fn template_filters_are_bounded_in_memory() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = spec(tmp.path());
    for (case, template) in [
        ("replace", "{{ ('a' * 1000000)|replace('a', 'b' * 1000) }}"),
        ("join", "{{ (('x' * 1000000)|list)|join('y' * 1000) }}"),
    ] {
        let dir = tmp.path().join(case);
        std::fs::create_dir_all(dir.join("compose")).expect("mkdir");
        std::fs::write(dir.join("compose/compose.yaml.j2"), template).expect("write");
        let out = tmp.path().join(format!("out-{case}"));
        let mut c = std::process::Command::new("sh");
        c.args(["-c", "ulimit -v 1000000 && exec \"$@\"", "sh"])
            .arg(env!("CARGO_BIN_EXE_misp-gen"))
            .arg("render")
            .arg(&s)
            .args(["--target", "compose", "--templates"])
            .arg(&dir)
            .arg("--out")
            .arg(&out);
        let o = bounded(c, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{case}: {err}");
        assert!(err.contains("compose/compose.yaml.j2"), "{case}: {err}");
        assert!(!out.exists(), "{case}: the output directory was created");
    }
}

// Pins the fuel's headroom: the largest spec a user may write (1 000 services, each with env,
// a secret, a mount and a health check) renders every target with the built-in templates when
// fuel is counted, which it is as soon as one template comes from `--templates` (here a copy of
// the built-in compose template).
#[test]
fn the_largest_spec_renders_within_the_fuel() {
    use std::fmt::Write as _;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut yaml = String::from(
        "apiVersion: misp-gen/v1\nname: big\nsecrets:\n  pw: { generate: password }\nvolumes:\n  data: {}\nservices:\n",
    );
    for i in 0..1000 {
        let _ = write!(
            yaml,
            "  s{i}:\n    image: docker.io/library/nginx:1.27.3\n    user: \"1000\"\n    env: {{ PW: '${{secrets.pw}}', MODE: production, PEER: '${{services.s0.host}}' }}\n    ports: [{{ name: http, port: 8080 }}]\n    mounts: [{{ volume: data, path: /data }}]\n    healthcheck: {{ http: {{ path: /healthz, port: http }} }}\n"
        );
    }
    let s = tmp.path().join("big.yaml");
    std::fs::write(&s, yaml).expect("write");
    let overrides = tmp.path().join("templates");
    std::fs::create_dir_all(overrides.join("compose")).expect("mkdir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/compose/compose.yaml.j2"),
        overrides.join("compose/compose.yaml.j2"),
    )
    .expect("copy");
    let templates = overrides.to_str().expect("utf-8 path");
    let o = render(
        &s,
        &tmp.path().join("out"),
        &["--target", "all", "--templates", templates],
    );
    assert!(o.status.success(), "{}", text(&o));
}

fn render(spec: &Path, out: &Path, args: &[&str]) -> Output {
    let mut c = bin();
    c.arg("render").arg(spec).arg("--out").arg(out).args(args);
    bounded(c, Duration::from_secs(60))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// The drift gate: a file added under a directory `render` writes (a compose override the engine
// merges, an extra systemd unit) is drift for `--check` ("unexpected: PATH", exit 1), in an
// operator's copy and in a CI checkout without `secrets/` alike, and nothing is written. A file
// beside the outputs (a README at the top) is not misp-gen's and not compared.
#[test]
fn check_reports_files_the_spec_does_not_render() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = spec(tmp.path());
    let out = tmp.path().join("out");
    let o = render(&s, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(out.join("README.md"), "notes\n").expect("write");
    let o = render(&s, &out, &["--check"]);
    assert!(o.status.success(), "a clean directory: {}", text(&o));
    std::fs::write(out.join("compose/compose.override.yaml"), "services: {}\n").expect("write");
    std::fs::write(out.join("systemd/evil.service"), "[Service]\n").expect("write");
    std::fs::write(out.join("secrets/compose/extra.env"), "X=1\n").expect("write");
    let expected = [
        "unexpected: compose/compose.override.yaml",
        "unexpected: systemd/evil.service",
        "unexpected: secrets/compose/extra.env",
    ];
    let before = tree(&out);
    let o = render(&s, &out, &["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    for e in expected {
        assert!(report.contains(e), "{e} not in {report}");
    }
    assert!(!report.contains("README"), "{report}");
    assert_eq!(before, tree(&out), "--check wrote something");
    // A CI checkout: secrets/ is not there, the rest is checked the same way.
    std::fs::remove_dir_all(out.join("secrets")).expect("rm");
    let o = render(&s, &out, &["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.contains(expected[0]) && report.contains(expected[1]),
        "{report}"
    );
    assert!(!out.join("secrets").exists(), "--check created secrets/");
}

// A kept secret is read through the output directory's one reader: a link (to `/dev/zero`, to a
// file outside the directory) or a FIFO at a secret's name is refused with exit 2, in bounded
// time (a FIFO hung `render` and `--check` while they held the lock), and the outside file's
// content is never printed or used.
#[test]
fn kept_secrets_are_regular_files_inside_the_directory() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = spec(tmp.path());
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, "outside-content-4711").expect("write");
    for case in ["fifo", "zero", "outside"] {
        let out = tmp.path().join(format!("out-{case}"));
        let o = render(&s, &out, &[]);
        assert!(o.status.success(), "{}", text(&o));
        let pw = out.join("secrets/pw");
        std::fs::remove_file(&pw).expect("rm");
        match case {
            "fifo" => mkfifo(&pw),
            "zero" => std::os::unix::fs::symlink("/dev/zero", &pw).expect("link"),
            _ => std::os::unix::fs::symlink(&outside, &pw).expect("link"),
        }
        for args in [&[][..], &["--check"][..]] {
            let o = render(&s, &out, args);
            assert_eq!(o.status.code(), Some(2), "{case} {args:?}: {}", text(&o));
            assert!(text(&o).contains("secrets/pw"), "{case}: {}", text(&o));
            assert!(!text(&o).contains("outside-content"), "{}", text(&o));
        }
        let compose = std::fs::read_to_string(out.join("secrets/compose/web.env")).expect("env");
        assert!(!compose.contains("outside-content"), "{compose}");
    }
}

// `man --out DIR` never writes through a link in DIR (it overwrote the file the link named,
// outside DIR) and is not hung by a FIFO at a page's name: refused with exit 2 before any page
// is written; a plain DIR gets every page.
#[test]
fn man_out_writes_no_link_and_no_fifo() {
    let tmp = tempfile::tempdir().expect("tmp");
    let man = |dir: &Path| {
        let mut c = bin();
        c.args(["man", "--out"]).arg(dir);
        bounded(c, Duration::from_secs(30))
    };
    let plain = tmp.path().join("plain");
    let o = man(&plain);
    assert!(o.status.success(), "{}", text(&o));
    assert!(plain.join("misp-gen.1").is_file() && plain.join("misp-gen-render.1").is_file());

    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "keep me").expect("write");
    let linked = tmp.path().join("linked");
    std::fs::create_dir(&linked).expect("mkdir");
    std::os::unix::fs::symlink(&victim, linked.join("misp-gen-render.1")).expect("link");
    let o = man(&linked);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
    assert_eq!(
        std::fs::read_dir(&linked).expect("dir").count(),
        1,
        "a page was written"
    );

    let fifo = tmp.path().join("fifo");
    std::fs::create_dir(&fifo).expect("mkdir");
    mkfifo(&fifo.join("misp-gen.1"));
    let o = man(&fifo);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a regular file"), "{}", text(&o));
}

/// Pieces of hostile text: line breaks, ESC sequences, bidi overrides, C1 and other controls,
/// forged workflow commands, a long run.
const PIECES: &[&str] = &[
    "\n",
    "\r\n",
    "\r",
    "\t",
    "\u{0}",
    "\u{1b}[2J",
    "\u{1b}]0;title\u{7}",
    "\u{7f}",
    "\u{85}",
    "\u{9b}31m",
    "\u{202e}",
    "\u{2066}",
    "\u{2028}",
    "\u{200f}",
    "\n::error file=x,line=1::forged",
    "\n::warning ::forged",
    "::add-mask::x",
    "%0A::error ::x",
    "\\",
    "\\n",
    "é",
    "web",
    "a",
    "-",
    ":",
    "`",
    "\"",
];

/// A hostile string from `rng`: a few pieces, sometimes a long run.
fn hostile(rng: &mut common::Rng) -> String {
    let mut s = String::new();
    for _ in 0..=rng.below(4) {
        s.push_str(PIECES[rng.below(PIECES.len())]);
    }
    if rng.below(8) == 0 {
        s.push_str(&"x".repeat(300 + rng.below(3000)));
    }
    s
}

/// A YAML double-quoted scalar holding exactly `s`: everything but printable ASCII escaped.
fn yq(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// A spec whose names, keys and values are hostile text, in the places that reach diagnostics:
/// unknown keys, service names, references, image references, env names.
fn hostile_spec(rng: &mut common::Rng) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("apiVersion: misp-gen/v1\nname: fz\nservices:\n");
    for i in 0..=rng.below(3) {
        let name = if rng.below(2) == 0 {
            hostile(rng)
        } else {
            format!("svc{i}")
        };
        let image = if rng.below(2) == 0 {
            format!("nginx:{}", hostile(rng))
        } else {
            "docker.io/library/nginx:1.27.3".to_owned()
        };
        let _ = writeln!(s, "  {}:\n    image: {}", yq(&name), yq(&image));
        if rng.below(2) == 0 {
            let _ = writeln!(s, "    depends_on: [{}]", yq(&hostile(rng)));
        }
        if rng.below(2) == 0 {
            let _ = writeln!(
                s,
                "    env: {{ {}: {} }}",
                yq(&hostile(rng)),
                yq(&hostile(rng))
            );
        }
        if rng.below(3) == 0 {
            let _ = writeln!(s, "    {}: 1", yq(&hostile(rng)));
        }
    }
    if rng.below(3) == 0 {
        let _ = writeln!(s, "{}: 1", yq(&hostile(rng)));
    }
    s
}

/// Control characters (other than the line feeds that end lines) and bidi overrides in `text`.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| {
            (c.is_control() && *c != '\n')
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

// Generated hostile names and values (line breaks, ESC, bidi, C1, long strings, `::error`
// payloads) through `validate` in every format: the human format is one header line per
// diagnostic and nothing but the lines it writes (excerpt, caret, help, summary); github is
// exactly one `::error`/`::warning` line per diagnostic and no other line starting with `::`;
// neither holds a raw control character; JSON and SARIF parse, with one entry per diagnostic.
// The seed (MISP_GEN_FUZZ_SEED to replay one) is printed with every failure.
#[test]
fn diagnostics_printer_fuzz() {
    let base: u64 = std::env::var("MISP_GEN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let runs = if std::env::var_os("MISP_GEN_FUZZ_SEED").is_some() {
        1
    } else {
        24
    };
    let tmp = tempfile::tempdir().expect("tmp");
    for run in 0..runs {
        let seed = base.wrapping_add(run);
        let mut rng = common::Rng(seed | 1);
        // Sometimes the file name itself is hostile.
        let file = if rng.below(3) == 0 {
            format!("s{}.yaml", hostile(&mut rng).replace(['/', '\0'], "_"))
        } else {
            "spec.yaml".to_owned()
        };
        let text = hostile_spec(&mut rng);
        std::fs::write(tmp.path().join(&file), &text).expect("spec");
        let validate = |format: &str| {
            let mut c = bin();
            c.current_dir(tmp.path())
                .args(["validate", "--format", format, "--"])
                .arg(&file);
            bounded(c, Duration::from_secs(60))
        };
        let ctx = |what: &str| format!("seed {seed} (MISP_GEN_FUZZ_SEED={seed}), {what}:\n{text}");

        let json = validate("json");
        let list: serde_json::Value = serde_json::from_slice(&json.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("json does not parse")));
        let n = list.as_array().map_or(0, Vec::len);
        let with_help = list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d.get("help").is_some())
            .count();

        let sarif = validate("sarif");
        let log: serde_json::Value = serde_json::from_slice(&sarif.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("sarif does not parse")));
        let results = log["runs"][0]["results"].as_array().map_or(0, Vec::len);
        assert_eq!(results, n, "{}", ctx("sarif results"));

        let gh = validate("github");
        let gh_text = String::from_utf8_lossy(&gh.stdout).into_owned();
        assert!(
            raw_controls(&gh_text).is_empty(),
            "{}: {:?}",
            ctx("raw control characters in github output"),
            raw_controls(&gh_text)
        );
        assert_eq!(
            gh_text.lines().count(),
            n,
            "{}\n{gh_text}",
            ctx("github lines")
        );
        for l in gh_text.lines() {
            assert!(
                l.starts_with("::error file=") || l.starts_with("::warning file="),
                "{}\n{l}",
                ctx("a github line misp-gen does not write")
            );
        }

        let human = validate("human");
        let h = String::from_utf8_lossy(&human.stderr).into_owned();
        assert!(
            raw_controls(&h).is_empty(),
            "{}: {:?}",
            ctx("raw control characters in human output"),
            raw_controls(&h)
        );
        check_human(&h, &file, n, with_help, &ctx);
    }
}

/// The human format of `n` diagnostics of `file` (`with_help` of them with help): one header
/// line each (up to the limit), and no line but those the format writes.
fn check_human(h: &str, file: &str, n: usize, with_help: usize, ctx: &dyn Fn(&str) -> String) {
    let shown = misp_gen::diag::printable(file).into_owned();
    let mut headers = 0;
    let mut helps = 0;
    for l in h.lines() {
        let gutter = l.split_once(" | ").map(|(g, _)| g.trim());
        if l.starts_with(&format!("{shown}:"))
            && (l.contains(": error[") || l.contains(": warning["))
        {
            headers += 1;
        } else if l.starts_with("  = help: ") {
            helps += 1;
        } else if !(l.trim_end().ends_with('|')
            || gutter.is_some_and(|g| g.is_empty() || g.bytes().all(|b| b.is_ascii_digit()))
            || l.starts_with("and ")
            || l.ends_with(" error")
            || l.ends_with(" errors")
            || l.ends_with(" warning")
            || l.ends_with(" warnings"))
        {
            panic!(
                "{}\n{l:?}\n{h}",
                ctx("a human line misp-gen does not write")
            );
        }
    }
    assert_eq!(
        headers,
        n.min(misp_gen::diag::MAX_HUMAN),
        "{}\n{h}",
        ctx("human diagnostics")
    );
    assert!(helps <= with_help, "{}\n{h}", ctx("human help lines"));
}

// Every host misp-gen takes goes through one parser: `--registry-mirror` (render, images,
// bundle), `bundle push --registry`, the spec's image registries, `images.mirror` and
// `policy.registries` refuse `host#x`, `evil?x.com`, `a_b.example`, a port out of range or
// missing, `a..example`, `-bad`; the command line ones with exit 2 before any work, without
// repeating the value, the spec ones as E315 at their line (exit 1).
#[test]
fn invalid_registry_hosts_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = spec(tmp.path());
    let bad = [
        "host#x.example",
        "evil?x.com",
        "a_b.example",
        "a.example:99999",
        "a.example:",
        "a..example",
        "-bad.example",
    ];
    for host in bad {
        let mirror = format!("--registry-mirror={host}");
        let registry = format!("--registry={host}");
        let runs: [Vec<&str>; 4] = [
            vec!["render", "SPEC", "--out", "OUT", &mirror],
            vec!["images", "SPEC", &mirror],
            vec!["bundle", "SPEC", "--out", "OUT/b.tar", &mirror],
            vec!["bundle", "push", "OUT/none.tar", &registry],
        ];
        for args in runs {
            let out = tmp.path().join("out");
            let mut c = bin();
            for a in &args {
                match *a {
                    "SPEC" => c.arg(&s),
                    "OUT" => c.arg(&out),
                    "OUT/b.tar" => c.arg(out.join("b.tar")),
                    "OUT/none.tar" => c.arg(out.join("none.tar")),
                    a => c.arg(a),
                };
            }
            let o = bounded(c, Duration::from_secs(60));
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{host} {args:?}: {}", text(&o));
            assert!(err.contains("--registry"), "{host} {args:?}: {err}");
            assert!(
                !err.contains(host),
                "{host} {args:?} repeated the value: {err}"
            );
            assert!(!out.exists(), "{host} {args:?} wrote {}", out.display());
        }
        for (key, yaml) in [
            ("image", format!("{SPEC}  api:\n    image: {host}/a/b:1\n")),
            (
                "mirror",
                format!("{SPEC}images: {{ mirror: '{host}/hub' }}\n"),
            ),
            (
                "policy",
                format!("{SPEC}policy: {{ registries: ['{host}/misp'] }}\n"),
            ),
        ] {
            let p = tmp.path().join("bad.yaml");
            std::fs::write(&p, yaml).expect("spec");
            let mut c = bin();
            c.args(["validate", "--format", "json"]).arg(&p);
            let o = bounded(c, Duration::from_secs(60));
            assert_eq!(o.status.code(), Some(1), "{host} {key}: {}", text(&o));
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("E315-image-syntax"),
                "{host} {key}: {}",
                text(&o)
            );
        }
    }
}

// An external secret whose environment variable is set but not UTF-8 is reported as such,
// not as "has no value" (which sent users looking for a variable they had set).
#[test]
fn a_non_utf8_external_secret_is_named_so() {
    use std::os::unix::ffi::OsStrExt as _;
    let tmp = tempfile::tempdir().expect("tmp");
    let p = tmp.path().join("ext.yaml");
    std::fs::write(
        &p,
        SPEC.replace("pw: { generate: password }", "pw: { external: true }"),
    )
    .expect("spec");
    let mut c = bin();
    c.arg("render")
        .arg(&p)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .env(
            "MISP_GEN_SECRET_PW",
            std::ffi::OsStr::from_bytes(b"se\xffcret"),
        );
    let o = bounded(c, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("MISP_GEN_SECRET_PW is set but not UTF-8"),
        "{err}"
    );
    assert!(!err.contains("has no value"), "{err}");
    assert!(!tmp.path().join("out").exists());
}

// What `--check` prints of a changed file comes from the directory, not from misp-gen: a line
// holding ESC or a CR is printed escaped, so a committed file cannot drive the terminal or
// forge a line in a CI log; unchanged lines are printed as they are.
#[test]
fn check_diffs_print_no_raw_control_characters() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = spec(tmp.path());
    let out = tmp.path().join("out");
    let o = render(&s, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let compose = out.join("compose/compose.yaml");
    let mut body = std::fs::read_to_string(&compose).expect("compose");
    body.push_str("x: \u{1b}[2J\r::error ::forged\u{202e}\n");
    std::fs::write(&compose, body).expect("write");
    let o = render(&s, &out, &["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        !report
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "{report:?}"
    );
    assert!(report.contains("-x: \\u{1b}[2J\\r"), "{report}");
    assert!(!report.lines().any(|l| l.starts_with("::")), "{report}");
    assert!(report.contains("--- a/compose/compose.yaml"), "{report}");
}
