//! A pull: resolve the reference to one manifest (choosing the platform in
//! an index), then download every layer concurrently, each streamed through
//! sha256, the decompressor, a second sha256 (the diff_id) and the unpacker
//! at once, into a temporary blob and a staging directory that are renamed
//! into place only when both digests match. The image is recorded last, in
//! one transaction: an interrupted pull is never listed.

use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use oci_image::digest::Hasher;
use oci_image::manifest::{Compression, ManifestKind};
use oci_image::unpack::{self, StagedDir, UnpackOptions};
use oci_image::{Descriptor, Digest, HashingReader, ImageConfig, Manifest, Platform, Reference};
use serde_json::json;
use tokio::sync::mpsc;

use super::store::{NewImage, Store};
use crate::error::{Error, Result};
use crate::registry::{Credentials, RegistryConfig, Session, STALL_TIMEOUT};

/// Progress lines for the client, already JSON-encoded with their newline.
pub type Progress = mpsc::UnboundedSender<Bytes>;

pub fn emit(p: &Progress, v: serde_json::Value) {
    let mut line = v.to_string().into_bytes();
    line.push(b'\n');
    let _ = p.send(line.into());
}

fn layer_msg(p: &Progress, id: &str, status: &str) {
    emit(p, json!({"status": status, "progressDetail": {}, "id": id}));
}

/// What `resolve` found: enough to answer the client with 200 and stream.
pub struct Resolved {
    session: Session,
    pub reference: Reference,
    /// The index (if the tag names one) and the manifest actually pulled.
    index: Option<(Digest, Bytes)>,
    manifest: (Digest, Bytes, Manifest),
    config: (Bytes, ImageConfig),
}

/// Everything that can fail before the first byte of progress: bad names,
/// auth, unknown manifests, platform mismatch. These get real HTTP statuses.
pub async fn resolve(reg: &RegistryConfig, r: Reference, platform: Option<Platform>, creds: Option<Credentials>) -> Result<Resolved> {
    let creds = creds.or_else(|| Credentials::from_docker_config(r.domain()));
    let (session, top) = Session::open(reg, &r, creds).await?;
    let wanted = platform.clone().unwrap_or_else(Platform::host);
    let (index, manifest) = match ManifestKind::parse(top.content_type.as_deref(), &top.body)? {
        ManifestKind::Manifest(m) => (None, (top.digest, top.body, m)),
        ManifestKind::Index(i) => {
            let d = wanted.select(&i)?;
            let f = session.manifest(&d.digest.to_string()).await?;
            match ManifestKind::parse(f.content_type.as_deref(), &f.body)? {
                ManifestKind::Manifest(m) => (Some((top.digest, top.body)), (f.digest, f.body, m)),
                ManifestKind::Index(_) => return Err(Error::Registry(format!("{}: nested image indexes are not supported", d.digest))),
            }
        }
    };
    let cfg_body = session.small_blob(&manifest.2.config.digest).await?;
    let cfg = ImageConfig::parse(&cfg_body)?;
    if cfg.rootfs.diff_ids.len() != manifest.2.layers.len() {
        return Err(Error::Registry(format!("{}: manifest lists {} layers but its config {} diff_ids", manifest.0, manifest.2.layers.len(), cfg.rootfs.diff_ids.len())));
    }
    if let Some(p) = &platform {
        let got = Platform::new(&cfg.os, &cfg.architecture, cfg.variant.as_deref());
        if got.normalized() != p.normalized() && index.is_none() {
            return Err(Error::NotFound(format!("image with reference {} was found but does not match the specified platform: wanted {p}, actual: {got}", r.familiar())));
        }
    }
    Ok(Resolved { session, reference: r, index, manifest, config: (cfg_body, cfg) })
}

impl Resolved {
    fn pins(&self) -> Vec<String> {
        let m = &self.manifest.2;
        let mut v: Vec<String> = m.layers.iter().map(|l| Store::blob_key(&l.digest)).collect();
        v.extend(self.config.1.rootfs.diff_ids.iter().map(Store::layer_key));
        v.push(Store::blob_key(&self.manifest.0));
        v.push(Store::blob_key(&m.config.digest));
        if let Some((d, _)) = &self.index {
            v.push(Store::blob_key(d));
        }
        v
    }
}

