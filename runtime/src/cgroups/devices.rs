//! Which devices a container may open or create.
//!
//! The rules are config.json's `linux.resources.devices`, applied in order
//! after an implicit "deny everything", followed by the devices every
//! container needs (runc's default list) and the devices `linux.devices`
//! creates. The last rule that matches an access decides it.
//!
//! cgroup v1 has files for this (`devices.allow`, `devices.deny`). cgroup
//! v2 has none: the only device control is an eBPF program of type
//! BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup, which the kernel
//! runs on every open and mknod of a device node. `program` compiles the
//! same rules into one.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::explain;
use crate::spec::{Device, DeviceRule};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// 'a' (all), 'c' or 'b'.
    pub typ: char,
    /// None is the `*` wildcard.
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Some of "rwm".
    pub access: String,
}

impl Rule {
    fn new(allow: bool, typ: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
        Rule { allow, typ, major, minor, access: access.into() }
    }

    /// The line `devices.allow`/`devices.deny` take: `c 1:3 rwm`, or `a`.
    pub fn v1_line(&self) -> String {
        if self.typ == 'a' && self.major.is_none() && self.minor.is_none() && self.access == "rwm" {
            return "a".into();
        }
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        format!("{} {}:{} {}", self.typ, n(self.major), n(self.minor), self.access)
    }
}

/// What runc allows every container (libcontainer/specconv's AllowedDevices):
/// mknod of anything (the node is useless without read/write permission),
/// and the character devices a program expects to find in /dev.
fn defaults() -> Vec<Rule> {
    let c = |maj, min: Option<i64>| Rule::new(true, 'c', Some(maj), min, "rwm");
    vec![
        Rule::new(true, 'c', None, None, "m"),
        Rule::new(true, 'b', None, None, "m"),
        c(1, Some(3)),   // null
        c(1, Some(8)),   // random
        c(1, Some(7)),   // full
        c(5, Some(0)),   // tty
        c(1, Some(5)),   // zero
        c(1, Some(9)),   // urandom
        c(5, Some(1)),   // console
        c(136, None),    // pts/*
        c(5, Some(2)),   // ptmx
    ]
}

/// Checks and converts config.json's rules; a bad type or access is an error.
pub fn parse_rule(i: usize, r: &DeviceRule) -> Result<Rule> {
    let field = format!("linux.resources.devices[{i}]");
    let typ = match r.typ.as_deref().unwrap_or("a") {
        "a" => 'a',
        "c" => 'c',
        "b" => 'b',
        t => return Err(Error::Usage(format!("{field}.type {t:?}: expected a, c or b"))),
    };
    let access = r.access.clone().unwrap_or_else(|| "rwm".into());
    if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(Error::Usage(format!("{field}.access {access:?}: expected some of r, w, m")));
    }
    let wild = |v: Option<i64>| v.filter(|v| *v >= 0);
    Ok(Rule { allow: r.allow, typ, major: wild(r.major), minor: wild(r.minor), access })
}

/// The full, ordered rule list for a container.
pub fn effective(rules: &[DeviceRule], created: &[Device]) -> Result<Vec<Rule>> {
    let mut out = vec![Rule::new(false, 'a', None, None, "rwm")];
    for (i, r) in rules.iter().enumerate() {
        out.push(parse_rule(i, r)?);
    }
    let given = out.clone();
    out.extend(defaults());
    for d in created {
        if let Some(t) = d.typ.chars().next().filter(|t| *t == 'c' || *t == 'b' || *t == 'u') {
            let t = if t == 'u' { 'c' } else { t };
            // A rule of the config's own for exactly this node says what it
            // may do (docker's `--device /dev/x:r`); otherwise a created
            // device is usable.
            if given.iter().any(|r| r.typ == t && r.major == Some(d.major) && r.minor == Some(d.minor)) {
                continue;
            }
            out.push(Rule::new(true, t, Some(d.major), Some(d.minor), "rwm"));
        }
    }
    Ok(out)
}

/// Whether `rules` let an access through: the reference semantics, used by
/// the tests to check the v1 lines and the eBPF program agree with it.
pub fn allows(rules: &[Rule], typ: char, major: i64, minor: i64, access: char) -> bool {
    let mut allowed = false;
    for r in rules {
        let t = r.typ == 'a' || r.typ == typ;
        let ma = r.major.map_or(true, |m| m == major);
        let mi = r.minor.map_or(true, |m| m == minor);
        if t && ma && mi && r.access.contains(access) {
            allowed = r.allow;
        }
    }
    allowed
}

/// cgroup v1: deny everything, then replay the rules in order.
pub fn apply_v1(dir: &Path, rules: &[Rule]) -> Result<()> {
    for r in rules {
        let file = dir.join(if r.allow { "devices.allow" } else { "devices.deny" });
        let line = r.v1_line();
        explain::step("runtime", format!("write {line:?} to {}", file.display()), "the v1 devices controller checks every open and mknod of a device node");
        std::fs::write(&file, &line).map_err(|e| Error::io(format!("writing {line:?} to {}", file.display()), e))?;
    }
    Ok(())
}

