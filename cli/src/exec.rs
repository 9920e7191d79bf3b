//! `berth exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] CONTAINER CMD...`
//!
//! Creates the exec, then starts it on a hijacked connection: after the
//! `101 Switching Protocols` the socket is the process's stdin one way and
//! its output the other (raw with -t, docker's 8-byte frames without). The
//! exit code is the process's, read back from `GET /exec/{id}/json`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use lexopt::prelude::*;
use serde_json::{json, Value};

use crate::http::{encode_path, Client};
use crate::usage;

type R = anyhow::Result<i32>;

struct Opts {
    interactive: bool,
    tty: bool,
    detach: bool,
    env: Vec<String>,
    user: Option<String>,
    workdir: Option<String>,
    container: String,
    cmd: Vec<String>,
}

fn parse(mut p: lexopt::Parser) -> anyhow::Result<Opts> {
    let u = |m: String| usage("exec", m);
    let mut o = Opts { interactive: false, tty: false, detach: false, env: vec![], user: None, workdir: None, container: String::new(), cmd: vec![] };
    loop {
        let Some(a) = p.next().map_err(|e| u(e.to_string()))? else { break };
        match a {
            Short('i') | Long("interactive") => o.interactive = true,
            Short('t') | Long("tty") => o.tty = true,
            Short('d') | Long("detach") => o.detach = true,
            Short('e') | Long("env") => o.env.extend(crate::create::env_arg(p.value()?.string()?)),
            Short('u') | Long("user") => o.user = Some(p.value()?.string()?),
            Short('w') | Long("workdir") => o.workdir = Some(p.value()?.string()?),
            Long("privileged") => return Err(u("--privileged is not implemented yet".into())),
            Long("detach-keys") => return Err(u("--detach-keys is not implemented yet".into())),
            Value(v) => {
                o.container = v.string()?;
                for r in p.raw_args()? {
                    o.cmd.push(r.into_string().map_err(|_| u("argument is not UTF-8".into()))?);
                }
                break;
            }
            other => return Err(u(other.unexpected().to_string())),
        }
    }
    if o.container.is_empty() || o.cmd.is_empty() {
        return Err(u("\"berth exec\" requires at least 2 arguments.\n\nUsage:  berth exec [OPTIONS] CONTAINER COMMAND [ARG...]".into()));
    }
    Ok(o)
}

/// The terminal's size, when stdout is one.
fn term_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes a winsize into the live struct we pass.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Puts the local terminal in raw mode (keys go to the container as
/// typed) and restores it on drop.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enter() -> RawMode {
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

pub fn exec(c: &Client, p: lexopt::Parser) -> R {
    let o = parse(p)?;
    let attach = !o.detach;
    let size = if o.tty { term_size() } else { None };
    let mut body = json!({
        "AttachStdin": o.interactive && attach,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Tty": o.tty,
        "Env": o.env,
        "Cmd": o.cmd,
    });
    if let Some(u) = &o.user {
        body["User"] = json!(u);
    }
    if let Some(w) = &o.workdir {
        body["WorkingDir"] = json!(w);
    }
    if let Some((h, w)) = size {
        body["ConsoleSize"] = json!([h, w]);
    }
    let created = c.post_json(&format!("/containers/{}/exec", encode_path(&o.container)), &body)?.ok()?.json()?;
    let id = created["Id"].as_str().unwrap_or_default().to_string();
    if o.detach {
        c.post_json(&format!("/exec/{id}/start"), &json!({"Detach": true, "Tty": o.tty}))?.ok()?;
        return Ok(0);
    }
    let start = json!({"Detach": false, "Tty": o.tty, "ConsoleSize": size.map(|(h, w)| json!([h, w]))}).to_string();
    let mut s = UnixStream::connect(&c.socket)?;
    let req = format!(
        "POST /v1.47/exec/{id}/start HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli/{}\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{start}",
        env!("CARGO_PKG_VERSION"),
        start.len()
    );
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
    }
    if status != 101 {
        let mut rest = String::new();
        let _ = r.read_to_string(&mut rest);
        let m = serde_json::from_str::<Value>(rest.trim()).ok().and_then(|v| v["message"].as_str().map(str::to_string)).unwrap_or(rest);
        anyhow::bail!("Error response from daemon: {}", m.trim());
    }
    let _raw = if o.tty && o.interactive { Some(RawMode::enter()) } else { None };
    if o.interactive {
        let mut w = s.try_clone()?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 32 * 1024];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if w.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
            // EOF on our stdin: the process's stdin closes too.
            let _ = w.shutdown(std::net::Shutdown::Write);
        });
    }
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    if o.tty {
        let mut buf = [0u8; 32 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
            }
        }
    } else {
        let mut h = [0u8; 8];
        while r.read_exact(&mut h).is_ok() {
            let n = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
            let mut data = vec![0u8; n];
            if r.read_exact(&mut data).is_err() {
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
    drop(_raw);
    let v = c.request("GET", &format!("/exec/{id}/json"), &[])?.ok()?.json()?;
    Ok(v["ExitCode"].as_i64().unwrap_or(126) as i32)
}
