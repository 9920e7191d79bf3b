//! berthd under test: a daemon per test with its own data root and socket
//! in a temp dir, stopped (and its dir removed) on drop; the fixture
//! registries it pulls from; and the berth CLI pointed at it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin(env: &str, name: &str) -> PathBuf {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    let p = PathBuf::from(std::env::var(env).unwrap_or_else(|_| format!("{dir}/release/{name}")));
    assert!(p.exists(), "{} missing: run `make test-integration` (it builds it), or set {env}", p.display());
    p
}

pub fn berthd_bin() -> PathBuf {
    bin("BERTHD", "berthd")
}

pub fn berth_bin() -> PathBuf {
    bin("BERTH", "berth")
}

/// The fixture output directory (`../shared/fixtures/build-fixtures.sh`).
pub fn fixtures() -> PathBuf {
    let p = PathBuf::from(std::env::var("BERTH_FIXTURES").unwrap_or_else(|_| "/tmp/oci-fixtures".into()));
    assert!(p.join("fixtures.json").exists(), "fixtures missing in {}: run `make fixtures` (make test-integration does)", p.display());
    p
}

/// The plain registry, `127.0.0.1:5000` unless `BERTH_REGISTRY` says otherwise.
pub fn registry() -> String {
    let r = std::env::var("BERTH_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
    assert!(std::net::TcpStream::connect(&r).is_ok(), "fixture registry {r} is not up: run `make fixtures-up` (make test-integration does)");
    r
}

/// The basic-auth registry (`fixture` / `fixture-pass`).
pub fn auth_registry() -> String {
    let r = std::env::var("BERTH_AUTH_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5001".into());
    assert!(std::net::TcpStream::connect(&r).is_ok(), "fixture registry {r} is not up: run `make fixtures-up`");
    r
}

pub struct Daemon {
    pub dir: PathBuf,
    pub data_root: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Daemon {
    pub fn start(name: &str) -> Daemon {
        Daemon::start_with(name, &[])
    }

    pub fn start_with(name: &str, extra: &[&str]) -> Daemon {
        crate::require_root();
        let dir = PathBuf::from("/tmp").join(format!("berth-it-d-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = Daemon { data_root: dir.join("root"), socket: dir.join("berth.sock"), dir, child: None, extra: extra.iter().map(|s| s.to_string()).collect() };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("berthd.log")).unwrap();
        let child = Command::new(berthd_bin())
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--config-file")
            .arg(self.config_file())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("berthd exited with {st}: {}", self.log());
            }
            assert!(start.elapsed() < Duration::from_secs(10), "berthd did not listen: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An empty daemon.json of its own, so the host's /etc/berth is never read.
    fn config_file(&self) -> PathBuf {
        let p = self.dir.join("daemon.json");
        if !p.exists() {
            std::fs::write(&p, "{}").unwrap();
        }
        p
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// SIGKILL: no cleanup at all, as in a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns whether it exited within 10 s.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else { return true };
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if c.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn start_again(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    pub fn berth_cmd(&self) -> Command {
        let mut c = Command::new(berth_bin());
        c.env("BERTH_HOST", format!("unix://{}", self.socket.display()));
        // No credentials of the machine's user leak into a test.
        c.env("DOCKER_CONFIG", self.dir.join("no-docker-config"));
        c
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_cmd().args(args).output().unwrap()
    }

    /// Runs berth, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(o.status.success(), "berth {args:?} failed: {}\n--- berthd log:\n{}", String::from_utf8_lossy(&o.stderr), self.log());
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs berth, asserts failure, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(!o.status.success(), "berth {args:?} should fail, printed {}", String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap();
        v[0].clone()
    }

    /// Every entry of blobs/sha256 and layers, excluding nothing.
    pub fn store_entries(&self) -> (Vec<String>, Vec<String>) {
        let list = |d: &str| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(self.data_root.join(d)).map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
            v.sort();
            v
        };
        (list("blobs/sha256"), list("layers"))
    }
}

impl Daemon {
    /// What a berthd that had to be SIGKILLed could not clean up itself:
    /// its shims (found by its data root in their command line), the
    /// runtime's records and cgroups of its containers, mounts under its
    /// directory, and the `berth` parent cgroups once empty (EBUSY keeps
    /// one another daemon still uses).
    fn force_cleanup(&self) {
        let root = self.data_root.display().to_string();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains("berth-shim") && cmd.contains(&root) {
                if let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        for c in std::fs::read_dir(self.data_root.join("containers")).into_iter().flatten().flatten() {
            let _ = Command::new(crate::runtime_bin()).args(["--root", "/run/berth/runtime", "delete", "--force"]).arg(c.file_name()).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/mounts").unwrap_or_default().lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|m| m.starts_with(&self.dir.display().to_string())).map(str::to_string).collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let _ = std::fs::remove_dir(h.path().join("berth"));
        }
        let _ = std::fs::remove_dir("/sys/fs/cgroup/berth");
    }
}

impl Daemon {
    /// `berth ARGS`, given up on after `secs` (a hung daemon must not hang the test's cleanup).
    fn berth_bounded(&self, args: &[&str], secs: u64) -> String {
        let Ok(mut child) = self.berth_cmd().args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn() else { return String::new() };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return String::new();
                }
            }
        }
        let mut out = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut o, &mut out);
        }
        out
    }

    /// What a test leaves in a live daemon goes with it: containers (their
    /// netns, veths, mounts, cgroups) and user networks (their bridges and
    /// rules), also when the test failed half-way.
    fn remove_everything(&self) {
        if !self.socket.exists() {
            return;
        }
        for id in self.berth_bounded(&["ps", "-aq"], 20).split_whitespace() {
            self.berth_bounded(&["rm", "-f", id], 30);
        }
        for id in self.berth_bounded(&["network", "ls", "-q", "--filter", "type=custom"], 20).split_whitespace() {
            self.berth_bounded(&["network", "rm", id], 20);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.remove_everything();
        let clean = self.stop();
        if !clean {
            eprintln!("berthd did not stop on SIGTERM: {}", self.log());
            self.force_cleanup();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A mount made by a test, unmounted on drop even when the test fails.
pub struct Mount(pub PathBuf);

impl Mount {
    /// overlayfs with `lower` (top first) as its only, read-only layers.
    pub fn overlay(lower: &str, target: &Path) -> Mount {
        std::fs::create_dir_all(target).unwrap();
        // overlayfs wants two lower layers when there is no upper: an empty
        // one at the bottom changes nothing.
        let empty = target.with_extension("empty-lower");
        std::fs::create_dir_all(&empty).unwrap();
        let lower = format!("{lower}:{}", empty.display());
        let st = Command::new("mount").args(["-t", "overlay", "overlay", "-o"]).arg(format!("lowerdir={lower}")).arg(target).status().unwrap();
        assert!(st.success(), "mount overlay lowerdir={lower}");
        Mount(target.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
