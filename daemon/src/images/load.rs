//! `load`: images from a tar that `save` (ours or docker's) wrote, a
//! docker-archive from skopeo, or an OCI image layout, optionally gzip or
//! zstd compressed.
//!
//! The archive is hostile input, and its entries come in any order (skopeo
//! writes manifest.json last), so it is first spooled into a temporary
//! directory in the store, each file hashed as it lands, every path checked.
//! Then, before anything is recorded:
//!
//! 1. every `blobs/sha256/<hex>` must hash to its name;
//! 2. each image's config is hashed (that is the image id) and must list one
//!    diff_id per layer;
//! 3. each layer is unpacked into staging by the same confined unpacker a
//!    pull uses, and its decompressed digest must be the config's diff_id.
//!
//! Only when every layer of every image passed are the images recorded. A
//! failure removes the layers and blobs this load stored that no image uses,
//! and the spool directory, so the store is as it was.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_image::digest::Hasher;
use oci_image::manifest::{ManifestKind, OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST};
use oci_image::{unpack, Descriptor, Digest, ImageConfig, Platform, Reference};
use serde_json::{json, Value};

use super::pull::write_layer;
use super::store::{NewImage, Store};
use crate::error::{Error, Result};

/// More entries than any real archive has; a bound on the spool's bookkeeping.
const MAX_ENTRIES: usize = 100_000;

fn invalid(m: impl Into<String>) -> Error {
    Error::BadParameter(format!("invalid archive: {}", m.into()))
}

