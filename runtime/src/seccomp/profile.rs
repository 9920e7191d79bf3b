//! `linux.seccomp` of config.json, typed as config-linux.md describes it.
//!
//! Every enumerated string (action, operator, architecture, flag) is parsed
//! at load time, so a typo is a config error naming the JSON path, never a
//! filter that silently does something else.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Defines a string enum with its spec spelling, parsed through `TryFrom<String>`
/// so that serde_path_to_error reports the field of a bad value.
macro_rules! spec_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                match s.as_str() {
                    $($s => Ok($name::$v),)+
                    _ => Err(format!(concat!("unknown ", $what, " {:?} (known: {})"), s, Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "))),
                }
            }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str { v.as_str() }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

spec_enum!(
    /// What the filter does with a call.
    Action, "seccomp action", {
        Allow = "SCMP_ACT_ALLOW",
        Errno = "SCMP_ACT_ERRNO",
        /// libseccomp's old name for KILL_THREAD.
        Kill = "SCMP_ACT_KILL",
        KillThread = "SCMP_ACT_KILL_THREAD",
        KillProcess = "SCMP_ACT_KILL_PROCESS",
        Trap = "SCMP_ACT_TRAP",
        Trace = "SCMP_ACT_TRACE",
        Log = "SCMP_ACT_LOG",
        Notify = "SCMP_ACT_NOTIFY",
    }
);

spec_enum!(
    /// How an argument is compared with `value` (unsigned, 64 bits).
    Op, "seccomp operator", {
        Ne = "SCMP_CMP_NE",
        Lt = "SCMP_CMP_LT",
        Le = "SCMP_CMP_LE",
        Eq = "SCMP_CMP_EQ",
        Ge = "SCMP_CMP_GE",
        Gt = "SCMP_CMP_GT",
        /// `(arg & value) == valueTwo`.
        MaskedEq = "SCMP_CMP_MASKED_EQ",
    }
);

spec_enum!(
    /// The ABIs the filter knows. The spec lists more (MIPS, PPC, s390,
    /// RISC-V...); berth-runtime has syscall tables for these five and
    /// refuses the others rather than ignoring them.
    Arch, "or unsupported seccomp architecture", {
        X86_64 = "SCMP_ARCH_X86_64",
        X86 = "SCMP_ARCH_X86",
        X32 = "SCMP_ARCH_X32",
        Aarch64 = "SCMP_ARCH_AARCH64",
        Arm = "SCMP_ARCH_ARM",
    }
);

spec_enum!(
    /// `seccomp(2)` filter flags a config may ask for.
    Flag, "seccomp flag", {
        Tsync = "SECCOMP_FILTER_FLAG_TSYNC",
        Log = "SECCOMP_FILTER_FLAG_LOG",
        SpecAllow = "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        WaitKillableRecv = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    }
);

impl Arch {
    pub const SUPPORTED: [Arch; 5] = [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm];

    /// `seccomp_data.arch` of this ABI (`AUDIT_ARCH_*` of linux/audit.h).
    /// x32 shares AUDIT_ARCH_X86_64 and is told apart by the syscall number.
    pub fn audit_arch(self) -> u32 {
        const LE: u32 = 0x4000_0000;
        const BIT64: u32 = 0x8000_0000;
        match self {
            Arch::X86_64 | Arch::X32 => 62 | BIT64 | LE, // EM_X86_64
            Arch::X86 => 3 | LE,                         // EM_386
            Arch::Aarch64 => 183 | BIT64 | LE,           // EM_AARCH64
            Arch::Arm => 40 | LE,                        // EM_ARM
        }
    }

    /// The ABI this runtime was built for; the filter covers it when the
    /// config lists no architectures (libseccomp's behaviour).
    pub fn native() -> Arch {
        #[cfg(target_arch = "x86_64")]
        return Arch::X86_64;
        #[cfg(target_arch = "aarch64")]
        return Arch::Aarch64;
        #[cfg(target_arch = "arm")]
        return Arch::Arm;
        #[cfg(target_arch = "x86")]
        return Arch::X86;
    }
}

impl Flag {
    /// The bit of `seccomp(2)`'s flags argument (linux/seccomp.h).
    pub fn bit(self) -> u32 {
        match self {
            Flag::Tsync => 1 << 0,
            Flag::Log => 1 << 1,
            Flag::SpecAllow => 1 << 2,
            Flag::WaitKillableRecv => 1 << 5,
        }
    }
}

/// `linux.seccomp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seccomp {
    pub default_action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<Arch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<Syscall>,
}

/// One entry of `linux.seccomp.syscalls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscall {
    pub names: Vec<String>,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value_two: u64,
    pub op: Op,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The errno a rule returns when it says none: EPERM, as runc and the spec say.
pub const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// Syscalls the runtime itself makes between loading the filter and
/// execve. A NOTIFY rule on one of them would wait for a listener that
/// cannot have the fd yet: the runtime sends it with sendmsg.
const NOTIFY_FORBIDDEN: &[&str] = &["sendmsg"];

impl Seccomp {
    /// Checks what the schema cannot: errno values and the actions they
    /// apply to, argument indexes, the listener NOTIFY needs. Returns the
    /// field (relative to `linux.seccomp`) and the message.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: String, m: String| Err((f, m));
        check_errno(self.default_action, self.default_errno_ret).or_else(|m| bad("defaultErrnoRet".into(), m))?;
        if self.default_action == Action::Notify {
            return bad("defaultAction".into(), "SCMP_ACT_NOTIFY cannot be the default action: the runtime's own calls up to execve would wait for the listener".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, f) in self.flags.iter().enumerate() {
            if !seen.insert(*f) {
                return bad(format!("flags[{i}]"), format!("{f} is listed twice"));
            }
        }
        for (i, s) in self.syscalls.iter().enumerate() {
            if s.names.is_empty() {
                return bad(format!("syscalls[{i}].names"), "must name at least one system call".into());
            }
            check_errno(s.action, s.errno_ret).or_else(|m| bad(format!("syscalls[{i}].errnoRet"), m))?;
            for (j, a) in s.args.iter().enumerate() {
                if a.index >= 6 {
                    return bad(format!("syscalls[{i}].args[{j}].index"), format!("{}: system calls have 6 arguments (0-5)", a.index));
                }
                if a.op != Op::MaskedEq && a.value_two != 0 {
                    return bad(format!("syscalls[{i}].args[{j}].valueTwo"), format!("is only used by SCMP_CMP_MASKED_EQ, not {}", a.op));
                }
            }
            if s.action == Action::Notify {
                if let Some(n) = s.names.iter().find(|n| NOTIFY_FORBIDDEN.contains(&n.as_str())) {
                    return bad(format!("syscalls[{i}].names"), format!("SCMP_ACT_NOTIFY on {n:?} would deadlock: the runtime sends the listener fd with it"));
                }
            }
        }
        if let Some(i) = self.flags.iter().position(|f| *f == Flag::WaitKillableRecv) {
            if !self.uses_notify() {
                return bad(format!("flags[{i}]"), "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only applies to SCMP_ACT_NOTIFY rules, and there are none".into());
            }
        }
        if self.uses_notify() && !matches!(self.listener_path.as_deref(), Some(p) if !p.as_os_str().is_empty()) {
            return bad("listenerPath".into(), "SCMP_ACT_NOTIFY is used: a listenerPath must say where to send the notification fd".into());
        }
        if let Some(p) = &self.listener_path {
            if !p.is_absolute() {
                return bad("listenerPath".into(), format!("{} must be an absolute path", p.display()));
            }
        }
        Ok(())
    }

    pub fn uses_notify(&self) -> bool {
        self.syscalls.iter().any(|s| s.action == Action::Notify)
    }

    /// The architectures the filter covers: the listed ones, or the native one.
    pub fn arches(&self) -> Vec<Arch> {
        if self.architectures.is_empty() {
            return vec![Arch::native()];
        }
        let mut v = self.architectures.clone();
        v.sort();
        v.dedup();
        v
    }
}

/// errnoRet is meaningful for ERRNO (the errno) and TRACE (the tracer's
/// message); elsewhere the spec says the runtime must fail. SECCOMP_RET_DATA
/// holds 16 bits.
fn check_errno(action: Action, errno: Option<u32>) -> Result<(), String> {
    let Some(e) = errno else { return Ok(()) };
    if !matches!(action, Action::Errno | Action::Trace) {
        return Err(format!("is only meaningful with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {action}"));
    }
    if e > 0xffff {
        return Err(format!("{e} does not fit the filter's 16-bit return data"));
    }
    Ok(())
}
