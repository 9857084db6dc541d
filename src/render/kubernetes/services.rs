//! The services: each one's workload (a `Deployment`, or a `StatefulSet`), its
//! `ServiceAccount`, its Services (cluster, published, headless) and its disruption budget.

use super::model::{Claim, PdbCtx, SaCtx, ServiceCtx, ServicePort, SpreadOut, WorkloadCtx, kvs};
use super::pod::{container, pod_security, protocol, secs_of, skips};
use super::volumes::OWN_DATA;
use super::waits::init_containers;
use super::{DEFAULT_VOLUME_SIZE, Out};
use crate::error::Error;
use crate::plan::Deployment;
use crate::plan::container::{Container as Planned, Kind, MountPlan};
use crate::profile::Spread as ProfileSpread;
use crate::spec::model::Publish;

/// The objects of every service but the one-offs, which run inside their dependants (see the
/// module docs).
pub(super) fn render(out: &mut Out<'_>, plan: &Deployment) -> Result<(), Error> {
    for c in &plan.workloads {
        if c.kind == Kind::OneOff {
            continue;
        }
        if let Some(cl) = c.cluster.as_deref() {
            super::cluster::render(out, plan, c, cl)?;
            continue;
        }
        workload(out, plan, c)?;
        services(out, c)?;
        disruption_budget(out, c)?;
    }
    Ok(())
}

/// The service's workload and its `ServiceAccount`.
fn workload(out: &mut Out<'_>, plan: &Deployment, c: &Planned) -> Result<(), Error> {
    let (name, replicas) = (&c.name.clone(), c.replicas);
    let object = out.naming.object(name);
    let statefulset = c.kind == Kind::Stateful;

    let mut pod = pod_security(c.user.as_deref(), &c.hardening, object.clone());
    let main = container(out, c, &mut pod.volumes, true);
    // Init containers: waits for this service's dependencies, and the one-off services it
    // waits for with `completed`, each after the waits of its own dependencies.
    pod.init_containers = init_containers(out, plan, c, &main, &mut pod.volumes);
    let placement = &c.placement;
    pod.spread = spread(placement.spread);
    let start = c.health.as_ref().map_or(0, |h| secs_of(h.start_period_ms));
    // The data a workload keeps in a claim of its own (the embedded database without a volume).
    let claim_templates: Vec<Claim> = c
        .mounts
        .iter()
        .filter(|m| matches!(m, MountPlan::OwnData { .. }))
        .map(|_| Claim {
            name: OWN_DATA.into(),
            rwx: false,
            size: DEFAULT_VOLUME_SIZE.into(),
            class: plan.targets.spec.kubernetes.storage_class.clone(),
        })
        .collect();
    pod.containers = vec![main];
    let skips = skips(plan, &pod);
    out.workloads.insert(name.clone(), service_ports(c));
    out.emit(
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
        recreate: placement.recreate,
        max_unavailable: placement.max_unavailable,
        max_surge: placement.max_surge,
        progress_deadline: (start.saturating_add(300)).clamp(600, i32::MAX.unsigned_abs().into()),
        parallel: false,
        service_name: statefulset.then(|| format!("{object}-headless")),
        claim_templates,
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
    out.emit_workload(file, &ctx)?;
    Ok(())
}

/// The service's Services: in the cluster, for its published ports, and headless.
fn services(out: &mut Out<'_>, c: &Planned) -> Result<(), Error> {
    let name = &c.name.clone();
    let object = out.naming.object(name);
    if !c.ports.is_empty() {
        // Named as the service itself: the host name other pods reach it by.
        let ctx = ServiceCtx {
            meta: out.meta(out.naming.service(name), name),
            headless: false,
            kind: "ClusterIP",
            selector: kvs(&out.selector(name)),
            ports: service_ports(c),
        };
        out.emit(
            format!("service-{name}.yaml"),
            "kubernetes/service.yaml.j2",
            &ctx,
        )?;
    }
    // Published ports through a Service of their own (hostPort is on the pod instead).
    let publish = out.plan.targets.spec.kubernetes.publish_mode();
    let published: Vec<ServicePort> = c
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
        out.emit(
            format!("service-{name}-published.yaml"),
            "kubernetes/service.yaml.j2",
            &ctx,
        )?;
    }
    if out.headless.contains(name) {
        let hl = format!("{object}-headless");
        let ctx = ServiceCtx {
            meta: out.meta(hl, name),
            headless: true,
            kind: "ClusterIP",
            selector: kvs(&out.selector(name)),
            ports: service_ports(c),
        };
        out.emit(
            format!("service-{name}-headless.yaml"),
            "kubernetes/service.yaml.j2",
            &ctx,
        )?;
    }
    Ok(())
}

/// A disruption budget for a service of more than one replica, as the profile asks.
fn disruption_budget(out: &mut Out<'_>, c: &Planned) -> Result<(), Error> {
    let name = &c.name.clone();
    let object = out.naming.object(name);
    if let Some(min_available) = c.placement.min_available {
        let ctx = PdbCtx {
            meta: out.meta(object.clone(), name),
            min_available,
            max_unavailable: None,
            selector: kvs(&out.selector(name)),
        };
        out.emit(format!("pdb-{name}.yaml"), "kubernetes/pdb.yaml.j2", &ctx)?;
    }
    Ok(())
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

fn service_ports(c: &Planned) -> Vec<ServicePort> {
    c.ports
        .iter()
        .map(|p| ServicePort {
            name: p.name.clone(),
            port: p.port,
            protocol: protocol(p.protocol),
            node_port: None,
        })
        .collect()
}
