//! A push: the image's blobs exactly as the store keeps them (layers
//! compressed as they were pulled, imported or loaded), then its manifest,
//! byte for byte, so a pulled image keeps its manifest digest wherever it is
//! pushed. Blobs the repository has are skipped (`HEAD`); one another
//! repository of the same registry has (the image's repo digests say where
//! it came from) is mounted instead of uploaded.

use std::sync::Arc;

use bytes::Bytes;
use oci_image::manifest::{ManifestKind, OCI_MANIFEST};
use oci_image::{Digest, ImageConfig, Manifest, Platform, Reference};
use serde_json::json;
use tokio::io::AsyncReadExt;

use super::pull::{emit, Progress};
use super::store::{ImageRecord, Store};
use crate::error::{Error, Result};
use crate::registry::upload::{Pushed, UploadBody};
use crate::registry::{Credentials, RegistryConfig, Session};

/// One tag to push, resolved before the client is answered.
struct Item {
    reference: Reference,
    image: ImageRecord,
    manifest: Bytes,
    media_type: String,
    parsed: Manifest,
}

pub struct Prepared {
    session: Arc<Session>,
    repository: Reference,
    items: Vec<Item>,
}

/// Finds what to push (`tag`, or every tag of the repository) and makes the
/// first request, so that unknown images and refused credentials are real
/// HTTP errors, not messages in a 200 stream. With `platform`, each image
/// must be of it (images here are single-platform: nothing to choose).
pub async fn prepare(store: &Store, reg: &RegistryConfig, name: &str, tag: Option<&str>, platform: Option<&Platform>, creds: Option<Credentials>) -> Result<Prepared> {
    let base = Reference::parse_name_only(name)?;
    if base.digest().is_some() {
        return Err(Error::BadParameter(format!("cannot push a digest reference ({name}): push a tag")));
    }
    let tag = tag.filter(|t| !t.is_empty()).or(base.tag());
    let repo = base.with_tag(tag.unwrap_or(oci_image::reference::DEFAULT_TAG))?;
    let mut refs = Vec::new();
    match tag {
        Some(t) => refs.push(base.with_tag(t)?),
        None => {
            for img in store.list()? {
                for t in &img.tags {
                    if let Ok(r) = Reference::parse(t) {
                        if r.repository() == base.repository() {
                            refs.push(r);
                        }
                    }
                }
            }
        }
    }
    if refs.is_empty() {
        return Err(Error::NoSuchImage(format!("{} (an image does not exist locally with the tag: {})", name, base.familiar_repository())));
    }
    let mut items = Vec::new();
    for r in refs {
        let (image, by_ref) = store.lookup(&r.to_string()).map_err(|e| match e {
            Error::NoSuchImage(_) => Error::NoSuchImage(format!("{} (an image does not exist locally with the tag: {})", r.familiar(), r.familiar_repository())),
            e => e,
        })?;
        if by_ref.is_none() {
            return Err(Error::NoSuchImage(r.familiar()));
        }
        if let Some(want) = platform {
            let c = ImageConfig::parse(&store.read_blob(&image.id)?)?;
            let got = Platform::new(&c.os, &c.architecture, c.variant.as_deref()).normalized();
            let want = Platform::new(&want.os, &want.architecture, want.variant.as_deref()).normalized();
            if got != want {
                return Err(Error::NotFound(format!("image {} does not provide the specified platform ({want}): it is {got}", r.familiar())));
            }
        }
        let manifest = Bytes::from(store.read_blob(&image.manifest_digest)?);
        let probe: serde_json::Value = serde_json::from_slice(&manifest).map_err(|e| Error::Internal(format!("stored manifest {}: {e}", image.manifest_digest)))?;
        let parsed = match ManifestKind::parse(None, &manifest)? {
            ManifestKind::Manifest(m) => m,
            ManifestKind::Index(_) => return Err(Error::Internal(format!("stored manifest {} is an index", image.manifest_digest))),
        };
        let media_type = probe.get("mediaType").and_then(|m| m.as_str()).unwrap_or(OCI_MANIFEST).to_string();
        for d in std::iter::once(&parsed.config.digest).chain(parsed.layers.iter().map(|l| &l.digest)) {
            if !store.has_blob(d) {
                return Err(Error::Internal(format!("image {}: blob {d} is missing from the store", image.id)));
            }
        }
        items.push(Item { reference: r, image, manifest, media_type, parsed });
    }
    let session = Session::for_push(reg, &repo, creds)?;
    // Auth and reachability now: the config blob is the cheapest question.
    session.blob_exists(&items[0].parsed.config.digest).await?;
    Ok(Prepared { session: Arc::new(session), repository: repo, items })
}

