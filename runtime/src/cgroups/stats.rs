//! `events --stats`: what the container has used, read from its cgroup
//! files, in the JSON shape runc prints (so tools that parse runc's
//! output parse ours). Each family is read from the hierarchy that
//! drives it (see `apply`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::cgroups::{Mode, Placement};

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn num(dir: &Path, file: &str) -> Option<u64> {
    let s = read(dir, file)?;
    let t = s.trim();
    // "max" (v2) and v1's "unlimited" page-aligned i64::MAX both mean no limit.
    if t == "max" {
        return Some(u64::MAX);
    }
    t.parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, cpuacct.stat).
fn flat_keyed(dir: &Path, file: &str) -> BTreeMap<String, u64> {
    read(dir, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

struct Dirs<'a> {
    p: &'a Placement,
}

impl Dirs<'_> {
    /// (is v2, directory) for a controller named as v1 names it.
    fn get(&self, v1: &str, v2: &str) -> Option<(bool, PathBuf)> {
        if self.p.mode != Mode::Unified {
            if let Some(d) = self.p.v1_dir(v1) {
                return Some((false, d.to_path_buf()));
            }
        }
        let u = self.p.unified.as_ref()?;
        let ctrls = read(u, "cgroup.controllers").unwrap_or_default();
        ctrls.split_whitespace().any(|c| c == v2).then(|| (true, u.clone()))
    }
}

fn cpu(d: &Dirs) -> Value {
    let mut usage = json!({});
    let mut throttling = json!({});
    if let Some((false, dir)) = d.get("cpuacct", "cpu") {
        let percpu: Vec<u64> = read(&dir, "cpuacct.usage_percpu").unwrap_or_default().split_whitespace().filter_map(|v| v.parse().ok()).collect();
        let st = flat_keyed(&dir, "cpuacct.stat");
        // cpuacct.stat counts USER_HZ (100 per second) ticks; runc reports nanoseconds.
        let tick_ns = 1_000_000_000 / 100;
        usage = json!({
            "total": num(&dir, "cpuacct.usage").unwrap_or(0),
            "percpu": percpu,
            "kernel": st.get("system").copied().unwrap_or(0) * tick_ns,
            "user": st.get("user").copied().unwrap_or(0) * tick_ns,
        });
    }
    if let Some((v2, dir)) = d.get("cpu", "cpu") {
        let st = flat_keyed(&dir, "cpu.stat");
        if v2 {
            usage = json!({
                "total": st.get("usage_usec").copied().unwrap_or(0) * 1000,
                "kernel": st.get("system_usec").copied().unwrap_or(0) * 1000,
                "user": st.get("user_usec").copied().unwrap_or(0) * 1000,
            });
            throttling = json!({
                "periods": st.get("nr_periods").copied().unwrap_or(0),
                "throttled_periods": st.get("nr_throttled").copied().unwrap_or(0),
                "throttled_time": st.get("throttled_usec").copied().unwrap_or(0) * 1000,
            });
        } else {
            throttling = json!({
                "periods": st.get("nr_periods").copied().unwrap_or(0),
                "throttled_periods": st.get("nr_throttled").copied().unwrap_or(0),
                "throttled_time": st.get("throttled_time").copied().unwrap_or(0),
            });
        }
    }
    json!({"usage": usage, "throttling": throttling})
}

/// v1 reports "no limit" as the largest page-aligned i64; show it as runc does (u64::MAX on v2).
fn mem_entry(dir: &Path, prefix: &str) -> Value {
    json!({
        "usage": num(dir, &format!("{prefix}usage_in_bytes")).unwrap_or(0),
        "max": num(dir, &format!("{prefix}max_usage_in_bytes")).unwrap_or(0),
        "failcnt": num(dir, &format!("{prefix}failcnt")).unwrap_or(0),
        "limit": num(dir, &format!("{prefix}limit_in_bytes")).unwrap_or(0),
    })
}

