//! Semantic rules: what the schema cannot say (references, names, images, cycles, profile rules),
//! each diagnostic pointing at the offending node.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Code, Diagnostic, closest};
pub use crate::domain::{DATABASE, engine_image, replicas};
use crate::image::ImageRef;
use crate::placeholder::{self, DbField, Piece, Ref};
use crate::profile::{DatabaseRule, Profile};
use crate::spec::Document;
use crate::spec::load::escape_segment;
use crate::spec::model::{Condition, Generate, Mount, PortRef, Scaling, Service, Spec};
use crate::units;

struct Ctx<'a> {
    doc: &'a Document,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn at(&mut self, pointer: &str, code: Code, message: impl Into<String>) -> &mut Diagnostic {
        self.push(pointer, self.doc.pos(pointer), code, message)
    }
    fn at_key(&mut self, pointer: &str, code: Code, message: impl Into<String>) -> &mut Diagnostic {
        self.push(pointer, self.doc.key_pos(pointer), code, message)
    }
    fn push(
        &mut self,
        pointer: &str,
        pos: crate::diag::Pos,
        code: Code,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.out.push(Diagnostic {
            file: self.doc.file.clone(),
            pos,
            pointer: pointer.to_owned(),
            code,
            message: message.into(),
            help: None,
        });
        let last = self.out.len() - 1;
        &mut self.out[last]
    }
}

fn help(d: &mut Diagnostic, h: impl Into<String>) {
    d.help = Some(h.into());
}

fn seg(s: &str) -> String {
    escape_segment(s)
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

/// Why `s` is not a DNS-1123 label, in words: its length when that is all, else its shape.
fn label_problem(s: &str) -> String {
    if s.len() > 63 && is_dns_label(&s[..63]) && is_dns_label(&s[s.len() - 63..]) {
        format!("is {} characters, at most 63", s.len())
    } else {
        "is not a DNS-1123 label".to_owned()
    }
}

/// Volume, secret and file names: lowercase letters, digits, `-` and `_`, starting with a letter or
/// digit, at most 63. No `.` and no `/`: a name can never make a path outside the output directory.
#[must_use]
pub fn is_object_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// At most this many services, secrets, files or volumes in one spec.
pub const MAX_ENTRIES: usize = 1000;
/// At most this many containers in all (every service's replicas under the profile): each is a
/// unit of its own for systemd.
pub const MAX_CONTAINERS: u64 = 2000;

/// The size of what a spec asks for, bounded so that every spec misp-gen accepts validates and
/// renders in well under a second (a 400-byte spec asked for 20 000 systemd units). A real
/// deployment is a few dozen services; a larger one is several specs. True when a bound is
/// broken: the other rules are not run then.
fn too_many(cx: &mut Ctx<'_>, spec: &Spec, profile: &Profile) -> bool {
    let before = cx.out.len();
    for (key, n) in [
        ("services", spec.services.len()),
        ("secrets", spec.secrets.len()),
        ("files", spec.files.len()),
        ("volumes", spec.volumes.len()),
    ] {
        if n > MAX_ENTRIES {
            let d = cx.at_key(
                &format!("/{key}"),
                Code::TooMany,
                format!("{n} {key}, at most {MAX_ENTRIES} in one spec"),
            );
            help(
                d,
                "split the deployment into several specs, each rendered into its own directory",
            );
        }
    }
    let mut containers: u64 = 0;
    for (name, svc) in &spec.services {
        containers += u64::from(replicas(svc, profile));
        if containers > MAX_CONTAINERS {
            let d = cx.at_key(
                &format!("/services/{}", seg(name)),
                Code::TooMany,
                format!(
                    "with `{name}`, the services run more than {MAX_CONTAINERS} containers in all (replicas summed under profile `{}`)",
                    profile.name
                ),
            );
            help(
                d,
                "run fewer replicas, or split the deployment into several specs",
            );
            break;
        }
    }
    cx.out.len() > before
}

/// Run every rule on the effective spec.
#[must_use]
pub fn check(spec: &Spec, doc: &Document, profile: &Profile) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        doc,
        out: Vec::new(),
    };
    if too_many(&mut cx, spec, profile) {
        return cx.out;
    }
    names(&mut cx, spec);
    secrets(&mut cx, spec);
    volumes(&mut cx, spec);
    database(&mut cx, spec);
    for (name, svc) in &spec.services {
        service(&mut cx, spec, profile, name, svc);
    }
    host_ports(&mut cx, spec);
    cycles(&mut cx, spec);
    files(&mut cx, spec);
    edge(&mut cx, spec);
    policy_and_targets(&mut cx, spec);
    placeholders(&mut cx, spec);
    hosts(&mut cx, spec);
    profile_rules(&mut cx, spec, profile);
    security(&mut cx, spec);
    cx.out
}

