//! Containers: their records (SQLite, one row each), their directories
//! under `<data-root>/containers/<id>`, and their lifecycle through
//! `berth-shim` and the runtime.
//!
//! berthd never holds a container's process: the shim does, and records the
//! exit in `<exec-root>/containers/<id>/exit.json`. berthd learns of an exit
//! when it next looks (every query of that container, and a sweep every
//! second), so a berthd restarted after a crash finds running containers
//! still running (their shim is alive) and exited ones with their status.

pub mod binds;
pub mod exec;
pub mod hostconfig;
pub mod mount;
pub mod restart;
pub mod seccomp;
pub mod spec;

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::images::store::Store;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created TEXT NOT NULL,
  image TEXT NOT NULL,
  image_id TEXT NOT NULL,
  config TEXT NOT NULL,
  host_config TEXT NOT NULL,
  status TEXT NOT NULL,
  pid INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER NOT NULL DEFAULT 0,
  oom_killed INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  started_at TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z',
  finished_at TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z'
);
";

/// Columns added after the first release of the table, for databases made before them.
const ADDED_COLUMNS: &[(&str, &str)] = &[("restart_count", "INTEGER NOT NULL DEFAULT 0"), ("manually_stopped", "INTEGER NOT NULL DEFAULT 0"), ("paused", "INTEGER NOT NULL DEFAULT 0")];

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: String,
    pub image: String,
    pub image_id: String,
    /// Config as created (docker's ContainerConfig subset we implement).
    pub config: Value,
    /// HostConfig subset we implement.
    pub host_config: Value,
    /// created, running, exited
    pub status: String,
    pub pid: i64,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub restart_count: i64,
    /// A user stopped or killed it (restart policies leave it alone).
    pub manually_stopped: bool,
    /// Frozen by `pause` (its status stays running, as docker's Running stays true).
    pub paused: bool,
}

impl Container {
    pub fn running(&self) -> bool {
        self.status == "running"
    }
    pub fn tty(&self) -> bool {
        self.config["Tty"].as_bool().unwrap_or(false)
    }
    pub fn auto_remove(&self) -> bool {
        self.host_config["AutoRemove"].as_bool().unwrap_or(false)
    }
    pub fn policy(&self) -> restart::Policy {
        restart::Policy::parse(&self.host_config["RestartPolicy"]).unwrap_or(restart::Policy::No)
    }
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<Container> {
    let js = |i: usize| -> rusqlite::Result<Value> {
        let s: String = r.get(i)?;
        serde_json::from_str(&s).map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
    };
    Ok(Container {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        image: r.get(3)?,
        image_id: r.get(4)?,
        config: js(5)?,
        host_config: js(6)?,
        status: r.get(7)?,
        pid: r.get(8)?,
        exit_code: r.get(9)?,
        oom_killed: r.get::<_, i64>(10)? != 0,
        error: r.get(11)?,
        started_at: r.get(12)?,
        finished_at: r.get(13)?,
        restart_count: r.get(14)?,
        manually_stopped: r.get::<_, i64>(15)? != 0,
        paused: r.get::<_, i64>(16)? != 0,
    })
}

const COLS: &str = "id, name, created, image, image_id, config, host_config, status, pid, exit_code, oom_killed, error, started_at, finished_at, restart_count, manually_stopped, paused";

/// Where the binaries and per-run state live.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub runtime: PathBuf,
    pub shim: PathBuf,
    /// `--init`'s init, bind-mounted at /dev/init.
    pub init: PathBuf,
    /// daemon.json's `bip`: the default bridge's address and prefix.
    pub bip: Option<String>,
    /// daemon.json's `firewall-backend`.
    pub firewall_backend: Option<String>,
}

pub struct Containers {
    db: Mutex<Connection>,
    pub paths: Paths,
    /// Serializes state transitions (start, exit handling, removal): they
    /// mount, unmount and rewrite rows. Never held while waiting on a container.
    pub transitions: tokio::sync::Mutex<()>,
    /// Exit codes of containers removed by AutoRemove, for a `wait` that
    /// looks after the removal.
    removed: Mutex<HashMap<String, i64>>,
    /// Bridge networking: netns, veth, lease, firewall.
    pub net: crate::network::Network,
    pub volumes: crate::volumes::Volumes,
    /// Attach requests made before their container started (`docker run
    /// -it` attaches, then starts): the first is handed the shim's socket
    /// before the process runs, so it misses none of its output.
    attach_waiters: Mutex<HashMap<String, Vec<tokio::sync::oneshot::Sender<std::os::unix::net::UnixStream>>>>,
    /// Restarts a policy asked for: when, and the delay that led there (for the backoff).
    restarts: Mutex<HashMap<String, (tokio::time::Instant, Duration)>>,
    /// The last backoff delay of each container, kept across its runs.
    backoff: Mutex<HashMap<String, Duration>>,
    pub events: std::sync::Arc<crate::events::Events>,
}