/// One regular file of the archive, spooled to disk.
struct Spooled {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

/// The archive's files by their (normalised) names, in a temporary
/// directory removed on drop.
pub struct Spool {
    dir: PathBuf,
    files: HashMap<String, Spooled>,
    links: HashMap<String, String>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `./a//b/` -> `a/b`; refuses absolute names and `..` anywhere: nothing
/// in an image archive needs them, and they are how archives attack.
fn normalize(name: &[u8]) -> Result<String> {
    let s = std::str::from_utf8(name).map_err(|_| invalid(format!("entry name {:?} is not UTF-8", String::from_utf8_lossy(name))))?;
    if s.starts_with('/') {
        return Err(invalid(format!("entry {s:?} has an absolute path")));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(invalid(format!("entry {s:?} points outside the archive"))),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Where a symlink at `name` points, as a name in the archive: relative to
/// the link's directory, `..` allowed as long as it stays inside.
fn link_target(name: &str, target: &[u8]) -> Result<String> {
    let t = std::str::from_utf8(target).map_err(|_| invalid(format!("symlink {name:?}: target is not UTF-8")))?;
    if t.starts_with('/') {
        return Err(invalid(format!("symlink {name:?} -> {t:?} points outside the archive")));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    for c in t.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(invalid(format!("symlink {name:?} -> {t:?} points outside the archive")));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

impl Spool {
    /// Reads the whole (possibly compressed) archive from `input`.
    pub fn read<R: Read>(store: &Store, input: R) -> Result<Spool> {
        let dir = store.temp_upload_path("load");
        std::fs::create_dir(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let mut sp = Spool { dir, files: HashMap::new(), links: HashMap::new() };
        let tar_err = |e: io::Error| invalid(format!("reading the tar: {e}"));
        let r = unpack::decompress(input).map_err(|e| invalid(format!("{e}")))?;
        let mut ar = tar::Archive::new(r);
        let mut n = 0usize;
        for entry in ar.entries().map_err(tar_err)? {
            let mut e = entry.map_err(tar_err)?;
            n += 1;
            if n > MAX_ENTRIES {
                return Err(invalid(format!("more than {MAX_ENTRIES} entries")));
            }
            let name = normalize(&e.path_bytes())?;
            match e.header().entry_type() {
                tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {}
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if name.is_empty() {
                        return Err(invalid("a file entry without a name"));
                    }
                    let path = sp.dir.join(format!("{}", sp.files.len() + sp.links.len()));
                    let f = std::fs::File::create(&path).map_err(|e| Error::io("creating", &path, e))?;
                    let mut w = io::BufWriter::with_capacity(1 << 20, f);
                    let mut h = Hasher::new();
                    let mut buf = vec![0u8; 256 * 1024];
                    loop {
                        let k = e.read(&mut buf).map_err(tar_err)?;
                        if k == 0 {
                            break;
                        }
                        h.update(&buf[..k]);
                        w.write_all(&buf[..k]).map_err(|e| Error::io("writing", &path, e))?;
                    }
                    w.flush().map_err(|e| Error::io("writing", &path, e))?;
                    let (digest, size) = h.finish();
                    sp.links.remove(&name);
                    sp.files.insert(name, Spooled { path, digest, size });
                }
                tar::EntryType::Symlink => {
                    // skopeo and old docker link a layer shared by two
                    // images; the target must stay inside the archive.
                    let target = e.link_name_bytes().ok_or_else(|| invalid(format!("symlink {name:?} without a target")))?;
                    let t = link_target(&name, &target)?;
                    sp.files.remove(&name);
                    sp.links.insert(name, t);
                }
                tar::EntryType::Link => {
                    // A hard link names an earlier entry, from the archive's root.
                    let target = e.link_name_bytes().ok_or_else(|| invalid(format!("hard link {name:?} without a target")))?;
                    let t = normalize(&target)?;
                    sp.files.remove(&name);
                    sp.links.insert(name, t);
                }
                other => return Err(invalid(format!("entry {name:?} has unsupported type {other:?} (only files, directories and links belong in an image archive)"))),
            }
        }
        Ok(sp)
    }

    fn get(&self, name: &str) -> Result<&Spooled> {
        let mut cur = normalize(name.as_bytes())?;
        for _ in 0..16 {
            if let Some(f) = self.files.get(&cur) {
                return Ok(f);
            }
            match self.links.get(&cur) {
                Some(t) => cur = t.clone(),
                None => return Err(invalid(format!("{name:?} is missing"))),
            }
        }
        Err(invalid(format!("{name:?}: too many levels of symlinks")))
    }

    fn small(&self, name: &str) -> Result<Vec<u8>> {
        let f = self.get(name)?;
        if f.size > oci_image::manifest::MAX_MANIFEST_SIZE {
            return Err(invalid(format!("{name:?} is too large ({} bytes) for a manifest or config", f.size)));
        }
        std::fs::read(&f.path).map_err(|e| Error::io("reading", &f.path, e))
    }

    /// Every `blobs/<alg>/<hex>` must be what its name says, a link there too.
    fn verify_blobs(&self) -> Result<()> {
        for name in self.files.keys().chain(self.links.keys()) {
            if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                let f = self.get(name)?;
                if f.digest.hex() != hex {
                    return Err(invalid(format!("{name} does not match its digest (content is {})", f.digest)));
                }
            }
        }
        Ok(())
    }
}

/// A layer of an image being loaded.
struct LayerSrc {
    desc: Descriptor,
    diff_id: Digest,
    file: PathBuf,
}

struct LoadImage {
    platform: Platform,
    config: Vec<u8>,
    id: Digest,
    created: Option<String>,
    layers: Vec<LayerSrc>,
    manifest: Vec<u8>,
    tags: Vec<Reference>,
}

fn sniff_media_type(path: &Path) -> Result<&'static str> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let n = f.read(&mut head).map_err(|e| Error::io("reading", path, e))?;
    Ok(if head[..n].starts_with(&[0x1f, 0x8b]) {
        OCI_LAYER_GZIP
    } else if head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        OCI_LAYER_ZSTD
    } else {
        OCI_LAYER
    })
}

/// The config and its diff_ids, checked against the number of layers; an
/// uncompressed layer's digest is its diff_id, so that is checked here too
/// (before any unpacking).
fn image_config(sp: &Spooled, data: Vec<u8>, layers: &[(Descriptor, PathBuf)], what: &str) -> Result<(ImageConfig, Vec<u8>)> {
    sp.digest.verify(&data)?;
    let cfg = ImageConfig::parse(&data).map_err(|e| invalid(format!("{what}: config: {}", Error::Image(e).chain())))?;
    if cfg.rootfs.diff_ids.len() != layers.len() {
        return Err(invalid(format!("{what}: {} layers but the config lists {} diff_ids", layers.len(), cfg.rootfs.diff_ids.len())));
    }
    for ((desc, _), diff) in layers.iter().zip(&cfg.rootfs.diff_ids) {
        if desc.media_type == OCI_LAYER && &desc.digest != diff {
            return Err(invalid(format!("{what}: layer {} does not match its diff_id {diff} in the config", desc.digest)));
        }
    }
    Ok((cfg, data))
}

/// docker-archive: manifest.json's entries (Config, RepoTags, Layers). Where
/// the archive also has an OCI index (Docker 25+), the manifest it holds for
/// the same config and layers is kept, so the manifest digest survives.
fn from_manifest_json(sp: &Spool, data: &[u8]) -> Result<Vec<LoadImage>> {
    let entries: Vec<Value> = serde_json::from_slice(data).map_err(|e| invalid(format!("manifest.json: {e}")))?;
    let oci_manifests: Vec<(Vec<u8>, oci_image::Manifest)> = match sp.small("index.json") {
        Ok(idx) => {
            let idx: oci_image::Index = serde_json::from_slice(&idx).map_err(|e| invalid(format!("index.json: {e}")))?;
            idx.manifests
                .iter()
                .filter_map(|d| sp.small(&format!("blobs/sha256/{}", d.digest.hex())).ok())
                .filter_map(|b| serde_json::from_slice::<oci_image::Manifest>(&b).ok().map(|m| (b, m)))
                .collect()
        }
        Err(_) => Vec::new(),
    };
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let what = format!("manifest.json entry {i}");
        let cfg_name = e.get("Config").and_then(Value::as_str).ok_or_else(|| invalid(format!("{what}: no Config")))?;
        let names: Vec<&str> = e.get("Layers").and_then(Value::as_array).ok_or_else(|| invalid(format!("{what}: no Layers")))?.iter().map(|l| l.as_str().ok_or_else(|| invalid(format!("{what}: a layer name is not a string")))).collect::<Result<_>>()?;
        let mut layers = Vec::new();
        for n in &names {
            let f = sp.get(n)?;
            let mt = sniff_media_type(&f.path)?;
            layers.push((Descriptor { media_type: mt.into(), digest: f.digest.clone(), size: f.size, urls: vec![], annotations: Default::default(), platform: None }, f.path.clone()));
        }
        let cfg_file = sp.get(cfg_name)?;
        let (cfg, config) = image_config(cfg_file, sp.small(cfg_name)?, &layers, &what)?;
        let id = cfg_file.digest.clone();
        let mut tags = Vec::new();
        for t in e.get("RepoTags").and_then(Value::as_array).into_iter().flatten() {
            let t = t.as_str().ok_or_else(|| invalid(format!("{what}: a RepoTag is not a string")))?;
            let r = Reference::parse(t).map_err(|e| invalid(format!("{what}: RepoTag {t:?}: {e}")))?;
            if r.digest().is_some() {
                return Err(invalid(format!("{what}: RepoTag {t:?} has a digest")));
            }
            tags.push(r);
        }
        let same = |m: &oci_image::Manifest| m.config.digest == id && m.layers.len() == layers.len() && m.layers.iter().zip(&layers).all(|(a, (b, _))| a.digest == b.digest);
        let manifest = match oci_manifests.iter().find(|(_, m)| same(m)) {
            Some((b, _)) => b.clone(),
            None => serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": id, "size": config.len()},
                "layers": layers.iter().map(|(d, _)| json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size})).collect::<Vec<_>>(),
            }))
            .map_err(|e| Error::Internal(e.to_string()))?,
        };
        let layers = layers.into_iter().zip(&cfg.rootfs.diff_ids).map(|((desc, file), diff)| LayerSrc { desc, diff_id: diff.clone(), file }).collect();
        let platform = Platform::new(&cfg.os, &cfg.architecture, cfg.variant.as_deref());
        out.push(LoadImage { platform, config, id, created: cfg.created.clone(), layers, manifest, tags });
    }
    Ok(out)
}

