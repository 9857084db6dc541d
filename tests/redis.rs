//! `services.<name>.replicated` (a replicated Redis): what validation says about it, what compose
//! renders from the model, and the interim refusals of Kubernetes and systemd. Its behaviour
//! under faults is tests/e2e/redis.sh's, on the compose file rendered from
//! tests/e2e/redis/spec.yaml.

mod common;

use std::path::{Path, PathBuf};

use common::{Run as _, assert_no_leak, bin, render, tool};

fn fixture(case: &str) -> PathBuf {
    Path::new("tests/fixtures/redis")
        .join(case)
        .join("spec.yaml")
}

/// compose.yaml as a JSON value (through the crate's own YAML loader).
#[expect(clippy::expect_used, reason = "a test helper")]
fn compose_yaml(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("compose/compose.yaml")).expect("compose.yaml");
    misp_gen::spec::load::load("compose.yaml", text.as_bytes())
        .expect("compose.yaml loads")
        .value
}

#[expect(clippy::expect_used, reason = "a test helper")]
fn service_names(doc: &serde_json::Value) -> Vec<String> {
    doc["services"]
        .as_object()
        .expect("services")
        .keys()
        .cloned()
        .collect()
}

const FILES: &str = "compose/files/redis-replicated/redis";

// Pins compose.yaml and the endpoint's configuration of a three-member replicated Redis, and
// that no secret leaks outside secrets/.
#[test]
fn redis_compose_snapshots() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(&fixture("three"), tmp.path(), &["--target", "compose"]);
    assert_no_leak(tmp.path());
    let text = std::fs::read_to_string(tmp.path().join("compose/compose.yaml")).expect("compose");
    insta::assert_snapshot!("redis-three-compose.yaml", text);
    let cfg =
        std::fs::read_to_string(tmp.path().join(FILES).join("endpoint.cfg")).expect("endpoint.cfg");
    insta::assert_snapshot!("redis-three-endpoint.cfg", cfg);
}

