//! The docker-compose target: `compose/compose.yaml`, its files, and the env files under
//! `secrets/compose/` that carry secret-bearing values.

mod edge;
mod mounts;

use edge::load_balancer;
use mounts::mount;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Error;
use crate::plan::container::{Check, Container, Limits};
use crate::plan::{self, Deployment};
use crate::render::{FileSet, Templates, add, add_secret};
use crate::secrets::Secrets;
use crate::shell::{http_check_command, tcp_check_command};
use crate::spec::model::{Condition, Pull, Restart};
use crate::units;

use crate::plan::naming::ComposeNaming;

#[derive(Serialize)]
struct Ctx {
    name: String,
    project: String,
    services: Vec<Svc>,
    volumes: Vec<Vol>,
    secrets: Vec<SecretDef>,
}

#[derive(Serialize, Default)]
struct Svc {
    name: String,
    image: String,
    pull_policy: &'static str,
    entrypoint: Option<Vec<String>>,
    command: Option<Vec<String>>,
    user: Option<String>,
    working_dir: Option<String>,
    environment: Vec<Kv>,
    env_files: Vec<String>,
    ports: Vec<PortOut>,
    mounts: Vec<MountOut>,
    tmpfs: Vec<String>,
    secrets: Vec<SecretMount>,
    healthcheck: Option<Health>,
    depends_on: Vec<Dep>,
    restart: &'static str,
    replicas: u32,
    cpus: Option<String>,
    memory: Option<String>,
    read_only: bool,
    cap_drop: Vec<&'static str>,
    cap_add: Vec<String>,
    security_opt: Vec<&'static str>,
    labels: Vec<Kv>,
    /// Files of labels under `secrets/` (`label_file:`), relative to `compose/`.
    label_files: Vec<String>,
    /// Compose profiles that enable it (none: always started).
    profiles: Vec<&'static str>,
    stop_grace_period: Option<String>,
    /// Other names it answers to on the default network (the embedded database's host name).
    aliases: Vec<String>,
    /// What the bind mounts carry, for the content labels.
    #[serde(skip)]
    mounted: Vec<Mounted>,
}

/// One file bind-mounted into a container: where, with which mode, what, and whether it holds a
/// secret (then it counts only towards the label kept under `secrets/`).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Mounted {
    path: String,
    mode: u32,
    bytes: Vec<u8>,
    secret: bool,
}

impl Mounted {
    fn new(path: impl Into<String>, mode: u32, bytes: impl Into<Vec<u8>>, secret: bool) -> Self {
        Mounted {
            path: path.into(),
            mode,
            bytes: bytes.into(),
            secret,
        }
    }
}

/// A digest of mounted files (path, mode, length, content), truncated to 64 bits like kustomize's
/// name suffixes: enough to tell versions apart. `None` for no files.
fn mounted_digest<'a>(mounted: impl Iterator<Item = &'a Mounted>) -> Option<String> {
    let mut all = Vec::new();
    let mut any = false;
    for m in mounted {
        any = true;
        all.extend_from_slice(format!("{}\0{:o}\0{}\0", m.path, m.mode, m.bytes.len()).as_bytes());
        all.extend_from_slice(&m.bytes);
    }
    any.then(|| crate::fileset::sha256_hex(&all)[..16].to_owned())
}

/// A container's hardening as compose writes it: `cap_drop: [ALL]` and the effective set back,
/// `security_opt` (no-new-privileges; seccomp only when unconfined, Docker's default profile is
/// the runtime default), `read_only` with the writable paths as tmpfs. Compose has no
/// per-container user namespace (`userns_mode` only turns the daemon's remapping off).
fn harden(out: &mut Svc, h: &crate::security::Hardening) {
    out.cap_drop = vec!["ALL"];
    out.cap_add.clone_from(&h.cap_add);
    if h.no_new_privileges {
        out.security_opt.push("no-new-privileges:true");
    }
    if h.seccomp_unconfined {
        out.security_opt.push("seccomp:unconfined");
    }
    out.read_only = h.read_only;
    for w in &h.writable {
        if !out.tmpfs.contains(w) && !out.mounts.iter().any(|m| &m.target == w) {
            out.tmpfs.push(w.clone());
        }
    }
}

