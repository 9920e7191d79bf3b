//! Container networking: the default bridge `berth0` (10.89.0.0/24; chosen
//! not to collide with docker's 172.17/16 nor podman's 10.88/16) and
//! user-defined bridges, one network namespace per container pinned under
//! `<exec-root>/netns/`, a veth pair from each of its networks' bridges into
//! it, addresses leased in SQLite, and nftables rules in berth's own table.
//! See docs/networking.md.

pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod ports;
pub mod records;
pub mod etc;
pub mod dns;
pub mod names;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::error::{Error, Result};
pub use records::{EndpointConfig, Net};

pub const DEFAULT_BRIDGE: &str = "berth0";
pub const DEFAULT_SUBNET: &str = "10.89.0.0/24";
/// Where the embedded DNS server answers inside each container on a user-defined network (docker's address).
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// What a container has on one network while it runs.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub network: Net,
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub aliases: Vec<String>,
}

/// What `attach` gave a starting container.
#[derive(Debug, Clone)]
pub struct Attached {
    pub netns: PathBuf,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<ports::Port>,
}

/// Published ports, one row per (protocol, host address, host port): the
/// primary key refuses a binding two containers want (a wildcard binding is
/// checked against the specific ones in the same transaction); the rows say
/// what to delete on teardown and what to put back when the table is rebuilt.
const PORTS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS port_bindings (
  proto TEXT NOT NULL,
  host_ip TEXT NOT NULL,
  host_port INTEGER NOT NULL,
  container TEXT NOT NULL,
  container_port INTEGER NOT NULL,
  PRIMARY KEY (proto, host_ip, host_port)
);
CREATE INDEX IF NOT EXISTS port_bindings_container ON port_bindings (container);
";

/// What a network create asks for (docker's /networks/create, checked).
#[derive(Debug, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub labels: Value,
    pub options: Value,
}

pub struct Network {
    db: Mutex<Connection>,
    netns_dir: PathBuf,
    /// berth's rules for this daemon: nftables or iptables, and the name of its table (see firewall/).
    fw: firewall::Firewall,
    /// Bridge and firewall changes, one at a time (starts, connects, removals).
    busy: Mutex<()>,
    /// Bridges whose rules this process has put in place.
    applied: Mutex<HashSet<String>>,
    /// The embedded DNS server of containers on user-defined networks.
    dns: dns::Dns,
}

fn io<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(op, p, e)
}

