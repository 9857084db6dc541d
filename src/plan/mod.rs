//! The resolved, target-neutral plan: placeholders expanded for a target's naming, secret-bearing
//! values marked, replicas and images settled.

pub use crate::domain::{
    DATABASE, DEFAULT_LB_IMAGE, DbLookup, LB_SERVICE, Lookup, Naming, Puller, Resolved,
    database_image, engine_port, expand_neutral, lb_image,
};
pub mod cluster;
pub mod container;
pub mod naming;
pub mod pod_security;
pub mod redis;
pub mod refusals;

use crate::image::ImageRef;
use crate::spec::model::{Engine, Service, Spec};

/// Replicas of a service under the plan's profile.
#[must_use]
pub fn replicas(profile: &crate::profile::Profile, svc: &Service) -> u32 {
    crate::domain::replicas(svc, profile)
}

/// An image reference as the targets write it: normalised, through the mirror if one is set.
#[must_use]
pub fn image_ref(image: &str, mirror: Option<&str>) -> String {
    match ImageRef::parse(image) {
        Ok(r) => match mirror {
            Some(m) => r.mirrored(m).to_string(),
            None => r.to_string(),
        },
        Err(_) => image.to_owned(),
    }
}

/// The targets being rendered, as far as they pull images of their own: compose runs misp-gen's
/// load balancer; Kubernetes runs its wait containers in `targets.kubernetes.wait_image`.
#[derive(Debug, Clone, Copy)]
pub struct Rendered {
    pub compose: bool,
    pub kubernetes: bool,
}

/// Where [`images_used`] names the Kubernetes wait containers' image.
pub const WAIT_USER: &str = "kubernetes-waits";

/// Every image the deployment pulls, once each, sorted, with what uses it. Kubernetes wait
/// containers use the dependant's own image unless `targets.kubernetes.wait_image` names one.
#[must_use]
pub fn images_used(
    deployment: &Deployment,
    mirror: Option<&str>,
    rendered: Rendered,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::new();
    for c in &deployment.workloads {
        if c.replicas > 0 {
            map.entry(image_ref(&c.image, mirror))
                .or_default()
                .push(c.name.clone());
        }
    }
    // The cluster's writer endpoint (an HAProxy on compose and Kubernetes) and arbitrator (the database image).
    for cl in deployment
        .workloads
        .iter()
        .filter_map(|c| c.cluster.as_deref())
    {
        // Kubernetes runs the same HAProxy as the endpoint Deployment.
        if rendered.compose || rendered.kubernetes {
            map.entry(image_ref(&cl.endpoint.image, mirror))
                .or_default()
                .push(cl.endpoint.name.clone());
        }
    }
    // A replicated Redis's endpoint (compose: an HAProxy); its members and Sentinels run the
    // service's own image.
    for set in deployment
        .workloads
        .iter()
        .filter_map(|c| c.replicated.as_deref())
    {
        if rendered.compose {
            map.entry(image_ref(&set.endpoint.image, mirror))
                .or_default()
                .push(set.endpoint.name.clone());
        }
    }
    if rendered.compose
        && let Some(lb) = deployment.edge.as_ref().and_then(|e| e.lb.as_ref())
    {
        map.entry(image_ref(&lb.image, mirror))
            .or_default()
            .push(LB_SERVICE.to_owned());
    }
    let k8s = &deployment.targets.spec.kubernetes;
    if rendered.kubernetes
        && k8s.waits != Some(crate::spec::model::Waits::None)
        && let Some(w) = &k8s.wait_image
    {
        map.entry(image_ref(w, mirror))
            .or_default()
            .push(WAIT_USER.to_owned());
    }
    map
}

/// Every image the deployment pulls, once each, sorted.
#[must_use]
pub fn images(deployment: &Deployment, mirror: Option<&str>, rendered: Rendered) -> Vec<String> {
    images_used(deployment, mirror, rendered)
        .into_keys()
        .collect()
}

/// One environment variable of the embedded database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbEnv {
    /// A literal value.
    Value(String),
    /// `*_FILE`: the path of the named secret's file, mounted under [`SECRET_FILES_DIR`].
    SecretFile(String),
}

/// Where the embedded database reads its passwords (`*_PASSWORD_FILE`) on every target.
pub const SECRET_FILES_DIR: &str = "/run/secrets";

