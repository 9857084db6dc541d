//! One service's container as every target runs it: image, user, working directory, environment,
//! ports, typed mounts, the health check with its defaults applied, the dependencies that exist
//! on this deployment, hardening and resources. Built once per render from the validated spec;
//! the renderers take it apart with exhaustive patterns, so a field added here that a target does
//! not carry is a compile error in that target, not a silent omission.

use crate::domain::{self, DATABASE};
use crate::hardening::{self as security, Hardening};
use crate::spec::model::{
    Condition, File, Healthcheck, HttpCheck, Mount, Port, PortRef, Resources, Restart, Scalar,
    Scheme, Service, Spec,
};
use crate::units;

/// The defaults of a health check the spec does not time: every target runs the same check.
pub const HEALTH_INTERVAL_MS: u64 = 30_000;
pub const HEALTH_TIMEOUT_MS: u64 = 5_000;
pub const HEALTH_RETRIES: u32 = 3;

/// A service's container.
#[derive(Debug, Clone)]
pub struct Container {
    /// The service's name.
    pub name: String,
    /// Its JSON pointer in the spec (`/services/web`), for diagnostics.
    pub pointer: String,
    /// How messages name it: "`web`", "the database".
    pub title: String,
    /// Where the spec decides its image (`/services/web/image`, `/database/version`).
    pub image_pointer: String,
    /// The image as written (each target applies the mirror as it writes references).
    pub image: String,
    /// Containers under the profile (0: the service is not run).
    pub replicas: u32,
    /// `scaling: singleton`: never more than one at a time, even while updating.
    pub singleton: bool,
    pub restart: Restart,
    pub user: Option<String>,
    /// The directory the process starts in (the image's own when `None`).
    pub working_dir: Option<String>,
    /// Arguments as written; placeholders are expanded per target (host names differ).
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    /// Environment in name order, values as text with placeholders unexpanded.
    pub env: Vec<(String, String)>,
    pub ports: Vec<Port>,
    pub mounts: Vec<MountPlan>,
    pub health: Option<Health>,
    /// Dependencies that exist here: `database` only when it is embedded.
    pub depends_on: Vec<(String, Condition)>,
    pub hardening: Hardening,
    pub resources: Limits,
    /// How it runs: long-running, a one-off others wait to complete, or stateful.
    pub kind: Kind,
    /// Whether it mounts a volume only one node may write (`ReadWriteOnce`).
    pub mounts_rwo: bool,
    /// Its own `security:` block, as written: the targets that say where a setting was decided
    /// (Kubernetes' Pod Security errors) point at it.
    pub security: Option<crate::spec::model::Security>,
    /// The workloads its code connects to: what it waits for, and every `${services.S.*}` and
    /// `${database.host|port}` in its env, command, entrypoint, exec check and mounted files.
    pub talks_to: std::collections::BTreeSet<String>,
    /// How long dependants wait for it to be healthy, and how often they look (`None`: no
    /// health check, each target's default).
    pub wait: Option<Wait>,
    /// Whether its start counts only once it is healthy, whether or not a dependant waits for
    /// that (the database: its official image restarts the server during a first start).
    pub healthy_first: bool,
    /// The least time its first start may take, which no start-up check may cut short (the
    /// database's first initialisation of an empty data directory).
    pub first_start_ms: u64,
    /// How its instances are placed and replaced.
    pub placement: Placement,
    /// The embedded database only, as a `MariaDB` Galera cluster (`database.cluster`): its
    /// members, writer endpoint, recovery one-off and arbitrator. `replicas` is then the
    /// number of data members.
    pub cluster: Option<Box<super::cluster::DbCluster>>,
    /// A service with `replicated`: its members, Sentinels and endpoint. `replicas` is then
    /// the number of members.
    pub replicated: Option<Box<super::redis::RedisSet>>,
}

/// How long dependants wait for a workload's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub total_ms: u64,
    /// How often to look; `None`: each target's own cadence.
    pub poll_ms: Option<u64>,
}

/// How a workload's instances are placed and replaced (on the targets that place them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Replace by stopping the old instances first (a singleton, or one-writer data).
    pub recreate: bool,
    pub max_unavailable: u32,
    pub max_surge: u32,
    /// Spread its instances across hosts or zones (more than one instance only).
    pub spread: crate::profile::Spread,
    /// Instances that must stay up during voluntary disruptions (more than one instance only).
    pub min_available: Option<u32>,
}

