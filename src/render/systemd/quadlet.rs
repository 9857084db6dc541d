//! The Quadlet flavour: a `.container` file per container, which podman's generator turns into
//! a service.

use super::engines::health_flags;
use super::gates::{
    ENTRYPOINT, HEALTH, MEMORY, NETWORK_ALIAS, NOTIFY_HEALTHY, PULL, READ_ONLY_TMPFS,
    SDNOTIFY_HEALTHY, TMPFS, USER_NS, WORKING_DIR,
};
use super::model::{ContainerSection, InstallSection, UnitFile};
use super::run::Run;
use super::unit::{
    base_service, container_unit_section, flag, health_wait_post, podman_mangles, pull_word, secs,
};
use super::{Ctx, Version};
use crate::render::unitfile::{
    EMPTY_VAR, environment_word, exec_value, exec_word, quadlet_exec_word,
};
use crate::security::Hardening;

/// A `.container` file: Quadlet's keys where the podman version has them, `podman run` options in
/// `PodmanArgs=` where it does not yet (see [`super::gates`]).
pub(super) fn quadlet_container(ctx: &Ctx<'_>, run: &Run) -> (String, UnitFile) {
    let v = ctx.version;
    let mut c = ContainerSection {
        container_name: exec_value(&run.container),
        image: exec_value(&run.image),
        network: vec![exec_value(&ctx.network)],
        label: vec![format!("io.misp-gen.stack={}", ctx.name)],
        ..ContainerSection::default()
    };
    let mut service = base_service(run);
    c.pull = PULL.key_or_flag(v, pull_word(run.pull), str::to_owned, &mut c.podman_args);
    if let Some(ep) = &run.entrypoint {
        // JSON array form: podman takes it whole, so no argument is split or lost.
        let json = serde_json::to_string(ep).unwrap_or_default();
        c.entrypoint = ENTRYPOINT.key_or_flag(v, &json, exec_value, &mut c.podman_args);
    }
    if let Some(cmd) = &run.command {
        if cmd.iter().any(String::is_empty) {
            service.environment.push(format!("{EMPTY_VAR}="));
        }
        c.exec = Some(
            cmd.iter()
                .map(|a| quadlet_exec_word(a))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if let Some(u) = &run.user {
        match u.split_once(':') {
            Some((uid, gid)) => {
                c.user = Some(exec_value(uid));
                c.group = Some(exec_value(gid));
            }
            None => c.user = Some(exec_value(u)),
        }
    }
    if let Some(w) = &run.working_dir {
        c.working_dir = WORKING_DIR.key_or_flag(v, w, exec_value, &mut c.podman_args);
    }
    for (k, val) in &run.env {
        if podman_mangles(val) {
            service
                .environment
                .push(environment_word(&format!("{k}={val}")));
            c.podman_args.push(flag("env", k));
        } else {
            c.environment.push(exec_word(&format!("{k}={val}")));
        }
    }
    c.environment_file = run.env_files.iter().map(|f| exec_value(f)).collect();
    for a in &run.aliases {
        c.network_alias
            .extend(NETWORK_ALIAS.key_or_flag(v, a, exec_value, &mut c.podman_args));
    }
    c.publish_port.clone_from(&run.publish);
    mounts(ctx, run, &mut c);
    if let Some(h) = &run.health {
        if v >= HEALTH {
            c.health_cmd = Some(exec_value(&h.podman_cmd));
            c.health_interval = Some(secs(h.interval_ms));
            c.health_timeout = Some(secs(h.timeout_ms));
            c.health_retries = Some(h.retries);
            c.health_start_period = Some(secs(h.start_period_ms));
        } else {
            c.podman_args.extend(health_flags(h, &h.podman_cmd));
        }
    }
    if let Some(w) = run.waited_on {
        if v >= NOTIFY_HEALTHY {
            c.notify = Some("healthy".into());
        } else if v >= SDNOTIFY_HEALTHY {
            // Quadlet puts --sdnotify=conmon first; the last --sdnotify wins.
            c.podman_args.push(flag("sdnotify", "healthy"));
        } else {
            service.exec_start_post.push(health_wait_post(ctx, run, w));
        }
    }
    if let Some(m) = run.memory {
        c.memory = MEMORY.key_or_flag(v, &m.to_string(), str::to_owned, &mut c.podman_args);
    }
    if let Some(cpus) = &run.cpus {
        c.podman_args.push(flag("cpus", cpus));
    }
    if let Some(h) = &run.hardening {
        hardening(v, h, &mut c);
    }
    if run.oneshot {
        service.kind = Some("oneshot");
        service.remain_after_exit = true;
    }
    (
        format!("{}.container", run.unit),
        UnitFile {
            unit: container_unit_section(ctx, run),
            container: Some(c),
            service: Some(service),
            install: Some(InstallSection {
                wanted_by: vec![ctx.target.clone()],
            }),
            ..UnitFile::default()
        },
    )
}

/// Named volumes, read-only binds and tmpfs mounts.
fn mounts(ctx: &Ctx<'_>, run: &Run, c: &mut ContainerSection) {
    let v = ctx.version;
    for (vol, path, ro) in &run.volumes {
        c.volume.push(exec_value(&format!(
            "{}-{vol}.volume:{path}{}",
            ctx.name,
            if *ro { ":ro" } else { "" }
        )));
    }
    for (host, path) in &run.binds {
        c.volume.push(exec_value(&format!("{host}:{path}:ro,z")));
    }
    for (host, path, opts) in &run.host_binds {
        c.volume
            .push(exec_value(&super::helpers::bind_spec(host, path, opts)));
    }
    for t in &run.tmpfs {
        c.tmpfs
            .extend(TMPFS.key_or_flag(v, t, exec_value, &mut c.podman_args));
    }
}

/// The container's confinement: privileges, seccomp, capabilities, read-only root, user namespace.
fn hardening(v: Version, h: &Hardening, c: &mut ContainerSection) {
    c.no_new_privileges = h.no_new_privileges;
    if h.seccomp_unconfined {
        c.seccomp_profile = Some("unconfined".into());
    }
    c.drop_capability = vec!["all".into()];
    c.add_capability.clone_from(&h.cap_add);
    if h.read_only {
        c.read_only = true;
        // podman would add writable tmpfs at /tmp, /run and /var/tmp; only `writable` is.
        c.read_only_tmpfs =
            READ_ONLY_TMPFS.key_or_flag(v, "false", str::to_owned, &mut c.podman_args);
    }
    if h.user_namespaces {
        c.user_ns = USER_NS.key_or_flag(v, "auto", str::to_owned, &mut c.podman_args);
    }
}
