//! The intermediate process: forked by the runtime, it joins existing
//! namespaces, creates the user namespace (and waits for the runtime to
//! map its ids), creates the other namespaces, then forks the container's
//! init — which is pid 1 of a new pid namespace, since unshare(CLONE_NEWPID)
//! only applies to children — reports init's pid, and exits.

use std::os::fd::BorrowedFd;

use nix::sched::CloneFlags;
use nix::unistd::{ForkResult, Gid, Uid};

use crate::error::{Context, Result};
use crate::explain;
use crate::namespaces;
use crate::spec::{Linux, NamespaceType};
use crate::sync::{Channel, Msg};
use crate::sys;

/// Runs in the forked child; never returns. With `cgroup`, init is born
/// in that cgroup2 directory.
pub fn run(linux: &Linux, chan: &Channel, cgroup: Option<BorrowedFd>, then: impl FnOnce() -> i32) -> ! {
    match setup(linux, chan).and_then(|()| spawn(cgroup, "the new pid (and time) namespace applies to children: the child becomes the container's init, pid 1")) {
        Ok((ForkResult::Child, _)) => {
            let code = then();
            sys::exit_now(code)
        }
        Ok((ForkResult::Parent { child }, placed)) => {
            let _ = chan.send(&Msg::InitPid(child.as_raw(), placed));
            sys::exit_now(0)
        }
        Err(e) => {
            let _ = chan.send(&Msg::Fail(crate::error::chain(&e)));
            sys::exit_now(1)
        }
    }
}

/// Forks, into the cgroup2 directory when one is given and the kernel can;
/// returns whether the child was born there.
pub fn spawn(cgroup: Option<BorrowedFd>, why: &str) -> Result<(ForkResult, bool)> {
    if let Some(fd) = cgroup {
        explain::step("intermediate", "clone3(CLONE_INTO_CGROUP)", &format!("{why}; it is born in the container's cgroup, no migration needed"));
        match sys::fork_into_cgroup(fd) {
            Ok(r) => return Ok((r, true)),
            // Old kernels (ENOSYS, E2BIG) or no permission in a user namespace: plain fork.
            Err(e) => tracing::debug!("clone3 into cgroup: {}; falling back to fork", crate::error::chain(&e)),
        }
    }
    explain::step("intermediate", "fork()", why);
    Ok((sys::fork()?, false))
}

fn setup(linux: &Linux, chan: &Channel) -> Result<()> {
    let join: Vec<_> = namespaces::to_join(linux).into_iter().map(|n| (n.typ, n.path.clone().expect("to_join has paths"))).collect();
    namespaces::join_all("intermediate", &join)?;
    if namespaces::wants_new(linux, NamespaceType::User) {
        namespaces::unshare("intermediate", CloneFlags::CLONE_NEWUSER, namespaces::why(NamespaceType::User))?;
        // Only a process outside the namespace may write its maps freely.
        chan.send(&Msg::WantIdMaps(nix::unistd::getpid().as_raw()))?;
        chan.expect(&Msg::Go)?;
        explain::step("intermediate", "setresgid(0) setresuid(0)", "become root of the new user namespace");
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0)).ctx(|| "setresgid(0) in the user namespace (is container gid 0 mapped?)".into())?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).ctx(|| "setresuid(0) in the user namespace (is container uid 0 mapped?)".into())?;
    }
    let flags = namespaces::to_create(linux);
    if !flags.is_empty() {
        let why: Vec<&str> = linux
            .namespaces
            .iter()
            .filter(|n| n.path.is_none() && flags.contains(namespaces::flag(n.typ)))
            .map(|n| namespaces::why(n.typ))
            .collect();
        namespaces::unshare("intermediate", flags, &why.join("; "))?;
    }
    if flags.contains(namespaces::flag(NamespaceType::Time)) {
        namespaces::write_time_offsets(linux)?;
    }
    Ok(())
}
