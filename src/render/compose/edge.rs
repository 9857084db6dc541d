//! misp-gen's own load balancer in front of a replicated edge service (compose has no Service
//! to spread connections over replicas): `HAProxy`, its configuration and certificate.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Dep, MountOut, Mounted, PortOut, SecretMount, Svc, harden};
use crate::error::Error;
use crate::plan;
use crate::render::{FileSet, Templates, add, add_mounted_secret};
use crate::secrets::Secrets;
use crate::units;

#[derive(Serialize)]
struct LbCtx {
    service: String,
    port: u16,
    backend_tls: bool,
    replicas: u32,
    tls: bool,
    redirect_http: bool,
    check_path: Option<String>,
    max_body_bytes: Option<u64>,
}

/// Where the LB finds its certificate and configuration.
const LB_CERT: &str = "/usr/local/etc/haproxy/certs/edge.pem";
const LB_CONFIG: &str = "/usr/local/etc/haproxy/haproxy.cfg";

/// misp-gen's load balancer in front of a replicated edge service: an `HAProxy`, its configuration
/// and certificate bind-mounted.
pub(super) fn load_balancer(
    secrets: &Secrets,
    templates: &Templates,
    (plan, lb): (&plan::EdgePlan, &plan::LbPlan),
    (mirror, pull): (Option<&str>, &'static str),
    used_secrets: &mut BTreeMap<String, String>,
    files: &mut FileSet,
) -> Result<Svc, Error> {
    let edge = &plan.edge;
    let tls = edge.tls.is_some();
    let cfg = templates.render(
        "compose/haproxy.cfg.j2",
        &LbCtx {
            service: edge.service.clone(),
            port: plan.port,
            backend_tls: plan.backend_tls,
            replicas: plan.replicas,
            tls,
            redirect_http: edge.redirect_http,
            check_path: plan.check_path.clone(),
            max_body_bytes: edge
                .max_body_size
                .as_deref()
                .and_then(units::body_size_bytes),
        },
    )?;
    let mut svc = Svc {
        aliases: Vec::new(),
        name: plan::LB_SERVICE.to_owned(),
        image: plan::image_ref(&lb.image, mirror),
        pull_policy: pull,
        restart: "unless-stopped",
        replicas: 1,
        ..Svc::default()
    };
    svc.mounted
        .push(Mounted::new(LB_CONFIG, 0o644, cfg.as_bytes(), false));
    add(
        files,
        format!("compose/files/{}.cfg", plan::LB_SERVICE),
        cfg,
        0o644,
    );
    svc.mounts.push(MountOut {
        kind: "bind",
        source: format!("./files/{}.cfg", plan::LB_SERVICE),
        target: LB_CONFIG.into(),
        read_only: true,
        create_host_path: false,
        selinux: None,
    });
    if tls {
        svc.ports.push(PortOut {
            target: 443,
            published: 443,
            protocol: "tcp",
        });
    }
    if !tls || edge.redirect_http {
        svc.ports.push(PortOut {
            target: 80,
            published: 80,
            protocol: "tcp",
        });
    }
    if let Some(t) = &edge.tls
        && let Some(cert) = secrets.tls(t)
    {
        let pem = format!("{}{}{}", cert.tls_crt, cert.ca_crt, cert.tls_key);
        // Readable by HAProxy's own user (the official image does not run as root).
        svc.mounted
            .push(Mounted::new(LB_CERT, 0o444, pem.as_bytes(), true));
        add_mounted_secret(
            files,
            format!("secrets/compose/{}.pem", plan::LB_SERVICE),
            pem,
        );
        let key = format!("{}.pem", plan::LB_SERVICE);
        used_secrets.insert(
            key.clone(),
            format!("../secrets/compose/{}.pem", plan::LB_SERVICE),
        );
        svc.secrets.push(SecretMount {
            source: key,
            target: LB_CERT.into(),
        });
    }
    svc.depends_on.push(Dep {
        name: edge.service.clone(),
        condition: "service_started",
    });
    // Ours: the default hardening, for the image's own (non-root) user and ports below 1024.
    harden(&mut svc, &lb.hardening);
    svc.label_mounted_content(files);
    Ok(svc)
}
