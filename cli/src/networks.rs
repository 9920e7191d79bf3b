//! `berth network create|ls|inspect|rm|prune|connect|disconnect`, as docker's.

use std::io::Write;

use lexopt::prelude::*;
use serde_json::{json, Map, Value};

use crate::commands::{add_filter, confirm, delete_named, inspect_named, print_rows};
use crate::http::{encode_path, encode_query, Client};
use crate::usage;

type R = anyhow::Result<i32>;

pub fn network(c: &Client, mut p: lexopt::Parser) -> R {
    let sub = match p.next()? {
        Some(Value(v)) => v.string()?,
        _ => return Err(usage("network", "expected a subcommand: create, ls, inspect, rm, prune, connect, disconnect")),
    };
    match sub.as_str() {
        "create" => create(c, p),
        "ls" | "list" => ls(c, p),
        "inspect" => inspect(c, p),
        "rm" | "remove" => rm(c, p),
        "prune" => prune(c, p),
        "connect" => connect(c, p, true),
        "disconnect" => connect(c, p, false),
        other => Err(usage("network", format!("unknown command \"{other}\" for \"berth network\""))),
    }
}

fn kv(list: &[String]) -> Map<String, Value> {
    list.iter().map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), json!(v))).unwrap_or_else(|| (l.clone(), json!("")))).collect()
}

fn create(c: &Client, mut p: lexopt::Parser) -> R {
    let cmd = "network create";
    let (mut name, mut driver, mut internal) = (None, "bridge".to_string(), false);
    let (mut subnet, mut gateway, mut range) = (None::<String>, None::<String>, None::<String>);
    let (mut labels, mut opts) = (Vec::new(), Vec::new());
    let val = |p: &mut lexopt::Parser| -> anyhow::Result<String> { Ok(p.value().map_err(|e| usage(cmd, e.to_string()))?.string()?) };
    while let Some(a) = p.next().map_err(|e| usage(cmd, e.to_string()))? {
        match a {
            Short('d') | Long("driver") => driver = val(&mut p)?,
            Long("subnet") if subnet.is_none() => subnet = Some(val(&mut p)?),
            Long("gateway") if gateway.is_none() => gateway = Some(val(&mut p)?),
            Long("ip-range") if range.is_none() => range = Some(val(&mut p)?),
            Long("subnet") | Long("gateway") | Long("ip-range") => return Err(usage(cmd, "one --subnet, --gateway and --ip-range per network: berth's networks have one IPv4 pool")),
            Long("internal") => internal = true,
            Long("label") => labels.push(val(&mut p)?),
            Short('o') | Long("opt") => opts.push(val(&mut p)?),
            Long("ipam-driver") => {
                let d = val(&mut p)?;
                if d != "default" {
                    return Err(usage(cmd, format!("IPAM driver {d:?} is not supported: only default")));
                }
            }
            Long("ipv6") => return Err(usage(cmd, "--ipv6: berth's networks are IPv4 only")),
            Long("attachable") | Long("ingress") | Long("config-only") | Long("config-from") | Long("aux-address") | Long("ipam-opt") | Long("scope") => {
                return Err(usage(cmd, format!("{} is not supported (swarm and IPAM-driver options)", a.unexpected())))
            }
            Value(v) if name.is_none() => name = Some(v.string()?),
            Value(_) => return Err(usage(cmd, "\"berth network create\" requires exactly 1 argument.")),
            o => return Err(usage(cmd, o.unexpected().to_string())),
        }
    }
    let Some(name) = name else { return Err(usage(cmd, "\"berth network create\" requires exactly 1 argument.\n\nUsage:  berth network create [OPTIONS] NETWORK")) };
    let mut ipam = json!({"Driver": "default", "Config": []});
    if subnet.is_some() || gateway.is_some() || range.is_some() {
        let mut cfg = json!({});
        for (k, v) in [("Subnet", &subnet), ("Gateway", &gateway), ("IPRange", &range)] {
            if let Some(v) = v {
                cfg[k] = json!(v);
            }
        }
        ipam["Config"] = json!([cfg]);
    }
    let body = json!({"Name": name, "Driver": driver, "Internal": internal, "IPAM": ipam, "Labels": kv(&labels), "Options": kv(&opts)});
    let v = c.post_json("/networks/create", &body)?.ok()?.json()?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(0)
}

