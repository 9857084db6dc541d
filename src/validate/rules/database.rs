//! The `database:` block: embedded or external, its image, volume and password secrets.

use super::images::image_rules;
use super::quantities::{duration, resources};
use super::{Ctx, help, undefined};
use crate::diag::Code;
use crate::domain::engine_image;
use crate::image::ImageRef;
use crate::spec::model::{Engine, Spec};

#[expect(clippy::too_many_lines, reason = "a flat list of database rules")]
pub(super) fn database(cx: &mut Ctx<'_>, spec: &Spec) {
    let Some(db) = &spec.database else { return };
    let embedded = db.external.is_none();
    if embedded {
        match (&db.version, &db.image) {
            (None, None) => {
                let d = cx.at_key(
                    "/database",
                    Code::DatabaseConfig,
                    "an embedded database needs `version` (the official image's tag) or `image`",
                );
                help(
                    d,
                    "e.g. `version: \"10.11\"`, or `external: { host: … }` to use an existing server",
                );
            }
            (Some(_), Some(_)) => {
                cx.at_key(
                    "/database/image",
                    Code::DatabaseConfig,
                    "give `version` or `image`, not both",
                );
            }
            _ => {}
        }
        if let Some(image) = &db.image {
            image_rules(cx, spec, "/database/image", image);
        }
        if let Some(v) = &db.version {
            let probe = format!("{}:{v}", engine_image(db.engine));
            if ImageRef::parse(&probe).is_err() {
                cx.at(
                    "/database/version",
                    Code::ImageSyntax,
                    format!("`{v}` is not a valid image tag"),
                );
            } else if v == "latest" {
                cx.at(
                    "/database/version",
                    Code::ImageLatest,
                    "`latest` is not a version; name the tag you tested",
                );
            } else {
                image_rules(cx, spec, "/database/version", &probe);
            }
        }
        if let Some(v) = &db.volume
            && !spec.volumes.contains_key(v)
        {
            undefined(
                cx,
                "/database/volume",
                Code::UndefinedVolume,
                "volume",
                v,
                spec.volumes.keys(),
            );
        }
    }
    for (field, secret) in [
        ("password", Some(&db.password)),
        ("root_password", db.root_password.as_ref()),
    ] {
        let Some(secret) = secret else { continue };
        let p = format!("/database/{field}");
        match spec.secrets.get(secret) {
            None => undefined(
                cx,
                &p,
                Code::UndefinedSecret,
                "secret",
                secret,
                spec.secrets.keys(),
            ),
            Some(s) if s.is_tls() => {
                cx.at(
                    &p,
                    Code::UndefinedSecret,
                    format!(
                        "`{secret}` is a tls secret; a database password needs a password secret"
                    ),
                );
            }
            Some(s) if s.optional => {
                let d = cx.at(
                    &p,
                    Code::DatabaseConfig,
                    format!("`{secret}` is optional: the database's `{field}` cannot be empty"),
                );
                help(d, format!("remove `optional: true` from secret `{secret}`"));
            }
            _ => {}
        }
    }
    server_options(cx, spec);
    if db.engine == crate::spec::model::Engine::Postgres && db.root_password.is_some() {
        cx.at_key(
            "/database/root_password",
            Code::DatabaseConfig,
            "postgres has no separate root password; remove `root_password`",
        );
    }
    if let Some(w) = &db.wait {
        for (f, v) in [("timeout", &w.timeout), ("interval", &w.interval)] {
            if let Some(v) = v {
                duration(cx, &format!("/database/wait/{f}"), v);
            }
        }
    }
    if let Some(r) = &db.resources {
        resources(cx, "/database/resources", r);
    }
    hostname(cx, spec);
    cluster(cx, spec);
}

