//! `import`: an image made from one rootfs tarball (`docker import`).
//!
//! The tarball becomes the image's single layer, stored exactly as sent
//! (gzip, zstd or plain: its digest is what the manifest names), unpacked by
//! the same confined unpacker a pull uses. A config is written around it:
//! the host's platform, `--change` instructions (CMD, ENV, ...), one history
//! entry. No registry has seen the image, so it has no repo digest; its id
//! is the digest of that config, as for every image.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_image::digest::Hasher;
use oci_image::{unpack, Descriptor, Digest, Platform, Reference};
use serde_json::{json, Map, Value};

use super::pull::write_layer;

use super::store::{NewImage, Store};
use crate::error::{Error, Result};

/// A received upload, removed unless it was moved into the store.
pub struct Upload {
    path: PathBuf,
    file: Option<io::BufWriter<std::fs::File>>,
    hasher: Hasher,
}

impl Upload {
    pub fn new(store: &Store) -> Result<Upload> {
        let path = store.temp_upload_path("import");
        let f = std::fs::File::create(&path).map_err(|e| Error::io("creating", &path, e))?;
        Ok(Upload { path, file: Some(io::BufWriter::with_capacity(1 << 20, f)), hasher: Hasher::new() })
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        let f = self.file.as_mut().ok_or_else(|| Error::Internal("upload already finished".into()))?;
        f.write_all(data).map_err(|e| Error::io("writing", &self.path, e))
    }

    /// Flushes and fsyncs; the digest and size of what was received.
    fn finish(&mut self) -> Result<(Digest, u64)> {
        let f = self.file.take().ok_or_else(|| Error::Internal("upload already finished".into()))?;
        let f = f.into_inner().map_err(|e| Error::io("writing", &self.path, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io("syncing", &self.path, e))?;
        Ok(std::mem::replace(&mut self.hasher, Hasher::new()).finish())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What the first bytes say the blob is, as the media type the manifest
/// records (the unpacker sniffs the same way).
fn media_type(path: &Path) -> Result<&'static str> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let n = f.read(&mut head).map_err(|e| Error::io("reading", path, e))?;
    Ok(if head[..n].starts_with(&[0x1f, 0x8b]) {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else if head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    })
}

/// The diff_id: the digest of the uncompressed tar. A first pass, because
/// the unpacker stages into a directory named by it.
fn diff_id(path: &Path) -> Result<Digest> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut r = unpack::decompress(f).map_err(bad_tar)?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = r.read(&mut buf).map_err(|e| bad_tar(oci_image::Error::Tar(e)))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish().0)
}

/// A broken or hostile tarball is the client's fault: a 400, not a 500.
fn bad_tar(e: oci_image::Error) -> Error {
    let mut m = format!("importing the tarball: {e}");
    let mut cur = std::error::Error::source(&e);
    while let Some(s) = cur {
        m.push_str(&format!(": {s}"));
        cur = s.source();
    }
    Error::BadParameter(m)
}

/// Splits a CMD/ENTRYPOINT/VOLUME argument: a JSON array as is, anything
/// else as the shell form (`["/bin/sh", "-c", ...]` for commands).
fn words(arg: &str, shell: bool) -> Result<Value> {
    let t = arg.trim();
    if t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(t) {
            return Ok(json!(v));
        }
    }
    if shell {
        Ok(json!(["/bin/sh", "-c", t]))
    } else {
        Ok(json!(t.split_whitespace().collect::<Vec<_>>()))
    }
}

/// `KEY=VALUE ...` or the old `KEY VALUE` form of ENV and LABEL.
fn pairs(arg: &str) -> Result<Vec<(String, String)>> {
    let t = arg.trim();
    let first = t.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = t.split_once(char::is_whitespace).ok_or_else(|| Error::BadParameter(format!("{t:?}: expected KEY=VALUE")))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    t.split_whitespace()
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or_else(|| Error::BadParameter(format!("{p:?}: expected KEY=VALUE")))?;
            Ok((k.to_string(), v.trim_matches('"').to_string()))
        })
        .collect()
}

/// Applies docker's `--change` instructions to an image config's `config`.
pub fn apply_changes(cfg: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    for c in changes {
        let c = c.trim();
        if c.is_empty() {
            continue;
        }
        let (instr, arg) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
        let arg = arg.trim();
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => {
                cfg.insert("Cmd".into(), words(arg, true)?);
            }
            "ENTRYPOINT" => {
                cfg.insert("Entrypoint".into(), words(arg, true)?);
            }
            "WORKDIR" => {
                cfg.insert("WorkingDir".into(), json!(arg));
            }
            "USER" => {
                cfg.insert("User".into(), json!(arg));
            }
            "STOPSIGNAL" => {
                cfg.insert("StopSignal".into(), json!(arg));
            }
            "ENV" => {
                let env = cfg.entry("Env").or_insert_with(|| json!([]));
                let list = env.as_array_mut().ok_or_else(|| Error::Internal("Env is not a list".into()))?;
                for (k, v) in pairs(arg)? {
                    list.retain(|e| e.as_str().and_then(|s| s.split_once('=')).map(|(n, _)| n != k).unwrap_or(true));
                    list.push(json!(format!("{k}={v}")));
                }
            }
            "LABEL" => {
                let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
                for (k, v) in pairs(arg)? {
                    labels[k] = json!(v);
                }
            }
            "EXPOSE" => {
                let ports = cfg.entry("ExposedPorts").or_insert_with(|| json!({}));
                for p in arg.split_whitespace() {
                    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    num.parse::<u16>().map_err(|_| Error::BadParameter(format!("EXPOSE {p:?}: invalid port")))?;
                    if !matches!(proto, "tcp" | "udp" | "sctp") {
                        return Err(Error::BadParameter(format!("EXPOSE {p:?}: invalid protocol")));
                    }
                    ports[format!("{num}/{proto}")] = json!({});
                }
            }
            "VOLUME" => {
                let vols = cfg.entry("Volumes").or_insert_with(|| json!({}));
                for v in words(arg, false)?.as_array().into_iter().flatten() {
                    if let Some(v) = v.as_str() {
                        vols[v] = json!({});
                    }
                }
            }
            other => return Err(Error::BadParameter(format!("{other} is not a valid change command (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)"))),
        }
    }
    Ok(())
}