/// An OCI image layout: index.json's manifests (an index inside picks the
/// host's platform), named by their `io.containerd.image.name` annotation, or
/// by `org.opencontainers.image.ref.name` when that is a full reference.
fn from_oci_layout(sp: &Spool, data: &[u8], wanted: &Platform) -> Result<Vec<LoadImage>> {
    let idx: oci_image::Index = serde_json::from_slice(data).map_err(|e| invalid(format!("index.json: {e}")))?;
    let blob = |d: &Digest| sp.small(&format!("blobs/sha256/{}", d.hex()));
    let mut out: Vec<LoadImage> = Vec::new();
    for top in &idx.manifests {
        let what = format!("index.json manifest {}", top.digest);
        let body = blob(&top.digest)?;
        if body.len() as u64 != top.size {
            return Err(invalid(format!("{what}: size {} but the index says {}", body.len(), top.size)));
        }
        let (manifest, body) = match ManifestKind::parse(Some(&top.media_type), &body).map_err(|e| invalid(format!("{what}: {}", Error::Image(e).chain())))? {
            ManifestKind::Manifest(m) => (m, body),
            ManifestKind::Index(i) => {
                let d = wanted.select(&i)?;
                let b = blob(&d.digest)?;
                match ManifestKind::parse(Some(&d.media_type), &b).map_err(|e| invalid(format!("{what}: {}", Error::Image(e).chain())))? {
                    ManifestKind::Manifest(m) => (m, b),
                    ManifestKind::Index(_) => return Err(invalid(format!("{what}: nested image indexes are not supported"))),
                }
            }
        };
        let mut layers = Vec::new();
        for l in &manifest.layers {
            let f = sp.get(&format!("blobs/sha256/{}", l.digest.hex()))?;
            if f.size != l.size {
                return Err(invalid(format!("{what}: layer {} is {} bytes, the manifest says {}", l.digest, f.size, l.size)));
            }
            layers.push((l.clone(), f.path.clone()));
        }
        let cfg_name = format!("blobs/sha256/{}", manifest.config.digest.hex());
        let cfg_file = sp.get(&cfg_name)?;
        let (cfg, config) = image_config(cfg_file, sp.small(&cfg_name)?, &layers, &what)?;
        let ann = |k: &str| top.annotations.get(k).cloned();
        let tag = ann("io.containerd.image.name")
            .or_else(|| ann("org.opencontainers.image.ref.name").filter(|n| n.contains(['/', ':'])))
            .map(|n| Reference::parse(&n).map_err(|e| invalid(format!("{what}: image name {n:?}: {e}"))))
            .transpose()?;
        let id = cfg_file.digest.clone();
        if let Some(existing) = out.iter_mut().find(|i| i.id == id) {
            existing.tags.extend(tag);
            continue;
        }
        let layers = layers.into_iter().zip(&cfg.rootfs.diff_ids).map(|((desc, file), diff)| LayerSrc { desc, diff_id: diff.clone(), file }).collect();
        let platform = Platform::new(&cfg.os, &cfg.architecture, cfg.variant.as_deref());
        out.push(LoadImage { platform, config, id, created: cfg.created.clone(), layers, manifest: body, tags: tag.into_iter().collect() });
    }
    Ok(out)
}

