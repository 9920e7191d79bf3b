//! The iptables backend, for hosts without nftables. The same rules as
//! nft.rs, in chains of berth's own named after the daemon's table
//! (`BERTH`, or `BERTH_<hash>` for a non-default data root):
//!
//! - nat: `<T>-PRE` (from PREROUTING) and `<T>-OUT` (from OUTPUT) send
//!   packets for the host's own addresses to `<T>-DNAT`, one DNAT rule per
//!   published port; `<T>-POST` (from POSTROUTING) masquerades.
//! - filter: `<T>-FWD`, first in FORWARD: internal networks' drops, published
//!   ports accepted, isolation (a drop per pair of networks: iptables has no
//!   sets without ipset), then each bridge's traffic and its replies.
//!
//! The chains are rebuilt in one `iptables-restore --noflush` per table when
//! the bridges change (atomic per table); ports are added and removed one
//! rule at a time, so a port's cost grows with the number published — the
//! reason nftables, with its maps, is preferred wherever it exists. Since the
//! accepts are in the same FORWARD chain as docker's policy drop, nothing
//! extra is needed to coexist with it; nothing of another engine's is touched.

use std::process::{Command, Stdio};

use super::{Bridge, PortMap};
use crate::error::{Error, Result};

/// Whether `iptables` runs (and can read the nat table).
pub fn usable() -> bool {
    Command::new("iptables").args(["-w", "-t", "nat", "-S", "POSTROUTING"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// `iptables -w ARGS`: whether it succeeded, and what it said on stderr.
fn iptables(args: &[&str]) -> Result<(bool, String)> {
    let out = Command::new("iptables").arg("-w").args(args).stdin(Stdio::null()).output().map_err(|e| Error::Internal(format!("running iptables (install the iptables package): {e}")))?;
    Ok((out.status.success(), String::from_utf8_lossy(&out.stderr).trim().to_string()))
}

/// For checks and deletions that may find nothing.
fn run(args: &[&str]) -> Result<bool> {
    Ok(iptables(args)?.0)
}

fn must(args: &[&str]) -> Result<()> {
    match iptables(args)? {
        (true, _) => Ok(()),
        (false, err) => Err(Error::Internal(format!("iptables {} failed: {err}", args.join(" ")))),
    }
}

fn restore(input: &str) -> Result<()> {
    super::pipe("iptables-restore", &["-w", "--noflush"], input).map(|_| ())
}

fn prefix(table: &str) -> String {
    table.to_ascii_uppercase()
}

/// The two restore inputs (nat, filter) that make berth's chains what these bridges need.
pub fn rules(table: &str, bridges: &[Bridge], ports: &[PortMap]) -> (String, String) {
    let t = prefix(table);
    let mut nat = format!("*nat\n:{t}-PRE - [0:0]\n:{t}-OUT - [0:0]\n:{t}-DNAT - [0:0]\n:{t}-POST - [0:0]\n");
    nat.push_str(&format!("-A {t}-PRE -m addrtype --dst-type LOCAL -j {t}-DNAT\n-A {t}-OUT -m addrtype --dst-type LOCAL -j {t}-DNAT\n"));
    for p in ports {
        nat.push_str(&format!("-A {t}-DNAT {}\n", dnat(p)));
    }
    for b in bridges.iter().filter(|b| !b.internal) {
        nat.push_str(&format!("-A {t}-POST -s {0} ! -o {1} -j MASQUERADE\n-A {t}-POST -o {1} -s 127.0.0.0/8 -j MASQUERADE\n-A {t}-POST -o {1} -s {0} -m conntrack --ctstate DNAT -j MASQUERADE\n", b.subnet, b.name));
    }
    nat.push_str("COMMIT\n");
    let mut filter = format!("*filter\n:{t}-FWD - [0:0]\n");
    for b in bridges.iter().filter(|b| b.internal) {
        filter.push_str(&format!("-A {t}-FWD -i {0} ! -o {0} -j DROP\n-A {t}-FWD -o {0} ! -i {0} -j DROP\n", b.name));
    }
    for b in bridges {
        filter.push_str(&format!("-A {t}-FWD -o {} -m conntrack --ctstate DNAT -j ACCEPT\n", b.name));
    }
    for a in bridges {
        for b in bridges.iter().filter(|b| b.name != a.name) {
            filter.push_str(&format!("-A {t}-FWD -i {} -o {} -j DROP\n", a.name, b.name));
        }
    }
    for b in bridges.iter().filter(|b| !b.internal) {
        filter.push_str(&format!("-A {t}-FWD -i {0} -j ACCEPT\n-A {t}-FWD -o {0} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n", b.name));
    }
    filter.push_str("COMMIT\n");
    (nat, filter)
}

/// One port's DNAT rule, as `-A`/`-D` take it.
fn dnat(p: &PortMap) -> String {
    let dst = p.host_ip.map(|a| format!("-d {a}/32 ")).unwrap_or_default();
    format!("{dst}-p {0} -m {0} --dport {1} -j DNAT --to-destination {2}:{3}", p.proto, p.host_port, p.addr, p.port)
}

/// The jumps from the built-in chains into berth's (idempotent).
fn jumps(t: &str) -> [(&'static str, &'static str, String); 4] {
    [("nat", "PREROUTING", format!("{t}-PRE")), ("nat", "OUTPUT", format!("{t}-OUT")), ("nat", "POSTROUTING", format!("{t}-POST")), ("filter", "FORWARD", format!("{t}-FWD"))]
}

pub fn apply(table: &str, bridges: &[Bridge], ports: &[PortMap]) -> Result<()> {
    let t = prefix(table);
    if bridges.is_empty() {
        for (tbl, chain, to) in jumps(&t) {
            while run(&["-t", tbl, "-D", chain, "-j", &to])? {}
            if run(&["-t", tbl, "-F", &to])? {
                must(&["-t", tbl, "-X", &to])?;
            }
        }
        let _ = run(&["-t", "nat", "-F", &format!("{t}-DNAT")]).and_then(|_| run(&["-t", "nat", "-X", &format!("{t}-DNAT")]));
        return Ok(());
    }
    let (nat, filter) = rules(table, bridges, ports);
    restore(&nat)?;
    restore(&filter)?;
    for (tbl, chain, to) in jumps(&t) {
        if !run(&["-t", tbl, "-C", chain, "-j", &to])? {
            must(&["-t", tbl, "-I", chain, "1", "-j", &to])?;
        }
    }
    Ok(())
}

pub fn add_ports(table: &str, ports: &[PortMap]) -> Result<()> {
    port_rules(table, ports, "-A")
}

pub fn del_ports(table: &str, ports: &[PortMap]) -> Result<()> {
    port_rules(table, ports, "-D")
}

/// Appends (`-A`) or deletes (`-D`) each port's DNAT rule.
fn port_rules(table: &str, ports: &[PortMap], op: &str) -> Result<()> {
    let chain = format!("{}-DNAT", prefix(table));
    for p in ports {
        let spec = dnat(p);
        let mut args = vec!["-t", "nat", op, &chain];
        args.extend(spec.split(' '));
        must(&args)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_isolate_masquerade_and_map() {
        let p = [PortMap { proto: "tcp".into(), host_ip: Some("127.0.0.1".parse().unwrap()), host_port: 8080, addr: "10.89.0.2".parse().unwrap(), port: 80 }];
        let (nat, filter) = rules("berth", &[Bridge { name: "berth0", subnet: "10.89.0.0/24".into(), internal: false }, Bridge { name: "br-i", subnet: "10.90.0.0/24".into(), internal: true }], &p);
        assert!(nat.contains("-A BERTH-DNAT -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.89.0.2:80\n"), "{nat}");
        assert!(nat.contains("-A BERTH-POST -s 10.89.0.0/24 ! -o berth0 -j MASQUERADE"));
        assert!(!nat.contains("10.90.0.0/24 ! -o"), "no masquerade for an internal network");
        assert!(filter.contains("-A BERTH-FWD -i br-i ! -o br-i -j DROP"));
        assert!(filter.contains("-A BERTH-FWD -i berth0 -o br-i -j DROP") && filter.contains("-A BERTH-FWD -i br-i -o berth0 -j DROP"));
        assert!(filter.contains("-A BERTH-FWD -i berth0 -j ACCEPT") && !filter.contains("-i br-i -j ACCEPT"));
        assert!(nat.ends_with("COMMIT\n") && filter.ends_with("COMMIT\n"));
        assert_eq!(dnat(&PortMap { host_ip: None, ..p[0].clone() }), "-p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.89.0.2:80");
    }
}
