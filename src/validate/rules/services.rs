//! Per-service rules (image, replicas, env, ports, mounts, healthcheck, `depends_on`,
//! resources, user, command), host ports across services, and dependency cycles.

use std::collections::{BTreeMap, BTreeSet};

use super::images::image_rules;
use super::mounts::mount;
use super::names::{is_env_name, is_port_name};
use super::quantities::{duration, resources};
use super::{Ctx, help, seg};
use crate::diag::{Code, closest};
use crate::domain::{DATABASE, replicas};
use crate::profile::Profile;
use crate::spec::model::{Condition, PortRef, Scaling, Service, Spec};

fn port_exists(svc: &Service, r: &PortRef) -> bool {
    match r {
        PortRef::Name(n) => svc.ports.iter().any(|p| &p.name == n),
        PortRef::Number(n) => svc.ports.iter().any(|p| p.port == *n),
    }
}

pub(super) fn port_ref_rule(cx: &mut Ctx<'_>, p: &str, svc_name: &str, svc: &Service, r: &PortRef) {
    if port_exists(svc, r) {
        return;
    }
    let shown = match r {
        PortRef::Name(n) => format!("`{n}`"),
        PortRef::Number(n) => n.to_string(),
    };
    let names: Vec<&str> = svc.ports.iter().map(|p| p.name.as_str()).collect();
    let d = cx.at(
        p,
        Code::UndefinedPort,
        format!("service `{svc_name}` has no port {shown}"),
    );
    if names.is_empty() {
        help(d, format!("add it under `services.{svc_name}.ports`"));
    } else {
        help(d, format!("its ports: {}", names.join(", ")));
    }
}

