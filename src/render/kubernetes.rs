//! The Kubernetes target: one manifest per object under `kubernetes/`, a `kustomization.yaml` that
//! builds them, and a second kustomization under `secrets/kubernetes/` whose generators turn the
//! secret files into Secrets, so that no secret value is ever written into a manifest.
//!
//! How the spec maps (the README repeats this for users):
//! - A service is a `Deployment`, or a `StatefulSet` when it is a singleton that mounts a volume that is
//!   not `shared` (`ReadWriteOnce`: a `StatefulSet` never runs a second pod while the first may still
//!   hold the volume). Singletons and pods with a `ReadWriteOnce` volume update with `Recreate`.
//! - `publish` becomes a `hostPort`: the port the spec names, on the node the pod runs on, with no
//!   ingress controller and no `NodePort` range (30000-32767) in the way. That is the way in on a
//!   one-node cluster; the Ingress serves clusters that run a controller.
//! - `depends_on`: `healthy` waits, in an init container, until a TCP connection to the dependency's
//!   Service succeeds (a Service only routes to ready pods, and readiness is the healthcheck);
//!   `started` waits until the dependency's headless Service, which publishes pods that are not yet
//!   ready, resolves (a pod of it exists and is starting). Both run the dependant's own image, so an
//!   air-gapped site needs no extra image.
//! - `completed`: Kubernetes restarts a Deployment's container that exits, so a one-off task cannot
//!   be a Deployment. A service that another waits for with `completed` is not deployed on its own:
//!   it runs as an init container (`run-<service>`) in every pod of each dependant, before that pod's
//!   containers start, with its own env and mounts. It therefore runs once per pod start and must be
//!   idempotent (as migrations usually are).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::diag::Invalid;
use crate::diag::{Code, Diagnostic};
use crate::domain::{port_is_https, port_number};
use crate::error::Error;
use crate::plan::container::{Check, MountPlan};
use crate::plan::{self, DbEnv, DbSetup, Naming, Plan};
use crate::profile::{Budget, Spread as ProfileSpread, Strategy as ProfileStrategy};
use crate::render::{FileSet, Templates, add, add_secret, pod_security};
use crate::secrets::{Secrets, Value as SecretValue};
use crate::security::{self, Hardening, numeric_user};
use crate::spec::load::escape_segment;
use crate::spec::model::{
    Condition, Engine, Generate, Port, PortRef, Protocol, Pull, Scaling, Scheme, Service, Spec,
    Waits,
};
use crate::spec::model::{Exception, Publish, Security};
use crate::units;
use crate::validate::{Valid, rules};

/// Where the manifests go.
const DIR: &str = "kubernetes";
/// Where the secret kustomization and the files it reads go.
const SECRETS_DIR: &str = "secrets/kubernetes";
/// `app.kubernetes.io/managed-by`.
const MANAGED_BY: &str = "misp-gen";
/// Size of a claim whose volume gives none.
const DEFAULT_VOLUME_SIZE: &str = "10Gi";
/// How long a dependant waits for a service that has no start period to go by.
const DEFAULT_SERVICE_WAIT_S: u64 = 300;
/// Time between tries when waiting for a service.
const DEFAULT_SERVICE_WAIT_INTERVAL_S: u64 = 5;
/// The embedded database's first start (initialising an empty data directory) must never be cut
/// short by its startup probe: killing it half way leaves a broken data directory.
const DB_MIN_STARTUP_S: u64 = 600;
/// Kustomize appends `-` and a 10-character hash to generated names.
const HASH_SUFFIX_LEN: usize = 11;
/// A `StatefulSet`'s name ends up in its pods' `controller-revision-hash` label with a hash after it.
const STATEFULSET_NAME_MAX: usize = 52;
/// The Pod Security Standards version the namespace labels pin: the Kubernetes version the output
/// targets (kubectl and kubernetes-validate in CI check against it too).
const POD_SECURITY_VERSION: &str = "v1.32";
/// The user the wait containers run as when the service names none.
const NOBODY: u64 = 65_534;

/// The script of a wait init container (free of `$(` and `$$`, which the kubelet would expand in a
/// command, so it is written as it runs). Arguments: WHAT MODE HOST PORT LIMIT EVERY, with MODE `tcp`
/// (connect to HOST:PORT) or `dns` (HOST resolves). It checks what it needs before the first try
/// and refuses at once, saying what is missing, when the image cannot wait: `date`, `expr` and
/// `sleep`; for `tcp` an `nc` that takes `-z` (tried on a closed local port: an nc without it, as
/// Debian's busybox, connects with stdin closed instead) or a bash with `/dev/tcp`; for `dns`
/// `getent` or `nslookup`. The probe's own words are kept for the give-up message.
const WAIT_SCRIPT: &str = r#"what=$1 mode=$2 host=$3 port=$4 limit=$5 every=$6
fix="give the waits an image that has them (targets.kubernetes.wait_image) or turn them off (targets.kubernetes.waits: none)"
cannot() {
  echo "misp-gen: cannot wait for $what: $*; $fix" >&2
  exit 1
}
for t in date expr sleep; do
  command -v "$t" >/dev/null 2>&1 || cannot "this image has no $t"
done
# How to probe, chosen once: a tool that is there but cannot do the job is refused now, not looped on.
how=
if [ "$mode" = dns ]; then
  if command -v getent >/dev/null 2>&1; then
    how=getent
  elif command -v nslookup >/dev/null 2>&1; then
    how=nslookup
  else
    cannot "this image has neither getent nor nslookup"
  fi
else
  if command -v nc >/dev/null 2>&1; then
    said=`nc -z -w 1 127.0.0.1 1 </dev/null 2>&1`
    case "$said" in
      *"nvalid option"*|*"llegal option"*|*"nrecognized option"*|*"nknown option"*|*"sage:"*) how=nc-w ;;
      *) how=nc-z ;;
    esac
  fi
  if [ "$how" != nc-z ] && command -v bash >/dev/null 2>&1; then
    said=`bash -c ': </dev/tcp/127.0.0.1/1' 2>&1`
    case "$said" in
      *"No such file"*) ;;
      *) how=bash ;;
    esac
  fi
  [ -n "$how" ] || cannot "this image has neither nc nor a bash with /dev/tcp"
fi
at=$host miss="does not resolve"
[ "$mode" = tcp ] && at="$host port $port" miss="is unreachable"
bound=
command -v timeout >/dev/null 2>&1 && bound="timeout 5"
probe() {
  case "$how" in
    getent) getent hosts "$host" ;;
    nslookup) nslookup "$host" ;;
    nc-z) nc -z -w 3 "$host" "$port" </dev/null ;;
    nc-w) $bound nc -w 3 "$host" "$port" </dev/null ;;
    bash) $bound bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" ;;
  esac
}
start=`date +%s`
echo "misp-gen: waiting up to ${limit}s for $what ($mode $at, with $how)"
while :; do
  said=`probe 2>&1`
  rc=$?
  [ "$rc" -eq 0 ] && break
  if [ "$rc" -eq 126 ] || [ "$rc" -eq 127 ]; then
    cannot "the probe could not run ($how, exit $rc): $said"
  fi
  now=`date +%s`
  if [ `expr "$now" - "$start"` -ge "$limit" ]; then
    echo "misp-gen: gave up after ${limit}s: $what $miss ($mode $at, with $how: ${said:-no output, exit $rc}); see kubectl get pods,events" >&2
    exit 1
  fi
  sleep "$every"
done
echo "misp-gen: $what is there""#;

/// Kubernetes names: a service is reached through its Service, `<name>-<service>`.
pub struct KubernetesNaming {
    prefix: String,
}

impl KubernetesNaming {
    #[must_use]
    pub fn new(spec: &Spec) -> Self {
        KubernetesNaming {
            prefix: spec.name.clone(),
        }
    }
    fn object(&self, thing: &str) -> String {
        format!("{}-{}", self.prefix, dns(thing))
    }
}

impl Naming for KubernetesNaming {
    fn service_host(&self, service: &str) -> String {
        self.object(service)
    }
    fn database_host(&self) -> String {
        self.object(rules::DATABASE)
    }
}

/// A spec name (which may hold `_`) as a DNS-1123 label part.
fn dns(s: &str) -> String {
    s.replace('_', "-")
}

// ------------------------------------------------------------------ template contexts

#[derive(Serialize, Clone, PartialEq, Eq)]
struct Kv {
    key: String,
    value: String,
}

