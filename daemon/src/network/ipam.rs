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
    fn first(&self) -> u32 {
        u32::from(self.addr)
    }
    fn broadcast(&self) -> u32 {
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

/// The container's lease on `network`, making one (the lowest free host
/// address) if it has none. One transaction, so two callers cannot pick the
/// same address.
pub fn lease(db: &mut Connection, network: &str, subnet: Subnet, gateway: Ipv4Addr, container: &str) -> Result<Ipv4Addr> {
    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(a) = tx.query_row("SELECT address FROM ip_leases WHERE network = ?1 AND container = ?2", params![network, container], |r| r.get::<_, String>(0)).optional()? {
        return a.parse().map_err(|_| Error::Internal(format!("bad lease {a:?} in the database")));
    }
    let used: std::collections::HashSet<u32> = {
        let mut st = tx.prepare("SELECT address FROM ip_leases WHERE network = ?1")?;
        let v = st.query_map([network], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        v.iter().filter_map(|a| a.parse::<Ipv4Addr>().ok()).map(u32::from).collect()
    };
    let gw = u32::from(gateway);
    let pick = (subnet.first() + 1..subnet.broadcast()).find(|a| *a != gw && !used.contains(a));
    let Some(a) = pick.map(Ipv4Addr::from) else {
        return Err(Error::Conflict(format!("no available IPv4 addresses on network {network} ({subnet})")));
    };
    tx.execute("INSERT INTO ip_leases (network, address, container) VALUES (?1, ?2, ?3)", params![network, a.to_string(), container])?;
    tx.commit()?;
    Ok(a)
}

/// The container's lease on `network`, if any.
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

    #[test]
    fn leases_skip_gateway_network_broadcast_and_never_repeat() {
        let mut d = db();
        let s = Subnet::parse("10.1.0.0/29").unwrap(); // .0 net, .1 gw, .7 broadcast
        let gw = s.gateway();
        let got: Vec<_> = (0..5).map(|i| lease(&mut d, "n", s, gw, &format!("c{i}")).unwrap()).collect();
        assert_eq!(got, (2..=6).map(|i| Ipv4Addr::new(10, 1, 0, i)).collect::<Vec<_>>());
        assert!(lease(&mut d, "n", s, gw, "c5").is_err(), "the subnet is full");
        // The same container keeps its address.
        assert_eq!(lease(&mut d, "n", s, gw, "c2").unwrap(), Ipv4Addr::new(10, 1, 0, 4));
        release(&d, "c2").unwrap();
        assert_eq!(lease(&mut d, "n", s, gw, "c9").unwrap(), Ipv4Addr::new(10, 1, 0, 4));
        assert_eq!(count(&d, "n").unwrap(), 5);
        assert_eq!(get(&d, "n", "c9").unwrap(), Some(Ipv4Addr::new(10, 1, 0, 4)));
    }
}
