//! The Kubernetes target: one manifest per object under `kubernetes/`, a `kustomization.yaml` that
//! builds them, and a second kustomization under `secrets/kubernetes/` whose generators turn the
//! secret files into Secrets, so that no secret value is ever written into a manifest.
//!
//! How the spec maps (docs/src/targets/kubernetes.md repeats this for users):
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

mod cluster;
mod ingress;
mod kustomize;
mod model;
mod names;
mod netpol;
mod pod;
mod services;
mod volumes;
mod waits;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use self::model::{Generator, Meta, NamespaceCtx, ServicePort, WorkloadCtx, kvs};
pub use self::names::KubernetesNaming;
use self::names::is_label_value;
use self::pod::pull_policy;
use crate::error::Error;
use crate::plan::Deployment;
use crate::plan::container::Kind;
use crate::render::{FileSet, Templates};
use crate::secrets::Secrets;
use crate::spec::model::{Condition, PodSecurity};

/// `app.kubernetes.io/managed-by`.
const MANAGED_BY: &str = "misp-gen";
/// Size of a claim whose volume gives none.
const DEFAULT_VOLUME_SIZE: &str = "10Gi";
/// The Pod Security Standards version the namespace labels pin: the Kubernetes version the output
/// targets (kubectl and kubernetes-validate in CI check against it too).
const POD_SECURITY_VERSION: &str = "v1.32";

/// Render the kubernetes target into `files`.
///
/// # Errors
/// Values this target cannot carry and object names it cannot make (diagnostics), template errors.
pub fn render(
    plan: &Deployment,
    secrets: &Secrets,
    templates: &Templates,
    mirror: Option<&str>,
    files: &mut FileSet,
    state: &mut crate::state::State,
) -> Result<(), Error> {
    let mut out = Out {
        plan,
        secrets,
        naming: KubernetesNaming::new(plan),
        mirror,
        pull: pull_policy(plan.pull_policy(crate::plan::Puller::Kubernetes)),
        secret_gens: BTreeMap::new(),
        config_gens: BTreeMap::new(),
        secret_files: BTreeMap::new(),
        plain_files: BTreeMap::new(),
        headless: headless(plan),
        namespace: plan.targets.namespace.clone(),
        workloads: BTreeMap::new(),
        templates,
        manifests: BTreeMap::new(),
        apart: BTreeMap::new(),
        state: crate::state::Kubernetes {
            namespace: plan.targets.namespace.clone(),
            ..crate::state::Kubernetes::default()
        },
    };

    services::render(&mut out, plan)?;
    volumes::claims(&mut out, plan)?;
    ingress::render(&mut out)?;
    netpol::render(&mut out)?;
    // What the pods meet, or what the spec asks for (refused on the model when they cannot).
    let enforce = crate::plan::refusals::kubernetes_enforce(plan);
    let warn = crate::plan::refusals::kubernetes_warn(plan);

    namespace_manifest(&mut out, enforce, warn)?;
    state.kubernetes = Some(std::mem::take(&mut out.state));
    kustomize::render(out, files)
}

/// Everything the render collects before writing files.
struct Out<'a> {
    plan: &'a Deployment,
    secrets: &'a Secrets,
    naming: KubernetesNaming,
    mirror: Option<&'a str>,
    pull: &'static str,
    /// Secret generators by object name.
    secret_gens: BTreeMap<String, Generator>,
    config_gens: BTreeMap<String, Generator>,
    /// Files under `secrets/kubernetes/` (relative to it) → content.
    secret_files: BTreeMap<String, String>,
    /// Files under `kubernetes/files/` → (content, mode).
    plain_files: BTreeMap<String, (String, u32)>,
    /// Services that need a headless Service (`StatefulSet`s, targets of `started`).
    headless: BTreeSet<String>,
    /// Namespace of every object.
    namespace: String,
    /// Workloads (components) and the ports others may reach them on.
    workloads: BTreeMap<String, Vec<ServicePort>>,
    templates: &'a Templates,
    /// Manifests under `kubernetes/` by file name → text.
    manifests: BTreeMap<String, String>,
    /// Files under `kubernetes/` that its kustomization does not apply (the database cluster's
    /// recovery), by path → (content, mode).
    apart: BTreeMap<String, (String, u32)>,
    /// What holds data: the claims and the `StatefulSet`s' fixed fields (the state guard).
    state: crate::state::Kubernetes,
}

