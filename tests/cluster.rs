//! `database.cluster` (a `MariaDB` Galera cluster): what validation says about it, what compose
//! renders from the model, and the interim refusals of Kubernetes and systemd. The cluster's
//! behaviour under faults is tests/e2e/galera.sh's, on the compose file rendered here.

mod common;

use std::path::{Path, PathBuf};

use common::{Run as _, assert_no_leak, bin, render, tool};

fn fixture(case: &str) -> PathBuf {
    Path::new("tests/fixtures/cluster")
        .join(case)
        .join("spec.yaml")
}

#[expect(clippy::expect_used, reason = "a test helper")]
fn compose_yaml(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("compose/compose.yaml")).expect("compose.yaml");
    serde_yaml_value(&text)
}

/// compose.yaml as a JSON value (through the crate's own YAML loader).
#[expect(clippy::expect_used, reason = "a test helper")]
fn serde_yaml_value(text: &str) -> serde_json::Value {
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

// Pins compose.yaml and the endpoint's configuration of a three-member cluster and of two members
// with an arbitrator, and that no secret leaks outside secrets/.
#[test]
fn cluster_compose_snapshots() {
    for case in ["three", "two-arbitrator"] {
        let tmp = tempfile::tempdir().expect("tmp");
        render(&fixture(case), tmp.path(), &["--target", "compose"]);
        assert_no_leak(tmp.path());
        let text =
            std::fs::read_to_string(tmp.path().join("compose/compose.yaml")).expect("compose");
        insta::assert_snapshot!(format!("cluster-{case}-compose.yaml"), text);
        let cfg = std::fs::read_to_string(tmp.path().join("compose/files/galera/endpoint.cfg"))
            .expect("endpoint.cfg");
        insta::assert_snapshot!(format!("cluster-{case}-endpoint.cfg"), cfg);
    }
}

// Pins the shape templates/database/galera/README.md asks of compose: members database-1..N each
// with a data volume of its own, the writer endpoint `database` (HAProxy, health-checked, what
// ${database.host} names), database-recover under the profile `recover` with every member's
// volume, the runtime files written and mounted read-only, the monitor password readable (0444).
#[test]
#[expect(clippy::too_many_lines, reason = "one render, checked field by field")]
fn cluster_compose_structure() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(&fixture("three"), tmp.path(), &["--target", "compose"]);
    let doc = compose_yaml(tmp.path());
    assert_eq!(
        service_names(&doc),
        [
            "database",
            "database-1",
            "database-2",
            "database-3",
            "database-recover",
            "web"
        ]
    );
    let s = &doc["services"];
    for n in 1..=3 {
        let m = &s[format!("database-{n}")];
        assert_eq!(m["image"], "docker.io/library/mariadb:10.11");
        assert_eq!(
            m["command"],
            serde_json::json!(["bash", "/etc/galera/member.sh"])
        );
        assert_eq!(m["environment"]["GALERA_SELF"], format!("database-{n}"));
        assert_eq!(
            m["environment"]["GALERA_MEMBERS"],
            "database-1,database-2,database-3"
        );
        assert_eq!(m["environment"]["GALERA_CLUSTER_NAME"], "demo");
        assert_eq!(m["environment"]["GALERA_SST_METHOD"], "rsync");
        assert_eq!(
            m["environment"]["GALERA_MONITOR_PASSWORD_FILE"],
            "/run/secrets/galera_monitor_password"
        );
        assert_eq!(
            m["environment"]["MARIADB_ROOT_PASSWORD_FILE"],
            "/run/secrets/db_root_password"
        );
        let vols = m["volumes"].as_array().expect("volumes");
        assert_eq!(vols[0]["source"], format!("db_data-{n}"));
        assert_eq!(vols[0]["target"], "/var/lib/mysql");
        for (src, target) in [
            ("galera.cnf", "/etc/mysql/conf.d/galera.cnf"),
            (
                "init-users.sh",
                "/docker-entrypoint-initdb.d/galera-users.sh",
            ),
            ("member.sh", "/etc/galera/member.sh"),
            ("agent.pl", "/etc/galera/agent.pl"),
            ("health.sh", "/etc/galera/health.sh"),
        ] {
            assert!(
                vols.iter()
                    .any(|v| v["source"] == format!("./files/galera/{src}")
                        && v["target"] == target
                        && v["read_only"] == true),
                "database-{n} mounts {src} at {target} read-only"
            );
        }
        assert_eq!(
            m["healthcheck"]["test"],
            serde_json::json!(["CMD", "bash", "/etc/galera/health.sh", "ready"])
        );
        assert!(m.get("depends_on").is_none(), "no member waits on another");
        assert_eq!(m["restart"], "unless-stopped");
    }
    let ep = &s["database"];
    assert_eq!(ep["image"], "docker.io/library/haproxy:3.0.5");
    assert_eq!(
        ep["volumes"][0]["target"],
        "/usr/local/etc/haproxy/haproxy.cfg"
    );
    assert!(ep["healthcheck"]["test"].is_array());
    let r = &s["database-recover"];
    assert_eq!(r["profiles"], serde_json::json!(["recover"]));
    assert_eq!(
        r["entrypoint"],
        serde_json::json!(["bash", "/etc/galera/recover.sh"])
    );
    assert_eq!(r["environment"]["GALERA_RECOVER_DIR"], "/var/lib/galera");
    for n in 1..=3 {
        assert!(
            r["volumes"]
                .as_array()
                .expect("volumes")
                .iter()
                .any(|v| v["source"] == format!("db_data-{n}")
                    && v["target"] == format!("/var/lib/galera/database-{n}"))
        );
    }
    assert_eq!(
        s["web"]["environment"]["DB_HOST"], "database",
        "${{database.host}} reaches the writer endpoint"
    );
    assert_eq!(s["web"]["environment"]["DB_PORT"], "3306");
    assert_eq!(
        s["web"]["depends_on"]["database"]["condition"],
        "service_healthy"
    );
    // One data volume per member, and the spec's single volume no longer.
    let vols: Vec<&String> = doc["volumes"]
        .as_object()
        .expect("volumes")
        .keys()
        .collect();
    assert_eq!(vols, ["db_data-1", "db_data-2", "db_data-3"]);
    // The runtime files as they are in templates/, endpoint.cfg with its server lines.
    for f in [
        "galera.cnf",
        "init-users.sh",
        "member.sh",
        "agent.pl",
        "health.sh",
        "recover.sh",
    ] {
        let want = std::fs::read(Path::new("templates/database/galera").join(f)).expect("tpl");
        let got = std::fs::read(tmp.path().join("compose/files/galera").join(f)).expect("out");
        assert_eq!(
            got, want,
            "compose/files/galera/{f} is the template as it is"
        );
    }
    let cfg =
        std::fs::read_to_string(tmp.path().join("compose/files/galera/endpoint.cfg")).expect("cfg");
    assert!(cfg.contains(
        "  server database-1 database-1:3306\n  server database-2 database-2:3306 backup\n  server database-3 database-3:3306 backup\n"
    ));
    // The monitor password: generated, kept, and its compose copy readable by `mysql`.
    let kept = tmp.path().join("secrets/galera_monitor_password");
    let pw = std::fs::read_to_string(&kept).expect("generated");
    assert_eq!(pw.len(), 32);
    let copy = tmp
        .path()
        .join("secrets/compose/mounted/galera_monitor_password");
    assert_eq!(std::fs::read_to_string(&copy).expect("copy"), pw);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&copy).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o444, "readable by the container's user mysql");
    }
    assert_eq!(
        doc["secrets"]["galera_monitor_password"]["file"],
        "../secrets/compose/mounted/galera_monitor_password"
    );
    // A second render keeps the password.
    render(&fixture("three"), tmp.path(), &["--target", "compose"]);
    assert_eq!(std::fs::read_to_string(&kept).expect("kept"), pw);
}

