//! Every target honours the same plan: one spec whose service decides its user, working
//! directory, read-only root, capabilities, environment (plain and secret), a mounted secret, a
//! timed HTTP health check and a dependency on another service's health is rendered for compose,
//! Kubernetes and the three systemd flavours; each output is read back into the same neutral
//! settings, which must equal what the spec says.

#![expect(
    clippy::expect_used,
    reason = "a test: what it cannot read is a failure"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

const SPEC: &str = r#"apiVersion: misp-gen/v1
name: same
version: "1.0.0"
profile: single-node
secrets:
  api_token: { generate: password, length: 24 }
services:
  api:
    image: docker.io/library/nginx:1.27.3
    user: "10001:10001"
    working_dir: /srv/app
    env:
      TOKEN: ${secrets.api_token}
      MODE: plain
    ports: [{ name: http, port: 8080 }]
    mounts:
      - { secret: api_token, path: /run/token }
    healthcheck:
      http: { path: /health, port: http }
      interval: 15s
      timeout: 2s
      retries: 4
    depends_on: { worker: healthy }
    security:
      read_only: true
      cap_add: [NET_BIND_SERVICE]
  worker:
    image: docker.io/library/busybox:1.36.1
    user: "10002:10002"
    ports: [{ name: tcp, port: 9000 }]
    healthcheck:
      exec: ["true"]
"#;

/// What the spec decides for `api`, as every target must carry it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Settings {
    user: String,
    working_dir: String,
    read_only: bool,
    drop_all: bool,
    cap_add: Vec<String>,
    no_new_privileges: bool,
    /// Plain values, inline.
    env: BTreeMap<String, String>,
    /// Secret-bearing variables: carried by the target's secret mechanism, never inline.
    secret_env: Vec<String>,
    /// Where the mounted secret's file appears in the container.
    secret_file: String,
    /// (path, interval s, timeout s, retries)
    health: (String, u64, u64, u32),
    /// Services it starts after, waiting for them to be healthy.
    waits_for_healthy: Vec<String>,
}

fn expected() -> Settings {
    Settings {
        user: "10001:10001".into(),
        working_dir: "/srv/app".into(),
        read_only: true,
        drop_all: true,
        cap_add: vec!["NET_BIND_SERVICE".into()],
        no_new_privileges: true,
        env: BTreeMap::from([("MODE".into(), "plain".into())]),
        secret_env: vec!["TOKEN".into()],
        secret_file: "/run/token/api_token".into(),
        health: ("/health".into(), 15, 2, 4),
        waits_for_healthy: vec!["worker".into()],
    }
}

fn render(dir: &Path, flavor: &str) {
    let spec = dir.join("same.yaml");
    std::fs::write(&spec, SPEC).expect("spec written");
    common::render(
        &spec,
        &dir.join("out"),
        &["--target", "all", "--flavor", flavor],
    );
}

fn yaml(path: &Path) -> Value {
    let bytes = std::fs::read(path).expect("rendered file");
    misp_gen::spec::load::load(&path.display().to_string(), &bytes)
        .expect("rendered YAML parses")
        .value
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).expect("rendered file")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Seconds of a compose or unit duration (`15s`, `2s`, `1m30s` is not used here).
fn seconds(d: &str) -> u64 {
    d.trim_end_matches('s')
        .parse()
        .expect("a duration in seconds")
}

