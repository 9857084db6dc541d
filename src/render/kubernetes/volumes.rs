//! Volumes: what a container mounts (claims, scratch space, `files:` entries, secrets) as pod
//! volumes, and the claims of the volumes something mounts.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Claim, Container, Generator, Item, PodVolume, PvcCtx, VolumeMount};
use super::names::{KubernetesNaming, dns, local_name};
use super::{DEFAULT_VOLUME_SIZE, Out};
use crate::error::Error;
use crate::plan::{self, container::MountPlan};

/// The pod volume, and the claim template, of a workload's own data (the embedded database
/// without a volume of the spec).
pub(super) const OWN_DATA: &str = "data";

/// Add a pod volume, reusing an identical one; returns its name.
pub(super) fn add_volume(vols: &mut Vec<PodVolume>, mut v: PodVolume) -> String {
    let base = v.name.clone();
    if let Some(same) = vols.iter().find(|x| {
        x.kind == v.kind
            && x.source == v.source
            && x.items == v.items
            && x.default_mode == v.default_mode
    }) {
        return same.name.clone();
    }
    let taken: BTreeSet<String> = vols.iter().map(|x| x.name.clone()).collect();
    v.name = local_name(&base, &taken);
    let name = v.name.clone();
    vols.push(v);
    name
}

/// Claims for the volumes in use (the plan's).
pub(super) fn claims(out: &mut Out<'_>, plan: &plan::Deployment) -> Result<(), Error> {
    // A cluster member's data is its StatefulSet's claim template, not a claim of its own.
    let members: BTreeSet<&str> = plan
        .workloads
        .iter()
        .filter_map(|c| c.cluster.as_deref())
        .flat_map(|cl| &cl.members)
        .flat_map(|m| &m.mounts)
        .filter_map(|m| match m {
            MountPlan::Volume { volume, .. } => Some(volume.as_str()),
            _ => None,
        })
        .collect();
    for (name, v) in &plan.volumes {
        if members.contains(name.as_str()) {
            continue;
        }
        let size = v.size.clone().unwrap_or_else(|| DEFAULT_VOLUME_SIZE.into());
        claim(out, plan, name, v.shared, size, Some(name))?;
    }
    // A host path: a claim of the default size, `ReadWriteMany` where several pods mount it;
    // what the operator copied in is data like a volume's.
    for (name, h) in &plan.host_claims {
        claim(out, plan, name, h.rwx, DEFAULT_VOLUME_SIZE.into(), None)?;
    }
    Ok(())
}

/// The claim `<name>-<thing>` (file `pvc-<thing>.yaml`), in the storage class that `rwx`
/// chooses, recorded for the state guard (`volume`: the spec volume it holds, if any).
fn claim(
    out: &mut Out<'_>,
    plan: &plan::Deployment,
    thing: &str,
    rwx: bool,
    size: String,
    volume: Option<&str>,
) -> Result<(), Error> {
    let k = &plan.targets.spec.kubernetes;
    let ctx = PvcCtx {
        meta: out.meta(out.naming.object(thing), "storage"),
        claim: Claim {
            name: String::new(),
            rwx,
            size,
            class: if rwx {
                k.shared_storage_class.clone()
            } else {
                k.storage_class.clone()
            },
        },
    };
    out.state.claims.insert(
        ctx.meta.name.clone(),
        crate::state::Claim {
            volume: volume.map(str::to_owned),
            ..ctx.claim.state()
        },
    );
    out.emit(
        format!("pvc-{}.yaml", dns(thing)),
        "kubernetes/pvc.yaml.j2",
        &ctx,
    )
}

