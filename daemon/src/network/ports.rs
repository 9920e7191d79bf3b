//! Published ports: HostConfig.PortBindings as docker sends them
//! (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`) and the CLI's
//! `-p hostPort:containerPort[/proto]` that makes them.

use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The range docker takes ephemeral host ports from (Linux's default
/// ip_local_port_range).
pub const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// Whether nothing on the host listens on `port` (of `ip`, or any address) now.
pub fn bindable(proto: &str, ip: Option<Ipv4Addr>, port: u16) -> bool {
    let a = std::net::SocketAddr::from((ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port));
    if proto == "udp" {
        std::net::UdpSocket::bind(a).is_ok()
    } else {
        std::net::TcpListener::bind(a).is_ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub proto: String,
    /// One host address, or None for all of them.
    pub host_ip: Option<Ipv4Addr>,
    /// The host port, once chosen (0 before).
    pub host_port: u16,
    /// Where the host port may come from: one port, a `-p 8000-8010:80`
    /// range, or the ephemeral range.
    pub range: (u16, u16),
    pub container_port: u16,
}

impl Port {
    pub fn fixed(proto: &str, host_port: u16, container_port: u16) -> Port {
        Port { proto: proto.into(), host_ip: None, host_port, range: (host_port, host_port), container_port }
    }
    pub fn host_ip_str(&self) -> String {
        self.host_ip.map(|a| a.to_string()).unwrap_or_else(|| "0.0.0.0".into())
    }
}

fn port(s: &str, what: &str) -> Result<u16> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::BadParameter(format!("invalid {what} port {s:?}"))),
    }
}

/// PortBindings → the ports to map; anything berth cannot do is refused.
pub fn parse_bindings(v: &Value) -> Result<Vec<Port>> {
    let mut out = Vec::new();
    let Some(m) = v.as_object() else {
        return if v.is_null() { Ok(out) } else { Err(Error::BadParameter("HostConfig.PortBindings must be an object".into())) };
    };
    for (k, binds) in m {
        let (cp, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        if proto != "tcp" && proto != "udp" {
            return Err(Error::BadParameter(format!("invalid protocol {proto:?} in {k:?}: tcp or udp")));
        }
        if cp.contains('-') {
            return Err(Error::BadParameter(format!("invalid port {k:?}: the API takes one container port per key (the CLI expands ranges)")));
        }
        let container_port = port(cp, "container")?;
        for b in binds.as_array().into_iter().flatten() {
            let ip = b["HostIp"].as_str().unwrap_or("");
            let host_ip = match ip {
                "" | "0.0.0.0" => None,
                _ => match ip.parse::<Ipv4Addr>() {
                    Ok(a) => Some(a),
                    Err(_) if ip.parse::<std::net::Ipv6Addr>().is_ok() => return Err(Error::BadParameter(format!("publishing on an IPv6 address ({ip}) is not supported: berth's networks are IPv4"))),
                    Err(_) => return Err(Error::BadParameter(format!("invalid host address {ip:?}"))),
                },
            };
            let hp = b["HostPort"].as_str().unwrap_or("");
            let range = if hp.is_empty() {
                (*EPHEMERAL.start(), *EPHEMERAL.end())
            } else if let Some((lo, hi)) = hp.split_once('-') {
                let (lo, hi) = (port(lo, "host")?, port(hi, "host")?);
                if lo > hi {
                    return Err(Error::BadParameter(format!("invalid host port range {hp:?}")));
                }
                (lo, hi)
            } else {
                let p = port(hp, "host")?;
                (p, p)
            };
            out.push(Port { proto: proto.to_string(), host_ip, host_port: 0, range, container_port });
        }
    }
    Ok(out)
}

/// `-P`: every ExposedPort of the image not bound already gets an ephemeral host port.
pub fn publish_all(ports: &mut Vec<Port>, exposed: &Value) {
    for k in exposed.as_object().into_iter().flatten().map(|(k, _)| k) {
        let (cp, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        let Ok(cp) = cp.parse::<u16>() else { continue };
        if (proto == "tcp" || proto == "udp") && !ports.iter().any(|p| p.container_port == cp && p.proto == proto) {
            ports.push(Port { proto: proto.to_string(), host_ip: None, host_port: 0, range: (*EPHEMERAL.start(), *EPHEMERAL.end()), container_port: cp });
        }
    }
}

/// Docker's `NetworkSettings.Ports` shape.
pub fn settings(ports: &[Port]) -> Value {
    let mut m = serde_json::Map::new();
    for p in ports {
        let e = m.entry(format!("{}/{}", p.container_port, p.proto)).or_insert_with(|| json!([]));
        if let Some(a) = e.as_array_mut() {
            a.push(json!({"HostIp": p.host_ip_str(), "HostPort": p.host_port.to_string()}));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings() {
        let v = json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "53/udp": [{"HostPort": "5353"}]});
        let mut p = parse_bindings(&v).unwrap();
        p.sort_by_key(|p| p.range.0);
        assert_eq!(p[0], Port { proto: "udp".into(), host_ip: None, host_port: 0, range: (5353, 5353), container_port: 53 });
        assert_eq!(p[1].range, (8080, 8080));
        let mut chosen = p[1].clone();
        chosen.host_port = 8080;
        assert_eq!(settings(&[chosen])["80/tcp"][0], json!({"HostIp": "0.0.0.0", "HostPort": "8080"}));
        assert_eq!(parse_bindings(&json!({"80/tcp": [{"HostPort": ""}]})).unwrap()[0].range, (32768, 60999), "ephemeral");
        assert_eq!(parse_bindings(&json!({"80/tcp": [{"HostPort": "8000-8010"}]})).unwrap()[0].range, (8000, 8010));
        assert!(parse_bindings(&json!({"80/tcp": [{"HostPort": "8010-8000"}]})).is_err());
        let p = parse_bindings(&json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "1"}]})).unwrap();
        assert_eq!(p[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert!(parse_bindings(&json!({"80/tcp": [{"HostIp": "::1", "HostPort": "1"}]})).unwrap_err().to_string().contains("IPv6"));
        assert!(parse_bindings(&json!({"80/tcp": [{"HostIp": "nope", "HostPort": "1"}]})).is_err());
        assert!(parse_bindings(&json!({"80-81/tcp": [{"HostPort": "1"}]})).is_err());
        assert!(parse_bindings(&json!({"80/sctp": [{"HostPort": "1"}]})).is_err());
        assert!(parse_bindings(&json!({"80/tcp": [{"HostPort": "0"}]})).is_err());
        assert!(parse_bindings(&Value::Null).unwrap().is_empty());
        let mut p = vec![Port::fixed("tcp", 9, 80)];
        publish_all(&mut p, &json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].proto.as_str(), p[1].container_port, p[1].range.0), ("udp", 53, 32768));
    }
}