impl Svc {
    /// Bind mounts pin the file they were made from: a re-render writes a changed file anew (a
    /// new inode) and the running container keeps the old one, and Compose, which compares the
    /// service's configuration and not the files' contents, would leave it running. Labels with a
    /// digest of the mounted files make a changed file a changed configuration, so `up` recreates
    /// the container — and only the containers that mount it.
    ///
    /// Files that hold no secret are digested into [`CONTENT_LABEL`] in compose.yaml: they are
    /// committed outputs themselves, so the label changes exactly when they do. Secret-bearing
    /// files (secret mounts, secret-bearing `files:`, the edge certificate) are digested into
    /// [`SECRETS_LABEL`], which compose.yaml does not hold: it names a label file under
    /// `secrets/compose/` (`label_file:`), and Compose reads the label from there. compose.yaml
    /// stays the same whatever the secrets are, so it can be committed and checked by
    /// `render --check` in a checkout without `secrets/`.
    fn label_mounted_content(&mut self, files: &mut FileSet) {
        self.mounted.sort();
        if let Some(d) = mounted_digest(self.mounted.iter().filter(|m| !m.secret)) {
            self.labels.push(Kv {
                key: CONTENT_LABEL.into(),
                value: d,
            });
        }
        if let Some(d) = mounted_digest(self.mounted.iter().filter(|m| m.secret)) {
            let rel = format!("secrets/compose/{}.labels", self.name);
            add_secret(files, rel.clone(), format!("{SECRETS_LABEL}={d}\n"));
            self.label_files.push(format!("../{rel}"));
        }
    }
}

/// The label whose value changes whenever a file bind-mounted into the container does.
pub const CONTENT_LABEL: &str = "org.misp-gen.mounted-content";

/// The label, read from a file under `secrets/compose/`, whose value changes whenever a
/// secret-bearing file bind-mounted into the container does.
pub const SECRETS_LABEL: &str = "org.misp-gen.mounted-secrets";

#[derive(Serialize)]
struct Kv {
    key: String,
    value: String,
}

#[derive(Serialize)]
struct PortOut {
    target: u16,
    published: u16,
    protocol: &'static str,
}

#[derive(Serialize)]
struct MountOut {
    kind: &'static str,
    source: String,
    target: String,
    read_only: bool,
    /// A host path: compose creates a missing directory, as its short syntax does.
    create_host_path: bool,
    /// A host path's `SELinux` relabel (`z`, `Z`).
    selinux: Option<&'static str>,
}

#[derive(Serialize)]
struct SecretMount {
    source: String,
    target: String,
}

#[derive(Serialize)]
struct Health {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
    start_period: String,
}

#[derive(Serialize)]
struct Dep {
    name: String,
    condition: &'static str,
}

#[derive(Serialize)]
struct Vol {
    name: String,
    driver_opts: Vec<Kv>,
}

#[derive(Serialize)]
struct SecretDef {
    key: String,
    file: String,
}

/// The compose key of one file of a secret.
fn secret_key(secret: &str, file: Option<&str>) -> String {
    match file {
        Some(f) => format!("{secret}.{f}"),
        None => secret.to_owned(),
    }
}

fn pull_policy(p: Pull) -> &'static str {
    match p {
        Pull::Never => "never",
        Pull::Missing => "missing",
        Pull::Always => "always",
    }
}

fn restart(r: Restart) -> &'static str {
    match r {
        Restart::Always => "always",
        Restart::UnlessStopped => "unless-stopped",
        Restart::OnFailure => "on-failure",
        Restart::No => "no",
    }
}

/// A health check as compose writes it: HTTP and TCP through the image's shell.
fn health(h: &plan::container::Health) -> Health {
    let plan::container::Health {
        check,
        interval_ms,
        timeout_ms,
        retries,
        start_period_ms,
    } = h;
    let test = match check {
        Check::Http {
            scheme,
            number,
            path,
            port: _,
        } => vec![
            "CMD-SHELL".to_owned(),
            http_check_command(*scheme, *number, path),
        ],
        Check::Tcp { number, port: _ } => {
            vec!["CMD-SHELL".to_owned(), tcp_check_command(*number)]
        }
        Check::Exec(argv)
        | Check::Engine {
            argv,
            shell: _,
            exec: true,
        } => std::iter::once("CMD".to_owned())
            .chain(argv.iter().cloned())
            .collect(),
        Check::Engine {
            argv: _,
            shell,
            exec: false,
        } => vec!["CMD-SHELL".to_owned(), shell.clone()],
    };
    Health {
        test,
        interval: units::duration_text(*interval_ms),
        timeout: units::duration_text(*timeout_ms),
        retries: *retries,
        start_period: units::duration_text(*start_period_ms),
    }
}

/// CPU and memory limits.
fn limits(out: &mut Svc, l: &Limits) {
    out.cpus = l.cpu_milli.map(units::cpu_decimal);
    out.memory = l.memory_bytes.map(|b| b.to_string());
}

