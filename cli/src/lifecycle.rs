//! `berth pause|unpause|rename|container prune|events`.

use std::io::{BufRead, BufReader, Write};

use lexopt::prelude::*;
use serde_json::{Map, Value};

use crate::containers::{each, names};
use crate::commands::{add_filter, confirm, print_pruned};
use crate::format::Template;
use crate::http::{encode_path, encode_query, Client};
use crate::usage;

type R = anyhow::Result<i32>;

pub fn pause(c: &Client, p: lexopt::Parser, paused: bool) -> R {
    let cmd = if paused { "pause" } else { "unpause" };
    let v = names(cmd, p, |_, _| Ok(false))?;
    each(&v, |n| {
        c.request("POST", &format!("/containers/{}/{cmd}", encode_path(n)), &[])?.ok()?;
        println!("{n}");
        Ok(())
    })
}

pub fn rename(c: &Client, mut p: lexopt::Parser) -> R {
    let mut args = Vec::new();
    while let Some(a) = p.next().map_err(|e| usage("rename", e.to_string()))? {
        match a {
            Value(v) => args.push(v.string()?),
            o => return Err(usage("rename", o.unexpected().to_string())),
        }
    }
    let [old, new] = args.as_slice() else {
        return Err(usage("rename", "\"berth rename\" requires exactly 2 arguments.\n\nUsage:  berth rename CONTAINER NEW_NAME"));
    };
    c.request("POST", &format!("/containers/{}/rename?name={}", encode_path(old), encode_query(new)), &[])?.ok()?;
    Ok(0)
}

fn filter_query(filters: &Map<String, Value>) -> String {
    format!("filters={}", encode_query(&Value::Object(filters.clone()).to_string()))
}

pub fn container_prune(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut force, mut filters) = (false, Map::new());
    while let Some(a) = p.next().map_err(|e| usage("container prune", e.to_string()))? {
        match a {
            Short('f') | Long("force") => force = true,
            Long("filter") => add_filter(&mut filters, "container prune", &p.value()?.string()?)?,
            o => return Err(usage("container prune", o.unexpected().to_string())),
        }
    }
    if !force && !confirm("all stopped containers")? {
        return Ok(0);
    }
    let path = if filters.is_empty() { "/containers/prune".to_string() } else { format!("/containers/prune?{}", filter_query(&filters)) };
    let v = c.request("POST", &path, &[])?.ok()?.json()?;
    print_pruned("Deleted Containers", v["ContainersDeleted"].as_array().map(Vec::as_slice).unwrap_or_default(), v["SpaceReclaimed"].as_u64().unwrap_or(0));
    Ok(0)
}

/// One event as docker's CLI prints it:
/// `2024-01-02T03:04:05.123456789Z container start ID (image=busybox, name=web)`.
fn event_line(e: &Value) -> String {
    let ns = e["timeNano"].as_u64().unwrap_or(0);
    let secs = (ns / 1_000_000_000) as i64;
    // rfc3339ish: "2006-01-02 15:04:05 +0000 UTC"; the date and time are its first 19 characters.
    let day_time: String = crate::commands::rfc3339ish(secs).chars().take(19).collect::<String>().replacen(' ', "T", 1);
    let t = format!("{day_time}.{:09}Z", ns % 1_000_000_000);
    let mut attrs: Vec<(String, String)> = e["Actor"]["Attributes"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()).unwrap_or_default();
    attrs.sort();
    let attrs = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
    format!("{t} {} {} {} ({attrs})", e["Type"].as_str().unwrap_or_default(), e["Action"].as_str().unwrap_or_default(), e["Actor"]["ID"].as_str().unwrap_or_default())
}

pub fn events(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut since, mut until, mut fmt, mut filters) = (None, None, None, Map::new());
    while let Some(a) = p.next().map_err(|e| usage("events", e.to_string()))? {
        match a {
            Long("since") => since = Some(p.value()?.string()?),
            Long("until") => until = Some(p.value()?.string()?),
            Long("format") => fmt = Some(p.value()?.string()?),
            Short('f') | Long("filter") => add_filter(&mut filters, "events", &p.value()?.string()?)?,
            o => return Err(usage("events", o.unexpected().to_string())),
        }
    }
    let mut q = Vec::new();
    for (k, v) in [("since", &since), ("until", &until)] {
        if let Some(v) = v {
            q.push(format!("{k}={}", encode_query(v)));
        }
    }
    if !filters.is_empty() {
        q.push(filter_query(&filters));
    }
    let path = if q.is_empty() { "/events".to_string() } else { format!("/events?{}", q.join("&")) };
    let tpl = match fmt.as_deref() {
        None => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let r = c.request("GET", &path, &[])?.ok()?;
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(r.body).lines() {
        let line = line?;
        let Ok(e) = serde_json::from_str::<Value>(&line) else { continue };
        let text = match &tpl {
            Some(t) => t.render(&e)?,
            None => event_line(&e),
        };
        writeln!(out, "{text}")?;
        out.flush()?;
    }
    Ok(0)
}
