//! What each target refuses to carry, decided on the deployment model before anything is
//! rendered: object names Kubernetes would not accept, values a unit file, an env file or a
//! kustomize env file cannot hold, keys the podman version lacks, a Pod Security level the pods
//! cannot meet, an image the policy does not allow. `validate` asks it for every target and
//! flavour, with stand-in secrets, and renders nothing; `render` asks it for the targets it
//! renders, with the secrets it writes, before any template runs. The renderers only format.

use std::collections::{BTreeMap, BTreeSet};

use super::Deployment;
use super::container::{Check, Container, Kind, MountPlan};
use super::naming::{ComposeNaming, KubernetesNaming, SystemdNaming, local_name};
use super::pod_security::{self, ContainerView, PodView, Violation};
use crate::diag::{Code, Diagnostic};
use crate::domain::{Naming, Resolved, expand};
use crate::hardening::numeric_user;
use crate::spec::load::escape_segment;
use crate::spec::model::{Condition, Flavor, PodSecurity, Publish, Waits};

/// The podman version Quadlet first shipped with.
pub const QUADLET_SINCE: (u32, u32) = (4, 4);
/// The podman version that reads `PodmanArgs=` in a `.volume` file.
pub const VOLUME_PODMAN_ARGS_SINCE: (u32, u32) = (4, 6);
/// The podman version units are written for when the spec names none.
pub const DEFAULT_PODMAN_VERSION: (u32, u32) = (4, 6);
/// Kustomize appends `-` and a 10-character hash to generated names.
pub const HASH_SUFFIX_LEN: usize = 11;
/// A `StatefulSet`'s name ends up in its pods' `controller-revision-hash` label with a hash after it.
pub const STATEFULSET_NAME_MAX: usize = 52;
/// The user the Kubernetes wait containers run as when the workload names none.
pub const NOBODY: u64 = 65_534;

/// A target, as far as what it refuses differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Compose,
    Kubernetes,
    Systemd(Flavor),
}

/// A secret's text by name (stand-ins when validating).
pub type SecretText<'s> = dyn Fn(&str) -> Option<&'s str> + 's;

/// Everything `target` refuses in `d`, in the order the target meets them.
#[must_use]
pub fn refusals(d: &Deployment, target: Target, secret: &SecretText<'_>) -> Vec<Diagnostic> {
    match target {
        Target::Compose => compose(d, secret),
        Target::Kubernetes => kubernetes(d, secret),
        Target::Systemd(flavor) => systemd(d, flavor, secret),
    }
}

/// Why a value cannot be written into a unit file as it is (a key's raw value, which systemd and
/// quadlet do not unescape), if it cannot. Words of `Exec` lines and Quadlet's `Exec=`,
/// `Environment=` and `PodmanArgs=` carry more: see [`inexpressible_word`].
#[must_use]
pub fn inexpressible(s: &str) -> Option<&'static str> {
    for c in s.chars() {
        match c {
            '\t' => {}
            '\n' | '\r' => return Some("a line break"),
            '\0' => return Some("a NUL character"),
            c if c.is_control() => return Some("a control character"),
            _ => {}
        }
    }
    None
}

/// Why a value cannot be one word of an `Exec` line (or of Quadlet's `Exec=`, `Environment=`,
/// `PodmanArgs=`), if it cannot: only a NUL, which no argument or environment variable can hold.
/// Line breaks and other control characters are written as C escapes, which systemd and quadlet
/// turn back into the characters.
#[must_use]
pub fn inexpressible_word(s: &str) -> Option<&'static str> {
    s.contains('\0').then_some("a NUL character")
}

/// Why a secret-bearing value cannot go into an env file, if it cannot. podman and docker read
/// `--env-file` line by line (a trailing `\r` is dropped, lines are at most 64 KiB) and take the
/// value after the first `=` literally.
#[must_use]
pub fn env_file_refusal(v: &str) -> Option<&'static str> {
    if v.contains(['\n', '\r']) {
        Some("a line break")
    } else if v.contains('\0') {
        Some("a NUL character")
    } else if v.len() > 60_000 {
        Some("more than 60000 bytes")
    } else {
        None
    }
}

fn resolve(d: &Deployment, secret: &SecretText<'_>, naming: &dyn Naming, text: &str) -> Resolved {
    expand(d, secret, naming, text)
}

// ----------------------------------------------------------------------------------- compose

/// The database cluster, if the deployment embeds one.
fn cluster(d: &Deployment) -> Option<&super::cluster::DbCluster> {
    d.workloads.iter().find_map(|c| c.cluster.as_deref())
}

/// The services run as a replicated Redis.
fn replicated(d: &Deployment) -> impl Iterator<Item = &super::container::Container> {
    d.workloads.iter().filter(|c| c.replicated.is_some())
}

/// E503 for each replicated Redis on a target that does not render one yet.
fn replicated_refused(d: &Deployment, target: &str) -> Vec<Diagnostic> {
    replicated(d)
        .map(|c| {
            d.locator.key_diag(
                &format!("{}/replicated", c.pointer),
                Code::NotRendered,
                format!(
                    "a replicated Redis ({}) is not rendered for {target} yet",
                    c.title
                ),
                "render it with --target compose",
            )
        })
        .collect()
}

