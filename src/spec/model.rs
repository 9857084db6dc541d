//! The typed spec model. Its `///` comments become the JSON Schema's descriptions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A misp-gen deployment spec (apiVersion misp-gen/v1).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "misp-gen deployment spec v1")]
pub struct Spec {
    /// Spec format version; must be exactly `misp-gen/v1`.
    #[serde(rename = "apiVersion")]
    #[schemars(extend("const" = "misp-gen/v1"))]
    pub api_version: String,
    /// Deployment name: a DNS-1123 label (lowercase letters, digits, `-`; at most 63). Prefix of every generated object name.
    pub name: String,
    /// Application version, used only as a label or annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Default profile (`single-node`, `ha`, or a path); `--profile` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Free scalars, referenced as `${params.KEY}`. A value is literal text: nothing in it is
    /// expanded (`$${` is a literal `${`; any other `${` is refused).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Scalar>,
    /// Secrets: generated once and kept in `OUT/secrets/`, or supplied by the operator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    /// Named persistent volumes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    /// The database, deployed alongside or external.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    /// The containers of the deployment, by DNS-1123 name.
    pub services: BTreeMap<String, Service>,
    /// Configuration files rendered into the stack, placeholders expanded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, File>,
    /// The way in for users: a load balancer or ingress in front of one service port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<Edge>,
    /// Image policy, checked by `validate` (for CI and air-gapped installs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// Image handling: registry mirror and pull policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Images>,
    /// Hardening defaults for every service and the embedded database; a service's own
    /// `security:` overrides them field by field (its `accept` reasons are added to these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    /// Per-target settings.
    #[serde(default)]
    pub targets: Targets,
    /// Per-profile overlays, merged on top of this spec by JSON Merge Patch (RFC 7386): maps merge,
    /// `null` deletes, everything else replaces.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// A string, number or boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    String(String),
    Bool(bool),
    Number(serde_json::Number),
}

impl Scalar {
    /// The text a placeholder expands to.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Scalar::String(s) => s.clone(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Number(n) => n.to_string(),
        }
    }
}

/// How a secret gets its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Generate {
    /// Letters and digits only, `length` characters.
    Password,
    /// `length` random bytes, hex-encoded.
    Hex,
    /// `length` random bytes, base64-encoded.
    Base64,
    /// A self-signed CA and a leaf certificate for `hosts`.
    Tls,
}

/// Key algorithm of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    #[default]
    EcdsaP256,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

/// A secret: exactly one of `generate` or `external: true`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// Generate the value once: password, hex, base64 or tls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Generate>,
    /// Password: characters; hex and base64: bytes of entropy. Default 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 8, max = 4096))]
    pub length: Option<u32>,
    /// TLS: the DNS names or IP addresses the leaf certificate is for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// TLS: validity of the leaf in days (default 825).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36500))]
    pub days: Option<u32>,
    /// TLS: key algorithm (default ecdsa-p256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyKind>,
    /// Supplied by the operator: from `MISP_GEN_SECRET_<NAME>` or an existing `OUT/secrets/<name>` file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// With `external: true`: the operator may leave it out (an SMTP relay without a password).
    /// When neither `MISP_GEN_SECRET_<NAME>` nor `OUT/secrets/<name>` gives a value, `render` uses
    /// the empty text (and says so) instead of failing. Not for the database's or a replicated
    /// Redis's password.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// The files of a TLS set, in key order: what it mounts and what its Kubernetes Secret holds.
pub const TLS_FILES: [&str; 3] = ["ca.crt", "tls.crt", "tls.key"];

impl Secret {
    /// Whether the secret is a TLS set (a CA and a leaf, the files [`TLS_FILES`]) rather than one
    /// text value. Validation, generation and every target ask the spec this, never the value.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.generate == Some(Generate::Tls)
    }
}

