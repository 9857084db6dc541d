//! The `edge:` block: the service and port it fronts, its certificate, image and limits.

use super::images::image_rules;
use super::services::port_ref_rule;
use super::{Ctx, help, undefined};
use crate::diag::Code;
use crate::spec::model::Spec;
use crate::units;

pub(super) fn edge(cx: &mut Ctx<'_>, spec: &Spec) {
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
            Some(s) if !s.is_tls() && !s.external => {
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