// Pins the shape templates/redis/replicated/README.md asks of compose: members redis-1..3 and
// Sentinels redis-sentinel-1..3 in the service's image, each with a data volume of its own at
// /data, their start script as `command`, their health checks and environment; the endpoint
// `redis` (HAProxy, health-checked on its /ready page, what ${services.redis.host} names and
// `depends_on: { redis: healthy }` waits for); the runtime files written as they are in
// templates/ and mounted read-only; the password a readable (0444) copy of the kept secret.
#[test]
#[expect(clippy::too_many_lines, reason = "one render, checked field by field")]
fn redis_compose_structure() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(&fixture("three"), tmp.path(), &["--target", "compose"]);
    let doc = compose_yaml(tmp.path());
    assert_eq!(
        service_names(&doc),
        [
            "redis",
            "redis-1",
            "redis-2",
            "redis-3",
            "redis-sentinel-1",
            "redis-sentinel-2",
            "redis-sentinel-3",
            "web"
        ]
    );
    let s = &doc["services"];
    let sentinels = "redis-sentinel-1,redis-sentinel-2,redis-sentinel-3";
    for (name, role) in [
        ("redis-1", "member"),
        ("redis-2", "member"),
        ("redis-3", "member"),
        ("redis-sentinel-1", "sentinel"),
        ("redis-sentinel-2", "sentinel"),
        ("redis-sentinel-3", "sentinel"),
    ] {
        let m = &s[name];
        assert_eq!(m["image"], "docker.io/library/redis:7.0", "{name}");
        assert!(
            m.get("entrypoint").is_none(),
            "{name}: the image's entrypoint"
        );
        assert_eq!(
            m["command"],
            serde_json::json!(["sh", format!("/usr/local/etc/redis/{role}.sh")]),
            "{name}"
        );
        let env = &m["environment"];
        assert_eq!(env["REDIS_MEMBERS"], "redis-1,redis-2,redis-3", "{name}");
        assert_eq!(env["REDIS_SELF"], name);
        assert_eq!(env["REDIS_SENTINELS"], sentinels);
        assert_eq!(env["REDIS_MASTER_NAME"], "redis");
        assert_eq!(env["REDIS_PASSWORD_FILE"], "/run/secrets/redis_password");
        assert_eq!(env["TZ"], "UTC", "{name}: the service's own env");
        if role == "sentinel" {
            assert_eq!(env["REDIS_DOWN_AFTER_MS"], "3000");
            assert_eq!(env["REDIS_FAILOVER_TIMEOUT_MS"], "10000");
        } else {
            assert!(env.get("REDIS_DOWN_AFTER_MS").is_none());
        }
        let vols = m["volumes"].as_array().expect("volumes");
        assert_eq!(vols[0]["source"], format!("{name}-data"));
        assert_eq!(vols[0]["target"], "/data");
        for f in [
            format!("{role}.conf"),
            format!("{role}.sh"),
            "health.sh".into(),
        ] {
            assert!(
                vols.iter().any(
                    |v| v["source"] == format!("./files/redis-replicated/redis/{f}")
                        && v["target"] == format!("/usr/local/etc/redis/{f}")
                        && v["read_only"] == true
                ),
                "{name} mounts {f} read-only"
            );
        }
        assert_eq!(
            m["secrets"],
            serde_json::json!([{ "source": "redis_password", "target": "/run/secrets/redis_password" }])
        );
        assert_eq!(
            m["healthcheck"]["test"],
            serde_json::json!(["CMD", "sh", "/usr/local/etc/redis/health.sh", role])
        );
        assert_eq!(m["healthcheck"]["interval"], "5s");
        assert_eq!(m["healthcheck"]["timeout"], "8s");
        assert!(m.get("depends_on").is_none(), "{name}: no start waits");
        assert!(m.get("ports").is_none(), "{name}: nothing published");
        assert_eq!(m["restart"], "unless-stopped");
        assert_eq!(m["deploy"]["resources"]["limits"]["cpus"], "0.5");
    }
    let ep = &s["redis"];
    assert_eq!(ep["image"], "docker.io/library/haproxy:3.0.5");
    assert_eq!(
        ep["entrypoint"],
        serde_json::json!(["sh", "/usr/local/etc/haproxy/endpoint.sh"])
    );
    assert_eq!(
        ep["environment"]["REDIS_PASSWORD_FILE"],
        "/run/secrets/redis_password"
    );
    assert_eq!(ep["environment"]["REDIS_ENDPOINT_PORT"], "6379");
    assert_eq!(
        ep["volumes"],
        serde_json::json!([
            { "type": "bind", "source": "./files/redis-replicated/redis/endpoint.cfg",
              "target": "/usr/local/etc/haproxy/haproxy.cfg", "read_only": true },
            { "type": "bind", "source": "./files/redis-replicated/redis/endpoint.sh",
              "target": "/usr/local/etc/haproxy/endpoint.sh", "read_only": true },
        ])
    );
    assert_eq!(
        ep["healthcheck"]["test"],
        serde_json::json!([
            "CMD",
            "bash",
            "-c",
            "exec 3<>/dev/tcp/127.0.0.1/8404 && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"
        ])
    );
    assert_eq!(ep["restart"], "unless-stopped");
    assert!(ep.get("deploy").is_some_and(|d| d["replicas"] == 1));
    assert_eq!(
        s["web"]["depends_on"]["redis"]["condition"], "service_healthy",
        "the dependant waits on the endpoint's health"
    );
    // ${services.redis.host}/port: the endpoint's name and port.
    assert_eq!(s["web"]["environment"]["REDIS_HOST"], "redis");
    assert_eq!(s["web"]["environment"]["REDIS_PORT"], "6379");
    let vols: Vec<&String> = doc["volumes"]
        .as_object()
        .expect("volumes")
        .keys()
        .collect();
    assert_eq!(
        vols,
        [
            "redis-1-data",
            "redis-2-data",
            "redis-3-data",
            "redis-sentinel-1-data",
            "redis-sentinel-2-data",
            "redis-sentinel-3-data"
        ]
    );
    for f in [
        "member.conf",
        "member.sh",
        "sentinel.conf",
        "sentinel.sh",
        "health.sh",
        "endpoint.sh",
    ] {
        let want = std::fs::read(Path::new("templates/redis/replicated").join(f)).expect("tpl");
        let got = std::fs::read(tmp.path().join(FILES).join(f)).expect("out");
        assert_eq!(got, want, "{FILES}/{f} is the template as it is");
    }
    let cfg = std::fs::read_to_string(tmp.path().join(FILES).join("endpoint.cfg")).expect("cfg");
    assert!(cfg.contains(
        "  server redis-1 redis-1:6379\n  server redis-2 redis-2:6379\n  server redis-3 redis-3:6379\n"
    ));
    assert!(!cfg.lines().any(|l| l == "#@servers@"));
    // The password: generated and kept like the spec's other secrets; compose mounts a copy
    // readable by HAProxy's user.
    let kept = tmp.path().join("secrets/redis_password");
    let pw = std::fs::read_to_string(&kept).expect("generated");
    assert_eq!(pw.len(), 32);
    let copy = tmp.path().join("secrets/compose/mounted/redis_password");
    assert_eq!(std::fs::read_to_string(&copy).expect("copy"), pw);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&copy).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o444, "readable by the endpoint's user haproxy");
    }
    assert_eq!(
        doc["secrets"]["redis_password"]["file"],
        "../secrets/compose/mounted/redis_password"
    );
    render(&fixture("three"), tmp.path(), &["--target", "compose"]);
    assert_eq!(std::fs::read_to_string(&kept).expect("kept"), pw);
}

