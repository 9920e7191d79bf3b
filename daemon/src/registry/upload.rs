//! The push half of the distribution spec: does a blob exist (`HEAD`),
//! cross-repository mount, monolithic upload (`POST` then one `PUT` with
//! the whole blob), manifest `PUT`; and the `/v2/` check a login makes.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::{Response, StatusCode};
use oci_image::{Digest, Reference};
use tokio::sync::mpsc;

use super::url::encode;
use super::{auth, backoff, error_text, send_body, ReqBody, RegistryConfig, Sent, Session, Url, ATTEMPTS};
use crate::error::{Error, Result};

/// A blob streamed from a channel, with its exact length (so hyper sends a
/// Content-Length, which a monolithic upload needs).
pub struct UploadBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    len: u64,
}

impl UploadBody {
    pub fn boxed_body(rx: mpsc::Receiver<std::io::Result<Bytes>>, len: u64) -> ReqBody {
        UploadBody { rx, len }.boxed()
    }
}

impl hyper::body::Body for UploadBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

fn full(b: Bytes) -> ReqBody {
    http_body_util::Full::new(b).map_err(|never| match never {}).boxed()
}

/// What became of one blob.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Exists,
    Mounted(String),
    Uploaded,
}

impl Session {
    /// A session for pushing to `r`'s repository: the registry itself (a
    /// mirror is read-only), with a token that allows `pull,push`.
    pub fn for_push(cfg: &RegistryConfig, r: &Reference, creds: Option<auth::Credentials>) -> Result<Session> {
        let ep = cfg.endpoints(r.domain()).pop().ok_or_else(|| Error::Registry(format!("no endpoint for {}", r.domain())))?;
        let base = Url::parse(&ep).map_err(Error::Registry)?;
        Ok(Session { base, domain: r.domain().to_string(), repo: r.path().to_string(), auth: auth::Auth::new_push(creds) })
    }

