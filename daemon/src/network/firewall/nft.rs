//! The nftables backend: berth's rules in its own `table ip berth` (one table per
//! daemon: see `table_name`), replaced as a whole in one atomic `nft -f -`
//! transaction whenever the set of bridges changes (a network comes or goes,
//! not per container); a container's published ports are map elements.
//!
//! - `postrouting` (nat hook): traffic from a bridge's subnet leaving by any
//!   other interface is masqueraded to the outgoing interface's address.
//! - `forward` (filter hook): traffic from the bridges, replies to them,
//!   published ports; nothing between two of berth's networks (isolation),
//!   nothing in or out of an `--internal` one.
//!
//! An accept in our base chain does not override a drop in another table's
//! base chain at the same hook, and dockerd sets `ip filter FORWARD` to
//! policy drop. So when that chain exists, berth also inserts three accept
//! rules per bridge there, tagged with its table's name as the comment, and
//! deletes exactly those (found by comment and handle) when the bridge goes away.

use std::process::{Command, Stdio};

use super::{Bridge, PortMap};
use crate::error::Result;

impl PortMap {
    /// The element of the `ports` (all addresses) or `ports_ip` map.
    fn key(&self) -> String {
        match self.host_ip {
            Some(ip) => format!("{ip} . {} . {}", self.proto, self.host_port),
            None => format!("{} . {}", self.proto, self.host_port),
        }
    }
    fn element(&self) -> String {
        format!("{} : {} . {}", self.key(), self.addr, self.port)
    }
    fn map(&self) -> &'static str {
        if self.host_ip.is_some() {
            "ports_ip"
        } else {
            "ports"
        }
    }
}

