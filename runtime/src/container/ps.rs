//! `ps`: the processes of a container.

use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{Container, Status};

/// Pids (as the host sees them) of every process in the container.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let c = Container::load(root, id)?;
    if c.status() == Status::Stopped {
        return Ok(Vec::new());
    }
    if let Some(cg) = &c.saved.cgroup {
        let mut v = cg.procs()?;
        if !v.is_empty() {
            v.sort_unstable();
            return Ok(v);
        }
    }
    // Without a cgroup: every process in init's pid namespace.
    let ns = std::fs::read_link(format!("/proc/{}/ns/pid", c.saved.pid)).map_err(|e| Error::io(format!("reading the pid namespace of {}", c.saved.pid), e))?;
    let mut v: Vec<i32> = std::fs::read_dir("/proc")
        .map_err(|e| Error::io("listing /proc", e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == ns))
        .collect();
    v.sort_unstable();
    Ok(v)
}
