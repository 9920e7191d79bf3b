//! Network namespaces made by berthd, kept alive by a bind mount of their
//! nsfs file at `<exec-root>/netns/<id>` (as `ip netns add` does), so the
//! runtime can join one by path and berthd can configure it before the
//! container exists.
//!
//! unshare(CLONE_NEWNET) and setns(CLONE_NEWNET) change only the calling
//! thread's namespace, so each is done in a short-lived thread of its own:
//! no tokio worker ever ends up in a container's namespace.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::netlink;

fn cstr(p: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Moves the calling thread into a new, empty network namespace.
fn unshare_net() -> io::Result<()> {
    // SAFETY: unshare(2) takes no pointers; CLONE_NEWNET affects only this thread.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) })
}

/// Moves the calling thread into the network namespace `f` refers to.
fn setns_net(f: &File) -> io::Result<()> {
    // SAFETY: f is an open nsfs descriptor for the duration of the call;
    // setns with CLONE_NEWNET changes only this thread.
    check(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) })
}

/// `mount --bind src dst`.
fn bind_mount(src: &Path, dst: &Path) -> io::Result<()> {
    let (s, d) = (cstr(src)?, cstr(dst)?);
    // SAFETY: s and d are NUL-terminated strings alive across the call; the
    // fstype and data pointers may be null for a bind mount.
    check(unsafe { libc::mount(s.as_ptr(), d.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) })
}

/// `umount -l p`; not mounted is fine.
fn detach(p: &Path) -> io::Result<()> {
    let c = cstr(p)?;
    // SAFETY: c is a NUL-terminated string alive across the call.
    match check(unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) }) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOENT)) => Ok(()),
        r => r,
    }
}

/// Makes a fresh network namespace on a new thread and pins it at `path`;
/// loopback is brought up there.
pub fn create(path: &Path) -> io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let p: PathBuf = path.to_path_buf();
    let r = std::thread::spawn(move || -> io::Result<()> {
        unshare_net()?;
        File::create(&p)?;
        bind_mount(Path::new("/proc/thread-self/ns/net"), &p)?;
        let s = netlink::Socket::open()?;
        s.set_up(netlink::index("lo")?)
    })
    .join()
    .map_err(|_| io::Error::other("the netns thread panicked"))?;
    if r.is_err() {
        let _ = remove(path);
    }
    r
}

/// Runs `f` on a thread that has joined the namespace pinned at `path`.
pub fn run_in<T: Send + 'static>(path: &Path, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    let ns = File::open(path)?;
    std::thread::spawn(move || {
        setns_net(&ns)?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("the netns thread panicked"))?
}

/// Unpins the namespace (it goes away with its last process) and removes the file.
pub fn remove(path: &Path) -> io::Result<()> {
    detach(path)?;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}
