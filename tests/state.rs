//! The state guard: a render records what holds data in `DIR/state.json`, and refuses a spec
//! edit that would orphan or break it (a dropped or renamed volume, another compose project or
//! namespace, a shrunk claim or one of another class, a `StatefulSet` field Kubernetes will not
//! change, another engine or an older database) with a located E700 that names old → new and
//! the `--allow-state-change NAME` that accepts it; `render --check` says the same; a newer
//! database is a warning.

#![expect(
    clippy::expect_used,
    reason = "a test: a failure is a panic that says what went wrong"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{Ran, Run as _, bin};

/// A small deployment: a database with its volume, a service with a shared and a plain volume.
const BASE: &str = r#"apiVersion: misp-gen/v1
name: demo
secrets:
  db_password: { generate: password }
  db_root_password: { generate: password }
volumes:
  db_data: { size: 10Gi }
  files: { size: 5Gi }
database:
  engine: mariadb
  version: "10.11"
  name: app
  user: app
  password: db_password
  root_password: db_root_password
  volume: db_data
services:
  web:
    image: docker.io/library/nginx:1.27.3
    user: "10001"
    mounts:
      - { volume: files, path: /srv/files }
    env:
      DB_HOST: ${database.host}
    depends_on:
      database: healthy
"#;

struct Site {
    _tmp: tempfile::TempDir,
    spec: PathBuf,
    out: PathBuf,
}

impl Site {
    fn new() -> Site {
        let tmp = tempfile::tempdir().expect("tempdir");
        let spec = tmp.path().join("spec.yaml");
        let out = tmp.path().join("out");
        Site {
            _tmp: tmp,
            spec,
            out,
        }
    }

    fn render(&self, spec: &str, args: &[&str]) -> Ran {
        std::fs::write(&self.spec, spec).expect("write spec");
        bin()
            .arg("render")
            .arg(&self.spec)
            .arg("--out")
            .arg(&self.out)
            .args(args)
            .ran()
    }
}

fn stderr(r: &Ran) -> String {
    String::from_utf8_lossy(&r.stderr).into_owned()
}

/// `first` renders; `second` is refused with E700 naming `name`, at `line` of the spec, and
/// changes nothing in the output; `render --check` refuses it the same way; with
/// `--allow-state-change name` it renders.
fn refused_then_accepted(first: &str, second: &str, args: &[&str], name: &str, says: &str) {
    let site = Site::new();
    site.render(first, args).success();
    let before = common::tree(&site.out);
    let r = site.render(second, args);
    r.code(1);
    let err = stderr(&r);
    assert!(err.contains("E700-state-change"), "{}", r.said());
    assert!(err.contains(says), "expected {says:?} in:\n{}", r.said());
    assert!(
        err.contains(&format!("--allow-state-change {name}")),
        "{}",
        r.said()
    );
    assert!(
        err.contains(&format!("{}:", site.spec.display())),
        "the error is located in the spec: {}",
        r.said()
    );
    assert_eq!(
        common::tree(&site.out),
        before,
        "a refused render wrote something"
    );
    let mut check_args = args.to_vec();
    check_args.push("--check");
    let c = site.render(second, &check_args);
    c.code(1);
    assert!(stderr(&c).contains("E700-state-change"), "{}", c.said());
    let mut allow = args.to_vec();
    allow.extend(["--allow-state-change", name]);
    site.render(second, &allow).success();
    // Once accepted, the new state is the one compared with.
    site.render(second, args).success();
}

#[test]
fn a_renamed_volume_is_refused_on_every_target_and_one_name_accepts_it() {
    let second = BASE.replace("files", "uploads");
    refused_then_accepted(
        BASE,
        &second,
        &[],
        "volume.files",
        "compose volume `demo_files` holds data and is no longer rendered",
    );
    let site = Site::new();
    site.render(BASE, &[]).success();
    let err = stderr(&site.render(&second, &[]));
    for says in [
        "PersistentVolumeClaim `demo-files`",
        "systemd volume `systemd-demo-files`",
    ] {
        assert!(err.contains(says), "expected {says:?} in:\n{err}");
    }
}

#[test]
fn another_compose_project_is_refused() {
    let second = BASE.replace(
        "services:\n",
        "targets:\n  compose: { project: other }\nservices:\n",
    );
    refused_then_accepted(
        BASE,
        &second,
        &["--target", "compose"],
        "compose.project",
        "the compose project changes from `demo` to `other`",
    );
}