/// How a workload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Replaceable containers (a Kubernetes `Deployment`).
    LongRunning,
    /// A singleton with its own `ReadWriteOnce` data (a Kubernetes `StatefulSet`).
    Stateful,
    /// Run to completion before its dependants start; on Kubernetes inside each dependant.
    OneOff,
}

/// A mount with its source resolved to one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountPlan {
    Volume {
        volume: String,
        path: String,
        read_only: bool,
        /// A sub-directory of the volume to mount where the target's fresh volumes are not
        /// empty (a file system's `lost+found` on a Kubernetes claim).
        subdir: Option<String>,
    },
    /// A host directory or file, bind-mounted (`mounts[].host`); on Kubernetes the claim
    /// `claim` stands for it.
    Host {
        /// As the targets write it: relative (to the deployment's directory) without `./`, or
        /// absolute.
        host: String,
        path: String,
        read_only: bool,
        selinux: Option<crate::spec::model::Relabel>,
        /// The Kubernetes claim's name in the spec's namespace of names (`host-configs`).
        claim: String,
    },
    /// The workload's own data where the target keeps it by default: the image's anonymous
    /// volume on the engines, a claim template of its own on Kubernetes.
    OwnData {
        path: String,
    },
    /// One secret's kept file (`DIR/secrets/<secret>`), read as root by the image's entrypoint
    /// (the official database images' `*_FILE` variables).
    SecretFile {
        secret: String,
        path: String,
    },
    Scratch {
        path: String,
    },
    /// A `files:` entry: content unexpanded, mode parsed (0644 unless given).
    File {
        file: String,
        path: String,
        content: String,
        mode: u32,
        /// The spec gives the mode (Kubernetes then sets it on the item; else the volume's own).
        mode_given: bool,
    },
    /// A secret's files (`items` renames or selects them; empty: all, under their own names).
    Secret {
        secret: String,
        path: String,
        items: std::collections::BTreeMap<String, String>,
    },
}

impl MountPlan {
    /// Where it is mounted in the container.
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            MountPlan::Volume { path, .. }
            | MountPlan::Host { path, .. }
            | MountPlan::OwnData { path }
            | MountPlan::SecretFile { path, .. }
            | MountPlan::Scratch { path }
            | MountPlan::File { path, .. }
            | MountPlan::Secret { path, .. } => path,
        }
    }
}

/// A health check, timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub check: Check,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
}

/// What a health check runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// An HTTP(S) GET on a port of the container; `port` as written, `number` resolved.
    Http {
        scheme: Scheme,
        port: PortRef,
        number: u16,
        path: String,
    },
    /// A TCP connect.
    Tcp { port: PortRef, number: u16 },
    /// A command, run without a shell.
    Exec(Vec<String>),
    /// The embedded database's check: an argument list (Kubernetes runs it so), the same as a
    /// shell line, and whether the engines run the list without a shell (mariadb's
    /// `healthcheck.sh`) or the line through one.
    Engine {
        argv: Vec<String>,
        shell: String,
        exec: bool,
    },
}

impl Health {
    /// How long dependants wait for the check to pass, on every target: as long as the check
    /// itself needs to declare the container healthy or failed. The start period (failures in
    /// it do not count), then `retries + 1` tries (the first try comes an interval after the
    /// start, so one more than the retries), each an interval plus a check that may run until
    /// its timeout. No floor: waiting past the check's own verdict only delays the error, and a
    /// longer wait is the spec's to ask for (`start_period`, `retries`).
    #[must_use]
    pub fn wait_ms(&self) -> u64 {
        let tries = u64::from(self.retries).saturating_add(1);
        self.start_period_ms
            .saturating_add(tries.saturating_mul(self.interval_ms.saturating_add(self.timeout_ms)))
    }
}

/// CPU and memory limits, parsed once (memory also as written, for targets that keep the
/// spec's own quantity).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// A `resources:` block was written (even an empty one).
    pub declared: bool,
    pub cpu_milli: Option<u64>,
    pub memory: Option<String>,
    pub memory_bytes: Option<u64>,
}

impl Limits {
    #[must_use]
    pub fn of(r: Option<&Resources>) -> Limits {
        let Some(Resources { cpu, memory }) = r else {
            return Limits::default();
        };
        Limits {
            declared: true,
            cpu_milli: cpu.as_deref().and_then(units::millicpu),
            memory: memory.clone(),
            memory_bytes: memory.as_deref().and_then(units::bytes),
        }
    }

