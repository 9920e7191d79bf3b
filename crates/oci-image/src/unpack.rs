//! A layer tar turned into one overlayfs lower directory, safely.
//!
//! Whatever a tar says, nothing is written outside the layer directory:
//! - entry names with a `..` component are refused; a leading `/` means the
//!   layer root;
//! - every parent directory is opened with `openat2(RESOLVE_IN_ROOT)`, so a
//!   symlink met on the way (`etc -> /`, `a -> ../../..`) resolves as if the
//!   layer root were `/` and can never leave it (on kernels without openat2
//!   a parent that is a symlink is refused instead);
//! - the last component is always created, linked or changed relative to its
//!   parent's fd without following it (`O_NOFOLLOW`, `O_EXCL`,
//!   `AT_SYMLINK_NOFOLLOW`), so a symlink planted by an earlier entry is
//!   replaced, never written through;
//! - hard-link targets resolve the same way, inside the root.
//!
//! Whiteouts become what overlayfs reads: `.wh.name` a 0:0 character device
//! `name`, `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its
//! directory. A tar cannot set `trusted.overlay.*` xattrs itself: they would
//! steer overlayfs (redirects, metacopy) across layers.

use std::ffi::{CStr, CString, OsStr};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const COPY_BUF: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Apply the tar's uid/gid and create device nodes: only root can.
    pub privileged: bool,
}

impl Default for UnpackOptions {
    fn default() -> UnpackOptions {
        UnpackOptions { privileged: sys::is_root() }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    /// Bytes of regular-file content: what docker reports as a layer's size.
    pub content_bytes: u64,
}

/// Wraps a layer blob in the decompressor its first bytes call for (gzip,
/// zstd, or none). Docker sniffs the same way rather than trusting the media
/// type, which some registries and tools get wrong.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(COPY_BUF, reader);
    let head = r.fill_buf().map_err(Error::Tar)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd_reader(r)
    } else {
        Ok(Box::new(r))
    }
}

#[cfg(feature = "zstd-c")]
fn zstd_reader<'a, R: BufRead + 'a>(r: R) -> Result<Box<dyn Read + 'a>> {
    Ok(Box::new(zstd::stream::read::Decoder::with_buffer(r).map_err(Error::Tar)?))
}

#[cfg(not(feature = "zstd-c"))]
fn zstd_reader<'a, R: BufRead + 'a>(r: R) -> Result<Box<dyn Read + 'a>> {
    let d = ruzstd::decoding::StreamingDecoder::new(r).map_err(|e| Error::Tar(io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))))?;
    Ok(Box::new(d))
}

/// Unpacks a (decompressed) layer tar into `root`, an existing directory the
/// caller made for this layer. Reads the tar to its end-of-archive marker.
pub fn unpack<R: Read>(tar: R, root: &Path, opts: &UnpackOptions) -> Result<Stats> {
    let root_fd = sys::open_dir(libc::AT_FDCWD, &cstr(root.as_os_str().as_bytes(), root)?, false).map_err(|e| Error::io("opening layer directory", root, e))?;
    let mut u = Unpacker { root: root_fd, root_path: root.to_path_buf(), cache: None, dir_times: Vec::new(), opts: opts.clone(), stats: Stats::default(), buf: vec![0u8; COPY_BUF] };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(Error::Tar)? {
        let entry = entry.map_err(Error::Tar)?;
        u.entry(entry)?;
    }
    u.finish()?;
    Ok(u.stats)
}

type Comps = Vec<Vec<u8>>;

