//! Terminals: the container's PTY, its master sent to a console socket
//! with SCM_RIGHTS (as runc does), and the proxy used by foreground
//! `run`/`exec -t` when the caller gave no console socket.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::error::{Context, Error, Result};
use crate::explain;
use crate::sys;

pub fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path).ctx(|| format!("connecting to console socket {}", path.display()))?;
    Ok(OwnedFd::from(s))
}

/// Opens a new PTY pair from /dev/ptmx (the container's devpts when
/// called after pivot_root) and returns the master and the slave's path.
pub fn open_pty() -> Result<(OwnedFd, PathBuf)> {
    explain::step("init", "open /dev/ptmx", "a new pseudo-terminal pair: the master goes to the caller, the slave becomes the container's stdio");
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).ctx(|| "opening /dev/ptmx".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let name = ptsname_r(&master).ctx(|| "ptsname".into())?;
    // SAFETY: into_raw_fd hands over ownership of the master fd to the new OwnedFd.
    let fd = unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) };
    Ok((fd, PathBuf::from(name)))
}

/// Sends `fd` over the console socket, with the terminal's name as payload.
pub fn send_fd(sock: BorrowedFd, fd: BorrowedFd, name: &str) -> Result<()> {
    explain::step("init", "sendmsg(console socket, SCM_RIGHTS pty master)", "the caller (podman, containerd) gets the terminal's master side to relay I/O");
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).ctx(|| "sending the pty master over the console socket".into())?;
    Ok(())
}

/// Sends `fd` over `sock` with `payload`, for peers that tell messages apart by it.
pub fn send_fd_with(sock: BorrowedFd, fd: BorrowedFd, payload: &str, what: &str) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(payload.as_bytes())];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None).ctx(|| what.to_string())?;
    Ok(())
}

/// Reads from a stream socket until end-of-file: the bytes, and every fd
/// that came with them (SCM_RIGHTS), in order; `on_fd` sees each fd as it arrives.
pub fn recv_all_with_fds(sock: BorrowedFd, mut on_fd: impl FnMut(&[u8], OwnedFd) -> Result<()>) -> Result<Vec<u8>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    let mut out = Vec::new();
    loop {
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 4]);
        let (n, fds) = {
            let msg = match recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                Err(nix::Error::EINTR) => continue,
                r => r.ctx(|| "reading from the container process".into())?,
            };
            let mut fds = Vec::new();
            for c in msg.cmsgs().ctx(|| "reading control messages".into())? {
                if let ControlMessageOwned::ScmRights(v) = c {
                    // SAFETY: the kernel just installed these fds in our table for us; nobody else owns them.
                    fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                }
            }
            (msg.bytes, fds)
        };
        if n == 0 && fds.is_empty() {
            return Ok(out);
        }
        let chunk = &buf[..n];
        let mut fds = fds.into_iter();
        if let Some(first) = fds.next() {
            on_fd(chunk, first)?;
        } else {
            out.extend_from_slice(chunk);
        }
    }
}

/// Receives one fd sent with SCM_RIGHTS.
pub fn recv_fd(sock: BorrowedFd) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC).ctx(|| "receiving the pty master".into())?;
    for c in msg.cmsgs().ctx(|| "reading control messages".into())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this fd in our table for us; nobody else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Other("the console socket delivered no file descriptor".into()))
}

/// In the container's init or exec'd process: make the slave the
/// controlling terminal and stdin/stdout/stderr.
pub fn become_terminal(slave: &Path, size: Option<(u16, u16)>) -> Result<()> {
    let fd = nix::fcntl::open(slave, OFlag::O_RDWR | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).ctx(|| format!("opening {}", slave.display()))?;
    // SAFETY: `open` just returned this fd and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    explain::step("init", format!("ioctl({}, TIOCSCTTY); dup2 onto 0, 1, 2", slave.display()), "the terminal becomes the session's controlling terminal and the process's stdio");
    sys::set_controlling_tty(fd.as_fd())?;
    if let Some((rows, cols)) = size {
        sys::set_winsize(fd.as_fd(), rows, cols)?;
    }
    for target in 0..3 {
        nix::unistd::dup2(fd.as_raw_fd(), target).ctx(|| format!("dup2 terminal onto fd {target}"))?;
    }
    Ok(())
}

/// Relays bytes between our stdin/stdout and a PTY master until the
/// master reports hang-up; meanwhile `on_signal` handles signals read from
/// `sigfd` and returns true when the foreground process has exited.
pub fn relay(master: &OwnedFd, sigfd: BorrowedFd, mut on_signal: impl FnMut() -> bool) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let stdin = std::io::stdin();
    let raw_guard = RawMode::enter(stdin.as_fd());
    if let Some((r, c)) = sys::get_winsize(stdin.as_fd()) {
        let _ = sys::set_winsize(master.as_fd(), r, c);
    }
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    let mut exited = false;
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN), PollFd::new(sigfd, PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, if exited { PollTimeout::from(50u16) } else { PollTimeout::NONE }) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
            Ok(0) => break, // exited and the master is drained
            Ok(_) => {}
        }
        let rev = |i: usize| fds.get(i).and_then(|f| f.revents()).unwrap_or(PollFlags::empty());
        let (m, s, i) = (rev(0), rev(1), rev(2));
        if m.contains(PollFlags::POLLIN) {
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(nix::Error::EIO) => break,
                Ok(n) => write_all(1, &buf[..n]),
                Err(nix::Error::EINTR) => {}
                Err(e) => return Err(Error::sys("reading the terminal", e)),
            }
        } else if m.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            break;
        }
        if s.contains(PollFlags::POLLIN) && on_signal() {
            exited = true;
        }
        if i.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => write_all(master.as_raw_fd(), &buf[..n]),
            }
        }
    }
    drop(raw_guard);
    Ok(())
}

fn write_all(fd: RawFd, mut b: &[u8]) {
    // SAFETY: the caller passes an fd that is open for the duration of the call.
    let f = unsafe { BorrowedFd::borrow_raw(fd) };
    while !b.is_empty() {
        match nix::unistd::write(f, b) {
            Ok(n) => b = &b[n..],
            Err(nix::Error::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// Puts our terminal in raw mode for the relay and restores it on drop.
struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    fn enter(fd: BorrowedFd) -> RawMode {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let Ok(saved) = tcgetattr(fd) else { return RawMode { saved: None } };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(fd, SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(s) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin().as_fd(), nix::sys::termios::SetArg::TCSANOW, s);
        }
    }
}
