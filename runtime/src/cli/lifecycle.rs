//! create, start, run, state, kill, delete, list, ps, pause, resume.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use berth_runtime::container::{create::CreateOpts, *};
use berth_runtime::state::{self, Container};
use berth_runtime::{tty, Error};

use super::args::{one_id, unknown, Args, Item};
use super::Globals;

type R = Result<i32, Error>;

struct CreateFlags {
    opts: CreateOpts,
    console_socket: Option<PathBuf>,
    detach: bool,
    keep: bool,
}

fn parse_create(cmd: &str, g: &Globals, a: &mut Args) -> Result<CreateFlags, Error> {
    let mut bundle = PathBuf::from(".");
    let mut f = CreateFlags {
        opts: CreateOpts {
            root: g.root.clone(),
            id: String::new(),
            bundle: PathBuf::new(),
            console: None,
            pid_file: None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
        },
        console_socket: None,
        detach: false,
        keep: false,
    };
    let mut pos = Vec::new();
    while let Some(it) = a.next()? {
        match it {
            Item::Positional(p) => pos.push(p),
            Item::Flag(fl) => match fl.as_str() {
                "bundle" | "b" => bundle = PathBuf::from(a.value(&fl)?),
                "console-socket" => f.console_socket = Some(PathBuf::from(a.value(&fl)?)),
                "pid-file" => f.opts.pid_file = Some(PathBuf::from(a.value(&fl)?)),
                "no-pivot" => f.opts.no_pivot = true,
                "no-new-keyring" => f.opts.no_new_keyring = true,
                "preserve-fds" => {
                    let v = a.value(&fl)?;
                    f.opts.preserve_fds = v.parse().map_err(|_| Error::Usage(format!("--preserve-fds {v}: expected a number")))?;
                }
                "detach" | "d" if cmd == "run" => f.detach = true,
                "keep" if cmd == "run" => f.keep = true,
                "no-subreaper" if cmd == "run" => {}
                _ => return Err(unknown(cmd, &fl)),
            },
        }
    }
    f.opts.id = one_id(cmd, &pos)?;
    f.opts.bundle = bundle;
    if let Some(p) = &f.console_socket {
        f.opts.console = Some(tty::connect_console_socket(p)?);
    }
    Ok(f)
}

pub fn create(g: &Globals, a: &mut Args) -> R {
    let f = parse_create("create", g, a)?;
    create::create(f.opts)?;
    Ok(0)
}

pub fn start(g: &Globals, a: &mut Args) -> R {
    let id = only_id("start", a)?;
    start::start(&g.root, &id)?;
    Ok(0)
}

pub fn run(g: &Globals, a: &mut Args) -> R {
    let mut f = parse_create("run", g, a)?;
    let id = f.opts.id.clone();
    if f.detach {
        create::create(f.opts)?;
        if let Err(e) = start::start(&g.root, &id) {
            let _ = delete::delete(&g.root, &id, true);
            return Err(e);
        }
        return Ok(0);
    }
    // Foreground: we wait for init (we are its subreaper), relay its
    // terminal if it has one and no console socket was given.
    let sigset = foreground::block_signals()?;
    let spec = berth_runtime::spec::Spec::load(&f.opts.bundle)?;
    let wants_tty = spec.process.as_ref().is_some_and(|p| p.terminal);
    let mut local: Option<OwnedFd> = None;
    if wants_tty && f.opts.console.is_none() {
        let (x, y) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::sys("creating a console socketpair", e))?;
        local = Some(x);
        f.opts.console = Some(y);
    }
    let c = create::create(f.opts)?;
    let master = match &local {
        Some(s) => match tty::recv_fd(std::os::fd::AsFd::as_fd(s)) {
            Ok(m) => Some(m),
            Err(e) => {
                let _ = delete::delete(&g.root, &id, true);
                return Err(e);
            }
        },
        None => None,
    };
    if let Err(e) = start::start(&g.root, &id) {
        let _ = delete::delete(&g.root, &id, true);
        return Err(e);
    }
    let code = foreground::wait(nix::unistd::Pid::from_raw(c.saved.pid), sigset, master);
    if !f.keep {
        delete::delete(&g.root, &id, true)?;
    }
    code
}

fn only_id(cmd: &str, a: &mut Args) -> Result<String, Error> {
    let mut pos = Vec::new();
    while let Some(it) = a.next()? {
        match it {
            Item::Positional(p) => pos.push(p),
            Item::Flag(f) => return Err(unknown(cmd, &f)),
        }
    }
    one_id(cmd, &pos)
}

pub fn state(g: &Globals, a: &mut Args) -> R {
    let id = only_id("state", a)?;
    let c = Container::load(&g.root, &id)?;
    println!("{}", serde_json::to_string_pretty(&c.runc_state()).expect("serialises"));
    Ok(0)
}

