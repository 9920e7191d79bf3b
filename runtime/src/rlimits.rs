//! `process.rlimits`: setrlimit for each entry.

use nix::sys::resource::Resource;

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
        if let Err(e) = prlimit64(res, Some((r.soft, r.hard))) {
            let (_, cur_hard) = prlimit64(res, None).unwrap_or((0, 0));
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

/// Gets (and with `new`, sets) a limit of this process as 64-bit values on
/// every architecture: on 32-bit glibc (armv7) `rlim_t` is 32 bits wide and
/// setrlimit(2) cannot express limits above 4 GiB, prlimit64 can.
pub fn prlimit64(res: Resource, new: Option<(u64, u64)>) -> std::result::Result<(u64, u64), nix::Error> {
    #[repr(C)]
    struct Rlimit64 {
        cur: u64,
        max: u64,
    }
    let new_lim = new.map(|(cur, max)| Rlimit64 { cur, max });
    let mut old = Rlimit64 { cur: 0, max: 0 };
    let new_ptr = new_lim.as_ref().map_or(std::ptr::null(), |l| l as *const Rlimit64);
    // SAFETY: prlimit64(0 = this process, resource, new, old) reads one
    // struct from `new_ptr` (null or a live Rlimit64) and writes one into
    // `old`, a live, writable Rlimit64 with the kernel's layout.
    let r = unsafe { libc::syscall(libc::SYS_prlimit64, 0, res as libc::c_int, new_ptr, &mut old as *mut Rlimit64) };
    if r < 0 {
        return Err(nix::Error::last());
    }
    Ok((old.cur, old.max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_lower_own_limit() {
        let (soft, hard) = prlimit64(Resource::RLIMIT_CORE, None).unwrap();
        assert!(soft <= hard);
        // Setting the same values back is always allowed.
        prlimit64(Resource::RLIMIT_CORE, Some((soft, hard))).unwrap();
        assert!(resource_by_name("RLIMIT_NOFILE").is_some() && resource_by_name("RLIMIT_NOPE").is_none());
    }
}