    /// No limit at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cpu_milli.is_none() && self.memory.is_none()
    }
}

/// A file mode as the spec writes it (octal text), 0644 when unset.
#[must_use]
pub fn file_mode(f: &File) -> u32 {
    f.mode
        .as_deref()
        .and_then(|m| u32::from_str_radix(m, 8).ok())
        .unwrap_or(0o644)
}

/// The health check of a service, defaults applied; ports resolved against `ports`.
#[must_use]
pub fn health(ports: &[Port], h: &Healthcheck) -> Health {
    let Healthcheck {
        http,
        tcp,
        exec,
        interval,
        timeout,
        retries,
        start_period,
    } = h;
    let number = |r: &PortRef| match r {
        PortRef::Number(n) => *n,
        PortRef::Name(n) => ports.iter().find(|p| &p.name == n).map_or(0, |p| p.port),
    };
    let check = if let Some(HttpCheck { path, port, scheme }) = http {
        Check::Http {
            scheme: *scheme,
            port: port.clone(),
            number: number(port),
            path: path.clone(),
        }
    } else if let Some(t) = tcp {
        Check::Tcp {
            port: t.clone(),
            number: number(t),
        }
    } else {
        Check::Exec(exec.clone().unwrap_or_default())
    };
    let ms = |v: &Option<String>, default: u64| {
        v.as_deref().and_then(units::duration_ms).unwrap_or(default)
    };
    Health {
        check,
        interval_ms: ms(interval, HEALTH_INTERVAL_MS),
        timeout_ms: ms(timeout, HEALTH_TIMEOUT_MS),
        retries: retries.unwrap_or(HEALTH_RETRIES),
        start_period_ms: ms(start_period, 0),
    }
}

/// The embedded database, if the spec has one (not `external:`): the one place that decides
/// whether a target runs one.
#[must_use]
pub fn database(spec: &Spec) -> Option<&crate::spec::model::Database> {
    spec.database.as_ref().filter(|d| d.external.is_none())
}

/// The container of one service; `one_offs` are the services others wait to complete.
#[must_use]
pub fn container(
    spec: &Spec,
    profile: &crate::profile::Profile,
    name: &str,
    svc: &Service,
    one_offs: &std::collections::BTreeSet<String>,
) -> Container {
    // Exhaustive: a new field of a service is a compile error here until the plan carries it.
    let Service {
        image,
        scaling,
        replicas: _,
        command,
        entrypoint,
        user,
        working_dir,
        env,
        ports,
        mounts,
        healthcheck,
        depends_on,
        resources,
        restart,
        security: own_security,
        // Read by `redis::plan`.
        replicated: _,
    } = svc;
    let embedded = database(spec).is_some();
    let port_list: Vec<u16> = ports.iter().map(|p| p.port).collect();
    let singleton = *scaling == crate::spec::model::Scaling::Singleton;
    let replicas = domain::replicas(svc, profile);
    // A host path is a `ReadWriteOnce` claim on Kubernetes for a single instance (several
    // share a `ReadWriteMany` one).
    let mounts_rwo = mounts.iter().any(|m| {
        m.volume
            .as_ref()
            .is_some_and(|v| spec.volumes.get(v).is_some_and(|v| !v.shared))
            || (m.host.is_some() && replicas <= 1)
    });
    let health = healthcheck.as_ref().map(|h| health(ports, h));
    let kind = if one_offs.contains(name) {
        Kind::OneOff
    } else if singleton && mounts_rwo {
        Kind::Stateful
    } else {
        Kind::LongRunning
    };
    Container {
        name: name.to_owned(),
        pointer: format!("/services/{}", crate::spec::load::escape_segment(name)),
        title: format!("`{name}`"),
        image_pointer: format!(
            "/services/{}/image",
            crate::spec::load::escape_segment(name)
        ),
        image: image.clone(),
        replicas,
        singleton,
        restart: *restart,
        user: user.clone(),
        working_dir: working_dir.clone(),
        entrypoint: entrypoint.clone(),
        command: command.clone(),
        env: env
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Scalar::String(s) => s.clone(),
                    other => other.text(),
                };
                (k.clone(), text)
            })
            .collect(),
        ports: ports.clone(),
        mounts: mounts.iter().filter_map(|m| mount(spec, m)).collect(),
        wait: health.as_ref().map(|h| Wait {
            total_ms: h.wait_ms(),
            poll_ms: None,
        }),
        health,
        depends_on: depends_on
            .iter()
            .filter(|(d, _)| *d != DATABASE || embedded)
            .map(|(d, c)| (d.clone(), *c))
            .collect(),
        hardening: security::effective(spec, own_security.as_ref(), user.as_deref(), &port_list),
        resources: Limits::of(resources.as_ref()),
        kind,
        mounts_rwo,
        security: own_security.clone(),
        talks_to: talks_to(spec, svc),
        // Set by the deployment from its dependants.
        healthy_first: false,
        first_start_ms: 0,
        placement: placement(&profile.defaults, singleton || mounts_rwo, replicas),
        cluster: None,
        replicated: None,
    }
}

