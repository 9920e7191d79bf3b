//! Command-line parsing (runc's flags) and dispatch, one file per group of commands.

mod args;
mod cgroup;
mod exec;
mod info;
mod lifecycle;

use std::path::PathBuf;

use berth_runtime::error::chain;
use berth_runtime::Error;

pub use args::Args;

pub struct Globals {
    pub root: PathBuf,
    pub log: Option<PathBuf>,
    pub log_json: bool,
    pub debug: bool,
}

const USAGE: &str = "\
berth-runtime: an OCI runtime with runc's command line

usage: berth-runtime [global options] COMMAND [options] [args]

commands:
  create     create a container (everything but running its program)
  start      run the program of a created container
  run        create and start a container (foreground unless --detach)
  state      print a container's state as JSON
  kill       send a signal to a container's init (--all: every process)
  delete     remove a stopped container (--force: any container)
  list       list containers
  ps         list the processes of a container
  exec       run a process in a running container
  pause      freeze every process of a container
  resume     thaw a paused container
  update     change the cgroup limits of a live container (runc's flags, -r resources.json)
  events     print cgroup stats (--stats once, else every --interval) and OOM events
  features   print the features of this runtime as JSON
  spec       write a starter config.json

global options:
  --root DIR          state directory (default /run/berth-runtime)
  --log FILE          write logs to FILE (default stderr)
  --log-format F      text or json
  --debug             log debug messages
  --explain           narrate every kernel step on stderr, with the reason for it
  --systemd-cgroup    refused: this build manages cgroups through cgroupfs only
  -v, --version       print the version
";

pub fn main() -> i32 {
    let mut a = Args::from_env();
    let mut g = Globals { root: PathBuf::from("/run/berth-runtime"), log: None, log_json: false, debug: false };
    let mut log_format = String::from("text");
    let cmd = loop {
        match a.next_global() {
            Ok(Some(args::Global::Flag(f))) => {
                let r: Result<(), Error> = (|| {
                    match f.as_str() {
                        "root" => g.root = PathBuf::from(a.value(&f)?),
                        "log" => g.log = Some(PathBuf::from(a.value(&f)?)),
                        "log-format" => log_format = a.value(&f)?,
                        "debug" => g.debug = true,
                        "explain" => berth_runtime::explain::enable(),
                        "systemd-cgroup" => {
                            return Err(Error::Usage(
                                "--systemd-cgroup: this host has no systemd to delegate cgroups to (and berth-runtime drives cgroupfs only); drop the flag".into(),
                            ))
                        }
                        "rootless" => {
                            let v = a.value(&f)?;
                            if v != "false" && v != "auto" {
                                return Err(Error::Usage(format!("--rootless {v}: only auto and false are supported")));
                            }
                        }
                        "criu" => {
                            let _ = a.value(&f)?;
                            return Err(Error::Usage("--criu: checkpoint/restore is not supported".into()));
                        }
                        "h" | "help" => {
                            print!("{USAGE}");
                            std::process::exit(0);
                        }
                        "v" | "version" => {
                            println!("berth-runtime version {}\nspec: {}", env!("CARGO_PKG_VERSION"), berth_runtime::spec::OCI_VERSION_MAX);
                            std::process::exit(0);
                        }
                        _ => return Err(Error::Usage(format!("unknown global option --{f} (see berth-runtime --help)"))),
                    }
                    Ok(())
                })();
                if let Err(e) = r {
                    return fail(&g, &e);
                }
            }
            Ok(Some(args::Global::Command(c))) => break c,
            Ok(None) => {
                eprint!("{USAGE}");
                return 1;
            }
            Err(e) => return fail(&g, &e),
        }
    };
    match log_format.as_str() {
        "text" => {}
        "json" => g.log_json = true,
        other => return fail(&g, &Error::Usage(format!("--log-format {other}: expected text or json"))),
    }
    init_logging(&g);
    let r = match cmd.as_str() {
        "create" => lifecycle::create(&g, &mut a),
        "start" => lifecycle::start(&g, &mut a),
        "run" => lifecycle::run(&g, &mut a),
        "state" => lifecycle::state(&g, &mut a),
        "kill" => lifecycle::kill(&g, &mut a),
        "delete" => lifecycle::delete(&g, &mut a),
        "list" => lifecycle::list(&g, &mut a),
        "ps" => lifecycle::ps(&g, &mut a),
        "pause" => lifecycle::pause(&g, &mut a, true),
        "resume" => lifecycle::pause(&g, &mut a, false),
        "exec" => exec::exec(&g, &mut a),
        "features" => info::features(&mut a),
        "spec" => info::spec(&mut a),
        "update" => cgroup::update(&g, &mut a),
        "events" => cgroup::events(&g, &mut a),
        "checkpoint" | "restore" => Err(Error::Usage(format!("{cmd}: checkpoint/restore is not supported"))),
        other => Err(Error::Usage(format!("unknown command {other:?} (see berth-runtime --help)"))),
    };
    match r {
        Ok(code) => code,
        Err(e) => fail(&g, &e),
    }
}

fn fail(g: &Globals, e: &Error) -> i32 {
    let msg = chain(e);
    // containerd and podman read the error from the log file.
    if g.log.is_some() {
        tracing::error!("{msg}");
    }
    eprintln!("berth-runtime: {msg}");
    1
}

fn init_logging(g: &Globals) {
    use tracing_subscriber::fmt;
    let level = if g.debug { tracing::Level::DEBUG } else { tracing::Level::WARN };
    let writer: Box<dyn Fn() -> Box<dyn std::io::Write> + Send + Sync> = match &g.log {
        Some(p) => {
            let p = p.clone();
            Box::new(move || -> Box<dyn std::io::Write> {
                match std::fs::OpenOptions::new().create(true).append(true).open(&p) {
                    Ok(f) => Box::new(f),
                    Err(_) => Box::new(std::io::stderr()),
                }
            })
        }
        None => Box::new(|| Box::new(std::io::stderr())),
    };
    let b = fmt().with_max_level(level).with_writer(writer).with_ansi(false).with_target(false);
    let _ = if g.log_json { b.json().flatten_event(true).try_init() } else { b.try_init() };
}
