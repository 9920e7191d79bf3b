//! Container networking: the default bridge `berth0` (10.89.0.0/24; chosen not to collide with docker's
//! 172.17/16 nor podman's 10.88/16), one network namespace per container
//! pinned under `<exec-root>/netns/`, a veth pair from the bridge into it,
//! an address leased in SQLite, and nftables masquerade/forward rules.
//! See docs/networking.md.

pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod ports;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Result};

pub const DEFAULT_BRIDGE: &str = "berth0";
pub const DEFAULT_SUBNET: &str = "10.89.0.0/24";
const MTU: u32 = 1500;

/// What a container got on the default bridge.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub netns: PathBuf,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub ports: Vec<ports::Port>,
}

/// Published ports, one row per host port: the primary key refuses a host
/// port two containers want; the rows say what to delete on teardown.
const PORTS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS published_ports (
  proto TEXT NOT NULL,
  host_port INTEGER NOT NULL,
  container TEXT NOT NULL,
  container_port INTEGER NOT NULL,
  PRIMARY KEY (proto, host_port)
);
";

pub struct Network {
    db: Mutex<Connection>,
    netns_dir: PathBuf,
    subnet: ipam::Subnet,
}

fn io<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(op, p, e)
}

/// docker's MAC: 02:42 followed by the IPv4 address.
fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

fn host_veth(id: &str) -> String {
    format!("vb{}", &id[..12.min(id.len())])
}

