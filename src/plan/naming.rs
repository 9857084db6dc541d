//! How each target names what it makes: the host names workloads reach each other by (a
//! service's own name on every target), and the names of containers, units and Kubernetes objects. Decided here once, read by the renderers and by the refusals.

use crate::domain::{DATABASE, Naming};

/// Compose names: a workload is reached by its own name.
pub struct ComposeNaming;

impl Naming for ComposeNaming {
    fn service_host(&self, service: &str) -> String {
        service.to_owned()
    }
}

/// Names on a systemd stack's network: a workload is reached by its own name (a network alias
/// every instance carries); its containers and units are `<name>-<workload>`.
pub struct SystemdNaming<'a> {
    pub name: &'a str,
}

impl SystemdNaming<'_> {
    /// The container (and unit) name of a single instance; instances of a replicated one add
    /// `-<n>`.
    #[must_use]
    pub fn container(&self, workload: &str) -> String {
        format!("{}-{workload}", self.name)
    }
}

impl Naming for SystemdNaming<'_> {
    fn service_host(&self, service: &str) -> String {
        service.to_owned()
    }
}

/// Kubernetes names: a workload is reached through its Service, named as the workload itself
/// (the embedded database: its host name); every other object is `<name>-<thing>`.
pub struct KubernetesNaming {
    prefix: String,
    /// The Service of the embedded database (or of the cluster's writer endpoint).
    database_host: String,
}

impl KubernetesNaming {
    #[must_use]
    pub fn new(d: &super::Deployment) -> Self {
        KubernetesNaming {
            prefix: d.name.clone(),
            database_host: d.database_host().to_owned(),
        }
    }

    /// The object name made from a spec name: `<name>-<thing>`, `_` as `-`.
    #[must_use]
    pub fn object(&self, thing: &str) -> String {
        format!("{}-{}", self.prefix, dns(thing))
    }

    /// The Service other pods reach `workload` through: its own name, the embedded database's
    /// host name for the database.
    #[must_use]
    pub fn service(&self, workload: &str) -> String {
        if workload == DATABASE {
            self.database_host.clone()
        } else {
            dns(workload)
        }
    }
}

impl Naming for KubernetesNaming {
    fn service_host(&self, service: &str) -> String {
        dns(service)
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
