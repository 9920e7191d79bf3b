//! `/images/...`: list, pull (`create`), inspect, tag, remove.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use oci_image::{Digest, ImageConfig, Platform, Reference};
use serde_json::{json, Value};

use super::{empty, json, stream, Body, Query};
use crate::error::{Error, Result};
use crate::images::pull;
use crate::images::store::ImageRecord;
use crate::registry::Credentials;
use crate::State;

pub(super) fn familiar(names: &[String]) -> Vec<String> {
    names.iter().map(|n| Reference::parse(n).map(|r| r.familiar()).unwrap_or_else(|_| n.clone())).collect()
}

pub(super) fn config_of(s: &State, img: &ImageRecord) -> Result<ImageConfig> {
    Ok(ImageConfig::parse(&s.store.read_blob(&img.id)?)?)
}

/// `*` matches any run of characters, as in docker's reference filter.
fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, tail)) => s.strip_prefix(head).is_some_and(|rest| (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))),
    }
}

/// `filters` as JSON: `{"dangling":["true"]}` or the old `{"dangling":{"true":true}}`;
/// only the keys in `allowed`.
pub(super) fn raw_filters(q: &Query, allowed: &[&str]) -> Result<Vec<(String, String)>> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else { return Ok(vec![]) };
    let v: Value = serde_json::from_str(raw).map_err(|e| Error::BadParameter(format!("invalid filters: {e}")))?;
    let obj = v.as_object().ok_or_else(|| Error::BadParameter("invalid filters: expected an object".into()))?;
    let mut out = Vec::new();
    for (k, vals) in obj {
        let list: Vec<String> = match vals {
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            Value::Object(o) => o.keys().cloned().collect(),
            _ => return Err(Error::BadParameter(format!("invalid filter {k:?}"))),
        };
        if !allowed.contains(&k.as_str()) {
            return Err(Error::BadParameter(format!("invalid filter '{k}'")));
        }
        out.extend(list.into_iter().map(|v| (k.clone(), v)));
    }
    Ok(out)
}

fn ref_match(pat: &str, tag: &str) -> bool {
    glob(pat, tag) || tag.rsplit_once(':').is_some_and(|(repo, _)| glob(pat, repo))
}

/// The image filters of `images` and `image prune`.
#[derive(Default)]
struct Filters {
    dangling: Option<bool>,
    references: Vec<String>,
    /// (key, value, wanted): `label=k`, `label=k=v`, `label!=k[=v]`.
    labels: Vec<(String, Option<String>, bool)>,
    before: Option<i64>,
    since: Option<i64>,
    until: Option<i64>,
}

impl Filters {
    fn parse(s: &State, q: &Query, allowed: &[&str]) -> Result<Filters> {
        let mut f = Filters::default();
        for (k, v) in raw_filters(q, allowed)? {
            match k.as_str() {
                "dangling" => {
                    f.dangling = Some(match v.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(Error::BadParameter(format!("invalid filter 'dangling={v}'"))),
                    })
                }
                "reference" => f.references.push(v),
                "label" | "label!" => {
                    let (key, val) = match v.split_once('=') {
                        Some((a, b)) => (a.to_string(), Some(b.to_string())),
                        None => (v.clone(), None),
                    };
                    f.labels.push((key, val, k == "label"));
                }
                "before" | "since" => {
                    // An image, by name or id: its creation time is the bound.
                    let (img, _) = s.store.lookup(&v)?;
                    let t = img.created.as_deref().and_then(crate::time::parse_rfc3339).unwrap_or(0);
                    if k == "before" {
                        f.before = Some(t);
                    } else {
                        f.since = Some(t);
                    }
                }
                "until" => f.until = Some(crate::time::filter_timestamp(&v)?),
                _ => return Err(Error::BadParameter(format!("invalid filter '{k}'"))),
            }
        }
        Ok(f)
    }

    fn keep(&self, img: &ImageRecord, labels: &Value) -> bool {
        let created = img.created.as_deref().and_then(crate::time::parse_rfc3339).unwrap_or(0);
        let label_ok = self.labels.iter().all(|(k, v, wanted)| {
            let has = match (labels.get(k), v) {
                (Some(_), None) => true,
                (Some(got), Some(v)) => got.as_str() == Some(v.as_str()),
                (None, _) => false,
            };
            has == *wanted
        });
        self.dangling.iter().all(|&d| d == img.tags.is_empty())
            && (self.references.is_empty() || familiar(&img.tags).iter().any(|t| self.references.iter().any(|p| ref_match(p, t))))
            && label_ok
            && self.before.iter().all(|&b| created < b)
            && self.since.iter().all(|&b| created > b)
            && self.until.iter().all(|&u| created < u)
    }
}

