//! `create`: everything but exec of the user program.
//!
//! The runtime (this process) forks the intermediate process, which forks
//! init; they talk over a socketpair (see `sync`). The container's state
//! directory is built under a temporary name and renamed into place only
//! when init waits for `start`, so a failure — or a SIGKILL of this
//! process — never leaves a half-made container that looks real.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use crate::cgroups::{self, Hierarchies, Placement};
use crate::error::{Context, Error, Result};
use crate::explain;
use crate::process::{init, intermediate};
use crate::spec::{NamespaceType, Spec};
use crate::state::{self, Container, OciState, Saved, Status};
use crate::sync::{Channel, Msg};
use crate::{hooks, namespaces, sys};

pub struct CreateOpts {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub console: Option<OwnedFd>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: usize,
}

/// Undoes a partial create when dropped, unless disarmed.
struct Cleanup {
    tmp_dir: PathBuf,
    init: Option<Pid>,
    placement: Option<Placement>,
    /// runtime.md: when a create-time hook fails, the lifecycle continues
    /// at delete, which runs the poststop hooks.
    poststop: Option<(Vec<crate::spec::Hook>, OciState)>,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.init {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            // We are its subreaper: reap it so its cgroup empties.
            let _ = waitpid(pid, None);
        }
        if let Some(p) = &self.placement {
            if let Err(e) = p.remove() {
                eprintln!("berth-runtime: cleanup: {}", crate::error::chain(&e));
            }
        }
        let _ = std::fs::remove_dir_all(&self.tmp_dir);
        if let Some((hooks, state)) = &self.poststop {
            hooks::run_all_warn("poststop", hooks, state, "runtime");
        }
    }
}

