//! The systemd target: Quadlet files (`quadlet`), plain units in the shape of
//! `podman generate systemd --new` (`podman`) or units that run the docker CLI (`docker`), a
//! `<name>.target` that groups them, and the env files under `secrets/systemd/` that carry
//! secret-bearing values.
//!
//! Every container is first described target-neutrally ([`Run`]), then written by one of three
//! emitters into the typed unit model ([`UnitFile`]: one struct per section), which one template
//! (`systemd/unit.j2`) lays out. Escaping happens where the model is filled (see
//! [`crate::render::unitfile`]); every rendered unit is parsed back before anything is written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::diag::{Code, Diagnostic};
use crate::error::Error;
use crate::plan::container::{Check, Container, Limits, MountPlan};
use crate::plan::{self, DbEnv, DbSetup, Naming, Plan};
use crate::render::unitfile::{
    EMPTY_VAR, environment_word, exec_line, exec_value, exec_word, inexpressible,
    inexpressible_word, quadlet_exec_word, specifiers,
};
use crate::render::{FileSet, Templates, add, add_mounted_secret, add_secret};
use crate::secrets::{Secrets, Value as SecretValue};
use crate::security::{self, Hardening};
use crate::shell::{http_check_command, sh_quote, tcp_check_command};
use crate::spec::load::escape_segment;
use crate::spec::model::{Condition, Database, Flavor, Port, Protocol, Pull, Restart, Volume};
use crate::units;
use crate::validate::{Invalid, Valid, rules};

/// The podman version units are written for when the spec names none.
pub const DEFAULT_PODMAN_VERSION: Version = Version(4, 6);
/// Where the operator installs `OUT/secrets/` and `OUT/systemd/files/` by default (+ `/<name>`).
pub const DEFAULT_INSTALL_PREFIX: &str = "/etc/misp-gen";
/// Start timeout of a container unit: long enough for a first pull of a large image.
const START_TIMEOUT_S: u64 = 900;
/// Stop timeout, as `podman generate systemd` writes it (podman stop waits 10 s, then kills).
const STOP_TIMEOUT_S: u64 = 70;
/// Seconds between polls of a dependency's health where the engine cannot notify it.
const POLL_MS: u64 = 5_000;

/// A podman version, major.minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Quadlet first shipped with podman 4.4.
const QUADLET: Version = Version(4, 4);
/// `HealthCmd=` and friends, `Tmpfs=` (Quadlet); `Secret=` too, which this target does not use.
const V4_5: Version = Version(4, 5);
/// `Pull=` (Quadlet); `PodmanArgs=` in `.volume` files.
const V4_6: Version = Version(4, 6);
/// `VolumeName=`, `NetworkName=` (Quadlet); `podman run --sdnotify=healthy`.
const V4_7: Version = Version(4, 7);
/// `Entrypoint=`, `Notify=healthy` (Quadlet).
const V5_0: Version = Version(5, 0);
/// `NetworkAlias=` (Quadlet).
const V5_2: Version = Version(5, 2);
/// `Memory=` (Quadlet).
const V5_5: Version = Version(5, 5);

/// Host names on the stack's network: `<name>-<service>` (the container name of a single
/// instance; a network alias shared by all instances of a replicated service).
pub struct SystemdNaming<'a> {
    pub name: &'a str,
}

impl Naming for SystemdNaming<'_> {
    fn service_host(&self, service: &str) -> String {
        format!("{}-{service}", self.name)
    }
    fn database_host(&self) -> String {
        format!("{}-{}", self.name, rules::DATABASE)
    }
}

// ------------------------------------------------------------------ the typed unit model

/// `[Unit]`.
#[derive(Serialize, Default)]
struct UnitSection {
    description: String,
    wants: Vec<String>,
    requires: Vec<String>,
    after: Vec<String>,
    part_of: Vec<String>,
}

/// Quadlet's `[Container]`. Values are unit text already (escaped where they were filled).
#[derive(Serialize, Default)]
struct ContainerSection {
    container_name: String,
    image: String,
    pull: Option<String>,
    entrypoint: Option<String>,
    exec: Option<String>,
    user: Option<String>,
    group: Option<String>,
    working_dir: Option<String>,
    environment: Vec<String>,
    environment_file: Vec<String>,
    network: Vec<String>,
    network_alias: Vec<String>,
    publish_port: Vec<String>,
    volume: Vec<String>,
    tmpfs: Vec<String>,
    health_cmd: Option<String>,
    health_interval: Option<String>,
    health_timeout: Option<String>,
    health_retries: Option<u32>,
    health_start_period: Option<String>,
    no_new_privileges: bool,
    seccomp_profile: Option<String>,
    drop_capability: Vec<String>,
    add_capability: Vec<String>,
    read_only: bool,
    read_only_tmpfs: Option<String>,
    user_ns: Option<String>,
    notify: Option<String>,
    memory: Option<String>,
    label: Vec<String>,
    /// Words, each escaped; joined by spaces.
    podman_args: Vec<String>,
}

/// Quadlet's `[Volume]`.
#[derive(Serialize, Default)]
struct VolumeSection {
    volume_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    device: Option<String>,
    options: Option<String>,
    label: Vec<String>,
    podman_args: Vec<String>,
}