/// `security:` blocks: relaxations need a reason, capabilities must exist, writable paths need a
/// read-only root, a non-root promise needs a non-root numeric user.
#[expect(
    clippy::too_many_lines,
    reason = "one rule per field of the block, in the block's order"
)]
fn security(cx: &mut Ctx<'_>, spec: &Spec) {
    use crate::security::{KNOWN_CAPS, merged, numeric_user};
    use crate::spec::model::{Exception, Seccomp, Security};
    // (pointer of the block, its own block, the container's user)
    let mut blocks: Vec<(String, Option<&Security>, Option<&str>, bool)> =
        vec![("/security".to_owned(), spec.security.as_ref(), None, false)];
    for (name, svc) in &spec.services {
        blocks.push((
            format!("/services/{}/security", seg(name)),
            svc.security.as_ref(),
            svc.user.as_deref(),
            true,
        ));
    }
    if let Some(db) = &spec.database
        && db.external.is_none()
    {
        blocks.push((
            "/database/security".to_owned(),
            db.security.as_ref(),
            None,
            true,
        ));
    }
    for (p, own, user, container) in blocks {
        // Each block's own fields are checked where they are written; the merged view decides
        // whether a relaxation has its reason (which may sit in the top-level block).
        if let Some(own) = own {
            for (e, reason) in &own.accept {
                if reason.trim().is_empty() || reason.contains(['=', '\n', '\r']) {
                    let d = cx.at(
                        &format!("{p}/accept/{}", e.key()),
                        Code::SecurityUnexplained,
                        format!(
                            "the reason for `{}` is empty, or holds `=` or a line break",
                            e.key()
                        ),
                    );
                    help(
                        d,
                        "say in one line why the exception is acceptable; it is written into the checker's skip annotation `CHECK=reason`, which `=` would cut",
                    );
                }
            }
            for (i, c) in own.cap_add.iter().flatten().enumerate() {
                if !KNOWN_CAPS.contains(&c.as_str()) {
                    let fixed = c
                        .trim_start_matches("CAP_")
                        .trim_start_matches("cap_")
                        .to_ascii_uppercase();
                    let d = cx.at(
                        &format!("{p}/cap_add/{i}"),
                        Code::UnknownCapability,
                        format!("`{c}` is not a Linux capability name"),
                    );
                    if KNOWN_CAPS.contains(&fixed.as_str()) {
                        help(d, format!("write `{fixed}` (upper case, without `CAP_`)"));
                    } else {
                        help(
                            d,
                            "names are those of capabilities(7) without `CAP_`, e.g. `NET_BIND_SERVICE`",
                        );
                    }
                }
            }
            for (i, w) in own.writable.iter().flatten().enumerate() {
                if !w.starts_with('/') || w.contains(['\n', '\r', ':', ',']) {
                    cx.at(
                        &format!("{p}/writable/{i}"),
                        Code::SecurityWritable,
                        format!("`{w}` is not an absolute path in the container"),
                    );
                }
            }
        }
        if !container && own.is_none() {
            continue;
        }
        let m = if container {
            merged(spec.security.as_ref(), own)
        } else {
            own.cloned().unwrap_or_default()
        };
        // Where a merged field was set: the own block if it sets it, else the top level.
        let at = |field: &str, own_has: bool| {
            if own_has {
                format!("{p}/{field}")
            } else {
                format!("/security/{field}")
            }
        };
        if m.no_new_privileges == Some(false)
            && !m.accept.contains_key(&Exception::PrivilegeEscalation)
        {
            let d = cx.at(
                &at("no_new_privileges", own.is_some_and(|o| o.no_new_privileges.is_some())),
                Code::SecurityUnexplained,
                "`no_new_privileges: false` lets processes gain privileges, and the spec gives no reason",
            );
            help(
                d,
                "add `accept: { privilege_escalation: \"why\" }`, or drop the line",
            );
        }
        if m.seccomp == Some(Seccomp::Unconfined) && !m.accept.contains_key(&Exception::Seccomp) {
            let d = cx.at(
                &at("seccomp", own.is_some_and(|o| o.seccomp.is_some())),
                Code::SecurityUnexplained,
                "`seccomp: unconfined` turns off system-call filtering, and the spec gives no reason",
            );
            help(d, "add `accept: { seccomp: \"why\" }`, or drop the line");
        }
        if m.writable.as_ref().is_some_and(|w| !w.is_empty()) && m.read_only != Some(true) {
            let d = cx.at_key(
                &at("writable", own.is_some_and(|o| o.writable.is_some())),
                Code::SecurityWritable,
                "`writable` lists paths, but the root file system is not read-only (everything is writable)",
            );
            help(d, "add `read_only: true`, or remove `writable`");
        }
        if container && m.run_as_non_root == Some(true) {
            let ok = user.and_then(numeric_user).is_some_and(|(u, _)| u != 0);
            if !ok {
                let what = match user {
                    None => {
                        "no `user`, so it runs as the image's user, which may be root".to_owned()
                    }
                    Some(u) if numeric_user(u).is_some() => format!("`user: {u}` is root"),
                    Some(u) => {
                        format!("`user: {u}` is a name, which cannot be checked before it starts")
                    }
                };
                let d = cx.at(
                    &at(
                        "run_as_non_root",
                        own.is_some_and(|o| o.run_as_non_root.is_some()),
                    ),
                    Code::RunAsNonRoot,
                    format!("`run_as_non_root` is set, but {what}"),
                );
                help(
                    d,
                    "set `user:` to the numeric non-root UID[:GID] the image runs as, e.g. `1000:1000`",
                );
            }
        }
    }
}

fn names(cx: &mut Ctx<'_>, spec: &Spec) {
    if !is_dns_label(&spec.name) {
        let d = cx.at(
            "/name",
            Code::InvalidName,
            format!("`{}` {}", spec.name, label_problem(&spec.name)),
        );
        help(
            d,
            "use lowercase letters, digits and `-` (at most 63, starting and ending with a letter or digit): it prefixes every object name",
        );
    }
    for name in spec.services.keys() {
        let p = format!("/services/{}", seg(name));
        if !is_dns_label(name) {
            let d = cx.at_key(
                &p,
                Code::InvalidName,
                format!("service name `{name}` {}", label_problem(name)),
            );
            help(
                d,
                format!(
                    "service names become host names; try `{}`",
                    suggest_label(name)
                ),
            );
        } else if name == crate::domain::LB_SERVICE {
            let d = cx.at_key(
                &p,
                Code::InvalidName,
                format!(
                    "`{name}` is reserved for the load balancer misp-gen adds in front of the edge"
                ),
            );
            help(d, "give this service another name");
        } else if name == DATABASE {
            let d = cx.at_key(
                &p,
                Code::InvalidName,
                "`database` is reserved for the embedded database",
            );
            help(
                d,
                "describe the database under `database:`, or give this service another name",
            );
        }
    }
    for (kind, keys) in [
        ("volume", spec.volumes.keys().collect::<Vec<_>>()),
        ("secret", spec.secrets.keys().collect()),
        ("file", spec.files.keys().collect()),
    ] {
        for name in keys {
            if !is_object_name(name) {
                let p = format!("/{kind}s/{}", seg(name));
                let d = cx.at_key(
                    &p,
                    Code::InvalidName,
                    format!("{kind} name `{name}` is not allowed"),
                );
                help(
                    d,
                    "use lowercase letters, digits, `-` and `_` (at most 63, starting with a letter or digit)",
                );
            }
        }
    }
    secret_and_file_names(cx, spec);
    param_names(cx, spec);
}

/// Secret and file names that collide with misp-gen's own directories or with each other.
fn secret_and_file_names(cx: &mut Ctx<'_>, spec: &Spec) {
    // misp-gen's own directories under secrets/.
    for name in spec.secrets.keys() {
        if ["compose", "kubernetes", "systemd"].contains(&name.as_str()) {
            let d = cx.at_key(
                &format!("/secrets/{}", seg(name)),
                Code::InvalidName,
                format!("secret name `{name}` is taken: misp-gen keeps its {name} files in OUT/secrets/{name}/"),
            );
            help(d, "rename the secret");
        }
    }
    // Names that differ only by `-` and `_` become one environment variable
    // (MISP_GEN_SECRET_…) and one Kubernetes key.
    for (kind, keys) in [
        ("secret", spec.secrets.keys().collect::<Vec<_>>()),
        ("file", spec.files.keys().collect()),
    ] {
        let mut seen: BTreeMap<String, &String> = BTreeMap::new();
        for name in keys {
            if let Some(first) = seen.insert(name.replace('_', "-"), name) {
                let d = cx.at_key(
                    &format!("/{kind}s/{}", seg(name)),
                    Code::InvalidName,
                    format!("{kind} names `{first}` and `{name}` differ only by `-` and `_`, which Kubernetes keys and environment variables do not tell apart"),
                );
                help(d, "rename one of them");
            }
        }
    }
}

