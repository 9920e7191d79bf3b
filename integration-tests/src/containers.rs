//! A daemon for container tests: busybox pulled from the fixture registry,
//! helpers to run and inspect, and on drop every container removed and the
//! host checked for what a container may leave behind (mounts, shims,
//! cgroups, state directories).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::*;

/// A daemon with busybox pulled; on drop every container is removed and
/// the host is checked for leftovers (when the test has not already failed).
pub struct Env {
    pub d: Daemon,
    pub reg: String,
    pub ids: std::cell::RefCell<Vec<String>>,
}

impl std::ops::Deref for Env {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.d
    }
}

impl Env {
    pub fn new(name: &str) -> Env {
        let reg = registry();
        let d = Daemon::start(name);
        d.ok(&["pull", "-q", &format!("{reg}/busybox")]);
        Env { d, reg, ids: Default::default() }
    }

    pub fn bb(&self) -> String {
        format!("{}/busybox", self.reg)
    }

    /// `berth run -d --network none ARGS...` and the container's id.
    pub fn run_d(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--network", "none"];
        a.extend_from_slice(args);
        let id = self.ok(&a).trim().to_string();
        assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");
        self.ids.borrow_mut().push(id.clone());
        id
    }

    pub fn inspect_c(&self, name: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["container", "inspect", name])).unwrap();
        v[0].clone()
    }

    pub fn wait_state(&self, name: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.inspect_c(name);
            if v["State"]["Status"] == want {
                return v;
            }
            assert!(Instant::now() < deadline, "{name} never became {want}: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `run --rm --network none FLAGS... busybox true` for each case is
    /// refused with a message holding the case's text.
    pub fn refuses(&self, cases: &[(Vec<&str>, &str)]) {
        let bb = self.bb();
        for (flags, want) in cases {
            let mut a = vec!["run", "--rm", "--network", "none"];
            a.extend_from_slice(flags);
            a.extend_from_slice(&[&bb, "true"]);
            let m = self.fails(&a);
            assert!(m.contains(want), "{flags:?}: {m}");
        }
    }

    pub fn remember(&self, name: &str) {
        if let Ok(v) = serde_json::from_str::<Value>(&String::from_utf8_lossy(&self.berth(&["container", "inspect", name]).stdout)) {
            if let Some(id) = v[0]["Id"].as_str() {
                self.ids.borrow_mut().push(id.to_string());
            }
        }
    }
}

pub fn leftovers(root: &str, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for l in std::fs::read_to_string("/proc/mounts").unwrap_or_default().lines() {
        if l.contains(root) {
            out.push(format!("mount: {l}"));
        }
    }
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
                let c = String::from_utf8_lossy(&c).replace('\0', " ");
                if c.contains("berth-shim") && ids.iter().any(|i| c.contains(i.as_str())) {
                    out.push(format!("shim: {} {c}", e.file_name().to_string_lossy()));
                }
            }
        }
    }
    for id in ids {
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in rd.flatten() {
                for p in [h.path().join("berth").join(id), PathBuf::from("/sys/fs/cgroup/berth").join(id)] {
                    if p.exists() {
                        out.push(format!("cgroup: {}", p.display()));
                    }
                }
            }
        }
        if PathBuf::from("/run/berth/containers").join(id).exists() {
            out.push(format!("state dir of {id}"));
        }
    }
    out
}

impl Drop for Env {
    fn drop(&mut self) {
        let all = String::from_utf8_lossy(&self.d.berth(&["ps", "-aq", "--no-trunc"]).stdout).into_owned();
        let mut ids = self.ids.borrow().clone();
        for id in all.split_whitespace() {
            ids.push(id.to_string());
            let _ = self.d.berth(&["rm", "-f", id]);
        }
        if std::thread::panicking() {
            return;
        }
        let root = self.d.data_root.display().to_string();
        // AutoRemove and exits are seen within a second or so.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut left = leftovers(&root, &ids);
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            left = leftovers(&root, &ids);
        }
        assert!(left.is_empty(), "left behind: {left:#?}\n--- berthd log:\n{}", self.d.log());
        let remaining = String::from_utf8_lossy(&self.d.berth(&["ps", "-aq"]).stdout).into_owned();
        assert!(remaining.trim().is_empty(), "containers left: {remaining}");
    }
}

