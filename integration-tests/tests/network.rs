//! Bridge networking under berthd: containers on the default bridge reach
//! each other, egress is masqueraded to an "outside" network namespace the
//! test makes itself (no packet leaves this machine), leases survive a
//! berthd SIGKILL, and after `rm -f` nothing of berth's is left: no veth,
//! no bridge, no netns, no nftables table, no lease.
//!
//! The default bridge `berth0` is one per host, so these tests run one at a
//! time (a static lock) even under --test-threads=2.

use std::process::Command;
use std::sync::Mutex;

use berth_integration_tests::daemon::*;
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

/// The test's daemon; its containers are removed also when the test fails,
/// so a failure leaks no veth, netns or rule into the next test.
struct Env(Daemon);

impl Env {
    fn start(name: &str) -> Env {
        Env(Daemon::start(name))
    }
}

impl std::ops::Deref for Env {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.0
    }
}

impl std::ops::DerefMut for Env {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.0
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let all = String::from_utf8_lossy(&self.0.berth(&["ps", "-aq"]).stdout).into_owned();
        for id in all.split_whitespace() {
            let _ = self.0.berth(&["rm", "-f", id]);
        }
    }
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").args(["-c", cmd]).output().unwrap()
}

fn sh_ok(cmd: &str) {
    let o = sh(cmd);
    assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
}

/// An "outside" host: a netns with 198.18.<n>.2, reached from the host's
/// 198.18.<n>.1 over a veth pair, with no route back to the bridge subnet
/// (so a reply only comes back if berth masqueraded the request).
struct Outside {
    ns: String,
    host_if: String,
}

impl Outside {
    fn new(n: u8) -> Outside {
        let ns = format!("bt-out-{}", std::process::id());
        let host_if = format!("btout{n}a");
        let peer = format!("btout{n}b");
        let _ = sh(&format!("ip netns del {ns}; ip link del {host_if}"));
        sh_ok(&format!(
            "ip netns add {ns} && ip link add {host_if} type veth peer name {peer} && ip link set {peer} netns {ns} && \
             ip addr add 198.18.{n}.1/24 dev {host_if} && ip link set {host_if} up && \
             ip -n {ns} addr add 198.18.{n}.2/24 dev {peer} && ip -n {ns} link set {peer} up && ip -n {ns} link set lo up"
        ));
        Outside { ns, host_if }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = sh(&format!("ip link del {}; ip netns del {}", self.host_if, self.ns));
    }
}

fn ip_of(d: &Env, name: &str) -> String {
    let v: Value = serde_json::from_str(&d.ok(&["container", "inspect", name])).unwrap();
    let ip = v[0]["NetworkSettings"]["IPAddress"].as_str().unwrap_or_default().to_string();
    assert!(ip.starts_with("10.89.0."), "an address of the default bridge: {}", v[0]["NetworkSettings"]);
    assert_eq!(v[0]["NetworkSettings"]["Networks"]["bridge"]["Gateway"], "10.89.0.1");
    assert_eq!(v[0]["HostConfig"]["NetworkMode"], "bridge");
    ip
}

/// What of berth's networking is on the host.
fn berth_net_leftovers() -> Vec<String> {
    let mut out = Vec::new();
    let links = String::from_utf8_lossy(&sh("ip -o link").stdout).into_owned();
    for l in links.lines() {
        let name = l.split(':').nth(1).unwrap_or("").trim();
        if name == "berth0" || name.starts_with("vb") {
            out.push(format!("link {name}"));
        }
    }
    if sh("nft list table ip berth").status.success() {
        out.push("nft table ip berth".into());
    }
    let fwd = String::from_utf8_lossy(&sh("nft list chain ip filter FORWARD").stdout).into_owned();
    if fwd.contains("comment \"berth\"") {
        out.push("berth rule in ip filter FORWARD".into());
    }
    for e in std::fs::read_dir("/run/berth/netns").into_iter().flatten().flatten() {
        out.push(format!("netns {}", e.path().display()));
    }
    out
}

