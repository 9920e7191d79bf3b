//! Just enough URL for registry endpoints, token realms and redirects:
//! `http(s)://host[:port][/path][?query]`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub rest: String,
}

/// `host` of `host:port`, `[v6]:port` or `host`.
pub fn host_of(authority: &str) -> &str {
    if let Some(r) = authority.strip_prefix('[') {
        return r.split(']').next().unwrap_or(r);
    }
    authority.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(authority, |(h, _)| h)
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("unsupported URL {s:?}: expected http:// or https://"));
        };
        let (auth, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match auth.strip_prefix('[') {
            Some(r) => {
                let (h, after) = r.split_once(']').ok_or_else(|| format!("bad host in {s:?}"))?;
                (h, after.strip_prefix(':'))
            }
            None => match auth.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (auth, None),
            },
        };
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| format!("bad port in {s:?}"))?,
            None if https => 443,
            None => 80,
        };
        let host = host.to_string();
        if host.is_empty() {
            return Err(format!("no host in {s:?}"));
        }
        let rest = if path.starts_with('?') { format!("/{path}") } else { path.to_string() };
        Ok(Url { https, host, port, rest })
    }

    /// The Host header: the port only when it is not the scheme's default.
    pub fn authority(&self) -> String {
        let h = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if (self.https && self.port == 443) || (!self.https && self.port == 80) {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }

    pub fn path_and_query(&self) -> &str {
        &self.rest
    }

    pub fn join_path(&self, path: &str) -> Url {
        let base = self.rest.split('?').next().unwrap_or("").trim_end_matches('/');
        Url { rest: format!("{base}{path}"), ..self.clone() }
    }

    pub fn with_query(&self, pairs: &[(&str, &str)]) -> Url {
        let mut rest = self.rest.clone();
        for (k, v) in pairs {
            rest.push(if rest.contains('?') { '&' } else { '?' });
            rest.push_str(&format!("{}={}", encode(k), encode(v)));
        }
        Url { rest, ..self.clone() }
    }

    /// A `Location` header: absolute, or a path on the same server.
    pub fn resolve(&self, loc: &str) -> Result<Url, String> {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            Url::parse(loc)
        } else if loc.starts_with('/') {
            Ok(Url { rest: loc.to_string(), ..self.clone() })
        } else {
            Err(format!("unsupported redirect {loc:?}"))
        }
    }
}

pub fn encode(s: &str) -> String {
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

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", if self.https { "https" } else { "http" }, self.authority(), self.rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_join() {
        let u = Url::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.rest.as_str()), ("127.0.0.1", 5000, "/"));
        assert_eq!(u.join_path("/v2/x/manifests/latest").to_string(), "http://127.0.0.1:5000/v2/x/manifests/latest");
        let t = Url::parse("https://auth.example.com/token?a=b").unwrap().with_query(&[("scope", "repository:x/y:pull")]);
        assert_eq!(t.to_string(), "https://auth.example.com/token?a=b&scope=repository%3Ax%2Fy%3Apull");
        assert_eq!(Url::parse("http://[::1]:5000/v2/").unwrap().authority(), "[::1]:5000");
        assert_eq!(u.resolve("/v2/blob?x=1").unwrap().to_string(), "http://127.0.0.1:5000/v2/blob?x=1");
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("http://x:abc/").is_err());
        assert_eq!(host_of("127.0.0.1:5000"), "127.0.0.1");
    }
}
