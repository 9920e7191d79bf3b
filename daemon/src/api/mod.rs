//! The Docker Engine API over HTTP/1.1: routing, version prefixes, bodies,
//! and errors shaped as docker's `{"message": ...}`.

mod attach;
mod containers;
mod df;
mod events;
mod exec;
mod hijack;
mod images;
mod lifecycle;
mod networks;
mod search;
mod system;
mod volumes;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::State;

pub const API_VERSION: &str = "1.47";
pub const MIN_API_VERSION: &str = "1.24";

/// Response bodies may fail part-way (a `save` whose blob cannot be read):
/// hyper then cuts the connection instead of ending the chunked body, so
/// the client sees a broken transfer, never a short but "complete" one.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A response body fed line by line from a channel (pull progress).
pub struct ChannelBody(pub mpsc::UnboundedReceiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// A bounded stream of chunks that may end in an error (an archive being
/// written by a blocking task): the writer waits when the client reads
/// slowly instead of buffering the whole archive in memory.
pub struct FallibleBody(pub mpsc::Receiver<std::io::Result<Bytes>>);

impl hyper::body::Body for FallibleBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never: Infallible| match never {}).boxed()
}

fn base(status: StatusCode) -> hyper::http::response::Builder {
    Response::builder().status(status).header("api-version", API_VERSION).header("ostype", "linux").header("server", concat!("berth/", env!("CARGO_PKG_VERSION")))
}

pub fn json(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    base(status).header("content-type", "application/json").body(full(Bytes::from(b))).unwrap_or_default()
}

pub fn text(status: StatusCode, s: &'static str) -> Response<Body> {
    base(status).header("content-type", "text/plain; charset=utf-8").body(full(Bytes::from_static(s.as_bytes()))).unwrap_or_default()
}

pub fn empty(status: StatusCode) -> Response<Body> {
    base(status).body(full(Bytes::new())).unwrap_or_default()
}

pub fn stream(rx: mpsc::UnboundedReceiver<Bytes>) -> Response<Body> {
    base(StatusCode::OK).header("content-type", "application/json").body(BodyExt::boxed(ChannelBody(rx))).unwrap_or_default()
}

pub fn stream_as(rx: mpsc::UnboundedReceiver<Bytes>, content_type: &'static str) -> Response<Body> {
    base(StatusCode::OK).header("content-type", content_type).body(BodyExt::boxed(ChannelBody(rx))).unwrap_or_default()
}

pub fn fallible_stream(rx: mpsc::Receiver<std::io::Result<Bytes>>, content_type: &'static str) -> Response<Body> {
    base(StatusCode::OK).header("content-type", content_type).body(BodyExt::boxed(FallibleBody(rx))).unwrap_or_default()
}

pub fn error(e: &Error) -> Response<Body> {
    let status = e.status();
    if status.is_server_error() {
        tracing::error!(error = %e.chain(), "request failed");
    } else {
        tracing::debug!(error = %e.chain(), "request refused");
    }
    json(status, &serde_json::json!({ "message": e.chain() }))
}

/// Query parameters, percent-decoded.
pub struct Query(Vec<(String, String)>);

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// Every value of a repeated parameter (`changes=...&changes=...`).
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect()
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    /// Docker's booleans: `1`, `true`, `True` (and an empty `?all` means false).
    pub fn flag(&self, k: &str) -> Result<bool> {
        match self.get(k) {
            None | Some("") | Some("0") | Some("false") | Some("False") => Ok(false),
            Some("1") | Some("true") | Some("True") => Ok(true),
            Some(v) => Err(Error::BadParameter(format!("invalid boolean for {k}: {v:?}"))),
        }
    }

    /// `filters` as JSON, `{"label":["a=b"]}` or the old `{"label":{"a=b":true}}`,
    /// as (name, value) pairs; a filter not in `allowed` is refused.
    pub fn filters(&self, allowed: &[&str]) -> Result<Vec<(String, String)>> {
        let Some(raw) = self.get("filters").filter(|f| !f.is_empty()) else { return Ok(vec![]) };
        let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| Error::BadParameter(format!("invalid filters: {e}")))?;
        let obj = v.as_object().ok_or_else(|| Error::BadParameter("invalid filters: expected an object".into()))?;
        let mut out = Vec::new();
        for (k, vals) in obj {
            if !allowed.contains(&k.as_str()) {
                return Err(Error::BadParameter(format!("invalid filter '{k}'")));
            }
            match vals {
                serde_json::Value::Array(a) => out.extend(a.iter().filter_map(|x| x.as_str()).map(|x| (k.clone(), x.to_string()))),
                serde_json::Value::Object(o) => out.extend(o.keys().map(|x| (k.clone(), x.clone()))),
                _ => return Err(Error::BadParameter(format!("invalid filter {k:?}"))),
            }
        }
        Ok(out)
    }

    /// Refuses parameters a handler does not implement, so nothing is
    /// silently ignored.
    pub fn only(&self, allowed: &[&str]) -> Result<()> {
        match self.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((k, _)) => Err(Error::BadParameter(format!("unsupported query parameter {k:?}"))),
            None => Ok(()),
        }
    }
}