/// The profile's placement for a workload of `replicas` instances; `one_writer`: a singleton or
/// one that mounts one-writer data, replaced by stopping the old instance first.
#[must_use]
pub fn placement(profile: &crate::profile::Defaults, one_writer: bool, replicas: u32) -> Placement {
    use crate::profile::{Budget, Spread, Strategy};
    let several = replicas > 1;
    Placement {
        recreate: one_writer || profile.update.strategy == Strategy::Recreate,
        max_unavailable: profile.update.max_unavailable,
        max_surge: profile.update.max_surge,
        spread: if several {
            profile.spread
        } else {
            Spread::None
        },
        // Never the whole set: a budget that allows no eviction blocks every node drain.
        min_available: match profile.disruption_budget {
            Budget::MinAvailable { min_available } if several => {
                Some(min_available.min(replicas - 1))
            }
            _ => None,
        },
    }
}

/// The services and the database the code of `svc` connects to: what it waits for, and every
/// `${services.S.*}` and `${database.host|port}` in its environment, command, entrypoint, exec
/// health check and the files it mounts.
fn talks_to(spec: &Spec, svc: &Service) -> std::collections::BTreeSet<String> {
    use crate::placeholder::{DbField, Piece, Ref};
    let mut to: std::collections::BTreeSet<String> = svc.depends_on.keys().cloned().collect();
    let mut texts: Vec<String> = svc
        .env
        .values()
        .map(crate::spec::model::Scalar::text)
        .collect();
    texts.extend(svc.command.iter().flatten().cloned());
    texts.extend(svc.entrypoint.iter().flatten().cloned());
    // An exec health check runs in the container too: a host it names must be reachable.
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
                    to.insert(DATABASE.to_owned());
                }
                _ => {}
            }
        }
    }
    to
}

/// A mount's plan; `None` for a file the spec does not define (validation rules that out).
fn mount(spec: &Spec, m: &Mount) -> Option<MountPlan> {
    let Mount {
        volume,
        host,
        selinux,
        secret,
        file,
        scratch,
        path,
        items,
        read_only,
    } = m;
    Some(if let Some(h) = host {
        MountPlan::Host {
            host: domain::host_path(h),
            path: path.clone(),
            read_only: *read_only,
            selinux: *selinux,
            claim: domain::host_claim(h),
        }
    } else if let Some(v) = volume {
        MountPlan::Volume {
            volume: v.clone(),
            path: path.clone(),
            read_only: *read_only,
            subdir: None,
        }
    } else if *scratch {
        MountPlan::Scratch { path: path.clone() }
    } else if let Some(f) = file {
        let def = spec.files.get(f)?;
        MountPlan::File {
            file: f.clone(),
            path: path.clone(),
            content: def.content.clone(),
            mode: file_mode(def),
            mode_given: def.mode.is_some(),
        }
    } else {
        MountPlan::Secret {
            secret: secret.clone()?,
            path: path.clone(),
            items: items.clone(),
        }
    })
}

/// The services others wait for with `completed`.
#[must_use]
pub fn one_offs(spec: &Spec) -> std::collections::BTreeSet<String> {
    spec.services
        .values()
        .flat_map(|s| s.depends_on.iter())
        .filter(|(_, c)| **c == Condition::Completed)
        .map(|(d, _)| d.clone())
        .filter(|d| spec.services.contains_key(d))
        .collect()
}

/// Every service's container, in name order.
#[must_use]
pub fn containers(spec: &Spec, profile: &crate::profile::Profile) -> Vec<Container> {
    let one_offs = one_offs(spec);
    spec.services
        .iter()
        .map(|(name, svc)| container(spec, profile, name, svc, &one_offs))
        .collect()
}
