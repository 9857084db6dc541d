//! The embedded database as a `MariaDB` Galera cluster (`database.cluster`): its members, the
//! writer endpoint, the full-outage recovery one-off and the arbitrator, each planned as a
//! container, with the runtime files of `templates/database/galera/` (see its README) mounted
//! into them. Decided here once; a target renders these containers or refuses the cluster.

use super::container::{self, Check, Container, Health, MountPlan, Placement};
use crate::domain::{DATABASE, DATABASE_ARBITRATOR, DATABASE_RECOVER, GALERA_MONITOR_SECRET};
use crate::spec::model::{Port, Protocol, Restart, Spec};

/// Member `i`'s (from 1) name: `database-<i>`.
#[must_use]
pub fn cluster_member(i: u32) -> String {
    format!("{DATABASE}-{i}")
}

/// Member `i`'s data volume: the spec's database volume with the member's number
/// (`db_data-2`), else `database-<i>-data`.
#[must_use]
pub fn member_volume(volume: Option<&str>, i: u32) -> String {
    match volume {
        Some(v) => format!("{v}-{i}"),
        None => format!("{DATABASE}-{i}-data"),
    }
}

/// Every workload name a cluster of `members` adds besides the endpoint `database`.
#[must_use]
pub fn cluster_service_names(members: u32, arbitrator: bool) -> Vec<String> {
    let mut v: Vec<String> = (1..=members).map(cluster_member).collect();
    v.push(DATABASE_RECOVER.to_owned());
    if arbitrator {
        v.push(DATABASE_ARBITRATOR.to_owned());
    }
    v
}

/// How a joining member receives a full copy of the data.
pub const SST_METHOD: &str = "rsync";
/// Where each member's runtime scripts go.
pub const GALERA_DIR: &str = "/etc/galera";
/// Where `database-recover` finds each member's data volume (`<dir>/<member>`).
pub const RECOVER_DIR: &str = "/var/lib/galera";
/// The writer endpoint's `HAProxy` configuration in the official image.
pub const ENDPOINT_CONFIG: &str = "/usr/local/etc/haproxy/haproxy.cfg";
/// The endpoint's own readiness page (endpoint.cfg: `frontend health`).
pub const ENDPOINT_HEALTH_PORT: u16 = 8404;
/// A member's grace on stop: time for a clean leave (`safe_to_bootstrap` written).
pub const MEMBER_STOP_GRACE_MS: u64 = 30_000;
/// The line of endpoint.cfg that becomes one `server` line per member.
pub const SERVERS_MARK: &str = "#@servers@";
/// The line of endpoint.cfg that names Docker's DNS; on Kubernetes `parse-resolv-conf` instead.
pub const DOCKER_DNS_LINE: &str = "  nameserver dns 127.0.0.11:53";
/// The group of the official image's user `mysql`: owns what a member's user must read
/// (Kubernetes: the pod's `fsGroup`).
pub const MYSQL_GID: u64 = 999;
/// The ports a member is reached on: by clients and the endpoint (3306), by peers (Galera
/// replication 4567, IST 4568, SST 4444) and by the endpoint's check and peers' agents (9200).
pub const MEMBER_PORTS: [(&str, u16); 5] = [
    ("mysql", 3306),
    ("galera", 4567),
    ("ist", 4568),
    ("sst", 4444),
    ("agent", 9200),
];
/// Where a member's data is, in its container.
pub const MEMBER_DATADIR: &str = "/var/lib/mysql";

/// Where the endpoint's `HAProxy` finds the DNS server that resolves the members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dns {
    /// Docker's embedded DNS (127.0.0.11).
    Docker,
    /// The container's `/etc/resolv.conf` (`parse-resolv-conf`): the Kubernetes cluster DNS.
    ResolvConf,
}

/// The runtime files, embedded as they are in `templates/database/galera/`.
pub const GALERA_CNF: &str = include_str!("../../templates/database/galera/galera.cnf");
pub const INIT_USERS_SH: &str = include_str!("../../templates/database/galera/init-users.sh");
pub const MEMBER_SH: &str = include_str!("../../templates/database/galera/member.sh");
pub const AGENT_PL: &str = include_str!("../../templates/database/galera/agent.pl");
pub const HEALTH_SH: &str = include_str!("../../templates/database/galera/health.sh");
pub const RECOVER_SH: &str = include_str!("../../templates/database/galera/recover.sh");
pub const ENDPOINT_CFG: &str = include_str!("../../templates/database/galera/endpoint.cfg");