/// Quadlet's `[Network]`.
#[derive(Serialize, Default)]
struct NetworkSection {
    network_name: Option<String>,
    label: Vec<String>,
}

/// `[Service]`.
#[derive(Serialize, Default)]
struct ServiceSection {
    #[serde(rename = "type")]
    kind: Option<&'static str>,
    notify_access: Option<&'static str>,
    remain_after_exit: bool,
    environment: Vec<String>,
    exec_start_pre: Vec<String>,
    exec_start: Option<String>,
    exec_start_post: Vec<String>,
    exec_stop: Vec<String>,
    exec_stop_post: Vec<String>,
    restart: Option<&'static str>,
    restart_sec: Option<String>,
    timeout_start_sec: Option<String>,
    timeout_stop_sec: Option<String>,
    /// Sandboxing of helper units that run no container: `Key=value` lines.
    sandbox: Vec<String>,
}

/// `[Install]`.
#[derive(Serialize, Default)]
struct InstallSection {
    wanted_by: Vec<String>,
}

/// One unit file.
#[derive(Serialize, Default)]
struct UnitFile {
    stack: String,
    note: Option<String>,
    unit: UnitSection,
    container: Option<ContainerSection>,
    volume: Option<VolumeSection>,
    network: Option<NetworkSection>,
    service: Option<ServiceSection>,
    install: Option<InstallSection>,
}

// ------------------------------------------------------------------ the neutral description

/// A health check, in the forms the engines take.
struct Health {
    /// For podman: a JSON array (exec form) or a shell command.
    podman_cmd: String,
    /// For docker: always a shell command.
    shell_cmd: String,
    interval_ms: u64,
    timeout_ms: u64,
    retries: u32,
    start_period_ms: u64,
}

/// How long dependants wait for this container to turn healthy.
#[derive(Clone, Copy)]
struct WaitBound {
    poll_ms: u64,
    total_ms: u64,
}

/// One container to run, engine-neutral; all texts raw (unescaped).
#[derive(Default)]
struct Run {
    /// Unit base name (`misp-web`, `misp-web-2`).
    unit: String,
    container: String,
    description: String,
    image: String,
    pull: Pull,
    entrypoint: Option<Vec<String>>,
    command: Option<Vec<String>>,
    user: Option<String>,
    working_dir: Option<String>,
    env: Vec<(String, String)>,
    env_files: Vec<String>,
    publish: Vec<String>,
    /// (spec volume name, container path, read-only)
    volumes: Vec<(String, String, bool)>,
    /// (host path, container path), read-only
    binds: Vec<(String, String)>,
    tmpfs: Vec<String>,
    alias: Option<String>,
    health: Option<Health>,
    /// Unit base names this one requires and starts after.
    deps: Vec<String>,
    restart: Restart,
    cpus: Option<String>,
    memory: Option<u64>,
    /// Dependants wait for it to be healthy.
    waited_on: Option<WaitBound>,
    /// Dependants wait for it to complete: a one-shot job.
    oneshot: bool,
    hardening: Option<Hardening>,
}

/// What the emitters share.
struct Ctx<'a> {
    name: &'a str,
    flavor: Flavor,
    version: Version,
    target: String,
    network: String,
    install_dir: String,
}

impl Ctx<'_> {
    fn volume_name(&self, vol: &str) -> String {
        format!("{}-{vol}", self.name)
    }
    fn volume_unit(&self, vol: &str) -> String {
        format!("{}-{vol}-volume", self.name)
    }
    fn network_unit(&self) -> String {
        format!("{}-network", self.name)
    }
}

/// Collects diagnostics against the effective spec.
struct Diags<'a> {
    valid: &'a Valid,
    list: Vec<Diagnostic>,
}

impl Diags<'_> {
    fn push(&mut self, pointer: &str, message: String, help: &str) {
        self.list.push(Diagnostic {
            file: self.valid.doc.file.clone(),
            pos: self.valid.doc.pos(pointer),
            pointer: pointer.to_owned(),
            code: Code::UnitValue,
            message,
            help: Some(help.to_owned()),
        });
    }

    /// Refuse a value a unit file cannot carry as a raw key value; true when it is fine.
    fn unit_value(&mut self, pointer: &str, what: &str, value: &str) -> bool {
        self.refuse(pointer, what, inexpressible(value))
    }

    /// Refuse a value that cannot be an escaped word of an `Exec` line or of Quadlet's `Exec=`,
    /// `Environment=`, `PodmanArgs=` (only a NUL: line breaks are C escapes); true when it is fine.
    fn unit_word(&mut self, pointer: &str, what: &str, value: &str) -> bool {
        self.refuse(pointer, what, inexpressible_word(value))
    }

    fn refuse(&mut self, pointer: &str, what: &str, why: Option<&str>) -> bool {
        match why {
            None => true,
            Some(why) => {
                self.push(
                    pointer,
                    format!("{what} holds {why}; a systemd unit cannot carry it"),
                    "remove it, or pass the value in a file (a `files:` entry mounted into the container)",
                );
                false
            }
        }
    }
}

/// The podman version the units are written for.
#[must_use]
pub fn podman_version(valid: &Valid) -> Version {
    valid
        .spec
        .targets
        .systemd
        .podman_version
        .as_deref()
        .and_then(crate::validate::podman_version)
        .map_or(DEFAULT_PODMAN_VERSION, |(a, b)| Version(a, b))
}