/// What an engine's official image needs, the same for every target: each target maps it to its
/// own env, mounts and health check.
#[derive(Debug, Clone)]
pub struct DbSetup {
    /// Environment in order. Passwords go as files (`*_PASSWORD_FILE`, which the official images'
    /// entrypoints read as root), never as values.
    pub env: Vec<(String, DbEnv)>,
    /// The data directory, where the volume goes.
    pub data_dir: &'static str,
    /// The health check as an argument list.
    pub check_argv: Vec<String>,
    /// The same check as one shell command line.
    pub check_shell: String,
    /// The check is the image's own script, run without a shell (mariadb's `healthcheck.sh`).
    pub check_exec: bool,
}

impl DbSetup {
    /// The secrets the database reads from files, in the order of `env`.
    pub fn secret_files(&self) -> impl Iterator<Item = &str> {
        self.env.iter().filter_map(|(_, v)| match v {
            DbEnv::SecretFile(s) => Some(s.as_str()),
            DbEnv::Value(_) => None,
        })
    }

    /// The container path of a secret's file.
    #[must_use]
    pub fn file_of(secret: &str) -> String {
        format!("{SECRET_FILES_DIR}/{secret}")
    }
}

/// The embedded database's setup for its engine.
#[must_use]
pub fn database_setup(db: &crate::spec::model::Database) -> DbSetup {
    let value = |k: &str, v: &str| (k.to_owned(), DbEnv::Value(v.to_owned()));
    let file = |k: &str, s: &str| (k.to_owned(), DbEnv::SecretFile(s.to_owned()));
    let strings = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    match db.engine {
        Engine::Mariadb | Engine::Mysql => {
            let pre = if db.engine == Engine::Mariadb {
                "MARIADB"
            } else {
                "MYSQL"
            };
            let mut env = vec![
                value(&format!("{pre}_DATABASE"), &db.name),
                value(&format!("{pre}_USER"), &db.user),
                file(&format!("{pre}_PASSWORD_FILE"), &db.password),
            ];
            env.push(match &db.root_password {
                Some(r) => file(&format!("{pre}_ROOT_PASSWORD_FILE"), r),
                None => value(&format!("{pre}_RANDOM_ROOT_PASSWORD"), "1"),
            });
            let (argv, exec) = if db.engine == Engine::Mariadb {
                (
                    strings(&["healthcheck.sh", "--connect", "--innodb_initialized"]),
                    true,
                )
            } else {
                (
                    strings(&["mysqladmin", "ping", "-h", "127.0.0.1", "--silent"]),
                    false,
                )
            };
            DbSetup {
                env,
                data_dir: "/var/lib/mysql",
                check_shell: argv.join(" "),
                check_argv: argv,
                check_exec: exec,
            }
        }
        Engine::Postgres => DbSetup {
            env: vec![
                value("POSTGRES_DB", &db.name),
                value("POSTGRES_USER", &db.user),
                file("POSTGRES_PASSWORD_FILE", &db.password),
            ],
            data_dir: "/var/lib/postgresql/data",
            check_argv: strings(&[
                "pg_isready",
                "-h",
                "127.0.0.1",
                "-U",
                &db.user,
                "-d",
                &db.name,
            ]),
            check_shell: format!(
                "pg_isready -h 127.0.0.1 -U {} -d {}",
                crate::shell::sh_quote(&db.user),
                crate::shell::sh_quote(&db.name)
            ),
            check_exec: false,
        },
    }
}

/// How long dependants wait for the embedded database, and how often they look: the same on
/// every target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbWait {
    pub timeout_ms: u64,
    pub interval_ms: u64,
}

/// `database.wait`, defaults applied (90 s, every 5 s).
#[must_use]
pub fn database_wait(db: &crate::spec::model::Database) -> DbWait {
    let w = db.wait.as_ref();
    let ms = |v: Option<&String>, default: u64| {
        v.and_then(|t| crate::units::duration_ms(t))
            .unwrap_or(default)
    };
    DbWait {
        timeout_ms: ms(w.and_then(|w| w.timeout.as_ref()), 90_000),
        interval_ms: ms(w.and_then(|w| w.interval.as_ref()), 5_000),
    }
}

