//! What `linux.resources` means as cgroup files: one plan for v1, one for
//! v2. Planning is pure (no filesystem), so every conversion is unit-tested;
//! `apply` decides which hierarchy each controller is driven through and
//! writes the files.

use crate::cgroups::convert;
use crate::spec::Resources;

/// A group of settings that one controller owns. The same family is named
/// differently by the two versions (blkio and io); `apply` routes each
/// family to the hierarchy that has its controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Memory,
    Cpu,
    Cpuset,
    Pids,
    Io,
    Hugetlb,
    NetCls,
    NetPrio,
    Rdma,
    /// `linux.resources.unified`: raw cgroup v2 files.
    Unified,
}

impl Family {
    pub fn v1_controller(self) -> Option<&'static str> {
        Some(match self {
            Family::Memory => "memory",
            Family::Cpu => "cpu",
            Family::Cpuset => "cpuset",
            Family::Pids => "pids",
            Family::Io => "blkio",
            Family::Hugetlb => "hugetlb",
            Family::NetCls => "net_cls",
            Family::NetPrio => "net_prio",
            Family::Rdma => "rdma",
            Family::Unified => return None,
        })
    }

    pub fn v2_controller(self) -> Option<&'static str> {
        Some(match self {
            Family::Memory => "memory",
            Family::Cpu => "cpu",
            Family::Cpuset => "cpuset",
            Family::Pids => "pids",
            Family::Io => "io",
            Family::Hugetlb => "hugetlb",
            Family::Rdma => "rdma",
            Family::NetCls | Family::NetPrio | Family::Unified => return None,
        })
    }

    /// The config.json section a family comes from, for error messages.
    pub fn config_field(self) -> &'static str {
        match self {
            Family::Memory => "linux.resources.memory",
            Family::Cpu | Family::Cpuset => "linux.resources.cpu",
            Family::Pids => "linux.resources.pids",
            Family::Io => "linux.resources.blockIO",
            Family::Hugetlb => "linux.resources.hugepageLimits",
            Family::NetCls | Family::NetPrio => "linux.resources.network",
            Family::Rdma => "linux.resources.rdma",
            Family::Unified => "linux.resources.unified",
        }
    }
}

/// One write: `value` into `file` of the family's cgroup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub family: Family,
    pub file: String,
    pub value: String,
    /// Old kernels' knobs (kmem): a kernel that dropped the file, or refuses
    /// writes to it, gets a warning instead of a failed create, as runc does.
    pub optional: bool,
}

/// A plan: the writes, and what the version cannot do. A refusal only
/// fails the create if its family is really driven through this version
/// (on a hybrid host memory may go through v1 while hugetlb goes through v2).
#[derive(Debug, Default)]
pub struct Plan {
    pub settings: Vec<Setting>,
    pub refusals: Vec<(Family, String)>,
}

impl Plan {
    fn push(&mut self, s: Setting) {
        self.settings.push(s);
    }
    fn refuse(&mut self, f: Family, msg: String) {
        self.refusals.push((f, msg));
    }
    pub fn families(&self) -> std::collections::BTreeSet<Family> {
        self.settings.iter().map(|s| s.family).chain(self.refusals.iter().map(|(f, _)| *f)).collect()
    }
}

fn set(family: Family, file: impl Into<String>, value: impl ToString) -> Setting {
    Setting { family, file: file.into(), value: value.to_string(), optional: false }
}

fn dev(major: i64, minor: i64) -> String {
    let part = |n: i64| if n < 0 { "*".to_string() } else { n.to_string() };
    format!("{}:{}", part(major), part(minor))
}