#[expect(
    clippy::too_many_lines,
    reason = "one arm per kind of mount, each as a pod volume"
)]
pub(super) fn mount(
    out: &mut Out<'_>,
    m: &MountPlan,
    c: &mut Container,
    volumes: &mut Vec<PodVolume>,
) {
    match m {
        MountPlan::Volume {
            volume: v,
            path,
            read_only,
            subdir,
        } => {
            let name = add_volume(
                volumes,
                PodVolume {
                    // A sub-directory's volume is named for what it holds.
                    name: subdir.clone().unwrap_or_else(|| dns(v)),
                    kind: "pvc",
                    source: out.naming.object(v),
                    items: Vec::new(),
                    default_mode: None,
                },
            );
            c.mounts.push(VolumeMount {
                name,
                path: path.clone(),
                read_only: *read_only,
                sub_path: subdir.clone(),
            });
        }
        // The claim that stands for the host path (`claims`), which the operator fills (W109).
        MountPlan::Host {
            host: _,
            path,
            read_only,
            selinux: _,
            claim,
        } => {
            let name = add_volume(
                volumes,
                PodVolume {
                    name: dns(claim),
                    kind: "pvc",
                    source: out.naming.object(claim),
                    items: Vec::new(),
                    default_mode: None,
                },
            );
            c.mounts.push(VolumeMount {
                name,
                path: path.clone(),
                read_only: *read_only,
                sub_path: None,
            });
        }
        // A claim template of the workload's (`services.rs`), in a sub-directory: a fresh file
        // system's lost+found would make a first initialisation refuse the directory.
        MountPlan::OwnData { path } => c.mounts.push(VolumeMount {
            name: OWN_DATA.into(),
            path: path.clone(),
            read_only: false,
            sub_path: Some(OWN_DATA.into()),
        }),
        // The one file, from the secret's object: the entrypoint reads it as root.
        MountPlan::SecretFile { secret, path } => {
            let source = out.secret_object(secret);
            let name = add_volume(
                volumes,
                PodVolume {
                    name: format!("secret-{secret}"),
                    kind: "secret",
                    source,
                    items: Vec::new(),
                    default_mode: Some(0o440),
                },
            );
            c.mounts.push(VolumeMount {
                name,
                path: path.clone(),
                read_only: true,
                sub_path: Some(secret.clone()),
            });
        }
        MountPlan::Scratch { path } => {
            let name = add_volume(
                volumes,
                PodVolume {
                    name: format!("scratch{}", path.replace('/', "-")),
                    kind: "empty",
                    source: path.clone(),
                    items: Vec::new(),
                    default_mode: None,
                },
            );
            c.mounts.push(VolumeMount {
                name,
                path: path.clone(),
                read_only: false,
                sub_path: None,
            });
        }
        MountPlan::File {
            file,
            path,
            content,
            mode,
            mode_given,
        } => mount_file(
            out,
            file,
            path,
            content,
            mode_given.then_some(*mode),
            c,
            volumes,
        ),
        MountPlan::Secret {
            secret,
            path,
            items,
        } => mount_secret(out, secret, path, items, c, volumes),
    }
}

/// A `files:` entry: a `ConfigMap` (or, when it holds a secret, a Secret) item mounted at its path.
fn mount_file(
    out: &mut Out<'_>,
    f: &str,
    path: &str,
    content: &str,
    given: Option<u32>,
    c: &mut Container,
    volumes: &mut Vec<PodVolume>,
) {
    // The item's mode only where the spec gives one (the default is the volume's own).
    let mode = given.unwrap_or(0o644);
    let deployment = out.plan;
    let naming = KubernetesNaming::new(deployment);
    let resolved = crate::render::resolve(deployment, out.secrets, &naming, content);
    let object = out.naming.object(&format!("file-{f}"));
    let (kind, gens_has) = if resolved.secret {
        ("secret", out.secret_gens.contains_key(&object))
    } else {
        ("configmap", out.config_gens.contains_key(&object))
    };
    if !gens_has {
        let generator = Generator {
            name: object.clone(),
            kind: None,
            files: vec![format!("{f}=files/{f}")],
            envs: Vec::new(),
        };
        if resolved.secret {
            out.secret_files.insert(format!("files/{f}"), resolved.text);
            out.secret_gens.insert(object.clone(), generator);
        } else {
            out.plain_files.insert(f.to_owned(), (resolved.text, mode));
            out.config_gens.insert(object.clone(), generator);
        }
    }
    let name = add_volume(
        volumes,
        PodVolume {
            name: format!("file-{f}"),
            kind,
            source: object,
            items: vec![Item {
                key: f.to_owned(),
                path: f.to_owned(),
                mode: given,
            }],
            default_mode: None,
        },
    );
    c.mounts.push(VolumeMount {
        name,
        path: path.to_owned(),
        read_only: true,
        sub_path: Some(f.to_owned()),
    });
}

/// A secret mounted as a read-only directory (`items` select and rename its files).
fn mount_secret(
    out: &mut Out<'_>,
    s: &str,
    path: &str,
    items: &BTreeMap<String, String>,
    c: &mut Container,
    volumes: &mut Vec<PodVolume>,
) {
    let object = out.secret_object(s);
    let keys: Vec<String> = if out.is_tls(s) {
        crate::spec::model::TLS_FILES
            .iter()
            .map(|k| (*k).to_owned())
            .collect()
    } else {
        vec![s.to_owned()]
    };
    let items = if items.is_empty() {
        Vec::new()
    } else {
        keys.iter()
            .filter_map(|k| {
                items.get(k).map(|p| Item {
                    key: k.clone(),
                    path: p.clone(),
                    mode: None,
                })
            })
            .collect()
    };
    let name = add_volume(
        volumes,
        PodVolume {
            name: format!("secret-{s}"),
            kind: "secret",
            source: object,
            items,
            // Owner and group read: with a non-root user the group is the pod's fsGroup.
            default_mode: Some(0o440),
        },
    );
    c.mounts.push(VolumeMount {
        name,
        path: path.to_owned(),
        read_only: true,
        sub_path: None,
    });
}