/// Removes leftovers of creates whose runtime process died (SIGKILL,
/// power loss): `.creating-<id>-<pid>` directories whose pid is gone.
pub fn sweep_stale(root: &Path) {
    let Ok(rd) = std::fs::read_dir(root) else { return };
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".creating-") else { continue };
        let Some(pid) = rest.rsplit('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
        if state::process_start_time(pid).is_some() {
            continue;
        }
        let dir = ent.path();
        if let Ok(text) = std::fs::read(dir.join("cgroup.json")) {
            if let Ok(p) = serde_json::from_slice::<Placement>(&text) {
                if let Ok(pids) = p.procs() {
                    for pid in pids {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                    }
                }
                let _ = p.remove();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

pub fn create(o: CreateOpts) -> Result<Container> {
    state::check_id(&o.id)?;
    let bundle = std::fs::canonicalize(&o.bundle).ctx(|| format!("bundle {}", o.bundle.display()))?;
    let config_path = bundle.join("config.json");
    let mut spec = Spec::load(&bundle)?;
    spec.validate_for_linux(&config_path)?;
    let root_cfg = spec.root.clone().expect("validated");
    let rootfs_path = if root_cfg.path.is_absolute() { root_cfg.path.clone() } else { bundle.join(&root_cfg.path) };
    let rootfs = std::fs::canonicalize(&rootfs_path)
        .map_err(|e| Error::io(format!("{}: root.path {} does not exist or cannot be read", config_path.display(), rootfs_path.display()), e))?;
    if !rootfs.is_dir() {
        return Err(Error::Config { path: config_path, field: "root.path".into(), msg: format!("{} is not a directory", rootfs.display()) });
    }
    if spec.process.is_none() {
        return Err(Error::Config { path: config_path, field: "process".into(), msg: "create needs a process to run".into() });
    }
    let mut linux = spec.linux.clone().unwrap_or_default();
    // Compiled here, before any fork: a bad profile fails `create` with the reason.
    let filter = compile_seccomp(linux.seccomp.as_ref(), &config_path)?;
    if spec.process.as_ref().is_some_and(|p| p.terminal) && o.console.is_none() {
        return Err(Error::Usage("process.terminal is true: pass --console-socket (or use `run` in the foreground)".into()));
    }
    if spec.hostname.is_some() && spec.namespace(NamespaceType::Uts).is_none() {
        return Err(Error::Config { path: config_path, field: "hostname".into(), msg: "setting a hostname needs a uts namespace in linux.namespaces".into() });
    }

    // Socket activation: fds passed to us by systemd go to the container too.
    let mut preserve = o.preserve_fds;
    if let Some(n) = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0) {
        preserve += n;
        if let Some(p) = spec.process.as_mut() {
            p.env.push(format!("LISTEN_FDS={n}"));
            p.env.push("LISTEN_PID=1".into());
        }
    }

    std::fs::create_dir_all(&o.root).ctx(|| format!("creating runtime root {}", o.root.display()))?;
    sweep_stale(&o.root);
    let final_dir = o.root.join(&o.id);
    if final_dir.exists() {
        return Err(Error::Exists(o.id.clone()));
    }
    let tmp_dir = o.root.join(format!(".creating-{}-{}", o.id, std::process::id()));
    std::fs::create_dir(&tmp_dir).ctx(|| format!("creating {}", tmp_dir.display()))?;
    let mut cleanup = Cleanup { tmp_dir: tmp_dir.clone(), init: None, placement: None, poststop: None, armed: true };
    std::fs::set_permissions(&tmp_dir, std::os::unix::fs::PermissionsExt::from_mode(0o711)).ctx(|| format!("chmod {}", tmp_dir.display()))?;

    let listener = exec_listener(&tmp_dir)?;

    // Cgroup directories exist before init does, so that init can mount them.
    let hierarchies = Hierarchies::detect().ok().filter(|h| h.unified.is_some() || !h.v1.is_empty());
    let placement = match &hierarchies {
        Some(h) => {
            let rel = cgroups::relative_path(linux.cgroups_path.as_deref(), &o.id)?;
            let p = Placement::create(h, &rel)?;
            cleanup.placement = Some(p.clone());
            state::write_atomic(&tmp_dir.join("cgroup.json"), &serde_json::to_vec(&p).expect("serialises"))?;
            // Limits are in place before any process of the container exists.
            if let (Some(root), Some(leaf)) = (&h.unified, &p.unified) {
                let wanted = cgroups::apply::wanted_v2(linux.resources.as_ref(), h.mode);
                cgroups::apply::enable_v2_controllers(root, leaf, &wanted, h.mode == cgroups::Mode::Unified)?;
            }
            let none = crate::spec::Resources::default();
            cgroups::apply::apply(&p, linux.resources.as_ref().unwrap_or(&none), &linux.devices, false)?;
            Some(p)
        }
        None => {
            if linux.resources.is_some() {
                return Err(Error::Usage(format!(
                    "{}: linux.resources is set, but this host has no cgroup filesystem mounted at /sys/fs/cgroup to apply it",
                    config_path.display()
                )));
            }
            None
        }
    };

    let (parent_chan, child_chan) = Channel::pair()?;
    // Become the subreaper: when the intermediate process exits, init is
    // re-parented to us, so a failed create can reap it.
    nix::sys::prctl::set_child_subreaper(true).ctx(|| "prctl(PR_SET_CHILD_SUBREAPER)".into())?;
    explain::step("runtime", "fork()", "the intermediate process will join and create namespaces; this process stays outside them");
    // Without a user namespace, init can place itself cheaply (born in the
    // cgroup2 directory, then moving itself into v1); in one, it may lack
    // the permission, and the runtime places it.
    let self_place = spec.namespace(NamespaceType::User).is_none();
    let cgroup_fd = if self_place { placement.as_ref().and_then(|p| p.open_unified()) } else { None };
    let v1_tasks = match (&placement, self_place) {
        (Some(p), true) => p.open_v1_tasks()?,
        _ => Vec::new(),
    };
    // Id-mapped mounts are prepared here, on the host, before any namespace
    // exists (see rootfs::idmap).
    let idmapped = crate::rootfs::idmap::prepare(&spec.mounts, &linux.uid_mappings, &linux.gid_mappings)?;
    let spec_ref = &spec;
    let linux_ref = &mut linux;
    match sys::fork()? {
        ForkResult::Child => {
            drop(parent_chan);
            let args = init::InitArgs {
                id: &o.id,
                spec: spec_ref,
                bundle: bundle.clone(),
                rootfs: rootfs.clone(),
                no_pivot: o.no_pivot,
                no_new_keyring: o.no_new_keyring,
                preserve_fds: preserve,
                console: o.console,
                exec_listener: listener,
                hierarchies: hierarchies.as_ref(),
                placement: placement.as_ref(),
                v1_tasks,
                idmapped,
                seccomp: filter.as_ref(),
            };
            let chan = &child_chan;
            intermediate::run(linux_ref, chan, cgroup_fd.as_ref().map(|f| f.as_fd()), move || init::run(args, chan))
        }
        ForkResult::Parent { child } => {
            drop(child_chan);
            drop(listener);
            drop(o.console);
            drop(cgroup_fd);
            drop(v1_tasks);
            drop(idmapped);
            let r = drive(&parent_chan, child, &spec, &bundle, &o.id, placement.as_ref(), self_place, &mut cleanup);
            r?;
        }
    }
    let init_pid = cleanup.init.expect("init pid known after drive");

    let saved = Saved {
        oci_version: spec.oci_version.clone(),
        id: o.id.clone(),
        pid: init_pid.as_raw(),
        init_start_time: state::process_start_time(init_pid.as_raw()).ok_or_else(|| Error::Init("exited right after it was created".into()))?,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        annotations: spec.annotations.clone(),
        created: state::now_rfc3339(),
        owner: String::new(),
        cgroup: placement.clone(),
        hooks: spec.hooks.clone(),
        own_pidns: namespaces::wants_new(&linux, NamespaceType::Pid),
        process: spec.process.clone(),
        seccomp: linux.seccomp.clone(),
    };
    let c = Container { dir: tmp_dir.clone(), saved };
    c.save()?;
    let _ = std::fs::remove_file(tmp_dir.join("cgroup.json"));
    // Publish the container: an atomic rename that fails if the id was taken meanwhile.
    sys::rename_noreplace(&tmp_dir, &final_dir).map_err(|e| {
        if e == nix::Error::EEXIST || e == nix::Error::ENOTEMPTY { Error::Exists(o.id.clone()) } else { Error::sys(format!("renaming {} to {}", tmp_dir.display(), final_dir.display()), e) }
    })?;
    cleanup.tmp_dir = final_dir.clone();
    if let Some(pf) = &o.pid_file {
        if let Err(e) = write_pid_file(pf, init_pid.as_raw()) {
            return Err(e);
        }
    }
    cleanup.armed = false;
    Ok(Container { dir: final_dir, saved: c.saved })
}

/// Compiles `linux.seccomp` and checks the kernel has what it uses.
pub fn compile_seccomp(s: Option<&crate::seccomp::Seccomp>, origin: &Path) -> Result<Option<crate::seccomp::Filter>> {
    let Some(s) = s else { return Ok(None) };
    let bad = |msg: String| Error::Config { path: origin.to_path_buf(), field: "linux.seccomp".into(), msg };
    let f = crate::seccomp::Filter::compile(s).map_err(bad)?;
    f.check_kernel().map_err(bad)?;
    tracing::debug!(filter = %f.describe(), "seccomp filter compiled");
    Ok(Some(f))
}

pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) };
    state::write_atomic(&path, pid.to_string().as_bytes())
}

