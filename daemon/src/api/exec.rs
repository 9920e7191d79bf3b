//! `/containers/{id}/exec` and `/exec/{id}/...`: create, start (hijacked
//! as dockerd does it), inspect, resize.
//!
//! A hijacked start answers `101 Switching Protocols` and then the HTTP
//! connection is a raw byte pipe: the client's bytes are the process's
//! stdin, and the process's output comes back either raw (TTY) or in
//! docker's 8-byte-header frames. The exec's shim already frames output
//! that way on its attach socket, so berthd passes frames through.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::containers::current;
use super::{empty, json, stream_as, Body, Query};
use crate::containers::exec::Exec;
use crate::error::{Error, Result};
use crate::State;

use super::hijack::{frame, read_frame, relay, resize_frame, switching_protocols, Relay};

/// The command of an exec as docker's event names it (`exec_start: sh -c true`).
fn exec_cmdline(config: &Value) -> String {
    config["Cmd"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

pub async fn create(s: Arc<State>, name: &str, body: Bytes) -> Result<hyper::Response<Body>> {
    let c = current(&s, name).await?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| Error::BadParameter(format!("invalid exec config: {e}")))?;
    let obj = v.as_object().ok_or_else(|| Error::BadParameter("invalid exec config: expected an object".into()))?;
    for (k, val) in obj {
        let unset = val.is_null() || val == &json!(false) || val == &json!("") || val == &json!([]);
        match k.as_str() {
            "AttachStdin" | "AttachStdout" | "AttachStderr" | "Tty" | "Env" | "Cmd" | "User" | "WorkingDir" | "ConsoleSize" => {}
            "Privileged" if unset => {}
            "Privileged" => return Err(Error::BadParameter("exec --privileged is not implemented yet".into())),
            "DetachKeys" if unset => {}
            "DetachKeys" => return Err(Error::BadParameter("exec detach keys are not implemented yet".into())),
            _ if unset => {}
            other => return Err(Error::BadParameter(format!("exec config {other} is not implemented yet (given {val})"))),
        }
    }
    let cmd = v["Cmd"].as_array().filter(|a| !a.is_empty()).ok_or_else(|| Error::BadParameter("No exec command specified".into()))?;
    if cmd.iter().any(|x| !x.is_string()) || v["Env"].as_array().is_some_and(|e| e.iter().any(|x| !x.is_string())) {
        return Err(Error::BadParameter("exec Cmd and Env must be lists of strings".into()));
    }
    if let Some(w) = v["WorkingDir"].as_str().filter(|w| !w.is_empty()) {
        if !w.starts_with('/') {
            return Err(Error::BadParameter(format!("the working directory '{w}' is invalid, it needs to be an absolute path")));
        }
    }
    let x = s.containers.exec_create(&c, v.clone())?;
    s.containers.emit(&c, &format!("exec_create: {}", exec_cmdline(&v)), &[("execID", x.id.clone())]);
    tracing::info!(container = %c.id, exec = %x.id, "exec created");
    Ok(json(StatusCode::CREATED, &json!({"Id": x.id})))
}

pub fn inspect(s: &State, id: &str) -> Result<hyper::Response<Body>> {
    let x = s.containers.exec_get(id)?;
    Ok(json(StatusCode::OK, &x.inspect()))
}

pub async fn resize(s: &State, id: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["h", "w"])?;
    let x = s.containers.exec_get(id)?;
    let num = |k: &str| -> Result<u64> { q.get(k).unwrap_or("0").parse().map_err(|_| Error::BadParameter(format!("invalid {k}: {:?}", q.get(k)))) };
    let f = resize_frame(&json!([num("h")?, num("w")?])).ok_or_else(|| Error::BadParameter("h and w must be positive".into()))?;
    if !x.running() {
        return Err(Error::Conflict(format!("exec {} is not running", x.id)));
    }
    send_to_shim(&x, &f).await?;
    Ok(empty(StatusCode::OK))
}

