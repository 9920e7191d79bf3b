//! The security and resource options of a create (HostConfig), checked
//! when the container is created so that a bad one is a 400 at `create`
//! (as docker's) and not a failure at `start`. What is stored is docker's
//! own shape, normalized (`CAP_` prefixes, upper case), so `inspect` shows
//! what the client sent and `spec` can apply it without checking again.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

fn bad(m: impl Into<String>) -> Error {
    Error::BadParameter(m.into())
}

/// "All capabilities", as docker means it: every one in berthd's own
/// bounding set (a capability the daemon lacks cannot be given).
pub fn all_caps() -> Vec<String> {
    let set = caps::read(None, caps::CapSet::Bounding).unwrap_or_else(|_| caps::runtime::thread_all_supported());
    let mut v: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    v.sort();
    v
}

/// `net_admin`, `CAP_NET_ADMIN` and `ALL` as docker accepts them.
fn normalize_caps(v: Option<&Value>, what: &str) -> Result<Vec<String>> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(vec![]) };
    let list = v.as_array().ok_or_else(|| bad(format!("HostConfig.{what} must be a list of capability names")))?;
    let known: Vec<String> = caps::runtime::thread_all_supported().iter().map(|c| c.to_string()).collect();
    let mut out = Vec::new();
    for c in list {
        let s = c.as_str().ok_or_else(|| bad(format!("HostConfig.{what} must be a list of capability names")))?.to_ascii_uppercase();
        let s = if s == "ALL" || s.starts_with("CAP_") { s } else { format!("CAP_{s}") };
        if s != "ALL" && !known.contains(&s) {
            return Err(bad(format!("invalid {what}: unknown capability: {:?}", c.as_str().unwrap_or_default())));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Docker's rule: start from the default set (or all with `--cap-add ALL`,
/// none with `--cap-drop ALL`), drop, then add; an add wins over a drop.
pub fn effective_caps(privileged: bool, add: &[String], drop: &[String]) -> Vec<String> {
    let all = all_caps();
    if privileged {
        return all;
    }
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        all.clone()
    } else if drop.iter().any(|c| c == "ALL") {
        vec![]
    } else {
        berth_runtime::security::DOCKER_CAPS.iter().map(|c| c.to_string()).collect()
    };
    caps.retain(|c| !drop.contains(c) || add.contains(c));
    for c in add.iter().filter(|c| *c != "ALL") {
        if !caps.contains(c) {
            caps.push(c.clone());
        }
    }
    caps.sort();
    caps
}

/// What `--security-opt` asked for, parsed.
#[derive(Debug, Default, PartialEq)]
pub struct SecurityOpts {
    /// None: the default profile; Some(None): unconfined; Some(Some(p)): a profile of the client's.
    pub seccomp: Option<Option<Value>>,
    pub no_new_privileges: bool,
    pub apparmor: Option<String>,
}

/// Parses docker's SecurityOpt strings (the CLI has already replaced a
/// seccomp file name with the file's JSON, as docker's does).
pub fn security_opts(v: &Value) -> Result<SecurityOpts> {
    let mut o = SecurityOpts::default();
    let Some(list) = v.as_array() else {
        return if v.is_null() { Ok(o) } else { Err(bad("HostConfig.SecurityOpt must be a list of strings")) };
    };
    for s in list {
        let s = s.as_str().ok_or_else(|| bad("HostConfig.SecurityOpt must be a list of strings"))?;
        let (k, val) = match s.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (s, None),
        };
        match (k, val) {
            ("no-new-privileges", None) => o.no_new_privileges = true,
            ("no-new-privileges", Some(b)) => {
                o.no_new_privileges = b.parse::<bool>().map_err(|_| bad(format!("invalid --security-opt 2: {s:?}: no-new-privileges takes true or false")))?;
            }
            ("seccomp", Some("unconfined")) => o.seccomp = Some(None),
            ("seccomp", Some(p)) => {
                let prof: Value = serde_json::from_str(p).map_err(|e| bad(format!("Decoding seccomp profile failed: {e}")))?;
                o.seccomp = Some(Some(prof));
            }
            ("apparmor", Some(p)) => o.apparmor = Some(p.to_string()),
            // A no-op without SELinux, and what it asks for (no labels) holds.
            ("label", Some("disable")) if !berth_runtime::security::selinux_enabled() => {}
            ("label", _) => return Err(bad(format!("invalid --security-opt {s:?}: SELinux labels are not supported by berth"))),
            _ => return Err(bad(format!("invalid --security-opt: {s:?}"))),
        }
    }
    if let Some(p) = o.apparmor.as_deref() {
        if p != "unconfined" && !berth_runtime::security::apparmor_enabled() {
            return Err(bad(format!("--security-opt apparmor={p}: AppArmor is not enabled on this host")));
        }
    }
    Ok(o)
}