/// The cluster, every part a container as the targets run it.
#[derive(Debug, Clone)]
pub struct DbCluster {
    /// `wsrep_cluster_name`: the deployment's name.
    pub name: String,
    /// [`SST_METHOD`].
    pub sst_method: &'static str,
    /// The member names in order (`database-1` …): the first forms the cluster the first time.
    pub member_names: Vec<String>,
    /// Whether a Galera arbitrator (garbd) votes beside the members.
    pub arbitrator: bool,
    /// The data members, in order.
    pub members: Vec<Container>,
    /// The writer endpoint, named [`DATABASE`]: what `${database.host}` reaches.
    pub endpoint: Container,
    /// The one-off that elects and bootstraps a member after a full outage (run on demand).
    pub recover: Container,
    /// The arbitrator, when there is one.
    pub garbd: Option<Container>,
    /// How long a member may take to stop cleanly.
    pub stop_grace_ms: u64,
}

/// endpoint.cfg with its server lines: one per member, every one but the first a backup.
#[must_use]
pub fn endpoint_config(members: &[String]) -> String {
    endpoint_config_with(members, Dns::Docker)
}

/// endpoint.cfg with its server lines, resolving the members' names with `dns`.
#[must_use]
pub fn endpoint_config_with(members: &[String], dns: Dns) -> String {
    use std::fmt::Write as _;
    let servers = members
        .iter()
        .enumerate()
        .fold(String::new(), |mut out, (i, m)| {
            let backup = if i == 0 { "" } else { " backup" };
            let _ = writeln!(out, "  server {m} {m}:3306{backup}");
            out
        });
    let mut out = String::with_capacity(ENDPOINT_CFG.len() + servers.len());
    for line in ENDPOINT_CFG.lines() {
        if line == SERVERS_MARK {
            out.push_str(&servers);
        } else if line == DOCKER_DNS_LINE && dns == Dns::ResolvConf {
            out.push_str("  parse-resolv-conf\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The runtime files' names on Kubernetes: each is a `ConfigMap` `<name>-file-<file>`, whose name
/// is a DNS label: `galera/member.sh` becomes `galera-member-sh` (mounted at the same path).
pub fn kubernetes_file_names(mounts: &mut [MountPlan]) {
    for m in mounts {
        if let MountPlan::File { file, .. } = m {
            *file = file
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
        }
    }
}

/// A runtime file mounted read-only; its content is no placeholder text (escaped).
/// A runtime file written into the output and mounted read-only (its text taken literally: no
/// placeholder in it is expanded). Shared with `plan::redis`.
pub(super) fn file(name: impl Into<String>, path: impl Into<String>, content: &str) -> MountPlan {
    MountPlan::File {
        file: name.into(),
        path: path.into(),
        content: crate::placeholder::escape(content),
        mode: 0o644,
        mode_given: false,
    }
}

pub(super) fn literal(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), crate::placeholder::escape(v))
}

pub(super) fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// One container started from the database workload's settings: no ports, no health check, no
/// dependants waiting for it, placed on its own.
fn from_database(db: &Container, name: &str) -> Container {
    Container {
        name: name.to_owned(),
        title: format!("the database cluster's `{name}`"),
        replicas: 1,
        command: None,
        entrypoint: None,
        ports: Vec::new(),
        health: None,
        depends_on: Vec::new(),
        talks_to: std::collections::BTreeSet::new(),
        wait: None,
        healthy_first: false,
        cluster: None,
        placement: Placement {
            recreate: true,
            max_unavailable: 0,
            max_surge: 0,
            spread: crate::profile::Spread::None,
            min_available: None,
        },
        ..db.clone()
    }
}

/// The cluster of `spec`'s database, planned from its single-server workload `db` (image, env,
/// password files, hardening, resources), when the spec asks for one.
#[must_use]
#[expect(
    clippy::too_many_lines,
    reason = "the cluster's containers one after the other"
)]
pub fn plan(spec: &Spec, db: &Container) -> Option<DbCluster> {
    let sdb = spec.database.as_ref()?;
    let c = sdb.cluster.as_ref()?;
    // Validation allows 2 to 7; the cap only keeps an unvalidated model small.
    let count = c.members.min(crate::domain::MAX_CLUSTER_MEMBERS);
    let member_names: Vec<String> = (1..=count).map(cluster_member).collect();
    let list = member_names.join(",");
    let monitor_path = format!("{}/{GALERA_MONITOR_SECRET}", super::SECRET_FILES_DIR);
    // The monitor password is read by init-users.sh as the image's user `mysql`: mounted as a
    // readable copy, not as the entrypoint's root-only password files.
    let monitor = MountPlan::Secret {
        secret: GALERA_MONITOR_SECRET.to_owned(),
        path: super::SECRET_FILES_DIR.to_owned(),
        items: std::collections::BTreeMap::new(),
    };
    let members = member_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let volume = member_volume(sdb.volume.as_deref(), n);
            member(spec, db, (name, volume), (&list, &monitor_path), &monitor)
        })
        .collect();

    let mut recover = from_database(db, DATABASE_RECOVER);
    recover.entrypoint = Some(strings(&["bash", &format!("{GALERA_DIR}/recover.sh")]));
    recover.env = vec![
        literal("GALERA_MEMBERS", &list),
        literal("GALERA_RECOVER_DIR", RECOVER_DIR),
    ];
    recover.mounts = (1..=count)
        .zip(&member_names)
        .map(|(n, name)| MountPlan::Volume {
            volume: member_volume(sdb.volume.as_deref(), n),
            path: format!("{RECOVER_DIR}/{name}"),
            read_only: false,
            subdir: None,
        })
        .collect();
    recover.mounts.push(cnf());
    recover.mounts.push(file(
        "galera/recover.sh",
        format!("{GALERA_DIR}/recover.sh"),
        RECOVER_SH,
    ));
    recover.restart = Restart::No;
    recover.kind = container::Kind::OneOff;

    let garbd = c.arbitrator.then(|| {
        let mut g = from_database(db, DATABASE_ARBITRATOR);
        let peers: Vec<String> = member_names.iter().map(|m| format!("{m}:4567")).collect();
        g.command = Some(vec![
            "garbd".to_owned(),
            "--address".to_owned(),
            format!("gcomm://{}", peers.join(",")),
            "--group".to_owned(),
            crate::placeholder::escape(&spec.name),
        ]);
        g.env = Vec::new();
        g.mounts = Vec::new();
        g.mounts_rwo = false;
        g.restart = Restart::UnlessStopped;
        g.kind = container::Kind::LongRunning;
        g
    });

    let image = crate::domain::lb_image(spec);
    let mut endpoint = from_database(db, DATABASE);
    "the database cluster's writer endpoint".clone_into(&mut endpoint.title);
    "/database/cluster".clone_into(&mut endpoint.image_pointer);
    endpoint.image = image;
    endpoint.env = Vec::new();
    endpoint.user = None;
    endpoint.security = None;
    endpoint.mounts = vec![file(
        "galera/endpoint.cfg",
        ENDPOINT_CONFIG,
        &endpoint_config(&member_names),
    )];
    endpoint.mounts_rwo = false;
    endpoint.ports = vec![Port {
        name: "mysql".to_owned(),
        port: 3306,
        publish: None,
        protocol: Protocol::Tcp,
    }];
    endpoint.hardening = crate::hardening::effective(spec, None, None, &[3306]);
    endpoint.restart = Restart::UnlessStopped;
    endpoint.kind = container::Kind::LongRunning;
    // Healthy while a member is Primary and Synced (endpoint.cfg's `monitor fail`), timed as the
    // single server's check: dependants wait `database.wait` for the cluster to form.
    endpoint.health = db.health.as_ref().map(|h| Health {
        check: Check::Exec(strings(&[
            "bash",
            "-c",
            &format!(
                "exec 3<>/dev/tcp/127.0.0.1/{ENDPOINT_HEALTH_PORT} && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && IFS= read -r l <&3 && [[ $l == *' 200 '* ]]"
            ),
        ])),
        timeout_ms: 5_000,
        ..h.clone()
    });
    endpoint.wait = db.wait;
    endpoint.healthy_first = db.healthy_first;
    endpoint.resources = container::Limits::default();

    Some(DbCluster {
        name: spec.name.clone(),
        sst_method: SST_METHOD,
        member_names,
        arbitrator: c.arbitrator,
        members,
        endpoint,
        recover,
        garbd,
        stop_grace_ms: MEMBER_STOP_GRACE_MS,
    })
}

