//! The container's rootfs: an overlay of the image's layers (lowerdirs, top
//! first) with the container's own upper/ and work/.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Internal(format!("path {p:?} holds a NUL byte")))
}

/// mount(2) of an overlay at `target` with option string `data`.
fn mount_overlay_raw(target: &CString, data: &CString) -> std::io::Result<()> {
    let fstype = c"overlay";
    // SAFETY: every pointer is a live NUL-terminated string for the duration
    // of the call; mount(2) does not keep them.
    let r = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), libc::MS_NODEV, data.as_ptr().cast()) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// umount2(2) of `target`.
fn umount_raw(target: &CString, flags: libc::c_int) -> std::io::Result<()> {
    // SAFETY: `target` is a live NUL-terminated string; umount2 does not keep it.
    let r = unsafe { libc::umount2(target.as_ptr(), flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The overlay option string; lowers are given bottom (base layer) first.
pub fn overlay_data(lowers_bottom_first: &[PathBuf], upper: &Path, work: &Path) -> String {
    let lower: Vec<String> = lowers_bottom_first.iter().rev().map(|p| p.display().to_string()).collect();
    format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), upper.display(), work.display())
}

pub fn mount_rootfs(target: &Path, lowers_bottom_first: &[PathBuf], upper: &Path, work: &Path) -> Result<()> {
    if is_mounted(target) {
        return Ok(());
    }
    let data = overlay_data(lowers_bottom_first, upper, work);
    // The kernel takes one page of mount options.
    if data.len() >= 4096 {
        return Err(Error::Internal(format!("overlay options are {} bytes (the kernel takes at most 4095): too many layers ({})", data.len(), lowers_bottom_first.len())));
    }
    let d = CString::new(data).map_err(|_| Error::Internal("overlay options hold a NUL byte".into()))?;
    mount_overlay_raw(&cstr(target)?, &d).map_err(|e| Error::io("mounting the overlay rootfs at", target, e))
}

/// Unmounts `target` if it is mounted; a busy mount is detached (it goes
/// when its last user does).
pub fn unmount(target: &Path) -> Result<()> {
    if !is_mounted(target) {
        return Ok(());
    }
    let c = cstr(target)?;
    match umount_raw(&c, 0) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => umount_raw(&c, libc::MNT_DETACH).map_err(|e| Error::io("unmounting", target, e)),
        Err(e) => Err(Error::io("unmounting", target, e)),
    }
}

/// Whether `target` is a mount point in berthd's mount namespace.
pub fn is_mounted(target: &Path) -> bool {
    let Ok(s) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let want = target.display().to_string().replace(' ', "\\040");
    s.lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_top_first() {
        let l = [PathBuf::from("/l/base"), PathBuf::from("/l/top")];
        assert_eq!(overlay_data(&l, Path::new("/c/upper"), Path::new("/c/work")), "lowerdir=/l/top:/l/base,upperdir=/c/upper,workdir=/c/work");
        assert!(!is_mounted(Path::new("/definitely/not/mounted")));
    }
}
