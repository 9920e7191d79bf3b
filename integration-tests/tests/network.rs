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
    fn start_with(name: &str, extra: &[&str]) -> Env {
        Env(Daemon::start_with(name, extra))
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
        let nets = String::from_utf8_lossy(&self.0.berth(&["network", "ls", "-q", "--filter", "type=custom"]).stdout).into_owned();
        for id in nets.split_whitespace() {
            let _ = self.0.berth(&["network", "rm", id]);
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
        let name = name.split('@').next().unwrap_or(name);
        if name == "berth0" || name.starts_with("vb") || name.starts_with("berth-") || name.starts_with("btnet") {
            out.push(format!("link {name}"));
        }
    }
    // Every daemon has its own table, berth or berth_<hash of its data root>.
    let tables = String::from_utf8_lossy(&sh("nft list tables").stdout).into_owned();
    for t in tables.lines().filter(|l| l.starts_with("table ip berth")) {
        out.push(format!("nft {t}"));
    }
    let fwd = String::from_utf8_lossy(&sh("nft list chain ip filter FORWARD").stdout).into_owned();
    if fwd.contains("comment \"berth") {
        out.push("berth rule in ip filter FORWARD".into());
    }
    // The iptables backend's chains.
    let ipt = String::from_utf8_lossy(&sh("iptables-save 2>/dev/null").stdout).into_owned();
    for l in ipt.lines().filter(|l| l.contains("BERTH")) {
        out.push(format!("iptables: {l}"));
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
    assert!(d.fails(&["run", "-p", "8000-8002:80-81", &bb, "true"]).contains("differ in length"));
    assert!(d.fails(&["run", "-p", "[::1]:8080:80", &bb, "true"]).contains("IPv6"));
    assert!(d.fails(&["run", "--ip", "10.89.0.77", &bb, "true"]).contains("user defined networks only"));
    assert!(d.fails(&["network", "rm", "bridge"]).contains("pre-defined network"));
    assert!(d.fails(&["network", "create", "--driver", "overlay", "x1"]).contains("not supported"));
    assert!(d.fails(&["network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "x1"]).contains("not supported"));
    assert!(d.fails(&["network", "create", "--subnet", "10.89.0.0/16", "x1"]).contains("overlaps"));
    assert!(d.fails(&["network", "create", "--gateway", "10.97.0.1", "x1"]).contains("need --subnet"));
    assert!(d.fails(&["network", "create", "--subnet", "10.97.0.0/24", "--gateway", "10.98.0.1", "x1"]).contains("not a host address"));
    assert!(d.fails(&["network", "create", "--ipv6", "x1"]).contains("IPv4 only"));
    assert!(d.fails(&["run", "--dns", "nope", &bb, "true"]).contains("not an ip address"));
    assert!(d.fails(&["run", "--add-host", "nocolon", &bb, "true"]).contains("--add-host"));
    assert!(!d.ok(&["network", "ls"]).contains("x1"), "nothing half-made");
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

fn exec(d: &Env, ctr: &str, cmd: &str) -> std::process::Output {
    d.berth(&["exec", ctr, "sh", "-c", cmd])
}

fn pings(d: &Env, ctr: &str, target: &str) -> bool {
    exec(d, ctr, &format!("ping -c1 -W2 {target}")).status.success()
}

/// busybox nslookup against the embedded server: the addresses it printed for `name`.
fn lookup(d: &Env, ctr: &str, name: &str) -> Vec<String> {
    let o = exec(d, ctr, &format!("nslookup -type=a {name} 127.0.0.11"));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    // busybox prints the server's own address first ("Address: 127.0.0.11:53").
    text.lines().filter_map(|l| l.strip_prefix("Address:")).map(|a| a.trim().to_string()).filter(|a| !a.starts_with("127.0.0.11")).collect()
}

fn net_ip(d: &Env, ctr: &str, net: &str) -> String {
    let v: Value = serde_json::from_str(&d.ok(&["container", "inspect", ctr])).unwrap();
    v[0]["NetworkSettings"]["Networks"][net]["IPAddress"].as_str().unwrap_or_default().to_string()
}

/// A DNS server on the host at 127.0.0.153:53 that answers every A query
/// with 192.0.2.55: the upstream the embedded server must forward to.
struct FakeUpstream {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    t: Option<std::thread::JoinHandle<()>>,
}

impl FakeUpstream {
    fn start() -> FakeUpstream {
        let s = std::net::UdpSocket::bind("127.0.0.153:53").expect("binding 127.0.0.153:53 for the fake upstream");
        s.set_read_timeout(Some(std::time::Duration::from_millis(100))).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let st = stop.clone();
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 512];
            while !st.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok((n, from)) = s.recv_from(&mut b) else { continue };
                if n < 12 {
                    continue;
                }
                // Echo the question, answer it: QR|AA|RA, one answer (a pointer to the name), 192.0.2.55.
                let mut r = b[..n].to_vec();
                r[2] = 0x84 | (b[2] & 1);
                r[3] = 0x80;
                r[6..8].copy_from_slice(&1u16.to_be_bytes());
                r[8..12].copy_from_slice(&[0, 0, 0, 0]);
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 55]);
                let _ = s.send_to(&r, from);
            }
        });
        FakeUpstream { stop, t: Some(t) }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.t.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn user_networks_names_isolation_internal_connect_and_restart() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let reg = registry();
    let mut d = Env::start("net-user");
    let bb = format!("{reg}/busybox");
    d.ok(&["pull", "-q", &bb]);
    let out = Outside::new(79);
    let upstream = FakeUpstream::start();

    // Three networks: an automatic subnet, a given one, an internal one.
    let id1 = d.ok(&["network", "create", "btn1"]).trim().to_string();
    assert_eq!(id1.len(), 64, "{id1}");
    d.ok(&["network", "create", "--subnet", "10.97.5.0/24", "--gateway", "10.97.5.254", "--ip-range", "10.97.5.128/25", "--label", "team=a", "btn2"]);
    d.ok(&["network", "create", "--internal", "--subnet", "10.97.6.0/24", "btni"]);
    assert!(d.fails(&["network", "create", "btn1"]).contains("already exists"));
    let ls = d.ok(&["network", "ls"]);
    for n in ["bridge", "host", "none", "btn1", "btn2", "btni"] {
        assert!(ls.lines().any(|l| l.split_whitespace().nth(1) == Some(n)), "{n} in {ls}");
    }
    assert_eq!(d.ok(&["network", "ls", "-q", "--filter", "label=team=a"]).trim().len(), 12);
    let v: Value = serde_json::from_str(&d.ok(&["network", "inspect", "btn2"])).unwrap();
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], "10.97.5.0/24");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Gateway"], "10.97.5.254");
    assert_eq!(v[0]["Labels"]["team"], "a");
    let v1: Value = serde_json::from_str(&d.ok(&["network", "inspect", "btn1"])).unwrap();
    let sub1 = v1[0]["IPAM"]["Config"][0]["Subnet"].as_str().unwrap().to_string();
    assert!(sub1.starts_with("10.89.") && sub1 != "10.89.0.0/24", "an automatic subnet beside the default bridge's: {sub1}");
    // The bridge exists from create on, with the gateway address.
    let br = v1[0]["Options"]["com.docker.network.bridge.name"].as_str().map(str::to_string).unwrap_or_else(|| format!("berth-{}", &id1[..9]));
    assert!(String::from_utf8_lossy(&sh(&format!("ip -4 addr show {br}")).stdout).contains(&format!("{}/24", v1[0]["IPAM"]["Config"][0]["Gateway"].as_str().unwrap())));

    // Names on one network: container name, alias, short id; the default bridge has none.
    d.ok(&["run", "-d", "--name", "a1", "--network", "btn1", "--network-alias", "web", &bb, "sleep", "1000"]);
    d.ok(&["run", "-d", "--name", "b1", "--network", "btn1", "--dns", "127.0.0.153", "--add-host", "gw:host-gateway", &bb, "sleep", "1000"]);
    let a_ip = net_ip(&d, "a1", "btn1");
    assert!(!a_ip.is_empty());
    assert_eq!(lookup(&d, "b1", "a1"), vec![a_ip.clone()]);
    assert_eq!(lookup(&d, "b1", "WEB"), vec![a_ip.clone()], "aliases, case-insensitive");
    let a_id = d.ok(&["inspect", "-f", "{{.Id}}", "a1"]).trim().to_string();
    assert_eq!(lookup(&d, "b1", &a_id[..12]), vec![a_ip.clone()]);
    assert!(pings(&d, "b1", "a1"), "ping by name through resolv.conf");
    let resolv = String::from_utf8_lossy(&exec(&d, "b1", "cat /etc/resolv.conf").stdout).into_owned();
    assert!(resolv.starts_with("nameserver 127.0.0.11\n") && resolv.contains("ndots:0") && resolv.contains("127.0.0.153"), "{resolv}");
    let hosts = String::from_utf8_lossy(&exec(&d, "b1", "cat /etc/hosts").stdout).into_owned();
    let gw1 = v1[0]["IPAM"]["Config"][0]["Gateway"].as_str().unwrap();
    assert!(hosts.contains(&format!("{gw1}\tgw")), "host-gateway is the network's gateway: {hosts}");
    // Other names go to the container's --dns, asked from the host's namespace.
    assert_eq!(lookup(&d, "b1", "outside.test"), vec!["192.0.2.55".to_string()]);
    drop(upstream);
    // Egress from a user network is masqueraded too.
    assert!(pings(&d, "b1", "198.18.79.2"));

    // Isolation: btn2 reaches neither btn1 nor a1's name.
    d.ok(&["run", "-d", "--name", "c2", "--network", "btn2", "--ip", "10.97.5.77", &bb, "sleep", "1000"]);
    assert_eq!(net_ip(&d, "c2", "btn2"), "10.97.5.77");
    assert!(d.fails(&["run", "-d", "--network", "btn2", "--ip", "10.97.5.77", &bb, "sleep", "1"]).contains("already in use"));
    assert!(!pings(&d, "c2", &a_ip), "networks are isolated");
    assert!(!pings(&d, "a1", "10.97.5.77"), "both ways");
    assert!(lookup(&d, "c2", "a1").is_empty(), "no names across networks");
    d.ok(&["run", "-d", "--name", "c3", "--network", "btn2", &bb, "sleep", "1000"]);
    let c3 = net_ip(&d, "c3", "btn2");
    assert!(c3.starts_with("10.97.5.") && c3.rsplit('.').next().unwrap().parse::<u8>().unwrap() >= 128, "from the ip-range: {c3}");
    assert!(pings(&d, "c2", "c3"));

    // Internal: members reach each other, nothing else; no default route.
    d.ok(&["run", "-d", "--name", "i1", "--network", "btni", &bb, "sleep", "1000"]);
    d.ok(&["run", "-d", "--name", "i2", "--network", "btni", &bb, "sleep", "1000"]);
    assert!(pings(&d, "i1", "i2"));
    assert!(!pings(&d, "i1", "198.18.79.2"), "no egress from an internal network");
    let routes = String::from_utf8_lossy(&exec(&d, "i1", "ip route").stdout).into_owned();
    assert!(!routes.contains("default"), "{routes}");

    // connect / disconnect of a running container.
    d.ok(&["network", "connect", "--alias", "api", "btn2", "a1"]);
    let a_ip2 = net_ip(&d, "a1", "btn2");
    assert!(a_ip2.starts_with("10.97.5."), "{a_ip2}");
    assert!(String::from_utf8_lossy(&exec(&d, "a1", "ip -4 -o addr show eth1").stdout).contains(&a_ip2));
    assert_eq!(lookup(&d, "c2", "api"), vec![a_ip2.clone()]);
    assert!(pings(&d, "c2", "a1"));
    assert!(d.fails(&["network", "rm", "btn2"]).contains("active endpoints"));
    d.ok(&["network", "disconnect", "btn2", "a1"]);
    assert!(!exec(&d, "a1", "ip link show eth1").status.success(), "eth1 is gone");
    assert!(lookup(&d, "c2", "a1").is_empty());
    assert!(pings(&d, "b1", "a1"), "btn1 is untouched");
    assert!(d.fails(&["network", "disconnect", "btn2", "a1"]).contains("not connected"));

    // berthd SIGKILLed and restarted: addresses, connectivity and names stay.
    d.kill9();
    d.start_again();
    assert_eq!(net_ip(&d, "a1", "btn1"), a_ip);
    assert_eq!(lookup(&d, "b1", "a1"), vec![a_ip.clone()], "the embedded DNS server is back");
    assert!(pings(&d, "b1", "a1"));
    d.ok(&["run", "-d", "--name", "n4", "--network", "btn1", &bb, "sleep", "1000"]);
    let n4 = net_ip(&d, "n4", "btn1");
    assert!(![a_ip.as_str(), net_ip(&d, "b1", "btn1").as_str()].contains(&n4.as_str()), "no lease handed out twice");

    // A stopped container keeps its networks and gets them back at start.
    d.ok(&["stop", "-t", "0", "b1"]);
    assert_eq!(net_ip(&d, "b1", "btn1"), "", "no address while stopped");
    d.ok(&["start", "b1"]);
    assert!(pings(&d, "b1", "a1"));

    let all = d.ok(&["ps", "-aq"]);
    for id in all.split_whitespace() {
        d.ok(&["rm", "-f", id]);
    }
    let pruned = d.ok(&["network", "prune", "-f"]);
    for n in ["btn1", "btn2", "btni"] {
        assert!(pruned.contains(n), "{pruned}");
    }
    assert!(!d.ok(&["network", "ls"]).contains("btn"), "only the predefined networks are left");
    let left = berth_net_leftovers();
    assert!(left.is_empty(), "left behind: {left:?}\n{}", d.log());
    let n = Command::new("sqlite3").arg(d.data_root.join("berth.db")).arg("SELECT (SELECT count(*) FROM ip_leases) + (SELECT count(*) FROM endpoints) + (SELECT count(*) FROM port_bindings)").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&n.stdout).trim(), "0");
    drop(out);
}

