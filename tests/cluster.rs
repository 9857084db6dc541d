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

// Pins the interim state: Kubernetes and systemd refuse a cluster with a located error (exit 1),
// so `validate`, which asks every target, refuses it too; `render --target compose` does not.
#[test]
fn cluster_refused_by_kubernetes_and_systemd() {
    let spec = fixture("three");
    let shown = spec.display().to_string();
    for (target, words) in [
        ("kubernetes", "not rendered for kubernetes yet"),
        ("systemd", "targets.systemd.hosts"),
    ] {
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
            err.contains(&format!("{shown}:18:3: error[E503-not-rendered]")) && err.contains(words),
            "{target}: {err}"
        );
        assert!(err.contains("--target compose"), "{target}: {err}");
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
