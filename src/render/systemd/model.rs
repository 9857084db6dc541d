//! The typed unit model: one struct per section of a unit file. `systemd/unit.j2` lays it out;
//! values are unit text already, escaped where the model is filled (see
//! [`crate::render::unitfile`]).

use serde::Serialize;

/// `[Unit]`.
#[derive(Serialize, Default)]
pub(super) struct UnitSection {
    pub(super) description: String,
    pub(super) wants: Vec<String>,
    pub(super) requires: Vec<String>,
    pub(super) after: Vec<String>,
    pub(super) part_of: Vec<String>,
}

/// Quadlet's `[Container]`. Values are unit text already (escaped where they were filled).
#[derive(Serialize, Default)]
pub(super) struct ContainerSection {
    pub(super) container_name: String,
    pub(super) image: String,
    pub(super) pull: Option<String>,
    pub(super) entrypoint: Option<String>,
    pub(super) exec: Option<String>,
    pub(super) user: Option<String>,
    pub(super) group: Option<String>,
    pub(super) working_dir: Option<String>,
    pub(super) environment: Vec<String>,
    pub(super) environment_file: Vec<String>,
    pub(super) network: Vec<String>,
    pub(super) network_alias: Vec<String>,
    pub(super) publish_port: Vec<String>,
    pub(super) volume: Vec<String>,
    pub(super) tmpfs: Vec<String>,
    pub(super) health_cmd: Option<String>,
    pub(super) health_interval: Option<String>,
    pub(super) health_timeout: Option<String>,
    pub(super) health_retries: Option<u32>,
    pub(super) health_start_period: Option<String>,
    pub(super) no_new_privileges: bool,
    pub(super) seccomp_profile: Option<String>,
    pub(super) drop_capability: Vec<String>,
    pub(super) add_capability: Vec<String>,
    pub(super) read_only: bool,
    pub(super) read_only_tmpfs: Option<String>,
    pub(super) user_ns: Option<String>,
    pub(super) notify: Option<String>,
    pub(super) memory: Option<String>,
    pub(super) label: Vec<String>,
    /// Words, each escaped; joined by spaces.
    pub(super) podman_args: Vec<String>,
}

/// Quadlet's `[Volume]`.
#[derive(Serialize, Default)]
pub(super) struct VolumeSection {
    pub(super) volume_name: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) device: Option<String>,
    pub(super) options: Option<String>,
    pub(super) label: Vec<String>,
    pub(super) podman_args: Vec<String>,
}

/// Quadlet's `[Network]`.
#[derive(Serialize, Default)]
pub(super) struct NetworkSection {
    pub(super) network_name: Option<String>,
    pub(super) label: Vec<String>,
}

/// `[Service]`.
#[derive(Serialize, Default)]
pub(super) struct ServiceSection {
    #[serde(rename = "type")]
    pub(super) kind: Option<&'static str>,
    pub(super) notify_access: Option<&'static str>,
    pub(super) remain_after_exit: bool,
    pub(super) environment: Vec<String>,
    pub(super) exec_start_pre: Vec<String>,
    pub(super) exec_start: Option<String>,
    pub(super) exec_start_post: Vec<String>,
    pub(super) exec_stop: Vec<String>,
    pub(super) exec_stop_post: Vec<String>,
    pub(super) restart: Option<&'static str>,
    pub(super) restart_sec: Option<String>,
    pub(super) timeout_start_sec: Option<String>,
    pub(super) timeout_stop_sec: Option<String>,
    /// Sandboxing of helper units that run no container: `Key=value` lines.
    pub(super) sandbox: Vec<String>,
}

/// `[Install]`.
#[derive(Serialize, Default)]
pub(super) struct InstallSection {
    pub(super) wanted_by: Vec<String>,
}

/// One unit file.
#[derive(Serialize, Default)]
pub(super) struct UnitFile {
    pub(super) stack: String,
    pub(super) note: Option<String>,
    pub(super) unit: UnitSection,
    pub(super) container: Option<ContainerSection>,
    pub(super) volume: Option<VolumeSection>,
    pub(super) network: Option<NetworkSection>,
    pub(super) service: Option<ServiceSection>,
    pub(super) install: Option<InstallSection>,
}