#[test]
fn default_bridge_connectivity_egress_restart_and_cleanup() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let reg = registry();
    let mut d = Env::start("net-bridge");
    let bb = format!("{reg}/busybox");
    d.ok(&["pull", "-q", &bb]);
    let out = Outside::new(77);

    d.ok(&["run", "-d", "--name", "n1", "--hostname", "web", &bb, "sleep", "1000"]);
    let ip1 = ip_of(&d, "n1");
    // The container's own /etc/hosts names its address; resolv.conf has no
    // loopback nameserver (unreachable from the container's netns).
    let hosts = d.ok(&["run", "--rm", "--hostname", "h2", &bb, "cat", "/etc/hosts"]);
    assert!(hosts.lines().any(|l| l.starts_with("10.89.0.") && l.ends_with("h2")), "{hosts}");
    let resolv = d.ok(&["run", "--rm", &bb, "cat", "/etc/resolv.conf"]);
    assert!(!resolv.lines().any(|l| l.starts_with("nameserver 127.")), "{resolv}");

    // Container to container over the bridge.
    let o = d.ok(&["run", "--rm", &bb, "ping", "-c1", "-W2", &ip1]);
    assert!(o.contains("1 packets received"), "{o}");
    // Egress: the outside namespace has no route to 10.89.0.0/24, so the
    // reply comes back only because the source was masqueraded to 198.18.77.1.
    let o = d.ok(&["run", "--rm", &bb, "ping", "-c1", "-W2", "198.18.77.2"]);
    assert!(o.contains("1 packets received"), "{o}");
    // Without berth's masquerade there is no way back: prove the test can fail.
    let nomasq = sh(&format!("ip netns exec {} ping -c1 -W1 {ip1}", out.ns));
    assert!(!nomasq.status.success(), "the outside must not reach the bridge subnet directly");

    // berthd SIGKILLed and restarted: the running container keeps its
    // address and connectivity, and a new one gets a different address.
    d.kill9();
    d.start_again();
    assert_eq!(ip_of(&d, "n1"), ip1, "the lease survives a berthd restart");
    d.ok(&["run", "-d", "--name", "n2", &bb, "sleep", "1000"]);
    let ip2 = ip_of(&d, "n2");
    assert_ne!(ip1, ip2, "a lease is never handed out twice");
    let o = d.ok(&["run", "--rm", &bb, "ping", "-c1", "-W2", &ip1]);
    assert!(o.contains("1 packets received"), "{o}");

    // container:<name> mode: the same netns, so n1's address is its own
    // and its loopback is shared.
    let o = d.ok(&["run", "--rm", "--network", "container:n1", &bb, "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(o.contains(&format!("{ip1}/24")), "{o}");
    assert!(d.fails(&["run", "--network", "container:nosuch", &bb, "true"]).contains("No such container"));

    d.ok(&["rm", "-f", "n1", "n2"]);
    let left = berth_net_leftovers();
    assert!(left.is_empty(), "left behind: {left:?}\n{}", d.log());
    let db = d.data_root.join("berth.db");
    let n = Command::new("sqlite3").arg(&db).arg("SELECT count(*) FROM ip_leases").output().expect("sqlite3 (apt-get install sqlite3)");
    assert_eq!(String::from_utf8_lossy(&n.stdout).trim(), "0", "no lease left: {}", String::from_utf8_lossy(&n.stderr));
    drop(out);
}

#[test]
fn unknown_networks_and_ports_are_refused() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let d = Env::start("net-refuse");
    let bb = format!("{}/busybox", registry());
    d.ok(&["pull", "-q", &bb]);
    assert!(d.fails(&["run", "--network", "nosuchnet", &bb, "true"]).contains("network nosuchnet not found"));
    assert!(d.fails(&["run", "-p", "8000-8001:80", &bb, "true"]).contains("not implemented yet"));
    assert!(d.fails(&["run", "-p", "127.0.0.1:8080:80", &bb, "true"]).contains("not implemented yet"));
    assert!(d.fails(&["run", "--network", "none", "-p", "8080:80", &bb, "true"]).contains("need bridge networking"));
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    assert!(berth_net_leftovers().is_empty());
}

fn http_get_ok(addr: &str) -> bool {
    std::net::TcpStream::connect(addr).is_ok()
}

fn http_get(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), std::time::Duration::from_secs(3)).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    c.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut s = String::new();
    let _ = c.read_to_string(&mut s);
    s
}

