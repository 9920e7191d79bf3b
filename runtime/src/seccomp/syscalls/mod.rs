//! System call numbers per architecture, generated from the kernel's
//! tables by `scripts/gen-syscalls.py` (never at build time).

mod aarch64;
mod arm;
mod i386;
mod x32;
mod x86_64;

use super::profile::Arch;

fn table(arch: Arch) -> &'static [(&'static str, u32)] {
    match arch {
        Arch::X86_64 => x86_64::TABLE,
        Arch::X86 => i386::TABLE,
        Arch::X32 => x32::TABLE,
        Arch::Aarch64 => aarch64::TABLE,
        Arch::Arm => arm::TABLE,
    }
}

/// The number of `name` on `arch`, as `seccomp_data.nr` shows it (x32
/// numbers include `__X32_SYSCALL_BIT`); `None` when the arch has no such call.
pub fn number(arch: Arch, name: &str) -> Option<u32> {
    let t = table(arch);
    t.binary_search_by(|(n, _)| (*n).cmp(name)).ok().map(|i| t[i].1)
}

/// How many calls the table of `arch` knows (for tests and `--explain`).
pub fn count(arch: Arch) -> usize {
    table(arch).len()
}

/// Every name the table of `arch` knows.
#[cfg(test)]
pub fn names(arch: Arch) -> impl Iterator<Item = &'static str> {
    table(arch).iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        for a in Arch::SUPPORTED {
            let t = table(a);
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "{a:?} table is not sorted");
            assert!(count(a) > 300, "{a:?} table looks truncated");
        }
    }

    #[test]
    fn known_numbers() {
        assert_eq!(number(Arch::X86_64, "read"), Some(0));
        assert_eq!(number(Arch::X86_64, "getpid"), Some(39));
        assert_eq!(number(Arch::X86_64, "unshare"), Some(272));
        assert_eq!(number(Arch::X86, "getpid"), Some(20));
        assert_eq!(number(Arch::X86, "socketcall"), Some(102));
        assert_eq!(number(Arch::X32, "read"), Some(0x4000_0000));
        assert_eq!(number(Arch::X32, "rt_sigaction"), Some(0x4000_0000 + 512));
        assert_eq!(number(Arch::Aarch64, "openat"), Some(56));
        assert_eq!(number(Arch::Aarch64, "getpid"), Some(172));
        assert_eq!(number(Arch::Aarch64, "clone3"), Some(435));
        assert_eq!(number(Arch::Arm, "getpid"), Some(20));
        assert_eq!(number(Arch::Arm, "set_tls"), Some(0x0f_0005));
        // Calls an arch does not have are absent, not zero.
        assert_eq!(number(Arch::Aarch64, "open"), None);
        assert_eq!(number(Arch::X86_64, "socketcall"), None);
        assert_eq!(number(Arch::X86_64, "no_such_call"), None);
    }
}
