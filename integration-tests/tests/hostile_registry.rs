//! A registry that lies: wrong digests, wrong diff_ids, truncated and
//! oversized bodies, malformed JSON, a layer that climbs out with `..`.
//! Each pull fails with a clear error and leaves nothing behind: no image
//! listed, no temporary or unverified file in the store, nothing outside it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_integration_tests::daemon::*;

fn pipe(cmd: &[&str], input: &[u8]) -> Vec<u8> {
    let mut c = Command::new(cmd[0]).args(&cmd[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let data = input.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let out = c.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    out.stdout
}

fn sha(data: &[u8]) -> String {
    String::from_utf8(pipe(&["sha256sum"], data)).unwrap().split_whitespace().next().unwrap().to_string()
}

/// A one-file ustar archive (name may be hostile: no checks here).
fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let oct = |f: &mut [u8], v: u64| f.copy_from_slice(format!("{:0w$o}\0", v, w = f.len() - 1).as_bytes());
    oct(&mut h[100..108], 0o644);
    oct(&mut h[108..116], 0);
    oct(&mut h[116..124], 0);
    oct(&mut h[124..136], data.len() as u64);
    oct(&mut h[136..148], 1_700_000_000);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| b as u64).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut v = h.to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512 + 1024, 0);
    v
}

enum Body {
    Full(Vec<u8>),
    /// Announces the whole length, sends only the first n bytes, hangs up.
    Truncated(Vec<u8>, usize),
    /// As `Truncated` for a plain GET; a `Range: bytes=N-` GET gets a 206
    /// with the rest, and N is recorded.
    Flaky(Vec<u8>, usize, Arc<Mutex<Vec<usize>>>),
}

/// N of a `Range: bytes=N-` request header.
fn range_start(req: &str) -> Option<usize> {
    req.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if !k.eq_ignore_ascii_case("range") {
            return None;
        }
        v.trim().strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok()
    })
}

struct Fake {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Fake {
    fn start(routes: HashMap<String, (String, Body)>) -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                let mut buf = Vec::new();
                let mut b = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&b[..n]),
                    }
                }
                let req = String::from_utf8_lossy(&buf);
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                let _ = match routes.get(&path) {
                    Some((ct, Body::Full(data))) => {
                        let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len());
                        c.write_all(data)
                    }
                    Some((ct, Body::Truncated(data, n))) => {
                        let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len());
                        c.write_all(&data[..*n])
                    }
                    Some((ct, Body::Flaky(data, n, seen))) => match range_start(&req) {
                        Some(from) if from < data.len() => {
                            seen.lock().unwrap().push(from);
                            let _ = write!(
                                c,
                                "HTTP/1.1 206 Partial Content\r\nContent-Type: {ct}\r\nContent-Range: bytes {from}-{}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                data.len() - 1,
                                data.len(),
                                data.len() - from
                            );
                            c.write_all(&data[from..])
                        }
                        _ => {
                            let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len());
                            c.write_all(&data[..*n])
                        }
                    },
                    None => c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 58\r\nConnection: close\r\n\r\n{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"nope\"}]}"),
                };
            }
        });
        Fake { port, stop }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Image {
    manifest: Vec<u8>,
    config: Vec<u8>,
    config_digest: String,
    layer: Vec<u8>,
    layer_digest: String,
}

/// An image whose manifest claims `claimed_digest`/`claimed_size` for the
/// layer and whose config claims `diff_id`.
fn image(layer: Vec<u8>, claimed_digest: Option<String>, claimed_size: Option<usize>, diff_id: String) -> Image {
    let layer_digest = claimed_digest.unwrap_or_else(|| sha(&layer));
    let config = format!(r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}}}}"#).into_bytes();
    let config_digest = sha(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{layer_digest}","size":{}}}]}}"#,
        config.len(),
        claimed_size.unwrap_or(layer.len())
    )
    .into_bytes();
    Image { manifest, config, config_digest, layer, layer_digest }
}

