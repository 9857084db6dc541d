//! What the spec means, below every stage that reads it: the names misp-gen reserves, the
//! embedded database's engines, effective replicas, ports by name, and placeholder expansion.
//! Validation, the plan and the renderers all ask these questions; they are answered here once.

use crate::placeholder::{self, DbField, Piece, Ref};
use crate::profile::Profile;
use crate::spec::model::{Engine, PortRef, Scaling, Scheme, Service, Spec};

/// Services may not take this name: `depends_on` and the embedded database use it.
pub const DATABASE: &str = "database";

/// The most data members a database cluster may have.
pub const MAX_CLUSTER_MEMBERS: u32 = 7;
/// The one-off service that elects and bootstraps a cluster member after a full outage.
pub const DATABASE_RECOVER: &str = "database-recover";
/// The Galera arbitrator (garbd) of a two-member cluster.
pub const DATABASE_ARBITRATOR: &str = "database-arbitrator";
/// The password of the cluster's health-check user, generated and kept like a spec's secrets.
pub const GALERA_MONITOR_SECRET: &str = "galera_monitor_password";

/// Whether a Galera cluster of `members` data members (and an arbitrator or not) keeps a
/// majority through the failure of one: 3, 5 or 7, or 2 with an arbitrator.
#[must_use]
pub fn cluster_size_allowed(members: u32, arbitrator: bool) -> bool {
    if arbitrator {
        members == 2
    } else {
        matches!(members, 3 | 5 | 7)
    }
}

/// The port of a replicated Redis: its members, its endpoint and the service's one port.
pub const REDIS_PORT: u16 = 6379;
/// The Sentinels of a replicated Redis, whatever its members.
pub const REDIS_SENTINELS: u32 = 3;
/// The most members a replicated Redis may have.
pub const MAX_REDIS_MEMBERS: u32 = 5;

/// Whether a replicated Redis of `members` members is allowed: 3 or 5.
#[must_use]
pub fn redis_members_allowed(members: u32) -> bool {
    matches!(members, 3 | 5)
}

/// Member `i`'s (from 1) name of the replicated Redis service `service`: `<service>-<i>`.
#[must_use]
pub fn redis_member(service: &str, i: u32) -> String {
    format!("{service}-{i}")
}

/// Sentinel `i`'s (from 1) name: `<service>-sentinel-<i>`.
#[must_use]
pub fn redis_sentinel(service: &str, i: u32) -> String {
    format!("{service}-sentinel-{i}")
}

/// The data volume of a replicated Redis member or Sentinel named `container`.
#[must_use]
pub fn redis_volume(container: &str) -> String {
    format!("{container}-data")
}

/// Every workload name a replicated Redis of `members` adds besides the endpoint (the
/// service's own name): the members, then the Sentinels.
#[must_use]
pub fn redis_service_names(service: &str, members: u32) -> Vec<String> {
    (1..=members)
        .map(|i| redis_member(service, i))
        .chain((1..=REDIS_SENTINELS).map(|i| redis_sentinel(service, i)))
        .collect()
}

/// Load balancer image used where misp-gen runs one itself (compose with a replicated edge).
pub const DEFAULT_LB_IMAGE: &str = "docker.io/library/haproxy:3.0.5";
/// Name of the load balancer service misp-gen adds; reserved.
pub const LB_SERVICE: &str = "edge-proxy";

/// How a target names hosts.
pub trait Naming {
    /// Host name under which other containers reach `service` (for the embedded database, its
    /// host name).
    fn service_host(&self, service: &str) -> String;
}

/// A resolved value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub text: String,
    /// It holds a secret's value: it must travel through the target's secret mechanism.
    pub secret: bool,
    /// The whole value is exactly one secret (`${secrets.S}`): targets can reference it directly.
    pub whole_secret: Option<String>,
}

/// The port an engine listens on.
#[must_use]
pub fn engine_port(e: Engine) -> u16 {
    match e {
        Engine::Mariadb | Engine::Mysql => 3306,
        Engine::Postgres => 5432,
    }
}

/// What placeholders read: the spec itself (validation), or the deployment model's owned copy
/// (the renderers, which never see the spec).
pub trait Lookup {
    /// `name:`.
    fn name(&self) -> &str;
    /// `${params.K}` as text.
    fn param(&self, key: &str) -> Option<String>;
    /// The database placeholders' values, when the spec has a database.
    fn database(&self) -> Option<DbLookup>;
    /// A service's ports, in order (`${services.S.port}` is the first).
    fn service_ports(&self, service: &str) -> Option<Vec<(String, u16)>>;
}

/// What `${database.*}` expands to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbLookup {
    /// The external server's host, as written (neutral placeholders in it expanded), or `None`
    /// for the embedded one.
    pub external_host: Option<String>,
    /// The embedded database's host name: `database.hostname`, else `database`.
    pub hostname: String,
    pub port: u16,
    pub name: String,
    pub user: String,
}

