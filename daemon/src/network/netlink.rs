//! A minimal rtnetlink client: just the link, address and route messages
//! berth needs (bridge, veth pair, up, master, address, default route,
//! delete). Hand-written rather than a crate because these few fixed
//! messages are smaller than any crate's API, and it builds static for musl.
//!
//! A netlink socket belongs to the network namespace of the thread that
//! opened it, so code that configures a container's netns opens its socket
//! from a thread that has joined that netns (see `netns::run_in`).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;
const NLA_F_NESTED: u16 = 0x8000;
const IFF_UP: u32 = 0x1;

/// One request being built: header, fixed part, attributes.
struct Msg {
    b: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(ty: u16, flags: u16) -> Msg {
        let mut b = Vec::with_capacity(256);
        b.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        b.extend_from_slice(&1u32.to_ne_bytes()); // seq
        b.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        Msg { b, nests: Vec::new() }
    }
    /// struct ifinfomsg
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Msg {
        ifinfo_into(&mut self.b, index, flags, change);
        self
    }
    fn pad(&mut self) {
        while self.b.len() % 4 != 0 {
            self.b.push(0);
        }
    }
    fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Msg {
        self.b.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.b.extend_from_slice(&ty.to_ne_bytes());
        self.b.extend_from_slice(data);
        self.pad();
        self
    }
    fn str(&mut self, ty: u16, s: &str) -> &mut Msg {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v)
    }
    fn u32(&mut self, ty: u16, x: u32) -> &mut Msg {
        self.attr(ty, &x.to_ne_bytes())
    }
    fn begin(&mut self, ty: u16) -> &mut Msg {
        self.nests.push(self.b.len());
        self.b.extend_from_slice(&0u16.to_ne_bytes());
        self.b.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self
    }
    fn end(&mut self) -> &mut Msg {
        let at = self.nests.pop().expect("end without begin");
        let len = (self.b.len() - at) as u16;
        self.b[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }
    fn finish(mut self) -> Vec<u8> {
        let len = self.b.len() as u32;
        self.b[0..4].copy_from_slice(&len.to_ne_bytes());
        self.b
    }
}

fn ifinfo_into(b: &mut Vec<u8>, index: i32, flags: u32, change: u32) {
    b.push(libc::AF_UNSPEC as u8);
    b.push(0);
    b.extend_from_slice(&0u16.to_ne_bytes()); // type
    b.extend_from_slice(&index.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&change.to_ne_bytes());
}

