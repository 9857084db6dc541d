//! The podman versions the units depend on, in one place: which Quadlet key (or `podman run`
//! option) came with which release, and what is written instead before it. Lowering a gate is
//! one edit here.

use super::Version;
use super::unit::flag;

/// Quadlet first shipped with podman 4.4 (the model refuses the flavour below it).
pub(super) const QUADLET: Version = Version(
    crate::plan::refusals::QUADLET_SINCE.0,
    crate::plan::refusals::QUADLET_SINCE.1,
);
/// `HealthCmd=` and friends, `Tmpfs=` (Quadlet); `Secret=` too, which this target does not use.
pub(super) const V4_5: Version = Version(4, 5);
/// `Pull=` (Quadlet); `PodmanArgs=` in `.volume` files.
pub(super) const V4_6: Version = Version(4, 6);
/// `VolumeName=`, `NetworkName=` (Quadlet); `podman run --sdnotify=healthy`.
pub(super) const V4_7: Version = Version(4, 7);
/// `Entrypoint=`, `Notify=healthy` (Quadlet).
pub(super) const V5_0: Version = Version(5, 0);
/// `NetworkAlias=` (Quadlet).
pub(super) const V5_2: Version = Version(5, 2);
/// `Memory=` (Quadlet).
pub(super) const V5_5: Version = Version(5, 5);

/// A `[Container]` key Quadlet gained in a later podman, and the `podman run` option that says
/// the same in `PodmanArgs=` before it.
#[derive(Clone, Copy)]
pub(super) struct Gate {
    pub(super) since: Version,
    /// The option's name, without `--`.
    pub(super) flag: &'static str,
}

/// `Pull=`.
pub(super) const PULL: Gate = Gate {
    since: V4_6,
    flag: "pull",
};
/// `Entrypoint=`.
pub(super) const ENTRYPOINT: Gate = Gate {
    since: V5_0,
    flag: "entrypoint",
};
/// `WorkingDir=`.
pub(super) const WORKING_DIR: Gate = Gate {
    since: V4_6,
    flag: "workdir",
};
/// `NetworkAlias=`.
pub(super) const NETWORK_ALIAS: Gate = Gate {
    since: V5_2,
    flag: "network-alias",
};
/// `Tmpfs=`.
pub(super) const TMPFS: Gate = Gate {
    since: V4_5,
    flag: "tmpfs",
};
/// `Memory=`.
pub(super) const MEMORY: Gate = Gate {
    since: V5_5,
    flag: "memory",
};
/// `ReadOnlyTmpfs=`.
pub(super) const READ_ONLY_TMPFS: Gate = Gate {
    since: V4_6,
    flag: "read-only-tmpfs",
};
/// `UserNS=`.
pub(super) const USER_NS: Gate = Gate {
    since: V4_5,
    flag: "userns",
};
/// `HealthCmd=`, `HealthInterval=`, `HealthTimeout=`, `HealthRetries=`, `HealthStartPeriod=`
/// (before: the `--health-*` options).
pub(super) const HEALTH: Version = V4_5;
/// `Notify=healthy`.
pub(super) const NOTIFY_HEALTHY: Version = V5_0;
/// `podman run --sdnotify=healthy` (before: a unit polls the health check in `ExecStartPost=`).
pub(super) const SDNOTIFY_HEALTHY: Version = V4_7;
/// `VolumeName=` and `NetworkName=`.
pub(super) const OBJECT_NAME: Version = V4_7;

impl Gate {
    /// The key's value (`key` of the raw `value`) when podman `v` has the key; otherwise `None`,
    /// and `--flag=value` goes into `podman_args`.
    pub(super) fn key_or_flag(
        self,
        v: Version,
        value: &str,
        key: impl FnOnce(&str) -> String,
        podman_args: &mut Vec<String>,
    ) -> Option<String> {
        if v >= self.since {
            Some(key(value))
        } else {
            podman_args.push(flag(self.flag, value));
            None
        }
    }
}
