//! The few system calls nix does not wrap, each in a small safe function.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

use crate::error::{Context, Error, Result};

/// Joins a new session keyring named `name`, so the container does not
/// share the host session's keys (runc does the same unless --no-new-keyring).
pub fn join_session_keyring(name: &str) -> Result<()> {
    let cname = std::ffi::CString::new(name).map_err(|_| Error::Usage(format!("keyring name {name:?} contains NUL")))?;
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, name) reads a NUL-terminated
    // string that `cname` keeps alive for the duration of the call; it touches
    // no other memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, cname.as_ptr()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        // Kernels without keyrings (or seccomp'd hosts) answer ENOSYS: not fatal.
        if e.raw_os_error() == Some(libc::ENOSYS) {
            return Ok(());
        }
        return Err(Error::io(format!("joining a new session keyring {name:?}"), e));
    }
    Ok(())
}

/// Makes `fd` (a terminal) the controlling terminal of this session.
pub fn set_controlling_tty(fd: BorrowedFd) -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal) and no
    // pointers; `fd` is a valid open descriptor for the duration of the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if r < 0 {
        return Err(Error::io("making the terminal the controlling terminal (TIOCSCTTY)", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Sets a terminal's window size.
pub fn set_winsize(fd: BorrowedFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one `winsize` struct from the pointer, which
    // points to a live stack value of exactly that type.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        return Err(Error::io("setting the terminal size", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Reads a terminal's window size, if `fd` is a terminal.
pub fn get_winsize(fd: BorrowedFd) -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` struct through the pointer,
    // which points to a live, writable stack value of exactly that type.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some((ws.ws_row, ws.ws_col))
}

pub fn set_cloexec(fd: RawFd, on: bool) -> Result<()> {
    // SAFETY: fcntl on a raw fd number cannot violate memory safety; an
    // invalid fd just returns EBADF.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = FdFlag::from_bits_truncate(fcntl(b.as_raw_fd(), FcntlArg::F_GETFD).ctx(|| format!("fcntl F_GETFD on fd {fd}"))?);
    let new = if on { flags | FdFlag::FD_CLOEXEC } else { flags & !FdFlag::FD_CLOEXEC };
    fcntl(b.as_raw_fd(), FcntlArg::F_SETFD(new)).ctx(|| format!("fcntl F_SETFD on fd {fd}"))?;
    Ok(())
}

/// Before exec: fds 0..3+preserve stay open, every other fd is closed by
/// the exec (marked close-on-exec), so nothing of the runtime leaks into
/// the container.
pub fn close_fds_on_exec(preserve: usize) -> Result<()> {
    let keep_below = 3 + preserve as RawFd;
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .ctx(|| "listing /proc/self/fd".into())?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd >= keep_below {
            let _ = set_cloexec(fd, true);
        } else if fd >= 3 {
            set_cloexec(fd, false)?;
        }
    }
    Ok(())
}

/// Exits immediately, without running atexit handlers or flushing stdio
/// buffers shared with the parent (a forked child must not).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// fork(2). The caller must be single-threaded: only then is everything
/// the child can touch (allocator, locks) in a consistent state.
pub fn fork() -> Result<nix::unistd::ForkResult> {
    // SAFETY: berth-runtime never starts threads before it forks (no async
    // runtime, logging writes synchronously), so the child inherits no lock
    // held by another thread and may allocate freely.
    unsafe { nix::unistd::fork() }.ctx(|| "fork".into())
}

/// The argument block of clone3(2), as the kernel's `struct clone_args`
/// (version 2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// fork(2) that starts the child directly in the cgroup2 directory `cgroup`
/// (clone3 with CLONE_INTO_CGROUP, Linux 5.7+). A child born in its cgroup
/// never has to be migrated, and migration by pid takes a global lock that
/// costs an RCU grace period (5-20 ms). Same caller rule as `fork`.
pub fn fork_into_cgroup(cgroup: BorrowedFd) -> Result<nix::unistd::ForkResult> {
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: without CLONE_VM (and with no stack given) clone3 duplicates
    // the process like fork: the child gets a copy of our memory and
    // continues from this call with a return value of 0. The argument block
    // is a live, correctly sized `struct clone_args`. Like `fork`, this is
    // only called while the process is single-threaded.
    let r = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    match r {
        0 => Ok(nix::unistd::ForkResult::Child),
        p if p > 0 => Ok(nix::unistd::ForkResult::Parent { child: nix::unistd::Pid::from_raw(p as i32) }),
        _ => Err(Error::io("clone3(CLONE_INTO_CGROUP)", std::io::Error::last_os_error())),
    }
}

/// rename(2) that fails with EEXIST instead of replacing `to`
/// (renameat2 RENAME_NOREPLACE; called through syscall(2) because musl's
/// libc has no wrapper).
pub fn rename_noreplace(from: &std::path::Path, to: &std::path::Path) -> std::result::Result<(), nix::Error> {
    use std::os::unix::ffi::OsStrExt;
    let f = std::ffi::CString::new(from.as_os_str().as_bytes()).map_err(|_| nix::Error::EINVAL)?;
    let t = std::ffi::CString::new(to.as_os_str().as_bytes()).map_err(|_| nix::Error::EINVAL)?;
    const RENAME_NOREPLACE: libc::c_uint = 1;
    // SAFETY: both paths are NUL-terminated strings kept alive by `f` and
    // `t` for the duration of the call; the kernel only reads them.
    let r = unsafe { libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), RENAME_NOREPLACE) };
    if r < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}
