//! Networking flags of `run`/`create`.

use serde_json::{json, Value};

use crate::http::{encode_path, Client};
use crate::usage;

/// ps's PORTS column from the list API's `Ports` (docker's format).
pub fn ports_column(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{}:{}->{}/{}", p["IP"].as_str().unwrap_or("0.0.0.0"), p["PublicPort"], p["PrivatePort"], p["Type"].as_str().unwrap_or("tcp")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`, as docker prints it.
pub fn port(c: &Client, mut p: lexopt::Parser) -> anyhow::Result<i32> {
    use lexopt::prelude::*;
    let mut args = Vec::new();
    while let Some(a) = p.next()? {
        match a {
            Value(v) => args.push(v.string()?),
            other => return Err(usage("port", other.unexpected().to_string())),
        }
    }
    let (name, want) = match args.as_slice() {
        [n] => (n.clone(), None),
        [n, w] => (n.clone(), Some(if w.contains('/') { w.clone() } else { format!("{w}/tcp") })),
        _ => return Err(usage("port", "\"berth port\" requires 1 or 2 arguments.\n\nUsage:  berth port CONTAINER [PRIVATE_PORT[/PROTO]]")),
    };
    let v = c.request("GET", &format!("/containers/{}/json", encode_path(&name)), &[])?.ok()?.json()?;
    let mut found = false;
    if let Some(m) = v["NetworkSettings"]["Ports"].as_object() {
        for (k, binds) in m {
            if want.as_ref().is_some_and(|w| w != k) {
                continue;
            }
            for b in binds.as_array().into_iter().flatten() {
                found = true;
                let hp = b["HostPort"].as_str().unwrap_or_default();
                let ip = b["HostIp"].as_str().unwrap_or("0.0.0.0");
                if want.is_some() {
                    println!("{ip}:{hp}");
                } else {
                    println!("{k} -> {ip}:{hp}");
                }
            }
        }
    }
    if !found {
        if let Some(w) = want {
            anyhow::bail!("Error: No public port '{w}' published for {name}");
        }
    }
    Ok(0)
}

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
