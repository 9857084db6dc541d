//! The engine-neutral description of a container ([`Run`]): what a spec service or the embedded
//! database becomes before any flavour writes it, with every value a unit cannot carry refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Ctx, POLL_MS, SystemdNaming};
use crate::plan;
use crate::plan::container::{Check, Container, Limits, MountPlan};
use crate::render::unitfile::specifiers;
use crate::render::{FileSet, add, add_mounted_secret, add_secret};
use crate::secrets::Secrets;
use crate::security::Hardening;
use crate::shell::{http_check_command, sh_quote, tcp_check_command};
use crate::spec::model::{Condition, Port, Protocol, Pull, Restart};
use crate::units;

/// A health check, in the forms the engines take.
pub(super) struct Health {
    /// For podman: a JSON array (exec form) or a shell command.
    pub(super) podman_cmd: String,
    /// For docker: always a shell command.
    pub(super) shell_cmd: String,
    pub(super) interval_ms: u64,
    pub(super) timeout_ms: u64,
    pub(super) retries: u32,
    pub(super) start_period_ms: u64,
}

/// How long dependants wait for this container to turn healthy.
#[derive(Clone, Copy)]
pub(super) struct WaitBound {
    pub(super) poll_ms: u64,
    pub(super) total_ms: u64,
}

/// One container to run, engine-neutral; all texts raw (unescaped).
#[derive(Default)]
pub(super) struct Run {
    /// Unit base name (`misp-web`, `misp-web-2`).
    pub(super) unit: String,
    pub(super) container: String,
    pub(super) description: String,
    pub(super) image: String,
    pub(super) pull: Pull,
    pub(super) entrypoint: Option<Vec<String>>,
    pub(super) command: Option<Vec<String>>,
    pub(super) user: Option<String>,
    pub(super) working_dir: Option<String>,
    pub(super) env: Vec<(String, String)>,
    pub(super) env_files: Vec<String>,
    pub(super) publish: Vec<String>,
    /// (spec volume name, container path, read-only)
    pub(super) volumes: Vec<(String, String, bool)>,
    /// (host path, container path), read-only
    pub(super) binds: Vec<(String, String)>,
    /// The spec's host mounts: (host path, container path, options such as `ro,Z`; may be empty)
    pub(super) host_binds: Vec<(String, String, String)>,
    pub(super) tmpfs: Vec<String>,
    /// Network aliases: the names other containers reach it by.
    pub(super) aliases: Vec<String>,
    pub(super) health: Option<Health>,
    /// Unit base names this one requires and starts after.
    pub(super) deps: Vec<String>,
    pub(super) restart: Restart,
    pub(super) cpus: Option<String>,
    pub(super) memory: Option<u64>,
    /// Dependants wait for it to be healthy.
    pub(super) waited_on: Option<WaitBound>,
    /// Dependants wait for it to complete: a one-shot job.
    pub(super) oneshot: bool,
    pub(super) hardening: Option<Hardening>,
}

/// What describing a container reads: the spec, its secrets, the names on the stack's network,
/// the image mirror.
pub(super) struct Inputs<'a> {
    pub(super) plan: &'a crate::plan::Deployment,
    pub(super) secrets: &'a Secrets,
    pub(super) ctx: &'a Ctx<'a>,
    pub(super) naming: &'a SystemdNaming<'a>,
    pub(super) mirror: Option<&'a str>,
}

impl Run {
    /// A copy of the description for one instance.
    pub(super) fn clone_for(&self, unit: &str) -> Run {
        Run {
            unit: unit.to_owned(),
            container: unit.to_owned(),
            description: self.description.clone(),
            image: self.image.clone(),
            pull: self.pull,
            entrypoint: self.entrypoint.clone(),
            command: self.command.clone(),
            user: self.user.clone(),
            working_dir: self.working_dir.clone(),
            env: self.env.clone(),
            env_files: self.env_files.clone(),
            publish: self.publish.clone(),
            volumes: self.volumes.clone(),
            binds: self.binds.clone(),
            host_binds: self.host_binds.clone(),
            tmpfs: self.tmpfs.clone(),
            aliases: Vec::new(),
            health: self.health.as_ref().map(|h| Health {
                podman_cmd: h.podman_cmd.clone(),
                shell_cmd: h.shell_cmd.clone(),
                ..*h
            }),
            deps: self.deps.clone(),
            restart: self.restart,
            cpus: self.cpus.clone(),
            memory: self.memory,
            waited_on: None,
            oneshot: false,
            hardening: self.hardening.clone(),
        }
    }
}