fn compose(out: &Path) -> Settings {
    let doc = yaml(&out.join("compose/compose.yaml"));
    let api = &doc["services"]["api"];
    let env = api["environment"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    // Secret-bearing variables are in the env file under secrets/.
    let env_file = text(&out.join("secrets/compose/api.env"));
    let secret_env = env_file
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
        .collect();
    let test = strings(&api["healthcheck"]["test"]).join(" ");
    let path = if test.contains("127.0.0.1:8080/health") {
        "/health"
    } else {
        "?"
    };
    let h = &api["healthcheck"];
    Settings {
        user: api["user"].as_str().unwrap_or_default().into(),
        working_dir: api["working_dir"].as_str().unwrap_or_default().into(),
        read_only: api["read_only"] == Value::Bool(true),
        drop_all: strings(&api["cap_drop"]) == ["ALL"],
        cap_add: strings(&api["cap_add"]),
        no_new_privileges: strings(&api["security_opt"]).contains(&"no-new-privileges:true".into()),
        env,
        secret_env,
        secret_file: api["secrets"][0]["target"]
            .as_str()
            .unwrap_or_default()
            .into(),
        health: (
            path.into(),
            seconds(h["interval"].as_str().unwrap_or_default()),
            seconds(h["timeout"].as_str().unwrap_or_default()),
            u32::try_from(h["retries"].as_u64().unwrap_or_default()).unwrap_or_default(),
        ),
        waits_for_healthy: api["depends_on"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, c)| c["condition"] == "service_healthy")
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn kubernetes(out: &Path) -> Settings {
    let doc = yaml(&out.join("kubernetes/deployment-api.yaml"));
    let pod = &doc["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    let mut env = BTreeMap::new();
    let mut secret_env = Vec::new();
    for e in c["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default().to_owned();
        if e["valueFrom"]["secretKeyRef"].is_object() {
            secret_env.push(name);
        } else {
            env.insert(name, e["value"].as_str().unwrap_or_default().to_owned());
        }
    }
    // A secret volume without items holds one file per key, named after the key.
    let mount = &c["volumeMounts"][0];
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .expect("the mount's volume");
    let secret_name = volume["secret"]["secretName"].as_str().unwrap_or_default();
    let secret_file = if secret_name.is_empty() {
        String::new()
    } else {
        format!(
            "{}/api_token",
            mount["mountPath"].as_str().unwrap_or_default()
        )
    };
    let p = &c["livenessProbe"];
    Settings {
        user: format!("{}:{}", sc["runAsUser"], sc["runAsGroup"]),
        working_dir: c["workingDir"].as_str().unwrap_or_default().into(),
        read_only: sc["readOnlyRootFilesystem"] == Value::Bool(true),
        drop_all: strings(&sc["capabilities"]["drop"]) == ["ALL"],
        cap_add: strings(&sc["capabilities"]["add"]),
        no_new_privileges: sc["allowPrivilegeEscalation"] == Value::Bool(false),
        env,
        secret_env,
        secret_file,
        health: (
            p["httpGet"]["path"].as_str().unwrap_or_default().into(),
            p["periodSeconds"].as_u64().unwrap_or_default(),
            p["timeoutSeconds"].as_u64().unwrap_or_default(),
            u32::try_from(p["failureThreshold"].as_u64().unwrap_or_default()).unwrap_or_default(),
        ),
        // An init container waits for each dependency; for `healthy`, until its Service
        // routes to a ready pod.
        waits_for_healthy: pod["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["name"].as_str()?.strip_prefix("wait-").map(str::to_owned))
            .collect(),
    }
}

/// `Key=value` lines of a unit, every value of each key in order.
fn unit(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once('=')
            && !l.starts_with('#')
        {
            m.entry(k.to_owned()).or_default().push(v.to_owned());
        }
    }
    m
}

/// The words of an `ExecStart=` line: split at spaces, `"…"` keeps one word.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(ch),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The health wait of the dependency's own unit: dependants start once it passes.
fn waited_for_health(unit_text: &str) -> bool {
    unit_text.contains("healthcheck run") || unit_text.contains(".State.Health.Status")
}

fn quadlet(out: &Path) -> Settings {
    let u = unit(&text(&out.join("systemd/same-api.container")));
    let one = |k: &str| {
        u.get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let all = |k: &str| u.get(k).cloned().unwrap_or_default();
    let env = all("Environment")
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let env_file = text(&out.join("secrets/systemd/api.env"));
    let worker = text(&out.join("systemd/same-worker.container"));
    let target = |v: &String| v.split(':').nth(1).unwrap_or_default().to_owned();
    Settings {
        user: format!("{}:{}", one("User"), one("Group")),
        working_dir: one("WorkingDir"),
        read_only: one("ReadOnly") == "true",
        drop_all: one("DropCapability") == "all",
        cap_add: all("AddCapability"),
        no_new_privileges: one("NoNewPrivileges") == "true",
        env,
        secret_env: env_file
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
            .collect(),
        secret_file: all("Volume")
            .iter()
            .find(|v| v.contains("/secrets/"))
            .map(target)
            .unwrap_or_default(),
        health: (
            if one("HealthCmd").contains("127.0.0.1:8080/health") {
                "/health".into()
            } else {
                "?".into()
            },
            seconds(&one("HealthInterval")),
            seconds(&one("HealthTimeout")),
            one("HealthRetries").parse().unwrap_or_default(),
        ),
        waits_for_healthy: all("Requires")
            .iter()
            .filter(|r| r.as_str() == "same-worker.service" && waited_for_health(&worker))
            .map(|_| "worker".to_owned())
            .collect(),
    }
}

/// The podman and docker flavours: `podman run` / `docker run` flags of `ExecStart=`.
fn engine(out: &Path) -> Settings {
    let u = unit(&text(&out.join("systemd/same-api.service")));
    let exec = words(u["ExecStart"].last().expect("ExecStart"));
    let flags: Vec<(String, String)> = {
        let mut v = Vec::new();
        let mut it = exec.iter().peekable();
        while let Some(w) = it.next() {
            if let Some(f) = w.strip_prefix("--") {
                match f.split_once('=') {
                    Some((k, val)) => v.push((k.to_owned(), val.to_owned())),
                    None if f == "env" => {
                        v.push(("env".into(), it.next().cloned().unwrap_or_default()));
                    }
                    None => v.push((f.to_owned(), String::new())),
                }
            }
        }
        v
    };
    let one = |k: &str| {
        flags
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let all = |k: &str| -> Vec<String> {
        flags
            .iter()
            .filter(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let env_file = text(&out.join("secrets/systemd/api.env"));
    let worker = text(&out.join("systemd/same-worker.service"));
    Settings {
        user: one("user"),
        working_dir: one("workdir"),
        read_only: flags.iter().any(|(f, _)| f == "read-only"),
        drop_all: all("cap-drop") == ["ALL"],
        cap_add: all("cap-add"),
        no_new_privileges: all("security-opt").contains(&"no-new-privileges".into()),
        env: all("env")
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        secret_env: env_file
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
            .collect(),
        secret_file: all("volume")
            .iter()
            .find(|v| v.contains("/secrets/"))
            .map(|v| v.split(':').nth(1).unwrap_or_default().to_owned())
            .unwrap_or_default(),
        health: (
            if one("health-cmd").contains("127.0.0.1:8080/health") {
                "/health".into()
            } else {
                "?".into()
            },
            seconds(&one("health-interval")),
            seconds(&one("health-timeout")),
            one("health-retries").parse().unwrap_or_default(),
        ),
        waits_for_healthy: u
            .get("Requires")
            .into_iter()
            .flatten()
            .filter(|r| r.as_str() == "same-worker.service" && waited_for_health(&worker))
            .map(|_| "worker".to_owned())
            .collect(),
    }
}

#[test]
fn every_target_honours_the_same_plan() {
    let want = expected();
    for flavor in ["quadlet", "podman", "docker"] {
        let tmp = tempfile::tempdir().expect("tmp");
        render(tmp.path(), flavor);
        let out = tmp.path().join("out");
        if flavor == "quadlet" {
            assert_eq!(compose(&out), want, "compose");
            assert_eq!(kubernetes(&out), want, "kubernetes");
            assert_eq!(quadlet(&out), want, "systemd (quadlet)");
        } else {
            assert_eq!(engine(&out), want, "systemd ({flavor})");
        }
    }
}

// Issue 24: a wait for a healthy dependency lasts as long as the dependency's own check needs
// for its verdict: its start period, then `retries + 1` tries, each an interval plus the check's
// timeout. The same bound on every target that renders a wait (compose leaves it to the engine's
// `depends_on`); before, Kubernetes left out the timeouts and the last try and waited at least
// 300 s, systemd left out the timeouts.
#[test]
fn every_target_bounds_a_healthy_wait_the_same() {
    let worker = "      exec: [\"true\"]\n      interval: 10s\n      timeout: 3s\n      retries: 2\n      start_period: 20s\n";
    // 20 s, then 3 tries of 10 s + 3 s.
    let want = 59;
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("same.yaml");
    std::fs::write(&spec, SPEC.replace("      exec: [\"true\"]\n", worker)).expect("spec written");
    let out = tmp.path().join("out");
    common::render(&spec, &out, &["--target", "all", "--flavor", "docker"]);
    let doc = yaml(&out.join("kubernetes/deployment-api.yaml"));
    let init = doc["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "wait-worker")
        .expect("a wait for worker");
    // The script's arguments: $0, WHAT MODE HOST PORT LIMIT EVERY.
    let k8s: u64 = init["args"][5]
        .as_str()
        .and_then(|l| l.parse().ok())
        .expect("a limit in seconds");
    let u = unit(&text(&out.join("systemd/same-worker.service")));
    let post = u["ExecStartPost"].join(" ");
    let systemd: u64 = post
        .split_once("within ")
        .and_then(|(_, rest)| rest.split('s').next())
        .and_then(|n| n.parse().ok())
        .expect("a bound in the poll's message");
    assert_eq!((k8s, systemd), (want, want), "{post}");
}

// Issue 24: the embedded database's probes on Kubernetes follow the plan's database health
// check, like the engines' check on compose and systemd: every interval, its timeout, unready and
// restarted after its retries; the startup probe covers its start period (and at least 600 s,
// so a first initialisation is never killed). Before, readiness and liveness failed after 3 and
// 6 tries whatever the plan said.
#[test]
fn every_target_probes_the_database_the_same() {
    let spec_text = r#"apiVersion: misp-gen/v1
name: same
profile: single-node
secrets:
  db_password: { generate: password, length: 24 }
database:
  engine: postgres
  version: "16.4"
  name: app
  user: app
  password: db_password
  wait: { timeout: 60s, interval: 4s }
services:
  api:
    image: docker.io/library/nginx:1.27.3
    ports: [{ name: http, port: 8080 }]
    depends_on: { database: healthy }
"#;
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("same.yaml");
    std::fs::write(&spec, spec_text).expect("spec written");
    let out = tmp.path().join("out");
    common::render(&spec, &out, &["--target", "all", "--flavor", "quadlet"]);
    let compose = yaml(&out.join("compose/compose.yaml"));
    let h = &compose["services"]["database"]["healthcheck"];
    let secs = |v: &Value| seconds(v.as_str().unwrap_or_default());
    let engine = (
        secs(&h["interval"]),
        secs(&h["timeout"]),
        h["retries"].as_u64().unwrap_or_default(),
    );
    let start = secs(&h["start_period"]);
    let q = unit(&text(&out.join("systemd/same-database.container")));
    let one = |k: &str| {
        q.get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let quadlet = (
        seconds(&one("HealthInterval")),
        seconds(&one("HealthTimeout")),
        one("HealthRetries").parse().unwrap_or_default(),
    );
    assert_eq!(quadlet, engine, "systemd and compose");
    let sts = yaml(&out.join("kubernetes/statefulset-database.yaml"));
    let c = &sts["spec"]["template"]["spec"]["containers"][0];
    let probe = |name: &str| {
        let p = &c[name];
        (
            p["periodSeconds"].as_u64().unwrap_or_default(),
            p["timeoutSeconds"].as_u64().unwrap_or_default(),
            p["failureThreshold"].as_u64().unwrap_or_default(),
        )
    };
    assert_eq!(probe("readinessProbe"), engine, "readiness");
    assert_eq!(probe("livenessProbe"), engine, "liveness");
    let (period, _, threshold) = probe("startupProbe");
    assert!(
        period * threshold >= start.max(600),
        "startup {period} × {threshold}"
    );
}

// The readers above can fail: a target that dropped a setting reads back differently.
#[test]
fn a_dropped_setting_is_seen() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(tmp.path(), "quadlet");
    let out = tmp.path().join("out");
    let c = out.join("compose/compose.yaml");
    let t = text(&c).replace("    working_dir: \"/srv/app\"\n", "");
    std::fs::write(&c, t).expect("edited");
    assert_ne!(compose(&out).working_dir, expected().working_dir);
    let q = out.join("systemd/same-api.container");
    let t = text(&q).replace("HealthRetries=4\n", "HealthRetries=3\n");
    std::fs::write(&q, t).expect("edited");
    assert_ne!(quadlet(&out).health, expected().health);
}

// Quadlet's `WorkingDir=` is podman 4.6's; for older podman the same setting is a flag.
#[test]
fn working_dir_before_podman_4_6_is_a_flag() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("same.yaml");
    std::fs::write(
        &spec,
        format!("{SPEC}targets:\n  systemd:\n    podman_version: \"4.5\"\n"),
    )
    .expect("spec written");
    common::render(&spec, &tmp.path().join("out"), &["--target", "systemd"]);
    let u = unit(&text(&tmp.path().join("out/systemd/same-api.container")));
    assert!(!u.contains_key("WorkingDir"), "{u:?}");
    assert!(
        u["PodmanArgs"]
            .iter()
            .any(|a| a.contains("--workdir=/srv/app")),
        "{u:?}"
    );
}

// Issue 28: a health check is expanded and unescaped exactly like `command:`. The README's
// `$${REDIS_PASSWORD}` reaches the container's shell as `${REDIS_PASSWORD}`, and `${params.…}` and
// `${services.S.host}` are resolved, on every target.
const HEALTH_SPEC: &str = r#"apiVersion: misp-gen/v1
name: hc
profile: single-node
params:
  level: warning
services:
  cache:
    image: docker.io/library/redis:7.4.1
    user: "10001:10001"
    env:
      REDIS_PASSWORD: plain
    ports: [{ name: redis, port: 6379 }]
    command: ["sh", "-c", "exec redis-server --loglevel ${params.level} --requirepass \"$${REDIS_PASSWORD}\""]
    healthcheck:
      exec: ["sh", "-c", "redis-cli -h ${services.cache.host} -a \"$${REDIS_PASSWORD}\" --loglevel ${params.level} ping"]
"#;

/// What the container runs as its health check, as every target must carry it; `host` is how
/// the target names the service (`cache` on every target).
fn health_argv(host: &str) -> Vec<String> {
    vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!("redis-cli -h {host} -a \"${{REDIS_PASSWORD}}\" --loglevel warning ping"),
    ]
}

/// The words of a systemd command line: `"…"` with `\"` and `\\` inside, `$$` is one `$`.
fn systemd_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut word) = (false, false);
    let mut it = line.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '"' => {
                quoted = !quoted;
                word = true;
            }
            '\\' if quoted => cur.extend(it.next()),
            '$' if it.peek() == Some(&'$') => {
                it.next();
                cur.push('$');
            }
            ' ' if !quoted => {
                if word || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                word = false;
            }
            _ => cur.push(c),
        }
    }
    if word || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The words of a POSIX shell line made of `'…'` words (what docker's `CMD-SHELL` runs).
fn sh_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut word) = (false, false);
    let mut it = line.chars();
    while let Some(c) = it.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                word = true;
            }
            '\\' if !quoted => cur.extend(it.next()),
            ' ' if !quoted => {
                if word || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                word = false;
            }
            _ => cur.push(c),
        }
    }
    if word || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The value of `--NAME=` among the words of the unit's `ExecStart=`.