pub struct ImportOptions {
    pub tag: Option<Reference>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<Platform>,
}

/// Turns a received tarball into an image; returns its id. Blocking: run it
/// off the async threads.
pub fn import(store: &Store, mut up: Upload, o: &ImportOptions) -> Result<Digest> {
    let (blob, size) = up.finish()?;
    if size == 0 {
        return Err(Error::BadParameter("importing: the tarball is empty".into()));
    }
    let mt = media_type(&up.path)?;
    let diff = diff_id(&up.path)?;
    let desc = Descriptor { media_type: mt.into(), digest: blob.clone(), size, urls: vec![], annotations: Default::default(), platform: None };
    let keys = vec![Store::blob_key(&blob), Store::layer_key(&diff)];
    store.pin(&keys);
    // The config and manifest are made below; pinned as soon as their digests are known.
    let mut made: Vec<String> = Vec::new();
    let r = (|| {
        let f = std::fs::File::open(&up.path).map_err(|e| Error::io("opening", &up.path, e))?;
        // Unpacks (verifying the diff_id again on the way) unless the layer is here already.
        let unpack_to = if store.has_layer(&diff) { None } else { Some(&diff) };
        let (unpacked, _, _) = write_layer(store, f, &desc, unpack_to, None).map_err(|e| match e {
            Error::Image(i) => bad_tar(i),
            e => e,
        })?;
        // A layer already here (the same tarball imported again) was not
        // unpacked this time: its size is what is on disk.
        let unpacked = if unpack_to.is_none() { super::pull::dir_size(&store.layer_path(&diff)) } else { unpacked };
        if !store.has_blob(&blob) {
            store.commit_blob(&up.path, &blob)?;
        }
        let created = crate::time::rfc3339_now();
        let mut cfg = Map::new();
        apply_changes(&mut cfg, &o.changes)?;
        let p = o.platform.clone().unwrap_or_else(Platform::host);
        let mut history = json!({"created": created, "created_by": "berth import"});
        if let Some(m) = o.message.as_ref().filter(|m| !m.is_empty()) {
            history["comment"] = json!(m);
        }
        let mut config = json!({
            "architecture": p.architecture,
            "os": p.os,
            "created": created,
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [diff.to_string()]},
            "history": [history],
        });
        if let Some(v) = &p.variant {
            config["variant"] = json!(v);
        }
        if let Some(m) = o.message.as_ref().filter(|m| !m.is_empty()) {
            config["comment"] = json!(m);
        }
        let config = serde_json::to_vec(&config).map_err(|e| Error::Internal(e.to_string()))?;
        let config_digest = Digest::of(&config);
        made.push(Store::blob_key(&config_digest));
        store.pin(&made[made.len() - 1..]);
        store.put_blob(&config_digest, &config)?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len()},
            "layers": [{"mediaType": mt, "digest": blob.to_string(), "size": size}],
        }))
        .map_err(|e| Error::Internal(e.to_string()))?;
        let manifest_digest = Digest::of(&manifest);
        made.push(Store::blob_key(&manifest_digest));
        store.pin(&made[made.len() - 1..]);
        store.put_blob(&manifest_digest, &manifest)?;
        store.add_image(&NewImage {
            id: config_digest.clone(),
            manifest_digest: manifest_digest.clone(),
            created: Some(created),
            layers: vec![(diff.clone(), blob.clone(), unpacked)],
            blobs: vec![(manifest_digest, manifest.len() as u64), (config_digest.clone(), config.len() as u64)],
            tag: o.tag.clone(),
            repo_digest: None,
        })?;
        Ok(config_digest)
    })();
    store.unpin(&keys);
    store.unpin(&made);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_as_docker_applies_them() {
        let mut c = Map::new();
        let ch = ["CMD [\"/bin/sh\"]", "ENTRYPOINT echo hi", "ENV A=1 B=2", "ENV A 3", "LABEL x=y", "EXPOSE 80 53/udp", "WORKDIR /w", "USER nobody", "VOLUME /data"];
        apply_changes(&mut c, &ch.map(String::from)).unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Env"], json!(["B=2", "A=3"]));
        assert_eq!(c["Labels"], json!({"x": "y"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["WorkingDir"], json!("/w"));
        assert_eq!(c["User"], json!("nobody"));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert!(apply_changes(&mut c, &["RUN true".to_string()]).is_err());
        assert!(apply_changes(&mut c, &["EXPOSE 99999".to_string()]).is_err());
        assert!(apply_changes(&mut c, &["ENV novalue".to_string()]).is_err());
    }
}