struct Unpacker {
    root: OwnedFd,
    root_path: PathBuf,
    /// The last parent directory opened: consecutive entries mostly share it.
    cache: Option<(Comps, OwnedFd)>,
    /// Directory mtimes are set last: creating children changes them.
    dir_times: Vec<(Comps, i64, i64)>,
    opts: UnpackOptions,
    stats: Stats,
    buf: Vec<u8>,
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn display(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn cstr(b: &[u8], what: impl AsRef<Path>) -> Result<CString> {
    CString::new(b).map_err(|_| Error::UnsafeEntry { path: what.as_ref().display().to_string(), reason: "NUL byte in name" })
}

/// Splits a tar path into components: `.` and empty ones dropped, a leading
/// `/` ignored, `..` refused.
fn components(raw: &[u8]) -> Result<Comps> {
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(Error::UnsafeEntry { path: display(raw), reason: "path has a `..` component" }),
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    comps.join(&b'/')
}

impl Unpacker {
    fn io_err(&self, op: &'static str, comps: &[Vec<u8>], e: io::Error) -> Error {
        Error::io(op, self.root_path.join(OsStr::from_bytes(&join(comps))), e)
    }

    /// Forgets the cached parent if `path` is it or one of its ancestors (the
    /// entry about to be written may replace it).
    fn invalidate(&mut self, path: &[Vec<u8>]) {
        if let Some((c, _)) = &self.cache {
            if c.starts_with(path) {
                self.cache = None;
            }
        }
    }

    /// The fd of directory `comps` inside the root, made (0755, like tar)
    /// where missing.
    fn dir(&mut self, comps: &[Vec<u8>]) -> Result<RawFd> {
        if comps.is_empty() {
            return Ok(self.root.as_raw_fd());
        }
        if self.cache.as_ref().is_none_or(|(c, _)| c.as_slice() != comps) {
            let fd = self.open_or_make_dir(comps)?;
            self.cache = Some((comps.to_vec(), fd));
        }
        Ok(self.cache.as_ref().map(|(_, fd)| fd.as_raw_fd()).unwrap_or(-1))
    }

    fn open_or_make_dir(&self, comps: &[Vec<u8>]) -> Result<OwnedFd> {
        let path = cstr(&join(comps), OsStr::from_bytes(&join(comps)))?;
        match sys::open_in_root(self.root.as_raw_fd(), &path) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(self.io_err("opening directory", comps, e)),
        }
        let (last, parent) = comps.split_last().unwrap_or((&comps[0], &[]));
        let pfd = if parent.is_empty() { None } else { Some(self.open_or_make_dir(parent)?) };
        let praw = pfd.as_ref().map_or(self.root.as_raw_fd(), |f| f.as_raw_fd());
        let name = cstr(last, OsStr::from_bytes(last))?;
        match sys::mkdirat(praw, &name, 0o755) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(self.io_err("creating directory", comps, e)),
        }
        // Made just now, or there all along as something that is not a
        // directory inside the root (a dangling symlink): never followed.
        sys::open_dir(praw, &name, true).map_err(|e| self.io_err("opening directory", comps, e))
    }