// Pins that the real Compose loader accepts the render without a word.
#[test]
fn redis_compose_loader() {
    let Some(compose) = tool("docker-compose") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    render(&fixture("three"), tmp.path(), &["--target", "compose"]);
    let o = std::process::Command::new(&compose)
        .current_dir(tmp.path().join("compose"))
        .args(["-f", "compose.yaml", "config", "-q"])
        .output()
        .expect("runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() && said.is_empty(),
        "compose config said:\n{said}"
    );
}

// Pins the interim state: Kubernetes and systemd refuse a replicated Redis with a located E503
// at `replicated` (exit 1), so `validate`, which asks every target, refuses it too.
#[test]
fn redis_refused_by_kubernetes_and_systemd() {
    let spec = fixture("three");
    let shown = spec.display().to_string();
    for target in ["kubernetes", "systemd"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let ran = bin()
            .arg("render")
            .arg(&spec)
            .arg("--out")
            .arg(tmp.path())
            .args(["--target", target])
            .ran();
        ran.code(1);
        let err = String::from_utf8_lossy(&ran.out.stderr).into_owned();
        assert!(
            err.contains(&format!("{shown}:16:5: error[E503-not-rendered]"))
                && err.contains(&format!("not rendered for {target} yet"))
                && err.contains("--target compose"),
            "{target}: {err}"
        );
        assert!(
            !tmp.path().join(target).exists(),
            "{target}: nothing rendered"
        );
    }
    let ran = bin().arg("validate").arg(&spec).ran();
    ran.code(1);
    let err = String::from_utf8_lossy(&ran.out.stderr).into_owned();
    assert!(
        err.contains("not rendered for kubernetes yet")
            && err.contains("not rendered for systemd yet"),
        "{err}"
    );
}

// Pins that `images` lists the endpoint's HAProxy beside the service's Redis image, and that
// `render --check` finds a fresh render unchanged.
#[test]
fn redis_images_and_check() {
    let spec = fixture("three");
    let ran = bin()
        .arg("images")
        .arg(&spec)
        .args(["--target", "compose"])
        .ran();
    ran.success();
    let out = String::from_utf8_lossy(&ran.out.stdout).into_owned();
    for image in [
        "docker.io/library/haproxy:3.0.5",
        "docker.io/library/redis:7.0",
        "docker.io/library/nginx:1.27.3",
    ] {
        assert!(out.lines().any(|l| l == image), "{image} in:\n{out}");
    }
    let tmp = tempfile::tempdir().expect("tmp");
    render(&spec, tmp.path(), &["--target", "compose"]);
    bin()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(tmp.path())
        .args(["--target", "compose", "--check"])
        .ran()
        .success();
}