#[expect(clippy::too_many_lines, reason = "a flat list of per-service rules")]
pub(super) fn service(cx: &mut Ctx<'_>, spec: &Spec, profile: &Profile, name: &str, svc: &Service) {
    let sp = format!("/services/{}", seg(name));
    image_rules(cx, spec, &format!("{sp}/image"), &svc.image);
    if svc.scaling == Scaling::Singleton && svc.replicas.is_some_and(|r| r > 1) {
        let d = cx.at(
            &format!("{sp}/replicas"),
            Code::SingletonReplicas,
            format!(
                "`{name}` is a singleton but asks for {} replicas",
                svc.replicas.unwrap_or(0)
            ),
        );
        help(
            d,
            "a singleton runs exactly once (replicas would race); set `replicas: 1` or `scaling: replicable`",
        );
    }
    for k in svc.env.keys() {
        if !is_env_name(k) {
            cx.at_key(
                &format!("{sp}/env/{}", seg(k)),
                Code::InvalidName,
                format!("`{k}` is not a valid environment variable name"),
            );
        }
    }
    // Ports: names and numbers unique.
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut numbers: BTreeMap<(u16, crate::spec::model::Protocol), usize> = BTreeMap::new();
    for (i, port) in svc.ports.iter().enumerate() {
        let pp = format!("{sp}/ports/{i}");
        if !is_port_name(&port.name) {
            let d = cx.at(
                &format!("{pp}/name"),
                Code::InvalidName,
                format!("port name `{}` is not allowed", port.name),
            );
            help(
                d,
                "port names are lowercase letters, digits and `-`, at most 15, with at least one letter (Kubernetes names ports so)",
            );
        }
        if let Some(first) = names.insert(&port.name, i) {
            cx.at(
                &format!("{pp}/name"),
                Code::DuplicatePort,
                format!(
                    "port name `{}` is used twice in `{name}` (first at ports[{first}])",
                    port.name
                ),
            );
        }
        if let Some(first) = numbers.insert((port.port, port.protocol), i) {
            cx.at(
                &format!("{pp}/port"),
                Code::DuplicatePort,
                format!(
                    "port {} is listed twice in `{name}` (first at ports[{first}])",
                    port.port
                ),
            );
        }
    }
    // Mounts.
    let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in svc.mounts.iter().enumerate() {
        mount(cx, spec, &format!("{sp}/mounts/{i}"), m);
        if let Some(first) = paths.insert(m.path.as_str(), i) {
            cx.at(
                &format!("{sp}/mounts/{i}/path"),
                Code::MountSource,
                format!("two mounts at `{}` (first at mounts[{first}])", m.path),
            );
        }
    }
    // Healthcheck.
    if let Some(h) = &svc.healthcheck {
        let hp = format!("{sp}/healthcheck");
        let n = usize::from(h.http.is_some())
            + usize::from(h.tcp.is_some())
            + usize::from(h.exec.is_some());
        if n != 1 {
            let d = cx.at_key(
                &hp,
                Code::MountSource,
                "a healthcheck needs exactly one of `http`, `tcp` or `exec`",
            );
            d.code = Code::SchemaOther;
        }
        if let Some(http) = &h.http {
            port_ref_rule(cx, &format!("{hp}/http/port"), name, svc, &http.port);
            if !http.path.starts_with('/') {
                cx.at(
                    &format!("{hp}/http/path"),
                    Code::SchemaPattern,
                    "an HTTP check path starts with `/`",
                );
            }
            if http
                .path
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                cx.at(
                    &format!("{hp}/http/path"),
                    Code::SchemaPattern,
                    "an HTTP check path cannot hold white space; percent-encode it",
                );
            }
        }
        if let Some(t) = &h.tcp {
            port_ref_rule(cx, &format!("{hp}/tcp"), name, svc, t);
        }
        if let Some(e) = &h.exec
            && e.is_empty()
        {
            cx.at(
                &format!("{hp}/exec"),
                Code::SchemaLength,
                "an exec check needs a command",
            );
        }
        for (f, v) in [
            ("interval", &h.interval),
            ("timeout", &h.timeout),
            ("start_period", &h.start_period),
        ] {
            if let Some(v) = v {
                duration(cx, &format!("{hp}/{f}"), v);
            }
        }
    }
    // depends_on.
    for (dep, cond) in &svc.depends_on {
        let dp = format!("{sp}/depends_on/{}", seg(dep));
        if dep == DATABASE {
            if spec.database.is_none() {
                let d = cx.at_key(
                    &dp,
                    Code::UndefinedService,
                    "depends on `database`, but the spec has no `database:`",
                );
                help(
                    d,
                    "describe the database under `database:` or remove this dependency",
                );
            } else if *cond == Condition::Completed {
                cx.at(
                    &dp,
                    Code::SchemaEnum,
                    "the database never completes; use `started` or `healthy`",
                );
            }
            continue;
        }
        match spec.services.get(dep) {
            None => {
                let mut known: Vec<String> = spec.services.keys().cloned().collect();
                if spec.database.is_some() {
                    known.push(DATABASE.into());
                }
                let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
                let sugg = closest(dep, known_refs.iter().copied());
                let d = cx.at_key(
                    &dp,
                    Code::UndefinedService,
                    format!("service `{dep}` is not defined"),
                );
                if let Some(s) = sugg {
                    help(d, format!("did you mean `{s}`?"));
                } else {
                    help(d, format!("defined services: {}", known.join(", ")));
                }
            }
            Some(other) => {
                if *cond == Condition::Healthy
                    && other.healthcheck.is_none()
                    && other.replicated.is_none()
                {
                    let d = cx.at(
                        &dp,
                        Code::HealthyWithoutHealthcheck,
                        format!("`{dep}` has no healthcheck, so it can never be healthy"),
                    );
                    help(
                        d,
                        format!("give `{dep}` a healthcheck, or wait for `started`"),
                    );
                }
                if *cond == Condition::Completed && replicas(other, profile) > 1 {
                    cx.at(&dp, Code::SchemaEnum, format!("`{dep}` runs several replicas; only a one-off job can be waited for with `completed`"));
                }
            }
        }
    }
    if let Some(r) = &svc.resources {
        resources(cx, &format!("{sp}/resources"), r);
    }
    if let Some(u) = &svc.user
        && (u.is_empty() || u.contains(char::is_whitespace) || u.split(':').count() > 2)
    {
        cx.at(
            &format!("{sp}/user"),
            Code::SchemaPattern,
            "`user` is `UID[:GID]` or a user name",
        );
    }
    for (f, list) in [("command", &svc.command), ("entrypoint", &svc.entrypoint)] {
        if let Some(list) = list
            && list.is_empty()
        {
            let d = cx.at(
                &format!("{sp}/{f}"),
                Code::SchemaLength,
                format!("an empty `{f}` list"),
            );
            help(d, format!("remove `{f}` to keep the image's own"));
        }
    }
}