/// The embedded database's health check where the engine runs it (compose, systemd): the
/// engine's check every interval, for as long as dependants wait, never fewer than one try.
#[must_use]
pub fn database_health(setup: &DbSetup, wait: DbWait) -> container::Health {
    let DbWait {
        timeout_ms,
        interval_ms,
    } = wait;
    container::Health {
        check: container::Check::Engine {
            argv: setup.check_argv.clone(),
            shell: setup.check_shell.clone(),
            exec: setup.check_exec,
        },
        interval_ms,
        timeout_ms: 5_000,
        retries: u32::try_from(timeout_ms / interval_ms.max(1))
            .unwrap_or(u32::MAX)
            .max(1),
        start_period_ms: timeout_ms,
    }
}

/// Where the embedded database's data goes inside a claim of its own: a fresh file system's
/// `lost+found` would make the engines' first initialisation refuse a non-empty data directory.
pub const DATABASE_DATA_SUBDIR: &str = "data";

/// The least time the embedded database's first start may take (initialising an empty data
/// directory): no start-up check may cut it short, since killing it half way leaves a broken
/// data directory.
pub const DATABASE_FIRST_START_MS: u64 = 600_000;

/// The name of the port of an engine.
#[must_use]
pub fn engine_port_name(e: Engine) -> &'static str {
    match e {
        Engine::Mariadb | Engine::Mysql => "mysql",
        Engine::Postgres => "postgres",
    }
}

/// The embedded database as a workload, when the spec embeds one: the engine's official image
/// with its env, its data, its password files and its health check, planned like a service's
/// container so that every target renders it through the same code.
#[must_use]
#[expect(
    clippy::too_many_lines,
    reason = "every field of the workload in one place"
)]
pub fn database_workload(spec: &Spec) -> Option<container::Container> {
    use crate::spec::model::{Port, Protocol, Restart};
    let db = container::database(spec)?;
    let image = database_image(spec)?;
    // Exhaustive: a new field of the database is a compile error here until the plan carries it.
    let crate::spec::model::Database {
        engine,
        // Both read by `database_image`.
        version: _,
        image: _,
        // Read by `database_setup`: the engine's env, passwords as files.
        name: _,
        user: _,
        password: _,
        root_password: _,
        volume,
        external: _,
        // The lookup's: `Deployment::database_host`.
        hostname: _,
        // Read by `cluster::plan`.
        cluster: _,
        wait: _,
        resources,
        security,
        settings,
        env: own_env,
        restart,
    } = db;
    let setup = database_setup(db);
    let wait = database_wait(db);
    let port = engine_port(*engine);
    let mut mounts = vec![match volume {
        Some(v) => container::MountPlan::Volume {
            volume: v.clone(),
            path: setup.data_dir.to_owned(),
            read_only: false,
            subdir: Some(DATABASE_DATA_SUBDIR.to_owned()),
        },
        None => container::MountPlan::OwnData {
            path: setup.data_dir.to_owned(),
        },
    }];
    let mut env = Vec::new();
    for (key, v) in &setup.env {
        match v {
            // The engine's values as they are: nothing in them is a placeholder.
            DbEnv::Value(v) => env.push((key.clone(), crate::placeholder::escape(v))),
            DbEnv::SecretFile(s) => {
                env.push((key.clone(), DbSetup::file_of(s)));
                mounts.push(container::MountPlan::SecretFile {
                    secret: s.clone(),
                    path: DbSetup::file_of(s),
                });
            }
        }
    }
    // The user's variables (literal text), after the engine's.
    for (k, v) in own_env {
        env.push((k.clone(), crate::placeholder::escape(&v.text())));
    }
    let command = (!settings.is_empty()).then(|| {
        crate::domain::setting_args(*engine, settings)
            .iter()
            .map(|a| crate::placeholder::escape(a))
            .collect::<Vec<_>>()
    });
    let health = database_health(&setup, wait);
    let mut c = container::Container {
        name: DATABASE.to_owned(),
        pointer: "/database".to_owned(),
        title: "the database".to_owned(),
        image_pointer: if db.image.is_some() {
            "/database/image".to_owned()
        } else {
            "/database/version".to_owned()
        },
        image,
        replicas: 1,
        singleton: true,
        restart: restart.unwrap_or(Restart::UnlessStopped),
        user: None,
        working_dir: None,
        entrypoint: None,
        // The official images run the server with arguments that start with `-`.
        command,
        env,
        ports: vec![Port {
            name: engine_port_name(*engine).to_owned(),
            port,
            publish: None,
            protocol: Protocol::Tcp,
        }],
        mounts,
        health: Some(health),
        depends_on: Vec::new(),
        hardening: crate::hardening::effective(spec, security.as_ref(), None, &[port]),
        resources: container::Limits::of(resources.as_ref()),
        kind: container::Kind::Stateful,
        mounts_rwo: true,
        security: security.clone(),
        talks_to: std::collections::BTreeSet::new(),
        // `database.wait`: how long dependants wait, and how often they look.
        wait: Some(container::Wait {
            total_ms: wait.timeout_ms,
            poll_ms: Some(wait.interval_ms),
        }),
        healthy_first: true,
        first_start_ms: DATABASE_FIRST_START_MS,
        // One server, replaced by stopping it first; no surge, no spread, no budget.
        placement: container::Placement {
            recreate: true,
            max_unavailable: 0,
            max_surge: 0,
            spread: crate::profile::Spread::None,
            min_available: None,
        },
        cluster: None,
        replicated: None,
    };
    if let Some(cluster) = cluster::plan(spec, &c) {
        c.replicas = u32::try_from(cluster.members.len()).unwrap_or(u32::MAX);
        // The data is the members' (a volume each), not the single server's.
        c.mounts.retain(|m| {
            !matches!(
                m,
                container::MountPlan::Volume { .. } | container::MountPlan::OwnData { .. }
            )
        });
        c.cluster = Some(Box::new(cluster));
    }
    Some(c)
}

