//! berth-probe: placed inside a test container's rootfs and run as the
//! container's process. It reports what the kernel says about itself (ids,
//! capabilities, mounts, namespaces, limits...) as one JSON line, so the
//! integration tests check the effect of each config field from inside.
//! Static (musl), no dependencies beyond libc and serde_json.

use std::ffi::CString;

use serde_json::{json, Map, Value};

const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
    "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/// Names of the capabilities set in a /proc/self/status mask, sorted.
fn cap_names(hex: &str) -> Vec<String> {
    let mask = u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
    let mut v: Vec<String> =
        (0..64).filter(|b| mask & (1u64 << b) != 0).map(|b| CAP_NAMES.get(b).map(|s| s.to_string()).unwrap_or(format!("CAP_{b}"))).collect();
    v.sort();
    v
}

fn status_field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

/// One /proc/self/mountinfo line as {target, fstype, source, options}.
fn parse_mountinfo_line(line: &str) -> Option<Value> {
    let (left, right) = line.split_once(" - ")?;
    let l: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    if l.len() < 6 || r.len() < 3 {
        return None;
    }
    let unescape = |s: &str| s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\");
    Some(json!({"target": unescape(l[4]), "fstype": r[0], "source": unescape(r[1]), "options": format!("{},{}", l[5], r[2])}))
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn or_null<T: Into<Value>>(v: Option<T>) -> Value {
    v.map(Into::into).unwrap_or(Value::Null)
}

fn uname() -> Option<(String, String)> {
    // SAFETY: utsname is plain old data; uname fills the struct we pass.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a live, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let field = |f: &[libc::c_char]| f.iter().take_while(|c| **c != 0).map(|c| *c as u8 as char).collect::<String>();
    Some((field(&u.nodename), field(&u.domainname)))
}

fn groups() -> Vec<u32> {
    let mut buf = vec![0 as libc::gid_t; 256];
    // SAFETY: getgroups writes at most buf.len() gids into buf.
    let n = unsafe { libc::getgroups(buf.len() as libc::c_int, buf.as_mut_ptr()) };
    buf.truncate(n.max(0) as usize);
    buf
}

fn rlimit(res: i32) -> Value {
    // SAFETY: rlimit is plain old data; getrlimit fills it.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is a live, writable rlimit.
    if unsafe { libc::getrlimit(res as _, &mut r) } != 0 {
        return Value::Null;
    }
    json!({"soft": r.rlim_cur as u64, "hard": r.rlim_max as u64})
}

fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd) == 1 }
}

