//! The channel between the runtime and the container's init while it is
//! being created: a `SOCK_SEQPACKET` socketpair, so each message is one
//! datagram and a dead peer reads as end-of-file.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, send, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType};

use crate::error::{Context, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// The intermediate process reports the pid of init, as seen from the
    /// runtime, and whether init was born in its cgroup2 directory.
    InitPid(i32, bool),
    /// The intermediate process unshared a user namespace and waits for its id maps.
    WantIdMaps(i32),
    /// The runtime wrote the id maps / placed the cgroup / ran a hook; go on.
    Go,
    /// Init mounted everything and waits for createRuntime/prestart hooks.
    RuntimeHooks,
    /// Init finished setting up and waits for `start`.
    Created,
    /// An exec'd process installed its seccomp filter; the listener fd
    /// for the agent comes with this message (SCM_RIGHTS).
    SeccompListener,
    /// Something failed; the text says what.
    Fail(String),
}

impl Msg {
    fn encode(&self) -> String {
        match self {
            Msg::InitPid(p, placed) => format!("pid {p} {}", u8::from(*placed)),
            Msg::WantIdMaps(p) => format!("idmap {p}"),
            Msg::Go => "go".into(),
            Msg::RuntimeHooks => "hooks".into(),
            Msg::Created => "created".into(),
            Msg::SeccompListener => "seccomp".into(),
            Msg::Fail(s) => format!("fail {s}"),
        }
    }

    fn decode(s: &str) -> Option<Msg> {
        let (verb, rest) = s.split_once(' ').unwrap_or((s, ""));
        Some(match verb {
            "pid" => {
                let (p, placed) = rest.split_once(' ')?;
                Msg::InitPid(p.parse().ok()?, placed == "1")
            }
            "idmap" => Msg::WantIdMaps(rest.parse().ok()?),
            "go" => Msg::Go,
            "hooks" => Msg::RuntimeHooks,
            "created" => Msg::Created,
            "seccomp" => Msg::SeccompListener,
            "fail" => Msg::Fail(rest.to_string()),
            _ => return None,
        })
    }
}

pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .ctx(|| "creating the sync socketpair".into())?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn send(&self, m: &Msg) -> Result<()> {
        send(self.fd.as_raw_fd(), m.encode().as_bytes(), MsgFlags::MSG_NOSIGNAL).ctx(|| "writing to the sync socket".into())?;
        Ok(())
    }

    /// Sends `m` with `fd` attached.
    pub fn send_fd(&self, m: &Msg, fd: BorrowedFd) -> Result<()> {
        let body = m.encode();
        let fds = [fd.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [std::io::IoSlice::new(body.as_bytes())];
        sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None).ctx(|| "writing to the sync socket".into())?;
        Ok(())
    }

    /// Receives one message; end-of-file means the peer died.
    pub fn recv(&self) -> Result<Msg> {
        Ok(self.recv_fd()?.0)
    }

    /// Receives one message and the fd sent with it, if any.
    pub fn recv_fd(&self) -> Result<(Msg, Option<OwnedFd>)> {
        let mut buf = vec![0u8; 8192];
        let (n, fd) = loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 1]);
            match recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                Err(nix::Error::EINTR) => continue,
                r => {
                    let msg = r.ctx(|| "reading from the sync socket".into())?;
                    let mut fd = None;
                    for c in msg.cmsgs().ctx(|| "reading control messages".into())? {
                        if let ControlMessageOwned::ScmRights(v) = c {
                            for raw in v {
                                // SAFETY: the kernel just installed this fd in our table; nobody else owns it.
                                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                                fd.get_or_insert(owned);
                            }
                        }
                    }
                    break (msg.bytes, fd);
                }
            }
        };
        if n == 0 {
            return Err(Error::Init("exited before it finished (see the messages above, or run with --debug)".into()));
        }
        let s = String::from_utf8_lossy(&buf[..n]);
        let m = Msg::decode(&s).ok_or_else(|| Error::Other(format!("unexpected sync message {s:?}")))?;
        Ok((m, fd))
    }

    /// Waits for exactly `want`; a `Fail` from the peer becomes the error.
    pub fn expect(&self, want: &Msg) -> Result<()> {
        match self.recv()? {
            m if &m == want => Ok(()),
            Msg::Fail(s) => Err(Error::Init(s)),
            m => Err(Error::Other(format!("sync: expected {want:?}, got {m:?}"))),
        }
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let (a, b) = Channel::pair().unwrap();
        for m in [Msg::InitPid(42, true), Msg::InitPid(3, false), Msg::WantIdMaps(7), Msg::Go, Msg::RuntimeHooks, Msg::Created, Msg::SeccompListener, Msg::Fail("mount proc: EPERM".into())] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), m);
        }
        drop(a);
        assert!(b.recv().is_err());
    }

    #[test]
    fn fds_travel_with_messages() {
        let (a, b) = Channel::pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        a.send_fd(&Msg::SeccompListener, r.as_fd()).unwrap();
        let (m, fd) = b.recv_fd().unwrap();
        assert_eq!(m, Msg::SeccompListener);
        nix::unistd::write(&w, b"x").unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(nix::unistd::read(fd.unwrap().as_raw_fd(), &mut buf).unwrap(), 1);
    }
}
