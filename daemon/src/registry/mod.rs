//! A client of the distribution spec, over hyper's HTTP/1.1 client
//! connections: one TCP connection per request (a pull makes a handful, and
//! each layer download streams on its own anyway), anonymous, basic and
//! bearer-token auth, retries with backoff on connection errors, 429 and 5xx.
//!
//! HTTPS goes through rustls (`tls.rs`), certificates always verified.
//! Insecure registries (127.0.0.0/8, localhost and ::1 without
//! configuration, as in Docker; others via `insecure-registries`) are
//! reached over plain HTTP, as are plain-HTTP `registry-mirrors`. (Docker
//! tries HTTPS without verification first for those; berthd goes straight
//! to HTTP.)

pub mod auth;
mod tls;
pub mod upload;
mod url;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use oci_image::manifest::{MANIFEST_ACCEPT, MAX_MANIFEST_SIZE};
use oci_image::{Digest, Reference};

pub use self::auth::Credentials;
pub use self::tls::set_certs_dir;
pub use self::url::Url;
use crate::error::{Error, Result};

const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const HEADERS_TIMEOUT: Duration = Duration::from_secs(60);
/// A body that sends nothing for this long is a dead connection.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);
const ATTEMPTS: u32 = 4;
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(3600);
/// A tag list or catalog longer than this many pages is refused rather
/// than followed forever.
const MAX_LIST_PAGES: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    pub mirrors: Vec<String>,
    pub insecure: Vec<String>,
}

impl RegistryConfig {
    fn is_insecure(&self, domain: &str) -> bool {
        let host = url::host_of(domain);
        host == "localhost" || host == "::1" || host.starts_with("127.") || self.insecure.iter().any(|i| i == domain || i == host)
    }

    /// Where to fetch `domain`'s content from, in order of preference.
    pub fn endpoints(&self, domain: &str) -> Vec<String> {
        let mut v = Vec::new();
        if domain == oci_image::reference::DEFAULT_DOMAIN {
            v.extend(self.mirrors.iter().cloned());
            v.push("https://registry-1.docker.io".to_string());
        } else if self.is_insecure(domain) {
            v.push(format!("http://{domain}"));
        } else {
            v.push(format!("https://{domain}"));
        }
        v
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug)]
enum Sent {
    /// The connection failed or broke: worth another try.
    Transport(String),
    /// TLS refused the registry (its certificate, or no CA to check it
    /// with): trying again changes nothing.
    Refused(String),
}

impl Sent {
    fn text(self) -> String {
        match self {
            Sent::Transport(e) | Sent::Refused(e) => e,
        }
    }
}

/// A request body: empty, a manifest, or a blob streamed from disk.
pub type ReqBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn empty_body() -> ReqBody {
    Empty::<Bytes>::new().map_err(|never| match never {}).boxed()
}

/// One request without a body, on a fresh connection.
async fn send(url: &Url, method: &str, headers: &[(&str, String)]) -> std::result::Result<Response<Incoming>, Sent> {
    send_body(url, method, headers, empty_body()).await
}