pub(super) fn labels_of(cfg: &ImageConfig) -> Value {
    cfg.config.as_ref().and_then(|c| c.get("Labels")).filter(|l| l.is_object()).cloned().unwrap_or(json!({}))
}

pub fn list(s: &State, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["all", "digests", "filters", "shared-size", "manifests"])?;
    q.flag("all")?;
    q.flag("digests")?;
    let f = Filters::parse(s, q, &["dangling", "reference", "label", "label!", "before", "since", "until"])?;
    let mut out = Vec::new();
    for img in s.store.list()? {
        let cfg = config_of(s, &img)?;
        let labels = labels_of(&cfg);
        if !f.keep(&img, &labels) {
            continue;
        }
        // With a reference filter, only the matching names are listed, as
        // docker does (`images busybox` does not show the image's other tags).
        let wanted = |n: &String| f.references.is_empty() || f.references.iter().any(|p| ref_match(p, n) || n.split_once('@').is_some_and(|(repo, _)| glob(p, repo)));
        let tags: Vec<String> = familiar(&img.tags).into_iter().filter(wanted).collect();
        let digests: Vec<String> = familiar(&img.repo_digests).into_iter().filter(wanted).collect();
        out.push(json!({
            "Id": img.id.to_string(),
            "ParentId": "",
            "RepoTags": tags,
            "RepoDigests": digests,
            "Created": img.created.as_deref().and_then(crate::time::parse_rfc3339).unwrap_or(0),
            "Size": img.size,
            "SharedSize": -1,
            "Labels": labels,
            "Containers": -1,
        }));
    }
    Ok(json(StatusCode::OK, &Value::Array(out)))
}

/// `POST /images/prune`: removes images no container uses, only dangling
/// (untagged) ones unless `dangling=false` (`image prune -a`), narrowed by
/// `until` and `label`. Answers what docker answers: the untagged and
/// deleted items and the bytes of the layers removed from disk.
pub fn prune(s: &State, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["filters"])?;
    let mut f = Filters::parse(s, q, &["dangling", "until", "label", "label!"])?;
    if f.dangling == Some(false) {
        f.dangling = None;
    } else {
        f.dangling = Some(true);
    }
    let (mut items, mut reclaimed) = (Vec::new(), 0u64);
    for img in s.store.list()? {
        let cfg = config_of(s, &img)?;
        if !f.keep(&img, &labels_of(&cfg)) || !s.containers.using_image(&img.id.to_string())?.is_empty() {
            continue;
        }
        let sizes: std::collections::HashMap<String, u64> = img.diff_ids.iter().map(|d| Ok((d.to_string(), s.store.layer_size(d)?))).collect::<Result<_>>()?;
        // Forced: a pruned image goes with every name it has.
        let r = s.store.remove(&img, None, true)?;
        reclaimed += r.deleted.iter().filter_map(|d| sizes.get(d)).sum::<u64>();
        items.extend(r.untagged.iter().map(|u| json!({"Untagged": u})));
        items.extend(r.deleted.iter().map(|d| json!({"Deleted": d})));
        tracing::info!(image = %img.id, "pruned");
    }
    Ok(json(StatusCode::OK, &json!({"ImagesDeleted": if items.is_empty() { Value::Null } else { Value::Array(items) }, "SpaceReclaimed": reclaimed})))
}