/// A named persistent volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Requested size, a Kubernetes quantity such as `20Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Mounted by several replicas at once (`ReadWriteMany`, NFS). Must support file locks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    /// systemd and compose: a network file system to mount, e.g. `{ type: nfs, device: ":/export/misp", o: "addr=10.0.0.5,nfsvers=4" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
}

/// Database engines with a built-in mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Mariadb,
    Mysql,
    Postgres,
}

/// The database, first-class: deployed as a service, or an external server.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// mariadb, mysql or postgres.
    pub engine: Engine,
    /// Tag of the engine's official image (`docker.io/library/<engine>:<version>`). Quote it: "10.11".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The full image reference, instead of `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Database name.
    pub name: String,
    /// Application user.
    pub user: String,
    /// Name of the secret holding the user's password.
    pub password: String,
    /// Name of the secret holding the root password (mariadb/mysql).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password: Option<String>,
    /// Volume for the data directory (embedded database only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// The host name the deployment reaches the embedded database by, and `${database.host}`
    /// resolves to, on every target (default `database`): a network alias of the compose service
    /// `database` and of the systemd container, the name of the Kubernetes Service. Set it to
    /// the name an image expects by default (e.g. `db`). Lowercase letters, digits and `-`,
    /// starting with a letter (at most 63); not a service's name; not with `external`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Use an existing server; deploy none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalDb>,
    /// Deploy a replicated `MariaDB` Galera cluster instead of one server (mariadb only): 3, 5 or
    /// 7 members, or 2 with `arbitrator: true`. `${database.host}`/`${database.port}` reach the
    /// current writer through the endpoint `database`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<DbCluster>,
    /// How long dependants wait for the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    /// Resources of the embedded database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Hardening of the embedded database (the official images start as root and drop to their
    /// own user: the default capability set covers that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    /// Server settings of the embedded database, given on the server's command line (and to
    /// every member of a `cluster`): `{ innodb_buffer_pool_size: 2G }` is
    /// `--innodb-buffer-pool-size=2G` for mariadb and mysql, `{ shared_buffers: 1GB }` is
    /// `-c shared_buffers=1GB` for postgres. Names are the server's (lower case, `_` or `-`);
    /// values are literal text. What misp-gen decides itself is refused: the data directory,
    /// port, socket and listen address, the user, and for mariadb every `wsrep_*` setting and
    /// the Galera requirements (`binlog_format`, `default_storage_engine`,
    /// `innodb_autoinc_lock_mode`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, Scalar>,
    /// Environment of the embedded database's container (e.g. `TZ`), beside the variables
    /// misp-gen sets for the engine (name, user, passwords; refused here). Values are literal
    /// text: nothing in them is expanded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Scalar>,
    /// Restart policy of the embedded database (default unless-stopped), as a service's
    /// `restart`; a cluster's members follow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
}

/// A replicated embedded database: a `MariaDB` Galera cluster.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DbCluster {
    /// Data-bearing members: 3, 5 or 7; or 2 with `arbitrator: true`. Each keeps a full copy of
    /// the data in a volume of its own.
    pub members: u32,
    /// Add a Galera arbitrator (garbd): a member that votes and keeps no data, so that two data
    /// members keep a majority when one of them fails. Only with `members: 2`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub arbitrator: bool,
}

/// An existing database server.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalDb {
    /// Host name or address.
    pub host: String,
    /// Port (default: the engine's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
}

/// Waiting for the database.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// Give up after this long (default 90s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Time between tries (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// replicable: any number of replicas; singleton: exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    #[default]
    Replicable,
    Singleton,
}

/// Restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    Always,
    #[default]
    UnlessStopped,
    OnFailure,
    No,
}