fn validate_text(text: &str) -> Result<misp_gen::validate::Valid, misp_gen::Error> {
    misp_gen::validate::validate_bytes("spec.yaml", text.as_bytes(), None, None)
}

#[expect(clippy::panic, reason = "a test helper")]
fn codes(r: Result<misp_gen::validate::Valid, misp_gen::Error>) -> Vec<String> {
    match r {
        Ok(_) => Vec::new(),
        Err(misp_gen::Error::Invalid(inv)) => inv
            .diags
            .iter()
            .map(|d| {
                format!(
                    "{} {}:{} {}",
                    d.code.as_str(),
                    d.pos.line,
                    d.pos.col,
                    d.message
                )
            })
            .collect(),
        Err(e) => panic!("not a validation error: {e}"),
    }
}

/// A replicated Redis `redis` with `extra` lines (6-space indented) under the service.
fn spec_with(replicated: &str, extra: &str) -> String {
    format!(
        "apiVersion: misp-gen/v1
name: demo
secrets:
  rpw: {{ generate: password }}
  tls: {{ generate: tls, hosts: [x.example] }}
services:
  redis:
    image: docker.io/library/redis:7.0
    ports: [{{ name: redis, port: 6379 }}]
    replicated: {replicated}
{extra}"
    )
}

/// The errors of `text` that are not E503 (every valid replicated Redis is refused by
/// Kubernetes and systemd for now).
fn spec_errors(text: &str) -> Vec<String> {
    codes(validate_text(text))
        .into_iter()
        .filter(|c| !c.starts_with("E503"))
        .collect()
}

// Pins the member counts: 3 and 5; every other count is a located E335 that names the allowed
// ones. The model carries the members and the three Sentinels.
#[test]
fn redis_member_counts() {
    for (members, ok) in [
        (0, false),
        (1, false),
        (2, false),
        (3, true),
        (4, false),
        (5, true),
        (6, false),
        (7, false),
    ] {
        let text = spec_with(&format!("{{ members: {members}, password: rpw }}"), "");
        let got = spec_errors(&text);
        if ok {
            assert_eq!(got, Vec::<String>::new(), "{members}");
        } else {
            assert_eq!(got.len(), 1, "{members}: {got:?}");
            assert!(
                got[0].starts_with("E335-replicated 10:28")
                    && got[0].contains(&format!("cannot have {members} members")),
                "{got:?}"
            );
        }
    }
    // The model, planned once.
    let v = validate_text(&spec_with("{ members: 5, password: rpw }", "")).expect("valid");
    let c = v.deployment.workload("redis").expect("redis");
    let set = c
        .replicated
        .as_deref()
        .expect("the model's replicated Redis");
    assert_eq!(
        set.member_names,
        ["redis-1", "redis-2", "redis-3", "redis-4", "redis-5"]
    );
    assert_eq!(
        set.sentinel_names,
        ["redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"]
    );
    assert_eq!(set.endpoint.name, "redis");
    assert_eq!(set.password, "rpw");
    assert_eq!(c.replicas, 5);
}

