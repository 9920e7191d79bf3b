//! `berth volume create|ls|inspect|rm|prune`, as docker's.

use std::io::Write;

use lexopt::prelude::*;
use serde_json::{json, Map, Value};

use crate::commands::{add_filter, confirm, delete_named, inspect_named, print_pruned, print_rows};
use crate::http::{encode_query, Client};
use crate::usage;

type R = anyhow::Result<i32>;

pub fn volume(c: &Client, mut p: lexopt::Parser) -> R {
    let sub = match p.next()? {
        Some(Value(v)) => v.string()?,
        _ => return Err(usage("volume", "expected a subcommand: create, ls, inspect, rm, prune")),
    };
    match sub.as_str() {
        "create" => create(c, p),
        "ls" | "list" => ls(c, p),
        "inspect" => inspect(c, p),
        "rm" | "remove" => rm(c, p),
        "prune" => prune(c, p),
        other => Err(usage("volume", format!("unknown command \"{other}\" for \"berth volume\""))),
    }
}

fn label_map(labels: &[String]) -> Map<String, Value> {
    labels.iter().map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), json!(v))).unwrap_or_else(|| (l.clone(), json!("")))).collect()
}

fn create(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut name, mut labels) = (None, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage("volume create", e.to_string()))? {
        match a {
            Long("name") => name = Some(p.value()?.string()?),
            Long("label") => labels.push(p.value()?.string()?),
            Short('d') | Long("driver") => {
                let d = p.value()?.string()?;
                if d != "local" {
                    return Err(usage("volume create", format!("volume driver {d:?} is not implemented: only local is")));
                }
            }
            Short('o') | Long("opt") => return Err(usage("volume create", "driver options (-o/--opt) of the local driver are not implemented")),
            Value(v) if name.is_none() => name = Some(v.string()?),
            Value(_) => return Err(usage("volume create", "\"berth volume create\" accepts at most 1 argument.")),
            o => return Err(usage("volume create", o.unexpected().to_string())),
        }
    }
    let body = json!({"Name": name.unwrap_or_default(), "Driver": "local", "Labels": label_map(&labels)});
    let v = c.post_json("/volumes/create", &body)?.ok()?.json()?;
    println!("{}", v["Name"].as_str().unwrap_or_default());
    Ok(0)
}

fn ls(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut quiet, mut fmt, mut filters) = (false, None, Map::new());
    while let Some(a) = p.next().map_err(|e| usage("volume ls", e.to_string()))? {
        match a {
            Short('q') | Long("quiet") => quiet = true,
            Long("format") => fmt = Some(p.value()?.string()?),
            Short('f') | Long("filter") => add_filter(&mut filters, "volume ls", &p.value()?.string()?)?,
            o => return Err(usage("volume ls", o.unexpected().to_string())),
        }
    }
    let path = if filters.is_empty() { "/volumes".to_string() } else { format!("/volumes?filters={}", encode_query(&Value::Object(filters).to_string())) };
    let v = c.request("GET", &path, &[])?.ok()?.json()?;
    let rows: Vec<Value> = v["Volumes"].as_array().cloned().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if quiet {
        for r in &rows {
            writeln!(out, "{}", r["Name"].as_str().unwrap_or_default())?;
        }
        return Ok(0);
    }
    let header = |f: &str| match f {
        "Name" => "VOLUME NAME".to_string(),
        other => other.to_uppercase(),
    };
    print_rows(&mut out, fmt.as_deref(), "table {{.Driver}}\t{{.Name}}", &header, &rows)
}

fn inspect(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut fmt, mut names) = (None, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage("volume inspect", e.to_string()))? {
        match a {
            Short('f') | Long("format") => fmt = Some(p.value()?.string()?),
            Value(v) => names.push(v.string()?),
            o => return Err(usage("volume inspect", o.unexpected().to_string())),
        }
    }
    if names.is_empty() {
        return Err(usage("volume inspect", "\"berth volume inspect\" requires at least 1 argument."));
    }
    inspect_named(c, "/volumes", &names, fmt.as_deref())
}

fn rm(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut force, mut names) = (false, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage("volume rm", e.to_string()))? {
        match a {
            Short('f') | Long("force") => force = true,
            Value(v) => names.push(v.string()?),
            o => return Err(usage("volume rm", o.unexpected().to_string())),
        }
    }
    if names.is_empty() {
        return Err(usage("volume rm", "\"berth volume rm\" requires at least 1 argument."));
    }
    delete_named(c, "/volumes", if force { "?force=1" } else { "" }, &names, &|_| false)
}

fn prune(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut force, mut all, mut filters) = (false, false, Map::new());
    while let Some(a) = p.next().map_err(|e| usage("volume prune", e.to_string()))? {
        match a {
            Short('f') | Long("force") => force = true,
            Short('a') | Long("all") => all = true,
            Long("filter") => add_filter(&mut filters, "volume prune", &p.value()?.string()?)?,
            o => return Err(usage("volume prune", o.unexpected().to_string())),
        }
    }
    let what = if all { "all local volumes not used by at least one container" } else { "all anonymous local volumes not used by at least one container" };
    if !force && !confirm(what)? {
        return Ok(0);
    }
    if all {
        filters.insert("all".into(), json!(["true"]));
    }
    let path = if filters.is_empty() { "/volumes/prune".to_string() } else { format!("/volumes/prune?filters={}", encode_query(&Value::Object(filters).to_string())) };
    let v = c.request("POST", &path, &[])?.ok()?.json()?;
    print_pruned("Deleted Volumes", v["VolumesDeleted"].as_array().map(Vec::as_slice).unwrap_or_default(), v["SpaceReclaimed"].as_u64().unwrap_or(0));
    Ok(0)
}
