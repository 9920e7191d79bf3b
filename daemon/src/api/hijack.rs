//! Hijacked connections (exec start, container attach): after `101
//! Switching Protocols` the HTTP connection is a raw byte pipe. The
//! client's bytes are the process's stdin; the output goes back raw (TTY)
//! or in docker's 8-byte-header frames, which is how the shim already
//! frames it on its attach socket, so frames pass straight through.

use http_body_util::BodyExt;
use hyper::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Body;
use crate::error::{Error, Result};

pub const IN_STDIN: u8 = 0;
pub const IN_RESIZE: u8 = 3;
pub const IN_CLOSE_STDIN: u8 = 4;

pub fn frame(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[kind, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// `[rows, cols]` as a resize frame.
pub fn resize_frame(v: &Value) -> Option<Vec<u8>> {
    let a = v.as_array()?;
    let (h, w) = (a.first()?.as_u64()? as u16, a.get(1)?.as_u64()? as u16);
    if h == 0 || w == 0 {
        return None;
    }
    let mut p = h.to_be_bytes().to_vec();
    p.extend_from_slice(&w.to_be_bytes());
    Some(frame(IN_RESIZE, &p))
}

pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 8];
    r.read_exact(&mut h).await.ok()?;
    let n = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let mut data = vec![0u8; n];
    r.read_exact(&mut data).await.ok()?;
    Some((h[0], data))
}

/// The `101` that hands the connection over.
pub fn switching_protocols(tty: bool) -> Result<hyper::Response<Body>> {
    let ct = if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    hyper::Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "tcp")
        .header(hyper::header::CONTENT_TYPE, ct)
        .header("api-version", super::API_VERSION)
        .body(http_body_util::Empty::new().map_err(|never| match never {}).boxed())
        .map_err(|e| Error::Internal(e.to_string()))
}

/// docker's `--detach-keys`: `ctrl-p,ctrl-q` (the default), `ctrl-a`…`ctrl-z`,
/// `ctrl-@`, `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_`, or single characters.
pub fn detach_keys(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for k in s.split(',') {
        let b = match k.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => {
                let ch = c.as_bytes()[0].to_ascii_lowercase();
                match ch {
                    b'a'..=b'z' => ch - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => return Err(Error::BadParameter(format!("Invalid detach keys ({s}) provided: unknown character {k:?}"))),
                }
            }
            None if k.len() == 1 => k.as_bytes()[0],
            _ => return Err(Error::BadParameter(format!("Invalid detach keys ({s}) provided"))),
        };
        out.push(b);
    }
    Ok(out)
}

/// Finds the detach sequence across reads: bytes that may begin it are
/// held back until it completes (detach) or fails (they are passed on).
#[derive(Debug, Default)]
pub struct DetachScanner {
    keys: Vec<u8>,
    held: usize,
}

impl DetachScanner {
    pub fn new(keys: Vec<u8>) -> DetachScanner {
        DetachScanner { keys, held: 0 }
    }

    /// The bytes to pass on, and whether the sequence completed.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.held]);
                self.held = 0;
                if b == self.keys[0] {
                    self.held = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

pub struct Relay {
    pub tty: bool,
    /// Client bytes go to the process's stdin.
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The process's stdin closes when the client's input ends (exec, `run -i`'s StdinOnce).
    pub close_stdin_on_eof: bool,
    pub detach_keys: Vec<u8>,
    /// Client bytes read before the shim's socket was there.
    pub pending: Vec<u8>,
}

/// Client ⇄ shim until the process's output ends (the shim closes the
/// socket after recording the exit), or the client detaches.
pub async fn relay<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(client: IO, shim: tokio::net::UnixStream, o: Relay) {
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = shim.into_split();
    let (detached_tx, mut detached_rx) = tokio::sync::oneshot::channel::<()>();
    let (stdin, close, tty) = (o.stdin, o.close_stdin_on_eof, o.tty);
    let mut scanner = DetachScanner::new(o.detach_keys);
    let pending = o.pending;
    let input = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        let mut chunk = pending;
        loop {
            if chunk.is_empty() {
                match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        if stdin && close {
                            let _ = sw.write_all(&frame(IN_CLOSE_STDIN, &[])).await;
                        }
                        // The write half is handed back, not dropped: the shim
                        // drops a client whose socket closes, and the output
                        // must keep coming after our stdin ended.
                        return sw;
                    }
                    Ok(n) => chunk = buf[..n].to_vec(),
                }
            }
            let data = std::mem::take(&mut chunk);
            if !stdin {
                continue;
            }
            let (pass, detach) = scanner.feed(&data);
            if !pass.is_empty() && sw.write_all(&frame(IN_STDIN, &pass)).await.is_err() {
                return sw;
            }
            if detach {
                let _ = detached_tx.send(());
                return sw;
            }
        }
    });
    let mut input_done = false;
    loop {
        tokio::select! {
            f = read_frame(&mut sr) => {
                let Some((kind, data)) = f else { break };
                if (kind == 2 && !o.stderr) || (kind != 2 && !o.stdout) {
                    continue;
                }
                let r = if tty { cw.write_all(&data).await } else { cw.write_all(&frame(kind, &data)).await };
                if r.is_err() {
                    break;
                }
                let _ = cw.flush().await;
            }
            r = &mut detached_rx, if !input_done => {
                // Err: the input side ended without detaching; output goes on.
                if r.is_ok() {
                    tracing::debug!("attach client detached");
                    break;
                }
                input_done = true;
            }
        }
    }
    let _ = cw.shutdown().await;
    input.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequences() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(detach_keys("a,ctrl-@,ctrl-_").unwrap(), [b'a', 0, 31]);
        assert!(detach_keys("ctrl-1").is_err());
        assert!(detach_keys("ab").is_err());
        let mut s = DetachScanner::new(vec![16, 17]);
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false), "a possible start is held back");
        assert_eq!(s.feed(b"x"), (b"\x10x".to_vec(), false), "and passed on when it is not the sequence");
        assert_eq!(s.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(s.feed(b"\x11rest"), (vec![], true));
        let mut none = DetachScanner::new(vec![]);
        assert_eq!(none.feed(b"\x10\x11"), (b"\x10\x11".to_vec(), false));
    }
}