/// docker's namespaced sysctls: the IPC ones, mqueue, and net.* unless the
/// container shares the host's network namespace.
fn check_sysctl(k: &str, host_network: bool) -> Result<()> {
    const IPC: &[&str] = &["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    if IPC.contains(&k) || k.starts_with("fs.mqueue.") {
        return Ok(());
    }
    if k.starts_with("net.") {
        if host_network {
            return Err(bad(format!("sysctl {k:?} is not allowed in host network namespace")));
        }
        return Ok(());
    }
    Err(bad(format!("sysctl {k:?} is not allowed: only namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*) can be set")))
}

const RLIMITS: &[&str] = &["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];

fn ulimits(v: &Value) -> Result<Value> {
    let Some(list) = v.as_array() else { return Ok(json!([])) };
    let mut out = Vec::new();
    for u in list {
        let name = u["Name"].as_str().unwrap_or_default();
        if !RLIMITS.contains(&name) {
            return Err(bad(format!("invalid ulimit type: {name:?}")));
        }
        let (soft, hard) = (u["Soft"].as_i64().unwrap_or(-1), u["Hard"].as_i64().unwrap_or(-1));
        if soft < 0 || hard < 0 {
            return Err(bad(format!("invalid ulimit {name}: Soft and Hard must be given and not negative")));
        }
        if soft > hard {
            return Err(bad(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")));
        }
        out.push(json!({"Name": name, "Soft": soft, "Hard": hard}));
    }
    Ok(Value::Array(out))
}

fn devices(v: &Value) -> Result<Value> {
    let Some(list) = v.as_array() else { return Ok(json!([])) };
    let mut out = Vec::new();
    for d in list {
        let host = d["PathOnHost"].as_str().unwrap_or_default();
        let ctr = d["PathInContainer"].as_str().filter(|s| !s.is_empty()).unwrap_or(host);
        let perms = d["CgroupPermissions"].as_str().filter(|s| !s.is_empty()).unwrap_or("rwm");
        if !host.starts_with('/') || !ctr.starts_with('/') {
            return Err(bad(format!("invalid device {host}:{ctr}: the paths must be absolute")));
        }
        if perms.is_empty() || !perms.chars().all(|c| "rwm".contains(c)) {
            return Err(bad(format!("invalid device mode: {perms}")));
        }
        if host_devices(std::path::Path::new(host))?.is_empty() {
            return Err(bad(format!("error gathering device information while adding custom device {host:?}: not a device node")));
        }
        out.push(json!({"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": perms}));
    }
    Ok(Value::Array(out))
}

/// A device node on the host: (path, 'c' or 'b', major, minor, mode, uid, gid).
#[derive(Debug, Clone, PartialEq)]
pub struct HostDevice {
    pub path: std::path::PathBuf,
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The device node at `p`, or every one beneath it when it is a directory
/// (docker's `--device /dev/snd`). Symlinks are followed, as docker does.
pub fn host_devices(p: &std::path::Path) -> Result<Vec<HostDevice>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::metadata(p).map_err(|e| bad(format!("error gathering device information while adding custom device {:?}: {e}", p.display())))?;
    let ft = m.file_type();
    if ft.is_char_device() || ft.is_block_device() {
        let rdev = m.rdev();
        return Ok(vec![HostDevice {
            path: p.to_path_buf(),
            kind: if ft.is_char_device() { 'c' } else { 'b' },
            major: libc::major(rdev) as u64,
            minor: libc::minor(rdev) as u64,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        }]);
    }
    let mut out = Vec::new();
    if ft.is_dir() {
        let rd = std::fs::read_dir(p).map_err(|e| Error::io("listing", p, e))?;
        let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            // pts and shm are the container's own; a dangling link is no device.
            if std::fs::symlink_metadata(&e).is_ok_and(|m| m.file_type().is_symlink()) && std::fs::metadata(&e).is_err() {
                continue;
            }
            if let Ok(mut v) = host_devices(&e) {
                out.append(&mut v);
            }
        }
    }
    Ok(out)
}

/// CPUs this host has online, as the numbers cpuset accepts.
fn online_cpus() -> Vec<u32> {
    parse_cpu_list(std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default().trim()).unwrap_or_default()
}

/// `0-2,4` → [0, 1, 2, 4]; None if malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether a blkio/io weight can be applied on this host's cgroups.
fn blkio_weight_supported() -> bool {
    let v1 = std::path::Path::new("/sys/fs/cgroup/blkio");
    if v1.is_dir() {
        return v1.join("blkio.weight").exists();
    }
    std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").is_ok_and(|c| c.split_whitespace().any(|x| x == "io"))
}

/// docker's RAMInBytes for `max-size`: `10m`, `1g`, `512k`, plain bytes.
fn size_bytes(s: &str) -> Option<u64> {
    let l = s.trim().to_ascii_lowercase();
    let l = l.strip_suffix('b').unwrap_or(&l);
    let (num, mult) = match l.chars().last()? {
        'k' => (&l[..l.len() - 1], 1u64 << 10),
        'm' => (&l[..l.len() - 1], 1 << 20),
        'g' => (&l[..l.len() - 1], 1 << 30),
        _ => (l, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v > 0.0).then_some((v * mult as f64) as u64)
}

/// The json-file log options: (max-size in bytes, max-file).
pub fn log_options(v: &Value) -> Result<(Option<u64>, u32)> {
    let t = v["Type"].as_str().unwrap_or("");
    if !matches!(t, "" | "json-file") {
        return Err(bad(format!("log driver {t:?} is not implemented: only json-file is")));
    }
    let cfg = v["Config"].as_object().cloned().unwrap_or_default();
    let mut size = None;
    let mut files = 1u32;
    for (k, x) in &cfg {
        let x = x.as_str().unwrap_or_default();
        match k.as_str() {
            "max-size" if x == "-1" => {}
            "max-size" => size = Some(size_bytes(x).ok_or_else(|| bad(format!("invalid max-size for the json-file log driver: {x:?}")))?),
            "max-file" => files = x.parse().ok().filter(|n| *n >= 1).ok_or_else(|| bad(format!("invalid max-file for the json-file log driver: {x:?}: it must be a number of 1 or more")))?,
            other => return Err(bad(format!("unknown log opt '{other}' for json-file log driver (berth implements max-size and max-file)"))),
        }
    }
    if files > 1 && size.is_none() {
        return Err(bad("max-file cannot be set without max-size for the json-file log driver"));
    }
    Ok((size, files))
}

/// Checks and normalizes the options of `host` this module owns, returning
/// them in docker's shape for the stored HostConfig.
pub fn normalize(host: &Map<String, Value>, host_network: bool) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let get = |k: &str| host.get(k).filter(|v| !v.is_null());
    let int = |k: &str| -> Result<i64> {
        match get(k) {
            None => Ok(0),
            Some(v) => v.as_i64().ok_or_else(|| bad(format!("HostConfig.{k} must be an integer"))),
        }
    };
    let boolean = |k: &str| -> Result<bool> {
        match get(k) {
            None => Ok(false),
            Some(v) => v.as_bool().ok_or_else(|| bad(format!("HostConfig.{k} must be a boolean"))),
        }
    };
    let log = get("LogConfig").cloned().unwrap_or(json!({}));
    log_options(&log)?;
    out.insert("LogConfig".into(), json!({"Type": "json-file", "Config": log["Config"].as_object().cloned().unwrap_or_default()}));
    let privileged = boolean("Privileged")?;
    out.insert("Privileged".into(), json!(privileged));
    out.insert("ReadonlyRootfs".into(), json!(boolean("ReadonlyRootfs")?));
    out.insert("CapAdd".into(), json!(normalize_caps(get("CapAdd"), "CapAdd")?));
    out.insert("CapDrop".into(), json!(normalize_caps(get("CapDrop"), "CapDrop")?));
    let sec = get("SecurityOpt").cloned().unwrap_or(json!([]));
    let parsed = security_opts(&sec)?;
    if let Some(Some(p)) = &parsed.seccomp {
        // The profile must convert now, not at start.
        crate::containers::seccomp::convert(p, &[])?;
    }
    out.insert("SecurityOpt".into(), sec);
    out.insert("Devices".into(), devices(get("Devices").unwrap_or(&Value::Null))?);
    out.insert("Ulimits".into(), ulimits(get("Ulimits").unwrap_or(&Value::Null))?);

    let mut sysctls = Map::new();
    if let Some(s) = get("Sysctls") {
        let m = s.as_object().ok_or_else(|| bad("HostConfig.Sysctls must be an object of strings"))?;
        for (k, v) in m {
            check_sysctl(k, host_network)?;
            let v = v.as_str().ok_or_else(|| bad(format!("HostConfig.Sysctls.{k} must be a string")))?;
            sysctls.insert(k.clone(), json!(v));
        }
    }
    out.insert("Sysctls".into(), Value::Object(sysctls));

    let mut tmpfs = Map::new();
    if let Some(t) = get("Tmpfs") {
        let m = t.as_object().ok_or_else(|| bad("HostConfig.Tmpfs must be an object of mount options"))?;
        for (dest, opts) in m {
            if !dest.starts_with('/') || dest == "/" || dest.split('/').any(|c| c == "..") {
                return Err(bad(format!("invalid mount config for type \"tmpfs\": invalid mount path: '{dest}' mount path must be absolute and not /")));
            }
            let opts = opts.as_str().ok_or_else(|| bad(format!("HostConfig.Tmpfs.{dest} must be a string")))?;
            tmpfs.insert(dest.clone(), json!(opts));
        }
    }
    out.insert("Tmpfs".into(), Value::Object(tmpfs));

    let shm = int("ShmSize")?;
    if shm < 0 {
        return Err(bad("SHM size can not be less than 0"));
    }
    out.insert("ShmSize".into(), json!(if shm == 0 { 64 << 20 } else { shm }));

    let shares = int("CpuShares")?;
    if shares < 0 {
        return Err(bad("invalid CPU shares: must not be negative"));
    }
    out.insert("CpuShares".into(), json!(shares));
    let (nano, period, quota) = (int("NanoCpus")?, int("CpuPeriod")?, int("CpuQuota")?);
    let ncpu = online_cpus().len().max(1) as i64;
    if nano != 0 && (period != 0 || quota != 0) {
        return Err(bad("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set"));
    }
    if nano < 0 || nano > ncpu * 1_000_000_000 {
        return Err(bad(format!("Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"));
    }
    if quota != 0 && quota < 1000 {
        return Err(bad("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    out.insert("NanoCpus".into(), json!(nano));
    out.insert("CpuPeriod".into(), json!(period));
    out.insert("CpuQuota".into(), json!(quota));
    for k in ["CpusetCpus", "CpusetMems"] {
        let v = get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if !v.is_empty() {
            let list = parse_cpu_list(&v).ok_or_else(|| bad(format!("Invalid value {v} for {}.", if k == "CpusetCpus" { "cpuset cpus" } else { "cpuset mems" })))?;
            if k == "CpusetCpus" {
                let online = online_cpus();
                if let Some(c) = list.iter().find(|c| !online.contains(c)) {
                    return Err(bad(format!("Requested CPUs are not available - requested {v}, available: {} (cpu {c} is not online)", std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default().trim())));
                }
            }
        }
        out.insert(k.into(), json!(v));
    }
    let bw = int("BlkioWeight")?;
    if bw != 0 {
        if !(10..=1000).contains(&bw) {
            return Err(bad("Range of blkio weight is from 10 to 1000"));
        }
        if !blkio_weight_supported() {
            return Err(bad("--blkio-weight: this host's block I/O cgroup has no weight (no blkio.weight on cgroup v1, no io controller on v2)"));
        }
    }
    out.insert("BlkioWeight".into(), json!(bw));
    let res = int("MemoryReservation")?;
    if res < 0 {
        return Err(bad("invalid MemoryReservation: must not be negative"));
    }
    out.insert("MemoryReservation".into(), json!(res));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_like_docker() {
        let base = effective_caps(false, &[], &[]);
        assert_eq!(base.len(), berth_runtime::security::DOCKER_CAPS.len());
        let c = effective_caps(false, &["CAP_NET_ADMIN".into()], &["CAP_CHOWN".into()]);
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()) && !c.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(effective_caps(false, &["CAP_KILL".into()], &["ALL".into()]), ["CAP_KILL"]);
        assert_eq!(effective_caps(false, &["ALL".into()], &[]), all_caps());
        assert!(!effective_caps(false, &["ALL".into()], &["CAP_SYS_ADMIN".into()]).contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(normalize_caps(Some(&json!(["net_admin", "CAP_KILL", "all"])), "CapAdd").unwrap(), ["CAP_NET_ADMIN", "CAP_KILL", "ALL"]);
        assert!(normalize_caps(Some(&json!(["bogus"])), "CapAdd").unwrap_err().to_string().contains("unknown capability"));
    }

    #[test]
    fn security_options() {
        let o = security_opts(&json!(["no-new-privileges", "seccomp=unconfined"])).unwrap();
        assert_eq!((o.no_new_privileges, o.seccomp), (true, Some(None)));
        assert!(!security_opts(&json!(["no-new-privileges:false"])).unwrap().no_new_privileges);
        assert!(security_opts(&json!(["seccomp={bad"])).unwrap_err().to_string().contains("seccomp profile"));
        assert!(security_opts(&json!(["bogus=1"])).is_err());
        assert!(security_opts(&json!(["apparmor=unconfined"])).is_ok());
    }

    #[test]
    fn sysctls_ulimits_cpus() {
        assert!(check_sysctl("net.ipv4.ip_forward", false).is_ok());
        assert!(check_sysctl("net.ipv4.ip_forward", true).is_err());
        assert!(check_sysctl("kernel.shmmax", false).is_ok());
        assert!(check_sysctl("kernel.hostname", false).is_err());
        assert!(check_sysctl("vm.swappiness", false).unwrap_err().to_string().contains("not allowed"));
        assert!(ulimits(&json!([{"Name": "nofile", "Soft": 10, "Hard": 5}])).is_err());
        assert!(ulimits(&json!([{"Name": "bogus", "Soft": 1, "Hard": 1}])).is_err());
        assert_eq!(parse_cpu_list("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert_eq!(parse_cpu_list("2-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(log_options(&json!({"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3"}})).unwrap(), (Some(1024), 3));
        assert!(log_options(&json!({"Config": {"max-file": "3"}})).is_err());
        assert!(log_options(&json!({"Type": "syslog"})).is_err());
        assert!(log_options(&json!({"Config": {"compress": "true"}})).is_err());
    }

    #[test]
    fn host_device_nodes() {
        let d = host_devices(std::path::Path::new("/dev/null")).unwrap();
        assert_eq!((d[0].kind, d[0].major, d[0].minor), ('c', 1, 3));
        assert!(host_devices(std::path::Path::new("/etc/hostname")).unwrap().is_empty());
        assert!(host_devices(std::path::Path::new("/dev/nope-nope")).is_err());
    }
}
