//! Switching the root: pivot_root(2), or MS_MOVE + chroot with --no-pivot.

use std::path::Path;

use nix::mount::{umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, pivot_root};

use crate::error::{Context, Result};
use crate::explain;
use crate::rootfs::mounts::do_mount;

/// Makes `rootfs` the root of the mount namespace and detaches the old root.
pub fn pivot(rootfs: &Path) -> Result<()> {
    chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
    // pivot_root(".", ".") stacks the old root on top of the new one at the
    // same place, so no directory for it has to exist in the image.
    explain::step("init", format!("pivot_root({0}, {0})", rootfs.display()), "the rootfs becomes /; the host's root is stacked on top of it, to be detached next");
    pivot_root(".", ".").ctx(|| format!("pivot_root into {}", rootfs.display()))?;
    // Make the old root a slave so that unmounting it cannot propagate to the host.
    do_mount("init", None, Path::new("."), None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None, "old root becomes a slave: its unmount must not reach the host")?;
    explain::step("init", "umount2(., MNT_DETACH)", "detach the host's root: the container can no longer reach host files");
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detaching the old root".to_string())?;
    chdir("/").ctx(|| "chdir /".to_string())
}

/// For filesystems that cannot pivot (ramfs as /): move the rootfs over /
/// and chroot. Weaker: the host root stays reachable by escaping the chroot.
pub fn move_root(rootfs: &Path) -> Result<()> {
    chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
    do_mount("init", Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None, "--no-pivot: move the rootfs mount over /")?;
    explain::step("init", "chroot(.)", "--no-pivot: change the root directory only (weaker than pivot_root)");
    chroot(".").ctx(|| "chroot".to_string())?;
    chdir("/").ctx(|| "chdir /".to_string())
}
