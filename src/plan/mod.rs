//! The resolved, target-neutral plan: placeholders expanded for a target's naming, secret-bearing
//! values marked, replicas and images settled.

pub use crate::domain::{
    DATABASE, DEFAULT_LB_IMAGE, LB_SERVICE, Naming, Puller, Resolved, database_image, engine_port,
    expand_neutral, lb_image, pull_policy,
};
pub mod container;

use crate::image::ImageRef;
use crate::secrets::Secrets;
use crate::spec::model::{Engine, Service, Spec};
use crate::validate::Valid;

/// Expand every placeholder of `text` for a target.
#[must_use]
pub fn resolve(spec: &Spec, secrets: &Secrets, naming: &dyn Naming, text: &str) -> Resolved {
    crate::domain::expand(spec, &|s| secrets.text(s), naming, text)
}

/// Expand an argument list for a target: `entrypoint`, `command` and an exec health check all go
/// through here, so each is resolved and unescaped (`$${` to `${`) the same way.
#[must_use]
pub fn resolve_args(
    spec: &Spec,
    secrets: &Secrets,
    naming: &dyn Naming,
    args: &[String],
) -> Vec<String> {
    args.iter()
        .map(|a| resolve(spec, secrets, naming, a).text)
        .collect()
}

/// A health check as a target runs it: an exec check's arguments expanded like `command:`. The
/// other kinds hold no spec text that placeholders reach (the database's are misp-gen's own).
#[must_use]
pub fn resolve_health(
    spec: &Spec,
    secrets: &Secrets,
    naming: &dyn Naming,
    h: &container::Health,
) -> container::Health {
    let mut h = h.clone();
    if let container::Check::Exec(args) = &h.check {
        h.check = container::Check::Exec(resolve_args(spec, secrets, naming, args));
    }
    h
}

/// Replicas of a service under the plan's profile.
#[must_use]
pub fn replicas(valid: &Valid, svc: &Service) -> u32 {
    crate::domain::replicas(svc, &valid.profile)
}

/// Whether the targets that run their own load balancer need one: a replicated edge service.
#[must_use]
pub fn needs_lb(valid: &Valid) -> bool {
    valid
        .spec
        .edge
        .as_ref()
        .and_then(|e| valid.spec.services.get(&e.service))
        .is_some_and(|svc| replicas(valid, svc) > 1)
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
    valid: &Valid,
    mirror: Option<&str>,
    rendered: Rendered,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::new();
    for (name, svc) in &valid.spec.services {
        if replicas(valid, svc) > 0 {
            map.entry(image_ref(&svc.image, mirror))
                .or_default()
                .push(name.clone());
        }
    }
    if let Some(db) = database_image(&valid.spec) {
        map.entry(image_ref(&db, mirror))
            .or_default()
            .push(DATABASE.to_owned());
    }
    if rendered.compose && needs_lb(valid) {
        map.entry(image_ref(&lb_image(&valid.spec), mirror))
            .or_default()
            .push(LB_SERVICE.to_owned());
    }
    let k8s = &valid.spec.targets.kubernetes;
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
pub fn images(valid: &Valid, mirror: Option<&str>, rendered: Rendered) -> Vec<String> {
    images_used(valid, mirror, rendered).into_keys().collect()
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
        check: if setup.check_exec {
            container::Check::Script {
                argv: setup.check_argv.clone(),
                shell: setup.check_shell.clone(),
            }
        } else {
            container::Check::Shell(setup.check_shell.clone())
        },
        interval_ms,
        timeout_ms: 5_000,
        retries: u32::try_from(timeout_ms / interval_ms.max(1))
            .unwrap_or(u32::MAX)
            .max(1),
        start_period_ms: timeout_ms,
    }
}

/// One file of a mounted secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile<'a> {
    /// The file's key: the secret's own name (a text secret), or `ca.crt`, `tls.crt`, `tls.key`
    /// (a TLS set).
    pub key: &'a str,
    /// One file of a TLS set.
    pub tls: bool,
    /// Its name under the mount path: the key, or what `items` renames it to.
    pub name: String,
    pub content: &'a str,
}