// Pins the arbitrator: database-arbitrator runs garbd against both members in the cluster's group.
#[test]
fn cluster_compose_arbitrator() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(
        &fixture("two-arbitrator"),
        tmp.path(),
        &["--target", "compose"],
    );
    let doc = compose_yaml(tmp.path());
    assert_eq!(
        service_names(&doc),
        [
            "database",
            "database-1",
            "database-2",
            "database-arbitrator",
            "database-recover",
            "web"
        ]
    );
    let g = &doc["services"]["database-arbitrator"];
    assert_eq!(
        g["command"],
        serde_json::json!([
            "garbd",
            "--address",
            "gcomm://database-1:4567,database-2:4567",
            "--group",
            "pair"
        ])
    );
    assert!(g.get("volumes").is_none(), "the arbitrator keeps no data");
    let vols: Vec<&String> = doc["volumes"]
        .as_object()
        .expect("volumes")
        .keys()
        .collect();
    assert_eq!(vols, ["database-1-data", "database-2-data"]);
}

// Pins that the real Compose loader accepts both cluster renders without a word.
#[test]
fn cluster_compose_loader() {
    let Some(compose) = tool("docker-compose") else {
        return;
    };
    for case in ["three", "two-arbitrator"] {
        let tmp = tempfile::tempdir().expect("tmp");
        render(&fixture(case), tmp.path(), &["--target", "compose"]);
        let dir = tmp.path().join("compose");
        let o = std::process::Command::new(&compose)
            .current_dir(&dir)
            .args(["-f", "compose.yaml", "--profile", "recover", "config", "-q"])
            .output()
            .expect("runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.status.success() && said.is_empty(),
            "{case}: compose config said:\n{said}"
        );
    }
}

