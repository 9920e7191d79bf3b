//! Container state on disk: `<root>/<id>/state.json`, written atomically.
//!
//! The status is never stored: it is derived each time from what is really
//! there (is the init alive and the same process, is it still waiting for
//! `start`, is its cgroup frozen), so a crash of the runtime can never leave
//! a stale status behind.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// Name of the socket init listens on until `start` connects.
pub const EXEC_SOCKET: &str = "exec.sock";
pub const STATE_FILE: &str = "state.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        })
    }
}

/// What the runtime remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Start time of the init (field 22 of /proc/PID/stat): tells a live init
    /// from an unrelated process that got the same pid later.
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub created: String,
    #[serde(default)]
    pub owner: String,
    /// The cgroup the container lives in (empty when none was made).
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::Placement>,
    /// poststart and poststop hooks run by `start` and `delete`, after
    /// config.json may have changed or gone.
    #[serde(default)]
    pub hooks: Option<crate::spec::Hooks>,
    /// Whether init has its own pid namespace (then killing init ends all).
    #[serde(default)]
    pub own_pidns: bool,
    /// Config process fields `exec` inherits when not given.
    #[serde(default)]
    pub process: Option<crate::spec::Process>,
    /// The container's seccomp profile: `exec`'d processes get it too, as with runc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<crate::seccomp::Seccomp>,
}

/// The state as the runtime spec's state schema shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// runc's `state` output: the OCI state plus a few fields tools read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuncState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

pub struct Container {
    pub dir: PathBuf,
    pub saved: Saved,
}

/// Container ids become directory names: keep them to a safe alphabet.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with(['.', '-'])
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.+".contains(&b));
    if ok { Ok(()) } else { Err(Error::BadId(id.to_string())) }
}

/// Writes `bytes` to `path` so that readers see the old or the new content, never a mix:
/// temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("state")));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode_0600()
        .open(&tmp)
        .ctx(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes).ctx(|| format!("writing {}", tmp.display()))?;
    f.sync_all().ctx(|| format!("syncing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}
impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// Start time of a process in clock ticks since boot, or None if it is gone.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and ')': parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // rest starts at field 3; field 22 is starttime.
    fields.nth(22 - 4)?.parse().ok()
}

impl Container {
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        check_id(id)?;
        let dir = root.join(id);
        let path = dir.join(STATE_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(id.into())),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let saved = serde_json::from_slice(&text)
            .map_err(|e| Error::Other(format!("{}: corrupt state file: {e}", path.display())))?;
        Ok(Container { dir, saved })
    }

    pub fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec(&self.saved).expect("state serialises");
        write_atomic(&self.dir.join(STATE_FILE), &bytes)
    }

    /// Is the saved init still alive (and the same process)?
    pub fn init_alive(&self) -> bool {
        self.saved.pid > 0 && process_start_time(self.saved.pid) == Some(self.saved.init_start_time)
    }

    pub fn status(&self) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.dir.join(EXEC_SOCKET).exists() {
            return Status::Created;
        }
        if let Some(cg) = &self.saved.cgroup {
            if cg.is_frozen() {
                return Status::Paused;
            }
        }
        Status::Running
    }

    pub fn oci_state(&self) -> OciState {
        let status = self.status();
        OciState {
            oci_version: self.saved.oci_version.clone(),
            id: self.saved.id.clone(),
            status,
            pid: (status != Status::Stopped).then_some(self.saved.pid),
            bundle: self.saved.bundle.clone(),
            annotations: self.saved.annotations.clone(),
        }
    }

    pub fn runc_state(&self) -> RuncState {
        let status = self.status();
        RuncState {
            oci_version: self.saved.oci_version.clone(),
            id: self.saved.id.clone(),
            pid: if status == Status::Stopped { 0 } else { self.saved.pid },
            status,
            bundle: self.saved.bundle.clone(),
            rootfs: self.saved.rootfs.clone(),
            created: self.saved.created.clone(),
            owner: self.saved.owner.clone(),
            annotations: self.saved.annotations.clone(),
        }
    }
}

/// Every container under `root`, sorted by id. Directories without a
/// readable state are skipped (a create in progress or crashed).
pub fn list(root: &Path) -> Result<Vec<Container>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(format!("listing {}", root.display()), e)),
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if check_id(name).is_err() {
            continue;
        }
        if let Ok(c) = Container::load(root, name) {
            out.push(c);
        }
    }
    out.sort_by(|a, b| a.saved.id.cmp(&b.saved.id));
    Ok(out)
}

/// (year, month, day) of a count of days since 1970-01-01, for any date
/// (Howard Hinnant's civil-from-days): timestamps without a date library.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (if month <= 2 { y + 1 } else { y }, month, day)
}

/// RFC 3339 UTC timestamp with nanoseconds, as runc prints `created`.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "web-1", "abc_DEF.9", "0123456789abcdef"] {
            check_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "-x", "a/b", "a b", ".hidden"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn own_start_time_is_readable() {
        let me = std::process::id() as i32;
        assert!(process_start_time(me).is_some());
        assert!(process_start_time(i32::MAX - 1).is_none());
    }

    #[test]
    fn timestamp_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn atomic_write_replaces() {
        let d = std::env::temp_dir().join(format!("berth-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
