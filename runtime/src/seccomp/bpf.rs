//! The compiler from a typed profile to a classic BPF program for
//! `seccomp(SECCOMP_SET_MODE_FILTER)`, written for berth (no libseccomp, so
//! the static musl, aarch64 and armv7 builds need no C library).
//!
//! The program, in order:
//!
//! 1. Load `seccomp_data.arch`; one section per listed ABI, reached by
//!    `jeq AUDIT_ARCH_*`. An ABI that is not listed falls through to the
//!    bad-arch action, KILL_PROCESS: a process of an ABI the profile does
//!    not describe cannot be filtered by number at all, and killing the
//!    whole process (not only the thread, libseccomp's default) leaves no
//!    half-dead program behind.
//! 2. x86_64 and x32 share AUDIT_ARCH_X86_64; x32 numbers carry
//!    `__X32_SYSCALL_BIT` (0x40000000). The section splits on that bit:
//!    numbers at or above it go to the x32 rules when x32 is listed, else
//!    to the bad-arch action (so an x86_64-only profile cannot be bypassed
//!    through the x32 entry points, as libseccomp does).
//! 3. Within an ABI, the number space is cut into segments — each call
//!    with argument rules is one, neighbouring numbers with the same plain
//!    outcome merge — and a binary search on the segment starts (`jge`)
//!    reaches the right one: a 350-name allow-list is a few dozen segments,
//!    ~7 comparisons per call, not 350. Numbers not named get the default
//!    action.
//! 4. A syscall's rules: arguments are 64 bits and classic BPF compares
//!    32-bit words, so each comparison is done on the high word, then the
//!    low word (see `emit_cmp`). All arguments of one rule must match (AND).
//!    Rules of the same syscall are tried one after the other (OR): the
//!    first whose arguments match decides.
//!
//!    Precedence, when several rules of one syscall could match (the spec
//!    does not say; libseccomp's answer depends on how it merges rules into
//!    its decision tree, and on insertion order): rules with argument
//!    conditions are tried first, in config order, and the first that
//!    holds decides; the first unconditional rule is the fallback (later
//!    unconditional ones are never reached), then the default action. So
//!    a specific rule is always the exception to a general one, whatever
//!    order the config lists them in. Real profiles agree with this order:
//!    Docker's and podman's never give one syscall conflicting conditional
//!    and unconditional actions, and podman's conditional ERRNO rule for
//!    socket(AF_NETLINK, .., NETLINK_AUDIT) comes before the ALLOW rules it
//!    carves out of.
//!
//! 5. Calls newer than the profile: when the default action refuses
//!    (ERRNO, KILL, TRAP), a number above the highest one the profile names
//!    for the ABI answers ENOSYS instead, as runc does. A program (glibc:
//!    clone3, fchmodat2, cachestat...) then falls back to the older call the
//!    profile does decide on, instead of failing with EPERM on a kernel
//!    newer than the profile (or than berth's tables).
//!
//! Conditional jumps hold 8-bit offsets: a branch farther than 255
//! instructions is rewritten into a short branch to an unconditional `ja`
//! (32-bit offset) trampoline, until every jump fits (`layout`).

use std::collections::BTreeMap;

use super::profile::{Action, Arch, Op, Seccomp, DEFAULT_ERRNO};
use super::syscalls;

/// `struct sock_filter` of linux/filter.h.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// Opcodes of linux/bpf_common.h.
pub const BPF_LD: u16 = 0x00;
pub const BPF_ALU: u16 = 0x04;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_RET: u16 = 0x06;
pub const BPF_W: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_AND: u16 = 0x50;
pub const BPF_JA: u16 = 0x00;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JGT: u16 = 0x20;
pub const BPF_JGE: u16 = 0x30;
pub const BPF_K: u16 = 0x00;

/// The kernel refuses longer programs (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
fn off_arg_lo(i: u32) -> u32 {
    // Every supported ABI is little-endian: the low word comes first.
    16 + 8 * i
}
fn off_arg_hi(i: u32) -> u32 {
    16 + 8 * i + 4
}

pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `__ARM_NR_BASE`: ARM's private calls are numbered from here.
pub const ARM_NR_BASE: u32 = 0x0f_0000;

// Return values of linux/seccomp.h.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
pub const RET_DATA: u32 = 0x0000_ffff;

/// What the filter returns for `action`.
pub fn ret_value(action: Action, errno: Option<u32>) -> u32 {
    let data = errno.unwrap_or(DEFAULT_ERRNO) & RET_DATA;
    match action {
        Action::Allow => RET_ALLOW,
        Action::Errno => RET_ERRNO | data,
        Action::Kill | Action::KillThread => RET_KILL_THREAD,
        Action::KillProcess => RET_KILL_PROCESS,
        Action::Trap => RET_TRAP,
        Action::Trace => RET_TRACE | data,
        Action::Log => RET_LOG,
        Action::Notify => RET_USER_NOTIF,
    }
}

