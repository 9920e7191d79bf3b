//! `process.rlimits`: setrlimit for each entry.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

use crate::error::{Error, Result};
use crate::explain;
use crate::spec::Rlimit;

pub fn resource_by_name(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    })
}

pub fn apply(limits: &[Rlimit]) -> Result<()> {
    for r in limits {
        let res = resource_by_name(&r.typ).ok_or_else(|| Error::Usage(format!("unknown rlimit {:?}", r.typ)))?;
        explain::step("init", format!("setrlimit({}, soft={}, hard={})", r.typ, r.soft, r.hard), "resource limits are inherited across execve");
        if let Err(e) = setrlimit(res, r.soft, r.hard) {
            let (_, cur_hard) = getrlimit(res).unwrap_or((0, 0));
            let hint = if e == nix::Error::EPERM && r.hard > cur_hard {
                format!(
                    ": raising the hard limit above the current {cur_hard} needs CAP_SYS_RESOURCE, which this runtime does not have; lower {} hard to at most {cur_hard}",
                    r.typ
                )
            } else {
                String::new()
            };
            return Err(Error::Other(format!("setrlimit {} soft={} hard={}: {e}{hint}", r.typ, r.soft, r.hard)));
        }
    }
    Ok(())
}
