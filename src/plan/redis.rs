//! A replicated Redis (`services.<name>.replicated`): its members, its three Sentinels and the
//! endpoint that keeps the service's own name and port, each planned as a container, with the
//! runtime files of `templates/redis/replicated/` (see its README) mounted into them. Decided
//! here once; a target renders these containers or refuses the replicated Redis.

use super::cluster::{file, literal, strings};
use super::container::{self, Check, Container, Health, MountPlan, Placement};
use crate::domain::{REDIS_PORT, REDIS_SENTINELS, redis_member, redis_sentinel, redis_volume};
use crate::spec::model::{Restart, Spec};

/// Where the members' and Sentinels' runtime files go (the official image's config directory).
pub const REDIS_DIR: &str = "/usr/local/etc/redis";
/// The endpoint's `HAProxy` configuration in the official image.
pub const ENDPOINT_CONFIG: &str = "/usr/local/etc/haproxy/haproxy.cfg";
/// The endpoint's start script.
pub const ENDPOINT_SH_PATH: &str = "/usr/local/etc/haproxy/endpoint.sh";
/// The endpoint's own readiness page (endpoint.cfg: `frontend health`, `monitor-uri /ready`).
pub const ENDPOINT_HEALTH_PORT: u16 = 8404;
/// Where a member or Sentinel keeps its data (the image's `WORKDIR` and `VOLUME`).
pub const DATA_DIR: &str = "/data";
/// A primary that answers no PING for this long is down (`down-after-milliseconds`).
pub const DOWN_AFTER_MS: u64 = 3_000;
/// Sentinel's `failover-timeout`.
pub const FAILOVER_TIMEOUT_MS: u64 = 10_000;
/// The line of endpoint.cfg that becomes one `server` line per member.
pub const SERVERS_MARK: &str = "#@servers@";

/// The runtime files, embedded as they are in `templates/redis/replicated/`.
pub const MEMBER_CONF: &str = include_str!("../../templates/redis/replicated/member.conf");
pub const MEMBER_SH: &str = include_str!("../../templates/redis/replicated/member.sh");
pub const SENTINEL_CONF: &str = include_str!("../../templates/redis/replicated/sentinel.conf");
pub const SENTINEL_SH: &str = include_str!("../../templates/redis/replicated/sentinel.sh");
pub const HEALTH_SH: &str = include_str!("../../templates/redis/replicated/health.sh");
pub const ENDPOINT_CFG: &str = include_str!("../../templates/redis/replicated/endpoint.cfg");
pub const ENDPOINT_SH: &str = include_str!("../../templates/redis/replicated/endpoint.sh");

/// A replicated Redis, every part a container as the targets run it.
#[derive(Debug, Clone)]
pub struct RedisSet {
    /// The member names in order (`redis-1` …): the first is the primary of the first start.
    pub member_names: Vec<String>,
    /// The Sentinel names in order (`redis-sentinel-1` … `-3`).
    pub sentinel_names: Vec<String>,
    /// The secret holding the password (`replicated.password`).
    pub password: String,
    /// The members, in order.
    pub members: Vec<Container>,
    /// The Sentinels, in order.
    pub sentinels: Vec<Container>,
    /// The endpoint, under the service's own name and port: what `${services.<name>.host}`
    /// reaches.
    pub endpoint: Container,
}

