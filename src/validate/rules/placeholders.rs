//! `${…}` placeholders: where they may appear, and what they refer to.

use std::collections::BTreeMap;

use super::{Ctx, help, seg};
use crate::diag::{Code, closest};
use crate::placeholder::{self, DbField, Piece, Ref};
use crate::spec::model::Spec;

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

pub(super) fn placeholders(cx: &mut Ctx<'_>, spec: &Spec) {
    params(cx, spec);
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

/// A `params` value is put in as written, nothing in it expanded: a `${…}` there (a shell or
/// compose default such as `${BASE_URL:-https://localhost}`, an environment variable, another
/// placeholder) would reach the container as those very characters, so it is refused.
fn params(cx: &mut Ctx<'_>, spec: &Spec) {
    for (k, v) in &spec.params {
        let crate::spec::model::Scalar::String(s) = v else {
            continue;
        };
        let Some(&at) = placeholder::unescaped_matches(s, "${").first() else {
            continue;
        };
        let rest = &s[at..];
        let shown: String = match rest.find('}') {
            Some(end) if end < 60 => rest[..=end].to_owned(),
            _ => rest.chars().take(40).collect(),
        };
        let p = format!("/params/{}", seg(k));
        let pos = cx.doc.pos_in_scalar(&p, "${", 0);
        let d = cx.push(
            &p,
            pos,
            Code::PlaceholderInParam,
            format!(
                "`params.{k}` holds `{shown}`, but a params value is literal text: misp-gen expands no placeholder, environment variable or default in it"
            ),
        );
        help(
            d,
            "write the value itself (vary it per deployment under `profiles.NAME.params`), or `$${` for a literal `${`",
        );
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
            Some(secret_def) if secret_def.is_tls() => Some((
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
