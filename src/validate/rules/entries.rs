//! Secret, volume and file entries.

use super::{Ctx, help, seg};
use crate::diag::Code;
use crate::spec::model::Spec;
use crate::units;

pub(super) fn secrets(cx: &mut Ctx<'_>, spec: &Spec) {
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
        if s.optional && !s.external {
            let d = cx.at_key(
                &format!("{p}/optional"),
                Code::ExternalSecretInGenerate,
                "`optional` applies only to `external: true` secrets (a generated one always has a value)",
            );
            help(d, "remove `optional`, or make the secret `external: true`");
        }
        let tls = s.is_tls();
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

pub(super) fn volumes(cx: &mut Ctx<'_>, spec: &Spec) {
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

/// The most a `ConfigMap` or `Secret` holds (the API server refuses a larger object).
const MAX_OBJECT_DATA: usize = 1 << 20;

pub(super) fn files(cx: &mut Ctx<'_>, spec: &Spec) {
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