    /// Makes room for a new `name` in `pfd`: anything there is removed, except
    /// a directory when a directory is wanted (tar merges those). Returns
    /// whether a directory was kept.
    fn clear(&self, pfd: RawFd, name: &CStr, keep_dir: bool, comps: &[Vec<u8>]) -> Result<bool> {
        match sys::lstat_at(pfd, name) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(self.io_err("inspecting", comps, e)),
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                if keep_dir {
                    return Ok(true);
                }
                // std's remove_dir_all never follows symlinks inside the tree;
                // the fd path pins the parent we resolved safely.
                std::fs::remove_dir_all(sys::fd_path(pfd, name)).map_err(|e| self.io_err("removing directory", comps, e))?;
                Ok(false)
            }
            Ok(_) => {
                sys::unlinkat(pfd, name, 0).map_err(|e| self.io_err("removing", comps, e))?;
                Ok(false)
            }
        }
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let comps = components(&raw)?;
        let kind = entry.header().entry_type();
        let Some((name, parent)) = comps.split_last() else {
            // The layer root itself: its metadata is the store's business.
            return Ok(());
        };
        let (name, parent) = (name.clone(), parent.to_vec());
        self.stats.entries += 1;

        if name == OPAQUE_MARKER {
            self.invalidate(&parent);
            let pfd = self.dir(&parent)?;
            return sys::fsetxattr(pfd, c"trusted.overlay.opaque", b"y").map_err(|e| self.io_err("marking opaque", &parent, e));
        }
        if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX) {
            if target.is_empty() || target.starts_with(WHITEOUT_PREFIX) {
                // `.wh..wh.plnk` and friends are aufs bookkeeping: no meaning here.
                return Ok(());
            }
            if target == b"." || target == b".." {
                return Err(Error::UnsafeEntry { path: display(&raw), reason: "whiteout of `.` or `..`" });
            }
            let mut tcomps = parent.clone();
            tcomps.push(target.to_vec());
            self.invalidate(&tcomps);
            let pfd = self.dir(&parent)?;
            let tname = cstr(target, OsStr::from_bytes(&raw))?;
            // A whiteout hides only lower layers: if this layer already made
            // `target`, that stays.
            if sys::lstat_at(pfd, &tname).is_ok() {
                return Ok(());
            }
            return sys::mknodat(pfd, &tname, libc::S_IFCHR, 0).map_err(|e| self.io_err("creating whiteout", &tcomps, e));
        }

        let meta = self.meta(&mut entry)?;
        let cname = cstr(&name, OsStr::from_bytes(&raw))?;
        self.invalidate(&comps);
        let pfd = self.dir(&parent)?;
        use tar::EntryType as T;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                self.clear(pfd, &cname, false, &comps)?;
                let fd = sys::openat(pfd, &cname, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0o600)
                    .map_err(|e| self.io_err("creating file", &comps, e))?;
                let mut f = std::fs::File::from(fd);
                loop {
                    let n = entry.read(&mut self.buf).map_err(Error::Tar)?;
                    if n == 0 {
                        break;
                    }
                    io::Write::write_all(&mut f, &self.buf[..n]).map_err(|e| self.io_err("writing", &comps, e))?;
                    self.stats.content_bytes += n as u64;
                }
                let fd = f.as_raw_fd();
                if self.opts.privileged {
                    sys::fchown(fd, meta.uid, meta.gid).map_err(|e| self.io_err("chown", &comps, e))?;
                }
                // After chown, which clears setuid/setgid and file capabilities.
                sys::fchmod(fd, meta.mode).map_err(|e| self.io_err("chmod", &comps, e))?;
                for (k, v) in &meta.xattrs {
                    self.xattr(sys::fsetxattr(fd, &cstr(k, "xattr")?, v), &comps)?;
                }
                sys::futimens(fd, meta.mtime).map_err(|e| self.io_err("setting times", &comps, e))?;
            }
            T::Directory => {
                if !self.clear(pfd, &cname, true, &comps)? {
                    sys::mkdirat(pfd, &cname, 0o700).map_err(|e| self.io_err("creating directory", &comps, e))?;
                }
                let fd = sys::open_dir(pfd, &cname, true).map_err(|e| self.io_err("opening directory", &comps, e))?;
                let fd = fd.as_raw_fd();
                if self.opts.privileged {
                    sys::fchown(fd, meta.uid, meta.gid).map_err(|e| self.io_err("chown", &comps, e))?;
                }
                sys::fchmod(fd, meta.mode).map_err(|e| self.io_err("chmod", &comps, e))?;
                for (k, v) in &meta.xattrs {
                    self.xattr(sys::fsetxattr(fd, &cstr(k, "xattr")?, v), &comps)?;
                }
                self.dir_times.push((comps.clone(), meta.mtime.0, meta.mtime.1));
            }
            T::Symlink => {
                let target = entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default();
                self.clear(pfd, &cname, false, &comps)?;
                sys::symlinkat(&cstr(&target, OsStr::from_bytes(&raw))?, pfd, &cname).map_err(|e| self.io_err("creating symlink", &comps, e))?;
                self.path_meta(pfd, &cname, &meta, &comps, false)?;
            }
            T::Link => {
                let target = entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default();
                let tcomps = components(&target).map_err(|_| Error::UnsafeEntry { path: display(&raw), reason: "hard link target has a `..` component" })?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(Error::UnsafeEntry { path: display(&raw), reason: "hard link to the layer root" });
                };
                if tcomps == comps {
                    return Ok(());
                }
                self.clear(pfd, &cname, false, &comps)?;
                // The parent fd may be the cached one: open the target's own.
                let tp = cstr(&join(tparent), "link")?;
                let tfd = if tparent.is_empty() { None } else { Some(sys::open_in_root(self.root.as_raw_fd(), &tp).map_err(|e| self.io_err("resolving hard link target", &tcomps, e))?) };
                let traw = tfd.as_ref().map_or(self.root.as_raw_fd(), |f| f.as_raw_fd());
                let pfd = self.dir(&parent)?;
                sys::linkat(traw, &cstr(tname, "link")?, pfd, &cname).map_err(|e| self.io_err("creating hard link", &comps, e))?;
            }
            T::Fifo | T::Char | T::Block => {
                let (ftype, dev) = match kind {
                    T::Fifo => (libc::S_IFIFO, 0),
                    T::Char => (libc::S_IFCHR, sys::makedev(&entry)),
                    _ => (libc::S_IFBLK, sys::makedev(&entry)),
                };
                if ftype != libc::S_IFIFO && !self.opts.privileged {
                    // Only root may make device nodes; rootless unpackers skip them too.
                    return Ok(());
                }
                self.clear(pfd, &cname, false, &comps)?;
                sys::mknodat(pfd, &cname, ftype | (meta.mode & 0o777), dev).map_err(|e| self.io_err("creating device node", &comps, e))?;
                self.path_meta(pfd, &cname, &meta, &comps, true)?;
            }
            // Global PAX headers and unknown types carry nothing for the tree.
            _ => {}
        }
        Ok(())
    }

    /// Ownership, mode, xattrs and times of something that cannot be opened
    /// for writing (symlink, device, fifo): by name, never following it.
    fn path_meta(&mut self, pfd: RawFd, name: &CStr, meta: &Meta, comps: &[Vec<u8>], chmod: bool) -> Result<()> {
        if self.opts.privileged {
            sys::fchownat(pfd, name, meta.uid, meta.gid).map_err(|e| self.io_err("chown", comps, e))?;
        }
        if chmod {
            sys::fchmodat(pfd, name, meta.mode).map_err(|e| self.io_err("chmod", comps, e))?;
        }
        for (k, v) in &meta.xattrs {
            let r = sys::lsetxattr(&sys::fd_path(pfd, name), &cstr(k, "xattr")?, v);
            self.xattr(r, comps)?;
        }
        sys::utimensat(pfd, name, meta.mtime).map_err(|e| self.io_err("setting times", comps, e))
    }

    /// Unprivileged or on a filesystem without xattrs, `security.*` and
    /// `trusted.*` cannot be kept; as root, failing to keep one is an error.
    fn xattr(&self, r: io::Result<()>, comps: &[Vec<u8>]) -> Result<()> {
        match r {
            Err(e) if !self.opts.privileged && matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::ENOTSUP)) => Ok(()),
            Err(e) => Err(self.io_err("setting xattr", comps, e)),
            Ok(()) => Ok(()),
        }
    }

    fn meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
        let h = entry.header();
        let mut m = Meta {
            mode: h.mode().map_err(Error::Tar)? & 0o7777,
            uid: h.uid().map_err(Error::Tar)? as u32,
            gid: h.gid().map_err(Error::Tar)? as u32,
            mtime: (h.mtime().map_err(Error::Tar)? as i64, 0),
            xattrs: Vec::new(),
        };
        if let Some(exts) = entry.pax_extensions().map_err(Error::Tar)? {
            for ext in exts {
                let ext = ext.map_err(Error::Tar)?;
                let (k, v) = (ext.key_bytes(), ext.value_bytes());
                if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                    if !name.starts_with(b"trusted.overlay.") {
                        m.xattrs.push((name.to_vec(), v.to_vec()));
                    }
                } else if k == b"mtime" {
                    if let Some(t) = parse_pax_time(v) {
                        m.mtime = t;
                    }
                } else if k == b"uid" || k == b"gid" {
                    let n = std::str::from_utf8(v).ok().and_then(|s| s.parse::<u32>().ok()).ok_or_else(|| Error::UnsafeEntry { path: "pax header".into(), reason: "bad uid/gid" })?;
                    if k == b"uid" {
                        m.uid = n
                    } else {
                        m.gid = n
                    }
                }
            }
        }
        Ok(m)
    }

    fn finish(&mut self) -> Result<()> {
        self.cache = None;
        let times = std::mem::take(&mut self.dir_times);
        for (comps, sec, nsec) in times.iter().rev() {
            let Some((name, parent)) = comps.split_last() else { continue };
            let parent = parent.to_vec();
            let pfd = match self.dir(&parent) {
                Ok(fd) => fd,
                Err(_) => continue,
            };
            match sys::utimensat(pfd, &cstr(name, "dir")?, (*sec, *nsec)) {
                // Removed or replaced by a later entry: nothing to date.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                r => r.map_err(|e| self.io_err("setting times", comps, e))?,
            }
        }
        Ok(())
    }
}

