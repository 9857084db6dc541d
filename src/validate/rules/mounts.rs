//! A service's mounts: one source each, a container path, and the volume, file or secret it names.

use std::collections::BTreeSet;

use super::{Ctx, help, seg, undefined};
use crate::diag::Code;
use crate::spec::model::{Mount, Spec, TLS_FILES};

#[expect(clippy::too_many_lines, reason = "a flat list of mount rules")]
pub(super) fn mount(cx: &mut Ctx<'_>, spec: &Spec, mp: &str, m: &Mount) {
    let n = usize::from(m.volume.is_some())
        + usize::from(m.host.is_some())
        + usize::from(m.secret.is_some())
        + usize::from(m.file.is_some())
        + usize::from(m.scratch);
    if n != 1 {
        let d = cx.at(
            mp,
            Code::MountSource,
            "a mount needs exactly one of `volume`, `host`, `secret`, `file` or `scratch: true`",
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
    if m.read_only && m.volume.is_none() && m.host.is_none() {
        cx.at_key(
            &format!("{mp}/read_only"),
            Code::MountSource,
            "`read_only` applies to volume and host mounts (secret and file mounts are always read-only)",
        );
    }
    if let Some(h) = &m.host {
        host(cx, mp, h, m.selinux.is_some());
    } else if m.selinux.is_some() {
        cx.at_key(
            &format!("{mp}/selinux"),
            Code::MountSource,
            "`selinux` applies to host mounts (the engines label volumes, secrets and files themselves)",
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
                let files: Vec<String> = if secret_def.is_tls() {
                    TLS_FILES.iter().map(|f| (*f).to_owned()).collect()
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

/// A host mount's path: absolute, or relative to the deployment's `host/` directory without
/// leaving it; characters every target's mount syntax carries; no kernel or engine interface; no
/// relabelling of a system directory.
fn host(cx: &mut Ctx<'_>, mp: &str, h: &str, relabel: bool) {
    let p = format!("{mp}/host");
    let parts = crate::domain::host_path(h)
        .split('/')
        .filter(|x| !x.is_empty())
        .count();
    let problem = crate::domain::host_problem(h);
    if let Some(why) = problem {
        let d = cx.at(&p, Code::MountSource, format!("host path `{h}` {why}"));
        help(
            d,
            "give a directory or file of the host: absolute (`/srv/misp/configs`), or relative to the deployment's `host/` directory (`./configs`: `host/configs` next to compose.yaml, under the systemd install directory)",
        );
        return;
    }
    if relabel && h.starts_with('/') && parts < 2 {
        let d = cx.at(
            &format!("{mp}/selinux"),
            Code::MountSource,
            format!(
                "relabelling `{h}` would change the SELinux label of a system directory of the host"
            ),
        );
        help(
            d,
            "mount a directory of its own (`/srv/misp/configs`), or remove `selinux`",
        );
    }
}

/// The Kubernetes claims that stand for host paths: two different paths may not share one, nor
/// may a claim take a volume's name.
pub(super) fn host_claims(cx: &mut Ctx<'_>, spec: &Spec) {
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for (name, svc) in &spec.services {
        for (i, m) in svc.mounts.iter().enumerate() {
            let Some(h) = &m.host else { continue };
            let p = format!("/services/{}/mounts/{i}/host", seg(name));
            let claim = crate::domain::host_claim(h);
            let norm = crate::domain::host_path(h);
            if spec.volumes.contains_key(&claim) {
                let d = cx.at(
                    &p,
                    Code::InvalidName,
                    format!("on Kubernetes host path `{h}` is the claim `{claim}`, which is also the name of a volume"),
                );
                help(d, format!("rename the volume `{claim}`"));
            } else if let Some(other) = seen.get(&claim).filter(|o| **o != norm) {
                let d = cx.at(
                    &p,
                    Code::InvalidName,
                    format!("host paths `{other}` and `{h}` would both be the Kubernetes claim `{claim}`"),
                );
                help(
                    d,
                    "rename one of the directories so that their letters and digits differ",
                );
            } else {
                seen.insert(claim, norm);
            }
        }
    }
}