fn compose(d: &Deployment, secret: &SecretText<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // The cluster's writer endpoint image is ours: held to the image policy like the edge's.
    if let Some(cl) = cluster(d)
        && let Some(pol) = &d.policy
        && let Ok(r) = crate::image::ImageRef::parse(&cl.endpoint.image)
        && !(crate::domain::from_allowed_registry(pol, &r)
            && crate::domain::pinned_as_required(pol, &r))
    {
        out.push(d.locator.key_diag(
            "/database/cluster",
            Code::ImageRegistry,
            format!(
                "compose runs the database cluster's writer endpoint in {r}, and the image policy does not allow it"
            ),
            "set `edge.image` to an allowed (or digest-pinned) HAProxy image: the endpoint runs it too",
        ));
    }
    // So is a replicated Redis's endpoint.
    for c in replicated(d) {
        if let Some(set) = c.replicated.as_deref()
            && let Some(pol) = &d.policy
            && let Ok(r) = crate::image::ImageRef::parse(&set.endpoint.image)
            && !(crate::domain::from_allowed_registry(pol, &r)
                && crate::domain::pinned_as_required(pol, &r))
        {
            out.push(d.locator.key_diag(
                &format!("{}/replicated", c.pointer),
                Code::ImageRegistry,
                format!(
                    "compose runs the endpoint of {} in {r}, and the image policy does not allow it",
                    c.title
                ),
                "set `edge.image` to an allowed (or digest-pinned) HAProxy image: the endpoint runs it too",
            ));
        }
    }
    for c in &d.workloads {
        for (k, text) in &c.env {
            let r = resolve(d, secret, &ComposeNaming, text);
            if r.secret && r.text.contains(['\n', '\r']) {
                out.push(d.locator.diag(
                    &format!("{}/env/{}", c.pointer, escape_segment(k)),
                    Code::UnitValue,
                    format!(
                        "`{k}` holds a secret and a line break; compose env files cannot carry that"
                    ),
                    "mount the value as a file instead (a `files:` entry)",
                ));
            }
        }
    }
    // The load balancer image is ours, not the user's: held to the same image policy.
    if let Some(lb) = d.edge.as_ref().and_then(|e| e.lb.as_ref())
        && !lb.allowed
    {
        let r = crate::image::ImageRef::parse(&lb.image)
            .map_or_else(|_| lb.image.clone(), |r| r.to_string());
        out.push(d.locator.key_diag(
            "/edge",
            Code::ImageRegistry,
            format!(
                "compose runs a load balancer ({r}) in front of the replicated edge service, and the image policy does not allow it"
            ),
            "set `edge.image` to an allowed (or digest-pinned) HAProxy image",
        ));
    }
    out
}

// -------------------------------------------------------------------------------- kubernetes

/// The Pod Security level the namespace enforces: the one the spec asks for (the pods were
/// checked to meet it), else the strictest every pod meets.
#[must_use]
pub fn kubernetes_enforce(d: &Deployment) -> PodSecurity {
    d.targets
        .spec
        .kubernetes
        .pod_security
        .unwrap_or_else(|| pod_security::level(pod_violations(d)))
}

/// The Pod Security level the namespace warns and audits at: what the pods would meet if every
/// violation the spec has not accepted with a reason were fixed (see [`pod_security::warn_level`]).
#[must_use]
pub fn kubernetes_warn(d: &Deployment) -> PodSecurity {
    pod_security::warn_level(pod_violations(d), kubernetes_enforce(d))
}

/// What keeps each pod from each Pod Security level, walked once per deployment.
#[must_use]
pub fn pod_violations(d: &Deployment) -> &[Violation] {
    d.pod_violations.get_or_init(|| kubernetes_pods(d))
}

/// What no accepted reason settles and forces the namespace down to `privileged`, where Pod
/// Security checks nothing: a capability outside baseline's list, a host port, seccomp
/// `Unconfined`. The spec node, the message and the help of each, for `validate`'s warnings.
#[must_use]
pub fn pod_security_questions(d: &Deployment) -> Vec<(String, String, String)> {
    let mut seen = BTreeSet::new();
    pod_violations(d)
        .iter()
        .filter(|v| !v.accepted && v.level == PodSecurity::Baseline)
        .filter(|v| seen.insert((v.at.clone(), v.what.clone())))
        .map(|v| {
            let setting = v.at.rsplit('/').next().unwrap_or_default();
            (
                v.at.clone(),
                format!(
                    "{}: on Kubernetes this forces the namespace's Pod Security level to privileged, which checks nothing for any pod of the deployment",
                    v.what
                ),
                format!(
                    "{}; or, if `{setting}` is needed, give the reason in `security.accept.{}` (the namespace then warns of it no more)",
                    v.help,
                    v.exception.key()
                ),
            )
        })
        .collect()
}

