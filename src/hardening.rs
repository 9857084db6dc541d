//! Hardening of one container, target-neutral: the effective `security:` (the top-level
//! defaults, then the container's own block) and the default capability set. The plan asks it
//! for every workload; `security` asks the questions a spec leaves open about the result.

use std::collections::BTreeMap;

use crate::spec::model::{Exception, Seccomp, Security, Spec};

/// Capabilities an image needs when its entrypoint starts as root and drops to another user
/// (Apache, supervisord, the official database images): change the owner of its directories,
/// switch user and group, and signal its children once they run as that user.
pub const ROOT_START_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "KILL",
    "SETGID",
    "SETUID",
];

/// UIDs below this may belong to users on the host (checkov's `CKV_K8S_40` threshold).
pub const HIGH_UID: u64 = 10_000;

/// The effective hardening of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each flag is one independent switch of the spec's `security:` block"
)]
pub struct Hardening {
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
    /// Added back after dropping every capability; sorted.
    pub cap_add: Vec<String>,
    /// `cap_add` was given (not the default set).
    pub cap_add_explicit: bool,
    pub read_only: bool,
    /// Extra writable scratch paths (with `read_only`).
    pub writable: Vec<String>,
    pub run_as_non_root: bool,
    pub user_namespaces: bool,
    /// The container starts as root: no `user`, UID 0 or `root`.
    pub root_start: bool,
    /// Numeric UID when `user` gives one.
    pub uid: Option<u64>,
    pub accept: BTreeMap<Exception, String>,
}

/// `UID[:GID]` when numeric.
#[must_use]
pub fn numeric_user(u: &str) -> Option<(u64, Option<u64>)> {
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid = uid.parse().ok()?;
    let gid = match gid {
        Some(g) => Some(g.parse().ok()?),
        None => None,
    };
    Some((uid, gid))
}

/// A `security:` block laid over the top-level defaults, field by field; `accept` reasons merge
/// (the service's win).
#[must_use]
pub fn merged(top: Option<&Security>, own: Option<&Security>) -> Security {
    let top = top.cloned().unwrap_or_default();
    let Some(own) = own else { return top };
    let mut accept = top.accept;
    accept.extend(own.accept.clone());
    Security {
        no_new_privileges: own.no_new_privileges.or(top.no_new_privileges),
        seccomp: own.seccomp.or(top.seccomp),
        cap_add: own.cap_add.clone().or(top.cap_add),
        read_only: own.read_only.or(top.read_only),
        writable: own.writable.clone().or(top.writable),
        run_as_non_root: own.run_as_non_root.or(top.run_as_non_root),
        user_namespaces: own.user_namespaces.or(top.user_namespaces),
        accept,
    }
}

/// The hardening of a container with `own` security, running as `user`, listening on `ports`.
#[must_use]
pub fn effective(
    spec: &Spec,
    own: Option<&Security>,
    user: Option<&str>,
    ports: &[u16],
) -> Hardening {
    let s = merged(spec.security.as_ref(), own);
    let numeric = user.and_then(numeric_user);
    let root_start = match user {
        None => true,
        Some(u) => numeric.map_or(u == "root", |(uid, _)| uid == 0),
    };
    let cap_add_explicit = s.cap_add.is_some();
    let mut cap_add: Vec<String> = match &s.cap_add {
        Some(list) => list.clone(),
        None if root_start => {
            let mut c: Vec<String> = ROOT_START_CAPS.iter().map(|c| (*c).to_owned()).collect();
            if ports.iter().any(|p| *p < 1024) {
                c.push("NET_BIND_SERVICE".into());
            }
            c
        }
        None => Vec::new(),
    };
    cap_add.sort();
    cap_add.dedup();
    let read_only = s.read_only.unwrap_or(false);
    Hardening {
        no_new_privileges: s.no_new_privileges.unwrap_or(true),
        seccomp_unconfined: s.seccomp.unwrap_or_default() == Seccomp::Unconfined,
        cap_add,
        cap_add_explicit,
        read_only,
        writable: if read_only {
            s.writable.unwrap_or_default()
        } else {
            Vec::new()
        },
        run_as_non_root: s.run_as_non_root.unwrap_or(false),
        user_namespaces: s.user_namespaces.unwrap_or(false),
        root_start,
        uid: numeric.map(|(u, _)| u),
        accept: s.accept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the default capability set: root-start images get the six (and NET_BIND_SERVICE
    // below 1024), non-root users none, and an explicit `cap_add` replaces the set.
    #[test]
    fn default_caps() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "apiVersion": "misp-gen/v1", "name": "x", "services": {}
        }))
        .unwrap();
        let h = effective(&spec, None, None, &[443]);
        assert!(h.root_start && h.no_new_privileges && !h.read_only);
        assert!(h.cap_add.contains(&"NET_BIND_SERVICE".to_owned()));
        assert_eq!(h.cap_add.len(), 7);
        assert!(
            effective(&spec, None, Some("1000:1000"), &[80])
                .cap_add
                .is_empty()
        );
        let own = Security {
            cap_add: Some(vec!["SETUID".into()]),
            ..Security::default()
        };
        assert_eq!(effective(&spec, Some(&own), None, &[]).cap_add, ["SETUID"]);
        assert!(effective(&spec, None, Some("0"), &[]).root_start);
        assert!(!effective(&spec, None, Some("redis"), &[]).root_start);
    }
}
