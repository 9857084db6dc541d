//! The helper units: the stack's network and its volumes, created once before the containers
//! that use them, each with its own sandboxing.

use super::Ctx;
use super::gates::{OBJECT_NAME, QUADLET};
use super::model::{
    InstallSection, NetworkSection, ServiceSection, UnitFile, UnitSection, VolumeSection,
};
use super::unit::flag;
use crate::render::unitfile::{exec_line, exec_value, specifiers};
use crate::shell::sh_quote;
use crate::spec::model::{Flavor, Volume};

/// `--opt` pairs of a volume's `driver_opts`, in a stable order.
fn driver_opts(def: &Volume) -> Vec<(String, String)> {
    def.driver_opts
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The unit of one volume: a Quadlet `.volume` file, or a one-shot unit that creates it once.
pub(super) fn volume_unit(ctx: &Ctx<'_>, vol: &str, def: &Volume) -> (String, UnitFile) {
    let Volume {
        size: _,
        shared: _,
        driver_opts: _,
    } = def;
    let opts = driver_opts(def);
    let name = ctx.volume_name(vol);
    let description = specifiers(&format!("{} volume {vol} (misp-gen)", ctx.name));
    if ctx.flavor == Flavor::Quadlet {
        return quadlet_volume(ctx, vol, &opts, description);
    }
    // podman and docker: a one-shot unit that creates the volume once.
    let engine = if ctx.flavor == Flavor::Docker {
        "docker"
    } else {
        "podman"
    };
    let mut create: Vec<String> = vec![engine.into(), "volume".into(), "create".into()];
    for (k, v) in &opts {
        create.push("--opt".into());
        create.push(format!("{k}={v}"));
    }
    let exec = if ctx.flavor == Flavor::Docker {
        // `docker volume create` returns the existing volume of that name.
        create.push(name.clone());
        create[0] = "/usr/bin/docker".into();
        exec_line(&create)
    } else if ctx.version >= QUADLET {
        create.insert(3, "--ignore".into());
        create.push(name.clone());
        create[0] = "/usr/bin/podman".into();
        exec_line(&create)
    } else {
        create.push(name.clone());
        let script = format!(
            "podman volume exists {n} || {c}",
            n = sh_quote(&name),
            c = create
                .iter()
                .map(|w| sh_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        );
        exec_line(&["/bin/sh", "-c", &script])
    };
    (
        format!("{}.service", ctx.volume_unit(vol)),
        oneshot_unit(ctx, description, exec),
    )
}

/// The name the engine gives volume `vol`: Quadlet's `systemd-<name>`, else the name the
/// one-shot unit creates (what holds the data, recorded by the state guard).
pub(super) fn volume_object_name(ctx: &Ctx<'_>, vol: &str) -> String {
    let name = ctx.volume_name(vol);
    if ctx.flavor == Flavor::Quadlet {
        quadlet_object_name(&name)
    } else {
        name
    }
}

/// Quadlet's `.volume` file.
fn quadlet_volume(
    ctx: &Ctx<'_>,
    vol: &str,
    opts: &[(String, String)],
    description: String,
) -> (String, UnitFile) {
    let name = ctx.volume_name(vol);
    let mut s = VolumeSection {
        label: vec![format!("io.misp-gen.stack={}", ctx.name)],
        ..VolumeSection::default()
    };
    if ctx.version >= OBJECT_NAME {
        // The name Quadlet gives it before 4.7, written out: raising podman_version keeps the data.
        s.volume_name = Some(quadlet_object_name(&name));
    }
    for (k, v) in opts {
        match k.as_str() {
            "type" => s.kind = Some(exec_value(v)),
            "device" => s.device = Some(exec_value(v)),
            "o" => s.options = Some(exec_value(v)),
            // Needs `PodmanArgs=` (podman 4.6): an older podman_version was refused on the model.
            other => s.podman_args.push(flag("opt", &format!("{other}={v}"))),
        }
    }
    (
        format!("{name}.volume"),
        UnitFile {
            unit: UnitSection {
                description,
                part_of: vec![ctx.target.clone()],
                ..UnitSection::default()
            },
            volume: Some(s),
            // Quadlet copies [Service] into the one-shot unit it generates.
            service: Some(ServiceSection {
                sandbox: helper_sandbox(Flavor::Quadlet),
                ..ServiceSection::default()
            }),
            ..UnitFile::default()
        },
    )
}

fn oneshot_unit(ctx: &Ctx<'_>, description: String, exec: String) -> UnitFile {
    let mut wants = vec!["network-online.target".to_owned()];
    let mut after = wants.clone();
    if ctx.flavor == Flavor::Docker {
        wants.push("docker.service".into());
        after.push("docker.service".into());
    }
    UnitFile {
        unit: UnitSection {
            description,
            wants,
            after,
            part_of: vec![ctx.target.clone()],
            ..UnitSection::default()
        },
        service: Some(ServiceSection {
            kind: Some("oneshot"),
            remain_after_exit: true,
            exec_start: Some(exec),
            sandbox: helper_sandbox(ctx.flavor),
            ..ServiceSection::default()
        }),
        install: Some(InstallSection {
            wanted_by: vec![ctx.target.clone()],
        }),
        ..UnitFile::default()
    }
}

/// `[Service]` sandboxing of the helper units that create the network and the volumes: they run
/// one engine command as root and need nothing else. docker's CLI only talks to the daemon's
/// socket; podman itself writes its storage and network configuration, mounts (storage
/// checks), and reads the host's interfaces over netlink to pick a free subnet.
///
/// podman's storage is wherever the host's storage.conf puts it (`graphroot`: /var/lib/containers
/// by default, but /srv, /data or /home on many hosts), and it may not exist yet (Debian's podman
/// creates /var/lib/containers at its first run or boot, not at install): no path of it can be
/// named here. So podman's helpers keep /usr, /boot and /etc read-only (`ProtectSystem=full`)
/// with /etc/containers writable (netavark's network files), and no `ProtectHome=` (a graphroot
/// under /home); the rest of the file system stays as podman needs it. A `ReadWritePaths=` of a
/// missing path would fail the unit (status 226/NAMESPACE), so the one they name may be missing
/// (`-`). `systemd-analyze security` rates them 2.7 (strict with /home hidden: 2.5).
fn helper_sandbox(flavor: Flavor) -> Vec<String> {
    let docker = flavor == Flavor::Docker;
    let mut s: Vec<&str> = vec!["NoNewPrivileges=yes"];
    if docker {
        s.extend(["ProtectSystem=strict", "ProtectHome=yes"]);
    } else {
        s.push("ProtectSystem=full");
    }
    s.extend([
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "PrivateIPC=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
        "DevicePolicy=closed",
        "KeyringMode=private",
        "UMask=0077",
        "IPAddressDeny=any",
    ]);
    if docker {
        s.extend([
            "CapabilityBoundingSet=",
            "PrivateNetwork=yes",
            "RestrictAddressFamilies=AF_UNIX",
            "RestrictNamespaces=yes",
            "ProcSubset=pid",
        ]);
    } else {
        s.extend([
            "CapabilityBoundingSet=CAP_SYS_ADMIN CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID",
            "RestrictAddressFamilies=AF_UNIX AF_NETLINK",
            "RestrictNamespaces=mnt",
            "SystemCallFilter=@mount",
            "ReadWritePaths=-/etc/containers",
        ]);
    }
    s.into_iter().map(str::to_owned).collect()
}

/// The podman name of a Quadlet volume or network, the same for every `podman_version`: Quadlet
/// before 4.7 always names the object of `x.volume` / `x.network` `systemd-x`, and has no key to
/// change it; from 4.7 `VolumeName=`/`NetworkName=` write that same name out. (Rendering 4.7's
/// own default, `x`, would move a host that raises `podman_version` onto new, empty volumes.)
fn quadlet_object_name(base: &str) -> String {
    format!("systemd-{base}")
}

pub(super) fn network_unit(ctx: &Ctx<'_>) -> (String, UnitFile) {
    let description = specifiers(&format!("{} network (misp-gen)", ctx.name));
    match ctx.flavor {
        Flavor::Quadlet => (
            format!("{}.network", ctx.name),
            UnitFile {
                unit: UnitSection {
                    description,
                    part_of: vec![ctx.target.clone()],
                    ..UnitSection::default()
                },
                network: Some(NetworkSection {
                    network_name: (ctx.version >= OBJECT_NAME)
                        .then(|| quadlet_object_name(ctx.name)),
                    label: vec![format!("io.misp-gen.stack={}", ctx.name)],
                }),
                // Quadlet copies [Service] into the one-shot unit it generates.
                service: Some(ServiceSection {
                    sandbox: helper_sandbox(Flavor::Quadlet),
                    ..ServiceSection::default()
                }),
                ..UnitFile::default()
            },
        ),
        Flavor::Podman => {
            let exec = if ctx.version >= QUADLET {
                exec_line(&["/usr/bin/podman", "network", "create", "--ignore", ctx.name])
            } else {
                let script = format!(
                    "podman network exists {n} || podman network create {n}",
                    n = sh_quote(ctx.name)
                );
                exec_line(&["/bin/sh", "-c", &script])
            };
            (
                format!("{}.service", ctx.network_unit()),
                oneshot_unit(ctx, description, exec),
            )
        }
        Flavor::Docker => {
            let script = format!(
                "docker network inspect {n} >/dev/null 2>&1 || docker network create {n}",
                n = sh_quote(ctx.name)
            );
            (
                format!("{}.service", ctx.network_unit()),
                oneshot_unit(ctx, description, exec_line(&["/bin/sh", "-c", &script])),
            )
        }
    }
}

/// A bind mount as `-v`/`Volume=` take it: `HOST:PATH` and `:OPTIONS` when there are any.
pub(super) fn bind_spec(host: &str, path: &str, opts: &str) -> String {
    if opts.is_empty() {
        format!("{host}:{path}")
    } else {
        format!("{host}:{path}:{opts}")
    }
}