fn param_names(cx: &mut Ctx<'_>, spec: &Spec) {
    for k in spec.params.keys() {
        if !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || k.is_empty()
        {
            let p = format!("/params/{}", seg(k));
            let d = cx.at_key(
                &p,
                Code::InvalidName,
                format!("param name `{k}` cannot be used in a placeholder"),
            );
            help(d, "use letters, digits, `_` and `-`");
        }
    }
}

fn suggest_label(s: &str) -> String {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    out = String::from(out.trim_matches('-'));
    out.truncate(63);
    if out.is_empty() { "app".into() } else { out }
}

fn secrets(cx: &mut Ctx<'_>, spec: &Spec) {
    for (name, s) in &spec.secrets {
        let p = format!("/secrets/{}", seg(name));
        match (s.generate, s.external) {
            (None, false) => {
                let d = cx.at_key(
                    &p,
                    Code::SecretSource,
                    format!("secret `{name}` has neither `generate` nor `external: true`"),
                );
                help(
                    d,
                    "add `generate: password` (or hex, base64, tls), or `external: true` for a value the operator supplies",
                );
            }
            (Some(_), true) => {
                cx.at(
                    &format!("{p}/external"),
                    Code::SecretSource,
                    format!("secret `{name}` cannot be both generated and external"),
                );
            }
            _ => {}
        }
        let tls = s.generate == Some(Generate::Tls);
        if tls && s.hosts.is_empty() {
            let d = cx.at_key(
                &p,
                Code::TlsWithoutHosts,
                format!("tls secret `{name}` names no `hosts`"),
            );
            help(
                d,
                "list the DNS names users reach, e.g. `hosts: [\"${params.fqdn}\"]`",
            );
        }
        if !tls {
            for (field, set) in [
                ("hosts", !s.hosts.is_empty()),
                ("days", s.days.is_some()),
                ("key", s.key.is_some()),
            ] {
                if set {
                    cx.at_key(
                        &format!("{p}/{field}"),
                        Code::ExternalSecretInGenerate,
                        format!("`{field}` applies only to `generate: tls`"),
                    );
                }
            }
        }
        if (tls || s.external) && s.length.is_some() {
            cx.at_key(
                &format!("{p}/length"),
                Code::ExternalSecretInGenerate,
                "`length` applies only to generated password, hex and base64 secrets",
            );
        }
    }
}

fn volumes(cx: &mut Ctx<'_>, spec: &Spec) {
    for (name, v) in &spec.volumes {
        if let Some(size) = &v.size
            && units::bytes(size).is_none()
        {
            let d = cx.at(
                &format!("/volumes/{}/size", seg(name)),
                Code::BadQuantity,
                format!("`{size}` is not a size"),
            );
            help(
                d,
                "write a number with Ki, Mi, Gi, Ti (or k, M, G, T), e.g. `20Gi`",
            );
        }
    }
}

#[expect(clippy::too_many_lines, reason = "a flat list of database rules")]
fn database(cx: &mut Ctx<'_>, spec: &Spec) {
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
            Some(s) if s.generate == Some(Generate::Tls) => {
                cx.at(
                    &p,
                    Code::UndefinedSecret,
                    format!(
                        "`{secret}` is a tls secret; a database password needs a password secret"
                    ),
                );
            }
            _ => {}
        }
    }
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
}

/// The longest duration every target can carry: Kubernetes keeps probe and deadline seconds in
/// 32 bits.
const MAX_DURATION_S: u64 = i32::MAX as u64;

fn duration(cx: &mut Ctx<'_>, p: &str, v: &str) {
    let Some(ms) = units::duration_ms(v) else {
        let d = cx.at(p, Code::BadDuration, format!("`{v}` is not a duration"));
        help(
            d,
            "write a number with a unit: ms, s, m or h, e.g. `30s` or `1m30s`",
        );
        return;
    };
    if ms.div_ceil(1000) > MAX_DURATION_S {
        let d = cx.at(
            p,
            Code::BadDuration,
            format!("`{v}` is {}s; at most {MAX_DURATION_S}s", ms.div_ceil(1000)),
        );
        help(d, "Kubernetes keeps probe and deadline seconds in 32 bits");
    } else if ms == 0 && (p.ends_with("/interval") || p.ends_with("/timeout")) {
        let d = cx.at(p, Code::BadDuration, format!("`{v}` is zero"));
        help(
            d,
            "podman refuses a zero health timeout and reads a zero interval as no check; Kubernetes needs 1s or more: write `1s` or more",
        );
    }
}

fn resources(cx: &mut Ctx<'_>, p: &str, r: &crate::spec::model::Resources) {
    if let Some(c) = &r.cpu
        && units::millicpu(c).is_none()
    {
        let d = cx.at(
            &format!("{p}/cpu"),
            Code::BadQuantity,
            format!("`{c}` is not a CPU quantity"),
        );
        help(d, "write CPUs as `1`, `0.5` or `500m`");
    }
    if let Some(m) = &r.memory {
        match units::bytes(m) {
            None => {
                let d = cx.at(
                    &format!("{p}/memory"),
                    Code::BadQuantity,
                    format!("`{m}` is not a memory size"),
                );
                help(
                    d,
                    "write a number with Ki, Mi, Gi (or k, M, G), e.g. `512Mi`",
                );
            }
            Some(b) if b < MIN_MEMORY => {
                let d = cx.at(
                    &format!("{p}/memory"),
                    Code::BadQuantity,
                    format!("`{m}` is {b} bytes; container engines need at least 6Mi"),
                );
                help(d, "docker and podman refuse a memory limit below 6 MiB");
            }
            Some(_) => {}
        }
    }
}

/// The smallest memory limit docker and podman accept.
const MIN_MEMORY: u64 = 6 << 20;

fn undefined<'a>(
    cx: &mut Ctx<'_>,
    p: &str,
    code: Code,
    kind: &str,
    name: &str,
    known: impl IntoIterator<Item = &'a String>,
) {
    let known: Vec<&str> = known.into_iter().map(String::as_str).collect();
    let sugg = closest(name, known.iter().copied());
    let d = cx.at(p, code, format!("{kind} `{name}` is not defined"));
    if let Some(s) = sugg {
        help(d, format!("did you mean `{s}`?"));
    } else if known.is_empty() {
        help(d, format!("define it under `{kind}s:`"));
    } else {
        help(d, format!("defined {kind}s: {}", known.join(", ")));
    }
}