fn kvs(m: &BTreeMap<String, String>) -> Vec<Kv> {
    m.iter()
        .map(|(k, v)| Kv {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

#[derive(Serialize)]
struct Meta {
    spec_name: String,
    name: String,
    namespace: String,
    labels: Vec<Kv>,
    annotations: Vec<Kv>,
}

#[derive(Serialize)]
struct WorkloadCtx {
    meta: Meta,
    kind: &'static str,
    replicas: u32,
    selector: Vec<Kv>,
    /// Deployment: `Recreate`, or `RollingUpdate` with these numbers.
    recreate: bool,
    max_unavailable: u32,
    max_surge: u32,
    progress_deadline: u64,
    /// `StatefulSet`: its headless Service.
    service_name: Option<String>,
    claim_templates: Vec<Claim>,
    pod_labels: Vec<Kv>,
    pod: Pod,
    /// The checks this workload is known to fail, each with the spec's reason (as a comment too).
    skips: Vec<Skip>,
}

#[derive(Serialize, Clone)]
struct Skip {
    check: &'static str,
    exception: &'static str,
    reason: String,
}

#[derive(Serialize, Default)]
struct Pod {
    service_account: String,
    host_users: bool,
    seccomp: &'static str,
    fs_group: Option<u64>,
    spread: Vec<SpreadOut>,
    init_containers: Vec<Container>,
    containers: Vec<Container>,
    volumes: Vec<PodVolume>,
}

#[derive(Serialize)]
struct SpreadOut {
    key: &'static str,
    when: &'static str,
}

#[derive(Serialize, Default, Clone)]
struct Container {
    name: String,
    image: String,
    pull_policy: &'static str,
    command: Option<Vec<String>>,
    args: Option<Vec<String>>,
    working_dir: Option<String>,
    /// A wait container's script (written as a block scalar: it holds no `$(` or `$$`).
    script: Option<String>,
    env: Vec<EnvVar>,
    ports: Vec<ContainerPort>,
    mounts: Vec<VolumeMount>,
    startup: Option<Probe>,
    readiness: Option<Probe>,
    liveness: Option<Probe>,
    resources: Option<Res>,
    security: ContainerSecurity,
    /// Where in the spec its security settings are decided (for Pod Security errors).
    #[serde(skip)]
    origin: Origin,
    /// The exceptions its own service accepts, with their reasons (a one-off run inside a
    /// dependant's pod keeps its own).
    #[serde(skip)]
    accept: BTreeMap<Exception, String>,
}

/// The spec nodes that decide a container's user, capabilities, escalation and seccomp.
#[derive(Default, Clone)]
struct Origin {
    user: String,
    caps: String,
    escalation: String,
    seccomp: String,
}

impl Origin {
    /// For a container from the node at `sp` with its own `security:` block `own`.
    fn new(spec: &Spec, sp: &str, own: Option<&Security>, has_user: bool) -> Origin {
        let at = |field: &str, set: fn(&Security) -> bool| {
            if own.is_some_and(set) {
                format!("{sp}/security/{field}")
            } else if spec.security.as_ref().is_some_and(set) {
                format!("/security/{field}")
            } else {
                sp.to_owned()
            }
        };
        Origin {
            user: if has_user {
                format!("{sp}/user")
            } else {
                sp.to_owned()
            },
            caps: at("cap_add", |s| s.cap_add.is_some()),
            escalation: at("no_new_privileges", |s| s.no_new_privileges.is_some()),
            seccomp: at("seccomp", |s| s.seccomp.is_some()),
        }
    }
}

#[derive(Serialize, Clone)]
struct EnvVar {
    name: String,
    value: Option<String>,
    secret_name: Option<String>,
    secret_key: Option<String>,
}

#[derive(Serialize, Clone)]
struct ContainerPort {
    name: String,
    port: u16,
    protocol: &'static str,
    host_port: Option<u16>,
    /// The spec node of the port's `publish`.
    #[serde(skip)]
    at: String,
}

#[derive(Serialize, Clone)]
struct VolumeMount {
    name: String,
    path: String,
    read_only: bool,
    sub_path: Option<String>,
}

#[derive(Serialize, Clone)]
struct Probe {
    http_path: Option<String>,
    /// httpGet / tcpSocket port: a JSON number or a JSON string (a port name).
    port: Option<serde_json::Value>,
    scheme: Option<&'static str>,
    exec: Option<Vec<String>>,
    period: u64,
    timeout: u64,
    failure_threshold: u64,
}

#[derive(Serialize, Clone)]
struct Res {
    cpu_request: Option<String>,
    cpu_limit: Option<String>,
    memory_request: Option<String>,
    memory_limit: Option<String>,
}

#[derive(Serialize, Default, Clone)]
struct ContainerSecurity {
    run_as_user: Option<u64>,
    run_as_group: Option<u64>,
    run_as_non_root: bool,
    read_only_root: bool,
    allow_escalation: bool,
    add: Vec<String>,
}

#[derive(Serialize, Clone, PartialEq, Eq)]
struct PodVolume {
    name: String,
    /// pvc, secret, configmap or empty.
    kind: &'static str,
    source: String,
    items: Vec<Item>,
    default_mode: Option<u32>,
}

#[derive(Serialize, Clone, PartialEq, Eq)]
struct Item {
    key: String,
    path: String,
    mode: Option<u32>,
}

#[derive(Serialize)]
struct Claim {
    name: String,
    rwx: bool,
    size: String,
    class: Option<String>,
}

#[derive(Serialize)]
struct ServiceCtx {
    meta: Meta,
    headless: bool,
    /// `ClusterIP`, or `LoadBalancer` / `NodePort` for published ports.
    kind: &'static str,
    selector: Vec<Kv>,
    ports: Vec<ServicePort>,
}

#[derive(Serialize, Clone)]
struct ServicePort {
    name: String,
    port: u16,
    protocol: &'static str,
    node_port: Option<u16>,
}

#[derive(Serialize)]
struct PvcCtx {
    meta: Meta,
    claim: Claim,
}

#[derive(Serialize)]
struct PdbCtx {
    meta: Meta,
    min_available: u32,
    selector: Vec<Kv>,
}

#[derive(Serialize)]
struct IngressCtx {
    meta: Meta,
    annotations: Vec<Kv>,
    class: String,
    host: String,
    tls_secret: Option<String>,
    service: String,
    port: serde_json::Value,
}

#[derive(Serialize)]
struct SaCtx {
    meta: Meta,
}

#[derive(Serialize)]
struct NetPolCtx {
    meta: Meta,
    /// Pod selector; empty: every pod of the namespace (the default deny).
    selector: Vec<Kv>,
    rules: Vec<NetRule>,
}

/// One ingress rule: from these components (none: from anywhere) to these ports.
#[derive(Serialize)]
struct NetRule {
    comment: String,
    from: Vec<Vec<Kv>>,
    ports: Vec<ServicePort>,
}

#[derive(Serialize)]
struct NamespaceCtx {
    spec_name: String,
    name: String,
    labels: Vec<Kv>,
}

#[derive(Serialize)]
struct KustomizationCtx {
    spec_name: String,
    namespace: String,
    labels: Vec<Kv>,
    resources: Vec<String>,
    config_maps: Vec<Generator>,
}

#[derive(Serialize)]
struct SecretsKustomizationCtx {
    spec_name: String,
    namespace: String,
    secrets: Vec<Generator>,
}

/// One secretGenerator or configMapGenerator entry.
#[derive(Serialize)]
struct Generator {
    name: String,
    kind: Option<&'static str>,
    /// `key=path` entries.
    files: Vec<String>,
    envs: Vec<String>,
}

// ------------------------------------------------------------------ names

/// Every object name the render makes, checked for DNS-1123, length and collisions; problems are
/// diagnostics on the spec node the name comes from.
struct Names<'a> {
    valid: &'a Valid,
    seen: BTreeMap<(&'static str, String), String>,
    diags: Vec<Diagnostic>,
}

impl Names<'_> {
    /// Claim `name` for an object of `kind`, made from the spec node at `pointer`. `max` is the
    /// longest the name may be (63, less where Kubernetes or kustomize append to it); Services'
    /// names must also start with a letter (DNS-1035).
    fn claim(&mut self, kind: &'static str, name: &str, pointer: &str, max: usize) {
        let file = self.valid.doc.file.clone();
        let pos = self.valid.doc.key_pos(pointer);
        let diag = |message: String, help: &str| Diagnostic {
            file: file.clone(),
            pos,
            pointer: pointer.to_owned(),
            code: Code::InvalidName,
            message,
            help: Some(help.to_owned()),
        };
        let dns1035 = kind == "Service";
        // The shape first, the length second: a long name of the right shape hears its length.
        let shape = !name.is_empty()
            && rules::is_dns_label(&name[..name.len().min(63)])
            && rules::is_dns_label(&name[name.len().saturating_sub(63)..]);
        if !shape || (dns1035 && !name.starts_with(|c: char| c.is_ascii_lowercase())) {
            self.diags.push(diag(
                format!(
                    "kubernetes: the {kind} name `{name}` is not a DNS-1123 label{}",
                    if dns1035 {
                        " starting with a letter"
                    } else {
                        ""
                    }
                ),
                "object names are `<name>-<thing>`: use a spec name that starts with a letter",
            ));
        } else if name.len() > max {
            self.diags.push(diag(
                format!(
                    "kubernetes: the {kind} name `{name}` is {} characters; at most {max} fit here",
                    name.len()
                ),
                "shorten the spec's `name` or this name",
            ));
        }
        if let Some(first) = self.seen.get(&(kind, name.to_owned())) {
            if first != pointer {
                let msg = format!(
                    "kubernetes: the {kind} name `{name}` is also made from {first} (`_` becomes `-` in object names)"
                );
                self.diags
                    .push(diag(msg, "rename one of them so their object names differ"));
            }
        } else {
            self.seen
                .insert((kind, name.to_owned()), pointer.to_owned());
        }
    }
}

/// A pod-local name (volume, container): a DNS label, unique among `taken`.
fn local_name(base: &str, taken: &BTreeSet<String>) -> String {
    let mut b: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while b.contains("--") {
        b = b.replace("--", "-");
    }
    b.truncate(56);
    let b = b.trim_matches('-').to_owned();
    let b = if b.is_empty() { "v".to_owned() } else { b };
    if !taken.contains(&b) {
        return b;
    }
    // At most `taken.len()` suffixes can be in use, so one of these is free.
    (2..=taken.len() + 2)
        .map(|i| format!("{b}-{i}"))
        .find(|n| !taken.contains(n))
        .unwrap_or(b)
}

/// Add a pod volume, reusing an identical one; returns its name.
fn add_volume(vols: &mut Vec<PodVolume>, mut v: PodVolume) -> String {
    let base = v.name.clone();
    if let Some(same) = vols.iter().find(|x| {
        x.kind == v.kind
            && x.source == v.source
            && x.items == v.items
            && x.default_mode == v.default_mode
    }) {
        return same.name.clone();
    }
    let taken: BTreeSet<String> = vols.iter().map(|x| x.name.clone()).collect();
    v.name = local_name(&base, &taken);
    let name = v.name.clone();
    vols.push(v);
    name
}

// ------------------------------------------------------------------ small mappings

fn pull_policy(p: Pull) -> &'static str {
    match p {
        Pull::Never => "Never",
        Pull::Missing => "IfNotPresent",
        Pull::Always => "Always",
    }
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

/// CPU quantity in Kubernetes' form.
fn cpu_quantity(milli: u64) -> String {
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

/// Limits as the spec gives them; requests derived: memory the same (it cannot be reclaimed, so a
/// pod should be scheduled where its limit fits), CPU half (it is shared fairly under load).
fn resources(l: &plan::container::Limits) -> Option<Res> {
    if l.is_empty() {
        return None;
    }
    let cpu = l.cpu_milli;
    Some(Res {
        cpu_request: cpu.map(|m| cpu_quantity((m / 2).max(1))),
        cpu_limit: cpu.map(cpu_quantity),
        memory_request: l.memory.clone(),
        memory_limit: l.memory.clone(),
    })
}

/// Whole seconds (rounded up, at least 1) of a duration in milliseconds.
fn secs_of(ms: u64) -> u64 {
    units::duration_secs_ceil(ms).max(1)
}

/// A body size as nginx writes it (`512m`).
fn nginx_size(bytes: u64) -> String {
    for (unit, shift) in [("g", 30), ("m", 20), ("k", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A label value: at most 63, alphanumerics and `-_.` inside.
fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

fn port_spec(ports: &[Port], r: &PortRef) -> serde_json::Value {
    match r {
        PortRef::Name(n) => serde_json::Value::from(n.clone()),
        PortRef::Number(n) => match ports.iter().find(|p| p.port == *n) {
            Some(p) => serde_json::Value::from(p.name.clone()),
            None => serde_json::Value::from(*n),
        },
    }
}

// ------------------------------------------------------------------ the render

/// Everything the render collects before writing files.
struct Out<'a> {
    /// What keeps each rendered pod from a Pod Security level.
    pss: Vec<pod_security::Violation>,
    valid: &'a Valid,
    secrets: &'a Secrets,
    naming: KubernetesNaming,
    mirror: Option<&'a str>,
    pull: &'static str,
    names: Names<'a>,
    diags: Vec<Diagnostic>,
    /// Secret generators by object name.
    secret_gens: BTreeMap<String, Generator>,
    config_gens: BTreeMap<String, Generator>,
    /// Files under `secrets/kubernetes/` (relative to it) → content.
    secret_files: BTreeMap<String, String>,
    /// Files under `kubernetes/files/` → (content, mode).
    plain_files: BTreeMap<String, (String, u32)>,
    /// Volumes some workload mounts.
    used_volumes: BTreeSet<String>,
    /// Services that need a headless Service (`StatefulSet`s, targets of `started`).
    headless: BTreeSet<String>,
    /// Namespace of every object.
    namespace: String,
    /// Workloads (components) and the ports others may reach them on.
    workloads: BTreeMap<String, Vec<ServicePort>>,
}

impl Out<'_> {
    /// Record what keeps `pod` (of `workload`) from each Pod Security level.
    fn pod_security(&mut self, workload: &str, pod: &Pod) {
        let view = pod_security::PodView {
            workload: workload.to_owned(),
            seccomp_unconfined: pod.seccomp == "Unconfined",
            containers: pod
                .init_containers
                .iter()
                .chain(&pod.containers)
                .map(|c| pod_security::ContainerView {
                    name: c.name.clone(),
                    run_as_user: c.security.run_as_user,
                    run_as_non_root: c.security.run_as_non_root,
                    allow_escalation: c.security.allow_escalation,
                    add: c.security.add.clone(),
                    host_ports: c
                        .ports
                        .iter()
                        .filter_map(|p| p.host_port.map(|h| (h, p.at.clone())))
                        .collect(),
                    user_at: c.origin.user.clone(),
                    caps_at: c.origin.caps.clone(),
                    escalation_at: c.origin.escalation.clone(),
                    seccomp_at: c.origin.seccomp.clone(),
                })
                .collect(),
        };
        self.pss.extend(pod_security::violations(&view));
    }

    fn spec(&self) -> &Spec {
        &self.valid.spec
    }

    fn diag(&mut self, pointer: &str, message: String, help: &str) {
        self.diag_code(pointer, Code::UnitValue, message, help);
    }

    fn diag_code(&mut self, pointer: &str, code: Code, message: String, help: &str) {
        self.diags.push(Diagnostic {
            file: self.valid.doc.file.clone(),
            pos: self.valid.doc.pos(pointer),
            pointer: pointer.to_owned(),
            code,
            message,
            help: Some(help.to_owned()),
        });
    }

    fn labels(&self, component: &str, with_version: bool) -> BTreeMap<String, String> {
        let mut m = self.selector(component);
        m.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
        if with_version
            && let Some(v) = &self.spec().version
            && is_label_value(v)
        {
            m.insert("app.kubernetes.io/version".into(), v.clone());
        }
        m
    }

    /// The stable label subset selectors use (never the version).
    fn selector(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "app.kubernetes.io/name".to_owned(),
                self.spec().name.clone(),
            ),
            (
                "app.kubernetes.io/instance".to_owned(),
                self.spec().name.clone(),
            ),
            (
                "app.kubernetes.io/component".to_owned(),
                component.to_owned(),
            ),
        ])
    }

    fn meta(&self, name: String, component: &str) -> Meta {
        Meta {
            spec_name: self.spec().name.clone(),
            name,
            namespace: self.namespace.clone(),
            labels: kvs(&self.labels(component, true)),
            annotations: Vec::new(),
        }
    }

    /// The Secret that carries spec secret `s` (generated from files under `secrets/kubernetes/`).
    fn secret_object(&mut self, s: &str) -> String {
        let name = self.naming.object(s);
        if self.secret_gens.contains_key(&name) {
            return name;
        }
        let pointer = format!("/secrets/{}", escape_segment(s));
        self.names
            .claim("Secret", &name, &pointer, 63 - HASH_SUFFIX_LEN);
        let mut g = Generator {
            name: name.clone(),
            kind: None,
            files: Vec::new(),
            envs: Vec::new(),
        };
        match self.secrets.values.get(s) {
            Some(SecretValue::Text(t)) => {
                let rel = format!("values/{s}");
                g.files.push(format!("{s}={rel}"));
                self.secret_files.insert(rel, t.clone());
            }
            Some(SecretValue::Tls(tls)) => {
                g.kind = Some("kubernetes.io/tls");
                for (f, body) in [
                    ("ca.crt", &tls.ca_crt),
                    ("tls.crt", &tls.tls_crt),
                    ("tls.key", &tls.tls_key),
                ] {
                    let rel = format!("tls/{s}/{f}");
                    g.files.push(format!("{f}={rel}"));
                    self.secret_files.insert(rel, body.clone());
                }
            }
            None => {}
        }
        self.secret_gens.insert(name.clone(), g);
        name
    }

    fn is_tls(&self, s: &str) -> bool {
        self.spec()
            .secrets
            .get(s)
            .is_some_and(|x| x.generate == Some(Generate::Tls))
    }
}

/// Render the kubernetes target into `files`.
///
/// # Errors
/// Values this target cannot carry and object names it cannot make (diagnostics), template errors.
#[expect(
    clippy::too_many_lines,
    reason = "one mapping from the plan to Kubernetes objects, concept by concept"
)]
pub fn render(
    plan: &Plan<'_>,
    secrets: &Secrets,
    templates: &Templates,
    mirror: Option<&str>,
    files: &mut FileSet,
) -> Result<(), Error> {
    let valid = plan.valid;
    let spec = &valid.spec;
    let mut out = Out {
        pss: Vec::new(),
        valid,
        secrets,
        naming: KubernetesNaming::new(spec),
        mirror,
        // Unset: Always (the kubelet checks the tag with the registry and reuses cached layers).
        pull: pull_policy(
            spec.images
                .as_ref()
                .and_then(|i| i.pull)
                .unwrap_or(Pull::Always),
        ),
        names: Names {
            valid,
            seen: BTreeMap::new(),
            diags: Vec::new(),
        },
        diags: Vec::new(),
        secret_gens: BTreeMap::new(),
        config_gens: BTreeMap::new(),
        secret_files: BTreeMap::new(),
        plain_files: BTreeMap::new(),
        used_volumes: BTreeSet::new(),
        headless: BTreeSet::new(),
        namespace: namespace(spec),
        workloads: BTreeMap::new(),
    };
    let mut manifests: BTreeMap<String, String> = BTreeMap::new();
    let mut emit = |file: String, template: &str, ctx: &dyn erased::Ctx| -> Result<(), Error> {
        let text = ctx.render(templates, template)?;
        manifests.insert(file, text);
        Ok(())
    };

    // Services others wait for with `completed` run inside their dependants (see the module docs).
    let one_offs: BTreeSet<String> = spec
        .services
        .values()
        .flat_map(|s| s.depends_on.iter())
        .filter(|(_, c)| **c == Condition::Completed)
        .map(|(d, _)| d.clone())
        .filter(|d| spec.services.contains_key(d))
        .collect();
    for (name, svc) in &spec.services {
        for (dep, cond) in &svc.depends_on {
            if *cond == Condition::Started && (dep != rules::DATABASE || embedded_db(spec)) {
                out.headless.insert(dep.clone());
            }
        }
        if is_statefulset(spec, svc) && !one_offs.contains(name) {
            out.headless.insert(name.clone());
        }
    }
    if embedded_db(spec) {
        out.headless.insert(rules::DATABASE.to_owned());
    }

    let profile = &valid.profile;
    for c in &plan.services {
        let (name, sp, replicas) = (&c.name.to_owned(), &c.pointer, c.replicas);
        let Some(svc) = spec.services.get(name) else {
            continue;
        };
        if one_offs.contains(name) {
            continue;
        }
        let object = out.naming.object(name);
        let statefulset = is_statefulset(spec, svc);
        out.names.claim(
            if statefulset {
                "StatefulSet"
            } else {
                "Deployment"
            },
            &object,
            sp,
            if statefulset {
                STATEFULSET_NAME_MAX
            } else {
                63
            },
        );

        out.names.claim("ServiceAccount", &object, sp, 63);
        let mut pod = pod_security(c.user, &c.hardening, object.clone());
        let main = container(&mut out, c, &mut pod.volumes, true);
        // Init containers: waits for this service's dependencies, and the one-off services it
        // waits for with `completed`, each after the waits of its own dependencies.
        let mut waited = BTreeSet::new();
        let mut init = Vec::new();
        let mut deps: Vec<(String, Condition, String)> = Vec::new();
        for (dep, cond) in &svc.depends_on {
            if *cond == Condition::Completed
                && let Some(d) = spec.services.get(dep)
            {
                for (dd, dc) in &d.depends_on {
                    deps.push((
                        dd.clone(),
                        *dc,
                        format!("/services/{}/depends_on", escape_segment(dep)),
                    ));
                }
            }
            deps.push((dep.clone(), *cond, format!("{sp}/depends_on")));
        }
        for (dep, cond, dp) in deps {
            if cond == Condition::Completed {
                if let Some(d) = plan.service(&dep) {
                    let mut k = container(&mut out, d, &mut pod.volumes, false);
                    k.name = format!("run-{dep}");
                    init.push(k);
                }
                continue;
            }
            if !waited.insert(dep.clone()) {
                continue;
            }
            if let Some(c) = wait_container(&mut out, &dp, svc, &main, &dep, cond) {
                init.push(c);
            }
        }
        let mut taken: BTreeSet<String> = BTreeSet::from([main.name.clone()]);
        for c in &mut init {
            c.name = local_name(&c.name, &taken);
            taken.insert(c.name.clone());
        }
        pod.init_containers = init;
        let rwo = svc.mounts.iter().any(|m| {
            m.volume
                .as_ref()
                .is_some_and(|v| spec.volumes.get(v).is_some_and(|v| !v.shared))
        });
        let recreate = svc.scaling == Scaling::Singleton
            || rwo
            || profile.defaults.update.strategy == ProfileStrategy::Recreate;
        if replicas > 1 {
            pod.spread = spread(profile.defaults.spread);
        }
        let start = c.health.as_ref().map_or(0, |h| secs_of(h.start_period_ms));
        pod.containers = vec![main];
        let skips = skips(spec, &pod);
        out.pod_security(name, &pod);
        out.workloads.insert(name.clone(), service_ports(svc));
        emit(
            format!("serviceaccount-{name}.yaml"),
            "kubernetes/serviceaccount.yaml.j2",
            &SaCtx {
                meta: out.meta(object.clone(), name),
            },
        )?;
        let ctx = WorkloadCtx {
            skips,
            meta: out.meta(object.clone(), name),
            kind: if statefulset {
                "StatefulSet"
            } else {
                "Deployment"
            },
            replicas,
            selector: kvs(&out.selector(name)),
            recreate,
            max_unavailable: profile.defaults.update.max_unavailable,
            max_surge: profile.defaults.update.max_surge,
            progress_deadline: (start.saturating_add(300))
                .clamp(600, i32::MAX.unsigned_abs().into()),
            service_name: statefulset.then(|| format!("{object}-headless")),
            claim_templates: Vec::new(),
            pod_labels: kvs(&out.labels(name, true)),
            pod,
        };
        let file = format!(
            "{}-{name}.yaml",
            if statefulset {
                "statefulset"
            } else {
                "deployment"
            }
        );
        emit(file, "kubernetes/workload.yaml.j2", &ctx)?;

        if !svc.ports.is_empty() {
            out.names.claim("Service", &object, sp, 63);
            let ctx = ServiceCtx {
                meta: out.meta(object.clone(), name),
                headless: false,
                kind: "ClusterIP",
                selector: kvs(&out.selector(name)),
                ports: service_ports(svc),
            };
            emit(
                format!("service-{name}.yaml"),
                "kubernetes/service.yaml.j2",
                &ctx,
            )?;
        }
        // Published ports through a Service of their own (hostPort is on the pod instead).
        let publish = spec.targets.kubernetes.publish_mode();
        let published: Vec<ServicePort> = svc
            .ports
            .iter()
            .filter_map(|p| {
                let host = p.publish?;
                Some(ServicePort {
                    name: p.name.clone(),
                    port: if publish == Publish::NodePort {
                        p.port
                    } else {
                        host
                    },
                    protocol: protocol(p.protocol),
                    node_port: (publish == Publish::NodePort).then_some(host),
                })
            })
            .collect();
        if !published.is_empty() && matches!(publish, Publish::LoadBalancer | Publish::NodePort) {
            let pub_name = format!("{object}-published");
            out.names.claim("Service", &pub_name, sp, 63);
            let ctx = ServiceCtx {
                meta: out.meta(pub_name, name),
                headless: false,
                kind: if publish == Publish::NodePort {
                    "NodePort"
                } else {
                    "LoadBalancer"
                },
                selector: kvs(&out.selector(name)),
                ports: published,
            };
            emit(
                format!("service-{name}-published.yaml"),
                "kubernetes/service.yaml.j2",
                &ctx,
            )?;
        }
        if out.headless.contains(name) {
            let hl = format!("{object}-headless");
            out.names.claim("Service", &hl, sp, 63);
            let ctx = ServiceCtx {
                meta: out.meta(hl, name),
                headless: true,
                kind: "ClusterIP",
                selector: kvs(&out.selector(name)),
                ports: service_ports(svc),
            };
            emit(
                format!("service-{name}-headless.yaml"),
                "kubernetes/service.yaml.j2",
                &ctx,
            )?;
        }
        if replicas > 1
            && let Budget::MinAvailable { min_available } = profile.defaults.disruption_budget
        {
            out.names.claim("PodDisruptionBudget", &object, sp, 63);
            let ctx = PdbCtx {
                meta: out.meta(object.clone(), name),
                // Never the whole set: a budget that allows no eviction blocks every node drain.
                min_available: min_available.min(replicas - 1),
                selector: kvs(&out.selector(name)),
            };
            emit(format!("pdb-{name}.yaml"), "kubernetes/pdb.yaml.j2", &ctx)?;
        }
    }

    // The embedded database.
    if let (Some(db), Some(image)) = (&spec.database, plan::database_image(spec)) {
        let object = out.naming.database_host();
        out.names
            .claim("StatefulSet", &object, "/database", STATEFULSET_NAME_MAX);
        out.names.claim("Service", &object, "/database", 63);
        let hl = format!("{object}-headless");
        out.names.claim("Service", &hl, "/database", 63);
        let port = plan::engine_port(db.engine);
        let port_name = match db.engine {
            Engine::Mariadb | Engine::Mysql => "mysql",
            Engine::Postgres => "postgres",
        };
        let mut env = Vec::new();
        let value = |k: &str, v: &str| EnvVar {
            name: k.to_owned(),
            value: Some(v.to_owned()),
            secret_name: None,
            secret_key: None,
        };
        // Passwords as files (`*_PASSWORD_FILE`, which the official images read): each secret
        // mounted by itself under /run/secrets, never in the environment of the pod spec.
        let setup = plan::database_setup(db);
        let password = out.secret_object(&db.password);
        let mut secret_mounts: Vec<(String, String)> = Vec::new();
        for (name, v) in &setup.env {
            match v {
                DbEnv::Value(v) => env.push(value(name, v)),
                DbEnv::SecretFile(key) => {
                    let obj = if key == &db.password {
                        password.clone()
                    } else {
                        out.naming.object(key)
                    };
                    secret_mounts.push((obj, key.clone()));
                    env.push(EnvVar {
                        name: name.clone(),
                        value: Some(DbSetup::file_of(key)),
                        secret_name: None,
                        secret_key: None,
                    });
                }
            }
        }
        let (data_dir, check) = (setup.data_dir, setup.check_argv);
        env.sort_by(|a, b| a.name.cmp(&b.name));
        let (timeout, interval) = db_wait(spec);
        let probe = |threshold: u64| Probe {
            http_path: None,
            port: None,
            scheme: None,
            exec: Some(check.clone()),
            period: interval,
            timeout: 5,
            failure_threshold: threshold,
        };
        let mut pod = Pod::default();
        let mut claim_templates = Vec::new();
        // A sub-directory of the claim: a fresh file system's lost+found would make the engines'
        // first initialisation refuse a non-empty data directory.
        let vol_name = if let Some(v) = &db.volume {
            out.used_volumes.insert(v.clone());
            let pv = PodVolume {
                name: "data".into(),
                kind: "pvc",
                source: out.naming.object(v),
                items: Vec::new(),
                default_mode: None,
            };
            add_volume(&mut pod.volumes, pv)
        } else {
            claim_templates.push(Claim {
                name: "data".into(),
                rwx: false,
                size: DEFAULT_VOLUME_SIZE.into(),
                class: spec.targets.kubernetes.storage_class.clone(),
            });
            "data".to_owned()
        };
        if let Some(r) = &db.root_password {
            out.secret_object(r);
        }
        let h = security::effective(spec, db.security.as_ref(), None, &[port]);
        let mut mounts = vec![VolumeMount {
            name: vol_name,
            path: data_dir.into(),
            read_only: false,
            sub_path: Some("data".into()),
        }];
        for (obj, key) in secret_mounts {
            let name = add_volume(
                &mut pod.volumes,
                PodVolume {
                    name: format!("secret-{key}"),
                    kind: "secret",
                    source: obj,
                    items: Vec::new(),
                    default_mode: Some(0o440),
                },
            );
            mounts.push(VolumeMount {
                name,
                path: DbSetup::file_of(&key),
                read_only: true,
                sub_path: Some(key),
            });
        }
        let object_sa = object.clone();
        out.names
            .claim("ServiceAccount", &object_sa, "/database", 63);
        let base = pod_security(None, &h, object_sa);
        pod.service_account = base.service_account;
        pod.host_users = base.host_users;
        pod.seccomp = base.seccomp;
        let mut c = Container {
            name: rules::DATABASE.into(),
            image: plan::image_ref(&image, mirror),
            pull_policy: out.pull,
            env,
            ports: vec![ContainerPort {
                name: port_name.into(),
                port,
                protocol: "TCP",
                host_port: None,
                at: String::new(),
            }],
            mounts,
            startup: Some(probe(
                timeout.max(DB_MIN_STARTUP_S).div_ceil(interval).max(1),
            )),
            readiness: Some(probe(3)),
            liveness: Some(probe(6)),
            resources: resources(&plan::container::Limits::of(db.resources.as_ref())),
            origin: Origin::new(spec, "/database", db.security.as_ref(), false),
            ..Container::default()
        };
        harden(&mut c, None, &h, &mut pod.volumes);
        pod.containers.push(c);
        let skips = skips(spec, &pod);
        out.pod_security(rules::DATABASE, &pod);
        out.workloads.insert(
            rules::DATABASE.to_owned(),
            vec![ServicePort {
                name: port_name.into(),
                port,
                protocol: "TCP",
                node_port: None,
            }],
        );
        emit(
            "serviceaccount-database.yaml".into(),
            "kubernetes/serviceaccount.yaml.j2",
            &SaCtx {
                meta: out.meta(object.clone(), rules::DATABASE),
            },
        )?;
        let ctx = WorkloadCtx {
            skips,
            meta: out.meta(object.clone(), rules::DATABASE),
            kind: "StatefulSet",
            replicas: 1,
            selector: kvs(&out.selector(rules::DATABASE)),
            recreate: true,
            max_unavailable: 0,
            max_surge: 0,
            progress_deadline: 600,
            service_name: Some(hl.clone()),
            claim_templates,
            pod_labels: kvs(&out.labels(rules::DATABASE, true)),
            pod,
        };
        emit(
            "statefulset-database.yaml".into(),
            "kubernetes/workload.yaml.j2",
            &ctx,
        )?;
        for (file, name, headless) in [
            ("service-database.yaml", object.clone(), false),
            ("service-database-headless.yaml", hl, true),
        ] {
            let ctx = ServiceCtx {
                meta: out.meta(name, rules::DATABASE),
                headless,
                kind: "ClusterIP",
                selector: kvs(&out.selector(rules::DATABASE)),
                ports: vec![ServicePort {
                    name: port_name.into(),
                    port,
                    protocol: "TCP",
                    node_port: None,
                }],
            };
            emit(file.into(), "kubernetes/service.yaml.j2", &ctx)?;
        }
    }

    // Claims for the volumes that something mounts.
    for (name, v) in &spec.volumes {
        if !out.used_volumes.contains(name) {
            continue;
        }
        let object = out.naming.object(name);
        out.names.claim(
            "PersistentVolumeClaim",
            &object,
            &format!("/volumes/{}", escape_segment(name)),
            63,
        );
        let k = &spec.targets.kubernetes;
        let ctx = PvcCtx {
            meta: out.meta(object, "storage"),
            claim: Claim {
                name: String::new(),
                rwx: v.shared,
                size: v.size.clone().unwrap_or_else(|| DEFAULT_VOLUME_SIZE.into()),
                class: if v.shared {
                    k.shared_storage_class.clone()
                } else {
                    k.storage_class.clone()
                },
            },
        };
        emit(
            format!("pvc-{}.yaml", dns(name)),
            "kubernetes/pvc.yaml.j2",
            &ctx,
        )?;
    }

    // The edge.
    if let Some(edge) = &spec.edge
        && let Some(target) = spec.services.get(&edge.service)
    {
        let object = spec.name.clone();
        out.names.claim("Ingress", &object, "/edge", 63);
        let class = spec
            .targets
            .kubernetes
            .ingress_class
            .clone()
            .unwrap_or_else(|| "nginx".into());
        let tls_secret = edge.tls.as_ref().map(|t| out.secret_object(t));
        let mut annotations = BTreeMap::new();
        // Annotations only for the class that reads them; another controller ignores them, so
        // they would only pretend to configure it.
        if class == "nginx" {
            let port = port_number(target, &edge.port);
            if port_is_https(target, port) {
                annotations.insert(
                    "nginx.ingress.kubernetes.io/backend-protocol".to_owned(),
                    "HTTPS".to_owned(),
                );
            }
            if let Some(b) = edge
                .max_body_size
                .as_deref()
                .and_then(units::body_size_bytes)
            {
                annotations.insert(
                    "nginx.ingress.kubernetes.io/proxy-body-size".to_owned(),
                    nginx_size(b),
                );
            }
            let redirect = edge.redirect_http && edge.tls.is_some();
            annotations.insert(
                "nginx.ingress.kubernetes.io/ssl-redirect".to_owned(),
                redirect.to_string(),
            );
        }
        let ctx = IngressCtx {
            meta: out.meta(object, &edge.service),
            annotations: kvs(&annotations),
            class,
            host: plan::expand_neutral(spec, &edge.host),
            tls_secret,
            service: out.naming.object(&edge.service),
            port: port_spec(&target.ports, &edge.port),
        };
        emit("ingress.yaml".into(), "kubernetes/ingress.yaml.j2", &ctx)?;
    }

    // Network policies: ingress denied by default, then allowed per workload from the workloads
    // whose code talks to it (see `talks_to`), from anywhere on the edge port and published ports.
    let default_deny = format!("{}-default-deny", spec.name);
    out.names
        .claim("NetworkPolicy", &default_deny, "/services", 63);
    emit(
        "networkpolicy-default-deny.yaml".into(),
        "kubernetes/networkpolicy.yaml.j2",
        &NetPolCtx {
            meta: out.meta(default_deny, "default-deny"),
            selector: Vec::new(),
            rules: Vec::new(),
        },
    )?;
    for (file, name, ctx) in network_policies(&out, &one_offs) {
        let pointer = if name == rules::DATABASE {
            "/database".to_owned()
        } else {
            format!("/services/{}", escape_segment(&name))
        };
        out.names
            .claim("NetworkPolicy", &ctx.meta.name, &pointer, 63);
        emit(file, "kubernetes/networkpolicy.yaml.j2", &ctx)?;
    }

    // Pod Security: the level the spec asks for must be one every pod meets; else the strictest
    // level they meet.
    let met = pod_security::level(&out.pss);
    let enforce = match spec.targets.kubernetes.pod_security {
        Some(want) => {
            let mut seen = BTreeSet::new();
            for v in std::mem::take(&mut out.pss) {
                if v.level <= want && seen.insert((v.at.clone(), v.what.clone())) {
                    out.diag_code(
                        &v.at,
                        Code::PodSecurity,
                        format!(
                            "targets.kubernetes.pod_security is {}, which forbids this: {}",
                            want.as_str(),
                            v.what
                        ),
                        v.help,
                    );
                }
            }
            want
        }
        None => met,
    };
    out.diags.append(&mut out.names.diags);
    if !out.diags.is_empty() {
        return Err(Error::Invalid(Invalid {
            diags: out.diags,
            sources: BTreeMap::from([(valid.raw.file.clone(), valid.raw.source.clone())]),
        }));
    }

    // The namespace.
    let namespace = out.namespace.clone();
    let ns_labels = BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_owned(),
        MANAGED_BY.to_owned(),
    )]);
    let mut ns_labels = ns_labels;
    // Enforce what the pods meet (or what the spec asks for, which they were checked to meet);
    // warn and audit one level stricter, so the cluster says what keeps them from it.
    for (mode, level) in [
        ("enforce", enforce),
        ("warn", pod_security::next_stricter(enforce)),
        ("audit", pod_security::next_stricter(enforce)),
    ] {
        ns_labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            level.as_str().to_owned(),
        );
        ns_labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            POD_SECURITY_VERSION.to_owned(),
        );
    }
    emit(
        "namespace.yaml".into(),
        "kubernetes/namespace.yaml.j2",
        &NamespaceCtx {
            spec_name: spec.name.clone(),
            name: namespace.clone(),
            labels: kvs(&ns_labels),
        },
    )?;

    // Secrets: the files and their kustomization under secrets/kubernetes/.
    let mut resources: Vec<String> = Vec::new();
    if !out.secret_gens.is_empty() {
        for (rel, body) in &out.secret_files {
            add_secret(files, format!("{SECRETS_DIR}/{rel}"), body.clone());
        }
        let ctx = SecretsKustomizationCtx {
            spec_name: spec.name.clone(),
            namespace: namespace.clone(),
            secrets: std::mem::take(&mut out.secret_gens).into_values().collect(),
        };
        let text = templates.render("kubernetes/secrets-kustomization.yaml.j2", &ctx)?;
        let path = format!("{SECRETS_DIR}/kustomization.yaml");
        templates.check_yaml(&path, &text)?;
        add_secret(files, path, text);
        resources.push("../secrets/kubernetes".into());
    }
    for (rel, (body, mode)) in &out.plain_files {
        add(files, format!("{DIR}/files/{rel}"), body.clone(), *mode);
    }
    resources.extend(manifests.keys().cloned());
    resources.sort();
    let ctx = KustomizationCtx {
        spec_name: spec.name.clone(),
        namespace,
        labels: kvs(&BTreeMap::from([
            ("app.kubernetes.io/instance".to_owned(), spec.name.clone()),
            (
                "app.kubernetes.io/managed-by".to_owned(),
                MANAGED_BY.to_owned(),
            ),
        ])),
        resources,
        config_maps: std::mem::take(&mut out.config_gens).into_values().collect(),
    };
    let text = templates.render("kubernetes/kustomization.yaml.j2", &ctx)?;
    manifests.insert("kustomization.yaml".into(), text);
    for (file, text) in manifests {
        let path = format!("{DIR}/{file}");
        templates.check_yaml(&path, &text)?;
        add(files, path, text, 0o644);
    }
    Ok(())
}