/// Runs the pull to the end, reporting as docker does.
pub async fn run(store: Arc<Store>, res: Resolved, progress: Progress, concurrency: usize) -> Result<()> {
    let (up_to_date, what) = run_one(&store, res, &progress, concurrency).await?;
    emit_status(&progress, up_to_date, &what);
    Ok(())
}

/// `pull -a`: every tag of `base`'s repository (listed by `tags`), one after
/// the other in one progress stream; each tag is resolved only when its turn
/// comes, so an error stops the pull there with the earlier tags kept. The
/// final status names the repository, as docker's does.
pub async fn run_all_tags(store: Arc<Store>, reg: RegistryConfig, base: Reference, tags: Vec<String>, platform: Option<Platform>, creds: Option<Credentials>, progress: Progress, concurrency: usize) -> Result<()> {
    let mut all_up_to_date = true;
    for t in tags {
        let res = resolve(&reg, base.with_tag(&t)?, platform.clone(), creds.clone()).await?;
        let (up_to_date, _) = run_one(&store, res, &progress, concurrency).await?;
        all_up_to_date &= up_to_date;
    }
    emit_status(&progress, all_up_to_date, &base.familiar());
    Ok(())
}

fn emit_status(progress: &Progress, up_to_date: bool, what: &str) {
    let status = if up_to_date { format!("Status: Image is up to date for {what}") } else { format!("Status: Downloaded newer image for {what}") };
    emit(progress, json!({"status": status}));
}

/// One image, its blobs pinned against the collector while it is pulled.
/// Returns whether the reference already named this image, and the name
/// the status line gives it.
async fn run_one(store: &Arc<Store>, res: Resolved, progress: &Progress, concurrency: usize) -> Result<(bool, String)> {
    let pins = res.pins();
    store.pin(&pins);
    let r = run_pinned(store, res, progress, concurrency).await;
    store.unpin(&pins);
    r
}

async fn run_pinned(store: &Arc<Store>, res: Resolved, progress: &Progress, concurrency: usize) -> Result<(bool, String)> {
    let r = &res.reference;
    emit(progress, json!({"status": format!("Pulling from {}", r.path()), "id": r.tag().map(str::to_string).unwrap_or_else(|| r.manifest_reference())}));
    let (mdigest, mbody, manifest) = &res.manifest;
    let mut blobs = vec![(mdigest.clone(), mbody.len() as u64), (manifest.config.digest.clone(), res.config.0.len() as u64)];
    if let Some((d, b)) = &res.index {
        blobs.push((d.clone(), b.len() as u64));
    }
    let image_id = manifest.config.digest.clone();
    let up_to_date = store.lookup(&r.to_string()).map(|(img, _)| img.id == image_id).unwrap_or(false);

    let session = Arc::new(res.session);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let diff_ids = res.config.1.rootfs.diff_ids.clone();
    for (i, (desc, diff)) in manifest.layers.iter().cloned().zip(diff_ids.iter().cloned()).enumerate() {
        layer_msg(progress, desc.digest.short(), "Pulling fs layer");
        let (store, session, sem, progress) = (store.clone(), session.clone(), sem.clone(), progress.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|_| Error::Internal("pull cancelled".into()))?;
            let size = pull_layer(&store, &session, &desc, &diff, &progress).await?;
            Ok::<_, Error>((i, desc.digest, diff, size))
        });
    }
    let mut layers = vec![None; manifest.layers.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| Error::Internal(format!("layer task: {e}")))? {
            Ok((i, blob, diff, size)) => layers[i] = Some((diff, blob, size)),
            Err(e) => {
                // The other layers stop too; what they staged is removed by
                // their StagedDir and temp-file guards.
                tasks.abort_all();
                return Err(e);
            }
        }
    }
    let layers: Vec<(Digest, Digest, u64)> = layers.into_iter().flatten().collect();

    // Small blobs last: a blob in the store is always complete, but writing
    // these before the layers would gain nothing.
    store.put_blob(mdigest, mbody)?;
    store.put_blob(&manifest.config.digest, &res.config.0)?;
    let top_digest = match &res.index {
        Some((d, b)) => {
            store.put_blob(d, b)?;
            d.clone()
        }
        None => mdigest.clone(),
    };
    store.add_image(&NewImage {
        id: image_id,
        manifest_digest: mdigest.clone(),
        created: res.config.1.created.clone(),
        layers,
        blobs,
        tag: r.tag().map(|_| r.clone()),
        repo_digest: Some(r.with_digest(top_digest.clone())),
    })?;
    tracing::info!(reference = %r, digest = %top_digest, "pulled");
    emit(progress, json!({"status": format!("Digest: {top_digest}")}));
    let what = if r.tag().is_some() { r.familiar() } else { r.with_digest(top_digest).familiar() };
    Ok((up_to_date, what))
}