// ---- cgroup v2: an eBPF program -------------------------------------------

/// One eBPF instruction, as `struct bpf_insn` lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU32_MOV_K: u8 = 0xb4;
const JNE_K: u8 = 0x55;
const JEQ_K: u8 = 0x15;
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | dst, off, imm }
}

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }:
// access_type is (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
fn access_bits(a: &str) -> i32 {
    a.chars().map(|c| match c { 'm' => 1, 'r' => 2, 'w' => 4, _ => 0 }).fold(0, |x, y| x | y)
}

/// Compiles the rules. Registers: r2 = type, r3 = access, r4 = major,
/// r5 = minor. The rules are tested last first, so the first match is the
/// last rule that matches, and it returns 1 (allow) or 0 (deny).
///
/// An allow rule matches when every requested access bit is in the rule; a
/// deny rule when any is (a deny of "w" stops an open for "rw"). The kernel
/// asks one access at a time for opens (read and write are separate bits
/// set together), so this matches v1's behaviour.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut block = Vec::new();
        // Each conditional jump skips to the end of this block; offsets are
        // patched once the block's length is known (the `off` holds a mark).
        if r.typ != 'a' {
            block.push(insn(JNE_K, 2, 0, -1, if r.typ == 'b' { DEV_BLOCK } else { DEV_CHAR }));
        }
        let acc = access_bits(&r.access);
        if acc != 7 {
            block.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            if r.allow {
                // Requested bits outside the rule: no match.
                block.push(insn(ALU32_AND_K, 1, 0, 0, !acc & 7));
                block.push(insn(JNE_K, 1, 0, -1, 0));
            } else {
                // No requested bit inside the rule: no match.
                block.push(insn(ALU32_AND_K, 1, 0, 0, acc));
                block.push(insn(JEQ_K, 1, 0, -1, 0));
            }
        }
        if let Some(m) = r.major {
            block.push(insn(JNE_K, 4, 0, -1, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_K, 5, 0, -1, m as i32));
        }
        block.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        let mut conditional = false;
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.off == -1 {
                ins.off = (len - i - 1) as i16;
                conditional = true;
            }
        }
        p.extend(block);
        // A rule that matches everything decides every access: the kernel's
        // verifier refuses the unreachable code that would follow it.
        if !conditional {
            return p;
        }
    }
    p.push(insn(ALU32_MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The leading fields of `union bpf_attr` for BPF_PROG_LOAD; the kernel
/// accepts a shorter attr than its own as long as the rest would be zero.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// bpf(2) with an attr struct of ours.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly sized #[repr(C)] prefix of union
    // bpf_attr for `cmd`; the kernel reads (and may write) only that many bytes.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T as *mut libc::c_void, std::mem::size_of::<T>() as libc::c_uint) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Loads `prog` into the kernel; the verifier's log comes back on failure.
pub fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 64 * 1024];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: BPF_PROG_LOAD returned a new fd that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            let vlog = String::from_utf8_lossy(&log[..end]);
            Err(Error::Other(format!("loading the cgroup device eBPF program ({} instructions): {e}{}{vlog}", prog.len(), if vlog.is_empty() { "" } else { "\nverifier: " })))
        }
    }
}

/// Attaches a loaded program to the cgroup directory. With ALLOW_MULTI a
/// parent's programs keep running too: a device must pass all of them.
pub fn attach(cgroup_dir: &Path, prog: &OwnedFd) -> Result<()> {
    let dir = std::fs::File::open(cgroup_dir).map_err(|e| Error::io(format!("opening {}", cgroup_dir.display()), e))?;
    let mut attr = ProgAttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| Error::io(format!("attaching the device eBPF program to {}", cgroup_dir.display()), e))?;
    Ok(())
}