/// What the shim left in exit.json.
struct Exit {
    code: i64,
    oom: bool,
    finished_at: String,
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Sends `sig` to `pid`.
fn send_signal(pid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: kill(2) has no memory preconditions.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn random_id() -> Result<String> {
    let mut b = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").map_err(|e| Error::io("opening", "/dev/urandom", e))?, &mut b).map_err(|e| Error::io("reading", "/dev/urandom", e))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// docker's container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphanumeric() && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// Writes `data` to `path` through a temporary file, fsync and rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp-write");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
    f.write_all(data).and_then(|_| f.sync_all()).map_err(|e| Error::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("renaming into", path, e))
}

/// Signal names and numbers as docker accepts them (`KILL`, `SIGKILL`, `9`).
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let n = s.trim_start_matches("SIG").to_ascii_uppercase();
    let sig = match n.as_str() {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(Error::BadParameter(format!("invalid signal: {s}"))),
    };
    Ok(sig)
}

impl Containers {
    pub fn open(paths: Paths) -> Result<Containers> {
        let dir = paths.data_root.join("containers");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let db = Connection::open(paths.data_root.join("berth.db"))?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(SCHEMA)?;
        for (col, def) in ADDED_COLUMNS {
            let has: bool = db.prepare("SELECT 1 FROM pragma_table_info('containers') WHERE name = ?1")?.exists([col])?;
            if !has {
                db.execute_batch(&format!("ALTER TABLE containers ADD COLUMN {col} {def}"))?;
            }
        }
        let net = crate::network::Network::open(&paths.data_root, &paths.exec_root, paths.bip.as_deref(), paths.firewall_backend.as_deref())?;
        let volumes = crate::volumes::Volumes::open(&paths.data_root)?;
        Ok(Containers { db: Mutex::new(db), paths, transitions: tokio::sync::Mutex::new(()), removed: Mutex::new(HashMap::new()), net,
            volumes,
            attach_waiters: Mutex::new(HashMap::new()),
            restarts: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
            events: std::sync::Arc::new(crate::events::Events::new()),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.paths.data_root.join("containers").join(id)
    }

    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.paths.exec_root.join("containers").join(id)
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.paths.exec_root.join("runtime")
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.state_dir(id).join(format!("{id}-json.log"))
    }

    pub fn list(&self) -> Result<Vec<Container>> {
        let db = self.db();
        let mut st = db.prepare(&format!("SELECT {COLS} FROM containers ORDER BY created DESC, rowid DESC"))?;
        let v = st.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    pub fn get(&self, id: &str) -> Result<Option<Container>> {
        Ok(self.db().query_row(&format!("SELECT {COLS} FROM containers WHERE id = ?1"), [id], row).optional()?)
    }

    /// docker's resolution: full id, then exact name, then a unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<Container> {
        let n = name.strip_prefix('/').unwrap_or(name);
        let none = || Error::NotFound(format!("No such container: {name}"));
        if n.is_empty() {
            return Err(none());
        }
        let db = self.db();
        if let Some(c) = db.query_row(&format!("SELECT {COLS} FROM containers WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1"), [n], row).optional()? {
            return Ok(c);
        }
        if !n.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(none());
        }
        let mut st = db.prepare(&format!("SELECT {COLS} FROM containers WHERE substr(id, 1, ?2) = ?1"))?;
        let mut v = st.query_map(params![n, n.len() as i64], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        match v.len() {
            0 => Err(none()),
            1 => Ok(v.remove(0)),
            _ => Err(Error::NotFound(format!("multiple IDs found with provided prefix: {n}"))),
        }
    }

    /// Records a new container and makes its directory; nothing is left of
    /// either if one fails.
    #[allow(clippy::too_many_arguments)]
    pub fn create(&self, id: &str, name: Option<&str>, image: &str, image_id: &str, config: &Value, host_config: &Value, files: &[(&str, String)], mounts: &[binds::MountPoint]) -> Result<Container> {
        let id = id.to_string();
        let name = match name {
            Some(n) => n.strip_prefix('/').unwrap_or(n).to_string(),
            None => format!("berth_{}", &id[..12]),
        };
        let sun = self.state_dir(&id).join("attach.sock");
        if sun.as_os_str().len() >= 108 {
            return Err(Error::Config(format!("exec root {} is too long: {} would exceed the 107 bytes of a Unix socket path", self.paths.exec_root.display(), sun.display())));
        }
        let dir = self.dir(&id);
        let made = (|| -> Result<()> {
            for d in ["upper", "work", "rootfs"] {
                let p = dir.join(d);
                std::fs::create_dir_all(&p).map_err(|e| Error::io("creating", &p, e))?;
            }
            for (f, content) in files {
                write_atomic(&dir.join(f), content.as_bytes())?;
            }
            Ok(())
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let created = crate::time::rfc3339_now();
        let r = (|| -> rusqlite::Result<()> {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "INSERT INTO containers (id, name, created, image, image_id, config, host_config, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'created')",
                params![id, name, created, image, image_id, config.to_string(), host_config.to_string()],
            )?;
            for m in mounts {
                tx.execute(
                    "INSERT INTO container_mounts (container_id, destination, type, name, source, rw, propagation, nocopy, mode) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![id, m.destination, m.typ, m.name, m.source, m.rw as i64, m.propagation, m.nocopy as i64, m.mode],
                )?;
            }
            tx.commit()
        })();
        if let Err(e) = r {
            let _ = std::fs::remove_dir_all(&dir);
            if let rusqlite::Error::SqliteFailure(f, _) = &e {
                if f.code == rusqlite::ErrorCode::ConstraintViolation {
                    let other = self.resolve(&name).map(|c| c.id).unwrap_or_default();
                    return Err(Error::Conflict(format!("Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name.")));
                }
            }
            return Err(e.into());
        }
        self.get(&id)?.ok_or_else(|| Error::Internal("container vanished after insert".into()))
    }

    /// The container's mount points, parents first.
    pub fn mounts(&self, id: &str) -> Result<Vec<binds::MountPoint>> {
        let db = self.db();
        let mut st = db.prepare("SELECT type, name, source, destination, rw, propagation, nocopy, mode FROM container_mounts WHERE container_id = ?1")?;
        let mut v = st
            .query_map([id], |r| {
                Ok(binds::MountPoint {
                    typ: r.get(0)?,
                    name: r.get(1)?,
                    source: r.get(2)?,
                    destination: r.get(3)?,
                    rw: r.get::<_, i64>(4)? != 0,
                    propagation: r.get(5)?,
                    nocopy: r.get::<_, i64>(6)? != 0,
                    mode: r.get(7)?,
                    create_source: false,
                    labels: Default::default(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        v.sort_by_key(|m| Path::new(&m.destination).components().count());
        Ok(v)
    }

    fn set_running(&self, id: &str, pid: i64) -> Result<()> {
        self.db().execute(
            "UPDATE containers SET status = 'running', pid = ?2, exit_code = 0, oom_killed = 0, error = '', started_at = ?3, finished_at = ?4 WHERE id = ?1",
            params![id, pid, crate::time::rfc3339_now(), ZERO_TIME],
        )?;
        Ok(())
    }

    fn set_exited(&self, id: &str, code: i64, oom: bool, error: &str, finished_at: &str) -> Result<()> {
        self.db().execute(
            "UPDATE containers SET status = 'exited', paused = 0, pid = 0, exit_code = ?2, oom_killed = ?3, error = ?4, finished_at = ?5 WHERE id = ?1",
            params![id, code, oom as i64, error, finished_at],
        )?;
        Ok(())
    }

    fn read_exit(&self, id: &str) -> Option<Exit> {
        let v: Value = serde_json::from_slice(&std::fs::read(self.state_dir(id).join("exit.json")).ok()?).ok()?;
        Some(Exit { code: v["exit_code"].as_i64().unwrap_or(255), oom: v["oom_killed"].as_bool().unwrap_or(false), finished_at: v["finished_at"].as_str().unwrap_or(ZERO_TIME).to_string() })
    }

    /// The shim's pid, if it is alive and really this container's shim.
    fn shim_pid(&self, id: &str) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.state_dir(id).join("shim.pid")).ok()?.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let s = String::from_utf8_lossy(&cmdline);
        (pid_alive(pid) && s.contains("berth-shim") && s.contains(id)).then_some(pid)
    }

    /// Brings a record up to date with what the shim says: an exit
    /// recorded, or a shim gone without recording one. Tears down the
    /// rootfs of a container that is not running; removes an AutoRemove one.
    /// Returns the record as it now is (None if it was removed).
    pub async fn refresh(&self, c: Container) -> Result<Option<Container>> {
        let _g = self.transitions.lock().await;
        let Some(mut c) = self.get(&c.id)? else { return Ok(None) };
        if c.running() {
            let mut exited = None;
            if let Some(x) = self.read_exit(&c.id) {
                self.set_exited(&c.id, x.code, x.oom, "", &x.finished_at)?;
                tracing::info!(container = %c.id, exit_code = x.code, oom = x.oom, "container exited");
                exited = Some((x.code, x.oom));
            } else if self.shim_pid(&c.id).is_none() {
                // exit.json is written before the shim exits: check again.
                match self.read_exit(&c.id) {
                    Some(x) => {
                        self.set_exited(&c.id, x.code, x.oom, "", &x.finished_at)?;
                        exited = Some((x.code, x.oom));
                    }
                    None => {
                        tracing::warn!(container = %c.id, "the container's shim is gone without recording an exit");
                        self.set_exited(&c.id, 255, false, "the container's shim died without recording an exit status", &crate::time::rfc3339_now())?;
                        exited = Some((255, false));
                    }
                }
            }
            c = self.get(&c.id)?.ok_or_else(|| Error::Internal("container vanished".into()))?;
            if let Some((code, oom)) = exited {
                if oom {
                    self.emit(&c, "oom", &[]);
                }
                self.emit(&c, "die", &[("exitCode", code.to_string())]);
                if c.policy().should_restart(code, c.restart_count as u32, c.manually_stopped) {
                    let ran = Duration::from_secs((crate::time::parse_rfc3339(&c.finished_at).unwrap_or(0) - crate::time::parse_rfc3339(&c.started_at).unwrap_or(0)).max(0) as u64);
                    let last = self.backoff.lock().unwrap_or_else(|p| p.into_inner()).get(&c.id).copied();
                    let delay = restart::next_delay(last, ran);
                    self.backoff.lock().unwrap_or_else(|p| p.into_inner()).insert(c.id.clone(), delay);
                    self.db().execute("UPDATE containers SET status = 'restarting', restart_count = restart_count + 1 WHERE id = ?1", [&c.id])?;
                    self.restarts.lock().unwrap_or_else(|p| p.into_inner()).insert(c.id.clone(), (tokio::time::Instant::now() + delay, delay));
                    tracing::info!(container = %c.id, delay_ms = delay.as_millis() as u64, restart = c.restart_count + 1, "restart policy: restarting");
                    c = self.get(&c.id)?.ok_or_else(|| Error::Internal("container vanished".into()))?;
                }
            }
        }
        if !c.running() {
            // A shim of a container the record says is not running: a start
            // a previous berthd died in the middle of (its client saw the
            // connection drop). That start failed: its process goes.
            if let Some(pid) = self.shim_pid(&c.id) {
                tracing::warn!(container = %c.id, shim = pid, "a start interrupted by berthd's death: stopping what it started");
                let _ = send_signal(pid, libc::SIGKILL);
                for _ in 0..100 {
                    if !pid_alive(pid) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                self.runtime_cleanup(&c.id);
            }
            // The shim removed the runtime's container; the rootfs is ours.
            if self.shim_pid(&c.id).is_none() {
                mount::unmount(&self.dir(&c.id).join("rootfs"))?;
                self.net.detach(&c.id)?;
            }
            if c.status == "exited" && c.auto_remove() {
                self.removed.lock().unwrap_or_else(|p| p.into_inner()).insert(c.id.clone(), c.exit_code);
                // --rm takes the container's anonymous volumes with it, as docker's.
                self.remove_locked(&c, true)?;
                tracing::info!(container = %c.id, "auto-removed");
                return Ok(None);
            }
        }
        Ok(Some(c))
    }

    /// The exit code of a container AutoRemove took away.
    pub fn removed_exit_code(&self, id: &str) -> Option<i64> {
        self.removed.lock().unwrap_or_else(|p| p.into_inner()).get(id).copied()
    }

    /// Checks every running (or AutoRemove) container, and starts the
    /// restarts that are due; run every second and at start.
    pub async fn sweep(&self, store: &Store) -> Result<()> {
        for c in self.list()? {
            if c.running() || (c.status == "exited" && c.auto_remove()) || mount::is_mounted(&self.dir(&c.id).join("rootfs")) {
                if let Err(e) = self.refresh(c.clone()).await {
                    tracing::warn!(container = %c.id, error = %e.chain(), "checking the container");
                }
            }
        }
        let now = tokio::time::Instant::now();
        let due: Vec<String> = self.restarts.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|(_, (t, _))| *t <= now).map(|(id, _)| id.clone()).collect();
        for id in due {
            self.restarts.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            let Some(c) = self.get(&id)? else { continue };
            if c.status != "restarting" {
                continue;
            }
            match self.start(store, &c).await {
                Ok(_) => self.emit(&c, "restart", &[]),
                Err(e) => {
                    tracing::warn!(container = %id, error = %e.chain(), "restart policy: the start failed");
                    self.set_exited(&id, 128, false, &e.chain().to_string(), &crate::time::rfc3339_now())?;
                }
            }
        }
        Ok(())
    }

    /// The earliest due restart, so the sweep can wake for it.
    pub fn next_restart(&self) -> Option<tokio::time::Instant> {
        self.restarts.lock().unwrap_or_else(|p| p.into_inner()).values().map(|(t, _)| *t).min()
    }

    /// After berthd starts (as after a reboot): containers whose policy
    /// says so are started again.
    pub async fn boot_restarts(&self, store: &Store) -> Result<()> {
        for c in self.list()? {
            if c.running() || c.started_at == ZERO_TIME {
                continue;
            }
            let wanted = c.status == "restarting" || c.policy().restart_on_boot(c.exit_code, c.restart_count as u32, c.manually_stopped);
            if !wanted || c.policy() == restart::Policy::No {
                continue;
            }
            tracing::info!(container = %c.id, policy = ?c.policy(), "restart policy: starting again after berthd's start");
            match self.start(store, &c).await {
                Ok(_) => self.emit(&c, "start", &[]),
                Err(e) => tracing::warn!(container = %c.id, error = %e.chain(), "restart policy: the start failed"),
            }
        }
        Ok(())
    }

    /// A start by a user: the restart count and backoff begin again.
    pub fn mark_started_by_user(&self, id: &str) -> Result<()> {
        self.db().execute("UPDATE containers SET restart_count = 0, manually_stopped = 0 WHERE id = ?1", [id])?;
        self.backoff.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        Ok(())
    }

    /// A stop or kill by a user: no policy restarts it, a pending restart is
    /// cancelled (a restarting container is then simply exited).
    pub fn mark_stopped_by_user(&self, id: &str) -> Result<()> {
        self.db().execute("UPDATE containers SET manually_stopped = 1 WHERE id = ?1", [id])?;
        self.restarts.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        self.db().execute("UPDATE containers SET status = 'exited' WHERE id = ?1 AND status = 'restarting'", [id])?;
        Ok(())
    }

    /// An event about a container, with its name, image and labels.
    pub fn emit(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs = crate::events::container_attrs(&c.name, &c.image, &c.config["Labels"]);
        for (k, v) in extra {
            attrs.insert(k.to_string(), serde_json::json!(v));
        }
        self.events.emit("container", action, &c.id, attrs);
    }

    /// Mounts the rootfs, writes config.json, and starts the shim.
    pub async fn start(&self, store: &Store, c: &Container) -> Result<i64> {
        let _g = self.transitions.lock().await;
        let c = self.get(&c.id)?.ok_or_else(|| Error::NotFound(format!("No such container: {}", c.id)))?;
        if c.running() {
            return Err(Error::Internal("already running".into()));
        }
        let img = store.lookup(&c.image_id).map_err(|_| Error::Conflict(format!("the image {} of container {} is gone", c.image_id, c.id)))?.0;
        let lowers: Vec<PathBuf> = img.diff_ids.iter().map(|d| store.layer_path(d)).collect();
        let dir = self.dir(&c.id);
        let rootfs = dir.join("rootfs");
        mount::mount_rootfs(&rootfs, &lowers, &dir.join("upper"), &dir.join("work"))?;
        match self.start_mounted(store, &c, &rootfs).await {
            Ok(pid) => {
                self.set_running(&c.id, pid)?;
                tracing::info!(container = %c.id, pid, "container started");
                Ok(pid)
            }
            Err(e) => {
                if let Err(u) = mount::unmount(&rootfs) {
                    tracing::warn!(container = %c.id, error = %u.chain(), "unmounting after a failed start");
                }
                if let Err(u) = self.net.detach(&c.id) {
                    tracing::warn!(container = %c.id, error = %u.chain(), "network teardown after a failed start");
                }
                Err(e)
            }
        }
    }

    async fn start_mounted(&self, store: &Store, c: &Container, rootfs: &Path) -> Result<i64> {
        let img_cfg = oci_image::ImageConfig::parse(&store.read_blob(&oci_image::Digest::parse(&c.image_id)?)?)?;
        let image = img_cfg.config.clone().unwrap_or(Value::Null);
        let p = spec::merge(&image, &c.config)?;
        let u = spec::resolve_user(&p.user, &spec::read_etc(rootfs, "passwd"), &spec::read_etc(rootfs, "group"))?;
        let h = &c.host_config;
        let o = spec::Options {
            hostname: c.config["Hostname"].as_str().unwrap_or_default().to_string(),
            tty: c.tty(),
            stdin: c.config["OpenStdin"].as_bool().unwrap_or(false),
            host_network: h["NetworkMode"] == "host",
            memory: h["Memory"].as_i64().unwrap_or(0),
            memory_swap: h["MemorySwap"].as_i64().unwrap_or(0),
            pids_limit: h["PidsLimit"].as_i64().unwrap_or(0),
            netns: None,
            host: h.clone(),
            mounts: vec![],
            volume_root: self.paths.data_root.join("volumes"),
            init: None,
        };
        let dir = self.dir(&c.id);
        let mut o = o;
        let mode = h["NetworkMode"].as_str().unwrap_or("bridge").to_string();
        if crate::network::bridged(&mode) {
            use crate::network::etc;
            let mut ports = crate::network::ports::parse_bindings(&h["PortBindings"])?;
            if h["PublishAllPorts"].as_bool().unwrap_or(false) {
                // The container's own (image's and --expose's, merged at create), else the image's.
                let exposed = if c.config["ExposedPorts"].is_object() { &c.config["ExposedPorts"] } else { &image["ExposedPorts"] };
                crate::network::ports::publish_all(&mut ports, exposed);
            }
            let mine = etc::DnsSettings::from_host_config(h)?;
            let at = self.net.attach(&c.id, &mode, &ports)?;
            let first = at.endpoints.first();
            let extra = etc::extra_hosts(&h["ExtraHosts"], first.map(|e| e.gateway))?;
            let host = etc::parse_resolv(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
            // docker's rule: the embedded DNS server on user-defined networks, not on the default bridge.
            let embedded = at.endpoints.iter().any(|e| !e.network.is_default());
            write_atomic(&dir.join("resolv.conf"), etc::resolv_conf(&host, &mine, embedded).as_bytes())?;
            write_atomic(&dir.join("hosts"), etc::hosts_file(&o.hostname, first.map(|e| e.ip), &extra).as_bytes())?;
            if embedded {
                self.net.serve_dns(&c.id)?;
            }
            o.netns = Some(at.netns.to_string_lossy().into_owned());
        } else if let Some(other) = h["NetworkMode"].as_str().and_then(|m| m.strip_prefix("container:")) {
            // docker's container:<x>: the same netns as x's init, so x must be running.
            let t = self.resolve(other)?;
            if !t.running() || t.pid <= 0 {
                return Err(Error::Conflict(format!("cannot join network of a non running container: {other}")));
            }
            o.netns = Some(format!("/proc/{}/ns/net", t.pid));
        }
        o.mounts = self.mounts(&c.id)?;
        if h["Init"] == true {
            if !self.paths.init.is_file() {
                return Err(Error::Config(format!("--init: berthd's init {} does not exist (set --init-path)", self.paths.init.display())));
            }
            o.init = Some(self.paths.init.clone());
        }
        for m in &o.mounts {
            if m.typ == "volume" && !m.nocopy {
                self.fill_volume(rootfs, m)?;
            } else if m.typ == "bind" && !Path::new(&m.source).exists() {
                return Err(Error::BadParameter(format!("bind source path does not exist: {}", m.source)));
            }
        }
        let cfg = spec::config(&c.id, &dir, &p, &u, &o)?;
        write_atomic(&dir.join("config.json"), &serde_json::to_vec_pretty(&cfg).unwrap_or_default())?;
        let state = self.state_dir(&c.id);
        std::fs::create_dir_all(&state).map_err(|e| Error::io("creating", &state, e))?;
        for f in ["exit.json", "shim.pid"] {
            let _ = std::fs::remove_file(state.join(f));
        }
        let rr = self.runtime_root();
        std::fs::create_dir_all(&rr).map_err(|e| Error::io("creating", &rr, e))?;
        self.runtime_cleanup(&c.id);
        let mut cmd = Command::new(&self.paths.shim);
        cmd.args(["--id", &c.id]).arg("--bundle").arg(&dir).arg("--runtime").arg(&self.paths.runtime).arg("--runtime-root").arg(&rr).arg("--state-dir").arg(&state);
        if o.tty {
            cmd.arg("--tty");
        }
        if o.stdin {
            cmd.arg("--stdin");
        }
        let (max_size, max_file) = hostconfig::log_options(&h["LogConfig"])?;
        if let Some(m) = max_size {
            cmd.arg("--log-max-size").arg(m.to_string()).arg("--log-max-file").arg(max_file.to_string());
        }
        let waiters = self.attach_waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(&c.id).unwrap_or_default();
        if !waiters.is_empty() {
            cmd.arg("--wait-attach");
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let shim = self.paths.shim.clone();
        let (first, line) = tokio::task::spawn_blocking(move || -> Result<(Option<std::os::unix::net::UnixStream>, String)> {
            let mut child = cmd.spawn().map_err(|e| Error::io("starting the shim", &shim, e))?;
            let mut line = String::new();
            let mut first = None;
            if let Some(out) = child.stdout.take() {
                let mut r = std::io::BufReader::new(out);
                let _ = r.read_line(&mut line);
                // --wait-attach: the shim names its socket and waits for us before it starts the process.
                if let Some(p) = serde_json::from_str::<Value>(line.trim()).ok().and_then(|v| v["attach"].as_str().map(PathBuf::from)) {
                    first = std::os::unix::net::UnixStream::connect(&p).ok();
                    line.clear();
                    let _ = r.read_line(&mut line);
                }
            }
            // The shim stays until the container exits; reap it then (after a
            // berthd restart it is init's child instead).
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            Ok((first, line))
        })
        .await
        .map_err(|e| Error::Internal(format!("shim task: {e}")))??;
        // The first live waiter gets the socket that saw everything; the
        // others connect now. A failed start drops them all (their clients see EOF).
        let mut first = first;
        for w in waiters {
            if !line.contains("\"pid\"") {
                break;
            }
            let sock = match first.take() {
                Some(s) => s,
                None => match std::os::unix::net::UnixStream::connect(state.join("attach.sock")) {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
            if let Err(back) = w.send(sock) {
                first = Some(back);
            }
        }
        let v: Value = serde_json::from_str(line.trim()).map_err(|_| Error::Internal(format!("the shim said {:?} (see {})", line.trim(), state.join("shim.log").display())))?;
        if let Some(pid) = v["pid"].as_i64() {
            return Ok(pid);
        }
        let msg = v["error"].as_str().unwrap_or("unknown error").to_string();
        // Nothing of this run stays but the log.
        let _ = std::fs::remove_file(state.join("exit.json"));
        Err(Error::Internal(format!("failed to create task for container: {msg}")))
    }

    /// Waits for the container's next start to hand over a socket on its
    /// shim (see `attach_waiters`).
    pub fn wait_for_start(&self, id: &str) -> tokio::sync::oneshot::Receiver<std::os::unix::net::UnixStream> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.attach_waiters.lock().unwrap_or_else(|p| p.into_inner()).entry(id.to_string()).or_default().push(tx);
        rx
    }

    /// The shim's attach socket of a running container.
    pub fn attach_socket(&self, id: &str) -> PathBuf {
        self.state_dir(id).join("attach.sock")
    }

    /// docker's copy-up: an empty volume gets what the image has at its
    /// mount point, the first time a container mounts it.
    fn fill_volume(&self, rootfs: &Path, m: &binds::MountPoint) -> Result<()> {
        let data = self.volumes.data_dir(&m.name);
        if !crate::volumes::is_empty_dir(&data) {
            return Ok(());
        }
        let src = berth_runtime::rootfs::mounts::secure_join(rootfs, Path::new(&m.destination)).map_err(|e| Error::Internal(format!("resolving {} in the rootfs: {e}", m.destination)))?;
        if std::fs::symlink_metadata(&src).is_ok_and(|md| md.is_dir()) {
            crate::volumes::copy_up(&src, &data)?;
            tracing::info!(volume = %m.name, path = %m.destination, "volume filled from the image");
        }
        Ok(())
    }

    /// `pause` / `unpause`: the runtime freezes or thaws the container's cgroup.
    pub fn set_paused(&self, c: &Container, paused: bool) -> Result<()> {
        let out = Command::new(&self.paths.runtime)
            .arg("--root")
            .arg(self.runtime_root())
            .arg(if paused { "pause" } else { "resume" })
            .arg(&c.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| Error::io("running", &self.paths.runtime, e))?;
        if !out.status.success() {
            return Err(Error::Internal(format!("{} the container: {}", if paused { "pausing" } else { "unpausing" }, String::from_utf8_lossy(&out.stderr).trim())));
        }
        self.db().execute("UPDATE containers SET paused = ?2 WHERE id = ?1", params![c.id, paused as i64])?;
        Ok(())
    }

    /// Renames a container; names stay unique.
    pub fn rename(&self, c: &Container, name: &str) -> Result<()> {
        // The statement's result first: resolve() below takes the lock again.
        let r = self.db().execute("UPDATE containers SET name = ?2 WHERE id = ?1", params![c.id, name]);
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                let other = self.resolve(name).map(|o| o.id).unwrap_or_default();
                Err(Error::Conflict(format!("Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name.")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sends `sig` to the container's init (through the runtime).
    pub fn signal(&self, c: &Container, sig: i32) -> Result<()> {
        // A frozen process would not act on the signal until thawed.
        if self.get(&c.id)?.is_some_and(|n| n.paused) {
            self.set_paused(c, false)?;
        }
        let out = Command::new(&self.paths.runtime)
            .arg("--root")
            .arg(self.runtime_root())
            .arg("kill")
            .arg(&c.id)
            .arg(sig.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| Error::io("running", &self.paths.runtime, e))?;
        if out.status.success() {
            return Ok(());
        }
        // The runtime's container may be gone between exit and exit.json:
        // the init pid is the fallback while the shim lives.
        if self.read_exit(&c.id).is_none() && c.pid > 0 && self.shim_pid(&c.id).is_some() && send_signal(c.pid as i32, sig).is_ok() {
            return Ok(());
        }
        if self.read_exit(&c.id).is_some() {
            return Ok(());
        }
        Err(Error::Internal(format!("signalling the container: {}", String::from_utf8_lossy(&out.stderr).trim())))
    }

    /// Waits until the container is no longer running, or `timeout` passes.
    pub async fn wait_exit(&self, c: &Container, timeout: Option<Duration>) -> Result<Option<Container>> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut cur = c.clone();
        // Most processes exit within milliseconds of the stop signal: look
        // again soon, then back off to 50 ms for the ones that take their time.
        let mut pause = Duration::from_millis(2);
        loop {
            match self.refresh(cur).await? {
                None => return Ok(None),
                Some(n) if !n.running() => return Ok(Some(n)),
                Some(n) => cur = n,
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Ok(Some(cur));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// docker stop: `sig`, `t` seconds, then SIGKILL.
    pub async fn stop(&self, c: &Container, sig: i32, t: Option<Duration>) -> Result<()> {
        if let Err(e) = self.signal(c, sig) {
            tracing::warn!(container = %c.id, error = %e.chain(), "stop signal failed, killing");
        }
        match self.wait_exit(c, t).await? {
            Some(n) if n.running() => {
                self.signal(&n, libc::SIGKILL)?;
                match self.wait_exit(&n, Some(Duration::from_secs(30))).await? {
                    Some(n) if n.running() => Err(Error::Internal(format!("container {} did not exit after SIGKILL", c.id))),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Removes a stopped container: rootfs unmounted, directories and row gone.
    /// `volumes`: also its anonymous volumes no other container uses (`rm -v`).
    pub async fn remove(&self, c: &Container, volumes: bool) -> Result<()> {
        let _g = self.transitions.lock().await;
        let Some(c) = self.get(&c.id)? else { return Ok(()) };
        if c.running() {
            return Err(Error::Conflict(format!("cannot remove container \"/{}\": container is running: stop the container before removing or force remove", c.name)));
        }
        self.remove_locked(&c, volumes)
    }

    /// The runtime's record and cgroup of a run whose shim died with its
    /// container (a crash, a power cut) and so never deleted them.
    fn runtime_cleanup(&self, id: &str) {
        let rr = self.runtime_root();
        if rr.join(id).exists() && self.shim_pid(id).is_none() {
            let st = Command::new(&self.paths.runtime).arg("--root").arg(&rr).args(["delete", "--force", id]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
            tracing::info!(container = %id, ok = st.is_ok_and(|s| s.success()), "removed the runtime state of an earlier run");
        }
    }

    fn remove_locked(&self, c: &Container, volumes: bool) -> Result<()> {
        self.runtime_cleanup(&c.id);
        mount::unmount(&self.dir(&c.id).join("rootfs"))?;
        let anonymous: Vec<String> = if volumes {
            self.mounts(&c.id)?.into_iter().filter(|m| m.typ == "volume").map(|m| m.name).filter(|n| self.volumes.get(n).ok().flatten().is_some_and(|v| v.anonymous)).collect()
        } else {
            vec![]
        };
        self.net.detach(&c.id)?;
        self.net.forget(&c.id)?;
        for d in [self.dir(&c.id), self.state_dir(&c.id)] {
            match std::fs::remove_dir_all(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing", &d, e)),
            }
        }
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute("DELETE FROM container_mounts WHERE container_id = ?1", [&c.id])?;
            tx.execute("DELETE FROM containers WHERE id = ?1", [&c.id])?;
            tx.commit()?;
        }
        self.exec_forget(&c.id);
        self.restarts.lock().unwrap_or_else(|p| p.into_inner()).remove(&c.id);
        self.backoff.lock().unwrap_or_else(|p| p.into_inner()).remove(&c.id);
        self.emit(c, "destroy", &[]);
        for v in anonymous {
            if let Err(e) = self.volumes.remove(&v, true) {
                tracing::warn!(container = %c.id, volume = %v, error = %e.chain(), "removing an anonymous volume");
            }
        }
        Ok(())
    }

    /// How many containers use an image (image removal refuses those).
    pub fn using_image(&self, image_id: &str) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db.prepare("SELECT id FROM containers WHERE image_id = ?1")?;
        let v = st.query_map([image_id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }
}

/// The files bind-mounted at /etc/hostname, /etc/hosts and /etc/resolv.conf,
/// as they are at create (a bridged container's are rewritten at each start,
/// with its addresses).
pub fn etc_files(hostname: &str, host_network: bool, extra: &[(String, String)], dns: &crate::network::etc::DnsSettings) -> Vec<(&'static str, String)> {
    use crate::network::etc;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let custom = !dns.servers.is_empty() || !dns.search.is_empty() || !dns.options.is_empty();
    let (hosts, resolv) = if host_network {
        let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        for (n, a) in extra {
            hosts.push_str(&format!("{a}\t{n}\n"));
        }
        (hosts, if custom { etc::resolv_conf(&etc::parse_resolv(&host_resolv), dns, false) } else { host_resolv })
    } else {
        (etc::hosts_file(hostname, None, extra), if custom { etc::resolv_conf(&etc::parse_resolv(&host_resolv), dns, false) } else { String::new() })
    };
    vec![("hostname", format!("{hostname}\n")), ("hosts", hosts), ("resolv.conf", resolv)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_signals() {
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a"));
        assert!(!valid_name("a/b"));
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
