//! AppArmor and SELinux hooks of the process: applied when the host has
//! them. (The full treatment, with seccomp, belongs to the security work.)

use crate::error::{Context, Result};
use crate::explain;

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

pub fn selinux_enabled() -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|s| s.lines().any(|l| l.ends_with("\tselinuxfs")))
        && std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Asks AppArmor to confine the next execve with `profile`.
pub fn apply_apparmor(profile: &str) -> Result<()> {
    let attr = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() { "/proc/self/attr/apparmor/exec" } else { "/proc/self/attr/exec" };
    explain::step("init", format!("write \"exec {profile}\" to {attr}"), "AppArmor confines the program from its execve on");
    std::fs::write(attr, format!("exec {profile}")).ctx(|| format!("setting AppArmor profile {profile:?} through {attr}"))
}

/// Labels the next execve with SELinux `label`; ignored when SELinux is off (as crun).
pub fn apply_selinux(label: &str) -> Result<()> {
    if !selinux_enabled() {
        return Ok(());
    }
    explain::step("init", format!("write {label:?} to /proc/self/attr/exec"), "SELinux labels the program from its execve on");
    std::fs::write("/proc/self/attr/exec", label).ctx(|| format!("setting SELinux label {label:?}"))
}