fn image_rules(cx: &mut Ctx<'_>, spec: &Spec, p: &str, image: &str) {
    let r = match ImageRef::parse(image) {
        Ok(r) => r,
        Err(e) => {
            cx.at(
                p,
                Code::ImageSyntax,
                format!("invalid image reference: {e}"),
            );
            return;
        }
    };
    if r.tag.is_none() && r.digest.is_none() {
        let d = cx.at(p, Code::ImageNoTag, format!("image `{image}` has no tag"));
        help(
            d,
            "name the exact version, e.g. `redis:7.4.1`, or pin a digest `@sha256:…`; an untagged image means whatever `latest` is today",
        );
    }
    if r.tag.as_deref() == Some("latest") {
        let d = cx.at(
            p,
            Code::ImageLatest,
            format!("image `{image}` uses the `latest` tag"),
        );
        help(d, "`latest` changes under you; name the exact version");
    }
    if let Some(pol) = &spec.policy {
        if !pol.registries.is_empty() && !pol.registries.iter().any(|pre| r.under(pre)) {
            let d = cx.at(
                p,
                Code::ImageRegistry,
                format!("image `{}` is not from an allowed registry", r.repository()),
            );
            help(
                d,
                format!("policy.registries allows: {}", pol.registries.join(", ")),
            );
        }
        if pol.require_digest && r.digest.is_none() {
            let d = cx.at(
                p,
                Code::ImageDigestRequired,
                format!("image `{image}` is not pinned by digest"),
            );
            help(
                d,
                "policy.require_digest is set: append `@sha256:<digest>` (`docker inspect --format '{{index .RepoDigests 0}}' IMAGE` shows it)",
            );
        }
    }
}

fn port_exists(svc: &Service, r: &PortRef) -> bool {
    match r {
        PortRef::Name(n) => svc.ports.iter().any(|p| &p.name == n),
        PortRef::Number(n) => svc.ports.iter().any(|p| p.port == *n),
    }
}

fn port_ref_rule(cx: &mut Ctx<'_>, p: &str, svc_name: &str, svc: &Service, r: &PortRef) {
    if port_exists(svc, r) {
        return;
    }
    let shown = match r {
        PortRef::Name(n) => format!("`{n}`"),
        PortRef::Number(n) => n.to_string(),
    };
    let names: Vec<&str> = svc.ports.iter().map(|p| p.name.as_str()).collect();
    let d = cx.at(
        p,
        Code::UndefinedPort,
        format!("service `{svc_name}` has no port {shown}"),
    );
    if names.is_empty() {
        help(d, format!("add it under `services.{svc_name}.ports`"));
    } else {
        help(d, format!("its ports: {}", names.join(", ")));
    }
}

#[expect(clippy::too_many_lines, reason = "a flat list of per-service rules")]
fn service(cx: &mut Ctx<'_>, spec: &Spec, profile: &Profile, name: &str, svc: &Service) {
    let sp = format!("/services/{}", seg(name));
    image_rules(cx, spec, &format!("{sp}/image"), &svc.image);
    if svc.scaling == Scaling::Singleton && svc.replicas.is_some_and(|r| r > 1) {
        let d = cx.at(
            &format!("{sp}/replicas"),
            Code::SingletonReplicas,
            format!(
                "`{name}` is a singleton but asks for {} replicas",
                svc.replicas.unwrap_or(0)
            ),
        );
        help(
            d,
            "a singleton runs exactly once (replicas would race); set `replicas: 1` or `scaling: replicable`",
        );
    }
    for k in svc.env.keys() {
        if !is_env_name(k) {
            cx.at_key(
                &format!("{sp}/env/{}", seg(k)),
                Code::InvalidName,
                format!("`{k}` is not a valid environment variable name"),
            );
        }
    }
    // Ports: names and numbers unique.
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut numbers: BTreeMap<(u16, crate::spec::model::Protocol), usize> = BTreeMap::new();
    for (i, port) in svc.ports.iter().enumerate() {
        let pp = format!("{sp}/ports/{i}");
        if !is_port_name(&port.name) {
            let d = cx.at(
                &format!("{pp}/name"),
                Code::InvalidName,
                format!("port name `{}` is not allowed", port.name),
            );
            help(
                d,
                "port names are lowercase letters, digits and `-`, at most 15, with at least one letter (Kubernetes names ports so)",
            );
        }
        if let Some(first) = names.insert(&port.name, i) {
            cx.at(
                &format!("{pp}/name"),
                Code::DuplicatePort,
                format!(
                    "port name `{}` is used twice in `{name}` (first at ports[{first}])",
                    port.name
                ),
            );
        }
        if let Some(first) = numbers.insert((port.port, port.protocol), i) {
            cx.at(
                &format!("{pp}/port"),
                Code::DuplicatePort,
                format!(
                    "port {} is listed twice in `{name}` (first at ports[{first}])",
                    port.port
                ),
            );
        }
    }
    // Mounts.
    let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in svc.mounts.iter().enumerate() {
        mount(cx, spec, &format!("{sp}/mounts/{i}"), m);
        if let Some(first) = paths.insert(m.path.as_str(), i) {
            cx.at(
                &format!("{sp}/mounts/{i}/path"),
                Code::MountSource,
                format!("two mounts at `{}` (first at mounts[{first}])", m.path),
            );
        }
    }
    // Healthcheck.
    if let Some(h) = &svc.healthcheck {
        let hp = format!("{sp}/healthcheck");
        let n = usize::from(h.http.is_some())
            + usize::from(h.tcp.is_some())
            + usize::from(h.exec.is_some());
        if n != 1 {
            let d = cx.at_key(
                &hp,
                Code::MountSource,
                "a healthcheck needs exactly one of `http`, `tcp` or `exec`",
            );
            d.code = Code::SchemaOther;
        }
        if let Some(http) = &h.http {
            port_ref_rule(cx, &format!("{hp}/http/port"), name, svc, &http.port);
            if !http.path.starts_with('/') {
                cx.at(
                    &format!("{hp}/http/path"),
                    Code::SchemaPattern,
                    "an HTTP check path starts with `/`",
                );
            }
            if http
                .path
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                cx.at(
                    &format!("{hp}/http/path"),
                    Code::SchemaPattern,
                    "an HTTP check path cannot hold white space; percent-encode it",
                );
            }
        }
        if let Some(t) = &h.tcp {
            port_ref_rule(cx, &format!("{hp}/tcp"), name, svc, t);
        }
        if let Some(e) = &h.exec
            && e.is_empty()
        {
            cx.at(
                &format!("{hp}/exec"),
                Code::SchemaLength,
                "an exec check needs a command",
            );
        }
        for (f, v) in [
            ("interval", &h.interval),
            ("timeout", &h.timeout),
            ("start_period", &h.start_period),
        ] {
            if let Some(v) = v {
                duration(cx, &format!("{hp}/{f}"), v);
            }
        }
    }
    // depends_on.
    for (dep, cond) in &svc.depends_on {
        let dp = format!("{sp}/depends_on/{}", seg(dep));
        if dep == DATABASE {
            if spec.database.is_none() {
                let d = cx.at_key(
                    &dp,
                    Code::UndefinedService,
                    "depends on `database`, but the spec has no `database:`",
                );
                help(
                    d,
                    "describe the database under `database:` or remove this dependency",
                );
            } else if *cond == Condition::Completed {
                cx.at(
                    &dp,
                    Code::SchemaEnum,
                    "the database never completes; use `started` or `healthy`",
                );
            }
            continue;
        }
        match spec.services.get(dep) {
            None => {
                let mut known: Vec<String> = spec.services.keys().cloned().collect();
                if spec.database.is_some() {
                    known.push(DATABASE.into());
                }
                let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
                let sugg = closest(dep, known_refs.iter().copied());
                let d = cx.at_key(
                    &dp,
                    Code::UndefinedService,
                    format!("service `{dep}` is not defined"),
                );
                if let Some(s) = sugg {
                    help(d, format!("did you mean `{s}`?"));
                } else {
                    help(d, format!("defined services: {}", known.join(", ")));
                }
            }
            Some(other) => {
                if *cond == Condition::Healthy && other.healthcheck.is_none() {
                    let d = cx.at(
                        &dp,
                        Code::HealthyWithoutHealthcheck,
                        format!("`{dep}` has no healthcheck, so it can never be healthy"),
                    );
                    help(
                        d,
                        format!("give `{dep}` a healthcheck, or wait for `started`"),
                    );
                }
                if *cond == Condition::Completed && replicas(other, profile) > 1 {
                    cx.at(&dp, Code::SchemaEnum, format!("`{dep}` runs several replicas; only a one-off job can be waited for with `completed`"));
                }
            }
        }
    }
    if let Some(r) = &svc.resources {
        resources(cx, &format!("{sp}/resources"), r);
    }
    if let Some(u) = &svc.user
        && (u.is_empty() || u.contains(char::is_whitespace) || u.split(':').count() > 2)
    {
        cx.at(
            &format!("{sp}/user"),
            Code::SchemaPattern,
            "`user` is `UID[:GID]` or a user name",
        );
    }
    for (f, list) in [("command", &svc.command), ("entrypoint", &svc.entrypoint)] {
        if let Some(list) = list
            && list.is_empty()
        {
            let d = cx.at(
                &format!("{sp}/{f}"),
                Code::SchemaLength,
                format!("an empty `{f}` list"),
            );
            help(d, format!("remove `{f}` to keep the image's own"));
        }
    }
}