/// A container of the deployment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Image with an explicit tag or an `@sha256:` digest; no tag or `:latest` is an error.
    pub image: String,
    /// replicable (default) or singleton (replicas must be 1).
    #[serde(default)]
    pub scaling: Scaling,
    /// Replicas; the profile gives the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<u32>,
    /// Replaces the image's CMD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Replaces the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The user the container runs as: `UID[:GID]` or a user name (Kubernetes needs numbers).
    /// Unset, the image's own user, which is root for images that start as root and drop
    /// privileges themselves. `security.run_as_non_root` holds it to a non-root UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The directory the process starts in: an absolute path in the container. Unset, the
    /// image's own (`WORKDIR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^/[^\u0000-\u001f\u007f]*$"), length(max = 4096))]
    pub working_dir: Option<String>,
    /// Environment; values may hold placeholders. A value with `${secrets.…}` goes through each target's secret mechanism.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Scalar>,
    /// Container ports, each with a name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Volumes, secrets, files and scratch space mounted into the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// How to tell the service is up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// Start after these services (or `database`): started, healthy or completed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Condition>,
    /// CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Restart policy (default unless-stopped).
    #[serde(default)]
    pub restart: Restart,
    /// Hardening: what the container may do. Overrides the top-level `security:` field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    /// Run this service, a Redis on port 6379 in the official `redis` image, as a replicated
    /// Redis: `members` Redis servers (`<name>-1` …, one the primary), three Sentinels
    /// (`<name>-sentinel-1` … `-3`) that promote a replica when the primary fails, and an
    /// endpoint under the service's own name and port that always forwards to the current
    /// primary, so `${services.<name>.host}` needs no change. The replication setup decides
    /// the command, user, health check, restart policy and data (a volume per member and
    /// Sentinel): setting those here is an error. The service gives the image, its one port,
    /// `env`, `resources` and `security`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicated: Option<Replicated>,
}

/// A replicated Redis: a primary, replicas and three Sentinels behind one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replicated {
    /// Redis servers, each with a full copy of the data in a volume of its own: 3 or 5. Three
    /// keep taking writes with one down.
    pub members: u32,
    /// Name of the secret holding the password of the members, the Sentinels and the endpoint
    /// (`requirepass`, `masterauth`): what clients send with `AUTH`. A text secret (not tls).
    pub password: String,
}

/// Hardening of a container. The defaults are safe and every image can live with them:
/// no privilege escalation, the runtime's default seccomp profile, every capability dropped but
/// a default set (none for a non-root `user`; for an image that starts as root and drops
/// privileges itself: `CHOWN`, `DAC_OVERRIDE`, `FOWNER`, `KILL`, `SETGID`, `SETUID`, and
/// `NET_BIND_SERVICE` when it listens below 1024). What only the user can decide is opt-in: a read-only root file
/// system, a non-root user, user namespaces, and the reasons for the exceptions that remain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// Processes cannot gain privileges (setuid binaries, file capabilities). Default true;
    /// `false` needs a reason in `accept.privilege_escalation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_new_privileges: Option<bool>,
    /// `runtime-default` (default): the container runtime's default seccomp profile;
    /// `unconfined` needs a reason in `accept.seccomp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<Seccomp>,
    /// The whole capability set, replacing the default set: the capabilities added back after
    /// dropping them all, without `CAP_` (`[CHOWN, SETUID]`); `[]` for none. Not in the same
    /// block as `cap_add` or `cap_drop`, which then change this set instead of the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// Capabilities added to the default set (or to `capabilities`), as Compose's `cap_add`:
    /// `[AUDIT_WRITE]` keeps the default set and adds `AUDIT_WRITE`. Names without `CAP_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_add: Option<Vec<String>>,
    /// Capabilities removed from the default set (or from `capabilities`), as Compose's
    /// `cap_drop`; `[ALL]` removes them all, leaving only `cap_add`. Removed first, then added:
    /// a name in both lists is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_drop: Option<Vec<String>>,
    /// Mount the root file system read-only; the paths in `writable` (and scratch mounts) are
    /// the places it can still write. Default false: many images write into their own tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// With `read_only`: absolute paths mounted as empty, writable scratch space (tmpfs,
    /// `emptyDir`), e.g. `/run`, `/var/cache/nginx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writable: Option<Vec<String>>,
    /// Refuse to start as root: `user` must be a numeric UID other than 0 (Kubernetes also
    /// enforces `runAsNonRoot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// Run in a user namespace of its own, so root in the container is an unprivileged user on
    /// the host: Kubernetes `hostUsers: false` (1.33+, or the `UserNamespacesSupport` gate, and a
    /// runtime with idmapped mounts), Quadlet `UserNS=auto`, podman `--userns=auto`. Docker and
    /// compose have no per-container setting: the daemon's `userns-remap` decides there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_namespaces: Option<bool>,
    /// Exceptions the user accepts, each with the reason, which misp-gen writes next to the
    /// checker's skip annotation (checkov's `checkov.io/skipN`). Keys: `image_tag`, `root`,
    /// `low_uid`, `capabilities`, `writable_root`, `secret_env`, `host_port`,
    /// `privilege_escalation`, `seccomp`, `no_healthcheck`, `no_limits`. A reason also silences
    /// the matching `validate` warning (`W100`–`W108`, `W110`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accept: BTreeMap<Exception, String>,
}