fn human(n: u64) -> String {
    let n = n as f64;
    if n >= 1e6 {
        format!("{:.2}MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}kB", n / 1e3)
    } else {
        format!("{n}B")
    }
}

/// A body that streams the blob file in 256 KiB chunks, reporting progress.
fn file_body(store: &Store, d: &Digest, len: u64, progress: Progress, id: String) -> impl FnMut() -> Result<crate::registry::ReqBody> + Send {
    let path = store.blob_path(d);
    move || {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (path, progress, id) = (path.clone(), progress.clone(), id.clone());
        tokio::spawn(async move {
            let mut f = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let (mut sent, mut reported) = (0u64, 0u64);
            loop {
                let mut buf = vec![0u8; 256 * 1024];
                match f.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        sent += n as u64;
                        if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                            return;
                        }
                        if sent - reported >= 512 * 1024 || sent == len {
                            reported = sent;
                            emit(&progress, json!({"status": "Pushing", "progressDetail": {"current": sent, "total": len}, "progress": format!("{}/{}", human(sent), human(len)), "id": id}));
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Ok(UploadBody::boxed_body(rx, len))
    }
}

/// Runs the push to the end, reporting as docker does; `concurrency` layers
/// upload at once (`--max-concurrent-uploads`).
pub async fn run(store: Arc<Store>, p: Prepared, progress: Progress, concurrency: usize) -> Result<()> {
    emit(&progress, json!({"status": format!("The push refers to repository [{}]", p.repository.familiar_repository())}));
    for item in &p.items {
        let m = &item.parsed;
        // Where else on this registry the image is known: a blob there
        // can be mounted rather than sent again.
        let from: Option<String> = item
            .image
            .repo_digests
            .iter()
            .filter_map(|n| Reference::parse(n).ok())
            .find(|r| r.domain() == p.repository.domain() && r.path() != p.repository.path())
            .map(|r| r.path().to_string());
        // Docker lists layers top first.
        for l in m.layers.iter().rev() {
            emit(&progress, json!({"status": "Preparing", "progressDetail": {}, "id": l.digest.short()}));
        }
        let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut seen = std::collections::HashSet::new();
        for l in m.layers.iter().rev() {
            // A layer listed twice goes up once.
            if !seen.insert(l.digest.clone()) {
                continue;
            }
            let id = l.digest.short().to_string();
            let mut body = file_body(&store, &l.digest, l.size, progress.clone(), id.clone());
            let (session, sem, progress, from, l) = (p.session.clone(), sem.clone(), progress.clone(), from.clone(), l.clone());
            tasks.spawn(async move {
                let _permit = sem.acquire_owned().await.map_err(|_| Error::Internal("push cancelled".into()))?;
                let status = match session.push_blob(&l.digest, l.size, from.as_deref(), &mut body).await? {
                    Pushed::Exists => "Layer already exists".to_string(),
                    Pushed::Mounted(f) => format!("Mounted from {f}"),
                    Pushed::Uploaded => "Pushed".to_string(),
                };
                emit(&progress, json!({"status": status, "progressDetail": {}, "id": id}));
                Ok::<_, Error>(())
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined.map_err(|e| Error::Internal(format!("layer upload task: {e}")))? {
                // The manifest must not go up without every layer.
                tasks.abort_all();
                return Err(e);
            }
        }
        let mut body = file_body(&store, &m.config.digest, m.config.size, progress.clone(), m.config.digest.short().to_string());
        p.session.push_blob(&m.config.digest, m.config.size, from.as_deref(), &mut body).await?;
        let tag = item.reference.tag().unwrap_or(oci_image::reference::DEFAULT_TAG).to_string();
        let digest = p.session.put_manifest(&tag, &item.media_type, item.manifest.clone()).await?;
        store.add_repo_digest(&item.image.id, &item.reference.with_digest(digest.clone()))?;
        tracing::info!(reference = %item.reference, %digest, "pushed");
        let size = item.manifest.len();
        emit(&progress, json!({"status": format!("{tag}: digest: {digest} size: {size}"), "progressDetail": {}}));
        emit(&progress, json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size}}));
    }
    Ok(())
}
