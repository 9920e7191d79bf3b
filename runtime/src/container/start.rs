//! `start`: tell the waiting init to exec the user program.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::error::{Context, Error, Result};
use crate::explain;
use crate::hooks;
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
    let mut conn = conn.ctx(|| format!("connecting to {}", sock.display()))?;
    explain::step("runtime", format!("connect({})", sock.display()), "wake init, which waits in accept(); it execs the program and the connection closes on exec");
    // Init writes nothing if exec succeeds: close-on-exec closes the socket.
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    let _ = std::fs::remove_file(&sock);
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
