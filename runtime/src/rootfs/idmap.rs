//! Id-mapped bind mounts and recursive mount attributes, through the new
//! mount API (open_tree, mount_setattr, move_mount; Linux 5.12+).
//!
//! An id-mapped mount shows the files of its source with their owners
//! translated through a user namespace: with the mapping `0 1000 1`, a file
//! owned by 1000 on disk appears owned by 0 inside the mount, and a file
//! root creates through it lands on disk owned by 1000. The kernel takes the
//! mapping from a user namespace fd, so the runtime makes a throw-away user
//! namespace just to carry it.
//!
//! The mount is prepared by the runtime, on the host, before it forks:
//! `open_tree(OPEN_TREE_CLONE)` makes a detached copy of the source,
//! `mount_setattr(MOUNT_ATTR_IDMAP)` maps it, and init later attaches the
//! copy at its destination with `move_mount`. Doing it on the host side
//! means the mapping may name host ids that a container's own user
//! namespace could not (runc prepares them the same way).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Context, Error, Result};
use crate::explain;
use crate::namespaces;
use crate::spec::{IdMapping, Mount};

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_ATIME: u64 = 0x70; // the mask of the three atime modes
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

const OPEN_TREE_CLONE: u32 = 1;
const AT_RECURSIVE: u32 = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
#[derive(Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn cpath(p: &Path) -> Result<std::ffi::CString> {
    std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str())).map_err(|_| Error::Usage(format!("path {} contains a NUL byte", p.display())))
}

