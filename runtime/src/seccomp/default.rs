//! berth's default seccomp profile: an allow-list with the effect Docker
//! users expect (and the same intent as Docker's default profile), written
//! for this project.
//!
//! Everything a program needs in an unprivileged container is allowed;
//! what is left out reaches the kernel's global state (mount, namespaces,
//! keyrings, kexec, modules, BPF, perf, handles to host inodes, clock,
//! reboot, swap, quotas, accounting) and answers EPERM. New namespaces are
//! refused on clone by a flags mask, and clone3 answers ENOSYS so that libc
//! falls back to clone, whose flags the filter can see (clone3's are
//! behind a pointer). Calls gated by a capability are allowed only when
//! the container has that capability (`default_profile_for`).

use super::profile::{Action, Arch, Arg, Op, Seccomp, Syscall};

/// Files, descriptors and directories.
const FILES: &[&str] = &[
    "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range", "creat", "dup", "dup2", "dup3",
    "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32",
    "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fremovexattr", "fsetxattr", "fstat",
    "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents",
    "getdents64", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "ioctl", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listxattr", "llistxattr", "lremovexattr", "lseek", "_llseek", "lsetxattr", "lstat",
    "lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "newfstatat", "open", "openat", "openat2", "pread64", "preadv", "preadv2",
    "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "removexattr", "rename", "renameat",
    "renameat2", "rmdir", "sendfile", "sendfile64", "setxattr", "splice", "stat", "stat64", "statfs", "statfs64", "statx",
    "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate", "truncate64", "umask", "unlink", "unlinkat",
    "utime", "utimensat", "utimensat_time64", "utimes", "vmsplice", "write", "writev", "fanotify_mark",
    "name_to_handle_at",
];

/// Memory.
const MEMORY: &[&str] = &[
    "brk", "madvise", "membarrier", "memfd_create", "mincore", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
    "mremap", "msync", "munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
    "memfd_secret", "process_mrelease",
];

/// Processes, threads, credentials, scheduling, limits.
const PROCESSES: &[&str] = &[
    "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "vfork", "futex", "futex_time64", "futex_waitv",
    "get_robust_list", "set_robust_list", "getcpu", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getresgid", "getresgid32",
    "getresuid", "getresuid32", "getrlimit", "getrusage", "getsid", "gettid", "getuid", "getuid32", "ioprio_get", "ioprio_set",
    "kill", "nice", "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64", "restart_syscall", "rseq", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
    "setgid", "setgid32", "setgroups", "setgroups32", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
    "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "setsid", "setuid", "setuid32", "tgkill",
    "tkill", "times", "ugetrlimit", "uname", "wait4", "waitid", "waitpid", "sysinfo", "getrandom", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "ptrace", "process_vm_readv", "process_vm_writev",
];

/// Signals and time.
const SIGNALS_AND_TIME: &[&str] = &[
    "alarm", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sigaction", "sigaltstack", "signal", "signalfd",
    "signalfd4", "sigpending", "sigprocmask", "sigreturn", "sigsuspend", "adjtimex", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
    "getitimer", "gettimeofday", "nanosleep", "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
];

/// Waiting on descriptors, asynchronous I/O, IPC, sockets.
const IO_IPC_NET: &[&str] = &[
    "_newselect", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd",
    "eventfd2", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit",
    "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select", "pipe", "pipe2", "ipc", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
    "msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl",
    "shmdt", "shmget", "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown",
    "socketcall", "socketpair",
];

/// ABI-specific calls; each name exists only on its ABIs (others skip it).
const ARCH_SPECIFIC: &[&str] = &[
    "arch_prctl", "modify_ldt", "get_thread_area", "set_thread_area", "breakpoint", "cacheflush", "set_tls",
    "arm_fadvise64_64", "arm_sync_file_range",
];

