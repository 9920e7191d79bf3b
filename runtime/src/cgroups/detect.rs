//! Which cgroup hierarchies this host has, read from /proc/self/mountinfo.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Result};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Pure cgroup2 at /sys/fs/cgroup.
    #[default]
    Unified,
    /// v1 controllers, plus a cgroup2 mount (usually /sys/fs/cgroup/unified).
    Hybrid,
    /// v1 only.
    Legacy,
}

#[derive(Debug, Clone)]
pub struct Hierarchies {
    pub mode: Mode,
    pub unified: Option<PathBuf>,
    /// (comma-separated controllers or `name=...`, mount point)
    pub v1: Vec<(String, PathBuf)>,
}

impl Hierarchies {
    pub fn detect() -> Result<Hierarchies> {
        let text = std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "reading /proc/self/mountinfo".into())?;
        Ok(Self::parse(&text))
    }

    /// Parses mountinfo lines: `id parent maj:min root mountpoint opts [optional...] - fstype source superopts`.
    pub fn parse(mountinfo: &str) -> Hierarchies {
        let mut unified = None;
        let mut v1: Vec<(String, PathBuf)> = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else { continue };
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 3 {
                continue;
            }
            // Only a hierarchy's root mount: bind mounts of sub-cgroups
            // (as inside a container) would give wrong paths.
            if l[3] != "/" {
                continue;
            }
            let mnt = PathBuf::from(unescape(l[4]));
            match r[0] {
                "cgroup2" if unified.is_none() => unified = Some(mnt),
                "cgroup" => {
                    let ctrls: Vec<&str> = r[2]
                        .split(',')
                        .filter(|o| !matches!(*o, "rw" | "ro" | "nosuid" | "nodev" | "noexec" | "relatime" | "clone_children" | "xattr" | "noprefix" | "cpuset_v2_mode"))
                        .filter(|o| !o.starts_with("release_agent="))
                        .collect();
                    if !ctrls.is_empty() && !v1.iter().any(|(c, _)| c == &ctrls.join(",")) {
                        v1.push((ctrls.join(","), mnt));
                    }
                }
                _ => {}
            }
        }
        let mode = match (&unified, v1.is_empty()) {
            (Some(_), true) => Mode::Unified,
            (Some(_), false) => Mode::Hybrid,
            (None, _) => Mode::Legacy,
        };
        Hierarchies { mode, unified, v1 }
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() + 0 && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
27 26 0:25 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
28 26 0:26 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
29 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
30 26 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
31 26 0:29 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
";

    #[test]
    fn hybrid() {
        let h = Hierarchies::parse(HYBRID);
        assert_eq!(h.mode, Mode::Hybrid);
        assert_eq!(h.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(h.v1.len(), 4);
        assert_eq!(h.v1[1], ("cpu,cpuacct".into(), PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(h.v1[0].0, "name=systemd");
    }

    #[test]
    fn unified_and_legacy() {
        let u = Hierarchies::parse("27 26 0:25 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert_eq!(u.mode, Mode::Unified);
        let l = Hierarchies::parse("30 26 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
        assert_eq!(l.mode, Mode::Legacy);
    }

    #[test]
    fn sub_cgroup_binds_are_ignored() {
        let h = Hierarchies::parse("30 26 0:28 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
        assert!(h.v1.is_empty());
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
