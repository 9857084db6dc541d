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
    /// Added back after dropping every capability (the effective set); sorted.
    pub cap_add: Vec<String>,
    /// The set is not the default one as it stands: `capabilities`, `cap_add` or `cap_drop`
    /// decided it.
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
/// (the service's win). A block's own `capabilities` is the whole set: the top level's
/// `cap_add` and `cap_drop` do not change it.
#[must_use]
pub fn merged(top: Option<&Security>, own: Option<&Security>) -> Security {
    let top = top.cloned().unwrap_or_default();
    let Some(own) = own else { return top };
    let mut accept = top.accept;
    accept.extend(own.accept.clone());
    let (capabilities, cap_add, cap_drop) = if own.capabilities.is_some() {
        (
            own.capabilities.clone(),
            own.cap_add.clone(),
            own.cap_drop.clone(),
        )
    } else {
        (
            top.capabilities,
            own.cap_add.clone().or(top.cap_add),
            own.cap_drop.clone().or(top.cap_drop),
        )
    };
    Security {
        no_new_privileges: own.no_new_privileges.or(top.no_new_privileges),
        seccomp: own.seccomp.or(top.seccomp),
        capabilities,
        cap_add,
        cap_drop,
        read_only: own.read_only.or(top.read_only),
        writable: own.writable.clone().or(top.writable),
        run_as_non_root: own.run_as_non_root.or(top.run_as_non_root),
        user_namespaces: own.user_namespaces.or(top.user_namespaces),
        accept,
    }
}

/// The field that decides a container's capability set (its own block's `capabilities`,
/// `cap_add`, `cap_drop`, then the top level's), as a pointer; the container's node when none
/// does.
#[must_use]
pub fn capabilities_at(base: &str, own: Option<&Security>, top: Option<&Security>) -> String {
    type IsSet = fn(&Security) -> bool;
    let fields: [(&str, IsSet); 3] = [
        ("capabilities", |s| s.capabilities.is_some()),
        ("cap_add", |s| s.cap_add.is_some()),
        ("cap_drop", |s| s.cap_drop.is_some()),
    ];
    for (field, set) in fields {
        if own.is_some_and(set) {
            return format!("{base}/security/{field}");
        }
    }
    for (field, set) in fields {
        if top.is_some_and(set) {
            return format!("/security/{field}");
        }
    }
    base.to_owned()
}

/// The capabilities a container gets back after dropping them all, as Compose and Docker decide
/// them: the base set (`capabilities`, else the default set: [`ROOT_START_CAPS`] and
/// `NET_BIND_SERVICE` below port 1024 for a root start, none otherwise), less `cap_drop` (`ALL`:
/// all of it), then `cap_add`. Unsorted.
#[must_use]
pub fn capability_set(s: &Security, root_start: bool, ports: &[u16]) -> Vec<String> {
    let mut set: Vec<String> = match &s.capabilities {
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
    if let Some(drop) = &s.cap_drop {
        if drop.iter().any(|c| c == "ALL") {
            set.clear();
        } else {
            set.retain(|c| !drop.contains(c));
        }
    }
    for c in s.cap_add.iter().flatten() {
        if !set.contains(c) {
            set.push(c.clone());
        }
    }
    set
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
    let cap_add_explicit = s.capabilities.is_some() || s.cap_add.is_some() || s.cap_drop.is_some();
    let mut cap_add = capability_set(&s, root_start, ports);
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
    // below 1024), non-root users none, and an explicit `capabilities` replaces the set.
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
            capabilities: Some(vec!["SETUID".into()]),
            ..Security::default()
        };
        assert_eq!(effective(&spec, Some(&own), None, &[]).cap_add, ["SETUID"]);
        assert!(effective(&spec, None, Some("0"), &[]).root_start);
        assert!(!effective(&spec, None, Some("redis"), &[]).root_start);
    }

    // Pins Compose's meaning of `cap_add` and `cap_drop`: added to and removed from the default
    // set, `ALL` dropping all of it, a name in both lists kept; a service's own `capabilities`
    // is the whole set, the top level's `cap_add` then changes nothing, but the top level's
    // `capabilities` is the base a service's `cap_add` adds to.
    #[test]
    fn cap_add_and_cap_drop_change_the_default_set() {
        let spec = |top: serde_json::Value| -> Spec {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "misp-gen/v1", "name": "x", "services": {}, "security": top
            }))
            .unwrap()
        };
        let block = |v: serde_json::Value| -> Security { serde_json::from_value(v).unwrap() };
        let none = spec(serde_json::json!({}));
        let h = effective(
            &none,
            Some(&block(serde_json::json!({"cap_add": ["AUDIT_WRITE"]}))),
            None,
            &[],
        );
        assert_eq!(
            h.cap_add,
            [
                "AUDIT_WRITE",
                "CHOWN",
                "DAC_OVERRIDE",
                "FOWNER",
                "KILL",
                "SETGID",
                "SETUID"
            ]
        );
        assert!(h.cap_add_explicit);
        let h = effective(
            &none,
            Some(&block(serde_json::json!({"cap_drop": ["KILL", "CHOWN"]}))),
            None,
            &[80],
        );
        assert_eq!(
            h.cap_add,
            [
                "DAC_OVERRIDE",
                "FOWNER",
                "NET_BIND_SERVICE",
                "SETGID",
                "SETUID"
            ]
        );
        let h = effective(
            &none,
            Some(&block(
                serde_json::json!({"cap_drop": ["ALL", "SYS_NICE"], "cap_add": ["SYS_NICE"]}),
            )),
            None,
            &[80],
        );
        assert_eq!(h.cap_add, ["SYS_NICE"]);
        let h = effective(
            &none,
            Some(&block(serde_json::json!({"cap_add": ["SYS_NICE"]}))),
            Some("1000"),
            &[],
        );
        assert_eq!(h.cap_add, ["SYS_NICE"]);
        let top = spec(serde_json::json!({"cap_add": ["AUDIT_WRITE"]}));
        let h = effective(
            &top,
            Some(&block(serde_json::json!({"capabilities": ["SETUID"]}))),
            None,
            &[],
        );
        assert_eq!(h.cap_add, ["SETUID"]);
        let top = spec(serde_json::json!({"capabilities": ["SETUID"]}));
        let h = effective(
            &top,
            Some(&block(serde_json::json!({"cap_add": ["SETGID"]}))),
            None,
            &[],
        );
        assert_eq!(h.cap_add, ["SETGID", "SETUID"]);
    }
}