/// Where the units expect the operator to have installed `OUT/secrets/` and `OUT/systemd/files/`.
#[must_use]
pub fn install_dir(valid: &Valid) -> String {
    valid.spec.targets.systemd.install_dir.clone().map_or_else(
        || format!("{DEFAULT_INSTALL_PREFIX}/{}", valid.spec.name),
        |d| d.trim_end_matches('/').to_owned(),
    )
}

/// Render the systemd target into `files`.
///
/// # Errors
/// Values a unit file cannot carry and keys the podman version does not have (diagnostics),
/// template errors.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over the plan: instances, dependencies, unit names, files"
)]
pub fn render(
    plan: &Plan<'_>,
    secrets: &Secrets,
    templates: &Templates,
    mirror: Option<&str>,
    flavor: Flavor,
    files: &mut FileSet,
) -> Result<(), Error> {
    let valid = plan.valid;
    let spec = &valid.spec;
    let version = podman_version(valid);
    let mut diags = Diags {
        valid,
        list: Vec::new(),
    };
    if flavor == Flavor::Quadlet && version < QUADLET {
        diags.push(
            "/targets/systemd/podman_version",
            format!("Quadlet needs podman {QUADLET}; the units are written for podman {version}"),
            "use `flavor: podman` (plain units) for older podman, or raise podman_version",
        );
    }
    let ctx = Ctx {
        name: &spec.name,
        flavor,
        version,
        target: format!("{}.target", spec.name),
        network: match flavor {
            Flavor::Quadlet => format!("{}.network", spec.name),
            Flavor::Podman | Flavor::Docker => spec.name.clone(),
        },
        install_dir: install_dir(valid),
    };
    let naming = SystemdNaming { name: &spec.name };

    // Instances of each service, and who must wait for whom.
    let instances: BTreeMap<&str, Vec<String>> = plan
        .services
        .iter()
        .map(|c| {
            let name = c.name;
            let units = match c.replicas {
                0 => Vec::new(),
                1 => vec![naming.service_host(name)],
                n => (1..=n)
                    .map(|i| format!("{}-{i}", naming.service_host(name)))
                    .collect(),
            };
            (name, units)
        })
        .collect();
    let embedded_db = spec.database.as_ref().filter(|d| d.external.is_none());
    let mut waited: BTreeSet<&str> = BTreeSet::new();
    let mut completed: BTreeSet<&str> = BTreeSet::new();
    for c in &plan.services {
        for (dep, cond) in &c.depends_on {
            match cond {
                Condition::Healthy => waited.insert(dep),
                Condition::Completed => completed.insert(dep),
                Condition::Started => false,
            };
        }
    }

    let mut runs: Vec<Run> = Vec::new();
    let mut used_volumes: BTreeSet<String> = BTreeSet::new();
    for c in &plan.services {
        let name = c.name;
        let units = &instances[name];
        if units.is_empty() {
            continue;
        }
        let base = service_run(
            valid, secrets, &ctx, &naming, c, mirror, &instances, &mut diags, files,
        );
        let Some(base) = base else { continue };
        let waited_on = if waited.contains(name) {
            c.health.as_ref().map(service_wait)
        } else {
            None
        };
        for (v, _, _) in &base.volumes {
            used_volumes.insert(v.clone());
        }
        for (i, unit) in units.iter().enumerate() {
            let mut run = base.clone_for(unit);
            run.waited_on = waited_on;
            run.oneshot = completed.contains(name);
            if i > 0 {
                // Replicas on one host share no host port: only the first instance publishes.
                run.publish.clear();
            }
            if units.len() > 1 {
                run.description = format!(
                    "{} (instance {} of {})",
                    base.description,
                    i + 1,
                    units.len()
                );
                run.alias = Some(naming.service_host(name));
            }
            runs.push(run);
        }
    }
    if let Some(db) = embedded_db
        && let Some(image) = plan::database_image(spec)
    {
        let run = database_run(valid, secrets, &ctx, &naming, db, &image, mirror, files);
        if let Some(v) = &db.volume {
            used_volumes.insert(v.clone());
        }
        runs.push(run);
    }

    // Unit names must not collide (a service called `network`, or `x-volume` next to volume `x`).
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |unit: String, what: String, pointer: String, diags: &mut Diags<'_>| {
        if let Some(prev) = seen.get(&unit) {
            diags.push(
                &pointer,
                format!("{what} and {prev} would both be the systemd unit `{unit}.service`"),
                "rename one of them",
            );
        } else {
            seen.insert(unit, what);
        }
    };
    claim(
        ctx.network_unit(),
        "the stack's network".into(),
        "/name".into(),
        &mut diags,
    );
    for v in &used_volumes {
        claim(
            ctx.volume_unit(v),
            format!("volume `{v}`"),
            format!("/volumes/{}", escape_segment(v)),
            &mut diags,
        );
    }
    for r in &runs {
        claim(
            r.unit.clone(),
            format!("container `{}`", r.container),
            "/services".into(),
            &mut diags,
        );
    }

    // Volumes.
    let mut unit_files: Vec<(String, UnitFile)> = Vec::new();
    for v in &used_volumes {
        let def = spec.volumes.get(v).cloned().unwrap_or_default();
        if let Some(u) = volume_unit(&ctx, v, &def, &mut diags) {
            unit_files.push(u);
        }
    }
    unit_files.push(network_unit(&ctx));
    for r in &runs {
        unit_files.push(container_unit(&ctx, r));
    }
    let mut wants: Vec<String> = unit_files.iter().map(|(f, _)| service_name_of(f)).collect();
    wants.sort();
    unit_files.push((
        ctx.target.clone(),
        UnitFile {
            stack: spec.name.clone(),
            note: Some(format!(
                "Start the whole stack with `systemctl start {}`; `systemctl enable {}` starts it at boot.",
                ctx.target, ctx.target
            )),
            unit: UnitSection {
                description: specifiers(&format!("{} (misp-gen stack)", spec.name)),
                wants,
                ..UnitSection::default()
            },
            install: Some(InstallSection {
                wanted_by: vec!["multi-user.target".into()],
            }),
            ..UnitFile::default()
        },
    ));

    if !diags.list.is_empty() {
        return Err(Error::Invalid(Invalid {
            diags: diags.list,
            sources: BTreeMap::from([(valid.raw.file.clone(), valid.raw.source.clone())]),
        }));
    }
    for (file, mut u) in unit_files {
        u.stack.clone_from(&spec.name);
        let text = templates.render("systemd/unit.j2", &u)?;
        let path = format!("systemd/{file}");
        if !templates.checking() {
            crate::render::unitfile::check(&path, &text).map_err(|e| {
                Error::Internal(format!("a rendered unit does not parse back: {e}"))
            })?;
        }
        add(files, path, text, 0o644);
    }
    Ok(())
}