#[test]
fn published_udp_ranges_host_address_and_container_mode() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let reg = registry();
    let d = Env::start("net-ports2");
    let bb = format!("{reg}/busybox");
    d.ok(&["pull", "-q", &bb]);
    let out = Outside::new(80);
    let probe = berth_integration_tests::probe_bin();
    let vol = format!("{}:/probe:ro", probe.display());
    d.ok(&["network", "create", "btp"]);

    // UDP, on a user network.
    d.ok(&["run", "-d", "--name", "udp", "--network", "btp", "-v", &vol, "-p", "18353:5353/udp", &bb, "/probe", "udp-echo", "5353"]);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(300))).unwrap();
    let mut got = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline && got.is_empty() {
        sock.send_to(b"ping", "127.0.0.1:18353").unwrap();
        let mut b = [0u8; 64];
        if let Ok((n, _)) = sock.recv_from(&mut b) {
            got = String::from_utf8_lossy(&b[..n]).into_owned();
        }
    }
    assert_eq!(got, "echo:ping", "UDP through the published port");
    assert_eq!(d.ok(&["port", "udp"]).trim(), "5353/udp -> 0.0.0.0:18353");

    // One host address only: 127.0.0.1 reaches it, the outside does not.
    d.ok(&["run", "-d", "--name", "lo", "-p", "127.0.0.1:18091:80", &bb, "sh", "-c", "mkdir -p /w && echo only-lo > /w/index.html && exec httpd -f -p 80 -h /w"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !http_get_ok("127.0.0.1:18091") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(http_get("127.0.0.1:18091").contains("only-lo"));
    let o = sh(&format!("ip netns exec {} sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | timeout 3 busybox nc -w2 198.18.80.1 18091'", out.ns));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("only-lo"), "bound to 127.0.0.1 only");
    assert!(d.ok(&["ps"]).contains("127.0.0.1:18091->80/tcp"));
    // All addresses and one address of the same port clash.
    assert!(d.fails(&["run", "-d", "-p", "18091:80", &bb, "true"]).contains("already allocated"));
    // Another address, same port: fine.
    d.ok(&["run", "-d", "--name", "lo2", "-p", "127.0.0.2:18091:80", &bb, "sleep", "1000"]);

    // Ranges: paired port by port, and a host range for one port.
    d.ok(&["run", "-d", "--name", "rg", "-p", "18100-18101:80-81", "-p", "18110-18119:90", &bb, "sleep", "1000"]);
    let ports = d.ok(&["port", "rg"]);
    assert!(ports.contains("80/tcp -> 0.0.0.0:18100") && ports.contains("81/tcp -> 0.0.0.0:18101") && ports.contains("90/tcp -> 0.0.0.0:18110"), "{ports}");
    d.ok(&["run", "-d", "--name", "rg2", "-p", "18110-18119:90", &bb, "sleep", "1000"]);
    assert_eq!(d.ok(&["port", "rg2", "90"]).trim(), "0.0.0.0:18111", "the next free port of the range");

    // A bridge name and MTU of one's own; connect with a fixed address.
    d.ok(&["network", "create", "-o", "com.docker.network.bridge.name=btnet7", "-o", "com.docker.network.driver.mtu=1400", "--subnet", "10.97.7.0/24", "btm"]);
    let link = String::from_utf8_lossy(&sh("ip link show btnet7").stdout).into_owned();
    assert!(link.contains("mtu 1400"), "{link}");
    d.ok(&["network", "connect", "--ip", "10.97.7.50", "btm", "lo2"]);
    assert_eq!(net_ip(&d, "lo2", "btm"), "10.97.7.50");
    let eth1 = String::from_utf8_lossy(&exec(&d, "lo2", "ip -o link show eth1").stdout).into_owned();
    assert!(eth1.contains("mtu 1400"), "the container's end has the network's MTU: {eth1}");
    let v: Value = serde_json::from_str(&d.ok(&["network", "inspect", "btm"])).unwrap();
    assert_eq!(v[0]["Options"]["com.docker.network.bridge.name"], "btnet7");
    assert!(v[0]["Containers"].as_object().unwrap().values().any(|c| c["IPv4Address"] == "10.97.7.50/24"), "{}", v[0]["Containers"]);
    d.ok(&["network", "disconnect", "btm", "lo2"]);
    d.ok(&["network", "rm", "btm"]);
    assert!(!std::path::Path::new("/sys/class/net/btnet7").exists());

    // container: mode shares another container's namespace (on a user network too).
    let o = d.ok(&["run", "--rm", "--network", "container:udp", &bb, "ip", "-4", "-o", "addr", "show", "eth0"]);
    let uip = net_ip(&d, "udp", "btp");
    assert!(o.contains(&uip), "{o}");
    assert!(d.fails(&["network", "connect", "btp", "lo2", "extra"]).contains("exactly 2 arguments"));
    assert!(d.fails(&["run", "--network", "container:udp", "--dns", "192.0.2.1", &bb, "true"]).contains("conflicting options"));

    let all = d.ok(&["ps", "-aq"]);
    for id in all.split_whitespace() {
        d.ok(&["rm", "-f", id]);
    }
    d.ok(&["network", "rm", "btp"]);
    let left = berth_net_leftovers();
    assert!(left.is_empty(), "left behind: {left:?}\n{}", d.log());
    drop(out);
}

