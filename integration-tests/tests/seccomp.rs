//! linux.seccomp end to end: the real runtime installs the filter in the
//! container and the probe makes raw system calls from inside.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use berth_integration_tests::*;
use serde_json::{json, Value};

// x86_64 numbers (the probe is built for x86_64 musl).
const NR_GETPRIORITY: i64 = libc::SYS_getpriority;
const NR_GETPPID: i64 = libc::SYS_getppid;

/// Foreground `run` of `probe ARGS`; returns (exit code, last stdout line as JSON or Null).
fn probe(env: &Env, b: &mut Bundle, id: &str, args: &[&str]) -> (i32, Value, String) {
    let mut a = vec!["/bin/berth-probe".to_string()];
    a.extend(args.iter().map(|s| s.to_string()));
    b.config["process"]["args"] = json!(a);
    b.save();
    let o = env.run(&["run", "--bundle", b.p(), id]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let v = out.lines().last().and_then(|l| serde_json::from_str(l).ok()).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v, String::from_utf8_lossy(&o.stderr).into_owned())
}

fn syscall(env: &Env, b: &mut Bundle, id: &str, nr: i64, args: &[i64]) -> Value {
    let mut a = vec!["syscall".to_string(), nr.to_string()];
    a.extend(args.iter().map(|v| v.to_string()));
    let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
    let (code, v, err) = probe(env, b, id, &refs);
    assert_eq!(code, 0, "probe syscall {nr} {args:?} failed: {err}");
    v
}

#[test]
fn errno_rule_returns_the_configured_errno() {
    let env = Env::new("sc-errno");
    let mut b = env.bundle("a");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    });
    let id = env.id("a");
    let r = syscall(&env, &mut b, &id, NR_GETPRIORITY, &[0, 0]);
    assert_eq!(r, json!({"ret": -1, "errno": 38}));
    // The filter is on (Seccomp: 2 = filter mode) and other calls work.
    let rep = env.report(&mut b, &id);
    assert_eq!(rep["seccomp"], 2);
    env.assert_gone(&id);
}

#[test]
fn kill_process_ends_the_container_with_sigsys() {
    let env = Env::new("sc-kill");
    let mut b = env.bundle("a");
    let id = env.id("a");
    // TRAP sends SIGSYS too; unhandled, it ends the process the same way.
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"] {
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getpriority"], "action": action}]
        });
        let (code, _, _) = probe(&env, &mut b, &id, &["syscall", &NR_GETPRIORITY.to_string(), "0", "0"]);
        assert_eq!(code, 128 + libc::SIGSYS, "{action}: killed by SIGSYS");
        env.assert_gone(&id);
    }
    // LOG allows (and logs to the audit log).
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_LOG"}]});
    let (code, v, _) = probe(&env, &mut b, &id, &["syscall", &NR_GETPRIORITY.to_string(), "0", "0"]);
    assert_eq!((code, v["errno"].as_i64()), (0, Some(0)));
    env.assert_gone(&id);
}

#[test]
fn argument_filters_match_only_the_given_values() {
    let env = Env::new("sc-args");
    let mut b = env.bundle("a");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            // which == PRIO_PGRP (1) and who > 2^32: both must hold.
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 4294967296u64, "op": "SCMP_CMP_GT"}]},
            // Or: who's low byte is 0x2a, whatever the rest.
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 78,
             "args": [{"index": 1, "value": 255, "valueTwo": 42, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    });
    let id = env.id("a");
    let errno = |args: &[i64]| syscall(&env, &mut b.clone_bundle(), &id, NR_GETPRIORITY, args)["errno"].as_i64().unwrap();
    // When no rule matches the kernel answers (it reads `who` as an int:
    // 0x1_0000_0000 is "the caller's group", so it succeeds).
    assert_eq!(errno(&[1, 0x1_0000_0001]), 77);
    assert_eq!(errno(&[1, 0x2_0000_0000]), 77, "high word alone is greater");
    assert_eq!(errno(&[1, 0x1_0000_0000]), 0, "not above 2^32");
    assert_eq!(errno(&[1, 0xffff_ffff]), libc::ESRCH as i64, "below 2^32 (the kernel: no such group)");
    assert_eq!(errno(&[2, 0x1_0000_0001]), libc::ESRCH as i64, "first argument differs (PRIO_USER 1: nobody)");
    assert_eq!(errno(&[0, 0x7_0000_012a]), 78);
    assert_eq!(errno(&[0, 0]), 0);
    env.assert_gone(&id);
}

