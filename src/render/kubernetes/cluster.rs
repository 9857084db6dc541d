//! The database cluster (`database.cluster`) on Kubernetes, from the plan's [`DbCluster`]:
//! - the members: one `StatefulSet` named as the single database is (`<name>-database`), pods
//!   started in parallel (after a full outage every member must be back for Galera to re-form),
//!   each with its own data claim, the runtime files from `ConfigMap`s, `GALERA_MEMBERS` the
//!   members' DNS names through the headless Service `<name>-database-headless` (not-ready
//!   addresses published) and no `GALERA_SELF` (member.sh finds itself from the host name);
//!   readiness `health.sh ready`, liveness `health.sh live` (never fails a joiner or a donor), no
//!   startup probe (a state transfer takes as long as the data needs); a disruption budget of one
//!   member; required anti-affinity across hosts where the profile spreads replicas;
//! - the writer endpoint: a `Deployment` `<name>-database-endpoint` running `HAProxy`
//!   (endpoint.cfg, the cluster DNS from resolv.conf), behind the Service the other pods already
//!   use for the database (its host name: `database`, or `database.hostname`);
//! - the arbitrator, where there is one: a `Deployment` `<name>-database-arbitrator` (garbd);
//! - the full-outage recovery: a `Job` under `kubernetes/recover/` with its own kustomization,
//!   never applied by `kubectl apply -k kubernetes/` (see `kubernetes/recover/README.md`).

use std::collections::BTreeMap;

use super::model::{
    Claim, ContainerPort, NetPolCtx, NetRule, PdbCtx, PodVolume, Probe, SaCtx, ServiceCtx,
    ServicePort, VolumeMount, WorkloadCtx, kvs,
};
use super::pod::{container, pod_security, skips};
use super::volumes::{OWN_DATA, add_volume};
use super::{DEFAULT_VOLUME_SIZE, Out};
use crate::error::Error;
use crate::plan::Deployment;
use crate::plan::cluster::{
    self as galera, DbCluster, Dns, GALERA_DIR, MEMBER_DATADIR, MEMBER_PORTS, MYSQL_GID,
    RECOVER_DIR, kubernetes_file_names as flat_files,
};
use crate::plan::container::{Container as Planned, MountPlan};
use crate::profile::Spread;

/// The component (label) of the members' pods; the endpoint's pods carry the database's own.
pub(super) const MEMBER: &str = "database-member";
/// The component of the arbitrator's pod.
const ARBITRATOR: &str = "database-arbitrator";
/// The component of the recovery Job's pod.
const RECOVER: &str = "database-recover";
/// Where the recovery Job and its kustomization go, under `kubernetes/`.
pub(super) const RECOVER_DIR_OUT: &str = "recover";
/// The DNS domain of the cluster the endpoint resolves the members' full names in.
pub(super) const CLUSTER_DOMAIN: &str = "cluster.local";

/// Names of the cluster's objects.
pub(super) struct Names {
    /// The members' `StatefulSet` (and their `ServiceAccount`, disruption budget).
    pub(super) members: String,
    pub(super) headless: String,
    pub(super) endpoint: String,
    pub(super) arbitrator: String,
    pub(super) recover: String,
    /// The members' `NetworkPolicy` (the endpoint's is the database's own, `<name>-database`).
    pub(super) member_policy: String,
}

impl Names {
    pub(super) fn new(object: &str) -> Names {
        Names {
            members: object.to_owned(),
            headless: format!("{object}-headless"),
            endpoint: format!("{object}-endpoint"),
            arbitrator: format!("{object}-arbitrator"),
            recover: format!("{object}-recover"),
            member_policy: format!("{object}-member"),
        }
    }

    /// The members' names as their peers and the recovery reach them (through the namespace's
    /// DNS search path): `<statefulset>-<ordinal>.<headless>`.
    fn short(&self, count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("{}-{i}.{}", self.members, self.headless))
            .collect()
    }

    /// The members' fully qualified names: `HAProxy`'s resolvers search no domain.
    fn full(&self, count: usize, namespace: &str) -> Vec<String> {
        self.short(count)
            .into_iter()
            .map(|s| format!("{s}.{namespace}.svc.{CLUSTER_DOMAIN}"))
            .collect()
    }
}

