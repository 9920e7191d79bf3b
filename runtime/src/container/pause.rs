//! `pause` and `resume`: freeze and thaw the container's cgroup.

use std::path::Path;

use crate::error::{Error, Result};
use crate::explain;
use crate::state::{Container, Status};

pub fn set_paused(root: &Path, id: &str, pause: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    let (ok, action, wanted) = if pause { (status == Status::Running, "pause", "running") } else { (status == Status::Paused, "resume", "paused") };
    if !ok {
        return Err(Error::WrongState { id: id.into(), status: status.to_string(), action, wanted });
    }
    let cg = c.saved.cgroup.as_ref().ok_or_else(|| Error::Other(format!("container {id} has no cgroup: it cannot be frozen")))?;
    explain::step("runtime", if pause { "freeze the cgroup" } else { "thaw the cgroup" }, "the freezer stops (or lets run again) every process of the cgroup at once");
    cg.set_frozen(pause)
}