/// Object-safe rendering of the different contexts through one closure.
mod erased {
    use crate::error::Error;
    use crate::render::Templates;

    pub trait Ctx {
        fn render(&self, t: &Templates, name: &str) -> Result<String, Error>;
    }
    impl<T: serde::Serialize> Ctx for T {
        fn render(&self, t: &Templates, name: &str) -> Result<String, Error> {
            t.render(name, self)
        }
    }
}

/// The services and the database the code of `svc` connects to: what it waits for, and every
/// `${services.S.*}` and `${database.host|port}` in its environment, command, entrypoint and the
/// files it mounts.
fn talks_to(spec: &Spec, svc: &Service) -> BTreeSet<String> {
    use crate::placeholder::{DbField, Piece, Ref};
    let mut to: BTreeSet<String> = svc.depends_on.keys().cloned().collect();
    let mut texts: Vec<String> = svc
        .env
        .values()
        .map(crate::spec::model::Scalar::text)
        .collect();
    texts.extend(svc.command.iter().flatten().cloned());
    texts.extend(svc.entrypoint.iter().flatten().cloned());
    for m in &svc.mounts {
        if let Some(f) = m.file.as_ref().and_then(|f| spec.files.get(f)) {
            texts.push(f.content.clone());
        }
    }
    for t in texts {
        for p in crate::placeholder::parse(&t).unwrap_or_default() {
            match p {
                Piece::Ref(
                    Ref::ServiceHost(x) | Ref::ServicePort(x) | Ref::ServiceNamedPort(x, _),
                    _,
                ) => {
                    to.insert(x);
                }
                Piece::Ref(Ref::Database(DbField::Host | DbField::Port), _) => {
                    to.insert(rules::DATABASE.to_owned());
                }
                _ => {}
            }
        }
    }
    to
}

