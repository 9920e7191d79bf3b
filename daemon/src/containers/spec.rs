//! The OCI config.json of a container: the image's config and the create
//! options merged as docker merges them, with docker's security defaults
//! (capabilities, masked and read-only paths, seccomp, device rules).

use std::path::Path;

use serde_json::{json, Value};

use super::hostconfig::{self, HostDevice};
use crate::error::{Error, Result};

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a container runs, once the image config and the create options are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(a) => Some(a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Docker's rules: an Entrypoint given at create replaces the image's and
/// drops the image's Cmd; a Cmd given replaces the image's Cmd. Env merges by
/// name, the create's winning. WorkingDir and User: the create's if set.
pub fn merge(image: &Value, create: &Value) -> Result<Process> {
    let (ep, cmd) = match strings(create.get("Entrypoint")) {
        Some(ep) => {
            let ep = if ep.len() == 1 && ep[0].is_empty() { vec![] } else { ep };
            (ep, strings(create.get("Cmd")).unwrap_or_default())
        }
        None => {
            let cmd = strings(create.get("Cmd")).filter(|c| !c.is_empty()).or_else(|| strings(image.get("Cmd"))).unwrap_or_default();
            (strings(image.get("Entrypoint")).unwrap_or_default(), cmd)
        }
    };
    let args: Vec<String> = ep.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(Error::BadParameter("no command specified".into()));
    }
    let mut env: Vec<String> = strings(image.get("Env")).unwrap_or_default();
    for e in strings(create.get("Env")).unwrap_or_default() {
        match env.iter_mut().find(|x| key(x) == key(&e)) {
            Some(x) => *x = e,
            None => env.push(e),
        }
    }
    let pick = |k: &str| create.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).or_else(|| image.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())).map(str::to_string);
    let cwd = pick("WorkingDir").unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::BadParameter(format!("the working directory '{cwd}' is invalid, it needs to be an absolute path")));
    }
    Ok(Process { args, env, cwd, user: pick("User").unwrap_or_default() })
}

/// A user resolved against the container's own /etc/passwd and /etc/group (no NSS).
#[derive(Debug, PartialEq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// Resolves docker's `user`, `uid`, `user:group`, `uid:gid` forms.
pub fn resolve_user(spec: &str, passwd: &str, group: &str) -> Result<User> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let pw: Vec<Vec<&str>> = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 7).collect();
    let gr: Vec<Vec<&str>> = group.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 4).collect();
    let entry = pw.iter().find(|f| f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u));
    let (uid, mut gid, home, name) = match (u.parse::<u32>(), entry) {
        (_, Some(f)) => (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0), f[5].to_string(), f[0].to_string()),
        (Ok(n), None) => (n, 0, "/".to_string(), String::new()),
        (Err(_), None) => return Err(Error::BadParameter(format!("unable to find user {u}: no matching entries in passwd file"))),
    };
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        gid = match (g.parse::<u32>(), gr.iter().find(|f| f[0] == g)) {
            (_, Some(f)) => f[2].parse().unwrap_or(0),
            (Ok(n), None) => n,
            (Err(_), None) => return Err(Error::BadParameter(format!("unable to find group {g}: no matching entries in group file"))),
        };
    }
    let mut additional_gids = Vec::new();
    if !name.is_empty() && g.is_none() {
        for f in &gr {
            if f[3].split(',').any(|m| m == name) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if n != gid && !additional_gids.contains(&n) {
                        additional_gids.push(n);
                    }
                }
            }
        }
    }
    Ok(User { uid, gid, additional_gids, home })
}

/// Reads `etc/<name>` of a mounted rootfs, refusing to follow a symlink out of it.
pub fn read_etc(rootfs: &Path, name: &str) -> String {
    let etc = rootfs.join("etc");
    let p = etc.join(name);
    let is_link = |p: &Path| std::fs::symlink_metadata(p).map(|m| m.file_type().is_symlink()).unwrap_or(false);
    if is_link(&etc) || is_link(&p) {
        return String::new();
    }
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The create options berthd implements, as they reach config.json.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub hostname: String,
    pub tty: bool,
    pub stdin: bool,
    pub host_network: bool,
    pub memory: i64,
    pub memory_swap: i64,
    pub pids_limit: i64,
    /// The network namespace berthd made for a bridged container, joined by path.
    pub netns: Option<String>,
    /// The stored HostConfig: security and resource options as
    /// `hostconfig::normalize` left them.
    pub host: Value,
    /// Binds and volumes, parents first.
    pub mounts: Vec<super::binds::MountPoint>,
    /// `<data-root>/volumes`: a volume's data is `<name>/_data` beneath.
    pub volume_root: std::path::PathBuf,
    /// `--init`: this init runs as pid 1, the command as its child.
    pub init: Option<std::path::PathBuf>,
}