/// One data member: the database's image, env, password files, hardening and resources, with
/// the cluster's env, its own data volume and the runtime files.
fn member(
    spec: &Spec,
    db: &Container,
    (name, volume): (&str, String),
    (list, monitor_path): (&str, &str),
    monitor: &MountPlan,
) -> Container {
    let mut m = from_database(db, name);
    // member.sh appends its arguments to mariadbd's: the database's `settings`.
    let mut command = strings(&["bash", &format!("{GALERA_DIR}/member.sh")]);
    command.extend(db.command.iter().flatten().cloned());
    m.command = Some(command);
    let mut env = vec![
        literal("GALERA_MEMBERS", list),
        literal("GALERA_SELF", name),
        literal("GALERA_CLUSTER_NAME", &spec.name),
        literal("GALERA_SST_METHOD", SST_METHOD),
        literal("GALERA_MONITOR_PASSWORD_FILE", monitor_path),
    ];
    env.extend(db.env.iter().cloned());
    m.env = env;
    let mut mounts = vec![MountPlan::Volume {
        volume,
        path: "/var/lib/mysql".to_owned(),
        read_only: false,
        subdir: None,
    }];
    mounts.extend(
        db.mounts
            .iter()
            .filter(|x| matches!(x, MountPlan::SecretFile { .. }))
            .cloned(),
    );
    mounts.push(monitor.clone());
    mounts.push(cnf());
    mounts.push(file(
        "galera/init-users.sh",
        "/docker-entrypoint-initdb.d/galera-users.sh",
        INIT_USERS_SH,
    ));
    mounts.push(file(
        "galera/member.sh",
        format!("{GALERA_DIR}/member.sh"),
        MEMBER_SH,
    ));
    mounts.push(file(
        "galera/agent.pl",
        format!("{GALERA_DIR}/agent.pl"),
        AGENT_PL,
    ));
    mounts.push(file(
        "galera/health.sh",
        format!("{GALERA_DIR}/health.sh"),
        HEALTH_SH,
    ));
    m.mounts = mounts;
    m.mounts_rwo = true;
    // The database's `restart`.
    m.restart = db.restart;
    // Primary and Synced; no dependant waits on a member (they reach the endpoint), and
    // no member waits on another (a health-gated start deadlocks after a full outage).
    m.health = Some(Health {
        check: Check::Exec(strings(&[
            "bash",
            &format!("{GALERA_DIR}/health.sh"),
            "ready",
        ])),
        interval_ms: 5_000,
        timeout_ms: 6_000,
        retries: 3,
        start_period_ms: 0,
    });
    m
}