/// A health check in the engines' forms.
fn health(h: &plan::container::Health) -> Health {
    let plan::container::Health {
        check,
        interval_ms,
        timeout_ms,
        retries,
        start_period_ms,
    } = h;
    let (podman_cmd, shell_cmd) = match check {
        Check::Http {
            scheme,
            number,
            path,
            port: _,
        } => {
            let c = http_check_command(*scheme, *number, path);
            (c.clone(), c)
        }
        Check::Tcp { number, port: _ } => {
            let c = tcp_check_command(*number);
            (c.clone(), c)
        }
        Check::Exec(args) => {
            let json = serde_json::to_string(args).unwrap_or_default();
            let shell = args
                .iter()
                .map(|a| sh_quote(a))
                .collect::<Vec<_>>()
                .join(" ");
            (json, shell)
        }
        Check::Engine {
            argv,
            shell,
            exec: true,
        } => (
            serde_json::to_string(argv).unwrap_or_default(),
            shell.clone(),
        ),
        Check::Engine {
            argv: _,
            shell,
            exec: false,
        } => (shell.clone(), shell.clone()),
    };
    Health {
        podman_cmd,
        shell_cmd,
        interval_ms: *interval_ms,
        timeout_ms: *timeout_ms,
        retries: *retries,
        start_period_ms: *start_period_ms,
    }
}

/// How long dependants wait for a workload's health check to pass: the plan's bound, polled as
/// the plan says (`database.wait`) or at most every 5 s.
pub(super) fn service_wait(h: &plan::container::Health, w: plan::container::Wait) -> WaitBound {
    WaitBound {
        poll_ms: w
            .poll_ms
            .unwrap_or_else(|| POLL_MS.min(h.interval_ms.max(1_000))),
        total_ms: w.total_ms,
    }
}

fn resources(run: &mut Run, l: &Limits) {
    run.cpus = l.cpu_milli.map(units::cpu_decimal);
    run.memory = l.memory_bytes;
}

/// Describe one workload (before instances are numbered).
pub(super) fn service_run(
    inp: &Inputs<'_>,
    c: &Container,
    instances: &BTreeMap<&str, Vec<String>>,
    files: &mut FileSet,
) -> Run {
    let Inputs {
        plan: deployment,
        naming,
        mirror,
        ..
    } = *inp;
    // Exhaustive: a field the plan adds is a compile error here until systemd carries it.
    let Container {
        // A cluster is refused before rendering (`plan::refusals`).
        cluster: _,
        // A replicated Redis is refused before rendering (`plan::refusals`).
        replicated: _,
        name,
        // Refusals point at it (`plan::refusals`).
        pointer: _,
        // What messages about the spec say.
        title: _,
        image_pointer: _,
        image,
        // Instances are numbered by the caller.
        replicas: _,
        singleton: _,
        restart,
        user,
        working_dir,
        entrypoint,
        command,
        env,
        ports,
        mounts,
        health: healthcheck,
        depends_on,
        hardening,
        resources: limits,
        // What Kubernetes alone reads.
        kind: _,
        mounts_rwo: _,
        security: _,
        talks_to: _,
        first_start_ms: _,
        placement: _,
        // Read by the caller, which numbers the instances.
        wait: _,
        healthy_first: _,
    } = c;
    let name = name.as_str();
    let mut run = Run {
        description: specifiers(&format!("{} {name} (misp-gen)", deployment.name)),
        image: plan::image_ref(image, mirror),
        pull: deployment.pull_policy(plan::Puller::Systemd),
        restart: *restart,
        ..Run::default()
    };
    run.entrypoint = arguments(inp, entrypoint.as_deref());
    run.command = arguments(inp, command.as_deref());
    run.user.clone_from(user);
    run.working_dir.clone_from(working_dir);
    run.hardening = Some(hardening.clone());

    // Environment: plain values in the unit, secret-bearing ones in an env file.
    environment(inp, name, env, &mut run, files);

    // Ports.
    run.publish = published(ports);

    for m in mounts {
        mount(inp, m, &mut run, files);
    }

    if let Some(h) = healthcheck {
        let h = &crate::render::resolve_health(deployment, inp.secrets, naming, h);
        run.health = Some(health(h));
    }

    run.deps = dependencies(depends_on, instances);
    resources(&mut run, limits);
    writable_tmpfs(&mut run);
    run
}

/// The arguments of `entrypoint` or `command`, resolved.
fn arguments(inp: &Inputs<'_>, list: Option<&[String]>) -> Option<Vec<String>> {
    list.map(|v| crate::render::resolve_args(inp.plan, inp.secrets, inp.naming, v))
}

