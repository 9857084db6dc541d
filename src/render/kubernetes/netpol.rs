//! Network policies: ingress denied by default, then allowed per workload from the workloads
//! whose code talks to it (see `talks_to`), from anywhere on the edge port and published ports.

use std::collections::{BTreeMap, BTreeSet};

use super::Out;
use super::model::{Kv, NetPolCtx, NetRule, ServicePort, kvs};
use super::pod::protocol;
use crate::error::Error;
use crate::plan::container::Kind;
use crate::spec::model::{Condition, Publish};

/// The default deny and one policy per workload.
pub(super) fn render(out: &mut Out<'_>) -> Result<(), Error> {
    let default_deny = format!("{}-default-deny", out.plan.name);
    out.emit(
        "networkpolicy-default-deny.yaml".into(),
        "kubernetes/networkpolicy.yaml.j2",
        &NetPolCtx {
            meta: out.meta(default_deny, "default-deny"),
            selector: Vec::new(),
            rules: Vec::new(),
        },
    )?;
    for (file, _name, ctx) in network_policies(out) {
        out.emit(file, "kubernetes/networkpolicy.yaml.j2", &ctx)?;
    }
    Ok(())
}

/// One `NetworkPolicy` per workload (by file, component and context).
fn network_policies(out: &Out<'_>) -> Vec<(String, String, NetPolCtx)> {
    let plan = out.plan;
    let is_one_off = |n: &str| plan.workload(n).is_some_and(|c| c.kind == Kind::OneOff);
    // Which workload's pods run the code of each service: its own, or (a one-off) its dependants'.
    let mut runs_in: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in &plan.workloads {
        if c.kind != Kind::OneOff {
            runs_in
                .entry(c.name.clone())
                .or_default()
                .insert(c.name.clone());
        }
        for (dep, cond) in &c.depends_on {
            if *cond == Condition::Completed && is_one_off(dep) {
                runs_in
                    .entry(dep.clone())
                    .or_default()
                    .insert(c.name.clone());
            }
        }
    }
    let mut from: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in &plan.workloads {
        for target in &c.talks_to {
            for pod in runs_in.get(&c.name).into_iter().flatten() {
                if pod != target {
                    from.entry(target.clone()).or_default().insert(pod.clone());
                }
            }
        }
    }
    let publish = plan.targets.spec.kubernetes.publish_mode();
    let mut list = Vec::new();
    for (name, ports) in &out.workloads {
        let svc = plan.workload(name);
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
        if let (Some(edge), Some(_)) = (&plan.edge, svc)
            && &edge.edge.service == name
        {
            let port = edge.port;
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
