//! Volumes of the `local` driver: a directory `<data-root>/volumes/<name>/_data`
//! and a row in berth.db. Named volumes are made by `volume create` or on a
//! container's first use and live until removed; anonymous ones (a 64-hex
//! name, from `-v /path` or an image's VOLUME) go with their container when
//! it is removed with `-v` or `--rm`. Which container uses which volume is
//! the containers' `container_mounts` table, read here to refuse removing a
//! volume in use.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS volumes (
  name TEXT PRIMARY KEY,
  created TEXT NOT NULL,
  labels TEXT NOT NULL DEFAULT '{}',
  anonymous INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS container_mounts (
  container_id TEXT NOT NULL,
  destination TEXT NOT NULL,
  type TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL,
  rw INTEGER NOT NULL,
  propagation TEXT NOT NULL DEFAULT '',
  nocopy INTEGER NOT NULL DEFAULT 0,
  mode TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (container_id, destination)
);
CREATE INDEX IF NOT EXISTS container_mounts_name ON container_mounts (name);
";

#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub name: String,
    pub created: String,
    pub labels: Map<String, Value>,
    pub anonymous: bool,
    pub mountpoint: PathBuf,
}

impl Volume {
    /// Docker's Volume object.
    pub fn to_json(&self) -> Value {
        let mut labels = self.labels.clone();
        if self.anonymous {
            labels.insert("com.docker.volume.anonymous".into(), json!(""));
        }
        json!({
            "Name": self.name,
            "Driver": "local",
            "Mountpoint": self.mountpoint,
            "CreatedAt": self.created,
            "Labels": labels,
            "Scope": "local",
            "Options": {},
        })
    }
}

/// docker's volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(n: &str) -> bool {
    crate::containers::valid_name(n)
}

pub struct Volumes {
    db: Mutex<Connection>,
    root: PathBuf,
}

impl Volumes {
    pub fn open(data_root: &Path) -> Result<Volumes> {
        let root = data_root.join("volumes");
        std::fs::create_dir_all(&root).map_err(|e| Error::io("creating", &root, e))?;
        let db = Connection::open(data_root.join("berth.db"))?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(SCHEMA)?;
        let v = Volumes { db: Mutex::new(db), root };
        v.sweep()?;
        Ok(v)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// A directory left by a crash between mkdir and the row: removed if
    /// empty (a volume's data is never deleted on a guess).
    fn sweep(&self) -> Result<()> {
        let Ok(rd) = std::fs::read_dir(&self.root) else { return Ok(()) };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if self.get(&name)?.is_none() {
                let data = e.path().join("_data");
                if std::fs::remove_dir(&data).is_ok() || !data.exists() {
                    let _ = std::fs::remove_dir(e.path());
                    tracing::info!(volume = %name, "removed the directory of a volume that was never recorded");
                } else {
                    tracing::warn!(volume = %name, path = %e.path().display(), "a volume directory without a record holds data: left alone");
                }
            }
        }
        Ok(())
    }

    fn row(&self, r: &rusqlite::Row) -> rusqlite::Result<Volume> {
        let name: String = r.get(0)?;
        let labels: String = r.get(2)?;
        Ok(Volume {
            mountpoint: self.data_dir(&name),
            name,
            created: r.get(1)?,
            labels: serde_json::from_str(&labels).unwrap_or_default(),
            anonymous: r.get::<_, i64>(3)? != 0,
        })
    }

    pub fn get(&self, name: &str) -> Result<Option<Volume>> {
        let db = self.db();
        Ok(db.query_row("SELECT name, created, labels, anonymous FROM volumes WHERE name = ?1", [name], |r| self.row(r)).optional()?)
    }

    pub fn inspect(&self, name: &str) -> Result<Volume> {
        self.get(name)?.ok_or_else(|| Error::NotFound(format!("get {name}: no such volume")))
    }

    pub fn list(&self) -> Result<Vec<Volume>> {
        let db = self.db();
        let mut st = db.prepare("SELECT name, created, labels, anonymous FROM volumes ORDER BY name")?;
        let v = st.query_map([], |r| self.row(r))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// Creates the volume, or returns the existing one of that name (as
    /// docker's create does). The directory exists before the row does.
    pub fn create(&self, name: &str, labels: &Map<String, Value>, anonymous: bool) -> Result<Volume> {
        if !valid_name(name) {
            return Err(Error::BadParameter(format!("create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed")));
        }
        if let Some(v) = self.get(name)? {
            return Ok(v);
        }
        let data = self.data_dir(name);
        std::fs::create_dir_all(&data).map_err(|e| Error::io("creating", &data, e))?;
        self.db().execute(
            "INSERT OR IGNORE INTO volumes (name, created, labels, anonymous) VALUES (?1, ?2, ?3, ?4)",
            params![name, crate::time::rfc3339_now(), Value::Object(labels.clone()).to_string(), anonymous as i64],
        )?;
        tracing::info!(volume = %name, anonymous, "volume created");
        self.inspect(name)
    }

    /// Ids of the containers that mount the volume.
    pub fn users(&self, name: &str) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db.prepare("SELECT DISTINCT container_id FROM container_mounts WHERE type = 'volume' AND name = ?1")?;
        let v = st.query_map([name], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// Removes a volume no container uses (`force` only forgives a missing one, as docker's).
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        if self.get(name)?.is_none() {
            return if force { Ok(()) } else { Err(Error::NotFound(format!("get {name}: no such volume"))) };
        }
        let users = self.users(name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
        }
        // The row goes first: a crash after it leaves a directory the sweep
        // removes once empty, never a row without its data.
        let dir = self.root.join(name);
        let trash = self.root.join(format!(".removing-{name}"));
        std::fs::rename(&dir, &trash).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(Error::io("moving aside", &dir, e)) })?;
        self.db().execute("DELETE FROM volumes WHERE name = ?1", [name])?;
        match std::fs::remove_dir_all(&trash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("removing", &trash, e)),
        }
        tracing::info!(volume = %name, "volume removed");
        Ok(())
    }

    /// Bytes a volume's data takes (for prune's SpaceReclaimed and `system df`).
    pub fn size(&self, name: &str) -> u64 {
        dir_size(&self.data_dir(name))
    }
}

