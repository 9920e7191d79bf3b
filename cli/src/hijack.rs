//! The CLI's end of a hijacked connection (exec start, attach): the
//! request that asks for `101 Switching Protocols`, then the terminal's
//! stdin one way and the output the other (raw for a TTY, docker's 8-byte
//! frames otherwise), with the local terminal in raw mode for a TTY.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use serde_json::Value;

use crate::http::Client;

/// The terminal's size, when stdout is one.
pub fn term_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes a winsize into the live struct we pass.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Puts the local terminal in raw mode (keys go to the container as
/// typed) and restores it on drop.
pub struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(orig) = nix::sys::termios::tcgetattr(stdin.as_fd()) else { return RawMode(None) };
        let mut raw = orig.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        if nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw).is_err() {
            return RawMode(None);
        }
        RawMode(Some(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin().as_fd(), nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

/// A connection the daemon has switched to a raw pipe.
pub struct Hijacked {
    sock: UnixStream,
    reader: BufReader<UnixStream>,
}

/// Sends `POST path` with `body` asking for the upgrade; an answer other
/// than 101 is the daemon's error.
pub fn upgrade(c: &Client, path: &str, body: &str) -> anyhow::Result<Hijacked> {
    let mut s = UnixStream::connect(&c.socket)?;
    let req = format!(
        "POST /v1.47{path} HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli/{}\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{body}",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut length = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<u64>().ok();
            }
        }
    }
    if status != 101 {
        // The connection stays open (keep-alive): read the body's length, not to EOF.
        let mut rest = String::new();
        let _ = r.by_ref().take(length.unwrap_or(64 * 1024)).read_to_string(&mut rest);
        let m = serde_json::from_str::<Value>(rest.trim()).ok().and_then(|v| v["message"].as_str().map(str::to_string)).unwrap_or(rest);
        anyhow::bail!("Error response from daemon: {}", m.trim());
    }
    Ok(Hijacked { sock: s, reader: r })
}

impl Hijacked {
    /// Copies our stdin in (when `stdin`) and the output out until the
    /// daemon closes the stream. `close_stdin`: our EOF ends the process's
    /// stdin too (exec, `run -i`); otherwise it only stops sending.
    pub fn pump(self, stdin: bool, tty: bool, close_stdin: bool) -> anyhow::Result<()> {
        let Hijacked { sock, mut reader } = self;
        let _raw = if tty && stdin { Some(RawMode::enter()) } else { None };
        if stdin {
            let mut w = sock.try_clone()?;
            std::thread::spawn(move || {
                let mut buf = [0u8; 32 * 1024];
                let mut input = std::io::stdin().lock();
                loop {
                    match input.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if w.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
                if close_stdin {
                    let _ = w.shutdown(std::net::Shutdown::Write);
                }
            });
        }
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
        if tty {
            let mut buf = [0u8; 32 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        out.write_all(&buf[..n])?;
                        out.flush()?;
                    }
                }
            }
        } else {
            let mut h = [0u8; 8];
            while reader.read_exact(&mut h).is_ok() {
                let n = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
                let mut data = vec![0u8; n];
                if reader.read_exact(&mut data).is_err() {
                    break;
                }
                if h[0] == 2 {
                    err.write_all(&data)?;
                } else {
                    out.write_all(&data)?;
                    out.flush()?;
                }
            }
        }
        Ok(())
    }
}