// Pins each rule's located error: replicas, ports, the settings the setup decides, a non-redis
// image, the password secret (undefined, TLS), and taken names.
#[test]
fn redis_validation_errors() {
    let r = "{ members: 3, password: rpw }";
    for (replicated, extra, want) in [
        (
            r,
            "    replicas: 2\n",
            "E335-replicated 11:15 `replicas: 2`",
        ),
        (
            r,
            "    command: [redis-server]\n",
            "E335-replicated 11:5 `command` on a replicated Redis",
        ),
        (
            r,
            "    entrypoint: [sh]\n",
            "E335-replicated 11:5 `entrypoint`",
        ),
        (r, "    user: \"999\"\n", "E335-replicated 11:5 `user`"),
        (
            r,
            "    working_dir: /data\n",
            "E335-replicated 11:5 `working_dir`",
        ),
        (
            r,
            "    mounts: [{ scratch: true, path: /data }]\n",
            "E335-replicated 11:5 `mounts`",
        ),
        (
            r,
            "    healthcheck: { tcp: redis }\n",
            "E335-replicated 11:5 `healthcheck`",
        ),
        (r, "    restart: always\n", "E335-replicated 11:5 `restart`"),
        (
            r,
            "    depends_on: { web: started }\n  web:\n    image: docker.io/library/nginx:1.27.3\n",
            "E335-replicated 11:5 `depends_on`",
        ),
        (
            "{ members: 3, password: nope }",
            "",
            "E302-undefined-secret 10:41 secret `nope`",
        ),
        (
            "{ members: 3, password: tls }",
            "",
            "E335-replicated 10:41 secret `tls` is a TLS set",
        ),
        (
            r,
            "  redis-2:\n    image: docker.io/library/nginx:1.27.3\n",
            "E300-invalid-name 11:3 `redis-2` is a name of the replicated Redis `redis`",
        ),
        (
            r,
            "  redis-sentinel-3:\n    image: docker.io/library/nginx:1.27.3\n",
            "E300-invalid-name 11:3 `redis-sentinel-3`",
        ),
        (
            r,
            "volumes:\n  redis-1-data: {}\n",
            "E300-invalid-name 12:3 `redis-1-data` is the name of the data volume of `redis-1`",
        ),
    ] {
        let got = spec_errors(&spec_with(replicated, extra));
        assert!(
            got.len() == 1 && got[0].starts_with(want),
            "{extra}: want {want}, got {got:?}"
        );
    }
    // Ports: exactly one, 6379.
    for ports in [
        "[{ name: redis, port: 6380 }]",
        "[]",
        "[{ name: a, port: 6379 }, { name: b, port: 26379 }]",
    ] {
        let text = spec_with(r, "").replace("[{ name: redis, port: 6379 }]", ports);
        let got = spec_errors(&text);
        assert!(
            got.len() == 1
                && got[0].starts_with("E335-replicated 9:5 a replicated Redis has one port, 6379"),
            "{ports}: {got:?}"
        );
    }
    // The image: a `redis` repository (any registry or mirror), else E335 at the image.
    let text = spec_with(r, "").replace(
        "docker.io/library/redis:7.0",
        "docker.io/library/valkey:8.0",
    );
    let got = spec_errors(&text);
    assert!(
        got.len() == 1
            && got[0].starts_with("E335-replicated 8:12 `library/valkey` is not a `redis` image"),
        "{got:?}"
    );
    let text = spec_with(r, "").replace(
        "docker.io/library/redis:7.0",
        "registry.example:5000/mirror/redis:7.0",
    );
    assert_eq!(spec_errors(&text), Vec::<String>::new());
}

// Pins that a dependant may wait for a replicated Redis to be healthy without a `healthcheck`
// of its own (the endpoint's is misp-gen's), and that no W105 is said about it.
#[test]
fn redis_healthy_wait_without_healthcheck() {
    let text = spec_with(
        "{ members: 3, password: rpw }",
        "  web:\n    image: docker.io/library/nginx:1.27.3\n    depends_on: { redis: healthy }\n",
    );
    assert_eq!(spec_errors(&text), Vec::<String>::new());
    let ran = bin().arg("validate").arg(fixture("three")).ran();
    let err = String::from_utf8_lossy(&ran.out.stderr).into_owned();
    assert!(!err.contains("`redis` has no `healthcheck`"), "{err}");
}