fn decompressed_digest(path: &Path) -> Result<Digest> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut r = unpack::decompress(f)?;
    let mut h = Hasher::new();
    io::copy(&mut r, &mut h).map_err(|e| invalid(format!("decompressing a layer: {e}")))?;
    Ok(h.finish().0)
}

/// Loads every image of a spooled archive; returns docker's messages
/// (`{"stream":"Loaded image: busybox:latest\n"}`). Blocking. With
/// `platform`, an index in the archive gives that platform's manifest (else
/// the host's), and every image loaded must be of it.
pub fn load(store: &Store, sp: Spool, quiet: bool, platform: Option<&Platform>) -> Result<Vec<Value>> {
    sp.verify_blobs()?;
    let wanted = platform.cloned().unwrap_or_else(Platform::host);
    let images = if let Ok(m) = sp.small("manifest.json") {
        from_manifest_json(&sp, &m)?
    } else if let Ok(i) = sp.small("index.json") {
        from_oci_layout(&sp, &i, &wanted)?
    } else {
        return Err(invalid("neither manifest.json (docker-archive) nor index.json (OCI layout) is in it"));
    };
    if images.is_empty() {
        return Err(invalid("it holds no image"));
    }
    if let Some(p) = platform {
        let want = Platform::new(&p.os, &p.architecture, p.variant.as_deref()).normalized();
        for img in &images {
            let got = img.platform.normalized();
            if got != want {
                return Err(Error::NotFound(format!("image {} in the archive is {got}, not the specified platform {want}", img.id)));
            }
        }
    }
    let mut keys = Vec::new();
    for img in &images {
        for l in &img.layers {
            keys.push(Store::blob_key(&l.desc.digest));
            keys.push(Store::layer_key(&l.diff_id));
        }
    }
    store.pin(&keys);
    let r = commit(store, &images, quiet);
    store.unpin(&keys);
    if r.is_err() {
        // What this load put in the store and no image references goes
        // again. The collector, not a list of paths: a layer another load
        // or pull is using at the same time is pinned or referenced by
        // then, and stays.
        match store.gc() {
            Ok(removed) if !removed.is_empty() => tracing::info!(layers = removed.len(), "removed what a failed load had stored"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.chain(), "cleaning up after a failed load"),
        }
    }
    r
}