fn exec_probe(args: &[&str], period: u64, timeout: u64, failure_threshold: u64) -> Probe {
    Probe {
        http_path: None,
        port: None,
        scheme: None,
        exec: Some(args.iter().map(|a| (*a).to_owned()).collect()),
        period,
        timeout,
        failure_threshold,
    }
}

fn set_env(c: &mut Planned, key: &str, value: &str) {
    for (k, v) in &mut c.env {
        if k == key {
            value.clone_into(v);
        }
    }
}

/// The cluster's objects, for the database workload `db` (whose plan holds `cl`).
pub(super) fn render(
    out: &mut Out<'_>,
    plan: &Deployment,
    db: &Planned,
    cl: &DbCluster,
) -> Result<(), Error> {
    let names = Names::new(&out.naming.object(&db.name));
    let count = cl.members.len();
    let members_list = names.short(count).join(",");
    members(out, plan, db, cl, &names, &members_list)?;
    endpoint(out, db, cl, &names, count)?;
    if let Some(g) = &cl.garbd {
        arbitrator(out, g, &names, &members_list)?;
    }
    network_policies(out, cl, &names)?;
    recover(out, cl, &names, &members_list)
}

fn members(
    out: &mut Out<'_>,
    plan: &Deployment,
    db: &Planned,
    cl: &DbCluster,
    names: &Names,
    members_list: &str,
) -> Result<(), Error> {
    let Some(first) = cl.members.first() else {
        return Ok(());
    };
    let mut m = first.clone();
    db.name.clone_into(&mut m.name);
    // member.sh finds itself from the host name (the pod's name): no GALERA_SELF.
    m.env.retain(|(k, _)| k != "GALERA_SELF");
    set_env(&mut m, "GALERA_MEMBERS", members_list);
    // The data: a claim per pod (the claim template), the size of the database's volume.
    let mut size = None;
    for mount in &mut m.mounts {
        if let MountPlan::Volume { volume, path, .. } = mount
            && path == MEMBER_DATADIR
        {
            size = plan
                .volumes
                .get(volume.as_str())
                .and_then(|v| v.size.clone());
            *mount = MountPlan::OwnData {
                path: MEMBER_DATADIR.to_owned(),
            };
        }
    }
    flat_files(&mut m.mounts);
    let mut pod = pod_security(m.user.as_deref(), &m.hardening, names.members.clone());
    // The data claim and the secret files group-owned by the official image's `mysql` group.
    pod.fs_group = Some(MYSQL_GID);
    pod.anti_affinity = m.placement.spread != Spread::None;
    pod.termination_grace = Some(cl.stop_grace_ms.div_ceil(1000));
    let mut main = container(out, &m, &mut pod.volumes, true);
    monitor_readable(out, &m, &mut pod.volumes);
    main.ports = MEMBER_PORTS
        .iter()
        .map(|(name, port)| ContainerPort {
            name: (*name).to_owned(),
            port: *port,
            protocol: "TCP",
            host_port: None,
        })
        .collect();
    let health = format!("{GALERA_DIR}/health.sh");
    // Ready: Primary and Synced. Alive: never failed while joining, donating or recovering,
    // and given a minute more before a restart. No startup probe: a state transfer takes as
    // long as the data needs, and `live` already forgives it.
    main.readiness = Some(exec_probe(&["bash", &health, "ready"], 5, 6, 3));
    main.liveness = Some(exec_probe(&["bash", &health, "live"], 10, 10, 6));
    main.startup = None;
    pod.containers = vec![main];
    let skips = skips(plan, &pod);
    out.emit(
        format!("serviceaccount-{MEMBER}.yaml"),
        "kubernetes/serviceaccount.yaml.j2",
        &SaCtx {
            meta: out.meta(names.members.clone(), MEMBER),
        },
    )?;
    let ctx = WorkloadCtx {
        skips,
        meta: out.meta(names.members.clone(), MEMBER),
        kind: "StatefulSet",
        replicas: u32::try_from(cl.members.len()).unwrap_or(u32::MAX),
        selector: kvs(&out.selector(MEMBER)),
        recreate: false,
        max_unavailable: 0,
        max_surge: 0,
        progress_deadline: 600,
        parallel: true,
        service_name: Some(names.headless.clone()),
        claim_templates: vec![Claim {
            name: OWN_DATA.into(),
            rwx: false,
            size: size.unwrap_or_else(|| DEFAULT_VOLUME_SIZE.into()),
            class: plan.targets.spec.kubernetes.storage_class.clone(),
        }],
        pod_labels: kvs(&out.labels(MEMBER, true)),
        pod,
    };
    out.emit_workload(format!("statefulset-{MEMBER}.yaml"), &ctx)?;
    let ctx = ServiceCtx {
        meta: out.meta(names.headless.clone(), MEMBER),
        headless: true,
        kind: "ClusterIP",
        selector: kvs(&out.selector(MEMBER)),
        ports: member_ports(),
    };
    out.emit(
        format!("service-{MEMBER}-headless.yaml"),
        "kubernetes/service.yaml.j2",
        &ctx,
    )?;
    let ctx = PdbCtx {
        meta: out.meta(names.members.clone(), MEMBER),
        min_available: 0,
        max_unavailable: Some(1),
        selector: kvs(&out.selector(MEMBER)),
    };
    out.emit(format!("pdb-{MEMBER}.yaml"), "kubernetes/pdb.yaml.j2", &ctx)
}

