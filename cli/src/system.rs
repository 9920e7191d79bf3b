//! `berth system df|info|events`. `df` adds up the daemon's `/system/df`
//! the way docker's CLI does: an image is active when a container uses it,
//! and what is reclaimable is what nothing active holds.

use std::io::Write;

use lexopt::prelude::*;
use serde_json::{json, Value};

use crate::commands::print_rows;
use crate::format::{ago, human_size, human_size_digits};
use crate::http::Client;
use crate::usage;

type R = anyhow::Result<i32>;

pub fn system(c: &Client, mut p: lexopt::Parser) -> R {
    let sub = match p.next()? {
        Some(Value(v)) => v.string()?,
        _ => return Err(usage("system", "expected a subcommand: df, info, events")),
    };
    match sub.as_str() {
        "df" => df(c, p),
        "info" => crate::commands::info(c, p),
        "events" => crate::lifecycle::events(c, p),
        other => Err(usage("system", format!("unknown command \"{other}\" for \"berth system\" (df, info, events)"))),
    }
}

fn size(n: u64) -> String {
    human_size_digits(n, 4)
}

/// "1.2MB (50%)": docker's reclaimable cell.
fn reclaimable(n: u64, total: u64) -> String {
    match (n * 100).checked_div(total) {
        Some(pct) => format!("{} ({pct}%)", size(n)),
        None => size(n),
    }
}

fn arr(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn container_active(c: &Value) -> bool {
    matches!(c["State"].as_str(), Some("running" | "paused" | "restarting"))
}

fn df(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut verbose, mut fmt) = (false, None);
    while let Some(a) = p.next().map_err(|e| usage("system df", e.to_string()))? {
        match a {
            Short('v') | Long("verbose") => verbose = true,
            Long("format") => fmt = Some(p.value()?.string()?),
            Value(v) => return Err(usage("system df", format!("\"berth system df\" accepts no arguments, got {v:?}"))),
            o => return Err(usage("system df", o.unexpected().to_string())),
        }
    }
    if verbose && fmt.is_some() {
        return Err(usage("system df", "--format is not supported together with --verbose"));
    }
    let du = c.request("GET", "/system/df", &[])?.ok()?.json()?;
    let mut out = std::io::stdout().lock();
    if verbose {
        return verbose_df(&mut out, &du);
    }
    let images = arr(&du["Images"]);
    let layers = num(&du["LayersSize"]);
    let used: u64 = images.iter().filter(|i| num(&i["Containers"]) > 0).map(|i| num(&i["Size"]).saturating_sub(num(&i["SharedSize"]))).sum();
    let containers = arr(&du["Containers"]);
    let rw: u64 = containers.iter().map(|c| num(&c["SizeRw"])).sum();
    let rw_idle: u64 = containers.iter().filter(|c| !container_active(c)).map(|c| num(&c["SizeRw"])).sum();
    let volumes = arr(&du["Volumes"]);
    let vol_size: u64 = volumes.iter().map(|v| num(&v["UsageData"]["Size"])).sum();
    let vol_idle: u64 = volumes.iter().filter(|v| num(&v["UsageData"]["RefCount"]) == 0).map(|v| num(&v["UsageData"]["Size"])).sum();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len(), "Active": images.iter().filter(|i| num(&i["Containers"]) > 0).count(), "Size": size(layers), "Reclaimable": reclaimable(layers.saturating_sub(used), layers)}),
        json!({"Type": "Containers", "TotalCount": containers.len(), "Active": containers.iter().filter(|c| container_active(c)).count(), "Size": size(rw), "Reclaimable": reclaimable(rw_idle, rw)}),
        json!({"Type": "Local Volumes", "TotalCount": volumes.len(), "Active": volumes.iter().filter(|v| num(&v["UsageData"]["RefCount"]) > 0).count(), "Size": size(vol_size), "Reclaimable": reclaimable(vol_idle, vol_size)}),
        json!({"Type": "Build Cache", "TotalCount": 0, "Active": 0, "Size": size(0), "Reclaimable": size(0)}),
    ];
    let header = |f: &str| match f {
        "TotalCount" => "TOTAL".to_string(),
        other => other.to_uppercase(),
    };
    print_rows(&mut out, fmt.as_deref(), "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", &header, &rows)
}

