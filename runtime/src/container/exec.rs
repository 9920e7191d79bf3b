//! `exec`: run another process in a running container's namespaces and cgroup.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use crate::cgroups::Placement;
use crate::error::{Context, Error, Result};
use crate::explain;
use crate::namespaces;
use crate::spec::{NamespaceType, Process};
use crate::state::{Container, Status};
use crate::sync::{Channel, Msg};
use crate::{process, sys, tty};

pub struct ExecOpts {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub console: Option<OwnedFd>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: usize,
}


/// Runs the process; returns its exit code (foreground) or 0 (detached).
pub fn exec(o: ExecOpts, relay_tty: bool) -> Result<i32> {
    let c = Container::load(&o.root, &o.id)?;
    let status = c.status();
    if status != Status::Running && status != Status::Created {
        return Err(Error::WrongState { id: o.id.clone(), status: status.to_string(), action: "exec", wanted: "running" });
    }
    if o.process.args.is_empty() {
        return Err(Error::Usage("exec needs a command to run".into()));
    }
    if o.process.terminal && o.console.is_none() && !relay_tty {
        return Err(Error::Usage("a terminal needs --console-socket when detached".into()));
    }
    let filter = super::create::compile_seccomp(c.saved.seccomp.as_ref(), &c.saved.bundle.join("config.json"))?;
    let init = c.saved.pid;
    // Join only the namespaces init does not share with us.
    let mut join: Vec<(NamespaceType, PathBuf)> = Vec::new();
    for t in namespaces::JOIN_ORDER {
        let name = namespaces::proc_name(t);
        let theirs = std::fs::read_link(format!("/proc/{init}/ns/{name}"));
        let ours = std::fs::read_link(format!("/proc/self/ns/{name}"));
        if let (Ok(a), Ok(b)) = (theirs, ours) {
            if a != b {
                join.push((t, PathBuf::from(format!("/proc/{init}/ns/{name}"))));
            }
        }
    }
    let in_userns = join.iter().any(|(t, _)| *t == NamespaceType::User);

    let (console_local, console_child) = match (&o.console, o.process.terminal) {
        (None, true) => {
            let (a, b) = nix::sys::socket::socketpair(nix::sys::socket::AddressFamily::Unix, nix::sys::socket::SockType::Stream, None, nix::sys::socket::SockFlag::SOCK_CLOEXEC)
                .ctx(|| "creating a console socketpair".into())?;
            (Some(a), Some(b))
        }
        _ => (None, None),
    };
    let console = o.console.or(console_child);
    let sigset = if o.detach { None } else { Some(super::foreground::block_signals()?) };

    // As in create: without a user namespace the process is born in the
    // cgroup2 directory and moves itself into v1 (no global cgroup lock).
    let self_place = !in_userns && c.saved.cgroup.is_some();
    let cgroup_fd = if self_place { c.saved.cgroup.as_ref().and_then(|p| p.open_unified()) } else { None };
    let v1_tasks = match (&c.saved.cgroup, self_place) {
        (Some(p), true) => p.open_v1_tasks()?,
        _ => Vec::new(),
    };
    let (pchan, cchan) = Channel::pair()?;
    nix::sys::prctl::set_child_subreaper(true).ctx(|| "prctl(PR_SET_CHILD_SUBREAPER)".into())?;
    let intermediate = match sys::fork()? {
        ForkResult::Child => {
            drop(pchan);
            let r = (|| -> Result<(ForkResult, bool)> {
                namespaces::join_all("exec", &join)?;
                crate::process::intermediate::spawn(cgroup_fd.as_ref().map(|f| f.as_fd()), "a new pid namespace applies to children: the child is in the container's")
            })();
            match r {
                Ok((ForkResult::Parent { child }, placed)) => {
                    let _ = cchan.send(&Msg::InitPid(child.as_raw(), placed));
                    sys::exit_now(0)
                }
                Ok((ForkResult::Child, _)) => {
                    let e = match Placement::enter_v1_self(&v1_tasks) {
                        Ok(()) => exec_child(&o.process, console.as_ref(), &cchan, o.preserve_fds, in_userns, filter.as_ref()),
                        Err(e) => e,
                    };
                    let _ = cchan.send(&Msg::Fail(crate::error::chain(&e)));
                    sys::exit_now(127)
                }
                Err(e) => {
                    let _ = cchan.send(&Msg::Fail(crate::error::chain(&e)));
                    sys::exit_now(1)
                }
            }
        }
        ForkResult::Parent { child } => child,
    };
    drop(cchan);
    drop(console);
    drop(cgroup_fd);
    drop(v1_tasks);
    let (pid, born_in_cgroup) = match pchan.recv() {
        Ok(Msg::InitPid(p, placed)) => (Pid::from_raw(p), placed),
        Ok(Msg::Fail(s)) => {
            let _ = waitpid(intermediate, None);
            return Err(Error::Init(s));
        }
        Ok(m) => return Err(Error::Other(format!("sync: unexpected {m:?}"))),
        Err(e) => {
            let _ = waitpid(intermediate, None);
            return Err(e);
        }
    };
    let _ = waitpid(intermediate, None);
    let fail = |e: Error| {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(pid, None);
        e
    };
    if let Some(cg) = &c.saved.cgroup {
        if !self_place {
            cg.add(pid.as_raw()).map_err(fail)?;
        } else if !born_in_cgroup {
            cg.add_unified(pid.as_raw()).map_err(fail)?;
        }
    }
    pchan.send(&Msg::Go).map_err(fail)?;
    pchan.expect(&Msg::Created).map_err(fail)?;
    let master = match &console_local {
        Some(s) => Some(tty::recv_fd(s.as_fd()).map_err(fail)?),
        None => None,
    };
    // The sync socket closes on a successful exec; a message means it
    // failed, or hands over the seccomp listener fd for the agent.
    loop {
        match pchan.recv_fd() {
            Ok((Msg::Fail(s), _)) => {
                let _ = waitpid(pid, None);
                return Err(Error::Init(s));
            }
            Ok((Msg::SeccompListener, Some(fd))) => forward_listener(&c, pid.as_raw(), &fd).map_err(fail)?,
            Ok((m, _)) => return Err(fail(Error::Other(format!("sync: unexpected {m:?}")))),
            Err(_) => break,
        }
    }
    if let Some(pf) = &o.pid_file {
        super::create::write_pid_file(pf, pid.as_raw())?;
    }
    match sigset {
        None => Ok(0),
        Some(set) => super::foreground::wait(pid, set, master),
    }
}