impl Lookup for Spec {
    fn name(&self) -> &str {
        &self.name
    }
    fn param(&self, key: &str) -> Option<String> {
        self.params.get(key).map(crate::spec::model::Scalar::text)
    }
    fn database(&self) -> Option<DbLookup> {
        let db = self.database.as_ref()?;
        Some(DbLookup {
            external_host: db.external.as_ref().map(|x| expand_neutral(self, &x.host)),
            hostname: db.hostname.clone().unwrap_or_else(|| DATABASE.to_owned()),
            port: db
                .external
                .as_ref()
                .and_then(|x| x.port)
                .unwrap_or_else(|| engine_port(db.engine)),
            name: db.name.clone(),
            user: db.user.clone(),
        })
    }
    fn service_ports(&self, service: &str) -> Option<Vec<(String, u16)>> {
        self.services
            .get(service)
            .map(|s| s.ports.iter().map(|p| (p.name.clone(), p.port)).collect())
    }
}

/// Expand placeholders that do not depend on a target or a secret (`${params.*}`, `${name}`).
/// Anything else is kept as written; validation has already ruled out what cannot appear.
#[must_use]
pub fn expand_neutral(spec: &dyn Lookup, text: &str) -> String {
    expand(spec, &|_| None, &Neutral, text).text
}

/// The names every target would agree on: a service by its name, the database as `database`.
pub struct Neutral;

impl Naming for Neutral {
    fn service_host(&self, service: &str) -> String {
        service.to_owned()
    }
}

/// Expand every placeholder of `text` for a target, secrets' values from `secret`.
#[must_use]
pub fn expand<'s>(
    spec: &dyn Lookup,
    secret_text: &dyn Fn(&str) -> Option<&'s str>,
    naming: &dyn Naming,
    text: &str,
) -> Resolved {
    // Most values hold no placeholder: nothing to parse.
    if !placeholder::has_placeholders(text) {
        return Resolved {
            text: text.to_owned(),
            secret: false,
            whole_secret: None,
        };
    }
    let Ok(pieces) = placeholder::parse(text) else {
        return Resolved {
            text: text.to_owned(),
            secret: false,
            whole_secret: None,
        };
    };
    let mut out = String::new();
    let mut secret = false;
    let whole_secret = match pieces.as_slice() {
        [Piece::Ref(Ref::Secret(s), _)] => Some(s.clone()),
        _ => None,
    };
    for p in pieces {
        match p {
            Piece::Lit(l) => out.push_str(&l),
            Piece::Ref(r, raw) => match r {
                Ref::Name => out.push_str(spec.name()),
                Ref::Param(k) => {
                    out.push_str(&spec.param(&k).map_or(raw, |v| placeholder::literal(&v)));
                }
                Ref::Secret(s) => {
                    secret = true;
                    out.push_str(secret_text(&s).unwrap_or_default());
                }
                Ref::Database(f) => {
                    let Some(db) = spec.database() else { continue };
                    match f {
                        DbField::Host => match db.external_host {
                            Some(h) => out.push_str(&h),
                            None => out.push_str(&naming.service_host(&db.hostname)),
                        },
                        DbField::Port => out.push_str(&db.port.to_string()),
                        DbField::Name => out.push_str(&db.name),
                        DbField::User => out.push_str(&db.user),
                    }
                }
                Ref::ServiceHost(s) => out.push_str(&naming.service_host(&s)),
                Ref::ServicePort(s) => {
                    if let Some((_, p)) = spec.service_ports(&s).and_then(|p| p.into_iter().next())
                    {
                        out.push_str(&p.to_string());
                    }
                }
                Ref::ServiceNamedPort(s, n) => {
                    if let Some((_, p)) = spec
                        .service_ports(&s)
                        .and_then(|p| p.into_iter().find(|(name, _)| *name == n))
                    {
                        out.push_str(&p.to_string());
                    }
                }
            },
        }
    }
    Resolved {
        text: out,
        secret,
        whole_secret,
    }
}

/// Effective replicas of a service under a profile.
#[must_use]
pub fn replicas(svc: &Service, profile: &Profile) -> u32 {
    match svc.scaling {
        Scaling::Singleton => svc.replicas.unwrap_or(1),
        Scaling::Replicable => svc.replicas.unwrap_or(profile.defaults.replicas),
    }
}

/// The official image of an engine.
#[must_use]
pub fn engine_image(e: Engine) -> &'static str {
    match e {
        Engine::Mariadb => "docker.io/library/mariadb",
        Engine::Mysql => "docker.io/library/mysql",
        Engine::Postgres => "docker.io/library/postgres",
    }
}