#[expect(clippy::too_many_lines, reason = "a flat list of mount rules")]
fn mount(cx: &mut Ctx<'_>, spec: &Spec, mp: &str, m: &Mount) {
    let n = usize::from(m.volume.is_some())
        + usize::from(m.secret.is_some())
        + usize::from(m.file.is_some())
        + usize::from(m.scratch);
    if n != 1 {
        let d = cx.at(
            mp,
            Code::MountSource,
            "a mount needs exactly one of `volume`, `secret`, `file` or `scratch: true`",
        );
        help(d, "split it into one mount per source");
        return;
    }
    if m.path.trim_end_matches('/').is_empty() {
        let d = cx.at(
            &format!("{mp}/path"),
            Code::MountSource,
            "a mount at `/` would hide the whole image",
        );
        help(d, "mount at a directory inside the container, e.g. `/data`");
    } else if !m.path.starts_with('/')
        || m.path.split('/').any(|s| s == "..")
        || m.path.contains(['\n', ':', ','])
    {
        let d = cx.at(
            &format!("{mp}/path"),
            Code::MountSource,
            format!("`{}` is not an absolute container path", m.path),
        );
        help(d, "paths start with `/` and hold no `..`, `:` or `,`");
    }
    if let Some(v) = &m.volume
        && !spec.volumes.contains_key(v)
    {
        undefined(
            cx,
            &format!("{mp}/volume"),
            Code::UndefinedVolume,
            "volume",
            v,
            spec.volumes.keys(),
        );
    }
    if let Some(f) = &m.file
        && !spec.files.contains_key(f)
    {
        undefined(
            cx,
            &format!("{mp}/file"),
            Code::UndefinedFile,
            "file",
            f,
            spec.files.keys(),
        );
    }
    if m.read_only && m.volume.is_none() {
        cx.at_key(
            &format!("{mp}/read_only"),
            Code::MountSource,
            "`read_only` applies to volume mounts (secret and file mounts are always read-only)",
        );
    }
    if !m.items.is_empty() && m.secret.is_none() {
        cx.at_key(
            &format!("{mp}/items"),
            Code::BadSecretItem,
            "`items` applies only to secret mounts",
        );
    }
    if let Some(s) = &m.secret {
        match spec.secrets.get(s) {
            None => undefined(
                cx,
                &format!("{mp}/secret"),
                Code::UndefinedSecret,
                "secret",
                s,
                spec.secrets.keys(),
            ),
            Some(secret_def) => {
                let files: Vec<String> = if secret_def.generate == Some(Generate::Tls) {
                    vec!["ca.crt".into(), "tls.crt".into(), "tls.key".into()]
                } else {
                    vec![s.clone()]
                };
                let mut targets = BTreeSet::new();
                for (from, to) in &m.items {
                    let ip = format!("{mp}/items/{}", seg(from));
                    if !files.contains(from) {
                        let d = cx.at_key(
                            &ip,
                            Code::BadSecretItem,
                            format!("secret `{s}` has no file `{from}`"),
                        );
                        help(d, format!("its files: {}", files.join(", ")));
                    }
                    if to.is_empty()
                        || to.contains('/')
                        || to == "."
                        || to == ".."
                        || to.starts_with("..")
                        || to.contains(char::is_control)
                    {
                        cx.at(
                            &ip,
                            Code::BadSecretItem,
                            format!("`{to}` is not a plain file name"),
                        );
                    } else if !targets.insert(to.as_str()) {
                        cx.at(
                            &ip,
                            Code::BadSecretItem,
                            format!("two items are renamed to `{to}`"),
                        );
                    }
                }
            }
        }
    }
}

/// The port range a `NodePort` Service takes (the API server's default).
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30_000..=32_767;

