//! `kill`: send a signal to the container's init, or to all its processes.

use std::path::Path;
use std::str::FromStr;

use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::explain;
use crate::state::{Container, Status};

/// `KILL`, `SIGKILL`, `9`, `sigterm` all name a signal.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::Usage(format!("unknown signal number {n}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    Signal::from_str(&name).map_err(|_| Error::Usage(format!("unknown signal {s:?}")))
}

pub fn kill(root: &Path, id: &str, sig: Signal, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if status == Status::Stopped {
        return Err(Error::WrongState { id: id.into(), status: status.to_string(), action: "kill", wanted: "created, running or paused" });
    }
    if all {
        if let Some(cg) = &c.saved.cgroup {
            explain::step("runtime", format!("signal {sig} to every pid in the container's cgroup"), "the cgroup knows every process of the container, even re-parented ones");
            return cg.kill_all(sig);
        }
    }
    explain::step("runtime", format!("kill({}, {sig})", c.saved.pid), "signal the container's init");
    send(Pid::from_raw(c.saved.pid), sig).map_err(|e| Error::sys(format!("sending {sig} to container {id} (pid {})", c.saved.pid), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