/// A compiled filter and what `--explain` says about it.
#[derive(Debug, Clone)]
pub struct Program {
    pub insns: Vec<SockFilter>,
    pub arches: Vec<Arch>,
    /// Distinct (ABI, syscall) pairs with rules.
    pub rules: usize,
    /// Names no listed ABI has (skipped, as libseccomp does).
    pub unknown_names: Vec<String>,
}

type Label = usize;

/// The program before jump offsets are known.
#[derive(Debug, Clone, Copy)]
enum Ins {
    Ld(u32),
    And(u32),
    Ret(u32),
    /// `op` is BPF_JEQ, BPF_JGT or BPF_JGE.
    Jmp { op: u16, k: u32, jt: Label, jf: Label },
    Ja(Label),
    Mark(Label),
}

#[derive(Default)]
struct Asm {
    code: Vec<Ins>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        self.labels - 1
    }
    fn mark(&mut self, l: Label) {
        self.code.push(Ins::Mark(l));
    }
    fn push(&mut self, i: Ins) {
        self.code.push(i);
    }
    fn jmp(&mut self, op: u16, k: u32, jt: Label, jf: Label) {
        self.code.push(Ins::Jmp { op, k, jt, jf });
    }
}

/// One rule for one syscall on one ABI, after name resolution.
#[derive(Debug, Clone)]
struct Rule<'a> {
    args: &'a [super::profile::Arg],
    ret: u32,
}

pub fn compile(p: &Seccomp) -> Result<Program, String> {
    let arches = p.arches();
    let default_ret = ret_value(p.default_action, p.default_errno_ret);
    let enosys_stub = matches!(p.default_action, Action::Errno | Action::Kill | Action::KillThread | Action::KillProcess | Action::Trap);
    // Per ABI: syscall number -> (conditional rules in config order, first unconditional).
    let mut tables: BTreeMap<Arch, AbiRules> = BTreeMap::new();
    let mut unknown = Vec::new();
    for s in &p.syscalls {
        let ret = ret_value(s.action, s.errno_ret);
        for name in &s.names {
            let mut known = false;
            for &a in &arches {
                let Some(nr) = syscalls::number(a, name) else { continue };
                known = true;
                let entry = tables.entry(a).or_default().entry(nr).or_default();
                if s.args.is_empty() {
                    entry.1.get_or_insert(ret);
                } else {
                    entry.0.push(Rule { args: &s.args, ret });
                }
            }
            if !known && !unknown.contains(name) {
                unknown.push(name.clone());
            }
        }
    }
    let rules = tables.values().map(|t| t.len()).sum();
    // Conditional rules that all fail fall back to the default action.
    for t in tables.values_mut() {
        for e in t.values_mut() {
            e.1.get_or_insert(default_ret);
        }
    }

    let mut asm = Asm::default();
    let bad_arch = asm.label();

    asm.push(Ins::Ld(OFF_ARCH));
    // x86_64 and x32 are one section (one AUDIT_ARCH); the others one each.
    let mut sections: Vec<(u32, Vec<Arch>)> = Vec::new();
    for &a in &arches {
        match sections.iter_mut().find(|(aa, _)| *aa == a.audit_arch()) {
            Some((_, v)) => v.push(a),
            None => sections.push((a.audit_arch(), vec![a])),
        }
    }
    let empty = BTreeMap::new();
    for (audit, abis) in &sections {
        let next = asm.label();
        let here = asm.label();
        asm.jmp(BPF_JEQ, *audit, here, next);
        asm.mark(here);
        asm.push(Ins::Ld(OFF_NR));
        if *audit == Arch::X86_64.audit_arch() {
            let native = abis.contains(&Arch::X86_64);
            let x32 = abis.contains(&Arch::X32);
            let x32_l = asm.label();
            let native_l = asm.label();
            asm.jmp(BPF_JGE, X32_SYSCALL_BIT, if x32 { x32_l } else { bad_arch }, if native { native_l } else { bad_arch });
            if native {
                asm.mark(native_l);
                emit_abi(&mut asm, Arch::X86_64, tables.get(&Arch::X86_64).unwrap_or(&empty), default_ret, enosys_stub);
            }
            if x32 {
                asm.mark(x32_l);
                emit_abi(&mut asm, Arch::X32, tables.get(&Arch::X32).unwrap_or(&empty), default_ret, enosys_stub);
            }
        } else {
            emit_abi(&mut asm, abis[0], tables.get(&abis[0]).unwrap_or(&empty), default_ret, enosys_stub);
        }
        // Only the failed `jeq` reaches `next` (every section ends in
        // `ret`s), so A still holds the arch there.
        asm.mark(next);
    }
    asm.mark(bad_arch);
    asm.push(Ins::Ret(RET_KILL_PROCESS));
    let insns = layout(asm.code)?;
    if insns.len() > MAX_INSNS {
        return Err(format!("the filter needs {} instructions; the kernel accepts at most {MAX_INSNS}", insns.len()));
    }
    Ok(Program { insns, arches, rules, unknown_names: unknown })
}