fn commit(store: &Store, images: &[LoadImage], quiet: bool) -> Result<Vec<Value>> {
    let mut msgs = Vec::new();
    let mut sizes: HashMap<Digest, u64> = HashMap::new();
    let mut done = std::collections::HashSet::new();
    // Every layer first: a bad one fails the load before anything is recorded.
    for img in images {
        for l in &img.layers {
            // The pair, not the blob alone: one blob named for two diff_ids
            // must fail on the second.
            if !done.insert((l.desc.digest.clone(), l.diff_id.clone())) {
                continue;
            }
            let (have_blob, have_layer) = (store.has_blob(&l.desc.digest), store.has_layer(&l.diff_id));
            // A spooled blob already moved into the store (an earlier layer
            // of this archive had it) is read from there.
            let file = if l.file.exists() { l.file.clone() } else { store.blob_path(&l.desc.digest) };
            if have_layer && l.desc.digest != l.diff_id {
                // Not unpacked this time, so not checked on the way: the
                // archive's blob must still decompress to the layer it names
                // (even one the store has: it may belong to another layer).
                let got = decompressed_digest(&file)?;
                if got != l.diff_id {
                    return Err(invalid(format!("layer {}: decompresses to {got}, not to its diff_id {}", l.desc.digest, l.diff_id)));
                }
            }
            let size = if have_blob && have_layer {
                super::pull::dir_size(&store.layer_path(&l.diff_id))
            } else {
                if !quiet {
                    msgs.push(json!({"status": "Loading layer", "progressDetail": {"current": l.desc.size, "total": l.desc.size}, "id": l.diff_id.short()}));
                }
                let unpack_to = if have_layer { None } else { Some(&l.diff_id) };
                let f = std::fs::File::open(&file).map_err(|e| Error::io("opening", &file, e))?;
                let (unpacked, _, _) = write_layer(store, f, &l.desc, unpack_to, None).map_err(|e| match e {
                    Error::Image(i) => invalid(format!("layer {}: {}", l.desc.digest, Error::Image(i).chain())),
                    e => e,
                })?;
                if !have_blob {
                    // The spooled file is verified: it becomes the blob.
                    std::fs::File::open(&l.file).and_then(|f| f.sync_all()).map_err(|e| Error::io("syncing", &l.file, e))?;
                    store.commit_blob(&l.file, &l.desc.digest)?;
                }
                if have_layer { super::pull::dir_size(&store.layer_path(&l.diff_id)) } else { unpacked }
            };
            sizes.insert(l.diff_id.clone(), size);
        }
    }
    for img in images {
        let mdigest = Digest::of(&img.manifest);
        for (d, b) in [(&img.id, &img.config), (&mdigest, &img.manifest)] {
            if !store.has_blob(d) {
                store.put_blob(d, b)?;
            }
        }
        let mut new = NewImage {
            id: img.id.clone(),
            manifest_digest: mdigest.clone(),
            created: img.created.clone(),
            layers: img.layers.iter().map(|l| (l.diff_id.clone(), l.desc.digest.clone(), sizes[&l.diff_id])).collect(),
            blobs: vec![(mdigest, img.manifest.len() as u64), (img.id.clone(), img.config.len() as u64)],
            tag: None,
            repo_digest: None,
        };
        if img.tags.is_empty() {
            store.add_image(&new)?;
            msgs.push(json!({"stream": format!("Loaded image ID: {}\n", img.id)}));
        }
        for t in &img.tags {
            if let Ok((old, Some(_))) = store.lookup(&t.to_string()) {
                if old.id != img.id {
                    msgs.push(json!({"stream": format!("The image {} already exists, renaming the old one with ID {} to empty string\n", t.familiar(), old.id)}));
                }
            }
            new.tag = Some(t.clone());
            store.add_image(&new)?;
            msgs.push(json!({"stream": format!("Loaded image: {}\n", t.familiar())}));
        }
        tracing::info!(image = %img.id, tags = img.tags.len(), "loaded");
    }
    Ok(msgs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside() {
        assert_eq!(normalize(b"./blobs//sha256/abc").unwrap(), "blobs/sha256/abc");
        assert_eq!(normalize(b"manifest.json").unwrap(), "manifest.json");
        assert!(normalize(b"../x").is_err());
        assert!(normalize(b"a/../../x").is_err());
        assert!(normalize(b"/etc/passwd").is_err());
        assert_eq!(link_target("abc/layer.tar", b"../def/layer.tar").unwrap(), "def/layer.tar");
        assert_eq!(link_target("x.tar", b"y.tar").unwrap(), "y.tar");
        assert!(link_target("abc/layer.tar", b"../../etc/passwd").is_err());
        assert!(link_target("abc/layer.tar", b"/etc/passwd").is_err());
    }
}
