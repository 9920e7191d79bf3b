//! The image store under --data-root: content-addressed blobs, unpacked
//! layers, and the metadata (images, tags, reference counts) in SQLite.
//!
//! Nothing half-written is ever visible: a blob is written to a temporary
//! name, fsynced, verified and renamed; a layer is unpacked into a staging
//! directory and renamed when complete and verified; metadata changes are
//! single transactions. What a crash leaves behind is temporary names only,
//! removed by `sweep` on start.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`: a pull that answered
//! "Downloaded newer image" must still be listed after a power cut, and
//! metadata writes are a handful per pull, so the extra fsync per commit
//! costs nothing measurable (NORMAL would only risk losing the last commits,
//! never corrupt the file).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use oci_image::unpack::{sync_dir, TEMP_PREFIX};
use oci_image::{Digest, Reference};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

pub struct Store {
    root: PathBuf,
    db: Mutex<Connection>,
    /// Blobs and layers an unfinished pull has written but not yet
    /// recorded: the garbage collector must leave them alone.
    pinned: Mutex<HashMap<String, usize>>,
}

/// One image as the API shows it.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    pub id: Digest,
    pub manifest_digest: Digest,
    pub size: u64,
    pub created: Option<String>,
    pub tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub diff_ids: Vec<Digest>,
    pub last_tag_time: Option<i64>,
}

/// What a finished pull records.
pub struct NewImage {
    pub id: Digest,
    pub manifest_digest: Digest,
    pub created: Option<String>,
    /// (diff_id, compressed blob digest, unpacked size)
    pub layers: Vec<(Digest, Digest, u64)>,
    /// Manifest, config, index: every blob the image keeps.
    pub blobs: Vec<(Digest, u64)>,
    pub tag: Option<Reference>,
    /// `repo@digest` of a pulled image; none for an imported one, which no
    /// registry has seen (docker shows its RepoDigests empty).
    pub repo_digest: Option<Reference>,
}

/// What a removal did, in the order docker reports it.
#[derive(Debug, Default)]
pub struct Removal {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
  id TEXT PRIMARY KEY,
  manifest_digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  created TEXT,
  added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  diff_id TEXT NOT NULL,
  PRIMARY KEY (image_id, idx)
);
CREATE TABLE IF NOT EXISTS image_blobs (
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  digest TEXT NOT NULL,
  PRIMARY KEY (image_id, digest)
);
CREATE TABLE IF NOT EXISTS tags (
  name TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id),
  tagged_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS repo_digests (
  name TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id)
);
-- Reference counts: how many images use a layer or a blob. A row at zero is
-- deleted in the same transaction; the files go right after the commit (or
-- at the next start, if the daemon dies in between).
CREATE TABLE IF NOT EXISTS layers (
  diff_id TEXT PRIMARY KEY,
  blob TEXT NOT NULL,
  size INTEGER NOT NULL,
  refs INTEGER NOT NULL CHECK (refs > 0)
);
-- The length of each layer's uncompressed tar, learnt while unpacking it:
-- `save` writes that tar and needs its length before its first byte.
CREATE TABLE IF NOT EXISTS layer_tars (
  diff_id TEXT PRIMARY KEY,
  length INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  refs INTEGER NOT NULL CHECK (refs > 0)
);
";

