//! Every field of `process` and the namespace/uts settings, checked from
//! inside the container by the probe.

use berth_integration_tests::*;
use serde_json::{json, Value};

#[test]
fn process_fields_take_effect() {
    let env = Env::new("proc");
    let mut b = env.bundle("a");
    b.config["process"]["env"] = json!(["PATH=/bin", "GREETING=hello world", "EQUALS=a=b"]);
    b.config["process"]["cwd"] = json!("/tmp");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 7], "umask": 0o027});
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]);
    b.config["process"]["oomScoreAdj"] = json!(300);
    b.config["domainname"] = json!("example.org");
    b.config["linux"]["sysctl"] = json!({"kernel.shm_rmid_forced": "1"});
    let r = env.report(&mut b, &env.id("a"));
    assert_eq!(r["uid"], 1000);
    assert_eq!(r["euid"], 1000);
    assert_eq!(r["gid"], 1000);
    let mut groups: Vec<u64> = r["groups"].as_array().unwrap().iter().map(|g| g.as_u64().unwrap()).collect();
    groups.sort();
    assert_eq!(groups, vec![5, 7]);
    assert_eq!(r["cwd"], "/tmp");
    assert_eq!(r["umask"], 0o027);
    let envs: Vec<&str> = r["env"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(envs.contains(&"GREETING=hello world") && envs.contains(&"EQUALS=a=b"), "{envs:?}");
    assert!(envs.contains(&"HOME=/home/user"), "HOME from the container's /etc/passwd: {envs:?}");
    assert_eq!(r["rlimits"]["NOFILE"], json!({"soft": 1000, "hard": 2000}));
    assert_eq!(r["rlimits"]["CORE"], json!({"soft": 0, "hard": 0}));
    assert_eq!(r["oom_score_adj"], 300);
    assert_eq!(r["hostname"], "berth-test");
    assert_eq!(r["domainname"], "example.org");
    assert_eq!(r["sysctl"]["kernel.shm_rmid_forced"], "1");
    assert_eq!(r["pid"], 1, "init is pid 1 of its own pid namespace");
    assert_eq!(r["no_new_privs"], true);
    // A non-root user with no ambient capabilities has none after exec.
    for set in ["effective", "permitted", "ambient"] {
        assert_eq!(r["caps"][set], json!([]), "{set}");
    }
    assert_eq!(r["caps"]["bounding"], json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]));
    // Only stdio is open: nothing of the runtime leaks in.
    assert_eq!(r["fds"], json!([0, 1, 2]));
    env.assert_gone(&env.id("a"));
}

#[test]
fn capability_sets_for_root() {
    let env = Env::new("caps");
    let mut b = env.bundle("a");
    let set = json!(["CAP_CHOWN", "CAP_NET_RAW", "CAP_SETPCAP"]);
    b.config["process"]["capabilities"] = json!({
        "bounding": set, "permitted": set, "effective": ["CAP_CHOWN"], "inheritable": ["CAP_NET_RAW"], "ambient": ["CAP_NET_RAW"]
    });
    b.config["process"]["noNewPrivileges"] = json!(false);
    let r = env.report(&mut b, &env.id("a"));
    assert_eq!(r["caps"]["bounding"], set);
    assert_eq!(r["caps"]["inheritable"], json!(["CAP_NET_RAW"]));
    assert_eq!(r["caps"]["ambient"], json!(["CAP_NET_RAW"]));
    assert_eq!(r["no_new_privs"], false);
    assert!(!r["caps"]["effective"].as_array().unwrap().contains(&json!("CAP_SYS_ADMIN")));
}

#[test]
fn rlimit_above_hard_limit_is_a_clear_error() {
    let env = Env::new("rlim");
    let mut b = env.bundle("a");
    // Above the hard limit the runtime itself has: needs CAP_SYS_RESOURCE.
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    if hard == u64::MAX {
        return; // nothing to exceed on this host
    }
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]);
    b.save();
    let id = env.id("a");
    // With CAP_SYS_RESOURCE (as in the test VM) raising is allowed: then it must take effect.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(|h| u64::from_str_radix(h.trim(), 16).unwrap()).unwrap();
    if eff & (1 << 24) != 0 {
        // bit 24: CAP_SYS_RESOURCE
        let r = env.report(&mut b, &id);
        assert_eq!(r["rlimits"]["NOFILE"], json!({"soft": hard + 1, "hard": hard + 1}));
        env.assert_gone(&id);
        return;
    }
    let err = env.fails(&["run", "--bundle", b.p(), &id]);
    assert!(err.contains("RLIMIT_NOFILE") && err.contains("CAP_SYS_RESOURCE"), "{err}");
    env.assert_gone(&id);
}

#[test]
fn user_namespace_with_mappings() {
    let env = Env::new("userns");
    let mut b = env.bundle("a");
    // The rootfs must be reachable by the mapped root.
    let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    // sysfs and cgroup need privileges a user namespace does not have over the host.
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
    b.config["process"]["args"] = json!(["/bin/berth-probe", "report"]);
    let r = env.report(&mut b, &env.id("a"));
    assert_eq!(r["uid"], 0);
    let host_userns = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_ne!(r["namespaces"]["user"].as_str().unwrap(), host_userns.to_str().unwrap());
    env.assert_gone(&env.id("a"));
}