/// The monitor password (the one secret mounted as a directory) is read by init-users.sh as the
/// image's user `mysql`, whatever its uid: world-readable inside the pod, as compose's copy (a
/// stand-in image's `mysql` is not 999). The entrypoint's own password files stay 0440.
fn monitor_readable(out: &mut Out<'_>, m: &Planned, volumes: &mut [PodVolume]) {
    for mount in &m.mounts {
        if let MountPlan::Secret { secret, .. } = mount {
            let object = out.secret_object(secret);
            for v in volumes.iter_mut() {
                if v.kind == "secret" && v.source == object {
                    v.default_mode = Some(0o444);
                }
            }
        }
    }
}

fn member_ports() -> Vec<ServicePort> {
    MEMBER_PORTS
        .iter()
        .map(|(name, port)| ServicePort {
            name: (*name).to_owned(),
            port: *port,
            protocol: "TCP",
            node_port: None,
        })
        .collect()
}

/// The writer endpoint: `HAProxy` behind the Service named as the database's.
fn endpoint(
    out: &mut Out<'_>,
    db: &Planned,
    cl: &DbCluster,
    names: &Names,
    count: usize,
) -> Result<(), Error> {
    let mut e = cl.endpoint.clone();
    let cfg = galera::endpoint_config_with(&names.full(count, &out.namespace), Dns::ResolvConf);
    for mount in &mut e.mounts {
        if let MountPlan::File { content, .. } = mount {
            *content = crate::placeholder::escape(&cfg);
        }
    }
    flat_files(&mut e.mounts);
    let component = db.name.clone();
    let mut pod = pod_security(e.user.as_deref(), &e.hardening, names.endpoint.clone());
    let mut main = container(out, &e, &mut pod.volumes, true);
    // Ready while a member is Primary and Synced; alive while HAProxy listens (a cluster that
    // is re-forming is no reason to restart its endpoint).
    main.startup = None;
    main.liveness = Some(Probe {
        http_path: None,
        port: Some(serde_json::Value::from("mysql")),
        scheme: None,
        exec: None,
        period: 10,
        timeout: 5,
        failure_threshold: 3,
    });
    pod.containers = vec![main];
    let skips = skips(out.plan, &pod);
    let ports: Vec<ServicePort> = e
        .ports
        .iter()
        .map(|p| ServicePort {
            name: p.name.clone(),
            port: p.port,
            protocol: "TCP",
            node_port: None,
        })
        .collect();
    // The network policy of the database's component (the app's rule) selects the endpoint.
    out.workloads.insert(component.clone(), ports.clone());
    out.emit(
        format!("serviceaccount-{component}-endpoint.yaml"),
        "kubernetes/serviceaccount.yaml.j2",
        &SaCtx {
            meta: out.meta(names.endpoint.clone(), &component),
        },
    )?;
    let ctx = WorkloadCtx {
        skips,
        meta: out.meta(names.endpoint.clone(), &component),
        kind: "Deployment",
        replicas: 1,
        selector: kvs(&out.selector(&component)),
        recreate: false,
        max_unavailable: 0,
        max_surge: 1,
        progress_deadline: 600,
        parallel: false,
        service_name: None,
        claim_templates: Vec::new(),
        pod_labels: kvs(&out.labels(&component, true)),
        pod,
    };
    out.emit_workload(format!("deployment-{component}-endpoint.yaml"), &ctx)?;
    let ctx = ServiceCtx {
        meta: out.meta(out.naming.service(&db.name), &component),
        headless: false,
        kind: "ClusterIP",
        selector: kvs(&out.selector(&component)),
        ports,
    };
    out.emit(
        format!("service-{component}.yaml"),
        "kubernetes/service.yaml.j2",
        &ctx,
    )
}