/// The systemd service a unit file becomes (`x.container` → `x.service`).
fn service_name_of(file: &str) -> String {
    match file.rsplit_once('.') {
        Some((base, "container")) => format!("{base}.service"),
        Some((base, "volume")) => format!("{base}-volume.service"),
        Some((base, "network")) => format!("{base}-network.service"),
        _ => file.to_owned(),
    }
}

impl Run {
    /// A copy of the description for one instance.
    fn clone_for(&self, unit: &str) -> Run {
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
            tmpfs: self.tmpfs.clone(),
            alias: None,
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
        Check::Shell(line) => (line.clone(), line.clone()),
        Check::Script { argv, shell } => (
            serde_json::to_string(argv).unwrap_or_default(),
            shell.clone(),
        ),
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

/// How long dependants wait for a service's healthcheck to pass: its start period, then every
/// retry, plus one more interval.
fn service_wait(h: &plan::container::Health) -> WaitBound {
    WaitBound {
        poll_ms: POLL_MS.min(h.interval_ms.max(1_000)),
        total_ms: h.wait_ms(),
    }
}

fn restart_of(r: Restart) -> &'static str {
    match r {
        Restart::Always | Restart::UnlessStopped => "always",
        Restart::OnFailure => "on-failure",
        Restart::No => "no",
    }
}

fn resources(run: &mut Run, l: &Limits) {
    run.cpus = l.cpu_milli.map(units::cpu_decimal);
    run.memory = l.memory_bytes;
}

/// Describe one service (before instances are numbered); `None` when a value was refused.
#[expect(
    clippy::too_many_arguments,
    clippy::too_many_lines,
    reason = "one mapping from a spec service to a container, concept by concept"
)]
fn service_run(
    valid: &Valid,
    secrets: &Secrets,
    ctx: &Ctx<'_>,
    naming: &SystemdNaming<'_>,
    c: &Container<'_>,
    mirror: Option<&str>,
    instances: &BTreeMap<&str, Vec<String>>,
    diags: &mut Diags<'_>,
    files: &mut FileSet,
) -> Option<Run> {
    let spec = &valid.spec;
    let before = diags.list.len();
    // Exhaustive: a field the plan adds is a compile error here until systemd carries it.
    let Container {
        name,
        pointer: sp,
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
    } = c;
    let name = *name;
    let mut run = Run {
        description: specifiers(&format!("{} {name} (misp-gen)", spec.name)),
        image: plan::image_ref(image, mirror),
        pull: spec
            .images
            .as_ref()
            .and_then(|i| i.pull)
            .unwrap_or_default(),
        restart: *restart,
        ..Run::default()
    };
    let args = |list: Option<&[String]>, field: &str, diags: &mut Diags<'_>| {
        list.map(|v| {
            v.iter()
                .enumerate()
                .map(|(i, a)| {
                    let r = plan::resolve(spec, secrets, naming, a).text;
                    diags.unit_word(
                        &format!("{sp}/{field}/{i}"),
                        &format!("`{field}` argument {i}"),
                        &r,
                    );
                    r
                })
                .collect::<Vec<_>>()
        })
    };
    run.entrypoint = args(*entrypoint, "entrypoint", diags);
    run.command = args(*command, "command", diags);
    if let Some(u) = user {
        diags.unit_value(&format!("{sp}/user"), "`user`", u);
        run.user = Some((*u).to_owned());
    }
    if let Some(w) = working_dir
        && diags.unit_value(&format!("{sp}/working_dir"), "`working_dir`", w)
    {
        run.working_dir = Some((*w).to_owned());
    }
    run.hardening = Some(hardening.clone());

    // Environment: plain values in the unit, secret-bearing ones in an env file.
    let mut env_file = String::new();
    for (k, text) in env {
        let p = format!("{sp}/env/{}", escape_segment(k));
        let r = plan::resolve(spec, secrets, naming, text);
        if r.secret {
            if let Some(why) = env_file_refusal(&r.text) {
                // Never the value: it holds a secret.
                diags.push(
                    &p,
                    format!("`{k}` holds a secret and {why}; the env file podman and docker read (one `KEY=value` a line, taken literally) cannot carry that"),
                    "mount the value as a file instead (a `files:` entry)",
                );
                continue;
            }
            let _ = writeln!(env_file, "{k}={}", r.text);
        } else if diags.unit_word(&p, &format!("`{k}`"), &r.text) {
            run.env.push(((*k).to_owned(), r.text));
        }
    }
    if !env_file.is_empty() {
        add_secret(files, format!("secrets/systemd/{name}.env"), env_file);
        run.env_files
            .push(format!("{}/secrets/systemd/{name}.env", ctx.install_dir));
    }

    // Ports.
    for Port {
        name: _,
        port,
        publish,
        protocol,
    } in *ports
    {
        if let Some(host) = publish {
            let proto = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            run.publish.push(format!("{host}:{port}/{proto}"));
        }
    }

    // Mounts: the spec's index of each (a file the spec lacks is not planned; validation rules
    // that out, so the indexes agree).
    for (i, m) in mounts.iter().enumerate() {
        mount(
            secrets,
            ctx,
            naming,
            spec,
            &format!("{sp}/mounts/{i}"),
            m,
            &mut run,
            diags,
            files,
        );
    }

    if let Some(h) = healthcheck {
        if let Check::Exec(exec) = &h.check {
            for (i, a) in exec.iter().enumerate() {
                diags.unit_word(
                    &format!("{sp}/healthcheck/exec/{i}"),
                    "a healthcheck argument",
                    a,
                );
            }
        }
        run.health = Some(health(h));
    }

    for (dep, _) in depends_on {
        if *dep == rules::DATABASE {
            // Planned only when the database is embedded.
            run.deps.push(naming.database_host());
            continue;
        }
        if let Some(units) = instances.get(dep) {
            run.deps.extend(units.iter().cloned());
        }
    }
    resources(&mut run, limits);
    writable_tmpfs(&mut run);
    (diags.list.len() == before).then_some(run)
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