/// What the Kubernetes target makes, as far as it can be refused: every object name with the
/// spec node it comes from, the pods as Pod Security reads them, and the values it cannot carry.
struct K8s<'a> {
    d: &'a Deployment,
    naming: KubernetesNaming,
    /// Claimed object names by kind, with the first node each came from.
    seen: std::collections::HashMap<(&'static str, String), String, foldhash::fast::FixedState>,
    /// Names of the Secrets and `ConfigMap`s generated so far (each is claimed once).
    secret_gens: BTreeSet<String>,
    config_gens: BTreeSet<String>,
    names: Vec<Diagnostic>,
    values: Vec<Diagnostic>,
    violations: Vec<Violation>,
}

/// What keeps each pod from each Pod Security level.
fn kubernetes_pods(d: &Deployment) -> Vec<Violation> {
    // Pod Security reads no secret; the names and values found on the way are not asked for.
    walk_kubernetes(d, &|_| Some("")).violations
}

fn kubernetes(d: &Deployment, secret: &SecretText<'_>) -> Vec<Diagnostic> {
    let refused = replicated_refused(d, "kubernetes");
    if !refused.is_empty() {
        return refused;
    }
    let mut k = walk_kubernetes(d, secret);
    // The pods as Pod Security reads them do not depend on secrets: the renderer's namespace
    // levels come from this walk, not from a second one.
    let _ = d.pod_violations.set(k.violations.clone());
    if let Some(want) = d.targets.spec.kubernetes.pod_security {
        let mut seen = BTreeSet::new();
        for v in std::mem::take(&mut k.violations) {
            if v.level <= want && seen.insert((v.at.clone(), v.what.clone())) {
                k.values.push(d.locator.diag(
                    &v.at,
                    Code::PodSecurity,
                    format!(
                        "targets.kubernetes.pod_security is {}, which forbids this: {}",
                        want.as_str(),
                        v.what
                    ),
                    v.help,
                ));
            }
        }
    }
    let mut out = k.values;
    out.append(&mut k.names);
    out
}

/// A cluster member's data volumes: claim templates of the members' `StatefulSet`, no claims.
fn member_volumes(d: &Deployment) -> BTreeSet<String> {
    cluster(d)
        .into_iter()
        .flat_map(|cl| &cl.members)
        .flat_map(|m| &m.mounts)
        .filter_map(|m| match m {
            super::container::MountPlan::Volume { volume, .. } => Some(volume.clone()),
            _ => None,
        })
        .collect()
}

fn walk_kubernetes<'a>(d: &'a Deployment, secret: &SecretText<'_>) -> K8s<'a> {
    let mut k = K8s {
        d,
        naming: KubernetesNaming::new(d),
        seen: std::collections::HashMap::default(),
        secret_gens: BTreeSet::new(),
        config_gens: BTreeSet::new(),
        names: Vec::new(),
        values: Vec::new(),
        violations: Vec::new(),
    };
    let publish = d.targets.spec.kubernetes.publish_mode();
    // Workloads that need a headless Service: `StatefulSet`s and targets of `started`.
    let mut headless: BTreeSet<&str> = BTreeSet::new();
    for c in &d.workloads {
        for (dep, cond) in &c.depends_on {
            if *cond == Condition::Started {
                headless.insert(dep);
            }
        }
        if c.kind == Kind::Stateful {
            headless.insert(&c.name);
        }
    }
    let mut rendered: Vec<&Container> = Vec::new();
    for c in &d.workloads {
        if c.kind == Kind::OneOff {
            continue;
        }
        rendered.push(c);
        let (name, sp) = (&c.name, &c.pointer);
        let object = k.naming.object(name);
        if c.kind == Kind::Stateful {
            k.claim("StatefulSet", &object, sp, STATEFULSET_NAME_MAX);
        } else {
            k.claim("Deployment", &object, sp, 63);
        }
        k.claim("ServiceAccount", &object, sp, 63);
        if let Some(cl) = c.cluster.as_deref() {
            k.cluster(cl, &object, sp, secret);
            continue;
        }
        let main = k.container(c, secret, true);
        let inits = k.init_containers(c, secret, &main);
        let mut containers = inits;
        containers.push(main);
        k.violations.extend(pod_security::violations(&PodView {
            workload: name.clone(),
            seccomp_unconfined: c.hardening.seccomp_unconfined,
            containers,
        }));
        // Its Services: in the cluster (named as the service), for its published ports, and
        // headless.
        if !c.ports.is_empty() {
            let service = k.naming.service(name);
            k.claim("Service", &service, sp, 63);
        }
        if c.ports.iter().any(|p| p.publish.is_some())
            && matches!(publish, Publish::LoadBalancer | Publish::NodePort)
        {
            k.claim("Service", &format!("{object}-published"), sp, 63);
        }
        if headless.contains(name.as_str()) {
            k.claim("Service", &format!("{object}-headless"), sp, 63);
        }
        if c.placement.min_available.is_some() {
            k.claim("PodDisruptionBudget", &object, sp, 63);
        }
    }
    let member_volumes = member_volumes(d);
    for v in d.volumes.keys().filter(|v| !member_volumes.contains(*v)) {
        let object = k.naming.object(v);
        k.claim(
            "PersistentVolumeClaim",
            &object,
            &format!("/volumes/{}", escape_segment(v)),
            63,
        );
    }
    for (v, h) in &d.host_claims {
        let object = k.naming.object(v);
        k.claim("PersistentVolumeClaim", &object, &h.pointer, 63);
    }
    if let Some(e) = &d.edge
        && d.workload(&e.edge.service).is_some()
    {
        k.claim("Ingress", &d.name.clone(), "/edge", 63);
        if let Some(t) = &e.edge.tls {
            k.secret_object(t);
        }
    }
    k.claim(
        "NetworkPolicy",
        &format!("{}-default-deny", d.name),
        "/services",
        63,
    );
    for c in rendered {
        let object = k.naming.object(&c.name);
        k.claim("NetworkPolicy", &object, &c.pointer, 63);
    }
    k
}

