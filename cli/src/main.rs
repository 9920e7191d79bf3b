//! berth: a thin client of berthd's Docker Engine API, with docker's
//! commands, flags and output formats.

mod commands;
mod containers;
mod archive;
mod create;
mod exec;
mod format;
mod hijack;
mod network;
mod networks;
mod volume;
mod http;
mod import;
mod lifecycle;
mod login;
mod progress;
mod search;
mod system;

use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

const USAGE: &str = "Usage:  berth [OPTIONS] COMMAND

A container engine: the client of berthd.

Options:
  -H, --host string   daemon socket to connect to (unix:///path; default $BERTH_HOST or unix:///run/berth/berth.sock)
  -h, --help          print usage
  -v, --version       print version information and quit

Commands:
  run         Create and run a new container from an image
  create      Create a new container
  start       Start one or more stopped containers
  stop        Stop one or more running containers
  restart     Restart one or more containers
  pause       Pause all processes within one or more containers
  unpause     Unpause all processes within one or more containers
  rename      Rename a container
  kill        Kill one or more running containers
  rm          Remove one or more containers
  ps          List containers
  logs        Fetch the logs of a container
  exec        Execute a command in a running container
  attach      Attach local standard input, output, and error streams to a running container
  port        List port mappings of a container
  wait        Block until one or more containers stop, then print their exit codes
  events      Get real time events from the server
  inspect     Return low-level information on containers or images
  container   Manage containers (run, create, start, stop, restart, kill, rm, ls, logs, wait, inspect, exec, attach, pause, unpause, rename, prune)
  volume      Manage volumes (create, ls, inspect, rm, prune)
  network     Manage networks (create, ls, inspect, rm, prune, connect, disconnect)
  images      List images
  pull        Download an image from a registry
  search      Search a registry's catalog for images
  push        Upload an image to a registry
  login       Log in to a registry
  logout      Log out from a registry
  rmi         Remove one or more images
  tag         Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
  save        Save one or more images to a tar archive (streamed to STDOUT by default)
  load        Load an image from a tar archive or STDIN
  import      Import the contents of a tarball to create a filesystem image
  history     Show the history of an image
  image       Manage images (ls, pull, push, rm, tag, inspect, save, load, import, history, prune)
  info        Display system-wide information
  system      Manage berth (df, info, events)
  version     Show the berth version information
";

/// A usage error: docker prints it with a hint and exits 125.
#[derive(Debug, thiserror::Error)]
#[error("{msg}\nSee 'berth {cmd}--help'.")]
pub struct Usage {
    pub msg: String,
    pub cmd: String,
}

pub fn usage(cmd: &str, msg: impl Into<String>) -> anyhow::Error {
    let cmd = if cmd.is_empty() { String::new() } else { format!("{cmd} ") };
    Usage { msg: msg.into(), cmd }.into()
}

fn socket_from(host: &str) -> anyhow::Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(p) if p.starts_with('/') => Ok(p.into()),
        _ => Err(usage("", format!("invalid host {host:?}: only unix:///absolute/path is supported"))),
    }
}

fn main() {
    let code = match run() {
        Ok(c) => c,
        Err(e) => {
            if e.downcast_ref::<Usage>().is_some() {
                eprintln!("berth: {e}");
                125
            } else if let Some(h) = e.downcast_ref::<http::Error>() {
                eprintln!("{h}");
                1
            } else {
                eprintln!("berth: {e:#}");
                1
            }
        }
    };
    std::process::exit(code);
}