/// Why a secret-bearing value cannot go into an env file, if it cannot. podman and docker read
/// `--env-file` line by line (a trailing `\r` is dropped, lines are at most 64 KiB) and take the
/// value after the first `=` literally.
fn env_file_refusal(v: &str) -> Option<&'static str> {
    if v.contains(['\n', '\r']) {
        Some("a line break")
    } else if v.contains('\0') {
        Some("a NUL character")
    } else if v.len() > 60_000 {
        Some("more than 60000 bytes")
    } else {
        None
    }
}

/// A path inside the container that `-v HOST:CONTAINER:OPTS` can name.
fn check_container_path(diags: &mut Diags<'_>, pointer: &str, path: &str) -> bool {
    if !diags.unit_value(pointer, "the mount path", path) {
        return false;
    }
    if path.contains([':', ',']) {
        diags.push(
            pointer,
            format!(
                "mount path `{path}` holds `:` or `,`; podman's and docker's `-v` cannot name it"
            ),
            "choose a path without `:` and `,`",
        );
        return false;
    }
    true
}

#[expect(
    clippy::too_many_arguments,
    reason = "the mount needs the whole rendering context"
)]
fn mount(
    secrets: &Secrets,
    ctx: &Ctx<'_>,
    naming: &SystemdNaming<'_>,
    spec: &crate::spec::model::Spec,
    mp: &str,
    m: &MountPlan<'_>,
    run: &mut Run,
    diags: &mut Diags<'_>,
    files: &mut FileSet,
) {
    let path = match *m {
        MountPlan::Volume { path, .. }
        | MountPlan::Scratch { path }
        | MountPlan::File { path, .. }
        | MountPlan::Secret { path, .. } => path,
    };
    if !check_container_path(diags, &format!("{mp}/path"), path) {
        return;
    }
    match *m {
        MountPlan::Volume {
            volume,
            path,
            read_only,
        } => run
            .volumes
            .push((volume.to_owned(), path.to_owned(), read_only)),
        MountPlan::Scratch { path } => run.tmpfs.push(path.to_owned()),
        MountPlan::File {
            file: f,
            path,
            content,
            mode,
        } => {
            let r = plan::resolve(spec, secrets, naming, content);
            let host = if r.secret {
                // Bind-mounted as it is: readable by the container's user, whoever that is.
                add_mounted_secret(files, format!("secrets/systemd/files/{f}"), r.text);
                format!("{}/secrets/systemd/files/{f}", ctx.install_dir)
            } else {
                add(files, format!("systemd/files/{f}"), r.text, mode);
                format!("{}/files/{f}", ctx.install_dir)
            };
            run.binds.push((host, path.to_owned()));
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
            let contents: Vec<(&str, String, &str)> = match secrets.values.get(s) {
                Some(SecretValue::Tls(cert)) => vec![
                    ("ca.crt", format!("{s}/ca.crt"), cert.ca_crt.as_str()),
                    ("tls.crt", format!("{s}/tls.crt"), cert.tls_crt.as_str()),
                    ("tls.key", format!("{s}/tls.key"), cert.tls_key.as_str()),
                ],
                Some(SecretValue::Text(t)) => vec![(s, s.to_owned(), t.as_str())],
                None => Vec::new(),
            };
            for (file_name, rel, content) in contents {
                let target_name = if items.is_empty() {
                    Some(file_name.to_owned())
                } else {
                    items.get(file_name).cloned()
                };
                let Some(target_name) = target_name else {
                    continue;
                };
                let target = format!("{}/{target_name}", path.trim_end_matches('/'));
                if !check_container_path(diags, &format!("{mp}/items"), &target) {
                    continue;
                }
                add_mounted_secret(files, format!("secrets/systemd/mounted/{rel}"), content);
                run.binds.push((
                    format!("{}/secrets/systemd/mounted/{rel}", ctx.install_dir),
                    target,
                ));
            }
        }
    }
}

