//! The plain flavours: units in the shape of `podman generate systemd --new` (`podman`) and units
//! that run the docker CLI in the foreground (`docker`).

use super::Ctx;
use super::gates::SDNOTIFY_HEALTHY;
use super::model::{InstallSection, UnitFile};
use super::run::{Health, Run};
use super::unit::{
    base_service, container_unit_section, flag, health_wait_post, podman_mangles, pull_word, secs,
};
use crate::render::unitfile::{environment_word, exec_line, exec_word};
use crate::shell::sh_quote;
use crate::spec::model::{Flavor, Pull};

pub(super) fn health_flags(h: &Health, cmd: &str) -> Vec<String> {
    vec![
        flag("health-cmd", cmd),
        flag("health-interval", &secs(h.interval_ms)),
        flag("health-timeout", &secs(h.timeout_ms)),
        flag("health-retries", &h.retries.to_string()),
        flag("health-start-period", &secs(h.start_period_ms)),
    ]
}

/// The `podman run` / `docker run` options both engines share, as escaped words.
fn run_options(ctx: &Ctx<'_>, run: &Run, health_cmd: Option<&str>) -> Vec<String> {
    let mut w = vec![flag("name", &run.container), flag("network", &ctx.network)];
    for a in &run.aliases {
        w.push(flag("network-alias", a));
    }
    w.push(flag("pull", pull_word(run.pull)));
    if let Some(u) = &run.user {
        w.push(flag("user", u));
    }
    if let Some(d) = &run.working_dir {
        w.push(flag("workdir", d));
    }
    for (k, v) in &run.env {
        w.push("--env".into());
        if ctx.flavor == Flavor::Podman && podman_mangles(v) {
            // The value is in the unit's own Environment= (see `podman_mangles`).
            w.push(exec_word(k));
        } else {
            w.push(exec_word(&format!("{k}={v}")));
        }
    }
    for f in &run.env_files {
        w.push(flag("env-file", f));
    }
    for p in &run.publish {
        w.push(flag("publish", p));
    }
    for (vol, path, ro) in &run.volumes {
        w.push(flag(
            "volume",
            &format!(
                "{}:{path}{}",
                ctx.volume_name(vol),
                if *ro { ":ro" } else { "" }
            ),
        ));
    }
    for (host, path) in &run.binds {
        w.push(flag("volume", &format!("{host}:{path}:ro,z")));
    }
    for (host, path, opts) in &run.host_binds {
        w.push(flag("volume", &super::helpers::bind_spec(host, path, opts)));
    }
    for t in &run.tmpfs {
        w.push(flag("tmpfs", t));
    }
    if let (Some(h), Some(cmd)) = (&run.health, health_cmd) {
        w.extend(health_flags(h, cmd));
    }
    if let Some(c) = &run.cpus {
        w.push(flag("cpus", c));
    }
    if let Some(m) = run.memory {
        w.push(flag("memory", &m.to_string()));
    }
    if let Some(h) = &run.hardening {
        if h.no_new_privileges {
            w.push(flag("security-opt", "no-new-privileges"));
        }
        if h.seccomp_unconfined {
            w.push(flag("security-opt", "seccomp=unconfined"));
        }
        w.push(flag("cap-drop", "ALL"));
        for c in &h.cap_add {
            w.push(flag("cap-add", c));
        }
        if h.read_only {
            w.push("--read-only".into());
            if ctx.flavor == Flavor::Podman {
                w.push(flag("read-only-tmpfs", "false"));
            }
        }
        // docker has no per-container user namespace: its daemon's userns-remap decides.
        if h.user_namespaces && ctx.flavor == Flavor::Podman {
            w.push(flag("userns", "auto"));
        }
    }
    w
}

