//! `berth run`'s security and resource flags: each one changes what the
//! container sees (/proc/self/status, /proc/mounts, limits, devices) or
//! what its cgroup holds on the host, and each bad value is refused at
//! create with a message that names it, leaving no container behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_integration_tests::containers::Env;

/// `berth run --rm --network none FLAGS... busybox sh -c SCRIPT`'s stdout.
fn sh(e: &Env, flags: &[&str], script: &str) -> String {
    let bb = e.bb();
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend_from_slice(flags);
    a.extend_from_slice(&[&bb, "sh", "-c", script]);
    e.ok(&a)
}

fn status_field(out: &str, key: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).unwrap_or_else(|| panic!("no {key} in {out}")).trim().to_string()
}

/// A cgroup file of a running container, v1 (controller dir) or v2.
fn cgroup_file(id: &str, controller: &str, v1: &str, v2: &str) -> String {
    let p1 = PathBuf::from("/sys/fs/cgroup").join(controller).join("berth").join(id).join(v1);
    let p2 = PathBuf::from("/sys/fs/cgroup/berth").join(id).join(v2);
    let p = if p1.exists() { p1 } else { p2 };
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_string()
}

#[test]
fn capabilities_privileged_and_security_opts() {
    let e = Env::new("flags-sec");
    let default_bnd = status_field(&sh(&e, &[], "cat /proc/self/status"), "CapBnd");
    assert_eq!(default_bnd, "00000000a80425fb");

    // --cap-add NET_ADMIN lets the container change its links; --cap-drop CHOWN takes chown away.
    let o = sh(&e, &["--cap-add", "net_admin", "--cap-drop", "CAP_CHOWN"], "grep CapBnd /proc/self/status; ip link set lo mtu 1300 && echo mtu-ok; touch /f; chown 5 /f 2>&1 || echo chown-refused");
    let bnd = u64::from_str_radix(&status_field(&o, "CapBnd"), 16).unwrap();
    assert_eq!(bnd, (0xa80425fbu64 | 1 << 12) & !1, "CAP_NET_ADMIN (12) added, CAP_CHOWN (0) dropped: {o}");
    assert!(o.contains("mtu-ok") && o.contains("chown-refused"), "{o}");
    let o = sh(&e, &[], "ip link set lo mtu 1300 2>&1 || echo mtu-refused");
    assert!(o.contains("mtu-refused"), "without NET_ADMIN: {o}");
    // --cap-drop ALL --cap-add KILL: exactly one capability.
    let o = sh(&e, &["--cap-drop", "ALL", "--cap-add", "KILL"], "grep CapBnd /proc/self/status");
    assert_eq!(status_field(&o, "CapBnd"), "0000000000000020");

    // --privileged: every capability, no seccomp, no masked paths, the host's devices, /sys writable.
    let o = sh(&e, &["--privileged"], "cat /proc/self/status; grep -c ' /proc/keys ' /proc/mounts; ls /dev | wc -l; grep ' /sys sysfs ' /proc/mounts");
    let bnd = u64::from_str_radix(&status_field(&o, "CapBnd"), 16).unwrap();
    // Every capability berthd has (root here lacks CAP_SYS_RESOURCE): this test's own set.
    let mine = u64::from_str_radix(&status_field(&std::fs::read_to_string("/proc/self/status").unwrap(), "CapBnd"), 16).unwrap();
    assert_eq!(bnd, mine, "{o}");
    assert_eq!(status_field(&o, "Seccomp"), "0");
    let tail: Vec<&str> = o.lines().rev().take(3).collect();
    assert!(tail[0].contains(" rw,") || tail[0].contains(" rw "), "/sys is writable: {o}");
    assert!(tail[1].parse::<usize>().unwrap() > 20, "the host's devices are there: {o}");
    assert_eq!(tail[2], "0", "/proc/keys is not masked: {o}");
    let o = sh(&e, &[], "grep -c ' /proc/keys ' /proc/mounts; ls /dev | wc -l");
    assert!(o.starts_with("1\n") && o.lines().nth(1).unwrap().parse::<usize>().unwrap() < 20, "{o}");

    // --security-opt no-new-privileges, seccomp=unconfined, and a profile in docker's format.
    let o = sh(&e, &["--security-opt", "no-new-privileges"], "cat /proc/self/status");
    assert_eq!((status_field(&o, "NoNewPrivs"), status_field(&o, "Seccomp")), ("1".into(), "2".into()));
    let o = sh(&e, &[], "cat /proc/self/status");
    assert_eq!(status_field(&o, "NoNewPrivs"), "0");
    let o = sh(&e, &["--security-opt", "seccomp=unconfined"], "cat /proc/self/status");
    assert_eq!(status_field(&o, "Seccomp"), "0");
    let dir = tempdir("flags-sec");
    let prof = dir.join("profile.json");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        _ => "SCMP_ARCH_ARM",
    };
    std::fs::write(
        &prof,
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": arch, "subArchitectures": []}],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let o = sh(&e, &["--security-opt", &format!("seccomp={}", prof.display())], "mkdir /tmp/x 2>&1; grep Seccomp: /proc/self/status");
    assert!(o.contains("Permission denied") && o.contains("Seccomp:\t2"), "mkdir gets the profile's errno 13: {o}");
    let m = e.fails(&["run", "--rm", "--network", "none", "--security-opt", "seccomp=/nonexistent.json", &e.bb(), "true"]);
    assert!(m.contains("seccomp profile") && m.contains("/nonexistent.json"), "{m}");
    std::fs::write(&prof, r#"{"defaultAction": "ALLOW"}"#).unwrap();
    let m = e.fails(&["run", "--rm", "--network", "none", "--security-opt", &format!("seccomp={}", prof.display()), &e.bb(), "true"]);
    assert!(m.contains("defaultAction"), "{m}");
    let _ = std::fs::remove_dir_all(&dir);

    // Inspect shows what was asked.
    let id = e.run_d(&["--cap-add", "SYS_TIME", "--security-opt", "no-new-privileges", &e.bb(), "sleep", "100"]);
    let v = e.inspect_c(&id);
    assert_eq!(v["HostConfig"]["CapAdd"], serde_json::json!(["CAP_SYS_TIME"]));
    assert_eq!(v["HostConfig"]["SecurityOpt"], serde_json::json!(["no-new-privileges"]));
    e.ok(&["rm", "-f", &id]);

    e.refuses(&[
        (vec!["--cap-add", "BOGUS"], "unknown capability"),
        (vec!["--security-opt", "bogus"], "invalid --security-opt"),
        (vec!["--security-opt", "label=type:x"], "SELinux"),
    ]);
    if !Path::new("/sys/module/apparmor/parameters/enabled").exists() {
        assert!(e.fails(&["run", "--rm", "--network", "none", "--security-opt", "apparmor=x", &e.bb(), "true"]).contains("AppArmor is not enabled"));
    }
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "", "refused creates leave no container");
}