// The embedded database as a container.
#[expect(
    clippy::too_many_arguments,
    reason = "the database needs the whole rendering context"
)]
fn database_run(
    valid: &Valid,
    secrets: &Secrets,
    ctx: &Ctx<'_>,
    naming: &SystemdNaming<'_>,
    db: &Database,
    image: &str,
    mirror: Option<&str>,
    files: &mut FileSet,
) -> Run {
    let spec = &valid.spec;
    let Database {
        engine,
        version: _,
        image: _,
        // Read by `plan::database_setup`, the engine's env and check for every target.
        name: _,
        user: _,
        password: _,
        root_password: _,
        volume,
        external: _,
        wait: _,
        resources: res,
        security: own_security,
    } = db;
    let mut env = Vec::new();
    // Passwords as files (`*_PASSWORD_FILE`, read by the official images' entrypoints as root):
    // bind mounts of the secret files, none in an env file.
    let setup = plan::database_setup(db);
    let mut binds: Vec<(String, String)> = Vec::new();
    for (key, v) in &setup.env {
        match v {
            DbEnv::Value(v) => env.push((key.clone(), v.clone())),
            DbEnv::SecretFile(s) => {
                env.push((key.clone(), DbSetup::file_of(s)));
                binds.push((
                    format!("{}/secrets/{s}", ctx.install_dir),
                    DbSetup::file_of(s),
                ));
            }
        }
    }
    let data_dir = setup.data_dir;
    let _ = (secrets, files);
    let wait = plan::database_wait(Some(db));
    let check = plan::database_health(&setup, wait);
    let host = naming.database_host();
    let mut run = Run {
        unit: host.clone(),
        container: host,
        description: specifiers(&format!("{} database (misp-gen)", spec.name)),
        image: plan::image_ref(image, mirror),
        pull: spec
            .images
            .as_ref()
            .and_then(|i| i.pull)
            .unwrap_or_default(),
        env,
        binds,
        hardening: Some(security::effective(
            spec,
            own_security.as_ref(),
            None,
            &[plan::engine_port(*engine)],
        )),
        health: Some(health(&check)),
        restart: Restart::UnlessStopped,
        waited_on: Some(WaitBound {
            poll_ms: wait.interval_ms,
            total_ms: wait.timeout_ms,
        }),
        ..Run::default()
    };
    if let Some(v) = volume {
        run.volumes.push((v.clone(), data_dir.to_owned(), false));
    }
    resources(&mut run, &Limits::of(res.as_ref()));
    writable_tmpfs(&mut run);
    run
}

// ------------------------------------------------------------------ emitters

fn secs(ms: u64) -> String {
    units::duration_text(ms)
}

/// `[Unit]` of a container: ordering and requirements on `.service` names (quadlet before 5.5
/// does not translate `x.container`), grouped under the stack's target.
fn container_unit_section(ctx: &Ctx<'_>, run: &Run) -> UnitSection {
    let mut requires: Vec<String> = run.deps.iter().map(|d| format!("{d}.service")).collect();
    let mut after = requires.clone();
    let mut wants = Vec::new();
    match ctx.flavor {
        // Quadlet adds the network's and volumes' units itself, and network-online.target.
        Flavor::Quadlet => {}
        Flavor::Podman | Flavor::Docker => {
            let mut own = vec![format!("{}.service", ctx.network_unit())];
            for (v, _, _) in &run.volumes {
                own.push(format!("{}.service", ctx.volume_unit(v)));
            }
            own.sort();
            own.dedup();
            requires.extend(own.iter().cloned());
            after.extend(own);
            wants.push("network-online.target".to_owned());
            after.push("network-online.target".to_owned());
            if ctx.flavor == Flavor::Docker {
                // Wants, not Requires: a host without docker.service (e.g. a snap) still starts it.
                wants.push("docker.service".to_owned());
                after.push("docker.service".to_owned());
            }
        }
    }
    UnitSection {
        description: run.description.clone(),
        wants,
        requires,
        after,
        part_of: vec![ctx.target.clone()],
    }
}