impl K8s<'_> {
    /// The database cluster's objects and pods: the members' `StatefulSet` (named as the
    /// database's workload), the endpoint, the arbitrator and the recovery Job (applied apart,
    /// in the same namespace), every pod as Kubernetes runs it.
    fn cluster(
        &mut self,
        cl: &super::cluster::DbCluster,
        object: &str,
        sp: &str,
        secret: &SecretText<'_>,
    ) {
        // The members' StatefulSet (the claim above), the endpoint, the arbitrator and the
        // recovery Job (applied apart, in the same namespace): every pod as Kubernetes runs it.
        let parts = cl
            .members
            .first()
            .into_iter()
            .chain([&cl.endpoint, &cl.recover])
            .chain(cl.garbd.as_ref());
        for part in parts {
            let mut part = part.clone();
            super::cluster::kubernetes_file_names(&mut part.mounts);
            let part = &part;
            let main = self.container(part, secret, true);
            // The recovery's own kustomization generates its ConfigMaps under names of their own.
            if part.name == cl.recover.name {
                for m in &part.mounts {
                    if let super::container::MountPlan::File { file, .. } = m {
                        let short = file.strip_prefix("galera-").unwrap_or(file);
                        let n = self.naming.object(&format!("recover-{short}"));
                        self.claim("ConfigMap", &n, "/database/cluster", 63 - HASH_SUFFIX_LEN);
                    }
                }
            }
            self.violations.extend(pod_security::violations(&PodView {
                workload: part.name.clone(),
                seccomp_unconfined: part.hardening.seccomp_unconfined,
                containers: vec![main],
            }));
        }
        for (kind, suffix) in [
            ("Deployment", "endpoint"),
            ("ServiceAccount", "endpoint"),
            ("Job", "recover"),
            ("PodDisruptionBudget", ""),
            ("NetworkPolicy", "member"),
        ] {
            let n = if suffix.is_empty() {
                object.to_owned()
            } else {
                format!("{object}-{suffix}")
            };
            self.claim(kind, &n, "/database/cluster", 63);
        }
        if cl.garbd.is_some() {
            self.claim(
                "Deployment",
                &format!("{object}-arbitrator"),
                "/database/cluster",
                63,
            );
            self.claim(
                "ServiceAccount",
                &format!("{object}-arbitrator"),
                "/database/cluster",
                63,
            );
            self.claim(
                "NetworkPolicy",
                &format!("{object}-arbitrator"),
                "/database/cluster",
                63,
            );
        }
        let service = self.naming.service(crate::domain::DATABASE);
        self.claim("Service", &service, sp, 63);
        self.claim("Service", &format!("{object}-headless"), sp, 63);
    }
    /// Claim `name` for an object of `kind`, made from the spec node at `pointer`. `max` is the
    /// longest the name may be (63, less where Kubernetes or kustomize append to it); Services'
    /// names must also start with a letter (DNS-1035).
    fn claim(&mut self, kind: &'static str, name: &str, pointer: &str, max: usize) {
        let diag = |message: String, help: &str| {
            self.d
                .locator
                .key_diag(pointer, Code::InvalidName, message, help)
        };
        let dns1035 = kind == "Service";
        // The shape first, the length second: a long name of the right shape hears its length.
        let shape = !name.is_empty()
            && crate::domain::is_dns_label(&name[..name.len().min(63)])
            && crate::domain::is_dns_label(&name[name.len().saturating_sub(63)..]);
        let mut found = Vec::new();
        if !shape || (dns1035 && !name.starts_with(|c: char| c.is_ascii_lowercase())) {
            found.push(diag(
                format!(
                    "kubernetes: the {kind} name `{name}` is not a DNS-1123 label{}",
                    if dns1035 {
                        " starting with a letter"
                    } else {
                        ""
                    }
                ),
                if dns1035 {
                    "a Service is named as the service it reaches (`<service>`; `<name>-<service>-headless` or `-published` for the others): rename the service, or the spec's `name`, so that it starts with a letter"
                } else {
                    "object names are `<name>-<thing>`: use a spec name that starts with a letter"
                },
            ));
        } else if name.len() > max {
            found.push(diag(
                format!(
                    "kubernetes: the {kind} name `{name}` is {} characters; at most {max} fit here",
                    name.len()
                ),
                "shorten the spec's `name` or this name",
            ));
        }
        match self.seen.entry((kind, name.to_owned())) {
            std::collections::hash_map::Entry::Occupied(first) => {
                let first = first.get();
                if first != pointer {
                    let why = if first.contains('_') || pointer.contains('_') {
                        " (`_` becomes `-` in object names)"
                    } else {
                        ""
                    };
                    found.push(diag(
                        format!(
                            "kubernetes: the {kind} name `{name}` is also made from {first}{why}"
                        ),
                        "rename one of them so their object names differ",
                    ));
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(pointer.to_owned());
            }
        }
        self.names.append(&mut found);
    }

    /// The Secret that carries spec secret `s`, claimed once.
    fn secret_object(&mut self, s: &str) {
        let name = self.naming.object(s);
        if self.secret_gens.insert(name.clone()) {
            let pointer = format!("/secrets/{}", escape_segment(s));
            self.claim("Secret", &name, &pointer, 63 - HASH_SUFFIX_LEN);
        }
    }

    /// A container of workload `c` (its main one, or with `main` false a one-off run as an init
    /// container: no ports), as Pod Security reads it; its env and mounts claim their objects.
    fn container(&mut self, c: &Container, secret: &SecretText<'_>, main: bool) -> ContainerView {
        let sp = &c.pointer;
        self.env(c, secret);
        let mut view = ContainerView {
            name: c.name.clone(),
            ..ContainerView::default()
        };
        let publish = self.d.targets.spec.kubernetes.publish_mode();
        if main && publish == Publish::HostPort {
            for (i, p) in c.ports.iter().enumerate() {
                if let Some(host) = p.publish {
                    view.host_ports
                        .push((host, format!("{sp}/ports/{i}/publish")));
                }
            }
        }
        for m in &c.mounts {
            match m {
                MountPlan::File { file, content, .. } => {
                    let naming = KubernetesNaming::new(self.d);
                    let r = resolve(self.d, secret, &naming, content);
                    let object = self.naming.object(&format!("file-{file}"));
                    let pointer = format!("/files/{}", escape_segment(file));
                    if r.secret {
                        if self.secret_gens.insert(object.clone()) {
                            self.claim("Secret", &object, &pointer, 63 - HASH_SUFFIX_LEN);
                        }
                    } else if self.config_gens.insert(object.clone()) {
                        self.claim("ConfigMap", &object, &pointer, 63 - HASH_SUFFIX_LEN);
                    }
                }
                MountPlan::Secret { secret: s, .. } | MountPlan::SecretFile { secret: s, .. } => {
                    self.secret_object(s);
                }
                // A host path's claim is claimed with the volumes' (`claims`).
                MountPlan::Volume { .. }
                | MountPlan::Host { .. }
                | MountPlan::Scratch { .. }
                | MountPlan::OwnData { .. } => {}
            }
        }
        if let Some(u) = &c.user
            && numeric_user(u).is_none()
        {
            self.values.push(self.d.locator.diag(
                &format!("{sp}/user"),
                Code::UnitValue,
                format!("kubernetes runs containers as a numeric user; `{u}` is a name"),
                "write the numeric UID[:GID] the name stands for in the image, e.g. `33:33` for www-data",
            ));
        }
        let h = &c.hardening;
        if let Some((uid, _)) = c.user.as_deref().and_then(numeric_user) {
            view.run_as_user = Some(uid);
            view.run_as_non_root = uid != 0;
        }
        view.allow_escalation = !h.no_new_privileges;
        view.add.clone_from(&h.cap_add);
        let origin_at = |field: &str, set: fn(&crate::spec::model::Security) -> bool| {
            if c.security.as_ref().is_some_and(set) {
                format!("{sp}/security/{field}")
            } else if self.d.security.as_ref().is_some_and(set) {
                format!("/security/{field}")
            } else {
                sp.clone()
            }
        };
        view.user_at = if c.user.is_some() {
            format!("{sp}/user")
        } else {
            sp.clone()
        };
        view.caps_at =
            crate::hardening::capabilities_at(sp, c.security.as_ref(), self.d.security.as_ref());
        view.escalation_at = origin_at("no_new_privileges", |s| s.no_new_privileges.is_some());
        view.seccomp_at = origin_at("seccomp", |s| s.seccomp.is_some());
        view.accepted = h.accept.keys().copied().collect();
        view
    }

    /// Environment: a whole secret by reference (its Secret); secret-bearing composites in a
    /// per-workload env Secret, which cannot hold a line break.
    fn env(&mut self, c: &Container, secret: &SecretText<'_>) {
        let naming = KubernetesNaming::new(self.d);
        let mut env_file = false;
        let env_secret = self.naming.object(&format!("{}-env", c.name));
        for (k, text) in &c.env {
            let r = resolve(self.d, secret, &naming, text);
            if let Some(s) = r.whole_secret.as_ref().filter(|s| !self.d.is_tls(s)) {
                self.secret_object(s);
            } else if r.secret {
                if r.text.contains(['\n', '\r']) {
                    self.values.push(self.d.locator.diag(
                        &format!("{}/env/{}", c.pointer, escape_segment(k)),
                        Code::UnitValue,
                        format!("`{k}` holds a secret and a line break; a kustomize env file cannot carry that"),
                        "mount the value as a file instead (a `files:` entry)",
                    ));
                    continue;
                }
                env_file = true;
            }
        }
        if env_file && self.secret_gens.insert(env_secret.clone()) {
            self.claim(
                "Secret",
                &env_secret,
                &format!("{}/env", c.pointer),
                63 - HASH_SUFFIX_LEN,
            );
        }
    }

    /// The init containers of `c`'s pod: waits for its dependencies, and the one-offs it waits
    /// for with `completed`, each after the waits of its own dependencies.
    fn init_containers(
        &mut self,
        c: &Container,
        secret: &SecretText<'_>,
        main: &ContainerView,
    ) -> Vec<ContainerView> {
        let d = self.d;
        let mut deps: Vec<(String, Condition, String)> = Vec::new();
        for (dep, cond) in &c.depends_on {
            if *cond == Condition::Completed
                && let Some(x) = d.workload(dep)
            {
                for (dd, dc) in &x.depends_on {
                    deps.push((dd.clone(), *dc, format!("{}/depends_on", x.pointer)));
                }
            }
            deps.push((dep.clone(), *cond, format!("{}/depends_on", c.pointer)));
        }
        let waits = d.targets.spec.kubernetes.waits != Some(Waits::None);
        let mut waited = BTreeSet::new();
        let mut init = Vec::new();
        for (dep, cond, dp) in deps {
            if cond == Condition::Completed {
                if let Some(x) = d.workload(&dep) {
                    let mut v = self.container(x, secret, false);
                    v.name = format!("run-{dep}");
                    init.push(v);
                }
                continue;
            }
            if !waited.insert(dep.clone()) || !waits {
                continue;
            }
            let Some(x) = d.workload(&dep) else { continue };
            if cond == Condition::Healthy && x.ports.is_empty() {
                self.values.push(d.locator.diag(
                    &format!("{dp}/{}", escape_segment(&dep)),
                    Code::UnitValue,
                    format!("kubernetes: `{dep}` has no port, so other pods cannot tell when it is healthy"),
                    "give it a port (its Service then routes only to ready pods), or wait for `started`",
                ));
                continue;
            }
            // Runs as the workload's own user when that is not root, else as nobody.
            let uid = c
                .user
                .as_deref()
                .and_then(numeric_user)
                .filter(|(u, _)| *u != 0);
            init.push(ContainerView {
                name: format!("wait-{dep}"),
                run_as_user: Some(uid.map_or(NOBODY, |(u, _)| u)),
                run_as_non_root: true,
                allow_escalation: false,
                add: Vec::new(),
                host_ports: Vec::new(),
                user_at: main.user_at.clone(),
                caps_at: main.caps_at.clone(),
                escalation_at: main.escalation_at.clone(),
                seccomp_at: main.seccomp_at.clone(),
                accepted: main.accepted.clone(),
            });
        }
        let mut taken: BTreeSet<String> = BTreeSet::from([main.name.clone()]);
        for v in &mut init {
            v.name = local_name(&v.name, &taken);
            taken.insert(v.name.clone());
        }
        init
    }
}

