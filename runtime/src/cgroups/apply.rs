//! Writes `linux.resources` into the container's cgroup directories.
//!
//! Each family of settings goes through the hierarchy that has its
//! controller: on a unified host, v2; on a legacy host, v1; on a hybrid host,
//! v1 when the controller is mounted there, else v2 when the cgroup2 mount
//! offers it (this machine's hugetlb). A family that no hierarchy offers is
//! an error that names the controller and the fix, never a silent skip.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::cgroups::devices;
use crate::cgroups::settings::{self, Family, Plan, Setting};
use crate::cgroups::{Mode, Placement};
use crate::error::{Error, Result};
use crate::explain;
use crate::spec::{Device, Resources};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// When a controller is missing: what to tell the user.
fn missing_controller(f: Family, mode: Mode) -> Error {
    let (v1, v2) = (f.v1_controller().unwrap_or("-"), f.v2_controller().unwrap_or("-"));
    let fix = match f {
        Family::Memory => {
            " Raspberry Pi and some other ARM kernels ship with the memory controller off: add `cgroup_enable=memory cgroup_memory=1` to the kernel command line (/boot/cmdline.txt or /boot/firmware/cmdline.txt) and reboot."
        }
        Family::Unified => " linux.resources.unified names cgroup v2 files, and this host has no cgroup2 mount.",
        _ => " Check that the kernel has it (CONFIG_CGROUP_* in /proc/config.gz or /boot/config-$(uname -r)) and that it is mounted.",
    };
    let where_ = match mode {
        Mode::Unified => format!("the {v2} controller is not in /sys/fs/cgroup/cgroup.controllers"),
        Mode::Legacy => format!("no cgroup v1 hierarchy has the {v1} controller mounted"),
        Mode::Hybrid => format!("neither a v1 hierarchy with {v1} nor the cgroup2 mount's cgroup.controllers offers it"),
    };
    Error::Usage(format!("{} needs the {v1}/{v2} cgroup controller, but {where_}.{fix}", f.config_field()))
}

/// Controllers the cgroup2 directory can use (its cgroup.controllers).
fn v2_controllers(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default().split_whitespace().map(String::from).collect()
}

/// The directory a family is written to, and through which version.
fn route(p: &Placement, f: Family) -> Result<(Version, PathBuf)> {
    if p.mode != Mode::Unified {
        if let Some(dir) = f.v1_controller().and_then(|c| p.v1_dir(c)) {
            return Ok((Version::V1, dir.to_path_buf()));
        }
    }
    if let Some(u) = &p.unified {
        match f.v2_controller() {
            Some(c) if v2_controllers(u).contains(c) => return Ok((Version::V2, u.clone())),
            None if f == Family::Unified => return Ok((Version::V2, u.clone())),
            _ => {}
        }
    }
    Err(missing_controller(f, p.mode))
}

/// One write, with an error that says which setting failed and why.
fn write(dir: &Path, s: &Setting, v: Version) -> Result<()> {
    let file = dir.join(&s.file);
    explain::step("runtime", format!("write {:?} to {}", s.value, file.display()), why(s.family));
    // Never create: a file the kernel does not offer must fail, not appear.
    let r = std::fs::OpenOptions::new().write(true).open(&file).and_then(|mut f| std::io::Write::write_all(&mut f, s.value.as_bytes()));
    match r {
        Ok(()) if s.optional => {
            // Kernels since 5.16 accept a kmem limit and ignore it: say so.
            let now = std::fs::read_to_string(&file).unwrap_or_default();
            if now.trim() != s.value {
                tracing::warn!("{}: the kernel accepted {:?} but reads back {:?}: this kernel no longer enforces it", file.display(), s.value, now.trim());
            }
            Ok(())
        }
        Ok(()) => Ok(()),
        Err(e) if s.optional => {
            tracing::warn!("{} not set: writing {:?} to {}: {e} (this kernel no longer supports it)", s.file, s.value, file.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Usage(format!(
            "{}: this kernel's {} controller has no {} file (writing {:?} to {})",
            s.family.config_field(),
            if v == Version::V1 { s.family.v1_controller() } else { s.family.v2_controller() }.unwrap_or("cgroup"),
            s.file,
            s.value,
            file.display()
        ))),
        Err(e) => Err(Error::io(format!("{}: writing {:?} to {}", s.family.config_field(), s.value, file.display()), e)),
    }
}

fn why(f: Family) -> &'static str {
    match f {
        Family::Memory => "the memory controller charges every page the container touches and reclaims or OOM-kills above the limit",
        Family::Cpu => "the cpu controller shares CPU time by weight and caps it per period",
        Family::Cpuset => "cpuset pins the container to these CPUs and memory nodes",
        Family::Pids => "the pids controller makes fork fail once the container has this many tasks",
        Family::Io => "the block I/O controller weighs and throttles disk traffic",
        Family::Hugetlb => "hugetlb caps huge page use",
        Family::NetCls | Family::NetPrio => "v1 net_cls/net_prio tag the container's packets",
        Family::Rdma => "the rdma controller caps RDMA handles and objects",
        Family::Unified => "a raw cgroup v2 setting from linux.resources.unified",
    }
}