fn flag_value(unit_text: &str, name: &str) -> String {
    let u = unit(unit_text);
    let exec = systemd_words(u["ExecStart"].last().expect("ExecStart"));
    exec.iter()
        .find_map(|w| w.strip_prefix(&format!("--{name}=")).map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn a_health_check_is_expanded_and_unescaped_like_command() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("hc.yaml");
    std::fs::write(&spec, HEALTH_SPEC).expect("spec written");
    let out = |flavor: &str| tmp.path().join(format!("out-{flavor}"));
    for flavor in ["quadlet", "podman", "docker"] {
        common::render(
            &spec,
            &out(flavor),
            &["--target", "all", "--flavor", flavor],
        );
    }
    let want = health_argv("cache");

    // compose interpolates `$$` to `$` in every string of compose.yaml.
    let doc = yaml(&out("quadlet").join("compose/compose.yaml"));
    let test: Vec<String> = strings(&doc["services"]["cache"]["healthcheck"]["test"])
        .iter()
        .map(|s| s.replace("$$", "$"))
        .collect();
    assert_eq!(test.first().map(String::as_str), Some("CMD"), "{test:?}");
    assert_eq!(test[1..], want, "compose");

    // The kubelet turns `$$` into `$` in a probe's command.
    let doc = yaml(&out("quadlet").join("kubernetes/deployment-cache.yaml"));
    let c = &doc["spec"]["template"]["spec"]["containers"][0];
    for probe in ["livenessProbe", "readinessProbe"] {
        let argv: Vec<String> = strings(&c[probe]["exec"]["command"])
            .iter()
            .map(|s| s.replace("$$", "$"))
            .collect();
        assert_eq!(argv, want, "kubernetes {probe}");
    }

    // Quadlet: systemd turns `$$` into `$`, podman reads the JSON array.
    let q = unit(&text(&out("quadlet").join("systemd/hc-cache.container")));
    let cmd = q["HealthCmd"][0].replace("$$", "$").replace("%%", "%");
    let argv: Vec<String> = serde_json::from_str(&cmd).expect("HealthCmd is a JSON array");
    assert_eq!(argv, want, "systemd (quadlet)");

    // podman run: the same JSON array as one word of `ExecStart=`.
    let cmd = flag_value(
        &text(&out("podman").join("systemd/hc-cache.service")),
        "health-cmd",
    );
    let argv: Vec<String> = serde_json::from_str(&cmd).expect("--health-cmd is a JSON array");
    assert_eq!(argv, want, "systemd (podman)");

    // docker run: a shell line of quoted words.
    let cmd = flag_value(
        &text(&out("docker").join("systemd/hc-cache.service")),
        "health-cmd",
    );
    assert_eq!(sh_words(&cmd), want, "systemd (docker)");
}

// Issue 28: a params value is literal text, with `$${` a literal `${` as everywhere else: the
// container sees `${HOME}/x` (validation refuses an unescaped `${` there: E334).
#[test]
fn a_params_value_is_literal_with_the_escape_undone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("p.yaml");
    std::fs::write(
        &spec,
        r#"apiVersion: misp-gen/v1
name: p
params:
  dir: "$${HOME}/x"
services:
  web:
    image: docker.io/library/nginx:1.27.3
    user: "10001:10001"
    env:
      DIR: ${params.dir}
"#,
    )
    .expect("spec written");
    let out = tmp.path().join("out");
    common::render(&spec, &out, &["--target", "compose"]);
    let doc = yaml(&out.join("compose/compose.yaml"));
    let dir = doc["services"]["web"]["environment"]["DIR"]
        .as_str()
        .unwrap_or_default()
        .replace("$$", "$");
    assert_eq!(dir, "${HOME}/x");
}