pub fn inspect(s: &State, name: &str) -> Result<hyper::Response<Body>> {
    let (img, _) = s.store.lookup(name)?;
    let cfg = config_of(s, &img)?;
    let lower: Vec<String> = img.diff_ids.iter().rev().map(|d| s.store.layer_path(d).display().to_string()).collect();
    let mut v = json!({
        "Id": img.id.to_string(),
        "RepoTags": familiar(&img.tags),
        "RepoDigests": familiar(&img.repo_digests),
        "Parent": "",
        "Comment": cfg.comment.clone().unwrap_or_default(),
        "Created": cfg.created.clone().unwrap_or_default(),
        "DockerVersion": cfg.docker_version.clone().unwrap_or_default(),
        "Author": cfg.author.clone().unwrap_or_default(),
        "Config": cfg.config.clone().unwrap_or(Value::Null),
        "Architecture": cfg.architecture,
        "Os": cfg.os,
        "Size": img.size,
        "GraphDriver": {"Name": "overlay2", "Data": {"LowerDir": lower.join(":")}},
        "RootFS": {"Type": "layers", "Layers": img.diff_ids.iter().map(Digest::to_string).collect::<Vec<_>>()},
        "Metadata": {"LastTagTime": img.last_tag_time.map(crate::time::rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into())},
    });
    if let Some(var) = &cfg.variant {
        v["Variant"] = json!(var);
    }
    if let Some(ov) = &cfg.os_version {
        v["OsVersion"] = json!(ov);
    }
    Ok(json(StatusCode::OK, &v))
}

/// `GET /images/{name}/history`: the config's history, newest first, each
/// entry that made a layer given that layer's size. As docker, only the top
/// entry is named by the image id (older ones are `<missing>`: there are no
/// intermediate images), and it carries the image's tags.
pub fn history(s: &State, name: &str) -> Result<hyper::Response<Body>> {
    let (img, _) = s.store.lookup(name)?;
    let cfg = config_of(s, &img)?;
    let mut layers = img.diff_ids.iter();
    let mut out = Vec::new();
    let entries: Vec<oci_image::manifest::History> = if cfg.history.is_empty() {
        // An image without history: one line per layer, as docker shows it.
        img.diff_ids.iter().map(|_| oci_image::manifest::History::default()).collect()
    } else {
        cfg.history.clone()
    };
    for h in &entries {
        let size = if h.empty_layer { 0 } else { layers.next().map(|d| s.store.layer_size(d)).transpose()?.unwrap_or(0) };
        out.push(json!({
            "Id": "<missing>",
            "Created": h.created.as_deref().and_then(crate::time::parse_rfc3339).unwrap_or(0),
            "CreatedBy": h.created_by.clone().unwrap_or_default(),
            "Tags": Value::Null,
            "Size": size,
            "Comment": h.comment.clone().unwrap_or_default(),
        }));
    }
    out.reverse();
    if let Some(top) = out.first_mut() {
        top["Id"] = json!(img.id.to_string());
        top["Tags"] = json!(familiar(&img.tags));
    }
    Ok(json(StatusCode::OK, &Value::Array(out)))
}

/// What a `create` asks for: `fromImage` with `tag` (a tag or a digest).
enum PullRef {
    One(Reference),
    /// A repository with no tag or digest anywhere: as the API says,
    /// every tag (`pull -a`).
    AllTags(Reference),
}

fn pull_reference(q: &Query) -> Result<PullRef> {
    let from = q.get("fromImage").filter(|f| !f.is_empty()).ok_or_else(|| Error::BadParameter("fromImage is required (or fromSrc=- to import)".into()))?;
    let base = Reference::parse_name_only(from)?;
    Ok(match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => PullRef::One(base.with_digest(Digest::parse(t)?)),
        Some(t) => PullRef::One(base.with_tag(t)?),
        None if base.tag().is_none() && base.digest().is_none() => PullRef::AllTags(base),
        None => PullRef::One(base),
    })
}

