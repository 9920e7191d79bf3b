//! Hostile and ordinary layer tars, written byte by byte (tar::Builder
//! refuses `..`, which is exactly what these tests need to send).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use super::*;

#[derive(Default)]
struct TarW(Vec<u8>);

struct E<'a> {
    name: &'a [u8],
    kind: u8,
    data: &'a [u8],
    link: &'a [u8],
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
    dev: (u32, u32),
}

fn e(name: &str, kind: u8) -> E<'_> {
    E { name: name.as_bytes(), kind, data: b"", link: b"", mode: if kind == b'5' { 0o755 } else { 0o644 }, uid: 0, gid: 0, mtime: 1_600_000_000, dev: (0, 0) }
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}\0", v, width = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

impl TarW {
    fn add(&mut self, e: E<'_>) -> &mut Self {
        let mut h = [0u8; 512];
        h[..e.name.len()].copy_from_slice(e.name);
        octal(&mut h[100..108], e.mode as u64);
        octal(&mut h[108..116], e.uid as u64);
        octal(&mut h[116..124], e.gid as u64);
        octal(&mut h[124..136], e.data.len() as u64);
        octal(&mut h[136..148], e.mtime);
        h[156] = e.kind;
        h[157..157 + e.link.len()].copy_from_slice(e.link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        octal(&mut h[329..337], e.dev.0 as u64);
        octal(&mut h[337..345], e.dev.1 as u64);
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| b as u64).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.0.extend_from_slice(&h);
        self.0.extend_from_slice(e.data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    /// A PAX extended header for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while format!("{len}").len() + rest != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let mut x = e("PaxHeader", b'x');
        x.data = &body;
        self.add(x)
    }

    fn done(&mut self) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.0);
        v.extend_from_slice(&[0u8; 1024]);
        v
    }
}

/// A scratch area: `root` is the layer, `outside` a sibling that must stay
/// untouched.
struct Area {
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
}

