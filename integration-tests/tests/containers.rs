//! Containers under berthd: run/ps/logs/stop/kill/rm/wait/inspect through
//! the berth CLI, image config applied, limits (OOM), refusals, and live
//! restore after berthd is SIGKILLed. Every test checks that nothing is
//! left: no mount under its data root, no shim, no cgroup.

use std::time::{Duration, Instant};

use berth_integration_tests::containers::{leftovers, Env};

#[test]
fn run_detached_ps_logs_stop() {
    let e = Env::new("ctr-basic");
    let bb = e.bb();
    let id = e.run_d(&["--name", "web", &bb, "sh", "-c", "echo one; echo two >&2; trap 'echo bye; exit 7' TERM; while true; do sleep 0.1; done"]);
    let ps = e.ok(&["ps"]);
    let lines: Vec<&str> = ps.lines().collect();
    assert!(lines[0].starts_with("CONTAINER ID") && lines[0].contains("NAMES"), "{ps}");
    let row = lines.iter().find(|l| l.ends_with("web")).unwrap_or_else(|| panic!("web not listed: {ps}"));
    assert!(row.starts_with(&id[..12]) && row.contains(" Up ") && row.contains(&bb) && row.contains("\"sh -c echo one; ech…\""), "{row}");
    assert_eq!(e.ok(&["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(e.ok(&["ps", "-q", "--no-trunc"]).trim(), id);
    // Unique prefix and name resolve like the full id.
    assert_eq!(e.inspect_c(&id[..6])["Id"], id.as_str());
    let v = e.inspect_c("web");
    assert_eq!((v["Name"].as_str(), v["State"]["Running"].as_bool()), (Some("/web"), Some(true)));
    assert!(v["State"]["Pid"].as_i64().unwrap() > 0);

    // Output reaches the log.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = e.berth(&["logs", "web"]);
        if String::from_utf8_lossy(&o.stdout) == "one\n" && String::from_utf8_lossy(&o.stderr) == "two\n" {
            break;
        }
        assert!(Instant::now() < deadline, "logs: {:?} / {:?}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        std::thread::sleep(Duration::from_millis(50));
    }
    let ts = e.ok(&["logs", "-t", "web"]);
    assert!(ts.starts_with("20") && ts.contains("Z one\n"), "{ts}");

    e.ok(&["stop", "-t", "5", "web"]);
    let v = e.inspect_c("web");
    assert_eq!((v["State"]["Status"].as_str(), v["State"]["ExitCode"].as_i64(), v["State"]["Running"].as_bool()), (Some("exited"), Some(7), Some(false)), "{v}");
    assert_ne!(v["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
    assert!(e.ok(&["logs", "--tail", "1", "web"]).ends_with("bye\n"));
    assert_eq!(e.ok(&["ps", "-q"]).trim(), "");
    let all = e.ok(&["ps", "-a"]);
    assert!(all.contains("Exited (7) "), "{all}");
    assert!(leftovers(&e.data_root.display().to_string(), std::slice::from_ref(&id)).iter().all(|l| !l.starts_with("mount")), "rootfs still mounted after the exit");

    // Restart of an exited container, then kill with a signal.
    e.ok(&["start", "web"]);
    e.wait_state("web", "running");
    e.ok(&["kill", "-s", "KILL", "web"]);
    let v = e.wait_state("web", "exited");
    assert_eq!(v["State"]["ExitCode"], 137);
    assert!(e.fails(&["kill", "web"]).contains("is not running"));
    e.ok(&["rm", "web"]);
    assert!(e.fails(&["inspect", "web"]).contains("No such object"));
}

#[test]
fn foreground_run_exit_code_and_rm() {
    let e = Env::new("ctr-fg");
    let bb = e.bb();
    let o = e.berth(&["run", "--network", "none", "--name", "fg", &bb, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    e.remember("fg");
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    assert_eq!(e.ok(&["wait", "fg"]).trim(), "3");
    e.ok(&["rm", "fg"]);

    // Foreground --rm: gone when run returns.
    let o = e.berth(&["run", "--rm", "--network", "none", "--name", "fgrm", &bb, "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(!e.ok(&["ps", "-a"]).contains("fgrm"));

    // Detached --rm: the daemon removes it after the exit.
    e.run_d(&["--rm", "--name", "bgrm", &bb, "sh", "-c", "sleep 0.2"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.ok(&["ps", "-a"]).contains("bgrm") {
        assert!(Instant::now() < deadline, "--rm container still listed");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A command that does not exist: docker's 127.
    let o = e.berth(&["run", "--rm", "--network", "none", &bb, "/no/such/binary"]);
    assert_eq!(o.status.code(), Some(127), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn rm_force_running_and_stop_timeout() {
    let e = Env::new("ctr-rmf");
    let bb = e.bb();
    e.run_d(&["--name", "sleeper", &bb, "sleep", "1000"]);
    assert!(e.fails(&["rm", "sleeper"]).contains("container is running"));
    e.ok(&["rm", "-f", "sleeper"]);
    assert!(!e.ok(&["ps", "-a"]).contains("sleeper"));

    // pid 1 ignores SIGTERM without a handler: stop falls back to SIGKILL after -t.
    e.run_d(&["--name", "stubborn", &bb, "sleep", "1000"]);
    let t = Instant::now();
    e.ok(&["stop", "-t", "1", "stubborn"]);
    assert!(t.elapsed() >= Duration::from_millis(900) && t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert_eq!(e.inspect_c("stubborn")["State"]["ExitCode"], 137);
}

#[test]
fn memory_limit_oom_is_reported() {
    let e = Env::new("ctr-oom");
    let bb = e.bb();
    e.run_d(&["--name", "hog", "-m", "16m", "--pids-limit", "50", &bb, "tail", "/dev/zero"]);
    let v = e.wait_state("hog", "exited");
    assert_eq!((v["State"]["OOMKilled"].as_bool(), v["State"]["ExitCode"].as_i64()), (Some(true), Some(137)), "{v}");
    assert_eq!(v["HostConfig"]["Memory"], 16 << 20);
    assert_eq!(v["HostConfig"]["PidsLimit"], 50);

    // The pids limit holds: forking past it fails inside the container.
    let o = e.berth(&["run", "--rm", "--network", "none", "--pids-limit", "5", &bb, "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("can't fork") || String::from_utf8_lossy(&o.stderr).contains("Resource temporarily unavailable"), "{:?}", o);
}

#[test]
fn image_config_is_applied() {
    let e = Env::new("ctr-img");
    let web = format!("{}/webapp", e.reg);
    e.ok(&["pull", "-q", &web]);
    let o = e.berth(&["run", "--rm", "--network", "none", "--entrypoint", "", &web, "sh", "-c", "id -u; id -g; pwd; echo \"$GREETING|$APP_MODE|$HOME\"; hostname; cat /etc/hostname"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out} {}", String::from_utf8_lossy(&o.stderr));
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(&l[..4], ["1000", "1000", "/app", "hello world|production|/home/app"], "{out}");
    assert_eq!(l[4], l[5], "hostname and /etc/hostname agree");
    // Overrides: -u, -w, -e, -h.
    let o = e.ok(&["run", "--rm", "--network", "none", "-u", "0:0", "-w", "/tmp", "-e", "APP_MODE=test", "-h", "box1", "--entrypoint", "", &web, "sh", "-c", "id -u; pwd; echo $APP_MODE; hostname"]);
    assert_eq!(o, "0\n/tmp\ntest\nbox1\n");
    // Docker's defaults: capabilities, masked paths, seccomp.
    let o = e.ok(&["run", "--rm", "--network", "none", &e.bb(), "sh", "-c", "grep -E '^(CapBnd|Seccomp):' /proc/self/status; cat /proc/kcore | wc -c; ls /sys/class/net"]);
    assert!(o.contains("CapBnd:\t00000000a80425fb"), "{o}");
    assert!(o.contains("Seccomp:\t2"), "{o}");
    assert!(o.contains("\n0\n") && o.trim_end().ends_with("lo"), "{o}");
    // The image's StopSignal (SIGQUIT) is what stop sends.
    e.run_d(&["--name", "quitter", "--entrypoint", "", &web, "sh", "-c", "trap 'exit 9' QUIT; while true; do sleep 0.1; done"]);
    e.ok(&["stop", "-t", "10", "quitter"]);
    assert_eq!(e.inspect_c("quitter")["State"]["ExitCode"], 9);
    e.ok(&["rm", "quitter"]);
    // Host networking sees the host's interfaces.
    let o = e.ok(&["run", "--rm", "--network", "host", &e.bb(), "ls", "/sys/class/net"]);
    assert!(o.lines().count() >= 1);
}

#[test]
fn refusals_are_clear() {
    let e = Env::new("ctr-refuse");
    let bb = e.bb();
    let m = e.fails(&["run", "--network", "mynet", &bb, "true"]);
    assert!(m.contains("network mynet not found"), "{m}");
    assert!(e.fails(&["run", "--network", "none", "--link", "a:b", &bb, "true"]).contains("--link"));
    assert!(e.fails(&["run", "--network", "none", "-p", "80:80", &bb, "true"]).contains("published ports need bridge networking"));
    assert!(e.fails(&["run", "--network", "none", "--bogus", &bb]).contains("--bogus"));
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "", "a refused create leaves no container");
    // A start that fails leaves the created container, as docker's does.
    assert!(e.fails(&["run", "--network", "none", "--name", "nouser", "-u", "nobody-here", &bb, "true"]).contains("unable to find user nobody-here"));
    e.remember("nouser");
    assert_eq!(e.inspect_c("nouser")["State"]["Status"], "created");
    e.ok(&["rm", "nouser"]);
    assert!(e.fails(&["ps", "--bogus"]).contains("bogus"));
    assert!(e.fails(&["logs", "nope"]).contains("No such container: nope"));
    e.ok(&["create", "--network", "none", "--name", "dup", &bb]);
    e.remember("dup");
    let m = e.fails(&["rmi", &bb]);
    assert!(m.contains("being used by container"), "{m}");
    assert!(e.fails(&["create", "--network", "none", "--name", "dup", &bb]).contains("is already in use"));
    e.ok(&["rm", "dup"]);
    e.ok(&["rmi", &bb]);
}

#[test]
fn live_restore_after_sigkill() {
    let mut e = Env::new("ctr-live");
    let bb = e.bb();
    let id = e.run_d(&["--name", "survivor", &bb, "sh", "-c", "echo started; sleep 1000"]);
    e.run_d(&["--name", "quick", &bb, "sh", "-c", "sleep 1; exit 4"]);
    e.d.kill9();
    // `quick` exits while berthd is down.
    std::thread::sleep(Duration::from_millis(1500));
    e.d.start_again();
    let ps = e.ok(&["ps"]);
    assert!(ps.lines().any(|l| l.starts_with(&id[..12]) && l.contains(" Up ")), "{ps}");
    let v = e.inspect_c("quick");
    assert_eq!((v["State"]["Status"].as_str(), v["State"]["ExitCode"].as_i64()), (Some("exited"), Some(4)), "{v}");
    assert_eq!(e.ok(&["logs", "survivor"]), "started\n");
    e.ok(&["stop", "-t", "1", "survivor"]);
    assert_eq!(e.inspect_c("survivor")["State"]["ExitCode"], 137);
}
