//! Registry authentication: the `WWW-Authenticate` challenge decides between
//! basic auth and a bearer token from the realm it names. Credentials come
//! from the client (`X-Registry-Auth`, as the docker CLI sends them) or else
//! from the daemon user's `~/.docker/config.json` (`auths.<host>.auth`).

use std::path::PathBuf;

use base64::Engine as _;
use tokio::sync::Mutex;

use super::url::Url;
use super::{send, Limited};
use crate::error::{Error, Result};

#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

fn b64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .ok()
}

impl Credentials {
    /// `X-Registry-Auth`: base64url JSON `{"username","password"}` or `{"auth"}`.
    pub fn from_header(v: &str) -> Result<Option<Credentials>> {
        if v.trim().is_empty() {
            return Ok(None);
        }
        let bad = || Error::BadParameter("invalid X-Registry-Auth header: expected base64 JSON".into());
        let raw = b64(v).ok_or_else(bad)?;
        let j: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
        let s = |k: &str| j.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        if !s("username").is_empty() {
            return Ok(Some(Credentials { username: s("username"), password: s("password") }));
        }
        if !s("auth").is_empty() {
            return Ok(Credentials::from_auth_field(&s("auth")));
        }
        Ok(None)
    }

    fn from_auth_field(a: &str) -> Option<Credentials> {
        let raw = String::from_utf8(b64(a)?).ok()?;
        let (u, p) = raw.split_once(':')?;
        Some(Credentials { username: u.to_string(), password: p.to_string() })
    }

    /// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` of the daemon's user.
    pub fn from_docker_config(domain: &str) -> Option<Credentials> {
        let dir = std::env::var_os("DOCKER_CONFIG").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
        let data = std::fs::read(dir.join("config.json")).ok()?;
        Credentials::from_config_json(&data, domain)
    }

    pub fn from_config_json(data: &[u8], domain: &str) -> Option<Credentials> {
        let j: serde_json::Value = serde_json::from_slice(data).ok()?;
        let auths = j.get("auths")?.as_object()?;
        let mut keys = vec![domain.to_string(), format!("https://{domain}"), format!("http://{domain}"), format!("https://{domain}/v2/"), format!("https://{domain}/v1/")];
        if domain == "docker.io" {
            keys.insert(0, "https://index.docker.io/v1/".to_string());
        }
        keys.iter().find_map(|k| auths.get(k)).and_then(|e| e.get("auth")).and_then(|a| a.as_str()).and_then(Credentials::from_auth_field)
    }
}

pub struct Auth {
    creds: Option<Credentials>,
    header: Mutex<Option<String>>,
    /// What a token is asked for when the challenge names no scope.
    actions: &'static str,
}

/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`
fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, after)) = s.split_once('=') else { break };
        let k = k.trim().trim_start_matches(',').trim().to_lowercase();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(i) => (after[..i].to_string(), &after[i..]),
                None => (after.to_string(), ""),
            }
        };
        params.push((k, v));
        s = next.trim_start_matches([',', ' ']);
    }
    (scheme.to_lowercase(), params)
}

impl Auth {
    pub fn new(creds: Option<Credentials>) -> Auth {
        Auth { creds, header: Mutex::new(None), actions: "pull" }
    }

    /// For a push: a bearer token must allow `pull,push`.
    pub fn new_push(creds: Option<Credentials>) -> Auth {
        Auth { creds, header: Mutex::new(None), actions: "pull,push" }
    }

    pub fn has_credentials(&self) -> bool {
        self.creds.is_some()
    }

    pub async fn header(&self) -> Option<String> {
        self.header.lock().await.clone()
    }

    fn basic(&self) -> Option<String> {
        self.creds.as_ref().map(|c| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))))
    }

    /// Answers a 401's challenge; the caller retries the request once.
    pub async fn authenticate(&self, challenge: &str, repo: &str, domain: &str) -> Result<()> {
        let (scheme, params) = parse_challenge(challenge);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let value = match scheme.as_str() {
            "basic" => self.basic().ok_or_else(|| {
                Error::Unauthorized(format!("{domain}: authentication required (berth login {domain}, or credentials in ~/.docker/config.json)"))
            })?,
            "bearer" => {
                let realm = get("realm").ok_or_else(|| Error::Registry(format!("{domain}: bearer challenge without realm")))?;
                // A login asks for no repository: a token without scope
                // still proves the credentials.
                let scope = get("scope").or_else(|| (!repo.is_empty()).then(|| format!("repository:{repo}:{}", self.actions)));
                let mut q: Vec<(&str, &str)> = scope.as_deref().map(|s| vec![("scope", s)]).unwrap_or_default();
                let service = get("service");
                if let Some(s) = &service {
                    q.insert(0, ("service", s.as_str()));
                }
                let url = Url::parse(&realm).map_err(Error::Registry)?.with_query(&q);
                let mut headers = Vec::new();
                if let Some(b) = self.basic() {
                    headers.push(("authorization", b));
                }
                let resp = send(&url, "GET", &headers).await.map_err(|e| Error::Registry(format!("token service: {}", e.text())))?;
                if resp.status() == hyper::StatusCode::UNAUTHORIZED || resp.status() == hyper::StatusCode::FORBIDDEN {
                    return Err(Error::Unauthorized(format!("{domain}: unauthorized: incorrect username or password")));
                }
                if !resp.status().is_success() {
                    return Err(Error::Registry(format!("token service {}: {}", url, resp.status())));
                }
                let body = Limited::collect(resp.into_body(), 1 << 20).await?;
                let j: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Error::Registry(format!("token service: malformed answer: {e}")))?;
                let token = j.get("token").or_else(|| j.get("access_token")).and_then(|t| t.as_str()).ok_or_else(|| Error::Registry("token service: no token in answer".into()))?;
                format!("Bearer {token}")
            }
            other => return Err(Error::Registry(format!("{domain}: unsupported authentication scheme {other:?}"))),
        };
        *self.header.lock().await = Some(value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#);
        assert_eq!(s, "bearer");
        assert_eq!(p[0], ("realm".into(), "https://auth.docker.io/token".into()));
        assert_eq!(p[2], ("scope".into(), "repository:library/busybox:pull".into()));
        let (s, p) = parse_challenge(r#"Basic realm="fixture-registry""#);
        assert_eq!((s.as_str(), p.len()), ("basic", 1));
    }

    #[test]
    fn docker_config_and_header() {
        let cfg = br#"{"auths":{"127.0.0.1:5001":{"auth":"Zml4dHVyZTpmaXh0dXJlLXBhc3M="}}}"#;
        let c = Credentials::from_config_json(cfg, "127.0.0.1:5001").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("fixture", "fixture-pass"));
        assert!(Credentials::from_config_json(cfg, "127.0.0.1:5000").is_none());
        let h = base64::engine::general_purpose::URL_SAFE.encode(br#"{"username":"u","password":"p:w"}"#);
        let c = Credentials::from_header(&h).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p:w"));
        assert!(Credentials::from_header("!!!").is_err());
        assert!(Credentials::from_header("").unwrap().is_none());
    }
}
