//! `berth search [--limit N] [-f k=v] [--no-trunc] [--format F] TERM`:
//! the daemon looks through the catalog of the registry the term names.

use std::io::Write;

use lexopt::prelude::*;
use serde_json::{json, Value};

use crate::commands::{add_filter, print_rows, registry_auth};
use crate::http::encode_query;

type R = anyhow::Result<i32>;
use crate::usage;

pub fn search(c: &crate::http::Client, mut p: lexopt::Parser) -> R {
    let (mut limit, mut filters, mut no_trunc, mut fmt, mut term) = (None, serde_json::Map::new(), false, None, None);
    while let Some(a) = p.next().map_err(|e| usage("search", e.to_string()))? {
        match a {
            Long("limit") => {
                let v = p.value()?.string()?;
                limit = Some(v.parse::<u32>().map_err(|_| usage("search", format!("invalid argument {v:?} for \"--limit\" flag")))?);
            }
            Short('f') | Long("filter") => add_filter(&mut filters, "search", &p.value()?.string()?)?,
            Long("no-trunc") => no_trunc = true,
            Long("format") => fmt = Some(p.value()?.string()?),
            Value(v) if term.is_none() => term = Some(v.string()?),
            Value(_) => return Err(usage("search", "\"berth search\" requires exactly 1 argument.")),
            o => return Err(usage("search", o.unexpected().to_string())),
        }
    }
    let term = term.ok_or_else(|| usage("search", "\"berth search\" requires exactly 1 argument.\n\nUsage:  berth search [OPTIONS] TERM"))?;
    let mut q = format!("/images/search?term={}", encode_query(&term));
    if let Some(n) = limit {
        q.push_str(&format!("&limit={n}"));
    }
    if !filters.is_empty() {
        q.push_str(&format!("&filters={}", encode_query(&Value::Object(filters).to_string())));
    }
    // Credentials for the registry the term names, if it names one.
    let mut headers = Vec::new();
    if let Some((host, _)) = term.split_once('/').filter(|(h, _)| oci_image::reference::looks_like_host(h)) {
        if let Some(a) = registry_auth(host) {
            headers.push(("X-Registry-Auth", a));
        }
    }
    let list = c.request("GET", &q, &headers)?.ok()?.json()?;
    let rows: Vec<Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let desc = r["description"].as_str().unwrap_or("").to_string();
            let desc = if no_trunc || desc.chars().count() <= 45 { desc } else { format!("{}…", desc.chars().take(44).collect::<String>()) };
            let official = r["is_official"].as_bool().unwrap_or(false);
            json!({
                "Name": r["name"].as_str().unwrap_or(""),
                "Description": desc,
                "StarCount": r["star_count"].as_u64().unwrap_or(0),
                "IsOfficial": if official { "[OK]" } else { "" },
                "IsAutomated": if r["is_automated"].as_bool().unwrap_or(false) { "[OK]" } else { "" },
            })
        })
        .collect();
    let header = |f: &str| match f {
        "StarCount" => "STARS".to_string(),
        "IsOfficial" => "OFFICIAL".into(),
        "IsAutomated" => "AUTOMATED".into(),
        other => other.to_uppercase(),
    };
    let mut out = std::io::stdout().lock();
    print_rows(&mut out, fmt.as_deref(), "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}", &header, &rows)?;
    out.flush()?;
    Ok(0)
}