/// endpoint.cfg with its server lines: one per member, in order.
#[must_use]
pub fn endpoint_config(members: &[String]) -> String {
    use std::fmt::Write as _;
    let servers = members.iter().fold(String::new(), |mut out, m| {
        let _ = writeln!(out, "  server {m} {m}:{REDIS_PORT}");
        out
    });
    let mut out = String::with_capacity(ENDPOINT_CFG.len() + servers.len());
    for line in ENDPOINT_CFG.lines() {
        if line == SERVERS_MARK {
            out.push_str(&servers);
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// One container started from the service's settings: no ports, no dependencies, placed on
/// its own, restarted unless stopped (a Sentinel exits while its primary's name does not
/// resolve yet).
fn from_service(svc: &Container, name: &str, what: &str) -> Container {
    Container {
        name: name.to_owned(),
        title: format!("the replicated Redis `{}`'s {what} `{name}`", svc.name),
        replicas: 1,
        singleton: true,
        command: None,
        entrypoint: None,
        user: None,
        working_dir: None,
        ports: Vec::new(),
        health: None,
        depends_on: Vec::new(),
        talks_to: std::collections::BTreeSet::new(),
        wait: None,
        healthy_first: false,
        restart: Restart::UnlessStopped,
        kind: container::Kind::LongRunning,
        cluster: None,
        replicated: None,
        placement: Placement {
            recreate: true,
            max_unavailable: 0,
            max_surge: 0,
            spread: crate::profile::Spread::None,
            min_available: None,
        },
        ..svc.clone()
    }
}

/// The replicated Redis of service `svc` (its planned single container), when the spec asks for
/// one.
#[must_use]
#[expect(
    clippy::too_many_lines,
    reason = "the members, the Sentinels and the endpoint one after the other"
)]
pub fn plan(spec: &Spec, svc: &Container) -> Option<RedisSet> {
    let s = spec.services.get(&svc.name)?;
    let r = s.replicated.as_ref()?;
    let name = svc.name.as_str();
    // Validation allows 3 or 5; the cap only keeps an unvalidated model small.
    let count = r.members.min(crate::domain::MAX_REDIS_MEMBERS);
    let member_names: Vec<String> = (1..=count).map(|i| redis_member(name, i)).collect();
    let sentinel_names: Vec<String> = (1..=REDIS_SENTINELS)
        .map(|i| redis_sentinel(name, i))
        .collect();
    let members_list = member_names.join(",");
    let sentinels_list = sentinel_names.join(",");
    let password_file = format!("{}/{}", super::SECRET_FILES_DIR, r.password);
    // Read as root by the start scripts and as `haproxy` by the endpoint: a readable copy.
    let secret = MountPlan::Secret {
        secret: r.password.clone(),
        path: super::SECRET_FILES_DIR.to_owned(),
        items: std::collections::BTreeMap::new(),
    };
    let files = |f: &str| format!("redis-replicated/{name}/{f}");
    let common = |own: &str| {
        vec![
            literal("REDIS_MEMBERS", &members_list),
            literal("REDIS_SELF", own),
            literal("REDIS_SENTINELS", &sentinels_list),
            literal("REDIS_MASTER_NAME", name),
            literal("REDIS_PASSWORD_FILE", &password_file),
        ]
    };
    let one = |own: &str, role: &str, conf: &str, sh: &str, check: &str| {
        let what = if role == "member" {
            "member"
        } else {
            "Sentinel"
        };
        let mut c = from_service(svc, own, what);
        c.command = Some(strings(&["sh", &format!("{REDIS_DIR}/{role}.sh")]));
        let mut env = common(own);
        if role == "sentinel" {
            env.push(literal("REDIS_DOWN_AFTER_MS", &DOWN_AFTER_MS.to_string()));
            env.push(literal(
                "REDIS_FAILOVER_TIMEOUT_MS",
                &FAILOVER_TIMEOUT_MS.to_string(),
            ));
        }
        env.extend(svc.env.iter().cloned());
        c.env = env;
        c.mounts = vec![
            MountPlan::Volume {
                volume: redis_volume(own),
                path: DATA_DIR.to_owned(),
                read_only: false,
                subdir: None,
            },
            secret.clone(),
            file(
                files(&format!("{role}.conf")),
                format!("{REDIS_DIR}/{role}.conf"),
                conf,
            ),
            file(
                files(&format!("{role}.sh")),
                format!("{REDIS_DIR}/{role}.sh"),
                sh,
            ),
            file(
                files("health.sh"),
                format!("{REDIS_DIR}/health.sh"),
                HEALTH_SH,
            ),
        ];
        c.mounts_rwo = true;
        // A readiness check: a replica whose primary is gone fails it until the failover
        // relinks it. No dependant waits on a member or Sentinel (they reach the endpoint).
        c.health = Some(Health {
            check: Check::Exec(strings(&["sh", &format!("{REDIS_DIR}/health.sh"), check])),
            interval_ms: 5_000,
            timeout_ms: 8_000,
            retries: 3,
            start_period_ms: 0,
        });
        c
    };
    let members = member_names
        .iter()
        .map(|m| one(m, "member", MEMBER_CONF, MEMBER_SH, "member"))
        .collect();
    let sentinels = sentinel_names
        .iter()
        .map(|m| one(m, "sentinel", SENTINEL_CONF, SENTINEL_SH, "sentinel"))
        .collect();

    let mut endpoint = from_service(svc, name, "endpoint");
    format!("the replicated Redis `{name}`'s endpoint").clone_into(&mut endpoint.title);
    format!(
        "/services/{}/replicated",
        crate::spec::load::escape_segment(name)
    )
    .clone_into(&mut endpoint.image_pointer);
    endpoint.image = crate::domain::lb_image(spec);
    endpoint.singleton = svc.singleton;
    endpoint.entrypoint = Some(strings(&["sh", ENDPOINT_SH_PATH]));
    endpoint.env = vec![
        literal("REDIS_PASSWORD_FILE", &password_file),
        literal("REDIS_ENDPOINT_PORT", &REDIS_PORT.to_string()),
    ];
    endpoint.security = None;
    endpoint.mounts = vec![
        secret.clone(),
        file(
            files("endpoint.cfg"),
            ENDPOINT_CONFIG.to_owned(),
            &endpoint_config(&member_names),
        ),
        file(
            files("endpoint.sh"),
            ENDPOINT_SH_PATH.to_owned(),
            ENDPOINT_SH,
        ),
    ];
    endpoint.mounts_rwo = false;
    endpoint.ports.clone_from(&svc.ports);
    endpoint.hardening = crate::hardening::effective(spec, None, None, &[REDIS_PORT]);
    endpoint.resources = container::Limits::default();
    // Healthy while a member answers `role:master` (endpoint.cfg's `monitor fail`): what
    // `depends_on: { <name>: healthy }` waits for.
    let health = Health {
        check: Check::Exec(strings(&[
            "bash",
            "-c",
            &format!(
                "exec 3<>/dev/tcp/127.0.0.1/{ENDPOINT_HEALTH_PORT} && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"
            ),
        ])),
        interval_ms: 5_000,
        timeout_ms: 3_000,
        retries: 3,
        start_period_ms: 0,
    };
    endpoint.wait = Some(container::Wait {
        total_ms: health.wait_ms(),
        poll_ms: None,
    });
    endpoint.health = Some(health);
    endpoint.healthy_first = svc.healthy_first;

    Some(RedisSet {
        member_names,
        sentinel_names,
        password: r.password.clone(),
        members,
        sentinels,
        endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins endpoint.cfg's server lines: one per member, in order, none a backup.
    #[test]
    fn endpoint_servers() {
        let cfg = endpoint_config(&["redis-1".into(), "redis-2".into()]);
        assert!(cfg.contains("  server redis-1 redis-1:6379\n  server redis-2 redis-2:6379\n"));
        assert!(cfg.lines().all(|l| l != SERVERS_MARK));
    }
}