/// The embedded database's image, if one is deployed.
#[must_use]
pub fn database_image(spec: &Spec) -> Option<String> {
    let db = spec.database.as_ref()?;
    if db.external.is_some() {
        return None;
    }
    match (&db.image, &db.version) {
        (Some(i), _) => Some(i.clone()),
        (None, Some(v)) => Some(format!("{}:{v}", engine_image(db.engine))),
        (None, None) => None,
    }
}

/// The load balancer image.
#[must_use]
pub fn lb_image(spec: &Spec) -> String {
    spec.edge
        .as_ref()
        .and_then(|e| e.image.clone())
        .unwrap_or_else(|| DEFAULT_LB_IMAGE.to_owned())
}

/// The number of a port given by name or number (0 when the name is unknown; validation rules that out).
#[must_use]
pub fn port_number(svc: &Service, r: &PortRef) -> u16 {
    match r {
        PortRef::Number(n) => *n,
        PortRef::Name(n) => svc
            .ports
            .iter()
            .find(|p| &p.name == n)
            .map_or(0, |p| p.port),
    }
}

/// Whether the edge port speaks TLS: its healthcheck says https, or it is named or numbered so.
#[must_use]
pub fn port_is_https(svc: &Service, port: u16) -> bool {
    let by_check = svc
        .healthcheck
        .as_ref()
        .and_then(|h| h.http.as_ref())
        .is_some_and(|h| h.scheme == Scheme::Https && port_number(svc, &h.port) == port);
    let by_name = svc
        .ports
        .iter()
        .any(|p| p.port == port && p.name.contains("https"));
    by_check || by_name || port == 443
}

/// A target that writes a pull policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Puller {
    Compose,
    Kubernetes,
    Systemd,
}

/// The pull policy of a `bundle load` render when the site names none: the bundle has just put
/// every image into the engine, and the site may reach no registry.
pub const LOADED_BUNDLE_PULL: crate::spec::model::Pull = crate::spec::model::Pull::Never;

/// `images.pull` as a target writes it. Unset: `missing` where the engine runs the containers
/// (compose, systemd); `Always` on Kubernetes, where the kubelet checks the tag against the
/// registry on every start and still reuses cached layers.
#[must_use]
pub fn pull_policy(
    pull: Option<crate::spec::model::Pull>,
    target: Puller,
) -> crate::spec::model::Pull {
    use crate::spec::model::Pull;
    pull.unwrap_or(match target {
        Puller::Compose | Puller::Systemd => Pull::Missing,
        Puller::Kubernetes => Pull::Always,
    })
}

/// Whether `policy.registries` allows an image (no list: every registry).
#[must_use]
pub fn from_allowed_registry(pol: &crate::spec::model::Policy, r: &crate::image::ImageRef) -> bool {
    pol.registries.is_empty() || pol.registries.iter().any(|pre| r.under(pre))
}

/// Whether an image is pinned as `policy.require_digest` asks.
#[must_use]
pub fn pinned_as_required(pol: &crate::spec::model::Policy, r: &crate::image::ImageRef) -> bool {
    !pol.require_digest || r.digest.is_some()
}

/// A DNS-1123 label: lowercase letters, digits and `-`, starting and ending alphanumeric, at most 63.
#[must_use]
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// `4.6` → (4, 6).
#[must_use]
pub fn podman_version(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next().map_or(Some(0), |m| m.parse().ok())?;
    if it.any(|p| p.parse::<u32>().is_err()) {
        return None;
    }
    Some((major, minor))
}

/// The name of a database server setting as the rules compare it: lower case, `-` as `_`,
/// without the `loose_` prefix mariadb and mysql accept on any option.
#[must_use]
pub fn setting_key(name: &str) -> String {
    let k = name.to_ascii_lowercase().replace('-', "_");
    k.strip_prefix("loose_").map_or(k.clone(), str::to_owned)
}

/// Why misp-gen keeps a database server setting to itself, when it does (`None`: the user's).
#[must_use]
pub fn reserved_setting(engine: Engine, name: &str) -> Option<&'static str> {
    let k = setting_key(name);
    match engine {
        Engine::Mariadb | Engine::Mysql => {
            let plain = ["skip_", "enable_", "disable_"]
                .iter()
                .find_map(|p| k.strip_prefix(p))
                .unwrap_or(&k);
            if k.starts_with("wsrep_") || plain.starts_with("wsrep") {
                return Some("the Galera replication settings are misp-gen's");
            }
            match plain {
                "datadir" | "port" | "socket" | "bind_address" | "user" | "pid_file"
                | "basedir" | "networking" | "grant_tables" => {
                    Some("the data directory, port, socket, listen address and user are misp-gen's")
                }
                "defaults_file"
                | "defaults_extra_file"
                | "no_defaults"
                | "defaults_group_suffix" => {
                    Some("the configuration files the server reads are misp-gen's")
                }
                "binlog_format" | "default_storage_engine" | "innodb_autoinc_lock_mode" => {
                    Some("a Galera cluster needs the value misp-gen sets")
                }
                _ => None,
            }
        }
        Engine::Postgres => match k.as_str() {
            "data_directory"
            | "port"
            | "listen_addresses"
            | "unix_socket_directories"
            | "external_pid_file" => {
                Some("the data directory, port, socket and listen address are misp-gen's")
            }
            "config_file" | "hba_file" | "ident_file" => {
                Some("the configuration files the server reads are misp-gen's")
            }
            _ => None,
        },
    }
}