/// Plain values go into the unit, secret-bearing ones into an env file under `secrets/systemd/`.
fn environment(
    inp: &Inputs<'_>,
    name: &str,
    env: &[(String, String)],
    run: &mut Run,
    files: &mut FileSet,
) {
    let Inputs {
        plan: deployment,
        secrets,
        ctx,
        naming,
        ..
    } = *inp;
    let mut env_file = String::new();
    for (k, text) in env {
        let r = crate::render::resolve(deployment, secrets, naming, text);
        if r.secret {
            let _ = writeln!(env_file, "{k}={}", r.text);
        } else {
            run.env.push((k.clone(), r.text));
        }
    }
    if !env_file.is_empty() {
        add_secret(files, format!("secrets/systemd/{name}.env"), env_file);
        run.env_files
            .push(format!("{}/secrets/systemd/{name}.env", ctx.install_dir));
    }
}

/// `HOST:PORT/PROTO` of each published port.
fn published(ports: &[Port]) -> Vec<String> {
    let mut out = Vec::new();
    for Port {
        name: _,
        port,
        publish,
        protocol,
    } in ports
    {
        if let Some(host) = publish {
            let proto = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            out.push(format!("{host}:{port}/{proto}"));
        }
    }
    out
}

/// The units a service requires and starts after: every instance of each dependency.
fn dependencies(
    depends_on: &[(String, Condition)],
    instances: &BTreeMap<&str, Vec<String>>,
) -> Vec<String> {
    let mut deps = Vec::new();
    for (dep, _) in depends_on {
        if let Some(units) = instances.get(dep.as_str()) {
            deps.extend(units.iter().cloned());
        }
    }
    deps
}

/// The writable paths of a read-only root, as tmpfs mounts (once each).
fn writable_tmpfs(run: &mut Run) {
    let extra: Vec<String> = run
        .hardening
        .iter()
        .flat_map(|h| h.writable.iter().cloned())
        .collect();
    for w in extra {
        if !run.tmpfs.contains(&w) && !run.volumes.iter().any(|(_, p, _)| *p == w) {
            run.tmpfs.push(w);
        }
    }
}

fn mount(inp: &Inputs<'_>, m: &MountPlan, run: &mut Run, files: &mut FileSet) {
    let Inputs {
        plan: deployment,
        secrets,
        ctx,
        naming,
        ..
    } = *inp;
    match m {
        // A fresh podman or docker volume is empty: the whole volume.
        MountPlan::Volume {
            volume,
            path,
            read_only,
            subdir: _,
        } => run.volumes.push((volume.clone(), path.clone(), *read_only)),
        MountPlan::Scratch { path } => run.tmpfs.push(path.clone()),
        // Relative to `host/` in the install directory, as the spec says.
        MountPlan::Host {
            host,
            path,
            read_only,
            selinux,
            claim: _,
        } => {
            let source = if host.starts_with('/') {
                host.clone()
            } else {
                format!("{}/{}/{host}", ctx.install_dir, crate::domain::HOST_DIR)
            };
            let mut opts: Vec<&str> = Vec::new();
            if *read_only {
                opts.push("ro");
            }
            if let Some(r) = selinux {
                opts.push(r.option());
            }
            run.host_binds.push((source, path.clone(), opts.join(",")));
        }
        // The image's own anonymous volume.
        MountPlan::OwnData { path: _ } => {}
        // The kept file itself: the entrypoint reads it as root.
        MountPlan::SecretFile { secret, path } => run.binds.push((
            format!("{}/secrets/{secret}", ctx.install_dir),
            path.clone(),
        )),
        MountPlan::File {
            file: f,
            path,
            content,
            mode,
            mode_given: _,
        } => {
            let r = crate::render::resolve(deployment, secrets, naming, content);
            let host = if r.secret {
                // Bind-mounted as it is: readable by the container's user, whoever that is.
                add_mounted_secret(files, format!("secrets/systemd/files/{f}"), r.text);
                format!("{}/secrets/systemd/files/{f}", ctx.install_dir)
            } else {
                add(files, format!("systemd/files/{f}"), r.text, *mode);
                format!("{}/files/{f}", ctx.install_dir)
            };
            run.binds.push((host, path.clone()));
        }
        MountPlan::Secret {
            secret: s,
            path,
            items,
        } => {
            // podman and docker bind-mount a file with the host file's owner and mode: the 0600
            // files under secrets/ would be unreadable to a container that does not run as
            // their owner. Each mounted file is written again, 0444, under
            // secrets/systemd/mounted/, and that copy is mounted (the 0700 directories of
            // secrets/ keep it from other host users).
            for crate::render::SecretFile {
                key,
                tls,
                name: target_name,
                content,
            } in crate::render::mounted_secret_files(deployment, secrets, s, items)
            {
                let rel = if tls { format!("{s}/{key}") } else { s.clone() };
                let target = format!("{}/{target_name}", path.trim_end_matches('/'));
                add_mounted_secret(files, format!("secrets/systemd/mounted/{rel}"), content);
                run.binds.push((
                    format!("{}/secrets/systemd/mounted/{rel}", ctx.install_dir),
                    target,
                ));
            }
        }
    }
}