/// One `NetworkPolicy` per workload (by file, component and context).
fn network_policies(
    out: &Out<'_>,
    one_offs: &BTreeSet<String>,
) -> Vec<(String, String, NetPolCtx)> {
    let spec = out.spec();
    // Which workload's pods run the code of each service: its own, or (a one-off) its dependants'.
    let mut runs_in: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, svc) in &spec.services {
        if !one_offs.contains(name) {
            runs_in
                .entry(name.clone())
                .or_default()
                .insert(name.clone());
        }
        for (dep, cond) in &svc.depends_on {
            if *cond == Condition::Completed && one_offs.contains(dep) {
                runs_in.entry(dep.clone()).or_default().insert(name.clone());
            }
        }
    }
    let mut from: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, svc) in &spec.services {
        for target in talks_to(spec, svc) {
            for pod in runs_in.get(name).into_iter().flatten() {
                if pod != &target {
                    from.entry(target.clone()).or_default().insert(pod.clone());
                }
            }
        }
    }
    let publish = spec.targets.kubernetes.publish_mode();
    let mut list = Vec::new();
    for (name, ports) in &out.workloads {
        let svc = spec.services.get(name);
        let mut rules_out = Vec::new();
        let peers: Vec<Vec<Kv>> = from
            .get(name)
            .into_iter()
            .flatten()
            .filter(|p| out.workloads.contains_key(*p))
            .map(|p| kvs(&out.selector(p)))
            .collect();
        if !peers.is_empty() && !ports.is_empty() {
            let names: Vec<&str> = from
                .get(name)
                .into_iter()
                .flatten()
                .filter(|p| out.workloads.contains_key(*p))
                .map(String::as_str)
                .collect();
            rules_out.push(NetRule {
                comment: format!("from {}", names.join(", ")),
                from: peers,
                ports: ports.clone(),
            });
        }
        if let (Some(edge), Some(svc)) = (&spec.edge, svc)
            && &edge.service == name
        {
            let port = port_number(svc, &edge.port);
            rules_out.push(NetRule {
                comment: "the edge: the ingress controller, wherever it runs".into(),
                from: Vec::new(),
                ports: ports.iter().filter(|p| p.port == port).cloned().collect(),
            });
        }
        if let Some(svc) = svc
            && publish != Publish::None
        {
            let published: Vec<ServicePort> = svc
                .ports
                .iter()
                .filter(|p| p.publish.is_some())
                .map(|p| ServicePort {
                    name: p.name.clone(),
                    port: p.port,
                    protocol: protocol(p.protocol),
                    node_port: None,
                })
                .collect();
            if !published.is_empty() {
                rules_out.push(NetRule {
                    comment: published_comment(publish).into(),
                    from: Vec::new(),
                    ports: published,
                });
            }
        }
        list.push((
            format!("networkpolicy-{name}.yaml"),
            name.clone(),
            NetPolCtx {
                meta: out.meta(out.naming.object(name), name),
                selector: kvs(&out.selector(name)),
                rules: rules_out,
            },
        ));
    }
    list
}

