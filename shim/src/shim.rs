//! The shim's life: set up stdio, create and start the container, then
//! relay output and input until the container's init exits.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::frame;
use crate::log::JsonLog;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
    #[error("{0}")]
    Runtime(String),
}

type Result<T> = std::result::Result<T, ShimError>;

fn io<T>(r: std::io::Result<T>, what: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|source| ShimError::Io { what: what(), source })
}

fn sys<T>(r: nix::Result<T>, what: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|source| ShimError::Sys { what: what(), source })
}

pub struct Opts {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: PathBuf,
    pub runtime_root: PathBuf,
    pub state_dir: PathBuf,
    pub tty: bool,
    pub stdin: bool,
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    /// Exec mode: run `runtime exec --detach ... <id> <exec_args>` in the
    /// running container instead of create/start; no log file, no delete.
    pub exec: bool,
    /// Runtime exec flags (`--env`, `--cwd`, `--user`...) then `--` and the command.
    pub exec_args: Vec<String>,
    /// Exec mode: wait for the first attach client before starting the
    /// process, so none of its output is lost (docker's exec start).
    pub wait_attach: bool,
}

impl Opts {
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Opts> {
        let (mut id, mut bundle, mut runtime, mut root, mut state): (Option<String>, Option<PathBuf>, Option<PathBuf>, Option<PathBuf>, Option<PathBuf>) = (None, None, None, None, None);
        let mut o = Opts {
            id: String::new(),
            bundle: PathBuf::new(),
            runtime: PathBuf::new(),
            runtime_root: PathBuf::new(),
            state_dir: PathBuf::new(),
            tty: false,
            stdin: false,
            log_max_size: None,
            log_max_file: 1,
            exec: false,
            exec_args: Vec::new(),
            wait_attach: false,
        };
        while let Some(a) = args.next() {
            let mut val = || args.next().ok_or_else(|| ShimError::Usage(format!("{a} needs a value")));
            match a.as_str() {
                "--id" => id = Some(val()?),
                "--bundle" => bundle = Some(PathBuf::from(val()?)),
                "--runtime" => runtime = Some(PathBuf::from(val()?)),
                "--runtime-root" => root = Some(PathBuf::from(val()?)),
                "--state-dir" => state = Some(PathBuf::from(val()?)),
                "--tty" => o.tty = true,
                "--stdin" => o.stdin = true,
                "--log-max-size" => {
                    let v = val()?;
                    let n = berth_runtime::cgroups::convert::parse_size(&v).map_err(|e| ShimError::Usage(format!("--log-max-size: {e}")))?;
                    o.log_max_size = (n > 0).then_some(n as u64);
                }
                "--log-max-file" => {
                    let v = val()?;
                    o.log_max_file = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| ShimError::Usage(format!("--log-max-file {v:?}: expected a number >= 1")))?;
                }
                "--exec" => o.exec = true,
                "--wait-attach" => o.wait_attach = true,
                "--exec-arg" => o.exec_args.push(val()?),
                other => return Err(ShimError::Usage(format!("unknown option {other:?}"))),
            }
        }
        if o.exec && bundle.is_none() {
            bundle = Some(PathBuf::from("/"));
        }
        let need = |v: Option<String>, f: &str| v.ok_or_else(|| ShimError::Usage(format!("{f} is required")));
        o.id = need(id, "--id")?;
        o.bundle = PathBuf::from(need(bundle.map(|p| p.display().to_string()), "--bundle")?);
        o.runtime = PathBuf::from(need(runtime.map(|p| p.display().to_string()), "--runtime")?);
        o.runtime_root = PathBuf::from(need(root.map(|p| p.display().to_string()), "--runtime-root")?);
        o.state_dir = PathBuf::from(need(state.map(|p| p.display().to_string()), "--state-dir")?);
        Ok(o)
    }
}

/// What the shim holds for the container's stdio.
struct Stdio3 {
    /// Output fds and the stream each carries (1 stdout, 2 stderr); a PTY master is stdout.
    outputs: Vec<(OwnedFd, usize)>,
    /// Where attach input goes (the stdin pipe, or the PTY master).
    input: Option<OwnedFd>,
    /// The PTY master, for resizes.
    pty: Option<RawFd>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    sys(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC), || "pipe".into())
}