/// Strips `/v1.44`; refuses versions newer than ours as dockerd does.
fn strip_version(path: &str) -> Result<&str> {
    let Some(rest) = path.strip_prefix("/v") else { return Ok(path) };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => return Ok(path),
    };
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let Some(v) = parse(ver) else { return Ok(path) };
    let max = parse(API_VERSION).unwrap_or((1, 0));
    let min = parse(MIN_API_VERSION).unwrap_or((1, 0));
    if v > max {
        return Err(Error::BadParameter(format!("client version {ver} is too new. Maximum supported API version is {API_VERSION}")));
    }
    if v < min {
        return Err(Error::BadParameter(format!("client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version")));
    }
    Ok(tail)
}

pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> std::result::Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let r = route(state, req).await;
    let resp = r.unwrap_or_else(|e| error(&e));
    tracing::debug!(%method, path = %uri.path(), status = resp.status().as_u16(), "request");
    Ok(resp)
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>> {
    let path = strip_version(req.uri().path())?.to_string();
    let q = Query::parse(req.uri().query());
    let m = req.method().clone();
    match (&m, path.as_str()) {
        (&Method::GET | &Method::HEAD, "/_ping") => Ok(system::ping(&m)),
        (&Method::GET, "/version") => system::version(&state),
        (&Method::GET, "/info") => system::info(&state),
        (&Method::GET, "/system/df") => df::df(&state, &q),
        (&Method::GET, "/events") => events::events(state, &q).await,
        (&Method::GET, "/images/json") => images::list(&state, &q),
        (&Method::GET, "/images/search") => search::search(state, &q, &req).await,
        (&Method::POST, "/images/create") => images::create(state, &q, req).await,
        (&Method::GET, "/images/get") => images::save(state, q.all("names"), &q).await,
        (&Method::POST, "/images/load") => images::load(state, &q, req).await,
        (&Method::POST, "/images/prune") => images::prune(&state, &q),
        (&Method::GET, p) if p.starts_with("/images/") && p.ends_with("/get") => images::save(state, vec![name(p, "/get")?], &q).await,
        (&Method::POST, p) if p.starts_with("/images/") && p.ends_with("/push") => images::push(state, &name(p, "/push")?, &q, &req).await,
        (&Method::POST, "/auth") => {
            let body = req.into_body().collect().await.map_err(|e| Error::BadParameter(format!("reading the body: {e}")))?.to_bytes();
            system::auth(&state, &body).await
        }
        (&Method::GET, p) if p.starts_with("/images/") && p.ends_with("/json") => images::inspect(&state, &name(p, "/json")?),
        (&Method::POST, p) if p.starts_with("/images/") && p.ends_with("/tag") => images::tag(&state, &name(p, "/tag")?, &q),
        (&Method::GET, p) if p.starts_with("/images/") && p.ends_with("/history") => images::history(&state, &name(p, "/history")?),
        (&Method::DELETE, p) if p.starts_with("/images/") => images::remove(&state, &name(p, "")?, &q),
        (&Method::POST, "/volumes/create") => {
            let body = req.into_body().collect().await.map_err(|e| Error::BadParameter(format!("reading the body: {e}")))?.to_bytes();
            volumes::create(&state, &body)
        }
        (&Method::GET, "/volumes") => volumes::list(&state, &q),
        (&Method::POST, "/volumes/prune") => volumes::prune(&state, &q),
        (&Method::GET, p) if p.starts_with("/volumes/") => volumes::inspect(&state, &decode(&p["/volumes/".len()..])),
        (&Method::DELETE, p) if p.starts_with("/volumes/") => volumes::remove(&state, &decode(&p["/volumes/".len()..]), &q),
        (&Method::GET, "/networks") => networks::list(&state, &q),
        (&Method::POST, "/networks/create") => {
            let body = req.into_body().collect().await.map_err(|e| Error::BadParameter(format!("reading the body: {e}")))?.to_bytes();
            networks::create(&state, &body)
        }
        (&Method::POST, "/networks/prune") => networks::prune(&state, &q),
        (m, p) if p.starts_with("/networks/") => {
            let rest = &p["/networks/".len()..];
            let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
            let id = decode(id);
            match (m, action) {
                (&Method::GET, "") => networks::inspect(&state, &id, &q),
                (&Method::DELETE, "") => networks::remove(&state, &id),
                (&Method::POST, "connect" | "disconnect") => {
                    let action = action.to_string();
                    let body = req.into_body().collect().await.map_err(|e| Error::BadParameter(format!("reading the body: {e}")))?.to_bytes();
                    if action == "connect" {
                        networks::connect(state, &id, &body).await
                    } else {
                        networks::disconnect(state, &id, &body).await
                    }
                }
                _ => Ok(json(StatusCode::NOT_FOUND, &serde_json::json!({"message": format!("{m} {p} is not implemented")}))),
            }
        }
        (&Method::POST, "/containers/create") => {
            let body = req.into_body().collect().await.map_err(|e| Error::BadParameter(format!("reading the body: {e}")))?.to_bytes();
            containers::create(state, &q, body).await
        }
        (&Method::GET, "/containers/json") => containers::list(state, &q).await,
        (&Method::POST, "/containers/prune") => lifecycle::prune(state, &q).await,
        (m, p) if p.starts_with("/exec/") => {
            let rest = &p["/exec/".len()..];
            let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
            let id = decode(id);
            match (m, action) {
                (&Method::POST, "start") => exec::start(state, &id, req).await,
                (&Method::GET, "json") => exec::inspect(&state, &id),
                (&Method::POST, "resize") => exec::resize(&state, &id, &q).await,
                _ => Ok(json(StatusCode::NOT_FOUND, &serde_json::json!({"message": format!("{m} {p} is not implemented")}))),
            }
        }
        (m, p) if p.starts_with("/containers/") => {
            let rest = &p["/containers/".len()..];
            let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
            let id = decode(id);
            if id.is_empty() {
                return Ok(json(StatusCode::NOT_FOUND, &serde_json::json!({"message": "page not found"})));
            }
            match (m, action) {
                (&Method::POST, "start") => containers::start(state, &id, &q).await,
                (&Method::POST, "exec") => {
                    let body = req.into_body().collect().await.map_err(|e| Error::BadParameter(format!("reading the body: {e}")))?.to_bytes();
                    exec::create(state, &id, body).await
                }
                (&Method::POST, "attach") => attach::attach(state, &id, &q, req).await,
                (&Method::POST, "resize") => attach::resize(state, &id, &q).await,
                (&Method::POST, "stop") => containers::stop(state, &id, &q).await,
                (&Method::POST, "pause") => lifecycle::pause(state, &id, &q, true).await,
                (&Method::POST, "unpause") => lifecycle::pause(state, &id, &q, false).await,
                (&Method::POST, "restart") => lifecycle::restart(state, &id, &q).await,
                (&Method::POST, "rename") => lifecycle::rename(state, &id, &q).await,
                (&Method::POST, "kill") => containers::kill(state, &id, &q).await,
                (&Method::POST, "wait") => containers::wait(state, &id, &q).await,
                (&Method::GET, "json") => containers::inspect(state, &id, &q).await,
                (&Method::GET, "logs") => containers::logs(state, &id, &q).await,
                (&Method::DELETE, "") => containers::remove(state, &id, &q).await,
                _ => Ok(json(StatusCode::NOT_FOUND, &serde_json::json!({"message": format!("{m} {p} is not implemented")}))),
            }
        }
        _ => Ok(json(StatusCode::NOT_FOUND, &serde_json::json!({"message": "page not found"}))),
    }
}

/// The `{name}` of `/images/{name}/json`: it may hold slashes and a port.
fn name(path: &str, suffix: &str) -> Result<String> {
    let n = path.strip_prefix("/images/").and_then(|p| p.strip_suffix(suffix)).unwrap_or("");
    let n = decode(n);
    if n.is_empty() {
        return Err(Error::BadParameter("image name is empty".into()));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_query() {
        assert_eq!(strip_version("/v1.44/images/json").unwrap(), "/images/json");
        assert_eq!(strip_version("/_ping").unwrap(), "/_ping");
        assert!(strip_version("/v9.1/info").is_err());
        assert!(strip_version("/v1.10/info").is_err());
        let q = Query::parse(Some("fromImage=127.0.0.1%3A5000%2Fbusybox&tag=latest&x=a+b"));
        assert_eq!(q.get("fromImage"), Some("127.0.0.1:5000/busybox"));
        assert_eq!(q.get("x"), Some("a b"));
        assert!(q.only(&["fromImage", "tag"]).is_err());
        assert_eq!(decode("100%"), "100%");
        assert_eq!(name("/images/127.0.0.1:5000/busybox:latest/json", "/json").unwrap(), "127.0.0.1:5000/busybox:latest");
    }
}
