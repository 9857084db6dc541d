//! Mounts as compose writes them: volumes, tmpfs, bind-mounted files and compose secrets.

use std::collections::BTreeMap;

use super::{ComposeNaming, MountOut, Mounted, SecretMount, Svc, secret_key};
use crate::plan::{self, container::MountPlan};
use crate::render::{FileSet, add, add_mounted_secret};
use crate::secrets::Secrets;

#[expect(
    clippy::too_many_lines,
    reason = "one arm per kind of mount, each as compose writes it"
)]
pub(super) fn mount(
    secrets: &Secrets,
    m: &MountPlan,
    out: &mut Svc,
    used: &mut BTreeMap<String, String>,
    files: &mut FileSet,
    plan: &plan::Deployment,
) {
    match m {
        // Docker's fresh volumes are empty: the whole volume.
        MountPlan::Volume {
            volume,
            path,
            read_only,
            subdir: _,
        } => out.mounts.push(MountOut {
            kind: "volume",
            source: volume.clone(),
            target: path.clone(),
            read_only: *read_only,
            create_host_path: false,
            selinux: None,
        }),
        // Relative to `host/` in the project directory (where compose.yaml is), as the spec says.
        MountPlan::Host {
            host,
            path,
            read_only,
            selinux,
            claim: _,
        } => out.mounts.push(MountOut {
            kind: "bind",
            source: if host.starts_with('/') {
                host.clone()
            } else {
                format!("./{}/{host}", crate::domain::HOST_DIR)
            },
            target: path.clone(),
            read_only: *read_only,
            create_host_path: true,
            selinux: selinux.map(crate::spec::model::Relabel::option),
        }),
        MountPlan::Scratch { path } => out.tmpfs.push(path.clone()),
        // The image's own anonymous volume.
        MountPlan::OwnData { path: _ } => {}
        // The kept file itself, bound as a compose secret: the entrypoint reads it as root.
        MountPlan::SecretFile { secret, path } => {
            let key = secret_key(secret, None);
            used.insert(key.clone(), format!("../secrets/{secret}"));
            out.secrets.push(SecretMount {
                source: key,
                target: path.clone(),
            });
        }
        MountPlan::File {
            file: f,
            path,
            content,
            mode,
            mode_given: _,
        } => {
            let r = crate::render::resolve(plan, secrets, &ComposeNaming, content);
            out.mounted.push(Mounted::new(
                path.clone(),
                *mode,
                r.text.as_bytes(),
                r.secret,
            ));
            let source = if r.secret {
                // Bind-mounted as it is: readable by the container's user, whoever that is.
                add_mounted_secret(files, format!("secrets/compose/files/{f}"), r.text);
                format!("../secrets/compose/files/{f}")
            } else {
                add(files, format!("compose/files/{f}"), r.text, *mode);
                format!("./files/{f}")
            };
            out.mounts.push(MountOut {
                kind: "bind",
                source,
                target: path.clone(),
                read_only: true,
                create_host_path: false,
                selinux: None,
            });
        }
        MountPlan::Secret {
            secret: s,
            path,
            items,
        } => {
            // Compose bind-mounts a `file:` secret with the host file's owner and mode and
            // ignores `uid`/`gid`/`mode` outside Swarm, so the 0600 files under secrets/ would be
            // unreadable to a container that does not run as their owner. Each mounted file is
            // written again, 0444, under secrets/compose/mounted/, and that copy is the compose
            // secret.
            for crate::render::SecretFile {
                key: file_key,
                tls,
                name: target_name,
                content,
            } in crate::render::mounted_secret_files(plan, secrets, s, items)
            {
                let tls_file = tls.then_some(file_key);
                let key = secret_key(s, tls_file);
                let rel = match tls_file {
                    Some(f) => format!("secrets/compose/mounted/{s}/{f}"),
                    None => format!("secrets/compose/mounted/{s}"),
                };
                add_mounted_secret(files, rel.clone(), content);
                used.insert(key.clone(), format!("../{rel}"));
                let target = format!("{}/{target_name}", path.trim_end_matches('/'));
                out.mounted.push(Mounted::new(
                    target.clone(),
                    0o444,
                    content.as_bytes(),
                    true,
                ));
                out.secrets.push(SecretMount {
                    source: key,
                    target,
                });
            }
        }
    }
}
