//! `update` and `events`, with runc's flags.

use std::path::PathBuf;

use berth_runtime::cgroups::convert::parse_size;
use berth_runtime::container::update;
use berth_runtime::spec::{BlockIo, Cpu, Memory, Pids, Resources};
use berth_runtime::Error;

use super::args::{one_id, unknown, Args, Item};
use super::Globals;

type R = Result<i32, Error>;

fn mem(r: &mut Resources) -> &mut Memory {
    r.memory.get_or_insert_with(Default::default)
}

fn cpu(r: &mut Resources) -> &mut Cpu {
    r.cpu.get_or_insert_with(Default::default)
}

fn int<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, Error> {
    v.parse().map_err(|_| Error::Usage(format!("--{flag} {v:?}: expected a number")))
}

pub fn update(g: &Globals, a: &mut Args) -> R {
    let mut file: Option<PathBuf> = None;
    let mut r = Resources::default();
    let mut pos = Vec::new();
    while let Some(it) = a.next()? {
        match it {
            Item::Positional(p) => pos.push(p),
            Item::Flag(f) => {
                let v = a.value(&f)?;
                match f.as_str() {
                    "resources" | "r" => file = Some(PathBuf::from(v)),
                    "memory" => mem(&mut r).limit = Some(parse_size(&v)?),
                    "memory-reservation" => mem(&mut r).reservation = Some(parse_size(&v)?),
                    "memory-swap" => mem(&mut r).swap = Some(parse_size(&v)?),
                    "kernel-memory" => mem(&mut r).kernel = Some(parse_size(&v)?),
                    "kernel-memory-tcp" => mem(&mut r).kernel_tcp = Some(parse_size(&v)?),
                    "cpu-share" => cpu(&mut r).shares = Some(int(&f, &v)?),
                    "cpu-quota" => cpu(&mut r).quota = Some(int(&f, &v)?),
                    "cpu-period" => cpu(&mut r).period = Some(int(&f, &v)?),
                    "cpu-burst" => cpu(&mut r).burst = Some(int(&f, &v)?),
                    "cpu-rt-period" => cpu(&mut r).realtime_period = Some(int(&f, &v)?),
                    "cpu-rt-runtime" => cpu(&mut r).realtime_runtime = Some(int(&f, &v)?),
                    "cpu-idle" => cpu(&mut r).idle = Some(int(&f, &v)?),
                    "cpuset-cpus" => cpu(&mut r).cpus = Some(v),
                    "cpuset-mems" => cpu(&mut r).mems = Some(v),
                    "pids-limit" => r.pids = Some(Pids { limit: int(&f, &v)? }),
                    "blkio-weight" => r.block_io.get_or_insert_with(BlockIo::default).weight = Some(int(&f, &v)?),
                    "l3-cache-schema" | "mem-bw-schema" => return Err(Error::Usage(format!("update: --{f}: Intel RDT is not supported by berth-runtime"))),
                    _ => return Err(unknown("update", &f)),
                }
            }
        }
    }
    let id = one_id("update", &pos)?;
    if let Some(path) = file {
        // runc: -r takes the whole linux.resources object; flags given too are applied on top.
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Error::io("reading resources from stdin", e))?;
            s
        } else {
            std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?
        };
        let mut base: Resources = serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{}: not a valid linux.resources object: {e}", path.display())))?;
        merge(&mut base, r);
        r = base;
    }
    update::update(&g.root, &id, &r)?;
    Ok(0)
}

/// Flags override the file, field by field.
fn merge(base: &mut Resources, over: Resources) {
    if let Some(m) = over.memory {
        let b = base.memory.get_or_insert_with(Default::default);
        b.limit = m.limit.or(b.limit);
        b.reservation = m.reservation.or(b.reservation);
        b.swap = m.swap.or(b.swap);
        b.kernel = m.kernel.or(b.kernel);
        b.kernel_tcp = m.kernel_tcp.or(b.kernel_tcp);
    }
    if let Some(c) = over.cpu {
        let b = base.cpu.get_or_insert_with(Default::default);
        b.shares = c.shares.or(b.shares);
        b.quota = c.quota.or(b.quota);
        b.period = c.period.or(b.period);
        b.burst = c.burst.or(b.burst);
        b.realtime_period = c.realtime_period.or(b.realtime_period);
        b.realtime_runtime = c.realtime_runtime.or(b.realtime_runtime);
        b.idle = c.idle.or(b.idle);
        b.cpus = c.cpus.or(b.cpus.take());
        b.mems = c.mems.or(b.mems.take());
    }
    if over.pids.is_some() {
        base.pids = over.pids;
    }
    if let Some(w) = over.block_io.and_then(|b| b.weight) {
        base.block_io.get_or_insert_with(Default::default).weight = Some(w);
    }
}

pub fn events(g: &Globals, a: &mut Args) -> R {
    let mut stats = false;
    let mut interval = std::time::Duration::from_secs(5);
    let mut pos = Vec::new();
    while let Some(it) = a.next()? {
        match it {
            Item::Positional(p) => pos.push(p),
            Item::Flag(f) => match f.as_str() {
                "stats" => stats = true,
                "interval" => interval = update::parse_duration(&a.value(&f)?)?,
                _ => return Err(unknown("events", &f)),
            },
        }
    }
    let id = one_id("events", &pos)?;
    if stats {
        println!("{}", update::stats_event(&g.root, &id)?);
        return Ok(0);
    }
    update::stream(&g.root, &id, interval, &mut std::io::stdout().lock())?;
    Ok(0)
}
