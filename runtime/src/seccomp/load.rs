//! Installing a compiled filter: `seccomp(2)` and its kernel queries, each
//! wrapped once in a small safe function.

use std::os::fd::{FromRawFd, OwnedFd};

use super::bpf::SockFilter;

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
pub const FLAG_TSYNC_ESRCH: u32 = 1 << 4;

/// `struct sock_fprog` of linux/filter.h.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const SockFilter,
}

/// Installs `prog` on the calling thread (all threads with TSYNC). With
/// FLAG_NEW_LISTENER the kernel returns the notification fd.
pub fn install(prog: &[SockFilter], flags: u32) -> std::io::Result<Option<OwnedFd>> {
    let fprog = SockFprog { len: prog.len() as libc::c_ushort, filter: prog.as_ptr() };
    // SAFETY: the kernel reads `len` instructions through `filter`, which
    // points into `prog`, alive and unchanged for the duration of the call;
    // `fprog` is a live `struct sock_fprog`. Nothing is written to our memory.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags as libc::c_uint, &fprog as *const SockFprog) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if flags & FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the return value is a new fd that only we own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }));
    }
    Ok(None)
}

/// Whether the running kernel knows the return action `ret` (its top 16 bits).
pub fn action_available(ret: u32) -> bool {
    let action: u32 = ret & 0xffff_0000;
    // SAFETY: GET_ACTION_AVAIL reads one u32 through the pointer, which
    // points to a live stack value; flags must be 0.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0 as libc::c_uint, &action as *const u32) };
    r == 0
}

/// Whether the running kernel accepts filter flag `bit`: with a NULL
/// program it checks the flags first (EINVAL when unknown), then fails to
/// read the program (EFAULT). Nothing is installed either way.
pub fn flag_supported(bit: u32) -> bool {
    // The kernel takes WAIT_KILLABLE_RECV only together with NEW_LISTENER.
    let bit = if bit == super::Flag::WaitKillableRecv.bit() { bit | FLAG_NEW_LISTENER } else { bit };
    // SAFETY: a NULL program pointer is never dereferenced by us; the
    // kernel reports EFAULT for it after validating the flags.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, bit as libc::c_uint, std::ptr::null::<SockFprog>()) };
    r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}
