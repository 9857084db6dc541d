//! The state guard: what holds data in a deployment, recorded by every render in
//! `DIR/state.json`, and the changes of it that a render refuses.
//!
//! A spec edit can lose data without any disk failing: a renamed volume, deployment name or
//! compose project gives the next deploy a fresh, empty volume, and Kubernetes refuses changes
//! to a `StatefulSet`'s claims only when the change is applied. Each renderer records the
//! identities it writes (the names of volumes and claims, the `StatefulSet` fields Kubernetes
//! will not change); the pipeline compares them with the last render's and refuses what would
//! orphan or break data, unless the operator names the change (`--allow-state-change NAME`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The file under the output directory that holds the state of the last render.
pub const STATE_FILE: &str = "state.json";

/// The format of [`STATE_FILE`]; a file of another format is recorded anew, not compared.
pub const FORMAT: u32 = 1;

/// What holds data in one render.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub format: u32,
    /// The embedded database; `None` when there is none (external, or no database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<Compose>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Kubernetes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<Systemd>,
}

/// The embedded database's engine, version and members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// The image's repository without its registry (`mariadb`, `library/postgres` → `postgres`).
    pub engine: String,
    /// The image's tag (`10.11`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Data members: 1, or the Galera cluster's.
    pub members: u32,
}

/// compose: the project (which scopes every volume's name) and the volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compose {
    pub project: String,
    pub volumes: BTreeSet<String>,
}

/// Kubernetes: the namespace, the claims and the `StatefulSet`s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    pub namespace: String,
    /// `PersistentVolumeClaim` name → what it asks for.
    pub claims: BTreeMap<String, Claim>,
    /// `StatefulSet` name → the fields Kubernetes will not change.
    pub statefulsets: BTreeMap<String, StatefulSet>,
}

/// What a claim asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The spec's volume it holds (a claim template: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    pub size: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// `ReadWriteOnce` or `ReadWriteMany`.
    pub access: String,
}

/// The fields of a `StatefulSet` that Kubernetes refuses to change (`spec.serviceName`,
/// `spec.selector`, `spec.podManagementPolicy`, `spec.volumeClaimTemplates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatefulSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    pub selector: BTreeMap<String, String>,
    pub pod_management: String,
    /// Claim template name → what it asks for.
    pub claim_templates: BTreeMap<String, Claim>,
}

/// systemd: the engine's volume names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Systemd {
    /// The engine's volume name → the spec's volume.
    pub volumes: BTreeMap<String, String>,
}

impl State {
    /// This render's state with the parts of `old` this render does not write (a target not
    /// rendered this time keeps what it recorded last).
    #[must_use]
    pub fn carrying(mut self, old: Option<&State>) -> State {
        self.format = FORMAT;
        if let Some(old) = old {
            if self.compose.is_none() {
                self.compose.clone_from(&old.compose);
            }
            if self.kubernetes.is_none() {
                self.kubernetes.clone_from(&old.kubernetes);
            }
            if self.systemd.is_none() {
                self.systemd.clone_from(&old.systemd);
            }
        }
        self
    }

    /// The file's text: JSON, keys sorted, one trailing newline.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The state a file holds. `Err` names what is wrong with it (never its text).
    ///
    /// # Errors
    /// Not JSON, or not this format's shape.
    pub fn parse(bytes: &[u8]) -> Result<Option<State>, String> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON (line {})", e.line()))?;
        if v.get("format").and_then(serde_json::Value::as_u64) != Some(u64::from(FORMAT)) {
            return Ok(None);
        }
        serde_json::from_value(v)
            .map(Some)
            .map_err(|e| format!("not the shape misp-gen writes ({e})"))
    }
}

/// Where in the spec a change comes from, for the message's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `targets.compose.project`.
    ComposeProject,
    /// `targets.kubernetes.namespace`.
    Namespace,
    /// A volume of `volumes:` (which may be gone).
    Volume(String),
    /// The embedded database.
    Database,
    /// A service (which may be gone).
    Service(String),
}

/// One change of state between two renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What `--allow-state-change` takes to accept it.
    pub name: String,
    /// Refused (unless accepted) or only warned about.
    pub refused: bool,
    pub origin: Origin,
    /// old → new, in words.
    pub message: String,
    /// How to do it without losing data.
    pub help: String,
}

/// The spec service a `StatefulSet` named `object` comes from (the longest service name it
/// ends with), for the position of a message.
fn service_of(object: &str, services: &BTreeSet<String>) -> Origin {
    services
        .iter()
        .filter(|n| object.ends_with(n.replace('_', "-").as_str()))
        .max_by_key(|n| n.len())
        .map_or(Origin::Service(String::new()), |n| {
            Origin::Service(n.clone())
        })
}