impl Network {
    pub fn open(data_root: &Path, exec_root: &Path) -> Result<Network> {
        let db = Connection::open(data_root.join("berth.db"))?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(ipam::SCHEMA)?;
        db.execute_batch(PORTS_SCHEMA)?;
        let subnet = ipam::Subnet::parse(DEFAULT_SUBNET)?;
        Ok(Network { db: Mutex::new(db), netns_dir: exec_root.join("netns"), subnet })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    /// Brings up berth0, its address and its rules (idempotent).
    fn ensure_bridge(&self) -> Result<()> {
        let s = netlink::Socket::open().map_err(io("opening netlink", Path::new("NETLINK_ROUTE")))?;
        let br = Path::new(DEFAULT_BRIDGE);
        s.add_bridge(DEFAULT_BRIDGE, MTU).map_err(io("creating bridge", br))?;
        let idx = netlink::index(DEFAULT_BRIDGE).map_err(io("finding bridge", br))?;
        s.add_addr(idx, self.subnet.gateway(), self.subnet.prefix).map_err(io("addressing bridge", br))?;
        s.set_up(idx).map_err(io("bringing up bridge", br))?;
        enable_forwarding()?;
        // DNAT of 127.0.0.1 to a container sends a loopback-sourced packet
        // out of the bridge; the kernel drops those unless route_localnet.
        let rl = PathBuf::from(format!("/proc/sys/net/ipv4/conf/{DEFAULT_BRIDGE}/route_localnet"));
        std::fs::write(&rl, "1").map_err(io("enabling", &rl))?;
        if firewall::exists() {
            return Ok(());
        }
        firewall::apply(&[firewall::Bridge { name: DEFAULT_BRIDGE, subnet: self.subnet.to_string(), internal: false }])
    }

    /// Before start: the container's netns, veth into berth0, address,
    /// default route. Returns what the container got.
    pub fn attach(&self, id: &str, ports: &[ports::Port]) -> Result<Endpoint> {
        self.ensure_bridge()?;
        let gateway = self.subnet.gateway();
        let ip = ipam::lease(&mut self.db(), DEFAULT_BRIDGE, self.subnet, gateway, id)?;
        let r = self.attach_leased(id, ip, gateway).and_then(|mut ep| {
            ep.ports = self.publish(id, ip, ports)?;
            Ok(ep)
        });
        if r.is_err() {
            let _ = self.detach(id);
        }
        r
    }

    fn attach_leased(&self, id: &str, ip: Ipv4Addr, gateway: Ipv4Addr) -> Result<Endpoint> {
        let ns = self.netns_path(id);
        let _ = netns::remove(&ns);
        netns::create(&ns).map_err(io("creating network namespace", &ns))?;
        let mac = mac_of(ip);
        let hv = host_veth(id);
        let s = netlink::Socket::open().map_err(io("opening netlink", Path::new("NETLINK_ROUTE")))?;
        let _ = s.del_link(&hv);
        let nsf = std::fs::File::open(&ns).map_err(io("opening", &ns))?;
        s.add_veth(&hv, "eth0", std::os::fd::AsRawFd::as_raw_fd(&nsf), MTU, mac).map_err(io("creating veth", Path::new(&hv)))?;
        let hidx = netlink::index(&hv).map_err(io("finding veth", Path::new(&hv)))?;
        let bidx = netlink::index(DEFAULT_BRIDGE).map_err(io("finding bridge", Path::new(DEFAULT_BRIDGE)))?;
        s.set_master(hidx, bidx).map_err(io("attaching veth to bridge", Path::new(&hv)))?;
        s.set_up(hidx).map_err(io("bringing up veth", Path::new(&hv)))?;
        let prefix = self.subnet.prefix;
        netns::run_in(&ns, move || {
            let s = netlink::Socket::open()?;
            let i = netlink::index("eth0")?;
            s.add_addr(i, ip, prefix)?;
            s.set_up(i)?;
            s.add_default_route(i, gateway)
        })
        .map_err(io("configuring eth0 in", &ns))?;
        let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        tracing::info!(container = %id, %ip, veth = %hv, "attached to {DEFAULT_BRIDGE}");
        Ok(Endpoint { netns: ns, ip, prefix, gateway, mac, ports: Vec::new() })
    }

    /// Records and maps the container's ports; host port 0 gets a free
    /// ephemeral one (not recorded for anyone, nothing listening on it).
    fn publish(&self, id: &str, ip: Ipv4Addr, ports: &[ports::Port]) -> Result<Vec<ports::Port>> {
        if ports.is_empty() {
            return Ok(Vec::new());
        }
        let mut ports = ports.to_vec();
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            let mut fixed: Vec<(String, u16)> = ports.iter().filter(|p| p.host_port != 0).map(|p| (p.proto.clone(), p.host_port)).collect();
            for p in ports.iter_mut().filter(|p| p.host_port == 0) {
                let taken = |hp: u16| -> Result<bool> { Ok(tx.query_row("SELECT count(*) FROM published_ports WHERE proto = ?1 AND host_port = ?2", rusqlite::params![p.proto, hp], |r| r.get::<_, i64>(0))? > 0) };
                let mut chosen = None;
                for hp in ports::EPHEMERAL {
                    if !fixed.iter().any(|(pr, h)| *pr == p.proto && *h == hp) && !taken(hp)? && ports::bindable(&p.proto, hp) {
                        chosen = Some(hp);
                        break;
                    }
                }
                p.host_port = chosen.ok_or_else(|| Error::Conflict(format!("no free ephemeral host port for {}/{}", p.container_port, p.proto)))?;
                fixed.push((p.proto.clone(), p.host_port));
            }
            for p in &ports {
                let r = tx.execute("INSERT INTO published_ports (proto, host_port, container, container_port) VALUES (?1, ?2, ?3, ?4)", rusqlite::params![p.proto, p.host_port, id, p.container_port]);
                if let Err(rusqlite::Error::SqliteFailure(f, _)) = &r {
                    if f.code == rusqlite::ErrorCode::ConstraintViolation {
                        return Err(Error::Conflict(format!("Bind for 0.0.0.0:{} failed: port is already allocated", p.host_port)));
                    }
                }
                r?;
            }
            tx.commit()?;
        }
        let el: Vec<_> = ports.iter().map(|p| (p.proto.clone(), p.host_port, ip, p.container_port)).collect();
        firewall::add_ports(&el)?;
        Ok(ports)
    }

