//! Validation: schema errors and semantic errors, all at once, sorted by position.

pub mod rules;
pub mod schema;

use std::path::Path;
use std::sync::Arc;

use crate::diag::{self, Code, Diagnostic};
use crate::error::Error;
use crate::profile::{self, Profile, ProfileError};
use crate::spec::{Document, Spec, load};

/// A valid spec with its profile applied.
#[derive(Debug, Clone)]
pub struct Valid {
    /// The spec as written.
    pub raw: Arc<Document>,
    /// The spec with the profile's overlay merged in (positions kept).
    pub doc: Arc<Document>,
    /// The typed effective spec.
    pub spec: Spec,
    pub profile: Profile,
    /// The hardening questions the effective spec leaves open (`W…`), sorted by position.
    pub warnings: Vec<Diagnostic>,
    /// What every target renders, resolved once from the spec and the profile.
    pub deployment: crate::plan::Deployment,
}

pub use crate::diag::Invalid;

pub use crate::domain::podman_version;

/// Read and validate the spec at `path`.
///
/// # Errors
/// `Error::Invalid` with every diagnostic; I/O and usage errors otherwise.
pub fn validate_file(path: &Path, profile_arg: Option<&str>) -> Result<Valid, Error> {
    schema::warm();
    let bytes = load::read_input(path)
        .map_err(|e| Error::Io(format!("cannot read {}", path.display()), e))?;
    validate_bytes(
        &path.display().to_string(),
        &bytes,
        profile_arg,
        path.parent(),
    )
}

/// Validate a spec given as bytes. `base` is where relative profile paths are resolved.
///
/// # Errors
/// As [`validate_file`].
#[expect(clippy::too_many_lines, reason = "the stages of validation in order")]
pub fn validate_bytes(
    file: &str,
    bytes: &[u8],
    profile_arg: Option<&str>,
    base: Option<&Path>,
) -> Result<Valid, Error> {
    let mut inv = Invalid::default();
    let raw = match load::load(file, bytes) {
        Ok(d) => d,
        Err(d) => {
            inv.sources
                .insert(file.to_owned(), String::from_utf8_lossy(bytes).into_owned());
            inv.diags.push(*d);
            return Err(Error::Invalid(inv));
        }
    };
    inv.sources.insert(file.to_owned(), raw.source.clone());

    // Which profile: the command line, else the spec's `profile`, else single-node.
    let from_spec = raw
        .value
        .get("profile")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let (profile_name, from_cli) = match (profile_arg, &from_spec) {
        (Some(p), _) => (p.to_owned(), true),
        (None, Some(p)) => (p.clone(), false),
        (None, None) => ("single-node".to_owned(), false),
    };
    let source = profile::find(&profile_name).map(|s| match (s, base) {
        (profile::Source::File(p), Some(b)) if p.is_relative() && !from_cli => {
            profile::Source::File(b.join(p))
        }
        (s, _) => s,
    });
    let profile = match source {
        None if from_cli => {
            return Err(Error::Usage(format!(
                "unknown profile `{profile_name}`: use `single-node`, `ha`, or a path to a profile file"
            )));
        }
        None => {
            inv.diags.push(Diagnostic {
                file: file.to_owned(),
                pos: raw.pos("/profile"),
                pointer: "/profile".into(),
                code: Code::UnknownProfile,
                message: format!("unknown profile `{profile_name}`"),
                help: Some("use `single-node`, `ha`, or a path to a profile file".into()),
            });
            None
        }
        Some(src) => match profile::load(&src) {
            Ok((p, pdoc)) => {
                inv.sources.insert(pdoc.file.clone(), pdoc.source.clone());
                Some(p)
            }
            Err(ProfileError::Io(f, e)) if from_cli => {
                return Err(Error::Io(format!("cannot read profile {f}"), e));
            }
            Err(ProfileError::Io(f, e)) => {
                inv.diags.push(Diagnostic {
                    file: file.to_owned(),
                    pos: raw.pos("/profile"),
                    pointer: "/profile".into(),
                    code: Code::UnknownProfile,
                    message: format!("cannot read profile {f}: {e}"),
                    help: None,
                });
                None
            }
            // A file that did not load as a profile may be anything (a secret, a key): its
            // position and the reason only, never its content (no excerpt, quoted text cut).
            Err(ProfileError::Invalid(ds)) if matches!(src, profile::Source::File(_)) => {
                inv.diags.extend(ds.into_iter().map(|mut d| {
                    d.message = crate::diag::without_quoted(&d.message);
                    d
                }));
                None
            }
            Err(ProfileError::Invalid(ds)) => {
                inv.diags.extend(ds);
                None
            }
        },
    };

    // The schema on the spec as written, then on the effective spec: overlay errors point into the
    // overlay, and repeats of the same node are dropped by `sort_dedup`.
    // Without an overlay the effective document is the raw one: shared, not copied, checked once.
    let overlaid = profile.as_ref().is_some_and(|p| {
        raw.value
            .pointer(&format!(
                "/profiles/{}",
                crate::spec::load::escape_segment(&p.name)
            ))
            .is_some()
    });
    let raw = Arc::new(raw);
    let effective = match &profile {
        Some(p) if overlaid => Arc::new(profile::apply_overlay(&raw, &p.name)),
        _ => Arc::clone(&raw),
    };
    let mut prune: Vec<String> = Vec::new();
    let mut errors = schema::check(&raw);
    if overlaid {
        errors.extend(schema::check(&effective));
    }
    for e in errors {
        inv.diags.push(e.diag);
        prune.push(e.prune);
    }
    // Overlays of the other profiles: their schema errors too, so CI catches a typo in an overlay
    // that is not rendered today.
    if let Some(serde_json::Value::Object(overlays)) = raw.value.get("profiles") {
        for name in overlays.keys() {
            if profile.as_ref().is_some_and(|p| &p.name == name) {
                continue;
            }
            let other = profile::apply_overlay(&raw, name);
            let prefix = format!("/profiles/{}", crate::spec::load::escape_segment(name));
            for e in schema::check(&other) {
                // Only what the overlay itself brings; errors of the base are reported already.
                if raw
                    .lookup(&prefix)
                    .is_some_and(|n| e.diag.pos.line >= n.value.line)
                    && overlay_lines(&raw, &prefix).contains(&e.diag.pos.line)
                {
                    inv.diags.push(e.diag);
                }
            }
        }
    }
    let spec = typed_after_pruning(&effective, prune, &mut inv.diags, file);
    if let (Some(spec), Some(profile)) = (&spec, &profile) {
        inv.diags.extend(rules::check(spec, &effective, profile));
    }
    diag::sort_dedup(&mut inv.diags);
    match (spec, profile) {
        (Some(spec), Some(profile)) if inv.diags.is_empty() => {
            let doc = effective;
            let deployment = crate::plan::Deployment::new(
                &spec,
                &profile,
                crate::plan::Locator {
                    doc: doc.clone(),
                    raw: raw.clone(),
                },
            );
            Ok(Valid {
                warnings: warnings(&spec, &deployment, &doc),
                raw,
                doc,
                spec,
                profile,
                deployment,
            })
        }
        _ => Err(Error::Invalid(inv)),
    }
}