/// garbd: a vote in the cluster, no data.
fn arbitrator(
    out: &mut Out<'_>,
    g: &Planned,
    names: &Names,
    members_list: &str,
) -> Result<(), Error> {
    let mut g = g.clone();
    if let Some(cmd) = g.command.as_mut() {
        let peers: Vec<String> = members_list
            .split(',')
            .map(|m| format!("{m}:4567"))
            .collect();
        for a in cmd.iter_mut() {
            if a.starts_with("gcomm://") {
                *a = format!("gcomm://{}", peers.join(","));
            }
        }
    }
    let mut pod = pod_security(g.user.as_deref(), &g.hardening, names.arbitrator.clone());
    let mut main = container(out, &g, &mut pod.volumes, true);
    main.ports = vec![ContainerPort {
        name: "galera".into(),
        port: 4567,
        protocol: "TCP",
        host_port: None,
    }];
    // garbd listens on the replication port once it runs; nothing else to ask it.
    let tcp = Probe {
        http_path: None,
        port: Some(serde_json::Value::from("galera")),
        scheme: None,
        exec: None,
        period: 10,
        timeout: 5,
        failure_threshold: 6,
    };
    main.readiness = Some(tcp.clone());
    main.liveness = Some(tcp);
    pod.containers = vec![main];
    let skips = skips(out.plan, &pod);
    out.emit(
        format!("serviceaccount-{ARBITRATOR}.yaml"),
        "kubernetes/serviceaccount.yaml.j2",
        &SaCtx {
            meta: out.meta(names.arbitrator.clone(), ARBITRATOR),
        },
    )?;
    let ctx = WorkloadCtx {
        skips,
        meta: out.meta(names.arbitrator.clone(), ARBITRATOR),
        kind: "Deployment",
        replicas: 1,
        selector: kvs(&out.selector(ARBITRATOR)),
        recreate: true,
        max_unavailable: 0,
        max_surge: 0,
        progress_deadline: 600,
        parallel: false,
        service_name: None,
        claim_templates: Vec::new(),
        pod_labels: kvs(&out.labels(ARBITRATOR, true)),
        pod,
    };
    out.emit_workload(format!("deployment-{ARBITRATOR}.yaml"), &ctx)
}