// ----------------------------------------------------------------------------------- systemd

/// A podman version as the messages write it.
fn version_text((a, b): (u32, u32)) -> String {
    format!("{a}.{b}")
}

struct Units<'a> {
    d: &'a Deployment,
    out: Vec<Diagnostic>,
}

impl Units<'_> {
    fn push(&mut self, pointer: &str, message: String, help: &str) {
        self.out
            .push(self.d.locator.diag(pointer, Code::UnitValue, message, help));
    }

    fn refuse(&mut self, pointer: &str, what: &str, why: Option<&str>) -> bool {
        match why {
            None => true,
            Some(why) => {
                self.push(
                    pointer,
                    format!("{what} holds {why}; a systemd unit cannot carry it"),
                    "remove it, or pass the value in a file (a `files:` entry mounted into the container)",
                );
                false
            }
        }
    }

    /// A value a unit cannot carry as a raw key value; true when it is fine.
    fn unit_value(&mut self, pointer: &str, what: &str, value: &str) -> bool {
        self.refuse(pointer, what, inexpressible(value))
    }

    /// A path inside the container that `-v HOST:CONTAINER:OPTS` can name.
    fn container_path(&mut self, pointer: &str, path: &str) -> bool {
        if !self.unit_value(pointer, "the mount path", path) {
            return false;
        }
        if path.contains([':', ',']) {
            self.push(
                pointer,
                format!(
                    "mount path `{path}` holds `:` or `,`; podman's and docker's `-v` cannot name it"
                ),
                "choose a path without `:` and `,`",
            );
            return false;
        }
        true
    }
}

