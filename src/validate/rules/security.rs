//! The `security:` blocks of the spec, its services and the embedded database.

use super::{Ctx, help, seg};
use crate::diag::Code;
use crate::spec::model::Spec;

/// `security:` blocks: relaxations need a reason, capabilities must exist, writable paths need a
/// read-only root, a non-root promise needs a non-root numeric user.
#[expect(
    clippy::too_many_lines,
    reason = "one rule per field of the block, in the block's order"
)]
pub(super) fn security(cx: &mut Ctx<'_>, spec: &Spec) {
    use crate::security::{KNOWN_CAPS, merged, numeric_user};
    use crate::spec::model::{Exception, Seccomp, Security};
    // (pointer of the block, its own block, the container's user)
    let mut blocks: Vec<(String, Option<&Security>, Option<&str>, bool)> =
        vec![("/security".to_owned(), spec.security.as_ref(), None, false)];
    for (name, svc) in &spec.services {
        blocks.push((
            format!("/services/{}/security", seg(name)),
            svc.security.as_ref(),
            svc.user.as_deref(),
            true,
        ));
    }
    if let Some(db) = &spec.database
        && db.external.is_none()
    {
        blocks.push((
            "/database/security".to_owned(),
            db.security.as_ref(),
            None,
            true,
        ));
    }
    for (p, own, user, container) in blocks {
        // Each block's own fields are checked where they are written; the merged view decides
        // whether a relaxation has its reason (which may sit in the top-level block).
        if let Some(own) = own {
            for (e, reason) in &own.accept {
                if reason.trim().is_empty() || reason.contains(['=', '\n', '\r']) {
                    let d = cx.at(
                        &format!("{p}/accept/{}", e.key()),
                        Code::SecurityUnexplained,
                        format!(
                            "the reason for `{}` is empty, or holds `=` or a line break",
                            e.key()
                        ),
                    );
                    help(
                        d,
                        "say in one line why the exception is acceptable; it is written into the checker's skip annotation `CHECK=reason`, which `=` would cut",
                    );
                }
            }
            let lists = [
                ("capabilities", own.capabilities.as_ref()),
                ("cap_add", own.cap_add.as_ref()),
                ("cap_drop", own.cap_drop.as_ref()),
            ];
            for (field, list) in lists {
                for (i, c) in list.into_iter().flatten().enumerate() {
                    if field == "cap_drop" && c == "ALL" {
                        continue;
                    }
                    if !KNOWN_CAPS.contains(&c.as_str()) {
                        let fixed = c
                            .trim_start_matches("CAP_")
                            .trim_start_matches("cap_")
                            .to_ascii_uppercase();
                        let d = cx.at(
                            &format!("{p}/{field}/{i}"),
                            Code::UnknownCapability,
                            format!("`{c}` is not a Linux capability name"),
                        );
                        if fixed == "ALL" {
                            help(
                                d,
                                "`ALL` is allowed in `cap_drop` only; list the capabilities the container needs",
                            );
                        } else if KNOWN_CAPS.contains(&fixed.as_str()) {
                            help(d, format!("write `{fixed}` (upper case, without `CAP_`)"));
                        } else {
                            help(
                                d,
                                "names are those of capabilities(7) without `CAP_`, e.g. `NET_BIND_SERVICE`",
                            );
                        }
                    }
                }
            }
            if own.capabilities.is_some() {
                for field in ["cap_add", "cap_drop"] {
                    let set = if field == "cap_add" {
                        own.cap_add.is_some()
                    } else {
                        own.cap_drop.is_some()
                    };
                    if set {
                        let d = cx.at_key(
                            &format!("{p}/{field}"),
                            Code::CapabilityFields,
                            format!(
                                "`{field}` changes the default capability set, but this block replaces it with `capabilities`"
                            ),
                        );
                        help(
                            d,
                            format!(
                                "write the whole set in `capabilities`, or remove `capabilities` and keep `{field}` (which changes the default set, as in Compose)"
                            ),
                        );
                    }
                }
            }
            for (i, w) in own.writable.iter().flatten().enumerate() {
                if !w.starts_with('/') || w.contains(['\n', '\r', ':', ',']) {
                    cx.at(
                        &format!("{p}/writable/{i}"),
                        Code::SecurityWritable,
                        format!("`{w}` is not an absolute path in the container"),
                    );
                }
            }
        }
        if !container && own.is_none() {
            continue;
        }
        let m = if container {
            merged(spec.security.as_ref(), own)
        } else {
            own.cloned().unwrap_or_default()
        };
        // Where a merged field was set: the own block if it sets it, else the top level.
        let at = |field: &str, own_has: bool| {
            if own_has {
                format!("{p}/{field}")
            } else {
                format!("/security/{field}")
            }
        };
        if m.no_new_privileges == Some(false)
            && !m.accept.contains_key(&Exception::PrivilegeEscalation)
        {
            let d = cx.at(
                &at("no_new_privileges", own.is_some_and(|o| o.no_new_privileges.is_some())),
                Code::SecurityUnexplained,
                "`no_new_privileges: false` lets processes gain privileges, and the spec gives no reason",
            );
            help(
                d,
                "add `accept: { privilege_escalation: \"why\" }`, or drop the line",
            );
        }
        if m.seccomp == Some(Seccomp::Unconfined) && !m.accept.contains_key(&Exception::Seccomp) {
            let d = cx.at(
                &at("seccomp", own.is_some_and(|o| o.seccomp.is_some())),
                Code::SecurityUnexplained,
                "`seccomp: unconfined` turns off system-call filtering, and the spec gives no reason",
            );
            help(d, "add `accept: { seccomp: \"why\" }`, or drop the line");
        }
        if m.writable.as_ref().is_some_and(|w| !w.is_empty()) && m.read_only != Some(true) {
            let d = cx.at_key(
                &at("writable", own.is_some_and(|o| o.writable.is_some())),
                Code::SecurityWritable,
                "`writable` lists paths, but the root file system is not read-only (everything is writable)",
            );
            help(d, "add `read_only: true`, or remove `writable`");
        }
        if container && m.run_as_non_root == Some(true) {
            let ok = user.and_then(numeric_user).is_some_and(|(u, _)| u != 0);
            if !ok {
                let what = match user {
                    None => {
                        "no `user`, so it runs as the image's user, which may be root".to_owned()
                    }
                    Some(u) if numeric_user(u).is_some() => format!("`user: {u}` is root"),
                    Some(u) => {
                        format!("`user: {u}` is a name, which cannot be checked before it starts")
                    }
                };
                let d = cx.at(
                    &at(
                        "run_as_non_root",
                        own.is_some_and(|o| o.run_as_non_root.is_some()),
                    ),
                    Code::RunAsNonRoot,
                    format!("`run_as_non_root` is set, but {what}"),
                );
                help(
                    d,
                    "set `user:` to the numeric non-root UID[:GID] the image runs as, e.g. `1000:1000`",
                );
            }
        }
    }
}
