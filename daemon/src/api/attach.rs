//! `POST /containers/{id}/attach` (hijacked, with detach keys) and
//! `POST /containers/{id}/resize`. An attach to a container that is not
//! running yet waits for its start, as `docker run -it` and `start -a`
//! need: they attach first, then start.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::containers::current;
use super::hijack::{detach_keys, relay, resize_frame, switching_protocols, Relay};
use super::{empty, Body, Query};
use crate::error::{Error, Result};
use crate::State;

const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

pub async fn attach(s: Arc<State>, name: &str, q: &Query, mut req: Request<Incoming>) -> Result<hyper::Response<Body>> {
    q.only(&["stream", "stdin", "stdout", "stderr", "logs", "detachKeys"])?;
    if q.flag("logs")? {
        return Err(Error::BadParameter("attach with logs=1 is not implemented: use the logs endpoint".into()));
    }
    if !q.flag("stream")? {
        return Err(Error::BadParameter("attach without stream=1 is not implemented".into()));
    }
    if req.headers().get(hyper::header::UPGRADE).is_none() {
        return Err(Error::BadParameter("attach needs a hijacked connection (Connection: Upgrade, Upgrade: tcp)".into()));
    }
    let keys = detach_keys(q.get("detachKeys").filter(|k| !k.is_empty()).unwrap_or(DEFAULT_DETACH_KEYS))?;
    let c = current(&s, name).await?;
    let tty = c.tty();
    let open_stdin = c.config["OpenStdin"].as_bool().unwrap_or(false);
    let o = Relay {
        tty,
        stdin: q.flag("stdin")? && open_stdin,
        stdout: q.flag("stdout")?,
        stderr: q.flag("stderr")?,
        close_stdin_on_eof: c.config["StdinOnce"].as_bool().unwrap_or(false),
        detach_keys: keys,
        pending: vec![],
    };
    // Registered now, before the 101, so a start that follows at once finds it.
    let waiter = (!c.running()).then(|| s.containers.wait_for_start(&c.id));
    let sock_path = s.containers.attach_socket(&c.id);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let id = c.id.clone();
    tokio::spawn(async move {
        let up = match on_upgrade.await {
            Ok(up) => up,
            Err(e) => return tracing::debug!(error = %e, "attach upgrade failed"),
        };
        let mut client = hyper_util::rt::TokioIo::new(up);
        let mut o = o;
        let sock = match waiter {
            None => tokio::net::UnixStream::connect(&sock_path).await.ok(),
            Some(mut rx) => {
                // Input typed before the start is kept for it; a client that
                // goes away stops the wait.
                // docker's CLI half-closes at once when it attaches no
                // stdin: an EOF only ends the reading, not the wait.
                let mut buf = vec![0u8; 4096];
                let mut eof = false;
                loop {
                    tokio::select! {
                        r = &mut rx => break r.ok().and_then(|s| s.set_nonblocking(true).ok().map(|_| s)).and_then(|s| tokio::net::UnixStream::from_std(s).ok()),
                        n = client.read(&mut buf), if !eof => match n {
                            Ok(0) => eof = true,
                            Err(_) => return,
                            Ok(n) => o.pending.extend_from_slice(&buf[..n]),
                        },
                    }
                }
            }
        };
        match sock {
            Some(sock) => relay(client, sock, o).await,
            None => {
                tracing::debug!(container = %id, "attach: the container did not start");
                let _ = client.shutdown().await;
            }
        }
    });
    switching_protocols(tty)
}

pub async fn resize(s: Arc<State>, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["h", "w"])?;
    let num = |k: &str| -> Result<u64> { q.get(k).unwrap_or("0").parse().map_err(|_| Error::BadParameter(format!("invalid {k}: {:?}", q.get(k)))) };
    let f = resize_frame(&json!([num("h")?, num("w")?])).ok_or_else(|| Error::BadParameter("h and w must be positive".into()))?;
    let c = current(&s, name).await?;
    if !c.running() {
        return Err(Error::Conflict(format!("Container {} is not running", c.id)));
    }
    if !c.tty() {
        // docker answers a resize of a container without a TTY with success and does nothing.
        return Ok(empty(StatusCode::OK));
    }
    let p = s.containers.attach_socket(&c.id);
    let mut sock = tokio::net::UnixStream::connect(&p).await.map_err(|e| Error::io("connecting to", &p, e))?;
    sock.write_all(&f).await.map_err(|e| Error::io("writing to", &p, e))?;
    Ok(empty(StatusCode::OK))
}
