//! The Pod Security Standards (baseline and restricted, as the Kubernetes documentation states them
//! field by field) applied to the pods the Kubernetes target renders: the strictest level they
//! meet, which the namespace then enforces, and for each field that keeps a pod from a level, the
//! spec node it comes from, so that a level the spec asks for and its pods cannot meet is an error
//! at that node.
//!
//! Only what the renderer can emit is checked: it never sets host namespaces, `privileged`,
//! `hostPath` or other volume types outside restricted's list, `procMount`, sysctls, `AppArmor` or
//! `SELinux` options, so those rules hold by construction (the test suite checks them on the
//! rendered manifests all the same).

use std::collections::BTreeSet;

use crate::spec::model::{Exception, PodSecurity};

/// Capabilities baseline lets a container add.
pub const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The one capability restricted lets a container add.
pub const RESTRICTED_CAPS: &[&str] = &["NET_BIND_SERVICE"];

/// What the check reads of one container.
#[derive(Debug, Clone, Default)]
pub struct ContainerView {
    /// The container's name in the pod.
    pub name: String,
    pub run_as_user: Option<u64>,
    pub run_as_non_root: bool,
    pub allow_escalation: bool,
    /// Capabilities added after dropping all.
    pub add: Vec<String>,
    /// Host ports, each with the spec node that asks for it.
    pub host_ports: Vec<(u16, String)>,
    /// Where the user, the capabilities, escalation and seccomp are decided in the spec.
    pub user_at: String,
    pub caps_at: String,
    pub escalation_at: String,
    pub seccomp_at: String,
    /// The exceptions the spec accepts for it with a reason (`security.accept`).
    pub accepted: BTreeSet<Exception>,
}

/// What the check reads of one pod.
#[derive(Debug, Clone, Default)]
pub struct PodView {
    /// The workload, for messages.
    pub workload: String,
    pub seccomp_unconfined: bool,
    pub containers: Vec<ContainerView>,
}

/// A field that keeps a pod from a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The loosest level that forbids it (baseline forbids it in restricted too).
    pub level: PodSecurity,
    /// The spec node to point at.
    pub at: String,
    pub what: String,
    pub help: &'static str,
    /// The `security.accept` key that settles it.
    pub exception: Exception,
    /// The spec accepts it with a reason: the namespace warns of it no more.
    pub accepted: bool,
}

/// Every field of `pod` that baseline or restricted forbids.
#[must_use]
pub fn violations(pod: &PodView) -> Vec<Violation> {
    let mut v = Vec::new();
    if pod.seccomp_unconfined {
        let first = pod.containers.first();
        v.push(Violation {
            level: PodSecurity::Baseline,
            at: first.map_or_else(String::new, |c| c.seccomp_at.clone()),
            what: format!("`{}` runs with seccomp `Unconfined`", pod.workload),
            help: "remove `security.seccomp: unconfined` (RuntimeDefault is what baseline allows)",
            exception: Exception::Seccomp,
            accepted: first.is_some_and(|c| c.accepted.contains(&Exception::Seccomp)),
        });
    }
    for c in &pod.containers {
        for (port, at) in &c.host_ports {
            v.push(Violation {
                level: PodSecurity::Baseline,
                at: at.clone(),
                what: format!(
                    "container `{}` of `{}` uses hostPort {port}",
                    c.name, pod.workload
                ),
                help: "publish through a Service instead (`targets.kubernetes.publish: load-balancer` or `node-port`)",
                exception: Exception::HostPort,
                accepted: c.accepted.contains(&Exception::HostPort),
            });
        }
        let beyond_baseline: Vec<&str> = c
            .add
            .iter()
            .map(String::as_str)
            .filter(|a| !BASELINE_CAPS.contains(a))
            .collect();
        if !beyond_baseline.is_empty() {
            v.push(Violation {
                level: PodSecurity::Baseline,
                at: c.caps_at.clone(),
                what: format!(
                    "container `{}` of `{}` adds {}, beyond what baseline allows",
                    c.name,
                    pod.workload,
                    beyond_baseline.join(", ")
                ),
                help: "baseline allows only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID and SYS_CHROOT",
                exception: Exception::Capabilities,
                accepted: c.accepted.contains(&Exception::Capabilities),
            });
        }
        if c.allow_escalation {
            v.push(Violation {
                level: PodSecurity::Restricted,
                at: c.escalation_at.clone(),
                what: format!(
                    "container `{}` of `{}` may gain privileges (allowPrivilegeEscalation)",
                    c.name, pod.workload
                ),
                help: "leave `security.no_new_privileges` at its default, true",
                exception: Exception::PrivilegeEscalation,
                accepted: c.accepted.contains(&Exception::PrivilegeEscalation),
            });
        }
        if c.run_as_user == Some(0) || !c.run_as_non_root {
            let why = match c.run_as_user {
                Some(0) => "runs as root (UID 0)".to_owned(),
                Some(_) => "is not marked runAsNonRoot".to_owned(),
                None => "runs as the image's user, which may be root".to_owned(),
            };
            v.push(Violation {
                level: PodSecurity::Restricted,
                at: c.user_at.clone(),
                what: format!("container `{}` of `{}` {why}", c.name, pod.workload),
                help: "give the service a numeric non-root `user` (UID[:GID]) that its image runs as",
                exception: Exception::Root,
                accepted: c.accepted.contains(&Exception::Root),
            });
        }
        let beyond_restricted: Vec<&str> = c
            .add
            .iter()
            .map(String::as_str)
            .filter(|a| !RESTRICTED_CAPS.contains(a) && BASELINE_CAPS.contains(a))
            .collect();
        if !beyond_restricted.is_empty() {
            v.push(Violation {
                level: PodSecurity::Restricted,
                at: c.caps_at.clone(),
                what: format!(
                    "container `{}` of `{}` adds {}; restricted allows only NET_BIND_SERVICE",
                    c.name,
                    pod.workload,
                    beyond_restricted.join(", ")
                ),
                help: "run as a non-root `user` (no capabilities needed), or set `security.capabilities` to what the image really needs",
                exception: Exception::Capabilities,
                accepted: c.accepted.contains(&Exception::Capabilities),
            });
        }
    }
    v
}

