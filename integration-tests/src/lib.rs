//! The harness of the end-to-end tests: busybox bundles with the project's
//! probe inside, the runtime binary run as a subprocess, and checks that a
//! test left nothing behind (state, cgroups, processes).

pub mod containers;
pub mod daemon;
pub mod pty;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

pub fn runtime_bin() -> PathBuf {
    let p = PathBuf::from(std::env::var("BERTH_RUNTIME").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/berth-runtime").into()));
    assert!(p.exists(), "runtime binary {} missing: run `make test-integration` (it builds it)", p.display());
    p
}

pub fn probe_bin() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("BERTH_PROBE").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/x86_64-unknown-linux-musl/release/berth-probe").into()),
    );
    assert!(p.exists(), "probe binary {} missing: run `make probe`", p.display());
    p
}

/// These tests make namespaces, mounts and cgroups: they need root.
pub fn require_root() {
    assert!(nix::unistd::geteuid().is_root(), "the integration tests must run as root (make test-integration as root)");
}

/// A runtime root directory per test, so tests never see each other's containers.
pub struct Env {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub name: String,
}

pub fn busybox() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    assert!(p.exists(), "/bin/busybox missing: apt-get install busybox-static (make setup)");
    p
}

impl Env {
    pub fn new(name: &str) -> Env {
        require_root();
        let name = format!("berth-it-{name}-{}", std::process::id());
        let dir = PathBuf::from("/tmp").join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Env { root: dir.join("state"), dir, name }
    }

    /// A fresh bundle with busybox and the probe, and a config from `base_config`.
    pub fn bundle(&self, label: &str) -> Bundle {
        let path = self.dir.join(format!("bundle-{label}"));
        let rootfs = path.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
        std::fs::copy(probe_bin(), rootfs.join("bin/berth-probe")).unwrap();
        for a in ["sh", "cat", "echo", "ls", "sleep", "true", "false", "id", "touch", "mkdir", "ps", "hostname"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n").unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
        let b = Bundle { path, config: base_config() };
        b.save();
        b
    }

    pub fn id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }

    pub fn rt(&self) -> Command {
        let mut c = Command::new(runtime_bin());
        c.arg("--root").arg(&self.root);
        c
    }

    /// Runs the runtime with `args`; returns its output.
    ///
    /// stdout and stderr go to files, not pipes: a detached container
    /// (`create`, `run -d`) inherits them, as runc's do, and would hold a
    /// pipe open long after the runtime itself has exited.
    pub fn run(&self, args: &[&str]) -> Output {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let out_p = self.dir.join(format!(".out-{n}"));
        let err_p = self.dir.join(format!(".err-{n}"));
        let out_f = std::fs::File::create(&out_p).unwrap();
        let err_f = std::fs::File::create(&err_p).unwrap();
        let status = self.rt().args(args).stdin(Stdio::null()).stdout(out_f).stderr(err_f).status().expect("spawning berth-runtime");
        let o = Output { status, stdout: std::fs::read(&out_p).unwrap_or_default(), stderr: std::fs::read(&err_p).unwrap_or_default() };
        let _ = std::fs::remove_file(&out_p);
        let _ = std::fs::remove_file(&err_p);
        o
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "berth-runtime {args:?} failed: {}\n{}", String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(!o.status.success(), "berth-runtime {args:?} should have failed: {}", String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    /// Foreground `run` of the bundle with the probe's `report`; returns its JSON.
    pub fn report(&self, b: &mut Bundle, id: &str) -> Value {
        b.config["process"]["args"] = json!(["/bin/berth-probe", "report"]);
        b.save();
        let out = self.ok(&["run", "--bundle", b.path.to_str().unwrap(), id]);
        let line = out.lines().last().unwrap_or_else(|| panic!("probe printed nothing"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("probe output is not JSON ({e}): {out}"))
    }

    /// Asserts the container `id` left nothing: no state, no cgroup, no process.
    pub fn assert_gone(&self, id: &str) {
        let leftovers: Vec<_> = std::fs::read_dir(&self.root).map(|rd| rd.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        assert!(leftovers.iter().all(|n| !n.to_string_lossy().contains(id)), "state left behind for {id}: {leftovers:?}");
        let cg = cgroup_dirs(id);
        assert!(cg.is_empty(), "cgroups left behind for {id}: {cg:?}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Delete whatever a failing test left, then the directory.
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !id.starts_with('.') {
                    let _ = self.run(&["delete", "--force", &id]);
                }
            }
        }
        // A .creating-* left by a killed runtime is swept by the next command.
        let _ = self.run(&["list"]);
        for d in cgroup_dirs(&self.name) {
            let _ = std::fs::remove_dir(&d);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Cgroup directories (any hierarchy) whose name contains `needle`.
pub fn cgroup_dirs(needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else { return out };
    let mut roots: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    roots.push(PathBuf::from("/sys/fs/cgroup"));
    for r in roots {
        if let Ok(rd) = std::fs::read_dir(&r) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().contains(needle) && e.path().is_dir() {
                    out.push(e.path());
                }
            }
        }
    }
    out
}

pub struct Bundle {
    pub path: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn save(&self) {
        std::fs::write(self.path.join("config.json"), serde_json::to_vec_pretty(&self.config).unwrap()).unwrap();
    }
    pub fn p(&self) -> &str {
        self.path.to_str().unwrap()
    }
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }
}

/// A config like `berth-runtime spec` writes, without a terminal.
pub fn base_config() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/berth-probe", "report"],
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs"},
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Ids of every eBPF program loaded in the kernel (BPF_PROG_GET_NEXT_ID),
/// so tests can prove the device programs they made are gone.
pub fn bpf_prog_ids() -> Vec<u32> {
    #[repr(C)]
    struct NextId {
        start_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
    let mut ids = Vec::new();
    let mut attr = NextId { start_id: 0, next_id: 0, open_flags: 0 };
    loop {
        // SAFETY: `attr` is a live #[repr(C)] prefix of union bpf_attr for
        // this command; the kernel writes only next_id.
        let r = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_GET_NEXT_ID, &mut attr as *mut NextId, std::mem::size_of::<NextId>() as u32) };
        if r != 0 {
            return ids;
        }
        ids.push(attr.next_id);
        attr.start_id = attr.next_id;
    }
}