pub async fn create(s: Arc<State>, q: &Query, req: Request<Incoming>) -> Result<hyper::Response<Body>> {
    if q.get("fromSrc").is_some() {
        return import(s, q, req).await;
    }
    q.only(&["fromImage", "tag", "platform"])?;
    let platform = q.get("platform").filter(|p| !p.is_empty()).map(Platform::parse).transpose()?;
    let creds = registry_auth(&req)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let store = s.store.clone();
    let n = s.cfg.max_concurrent_downloads;
    // What fails before the stream starts gets a real status: the first
    // image resolved, or for all tags the tag list.
    let pulling: PullTask = match pull_reference(q)? {
        PullRef::One(r) => {
            let resolved = pull::resolve(&s.registry, r, platform, creds).await?;
            let tx = tx.clone();
            Box::pin(async move { pull::run(store, resolved, tx, n).await })
        }
        PullRef::AllTags(base) => {
            let tags = crate::registry::Session::tags(&s.registry, &base, creds.clone().or_else(|| Credentials::from_docker_config(base.domain()))).await?;
            if tags.is_empty() {
                return Err(Error::NotFound(format!("{}: the repository has no tags", base.familiar())));
            }
            let (reg, tx) = (s.registry.clone(), tx.clone());
            Box::pin(async move { pull::run_all_tags(store, reg, base, tags, platform, creds, tx, n).await })
        }
    };
    // The pull goes on even if the client hangs up: what it fetched is
    // then already in the store for the next try.
    tokio::spawn(async move {
        if let Err(e) = pulling.await {
            tracing::warn!(error = %e.chain(), "pull failed");
            let m = e.chain();
            pull::emit(&tx, json!({"errorDetail": {"message": m}, "error": m}));
        }
    });
    Ok(stream(rx))
}

type PullTask = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// `POST /images/create?fromSrc=-`: the body is a rootfs tarball (docker
/// import). Only `-` (the body) is a source: fetching a URL would reach
/// outside the host.
async fn import(s: Arc<State>, q: &Query, req: Request<Incoming>) -> Result<hyper::Response<Body>> {
    q.only(&["fromSrc", "repo", "tag", "changes", "message", "platform"])?;
    if q.get("fromSrc") != Some("-") {
        return Err(Error::BadParameter("import from a URL is not supported: send the tarball as the body (fromSrc=-)".into()));
    }
    let tag = match q.get("repo").filter(|r| !r.is_empty()) {
        None => None,
        Some(repo) => {
            let base = Reference::parse_name_only(repo)?;
            if base.digest().is_some() {
                return Err(Error::BadParameter("refusing to create a tag with a digest reference".into()));
            }
            let t = q.get("tag").filter(|t| !t.is_empty()).or(base.tag()).unwrap_or(oci_image::reference::DEFAULT_TAG).to_string();
            Some(base.with_tag(&t)?)
        }
    };
    let opts = crate::images::import::ImportOptions {
        tag,
        changes: q.all("changes"),
        message: q.get("message").map(str::to_string),
        platform: q.get("platform").filter(|p| !p.is_empty()).map(Platform::parse).transpose()?,
    };
    let mut up = crate::images::import::Upload::new(&s.store)?;
    let mut body = req.into_body();
    use http_body_util::BodyExt;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::BadParameter(format!("reading the tarball: {e}")))?;
        if let Ok(data) = frame.into_data() {
            // A buffered write of one body frame: page-cache speed, short
            // enough for an async thread; the fsync and unpack run blocking.
            up.write(&data)?;
        }
    }
    let store = s.store.clone();
    let id = tokio::task::spawn_blocking(move || crate::images::import::import(&store, up, &opts)).await.map_err(|e| Error::Internal(e.to_string()))??;
    tracing::info!(image = %id, "imported");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    pull::emit(&tx, json!({"status": id.to_string()}));
    Ok(stream(rx))
}

