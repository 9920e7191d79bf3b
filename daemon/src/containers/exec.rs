//! `exec`: another process in a running container, held by a shim of its
//! own (`berth-shim --exec`), never by berthd.
//!
//! The shim runs `berth-runtime exec --detach`, which joins the container's
//! namespaces (setns into each), its cgroup, and applies the container's
//! capabilities, no_new_privileges and seccomp filter from its saved
//! process, with the exec's command, env, cwd and user on top. The shim is
//! the process's subreaper: it holds its pipes or PTY master, serves
//! `attach.sock` and writes `exit.json`. Everything about an exec is in its
//! directory under `<exec-root>/exec/<id>/`, so a restarted berthd still
//! knows it; the directory goes when its container is removed.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::{pid_alive, random_id, spec, write_atomic, Container, Containers};
use crate::error::{Error, Result};

/// An exec as created (`exec.json`), plus what its shim recorded.
#[derive(Debug, Clone)]
pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: Value,
    pub dir: PathBuf,
}

impl Exec {
    pub fn tty(&self) -> bool {
        self.config["Tty"].as_bool().unwrap_or(false)
    }
    pub fn stdin(&self) -> bool {
        self.config["AttachStdin"].as_bool().unwrap_or(false)
    }
    pub fn pid(&self) -> i64 {
        std::fs::read_to_string(self.dir.join("init.pid")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }
    fn exit(&self) -> Option<Value> {
        std::fs::read(self.dir.join("exit.json")).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }
    pub fn running(&self) -> bool {
        Self::alive(self.pid(), &self.exit())
    }
    fn alive(pid: i64, exit: &Option<Value>) -> bool {
        exit.is_none() && pid > 0 && pid_alive(pid as i32)
    }
    pub fn attach_path(&self) -> PathBuf {
        self.dir.join("attach.sock")
    }

    /// `GET /exec/{id}/json`, docker's shape.
    pub fn inspect(&self) -> Value {
        let cmd: Vec<String> = self.config["Cmd"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default();
        let (pid, exit) = (self.pid(), self.exit());
        let running = Self::alive(pid, &exit);
        json!({
            "ID": self.id,
            "ContainerID": self.container_id,
            "Running": running,
            "ExitCode": if running { Value::Null } else { exit.as_ref().map(|e| e["exit_code"].clone()).unwrap_or(Value::Null) },
            "Pid": pid,
            "OpenStdin": self.stdin(),
            "OpenStdout": self.config["AttachStdout"].as_bool().unwrap_or(false),
            "OpenStderr": self.config["AttachStderr"].as_bool().unwrap_or(false),
            "CanRemove": false,
            "DetachKeys": "",
            "ProcessConfig": {
                "tty": self.tty(),
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "arguments": cmd.iter().skip(1).collect::<Vec<_>>(),
                "privileged": false,
                "user": self.config["User"].as_str().unwrap_or_default(),
            },
        })
    }
}

/// Exit codes as docker gives them for a command that could not be run.
pub fn exec_failure_code(msg: &str) -> i64 {
    if msg.contains("no such file or directory") || msg.contains("not found") {
        127
    } else {
        126
    }
}

impl Containers {
    fn exec_root(&self) -> PathBuf {
        self.paths.exec_root.join("exec")
    }

    /// Records an exec for a running container (`POST /containers/{id}/exec`).
    pub fn exec_create(&self, c: &Container, config: Value) -> Result<Exec> {
        if !c.running() {
            return Err(Error::Conflict(format!("container {} is not running", c.id)));
        }
        let id = random_id()?;
        let dir = self.exec_root().join(&id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let rec = json!({"ID": id, "ContainerID": c.id, "Config": config});
        write_atomic(&dir.join("exec.json"), rec.to_string().as_bytes())?;
        Ok(Exec { id, container_id: c.id.clone(), config, dir })
    }

    /// An exec by its full id or a unique prefix.
    pub fn exec_get(&self, id: &str) -> Result<Exec> {
        let none = || Error::NotFound(format!("No such exec instance: {id}"));
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(none());
        }
        let root = self.exec_root();
        let mut found = None;
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n == id || n.starts_with(id) {
                if found.is_some() && n != id {
                    return Err(none());
                }
                found = Some(n);
            }
        }
        let n = found.ok_or_else(none)?;
        let dir = root.join(&n);
        let rec: Value = std::fs::read(dir.join("exec.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(none)?;
        Ok(Exec { id: n, container_id: rec["ContainerID"].as_str().unwrap_or_default().to_string(), config: rec["Config"].clone(), dir })
    }

    /// Removes every exec of a container (on its removal).
    pub fn exec_forget(&self, container_id: &str) {
        for e in std::fs::read_dir(self.exec_root()).into_iter().flatten().flatten() {
            let rec: Option<Value> = std::fs::read(e.path().join("exec.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
            if rec.as_ref().and_then(|r| r["ContainerID"].as_str()) == Some(container_id) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Starts the exec's shim. With `attach`, returns once the shim listens
    /// and has not started the process yet: the caller connects to
    /// `attach.sock` (the shim starts the process on that connection) and
    /// then calls `exec_wait_ready`. Without, returns once it runs.
    pub async fn exec_spawn(&self, c: &Container, x: &Exec, attach: bool) -> Result<Option<std::process::ChildStdout>> {
        if x.pid() > 0 || x.exit().is_some() {
            return Err(Error::Conflict(format!("exec {} has already been started", x.id)));
        }
        if !c.running() {
            return Err(Error::Conflict(format!("container {} is not running", c.id)));
        }
        let cfg = &x.config;
        let mut args: Vec<String> = Vec::new();
        for e in cfg["Env"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            args.extend(["--env".to_string(), e.to_string()]);
        }
        if let Some(w) = cfg["WorkingDir"].as_str().filter(|w| !w.is_empty()) {
            args.extend(["--cwd".to_string(), w.to_string()]);
        }
        let user = cfg["User"].as_str().filter(|u| !u.is_empty()).map(str::to_string).or_else(|| c.config["User"].as_str().filter(|u| !u.is_empty()).map(str::to_string));
        if let Some(u) = user {
            let rootfs = self.dir(&c.id).join("rootfs");
            let u = spec::resolve_user(&u, &spec::read_etc(&rootfs, "passwd"), &spec::read_etc(&rootfs, "group"))?;
            args.extend(["--user".to_string(), format!("{}:{}", u.uid, u.gid)]);
            for g in &u.additional_gids {
                args.extend(["--additional-gids".to_string(), g.to_string()]);
            }
            args.extend(["--env".to_string(), format!("HOME={}", u.home)]);
        }
        args.push("--".into());
        args.extend(cfg["Cmd"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
        let mut cmd = Command::new(&self.paths.shim);
        cmd.args(["--exec", "--id", &c.id]).arg("--runtime").arg(&self.paths.runtime).arg("--runtime-root").arg(self.runtime_root()).arg("--state-dir").arg(&x.dir);
        if x.tty() {
            cmd.arg("--tty");
        }
        if x.stdin() {
            cmd.arg("--stdin");
        }
        if attach {
            cmd.arg("--wait-attach");
        }
        for a in &args {
            cmd.arg("--exec-arg").arg(a);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let shim = self.paths.shim.clone();
        let dir = x.dir.clone();
        tokio::task::spawn_blocking(move || -> Result<Option<std::process::ChildStdout>> {
            let mut child = cmd.spawn().map_err(|e| Error::io("starting the shim", &shim, e))?;
            let out = child.stdout.take();
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            let mut out = out.ok_or_else(|| Error::Internal("shim without stdout".into()))?;
            if attach {
                // The first line says the shim listens.
                let mut r = std::io::BufReader::new(&mut out);
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                let v: Value = serde_json::from_str(line.trim()).unwrap_or(Value::Null);
                if v["attach"].is_null() {
                    return Err(shim_said(&v, &line, &dir));
                }
                return Ok(Some(out));
            }
            exec_ready(out, &dir).map(|_| None)
        })
        .await
        .map_err(|e| Error::Internal(format!("shim task: {e}")))?
    }

    /// Records a start that failed as docker does: exit code 126/127.
    pub fn exec_failed(&self, x: &Exec, msg: &str) {
        let rec = json!({"pid": 0, "exit_code": exec_failure_code(msg), "error": msg, "finished_at": crate::time::rfc3339_now()});
        let _ = write_atomic(&x.dir.join("exit.json"), rec.to_string().as_bytes());
    }
}

/// Reads the shim's ready line: the process's pid, or why it did not start.
pub fn exec_ready(out: std::process::ChildStdout, dir: &std::path::Path) -> Result<i64> {
    let mut line = String::new();
    let _ = std::io::BufReader::new(out).read_line(&mut line);
    let v: Value = serde_json::from_str(line.trim()).unwrap_or(Value::Null);
    v["pid"].as_i64().ok_or_else(|| shim_said(&v, &line, dir))
}

fn shim_said(v: &Value, line: &str, dir: &std::path::Path) -> Error {
    match v["error"].as_str() {
        Some(m) => Error::ExecFailed(m.to_string()),
        None => Error::Internal(format!("the exec shim said {:?} (see {})", line.trim(), dir.join("shim.log").display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes() {
        assert_eq!(exec_failure_code("container init: exec \"/nonexist\": no such file or directory"), 127);
        assert_eq!(exec_failure_code("container init: exec \"/etc/passwd\": permission denied"), 126);
    }
}
