//! Address management: one lease per (network, address) row in the
//! `ip_leases` table of berth.db. The primary key makes a duplicate
//! impossible, also across berthd restarts; the network address, the
//! gateway and the broadcast address are never handed out.

use std::net::Ipv4Addr;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ip_leases (
  network TEXT NOT NULL,
  address TEXT NOT NULL,
  container TEXT NOT NULL,
  PRIMARY KEY (network, address)
);
CREATE INDEX IF NOT EXISTS ip_leases_container ON ip_leases (container);
";

/// An IPv4 subnet `addr/prefix` (addr is the network address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = || Error::BadParameter(format!("invalid subnet {s:?}: want an IPv4 CIDR like 10.89.0.0/24"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(Error::BadParameter(format!("invalid subnet {s:?}: the prefix must be between /8 and /30")));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet { addr: Ipv4Addr::from(u32::from(addr) & mask), prefix })
    }
    pub fn first(&self) -> u32 {
        u32::from(self.addr)
    }
    pub fn broadcast(&self) -> u32 {
        self.first() | (u32::MAX >> self.prefix)
    }
    /// The first host address, which docker makes the gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + 1)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Adds what later versions keep in `ip_leases` to an older database.
pub fn migrate(db: &Connection) -> Result<()> {
    let has: bool = db.prepare("SELECT 1 FROM pragma_table_info('ip_leases') WHERE name = 'ifname'")?.exists([])?;
    if !has {
        db.execute_batch("ALTER TABLE ip_leases ADD COLUMN ifname TEXT NOT NULL DEFAULT 'eth0'")?;
    }
    Ok(())
}

impl Subnet {
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let a = u32::from(a);
        a >= self.first() && a <= self.broadcast()
    }
    /// A host address of this subnet (not the network or broadcast address).
    pub fn is_host(&self, a: Ipv4Addr) -> bool {
        let a = u32::from(a);
        a > self.first() && a < self.broadcast()
    }
}

/// What to lease: on which network, from where, for whom.
pub struct Request<'a> {
    pub network: &'a str,
    pub subnet: Subnet,
    /// `--ip-range`: automatic addresses only from here.
    pub range: Option<Subnet>,
    pub gateway: Ipv4Addr,
    pub container: &'a str,
    /// `--ip`.
    pub wanted: Option<Ipv4Addr>,
    /// The interface inside the container the address goes on.
    pub ifname: &'a str,
}

