//! The edge: an Ingress to the service the spec exposes, with the annotations ingress-nginx reads.

use std::collections::BTreeMap;

use super::Out;
use super::model::{IngressCtx, kvs};
use super::pod::port_spec;
use crate::error::Error;
use crate::plan;
use crate::units;

/// The Ingress of the spec's `edge`, when it has one.
pub(super) fn render(out: &mut Out<'_>) -> Result<(), Error> {
    // The shared reference, not a copy: `out` is borrowed mutably below.
    let deployment = out.plan;
    let Some(e) = &deployment.edge else {
        return Ok(());
    };
    let Some(target) = deployment.workload(&e.edge.service) else {
        return Ok(());
    };
    let edge = &e.edge;
    let object = deployment.name.clone();
    let class = deployment
        .targets
        .spec
        .kubernetes
        .ingress_class
        .clone()
        .unwrap_or_else(|| "nginx".into());
    let tls_secret = edge.tls.as_ref().map(|t| out.secret_object(t));
    let mut annotations = BTreeMap::new();
    // Annotations only for the class that reads them; another controller ignores them, so
    // they would only pretend to configure it.
    if class == "nginx" {
        if e.backend_tls {
            annotations.insert(
                "nginx.ingress.kubernetes.io/backend-protocol".to_owned(),
                "HTTPS".to_owned(),
            );
        }
        if let Some(b) = edge
            .max_body_size
            .as_deref()
            .and_then(units::body_size_bytes)
        {
            annotations.insert(
                "nginx.ingress.kubernetes.io/proxy-body-size".to_owned(),
                nginx_size(b),
            );
        }
        let redirect = edge.redirect_http && edge.tls.is_some();
        annotations.insert(
            "nginx.ingress.kubernetes.io/ssl-redirect".to_owned(),
            redirect.to_string(),
        );
    }
    let ctx = IngressCtx {
        meta: out.meta(object, &edge.service),
        annotations: kvs(&annotations),
        class,
        host: plan::expand_neutral(deployment, &edge.host),
        tls_secret,
        service: out.naming.service(&edge.service),
        port: port_spec(&target.ports, &edge.port),
    };
    out.emit("ingress.yaml".into(), "kubernetes/ingress.yaml.j2", &ctx)?;
    Ok(())
}

fn nginx_size(bytes: u64) -> String {
    for (unit, shift) in [("g", 30), ("m", 20), ("k", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the size form ingress-nginx reads.
    #[test]
    fn sizes() {
        assert_eq!(nginx_size(512 << 20), "512m");
        assert_eq!(nginx_size(1 << 30), "1g");
        assert_eq!(nginx_size(1000), "1000");
    }
}