/// `-v`: one table per kind, as docker prints them.
fn verbose_df(out: &mut dyn Write, du: &Value) -> R {
    let upper = |f: &str| -> String {
        match f {
            "SharedSize" => "SHARED SIZE".into(),
            "UniqueSize" => "UNIQUE SIZE".into(),
            "ID" => "IMAGE ID".into(),
            "CreatedSince" => "CREATED".into(),
            other => other.to_uppercase(),
        }
    };
    let mut images = Vec::new();
    for i in arr(&du["Images"]) {
        let id: String = i["Id"].as_str().unwrap_or("").trim_start_matches("sha256:").chars().take(12).collect();
        let (sz, shared) = (num(&i["Size"]), num(&i["SharedSize"]));
        let fields = |repo: &str, tag: &str| {
            json!({"Repository": repo, "Tag": tag, "ID": id, "CreatedSince": ago(i["Created"].as_i64().unwrap_or(0)), "Size": human_size(sz), "SharedSize": human_size(shared), "UniqueSize": human_size(sz.saturating_sub(shared)), "Containers": num(&i["Containers"])})
        };
        let tags: Vec<String> = arr(&i["RepoTags"]).iter().filter_map(|t| t.as_str().map(str::to_string)).collect();
        if tags.is_empty() {
            images.push(fields("<none>", "<none>"));
        }
        for t in tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t.as_str(), ""));
            images.push(fields(repo, tag));
        }
    }
    writeln!(out, "Images space usage:\n")?;
    print_rows(out, None, "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}", &upper, &images)?;

    let containers: Vec<Value> = arr(&du["Containers"])
        .iter()
        .map(|c| {
            let names: Vec<String> = arr(&c["Names"]).iter().filter_map(|n| n.as_str()).map(|n| n.trim_start_matches('/').to_string()).collect();
            let cmd = c["Command"].as_str().unwrap_or("");
            let cmd = if cmd.chars().count() > 20 { format!("{}…", cmd.chars().take(19).collect::<String>()) } else { cmd.to_string() };
            json!({
                "ID": c["Id"].as_str().unwrap_or("").chars().take(12).collect::<String>(),
                "Image": c["Image"],
                "Command": format!("\"{cmd}\""),
                "LocalVolumes": arr(&c["Mounts"]).iter().filter(|m| m["Type"] == "volume").count(),
                "Size": human_size(num(&c["SizeRw"])),
                "RunningFor": ago(c["Created"].as_i64().unwrap_or(0)),
                "Status": c["Status"],
                "Names": names.join(","),
            })
        })
        .collect();
    let cheader = |f: &str| -> String {
        match f {
            "ID" => "CONTAINER ID".into(),
            "LocalVolumes" => "LOCAL VOLUMES".into(),
            "RunningFor" => "CREATED".into(),
            other => other.to_uppercase(),
        }
    };
    writeln!(out, "\nContainers space usage:\n")?;
    print_rows(out, None, "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}", &cheader, &containers)?;

    let volumes: Vec<Value> = arr(&du["Volumes"]).iter().map(|v| json!({"Name": v["Name"], "Links": num(&v["UsageData"]["RefCount"]), "Size": human_size(num(&v["UsageData"]["Size"]))})).collect();
    let vheader = |f: &str| -> String { if f == "Name" { "VOLUME NAME".into() } else { f.to_uppercase() } };
    writeln!(out, "\nLocal Volumes space usage:\n")?;
    print_rows(out, None, "table {{.Name}}\t{{.Links}}\t{{.Size}}", &vheader, &volumes)?;
    writeln!(out, "\nBuild cache usage: 0B")?;
    Ok(0)
}