/// A host path as Kubernetes gets it: a claim the operator fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostClaim {
    /// The path as the targets write it.
    pub host: String,
    /// Mounted by more than one pod (several replicas or workloads): `ReadWriteMany`.
    pub rwx: bool,
    /// The first mount that names it, for diagnostics.
    pub pointer: String,
}

/// The edge: which service users reach, on which port, how; and on the targets that run their
/// own load balancer (compose), that balancer.
#[derive(Debug, Clone)]
pub struct EdgePlan {
    /// `edge:` as written (host unexpanded).
    pub edge: crate::spec::model::Edge,
    /// The edge service's port, resolved.
    pub port: u16,
    /// Whether that port speaks TLS.
    pub backend_tls: bool,
    /// The path of the service's HTTP health check on that port, if it has one.
    pub check_path: Option<String>,
    /// Replicas of the edge service.
    pub replicas: u32,
    /// misp-gen's load balancer, where the edge service is replicated.
    pub lb: Option<LbPlan>,
}

/// misp-gen's own load balancer in front of a replicated edge service.
#[derive(Debug, Clone)]
pub struct LbPlan {
    /// The image as written or the default (each target applies the mirror).
    pub image: String,
    /// The default hardening, for the image's own (non-root) user and ports below 1024.
    pub hardening: crate::hardening::Hardening,
    /// Whether the image policy allows the image; a target that runs it refuses otherwise.
    pub allowed: bool,
}

/// The settings of each target, their defaults settled once.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// `targets.*` as written.
    pub spec: crate::spec::model::Targets,
    /// The compose project name.
    pub compose_project: String,
    /// The Kubernetes namespace.
    pub namespace: String,
    /// The podman version the systemd units are written for, (major, minor).
    pub podman_version: Option<(u32, u32)>,
    /// Where systemd units expect `OUT/secrets/` and `OUT/systemd/files/`.
    pub install_dir: String,
}

/// Where misp-gen expects the systemd output installed by default (+ `/<name>`).
pub const DEFAULT_INSTALL_PREFIX: &str = "/etc/misp-gen";

/// Where diagnostics about the spec point: its file and the positions of its nodes. Not the
/// spec: a position map and the text the messages quote.
#[derive(Debug, Clone)]
pub struct Locator {
    /// The spec with the profile's overlay merged in (positions kept).
    pub doc: std::sync::Arc<crate::spec::load::Document>,
    /// The spec as written.
    pub raw: std::sync::Arc<crate::spec::load::Document>,
}

impl Locator {
    /// A diagnostic at `pointer` (at its value).
    #[must_use]
    pub fn diag(
        &self,
        pointer: &str,
        code: crate::diag::Code,
        message: String,
        help: &str,
    ) -> crate::diag::Diagnostic {
        crate::diag::Diagnostic {
            file: self.doc.file.clone(),
            pos: self.doc.pos(pointer),
            pointer: pointer.to_owned(),
            code,
            message,
            help: Some(help.to_owned()),
        }
    }