trait CloneBundle {
    fn clone_bundle(&self) -> Bundle;
}

impl CloneBundle for Bundle {
    fn clone_bundle(&self) -> Bundle {
        Bundle { path: self.path.clone(), config: self.config.clone() }
    }
}

#[test]
fn exec_gets_the_containers_filter() {
    let env = Env::new("sc-exec");
    let mut b = env.bundle("a");
    b.config["process"]["args"] = json!(["sleep", "60"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 39}]
    });
    b.save();
    let id = env.id("a");
    env.ok(&["run", "-d", "--bundle", b.p(), &id]);
    let out = env.ok(&["exec", &id, "/bin/berth-probe", "syscall", &NR_GETPRIORITY.to_string(), "0", "0"]);
    assert_eq!(serde_json::from_str::<Value>(out.trim()).unwrap(), json!({"ret": -1, "errno": 39}));
    // Also without no_new_privs (the filter then goes in before the capabilities are dropped).
    let out = env.ok(&["exec", "--no-new-privs=false", &id, "/bin/berth-probe", "report"]);
    let r: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["seccomp"], 2);
    env.ok(&["kill", &id, "KILL"]);
    wait_until("container stopped", || env.state(&id)["status"] == "stopped");
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
}

#[test]
fn bad_profiles_are_config_errors_naming_the_field() {
    let env = Env::new("sc-bad");
    let mut b = env.bundle("a");
    let id = env.id("a");
    for (profile, field) in [
        (json!({"defaultAction": "SCMP_ACT_MAYBE"}), "linux.seccomp.defaultAction"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PPC64LE"]}), "linux.seccomp.architectures[0]"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}), "linux.seccomp.flags[0]"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}), "linux.seccomp.syscalls[0].args[0].op"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}), "linux.seccomp.syscalls[0].args[0].index"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}), "linux.seccomp.listenerPath"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 3}]}), "linux.seccomp.syscalls[0].errnoRet"),
    ] {
        b.config["linux"]["seccomp"] = profile;
        b.save();
        let err = env.fails(&["create", "--bundle", b.p(), &id]);
        assert!(err.contains(field), "expected {field} in: {err}");
    }
    env.assert_gone(&id);
}

/// The default profile lets a shell work and refuses the calls that reach
/// outside the container, even ones the container's capabilities would allow.
#[test]
fn default_profile_runs_a_shell_and_blocks_escapes() {
    let env = Env::new("sc-default");
    let mut b = env.bundle("a");
    let id = env.id("a");
    // Control, without seccomp: a user namespace and the session keyring are within reach.
    let clone_newuser = 0x1000_0000i64;
    let unshare_ok = syscall(&env, &mut b, &id, libc::SYS_unshare, &[clone_newuser])["ret"] == 0;
    let keyctl_ok = syscall(&env, &mut b, &id, libc::SYS_keyctl, &[0, -3, 0])["ret"].as_i64().unwrap() > 0;

    b.config["linux"]["seccomp"] = serde_json::to_value(berth_runtime::seccomp::default_profile()).unwrap();
    b.config["process"]["args"] = json!(["sh", "-c", "ls / && cat /etc/passwd"]);
    b.save();
    let out = env.ok(&["run", "--bundle", b.p(), &id]);
    assert!(out.lines().any(|l| l == "bin") && out.contains("root:x:0:0"), "{out}");

    let eperm = json!({"ret": -1, "errno": libc::EPERM});
    let calls: [(&str, i64, &[i64]); 7] = [
        ("unshare", libc::SYS_unshare, &[clone_newuser]),
        ("mount", libc::SYS_mount, &[0, 0, 0, 0, 0]),
        ("keyctl", libc::SYS_keyctl, &[0, -3, 0]),
        ("kexec_load", libc::SYS_kexec_load, &[0, 0, 0, 0]),
        ("open_by_handle_at", libc::SYS_open_by_handle_at, &[-100, 0, 0]),
        ("clone3", libc::SYS_clone3, &[0, 0]),
        // cachestat (Linux 6.5) is newer than the profile: ENOSYS, so programs fall back.
        ("cachestat", 451, &[0, 0, 0, 0]),
    ];
    for (name, nr, args) in calls {
        let r = syscall(&env, &mut b, &id, nr, args);
        let want = if name == "clone3" || name == "cachestat" { json!({"ret": -1, "errno": libc::ENOSYS}) } else { eperm.clone() };
        assert_eq!(r, want, "{name}");
    }
    assert!(unshare_ok || keyctl_ok, "control: without seccomp at least one of unshare(CLONE_NEWUSER), keyctl should work on this host");
    env.assert_gone(&id);
}

/// Receives the listener fd and the state message on `listener`, then
/// answers the first notification with `val`.
fn seccomp_agent(listener: UnixListener, val: i64) -> (Value, i32) {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 65536];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let msg = nix::sys::socket::recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC).unwrap();
    let mut fd = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(v) = c {
            // SAFETY: the kernel installed this fd for us.
            fd = Some(unsafe { OwnedFd::from_raw_fd(v[0]) });
        }
    }
    let n = msg.bytes;
    let state: Value = serde_json::from_slice(&buf[..n]).unwrap();
    let fd = fd.expect("the listener fd came with the message");
    // struct seccomp_notif (80 bytes) and seccomp_notif_resp (24 bytes) of linux/seccomp.h.
    #[repr(C)]
    struct Notif {
        id: u64,
        pid: u32,
        flags: u32,
        nr: i32,
        arch: u32,
        ip: u64,
        args: [u64; 6],
    }
    #[repr(C)]
    struct Resp {
        id: u64,
        val: i64,
        error: i32,
        flags: u32,
    }
    const NOTIF_RECV: libc::c_ulong = 0xc050_2100; // _IOWR('!', 0, struct seccomp_notif)
    const NOTIF_SEND: libc::c_ulong = 0xc018_2101; // _IOWR('!', 1, struct seccomp_notif_resp)
    // SAFETY: Notif is plain old data; the kernel wants it zeroed.
    let mut req: Notif = unsafe { std::mem::zeroed() };
    // SAFETY: NOTIF_RECV writes one seccomp_notif into `req`, a live value of that layout.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV as _, &mut req as *mut Notif) };
    assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    let nr = req.nr;
    let resp = Resp { id: req.id, val, error: 0, flags: 0 };
    // SAFETY: NOTIF_SEND reads one seccomp_notif_resp from `resp`, a live value of that layout.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND as _, &resp as *const Resp) };
    assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
    (state, nr)
}