fn host_ports(cx: &mut Ctx<'_>, spec: &Spec) {
    let k8s = &spec.targets.kubernetes;
    if k8s.publish.is_some() && k8s.host_ports.is_some() {
        let d = cx.at_key(
            "/targets/kubernetes/host_ports",
            Code::KubernetesLimit,
            "`host_ports` is the older spelling of `publish`: give one of them",
        );
        help(
            d,
            "`host_ports: true` is `publish: host-port`, `false` is `publish: none`",
        );
    }
    let node_port = k8s.publish_mode() == crate::spec::model::Publish::NodePort;
    let mut seen: BTreeMap<(u16, crate::spec::model::Protocol), String> = BTreeMap::new();
    for (name, svc) in &spec.services {
        for (i, p) in svc.ports.iter().enumerate() {
            let Some(host) = p.publish else { continue };
            let pp = format!("/services/{}/ports/{i}/publish", seg(name));
            if node_port && !NODE_PORTS.contains(&host) {
                let d = cx.at(
                    &pp,
                    Code::KubernetesLimit,
                    format!(
                        "port {host} is outside the NodePort range {}-{} (targets.kubernetes.publish is node-port)",
                        NODE_PORTS.start(),
                        NODE_PORTS.end()
                    ),
                );
                help(
                    d,
                    "publish a port in the range, or use `publish: load-balancer` for any port",
                );
            }
            match seen.get(&(host, p.protocol)) {
                Some(other) => {
                    let d = cx.at(
                        &pp,
                        Code::HostPortConflict,
                        format!("host port {host} is already published by `{other}`"),
                    );
                    help(
                        d,
                        "each host port can be published once; pick another `publish` port",
                    );
                }
                None => {
                    seen.insert((host, p.protocol), name.clone());
                }
            }
        }
    }
}

fn cycles(cx: &mut Ctx<'_>, spec: &Spec) {
    // Depth-first search; report each cycle once, at the edge that closes it.
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Active,
        Done,
    }
    fn visit<'a>(
        spec: &'a Spec,
        node: &'a str,
        state: &mut BTreeMap<&'a str, State>,
        path: &mut Vec<&'a str>,
        found: &mut Vec<(Vec<String>, String, String)>,
    ) {
        state.insert(node, State::Active);
        path.push(node);
        if let Some(svc) = spec.services.get(node) {
            for dep in svc.depends_on.keys() {
                match state.get(dep.as_str()).copied() {
                    Some(State::New) => visit(spec, dep, state, path, found),
                    Some(State::Active) => {
                        let start = path.iter().position(|p| *p == dep).unwrap_or(0);
                        let cyc: Vec<String> =
                            path[start..].iter().map(|s| (*s).to_owned()).collect();
                        found.push((cyc, node.to_owned(), dep.clone()));
                    }
                    _ => {}
                }
            }
        }
        path.pop();
        state.insert(node, State::Done);
    }
    let mut state: BTreeMap<&str, State> = spec
        .services
        .keys()
        .map(|k| (k.as_str(), State::New))
        .collect();
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut found = Vec::new();
    let keys: Vec<&str> = spec.services.keys().map(String::as_str).collect();
    for k in keys {
        if state.get(k) == Some(&State::New) {
            visit(spec, k, &mut state, &mut Vec::new(), &mut found);
        }
    }
    for (cyc, from, to) in found {
        let mut key = cyc.clone();
        key.sort();
        if !reported.insert(key) {
            continue;
        }
        let mut shown = cyc.clone();
        shown.push(cyc[0].clone());
        let p = format!("/services/{}/depends_on/{}", seg(&from), seg(&to));
        let d = cx.at_key(
            &p,
            Code::DependencyCycle,
            format!("dependency cycle: {}", shown.join(" → ")),
        );
        help(
            d,
            "services that wait for each other never start; remove one of these dependencies",
        );
    }
}

/// The most a `ConfigMap` or `Secret` holds (the API server refuses a larger object).
const MAX_OBJECT_DATA: usize = 1 << 20;

fn files(cx: &mut Ctx<'_>, spec: &Spec) {
    for (name, f) in &spec.files {
        // Each file is a ConfigMap (or Secret) of its own on Kubernetes.
        let len = crate::domain::expand_neutral(spec, &f.content).len();
        if len > MAX_OBJECT_DATA {
            let d = cx.at(
                &format!("/files/{}/content", seg(name)),
                Code::KubernetesLimit,
                format!("file `{name}` is {len} bytes; a Kubernetes ConfigMap or Secret holds at most {MAX_OBJECT_DATA}"),
            );
            help(d, "ship large files in the image or on a volume");
        }
        if let Some(m) = &f.mode {
            let ok = (3..=4).contains(&m.len())
                && m.bytes().all(|b| (b'0'..=b'7').contains(&b))
                && u32::from_str_radix(m, 8).is_ok_and(|v| v <= 0o777);
            if !ok {
                let d = cx.at(
                    &format!("/files/{}/mode", seg(name)),
                    Code::BadMode,
                    format!("`{m}` is not a file mode"),
                );
                help(d, "write the octal mode as a quoted string, e.g. \"0644\"");
            }
        }
    }
}

fn edge(cx: &mut Ctx<'_>, spec: &Spec) {
    let Some(e) = &spec.edge else { return };
    match spec.services.get(&e.service) {
        None => undefined(
            cx,
            "/edge/service",
            Code::UndefinedService,
            "service",
            &e.service,
            spec.services.keys(),
        ),
        Some(svc) => port_ref_rule(cx, "/edge/port", &e.service, svc, &e.port),
    }
    if let Some(t) = &e.tls {
        match spec.secrets.get(t) {
            None => undefined(
                cx,
                "/edge/tls",
                Code::UndefinedSecret,
                "secret",
                t,
                spec.secrets.keys(),
            ),
            Some(s) if s.generate != Some(Generate::Tls) && !s.external => {
                cx.at(
                    "/edge/tls",
                    Code::EdgeConfig,
                    format!("`{t}` is not a tls secret (`generate: tls`)"),
                );
            }
            Some(s) if s.external => {
                cx.at("/edge/tls", Code::EdgeConfig, format!("`{t}` is external; the edge needs a `generate: tls` secret (bring your own certificate by replacing the files under OUT/secrets/{t}/)"));
            }
            _ => {}
        }
    }
    if let Some(img) = &e.image {
        image_rules(cx, spec, "/edge/image", img);
    }
    if e.redirect_http && e.tls.is_none() {
        cx.at_key(
            "/edge/redirect_http",
            Code::EdgeConfig,
            "`redirect_http` needs `tls`: there is no HTTPS to redirect to",
        );
    }
    if let Some(b) = &e.max_body_size
        && units::body_size_bytes(b).is_none()
    {
        let d = cx.at(
            "/edge/max_body_size",
            Code::BadQuantity,
            format!("`{b}` is not a body size"),
        );
        help(d, "write a number with k, m or g, e.g. `512m`");
    }
}

