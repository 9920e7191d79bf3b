//! Login and push against a registry that wants bearer tokens (as Docker
//! Hub and most registries do; the fixture registries only do basic auth):
//! a small fake on 127.0.0.1 with a token service, which records what it
//! was asked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use berth_integration_tests::daemon::*;

const TOKEN: &str = "tok-3f9a";

#[derive(Default)]
struct Seen {
    /// (method, path, authorization header)
    requests: Vec<(String, String, String)>,
    blobs: Vec<String>,
    manifest: Option<(String, Vec<u8>)>,
}

fn respond(s: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut r = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let _ = s.write_all(r.as_bytes());
    let _ = s.write_all(body);
}

fn serve(mut s: TcpStream, port: u16, seen: Arc<Mutex<Seen>>) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let (mut auth, mut len) = (String::new(), 0usize);
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.to_ascii_lowercase().as_str() {
            "authorization" => auth = v.trim().to_string(),
            "content-length" => len = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
    seen.lock().unwrap().requests.push((method.clone(), path.clone(), auth.clone()));
    if path.starts_with("/token") {
        // fixture:fixture-pass only.
        if auth == "Basic Zml4dHVyZTpmaXh0dXJlLXBhc3M=" {
            respond(&mut s, "200 OK", &[("Content-Type", "application/json".into())], format!(r#"{{"token":"{TOKEN}"}}"#).as_bytes());
        } else {
            respond(&mut s, "401 Unauthorized", &[], b"{}");
        }
        return;
    }
    if auth != format!("Bearer {TOKEN}") {
        let scope = path.strip_prefix("/v2/").and_then(|p| p.split_once("/blobs/").or(p.split_once("/manifests/"))).map(|(repo, _)| format!(",scope=\"repository:{repo}:pull,push\"")).unwrap_or_default();
        let challenge = format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"{scope}");
        respond(&mut s, "401 Unauthorized", &[("WWW-Authenticate", challenge)], br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#);
        return;
    }
    let p = path.split('?').next().unwrap_or("");
    match (method.as_str(), p) {
        ("GET", "/v2/") => respond(&mut s, "200 OK", &[], b"{}"),
        ("HEAD", p) if p.contains("/blobs/") => respond(&mut s, "404 Not Found", &[], b""),
        ("POST", p) if p.ends_with("/blobs/uploads/") => respond(&mut s, "202 Accepted", &[("Location", format!("{p}upload-1"))], b""),
        ("PUT", p) if p.contains("/blobs/uploads/") => {
            let digest = path.split("digest=").nth(1).unwrap_or("").replace("%3A", ":");
            seen.lock().unwrap().blobs.push(digest);
            respond(&mut s, "201 Created", &[], b"");
        }
        ("PUT", p) if p.contains("/manifests/") => {
            seen.lock().unwrap().manifest = Some((p.to_string(), body));
            respond(&mut s, "201 Created", &[], b"");
        }
        _ => respond(&mut s, "404 Not Found", &[], b""),
    }
}

fn fake() -> (u16, Arc<Mutex<Seen>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let s3 = s2.clone();
            std::thread::spawn(move || serve(c, port, s3));
        }
    });
    (port, seen)
}

#[test]
fn bearer_login_and_push() {
    let reg = registry();
    let (port, seen) = fake();
    let host = format!("127.0.0.1:{port}");
    let d = Daemon::start("bearer");
    let cfg = d.dir.join("docker-config");
    let login = |pass: &str| {
        let mut c = d.berth_cmd().env("DOCKER_CONFIG", &cfg).args(["login", "-u", "fixture", "--password-stdin", &host]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        c.stdin.take().unwrap().write_all(pass.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let o = login("nope");
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("incorrect username or password"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = login("fixture-pass");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The login's token request names no repository.
    assert!(seen.lock().unwrap().requests.iter().any(|(_, p, _)| p == "/token?service=fake"), "{:?}", seen.lock().unwrap().requests);

    d.ok(&["pull", "-q", &format!("{reg}/busybox")]);
    let target = format!("{host}/team/app:v2");
    d.ok(&["tag", &format!("{reg}/busybox"), &target]);
    let o = d.berth_cmd().env("DOCKER_CONFIG", &cfg).args(["push", &target]).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stderr), d.log());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(": Pushed"), "{out}");
    let seen = seen.lock().unwrap();
    assert!(seen.requests.iter().any(|(_, p, _)| p.starts_with("/token?") && p.contains("scope=repository%3Ateam%2Fapp%3Apull%2Cpush")), "{:?}", seen.requests);
    let img = d.inspect(&target);
    let fx: serde_json::Value = serde_json::from_slice(&std::fs::read(fixtures().join("fixtures.json")).unwrap()).unwrap();
    let layer = fx["busybox:latest"]["layers"][0]["digest"].as_str().unwrap().to_string();
    assert!(seen.blobs.contains(&layer) && seen.blobs.contains(&img["Id"].as_str().unwrap().to_string()), "{:?}", seen.blobs);
    let (path, body) = seen.manifest.clone().expect("manifest pushed");
    assert_eq!(path, "/v2/team/app/manifests/v2");
    let want = img["RepoDigests"].as_array().unwrap().iter().find_map(|r| r.as_str().filter(|r| r.starts_with(&reg))).unwrap().split('@').nth(1).unwrap().to_string();
    let got = String::from_utf8(std::process::Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().and_then(|mut c| {
        c.stdin.take().unwrap().write_all(&body)?;
        c.wait_with_output()
    }).unwrap().stdout).unwrap();
    assert_eq!(format!("sha256:{}", got.split_whitespace().next().unwrap()), want, "the manifest went up byte for byte");
}