/// `database.hostname`: a host name every target can carry (a Kubernetes Service name), for an
/// embedded database, that no service or name misp-gen adds answers to already.
fn hostname(cx: &mut Ctx<'_>, spec: &Spec) {
    let Some(db) = &spec.database else { return };
    let Some(h) = &db.hostname else { return };
    let p = "/database/hostname";
    if db.external.is_some() {
        let d = cx.at_key(
            p,
            Code::DatabaseConfig,
            "`hostname` names the database misp-gen deploys; with `external`, `${database.host}` is `external.host`",
        );
        help(d, "remove `hostname`, or `external` to deploy the database");
        return;
    }
    if !super::is_dns_label(h) || !h.starts_with(|c: char| c.is_ascii_lowercase()) {
        let d = cx.at(
            p,
            Code::InvalidName,
            format!("`{h}` is not a host name every target can carry"),
        );
        help(
            d,
            "use lowercase letters, digits and `-`, starting with a letter (at most 63): it names a Kubernetes Service",
        );
        return;
    }
    let members = db
        .cluster
        .as_ref()
        .map_or(0, |c| c.members.min(crate::domain::MAX_CLUSTER_MEMBERS));
    let arbitrator = db.cluster.as_ref().is_some_and(|c| c.arbitrator);
    let ours = crate::plan::cluster::cluster_service_names(members, arbitrator);
    if spec.services.contains_key(h) {
        let d = cx.at(
            p,
            Code::InvalidName,
            format!("`{h}` is also a service's name; both would answer to one host name"),
        );
        help(d, "choose another `hostname`, or rename the service");
    } else if h == crate::domain::LB_SERVICE || (db.cluster.is_some() && ours.contains(h)) {
        let d = cx.at(
            p,
            Code::InvalidName,
            format!("`{h}` is a name misp-gen gives a container of its own"),
        );
        help(d, "choose another `hostname`");
    }
}

/// `database.cluster`: a `MariaDB` Galera cluster of an allowed size, deployed (not external),
/// whose member names and data volumes are free.
#[expect(clippy::too_many_lines, reason = "a flat list of cluster rules")]
fn cluster(cx: &mut Ctx<'_>, spec: &Spec) {
    let Some(db) = &spec.database else { return };
    let Some(c) = &db.cluster else { return };
    if db.engine != Engine::Mariadb {
        let d = cx.at(
            "/database/engine",
            Code::DatabaseConfig,
            format!(
                "`cluster` is a MariaDB Galera cluster; engine `{}` has none",
                engine_name(db.engine)
            ),
        );
        help(
            d,
            "use `engine: mariadb`, or remove `cluster` and use `external: { host: … }` for a replicated server you run yourself",
        );
    }
    if db.external.is_some() {
        let d = cx.at_key(
            "/database/cluster",
            Code::DatabaseConfig,
            "`cluster` deploys the database and `external` uses one misp-gen does not deploy: give one of them",
        );
        help(d, "remove `cluster` or `external`");
    }
    if !crate::domain::cluster_size_allowed(c.members, c.arbitrator) {
        let p = if c.members == 2 && !c.arbitrator {
            "/database/cluster"
        } else {
            "/database/cluster/members"
        };
        let what = if c.arbitrator {
            format!("{} members with an arbitrator", c.members)
        } else {
            format!("{} members", c.members)
        };
        let d = if p == "/database/cluster" {
            cx.at_key(
                p,
                Code::DatabaseConfig,
                format!("a cluster of {what} loses its majority when one member fails"),
            )
        } else {
            cx.at(
                p,
                Code::DatabaseConfig,
                format!("a Galera cluster cannot have {what}"),
            )
        };
        help(
            d,
            "allowed: `members: 3`, `5` or `7`, or `members: 2` with `arbitrator: true` (an odd number of votes keeps a majority through one failure)",
        );
    }
    if let Some(v) = &db.volume
        && let Some(def) = spec.volumes.get(v)
        && def.driver_opts.is_some()
    {
        let d = cx.at(
            "/database/volume",
            Code::DatabaseConfig,
            format!("volume `{v}` has `driver_opts`; each cluster member needs a data volume of its own, and every member would mount that one file system"),
        );
        help(
            d,
            "use a volume without `driver_opts` (each member gets `<volume>-<n>`), or remove `volume`",
        );
    }
    // The names the cluster adds must be free.
    let n = c.members.min(crate::domain::MAX_CLUSTER_MEMBERS);
    let names = crate::plan::cluster::cluster_service_names(n, c.arbitrator);
    for name in spec.services.keys() {
        if names.iter().any(|x| x == name) {
            let d = cx.at_key(
                &format!("/services/{}", super::seg(name)),
                Code::InvalidName,
                format!("`{name}` is a name of the database cluster"),
            );
            help(d, "give this service another name");
        }
    }
    for i in 1..=n {
        let member_volume = crate::plan::cluster::member_volume(db.volume.as_deref(), i);
        if spec.volumes.contains_key(&member_volume) {
            let d = cx.at_key(
                &format!("/volumes/{}", super::seg(&member_volume)),
                Code::InvalidName,
                format!("`{member_volume}` is the name of cluster member {i}'s data volume"),
            );
            help(d, "give this volume another name");
        }
    }
    if spec
        .secrets
        .contains_key(crate::domain::GALERA_MONITOR_SECRET)
    {
        let d = cx.at_key(
            &format!("/secrets/{}", crate::domain::GALERA_MONITOR_SECRET),
            Code::InvalidName,
            format!(
                "`{}` is the secret misp-gen generates for the cluster's health checks",
                crate::domain::GALERA_MONITOR_SECRET
            ),
        );
        help(d, "give this secret another name");
    }
}