/// The command-line arguments that give the server `settings`, in name order.
#[must_use]
pub fn setting_args(
    engine: Engine,
    settings: &std::collections::BTreeMap<String, crate::spec::model::Scalar>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut sorted: Vec<(&String, &crate::spec::model::Scalar)> = settings.iter().collect();
    sorted.sort_by_key(|(k, _)| setting_key(k));
    for (k, v) in sorted {
        match engine {
            Engine::Mariadb | Engine::Mysql => {
                out.push(format!("--{}={}", k.replace('_', "-"), v.text()));
            }
            Engine::Postgres => {
                out.push("-c".to_owned());
                out.push(format!("{k}={}", v.text()));
            }
        }
    }
    out
}

/// Whether misp-gen sets the database container's env variable `name` itself (the engine's
/// name, user and password variables, the data directory, the cluster's own).
#[must_use]
pub fn reserved_db_env(name: &str) -> bool {
    let engine_var = ["MARIADB_", "MYSQL_", "POSTGRES_"]
        .iter()
        .any(|p| name.starts_with(p))
        && ["USER", "PASSWORD", "DATABASE", "ROOT"]
            .iter()
            .any(|w| name.contains(w));
    engine_var
        || name.starts_with("GALERA_")
        || matches!(name, "PGDATA" | "POSTGRES_DB" | "POSTGRES_DB_FILE")
}

/// The directory relative host paths are relative to, inside the deployment's directory on the
/// host (the compose project directory, the systemd install directory): a name misp-gen writes
/// nothing else under, so that the operator's directories never mix with its files.
pub const HOST_DIR: &str = "host";

/// A host mount's path as the targets write it: a relative path without `./` and trailing `/`
/// (`configs`), an absolute one without a trailing `/`.
#[must_use]
pub fn host_path(host: &str) -> String {
    let mut parts: Vec<&str> = host
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if host.starts_with('/') {
        parts.insert(0, "");
        if parts.len() == 1 {
            return "/".to_owned();
        }
    }
    parts.join("/")
}

/// The name of the Kubernetes claim that stands for a host path: `host-` and the path's letters
/// and digits, in lower case, other runs as `-` (`./configs` is `host-configs`).
#[must_use]
pub fn host_claim(host: &str) -> String {
    let mut slug = String::new();
    for c in host_path(host).chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "host".to_owned()
    } else {
        format!("host-{slug}")
    }
}

/// What keeps `h` from being a host mount's path on every target, in words (`None`: nothing):
/// characters a bind mount cannot carry, `..`, `~`, the whole file system or deployment
/// `host/` directory itself, a kernel or runtime interface or socket.
#[must_use]
pub fn host_problem(h: &str) -> Option<String> {
    let bad_char = h.chars().find(|c| {
        c.is_control()
            || c.is_whitespace()
            || matches!(c, '"' | '\'' | ':' | ',' | '%' | '$' | '\\')
    });
    let norm = host_path(h);
    let parts: Vec<&str> = norm.split('/').filter(|x| !x.is_empty()).collect();
    let absolute = h.starts_with('/');
    if h.is_empty() {
        Some("is empty".to_owned())
    } else if let Some(c) = bad_char {
        Some(format!(
            "holds `{}`, which a bind mount cannot carry on every target",
            c.escape_default()
        ))
    } else if h.split('/').any(|x| x == "..") {
        Some("holds `..`".to_owned())
    } else if h.starts_with('~') {
        Some("starts with `~`, which no target expands".to_owned())
    } else if parts.is_empty() {
        Some(if absolute {
            "is the host's whole file system".to_owned()
        } else {
            "names no directory inside the deployment's `host/` directory".to_owned()
        })
    } else if absolute
        && (matches!(parts[0], "proc" | "sys" | "dev" | "run")
            || (parts[0] == "var" && parts.get(1) == Some(&"run")))
    {
        Some("is a kernel or runtime interface of the host (its sockets and devices give a container the host)".to_owned())
    } else if h.to_ascii_lowercase().ends_with(".sock") {
        Some("is a socket (an engine's socket gives a container the host)".to_owned())
    } else {
        None
    }
}