async fn send_to_shim(x: &Exec, f: &[u8]) -> Result<()> {
    let p = x.attach_path();
    let mut sock = tokio::net::UnixStream::connect(&p).await.map_err(|e| Error::io("connecting to", &p, e))?;
    sock.write_all(f).await.map_err(|e| Error::io("writing to", &p, e))
}

pub async fn start(s: Arc<State>, id: &str, mut req: Request<Incoming>) -> Result<hyper::Response<Body>> {
    let x = s.containers.exec_get(id)?;
    let upgrade = req.headers().get(hyper::header::UPGRADE).is_some();
    let on_upgrade = hyper::upgrade::on(&mut req);
    let body = req.into_body().collect().await.map_err(|e| Error::BadParameter(format!("reading the body: {e}")))?.to_bytes();
    let v: Value = if body.is_empty() { json!({}) } else { serde_json::from_slice(&body).map_err(|e| Error::BadParameter(format!("invalid exec start config: {e}")))? };
    let c = current(&s, &x.container_id).await?;
    if v["Detach"].as_bool().unwrap_or(false) {
        if let Err(e) = s.containers.exec_spawn(&c, &x, false).await {
            if let Error::ExecFailed(m) = &e {
                s.containers.exec_failed(&x, m);
            }
            return Err(e);
        }
        tracing::info!(exec = %x.id, "exec started, detached");
        s.containers.emit(&c, &format!("exec_start: {}", exec_cmdline(&x.config)), &[("execID", x.id.clone())]);
        return Ok(empty(StatusCode::OK));
    }
    let out = s.containers.exec_spawn(&c, &x, true).await?.ok_or_else(|| Error::Internal("exec shim without a ready line".into()))?;
    let p = x.attach_path();
    let mut sock = tokio::net::UnixStream::connect(&p).await.map_err(|e| Error::io("connecting to", &p, e))?;
    let dir = x.dir.clone();
    let ready = tokio::task::spawn_blocking(move || crate::containers::exec::exec_ready(out, &dir)).await.map_err(|e| Error::Internal(e.to_string()))?;
    let failure = match ready {
        Ok(pid) => {
            tracing::info!(exec = %x.id, pid, "exec started");
            s.containers.emit(&c, &format!("exec_start: {}", exec_cmdline(&x.config)), &[("execID", x.id.clone())]);
            if let Some(f) = resize_frame(&v["ConsoleSize"]).or_else(|| resize_frame(&x.config["ConsoleSize"])) {
                let _ = sock.write_all(&f).await;
            }
            None
        }
        Err(Error::ExecFailed(m)) => {
            s.containers.exec_failed(&x, &m);
            Some(format!("OCI runtime exec failed: {m}\n"))
        }
        Err(e) => return Err(e),
    };
    let (tty, stdin) = (x.tty(), x.stdin());
    let ct = if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    if upgrade {
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(up) => {
                    let mut client = hyper_util::rt::TokioIo::new(up);
                    if let Some(m) = failure {
                        let _ = client.write_all(&if tty { m.into_bytes() } else { frame(2, m.as_bytes()) }).await;
                        let _ = client.shutdown().await;
                        return;
                    }
                    let o = Relay { tty, stdin, stdout: true, stderr: true, close_stdin_on_eof: true, detach_keys: vec![], pending: vec![] };
                    relay(client, sock, o).await
                }
                Err(e) => tracing::debug!(error = %e, "exec upgrade failed"),
            }
        });
        return switching_protocols(tty);
    }
    // Without an upgrade: output only, as a streamed body.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        if let Some(m) = failure {
            let _ = tx.send(Bytes::from(if tty { m.into_bytes() } else { frame(2, m.as_bytes()) }));
            return;
        }
        let (mut sr, _sw) = sock.into_split();
        while let Some((kind, data)) = read_frame(&mut sr).await {
            let b = if tty { data } else { frame(kind, &data) };
            if tx.send(Bytes::from(b)).is_err() {
                break;
            }
        }
    });
    Ok(stream_as(rx, ct))
}
