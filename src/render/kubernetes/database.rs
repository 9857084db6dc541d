//! The embedded database: a `StatefulSet` of one pod, its `ServiceAccount`, and its Services
//! (one for clients, one headless for the `StatefulSet`).

use super::model::{
    Claim, Container, ContainerPort, EnvVar, Origin, Pod, PodVolume, Probe, SaCtx, ServiceCtx,
    ServicePort, VolumeMount, WorkloadCtx, kvs,
};
use super::pod::secs_of;
use super::pod::{harden, pod_security, resources, skips, timed_probes};
use super::volumes::add_volume;
use super::{DEFAULT_VOLUME_SIZE, Out, STATEFULSET_NAME_MAX};
use crate::error::Error;
use crate::plan::{self, DATABASE, DbEnv, DbSetup, Naming};
use crate::spec::model::Engine;

/// The embedded database's first start (initialising an empty data directory) must never be cut
/// short by its startup probe: killing it half way leaves a broken data directory.
const DB_MIN_STARTUP_S: u64 = 600;

/// The embedded database's objects, when the spec has one.
pub(super) fn render(out: &mut Out<'_>, db: Option<&plan::DatabasePlan>) -> Result<(), Error> {
    let Some(db) = db else {
        return Ok(());
    };
    let object = out.naming.database_host();
    out.names
        .claim("StatefulSet", &object, "/database", STATEFULSET_NAME_MAX);
    out.names.claim("Service", &object, "/database", 63);
    let hl = format!("{object}-headless");
    out.names.claim("Service", &hl, "/database", 63);
    let port = db.port;
    let port_name = match db.engine {
        Engine::Mariadb | Engine::Mysql => "mysql",
        Engine::Postgres => "postgres",
    };
    let (pod, claim_templates) = pod(out, db, &object, port_name);
    let skips = skips(out.plan, &pod);
    out.pod_security(DATABASE, &pod);
    out.workloads.insert(
        DATABASE.to_owned(),
        vec![ServicePort {
            name: port_name.into(),
            port,
            protocol: "TCP",
            node_port: None,
        }],
    );
    out.emit(
        "serviceaccount-database.yaml".into(),
        "kubernetes/serviceaccount.yaml.j2",
        &SaCtx {
            meta: out.meta(object.clone(), DATABASE),
        },
    )?;
    let ctx = WorkloadCtx {
        skips,
        meta: out.meta(object.clone(), DATABASE),
        kind: "StatefulSet",
        replicas: 1,
        selector: kvs(&out.selector(DATABASE)),
        recreate: true,
        max_unavailable: 0,
        max_surge: 0,
        progress_deadline: 600,
        service_name: Some(hl.clone()),
        claim_templates,
        pod_labels: kvs(&out.labels(DATABASE, true)),
        pod,
    };
    out.emit(
        "statefulset-database.yaml".into(),
        "kubernetes/workload.yaml.j2",
        &ctx,
    )?;
    for (file, name, headless) in [
        ("service-database.yaml", object.clone(), false),
        ("service-database-headless.yaml", hl, true),
    ] {
        let ctx = ServiceCtx {
            meta: out.meta(name, DATABASE),
            headless,
            kind: "ClusterIP",
            selector: kvs(&out.selector(DATABASE)),
            ports: vec![ServicePort {
                name: port_name.into(),
                port,
                protocol: "TCP",
                node_port: None,
            }],
        };
        out.emit(file.into(), "kubernetes/service.yaml.j2", &ctx)?;
    }
    Ok(())
}

/// The database's pod, and the claim template of its data when it names no volume.
fn pod(
    out: &mut Out<'_>,
    db: &plan::DatabasePlan,
    object: &str,
    port_name: &'static str,
) -> (Pod, Vec<Claim>) {
    // The shared reference, not a copy: `out` is borrowed mutably below.
    let deployment = out.plan;
    // Exhaustive: a field the plan adds is a compile error here until Kubernetes carries it.
    let plan::DatabasePlan {
        engine: _,
        image,
        port,
        // One server (a cluster is a later shape of this workload).
        members: _,
        security,
        setup,
        password,
        root_password,
        volume,
        // Dependants' waits only (`waits.rs`): the probes follow `health`, as on the engines.
        wait: _,
        health,
        hardening: h,
        resources: limits,
    } = db;
    let (env, secret_mounts) = env(out, password, setup);
    let data_dir = setup.data_dir;
    // The plan's check and times; the check as its argument list, which the kubelet runs
    // without a shell (the engines need one for some of them).
    let probe = Probe {
        http_path: None,
        port: None,
        scheme: None,
        exec: Some(setup.check_argv.clone()),
        period: secs_of(health.interval_ms),
        timeout: secs_of(health.timeout_ms),
        failure_threshold: u64::from(health.retries).max(1),
    };
    let mut pod = Pod::default();
    let mut claim_templates = Vec::new();
    let vol_name = data_volume(out, volume.as_deref(), &mut pod, &mut claim_templates);
    if let Some(r) = root_password {
        out.secret_object(r);
    }
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
    let object_sa = object.to_owned();
    out.names
        .claim("ServiceAccount", &object_sa, "/database", 63);
    let base = pod_security(None, h, object_sa);
    pod.service_account = base.service_account;
    pod.host_users = base.host_users;
    pod.seccomp = base.seccomp;
    let mut c = Container {
        name: DATABASE.into(),
        image: plan::image_ref(image, out.mirror),
        pull_policy: out.pull,
        env,
        ports: vec![ContainerPort {
            name: port_name.into(),
            port: *port,
            protocol: "TCP",
            host_port: None,
            at: String::new(),
        }],
        mounts,
        resources: resources(limits),
        origin: Origin::new(deployment, "/database", security.as_ref(), false),
        ..Container::default()
    };
    timed_probes(probe, health.start_period_ms, DB_MIN_STARTUP_S, &mut c);
    harden(&mut c, None, h, &mut pod.volumes);
    pod.containers.push(c);
    (pod, claim_templates)
}

/// The volume of the data: the named one, or a claim template of the `StatefulSet`.
fn data_volume(
    out: &mut Out<'_>,
    volume: Option<&str>,
    pod: &mut Pod,
    claim_templates: &mut Vec<Claim>,
) -> String {
    // A sub-directory of the claim: a fresh file system's lost+found would make the engines'
    // first initialisation refuse a non-empty data directory.
    if let Some(v) = volume {
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
            class: out.plan.targets.spec.kubernetes.storage_class.clone(),
        });
        "data".to_owned()
    }
}

/// The engine's environment (sorted by name), and the secrets it reads as files, as (object, key).
fn env(out: &mut Out<'_>, password: &str, setup: &DbSetup) -> (Vec<EnvVar>, Vec<(String, String)>) {
    let mut env = Vec::new();
    let value = |k: &str, v: &str| EnvVar {
        name: k.to_owned(),
        value: Some(v.to_owned()),
        secret_name: None,
        secret_key: None,
    };
    // Passwords as files (`*_PASSWORD_FILE`, which the official images read): each secret
    // mounted by itself under /run/secrets, never in the environment of the pod spec.
    let password_object = out.secret_object(password);
    let mut secret_mounts: Vec<(String, String)> = Vec::new();
    for (name, v) in &setup.env {
        match v {
            DbEnv::Value(v) => env.push(value(name, v)),
            DbEnv::SecretFile(key) => {
                let obj = if key == password {
                    password_object.clone()
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
    env.sort_by(|a, b| a.name.cmp(&b.name));
    (env, secret_mounts)
}
