//! Linux namespaces: which to create, which to join, and the id maps of a
//! user namespace.

use std::os::fd::AsFd;
use std::path::Path;

use nix::sched::CloneFlags;

use crate::error::{Context, Error, Result};
use crate::explain;
use crate::spec::{IdMapping, Linux, Namespace, NamespaceType};

pub fn flag(t: NamespaceType) -> CloneFlags {
    match t {
        NamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        NamespaceType::Network => CloneFlags::CLONE_NEWNET,
        NamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        NamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        NamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        NamespaceType::User => CloneFlags::CLONE_NEWUSER,
        NamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        // nix has no constant for CLONE_NEWTIME (0x80); it shares the bit with CSIGNAL's range.
        NamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The name of the namespace file under /proc/PID/ns/.
pub fn proc_name(t: NamespaceType) -> &'static str {
    match t {
        NamespaceType::Pid => "pid",
        NamespaceType::Network => "net",
        NamespaceType::Mount => "mnt",
        NamespaceType::Ipc => "ipc",
        NamespaceType::Uts => "uts",
        NamespaceType::User => "user",
        NamespaceType::Cgroup => "cgroup",
        NamespaceType::Time => "time",
    }
}

pub fn why(t: NamespaceType) -> &'static str {
    match t {
        NamespaceType::Pid => "the container sees only its own processes; its first process is pid 1",
        NamespaceType::Network => "the container gets its own interfaces, routes and ports",
        NamespaceType::Mount => "mounts made for the container are invisible to the host",
        NamespaceType::Ipc => "System V IPC and POSIX message queues are private to the container",
        NamespaceType::Uts => "the container can have its own hostname and domain name",
        NamespaceType::User => "uid 0 inside maps to an unprivileged uid outside",
        NamespaceType::Cgroup => "the container sees its own cgroup as the root of /sys/fs/cgroup",
        NamespaceType::Time => "the container's CLOCK_MONOTONIC and CLOCK_BOOTTIME can be offset",
    }
}

/// Order in which existing namespaces are joined: the user namespace first,
/// because joining it grants the capabilities needed to join the others.
pub const JOIN_ORDER: [NamespaceType; 8] = [
    NamespaceType::User,
    NamespaceType::Ipc,
    NamespaceType::Uts,
    NamespaceType::Network,
    NamespaceType::Pid,
    NamespaceType::Mount,
    NamespaceType::Cgroup,
    NamespaceType::Time,
];

/// Namespaces to join by path, in the order to join them.
pub fn to_join(linux: &Linux) -> Vec<&Namespace> {
    let mut v: Vec<&Namespace> = linux.namespaces.iter().filter(|n| n.path.is_some()).collect();
    v.sort_by_key(|n| JOIN_ORDER.iter().position(|t| *t == n.typ));
    v
}

/// Namespaces to create, as clone/unshare flags (user and cgroup excluded:
/// they are created at their own moments).
pub fn to_create(linux: &Linux) -> CloneFlags {
    linux
        .namespaces
        .iter()
        .filter(|n| n.path.is_none() && n.typ != NamespaceType::User && n.typ != NamespaceType::Cgroup)
        .fold(CloneFlags::empty(), |f, n| f | flag(n.typ))
}

pub fn wants_new(linux: &Linux, t: NamespaceType) -> bool {
    linux.namespaces.iter().any(|n| n.typ == t && n.path.is_none())
}

/// Joins the namespaces at the given paths (nsfs files such as
/// /proc/PID/ns/net), in order. Every file is opened before the first
/// setns: once the mount namespace is joined, paths resolve in the
/// container's filesystem and /proc shows another pid namespace.
pub fn join_all<P: AsRef<Path>>(who: &str, list: &[(NamespaceType, P)]) -> Result<()> {
    let mut files = Vec::with_capacity(list.len());
    for (ns, path) in list {
        let path = path.as_ref();
        let f = std::fs::File::open(path).ctx(|| format!("opening {} namespace {}", proc_name(*ns), path.display()))?;
        files.push((*ns, path, f));
    }
    for (ns, path, f) in files {
        explain::step(who, format!("setns({}, {:?})", path.display(), flag(ns)), "join an existing namespace instead of making one");
        nix::sched::setns(f.as_fd(), flag(ns)).ctx(|| format!("joining {} namespace {}", proc_name(ns), path.display()))?;
    }
    Ok(())
}

pub fn unshare(who: &str, flags: CloneFlags, why: &str) -> Result<()> {
    if flags.is_empty() {
        return Ok(());
    }
    explain::step(who, format!("unshare({flags:?})"), why);
    nix::sched::unshare(flags).ctx(|| format!("unshare({flags:?})"))
}

pub fn map_text(maps: &[IdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size)).collect()
}

/// Writes uid_map and gid_map of process `pid` (run by the runtime, outside
/// the new user namespace, as only a process with privilege over the parent
/// namespace may map arbitrary ids).
pub fn write_id_maps(pid: i32, uid: &[IdMapping], gid: &[IdMapping]) -> Result<()> {
    if uid.is_empty() || gid.is_empty() {
        return Err(Error::Usage("a new user namespace needs both linux.uidMappings and linux.gidMappings".into()));
    }
    for (file, maps) in [("uid_map", uid), ("gid_map", gid)] {
        let path = format!("/proc/{pid}/{file}");
        let text = map_text(maps);
        explain::step("runtime", format!("write {:?} to {path}", text.trim_end()), "map ids inside the user namespace to ids on the host");
        std::fs::write(&path, &text).ctx(|| format!("writing {path} ({})", text.trim_end()))?;
    }
    Ok(())
}

/// Writes the time namespace offsets; must happen before the first process
/// enters the new time namespace.
pub fn write_time_offsets(linux: &Linux) -> Result<()> {
    if linux.time_offsets.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for (clock, off) in &linux.time_offsets {
        text.push_str(&format!("{clock} {} {}\n", off.secs, off.nanosecs));
    }
    explain::step("intermediate", format!("write {:?} to /proc/self/timens_offsets", text.trim_end()), "offsets apply to the time namespace our children will enter");
    std::fs::write("/proc/self/timens_offsets", &text).ctx(|| format!("writing /proc/self/timens_offsets ({})", text.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_order_puts_user_first() {
        let linux = Linux {
            namespaces: vec![
                Namespace { typ: NamespaceType::Mount, path: Some("/m".into()) },
                Namespace { typ: NamespaceType::User, path: Some("/u".into()) },
                Namespace { typ: NamespaceType::Pid, path: None },
            ],
            ..Default::default()
        };
        let j: Vec<_> = to_join(&linux).iter().map(|n| n.typ).collect();
        assert_eq!(j, vec![NamespaceType::User, NamespaceType::Mount]);
        assert_eq!(to_create(&linux), CloneFlags::CLONE_NEWPID);
    }

    #[test]
    fn map_format() {
        assert_eq!(map_text(&[IdMapping { container_id: 0, host_id: 100000, size: 65536 }]), "0 100000 65536\n");
    }
}