/// Sends the exec'd process's seccomp listener fd to the agent; the
/// container is running, the process about to exec.
fn forward_listener(c: &Container, pid: i32, fd: &OwnedFd) -> Result<()> {
    let s = c.saved.seccomp.as_ref().ok_or_else(|| Error::Other("a seccomp listener, but the container has no seccomp profile".into()))?;
    let path = s.listener_path.as_deref().ok_or_else(|| Error::Other("a seccomp listener without a listenerPath".into()))?;
    let msg = crate::seccomp::notify::ContainerProcessState::new(pid, s.listener_metadata.clone(), c.oci_state());
    crate::seccomp::notify::send_to_listener(path, fd.as_fd(), &msg)
}

/// In the process that will become the exec'd program, already in the
/// container's namespaces.
fn exec_child(p: &Process, console: Option<&OwnedFd>, chan: &Channel, preserve_fds: usize, in_userns: bool, filter: Option<&crate::seccomp::Filter>) -> Error {
    let r = (|| -> Result<(PathBuf, Vec<String>)> {
        chan.expect(&Msg::Go)?;
        nix::unistd::setsid().ctx(|| "setsid".into())?;
        if p.terminal {
            let console = console.ok_or_else(|| Error::Usage("terminal without console".into()))?;
            let (master, slave) = tty::open_pty()?;
            let size = p.console_size.map(|s| (s.height as u16, s.width as u16));
            tty::become_terminal(&slave, size)?;
            tty::send_fd(console.as_fd(), master.as_fd(), &slave.to_string_lossy())?;
        }
        let cwd = if p.cwd.is_empty() { "/" } else { &p.cwd };
        explain::step("exec", format!("chdir({cwd})"), "the process's working directory");
        nix::unistd::chdir(Path::new(cwd)).ctx(|| format!("chdir to {cwd}"))?;
        crate::rlimits::apply(&p.rlimits)?;
        if let Some(profile) = p.apparmor_profile.as_deref().filter(|s| !s.is_empty()) {
            crate::security::apply_apparmor(profile)?;
        }
        let env = process::final_env(p);
        let exe = process::resolve_exe(&p.args[0], &env)?;
        chan.send(&Msg::Created)?;
        Ok((exe, env))
    })();
    match r {
        Ok((exe, env)) => {
            let send_listener = |fd: std::os::fd::BorrowedFd| chan.send_fd(&Msg::SeccompListener, fd);
            let seccomp = filter.map(|filter| process::SeccompStep { filter, who: "exec", send_listener: &send_listener });
            process::become_user_and_exec(p, &exe, &env, preserve_fds, in_userns, seccomp.as_ref())
        }
        Err(e) => e,
    }
}