/// The changes from `old` to `new`, refused ones first. Only parts both record are compared.
#[must_use]
pub fn changes(old: &State, new: &State, services: &BTreeSet<String>) -> Vec<Change> {
    let mut out = Vec::new();
    let dropped_help = |what: &str| {
        format!(
            "the data stays in the old {what}, and the next deploy starts an empty one: keep the old name (restore it in the spec), or move the data first (back up, restore into the new one), then accept the change"
        )
    };
    if let (Some(o), Some(n)) = (&old.compose, &new.compose) {
        if o.project == n.project {
            for v in o.volumes.difference(&n.volumes) {
                out.push(Change {
                    name: format!("volume.{v}"),
                    refused: true,
                    origin: Origin::Volume(v.clone()),
                    message: format!(
                        "compose volume `{}_{v}` holds data and is no longer rendered (removed or renamed)",
                        o.project
                    ),
                    help: dropped_help("volume"),
                });
            }
        } else {
            out.push(Change {
                name: "compose.project".into(),
                refused: true,
                origin: Origin::ComposeProject,
                message: format!(
                    "the compose project changes from `{}` to `{}`: every volume of the stack would be a new, empty one (compose names them `<project>_<volume>`)",
                    o.project, n.project
                ),
                help: "keep `targets.compose.project` as it was (set it explicitly when renaming the deployment), or copy the volumes to the new names before accepting the change".into(),
            });
        }
    }
    if let (Some(o), Some(n)) = (&old.kubernetes, &new.kubernetes) {
        if o.namespace == n.namespace {
            kubernetes_changes(o, n, services, &mut out, &dropped_help);
        } else {
            out.push(Change {
                name: "kubernetes.namespace".into(),
                refused: true,
                origin: Origin::Namespace,
                message: format!(
                    "the Kubernetes namespace changes from `{}` to `{}`: every claim would be a new, empty one in the new namespace",
                    o.namespace, n.namespace
                ),
                help: "keep `targets.kubernetes.namespace` as it was, or move the volumes' data into the new namespace's claims before accepting the change".into(),
            });
        }
    }
    if let (Some(o), Some(n)) = (&old.systemd, &new.systemd) {
        for (object, v) in &o.volumes {
            if n.volumes.contains_key(object) {
                continue;
            }
            out.push(Change {
                name: format!("volume.{v}"),
                refused: true,
                origin: Origin::Volume(v.clone()),
                message: format!(
                    "systemd volume `{object}` (volume `{v}`) holds data and is no longer rendered (the volume, the deployment's name or the flavour changed)"
                ),
                help: dropped_help("volume"),
            });
        }
    }
    if let (Some(o), Some(n)) = (&old.database, &new.database) {
        database_changes(o, n, &mut out);
    }
    out.sort_by_key(|c| !c.refused);
    out
}

fn kubernetes_changes(
    o: &Kubernetes,
    n: &Kubernetes,
    services: &BTreeSet<String>,
    out: &mut Vec<Change>,
    dropped_help: &dyn Fn(&str) -> String,
) {
    for (name, old) in &o.claims {
        let (key, origin) = match &old.volume {
            Some(v) => (format!("volume.{v}"), Origin::Volume(v.clone())),
            None => (
                format!("kubernetes.claim.{name}"),
                Origin::Volume(String::new()),
            ),
        };
        let Some(new) = n.claims.get(name) else {
            out.push(Change {
                name: key,
                refused: true,
                origin,
                message: format!(
                    "PersistentVolumeClaim `{name}` holds data and is no longer rendered (removed or renamed)"
                ),
                help: dropped_help("claim"),
            });
            continue;
        };
        claim_changes(
            &format!("PersistentVolumeClaim `{name}`"),
            &key,
            old,
            new,
            &origin,
            out,
        );
    }
    for (name, old) in &o.statefulsets {
        let origin = service_of(name, services);
        let key = format!("kubernetes.statefulset.{name}");
        let Some(new) = n.statefulsets.get(name) else {
            if !old.claim_templates.is_empty() {
                out.push(Change {
                    name: key,
                    refused: true,
                    origin,
                    message: format!(
                        "StatefulSet `{name}` keeps data in its claims ({}) and is no longer rendered (removed or renamed)",
                        old.claim_templates.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                    ),
                    help: dropped_help("claims"),
                });
            }
            continue;
        };
        let mut fields = Vec::new();
        if old.service_name != new.service_name {
            fields.push(format!(
                "serviceName {} → {}",
                old.service_name.as_deref().unwrap_or("(none)"),
                new.service_name.as_deref().unwrap_or("(none)")
            ));
        }
        if old.selector != new.selector {
            fields.push("selector".to_owned());
        }
        if old.pod_management != new.pod_management {
            fields.push(format!(
                "podManagementPolicy {} → {}",
                old.pod_management, new.pod_management
            ));
        }
        if old.claim_templates != new.claim_templates {
            fields.push("volumeClaimTemplates".to_owned());
        }
        if !fields.is_empty() {
            out.push(Change {
                name: key,
                refused: true,
                origin,
                message: format!(
                    "StatefulSet `{name}` changes fields Kubernetes will not change in place ({}): `kubectl apply` would be refused",
                    fields.join("; ")
                ),
                help: "keep those fields as they were; or delete the StatefulSet without its pods and claims (`kubectl delete statefulset NAME --cascade=orphan`), apply, and check that the new one adopted the old claims, then accept the change".into(),
            });
        }
    }
}