/// galera.cnf, mounted into the members and `database-recover`.
fn cnf() -> MountPlan {
    file(
        "galera/galera.cnf",
        "/etc/mysql/conf.d/galera.cnf",
        GALERA_CNF,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins endpoint.cfg's server lines: in member order, the first the writer, the rest backups.
    #[test]
    fn endpoint_servers() {
        let cfg = endpoint_config(&["database-1".into(), "database-2".into()]);
        assert!(cfg.contains(
            "  server database-1 database-1:3306\n  server database-2 database-2:3306 backup\n"
        ));
        assert!(cfg.lines().all(|l| l != SERVERS_MARK));
        assert!(cfg.lines().any(|l| l == DOCKER_DNS_LINE));
    }

    // Pins the Kubernetes variant: the cluster DNS from resolv.conf, never Docker's.
    #[test]
    fn endpoint_resolv_conf() {
        let cfg = endpoint_config_with(&["a-0.h.ns.svc.cluster.local".into()], Dns::ResolvConf);
        assert!(cfg.contains("\n  parse-resolv-conf\n"));
        assert!(!cfg.contains("127.0.0.11"));
        assert!(
            cfg.contains("  server a-0.h.ns.svc.cluster.local a-0.h.ns.svc.cluster.local:3306\n")
        );
    }
}