/// The network policy rule's comment for published ports.
fn published_comment(publish: Publish) -> &'static str {
    match publish {
        Publish::HostPort => "published on the node (hostPort): clients from anywhere",
        Publish::NodePort => "published (NodePort Service): clients from anywhere",
        _ => "published (LoadBalancer Service): clients from anywhere",
    }
}

/// The namespace every object is in.
fn namespace(spec: &Spec) -> String {
    spec.targets
        .kubernetes
        .namespace
        .clone()
        .unwrap_or_else(|| spec.name.clone())
}

fn embedded_db(spec: &Spec) -> bool {
    spec.database.as_ref().is_some_and(|d| d.external.is_none())
}

/// A singleton that mounts a `ReadWriteOnce` volume.
fn is_statefulset(spec: &Spec, svc: &Service) -> bool {
    svc.scaling == Scaling::Singleton
        && svc.mounts.iter().any(|m| {
            m.volume
                .as_ref()
                .is_some_and(|v| spec.volumes.get(v).is_some_and(|v| !v.shared))
        })
}

/// `database.wait` in whole seconds: (timeout, interval).
fn db_wait(spec: &Spec) -> (u64, u64) {
    let w = plan::database_wait(spec.database.as_ref());
    (secs_of(w.timeout_ms), secs_of(w.interval_ms))
}