#[test]
fn uid_map_seen_from_host_and_exec_joins_userns() {
    let env = Env::new("usermap");
    let mut b = env.bundle("a");
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 1000}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 1000}]);
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
    b.config["process"]["args"] = json!(["sleep", "30"]);
    b.save();
    let id = env.id("a");
    env.ok(&["run", "-d", "--bundle", b.p(), &id]);
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(map.split_whitespace().collect::<Vec<_>>(), vec!["0", "200000", "1000"]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.lines().any(|l| l.starts_with("Uid:") && l.contains("200000")), "{status}");
    let out = env.ok(&["exec", &id, "/bin/berth-probe", "report"]);
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["uid"], 0);
    env.ok(&["delete", "-f", &id]);
    env.assert_gone(&id);
}

#[test]
fn join_namespaces_by_path() {
    let env = Env::new("join");
    let mut a = env.bundle("a");
    a.config["process"]["args"] = json!(["sleep", "30"]);
    a.save();
    let ida = env.id("a");
    env.ok(&["run", "-d", "--bundle", a.p(), &ida]);
    let pid = env.state(&ida)["pid"].as_i64().unwrap();
    let mut b = env.bundle("b");
    let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "network" && n["type"] != "uts" && n["type"] != "ipc");
    ns.push(json!({"type": "network", "path": format!("/proc/{pid}/ns/net")}));
    ns.push(json!({"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")}));
    ns.push(json!({"type": "uts", "path": format!("/proc/{pid}/ns/uts")}));
    b.config.as_object_mut().unwrap().remove("hostname");
    let r = env.report(&mut b, &env.id("b"));
    for (t, f) in [("net", "net"), ("ipc", "ipc"), ("uts", "uts")] {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{f}")).unwrap();
        assert_eq!(r["namespaces"][t].as_str().unwrap(), theirs.to_str().unwrap(), "{t}");
    }
    assert_eq!(r["hostname"], "berth-test", "shares the first container's uts namespace");
    let mine = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_ne!(r["namespaces"]["pid"].as_str().unwrap(), mine.to_str().unwrap(), "pid namespace is new");
    env.ok(&["delete", "-f", &ida]);
}

#[test]
fn time_namespace_offsets() {
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        panic!("this kernel has no time namespaces");
    }
    let env = Env::new("timens");
    let mut b = env.bundle("a");
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000000, "nanosecs": 0}});
    b.config["process"]["args"] = json!(["cat", "/proc/uptime"]);
    b.save();
    let out = env.ok(&["run", "--bundle", b.p(), &env.id("a")]);
    let up: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(up > 864000000.0, "uptime inside should include the offset: {out}");
}

#[test]
fn hostname_without_uts_namespace_is_refused() {
    let env = Env::new("nouts");
    let mut b = env.bundle("a");
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "uts");
    b.save();
    let id = env.id("a");
    let err = env.fails(&["run", "--bundle", b.p(), &id]);
    assert!(err.contains("hostname"), "{err}");
    env.assert_gone(&id);
}

#[test]
fn no_new_privileges_blocks_a_setuid_gain() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("nnp");
    let mut b = env.bundle("a");
    // A setuid-root copy of the probe: exec'd by uid 1000 it would run with euid 0.
    let suid = b.rootfs().join("bin/suid-probe");
    std::fs::copy(probe_bin(), &suid).unwrap();
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["args"] = json!(["/bin/suid-probe", "report"]);
    b.config["process"]["noNewPrivileges"] = json!(true);
    b.save();
    let out = env.ok(&["run", "--bundle", b.p(), &env.id("a")]);
    let r: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!((r["uid"].as_u64(), r["euid"].as_u64()), (Some(1000), Some(1000)), "no_new_privs: the setuid bit is ignored");
    assert_eq!(r["no_new_privs"], true);
    // Without it, the same exec gains euid 0: the test can tell the difference.
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.save();
    let out = env.ok(&["run", "--bundle", b.p(), &env.id("b")]);
    let r: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!((r["uid"].as_u64(), r["euid"].as_u64()), (Some(1000), Some(0)), "setuid works when no_new_privs is off");
}

#[test]
fn capability_outside_the_runtimes_bounding_set_is_refused_at_create() {
    let env = Env::new("capbnd");
    let mut b = env.bundle("a");
    let set = json!(["CAP_CHOWN", "CAP_SYS_BOOT"]);
    b.config["process"]["capabilities"] = json!({"bounding": set, "permitted": set, "effective": set});
    b.save();
    let id = env.id("a");
    // The runtime started without CAP_SYS_BOOT in its own bounding set, as
    // on a host (or under a caller) that withholds it: no container process
    // can ever have it, and create must say so (runc's create fails too).
    let rt = env.rt();
    let err_p = b.path.join("create.err");
    let status = std::process::Command::new("setpriv")
        .args(["--bounding-set", "-sys_boot", "--"])
        .arg(rt.get_program())
        .args(rt.get_args())
        .args(["create", "--bundle", b.p(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_p).unwrap())
        .status()
        .expect("spawning setpriv");
    let err = std::fs::read_to_string(&err_p).unwrap();
    assert!(!status.success(), "create should have failed");
    assert!(err.contains("field `process.capabilities`") && err.contains("CAP_SYS_BOOT in the effective set") && err.contains("bounding set of the runtime itself"), "{err}");
    env.assert_gone(&id);
}