/// The v1 files. Order matters where the kernel checks one value against
/// another (memory before memsw when both are set on a new cgroup).
pub fn plan_v1(r: &Resources) -> Plan {
    let mut out = Plan::default();
    if let Some(m) = &r.memory {
        if let Some(l) = m.limit {
            out.push(set(Family::Memory, "memory.limit_in_bytes", l));
        }
        if let Some(s) = m.swap {
            if s != 0 {
                out.push(set(Family::Memory, "memory.memsw.limit_in_bytes", s));
            }
        }
        if let Some(v) = m.reservation {
            out.push(set(Family::Memory, "memory.soft_limit_in_bytes", v));
        }
        if let Some(v) = m.kernel {
            out.push(Setting { optional: true, ..set(Family::Memory, "memory.kmem.limit_in_bytes", v) });
        }
        if let Some(v) = m.kernel_tcp {
            out.push(set(Family::Memory, "memory.kmem.tcp.limit_in_bytes", v));
        }
        if let Some(v) = m.swappiness {
            if v > 100 {
                out.refuse(Family::Memory, format!("linux.resources.memory.swappiness {v}: must be 0..=100"));
            } else {
                out.push(set(Family::Memory, "memory.swappiness", v));
            }
        }
        if m.disable_oom_killer == Some(true) {
            out.push(set(Family::Memory, "memory.oom_control", 1));
        }
        if let Some(h) = m.use_hierarchy {
            out.push(set(Family::Memory, "memory.use_hierarchy", u8::from(h)));
        }
    }
    if let Some(c) = &r.cpu {
        if let Some(s) = c.shares.filter(|s| *s != 0) {
            out.push(set(Family::Cpu, "cpu.shares", s));
        }
        // The period first: the kernel checks the quota against it.
        if let Some(p) = c.period.filter(|p| *p != 0) {
            out.push(set(Family::Cpu, "cpu.cfs_period_us", p));
        }
        if let Some(q) = c.quota.filter(|q| *q != 0) {
            out.push(set(Family::Cpu, "cpu.cfs_quota_us", if q < 0 { -1 } else { q }));
        }
        if let Some(b) = c.burst {
            out.push(set(Family::Cpu, "cpu.cfs_burst_us", b));
        }
        if let Some(p) = c.realtime_period.filter(|p| *p != 0) {
            out.push(set(Family::Cpu, "cpu.rt_period_us", p));
        }
        if let Some(rt) = c.realtime_runtime.filter(|r| *r != 0) {
            out.push(set(Family::Cpu, "cpu.rt_runtime_us", rt));
        }
    }
    same_in_both(r, &mut out);
    if let Some(b) = &r.block_io {
        if let Some(w) = b.weight.filter(|w| *w != 0) {
            out.push(set(Family::Io, "blkio.weight", w));
        }
        if let Some(w) = b.leaf_weight.filter(|w| *w != 0) {
            out.push(set(Family::Io, "blkio.leaf_weight", w));
        }
        for d in &b.weight_device {
            if let Some(w) = d.weight {
                out.push(set(Family::Io, "blkio.weight_device", format!("{} {w}", dev(d.major, d.minor))));
            }
            if let Some(w) = d.leaf_weight {
                out.push(set(Family::Io, "blkio.leaf_weight_device", format!("{} {w}", dev(d.major, d.minor))));
            }
        }
        for (file, list) in [
            ("blkio.throttle.read_bps_device", &b.throttle_read_bps_device),
            ("blkio.throttle.write_bps_device", &b.throttle_write_bps_device),
            ("blkio.throttle.read_iops_device", &b.throttle_read_iops_device),
            ("blkio.throttle.write_iops_device", &b.throttle_write_iops_device),
        ] {
            for d in list {
                out.push(set(Family::Io, file, format!("{} {}", dev(d.major, d.minor), d.rate)));
            }
        }
    }
    for h in &r.hugepage_limits {
        out.push(set(Family::Hugetlb, format!("hugetlb.{}.limit_in_bytes", h.page_size), h.limit));
    }
    if let Some(n) = &r.network {
        if let Some(c) = n.class_id {
            out.push(set(Family::NetCls, "net_cls.classid", c));
        }
        for p in &n.priorities {
            out.push(set(Family::NetPrio, "net_prio.ifpriomap", format!("{} {}", p.name, p.priority)));
        }
    }
    rdma(r, &mut out);
    unified(r, &mut out);
    out
}

/// The files v1 and v2 name alike: cpu.idle, cpuset.cpus/mems, pids.max.
fn same_in_both(r: &Resources, out: &mut Plan) {
    if let Some(c) = &r.cpu {
        if let Some(i) = c.idle {
            out.push(set(Family::Cpu, "cpu.idle", i));
        }
        if let Some(s) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
            out.push(set(Family::Cpuset, "cpuset.cpus", s));
        }
        if let Some(s) = c.mems.as_deref().filter(|s| !s.is_empty()) {
            out.push(set(Family::Cpuset, "cpuset.mems", s));
        }
    }
    if let Some(p) = &r.pids {
        if p.limit != 0 {
            out.push(set(Family::Pids, "pids.max", if p.limit < 0 { "max".into() } else { p.limit.to_string() }));
        }
    }
}