/// v1 memory: memsw must stay >= limit at every moment, so when both
/// change, the order depends on the direction (as runc's setMemoryAndSwap).
fn order_memory_v1(dir: &Path, settings: &mut [Setting]) {
    let limit_i = settings.iter().position(|s| s.file == "memory.limit_in_bytes");
    let swap_i = settings.iter().position(|s| s.file == "memory.memsw.limit_in_bytes");
    if let (Some(l), Some(s)) = (limit_i, swap_i) {
        let cur: i64 = std::fs::read_to_string(dir.join("memory.limit_in_bytes")).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(i64::MAX);
        let new_swap: i64 = settings[s].value.parse().unwrap_or(-1);
        // Raising memsw above the current limit first is always safe; else lower the limit first.
        let swap_first = new_swap == -1 || new_swap >= cur;
        if swap_first != (s < l) {
            settings.swap(l, s);
        }
    }
}

/// Applies everything in `r`. `created` are config.json's `linux.devices`,
/// which the device rules must allow. `update` skips device rules (as
/// runc's update does) and checks memory limits against usage when the
/// config asks for it (checkBeforeUpdate).
pub fn apply(p: &Placement, r: &Resources, created: &[Device], update: bool) -> Result<()> {
    let v1 = settings::plan_v1(r);
    let v2 = settings::plan_v2(r);
    let families: BTreeSet<Family> = v1.families().union(&v2.families()).copied().collect();
    for f in families {
        let (version, dir) = route(p, f)?;
        let plan: &Plan = if version == Version::V1 { &v1 } else { &v2 };
        if let Some((_, msg)) = plan.refusals.iter().find(|(x, _)| *x == f) {
            return Err(Error::Usage(msg.clone()));
        }
        let mut writes: Vec<Setting> = plan.settings.iter().filter(|s| s.family == f).cloned().collect();
        if f == Family::Memory {
            if update && r.memory.as_ref().and_then(|m| m.check_before_update) == Some(true) {
                check_before_update(&dir, version, r.memory.as_ref().and_then(|m| m.limit))?;
            }
            if version == Version::V1 {
                order_memory_v1(&dir, &mut writes);
            }
        }
        for s in &writes {
            write(&dir, s, version)?;
        }
    }
    if !update {
        apply_devices(p, r, created)?;
    }
    Ok(())
}