/// The seccomp profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Seccomp {
    #[default]
    RuntimeDefault,
    Unconfined,
}

/// An exception to the hardening that only the user can accept.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Exception {
    /// The image is pinned by tag, not by `@sha256:` digest.
    ImageTag,
    /// The container starts as root (its entrypoint drops privileges itself).
    Root,
    /// It runs as a UID below 10000, which may exist on the host, without a user namespace.
    LowUid,
    /// Capabilities are added back after dropping them all.
    Capabilities,
    /// The root file system stays writable.
    WritableRoot,
    /// Secrets reach it as environment variables (the image reads no `_FILE` variant).
    SecretEnv,
    /// A port is published on the host (`publish`).
    HostPort,
    /// `no_new_privileges: false`.
    PrivilegeEscalation,
    /// `seccomp: unconfined`.
    Seccomp,
    /// No `healthcheck`: nothing tells the orchestrator the service is alive or ready.
    NoHealthcheck,
    /// No CPU or memory limit (`resources`): one container can starve the others on its host.
    NoLimits,
}

impl Exception {
    /// Every exception, in order.
    pub const ALL: &'static [Exception] = &[
        Exception::ImageTag,
        Exception::Root,
        Exception::LowUid,
        Exception::Capabilities,
        Exception::WritableRoot,
        Exception::SecretEnv,
        Exception::HostPort,
        Exception::PrivilegeEscalation,
        Exception::Seccomp,
        Exception::NoHealthcheck,
        Exception::NoLimits,
    ];

    /// The name in the spec.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Exception::ImageTag => "image_tag",
            Exception::Root => "root",
            Exception::LowUid => "low_uid",
            Exception::Capabilities => "capabilities",
            Exception::WritableRoot => "writable_root",
            Exception::SecretEnv => "secret_env",
            Exception::HostPort => "host_port",
            Exception::PrivilegeEscalation => "privilege_escalation",
            Exception::Seccomp => "seccomp",
            Exception::NoHealthcheck => "no_healthcheck",
            Exception::NoLimits => "no_limits",
        }
    }
}

/// A named container port.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Port name (IANA service-name style: lowercase letters, digits, `-`, at most 15).
    pub name: String,
    /// Container port.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Host port on a single host, or load-balancer port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub publish: Option<u16>,
    /// tcp (default) or udp.
    #[serde(default)]
    pub protocol: Protocol,
}

/// Transport protocol.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