/// One request, on a fresh connection.
async fn send_body(url: &Url, method: &str, headers: &[(&str, String)], body: ReqBody) -> std::result::Result<Response<Incoming>, Sent> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((url.host.as_str(), url.port)))
        .await
        .map_err(|_| Sent::Transport(format!("connecting to {}:{}: timed out", url.host, url.port)))?
        .map_err(|e| Sent::Transport(format!("connecting to {}:{}: {e}", url.host, url.port)))?;
    let _ = stream.set_nodelay(true);
    let mut sender = if url.https {
        let tls = tls::connect(stream, &url.host, &url.authority()).await.map_err(Sent::Refused)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| Sent::Transport(format!("{url}: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        sender
    } else {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| Sent::Transport(format!("{url}: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        sender
    };
    let mut b = Request::builder().method(method).uri(url.path_and_query()).header("host", url.authority()).header("user-agent", USER_AGENT);
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let req = b.body(body).map_err(|e| Sent::Transport(format!("{url}: {e}")))?;
    // The answer to an upload comes after its whole body: allow for a slow
    // link rather than the usual wait for headers.
    let wait = if hyper::body::Body::size_hint(req.body()).exact() == Some(0) { HEADERS_TIMEOUT } else { UPLOAD_TIMEOUT };
    tokio::time::timeout(wait, sender.send_request(req))
        .await
        .map_err(|_| Sent::Transport(format!("{url}: no response in {}s", wait.as_secs())))?
        .map_err(|e| Sent::Transport(format!("{url}: {e}")))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.min(5))
}

/// The registry's own words, from an error body of the distribution spec
/// (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}`).
pub(crate) async fn error_text(resp: Response<Incoming>) -> String {
    let status = resp.status();
    let body = match tokio::time::timeout(Duration::from_secs(10), Limited::collect(resp.into_body(), 64 * 1024)).await {
        Ok(Ok(b)) => b,
        _ => Bytes::new(),
    };
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let errs: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("").to_lowercase().replace('_', " ");
                    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    if msg.is_empty() || msg == code { code } else { format!("{code}: {msg}") }
                })
                .collect()
        })
        .unwrap_or_default();
    if errs.is_empty() {
        format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""))
    } else {
        errs.join("; ")
    }
}

/// Reads a whole body, refusing more than `max` bytes.
pub struct Limited;

impl Limited {
    pub async fn collect(mut body: Incoming, max: u64) -> Result<Bytes> {
        let mut buf = bytes::BytesMut::new();
        while let Some(frame) = tokio::time::timeout(STALL_TIMEOUT, body.frame()).await.map_err(|_| Error::Registry("registry stopped sending".into()))? {
            let frame = frame.map_err(|e| Error::Registry(format!("reading response: {e}")))?;
            if let Some(d) = frame.data_ref() {
                if buf.len() as u64 + d.len() as u64 > max {
                    return Err(Error::Registry(format!("response larger than {max} bytes")));
                }
                buf.extend_from_slice(d);
            }
        }
        Ok(buf.freeze())
    }
}

/// A pull's (or push's) conversation with one registry endpoint about one
/// repository.
pub struct Session {
    base: Url,
    domain: String,
    repo: String,
    auth: auth::Auth,
}

impl Session {
    /// Finds the first endpoint that answers for `r` (mirrors first for
    /// docker.io) and fetches the manifest there.
    pub async fn open(cfg: &RegistryConfig, r: &Reference, creds: Option<Credentials>) -> Result<(Session, Fetched)> {
        let reference = r.manifest_reference();
        Session::first_answer(cfg, r.domain(), r.path(), creds, |s| {
            let reference = reference.clone();
            Box::pin(async move { s.manifest(&reference).await })
        }).await
    }

    /// Every tag of `r`'s repository, from the first endpoint that answers.
    pub async fn tags(cfg: &RegistryConfig, r: &Reference, creds: Option<Credentials>) -> Result<Vec<String>> {
        Session::first_answer(cfg, r.domain(), r.path(), creds, |s| Box::pin(async move { s.listing("tags/list", "tags").await })).await.map(|(_, t)| t)
    }

    /// Every repository `domain` holds (`GET /v2/_catalog`), from the first
    /// endpoint that answers: what `search` looks through, since the
    /// distribution spec has no search of its own.
    pub async fn catalog(cfg: &RegistryConfig, domain: &str, creds: Option<Credentials>) -> Result<Vec<String>> {
        Session::first_answer(cfg, domain, "", creds, |s| Box::pin(async move { s.listing("_catalog", "repositories").await })).await.map(|(_, t)| t)
    }

    /// Asks `ask` of each endpoint in turn (mirrors first for docker.io)
    /// until one answers.
    async fn first_answer<T>(cfg: &RegistryConfig, domain: &str, repo: &str, creds: Option<Credentials>, ask: impl for<'a> Fn(&'a Session) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'a>>) -> Result<(Session, T)> {
        let mut last = None;
        for ep in cfg.endpoints(domain) {
            let base = Url::parse(&ep).map_err(Error::Registry)?;
            let is_mirror = domain == oci_image::reference::DEFAULT_DOMAIN && !ep.ends_with("registry-1.docker.io");
            let s = Session { base, domain: domain.to_string(), repo: repo.to_string(), auth: auth::Auth::new(creds.clone()) };
            let answer = ask(&s).await;
            match answer {
                Ok(m) => return Ok((s, m)),
                // A mirror that fails is skipped, as dockerd does; the
                // registry itself is the last word.
                Err(e) if is_mirror => {
                    tracing::warn!(mirror = %ep, error = %e.chain(), "mirror failed, trying the next endpoint");
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Registry(format!("no endpoint for {domain}"))))
    }

