//! Images and air-gapped bundles: the image list is exactly what the rendered files pull, a mirror
//! rewrites every reference in every target, the pull policy reaches every target, and image policy
//! errors come out as CI annotations at the right lines.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{EXAMPLES, PROFILES, Run as _, bin, example, render, tree};

/// A word that is an image reference as misp-gen writes them: registry host (with a `.` or a
/// port), a path, and a tag or digest.
fn looks_like_image(word: &str) -> bool {
    let Some((host, rest)) = word.split_once('/') else {
        return false;
    };
    (host.contains('.') || host.contains(':'))
        && !host.contains('=')
        && !rest.is_empty()
        && (rest.contains(':') || rest.contains("@sha256:"))
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
}

/// Every image reference in a rendered target directory: compose `image:`, Kubernetes container
/// and init-container `image:`, Quadlet `Image=`, and image words on podman/docker command lines.
#[expect(clippy::expect_used, reason = "a test helper")]
fn images_in(dir: &Path) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    if !dir.exists() {
        return set;
    }
    for (rel, bytes) in tree(dir) {
        let text = String::from_utf8(bytes).expect("utf-8 output");
        let yaml = Path::new(&rel).extension().is_some_and(|e| e == "yaml");
        for line in text.lines() {
            let t = line.trim();
            if yaml {
                if let Some(v) = t
                    .strip_prefix("image:")
                    .or_else(|| t.strip_prefix("- image:"))
                {
                    set.insert(v.trim().trim_matches('"').to_owned());
                }
            } else if let Some(v) = t.strip_prefix("Image=") {
                set.insert(v.to_owned());
            } else if t.starts_with("ExecStart") {
                set.extend(
                    t.split_whitespace()
                        .map(|w| w.trim_matches('"'))
                        .filter(|w| looks_like_image(w))
                        .map(str::to_owned),
                );
            }
        }
    }
    set
}

#[expect(clippy::expect_used, reason = "a test helper")]
fn list(spec: &Path, args: &[&str]) -> BTreeSet<String> {
    let o = bin()
        .arg("images")
        .arg(spec)
        .args(args)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

// Pins, for each example × profile and each target, that `images` equals the set of images the
// rendered files reference, and images.txt equals it too.
#[test]
fn image_lists_match_rendered_files() {
    for ex in EXAMPLES {
        for profile in PROFILES {
            let tmp = tempfile::tempdir().expect("tmp");
            let spec = example(ex);
            render(
                &spec,
                tmp.path(),
                &["--profile", profile, "--target", "all"],
            );
            let from_files: BTreeSet<String> = ["compose", "kubernetes", "systemd"]
                .iter()
                .flat_map(|t| images_in(&tmp.path().join(t)))
                .collect();
            assert_eq!(
                list(&spec, &["--profile", profile]),
                from_files,
                "{ex}/{profile}: all targets"
            );
            let txt: BTreeSet<String> = std::fs::read_to_string(tmp.path().join("images.txt"))
                .expect("images.txt")
                .lines()
                .map(str::to_owned)
                .collect();
            assert_eq!(txt, from_files, "{ex}/{profile}: images.txt");
            for (target, flavor) in [
                ("compose", None),
                ("kubernetes", None),
                ("systemd", Some("quadlet")),
                ("systemd", Some("podman")),
                ("systemd", Some("docker")),
            ] {
                let t = tempfile::tempdir().expect("tmp");
                let mut args = vec!["--profile", profile, "--target", target];
                if let Some(f) = flavor {
                    args.extend(["--flavor", f]);
                }
                render(&spec, t.path(), &args);
                let found = images_in(&t.path().join(target));
                assert_eq!(
                    list(&spec, &["--profile", profile, "--target", target]),
                    found,
                    "{ex}/{profile}/{target} {flavor:?}"
                );
            }
        }
    }
}

// Pins that a registry mirror (command line or spec) rewrites every image reference of every
// target, keeping path, tag and digest, and leaves none outside the mirror.
#[test]
fn mirror_rewrites_every_reference() {
    let mirror = "mirror.example.internal:5000/hub";
    for ex in EXAMPLES {
        for profile in PROFILES {
            let tmp = tempfile::tempdir().expect("tmp");
            let spec = example(ex);
            render(
                &spec,
                tmp.path(),
                &["--profile", profile, "--registry-mirror", mirror],
            );
            let plain = list(&spec, &["--profile", profile]);
            let mirrored = list(&spec, &["--profile", profile, "--registry-mirror", mirror]);
            assert_eq!(plain.len(), mirrored.len());
            for (p, m) in plain.iter().zip(&mirrored) {
                let rest = p.split_once('/').expect("registry/path").1;
                assert_eq!(m, &format!("{mirror}/{rest}"), "path, tag and digest kept");
            }
            let found: BTreeSet<String> = ["compose", "kubernetes", "systemd"]
                .iter()
                .flat_map(|t| images_in(&tmp.path().join(t)))
                .collect();
            assert_eq!(found, mirrored, "{ex}/{profile}");
            for (rel, bytes) in tree(tmp.path()) {
                if rel.starts_with("secrets/") {
                    continue;
                }
                let text = String::from_utf8_lossy(&bytes);
                for registry in ["docker.io/", "ghcr.io/", "quay.io/"] {
                    assert!(
                        !text.contains(registry),
                        "{ex}/{profile}: {rel} still names {registry}"
                    );
                }
            }
        }
    }
}

// Pins that images.pull reaches compose pull_policy, Kubernetes imagePullPolicy, Quadlet Pull= and
// podman --pull.
#[test]
fn pull_policy_reaches_every_target() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(&spec, "apiVersion: misp-gen/v1\nname: t\nimages: { pull: never }\nservices:\n  web:\n    image: docker.io/library/nginx:1.27.3\n").expect("spec");
    let out = tmp.path().join("out");
    render(&spec, &out, &["--target", "all"]);
    let compose = std::fs::read_to_string(out.join("compose/compose.yaml")).expect("compose");
    assert!(compose.contains("pull_policy: \"never\""), "{compose}");
    let k8s: String = tree(&out.join("kubernetes"))
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        k8s.contains("imagePullPolicy: Never") || k8s.contains("imagePullPolicy: \"Never\""),
        "kubernetes"
    );
    let quadlet: String = tree(&out.join("systemd"))
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(quadlet.contains("Pull=never"), "quadlet");
    let out2 = tmp.path().join("out2");
    render(&spec, &out2, &["--target", "systemd", "--flavor", "podman"]);
    let podman: String = tree(&out2.join("systemd"))
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(podman.contains("--pull=never"), "podman");
}

