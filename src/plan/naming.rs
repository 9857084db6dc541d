//! How each target names what it makes: the host names workloads reach each other by, and
//! Kubernetes' object names. Decided here once, read by the renderers and by the refusals.

use crate::domain::Naming;

/// Compose names: a workload is reached by its own name.
pub struct ComposeNaming;

impl Naming for ComposeNaming {
    fn service_host(&self, service: &str) -> String {
        service.to_owned()
    }
}

/// Host names on a systemd stack's network: `<name>-<workload>` (the container name of a single
/// instance; a network alias shared by all instances of a replicated one).
pub struct SystemdNaming<'a> {
    pub name: &'a str,
}

impl Naming for SystemdNaming<'_> {
    fn service_host(&self, service: &str) -> String {
        format!("{}-{service}", self.name)
    }
}

/// Kubernetes names: a workload is reached through its Service, `<name>-<workload>`.
pub struct KubernetesNaming {
    prefix: String,
}

impl KubernetesNaming {
    #[must_use]
    pub fn new(name: &str) -> Self {
        KubernetesNaming {
            prefix: name.to_owned(),
        }
    }

    /// The object name made from a spec name: `<name>-<thing>`, `_` as `-`.
    #[must_use]
    pub fn object(&self, thing: &str) -> String {
        format!("{}-{}", self.prefix, dns(thing))
    }
}

impl Naming for KubernetesNaming {
    fn service_host(&self, service: &str) -> String {
        self.object(service)
    }
}

/// A spec name (which may hold `_`) as a DNS-1123 label part.
#[must_use]
pub fn dns(s: &str) -> String {
    s.replace('_', "-")
}

/// A pod-local name (volume, container): a DNS label, unique among `taken`.
#[must_use]
pub fn local_name(base: &str, taken: &std::collections::BTreeSet<String>) -> String {
    let mut b: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while b.contains("--") {
        b = b.replace("--", "-");
    }
    b.truncate(56);
    let b = b.trim_matches('-').to_owned();
    let b = if b.is_empty() { "v".to_owned() } else { b };
    if !taken.contains(&b) {
        return b;
    }
    // At most `taken.len()` suffixes can be in use, so one of these is free.
    (2..=taken.len() + 2)
        .map(|i| format!("{b}-{i}"))
        .find(|n| !taken.contains(n))
        .unwrap_or(b)
}
