//! AppArmor and SELinux for the container's process and mounts, and the
//! defaults a Docker user expects (capabilities, masked and read-only
//! paths), shared by `berth-runtime spec` and the daemon's generated
//! config.json. The seccomp half of the defaults is `seccomp`.

use std::path::Path;

use crate::error::{Context, Result};
use crate::explain;

/// Docker's default capability set: what a container's root keeps.
pub const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Kernel files a container must not read: they leak host state (memory,
/// keys, timers) or drive hardware. Masked with an empty read-only mount.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Kernel files a container may read but never write (sysctls, sysrq...).
pub const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

pub fn selinux_enabled() -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|s| s.lines().any(|l| l.ends_with("\tselinuxfs")))
        && std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Asks AppArmor to confine the next execve with `profile`.
pub fn apply_apparmor(profile: &str) -> Result<()> {
    apply_apparmor_at(Path::new("/proc/self/attr"), profile)
}

/// `attr` is /proc/self/attr (a parameter so tests can point it elsewhere).
/// Newer kernels (5.8+) give each LSM its own directory; older ones share
/// /proc/self/attr/exec.
fn apply_apparmor_at(attr: &Path, profile: &str) -> Result<()> {
    let own = attr.join("apparmor/exec");
    let file = if own.exists() { own } else { attr.join("exec") };
    explain::step("init", format!("write \"exec {profile}\" to {}", file.display()), "AppArmor confines the program from its execve on");
    std::fs::write(&file, format!("exec {profile}")).ctx(|| format!("setting AppArmor profile {profile:?} through {}", file.display()))
}

/// Labels the next execve with SELinux `label`; ignored when SELinux is off (as crun).
pub fn apply_selinux(label: &str) -> Result<()> {
    if !selinux_enabled() {
        return Ok(());
    }
    apply_selinux_at(Path::new("/proc/self/attr"), label)
}

fn apply_selinux_at(attr: &Path, label: &str) -> Result<()> {
    let file = attr.join("exec");
    explain::step("init", format!("write {label:?} to {}", file.display()), "SELinux labels the program from its execve on");
    std::fs::write(&file, label).ctx(|| format!("setting SELinux label {label:?}"))
}

/// Filesystems whose files take their label from a `context=` mount option
/// (they have no xattrs of their own on disk).
const CONTEXT_FS: [&str; 4] = ["tmpfs", "devpts", "mqueue", "shm"];

/// Adds `context="<mountLabel>"` to the data of a mount that can carry it,
/// when SELinux is on (runc's label.FormatMountLabel); else the data as is.
pub fn mount_data_with_label(fstype: &str, data: &str, mount_label: Option<&str>, selinux: bool) -> String {
    let Some(label) = mount_label.filter(|l| !l.is_empty() && selinux && CONTEXT_FS.contains(&fstype)) else { return data.to_string() };
    if data.split(',').any(|o| o.starts_with("context=")) {
        return data.to_string();
    }
    let ctx = format!("context=\"{label}\"");
    if data.is_empty() {
        ctx
    } else {
        format!("{data},{ctx}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr_dir(name: &str, per_lsm: bool) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("berth-attr-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("apparmor")).unwrap();
        std::fs::write(d.join("exec"), "").unwrap();
        if per_lsm {
            std::fs::write(d.join("apparmor/exec"), "").unwrap();
        }
        d
    }

    #[test]
    fn apparmor_writes_exec_profile() {
        let d = attr_dir("aa", true);
        apply_apparmor_at(&d, "docker-default").unwrap();
        assert_eq!(std::fs::read_to_string(d.join("apparmor/exec")).unwrap(), "exec docker-default");
        assert_eq!(std::fs::read_to_string(d.join("exec")).unwrap(), "", "the shared file stays untouched");
        let old = attr_dir("aa-old", false);
        apply_apparmor_at(&old, "p").unwrap();
        assert_eq!(std::fs::read_to_string(old.join("exec")).unwrap(), "exec p", "kernels before 5.8 share attr/exec");
        std::fs::remove_dir_all(d).unwrap();
        std::fs::remove_dir_all(old).unwrap();
    }

    #[test]
    fn selinux_label_and_mount_label() {
        let d = attr_dir("se", false);
        apply_selinux_at(&d, "system_u:system_r:container_t:s0:c1,c2").unwrap();
        assert_eq!(std::fs::read_to_string(d.join("exec")).unwrap(), "system_u:system_r:container_t:s0:c1,c2");
        std::fs::remove_dir_all(d).unwrap();
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(mount_data_with_label("tmpfs", "mode=755", l, true), "mode=755,context=\"system_u:object_r:container_file_t:s0:c1,c2\"");
        assert_eq!(mount_data_with_label("tmpfs", "mode=755", l, false), "mode=755", "ignored without SELinux");
        assert_eq!(mount_data_with_label("proc", "", l, true), "", "proc has its own labels");
        assert_eq!(mount_data_with_label("tmpfs", "context=\"x\"", l, true), "context=\"x\"", "an explicit context wins");
    }

    #[test]
    fn defaults_are_valid_names() {
        let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        for c in DOCKER_CAPS {
            assert!(all.contains(&c.to_string()), "{c}");
        }
        assert!(MASKED_PATHS.contains(&"/proc/kcore") && READONLY_PATHS.contains(&"/proc/sys"));
    }
}
