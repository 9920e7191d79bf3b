//! Networking flags of `run`/`create`.

use serde_json::{json, Value};

/// `-p [ip:][hostPort:]containerPort[/proto]` values → HostConfig.PortBindings,
/// as docker's CLI builds it (the daemon checks and refuses what it cannot do).
pub fn port_bindings(specs: &[String]) -> Value {
    let mut m = serde_json::Map::new();
    for s in specs {
        let (addr, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
        let parts: Vec<&str> = addr.rsplitn(3, ':').collect();
        let (cp, hp, ip) = match parts.as_slice() {
            [cp] => (*cp, "", ""),
            [cp, hp] => (*cp, *hp, ""),
            [cp, hp, ip] => (*cp, *hp, *ip),
            _ => (addr, "", ""),
        };
        let e = m.entry(format!("{cp}/{proto}")).or_insert_with(|| json!([]));
        if let Some(a) = e.as_array_mut() {
            a.push(json!({"HostIp": ip, "HostPort": hp}));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs() {
        let v = port_bindings(&["8080:80".into(), "127.0.0.1:53:53/udp".into(), "9000".into()]);
        assert_eq!(v["80/tcp"][0], json!({"HostIp": "", "HostPort": "8080"}));
        assert_eq!(v["53/udp"][0], json!({"HostIp": "127.0.0.1", "HostPort": "53"}));
        assert_eq!(v["9000/tcp"][0], json!({"HostIp": "", "HostPort": ""}));
    }
}
