//! The template contexts: what the templates under `templates/kubernetes/` are rendered from,
//! one serialisable struct per object kind and per part of a pod.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::spec::model::Exception;

#[derive(Serialize, Clone, PartialEq, Eq)]
pub(super) struct Kv {
    pub(super) key: String,
    pub(super) value: String,
}

pub(super) fn kvs(m: &BTreeMap<String, String>) -> Vec<Kv> {
    m.iter()
        .map(|(k, v)| Kv {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

#[derive(Serialize)]
pub(super) struct Meta {
    pub(super) spec_name: String,
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) labels: Vec<Kv>,
    pub(super) annotations: Vec<Kv>,
}

#[derive(Serialize)]
pub(super) struct WorkloadCtx {
    pub(super) meta: Meta,
    pub(super) kind: &'static str,
    pub(super) replicas: u32,
    pub(super) selector: Vec<Kv>,
    /// Deployment: `Recreate`, or `RollingUpdate` with these numbers.
    pub(super) recreate: bool,
    pub(super) max_unavailable: u32,
    pub(super) max_surge: u32,
    pub(super) progress_deadline: u64,
    /// `StatefulSet`: start and stop every pod at once (`Parallel`), not one by one.
    pub(super) parallel: bool,
    /// `StatefulSet`: its headless Service.
    pub(super) service_name: Option<String>,
    pub(super) claim_templates: Vec<Claim>,
    pub(super) pod_labels: Vec<Kv>,
    pub(super) pod: Pod,
    /// The checks this workload is known to fail, each with the spec's reason (as a comment too).
    pub(super) skips: Vec<Skip>,
}

#[derive(Serialize, Clone)]
pub(super) struct Skip {
    pub(super) check: &'static str,
    pub(super) exception: &'static str,
    pub(super) reason: String,
}

#[derive(Serialize, Default)]
pub(super) struct Pod {
    pub(super) service_account: String,
    pub(super) host_users: bool,
    pub(super) seccomp: &'static str,
    pub(super) fs_group: Option<u64>,
    pub(super) spread: Vec<SpreadOut>,
    /// Required anti-affinity across hosts between the workload's own pods.
    pub(super) anti_affinity: bool,
    /// `terminationGracePeriodSeconds`, where not the default.
    pub(super) termination_grace: Option<u64>,
    pub(super) init_containers: Vec<Container>,
    pub(super) containers: Vec<Container>,
    pub(super) volumes: Vec<PodVolume>,
}

#[derive(Serialize)]
pub(super) struct SpreadOut {
    pub(super) key: &'static str,
    pub(super) when: &'static str,
}

#[derive(Serialize, Default, Clone)]
pub(super) struct Container {
    pub(super) name: String,
    pub(super) image: String,
    pub(super) pull_policy: &'static str,
    pub(super) command: Option<Vec<String>>,
    pub(super) args: Option<Vec<String>>,
    pub(super) working_dir: Option<String>,
    /// A wait container's script (written as a block scalar: it holds no `$(` or `$$`).
    pub(super) script: Option<String>,
    pub(super) env: Vec<EnvVar>,
    pub(super) ports: Vec<ContainerPort>,
    pub(super) mounts: Vec<VolumeMount>,
    pub(super) startup: Option<Probe>,
    pub(super) readiness: Option<Probe>,
    pub(super) liveness: Option<Probe>,
    pub(super) resources: Option<Res>,
    pub(super) security: ContainerSecurity,
    /// The exceptions its own service accepts, with their reasons (a one-off run inside a
    /// dependant's pod keeps its own).
    #[serde(skip)]
    pub(super) accept: BTreeMap<Exception, String>,
}

#[derive(Serialize, Clone)]
pub(super) struct EnvVar {
    pub(super) name: String,
    pub(super) value: Option<String>,
    pub(super) secret_name: Option<String>,
    pub(super) secret_key: Option<String>,
}

#[derive(Serialize, Clone)]
pub(super) struct ContainerPort {
    pub(super) name: String,
    pub(super) port: u16,
    pub(super) protocol: &'static str,
    pub(super) host_port: Option<u16>,
}

#[derive(Serialize, Clone)]
pub(super) struct VolumeMount {
    pub(super) name: String,
    pub(super) path: String,
    pub(super) read_only: bool,
    pub(super) sub_path: Option<String>,
}

#[derive(Serialize, Clone)]
pub(super) struct Probe {
    pub(super) http_path: Option<String>,
    /// httpGet / tcpSocket port: a JSON number or a JSON string (a port name).
    pub(super) port: Option<serde_json::Value>,
    pub(super) scheme: Option<&'static str>,
    pub(super) exec: Option<Vec<String>>,
    pub(super) period: u64,
    pub(super) timeout: u64,
    pub(super) failure_threshold: u64,
}

#[derive(Serialize, Clone)]
pub(super) struct Res {
    pub(super) cpu_request: Option<String>,
    pub(super) cpu_limit: Option<String>,
    pub(super) memory_request: Option<String>,
    pub(super) memory_limit: Option<String>,
}

#[derive(Serialize, Default, Clone)]
pub(super) struct ContainerSecurity {
    pub(super) run_as_user: Option<u64>,
    pub(super) run_as_group: Option<u64>,
    pub(super) run_as_non_root: bool,
    pub(super) read_only_root: bool,
    pub(super) allow_escalation: bool,
    pub(super) add: Vec<String>,
}

#[derive(Serialize, Clone, PartialEq, Eq)]
pub(super) struct PodVolume {
    pub(super) name: String,
    /// pvc, secret, configmap or empty.
    pub(super) kind: &'static str,
    pub(super) source: String,
    pub(super) items: Vec<Item>,
    pub(super) default_mode: Option<u32>,
}

#[derive(Serialize, Clone, PartialEq, Eq)]
pub(super) struct Item {
    pub(super) key: String,
    pub(super) path: String,
    pub(super) mode: Option<u32>,
}

#[derive(Serialize)]
pub(super) struct Claim {
    pub(super) name: String,
    pub(super) rwx: bool,
    pub(super) size: String,
    pub(super) class: Option<String>,
}

impl Claim {
    /// What the state guard records of it.
    pub(super) fn state(&self) -> crate::state::Claim {
        crate::state::Claim {
            volume: None,
            size: self.size.clone(),
            class: self.class.clone(),
            access: if self.rwx {
                "ReadWriteMany"
            } else {
                "ReadWriteOnce"
            }
            .to_owned(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct ServiceCtx {
    pub(super) meta: Meta,
    pub(super) headless: bool,
    /// `ClusterIP`, or `LoadBalancer` / `NodePort` for published ports.
    pub(super) kind: &'static str,
    pub(super) selector: Vec<Kv>,
    pub(super) ports: Vec<ServicePort>,
}

#[derive(Serialize, Clone)]
pub(super) struct ServicePort {
    pub(super) name: String,
    pub(super) port: u16,
    pub(super) protocol: &'static str,
    pub(super) node_port: Option<u16>,
}

#[derive(Serialize)]
pub(super) struct PvcCtx {
    pub(super) meta: Meta,
    pub(super) claim: Claim,
}

#[derive(Serialize)]
pub(super) struct PdbCtx {
    pub(super) meta: Meta,
    pub(super) min_available: u32,
    pub(super) max_unavailable: Option<u32>,
    pub(super) selector: Vec<Kv>,
}

#[derive(Serialize)]
pub(super) struct IngressCtx {
    pub(super) meta: Meta,
    pub(super) annotations: Vec<Kv>,
    pub(super) class: String,
    pub(super) host: String,
    pub(super) tls_secret: Option<String>,
    pub(super) service: String,
    pub(super) port: serde_json::Value,
}

#[derive(Serialize)]
pub(super) struct SaCtx {
    pub(super) meta: Meta,
}

#[derive(Serialize)]
pub(super) struct NetPolCtx {
    pub(super) meta: Meta,
    /// Pod selector; empty: every pod of the namespace (the default deny).
    pub(super) selector: Vec<Kv>,
    pub(super) rules: Vec<NetRule>,
}

/// One ingress rule: from these components (none: from anywhere) to these ports.
#[derive(Serialize)]
pub(super) struct NetRule {
    pub(super) comment: String,
    pub(super) from: Vec<Vec<Kv>>,
    pub(super) ports: Vec<ServicePort>,
}

#[derive(Serialize)]
pub(super) struct NamespaceCtx {
    pub(super) spec_name: String,
    pub(super) name: String,
    pub(super) labels: Vec<Kv>,
}

#[derive(Serialize)]
pub(super) struct KustomizationCtx {
    pub(super) spec_name: String,
    pub(super) namespace: String,
    pub(super) labels: Vec<Kv>,
    pub(super) resources: Vec<String>,
    pub(super) config_maps: Vec<Generator>,
}

#[derive(Serialize)]
pub(super) struct SecretsKustomizationCtx {
    pub(super) spec_name: String,
    pub(super) namespace: String,
    pub(super) secrets: Vec<Generator>,
}

/// One secretGenerator or configMapGenerator entry.
#[derive(Serialize)]
pub(super) struct Generator {
    pub(super) name: String,
    pub(super) kind: Option<&'static str>,
    /// `key=path` entries.
    pub(super) files: Vec<String>,
    pub(super) envs: Vec<String>,
}
