//! The Kubernetes wait init containers and the TCP health check of compose and systemd run for
//! real. Every `wait-*` init container's exact command and arguments, read from the rendered
//! manifests, run on the Docker Engine in the image and as the user the manifest gives them,
//! against a dependency that answers and one that does not; the rendered TCP check runs in the
//! same images against an open and a closed port. The images are the end-to-end ones
//! (tests/e2e/build-images.sh): busybox (Debian's `nc` has no `-z`, `nslookup` but no `getent`),
//! the Debian one (bash with `/dev/tcp` and `getent`, no `nc`), and one made here from it without
//! bash and `getent` (nothing to wait with). Only the host, port, limit and interval arguments of
//! a wait are replaced, to point at this test's containers and keep it short.
//!
//! Where no engine answers or the images are missing, the test says why and passes; under CI=true
//! that is a failure.

#![expect(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::tool;
use serde_json::Value;

const BUSYBOX: &str = "docker.io/library/busybox:1.35.0";
const DEBIAN: &str = "docker.io/library/mariadb:10.11";
/// Made by this test from [`DEBIAN`]: no bash, no `getent`, no `nc`, no `nslookup`.
const BARE: &str = "misp-gen-e2e-bare:1";

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The Docker CLI, when a daemon answers and the images are there.
fn docker() -> Option<PathBuf> {
    let docker = tool("docker")?;
    if !run(Command::new(&docker).args(["info", "--format", "{{.ServerVersion}}"]))
        .status
        .success()
    {
        common::skip("Docker Engine", "no Docker Engine answers");
        return None;
    }
    for image in [BUSYBOX, DEBIAN] {
        if !run(Command::new(&docker).args(["image", "inspect", "--format", "x", image]))
            .status
            .success()
        {
            common::skip(
                "e2e images",
                &format!("the image {image} is missing: run tests/e2e/build-images.sh docker"),
            );
            return None;
        }
    }
    // The image with nothing to wait with: the Debian one less bash and getent (dash stays: the
    // script needs a shell; an image without one fails to start, which the kubelet reports).
    let mut build = Command::new(&docker);
    build
        .args(["build", "--quiet", "--tag", BARE, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = build.spawn().expect("docker build starts");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(
            stdin,
            "FROM {DEBIAN}\nRUN rm -f /usr/bin/bash /bin/bash /usr/bin/getent /bin/getent"
        )
        .expect("write Dockerfile");
    }
    let o = child.wait_with_output().expect("docker build ends");
    assert!(o.status.success(), "docker build {BARE}: {}", text(&o));
    Some(docker)
}

/// A wait init container as rendered.
#[derive(Debug, Clone)]
struct Wait {
    workload: String,
    image: String,
    user: String,
    command: Vec<String>,
    args: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every `wait-*` init container under `dir/kubernetes`.
fn waits(dir: &Path) -> Vec<Wait> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("kubernetes")).expect("kubernetes/") {
        let p = e.expect("entry").path();
        if p.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let bytes = std::fs::read(&p).expect("readable");
        let doc = misp_gen::spec::load::load(&p.display().to_string(), &bytes)
            .unwrap_or_else(|d| panic!("{}: {}", p.display(), d.message))
            .value;
        let Some(inits) = doc
            .pointer("/spec/template/spec/initContainers")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for c in inits {
            let name = c["name"].as_str().expect("a name");
            if !name.starts_with("wait-") {
                continue;
            }
            let sc = &c["securityContext"];
            out.push(Wait {
                workload: doc["metadata"]["name"].as_str().expect("name").to_owned(),
                image: c["image"].as_str().expect("image").to_owned(),
                user: format!("{}:{}", sc["runAsUser"], sc["runAsGroup"]),
                command: strings(&c["command"]),
                args: strings(&c["args"]),
            });
        }
    }
    out.sort_by(|a, b| a.workload.cmp(&b.workload));
    out
}

/// Runs `w` on `net` with host, port and limit replaced; returns what it said and how long it took.
fn run_wait(
    docker: &Path,
    net: &str,
    w: &Wait,
    host: &str,
    port: &str,
    limit: u32,
) -> (Output, Duration) {
    // Arguments: $0 WHAT MODE HOST PORT LIMIT EVERY.
    assert_eq!(w.args.len(), 7, "{w:?}");
    let mut args = w.args.clone();
    host.clone_into(&mut args[3]);
    if !args[4].is_empty() {
        port.clone_into(&mut args[4]);
    }
    args[5] = limit.to_string();
    args[6] = "1".into();
    let (entry, rest) = w.command.split_first().expect("a command");
    let started = Instant::now();
    let o = run(Command::new("timeout")
        .arg("120")
        .arg(docker)
        .args(["run", "--rm", "--network", net, "--read-only", "--user"])
        .arg(&w.user)
        .args(["--entrypoint", entry])
        .arg(&w.image)
        .args(rest)
        .args(&args));
    (o, started.elapsed())
}