    /// A diagnostic at the key of `pointer`.
    #[must_use]
    pub fn key_diag(
        &self,
        pointer: &str,
        code: crate::diag::Code,
        message: String,
        help: &str,
    ) -> crate::diag::Diagnostic {
        crate::diag::Diagnostic {
            pos: self.doc.key_pos(pointer),
            ..self.diag(pointer, code, message, help)
        }
    }

    /// The refusal of a render: `diags` with the source they point into.
    #[must_use]
    pub fn invalid(&self, diags: Vec<crate::diag::Diagnostic>) -> crate::diag::Invalid {
        crate::diag::Invalid {
            diags,
            sources: std::collections::BTreeMap::from([(
                self.raw.file.clone(),
                self.raw.source.clone(),
            )]),
        }
    }
}

/// The deployment: the validated spec and profile resolved once into what every target renders.
/// It owns everything it holds and has no way back to the spec: the renderers read only this.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// `name:`.
    pub name: String,
    /// `version:` (a label only).
    pub version: Option<String>,
    /// `${params.*}` as text.
    pub params: std::collections::BTreeMap<String, String>,
    /// What `${database.*}` expands to (embedded or external).
    pub database_lookup: Option<DbLookup>,
    /// Every workload, in name order: each service's container (those with no replicas
    /// included) and the embedded database ([`DATABASE`]).
    pub workloads: Vec<container::Container>,
    /// The declared volumes in use, by name, with their definitions: mounted by a service (one
    /// scaled to 0 replicas too: its volume still holds its data, and a volume that left the
    /// render is one the next deploy may lose) or holding the embedded database's data. Every
    /// target renders exactly these.
    pub volumes: std::collections::BTreeMap<String, crate::spec::model::Volume>,
    /// The host paths the workloads mount, by the name of the Kubernetes claim that stands for
    /// each (compose and systemd bind-mount the path itself).
    pub host_claims: std::collections::BTreeMap<String, HostClaim>,
    /// The secrets that are TLS sets (`ca.crt`, `tls.crt`, `tls.key`).
    pub tls_secrets: std::collections::BTreeSet<String>,
    pub edge: Option<EdgePlan>,
    /// `images.pull` as written.
    pub pull: Option<crate::spec::model::Pull>,
    /// `images.mirror` as written.
    pub mirror: Option<String>,
    /// The spec-wide `security:` block, as written (where Pod Security errors point).
    pub security: Option<crate::spec::model::Security>,
    /// The image policy.
    pub policy: Option<crate::spec::model::Policy>,
    pub targets: TargetSettings,
    /// The profile's update, spread and disruption policy.
    pub profile: crate::profile::Defaults,
    /// Where diagnostics point.
    pub locator: Locator,
    /// What keeps each Kubernetes pod from each Pod Security level, found by the first walk of
    /// the Kubernetes target (its refusals, `validate`'s warnings or the renderer's namespace)
    /// and kept for the others.
    pub pod_violations: std::sync::OnceLock<Vec<pod_security::Violation>>,
}

impl Lookup for Deployment {
    fn name(&self) -> &str {
        &self.name
    }
    fn param(&self, key: &str) -> Option<String> {
        self.params.get(key).cloned()
    }
    fn database(&self) -> Option<DbLookup> {
        self.database_lookup.clone()
    }
    fn service_ports(&self, service: &str) -> Option<Vec<(String, u16)>> {
        self.workload(service)
            .filter(|c| c.name != DATABASE)
            .map(|c| c.ports.iter().map(|p| (p.name.clone(), p.port)).collect())
    }
}

/// A cluster's members are spread as the profile spreads replicas (Kubernetes: required
/// anti-affinity across hosts where the profile spreads).
fn spread_members(db: Option<&mut container::Container>, profile: &crate::profile::Profile) {
    if let Some(cl) = db.and_then(|d| d.cluster.as_deref_mut()) {
        for m in &mut cl.members {
            m.placement.spread = profile.defaults.spread;
        }
    }
}

/// Plans the replicated Redis of each service that asks for one (`services.<name>.replicated`)
/// into its workload; returns the data volumes of their members and Sentinels.
fn plan_replicated(spec: &Spec, workloads: &mut [container::Container]) -> Vec<String> {
    let mut volumes = Vec::new();
    for c in workloads {
        if let Some(set) = redis::plan(spec, c) {
            c.replicas = u32::try_from(set.members.len()).unwrap_or(u32::MAX);
            c.mounts.clear();
            volumes.extend(
                set.members
                    .iter()
                    .chain(&set.sentinels)
                    .flat_map(|m| &m.mounts)
                    .filter_map(|m| match m {
                        container::MountPlan::Volume { volume, .. } => Some(volume.clone()),
                        _ => None,
                    }),
            );
            c.replicated = Some(Box::new(set));
        }
    }
    volumes
}