fn systemd(d: &Deployment, flavor: Flavor, secret: &SecretText<'_>) -> Vec<Diagnostic> {
    if cluster(d).is_some() {
        return vec![d.locator.key_diag(
            "/database/cluster",
            Code::NotRendered,
            "a database cluster is not rendered for systemd yet: its members need several hosts (`targets.systemd.hosts`), which misp-gen does not build yet".to_owned(),
            "render it with --target compose",
        )];
    }
    let refused = replicated_refused(d, "systemd");
    if !refused.is_empty() {
        return refused;
    }
    let mut u = Units { d, out: Vec::new() };
    let version = d.targets.podman_version.unwrap_or(DEFAULT_PODMAN_VERSION);
    if flavor == Flavor::Quadlet && version < QUADLET_SINCE {
        u.push(
            "/targets/systemd/podman_version",
            format!(
                "Quadlet needs podman {}; the units are written for podman {}",
                version_text(QUADLET_SINCE),
                version_text(version)
            ),
            "use `flavor: podman` (plain units) for older podman, or raise podman_version",
        );
    }
    let naming = SystemdNaming { name: &d.name };
    // Every container unit, for the name check; a workload with a value refused has none.
    let mut units: Vec<String> = Vec::new();
    // The names each workload answers to on the stack's network: its containers' names and its
    // aliases (its own name; the embedded database's host name).
    let mut hosts: Vec<(String, &Container)> = Vec::new();
    for c in &d.workloads {
        if c.replicas == 0 {
            continue;
        }
        let before = u.out.len();
        workload_values(&mut u, d, c, &naming, secret);
        if u.out.len() != before {
            continue;
        }
        let container = naming.container(&c.name);
        let before = units.len();
        match c.replicas {
            1 => units.push(container),
            n => units.extend((1..=n).map(|i| format!("{container}-{i}"))),
        }
        hosts.extend(units[before..].iter().map(|u| (u.clone(), c)));
        hosts.push((naming.service_host(&c.name), c));
        if c.name == crate::domain::DATABASE && d.database_host() != c.name {
            hosts.push((d.database_host().to_owned(), c));
        }
    }
    shared_host_names(&mut u, &hosts);
    // Unit names must not collide (a service called `network`, or `x-volume` next to volume `x`).
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |unit: String, what: String, pointer: String, u: &mut Units<'_>| {
        if let Some(prev) = seen.get(&unit) {
            u.push(
                &pointer,
                format!("{what} and {prev} would both be the systemd unit `{unit}.service`"),
                "rename one of them",
            );
        } else {
            seen.insert(unit, what);
        }
    };
    claim(
        format!("{}-network", d.name),
        "the stack's network".into(),
        "/name".into(),
        &mut u,
    );
    for v in d.volumes.keys() {
        claim(
            format!("{}-{v}-volume", d.name),
            format!("volume `{v}`"),
            format!("/volumes/{}", escape_segment(v)),
            &mut u,
        );
    }
    for unit in units {
        claim(
            unit.clone(),
            format!("container `{unit}`"),
            "/services".into(),
            &mut u,
        );
    }
    for (v, def) in &d.volumes {
        volume_values(&mut u, flavor, version, v, def);
    }
    u.out
}