fn runtime_cmd(o: &Opts) -> Command {
    let mut c = Command::new(&o.runtime);
    c.arg("--root").arg(&o.runtime_root).arg("--log").arg(o.state_dir.join("runtime.log"));
    c
}

/// The last error the runtime logged, for the ready line.
fn runtime_error(o: &Opts, fallback: String) -> ShimError {
    let log = std::fs::read_to_string(o.state_dir.join("runtime.log")).unwrap_or_default();
    // The runtime's log lines are `<timestamp> <LEVEL> <message>`: the
    // message is what the user needs.
    let last = log.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.split_once(" ERROR ").map(|(_, m)| m).unwrap_or(l).to_string());
    ShimError::Runtime(last.unwrap_or(fallback))
}

/// Runs `create` with the container's stdio, or with a console socket for a TTY.
fn create(o: &Opts) -> Result<Stdio3> {
    let pid_file = o.state_dir.join("init.pid");
    let mut cmd = runtime_cmd(o);
    if o.exec {
        // The process is started right away (detached: the runtime exits
        // and the process becomes our child as its subreaper).
        cmd.arg("exec").arg("--detach").arg("--pid-file").arg(&pid_file);
        if o.tty {
            cmd.arg("--tty");
        }
    } else {
        cmd.arg("create").arg("--bundle").arg(&o.bundle).arg("--pid-file").arg(&pid_file);
    }
    // `ID` comes after the flags; in exec mode the command after it.
    let tail: Vec<&String> = o.exec_args.iter().collect();
    let (flags, command): (Vec<&String>, Vec<&String>) = match tail.iter().position(|a| a.as_str() == "--") {
        Some(i) => (tail[..i].to_vec(), tail[i + 1..].to_vec()),
        None => (tail.clone(), Vec::new()),
    };
    cmd.args(flags);
    if o.tty {
        let sock_path = o.state_dir.join("console.sock");
        let _ = std::fs::remove_file(&sock_path);
        let listener = io(UnixListener::bind(&sock_path), || format!("binding {}", sock_path.display()))?;
        cmd.arg("--console-socket").arg(&sock_path).arg(&o.id).args(&command);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = io(cmd.spawn(), || format!("running {}", o.runtime.display()))?;
        io(listener.set_nonblocking(true), || "console socket".into())?;
        // The runtime sends the PTY master during create; take it while it runs.
        let mut master = None;
        loop {
            if let Ok((conn, _)) = listener.accept() {
                let _ = conn.set_nonblocking(false);
                master = Some(berth_runtime::tty::recv_fd(conn.as_fd()).map_err(|e| ShimError::Runtime(format!("receiving the PTY master: {e}")))?);
                break;
            }
            if io(child.try_wait(), || "waiting for create".into())?.is_some() {
                if let Ok((conn, _)) = listener.accept() {
                    let _ = conn.set_nonblocking(false);
                    master = berth_runtime::tty::recv_fd(conn.as_fd()).ok();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let st = io(child.wait(), || "waiting for create".into())?;
        let _ = std::fs::remove_file(&sock_path);
        if !st.success() {
            return Err(runtime_error(o, format!("create failed ({st})")));
        }
        let master = master.ok_or_else(|| ShimError::Runtime("create did not send a PTY master: is process.terminal true?".into()))?;
        let fd = master.as_raw_fd();
        let input = sys(nix::unistd::dup(fd), || "dup".into())?;
        // SAFETY: dup returned a new fd that nothing else owns.
        let input = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(input) };
        return Ok(Stdio3 { outputs: vec![(master, frame::STDOUT as usize)], input: Some(input), pty: Some(fd) });
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (in_r, in_w) = if o.stdin {
        let (r, w) = pipe()?;
        (Stdio::from(r), Some(w))
    } else {
        (Stdio::null(), None)
    };
    cmd.arg(&o.id).args(&command).stdin(in_r).stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
    let st = io(cmd.status(), || format!("running {}", o.runtime.display()))?;
    if !st.success() {
        return Err(runtime_error(o, format!("{} failed ({st})", if o.exec { "exec" } else { "create" })));
    }
    Ok(Stdio3 { outputs: vec![(out_r, frame::STDOUT as usize), (err_r, frame::STDERR as usize)], input: in_w, pty: None })
}

fn start(o: &Opts) -> Result<i32> {
    let st = io(runtime_cmd(o).arg("start").arg(&o.id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status(), || "running start".into())?;
    if !st.success() {
        let e = runtime_error(o, format!("start failed ({st})"));
        delete(o);
        return Err(e);
    }
    let p = o.state_dir.join("init.pid");
    let text = io(std::fs::read_to_string(&p), || format!("reading {}", p.display()))?;
    text.trim().parse().map_err(|_| ShimError::Runtime(format!("{}: not a pid: {text:?}", p.display())))
}

fn delete(o: &Opts) {
    let _ = runtime_cmd(o).arg("delete").arg("--force").arg(&o.id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// The OOM kills counted in the container's cgroup so far.
fn oom_kills(o: &Opts) -> u64 {
    berth_runtime::state::Container::load(&o.runtime_root, &o.id)
        .ok()
        .and_then(|c| c.saved.cgroup)
        .map(|p| berth_runtime::cgroups::stats::oom_kills(&p))
        .unwrap_or(0)
}

fn ready(line: &serde_json::Value) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    // Close stdout: the spawner reads until EOF.
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
}

pub fn run(o: Opts) -> i32 {
    if let Err(e) = std::fs::create_dir_all(&o.state_dir) {
        ready(&serde_json::json!({"error": format!("creating {}: {e}", o.state_dir.display())}));
        return 1;
    }
    // The shim's own diagnostics go to a file: berthd may be gone.
    if let Ok(f) = std::fs::OpenOptions::new().create(true).append(true).open(o.state_dir.join("shim.log")) {
        let _ = nix::unistd::dup2(f.as_raw_fd(), 2);
    }
    // A session of its own: no signal for berthd's process group or terminal reaches it.
    let _ = nix::unistd::setsid();
    // SIGPIPE would kill the shim when an attach client goes away mid-write.
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    match setup_and_loop(&o) {
        Ok(()) => 0,
        Err(e) => {
            ready(&serde_json::json!({"error": e.to_string()}));
            eprintln!("berth-shim {}: {e}", o.id);
            1
        }
    }
}

fn setup_and_loop(o: &Opts) -> Result<()> {
    // Init becomes our child when the runtime that created it exits.
    sys(nix::sys::prctl::set_child_subreaper(true), || "prctl(PR_SET_CHILD_SUBREAPER)".into())?;
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    sys(mask.thread_block(), || "blocking SIGCHLD".into())?;
    let sigfd = sys(SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK), || "signalfd".into())?;

    // An exec's output goes to its attach clients only, as docker's.
    let mut log = if o.exec {
        None
    } else {
        let log_path = o.state_dir.join(format!("{}-json.log", o.id));
        Some(io(JsonLog::open(&log_path, o.log_max_size, o.log_max_file), || format!("opening {}", log_path.display()))?)
    };
    let attach_path = o.state_dir.join("attach.sock");
    let _ = std::fs::remove_file(&attach_path);
    let listener = io(UnixListener::bind(&attach_path), || format!("binding {}", attach_path.display()))?;
    let mut first = None;
    if o.wait_attach {
        // Tell the spawner where to connect, then start only once it has.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{}", serde_json::json!({"attach": attach_path}));
        let _ = out.flush();
        first = Some(accept_within(&listener, Duration::from_secs(30))?);
    }
    io(listener.set_nonblocking(true), || "attach socket".into())?;

    let stdio = create(o)?;
    let init = if o.exec { read_pid(o)? } else { start(o)? };
    let _ = std::fs::write(o.state_dir.join("shim.pid"), std::process::id().to_string());
    ready(&serde_json::json!({"pid": init}));
    event_loop(o, stdio, init, &sigfd, &listener, log.as_mut(), first)
}

fn accept_within(listener: &UnixListener, t: Duration) -> Result<UnixStream> {
    io(listener.set_nonblocking(true), || "attach socket".into())?;
    let deadline = Instant::now() + t;
    loop {
        match listener.accept() {
            Ok((s, _)) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(ShimError::Io { what: "waiting for the attach client".into(), source: e }),
        }
    }
}

fn read_pid(o: &Opts) -> Result<i32> {
    let p = o.state_dir.join("init.pid");
    let text = io(std::fs::read_to_string(&p), || format!("reading {}", p.display()))?;
    text.trim().parse().map_err(|_| ShimError::Runtime(format!("{}: not a pid: {text:?}", p.display())))
}

const T_SIGNAL: u64 = 1;
const T_LISTEN: u64 = 2;
const T_OUTPUT: u64 = 100; // + index
const T_CLIENT: u64 = 1000; // + client number

struct Client {
    sock: UnixStream,
    buf: Vec<u8>,
}

fn event_loop(o: &Opts, mut stdio: Stdio3, init: i32, sigfd: &SignalFd, listener: &UnixListener, mut log: Option<&mut JsonLog>, first: Option<UnixStream>) -> Result<()> {
    let ep = sys(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC), || "epoll_create".into())?;
    sys(ep.add(sigfd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, T_SIGNAL)), || "epoll add".into())?;
    sys(ep.add(listener.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, T_LISTEN)), || "epoll add".into())?;
    for (i, (fd, _)) in stdio.outputs.iter().enumerate() {
        sys(ep.add(fd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, T_OUTPUT + i as u64)), || "epoll add".into())?;
    }
    let mut open_outputs: Vec<bool> = vec![true; stdio.outputs.len()];
    let mut clients: HashMap<u64, Client> = HashMap::new();
    let mut next_client = T_CLIENT;
    if let Some(sock) = first {
        let _ = sock.set_nonblocking(true);
        if ep.add(sock.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, next_client)).is_ok() {
            clients.insert(next_client, Client { sock, buf: Vec::new() });
        }
        next_client += 1;
    }
    let mut exit: Option<(i32, Option<i32>)> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut events = [EpollEvent::empty(); 16];
    let mut buf = vec![0u8; 64 * 1024];

    loop {
        let outputs_done = open_outputs.iter().all(|o| !o);
        if exit.is_some() && (outputs_done || drain_deadline.is_some_and(|d| Instant::now() > d)) {
            break;
        }
        let n = match ep.wait(&mut events, PollTimeout::from(100u16)) {
            Ok(n) => n,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(ShimError::Sys { what: "epoll_wait".into(), source: e }),
        };
        for ev in &events[..n] {
            match ev.data() {
                T_SIGNAL => {
                    while let Ok(Some(_)) = sigfd.read_signal() {}
                    while let Ok(st) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                        let (pid, code, sig) = match st {
                            WaitStatus::Exited(p, c) => (p, c, None),
                            WaitStatus::Signaled(p, s, _) => (p, 128 + s as i32, Some(s as i32)),
                            WaitStatus::StillAlive => break,
                            _ => continue,
                        };
                        if pid.as_raw() == init {
                            exit = Some((code, sig));
                            // Output still buffered in the pipes is read; a process that
                            // escaped with the pipe open must not keep us here forever.
                            drain_deadline = Some(Instant::now() + Duration::from_secs(2));
                        }
                    }
                }
                T_LISTEN => {
                    while let Ok((sock, _)) = listener.accept() {
                        let _ = sock.set_nonblocking(true);
                        let t = next_client;
                        next_client += 1;
                        if ep.add(sock.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, t)).is_ok() {
                            clients.insert(t, Client { sock, buf: Vec::new() });
                        }
                    }
                }
                t if (T_OUTPUT..T_CLIENT).contains(&t) => {
                    let i = (t - T_OUTPUT) as usize;
                    let (fd, stream) = (&stdio.outputs[i].0, stdio.outputs[i].1);
                    match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                        Ok(0) | Err(nix::Error::EIO) => {
                            // EOF (pipe) or EIO (PTY with no slave left): this stream is done.
                            let _ = ep.delete(fd.as_fd());
                            open_outputs[i] = false;
                            if let Some(l) = log.as_mut() {
                                let _ = l.flush_stream(stream);
                            }
                        }
                        Ok(k) => {
                            let data = &buf[..k];
                            if let Some(Err(e)) = log.as_mut().map(|l| l.write(stream, data)) {
                                eprintln!("berth-shim {}: writing the log: {e}", o.id);
                            }
                            let f = frame::encode(stream as u8, data);
                            clients.retain(|_, c| write_or_drop(&c.sock, &f));
                        }
                        Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
                        Err(e) => {
                            eprintln!("berth-shim {}: reading output: {e}", o.id);
                            let _ = ep.delete(fd.as_fd());
                            open_outputs[i] = false;
                        }
                    }
                }
                t => {
                    let Some(c) = clients.get_mut(&t) else { continue };
                    let mut gone = false;
                    match (&c.sock).read(&mut buf) {
                        Ok(0) => gone = true,
                        Ok(k) => c.buf.extend_from_slice(&buf[..k]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => gone = true,
                    }
                    for (kind, data) in frame::decode(&mut c.buf) {
                        match kind {
                            frame::IN_STDIN => {
                                if let Some(inp) = &stdio.input {
                                    let _ = write_all_fd(inp.as_fd(), &data);
                                }
                            }
                            frame::IN_RESIZE if data.len() == 4 => {
                                if let Some(m) = stdio.pty {
                                    let rows = u16::from_be_bytes([data[0], data[1]]);
                                    let cols = u16::from_be_bytes([data[2], data[3]]);
                                    resize(m, rows, cols);
                                }
                            }
                            // A PTY's input stays open for other clients; a pipe gets EOF.
                            frame::IN_CLOSE_STDIN if stdio.pty.is_none() => stdio.input = None,
                            _ => {}
                        }
                    }
                    if gone {
                        if let Some(c) = clients.remove(&t) {
                            let _ = ep.delete(c.sock.as_fd());
                        }
                    }
                }
            }
        }
    }
    let (code, signal) = exit.expect("loop ends after the exit");
    if let Some(l) = log.as_mut() {
        for s in [1, 2] {
            let _ = l.flush_stream(s);
        }
    }
    let oom = signal == Some(libc::SIGKILL) && oom_kills(o) > 0;
    let rec = serde_json::json!({
        "pid": init,
        "exit_code": code,
        "signal": signal,
        "oom_killed": oom,
        "finished_at": berth_runtime::state::now_rfc3339(),
    });
    berth_runtime::state::write_atomic(&o.state_dir.join("exit.json"), rec.to_string().as_bytes()).map_err(|e| ShimError::Runtime(format!("recording the exit: {e}")))?;
    if !o.exec {
        delete(o);
    }
    let _ = std::fs::remove_file(o.state_dir.join("attach.sock"));
    Ok(())
}