fn parse_pax_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().ok()?;
    let mut nsec = 0i64;
    for (i, c) in frac.bytes().take(9).enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        nsec += (c - b'0') as i64 * 10i64.pow(8 - i as u32);
    }
    Some((sec, nsec))
}

/// A directory that appears at `dest` only once it is complete: it is built
/// under a temporary name next to `dest`, flushed to disk, then renamed.
/// Dropped without `commit`, it is removed.
pub struct StagedDir {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

/// Temporary names in the store start with this; a crash leaves them for the
/// start-up sweep.
pub const TEMP_PREFIX: &str = ".tmp-";

impl StagedDir {
    pub fn new(dest: &Path) -> Result<StagedDir> {
        static N: AtomicU64 = AtomicU64::new(0);
        let parent = dest.parent().unwrap_or(Path::new("."));
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = parent.join(format!("{TEMP_PREFIX}{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir(&tmp).map_err(|e| Error::io("creating staging directory", &tmp, e))?;
        Ok(StagedDir { tmp, dest: dest.to_path_buf(), committed: false })
    }

    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// `syncfs` once for the whole tree (cheaper than an fsync per file),
    /// rename, fsync the parent. If `dest` appeared meanwhile (the same layer
    /// pulled twice at once), the content is the same: the copy is dropped.
    pub fn commit(mut self) -> Result<()> {
        let fd = sys::open_dir(libc::AT_FDCWD, &cstr(self.tmp.as_os_str().as_bytes(), &self.tmp)?, false).map_err(|e| Error::io("opening", &self.tmp, e))?;
        sys::syncfs(fd.as_raw_fd()).map_err(|e| Error::io("syncing", &self.tmp, e))?;
        match std::fs::rename(&self.tmp, &self.dest) {
            Ok(()) => self.committed = true,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => return Ok(()),
            Err(e) => return Err(Error::io("renaming into place", &self.dest, e)),
        }
        let parent = self.dest.parent().unwrap_or(Path::new("."));
        sync_dir(parent)
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// fsync of a directory, so a rename into it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(|e| Error::io("syncing directory", dir, e))
}

/// The system calls, each wrapped once.
mod sys {
    use super::*;

    pub fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    fn check(r: libc::c_int) -> io::Result<()> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a non-negative return of open/openat2 is a new fd nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }

    pub fn fd_path(fd: RawFd, name: &CStr) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{fd}")).join(OsStr::from_bytes(name.to_bytes()))
    }

    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_IN_ROOT: u64 = 0x10;

    /// Opens directory `path` under `root` as if `root` were `/`: `..` and
    /// absolute symlinks stop at it. Without openat2 (Linux < 5.6), walks
    /// component by component and refuses symlinks.
    pub fn open_in_root(root: RawFd, path: &CStr) -> io::Result<OwnedFd> {
        let how = OpenHow { flags: (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64, mode: 0, resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        for _ in 0..16 {
            // SAFETY: path is a valid C string and how a properly sized open_how
            // that both outlive the call; the result is checked.
            let r = unsafe { libc::syscall(libc::SYS_openat2, root, path.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>()) };
            match owned(r) {
                // A concurrent rename elsewhere on the system: try again.
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return walk_nofollow(root, path),
                other => return other,
            }
        }
        Err(io::Error::from_raw_os_error(libc::EAGAIN))
    }

    /// Whether this kernel (or emulator: qemu-user lacks it) has openat2.
    #[cfg(test)]
    pub fn has_openat2() -> bool {
        match open_in_root_raw(libc::AT_FDCWD, c".") {
            Err(e) => e.raw_os_error() != Some(libc::ENOSYS),
            Ok(_) => true,
        }
    }

    #[cfg(test)]
    fn open_in_root_raw(root: RawFd, path: &CStr) -> io::Result<OwnedFd> {
        let how = OpenHow { flags: (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64, mode: 0, resolve: RESOLVE_IN_ROOT };
        // SAFETY: path is a valid C string and how a properly sized open_how
        // that both outlive the call; the result is checked.
        let r = unsafe { libc::syscall(libc::SYS_openat2, root, path.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>()) };
        owned(r)
    }

    fn walk_nofollow(root: RawFd, path: &CStr) -> io::Result<OwnedFd> {
        let mut cur: Option<OwnedFd> = None;
        for c in path.to_bytes().split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            let name = CString::new(c).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            let dir = cur.as_ref().map_or(root, |f| f.as_raw_fd());
            cur = Some(open_dir(dir, &name, true)?);
        }
        match cur {
            Some(fd) => Ok(fd),
            None => open_dir(root, c".", false),
        }
    }

    pub fn open_dir(dir: RawFd, name: &CStr, nofollow: bool) -> io::Result<OwnedFd> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | if nofollow { libc::O_NOFOLLOW } else { 0 };
        openat(dir, name, flags, 0)
    }

    pub fn openat(dir: RawFd, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
        // SAFETY: name is a valid C string for the duration of the call.
        let r = unsafe { libc::openat(dir, name.as_ptr(), flags, mode as libc::c_uint) };
        owned(r as libc::c_long)
    }

    pub fn mkdirat(dir: RawFd, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
        // SAFETY: name is a valid C string for the duration of the call.
        check(unsafe { libc::mkdirat(dir, name.as_ptr(), mode) })
    }

    pub fn mknodat(dir: RawFd, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
        // SAFETY: name is a valid C string for the duration of the call.
        check(unsafe { libc::mknodat(dir, name.as_ptr(), mode, dev) })
    }

    pub fn symlinkat(target: &CStr, dir: RawFd, name: &CStr) -> io::Result<()> {
        // SAFETY: both are valid C strings for the duration of the call.
        check(unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) })
    }

