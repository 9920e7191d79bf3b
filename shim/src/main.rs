//! berth-shim: one small, single-threaded process per container.
//!
//! berthd starts it and may die or restart at any moment; the shim stays.
//! It runs the runtime's `create` and `start`, holds the container's stdio
//! (pipes, or the PTY master for a terminal), writes the json-file log,
//! serves attach clients on `attach.sock`, reaps the container's init (it
//! is the init's subreaper: when the runtime exits, init becomes its child)
//! and records the exit status, OOM kill and finish time in `exit.json`,
//! atomically. Then it deletes the runtime's container and exits.
//!
//! No async runtime: one epoll loop over the output fds, the attach
//! listener, its clients and a signalfd for SIGCHLD.
//!
//! usage: berth-shim --id ID --bundle DIR --runtime PATH --runtime-root DIR
//!        --state-dir DIR [--tty] [--stdin] [--log-max-size BYTES] [--log-max-file N]
//! On success it prints `{"pid":N}` on stdout and closes it; on failure
//! `{"error":"..."}` and exits 1.

mod frame;
mod log;
mod shim;

fn main() {
    let code = match shim::Opts::parse(std::env::args().skip(1)) {
        Ok(o) => shim::run(o),
        Err(e) => {
            eprintln!("berth-shim: {e}");
            2
        }
    };
    std::process::exit(code);
}