/// The `[Service]` keys every flavour shares: restart policy, timeouts.
fn base_service(run: &Run) -> ServiceSection {
    let wait_ms = run.waited_on.map_or(0, |w| w.total_ms);
    let restart = if run.oneshot {
        Restart::No
    } else {
        run.restart
    };
    ServiceSection {
        restart: Some(restart_of(restart)),
        restart_sec: (restart != Restart::No).then(|| "10s".to_owned()),
        timeout_start_sec: Some(secs(START_TIMEOUT_S * 1000 + wait_ms)),
        timeout_stop_sec: Some(secs(STOP_TIMEOUT_S * 1000)),
        ..ServiceSection::default()
    }
}

/// `ExecStartPost=` that keeps the unit starting until the container is healthy, for engines
/// and versions that cannot notify systemd of health themselves.
fn health_wait_post(ctx: &Ctx<'_>, run: &Run, w: WaitBound) -> String {
    let tries = w.total_ms.div_ceil(w.poll_ms.max(1)).max(1);
    let sleep = w.poll_ms.div_ceil(1000).max(1);
    let probe = match ctx.flavor {
        Flavor::Docker => format!(
            "[ \"$(docker inspect --format '{{{{.State.Health.Status}}}}' {c} 2>/dev/null)\" = healthy ]",
            c = sh_quote(&run.container)
        ),
        Flavor::Quadlet | Flavor::Podman => format!(
            "podman healthcheck run {} >/dev/null 2>&1",
            sh_quote(&run.container)
        ),
    };
    let script = format!(
        "n=0; until {probe}; do n=$((n+1)); if [ \"$n\" -ge {tries} ]; then echo {msg} >&2; exit 1; fi; sleep {sleep}; done",
        msg = sh_quote(&format!(
            "{} did not become healthy within {}",
            run.container,
            secs(w.total_ms)
        )),
    );
    exec_line(&["/bin/sh", "-c", &script])
}

fn container_unit(ctx: &Ctx<'_>, run: &Run) -> (String, UnitFile) {
    match ctx.flavor {
        Flavor::Quadlet => quadlet_container(ctx, run),
        Flavor::Podman => podman_service(ctx, run),
        Flavor::Docker => docker_service(ctx, run),
    }
}

/// Whether podman would change this env value given as `--env K=V`: podman 4.3 and 5.4 turn a
/// CR LF in it into LF. Such a value goes into the unit's own `Environment=` (systemd's, which
/// carries any text but a NUL) and podman gets `--env K`, which takes the value unchanged from its
/// environment. docker keeps it as it is.
fn podman_mangles(v: &str) -> bool {
    v.contains("\r\n")
}

/// `--flag=value` as one escaped word.
fn flag(name: &str, value: &str) -> String {
    exec_word(&format!("--{name}={value}"))
}