/// Members from each other (every port), from the endpoint (the server and the agent), from
/// the recovery (the agent: is a member still running?) and from the arbitrator (replication);
/// the arbitrator from the members (replication).
fn network_policies(out: &mut Out<'_>, cl: &DbCluster, names: &Names) -> Result<(), Error> {
    let port = |n: &'static str| member_ports().into_iter().filter(move |p| p.name == n);
    let mut rules = vec![
        NetRule {
            comment: "from the other members: SQL, replication, IST, SST, agent".into(),
            from: vec![kvs(&out.selector(MEMBER))],
            ports: member_ports(),
        },
        NetRule {
            comment: "from the writer endpoint: SQL and its check of the agent".into(),
            from: vec![kvs(&out.selector(&cl.endpoint.name))],
            ports: port("mysql").chain(port("agent")).collect(),
        },
        NetRule {
            comment: "from the recovery Job: whether a member still runs (its agent)".into(),
            from: vec![kvs(&out.selector(RECOVER))],
            ports: port("agent").collect(),
        },
    ];
    if cl.garbd.is_some() {
        rules.push(NetRule {
            comment: "from the arbitrator: replication".into(),
            from: vec![kvs(&out.selector(ARBITRATOR))],
            ports: port("galera").collect(),
        });
        out.emit(
            format!("networkpolicy-{ARBITRATOR}.yaml"),
            "kubernetes/networkpolicy.yaml.j2",
            &NetPolCtx {
                meta: out.meta(names.arbitrator.clone(), ARBITRATOR),
                selector: kvs(&out.selector(ARBITRATOR)),
                rules: vec![NetRule {
                    comment: "from the members: replication".into(),
                    from: vec![kvs(&out.selector(MEMBER))],
                    ports: port("galera").collect(),
                }],
            },
        )?;
    }
    out.emit(
        format!("networkpolicy-{MEMBER}.yaml"),
        "kubernetes/networkpolicy.yaml.j2",
        &NetPolCtx {
            meta: out.meta(names.member_policy.clone(), MEMBER),
            selector: kvs(&out.selector(MEMBER)),
            rules,
        },
    )
}

/// The recovery Job, apart: `kubernetes/recover/` with its own kustomization and files.
fn recover(
    out: &mut Out<'_>,
    cl: &DbCluster,
    names: &Names,
    members_list: &str,
) -> Result<(), Error> {
    let mut r = cl.recover.clone();
    set_env(&mut r, "GALERA_MEMBERS", members_list);
    // Its messages name the Kubernetes steps, not compose's.
    let scale = |n: usize| {
        format!(
            "kubectl -n {} scale statefulset/{} --replicas={n}",
            out.namespace, names.members
        )
    };
    r.env.push((
        "GALERA_RECOVER_STOP".to_owned(),
        crate::placeholder::escape(&scale(0)),
    ));
    r.env.push((
        "GALERA_RECOVER_NEXT".to_owned(),
        crate::placeholder::escape(&format!(
            "kubectl delete -k kubernetes/recover/ && {}",
            scale(cl.members.len())
        )),
    ));
    r.mounts.retain(|m| !matches!(m, MountPlan::Volume { .. }));
    flat_files(&mut r.mounts);
    // Its ConfigMaps are generated by its own kustomization: the main one's keep their own.
    let config_gens = std::mem::take(&mut out.config_gens);
    let plain_files = std::mem::take(&mut out.plain_files);
    let mut pod = pod_security(r.user.as_deref(), &r.hardening, names.members.clone());
    let mut main = container(out, &r, &mut pod.volumes, true);
    let gens = std::mem::replace(&mut out.config_gens, config_gens);
    let files = std::mem::replace(&mut out.plain_files, plain_files);
    let gens = recover_config_maps(gens, &mut pod.volumes);
    // Every member's claim, its data in the claim's sub-directory as the member mounts it.
    for (i, member) in members_list.split(',').enumerate() {
        let vol = add_volume(
            &mut pod.volumes,
            PodVolume {
                name: format!("data-{i}"),
                kind: "pvc",
                source: format!("{OWN_DATA}-{}-{i}", names.members),
                items: Vec::new(),
                default_mode: None,
            },
        );
        main.mounts.push(VolumeMount {
            name: vol,
            path: format!("{RECOVER_DIR}/{member}"),
            read_only: false,
            sub_path: Some(OWN_DATA.into()),
        });
    }
    main.readiness = None;
    main.liveness = None;
    main.startup = None;
    pod.containers = vec![main];
    let skips = skips(out.plan, &pod);
    let ctx = WorkloadCtx {
        skips,
        meta: out.meta(names.recover.clone(), RECOVER),
        kind: "Job",
        replicas: 1,
        selector: Vec::new(),
        recreate: false,
        max_unavailable: 0,
        max_surge: 0,
        progress_deadline: 0,
        parallel: false,
        service_name: None,
        claim_templates: Vec::new(),
        pod_labels: kvs(&out.labels(RECOVER, true)),
        pod,
    };
    let job = out.templates.render("kubernetes/workload.yaml.j2", &ctx)?;
    let job_file = format!("job-{RECOVER}.yaml");
    out.apart
        .insert(format!("{RECOVER_DIR_OUT}/{job_file}"), (job, 0o644));
    for (rel, (body, mode)) in files {
        out.apart
            .insert(format!("{RECOVER_DIR_OUT}/files/{rel}"), (body, mode));
    }
    let ctx = super::model::KustomizationCtx {
        spec_name: out.plan.name.clone(),
        namespace: out.namespace.clone(),
        labels: kvs(&BTreeMap::from([(
            "app.kubernetes.io/instance".to_owned(),
            out.plan.name.clone(),
        )])),
        resources: vec![job_file],
        config_maps: gens.into_values().collect(),
    };
    let text = out
        .templates
        .render("kubernetes/kustomization.yaml.j2", &ctx)?;
    out.apart.insert(
        format!("{RECOVER_DIR_OUT}/kustomization.yaml"),
        (text, 0o644),
    );
    out.apart.insert(
        format!("{RECOVER_DIR_OUT}/README.md"),
        (recover_readme(names, out.namespace.as_str()), 0o644),
    );
    Ok(())
}

