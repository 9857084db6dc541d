//! The systemd target: every example × profile × flavour accepted by podman's quadlet and
//! systemd-analyze, snapshots, no secret outside secrets/, hostile text intact through quadlet and
//! systemd's quoting, version gates, refused values, and a real container started from the podman
//! flavour's command lines.
//!
//! Tools: quadlet from `$MISP_GEN_TOOLS/bin` or `target/ci-tools/bin` (`.ci/tools.sh` installs it),
//! else PATH; systemd-analyze and podman from PATH. A missing tool skips that part, except under
//! CI=true, where it fails the test.

#![expect(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use misp_gen::spec::model::Flavor;

use common::{
    EXAMPLES, PROFILES, Run as _, assert_no_leak, bin, render, repo, tool, tool_path, tree,
};

const FLAVORS: &[&str] = &["quadlet", "podman", "docker"];
/// Text that systemd, quadlet, podman and docker each could change: specifiers, variables, quotes,
/// backslashes, unicode, line breaks (a multi-line value), a carriage return, a tab and a bell.
const HOSTILE: &str = "100% off $HOME \"quoted\" back\\slash 'single' ünïcödé\n  second line\r\n\ttabbed \u{7}bell\n\nlast line\n";

// ------------------------------------------------------------------ helpers

/// Parse one `Exec*=` value back the way systemd does: specifiers first (`%%` → `%`, the others
/// from `spec`), then words split with `"…"`/`'…'` quoting and backslash escapes, then
/// environment variables: `$$` → `$`, `${VAR}` → its value (a word of its own stays exactly one
/// argument, even empty), `$VAR` as a whole word → its value split at whitespace.
fn systemd_exec(
    value: &str,
    spec: &dyn Fn(char) -> String,
    env: &BTreeMap<String, String>,
) -> Vec<String> {
    let value = value.trim_start_matches(['-', '@', ':', '+', '!']);
    let words = systemd_words(value, spec);
    // Variables.
    let mut out = Vec::new();
    for w in words {
        if let Some(name) = w.strip_prefix('$')
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            out.extend(
                env.get(name)
                    .map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
            continue;
        }
        let mut s = String::new();
        let mut rest = w.as_str();
        while let Some(p) = rest.find('$') {
            s.push_str(&rest[..p]);
            rest = &rest[p..];
            if let Some(r) = rest.strip_prefix("$$") {
                s.push('$');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("${") {
                let end = r.find('}').expect("closing brace");
                s.push_str(env.get(&r[..end]).map_or("", String::as_str));
                rest = &r[end + 1..];
            } else {
                s.push('$');
                rest = &rest[1..];
            }
        }
        s.push_str(rest);
        out.push(s);
    }
    out
}

/// Words of a value as systemd splits them (after specifiers: `%%` → `%`, the others from `spec`),
/// with `"…"`/`'…'` quoting and C escapes; what `Environment=` takes ($ means nothing there).
fn systemd_words(value: &str, spec: &dyn Fn(char) -> String) -> Vec<String> {
    let mut line = String::new();
    let mut it = value.chars();
    while let Some(c) = it.next() {
        if c == '%' {
            let s = it.next().expect("a specifier after %");
            if s == '%' {
                line.push('%');
            } else {
                line.push_str(&spec(s));
            }
        } else {
            line.push(c);
        }
    }
    // Words.
    let mut words: Vec<String> = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut pos = 0;
    loop {
        while pos < chars.len() && chars[pos].is_whitespace() {
            pos += 1;
        }
        if pos >= chars.len() {
            break;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while pos < chars.len() {
            let ch = chars[pos];
            match (quote, ch) {
                (None, ws) if ws.is_whitespace() => break,
                (None, '"' | '\'') => quote = Some(ch),
                (Some(open), close) if close == open => quote = None,
                (_, '\\') => {
                    pos += 1;
                    match chars[pos] {
                        'n' => word.push('\n'),
                        't' => word.push('\t'),
                        'r' => word.push('\r'),
                        'a' => word.push('\u{7}'),
                        'b' => word.push('\u{8}'),
                        'f' => word.push('\u{c}'),
                        'v' => word.push('\u{b}'),
                        'x' | 'u' | 'U' => {
                            let n = match chars[pos] {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = chars[pos + 1..=pos + n].iter().collect();
                            let code = u32::from_str_radix(&hex, 16).expect("hex");
                            word.push(char::from_u32(code).expect("a character"));
                            pos += n;
                        }
                        other => word.push(other),
                    }
                }
                (_, other) => word.push(other),
            }
            pos += 1;
        }
        assert!(quote.is_none(), "unbalanced quote in {value}");
        words.push(word);
    }
    words
}

fn specifier(c: char) -> String {
    match c {
        'n' => "unit.service".into(),
        'N' => "unit".into(),
        't' => "/run".into(),
        other => panic!("unexpected specifier %{other}: a value was not escaped"),
    }
}

/// `Key=value` lines of one section of a unit text.
fn keys(text: &str, section: &str, key: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == format!("[{section}]");
            continue;
        }
        if inside && let Some(v) = t.strip_prefix(&format!("{key}=")) {
            out.push(v.to_owned());
        }
    }
    out
}

/// `Environment=` of a [Service] section as a map (values are single words here).
fn service_env(text: &str) -> BTreeMap<String, String> {
    keys(text, "Service", "Environment")
        .iter()
        .flat_map(|v| systemd_words(v, &specifier))
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Render a spec text in memory for one flavour.
fn render_mem(
    yaml: &str,
    flavor: Flavor,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<misp_gen::render::FileSet, misp_gen::Error> {
    let valid = misp_gen::validate::validate_bytes("spec.yaml", yaml.as_bytes(), None, None)?;
    let tmp = tempfile::tempdir().expect("tmp");
    let opts = misp_gen::RenderOptions {
        allow_state_change: Vec::new(),
        target: misp_gen::cli::Target::Systemd,
        templates: None,
        registry_mirror: None,
        flavor: Some(flavor),
    };
    misp_gen::render_files(&valid, &tmp.path().join("out"), &opts, env)
}

fn text_of(files: &misp_gen::render::FileSet, path: &str) -> String {
    let f = files.get(path).unwrap_or_else(|| {
        panic!(
            "{path} not rendered; have {:?}",
            files.keys().collect::<Vec<_>>()
        )
    });
    String::from_utf8(f.bytes.clone()).expect("utf-8")
}

fn diags_of(
    r: Result<misp_gen::render::FileSet, misp_gen::Error>,
) -> Vec<misp_gen::diag::Diagnostic> {
    match r {
        Err(misp_gen::Error::Invalid(inv)) => inv.diags,
        Err(e) => panic!("expected diagnostics, got {e}"),
        Ok(_) => panic!("expected diagnostics, the render succeeded"),
    }
}

// ------------------------------------------------------------------ examples

// Pins every unit of every example × profile × flavour (snapshots), that no secret value leaves
// secrets/, and that the output passes every check of .ci/conformance.sh (fake root included):
// quadlet (-dryrun and generator mode) and systemd-analyze verify accept it without printing
// anything, the `systemd-analyze security` exposure of each helper unit is 4.0 or lower, and
// SHA256SUMS and secrets/SHA256SUMS hold. `.ci/run` runs none of these again on its systemd
// renders; it prints the exposures this test writes to target/systemd-security.txt.
#[test]
fn examples_conform_snapshot_and_keep_secrets() {
    let tools = tool("quadlet").is_some() && tool("systemd-analyze").is_some();
    let mut failures = Vec::new();
    let mut security = std::collections::BTreeSet::new();
    for ex in EXAMPLES {
        for profile in PROFILES {
            for flavor in FLAVORS {
                let tmp = tempfile::tempdir().expect("tmp");
                let out = tmp.path();
                render(
                    &repo().join(format!("examples/{ex}.yaml")),
                    out,
                    &[
                        "--profile",
                        profile,
                        "--target",
                        "systemd",
                        "--flavor",
                        flavor,
                    ],
                );
                assert_no_leak(out);
                let mut text = String::new();
                for (rel, bytes) in tree(&out.join("systemd")) {
                    let _ = writeln!(text, "==> {rel} <==\n{}", String::from_utf8_lossy(&bytes));
                }
                insta::assert_snapshot!(format!("{ex}-{profile}-{flavor}"), text);
                if tools {
                    let label = format!("{ex}/{profile}/{flavor}");
                    let o = Command::new("bash")
                        .arg(repo().join(".ci/conformance.sh"))
                        .arg(out)
                        .arg(&label)
                        .env("PATH", tool_path())
                        .output()
                        .expect("bash runs");
                    let stdout = String::from_utf8_lossy(&o.stdout);
                    security.extend(
                        stdout
                            .lines()
                            .filter(|l| l.starts_with("SECURITY "))
                            .map(str::to_owned),
                    );
                    if !o.status.success() {
                        failures.push(format!(
                            "{label}:\n{stdout}{}",
                            String::from_utf8_lossy(&o.stderr)
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "conformance failed:\n{}",
        failures.join("\n")
    );
    if tools {
        // `SECURITY LABEL UNIT SCORE` per helper unit, for .ci/run to print.
        let mut text = String::new();
        for l in &security {
            let _ = writeln!(text, "{l}");
        }
        let _ = std::fs::write(repo().join("target/systemd-security.txt"), text);
    }
}

// Pins that the same spec and secrets render byte-identical units twice (--check finds no drift).
#[test]
fn rerender_is_identical() {
    for flavor in FLAVORS {
        let tmp = tempfile::tempdir().expect("tmp");
        let spec = repo().join("examples/misp.yaml");
        render(
            &spec,
            tmp.path(),
            &["--target", "systemd", "--flavor", flavor],
        );
        let o = bin()
            .arg("render")
            .arg(&spec)
            .args([
                "--target", "systemd", "--flavor", flavor, "--check", "--out",
            ])
            .arg(tmp.path())
            .output()
            .expect("runs");
        assert!(
            o.status.success(),
            "{flavor}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

// ------------------------------------------------------------------ hostile text

fn hostile_spec() -> String {
    // A JSON string is a YAML double-quoted scalar: every character escaped as YAML reads it.
    let h = serde_json::to_string(HOSTILE).expect("json");
    format!(
        r"apiVersion: misp-gen/v1
name: hostile
secrets:
  token: {{ generate: hex, length: 16 }}
services:
  app:
    image: docker.io/library/busybox:1.36.1
    entrypoint: ['/bin/sh', '-c', {h}, '']
    command: [{h}, '', 'x']
    env:
      HOSTILE: {h}
      EMPTY: ''
      TOKEN: ${{secrets.token}}
    ports:
      - {{ name: http, port: 8080, publish: 18080 }}
    healthcheck:
      exec: ['/bin/sh', '-c', {h}]
"
    )
}

/// The arguments of a rendered `podman run`/`docker run` line: (options before the image,
/// arguments after it).
fn split_at_image(args: &[String], image: &str) -> (Vec<String>, Vec<String>) {
    let at = args
        .iter()
        .position(|a| a == image)
        .unwrap_or_else(|| panic!("image {image} not in {args:?}"));
    (args[..at].to_vec(), args[at + 1..].to_vec())
}

/// The arguments of a unit's `podman run`/`docker run` hold HOSTILE in every place it was put;
/// `unit_env` is the unit's own `Environment=`, from which `--env NAME` takes a value.
fn assert_hostile_args(flavor: &str, args: &[String], unit_env: &BTreeMap<String, String>) {
    let (opts, after) = split_at_image(args, "docker.io/library/busybox:1.36.1");
    let env: Vec<String> = opts
        .iter()
        .zip(opts.iter().skip(1))
        .filter(|(a, _)| *a == "--env")
        .map(|(_, b)| b.clone())
        .chain(
            opts.iter()
                .filter_map(|a| a.strip_prefix("--env=").map(str::to_owned)),
        )
        .map(|e| match unit_env.get(&e) {
            // `--env NAME`: podman and docker take the value from their own environment.
            Some(v) if !e.contains('=') => format!("{e}={v}"),
            _ => e,
        })
        .collect();
    assert!(
        env.iter().any(|e| *e == format!("HOSTILE={HOSTILE}")),
        "{flavor}: HOSTILE env changed: {env:?}"
    );
    if flavor != "docker" {
        // podman turns CR LF into LF in `--env K=V` (4.3 and 5.4): the value must not be there.
        assert!(
            !opts.iter().any(|a| a.contains("HOSTILE=")),
            "{flavor}: HOSTILE given as --env K=V, which podman changes: {opts:?}"
        );
    }
    assert!(
        env.iter().any(|e| *e == "EMPTY="),
        "{flavor}: EMPTY env lost: {env:?}"
    );
    assert!(
        !opts.iter().any(|a| a.contains("TOKEN")),
        "{flavor}: the secret-bearing env is on the command line"
    );
    let health = opts
        .iter()
        .find_map(|a| a.strip_prefix("--health-cmd="))
        .or_else(|| {
            opts.iter()
                .position(|a| a == "--health-cmd")
                .map(|i| opts[i + 1].as_str())
        })
        .unwrap_or_else(|| panic!("{flavor}: no --health-cmd in {opts:?}"));
    assert_health(flavor, health);
    let entry: Vec<String> = vec!["/bin/sh".into(), "-c".into(), HOSTILE.into(), String::new()];
    let command: Vec<String> = vec![HOSTILE.into(), String::new(), "x".into()];
    if flavor == "docker" {
        assert!(
            opts.contains(&"--entrypoint=/bin/sh".to_owned()),
            "{flavor}: {opts:?}"
        );
        let mut want = entry[1..].to_vec();
        want.extend(command);
        assert_eq!(after, want, "{flavor}: arguments changed");
    } else {
        let ep = opts
            .iter()
            .find_map(|a| a.strip_prefix("--entrypoint="))
            .or_else(|| {
                opts.iter()
                    .position(|a| a == "--entrypoint")
                    .map(|i| opts[i + 1].as_str())
            })
            .unwrap_or_else(|| panic!("{flavor}: no --entrypoint in {opts:?}"));
        let ep: Vec<String> = serde_json::from_str(ep).expect("entrypoint is a JSON array");
        assert_eq!(ep, entry, "{flavor}: entrypoint changed");
        assert_eq!(after, command, "{flavor}: command changed");
    }
}

/// The health command as podman (a JSON array, exec form) or docker (a shell command) gets it.
fn assert_health(flavor: &str, cmd: &str) {
    if flavor == "docker" {
        let want = format!("'/bin/sh' '-c' '{}'", HOSTILE.replace('\'', r"'\''"));
        assert_eq!(cmd, want, "{flavor}: health command changed");
    } else {
        let args: Vec<String> = serde_json::from_str(cmd)
            .unwrap_or_else(|e| panic!("{flavor}: health command {cmd:?} is not JSON: {e}"));
        assert_eq!(
            args,
            ["/bin/sh", "-c", HOSTILE],
            "{flavor}: health command changed"
        );
    }
}

// Pins that env, command, entrypoint and healthcheck holding `%`, `$`, quotes, backslashes,
// unicode, line breaks, control characters and an empty argument reach podman/docker unchanged:
// the plain units parsed by systemd's rules (C escapes included), and the Quadlet file through the
// real quadlet (5.4, which cuts a quoted empty argument short and unescapes `Environment=` and
// `Exec=`) and then systemd's rules. Before, a line break was refused for every systemd flavour
// though compose and Kubernetes carry it.
#[test]
fn hostile_text_arrives_intact() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(&spec, hostile_spec()).expect("write spec");
    for flavor in ["podman", "docker"] {
        let out = tmp.path().join(flavor);
        render(&spec, &out, &["--target", "systemd", "--flavor", flavor]);
        assert_no_leak(&out);
        let unit = std::fs::read_to_string(out.join("systemd/hostile-app.service")).expect("unit");
        let exec = keys(&unit, "Service", "ExecStart");
        let unit_env = service_env(&unit);
        let args = systemd_exec(&exec[0], &specifier, &unit_env);
        assert_hostile_args(flavor, &args, &unit_env);
    }
    let out = tmp.path().join("quadlet");
    // 5.0 writes Entrypoint=, the default 4.6 writes PodmanArgs=--entrypoint=: check both.
    for version in ["4.6", "5.0"] {
        let spec_v = tmp.path().join(format!("spec-{version}.yaml"));
        std::fs::write(
            &spec_v,
            format!(
                "{}targets:\n  systemd: {{ podman_version: \"{version}\" }}\n",
                hostile_spec()
            ),
        )
        .expect("write spec");
        render(
            &spec_v,
            &out,
            &["--target", "systemd", "--flavor", "quadlet"],
        );
        assert_no_leak(&out);
        let Some(quadlet) = tool("quadlet") else {
            return;
        };
        let o = Command::new(quadlet)
            .arg("-dryrun")
            .env("QUADLET_UNIT_DIRS", out.join("systemd"))
            .output()
            .expect("quadlet runs");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "quadlet failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let unit = stdout
            .split("---hostile-app.service---")
            .nth(1)
            .and_then(|s| s.split("\n---").next())
            .expect("the generated service");
        let exec = keys(unit, "Service", "ExecStart");
        let unit_env = service_env(unit);
        let args = systemd_exec(&exec[0], &specifier, &unit_env);
        assert_hostile_args(&format!("quadlet {version}"), &args, &unit_env);
    }
}

// ------------------------------------------------------------------ version gates

const GATED: &str = r#"apiVersion: misp-gen/v1
name: g
volumes:
  data: { driver_opts: { type: nfs, device: ":/export/g", o: "addr=10.0.0.5,nfsvers=4" } }
services:
  app:
    image: docker.io/library/busybox:1.36.1
    replicas: 2
    entrypoint: ["/bin/sh", "-c"]
    command: ["exec httpd -f -p 8080"]
    ports: [{ name: http, port: 8080 }]
    mounts:
      - { volume: data, path: /data }
      - { scratch: true, path: /tmp }
    healthcheck: { tcp: http, interval: 10s, retries: 3 }
    resources: { cpu: "0.5", memory: 64Mi }
  client:
    image: docker.io/library/busybox:1.36.1
    depends_on: { app: healthy }
"#;

fn gated(version: &str, flavor: Flavor) -> misp_gen::render::FileSet {
    let yaml = format!("{GATED}targets:\n  systemd: {{ podman_version: \"{version}\" }}\n");
    render_mem(&yaml, flavor, &|_| None).unwrap_or_else(|e| panic!("{version}: {e:?}"))
}

// Pins that Quadlet below podman 4.4 is refused with the key version named.
#[test]
fn gate_quadlet_needs_4_4() {
    let yaml = format!("{GATED}targets:\n  systemd: {{ podman_version: \"4.3\" }}\n");
    let d = diags_of(render_mem(&yaml, Flavor::Quadlet, &|_| None));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code.as_str(), "E500-unit-value");
    assert!(
        d[0].message.contains("Quadlet needs podman 4.4"),
        "{}",
        d[0].message
    );
    assert_eq!(d[0].pos.line, 21, "{d:?}");
    // The plain podman flavour works there.
    let f = gated("4.3", Flavor::Podman);
    let net = text_of(&f, "systemd/g-network.service");
    assert!(
        net.contains("podman network exists 'g' || podman network create 'g'"),
        "{net}"
    );
}

// Pins HealthCmd=/HealthInterval=…: keys from 4.5, `--health-*` in PodmanArgs= before.
#[test]
fn gate_health_keys_4_5() {
    let old = text_of(&gated("4.4", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(!old.contains("HealthCmd="), "{old}");
    assert!(old.contains("\"--health-cmd=nc -z 127.0.0.1 8080"), "{old}");
    assert!(old.contains("--health-interval=10s"), "{old}");
    let new = text_of(&gated("4.5", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(new.contains("\nHealthCmd=nc -z 127.0.0.1 8080"), "{new}");
    assert!(new.contains("\nHealthInterval=10s\n"), "{new}");
    assert!(!new.contains("--health-cmd"), "{new}");
}

// Pins Tmpfs=: a key from 4.5, `--tmpfs` before.
#[test]
fn gate_tmpfs_4_5() {
    let old = text_of(&gated("4.4", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(!old.contains("Tmpfs="), "{old}");
    assert!(old.contains("--tmpfs=/tmp"), "{old}");
    let new = text_of(&gated("4.5", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(new.contains("\nTmpfs=/tmp\n"), "{new}");
}

// Pins Pull=: a key from 4.6, `--pull` before.
#[test]
fn gate_pull_4_6() {
    let old = text_of(&gated("4.5", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(!old.contains("\nPull="), "{old}");
    assert!(old.contains("--pull=missing"), "{old}");
    let new = text_of(&gated("4.6", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(new.contains("\nPull=missing\n"), "{new}");
}

/// The podman names of the volume `data` and of the network as the units of GATED rendered for
/// `version` use them: (volume created, network created, volume and network the container runs
/// on). Through the real quadlet when it is installed (it reads `VolumeName=`/`NetworkName=` or
/// gives its default, `systemd-<file>`), else from the Quadlet files by that rule.
fn object_names(version: &str) -> [String; 4] {
    let files = gated(version, Flavor::Quadlet);
    let Some(quadlet) = tool("quadlet") else {
        let v = keys(
            &text_of(&files, "systemd/g-data.volume"),
            "Volume",
            "VolumeName",
        )
        .pop()
        .unwrap_or_else(|| "systemd-g-data".to_owned());
        let n = keys(
            &text_of(&files, "systemd/g.network"),
            "Network",
            "NetworkName",
        )
        .pop()
        .unwrap_or_else(|| "systemd-g".to_owned());
        return [v.clone(), n.clone(), v, n];
    };
    let tmp = tempfile::tempdir().expect("tmp");
    for (path, f) in &files {
        if let Some(name) = path.strip_prefix("systemd/") {
            std::fs::write(tmp.path().join(name), &f.bytes).expect("write unit");
        }
    }
    let o = Command::new(quadlet)
        .arg("-dryrun")
        .env("QUADLET_UNIT_DIRS", tmp.path())
        .output()
        .expect("quadlet runs");
    assert!(o.status.success(), "quadlet {version}: {}", text_out(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let unit = |name: &str| {
        out.split(&format!("---{name}---"))
            .nth(1)
            .and_then(|s| s.split("\n---").next())
            .unwrap_or_else(|| panic!("quadlet {version} generated no {name}"))
            .to_owned()
    };
    let args = |name: &str| {
        let u = unit(name);
        let exec = keys(&u, "Service", "ExecStart");
        systemd_exec(&exec[0], &specifier, &service_env(&u))
    };
    let last = |v: Vec<String>| v.last().cloned().expect("a name");
    let app = args("g-app-1.service");
    let after = |flag: &str| {
        app.iter()
            .position(|a| a == flag)
            .map(|i| app[i + 1].clone())
            .or_else(|| {
                app.iter()
                    .find_map(|a| a.strip_prefix(&format!("{flag}=")).map(str::to_owned))
            })
            .unwrap_or_else(|| panic!("{version}: no {flag} in {app:?}"))
    };
    [
        last(args("g-data-volume.service")),
        last(args("g-network.service")),
        after("-v").split(':').next().expect("volume").to_owned(),
        after("--network"),
    ]
}

// Pins that the volume and network names do not change with podman_version (Quadlet before 4.7
// names them `systemd-<file>` and has no key to change it; from 4.7 VolumeName=/NetworkName= write
// that name out): raising podman_version on a host keeps its data. Each render goes through the
// real quadlet 5.4 (5.5 renders are left out: quadlet 5.4 does not know Memory=). Before, 4.7 and later renders
// used `g-data` where 4.6 had `systemd-g-data`, starting the stack on new, empty volumes.
#[test]
fn object_names_do_not_change_with_podman_version() {
    let want = [
        "systemd-g-data".to_owned(),
        "systemd-g".to_owned(),
        "systemd-g-data".to_owned(),
        "systemd-g".to_owned(),
    ];
    for version in ["4.4", "4.6", "4.7", "5.0", "5.4"] {
        assert_eq!(object_names(version), want, "podman_version {version}");
    }
    let new = gated("4.7", Flavor::Quadlet);
    assert!(text_of(&new, "systemd/g-data.volume").contains("\nVolumeName=systemd-g-data\n"));
    assert!(text_of(&new, "systemd/g.network").contains("\nNetworkName=systemd-g\n"));
    let old = gated("4.6", Flavor::Quadlet);
    assert!(!text_of(&old, "systemd/g-data.volume").contains("VolumeName="));
}

// Pins health waiting: an ExecStartPost poll below 4.7, --sdnotify=healthy from 4.7, Notify=healthy
// from 5.0 (Quadlet); the plain podman flavour switches to --sdnotify=healthy at 4.7.
#[test]
fn gate_health_waiting() {
    let unit = "systemd/g-app-1.container";
    let t46 = text_of(&gated("4.6", Flavor::Quadlet), unit);
    assert!(
        t46.contains("ExecStartPost=/bin/sh -c \"n=0; until podman healthcheck run 'g-app-1'"),
        "{t46}"
    );
    let t47 = text_of(&gated("4.7", Flavor::Quadlet), unit);
    assert!(
        t47.contains("--sdnotify=healthy") && !t47.contains("ExecStartPost="),
        "{t47}"
    );
    let t50 = text_of(&gated("5.0", Flavor::Quadlet), unit);
    assert!(
        t50.contains("\nNotify=healthy\n") && !t50.contains("--sdnotify"),
        "{t50}"
    );
    let p46 = text_of(&gated("4.6", Flavor::Podman), "systemd/g-app-1.service");
    assert!(
        p46.contains("--sdnotify=conmon") && p46.contains("ExecStartPost="),
        "{p46}"
    );
    let p47 = text_of(&gated("4.7", Flavor::Podman), "systemd/g-app-1.service");
    assert!(
        p47.contains("--sdnotify=healthy") && !p47.contains("ExecStartPost="),
        "{p47}"
    );
    // The dependant requires every instance, by .service name.
    let client = text_of(&gated("4.6", Flavor::Quadlet), "systemd/g-client.container");
    assert!(
        client.contains("Requires=g-app-1.service\nRequires=g-app-2.service\n"),
        "{client}"
    );
}

// Pins Entrypoint=: a key from 5.0, `--entrypoint` (JSON array) before.
#[test]
fn gate_entrypoint_5_0() {
    let old = text_of(&gated("4.9", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(
        old.contains(r#""--entrypoint=[\"/bin/sh\",\"-c\"]""#),
        "{old}"
    );
    let new = text_of(&gated("5.0", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(new.contains("\nEntrypoint=[\"/bin/sh\",\"-c\"]\n"), "{new}");
}

// Pins NetworkAlias=: a key from 5.2, `--network-alias` before; replicas share the alias.
#[test]
fn gate_network_alias_5_2() {
    let old = text_of(&gated("5.1", Flavor::Quadlet), "systemd/g-app-2.container");
    assert!(old.contains("--network-alias=app"), "{old}");
    let new = text_of(&gated("5.2", Flavor::Quadlet), "systemd/g-app-2.container");
    assert!(new.contains("\nNetworkAlias=app\n"), "{new}");
}

// Pins Memory=: a key from 5.5, `--memory` before.
#[test]
fn gate_memory_5_5() {
    let old = text_of(&gated("5.4", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(old.contains("--memory=67108864"), "{old}");
    let new = text_of(&gated("5.5", Flavor::Quadlet), "systemd/g-app-1.container");
    assert!(new.contains("\nMemory=67108864\n"), "{new}");
}

// Pins `driver_opts`: type/device/o as Type=/Device=/Options=; any other option needs PodmanArgs=
// in a .volume file, which needs 4.6: refused below with the key and version named.
#[test]
fn gate_volume_options_4_6() {
    let t = text_of(&gated("4.6", Flavor::Quadlet), "systemd/g-data.volume");
    assert!(
        t.contains("\nType=nfs\nDevice=:/export/g\nOptions=addr=10.0.0.5,nfsvers=4\n"),
        "{t}"
    );
    let extra = GATED.replace("nfsvers=4\" }", "nfsvers=4\", size: \"1g\" }");
    let yaml = format!("{extra}targets:\n  systemd: {{ podman_version: \"4.5\" }}\n");
    let d = diags_of(render_mem(&yaml, Flavor::Quadlet, &|_| None));
    assert!(
        d.iter()
            .any(|d| d.message.contains("PodmanArgs=") && d.message.contains("podman 4.6")),
        "{d:?}"
    );
    let yaml = format!("{extra}targets:\n  systemd: {{ podman_version: \"4.6\" }}\n");
    let f = render_mem(&yaml, Flavor::Quadlet, &|_| None).expect("renders at 4.6");
    assert!(text_of(&f, "systemd/g-data.volume").contains("PodmanArgs=--opt=size=1g"));
}

// Pins the podman flavour's network/volume creation: `--ignore` from 4.4, a shell test before.
#[test]
fn gate_podman_create_ignore_4_4() {
    let new = gated("4.4", Flavor::Podman);
    assert!(
        text_of(&new, "systemd/g-network.service")
            .contains("ExecStart=/usr/bin/podman network create --ignore g\n")
    );
    assert!(text_of(&new, "systemd/g-data-volume.service")
        .contains("ExecStart=/usr/bin/podman volume create --ignore --opt device=:/export/g --opt o=addr=10.0.0.5,nfsvers=4 --opt type=nfs g-data\n"));
    let old = gated("4.3", Flavor::Podman);
    assert!(
        text_of(&old, "systemd/g-data-volume.service").contains("podman volume exists 'g-data' ||")
    );
}

// ------------------------------------------------------------------ helper sandbox

/// Whether a helper unit's `[Service]` sandbox lets it start on a host where the paths `existing`
/// (and their parents) exist, and then write `path`, by systemd's rules: a `ReadWritePaths=` entry
/// that is missing fails the start (status 226/NAMESPACE) unless prefixed `-`; `ReadWritePaths=`
/// wins over `ProtectSystem=` (`strict`: all read-only; `full`: /usr, /boot, /efi, /etc; `yes`:
/// /usr, /boot, /efi) and `ProtectHome=` (/home, /root, /run/user); `PrivateTmp=` gives writable
/// /tmp and /var/tmp.
fn sandbox_writes(unit: &str, existing: &[&str], path: &str) -> Result<bool, String> {
    let under = |p: &str, dir: &str| p == dir || p.starts_with(&format!("{dir}/"));
    let exists = |p: &str| existing.iter().any(|e| under(e, p));
    let last = |key: &str| keys(unit, "Service", key).pop().unwrap_or_default();
    for entry in keys(unit, "Service", "ReadWritePaths")
        .iter()
        .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    {
        let (optional, p) = match entry.strip_prefix('-') {
            Some(p) => (true, p.to_owned()),
            None => (false, entry.trim_start_matches('+').to_owned()),
        };
        if !exists(&p) {
            if optional {
                continue;
            }
            return Err(format!(
                "Failed to set up mount namespacing: {p}: No such file or directory"
            ));
        }
        if under(path, &p) {
            return Ok(true);
        }
    }
    if matches!(
        last("ProtectHome").as_str(),
        "yes" | "true" | "read-only" | "tmpfs"
    ) && ["/home", "/root", "/run/user"]
        .iter()
        .any(|d| under(path, d))
    {
        return Ok(false);
    }
    if matches!(last("PrivateTmp").as_str(), "yes" | "true")
        && ["/tmp", "/var/tmp"].iter().any(|d| under(path, d))
    {
        return Ok(true);
    }
    let read_only: &[&str] = match last("ProtectSystem").as_str() {
        "strict" => return Ok(false),
        "full" => &["/usr", "/boot", "/efi", "/etc"],
        "yes" | "true" => &["/usr", "/boot", "/efi"],
        _ => &[],
    };
    Ok(!read_only.iter().any(|d| under(path, d)))
}

// Pins that the units which create the network and the volumes (podman flavour, and Quadlet's
// .network/.volume files, whose [Service] quadlet copies) start on any host podman supports and
// can write where podman keeps its state: on a host where podman never ran (Debian 13 creates
// /var/lib/containers at podman's first run or boot, not at install) and with `graphroot` moved in
// storage.conf (/srv, /data, /home). Before, ProtectSystem=strict with ReadWritePaths=
// /var/lib/containers failed the first start on a fresh host (226/NAMESPACE) and left a moved
// graphroot read-only. tests/e2e/quadlet-systemd.sh starts them for real on systemd 257;
// .ci/conformance.sh keeps their `systemd-analyze security` exposure at 4.0 or lower.
#[test]
fn helper_units_start_wherever_podman_keeps_its_storage() {
    let fresh: &[&str] = &[
        "/etc/containers",
        "/run",
        "/var/tmp",
        "/var/lib",
        "/srv",
        "/home",
    ];
    let used: &[&str] = &[
        "/etc/containers",
        "/run",
        "/var/tmp",
        "/var/lib/containers",
        "/srv",
        "/data",
        "/home",
    ];
    let writes = [
        "/var/lib/containers/storage",
        "/etc/containers/networks",
        "/run/containers/storage",
        "/srv/containers/storage",
        "/data/containers/storage",
        "/home/containers/storage",
    ];
    for (flavor, version, units) in [
        (
            Flavor::Quadlet,
            "4.6",
            ["systemd/g-data.volume", "systemd/g.network"],
        ),
        (
            Flavor::Quadlet,
            "5.4",
            ["systemd/g-data.volume", "systemd/g.network"],
        ),
        (
            Flavor::Podman,
            "4.6",
            ["systemd/g-data-volume.service", "systemd/g-network.service"],
        ),
    ] {
        let files = gated(version, flavor);
        for u in units {
            let text = text_of(&files, u);
            for (host, existing) in [("fresh host", fresh), ("used host", used)] {
                for path in writes {
                    assert_eq!(
                        sandbox_writes(&text, existing, path),
                        Ok(true),
                        "{flavor:?} {version} {u} on a {host}: {path}\n{text}"
                    );
                }
            }
            // Still a sandbox: the OS stays read-only.
            for path in ["/usr/bin", "/etc/passwd", "/boot"] {
                assert_eq!(sandbox_writes(&text, used, path), Ok(false), "{u}: {path}");
            }
        }
    }
}

// ------------------------------------------------------------------ refused values

// Pins what no systemd flavour carries, a NUL (no argument or environment variable can hold one):
// a diagnostic at its position, never a broken unit. A line break is carried in every flavour
// (hostile_text_arrives_intact).
#[test]
fn nul_is_refused_at_its_position() {
    let yaml = "apiVersion: misp-gen/v1\nname: n\nservices:\n  app:\n    image: docker.io/library/busybox:1.36.1\n    command: [\"a\", \"b\\0c\"]\n    env:\n      X: \"1\\n2\"\n      Y: \"1\\02\"\n";
    for flavor in [Flavor::Quadlet, Flavor::Podman, Flavor::Docker] {
        let d = diags_of(render_mem(yaml, flavor, &|_| None));
        let got: Vec<(u32, u32, &str)> = d
            .iter()
            .map(|d| (d.pos.line, d.pos.col, d.code.as_str()))
            .collect();
        assert_eq!(
            got,
            [(6, 20, "E500-unit-value"), (9, 10, "E500-unit-value")],
            "{d:?}"
        );
        assert!(d[1].message.contains("NUL"), "{}", d[1].message);
    }
}

// Pins that a secret-bearing env value the env-file format cannot carry is refused without
// showing the value.
#[test]
fn secret_with_line_break_is_refused_quietly() {
    let yaml = "apiVersion: misp-gen/v1\nname: n\nsecrets:\n  s: { external: true }\nservices:\n  app:\n    image: docker.io/library/busybox:1.36.1\n    env:\n      X: ${secrets.s}\n";
    let env = |k: &str| (k == "MISP_GEN_SECRET_S").then(|| "top\nsecret".to_owned());
    let d = diags_of(render_mem(yaml, Flavor::Quadlet, &env));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].pos.line, d[0].code.as_str()), (9, "E500-unit-value"));
    let all = format!("{} {:?}", d[0].message, d[0].help);
    assert!(!all.contains("top") && !all.contains("secret\""), "{all}");
}

// Pins that a mount path `-v` cannot name never reaches a unit (validation refuses it already).
#[test]
fn colon_in_mount_path_is_refused() {
    let yaml = "apiVersion: misp-gen/v1\nname: n\nservices:\n  app:\n    image: docker.io/library/busybox:1.36.1\n    mounts: [{ scratch: true, path: \"/a:b\" }]\n";
    let d = diags_of(render_mem(yaml, Flavor::Podman, &|_| None));
    assert_eq!(d[0].pointer, "/services/app/mounts/0/path", "{d:?}");
}

// Pins that install_dir is checked and used in every path the units name.
#[test]
fn install_dir_is_checked_and_used() {
    let base = "apiVersion: misp-gen/v1\nname: n\nsecrets:\n  s: { generate: password }\nservices:\n  app:\n    image: docker.io/library/busybox:1.36.1\n    env: { X: \"${secrets.s}\" }\n";
    let bad = format!("{base}targets:\n  systemd: {{ install_dir: \"srv/x y\" }}\n");
    let d = diags_of(render_mem(&bad, Flavor::Quadlet, &|_| None));
    assert_eq!(d[0].code.as_str(), "E206-bad-format", "{d:?}");
    let good = format!("{base}targets:\n  systemd: {{ install_dir: /srv/n/ }}\n");
    let f = render_mem(&good, Flavor::Quadlet, &|_| None).expect("renders");
    assert!(
        text_of(&f, "systemd/n-app.container")
            .contains("EnvironmentFile=/srv/n/secrets/systemd/app.env\n")
    );
    let f = render_mem(base, Flavor::Quadlet, &|_| None).expect("renders");
    assert!(
        text_of(&f, "systemd/n-app.container")
            .contains("EnvironmentFile=/etc/misp-gen/n/secrets/systemd/app.env\n")
    );
}

// ------------------------------------------------------------------ a real container

/// Removes what the end-to-end test created, whatever happens.
struct Cleanup {
    podman: PathBuf,
    env: Vec<(String, String)>,
    containers: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let run = |args: &[&str]| {
            let _ = Command::new(&self.podman)
                .args(args)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .output();
        };
        for c in &self.containers {
            run(&["rm", "-f", "-v", "-t", "0", "--ignore", c]);
        }
        for v in &self.volumes {
            run(&["volume", "rm", "-f", v]);
        }
        for n in &self.networks {
            run(&["network", "rm", "-f", n]);
        }
        for i in &self.images {
            run(&["rmi", "-f", i]);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn http_get(port: u16) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Run one Exec line of a unit as systemd would (specifiers and quoting resolved), or panic.
fn exec_unit_line(
    line: &str,
    unit: &str,
    rundir: &Path,
    env: &[(String, String)],
) -> std::process::Output {
    let spec = |c: char| match c {
        'n' => unit.to_owned(),
        'N' => unit.trim_end_matches(".service").to_owned(),
        't' => rundir.display().to_string(),
        other => panic!("unexpected specifier %{other}"),
    };
    let args = systemd_exec(line, &spec, &BTreeMap::new());
    let (prog, rest) = args.split_first().expect("a command");
    Command::new(prog)
        .args(rest)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"))
}

// Pins that the podman flavour's units start a real container on podman 4.3 (Debian 12): network
// unit, then the container unit's ExecStart and its health-wait ExecStartPost, with the env file,
// a `files:` bind mount and a secret mount at the install dir; the published port answers with
// the mounted file; ExecStop/ExecStopPost remove the container. Runs where podman is installed.
#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn podman_flavour_runs_a_real_container() {
    let Some(podman) = tool("podman") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let install = root.join("install");
    let stack = format!("mge2e{}", std::process::id());
    let image = format!("localhost/{stack}-busybox:1.0");

    // podman 4.3 raises RLIMIT_NOFILE and RLIMIT_NPROC for containers beyond what a sandboxed
    // machine lets runc set ("error setting rlimits … operation not permitted"): lower them.
    let conf = root.join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n",
    )
    .expect("containers.conf");
    let env = vec![("CONTAINERS_CONF".to_owned(), conf.display().to_string())];
    let mut cleanup = Cleanup {
        podman: podman.clone(),
        env: env.clone(),
        containers: Vec::new(),
        volumes: Vec::new(),
        networks: vec![stack.clone()],
        images: vec![image.clone()],
    };

    // An image from Debian's busybox-static: bin/busybox and the applets the test uses.
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let Some(busybox) = busybox else {
        common::skip("busybox", "busybox-static is not installed (/bin/busybox)");
        return;
    };
    let rootfs = root.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("rootfs");
    std::fs::copy(&busybox, rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "httpd", "wget", "cat", "sleep", "test", "["] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("symlink");
    }
    let tar = root.join("rootfs.tar");
    Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .ran()
        .success();
    let o = Command::new(&podman)
        .arg("import")
        .arg(&tar)
        .arg(&image)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("podman import");
    assert!(
        o.status.success(),
        "podman import: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let port = free_port();
    let spec = format!(
        r#"apiVersion: misp-gen/v1
name: {stack}
secrets:
  greeting: {{ generate: password, length: 16 }}
files:
  index: {{ content: "hello from ${{name}}\n" }}
images: {{ pull: never }}
services:
  web:
    image: {image}
    command: ["sh", "-c", "test -n \"$GREETING\" && test -s /run/s/greeting && exec httpd -f -p 8080 -h /www"]
    env:
      GREETING: ${{secrets.greeting}}
    ports: [{{ name: http, port: 8080, publish: {port} }}]
    mounts:
      - {{ file: index, path: /www/index.html }}
      - {{ secret: greeting, path: /run/s }}
    healthcheck: {{ exec: ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], interval: 2s, retries: 3 }}
  client:
    image: {image}
    command: ["sleep", "3600"]
    depends_on: {{ web: healthy }}
targets:
  systemd: {{ flavor: podman, podman_version: "4.3", install_dir: {install} }}
"#,
        install = install.display()
    );
    let spec_path = root.join("spec.yaml");
    std::fs::write(&spec_path, spec).expect("spec");
    let out = root.join("out");
    render(&spec_path, &out, &["--target", "systemd"]);
    // Install as the book says (docs/src/targets/systemd.md): secrets/ and systemd/files/ under the install dir.
    std::fs::create_dir_all(&install).expect("install dir");
    for (from, to) in [("secrets", "secrets"), ("systemd/files", "files")] {
        Command::new("cp")
            .arg("-r")
            .arg(out.join(from))
            .arg(install.join(to))
            .ran()
            .success();
    }
    let rundir = root.join("run");
    std::fs::create_dir_all(&rundir).expect("run dir");

    let net = std::fs::read_to_string(out.join(format!("systemd/{stack}-network.service")))
        .expect("network unit");
    for line in keys(&net, "Service", "ExecStart") {
        let o = exec_unit_line(&line, &format!("{stack}-network.service"), &rundir, &env);
        assert!(
            o.status.success(),
            "network: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let unit_name = format!("{stack}-web.service");
    let unit = std::fs::read_to_string(out.join(format!("systemd/{unit_name}"))).expect("web unit");
    cleanup.containers.push(format!("{stack}-web"));
    for key in ["ExecStart", "ExecStartPost"] {
        for line in keys(&unit, "Service", key) {
            let o = exec_unit_line(&line, &unit_name, &rundir, &env);
            assert!(
                o.status.success(),
                "{key} failed:\n{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    let mut answer = None;
    for _ in 0..50 {
        if let Some(a) = http_get(port)
            && a.contains("200")
        {
            answer = Some(a);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let answer = answer.expect("the published port answers");
    assert!(answer.contains(&format!("hello from {stack}")), "{answer}");

    for key in ["ExecStop", "ExecStopPost"] {
        for line in keys(&unit, "Service", key) {
            let o = exec_unit_line(&line, &unit_name, &rundir, &env);
            assert!(
                o.status.success(),
                "{key}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    let o = Command::new(&podman)
        .args(["container", "exists", &format!("{stack}-web")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("podman");
    assert!(
        !o.status.success(),
        "the container is still there after ExecStopPost"
    );
    drop(cleanup);
}

fn text_out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The `.service` units of `dir` in an order that honours their `After=` on each other.
fn start_order(dir: &Path) -> Vec<(String, String)> {
    let mut units: BTreeMap<String, String> = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("systemd dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "service") {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            units.insert(name, std::fs::read_to_string(&p).expect("unit"));
        }
    }
    let mut order: Vec<(String, String)> = Vec::new();
    while order.len() < units.len() {
        let before = order.len();
        for (name, text) in &units {
            if order.iter().any(|(n, _)| n == name) {
                continue;
            }
            let ready = keys(text, "Unit", "After")
                .iter()
                .filter(|a| units.contains_key(a.as_str()))
                .all(|a| order.iter().any(|(n, _)| n == a));
            if ready {
                order.push((name.clone(), text.clone()));
            }
        }
        assert!(order.len() > before, "a cycle among {:?}", units.keys());
    }
    order
}

// Pins that the podman flavour starts the e2e stack of tests/e2e/stack.yaml on podman 4.3 (Debian
// 12) with the images of tests/e2e/build-images.sh: every unit's ExecStart and ExecStartPost run
// in the units' After= order (a dependant's unit starts only once the health wait of the one it
// needs has passed), each container is then healthy (`podman healthcheck run`), the published port
// serves the page and what the non-root worker wrote to the shared volume, the worker reads its
// secret (0444 mounted copy) and TLS items, and MariaDB accepts the generated password.
#[test]
#[expect(clippy::too_many_lines, reason = "one deployment, step by step")]
fn podman_flavour_runs_the_e2e_stack() {
    let Some(podman) = tool("podman") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let conf = root.join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n",
    )
    .expect("containers.conf");
    let env = vec![("CONTAINERS_CONF".to_owned(), conf.display().to_string())];
    let podman_cmd = || {
        let mut c = Command::new(&podman);
        c.envs(env.iter().map(|(k, v)| (k, v)));
        c
    };
    for image in [
        "docker.io/library/busybox:1.35.0",
        "docker.io/library/mariadb:10.11",
    ] {
        let o = podman_cmd()
            .args(["image", "exists", image])
            .output()
            .expect("podman");
        if !o.status.success() {
            common::skip(
                "e2e images",
                &format!("podman has no {image} (run tests/e2e/build-images.sh podman)"),
            );
            return;
        }
    }
    let stack = format!("mge2ep{}", std::process::id());
    let install = root.join("install");
    let port = free_port();
    let spec_text = std::fs::read_to_string(repo().join("tests/e2e/stack.yaml")).expect("spec");
    let mut spec_text = spec_text
        .replacen("name: e2e-stack", &format!("name: {stack}"), 1)
        .replacen("publish: 18480", &format!("publish: {port}"), 1);
    write!(
        spec_text,
        "targets:\n  systemd: {{ flavor: podman, podman_version: \"4.3\", install_dir: {} }}\n",
        install.display()
    )
    .expect("write");
    let spec = root.join("stack.yaml");
    std::fs::write(&spec, spec_text).expect("spec");
    let out = root.join("out");
    render(&spec, &out, &["--target", "systemd"]);
    let _cleanup = Cleanup {
        podman: podman.clone(),
        env: env.clone(),
        containers: ["database", "web", "worker"]
            .iter()
            .map(|s| format!("{stack}-{s}"))
            .collect(),
        volumes: vec![format!("{stack}-shared"), format!("{stack}-db_data")],
        networks: vec![stack.clone()],
        images: Vec::new(),
    };
    // Install as the book says (docs/src/targets/systemd.md): secrets/ and systemd/files/ under the install dir.
    std::fs::create_dir_all(&install).expect("install dir");
    for (from, to) in [("secrets", "secrets"), ("systemd/files", "files")] {
        Command::new("cp")
            .arg("-r")
            .arg(out.join(from))
            .arg(install.join(to))
            .ran()
            .success();
    }
    let rundir = root.join("run");
    std::fs::create_dir_all(&rundir).expect("run dir");

    let order = start_order(&out.join("systemd"));
    let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
    let pos = |u: &str| {
        names
            .iter()
            .position(|n| *n == format!("{stack}-{u}.service"))
            .unwrap_or_else(|| panic!("no unit {u} in {names:?}"))
    };
    assert!(
        pos("database") < pos("web") && pos("web") < pos("worker"),
        "{names:?}"
    );
    let t = std::time::Instant::now();
    for (unit, text) in &order {
        for key in ["ExecStartPre", "ExecStart", "ExecStartPost"] {
            for line in keys(text, "Service", key) {
                let o = exec_unit_line(&line, unit, &rundir, &env);
                assert!(
                    o.status.success(),
                    "{unit} {key} failed:\n{line}\n{}\n{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
    }
    let exec = |container: &str, args: &[&str], stdin: &str| {
        use std::io::Write as _;
        let mut child = podman_cmd()
            .args(["exec", "-i", &format!("{stack}-{container}")])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("podman exec");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("stdin");
        let o = child.wait_with_output().expect("podman exec");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // The worker's health check needs its first status write: poll as systemd's would.
    for c in ["database", "web", "worker"] {
        let name = format!("{stack}-{c}");
        let healthy = (0..30).any(|_| {
            let ok = podman_cmd()
                .args(["healthcheck", "run", &name])
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            ok
        });
        let logs = podman_cmd()
            .args(["logs", "--tail", "20", &name])
            .output()
            .map(|o| text_out(&o))
            .unwrap_or_default();
        assert!(
            healthy,
            "{name} is not healthy (a container that exited is gone: the units run it with --rm):\n{logs}"
        );
    }
    let started = t.elapsed();
    let get = |path: &str| {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let page = get("/").expect("the published port answers");
    assert!(
        page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/1.0 200"),
        "{page}"
    );
    assert!(
        page.ends_with(&format!("<h1>hello from {stack}</h1>\n")),
        "{page}"
    );
    let status = get("/shared/status.txt").expect("status");
    assert!(status.ends_with("worker 1000 says hello\n"), "{status}");

    let token = std::fs::read_to_string(out.join("secrets/app_token")).expect("token");
    assert_eq!(exec("worker", &["id", "-u"], "").1.trim(), "1000");
    assert_eq!(
        exec("worker", &["cat", "/run/secrets/app/app_token"], "").1,
        token,
        "the worker reads its secret"
    );
    assert_eq!(
        exec(
            "worker",
            &[
                "stat",
                "-c",
                "%n %a",
                "/run/secrets/app/app_token",
                "/etc/worker/tls/server.crt"
            ],
            ""
        )
        .1,
        "/run/secrets/app/app_token 444\n/etc/worker/tls/server.crt 444\n"
    );
    assert_eq!(
        exec("worker", &["ls", "/etc/worker/tls"], "").1,
        "ca.pem\nserver.crt\n"
    );
    let pw = std::fs::read_to_string(out.join("secrets/db_password")).expect("pw");
    let sql = [
        "sh",
        "-c",
        "read -r pw; MYSQL_PWD=\"$pw\" exec mariadb -h 127.0.0.1 -u app --skip-column-names app -e 'select current_user()'",
    ];
    let (ok, stdout, stderr) = exec("database", &sql, &format!("{pw}\n"));
    assert!(ok, "the generated password: {stderr}");
    assert_eq!(stdout.trim(), "app@%");
    let (ok, _, _) = exec("database", &sql, "wrong\n");
    assert!(!ok, "a wrong password was accepted");

    // Stop as systemd would, in reverse order; nothing of the stack's containers is left.
    for (unit, text) in order.iter().rev() {
        for key in ["ExecStop", "ExecStopPost"] {
            for line in keys(text, "Service", key) {
                let o = exec_unit_line(&line, unit, &rundir, &env);
                assert!(
                    o.status.success(),
                    "{unit} {key}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
    }
    let left = podman_cmd()
        .args(["ps", "-a", "--format", "{{.Names}}"])
        .output()
        .expect("podman ps");
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains(&stack),
        "containers left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    eprintln!(
        "podman e2e: stack healthy {:.1}s after the first unit started",
        started.as_secs_f64()
    );
}

/// The value of tests/e2e/multiline.yaml, as written there.
const MULTI: &str = "line one\n  \"double\" 'single' 100% $HOME `tick` back\\slash \\n (not a line break)\n\ttab;semi\r\nlast line\n";

/// One engine's CLI, with the environment the tests give it.
struct Cli {
    program: PathBuf,
    env: Vec<(String, String)>,
}

impl Cli {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
    fn out(&self, args: &[&str]) -> std::process::Output {
        self.cmd()
            .args(args)
            .output()
            .expect("the engine's CLI runs")
    }
}

/// Removes a flavour's container and network, whatever happens.
struct Remove<'a> {
    cli: &'a Cli,
    container: String,
    network: String,
}

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        let _ = self.cli.out(&["rm", "-f", "-v", &self.container]);
        let _ = self.cli.out(&["network", "rm", &self.network]);
    }
}

// Pins that a multi-line value (tests/e2e/multiline.yaml: line breaks, a carriage return, a tab,
// quotes, `%`, `$`, a backquote, backslashes) arrives byte for byte in a container's environment
// and argument from the units of the podman flavour on podman 4.3 (Debian 12) and of the docker
// flavour on the Docker Engine: each unit's Exec lines run as systemd reads them (C escapes
// included), the container turns healthy only when both equal the `files:` copy, and both are read
// back here. (Quadlet: tests/e2e/quadlet-systemd.sh, on podman 5.4; Compose: tests/e2e_compose.rs.)
#[test]
#[expect(clippy::too_many_lines, reason = "two engines, step by step")]
fn multiline_value_arrives_on_podman_and_docker() {
    let spec_text = std::fs::read_to_string(repo().join("tests/e2e/multiline.yaml")).expect("spec");
    for flavor in ["podman", "docker"] {
        let Some(program) = tool(flavor) else {
            continue;
        };
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let env = if flavor == "podman" {
            let conf = root.join("containers.conf");
            std::fs::write(
                &conf,
                "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n",
            )
            .expect("containers.conf");
            vec![("CONTAINERS_CONF".to_owned(), conf.display().to_string())]
        } else {
            Vec::new()
        };
        let cli = Cli { program, env };
        let image = "docker.io/library/busybox:1.35.0";
        if !cli.out(&["image", "inspect", image]).status.success() {
            common::skip(
                "e2e images",
                &format!("{flavor} has no {image} (run tests/e2e/build-images.sh {flavor})"),
            );
            continue;
        }
        let stack = format!("mgml{}{flavor}", std::process::id());
        let install = root.join("install");
        let spec = root.join("multiline.yaml");
        std::fs::write(
            &spec,
            format!(
                "{}targets:\n  systemd: {{ flavor: {flavor}, podman_version: \"4.3\", install_dir: {} }}\n",
                spec_text.replacen("name: e2e-multi", &format!("name: {stack}"), 1),
                install.display()
            ),
        )
        .expect("spec");
        let out = root.join("out");
        render(&spec, &out, &["--target", "systemd"]);
        let expected = std::fs::read(out.join("systemd/files/expected")).expect("files/expected");
        assert_eq!(expected, MULTI.as_bytes(), "the files: copy itself");
        std::fs::create_dir_all(&install).expect("install dir");
        Command::new("cp")
            .arg("-r")
            .arg(out.join("systemd/files"))
            .arg(install.join("files"))
            .ran()
            .success();
        let rundir = root.join("run");
        std::fs::create_dir_all(&rundir).expect("run dir");
        let container = format!("{stack}-app");
        let _remove = Remove {
            cli: &cli,
            container: container.clone(),
            network: stack.clone(),
        };
        let net = std::fs::read_to_string(out.join(format!("systemd/{stack}-network.service")))
            .expect("network unit");
        for line in keys(&net, "Service", "ExecStart") {
            let o = exec_unit_line(
                &line,
                &format!("{stack}-network.service"),
                &rundir,
                &cli.env,
            );
            assert!(o.status.success(), "{flavor} network: {}", text_out(&o));
        }
        let unit_name = format!("{container}.service");
        let unit = std::fs::read_to_string(out.join(format!("systemd/{unit_name}"))).expect("unit");
        for line in keys(&unit, "Service", "ExecStartPre") {
            let _ = exec_unit_line(&line, &unit_name, &rundir, &cli.env);
        }
        let exec = keys(&unit, "Service", "ExecStart");
        let mut foreground = None;
        if flavor == "docker" {
            // `docker run` in the foreground (Type=simple): systemd would keep it running.
            let spec = |c: char| panic!("unexpected specifier %{c}");
            let args = systemd_exec(&exec[0], &spec, &BTreeMap::new());
            foreground = Some(
                Command::new(&args[0])
                    .args(&args[1..])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("docker run"),
            );
        } else {
            // As systemd runs it: with the unit's own Environment=.
            let mut env = cli.env.clone();
            env.extend(service_env(&unit));
            let o = exec_unit_line(&exec[0], &unit_name, &rundir, &env);
            assert!(o.status.success(), "{flavor} ExecStart: {}", text_out(&o));
        }
        let healthy = (0..60).any(|_| {
            // podman runs health checks from systemd timers, which this host has not: run it.
            let ok = if flavor == "podman" {
                cli.out(&["healthcheck", "run", &container])
                    .status
                    .success()
            } else {
                let state = cli.out(&[
                    "inspect",
                    "--format",
                    "{{.State.Health.Status}}",
                    &container,
                ]);
                String::from_utf8_lossy(&state.stdout).trim() == "healthy"
            };
            if !ok {
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            ok
        });
        let logs = text_out(&cli.out(&["logs", "--tail", "20", &container]));
        assert!(
            healthy,
            "{flavor}: {container} never turned healthy:\n{logs}"
        );
        for file in ["/tmp/env.txt", "/tmp/arg.txt"] {
            let o = cli.out(&["exec", &container, "cat", file]);
            assert!(o.status.success(), "{flavor}: {}", text_out(&o));
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                MULTI,
                "{flavor}: {file} differs from the spec's value"
            );
        }
        for line in keys(&unit, "Service", "ExecStop") {
            let o = exec_unit_line(&line, &unit_name, &rundir, &cli.env);
            assert!(o.status.success(), "{flavor} ExecStop: {}", text_out(&o));
        }
        if let Some(mut child) = foreground {
            let _ = child.wait();
        }
    }
}

// Pins that a unit template given with `--templates` is read back before anything is written: a
// line that is neither a section, a comment nor `Key=value` fails the render (exit 2) and the
// output directory is not created. The built-in template's units are read back by tests/mutate.rs.
#[test]
fn broken_user_unit_template_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tpl = tmp.path().join("tpl/systemd");
    std::fs::create_dir_all(&tpl).expect("mkdir");
    let builtin = std::fs::read_to_string(repo().join("templates/systemd/unit.j2")).expect("read");
    std::fs::write(
        tpl.join("unit.j2"),
        format!("{builtin}not a key value line\n"),
    )
    .expect("write");
    let out = tmp.path().join("out");
    let o = bin()
        .arg("render")
        .arg(repo().join("examples/starter.yaml"))
        .args(["--target", "systemd", "--templates"])
        .arg(tmp.path().join("tpl"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not parse back"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.join("systemd").exists());
}

const NAMED: &str = r#"apiVersion: misp-gen/v1
name: named
secrets:
  dbpw: { generate: password }
database:
  engine: mariadb
  version: "10.11"
  name: misp
  user: misp
  password: dbpw
  hostname: db
services:
  web:
    image: docker.io/library/nginx:1.27
    env:
      MODULES_URL: http://${services.misp-modules.host}:${services.misp-modules.port}
      MYSQL_HOST: ${database.host}
    depends_on: { misp-modules: started, database: healthy }
  misp-modules:
    image: docker.io/library/nginx:1.27
    ports: [{ name: modules, port: 6666 }]
"#;

// A service is reached by its own name on systemd too: every container (of every flavour) carries
// the network alias `S` on the stack's network, the embedded database its `hostname` as well, and
// `${services.S.host}` and `${database.host}` resolve to those names; containers and units keep
// `<name>-<service>`.
#[test]
fn services_are_reached_by_their_own_names() {
    for flavor in [Flavor::Quadlet, Flavor::Podman, Flavor::Docker] {
        let files = render_mem(NAMED, flavor, &|_| None).expect("render");
        let ext = if flavor == Flavor::Quadlet {
            "container"
        } else {
            "service"
        };
        let alias = |unit: &str, name: &str| {
            let text = text_of(&files, &format!("systemd/named-{unit}.{ext}"));
            assert!(
                text.contains(&format!("\nNetworkAlias={name}\n"))
                    || text.contains(&format!("--network-alias={name} "))
                    || text.contains(&format!("--network-alias={name}\n")),
                "{flavor:?} {unit}: alias {name}\n{text}"
            );
            text
        };
        let web = alias("web", "web");
        alias("misp-modules", "misp-modules");
        alias("database", "database");
        alias("database", "db");
        assert!(
            web.contains("MODULES_URL=http://misp-modules:6666"),
            "{flavor:?}\n{web}"
        );
        assert!(web.contains("MYSQL_HOST=db"), "{flavor:?}\n{web}");
    }
}

// A container's name that is another service's name on the stack's network is refused at the
// service: `web` of `misp` is the container `misp-web`, and the service `misp-web` answers to that.
#[test]
fn a_container_name_that_is_another_services_name_is_refused() {
    let spec = r"apiVersion: misp-gen/v1
name: misp
services:
  web:
    image: docker.io/library/nginx:1.27
  misp-web:
    image: docker.io/library/nginx:1.27
";
    let diags = diags_of(render_mem(spec, Flavor::Quadlet, &|_| None));
    assert!(
        diags.iter().any(|d| d
            .message
            .contains("`misp-web` would be a name of both `misp-web` and `web`")
            || d.message
                .contains("`misp-web` would be a name of both `web` and `misp-web`")),
        "{diags:?}"
    );
}
