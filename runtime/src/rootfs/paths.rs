//! maskedPaths and readonlyPaths: hiding and freezing parts of /proc and /sys.

use std::path::Path;

use nix::mount::MsFlags;

use crate::error::{Error, Result};
use crate::rootfs::mounts::{bind_remount, do_mount};

/// Hides `path` (already inside the new root): a directory gets an empty
/// read-only tmpfs over it, a file gets /dev/null bound over it.
pub fn mask(path: &Path) -> Result<()> {
    let md = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("masking {}", path.display()), e)),
    };
    if md.is_dir() {
        do_mount("init", Some(Path::new("tmpfs")), path, Some("tmpfs"), MsFlags::MS_RDONLY, None, "masked path: an empty read-only tmpfs hides the directory")
    } else {
        do_mount("init", Some(Path::new("/dev/null")), path, None, MsFlags::MS_BIND, None, "masked path: /dev/null hides the file's content")
    }
}

/// Makes `path` read-only by binding it onto itself and remounting.
pub fn readonly(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    do_mount("init", Some(path), path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, "read-only path: a bind mount of itself, so it can get its own flags")?;
    bind_remount("init", path, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, MsFlags::empty())
}
