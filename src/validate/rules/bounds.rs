//! Bounds on the size of a spec, checked before every other rule.

use super::{Ctx, help, seg};
use crate::diag::Code;
use crate::domain::replicas;
use crate::profile::Profile;
use crate::spec::model::Spec;

/// At most this many services, secrets, files or volumes in one spec.
pub const MAX_ENTRIES: usize = 1000;
/// At most this many containers in all (every service's replicas under the profile): each is a
/// unit of its own for systemd.
pub const MAX_CONTAINERS: u64 = 2000;

/// The size of what a spec asks for, bounded so that every spec misp-gen accepts validates and
/// renders in well under a second (a 400-byte spec asked for 20 000 systemd units). A real
/// deployment is a few dozen services; a larger one is several specs. True when a bound is
/// broken: the other rules are not run then.
pub(super) fn too_many(cx: &mut Ctx<'_>, spec: &Spec, profile: &Profile) -> bool {
    let before = cx.out.len();
    for (key, n) in [
        ("services", spec.services.len()),
        ("secrets", spec.secrets.len()),
        ("files", spec.files.len()),
        ("volumes", spec.volumes.len()),
    ] {
        if n > MAX_ENTRIES {
            let d = cx.at_key(
                &format!("/{key}"),
                Code::TooMany,
                format!("{n} {key}, at most {MAX_ENTRIES} in one spec"),
            );
            help(
                d,
                "split the deployment into several specs, each rendered into its own directory",
            );
        }
    }
    let mut containers: u64 = 0;
    for (name, svc) in &spec.services {
        // A replicated Redis runs its members, three Sentinels and the endpoint.
        containers += match &svc.replicated {
            Some(r) => {
                u64::from(r.members.min(crate::domain::MAX_REDIS_MEMBERS))
                    + u64::from(crate::domain::REDIS_SENTINELS)
                    + 1
            }
            None => u64::from(replicas(svc, profile)),
        };
        if containers > MAX_CONTAINERS {
            let d = cx.at_key(
                &format!("/services/{}", seg(name)),
                Code::TooMany,
                format!(
                    "with `{name}`, the services run more than {MAX_CONTAINERS} containers in all (replicas summed under profile `{}`)",
                    profile.name
                ),
            );
            help(
                d,
                "run fewer replicas, or split the deployment into several specs",
            );
            break;
        }
    }
    cx.out.len() > before
}
