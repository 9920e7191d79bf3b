//! A registry over HTTPS: Debian's docker-registry with a certificate from a
//! CA this test makes, listening on an address of a bridge the test
//! creates (198.18.0.1, not loopback, so berthd treats the registry as
//! secure). Without the CA the certificate is refused; with it in certs.d
//! next to the daemon's config file, push and pull work over TLS.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_integration_tests::daemon::*;

const ADDR: &str = "198.18.0.1";
const PORT: u16 = 5443;

fn sh(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// The bridge, the registry process and the test's directory,
/// removed on drop.
struct TlsRegistry {
    link: String,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Drop for TlsRegistry {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["link", "del", &self.link]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_certs(dir: &Path) {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    sh(&["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=berth test CA", "-keyout", &p("ca.key"), "-out", &p("ca.crt")]);
    sh(&["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", &format!("/CN={ADDR}"), "-keyout", &p("server.key"), "-out", &p("server.csr")]);
    std::fs::write(dir.join("ext.cnf"), format!("subjectAltName=IP:{ADDR}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")).unwrap();
    sh(&["openssl", "x509", "-req", "-in", &p("server.csr"), "-CA", &p("ca.crt"), "-CAkey", &p("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", &p("ext.cnf"), "-out", &p("server.crt")]);
}

fn start_registry() -> TlsRegistry {
    let dir = std::path::PathBuf::from(format!("/tmp/berth-it-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let link = format!("btls{}", std::process::id() % 100000);
    sh(&["ip", "link", "add", &link, "type", "bridge"]);
    let mut reg = TlsRegistry { link: link.clone(), child: None, dir: dir.clone() };
    sh(&["ip", "addr", "add", &format!("{ADDR}/32"), "dev", &link]);
    sh(&["ip", "link", "set", &link, "up"]);
    make_certs(&dir);
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    let cfg = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {ADDR}:{PORT}\n  tls:\n    certificate: {}\n    key: {}\n",
        storage.display(),
        dir.join("server.crt").display(),
        dir.join("server.key").display()
    );
    std::fs::write(dir.join("config.yml"), cfg).unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    reg.child = Some(Command::new("docker-registry").arg("serve").arg(dir.join("config.yml")).stdout(Stdio::null()).stderr(log).spawn().expect("docker-registry (apt-get install docker-registry)"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect((ADDR, PORT)).is_err() {
        assert!(Instant::now() < deadline, "the TLS registry did not start: {}", std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    reg
}

#[test]
fn push_and_pull_over_tls_with_a_registry_ca() {
    let reg = start_registry();
    // berthd's certs.d sits next to its config file.
    let conf = reg.dir.join("etc");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("daemon.json"), "{}").unwrap();
    let d = Daemon::start_with("tls", &["--config-file", conf.join("daemon.json").to_str().unwrap()]);

    let bb = format!("{}/busybox:latest", registry());
    d.ok(&["pull", "-q", &bb]);
    let remote = format!("{ADDR}:{PORT}/tls/busybox:v1");
    d.ok(&["tag", &bb, &remote]);
    let err = d.fails(&["push", &remote]);
    assert!(err.contains("TLS handshake") && err.to_lowercase().contains("certificate"), "an unknown CA is refused: {err}");

    let ca_dir = conf.join("certs.d").join(format!("{ADDR}:{PORT}"));
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::copy(reg.dir.join("ca.crt"), ca_dir.join("ca.crt")).unwrap();
    let out = d.ok(&["push", &remote]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    let id = d.inspect(&bb)["Id"].as_str().unwrap().to_string();
    d.ok(&["rmi", &remote, &bb]);
    assert!(d.ok(&["images", "-q"]).trim().is_empty());
    let out = d.ok(&["pull", &remote]);
    assert!(out.contains("Pull complete") && out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(d.inspect(&remote)["Id"], id.as_str());
    let found = d.ok(&["search", "--format", "{{.Name}}", &format!("{ADDR}:{PORT}/")]);
    assert_eq!(found.trim(), format!("{ADDR}:{PORT}/tls/busybox"));
}