fn pull_word(p: Pull) -> &'static str {
    match p {
        Pull::Never => "never",
        Pull::Missing => "missing",
        Pull::Always => "always",
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one Quadlet key after another, each with its version gate"
)]
fn quadlet_container(ctx: &Ctx<'_>, run: &Run) -> (String, UnitFile) {
    let v = ctx.version;
    let mut c = ContainerSection {
        container_name: exec_value(&run.container),
        image: exec_value(&run.image),
        network: vec![exec_value(&ctx.network)],
        label: vec![format!("io.misp-gen.stack={}", ctx.name)],
        ..ContainerSection::default()
    };
    let mut service = base_service(run);
    if v >= V4_6 {
        c.pull = Some(pull_word(run.pull).to_owned());
    } else {
        c.podman_args.push(flag("pull", pull_word(run.pull)));
    }
    if let Some(ep) = &run.entrypoint {
        // JSON array form: podman takes it whole, so no argument is split or lost.
        let json = serde_json::to_string(ep).unwrap_or_default();
        if v >= V5_0 {
            c.entrypoint = Some(exec_value(&json));
        } else {
            c.podman_args.push(flag("entrypoint", &json));
        }
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
        // `WorkingDir=` is Quadlet's since podman 4.6.
        if v >= V4_6 {
            c.working_dir = Some(exec_value(w));
        } else {
            c.podman_args.push(flag("workdir", w));
        }
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
    if let Some(a) = &run.alias {
        if v >= V5_2 {
            c.network_alias.push(exec_value(a));
        } else {
            c.podman_args.push(flag("network-alias", a));
        }
    }
    c.publish_port.clone_from(&run.publish);
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
    for t in &run.tmpfs {
        if v >= V4_5 {
            c.tmpfs.push(exec_value(t));
        } else {
            c.podman_args.push(flag("tmpfs", t));
        }
    }
    if let Some(h) = &run.health {
        if v >= V4_5 {
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
        if v >= V5_0 {
            c.notify = Some("healthy".into());
        } else if v >= V4_7 {
            // Quadlet puts --sdnotify=conmon first; the last --sdnotify wins.
            c.podman_args.push(flag("sdnotify", "healthy"));
        } else {
            service.exec_start_post.push(health_wait_post(ctx, run, w));
        }
    }
    if let Some(m) = run.memory {
        if v >= V5_5 {
            c.memory = Some(m.to_string());
        } else {
            c.podman_args.push(flag("memory", &m.to_string()));
        }
    }
    if let Some(cpus) = &run.cpus {
        c.podman_args.push(flag("cpus", cpus));
    }
    if let Some(h) = &run.hardening {
        c.no_new_privileges = h.no_new_privileges;
        if h.seccomp_unconfined {
            c.seccomp_profile = Some("unconfined".into());
        }
        c.drop_capability = vec!["all".into()];
        c.add_capability.clone_from(&h.cap_add);
        if h.read_only {
            c.read_only = true;
            // podman would add writable tmpfs at /tmp, /run and /var/tmp; only `writable` is.
            if v >= V4_6 {
                c.read_only_tmpfs = Some("false".into());
            } else {
                c.podman_args.push(flag("read-only-tmpfs", "false"));
            }
        }
        if h.user_namespaces {
            if v >= V4_5 {
                c.user_ns = Some("auto".into());
            } else {
                c.podman_args.push(flag("userns", "auto"));
            }
        }
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

fn health_flags(h: &Health, cmd: &str) -> Vec<String> {
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
    if let Some(a) = &run.alias {
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
fn podman_service(ctx: &Ctx<'_>, run: &Run) -> (String, UnitFile) {
    let v = ctx.version;
    let mut service = base_service(run);
    let healthy_notify = run.waited_on.is_some() && v >= V4_7 && !run.oneshot;
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
fn docker_service(ctx: &Ctx<'_>, run: &Run) -> (String, UnitFile) {
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

/// `--opt` pairs of a volume's `driver_opts`, in a stable order.
fn driver_opts(def: &Volume) -> Vec<(String, String)> {
    def.driver_opts
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[expect(
    clippy::too_many_lines,
    reason = "three flavours of one volume, with Quadlet's key gates"
)]
fn volume_unit(
    ctx: &Ctx<'_>,
    vol: &str,
    def: &Volume,
    diags: &mut Diags<'_>,
) -> Option<(String, UnitFile)> {
    let Volume {
        size: _,
        shared: _,
        driver_opts: _,
    } = def;
    let vp = format!("/volumes/{}", escape_segment(vol));
    let opts = driver_opts(def);
    let mut ok = true;
    for (k, v) in &opts {
        let p = format!("{vp}/driver_opts/{}", escape_segment(k));
        ok &= diags.unit_value(&p, &format!("driver option `{k}`"), v);
    }
    if !ok {
        return None;
    }
    let name = ctx.volume_name(vol);
    let description = specifiers(&format!("{} volume {vol} (misp-gen)", ctx.name));
    if ctx.flavor == Flavor::Quadlet {
        let mut s = VolumeSection {
            label: vec![format!("io.misp-gen.stack={}", ctx.name)],
            ..VolumeSection::default()
        };
        if ctx.version >= V4_7 {
            // The name Quadlet gives it before 4.7, written out: raising podman_version keeps the data.
            s.volume_name = Some(quadlet_object_name(&name));
        }
        for (k, v) in &opts {
            match k.as_str() {
                "type" => s.kind = Some(exec_value(v)),
                "device" => s.device = Some(exec_value(v)),
                "o" => s.options = Some(exec_value(v)),
                other => {
                    if ctx.version >= V4_6 {
                        s.podman_args.push(flag("opt", &format!("{other}={v}")));
                    } else {
                        diags.push(
                            &format!("{vp}/driver_opts/{}", escape_segment(k)),
                            format!("driver option `{other}` needs PodmanArgs= in a .volume file, which needs podman {V4_6}; the units are written for podman {}", ctx.version),
                            "raise targets.systemd.podman_version, or use only `type`, `device` and `o`",
                        );
                        return None;
                    }
                }
            }
        }
        if s.kind.is_some() && s.device.is_none() {
            diags.push(
                &format!("{vp}/driver_opts"),
                "driver option `type` without `device`: Quadlet refuses it".into(),
                "add `device` (e.g. `:/export/misp` for NFS)",
            );
            return None;
        }
        return Some((
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
        ));
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
    Some((
        format!("{}.service", ctx.volume_unit(vol)),
        oneshot_unit(ctx, description, exec),
    ))
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

fn network_unit(ctx: &Ctx<'_>) -> (String, UnitFile) {
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
                    network_name: (ctx.version >= V4_7).then(|| quadlet_object_name(ctx.name)),
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

#[cfg(test)]
mod tests {
    use super::*;

    // Pins which file a unit name becomes once quadlet has run.
    #[test]
    fn service_names() {
        assert_eq!(service_name_of("misp-web.container"), "misp-web.service");
        assert_eq!(
            service_name_of("misp-db_data.volume"),
            "misp-db_data-volume.service"
        );
        assert_eq!(service_name_of("misp.network"), "misp-network.service");
        assert_eq!(service_name_of("misp-web.service"), "misp-web.service");
    }

    // Pins what an env file can carry.
    #[test]
    fn env_file_values() {
        assert_eq!(env_file_refusal("a \"b\" 'c' $d %e"), None);
        assert_eq!(env_file_refusal("a\nb"), Some("a line break"));
        assert_eq!(env_file_refusal("a\r"), Some("a line break"));
        assert!(env_file_refusal(&"x".repeat(60_001)).is_some());
    }
}
