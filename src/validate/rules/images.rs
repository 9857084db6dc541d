//! Image references and the image policy, and the targets' own settings.

use super::{Ctx, help, is_dns_label, is_object_name, label_problem};
use crate::diag::Code;
use crate::image::ImageRef;
use crate::spec::model::Spec;

pub(super) fn image_rules(cx: &mut Ctx<'_>, spec: &Spec, p: &str, image: &str) {
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
        if !crate::domain::from_allowed_registry(pol, &r) {
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
        if !crate::domain::pinned_as_required(pol, &r) {
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

pub(super) fn policy_and_targets(cx: &mut Ctx<'_>, spec: &Spec) {
    if let Some(pol) = &spec.policy {
        for (i, r) in pol.registries.iter().enumerate() {
            let first = r.split('/').next().unwrap_or("");
            let host_like = first.contains(['.', ':', '[']) || first == "localhost";
            if r.is_empty()
                || r.contains(char::is_whitespace)
                || r.contains(['@', ':']) && !first.contains(':')
                || host_like && crate::host::check_host(first).is_err()
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