// Pins `images --format json`: each image with its parts and the services that use it.
#[test]
fn images_json() {
    let o = bin()
        .arg("images")
        .arg(example("misp"))
        .args(["--profile", "ha", "--format", "json"])
        .ran();
    o.success();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let web = v
        .as_array()
        .expect("array")
        .iter()
        .find(|i| i["image"] == "docker.io/jisccti/misp-web:v2.5.42")
        .expect("web image");
    assert_eq!(web["registry"], "docker.io");
    assert_eq!(web["repository"], "jisccti/misp-web");
    assert_eq!(web["tag"], "v2.5.42");
    assert_eq!(web["used_by"], serde_json::json!(["web"]));
    assert!(
        v.as_array()
            .expect("array")
            .iter()
            .any(|i| i["used_by"] == serde_json::json!(["edge-proxy"])),
        "the load balancer is listed"
    );
}

// Pins policy violations as GitHub annotations: exit 1, one `::error` per violation at its line.
#[test]
fn policy_violations_as_github_annotations() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "apiVersion: misp-gen/v1\nname: t\npolicy: { registries: [docker.io/jisccti], require_digest: true }\nservices:\n  a:\n    image: jisccti/misp-web:v2.5.42\n  b:\n    image: quay.io/x/y:1.0\n  c:\n    image: redis:latest\n",
    )
    .expect("spec");
    let o = bin()
        .arg("validate")
        .arg(&spec)
        .args(["--format", "github"])
        .ran();
    o.code(1);
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    let has = |line: u32, code: &str| {
        lines
            .iter()
            .any(|l| l.contains(&format!(",line={line},")) && l.contains(code))
    };
    assert!(has(6, "E314-image-digest-required"), "{out}");
    assert!(
        has(8, "E313-image-registry-not-allowed") && has(8, "E314-image-digest-required"),
        "{out}"
    );
    assert!(
        has(10, "E312-image-latest") && has(10, "E313-image-registry-not-allowed"),
        "{out}"
    );
    assert!(
        lines.iter().all(|l| l.starts_with("::error file=")),
        "{out}"
    );
}

// Pins that the load balancer compose adds is held to the image policy, at the edge's line.
#[test]
fn load_balancer_image_obeys_policy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    let body = "apiVersion: misp-gen/v1\nname: t\npolicy: { registries: [docker.io/jisccti] }\nsecrets:\n  tls: { generate: tls, hosts: [t.example.org] }\nservices:\n  web:\n    image: jisccti/misp-web:v2.5.42\n    replicas: 2\n    ports: [{ name: https, port: 443 }]\nedge:\n  service: web\n  port: https\n  host: t.example.org\n  tls: tls\n";
    std::fs::write(&spec, body).expect("spec");
    let o = bin()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .args(["--target", "compose"])
        .ran();
    o.code(1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("spec.yaml:11:1:") && err.contains("edge.image"),
        "{err}"
    );
    std::fs::write(&spec, format!("{body}  image: jisccti/haproxy:3.0.5\n")).expect("spec");
    render(&spec, &tmp.path().join("out"), &["--target", "compose"]);
}
