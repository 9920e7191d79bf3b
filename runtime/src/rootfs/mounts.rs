//! The `mounts` of config.json: option parsing, safe destinations, and the
//! mount syscalls themselves.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, MsFlags};

use crate::error::{Context, Error, Result};
use crate::explain;
use crate::spec::Mount;

/// A mount option that is a flag, and whether it sets or clears it.
fn flag_option(opt: &str) -> Option<(bool, MsFlags)> {
    Some(match opt {
        "ro" | "rdonly" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "dev" => (false, MsFlags::MS_NODEV),
        "nodev" => (true, MsFlags::MS_NODEV),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "atime" => (false, MsFlags::MS_NOATIME),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "bind" => (true, MsFlags::MS_BIND),
        "rbind" => (true, MsFlags::MS_BIND | MsFlags::MS_REC),
        "silent" => (true, MsFlags::MS_SILENT),
        "loud" => (false, MsFlags::MS_SILENT),
        "lazytime" => (true, MsFlags::MS_LAZYTIME),
        "nolazytime" => (false, MsFlags::MS_LAZYTIME),
        _ => return None,
    })
}

/// Propagation options, applied with a second mount call after the mount exists.
pub fn propagation_flag(opt: &str) -> Option<MsFlags> {
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// Recursive attributes (`rro`, `rnosuid`, ...) and symlink following:
/// mount(2) has no flag that applies to a whole tree of mounts, so these
/// go through mount_setattr(2) after the mount exists. Returns (recursive,
/// set, clear).
fn attr_option(opt: &str) -> Option<(bool, u64, u64)> {
    use super::idmap::*;
    let atime = |mode: u64| (true, mode, MOUNT_ATTR_ATIME);
    Some(match opt {
        "rro" => (true, MOUNT_ATTR_RDONLY, 0),
        "rrw" => (true, 0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (true, MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (true, 0, MOUNT_ATTR_NOSUID),
        "rnodev" => (true, MOUNT_ATTR_NODEV, 0),
        "rdev" => (true, 0, MOUNT_ATTR_NODEV),
        "rnoexec" => (true, MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (true, 0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (true, MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (true, 0, MOUNT_ATTR_NODIRATIME),
        "rrelatime" | "ratime" | "rnostrictatime" => atime(MOUNT_ATTR_RELATIME),
        "rnorelatime" | "rstrictatime" => atime(MOUNT_ATTR_STRICTATIME),
        "rnoatime" => atime(MOUNT_ATTR_NOATIME),
        "rnosymfollow" => (true, MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (true, 0, MOUNT_ATTR_NOSYMFOLLOW),
        "nosymfollow" => (false, MOUNT_ATTR_NOSYMFOLLOW, 0),
        "symfollow" => (false, 0, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// Every option name this runtime understands (for `features`).
pub fn known_options() -> Vec<&'static str> {
    let mut v = vec![
        "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async", "dirsync", "remount", "mand", "nomand",
        "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "nostrictatime", "bind", "rbind",
        "silent", "loud", "lazytime", "nolazytime", "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
        "runbindable", "tmpcopyup", "idmap", "ridmap", "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
        "rnodiratime", "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime", "rnostrictatime",
        "nosymfollow", "rnosymfollow", "symfollow", "rsymfollow",
    ];
    v.sort_unstable();
    v
}

#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub flags: MsFlags,
    /// Flags explicitly cleared (matter for bind remounts).
    pub cleared: MsFlags,
    pub propagation: Vec<MsFlags>,
    /// Everything else is filesystem-specific data, passed through.
    pub data: Vec<String>,
    pub tmpcopyup: bool,
    /// mount_setattr(2) attributes: (set, clear), recursive and not.
    pub rattr: (u64, u64),
    pub attr: (u64, u64),
}

pub fn parse_options(opts: &[String]) -> Result<Options> {
    let mut o = Options { flags: MsFlags::empty(), cleared: MsFlags::empty(), propagation: Vec::new(), data: Vec::new(), tmpcopyup: false, rattr: (0, 0), attr: (0, 0) };
    for opt in opts {
        if let Some((set, f)) = flag_option(opt) {
            if set {
                o.flags |= f;
                o.cleared &= !f;
            } else {
                o.flags &= !f;
                o.cleared |= f;
            }
        } else if let Some(p) = propagation_flag(opt) {
            o.propagation.push(p);
        } else if opt == "tmpcopyup" {
            o.tmpcopyup = true;
        } else if let Some((rec, set, clr)) = attr_option(opt) {
            let a = if rec { &mut o.rattr } else { &mut o.attr };
            // A later option wins over an earlier one, as with mount flags.
            a.0 = (a.0 & !clr & !set) | set;
            a.1 = (a.1 & !set) | clr;
        } else if opt == "idmap" || opt == "ridmap" {
            // Prepared by the runtime (rootfs::idmap), not a mount flag.
        } else {
            o.data.push(opt.clone());
        }
    }
    Ok(o)
}

/// Resolves `unsafe_path` inside `root` the way the container will see it:
/// every symlink met on the way is resolved relative to `root`, and `..`
/// never climbs above it. The result is always under `root`.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new(); // relative to root
    let mut pending: Vec<PathBuf> = vec![unsafe_path.to_path_buf()];
    let mut links = 0;
    while let Some(p) = pending.pop() {
        let comps: Vec<Component> = p.components().collect();
        for (i, c) in comps.iter().enumerate() {
            match c {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(name) => {
                    let candidate = resolved.join(name);
                    let full = root.join(&candidate);
                    match std::fs::symlink_metadata(&full) {
                        Ok(m) if m.file_type().is_symlink() => {
                            links += 1;
                            if links > 255 {
                                return Err(Error::Other(format!("too many symlinks resolving {} in {}", unsafe_path.display(), root.display())));
                            }
                            let target = std::fs::read_link(&full).ctx(|| format!("reading link {}", full.display()))?;
                            // Resolve the rest after the link target.
                            let rest: PathBuf = comps[i + 1..].iter().collect();
                            pending.push(rest);
                            if target.is_absolute() {
                                resolved = PathBuf::new();
                            }
                            pending.push(target);
                            break;
                        }
                        _ => resolved = candidate,
                    }
                }
            }
        }
    }
    Ok(root.join(resolved))
}

/// Creates `path` (and its parents) as a directory or, for file bind mounts, an empty file.
pub fn create_mount_point(path: &Path, is_dir: bool) -> Result<()> {
    if is_dir {
        std::fs::create_dir_all(path).ctx(|| format!("creating mount point {}", path.display()))
    } else {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(_) => Ok(()),
            Err(_) => std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map(|_| ())
                .ctx(|| format!("creating mount point {}", path.display())),
        }
    }
}

pub fn do_mount(
    who: &str,
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    why: &str,
) -> Result<()> {
    explain::step(
        who,
        format!(
            "mount({}, {}, {}, {:?}, {})",
            source.map(|p| p.display().to_string()).unwrap_or_else(|| "none".into()),
            target.display(),
            fstype.unwrap_or("none"),
            flags,
            data.unwrap_or("")
        ),
        why,
    );
    mount(source, target, fstype, flags, data).ctx(|| {
        format!(
            "mounting {} on {} (type {}, flags {:?}, data {:?})",
            source.map(|p| p.display().to_string()).unwrap_or_else(|| "none".into()),
            target.display(),
            fstype.unwrap_or("none"),
            flags,
            data.unwrap_or("")
        )
    })
}

/// Flags a bind remount must keep: the kernel refuses to clear nosuid,
/// nodev, noexec or rdonly that a less privileged user namespace inherited
/// ("locked" flags), so read what the mount has now and keep those.
fn locked_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let Ok(st) = statvfs(path) else { return MsFlags::empty() };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (s, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    ] {
        if f.contains(s) {
            out |= m;
        }
    }
    out
}

/// A read-only (or otherwise changed) bind mount needs a remount: the
/// flags of the first MS_BIND call are ignored by the kernel.
pub fn bind_remount(who: &str, target: &Path, flags: MsFlags, cleared: MsFlags) -> Result<()> {
    let keep = locked_flags(target) & !cleared;
    let f = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | (flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)) | keep;
    do_mount(who, None, target, None, f, None, "a bind mount takes new flags only through a remount")
}

/// Mounts one entry of config.json's `mounts` under `rootfs`.
/// `idmapped` is the detached id-mapped copy of the source that the runtime
/// prepared for this mount, if it asked for one (see `idmap`).
/// `selinux_label` is linux.mountLabel when SELinux is enabled, else None.
pub fn mount_entry(
    rootfs: &Path,
    m: &Mount,
    cgroup: &dyn Fn(&Path, &Options) -> Result<()>,
    idmapped: Option<&std::os::fd::OwnedFd>,
    selinux_label: Option<&str>,
) -> Result<()> {
    let o = parse_options(&m.options)?;
    let typ = m.typ.as_deref().unwrap_or("");
    let is_bind = o.flags.contains(MsFlags::MS_BIND) || typ == "bind" || typ == "rbind";
    let dest = secure_join(rootfs, &m.destination)?;
    let what = |e: Error| Error::Other(format!("mount {} (destination {}): {}", m.source.as_deref().unwrap_or(Path::new("none")).display(), m.destination.display(), crate::error::chain(&e)));

    if is_bind {
        let src = m.source.as_deref().ok_or_else(|| Error::Usage(format!("bind mount to {} has no source", m.destination.display())))?;
        let src_is_dir = std::fs::metadata(src).map(|md| md.is_dir()).map_err(|e| Error::io(format!("bind mount source {}", src.display()), e)).map_err(what)?;
        create_mount_point(&dest, src_is_dir).map_err(what)?;
        let mut f = MsFlags::MS_BIND | (o.flags & MsFlags::MS_REC);
        if typ == "rbind" {
            f |= MsFlags::MS_REC;
        }
        match idmapped {
            Some(fd) => super::idmap::move_mount(fd, &dest).map_err(what)?,
            None => do_mount("init", Some(src), &dest, None, f, None, "make a host file or directory visible inside the container").map_err(what)?,
        }
        let extra = o.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() || !o.cleared.is_empty() {
            bind_remount("init", &dest, extra, o.cleared).map_err(what)?;
        }
    } else if typ == "cgroup" {
        create_mount_point(&dest, true).map_err(what)?;
        cgroup(&dest, &o).map_err(what)?;
    } else {
        if typ.is_empty() {
            return Err(what(Error::Usage("a mount without bind options needs a type".into())));
        }
        create_mount_point(&dest, true).map_err(what)?;
        let data = crate::security::mount_data_with_label(typ, &o.data.join(","), selinux_label, true);
        let src = m.source.clone().unwrap_or_else(|| PathBuf::from(typ));
        let why = match typ {
            "proc" => "a procfs that shows the container's pid namespace",
            "sysfs" => "kernel and device information, usually read-only",
            "tmpfs" => "a memory-backed filesystem private to this mount",
            "devpts" => "a private pseudo-terminal instance (newinstance) for the container",
            "mqueue" => "POSIX message queues of the container's ipc namespace",
            _ => "a filesystem named in config.json",
        };
        if o.tmpcopyup && typ == "tmpfs" {
            tmpcopyup(&dest, &src, o.flags, &data).map_err(what)?;
        } else {
            do_mount("init", Some(&src), &dest, Some(typ), o.flags, (!data.is_empty()).then_some(data.as_str()), why).map_err(what)?;
        }
    }
    for p in &o.propagation {
        do_mount("init", None, &dest, None, *p, None, "set how later mounts propagate between host and container").map_err(what)?;
    }
    super::idmap::set_attrs(&dest, o.rattr.0, o.rattr.1, true).map_err(what)?;
    super::idmap::set_attrs(&dest, o.attr.0, o.attr.1, false).map_err(what)?;
    Ok(())
}

/// tmpfs with the content of the directory it covers copied in (crun and
/// runc's `tmpcopyup`): the tmpfs is mounted on a scratch directory first,
/// filled, then moved over the destination.
fn tmpcopyup(dest: &Path, src: &Path, flags: MsFlags, data: &str) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("berth-tmpcopyup-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).ctx(|| format!("creating {}", scratch.display()))?;
    do_mount("init", Some(src), &scratch, Some("tmpfs"), flags, (!data.is_empty()).then_some(data), "tmpfs to be filled with what it will cover")?;
    let r = copy_tree(dest, &scratch);
    if let Err(e) = r {
        let _ = nix::mount::umount2(&scratch, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&scratch);
        return Err(e);
    }
    do_mount("init", Some(&scratch), dest, None, MsFlags::MS_MOVE, None, "move the filled tmpfs over the destination")?;
    let _ = std::fs::remove_dir(&scratch);
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let md = std::fs::symlink_metadata(from).ctx(|| format!("reading {}", from.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(md.mode() & 0o7777)).ctx(|| format!("chmod {}", to.display()))?;
    let _ = nix::unistd::chown(to, Some(md.uid().into()), Some(md.gid().into()));
    for ent in std::fs::read_dir(from).ctx(|| format!("listing {}", from.display()))? {
        let ent = ent.ctx(|| format!("listing {}", from.display()))?;
        let (s, d) = (ent.path(), to.join(ent.file_name()));
        let ft = ent.file_type().ctx(|| format!("stat {}", s.display()))?;
        if ft.is_dir() {
            std::fs::create_dir(&d).ctx(|| format!("mkdir {}", d.display()))?;
            copy_tree(&s, &d)?;
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&s).ctx(|| format!("readlink {}", s.display()))?;
            std::os::unix::fs::symlink(&t, &d).ctx(|| format!("symlink {}", d.display()))?;
        } else if ft.is_file() {
            std::fs::copy(&s, &d).ctx(|| format!("copying {}", s.display()))?;
            let m = std::fs::symlink_metadata(&s).ctx(|| format!("stat {}", s.display()))?;
            let _ = nix::unistd::chown(&d, Some(m.uid().into()), Some(m.gid().into()));
        }
    }
    Ok(())
}

pub fn os(s: &str) -> &OsStr {
    OsStr::from_bytes(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = parse_options(&["nosuid".into(), "ro".into(), "mode=755".into(), "rslave".into(), "size=64k".into()]).unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert_eq!(o.data, vec!["mode=755", "size=64k"]);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        let o = parse_options(&["ro".into(), "rw".into()]).unwrap();
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
        let o = parse_options(&["rro".into(), "rnosuid".into(), "rrw".into(), "nosymfollow".into(), "rnoatime".into()]).unwrap();
        use crate::rootfs::idmap::*;
        assert_eq!(o.rattr.0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME, "rrw after rro clears it");
        assert_eq!(o.rattr.1, MOUNT_ATTR_RDONLY | MOUNT_ATTR_ATIME);
        assert_eq!(o.attr, (MOUNT_ATTR_NOSYMFOLLOW, 0));
        assert!(parse_options(&["idmap".into()]).unwrap().data.is_empty(), "idmap is not passed to the filesystem");
    }

    #[test]
    fn secure_join_stays_inside() {
        let root = std::env::temp_dir().join(format!("berth-sj-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("a/up")).unwrap();
        std::os::unix::fs::symlink("b", root.join("a/rel")).unwrap();
        assert_eq!(secure_join(&root, Path::new("/abs/passwd")).unwrap(), root.join("etc/passwd"));
        assert_eq!(secure_join(&root, Path::new("/a/up/etc")).unwrap(), root.join("etc"));
        assert_eq!(secure_join(&root, Path::new("/../../x")).unwrap(), root.join("x"));
        assert_eq!(secure_join(&root, Path::new("/a/rel/c")).unwrap(), root.join("a/b/c"));
        std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
        assert!(secure_join(&root, Path::new("/loop1/x")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