fn policy_and_targets(cx: &mut Ctx<'_>, spec: &Spec) {
    if let Some(pol) = &spec.policy {
        for (i, r) in pol.registries.iter().enumerate() {
            if r.is_empty()
                || r.contains(char::is_whitespace)
                || r.contains(['@', ':']) && !r.split('/').next().unwrap_or("").contains(':')
            {
                cx.at(
                    &format!("/policy/registries/{i}"),
                    Code::ImageSyntax,
                    format!("`{r}` is not a registry prefix"),
                );
            }
        }
    }
    if let Some(img) = &spec.images
        && let Some(m) = &img.mirror
        && let Err(e) = crate::image::check_mirror(m)
    {
        cx.at(
            "/images/mirror",
            Code::ImageSyntax,
            format!("invalid images.mirror: {e}"),
        );
    }
    if let Some(w) = &spec.targets.kubernetes.wait_image {
        image_rules(cx, spec, "/targets/kubernetes/wait_image", w);
    }
    if let Some(ns) = &spec.targets.kubernetes.namespace
        && !is_dns_label(ns)
    {
        cx.at(
            "/targets/kubernetes/namespace",
            Code::InvalidName,
            format!("namespace `{ns}` {}", label_problem(ns)),
        );
    }
    if let Some(p) = &spec.targets.compose.project
        && !(is_object_name(p))
    {
        cx.at(
            "/targets/compose/project",
            Code::InvalidName,
            format!("compose project `{p}` must be lowercase letters, digits, `-` and `_`"),
        );
    }
    if let Some(v) = &spec.targets.systemd.podman_version
        && crate::validate::podman_version(v).is_none()
    {
        cx.at(
            "/targets/systemd/podman_version",
            Code::SchemaPattern,
            format!("`{v}` is not a podman version like \"4.6\""),
        );
    }
    if let Some(d) = &spec.targets.systemd.install_dir
        && !is_install_dir(d)
    {
        let at = cx.at(
            "/targets/systemd/install_dir",
            Code::SchemaPattern,
            format!("install_dir `{d}` must be an absolute path without whitespace, quotes, `:`, `,`, `%`, `$` or backslashes"),
        );
        help(
            at,
            "the units name files under it in `-v HOST:CONTAINER` mounts and Exec lines",
        );
    }
}

/// An absolute host path the units can name without any quoting.
fn is_install_dir(d: &str) -> bool {
    d.starts_with('/')
        && d.len() > 1
        && !d.split('/').any(|s| s == ".." || s == ".")
        && d.chars().all(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !matches!(c, '"' | '\'' | ':' | ',' | '%' | '$' | '\\' | ';')
        })
}

/// Where placeholders may appear, and whether `${secrets.…}` may.
fn placeholder_sites(spec: &Spec) -> Vec<(String, String, bool)> {
    let mut v = Vec::new();
    for (name, svc) in &spec.services {
        let sp = format!("/services/{}", seg(name));
        for (k, val) in &svc.env {
            if let crate::spec::model::Scalar::String(s) = val {
                v.push((format!("{sp}/env/{}", seg(k)), s.clone(), true));
            }
        }
        for (f, list) in [("command", &svc.command), ("entrypoint", &svc.entrypoint)] {
            for (i, s) in list.iter().flatten().enumerate() {
                v.push((format!("{sp}/{f}/{i}"), s.clone(), false));
            }
        }
        if let Some(h) = &svc.healthcheck {
            for (i, s) in h.exec.iter().flatten().enumerate() {
                v.push((format!("{sp}/healthcheck/exec/{i}"), s.clone(), false));
            }
        }
    }
    for (name, f) in &spec.files {
        v.push((
            format!("/files/{}/content", seg(name)),
            f.content.clone(),
            true,
        ));
    }
    if let Some(e) = &spec.edge {
        v.push(("/edge/host".into(), e.host.clone(), false));
    }
    for (name, s) in &spec.secrets {
        for (i, h) in s.hosts.iter().enumerate() {
            v.push((
                format!("/secrets/{}/hosts/{i}", seg(name)),
                h.clone(),
                false,
            ));
        }
    }
    if let Some(db) = &spec.database
        && let Some(x) = &db.external
    {
        v.push(("/database/external/host".into(), x.host.clone(), false));
    }
    v
}

/// A host name a certificate or an ingress can carry: DNS labels (lowercase ASCII; `*.` first is
/// allowed for certificates) or an IP address.
fn is_host(h: &str, wildcard: bool) -> bool {
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let h = if wildcard {
        h.strip_prefix("*.").unwrap_or(h)
    } else {
        h
    };
    !h.is_empty() && h.len() <= 253 && h.split('.').all(is_dns_label)
}

fn hosts(cx: &mut Ctx<'_>, spec: &Spec) {
    for (name, s) in &spec.secrets {
        for (i, h) in s.hosts.iter().enumerate() {
            let text = crate::domain::expand_neutral(spec, h);
            if !placeholder::has_placeholders(&text) && !is_host(&text, true) {
                let d = cx.at(
                    &format!("/secrets/{}/hosts/{i}", seg(name)),
                    Code::InvalidName,
                    format!("`{text}` is not a DNS name or IP address"),
                );
                help(
                    d,
                    "use lowercase ASCII labels (write internationalised names in their xn-- form)",
                );
            }
        }
    }
    if let Some(e) = &spec.edge {
        let text = crate::domain::expand_neutral(spec, &e.host);
        if text.parse::<std::net::IpAddr>().is_ok() {
            let d = cx.at(
                "/edge/host",
                Code::InvalidName,
                format!("`{text}` is an IP address; the edge's host must be a DNS name"),
            );
            help(
                d,
                "a Kubernetes Ingress host cannot be an IP address: give the name users type",
            );
        } else if !placeholder::has_placeholders(&text) && !is_host(&text, false) {
            let d = cx.at(
                "/edge/host",
                Code::InvalidName,
                format!("`{text}` is not a DNS name"),
            );
            help(
                d,
                "use lowercase ASCII labels (write internationalised names in their xn-- form)",
            );
        }
    }
}

