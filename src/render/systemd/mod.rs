//! The systemd target: Quadlet files (`quadlet`), plain units in the shape of
//! `podman generate systemd --new` (`podman`) or units that run the docker CLI (`docker`), a
//! `<name>.target` that groups them, and the env files under `secrets/systemd/` that carry
//! secret-bearing values.
//!
//! Every container is first described target-neutrally ([`run::Run`], `run.rs`), then written by
//! one of three emitters (`quadlet.rs`; `engines.rs` for the podman and docker flavours) into the
//! typed unit model ([`model::UnitFile`]: one struct per section), which one template
//! (`systemd/unit.j2`) lays out. Escaping happens where the model is filled (see
//! [`crate::render::unitfile`]); every rendered unit is parsed back before anything is written.
//! The network and volume units are `helpers.rs`'s; which podman version has which key is
//! `gates.rs`'s.

mod engines;
mod gates;
mod helpers;
mod model;
mod quadlet;
mod run;
mod unit;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::domain::{DATABASE, Naming};
use crate::error::Error;
use crate::plan::Deployment;
use crate::render::unitfile::specifiers;
use crate::render::{FileSet, Templates, add};
use crate::secrets::Secrets;
use crate::spec::model::{Condition, Flavor};
use helpers::{network_unit, volume_unit};
use model::{InstallSection, UnitFile, UnitSection};
use run::{Inputs, Run, service_run, service_wait};
use unit::container_unit;

/// The podman version units are written for when the spec names none.
pub const DEFAULT_PODMAN_VERSION: Version = Version(
    crate::plan::refusals::DEFAULT_PODMAN_VERSION.0,
    crate::plan::refusals::DEFAULT_PODMAN_VERSION.1,
);
/// Where the operator installs `OUT/secrets/` and `OUT/systemd/files/` by default (+ `/<name>`).
pub use crate::plan::DEFAULT_INSTALL_PREFIX;
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

pub use crate::plan::naming::SystemdNaming;

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

/// The podman version the units are written for.
#[must_use]
pub fn podman_version(plan: &Deployment) -> Version {
    plan.targets
        .podman_version
        .map_or(DEFAULT_PODMAN_VERSION, |(a, b)| Version(a, b))
}

/// Render the systemd target into `files`.
///
/// # Errors
/// Values a unit file cannot carry and keys the podman version does not have (diagnostics),
/// template errors.
pub fn render(
    plan: &Deployment,
    secrets: &Secrets,
    templates: &Templates,
    mirror: Option<&str>,
    flavor: Flavor,
    files: &mut FileSet,
    state: &mut crate::state::State,
) -> Result<(), Error> {
    let version = podman_version(plan);
    let ctx = Ctx {
        name: &plan.name,
        flavor,
        version,
        target: format!("{}.target", plan.name),
        network: match flavor {
            Flavor::Quadlet => format!("{}.network", plan.name),
            Flavor::Podman | Flavor::Docker => plan.name.clone(),
        },
        install_dir: plan.targets.install_dir.clone(),
    };
    let naming = SystemdNaming { name: &plan.name };
    let inp = Inputs {
        plan,
        secrets,
        ctx: &ctx,
        naming: &naming,
        mirror,
    };
    let runs = runs(plan, &inp, files);

    // Volumes: the plan's, those of a service with no instance here included (the unit keeps
    // its volume created, data and all, for when it is scaled up again).
    let mut unit_files: Vec<(String, UnitFile)> = Vec::new();
    let mut volumes = std::collections::BTreeMap::new();
    for (v, def) in &plan.volumes {
        volumes.insert(helpers::volume_object_name(&ctx, v), v.clone());
        unit_files.push(volume_unit(&ctx, v, def));
    }
    state.systemd = Some(crate::state::Systemd { volumes });
    unit_files.push(network_unit(&ctx));
    for r in &runs {
        unit_files.push(container_unit(&ctx, r));
    }
    let target = target_unit(&ctx, &unit_files);
    unit_files.push(target);

    for (file, mut u) in unit_files {
        u.stack.clone_from(&plan.name);
        let text = templates.render("systemd/unit.j2", &u)?;
        let path = format!("systemd/{file}");
        templates.check_unit(&path, &text)?;
        add(files, path, text, 0o644);
    }
    Ok(())
}

/// Every container to run: each instance of each workload.
fn runs(plan: &Deployment, inp: &Inputs<'_>, files: &mut FileSet) -> Vec<Run> {
    let naming = inp.naming;
    // Instances of each service, and who must wait for whom.
    let instances: BTreeMap<&str, Vec<String>> = plan
        .workloads
        .iter()
        .map(|c| {
            let name = c.name.as_str();
            let units = match c.replicas {
                0 => Vec::new(),
                1 => vec![naming.container(name)],
                n => (1..=n)
                    .map(|i| format!("{}-{i}", naming.container(name)))
                    .collect(),
            };
            (name, units)
        })
        .collect();
    let mut completed: BTreeSet<&str> = BTreeSet::new();
    for c in &plan.workloads {
        for (dep, cond) in &c.depends_on {
            if *cond == Condition::Completed {
                completed.insert(dep.as_str());
            }
        }
    }

    let mut runs: Vec<Run> = Vec::new();
    for c in &plan.workloads {
        let name = c.name.as_str();
        let units = &instances[name];
        if units.is_empty() {
            continue;
        }
        let base = service_run(inp, c, &instances, files);
        let waited_on = if c.healthy_first {
            c.health
                .as_ref()
                .zip(c.wait)
                .map(|(h, w)| service_wait(h, w))
        } else {
            None
        };
        for (i, unit) in units.iter().enumerate() {
            let mut run = base.clone_for(unit);
            run.waited_on = waited_on;
            run.oneshot = completed.contains(name);
            if i > 0 {
                // Replicas on one host share no host port: only the first instance publishes.
                run.publish.clear();
            }
            // Every instance answers to the service's own name on the stack's network (the
            // embedded database to its host name as well).
            run.aliases = vec![naming.service_host(name)];
            if name == DATABASE && plan.database_host() != DATABASE {
                run.aliases.push(plan.database_host().to_owned());
            }
            if units.len() > 1 {
                run.description = format!(
                    "{} (instance {} of {})",
                    base.description,
                    i + 1,
                    units.len()
                );
            }
            runs.push(run);
        }
    }
    runs
}

/// `<name>.target`, which wants every other unit.
fn target_unit(ctx: &Ctx<'_>, unit_files: &[(String, UnitFile)]) -> (String, UnitFile) {
    let mut wants: Vec<String> = unit_files.iter().map(|(f, _)| service_name_of(f)).collect();
    wants.sort();
    (
        ctx.target.clone(),
        UnitFile {
            stack: ctx.name.to_owned(),
            note: Some(format!(
                "Start the whole stack with `systemctl start {}`; `systemctl enable {}` starts it at boot.",
                ctx.target, ctx.target
            )),
            unit: UnitSection {
                description: specifiers(&format!("{} (misp-gen stack)", ctx.name)),
                wants,
                ..UnitSection::default()
            },
            install: Some(InstallSection {
                wanted_by: vec!["multi-user.target".into()],
            }),
            ..UnitFile::default()
        },
    )
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
}
