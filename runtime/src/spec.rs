//! The OCI runtime configuration (`config.json`), as typed Rust.
//!
//! The types follow `config.md` and `config-linux.md` of the runtime spec.
//! Unknown properties are ignored (the spec says runtimes MUST NOT fail on
//! them); a property that is known but has the wrong type or value is an
//! error that names the JSON path of the field, thanks to
//! `serde_path_to_error`.
//!
//! `linux.resources` is typed in full here so that malformed values are
//! refused at load time; applying them is the cgroups module's job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// The oldest and newest `ociVersion` this runtime accepts.
pub const OCI_VERSION_MIN: &str = "1.0.0";
pub const OCI_VERSION_MAX: &str = "1.3.0";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub oci_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
    /// Other platforms' sections are parsed only so that a config written for
    /// them is recognised and refused with a clear message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freebsd: Option<FreeBsd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solaris: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zos: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Root {
    pub path: PathBuf,
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub destination: PathBuf,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    pub terminal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
    #[serde(default)]
    pub user: User,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default)]
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    #[serde(default)]
    pub no_new_privileges: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_priority: Option<IoPriority>,
    #[serde(default, rename = "execCPUAffinity", skip_serializing_if = "Option::is_none")]
    pub exec_cpu_affinity: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ConsoleSize {
    pub height: u32,
    pub width: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Capabilities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounding: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inheritable: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permitted: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambient: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub typ: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IoPriority {
    pub class: String,
    #[serde(default)]
    pub priority: i32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prestart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_runtime: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hook {
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, deserialize_with = "positive_timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
}

fn positive_timeout<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u32>, D::Error> {
    let v: Option<u32> = Option::deserialize(d)?;
    if v == Some(0) {
        return Err(serde::de::Error::custom("timeout must be greater than zero"));
    }
    Ok(v)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub time_offsets: BTreeMap<String, TimeOffset>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<crate::seccomp::Seccomp>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<Personality>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub net_devices: BTreeMap<String, NetDevice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_policy: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub typ: NamespaceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceType {
    Pid,
    Network,
    Mount,
    Ipc,
    Uts,
    User,
    Cgroup,
    Time,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct TimeOffset {
    #[serde(default)]
    pub secs: i64,
    #[serde(default)]
    pub nanosecs: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    #[serde(rename = "type")]
    pub typ: String,
    pub path: PathBuf,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Personality {
    pub domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetDevice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `linux.resources`: typed so that malformed values fail at load time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    #[serde(default, rename = "blockIO", skip_serializing_if = "Option::is_none")]
    pub block_io: Option<BlockIo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hugepage_limits: Vec<HugepageLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rdma: BTreeMap<String, Rdma>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unified: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeviceRule {
    pub allow: bool,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<i64>,
    #[serde(default, rename = "kernelTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_tcp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
    #[serde(default, rename = "disableOOMKiller", skip_serializing_if = "Option::is_none")]
    pub disable_oom_killer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_hierarchy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_before_update: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_runtime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pids {
    pub limit: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockIo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_read_bps_device: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_write_bps_device: Vec<ThrottleDevice>,
    #[serde(default, rename = "throttleReadIOPSDevice", skip_serializing_if = "Vec::is_empty")]
    pub throttle_read_iops_device: Vec<ThrottleDevice>,
    #[serde(default, rename = "throttleWriteIOPSDevice", skip_serializing_if = "Vec::is_empty")]
    pub throttle_write_iops_device: Vec<ThrottleDevice>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightDevice {
    pub major: i64,
    pub minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThrottleDevice {
    pub major: i64,
    pub minor: i64,
    pub rate: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HugepageLimit {
    #[serde(deserialize_with = "hugepage_size")]
    pub page_size: String,
    pub limit: u64,
}

/// The schema's pattern for a huge page size: a number and a binary unit,
/// `2MB`, `1GB`, `64KB` (the kernel's hugetlb file names use these).
fn hugepage_size<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    let ok = !digits.is_empty()
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "B" | "KB" | "MB" | "GB" | "TB" | "PB");
    if !ok {
        return Err(serde::de::Error::custom(format!(
            "invalid huge page size {s:?}: expected a number and one of B, KB, MB, GB, TB, PB (for example \"2MB\")"
        )));
    }
    Ok(s)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    #[serde(default, rename = "classID", skip_serializing_if = "Option::is_none")]
    pub class_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<NetPriority>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetPriority {
    pub name: String,
    pub priority: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rdma {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hca_handles: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hca_objects: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FreeBsd {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jail: Option<FreeBsdJail>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FreeBsdJail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vnet: Option<FreeBsdNoDisable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<FreeBsdNoDisable>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, serde_json::Value>,
}

/// FreeBSD's `SharingModeNoDisable`: only these two values are valid.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreeBsdNoDisable {
    New,
    Inherit,
}

impl Spec {
    /// Parses a config from JSON text; `origin` names the file in errors.
    pub fn from_json(text: &[u8], origin: &Path) -> Result<Spec> {
        let de = &mut serde_json::Deserializer::from_slice(text);
        let spec: Spec = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            Error::Config { path: origin.to_path_buf(), field, msg: e.into_inner().to_string() }
        })?;
        Ok(spec)
    }

    /// Reads `config.json` from a bundle directory.
    pub fn load(bundle: &Path) -> Result<Spec> {
        let path = bundle.join("config.json");
        let text = std::fs::read(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Spec::from_json(&text, &path)
    }

    fn check_version(&self, origin: &Path) -> Result<()> {
        let bad = |msg: String| Error::Config { path: origin.to_path_buf(), field: "ociVersion".into(), msg };
        let parsed = parse_semver(&self.oci_version)
            .ok_or_else(|| bad(format!("{:?} is not a semantic version such as \"1.0.2\"", self.oci_version)))?;
        let min = parse_semver(OCI_VERSION_MIN).expect("constant");
        let max = parse_semver(OCI_VERSION_MAX).expect("constant");
        // Any 1.3.x patch release is accepted: patch releases do not change the format.
        if parsed < min || (parsed.0, parsed.1) > (max.0, max.1) {
            return Err(bad(format!(
                "version {} is not supported: this runtime accepts {OCI_VERSION_MIN} through 1.3.x",
                self.oci_version
            )));
        }
        Ok(())
    }

    /// Checks what the Linux runtime needs beyond the schema: a root, a
    /// process with args, Linux-only sections, and features that are known
    /// but not implemented yet (refused rather than silently ignored).
    pub fn validate_for_linux(&self, origin: &Path) -> Result<()> {
        self.check_version(origin)?;
        let bad = |field: &str, msg: String| Error::Config { path: origin.to_path_buf(), field: field.into(), msg };
        for (name, present) in [
            ("freebsd", self.freebsd.is_some()),
            ("solaris", self.solaris.is_some()),
            ("windows", self.windows.is_some()),
            ("vm", self.vm.is_some()),
            ("zos", self.zos.is_some()),
        ] {
            if present {
                return Err(bad(name, format!("the {name} section is for another platform; this runtime runs Linux containers")));
            }
        }
        let root = self.root.as_ref().ok_or_else(|| bad("root", "a Linux container needs root.path".into()))?;
        if root.path.as_os_str().is_empty() {
            return Err(bad("root.path", "must not be empty".into()));
        }
        if let Some(p) = &self.process {
            if p.args.is_empty() {
                return Err(bad("process.args", "must name at least the program to run".into()));
            }
            if !p.cwd.starts_with('/') {
                return Err(bad("process.cwd", format!("{:?} must be an absolute path", p.cwd)));
            }
            if p.command_line.is_some() {
                return Err(bad("process.commandLine", "is Windows-only".into()));
            }
            if p.scheduler.is_some() {
                return Err(bad("process.scheduler", "is not supported by berth-runtime yet".into()));
            }
            if p.exec_cpu_affinity.is_some() {
                return Err(bad("process.execCPUAffinity", "is not supported by berth-runtime yet".into()));
            }
            if p.apparmor_profile.as_deref().is_some_and(|s| !s.is_empty()) && !crate::security::apparmor_enabled() {
                return Err(bad(
                    "process.apparmorProfile",
                    "AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled)".into(),
                ));
            }
            if let Some(io) = &p.io_priority {
                if !matches!(io.class.as_str(), "IOPRIO_CLASS_RT" | "IOPRIO_CLASS_BE" | "IOPRIO_CLASS_IDLE") {
                    return Err(bad("process.ioPriority.class", format!("unknown class {:?}", io.class)));
                }
            }
            for (i, r) in p.rlimits.iter().enumerate() {
                if crate::rlimits::resource_by_name(&r.typ).is_none() {
                    return Err(bad(&format!("process.rlimits[{i}].type"), format!("unknown rlimit {:?}", r.typ)));
                }
                if r.soft > r.hard {
                    return Err(bad(&format!("process.rlimits[{i}]"), format!("soft limit {} is above hard limit {}", r.soft, r.hard)));
                }
            }
            if let Some(c) = &p.capabilities {
                crate::capabilities::validate(c).map_err(|msg| bad("process.capabilities", msg))?;
                crate::capabilities::check_attainable(c).map_err(|msg| bad("process.capabilities", msg))?;
            }
        }
        for (i, m) in self.mounts.iter().enumerate() {
            if !m.destination.is_absolute() {
                return Err(bad(&format!("mounts[{i}].destination"), format!("{} must be an absolute path", m.destination.display())));
            }
        }
        if let Some(linux) = &self.linux {
            let mut seen = std::collections::BTreeSet::new();
            for (i, ns) in linux.namespaces.iter().enumerate() {
                if !seen.insert(ns.typ) {
                    return Err(bad(&format!("linux.namespaces[{i}]"), format!("namespace {:?} is listed twice", ns.typ)));
                }
            }
            let has_userns = seen.contains(&NamespaceType::User);
            if (!linux.uid_mappings.is_empty() || !linux.gid_mappings.is_empty()) && !has_userns {
                return Err(bad("linux.uidMappings", "id mappings need a user namespace in linux.namespaces".into()));
            }
            if !linux.time_offsets.is_empty() && !seen.contains(&NamespaceType::Time) {
                return Err(bad("linux.timeOffsets", "time offsets need a time namespace in linux.namespaces".into()));
            }
            for k in linux.time_offsets.keys() {
                if k != "monotonic" && k != "boottime" {
                    return Err(bad("linux.timeOffsets", format!("unknown clock {k:?} (monotonic or boottime)")));
                }
            }
            if let Some(p) = &linux.rootfs_propagation {
                if crate::rootfs::mounts::propagation_flag(p).is_none() {
                    return Err(bad("linux.rootfsPropagation", format!("unknown propagation {p:?}")));
                }
            }
            if let Some(s) = &linux.seccomp {
                s.validate().map_err(|(f, m)| bad(&format!("linux.seccomp.{f}"), m))?;
            }
            if linux.intel_rdt.is_some() {
                return Err(bad("linux.intelRdt", "Intel RDT is not supported by berth-runtime".into()));
            }
            if !linux.net_devices.is_empty() {
                return Err(bad("linux.netDevices", "moving network devices is not supported by berth-runtime yet".into()));
            }
            if linux.memory_policy.is_some() {
                return Err(bad("linux.memoryPolicy", "is not supported by berth-runtime yet".into()));
            }
            if let Some(p) = &linux.personality {
                if p.domain != "LINUX" && p.domain != "LINUX32" {
                    return Err(bad("linux.personality.domain", format!("{:?}: expected LINUX or LINUX32", p.domain)));
                }
                if !p.flags.is_empty() {
                    return Err(bad("linux.personality.flags", "no personality flags are defined by the spec".into()));
                }
            }
            for (i, d) in linux.devices.iter().enumerate() {
                if !matches!(d.typ.as_str(), "c" | "b" | "u" | "p") {
                    return Err(bad(&format!("linux.devices[{i}].type"), format!("{:?}: expected c, b, u or p", d.typ)));
                }
                if !d.path.is_absolute() {
                    return Err(bad(&format!("linux.devices[{i}].path"), "must be absolute".into()));
                }
            }
        }
        Ok(())
    }

    pub fn namespace(&self, typ: NamespaceType) -> Option<&Namespace> {
        self.linux.as_ref()?.namespaces.iter().find(|n| n.typ == typ)
    }
}

/// `MAJOR.MINOR.PATCH` with an optional `-prerelease`, which sorts below the release.
fn parse_semver(s: &str) -> Option<(u64, u64, u64)> {
    let core = s.split(['-', '+']).next()?;
    let mut it = core.split('.');
    let v = (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    if it.next().is_some() {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Spec> {
        Spec::from_json(s.as_bytes(), Path::new("/b/config.json"))
    }

    #[test]
    fn versions_in_range_are_accepted() {
        for v in ["1.0.0", "1.0.2", "1.1.0", "1.2.1", "1.3.0", "1.3.7", "1.0.0-rc5+dev"] {
            parse(&format!(r#"{{"ociVersion":"{v}"}}"#)).unwrap().check_version(Path::new("c")).unwrap();
        }
    }

    #[test]
    fn versions_out_of_range_are_refused() {
        for v in ["0.9.0", "1.4.0", "2.0.0", "abc", "1.0"] {
            let e = parse(&format!(r#"{{"ociVersion":"{v}","root":{{"path":"r"}}}}"#)).unwrap().validate_for_linux(Path::new("/b/config.json")).unwrap_err().to_string();
            assert!(e.contains("ociVersion"), "{e}");
            assert!(e.contains("/b/config.json"), "{e}");
        }
    }

    #[test]
    fn error_names_the_field_path() {
        let e = parse(r#"{"ociVersion":"1.0.0","process":{"user":{"uid":"root"},"cwd":"/"}}"#).unwrap_err().to_string();
        assert!(e.contains("process.user.uid"), "{e}");
    }

    #[test]
    fn unknown_properties_are_ignored() {
        parse(r#"{"ociVersion":"1.0.0","root":{"path":"r"},"someday":{"x":1}}"#).unwrap();
    }

    #[test]
    fn hugepage_sizes() {
        parse(r#"{"ociVersion":"1.0.0","linux":{"resources":{"hugepageLimits":[{"pageSize":"2MB","limit":1}]}}}"#).unwrap();
        let e = parse(r#"{"ociVersion":"1.0.0","linux":{"resources":{"hugepageLimits":[{"pageSize":"64kB","limit":1}]}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hugepageLimits[0].pageSize"), "{e}");
    }

    #[test]
    fn linux_validation_refuses_missing_args() {
        let s = parse(r#"{"ociVersion":"1.0.0","root":{"path":"r"},"process":{"cwd":"/","args":[]}}"#).unwrap();
        let e = s.validate_for_linux(Path::new("/b/config.json")).unwrap_err().to_string();
        assert!(e.contains("process.args"), "{e}");
    }

    #[test]
    fn linux_validation_refuses_duplicate_namespaces() {
        let s = parse(r#"{"ociVersion":"1.0.0","root":{"path":"r"},"linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}}"#).unwrap();
        assert!(s.validate_for_linux(Path::new("c")).is_err());
    }

    #[test]
    fn unknown_namespace_type_is_refused() {
        let e = parse(r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"bogus"}]}}"#).unwrap_err().to_string();
        assert!(e.contains("linux.namespaces[0].type"), "{e}");
    }
}