fn ls(c: &Client, mut p: lexopt::Parser) -> R {
    let cmd = "network ls";
    let (mut quiet, mut no_trunc, mut fmt, mut filters) = (false, false, None, Map::new());
    while let Some(a) = p.next().map_err(|e| usage(cmd, e.to_string()))? {
        match a {
            Short('q') | Long("quiet") => quiet = true,
            Long("no-trunc") => no_trunc = true,
            Long("format") => fmt = Some(p.value()?.string()?),
            Short('f') | Long("filter") => add_filter(&mut filters, cmd, &p.value()?.string()?)?,
            o => return Err(usage(cmd, o.unexpected().to_string())),
        }
    }
    let path = if filters.is_empty() { "/networks".to_string() } else { format!("/networks?filters={}", encode_query(&Value::Object(filters).to_string())) };
    let v = c.request("GET", &path, &[])?.ok()?.json()?;
    let mut nets: Vec<Value> = v.as_array().cloned().unwrap_or_default();
    nets.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    let rows: Vec<Value> = nets
        .iter()
        .map(|n| {
            let id = n["Id"].as_str().unwrap_or_default();
            let labels = n["Labels"].as_object().map(|l| l.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")).unwrap_or_default();
            json!({
                "ID": if no_trunc { id } else { &id[..12.min(id.len())] },
                "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
                "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
                "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                "Labels": labels, "CreatedAt": n["Created"],
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if quiet {
        for r in &rows {
            writeln!(out, "{}", r["ID"].as_str().unwrap_or_default())?;
        }
        return Ok(0);
    }
    let header = |f: &str| match f {
        "ID" => "NETWORK ID".to_string(),
        "CreatedAt" => "CREATED AT".to_string(),
        other => other.to_uppercase(),
    };
    print_rows(&mut out, fmt.as_deref(), "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", &header, &rows)
}

fn inspect(c: &Client, mut p: lexopt::Parser) -> R {
    let cmd = "network inspect";
    let (mut fmt, mut names) = (None, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage(cmd, e.to_string()))? {
        match a {
            Short('f') | Long("format") => fmt = Some(p.value()?.string()?),
            Short('v') | Long("verbose") => return Err(usage(cmd, "--verbose is for swarm networks: not supported")),
            Value(v) => names.push(v.string()?),
            o => return Err(usage(cmd, o.unexpected().to_string())),
        }
    }
    if names.is_empty() {
        return Err(usage(cmd, "\"berth network inspect\" requires at least 1 argument."));
    }
    inspect_named(c, "/networks", &names, fmt.as_deref())
}

fn rm(c: &Client, mut p: lexopt::Parser) -> R {
    let cmd = "network rm";
    let (mut force, mut names) = (false, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage(cmd, e.to_string()))? {
        match a {
            Short('f') | Long("force") => force = true,
            Value(v) => names.push(v.string()?),
            o => return Err(usage(cmd, o.unexpected().to_string())),
        }
    }
    if names.is_empty() {
        return Err(usage(cmd, "\"berth network rm\" requires at least 1 argument."));
    }
    // docker's -f: a network that does not exist is not an error.
    delete_named(c, "/networks", "", &names, &|m| force && m.contains("not found"))
}

fn prune(c: &Client, mut p: lexopt::Parser) -> R {
    let cmd = "network prune";
    let (mut force, mut filters) = (false, Map::new());
    while let Some(a) = p.next().map_err(|e| usage(cmd, e.to_string()))? {
        match a {
            Short('f') | Long("force") => force = true,
            Long("filter") => add_filter(&mut filters, cmd, &p.value()?.string()?)?,
            o => return Err(usage(cmd, o.unexpected().to_string())),
        }
    }
    if !force && !confirm("all custom networks not used by at least one container")? {
        return Ok(0);
    }
    let path = if filters.is_empty() { "/networks/prune".to_string() } else { format!("/networks/prune?filters={}", encode_query(&Value::Object(filters).to_string())) };
    let v = c.request("POST", &path, &[])?.ok()?.json()?;
    let gone = v["NetworksDeleted"].as_array().cloned().unwrap_or_default();
    if !gone.is_empty() {
        println!("Deleted Networks:");
        for n in gone {
            println!("{}", n.as_str().unwrap_or_default());
        }
    }
    Ok(0)
}

fn connect(c: &Client, mut p: lexopt::Parser, on: bool) -> R {
    let cmd = if on { "network connect" } else { "network disconnect" };
    let (mut aliases, mut ip, mut force, mut args) = (Vec::new(), None, false, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage(cmd, e.to_string()))? {
        match a {
            Long("alias") if on => aliases.push(p.value()?.string()?),
            Long("ip") if on => {
                let v = p.value()?.string()?;
                v.parse::<std::net::Ipv4Addr>().map_err(|_| usage(cmd, format!("invalid argument {v:?} for \"--ip\" flag")))?;
                ip = Some(v);
            }
            Short('f') | Long("force") if !on => force = true,
            Long("ip6") | Long("link") | Long("link-local-ip") | Long("driver-opt") if on => return Err(usage(cmd, format!("{} is not supported", a.unexpected()))),
            Value(v) => args.push(v.string()?),
            o => return Err(usage(cmd, o.unexpected().to_string())),
        }
    }
    let [net, ctr] = args.as_slice() else {
        return Err(usage(cmd, format!("\"berth {cmd}\" requires exactly 2 arguments.\n\nUsage:  berth {cmd} [OPTIONS] NETWORK CONTAINER")));
    };
    let body = if on {
        let mut ep = json!({});
        if !aliases.is_empty() {
            ep["Aliases"] = json!(aliases);
        }
        if let Some(ip) = ip {
            ep["IPAMConfig"] = json!({"IPv4Address": ip});
        }
        json!({"Container": ctr, "EndpointConfig": ep})
    } else {
        json!({"Container": ctr, "Force": force})
    };
    c.post_json(&format!("/networks/{}/{}", encode_path(net), if on { "connect" } else { "disconnect" }), &body)?.ok()?;
    Ok(0)
}