// Pins that the `ha` profile, which runs replicable services twice, leaves a replicated Redis's
// containers at one each (the members are the replication), and says nothing else about it.
#[test]
fn redis_under_ha_profile() {
    let text = spec_with("{ members: 3, password: rpw }", "");
    let v = misp_gen::validate::validate_bytes("spec.yaml", text.as_bytes(), Some("ha"), None)
        .expect("valid under ha");
    let c = v.deployment.workload("redis").expect("redis");
    let set = c.replicated.as_deref().expect("replicated");
    for m in set
        .members
        .iter()
        .chain(&set.sentinels)
        .chain([&set.endpoint])
    {
        assert_eq!(m.replicas, 1, "{}", m.name);
    }
    assert_eq!(set.members.len(), 3);
}

// Pins that the endpoint's HAProxy image is held to the image policy on compose like the edge's:
// a located E313 at `replicated`, naming `edge.image` as the way out.
#[test]
fn redis_endpoint_image_policy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    let text = spec_with("{ members: 3, password: rpw }", "").replace(
        "services:\n",
        "policy: { registries: [docker.io/library/redis] }\nservices:\n",
    );
    std::fs::write(&spec, &text).expect("spec");
    let ran = bin()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .args(["--target", "compose"])
        .ran();
    ran.code(1);
    let err = String::from_utf8_lossy(&ran.out.stderr).into_owned();
    assert!(
        err.contains(":11:5: error[E313-image-registry-not-allowed]")
            && err.contains("docker.io/library/haproxy:3.0.5")
            && err.contains("edge.image"),
        "{err}"
    );
    let allowed = text.replace(
        "[docker.io/library/redis]",
        "[docker.io/library/redis, docker.io/library/haproxy]",
    );
    std::fs::write(&spec, allowed).expect("spec");
    bin()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .args(["--target", "compose"])
        .ran()
        .success();
}

// Pins that two replicated Redis services may not add the same container name (`a`'s Sentinel
// `a-sentinel-1` is `a-sentinel`'s first member): a located E300 at the later one's `replicated`.
#[test]
fn redis_two_sets_names() {
    let text = "apiVersion: misp-gen/v1
name: demo
secrets:
  rpw: { generate: password }
services:
  a:
    image: docker.io/library/redis:7.0
    ports: [{ name: redis, port: 6379 }]
    replicated: { members: 3, password: rpw }
  a-sentinel:
    image: docker.io/library/redis:7.0
    ports: [{ name: redis, port: 6379 }]
    replicated: { members: 3, password: rpw }
";
    let got = spec_errors(text);
    assert!(
        got.len() == 1
            && got[0].starts_with("E300-invalid-name 13:5 the replicated Redis `a-sentinel` and `a` would both name a container `a-sentinel-1`"),
        "{got:?}"
    );
    let apart = text.replace("a-sentinel:", "b:");
    assert_eq!(spec_errors(&apart), Vec::<String>::new());
}

// Pins that the bound on containers counts a replicated Redis as what it runs (members, three
// Sentinels, the endpoint): 300 sets of 3 members are 2100 containers, over the 2000 allowed.
#[test]
fn redis_counts_toward_the_container_bound() {
    use std::fmt::Write as _;
    let mut text =
        "apiVersion: misp-gen/v1\nname: demo\nsecrets:\n  rpw: { generate: password }\nservices:\n"
            .to_owned();
    for i in 0..300 {
        let _ = write!(
            text,
            "  r{i:03}:\n    image: docker.io/library/redis:7.0\n    ports: [{{ name: redis, port: 6379 }}]\n    replicated: {{ members: 3, password: rpw }}\n"
        );
    }
    let got = codes(validate_text(&text));
    assert!(
        got.len() == 1
            && got[0].starts_with("E333-too-many")
            && got[0].contains("with `r285`, the services run more than 2000 containers"),
        "{got:?}"
    );
    let fewer: String = text
        .lines()
        .take(5 + 4 * 280)
        .fold(String::new(), |mut s, l| {
            s.push_str(l);
            s.push('\n');
            s
        });
    assert_eq!(codes(validate_text(&fewer)), Vec::<String>::new());
}
