//! The lifecycle of runtime.md: create, start, state, kill, delete, plus
//! exec, ps, pause/resume, list, hooks, console sockets, preserved fds and
//! the error paths that must leave nothing behind.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use berth_integration_tests::*;
use serde_json::{json, Value};

#[test]
fn create_start_kill_delete() {
    let env = Env::new("life");
    let mut b = env.bundle("a");
    b.config["process"]["args"] = json!(["sleep", "60"]);
    b.save();
    let id = env.id("a");
    let pid_file = env.dir.join("pid");
    env.ok(&["create", "--bundle", b.p(), "--pid-file", pid_file.to_str().unwrap(), &id]);
    let s = env.state(&id);
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["bundle"], b.p());
    let pid = s["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // The user program has not run: init is still the runtime.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("sleep"));
    let list = env.ok(&["list", "--format", "json"]);
    let l: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(l[0]["id"], id.as_str());
    assert_eq!(env.ok(&["list", "-q"]).trim(), id);
    env.fails(&["start", "nonexistent"]);

    env.ok(&["start", &id]);
    assert_eq!(env.state(&id)["status"], "running");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(String::from_utf8_lossy(&cmdline).starts_with("sleep"));
    let err = env.fails(&["start", &id]);
    assert!(err.contains("running"), "{err}");
    let err = env.fails(&["delete", &id]);
    assert!(err.contains("--force"), "{err}");

    let ps: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "--format", "json", &id])).unwrap();
    assert_eq!(ps, vec![pid]);
    let ps_table = env.ok(&["ps", &id]);
    assert!(ps_table.contains("sleep 60"), "{ps_table}");

    env.ok(&["pause", &id]);
    assert_eq!(env.state(&id)["status"], "paused");
    env.fails(&["pause", &id]);
    env.ok(&["resume", &id]);
    assert_eq!(env.state(&id)["status"], "running");

    env.ok(&["kill", &id, "KILL"]);
    wait_until("init to die", || env.state(&id)["status"] == "stopped");
    env.fails(&["kill", &id, "TERM"]);
    env.ok(&["delete", &id]);
    env.fails(&["state", &id]);
    env.assert_gone(&id);
    // --force on a missing container is not an error, as with runc.
    env.ok(&["delete", "--force", &id]);
}

#[test]
fn delete_of_created_container_kills_init() {
    let env = Env::new("delcreated");
    let b = env.bundle("a");
    let id = env.id("a");
    env.ok(&["create", "--bundle", b.p(), &id]);
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    env.ok(&["delete", &id]);
    assert!(!std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists() || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(") Z"));
    env.assert_gone(&id);
}