/// A syscall's conditional rules (config order) and its first unconditional action.
type SyscallRules<'a> = (Vec<Rule<'a>>, Option<u32>);
/// Per syscall number, for one ABI.
type AbiRules<'a> = BTreeMap<u32, SyscallRules<'a>>;

/// A run of syscall numbers `[start, next segment's start)` that share
/// one outcome: a plain return value, or (always a single number) rules.
#[derive(Clone, Copy)]
enum Outcome<'r, 'a> {
    Ret(u32),
    Rules(&'r SyscallRules<'a>),
}

/// Dispatch on the number (in A) and every syscall's rules for one ABI.
///
/// The number space is cut into segments: each named syscall with
/// argument rules is one, and neighbouring numbers with the same plain
/// action (allow, errno, the default...) merge into one, so an allow-list
/// of 300 calls is a few dozen segments. A binary search on the segment
/// starts (`jge`) reaches each in ~log2(segments) comparisons, and each
/// leaf is its `ret` or its rules.
fn emit_abi(asm: &mut Asm, arch: Arch, t: &AbiRules, default_ret: u32, enosys_stub: bool) {
    // ARM's private calls (breakpoint, set_tls...) sit far above the others.
    let regular = |nr: u32| arch != Arch::Arm || nr < ARM_NR_BASE;
    let enosys_from = t.keys().copied().filter(|n| enosys_stub && regular(*n)).max().map(|m| m as u64 + 1);
    // What a number that is not named gets: piecewise constant, changing
    // only at `enosys_from` and (ARM) at the private calls' base.
    let gap = |nr: u64| match enosys_from {
        Some(from) if nr >= from && regular(nr as u32) => RET_ERRNO | libc::ENOSYS as u32,
        _ => default_ret,
    };
    let mut starts: Vec<u64> = vec![0];
    starts.extend(enosys_from);
    if arch == Arch::Arm {
        starts.push(ARM_NR_BASE as u64);
    }
    for nr in t.keys() {
        starts.push(*nr as u64);
        starts.push(*nr as u64 + 1);
    }
    starts.retain(|s| *s <= u32::MAX as u64);
    starts.sort_unstable();
    starts.dedup();
    let mut segs: Vec<(u32, Outcome)> = Vec::new();
    for st in starts {
        let o = match t.get(&(st as u32)) {
            Some((cond, Some(v))) if cond.is_empty() => Outcome::Ret(*v),
            Some(r) => Outcome::Rules(r),
            None => Outcome::Ret(gap(st)),
        };
        match (segs.last(), o) {
            (Some((_, Outcome::Ret(prev))), Outcome::Ret(v)) if *prev == v => {}
            _ => segs.push((st as u32, o)),
        }
    }
    emit_tree(asm, &segs);
}

fn emit_tree(asm: &mut Asm, segs: &[(u32, Outcome)]) {
    if let [(_, o)] = segs {
        match o {
            Outcome::Ret(v) => asm.push(Ins::Ret(*v)),
            Outcome::Rules((cond, uncond)) => {
                for r in cond {
                    let next_rule = asm.label();
                    for a in r.args {
                        emit_cmp(asm, a.index, a.op, a.value, a.value_two, next_rule);
                    }
                    asm.push(Ins::Ret(r.ret));
                    asm.mark(next_rule);
                }
                // No conditional rule held: the unconditional rule's action,
                // or the default (`compile` fills it in when there is none).
                asm.push(Ins::Ret(uncond.unwrap_or(RET_KILL_PROCESS)));
            }
        }
        return;
    }
    let mid = segs.len() / 2;
    let (left, right) = segs.split_at(mid);
    let right_l = asm.label();
    let left_l = asm.label();
    asm.jmp(BPF_JGE, right[0].0, right_l, left_l);
    asm.mark(left_l);
    emit_tree(asm, left);
    asm.mark(right_l);
    emit_tree(asm, right);
}