/// The port range a `NodePort` Service takes (the API server's default).
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30_000..=32_767;

pub(super) fn host_ports(cx: &mut Ctx<'_>, spec: &Spec) {
    let k8s = &spec.targets.kubernetes;
    if k8s.publish.is_some() && k8s.host_ports.is_some() {
        let d = cx.at_key(
            "/targets/kubernetes/host_ports",
            Code::KubernetesLimit,
            "`host_ports` is the older spelling of `publish`: give one of them",
        );
        help(
            d,
            "`host_ports: true` is `publish: host-port`, `false` is `publish: none`",
        );
    }
    let node_port = k8s.publish_mode() == crate::spec::model::Publish::NodePort;
    let mut seen: BTreeMap<(u16, crate::spec::model::Protocol), String> = BTreeMap::new();
    for (name, svc) in &spec.services {
        for (i, p) in svc.ports.iter().enumerate() {
            let Some(host) = p.publish else { continue };
            let pp = format!("/services/{}/ports/{i}/publish", seg(name));
            if node_port && !NODE_PORTS.contains(&host) {
                let d = cx.at(
                    &pp,
                    Code::KubernetesLimit,
                    format!(
                        "port {host} is outside the NodePort range {}-{} (targets.kubernetes.publish is node-port)",
                        NODE_PORTS.start(),
                        NODE_PORTS.end()
                    ),
                );
                help(
                    d,
                    "publish a port in the range, or use `publish: load-balancer` for any port",
                );
            }
            match seen.get(&(host, p.protocol)) {
                Some(other) => {
                    let d = cx.at(
                        &pp,
                        Code::HostPortConflict,
                        format!("host port {host} is already published by `{other}`"),
                    );
                    help(
                        d,
                        "each host port can be published once; pick another `publish` port",
                    );
                }
                None => {
                    seen.insert((host, p.protocol), name.clone());
                }
            }
        }
    }
}

pub(super) fn cycles(cx: &mut Ctx<'_>, spec: &Spec) {
    // Depth-first search; report each cycle once, at the edge that closes it.
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Active,
        Done,
    }
    fn visit<'a>(
        spec: &'a Spec,
        node: &'a str,
        state: &mut BTreeMap<&'a str, State>,
        path: &mut Vec<&'a str>,
        found: &mut Vec<(Vec<String>, String, String)>,
    ) {
        state.insert(node, State::Active);
        path.push(node);
        if let Some(svc) = spec.services.get(node) {
            for dep in svc.depends_on.keys() {
                match state.get(dep.as_str()).copied() {
                    Some(State::New) => visit(spec, dep, state, path, found),
                    Some(State::Active) => {
                        let start = path.iter().position(|p| *p == dep).unwrap_or(0);
                        let cyc: Vec<String> =
                            path[start..].iter().map(|s| (*s).to_owned()).collect();
                        found.push((cyc, node.to_owned(), dep.clone()));
                    }
                    _ => {}
                }
            }
        }
        path.pop();
        state.insert(node, State::Done);
    }
    let mut state: BTreeMap<&str, State> = spec
        .services
        .keys()
        .map(|k| (k.as_str(), State::New))
        .collect();
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut found = Vec::new();
    let keys: Vec<&str> = spec.services.keys().map(String::as_str).collect();
    for k in keys {
        if state.get(k) == Some(&State::New) {
            visit(spec, k, &mut state, &mut Vec::new(), &mut found);
        }
    }
    for (cyc, from, to) in found {
        let mut key = cyc.clone();
        key.sort();
        if !reported.insert(key) {
            continue;
        }
        let mut shown = cyc.clone();
        shown.push(cyc[0].clone());
        let p = format!("/services/{}/depends_on/{}", seg(&from), seg(&to));
        let d = cx.at_key(
            &p,
            Code::DependencyCycle,
            format!("dependency cycle: {}", shown.join(" → ")),
        );
        help(
            d,
            "services that wait for each other never start; remove one of these dependencies",
        );
    }
}