/// Calls newer than the kernel sources the tables come from (6.1): named
/// so that tables regenerated from a newer kernel allow them. Until then
/// they are skipped, and answer ENOSYS (see `bpf.rs`): programs fall back
/// to the older calls.
const NEWER_THAN_TABLES: &[&str] = &[
    "cachestat", "fchmodat2", "futex_requeue", "futex_wait", "futex_wake", "getxattrat", "listmount", "listxattrat",
    "map_shadow_stack", "mseal", "removexattrat", "setxattrat", "statmount", "uretprobe",
];

/// Calls the kernel itself reserves for a capability: allowed when the
/// container has it, so the profile does not take away what the
/// capability grants (as Docker's profile does).
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_SYS_ADMIN", &[
        "bpf", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount", "mount_setattr",
        "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
        "sethostname", "setns", "syslog", "umount", "umount2", "unshare", "pivot_root",
    ]),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
];

/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
/// CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET.
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

/// AF_ALG (the kernel crypto API, a history of bugs) and AF_VSOCK (a channel
/// to the hypervisor host) are refused; other address families are allowed.
const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;

/// Personalities a program may ask for: the default, 32-bit uname
/// (LINUX32), UNAME26, both, and the query (0xffffffff). Others (such as
/// ADDR_NO_RANDOMIZE) weaken the process's protections.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The default profile for a container without extra capabilities.
pub fn default_profile() -> Seccomp {
    default_profile_for::<&str>(&[])
}

/// The default profile for a container whose bounding set is `caps`
/// (names like "CAP_SYS_ADMIN"): calls a held capability grants are allowed.
pub fn default_profile_for<S: AsRef<str>>(caps: &[S]) -> Seccomp {
    let has = |c: &str| caps.iter().any(|x| x.as_ref() == c);
    let allow = |names: Vec<&str>| Syscall { names: names.into_iter().map(String::from).collect(), action: Action::Allow, errno_ret: None, args: vec![] };
    let mut base: Vec<&str> = [FILES, MEMORY, PROCESSES, SIGNALS_AND_TIME, IO_IPC_NET, ARCH_SPECIFIC, NEWER_THAN_TABLES].concat();
    for (cap, names) in BY_CAPABILITY {
        if has(cap) {
            base.extend_from_slice(names);
        }
    }
    base.sort_unstable();
    base.dedup();
    let mut rules = vec![allow(base)];
    let arg = |index, op, value, value_two| Arg { index, value, value_two, op };
    let one = |name: &str, action, errno_ret, args| Syscall { names: vec![name.into()], action, errno_ret, args };
    rules.push(one("socket", Action::Allow, None, vec![arg(0, Op::Lt, AF_ALG, 0)]));
    rules.push(one("socket", Action::Allow, None, vec![arg(0, Op::Gt, AF_ALG, 0), arg(0, Op::Lt, AF_VSOCK, 0)]));
    rules.push(one("socket", Action::Allow, None, vec![arg(0, Op::Gt, AF_VSOCK, 0)]));
    for p in PERSONALITIES {
        rules.push(one("personality", Action::Allow, None, vec![arg(0, Op::Eq, p, 0)]));
    }
    if has("CAP_SYS_ADMIN") {
        rules.push(one("clone", Action::Allow, None, vec![]));
    } else {
        // Threads and processes yes, namespaces no (the flags are clone's first argument on every supported ABI).
        rules.push(one("clone", Action::Allow, None, vec![arg(0, Op::MaskedEq, CLONE_NAMESPACE_FLAGS, 0)]));
        rules.push(one("clone3", Action::Errno, Some(libc::ENOSYS as u32), vec![]));
    }
    Seccomp {
        default_action: Action::Errno,
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: native_and_compat(),
        flags: vec![],
        listener_path: None,
        listener_metadata: None,
        syscalls: rules,
    }
}