/// One 64-bit comparison as 32-bit word compares: continues after its
/// code when the argument matches, jumps to `fail` when it does not.
/// Unsigned, as the kernel and libseccomp compare.
fn emit_cmp(asm: &mut Asm, idx: u32, op: Op, value: u64, value_two: u64, fail: Label) {
    let (vhi, vlo) = ((value >> 32) as u32, value as u32);
    let pass = asm.label();
    let lo = asm.label();
    let ld_hi = Ins::Ld(off_arg_hi(idx));
    let ld_lo = Ins::Ld(off_arg_lo(idx));
    match op {
        Op::Eq => {
            asm.push(ld_hi);
            asm.jmp(BPF_JEQ, vhi, lo, fail);
            asm.mark(lo);
            asm.push(ld_lo);
            asm.jmp(BPF_JEQ, vlo, pass, fail);
        }
        Op::Ne => {
            // Different high words already make the values differ.
            asm.push(ld_hi);
            asm.jmp(BPF_JEQ, vhi, lo, pass);
            asm.mark(lo);
            asm.push(ld_lo);
            asm.jmp(BPF_JEQ, vlo, fail, pass);
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            // The high words decide unless they are equal; then the low words do.
            // GT/GE pass on a greater high word; LT/LE are their negations.
            let (greater, less) = match op {
                Op::Gt | Op::Ge => (pass, fail),
                _ => (fail, pass),
            };
            let eq = asm.label();
            let ne = asm.label();
            asm.push(ld_hi);
            asm.jmp(BPF_JGT, vhi, greater, ne);
            asm.mark(ne);
            asm.jmp(BPF_JEQ, vhi, eq, less);
            asm.mark(eq);
            asm.push(ld_lo);
            match op {
                Op::Gt => asm.jmp(BPF_JGT, vlo, pass, fail),
                Op::Ge => asm.jmp(BPF_JGE, vlo, pass, fail),
                Op::Lt => asm.jmp(BPF_JGE, vlo, fail, pass),
                _ => asm.jmp(BPF_JGT, vlo, fail, pass),
            }
        }
        Op::MaskedEq => {
            let (mhi, mlo) = (vhi, vlo);
            let (ehi, elo) = ((value_two >> 32) as u32, value_two as u32);
            asm.push(ld_hi);
            asm.push(Ins::And(mhi));
            asm.jmp(BPF_JEQ, ehi, lo, fail);
            asm.mark(lo);
            asm.push(ld_lo);
            asm.push(Ins::And(mlo));
            asm.jmp(BPF_JEQ, elo, pass, fail);
        }
    }
    asm.mark(pass);
}

