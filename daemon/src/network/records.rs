//! Networks and endpoints as berth.db keeps them.
//!
//! `networks` has one row per network: the three docker has from the start
//! (`bridge` on `berth0`, `host`, `none`) and the user-defined bridges of
//! `network create`. `endpoints` is what a container is *configured* to
//! join (its NetworkMode's network, `--network-alias`, `--ip`, and every
//! `network connect`): it outlives stops and restarts. What it has *now*
//! (an address, a veth) is the lease in `ip_leases` (see ipam.rs), taken at
//! start and released when the container stops.

use std::net::Ipv4Addr;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::ipam::Subnet;
use crate::error::{Error, Result};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS networks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  driver TEXT NOT NULL,
  bridge TEXT NOT NULL,
  subnet TEXT NOT NULL,
  gateway TEXT NOT NULL,
  ip_range TEXT NOT NULL,
  internal INTEGER NOT NULL,
  mtu INTEGER NOT NULL,
  labels TEXT NOT NULL,
  options TEXT NOT NULL,
  created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
  container TEXT NOT NULL,
  network TEXT NOT NULL,
  aliases TEXT NOT NULL,
  ipv4 TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (container, network)
);
";

pub const DEFAULT_MTU: u32 = 1500;

#[derive(Debug, Clone)]
pub struct Net {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null` (docker's names).
    pub driver: String,
    /// The Linux bridge, for driver `bridge`.
    pub bridge: String,
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    /// `--ip-range`: where automatic addresses come from (the subnet without it).
    pub ip_range: Option<Subnet>,
    pub internal: bool,
    pub mtu: u32,
    pub labels: Value,
    pub options: Value,
    pub created: String,
}

impl Net {
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// The networks docker has from the start cannot be removed.
    pub fn builtin(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    /// The default bridge: no embedded DNS, no --ip, as docker's.
    pub fn is_default(&self) -> bool {
        self.name == "bridge"
    }

    /// Docker's network inspect shape; `containers` is filled by the caller.
    pub fn to_json(&self, containers: Value) -> Value {
        let config = match (self.subnet, self.gateway) {
            (Some(s), Some(g)) => {
                let mut c = json!({"Subnet": s.to_string(), "Gateway": g.to_string()});
                if let Some(r) = self.ip_range {
                    c["IPRange"] = json!(r.to_string());
                }
                json!([c])
            }
            _ => json!([]),
        };
        let mut options = self.options.clone();
        if self.is_bridge() && self.is_default() {
            options = json!({"com.docker.network.bridge.name": self.bridge, "com.docker.network.bridge.default_bridge": "true", "com.docker.network.driver.mtu": self.mtu.to_string()});
        }
        json!({
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": config},
            "Internal": self.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": options,
            "Labels": self.labels,
        })
    }
}

const COLS: &str = "id, name, driver, bridge, subnet, gateway, ip_range, internal, mtu, labels, options, created";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Net> {
    let subnet: String = r.get(4)?;
    let gateway: String = r.get(5)?;
    let range: String = r.get(6)?;
    let labels: String = r.get(9)?;
    let options: String = r.get(10)?;
    Ok(Net {
        id: r.get(0)?,
        name: r.get(1)?,
        driver: r.get(2)?,
        bridge: r.get(3)?,
        subnet: Subnet::parse(&subnet).ok(),
        gateway: gateway.parse().ok(),
        ip_range: Subnet::parse(&range).ok(),
        internal: r.get(7)?,
        mtu: r.get(8)?,
        labels: serde_json::from_str(&labels).unwrap_or(json!({})),
        options: serde_json::from_str(&options).unwrap_or(json!({})),
        created: r.get(11)?,
    })
}

pub fn list(db: &Connection) -> Result<Vec<Net>> {
    let mut st = db.prepare(&format!("SELECT {COLS} FROM networks ORDER BY created, name"))?;
    let v = st.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// A network by full id, name, or unique id prefix (docker's order).
pub fn find(db: &Connection, key: &str) -> Result<Net> {
    let not_found = || Error::NotFound(format!("network {key} not found"));
    if key.is_empty() {
        return Err(not_found());
    }
    if let Some(n) = db.query_row(&format!("SELECT {COLS} FROM networks WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1"), [key], row).optional()? {
        return Ok(n);
    }
    if !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let mut st = db.prepare(&format!("SELECT {COLS} FROM networks WHERE substr(id, 1, ?2) = ?1"))?;
    let mut v = st.query_map(params![key, key.len() as i64], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    match v.len() {
        1 => Ok(v.remove(0)),
        0 => Err(not_found()),
        _ => Err(Error::BadParameter(format!("network {key} is ambiguous ({} matches found based on ID prefix)", v.len()))),
    }
}

pub fn insert(db: &Connection, n: &Net) -> Result<()> {
    let r = db.execute(
        &format!("INSERT INTO networks ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
        params![
            n.id,
            n.name,
            n.driver,
            n.bridge,
            n.subnet.map(|s| s.to_string()).unwrap_or_default(),
            n.gateway.map(|g| g.to_string()).unwrap_or_default(),
            n.ip_range.map(|s| s.to_string()).unwrap_or_default(),
            n.internal,
            n.mtu,
            n.labels.to_string(),
            n.options.to_string(),
            n.created
        ],
    );
    if let Err(rusqlite::Error::SqliteFailure(f, _)) = &r {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            return Err(Error::Conflict(format!("network with name {} already exists", n.name)));
        }
    }
    r?;
    Ok(())
}

/// The three networks docker always has, made on first open; the default
/// bridge follows the configured subnet.
pub fn ensure_builtin(db: &Connection, bridge: &str, subnet: Subnet, gateway: Ipv4Addr, now: &str, new_id: &mut dyn FnMut() -> Result<String>) -> Result<()> {
    for (name, driver, br) in [("bridge", "bridge", bridge), ("host", "host", ""), ("none", "null", "")] {
        let has: bool = db.prepare("SELECT 1 FROM networks WHERE name = ?1")?.exists([name])?;
        if !has {
            let (s, g) = if driver == "bridge" { (Some(subnet), Some(gateway)) } else { (None, None) };
            let n = Net { id: new_id()?, name: name.into(), driver: driver.into(), bridge: br.into(), subnet: s, gateway: g, ip_range: None, internal: false, mtu: DEFAULT_MTU, labels: json!({}), options: json!({}), created: now.into() };
            insert(db, &n)?;
        }
    }
    db.execute("UPDATE networks SET subnet = ?1, gateway = ?2, bridge = ?3 WHERE name = 'bridge'", params![subnet.to_string(), gateway.to_string(), bridge])?;
    Ok(())
}

pub fn delete(db: &Connection, id: &str) -> Result<()> {
    db.execute("DELETE FROM endpoints WHERE network = ?1", [id])?;
    db.execute("DELETE FROM networks WHERE id = ?1", [id])?;
    Ok(())
}

/// A container's configured attachment to one network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointConfig {
    pub aliases: Vec<String>,
    /// `--ip`: the address the container asks for, each time it starts.
    pub ipv4: Option<Ipv4Addr>,
}

impl EndpointConfig {
    /// From docker's EndpointSettings (`{"Aliases": [...], "IPAMConfig": {"IPv4Address": ...}}`);
    /// settings berth has no use for yet are refused.
    pub fn from_json(v: &Value) -> Result<EndpointConfig> {
        let mut c = EndpointConfig::default();
        let Some(o) = v.as_object() else { return Ok(c) };
        for (k, v) in o {
            match k.as_str() {
                "Aliases" => {
                    for a in v.as_array().into_iter().flatten() {
                        let a = a.as_str().ok_or_else(|| Error::BadParameter("Aliases must be strings".into()))?;
                        if !a.is_empty() && !c.aliases.iter().any(|x| x == a) {
                            c.aliases.push(a.to_string());
                        }
                    }
                }
                "IPAMConfig" => {
                    for (ik, iv) in iv_obj(v) {
                        match ik.as_str() {
                            "IPv4Address" if iv.as_str().is_some_and(|s| !s.is_empty()) => {
                                let s = iv.as_str().unwrap_or_default();
                                c.ipv4 = Some(s.parse().map_err(|_| Error::BadParameter(format!("invalid IPv4 address: {s}")))?);
                            }
                            _ if unset(&iv) => {}
                            _ => return Err(Error::BadParameter(format!("IPAMConfig.{ik} is not implemented yet (IPv6 and link-local addresses)"))),
                        }
                    }
                }
                // Filled in by docker's CLI or read back from inspect: no setting.
                "NetworkID" | "EndpointID" | "Gateway" | "IPAddress" | "IPPrefixLen" | "IPv6Gateway" | "GlobalIPv6Address" | "GlobalIPv6PrefixLen" | "DNSNames" | "DriverOpts" | "Links" => {}
                "MacAddress" if v.as_str().is_none_or(str::is_empty) => {}
                _ if unset(v) => {}
                other => return Err(Error::BadParameter(format!("EndpointSettings.{other} is not implemented yet (given {v})"))),
            }
        }
        Ok(c)
    }
}

fn iv_obj(v: &Value) -> Vec<(String, Value)> {
    v.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

fn unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// A row of `endpoints`.
#[derive(Debug, Clone)]
pub struct EndpointRow {
    pub network: String,
    pub config: EndpointConfig,
}

/// The container's configured networks, in the order it joined them.
pub fn endpoints(db: &Connection, container: &str) -> Result<Vec<EndpointRow>> {
    let mut st = db.prepare("SELECT network, aliases, ipv4 FROM endpoints WHERE container = ?1 ORDER BY seq")?;
    let v = st
        .query_map([container], |r| {
            let aliases: String = r.get(1)?;
            let ip: String = r.get(2)?;
            Ok(EndpointRow { network: r.get(0)?, config: EndpointConfig { aliases: serde_json::from_str(&aliases).unwrap_or_default(), ipv4: ip.parse().ok() } })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// Adds an endpoint; a container joins a network once.
pub fn add_endpoint(db: &Connection, container: &str, network: &Net, c: &EndpointConfig) -> Result<()> {
    let seq: i64 = db.query_row("SELECT coalesce(max(seq), -1) + 1 FROM endpoints WHERE container = ?1", [container], |r| r.get(0))?;
    let r = db.execute(
        "INSERT INTO endpoints (container, network, aliases, ipv4, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![container, network.id, json!(c.aliases).to_string(), c.ipv4.map(|a| a.to_string()).unwrap_or_default(), seq],
    );
    if let Err(rusqlite::Error::SqliteFailure(f, _)) = &r {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            return Err(Error::Conflict(format!("endpoint with name {} already exists in network {}", &container[..12.min(container.len())], network.name)));
        }
    }
    r?;
    Ok(())
}

pub fn remove_endpoint(db: &Connection, container: &str, network: &str) -> Result<bool> {
    Ok(db.execute("DELETE FROM endpoints WHERE container = ?1 AND network = ?2", params![container, network])? > 0)
}

pub fn forget(db: &Connection, container: &str) -> Result<()> {
    db.execute("DELETE FROM endpoints WHERE container = ?1", [container])?;
    Ok(())
}

/// How many containers are configured on the network.
pub fn users(db: &Connection, network: &str) -> Result<i64> {
    Ok(db.query_row("SELECT count(*) FROM endpoints WHERE network = ?1", [network], |r| r.get(0))?)
}

/// Whether two subnets share any address.
pub fn overlaps(a: Subnet, b: Subnet) -> bool {
    let p = a.prefix.min(b.prefix);
    let mask = u32::MAX << (32 - p);
    u32::from(a.addr) & mask == u32::from(b.addr) & mask
}

/// IPv4 routes of the host (`/proc/net/route`), so an automatic subnet
/// does not shadow a network the host already reaches (docker's, podman's,
/// the LAN's).
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints the in-memory (network order) bytes as a native u32.
            let (dst, mask) = (u32::from_be_bytes(dst.to_ne_bytes()), u32::from_be_bytes(mask.to_ne_bytes()));
            let prefix = mask.count_ones() as u8;
            if prefix == 0 {
                return None; // the default route overlaps everything and says nothing
            }
            Some(Subnet { addr: Ipv4Addr::from(dst & mask), prefix })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c
    }

    #[test]
    fn builtin_networks_find_and_endpoints() {
        let d = db();
        let mut n = 0;
        let mut id = || {
            n += 1;
            Ok(format!("{n}{}", "0".repeat(63)))
        };
        let s = Subnet::parse("10.89.0.0/24").unwrap();
        ensure_builtin(&d, "berth0", s, s.gateway(), "t", &mut id).unwrap();
        ensure_builtin(&d, "berth0", s, s.gateway(), "t", &mut id).unwrap();
        let all = list(&d).unwrap();
        assert_eq!(all.len(), 3);
        let br = find(&d, "bridge").unwrap();
        assert!(br.is_default() && br.builtin() && br.is_bridge());
        assert_eq!(br.subnet, Some(s));
        assert_eq!(find(&d, &br.id[..60]).unwrap().name, "bridge");
        assert!(find(&d, "nosuch").unwrap_err().to_string().contains("network nosuch not found"));
        assert!(matches!(find(&d, "1"), Ok(_)));
        insert(&d, &Net { id: format!("1{}", "f".repeat(63)), name: "x".into(), ..br.clone() }).unwrap();
        assert!(matches!(find(&d, "1"), Err(Error::BadParameter(_))), "a prefix of two ids is ambiguous");
        let c = EndpointConfig { aliases: vec!["web".into()], ipv4: Some(Ipv4Addr::new(10, 89, 0, 9)) };
        add_endpoint(&d, "c1", &br, &c).unwrap();
        assert!(matches!(add_endpoint(&d, "c1", &br, &c), Err(Error::Conflict(_))));
        let host = find(&d, "host").unwrap();
        add_endpoint(&d, "c1", &host, &EndpointConfig::default()).unwrap();
        let e = endpoints(&d, "c1").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].config, c);
        assert_eq!(e[1].network, host.id);
        assert_eq!(users(&d, &br.id).unwrap(), 1);
        assert!(remove_endpoint(&d, "c1", &br.id).unwrap());
        forget(&d, "c1").unwrap();
        assert!(endpoints(&d, "c1").unwrap().is_empty());
    }

    #[test]
    fn endpoint_settings_and_overlaps() {
        let c = EndpointConfig::from_json(&json!({"Aliases": ["a", "a", "b"], "IPAMConfig": {"IPv4Address": "10.1.0.5"}, "NetworkID": "x"})).unwrap();
        assert_eq!(c.aliases, vec!["a", "b"]);
        assert_eq!(c.ipv4, Some(Ipv4Addr::new(10, 1, 0, 5)));
        assert!(EndpointConfig::from_json(&json!({"IPAMConfig": {"IPv6Address": "fd00::1"}})).is_err());
        assert!(EndpointConfig::from_json(&json!({"IPAMConfig": {"IPv4Address": "nope"}})).is_err());
        assert!(EndpointConfig::from_json(&json!({"MacAddress": "02:00:00:00:00:01"})).is_err());
        let s = |x: &str| Subnet::parse(x).unwrap();
        assert!(overlaps(s("10.0.0.0/8"), s("10.89.3.0/24")));
        assert!(!overlaps(s("10.89.2.0/24"), s("10.89.3.0/24")));
        assert!(overlaps(s("10.89.3.0/24"), s("10.89.3.128/25")));
    }
}
