//! What the embedded DNS server may answer: on the user-defined networks a
//! container is on, the other containers there by name, network alias and
//! short id (docker's rules; the default bridge has no name resolution).
//! Read from berth.db on each query, so a connect, disconnect or rename is
//! seen at once and nothing is cached that could go stale.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::Value;

use super::etc;
use crate::error::Result;

pub struct Names {
    db: Mutex<Connection>,
}

impl Names {
    pub fn open(data_root: &Path) -> Result<Names> {
        let db = Connection::open(data_root.join("berth.db"))?;
        db.busy_timeout(Duration::from_secs(5))?;
        Ok(Names { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn find(&self, from: &str, name: &str) -> rusqlite::Result<Vec<Ipv4Addr>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT l.container, l.address, c.name, coalesce(e.aliases, '[]') FROM ip_leases l
             JOIN containers c ON c.id = l.container
             LEFT JOIN endpoints e ON e.container = l.container AND e.network = l.network
             WHERE l.network IN (SELECT m.network FROM ip_leases m JOIN networks n ON n.id = m.network WHERE m.container = ?1 AND n.name != 'bridge')
             ORDER BY l.address",
        )?;
        let rows = st.query_map([from], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::new();
        for (id, addr, cname, aliases) in rows {
            let aliases: Vec<String> = serde_json::from_str(&aliases).unwrap_or_default();
            let hit = cname.eq_ignore_ascii_case(name) || (name.len() >= 12 && id.starts_with(name)) || aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
            if let (true, Ok(a)) = (hit, addr.parse::<Ipv4Addr>()) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        Ok(out)
    }

    /// The container's `--dns`, else the host's nameservers.
    fn servers(&self, from: &str) -> Vec<SocketAddr> {
        let hc: Option<String> = self.db().query_row("SELECT host_config FROM containers WHERE id = ?1", [from], |r| r.get(0)).ok();
        let mine = hc.and_then(|h| serde_json::from_str::<Value>(&h).ok()).and_then(|h| etc::DnsSettings::from_host_config(&h).ok()).unwrap_or_default();
        let host = etc::parse_resolv(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        etc::upstreams(&host, &mine).iter().filter_map(|s| s.parse::<std::net::IpAddr>().ok()).map(|ip| SocketAddr::new(ip, 53)).collect()
    }
}

impl super::dns::Names for Names {
    fn lookup(&self, from: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        match self.find(from, name) {
            Ok(v) if !v.is_empty() => Some(v),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "embedded DNS: reading names");
                None
            }
        }
    }

    fn upstreams(&self, from: &str) -> Vec<SocketAddr> {
        self.servers(from)
    }
}
