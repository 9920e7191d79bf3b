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

fn port_range(s: &str) -> Result<(u16, u16), String> {
    let one = |x: &str| x.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port {x:?}"));
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("invalid range {s:?}"));
            }
            Ok((a, b))
        }
        None => one(s).map(|p| (p, p)),
    }
}

/// `-p [ip:][hostPort:]containerPort[/proto]` values → HostConfig.PortBindings,
/// as docker's CLI builds it: ranges of equal length are paired port by
/// port, a host range for one container port is left to the daemon to pick
/// from, and a container range alone gets an ephemeral port each.
pub fn port_bindings(specs: &[String]) -> Result<Value, String> {
    let mut m = serde_json::Map::new();
    for s in specs {
        let (addr, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
        if proto != "tcp" && proto != "udp" {
            return Err(format!("invalid protocol {proto:?}: tcp or udp"));
        }
        // An IPv6 host address comes in brackets: [::1]:80:80.
        let (ip, rest) = match addr.strip_prefix('[') {
            Some(r) => {
                let (ip, r) = r.split_once("]:").ok_or("unclosed [ in the host address")?;
                (ip, r)
            }
            None => ("", addr),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, hp, cp) = match (ip, parts.as_slice()) {
            ("", [cp]) => ("", "", *cp),
            ("", [hp, cp]) => ("", *hp, *cp),
            ("", [ip, hp, cp]) => (*ip, *hp, *cp),
            (ip, [hp, cp]) => (ip, *hp, *cp),
            _ => return Err("want [ip:][hostPort:]containerPort[/proto]".into()),
        };
        if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("invalid IP address {ip:?}"));
        }
        let (c0, c1) = port_range(cp)?;
        let host: Vec<String> = if hp.is_empty() {
            vec![String::new(); (c1 - c0 + 1) as usize]
        } else {
            let (h0, h1) = port_range(hp)?;
            if c0 == c1 && h0 != h1 {
                vec![format!("{h0}-{h1}")]
            } else if h1 - h0 != c1 - c0 {
                return Err(format!("the ranges {hp} and {cp} differ in length"));
            } else {
                (h0..=h1).map(|h| h.to_string()).collect()
            }
        };
        for (i, hp) in host.into_iter().enumerate() {
            let e = m.entry(format!("{}/{proto}", c0 + i as u16)).or_insert_with(|| json!([]));
            if let Some(a) = e.as_array_mut() {
                a.push(json!({"HostIp": ip, "HostPort": hp}));
            }
        }
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs() {
        let v = port_bindings(&["8080:80".into(), "127.0.0.1:53:53/udp".into(), "9000".into()]).unwrap();
        assert_eq!(v["80/tcp"][0], json!({"HostIp": "", "HostPort": "8080"}));
        assert_eq!(v["53/udp"][0], json!({"HostIp": "127.0.0.1", "HostPort": "53"}));
        assert_eq!(v["9000/tcp"][0], json!({"HostIp": "", "HostPort": ""}));
        let v = port_bindings(&["8000-8001:80-81".into(), "127.0.0.1::90".into(), "7000-7010:70".into(), "60-61/udp".into(), "[::1]:5:5".into()]).unwrap();
        assert_eq!(v["81/tcp"][0]["HostPort"], "8001");
        assert_eq!(v["90/tcp"][0], json!({"HostIp": "127.0.0.1", "HostPort": ""}));
        assert_eq!(v["70/tcp"][0]["HostPort"], "7000-7010");
        assert_eq!(v["61/udp"][0]["HostPort"], "");
        assert_eq!(v["5/tcp"][0]["HostIp"], "::1");
        assert!(port_bindings(&["8000-8002:80-81".into()]).is_err());
        assert!(port_bindings(&["x:80".into()]).is_err());
        assert!(port_bindings(&["80/sctp".into()]).is_err());
        assert!(port_bindings(&["nope:1:80".into()]).is_err());
    }
}