/// A plain unit in the shape of `podman generate systemd --new`.
pub(super) fn podman_service(ctx: &Ctx<'_>, run: &Run) -> (String, UnitFile) {
    let v = ctx.version;
    let mut service = base_service(run);
    let healthy_notify = run.waited_on.is_some() && v >= SDNOTIFY_HEALTHY && !run.oneshot;
    let mut words: Vec<String> = vec![
        "/usr/bin/podman".into(),
        "run".into(),
        "--cidfile=%t/%n.ctr-id".into(),
        "--cgroups=no-conmon".into(),
        "--rm".into(),
    ];
    if run.oneshot {
        service.kind = Some("oneshot");
        service.remain_after_exit = true;
    } else {
        words.push(if healthy_notify {
            "--sdnotify=healthy".into()
        } else {
            "--sdnotify=conmon".into()
        });
        service.kind = Some("notify");
        service.notify_access = Some("all");
    }
    words.push("--replace".into());
    if !run.oneshot {
        words.push("-d".into());
    }
    words.extend(run_options(
        ctx,
        run,
        run.health.as_ref().map(|h| h.podman_cmd.as_str()),
    ));
    if let Some(ep) = &run.entrypoint {
        words.push(flag(
            "entrypoint",
            &serde_json::to_string(ep).unwrap_or_default(),
        ));
    }
    words.push(exec_word(&run.image));
    if let Some(cmd) = &run.command {
        words.extend(cmd.iter().map(|a| exec_word(a)));
    }
    service
        .environment
        .push("PODMAN_SYSTEMD_UNIT=%n".to_owned());
    for (k, val) in run.env.iter().filter(|(_, v)| podman_mangles(v)) {
        service
            .environment
            .push(environment_word(&format!("{k}={val}")));
    }
    service.exec_start = Some(words.join(" "));
    if let Some(w) = run.waited_on
        && !healthy_notify
        && !run.oneshot
    {
        service.exec_start_post.push(health_wait_post(ctx, run, w));
    }
    service.exec_stop = vec!["/usr/bin/podman stop --ignore -t 10 --cidfile=%t/%n.ctr-id".into()];
    service.exec_stop_post = vec!["/usr/bin/podman rm -f --ignore --cidfile=%t/%n.ctr-id".into()];
    (
        format!("{}.service", run.unit),
        UnitFile {
            unit: container_unit_section(ctx, run),
            service: Some(service),
            install: Some(InstallSection {
                wanted_by: vec![ctx.target.clone()],
            }),
            ..UnitFile::default()
        },
    )
}

/// A plain unit that runs the docker CLI in the foreground: systemd supervises the CLI, which
/// lives as long as the container (`--rm` removes it on exit). `docker rm -f` first clears a
/// container left over by a crash; `docker stop` ends it.
pub(super) fn docker_service(ctx: &Ctx<'_>, run: &Run) -> (String, UnitFile) {
    let mut service = base_service(run);
    let mut words: Vec<String> = vec!["/usr/bin/docker".into(), "run".into(), "--rm".into()];
    words.extend(run_options(
        ctx,
        run,
        run.health.as_ref().map(|h| h.shell_cmd.as_str()),
    ));
    let mut tail: Vec<String> = Vec::new();
    if let Some(ep) = &run.entrypoint
        && let Some((first, rest)) = ep.split_first()
    {
        // docker's --entrypoint takes one executable; the rest of it leads the arguments.
        words.push(flag("entrypoint", first));
        tail.extend(rest.iter().cloned());
    }
    words.push(exec_word(&run.image));
    if let Some(cmd) = &run.command {
        tail.extend(cmd.iter().cloned());
    }
    words.extend(tail.iter().map(|a| exec_word(a)));
    if run.oneshot {
        service.kind = Some("oneshot");
        service.remain_after_exit = true;
    } else {
        service.kind = Some("simple");
    }
    service.exec_start_pre = vec![format!(
        "-/usr/bin/docker rm -f {}",
        exec_word(&run.container)
    )];
    // Pull before the run, so that the start timeout and a health wait do not include the pull.
    match run.pull {
        Pull::Always => {
            service
                .exec_start_pre
                .push(exec_line(&["/usr/bin/docker", "pull", &run.image]));
        }
        Pull::Missing => {
            let img = sh_quote(&run.image);
            service.exec_start_pre.push(exec_line(&[
                "/bin/sh",
                "-c",
                &format!("docker image inspect {img} >/dev/null 2>&1 || docker pull {img}"),
            ]));
        }
        Pull::Never => {}
    }
    service.exec_start = Some(words.join(" "));
    if let Some(w) = run.waited_on
        && !run.oneshot
    {
        service.exec_start_post.push(health_wait_post(ctx, run, w));
    }
    if !run.oneshot {
        service.exec_stop = vec![format!(
            "/usr/bin/docker stop -t 10 {}",
            exec_word(&run.container)
        )];
    }
    (
        format!("{}.service", run.unit),
        UnitFile {
            unit: container_unit_section(ctx, run),
            service: Some(service),
            install: Some(InstallSection {
                wanted_by: vec![ctx.target.clone()],
            }),
            ..UnitFile::default()
        },
    )
}