fn report() -> Value {
    let status = read("/proc/self/status").unwrap_or_default();
    let caps: Map<String, Value> = [("bounding", "CapBnd"), ("effective", "CapEff"), ("permitted", "CapPrm"), ("inheritable", "CapInh"), ("ambient", "CapAmb")]
        .iter()
        .map(|(k, f)| (k.to_string(), or_null(status_field(&status, f).map(|h| json!(cap_names(&h))))))
        .collect();
    let mut fds: Vec<i32> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        let listed: Vec<i32> = rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
        // The directory being read shows up as one more fd: drop the ones that no longer exist.
        fds = listed.into_iter().filter(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok()).collect();
        fds.sort_unstable();
    }
    let mounts: Vec<Value> = read("/proc/self/mountinfo").unwrap_or_default().lines().filter_map(parse_mountinfo_line).collect();
    let namespaces: Map<String, Value> = ["pid", "net", "mnt", "ipc", "uts", "user", "cgroup", "time"]
        .iter()
        .map(|n| (n.to_string(), or_null(std::fs::read_link(format!("/proc/self/ns/{n}")).ok().map(|p| p.to_string_lossy().into_owned()))))
        .collect();
    let rlimits: Map<String, Value> = [
        ("NOFILE", libc::RLIMIT_NOFILE),
        ("NPROC", libc::RLIMIT_NPROC),
        ("CORE", libc::RLIMIT_CORE),
        ("STACK", libc::RLIMIT_STACK),
        ("MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("AS", libc::RLIMIT_AS),
        ("CPU", libc::RLIMIT_CPU),
        ("FSIZE", libc::RLIMIT_FSIZE),
    ]
    .iter()
    .map(|(k, r)| (k.to_string(), rlimit(*r as i32)))
    .collect();
    let sysctl: Map<String, Value> = ["kernel.shm_rmid_forced", "net.ipv4.ip_forward", "kernel.domainname", "kernel.hostname"]
        .iter()
        .map(|k| (k.to_string(), or_null(read(&format!("/proc/sys/{}", k.replace('.', "/"))).map(|s| s.trim().to_string()))))
        .collect();
    let (host, domain) = uname().unzip();
    // SAFETY: these getters have no preconditions.
    let (uid, euid, gid, egid, pid, ppid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid(), libc::getegid(), libc::getpid(), libc::getppid()) };
    json!({
        "uid": uid, "euid": euid, "gid": gid, "egid": egid, "groups": groups(),
        "caps": caps,
        "no_new_privs": or_null(status_field(&status, "NoNewPrivs").map(|v| v == "1")),
        "seccomp": or_null(status_field(&status, "Seccomp").and_then(|v| v.parse::<u64>().ok())),
        "pid": pid, "ppid": ppid,
        "hostname": or_null(host), "domainname": or_null(domain),
        "cwd": or_null(std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned())),
        "umask": or_null(status_field(&status, "Umask").and_then(|v| u32::from_str_radix(&v, 8).ok())),
        "env": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "rlimits": rlimits,
        "fds": fds,
        "mounts": mounts,
        "namespaces": namespaces,
        "oom_score_adj": or_null(read("/proc/self/oom_score_adj").and_then(|s| s.trim().parse::<i64>().ok())),
        "tty": is_tty(0),
        "ttyname": or_null(if is_tty(0) { std::fs::read_link("/proc/self/fd/0").ok().map(|p| p.to_string_lossy().into_owned()) } else { None }),
        "cgroup": or_null(read("/proc/self/cgroup")),
        "sysctl": sysctl,
    })
}

/// `ls PATH`: one line per entry, `c 0666 1:3 null`, `l 0777 fd -> /proc/self/fd`.
fn ls(path: &str) -> i32 {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(rd) = std::fs::read_dir(path) else {
        eprintln!("ls {path}: cannot read");
        return 1;
    };
    let mut lines = Vec::new();
    for e in rd.flatten() {
        let Ok(m) = std::fs::symlink_metadata(e.path()) else { continue };
        let ft = m.file_type();
        let name = e.file_name().to_string_lossy().into_owned();
        let mode = m.mode() & 0o7777;
        let dev = || format!(" {}:{}", libc::major(m.rdev()), libc::minor(m.rdev()));
        let (t, extra) = if ft.is_char_device() {
            ('c', dev())
        } else if ft.is_block_device() {
            ('b', dev())
        } else if ft.is_dir() {
            ('d', String::new())
        } else if ft.is_symlink() {
            ('l', String::new())
        } else if ft.is_fifo() {
            ('p', String::new())
        } else if ft.is_socket() {
            ('s', String::new())
        } else {
            ('f', String::new())
        };
        let target = if ft.is_symlink() { std::fs::read_link(e.path()).map(|t| format!(" -> {}", t.display())).unwrap_or_default() } else { String::new() };
        lines.push(format!("{t} {mode:04o}{extra} {name}{target}"));
    }
    lines.sort();
    for l in lines {
        println!("{l}");
    }
    0
}

