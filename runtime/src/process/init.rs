//! The container's init, from its fork until it execs the user's program.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::CloneFlags;

use crate::cgroups::{Hierarchies, Placement};
use crate::error::{Context, Error, Result};
use crate::explain;
use crate::rootfs::{self, CgroupView};
use crate::spec::{NamespaceType, Spec};
use crate::state::{OciState, Status};
use crate::sync::{Channel, Msg};
use crate::{hooks, namespaces, process, sys, tty};

pub struct InitArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: usize,
    pub console: Option<OwnedFd>,
    pub exec_listener: OwnedFd,
    pub hierarchies: Option<&'a Hierarchies>,
    pub placement: Option<&'a Placement>,
    /// Init moves itself into the v1 hierarchies through these (see `Placement::enter_v1_self`).
    pub v1_tasks: Vec<(PathBuf, std::fs::File)>,
    /// Id-mapped copies of mount sources, by mount index (see rootfs::idmap).
    pub idmapped: Vec<Option<OwnedFd>>,
    /// `linux.seccomp`, compiled by the runtime before it forked.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
}

/// Runs in the forked init; returns the exit code if it cannot exec.
pub fn run(a: InitArgs, chan: &Channel) -> i32 {
    let e = match setup(&a, chan) {
        Ok(conn) => {
            // From here errors go to `start`, which is waiting on `conn`.
            let e = start_phase(&a, &conn);
            let _ = nix::unistd::write(&conn, format!("{}\n", crate::error::chain(&e)).as_bytes());
            return 127;
        }
        Err(e) => e,
    };
    let _ = chan.send(&Msg::Fail(crate::error::chain(&e)));
    1
}

fn state_for_hooks(a: &InitArgs) -> OciState {
    // Before pivot_root, /proc is still the host's: /proc/self names our pid as the host sees it.
    let pid = std::fs::read_link("/proc/self").ok().and_then(|p| p.to_str()?.parse().ok());
    OciState {
        oci_version: a.spec.oci_version.clone(),
        id: a.id.to_string(),
        status: Status::Creating,
        pid,
        bundle: a.bundle.clone(),
        annotations: a.spec.annotations.clone(),
    }
}