fn rdma(r: &Resources, out: &mut Plan) {
    for (dev, l) in &r.rdma {
        let mut parts = Vec::new();
        if let Some(h) = l.hca_handles {
            parts.push(format!("hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects {
            parts.push(format!("hca_object={o}"));
        }
        if !parts.is_empty() {
            out.push(set(Family::Rdma, "rdma.max", format!("{dev} {}", parts.join(" "))));
        }
    }
}

/// `unified` keys are file names in the container's own cgroup directory.
fn unified(r: &Resources, out: &mut Plan) {
    for (k, v) in &r.unified {
        if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
            out.refuse(Family::Unified, format!("linux.resources.unified: {k:?} is not a cgroup file name (like \"memory.high\")"));
        } else {
            out.push(set(Family::Unified, k.clone(), v));
        }
    }
}

/// The v2 files, with v1-shaped values converted (see `convert`).
pub fn plan_v2(r: &Resources) -> Plan {
    let mut out = Plan::default();
    let unsupported = |field: &str, why: &str| format!("linux.resources.{field} cannot be applied on cgroup v2: {why}");
    if let Some(m) = &r.memory {
        if let Some(l) = m.limit {
            out.push(set(Family::Memory, "memory.max", convert::bytes_v2(l)));
        }
        match convert::swap_to_v2(m.swap, m.limit) {
            Ok(Some(s)) => out.push(set(Family::Memory, "memory.swap.max", convert::bytes_v2(s))),
            Ok(None) => {}
            Err(e) => out.refuse(Family::Memory, e.to_string()),
        }
        if let Some(v) = m.reservation {
            out.push(set(Family::Memory, "memory.low", convert::bytes_v2(v)));
        }
        if m.kernel.is_some() || m.kernel_tcp.is_some() {
            tracing::warn!("memory.kernel and memory.kernelTCP have no cgroup v2 file (kernel memory is part of memory.max there); not set");
        }
        if m.swappiness.is_some() {
            out.refuse(Family::Memory, unsupported("memory.swappiness", "v2 has no per-cgroup swappiness; remove it"));
        }
        if m.disable_oom_killer == Some(true) {
            out.refuse(Family::Memory, unsupported("memory.disableOOMKiller", "v2 cannot disable the OOM killer for a cgroup; remove it"));
        }
        if m.use_hierarchy == Some(false) {
            out.refuse(Family::Memory, unsupported("memory.useHierarchy", "v2 is always hierarchical"));
        }
    }
    if let Some(c) = &r.cpu {
        if let Some(s) = c.shares.filter(|s| *s != 0) {
            out.push(set(Family::Cpu, "cpu.weight", convert::shares_to_weight(s)));
        }
        let quota = c.quota.unwrap_or(0);
        let period = c.period.unwrap_or(0);
        if quota != 0 || period != 0 {
            let q = if quota > 0 { quota.to_string() } else { "max".into() };
            // cpu.max needs both words to change the period; without a
            // period the kernel keeps the current one.
            out.push(set(Family::Cpu, "cpu.max", if period != 0 { format!("{q} {period}") } else { q }));
        }
        if let Some(b) = c.burst {
            out.push(set(Family::Cpu, "cpu.max.burst", b));
        }
        if c.realtime_period.is_some_and(|p| p != 0) || c.realtime_runtime.is_some_and(|r| r != 0) {
            out.refuse(Family::Cpu, unsupported("cpu.realtimeRuntime", "v2 has no realtime bandwidth control per cgroup"));
        }
    }
    same_in_both(r, &mut out);
    if let Some(b) = &r.block_io {
        if let Some(w) = b.weight.filter(|w| *w != 0) {
            out.push(set(Family::Io, "io.weight", format!("default {}", convert::blkio_weight_to_io_weight(w))));
        }
        if b.leaf_weight.is_some() || b.weight_device.iter().any(|d| d.leaf_weight.is_some()) {
            out.refuse(Family::Io, unsupported("blockIO.leafWeight", "v2 has no leaf weights"));
        }
        for d in &b.weight_device {
            if let Some(w) = d.weight {
                out.push(set(Family::Io, "io.weight", format!("{} {}", dev(d.major, d.minor), convert::blkio_weight_to_io_weight(w))));
            }
        }
        for (key, list) in [
            ("rbps", &b.throttle_read_bps_device),
            ("wbps", &b.throttle_write_bps_device),
            ("riops", &b.throttle_read_iops_device),
            ("wiops", &b.throttle_write_iops_device),
        ] {
            for d in list {
                let rate = if d.rate == 0 { "max".to_string() } else { d.rate.to_string() };
                out.push(set(Family::Io, "io.max", format!("{} {key}={rate}", dev(d.major, d.minor))));
            }
        }
    }
    for h in &r.hugepage_limits {
        out.push(set(Family::Hugetlb, format!("hugetlb.{}.max", h.page_size), h.limit));
    }
    if let Some(n) = &r.network {
        let why = "net_cls and net_prio exist only in cgroup v1 (nftables can match cgroup v2 paths instead)";
        if n.class_id.is_some() {
            out.refuse(Family::NetCls, unsupported("network.classID", why));
        }
        if !n.priorities.is_empty() {
            out.refuse(Family::NetPrio, unsupported("network.priorities", why));
        }
    }
    rdma(r, &mut out);
    unified(r, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> Resources {
        serde_json::from_str(json).unwrap()
    }

    /// The writes of a plan that has no refusals.
    fn files(p: &Plan) -> Vec<(String, String)> {
        assert!(p.refusals.is_empty(), "{:?}", p.refusals);
        p.settings.iter().map(|s| (s.file.clone(), s.value.clone())).collect()
    }

    fn refused(p: &Plan, f: Family) -> bool {
        p.refusals.iter().any(|(x, _)| *x == f)
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn memory_both_versions() {
        let r = res(r#"{"memory":{"limit":268435456,"swap":536870912,"reservation":134217728,"swappiness":10}}"#);
        assert_eq!(
            files(&plan_v1(&r)),
            pairs(&[
                ("memory.limit_in_bytes", "268435456"),
                ("memory.memsw.limit_in_bytes", "536870912"),
                ("memory.soft_limit_in_bytes", "134217728"),
                ("memory.swappiness", "10"),
            ])
        );
        let r = res(r#"{"memory":{"limit":268435456,"swap":536870912,"reservation":-1}}"#);
        assert_eq!(
            files(&plan_v2(&r)),
            pairs(&[("memory.max", "268435456"), ("memory.swap.max", "268435456"), ("memory.low", "max")])
        );
        assert!(refused(&plan_v2(&res(r#"{"memory":{"swappiness":10}}"#)), Family::Memory), "refused, not silently dropped");
        assert!(refused(&plan_v2(&res(r#"{"memory":{"disableOOMKiller":true}}"#)), Family::Memory));
    }

    #[test]
    fn cpu_both_versions() {
        let r = res(r#"{"cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0","mems":"0"}}"#);
        assert_eq!(
            files(&plan_v1(&r)),
            pairs(&[
                ("cpu.shares", "1024"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpuset.cpus", "0"),
                ("cpuset.mems", "0")
            ])
        );
        assert_eq!(
            files(&plan_v2(&r)),
            pairs(&[("cpu.weight", "39"), ("cpu.max", "50000 100000"), ("cpuset.cpus", "0"), ("cpuset.mems", "0")])
        );
        assert_eq!(files(&plan_v2(&res(r#"{"cpu":{"quota":-1}}"#))), pairs(&[("cpu.max", "max")]));
        assert!(refused(&plan_v2(&res(r#"{"cpu":{"realtimeRuntime":1000}}"#)), Family::Cpu));
    }

    #[test]
    fn pids_and_hugetlb() {
        let r = res(r#"{"pids":{"limit":-1},"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#);
        assert_eq!(files(&plan_v1(&r)), pairs(&[("pids.max", "max"), ("hugetlb.2MB.limit_in_bytes", "4194304")]));
        assert_eq!(files(&plan_v2(&r)), pairs(&[("pids.max", "max"), ("hugetlb.2MB.max", "4194304")]));
        assert!(plan_v1(&res(r#"{"pids":{"limit":0}}"#)).settings.is_empty(), "0 means unset");
    }

    #[test]
    fn block_io_both_versions() {
        let r = res(
            r#"{"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":100}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":100}]}}"#,
        );
        assert_eq!(
            files(&plan_v1(&r)),
            pairs(&[
                ("blkio.weight", "500"),
                ("blkio.weight_device", "8:0 100"),
                ("blkio.throttle.read_bps_device", "8:0 1048576"),
                ("blkio.throttle.write_iops_device", "8:16 100"),
            ])
        );
        assert_eq!(
            files(&plan_v2(&r)),
            pairs(&[("io.weight", "default 4950"), ("io.weight", "8:0 910"), ("io.max", "8:0 rbps=1048576"), ("io.max", "8:16 wiops=100")])
        );
    }

    #[test]
    fn network_rdma_unified() {
        let r = res(r#"{"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]}}"#);
        assert_eq!(files(&plan_v1(&r)), pairs(&[("net_cls.classid", "1048577"), ("net_prio.ifpriomap", "eth0 5")]));
        assert!(refused(&plan_v2(&r), Family::NetCls), "v1-only controllers are refused on v2");
        let r = res(r#"{"rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":10000}},"unified":{"memory.high":"1000000"}}"#);
        assert_eq!(files(&plan_v2(&r)), pairs(&[("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"), ("memory.high", "1000000")]));
        assert!(refused(&plan_v2(&res(r#"{"unified":{"../../escape":"1"}}"#)), Family::Unified));
    }
}