impl Deployment {
    #[must_use]
    #[expect(
        clippy::too_many_lines,
        reason = "every part of the deployment in one place"
    )]
    pub fn new(spec: &Spec, profile: &crate::profile::Profile, locator: Locator) -> Deployment {
        let mut workloads = container::containers(spec, profile);
        let mut database = database_workload(spec);
        spread_members(database.as_mut(), profile);
        workloads.extend(database);
        workloads.sort_by(|a, b| a.name.cmp(&b.name));
        // Whether a dependant waits for each workload's health.
        let waited: std::collections::BTreeSet<String> = workloads
            .iter()
            .flat_map(|c| &c.depends_on)
            .filter(|(_, cond)| *cond == crate::spec::model::Condition::Healthy)
            .map(|(d, _)| d.clone())
            .collect();
        for c in &mut workloads {
            c.healthy_first |= waited.contains(&c.name);
        }
        // A replicated Redis: planned once its dependants' waits are known.
        let redis_volumes = plan_replicated(spec, &mut workloads);
        let volume_of = |m: &container::MountPlan| match m {
            container::MountPlan::Volume { volume, .. } => Some(volume.clone()),
            _ => None,
        };
        let in_use: std::collections::BTreeSet<String> = workloads
            .iter()
            .flat_map(|c| &c.mounts)
            .filter_map(volume_of)
            .collect();
        let mut volumes: std::collections::BTreeMap<String, crate::spec::model::Volume> = spec
            .volumes
            .iter()
            .filter(|(name, _)| in_use.contains(name.as_str()))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        // A cluster member's data volume: the database volume's definition (its size), one each.
        if let Some(cl) = workloads.iter().find_map(|c| c.cluster.as_deref()) {
            let def = spec
                .database
                .as_ref()
                .and_then(|d| d.volume.as_ref())
                .and_then(|v| spec.volumes.get(v))
                .map(|v| crate::spec::model::Volume {
                    size: v.size.clone(),
                    ..crate::spec::model::Volume::default()
                })
                .unwrap_or_default();
            for v in cl
                .members
                .iter()
                .flat_map(|m| &m.mounts)
                .filter_map(volume_of)
            {
                volumes.insert(v, def.clone());
            }
        }
        // A replicated Redis member's or Sentinel's data volume: one each, the engine's default.
        volumes.extend(
            redis_volumes
                .into_iter()
                .map(|v| (v, crate::spec::model::Volume::default())),
        );
        let mut host_claims: std::collections::BTreeMap<String, HostClaim> =
            std::collections::BTreeMap::new();
        for c in &workloads {
            let mut own: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
            for (i, m) in c.mounts.iter().enumerate() {
                let container::MountPlan::Host { host, claim, .. } = m else {
                    continue;
                };
                let first = own.insert(claim.as_str());
                host_claims
                    .entry(claim.clone())
                    .and_modify(|h| h.rwx |= first)
                    .or_insert_with(|| HostClaim {
                        host: host.clone(),
                        rwx: c.replicas > 1,
                        pointer: format!("{}/mounts/{i}/host", c.pointer),
                    });
            }
        }
        let edge = edge_plan(spec, profile);
        Deployment {
            name: spec.name.clone(),
            version: spec.version.clone(),
            params: spec
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.text()))
                .collect(),
            database_lookup: Lookup::database(spec),
            workloads,
            volumes,
            host_claims,
            tls_secrets: spec
                .secrets
                .iter()
                .filter(|(_, s)| s.is_tls())
                .map(|(n, _)| n.clone())
                .collect(),
            edge,
            pull: spec.images.as_ref().and_then(|i| i.pull),
            mirror: spec.images.as_ref().and_then(|i| i.mirror.clone()),
            security: spec.security.clone(),
            policy: spec.policy.clone(),
            targets: TargetSettings {
                spec: spec.targets.clone(),
                compose_project: spec
                    .targets
                    .compose
                    .project
                    .clone()
                    .unwrap_or_else(|| spec.name.clone()),
                namespace: spec
                    .targets
                    .kubernetes
                    .namespace
                    .clone()
                    .unwrap_or_else(|| spec.name.clone()),
                podman_version: spec
                    .targets
                    .systemd
                    .podman_version
                    .as_deref()
                    .and_then(crate::domain::podman_version),
                install_dir: spec.targets.systemd.install_dir.clone().map_or_else(
                    || format!("{DEFAULT_INSTALL_PREFIX}/{}", spec.name),
                    |d| d.trim_end_matches('/').to_owned(),
                ),
            },
            profile: profile.defaults.clone(),
            locator,
            pod_violations: std::sync::OnceLock::new(),
        }
    }

    /// The host name other containers reach the embedded database by, on every target:
    /// `database.hostname`, else `database`.
    #[must_use]
    pub fn database_host(&self) -> &str {
        self.database_lookup
            .as_ref()
            .map_or(DATABASE, |db| db.hostname.as_str())
    }

    /// The workload `name` (a service, or the embedded database: [`DATABASE`]).
    #[must_use]
    pub fn workload(&self, name: &str) -> Option<&container::Container> {
        self.workloads
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.workloads[i])
    }

    /// Data-bearing members of the embedded database (none: no embedded database).
    #[must_use]
    pub fn database_members(&self) -> Option<u32> {
        self.workload(DATABASE).map(|c| c.replicas)
    }

    /// Whether the secret `name` is a TLS set, as the spec says.
    #[must_use]
    pub fn is_tls(&self, name: &str) -> bool {
        self.tls_secrets.contains(name)
    }

    /// `images.pull` as a target writes it. Unset: `missing` where the engine runs the
    /// containers (compose, systemd); `Always` on Kubernetes, where the kubelet checks the tag
    /// against the registry on every start and still reuses cached layers.
    #[must_use]
    pub fn pull_policy(&self, target: Puller) -> crate::spec::model::Pull {
        crate::domain::pull_policy(self.pull, target)
    }

    /// Every image the deployment names (each workload's, compose's load balancer, the
    /// Kubernetes wait image) as `pin` rewrites it: one list of images, which `bundle push`
    /// pins to the digests it pushed.
    pub fn pin_images(&mut self, pin: &dyn Fn(&str) -> String) {
        for c in &mut self.workloads {
            c.image = pin(&c.image);
            if let Some(cl) = c.cluster.as_deref_mut() {
                for m in cl
                    .members
                    .iter_mut()
                    .chain([&mut cl.endpoint, &mut cl.recover])
                    .chain(cl.garbd.as_mut())
                {
                    m.image = pin(&m.image);
                }
            }
            if let Some(set) = c.replicated.as_deref_mut() {
                for m in set
                    .members
                    .iter_mut()
                    .chain(set.sentinels.iter_mut())
                    .chain([&mut set.endpoint])
                {
                    m.image = pin(&m.image);
                }
            }
        }
        if let Some(lb) = self.edge.as_mut().and_then(|e| e.lb.as_mut()) {
            lb.image = pin(&lb.image);
        }
        if let Some(w) = self.targets.spec.kubernetes.wait_image.as_mut() {
            *w = pin(w);
        }
    }
}

