//! `delete`: remove a stopped container (or, with --force, any container).

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{Container, Status};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    match status {
        Status::Stopped => {}
        // A created container never ran user code: deleting it is always allowed (as runc).
        Status::Created | Status::Creating => kill_and_wait(&c),
        Status::Running | Status::Paused if force => kill_and_wait(&c),
        _ => {
            return Err(Error::WrongState { id: id.into(), status: status.to_string(), action: "delete", wanted: "stopped (or use --force)" });
        }
    }
    destroy(&c)
}

fn kill_and_wait(c: &Container) {
    if let Some(cg) = &c.saved.cgroup {
        let _ = cg.kill_all(Signal::SIGKILL);
        if cg.is_frozen() {
            let _ = cg.set_frozen(false);
        }
    }
    let _ = nix::sys::signal::kill(Pid::from_raw(c.saved.pid), Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.init_alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Removes everything the container owns; keeps going past failures and reports the first.
pub fn destroy(c: &Container) -> Result<()> {
    let mut errors: Vec<Error> = Vec::new();
    if let Some(cg) = &c.saved.cgroup {
        // Processes outside the pid namespace's reach (no own pidns) may linger.
        if let Ok(pids) = cg.procs() {
            for pid in pids {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if let Err(e) = cg.remove() {
            errors.push(e);
        }
    }
    if let Err(e) = std::fs::remove_dir_all(&c.dir).ctx(|| format!("removing {}", c.dir.display())) {
        errors.push(e);
    }
    if let Some(h) = &c.saved.hooks {
        let mut st = c.oci_state();
        st.status = Status::Stopped;
        hooks::run_all_warn("poststop", &h.poststop, &st, "runtime");
    }
    match errors.into_iter().next() {
        None => Ok(()),
        Some(e) => Err(e),
    }
}