/// Resolves labels into offsets. A conditional branch whose target is
/// more than 255 instructions ahead gets an unconditional `ja` trampoline
/// (32-bit offset) right after it for the far side; insertions move other
/// targets, so repeat until every branch fits (in practice 2-3 rounds).
fn layout(mut code: Vec<Ins>) -> Result<Vec<SockFilter>, String> {
    let mut labels = code
        .iter()
        .map(|i| match *i {
            Ins::Mark(l) | Ins::Ja(l) => l + 1,
            Ins::Jmp { jt, jf, .. } => jt.max(jf) + 1,
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    loop {
        let mut pos = vec![usize::MAX; labels];
        let mut n = 0usize;
        for i in &code {
            match i {
                Ins::Mark(l) => pos[*l] = n,
                _ => n += 1,
            }
        }
        if n > MAX_INSNS * 4 {
            return Err(format!("the filter needs more than {MAX_INSNS} instructions"));
        }
        let target = |l: Label, at: usize| -> Result<usize, String> {
            match pos[l] {
                usize::MAX => Err(format!("internal: unplaced label {l}")),
                t if t <= at => Err("internal: backward jump".into()),
                t => Ok(t - at - 1),
            }
        };
        let mut out = Vec::with_capacity(n);
        let mut far = false;
        let mut rewritten = Vec::with_capacity(code.len());
        for i in &code {
            let at = out.len();
            let ins = match *i {
                Ins::Mark(_) => {
                    rewritten.push(*i);
                    continue;
                }
                Ins::Ld(k) => SockFilter { code: BPF_LD | BPF_W | BPF_ABS, jt: 0, jf: 0, k },
                Ins::And(k) => SockFilter { code: BPF_ALU | BPF_AND | BPF_K, jt: 0, jf: 0, k },
                Ins::Ret(k) => SockFilter { code: BPF_RET | BPF_K, jt: 0, jf: 0, k },
                Ins::Ja(l) => SockFilter { code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: target(l, at)? as u32 },
                Ins::Jmp { op, k, jt, jf } => {
                    let (dt, df) = (target(jt, at)?, target(jf, at)?);
                    if dt > 255 || df > 255 {
                        far = true;
                        let (a, b) = (labels, labels + 1);
                        labels += 2;
                        // A near branch keeps its target (one further away now; checked next round).
                        match (dt > 255, df > 255) {
                            (true, false) => rewritten.extend([Ins::Jmp { op, k, jt: a, jf }, Ins::Mark(a), Ins::Ja(jt)]),
                            (false, true) => rewritten.extend([Ins::Jmp { op, k, jt, jf: b }, Ins::Mark(b), Ins::Ja(jf)]),
                            _ => rewritten.extend([Ins::Jmp { op, k, jt: a, jf: b }, Ins::Mark(a), Ins::Ja(jt), Ins::Mark(b), Ins::Ja(jf)]),
                        }
                        out.push(SockFilter { code: 0, jt: 0, jf: 0, k: 0 });
                        continue;
                    }
                    SockFilter { code: BPF_JMP | op | BPF_K, jt: dt as u8, jf: df as u8, k }
                }
            };
            rewritten.push(*i);
            out.push(ins);
        }
        if !far {
            return Ok(out);
        }
        code = rewritten;
    }
}

#[cfg(test)]
pub(crate) mod interp {
    //! A classic-BPF interpreter for the instructions the compiler emits, so
    //! tests can run a filter over synthetic `seccomp_data` without a kernel.
    use super::*;

    pub struct Data {
        pub nr: u32,
        pub arch: u32,
        pub args: [u64; 6],
    }

    pub fn run(prog: &[SockFilter], d: &Data) -> u32 {
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&d.nr.to_le_bytes());
        bytes[4..8].copy_from_slice(&d.arch.to_le_bytes());
        for (i, a) in d.args.iter().enumerate() {
            bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let mut a: u32 = 0;
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 100_000, "runaway program");
            let i = prog.get(pc).unwrap_or_else(|| panic!("pc {pc} ran off the end"));
            pc += 1;
            match i.code {
                c if c == BPF_LD | BPF_W | BPF_ABS => {
                    let k = i.k as usize;
                    assert!(k & 3 == 0 && k + 4 <= 64, "bad load offset {k}");
                    a = u32::from_le_bytes(bytes[k..k + 4].try_into().unwrap());
                }
                c if c == BPF_ALU | BPF_AND | BPF_K => a &= i.k,
                c if c == BPF_RET | BPF_K => return i.k,
                c if c == BPF_JMP | BPF_JA => pc += i.k as usize,
                c if c & 0x07 == BPF_JMP => {
                    let taken = match c & 0xf0 {
                        BPF_JEQ => a == i.k,
                        BPF_JGT => a > i.k,
                        BPF_JGE => a >= i.k,
                        o => panic!("unexpected jump op {o:#x}"),
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::interp::{run, Data};
    use super::*;
    use crate::seccomp::profile::{Arg, Syscall};

    fn profile(json: &str) -> Seccomp {
        serde_json::from_str(json).unwrap()
    }

    fn call(p: &Program, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
        let nr = syscalls::number(arch, name).unwrap();
        run(&p.insns, &Data { nr, arch: arch.audit_arch(), args })
    }

    const EPERM: u32 = RET_ERRNO | 1;

    #[test]
    fn default_and_listed_actions() {
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
                {"names":["unshare","mount"],"action":"SCMP_ACT_ERRNO"},
                {"names":["kexec_load"],"action":"SCMP_ACT_KILL_PROCESS"},
                {"names":["reboot"],"action":"SCMP_ACT_KILL"},
                {"names":["ptrace"],"action":"SCMP_ACT_TRAP"},
                {"names":["acct"],"action":"SCMP_ACT_LOG"},
                {"names":["chroot"],"action":"SCMP_ACT_TRACE","errnoRet":7},
                {"names":["socket"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        ))
        .unwrap();
        let z = [0; 6];
        assert_eq!(call(&p, Arch::X86_64, "getpid", z), RET_ERRNO | 38);
        assert_eq!(call(&p, Arch::X86_64, "unshare", z), EPERM);
        assert_eq!(call(&p, Arch::X86_64, "mount", z), EPERM);
        assert_eq!(call(&p, Arch::X86_64, "kexec_load", z), RET_KILL_PROCESS);
        assert_eq!(call(&p, Arch::X86_64, "reboot", z), RET_KILL_THREAD);
        assert_eq!(call(&p, Arch::X86_64, "ptrace", z), RET_TRAP);
        assert_eq!(call(&p, Arch::X86_64, "acct", z), RET_LOG);
        assert_eq!(call(&p, Arch::X86_64, "chroot", z), RET_TRACE | 7);
        assert_eq!(call(&p, Arch::X86_64, "socket", z), RET_USER_NOTIF);
        assert_eq!(call(&p, Arch::X86_64, "read", z), RET_ALLOW);
        assert_eq!(p.rules, 8 + 1);
    }

    #[test]
    fn other_arches_get_the_bad_arch_action() {
        let p = compile(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_AARCH64"]}"#)).unwrap();
        assert_eq!(run(&p.insns, &Data { nr: 0, arch: Arch::X86_64.audit_arch(), args: [0; 6] }), RET_KILL_PROCESS);
        assert_eq!(run(&p.insns, &Data { nr: 0, arch: Arch::Aarch64.audit_arch(), args: [0; 6] }), RET_ALLOW);
        assert_eq!(run(&p.insns, &Data { nr: 0, arch: 0xdead, args: [0; 6] }), RET_KILL_PROCESS);
    }

    #[test]
    fn x32_numbers_are_split_off_x86_64() {
        let only64 = compile(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"]}"#)).unwrap();
        let x32_read = syscalls::number(Arch::X32, "read").unwrap();
        let audit = Arch::X86_64.audit_arch();
        assert_eq!(run(&only64.insns, &Data { nr: x32_read, arch: audit, args: [0; 6] }), RET_KILL_PROCESS, "x32 entry points must not bypass an x86_64 profile");
        let both = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X32","SCMP_ARCH_X86"],
                "syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":5}]}"#,
        ))
        .unwrap();
        assert_eq!(run(&both.insns, &Data { nr: x32_read, arch: audit, args: [0; 6] }), RET_ERRNO | 5);
        assert_eq!(run(&both.insns, &Data { nr: 0, arch: audit, args: [0; 6] }), RET_ERRNO | 5);
        assert_eq!(call(&both, Arch::X86, "read", [0; 6]), RET_ERRNO | 5);
        // i386 read is 3: x86_64's 3 is close, which stays allowed.
        assert_eq!(run(&both.insns, &Data { nr: 3, arch: audit, args: [0; 6] }), RET_ALLOW);
        let only_x32 = compile(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X32"]}"#)).unwrap();
        assert_eq!(run(&only_x32.insns, &Data { nr: 0, arch: audit, args: [0; 6] }), RET_KILL_PROCESS);
        assert_eq!(run(&only_x32.insns, &Data { nr: x32_read, arch: audit, args: [0; 6] }), RET_ALLOW);
    }

    /// Values on both sides of the 32-bit boundary, and at the edges.
    const EDGES: [u64; 12] = [0, 1, 0xffff_fffe, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001, 0x1_ffff_ffff, 0x2_0000_0000, 0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, u64::MAX - 1, u64::MAX];

    fn holds(op: Op, arg: u64, v: u64, v2: u64) -> bool {
        match op {
            Op::Ne => arg != v,
            Op::Lt => arg < v,
            Op::Le => arg <= v,
            Op::Eq => arg == v,
            Op::Ge => arg >= v,
            Op::Gt => arg > v,
            Op::MaskedEq => arg & v == v2,
        }
    }

    #[test]
    fn every_operator_on_64_bit_values_matches_its_definition() {
        for &op in Op::ALL {
            for &v in &EDGES {
                for &v2 in if op == Op::MaskedEq { &EDGES[..] } else { &EDGES[..1] } {
                    let s = Seccomp {
                        default_action: Action::Allow,
                        default_errno_ret: None,
                        architectures: vec![Arch::X86_64],
                        flags: vec![],
                        listener_path: None,
                        listener_metadata: None,
                        syscalls: vec![Syscall { names: vec!["getpid".into()], action: Action::Errno, errno_ret: Some(9), args: vec![Arg { index: 2, value: v, value_two: v2, op }] }],
                    };
                    let p = compile(&s).unwrap();
                    for &a in EDGES.iter().chain(&[v.wrapping_add(1), v.wrapping_sub(1), v ^ 0xffff_ffff, v ^ (1 << 40)]) {
                        let got = call(&p, Arch::X86_64, "getpid", [0, 0, a, 0, 0, 0]);
                        let want = if holds(op, a, v, v2) { RET_ERRNO | 9 } else { RET_ALLOW };
                        assert_eq!(got, want, "{op} arg={a:#x} value={v:#x} valueTwo={v2:#x}");
                    }
                }
            }
        }
    }

    #[test]
    fn args_of_a_rule_are_anded_and_rules_are_ored() {
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
                {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]},
                {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":10,"op":"SCMP_CMP_EQ"}]}]}"#,
        ))
        .unwrap();
        assert_eq!(call(&p, Arch::X86_64, "socket", [1, 2, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&p, Arch::X86_64, "socket", [1, 3, 0, 0, 0, 0]), EPERM);
        assert_eq!(call(&p, Arch::X86_64, "socket", [10, 99, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&p, Arch::X86_64, "socket", [2, 2, 0, 0, 0, 0]), EPERM);
    }

    #[test]
    fn conditional_rules_take_precedence_over_unconditional_ones() {
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_KILL","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
                {"names":["personality"],"action":"SCMP_ACT_ALLOW"},
                {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":22,"args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
        ))
        .unwrap();
        assert_eq!(call(&p, Arch::X86_64, "personality", [8, 0, 0, 0, 0, 0]), RET_ERRNO | 22);
        assert_eq!(call(&p, Arch::X86_64, "personality", [0, 0, 0, 0, 0, 0]), RET_ALLOW);
    }

    #[test]
    fn unknown_names_are_skipped_and_reported() {
        let p = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_AARCH64"],"syscalls":[
                {"names":["open","openat","no_such_call"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ))
        .unwrap();
        // open exists on x86 and arm but not on aarch64, the only arch listed here.
        assert_eq!(p.unknown_names, vec!["open".to_string(), "no_such_call".to_string()]);
        assert_eq!(call(&p, Arch::Aarch64, "openat", [0; 6]), EPERM);
    }

    /// Hundreds of rules with arguments on three ABIs: every branch of the
    /// dispatch is far beyond 255 instructions, so trampolines are needed.
    #[test]
    fn long_profiles_get_trampolines_and_stay_correct() {
        // Docker's default profile is ~350 names; take as many.
        let names: Vec<&str> = syscalls_x86_64_names().into_iter().take(350).collect();
        let mut rules = Vec::new();
        for (i, n) in names.iter().enumerate() {
            rules.push(Syscall {
                names: vec![n.to_string()],
                action: Action::Errno,
                errno_ret: Some((i % 50) as u32 + 1),
                args: if i % 5 == 0 { vec![Arg { index: 0, value: i as u64 | 0x1_0000_0000, value_two: 0, op: Op::Eq }] } else { vec![] },
            });
        }
        let s = Seccomp {
            default_action: Action::Allow,
            default_errno_ret: None,
            architectures: vec![Arch::X86_64, Arch::X86, Arch::X32],
            flags: vec![],
            listener_path: None,
            listener_metadata: None,
            syscalls: rules,
        };
        let p = compile(&s).unwrap();
        assert!(p.insns.len() > 1000 && p.insns.len() <= MAX_INSNS, "{} instructions", p.insns.len());
        assert!(p.insns.iter().any(|i| i.code == BPF_JMP | BPF_JA && i.k > 255), "expected long jumps");
        for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
            for (i, n) in names.iter().enumerate() {
                let Some(nr) = syscalls::number(arch, n) else { continue };
                // Another name of the same number on this arch may own the rule (aliases).
                if names.iter().position(|m| syscalls::number(arch, m) == Some(nr)) != Some(i) {
                    continue;
                }
                let want = RET_ERRNO | ((i % 50) as u32 + 1);
                let d = |a0| Data { nr, arch: arch.audit_arch(), args: [a0, 0, 0, 0, 0, 0] };
                if i % 5 == 0 {
                    assert_eq!(run(&p.insns, &d(i as u64 | 0x1_0000_0000)), want, "{arch} {n}");
                    assert_eq!(run(&p.insns, &d(i as u64)), RET_ALLOW, "{arch} {n} hi word differs");
                } else {
                    assert_eq!(run(&p.insns, &d(0)), want, "{arch} {n}");
                }
            }
        }
    }

    fn syscalls_x86_64_names() -> Vec<&'static str> {
        let mut v: Vec<&str> = Vec::new();
        for a in Arch::SUPPORTED {
            for n in super::syscalls::names(a) {
                if !v.contains(&n) {
                    v.push(n);
                }
            }
        }
        v
    }

    #[test]
    fn calls_newer_than_the_profile_answer_enosys_when_the_default_refuses() {
        let refusing = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_ARM"],
                "syscalls":[{"names":["read","openat","set_tls"],"action":"SCMP_ACT_ALLOW"}]}"#,
        ))
        .unwrap();
        let x = Arch::X86_64.audit_arch();
        let openat = syscalls::number(Arch::X86_64, "openat").unwrap();
        let enosys = RET_ERRNO | libc::ENOSYS as u32;
        assert_eq!(run(&refusing.insns, &Data { nr: openat, arch: x, args: [0; 6] }), RET_ALLOW);
        assert_eq!(run(&refusing.insns, &Data { nr: openat - 1, arch: x, args: [0; 6] }), EPERM, "below the highest named: the default");
        assert_eq!(run(&refusing.insns, &Data { nr: openat + 1, arch: x, args: [0; 6] }), enosys);
        assert_eq!(run(&refusing.insns, &Data { nr: 451 /* cachestat, newer than the tables */, arch: x, args: [0; 6] }), enosys);
        let arm = Arch::Arm.audit_arch();
        let arm_openat = syscalls::number(Arch::Arm, "openat").unwrap();
        assert_eq!(run(&refusing.insns, &Data { nr: arm_openat + 1, arch: arm, args: [0; 6] }), enosys);
        assert_eq!(run(&refusing.insns, &Data { nr: ARM_NR_BASE + 5, arch: arm, args: [0; 6] }), RET_ALLOW, "set_tls");
        assert_eq!(run(&refusing.insns, &Data { nr: ARM_NR_BASE + 2, arch: arm, args: [0; 6] }), EPERM, "cacheflush: not named, below set_tls");
        let allowing = compile(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO"}]}"#)).unwrap();
        assert_eq!(run(&allowing.insns, &Data { nr: 451, arch: Arch::native().audit_arch(), args: [0; 6] }), RET_ALLOW);
    }

    /// The semantics the module documentation states, written directly:
    /// the compiled program must agree with it on every input.
    fn reference(p: &Seccomp, audit: u32, nr: u32, args: [u64; 6]) -> u32 {
        let arches = p.arches();
        let abi = if audit == Arch::X86_64.audit_arch() {
            let want = if nr >= X32_SYSCALL_BIT { Arch::X32 } else { Arch::X86_64 };
            arches.contains(&want).then_some(want)
        } else {
            arches.iter().copied().find(|a| a.audit_arch() == audit)
        };
        let Some(abi) = abi else { return RET_KILL_PROCESS };
        let default = ret_value(p.default_action, p.default_errno_ret);
        let mut uncond = None;
        let mut named = false;
        for s in &p.syscalls {
            if !s.names.iter().any(|n| syscalls::number(abi, n) == Some(nr)) {
                continue;
            }
            named = true;
            if s.args.is_empty() {
                uncond.get_or_insert(ret_value(s.action, s.errno_ret));
            } else if s.args.iter().all(|a| holds(a.op, args[a.index as usize], a.value, a.value_two)) {
                return ret_value(s.action, s.errno_ret);
            }
        }
        if named {
            return uncond.unwrap_or(default);
        }
        let refusing = matches!(p.default_action, Action::Errno | Action::Kill | Action::KillThread | Action::KillProcess | Action::Trap);
        let regular = |n: u32| abi != Arch::Arm || n < ARM_NR_BASE;
        let max = p.syscalls.iter().flat_map(|s| s.names.iter()).filter_map(|n| syscalls::number(abi, n)).filter(|n| regular(*n)).max();
        match max {
            Some(m) if refusing && regular(nr) && nr > m => RET_ERRNO | libc::ENOSYS as u32,
            _ => default,
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*: deterministic, no dependency.
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn value(&mut self) -> u64 {
            match self.below(4) {
                0 => EDGES[self.below(EDGES.len())],
                1 => self.next() & 0xff,
                2 => (self.next() & 3) << 32 | (self.next() & 3),
                _ => self.next(),
            }
        }
    }

    /// Random profiles (actions, argument rules, ABIs, conflicting rules for
    /// one call) against the reference semantics, on random and edge inputs.
    #[test]
    fn compiled_programs_agree_with_the_reference_semantics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let all_names: Vec<&str> = syscalls_x86_64_names();
        let actions = [Action::Allow, Action::Errno, Action::KillProcess, Action::Trap, Action::Log, Action::Kill];
        for round in 0..150 {
            let mut arches: Vec<Arch> = Arch::SUPPORTED.iter().copied().filter(|_| rng.below(2) == 0).collect();
            if round % 7 == 0 {
                arches.clear();
            }
            let mut rules = Vec::new();
            for _ in 0..rng.below(40) + 1 {
                let names: Vec<String> = (0..rng.below(4) + 1).map(|_| all_names[rng.below(all_names.len())].to_string()).collect();
                let action = actions[rng.below(actions.len())];
                let errno_ret = (action == Action::Errno && rng.below(2) == 0).then(|| rng.below(200) as u32);
                let args = (0..rng.below(3))
                    .map(|_| {
                        let op = Op::ALL[rng.below(Op::ALL.len())];
                        Arg { index: rng.below(6) as u32, value: rng.value(), value_two: if op == Op::MaskedEq { rng.value() } else { 0 }, op }
                    })
                    .collect();
                rules.push(Syscall { names, action, errno_ret, args });
            }
            let p = Seccomp {
                default_action: actions[rng.below(actions.len())],
                default_errno_ret: None,
                architectures: arches,
                flags: vec![],
                listener_path: None,
                listener_metadata: None,
                syscalls: rules,
            };
            let prog = compile(&p).unwrap();
            let named: Vec<String> = p.syscalls.iter().flat_map(|s| s.names.clone()).collect();
            for _ in 0..300 {
                let arch = Arch::SUPPORTED[rng.below(5)];
                let nr = match rng.below(4) {
                    0 => rng.next() as u32,
                    1 => syscalls::number(arch, &named[rng.below(named.len())]).unwrap_or(7),
                    2 => rng.below(600) as u32 | if arch == Arch::X32 { X32_SYSCALL_BIT } else { 0 },
                    _ => syscalls::number(arch, all_names[rng.below(all_names.len())]).unwrap_or(0),
                };
                let audit = if rng.below(20) == 0 { rng.next() as u32 } else { arch.audit_arch() };
                let mut args = [0u64; 6];
                for a in &mut args {
                    *a = rng.value();
                }
                // Make argument rules match sometimes: copy a rule's value in.
                if let Some(s) = p.syscalls.get(rng.below(p.syscalls.len())) {
                    for a in &s.args {
                        if rng.below(2) == 0 {
                            args[a.index as usize] = if a.op == Op::MaskedEq { a.value_two } else { a.value };
                        }
                    }
                }
                let got = run(&prog.insns, &Data { nr, arch: audit, args });
                let want = reference(&p, audit, nr, args);
                assert_eq!(got, want, "round {round}: {arch} nr={nr:#x} audit={audit:#x} args={args:x?}\n{p:?}");
            }
        }
    }

    #[test]
    fn jump_fixups_handle_exactly_the_8_bit_limit() {
        for gap in [250usize, 254, 255, 256, 257, 300] {
            let mut a = Asm::default();
            let far = a.label();
            let near = a.label();
            a.push(Ins::Ld(OFF_NR));
            a.jmp(BPF_JEQ, 7, far, near);
            a.mark(near);
            for _ in 0..gap {
                a.push(Ins::Ld(OFF_NR));
            }
            a.push(Ins::Ret(1));
            a.mark(far);
            a.push(Ins::Ret(2));
            let p = layout(a.code).unwrap();
            assert_eq!(run(&p, &Data { nr: 7, arch: 0, args: [0; 6] }), 2, "gap {gap}");
            assert_eq!(run(&p, &Data { nr: 8, arch: 0, args: [0; 6] }), 1, "gap {gap}");
        }
    }
}