/// `platform` of save and load: the JSON OCI platform docker's API takes
/// (`{"os":"linux","architecture":"arm64"}`), or `os/arch[/variant]`.
fn platform_param(q: &Query) -> Result<Option<Platform>> {
    match q.get("platform").map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) if p.starts_with('{') => {
            let v: Platform = serde_json::from_str(p).map_err(|e| Error::BadParameter(format!("invalid platform {p:?}: {e}")))?;
            Ok(Some(v.normalized()))
        }
        Some(p) => Ok(Some(Platform::parse(p)?)),
    }
}

/// `GET /images/get?names=...` and `GET /images/{name}/get`: the archive
/// streams as it is written; every name is resolved first, so an unknown one
/// is a 404 before any byte of tar.
pub async fn save(s: Arc<State>, names: Vec<String>, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["names", "platform"])?;
    let platform = platform_param(q)?;
    let store = s.store.clone();
    let plan = tokio::task::spawn_blocking(move || crate::images::save::plan(&store, &names, platform.as_ref())).await.map_err(|e| Error::Internal(e.to_string()))??;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let store = s.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = crate::images::save::ChannelWriter::new(tx);
        let started = std::time::Instant::now();
        match crate::images::save::write(&store, &plan, &mut w) {
            Ok(()) => tracing::info!(images = plan.len(), ms = started.elapsed().as_millis() as u64, "saved"),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "save failed");
                w.fail(&e);
            }
        }
    });
    Ok(super::fallible_stream(rx, "application/x-tar"))
}

/// `POST /images/load`: the body is spooled as it arrives (the archive's
/// entries may come in any order), checked, then loaded; the answer is
/// docker's JSON messages, or an error status when the archive is refused.
pub async fn load(s: Arc<State>, q: &Query, req: Request<Incoming>) -> Result<hyper::Response<Body>> {
    q.only(&["quiet", "platform"])?;
    let platform = platform_param(q)?;
    let quiet = q.flag("quiet")?;
    // Few frames in flight: the CLI sends 256 KiB chunks, and the spool
    // writes to disk faster than a socket delivers.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<bytes::Bytes, String>>(8);
    let store = s.store.clone();
    let started = std::time::Instant::now();
    let spool = tokio::task::spawn_blocking(move || crate::images::load::Spool::read(&store, crate::images::pull::ChannelReader::new(rx)));
    let mut body = req.into_body();
    use http_body_util::BodyExt;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    // The spooler stopped: its error says why.
                    if tx.send(Ok(data)).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("reading the request body: {e}"))).await;
                break;
            }
        }
    }
    drop(tx);
    let spool = spool.await.map_err(|e| Error::Internal(e.to_string()))??;
    let store = s.store.clone();
    let msgs = tokio::task::spawn_blocking(move || crate::images::load::load(&store, spool, quiet, platform.as_ref())).await.map_err(|e| Error::Internal(e.to_string()))??;
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "load done");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for m in msgs {
        pull::emit(&tx, m);
    }
    Ok(stream(rx))
}

pub(super) fn registry_auth(req: &Request<Incoming>) -> Result<Option<Credentials>> {
    match req.headers().get("x-registry-auth").and_then(|v| v.to_str().ok()) {
        Some(h) => Credentials::from_header(h),
        None => Ok(None),
    }
}

