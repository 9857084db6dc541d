//! Hardening on the real Docker Engine: `read_only: true` stops a container from writing its root
//! file system, and a path listed in `writable` is writable again. Self-contained: the image is a
//! busybox root file system (Debian's busybox-static) brought in with `docker import`, so no
//! registry is needed. Skipped without an engine, busybox or compose; under CI=true that fails.

#![allow(clippy::expect_used, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{render, tool};

/// The tag of the imported image (unique to this test, so nothing else's images are touched).
const IMAGE: &str = "misp-gen-test-hardening/busybox:1";

/// The docker CLI, when an engine answers.
fn docker() -> Option<PathBuf> {
    let d = tool("docker")?;
    let ok = Command::new(&d)
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(d)
    } else {
        common::skip("Docker Engine", "no Docker Engine answers `docker info`");
        None
    }
}

/// A root file system with busybox, `/data` and `/tmp`, imported as [`IMAGE`].
fn import_image(docker: &Path, dir: &Path) -> bool {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file());
    let Some(busybox) = busybox else {
        common::skip("busybox", "busybox-static is not installed (/bin/busybox)");
        return false;
    };
    let root = dir.join("rootfs");
    for d in ["bin", "data", "tmp"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).expect("symlink");
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar runs");
    assert!(st.success(), "tar failed");
    let o = Command::new(docker)
        .arg("import")
        .arg(&tar)
        .arg(IMAGE)
        .output()
        .expect("docker import runs");
    assert!(
        o.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    true
}

/// Render a one-service spec with `security` and run it with compose; its output and success.
fn run(compose: &Path, dir: &Path, case: &str, security: &str) -> (bool, String) {
    let spec = dir.join(format!("{case}.yaml"));
    std::fs::write(
        &spec,
        format!(
            r#"apiVersion: misp-gen/v1
name: hardening-{case}
services:
  writer:
    image: {IMAGE}
    # Root (no `user`) with the default capability set: only a read-only root stops the write.
    command: ["/bin/busybox", "sh", "-c", "echo written > /data/probe && /bin/busybox cat /data/probe"]
    restart: "no"
    security: {security}
images: {{ pull: never }}
"#
        ),
    )
    .expect("write spec");
    let out = dir.join(case);
    render(&spec, &out, &["--target", "compose"]);
    let file = out.join("compose/compose.yaml");
    let project = format!("misp-gen-test-hardening-{case}");
    let up: Output = Command::new(compose)
        .arg("-f")
        .arg(&file)
        .args(["-p", &project, "up", "--abort-on-container-exit"])
        .args(["--exit-code-from", "writer", "--no-color"])
        .output()
        .expect("compose runs");
    let _ = Command::new(compose)
        .arg("-f")
        .arg(&file)
        .args(["-p", &project, "down", "--remove-orphans"])
        .output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    (up.status.success(), text)
}

// Pins that `read_only: true` makes the root file system read-only on the real engine (the write
// fails with EROFS), that a `writable` path is writable, and that without `read_only` the same
// container writes where it likes.
#[test]
fn read_only_root_on_docker() {
    let Some(docker) = docker() else { return };
    let Some(compose) = tool("docker-compose") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    if !import_image(&docker, dir.path()) {
        return;
    }
    let (ok, text) = run(&compose, dir.path(), "ro", "{ read_only: true }");
    assert!(!ok, "a read-only root must refuse the write:\n{text}");
    assert!(
        text.contains("Read-only file system"),
        "the write fails because the file system is read-only:\n{text}"
    );
    let (ok, text) = run(
        &compose,
        dir.path(),
        "writable",
        "{ read_only: true, writable: [/data] }",
    );
    assert!(ok && text.contains("written"), "/data is writable:\n{text}");
    let (ok, text) = run(&compose, dir.path(), "rw", "{}");
    assert!(
        ok && text.contains("written"),
        "the default root is writable:\n{text}"
    );
    let _ = Command::new(&docker).args(["image", "rm", IMAGE]).output();
}
