//! One berthd under load and under SIGKILL: 50 `run -d` at once all
//! succeed, and a berthd killed in the middle of runs, stops and removals
//! comes back with every container either fully there or fully gone, and
//! nothing leaked once all are removed (the Env checks mounts, shims,
//! cgroups and state directories on drop).

use std::time::Duration;

use berth_integration_tests::containers::Env;

#[test]
fn fifty_detached_runs_at_once() {
    let e = Env::new("par50");
    let bb = e.bb();
    let ids: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..50)
            .map(|i| {
                let (d, bb) = (&e.d, bb.clone());
                sc.spawn(move || {
                    let o = d.berth(&["run", "-d", "--network", "none", "--name", &format!("p{i}"), &bb, "sleep", "1000"]);
                    assert!(o.status.success(), "run {i}: {}", String::from_utf8_lossy(&o.stderr));
                    String::from_utf8_lossy(&o.stdout).trim().to_string()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50);
    let running = e.ok(&["ps", "-q"]);
    assert_eq!(running.lines().count(), 50, "{running}");
    for id in &ids {
        e.ids.borrow_mut().push(id.clone());
    }
    // And all removed at once.
    std::thread::scope(|sc| {
        for id in &ids {
            let d = &e.d;
            sc.spawn(move || d.ok(&["rm", "-f", id]));
        }
    });
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn sigkill_of_berthd_mid_operations() {
    let mut e = Env::new("killmid");
    let bb = e.bb();
    for i in 0..4 {
        e.run_d(&["--name", &format!("old{i}"), &bb, "sleep", "1000"]);
    }
    // Runs, stops and removals in flight when berthd dies.
    let socket = e.d.socket.clone();
    let berth = berth_integration_tests::daemon::berth_bin();
    let mut kids = Vec::new();
    for i in 0..6 {
        kids.push(std::process::Command::new(&berth).env("BERTH_HOST", format!("unix://{}", socket.display())).args(["run", "-d", "--network", "none", "--name", &format!("new{i}"), &bb, "sleep", "1000"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap());
    }
    for (i, cmd) in [(0, "stop"), (1, "stop"), (2, "rm"), (3, "rm")] {
        let mut a = vec![cmd.to_string()];
        if cmd == "rm" {
            a.push("-f".into());
        } else {
            a.extend(["-t".into(), "1".into()]);
        }
        a.push(format!("old{i}"));
        kids.push(std::process::Command::new(&berth).env("BERTH_HOST", format!("unix://{}", socket.display())).args(&a).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap());
    }
    std::thread::sleep(Duration::from_millis(150));
    e.d.kill9();
    for mut k in kids {
        let _ = k.wait();
    }
    e.d.start_again();
    // Every record is whole: its state is one docker knows, and a running
    // one really runs (exec works); what is listed can be inspected.
    let all = e.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}} {{.Names}}"]);
    for l in all.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert!(matches!(f[1], "created" | "running" | "exited"), "{l}");
        e.ids.borrow_mut().push(f[0].to_string());
        if f[1] == "running" {
            assert_eq!(e.ok(&["exec", f[0], "echo", "ok"]), "ok\n", "{l}");
        }
        let v = e.inspect_c(f[0]);
        assert_eq!(v["Name"].as_str(), Some(format!("/{}", f[2]).as_str()));
    }
    // Everything can be removed, and the Env's drop finds nothing left.
    for l in all.lines() {
        e.ok(&["rm", "-f", l.split_whitespace().next().unwrap()]);
    }
    let _ = &mut e;
}
