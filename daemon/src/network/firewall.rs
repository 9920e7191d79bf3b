//! berth's nftables rules, in its own `table ip berth`, replaced as a whole
//! in one atomic `nft -f -` transaction whenever the set of active bridges
//! changes (a bridge comes up or goes away, not per container).
//!
//! - `postrouting` (nat hook): traffic from a bridge's subnet leaving by any
//!   other interface is masqueraded to the outgoing interface's address.
//! - `forward` (filter hook): traffic from the bridge, and replies to it.
//!
//! An accept in our base chain does not override a drop in another table's
//! base chain at the same hook, and dockerd sets `ip filter FORWARD` to
//! policy drop. So when that chain exists, berth also inserts its two accept
//! rules there, tagged with the comment "berth", and deletes exactly those
//! (found by comment and handle) when its bridge goes away.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// A bridge with its subnet, as the rules need it.
pub struct Bridge<'a> {
    pub name: &'a str,
    pub subnet: String,
    /// Internal networks get no masquerade and no forwarding out.
    pub internal: bool,
}

const COMMENT: &str = "berth";

fn nft(script: &str) -> Result<String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Internal(format!("running nft (install the nftables package): {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(script.as_bytes()).map_err(|e| Error::Internal(format!("writing to nft: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| Error::Internal(format!("waiting for nft: {e}")))?;
    if !out.status.success() {
        return Err(Error::Internal(format!("nft failed: {} (script: {script:?})", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The whole of `table ip berth` for these bridges.
pub fn script(bridges: &[Bridge]) -> String {
    let mut s = String::from("table ip berth\ndelete table ip berth\n");
    if bridges.is_empty() {
        return s;
    }
    // Published ports: one map, `proto . host port : address . port`,
    // so adding or removing a container's ports is one element, O(1).
    s.push_str("table ip berth {\n  map ports {\n    type inet_proto . inet_service : ipv4_addr . inet_service;\n  }\n");
    s.push_str("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local dnat ip to meta l4proto . th dport map @ports\n  }\n");
    // Locally generated connections (to 127.0.0.1 or the host's addresses).
    s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local dnat ip to meta l4proto . th dport map @ports\n  }\n");
    s.push_str("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
    for b in bridges.iter().filter(|b| !b.internal) {
        s.push_str(&format!("    ip saddr {} oifname != \"{}\" masquerade\n", b.subnet, b.name));
        // 127.0.0.1 as a source would be dropped by the container (martian):
        // masquerade it to the bridge address; and hairpin (a container to
        // its own published port through the host) needs the reply to come
        // back through the host too.
        s.push_str(&format!("    oifname \"{0}\" ip saddr 127.0.0.0/8 masquerade\n    oifname \"{0}\" ip saddr {1} ct status dnat masquerade\n", b.name, b.subnet));
    }
    s.push_str("  }\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for b in bridges {
        if b.internal {
            s.push_str(&format!("    iifname \"{0}\" oifname != \"{0}\" drop\n    oifname \"{0}\" iifname != \"{0}\" drop\n", b.name));
        } else {
            s.push_str(&format!("    iifname \"{0}\" accept\n    oifname \"{0}\" ct state established,related accept\n", b.name));
        }
    }
    s.push_str("  }\n}\n");
    s
}

/// Makes the rules what `bridges` needs, atomically.
pub fn apply(bridges: &[Bridge]) -> Result<()> {
    nft(&script(bridges))?;
    coexist(bridges)
}

/// Whether `table ip berth` is there (berthd restarted with running containers).
pub fn exists() -> bool {
    Command::new("nft").args(["list", "table", "ip", "berth"]).stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

/// Maps published ports to a container: `create` fails if a host port is taken.
pub fn add_ports(ports: &[(String, u16, std::net::Ipv4Addr, u16)]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let e: Vec<String> = ports.iter().map(|(p, h, a, c)| format!("{p} . {h} : {a} . {c}")).collect();
    nft(&format!("create element ip berth ports {{ {} }}\n", e.join(", ")))?;
    Ok(())
}

pub fn del_ports(ports: &[(String, u16)]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let e: Vec<String> = ports.iter().map(|(p, h)| format!("{p} . {h}")).collect();
    nft(&format!("delete element ip berth ports {{ {} }}\n", e.join(", ")))?;
    Ok(())
}

/// Handles of berth's rules in `ip filter FORWARD`, or None without that chain.
fn forward_handles() -> Option<Vec<(String, u64)>> {
    let out = Command::new("nft").args(["-a", "list", "chain", "ip", "filter", "FORWARD"]).stderr(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter(|l| l.contains(&format!("comment \"{COMMENT}\"")))
            .filter_map(|l| {
                let h = l.rsplit_once("# handle ")?.1.trim().parse().ok()?;
                Some((l.trim().to_string(), h))
            })
            .collect(),
    )
}

/// Accept rules for berth's bridges in another engine's `ip filter FORWARD`
/// (docker's policy drop), idempotent; removes them when no bridge is left.
fn coexist(bridges: &[Bridge]) -> Result<()> {
    let Some(have) = forward_handles() else { return Ok(()) };
    let mut s = String::new();
    for (line, h) in &have {
        if !bridges.iter().any(|b| line.contains(&format!("\"{}\"", b.name))) {
            s.push_str(&format!("delete rule ip filter FORWARD handle {h}\n"));
        }
    }
    for b in bridges.iter().filter(|b| !b.internal) {
        if !have.iter().any(|(l, _)| l.contains(&format!("iifname \"{}\"", b.name))) {
            s.push_str(&format!("insert rule ip filter FORWARD iifname \"{}\" accept comment \"{COMMENT}\"\n", b.name));
        }
        if !have.iter().any(|(l, _)| l.contains(&format!("oifname \"{}\"", b.name))) {
            s.push_str(&format!("insert rule ip filter FORWARD oifname \"{}\" ct state established,related accept comment \"{COMMENT}\"\n", b.name));
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
    fn script_masquerades_and_isolates_internal() {
        let s = script(&[Bridge { name: "berth0", subnet: "10.89.0.0/24".into(), internal: false }, Bridge { name: "br-x", subnet: "10.90.0.0/24".into(), internal: true }]);
        assert!(s.starts_with("table ip berth\ndelete table ip berth\n"));
        assert!(s.contains("ip saddr 10.89.0.0/24 oifname != \"berth0\" masquerade"));
        assert!(!s.contains("10.90.0.0/24 oifname"), "no masquerade for an internal network");
        assert!(s.contains("iifname \"br-x\" oifname != \"br-x\" drop"));
        assert_eq!(script(&[]), "table ip berth\ndelete table ip berth\n");
    }
}
