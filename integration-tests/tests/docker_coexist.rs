//! berth's networking beside a running dockerd (the docker.io package) with
//! its iptables rules in place (policy-drop FORWARD, its nat chains, docker0,
//! br_netfilter): berth's containers get egress, names and published ports,
//! docker's container keeps its own, and when berth is done docker's rules
//! are exactly what they were. Every packet stays on this machine.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_integration_tests::daemon::*;

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").args(["-c", cmd]).output().unwrap()
}

fn sh_ok(cmd: &str) -> String {
    let o = sh(cmd);
    assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tables() -> Vec<String> {
    sh_ok("nft list tables").lines().map(str::to_string).collect()
}

/// A dockerd of the test's own (data root, exec root, socket), with
/// iptables on; stopped, and what it added to the host removed, on drop.
struct Dockerd {
    dir: std::path::PathBuf,
    child: Child,
    before: Vec<String>,
}

impl Dockerd {
    fn start() -> Dockerd {
        assert!(sh("command -v dockerd").status.success(), "dockerd (make setup installs docker.io)");
        assert!(!std::path::Path::new("/sys/class/net/docker0").exists(), "another dockerd's docker0 is up: stop it first");
        let before = tables();
        // dockerd sets FORWARD's policy to drop when it has to enable
        // forwarding itself, as on a host where nothing routed before it:
        // that is the case to coexist with.
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();
        let dir = std::env::temp_dir().join(format!("berth-coexist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root").arg(dir.join("root"))
            .arg("--exec-root").arg(dir.join("exec"))
            .arg("--pidfile").arg(dir.join("docker.pid"))
            .arg("-H").arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args(["--containerd-namespace", "berth-coexist", "--containerd-plugins-namespace", "berth-coexist-plugins", "--default-ulimit", "nofile=20000:20000"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Dockerd { dir, child, before };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !d.docker(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "dockerd did not come up: {}", std::fs::read_to_string(d.dir.join("dockerd.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(200));
        }
        d
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .arg("120")
            .arg("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.dir.join("docker.sock").display()))
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(o.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = String::from_utf8_lossy(&self.docker(&["ps", "-aq"]).stdout).into_owned();
        for id in ids.split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        // SAFETY: kill(2) on our own child's pid has no memory preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // dockerd leaves docker0 and its iptables chains: the tables that
        // were not there before the test go (the host had none of its own).
        let _ = sh("ip link del docker0");
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
        for t in tables() {
            if !self.before.contains(&t) {
                let _ = sh(&format!("nft delete {t}"));
            }
        }
        let _ = sh(&format!("umount -R {0}/root/overlay2 {0}/exec 2>/dev/null; true", self.dir.display()));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The stateless text of docker's tables (no counters), for before/after.
fn docker_rules() -> String {
    let mut s = String::new();
    for t in ["ip filter", "ip nat", "ip raw"] {
        let o = sh(&format!("nft -s list table {t}"));
        s.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    s
}

fn get(addr: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(3)) else { return String::new() };
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = c.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let mut s = String::new();
    let _ = c.read_to_string(&mut s);
    s
}

fn wait_get(addr: &str, want: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if get(addr).contains(want) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// An "outside" host in a netns of the test's, on 198.18.<n>.0/24 (see network.rs).
struct Outside(String, String);

impl Outside {
    fn new(n: u8) -> Outside {
        let ns = format!("bt-cx-{}", std::process::id());
        let hi = format!("btcx{n}a");
        let _ = sh(&format!("ip netns del {ns}; ip link del {hi}"));
        sh_ok(&format!(
            "ip netns add {ns} && ip link add {hi} type veth peer name btcx{n}b && ip link set btcx{n}b netns {ns} && \
             ip addr add 198.18.{n}.1/24 dev {hi} && ip link set {hi} up && \
             ip -n {ns} addr add 198.18.{n}.2/24 dev btcx{n}b && ip -n {ns} link set btcx{n}b up && ip -n {ns} link set lo up"
        ));
        Outside(ns, hi)
    }
    fn get(&self, addr: &str) -> String {
        String::from_utf8_lossy(&sh(&format!("ip netns exec {} sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | timeout 5 busybox nc -w3 {}'", self.0, addr.replace(':', " "))).stdout).into_owned()
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = sh(&format!("ip link del {}; ip netns del {}", self.1, self.0));
    }
}

#[test]
fn berth_networking_beside_a_running_dockerd() {
    let reg = registry();
    let bb = format!("{reg}/busybox");
    let out = Outside::new(81);
    let docker = Dockerd::start();
    docker.ok(&["pull", "-q", &bb]);
    docker.ok(&["run", "-d", "--name", "dweb", "-p", "18400:80", &bb, "sh", "-c", "mkdir -p /w && echo from-docker > /w/index.html && exec httpd -f -p 80 -h /w"]);
    assert!(wait_get("127.0.0.1:18400", "from-docker"), "docker's published port works to begin with");
    assert!(out.get("198.18.81.1:18400").contains("from-docker"));
    let rules = docker_rules();
    assert!(rules.contains("policy drop"), "dockerd's FORWARD policy drop is in place: {rules}");

    let d = Daemon::start("coexist");
    d.ok(&["pull", "-q", &bb]);
    d.ok(&["network", "create", "btcx"]);
    d.ok(&["run", "-d", "--name", "bweb", "--network", "btcx", "-p", "18401:80", &bb, "sh", "-c", "mkdir -p /w && echo from-berth > /w/index.html && exec httpd -f -p 80 -h /w"]);
    d.ok(&["run", "-d", "--name", "bdef", "-p", "18402:80", &bb, "sh", "-c", "mkdir -p /w && echo from-berth0 > /w/index.html && exec httpd -f -p 80 -h /w"]);
    // berth: published ports from the host and from outside, on a user
    // network and the default bridge; names; egress through docker's drop policy.
    assert!(wait_get("127.0.0.1:18401", "from-berth"), "{}", d.log());
    assert!(wait_get("127.0.0.1:18402", "from-berth0"));
    assert!(out.get("198.18.81.1:18401").contains("from-berth"));
    assert!(out.get("198.18.81.1:18402").contains("from-berth0"));
    let o = d.ok(&["run", "--rm", "--network", "btcx", &bb, "sh", "-c", "wget -q -O - http://bweb/ && ping -c1 -W2 198.18.81.2 >/dev/null && echo egress-ok"]);
    assert!(o.contains("from-berth") && o.contains("egress-ok"), "{o}");
    let o = d.ok(&["run", "--rm", &bb, "sh", "-c", "ping -c1 -W2 198.18.81.2 >/dev/null && echo egress-ok"]);
    assert!(o.contains("egress-ok"), "{o}");
    // docker: its container keeps its port and its egress while berth's run.
    assert!(get("127.0.0.1:18400").contains("from-docker"));
    assert!(out.get("198.18.81.1:18400").contains("from-docker"));
    let o = docker.ok(&["exec", "dweb", "sh", "-c", "ping -c1 -W2 198.18.81.2 >/dev/null && echo egress-ok"]);
    assert!(o.contains("egress-ok"), "{o}");
    // A berth container reaches docker's published port through the host, and docker's reaches berth's.
    let o = d.ok(&["run", "--rm", "--network", "btcx", &bb, "wget", "-q", "-O", "-", "http://198.18.81.1:18400/"]);
    assert!(o.contains("from-docker"), "{o}");
    let o = docker.ok(&["run", "--rm", &bb, "wget", "-q", "-O", "-", "http://198.18.81.1:18401/"]);
    assert!(o.contains("from-berth"), "{o}");

    // berth's accept rules sit in docker's FORWARD chain while it has bridges, and go after.
    assert!(sh_ok("nft list chain ip filter FORWARD").contains("comment \"berth"));
    d.ok(&["rm", "-f", "bweb", "bdef"]);
    d.ok(&["network", "rm", "btcx"]);
    assert_eq!(docker_rules(), rules, "docker's rules are exactly what they were");
    assert!(!sh_ok("nft list tables").contains("berth"), "berth's table is gone");
    assert!(get("127.0.0.1:18400").contains("from-docker"), "docker's container still serves");
    drop(d);
    drop(docker);
    drop(out);
}
