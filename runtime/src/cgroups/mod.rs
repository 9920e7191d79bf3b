//! Cgroup placement: which hierarchies the host has, where the container's
//! cgroup lives in each, and the operations the lifecycle needs (add a
//! process, list, freeze, kill, remove).
//!
//! Resource limits are planned in `settings`, converted by `convert`,
//! routed and written by `apply`; device rules are `devices` (v1 files or a
//! v2 eBPF program).

pub mod apply;
pub mod convert;
pub mod detect;
pub mod devices;
pub mod settings;
pub mod stats;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::explain;
pub use detect::{Hierarchies, Mode};

/// Where one container's cgroup is, in every hierarchy that tracks it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Placement {
    /// The directory in the cgroup2 hierarchy (unified hosts; on hybrid
    /// hosts the process is also tracked there, as runc does).
    #[serde(default)]
    pub unified: Option<PathBuf>,
    /// v1 hierarchies: controller list (as in /proc/self/cgroup) and directory.
    #[serde(default)]
    pub v1: Vec<(String, PathBuf)>,
    /// Whether freezing goes through cgroup.freeze (v2) or the v1 freezer.
    #[serde(default)]
    pub mode: Mode,
    /// Parent directories this container's create made (a cgroupsPath such
    /// as /libpod_parent/libpod-ID): removed with it when they are empty.
    #[serde(default)]
    pub created_parents: Vec<PathBuf>,
}

/// Turns `linux.cgroupsPath` into a path relative to a hierarchy's root.
/// Absent means `/<id>`, as runc does; a relative path is taken from the root too.
pub fn relative_path(cgroups_path: Option<&str>, id: &str) -> Result<PathBuf> {
    let p = cgroups_path.filter(|s| !s.is_empty()).unwrap_or(id);
    if p.contains(':') {
        return Err(Error::Usage(format!(
            "cgroupsPath {p:?} looks like a systemd slice:prefix:name path; this host has no systemd, use a plain path"
        )));
    }
    let rel = PathBuf::from(p.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        return Err(Error::Usage(format!("cgroupsPath {p:?} must not contain '..' or '.'")));
    }
    Ok(rel)
}

/// Creates `dir` and missing parents; records the directories it made.
fn mkdir_p(dir: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    mkdir_p_racing(dir, made, &mut |_| {})
}

/// `mkdir_p`, calling `before` just ahead of each mkdir; the tests use it to
/// remove a parent at the worst moment.
fn mkdir_p_racing(dir: &Path, made: &mut Vec<PathBuf>, before: &mut dyn FnMut(&Path)) -> Result<()> {
    // Another container's delete removes a shared parent (`berth/`) once it
    // is empty, so a parent seen a moment ago can be gone when the mkdir
    // below runs: on ENOENT make the parents again, a bounded number of times.
    let mut attempts = 0;
    loop {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            mkdir_p_racing(parent, made, before)?;
        }
        before(dir);
        explain::step("runtime", format!("mkdir {}", dir.display()), "a directory in a cgroup filesystem is a new cgroup");
        match std::fs::create_dir(dir) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 20 => attempts += 1,
            Err(e) => return Err(Error::io(format!("creating cgroup {}", dir.display()), e)),
        }
    }
    if !made.iter().any(|m| m == dir) {
        made.push(dir.to_path_buf());
    }
    // A v1 cpuset cgroup starts with empty cpus/mems and refuses tasks until
    // they are filled; copy the parent's, as cgroup.clone_children would.
    if dir.join("cpuset.cpus").exists() {
        if let Some(parent) = dir.parent() {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                let cur = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                if cur.trim().is_empty() && !v.trim().is_empty() {
                    write(&dir.join(f), v.trim())?;
                }
            }
        }
    }
    Ok(())
}

fn write(file: &Path, value: &str) -> Result<()> {
    explain::step("runtime", format!("write {value:?} to {}", file.display()), "cgroup settings are plain files");
    std::fs::write(file, value).ctx(|| format!("writing {value:?} to {}", file.display()))
}

impl Placement {
    /// Creates the container's cgroup in every hierarchy.
    pub fn create(h: &Hierarchies, rel: &Path) -> Result<Placement> {
        let mut p = Placement { mode: h.mode, ..Default::default() };
        let mut made = Vec::new();
        let mut r = Ok(());
        if let Some(u) = &h.unified {
            let dir = u.join(rel);
            r = mkdir_p(&dir, &mut made);
            p.unified = Some(dir);
        }
        for (controllers, mnt) in &h.v1 {
            if r.is_err() {
                break;
            }
            let dir = mnt.join(rel);
            r = mkdir_p(&dir, &mut made);
            p.v1.push((controllers.clone(), dir));
        }
        p.created_parents = made.into_iter().filter(|d| !p.dirs().any(|leaf| leaf == d)).collect();
        if let Err(e) = r {
            let _ = p.remove();
            return Err(e);
        }
        Ok(p)
    }

    fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.unified.iter().map(|p| p.as_path()).chain(self.v1.iter().map(|(_, d)| d.as_path()))
    }

    /// Moves `pid` into the container's cgroup in every hierarchy.
    pub fn add(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup2 directory only.
    pub fn add_unified(&self, pid: i32) -> Result<()> {
        match &self.unified {
            Some(dir) => write(&dir.join("cgroup.procs"), &pid.to_string()),
            None => Ok(()),
        }
    }

    /// Called by a single-threaded process to move itself into every v1
    /// hierarchy: writing "0" to `tasks` moves only the calling thread, and
    /// for that the kernel skips the global threadgroup lock that writing a
    /// pid to cgroup.procs takes (its RCU grace period costs 5-20 ms, more
    /// than all the rest of `run`).
    ///
    /// The files are opened beforehand (`open_v1_tasks`), because the
    /// process may already be in the container's mount namespace.
    pub fn enter_v1_self(tasks: &[(PathBuf, std::fs::File)]) -> Result<()> {
        use std::io::Write;
        for (path, f) in tasks {
            explain::step("init", format!("write \"0\" to {}", path.display()), "a process moves itself into the container's v1 cgroup");
            (&*f).write_all(b"0").ctx(|| format!("writing 0 to {}", path.display()))?;
        }
        Ok(())
    }

    pub fn open_v1_tasks(&self) -> Result<Vec<(PathBuf, std::fs::File)>> {
        self.v1
            .iter()
            .map(|(_, dir)| {
                let p = dir.join("tasks");
                let f = std::fs::OpenOptions::new().write(true).open(&p).ctx(|| format!("opening {}", p.display()))?;
                Ok((p, f))
            })
            .collect()
    }

    /// An O_PATH handle on the cgroup2 directory, for clone3's CLONE_INTO_CGROUP.
    pub fn open_unified(&self) -> Option<std::os::fd::OwnedFd> {
        let dir = self.unified.as_ref()?;
        let fd = nix::fcntl::open(dir, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).ok()?;
        // SAFETY: `open` just returned this fd and nothing else owns it.
        Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
    }

    pub(crate) fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1.iter().find(|(c, _)| c.split(',').any(|x| x == controller)).map(|(_, d)| d.as_path())
    }

    /// The directory whose cgroup.procs lists every process of the container.
    fn procs_dir(&self) -> Option<&Path> {
        match self.mode {
            Mode::Unified => self.unified.as_deref(),
            _ => self.v1_dir("pids").or(self.v1_dir("freezer")).or(self.v1_dir("memory")).or(self.unified.as_deref()),
        }
    }

    pub fn procs(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.procs_dir() else { return Ok(Vec::new()) };
        let file = dir.join("cgroup.procs");
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("reading {}", file.display()), e)),
        };
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    pub fn is_frozen(&self) -> bool {
        match self.mode {
            Mode::Unified => self
                .unified
                .as_ref()
                .and_then(|d| std::fs::read_to_string(d.join("cgroup.freeze")).ok())
                .is_some_and(|s| s.trim() == "1"),
            _ => self
                .v1_dir("freezer")
                .and_then(|d| std::fs::read_to_string(d.join("freezer.state")).ok())
                .is_some_and(|s| s.trim() == "FROZEN" || s.trim() == "FREEZING"),
        }
    }

    /// Freezes or thaws every process, waiting until the kernel reports it done.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        match self.mode {
            Mode::Unified => {
                let dir = self.unified.as_ref().ok_or_else(|| Error::Other("no cgroup2 directory for this container".into()))?;
                write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
                let want = if frozen { "frozen 1" } else { "frozen 0" };
                wait_for(|| std::fs::read_to_string(dir.join("cgroup.events")).is_ok_and(|s| s.lines().any(|l| l == want)))
                    .map_err(|_| Error::Other(format!("{} did not report {want} within 10 s", dir.join("cgroup.events").display())))
            }
            _ => {
                let dir = self.v1_dir("freezer").ok_or_else(|| {
                    Error::Other("the v1 freezer controller is not mounted; mount it at /sys/fs/cgroup/freezer to pause containers".into())
                })?;
                let file = dir.join("freezer.state");
                let want = if frozen { "FROZEN" } else { "THAWED" };
                write(&file, want)?;
                wait_for(|| {
                    let cur = std::fs::read_to_string(&file).unwrap_or_default();
                    if cur.trim() == want {
                        return true;
                    }
                    // Writing again nudges a freeze that raced with a fork.
                    let _ = std::fs::write(&file, want);
                    false
                })
                .map_err(|_| Error::Other(format!("{} did not become {want} within 10 s", file.display())))
            }
        }
    }

    /// Sends `sig` to every process of the container.
    pub fn kill_all(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        if sig == nix::sys::signal::Signal::SIGKILL {
            if let Some(dir) = &self.unified {
                let f = dir.join("cgroup.kill");
                if self.mode == Mode::Unified && f.exists() {
                    return write(&f, "1");
                }
            }
        }
        // Freeze first so no process can fork a child that escapes the signal.
        let freezable = self.set_frozen(true).is_ok();
        for pid in self.procs()? {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
        if freezable {
            self.set_frozen(false)?;
        }
        Ok(())
    }

    /// Removes the container's cgroup directories. Waits (up to 5 s) for
    /// killed processes to leave, because the kernel refuses to remove a
    /// cgroup that still has members.
    pub fn remove(&self) -> Result<()> {
        let mut errors = Vec::new();
        for dir in self.dirs() {
            if let Err(e) = rmdir_retry(dir) {
                errors.push(e);
            }
        }
        // Deepest first; a parent still used by another container stays (EBUSY/ENOTEMPTY).
        let mut parents = self.created_parents.clone();
        parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for p in parents {
            let _ = std::fs::remove_dir(&p);
        }
        match errors.into_iter().next() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

fn rmdir_retry(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut delay = Duration::from_micros(200);
    loop {
        // Child cgroups a container made itself go first.
        if let Ok(rd) = std::fs::read_dir(dir) {
            for ent in rd.flatten() {
                if ent.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = rmdir_retry(&ent.path());
                }
            }
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => {
                explain::step("runtime", format!("rmdir {}", dir.display()), "removing an empty cgroup directory destroys the cgroup");
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(Error::io(format!("removing cgroup {}", dir.display()), e)),
        }
    }
}

fn wait_for(mut cond: impl FnMut() -> bool) -> std::result::Result<(), ()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut delay = Duration::from_micros(100);
    while !cond() {
        if Instant::now() > deadline {
            return Err(());
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path(None, "abc").unwrap(), PathBuf::from("abc"));
        assert_eq!(relative_path(Some("/a/b"), "x").unwrap(), PathBuf::from("a/b"));
        assert_eq!(relative_path(Some("a/b"), "x").unwrap(), PathBuf::from("a/b"));
        assert!(relative_path(Some("/a/../b"), "x").is_err());
        assert!(relative_path(Some("system.slice:berth:x"), "x").is_err());
    }

    #[test]
    fn fake_v1_placement_and_removal() {
        let root = std::env::temp_dir().join(format!("berth-cg-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for c in ["freezer", "pids"] {
            std::fs::create_dir_all(root.join(c)).unwrap();
        }
        let h = Hierarchies {
            mode: Mode::Legacy,
            unified: None,
            v1: vec![("freezer".into(), root.join("freezer")), ("pids".into(), root.join("pids"))],
        };
        let p = Placement::create(&h, Path::new("a/b")).unwrap();
        assert!(root.join("freezer/a/b").is_dir() && root.join("pids/a/b").is_dir());
        assert_eq!(p.created_parents, vec![root.join("freezer/a"), root.join("pids/a")]);
        std::fs::write(root.join("pids/a/b/cgroup.procs"), "12\n34\n").unwrap();
        assert_eq!(p.procs().unwrap(), vec![12, 34]);
        std::fs::write(root.join("freezer/a/b/freezer.state"), "FROZEN\n").unwrap();
        assert!(p.is_frozen());
        std::fs::remove_file(root.join("pids/a/b/cgroup.procs")).unwrap();
        std::fs::remove_file(root.join("freezer/a/b/freezer.state")).unwrap();
        p.remove().unwrap();
        assert!(!root.join("freezer/a").exists() && !root.join("pids/a").exists(), "parents made by create are removed");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_parent_removed_by_another_container_is_made_again() {
        // Container A's delete removes the shared parent `berth/` it made,
        // just as B, having seen that parent, makes its leaf below it.
        let root = std::env::temp_dir().join(format!("berth-cg-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let leaf = root.join("pids/berth/b");
        let mut made = Vec::new();
        let mut removed = 0;
        mkdir_p_racing(&leaf, &mut made, &mut |d| {
            if d == leaf && removed < 3 {
                removed += 1;
                std::fs::remove_dir(d.parent().unwrap()).unwrap();
            }
        })
        .expect("a vanished parent is made again");
        assert_eq!(removed, 3);
        assert!(leaf.is_dir());
        assert_eq!(made.last(), Some(&leaf));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