/// cgroup v2: compile, load, attach. The program lives as long as the
/// cgroup it is attached to; removing the cgroup frees it.
pub fn apply_v2(dir: &Path, rules: &[Rule]) -> Result<()> {
    let prog = program(rules);
    explain::step(
        "runtime",
        format!("bpf(BPF_PROG_LOAD, CGROUP_DEVICE, {} insns) + bpf(BPF_PROG_ATTACH, {})", prog.len(), dir.display()),
        "cgroup v2 controls devices only through an eBPF program run on every open and mknod",
    );
    let fd = load(&prog)?;
    attach(dir, &fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a compiled program over one access, as the kernel would (only
    /// the instructions `program` emits).
    fn run(p: &[Insn], typ: i32, access: i32, major: u32, minor: u32) -> u32 {
        let ctx = [((access << 16) | typ) as u32, major, minor];
        let mut r = [0u32; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = ctx[i.off as usize / 4],
                ALU32_AND_K => r[dst] &= i.imm as u32,
                ALU32_RSH_K => r[dst] >>= i.imm as u32,
                ALU32_MOV_X => r[dst] = r[src],
                ALU32_MOV_K => r[dst] = i.imm as u32,
                JNE_K => {
                    if r[dst] != i.imm as u32 {
                        pc += i.off as usize
                    }
                }
                JEQ_K => {
                    if r[dst] == i.imm as u32 {
                        pc += i.off as usize
                    }
                }
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn rules(json: &str) -> Vec<Rule> {
        let spec: Vec<DeviceRule> = serde_json::from_str(json).unwrap();
        effective(&spec, &[]).unwrap()
    }

    #[test]
    fn v1_lines() {
        let r = rules(r#"[{"allow":true,"type":"c","major":10,"minor":200,"access":"rw"}]"#);
        let lines: Vec<String> = r.iter().map(|r| r.v1_line()).collect();
        assert_eq!(lines[0], "a", "deny everything first");
        assert_eq!(lines[1], "c 10:200 rw");
        assert!(lines.contains(&"c 136:* rwm".to_string()));
        assert!(lines.contains(&"b *:* m".to_string()));
    }

    #[test]
    fn program_agrees_with_the_rules() {
        let r = rules(
            r#"[{"allow":false,"access":"rwm"},
               {"allow":true,"type":"b","major":8,"minor":0,"access":"r"},
               {"allow":true,"type":"c","major":10,"access":"rwm"},
               {"allow":false,"type":"c","major":10,"minor":229,"access":"w"}]"#,
        );
        let p = program(&r);
        for (typ, t) in [('c', DEV_CHAR), ('b', DEV_BLOCK)] {
            for (major, minor) in [(1, 3), (1, 9), (8, 0), (8, 1), (10, 200), (10, 229), (136, 4), (5, 2), (4, 1)] {
                for (acc, a) in [('r', 2), ('w', 4), ('m', 1)] {
                    let want = allows(&r, typ, major, minor, acc);
                    let got = run(&p, t, a, major as u32, minor as u32) == 1;
                    assert_eq!(got, want, "{typ} {major}:{minor} {acc}");
                }
            }
        }
        assert!(allows(&r, 'c', 1, 3, 'w'), "/dev/null is a default");
        assert!(!allows(&r, 'c', 10, 229, 'w'), "a later deny wins");
        assert!(allows(&r, 'c', 10, 229, 'r'));
        assert!(allows(&r, 'b', 8, 0, 'r') && !allows(&r, 'b', 8, 0, 'w'));
        assert!(!allows(&r, 'c', 4, 1, 'r'), "not listed: denied");
        // An open for read+write asks both bits at once.
        assert_eq!(run(&p, DEV_CHAR, 6, 10, 229), 0, "rw open of a write-denied device");
        assert_eq!(run(&p, DEV_BLOCK, 6, 8, 0), 0, "rw open of a read-only device");
    }

    #[test]
    fn nothing_follows_a_catch_all_rule() {
        let r = rules("[]");
        let p = program(&r);
        // The implicit deny-all comes first, so it is tested last, and unconditionally.
        assert_eq!(p[p.len() - 2], insn(ALU32_MOV_K, 0, 0, 0, 0));
        assert_eq!(p.iter().filter(|i| i.code == EXIT).count(), r.len(), "one exit per rule, no unreachable default");
    }

    #[test]
    fn privileged_allows_everything() {
        let r = rules(r#"[{"allow":true,"access":"rwm"}]"#);
        assert_eq!(run(&program(&r), DEV_BLOCK, 6, 8, 0), 1);
        assert!(allows(&r, 'b', 8, 0, 'w'));
    }

    #[test]
    fn created_devices_are_usable_unless_a_rule_of_the_config_says_otherwise() {
        let spec: Vec<DeviceRule> = serde_json::from_str(r#"[{"allow":true,"type":"c","major":10,"minor":229,"access":"r"}]"#).unwrap();
        let created: Vec<crate::spec::Device> = serde_json::from_str(r#"[{"type":"c","path":"/dev/fuse","major":10,"minor":229},{"type":"c","path":"/dev/kvm","major":10,"minor":232}]"#).unwrap();
        let r = effective(&spec, &created).unwrap();
        assert!(allows(&r, 'c', 10, 229, 'r') && !allows(&r, 'c', 10, 229, 'w'), "the config's r holds");
        assert!(allows(&r, 'c', 10, 232, 'w'), "a created device without a rule is usable");
    }

    #[test]
    fn bad_rules_are_refused() {
        let spec: Vec<DeviceRule> = serde_json::from_str(r#"[{"allow":true,"type":"x"}]"#).unwrap();
        assert!(effective(&spec, &[]).is_err());
        let spec: Vec<DeviceRule> = serde_json::from_str(r#"[{"allow":true,"access":"rwx"}]"#).unwrap();
        assert!(effective(&spec, &[]).is_err());
    }
}
