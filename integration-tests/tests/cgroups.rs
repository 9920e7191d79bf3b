//! Cgroup limits, proven by their effect: a memory hog is OOM-killed, forks
//! stop at pids.max, a denied device cannot be opened, a paused container
//! makes no progress, an update applies to a running container.
//!
//! The same tests run on the host (cgroup v1/hybrid) and, through
//! `make test-v2`, inside a pure cgroup2 VM.

use berth_integration_tests::*;
use serde_json::{json, Value};

fn unified() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A cgroup file of container `id`, wherever this host keeps it.
fn cg_read(id: &str, v1_controller: &str, v1_file: &str, v2_file: &str) -> String {
    let p = if unified() { format!("/sys/fs/cgroup/{id}/{v2_file}") } else { format!("/sys/fs/cgroup/{v1_controller}/{id}/{v1_file}") };
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {p}: {e}")).trim().to_string()
}

fn probe_json(out: &str) -> Value {
    let line = out.lines().last().unwrap_or_else(|| panic!("no output"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn memory_hog_is_oom_killed() {
    let env = Env::new("cgmem");
    let mut b = env.bundle("a");
    // memory+swap equal to memory: no swap to escape into.
    b.config["linux"]["resources"] = json!({"memory": {"limit": 32 << 20, "swap": 32 << 20}});
    b.config["process"]["args"] = json!(["/bin/berth-probe", "alloc", "256"]);
    b.save();
    let id = env.id("a");
    let o = env.run(&["run", "--bundle", b.p(), &id]);
    assert_eq!(o.status.code(), Some(137), "SIGKILLed by the OOM killer: {}", String::from_utf8_lossy(&o.stdout));
    env.assert_gone(&id);

    // Under the limit, the same program completes.
    b.config["process"]["args"] = json!(["/bin/berth-probe", "alloc", "8"]);
    b.save();
    let out = env.ok(&["run", "--bundle", b.p(), &env.id("b")]);
    assert_eq!(probe_json(&out)["allocated_mb"], 8);
}

#[test]
fn forks_stop_at_pids_max() {
    let env = Env::new("cgpids");
    let mut b = env.bundle("a");
    b.config["linux"]["resources"] = json!({"pids": {"limit": 8}});
    b.config["process"]["args"] = json!(["/bin/berth-probe", "fork", "50"]);
    b.save();
    let out = env.ok(&["run", "--bundle", b.p(), &env.id("a")]);
    let r = probe_json(&out);
    // The probe itself is one of the 8.
    assert_eq!(r["forked"], 7, "{r}");
    assert_eq!(r["errno"], libc::EAGAIN, "fork fails with EAGAIN at pids.max: {r}");
}

#[test]
fn device_rules_are_enforced() {
    let env = Env::new("cgdev");
    let progs_before = bpf_prog_ids();
    let mut b = env.bundle("a");
    // /dev/kmsg (1:11) writable but not readable; /dev/mem (1:1) not at all.
    // (Opening kmsg for writing needs no capability; nothing is written.)
    b.config["linux"]["resources"] = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
    ]});
    let caps = json!(["CAP_MKNOD", "CAP_KILL"]);
    b.config["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.config["process"]["args"] = json!(["sh", "-c", "P=/bin/berth-probe; $P mknod-dev /dev/k0 1 11 && $P mknod-dev /dev/m0 1 1 && $P open /dev/k0 w; $P open /dev/k0 r; $P open /dev/m0 r; $P open /dev/null w"]);
    b.save();
    let out = env.ok(&["run", "--bundle", b.p(), &env.id("a")]);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(lines[0]["ok"], true, "mknod is allowed for any device (c *:* m)");
    assert_eq!(lines[1]["ok"], true);
    assert_eq!(lines[2]["ok"], true, "write open of a write-allowed device: {out}");
    assert_eq!(lines[3]["errno"], libc::EPERM, "read open of a write-only device: {out}");
    assert_eq!(lines[4]["errno"], libc::EPERM, "a device no rule allows: {out}");
    assert_eq!(lines[5]["ok"], true, "/dev/null is always allowed");
    env.assert_gone(&env.id("a"));
    if unified() {
        // While a container lives, its device program is loaded.
        b.config["process"]["args"] = json!(["sleep", "60"]);
        b.save();
        let id = env.id("p");
        env.ok(&["run", "-d", "--bundle", b.p(), &id]);
        assert!(bpf_prog_ids().iter().any(|id| !progs_before.contains(id)), "a new eBPF program for the container's devices");
        env.ok(&["delete", "--force", &id]);
        env.assert_gone(&id);
    }
    // On v2 the rules were an eBPF program: it goes with the cgroup (the
    // kernel frees it asynchronously once the cgroup is released).
    wait_until("the device program to be freed", || bpf_prog_ids().iter().all(|id| progs_before.contains(id)));
}

#[test]
fn cpu_settings_are_written() {
    let env = Env::new("cgcpu");
    let mut b = env.bundle("a");
    b.config["linux"]["resources"] = json!({"cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"}});
    b.config["process"]["args"] = json!(["sleep", "60"]);
    b.save();
    let id = env.id("a");
    env.ok(&["run", "-d", "--bundle", b.p(), &id]);
    if unified() {
        assert_eq!(cg_read(&id, "cpu", "", "cpu.weight"), "20", "shares 512 → weight 20 (runc's formula)");
        assert_eq!(cg_read(&id, "cpu", "", "cpu.max"), "20000 100000");
        assert_eq!(cg_read(&id, "cpuset", "", "cpuset.cpus"), "0");
    } else {
        assert_eq!(cg_read(&id, "cpu", "cpu.shares", ""), "512");
        assert_eq!(cg_read(&id, "cpu", "cpu.cfs_quota_us", ""), "20000");
        assert_eq!(cg_read(&id, "cpu", "cpu.cfs_period_us", ""), "100000");
        assert_eq!(cg_read(&id, "cpuset", "cpuset.cpus", ""), "0");
    }
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

#[test]
fn paused_container_makes_no_progress() {
    let env = Env::new("cgfreeze");
    let mut b = env.bundle("a");
    b.config["process"]["args"] = json!(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; done"]);
    b.save();
    let id = env.id("a");
    env.ok(&["run", "-d", "--bundle", b.p(), &id]);
    let count = || std::fs::read_to_string(b.rootfs().join("tmp/count")).unwrap_or_default().trim().parse::<u64>().unwrap_or(0);
    wait_until("the loop to count", || count() > 10);
    env.ok(&["pause", &id]);
    let frozen = count();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(count(), frozen, "no progress while paused");
    env.ok(&["resume", &id]);
    wait_until("progress after resume", || count() > frozen + 10);
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

#[test]
fn update_applies_to_a_running_container() {
    let env = Env::new("cgupd");
    let mut b = env.bundle("a");
    b.config["linux"]["resources"] = json!({"pids": {"limit": 100}, "memory": {"limit": 256 << 20}});
    b.config["process"]["args"] = json!(["sleep", "60"]);
    b.save();
    let id = env.id("a");
    env.ok(&["run", "-d", "--bundle", b.p(), &id]);
    env.ok(&["update", "--pids-limit", "4", "--memory", "64m", "--cpu-share", "256", &id]);
    assert_eq!(cg_read(&id, "pids", "pids.max", "pids.max"), "4");
    assert_eq!(cg_read(&id, "memory", "memory.limit_in_bytes", "memory.max"), (64u64 << 20).to_string());
    // The new pids limit holds for new processes: sleep is one, the probe another.
    let r = probe_json(&env.ok(&["exec", &id, "/bin/berth-probe", "fork", "10"]));
    assert_eq!(r["forked"], 2, "{r}");
    // -r takes a resources JSON (runc's shape), - for stdin is not needed here.
    let rf = env.dir.join("res.json");
    std::fs::write(&rf, json!({"pids": {"limit": 50}}).to_string()).unwrap();
    env.ok(&["update", "-r", rf.to_str().unwrap(), &id]);
    assert_eq!(cg_read(&id, "pids", "pids.max", "pids.max"), "50");
    // Bad values are refused with the reason.
    let err = env.fails(&["update", "--memory", "lots", &id]);
    assert!(err.contains("lots"), "{err}");
    let err = env.fails(&["update", "--no-such-flag", "1", &id]);
    assert!(err.contains("no-such-flag"), "{err}");

    // events --stats: one snapshot in runc's shape.
    let s: Value = serde_json::from_str(&env.ok(&["events", "--stats", &id])).unwrap();
    assert_eq!(s["type"], "stats");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["data"]["pids"]["current"], 1, "{s}");
    assert_eq!(s["data"]["pids"]["limit"], 50);
    assert_eq!(s["data"]["memory"]["usage"]["limit"], 64u64 << 20);
    assert!(s["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert!(s["data"]["cpu"]["usage"]["total"].as_u64().is_some());
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

#[test]
fn events_report_an_oom_kill() {
    let env = Env::new("cgoomev");
    let mut b = env.bundle("a");
    b.config["linux"]["resources"] = json!({"memory": {"limit": 32 << 20, "swap": 32 << 20}});
    b.config["process"]["args"] = json!(["sh", "-c", "sleep 0.5; /bin/berth-probe alloc 256; sleep 60"]);
    b.save();
    let id = env.id("a");
    env.ok(&["run", "-d", "--bundle", b.p(), &id]);
    let mut child = env.rt().args(["events", "--interval", "100ms", &id]).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut saw_oom = false;
    for _ in 0..200 {
        let Some(Ok(l)) = lines.next() else { break };
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["type"] == "oom" {
            saw_oom = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(saw_oom, "an oom event while the container's memory hog is killed");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

#[test]
fn missing_or_bad_limits_fail_create_and_leave_nothing() {
    let env = Env::new("cgbad");
    let mut b = env.bundle("a");
    let id = env.id("a");
    b.config["linux"]["resources"] = json!({"cpu": {"cpus": "999"}});
    b.save();
    let err = env.fails(&["create", "--bundle", b.p(), &id]);
    assert!(err.contains("cpuset.cpus") && err.contains("999"), "{err}");
    env.assert_gone(&id);
    b.config["linux"]["resources"] = json!({"devices": [{"allow": true, "type": "z"}]});
    b.save();
    let err = env.fails(&["create", "--bundle", b.p(), &id]);
    assert!(err.contains("linux.resources.devices[0].type"), "{err}");
    env.assert_gone(&id);
}