/// Render the compose target into `files`.
///
/// # Errors
/// Template errors (what compose cannot carry was refused on the model: `plan::refusals`).
pub fn render(
    plan: &Deployment,
    secrets: &Secrets,
    templates: &Templates,
    mirror: Option<&str>,
    files: &mut FileSet,
    state: &mut crate::state::State,
) -> Result<(), Error> {
    let pull = pull_policy(plan.pull_policy(plan::Puller::Compose));
    let mut services = Vec::new();
    let mut used_secrets: BTreeMap<String, String> = BTreeMap::new();
    let edge = plan.edge.as_ref();
    let lb = edge.and_then(|e| e.lb.as_ref());

    for c in &plan.workloads {
        if let Some(cluster) = &c.cluster {
            services.extend(cluster_services(
                cluster,
                plan,
                secrets,
                (mirror, pull),
                &mut used_secrets,
                files,
            ));
            continue;
        }
        if let Some(set) = &c.replicated {
            services.extend(replicated_services(
                set,
                plan,
                secrets,
                (mirror, pull),
                &mut used_secrets,
                files,
            ));
            continue;
        }
        services.push(service(
            c,
            plan,
            secrets,
            (mirror, pull, lb.is_some()),
            &mut used_secrets,
            files,
        ));
    }

    // The load balancer image is ours, not the user's: hold it to the same image policy.
    // The load balancer in front of a replicated edge service.
    if let Some(edge) = edge
        && let Some(lb) = lb
    {
        services.push(load_balancer(
            secrets,
            templates,
            (edge, lb),
            (mirror, pull),
            &mut used_secrets,
            files,
        )?);
    }

    // The embedded database (the cluster's writer endpoint) answers to its chosen host name.
    if plan.database_host() != plan::DATABASE {
        for s in services.iter_mut().filter(|s| s.name == plan::DATABASE) {
            s.aliases.push(plan.database_host().to_owned());
        }
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    let volumes = volumes(plan);
    state.compose = Some(crate::state::Compose {
        project: plan.targets.compose_project.clone(),
        volumes: volumes.iter().map(|v| v.name.clone()).collect(),
    });
    let ctx = Ctx {
        name: plan.name.clone(),
        project: plan.targets.compose_project.clone(),
        services,
        volumes,
        secrets: used_secrets
            .into_iter()
            .map(|(key, file)| SecretDef { key, file })
            .collect(),
    };
    let text = templates.render("compose/compose.yaml.j2", &ctx)?;
    templates.check_yaml("compose/compose.yaml", &text)?;
    add(files, "compose/compose.yaml", text, 0o644);
    Ok(())
}

/// One workload's container as a compose service; its secret-bearing env goes to an env file
/// under `secrets/compose/`.
fn service(
    c: &Container,
    plan: &Deployment,
    secrets: &Secrets,
    (mirror, pull, lb): (Option<&str>, &'static str, bool),
    used_secrets: &mut BTreeMap<String, String>,
    files: &mut FileSet,
) -> Svc {
    let naming = ComposeNaming;
    // Exhaustive: a field the plan adds is a compile error here until compose carries it.
    let Container {
        name,
        // Both formatted by `environment`.
        pointer: _,
        // What messages about the spec say.
        title: _,
        image_pointer: _,
        image,
        replicas,
        singleton: _,
        restart: rs,
        user,
        working_dir,
        entrypoint,
        command,
        env: _,
        ports,
        mounts,
        health: hc,
        depends_on,
        hardening,
        resources,
        // What Kubernetes alone reads.
        kind: _,
        mounts_rwo: _,
        security: _,
        talks_to: _,
        first_start_ms: _,
        placement: _,
        // Dependants wait through `depends_on` and the health check, which times the wait.
        wait: _,
        healthy_first: _,
        // The cluster's containers are rendered by `cluster_services`.
        cluster: _,
        // A replicated Redis's by `replicated_services`.
        replicated: _,
    } = c;
    let name = name.as_str();
    let mut out = Svc {
        aliases: Vec::new(),
        name: name.to_owned(),
        image: plan::image_ref(image, mirror),
        pull_policy: pull,
        restart: restart(*rs),
        replicas: *replicas,
        user: user.clone(),
        working_dir: working_dir.clone(),
        ..Svc::default()
    };
    let expand_list =
        |l: Option<&Vec<String>>| l.map(|v| crate::render::resolve_args(plan, secrets, &naming, v));
    out.entrypoint = expand_list(entrypoint.as_ref());
    out.command = expand_list(command.as_ref());
    environment(c, plan, secrets, &mut out, files);
    for p in ports {
        if let Some(host) = p.publish
            && !(lb && plan.edge.as_ref().is_some_and(|e| e.edge.service == name))
        {
            out.ports.push(PortOut {
                target: p.port,
                published: host,
                protocol: if p.protocol == crate::spec::model::Protocol::Udp {
                    "udp"
                } else {
                    "tcp"
                },
            });
        }
    }
    for m in mounts {
        mount(secrets, m, &mut out, used_secrets, files, plan);
    }
    out.label_mounted_content(files);
    out.healthcheck = hc
        .as_ref()
        .map(|h| health(&crate::render::resolve_health(plan, secrets, &naming, h)));
    harden(&mut out, hardening);
    for (dep, cond) in depends_on {
        out.depends_on.push(Dep {
            name: dep.clone(),
            condition: match cond {
                Condition::Started => "service_started",
                Condition::Healthy => "service_healthy",
                Condition::Completed => "service_completed_successfully",
            },
        });
    }
    limits(&mut out, resources);
    out
}

/// The compose profile of the cluster's full-outage recovery one-off:
/// `docker compose --profile recover run --rm database-recover`.
pub const RECOVER_PROFILE: &str = "recover";

/// A database cluster as compose runs it: the members `database-1` … (each stopped with time to
/// leave cleanly), the writer endpoint `database`, `database-recover` under the compose profile
/// [`RECOVER_PROFILE`] and the arbitrator, all planned (`plan::cluster`).
fn cluster_services(
    cluster: &plan::cluster::DbCluster,
    plan: &Deployment,
    secrets: &Secrets,
    (mirror, pull): (Option<&str>, &'static str),
    used_secrets: &mut BTreeMap<String, String>,
    files: &mut FileSet,
) -> Vec<Svc> {
    let plan::cluster::DbCluster {
        // In the members' env and the endpoint's configuration already.
        name: _,
        sst_method: _,
        member_names: _,
        arbitrator: _,
        members,
        endpoint,
        recover,
        garbd,
        stop_grace_ms,
    } = cluster;
    let mut one =
        |c: &Container| service(c, plan, secrets, (mirror, pull, false), used_secrets, files);
    let mut out = Vec::new();
    for m in members {
        let mut s = one(m);
        s.stop_grace_period = Some(units::duration_text(*stop_grace_ms));
        out.push(s);
    }
    out.push(one(endpoint));
    let mut r = one(recover);
    r.profiles.push(RECOVER_PROFILE);
    out.push(r);
    if let Some(g) = garbd {
        out.push(one(g));
    }
    out
}

/// A replicated Redis as compose runs it: the members `redis-1` …, the Sentinels
/// `redis-sentinel-1` … `-3` and the endpoint under the service's own name, all planned
/// (`plan::redis`).
fn replicated_services(
    set: &plan::redis::RedisSet,
    plan: &Deployment,
    secrets: &Secrets,
    (mirror, pull): (Option<&str>, &'static str),
    used_secrets: &mut BTreeMap<String, String>,
    files: &mut FileSet,
) -> Vec<Svc> {
    let plan::redis::RedisSet {
        // In the containers' env and the endpoint's configuration already.
        member_names: _,
        sentinel_names: _,
        password: _,
        members,
        sentinels,
        endpoint,
    } = set;
    members
        .iter()
        .chain(sentinels)
        .chain([endpoint])
        .map(|c| service(c, plan, secrets, (mirror, pull, false), used_secrets, files))
        .collect()
}

/// The volumes in use (the plan's), with their driver options.
fn volumes(plan: &Deployment) -> Vec<Vol> {
    plan.volumes
        .iter()
        .map(|(name, v)| Vol {
            name: name.clone(),
            driver_opts: v
                .driver_opts
                .iter()
                .flatten()
                .map(|(k, val)| Kv {
                    key: k.clone(),
                    value: val.clone(),
                })
                .collect(),
        })
        .collect()
}

/// Plain values inline; secret-bearing ones in an env file under `secrets/compose/` (one that
/// holds a line break was refused: `plan::refusals`).
fn environment(
    c: &Container,
    plan: &Deployment,
    secrets: &Secrets,
    out: &mut Svc,
    files: &mut FileSet,
) {
    let (naming, name, env) = (ComposeNaming, &c.name, &c.env);
    let mut env_file = String::new();
    for (k, text) in env {
        let r = crate::render::resolve(plan, secrets, &naming, text);
        if r.secret {
            env_file.push_str(k);
            env_file.push('=');
            env_file.push_str(&r.text);
            env_file.push('\n');
        } else {
            out.environment.push(Kv {
                key: k.clone(),
                value: r.text,
            });
        }
    }
    if !env_file.is_empty() {
        let rel = format!("secrets/compose/{name}.env");
        add_secret(files, rel, env_file);
        out.env_files.push(format!("../secrets/compose/{name}.env"));
    }
}
