//! The processes that make a container: the intermediate process that
//! joins and creates namespaces, the container's init, and the last steps
//! any container process (init or exec) takes before execve.

pub mod init;
pub mod intermediate;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};

use crate::error::{Context, Error, Result};
use crate::explain;
use crate::spec::Process;

/// Finds the program to execute the way execvp would, with the PATH of the
/// container's environment (not the runtime's).
pub fn resolve_exe(arg0: &str, env: &[String]) -> Result<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        if !p.exists() {
            return Err(Error::Other(format!("exec {arg0:?}: no such file or directory")));
        }
        return Ok(p);
    }
    let path = env.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let cand = Path::new(dir).join(arg0);
        if is_exec(&cand) {
            return Ok(cand);
        }
    }
    Err(Error::Other(format!("exec {arg0:?}: executable file not found in $PATH ({path})")))
}

/// The environment the process gets: config env, plus HOME from the
/// container's /etc/passwd when not set (as runc), read directly from the
/// file (no NSS: static builds cannot use it).
pub fn final_env(p: &Process) -> Vec<String> {
    let mut env = p.env.clone();
    if !env.iter().any(|kv| kv.starts_with("HOME=")) {
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(p.user.uid)).then(|| f[5].to_string())
                })
            })
            .unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

/// The payload that travels with a seccomp listener fd from a container
/// process to the runtime process that forwards it to the agent.
pub const SECCOMP_LISTENER_MARK: &str = "seccomp-listener\n";

/// The filter a process installs before exec, and where its NOTIFY
/// listener fd goes (the process cannot reach `listenerPath` itself: it
/// may already be inside the container's mount namespace).
pub struct SeccompStep<'a> {
    pub filter: &'a crate::seccomp::Filter,
    pub who: &'a str,
    pub send_listener: &'a dyn Fn(std::os::fd::BorrowedFd) -> Result<()>,
}

impl SeccompStep<'_> {
    fn install(&self) -> Result<()> {
        if let Some(listener) = self.filter.install()? {
            // First call under the filter: NOTIFY is refused on sendmsg, so it cannot wait on itself.
            (self.send_listener)(std::os::fd::AsFd::as_fd(&listener))?;
        }
        Ok(())
    }
}

/// Switches to the process's user and capabilities, installs the seccomp
/// filter, then execs. Returns only on failure.
pub fn become_user_and_exec(p: &Process, exe: &Path, env: &[String], preserve_fds: usize, in_userns: bool, seccomp: Option<&SeccompStep>) -> Error {
    match try_exec(p, exe, env, preserve_fds, in_userns, seccomp) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_exec(p: &Process, exe: &Path, env: &[String], preserve_fds: usize, in_userns: bool, seccomp: Option<&SeccompStep>) -> Result<std::convert::Infallible> {
    // Without no_new_privs the kernel wants CAP_SYS_ADMIN for a filter: install it while we have it.
    if let Some(s) = seccomp.filter(|_| !p.no_new_privileges) {
        s.filter.explain(s.who, false);
        s.install()?;
    }
    if let Some(c) = &p.capabilities {
        crate::capabilities::drop_bounding(c)?;
    }
    // Keep the permitted set across the uid change; it is trimmed right after.
    nix::sys::prctl::set_keepcaps(true).ctx(|| "prctl(PR_SET_KEEPCAPS)".into())?;
    let gids: Vec<Gid> = p.user.additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    // setgroups is denied in user namespaces whose setgroups file says "deny".
    let setgroups_allowed = !in_userns || std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "allow");
    if setgroups_allowed {
        explain::step("init", format!("setgroups({:?})", p.user.additional_gids), "supplementary groups of the container user");
        nix::unistd::setgroups(&gids).ctx(|| format!("setgroups({:?})", p.user.additional_gids))?;
    } else if !gids.is_empty() {
        return Err(Error::Other("additionalGids cannot be set: setgroups is denied in this user namespace".into()));
    }
    let (uid, gid) = (Uid::from_raw(p.user.uid), Gid::from_raw(p.user.gid));
    explain::step("init", format!("setresgid({gid}) setresuid({uid})"), "the program runs as the configured user");
    nix::unistd::setresgid(gid, gid, gid).ctx(|| format!("setresgid({gid})"))?;
    nix::unistd::setresuid(uid, uid, uid).ctx(|| format!("setresuid({uid})"))?;
    if let Some(c) = &p.capabilities {
        crate::capabilities::apply(c)?;
    } else if uid.as_raw() != 0 {
        // No capabilities section: a non-root user keeps none.
        let _ = caps::clear(None, caps::CapSet::Permitted);
    }
    nix::sys::prctl::set_keepcaps(false).ctx(|| "prctl(PR_SET_KEEPCAPS, 0)".into())?;
    if p.no_new_privileges {
        explain::step("init", "prctl(PR_SET_NO_NEW_PRIVS, 1)", "setuid binaries and file capabilities can no longer raise privileges");
        nix::sys::prctl::set_no_new_privs().ctx(|| "prctl(PR_SET_NO_NEW_PRIVS)".into())?;
    }
    if let Some(m) = p.user.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m & 0o777));
    }
    crate::sys::close_fds_on_exec(preserve_fds)?;
    // Signals blocked by a foreground runtime must not stay blocked in the container.
    let _ = nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&nix::sys::signal::SigSet::empty()), None);
    let cexe = CString::new(exe.as_os_str().as_bytes()).map_err(|_| Error::Usage("program path contains NUL".into()))?;
    let args: Vec<CString> = p.args.iter().map(|a| CString::new(a.as_bytes())).collect::<std::result::Result<_, _>>().map_err(|_| Error::Usage("an argument contains NUL".into()))?;
    let envs: Vec<CString> = env.iter().map(|a| CString::new(a.as_bytes())).collect::<std::result::Result<_, _>>().map_err(|_| Error::Usage("an environment variable contains NUL".into()))?;
    // With no_new_privs: as late as possible, so only execve runs under the
    // container's filter (everything above is already prepared, and the
    // narration written before it).
    let late = seccomp.filter(|_| p.no_new_privileges);
    if let Some(s) = late {
        s.filter.explain(s.who, true);
    }
    explain::step("init", format!("execve({}, {:?})", exe.display(), p.args), "replace the runtime's code with the container's program; the namespaces, mounts, cgroup and credentials stay");
    if let Some(s) = late {
        s.install()?;
    }
    let e = nix::unistd::execve(&cexe, &args, &envs).unwrap_err();
    Err(Error::sys(format!("exec {}", exe.display()), e))
}