/// A container's name that is another workload's alias (service `web` of stack `misp` is the
/// container `misp-web`; a service called `misp-web` answers to that name too): refused at the
/// second workload.
fn shared_host_names(u: &mut Units<'_>, hosts: &[(String, &Container)]) {
    let mut answered: BTreeMap<&str, &Container> = BTreeMap::new();
    for (host, c) in hosts {
        match answered.get(host.as_str()) {
            Some(first) if first.name != c.name => u.push(
                &c.pointer,
                format!(
                    "`{host}` would be a name of both `{}` and `{}` on the stack's network",
                    first.name, c.name
                ),
                "rename one of the services (containers are `<name>-<service>`; each also answers to its service's name)",
            ),
            Some(_) => {}
            None => {
                answered.insert(host, c);
            }
        }
    }
}

/// What one workload's units cannot carry. Pointers and messages are made only for a value that
/// is refused: a spec of a thousand services is checked without writing one.
fn workload_values(
    units: &mut Units<'_>,
    d: &Deployment,
    c: &Container,
    naming: &SystemdNaming<'_>,
    secret: &SecretText<'_>,
) {
    let sp = &c.pointer;
    for (field, list) in [("entrypoint", &c.entrypoint), ("command", &c.command)] {
        for (i, a) in list.iter().flatten().enumerate() {
            let why = inexpressible_word(&resolve(d, secret, naming, a).text);
            if why.is_some() {
                units.refuse(
                    &format!("{sp}/{field}/{i}"),
                    &format!("`{field}` argument {i}"),
                    why,
                );
            }
        }
    }
    if let Some(user) = &c.user
        && inexpressible(user).is_some()
    {
        units.unit_value(&format!("{sp}/user"), "`user`", user);
    }
    if let Some(w) = &c.working_dir
        && inexpressible(w).is_some()
    {
        units.unit_value(&format!("{sp}/working_dir"), "`working_dir`", w);
    }
    for (k, text) in &c.env {
        let r = resolve(d, secret, naming, text);
        if r.secret {
            if let Some(why) = env_file_refusal(&r.text) {
                // Never the value: it holds a secret.
                units.push(
                    &format!("{sp}/env/{}", escape_segment(k)),
                    format!("`{k}` holds a secret and {why}; the env file podman and docker read (one `KEY=value` a line, taken literally) cannot carry that"),
                    "mount the value as a file instead (a `files:` entry)",
                );
            }
        } else if let Some(why) = inexpressible_word(&r.text) {
            units.refuse(
                &format!("{sp}/env/{}", escape_segment(k)),
                &format!("`{k}`"),
                Some(why),
            );
        }
    }
    for (i, m) in c.mounts.iter().enumerate() {
        let path_ok = |p: &str| inexpressible(p).is_none() && !p.contains([':', ',']);
        if !path_ok(m.path()) {
            units.container_path(&format!("{sp}/mounts/{i}/path"), m.path());
            continue;
        }
        if let MountPlan::Secret {
            secret: s,
            path,
            items,
        } = m
        {
            for name in mounted_names(d, secret, s, items) {
                let target = format!("{}/{name}", path.trim_end_matches('/'));
                if !path_ok(&target) {
                    units.container_path(&format!("{sp}/mounts/{i}/items"), &target);
                }
            }
        }
    }
    if let Some(h) = &c.health
        && let Check::Exec(args) = &h.check
    {
        for (i, a) in args.iter().enumerate() {
            let why = inexpressible_word(&resolve(d, secret, naming, a).text);
            if why.is_some() {
                units.refuse(
                    &format!("{sp}/healthcheck/exec/{i}"),
                    "a healthcheck argument",
                    why,
                );
            }
        }
    }
}