// Pins the interim state of systemd: it refuses a cluster with a located error (exit 1), so
// `validate`, which asks every target, refuses it too; compose and Kubernetes render it.
#[test]
fn cluster_refused_by_systemd_only() {
    let spec = fixture("three");
    let shown = spec.display().to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let ran = bin()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(tmp.path())
        .args(["--target", "systemd"])
        .ran();
    ran.code(1);
    let err = String::from_utf8_lossy(&ran.out.stderr).into_owned();
    assert!(
        err.contains(&format!("{shown}:18:3: error[E503-not-rendered]"))
            && err.contains("targets.systemd.hosts")
            && err.contains("--target compose"),
        "{err}"
    );
    let ran = bin().arg("validate").arg(&spec).ran();
    ran.code(1);
    let err = String::from_utf8_lossy(&ran.out.stderr).into_owned();
    assert!(err.contains("not rendered for systemd yet"), "{err}");
    assert!(!err.contains("not rendered for kubernetes"), "{err}");
}

/// `validate` on a spec given as text, with a profile.
fn validate_text(
    text: &str,
    profile: Option<&str>,
) -> Result<misp_gen::validate::Valid, misp_gen::Error> {
    misp_gen::validate::validate_bytes("spec.yaml", text.as_bytes(), profile, None)
}

const BASE: &str = "apiVersion: misp-gen/v1
name: demo
secrets:
  dbpw: { generate: password }
database:
  engine: mariadb
  version: \"10.11\"
  name: app
  user: app
  password: dbpw
";

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

// Pins the member counts: 3, 5 and 7 alone, 2 only with an arbitrator; every other count is a
// located E326 that names the allowed ones. The model carries the count and the member names.
#[test]
fn cluster_member_counts() {
    for (members, arbitrator, ok) in [
        (1, false, false),
        (2, false, false),
        (2, true, true),
        (3, false, true),
        (3, true, false),
        (4, false, false),
        (5, false, true),
        (6, false, false),
        (7, false, true),
        (8, false, false),
        (0, false, false),
    ] {
        let text = format!(
            "{BASE}  cluster: {{ members: {members}, arbitrator: {arbitrator} }}\nservices: {{}}\n"
        );
        let r = validate_text(&text, None);
        if ok {
            let v = r.unwrap_or_else(|e| panic!("{members}/{arbitrator}: {e}"));
            let d = &v.deployment;
            assert_eq!(d.database_members(), Some(members));
            let c = d
                .workload("database")
                .and_then(|c| c.cluster.as_deref())
                .expect("the model's cluster");
            assert_eq!(c.member_names.len(), members as usize);
            assert_eq!(c.member_names[0], "database-1");
            assert_eq!(c.arbitrator, arbitrator);
            assert_eq!(c.garbd.is_some(), arbitrator);
            assert_eq!(c.sst_method, "rsync");
            assert_eq!(c.name, "demo");
        } else {
            let got = codes(r);
            assert_eq!(got.len(), 1, "{members}/{arbitrator}: {got:?}");
            assert!(got[0].starts_with("E326-database 11:"), "{got:?}");
            let Err(misp_gen::Error::Invalid(inv)) = validate_text(&text, None) else {
                unreachable!()
            };
            let help = inv.diags[0].help.clone().unwrap_or_default();
            assert!(
                help.contains("`members: 3`, `5` or `7`") && help.contains("`arbitrator: true`"),
                "{help}"
            );
        }
    }
    // A single server's model is unchanged: one member, no cluster.
    let v = validate_text(&format!("{BASE}services: {{}}\n"), None).expect("valid");
    assert_eq!(v.deployment.database_members(), Some(1));
    assert!(
        v.deployment
            .workload("database")
            .and_then(|c| c.cluster.as_ref())
            .is_none()
    );
}

// Pins the `ha` profile's rule: external or cluster; a single embedded server is refused with a
// located E401 that says both ways out.
#[test]
fn ha_profile_accepts_external_or_cluster() {
    let single = codes(validate_text(
        &format!("{BASE}services: {{}}\n"),
        Some("ha"),
    ));
    assert_eq!(single.len(), 1, "{single:?}");
    assert!(
        single[0].starts_with("E401-profile-database 5:1")
            && single[0].contains("`external` or `cluster`"),
        "{single:?}"
    );
    let cluster = format!("{BASE}  cluster: {{ members: 3 }}\nservices: {{}}\n");
    assert_eq!(
        codes(validate_text(&cluster, Some("ha"))),
        Vec::<String>::new()
    );
    let external = "apiVersion: misp-gen/v1
name: demo
secrets:
  dbpw: { generate: password }
database:
  engine: mariadb
  name: app
  user: app
  password: dbpw
  external: { host: db.example }
services: {}
";
    assert_eq!(
        codes(validate_text(external, Some("ha"))),
        Vec::<String>::new()
    );
}