fn memory(d: &Dirs) -> Value {
    let Some((v2, dir)) = d.get("memory", "memory") else { return Value::Null };
    let raw = flat_keyed(&dir, "memory.stat");
    if v2 {
        let events = flat_keyed(&dir, "memory.events");
        json!({
            "cache": raw.get("file").copied().unwrap_or(0),
            "usage": {
                "usage": num(&dir, "memory.current").unwrap_or(0),
                "max": num(&dir, "memory.peak").unwrap_or(0),
                "failcnt": events.get("max").copied().unwrap_or(0),
                "limit": num(&dir, "memory.max").unwrap_or(u64::MAX),
            },
            "swap": {
                "usage": num(&dir, "memory.swap.current").unwrap_or(0),
                "max": num(&dir, "memory.swap.peak").unwrap_or(0),
                "failcnt": 0,
                "limit": num(&dir, "memory.swap.max").unwrap_or(u64::MAX),
            },
            "oom_kill": events.get("oom_kill").copied().unwrap_or(0),
            "raw": raw,
        })
    } else {
        json!({
            "cache": raw.get("cache").copied().unwrap_or(0),
            "usage": mem_entry(&dir, "memory."),
            "swap": mem_entry(&dir, "memory.memsw."),
            "kernel": mem_entry(&dir, "memory.kmem."),
            "kernelTCP": mem_entry(&dir, "memory.kmem.tcp."),
            "oom_kill": flat_keyed(&dir, "memory.oom_control").get("oom_kill").copied().unwrap_or(0),
            "raw": raw,
        })
    }
}

fn pids(d: &Dirs) -> Value {
    let Some((_, dir)) = d.get("pids", "pids") else { return Value::Null };
    // runc shows "max" as 0 (no limit).
    let limit = num(&dir, "pids.max").filter(|l| *l != u64::MAX).unwrap_or(0);
    json!({"current": num(&dir, "pids.current").unwrap_or(0), "limit": limit})
}

fn dev_split(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn blkio(d: &Dirs) -> Value {
    let Some((v2, dir)) = d.get("blkio", "io") else { return Value::Null };
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    if v2 {
        // io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"
        for l in read(&dir, "io.stat").unwrap_or_default().lines() {
            let mut it = l.split_whitespace();
            let Some((major, minor)) = it.next().and_then(dev_split) else { continue };
            for kv in it {
                let Some((k, v)) = kv.split_once('=') else { continue };
                let Ok(v) = v.parse::<u64>() else { continue };
                let e = |op: &str| json!({"major": major, "minor": minor, "op": op, "value": v});
                match k {
                    "rbytes" => bytes.push(e("Read")),
                    "wbytes" => bytes.push(e("Write")),
                    "rios" => ios.push(e("Read")),
                    "wios" => ios.push(e("Write")),
                    _ => {}
                }
            }
        }
    } else {
        // "8:0 Read 4096" lines, and a final "Total N".
        let parse = |file: &str| -> Vec<Value> {
            read(&dir, file)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let (major, minor) = dev_split(f.first()?)?;
                    Some(json!({"major": major, "minor": minor, "op": f.get(1)?, "value": f.get(2)?.parse::<u64>().ok()?}))
                })
                .collect()
        };
        bytes = parse("blkio.throttle.io_service_bytes_recursive");
        ios = parse("blkio.throttle.io_serviced_recursive");
    }
    json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios})
}

fn hugetlb(d: &Dirs) -> Value {
    let Some((v2, dir)) = d.get("hugetlb", "hugetlb") else { return Value::Null };
    let mut out = Map::new();
    let Ok(rd) = std::fs::read_dir(&dir) else { return Value::Null };
    let mut sizes: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let size = n.strip_prefix("hugetlb.")?.split('.').next()?.to_string();
            (!size.is_empty() && size.ends_with('B')).then_some(size)
        })
        .collect();
    sizes.sort();
    sizes.dedup();
    for s in sizes {
        let v = if v2 {
            json!({
                "usage": num(&dir, &format!("hugetlb.{s}.current")).unwrap_or(0),
                "max": 0,
                "failcnt": flat_keyed(&dir, &format!("hugetlb.{s}.events")).get("max").copied().unwrap_or(0),
            })
        } else {
            json!({
                "usage": num(&dir, &format!("hugetlb.{s}.usage_in_bytes")).unwrap_or(0),
                "max": num(&dir, &format!("hugetlb.{s}.max_usage_in_bytes")).unwrap_or(0),
                "failcnt": num(&dir, &format!("hugetlb.{s}.failcnt")).unwrap_or(0),
            })
        };
        out.insert(s, v);
    }
    Value::Object(out)
}

