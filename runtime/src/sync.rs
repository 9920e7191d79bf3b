//! The channel between the runtime and the container's init while it is
//! being created: a `SOCK_SEQPACKET` socketpair, so each message is one
//! datagram and a dead peer reads as end-of-file.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

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

    /// Receives one message; end-of-file means the peer died.
    pub fn recv(&self) -> Result<Msg> {
        let mut buf = vec![0u8; 8192];
        let n = loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::Error::EINTR) => continue,
                r => break r.ctx(|| "reading from the sync socket".into())?,
            }
        };
        if n == 0 {
            return Err(Error::Init("exited before it finished (see the messages above, or run with --debug)".into()));
        }
        let s = String::from_utf8_lossy(&buf[..n]);
        Msg::decode(&s).ok_or_else(|| Error::Other(format!("unexpected sync message {s:?}")))
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
        for m in [Msg::InitPid(42, true), Msg::InitPid(3, false), Msg::WantIdMaps(7), Msg::Go, Msg::RuntimeHooks, Msg::Created, Msg::Fail("mount proc: EPERM".into())] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), m);
        }
        drop(a);
        assert!(b.recv().is_err());
    }
}