/// The open hardening questions of a valid spec as warnings, at their nodes in `doc`; and the
/// image of the load balancer compose runs in front of a replicated edge service, when it is not
/// pinned and the top-level `security.accept.image_tag` gives no reason.
#[must_use]
pub fn warnings(
    spec: &Spec,
    deployment: &crate::plan::Deployment,
    doc: &Document,
) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = crate::security::open_questions(deployment)
        .into_iter()
        .filter_map(|q| {
            Some(Diagnostic {
                file: doc.file.clone(),
                pos: if q.at_key {
                    doc.key_pos(&q.pointer)
                } else {
                    doc.pos(&q.pointer)
                },
                code: crate::security::warning_code(q.exception)?,
                pointer: q.pointer,
                message: q.message,
                help: Some(q.help),
            })
        })
        .collect();
    for (name, svc) in &spec.services {
        for (i, m) in svc.mounts.iter().enumerate() {
            let Some(host) = &m.host else { continue };
            let pointer = format!(
                "/services/{}/mounts/{i}/host",
                crate::spec::load::escape_segment(name)
            );
            let claim = crate::domain::host_claim(host);
            let norm = crate::domain::host_path(host);
            let local = if norm.starts_with('/') {
                norm
            } else {
                format!("./{norm}")
            };
            out.push(Diagnostic {
                file: doc.file.clone(),
                pos: doc.pos(&pointer),
                pointer,
                code: Code::WarnHostMount,
                message: format!(
                    "on Kubernetes the host path `{host}` is the PersistentVolumeClaim `{claim}`, which starts empty: the pods see none of the directory's content until it is copied in"
                ),
                help: Some(format!(
                    "after `kubectl apply -k`, copy the content into the claim through a pod that mounts it: `kubectl -n NAMESPACE cp {local}/. POD:{}` (the `{name}` pod, then restart it); or use a volume and `files:` instead of a host path",
                    m.path
                )),
            });
        }
    }
    // A setting no reason accepts that takes the Kubernetes namespace down to privileged.
    for (pointer, message, help) in crate::plan::refusals::pod_security_questions(deployment) {
        out.push(Diagnostic {
            file: doc.file.clone(),
            pos: doc.pos(&pointer),
            pointer,
            code: Code::WarnPodSecurity,
            message,
            help: Some(help),
        });
    }
    let replicated_edge = deployment.edge.as_ref().is_some_and(|e| e.lb.is_some());
    let accepted = spec.security.as_ref().is_some_and(|s| {
        s.accept
            .contains_key(&crate::spec::model::Exception::ImageTag)
    });
    let lb = crate::domain::lb_image(spec);
    if replicated_edge && !lb.contains('@') && !accepted {
        let pointer = if spec.edge.as_ref().is_some_and(|e| e.image.is_some()) {
            "/edge/image"
        } else {
            "/edge"
        };
        out.push(Diagnostic {
            file: doc.file.clone(),
            pos: if pointer == "/edge" {
                doc.key_pos(pointer)
            } else {
                doc.pos(pointer)
            },
            pointer: pointer.to_owned(),
            code: Code::WarnImageTag,
            message: format!(
                "the load balancer compose runs in front of the replicated edge service uses `{lb}`, pinned by tag, not by `@sha256:` digest"
            ),
            help: Some(
                "set `edge.image: NAME:TAG@sha256:…`, or give the reason in the top-level `security.accept.image_tag`".into(),
            ),
        });
    }
    diag::sort_dedup(&mut out);
    out
}

