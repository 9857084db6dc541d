//! Semantic rules: what the schema cannot say (references, names, images, cycles, profile rules),
//! each diagnostic pointing at the offending node.

mod bounds;
mod database;
mod edge;
mod entries;
mod images;
mod mounts;
mod names;
mod placeholders;
mod profile_rules;
mod quantities;
mod redis;
mod security;
mod services;

use crate::diag::{Code, Diagnostic, closest};
pub use crate::domain::{DATABASE, engine_image, is_dns_label, replicas};
use crate::profile::Profile;
use crate::spec::Document;
use crate::spec::load::escape_segment;
use crate::spec::model::Spec;

use bounds::too_many;
pub use bounds::{MAX_CONTAINERS, MAX_ENTRIES};
use database::database;
use edge::edge;
use entries::{files, secrets, volumes};
use images::policy_and_targets;
use names::{hosts, names};
use placeholders::placeholders;
use profile_rules::profile_rules;
use security::security;
use services::{cycles, host_ports, service};

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
        redis::replicated(&mut cx, spec, name, svc);
    }
    host_ports(&mut cx, spec);
    mounts::host_claims(&mut cx, spec);
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