fn claim_changes(
    what: &str,
    name: &str,
    old: &Claim,
    new: &Claim,
    origin: &Origin,
    out: &mut Vec<Change>,
) {
    if let (Some(o), Some(n)) = (
        crate::units::bytes(&old.size),
        crate::units::bytes(&new.size),
    ) && n < o
    {
        out.push(Change {
            name: name.to_owned(),
            refused: true,
            origin: origin.clone(),
            message: format!(
                "{what} would shrink from {} to {}: Kubernetes never shrinks a claim",
                old.size, new.size
            ),
            help: "keep the size (a claim can only grow), or move the data into a new, smaller volume under another name".into(),
        });
    }
    if old.class != new.class || old.access != new.access {
        out.push(Change {
            name: name.to_owned(),
            refused: true,
            origin: origin.clone(),
            message: format!(
                "{what} changes its storage class or access mode ({} {} → {} {}): a bound claim cannot change them",
                old.class.as_deref().unwrap_or("(default class)"),
                old.access,
                new.class.as_deref().unwrap_or("(default class)"),
                new.access
            ),
            help: "keep the class and access mode (`shared` decides ReadWriteMany), or copy the data into a new claim under another name".into(),
        });
    }
}

fn database_changes(o: &Database, n: &Database, out: &mut Vec<Change>) {
    if o.engine != n.engine {
        out.push(Change {
            name: "database.engine".into(),
            refused: true,
            origin: Origin::Database,
            message: format!(
                "the database engine changes from {} to {}: the new server cannot read the old one's data directory",
                o.engine, n.engine
            ),
            help: "keep the engine; to move, dump the data with the old engine, render the new one under a new volume, and load the dump".into(),
        });
        return;
    }
    let (Some(ov), Some(nv)) = (&o.version, &n.version) else {
        return;
    };
    match compare_versions(&n.engine, ov, nv) {
        Some(std::cmp::Ordering::Less) => out.push(Change {
            name: "database.version".into(),
            refused: true,
            origin: Origin::Database,
            message: format!(
                "the database moves to an older version, {ov} → {nv}: a server does not read a data directory a newer one has written"
            ),
            help: "keep the version; to go back, restore a backup taken before the upgrade into the older version".into(),
        }),
        Some(std::cmp::Ordering::Greater) => out.push(Change {
            name: "database.version".into(),
            refused: false,
            origin: Origin::Database,
            message: format!("the database moves to a newer version, {ov} → {nv}"),
            help: "back up the database before deploying: the new version upgrades the data directory, and the old one cannot read it afterwards".into(),
        }),
        _ => {}
    }
    if o.members != n.members {
        out.push(Change {
            name: "database.members".into(),
            refused: false,
            origin: Origin::Database,
            message: format!(
                "the database's data members change from {} to {}",
                o.members, n.members
            ),
            help: "a member added joins by a full state transfer; a member removed keeps its volume: back up first".into(),
        });
    }
}

/// `new` against `old` on the engine's major version (`MariaDB` and `MySQL`: the first two
/// numbers, 10.11; `PostgreSQL`: the first), or `None` when either is not numbers.
fn compare_versions(engine: &str, old: &str, new: &str) -> Option<std::cmp::Ordering> {
    let parts = if engine.contains("postgres") { 1 } else { 2 };
    let major = |v: &str| -> Option<Vec<u64>> {
        let v = v.split(['-', '@']).next().unwrap_or(v);
        let nums: Vec<u64> = v
            .split('.')
            .take(parts)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        (!nums.is_empty()).then_some(nums)
    };
    Some(major(new)?.cmp(&major(old)?))
}

#[cfg(test)]
mod tests {
    use super::compare_versions;
    use std::cmp::Ordering;

    #[test]
    fn versions_compare_on_the_engines_major() {
        assert_eq!(
            compare_versions("mariadb", "10.11", "11.4"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_versions("mariadb", "11.4", "10.11"),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_versions("mariadb", "10.11.6", "10.11.5"),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare_versions("postgres", "16.2", "16.1"),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare_versions("postgres", "16", "15-alpine"),
            Some(Ordering::Less)
        );
        assert_eq!(compare_versions("mariadb", "lts", "10.11"), None);
    }
}