/// The edge's plan, when the spec has an edge.
fn edge_plan(spec: &Spec, profile: &crate::profile::Profile) -> Option<EdgePlan> {
    let edge = spec.edge.as_ref()?;
    let target = spec.services.get(&edge.service)?;
    let port = crate::domain::port_number(target, &edge.port);
    let replicas = replicas(profile, target);
    let lb = (replicas > 1).then(|| {
        let image = lb_image(spec);
        let mut ports = Vec::new();
        if edge.tls.is_some() {
            ports.push(443);
        }
        if edge.tls.is_none() || edge.redirect_http {
            ports.push(80);
        }
        let allowed = match (&spec.policy, ImageRef::parse(&image)) {
            (Some(pol), Ok(r)) => {
                crate::domain::from_allowed_registry(pol, &r)
                    && crate::domain::pinned_as_required(pol, &r)
            }
            _ => true,
        };
        LbPlan {
            image,
            hardening: crate::hardening::effective(spec, None, None, &ports),
            allowed,
        }
    });
    Some(EdgePlan {
        edge: edge.clone(),
        port,
        backend_tls: crate::domain::port_is_https(target, port),
        check_path: target
            .healthcheck
            .as_ref()
            .and_then(|h| h.http.as_ref())
            .filter(|h| crate::domain::port_number(target, &h.port) == port)
            .map(|h| h.path.clone()),
        replicas,
        lb,
    })
}