/// Docker's default device rules: deny all, then the usual character devices.
fn device_rules() -> Value {
    let c = |major: i64, minor: Option<i64>| json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm"});
    json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "access": "m"},
        {"allow": true, "type": "b", "access": "m"},
        c(1, Some(3)), c(1, Some(5)), c(1, Some(7)), c(1, Some(8)), c(1, Some(9)),
        c(5, Some(0)), c(5, Some(1)), c(5, Some(2)), c(136, None), c(10, Some(200)),
    ])
}

/// Device nodes a privileged container gets: every one under the host's
/// /dev but the container's own pts, shm and mqueue, and the console.
fn privileged_devices() -> Vec<HostDevice> {
    fn walk(dir: &Path, out: &mut Vec<HostDevice>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !["pts", "shm", "mqueue", "fd", ".udev", ".lxc", ".lxd-mounts"].iter().any(|n| e.file_name() == *n) {
                    walk(&p, out);
                }
            } else if !ft.is_symlink() && p != Path::new("/dev/console") {
                if let Ok(mut d) = hostconfig::host_devices(&p) {
                    out.append(&mut d);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn device_json(d: &HostDevice, in_ctr: &Path) -> Value {
    json!({"path": in_ctr, "type": d.kind.to_string(), "major": d.major, "minor": d.minor, "fileMode": d.mode, "uid": d.uid, "gid": d.gid})
}

/// linux.devices and the cgroup rules that let them be used.
fn devices(o: &Options) -> Result<(Vec<Value>, Value)> {
    if o.host["Privileged"] == true {
        let devs = privileged_devices().iter().map(|d| device_json(d, &d.path)).collect();
        return Ok((devs, json!([{"allow": true, "access": "rwm"}])));
    }
    let mut rules = device_rules();
    let mut devs = Vec::new();
    for d in o.host["Devices"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let host = Path::new(d["PathOnHost"].as_str().unwrap_or_default());
        let ctr = Path::new(d["PathInContainer"].as_str().unwrap_or_default());
        let perms = d["CgroupPermissions"].as_str().unwrap_or("rwm");
        for n in hostconfig::host_devices(host)? {
            // A directory's nodes keep their place beneath the container path.
            let dest = match n.path.strip_prefix(host) {
                Ok(rel) if !rel.as_os_str().is_empty() => ctr.join(rel),
                _ => ctr.to_path_buf(),
            };
            devs.push(device_json(&n, &dest));
            if let Some(r) = rules.as_array_mut() {
                r.push(json!({"allow": true, "type": n.kind.to_string(), "major": n.major, "minor": n.minor, "access": perms}));
            }
        }
    }
    Ok((devs, rules))
}

/// linux.resources beyond devices: memory, pids, cpu, blockIO.
fn resources(o: &Options, device_rules: Value) -> Value {
    let h = &o.host;
    let mut r = json!({"devices": device_rules});
    let int = |k: &str| h[k].as_i64().unwrap_or(0);
    if o.memory > 0 {
        // docker: MemorySwap 0 means twice the memory, -1 unlimited.
        let swap = match o.memory_swap {
            0 => o.memory * 2,
            s => s,
        };
        r["memory"] = json!({"limit": o.memory, "swap": swap});
    }
    if int("MemoryReservation") > 0 {
        r["memory"]["reservation"] = json!(int("MemoryReservation"));
    }
    if o.pids_limit > 0 {
        r["pids"] = json!({"limit": o.pids_limit});
    }
    let mut cpu = serde_json::Map::new();
    if int("CpuShares") > 0 {
        cpu.insert("shares".into(), json!(int("CpuShares")));
    }
    if int("NanoCpus") > 0 {
        // docker: a 100 ms period and the quota that many CPUs' worth of it.
        let period = 100_000i64;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(int("NanoCpus") * period / 1_000_000_000));
    }
    if int("CpuPeriod") > 0 {
        cpu.insert("period".into(), json!(int("CpuPeriod")));
    }
    if int("CpuQuota") != 0 {
        cpu.insert("quota".into(), json!(int("CpuQuota")));
    }
    for (k, oci) in [("CpusetCpus", "cpus"), ("CpusetMems", "mems")] {
        if let Some(v) = h[k].as_str().filter(|v| !v.is_empty()) {
            cpu.insert(oci.into(), json!(v));
        }
    }
    if !cpu.is_empty() {
        r["cpu"] = Value::Object(cpu);
    }
    if int("BlkioWeight") > 0 {
        r["blockIO"] = json!({"weight": int("BlkioWeight")});
    }
    r
}

/// The whole config.json. `dir` is the container directory (rootfs,
/// hostname, hosts, resolv.conf inside).
pub fn config(id: &str, dir: &Path, p: &Process, u: &User, o: &Options) -> Result<Value> {
    let h = &o.host;
    let privileged = h["Privileged"] == true;
    let strs = |k: &str| -> Vec<String> { h[k].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default() };
    let caps = hostconfig::effective_caps(privileged, &strs("CapAdd"), &strs("CapDrop"));
    let sec = hostconfig::security_opts(&h["SecurityOpt"])?;
    let mut env = p.env.clone();
    let mut add = |k: &str, v: &str| {
        if !env.iter().any(|e| key(e) == k) {
            env.push(format!("{k}={v}"));
        }
    };
    add("PATH", DEFAULT_PATH.trim_start_matches("PATH="));
    add("HOSTNAME", &o.hostname);
    if o.tty {
        add("TERM", "xterm");
    }
    add("HOME", if u.home.is_empty() { "/" } else { &u.home });
    let bind = |dest: &str, file: &str| json!({"destination": dest, "type": "bind", "source": dir.join(file), "options": ["rbind", "rprivate"]});
    // A privileged container may write /sys and its cgroups, as docker's.
    let sys_opts = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["nosuid", "noexec", "nodev"].iter().chain(extra).map(|s| s.to_string()).collect();
        v.push(if privileged { "rw" } else { "ro" }.into());
        v
    };
    let shm = h["ShmSize"].as_i64().filter(|s| *s > 0).unwrap_or(64 << 20);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts(&[])}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": sys_opts(&["relatime"])}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}k", (shm + 1023) / 1024)]}),
        bind("/etc/resolv.conf", "resolv.conf"),
        bind("/etc/hostname", "hostname"),
        bind("/etc/hosts", "hosts"),
    ];
    if let Some(t) = h["Tmpfs"].as_object() {
        for (dest, opts) in t {
            // docker's defaults, which the options given may override.
            let mut o: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
            for x in opts.as_str().unwrap_or_default().split(',').filter(|x| !x.is_empty()) {
                let flip = match x {
                    "exec" => Some("noexec"),
                    "suid" => Some("nosuid"),
                    "dev" => Some("nodev"),
                    _ => None,
                };
                if let Some(f) = flip {
                    o.retain(|y| y != f);
                }
                o.push(x.to_string());
            }
            mounts.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": o}));
        }
    }
    for m in &o.mounts {
        let source = if m.typ == "volume" { o.volume_root.join(&m.name).join("_data") } else { std::path::PathBuf::from(&m.source) };
        let mut opts = vec!["rbind".to_string(), if m.propagation.is_empty() { "rprivate".to_string() } else { m.propagation.clone() }];
        if !m.rw {
            opts.push("ro".into());
        }
        mounts.push(json!({"destination": m.destination, "type": "bind", "source": source, "options": opts}));
    }
    let mut namespaces = vec![json!({"type": "mount"}), json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "cgroup"})];
    if let Some(p) = &o.netns {
        namespaces.push(json!({"type": "network", "path": p}));
    } else if !o.host_network {
        namespaces.push(json!({"type": "network"}));
    }
    let (devs, rules) = devices(o)?;
    let rlimits: Vec<Value> = h["Ulimits"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|u| json!({"type": format!("RLIMIT_{}", u["Name"].as_str().unwrap_or_default().to_ascii_uppercase()), "soft": u["Soft"], "hard": u["Hard"]}))
        .collect();
    // --init: on the /dev tmpfs, so neither the image nor a read-only rootfs changes.
    let args: Vec<String> = match &o.init {
        Some(init) => {
            mounts.push(json!({"destination": "/dev/init", "type": "bind", "source": init, "options": ["bind", "ro", "nosuid", "nodev"]}));
            ["/dev/init".to_string(), "--".to_string()].into_iter().chain(p.args.iter().cloned()).collect()
        }
        None => p.args.clone(),
    };
    let mut process = json!({
        "terminal": o.tty,
        "user": {"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids},
        "args": args,
        "env": env,
        "cwd": p.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": sec.no_new_privileges,
    });
    if !rlimits.is_empty() {
        process["rlimits"] = Value::Array(rlimits);
    }
    if let Some(a) = sec.apparmor.filter(|a| a != "unconfined") {
        process["apparmorProfile"] = json!(a);
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": format!("/berth/{id}"),
        "resources": resources(o, rules),
        "devices": devs,
        "sysctl": h["Sysctls"].as_object().cloned().unwrap_or_default(),
    });
    // A shared or slave bind needs a rootfs that propagates too, as docker sets it.
    let props: Vec<&str> = o.mounts.iter().map(|m| m.propagation.as_str()).collect();
    if props.iter().any(|p| p.ends_with("shared")) {
        linux["rootfsPropagation"] = json!("rshared");
    } else if props.iter().any(|p| p.ends_with("slave")) {
        linux["rootfsPropagation"] = json!("rslave");
    }
    if !privileged {
        linux["maskedPaths"] = json!(berth_runtime::security::MASKED_PATHS);
        linux["readonlyPaths"] = json!(berth_runtime::security::READONLY_PATHS);
        let seccomp = match sec.seccomp {
            None => serde_json::to_value(berth_runtime::seccomp::default_profile_for(&caps)).map_err(|e| Error::Internal(format!("seccomp profile: {e}")))?,
            Some(None) => Value::Null,
            Some(Some(prof)) => super::seccomp::convert(&prof, &caps)?,
        };
        if !seccomp.is_null() {
            linux["seccomp"] = seccomp;
        }
    }
    Ok(json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": dir.join("rootfs"), "readonly": h["ReadonlyRootfs"] == true},
        "hostname": o.hostname,
        "mounts": mounts,
        "linux": linux,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_like_docker() {
        let img = json!({"Entrypoint": ["/ep"], "Cmd": ["a"], "Env": ["PATH=/bin", "X=1"], "WorkingDir": "/app", "User": "app"});
        let p = merge(&img, &json!({})).unwrap();
        assert_eq!(p.args, ["/ep", "a"]);
        assert_eq!((p.cwd.as_str(), p.user.as_str()), ("/app", "app"));
        let p = merge(&img, &json!({"Cmd": ["b"], "Env": ["X=2", "Y=3"], "User": "0"})).unwrap();
        assert_eq!(p.args, ["/ep", "b"]);
        assert_eq!(p.env, ["PATH=/bin", "X=2", "Y=3"]);
        assert_eq!(p.user, "0");
        let p = merge(&img, &json!({"Entrypoint": ["sh"]})).unwrap();
        assert_eq!(p.args, ["sh"], "a new entrypoint drops the image's Cmd");
        assert!(merge(&img, &json!({"Entrypoint": [""]})).is_err());
        assert!(merge(&json!({}), &json!({"Cmd": ["x"], "WorkingDir": "rel"})).is_err());
    }

    #[test]
    fn users() {
        let pw = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
        let gr = "root:x:0:\nwheel:x:10:app,root\napp:x:1000:\n";
        assert_eq!(resolve_user("app", pw, gr).unwrap(), User { uid: 1000, gid: 1000, additional_gids: vec![10], home: "/home/app".into() });
        assert_eq!(resolve_user("", pw, gr).unwrap().home, "/root");
        assert_eq!(resolve_user("1000:wheel", pw, gr).unwrap(), User { uid: 1000, gid: 10, additional_gids: vec![], home: "/home/app".into() });
        assert_eq!(resolve_user("4242:7", pw, gr).unwrap(), User { uid: 4242, gid: 7, additional_gids: vec![], home: "/".into() });
        assert!(resolve_user("nobody", pw, gr).unwrap_err().to_string().contains("unable to find user nobody"));
        assert!(resolve_user("app:nogroup", pw, gr).is_err());
    }
}
