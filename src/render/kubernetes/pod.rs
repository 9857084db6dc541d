//! A pod's parts: its containers (image, command, environment, ports, probes, resources), their
//! securityContext, the pod's own security settings, and the checks the pod is known to fail.

use super::Out;
use super::model::{
    Container, ContainerPort, EnvVar, Generator, Pod, PodVolume, Probe, Res, Skip, VolumeMount,
};
use super::names::KubernetesNaming;
use super::volumes::{add_volume, mount};
use crate::plan::{self, container::Check};
use crate::security::{self, Hardening, numeric_user};
use crate::spec::model::{Exception, Port, PortRef, Protocol, Publish, Pull, Scheme};
use crate::units;

pub(super) fn pull_policy(p: Pull) -> &'static str {
    match p {
        Pull::Never => "Never",
        Pull::Missing => "IfNotPresent",
        Pull::Always => "Always",
    }
}

pub(super) fn protocol(p: Protocol) -> &'static str {
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
pub(super) fn resources(l: &plan::container::Limits) -> Option<Res> {
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
pub(super) fn secs_of(ms: u64) -> u64 {
    units::duration_secs_ceil(ms).max(1)
}

/// A body size as nginx writes it (`512m`).
pub(super) fn port_spec(ports: &[Port], r: &PortRef) -> serde_json::Value {
    match r {
        PortRef::Name(n) => serde_json::Value::from(n.clone()),
        PortRef::Number(n) => match ports.iter().find(|p| p.port == *n) {
            Some(p) => serde_json::Value::from(p.name.clone()),
            None => serde_json::Value::from(*n),
        },
    }
}

/// The pod's security settings: volumes (and secret files) group-owned by the user's group when
/// the service runs as a numeric non-root user, so it can write its volumes and read its secrets.
/// Users are set per container, since a pod may also run a one-off service as another user.
pub(super) fn pod_security(user: Option<&str>, h: &Hardening, service_account: String) -> Pod {
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
pub(super) fn container(
    out: &mut Out<'_>,
    c: &plan::container::Container,
    volumes: &mut Vec<PodVolume>,
    main: bool,
) -> Container {
    // Exhaustive: a field the plan adds is a compile error here until Kubernetes carries it.
    let plan::container::Container {
        // A cluster is rendered by `cluster.rs` from its own containers, never from this one.
        cluster: _,
        // A replicated Redis is refused before rendering (`plan::refusals`).
        replicated: _,
        name,
        // Refusals and messages point at it (`plan::refusals`).
        pointer: _,
        // What messages about the spec say.
        title: _,
        image_pointer: _,
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
        // The workload's: decided by the caller.
        kind: _,
        mounts_rwo: _,
        placement: _,
        // Dependants' waits (`waits.rs`).
        wait: _,
        healthy_first: _,
        first_start_ms,
        // Where Pod Security refusals point (`plan::refusals`).
        security: _,
        // The network policies' (`netpol.rs`).
        talks_to: _,
    } = c;
    // The shared reference, not a copy: `out` is borrowed mutably below.
    let deployment = out.plan;
    let naming = KubernetesNaming::new(deployment);
    let expand_list = |l: Option<&Vec<String>>| {
        l.map(|v| crate::render::resolve_args(deployment, out.secrets, &naming, v))
    };
    let mut k = Container {
        name: name.clone(),
        image: plan::image_ref(image, out.mirror),
        pull_policy: out.pull,
        command: expand_list(entrypoint.as_ref()),
        args: expand_list(command.as_ref()),
        working_dir: working_dir.clone(),
        resources: resources(limits),
        ..Container::default()
    };

    env(out, name, env_list, &mut k);

    if main {
        let host_ports = deployment.targets.spec.kubernetes.publish_mode() == Publish::HostPort;
        for p in ports {
            k.ports.push(ContainerPort {
                name: p.name.clone(),
                port: p.port,
                protocol: protocol(p.protocol),
                host_port: p.publish.filter(|_| host_ports),
            });
        }
        let health = health
            .as_ref()
            .map(|h| crate::render::resolve_health(deployment, out.secrets, &naming, h));
        probes(ports, health.as_ref(), *first_start_ms, &mut k);
    }
    for m in mounts {
        mount(out, m, &mut k, volumes);
    }

    // A user that is not numeric was refused on the model (`plan::refusals`).
    harden(&mut k, user.as_deref(), h, volumes);
    k
}

/// A container's securityContext from its hardening: never gain privileges (unless the spec says
/// why), every capability dropped but the effective set, the user, a read-only root with its
/// writable paths as `emptyDir`s.
pub(super) fn harden(
    c: &mut Container,
    user: Option<&str>,
    h: &Hardening,
    volumes: &mut Vec<PodVolume>,
) {
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
pub(super) fn skips<'p>(plan: &plan::Deployment, pod: &'p Pod) -> Vec<Skip> {
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
    if let Some(p) = plan.pull
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
fn env(out: &mut Out<'_>, name: &str, list: &[(String, String)], c: &mut Container) {
    // The shared reference, not a copy: `out` is borrowed mutably below.
    let deployment = out.plan;
    let naming = KubernetesNaming::new(deployment);
    let mut env_file = String::new();
    let env_secret = out.naming.object(&format!("{name}-env"));
    for (k, text) in list {
        let k = k.as_str();
        let r = crate::render::resolve(deployment, out.secrets, &naming, text);
        if let Some(s) = r.whole_secret.filter(|s| !out.is_tls(s)) {
            let obj = out.secret_object(&s);
            c.env.push(EnvVar {
                name: k.to_owned(),
                value: None,
                secret_name: Some(obj),
                secret_key: Some(s),
            });
        } else if r.secret {
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
    // By name, whatever order the workload lists them in (the database's follow its engine).
    c.env.sort_by(|a, b| a.name.cmp(&b.name));
}

/// Seconds between the default readiness probes of a service without a health check.
const DEFAULT_READINESS_PERIOD: u64 = 10;

fn probes(
    ports: &[Port],
    health: Option<&plan::container::Health>,
    first_start_ms: u64,
    c: &mut Container,
) {
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
        // The kubelet runs an argument list without a shell.
        Check::Exec(argv) | Check::Engine { argv, .. } => p.exec = Some(argv.clone()),
    }
    timed_probes(
        p,
        *start_period_ms,
        units::duration_secs_ceil(first_start_ms),
        c,
    );
}

/// The probes of one health check, timed by the plan (the same for a service and the embedded
/// database): readiness and liveness run the check every interval and fail after its retries,
/// as the engines' check does; a start period becomes a startup probe that covers it, never
/// shorter than `min_startup_s` (a Kubernetes need: the kubelet kills a container whose startup
/// probe fails, where the engines only call it unhealthy).
pub(super) fn timed_probes(p: Probe, start_period_ms: u64, min_startup_s: u64, c: &mut Container) {
    let start = units::duration_secs_ceil(start_period_ms).max(min_startup_s);
    if start > 0 {
        // Checked more often than the healthcheck's interval, so the pod is ready soon after it is up.
        let sp = p.period.min(10);
        let mut s = p.clone();
        s.period = sp;
        s.failure_threshold = start.div_ceil(sp).max(1);
        c.startup = Some(s);
    }
    c.readiness = Some(p.clone());
    c.liveness = Some(p);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the quantity form Kubernetes reads, and the users it can run as.
    #[test]
    fn quantities() {
        assert_eq!(cpu_quantity(500), "500m");
        assert_eq!(cpu_quantity(2000), "2");
        assert_eq!(numeric_user("1000:1000"), Some((1000, Some(1000))));
        assert_eq!(numeric_user("www-data"), None);
    }
}