fn spread(s: ProfileSpread) -> Vec<SpreadOut> {
    match s {
        ProfileSpread::None => Vec::new(),
        ProfileSpread::Hosts => vec![SpreadOut {
            key: "kubernetes.io/hostname",
            when: "DoNotSchedule",
        }],
        ProfileSpread::Zones => vec![
            SpreadOut {
                key: "topology.kubernetes.io/zone",
                when: "DoNotSchedule",
            },
            SpreadOut {
                key: "kubernetes.io/hostname",
                when: "ScheduleAnyway",
            },
        ],
    }
}

fn service_ports(svc: &Service) -> Vec<ServicePort> {
    svc.ports
        .iter()
        .map(|p| ServicePort {
            name: p.name.clone(),
            port: p.port,
            protocol: protocol(p.protocol),
            node_port: None,
        })
        .collect()
}

/// The pod's security settings: volumes (and secret files) group-owned by the user's group when
/// the service runs as a numeric non-root user, so it can write its volumes and read its secrets.
/// Users are set per container, since a pod may also run a one-off service as another user.
fn pod_security(user: Option<&str>, h: &Hardening, service_account: String) -> Pod {
    let mut pod = Pod {
        service_account,
        host_users: !h.user_namespaces,
        seccomp: if h.seccomp_unconfined {
            "Unconfined"
        } else {
            "RuntimeDefault"
        },
        ..Pod::default()
    };
    if let Some((uid, gid)) = user.and_then(numeric_user)
        && uid != 0
    {
        pod.fs_group = Some(gid.unwrap_or(uid));
    }
    pod
}

/// The main container of a service (or, with `main` false, a one-off run as an init container:
/// no ports, no probes). Its volumes are added to `volumes`.
fn container(
    out: &mut Out<'_>,
    c: &plan::container::Container<'_>,
    volumes: &mut Vec<PodVolume>,
    main: bool,
) -> Container {
    // Exhaustive: a field the plan adds is a compile error here until Kubernetes carries it.
    let plan::container::Container {
        name,
        pointer: sp,
        image,
        replicas: _,
        singleton: _,
        // Pods restart their containers always; a one-off runs as an init container.
        restart: _,
        user,
        working_dir,
        entrypoint,
        command,
        env: env_list,
        ports,
        mounts,
        health,
        // Init containers that wait (see `wait_container`).
        depends_on: _,
        hardening: h,
        resources: limits,
    } = c;
    // The shared reference, not a copy: `out` is borrowed mutably below.
    let valid: &Valid = out.valid;
    let spec = &valid.spec;
    let naming = KubernetesNaming::new(spec);
    let expand_list = |l: Option<&[String]>| {
        l.map(|v| {
            v.iter()
                .map(|a| plan::resolve(spec, out.secrets, &naming, a).text)
                .collect::<Vec<_>>()
        })
    };
    let security = spec.services.get(*name).and_then(|s| s.security.as_ref());
    let mut k = Container {
        name: (*name).to_owned(),
        image: plan::image_ref(image, out.mirror),
        pull_policy: out.pull,
        command: expand_list(*entrypoint),
        args: expand_list(*command),
        working_dir: working_dir.map(str::to_owned),
        resources: resources(limits),
        origin: Origin::new(spec, sp, security, user.is_some()),
        ..Container::default()
    };

    env(out, sp, name, env_list, &mut k);

    if main {
        let host_ports = spec.targets.kubernetes.publish_mode() == Publish::HostPort;
        for (i, p) in ports.iter().enumerate() {
            k.ports.push(ContainerPort {
                name: p.name.clone(),
                port: p.port,
                protocol: protocol(p.protocol),
                host_port: p.publish.filter(|_| host_ports),
                at: format!("{sp}/ports/{i}/publish"),
            });
        }
        probes(ports, health.as_ref(), &mut k);
    }
    for m in mounts {
        mount(out, m, &mut k, volumes);
    }

    if let Some(u) = user
        && numeric_user(u).is_none()
    {
        out.diag(
            &format!("{sp}/user"),
            format!("kubernetes runs containers as a numeric user; `{u}` is a name"),
            "write the numeric UID[:GID] the name stands for in the image, e.g. `33:33` for www-data",
        );
    }
    harden(&mut k, *user, h, volumes);
    k
}