/// The files a `{ secret, path, items }` mount puts under its path, in key order of the set:
/// every file of the secret, or (with `items`) the ones it names, renamed. The same on every
/// target that mounts files (Kubernetes mounts the Secret object, with the same `items`).
/// Whether it is a TLS set is the spec's to say, as everywhere
/// ([`crate::spec::model::Secret::is_tls`]).
#[must_use]
pub fn mounted_secret_files<'a>(
    spec: &Spec,
    secrets: &'a Secrets,
    secret: &'a str,
    items: &std::collections::BTreeMap<String, String>,
) -> Vec<SecretFile<'a>> {
    let tls = spec
        .secrets
        .get(secret)
        .is_some_and(crate::spec::model::Secret::is_tls);
    let all: Vec<(&'a str, bool, &'a str)> = if tls {
        secrets
            .tls(secret)
            .map(|cert| {
                vec![
                    ("ca.crt", true, cert.ca_crt.as_str()),
                    ("tls.crt", true, cert.tls_crt.as_str()),
                    ("tls.key", true, cert.tls_key.as_str()),
                ]
            })
            .unwrap_or_default()
    } else {
        secrets
            .text(secret)
            .map(|t| vec![(secret, false, t)])
            .unwrap_or_default()
    };
    all.into_iter()
        .filter_map(|(key, tls, content)| {
            let name = if items.is_empty() {
                key.to_owned()
            } else {
                items.get(key)?.clone()
            };
            Some(SecretFile {
                key,
                tls,
                name,
                content,
            })
        })
        .collect()
}

/// The embedded database as every target runs it: its engine's image and setup, its data
/// volume, how long dependants wait for it, its hardening and limits.
#[derive(Debug, Clone)]
pub struct DatabasePlan<'s> {
    pub engine: Engine,
    /// The image as written or the engine's official one (each target applies the mirror).
    pub image: String,
    pub port: u16,
    /// Environment, data directory and health check of the engine's official image.
    pub setup: DbSetup,
    /// The secret holding the application user's password, and the root password's if set.
    pub password: &'s str,
    pub root_password: Option<&'s str>,
    /// The named volume of its data (none: each target's own default storage).
    pub volume: Option<&'s str>,
    pub wait: DbWait,
    /// The engine's check, timed by `wait`, where the engine runs it (compose, systemd).
    pub health: container::Health,
    pub hardening: crate::security::Hardening,
    pub resources: container::Limits,
}

/// The embedded database's plan, when the spec embeds one.
#[must_use]
pub fn database_plan(spec: &Spec) -> Option<DatabasePlan<'_>> {
    let db = container::database(spec)?;
    let image = database_image(spec)?;
    // Exhaustive: a new field of the database is a compile error here until the plan carries it.
    let crate::spec::model::Database {
        engine,
        // Both read by `database_image`.
        version: _,
        image: _,
        // Read by `database_setup`: the engine's env.
        name: _,
        user: _,
        password,
        root_password,
        volume,
        external: _,
        wait: _,
        resources,
        security,
    } = db;
    let setup = database_setup(db);
    let wait = database_wait(db);
    let port = engine_port(*engine);
    Some(DatabasePlan {
        engine: *engine,
        image,
        port,
        health: database_health(&setup, wait),
        setup,
        password,
        root_password: root_password.as_deref(),
        volume: volume.as_deref(),
        wait,
        hardening: crate::security::effective(spec, security.as_ref(), None, &[port]),
        resources: container::Limits::of(resources.as_ref()),
    })
}

/// The plan of one render: the validated spec, every service's container and the embedded
/// database, built once and shared by every target.
#[derive(Debug)]
pub struct Plan<'v> {
    pub valid: &'v Valid,
    /// Every service's container, in name order (those with no replicas included).
    pub services: Vec<container::Container<'v>>,
    pub database: Option<DatabasePlan<'v>>,
    /// The declared volumes in use, in name order: mounted by a service (one scaled to 0
    /// replicas too: its volume still holds its data, and a volume that left the render is one
    /// the next deploy may lose) or holding the embedded database's data. Every target renders
    /// exactly these.
    pub volumes: std::collections::BTreeSet<&'v str>,
}

impl<'v> Plan<'v> {
    #[must_use]
    pub fn new(valid: &'v Valid) -> Plan<'v> {
        let services = container::containers(valid);
        let database = database_plan(&valid.spec);
        let volumes = services
            .iter()
            .flat_map(|c| &c.mounts)
            .filter_map(|m| match m {
                container::MountPlan::Volume { volume, .. } => Some(*volume),
                _ => None,
            })
            .chain(database.as_ref().and_then(|d| d.volume))
            .filter(|v| valid.spec.volumes.contains_key(*v))
            .collect();
        Plan {
            valid,
            services,
            database,
            volumes,
        }
    }

    /// The container of the service `name`.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&container::Container<'v>> {
        self.services
            .binary_search_by(|c| c.name.cmp(name))
            .ok()
            .map(|i| &self.services[i])
    }
}