/// Writes a frame to an attach client; a client that cannot keep up (or is gone) is dropped.
fn write_or_drop(sock: &UnixStream, data: &[u8]) -> bool {
    let mut off = 0;
    let deadline = Instant::now() + Duration::from_millis(200);
    while off < data.len() {
        match (&*sock).write(&data[off..]) {
            Ok(0) => return false,
            Ok(k) => off += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            Err(_) => return false,
        }
    }
    true
}

fn write_all_fd(fd: BorrowedFd, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(k) => data = &data[k..],
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn resize(master: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize from a live struct; `master` is our open PTY master.
    unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let a = |v: &[&str]| Opts::parse(v.iter().map(|s| s.to_string()));
        let o = a(&["--id", "c", "--bundle", "/b", "--runtime", "/r", "--runtime-root", "/rr", "--state-dir", "/s", "--tty", "--log-max-size", "10m", "--log-max-file", "3"]).unwrap();
        assert!(o.tty && !o.stdin);
        assert_eq!(o.log_max_size, Some(10 << 20));
        assert_eq!(o.log_max_file, 3);
        assert!(a(&["--id", "c"]).is_err(), "missing required options");
        assert!(a(&["--id", "c", "--bundle", "/b", "--runtime", "/r", "--runtime-root", "/rr", "--state-dir", "/s", "--bogus"]).is_err());
        assert!(a(&["--log-max-file", "0"]).is_err());
    }
}
