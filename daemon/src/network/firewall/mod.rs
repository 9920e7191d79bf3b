//! berth's firewall rules, through nftables where the host has it and
//! iptables where it does not (old kernels, minimal embedded images): the
//! same rules either way (masquerade, forwarding, isolation, `--internal`,
//! published ports, see docs/networking.md), only their encoding differs.
//! nftables keeps published ports in maps (O(1) per container); iptables
//! without ipset has only a chain of one DNAT rule per port.

pub mod iptables;
pub mod nft;

use crate::error::{Error, Result};

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
