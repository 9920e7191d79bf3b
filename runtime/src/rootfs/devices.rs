//! /dev inside the container: the default device nodes every container
//! gets, `linux.devices`, the standard symlinks and /dev/console.

use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::error::{Context, Error, Result};
use crate::explain;
use crate::rootfs::mounts::{create_mount_point, do_mount, secure_join};
use crate::spec::Device;

/// The devices the spec says every Linux container has.
pub fn default_devices() -> Vec<Device> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .into_iter()
        .map(|(name, major, minor)| Device {
            typ: "c".into(),
            path: PathBuf::from(format!("/dev/{name}")),
            major,
            minor,
            file_mode: Some(0o666),
            uid: Some(0),
            gid: Some(0),
        })
        .collect()
}

/// Creates one device node; in a user namespace, where mknod is not
/// allowed, bind-mounts the host's node instead (as runc does).
pub fn create_device(rootfs: &Path, d: &Device, in_userns: bool) -> Result<()> {
    let dest = secure_join(rootfs, &d.path)?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
    }
    if in_userns {
        create_mount_point(&dest, false)?;
        return do_mount(
            "init",
            Some(&d.path),
            &dest,
            None,
            nix::mount::MsFlags::MS_BIND,
            None,
            "mknod is not allowed in a user namespace, so bind the host's device node",
        );
    }
    let kind = match d.typ.as_str() {
        "c" | "u" => SFlag::S_IFCHR,
        "b" => SFlag::S_IFBLK,
        "p" => SFlag::S_IFIFO,
        t => return Err(Error::Usage(format!("device {}: unknown type {t:?}", d.path.display()))),
    };
    let mode = Mode::from_bits_truncate(d.file_mode.unwrap_or(0o666) & 0o7777);
    let _ = std::fs::remove_file(&dest);
    explain::step(
        "init",
        format!("mknod {} {}:{} mode {:o}", d.path.display(), d.major, d.minor, mode.bits()),
        "device nodes are made, not copied: the kernel routes a node to its driver by type and major:minor",
    );
    mknod(&dest, kind, mode, makedev(d.major as u64, d.minor as u64)).ctx(|| format!("mknod {}", dest.display()))?;
    // mknod applies the umask; set the exact mode the config asked for.
    nix::sys::stat::fchmodat(None, &dest, mode, nix::sys::stat::FchmodatFlags::FollowSymlink).ctx(|| format!("chmod {}", dest.display()))?;
    nix::unistd::chown(&dest, d.uid.map(Into::into), d.gid.map(Into::into)).ctx(|| format!("chown {}", dest.display()))?;
    Ok(())
}

/// /dev/fd, /dev/stdin... point into /proc/self so they work for every process.
pub fn create_symlinks(rootfs: &Path) -> Result<()> {
    let mut links = vec![("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        let link = rootfs.join("dev").join(name);
        explain::step("init", format!("symlink /dev/{name} -> {target}"), "programs expect these standard names");
        match std::os::unix::fs::symlink(target, &link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(format!("creating symlink {}", link.display()), e)),
        }
    }
    Ok(())
}

/// /dev/ptmx must refer to the container's own devpts instance.
pub fn link_ptmx(rootfs: &Path) -> Result<()> {
    let dev = rootfs.join("dev");
    if !dev.join("pts/ptmx").exists() {
        return Ok(());
    }
    let ptmx = dev.join("ptmx");
    let _ = std::fs::remove_file(&ptmx);
    explain::step("init", "symlink /dev/ptmx -> pts/ptmx", "new pseudo-terminals must come from the container's devpts instance");
    std::os::unix::fs::symlink("pts/ptmx", &ptmx).ctx(|| format!("creating {}", ptmx.display()))
}

/// Bind-mounts the terminal's slave side over /dev/console.
pub fn mount_console(rootfs: &Path, slave: &Path) -> Result<()> {
    let dest = rootfs.join("dev/console");
    create_mount_point(&dest, false)?;
    do_mount("init", Some(slave), &dest, None, nix::mount::MsFlags::MS_BIND, None, "/dev/console is the container's terminal")
}