#[test]
fn another_namespace_is_refused() {
    let second = BASE.replace(
        "services:\n",
        "targets:\n  kubernetes: { namespace: other }\nservices:\n",
    );
    refused_then_accepted(
        BASE,
        &second,
        &["--target", "kubernetes"],
        "kubernetes.namespace",
        "the Kubernetes namespace changes from `demo` to `other`",
    );
}

#[test]
fn a_shrunk_claim_is_refused_and_a_grown_one_is_not() {
    let smaller = BASE.replace("files: { size: 5Gi }", "files: { size: 1Gi }");
    refused_then_accepted(
        BASE,
        &smaller,
        &["--target", "kubernetes"],
        "volume.files",
        "would shrink from 5Gi to 1Gi",
    );
    let site = Site::new();
    site.render(BASE, &["--target", "kubernetes"]).success();
    let larger = BASE.replace("files: { size: 5Gi }", "files: { size: 50Gi }");
    site.render(&larger, &["--target", "kubernetes"]).success();
}

#[test]
fn a_claim_of_another_access_mode_is_refused() {
    let shared = BASE.replace("files: { size: 5Gi }", "files: { size: 5Gi, shared: true }");
    refused_then_accepted(
        BASE,
        &shared,
        &["--target", "kubernetes"],
        "volume.files",
        "ReadWriteOnce → (default class) ReadWriteMany",
    );
}

#[test]
fn a_statefulset_field_kubernetes_will_not_change_is_refused() {
    // The cluster's members keep their data in claim templates sized from the volume.
    let cluster = BASE.replace(
        "  volume: db_data\n",
        "  volume: db_data\n  cluster: { members: 3 }\n",
    );
    let bigger = cluster.replace("db_data: { size: 10Gi }", "db_data: { size: 20Gi }");
    refused_then_accepted(
        &cluster,
        &bigger,
        &["--target", "kubernetes"],
        "kubernetes.statefulset.demo-database",
        "StatefulSet `demo-database` changes fields Kubernetes will not change in place (volumeClaimTemplates)",
    );
}

#[test]
fn an_older_database_or_another_engine_is_refused_and_a_newer_one_warns() {
    let older = BASE.replace("version: \"10.11\"", "version: \"10.6\"");
    refused_then_accepted(
        BASE,
        &older,
        &["--target", "compose"],
        "database.version",
        "the database moves to an older version, 10.11 → 10.6",
    );
    let mysql = BASE
        .replace("engine: mariadb", "engine: mysql")
        .replace("\"10.11\"", "\"8.0\"");
    refused_then_accepted(
        BASE,
        &mysql,
        &["--target", "compose"],
        "database.engine",
        "the database engine changes from mariadb to mysql",
    );
    let site = Site::new();
    site.render(BASE, &["--target", "compose"]).success();
    let newer = BASE.replace("version: \"10.11\"", "version: \"11.4\"");
    let r = site.render(&newer, &["--target", "compose"]);
    r.success();
    let err = stderr(&r);
    assert!(err.contains("W700-state-change"), "{}", r.said());
    assert!(
        err.contains("back up the database before deploying"),
        "{}",
        r.said()
    );
}

#[test]
fn a_target_not_rendered_keeps_its_state_for_the_next_render_of_it() {
    let site = Site::new();
    site.render(BASE, &[]).success();
    let renamed = BASE.replace("files", "uploads");
    // compose alone: the claim's record is kept, not compared and not forgotten…
    site.render(BASE, &["--target", "compose"]).success();
    let state = std::fs::read_to_string(site.out.join("state.json")).expect("state.json");
    assert!(state.contains("\"demo-files\""), "{state}");
    // …so the rename is still caught when Kubernetes is rendered again.
    let r = site.render(&renamed, &["--target", "kubernetes"]);
    r.code(1);
    assert!(
        stderr(&r).contains("PersistentVolumeClaim `demo-files`"),
        "{}",
        r.said()
    );
}

#[test]
fn a_damaged_state_file_is_refused_with_what_to_do() {
    let site = Site::new();
    site.render(BASE, &["--target", "compose"]).success();
    let state = site.out.join("state.json");
    std::fs::write(&state, "{ not json").expect("write");
    let r = site.render(BASE, &["--target", "compose"]);
    r.code(1);
    let err = stderr(&r);
    assert!(err.contains("state.json: not JSON"), "{}", r.said());
    assert!(
        err.contains("remove it to record the current render anew"),
        "{}",
        r.said()
    );
    assert!(!err.contains("{ not json"), "raw input echoed: {err}");
    std::fs::remove_file(&state).expect("rm");
    site.render(BASE, &["--target", "compose"]).success();
    assert!(Path::new(&state).is_file());
}