// Pins the names a cluster takes: its data volumes and monitor secret are refused as spec names.
#[test]
fn cluster_names_are_taken() {
    let vol = format!(
        "{BASE}  cluster: {{ members: 3 }}\nvolumes:\n  database-3-data: {{}}\nservices: {{}}\n"
    );
    let got = codes(validate_text(&vol, None));
    assert!(
        got.len() == 1 && got[0].starts_with("E300-invalid-name 13:3"),
        "{got:?}"
    );
    let secret = BASE.replace(
        "secrets:\n",
        "secrets:\n  galera_monitor_password: { generate: password }\n",
    ) + "  cluster: { members: 3 }\nservices: {}\n";
    let got = codes(validate_text(&secret, None));
    assert!(
        got.len() == 1 && got[0].starts_with("E300-invalid-name 4:3"),
        "{got:?}"
    );
}

// Pins that `images` lists every image a cluster adds (the members' and the endpoint's HAProxy),
// and that `render --check` finds a fresh cluster render unchanged.
#[test]
fn cluster_images_and_check() {
    let spec = fixture("three");
    let ran = bin()
        .arg("images")
        .arg(&spec)
        .args(["--target", "compose"])
        .ran();
    ran.success();
    let out = String::from_utf8_lossy(&ran.out.stdout).into_owned();
    let k8s = bin()
        .arg("images")
        .arg(&spec)
        .args(["--target", "kubernetes"])
        .ran();
    k8s.success();
    assert_eq!(
        String::from_utf8_lossy(&k8s.out.stdout),
        out,
        "Kubernetes runs the same images (the endpoint's HAProxy too)"
    );
    for image in [
        "docker.io/library/haproxy:3.0.5",
        "docker.io/library/mariadb:10.11",
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

// ------------------------------------------------------------------------------- Kubernetes

/// Every YAML document of every file under `dir`, parsed (the crate's own loader).
#[expect(clippy::expect_used, reason = "a test helper")]
fn yaml_docs(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                let text = std::fs::read_to_string(&p).expect("yaml");
                let rel = p.strip_prefix(dir).expect("under").display().to_string();
                out.push((rel, serde_yaml_value(&text)));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[expect(
    clippy::panic,
    reason = "a test helper: a missing object fails the test"
)]
fn find<'a>(
    docs: &'a [(String, serde_json::Value)],
    kind: &str,
    name: &str,
) -> &'a serde_json::Value {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name}"))
}

#[expect(clippy::expect_used, reason = "a test helper")]
fn env_of(c: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["name"].as_str().expect("name").to_owned(),
                e["value"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn strs(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
        .collect()
}

/// Every file under kubernetes/ but the galera scripts (pinned by their templates), one text.
#[expect(clippy::expect_used, reason = "a test helper")]
fn kubernetes_text(dir: &Path) -> String {
    let mut files = Vec::new();
    let mut stack = vec![dir.join("kubernetes")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = String::new();
    for f in files {
        let rel = f.strip_prefix(dir).expect("under").display().to_string();
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("galera-") && name != "galera-endpoint-cfg" {
            out.push_str("--- ");
            out.push_str(&rel);
            out.push_str(" (a galera runtime file)\n");
            continue;
        }
        out.push_str("--- ");
        out.push_str(&rel);
        out.push('\n');
        out.push_str(&std::fs::read_to_string(&f).expect("text"));
    }
    out
}

// Pins everything under kubernetes/ for a three-member cluster (also in the `ha` profile) and for
// two members with an arbitrator, and that no secret leaks outside secrets/.
#[test]
fn cluster_kubernetes_snapshots() {
    for (case, profile) in [
        ("three", None),
        ("three", Some("ha")),
        ("two-arbitrator", None),
    ] {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut args = vec!["--target", "kubernetes"];
        if let Some(p) = profile {
            args.extend(["--profile", p]);
        }
        render(&fixture(case), tmp.path(), &args);
        assert_no_leak(tmp.path());
        let suffix = profile.map_or_else(String::new, |p| format!("-{p}"));
        insta::assert_snapshot!(
            format!("cluster-{case}{suffix}-kubernetes"),
            kubernetes_text(tmp.path())
        );
    }
}

// Pins the Kubernetes shape: the members one StatefulSet `<name>-database` (Parallel, a claim
// each, the database volume's size), found by their DNS names through a headless Service that
// publishes not-ready pods; member.sh finds itself from the host name (no GALERA_SELF); secrets
// group-readable by mysql (fsGroup 999, 0440); readiness `health.sh ready`, liveness `health.sh
// live`, no startup probe; a budget of one member; the Service `<name>-database` (what every other
// pod reaches) selects the HAProxy endpoint, whose servers are the members' full names resolved
// through resolv.conf; network policies let members, endpoint, recovery and app talk; the
// recovery Job is apart from the main kustomization and mounts every member's claim.
#[test]
#[expect(clippy::too_many_lines, reason = "one object after the other")]
fn cluster_kubernetes_structure() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(&fixture("three"), tmp.path(), &["--target", "kubernetes"]);
    let docs = yaml_docs(&tmp.path().join("kubernetes"));
    let sts = find(&docs, "StatefulSet", "demo-database");
    assert_eq!(sts["spec"]["replicas"], 3);
    assert_eq!(sts["spec"]["podManagementPolicy"], "Parallel");
    assert_eq!(sts["spec"]["serviceName"], "demo-database-headless");
    let claims = sts["spec"]["volumeClaimTemplates"]
        .as_array()
        .expect("claims");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["metadata"]["name"], "data");
    assert_eq!(
        claims[0]["spec"]["resources"]["requests"]["storage"],
        "10Gi"
    );
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["fsGroup"], 999);
    assert!(pod.get("affinity").is_none(), "no anti-affinity outside ha");
    let c = &pod["containers"][0];
    assert_eq!(strs(&c["args"]), ["bash", "/etc/galera/member.sh"]);
    let env = env_of(c);
    assert_eq!(
        env["GALERA_MEMBERS"],
        "demo-database-0.demo-database-headless,demo-database-1.demo-database-headless,demo-database-2.demo-database-headless"
    );
    assert!(!env.contains_key("GALERA_SELF"), "{env:?}");
    assert_eq!(env["GALERA_CLUSTER_NAME"], "demo");
    assert_eq!(
        strs(&c["readinessProbe"]["exec"]["command"]),
        ["bash", "/etc/galera/health.sh", "ready"]
    );
    assert_eq!(
        strs(&c["livenessProbe"]["exec"]["command"]),
        ["bash", "/etc/galera/health.sh", "live"]
    );
    assert!(c["livenessProbe"]["failureThreshold"].as_u64() >= Some(6));
    assert!(c.get("startupProbe").is_none(), "SST may take any time");
    let mounts: Vec<(String, bool)> = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().expect("path").to_owned(),
                m["readOnly"] == true,
            )
        })
        .collect();
    for (path, ro) in [
        ("/var/lib/mysql", false),
        ("/etc/mysql/conf.d/galera.cnf", true),
        ("/docker-entrypoint-initdb.d/galera-users.sh", true),
        ("/etc/galera/member.sh", true),
        ("/etc/galera/agent.pl", true),
        ("/etc/galera/health.sh", true),
        ("/run/secrets", true),
        ("/run/secrets/db_password", true),
    ] {
        assert!(
            mounts.contains(&(path.to_owned(), ro)),
            "{path} ro={ro}: {mounts:?}"
        );
    }
    for v in pod["volumes"].as_array().expect("volumes") {
        if v.get("secret").is_some() {
            // The monitor password is read by the image's `mysql` (init-users.sh), any uid.
            let mode = if v["secret"]["secretName"] == "demo-galera-monitor-password" {
                0o444
            } else {
                0o440
            };
            assert_eq!(v["secret"]["defaultMode"], mode, "{v}");
        }
    }
    let member_labels = &sts["spec"]["template"]["metadata"]["labels"];
    let selects = |svc: &serde_json::Value, labels: &serde_json::Value| {
        svc["spec"]["selector"]
            .as_object()
            .expect("selector")
            .iter()
            .all(|(k, v)| &labels[k] == v)
    };
    let headless = find(&docs, "Service", "demo-database-headless");
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    let ports: Vec<u64> = headless["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port"].as_u64().expect("port"))
        .collect();
    assert_eq!(ports, [3306, 4567, 4568, 4444, 9200]);
    assert!(selects(headless, member_labels));
    let pdb = find(&docs, "PodDisruptionBudget", "demo-database");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(pdb["spec"].get("minAvailable").is_none());

    // The writer endpoint: the Service every pod already uses, now in front of HAProxy.
    let endpoint = find(&docs, "Deployment", "demo-database-endpoint");
    let ep_labels = &endpoint["spec"]["template"]["metadata"]["labels"];
    // Named as the database's host name, as on compose: `database`.
    let svc = find(&docs, "Service", "database");
    assert!(
        selects(svc, ep_labels),
        "the database Service selects the endpoint"
    );
    assert!(!selects(svc, member_labels), "never a member directly");
    assert_eq!(svc["spec"]["ports"][0]["port"], 3306);
    let web = find(&docs, "Deployment", "demo-web");
    let web_env = env_of(&web["spec"]["template"]["spec"]["containers"][0]);
    assert_eq!(web_env["DB_HOST"], "database");
    let epc = &endpoint["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(epc["image"], "docker.io/library/haproxy:3.0.5");
    assert!(
        epc["readinessProbe"]["exec"]["command"][2]
            .as_str()
            .is_some_and(|c| c.contains("/ready"))
    );
    assert_eq!(epc["livenessProbe"]["tcpSocket"]["port"], "mysql");
    let cfg = std::fs::read_to_string(tmp.path().join("kubernetes/files/galera-endpoint-cfg"))
        .expect("endpoint.cfg");
    assert!(cfg.contains("\n  parse-resolv-conf\n"), "{cfg}");
    assert!(!cfg.contains("127.0.0.11"), "{cfg}");
    assert!(cfg.contains("init-addr last,libc,none"), "{cfg}");
    for (i, backup) in [(0, ""), (1, " backup"), (2, " backup")] {
        let n = format!("demo-database-{i}.demo-database-headless.demo.svc.cluster.local");
        assert!(
            cfg.contains(&format!("  server {n} {n}:3306{backup}\n")),
            "{n}: {cfg}"
        );
    }

    // Network policies: members from members (every Galera port), from the endpoint, from the
    // recovery; the endpoint from the app.
    let rules_of = |name: &str| -> Vec<(String, Vec<u64>)> {
        find(&docs, "NetworkPolicy", name)["spec"]["ingress"]
            .as_array()
            .expect("ingress")
            .iter()
            .map(|r| {
                (
                    r["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                        .as_str()
                        .unwrap_or("anywhere")
                        .to_owned(),
                    r["ports"]
                        .as_array()
                        .expect("ports")
                        .iter()
                        .map(|p| p["port"].as_u64().expect("port"))
                        .collect(),
                )
            })
            .collect()
    };
    let member_rules = rules_of("demo-database-member");
    assert!(member_rules.contains(&("database-member".into(), vec![3306, 4567, 4568, 4444, 9200])));
    assert!(member_rules.contains(&("database".into(), vec![3306, 9200])));
    assert!(member_rules.contains(&("database-recover".into(), vec![9200])));
    assert_eq!(
        find(&docs, "NetworkPolicy", "demo-database-member")["spec"]["podSelector"]["matchLabels"]
            ["app.kubernetes.io/component"],
        "database-member"
    );
    assert!(rules_of("demo-database").contains(&("web".into(), vec![3306])));

    // The recovery: apart from what `kubectl apply -k kubernetes/` applies.
    let kust = std::fs::read_to_string(tmp.path().join("kubernetes/kustomization.yaml"))
        .expect("kustomization");
    assert!(!kust.contains("recover"), "{kust}");
    let job = find(&docs, "Job", "demo-database-recover");
    let jc = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(strs(&jc["command"]), ["bash", "/etc/galera/recover.sh"]);
    assert_eq!(env_of(jc)["GALERA_MEMBERS"], env["GALERA_MEMBERS"]);
    assert_eq!(
        env_of(jc)["GALERA_RECOVER_STOP"],
        "kubectl -n demo scale statefulset/demo-database --replicas=0"
    );
    assert_eq!(
        env_of(jc)["GALERA_RECOVER_NEXT"],
        "kubectl delete -k kubernetes/recover/ && kubectl -n demo scale statefulset/demo-database --replicas=3"
    );
    let claims: Vec<String> = job["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        claims,
        [
            "data-demo-database-0",
            "data-demo-database-1",
            "data-demo-database-2"
        ]
    );
    let readme =
        std::fs::read_to_string(tmp.path().join("kubernetes/recover/README.md")).expect("README");
    for step in [
        "scale statefulset/demo-database --replicas=0",
        "kubectl apply -k kubernetes/recover/",
        "wait --for=condition=complete job/demo-database-recover",
        "kubectl delete -k kubernetes/recover/",
    ] {
        assert!(readme.contains(step), "{step}: {readme}");
    }
    // No member volume became a claim of its own: the StatefulSet's claim templates hold them.
    assert!(
        !docs
            .iter()
            .any(|(_, d)| d["kind"] == "PersistentVolumeClaim")
    );
}

// Pins the `ha` profile's placement of members: required anti-affinity across hosts; and the
// arbitrator's Deployment: garbd against both members' DNS names, reached on 4567 by members only.
#[test]
fn cluster_kubernetes_ha_and_arbitrator() {
    let tmp = tempfile::tempdir().expect("tmp");
    render(
        &fixture("three"),
        tmp.path(),
        &["--target", "kubernetes", "--profile", "ha"],
    );
    let docs = yaml_docs(&tmp.path().join("kubernetes"));
    let sts = find(&docs, "StatefulSet", "demo-database");
    let terms = &sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    assert_eq!(terms[0]["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        terms[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "database-member"
    );

    let tmp = tempfile::tempdir().expect("tmp");
    render(
        &fixture("two-arbitrator"),
        tmp.path(),
        &["--target", "kubernetes"],
    );
    let docs = yaml_docs(&tmp.path().join("kubernetes"));
    assert_eq!(
        find(&docs, "StatefulSet", "pair-database")["spec"]["replicas"],
        2
    );
    let garbd = find(&docs, "Deployment", "pair-database-arbitrator");
    let args = strs(&garbd["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert!(
        args.contains(&"gcomm://pair-database-0.pair-database-headless:4567,pair-database-1.pair-database-headless:4567".to_owned()),
        "{args:?}"
    );
    let np = find(&docs, "NetworkPolicy", "pair-database-arbitrator");
    assert_eq!(
        np["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "database-member"
    );
}

// Pins that both kustomizations (the main one and kubernetes/recover/) build offline, every
// ConfigMap and Secret reference resolves to a built object, and kubernetes-validate --strict
// (1.32) and yamllint print nothing on them (each skips visibly when missing, fails under CI).
#[test]
fn cluster_kubernetes_validators() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let validate = tool("kubernetes-validate");
    let yamllint = tool("yamllint");
    for case in ["three", "two-arbitrator"] {
        let tmp = tempfile::tempdir().expect("tmp");
        render(
            &fixture(case),
            tmp.path(),
            &["--target", "kubernetes", "--profile", "ha"],
        );
        for dir in ["kubernetes", "kubernetes/recover"] {
            let o = std::process::Command::new(&kubectl)
                .arg("kustomize")
                .arg(tmp.path().join(dir))
                .output()
                .expect("kubectl runs");
            assert!(
                o.status.success() && o.stderr.is_empty(),
                "{case} {dir}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let built = String::from_utf8(o.stdout).expect("utf-8");
            let docs: Vec<serde_json::Value> =
                built.split("\n---\n").map(serde_yaml_value).collect();
            let names = |kind: &str| -> Vec<String> {
                docs.iter()
                    .filter(|d| d["kind"] == kind)
                    .map(|d| d["metadata"]["name"].as_str().expect("name").to_owned())
                    .collect()
            };
            let cms = names("ConfigMap");
            for d in &docs {
                let text = d.to_string();
                for (i, _) in text.match_indices("\"configMap\":{\"name\":\"") {
                    let rest = &text[i + 21..];
                    let name = &rest[..rest.find('"').expect("end")];
                    assert!(
                        cms.iter().any(|c| c == name),
                        "{case} {dir}: {name} not built"
                    );
                }
            }
            let tmpf = tempfile::NamedTempFile::new().expect("temp");
            std::fs::write(tmpf.path(), &built).expect("write");
            if let Some(v) = &validate {
                let o = std::process::Command::new(v)
                    .args(["--strict", "--quiet", "-k", "1.32.0"])
                    .arg(tmpf.path())
                    .output()
                    .expect("runs");
                assert!(
                    o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
                    "{case} {dir}: kubernetes-validate: {}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        if let Some(y) = &yamllint {
            let cfg = "{extends: default, rules: {document-start: disable, line-length: {max: 200}, truthy: {check-keys: false}, indentation: {spaces: consistent, indent-sequences: whatever}}}";
            let files: Vec<PathBuf> = yaml_docs(&tmp.path().join("kubernetes"))
                .into_iter()
                .map(|(rel, _)| tmp.path().join("kubernetes").join(rel))
                .collect();
            let o = std::process::Command::new(y)
                .args(["-s", "-d", cfg])
                .args(&files)
                .output()
                .expect("runs");
            assert!(
                o.status.success() && o.stdout.is_empty(),
                "{case}: yamllint: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
}

// Pins member.sh's identity on Kubernetes: without GALERA_SELF, the member whose first DNS label
// is the host name (the pod's name) is this one, and its full name is the node name it logs
// under; a host name that is no member's is refused by name. (Run with a data directory that
// does not exist and no peers: it stops at its first wait, GALERA_FORM_TIMEOUT=0.)
#[test]
fn member_sh_finds_itself_from_the_host_name() {
    use std::os::unix::process::CommandExt as _;
    let members = "demo-database-0.demo-database-headless,demo-database-1.demo-database-headless";
    let run = |host: &str| -> (Option<i32>, String) {
        let log = tempfile::NamedTempFile::new().expect("log");
        // One open file for both streams: their lines interleave, never overwrite each other.
        let out = log.reopen().expect("log");
        let mut child = std::process::Command::new("bash")
            .arg("templates/database/galera/member.sh")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOSTNAME", host)
            .env("GALERA_MEMBERS", members)
            .env("GALERA_AGENT", "/dev/null")
            .env("GALERA_AGENT_PORT", "1")
            .env("GALERA_FORM_TIMEOUT", "0")
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("bash runs");
        let status = child.wait().expect("waits");
        // The agent loop member.sh starts in the background lives on in its process group.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", child.id())])
            .status();
        (
            status.code(),
            std::fs::read_to_string(log.path()).expect("log"),
        )
    };
    let (code, log) = run("demo-database-1");
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("[galera member demo-database-1.demo-database-headless]: never in a cluster: waiting for a peer in a Primary Component"),
        "{log}"
    );
    assert!(
        log.contains("[galera member demo-database-1.demo-database-headless]: no peer in a Primary Component within 0s"),
        "{log}"
    );
    let (code, log) = run("demo-database-7");
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("GALERA_SELF=demo-database-7 is not in GALERA_MEMBERS"),
        "{log}"
    );
}

// Pins that a spec name too long for the cluster's Kubernetes objects is a located E300 per name
// (the recovery's own ConfigMaps included), never a panic or an invalid manifest; a name that
// fits renders them (`<name>-recover-<file>`, never longer than the members' own).
#[test]
fn cluster_kubernetes_long_names() {
    let text = std::fs::read_to_string(fixture("three")).expect("spec");
    let spec_with = |name: &str| text.replace("name: demo\n", &format!("name: {name}\n"));
    let dir = tempfile::tempdir().expect("tmp");
    let long = dir.path().join("long.yaml");
    std::fs::write(&long, spec_with("abcdefghijklmnopqrstuvwxyzabcdefgh")).expect("write");
    let ran = bin()
        .arg("render")
        .arg(&long)
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--target", "kubernetes"])
        .ran();
    ran.code(1);
    let err = String::from_utf8_lossy(&ran.out.stderr).into_owned();
    assert!(
        err.contains(":18:3: error[E300-invalid-name]: kubernetes: the ConfigMap name `abcdefghijklmnopqrstuvwxyzabcdefgh-recover-recover-sh` is 53 characters; at most 52 fit here"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let fits = dir.path().join("fits.yaml");
    std::fs::write(&fits, spec_with("abcdefghijklmnopqrstuv")).expect("write");
    render(&fits, &dir.path().join("fits"), &["--target", "kubernetes"]);
    let k = std::fs::read_to_string(
        dir.path()
            .join("fits/kubernetes/recover/kustomization.yaml"),
    )
    .expect("kustomization");
    assert!(
        k.contains("\"abcdefghijklmnopqrstuv-recover-recover-sh\""),
        "{k}"
    );
}

// The cluster's writer endpoint is what `${database.host}` reaches: with `database.hostname`, the
// compose service `database` (the HA design's name) answers to that name too, and the Kubernetes
// Service in front of the endpoint carries it; the members keep their names. A hostname that is a
// cluster container's name is refused.
#[test]
fn cluster_database_hostname() {
    let tmp = tempfile::tempdir().expect("tmp");
    let text = std::fs::read_to_string(fixture("three"))
        .expect("fixture")
        .replace(
            "  cluster: { members: 3 }\n",
            "  cluster: { members: 3 }\n  hostname: db\n",
        );
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(&spec, &text).expect("spec");
    let out = tmp.path().join("out");
    render(&spec, &out, &["--target", "compose"]);
    let doc = compose_yaml(&out);
    assert_eq!(
        doc["services"]["database"]["networks"]["default"]["aliases"],
        serde_json::json!(["db"])
    );
    assert!(doc["services"]["database-1"].get("networks").is_none());
    assert_eq!(doc["services"]["web"]["environment"]["DB_HOST"], "db");
    let k8s = tmp.path().join("k8s");
    render(&spec, &k8s, &["--target", "kubernetes"]);
    let docs = yaml_docs(&k8s.join("kubernetes"));
    let svc = find(&docs, "Service", "db");
    assert_eq!(svc["spec"]["ports"][0]["port"], 3306);
    let endpoint = find(&docs, "Deployment", "demo-database-endpoint");
    assert_eq!(
        svc["spec"]["selector"]["app.kubernetes.io/component"],
        endpoint["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    );
    let web = find(&docs, "Deployment", "demo-web");
    assert_eq!(
        env_of(&web["spec"]["template"]["spec"]["containers"][0])["DB_HOST"],
        "db"
    );
    find(&docs, "StatefulSet", "demo-database");

    let taken = text.replace("hostname: db", "hostname: database-2");
    let got = codes(validate_text(&taken, None));
    assert!(
        got.len() == 1 && got[0].starts_with("E300-invalid-name 19:13"),
        "{got:?}"
    );
}
