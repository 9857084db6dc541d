//! The Kubernetes target: what no schema checks (selectors, references, names, secrets kept out of
//! the manifests, the HA shape), golden files of every example × profile, and — when the tools are
//! there — kustomize and the Kubernetes `OpenAPI` schemas on the result.
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly, with the object and reference it was checking"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use common::{Ran, Run as _, bin, repo, secret_values, tool};

const EXAMPLES: [&str; 3] = ["misp", "portus", "starter"];
const PROFILES: [&str; 2] = ["single-node", "ha"];
const WORKLOADS: [&str; 2] = ["Deployment", "StatefulSet"];

/// Render one spec for the kubernetes target into a fresh directory.
fn render_into(spec: &Path, profile: Option<&str>, out: &Path) -> Ran {
    let _ = std::fs::remove_dir_all(out);
    let mut cmd = bin();
    cmd.arg("render").arg(spec);
    if let Some(p) = profile {
        cmd.args(["--profile", p]);
    }
    cmd.args(["--target", "kubernetes", "--out"]).arg(out);
    cmd.ran()
}

/// Every example × profile, rendered once per test run.
fn rendered() -> &'static BTreeMap<(&'static str, &'static str), PathBuf> {
    static DIRS: OnceLock<BTreeMap<(&'static str, &'static str), PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let mut m = BTreeMap::new();
        for e in EXAMPLES {
            for p in PROFILES {
                let out =
                    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kubernetes-{e}-{p}"));
                let o = render_into(&repo().join(format!("examples/{e}.yaml")), Some(p), &out);
                assert!(
                    o.status.success(),
                    "render {e} {p}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                m.insert((e, p), out);
            }
        }
        m
    })
}