// A service scaled to 0 replicas still owns its volume's data: every target keeps the volume in
// its output (compose's top-level `volumes:`, a Kubernetes claim, a systemd volume unit), so a
// deploy of the render never drops it. systemd used to leave it out.
const IDLE_SPEC: &str = r#"apiVersion: misp-gen/v1
name: idle
profile: single-node
volumes:
  store: { size: 1Gi }
services:
  archive:
    image: docker.io/library/busybox:1.36.1
    user: "10001:10001"
    replicas: 0
    mounts:
      - { volume: store, path: /data }
  api:
    image: docker.io/library/nginx:1.27.3
    user: "10001:10001"
    ports: [{ name: http, port: 8080 }]
"#;

#[test]
fn a_volume_of_a_service_scaled_to_zero_is_kept_by_every_target() {
    for flavor in ["quadlet", "podman", "docker"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let spec = tmp.path().join("idle.yaml");
        std::fs::write(&spec, IDLE_SPEC).expect("spec written");
        let out = tmp.path().join("out");
        common::render(&spec, &out, &["--target", "all", "--flavor", flavor]);
        let doc = yaml(&out.join("compose/compose.yaml"));
        assert!(
            doc["volumes"].get("store").is_some(),
            "compose: {}",
            doc["volumes"]
        );
        assert!(
            out.join("kubernetes/pvc-store.yaml").is_file(),
            "kubernetes: no claim"
        );
        let unit = if flavor == "quadlet" {
            "idle-store.volume"
        } else {
            "idle-store-volume.service"
        };
        assert!(
            out.join("systemd").join(unit).is_file(),
            "systemd ({flavor}): no {unit}"
        );
        let target = text(&out.join("systemd/idle.target"));
        assert!(
            target.contains("idle-store-volume.service"),
            "systemd ({flavor}): the target does not want the volume\n{target}"
        );
    }
}