#[test]
fn notify_sends_the_listener_to_the_agent_which_answers() {
    let env = Env::new("sc-notify");
    let mut b = env.bundle("a");
    let sock = env.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.config["annotations"] = json!({"test": "notify"});
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "meta-from-config",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let agent = std::thread::spawn(move || seccomp_agent(listener, 4242));
    let id = env.id("a");
    let r = syscall(&env, &mut b, &id, NR_GETPPID, &[]);
    assert_eq!(r, json!({"ret": 4242, "errno": 0}), "the agent's answer is the call's result");
    let (state, nr) = agent.join().unwrap();
    assert_eq!(nr as i64, NR_GETPPID);
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "meta-from-config");
    assert_eq!(state["ociVersion"], "1.2.0");
    assert_eq!(state["state"]["id"], id.as_str());
    assert_eq!(state["state"]["annotations"]["test"], "notify");
    assert!(state["pid"].as_i64().unwrap() > 0);
    assert_eq!(state["pid"], state["state"]["pid"]);
    env.assert_gone(&id);
}

/// exec'd processes get their own filter, hence their own listener: the
/// agent first gets init's (at start), then the exec'd process's.
#[test]
fn notify_for_exec_sends_a_second_listener() {
    let env = Env::new("sc-notify-exec");
    let mut b = env.bundle("a");
    let sock = env.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.config["process"]["args"] = json!(["sleep", "60"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.save();
    let id = env.id("a");
    let agent = std::thread::spawn(move || {
        // Init's listener: keep it open (closing it would fail init's notified calls), answer nothing.
        let (first, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 65536];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 2]);
        let msg = nix::sys::socket::recvmsg::<()>(first.as_raw_fd(), &mut iov, Some(&mut space), nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC).unwrap();
        let mut init_listener = None;
        for c in msg.cmsgs().unwrap() {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(v) = c {
                // SAFETY: the kernel installed this fd for us.
                init_listener = Some(unsafe { OwnedFd::from_raw_fd(v[0]) });
            }
        }
        assert!(init_listener.is_some(), "init's listener fd came with the message");
        let n = msg.bytes;
        let init_state: Value = serde_json::from_slice(&buf[..n]).unwrap();
        let (exec_state, nr) = seccomp_agent(listener, 77);
        (init_state, exec_state, nr)
    });
    env.ok(&["run", "-d", "--bundle", b.p(), &id]);
    let out = env.ok(&["exec", &id, "/bin/berth-probe", "syscall", &NR_GETPPID.to_string()]);
    assert_eq!(serde_json::from_str::<Value>(out.trim()).unwrap(), json!({"ret": 77, "errno": 0}));
    let (init_state, exec_state, nr) = agent.join().unwrap();
    assert_eq!(nr as i64, NR_GETPPID);
    assert_eq!(init_state["state"]["status"], "created");
    assert_eq!(exec_state["state"]["status"], "running");
    assert_ne!(exec_state["pid"], init_state["pid"], "the exec'd process's own pid");
    assert_eq!(exec_state["state"]["pid"], init_state["pid"]);
    env.ok(&["kill", &id, "KILL"]);
    wait_until("container stopped", || env.state(&id)["status"] == "stopped");
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
}