fn load(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    misp_gen::spec::load::load(&path.display().to_string(), &bytes)
        .unwrap_or_else(|d| panic!("{}: {}", path.display(), d.message))
        .value
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn labels(v: &Value, ptr: &str) -> BTreeMap<String, String> {
    v.pointer(ptr)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The objects of one rendered set, as `kubectl apply -k` would see them before kustomize runs:
/// resource files, plus the Secrets and `ConfigMap`s the generators make (name → keys).
struct Set {
    objects: Vec<(String, Value)>,
    secrets: BTreeMap<String, BTreeSet<String>>,
    config_maps: BTreeMap<String, BTreeSet<String>>,
}

fn generators(kdir: &Path, k: &Value, field: &str, into: &mut BTreeMap<String, BTreeSet<String>>) {
    for g in arr(k, &format!("/{field}")) {
        let mut keys = BTreeSet::new();
        for f in arr(g, "/files") {
            let f = f.as_str().unwrap_or("");
            let (key, path) = f.split_once('=').unwrap_or((f, f));
            assert!(
                kdir.join(path).is_file(),
                "{field} reads {path}, which is missing"
            );
            keys.insert(key.to_owned());
        }
        for e in arr(g, "/envs") {
            let text = std::fs::read_to_string(kdir.join(e.as_str().unwrap_or("")))
                .expect("env file exists");
            for line in text.lines().filter(|l| !l.is_empty()) {
                keys.insert(line.split_once('=').map_or(line, |(k, _)| k).to_owned());
            }
        }
        let name = s(g, "/name").to_owned();
        // kustomize appends `-` and a 10-character hash.
        assert!(
            is_dns_label(&name) && name.len() + 11 <= 63,
            "generated name {name} is not a DNS-1123 label of at most 52"
        );
        assert!(
            into.insert(name.clone(), keys).is_none(),
            "{name} generated twice"
        );
    }
}

fn set(dir: &Path) -> Set {
    let kdir = dir.join("kubernetes");
    let k = load(&kdir.join("kustomization.yaml"));
    let mut set = Set {
        objects: Vec::new(),
        secrets: BTreeMap::new(),
        config_maps: BTreeMap::new(),
    };
    generators(&kdir, &k, "configMapGenerator", &mut set.config_maps);
    let listed: Vec<&str> = arr(&k, "/resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    assert_eq!(listed, sorted, "resources are listed sorted");
    for r in listed {
        let p = kdir.join(r);
        if p.is_dir() {
            let sk = load(&p.join("kustomization.yaml"));
            generators(&p, &sk, "secretGenerator", &mut set.secrets);
            for g in arr(&sk, "/secretGenerator") {
                if s(g, "/type") == "kubernetes.io/tls" {
                    let keys = &set.secrets[s(g, "/name")];
                    assert!(keys.contains("tls.crt") && keys.contains("tls.key"));
                }
            }
        } else {
            set.objects.push((r.to_owned(), load(&p)));
        }
    }
    // Every manifest in the directory is listed.
    for f in files_under(&kdir) {
        let rel = f
            .strip_prefix(&kdir)
            .expect("under")
            .to_string_lossy()
            .into_owned();
        if Path::new(&rel).extension().is_some_and(|x| x == "yaml")
            && rel != "kustomization.yaml"
            && !rel.starts_with("files/")
        {
            assert!(
                set.objects.iter().any(|(n, _)| *n == rel),
                "{rel} is not in the kustomization"
            );
        }
    }
    set
}

fn of_kind<'a>(set: &'a Set, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    set.objects
        .iter()
        .map(|(_, v)| v)
        .filter(move |v| s(v, "/kind") == kind)
}

fn workloads(set: &Set) -> impl Iterator<Item = &Value> {
    set.objects
        .iter()
        .map(|(_, v)| v)
        .filter(|v| WORKLOADS.contains(&s(v, "/kind")))
}

fn for_each_set(f: impl Fn(&str, &Set, &Path)) {
    for ((e, p), dir) in rendered() {
        let label = format!("{e}/{p}");
        f(&label, &set(dir), dir);
    }
}

// Every selector (workload, Service, PDB, spread constraint) matches the labels of the pods it means.
#[test]
fn selectors_match_pod_labels() {
    for_each_set(|label, set, _| {
        let pods: Vec<BTreeMap<String, String>> = workloads(set)
            .map(|w| labels(w, "/spec/template/metadata/labels"))
            .collect();
        for w in workloads(set) {
            let sel = labels(w, "/spec/selector/matchLabels");
            let own = labels(w, "/spec/template/metadata/labels");
            assert!(
                matches(&sel, &own),
                "{label}: {} selects not its own pods",
                s(w, "/metadata/name")
            );
            assert!(
                !sel.contains_key("app.kubernetes.io/version"),
                "{label}: selector holds the version"
            );
            for c in arr(w, "/spec/template/spec/topologySpreadConstraints") {
                assert!(
                    matches(&labels(c, "/labelSelector/matchLabels"), &own),
                    "{label}: spread selector"
                );
            }
            // No two workloads select each other's pods.
            let n = pods.iter().filter(|p| matches(&sel, p)).count();
            assert_eq!(
                n,
                1,
                "{label}: {} selects {n} pod templates",
                s(w, "/metadata/name")
            );
        }
        for svc in of_kind(set, "Service") {
            let sel = labels(svc, "/spec/selector");
            assert!(
                pods.iter().any(|p| matches(&sel, p)),
                "{label}: Service {} selects no pods",
                s(svc, "/metadata/name")
            );
        }
        for pdb in of_kind(set, "PodDisruptionBudget") {
            let sel = labels(pdb, "/spec/selector/matchLabels");
            assert!(
                pods.iter().any(|p| matches(&sel, p)),
                "{label}: PDB {} selects no pods",
                s(pdb, "/metadata/name")
            );
        }
    });
}

/// The containers (init and main) of a workload.
fn containers(w: &Value) -> Vec<&Value> {
    arr(w, "/spec/template/spec/initContainers")
        .iter()
        .chain(arr(w, "/spec/template/spec/containers"))
        .collect()
}

// Every Secret, ConfigMap, claim, Service and port a manifest refers to exists in the set.
#[test]
fn references_resolve() {
    for_each_set(|label, set, _| {
        let pvcs: BTreeSet<&str> = of_kind(set, "PersistentVolumeClaim")
            .map(|p| s(p, "/metadata/name"))
            .collect();
        let services: BTreeMap<&str, &Value> = of_kind(set, "Service")
            .map(|v| (s(v, "/metadata/name"), v))
            .collect();
        let secret_has = |name: &str, key: Option<&str>| {
            set.secrets
                .get(name)
                .is_some_and(|keys| key.is_none_or(|k| keys.contains(k)))
        };
        for w in workloads(set) {
            workload_refs(label, set, w, &pvcs, &services, &secret_has);
        }
        service_and_ingress_refs(label, set, &services, &secret_has);
    });
}

/// A workload's Secrets, `ConfigMap`s, claims, headless Service, mounts and probe ports exist.
fn workload_refs(
    label: &str,
    set: &Set,
    w: &Value,
    pvcs: &BTreeSet<&str>,
    services: &BTreeMap<&str, &Value>,
    secret_has: &dyn Fn(&str, Option<&str>) -> bool,
) {
    let wn = s(w, "/metadata/name");
    let pod = w.pointer("/spec/template/spec").expect("pod spec");
    let mut vol_names: BTreeSet<&str> = BTreeSet::new();
    for v in arr(pod, "/volumes") {
        assert!(
            vol_names.insert(s(v, "/name")),
            "{label}: {wn}: duplicate volume"
        );
        if let Some(sec) = v.get("secret") {
            let n = s(sec, "/secretName");
            assert!(secret_has(n, None), "{label}: {wn}: no Secret {n}");
            for i in arr(sec, "/items") {
                assert!(
                    secret_has(n, Some(s(i, "/key"))),
                    "{label}: {wn}: Secret {n} has no key {}",
                    s(i, "/key")
                );
            }
        }
        if let Some(cm) = v.get("configMap") {
            let n = s(cm, "/name");
            let keys = set
                .config_maps
                .get(n)
                .unwrap_or_else(|| panic!("{label}: {wn}: no ConfigMap {n}"));
            for i in arr(cm, "/items") {
                assert!(
                    keys.contains(s(i, "/key")),
                    "{label}: {wn}: ConfigMap {n} has no key"
                );
            }
        }
        if let Some(c) = v.get("persistentVolumeClaim") {
            let n = s(c, "/claimName");
            assert!(
                pvcs.contains(n),
                "{label}: {wn}: no PersistentVolumeClaim {n}"
            );
        }
    }
    for t in arr(w, "/spec/volumeClaimTemplates") {
        vol_names.insert(s(t, "/metadata/name"));
    }
    if s(w, "/kind") == "StatefulSet" {
        let sn = s(w, "/spec/serviceName");
        let svc = services
            .get(sn)
            .unwrap_or_else(|| panic!("{label}: {wn}: no Service {sn}"));
        assert_eq!(
            s(svc, "/spec/clusterIP"),
            "None",
            "{label}: {sn} is not headless"
        );
    }
    let mut names = BTreeSet::new();
    for c in containers(w) {
        assert!(
            names.insert(s(c, "/name")),
            "{label}: {wn}: duplicate container name"
        );
        assert!(is_dns_label(s(c, "/name")), "{label}: {wn}: container name");
        for m in arr(c, "/volumeMounts") {
            assert!(
                vol_names.contains(s(m, "/name")),
                "{label}: {wn}: mount of unknown volume {}",
                s(m, "/name")
            );
        }
        for e in arr(c, "/env") {
            if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                let (n, k) = (s(r, "/name"), s(r, "/key"));
                assert!(
                    secret_has(n, Some(k)),
                    "{label}: {wn}: no key {k} in Secret {n}"
                );
            }
        }
        let ports: BTreeSet<&str> = arr(c, "/ports").iter().map(|p| s(p, "/name")).collect();
        for p in arr(c, "/ports") {
            assert!(s(p, "/name").len() <= 15, "{label}: port name too long");
        }
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
            for kind in ["httpGet", "tcpSocket"] {
                if let Some(port) = c
                    .pointer(&format!("/{probe}/{kind}/port"))
                    .and_then(Value::as_str)
                {
                    assert!(
                        ports.contains(port),
                        "{label}: {wn}: {probe} uses unknown port {port}"
                    );
                }
            }
        }
    }
}

/// Services target named ports their pods have; the Ingress reaches a Service port and a TLS Secret.
fn service_and_ingress_refs(
    label: &str,
    set: &Set,
    services: &BTreeMap<&str, &Value>,
    secret_has: &dyn Fn(&str, Option<&str>) -> bool,
) {
    for svc in services.values() {
        let sel = labels(svc, "/spec/selector");
        let pod_ports: BTreeSet<&str> = workloads(set)
            .filter(|w| matches(&sel, &labels(w, "/spec/template/metadata/labels")))
            .flat_map(|w| arr(w, "/spec/template/spec/containers").iter())
            .flat_map(|c| arr(c, "/ports").iter())
            .map(|p| s(p, "/name"))
            .collect();
        for p in arr(svc, "/spec/ports") {
            if let Some(t) = p.get("targetPort").and_then(Value::as_str) {
                assert!(
                    pod_ports.contains(t),
                    "{label}: Service {} targets unknown port {t}",
                    s(svc, "/metadata/name")
                );
            }
        }
    }
    for ing in of_kind(set, "Ingress") {
        for t in arr(ing, "/spec/tls") {
            let n = s(t, "/secretName");
            assert!(
                secret_has(n, Some("tls.crt")),
                "{label}: ingress TLS Secret {n}"
            );
        }
        for r in arr(ing, "/spec/rules") {
            for p in arr(r, "/http/paths") {
                let n = s(p, "/backend/service/name");
                let svc = services
                    .get(n)
                    .unwrap_or_else(|| panic!("{label}: ingress to unknown Service {n}"));
                if let Some(port) = p
                    .pointer("/backend/service/port/name")
                    .and_then(Value::as_str)
                {
                    assert!(
                        arr(svc, "/spec/ports")
                            .iter()
                            .any(|x| s(x, "/name") == port),
                        "{label}: ingress port {port}"
                    );
                }
            }
        }
    }
}

