//! A real terminal for a CLI under test: `berth run -it` and `attach`
//! put their terminal in raw mode and relay keys, so the tests drive them
//! through a PTY pair, the way a person at a terminal does.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pty {
    master: std::fs::File,
    pub child: Child,
    pub seen: Vec<u8>,
}

impl Pty {
    /// Runs `cmd` with a new PTY's slave as its stdin, stdout and stderr.
    pub fn spawn(mut cmd: Command) -> Pty {
        let p = nix::pty::openpty(None, None).expect("openpty");
        let slave: OwnedFd = p.slave;
        let dup = |f: &OwnedFd| Stdio::from(f.try_clone().unwrap());
        cmd.stdin(dup(&slave)).stdout(dup(&slave)).stderr(dup(&slave));
        let child = cmd.spawn().expect("spawning under a pty");
        drop(slave);
        let master = std::fs::File::from(p.master);
        // Non-blocking, so reads can time out.
        // SAFETY: fcntl on a descriptor we own, setting a flag only.
        unsafe {
            let fl = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(master.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        Pty { master, child, seen: Vec::new() }
    }

    pub fn send(&mut self, b: &[u8]) {
        self.master.write_all(b).unwrap();
    }

    /// Reads until `want` has appeared in the output (or `t` passes).
    pub fn expect(&mut self, want: &str, t: Duration) -> bool {
        let deadline = Instant::now() + t;
        let mut buf = [0u8; 4096];
        loop {
            if String::from_utf8_lossy(&self.seen).contains(want) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            match self.master.read(&mut buf) {
                Ok(0) => std::thread::sleep(Duration::from_millis(20)),
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
                // EIO: every slave is closed (the child is gone).
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return String::from_utf8_lossy(&self.seen).contains(want),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// The child's exit code, waiting at most `t`.
    pub fn wait(&mut self, t: Duration) -> Option<i32> {
        let deadline = Instant::now() + t;
        let mut buf = [0u8; 4096];
        loop {
            while let Ok(n) = self.master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                self.seen.extend_from_slice(&buf[..n]);
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }
}