#[test]
fn kill_all_and_exec() {
    let env = Env::new("exec");
    let mut b = env.bundle("a");
    b.config["process"]["args"] = json!(["sleep", "60"]);
    b.config["process"]["env"] = json!(["PATH=/bin", "FROM_CONFIG=1"]);
    b.save();
    let id = env.id("a");
    env.ok(&["run", "-d", "--bundle", b.p(), &id]);
    let out = env.ok(&["exec", "-e", "EXTRA=2", "--cwd", "/tmp", "-u", "1000:1000", "--additional-gids", "9", &id, "/bin/berth-probe", "report"]);
    let r: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["uid"], 1000);
    assert_eq!(r["gid"], 1000);
    assert_eq!(r["groups"], json!([9]));
    assert_eq!(r["cwd"], "/tmp");
    let envs: Vec<&str> = r["env"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(envs.contains(&"FROM_CONFIG=1") && envs.contains(&"EXTRA=2"), "{envs:?}");
    let init_pid = env.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(r["namespaces"]["pid"].as_str().unwrap(), std::fs::read_link(format!("/proc/{init_pid}/ns/pid")).unwrap().to_str().unwrap());
    assert_ne!(r["pid"], 1);
    // Exit codes pass through.
    let o = env.run(&["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    // A process file instead of args.
    let pf = env.dir.join("process.json");
    std::fs::write(&pf, json!({"args": ["/bin/berth-probe", "report"], "cwd": "/", "env": ["ONLY=this"], "user": {"uid": 0, "gid": 0}, "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}}).to_string()).unwrap();
    let out = env.ok(&["exec", "--process", pf.to_str().unwrap(), &id]);
    let r: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(r["env"].as_array().unwrap().contains(&json!("ONLY=this")));
    assert_eq!(r["caps"]["effective"], json!(["CAP_KILL"]));
    // --cap adds to the inherited sets.
    let out = env.ok(&["exec", "--cap", "CAP_SYS_ADMIN", &id, "/bin/berth-probe", "report"]);
    let r: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(r["caps"]["effective"].as_array().unwrap().contains(&json!("CAP_SYS_ADMIN")));
    // Detached exec with a pid file, then kill --all reaches it.
    let pidf = env.dir.join("exec.pid");
    env.ok(&["exec", "-d", "--pid-file", pidf.to_str().unwrap(), &id, "sleep", "60"]);
    let epid: i32 = std::fs::read_to_string(&pidf).unwrap().parse().unwrap();
    let ps: Vec<i32> = serde_json::from_str(&env.ok(&["ps", "-f", "json", &id])).unwrap();
    assert!(ps.contains(&epid), "{ps:?} has {epid}");
    env.ok(&["kill", "--all", &id, "KILL"]);
    wait_until("all processes to die", || env.state(&id)["status"] == "stopped");
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
}

fn hook(marker: &std::path::Path, name: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read -r s; echo \"{name} $s\" >> {}", marker.display())]})
}

#[test]
fn hooks_run_in_order_with_state() {
    let env = Env::new("hooks");
    let mut b = env.bundle("a");
    let marker = env.dir.join("hooks.log");
    // createContainer and startContainer run in the container: use busybox there.
    let inside = b.rootfs().join("hooks.log");
    b.config["hooks"] = json!({
        "prestart": [hook(&marker, "prestart")],
        "createRuntime": [hook(&marker, "createRuntime")],
        "createContainer": [hook(&marker, "createContainer")],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "read -r s; echo \"startContainer $s\" >> /hooks.log"]}],
        "poststart": [hook(&marker, "poststart")],
        "poststop": [hook(&marker, "poststop")]
    });
    b.config["process"]["args"] = json!(["sleep", "60"]);
    b.save();
    let id = env.id("a");
    env.ok(&["create", "--bundle", b.p(), &id]);
    let log = std::fs::read_to_string(&marker).unwrap();
    let names: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(names, vec!["prestart", "createRuntime", "createContainer"]);
    let st: Value = serde_json::from_str(log.lines().next().unwrap().split_once(' ').unwrap().1).unwrap();
    assert_eq!(st["status"], "creating");
    assert_eq!(st["id"], id.as_str());
    assert!(st["pid"].as_i64().unwrap() > 1);
    env.ok(&["start", &id]);
    let log = std::fs::read_to_string(&marker).unwrap();
    assert!(log.lines().last().unwrap().starts_with("poststart "), "{log}");
    assert!(std::fs::read_to_string(&inside).unwrap().starts_with("startContainer "));
    env.ok(&["delete", "-f", &id]);
    let log = std::fs::read_to_string(&marker).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap().strip_prefix("poststop ").unwrap()).unwrap();
    assert_eq!(last["status"], "stopped");
    env.assert_gone(&id);
}

#[test]
fn failing_hooks_leave_nothing_behind() {
    let env = Env::new("hookfail");
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let mut b = env.bundle(kind);
        let marker = env.dir.join(format!("poststop-{kind}"));
        b.config["hooks"] = json!({kind: [{"path": "/bin/false", "args": ["false"]}], "poststop": [hook(&marker, "poststop")]});
        b.save();
        let id = env.id(kind);
        let err = env.fails(&["create", "--bundle", b.p(), &id]);
        assert!(err.contains(kind), "{err}");
        env.assert_gone(&id);
        // runtime.md: a failed create-time hook continues the lifecycle at delete.
        assert!(std::fs::read_to_string(&marker).unwrap().starts_with("poststop "), "{kind}: poststop ran");
    }
    let mut b = env.bundle("timeout");
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    b.save();
    let id = env.id("timeout");
    let t = std::time::Instant::now();
    let err = env.fails(&["create", "--bundle", b.p(), &id]);
    assert!(err.contains("timed out"), "{err}");
    assert!(t.elapsed().as_secs() < 10);
    env.assert_gone(&id);
}

