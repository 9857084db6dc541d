//! Hardening, target-neutral: the effective `security:` of a container (the top-level defaults,
//! then the service's own block), the default capability set, the exceptions a checker reports
//! with the reasons the spec gives for them, and the questions a spec leaves open (`validate`'s
//! warnings), each with the checkov checks it predicts on the Kubernetes output.

use crate::spec::load::escape_segment;

pub use crate::hardening::{
    HIGH_UID, Hardening, ROOT_START_CAPS, capabilities_at, effective, merged, numeric_user,
};
use crate::plan::Deployment;
use crate::plan::container::{Container, Kind, Limits};
use crate::spec::model::{Condition, Exception, Protocol, Publish, Security, Waits};

/// Linux capabilities, as `cap_add` names them (without `CAP_`).
pub const KNOWN_CAPS: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

/// The checkov checks an exception stands for (Kubernetes framework).
#[must_use]
pub fn checkov_ids(e: Exception) -> &'static [&'static str] {
    match e {
        Exception::ImageTag => &["CKV_K8S_43"],
        Exception::Root => &["CKV_K8S_23"],
        Exception::LowUid => &["CKV_K8S_40"],
        Exception::Capabilities => &["CKV_K8S_25"],
        Exception::WritableRoot => &["CKV_K8S_22"],
        Exception::SecretEnv => &["CKV_K8S_35"],
        Exception::HostPort => &["CKV_K8S_26"],
        Exception::PrivilegeEscalation => &["CKV_K8S_20"],
        Exception::Seccomp => &["CKV_K8S_31"],
        Exception::NoHealthcheck => &["CKV_K8S_8", "CKV_K8S_9"],
        Exception::NoLimits => &["CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"],
    }
}

/// The checkov checks a container without these limits fails: CPU requests and limits, memory
/// requests and limits (Kubernetes requests are derived from the limits).
#[must_use]
pub fn limit_checks(cpu: bool, memory: bool) -> Vec<&'static str> {
    let mut v = Vec::new();
    if !cpu {
        v.extend(["CKV_K8S_10", "CKV_K8S_11"]);
    }
    if !memory {
        v.extend(["CKV_K8S_12", "CKV_K8S_13"]);
    }
    v
}

/// A hardening question the effective spec leaves open for one container: neither settled by a
/// field nor accepted with a reason in `security.accept`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The service, or `database` for the embedded database.
    pub workload: String,
    /// The `accept` key that settles it with a reason.
    pub exception: Exception,
    /// The node the warning points at.
    pub pointer: String,
    /// Point at the key of `pointer` rather than its value (a whole service).
    pub at_key: bool,
    pub message: String,
    pub help: String,
    /// The checkov checks (Kubernetes framework) that fail for it on Kubernetes, in the pods of
    /// `kubernetes`.
    pub checkov: Vec<&'static str>,
    /// The Kubernetes workloads whose pods run the container: the workload itself, or for a
    /// one-off (`completed`) service, each dependant that runs it as an init container.
    pub kubernetes: Vec<String>,
}

/// One container the spec deploys, as the questions see it.
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent facts about one container, each read by one question"
)]
struct Subject<'a> {
    workload: String,
    /// How messages name it.
    who: String,
    /// See [`Question::kubernetes`].
    kubernetes: Vec<String>,
    /// Runs as an init container of its dependants on Kubernetes: checks of their main
    /// containers (user, probes) do not see it.
    one_off: bool,
    base: String,
    security: Option<&'a Security>,
    user: Option<&'a str>,
    hardening: &'a Hardening,
    image_at: String,
    pinned: bool,
    /// Its own image is pinned, but the Kubernetes wait image its pod runs is not.
    wait_unpinned: bool,
    resources: &'a Limits,
    /// `None` for the database, whose health check is built in, and for one-offs.
    healthcheck: Option<bool>,
    /// The first TCP port (Kubernetes probes it for readiness when there is no health check).
    tcp_port: bool,
    secret_env: Vec<String>,
    publish: Vec<usize>,
}

fn pinned(image: &str) -> bool {
    image.contains('@')
}

/// Where a merged `security` field is set: the container's own block, else the top level.
fn field_at(base: &str, field: &str, own_has: bool) -> String {
    if own_has {
        format!("{base}/security/{field}")
    } else {
        format!("/security/{field}")
    }
}

