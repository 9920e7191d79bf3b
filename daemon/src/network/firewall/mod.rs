//! berth's firewall rules, through nftables where the host has it and
//! iptables where it does not (old kernels, minimal embedded images): the
//! same rules either way (masquerade, forwarding, isolation, `--internal`,
//! published ports, see docs/networking.md), only their encoding differs.
//! nftables keeps published ports in maps (O(1) per container); iptables
//! without ipset has only a chain of one DNAT rule per port.

pub mod iptables;
pub mod nft;

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Runs `program args` with `input` on its stdin; its stdout, or an error
/// with its stderr and the input that failed.
fn pipe(program: &str, args: &[&str], input: &str) -> Result<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Internal(format!("running {program} (is its package installed?): {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(input.as_bytes()).map_err(|e| Error::Internal(format!("writing to {program}: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| Error::Internal(format!("waiting for {program}: {e}")))?;
    if !out.status.success() {
        return Err(Error::Internal(format!("{program} failed: {} (input: {input:?})", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A bridge with its subnet, as the rules need it.
pub struct Bridge<'a> {
    pub name: &'a str,
    pub subnet: String,
    /// Internal networks get no masquerade and no forwarding out.
    pub internal: bool,
}

/// One published port: `proto host_ip:host_port` → `addr:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    pub proto: String,
    /// None: every address of the host.
    pub host_ip: Option<std::net::Ipv4Addr>,
    pub host_port: u16,
    pub addr: std::net::Ipv4Addr,
    pub port: u16,
}


/// Which tool writes the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
}

impl Backend {
    /// daemon.json's `firewall-backend` (dockerd's key), or the host's
    /// tools: nftables when `nft` works, else iptables.
    pub fn choose(configured: Option<&str>) -> Result<Backend> {
        match configured {
            Some("nftables") => Ok(Backend::Nftables),
            Some("iptables") => Ok(Backend::Iptables),
            Some(other) => Err(Error::Config(format!("invalid firewall-backend {other:?}: nftables or iptables"))),
            None if nft::usable() => Ok(Backend::Nftables),
            None if iptables::usable() => Ok(Backend::Iptables),
            // Refused at the first bridged container, with the same message.
            None => Ok(Backend::Nftables),
        }
    }
}

/// A daemon's rules: its backend and the name its table or chains carry.
pub struct Firewall {
    pub backend: Backend,
    pub table: String,
}

impl Firewall {
    /// Makes the rules what `bridges` and `ports` need (all bridges of this daemon).
    pub fn apply(&self, bridges: &[Bridge], ports: &[PortMap]) -> Result<()> {
        match self.backend {
            Backend::Nftables => nft::apply(&self.table, bridges, ports),
            Backend::Iptables => iptables::apply(&self.table, bridges, ports),
        }
    }

    pub fn add_ports(&self, ports: &[PortMap]) -> Result<()> {
        match self.backend {
            Backend::Nftables => nft::add_ports(&self.table, ports),
            Backend::Iptables => iptables::add_ports(&self.table, ports),
        }
    }

    pub fn del_ports(&self, ports: &[PortMap]) -> Result<()> {
        match self.backend {
            Backend::Nftables => nft::del_ports(&self.table, ports),
            Backend::Iptables => iptables::del_ports(&self.table, ports),
        }
    }
}
