//! Names: the spec's, its services', volumes', secrets', files', params', ports' and environment
//! variables', and the host names certificates and the edge carry.

use std::collections::BTreeMap;

use super::{Ctx, help, is_dns_label, is_object_name, label_problem, seg};
use crate::diag::Code;
use crate::domain::DATABASE;
use crate::placeholder;
use crate::spec::model::Spec;

pub(super) fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

pub(super) fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

pub(super) fn names(cx: &mut Ctx<'_>, spec: &Spec) {
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

pub(super) fn hosts(cx: &mut Ctx<'_>, spec: &Spec) {
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