    /// One request with auth (a 401 is answered once, then the request is
    /// made again) and retries on connection errors and 5xx; `body` makes
    /// the body anew for each try. Any other status is the caller's to read.
    async fn call(&self, method: &str, url: Url, headers: &[(&str, String)], body: &mut (dyn FnMut() -> Result<ReqBody> + Send), what: &str) -> Result<Response<Incoming>> {
        let (mut authed, mut attempt) = (false, 0);
        loop {
            let mut h: Vec<(&str, String)> = headers.to_vec();
            // Credentials only go to the registry itself, not to where an
            // upload URL may point.
            if url.authority() == self.base.authority() {
                if let Some(a) = self.auth.header().await {
                    h.push(("authorization", a));
                }
            }
            let resp = match send_body(&url, method, &h, body()?).await {
                Ok(r) => r,
                Err(Sent::Transport(e)) if attempt + 1 < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(Error::Registry(e.text())),
            };
            match resp.status() {
                StatusCode::UNAUTHORIZED if !authed => {
                    let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_string);
                    let Some(challenge) = challenge else { return Err(Error::Unauthorized(format!("{what}: unauthorized: {}", error_text(resp).await))) };
                    self.auth.authenticate(&challenge, &self.repo, &self.domain).await?;
                    authed = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    let text = error_text(resp).await;
                    let hint = if self.auth.has_credentials() { "incorrect username or password, or no push access to the repository" } else { "authentication required (berth login)" };
                    return Err(Error::Unauthorized(format!("{what}: {text}: {hint}")));
                }
                s if s.is_server_error() && attempt + 1 < ATTEMPTS => {
                    tracing::debug!(status = %s, attempt, "retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                _ => return Ok(resp),
            }
        }
    }

    /// Whether the repository already has the blob.
    pub async fn blob_exists(&self, d: &Digest) -> Result<bool> {
        let what = format!("{}/{}: blob {d}", self.domain, self.repo);
        let resp = self.call("HEAD", self.url(&format!("blobs/{d}")), &[], &mut || Ok(super::empty_body()), &what).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Error::Registry(format!("{what}: {}", error_text(resp).await))),
        }
    }

    /// Starts an upload, or mounts the blob from `from` (another repository
    /// of the same registry) when asked and the registry agrees. Returns the
    /// upload URL, or None when mounted.
    async fn start_upload(&self, mount: Option<(&Digest, &str)>) -> Result<Option<Url>> {
        let mut url = self.url("blobs/uploads/");
        if let Some((d, from)) = mount {
            url = url.with_query(&[("mount", &d.to_string()), ("from", from)]);
        }
        let what = format!("{}/{}: starting an upload", self.domain, self.repo);
        let resp = self.call("POST", url.clone(), &[("content-length", "0".into())], &mut || Ok(super::empty_body()), &what).await?;
        match resp.status() {
            StatusCode::CREATED if mount.is_some() => Ok(None),
            StatusCode::ACCEPTED | StatusCode::CREATED => {
                let loc = resp.headers().get("location").and_then(|v| v.to_str().ok()).ok_or_else(|| Error::Registry(format!("{what}: no Location in the answer")))?;
                Ok(Some(url.resolve(loc).map_err(Error::Registry)?))
            }
            _ => Err(Error::Registry(format!("{what}: {}", error_text(resp).await))),
        }
    }

    /// Pushes one blob unless the repository has it: a mount from `from`
    /// first if given, else `POST` + one `PUT` of `len` bytes that `body`
    /// streams (made anew if a try must be repeated).
    pub async fn push_blob(&self, d: &Digest, len: u64, from: Option<&str>, body: &mut (dyn FnMut() -> Result<ReqBody> + Send)) -> Result<Pushed> {
        if self.blob_exists(d).await? {
            return Ok(Pushed::Exists);
        }
        let loc = match from {
            Some(f) => match self.start_upload(Some((d, f))).await? {
                None => return Ok(Pushed::Mounted(f.to_string())),
                Some(l) => l,
            },
            None => self.start_upload(None).await?.ok_or_else(|| Error::Internal("upload without location".into()))?,
        };
        let sep = if loc.rest.contains('?') { '&' } else { '?' };
        let put = Url { rest: format!("{}{sep}digest={}", loc.rest, encode(&d.to_string())), ..loc };
        let what = format!("{}/{}: uploading blob {d}", self.domain, self.repo);
        let headers = [("content-type", "application/octet-stream".to_string()), ("content-length", len.to_string())];
        let resp = self.call("PUT", put, &headers, body, &what).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(Error::Registry(format!("{what}: {}", error_text(resp).await)));
        }
        Ok(Pushed::Uploaded)
    }

    /// `PUT` of a manifest under `reference` (a tag); returns the digest the
    /// registry computed, which must be the manifest's own.
    pub async fn put_manifest(&self, reference: &str, media_type: &str, body: Bytes) -> Result<Digest> {
        let what = format!("{}/{}:{reference}: manifest", self.domain, self.repo);
        let want = Digest::of(&body);
        let headers = [("content-type", media_type.to_string())];
        let resp = self.call("PUT", self.url(&format!("manifests/{reference}")), &headers, &mut || Ok(full(body.clone())), &what).await?;
        if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
            return Err(Error::Registry(format!("{what}: {}", error_text(resp).await)));
        }
        if let Some(h) = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()) {
            if Digest::parse(h).ok().as_ref() != Some(&want) {
                return Err(Error::Registry(format!("{what}: the registry stored it as {h}, not {want}")));
            }
        }
        Ok(want)
    }
}

/// A login: `GET /v2/` with the credentials, answering the challenge the
/// registry makes. A registry that asks for none accepts any login, as
/// Docker reports.
pub async fn check_login(cfg: &RegistryConfig, domain: &str, creds: auth::Credentials) -> Result<()> {
    let ep = cfg.endpoints(domain).pop().ok_or_else(|| Error::Registry(format!("no endpoint for {domain}")))?;
    let base = Url::parse(&ep).map_err(Error::Registry)?;
    let s = Session { base: base.clone(), domain: domain.to_string(), repo: String::new(), auth: auth::Auth::new(Some(creds)) };
    let what = format!("login to {domain}");
    let resp = s.call("GET", base.join_path("/v2/"), &[], &mut || Ok(super::empty_body()), &what).await.map_err(|e| match e {
        Error::Unauthorized(_) => Error::Unauthorized(format!("{what}: unauthorized: incorrect username or password")),
        e => e,
    })?;
    if !resp.status().is_success() {
        return Err(Error::Registry(format!("{what}: {}", error_text(resp).await)));
    }
    Ok(())
}