    fn published(&self, id: &str) -> Vec<ports::Port> {
        let db = self.db();
        let Ok(mut st) = db.prepare("SELECT proto, host_port, container_port FROM published_ports WHERE container = ?1 ORDER BY host_port") else { return Vec::new() };
        st.query_map([id], |r| Ok(ports::Port { proto: r.get(0)?, host_port: r.get(1)?, container_port: r.get(2)? })).and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>()).unwrap_or_default()
    }

    /// After exit or on rm: veth, netns and lease gone; with the last
    /// container, the bridge and berth's nftables table too.
    pub fn detach(&self, id: &str) -> Result<()> {
        let ns = self.netns_path(id);
        let had = ns.exists() || ipam::get(&self.db(), DEFAULT_BRIDGE, id)?.is_some();
        if !had {
            return Ok(());
        }
        let published = self.published(id);
        if !published.is_empty() {
            let el: Vec<_> = published.iter().map(|p| (p.proto.clone(), p.host_port)).collect();
            if let Err(e) = firewall::del_ports(&el) {
                tracing::warn!(container = %id, error = %e.chain(), "removing published ports (already gone?)");
            }
            self.db().execute("DELETE FROM published_ports WHERE container = ?1", [id])?;
        }
        let s = netlink::Socket::open().map_err(io("opening netlink", Path::new("NETLINK_ROUTE")))?;
        let hv = host_veth(id);
        s.del_link(&hv).map_err(io("deleting veth", Path::new(&hv)))?;
        netns::remove(&ns).map_err(io("removing network namespace", &ns))?;
        ipam::release(&self.db(), id)?;
        // Another berthd on this host (tests run several) may still have
        // ports on the bridge: it goes only when nothing is enslaved to it.
        let ports = std::fs::read_dir(format!("/sys/class/net/{DEFAULT_BRIDGE}/brif")).map(|d| d.count()).unwrap_or(0);
        if ipam::count(&self.db(), DEFAULT_BRIDGE)? == 0 && ports == 0 {
            s.del_link(DEFAULT_BRIDGE).map_err(io("deleting bridge", Path::new(DEFAULT_BRIDGE)))?;
            firewall::apply(&[])?;
        }
        tracing::info!(container = %id, "detached from {DEFAULT_BRIDGE}");
        Ok(())
    }

    /// The endpoint of a container that has one (for inspect).
    pub fn endpoint(&self, id: &str) -> Option<Endpoint> {
        let ip = ipam::get(&self.db(), DEFAULT_BRIDGE, id).ok()??;
        Some(Endpoint { netns: self.netns_path(id), ip, prefix: self.subnet.prefix, gateway: self.subnet.gateway(), mac: mac_of(ip).iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"), ports: self.published(id) })
    }

    /// On berthd start: tear down what belongs to containers not running
    /// any more (`live` says which are).
    pub fn sweep(&self, live: &dyn Fn(&str) -> bool) {
        // By this daemon's own records, not by listing the netns directory:
        // another berthd sharing the exec root (tests run several) owns the
        // other files there. A lease is taken before its netns is made and
        // released after it is gone, so no netns of ours lacks one.
        let mut ids: Vec<String> = Vec::new();
        if let Ok(mut st) = self.db().prepare("SELECT DISTINCT container FROM ip_leases UNION SELECT container FROM published_ports") {
            if let Ok(v) = st.query_map([], |r| r.get::<_, String>(0)).and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>()) {
                ids.extend(v);
            }
        }
        ids.sort();
        ids.dedup();
        for id in ids.iter().filter(|i| !live(i)) {
            if let Err(e) = self.detach(id) {
                tracing::warn!(container = %id, error = %e.chain(), "sweeping a stale network endpoint");
            }
        }
    }
}

fn enable_forwarding() -> Result<()> {
    let p = Path::new("/proc/sys/net/ipv4/ip_forward");
    if std::fs::read_to_string(p).map(|s| s.trim() == "1").unwrap_or(false) {
        return Ok(());
    }
    std::fs::write(p, "1").map_err(io("enabling IPv4 forwarding", p))?;
    tracing::info!("enabled net.ipv4.ip_forward: containers on the bridge need it for egress");
    Ok(())
}

/// The host's resolv.conf for a bridged container: loopback nameservers
/// (systemd-resolved, dnsmasq) cannot be reached from another netns, so
/// they are dropped; with none left, docker's fallback applies.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut ns = 0;
    for l in host.lines() {
        let mut w = l.split_whitespace();
        if w.next() == Some("nameserver") {
            let a = w.next().unwrap_or("");
            if a.starts_with("127.") || a == "::1" {
                continue;
            }
            ns += 1;
        }
        out.push_str(l);
        out.push('\n');
    }
    if ns == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_nameservers() {
        assert_eq!(resolv_conf("search x\nnameserver 127.0.0.53\nnameserver 192.0.2.1\n"), "search x\nnameserver 192.0.2.1\n");
        assert_eq!(resolv_conf("nameserver ::1\n"), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        assert_eq!(mac_of(Ipv4Addr::new(10, 89, 0, 2)), [2, 0x42, 10, 89, 0, 2]);
        assert_eq!(host_veth("0123456789abcdef"), "vb0123456789ab");
    }
}