/// The file names a secret mount puts under its path: every file of the secret (a TLS set's
/// three, or the secret's own), or those `items` renames them to.
fn mounted_names(
    d: &Deployment,
    secret: &SecretText<'_>,
    s: &str,
    items: &BTreeMap<String, String>,
) -> Vec<String> {
    let keys: Vec<String> = if d.is_tls(s) {
        crate::spec::model::TLS_FILES
            .iter()
            .map(|k| (*k).to_owned())
            .collect()
    } else if secret(s).is_some() {
        vec![s.to_owned()]
    } else {
        Vec::new()
    };
    keys.into_iter()
        .filter_map(|k| {
            if items.is_empty() {
                Some(k)
            } else {
                items.get(&k).cloned()
            }
        })
        .collect()
}

/// What one volume's unit cannot carry.
fn volume_values(
    u: &mut Units<'_>,
    flavor: Flavor,
    version: (u32, u32),
    v: &str,
    def: &crate::spec::model::Volume,
) {
    let vp = format!("/volumes/{}", escape_segment(v));
    let opts: Vec<(&String, &String)> = def.driver_opts.iter().flatten().collect();
    let mut ok = true;
    for (k, val) in &opts {
        let p = format!("{vp}/driver_opts/{}", escape_segment(k));
        ok &= u.unit_value(&p, &format!("driver option `{k}`"), val);
    }
    if !ok || flavor != Flavor::Quadlet {
        return;
    }
    let (mut kind, mut device) = (false, false);
    for (k, _) in &opts {
        match k.as_str() {
            "type" => kind = true,
            "device" => device = true,
            "o" => {}
            other => {
                if version < VOLUME_PODMAN_ARGS_SINCE {
                    u.push(
                        &format!("{vp}/driver_opts/{}", escape_segment(k)),
                        format!(
                            "driver option `{other}` needs PodmanArgs= in a .volume file, which needs podman {}; the units are written for podman {}",
                            version_text(VOLUME_PODMAN_ARGS_SINCE),
                            version_text(version)
                        ),
                        "raise targets.systemd.podman_version, or use only `type`, `device` and `o`",
                    );
                    return;
                }
            }
        }
    }
    if kind && !device {
        u.push(
            &format!("{vp}/driver_opts"),
            "driver option `type` without `device`: Quadlet refuses it".into(),
            "add `device` (e.g. `:/export/misp` for NFS)",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins what an env file can carry.
    #[test]
    fn env_file_values() {
        assert_eq!(env_file_refusal("a \"b\" 'c' $d %e"), None);
        assert_eq!(env_file_refusal("a\nb"), Some("a line break"));
        assert_eq!(env_file_refusal("a\r"), Some("a line break"));
        assert!(env_file_refusal(&"x".repeat(60_001)).is_some());
    }

    // Pins what a unit file's raw value and an Exec word can carry.
    #[test]
    fn unit_values() {
        assert_eq!(inexpressible("a\tb %c $d"), None);
        assert_eq!(inexpressible("a\nb"), Some("a line break"));
        assert_eq!(inexpressible("a\u{7}"), Some("a control character"));
        assert_eq!(inexpressible_word("a\nb"), None);
        assert_eq!(inexpressible_word("a\0b"), Some("a NUL character"));
    }
}
