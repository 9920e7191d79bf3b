//! `GET /images/search`: the distribution spec has no search, so berthd
//! looks through a registry's catalog (`/v2/_catalog`) for repositories
//! whose name contains the term. The registry comes from the term, as in
//! docker: `127.0.0.1:5000/busy` searches 127.0.0.1:5000 for "busy".
//! Registries keep no descriptions or stars: those fields are empty, and
//! nothing is official or automated.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use oci_image::reference::DEFAULT_DOMAIN;
use serde_json::{json, Value};

use super::images::{raw_filters, registry_auth};
use super::{json, Body, Query};
use crate::error::{Error, Result};
use crate::registry::{Credentials, Session};
use crate::State;

const DEFAULT_LIMIT: usize = 25;

/// (registry, what to look for): the first component is a registry when it
/// looks like a host (a `.` or `:`, or `localhost`), as docker decides.
fn split_term(term: &str) -> (String, String) {
    match term.split_once('/') {
        Some((host, rest)) if oci_image::reference::looks_like_host(host) => {
            let host = if host == "index.docker.io" || host == "registry-1.docker.io" { DEFAULT_DOMAIN } else { host };
            (host.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), term.to_string()),
    }
}

/// The filters docker's search takes, checked against what a catalog
/// result is (not official, not automated, no stars).
struct Filters {
    official: Option<bool>,
    automated: Option<bool>,
    stars: u64,
}

fn bool_filter(k: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::BadParameter(format!("invalid filter '{k}={v}'"))),
    }
}

impl Filters {
    fn parse(q: &Query) -> Result<Filters> {
        let mut f = Filters { official: None, automated: None, stars: 0 };
        for (k, v) in raw_filters(q, &["is-official", "is-automated", "stars"])? {
            match k.as_str() {
                "is-official" => f.official = Some(bool_filter(&k, &v)?),
                "is-automated" => f.automated = Some(bool_filter(&k, &v)?),
                _ => f.stars = v.parse().map_err(|_| Error::BadParameter(format!("invalid filter 'stars={v}'")))?,
            }
        }
        Ok(f)
    }

    fn keep(&self, r: &Value) -> bool {
        self.official.is_none_or(|o| r["is_official"] == o) && self.automated.is_none_or(|a| r["is_automated"] == a) && r["star_count"].as_u64().unwrap_or(0) >= self.stars
    }
}

pub async fn search(s: Arc<State>, q: &Query, req: &Request<Incoming>) -> Result<hyper::Response<Body>> {
    q.only(&["term", "limit", "filters"])?;
    let term = q.get("term").unwrap_or("").trim();
    if term.is_empty() {
        return Err(Error::BadParameter("a search term is required".into()));
    }
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => return Err(Error::BadParameter(format!("limit {l:?} must be in range [1, 100]"))),
        },
    };
    let filters = Filters::parse(q)?;
    let (domain, needle) = split_term(term);
    if domain == DEFAULT_DOMAIN && s.registry.mirrors.is_empty() {
        return Err(Error::BadParameter(format!(
            "searching Docker Hub is not supported (Hub has no catalog, and its own search API is not spoken): name a registry, as in 'berth search HOST:PORT/{needle}', or configure a registry mirror"
        )));
    }
    let creds = registry_auth(req)?.or_else(|| Credentials::from_docker_config(&domain));
    let repos = Session::catalog(&s.registry, &domain, creds).await?;
    let needle = needle.to_lowercase();
    let results: Vec<Value> = repos
        .iter()
        .filter(|r| r.to_lowercase().contains(&needle))
        .map(|r| {
            let name = if domain == DEFAULT_DOMAIN { r.strip_prefix("library/").unwrap_or(r).to_string() } else { format!("{domain}/{r}") };
            json!({"name": name, "description": "", "star_count": 0, "is_official": false, "is_automated": false})
        })
        .filter(|r| filters.keep(r))
        .take(limit)
        .collect();
    Ok(json(StatusCode::OK, &Value::Array(results)))
}

#[cfg(test)]
mod tests {
    use super::split_term;

    #[test]
    fn the_term_names_the_registry() {
        assert_eq!(split_term("127.0.0.1:5000/busy"), ("127.0.0.1:5000".into(), "busy".into()));
        assert_eq!(split_term("localhost/x/y"), ("localhost".into(), "x/y".into()));
        assert_eq!(split_term("registry.example/"), ("registry.example".into(), "".into()));
        assert_eq!(split_term("busybox"), ("docker.io".into(), "busybox".into()));
        assert_eq!(split_term("library/busybox"), ("docker.io".into(), "library/busybox".into()));
    }
}