impl Out<'_> {
    fn labels(&self, component: &str, with_version: bool) -> BTreeMap<String, String> {
        let mut m = self.selector(component);
        m.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
        if with_version
            && let Some(v) = &self.plan.version
            && is_label_value(v)
        {
            m.insert("app.kubernetes.io/version".into(), v.clone());
        }
        m
    }

    /// The stable label subset selectors use (never the version).
    fn selector(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_owned(), self.plan.name.clone()),
            (
                "app.kubernetes.io/instance".to_owned(),
                self.plan.name.clone(),
            ),
            (
                "app.kubernetes.io/component".to_owned(),
                component.to_owned(),
            ),
        ])
    }

    fn meta(&self, name: String, component: &str) -> Meta {
        Meta {
            spec_name: self.plan.name.clone(),
            name,
            namespace: self.namespace.clone(),
            labels: kvs(&self.labels(component, true)),
            annotations: Vec::new(),
        }
    }

    /// Render a workload as the manifest `file`, recording a `StatefulSet`'s fields that
    /// Kubernetes will not change (the state guard compares them with the last render's).
    fn emit_workload(&mut self, file: String, ctx: &WorkloadCtx) -> Result<(), Error> {
        if ctx.kind == "StatefulSet" {
            self.state.statefulsets.insert(
                ctx.meta.name.clone(),
                crate::state::StatefulSet {
                    service_name: ctx.service_name.clone(),
                    selector: ctx
                        .selector
                        .iter()
                        .map(|kv| (kv.key.clone(), kv.value.clone()))
                        .collect(),
                    pod_management: if ctx.parallel {
                        "Parallel"
                    } else {
                        "OrderedReady"
                    }
                    .to_owned(),
                    claim_templates: ctx
                        .claim_templates
                        .iter()
                        .map(|c| (c.name.clone(), c.state()))
                        .collect(),
                },
            );
        }
        self.emit(file, "kubernetes/workload.yaml.j2", ctx)
    }

    /// Render `ctx` with `template` as the manifest `file`.
    fn emit<T: Serialize>(&mut self, file: String, template: &str, ctx: &T) -> Result<(), Error> {
        let text = self.templates.render(template, ctx)?;
        self.manifests.insert(file, text);
        Ok(())
    }
}

/// The services that need a headless Service: `StatefulSet`s and targets of `started`.
fn headless(plan: &Deployment) -> BTreeSet<String> {
    let mut headless = BTreeSet::new();
    for c in &plan.workloads {
        // The plan's dependencies: `database` only where it is embedded.
        for (dep, cond) in &c.depends_on {
            if *cond == Condition::Started {
                headless.insert(dep.clone());
            }
        }
        if c.kind == Kind::Stateful {
            headless.insert(c.name.clone());
        }
    }
    headless
}

/// The namespace, labelled with the Pod Security level `enforce`, warning and auditing at `warn`.
fn namespace_manifest(
    out: &mut Out<'_>,
    enforce: PodSecurity,
    warn: PodSecurity,
) -> Result<(), Error> {
    let ns_labels = BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_owned(),
        MANAGED_BY.to_owned(),
    )]);
    let mut ns_labels = ns_labels;
    // Enforce what the pods meet (or what the spec asks for, which they were checked to meet);
    // warn and audit at what they would meet with every violation the spec has not accepted
    // with a reason fixed: the cluster speaks of what is undecided, not of what was decided.
    for (mode, level) in [("enforce", enforce), ("warn", warn), ("audit", warn)] {
        ns_labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            level.as_str().to_owned(),
        );
        ns_labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            POD_SECURITY_VERSION.to_owned(),
        );
    }
    out.emit(
        "namespace.yaml".into(),
        "kubernetes/namespace.yaml.j2",
        &NamespaceCtx {
            spec_name: out.plan.name.clone(),
            name: out.namespace.clone(),
            labels: kvs(&ns_labels),
        },
    )?;
    Ok(())
}