fn setup(a: &InitArgs, chan: &Channel) -> Result<OwnedFd> {
    let spec = a.spec;
    let linux = spec.linux.clone().unwrap_or_default();
    let process = spec.process.clone().unwrap_or_default();
    explain::step("init", "setsid()", "a new session: the container's processes get no signals from the caller's terminal");
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    Placement::enter_v1_self(&a.v1_tasks)?;
    // The runtime finishes the cgroup placement before we go on.
    chan.expect(&Msg::Go)?;
    let new_cgroupns = namespaces::wants_new(&linux, NamespaceType::Cgroup);
    if new_cgroupns {
        namespaces::unshare("init", CloneFlags::CLONE_NEWCGROUP, namespaces::why(NamespaceType::Cgroup))?;
    }
    if !a.no_new_keyring {
        explain::step("init", format!("keyctl(JOIN_SESSION_KEYRING, {:?})", a.id), "a session keyring of its own: the container cannot see the host session's keys");
        sys::join_session_keyring(a.id)?;
    }
    let in_userns = spec.namespace(NamespaceType::User).is_some();
    let cg = CgroupView { hierarchies: a.hierarchies, placement: a.placement, new_cgroupns };
    let own_mountns = namespaces::wants_new(&linux, NamespaceType::Mount);
    if own_mountns {
        rootfs::prepare(spec, &a.rootfs, &cg, in_userns, &a.idmapped)?;
    }

    // createRuntime/prestart hooks run in the runtime's namespaces, by the runtime.
    chan.send(&Msg::RuntimeHooks)?;
    chan.expect(&Msg::Go)?;
    if let Some(h) = &spec.hooks {
        hooks::run_all("createContainer", &h.create_container, &state_for_hooks(a), "init")?;
    }

    if own_mountns {
        rootfs::switch_root(&a.rootfs, a.no_pivot)?;
    } else {
        nix::unistd::chroot(&a.rootfs).ctx(|| format!("chroot {}", a.rootfs.display()))?;
        nix::unistd::chdir("/").ctx(|| "chdir /".into())?;
    }

    if process.terminal {
        let console = a.console.as_ref().ok_or_else(|| Error::Usage("process.terminal is true but there is no console socket".into()))?;
        let (master, slave) = tty::open_pty()?;
        if own_mountns {
            crate::rootfs::devices::mount_console(std::path::Path::new("/"), &slave)?;
        }
        let size = process.console_size.map(|s| (s.height as u16, s.width as u16));
        tty::become_terminal(&slave, size)?;
        tty::send_fd(console.as_fd(), master.as_fd(), &slave.to_string_lossy())?;
    }

    // Before readonlyPaths: /proc/sys is usually one of them (runc's order).
    rootfs::write_sysctls(spec)?;
    if own_mountns {
        rootfs::finish(spec)?;
    }
    if let Some(h) = &spec.hostname {
        if !namespaces::wants_new(&linux, NamespaceType::Uts) && spec.namespace(NamespaceType::Uts).is_none() {
            return Err(Error::Usage("hostname is set but the container has no UTS namespace of its own".into()));
        }
        explain::step("init", format!("sethostname({h:?})"), "the hostname of the container's UTS namespace");
        nix::unistd::sethostname(h).ctx(|| format!("sethostname({h:?})"))?;
    }
    if let Some(d) = &spec.domainname {
        explain::step("init", format!("setdomainname({d:?})"), "the NIS domain name of the container's UTS namespace");
        set_domainname(d)?;
    }
    crate::rlimits::apply(&process.rlimits)?;
    if let Some(adj) = process.oom_score_adj {
        explain::step("init", format!("write {adj} to /proc/self/oom_score_adj"), "how eagerly the OOM killer picks this container");
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).ctx(|| format!("writing {adj} to /proc/self/oom_score_adj"))?;
    }
    if let Some(p) = &linux.personality {
        let persona = if p.domain == "LINUX32" { nix::sys::personality::Persona::from_bits_retain(0x0008) } else { nix::sys::personality::Persona::empty() };
        explain::step("init", format!("personality({})", p.domain), "the execution domain the program sees (LINUX32: uname says i686)");
        nix::sys::personality::set(persona).ctx(|| "personality".into())?;
    }
    if let Some(profile) = process.apparmor_profile.as_deref().filter(|s| !s.is_empty()) {
        crate::security::apply_apparmor(profile)?;
    }
    if let Some(label) = process.selinux_label.as_deref().filter(|s| !s.is_empty()) {
        crate::security::apply_selinux(label)?;
    }
    let cwd = if process.cwd.is_empty() { "/" } else { process.cwd.as_str() };
    explain::step("init", format!("chdir({cwd})"), "the program's working directory");
    nix::unistd::chdir(cwd).ctx(|| format!("chdir to process.cwd {cwd}"))?;
    // Fail `create` (not `start`) when the program does not exist, as runc does.
    let env = process::final_env(&process);
    process::resolve_exe(&process.args[0], &env)?;

    chan.send(&Msg::Created)?;
    explain::step("init", "accept() on exec.sock", "create is done: wait until `start` connects, then exec the program");
    let conn = loop {
        match nix::sys::socket::accept(a.exec_listener.as_raw_fd()) {
            Err(nix::Error::EINTR) => continue,
            r => break r.ctx(|| "waiting for start on exec.sock".into())?,
        }
    };
    // SAFETY: accept returned a new fd that nothing else owns.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(conn) })
}

fn start_phase(a: &InitArgs, conn: &OwnedFd) -> Error {
    let process = a.spec.process.clone().unwrap_or_default();
    // The connection closes by itself when exec succeeds (close-on-exec).
    if let Err(e) = sys::set_cloexec(conn.as_raw_fd(), true) {
        return e;
    }
    if let Some(h) = &a.spec.hooks {
        let mut st = state_for_hooks(a);
        st.status = Status::Created;
        if let Err(e) = hooks::run_all("startContainer", &h.start_container, &st, "init") {
            return e;
        }
    }
    let env = process::final_env(&process);
    let exe = match process::resolve_exe(&process.args[0], &env) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let in_userns = a.spec.namespace(NamespaceType::User).is_some();
    // `start` waits on `conn`: it forwards a NOTIFY listener fd to the agent.
    let send_listener = |fd: std::os::fd::BorrowedFd| tty::send_fd_with(conn.as_fd(), fd, process::SECCOMP_LISTENER_MARK, "sending the seccomp listener fd to start");
    let seccomp = a.seccomp.map(|filter| process::SeccompStep { filter, who: "init", send_listener: &send_listener });
    process::become_user_and_exec(&process, &exe, &env, a.preserve_fds, in_userns, seccomp.as_ref())
}

fn set_domainname(name: &str) -> Result<()> {
    // SAFETY: setdomainname reads exactly `len` bytes from the pointer, which
    // points into `name`, alive for the duration of the call.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if r < 0 {
        return Err(Error::io(format!("setdomainname({name:?})"), std::io::Error::last_os_error()));
    }
    Ok(())
}
