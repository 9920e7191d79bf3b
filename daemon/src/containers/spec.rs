//! The OCI config.json of a container: the image's config and the create
//! options merged as docker merges them, with docker's security defaults
//! (capabilities, masked and read-only paths, seccomp, device rules).

use std::path::Path;

use serde_json::{json, Value};

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

/// The whole config.json. `dir` is the container directory (rootfs,
/// hostname, hosts, resolv.conf inside).
pub fn config(id: &str, dir: &Path, p: &Process, u: &User, o: &Options) -> Result<Value> {
    let caps: Vec<&str> = berth_runtime::security::DOCKER_CAPS.to_vec();
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
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        bind("/etc/resolv.conf", "resolv.conf"),
        bind("/etc/hostname", "hostname"),
        bind("/etc/hosts", "hosts"),
    ]);
    let mut namespaces = vec![json!({"type": "mount"}), json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "cgroup"})];
    if let Some(p) = &o.netns {
        namespaces.push(json!({"type": "network", "path": p}));
    } else if !o.host_network {
        namespaces.push(json!({"type": "network"}));
    }
    let mut resources = json!({"devices": device_rules()});
    if o.memory > 0 {
        // docker: MemorySwap 0 means twice the memory, -1 unlimited.
        let swap = match o.memory_swap {
            0 => o.memory * 2,
            s => s,
        };
        resources["memory"] = json!({"limit": o.memory, "swap": swap});
    }
    if o.pids_limit > 0 {
        resources["pids"] = json!({"limit": o.pids_limit});
    }
    let seccomp = serde_json::to_value(berth_runtime::seccomp::default_profile()).map_err(|e| Error::Internal(format!("seccomp profile: {e}")))?;
    Ok(json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": o.tty,
            "user": {"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids},
            "args": p.args,
            "env": env,
            "cwd": p.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        },
        "root": {"path": dir.join("rootfs"), "readonly": false},
        "hostname": o.hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": format!("/berth/{id}"),
            "resources": resources,
            "maskedPaths": berth_runtime::security::MASKED_PATHS,
            "readonlyPaths": berth_runtime::security::READONLY_PATHS,
            "seccomp": seccomp,
        }
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