pub fn kill(g: &Globals, a: &mut Args) -> R {
    let mut pos = Vec::new();
    let mut all = false;
    while let Some(it) = a.next()? {
        match it {
            Item::Positional(p) => pos.push(p),
            Item::Flag(f) if f == "all" || f == "a" => all = true,
            Item::Flag(f) => return Err(unknown("kill", &f)),
        }
    }
    let (id, sig) = match pos.as_slice() {
        [id] => (id.clone(), "SIGTERM".to_string()),
        [id, s] => (id.clone(), s.clone()),
        _ => return Err(Error::Usage("kill: usage: kill [--all] ID [SIGNAL]".into())),
    };
    let sig = kill::parse_signal(&sig)?;
    kill::kill(&g.root, &id, sig, all)?;
    Ok(0)
}

pub fn delete(g: &Globals, a: &mut Args) -> R {
    let mut pos = Vec::new();
    let mut force = false;
    while let Some(it) = a.next()? {
        match it {
            Item::Positional(p) => pos.push(p),
            Item::Flag(f) if f == "force" || f == "f" => force = true,
            Item::Flag(f) => return Err(unknown("delete", &f)),
        }
    }
    let id = one_id("delete", &pos)?;
    match delete::delete(&g.root, &id, force) {
        // runc: deleting a missing container with --force is not an error.
        Err(Error::NotFound(_)) if force => Ok(0),
        r => r.map(|_| 0),
    }
}

fn format_flag(cmd: &str, a: &mut Args, extra_ok: bool) -> Result<(bool, bool, Vec<String>), Error> {
    let (mut json, mut quiet, mut pos) = (false, false, Vec::new());
    while let Some(it) = a.next()? {
        match it {
            Item::Positional(p) => pos.push(p),
            Item::Flag(f) if f == "format" || f == "f" => {
                json = match a.value(&f)?.as_str() {
                    "json" => true,
                    "table" => false,
                    o => return Err(Error::Usage(format!("{cmd}: --format {o}: expected table or json"))),
                }
            }
            Item::Flag(f) if (f == "quiet" || f == "q") && cmd == "list" => quiet = true,
            Item::Flag(f) if extra_ok => {
                // ps options after the id are passed to ps(1)
                pos.push(format!("-{}{f}", if f.len() > 1 { "-" } else { "" }));
            }
            Item::Flag(f) => return Err(unknown(cmd, &f)),
        }
    }
    Ok((json, quiet, pos))
}

pub fn list(g: &Globals, a: &mut Args) -> R {
    let (json, quiet, pos) = format_flag("list", a, false)?;
    if !pos.is_empty() {
        return Err(Error::Usage(format!("list: unexpected arguments {pos:?}")));
    }
    // Listing is also when leftovers of a killed create are swept.
    berth_runtime::container::create::sweep_stale(&g.root);
    let all = state::list(&g.root)?;
    if quiet {
        for c in &all {
            println!("{}", c.saved.id);
        }
    } else if json {
        let v: Vec<_> = all.iter().map(|c| c.runc_state()).collect();
        println!("{}", serde_json::to_string(&v).expect("serialises"));
    } else {
        println!("{:<12} {:<10} {:<10} {:<40} {:<32} {}", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
        for c in &all {
            let s = c.runc_state();
            println!("{:<12} {:<10} {:<10} {:<40} {:<32} {}", s.id, s.pid, s.status, s.bundle.display(), s.created, if s.owner.is_empty() { "root" } else { &s.owner });
        }
    }
    Ok(0)
}

pub fn ps(g: &Globals, a: &mut Args) -> R {
    let (json, _, pos) = format_flag("ps", a, true)?;
    let (id, ps_args) = pos.split_first().ok_or_else(|| Error::Usage("ps: a container id is required".into()))?;
    let pids = ps::pids(&g.root, id)?;
    if json {
        println!("{}", serde_json::to_string(&pids).expect("serialises"));
        return Ok(0);
    }
    let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
    let out = std::process::Command::new("ps").args(&args).output().map_err(|e| Error::io("running ps", e))?;
    if !out.status.success() {
        return Err(Error::Other(format!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let pid_col = header.split_whitespace().position(|h| h == "PID").ok_or_else(|| Error::Other("ps output has no PID column".into()))?;
    println!("{header}");
    for l in lines {
        if l.split_whitespace().nth(pid_col).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)) {
            println!("{l}");
        }
    }
    Ok(0)
}

pub fn pause(g: &Globals, a: &mut Args, p: bool) -> R {
    let id = only_id(if p { "pause" } else { "resume" }, a)?;
    pause::set_paused(&g.root, &id, p)?;
    Ok(0)
}