/// Read the typed model from the effective document with the nodes that failed the schema
/// removed, so the semantic rules can still look at everything else. When a removal takes a whole
/// service, volume, secret or file (or more), the semantic rules are skipped: they would report
/// references to it as undefined, which is not the problem.
fn typed_after_pruning(
    effective: &Document,
    prune: Vec<String>,
    diags: &mut Vec<Diagnostic>,
    file: &str,
) -> Option<Spec> {
    // The common case: nothing to prune, and the plain deserializer (no path tracking) succeeds.
    if prune.is_empty()
        && let Ok(s) = <Spec as serde::Deserialize>::deserialize(&effective.value)
    {
        return Some(s);
    }
    let mut value = effective.value.clone();
    let mut ptrs = prune;
    ptrs.sort();
    ptrs.dedup();
    for p in ptrs.iter().rev() {
        remove_pointer(&mut value, p);
    }
    let too_coarse = |p: &str| p.split('/').count() <= 3;
    let mut coarse = ptrs.iter().any(|p| too_coarse(p));
    for _ in 0..32 {
        match serde_path_to_error::deserialize::<_, Spec>(&value) {
            Ok(s) => return (!coarse).then_some(s),
            Err(e) => {
                let ptr = profile::path_to_pointer(e.path());
                if diags.is_empty() {
                    diags.push(Diagnostic {
                        file: file.to_owned(),
                        pos: effective.pos(&ptr),
                        pointer: ptr.clone(),
                        code: Code::SchemaOther,
                        message: e.inner().to_string(),
                        help: None,
                    });
                }
                if ptr.is_empty() {
                    return None;
                }
                coarse |= too_coarse(&ptr);
                remove_pointer(&mut value, &ptr);
            }
        }
    }
    None
}

/// The source lines an overlay's nodes are on.
fn overlay_lines(doc: &Document, prefix: &str) -> std::collections::BTreeSet<u32> {
    let inner = format!("{prefix}/");
    doc.index
        .iter()
        .filter(|(k, _)| k.starts_with(&inner))
        .flat_map(|(_, n)| [Some(n.value.line), n.key.map(|k| k.line)])
        .flatten()
        .collect()
}

fn remove_pointer(v: &mut serde_json::Value, ptr: &str) {
    if ptr.is_empty() {
        return;
    }
    let Some(cut) = ptr.rfind('/') else { return };
    let (parent, last) = (&ptr[..cut], &ptr[cut + 1..]);
    let last = last.replace("~1", "/").replace("~0", "~");
    match v.pointer_mut(parent) {
        Some(serde_json::Value::Object(m)) => {
            m.remove(&last);
        }
        Some(serde_json::Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}