/// A pull policy as a target's own word for it.
fn pull_word(p: misp_gen::spec::model::Pull, kubernetes: bool) -> &'static str {
    use misp_gen::spec::model::Pull;
    match (p, kubernetes) {
        (Pull::Never, false) => "never",
        (Pull::Missing, false) => "missing",
        (Pull::Always, false) => "always",
        (Pull::Never, true) => "Never",
        (Pull::Missing, true) => "IfNotPresent",
        (Pull::Always, true) => "Always",
    }
}

// The pull policy every target writes is the one `domain::pull_policy` decides, set or unset.
#[test]
fn every_target_pulls_as_the_plan_decides() {
    use misp_gen::domain::{Puller, pull_policy};
    for images in [
        "",
        "images: { pull: never }\n",
        "images: { pull: always }\n",
    ] {
        let source = format!("{SPEC}{images}");
        let spec: misp_gen::spec::model::Spec = serde_json::from_value(
            misp_gen::spec::load::load("same.yaml", source.as_bytes())
                .expect("spec parses")
                .value,
        )
        .expect("spec reads");
        for flavor in ["quadlet", "podman"] {
            let tmp = tempfile::tempdir().expect("tmp");
            let path = tmp.path().join("same.yaml");
            std::fs::write(&path, &source).expect("spec written");
            let out = tmp.path().join("out");
            common::render(&path, &out, &["--target", "all", "--flavor", flavor]);
            let systemd = pull_word(
                pull_policy(spec.images.as_ref().and_then(|i| i.pull), Puller::Systemd),
                false,
            );
            if flavor == "quadlet" {
                let compose = yaml(&out.join("compose/compose.yaml"));
                assert_eq!(
                    compose["services"]["api"]["pull_policy"].as_str(),
                    Some(pull_word(
                        pull_policy(spec.images.as_ref().and_then(|i| i.pull), Puller::Compose),
                        false
                    )),
                    "compose ({images})"
                );
                let k8s = yaml(&out.join("kubernetes/deployment-api.yaml"));
                assert_eq!(
                    k8s["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"].as_str(),
                    Some(pull_word(
                        pull_policy(
                            spec.images.as_ref().and_then(|i| i.pull),
                            Puller::Kubernetes
                        ),
                        true
                    )),
                    "kubernetes ({images})"
                );
                let u = unit(&text(&out.join("systemd/same-api.container")));
                assert_eq!(
                    u.get("Pull").and_then(|v| v.first()).map(String::as_str),
                    Some(systemd),
                    "quadlet ({images})"
                );
            } else {
                let u = text(&out.join("systemd/same-api.service"));
                assert_eq!(flag_value(&u, "pull"), systemd, "podman ({images})");
            }
        }
    }
}