/// The recovery's `ConfigMap`s, named apart from the members' (galera.cnf is both's): `kubectl
/// delete -k kubernetes/recover/` after the recovery must leave the members' alone.
/// `<name>-file-galera-x` becomes `<name>-recover-x`: never longer than the members' own.
fn recover_config_maps(
    gens: BTreeMap<String, super::model::Generator>,
    volumes: &mut [PodVolume],
) -> BTreeMap<String, super::model::Generator> {
    gens.into_iter()
        .map(|(name, mut g)| {
            let renamed = name.rfind("-file-galera-").map_or_else(
                || format!("{name}-recover"),
                |i| {
                    format!(
                        "{}-recover-{}",
                        &name[..i],
                        &name[i + "-file-galera-".len()..]
                    )
                },
            );
            for v in volumes.iter_mut() {
                if v.kind == "configmap" && v.source == name {
                    renamed.clone_into(&mut v.source);
                }
            }
            renamed.clone_into(&mut g.name);
            (renamed, g)
        })
        .collect()
}

fn recover_readme(names: &Names, ns: &str) -> String {
    let sts = &names.members;
    let job = &names.recover;
    format!(
        "# Full-outage recovery of the database cluster\n\n\
Not applied by `kubectl apply -k kubernetes/`. When the members cannot re-form by themselves\n\
(a member was lost in the outage, or none left `safe_to_bootstrap: 1`):\n\n\
```sh\n\
kubectl -n {ns} scale statefulset/{sts} --replicas=0\n\
kubectl -n {ns} wait --for=delete pod -l app.kubernetes.io/component=database-member --timeout=300s\n\
kubectl apply -k kubernetes/recover/\n\
kubectl -n {ns} wait --for=condition=complete job/{job} --timeout=900s\n\
kubectl -n {ns} logs job/{job}\n\
kubectl delete -k kubernetes/recover/\n\
kubectl -n {ns} scale statefulset/{sts} --replicas=N   # N: the members the spec asks for\n\
```\n\n\
The Job mounts every member's claim (`data-{sts}-<ordinal>`), reads each position (grastate.dat's\n\
seqno, else `mariadbd --wsrep-recover`), elects the highest (ties: the lowest ordinal), marks it\n\
`safe_to_bootstrap: 1` and every other `0`; on scale-up the elected member bootstraps and the\n\
others join it. It refuses while a member runs or a position is unknown; to elect among the\n\
known positions anyway, add `--force` to the Job's `args` (`kubectl create job --from` cannot).\n\
Every claim must be mountable by the one pod: on a cluster whose volumes are bound to one node\n\
each (local volumes), run it where they are, or recover member by member by hand.\n"
    )
}
