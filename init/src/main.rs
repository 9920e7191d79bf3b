//! `berth-init -- CMD ARGS...`: what `berth run --init` puts at pid 1.
//!
//! A process that is pid 1 of its PID namespace has two jobs most programs
//! never expect: the kernel delivers it only the signals it has handlers
//! for (so a plain `sleep` ignores `docker stop`'s SIGTERM), and every
//! orphan in the namespace becomes its child (so zombies pile up unless it
//! reaps them). This init does both and nothing else: it starts the command
//! as its child, forwards the signals a user or `stop` sends to it, reaps
//! every child, and exits with the command's status (128 + n when a signal
//! ended it), as docker's tini does.
//!
//! It is built static (musl) because berthd bind-mounts it into containers
//! of any image, with or without a libc.

use std::ffi::CString;

/// The signals passed on to the command (not SIGCHLD: that one is ours).
const FORWARDED: &[libc::c_int] = &[
    libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2,
    libc::SIGWINCH, libc::SIGCONT, libc::SIGALRM, libc::SIGPIPE, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU,
];

fn fail(what: &str) -> ! {
    eprintln!("berth-init: {what}: {}", std::io::Error::last_os_error());
    std::process::exit(127)
}

/// A signal set holding `sigs`.
fn sigset(sigs: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset only write the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// Blocks `set` in this thread (the child unblocks it again before exec).
fn block(set: &libc::sigset_t, how: libc::c_int) {
    // SAFETY: sigprocmask with a valid set and no old-set pointer.
    if unsafe { libc::sigprocmask(how, set, std::ptr::null_mut()) } != 0 {
        fail("sigprocmask");
    }
}

/// Waits for one of `set`; the signal's number.
fn wait_signal(set: &libc::sigset_t) -> libc::c_int {
    let mut sig: libc::c_int = 0;
    loop {
        // SAFETY: sigwait writes the signal number into `sig`.
        let r = unsafe { libc::sigwait(set, &mut sig) };
        if r == 0 {
            return sig;
        }
    }
}

/// Reaps every exited child; the status of `main` if it was among them.
fn reap(main: libc::pid_t) -> Option<libc::c_int> {
    let mut found = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG writes the status of a child that exited.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return found;
        }
        if pid == main {
            found = Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                1
            });
        }
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("usage: berth-init -- COMMAND [ARG...]");
        std::process::exit(2);
    }
    let cargs: Vec<CString> = args.iter().map(|a| CString::new(a.as_bytes()).unwrap_or_else(|_| fail("an argument holds a NUL byte"))).collect();
    let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());

    let mut all: Vec<libc::c_int> = FORWARDED.to_vec();
    all.push(libc::SIGCHLD);
    let set = sigset(&all);
    block(&set, libc::SIG_BLOCK);

    // SAFETY: fork in a single-threaded process; the child only unblocks
    // signals and execs (async-signal-safe calls).
    let child = unsafe { libc::fork() };
    if child < 0 {
        fail("fork");
    }
    if child == 0 {
        block(&set, libc::SIG_UNBLOCK);
        // SAFETY: argv is a NULL-terminated array of valid C strings that outlive the call.
        unsafe { libc::execvp(argv[0], argv.as_ptr()) };
        let e = std::io::Error::last_os_error();
        eprintln!("berth-init: exec {}: {e}", args[0]);
        // SAFETY: _exit ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(if e.raw_os_error() == Some(libc::ENOENT) { 127 } else { 126 }) };
    }
    loop {
        let sig = wait_signal(&set);
        if sig == libc::SIGCHLD {
            if let Some(code) = reap(child) {
                std::process::exit(code);
            }
        } else {
            // SAFETY: kill(2) on our child's pid.
            unsafe { libc::kill(child, sig) };
        }
    }
}