/// Bytes of the files under `p` (symlinks not followed).
pub fn dir_size(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else { return 0 };
    if m.is_dir() {
        std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum()).unwrap_or(0)
    } else {
        m.len()
    }
}

/// Whether `dir` has no entries (a volume docker would fill from the image).
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|mut rd| rd.next().is_none()).unwrap_or(false)
}

/// Copies the image's content at a volume's mount point into the empty
/// volume, keeping modes, owners, mtimes and symlinks (docker's copy-up).
/// Never follows a symlink out of `src`.
pub fn copy_up(src: &Path, dst: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let m = std::fs::symlink_metadata(src).map_err(|e| Error::io("reading", src, e))?;
    let own = |p: &Path, m: &std::fs::Metadata| -> Result<()> {
        std::os::unix::fs::lchown(p, Some(m.uid()), Some(m.gid())).map_err(|e| Error::io("chown", p, e))
    };
    let rd = std::fs::read_dir(src).map_err(|e| Error::io("listing", src, e))?;
    for e in rd.flatten() {
        let from = e.path();
        let to = dst.join(e.file_name());
        let em = std::fs::symlink_metadata(&from).map_err(|e| Error::io("reading", &from, e))?;
        let ft = em.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| Error::io("reading", &from, e))?;
            std::os::unix::fs::symlink(&target, &to).map_err(|e| Error::io("creating", &to, e))?;
            own(&to, &em)?;
            continue;
        } else if ft.is_dir() {
            std::fs::create_dir(&to).map_err(|e| Error::io("creating", &to, e))?;
            copy_up(&from, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to).map_err(|e| Error::io("copying to", &to, e))?;
        } else {
            // Devices, fifos and sockets in a volume path are not data; docker skips them too.
            continue;
        }
        own(&to, &em)?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(em.mode() & 0o7777)).map_err(|e| Error::io("chmod", &to, e))?;
    }
    own(dst, &m)?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(m.mode() & 0o7777)).map_err(|e| Error::io("chmod", dst, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-vol-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn create_get_remove_and_sweep() {
        let d = tmp("crud");
        let v = Volumes::open(&d).unwrap();
        let mut l = Map::new();
        l.insert("a".into(), json!("b"));
        let x = v.create("data", &l, false).unwrap();
        assert!(x.mountpoint.is_dir());
        assert_eq!(v.create("data", &Map::new(), false).unwrap().labels, l, "create of an existing name returns it");
        assert!(v.create("-bad", &Map::new(), false).is_err());
        std::fs::write(x.mountpoint.join("f"), "hi").unwrap();
        assert_eq!(v.size("data"), 2);
        v.remove("data", false).unwrap();
        assert!(!d.join("volumes/data").exists());
        assert!(v.remove("data", false).unwrap_err().to_string().contains("no such volume"));
        v.remove("data", true).unwrap();
        // A crash left an empty directory without a row, and one with data.
        std::fs::create_dir_all(d.join("volumes/ghost/_data")).unwrap();
        std::fs::create_dir_all(d.join("volumes/keep/_data")).unwrap();
        std::fs::write(d.join("volumes/keep/_data/x"), "x").unwrap();
        drop(v);
        let _v = Volumes::open(&d).unwrap();
        assert!(!d.join("volumes/ghost").exists());
        assert!(d.join("volumes/keep/_data/x").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn copy_up_keeps_modes_links_and_owners() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let d = tmp("copy");
        let (src, dst) = (d.join("src"), d.join("dst"));
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "data").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        std::os::unix::fs::lchown(src.join("sub"), Some(1234), Some(5678)).unwrap();
        std::fs::create_dir(&dst).unwrap();
        copy_up(&src, &dst).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("sub/f")).unwrap(), "data");
        assert_eq!(std::fs::metadata(dst.join("sub/f")).unwrap().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_link(dst.join("link")).unwrap(), PathBuf::from("/etc/passwd"));
        assert_eq!(std::fs::metadata(dst.join("sub")).unwrap().uid(), 1234);
        let _ = std::fs::remove_dir_all(&d);
    }
}