/// mount_setattr(2) on `path` (or on `fd` itself when `path` is empty).
fn mount_setattr(fd: i32, path: &Path, recursive: bool, attr: &MountAttr) -> std::io::Result<()> {
    let p = cpath(path).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut flags = if recursive { AT_RECURSIVE } else { 0 };
    if path.as_os_str().is_empty() {
        flags |= libc::AT_EMPTY_PATH as u32;
    }
    // SAFETY: `p` is NUL-terminated and `attr` a live, correctly sized
    // struct mount_attr; the kernel only reads them.
    let r = unsafe { libc::syscall(libc::SYS_mount_setattr, fd, p.as_ptr(), flags, attr as *const MountAttr, std::mem::size_of::<MountAttr>()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A detached copy of the mount(s) at `src`.
fn open_tree_clone(src: &Path, recursive: bool) -> Result<OwnedFd> {
    let p = cpath(src)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `p` is a NUL-terminated path alive for the call.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, p.as_ptr(), flags) };
    if r < 0 {
        return Err(Error::io(format!("open_tree({}, OPEN_TREE_CLONE)", src.display()), std::io::Error::last_os_error()));
    }
    // SAFETY: open_tree returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// Attaches the detached tree `fd` at `dest`.
pub fn move_mount(fd: &OwnedFd, dest: &Path) -> Result<()> {
    let empty = c"";
    let d = cpath(dest)?;
    explain::step("init", format!("move_mount(fd {}, {})", fd.as_raw_fd(), dest.display()), "attach the id-mapped copy the runtime prepared on the host");
    // SAFETY: both paths are NUL-terminated and alive; `fd` is an open mount fd.
    let r = unsafe { libc::syscall(libc::SYS_move_mount, fd.as_raw_fd(), empty.as_ptr(), libc::AT_FDCWD, d.as_ptr(), MOVE_MOUNT_F_EMPTY_PATH) };
    if r < 0 {
        return Err(Error::io(format!("move_mount to {}", dest.display()), std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Sets and clears mount attributes on the mount at `dest` (and, when
/// `recursive`, every mount below it: what `rro`, `rnosuid`... mean).
pub fn set_attrs(dest: &Path, set: u64, clr: u64, recursive: bool) -> Result<()> {
    if set == 0 && clr == 0 {
        return Ok(());
    }
    explain::step(
        "init",
        format!("mount_setattr({}, {}set={set:#x}, clr={clr:#x})", dest.display(), if recursive { "AT_RECURSIVE, " } else { "" }),
        "mount attributes that, unlike mount(2) flags, can apply to a whole tree of mounts at once",
    );
    mount_setattr(libc::AT_FDCWD, dest, recursive, &MountAttr { attr_set: set, attr_clr: clr, ..Default::default() })
        .map_err(|e| Error::io(format!("mount_setattr on {} (set {set:#x}, clear {clr:#x}; needs Linux 5.12+)", dest.display()), e))
}

/// A user namespace that carries `uid`/`gid` mappings, for MOUNT_ATTR_IDMAP.
/// A child unshares it, we write its maps and keep a handle on it; the
/// namespace outlives the child because the handle keeps it alive.
fn mapping_userns(uid: &[IdMapping], gid: &[IdMapping]) -> Result<OwnedFd> {
    let (r_ready, w_ready) = nix::unistd::pipe().ctx(|| "pipe".into())?;
    let (r_done, w_done) = nix::unistd::pipe().ctx(|| "pipe".into())?;
    // SAFETY: the runtime is single-threaded here (see sys::fork); the
    // child only makes raw syscalls (unshare, write, read, _exit).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::io("fork for an id-mapping user namespace", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: async-signal-safe syscalls on fds this process owns.
        unsafe {
            let ok: u8 = if libc::unshare(libc::CLONE_NEWUSER) == 0 { 1 } else { 0 };
            libc::write(w_ready.as_raw_fd(), &ok as *const u8 as *const libc::c_void, 1);
            let mut b = 0u8;
            libc::close(w_done.as_raw_fd());
            libc::read(r_done.as_raw_fd(), &mut b as *mut u8 as *mut libc::c_void, 1);
            libc::_exit(0);
        }
    }
    drop(w_ready);
    drop(r_done);
    let child = nix::unistd::Pid::from_raw(pid);
    let result = (|| {
        let mut ok = [0u8; 1];
        nix::unistd::read(r_ready.as_raw_fd(), &mut ok).ctx(|| "waiting for the id-mapping namespace".into())?;
        if ok[0] != 1 {
            return Err(Error::Other("unshare(CLONE_NEWUSER) failed in the helper that carries an id mapping".into()));
        }
        namespaces::write_id_maps(pid, uid, gid)?;
        let p = format!("/proc/{pid}/ns/user");
        let f = std::fs::File::open(&p).ctx(|| format!("opening {p}"))?;
        Ok(OwnedFd::from(f))
    })();
    drop(w_done); // the child reads EOF and exits
    let _ = nix::sys::wait::waitpid(child, None);
    result
}

/// Whether a mount asks for an id mapping, and whether recursively.
pub fn wants_idmap(m: &Mount) -> Option<bool> {
    let opt = |o: &str| m.options.iter().any(|x| x == o);
    if opt("ridmap") {
        Some(true)
    } else if opt("idmap") || !m.uid_mappings.is_empty() || !m.gid_mappings.is_empty() {
        Some(opt("rbind") || m.typ.as_deref() == Some("rbind"))
    } else {
        None
    }
}

/// Prepares the id-mapped copies of every mount that asks for one, indexed
/// like `mounts`. Mounts without mappings of their own use the container's
/// (`linux.uidMappings`/`gidMappings`), as the spec says for `idmap`.
pub fn prepare(mounts: &[Mount], ct_uid: &[IdMapping], ct_gid: &[IdMapping]) -> Result<Vec<Option<OwnedFd>>> {
    let mut out = Vec::with_capacity(mounts.len());
    for (i, m) in mounts.iter().enumerate() {
        let Some(recursive) = wants_idmap(m) else {
            out.push(None);
            continue;
        };
        let field = format!("mounts[{i}]");
        let is_bind = m.options.iter().any(|o| o == "bind" || o == "rbind") || matches!(m.typ.as_deref(), Some("bind") | Some("rbind"));
        if !is_bind {
            return Err(Error::Usage(format!("{field}: id mappings are only possible on bind mounts")));
        }
        let (uid, gid) = if m.uid_mappings.is_empty() && m.gid_mappings.is_empty() { (ct_uid, ct_gid) } else { (&m.uid_mappings[..], &m.gid_mappings[..]) };
        if uid.is_empty() || gid.is_empty() {
            return Err(Error::Usage(format!("{field}: an id-mapped mount needs both uidMappings and gidMappings (on the mount or in linux)")));
        }
        let src = m.source.as_deref().ok_or_else(|| Error::Usage(format!("{field}: a bind mount needs a source")))?;
        explain::step(
            "runtime",
            format!("open_tree({}, OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP, {})", src.display(), namespaces::map_text(uid).trim_end().replace('\n', "; ")),
            "an id-mapped copy of the source: owners appear translated through the mapping",
        );
        let tree = open_tree_clone(src, recursive)?;
        let userns = mapping_userns(uid, gid)?;
        let attr = MountAttr { attr_set: MOUNT_ATTR_IDMAP, userns_fd: userns.as_raw_fd() as u64, ..Default::default() };
        mount_setattr(tree.as_raw_fd(), Path::new(""), recursive, &attr).map_err(|e| {
            Error::io(format!("{field}: mount_setattr(MOUNT_ATTR_IDMAP) on {} (the filesystem must support id-mapped mounts; Linux 5.12+)", src.display()), e)
        })?;
        out.push(Some(tree));
    }
    Ok(out)
}