/// The table and key naming `r`: a digest reference is a repo digest
/// (`repo@sha256:…`, any tag dropped), anything else a tag.
fn name_row(r: &Reference) -> (&'static str, String) {
    match r.digest() {
        Some(d) => ("repo_digests", r.with_digest(d.clone()).to_string()),
        None => ("tags", r.to_string()),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn digest(s: String) -> rusqlite::Result<Digest> {
    Digest::parse(&s).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

impl Store {
    pub fn open(root: &Path) -> Result<Store> {
        for d in ["blobs/sha256", "layers"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(|e| Error::io("creating", &p, e))?;
        }
        let dbp = root.join("berth.db");
        let db = Connection::open(&dbp)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.pragma_update(None, "foreign_keys", "ON")?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.execute_batch(SCHEMA)?;
        let store = Store { root: root.to_path_buf(), db: Mutex::new(db), pinned: Mutex::new(HashMap::new()) };
        store.sweep()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_path(diff_id).is_dir()
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A temporary path in the blob directory (same filesystem, so the
    /// rename into place is atomic).
    pub fn temp_blob_path(&self, d: &Digest) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        self.root.join("blobs/sha256").join(format!("{TEMP_PREFIX}{}-{}-{}", d.hex(), std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
    }

    /// Where the bytes of an interrupted download of `d` wait for a ranged
    /// retry. Only this daemon's run uses it: `sweep` removes it at start,
    /// since nothing records how far such a file was written before a crash.
    pub fn partial_blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(format!("{TEMP_PREFIX}partial-{}", d.hex()))
    }

    /// A temporary path in the blob directory for content whose digest is
    /// not known yet (an upload being received); swept like any other.
    pub fn temp_upload_path(&self, what: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        self.root.join("blobs/sha256").join(format!("{TEMP_PREFIX}{what}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
    }

    /// Moves a verified, fsynced temporary file into place.
    pub fn commit_blob(&self, tmp: &Path, d: &Digest) -> Result<()> {
        let dest = self.blob_path(d);
        std::fs::rename(tmp, &dest).map_err(|e| Error::io("renaming blob into place", &dest, e))?;
        sync_dir(dest.parent().unwrap_or(&self.root))?;
        Ok(())
    }

    /// Verifies `data` against `d`, then writes it atomically.
    pub fn put_blob(&self, d: &Digest, data: &[u8]) -> Result<()> {
        d.verify(data)?;
        if self.has_blob(d) {
            return Ok(());
        }
        let tmp = self.temp_blob_path(d);
        let r = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()
        })();
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io("writing blob", &tmp, e));
        }
        self.commit_blob(&tmp, d)
    }

    /// Reads a small blob (manifest, config), checking it is still what its
    /// name says.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let data = std::fs::read(&p).map_err(|e| Error::io("reading blob", &p, e))?;
        d.verify(&data)?;
        Ok(data)
    }

    /// What gc must keep while an operation holds it: pin() takes these
    /// only, so a key spelt differently from the one gc looks for cannot exist.
    pub fn blob_key(d: &Digest) -> String {
        format!("blob:{}", d.hex())
    }

    pub fn layer_key(diff_id: &Digest) -> String {
        format!("layer:{}", diff_id.hex())
    }

    pub fn pin(&self, keys: &[String]) {
        let mut p = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            *p.entry(k.clone()).or_default() += 1;
        }
    }

    pub fn unpin(&self, keys: &[String]) {
        let mut p = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            if let Some(n) = p.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    p.remove(k);
                }
            }
        }
    }

    /// Removes what a crash left: temporary blobs and staging directories.
    /// Verified blobs and complete layers not (yet) referenced by an image
    /// stay: the next pull of that image reuses them instead of downloading
    /// again; `rmi` and `gc` remove them.
    pub fn sweep(&self) -> Result<usize> {
        let mut n = 0;
        for d in ["blobs/sha256", "layers"] {
            let dir = self.root.join(d);
            for e in std::fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))? {
                let e = e.map_err(|e| Error::io("listing", &dir, e))?;
                if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let p = e.path();
                    let r = if p.is_dir() && !p.is_symlink() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                    r.map_err(|e| Error::io("removing leftover", &p, e))?;
                    tracing::info!(path = %p.display(), "removed leftover of an interrupted pull");
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Deletes every blob and layer no image references and no running pull
    /// has pinned. Returns the removed layer diff_ids.
    pub fn gc(&self) -> Result<Vec<String>> {
        let (blobs, layers): (Vec<String>, Vec<String>) = {
            let db = self.db();
            let mut s = db.prepare("SELECT digest FROM blobs")?;
            let b = s.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            let mut s = db.prepare("SELECT diff_id FROM layers")?;
            let l = s.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            (b, l)
        };
        let pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let keep = |kind: &str, hex: &str, live: &[String]| {
            live.iter().any(|d| d.strip_prefix("sha256:") == Some(hex))
                || Digest::from_hex(hex).is_ok_and(|d| pinned.contains_key(&if kind == "blob" { Store::blob_key(&d) } else { Store::layer_key(&d) }))
        };
        let mut removed = Vec::new();
        for (kind, dir, live) in [("blob", "blobs/sha256", &blobs), ("layer", "layers", &layers)] {
            let dir = self.root.join(dir);
            for e in std::fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))? {
                let e = e.map_err(|e| Error::io("listing", &dir, e))?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(TEMP_PREFIX) || Digest::from_hex(&name).is_err() || keep(kind, &name, live) {
                    continue;
                }
                let p = e.path();
                let r = if kind == "layer" { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                match r {
                    Ok(()) => {
                        if kind == "layer" {
                            removed.push(format!("sha256:{name}"));
                        }
                    }
                    // Keep going: one stuck file must not keep the rest.
                    Err(err) => tracing::warn!(path = %p.display(), error = %err, "could not remove unreferenced content"),
                }
            }
        }
        Ok(removed)
    }

    /// Records a pulled image, its tag and digest, and takes a reference on
    /// every layer and blob, in one transaction. An image already present
    /// only gets the new tag.
    pub fn add_image(&self, img: &NewImage) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let id = img.id.to_string();
        let exists: bool = tx.query_row("SELECT 1 FROM images WHERE id = ?1", [&id], |_| Ok(())).optional()?.is_some();
        if !exists {
            let size: u64 = img.layers.iter().map(|l| l.2).sum();
            tx.execute("INSERT INTO images (id, manifest_digest, size, created, added_at) VALUES (?1, ?2, ?3, ?4, ?5)", params![id, img.manifest_digest.to_string(), size as i64, img.created, now()])?;
            for (i, (diff, blob, size)) in img.layers.iter().enumerate() {
                tx.execute("INSERT INTO image_layers (image_id, idx, diff_id) VALUES (?1, ?2, ?3)", params![id, i as i64, diff.to_string()])?;
                tx.execute(
                    "INSERT INTO layers (diff_id, blob, size, refs) VALUES (?1, ?2, ?3, 1) ON CONFLICT(diff_id) DO UPDATE SET refs = refs + 1",
                    params![diff.to_string(), blob.to_string(), *size as i64],
                )?;
            }
        }
        // Also for an image already here: the same config may come from
        // another manifest (busybox:zstd and busybox:latest share it), whose
        // blobs this image then keeps too.
        let all = img.blobs.iter().cloned().chain(img.layers.iter().map(|l| (l.1.clone(), 0)));
        for (d, size) in all {
            if tx.execute("INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?1, ?2)", params![id, d.to_string()])? == 1 {
                tx.execute("INSERT INTO blobs (digest, size, refs) VALUES (?1, ?2, 1) ON CONFLICT(digest) DO UPDATE SET refs = refs + 1", params![d.to_string(), size as i64])?;
            }
        }
        if let Some(t) = &img.tag {
            tx.execute("INSERT INTO tags (name, image_id, tagged_at) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET image_id = ?2, tagged_at = ?3", params![t.to_string(), id, now()])?;
        }
        if let Some(rd) = &img.repo_digest {
            tx.execute("INSERT INTO repo_digests (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = ?2", params![rd.to_string(), id])?;
        }
        // A tag moved off an image may leave it with no name at all: docker
        // keeps such a "dangling" image, listed as <none>:<none>.
        tx.commit()?;
        Ok(())
    }

    fn record(&self, db: &Connection, id: &str) -> Result<ImageRecord> {
        let (manifest_digest, size, created): (String, i64, Option<String>) =
            db.query_row("SELECT manifest_digest, size, created FROM images WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let mut s = db.prepare_cached("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
        let tags = s.query_map([id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        let mut s = db.prepare_cached("SELECT name FROM repo_digests WHERE image_id = ?1 ORDER BY name")?;
        let repo_digests = s.query_map([id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        let mut s = db.prepare_cached("SELECT diff_id FROM image_layers WHERE image_id = ?1 ORDER BY idx")?;
        let diff_ids = s.query_map([id], |r| digest(r.get(0)?))?.collect::<rusqlite::Result<Vec<_>>>()?;
        let last_tag_time: Option<i64> = db.query_row("SELECT MAX(tagged_at) FROM tags WHERE image_id = ?1", [id], |r| r.get(0))?;
        Ok(ImageRecord { id: Digest::parse(id)?, manifest_digest: Digest::parse(&manifest_digest)?, size: size as u64, created, tags, repo_digests, diff_ids, last_tag_time })
    }

    /// The length of a layer's uncompressed tar, if it was recorded.
    pub fn tar_length(&self, diff_id: &Digest) -> Result<Option<u64>> {
        let n: Option<i64> = self.db().query_row("SELECT length FROM layer_tars WHERE diff_id = ?1", [diff_id.to_string()], |r| r.get(0)).optional()?;
        Ok(n.map(|n| n.max(0) as u64))
    }

    pub fn set_tar_length(&self, diff_id: &Digest, length: u64) -> Result<()> {
        self.db().execute("INSERT OR REPLACE INTO layer_tars (diff_id, length) VALUES (?1, ?2)", params![diff_id.to_string(), length as i64])?;
        Ok(())
    }

    /// The unpacked size of a layer, as recorded when it was unpacked.
    pub fn layer_size(&self, diff_id: &Digest) -> Result<u64> {
        let n: Option<i64> = self.db().query_row("SELECT size FROM layers WHERE diff_id = ?1", [diff_id.to_string()], |r| r.get(0)).optional()?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let db = self.db();
        let ids = {
            let mut s = db.prepare("SELECT id FROM images ORDER BY created DESC, id")?;
            let v = s.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            v
        };
        ids.iter().map(|id| self.record(&db, id)).collect()
    }

    pub fn count(&self) -> Result<u64> {
        Ok(self.db().query_row("SELECT COUNT(*) FROM images", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Finds an image as docker does: a reference (`busybox`, `busybox:1`,
    /// `repo@sha256:…`), a full id (`sha256:…`) or an unambiguous id prefix.
    /// Returns the record and whether it was found by reference.
    pub fn lookup(&self, name: &str) -> Result<(ImageRecord, Option<Reference>)> {
        let db = self.db();
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let looks_like_id = !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if let Ok(r) = Reference::parse(name) {
            let (table, key) = name_row(&r);
            let id: Option<String> = db.query_row(&format!("SELECT image_id FROM {table} WHERE name = ?1"), [key], |row| row.get(0)).optional()?;
            if let Some(id) = id {
                return Ok((self.record(&db, &id)?, Some(r)));
            }
        }
        if looks_like_id {
            let mut s = db.prepare("SELECT id FROM images WHERE id LIKE ?1 LIMIT 2")?;
            let ids = s.query_map([format!("sha256:{hex}%")], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            match ids.as_slice() {
                [id] => return Ok((self.record(&db, id)?, None)),
                [_, _] => return Err(Error::BadParameter(format!("ambiguous image id prefix {name:?}: more than one image matches"))),
                _ => {}
            }
        }
        Err(Error::NoSuchImage(name.to_string()))
    }

    /// Records `repo@digest` for an image (after a push: the registry now
    /// has it under that digest).
    pub fn add_repo_digest(&self, id: &Digest, rd: &Reference) -> Result<()> {
        self.db().execute("INSERT INTO repo_digests (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = ?2", params![rd.to_string(), id.to_string()])?;
        Ok(())
    }

    pub fn tag(&self, id: &Digest, target: &Reference) -> Result<()> {
        self.db().execute(
            "INSERT INTO tags (name, image_id, tagged_at) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET image_id = ?2, tagged_at = ?3",
            params![target.to_string(), id.to_string(), now()],
        )?;
        Ok(())
    }

    /// `rmi`: untags `by_ref` if given; deletes the image once no tag is
    /// left (or at once when asked by id). Refuses, unless forced, to delete
    /// by id an image that other repositories still name.
    pub fn remove(&self, img: &ImageRecord, by_ref: Option<&Reference>, force: bool) -> Result<Removal> {
        let mut out = Removal::default();
        let mut db = self.db();
        let tx = db.transaction()?;
        let id = img.id.to_string();
        let familiar = |n: &str| Reference::parse(n).map(|r| r.familiar()).unwrap_or_else(|_| n.to_string());
        match by_ref {
            Some(r) => {
                let (table, key) = name_row(r);
                tx.execute(&format!("DELETE FROM {table} WHERE name = ?1"), [&key])?;
                out.untagged.push(familiar(&key));
            }
            None => {
                let repos: std::collections::BTreeSet<String> = img.tags.iter().chain(&img.repo_digests).filter_map(|n| Reference::parse(n).ok()).map(|r| r.repository()).collect();
                if repos.len() > 1 && !force {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        img.id.short()
                    )));
                }
            }
        }
        let tags_left: i64 = tx.query_row("SELECT COUNT(*) FROM tags WHERE image_id = ?1", [&id], |r| r.get(0))?;
        if by_ref.is_some() && tags_left > 0 {
            tx.commit()?;
            return Ok(out);
        }
        // Delete: the remaining names go with it.
        for n in img.tags.iter().chain(&img.repo_digests) {
            let removed = tx.execute("DELETE FROM tags WHERE name = ?1", [n])? + tx.execute("DELETE FROM repo_digests WHERE name = ?1", [n])?;
            if removed > 0 {
                out.untagged.push(familiar(n));
            }
        }
        let mut s = tx.prepare("SELECT diff_id FROM image_layers WHERE image_id = ?1")?;
        let layers = s.query_map([&id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        drop(s);
        let mut s = tx.prepare("SELECT digest FROM image_blobs WHERE image_id = ?1")?;
        let blobs = s.query_map([&id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        drop(s);
        // A layer the image lists twice holds one reference per listing.
        for l in &layers {
            tx.execute("UPDATE layers SET refs = refs - 1 WHERE diff_id = ?1 AND refs > 1", [l])?;
            let changed = tx.changes();
            if changed == 0 {
                tx.execute("DELETE FROM layers WHERE diff_id = ?1", [l])?;
                tx.execute("DELETE FROM layer_tars WHERE diff_id = ?1", [l])?;
            }
        }
        for b in &blobs {
            tx.execute("UPDATE blobs SET refs = refs - 1 WHERE digest = ?1 AND refs > 1", [b])?;
            if tx.changes() == 0 {
                tx.execute("DELETE FROM blobs WHERE digest = ?1", [b])?;
            }
        }
        tx.execute("DELETE FROM images WHERE id = ?1", [&id])?;
        tx.commit()?;
        drop(db);
        out.deleted.push(id);
        out.deleted.extend(self.gc()?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_keeps_what_is_pinned_and_only_that() {
        let root = std::env::temp_dir().join(format!("berth-store-gc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let s = Store::open(&root).unwrap();
        let (a, b) = (b"pinned blob".to_vec(), b"loose blob".to_vec());
        let (da, db) = (Digest::of(&a), Digest::of(&b));
        s.put_blob(&da, &a).unwrap();
        s.put_blob(&db, &b).unwrap();
        let keys = [Store::blob_key(&da)];
        s.pin(&keys);
        s.gc().unwrap();
        assert!(s.has_blob(&da), "a pinned blob stays");
        assert!(!s.has_blob(&db), "an unreferenced, unpinned blob goes");
        s.unpin(&keys);
        s.gc().unwrap();
        assert!(!s.has_blob(&da));
        let _ = std::fs::remove_dir_all(&root);
    }
}