// Object names are DNS-1123 labels of at most 63 characters, unique per kind, and in their file names.
#[test]
fn object_names_are_dns_labels() {
    for_each_set(|label, set, _| {
        let mut seen = BTreeSet::new();
        for (file, v) in &set.objects {
            let (kind, name) = (s(v, "/kind"), s(v, "/metadata/name"));
            assert!(is_dns_label(name), "{label}: {kind} `{name}`");
            if kind == "Service" {
                assert!(
                    name.starts_with(|c: char| c.is_ascii_lowercase()),
                    "{label}: Service `{name}` is not DNS-1035"
                );
            }
            assert!(
                seen.insert((kind, name)),
                "{label}: two {kind}s named {name}"
            );
            assert!(
                file.starts_with(&kind.to_ascii_lowercase()[..3])
                    || kind == "PersistentVolumeClaim"
                    || kind == "PodDisruptionBudget",
                "{label}: {file} holds a {kind}"
            );
        }
    });
}

// No secret value appears in any file outside DIR/secrets/ (so the snapshots need no redaction).
#[test]
fn no_secret_outside_secrets_dir() {
    for ((e, p), dir) in rendered() {
        let needles = secret_values(dir);
        assert!(needles.len() >= 3, "{e}/{p}: found the secrets to look for");
        for f in files_under(dir) {
            if f.starts_with(dir.join("secrets")) {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for n in &needles {
                assert!(
                    !text.contains(n.as_str()),
                    "{e}/{p}: {} holds a secret value",
                    f.display()
                );
            }
        }
        // Everything kustomize reads for Secrets is under DIR/secrets/ and private.
        for f in files_under(&dir.join("secrets/kubernetes")) {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&f).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }
}

// HA output: a PDB for every replicated workload, spread across hosts, and ReadWriteMany claims for
// every volume that several pods mount.
#[test]
fn ha_shape() {
    for e in EXAMPLES {
        let dir = &rendered()[&(e, "ha")];
        let set = set(dir);
        let pdbs: Vec<BTreeMap<String, String>> = of_kind(&set, "PodDisruptionBudget")
            .map(|p| labels(p, "/spec/selector/matchLabels"))
            .collect();
        let mut mounts: BTreeMap<String, u64> = BTreeMap::new();
        let mut replicated = 0;
        for w in workloads(&set) {
            let replicas = w
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let pod = labels(w, "/spec/template/metadata/labels");
            if replicas > 1 {
                replicated += 1;
                assert!(
                    pdbs.iter().any(|sel| matches(sel, &pod)),
                    "{e}: {} has no PDB",
                    s(w, "/metadata/name")
                );
                assert_eq!(
                    s(w, "/spec/strategy/type"),
                    "RollingUpdate",
                    "{e}: {}",
                    s(w, "/metadata/name")
                );
                let spread = arr(w, "/spec/template/spec/topologySpreadConstraints");
                assert!(
                    spread
                        .iter()
                        .any(|c| s(c, "/topologyKey") == "kubernetes.io/hostname"),
                    "{e}: no spread"
                );
            }
            for v in arr(w, "/spec/template/spec/volumes") {
                if let Some(c) = v
                    .pointer("/persistentVolumeClaim/claimName")
                    .and_then(Value::as_str)
                {
                    *mounts.entry(c.to_owned()).or_default() += replicas;
                }
            }
        }
        assert!(replicated > 0, "{e}: ha replicates something");
        for pvc in of_kind(&set, "PersistentVolumeClaim") {
            let n = s(pvc, "/metadata/name");
            if mounts.get(n).copied().unwrap_or(0) > 1 {
                assert_eq!(
                    s(pvc, "/spec/accessModes/0"),
                    "ReadWriteMany",
                    "{e}: {n} is mounted by several pods"
                );
            }
        }
        assert!(
            of_kind(&set, "StatefulSet").all(|w| s(w, "/metadata/name") != format!("{e}-database")),
            "{e}: ha has no embedded database"
        );
    }
    let misp = set(&rendered()[&("misp", "ha")]);
    let rwx = of_kind(&misp, "PersistentVolumeClaim")
        .filter(|p| s(p, "/spec/accessModes/0") == "ReadWriteMany")
        .count();
    assert_eq!(rwx, 3, "misp ha: data, gpg and custom are shared");
}

// Single-node output: singletons and pods with a ReadWriteOnce claim use Recreate; published ports
// go through a LoadBalancer Service on the published port (never a hostPort) unless `publish: none`;
// the embedded database is a StatefulSet that waits are pointed at.
#[test]
fn single_node_shape() {
    for e in EXAMPLES {
        let set = set(&rendered()[&(e, "single-node")]);
        for w in of_kind(&set, "Deployment") {
            assert_eq!(
                s(w, "/spec/strategy/type"),
                "Recreate",
                "{e}: {}",
                s(w, "/metadata/name")
            );
        }
        assert!(of_kind(&set, "StatefulSet").any(|w| s(w, "/metadata/name")
            == format!("{}-database", if e == "starter" { "myapp" } else { e })));
        let host_ports = workloads(&set)
            .flat_map(|w| arr(w, "/spec/template/spec/containers").iter())
            .flat_map(|c| arr(c, "/ports").iter())
            .filter(|p| p.get("hostPort").is_some())
            .count();
        assert_eq!(
            host_ports, 0,
            "{e}: no hostPort by default (Pod Security baseline forbids it)"
        );
        let published: Vec<(String, u64)> = of_kind(&set, "Service")
            .filter(|svc| s(svc, "/spec/type") == "LoadBalancer")
            .flat_map(|svc| arr(svc, "/spec/ports").iter())
            .map(|p| {
                (
                    s(p, "/targetPort").to_owned(),
                    p["port"].as_u64().expect("a port number"),
                )
            })
            .collect();
        match e {
            // targets.kubernetes.publish: none: the Ingress is the only way in.
            "misp" => assert!(published.is_empty(), "{e}: {published:?}"),
            "starter" => assert_eq!(published, [("http".to_owned(), 8080)]),
            _ => assert_eq!(published, [("https".to_owned(), 443)]),
        }
    }
}

// `kubectl kustomize` builds every example × profile, rewrites every reference to the hashed
// generated names, and kubernetes-validate --strict (1.32) and yamllint print nothing on the result.
#[test]
fn kustomize_and_validate() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let validate = tool("kubernetes-validate");
    let yamllint = tool("yamllint");
    for ((e, p), dir) in rendered() {
        let o = std::process::Command::new(&kubectl)
            .arg("kustomize")
            .arg(dir.join("kubernetes"))
            .output()
            .expect("kubectl runs");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{e}/{p}: kustomize: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let built = String::from_utf8(o.stdout).expect("utf-8");
        let docs: Vec<Value> = built
            .split("\n---\n")
            .map(|d| {
                misp_gen::spec::load::load("built", d.as_bytes())
                    .expect("parses")
                    .value
            })
            .collect();
        let secrets: BTreeSet<&str> = docs
            .iter()
            .filter(|d| s(d, "/kind") == "Secret")
            .map(|d| s(d, "/metadata/name"))
            .collect();
        let cms: BTreeSet<&str> = docs
            .iter()
            .filter(|d| s(d, "/kind") == "ConfigMap")
            .map(|d| s(d, "/metadata/name"))
            .collect();
        for d in &docs {
            assert!(
                !s(d, "/metadata/namespace").is_empty() || s(d, "/kind") == "Namespace",
                "{e}/{p}: namespace set"
            );
            let mut refs = Vec::new();
            collect_refs(d, &mut refs);
            for (kind, name) in refs {
                let ok = if kind == "Secret" {
                    secrets.contains(name.as_str())
                } else {
                    cms.contains(name.as_str())
                };
                assert!(
                    ok,
                    "{e}/{p}: after kustomize, {kind} {name} is referenced but not built"
                );
            }
        }
        let tmp = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(tmp.path(), &built).expect("write");
        if let Some(v) = &validate {
            let o = std::process::Command::new(v)
                .args(["--strict", "--quiet", "-k", "1.32.0"])
                .arg(tmp.path())
                .output()
                .expect("runs");
            assert!(
                o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
                "{e}/{p}: kubernetes-validate: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        if let Some(y) = &yamllint {
            let cfg = "{extends: default, rules: {document-start: disable, line-length: {max: 200}, truthy: {check-keys: false}, indentation: {spaces: consistent, indent-sequences: whatever}}}";
            let mut cmd = std::process::Command::new(y);
            cmd.args(["-s", "-d", cfg]);
            for f in files_under(&dir.join("kubernetes"))
                .into_iter()
                .chain(files_under(&dir.join("secrets/kubernetes")))
            {
                if f.extension().is_some_and(|x| x == "yaml") {
                    cmd.arg(f);
                }
            }
            let o = cmd.output().expect("runs");
            assert!(
                o.status.success() && o.stdout.is_empty(),
                "{e}/{p}: yamllint: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
}

/// (kind, name) of every Secret and `ConfigMap` reference in a built object.
fn collect_refs(v: &Value, out: &mut Vec<(&'static str, String)>) {
    match v {
        Value::Object(m) => {
            if let Some(n) = m.get("secretName").and_then(Value::as_str) {
                out.push(("Secret", n.to_owned()));
            }
            if let Some(r) = m.get("secretKeyRef") {
                out.push(("Secret", s(r, "/name").to_owned()));
            }
            if let Some(c) = m.get("configMap") {
                out.push(("ConfigMap", s(c, "/name").to_owned()));
            }
            for x in m.values() {
                collect_refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

// Golden files: every file under DIR/kubernetes for every example × profile.
#[test]
fn snapshots() {
    for ((e, p), dir) in rendered() {
        let kdir = dir.join("kubernetes");
        for f in files_under(&kdir) {
            let rel = f
                .strip_prefix(&kdir)
                .expect("under")
                .to_string_lossy()
                .replace('/', "__");
            let text = std::fs::read_to_string(&f).expect("text");
            insta::assert_snapshot!(format!("{e}__{p}__{rel}"), text);
        }
    }
}

const EDGE_CASES: &str = r#"apiVersion: misp-gen/v1
name: edge
secrets:
  pw: { generate: password }
  tls: { generate: tls, hosts: [edge.example.org] }
volumes:
  cache_dir: { size: 1Gi }
services:
  app:
    image: docker.io/library/nginx:1.27.3
    user: "1000:1000"
    env:
      DSN: "mysql://u:${secrets.pw}@db/x"
      PLAIN: "cost $(not a var) $$5"
    ports: [{ name: http, port: 8080 }]
    mounts:
      - { file: conf, path: /etc/app/app.conf }
      - { file: creds, path: /etc/app/creds.conf }
      - { secret: tls, path: /tls, items: { tls.crt: a.crt } }
      - { secret: tls, path: /key, items: { tls.key: a.key } }
      - { volume: cache_dir, path: /cache }
    healthcheck: { tcp: http, start_period: 30s }
    depends_on: { migrate: completed, worker: started }
  migrate:
    image: docker.io/library/nginx:1.27.3
    scaling: singleton
    command: ["/migrate"]
    env: { PW: "${secrets.pw}" }
    mounts: [{ volume: cache_dir, path: /cache }]
  worker:
    image: docker.io/library/nginx:1.27.3
    healthcheck: { exec: ["sh", "-c", "test $(cat /ready) = $$ok"] }
files:
  conf: { content: "listen 8080\n", mode: "0640" }
  creds: { content: "password=${secrets.pw}\n" }
edge: { service: app, port: http, host: edge.example.org, tls: tls }
targets:
  kubernetes: { ingress_class: traefik }
"#;

fn render_text(name: &str, text: &str) -> (tempfile::TempDir, Ran) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = tmp.path().join(format!("{name}.yaml"));
    std::fs::write(&spec, text).expect("write");
    let out = render_into(&spec, None, &tmp.path().join("out"));
    (tmp, out)
}

// The paths the examples do not take: composite secret env (per-service Secret), $ escaping for the
// kubelet, files as ConfigMap or Secret, one secret mounted twice, `completed` as an init container,
// `started` through a headless Service, numeric users, another ingress class.
#[test]
fn edge_cases_map() {
    let (tmp, o) = render_text("edge", EDGE_CASES);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = tmp.path().join("out");
    let set = set(&dir);
    assert!(
        set.secrets.contains_key("edge-app-env"),
        "composite secret env goes to a per-service Secret"
    );
    assert!(
        set.secrets.contains_key("edge-file-creds")
            && set.config_maps.contains_key("edge-file-conf")
    );
    assert!(
        !dir.join("kubernetes/deployment-migrate.yaml").exists(),
        "a `completed` dependency is no Deployment"
    );
    let app = std::fs::read_to_string(dir.join("kubernetes/deployment-app.yaml")).expect("app");
    // The kubelet reads `$$` as `$` and `$(X)` as a reference: both are escaped, a lone `$` is not.
    assert!(
        app.contains("\"cost $$(not a var) $$$5\""),
        "kubelet escaping"
    );
    assert!(app.contains("name: \"run-migrate\"") && app.contains("name: \"wait-worker\""));
    // The kubelet expands `$(VAR)` in exec probe commands too: escaped there as in `command`.
    let worker =
        std::fs::read_to_string(dir.join("kubernetes/deployment-worker.yaml")).expect("worker");
    assert!(
        worker.contains("- \"test $$(cat /ready) = $$$ok\""),
        "exec probe escaping: {worker}"
    );
    assert!(app.contains("fsGroup: 1000"));
    let deployment = load(&dir.join("kubernetes/deployment-app.yaml"));
    let main = &arr(&deployment, "/spec/template/spec/containers")[0];
    assert_eq!(
        main.pointer("/securityContext/runAsUser"),
        Some(&Value::from(1000))
    );
    assert_eq!(
        main.pointer("/securityContext/runAsNonRoot"),
        Some(&Value::Bool(true))
    );
    assert!(
        main.pointer("/securityContext/capabilities/add").is_none(),
        "non-root needs no capabilities"
    );
    // The one-off keeps its own (image default) user, so it gets what a root start needs.
    let run = arr(&deployment, "/spec/template/spec/initContainers")
        .iter()
        .find(|c| s(c, "/name") == "run-migrate")
        .expect("run-migrate");
    assert!(run.pointer("/securityContext/runAsUser").is_none());
    assert!(run.pointer("/securityContext/capabilities/add").is_some());
    assert!(app.contains("\"secret-tls-2\""), "one secret, two mounts");
    assert!(dir.join("kubernetes/service-worker-headless.yaml").exists());
    let ing = std::fs::read_to_string(dir.join("kubernetes/ingress.yaml")).expect("ingress");
    assert!(ing.contains("ingressClassName: \"traefik\"") && !ing.contains("nginx.ingress"));
    references_resolve_in(&set);
    for n in secret_values(&dir) {
        for f in files_under(&dir.join("kubernetes")) {
            assert!(
                !std::fs::read_to_string(&f).unwrap_or_default().contains(&n),
                "{}",
                f.display()
            );
        }
    }
}

fn references_resolve_in(set: &Set) {
    for w in workloads(set) {
        for c in containers(w) {
            for e in arr(c, "/env") {
                if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                    assert!(
                        set.secrets
                            .get(s(r, "/name"))
                            .is_some_and(|k| k.contains(s(r, "/key")))
                    );
                }
            }
        }
    }
}

// Names Kubernetes cannot take are diagnostics at the spec node, not broken manifests: `_` and `-`
// colliding, a user given by name.
#[test]
fn unmappable_names_are_diagnostics() {
    let spec = r"apiVersion: misp-gen/v1
name: clash
volumes:
  a_b: { size: 1Gi }
  a-b: { size: 1Gi }
services:
  app:
    image: docker.io/library/nginx:1.27.3
    user: www-data
    mounts:
      - { volume: a_b, path: /x }
      - { volume: a-b, path: /y }
";
    let (tmp, o) = render_text("clash", spec);
    o.code(1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("PersistentVolumeClaim name `clash-a-b` is also made from"),
        "{err}"
    );
    assert!(err.contains("numeric user"), "{err}");
    assert!(
        !tmp.path().join("out/kubernetes").exists(),
        "nothing written"
    );
}

const WAIT_CHOICES: &str = r"apiVersion: misp-gen/v1
name: waitc
policy: { registries: [docker.io/library] }
services:
  api:
    image: docker.io/library/nginx:1.27
    ports: [{ name: http, port: 8080 }]
    healthcheck: { tcp: http }
  app:
    image: docker.io/library/nginx:1.27
    depends_on: { api: healthy }
targets:
  kubernetes: { wait_image: docker.io/library/busybox:1.36 }
";

// Images without the tools a wait needs: `wait_image` runs every wait container in the image the
// spec names (listed by `images`, through the mirror, under the image policy), and `waits: none`
// renders none, so the pod relies on the service's own retries.
#[test]
fn wait_image_and_no_waits() {
    let (tmp, o) = render_text("waitc", WAIT_CHOICES);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let app = load(&tmp.path().join("out/kubernetes/deployment-app.yaml"));
    let wait = &arr(&app, "/spec/template/spec/initContainers")[0];
    assert_eq!(s(wait, "/name"), "wait-api");
    assert_eq!(s(wait, "/image"), "docker.io/library/busybox:1.36");
    assert_eq!(
        s(&arr(&app, "/spec/template/spec/containers")[0], "/image"),
        "docker.io/library/nginx:1.27"
    );
    let spec = tmp.path().join("waitc.yaml");
    let images = |target: &str| {
        let o = bin()
            .args(["images"])
            .arg(&spec)
            .args([
                "--registry-mirror",
                "mirror.example:5000/hub",
                "--target",
                target,
            ])
            .output()
            .expect("runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("utf-8")
    };
    assert_eq!(
        images("kubernetes"),
        "mirror.example:5000/hub/library/busybox:1.36\nmirror.example:5000/hub/library/nginx:1.27\n"
    );
    assert_eq!(
        images("compose"),
        "mirror.example:5000/hub/library/nginx:1.27\n"
    );

    // Under the image policy like every other image, with its position.
    let (_t, o) = render_text(
        "waitp",
        &WAIT_CHOICES.replace("docker.io/library/busybox:1.36", "quay.io/x/busybox:1"),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("waitp.yaml:13:29: error[E313") && err.contains("quay.io/x/busybox"),
        "{err}"
    );

    let (tmp, o) = render_text(
        "waitn",
        &WAIT_CHOICES.replace(
            "{ wait_image: docker.io/library/busybox:1.36 }",
            "{ waits: none }",
        ),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let app = load(&tmp.path().join("out/kubernetes/deployment-app.yaml"));
    assert!(app.pointer("/spec/template/spec/initContainers").is_none());
}

/// Pod Security Standards levels, loosest first.
const LEVELS: [&str; 3] = ["privileged", "baseline", "restricted"];

/// The Pod Security Standards (Kubernetes documentation, "Pod Security Standards"), written here
/// from the documented rules and independently of the renderer: every field of a pod template
/// that `level` forbids, as text.
#[expect(clippy::too_many_lines, reason = "one block per documented control")]
fn pss_failures(pod: &Value, level: &str) -> Vec<String> {
    const BASELINE_CAPS: &[&str] = &[
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ];
    const SAFE_SYSCTLS: &[&str] = &[
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    ];
    const RESTRICTED_VOLUMES: &[&str] = &[
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    let mut f = Vec::new();
    if level == "privileged" {
        return f;
    }
    let spec = &pod["spec"];
    let containers: Vec<&Value> = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| arr(spec, &format!("/{k}")).iter())
        .collect();
    // Baseline.
    for k in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[k] == Value::Bool(true) {
            f.push(k.to_string());
        }
    }
    if spec.pointer("/securityContext/windowsOptions/hostProcess") == Some(&Value::Bool(true)) {
        f.push("hostProcess".into());
    }
    for v in arr(spec, "/volumes") {
        if v.get("hostPath").is_some() {
            f.push(format!("hostPath volume {}", s(v, "/name")));
        }
    }
    let seccomp_unconfined = |sc: &Value| s(sc, "/seccompProfile/type") == "Unconfined";
    if seccomp_unconfined(&spec["securityContext"]) {
        f.push("pod seccomp Unconfined".into());
    }
    for sysctl in arr(spec, "/securityContext/sysctls") {
        if !SAFE_SYSCTLS.contains(&s(sysctl, "/name")) {
            f.push(format!("sysctl {}", s(sysctl, "/name")));
        }
    }
    let se_linux_ok = |sc: &Value| {
        let o = &sc["seLinuxOptions"];
        o.is_null()
            || ([
                "",
                "container_t",
                "container_init_t",
                "container_kvm_t",
                "container_engine_t",
            ]
            .contains(&s(o, "/type"))
                && o.get("user").is_none()
                && o.get("role").is_none())
    };
    if !se_linux_ok(&spec["securityContext"]) {
        f.push("pod seLinuxOptions".into());
    }
    if let Some(a) = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for (k, v) in a {
            if k.starts_with("container.apparmor.security.beta.kubernetes.io/")
                && v.as_str() != Some("runtime/default")
                && !v.as_str().unwrap_or("").starts_with("localhost/")
            {
                f.push(format!("AppArmor {k}"));
            }
        }
    }
    for c in &containers {
        let n = s(c, "/name");
        let sc = &c["securityContext"];
        if sc["privileged"] == Value::Bool(true) {
            f.push(format!("{n}: privileged"));
        }
        for a in arr(sc, "/capabilities/add") {
            if !BASELINE_CAPS.contains(&a.as_str().unwrap_or("")) {
                f.push(format!("{n}: adds {a}"));
            }
        }
        for p in arr(c, "/ports") {
            if p.get("hostPort").and_then(Value::as_u64).unwrap_or(0) != 0 {
                f.push(format!("{n}: hostPort {}", p["hostPort"]));
            }
        }
        if seccomp_unconfined(sc) {
            f.push(format!("{n}: seccomp Unconfined"));
        }
        if s(sc, "/appArmorProfile/type") == "Unconfined" {
            f.push(format!("{n}: AppArmor Unconfined"));
        }
        if !se_linux_ok(sc) {
            f.push(format!("{n}: seLinuxOptions"));
        }
        if sc.get("procMount").is_some_and(|p| p != "Default") {
            f.push(format!("{n}: procMount"));
        }
    }
    if level == "baseline" {
        return f;
    }
    // Restricted.
    for v in arr(spec, "/volumes") {
        let kind = v
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "name"))
            .map_or("", String::as_str);
        if !RESTRICTED_VOLUMES.contains(&kind) {
            f.push(format!("volume {} is {kind}", s(v, "/name")));
        }
    }
    let pod_sc = &spec["securityContext"];
    let pod_non_root = pod_sc["runAsNonRoot"] == Value::Bool(true);
    if pod_sc["runAsUser"] == 0 {
        f.push("pod runAsUser 0".into());
    }
    let pod_seccomp = matches!(
        s(pod_sc, "/seccompProfile/type"),
        "RuntimeDefault" | "Localhost"
    );
    for c in &containers {
        let n = s(c, "/name");
        let sc = &c["securityContext"];
        if sc["allowPrivilegeEscalation"] != Value::Bool(false) {
            f.push(format!("{n}: allowPrivilegeEscalation is not false"));
        }
        let non_root = sc["runAsNonRoot"] == Value::Bool(true)
            || (pod_non_root && sc["runAsNonRoot"] != Value::Bool(false));
        if !non_root {
            f.push(format!("{n}: runAsNonRoot is not true"));
        }
        if sc["runAsUser"] == 0 {
            f.push(format!("{n}: runAsUser 0"));
        }
        let own_seccomp = s(sc, "/seccompProfile/type");
        if !(matches!(own_seccomp, "RuntimeDefault" | "Localhost")
            || pod_seccomp && own_seccomp.is_empty())
        {
            f.push(format!("{n}: seccomp not RuntimeDefault or Localhost"));
        }
        if !arr(sc, "/capabilities/drop").iter().any(|d| d == "ALL") {
            f.push(format!("{n}: capabilities not dropping ALL"));
        }
        for a in arr(sc, "/capabilities/add") {
            if a != "NET_BIND_SERVICE" {
                f.push(format!("{n}: adds {a}"));
            }
        }
    }
    f
}

/// The strictest level `pod` meets.
fn pss_level(pod: &Value) -> &'static str {
    LEVELS
        .iter()
        .rev()
        .find(|l| pss_failures(pod, l).is_empty())
        .copied()
        .unwrap_or("privileged")
}

// Every pod template of every example × profile meets the Pod Security level its namespace
// enforces (what a real API server admits), the namespace enforces the strictest level its pods
// meet, and warns and audits at one no looser.
#[test]
fn pod_security_level_is_met() {
    let mut table = Vec::new();
    for ((e, p), dir) in rendered() {
        let label = format!("{e}/{p}");
        let set = &set(dir);
        let ns = of_kind(set, "Namespace").next().expect("a namespace");
        let label_of = |k: &str| {
            s(
                ns,
                &format!("/metadata/labels/pod-security.kubernetes.io~1{k}"),
            )
            .to_owned()
        };
        let enforce = label_of("enforce");
        let mut strictest = "restricted";
        let mut per = Vec::new();
        for w in workloads(set) {
            let pod = &w["spec"]["template"];
            let failures = pss_failures(pod, &enforce);
            assert!(
                failures.is_empty(),
                "{label}: {} breaks {enforce}: {failures:?}",
                s(w, "/metadata/name")
            );
            let met = pss_level(pod);
            if LEVELS.iter().position(|l| *l == met) < LEVELS.iter().position(|l| *l == strictest) {
                strictest = met;
            }
            per.push(format!("{}={met}", s(w, "/metadata/name")));
        }
        assert_eq!(
            enforce, strictest,
            "{label}: the namespace enforces the strictest level its pods meet"
        );
        // Warn and audit: never looser than what is enforced (which of the stricter levels is
        // what the spec accepted: pod_security_warns_of_what_is_undecided).
        let rank = |l: &str| LEVELS.iter().position(|x| *x == l);
        assert!(rank(&label_of("warn")) >= rank(&enforce), "{label}");
        assert_eq!(label_of("audit"), label_of("warn"), "{label}");
        assert_eq!(label_of("enforce-version"), "v1.32", "{label}");
        table.push(format!("{label}: enforce {enforce} ({})", per.join(", ")));
    }
    eprintln!("{}", table.join("\n"));
}

const RESTRICTED: &str = r"apiVersion: misp-gen/v1
name: tight
services:
  api:
    image: docker.io/library/nginx:1.27
    user: '10001:10001'
    ports: [{ name: http, port: 8080, publish: 8080 }]
    healthcheck: { tcp: http }
  worker:
    image: docker.io/library/nginx:1.27
    user: '10002'
    depends_on: { api: healthy }
";

// A spec whose pods can meet restricted gets a namespace that enforces restricted; asking for a
// level the pods cannot meet is an error at the field that breaks it, with the level's reason.
#[test]
fn pod_security_level_from_the_spec() {
    let (tmp, o) = render_text("tight", RESTRICTED);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ns = load(&tmp.path().join("out/kubernetes/namespace.yaml"));
    assert_eq!(
        s(&ns, "/metadata/labels/pod-security.kubernetes.io~1enforce"),
        "restricted"
    );
    let published = load(&tmp.path().join("out/kubernetes/service-api-published.yaml"));
    assert_eq!(s(&published, "/spec/type"), "LoadBalancer");
    assert_eq!(published["spec"]["ports"][0]["port"], 8080);

    // hostPort asked for, baseline asked for: the publish field is named.
    let (_t, o) = render_text(
        "hostport",
        &format!(
            "{RESTRICTED}targets:\n  kubernetes: {{ publish: host-port, pod_security: baseline }}\n"
        ),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("hostport.yaml:7:48: error[E501-pod-security]: targets.kubernetes.pod_security is baseline, which forbids this: container `api` of `api` uses hostPort 8080"),
        "{err}"
    );
    // Restricted asked for, a service left at the image's user.
    let (_t, o) = render_text(
        "root",
        &format!(
            "{}targets:\n  kubernetes: {{ pod_security: restricted }}\n",
            RESTRICTED.replace("    user: '10002'\n", "")
        ),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("root.yaml:10:5: error[E501-pod-security]: targets.kubernetes.pod_security is restricted, which forbids this: container `worker` of `worker` runs as the image's user, which may be root"),
        "{err}"
    );
    // NodePort: the published port is the node port, in the range Kubernetes allows.
    let (tmp, o) = render_text(
        "nodeport",
        &format!(
            "{}targets:\n  kubernetes: {{ publish: node-port }}\n",
            RESTRICTED.replace("publish: 8080", "publish: 30080")
        ),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let published = load(&tmp.path().join("out/kubernetes/service-api-published.yaml"));
    assert_eq!(s(&published, "/spec/type"), "NodePort");
    assert_eq!(published["spec"]["ports"][0]["nodePort"], 30080);
    assert_eq!(published["spec"]["ports"][0]["port"], 8080);
}

/// `kubectl kustomize DIR`: every built object by (kind, name).
fn kustomize(kubectl: &Path, dir: &Path) -> BTreeMap<(String, String), Value> {
    let o = std::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        o.status.success(),
        "kustomize: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .expect("utf-8")
        .split("\n---\n")
        .map(|d| {
            let v = misp_gen::spec::load::load("built", d.as_bytes())
                .expect("parses")
                .value;
            (
                (
                    s(&v, "/kind").to_owned(),
                    s(&v, "/metadata/name").to_owned(),
                ),
                v,
            )
        })
        .collect()
}

// Pins the Kubernetes half of "a changed secret restarts exactly what uses it", with no manifest
// changed: after one secret is generated anew and rendered again, DIR/kubernetes is byte-identical,
// and kustomize builds a Secret with a new hash suffix for it alone; the workload that mounts it
// references the new name (so its pods roll) and every other workload builds exactly as before.
#[test]
fn changed_secret_rolls_only_the_pods_that_use_it() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "apiVersion: misp-gen/v1\nname: roll\nsecrets:\n  token: { generate: hex, length: 16 }\n  other: { generate: password }\nservices:\n  a:\n    image: docker.io/library/busybox:1.36.1\n    mounts: [{ secret: token, path: /run/token }]\n  b:\n    image: docker.io/library/busybox:1.36.1\n    env: { PW: \"${secrets.other}\" }\n  c:\n    image: docker.io/library/busybox:1.36.1\n",
    )
    .expect("spec");
    let out = tmp.path().join("out");
    let o = render_into(&spec, None, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifests = common::tree(&out.join("kubernetes"));
    let before = kustomize(&kubectl, &out.join("kubernetes"));

    std::fs::remove_file(out.join("secrets/token")).expect("rm secret");
    let mut cmd = assert_cmd::Command::cargo_bin("misp-gen").expect("binary");
    let o = cmd
        .arg("render")
        .arg(&spec)
        .args(["--target", "kubernetes", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        common::tree(&out.join("kubernetes")) == manifests,
        "a manifest changed with a secret"
    );
    let after = kustomize(&kubectl, &out.join("kubernetes"));

    let secrets = |m: &BTreeMap<(String, String), Value>| -> BTreeSet<String> {
        m.keys()
            .filter(|(k, _)| k == "Secret")
            .map(|(_, n)| n.clone())
            .collect()
    };
    let (sb, sa) = (secrets(&before), secrets(&after));
    let gone: Vec<&String> = sb.difference(&sa).collect();
    let new: Vec<&String> = sa.difference(&sb).collect();
    assert!(
        gone.len() == 1 && new.len() == 1 && gone[0].starts_with("roll-token-"),
        "one Secret renamed: {gone:?} → {new:?}"
    );
    let mut changed = Vec::new();
    for (key, v) in &before {
        if WORKLOADS.contains(&key.0.as_str()) && after.get(key) != Some(v) {
            changed.push(key.1.clone());
        }
    }
    assert_eq!(
        changed,
        ["roll-a"],
        "only the workload that mounts the secret changes"
    );
    let a = serde_json::to_string(&after[&("Deployment".to_owned(), "roll-a".to_owned())])
        .expect("json");
    assert!(
        a.contains(new[0].as_str()),
        "roll-a references the new Secret"
    );
}

// Issue 28: an exec health check that names another service's host runs in the pod like its
// command, so the named service's NetworkPolicy lets the pod in.
#[test]
fn a_health_check_naming_a_host_is_let_in() {
    let (dir, run) = render_text(
        "hc",
        r#"apiVersion: misp-gen/v1
name: hc
services:
  cache:
    image: docker.io/library/redis:7.4.1
    user: "10001:10001"
    ports: [{ name: redis, port: 6379 }]
  web:
    image: docker.io/library/redis:7.4.1
    user: "10001:10001"
    healthcheck:
      exec: ["redis-cli", "-h", "${services.cache.host}", "ping"]
"#,
    );
    run.success();
    let np = load(&dir.path().join("out/kubernetes/networkpolicy-cache.yaml"));
    let from: Vec<String> = arr(&np, "/spec/ingress")
        .iter()
        .flat_map(|rule| rule["from"].as_array().into_iter().flatten())
        .filter_map(|peer| {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(from, ["web"], "{np:#}");
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
    user: "10001"
    env:
      MODULES_URL: http://${services.misp-modules.host}:${services.misp-modules.port}
      MYSQL_HOST: ${database.host}
    ports: [{ name: http, port: 8080 }]
    healthcheck: { tcp: http }
    depends_on: { misp-modules: healthy, database: healthy }
  misp-modules:
    image: docker.io/library/nginx:1.27
    user: "10002"
    ports: [{ name: modules, port: 6666 }]
    healthcheck: { tcp: modules }
edge:
  service: web
  port: http
  host: misp.example.org
"#;

/// The pod's containers (init containers first) of the workload `name`.
fn pod_containers<'a>(set: &'a Set, name: &str) -> Vec<&'a Value> {
    let w = workloads(set)
        .find(|w| s(w, "/metadata/name") == name)
        .unwrap_or_else(|| panic!("workload {name}"));
    arr(w, "/spec/template/spec/initContainers")
        .iter()
        .chain(arr(w, "/spec/template/spec/containers"))
        .collect()
}

// A service is reached by its own name on Kubernetes too: its Service is named `S` (the database's
// is its `hostname`), `${services.S.host}` and `${database.host}` resolve to those names, and the
// Ingress and the waits use them; the other objects keep `<name>-<thing>`.
#[test]
fn services_are_reached_by_their_own_names() {
    let (tmp, o) = render_text("named", NAMED);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let set = set(&tmp.path().join("out"));
    let services: BTreeSet<&str> = of_kind(&set, "Service")
        .map(|v| s(v, "/metadata/name"))
        .collect();
    assert!(
        ["web", "misp-modules", "db"]
            .iter()
            .all(|n| services.contains(n)),
        "{services:?}"
    );
    assert!(
        !services.contains("named-web") && !services.contains("named-database"),
        "{services:?}"
    );
    let names: BTreeSet<&str> = workloads(&set).map(|w| s(w, "/metadata/name")).collect();
    assert!(
        names.contains("named-web") && names.contains("named-misp-modules"),
        "{names:?}"
    );
    let web = pod_containers(&set, "named-web");
    let main = web.last().expect("main container");
    let env: BTreeMap<&str, &str> = arr(main, "/env")
        .iter()
        .filter_map(|e| Some((s(e, "/name"), e.get("value")?.as_str()?)))
        .collect();
    assert_eq!(env.get("MODULES_URL"), Some(&"http://misp-modules:6666"));
    assert_eq!(env.get("MYSQL_HOST"), Some(&"db"));
    // The waits connect to the Services by those names.
    let waits = serde_json::to_string(&web[..web.len() - 1]).expect("json");
    assert!(
        waits.contains("misp-modules") && waits.contains("\"db\""),
        "{waits}"
    );
    assert!(!waits.contains("named-database"), "{waits}");
    let ing = of_kind(&set, "Ingress").next().expect("an ingress");
    assert_eq!(
        s(ing, "/spec/rules/0/http/paths/0/backend/service/name"),
        "web"
    );
}

// Service names are DNS-1035 on Kubernetes: a service whose name starts with a digit is an error
// at its key there, which says to rename it; the object names it shares with another are refused.
#[test]
fn service_names_kubernetes_cannot_take_are_located() {
    let spec = NAMED.replace("misp-modules", "3modules");
    let (tmp, o) = render_text("digit", &spec);
    o.code(1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("digit.yaml:22:3: error[E300-invalid-name]: kubernetes: the Service name `3modules` is not a DNS-1123 label starting with a letter"),
        "{err}"
    );
    assert!(err.contains("rename the service"), "{err}");
    assert!(
        !tmp.path().join("out/kubernetes").exists(),
        "nothing written"
    );
    // `web` of `named` publishes through the Service `named-web-published`; a service of that
    // name would be reached through a Service of the same name.
    let spec = r"apiVersion: misp-gen/v1
name: named
services:
  web:
    image: docker.io/library/nginx:1.27
    ports: [{ name: http, port: 8080, publish: 8080 }]
  named-web-published:
    image: docker.io/library/nginx:1.27
    ports: [{ name: http, port: 80 }]
";
    let (_t, o) = render_text("clash", spec);
    o.code(1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error[E300-invalid-name]: kubernetes: the Service name `named-web-published` is also made from /services/"),
        "{err}"
    );
}

/// The namespace's Pod Security labels of a rendered spec: (enforce, warn, audit).
fn namespace_levels(name: &str, text: &str) -> (String, String, String) {
    let (tmp, o) = render_text(name, text);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ns = load(&tmp.path().join("out/kubernetes/namespace.yaml"));
    let l = |k: &str| {
        s(
            &ns,
            &format!("/metadata/labels/pod-security.kubernetes.io~1{k}"),
        )
        .to_owned()
    };
    (l("enforce"), l("warn"), l("audit"))
}

const ROOT_ADMIN: &str = r"apiVersion: misp-gen/v1
name: psa
services:
  vpn:
    image: docker.io/library/nginx:1.27
    ports: [{ name: http, port: 8080 }]
    security:
      cap_add: [NET_ADMIN]
";

// The namespace warns and audits at the level the pods would meet with every violation the spec
// has not accepted fixed: a spec that accepted all of them applies without a warning (warn =
// enforce); one with an undecided violation is warned at the level it keeps the pods from.
#[test]
fn pod_security_warns_of_what_is_undecided() {
    // Root (the image's user) and NET_ADMIN, neither accepted: fixed, it would meet restricted.
    let (enforce, warn, audit) = namespace_levels("undecided", ROOT_ADMIN);
    assert_eq!(
        (enforce.as_str(), warn.as_str(), audit.as_str()),
        ("privileged", "restricted", "restricted")
    );
    // Both accepted with a reason: nothing is undecided, warn = enforce.
    let accepted = format!(
        "{ROOT_ADMIN}      accept:\n        capabilities: \"the VPN sets up its tunnel\"\n        root: \"the image starts as root\"\n"
    );
    let (enforce, warn, audit) = namespace_levels("accepted", &accepted);
    assert_eq!(
        (enforce.as_str(), warn.as_str(), audit.as_str()),
        ("privileged", "privileged", "privileged")
    );
    // Root accepted, the capability not: with NET_ADMIN dropped the pod would meet baseline.
    let root = format!("{ROOT_ADMIN}      accept:\n        root: \"the image starts as root\"\n");
    let (enforce, warn, _) = namespace_levels("root", &root);
    assert_eq!(
        (enforce.as_str(), warn.as_str()),
        ("privileged", "baseline")
    );
    // A spec whose pods meet restricted warns at restricted.
    let (enforce, warn, _) = namespace_levels("tight", RESTRICTED);
    assert_eq!(
        (enforce.as_str(), warn.as_str()),
        ("restricted", "restricted")
    );
}