#[test]
fn invalid_configs_are_refused_with_the_field_named() {
    let env = Env::new("badcfg");
    let cases: Vec<(&str, Box<dyn Fn(&mut Value)>, &str)> = vec![
        ("version", Box::new(|c| c["ociVersion"] = json!("2.0.0")), "ociVersion"),
        ("type", Box::new(|c| c["process"]["user"]["uid"] = json!("root")), "process.user.uid"),
        ("ns", Box::new(|c| c["linux"]["namespaces"][0]["type"] = json!("nope")), "linux.namespaces[0].type"),
        ("args", Box::new(|c| c["process"]["args"] = json!([])), "process.args"),
        ("cap", Box::new(|c| c["process"]["capabilities"]["bounding"] = json!(["CAP_NOPE"])), "CAP_NOPE"),
        ("rootfs", Box::new(|c| c["root"]["path"] = json!("missing-rootfs")), "missing-rootfs"),
        ("seccomp", Box::new(|c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_SOMETIMES"})), "linux.seccomp.defaultAction"),
        ("rlimit", Box::new(|c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])), "RLIMIT_BOGUS"),
    ];
    for (label, edit, want) in cases {
        let mut b = env.bundle(label);
        edit(&mut b.config);
        b.save();
        let id = env.id(label);
        let err = env.fails(&["create", "--bundle", b.p(), &id]);
        assert!(err.contains(want), "{label}: {err}");
        env.assert_gone(&id);
    }
    let b = env.bundle("json");
    std::fs::write(b.path.join("config.json"), "{\"ociVersion\": ").unwrap();
    let err = env.fails(&["create", "--bundle", b.p(), &env.id("json")]);
    assert!(err.contains("config.json"), "{err}");
    let b = env.bundle("exe");
    let mut c = b.config.clone();
    c["process"]["args"] = json!(["/no/such/program"]);
    std::fs::write(b.path.join("config.json"), c.to_string()).unwrap();
    let id = env.id("exe");
    let err = env.fails(&["create", "--bundle", b.p(), &id]);
    assert!(err.contains("/no/such/program"), "{err}");
    env.assert_gone(&id);
    // Unknown flags and commands are refused.
    env.fails(&["create", "--bogus", "x"]);
    env.fails(&["frobnicate"]);
    let err = env.fails(&["--systemd-cgroup", "list"]);
    assert!(err.contains("systemd"), "{err}");
}

#[test]
fn killed_mid_create_leaves_nothing_behind() {
    let env = Env::new("midkill");
    let mut b = env.bundle("a");
    let marker = env.dir.join("in-hook");
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}; sleep 30", marker.display())]}]});
    b.save();
    let id = env.id("a");
    let mut child = env.rt().args(["create", "--bundle", b.p(), &id]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_until("the hook to start", || marker.exists());
    child.kill().unwrap();
    child.wait().unwrap();
    // The next command sweeps what the killed create left.
    env.ok(&["list"]);
    wait_until("the sweep", || cgroup_dirs(&id).is_empty());
    env.assert_gone(&id);
    let _ = std::process::Command::new("pkill").args(["-f", &marker.display().to_string()]).status();
}

#[test]
fn duplicate_ids_are_refused() {
    let env = Env::new("dup");
    let b = env.bundle("a");
    let id = env.id("a");
    env.ok(&["create", "--bundle", b.p(), &id]);
    let err = env.fails(&["create", "--bundle", b.p(), &id]);
    assert!(err.contains("already exists"), "{err}");
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
}

#[test]
fn console_socket_receives_the_pty_master() {
    let env = Env::new("console");
    let mut b = env.bundle("a");
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    b.config["process"]["args"] = json!(["sh", "-c", "/bin/berth-probe report; stty size"]);
    b.save();
    let sock_path = env.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let id = env.id("a");
    env.ok(&["create", "--bundle", b.p(), "--console-socket", sock_path.to_str().unwrap(), &id]);
    let (conn, _) = listener.accept().unwrap();
    let master = recv_fd(&conn);
    env.ok(&["start", &id]);
    let mut out = Vec::new();
    let mut f = std::fs::File::from(master);
    let _ = std::io::Read::read_to_end(&mut f, &mut out); // EIO at hang-up ends it
    let text = String::from_utf8_lossy(&out);
    let line = text.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no report in {text:?}"));
    let r: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(r["tty"], true);
    assert!(r["ttyname"].as_str().unwrap().starts_with("/dev/pts/"), "{r}");
    assert!(text.contains("33 111"), "console size: {text:?}");
    wait_until("exit", || env.state(&id)["status"] == "stopped");
    env.ok(&["delete", &id]);
}