    /// Without AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
    pub fn linkat(odir: RawFd, oname: &CStr, ndir: RawFd, nname: &CStr) -> io::Result<()> {
        // SAFETY: both names are valid C strings for the duration of the call.
        check(unsafe { libc::linkat(odir, oname.as_ptr(), ndir, nname.as_ptr(), 0) })
    }

    pub fn unlinkat(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
        // SAFETY: name is a valid C string for the duration of the call.
        check(unsafe { libc::unlinkat(dir, name.as_ptr(), flags) })
    }

    pub fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
        // SAFETY: an all-zero stat is a valid value of this plain C struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: name is a valid C string and st a writable stat, both live for the call.
        check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
        Ok(st)
    }

    pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> io::Result<()> {
        // SAFETY: plain syscall on an fd; the kernel validates it.
        check(unsafe { libc::fchown(fd, uid, gid) })
    }

    pub fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
        // SAFETY: plain syscall on an fd; the kernel validates it.
        check(unsafe { libc::fchmod(fd, mode as libc::mode_t) })
    }

    pub fn fchownat(dir: RawFd, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
        // SAFETY: name is a valid C string for the duration of the call.
        check(unsafe { libc::fchownat(dir, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
    }

    /// Only called on fifos and devices just created (chmod of a symlink is
    /// meaningless on Linux and fchmodat cannot refuse to follow one).
    pub fn fchmodat(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
        // SAFETY: name is a valid C string for the duration of the call.
        check(unsafe { libc::fchmodat(dir, name.as_ptr(), mode as libc::mode_t, 0) })
    }

    fn times(t: (i64, i64)) -> [libc::timespec; 2] {
        let ts = libc::timespec { tv_sec: t.0 as _, tv_nsec: t.1 as _ };
        [ts, ts]
    }

    pub fn futimens(fd: RawFd, t: (i64, i64)) -> io::Result<()> {
        let ts = times(t);
        // SAFETY: ts is an array of two timespecs that lives for the call.
        check(unsafe { libc::futimens(fd, ts.as_ptr()) })
    }

    pub fn utimensat(dir: RawFd, name: &CStr, t: (i64, i64)) -> io::Result<()> {
        let ts = times(t);
        // SAFETY: name is a valid C string and ts two timespecs, both live for the call.
        check(unsafe { libc::utimensat(dir, name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
    }

    pub fn fsetxattr(fd: RawFd, name: &std::ffi::CStr, value: &[u8]) -> io::Result<()> {
        // SAFETY: name is a valid C string and value a live buffer of value.len() bytes.
        check(unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
    }

    pub fn lsetxattr(path: &Path, name: &std::ffi::CStr, value: &[u8]) -> io::Result<()> {
        let p = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: p and name are valid C strings and value a live buffer of value.len() bytes.
        check(unsafe { libc::lsetxattr(p.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
    }

    pub fn syncfs(fd: RawFd) -> io::Result<()> {
        // SAFETY: plain syscall on an fd; the kernel validates it.
        check(unsafe { libc::syncfs(fd) })
    }

    pub fn makedev<R: Read>(entry: &tar::Entry<'_, R>) -> libc::dev_t {
        let h = entry.header();
        let major = h.device_major().ok().flatten().unwrap_or(0);
        let minor = h.device_minor().ok().flatten().unwrap_or(0);
        libc::makedev(major, minor)
    }
}

#[cfg(test)]
mod tests;
