//! SCMP_ACT_NOTIFY: handing the filter's listener fd to the agent at
//! `listenerPath`, as runtime.md and config-linux.md describe: one message
//! on a unix stream socket, a `ContainerProcessState` JSON with the fd in
//! SCM_RIGHTS at the index `fds` names.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::Serialize;

use crate::error::{Context, Result};
use crate::explain;
use crate::state::OciState;

/// The name of the seccomp listener fd in `fds` (runtime.md).
pub const SECCOMP_FD_NAME: &str = "seccompFd";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerProcessState {
    pub oci_version: String,
    pub fds: Vec<String>,
    /// The process the filter is on, as the runtime sees it.
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    pub state: OciState,
}

impl ContainerProcessState {
    pub fn new(pid: i32, metadata: Option<String>, state: OciState) -> ContainerProcessState {
        ContainerProcessState { oci_version: state.oci_version.clone(), fds: vec![SECCOMP_FD_NAME.into()], pid, metadata, state }
    }
}

/// Connects to the agent at `path` and sends it the listener fd with `msg`.
pub fn send_to_listener(path: &Path, listener: BorrowedFd, msg: &ContainerProcessState) -> Result<()> {
    explain::step(
        "runtime",
        format!("connect({}); sendmsg(ContainerProcessState, SCM_RIGHTS seccomp listener)", path.display()),
        "the seccomp agent gets the notification fd: it answers the calls the filter sends to user space",
    );
    let sock = UnixStream::connect(path).ctx(|| format!("connecting to the seccomp listener {}", path.display()))?;
    let body = serde_json::to_vec(msg).expect("serialises");
    let fds = [listener.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(&body)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None).ctx(|| format!("sending the seccomp listener fd to {}", path.display()))?;
    Ok(())
}