/// `POST /images/{name}/push?tag=`: resolved (image, auth) before the 200,
/// then streamed progress as docker's, ending with the `aux` digest.
pub async fn push(s: Arc<State>, name: &str, q: &Query, req: &Request<Incoming>) -> Result<hyper::Response<Body>> {
    q.only(&["tag", "platform"])?;
    let platform = platform_param(q)?;
    let r = Reference::parse_name_only(name)?;
    let creds = registry_auth(req)?.or_else(|| Credentials::from_docker_config(r.domain()));
    let prepared = crate::images::push::prepare(&s.store, &s.registry, name, q.get("tag"), platform.as_ref(), creds).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let store = s.store.clone();
    let n = s.cfg.max_concurrent_uploads;
    // As in docker, a client that hangs up cancels the push (unlike a pull,
    // nothing half-done is worth keeping: the registry drops unfinished uploads).
    tokio::spawn(async move {
        let r = tokio::select! {
            r = crate::images::push::run(store, prepared, tx.clone(), n) => r,
            _ = tx.closed() => {
                tracing::info!("push cancelled: the client went away");
                return;
            }
        };
        if let Err(e) = r {
            tracing::warn!(error = %e.chain(), "push failed");
            let m = e.chain();
            pull::emit(&tx, json!({"errorDetail": {"message": m}, "error": m}));
        }
    });
    Ok(stream(rx))
}

pub fn tag(s: &State, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["repo", "tag"])?;
    let (img, _) = s.store.lookup(name)?;
    let repo = q.get("repo").filter(|r| !r.is_empty()).ok_or_else(|| Error::BadParameter("repository name (repo) is required".into()))?;
    let base = Reference::parse_name_only(repo)?;
    if base.digest().is_some() {
        return Err(Error::BadParameter("refusing to create a tag with a digest reference".into()));
    }
    let t = q.get("tag").filter(|t| !t.is_empty()).or(base.tag()).unwrap_or(oci_image::reference::DEFAULT_TAG).to_string();
    let target = base.with_tag(&t)?;
    s.store.tag(&img.id, &target)?;
    tracing::info!(image = %img.id, tag = %target, "tagged");
    Ok(empty(StatusCode::CREATED))
}

pub fn remove(s: &State, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["force", "noprune"])?;
    let force = q.flag("force")?;
    // Images have no parent chain here, so there is nothing for noprune to keep.
    q.flag("noprune")?;
    let (img, by_ref) = s.store.lookup(name)?;
    // Untagging is fine; deleting an image a container uses is not.
    let users = s.containers.using_image(&img.id.to_string())?;
    if let Some(u) = users.first() {
        if by_ref.is_none() || img.tags.len() <= 1 || force {
            let short: String = img.id.hex().chars().take(12).collect();
            return Err(Error::Conflict(format!("conflict: unable to delete {short} - image is being used by container {}", &u[..12.min(u.len())])));
        }
    }
    let r = s.store.remove(&img, by_ref.as_ref(), force)?;
    let mut out: Vec<Value> = r.untagged.iter().map(|u| json!({"Untagged": u})).collect();
    out.extend(r.deleted.iter().map(|d| json!({"Deleted": d})));
    tracing::info!(image = %img.id, untagged = r.untagged.len(), deleted = r.deleted.len(), "removed");
    Ok(json(StatusCode::OK, &Value::Array(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_pull_refs() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("*box:latest", "busybox:latest"));
        assert!(!glob("busy", "busybox"));
        let shown = |q: &str| match pull_reference(&Query::parse(Some(q))).unwrap() {
            PullRef::One(r) => r.to_string(),
            PullRef::AllTags(r) => format!("all tags of {r}"),
        };
        assert_eq!(shown("fromImage=busybox&tag=zstd"), "docker.io/library/busybox:zstd");
        assert_eq!(shown("fromImage=busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(shown("fromImage=127.0.0.1:5000/busybox"), "all tags of 127.0.0.1:5000/busybox");
        assert_eq!(shown("fromImage=127.0.0.1:5000/busybox&tag="), "all tags of 127.0.0.1:5000/busybox");
        let d = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(shown(&format!("fromImage=busybox&tag={d}")), format!("docker.io/library/busybox@{d}"));
        assert!(pull_reference(&Query::parse(Some("tag=x"))).is_err());
    }
}