    /// A paged list: `GET /v2/<name>/tags/list` (field `tags`) or
    /// `/v2/_catalog` (`repositories`), page after page as the registry's
    /// `Link: <...>; rel="next"` headers lead.
    async fn listing(&self, tail: &str, field: &str) -> Result<Vec<String>> {
        let what = if self.repo.is_empty() { format!("{} catalog", self.domain) } else { format!("{}/{} tags", self.domain, self.repo) };
        let mut url = if self.repo.is_empty() { self.base.join_path(&format!("/v2/{tail}")) } else { self.url(tail) };
        let mut items = Vec::new();
        for _ in 0..MAX_LIST_PAGES {
            let resp = self.get(url.clone(), &[("accept", "application/json".into())], &what).await?;
            let next = resp.headers().get("link").and_then(|v| v.to_str().ok()).and_then(next_link).map(str::to_string);
            let body = Limited::collect(resp.into_body(), MAX_MANIFEST_SIZE).await?;
            let page: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Error::Registry(format!("{what}: malformed list: {e}")))?;
            match page.get(field) {
                Some(serde_json::Value::Array(a)) => items.extend(a.iter().filter_map(|t| t.as_str().map(str::to_string))),
                Some(serde_json::Value::Null) | None => {}
                Some(_) => return Err(Error::Registry(format!("{what}: malformed list: {field:?} is not a list"))),
            }
            match next {
                Some(l) => url = url.resolve(&l).map_err(Error::Registry)?,
                None => return Ok(items),
            }
        }
        Err(Error::Registry(format!("{what}: more than {MAX_LIST_PAGES} pages")))
    }

    fn url(&self, tail: &str) -> Url {
        self.base.join_path(&format!("/v2/{}/{tail}", self.repo))
    }

    /// A GET with auth, retries and redirects; returns a 2xx response.
    async fn get(&self, url: Url, extra: &[(&'static str, String)], what: &str) -> Result<Response<Incoming>> {
        let mut url = url;
        let mut authed = false;
        let mut redirects = 0;
        let mut attempt = 0;
        loop {
            let mut headers = extra.to_vec();
            // Credentials only go to the registry itself, not to where it redirects.
            if url.authority() == self.base.authority() {
                if let Some(h) = self.auth.header().await {
                    headers.push(("authorization", h));
                }
            }
            let resp = match send(&url, "GET", &headers).await {
                Ok(r) => r,
                Err(Sent::Transport(e)) if attempt + 1 < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(Error::Registry(e.text())),
            };
            let status = resp.status();
            match status {
                s if s.is_success() => return Ok(resp),
                StatusCode::UNAUTHORIZED if !authed => {
                    let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_string);
                    let Some(challenge) = challenge else { return Err(Error::Unauthorized(format!("{what}: unauthorized: {}", error_text(resp).await))) };
                    self.auth.authenticate(&challenge, &self.repo, &self.domain).await?;
                    authed = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    let text = error_text(resp).await;
                    let hint = if self.auth.has_credentials() { "incorrect username or password" } else { "authentication required (berth login, or credentials in ~/.docker/config.json)" };
                    return Err(Error::Unauthorized(format!("{what}: {text}: {hint}")));
                }
                StatusCode::NOT_FOUND => return Err(Error::NotFound(format!("{what}: not found: {}", error_text(resp).await))),
                s if s.is_redirection() => {
                    let loc = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
                    redirects += 1;
                    match loc {
                        Some(l) if redirects <= 5 => url = url.resolve(&l).map_err(Error::Registry)?,
                        _ => return Err(Error::Registry(format!("{what}: too many or bad redirects"))),
                    }
                }
                s if (s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()) && attempt + 1 < ATTEMPTS => {
                    let wait = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).map(|s| Duration::from_secs(s.min(10))).unwrap_or(backoff(attempt));
                    tracing::debug!(status = %s, attempt, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                StatusCode::TOO_MANY_REQUESTS => return Err(Error::Registry(format!("{what}: toomanyrequests: {}", error_text(resp).await))),
                _ => return Err(Error::Registry(format!("{what}: {}", error_text(resp).await))),
            }
        }
    }

    /// A manifest or index by tag or digest, verified when asked by digest.
    pub async fn manifest(&self, reference: &str) -> Result<Fetched> {
        let what = format!("{}/{}:{reference}", self.domain, self.repo);
        let resp = self.get(self.url(&format!("manifests/{reference}")), &[("accept", MANIFEST_ACCEPT.join(", "))], &what).await?;
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
        let header_digest = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = Limited::collect(resp.into_body(), MAX_MANIFEST_SIZE).await?;
        let digest = Digest::of(&body);
        if let Ok(want) = Digest::parse(reference) {
            want.verify(&body)?;
        } else if let Some(h) = header_digest.as_deref().and_then(|h| Digest::parse(h).ok()) {
            if h != digest {
                return Err(Error::Image(oci_image::Error::DigestMismatch { expected: h.to_string(), actual: digest.to_string() }));
            }
        }
        Ok(Fetched { body, content_type: ct, digest })
    }

    /// A small blob (config) read whole and verified.
    pub async fn small_blob(&self, d: &Digest) -> Result<Bytes> {
        let resp = self.blob(d).await?;
        let body = Limited::collect(resp.into_body(), MAX_MANIFEST_SIZE).await?;
        d.verify(&body)?;
        Ok(body)
    }

    /// A blob as a streaming response.
    pub async fn blob(&self, d: &Digest) -> Result<Response<Incoming>> {
        self.get(self.url(&format!("blobs/{d}")), &[], &format!("blob {d}")).await
    }

    /// The rest of a blob from byte `from` on, or `None` when the registry
    /// (or where it redirects) does not serve that range: the caller then
    /// reads the blob from the start.
    pub async fn blob_from(&self, d: &Digest, from: u64) -> Result<Option<Response<Incoming>>> {
        let resp = self.get(self.url(&format!("blobs/{d}")), &[("range", format!("bytes={from}-"))], &format!("blob {d}")).await?;
        let starts_there = resp.status() == StatusCode::PARTIAL_CONTENT
            && resp.headers().get("content-range").and_then(|v| v.to_str().ok()).and_then(content_range_start) == Some(from);
        Ok(starts_there.then_some(resp))
    }
}

/// The target of the `rel="next"` entry of a `Link` header (RFC 8288), as
/// the distribution spec pages tag lists and catalogs.
fn next_link(v: &str) -> Option<&str> {
    v.split(',').find_map(|entry| {
        let (target, params) = entry.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| matches!(p.trim().split_once('='), Some((k, v)) if k.trim() == "rel" && v.trim().trim_matches('"') == "next"));
        is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// The first byte of `Content-Range: bytes FIRST-LAST/TOTAL`.
fn content_range_start(v: &str) -> Option<u64> {
    v.trim().strip_prefix("bytes ")?.split_once('-')?.0.trim().parse().ok()
}

pub struct Fetched {
    pub body: Bytes,
    pub content_type: Option<String>,
    pub digest: Digest,
}

#[cfg(test)]
mod tests {
    use super::{content_range_start, next_link};

    #[test]
    fn link_header_next_page() {
        assert_eq!(next_link(r#"</v2/busybox/tags/list?last=b&n=2>; rel="next""#), Some("/v2/busybox/tags/list?last=b&n=2"));
        assert_eq!(next_link(r#"<https://r/x?a=1>; rel="prev", <https://r/x?a=3>; rel=next"#), Some("https://r/x?a=3"));
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }

    #[test]
    fn content_range_first_byte() {
        assert_eq!(content_range_start("bytes 1000-4999/5000"), Some(1000));
        assert_eq!(content_range_start("bytes 0-0/1"), Some(0));
        assert_eq!(content_range_start("bytes */5000"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
    }
}