/// One i386 system call from this x86_64 process; returns the kernel's
/// value (negative errno on failure).
#[cfg(target_arch = "x86_64")]
fn syscall32(nr: u32, a: [u32; 5]) -> i64 {
    let ret: u32;
    // SAFETY: `int $0x80` enters the kernel's ia32 entry with the call in
    // eax and arguments in ebx, ecx, edx, esi, edi; it clobbers only eax
    // (and r8-r11, marked as clobbered). rbx is reserved by LLVM, so it is
    // saved and restored around the call. The tests pass calls without
    // pointer arguments.
    unsafe {
        std::arch::asm!(
            "xchg rbx, {b:r}",
            "int 0x80",
            "xchg rbx, {b:r}",
            b = inout(reg) a[0] as u64 => _,
            inlateout("eax") nr => ret,
            in("ecx") a[1],
            in("edx") a[2],
            in("esi") a[3],
            in("edi") a[4],
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    ret as i32 as i64
}

#[cfg(not(target_arch = "x86_64"))]
fn syscall32(_nr: u32, _a: [u32; 5]) -> i64 {
    -(libc::ENOSYS as i64)
}

/// Decimal, `0x` hex, or negative decimal (passed as the two's complement word).
fn parse_num(s: &str) -> Option<i64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok().map(|v| v as i64),
        None => s.parse::<i64>().ok().or_else(|| s.parse::<u64>().ok().map(|v| v as i64)),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let code = match arg(1).as_str() {
        "report" | "" => {
            println!("{}", report());
            0
        }
        "cat" => match std::fs::read(arg(2)) {
            Ok(b) => {
                use std::io::Write;
                let _ = std::io::stdout().write_all(&b);
                0
            }
            Err(e) => {
                eprintln!("cat {}: {e}", arg(2));
                1
            }
        },
        "ls" => ls(&arg(2)),
        "write" => match std::fs::write(arg(2), arg(3)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("write {}: {e}", arg(2));
                1
            }
        },
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(arg(2).parse().unwrap_or(1)));
            0
        }
        "exit" => arg(2).parse().unwrap_or(1),
        // A UDP server for the published-port tests (busybox has none):
        // answers each datagram with "echo:" and what came.
        "udp-echo" => match std::net::UdpSocket::bind(("0.0.0.0", arg(2).parse().unwrap_or(5353))) {
            Ok(s) => {
                let mut b = [0u8; 2048];
                while let Ok((n, from)) = s.recv_from(&mut b) {
                    let mut out = b"echo:".to_vec();
                    out.extend_from_slice(&b[..n]);
                    let _ = s.send_to(&out, from);
                }
                1
            }
            Err(e) => {
                eprintln!("udp-echo: {e}");
                1
            }
        },
        "signal-self" => {
            // SAFETY: sending a signal to ourselves has no memory-safety preconditions.
            unsafe { libc::kill(libc::getpid(), arg(2).parse().unwrap_or(libc::SIGTERM)) };
            0
        }
        "mknod" => {
            let p = CString::new(arg(2)).unwrap_or_default();
            // SAFETY: `p` is a NUL-terminated path alive for the call.
            let r = unsafe { libc::mknod(p.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
            println!("{}", json!({"ok": r == 0, "errno": if r == 0 { 0 } else { errno() }}));
            0
        }
        "sethostname" => {
            let n = arg(2);
            // SAFETY: reads n.len() bytes of `n`, alive for the call.
            let r = unsafe { libc::sethostname(n.as_ptr().cast(), n.len()) };
            println!("{}", json!({"ok": r == 0, "errno": if r == 0 { 0 } else { errno() }}));
            0
        }
        // Cgroup probes: allocate and touch memory, fork until refused, open a device.
        "alloc" => {
            let mb: usize = arg(2).parse().unwrap_or(64);
            let mut v: Vec<Vec<u8>> = Vec::new();
            for _ in 0..mb {
                // Touch every page so it is really charged to the cgroup.
                v.push(vec![1u8; 1 << 20]);
            }
            println!("{}", json!({"allocated_mb": v.len()}));
            0
        }
        "fork" => {
            let n: usize = arg(2).parse().unwrap_or(10);
            let mut kids = Vec::new();
            let mut err = 0;
            for _ in 0..n {
                // SAFETY: the child only calls async-signal-safe pause/_exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    // SAFETY: as above.
                    unsafe {
                        libc::pause();
                        libc::_exit(0)
                    };
                }
                if pid < 0 {
                    err = errno();
                    break;
                }
                kids.push(pid);
            }
            println!("{}", json!({"forked": kids.len(), "errno": err}));
            for k in kids {
                // SAFETY: kill and waitpid on our own children.
                unsafe {
                    libc::kill(k, libc::SIGKILL);
                    libc::waitpid(k, std::ptr::null_mut(), 0);
                }
            }
            0
        }
        "open" => {
            let write = arg(3) == "w";
            let r = std::fs::OpenOptions::new().read(!write).write(write).open(arg(2));
            println!("{}", json!({"ok": r.is_ok(), "errno": r.err().and_then(|e| e.raw_os_error()).unwrap_or(0)}));
            0
        }
        "mknod-dev" => {
            let p = CString::new(arg(2)).unwrap_or_default();
            let (ma, mi): (u32, u32) = (arg(3).parse().unwrap_or(1), arg(4).parse().unwrap_or(3));
            // SAFETY: `p` is a NUL-terminated path alive for the call.
            let r = unsafe { libc::mknod(p.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(ma, mi)) };
            println!("{}", json!({"ok": r == 0, "errno": if r == 0 { 0 } else { errno() }}));
            0
        }
        // `syscall NR [ARG...]`: one raw system call, for seccomp tests.
        "syscall" => {
            let nums: Option<Vec<i64>> = args[2..].iter().map(|a| parse_num(a)).collect();
            match nums.as_deref() {
                Some([nr, rest @ ..]) if rest.len() <= 6 => {
                    let mut a = [0i64; 6];
                    a[..rest.len()].copy_from_slice(rest);
                    // SAFETY: the tests only pass calls whose pointer arguments are 0 (NULL) or
                    // that take none; the kernel validates every argument.
                    let r = unsafe { libc::syscall(*nr as libc::c_long, a[0], a[1], a[2], a[3], a[4], a[5]) };
                    println!("{}", json!({"ret": r, "errno": if r < 0 { errno() } else { 0 }}));
                    0
                }
                _ => {
                    eprintln!("syscall: expected NR and up to 6 numeric arguments");
                    2
                }
            }
        }
        // `syscall32 NR [ARG...]`: the same through the i386 entry (`int $0x80`),
        // which seccomp sees as AUDIT_ARCH_I386 with i386 numbers.
        "syscall32" => {
            let nums: Option<Vec<i64>> = args[2..].iter().map(|a| parse_num(a)).collect();
            match nums.as_deref() {
                Some([nr, rest @ ..]) if rest.len() <= 5 => {
                    let mut a = [0u32; 5];
                    for (d, s) in a.iter_mut().zip(rest) {
                        *d = *s as u32;
                    }
                    let r = syscall32(*nr as u32, a);
                    println!("{}", json!({"ret": r, "errno": if r < 0 { -r } else { 0 }}));
                    0
                }
                _ => {
                    eprintln!("syscall32: expected NR and up to 5 numeric arguments");
                    2
                }
            }
        }
        // `getpid-loop N`: the cost of one trivial system call, in ns (seccomp overhead benchmark).
        "getpid-loop" => {
            let n: u64 = arg(2).parse().unwrap_or(1_000_000);
            let t = std::time::Instant::now();
            for _ in 0..n {
                // SAFETY: getpid has no arguments and no preconditions.
                unsafe { libc::syscall(libc::SYS_getpid) };
            }
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            println!("{}", json!({"calls": n, "ns_per_call": ns}));
            0
        }
        other => {
            eprintln!("berth-probe: unknown command {other:?} (report, cat, ls, write, sleep, exit, signal-self, mknod, mknod-dev, sethostname, alloc, fork, open, syscall, syscall32, getpid-loop)");
            2
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_from_mask() {
        assert_eq!(cap_names("0000000020000420"), vec!["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        assert_eq!(cap_names("0000000000000000"), Vec::<String>::new());
        assert_eq!(cap_names("8000000000000000"), vec!["CAP_63"]);
    }

    #[test]
    fn mountinfo_line() {
        let v = parse_mountinfo_line("36 35 98:0 /mnt1 /mnt\\040x rw,noatime master:1 - ext3 /dev/root rw,errors=continue").unwrap();
        assert_eq!(v["target"], "/mnt x");
        assert_eq!(v["fstype"], "ext3");
        assert_eq!(v["options"], "rw,noatime,rw,errors=continue");
        assert!(parse_mountinfo_line("garbage").is_none());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_num("0x10"), Some(16));
        assert_eq!(parse_num("-3"), Some(-3));
        assert_eq!(parse_num("18446744073709551615"), Some(-1));
        assert_eq!(parse_num("x"), None);
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tx\nUmask:\t0027\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(s, "Umask").as_deref(), Some("0027"));
        assert_eq!(status_field(s, "NoNewPrivs").as_deref(), Some("1"));
    }
}
