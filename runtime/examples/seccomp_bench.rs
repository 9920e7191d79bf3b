//! The cost of berth's seccomp filter: parsing and compiling the default
//! profile, installing it, and the per-syscall overhead it adds (getpid
//! loop with and without). Run: `cargo run --release -p berth-runtime --example seccomp_bench`
//! (`make bench-seccomp` also measures it inside containers).

use std::time::Instant;

use berth_runtime::seccomp::{default_profile, Filter, Seccomp};

fn getpid_ns(n: u32) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: getpid has no arguments and no preconditions.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let profile = default_profile();
    // For scripts/bench-seccomp.py, which puts the profile in a config.json.
    if std::env::args().nth(1).as_deref() == Some("--print-default-profile") {
        println!("{}", serde_json::to_string(&profile).expect("serialises"));
        return;
    }
    let json = serde_json::to_string(&profile).expect("serialises");
    let rounds = 500;
    let t = Instant::now();
    for _ in 0..rounds {
        let p: Seccomp = serde_json::from_str(&json).expect("parses");
        p.validate().expect("valid");
    }
    let parse_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    let t = Instant::now();
    let mut filter = None;
    for _ in 0..rounds {
        filter = Some(Filter::compile(&profile).expect("compiles"));
    }
    let compile_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    let filter = filter.expect("compiled");
    let t = Instant::now();
    filter.check_kernel().expect("kernel has what the profile uses");
    let check_us = t.elapsed().as_secs_f64() * 1e6;

    let calls = 2_000_000;
    let (r, w) = nix::unistd::pipe().expect("pipe");
    // SAFETY: this example is single-threaded; the child only makes system
    // calls and writes to the pipe before it exits.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => {
            drop(r);
            nix::sys::prctl::set_no_new_privs().expect("no_new_privs");
            let t = Instant::now();
            filter.install().expect("install");
            let install_us = t.elapsed().as_secs_f64() * 1e6;
            // Best of 5: the machine may be busy; the minimum is the cost.
            let filtered = (0..5).map(|_| getpid_ns(calls)).fold(f64::INFINITY, f64::min);
            let _ = nix::unistd::write(&w, format!("{install_us} {filtered}").as_bytes());
            // SAFETY: _exit has no preconditions; the child must not run the parent's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            // After the child, so the two loops never compete for a CPU.
            let _ = nix::sys::wait::waitpid(child, None);
            let plain = (0..5).map(|_| getpid_ns(calls)).fold(f64::INFINITY, f64::min);
            let mut buf = [0u8; 128];
            let n = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut buf).expect("read");
            let s = String::from_utf8_lossy(&buf[..n]).into_owned();
            let mut it = s.split(' ').map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
            let (install_us, filtered) = (it.next().unwrap_or(f64::NAN), it.next().unwrap_or(f64::NAN));
            println!("default profile: {}", filter.describe());
            println!("parse + validate (JSON):    {parse_us:.1} us");
            println!("compile to BPF:             {compile_us:.1} us");
            println!("kernel feature check:       {check_us:.1} us");
            println!("install (seccomp(2)):       {install_us:.1} us");
            println!("getpid (best of 5 x {calls}): {plain:.1} ns/call without filter, {filtered:.1} ns/call with it (+{:.1} ns)", filtered - plain);
        }
    }
}