/// Every question the effective spec leaves open, per container (services, then the embedded
/// database), in a stable order. Kubernetes-specific facts (the publish mode, the wait image)
/// decide only the checkov checks a question predicts, never whether it is asked.
#[must_use]
pub fn open_questions(d: &Deployment) -> Vec<Question> {
    questions(d, false)
}

/// Every hardening question of the effective spec, with (`accepted`) or without those an
/// `accept` reason settles: what the rendered outputs carry either way.
#[must_use]
#[expect(
    clippy::too_many_lines,
    reason = "one question after the other, in the order of the book's table (docs/src/security.md)"
)]
pub fn questions(d: &Deployment, accepted: bool) -> Vec<Question> {
    let k8s = &d.targets.spec.kubernetes;
    let wait_image_pinned = k8s.wait_image.as_deref().is_none_or(pinned);
    let waits = k8s.waits.unwrap_or_default() == Waits::Init;
    let mut subjects: Vec<Subject<'_>> = Vec::new();
    // The Kubernetes pod waits in an init container for each dependency that is a workload here
    // (not an external database) but a one-off (`completed`), and for those of the one-offs it
    // runs.
    let has_wait = |deps: &[(String, Condition)]| {
        deps.iter()
            .any(|(dep, c)| *c != Condition::Completed && d.workload(dep).is_some())
    };
    // Services first, then the embedded database: the order the questions are asked in.
    let mut workloads: Vec<&Container> = d.workloads.iter().collect();
    workloads.sort_by_key(|c| !c.pointer.starts_with("/services/"));
    for c in workloads {
        let one_off = c.kind == Kind::OneOff;
        let waits_here = !one_off
            && waits
            && (has_wait(&c.depends_on)
                || c.depends_on.iter().any(|(dep, cond)| {
                    *cond == Condition::Completed
                        && d.workload(dep).is_some_and(|x| has_wait(&x.depends_on))
                }));
        let kubernetes: Vec<String> = if one_off {
            d.workloads
                .iter()
                .filter(|x| {
                    x.kind != Kind::OneOff
                        && x.depends_on
                            .iter()
                            .any(|(n, cond)| *n == c.name && *cond == Condition::Completed)
                })
                .map(|x| x.name.clone())
                .collect()
        } else {
            vec![c.name.clone()]
        };
        subjects.push(Subject {
            workload: c.name.clone(),
            who: c.title.clone(),
            kubernetes,
            one_off,
            security: c.security.as_ref(),
            user: c.user.as_deref(),
            hardening: &c.hardening,
            image_at: c.image_pointer.clone(),
            pinned: pinned(&c.image),
            wait_unpinned: waits_here && !wait_image_pinned,
            resources: &c.resources,
            // A one-off runs to completion: there is nothing to check the health of. The
            // database's check is misp-gen's own, and so are a replicated Redis's.
            healthcheck: (!one_off).then_some(c.health.is_some() || c.replicated.is_some()),
            tcp_port: c.ports.iter().any(|p| p.protocol == Protocol::Tcp),
            secret_env: c
                .env
                .iter()
                .filter(|(_, text)| {
                    crate::placeholder::parse(text).is_ok_and(|pieces| {
                        pieces.iter().any(|p| {
                            matches!(
                                p,
                                crate::placeholder::Piece::Ref(
                                    crate::placeholder::Ref::Secret(_),
                                    _
                                )
                            )
                        })
                    })
                })
                .map(|(k, _)| k.clone())
                .collect(),
            publish: c
                .ports
                .iter()
                .enumerate()
                .filter(|(_, p)| p.publish.is_some())
                .map(|(i, _)| i)
                .collect(),
            base: c.pointer.clone(),
        });
    }
    let mut out = Vec::new();
    for s in &subjects {
        let h = s.hardening;
        let own = s.security;
        let open = |e: Exception| accepted || !h.accept.contains_key(&e);
        let mut ask = |e: Exception,
                       pointer: String,
                       at_key: bool,
                       message: String,
                       help: String,
                       checkov: Vec<&'static str>| {
            // Checks of a pod's main containers never see a one-off run before them.
            let checkov = if s.one_off {
                checkov
                    .into_iter()
                    .filter(|c| {
                        !matches!(*c, "CKV_K8S_23" | "CKV_K8S_40" | "CKV_K8S_8" | "CKV_K8S_9")
                    })
                    .collect()
            } else {
                checkov
            };
            out.push(Question {
                workload: s.workload.clone(),
                exception: e,
                pointer,
                at_key,
                message,
                help,
                checkov,
                kubernetes: s.kubernetes.clone(),
            });
        };
        let who = &s.who;
        let user_at = if s.user.is_some() {
            (format!("{}/user", s.base), false)
        } else {
            (s.base.clone(), true)
        };
        let accept_at = format!("{}.security.accept", &s.base[1..].replace('/', "."));
        if h.root_start && open(Exception::Root) {
            ask(
                Exception::Root,
                user_at.0.clone(),
                user_at.1,
                match s.user {
                    Some(u) => format!("{who} runs as root (`user: {u}`)"),
                    None => format!(
                        "{who} has no `user`, so it runs as the image's user, root for all misp-gen can tell"
                    ),
                },
                format!(
                    "set `user:` to the numeric non-root UID[:GID] the image runs as, or give the reason it must start as root in `{accept_at}.root`"
                ),
                vec!["CKV_K8S_23"],
            );
        }
        if !h.user_namespaces && h.uid.is_none_or(|u| u < HIGH_UID) && open(Exception::LowUid) {
            ask(
                Exception::LowUid,
                user_at.0.clone(),
                user_at.1,
                match h.uid {
                    Some(u) => format!(
                        "{who} runs as UID {u}, which may belong to a user on the host, and without a user namespace"
                    ),
                    None => format!(
                        "{who} runs as a UID misp-gen cannot tell, which may belong to a user on the host, and without a user namespace"
                    ),
                },
                format!(
                    "use a UID of {HIGH_UID} or more, or `security.user_namespaces: true`, or give the reason in `{accept_at}.low_uid`"
                ),
                vec!["CKV_K8S_40"],
            );
        }
        if !h.cap_add.is_empty() && open(Exception::Capabilities) {
            let p = if h.cap_add_explicit {
                capabilities_at(&s.base, own, d.security.as_ref())
            } else {
                s.base.clone()
            };
            let k = true;
            ask(
                Exception::Capabilities,
                p,
                k,
                format!(
                    "{who} gets capabilities back after dropping them all: {}{}",
                    h.cap_add.join(", "),
                    if h.cap_add_explicit {
                        ""
                    } else {
                        " (the default set for an image that starts as root)"
                    }
                ),
                format!(
                    "set `security.cap_drop: [ALL]` if the image needs none (a non-root `user` needs none by default), or give the reason in `{accept_at}.capabilities`"
                ),
                vec!["CKV_K8S_25"],
            );
        }
        if !h.read_only && open(Exception::WritableRoot) {
            let set = own.is_some_and(|o| o.read_only.is_some());
            let top = d.security.as_ref().is_some_and(|t| t.read_only.is_some());
            let (p, k) = if set || top {
                (field_at(&s.base, "read_only", set), false)
            } else {
                (s.base.clone(), true)
            };
            ask(
                Exception::WritableRoot,
                p,
                k,
                format!("{who} can write to its root file system"),
                format!(
                    "set `security.read_only: true` with the paths it writes in `security.writable` (or scratch mounts), or give the reason in `{accept_at}.writable_root`"
                ),
                vec!["CKV_K8S_22"],
            );
        }
        let cpu = s.resources.cpu_milli.is_some();
        let memory = s.resources.memory.is_some();
        if (!cpu || !memory) && open(Exception::NoLimits) {
            let missing = match (cpu, memory) {
                (false, false) => "no CPU or memory limit",
                (false, true) => "no CPU limit",
                _ => "no memory limit",
            };
            ask(
                Exception::NoLimits,
                if s.resources.declared {
                    format!("{}/resources", s.base)
                } else {
                    s.base.clone()
                },
                true,
                format!(
                    "{who} has {missing}, so it can take what its host has from the other workloads"
                ),
                format!(
                    "set `resources: {{ cpu: \"1\", memory: 1Gi }}` to what it needs at most, or give the reason in `{accept_at}.no_limits`"
                ),
                limit_checks(cpu, memory),
            );
        }
        if s.healthcheck == Some(false) && open(Exception::NoHealthcheck) {
            let mut checks = vec!["CKV_K8S_8"];
            if !s.tcp_port {
                checks.push("CKV_K8S_9");
            }
            ask(
                Exception::NoHealthcheck,
                s.base.clone(),
                true,
                format!(
                    "{who} has no `healthcheck`: nothing restarts it when it hangs, and no dependant can wait for it to be `healthy`{}",
                    if s.tcp_port {
                        " (Kubernetes gets a TCP readiness probe on its first port)"
                    } else {
                        ""
                    }
                ),
                format!(
                    "add a `healthcheck:` (`http`, `tcp` or `exec`), or give the reason in `{accept_at}.no_healthcheck`"
                ),
                checks,
            );
        }
        if (!s.pinned || s.wait_unpinned) && open(Exception::ImageTag) {
            ask(
                Exception::ImageTag,
                if s.pinned {
                    "/targets/kubernetes/wait_image".to_owned()
                } else {
                    s.image_at.clone()
                },
                false,
                if s.pinned {
                    format!(
                        "the wait image {who}'s Kubernetes pod runs is pinned by tag, not by `@sha256:` digest: the tag can be moved to another build"
                    )
                } else {
                    format!(
                        "{who}'s image is pinned by tag, not by `@sha256:` digest: the tag can be moved to another build"
                    )
                },
                format!(
                    "pin the image as `NAME:TAG@sha256:…` (and `targets.kubernetes.wait_image` where set), or give the reason in `{accept_at}.image_tag` (or the top-level `security.accept.image_tag`)"
                ),
                vec!["CKV_K8S_43"],
            );
        }
        if let Some(first) = s.secret_env.first()
            && open(Exception::SecretEnv)
        {
            ask(
                Exception::SecretEnv,
                format!("{}/env/{}", s.base, escape_segment(first)),
                true,
                format!(
                    "{who} gets secrets as environment variables ({}), which its processes and the orchestrator can show",
                    s.secret_env.join(", ")
                ),
                format!(
                    "mount the secret as a file (`mounts: [{{ secret: NAME, path: /run/secrets }}]`) where the image reads a `_FILE` variable, or give the reason in `{accept_at}.secret_env`"
                ),
                vec!["CKV_K8S_35"],
            );
        }
        if let Some(first) = s.publish.first()
            && open(Exception::HostPort)
        {
            ask(
                Exception::HostPort,
                format!("{}/ports/{first}/publish", s.base),
                false,
                format!(
                    "{who} publishes a port outside the deployment (a host port on compose and systemd, {} on Kubernetes)",
                    match k8s.publish_mode() {
                        Publish::LoadBalancer => "a LoadBalancer Service",
                        Publish::NodePort => "a NodePort Service",
                        Publish::HostPort => "a hostPort",
                        Publish::None => "nothing",
                    }
                ),
                format!(
                    "remove `publish` and let the `edge` be the way in, or give the reason in `{accept_at}.host_port`"
                ),
                if k8s.publish_mode() == Publish::HostPort {
                    vec!["CKV_K8S_26"]
                } else {
                    Vec::new()
                },
            );
        }
    }
    out
}

/// The warning for an open hardening question, by the `accept` key that settles it.
#[must_use]
pub fn warning_code(e: crate::spec::model::Exception) -> Option<crate::diag::Code> {
    use crate::diag::Code;
    use crate::spec::model::Exception as E;
    Some(match e {
        E::Root => Code::WarnRoot,
        E::LowUid => Code::WarnLowUid,
        E::Capabilities => Code::WarnCapabilities,
        E::WritableRoot => Code::WarnWritableRoot,
        E::NoLimits => Code::WarnNoLimits,
        E::NoHealthcheck => Code::WarnNoHealthcheck,
        E::ImageTag => Code::WarnImageTag,
        E::SecretEnv => Code::WarnSecretEnv,
        E::HostPort => Code::WarnHostPort,
        // Relaxing these is an error without a reason (E329), never a warning.
        E::PrivilegeEscalation | E::Seccomp => return None,
    })
}
