//! A blocking HTTP/1.1 client over the daemon's Unix socket: one request per
//! connection (`Connection: close`), bodies by Content-Length, chunked, or
//! to EOF. Enough for a CLI; no async runtime.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Cannot connect to the berth daemon at unix://{}. Is berthd running?", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("talking to the daemon")]
    Io(#[from] io::Error),
    #[error("malformed response from the daemon: {0}")]
    Protocol(String),
    #[error("Error response from daemon: {0}")]
    Daemon(String),
}

pub struct Response {
    pub status: u16,
    pub body: Box<dyn BufRead>,
}

impl Response {
    pub fn text(mut self) -> Result<String, Error> {
        let mut s = String::new();
        self.body.read_to_string(&mut s)?;
        Ok(s)
    }

    pub fn json(self) -> Result<serde_json::Value, Error> {
        let t = self.text()?;
        serde_json::from_str(&t).map_err(|e| Error::Protocol(format!("{e}: {}", t.chars().take(200).collect::<String>())))
    }

    /// Turns a non-2xx answer into the daemon's `{"message"}`.
    pub fn ok(self) -> Result<Response, Error> {
        // 304: already started / already stopped, which docker's CLI takes as done.
        if (200..300).contains(&self.status) || self.status == 304 {
            return Ok(self);
        }
        let status = self.status;
        let t = self.text()?;
        let msg = serde_json::from_str::<serde_json::Value>(&t).ok().and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string)).unwrap_or_else(|| format!("status {status}: {}", t.trim()));
        Err(Error::Daemon(msg))
    }
}

pub struct Client {
    pub socket: PathBuf,
}

/// Path-segment encoding for image names (`/`, `:` and `@` stay).
pub fn encode_path(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

pub fn encode_query(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client { socket: socket.to_path_buf() }
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, String)]) -> Result<Response, Error> {
        self.request_body(method, path, headers, None)
    }

    /// A POST with a JSON body.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Response, Error> {
        self.request_body("POST", path, &[("Content-Type", "application/json".to_string())], Some(body.to_string().as_bytes()))
    }

    pub fn request_body(&self, method: &str, path: &str, headers: &[(&str, String)], body: Option<&[u8]>) -> Result<Response, Error> {
        let mut s = self.connect()?;
        let mut req = self.head(method, path, headers);
        if let Some(b) = body {
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        } else if method == "POST" || method == "PUT" {
            req.push_str("Content-Length: 0\r\n");
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        if let Some(b) = body {
            s.write_all(b)?;
        }
        read_response(method, s)
    }

    /// A request whose body is read from `body` to its end and sent chunked
    /// (`load` from a pipe: its length is not known up front). If the daemon
    /// answers early, refusing the archive, its answer is what is returned.
    pub fn request_stream(&self, method: &str, path: &str, headers: &[(&str, String)], body: &mut dyn Read) -> Result<Response, Error> {
        let mut s = self.connect()?;
        let mut req = self.head(method, path, headers);
        req.push_str("Transfer-Encoding: chunked\r\n\r\n");
        s.write_all(req.as_bytes())?;
        let sent = (|| -> io::Result<()> {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = body.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                s.write_all(format!("{n:x}\r\n").as_bytes())?;
                s.write_all(&buf[..n])?;
                s.write_all(b"\r\n")?;
            }
            s.write_all(b"0\r\n\r\n")
        })();
        match (sent, read_response(method, s)) {
            (_, Ok(r)) if r.status >= 400 => Ok(r),
            (Err(e), _) => Err(Error::Io(e)),
            (Ok(()), r) => r,
        }
    }

    fn connect(&self) -> Result<UnixStream, Error> {
        UnixStream::connect(&self.socket).map_err(|source| Error::Connect { path: self.socket.clone(), source })
    }

    fn head(&self, method: &str, path: &str, headers: &[(&str, String)]) -> String {
        let mut req = format!("{method} /v1.47{path} HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli/{}\r\nConnection: close\r\n", env!("CARGO_PKG_VERSION"));
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req
    }
}

fn read_response(method: &str, s: UnixStream) -> Result<Response, Error> {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| Error::Protocol(format!("status line {line:?}")))?;
    let (mut chunked, mut length) = (false, None);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(Error::Protocol("headers cut short".into()));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse::<u64>().ok();
            }
        }
    }
    let body: Box<dyn BufRead> = if method == "HEAD" || status == 204 || status == 304 {
        Box::new(io::empty())
    } else if chunked {
        Box::new(BufReader::new(Chunked { inner: r, left: 0, done: false }))
    } else if let Some(n) = length {
        Box::new(BufReader::new(r.take(n)))
    } else {
        Box::new(r)
    };
    Ok(Response { status, body })
}

/// `Transfer-Encoding: chunked`, decoded as it arrives (pull progress).
struct Chunked<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.inner.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = u64::from_str_radix(size, 16).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "response cut short"));
        }
        self.left -= n as u64;
        if self.left == 0 {
            let mut crlf = String::new();
            self.inner.read_line(&mut crlf)?;
        }
        Ok(n)
    }
}
