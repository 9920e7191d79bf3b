//! The container's root filesystem: everything init does in its new mount
//! namespace before it pivots into the rootfs, and the finishing touches
//! after.

pub mod devices;
pub mod idmap;
pub mod mounts;
pub mod paths;
pub mod pivot;

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::cgroups::{Hierarchies, Placement};
use crate::error::{Context, Error, Result};
use crate::explain;
use crate::spec::Spec;
use mounts::{do_mount, Options};

/// What init needs to know about the cgroup to mount `type: cgroup` entries.
pub struct CgroupView<'a> {
    pub hierarchies: Option<&'a Hierarchies>,
    pub placement: Option<&'a Placement>,
    pub new_cgroupns: bool,
}

/// Steps before pivot_root: propagation, the rootfs bind, every mount, /dev.
pub fn prepare(spec: &Spec, rootfs: &Path, cg: &CgroupView, in_userns: bool, idmapped: &[Option<std::os::fd::OwnedFd>]) -> Result<()> {
    // Nothing mounted from here on may propagate back to the host.
    do_mount("init", None, Path::new("/"), None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None, "make every mount a slave: host mounts still appear, ours never leak out")?;
    // pivot_root needs the new root to be a mount point.
    do_mount("init", Some(rootfs), rootfs, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, "pivot_root needs the rootfs to be a mount point: bind it onto itself")?;

    let cgroup_mount = |dest: &Path, o: &Options| mount_cgroup(dest, o, cg);
    let mut dev_bound = false;
    let label = spec.linux.as_ref().and_then(|l| l.mount_label.as_deref()).filter(|_| crate::security::selinux_enabled());
    for (i, m) in spec.mounts.iter().enumerate() {
        mounts::mount_entry(rootfs, m, &cgroup_mount, idmapped.get(i).and_then(|f| f.as_ref()), label)?;
        if m.destination == Path::new("/dev") && m.typ.as_deref() != Some("tmpfs") {
            dev_bound = true;
        }
    }

    let linux = spec.linux.clone().unwrap_or_default();
    if !dev_bound {
        std::fs::create_dir_all(rootfs.join("dev")).ctx(|| format!("creating {}/dev", rootfs.display()))?;
        let mut all = devices::default_devices();
        // linux.devices may redefine a default device (same path): theirs wins.
        all.retain(|d| !linux.devices.iter().any(|x| x.path == d.path));
        all.extend(linux.devices.iter().cloned());
        for d in &all {
            devices::create_device(rootfs, d, in_userns)?;
        }
        devices::create_symlinks(rootfs)?;
        devices::link_ptmx(rootfs)?;
    }
    Ok(())
}

pub fn switch_root(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot { pivot::move_root(rootfs) } else { pivot::pivot(rootfs) }
}

/// Steps after pivot_root, paths now relative to the container's /.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux.clone().unwrap_or_default();
    if let Some(p) = &linux.rootfs_propagation {
        let f = mounts::propagation_flag(p).ok_or_else(|| Error::Usage(format!("unknown rootfsPropagation {p:?}")))?;
        do_mount("init", None, Path::new("/"), None, f, None, "rootfsPropagation from config.json")?;
    }
    for p in &linux.readonly_paths {
        paths::readonly(p)?;
    }
    for p in &linux.masked_paths {
        paths::mask(p)?;
    }
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        mounts::bind_remount("init", Path::new("/"), MsFlags::MS_RDONLY, MsFlags::empty())?;
    }
    Ok(())
}

/// `/proc/sys/net/ipv4/ip_forward` for `net.ipv4.ip_forward`.
pub fn sysctl_path(key: &str) -> Result<PathBuf> {
    if key.is_empty() || key.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
        return Err(Error::Usage(format!("invalid sysctl name {key:?}")));
    }
    Ok(PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

pub fn write_sysctls(spec: &Spec) -> Result<()> {
    let Some(linux) = &spec.linux else { return Ok(()) };
    for (k, v) in &linux.sysctl {
        let path = sysctl_path(k)?;
        explain::step("init", format!("write {v:?} to {}", path.display()), "a sysctl of the container's own namespaces");
        std::fs::write(&path, v).ctx(|| format!("setting sysctl {k}={v} ({})", path.display()))?;
    }
    Ok(())
}

/// Mounts `type: cgroup`: the cgroup2 filesystem, or for v1 a tmpfs with one
/// directory per hierarchy. Inside a new cgroup namespace the kernel shows
/// the container's own cgroup as root; otherwise its directories are bound.
fn mount_cgroup(dest: &Path, o: &Options, cg: &CgroupView) -> Result<()> {
    let flags = o.flags & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let Some(h) = cg.hierarchies else {
        return Err(Error::Other("no cgroup hierarchy is mounted on this host".into()));
    };
    let bind_or_mount = |target: &Path, fstype: &str, data: &str, dir: Option<&Path>| -> Result<()> {
        match (cg.new_cgroupns, dir) {
            (false, Some(dir)) => {
                do_mount("init", Some(dir), target, None, MsFlags::MS_BIND, None, "show the container its own cgroup directory")?;
                mounts::bind_remount("init", target, flags, MsFlags::empty())
            }
            _ => do_mount("init", Some(Path::new("cgroup")), target, Some(fstype), flags, (!data.is_empty()).then_some(data), "the cgroup namespace shows our cgroup as the root"),
        }
    };
    if h.mode == crate::cgroups::Mode::Unified {
        let dir = cg.placement.and_then(|p| p.unified.as_deref());
        return bind_or_mount(dest, "cgroup2", "", dir);
    }
    do_mount("init", Some(Path::new("tmpfs")), dest, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, Some("mode=755"), "v1: a tmpfs holds one directory per hierarchy")?;
    for (ctrls, mnt) in &h.v1 {
        let name = mnt.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ctrls.clone());
        let target = dest.join(&name);
        std::fs::create_dir_all(&target).ctx(|| format!("creating {}", target.display()))?;
        let dir = cg.placement.and_then(|p| p.v1.iter().find(|(c, _)| c == ctrls).map(|(_, d)| d.as_path()));
        bind_or_mount(&target, "cgroup", ctrls, dir)?;
        // Co-mounted controllers (cpu,cpuacct) also answer to each name.
        if name.contains(',') {
            for part in name.split(',') {
                let _ = std::os::unix::fs::symlink(&name, dest.join(part));
            }
        }
    }
    if let Some(u) = &h.unified {
        let target = dest.join(u.file_name().unwrap_or(std::ffi::OsStr::new("unified")));
        std::fs::create_dir_all(&target).ctx(|| format!("creating {}", target.display()))?;
        bind_or_mount(&target, "cgroup2", "", cg.placement.and_then(|p| p.unified.as_deref()))?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        do_mount("init", None, dest, None, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, Some("mode=755"), "v1: make the tmpfs read-only too")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths() {
        assert_eq!(sysctl_path("net.ipv4.ip_forward").unwrap(), PathBuf::from("/proc/sys/net/ipv4/ip_forward"));
        assert!(sysctl_path("../../etc").is_err());
        assert!(sysctl_path("").is_err());
    }
}