/// The strictest level no violation forbids.
#[must_use]
pub fn level(violations: &[Violation]) -> PodSecurity {
    if violations.iter().any(|v| v.level == PodSecurity::Baseline) {
        PodSecurity::Privileged
    } else if violations.is_empty() {
        PodSecurity::Restricted
    } else {
        PodSecurity::Baseline
    }
}

/// The level the cluster should warn and audit at, for a namespace that enforces `enforce`: the
/// level the pods would meet if every violation the spec has not accepted with a reason were
/// fixed (never looser than `enforce`). A spec that accepted all of its violations is warned of
/// nothing; one that left a violation undecided hears of it at every apply.
#[must_use]
pub fn warn_level(violations: &[Violation], enforce: PodSecurity) -> PodSecurity {
    let accepted: Vec<Violation> = violations.iter().filter(|v| v.accepted).cloned().collect();
    level(&accepted).max(enforce)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hardened() -> ContainerView {
        ContainerView {
            name: "web".into(),
            run_as_user: Some(10_001),
            run_as_non_root: true,
            ..ContainerView::default()
        }
    }

    fn pod(c: ContainerView) -> PodView {
        PodView {
            workload: "web".into(),
            seccomp_unconfined: false,
            containers: vec![c],
        }
    }

    // Pins the three levels from the documented rules: a non-root container with nothing added
    // is restricted; a root start with baseline's capabilities is baseline; a host port or a
    // capability outside baseline's list is privileged.
    #[test]
    fn levels() {
        assert_eq!(
            level(&violations(&pod(hardened()))),
            PodSecurity::Restricted
        );
        let bind = ContainerView {
            add: vec!["NET_BIND_SERVICE".into()],
            ..hardened()
        };
        assert_eq!(level(&violations(&pod(bind))), PodSecurity::Restricted);
        let root = ContainerView {
            run_as_user: None,
            run_as_non_root: false,
            add: vec!["CHOWN".into(), "SETUID".into()],
            ..hardened()
        };
        let v = violations(&pod(root));
        assert_eq!(level(&v), PodSecurity::Baseline);
        assert_eq!(v.len(), 2, "{v:?}");
        let escalate = ContainerView {
            allow_escalation: true,
            ..hardened()
        };
        assert_eq!(level(&violations(&pod(escalate))), PodSecurity::Baseline);
        let host = ContainerView {
            host_ports: vec![(8080, "/services/web/ports/0/publish".into())],
            ..hardened()
        };
        let v = violations(&pod(host));
        assert_eq!(level(&v), PodSecurity::Privileged);
        assert_eq!(v[0].at, "/services/web/ports/0/publish");
        let admin = ContainerView {
            add: vec!["NET_ADMIN".into()],
            ..hardened()
        };
        assert_eq!(level(&violations(&pod(admin))), PodSecurity::Privileged);
        let mut unconfined = pod(hardened());
        unconfined.seccomp_unconfined = true;
        assert_eq!(level(&violations(&unconfined)), PodSecurity::Privileged);
    }

    // Pins the warn level: what the pods would meet with every violation the spec has not
    // accepted fixed. All accepted: the enforced level itself (no warning at apply); one left
    // undecided: the level it keeps the pods from.
    #[test]
    fn warn_levels() {
        let admin = |accepted: &[Exception]| ContainerView {
            run_as_user: None,
            run_as_non_root: false,
            add: vec!["NET_ADMIN".into()],
            accepted: accepted.iter().copied().collect(),
            ..hardened()
        };
        let v = violations(&pod(admin(&[Exception::Capabilities, Exception::Root])));
        let enforce = level(&v);
        assert_eq!(enforce, PodSecurity::Privileged);
        assert_eq!(warn_level(&v, enforce), PodSecurity::Privileged);
        // Root accepted, the capability not: fixed, the pod would meet baseline.
        let v = violations(&pod(admin(&[Exception::Root])));
        assert_eq!(warn_level(&v, level(&v)), PodSecurity::Baseline);
        // Nothing accepted: fixed, it would meet restricted.
        let v = violations(&pod(admin(&[])));
        assert_eq!(warn_level(&v, level(&v)), PodSecurity::Restricted);
        // Never looser than what the namespace enforces.
        assert_eq!(
            warn_level(&v, PodSecurity::Restricted),
            PodSecurity::Restricted
        );
    }
}
