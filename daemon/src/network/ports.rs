//! Published ports: HostConfig.PortBindings as docker sends them
//! (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`) and the CLI's
//! `-p hostPort:containerPort[/proto]` that makes them.

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The range docker takes ephemeral host ports from (Linux's default
/// ip_local_port_range).
pub const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// Whether nothing on the host listens on `port` now.
pub fn bindable(proto: &str, port: u16) -> bool {
    let a = std::net::SocketAddr::from(([0, 0, 0, 0], port));
    if proto == "udp" {
        std::net::UdpSocket::bind(a).is_ok()
    } else {
        std::net::TcpListener::bind(a).is_ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub proto: String,
    pub host_port: u16,
    pub container_port: u16,
}

fn port(s: &str, what: &str) -> Result<u16> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::BadParameter(format!("invalid {what} port {s:?}"))),
    }
}

/// PortBindings → the ports to map; anything berth cannot do yet is refused.
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
            return Err(Error::BadParameter(format!("port ranges ({k}) are not implemented yet")));
        }
        let container_port = port(cp, "container")?;
        for b in binds.as_array().into_iter().flatten() {
            let ip = b["HostIp"].as_str().unwrap_or("");
            if !ip.is_empty() && ip != "0.0.0.0" {
                return Err(Error::BadParameter(format!("publishing on a host address ({ip}) is not implemented yet: only all addresses")));
            }
            let hp = b["HostPort"].as_str().unwrap_or("");
            if hp.is_empty() {
                // An ephemeral host port, chosen at start.
                out.push(Port { proto: proto.to_string(), host_port: 0, container_port });
                continue;
            }
            if hp.contains('-') {
                return Err(Error::BadParameter(format!("port ranges ({hp}) are not implemented yet")));
            }
            out.push(Port { proto: proto.to_string(), host_port: port(hp, "host")?, container_port });
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
            ports.push(Port { proto: proto.to_string(), host_port: 0, container_port: cp });
        }
    }
}

/// Docker's `NetworkSettings.Ports` shape.
pub fn settings(ports: &[Port]) -> Value {
    let mut m = serde_json::Map::new();
    for p in ports {
        let e = m.entry(format!("{}/{}", p.container_port, p.proto)).or_insert_with(|| json!([]));
        if let Some(a) = e.as_array_mut() {
            a.push(json!({"HostIp": "0.0.0.0", "HostPort": p.host_port.to_string()}));
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
        p.sort_by_key(|p| p.host_port);
        assert_eq!(p[0], Port { proto: "udp".into(), host_port: 5353, container_port: 53 });
        assert_eq!(p[1], Port { proto: "tcp".into(), host_port: 8080, container_port: 80 });
        assert_eq!(settings(&p[1..])["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(parse_bindings(&json!({"80/tcp": [{"HostPort": ""}]})).unwrap()[0].host_port, 0, "ephemeral");
        assert!(parse_bindings(&json!({"80/sctp": [{"HostPort": "1"}]})).is_err());
        assert!(parse_bindings(&json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "1"}]})).unwrap_err().to_string().contains("host address"));
        assert!(parse_bindings(&json!({"80/tcp": [{"HostPort": "0"}]})).is_err());
        assert!(parse_bindings(&Value::Null).unwrap().is_empty());
        let mut p = vec![Port { proto: "tcp".into(), host_port: 9, container_port: 80 }];
        publish_all(&mut p, &json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(p.len(), 2);
        assert_eq!(p[1], Port { proto: "udp".into(), host_port: 0, container_port: 53 });
    }
}
