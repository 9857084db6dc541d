//! `services.<name>.replicated`: a Redis the replication setup of `templates/redis/replicated/`
//! can run (the official image, port 6379, no settings the setup decides itself), with an
//! allowed member count, a text password secret and names that are free.

use super::{Ctx, help, seg, undefined};
use crate::diag::Code;
use crate::domain::{REDIS_PORT, redis_members_allowed, redis_service_names, redis_volume};
use crate::spec::model::{Restart, Service, Spec};

/// The service's settings the replication setup decides, with what it decides.
fn decided(svc: &Service) -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    if svc.command.is_some() {
        v.push((
            "command",
            "each member and Sentinel runs its start script (`sh …/member.sh`, `sh …/sentinel.sh`)",
        ));
    }
    if svc.entrypoint.is_some() {
        v.push((
            "entrypoint",
            "the image's `docker-entrypoint.sh` runs the start scripts",
        ));
    }
    if svc.user.is_some() {
        v.push((
            "user",
            "members and Sentinels start as root to read the password and step down to the image's `redis` user",
        ));
    }
    if svc.working_dir.is_some() {
        v.push(("working_dir", "members and Sentinels work in `/data`"));
    }
    if !svc.mounts.is_empty() {
        v.push((
            "mounts",
            "each member and Sentinel gets a data volume of its own at `/data`",
        ));
    }
    if svc.healthcheck.is_some() {
        v.push((
            "healthcheck",
            "the endpoint is healthy while a primary answers; members and Sentinels have checks of their own",
        ));
    }
    if svc.restart != Restart::UnlessStopped {
        v.push((
            "restart",
            "members, Sentinels and the endpoint restart `unless-stopped`: a Sentinel exits while its primary's name does not resolve yet",
        ));
    }
    if !svc.depends_on.is_empty() {
        v.push((
            "depends_on",
            "members and Sentinels wait (bounded) for each other by themselves",
        ));
    }
    v
}

#[expect(
    clippy::too_many_lines,
    reason = "a flat list of replicated-Redis rules"
)]
pub(super) fn replicated(cx: &mut Ctx<'_>, spec: &Spec, name: &str, svc: &Service) {
    let Some(r) = &svc.replicated else { return };
    let sp = format!("/services/{}", seg(name));
    let rp = format!("{sp}/replicated");
    if !redis_members_allowed(r.members) {
        let d = cx.at(
            &format!("{rp}/members"),
            Code::ReplicatedRedis,
            format!("a replicated Redis cannot have {} members", r.members),
        );
        help(
            d,
            "allowed: `members: 3` or `5` (three keep taking writes with one down; the three Sentinels decide the failover)",
        );
    }
    if let Some(n) = svc.replicas
        && n != 1
    {
        let d = cx.at(
            &format!("{sp}/replicas"),
            Code::ReplicatedRedis,
            format!(
                "`replicas: {n}` on a replicated Redis: its containers are the members of `replicated.members`"
            ),
        );
        help(d, "remove `replicas` and set `replicated.members`");
    }
    match svc.ports.as_slice() {
        [p] if p.port == REDIS_PORT => {}
        _ => {
            let d = cx.at_key(
                &format!("{sp}/ports"),
                Code::ReplicatedRedis,
                format!(
                    "a replicated Redis has one port, {REDIS_PORT}: the endpoint listens there and forwards to the primary's {REDIS_PORT}"
                ),
            );
            help(
                d,
                format!("`ports: [{{ name: redis, port: {REDIS_PORT} }}]`"),
            );
        }
    }
    for (field, why) in decided(svc) {
        let d = cx.at_key(
            &format!("{sp}/{field}"),
            Code::ReplicatedRedis,
            format!("`{field}` on a replicated Redis: the replication setup decides it ({why})"),
        );
        help(d, format!("remove `{field}`"));
    }
    match crate::image::ImageRef::parse(&svc.image) {
        Ok(img) if img.path.rsplit('/').next() == Some("redis") => {}
        // An image that does not parse has its own error.
        Err(_) => {}
        Ok(img) => {
            let d = cx.at(
                &format!("{sp}/image"),
                Code::ReplicatedRedis,
                format!(
                    "`{}` is not a `redis` image: the replication setup runs the official image's `docker-entrypoint.sh`, `redis-server` and `redis-cli`",
                    img.path
                ),
            );
            help(
                d,
                "use `docker.io/library/redis:<version>` (or a mirror of it whose repository is named `redis`)",
            );
        }
    }
    match spec.secrets.get(&r.password) {
        None => undefined(
            cx,
            &format!("{rp}/password"),
            Code::UndefinedSecret,
            "secret",
            &r.password,
            spec.secrets.keys(),
        ),
        Some(s) if s.is_tls() => {
            let d = cx.at(
                &format!("{rp}/password"),
                Code::ReplicatedRedis,
                format!("secret `{}` is a TLS set, not a password", r.password),
            );
            help(d, "name a `generate: password` or `external: true` secret");
        }
        Some(s) if s.optional => {
            let d = cx.at(
                &format!("{rp}/password"),
                Code::ReplicatedRedis,
                format!(
                    "secret `{}` is optional, but the replication needs a password",
                    r.password
                ),
            );
            help(d, "remove `optional: true` from the secret");
        }
        Some(_) => {}
    }
    // The names the replicated Redis adds must be free.
    let n = r.members.min(crate::domain::MAX_REDIS_MEMBERS);
    let names = redis_service_names(name, n);
    for other in spec.services.keys() {
        if names.iter().any(|x| x == other) {
            let d = cx.at_key(
                &format!("/services/{}", seg(other)),
                Code::InvalidName,
                format!("`{other}` is a name of the replicated Redis `{name}`"),
            );
            help(d, "give this service another name");
        }
    }
    // Nor may two replicated Redis services add the same name (`a` and `a-sentinel`).
    for (other, o) in &spec.services {
        if other.as_str() >= name {
            continue;
        }
        let Some(or) = &o.replicated else { continue };
        let theirs = redis_service_names(other, or.members.min(crate::domain::MAX_REDIS_MEMBERS));
        if let Some(both) = names.iter().find(|x| theirs.contains(x)) {
            let d = cx.at_key(
                &rp,
                Code::InvalidName,
                format!("the replicated Redis `{name}` and `{other}` would both name a container `{both}`"),
            );
            help(d, "rename one of the two services");
        }
    }
    for c in &names {
        let v = redis_volume(c);
        if spec.volumes.contains_key(&v) {
            let d = cx.at_key(
                &format!("/volumes/{}", seg(&v)),
                Code::InvalidName,
                format!(
                    "`{v}` is the name of the data volume of `{c}` (replicated Redis `{name}`)"
                ),
            );
            help(d, "give this volume another name");
        }
    }
}