#[test]
fn lying_registry_loses_nothing() {
    let d = Daemon::start("hostile");
    let good_tar = tar_with("etc/hello", b"hello\n");
    let good_gz = pipe(&["gzip", "-c", "-n"], &good_tar);
    let good_diff = sha(&good_tar);
    let evil_tar = tar_with("../../../../escaped-by-berth-test", b"pwned\n");
    let evil_gz = pipe(&["gzip", "-c", "-n"], &evil_tar);
    let mt = "application/vnd.oci.image.manifest.v1+json".to_string();

    let mut routes = HashMap::new();
    let mut add = |tag: &str, img: Image, layer_body: Body| {
        routes.insert(format!("/v2/evil/manifests/{tag}"), (mt.clone(), Body::Full(img.manifest)));
        routes.insert(format!("/v2/evil/blobs/sha256:{}", img.config_digest), ("application/octet-stream".into(), Body::Full(img.config)));
        routes.insert(format!("/v2/evil/blobs/sha256:{}", img.layer_digest), ("application/octet-stream".into(), layer_body));
    };
    // The blob is not what the manifest's digest says.
    let wrong = "0".repeat(64);
    add("baddigest", image(good_gz.clone(), Some(wrong.clone()), None, good_diff.clone()), Body::Full(good_gz.clone()));
    // The layer is fine, but not the tar the config's diff_id names.
    let img = image(pipe(&["gzip", "-c", "-n", "-1"], &tar_with("etc/other", b"x")), None, None, good_diff.clone());
    let l = img.layer.clone();
    add("baddiff", img, Body::Full(l));
    // The connection drops half-way, every time.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let big_tar = tar_with("etc/big", &big);
    let big_gz = pipe(&["gzip", "-c", "-n"], &big_tar);
    let img = image(big_gz.clone(), None, None, sha(&big_tar));
    add("truncated", img, Body::Truncated(big_gz.clone(), big_gz.len() / 2));
    // More bytes than the manifest's size.
    let mut longer = good_gz.clone();
    longer.extend_from_slice(&[0u8; 4096]);
    let img = image(good_gz.clone(), Some(sha(&longer)), Some(good_gz.len()), good_diff.clone());
    add("oversized", img, Body::Full(longer));
    // Digests all correct; the tar climbs out.
    let img = image(evil_gz.clone(), None, None, sha(&evil_tar));
    let l = img.layer.clone();
    add("traversal", img, Body::Full(l));
    // Finally one honest image, to show the daemon still pulls.
    let img = image(good_gz.clone(), None, None, good_diff.clone());
    let l = img.layer.clone();
    add("good", img, Body::Full(l));
    routes.insert("/v2/evil/manifests/badjson".into(), (mt.clone(), Body::Full(b"{\"schemaVersion\":2,\"config\":".to_vec())));
    let fake = Fake::start(routes);
    let reg = format!("127.0.0.1:{}", fake.port);

    for (tag, want) in [
        ("baddigest", "digest mismatch"),
        ("baddiff", "diff_id"),
        ("truncated", "blob"),
        ("oversized", "size mismatch"),
        ("traversal", "`..`"),
        ("badjson", "malformed manifest"),
    ] {
        let err = d.fails(&["pull", &format!("{reg}/evil:{tag}")]);
        assert!(err.contains(want), "{tag}: expected {want:?} in {err:?}");
        assert!(d.ok(&["images", "-q"]).trim().is_empty(), "{tag}: nothing listed");
        let (blobs, layers) = d.store_entries();
        assert!(layers.is_empty(), "{tag}: no layer kept: {layers:?}");
        assert!(blobs.iter().all(|b| !b.starts_with(".tmp-")), "{tag}: {blobs:?}");
        assert!(!std::path::Path::new("/escaped-by-berth-test").exists() && !std::path::Path::new("/tmp/escaped-by-berth-test").exists());
    }
    d.ok(&["pull", &format!("{reg}/evil:good")]);
    let img = d.inspect(&format!("{reg}/evil:good"));
    let lower = img["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(std::path::Path::new(lower).join("etc/hello")).unwrap(), "hello\n");
}

/// A download cut half-way resumes with `Range` from what arrived instead of
/// starting over, and the layer it unpacks is the whole one.
#[test]
fn a_broken_download_resumes_with_range() {
    let d = Daemon::start("resume");
    // Incompressible, so the gzip blob is big enough that part of it has
    // gone through the unpacker when the connection drops.
    let big: Vec<u8> = (0..4_000_000u64).map(|i| (i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 33) as u8).collect();
    let tar = tar_with("etc/big", &big);
    let gz = pipe(&["gzip", "-c", "-n", "-1"], &tar);
    let img = image(gz.clone(), None, None, sha(&tar));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mt = "application/vnd.oci.image.manifest.v1+json".to_string();
    let mut routes = HashMap::new();
    routes.insert("/v2/flaky/manifests/v1".to_string(), (mt, Body::Full(img.manifest)));
    routes.insert(format!("/v2/flaky/blobs/sha256:{}", img.config_digest), ("application/octet-stream".into(), Body::Full(img.config)));
    routes.insert(format!("/v2/flaky/blobs/sha256:{}", img.layer_digest), ("application/octet-stream".into(), Body::Flaky(gz.clone(), gz.len() / 2, seen.clone())));
    let fake = Fake::start(routes);
    let reference = format!("127.0.0.1:{}/flaky:v1", fake.port);
    d.ok(&["pull", &reference]);
    let ranges = seen.lock().unwrap().clone();
    assert_eq!(ranges.len(), 1, "one ranged retry: {ranges:?}");
    assert!(ranges[0] > 0 && ranges[0] <= gz.len() / 2, "resumed from {} of {} (cut at {})", ranges[0], gz.len(), gz.len() / 2);
    let img = d.inspect(&reference);
    let lower = img["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
    assert!(std::fs::read(std::path::Path::new(lower).join("etc/big")).unwrap() == big, "the unpacked file is the whole file");
    let (blobs, _) = d.store_entries();
    assert!(blobs.iter().all(|b| !b.starts_with(".tmp-")), "no partial left: {blobs:?}");
    let hex = sha(&gz);
    assert!(blobs.iter().any(|b| *b == hex), "the blob is stored whole: {blobs:?}");
}