#[test]
fn published_tcp_port_from_loopback_outside_and_hairpin() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let d = Env::start("net-ports");
    let bb = format!("{}/busybox", registry());
    d.ok(&["pull", "-q", &bb]);
    let out = Outside::new(78);
    d.ok(&["run", "-d", "--name", "web", "-p", "18081:80", &bb, "sh", "-c", "mkdir -p /w && echo hello-berth > /w/index.html && exec httpd -f -p 80 -h /w"]);
    let v: Value = serde_json::from_str(&d.ok(&["container", "inspect", "web"])).unwrap();
    assert_eq!(v[0]["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"], "18081", "{}", v[0]["NetworkSettings"]);
    assert_eq!(d.ok(&["port", "web"]).trim(), "80/tcp -> 0.0.0.0:18081");
    assert_eq!(d.ok(&["port", "web", "80"]).trim(), "0.0.0.0:18081");
    assert!(d.fails(&["port", "web", "81"]).contains("No public port '81/tcp'"));
    assert!(d.ok(&["ps"]).contains("0.0.0.0:18081->80/tcp"), "{}", d.ok(&["ps"]));
    // httpd needs a moment to listen.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::net::TcpStream::connect("127.0.0.1:18081").is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // From the host itself, through 127.0.0.1 (output-hook DNAT, route_localnet).
    assert!(http_get("127.0.0.1:18081").contains("hello-berth"));
    // From another "host": the test's netns, through the host's 198.18.78.1 (prerouting DNAT).
    let o = sh(&format!("ip netns exec {} sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | busybox nc -w3 198.18.78.1 18081'", out.ns));
    assert!(String::from_utf8_lossy(&o.stdout).contains("hello-berth"), "{o:?}");
    // From another container through the host's address (hairpin).
    let o = d.ok(&["run", "--rm", &bb, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w3 198.18.78.1 18081"]);
    assert!(o.contains("hello-berth"), "{o}");
    // A host port is one container's.
    assert!(d.fails(&["run", "-d", "-p", "18081:80", &bb, "true"]).contains("port is already allocated"));
    // -p containerPort: an ephemeral host port from 32768-60999, shown by port.
    d.ok(&["run", "-d", "--name", "eph", "-p", "80", &bb, "sh", "-c", "mkdir -p /w && echo hello-eph > /w/index.html && exec httpd -f -p 80 -h /w"]);
    let hp = d.ok(&["port", "eph", "80"]).trim().rsplit(':').next().unwrap().to_string();
    let n: u16 = hp.parse().unwrap_or_else(|_| panic!("a port: {hp:?}"));
    assert!((32768..=60999).contains(&n), "{n}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !http_get_ok(&format!("127.0.0.1:{n}")) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(http_get(&format!("127.0.0.1:{n}")).contains("hello-eph"));
    // -P: every ExposedPort of the image (webapp: 8080/tcp, 8443/tcp, 5353/udp).
    let wa = format!("{}/webapp", registry());
    d.ok(&["pull", "-q", &wa]);
    d.ok(&["run", "-d", "--name", "pall", "-P", &wa]);
    let all = d.ok(&["port", "pall"]);
    assert_eq!(all.lines().count(), 3, "{all}");
    assert!(all.contains("5353/udp -> 0.0.0.0:"), "{all}");
    let p8080: u16 = d.ok(&["port", "pall", "8080"]).trim().rsplit(':').next().unwrap().parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut got = String::new();
    while std::time::Instant::now() < deadline {
        if http_get_ok(&format!("127.0.0.1:{p8080}")) {
            got = http_get(&format!("127.0.0.1:{p8080}"));
            if got.contains("200") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(got.contains("200 OK"), "webapp through -P: {got:?}");
    d.ok(&["rm", "-f", "web", "eph", "pall"]);
    assert!(std::net::TcpStream::connect_timeout(&"127.0.0.1:18081".parse().unwrap(), std::time::Duration::from_millis(500)).is_err(), "the port is unpublished");
    let all = d.ok(&["ps", "-aq"]);
    for id in all.split_whitespace() {
        d.ok(&["rm", "-f", id]);
    }
    let left = berth_net_leftovers();
    assert!(left.is_empty(), "left behind: {left:?}\n{}", d.log());
    drop(out);
}
