//! `save`: images as one tar, in the shape Docker 25+ writes, which both
//! `docker load` and OCI tools read:
//!
//! ```text
//! blobs/sha256/<config>      the image config, byte for byte (so the id is kept)
//! blobs/sha256/<diff_id>     each layer as an uncompressed tar (its digest is its diff_id)
//! blobs/sha256/<manifest>    an OCI manifest naming those (uncompressed) layers
//! index.json, oci-layout     the OCI image layout, one entry per tag
//! manifest.json              the docker-archive index: Config, RepoTags, Layers
//! repositories               the legacy name -> tag -> top layer map
//! ```
//!
//! The store keeps layers compressed as they were pulled; each is
//! decompressed as it streams out, hashed on the way (a blob that no longer
//! decompresses to its diff_id cuts the archive). A tar header needs the
//! length before the data: the unpacker records it when a layer is pulled,
//! imported or loaded; for a layer without that record the blob is
//! decompressed once more just to count. No uncompressed copy is written.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use bytes::Bytes;
use oci_image::digest::Hasher;
use oci_image::manifest::{OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST};
use oci_image::{unpack, Digest, ImageConfig, Manifest, Platform, Reference};
use serde_json::json;
use tokio::sync::mpsc;

use super::store::{ImageRecord, Store};
use crate::error::{Error, Result};

/// One image to write, and the names it is saved under.
pub struct SaveImage {
    pub record: ImageRecord,
    pub tags: Vec<Reference>,
    config: Vec<u8>,
    /// The stored (compressed) blob of each layer, in diff_id order.
    blobs: Vec<Digest>,
}

/// Resolves the names of a `save` as docker does: `repo:tag` is that tag,
/// `repo` alone every tag of the repository, an id (or `repo@digest`) the
/// image without a name. Everything is checked before the first byte goes
/// out, so a bad name is a 404, not a broken archive. With `platform`, every
/// image must be of it (images here are single-platform: there is no
/// variant to pick).
pub fn plan(store: &Store, names: &[String], platform: Option<&Platform>) -> Result<Vec<SaveImage>> {
    if names.is_empty() {
        return Err(Error::BadParameter("no image names given to save".into()));
    }
    let mut out: Vec<SaveImage> = Vec::new();
    let mut add = |img: ImageRecord, tag: Option<Reference>| -> Result<()> {
        if let Some(existing) = out.iter_mut().find(|s| s.record.id == img.id) {
            if let Some(t) = tag {
                if !existing.tags.contains(&t) {
                    existing.tags.push(t);
                }
            }
            return Ok(());
        }
        let config = store.read_blob(&img.id)?;
        if let Some(want) = platform {
            let c = ImageConfig::parse(&config)?;
            let got = Platform::new(&c.os, &c.architecture, c.variant.as_deref()).normalized();
            let want = Platform::new(&want.os, &want.architecture, want.variant.as_deref()).normalized();
            if got != want {
                let name = tag.as_ref().map(Reference::familiar).unwrap_or_else(|| img.id.to_string());
                return Err(Error::NotFound(format!("image {name} does not provide the specified platform ({want}): it is {got}")));
            }
        }
        let manifest: Manifest = serde_json::from_slice(&store.read_blob(&img.manifest_digest)?).map_err(|e| Error::Internal(format!("manifest {} of image {}: {e}", img.manifest_digest, img.id)))?;
        if manifest.layers.len() != img.diff_ids.len() {
            return Err(Error::Internal(format!("image {}: manifest lists {} layers, config {}", img.id, manifest.layers.len(), img.diff_ids.len())));
        }
        let blobs: Vec<Digest> = manifest.layers.into_iter().map(|l| l.digest).collect();
        for b in &blobs {
            if !store.has_blob(b) {
                return Err(Error::Internal(format!("image {}: layer blob {b} is missing from the store", img.id)));
            }
        }
        out.push(SaveImage { record: img, tags: tag.into_iter().collect(), config, blobs });
        Ok(())
    };
    for name in names {
        let r = Reference::parse_name_only(name).ok();
        match &r {
            Some(r) if r.tag().is_none() && r.digest().is_none() => {
                // Every tag of the repository, if it has any; else an id.
                let mut found = false;
                for img in store.list()? {
                    let tags: Vec<Reference> = img.tags.iter().filter_map(|t| Reference::parse(t).ok()).filter(|t| t.repository() == r.repository()).collect();
                    for t in tags {
                        found = true;
                        add(img.clone(), Some(t))?;
                    }
                }
                if !found {
                    let (img, _) = store.lookup(name)?;
                    add(img, None)?;
                }
            }
            _ => {
                let (img, by_ref) = store.lookup(name)?;
                let tag = by_ref.filter(|r| r.tag().is_some() && r.digest().is_none());
                add(img, tag)?;
            }
        }
    }
    Ok(out)
}