/// A mount: exactly one of `volume`, `host`, `secret`, `file` or `scratch`, and a `path`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Name of a volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// A directory or file of the host, bind-mounted (`./configs`, `/srv/misp/ssl`). A relative
    /// path (without `..`) is relative to the deployment's `host/` directory, so that the
    /// rendered output can be copied to another machine and never mixes with misp-gen's own
    /// files: on compose `host/` in the project directory (`OUT/compose/host/`, next to
    /// `compose.yaml`), on systemd `host/` in `targets.systemd.install_dir`. Compose and docker
    /// create a missing directory; podman refuses to start without it. On Kubernetes a node's
    /// directory is no place for data (and `hostPath` would need Pod Security `privileged`):
    /// each host path becomes a `PersistentVolumeClaim` `host-<path>`, into which the operator
    /// copies the directory's content (`validate` warns, W109).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Host mounts: let the engine relabel the content for `SELinux`: `private` (`:Z`, this
    /// container only) or `shared` (`:z`, every container that mounts it). Unset: no relabel.
    /// Not for system directories (`/`, `/etc`, `/usr`, `/home`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<Relabel>,
    /// Name of a secret; mounted as a read-only directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Name of a file from `files:`; mounted read-only at `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Empty, writable, not persisted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scratch: bool,
    /// Absolute path in the container.
    pub path: String,
    /// Secret mounts: which files appear, renamed (`{ tls.key: misp.key }`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub items: BTreeMap<String, String>,
    /// Volume and host mounts: mount read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// `SELinux` relabelling of a host mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Relabel {
    /// `:Z`: a label private to this container.
    Private,
    /// `:z`: a label every container may share.
    Shared,
}

impl Relabel {
    /// The bind-mount option (`Z` or `z`).
    #[must_use]
    pub fn option(self) -> &'static str {
        match self {
            Relabel::Private => "Z",
            Relabel::Shared => "z",
        }
    }
}

/// A service's port, by name or number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

/// A health check: exactly one of `http`, `tcp` or `exec`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// An HTTP GET that must answer 2xx/3xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// A TCP connect to this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<PortRef>,
    /// A command run in the container; exit 0 is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// Time between checks (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Time one check may take (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Failures in a row before unhealthy (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub retries: Option<u32>,
    /// Grace time after start during which failures do not count (default 0s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
}

/// HTTP health check.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// Request path, starting with `/`.
    pub path: String,
    /// Port by name or number.
    pub port: PortRef,
    /// http (default) or https (certificate not verified).
    #[serde(default)]
    pub scheme: Scheme,
}

/// URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

/// A `depends_on` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    /// The dependency has started.
    Started,
    /// The dependency passes its healthcheck.
    Healthy,
    /// The dependency ran to completion with exit 0.
    Completed,
}

/// CPU and memory (limits; Kubernetes requests are derived).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPUs, a quantity like "1" or "500m".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory, a quantity like "2Gi".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

/// A configuration file rendered into the stack.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// The text; placeholders are expanded. With `${secrets.…}` the file is kept under `OUT/secrets/`.
    pub content: String,
    /// Octal file mode, quoted: "0644".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The way in for users.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// The service users reach.
    pub service: String,
    /// Its port, by name or number.
    pub port: PortRef,
    /// Public host name.
    pub host: String,
    /// Secret (generate: tls) with the certificate shown to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Redirect plain HTTP to HTTPS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redirect_http: bool,
    /// Largest request body, like `512m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_size: Option<String>,
    /// Image of the load balancer misp-gen runs where the target has none (compose with a
    /// replicated edge service). Default `docker.io/library/haproxy:3.0.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Image policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Allowed registry/organisation prefixes, e.g. `docker.io/jisccti`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<String>,
    /// Every image must be pinned by `@sha256:` digest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_digest: bool,
}

/// When images are pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pull {
    Never,
    #[default]
    Missing,
    Always,
}

/// Image handling.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Images {
    /// Registry mirror `HOST[:PORT][/PATH]` that replaces every image's registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// never, missing or always. Unset: `missing` on compose and systemd, `Always` on Kubernetes
    /// (the kubelet then checks the tag against the registry on every start and still reuses
    /// cached layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<Pull>,
}

/// Per-target settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub compose: ComposeTarget,
    #[serde(default)]
    pub kubernetes: KubernetesTarget,
    #[serde(default)]
    pub systemd: SystemdTarget,
}

