//! What the three container emitters share: the `[Unit]` section, the `[Service]` keys of every
//! flavour, the health wait for engines that cannot notify it, and small word helpers.

use super::engines::{docker_service, podman_service};
use super::model::{ServiceSection, UnitFile, UnitSection};
use super::quadlet::quadlet_container;
use super::run::{Run, WaitBound};
use super::{Ctx, START_TIMEOUT_S, STOP_TIMEOUT_S};
use crate::render::unitfile::{exec_line, exec_word};
use crate::shell::sh_quote;
use crate::spec::model::{Flavor, Pull, Restart};
use crate::units;

pub(super) fn secs(ms: u64) -> String {
    units::duration_text(ms)
}

/// `[Unit]` of a container: ordering and requirements on `.service` names (quadlet before 5.5
/// does not translate `x.container`), grouped under the stack's target.
pub(super) fn container_unit_section(ctx: &Ctx<'_>, run: &Run) -> UnitSection {
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

fn restart_of(r: Restart) -> &'static str {
    match r {
        Restart::Always | Restart::UnlessStopped => "always",
        Restart::OnFailure => "on-failure",
        Restart::No => "no",
    }
}

/// The `[Service]` keys every flavour shares: restart policy, timeouts.
pub(super) fn base_service(run: &Run) -> ServiceSection {
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
pub(super) fn health_wait_post(ctx: &Ctx<'_>, run: &Run, w: WaitBound) -> String {
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

pub(super) fn container_unit(ctx: &Ctx<'_>, run: &Run) -> (String, UnitFile) {
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
pub(super) fn podman_mangles(v: &str) -> bool {
    v.contains("\r\n")
}

/// `--flag=value` as one escaped word.
pub(super) fn flag(name: &str, value: &str) -> String {
    exec_word(&format!("--{name}={value}"))
}

pub(super) fn pull_word(p: Pull) -> &'static str {
    match p {
        Pull::Never => "never",
        Pull::Missing => "missing",
        Pull::Always => "always",
    }
}
