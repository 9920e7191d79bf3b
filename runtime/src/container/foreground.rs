//! Foreground `run` and `exec`: wait for the process, forward signals to
//! it, relay its terminal, and return its exit status (128+signal when a
//! signal ended it, as shells report).

use std::os::fd::{AsFd, OwnedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Context, Result};

const FORWARDED: [Signal; 8] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCHLD,
];

/// Blocks the signals a foreground runtime forwards. Call before forking,
/// so none is lost between fork and the wait loop; container processes
/// clear their mask before exec.
pub fn block_signals() -> Result<SigSet> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).ctx(|| "sigprocmask".into())?;
    Ok(set)
}

/// Waits for `pid` (our child, or re-parented to us as subreaper).
pub fn wait(pid: Pid, set: SigSet, master: Option<OwnedFd>) -> Result<i32> {
    let mut sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ctx(|| "signalfd".into())?;
    let mut code: Option<i32> = None;
    let master_ref = master.as_ref();
    let mut handle = |sfd: &mut SignalFd| -> bool {
        while let Ok(Some(info)) = sfd.read_signal() {
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else { continue };
            match sig {
                Signal::SIGCHLD => {}
                Signal::SIGWINCH => {
                    if let (Some(m), Some((r, c))) = (master_ref, crate::sys::get_winsize(std::io::stdin().as_fd())) {
                        let _ = crate::sys::set_winsize(m.as_fd(), r, c);
                    }
                }
                s => {
                    let _ = nix::sys::signal::kill(pid, s);
                }
            }
        }
        // Reap everything that exited: orphans of the container come to us too.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) if p == pid => code = Some(c),
                Ok(WaitStatus::Signaled(p, s, _)) if p == pid => code = Some(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        code.is_some()
    };
    if let Some(m) = &master {
        let raw = std::os::fd::AsRawFd::as_raw_fd(&sfd);
        // SAFETY: `sfd` lives until the end of this function, past the relay
        // that polls this borrowed fd; the closure only reads from it.
        let sig_fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
        crate::tty::relay(m, sig_fd, || handle(&mut sfd))?;
    }
    // The relay ends on hang-up; make sure the process is reaped.
    while !handle(&mut sfd) {
        wait_readable(&sfd);
    }
    Ok(code.unwrap_or(0))
}

fn wait_readable(sfd: &SignalFd) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
    let _ = poll(&mut fds, PollTimeout::from(1000u16));
}