/// The socket init waits on; bound by path relative to the state directory
/// (sun_path holds only 108 bytes and runtime roots can be long).
fn exec_listener(dir: &Path) -> Result<OwnedFd> {
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).ctx(|| "creating exec socket".into())?;
    let cwd = std::env::current_dir().ctx(|| "reading the current directory".into())?;
    nix::unistd::chdir(dir).ctx(|| format!("chdir {}", dir.display()))?;
    let r = UnixAddr::new(state::EXEC_SOCKET).and_then(|a| bind(sock.as_raw_fd(), &a));
    nix::unistd::chdir(&cwd).ctx(|| format!("chdir back to {}", cwd.display()))?;
    r.ctx(|| format!("binding {}/{}", dir.display(), state::EXEC_SOCKET))?;
    listen(&sock, Backlog::new(1).expect("valid backlog")).ctx(|| "listen on exec socket".into())?;
    Ok(sock)
}

/// The runtime's side of the conversation with the intermediate process and init.
#[allow(clippy::too_many_arguments)]
fn drive(chan: &Channel, intermediate: Pid, spec: &Spec, bundle: &Path, id: &str, placement: Option<&Placement>, self_placed: bool, cleanup: &mut Cleanup) -> Result<()> {
    let linux = spec.linux.clone().unwrap_or_default();
    let reap_intermediate = || {
        let _ = waitpid(intermediate, None);
    };
    let (init_pid, born_in_cgroup) = loop {
        match chan.recv() {
            Ok(Msg::WantIdMaps(pid)) => {
                if let Err(e) = namespaces::write_id_maps(pid, &linux.uid_mappings, &linux.gid_mappings) {
                    let _ = nix::sys::signal::kill(intermediate, nix::sys::signal::Signal::SIGKILL);
                    reap_intermediate();
                    return Err(e);
                }
                chan.send(&Msg::Go)?;
            }
            Ok(Msg::InitPid(pid, placed)) => break (Pid::from_raw(pid), placed),
            Ok(Msg::Fail(s)) => {
                reap_intermediate();
                return Err(Error::Init(s));
            }
            Ok(m) => return Err(Error::Other(format!("sync: unexpected {m:?}"))),
            Err(e) => {
                reap_intermediate();
                return Err(e);
            }
        }
    };
    cleanup.init = Some(init_pid);
    reap_intermediate();
    let state = OciState {
        oci_version: spec.oci_version.clone(),
        id: id.to_string(),
        status: Status::Creating,
        pid: Some(init_pid.as_raw()),
        bundle: bundle.to_path_buf(),
        annotations: spec.annotations.clone(),
    };
    if let Some(h) = spec.hooks.as_ref().filter(|h| !h.poststop.is_empty()) {
        let mut st = state.clone();
        st.status = Status::Stopped;
        st.pid = None;
        cleanup.poststop = Some((h.poststop.clone(), st));
    }
    if let Some(p) = placement {
        if !self_placed {
            p.add(init_pid.as_raw())?;
        } else if !born_in_cgroup {
            p.add_unified(init_pid.as_raw())?;
        }
    }
    chan.send(&Msg::Go)?;
    chan.expect(&Msg::RuntimeHooks)?;
    if let Some(h) = &spec.hooks {
        hooks::run_all("prestart", &h.prestart, &state, "runtime")?;
        hooks::run_all("createRuntime", &h.create_runtime, &state, "runtime")?;
    }
    chan.send(&Msg::Go)?;
    chan.expect(&Msg::Created)?;
    Ok(())
}