fn run() -> anyhow::Result<i32> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut host = std::env::var("BERTH_HOST").ok().filter(|h| !h.is_empty());
    let cmd = loop {
        match p.next().map_err(|e| usage("", e.to_string()))? {
            Some(Short('H')) | Some(Long("host")) => host = Some(p.value()?.string()?),
            Some(Short('h')) | Some(Long("help")) => {
                print!("{USAGE}");
                return Ok(0);
            }
            Some(Short('v')) | Some(Long("version")) => {
                println!("berth version {}", env!("CARGO_PKG_VERSION"));
                return Ok(0);
            }
            Some(Value(v)) => break v.string()?,
            Some(other) => return Err(usage("", other.unexpected().to_string())),
            None => {
                print!("{USAGE}");
                return Ok(0);
            }
        }
    };
    let socket = match &host {
        Some(h) => socket_from(h)?,
        None => PathBuf::from(DEFAULT_SOCKET),
    };
    let c = http::Client::new(&socket);
    let cmd = match cmd.as_str() {
        "image" => {
            let sub = match p.next()? {
                Some(Value(v)) => v.string()?,
                _ => return Err(usage("image", "expected a subcommand: ls, pull, push, rm, tag, inspect, save, load, import, history, prune")),
            };
            match sub.as_str() {
                "ls" | "list" => "images".to_string(),
                "prune" => "image-prune".to_string(),
                "rm" | "remove" => "rmi".to_string(),
                "pull" | "push" | "tag" | "inspect" | "import" | "history" | "save" | "load" => format!("image-{sub}"),
                other => return Err(usage("image", format!("unknown command \"{other}\" for \"berth image\""))),
            }
        }
        "container" => {
            let sub = match p.next()? {
                Some(Value(v)) => v.string()?,
                _ => return Err(usage("container", "expected a subcommand: run, create, start, stop, kill, rm, ls, logs, wait, inspect")),
            };
            match sub.as_str() {
                "ls" | "list" | "ps" => "ps".to_string(),
                "rm" | "remove" => "rm".to_string(),
                "inspect" => "container-inspect".to_string(),
                "prune" => "container-prune".to_string(),
                "run" | "create" | "start" | "stop" | "kill" | "logs" | "wait" | "exec" | "attach" | "restart" | "pause" | "unpause" | "rename" => sub,
                other => return Err(usage("container", format!("unknown command \"{other}\" for \"berth container\""))),
            }
        }
        other => other.to_string(),
    };
    match cmd.as_str() {
        "version" => commands::version(&c, p),
        "info" => commands::info(&c, p),
        "images" => commands::images(&c, p),
        "pull" | "image-pull" => commands::pull(&c, p),
        "search" => search::search(&c, p),
        "system" => system::system(&c, p),
        "rmi" => commands::rmi(&c, p),
        "tag" | "image-tag" => commands::tag(&c, p),
        "image-inspect" => commands::inspect(&c, p),
        "inspect" => containers::inspect(&c, p, false),
        "container-inspect" => containers::inspect(&c, p, true),
        "run" => containers::run(&c, p),
        "create" => containers::create(&c, p),
        "start" => containers::start(&c, p),
        "stop" => containers::stop(&c, p),
        "kill" => containers::kill(&c, p),
        "rm" => containers::rm(&c, p),
        "ps" => containers::ps(&c, p),
        "logs" => containers::logs(&c, p),
        "wait" => containers::wait(&c, p),
        "port" => network::port(&c, p),
        "network" => networks::network(&c, p),
        "volume" => volume::volume(&c, p),
        "attach" => containers::attach(&c, p),
        "restart" => containers::restart(&c, p),
        "pause" => lifecycle::pause(&c, p, true),
        "unpause" => lifecycle::pause(&c, p, false),
        "rename" => lifecycle::rename(&c, p),
        "container-prune" => lifecycle::container_prune(&c, p),
        "events" => lifecycle::events(&c, p),
        "import" | "image-import" => import::import(&c, p),
        "exec" => exec::exec(&c, p),
        "history" | "image-history" => commands::history(&c, p),
        "save" | "image-save" => archive::save(&c, p),
        "push" | "image-push" => commands::push(&c, p),
        "image-prune" => commands::prune(&c, p),
        "login" => login::login(&c, p),
        "logout" => login::logout(&c, p),
        "load" | "image-load" => archive::load(&c, p),
        other => Err(usage("", format!("unknown command \"{other}\" for \"berth\""))),
    }
}
