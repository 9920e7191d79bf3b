//! Image references, normalised exactly as docker does: `busybox` is
//! `docker.io/library/busybox:latest`; the first component is a registry
//! host only if it has a `.` or a `:` or is `localhost`.

use std::fmt;

use crate::digest::Digest;
use crate::error::{Error, Result};

pub const DEFAULT_DOMAIN: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Whether the first `/`-separated component of a name is a registry host
/// rather than part of a Docker Hub path: it has a `.` or a `:`, or is
/// `localhost` (docker's rule, for references and search terms alike).
pub fn looks_like_host(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost"
}

impl Reference {
    /// Parses and normalises; a reference with neither tag nor digest gets `latest`.
    pub fn parse(s: &str) -> Result<Reference> {
        let mut r = Reference::parse_name_only(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Parses without adding the default tag (`berth images busybox` filters
    /// on the repository, `pull -a` means every tag).
    pub fn parse_name_only(s: &str) -> Result<Reference> {
        let bad = |reason| Error::InvalidReference { reference: s.to_string(), reason };
        if s.is_empty() {
            return Err(bad("empty reference"));
        }
        if s.len() > 4096 {
            return Err(bad("reference too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d).map_err(|_| bad("invalid digest"))?)),
            None => (s, None),
        };
        // A tag follows the last ':' that has no '/' after it (a ':' before a
        // '/' is a registry port).
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad("invalid tag"));
            }
        }
        if name.is_empty() {
            return Err(bad("empty repository name"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest)) if looks_like_host(first) || first.bytes().any(|b| b.is_ascii_uppercase()) => {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" { DEFAULT_DOMAIN.to_string() } else { domain };
        if !valid_domain(&domain) {
            return Err(bad("invalid registry host"));
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        if path.split('/').any(|c| !valid_path_component(c)) {
            return Err(bad("invalid repository name"));
        }
        if domain.len() + 1 + path.len() > 255 {
            return Err(bad("repository name must not be more than 255 characters"));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') { format!("library/{path}") } else { path };
        Ok(Reference { domain, path, tag: tag.map(str::to_string), digest })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The repository path on its registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `docker.io/library/busybox`
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short form docker shows: `busybox`, `user/app`, `127.0.0.1:5000/busybox`.
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path.strip_prefix("library/").unwrap_or(&self.path).to_string()
        } else {
            self.repository()
        }
    }

    /// What the registry is asked for: the digest if there is one, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        if !valid_tag(tag) {
            return Err(Error::InvalidReference { reference: tag.to_string(), reason: "invalid tag" });
        }
        Ok(Reference { tag: Some(tag.to_string()), digest: None, ..self.clone() })
    }

    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { tag: None, digest: Some(digest), ..self.clone() }
    }

    /// The familiar form with tag/digest (`busybox:latest`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() || b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // [ipv6]:port
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b':')
        })
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_normalisation() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("index.docker.io/library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(norm("127.0.0.1:5000/busybox:zstd"), "127.0.0.1:5000/busybox:zstd");
        assert_eq!(norm("127.0.0.1:5000/private/busybox"), "127.0.0.1:5000/private/busybox:latest");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("localhost:5000/a/b/c"), "localhost:5000/a/b/c:latest");
        assert_eq!(norm("quay.io/a_b/c-d__e.f"), "quay.io/a_b/c-d__e.f:latest");
        assert_eq!(norm("[::1]:5000/busybox"), "[::1]:5000/busybox:latest");
        let d = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{d}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.manifest_reference(), d);
        let r = Reference::parse(&format!("host:5000/x:t@{d}")).unwrap();
        assert_eq!((r.domain(), r.path(), r.tag()), ("host:5000", "x", Some("t")));
        assert_eq!(Reference::parse("busybox").unwrap().familiar(), "busybox:latest");
        assert_eq!(Reference::parse("127.0.0.1:5000/busybox").unwrap().familiar(), "127.0.0.1:5000/busybox:latest");
    }

    #[test]
    fn bad_references() {
        for s in [
            "",
            "Busybox",
            "busybox:",
            ":tag",
            "busybox:-x",
            "busybox@sha256:abc",
            "busybox@md5:0123",
            "a//b",
            "a/b/",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "host:port/x",
            "busybox:a/b",
            "a b",
            &format!("busybox:{}", "t".repeat(129)),
        ] {
            assert!(Reference::parse(s).is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn name_only_keeps_no_tag() {
        let r = Reference::parse_name_only("busybox").unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.repository(), "docker.io/library/busybox");
    }
}