fn human(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.3}GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2}MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}kB", n / 1e3)
    } else {
        format!("{n}B")
    }
}

fn bar(cur: u64, total: u64) -> String {
    let w = 50u64;
    let filled = (cur.min(total) * w).checked_div(total).unwrap_or(w).min(w);
    let mut s = String::from("[");
    for i in 0..w {
        s.push(if i + 1 < filled { '=' } else if i + 1 == filled { '>' } else { ' ' });
    }
    format!("{s}]  {}/{}", human(cur), human(total))
}

/// One layer: reused if present, unpacked from its blob if only the blob is
/// here, else downloaded and unpacked as it streams. Returns its unpacked size.
async fn pull_layer(store: &Arc<Store>, session: &Session, desc: &Descriptor, diff: &Digest, progress: &Progress) -> Result<u64> {
    Compression::from_media_type(&desc.media_type)?;
    let id = desc.digest.short().to_string();
    let (have_blob, have_layer) = (store.has_blob(&desc.digest), store.has_layer(diff));
    if have_blob && have_layer {
        layer_msg(progress, &id, "Already exists");
        let p = store.layer_path(diff);
        return tokio::task::spawn_blocking(move || dir_size(&p)).await.map_err(|e| Error::Internal(e.to_string()));
    }
    if have_blob {
        layer_msg(progress, &id, "Extracting");
        let (store, desc, diff) = (store.clone(), desc.clone(), diff.clone());
        let size = tokio::task::spawn_blocking(move || {
            let path = store.blob_path(&desc.digest);
            let f = std::fs::File::open(&path).map_err(|e| Error::io("opening blob", &path, e))?;
            let (stats, _, _) = write_layer(&store, f, &desc, Some(&diff), None)?;
            Ok::<_, Error>(stats)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        layer_msg(progress, &id, "Pull complete");
        return Ok(size);
    }
    let partial = store.partial_blob_path(&desc.digest);
    let mut attempt = 0;
    loop {
        match download_layer(store, session, desc, diff, !have_layer, &partial, progress).await {
            Ok(size) => {
                layer_msg(progress, &id, "Pull complete");
                return Ok(if have_layer { dir_size_async(store, diff).await? } else { size });
            }
            // A connection that broke mid-layer: the bytes that came are
            // kept in `partial` and the retry asks only for the rest (the
            // staging directory of the failed try is gone; the unpacker
            // reads the kept bytes again).
            Err(Error::Registry(e)) if attempt < 2 => {
                tracing::warn!(layer = %desc.digest, error = %e, "layer download failed, retrying");
                attempt += 1;
                layer_msg(progress, &id, &format!("Retrying in {} seconds", attempt));
                tokio::time::sleep(std::time::Duration::from_secs(attempt)).await;
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        }
    }
}

async fn dir_size_async(store: &Arc<Store>, diff: &Digest) -> Result<u64> {
    let p = store.layer_path(diff);
    tokio::task::spawn_blocking(move || dir_size(&p)).await.map_err(|e| Error::Internal(e.to_string()))
}

pub(crate) fn dir_size(p: &std::path::Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => n += dir_size(&e.path()),
                Ok(t) if t.is_file() => n += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    n
}

/// Downloads one layer blob, unpacking it as it streams. When `partial`
/// holds the first bytes of an earlier try, only the rest is asked for
/// (`Range`) and the unpacker reads the kept bytes first; a registry that
/// does not serve the range sends the whole blob again.
#[allow(clippy::too_many_arguments)]
async fn download_layer(store: &Arc<Store>, session: &Session, desc: &Descriptor, diff: &Digest, unpack_it: bool, partial: &std::path::Path, progress: &Progress) -> Result<u64> {
    let id = desc.digest.short().to_string();
    let kept = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    let mut resumed = None;
    if kept > 0 && kept < desc.size {
        if let Ok(Some(resp)) = session.blob_from(&desc.digest, kept).await {
            let f = std::fs::File::open(partial).map_err(|e| Error::io("opening", partial, e))?;
            tracing::info!(layer = %desc.digest, from = kept, "resuming the download");
            resumed = Some((resp, f));
        }
    }
    let (resp, prefix, mut got) = match resumed {
        Some((resp, f)) => (resp, Some(f), kept),
        None => {
            let _ = std::fs::remove_file(partial);
            (session.blob(&desc.digest).await?, None, 0)
        }
    };
    let (tx, rx) = mpsc::channel::<std::result::Result<Bytes, String>>(64);
    let worker = {
        let (store, desc, diff, partial) = (store.clone(), desc.clone(), diff.clone(), partial.to_path_buf());
        tokio::task::spawn_blocking(move || {
            let rest = ChannelReader { rx, cur: Bytes::new() };
            let unpack_to = if unpack_it { Some(&diff) } else { None };
            let (size, _, _) = match prefix {
                Some(f) => write_layer(&store, io::BufReader::with_capacity(1 << 20, f).chain(rest), &desc, unpack_to, Some(&partial))?,
                None => write_layer(&store, rest, &desc, unpack_to, Some(&partial))?,
            };
            // Complete and committed: the kept prefix is not needed any more.
            let _ = std::fs::remove_file(&partial);
            Ok::<_, Error>(size)
        })
    };
    let mut body = resp.into_body();
    let total = desc.size;
    let mut reported = got;
    let mut send_err = None;
    loop {
        let frame = match tokio::time::timeout(STALL_TIMEOUT, body.frame()).await {
            Err(_) => {
                send_err = Some(format!("blob {}: registry stopped sending", desc.digest));
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                send_err = Some(format!("blob {}: {e}", desc.digest));
                break;
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else { continue };
        got += data.len() as u64;
        if got > total {
            // Not a network hiccup: no retry, and nothing more is read.
            drop(tx);
            let _ = worker.await;
            return Err(Error::Image(oci_image::Error::SizeMismatch { digest: desc.digest.to_string(), expected: total, actual: got }));
        }
        if tx.send(Ok(data)).await.is_err() {
            // The unpacker stopped: its error says why.
            break;
        }
        if got - reported >= 512 * 1024 || got == total {
            reported = got;
            emit(progress, json!({"status": "Downloading", "progressDetail": {"current": got, "total": total}, "progress": bar(got, total), "id": id}));
        }
    }
    if let Some(e) = &send_err {
        let _ = tx.send(Err(e.clone())).await;
    }
    drop(tx);
    if send_err.is_none() {
        layer_msg(progress, &id, "Download complete");
    }
    let r = worker.await.map_err(|e| Error::Internal(format!("unpack task: {e}")))?;
    match (r, send_err) {
        (Err(_), Some(e)) => Err(Error::Registry(e)),
        (r, _) => r,
    }
}

/// Feeds the blocking unpacker from the download task (or an upload).
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<std::result::Result<Bytes, String>>,
    cur: Bytes,
}

impl ChannelReader {
    pub(crate) fn new(rx: mpsc::Receiver<std::result::Result<Bytes, String>>) -> ChannelReader {
        ChannelReader { rx, cur: Bytes::new() }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        Ok(n)
    }
}

/// The unpacker's side of the decompressor thread's channel.
struct VecReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for VecReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(v) => {
                    self.cur = v;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Copies what it reads into the temporary blob file and hashes it.
struct Tee<R> {
    inner: R,
    file: Option<io::BufWriter<std::fs::File>>,
    hasher: Hasher,
    path: std::path::PathBuf,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if let Some(f) = &mut self.file {
            f.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// The temporary blob unless it was renamed into place: removed, or, when
/// `keep` names a path, moved there so a retry can resume after what was
/// received. (The writer is dropped, so flushed, before this guard.)
struct TempFile {
    path: Option<std::path::PathBuf>,
    keep: Option<std::path::PathBuf>,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let kept = self.keep.as_ref().is_some_and(|k| std::fs::rename(&p, k).is_ok());
            if !kept {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// The blocking half: tee to a temp blob (when `store_blob` says where a
/// failed try leaves what it read), decompress, unpack into staging (if
/// `diff` is given), check both digests, then commit blob and layer.
/// Returns (unpacked size, blob digest, blob size).
pub(crate) fn write_layer<R: Read + Send>(store: &Store, input: R, desc: &Descriptor, diff: Option<&Digest>, store_blob: Option<&std::path::Path>) -> Result<(u64, Digest, u64)> {
    let mut guard = TempFile { path: None, keep: None };
    let file = match store_blob {
        Some(keep) => {
            let p = store.temp_blob_path(&desc.digest);
            let f = std::fs::File::create(&p).map_err(|e| Error::io("creating", &p, e))?;
            guard.path = Some(p.clone());
            guard.keep = Some(keep.to_path_buf());
            Some(io::BufWriter::with_capacity(1 << 20, f))
        }
        None => None,
    };
    let path = guard.path.clone().unwrap_or_else(|| store.blob_path(&desc.digest));
    let mut tee = Tee { inner: input, file, hasher: Hasher::new(), path };
    let mut staged = None;
    let mut size = 0;
    if let Some(diff) = diff {
        let s = StagedDir::new(&store.layer_path(diff))?;
        // Two threads, as `tar -xz` is two processes: one decompresses and
        // hashes, the other creates the files.
        let (got, unpacked) = std::thread::scope(|sc| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
            let tee = &mut tee;
            let producer = sc.spawn(move || -> Result<(Digest, u64)> {
                let mut tar = HashingReader::new(unpack::decompress(tee)?);
                loop {
                    let mut buf = vec![0u8; 256 * 1024];
                    let n = tar.read(&mut buf).map_err(oci_image::Error::Tar)?;
                    if n == 0 {
                        break;
                    }
                    buf.truncate(n);
                    if tx.send(buf).is_err() {
                        // The unpacker is done (end-of-archive) or failed.
                        break;
                    }
                }
                drop(tx);
                // The rest (tar padding, trailer) still counts for the diff_id.
                let (d, n, _) = tar.finish().map_err(oci_image::Error::Tar)?;
                Ok((d, n))
            });
            let unpacked = unpack::unpack(VecReader { rx, cur: Vec::new(), pos: 0 }, s.path(), &UnpackOptions::default());
            let got = producer.join().map_err(|_| Error::Internal("decompressor thread panicked".into()));
            (got, unpacked)
        });
        // A broken stream can end a tar early at an entry boundary: the
        // producer's error comes first.
        let (got, len) = got??;
        let stats = unpacked?;
        if &got != diff {
            return Err(Error::Image(oci_image::Error::DigestMismatch { expected: format!("diff_id {diff}"), actual: got.to_string() }));
        }
        size = stats.content_bytes;
        staged = Some((s, diff, len));
    }
    // Whatever the decompressor left unread still counts for the digest.
    io::copy(&mut tee, &mut io::sink()).map_err(|e| Error::io("reading blob", &tee.path, e))?;
    let Tee { file, hasher, path, .. } = tee;
    let (got, n) = hasher.finish();
    if n != desc.size {
        return Err(Error::Image(oci_image::Error::SizeMismatch { digest: desc.digest.to_string(), expected: desc.size, actual: n }));
    }
    if got != desc.digest {
        return Err(Error::Image(oci_image::Error::DigestMismatch { expected: desc.digest.to_string(), actual: got.to_string() }));
    }
    if let Some(f) = file {
        let f = f.into_inner().map_err(|e| Error::io("writing", &path, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io("syncing", &path, e))?;
        store.commit_blob(&path, &desc.digest)?;
        guard.path = None;
    }
    if let Some((s, diff, len)) = staged {
        s.commit()?;
        // Only a cache for `save`, which can measure it again.
        if let Err(e) = store.set_tar_length(diff, len) {
            tracing::warn!(layer = %diff, error = %e.chain(), "could not record the layer's tar length");
        }
    }
    Ok((size, got, n))
}