// Whether a secret is a TLS set is the spec's to say (`Secret::is_tls`), on every target: a
// mount's files follow the spec, never the shape of the value at hand. Mounts used to follow the
// value while Kubernetes' mounts and validation followed the spec.
#[test]
fn a_mounted_secret_is_a_tls_set_when_the_spec_says_so() {
    use misp_gen::secrets::{Secrets, Value};
    let source = "apiVersion: misp-gen/v1\nname: kinds\nprofile: single-node\nsecrets:\n  cert: { generate: tls, hosts: [api] }\n  token: { external: true }\nservices:\n  api:\n    image: docker.io/library/nginx:1.27.3\n";
    let spec: misp_gen::spec::model::Spec = serde_json::from_value(
        misp_gen::spec::load::load("same.yaml", source.as_bytes())
            .expect("spec parses")
            .value,
    )
    .expect("spec reads");
    assert!(spec.secrets["cert"].is_tls() && !spec.secrets["token"].is_tls());
    let tls = || {
        Value::Tls(misp_gen::pki::Tls {
            ca_crt: "ca".into(),
            ca_key: "cakey".into(),
            tls_crt: "crt".into(),
            tls_key: "key".into(),
            hosts: "api\n".into(),
        })
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("kinds.yaml");
    std::fs::write(&path, source).expect("spec written");
    let valid = misp_gen::validate::validate_file(&path, None).expect("spec is valid");
    let deployment = &valid.deployment;
    let keys = |secrets: &Secrets, s: &str| -> Vec<String> {
        misp_gen::render::mounted_secret_files(deployment, secrets, s, &BTreeMap::new())
            .iter()
            .map(|f| f.key.to_owned())
            .collect()
    };
    let tls_files: Vec<String> = misp_gen::spec::model::TLS_FILES
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
    let matching = Secrets {
        values: BTreeMap::from([
            ("cert".to_owned(), tls()),
            ("token".to_owned(), Value::Text("t0ken-value".into())),
        ]),
        ..Secrets::default()
    };
    assert_eq!(keys(&matching, "cert"), tls_files);
    assert_eq!(keys(&matching, "token"), vec!["token".to_owned()]);
    // Values shaped unlike their definitions: the spec still decides what the mount holds.
    let swapped = Secrets {
        values: BTreeMap::from([
            ("cert".to_owned(), Value::Text("not-a-set".into())),
            ("token".to_owned(), tls()),
        ]),
        ..Secrets::default()
    };
    assert!(
        keys(&swapped, "cert").iter().all(|k| tls_files.contains(k)),
        "{:?}",
        keys(&swapped, "cert")
    );
    assert!(
        keys(&swapped, "token").iter().all(|k| k == "token"),
        "{:?}",
        keys(&swapped, "token")
    );
}

const DB_SPEC: &str = r#"apiVersion: misp-gen/v1
name: same
secrets:
  db_password: { generate: password }
database:
  engine: mariadb
  version: "10.11"
  name: app
  user: app
  password: db_password
  settings:
    innodb_buffer_pool_size: 2G
    innodb-log-file-size: 600M
  env:
    TZ: Europe/Paris
  restart: on-failure
services:
  web:
    image: docker.io/library/nginx:1.27.3
    depends_on: { database: healthy }
"#;

// Pins the database's own `settings`, `env` and `restart` on every target: the settings are the
// server's command-line options after the official image's entrypoint, the env sits beside the
// engine's, the restart policy is the one given; a Galera cluster gives the settings to every
// member (after member.sh, which appends them to mariadbd's) and its members restart the same way.
#[test]
fn database_settings_env_and_restart_reach_every_target() {
    let args = [
        "--innodb-buffer-pool-size=2G",
        "--innodb-log-file-size=600M",
    ];
    for flavor in ["quadlet", "podman", "docker"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let spec = tmp.path().join("same.yaml");
        std::fs::write(&spec, DB_SPEC).expect("spec written");
        let out = tmp.path().join("out");
        common::render(&spec, &out, &["--target", "all", "--flavor", flavor]);
        if flavor == "quadlet" {
            let doc = yaml(&out.join("compose/compose.yaml"));
            let db = &doc["services"]["database"];
            assert_eq!(strings(&db["command"]), args, "compose command");
            assert_eq!(db["environment"]["TZ"], "Europe/Paris", "compose env");
            assert_eq!(db["restart"], "on-failure", "compose restart");
            let k = yaml(&out.join("kubernetes/statefulset-database.yaml"));
            let c = &k["spec"]["template"]["spec"]["containers"][0];
            assert_eq!(strings(&c["args"]), args, "kubernetes args");
            assert!(
                c["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["name"] == "TZ" && e["value"] == "Europe/Paris"),
                "kubernetes env: {c}"
            );
            let u = text(&out.join("systemd/same-database.container"));
            assert!(u.contains(&format!("Exec={}", args.join(" "))), "{u}");
            assert!(u.contains("Environment=TZ=Europe/Paris"), "{u}");
            assert!(u.contains("Restart=on-failure"), "{u}");
        } else {
            let u = text(&out.join("systemd/same-database.service"));
            let exec = u
                .lines()
                .rfind(|l| l.starts_with("ExecStart="))
                .expect("ExecStart");
            assert!(
                exec.ends_with(&format!(" {}", args.join(" "))),
                "{flavor}: {exec}"
            );
            assert!(exec.contains("TZ=Europe/Paris"), "{flavor}: {exec}");
            assert!(u.contains("Restart=on-failure"), "{flavor}: {u}");
        }
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("same.yaml");
    std::fs::write(
        &spec,
        DB_SPEC.replace(
            "  restart: on-failure\n",
            "  restart: on-failure\n  cluster: { members: 3 }\n",
        ),
    )
    .expect("spec written");
    let out = tmp.path().join("out");
    let k8s = tmp.path().join("k8s");
    common::render(&spec, &out, &["--target", "compose"]);
    common::render(&spec, &k8s, &["--target", "kubernetes"]);
    let doc = yaml(&out.join("compose/compose.yaml"));
    for m in ["database-1", "database-2", "database-3"] {
        let s = &doc["services"][m];
        let cmd = strings(&s["command"]);
        assert_eq!(cmd[cmd.len() - 2..], args, "{m}: {cmd:?}");
        assert_eq!(s["environment"]["TZ"], "Europe/Paris", "{m}");
        assert_eq!(s["restart"], "on-failure", "{m}");
    }
    let k = text(&k8s.join("kubernetes/statefulset-database-member.yaml"));
    for a in args {
        assert!(k.contains(a), "kubernetes cluster: {a}");
    }
}

const HOST_SPEC: &str = r#"apiVersion: misp-gen/v1
name: same
services:
  web:
    image: docker.io/library/nginx:1.27.3
    user: "10001:10001"
    mounts:
      - { host: ./configs/, path: /etc/app, read_only: true, selinux: private }
      - { host: /srv/same/logs, path: /var/log/app }
"#;

// Pins host mounts on every target: compose binds the path relative to its project directory
// (creating a missing one, as its short syntax does), systemd relative to the install directory,
// each with `ro` and the SELinux relabel; Kubernetes mounts a claim per host path (no hostPath,
// so the namespace keeps `restricted`), and `validate` warns at each host mount (W109).
#[test]
fn host_mounts_reach_every_target() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("same.yaml");
    std::fs::write(&spec, HOST_SPEC).expect("spec written");
    let o = common::bin()
        .arg("validate")
        .arg(&spec)
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("same.yaml:8:17: warning[W109-host-mount]")
            && said.contains("same.yaml:9:17: warning[W109-host-mount]")
            && said.contains("`kubectl -n NAMESPACE cp ./configs/. POD:/etc/app`"),
        "{said}"
    );
    for flavor in ["quadlet", "podman", "docker"] {
        let out = tmp.path().join(flavor);
        common::render(&spec, &out, &["--target", "all", "--flavor", flavor]);
        let want = [
            "/etc/misp-gen/same/host/configs:/etc/app:ro,Z",
            "/srv/same/logs:/var/log/app",
        ];
        if flavor == "quadlet" {
            let doc = yaml(&out.join("compose/compose.yaml"));
            let vols = &doc["services"]["web"]["volumes"];
            assert_eq!(vols[0]["type"], "bind");
            assert_eq!(vols[0]["source"], "./host/configs");
            assert_eq!(vols[0]["target"], "/etc/app");
            assert_eq!(vols[0]["read_only"], true);
            assert_eq!(vols[0]["bind"]["selinux"], "Z");
            assert_eq!(vols[0]["bind"]["create_host_path"], true);
            assert_eq!(vols[1]["source"], "/srv/same/logs");
            assert_eq!(vols[1]["read_only"], false);
            assert!(vols[1]["bind"]["selinux"].is_null());
            let u = text(&out.join("systemd/same-web.container"));
            for w in want {
                assert!(u.contains(&format!("Volume={w}\n")), "{u}");
            }
            let k = yaml(&out.join("kubernetes/deployment-web.yaml"));
            let pod = &k["spec"]["template"]["spec"];
            let claims: Vec<&str> = pod["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
                .collect();
            assert_eq!(claims, ["same-host-configs", "same-host-srv-same-logs"]);
            assert!(!text(&out.join("kubernetes/deployment-web.yaml")).contains("hostPath"));
            let mounted = &pod["containers"][0]["volumeMounts"];
            assert_eq!(mounted[0]["mountPath"], "/etc/app");
            assert_eq!(mounted[0]["readOnly"], true);
            for c in ["host-configs", "host-srv-same-logs"] {
                let pvc = yaml(&out.join(format!("kubernetes/pvc-{c}.yaml")));
                assert_eq!(pvc["metadata"]["name"], format!("same-{c}"));
                assert_eq!(strings(&pvc["spec"]["accessModes"]), ["ReadWriteOnce"]);
            }
            let ns = text(&out.join("kubernetes/namespace.yaml"));
            assert!(
                ns.contains("\"pod-security.kubernetes.io/enforce\": \"restricted\""),
                "{ns}"
            );
        } else {
            let u = text(&out.join("systemd/same-web.service"));
            for w in want {
                assert!(u.contains(&format!("--volume={w} ")), "{flavor}: {u}");
            }
        }
    }
}
