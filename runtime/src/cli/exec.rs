//! exec: `--process FILE` or `ID CMD ARGS...` with runc's flags.

use std::path::PathBuf;

use berth_runtime::container::exec::{exec as run_exec, ExecOpts};
use berth_runtime::spec::{Process, Spec};
use berth_runtime::state::Container;
use berth_runtime::{tty, Error};

use super::args::{unknown, Args, Item};
use super::Globals;

pub fn exec(g: &Globals, a: &mut Args) -> Result<i32, Error> {
    let mut process_file: Option<PathBuf> = None;
    let (mut tty_flag, mut detach, mut no_new_privs) = (false, false, None);
    let (mut console, mut pid_file, mut cwd, mut user) = (None, None, None, None);
    let (mut env, mut gids, mut caps) = (Vec::new(), Vec::new(), Vec::new());
    let (mut preserve, mut apparmor, mut label) = (0usize, None, None);
    let mut id: Option<String> = None;
    let mut cmd: Vec<String> = Vec::new();
    while let Some(it) = a.next()? {
        match it {
            Item::Positional(p) => {
                if id.is_none() {
                    id = Some(p);
                } else {
                    // The command starts here; everything after belongs to it.
                    cmd.push(p);
                    cmd.extend(a.rest()?);
                    break;
                }
            }
            Item::Flag(f) => match f.as_str() {
                "process" | "p" => process_file = Some(PathBuf::from(a.value(&f)?)),
                "tty" | "t" => tty_flag = a.optional_bool()?,
                "detach" | "d" => detach = true,
                "console-socket" => console = Some(PathBuf::from(a.value(&f)?)),
                "pid-file" => pid_file = Some(PathBuf::from(a.value(&f)?)),
                "env" | "e" => env.push(a.value(&f)?),
                "cwd" => cwd = Some(a.value(&f)?),
                "user" | "u" => user = Some(a.value(&f)?),
                "additional-gids" | "g" => gids.push(a.value(&f)?),
                "cap" | "c" => caps.push(a.value(&f)?),
                "no-new-privs" => no_new_privs = Some(a.optional_bool()?),
                "preserve-fds" => {
                    let v = a.value(&f)?;
                    preserve = v.parse().map_err(|_| Error::Usage(format!("--preserve-fds {v}: expected a number")))?;
                }
                "apparmor" => apparmor = Some(a.value(&f)?),
                "process-label" => label = Some(a.value(&f)?),
                _ => return Err(unknown("exec", &f)),
            },
        }
    }
    let id = id.ok_or_else(|| Error::Usage("exec: a container id is required".into()))?;
    let c = Container::load(&g.root, &id)?;
    let mut p: Process = match &process_file {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            // Reuse the config parser's field-naming errors by wrapping the process in a spec.
            let wrapped = format!("{{\"ociVersion\":\"1.0.0\",\"process\":{}}}", String::from_utf8_lossy(&text));
            Spec::from_json(wrapped.as_bytes(), path)?.process.unwrap_or_default()
        }
        None => {
            if cmd.is_empty() {
                return Err(Error::Usage("exec: a command is required (or --process FILE)".into()));
            }
            // As runc: start from the container's process and override.
            let mut base = c.saved.process.clone().unwrap_or_default();
            base.args = cmd;
            base.terminal = tty_flag;
            base.console_size = None;
            base
        }
    };
    p.env.extend(env);
    if let Some(d) = cwd {
        p.cwd = d;
    }
    if let Some(u) = user {
        let (uid, gid) = u.split_once(':').unwrap_or((&u, ""));
        p.user.uid = uid.parse().map_err(|_| Error::Usage(format!("--user {u}: expected UID[:GID] as numbers")))?;
        if !gid.is_empty() {
            p.user.gid = gid.parse().map_err(|_| Error::Usage(format!("--user {u}: expected UID[:GID] as numbers")))?;
        }
    }
    for g in gids {
        p.user.additional_gids.push(g.parse().map_err(|_| Error::Usage(format!("--additional-gids {g}: expected a number")))?);
    }
    if !caps.is_empty() {
        let mut set = p.capabilities.clone().unwrap_or_default();
        for cap in caps {
            for s in [&mut set.bounding, &mut set.effective, &mut set.permitted, &mut set.ambient, &mut set.inheritable] {
                let v = s.get_or_insert_with(Vec::new);
                if !v.contains(&cap) {
                    v.push(cap.clone());
                }
            }
        }
        berth_runtime::capabilities::validate(&set).map_err(Error::Usage)?;
        p.capabilities = Some(set);
    }
    if let Some(n) = no_new_privs {
        p.no_new_privileges = n;
    }
    if apparmor.is_some() {
        p.apparmor_profile = apparmor;
    }
    if label.is_some() {
        p.selinux_label = label;
    }
    if p.args.is_empty() {
        return Err(Error::Usage("exec: the process has no args".into()));
    }
    let console_fd = match &console {
        Some(path) => Some(tty::connect_console_socket(path)?),
        None => None,
    };
    run_exec(ExecOpts { root: g.root.clone(), id, process: p, console: console_fd, pid_file, detach, preserve_fds: preserve }, !detach)
}