fn engine_name(e: Engine) -> &'static str {
    match e {
        Engine::Mariadb => "mariadb",
        Engine::Mysql => "mysql",
        Engine::Postgres => "postgres",
    }
}

/// `database.settings`, `env` and `restart`: only for a database misp-gen deploys; settings
/// the server's own names, with one-line values, none that misp-gen decides; env variables
/// with valid names, none that misp-gen sets.
#[expect(
    clippy::too_many_lines,
    reason = "the rules of the three fields, one after the other"
)]
fn server_options(cx: &mut Ctx<'_>, spec: &Spec) {
    use super::names::is_env_name;
    use super::seg;
    use crate::domain::{reserved_db_env, reserved_setting};
    let Some(db) = &spec.database else { return };
    if db.external.is_some() {
        for (field, set) in [
            ("settings", !db.settings.is_empty()),
            ("env", !db.env.is_empty()),
            ("restart", db.restart.is_some()),
        ] {
            if set {
                let d = cx.at_key(
                    &format!("/database/{field}"),
                    Code::DatabaseConfig,
                    format!(
                        "`{field}` applies to a database misp-gen deploys; this one is `external`"
                    ),
                );
                help(
                    d,
                    format!("set it on the external server itself, or remove `{field}`"),
                );
            }
        }
        return;
    }
    let mut seen: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
    for (k, v) in &db.settings {
        let p = format!("/database/settings/{}", seg(k));
        if let Some(first) = seen.insert(crate::domain::setting_key(k), k) {
            let d = cx.at_key(
                &p,
                Code::DatabaseConfig,
                format!(
                    "`{k}` and `{first}` are one setting (`-` and `_` are the same to the server)"
                ),
            );
            help(d, "keep one of them");
            continue;
        }
        let shape = match db.engine {
            Engine::Postgres => k
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'),
            Engine::Mariadb | Engine::Mysql => k
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'),
        } && k.len() <= 64
            && k.starts_with(|c: char| c.is_ascii_lowercase());
        if !shape {
            let d = cx.at_key(
                &p,
                Code::DatabaseConfig,
                format!("`{k}` is not a server setting name"),
            );
            help(
                d,
                match db.engine {
                    Engine::Postgres => {
                        "write the name as postgresql.conf does: lower case letters, digits, `_` (and `.` for an extension's), e.g. `shared_buffers`"
                    }
                    Engine::Mariadb | Engine::Mysql => {
                        "write the name as the server's option without `--`: lower case letters, digits, `_` or `-`, e.g. `innodb_buffer_pool_size`"
                    }
                },
            );
            continue;
        }
        if let Some(why) = reserved_setting(db.engine, k) {
            let d = cx.at_key(
                &p,
                Code::DatabaseConfig,
                format!("`{k}` is a setting misp-gen decides: {why}"),
            );
            help(
                d,
                "remove it; the spec's `database:` fields (and `cluster`) decide it",
            );
            continue;
        }
        let text = v.text();
        if text.is_empty() || text.len() > 1024 || text.chars().any(char::is_control) {
            let d = cx.at(
                &p,
                Code::DatabaseConfig,
                format!("the value of `{k}` is empty, longer than 1024 characters, or holds a control character"),
            );
            help(d, "give the one-line value the server takes, e.g. `2G`");
        }
    }
    for k in db.env.keys() {
        let p = format!("/database/env/{}", seg(k));
        if !is_env_name(k) {
            cx.at_key(
                &p,
                Code::InvalidName,
                format!("`{k}` is not a valid environment variable name"),
            );
        } else if reserved_db_env(k) {
            let d = cx.at_key(
                &p,
                Code::DatabaseConfig,
                format!("`{k}` is set by misp-gen from the database's `name`, `user` and password secrets"),
            );
            help(
                d,
                "use `name`, `user`, `password` and `root_password`; remove the variable",
            );
        }
    }
}