/// docker's MAC: 02:42 followed by the IPv4 address.
fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// The MAC as text, `02:42:0a:59:00:02`.
pub fn mac_str(ip: Ipv4Addr) -> String {
    mac_of(ip).iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The host end of a container's veth for its interface `ifname` (eth0 →
/// `vb<11 hex>0`): IFNAMSIZ allows 15 characters.
fn host_veth(id: &str, ifname: &str) -> String {
    let n = ifname.trim_start_matches("eth");
    format!("vb{}{}", &id[..(13 - n.len()).min(id.len())], n)
}

fn link_exists(name: &str) -> bool {
    !name.is_empty() && Path::new("/sys/class/net").join(name).exists()
}

fn nl() -> Result<netlink::Socket> {
    netlink::Socket::open().map_err(io("opening netlink", Path::new("NETLINK_ROUTE")))
}

/// The nftables table of a daemon: `berth` for the default data root, a
/// name derived from the data root for others, so that several berthds on
/// one host (the tests run several) never rewrite each other's rules.
fn table_name(data_root: &Path) -> String {
    if data_root == Path::new(crate::config::DEFAULT_DATA_ROOT) {
        return "berth".into();
    }
    let mut h: u32 = 0x811c9dc5;
    for b in data_root.as_os_str().as_encoded_bytes() {
        h = (h ^ *b as u32).wrapping_mul(0x01000193);
    }
    format!("berth_{h:08x}")
}

impl Network {
    /// `bip` is docker's daemon.json key: the default bridge's gateway with its prefix (`10.89.0.1/24`).
    pub fn open(data_root: &Path, exec_root: &Path, bip: Option<&str>, backend: Option<&str>) -> Result<Network> {
        let fw = firewall::Firewall { backend: firewall::Backend::choose(backend)?, table: table_name(data_root) };
        let db = Connection::open(data_root.join("berth.db"))?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(ipam::SCHEMA)?;
        ipam::migrate(&db)?;
        db.execute_batch(PORTS_SCHEMA)?;
        db.execute_batch(records::SCHEMA)?;
        let (subnet, gateway) = match bip {
            Some(b) => {
                let s = ipam::Subnet::parse(b).map_err(|_| Error::Config(format!("invalid bip {b:?}: want the bridge's address and prefix, like 10.89.0.1/24")))?;
                let g: Ipv4Addr = b.split('/').next().unwrap_or_default().parse().map_err(|_| Error::Config(format!("invalid bip {b:?}")))?;
                if !s.is_host(g) {
                    return Err(Error::Config(format!("invalid bip {b:?}: the address must be a host address of its subnet")));
                }
                (s, g)
            }
            None => {
                let s = ipam::Subnet::parse(DEFAULT_SUBNET)?;
                (s, s.gateway())
            }
        };
        let now = crate::time::rfc3339_now();
        records::ensure_builtin(&db, DEFAULT_BRIDGE, subnet, gateway, &now, &mut || crate::containers::random_id())?;
        // Before user-defined networks, leases and published ports named the bridge.
        let default_id = records::find(&db, "bridge")?.id;
        db.execute("UPDATE ip_leases SET network = ?1 WHERE network = ?2", [&default_id, DEFAULT_BRIDGE])?;
        let old: bool = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'published_ports'")?.exists([])?;
        if old {
            db.execute_batch("INSERT OR IGNORE INTO port_bindings SELECT proto, '', host_port, container, container_port FROM published_ports; DROP TABLE published_ports;")?;
        }
        tracing::debug!(backend = ?fw.backend, table = %fw.table, "firewall");
        Ok(Network { db: Mutex::new(db), netns_dir: exec_root.join("netns"), fw, busy: Mutex::new(()), applied: Mutex::new(HashSet::new()), dns: dns::Dns::new(std::sync::Arc::new(names::Names::open(data_root)?)) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn busy(&self) -> std::sync::MutexGuard<'_, ()> {
        self.busy.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    // ---- networks ----

    pub fn list(&self) -> Result<Vec<Net>> {
        records::list(&self.db())
    }

    pub fn find(&self, key: &str) -> Result<Net> {
        records::find(&self.db(), key)
    }

    /// Containers with an address on the network now: (container, address).
    pub fn holders(&self, net: &Net) -> Result<Vec<(String, Ipv4Addr)>> {
        ipam::holders(&self.db(), &net.id)
    }

    /// Containers configured on the network (running or not).
    pub fn users(&self, net: &Net) -> Result<i64> {
        records::users(&self.db(), &net.id)
    }

    /// `network create`: the record, then its bridge and rules.
    pub fn create(&self, r: CreateRequest) -> Result<Net> {
        let _b = self.busy();
        if r.name.is_empty() {
            return Err(Error::BadParameter("network name is required".into()));
        }
        if !crate::containers::valid_name(&r.name) && r.name.len() != 1 {
            return Err(Error::BadParameter(format!("invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", r.name)));
        }
        match r.driver.as_str() {
            "" | "bridge" => {}
            "host" | "null" => return Err(Error::Forbidden(format!("only one instance of \"{}\" network is allowed", r.driver))),
            d => return Err(Error::BadParameter(format!("network driver {d:?} is not supported: only bridge"))),
        }
        let mut bridge = String::new();
        let mut mtu = records::DEFAULT_MTU;
        let mut options = serde_json::Map::new();
        for (k, v) in r.options.as_object().into_iter().flatten() {
            let v = v.as_str().ok_or_else(|| Error::BadParameter(format!("option {k} must be a string")))?;
            match k.as_str() {
                "com.docker.network.bridge.name" => bridge = v.to_string(),
                "com.docker.network.driver.mtu" => {
                    mtu = v.parse().ok().filter(|m| (68..=65535).contains(m)).ok_or_else(|| Error::BadParameter(format!("invalid MTU {v:?}: 68 to 65535")))?;
                }
                _ => return Err(Error::BadParameter(format!("network option {k} is not supported (only com.docker.network.bridge.name and com.docker.network.driver.mtu)"))),
            }
            options.insert(k.clone(), json!(v));
        }
        let id = crate::containers::random_id()?;
        if bridge.is_empty() {
            bridge = format!("berth-{}", &id[..9]);
        }
        if bridge.len() > 15 || bridge.contains('/') || bridge.contains(char::is_whitespace) {
            return Err(Error::BadParameter(format!("invalid bridge name {bridge:?}: at most 15 characters, no '/' or spaces")));
        }
        let existing = self.list()?;
        if existing.iter().any(|n| n.bridge == bridge) || link_exists(&bridge) {
            return Err(Error::Conflict(format!("bridge name {bridge} is already in use")));
        }
        let taken: Vec<ipam::Subnet> = existing.iter().filter_map(|n| n.subnet).collect();
        let subnet = match &r.subnet {
            Some(s) => {
                let s = ipam::Subnet::parse(s)?;
                if let Some(o) = existing.iter().find(|n| n.subnet.is_some_and(|t| records::overlaps(t, s))) {
                    return Err(Error::Forbidden(format!("invalid pool request: Pool overlaps with other one on this address space (network {})", o.name)));
                }
                s
            }
            None => {
                if r.gateway.is_some() || r.ip_range.is_some() {
                    return Err(Error::BadParameter("--gateway and --ip-range need --subnet".into()));
                }
                pick_subnet(&taken, &records::host_routes())?
            }
        };
        let gateway = match &r.gateway {
            Some(g) => {
                let g: Ipv4Addr = g.parse().map_err(|_| Error::BadParameter(format!("invalid gateway {g:?}")))?;
                if !subnet.is_host(g) {
                    return Err(Error::BadParameter(format!("gateway {g} is not a host address of subnet {subnet}")));
                }
                g
            }
            None => subnet.gateway(),
        };
        let ip_range = match &r.ip_range {
            Some(x) => {
                let x = ipam::Subnet::parse(x)?;
                if !subnet.contains(x.addr) || x.prefix < subnet.prefix {
                    return Err(Error::BadParameter(format!("ip-range {x} is not inside subnet {subnet}")));
                }
                Some(x)
            }
            None => None,
        };
        let labels = if r.labels.is_object() { r.labels.clone() } else { json!({}) };
        let n = Net { id, name: r.name, driver: "bridge".into(), bridge, subnet: Some(subnet), gateway: Some(gateway), ip_range, internal: r.internal, mtu, labels, options: Value::Object(options), created: crate::time::rfc3339_now() };
        records::insert(&self.db(), &n)?;
        if let Err(e) = self.ensure_bridge(&n) {
            let _ = self.teardown_bridge(&n);
            let _ = records::delete(&self.db(), &n.id);
            return Err(e);
        }
        tracing::info!(network = %n.name, bridge = %n.bridge, %subnet, internal = n.internal, "network created");
        Ok(n)
    }

    /// `network rm`: refused while a running container has an address on it;
    /// stopped containers configured on it lose that endpoint.
    pub fn remove(&self, key: &str) -> Result<Net> {
        let _b = self.busy();
        let n = self.find(key)?;
        if n.builtin() {
            return Err(Error::Forbidden(format!("{} is a pre-defined network and cannot be removed", n.name)));
        }
        let active = ipam::holders(&self.db(), &n.id)?;
        if !active.is_empty() {
            return Err(Error::Forbidden(format!("error while removing network: network {} id {} has active endpoints", n.name, n.id)));
        }
        self.teardown_bridge(&n)?;
        records::delete(&self.db(), &n.id)?;
        tracing::info!(network = %n.name, "network removed");
        Ok(n)
    }

    /// Brings up a network's bridge, its address and berth's rules for it (idempotent).
    fn ensure_bridge(&self, n: &Net) -> Result<()> {
        let (Some(subnet), Some(gw)) = (n.subnet, n.gateway) else {
            return Err(Error::Internal(format!("network {} has no subnet", n.name)));
        };
        let s = nl()?;
        let br = Path::new(&n.bridge);
        let fresh = !link_exists(&n.bridge);
        s.add_bridge(&n.bridge, n.mtu).map_err(io("creating bridge", br))?;
        let idx = netlink::index(&n.bridge).map_err(io("finding bridge", br))?;
        s.add_addr(idx, gw, subnet.prefix).map_err(io("addressing bridge", br))?;
        s.set_up(idx).map_err(io("bringing up bridge", br))?;
        if !n.internal {
            enable_forwarding()?;
        }
        // DNAT of 127.0.0.1 to a container sends a loopback-sourced packet
        // out of the bridge; the kernel drops those unless route_localnet.
        let rl = PathBuf::from(format!("/proc/sys/net/ipv4/conf/{}/route_localnet", n.bridge));
        std::fs::write(&rl, "1").map_err(io("enabling", &rl))?;
        let known = self.applied.lock().unwrap_or_else(|p| p.into_inner()).contains(&n.bridge);
        if fresh || !known {
            self.refresh_firewall()?;
            self.applied.lock().unwrap_or_else(|p| p.into_inner()).insert(n.bridge.clone());
        }
        Ok(())
    }

    fn teardown_bridge(&self, n: &Net) -> Result<()> {
        nl()?.del_link(&n.bridge).map_err(io("deleting bridge", Path::new(&n.bridge)))?;
        self.applied.lock().unwrap_or_else(|p| p.into_inner()).remove(&n.bridge);
        self.refresh_firewall()
    }

    /// Rewrites this daemon's nftables table for the bridges that exist now,
    /// with every published port put back.
    fn refresh_firewall(&self) -> Result<()> {
        let nets = self.list()?;
        let live: Vec<&Net> = nets.iter().filter(|n| n.is_bridge() && link_exists(&n.bridge)).collect();
        let bridges: Vec<firewall::Bridge> = live.iter().map(|n| firewall::Bridge { name: &n.bridge, subnet: n.subnet.map(|s| s.to_string()).unwrap_or_default(), internal: n.internal }).collect();
        let ports = if bridges.is_empty() { Vec::new() } else { self.port_elements(None)? };
        self.fw.apply(&bridges, &ports)
    }

    /// Published ports as map elements (of one container, or all).
    fn port_elements(&self, container: Option<&str>) -> Result<Vec<firewall::PortMap>> {
        let db = self.db();
        let mut st = db.prepare("SELECT b.proto, b.host_ip, b.host_port, b.container_port, l.address FROM port_bindings b JOIN ip_leases l ON l.container = b.container AND l.ifname = 'eth0' WHERE ?1 IS NULL OR b.container = ?1")?;
        let v = st
            .query_map([container], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, u16>(2)?, r.get::<_, u16>(3)?, r.get::<_, String>(4)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v.into_iter().filter_map(|(proto, hip, hp, cp, a)| Some(firewall::PortMap { proto, host_ip: hip.parse().ok(), host_port: hp, addr: a.parse().ok()?, port: cp })).collect())
    }

    // ---- containers ----

    /// Starts answering DNS inside the container's namespace at 127.0.0.11.
    pub fn serve_dns(&self, id: &str) -> Result<()> {
        let ns = self.netns_path(id);
        self.dns.serve(id, &ns).map_err(io("starting the embedded DNS server in", &ns))
    }

    /// Whether a container has an address on a user-defined network.
    fn on_user_network(&self, id: &str) -> bool {
        // Bound first: find() takes the database lock again.
        let leases = ipam::leases(&self.db(), id).unwrap_or_default();
        leases.iter().any(|(n, _, _)| self.find(n).is_ok_and(|n| !n.is_default()))
    }

    /// At create: the container's networks (its NetworkMode's first).
    pub fn configure(&self, id: &str, nets: &[(Net, EndpointConfig)]) -> Result<()> {
        let db = self.db();
        for (n, c) in nets {
            if c.ipv4.is_some() && n.is_default() {
                return Err(Error::BadParameter("user specified IP address is supported on user defined networks only".into()));
            }
            records::add_endpoint(&db, id, n, c)?;
        }
        Ok(())
    }

    /// On rm: the container's endpoints are forgotten (after `detach`).
    pub fn forget(&self, id: &str) -> Result<()> {
        records::forget(&self.db(), id)
    }

    /// The configured networks of a container, with their records.
    pub fn configured(&self, id: &str) -> Result<Vec<(Net, EndpointConfig)>> {
        let rows = records::endpoints(&self.db(), id)?;
        let mut out = Vec::new();
        for r in rows {
            match self.find(&r.network) {
                Ok(n) => out.push((n, r.config)),
                Err(_) => tracing::warn!(container = %id, network = %r.network, "endpoint of a network that is gone"),
            }
        }
        Ok(out)
    }

    /// Before start: the container's netns, one veth per configured network
    /// (eth0, eth1, ...), addresses, the default route via the first
    /// network that has egress, and its published ports.
    /// `mode` is the NetworkMode, for containers made before endpoints were recorded.
    pub fn attach(&self, id: &str, mode: &str, ports: &[ports::Port]) -> Result<Attached> {
        let _b = self.busy();
        let mut nets = self.configured(id)?;
        if nets.is_empty() {
            let n = self.find(if mode == "default" { "bridge" } else { mode })?;
            records::add_endpoint(&self.db(), id, &n, &EndpointConfig::default())?;
            nets.push((n, EndpointConfig::default()));
        }
        let r = self.attach_all(id, &nets, ports);
        if r.is_err() {
            drop(_b);
            let _ = self.detach(id);
        }
        r
    }

    fn attach_all(&self, id: &str, nets: &[(Net, EndpointConfig)], ports: &[ports::Port]) -> Result<Attached> {
        let ns = self.netns_path(id);
        let _ = netns::remove(&ns);
        netns::create(&ns).map_err(io("creating network namespace", &ns))?;
        let mut eps = Vec::new();
        let mut routed = false;
        for (i, (n, c)) in nets.iter().enumerate() {
            let ep = self.attach_one(id, n, c, &format!("eth{i}"), !routed && !n.internal)?;
            routed |= !n.internal;
            eps.push(ep);
        }
        let ports = match eps.first() {
            Some(first) => self.publish(id, first.ip, ports)?,
            None => Vec::new(),
        };
        Ok(Attached { netns: ns, endpoints: eps, ports })
    }

    fn attach_one(&self, id: &str, n: &Net, c: &EndpointConfig, ifname: &str, default_route: bool) -> Result<Endpoint> {
        if !n.is_bridge() {
            return Err(Error::BadParameter(format!("container cannot be connected to network {} (driver {}): only bridge networks take endpoints", n.name, n.driver)));
        }
        let (Some(subnet), Some(gateway)) = (n.subnet, n.gateway) else {
            return Err(Error::Internal(format!("network {} has no subnet", n.name)));
        };
        self.ensure_bridge(n)?;
        let ip = ipam::lease(&mut self.db(), &ipam::Request { network: &n.id, subnet, range: n.ip_range, gateway, container: id, wanted: c.ipv4, ifname })?;
        let ns = self.netns_path(id);
        let mac = mac_of(ip);
        let hv = host_veth(id, ifname);
        let s = nl()?;
        let _ = s.del_link(&hv);
        let nsf = std::fs::File::open(&ns).map_err(io("opening", &ns))?;
        s.add_veth(&hv, ifname, std::os::fd::AsRawFd::as_raw_fd(&nsf), n.mtu, mac).map_err(io("creating veth", Path::new(&hv)))?;
        let hidx = netlink::index(&hv).map_err(io("finding veth", Path::new(&hv)))?;
        let bidx = netlink::index(&n.bridge).map_err(io("finding bridge", Path::new(&n.bridge)))?;
        s.set_master(hidx, bidx).map_err(io("attaching veth to bridge", Path::new(&hv)))?;
        s.set_up(hidx).map_err(io("bringing up veth", Path::new(&hv)))?;
        let prefix = subnet.prefix;
        let inner = ifname.to_string();
        netns::run_in(&ns, move || {
            let s = netlink::Socket::open()?;
            let i = netlink::index(&inner)?;
            s.add_addr(i, ip, prefix)?;
            s.set_up(i)?;
            if default_route {
                s.add_default_route(i, gateway)?;
            }
            Ok(())
        })
        .map_err(io("configuring the interface in", &ns))?;
        tracing::info!(container = %id, network = %n.name, %ip, veth = %hv, ifname, "attached");
        Ok(Endpoint { network: n.clone(), ifname: ifname.to_string(), ip, prefix, gateway, mac: mac_str(ip), aliases: c.aliases.clone() })
    }

    /// `network connect`: recorded, and for a running container (one with a
    /// netns of ours) attached at once as the next ethN.
    pub fn connect(&self, id: &str, key: &str, c: &EndpointConfig, running: bool) -> Result<Net> {
        let _b = self.busy();
        let n = self.find(key)?;
        if !n.is_bridge() {
            return Err(Error::Forbidden(format!("container cannot be disconnected from host network or connected to {} network", n.name)));
        }
        if c.ipv4.is_some() && n.is_default() {
            return Err(Error::BadParameter("user specified IP address is supported on user defined networks only".into()));
        }
        records::add_endpoint(&self.db(), id, &n, c)?;
        if running {
            let have = ipam::leases(&self.db(), id)?;
            let ifname = (0..).map(|i| format!("eth{i}")).find(|f| !have.iter().any(|(_, _, x)| x == f)).unwrap_or_default();
            let routed = have.iter().any(|(net, _, _)| self.find(net).is_ok_and(|x| !x.internal));
            if let Err(e) = self.attach_one(id, &n, c, &ifname, !routed && !n.internal) {
                let _ = self.detach_one(id, &n, &ifname);
                let _ = records::remove_endpoint(&self.db(), id, &n.id);
                return Err(e);
            }
            if !n.is_default() {
                self.serve_dns(id)?;
            }
        }
        Ok(n)
    }

    /// `network disconnect`: the endpoint goes, and a running container's interface with it.
    pub fn disconnect(&self, id: &str, key: &str) -> Result<Net> {
        let _b = self.busy();
        let n = self.find(key)?;
        if !n.is_bridge() {
            return Err(Error::Forbidden(format!("container cannot be disconnected from {} network", n.name)));
        }
        let lease = ipam::leases(&self.db(), id)?.into_iter().find(|(net, _, _)| *net == n.id);
        let had = records::remove_endpoint(&self.db(), id, &n.id)?;
        if !had && lease.is_none() {
            return Err(Error::Forbidden(format!("container {} is not connected to network {}", &id[..12.min(id.len())], n.name)));
        }
        if let Some((_, _, ifname)) = lease {
            if ifname == "eth0" {
                self.unpublish(id)?;
            }
            self.detach_one(id, &n, &ifname)?;
            if !self.on_user_network(id) {
                self.dns.stop(id);
            }
        }
        Ok(n)
    }

    fn detach_one(&self, id: &str, n: &Net, ifname: &str) -> Result<()> {
        let hv = host_veth(id, ifname);
        nl()?.del_link(&hv).map_err(io("deleting veth", Path::new(&hv)))?;
        ipam::release_one(&self.db(), id, &n.id)?;
        tracing::info!(container = %id, network = %n.name, ifname, "detached");
        Ok(())
    }

    /// Records and maps the container's ports; a host port 0 (or a range)
    /// gets a free one (not recorded for anyone, nothing listening on it).
    fn publish(&self, id: &str, ip: Ipv4Addr, ports: &[ports::Port]) -> Result<Vec<ports::Port>> {
        if ports.is_empty() {
            return Ok(Vec::new());
        }
        let mut ports = ports.to_vec();
        {
            let mut db = self.db();
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut chosen: Vec<ports::Port> = Vec::new();
            let clash = |tx: &rusqlite::Transaction, chosen: &[ports::Port], p: &ports::Port, hp: u16| -> Result<bool> {
                let ip = p.host_ip.map(|a| a.to_string()).unwrap_or_default();
                let n: i64 = tx.query_row(
                    "SELECT count(*) FROM port_bindings WHERE proto = ?1 AND host_port = ?2 AND (host_ip = ?3 OR host_ip = '' OR ?3 = '')",
                    rusqlite::params![p.proto, hp, ip],
                    |r| r.get(0),
                )?;
                Ok(n > 0 || chosen.iter().any(|c| c.proto == p.proto && c.host_port == hp && (c.host_ip.is_none() || p.host_ip.is_none() || c.host_ip == p.host_ip)))
            };
            // Fixed ports first, so a range or an ephemeral pick never takes one of them.
            ports.sort_by_key(|p| p.range.0 != p.range.1);
            for p in ports.iter_mut() {
                if p.range.0 == p.range.1 {
                    if clash(&tx, &chosen, p, p.range.0)? {
                        let ip = p.host_ip.map(|a| a.to_string()).unwrap_or_else(|| "0.0.0.0".into());
                        return Err(Error::Conflict(format!("Bind for {ip}:{} failed: port is already allocated", p.range.0)));
                    }
                    p.host_port = p.range.0;
                } else {
                    let mut pick = None;
                    for hp in p.range.0..=p.range.1 {
                        if !clash(&tx, &chosen, p, hp)? && ports::bindable(&p.proto, p.host_ip, hp) {
                            pick = Some(hp);
                            break;
                        }
                    }
                    p.host_port = pick.ok_or_else(|| Error::Conflict(format!("no free host port in {}-{} for {}/{}", p.range.0, p.range.1, p.container_port, p.proto)))?;
                }
                chosen.push(p.clone());
            }
            for p in &ports {
                tx.execute(
                    "INSERT INTO port_bindings (proto, host_ip, host_port, container, container_port) VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![p.proto, p.host_ip.map(|a| a.to_string()).unwrap_or_default(), p.host_port, id, p.container_port],
                )?;
            }
            tx.commit()?;
        }
        let el: Vec<_> = ports.iter().map(|p| firewall::PortMap { proto: p.proto.clone(), host_ip: p.host_ip, host_port: p.host_port, addr: ip, port: p.container_port }).collect();
        if let Err(e) = self.fw.add_ports(&el) {
            let _ = self.db().execute("DELETE FROM port_bindings WHERE container = ?1", [id]);
            return Err(e);
        }
        ports.sort_by_key(|p| (p.container_port, p.host_port));
        Ok(ports)
    }

    fn unpublish(&self, id: &str) -> Result<()> {
        let el = self.port_elements(Some(id))?;
        if !el.is_empty() {
            if let Err(e) = self.fw.del_ports(&el) {
                tracing::warn!(container = %id, error = %e.chain(), "removing published ports (already gone?)");
            }
        }
        self.db().execute("DELETE FROM port_bindings WHERE container = ?1", [id])?;
        Ok(())
    }

    pub fn published(&self, id: &str) -> Vec<ports::Port> {
        let db = self.db();
        let Ok(mut st) = db.prepare("SELECT proto, host_ip, host_port, container_port FROM port_bindings WHERE container = ?1 ORDER BY container_port, host_port") else { return Vec::new() };
        st.query_map([id], |r| {
            let hp: u16 = r.get(2)?;
            let ip: String = r.get(1)?;
            Ok(ports::Port { proto: r.get(0)?, host_ip: ip.parse().ok(), host_port: hp, range: (hp, hp), container_port: r.get(3)? })
        })
        .and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>())
        .unwrap_or_default()
    }

    /// After exit or on rm: veths, netns, leases and ports gone; the default
    /// bridge goes with its last container (user networks keep theirs until `network rm`).
    pub fn detach(&self, id: &str) -> Result<()> {
        let _b = self.busy();
        let ns = self.netns_path(id);
        let leases = ipam::leases(&self.db(), id)?;
        let has_ports: bool = self.db().prepare("SELECT 1 FROM port_bindings WHERE container = ?1")?.exists([id])?;
        if !ns.exists() && leases.is_empty() && !has_ports {
            return Ok(());
        }
        self.dns.stop(id);
        self.unpublish(id)?;
        let s = nl()?;
        for (_, _, ifname) in &leases {
            let hv = host_veth(id, ifname);
            s.del_link(&hv).map_err(io("deleting veth", Path::new(&hv)))?;
        }
        netns::remove(&ns).map_err(io("removing network namespace", &ns))?;
        ipam::release(&self.db(), id)?;
        let default = self.find("bridge")?;
        if leases.iter().any(|(n, _, _)| *n == default.id) {
            // Another berthd on this host (tests run several) may still have
            // ports on the bridge: it goes only when nothing is enslaved to it.
            let ports = std::fs::read_dir(format!("/sys/class/net/{}/brif", default.bridge)).map(|d| d.count()).unwrap_or(0);
            if ipam::count(&self.db(), &default.id)? == 0 && ports == 0 {
                self.teardown_bridge(&default)?;
            }
        }
        tracing::info!(container = %id, "network detached");
        Ok(())
    }

    /// What a running container has on each network (for inspect), in interface order.
    pub fn endpoints(&self, id: &str) -> Vec<Endpoint> {
        let Ok(leases) = ipam::leases(&self.db(), id) else { return Vec::new() };
        let conf = self.configured(id).unwrap_or_default();
        leases
            .into_iter()
            .filter_map(|(net, ip, ifname)| {
                let n = self.find(&net).ok()?;
                let aliases = conf.iter().find(|(c, _)| c.id == n.id).map(|(_, c)| c.aliases.clone()).unwrap_or_default();
                Some(Endpoint { prefix: n.subnet?.prefix, gateway: n.gateway?, network: n, ifname, mac: mac_str(ip), ip, aliases })
            })
            .collect()
    }

    /// On berthd start: tear down what belongs to containers not running
    /// any more (`live` says which are), and put the user networks' bridges
    /// back (after a reboot they are gone).
    pub fn sweep(&self, live: &dyn Fn(&str) -> bool) {
        // By this daemon's own records, not by listing the netns directory:
        // another berthd sharing the exec root (tests run several) owns the
        // other files there. A lease is taken before its netns is made and
        // released after it is gone, so no netns of ours lacks one.
        let mut ids: Vec<String> = Vec::new();
        if let Ok(mut st) = self.db().prepare("SELECT DISTINCT container FROM ip_leases UNION SELECT container FROM port_bindings") {
            if let Ok(v) = st.query_map([], |r| r.get::<_, String>(0)).and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>()) {
                ids.extend(v);
            }
        }
        ids.sort();
        ids.dedup();
        for id in &ids {
            if !live(id) {
                if let Err(e) = self.detach(id) {
                    tracing::warn!(container = %id, error = %e.chain(), "sweeping a stale network endpoint");
                }
            } else if self.on_user_network(id) {
                // Live restore: the sockets died with the previous berthd.
                if let Err(e) = self.serve_dns(id) {
                    tracing::warn!(container = %id, error = %e.chain(), "restarting the embedded DNS server");
                }
            }
        }
        let _b = self.busy();
        for n in self.list().unwrap_or_default().iter().filter(|n| n.is_bridge() && !n.is_default()) {
            if let Err(e) = self.ensure_bridge(n) {
                tracing::warn!(network = %n.name, error = %e.chain(), "bringing up a network's bridge");
            }
        }
        if let Ok(d) = self.find("bridge") {
            if ipam::count(&self.db(), &d.id).unwrap_or(0) > 0 {
                let _ = self.ensure_bridge(&d);
            }
        }
    }

    /// `network prune`: user networks no container is configured on.
    pub fn prune(&self, keep: &dyn Fn(&Net) -> bool) -> Result<Vec<String>> {
        let mut gone = Vec::new();
        for n in self.list()? {
            if n.builtin() || keep(&n) || self.users(&n)? > 0 || !self.holders(&n)?.is_empty() {
                continue;
            }
            self.remove(&n.id)?;
            gone.push(n.name);
        }
        Ok(gone)
    }
}

/// A free /24 for a network made without --subnet: 10.89.1.0/24 onwards,
/// not overlapping berth's other networks nor any route of the host
/// (docker's 172.17/16, podman's 10.88/16, the LAN).
fn pick_subnet(taken: &[ipam::Subnet], routes: &[ipam::Subnet]) -> Result<ipam::Subnet> {
    for second in 89..=95u8 {
        for third in 0..=255u8 {
            let s = ipam::Subnet { addr: Ipv4Addr::new(10, second, third, 0), prefix: 24 };
            if !taken.iter().chain(routes).any(|t| records::overlaps(*t, s)) {
                return Ok(s);
            }
        }
    }
    Err(Error::Forbidden("could not find an available, non-overlapping IPv4 address pool among 10.89.0.0-10.95.255.0/24: give --subnet".into()))
}

/// Whether a NetworkMode gets berth's own namespace with bridge endpoints
/// (`bridge`, `default` or a user-defined network's name).
pub fn bridged(mode: &str) -> bool {
    !matches!(mode, "host" | "none") && !mode.starts_with("container:")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_macs_and_pools() {
        assert_eq!(mac_of(Ipv4Addr::new(10, 89, 0, 2)), [2, 0x42, 10, 89, 0, 2]);
        assert_eq!(host_veth("0123456789abcdef", "eth0"), "vb0123456789ab0");
        assert_eq!(host_veth("0123456789abcdef", "eth12"), "vb0123456789a12");
        assert_eq!(table_name(Path::new("/var/lib/berth")), "berth");
        assert!(table_name(Path::new("/tmp/x")).starts_with("berth_"));
        let t = [ipam::Subnet::parse("10.89.0.0/24").unwrap()];
        let r = [ipam::Subnet::parse("10.89.1.0/24").unwrap(), ipam::Subnet::parse("10.89.2.128/25").unwrap()];
        assert_eq!(pick_subnet(&t, &r).unwrap().to_string(), "10.89.3.0/24");
    }
}