/// The nftables tables iptables-nft makes to hold chains (`ip nat`, `ip
/// filter`) go again when the test ends, if they were not there before it.
struct NewTables(String);

impl Drop for NewTables {
    fn drop(&mut self) {
        for t in String::from_utf8_lossy(&sh("nft list tables").stdout).lines() {
            if !self.0.lines().any(|b| b == t) {
                let _ = sh(&format!("nft delete {t}"));
            }
        }
    }
}

#[test]
fn iptables_backend_ports_egress_isolation_and_cleanup() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let _tables = NewTables(String::from_utf8_lossy(&sh("nft list tables").stdout).into_owned());
    let reg = registry();
    let d = Env::start_with("net-ipt", &["--firewall-backend", "iptables"]);
    let bb = format!("{reg}/busybox");
    d.ok(&["pull", "-q", &bb]);
    let out = Outside::new(82);
    d.ok(&["network", "create", "bti1"]);
    d.ok(&["network", "create", "bti2"]);
    d.ok(&["network", "create", "--internal", "btii"]);
    d.ok(&["run", "-d", "--name", "ww", "--network", "bti1", "-p", "18600:80", "-p", "127.0.0.1:18601:80", &bb, "sh", "-c", "mkdir -p /w && echo via-iptables > /w/index.html && exec httpd -f -p 80 -h /w"]);
    d.ok(&["run", "-d", "--name", "oo", "--network", "bti2", &bb, "sleep", "1000"]);
    d.ok(&["run", "-d", "--name", "ii", "--network", "btii", &bb, "sleep", "1000"]);
    let save = String::from_utf8_lossy(&sh("iptables-save").stdout).into_owned();
    assert!(save.contains("-j DNAT --to-destination") && save.contains("--dport 18600"), "the rules are iptables': {save}");
    let tables = String::from_utf8_lossy(&sh("nft list tables").stdout).into_owned();
    assert!(!tables.contains("table ip berth"), "no nftables table of berth's: {tables}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !http_get_ok("127.0.0.1:18600") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(http_get("127.0.0.1:18600").contains("via-iptables"));
    assert!(http_get("127.0.0.1:18601").contains("via-iptables"));
    let o = sh(&format!("ip netns exec {} sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | timeout 5 busybox nc -w3 198.18.82.1 18600'", out.ns));
    assert!(String::from_utf8_lossy(&o.stdout).contains("via-iptables"), "{o:?}");
    let o = sh(&format!("ip netns exec {} sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | timeout 5 busybox nc -w2 198.18.82.1 18601'", out.ns));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("via-iptables"), "18601 is bound to 127.0.0.1 only");
    assert!(pings(&d, "oo", "198.18.82.2"), "masqueraded egress");
    let w_ip = net_ip(&d, "ww", "bti1");
    assert!(!pings(&d, "oo", &w_ip), "isolated networks");
    assert!(!pings(&d, "ii", "198.18.82.2"), "no egress from an internal network");
    let o = d.ok(&["run", "--rm", "--network", "bti2", &bb, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w3 198.18.82.1 18600"]);
    assert!(o.contains("via-iptables"), "a published port from another network, through the host: {o}");
    // A port's rule goes with its container.
    d.ok(&["rm", "-f", "ww"]);
    assert!(!String::from_utf8_lossy(&sh("iptables-save -t nat").stdout).contains("--dport 18600"));
    for c in ["oo", "ii"] {
        d.ok(&["rm", "-f", c]);
    }
    d.ok(&["network", "rm", "bti1", "bti2", "btii"]);
    let left = berth_net_leftovers();
    assert!(left.is_empty(), "left behind: {left:?}\n{}", d.log());
    drop(out);
}
