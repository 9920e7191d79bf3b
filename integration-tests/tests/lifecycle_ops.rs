//! Container lifecycle beyond run/stop under berthd: restart policies
//! (counts, backoff, a user's stop, berthd starting after a "power cut"),
//! pause/unpause, restart, rename, container prune, the event stream, ps
//! filters and formats, and logs --since/--until.

use std::time::{Duration, Instant};

use berth_integration_tests::containers::Env;
use serde_json::Value;

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pid_alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn restart_policies() {
    let mut e = Env::new("restart");
    let bb = e.bb();
    // on-failure:2 restarts a failure twice, then leaves it exited.
    e.run_d(&["--name", "flaky", "--restart", "on-failure:2", &bb, "sh", "-c", "exit 3"]);
    eventually("two restarts", || {
        let v = e.inspect_c("flaky");
        v["RestartCount"] == 2 && v["State"]["Status"] == "exited"
    });
    std::thread::sleep(Duration::from_millis(1500));
    let v = e.inspect_c("flaky");
    assert_eq!((v["RestartCount"].as_i64(), v["State"]["ExitCode"].as_i64()), (Some(2), Some(3)), "no third restart");
    assert_eq!(v["HostConfig"]["RestartPolicy"], serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2}));
    // on-failure does not restart a success; always does.
    e.run_d(&["--name", "ok-once", "--restart", "on-failure", &bb, "true"]);
    e.run_d(&["--name", "again", "--restart", "always", &bb, "sh", "-c", "sleep 0.2"]);
    eventually("always restarting a success", || e.inspect_c("again")["RestartCount"].as_i64().unwrap_or(0) >= 2);
    assert_eq!(e.inspect_c("ok-once")["RestartCount"], 0);
    // A user's stop wins over always, and over a pending restart.
    e.ok(&["stop", "-t", "1", "again"]);
    let count = e.inspect_c("again")["RestartCount"].as_i64().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let v = e.inspect_c("again");
    assert_eq!((v["State"]["Status"].as_str(), v["RestartCount"].as_i64()), (Some("exited"), Some(count)), "stopped stays stopped");

    // A "power cut": berthd, the shims and the containers die at once. At
    // berthd's start, always and unless-stopped come back; a stopped
    // unless-stopped and a no-policy container do not; always comes back even stopped.
    e.run_d(&["--name", "svc-always", "--restart", "always", &bb, "sleep", "1000"]);
    e.run_d(&["--name", "svc-unless", "--restart", "unless-stopped", &bb, "sleep", "1000"]);
    e.run_d(&["--name", "svc-none", &bb, "sleep", "1000"]);
    e.run_d(&["--name", "svc-stopped", "--restart", "unless-stopped", &bb, "sleep", "1000"]);
    e.ok(&["stop", "-t", "0", "svc-stopped"]);
    let pids: Vec<i64> = ["svc-always", "svc-unless", "svc-none"].iter().map(|n| e.inspect_c(n)["State"]["Pid"].as_i64().unwrap()).collect();
    e.d.kill9();
    let shims = std::process::Command::new("pkill").args(["-9", "-f", &format!("berth-shim .*{}", e.d.data_root.display())]).status().unwrap();
    assert!(shims.success());
    for p in &pids {
        // SAFETY: kill(2) with a pid the test read from inspect.
        unsafe { libc::kill(*p as i32, libc::SIGKILL) };
    }
    eventually("the containers to be gone", || pids.iter().all(|p| !pid_alive(*p)));
    e.d.start_again();
    eventually("always and unless-stopped back", || e.inspect_c("svc-always")["State"]["Status"] == "running" && e.inspect_c("svc-unless")["State"]["Status"] == "running");
    let none = e.inspect_c("svc-none");
    assert_eq!((none["State"]["Status"].as_str(), none["State"]["ExitCode"].as_i64()), (Some("exited"), Some(255)), "{none}");
    assert_eq!(e.inspect_c("svc-stopped")["State"]["Status"], "exited");
    assert_eq!(e.inspect_c("again")["State"]["Status"], "running", "always comes back at berthd's start even after a stop");
    // They really run: exec works in the restarted one.
    assert_eq!(e.ok(&["exec", "svc-always", "echo", "alive"]), "alive\n");
    e.refuses(&[
        (vec!["-d", "--restart", "sometimes"], "invalid restart policy"),
        (vec!["-d", "--restart", "always:3"], "only be used with 'on-failure'"),
        (vec!["-d", "--restart", "always"], "restart policy and auto-remove"),
    ]);
}

