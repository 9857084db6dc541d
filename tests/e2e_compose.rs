//! End to end on the real Docker Engine with Compose v5: the stack of `tests/e2e/stack.yaml`
//! (`MariaDB` through `database:`, a busybox web server, a non-root worker with secrets, a file and a
//! shared volume) rendered, started with `docker-compose up -d --wait`, checked from outside and
//! inside the containers, upgraded with a changed setting, and torn down; and the `ha` profile's
//! replicated web service behind the rendered `HAProxy`, which keeps answering when a replica stops.
//!
//! The images come from `tests/e2e/build-images.sh` (no registry is reachable). Where no engine
//! answers, or the images or Compose v5 are missing, the tests say why and pass; under CI=true
//! each of those is a failure.

#![expect(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{render, tool, tree};

const IMAGES: &[&str] = &[
    "docker.io/library/busybox:1.35.0",
    "docker.io/library/mariadb:10.11",
    "docker.io/library/haproxy:3.0.5",
];

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// Skip with a reason, or fail under CI=true.
fn unavailable(what: &str, why: &str) {
    common::skip(what, why);
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run, and return stdout; panic with everything it said when it fails.
fn ok(cmd: &mut Command) -> String {
    let o = output(cmd);
    assert!(o.status.success(), "{cmd:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The Docker CLI with a daemon that answers, Compose v5, and the e2e images; else `None` (skip).
struct Engine {
    docker: PathBuf,
    compose: PathBuf,
}

fn engine() -> Option<Engine> {
    let docker = tool("docker")?;
    let info = output(Command::new(&docker).args(["info", "--format", "{{.ServerVersion}}"]));
    if !info.status.success() {
        unavailable(
            "Docker Engine",
            &format!("no Docker Engine answers ({})", text(&info).trim()),
        );
        return None;
    }
    // Compose v2 or later: `tool` passes over Debian's v1.
    let compose = tool("docker-compose")?;
    for image in IMAGES {
        let o = output(Command::new(&docker).args(["image", "inspect", "--format", "x", image]));
        if !o.status.success() {
            unavailable(
                "e2e images",
                &format!("the image {image} is missing: run tests/e2e/build-images.sh"),
            );
            return None;
        }
    }
    Some(Engine { docker, compose })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
}

/// One plain HTTP/1.0 request: (status, body).
fn http(port: u16, method: &str, path: &str, headers: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\n{headers}\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// GET over HTTPS with curl (the certificate is the stack's own CA's).
fn https_get(curl: &Path, ca: &Path, path: &str) -> Option<String> {
    let o = Command::new(curl)
        .args(["-fsS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", "web.e2e.test:443:127.0.0.1"])
        .arg(format!("https://web.e2e.test{path}"))
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Replace each `from` (which must occur exactly once) with `to`.
fn customise(text: &str, edits: &[(&str, &str)]) -> String {
    let mut t = text.to_owned();
    for (from, to) in edits {
        assert_eq!(t.matches(from).count(), 1, "{from:?} in the e2e spec");
        t = t.replace(from, to);
    }
    t
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A Compose project on the engine, removed with everything it made when dropped (even when the
/// test fails half-way).
struct Project<'e> {
    engine: &'e Engine,
    name: String,
    out: PathBuf,
}

impl Project<'_> {
    fn compose(&self) -> Command {
        let mut c = Command::new(&self.engine.compose);
        c.arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(self.out.join("compose/compose.yaml"));
        c
    }

    fn docker(&self) -> Command {
        Command::new(&self.engine.docker)
    }

    fn label(&self) -> String {
        format!("label=com.docker.compose.project={}", self.name)
    }

    /// `up -d --wait`; on failure, the state and logs of every container in the panic message.
    fn up(&self) -> Duration {
        let t = Instant::now();
        let o = output(
            self.compose()
                .args(["up", "-d", "--wait", "--wait-timeout", "300"]),
        );
        if !o.status.success() {
            let ps = output(self.compose().args(["ps", "-a"]));
            let logs = output(self.compose().args(["logs", "--no-color", "--tail", "40"]));
            panic!(
                "docker-compose up -d --wait failed:\n{}\n{}\n{}",
                text(&o),
                text(&ps),
                text(&logs)
            );
        }
        t.elapsed()
    }

    /// Container name of each service's containers, by service.
    fn containers(&self) -> BTreeMap<String, Vec<String>> {
        let list = ok(self.docker().args([
            "ps",
            "-a",
            "--filter",
            &self.label(),
            "--format",
            "{{.Label \"com.docker.compose.service\"}} {{.Names}}",
        ]));
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in list.lines() {
            let (svc, name) = line.split_once(' ').expect("service and name");
            out.entry(svc.to_owned()).or_default().push(name.to_owned());
        }
        for v in out.values_mut() {
            v.sort();
        }
        out
    }

    fn container(&self, service: &str) -> String {
        let c = self.containers();
        let names = c
            .get(service)
            .unwrap_or_else(|| panic!("no container of {service}: {c:?}"));
        assert_eq!(names.len(), 1, "{service}: {names:?}");
        names[0].clone()
    }

    fn inspect(&self, container: &str) -> serde_json::Value {
        let j = ok(self.docker().args(["inspect", container]));
        let v: serde_json::Value = serde_json::from_str(&j).expect("docker inspect JSON");
        v[0].clone()
    }

    /// `docker exec` with `stdin` on the container's standard input.
    fn exec(&self, container: &str, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .docker()
            .args(["exec", "-i", container])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker exec");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("docker exec")
    }

    fn exec_ok(&self, container: &str, args: &[&str]) -> String {
        let o = self.exec(container, args, "");
        assert!(
            o.status.success(),
            "docker exec {container} {args:?}:\n{}",
            text(&o)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// SQL through the mariadb client inside the database container, as `user` with `password`
    /// (given on standard input: never on a command line).
    fn sql(&self, user: &str, password: &str, sql: &str) -> Output {
        let db = self.container("database");
        self.exec(
            &db,
            &[
                "sh",
                "-c",
                "read -r pw; MYSQL_PWD=\"$pw\" exec mariadb -h 127.0.0.1 -u \"$1\" --skip-column-names app -e \"$2\"",
                "sh",
                user,
                sql,
            ],
            &format!("{password}\n"),
        )
    }

    /// Containers, volumes and networks of this project still on the engine.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for (kind, args) in [
            ("container", vec!["ps", "-aq"]),
            ("volume", vec!["volume", "ls", "-q"]),
            ("network", vec!["network", "ls", "-q"]),
        ] {
            let o = output(self.docker().args(&args).arg("--filter").arg(self.label()));
            left.extend(
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(|l| format!("{kind} {l}")),
            );
        }
        left
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let _ = self
            .compose()
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .output();
        // Whatever `down` could not remove (an unreadable compose.yaml, say), by label.
        for (list, rm) in [
            (vec!["ps", "-aq"], vec!["rm", "-f", "-v"]),
            (vec!["volume", "ls", "-q"], vec!["volume", "rm", "-f"]),
            (vec!["network", "ls", "-q"], vec!["network", "rm"]),
        ] {
            if let Ok(o) = self
                .docker()
                .args(&list)
                .arg("--filter")
                .arg(self.label())
                .output()
            {
                for id in String::from_utf8_lossy(&o.stdout).lines() {
                    let _ = self.docker().args(&rm).arg(id).output();
                }
            }
        }
    }
}

/// Container events of the project since `since` (unix seconds): (nanoseconds, service, action).
fn events(p: &Project<'_>, since: u64) -> Vec<(u128, String, String)> {
    let j = ok(p.docker().args([
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &(unix_now() + 1).to_string(),
        "--filter",
        "type=container",
        "--filter",
        &p.label(),
        "--format",
        "{{json .}}",
    ]));
    j.lines()
        .map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).expect("event JSON");
            (
                e["timeNano"].as_u64().map_or(0, u128::from),
                e["Actor"]["Attributes"]["com.docker.compose.service"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["Action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn first(events: &[(u128, String, String)], service: &str, action: &str) -> u128 {
    events
        .iter()
        .filter(|(_, s, a)| s == service && a == action)
        .map(|(t, _, _)| *t)
        .min()
        .unwrap_or_else(|| panic!("no {action:?} event of {service}: {events:?}"))
}

fn assert_all_healthy(p: &Project<'_>, services: &[&str]) {
    let containers = p.containers();
    assert_eq!(
        containers.keys().map(String::as_str).collect::<Vec<_>>(),
        services,
        "the project's services"
    );
    for name in containers.values().flatten() {
        let state = &p.inspect(name)["State"];
        assert_eq!(state["Status"], "running", "{name}: {state}");
        assert_eq!(state["Health"]["Status"], "healthy", "{name}: {state}");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// Pins that the single-node stack runs as rendered on Docker with Compose v5: every container
// healthy; each dependant started only after its dependency was healthy; the published port serves
// the `files:` page and, through the shared volume, what the worker wrote; the non-root worker reads
// its secret (mounted, 0444, and in its environment), the TLS secret's `items` under their new
// names and without the key, and its config file (0644); MariaDB accepts the generated password
// and refuses another. Then an upgrade: rows written, the spec's greeting and the database's
// health-check interval changed, rendered again and `up -d --wait` again: the new greeting is
// served, the database container is a new one with the old rows, and no secret changed on disk or
// in the containers. Then a replaced secret (the TLS secret, generated anew; compose.yaml
// unchanged) recreates the worker, which mounts it, and neither web nor the database; a changed
// file (the page) recreates web alone. `down -v` leaves nothing of the project on the engine.
#[test]
#[expect(clippy::too_many_lines, reason = "one deployment, step by step")]
fn compose_stack_runs_and_upgrades_keeping_data_and_secrets() {
    let Some(engine) = engine() else {
        return;
    };
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tmp");
    let name = format!("mge2e-{}", std::process::id());
    let port = free_port();
    let spec_text = read(&e2e_dir().join("stack.yaml"));
    let base = customise(
        &spec_text,
        &[
            ("name: e2e-stack", &format!("name: {name}")),
            ("publish: 18480", &format!("publish: {port}")),
        ],
    );
    let spec = tmp.path().join("stack.yaml");
    std::fs::write(&spec, &base).expect("spec");
    let out = tmp.path().join("out");
    render(&spec, &out, &["--target", "compose"]);
    let p = Project {
        engine: &engine,
        name: name.clone(),
        out: out.clone(),
    };
    let since = unix_now() - 1;
    let up1 = p.up();

    // Every container healthy, and started in dependency order.
    assert_all_healthy(&p, &["database", "web", "worker"]);
    let ev = events(&p, since);
    assert!(
        first(&ev, "database", "health_status: healthy") < first(&ev, "web", "start"),
        "web started before the database was healthy: {ev:?}"
    );
    assert!(
        first(&ev, "web", "health_status: healthy") < first(&ev, "worker", "start"),
        "worker started before web was healthy: {ev:?}"
    );

    // The published port: the `files:` page, and the worker's status through the shared volume.
    let page = http(port, "GET", "/", "").expect("the published port answers");
    assert_eq!(page, (200, format!("<h1>hello from {name}</h1>\n")));
    assert_eq!(
        http(port, "GET", "/shared/status.txt", ""),
        Some((200, "worker 1000 says hello\n".to_owned())),
        "the worker's status, written to the shared volume, served by web"
    );

    // The worker: non-root, and it reads what it was given, with the modes it was given.
    let worker = p.container("worker");
    assert_eq!(p.exec_ok(&worker, &["id", "-u"]).trim(), "1000");
    let token = read(&out.join("secrets/app_token"));
    assert_eq!(
        p.exec_ok(&worker, &["cat", "/run/secrets/app/app_token"]),
        token
    );
    assert_eq!(
        p.exec_ok(&worker, &["sh", "-c", "printf %s \"$APP_TOKEN\""]),
        token,
        "the secret-bearing environment"
    );
    assert_eq!(
        p.exec_ok(&worker, &["cat", "/etc/worker/tls/server.crt"]),
        read(&out.join("secrets/tls/tls.crt"))
    );
    assert_eq!(
        p.exec_ok(&worker, &["cat", "/etc/worker/tls/ca.pem"]),
        read(&out.join("secrets/tls/ca.crt"))
    );
    assert_eq!(
        p.exec_ok(&worker, &["ls", "/etc/worker/tls"]),
        "ca.pem\nserver.crt\n",
        "items: renamed, and tls.key left out"
    );
    assert_eq!(
        p.exec_ok(&worker, &["cat", "/etc/worker/worker.conf"]),
        "greeting=hello\ndatabase=db:3306\n"
    );
    // Other containers by the names the spec gives them: a service by its own name, the
    // database by its `hostname` (a network alias of the compose service `database`).
    p.exec_ok(
        &worker,
        &[
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://web:8080/index.html",
        ],
    );
    p.exec_ok(&worker, &["nslookup", "db"]);
    assert_eq!(
        p.exec_ok(
            &worker,
            &[
                "stat",
                "-c",
                "%n %a",
                "/run/secrets/app/app_token",
                "/etc/worker/tls/server.crt",
                "/etc/worker/tls/ca.pem",
                "/etc/worker/worker.conf",
            ]
        ),
        "/run/secrets/app/app_token 444\n/etc/worker/tls/server.crt 444\n/etc/worker/tls/ca.pem 444\n/etc/worker/worker.conf 644\n"
    );

    // The database: the generated password, and only it.
    let db_password = read(&out.join("secrets/db_password"));
    let o = p.sql("app", &db_password, "select current_user()");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "app@%");
    let o = p.sql("app", "not-the-password", "select 1");
    assert!(!o.status.success(), "a wrong password was accepted");
    assert!(text(&o).contains("Access denied"), "{}", text(&o));
    let root = read(&out.join("secrets/db_root_password"));
    let o = p.sql("root", &root, "select 1");
    assert!(o.status.success(), "root: {}", text(&o));
    let row = format!("kept-{name}");
    let o = p.sql(
        "app",
        &db_password,
        &format!("create table kept (v varchar(64)); insert into kept values ('{row}')"),
    );
    assert!(o.status.success(), "{}", text(&o));

    // The upgrade: a changed setting, rendered again over the same output.
    let secrets_before = tree(&out.join("secrets"));
    let db_before = p.inspect(&p.container("database"))["Id"].clone();
    let upgraded = customise(
        &base,
        &[
            ("greeting: hello", "greeting: bonjour"),
            (
                "wait: { timeout: 180s, interval: 2s }",
                "wait: { timeout: 180s, interval: 3s }",
            ),
        ],
    );
    std::fs::write(&spec, upgraded).expect("spec");
    render(&spec, &out, &["--target", "compose"]);
    assert!(
        tree(&out.join("secrets")) == secrets_before,
        "the re-render changed a file under secrets/"
    );
    let up2 = p.up();
    assert_all_healthy(&p, &["database", "web", "worker"]);
    assert_eq!(
        http(port, "GET", "/", ""),
        Some((200, format!("<h1>bonjour from {name}</h1>\n"))),
        "the changed setting took effect"
    );
    assert_eq!(
        http(port, "GET", "/shared/status.txt", ""),
        Some((200, "worker 1000 says bonjour\n".to_owned())),
        "GET /shared/status.txt on port {port}: the worker's file through the shared volume"
    );
    let db = p.container("database");
    assert_ne!(
        p.inspect(&db)["Id"],
        db_before,
        "the database container was recreated (its health check changed)"
    );
    assert_eq!(
        p.inspect(&db)["Config"]["Healthcheck"]["Interval"],
        3_000_000_000_u64
    );
    let o = p.sql("app", &db_password, "select v from kept");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        row,
        "the data survived"
    );
    let o = p.sql("root", &root, "select 1");
    assert!(
        o.status.success(),
        "mariadb `select 1` as root in {db}: {}",
        text(&o)
    );
    let worker = p.container("worker");
    assert_eq!(
        p.exec_ok(&worker, &["cat", "/run/secrets/app/app_token"]),
        token
    );
    assert_eq!(
        p.exec_ok(&worker, &["sh", "-c", "printf %s \"$APP_TOKEN\""]),
        token
    );

    // A replaced secret recreates exactly the containers that mount it, with compose.yaml
    // unchanged: the TLS secret, which the worker alone mounts (and does not read from its
    // environment), generated anew. Its label comes from secrets/compose/worker.labels.
    let ids = |p: &Project<'_>| -> BTreeMap<&'static str, serde_json::Value> {
        ["database", "web", "worker"]
            .into_iter()
            .map(|s| (s, p.inspect(&p.container(s))["Id"].clone()))
            .collect()
    };
    let compose_yaml = read(&out.join("compose/compose.yaml"));
    let before = ids(&p);
    std::fs::remove_dir_all(out.join("secrets/tls")).expect("rm tls");
    render(&spec, &out, &["--target", "compose"]);
    assert_eq!(
        read(&out.join("compose/compose.yaml")),
        compose_yaml,
        "compose.yaml changed with a secret"
    );
    let up3 = p.up();
    assert_all_healthy(&p, &["database", "web", "worker"]);
    let after = ids(&p);
    assert_ne!(
        after["worker"], before["worker"],
        "the worker mounts the secret"
    );
    assert_eq!(after["web"], before["web"], "web does not mount the secret");
    assert_eq!(after["database"], before["database"]);
    let worker = p.container("worker");
    assert_eq!(
        p.exec_ok(&worker, &["cat", "/etc/worker/tls/server.crt"]),
        read(&out.join("secrets/tls/tls.crt")),
        "the new certificate"
    );

    // A changed file recreates exactly the containers that mount it: the page, web's alone.
    let before = after;
    let page_changed = customise(
        &read(&spec),
        &[(
            "<h1>${params.greeting} from ${name}</h1>",
            "<h2>${params.greeting} from ${name}</h2>",
        )],
    );
    std::fs::write(&spec, page_changed).expect("spec");
    render(&spec, &out, &["--target", "compose"]);
    let up4 = p.up();
    assert_all_healthy(&p, &["database", "web", "worker"]);
    let after = ids(&p);
    assert_ne!(after["web"], before["web"], "web mounts the page");
    assert_eq!(
        after["worker"], before["worker"],
        "the worker does not mount the page"
    );
    assert_eq!(after["database"], before["database"]);
    assert_eq!(
        http(port, "GET", "/", ""),
        Some((200, format!("<h2>bonjour from {name}</h2>\n")))
    );

    // Down, and nothing left behind.
    let o = output(p.compose().args(["down", "-v", "-t", "5"]));
    assert!(o.status.success(), "down -v: {}", text(&o));
    assert_eq!(
        p.leftovers(),
        Vec::<String>::new(),
        "left behind by down -v"
    );
    eprintln!(
        "compose e2e: first up {:.1}s, upgrade up {:.1}s, secret {:.1}s, file {:.1}s, whole test {:.1}s",
        up1.as_secs_f64(),
        up2.as_secs_f64(),
        up3.as_secs_f64(),
        up4.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

// Pins the `ha` profile on Compose: three web replicas behind the rendered `edge-proxy` (the
// HAProxy image, as its own non-root user): HTTP on 80 redirects to HTTPS on 443, which presents
// the stack's certificate, spreads requests over the replicas, refuses a body over max_body_size,
// and keeps answering — every request — while one replica is stopped.
#[test]
#[expect(clippy::too_many_lines, reason = "one deployment, step by step")]
fn compose_ha_load_balancer_survives_a_stopped_replica() {
    let Some(engine) = engine() else {
        return;
    };
    let Some(curl) = tool("curl") else {
        return;
    };
    if !port_free(80) || !port_free(443) {
        unavailable(
            "ports 80 and 443",
            "the edge proxy publishes ports 80 and 443, and one of them is in use",
        );
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let name = format!("mge2e-ha-{}", std::process::id());
    let spec = tmp.path().join("ha.yaml");
    std::fs::write(
        &spec,
        customise(
            &read(&e2e_dir().join("ha.yaml")),
            &[("name: e2e-ha", &format!("name: {name}"))],
        ),
    )
    .expect("spec");
    let out = tmp.path().join("out");
    render(&spec, &out, &["--target", "compose"]);
    let p = Project {
        engine: &engine,
        name: name.clone(),
        out: out.clone(),
    };
    p.up();
    let containers = p.containers();
    assert_eq!(
        containers.get("web").map(Vec::len),
        Some(3),
        "{containers:?}"
    );
    for name in &containers["web"] {
        assert_eq!(
            p.inspect(name)["State"]["Health"]["Status"],
            "healthy",
            "{name}"
        );
    }
    let proxy = p.container("edge-proxy");
    assert_eq!(p.inspect(&proxy)["State"]["Status"], "running");
    assert_ne!(
        p.exec_ok(&proxy, &["id", "-u"]).trim(),
        "0",
        "HAProxy runs as its own user"
    );

    let ca = out.join("secrets/tls/ca.crt");
    // HAProxy marks servers up after its first checks: wait for every replica to be served.
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 3 && Instant::now() < deadline {
        if let Some(host) = https_get(&curl, &ca, "/host.txt") {
            seen.insert(host.trim().to_owned());
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert_eq!(seen.len(), 3, "requests reach every replica: {seen:?}");
    let (status, _) = http(80, "GET", "/", "").expect("port 80 answers");
    assert_eq!(status, 301, "plain HTTP redirects to HTTPS");
    let o = output(
        Command::new(&curl)
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .args(["--resolve", "web.e2e.test:443:127.0.0.1"])
            .args(["-H", "Content-Length: 2000000", "-X", "POST"])
            .arg("https://web.e2e.test/index.html"),
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "413",
        "max_body_size: {}",
        text(&o)
    );

    // Stop one replica: every request still gets the page.
    let stopped = containers["web"][0].clone();
    ok(p.docker().args(["stop", "-t", "1", &stopped]));
    let stopped_host = p.inspect(&stopped)["Config"]["Hostname"]
        .as_str()
        .expect("hostname")
        .to_owned();
    let mut failures = Vec::new();
    let mut served = std::collections::BTreeSet::new();
    let t = Instant::now();
    for i in 0..30 {
        match https_get(&curl, &ca, "/host.txt") {
            Some(h) => {
                served.insert(h.trim().to_owned());
            }
            None => failures.push(i),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        failures.is_empty(),
        "requests {failures:?} of 30 failed after a replica stopped ({:.1}s)",
        t.elapsed().as_secs_f64()
    );
    assert!(
        !served.contains(&stopped_host),
        "the stopped replica {stopped_host} served {served:?}"
    );
    assert_eq!(served.len(), 2, "the two others share the load: {served:?}");

    let o = output(p.compose().args(["down", "-v", "-t", "5"]));
    assert!(o.status.success(), "down -v: {}", text(&o));
    assert_eq!(
        p.leftovers(),
        Vec::<String>::new(),
        "left behind by down -v"
    );
}

/// The value of tests/e2e/multiline.yaml, as written there.
const MULTI: &str = "line one\n  \"double\" 'single' 100% $HOME `tick` back\\slash \\n (not a line break)\n\ttab;semi\r\nlast line\n";

// Pins that a multi-line value (tests/e2e/multiline.yaml: line breaks, a carriage return, a tab,
// quotes, `%`, `$`, a backquote, backslashes) arrives byte for byte in a container's environment
// and argument on Docker with Compose v5: the container turns healthy (`up --wait`) only when both
// equal the `files:` copy, and both are read back here. (systemd flavours: tests/systemd.rs and
// tests/e2e/quadlet-systemd.sh.)
#[test]
fn compose_carries_a_multiline_value() {
    let Some(engine) = engine() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let name = format!("mgml-{}", std::process::id());
    let spec = tmp.path().join("multiline.yaml");
    std::fs::write(
        &spec,
        customise(
            &read(&e2e_dir().join("multiline.yaml")),
            &[("name: e2e-multi", &format!("name: {name}"))],
        ),
    )
    .expect("spec");
    let out = tmp.path().join("out");
    render(&spec, &out, &["--target", "compose"]);
    assert_eq!(read(&out.join("compose/files/expected")), MULTI);
    let p = Project {
        engine: &engine,
        name,
        out,
    };
    p.up();
    assert_all_healthy(&p, &["app"]);
    let app = p.container("app");
    for file in ["/tmp/env.txt", "/tmp/arg.txt"] {
        assert_eq!(
            p.exec_ok(&app, &["cat", file]),
            MULTI,
            "{file} differs from the spec's value"
        );
    }
}