fn tempdir(name: &str) -> PathBuf {
    let d = PathBuf::from("/tmp").join(format!("berth-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn filesystem_limits_sysctls_and_devices() {
    let e = Env::new("flags-fs");
    // --read-only, with a writable --tmpfs where the container needs one.
    let o = sh(&e, &["--read-only", "--tmpfs", "/run:size=1m,mode=1770", "--shm-size", "2m"], "touch /x 2>&1; touch /run/ok && echo tmpfs-writable; grep -E ' /(run|dev/shm) ' /proc/mounts");
    assert!(o.contains("Read-only file system") && o.contains("tmpfs-writable"), "{o}");
    let run = o.lines().find(|l| l.contains(" /run ")).unwrap();
    assert!(run.contains("size=1024k") && run.contains("noexec") && run.contains("mode=1770"), "{run}");
    assert!(o.lines().any(|l| l.contains(" /dev/shm ") && l.contains("size=2048k")), "{o}");
    let o = sh(&e, &["--tmpfs", "/scratch:exec"], "grep ' /scratch ' /proc/mounts");
    assert!(!o.contains("noexec"), "exec lifts docker's noexec default: {o}");
    let o = sh(&e, &[], "touch /x && echo rootfs-writable");
    assert!(o.contains("rootfs-writable"));

    // --ulimit
    let o = sh(&e, &["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=77"], "grep -E 'open files|processes' /proc/self/limits");
    assert!(o.lines().any(|l| l.contains("Max open files") && l.split_whitespace().collect::<Vec<_>>().ends_with(&["1024", "2048", "files"])), "{o}");
    assert!(o.lines().any(|l| l.contains("Max processes") && l.contains(" 77 ")), "{o}");

    // --sysctl: namespaced ones only.
    let o = sh(&e, &["--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=12345678"], "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax");
    assert_eq!(o, "1\n12345678\n");
    assert!(e.fails(&["run", "--rm", "--network", "none", "--sysctl", "vm.swappiness=1", &e.bb(), "true"]).contains("not allowed"));
    assert!(e.fails(&["run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", &e.bb(), "true"]).contains("host network namespace"));

    // --device: a node of the test's own for /dev/fuse (10:229, which docker's
    // defaults do not allow), opened for reading only where ":r" gave it.
    let dir = tempdir("flags-dev");
    let node = dir.join("fuse");
    let st = std::process::Command::new("mknod").arg(&node).args(["c", "10", "229"]).status().unwrap();
    assert!(st.success());
    let o = sh(&e, &["--device", &format!("{}:/dev/xfuse:r", node.display())], "ls -l /dev/xfuse; (exec 3</dev/xfuse) && echo read-ok; (exec 4>/dev/xfuse) 2>&1 || echo write-refused");
    assert!(o.starts_with("crw") && o.contains("10, 229") && o.contains("read-ok") && o.contains("write-refused"), "{o}");
    let o = sh(&e, &["--device", &format!("{}:/dev/xfuse", node.display())], "exec 4>/dev/xfuse && echo write-ok");
    assert!(o.contains("write-ok"), "rwm by default: {o}");
    let o = sh(&e, &[], "mknod /tmp/f c 10 229 && echo made; (exec 3</tmp/f) 2>/dev/null && echo read-ok; true");
    assert!(o.contains("made") && !o.contains("read-ok"), "the cgroup denies a device not given with --device: {o}");
    let m = e.fails(&["run", "--rm", "--network", "none", "--device", "/etc/hostname", &e.bb(), "true"]);
    assert!(m.contains("not a device node"), "{m}");
    let _ = std::fs::remove_dir_all(&dir);

    e.refuses(&[
        (vec!["--ulimit", "nofile=10:5"], "soft limit"),
        (vec!["--ulimit", "bogus=1"], "ulimit"),
        (vec!["--tmpfs", "relative"], "mount path must be absolute"),
        (vec!["--shm-size", "x"], "--shm-size"),
        (vec!["--log-driver", "syslog"], "json-file"),
        (vec!["--log-opt", "compress=true"], "unknown log opt"),
        (vec!["--log-opt", "max-file=3"], "max-file cannot be set without max-size"),
    ]);
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "", "refused creates leave no container");
}

#[test]
fn cpu_memory_cgroups_stop_options_env_file_cidfile_and_log_rotation() {
    let e = Env::new("flags-res");
    let id = e.run_d(&["--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--memory-reservation", "32m", &e.bb(), "sleep", "100"]);
    let quota = cgroup_file(&id, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "50000" || quota == "50000 100000", "{quota}");
    let shares = cgroup_file(&id, "cpu", "cpu.shares", "cpu.weight");
    assert!(shares == "512" || shares == "20", "cpu.shares 512 (v2 weight 20): {shares}");
    assert_eq!(cgroup_file(&id, "cpuset", "cpuset.cpus", "cpuset.cpus"), "0");
    assert_eq!(cgroup_file(&id, "memory", "memory.soft_limit_in_bytes", "memory.low"), (32u64 << 20).to_string());
    let v = e.inspect_c(&id);
    assert_eq!((v["HostConfig"]["NanoCpus"].as_i64(), v["HostConfig"]["CpuShares"].as_i64()), (Some(500_000_000), Some(512)));
    assert_eq!(v["HostConfig"]["CpusetCpus"], "0");
    e.ok(&["rm", "-f", &id]);
    let ncpu = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let m = e.fails(&["run", "--rm", "--network", "none", "--cpus", "1000", &e.bb(), "true"]);
    assert!(m.contains("Range of CPUs"), "{m}");
    let m = e.fails(&["run", "--rm", "--network", "none", "--cpuset-cpus", "999", &e.bb(), "true"]);
    assert!(m.contains("Requested CPUs are not available") && m.contains(ncpu.trim()), "{m}");
    let m = e.fails(&["run", "--rm", "--network", "none", "--cpus", "1", "--cpu-quota", "50000", &e.bb(), "true"]);
    assert!(m.contains("Conflicting options"), "{m}");
    // Block I/O weight: applied where this host's cgroups have it, else refused.
    let weight_file = Path::new("/sys/fs/cgroup/blkio/blkio.weight");
    if Path::new("/sys/fs/cgroup/blkio").is_dir() && !weight_file.exists() {
        let m = e.fails(&["run", "--rm", "--network", "none", "--blkio-weight", "300", &e.bb(), "true"]);
        assert!(m.contains("no weight"), "{m}");
    } else {
        let id = e.run_d(&["--blkio-weight", "300", &e.bb(), "sleep", "100"]);
        let w = cgroup_file(&id, "blkio", "blkio.weight", "io.weight");
        assert!(w.contains("300") || w.contains("3000"), "{w}");
        e.ok(&["rm", "-f", &id]);
    }

    // --stop-signal and --stop-timeout are what stop uses.
    e.run_d(&["--name", "usr1", "--stop-signal", "USR1", &e.bb(), "sh", "-c", "trap 'exit 7' USR1; while true; do sleep 0.1; done"]);
    e.ok(&["stop", "usr1"]);
    assert_eq!(e.inspect_c("usr1")["State"]["ExitCode"], 7);
    e.ok(&["rm", "usr1"]);
    e.run_d(&["--name", "stubborn", "--stop-timeout", "1", &e.bb(), "sleep", "1000"]);
    assert_eq!(e.inspect_c("stubborn")["Config"]["StopTimeout"], 1);
    let t = Instant::now();
    e.ok(&["stop", "stubborn"]);
    assert!(t.elapsed() >= Duration::from_millis(900) && t.elapsed() < Duration::from_secs(5), "stop waited the container's 1 s: {:?}", t.elapsed());
    e.ok(&["rm", "stubborn"]);

    // --env-file, and --cidfile (which must not exist yet).
    let dir = tempdir("flags-res");
    let envf = dir.join("env");
    std::fs::write(&envf, "# comment\nA=1\n\nB=two words\nBERTH_IT_FROM_HOST\n").unwrap();
    let cid = dir.join("cid");
    let bb = e.bb();
    let o = e
        .berth_cmd()
        .env("BERTH_IT_FROM_HOST", "inherited")
        .args(["run", "--rm", "--network", "none", "--env-file", envf.to_str().unwrap(), "--cidfile", cid.to_str().unwrap(), &bb, "sh", "-c", "echo \"$A|$B|$BERTH_IT_FROM_HOST\""])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1|two words|inherited\n", "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&cid).unwrap().len(), 64);
    let m = e.fails(&["run", "--rm", "--network", "none", "--cidfile", cid.to_str().unwrap(), &bb, "true"]);
    assert!(m.contains("Container ID file found"), "{m}");
    assert!(e.fails(&["run", "--rm", "--network", "none", "--env-file", "/nonexistent-env", &bb, "true"]).contains("/nonexistent-env"));
    let _ = std::fs::remove_dir_all(&dir);

    // --log-opt max-size/max-file: the json log rotates and stays bounded.
    let id = e.run_d(&["--log-opt", "max-size=2k", "--log-opt", "max-file=2", &e.bb(), "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"]);
    e.wait_state(&id, "exited");
    let state = PathBuf::from("/run/berth/containers").join(&id);
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().contains("-json.log"))
        .map(|f| (f.file_name().to_string_lossy().into_owned(), f.metadata().unwrap().len()))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "the log and one rotated file: {files:?}");
    assert!(files.iter().all(|(_, n)| *n <= 2048), "{files:?}");
    let logs = e.ok(&["logs", &id]);
    assert!(logs.trim_end().ends_with("line-299-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), "{logs}");
    let v = e.inspect_c(&id);
    assert_eq!(v["HostConfig"]["LogConfig"]["Config"]["max-size"], "2k");
    e.ok(&["rm", &id]);
}

#[test]
fn init_forwards_signals_and_reaps() {
    let e = Env::new("flags-init");
    let bb = e.bb();
    // pid 1 is berth's init, the command its child.
    let o = sh(&e, &["--init"], "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$");
    let lines: Vec<&str> = o.lines().collect();
    assert!(lines[0].starts_with("/dev/init -- sh -c"), "{o}");
    assert_ne!(lines[1], "1", "the command is not pid 1");
    // An orphan is reaped by init: no zombie stays.
    let o = sh(&e, &["--init"], "sh -c 'sleep 0.2 & exit 0'; sleep 1; ps -o stat,comm | grep -c '^Z' || true");
    assert_eq!(o.trim(), "0", "{o}");
    // stop's SIGTERM reaches a command that has no handler for it: it ends at once with 143.
    e.run_d(&["--name", "with-init", "--init", &bb, "sleep", "1000"]);
    let t = Instant::now();
    e.ok(&["stop", "-t", "10", "with-init"]);
    assert!(t.elapsed() < Duration::from_secs(5), "init forwarded SIGTERM: {:?}", t.elapsed());
    let v = e.inspect_c("with-init");
    assert_eq!((v["State"]["ExitCode"].as_i64(), v["HostConfig"]["Init"].as_bool()), (Some(143), Some(true)));
    e.ok(&["rm", "with-init"]);
    // The exit code and a read-only rootfs pass through.
    let o = e.berth(&["run", "--rm", "--network", "none", "--init", "--read-only", &bb, "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    let o = e.berth(&["run", "--rm", "--network", "none", "--init", &bb, "/nonexistent"]);
    assert_eq!(o.status.code(), Some(127), "{}", String::from_utf8_lossy(&o.stderr));
}