fn placeholders(cx: &mut Ctx<'_>, spec: &Spec) {
    for (p, text, secrets_ok) in placeholder_sites(spec) {
        if !placeholder::has_placeholders(&text) {
            continue;
        }
        let pieces = match placeholder::parse(&text) {
            Ok(pieces) => pieces,
            Err(bad) => {
                let nth = placeholder::unescaped_matches(&text, &bad.text)
                    .iter()
                    .filter(|&&i| i < bad.offset)
                    .count();
                let pos = cx.doc.pos_in_scalar(&p, &bad.text, nth);
                let d = cx.push(
                    &p,
                    pos,
                    if bad.unterminated {
                        Code::PlaceholderSyntax
                    } else {
                        Code::UndefinedPlaceholder
                    },
                    bad.message,
                );
                if bad.unterminated {
                    help(d, "close it with `}`, or write `$${` for a literal `${`");
                }
                continue;
            }
        };
        let mut nth: BTreeMap<String, usize> = BTreeMap::new();
        for piece in pieces {
            let Piece::Ref(r, raw) = piece else { continue };
            let n = nth.entry(raw.clone()).or_insert(0);
            let occurrence = *n;
            *n += 1;
            if let Some((code, msg, hint)) = check_ref(spec, &r, secrets_ok) {
                // Located only on error: it scans the source text.
                let pos = cx.doc.pos_in_scalar(&p, &raw, occurrence);
                let d = cx.push(&p, pos, code, msg);
                if let Some(h) = hint {
                    help(d, h);
                }
            }
        }
    }
}

fn check_ref(spec: &Spec, r: &Ref, secrets_ok: bool) -> Option<(Code, String, Option<String>)> {
    let sugg =
        |name: &str, known: Vec<&str>| closest(name, known).map(|s| format!("did you mean `{s}`?"));
    match r {
        Ref::Name => None,
        Ref::Param(k) => (!spec.params.contains_key(k)).then(|| {
            (Code::UndefinedPlaceholder, format!("`${{params.{k}}}`: no param `{k}`"), sugg(k, spec.params.keys().map(String::as_str).collect()).or(Some("define it under `params:`".into())))
        }),
        Ref::Secret(s) => match spec.secrets.get(s) {
            None => Some((Code::UndefinedPlaceholder, format!("`${{secrets.{s}}}`: no secret `{s}`"), sugg(s, spec.secrets.keys().map(String::as_str).collect()))),
            Some(_) if !secrets_ok => Some((
                Code::SecretPlaceholderNotAllowed,
                format!("`${{secrets.{s}}}` cannot be used here: command lines, host names and healthchecks are visible to anyone who can list processes or read the unit"),
                Some("pass the secret in an `env` value (e.g. `PASSWORD: ${secrets.x}`) and refer to `$PASSWORD` through a shell, or put it in a `files:` entry".into()),
            )),
            Some(secret_def) if secret_def.generate == Some(Generate::Tls) => Some((
                Code::SecretPlaceholderNotAllowed,
                format!("`${{secrets.{s}}}`: a tls secret is a set of files, not one value"),
                Some("mount it with `{ secret: NAME, path: … }`".into()),
            )),
            Some(_) => None,
        },
        Ref::Database(f) => {
            let db = spec.database.as_ref();
            if db.is_none() {
                return Some((Code::UndefinedPlaceholder, "`${database.…}`: the spec has no `database:`".into(), None));
            }
            let _ = f == &DbField::Host;
            None
        }
        Ref::ServiceHost(s) | Ref::ServicePort(s) | Ref::ServiceNamedPort(s, _) => {
            let Some(svc) = spec.services.get(s) else {
                return Some((Code::UndefinedPlaceholder, format!("`${{services.{s}…}}`: no service `{s}`"), sugg(s, spec.services.keys().map(String::as_str).collect())));
            };
            match r {
                Ref::ServicePort(_) if svc.ports.is_empty() => Some((Code::UndefinedPlaceholder, format!("`${{services.{s}.port}}`: `{s}` has no ports"), None)),
                Ref::ServiceNamedPort(_, p) if !svc.ports.iter().any(|x| &x.name == p) => Some((
                    Code::UndefinedPlaceholder,
                    format!("`${{services.{s}.ports.{p}}}`: `{s}` has no port `{p}`"),
                    sugg(p, svc.ports.iter().map(|x| x.name.as_str()).collect()),
                )),
                _ => None,
            }
        }
    }
}

fn profile_rules(cx: &mut Ctx<'_>, spec: &Spec, profile: &Profile) {
    let pname = &profile.name;
    if profile.rules.database == DatabaseRule::External
        && let Some(db) = &spec.database
        && db.external.is_none()
    {
        let d = cx.at_key("/database", Code::ProfileDatabase, format!("profile `{pname}` needs an external database; this one would be deployed as a single instance"));
        help(
            d,
            format!(
                "add `profiles: {{ {pname}: {{ database: {{ external: {{ host: … }} }} }} }}` to use a managed or replicated server"
            ),
        );
    }
    // Volumes mounted by more than one replica in total.
    if profile.rules.shared_volumes {
        let mut users: BTreeMap<&str, Vec<(String, u32, String)>> = BTreeMap::new();
        for (name, svc) in &spec.services {
            let r = replicas(svc, profile);
            if r == 0 {
                continue;
            }
            for (i, m) in svc.mounts.iter().enumerate() {
                if let Some(v) = &m.volume {
                    users.entry(v.as_str()).or_default().push((
                        name.clone(),
                        r,
                        format!("/services/{}/mounts/{i}/volume", seg(name)),
                    ));
                }
            }
        }
        for (vol, list) in users {
            let total: u32 = list.iter().map(|(_, r, _)| r).sum();
            let Some(def) = spec.volumes.get(vol) else {
                continue;
            };
            if total > 1 && !def.shared {
                let who: Vec<String> = list.iter().map(|(n, r, _)| format!("{n} ×{r}")).collect();
                let d = cx.at_key(&format!("/volumes/{}", seg(vol)), Code::ProfileSharedVolume, format!(
                    "volume `{vol}` is mounted by {total} replicas ({}) under profile `{pname}` but is not `shared: true`",
                    who.join(", ")
                ));
                help(
                    d,
                    "mark it `shared: true` (ReadWriteMany storage such as NFS that supports file locks), or run one replica",
                );
            }
        }
    }
    if !profile.rules.host_ports_on_replicated {
        for (name, svc) in &spec.services {
            if replicas(svc, profile) <= 1 {
                continue;
            }
            for (i, p) in svc.ports.iter().enumerate() {
                if p.publish.is_some() {
                    let d = cx.at(&format!("/services/{}/ports/{i}/publish", seg(name)), Code::ProfileHostPort, format!(
                        "`{name}` runs {} replicas under profile `{pname}`; replicas cannot share a host port",
                        replicas(svc, profile)
                    ));
                    help(d, "remove `publish` and let users in through `edge:`");
                }
            }
        }
    }
}