/// Whether `nft` runs and the kernel has nf_tables.
pub fn usable() -> bool {
    Command::new("nft").args(["list", "tables"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn nft(script: &str) -> Result<String> {
    super::pipe("nft", &["-f", "-"], script)
}

/// The whole of `table ip <table>` for these bridges and published ports.
pub fn script(table: &str, bridges: &[Bridge], ports: &[PortMap]) -> String {
    let mut s = format!("table ip {table}\ndelete table ip {table}\n");
    if bridges.is_empty() {
        return s;
    }
    // Published ports: two maps, `proto . host port : address . port` for
    // all host addresses and `host address . proto . port : ...` for one,
    // so adding or removing a container's ports is one element, O(1).
    s.push_str(&format!("table ip {table} {{\n"));
    for (name, key) in [("ports", "inet_proto . inet_service"), ("ports_ip", "ipv4_addr . inet_proto . inet_service")] {
        s.push_str(&format!("  map {name} {{\n    type {key} : ipv4_addr . inet_service;\n"));
        let el: Vec<String> = ports.iter().filter(|p| p.map() == name).map(PortMap::element).collect();
        if !el.is_empty() {
            s.push_str(&format!("    elements = {{ {} }}\n", el.join(", ")));
        }
        s.push_str("  }\n");
    }
    // Every bridge of this daemon, for the isolation rule.
    let names: Vec<String> = bridges.iter().map(|b| format!("\"{}\"", b.name)).collect();
    s.push_str(&format!("  set bridges {{\n    type ifname;\n    elements = {{ {} }}\n  }}\n", names.join(", ")));
    // A lookup that misses ends the rule without a verdict: the next one is tried.
    let dnat = "    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_ip\n    fib daddr type local dnat ip to meta l4proto . th dport map @ports\n";
    s.push_str(&format!("  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{dnat}  }}\n"));
    // Locally generated connections (to 127.0.0.1 or the host's addresses).
    s.push_str(&format!("  chain output {{\n    type nat hook output priority -100; policy accept;\n{dnat}  }}\n"));
    s.push_str("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
    for b in bridges.iter().filter(|b| !b.internal) {
        s.push_str(&format!("    ip saddr {} oifname != \"{}\" masquerade\n", b.subnet, b.name));
        // 127.0.0.1 as a source would be dropped by the container (martian):
        // masquerade it to the bridge address; and hairpin (a container to
        // a published port through the host) needs the reply to come back
        // through the host too.
        s.push_str(&format!("    oifname \"{0}\" ip saddr 127.0.0.0/8 masquerade\n    oifname \"{0}\" ip saddr {1} ct status dnat masquerade\n", b.name, b.subnet));
    }
    s.push_str("  }\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    // Internal networks: nothing in or out but between their own members.
    for b in bridges.iter().filter(|b| b.internal) {
        s.push_str(&format!("    iifname \"{0}\" oifname != \"{0}\" drop\n    oifname \"{0}\" iifname != \"{0}\" drop\n", b.name));
    }
    // A published port is meant to be reached, also from another network.
    s.push_str("    oifname @bridges ct status dnat accept\n");
    // Isolation: no network of this daemon reaches another directly.
    for b in bridges {
        s.push_str(&format!("    iifname \"{0}\" oifname != \"{0}\" oifname @bridges drop\n", b.name));
    }
    for b in bridges.iter().filter(|b| !b.internal) {
        s.push_str(&format!("    iifname \"{0}\" accept\n    oifname \"{0}\" ct state established,related accept\n", b.name));
    }
    s.push_str("  }\n}\n");
    s
}

/// Makes the table what `bridges` and `ports` need, atomically.
pub fn apply(table: &str, bridges: &[Bridge], ports: &[PortMap]) -> Result<()> {
    nft(&script(table, bridges, ports))?;
    coexist(table, bridges)
}

/// Maps published ports to a container: fails if a host port is taken.
pub fn add_ports(table: &str, ports: &[PortMap]) -> Result<()> {
    elements(ports, |p| format!("create element ip {table} {} {{ {} }}\n", p.map(), p.element()))
}

pub fn del_ports(table: &str, ports: &[PortMap]) -> Result<()> {
    elements(ports, |p| format!("delete element ip {table} {} {{ {} }}\n", p.map(), p.key()))
}

/// One nft transaction of one statement per port.
fn elements(ports: &[PortMap], statement: impl Fn(&PortMap) -> String) -> Result<()> {
    if !ports.is_empty() {
        nft(&ports.iter().map(statement).collect::<String>())?;
    }
    Ok(())
}

/// Handles of berth's rules in `ip filter FORWARD`, or None without that chain.
fn forward_handles(comment: &str) -> Option<Vec<(String, u64)>> {
    let out = Command::new("nft").args(["-a", "list", "chain", "ip", "filter", "FORWARD"]).stderr(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter(|l| l.contains(&format!("comment \"{comment}\"")))
            .filter_map(|l| {
                let h = l.rsplit_once("# handle ")?.1.trim().parse().ok()?;
                Some((l.trim().to_string(), h))
            })
            .collect(),
    )
}

/// What a bridge needs in another engine's policy-drop FORWARD chain:
/// its own traffic out, replies in, and new connections to its published ports.
fn coexist_rules(bridge: &str) -> [String; 3] {
    [format!("iifname \"{bridge}\" accept"), format!("oifname \"{bridge}\" ct state established,related accept"), format!("oifname \"{bridge}\" ct status dnat accept")]
}

/// Accept rules for berth's bridges in another engine's `ip filter FORWARD`
/// (docker's policy drop), idempotent; removes them when no bridge is left.
/// The rules carry the table's name as their comment, so each daemon removes only its own.
fn coexist(table: &str, bridges: &[Bridge]) -> Result<()> {
    let Some(have) = forward_handles(table) else { return Ok(()) };
    let wanted: Vec<String> = bridges.iter().filter(|b| !b.internal).flat_map(|b| coexist_rules(b.name)).collect();
    let mut s = String::new();
    for (line, h) in &have {
        if !wanted.iter().any(|w| line.starts_with(w.as_str())) {
            s.push_str(&format!("delete rule ip filter FORWARD handle {h}\n"));
        }
    }
    for w in &wanted {
        if !have.iter().any(|(l, _)| l.starts_with(w.as_str())) {
            s.push_str(&format!("insert rule ip filter FORWARD {w} comment \"{table}\"\n"));
        }
    }
    if !s.is_empty() {
        nft(&s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_masquerades_isolates_and_maps() {
        let p = [
            PortMap { proto: "tcp".into(), host_ip: None, host_port: 8080, addr: "10.89.0.2".parse().unwrap(), port: 80 },
            PortMap { proto: "udp".into(), host_ip: Some("127.0.0.1".parse().unwrap()), host_port: 53, addr: "10.89.0.3".parse().unwrap(), port: 5353 },
        ];
        let s = script("berth", &[Bridge { name: "berth0", subnet: "10.89.0.0/24".into(), internal: false }, Bridge { name: "br-x", subnet: "10.90.0.0/24".into(), internal: true }], &p);
        assert!(s.starts_with("table ip berth\ndelete table ip berth\n"));
        assert!(s.contains("ip saddr 10.89.0.0/24 oifname != \"berth0\" masquerade"));
        assert!(!s.contains("10.90.0.0/24 oifname"), "no masquerade for an internal network");
        assert!(s.contains("iifname \"br-x\" oifname != \"br-x\" drop"));
        assert!(s.contains("iifname \"berth0\" oifname != \"berth0\" oifname @bridges drop"));
        assert!(s.contains("elements = { tcp . 8080 : 10.89.0.2 . 80 }"));
        assert!(s.contains("elements = { 127.0.0.1 . udp . 53 : 10.89.0.3 . 5353 }"));
        assert!(s.contains("elements = { \"berth0\", \"br-x\" }"));
        assert_eq!(script("b2", &[], &p), "table ip b2\ndelete table ip b2\n");
        assert_eq!(p[1].key(), "127.0.0.1 . udp . 53");
    }
}
