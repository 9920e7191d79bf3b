//! Seccomp: `linux.seccomp` compiled by berth into a classic BPF filter and
//! installed on the container's processes right before they exec.
//!
//! - `profile`: the typed config and its checks
//! - `syscalls`: name -> number tables per ABI, generated from the kernel
//! - `bpf`: the compiler (arch check, dispatch, 64-bit argument compares)
//! - `load`: the `seccomp(2)` calls
//! - `notify`: handing the SCMP_ACT_NOTIFY listener fd to an agent
//! - `default`: berth's own default profile, for the daemon
//!
//! Where in the process it happens (`process::try_exec`), as runc does:
//! without noNewPrivileges, installing a filter needs CAP_SYS_ADMIN, so it
//! happens before the capabilities are dropped; with noNewPrivileges, it
//! happens as late as possible, right before execve, so that the fewest
//! runtime calls run under the container's filter. Either way the filter
//! applies to the execve of the user's program and everything after.

pub mod bpf;
pub mod default;
pub mod load;
pub mod notify;
pub mod profile;
pub mod syscalls;

use std::os::fd::OwnedFd;

pub use default::{default_profile, default_profile_for};
pub use profile::{Action, Arch, Arg, Flag, Op, Seccomp, Syscall};

use crate::error::{Error, Result};
use crate::explain;

/// A profile compiled and ready to install.
#[derive(Debug, Clone)]
pub struct Filter {
    pub program: bpf::Program,
    flags: u32,
    notify: bool,
    default_action: Action,
    /// Return values the filter uses, to check the kernel knows them.
    rets: Vec<u32>,
}

impl Filter {
    /// Compiles `p` (already validated). Errors are messages for the
    /// `linux.seccomp` field.
    pub fn compile(p: &Seccomp) -> std::result::Result<Filter, String> {
        let program = bpf::compile(p)?;
        // Not warnings: real profiles (Docker's, podman's) name calls of every
        // architecture (ppc's swapcontext, mips' syscall) and of old kernels.
        for n in &program.unknown_names {
            tracing::debug!(syscall = %n, "seccomp: not a system call of the listed architectures; its rules are skipped");
        }
        let mut flags = p.flags.iter().fold(0, |f, x| f | x.bit());
        let notify = p.uses_notify();
        if notify {
            flags |= load::FLAG_NEW_LISTENER;
            // The kernel refuses TSYNC with NEW_LISTENER unless TSYNC failures
            // are reported as ESRCH (an fd cannot also be a thread id).
            if flags & Flag::Tsync.bit() != 0 {
                flags |= load::FLAG_TSYNC_ESRCH;
            }
        }
        let mut rets: Vec<u32> = program.insns.iter().filter(|i| i.code == bpf::BPF_RET | bpf::BPF_K).map(|i| i.k & 0xffff_0000).collect();
        rets.sort_unstable();
        rets.dedup();
        Ok(Filter { program, flags, notify, default_action: p.default_action, rets })
    }

    /// Checks, in the runtime before any fork, that this kernel has every
    /// action and flag the filter uses, so `create` fails with the reason.
    pub fn check_kernel(&self) -> std::result::Result<(), String> {
        for r in &self.rets {
            if !load::action_available(*r) {
                return Err(format!("this kernel does not support the seccomp return action {r:#010x} (SCMP_ACT_LOG needs Linux 4.14, SCMP_ACT_KILL_PROCESS 4.14, SCMP_ACT_NOTIFY 5.0)"));
            }
        }
        for f in Flag::ALL {
            if self.flags & f.bit() != 0 && !load::flag_supported(f.bit()) {
                return Err(format!("this kernel does not support {f}"));
            }
        }
        Ok(())
    }

    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// One line for `--explain` and logs.
    pub fn describe(&self) -> String {
        let arches: Vec<&str> = self.program.arches.iter().map(|a| a.as_str()).collect();
        let skipped = match self.program.unknown_names.len() {
            0 => String::new(),
            n => format!(", {n} names skipped (no such call on these ABIs)"),
        };
        format!(
            "{} BPF instructions: rules for {} syscalls (counted per ABI), default {}, architectures [{}], flags {:#x}{skipped}",
            self.program.insns.len(),
            self.program.rules,
            self.default_action,
            arches.join(", "),
            self.flags
        )
    }

    /// The --explain line of `install`, printed by the caller before any
    /// other step it narrates after the filter is on.
    pub fn explain(&self, who: &str, no_new_privs: bool) {
        let why = if no_new_privs {
            "the last step before execve (no_new_privs is set, so no privilege is needed): the program and all it runs are filtered"
        } else {
            "before the capabilities are dropped (without no_new_privs installing a filter needs CAP_SYS_ADMIN): the program and all it runs are filtered"
        };
        explain::step(who, format!("seccomp(SECCOMP_SET_MODE_FILTER) {}", self.describe()), why);
    }

    /// Installs the filter on the calling process; returns the listener
    /// fd when a rule uses SCMP_ACT_NOTIFY.
    pub fn install(&self) -> Result<Option<OwnedFd>> {
        load::install(&self.program.insns, self.flags).map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EACCES) => ": installing a filter without noNewPrivileges needs CAP_SYS_ADMIN",
                Some(libc::EINVAL) => ": the kernel refused the program or a flag",
                _ => "",
            };
            Error::io(format!("loading the seccomp filter{hint}"), e)
        })
    }
}