impl Area {
    fn new(name: &str) -> Area {
        let base = std::env::temp_dir().join(format!("oci-image-unpack-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("a/b/root");
        let outside = base.join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "secret").unwrap();
        Area { base, root, outside }
    }

    fn unpack(&self, tar: &[u8]) -> Result<Stats> {
        unpack(tar, &self.root, &UnpackOptions::default())
    }

    /// Every path under base outside root, with content: must not change.
    fn outside_listing(&self) -> Vec<String> {
        fn walk(dir: &Path, skip: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p == skip {
                    continue;
                }
                let m = std::fs::symlink_metadata(&p).unwrap();
                out.push(format!("{} {:o} {}", p.display(), m.mode(), m.nlink()));
                if m.is_dir() {
                    walk(&p, skip, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.base, &self.root, &mut out);
        out.sort();
        out.push(std::fs::read_to_string(self.outside.join("secret")).unwrap());
        out
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

#[test]
fn dotdot_paths_are_refused() {
    let a = Area::new("dotdot");
    let before = a.outside_listing();
    for name in ["../../../outside/pwned", "x/../../pwned", "./../pwned", "/../pwned"] {
        let mut f = e(name, b'0');
        f.data = b"pwned";
        let err = a.unpack(&TarW::default().add(f).done()).unwrap_err();
        assert!(matches!(err, Error::UnsafeEntry { .. }), "{name}: {err}");
    }
    assert_eq!(a.outside_listing(), before);
}

#[test]
fn absolute_names_land_in_the_root() {
    let a = Area::new("abs");
    let mut f = e("/etc/hostname", b'0');
    f.data = b"inside";
    a.unpack(&TarW::default().add(f).done()).unwrap();
    assert_eq!(std::fs::read_to_string(a.root.join("etc/hostname")).unwrap(), "inside");
}

#[test]
fn symlinked_parents_stay_inside() {
    let a = Area::new("symparent");
    let before = a.outside_listing();
    let outside = a.outside.to_str().unwrap().to_string();
    let mut t = TarW::default();
    // An absolute symlink to the real outside dir, a relative one climbing
    // out, and a chain of both; then files written "through" each.
    let mut s1 = e("abs", b'2');
    s1.link = outside.as_bytes();
    let mut s2 = e("rel", b'2');
    s2.link = b"../../../../../../outside";
    let mut s3 = e("chain", b'2');
    s3.link = b"rel";
    let mut s4 = e("root", b'2');
    s4.link = b"/";
    // The targets exist inside the layer too, as they would in a rootfs.
    let inside_twin = outside.trim_start_matches('/').to_string();
    t.add(e(&inside_twin, b'5')).add(e("outside", b'5')).add(e("tmp", b'5'));
    t.add(s1).add(s2).add(s3).add(s4);
    for n in ["abs/pwned", "rel/pwned", "chain/pwned2", "root/../outside/pwned3"] {
        let mut f = e(n, b'0');
        f.data = b"pwned";
        if n.contains("..") {
            // A separate tar: refused outright.
            assert!(a.unpack(&TarW::default().add(f).done()).is_err());
            continue;
        }
        t.add(f);
    }
    let mut f = e("root/tmp/x", b'0');
    f.data = b"x";
    t.add(f);
    if !sys::has_openat2() {
        // The fallback refuses symlinked parents outright.
        assert!(a.unpack(&t.done()).is_err());
        assert_eq!(a.outside_listing(), before);
        return;
    }
    a.unpack(&t.done()).unwrap();
    assert_eq!(a.outside_listing(), before);
    // They resolved as if the layer root were `/`.
    assert!(a.root.join(outside.trim_start_matches('/')).join("pwned").is_file());
    assert!(a.root.join("outside/pwned").is_file());
    assert!(a.root.join("outside/pwned2").is_file());
    assert!(a.root.join("tmp/x").is_file());
    // Through a symlink whose target does not exist inside: refused.
    let mut d = e("dangle", b'2');
    let target = format!("{outside}/newdir");
    d.link = target.as_bytes();
    let mut f = e("dangle/f", b'0');
    f.data = b"pwned";
    assert!(a.unpack(&TarW::default().add(d).add(f).done()).is_err());
    assert_eq!(a.outside_listing(), before);
}

#[test]
fn a_symlink_is_replaced_not_written_through() {
    let a = Area::new("replace");
    let before = a.outside_listing();
    let target = a.outside.join("secret");
    let mut s = e("f", b'2');
    let t = target.to_str().unwrap().to_string();
    s.link = t.as_bytes();
    let mut f = e("f", b'0');
    f.data = b"new";
    let mut d = e("d", b'2');
    d.link = a.outside.to_str().unwrap().as_bytes();
    let dd = e("d", b'5');
    let mut inner = e("d/file", b'0');
    inner.data = b"inner";
    a.unpack(&TarW::default().add(s).add(f).add(d).add(dd).add(inner).done()).unwrap();
    assert_eq!(a.outside_listing(), before);
    assert_eq!(std::fs::read_to_string(a.root.join("f")).unwrap(), "new");
    assert!(std::fs::symlink_metadata(a.root.join("d")).unwrap().is_dir());
    assert_eq!(std::fs::read_to_string(a.root.join("d/file")).unwrap(), "inner");
}

#[test]
fn hard_links_cannot_reach_outside() {
    let a = Area::new("hardlink");
    let before = a.outside_listing();
    let secret = a.outside.join("secret");
    let s = secret.to_str().unwrap().to_string();
    let mut l = e("h", b'1');
    l.link = b"../../../../outside/secret";
    assert!(matches!(a.unpack(&TarW::default().add(l).done()), Err(Error::UnsafeEntry { .. })));
    // Absolute and through a symlink to `/`: resolved inside, where there is
    // no such file.
    let mut l = e("h", b'1');
    l.link = s.as_bytes();
    assert!(a.unpack(&TarW::default().add(l).done()).is_err());
    let mut sym = e("up", b'2');
    sym.link = b"/";
    let mut l = e("h2", b'1');
    let via = format!("up{s}");
    l.link = via.as_bytes();
    assert!(a.unpack(&TarW::default().add(sym).add(l).done()).is_err());
    assert_eq!(a.outside_listing(), before);
    assert_eq!(std::fs::metadata(&secret).unwrap().nlink(), 1);
    // Inside the layer, hard links work.
    let mut f = e("data/a", b'0');
    f.data = b"shared";
    let mut l = e("data/b", b'1');
    l.link = b"data/a";
    a.unpack(&TarW::default().add(f).add(l).done()).unwrap();
    let (ma, mb) = (std::fs::metadata(a.root.join("data/a")).unwrap(), std::fs::metadata(a.root.join("data/b")).unwrap());
    assert_eq!((ma.ino(), ma.nlink()), (mb.ino(), 2));
}

#[test]
fn devices_fifos_modes_owners_times_xattrs() {
    if !sys::is_root() {
        eprintln!("skipped: devices and ownership need root");
        return;
    }
    let a = Area::new("special");
    let before = a.outside_listing();
    let mut t = TarW::default();
    let mut c = e("dev/null", b'3');
    c.dev = (1, 3);
    c.mode = 0o666;
    let mut b = e("dev/loop0", b'4');
    b.dev = (7, 0);
    b.mode = 0o660;
    b.gid = 6;
    let fifo = e("run/fifo", b'6');
    let mut suid = e("bin/suid", b'0');
    suid.mode = 0o4755;
    suid.uid = 1000;
    suid.gid = 1000;
    suid.data = b"#!/bin/sh\n";
    suid.mtime = 1_000_000_000;
    let mut dir = e("home/user", b'5');
    dir.mode = 0o700;
    dir.uid = 1000;
    dir.mtime = 1_234_567_890;
    let mut inner = e("home/user/.profile", b'0');
    inner.data = b"x";
    t.add(c).add(b).add(fifo).add(suid).add(dir).add(inner);
    t.pax(&[("SCHILY.xattr.user.comment", b"hello"), ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"), ("mtime", b"1700000000.5")]);
    let mut x = e("xattr.txt", b'0');
    x.data = b"x";
    t.add(x);
    let mut bad = e("../dev/null", b'3');
    bad.dev = (1, 3);
    a.unpack(&t.done()).unwrap();
    assert!(a.unpack(&TarW::default().add(bad).done()).is_err());
    assert_eq!(a.outside_listing(), before);

    let m = std::fs::symlink_metadata(a.root.join("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!((m.rdev(), m.mode() & 0o7777), (libc::makedev(1, 3), 0o666));
    let m = std::fs::symlink_metadata(a.root.join("dev/loop0")).unwrap();
    assert!(m.file_type().is_block_device());
    assert_eq!((m.rdev(), m.gid()), (libc::makedev(7, 0), 6));
    assert!(std::fs::symlink_metadata(a.root.join("run/fifo")).unwrap().file_type().is_fifo());
    let m = std::fs::metadata(a.root.join("bin/suid")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()), (0o4755, 1000, 1000, 1_000_000_000));
    let m = std::fs::metadata(a.root.join("home/user")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.mtime()), (0o700, 1000, 1_234_567_890), "dir mtime kept after a child was written");
    let m = std::fs::metadata(a.root.join("xattr.txt")).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 500_000_000));
    let p = CString::new(a.root.join("xattr.txt").as_os_str().as_bytes()).unwrap();
    assert_eq!(getxattr(&p, c"user.comment").as_deref(), Some(&b"hello"[..]));
    assert_eq!(getxattr(&p, c"trusted.overlay.redirect"), None, "a tar must not steer overlayfs");
}

fn getxattr(p: &CString, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    // SAFETY: p and name are valid C strings, buf a writable buffer of buf.len() bytes.
    let n = unsafe { libc::lgetxattr(p.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

#[test]
fn whiteouts_become_overlayfs_whiteouts() {
    if !sys::is_root() {
        eprintln!("skipped: trusted.* xattrs need root");
        return;
    }
    let a = Area::new("whiteout");
    let mut t = TarW::default();
    let mut same = e("keep", b'0');
    same.data = b"made here";
    let mut after = e("recreated", b'0');
    after.data = b"new";
    t.add(e(".wh.gone", b'0'))
        .add(e("dir/.wh..wh..opq", b'0'))
        .add(e("dir/new.txt", b'0'))
        .add(same)
        .add(e(".wh.keep", b'0'))
        .add(e(".wh.recreated", b'0'))
        .add(after)
        .add(e("sub/deep/.wh.x", b'0'))
        .add(e(".wh..wh.plnk", b'5'));
    a.unpack(&t.done()).unwrap();
    let m = std::fs::symlink_metadata(a.root.join("gone")).unwrap();
    assert!(m.file_type().is_char_device() && m.rdev() == 0);
    assert!(std::fs::symlink_metadata(a.root.join("sub/deep/x")).unwrap().file_type().is_char_device());
    let p = CString::new(a.root.join("dir").as_os_str().as_bytes()).unwrap();
    assert_eq!(getxattr(&p, c"trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
    assert!(a.root.join("dir/new.txt").is_file());
    assert_eq!(std::fs::read_to_string(a.root.join("keep")).unwrap(), "made here");
    assert_eq!(std::fs::read_to_string(a.root.join("recreated")).unwrap(), "new");
    for n in [".wh.gone", "dir/.wh..wh..opq", ".wh..wh.plnk"] {
        assert!(std::fs::symlink_metadata(a.root.join(n)).is_err(), "{n} must not be created");
    }
}

#[test]
fn dir_replaced_by_file_and_back() {
    let a = Area::new("replace-kinds");
    let mut t = TarW::default();
    let mut f = e("x/inner", b'0');
    f.data = b"1";
    let mut x = e("x", b'0');
    x.data = b"file now";
    t.add(f).add(x).add(e("y", b'0')).add(e("y", b'5'));
    a.unpack(&t.done()).unwrap();
    assert_eq!(std::fs::read_to_string(a.root.join("x")).unwrap(), "file now");
    assert!(a.root.join("y").is_dir());
}

#[test]
fn truncated_tar_is_an_error() {
    let a = Area::new("truncated");
    let mut f = e("big", b'0');
    let data = vec![1u8; 10_000];
    f.data = &data;
    let tar = TarW::default().add(f).done();
    assert!(a.unpack(&tar[..3000]).is_err());
}

#[test]
fn decompress_sniffs_the_format() {
    let tar = {
        let mut f = e("hello", b'0');
        f.data = b"world";
        TarW::default().add(f).done()
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = ruzstd::encoding::compress_to_vec(&tar[..], ruzstd::encoding::CompressionLevel::Fastest);
    for (name, blob) in [("plain", tar.clone()), ("gzip", gz.clone()), ("zstd", zst)] {
        let mut out = Vec::new();
        decompress(&blob[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, tar, "{name}");
    }
    let mut out = Vec::new();
    assert!(decompress(&gz[..gz.len() - 10]).unwrap().read_to_end(&mut out).is_err(), "truncated gzip");
}

#[test]
fn staged_dir_appears_only_on_commit() {
    let a = Area::new("staged");
    let dest = a.base.join("layers/abc");
    std::fs::create_dir_all(a.base.join("layers")).unwrap();
    {
        let s = StagedDir::new(&dest).unwrap();
        std::fs::write(s.path().join("f"), "x").unwrap();
        assert!(!dest.exists());
    }
    assert_eq!(std::fs::read_dir(a.base.join("layers")).unwrap().count(), 0, "dropped staging dir removed");
    let s = StagedDir::new(&dest).unwrap();
    std::fs::write(s.path().join("f"), "x").unwrap();
    s.commit().unwrap();
    assert!(dest.join("f").is_file());
    assert_eq!(std::fs::read_dir(a.base.join("layers")).unwrap().count(), 1);
    let _ = std::fs::Permissions::from_mode(0o755);
}