/// A container's securityContext from its hardening: never gain privileges (unless the spec says
/// why), every capability dropped but the effective set, the user, a read-only root with its
/// writable paths as `emptyDir`s.
fn harden(c: &mut Container, user: Option<&str>, h: &Hardening, volumes: &mut Vec<PodVolume>) {
    c.accept.clone_from(&h.accept);
    if let Some((uid, gid)) = user.and_then(numeric_user) {
        c.security.run_as_user = Some(uid);
        c.security.run_as_group = gid;
        c.security.run_as_non_root = uid != 0;
    }
    c.security.allow_escalation = !h.no_new_privileges;
    c.security.add.clone_from(&h.cap_add);
    c.security.read_only_root = h.read_only;
    for path in &h.writable {
        if c.mounts.iter().any(|m| &m.path == path) {
            continue;
        }
        let name = add_volume(
            volumes,
            PodVolume {
                name: format!("writable{}", path.replace('/', "-")),
                kind: "empty",
                source: path.clone(),
                items: Vec::new(),
                default_mode: None,
            },
        );
        c.mounts.push(VolumeMount {
            name,
            path: path.clone(),
            read_only: false,
            sub_path: None,
        });
    }
}

/// The checks the workload's pod fails by the spec's own choices, and the spec's reason for each:
/// a check becomes the checker's skip annotation when every container that fails it belongs to a
/// service that accepts the exception with a reason (a one-off run inside the pod answers for its
/// own container); otherwise it stays a failure, so the user has to decide.
fn skips<'p>(spec: &Spec, pod: &'p Pod) -> Vec<Skip> {
    let all: Vec<&'p Container> = pod.init_containers.iter().chain(&pod.containers).collect();
    let main: Vec<&'p Container> = pod.containers.iter().collect();
    // (check, exception, the containers that fail it)
    let mut checks: Vec<(&'static str, Exception, Vec<&'p Container>)> = Vec::new();
    let mut check = |id: &'static str,
                     e: Exception,
                     among: &[&'p Container],
                     fails: &dyn Fn(&Container) -> bool| {
        checks.push((id, e, among.iter().copied().filter(|c| fails(c)).collect()));
    };
    check("CKV_K8S_43", Exception::ImageTag, &all, &|c| {
        !c.image.contains('@')
    });
    check("CKV_K8S_23", Exception::Root, &main, &|c| {
        !c.security.run_as_non_root
    });
    check("CKV_K8S_40", Exception::LowUid, &main, &|c| {
        pod.host_users
            && c.security
                .run_as_user
                .is_none_or(|u| u < security::HIGH_UID)
    });
    check("CKV_K8S_25", Exception::Capabilities, &all, &|c| {
        !c.security.add.is_empty()
    });
    check("CKV_K8S_22", Exception::WritableRoot, &all, &|c| {
        !c.security.read_only_root
    });
    check("CKV_K8S_35", Exception::SecretEnv, &all, &|c| {
        c.env.iter().any(|e| e.secret_name.is_some())
    });
    check("CKV_K8S_26", Exception::HostPort, &all, &|c| {
        c.ports.iter().any(|p| p.host_port.is_some())
    });
    check("CKV_K8S_20", Exception::PrivilegeEscalation, &all, &|c| {
        c.security.allow_escalation
    });
    check("CKV_K8S_31", Exception::Seccomp, &main, &|_| {
        pod.seccomp != "RuntimeDefault"
    });
    check("CKV_K8S_8", Exception::NoHealthcheck, &main, &|c| {
        c.liveness.is_none()
    });
    check("CKV_K8S_9", Exception::NoHealthcheck, &main, &|c| {
        c.readiness.is_none()
    });
    let cpu = |c: &Container| c.resources.as_ref().is_none_or(|r| r.cpu_limit.is_none());
    let memory = |c: &Container| {
        c.resources
            .as_ref()
            .is_none_or(|r| r.memory_limit.is_none())
    };
    check("CKV_K8S_10", Exception::NoLimits, &all, &cpu);
    check("CKV_K8S_11", Exception::NoLimits, &all, &cpu);
    check("CKV_K8S_12", Exception::NoLimits, &all, &memory);
    check("CKV_K8S_13", Exception::NoLimits, &all, &memory);
    let mut out: Vec<Skip> = Vec::new();
    for (id, e, failing) in checks {
        if failing.is_empty() {
            continue;
        }
        // Every failing container's own reason, or no skip.
        let Some(mut reasons) = failing
            .iter()
            .map(|c| c.accept.get(&e).map(|r| r.trim().to_owned()))
            .collect::<Option<Vec<String>>>()
        else {
            continue;
        };
        reasons.sort();
        reasons.dedup();
        out.push(Skip {
            check: id,
            exception: e.key(),
            reason: reasons.join("; "),
        });
    }
    // The pull policy is the spec's own choice (`images.pull`), so its reason is derived from it.
    if let Some(p) = spec.images.as_ref().and_then(|i| i.pull)
        && p != Pull::Always
        && all.iter().any(|c| !c.image.contains('@'))
    {
        out.push(Skip {
            check: "CKV_K8S_15",
            exception: "images.pull",
            reason: format!(
                "images.pull is {} in the spec: nodes start pods from images they already hold ({})",
                match p {
                    Pull::Never => "never",
                    _ => "missing",
                },
                if p == Pull::Never {
                    "loaded ahead, no registry is reached"
                } else {
                    "a tag is never rebuilt under policy"
                }
            ),
        });
    }
    out.sort_by(|a, b| a.check.cmp(b.check));
    out
}

/// Environment: plain values inline; a whole secret by reference; secret-bearing composites
/// through a per-service Secret generated from an env file under `secrets/kubernetes/`.
fn env(out: &mut Out<'_>, sp: &str, name: &str, list: &[(&str, String)], c: &mut Container) {
    // The shared reference, not a copy: `out` is borrowed mutably below.
    let valid: &Valid = out.valid;
    let spec = &valid.spec;
    let naming = KubernetesNaming::new(spec);
    let mut env_file = String::new();
    let env_secret = out.naming.object(&format!("{name}-env"));
    for (k, text) in list {
        let k = *k;
        let r = plan::resolve(spec, out.secrets, &naming, text);
        if let Some(s) = r.whole_secret.filter(|s| !out.is_tls(s)) {
            let obj = out.secret_object(&s);
            c.env.push(EnvVar {
                name: k.to_owned(),
                value: None,
                secret_name: Some(obj),
                secret_key: Some(s),
            });
        } else if r.secret {
            if r.text.contains(['\n', '\r']) {
                out.diag(
                    &format!("{sp}/env/{}", escape_segment(k)),
                    format!("`{k}` holds a secret and a line break; a kustomize env file cannot carry that"),
                    "mount the value as a file instead (a `files:` entry)",
                );
                continue;
            }
            env_file.push_str(k);
            env_file.push('=');
            env_file.push_str(&r.text);
            env_file.push('\n');
            c.env.push(EnvVar {
                name: k.to_owned(),
                value: None,
                secret_name: Some(env_secret.clone()),
                secret_key: Some(k.to_owned()),
            });
        } else {
            c.env.push(EnvVar {
                name: k.to_owned(),
                value: Some(r.text),
                secret_name: None,
                secret_key: None,
            });
        }
    }
    if !env_file.is_empty() && !out.secret_gens.contains_key(&env_secret) {
        out.names.claim(
            "Secret",
            &env_secret,
            &format!("{sp}/env"),
            63 - HASH_SUFFIX_LEN,
        );
        let rel = format!("env/{name}.env");
        out.secret_gens.insert(
            env_secret.clone(),
            Generator {
                name: env_secret,
                kind: None,
                files: Vec::new(),
                envs: vec![rel.clone()],
            },
        );
        out.secret_files.insert(rel, env_file);
    }
}

/// Seconds between the default readiness probes of a service without a health check.
const DEFAULT_READINESS_PERIOD: u64 = 10;

fn probes(ports: &[Port], health: Option<&plan::container::Health>, c: &mut Container) {
    let Some(h) = health else {
        // No health check: a TCP readiness probe on the first TCP port. It never restarts the
        // container (no liveness probe: how long the image takes to start is unknown); it only
        // keeps the pod out of its Service until the port it declares accepts connections.
        if let Some(p) = ports.iter().find(|p| p.protocol == Protocol::Tcp) {
            c.readiness = Some(Probe {
                http_path: None,
                port: Some(serde_json::Value::from(p.name.clone())),
                scheme: None,
                exec: None,
                period: DEFAULT_READINESS_PERIOD,
                timeout: 5,
                failure_threshold: 3,
            });
        }
        return;
    };
    let plan::container::Health {
        check,
        interval_ms,
        timeout_ms,
        retries,
        start_period_ms,
    } = h;
    let period = secs_of(*interval_ms);
    let timeout = secs_of(*timeout_ms);
    let mut p = Probe {
        http_path: None,
        port: None,
        scheme: None,
        exec: None,
        period,
        timeout,
        failure_threshold: u64::from(*retries),
    };
    match check {
        Check::Http {
            scheme,
            port,
            path,
            number: _,
        } => {
            p.http_path = Some(path.clone());
            p.port = Some(port_spec(ports, port));
            p.scheme = Some(if *scheme == Scheme::Https {
                "HTTPS"
            } else {
                "HTTP"
            });
        }
        Check::Tcp { port, number: _ } => p.port = Some(port_spec(ports, port)),
        Check::Exec(argv) | Check::Script { argv, shell: _ } => p.exec = Some(argv.clone()),
        Check::Shell(line) => p.exec = Some(vec!["sh".into(), "-c".into(), line.clone()]),
    }
    let start = units::duration_secs_ceil(*start_period_ms);
    if start > 0 {
        // Checked more often than the healthcheck's interval, so the pod is ready soon after it is up.
        let sp = period.min(10);
        let mut s = p.clone();
        s.period = sp;
        s.failure_threshold = start.div_ceil(sp).max(1);
        c.startup = Some(s);
    }
    c.readiness = Some(p.clone());
    c.liveness = Some(p);
}

fn mount(out: &mut Out<'_>, m: &MountPlan<'_>, c: &mut Container, volumes: &mut Vec<PodVolume>) {
    match *m {
        MountPlan::Volume {
            volume: v,
            path,
            read_only,
        } => {
            out.used_volumes.insert(v.to_owned());
            let name = add_volume(
                volumes,
                PodVolume {
                    name: dns(v),
                    kind: "pvc",
                    source: out.naming.object(v),
                    items: Vec::new(),
                    default_mode: None,
                },
            );
            c.mounts.push(VolumeMount {
                name,
                path: path.to_owned(),
                read_only,
                sub_path: None,
            });
        }
        MountPlan::Scratch { path } => {
            let name = add_volume(
                volumes,
                PodVolume {
                    name: format!("scratch{}", path.replace('/', "-")),
                    kind: "empty",
                    source: path.to_owned(),
                    items: Vec::new(),
                    default_mode: None,
                },
            );
            c.mounts.push(VolumeMount {
                name,
                path: path.to_owned(),
                read_only: false,
                sub_path: None,
            });
        }
        MountPlan::File {
            file,
            path,
            content,
            mode,
        } => mount_file(out, file, path, content, mode, c, volumes),
        MountPlan::Secret {
            secret,
            path,
            items,
        } => mount_secret(out, secret, path, items, c, volumes),
    }
}

/// A `files:` entry: a `ConfigMap` (or, when it holds a secret, a Secret) item mounted at its path.
fn mount_file(
    out: &mut Out<'_>,
    f: &str,
    path: &str,
    content: &str,
    mode: u32,
    c: &mut Container,
    volumes: &mut Vec<PodVolume>,
) {
    // The shared reference, not a copy: `out` is borrowed mutably below.
    let valid: &Valid = out.valid;
    let spec = &valid.spec;
    // The item's mode only where the spec gives one (the default is the volume's own).
    let given = spec
        .files
        .get(f)
        .and_then(|d| d.mode.as_ref())
        .map(|_| mode);
    let naming = KubernetesNaming::new(spec);
    let resolved = plan::resolve(spec, out.secrets, &naming, content);
    let object = out.naming.object(&format!("file-{f}"));
    let pointer = format!("/files/{}", escape_segment(f));
    let (kind, gens_has) = if resolved.secret {
        ("secret", out.secret_gens.contains_key(&object))
    } else {
        ("configmap", out.config_gens.contains_key(&object))
    };
    if !gens_has {
        let generator = Generator {
            name: object.clone(),
            kind: None,
            files: vec![format!("{f}=files/{f}")],
            envs: Vec::new(),
        };
        if resolved.secret {
            out.names
                .claim("Secret", &object, &pointer, 63 - HASH_SUFFIX_LEN);
            out.secret_files.insert(format!("files/{f}"), resolved.text);
            out.secret_gens.insert(object.clone(), generator);
        } else {
            out.names
                .claim("ConfigMap", &object, &pointer, 63 - HASH_SUFFIX_LEN);
            out.plain_files.insert(f.to_owned(), (resolved.text, mode));
            out.config_gens.insert(object.clone(), generator);
        }
    }
    let name = add_volume(
        volumes,
        PodVolume {
            name: format!("file-{f}"),
            kind,
            source: object,
            items: vec![Item {
                key: f.to_owned(),
                path: f.to_owned(),
                mode: given,
            }],
            default_mode: None,
        },
    );
    c.mounts.push(VolumeMount {
        name,
        path: path.to_owned(),
        read_only: true,
        sub_path: Some(f.to_owned()),
    });
}

/// A secret mounted as a read-only directory (`items` select and rename its files).
fn mount_secret(
    out: &mut Out<'_>,
    s: &str,
    path: &str,
    items: &BTreeMap<String, String>,
    c: &mut Container,
    volumes: &mut Vec<PodVolume>,
) {
    let object = out.secret_object(s);
    let keys: Vec<String> = if out.is_tls(s) {
        ["ca.crt", "tls.crt", "tls.key"]
            .iter()
            .map(|k| (*k).to_owned())
            .collect()
    } else {
        vec![s.to_owned()]
    };
    let items = if items.is_empty() {
        Vec::new()
    } else {
        keys.iter()
            .filter_map(|k| {
                items.get(k).map(|p| Item {
                    key: k.clone(),
                    path: p.clone(),
                    mode: None,
                })
            })
            .collect()
    };
    let name = add_volume(
        volumes,
        PodVolume {
            name: format!("secret-{s}"),
            kind: "secret",
            source: object,
            items,
            // Owner and group read: with a non-root user the group is the pod's fsGroup.
            default_mode: Some(0o440),
        },
    );
    c.mounts.push(VolumeMount {
        name,
        path: path.to_owned(),
        read_only: true,
        sub_path: None,
    });
}

/// An init container that waits for `dep`, or `None` when there is nothing in the cluster to wait
/// for (an external database, which the application's own retries cover, as on compose).
fn wait_container(
    out: &mut Out<'_>,
    dp: &str,
    svc: &Service,
    main: &Container,
    dep: &str,
    cond: Condition,
) -> Option<Container> {
    // The shared reference, not a copy: `out` is borrowed mutably below.
    let valid: &Valid = out.valid;
    let spec = &valid.spec;
    if spec.targets.kubernetes.waits == Some(Waits::None) {
        return None;
    }
    let (host, port, limit, every) = if dep == rules::DATABASE {
        let db = spec.database.as_ref()?;
        if db.external.is_some() {
            return None;
        }
        let (t, i) = db_wait(spec);
        (
            out.naming.database_host(),
            plan::engine_port(db.engine),
            t,
            i,
        )
    } else {
        let d = spec.services.get(dep)?;
        // As long as the dependency may take to become healthy, and never less than the default.
        let limit = d.healthcheck.as_ref().map_or(DEFAULT_SERVICE_WAIT_S, |h| {
            let h = plan::container::health(&d.ports, h);
            secs_of(h.start_period_ms) + secs_of(h.interval_ms) * u64::from(h.retries)
        });
        if cond == Condition::Healthy && d.ports.is_empty() {
            out.diag(
                &format!("{dp}/{}", escape_segment(dep)),
                format!("kubernetes: `{dep}` has no port, so other pods cannot tell when it is healthy"),
                "give it a port (its Service then routes only to ready pods), or wait for `started`",
            );
            return None;
        }
        (
            out.naming.object(dep),
            d.ports.first().map_or(0, |p| p.port),
            limit.max(DEFAULT_SERVICE_WAIT_S),
            DEFAULT_SERVICE_WAIT_INTERVAL_S,
        )
    };
    let (mode, host, port, what) = match cond {
        Condition::Healthy => (
            "tcp",
            host,
            port.to_string(),
            format!("{dep} to be healthy"),
        ),
        _ => (
            "dns",
            format!("{host}-headless"),
            String::new(),
            format!("{dep} to start"),
        ),
    };
    // Runs as the service's own user when that is not root, else as nobody: waiting needs nothing.
    let uid = svc
        .user
        .as_deref()
        .and_then(numeric_user)
        .filter(|(u, _)| *u != 0);
    Some(Container {
        name: format!("wait-{dep}"),
        image: spec
            .targets
            .kubernetes
            .wait_image
            .as_deref()
            .map_or_else(|| main.image.clone(), |i| plan::image_ref(i, out.mirror)),
        pull_policy: main.pull_policy,
        script: Some(WAIT_SCRIPT.to_owned()),
        args: Some(vec![
            "misp-gen-wait".into(),
            what,
            mode.into(),
            host,
            port,
            limit.to_string(),
            every.to_string(),
        ]),
        // A shell loop: a little CPU and memory, whatever the main container needs.
        resources: Some(Res {
            cpu_request: Some("10m".into()),
            cpu_limit: Some("100m".into()),
            memory_request: Some("32Mi".into()),
            memory_limit: Some("32Mi".into()),
        }),
        origin: main.origin.clone(),
        accept: main.accept.clone(),
        security: ContainerSecurity {
            run_as_user: Some(uid.map_or(NOBODY, |(u, _)| u)),
            run_as_group: Some(uid.map_or(Some(NOBODY), |(_, g)| g).unwrap_or(NOBODY)),
            run_as_non_root: true,
            read_only_root: true,
            allow_escalation: false,
            add: Vec::new(),
        },
        ..Container::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the pod-local name rules: DNS labels, unique, short enough for a suffix.
    #[test]
    fn local_names() {
        let taken = BTreeSet::from(["secret-tls".to_owned()]);
        assert_eq!(local_name("secret-tls", &taken), "secret-tls-2");
        assert_eq!(
            local_name("scratch-/var/lib", &BTreeSet::new()),
            "scratch-var-lib"
        );
        assert!(local_name(&"x".repeat(80), &BTreeSet::new()).len() <= 56);
    }

    // Pins the quantity and size forms Kubernetes and ingress-nginx read.
    #[test]
    fn quantities() {
        assert_eq!(cpu_quantity(500), "500m");
        assert_eq!(cpu_quantity(2000), "2");
        assert_eq!(nginx_size(512 << 20), "512m");
        assert_eq!(nginx_size(1 << 30), "1g");
        assert_eq!(nginx_size(1000), "1000");
        assert_eq!(numeric_user("1000:1000"), Some((1000, Some(1000))));
        assert_eq!(numeric_user("www-data"), None);
        assert!(is_label_value("v2.5.42"));
        assert!(!is_label_value("1.0 beta"));
    }
}
