//! Network policies: ingress denied by default, then allowed per workload from the workloads
//! whose code talks to it (see `talks_to`), from anywhere on the edge port and published ports.

use std::collections::{BTreeMap, BTreeSet};

use super::Out;
use super::model::{Kv, NetPolCtx, NetRule, ServicePort, kvs};
use super::pod::protocol;
use crate::domain::port_number;
use crate::error::Error;
use crate::spec::load::escape_segment;
use crate::spec::model::{Condition, Publish, Service, Spec};
use crate::validate::rules;

/// The default deny and one policy per workload.
pub(super) fn render(out: &mut Out<'_>, one_offs: &BTreeSet<String>) -> Result<(), Error> {
    let default_deny = format!("{}-default-deny", out.spec().name);
    out.names
        .claim("NetworkPolicy", &default_deny, "/services", 63);
    out.emit(
        "networkpolicy-default-deny.yaml".into(),
        "kubernetes/networkpolicy.yaml.j2",
        &NetPolCtx {
            meta: out.meta(default_deny, "default-deny"),
            selector: Vec::new(),
            rules: Vec::new(),
        },
    )?;
    for (file, name, ctx) in network_policies(out, one_offs) {
        let pointer = if name == rules::DATABASE {
            "/database".to_owned()
        } else {
            format!("/services/{}", escape_segment(&name))
        };
        out.names
            .claim("NetworkPolicy", &ctx.meta.name, &pointer, 63);
        out.emit(file, "kubernetes/networkpolicy.yaml.j2", &ctx)?;
    }
    Ok(())
}

/// The services and the database the code of `svc` connects to: what it waits for, and every
/// `${services.S.*}` and `${database.host|port}` in its environment, command, entrypoint, exec
/// health check and the files it mounts.
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
    // An exec health check runs in the pod too: a host it names must be reachable.
    texts.extend(
        svc.healthcheck
            .iter()
            .flat_map(|h| h.exec.iter().flatten())
            .cloned(),
    );
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
