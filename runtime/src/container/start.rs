//! `start`: tell the waiting init to exec the user program.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::error::{Context, Error, Result};
use crate::explain;
use crate::{hooks, process, seccomp, tty};
use crate::state::{self, Container, Status};

pub fn start(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if status != Status::Created {
        return Err(Error::WrongState { id: id.into(), status: status.to_string(), action: "start", wanted: "created" });
    }
    let sock = c.dir.join(state::EXEC_SOCKET);
    // Connect relative to the state dir: its absolute path may be longer than sun_path allows.
    let cwd = std::env::current_dir().ctx(|| "reading the current directory".into())?;
    nix::unistd::chdir(&c.dir).ctx(|| format!("chdir {}", c.dir.display()))?;
    let conn = UnixStream::connect(state::EXEC_SOCKET);
    nix::unistd::chdir(&cwd).ctx(|| format!("chdir back to {}", cwd.display()))?;
    let conn = conn.ctx(|| format!("connecting to {}", sock.display()))?;
    explain::step("runtime", format!("connect({})", sock.display()), "wake init, which waits in accept(); it execs the program and the connection closes on exec");
    // Init writes nothing if exec succeeds: close-on-exec closes the socket.
    // Before that it may hand over its seccomp listener fd, for the agent.
    let got = tty::recv_all_with_fds(conn.as_fd(), |payload, fd| {
        forward_listener(&c, payload, fd).inspect_err(|_| {
            // Nobody could answer its notified calls: the program would hang on the first one.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.saved.pid), nix::sys::signal::Signal::SIGKILL);
        })
    });
    let _ = std::fs::remove_file(&sock);
    let reply = String::from_utf8_lossy(&got?).into_owned();
    if !reply.trim().is_empty() {
        return Err(Error::Init(reply.trim().to_string()));
    }
    if let Some(h) = &c.saved.hooks {
        let mut st = c.oci_state();
        st.status = Status::Running;
        hooks::run_all_warn("poststart", &h.poststart, &st, "runtime");
    }
    Ok(())
}

/// Sends init's seccomp listener fd to the agent at `listenerPath`. The
/// container is still `created`: its program has not been exec'd yet.
fn forward_listener(c: &Container, payload: &[u8], fd: std::os::fd::OwnedFd) -> Result<()> {
    if payload != process::SECCOMP_LISTENER_MARK.as_bytes() {
        return Err(Error::Other("init sent an unexpected file descriptor".into()));
    }
    let s = c.saved.seccomp.as_ref().ok_or_else(|| Error::Other("init sent a seccomp listener, but the container has no seccomp profile".into()))?;
    let path = s.listener_path.as_deref().ok_or_else(|| Error::Other("a seccomp listener without a listenerPath".into()))?;
    let mut st = c.oci_state();
    st.status = Status::Created;
    let msg = seccomp::notify::ContainerProcessState::new(c.saved.pid, s.listener_metadata.clone(), st);
    seccomp::notify::send_to_listener(path, fd.as_fd(), &msg)
}