#[test]
fn pause_restart_rename_prune_events_ps_and_logs() {
    let e = Env::new("ops");
    let bb = e.bb();
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();

    // pause: the counter stops while frozen, and goes on after unpause.
    let id = e.run_d(&["--name", "counter", "-l", "tier=back", &bb, "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"]);
    std::thread::sleep(Duration::from_millis(300));
    e.ok(&["pause", "counter"]);
    let v = e.inspect_c("counter");
    assert_eq!((v["State"]["Status"].as_str(), v["State"]["Paused"].as_bool(), v["State"]["Running"].as_bool()), (Some("paused"), Some(true), Some(true)));
    assert!(e.ok(&["ps", "--filter", "status=paused", "--format", "{{.Names}} {{.Status}}"]).contains("counter Up"), "ps shows it paused");
    let frozen = std::fs::read_to_string(e.d.data_root.join("containers").join(&id).join("upper/tmp/n")).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(std::fs::read_to_string(e.d.data_root.join("containers").join(&id).join("upper/tmp/n")).unwrap(), frozen, "no progress while paused");
    assert!(e.fails(&["pause", "counter"]).contains("already paused"));
    e.ok(&["unpause", "counter"]);
    std::thread::sleep(Duration::from_millis(300));
    let later: i64 = std::fs::read_to_string(e.d.data_root.join("containers").join(&id).join("upper/tmp/n")).unwrap().trim().parse().unwrap();
    assert!(later > frozen.trim().parse::<i64>().unwrap(), "it goes on after unpause");
    // A paused container can still be stopped.
    e.ok(&["pause", "counter"]);
    e.ok(&["stop", "-t", "1", "counter"]);
    assert_eq!(e.inspect_c("counter")["State"]["Status"], "exited");

    // restart: same container, a new start.
    let r = e.run_d(&["--name", "r1", &bb, "sleep", "100"]);
    let before = e.inspect_c(&r);
    e.ok(&["restart", "-t", "0", "r1"]);
    let after = e.inspect_c(&r);
    assert_eq!(after["State"]["Status"], "running");
    assert_ne!(after["State"]["Pid"], before["State"]["Pid"]);
    assert_ne!(after["State"]["StartedAt"], before["State"]["StartedAt"]);

    // rename: unique names.
    e.ok(&["rename", "r1", "r2"]);
    assert_eq!(e.inspect_c(&r)["Name"], "/r2");
    assert!(e.fails(&["rename", "r2", "counter"]).contains("is already in use"));
    assert!(e.fails(&["rename", "r2", "bad/name"]).contains("Invalid container name"));

    // ps: filters, -n/-l, --format.
    assert_eq!(e.berth(&["run", "--network", "none", "--name", "ex3", "-l", "tier=front", &bb, "sh", "-c", "exit 3"]).status.code(), Some(3));
    e.remember("ex3");
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = e.ok(&a).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), ["r2"]);
    assert_eq!(names(&["-a", "--filter", "status=exited"]), ["counter", "ex3"]);
    assert_eq!(names(&["--filter", "exited=3"]), ["ex3"]);
    assert_eq!(names(&["-a", "--filter", "label=tier=front"]), ["ex3"]);
    assert_eq!(names(&["-a", "--filter", "label=tier"]), ["counter", "ex3"]);
    assert_eq!(names(&["-a", "--filter", "name=r2"]), ["r2"]);
    assert_eq!(names(&["-a", "--filter", &format!("ancestor={bb}"), "--filter", "status=running"]), ["r2"]);
    assert_eq!(names(&["-l"]), ["ex3"], "-l: the latest created, any state");
    assert_eq!(names(&["-n", "2"]).len(), 2);
    assert_eq!(names(&["-a", "--filter", "since=counter"]), ["ex3", "r2"]);
    assert_eq!(names(&["-a", "--filter", "before=r2"]), ["counter"]);
    let j: Value = serde_json::from_str(e.ok(&["ps", "--format", "json", "--filter", "name=r2"]).trim()).unwrap();
    assert_eq!(j["Names"], "r2");
    assert!(e.ok(&["ps", "--format", "table {{.ID}}\t{{.Status}}"]).starts_with("CONTAINER ID"));
    assert!(e.fails(&["ps", "--filter", "status=bogus"]).contains("invalid filter"));

    // logs --since/--until by the entries' times.
    let lid = e.run_d(&["--name", "talker", &bb, "sh", "-c", "echo early; sleep 2; echo late"]);
    e.wait_state(&lid, "exited");
    let v = e.inspect_c(&lid);
    let started = v["State"]["StartedAt"].as_str().unwrap().to_string();
    let all = e.ok(&["logs", "talker"]);
    assert_eq!(all, "early\nlate\n");
    let late = e.ok(&["logs", "--since", "1s", "talker"]);
    assert!(late == "late\n" || late.is_empty(), "only what came in the last second: {late:?}");
    let since_start_plus = &e.ok(&["logs", "--since", &(t0 + 100_000).to_string(), "talker"]);
    assert_eq!(since_start_plus, "", "nothing after a time in the future");
    let until = e.ok(&["logs", "--until", &started, "talker"]);
    assert_eq!(until, "", "nothing before the start");
    assert_eq!(e.ok(&["logs", "--since", &t0.to_string(), "-n", "1", "talker"]), "late\n");

    // container prune: the stopped ones, narrowed by label.
    let o = e.ok(&["container", "prune", "-f", "--filter", "label=tier=front"]);
    assert!(o.contains("Deleted Containers") && !o.contains(&id));
    assert_eq!(names(&["-a", "--filter", "name=ex3"]), Vec::<String>::new());
    let o = e.ok(&["container", "prune", "-f"]);
    assert!(o.contains(&id) && o.contains(&lid) && o.contains("Total reclaimed space"), "{o}");
    assert_eq!(names(&["-a"]), ["r2"], "running containers are not pruned");

    // events: what happened, filtered, in docker's shapes.
    let ev = e.ok(&["events", "--since", &t0.to_string(), "--until", "0s", "--filter", "container=counter", "--format", "{{.Action}}"]);
    let actions: Vec<&str> = ev.lines().collect();
    for want in ["create", "start", "pause", "unpause", "die", "stop", "destroy"] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
    let ev = e.ok(&["events", "--since", &t0.to_string(), "--until", "0s", "--filter", "event=die", "--format", "json"]);
    let dies: Vec<Value> = ev.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ex3 = dies.iter().find(|d| d["Actor"]["Attributes"]["name"] == "ex3").expect("ex3's die");
    assert_eq!((ex3["Actor"]["Attributes"]["exitCode"].as_str(), ex3["Actor"]["Attributes"]["tier"].as_str(), ex3["status"].as_str()), (Some("3"), Some("front"), Some("die")));
    let ev = e.ok(&["events", "--since", &t0.to_string(), "--until", "0s", "--filter", &format!("container={r}")]);
    assert!(ev.contains("container rename") && ev.contains("name=r2, oldName=/r1") && ev.contains("container restart"), "{ev}");
    // Live: an exec shows up on a stream opened before it.
    let mut live = e.berth_cmd().args(["events", "--filter", "event=exec_start", "--format", "{{.Action}}"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    e.ok(&["exec", "r2", "true"]);
    std::thread::sleep(Duration::from_millis(300));
    let _ = live.kill();
    let out = live.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "exec_start: true");
}