fn recv_fd(conn: &std::os::unix::net::UnixStream) -> OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 1024];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just gave us this fd.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received");
}

#[test]
fn preserve_fds_and_listen_fds() {
    let env = Env::new("fds");
    let mut b = env.bundle("a");
    b.config["process"]["args"] = json!(["/bin/berth-probe", "report"]);
    b.save();
    let extra = std::fs::File::open("/dev/null").unwrap();
    let extra_fd = extra.as_raw_fd();
    let id = env.id("a");
    let mut cmd = env.rt();
    cmd.args(["run", "--preserve-fds", "2", "--bundle", b.p(), &id]);
    // SAFETY: pre_exec runs between fork and exec in the child; dup2 is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(extra_fd, 3);
            libc::dup2(extra_fd, 4);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(r["fds"], json!([0, 1, 2, 3, 4]));

    let mut cmd = env.rt();
    cmd.args(["run", "--bundle", b.p(), &env.id("b")]).env("LISTEN_FDS", "1");
    // SAFETY: as above.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(extra_fd, 3);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(r["fds"], json!([0, 1, 2, 3]));
    let envs = r["env"].as_array().unwrap();
    assert!(envs.contains(&json!("LISTEN_FDS=1")) && envs.contains(&json!("LISTEN_PID=1")), "{envs:?}");
    drop(extra);
}

#[test]
fn foreground_run_forwards_signals_and_exit_codes() {
    let env = Env::new("fg");
    let mut b = env.bundle("a");
    b.config["process"]["args"] = json!(["sh", "-c", "exit 42"]);
    b.save();
    let o = env.run(&["run", "--bundle", b.p(), &env.id("a")]);
    assert_eq!(o.status.code(), Some(42));
    env.assert_gone(&env.id("a"));
    // As pid 1 of its namespace, the process only receives the signals it
    // handles (pid_namespaces(7)), so it traps TERM: the forwarded signal
    // must reach it, and its exit code must come back.
    b.config["process"]["args"] = json!(["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.05; done"]);
    b.save();
    let id = env.id("b");
    let mut child = env.rt().args(["run", "--bundle", b.p(), &id]).spawn().unwrap();
    wait_until("running", || env.run(&["state", &id]).status.success() && env.state(&id)["status"] == "running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(7), "SIGTERM forwarded to the container's trap");
    env.assert_gone(&id);
}

#[test]
fn features_and_spec() {
    let env = Env::new("features");
    let f: Value = serde_json::from_str(&env.ok(&["features"])).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert!(f["linux"]["namespaces"].as_array().unwrap().contains(&json!("time")));
    assert!(f["hooks"].as_array().unwrap().contains(&json!("createRuntime")));
    let sc = &f["linux"]["seccomp"];
    assert_eq!(sc["enabled"], true);
    assert_eq!(sc["actions"].as_array().unwrap().len(), 9);
    assert_eq!(sc["operators"].as_array().unwrap().len(), 7);
    assert!(sc["archs"].as_array().unwrap().contains(&json!("SCMP_ARCH_X32")));
    assert!(sc["supportedFlags"].as_array().unwrap().contains(&json!("SECCOMP_FILTER_FLAG_TSYNC")));
    let dir = env.dir.join("spec");
    std::fs::create_dir_all(&dir).unwrap();
    env.ok(&["spec", "--bundle", dir.to_str().unwrap()]);
    let c: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["root"]["path"], "rootfs");
    // As `runc spec`: no seccomp section (the daemon adds berth_runtime::seccomp::default_profile()).
    assert!(c["linux"].get("seccomp").is_none());
    env.fails(&["spec", "--bundle", dir.to_str().unwrap()]);
    let dir = env.dir.join("rootless");
    std::fs::create_dir_all(&dir).unwrap();
    env.ok(&["spec", "--rootless", "--bundle", dir.to_str().unwrap()]);
    let c: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert!(c["linux"]["namespaces"].as_array().unwrap().contains(&json!({"type": "user"})));
}