/// docker compose settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComposeTarget {
    /// Compose project name (default: the spec's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// Kubernetes settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesTarget {
    /// Namespace of every object (default: the spec's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Storage class of `ReadWriteOnce` claims (default: the cluster's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Storage class of `ReadWriteMany` claims for `shared` volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_storage_class: Option<String>,
    /// Ingress class of the edge (default nginx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_class: Option<String>,
    /// How `publish` reaches a pod (default `load-balancer`): `load-balancer` a `LoadBalancer`
    /// Service per service with published ports, on the published port (k3s's `ServiceLB`, `MetalLB`,
    /// `minikube tunnel`, a cloud's balancer); `node-port` a `NodePort` Service whose node port is
    /// the published one (30000-32767); `host-port` a `hostPort` on the pod, which Pod Security
    /// baseline forbids, so its namespace enforces `privileged`; `none` nothing: the Ingress is the
    /// only way in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<Publish>,
    /// Older spelling of `publish`: `true` is `host-port`, `false` is `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ports: Option<bool>,
    /// The Pod Security level the namespace enforces (default: the strictest level every pod
    /// meets). A level the pods cannot meet is an error that names the field that breaks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecurity>,
    /// How a pod waits for what it `depends_on` (default `init`): `init` runs a wait init
    /// container per dependency before the pod's containers start; `none` starts them at once and
    /// relies on the service's own retries and probes (for images without a shell, such as
    /// distroless or scratch images, when no `wait_image` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waits: Option<Waits>,
    /// Image that runs the wait init containers (default: the dependant's own image, so that an
    /// air-gapped site needs no extra image). It needs `sh`, `date`, `expr`, `sleep`, and `nc` or a
    /// bash with `/dev/tcp` (healthy) or `getent` or `nslookup` (started): any busybox image has
    /// them. `misp-gen images` lists it and `images.mirror` rewrites it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_image: Option<String>,
}

impl KubernetesTarget {
    /// How `publish` reaches a pod: `publish`, else the older `host_ports`, else `load-balancer`.
    #[must_use]
    pub fn publish_mode(&self) -> Publish {
        self.publish.unwrap_or(match self.host_ports {
            Some(true) => Publish::HostPort,
            Some(false) => Publish::None,
            None => Publish::LoadBalancer,
        })
    }
}

/// How `publish` reaches a pod on Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Publish {
    /// A `LoadBalancer` Service on the published port.
    #[default]
    LoadBalancer,
    /// A `NodePort` Service whose node port is the published one (30000-32767).
    NodePort,
    /// A `hostPort` on the pod (Pod Security `privileged`).
    HostPort,
    /// Not published: the Ingress is the way in.
    None,
}

/// A Pod Security Standards level, from the loosest to the strictest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurity {
    Privileged,
    Baseline,
    Restricted,
}

impl PodSecurity {
    /// The label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurity::Privileged => "privileged",
            PodSecurity::Baseline => "baseline",
            PodSecurity::Restricted => "restricted",
        }
    }
}

/// How Kubernetes pods wait for their dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Waits {
    /// A wait init container per dependency.
    #[default]
    Init,
    /// No wait: the service's own retries and probes cover start order.
    None,
}

/// systemd unit flavour.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Podman Quadlet files (.container, .volume, .network)
    #[default]
    Quadlet,
    /// plain .service units running podman
    Podman,
    /// plain .service units running docker
    Docker,
}

/// systemd settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemdTarget {
    /// quadlet (default), podman or docker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<Flavor>,
    /// Oldest podman the units must run on (default "4.6"); newer keys are downgraded or refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podman_version: Option<String>,
    /// Where the operator installs `OUT/secrets/` and `OUT/systemd/files/` on the host; the units
    /// reference secret and config files there (default `/etc/misp-gen/<name>`). An absolute path
    /// without whitespace, quotes, `:`, `,`, `%`, `$` or a backslash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_dir: Option<String>,
}