/// The host ABI and the ones its kernel also runs (x86_64 runs i386 and
/// x32 programs, aarch64 runs arm ones): a profile must cover them all or
/// a 32-bit binary would get the bad-arch action.
fn native_and_compat() -> Vec<Arch> {
    match Arch::native() {
        Arch::X86_64 => vec![Arch::X86_64, Arch::X86, Arch::X32],
        Arch::Aarch64 => vec![Arch::Aarch64, Arch::Arm],
        a => vec![a],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::bpf::interp::{run, Data};
    use crate::seccomp::bpf::{self, RET_ALLOW, RET_ERRNO};
    use crate::seccomp::syscalls;

    fn verdict(p: &bpf::Program, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
        let nr = syscalls::number(arch, name).unwrap_or_else(|| panic!("{name} on {arch}"));
        run(&p.insns, &Data { nr, arch: arch.audit_arch(), args })
    }

    #[test]
    fn default_profile_blocks_what_it_must_and_allows_a_shell() {
        let s = default_profile();
        s.validate().unwrap();
        let p = bpf::compile(&s).unwrap();
        // Names missing on this host's ABIs belong to another supported ABI: no typos.
        for n in &p.unknown_names {
            assert!(Arch::SUPPORTED.iter().any(|a| syscalls::number(*a, n).is_some()) || NEWER_THAN_TABLES.contains(&n.as_str()), "{n} is known on no ABI");
        }
        let eperm = RET_ERRNO | libc::EPERM as u32;
        for arch in native_and_compat() {
            for n in ["unshare", "mount", "umount2", "keyctl", "add_key", "request_key", "kexec_load", "open_by_handle_at", "bpf", "perf_event_open", "setns", "init_module", "reboot", "swapon", "pivot_root", "chroot", "io_uring_setup", "userfaultfd"] {
                if syscalls::number(arch, n).is_some() {
                    assert_eq!(verdict(&p, arch, n, [0; 6]), eperm, "{n} on {arch}");
                }
            }
            for n in ["read", "write", "execve", "brk", "wait4", "getdents64", "rt_sigaction", "exit_group", "setresuid", "capset"] {
                if syscalls::number(arch, n).is_some() {
                    assert_eq!(verdict(&p, arch, n, [0; 6]), RET_ALLOW, "{n} on {arch}");
                }
            }
            let clone = |flags| verdict(&p, arch, "clone", [flags, 0, 0, 0, 0, 0]);
            assert_eq!(clone(0x11 /* SIGCHLD */), RET_ALLOW);
            assert_eq!(clone(0x003d_0f00 /* a thread */), RET_ALLOW);
            assert_eq!(clone(0x1000_0011 /* CLONE_NEWUSER */), eperm);
            assert_eq!(verdict(&p, arch, "clone3", [0; 6]), RET_ERRNO | libc::ENOSYS as u32);
            assert_eq!(verdict(&p, arch, "socket", [1, 1, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(verdict(&p, arch, "socket", [39, 1, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(verdict(&p, arch, "socket", [AF_ALG, 5, 0, 0, 0, 0]), eperm);
            assert_eq!(verdict(&p, arch, "socket", [AF_VSOCK, 1, 0, 0, 0, 0]), eperm);
            assert_eq!(verdict(&p, arch, "personality", [8, 0, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(verdict(&p, arch, "personality", [0x0040_0000 /* READ_IMPLIES_EXEC */, 0, 0, 0, 0, 0]), eperm);
        }
    }

    #[test]
    fn capabilities_unlock_their_calls() {
        let p = bpf::compile(&default_profile_for(&["CAP_SYS_ADMIN", "CAP_SYS_CHROOT"])).unwrap();
        let a = Arch::native();
        assert_eq!(verdict(&p, a, "mount", [0; 6]), RET_ALLOW);
        assert_eq!(verdict(&p, a, "chroot", [0; 6]), RET_ALLOW);
        assert_eq!(verdict(&p, a, "clone", [0x1000_0011, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(verdict(&p, a, "reboot", [0; 6]), RET_ERRNO | libc::EPERM as u32);
    }

    #[test]
    fn default_profile_round_trips_through_json() {
        let s = default_profile();
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains("\"SCMP_ACT_ERRNO\"") && j.contains("SCMP_CMP_MASKED_EQ"), "{j}");
        let back: Seccomp = serde_json::from_str(&j).unwrap();
        assert_eq!(back, s);
    }
}