/// A NETLINK_ROUTE socket of the calling thread's network namespace.
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    pub fn open() -> io::Result<Socket> {
        // SAFETY: socket(2) takes no pointers; on success the descriptor is
        // new and owned by nothing else, so OwnedFd may take it.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: see above: fd is a fresh descriptor we own.
        Ok(Socket { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Sends one request and waits for its ack; the kernel's errno becomes the error.
    fn call(&self, m: Msg) -> io::Result<()> {
        let req = m.finish();
        send(self.fd.as_raw_fd(), &req)?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf)?;
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap_or_default()) as usize;
                let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap_or_default());
                if len < 16 || off + len > n {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "truncated netlink reply"));
                }
                if ty == NLMSG_ERROR && len >= 20 {
                    let errno = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap_or_default());
                    return if errno == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-errno)) };
                }
                off += (len + 3) & !3;
            }
        }
    }

    /// `ip link add NAME type bridge mtu MTU`; an existing link is fine.
    pub fn add_bridge(&self, name: &str, mtu: u32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfo(0, 0, 0);
        m.str(IFLA_IFNAME, name).u32(IFLA_MTU, mtu).begin(IFLA_LINKINFO).str(IFLA_INFO_KIND, "bridge").end();
        match self.call(m) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// A veth pair: `host` here, `peer` created directly inside the network
    /// namespace `netns_fd` (so it never appears in the host's namespace),
    /// with the given MAC.
    pub fn add_veth(&self, host: &str, peer: &str, netns_fd: RawFd, mtu: u32, mac: [u8; 6]) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfo(0, 0, 0);
        m.str(IFLA_IFNAME, host).u32(IFLA_MTU, mtu).begin(IFLA_LINKINFO).str(IFLA_INFO_KIND, "veth").begin(IFLA_INFO_DATA).begin(VETH_INFO_PEER);
        ifinfo_into(&mut m.b, 0, 0, 0);
        m.str(IFLA_IFNAME, peer).u32(IFLA_MTU, mtu).attr(IFLA_ADDRESS, &mac).u32(IFLA_NET_NS_FD, netns_fd as u32);
        m.end().end().end();
        self.call(m)
    }

    pub fn set_up(&self, index: u32) -> io::Result<()> {
        self.call(Msg::new(RTM_NEWLINK, 0).ifinfo(index as i32, IFF_UP, IFF_UP))
    }

    pub fn set_master(&self, index: u32, master: u32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0).ifinfo(index as i32, 0, 0);
        m.u32(IFLA_MASTER, master);
        self.call(m)
    }

    /// Deletes a link by name (a veth's peer goes with it); a missing one is fine.
    pub fn del_link(&self, name: &str) -> io::Result<()> {
        let mut m = Msg::new(RTM_DELLINK, 0).ifinfo(0, 0, 0);
        m.str(IFLA_IFNAME, name);
        match self.call(m) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r,
        }
    }

    /// `ip addr add ADDR/PREFIX brd + dev INDEX`; an existing address is fine.
    pub fn add_addr(&self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        m.b.extend_from_slice(&[libc::AF_INET as u8, prefix, 0, 0]);
        m.b.extend_from_slice(&index.to_ne_bytes());
        let bcast = u32::from(addr) | (u32::MAX.checked_shr(prefix as u32).unwrap_or(0));
        m.attr(IFA_LOCAL, &addr.octets()).attr(IFA_ADDRESS, &addr.octets()).attr(IFA_BROADCAST, &bcast.to_be_bytes());
        match self.call(m) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// `ip route add default via GW dev INDEX`.
    pub fn add_default_route(&self, index: u32, gw: Ipv4Addr) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        // rtmsg: family, dst_len 0 (default), src_len, tos, table main,
        // protocol boot, scope universe, type unicast; flags.
        m.b.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0, 254, 3, 0, 1]);
        m.b.extend_from_slice(&0u32.to_ne_bytes());
        m.attr(RTA_GATEWAY, &gw.octets()).u32(RTA_OIF, index);
        self.call(m)
    }
}

/// The index of a link in the calling thread's network namespace.
pub fn index(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in link name"))?;
    // SAFETY: c is a valid NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i)
}

fn send(fd: RawFd, b: &[u8]) -> io::Result<()> {
    // SAFETY: b is a valid buffer of b.len() bytes for the duration of the
    // call; an unbound netlink socket sends to the kernel (port 0).
    let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn recv(fd: RawFd, b: &mut [u8]) -> io::Result<usize> {
    // SAFETY: b is a valid writable buffer of b.len() bytes for the call.
    let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), b.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_have_their_lengths() {
        let mut m = Msg::new(RTM_NEWLINK, 0).ifinfo(0, 0, 0);
        m.str(IFLA_IFNAME, "br").begin(IFLA_LINKINFO).str(IFLA_INFO_KIND, "bridge").end();
        let b = m.finish();
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize, b.len());
        // header 16 + ifinfomsg 16 + "br\0" attr 8 + linkinfo (4 + "bridge\0" 12) 16
        assert_eq!(b.len(), 56);
        let nest = &b[40..44];
        assert_eq!(u16::from_ne_bytes(nest[0..2].try_into().unwrap()), 16);
        assert_eq!(u16::from_ne_bytes(nest[2..4].try_into().unwrap()), IFLA_LINKINFO | NLA_F_NESTED);
    }
}