/// The container's lease on the network, making one (the asked-for
/// address, else the lowest free host address) if it has none. One
/// transaction, so two callers cannot pick the same address.
pub fn lease(db: &mut Connection, q: &Request) -> Result<Ipv4Addr> {
    let network = q.network;
    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(a) = tx.query_row("SELECT address FROM ip_leases WHERE network = ?1 AND container = ?2", params![network, q.container], |r| r.get::<_, String>(0)).optional()? {
        return a.parse().map_err(|_| Error::Internal(format!("bad lease {a:?} in the database")));
    }
    let used: std::collections::HashSet<u32> = {
        let mut st = tx.prepare("SELECT address FROM ip_leases WHERE network = ?1")?;
        let v = st.query_map([network], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        v.iter().filter_map(|a| a.parse::<Ipv4Addr>().ok()).map(u32::from).collect()
    };
    let gw = u32::from(q.gateway);
    let a = match q.wanted {
        Some(w) => {
            if !q.subnet.is_host(w) || u32::from(w) == gw {
                return Err(Error::BadParameter(format!("no configured subnet or ip-range contain the IP address {w} (the subnet is {}, the gateway {})", q.subnet, q.gateway)));
            }
            if used.contains(&u32::from(w)) {
                return Err(Error::Conflict(format!("Address already in use: {w} on network {network}")));
            }
            w
        }
        None => {
            let r = q.range.unwrap_or(q.subnet);
            let (lo, hi) = (r.first().max(q.subnet.first() + 1), r.broadcast().min(q.subnet.broadcast() - 1));
            let pick = (lo..=hi).find(|a| *a != gw && !used.contains(a));
            pick.map(Ipv4Addr::from).ok_or_else(|| Error::Conflict(format!("no available IPv4 addresses on network {network} ({})", r)))?
        }
    };
    tx.execute("INSERT INTO ip_leases (network, address, container, ifname) VALUES (?1, ?2, ?3, ?4)", params![network, a.to_string(), q.container, q.ifname])?;
    tx.commit()?;
    Ok(a)
}

/// A container's leases: (network, address, interface), in interface order.
pub fn leases(db: &Connection, container: &str) -> Result<Vec<(String, Ipv4Addr, String)>> {
    let mut st = db.prepare("SELECT network, address, ifname FROM ip_leases WHERE container = ?1 ORDER BY length(ifname), ifname")?;
    let v = st.query_map([container], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v.into_iter().filter_map(|(n, a, i)| Some((n, a.parse().ok()?, i))).collect())
}

/// Every lease on a network: (container, address).
pub fn holders(db: &Connection, network: &str) -> Result<Vec<(String, Ipv4Addr)>> {
    let mut st = db.prepare("SELECT container, address FROM ip_leases WHERE network = ?1 ORDER BY address")?;
    let v = st.query_map([network], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v.into_iter().filter_map(|(c, a)| Some((c, a.parse().ok()?))).collect())
}

/// Releases the container's lease on one network.
pub fn release_one(db: &Connection, container: &str, network: &str) -> Result<()> {
    db.execute("DELETE FROM ip_leases WHERE container = ?1 AND network = ?2", params![container, network])?;
    Ok(())
}

/// The container's lease on `network`, if any.
#[cfg(test)]
pub fn get(db: &Connection, network: &str, container: &str) -> Result<Option<Ipv4Addr>> {
    let a = db.query_row("SELECT address FROM ip_leases WHERE network = ?1 AND container = ?2", params![network, container], |r| r.get::<_, String>(0)).optional()?;
    Ok(a.and_then(|a| a.parse().ok()))
}

/// Releases every lease of `container`.
pub fn release(db: &Connection, container: &str) -> Result<()> {
    db.execute("DELETE FROM ip_leases WHERE container = ?1", [container])?;
    Ok(())
}

pub fn count(db: &Connection, network: &str) -> Result<i64> {
    Ok(db.query_row("SELECT count(*) FROM ip_leases WHERE network = ?1", [network], |r| r.get(0))?)
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
    fn subnets() {
        let s = Subnet::parse("10.89.0.7/24").unwrap();
        assert_eq!(s.to_string(), "10.89.0.0/24");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 89, 0, 1));
        assert!(Subnet::parse("10.89.0.0").is_err());
        assert!(Subnet::parse("10.89.0.0/31").is_err());
        assert!(Subnet::parse("x/24").is_err());
    }

    fn req<'a>(s: Subnet, c: &'a str) -> Request<'a> {
        Request { network: "n", subnet: s, range: None, gateway: s.gateway(), container: c, wanted: None, ifname: "eth0" }
    }

    #[test]
    fn leases_skip_gateway_network_broadcast_and_never_repeat() {
        let mut d = db();
        migrate(&d).unwrap();
        migrate(&d).unwrap();
        let s = Subnet::parse("10.1.0.0/29").unwrap(); // .0 net, .1 gw, .7 broadcast
        let names: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        let got: Vec<_> = (0..5).map(|i| lease(&mut d, &req(s, &names[i])).unwrap()).collect();
        assert_eq!(got, (2..=6).map(|i| Ipv4Addr::new(10, 1, 0, i)).collect::<Vec<_>>());
        assert!(lease(&mut d, &req(s, "c5")).is_err(), "the subnet is full");
        // The same container keeps its address.
        assert_eq!(lease(&mut d, &req(s, "c2")).unwrap(), Ipv4Addr::new(10, 1, 0, 4));
        release(&d, "c2").unwrap();
        assert_eq!(lease(&mut d, &req(s, "c9")).unwrap(), Ipv4Addr::new(10, 1, 0, 4));
        assert_eq!(count(&d, "n").unwrap(), 5);
        assert_eq!(get(&d, "n", "c9").unwrap(), Some(Ipv4Addr::new(10, 1, 0, 4)));
        assert_eq!(leases(&d, "c9").unwrap(), vec![("n".to_string(), Ipv4Addr::new(10, 1, 0, 4), "eth0".to_string())]);
        assert_eq!(holders(&d, "n").unwrap().len(), 5);
        release_one(&d, "c9", "n").unwrap();
        assert!(leases(&d, "c9").unwrap().is_empty());
    }

    #[test]
    fn wanted_addresses_and_ranges() {
        let mut d = db();
        migrate(&d).unwrap();
        let s = Subnet::parse("10.2.0.0/24").unwrap();
        let mut q = req(s, "a");
        q.wanted = Some(Ipv4Addr::new(10, 2, 0, 50));
        assert_eq!(lease(&mut d, &q).unwrap(), Ipv4Addr::new(10, 2, 0, 50));
        let mut q2 = req(s, "b");
        q2.wanted = Some(Ipv4Addr::new(10, 2, 0, 50));
        assert!(matches!(lease(&mut d, &q2), Err(Error::Conflict(_))), "taken");
        q2.wanted = Some(Ipv4Addr::new(10, 2, 0, 1));
        assert!(matches!(lease(&mut d, &q2), Err(Error::BadParameter(_))), "the gateway");
        q2.wanted = Some(Ipv4Addr::new(10, 3, 0, 5));
        assert!(matches!(lease(&mut d, &q2), Err(Error::BadParameter(_))), "outside");
        q2.wanted = None;
        q2.range = Some(Subnet::parse("10.2.0.48/30").unwrap());
        assert_eq!(lease(&mut d, &q2).unwrap(), Ipv4Addr::new(10, 2, 0, 48), "the first of the range");
        let mut q3 = req(s, "c");
        q3.range = q2.range;
        q3.ifname = "eth1";
        assert_eq!(lease(&mut d, &q3).unwrap(), Ipv4Addr::new(10, 2, 0, 49));
        assert!(s.contains(Ipv4Addr::new(10, 2, 0, 255)) && !s.is_host(Ipv4Addr::new(10, 2, 0, 255)));
    }
}