/// Chunks of the archive handed to the response body; blocks while the
/// client is slower than the writer.
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<io::Result<Bytes>>) -> ChannelWriter {
        ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(chunk.into())).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// Ends the body with an error: hyper cuts the connection, so the
    /// client cannot take a truncated archive for a complete one.
    pub fn fail(mut self, e: &Error) {
        let _ = self.send();
        let _ = self.tx.blocking_send(Err(io::Error::other(e.chain())));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The length of a stored layer once decompressed: recorded when it was
/// unpacked, the blob's own size when it is not compressed, else counted by
/// decompressing it (and then recorded). The digest is checked while the
/// tar is written out.
fn tar_length(store: &Store, blob: &Digest, diff: &Digest) -> Result<u64> {
    if let Some(n) = store.tar_length(diff)? {
        return Ok(n);
    }
    let p = store.blob_path(blob);
    if blob == diff {
        return Ok(std::fs::metadata(&p).map_err(|e| Error::io("reading blob", &p, e))?.len());
    }
    let f = std::fs::File::open(&p).map_err(|e| Error::io("opening blob", &p, e))?;
    let mut r = unpack::decompress(f)?;
    let n = io::copy(&mut r, &mut io::sink()).map_err(|e| Error::io("decompressing blob", &p, e))?;
    store.set_tar_length(diff, n)?;
    Ok(n)
}

fn header(path: &str, size: u64, mtime: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    let _ = h.set_path(path);
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_mtime(mtime);
    h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
    h.set_cksum();
    h
}

fn append<W: Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8], mtime: u64) -> Result<()> {
    b.append(&header(path, data.len() as u64, mtime, false), data).map_err(|e| Error::io("writing archive entry", path, e))
}

fn to_json(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Writes the archive. Blocking: run it on the blocking pool. The blobs it
/// reads are pinned meanwhile, so an `rmi` running at the same time cannot
/// pull them from under it.
pub fn write<W: Write>(store: &Store, images: &[SaveImage], out: W) -> Result<()> {
    let pins: Vec<String> = images.iter().flat_map(|i| i.blobs.iter().chain([&i.record.id])).map(Store::blob_key).collect();
    store.pin(&pins);
    let r = write_pinned(store, images, out);
    store.unpin(&pins);
    r
}

fn write_pinned<W: Write>(store: &Store, images: &[SaveImage], out: W) -> Result<()> {
    // Lengths first: every layer header needs one, the manifests too.
    let mut lengths: BTreeMap<Digest, u64> = BTreeMap::new();
    for img in images {
        for (diff, blob) in img.record.diff_ids.iter().zip(&img.blobs) {
            if !lengths.contains_key(diff) {
                lengths.insert(diff.clone(), tar_length(store, blob, diff)?);
            }
        }
    }
    // Times from the images, not the clock: saving the same images twice
    // gives the same bytes (the archive-wide files carry the epoch).
    let mtime = 0;
    let mut b = tar::Builder::new(out);
    for d in ["blobs/", "blobs/sha256/"] {
        b.append(&header(d, 0, mtime, true), io::empty()).map_err(|e| Error::io("writing archive entry", d, e))?;
    }
    let mut written: std::collections::HashSet<Digest> = Default::default();
    let (mut index, mut manifest_json, mut repositories) = (Vec::new(), Vec::new(), serde_json::Map::new());
    for img in images {
        let id = &img.record.id;
        let mtime = img.record.created.as_deref().and_then(crate::time::parse_rfc3339).unwrap_or(0).max(0) as u64;
        if written.insert(id.clone()) {
            append(&mut b, &format!("blobs/sha256/{}", id.hex()), &img.config, mtime)?;
        }
        for (diff, blob) in img.record.diff_ids.iter().zip(&img.blobs) {
            if !written.insert(diff.clone()) {
                continue;
            }
            let len = lengths[diff];
            let p = store.blob_path(blob);
            let f = std::fs::File::open(&p).map_err(|e| Error::io("opening blob", &p, e))?;
            let mut r = HashCount { inner: unpack::decompress(f)?.take(len), hasher: Hasher::new() };
            let name = format!("blobs/sha256/{}", diff.hex());
            b.append(&header(&name, len, mtime, false), &mut r).map_err(|e| Error::io("writing archive entry", &name, e))?;
            // The tar crate pads by what it read: a blob that changed
            // between the two passes must not go out as a valid archive.
            let (got, n) = r.hasher.finish();
            if n != len || &got != diff {
                return Err(Error::Internal(format!("layer {diff} changed while being saved")));
            }
        }
        let manifest = to_json(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": id, "size": img.config.len()},
            "layers": img.record.diff_ids.iter().map(|d| json!({"mediaType": OCI_LAYER, "digest": d, "size": lengths[d]})).collect::<Vec<_>>(),
        }));
        let mdigest = Digest::of(&manifest);
        if written.insert(mdigest.clone()) {
            append(&mut b, &format!("blobs/sha256/{}", mdigest.hex()), &manifest, mtime)?;
        }
        let desc = json!({"mediaType": OCI_MANIFEST, "digest": mdigest, "size": manifest.len()});
        if img.tags.is_empty() {
            index.push(desc.clone());
        }
        for t in &img.tags {
            let mut d = desc.clone();
            d["annotations"] = json!({"io.containerd.image.name": t.to_string(), "org.opencontainers.image.ref.name": t.tag().unwrap_or("latest")});
            index.push(d);
            let top = img.record.diff_ids.last().map(|d| d.hex().to_string()).unwrap_or_default();
            let repo = repositories.entry(t.familiar_repository()).or_insert_with(|| json!({}));
            repo[t.tag().unwrap_or("latest")] = json!(top);
        }
        manifest_json.push(json!({
            "Config": format!("blobs/sha256/{}", id.hex()),
            "RepoTags": img.tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
            "Layers": img.record.diff_ids.iter().map(|d| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
        }));
    }
    append(&mut b, "index.json", &to_json(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index})), mtime)?;
    append(&mut b, "manifest.json", &to_json(&serde_json::Value::Array(manifest_json)), mtime)?;
    append(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, mtime)?;
    if !repositories.is_empty() {
        append(&mut b, "repositories", &to_json(&serde_json::Value::Object(repositories)), mtime)?;
    }
    let mut out = b.into_inner().map_err(|e| Error::io("finishing archive", "", e))?;
    out.flush().map_err(|e| Error::io("writing archive", "", e))?;
    Ok(())
}

struct HashCount<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Read for HashCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