/// No agent at listenerPath: `run` fails saying so, and nothing is left
/// (the program would otherwise hang on its first notified call).
#[test]
fn notify_without_an_agent_fails_cleanly() {
    let env = Env::new("sc-noagent");
    let mut b = env.bundle("a");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": env.dir.join("nobody.sock"),
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.config["process"]["args"] = json!(["/bin/berth-probe", "syscall", NR_GETPPID.to_string()]);
    b.save();
    let id = env.id("a");
    let err = env.fails(&["run", "--bundle", b.p(), &id]);
    assert!(err.contains("seccomp listener") && err.contains("nobody.sock"), "{err}");
    env.assert_gone(&id);
}

/// In a user namespace, without no_new_privs: init installs the filter
/// with the CAP_SYS_ADMIN it has in its own namespace, before dropping it.
#[test]
fn user_namespace_without_no_new_privs() {
    let env = Env::new("sc-userns");
    let mut b = env.bundle("a");
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 40}]
    });
    let id = env.id("a");
    let r = syscall(&env, &mut b, &id, NR_GETPRIORITY, &[0, 0]);
    assert_eq!(r, json!({"ret": -1, "errno": 40}));
    let rep = env.report(&mut b, &id);
    assert_eq!((rep["seccomp"].clone(), rep["no_new_privs"].clone()), (json!(2), json!(false)));
    env.assert_gone(&id);
}

fn probe_json(env: &Env, b: &mut Bundle, id: &str, args: &[&str]) -> (i32, Value) {
    let (code, v, _) = probe(env, b, id, args);
    (code, v)
}

/// The ABIs a 64-bit process can still reach: the i386 entry (`int $0x80`,
/// AUDIT_ARCH_I386) and x32 numbers (bit 0x40000000). Unlisted, they are
/// killed; listed, their own rules apply.
#[test]
fn compat_abis_are_checked() {
    let env = Env::new("sc-abi");
    let mut b = env.bundle("a");
    let id = env.id("a");
    const I386_GETPID: &str = "20";
    const I386_GETPRIORITY: &str = "96";
    const X32_GETPID: &str = "0x40000027";
    const X32_GETPRIORITY: &str = "0x4000008c";
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]});
    assert_eq!(probe_json(&env, &mut b, &id, &["syscall32", I386_GETPID]).0, 128 + libc::SIGSYS, "i386 entry, x86_64-only profile");
    assert_eq!(probe_json(&env, &mut b, &id, &["syscall", X32_GETPID]).0, 128 + libc::SIGSYS, "x32 number, x86_64-only profile");
    assert_eq!(probe_json(&env, &mut b, &id, &["syscall", "39"]).0, 0, "native getpid");

    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 41}]
    });
    assert_eq!(probe_json(&env, &mut b, &id, &["syscall32", I386_GETPRIORITY, "0", "0"]).1, json!({"ret": -41, "errno": 41}));
    // The filter answers before the kernel would say whether it has x32 at all.
    assert_eq!(probe_json(&env, &mut b, &id, &["syscall", X32_GETPRIORITY, "0", "0"]).1, json!({"ret": -1, "errno": 41}));
    let (code, v) = probe_json(&env, &mut b, &id, &["syscall32", I386_GETPID]);
    assert!(code == 0 && v["ret"].as_i64().unwrap() > 0, "i386 getpid is allowed: {v}");

    // The default profile covers the i386 entry too.
    b.config["linux"]["seccomp"] = serde_json::to_value(berth_runtime::seccomp::default_profile()).unwrap();
    const I386_UNSHARE: &str = "310";
    assert_eq!(probe_json(&env, &mut b, &id, &["syscall32", I386_UNSHARE, "0x10000000"]).1, json!({"ret": -1, "errno": libc::EPERM}));
    env.assert_gone(&id);
}