struct Cleanup {
    docker: PathBuf,
    net: String,
    listener: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new(&self.docker)
            .args(["rm", "-f", &self.listener])
            .output();
        let _ = Command::new(&self.docker)
            .args(["network", "rm", &self.net])
            .output();
    }
}

const SPEC: &str = r"apiVersion: misp-gen/v1
name: waits
images: { pull: never }
services:
  target:
    image: docker.io/library/busybox:1.35.0
    command: [httpd, -f, -p, '8080']
    ports: [{ name: http, port: 8080 }]
    healthcheck: { tcp: http }
  busybox-healthy: { image: docker.io/library/busybox:1.35.0, depends_on: { target: healthy } }
  busybox-started: { image: docker.io/library/busybox:1.35.0, depends_on: { target: started } }
  debian-healthy: { image: docker.io/library/mariadb:10.11, depends_on: { target: healthy } }
  debian-started: { image: docker.io/library/mariadb:10.11, depends_on: { target: started } }
  bare-healthy: { image: misp-gen-e2e-bare:1, depends_on: { target: healthy } }
  bare-started: { image: misp-gen-e2e-bare:1, depends_on: { target: started } }
";

// Pins that every rendered wait succeeds in seconds when its dependency is there, gives up with
// the probe's own words when it is not, and refuses at once, naming what is missing, in an image
// that cannot wait, for both `healthy` (tcp) and `started` (dns) waits.
#[test]
fn rendered_waits_run_in_real_images() {
    let Some(docker) = docker() else { return };
    // The premise: Debian's busybox nc has no -z, the case that looped silently before.
    let o = run(Command::new(&docker).args(["run", "--rm", BUSYBOX, "nc", "-z", "127.0.0.1", "1"]));
    assert!(text(&o).contains("invalid option"), "{}", text(&o));

    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = tmp.path().join("waits.yaml");
    std::fs::write(&spec, SPEC).expect("write spec");
    let out = tmp.path().join("out");
    common::render(&spec, &out, &["--target", "kubernetes"]);
    let waits = waits(&out);
    let names: Vec<&str> = waits.iter().map(|w| w.workload.as_str()).collect();
    assert_eq!(
        names,
        [
            "waits-bare-healthy",
            "waits-bare-started",
            "waits-busybox-healthy",
            "waits-busybox-started",
            "waits-debian-healthy",
            "waits-debian-started"
        ]
    );

    let id = std::process::id();
    let guard = Cleanup {
        docker: docker.clone(),
        net: format!("misp-gen-waits-{id}"),
        listener: format!("misp-gen-waits-{id}-up"),
    };
    let net = guard.net.as_str();
    let listener = guard.listener.as_str();
    let o = run(Command::new(&docker).args(["network", "create", net]));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(Command::new(&docker).args([
        "run",
        "-d",
        "--name",
        listener,
        "--network",
        net,
        BUSYBOX,
        "httpd",
        "-f",
        "-p",
        "8080",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let absent = format!("misp-gen-waits-{id}-absent");
    let table: Vec<String> = waits
        .iter()
        .map(|w| check_wait(&docker, net, listener, &absent, w))
        .collect();
    eprintln!("waits run for real:\n  {}", table.join("\n  "));
}

/// Runs one rendered wait against the listener (there) and against a closed port or an unknown
/// name (not there); returns a line for the table.
fn check_wait(docker: &Path, net: &str, listener: &str, absent: &str, w: &Wait) -> String {
    let tcp = w.args[2] == "tcp";
    let bare = w.workload.contains("bare");
    // There: the listener's port, or its name.
    let (o, took) = run_wait(docker, net, w, listener, "8080", 60);
    let said = text(&o);
    if bare {
        let missing = if tcp {
            "this image has neither nc nor a bash with /dev/tcp"
        } else {
            "this image has neither getent nor nslookup"
        };
        assert_eq!(o.status.code(), Some(1), "{}: {said}", w.workload);
        assert!(said.contains(missing), "{}: {said}", w.workload);
        assert!(said.contains("targets.kubernetes.wait_image"), "{said}");
        assert!(took < Duration::from_secs(20), "{}: {took:?}", w.workload);
        return format!("{:<24} refused at once ({took:.1?})", w.workload);
    }
    assert!(
        o.status.success(),
        "{} did not see {listener}: {said}",
        w.workload
    );
    assert!(said.contains("is there"), "{said}");
    assert!(took < Duration::from_secs(20), "{}: {took:?}", w.workload);
    // Not there: a closed port, or a name nothing answers to.
    let (host, port) = if tcp {
        (listener, "8081")
    } else {
        (absent, "")
    };
    let (o, gave_up) = run_wait(docker, net, w, host, port, 3);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{}: {said}", w.workload);
    let why = if tcp {
        "is unreachable"
    } else {
        "does not resolve"
    };
    assert!(
        said.contains("gave up after 3s: target to "),
        "{}: {said}",
        w.workload
    );
    assert!(said.contains(why), "{}: {said}", w.workload);
    // The probe's own words are kept: a refused connection says so.
    if tcp {
        assert!(
            said.to_lowercase().contains("refused") || said.contains("can't connect"),
            "{}: the probe's error is missing: {said}",
            w.workload
        );
    }
    format!(
        "{:<24} there in {took:.1?}; gave up in {gave_up:.1?}",
        w.workload
    )
}

const HEALTH_SPEC: &str = r"apiVersion: misp-gen/v1
name: health
images: { pull: never }
services:
  busybox:
    image: docker.io/library/busybox:1.35.0
    ports: [{ name: http, port: 8080 }]
    healthcheck: { tcp: http }
  debian:
    image: docker.io/library/mariadb:10.11
    ports: [{ name: http, port: 8080 }]
    healthcheck: { tcp: http }
";

// Pins that the rendered TCP health check (the same command for compose and the podman and docker
// units) passes in busybox (whose nc has no -z) and in the Debian image (bash, no nc) when the
// port answers, and fails when nothing listens: before, busybox's check failed either way.
#[test]
fn rendered_tcp_health_checks_run_in_real_images() {
    let Some(docker) = docker() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = tmp.path().join("health.yaml");
    std::fs::write(&spec, HEALTH_SPEC).expect("write spec");
    let out = tmp.path().join("out");
    common::render(&spec, &out, &["--target", "all"]);
    let compose = std::fs::read(out.join("compose/compose.yaml")).expect("compose.yaml");
    let doc = misp_gen::spec::load::load("compose.yaml", &compose)
        .expect("compose.yaml parses")
        .value;
    let quadlet = std::fs::read_to_string(out.join("systemd/health-busybox.container"))
        .expect("quadlet unit");
    let id = std::process::id();
    let listener = format!("misp-gen-health-{id}-up");
    let guard = Cleanup {
        docker: docker.clone(),
        net: format!("misp-gen-health-{id}-unused"),
        listener: listener.clone(),
    };
    let o = run(Command::new(&docker).args([
        "run", "-d", "--name", &listener, BUSYBOX, "httpd", "-f", "-p", "8080",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let mut table = Vec::new();
    for (service, image) in [("busybox", BUSYBOX), ("debian", DEBIAN)] {
        let test = strings(&doc["services"][service]["healthcheck"]["test"]);
        assert_eq!(
            test.first().map(String::as_str),
            Some("CMD-SHELL"),
            "{test:?}"
        );
        let cmd = &test[1];
        // systemd runs the same command.
        if service == "busybox" {
            assert!(quadlet.contains(&format!("HealthCmd={cmd}")), "{quadlet}");
        }
        let check = |network: &str| {
            let started = Instant::now();
            let o = run(Command::new("timeout").arg("60").arg(&docker).args([
                "run",
                "--rm",
                "--network",
                network,
                "--entrypoint",
                "sh",
                image,
                "-c",
                cmd,
            ]));
            (o, started.elapsed())
        };
        let (up, t_up) = check(&format!("container:{listener}"));
        assert!(
            up.status.success(),
            "{service}: the check fails on an open port: {}",
            text(&up)
        );
        let (down, t_down) = check("none");
        assert!(
            !down.status.success(),
            "{service}: the check passes with nothing listening"
        );
        assert!(t_down < Duration::from_secs(20), "{service}: {t_down:?}");
        table.push(format!(
            "{service}: open port healthy in {:.1}s, closed port unhealthy in {:.1}s",
            t_up.as_secs_f64(),
            t_down.as_secs_f64()
        ));
    }
    drop(guard);
    eprintln!("TCP health checks run for real:\n  {}", table.join("\n  "));
}