/// One snapshot: runc's `{"type":"stats","id":...,"data":{...}}` data part.
pub fn collect(p: &Placement) -> Value {
    let d = Dirs { p };
    json!({
        "cpu": cpu(&d),
        "memory": memory(&d),
        "pids": pids(&d),
        "blkio": blkio(&d),
        "hugetlb": hugetlb(&d),
    })
}

/// How many times the kernel's OOM killer has killed in this cgroup.
pub fn oom_kills(p: &Placement) -> u64 {
    let d = Dirs { p };
    match d.get("memory", "memory") {
        Some((true, dir)) => flat_keyed(&dir, "memory.events").get("oom_kill").copied().unwrap_or(0),
        Some((false, dir)) => flat_keyed(&dir, "memory.oom_control").get("oom_kill").copied().unwrap_or(0),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_stats_from_a_fake_cgroupfs() {
        let dir = std::env::temp_dir().join(format!("berth-cg-stats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let w = |f: &str, v: &str| std::fs::write(dir.join(f), v).unwrap();
        w("cgroup.controllers", "cpu io memory pids hugetlb");
        w("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n");
        w("memory.current", "4096\n");
        w("memory.max", "max\n");
        w("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
        w("memory.stat", "anon 100\nfile 200\n");
        w("pids.current", "2\n");
        w("pids.max", "max\n");
        w("io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        w("hugetlb.2MB.current", "0\n");
        w("hugetlb.2MB.events", "max 0\n");
        let p = Placement { mode: Mode::Unified, unified: Some(dir.clone()), ..Default::default() };
        let s = collect(&p);
        assert_eq!(s["cpu"]["usage"]["total"], 1_500_000);
        assert_eq!(s["cpu"]["throttling"]["throttled_time"], 20_000);
        assert_eq!(s["memory"]["usage"]["usage"], 4096);
        assert_eq!(s["memory"]["usage"]["limit"], u64::MAX);
        assert_eq!(s["memory"]["usage"]["failcnt"], 3);
        assert_eq!(s["memory"]["cache"], 200);
        assert_eq!(s["pids"], json!({"current": 2, "limit": 0}));
        assert_eq!(s["blkio"]["ioServiceBytesRecursive"][1], json!({"major": 8, "minor": 0, "op": "Write", "value": 20}));
        assert_eq!(s["hugetlb"]["2MB"]["usage"], 0);
        assert_eq!(oom_kills(&p), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn v1_stats_from_a_fake_cgroupfs() {
        let root = std::env::temp_dir().join(format!("berth-cg-stats1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mk = |c: &str, files: &[(&str, &str)]| {
            let d = root.join(c);
            std::fs::create_dir_all(&d).unwrap();
            for (f, v) in files {
                std::fs::write(d.join(f), v).unwrap();
            }
            d
        };
        let mem = mk("memory", &[("memory.usage_in_bytes", "8192"), ("memory.limit_in_bytes", "9223372036854771712"), ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")]);
        let acct = mk("cpuacct", &[("cpuacct.usage", "123"), ("cpuacct.usage_percpu", "100 23 "), ("cpuacct.stat", "user 2\nsystem 1\n")]);
        let p = Placement { mode: Mode::Legacy, v1: vec![("memory".into(), mem), ("cpuacct".into(), acct)], ..Default::default() };
        let s = collect(&p);
        assert_eq!(s["memory"]["usage"]["usage"], 8192);
        assert_eq!(s["cpu"]["usage"]["percpu"], json!([100, 23]));
        assert_eq!(s["cpu"]["usage"]["user"], 20_000_000u64);
        assert_eq!(oom_kills(&p), 2);
        assert!(s["pids"].is_null(), "no pids hierarchy: null, as runc omits it");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