/// checkBeforeUpdate: refuse a memory limit below what the container uses now.
fn check_before_update(dir: &Path, v: Version, limit: Option<i64>) -> Result<()> {
    let Some(limit) = limit.filter(|l| *l > 0) else { return Ok(()) };
    let file = if v == Version::V1 { "memory.usage_in_bytes" } else { "memory.current" };
    let usage: i64 = std::fs::read_to_string(dir.join(file)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    if usage > limit {
        return Err(Error::Usage(format!("memory limit {limit} is below the container's current usage {usage} ({file}); checkBeforeUpdate refuses it")));
    }
    Ok(())
}

fn apply_devices(p: &Placement, r: &Resources, created: &[Device]) -> Result<()> {
    let rules = devices::effective(&r.devices, created)?;
    if p.mode != Mode::Unified {
        if let Some(dir) = p.v1_dir("devices") {
            return devices::apply_v1(dir, &rules);
        }
        if p.mode == Mode::Legacy {
            return Err(Error::Usage(
                "device rules need the v1 devices controller, and it is not mounted (mount -t cgroup -o devices cgroup /sys/fs/cgroup/devices)".into(),
            ));
        }
    }
    match &p.unified {
        Some(dir) => devices::apply_v2(dir, &rules),
        None => Err(Error::Usage("device rules need the devices controller (v1) or cgroup v2 with eBPF; this host has neither".into())),
    }
}

/// Makes the controllers available to the container's cgroup: on v2 a
/// controller must be enabled in every ancestor's cgroup.subtree_control.
/// On a hybrid host the cgroup2 root belongs to the machine's supervisor:
/// `touch_root` is false there, and a controller the root has not enabled
/// is reported as missing rather than switched on behind its back.
pub fn enable_v2_controllers(root: &Path, leaf: &Path, wanted: &BTreeSet<&str>, touch_root: bool) -> Result<()> {
    let Ok(rel) = leaf.strip_prefix(root) else { return Ok(()) };
    let mut dir = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    // Every ancestor of the leaf, from the root down.
    for c in comps.iter().take(comps.len().saturating_sub(1)).map(Some).chain(std::iter::once(None)) {
        let available = v2_controllers(&dir);
        let enabled: BTreeSet<String> = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default().split_whitespace().map(String::from).collect();
        let add: Vec<String> = wanted.iter().filter(|w| available.contains(**w) && !enabled.contains(**w)).map(|w| format!("+{w}")).collect();
        if !add.is_empty() && (touch_root || dir != root) {
            let f = dir.join("cgroup.subtree_control");
            let v = add.join(" ");
            explain::step("runtime", format!("write {v:?} to {}", f.display()), "a v2 controller works in a cgroup only when its parent enables it for its children");
            std::fs::write(&f, &v).map_err(|e| Error::io(format!("enabling {v} in {}", f.display()), e))?;
        }
        match c {
            Some(c) => dir.push(c),
            None => break,
        }
    }
    Ok(())
}

/// The v2 controllers a container needs enabled: those its settings use,
/// plus the ones every container gets (so `events --stats` has something
/// to read and limits can be added by `update` later).
pub fn wanted_v2(r: Option<&Resources>, mode: Mode) -> BTreeSet<&'static str> {
    let mut w: BTreeSet<&'static str> = BTreeSet::new();
    if mode == Mode::Unified {
        w.extend(["cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc"]);
        return w;
    }
    // Hybrid: only what v1 cannot do (this machine's hugetlb).
    if let Some(r) = r {
        if !r.hugepage_limits.is_empty() {
            w.insert("hugetlb");
        }
        if !r.rdma.is_empty() {
            w.insert("rdma");
        }
        if !r.unified.is_empty() {
            for k in r.unified.keys() {
                if let Some(c) = k.split('.').next().and_then(|c| ["cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc"].into_iter().find(|x| *x == c)) {
                    w.insert(c);
                }
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake cgroupfs: directories and files in a temp dir.
    struct Fake(PathBuf);
    impl Fake {
        fn new(name: &str) -> Fake {
            let d = std::env::temp_dir().join(format!("berth-cg-apply-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Fake(d)
        }
        fn dir(&self, rel: &str, files: &[&str]) -> PathBuf {
            let d = self.0.join(rel);
            std::fs::create_dir_all(&d).unwrap();
            for f in files {
                std::fs::write(d.join(f), "").unwrap();
            }
            d
        }
        fn read(&self, rel: &str) -> String {
            std::fs::read_to_string(self.0.join(rel)).unwrap()
        }
    }
    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn res(json: &str) -> Resources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn v1_host() {
        let fs = Fake::new("v1");
        let mem = fs.dir("memory/c", &["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
        let pids = fs.dir("pids/c", &["pids.max"]);
        let dev = fs.dir("devices/c", &["devices.allow", "devices.deny"]);
        let p = Placement {
            mode: Mode::Legacy,
            v1: vec![("memory".into(), mem), ("pids".into(), pids), ("devices".into(), dev)],
            ..Default::default()
        };
        apply(&p, &res(r#"{"memory":{"limit":1048576,"swap":2097152},"pids":{"limit":10}}"#), &[], false).unwrap();
        assert_eq!(fs.read("memory/c/memory.limit_in_bytes"), "1048576");
        assert_eq!(fs.read("memory/c/memory.memsw.limit_in_bytes"), "2097152");
        assert_eq!(fs.read("pids/c/pids.max"), "10");
        // The fake file keeps only the last write: the last default rule.
        assert_eq!(fs.read("devices/c/devices.allow"), "c 5:2 rwm");
        assert_eq!(fs.read("devices/c/devices.deny"), "a");
        // A controller that is not mounted is named, with the fix.
        let e = apply(&p, &res(r#"{"cpu":{"shares":512}}"#), &[], false).unwrap_err().to_string();
        assert!(e.contains("linux.resources.cpu") && e.contains("cpu controller"), "{e}");
        let e = apply(&Placement { mode: Mode::Legacy, ..Default::default() }, &res(r#"{"memory":{"limit":1}}"#), &[], true).unwrap_err().to_string();
        assert!(e.contains("cgroup_enable=memory"), "{e}");
        // A file the kernel lacks is an error too.
        let e = apply(&p, &res(r#"{"memory":{"swappiness":5}}"#), &[], true).unwrap_err().to_string();
        assert!(e.contains("memory.swappiness"), "{e}");
    }

    #[test]
    fn v2_host_and_subtree_control() {
        let fs = Fake::new("v2");
        let root = fs.dir("", &["cgroup.subtree_control"]);
        std::fs::write(root.join("cgroup.controllers"), "cpu io memory pids").unwrap();
        let mid = fs.dir("a", &["cgroup.subtree_control"]);
        std::fs::write(mid.join("cgroup.controllers"), "cpu io memory pids").unwrap();
        let leaf = fs.dir("a/c", &["memory.max", "memory.swap.max", "cpu.weight", "cpu.max", "pids.max"]);
        std::fs::write(leaf.join("cgroup.controllers"), "cpu io memory pids").unwrap();
        let w = wanted_v2(None, Mode::Unified);
        enable_v2_controllers(&root, &leaf, &w, true).unwrap();
        assert_eq!(fs.read("cgroup.subtree_control"), "+cpu +io +memory +pids");
        assert_eq!(fs.read("a/cgroup.subtree_control"), "+cpu +io +memory +pids");
        let p = Placement { mode: Mode::Unified, unified: Some(leaf), ..Default::default() };
        let r = res(r#"{"memory":{"limit":1048576,"swap":3145728},"cpu":{"shares":1024,"quota":20000,"period":100000},"pids":{"limit":-1}}"#);
        // No device rules on a fake cgroupfs: the bpf part needs a kernel.
        apply(&p, &r, &[], true).unwrap();
        assert_eq!(fs.read("a/c/memory.max"), "1048576");
        assert_eq!(fs.read("a/c/memory.swap.max"), "2097152");
        assert_eq!(fs.read("a/c/cpu.weight"), "39");
        assert_eq!(fs.read("a/c/cpu.max"), "20000 100000");
        assert_eq!(fs.read("a/c/pids.max"), "max");
        let e = apply(&p, &res(r#"{"memory":{"swappiness":5}}"#), &[], true).unwrap_err().to_string();
        assert!(e.contains("cgroup v2"), "{e}");
    }

    #[test]
    fn hybrid_routes_hugetlb_to_v2() {
        let fs = Fake::new("hy");
        let mem = fs.dir("memory/c", &["memory.limit_in_bytes"]);
        let uni = fs.dir("unified/c", &["hugetlb.2MB.max"]);
        std::fs::write(uni.join("cgroup.controllers"), "hugetlb").unwrap();
        let p = Placement { mode: Mode::Hybrid, unified: Some(uni), v1: vec![("memory".into(), mem)], ..Default::default() };
        let r = res(r#"{"memory":{"limit":4096,"swappiness":0},"hugepageLimits":[{"pageSize":"2MB","limit":2097152}]}"#);
        // swappiness is fine here: memory goes through v1, which has it... but the fake lacks the file.
        let e = apply(&p, &r, &[], true).unwrap_err().to_string();
        assert!(e.contains("memory.swappiness"), "{e}");
        let r = res(r#"{"memory":{"limit":4096},"hugepageLimits":[{"pageSize":"2MB","limit":2097152}]}"#);
        apply(&p, &r, &[], true).unwrap();
        assert_eq!(fs.read("memory/c/memory.limit_in_bytes"), "4096");
        assert_eq!(fs.read("unified/c/hugetlb.2MB.max"), "2097152");
    }

    #[test]
    fn memsw_order_follows_direction() {
        let fs = Fake::new("order");
        let d = fs.dir("m", &[]);
        std::fs::write(d.join("memory.limit_in_bytes"), "1000").unwrap();
        let mk = |l: i64, s: i64| {
            vec![
                Setting { family: Family::Memory, file: "memory.limit_in_bytes".into(), value: l.to_string(), optional: false },
                Setting { family: Family::Memory, file: "memory.memsw.limit_in_bytes".into(), value: s.to_string(), optional: false },
            ]
        };
        let mut up = mk(5000, 6000);
        order_memory_v1(&d, &mut up);
        assert_eq!(up[0].file, "memory.memsw.limit_in_bytes", "raising: memsw first");
        let mut down = mk(500, 600);
        order_memory_v1(&d, &mut down);
        assert_eq!(down[0].file, "memory.limit_in_bytes", "lowering: limit first");
    }
}
