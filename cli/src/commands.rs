//! One function per command: parse its flags, call the API, print as docker does.

use std::io::{BufRead, IsTerminal, Write};

use base64::Engine as _;
use lexopt::prelude::*;
use oci_image::Reference;
use serde_json::{json, Value};

use crate::format::{ago, human_duration, human_size, now, tabwrite, Template};
use crate::http::{encode_path, encode_query, Client, Error as HttpError};
use crate::usage;

type R = anyhow::Result<i32>;

fn no_args(cmd: &str, mut p: lexopt::Parser) -> anyhow::Result<()> {
    match p.next().map_err(|e| usage(cmd, e.to_string()))? {
        None => Ok(()),
        Some(Value(v)) => Err(usage(cmd, format!("\"berth {cmd}\" accepts no arguments, got {:?}", v))),
        Some(o) => Err(usage(cmd, o.unexpected().to_string())),
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub fn version(c: &Client, p: lexopt::Parser) -> R {
    no_args("version", p)?;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    println!("Client:\n Version:           {}\n API version:       1.47\n OS/Arch:           linux/{arch}\n", env!("CARGO_PKG_VERSION"));
    let v = c.request("GET", "/version", &[])?.ok()?.json()?;
    println!(
        "Server: berth\n Engine:\n  Version:          {}\n  API version:      {} (minimum version {})\n  OS/Arch:          {}/{}\n  Kernel Version:   {}",
        s(&v, "Version"),
        s(&v, "ApiVersion"),
        s(&v, "MinAPIVersion"),
        s(&v, "Os"),
        s(&v, "Arch"),
        s(&v, "KernelVersion")
    );
    Ok(0)
}

pub fn info(c: &Client, mut p: lexopt::Parser) -> R {
    let mut fmt = None;
    while let Some(a) = p.next().map_err(|e| usage("info", e.to_string()))? {
        match a {
            Short('f') | Long("format") => fmt = Some(p.value()?.string()?),
            o => return Err(usage("info", o.unexpected().to_string())),
        }
    }
    let v = c.request("GET", "/info", &[])?.ok()?.json()?;
    if let Some(f) = fmt {
        let f = if f == "json" { "{{json .}}".to_string() } else { f };
        println!("{}", Template::parse(&f)?.render(&v)?);
        return Ok(0);
    }
    let list = |k: &str| -> Vec<String> { v["RegistryConfig"][k].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default() };
    println!("Client:\n Version:    {}\n\nServer:", env!("CARGO_PKG_VERSION"));
    println!(" Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}", v["Containers"], v["ContainersRunning"], v["ContainersPaused"], v["ContainersStopped"]);
    println!(" Images: {}\n Server Version: {}\n Storage Driver: {}\n Cgroup Driver: {}\n Cgroup Version: {}", v["Images"], s(&v, "ServerVersion"), s(&v, "Driver"), s(&v, "CgroupDriver"), s(&v, "CgroupVersion"));
    println!(" Default Runtime: {}\n Kernel Version: {}\n Operating System: {}\n OSType: {}\n Architecture: {}", s(&v, "DefaultRuntime"), s(&v, "KernelVersion"), s(&v, "OperatingSystem"), s(&v, "OSType"), s(&v, "Architecture"));
    println!(" CPUs: {}\n Total Memory: {}\n Name: {}\n ID: {}\n Docker Root Dir: {}\n Debug Mode: {}", v["NCPU"], human_mem(v["MemTotal"].as_u64().unwrap_or(0)), s(&v, "Name"), s(&v, "ID"), s(&v, "DockerRootDir"), v["Debug"]);
    let insecure: Vec<String> = list("InsecureRegistryCIDRs").into_iter().chain(list("InsecureRegistries")).collect();
    println!(" Insecure Registries:");
    for i in insecure {
        println!("  {i}");
    }
    let mirrors = list("Mirrors");
    if !mirrors.is_empty() {
        println!(" Registry Mirrors:");
        for m in mirrors {
            println!("  {m}/");
        }
    }
    if let Some(w) = v["Warnings"].as_array() {
        for w in w.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
    Ok(0)
}

fn human_mem(n: u64) -> String {
    let g = n as f64 / (1u64 << 30) as f64;
    format!("{g:.2}GiB")
}

/// `X-Registry-Auth` from `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub(crate) fn registry_auth(domain: &str) -> Option<String> {
    let cfg: Value = serde_json::from_slice(&std::fs::read(crate::login::config_path()?).ok()?).ok()?;
    let auths = cfg.get("auths")?.as_object()?;
    let mut keys = vec![domain.to_string(), format!("https://{domain}"), format!("http://{domain}")];
    if domain == "docker.io" {
        keys.insert(0, "https://index.docker.io/v1/".into());
    }
    let auth = keys.iter().find_map(|k| auths.get(k)).and_then(|e| e.get("auth")).and_then(Value::as_str)?;
    let body = json!({"auth": auth, "serveraddress": domain}).to_string();
    Some(base64::engine::general_purpose::URL_SAFE.encode(body))
}

pub fn pull(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut platform, mut quiet, mut name, mut all) = (None, false, None, false);
    while let Some(a) = p.next().map_err(|e| usage("pull", e.to_string()))? {
        match a {
            Long("platform") => platform = Some(p.value()?.string()?),
            Short('q') | Long("quiet") => quiet = true,
            Short('a') | Long("all-tags") => all = true,
            Value(v) if name.is_none() => name = Some(v.string()?),
            Value(v) => return Err(usage("pull", format!("\"berth pull\" requires exactly 1 argument, got also {v:?}"))),
            o => return Err(usage("pull", o.unexpected().to_string())),
        }
    }
    let name = name.ok_or_else(|| usage("pull", "\"berth pull\" requires exactly 1 argument.\n\nUsage:  berth pull [OPTIONS] NAME[:TAG|@DIGEST]"))?;
    let (mut out, tty) = (std::io::stdout().lock(), std::io::stdout().is_terminal());
    if !all {
        return pull_named(c, &name, platform.as_deref(), quiet, &mut out, tty);
    }
    // Every tag: the API's create without a tag, as docker's CLI asks it.
    let r = Reference::parse_name_only(&name).map_err(|e| anyhow::anyhow!("{e}"))?;
    if r.tag().is_some() || r.digest().is_some() {
        return Err(usage("pull", "tag can't be used with --all-tags/-a"));
    }
    let mut q = format!("/images/create?fromImage={}", encode_query(&r.repository()));
    if let Some(pl) = &platform {
        q.push_str(&format!("&platform={}", encode_query(pl)));
    }
    stream_pull(c, &q, r.domain(), quiet, &mut out, tty)?;
    writeln!(out, "{}", r.repository())?;
    Ok(0)
}

/// Sends a pull and shows its progress stream until it ends.
fn stream_pull(c: &Client, q: &str, domain: &str, quiet: bool, out: &mut dyn Write, tty: bool) -> anyhow::Result<()> {
    let mut headers = Vec::new();
    if let Some(a) = registry_auth(domain) {
        headers.push(("X-Registry-Auth", a));
    }
    let resp = c.request("POST", q, &headers)?.ok()?;
    let mut shown = crate::progress::Display::new(out, tty);
    json_messages(resp, &mut |m| {
        if !quiet {
            shown.message(m)?;
        }
        Ok(())
    })
}

/// Reads a streamed JSON-lines answer (pull progress, import), handing each
/// message to `f`; a message with `error` ends it as the daemon's error.
pub fn json_messages(resp: crate::http::Response, f: &mut dyn FnMut(&Value) -> anyhow::Result<()>) -> anyhow::Result<()> {
    for line in resp.body.lines() {
        let line = line.map_err(HttpError::Io)?;
        if line.trim().is_empty() {
            continue;
        }
        let m: Value = serde_json::from_str(&line).map_err(|e| HttpError::Protocol(format!("{e}: {line}")))?;
        if let Some(e) = m.get("error").and_then(Value::as_str) {
            return Err(HttpError::Daemon(e.to_string()).into());
        }
        f(&m)?;
    }
    Ok(())
}

/// Pulls `name`, printing progress lines (not progress ticks) to `out`.
/// `tty`: `out` is a terminal, so layers get progress bars.
pub fn pull_named(c: &Client, name: &str, platform: Option<&str>, quiet: bool, out: &mut dyn Write, tty: bool) -> R {
    let r = Reference::parse(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (from, tag) = match (r.digest(), r.tag()) {
        (Some(d), _) => (r.repository(), d.to_string()),
        (None, Some(t)) => (r.repository(), t.to_string()),
        (None, None) => (r.repository(), "latest".to_string()),
    };
    let mut q = format!("/images/create?fromImage={}&tag={}", encode_query(&from), encode_query(&tag));
    if let Some(pl) = platform {
        q.push_str(&format!("&platform={}", encode_query(pl)));
    }
    stream_pull(c, &q, r.domain(), quiet, out, tty)?;
    let full = if r.digest().is_some() { r.to_string() } else { format!("{}:{tag}", r.repository()) };
    writeln!(out, "{full}")?;
    Ok(0)
}

/// `berth push [-q] [-a] NAME[:TAG]`: the daemon pushes from its store; the
/// credentials for the registry go along in `X-Registry-Auth`.
pub fn push(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut quiet, mut all, mut name, mut platform) = (false, false, None, None);
    while let Some(a) = p.next().map_err(|e| usage("push", e.to_string()))? {
        match a {
            Short('q') | Long("quiet") => quiet = true,
            Short('a') | Long("all-tags") => all = true,
            Long("platform") => platform = Some(p.value()?.string()?),
            Value(v) if name.is_none() => name = Some(v.string()?),
            Value(v) => return Err(usage("push", format!("\"berth push\" requires exactly 1 argument, got also {v:?}"))),
            o => return Err(usage("push", o.unexpected().to_string())),
        }
    }
    let name = name.ok_or_else(|| usage("push", "\"berth push\" requires exactly 1 argument.\n\nUsage:  berth push [OPTIONS] NAME[:TAG]"))?;
    let r = Reference::parse_name_only(&name).map_err(|e| anyhow::anyhow!("{e}"))?;
    if r.digest().is_some() {
        anyhow::bail!("cannot push a digest reference");
    }
    if all && r.tag().is_some() {
        return Err(usage("push", "tag can't be used with --all-tags/-a"));
    }
    // Without -a and without a tag, docker pushes `latest`.
    let tag = if all { String::new() } else { r.tag().unwrap_or("latest").to_string() };
    let mut path = format!("/images/{}/push?tag={}", encode_path(&r.repository()), encode_query(&tag));
    if let Some(pl) = &platform {
        path.push_str(&format!("&platform={}", encode_query(pl)));
    }
    // The API requires the header: docker sends an empty auth when it has none.
    let headers = vec![("X-Registry-Auth", registry_auth(r.domain()).unwrap_or_else(|| base64::engine::general_purpose::URL_SAFE.encode("{}")))];
    let resp = c.request("POST", &path, &headers)?.ok()?;
    let mut out = std::io::stdout().lock();
    let tty = std::io::stdout().is_terminal();
    {
        let mut shown = crate::progress::Display::new(&mut out, tty);
        json_messages(resp, &mut |m| {
            if !quiet && m.get("aux").is_none() {
                shown.message(m)?;
            }
            Ok(())
        })?;
    }
    if quiet {
        writeln!(out, "{}", if all { r.familiar_repository() } else { format!("{}:{tag}", r.familiar_repository()) })?;
    }
    Ok(0)
}

/// The rows of `berth images`: one per tag, with the digest of the same
/// repository; a repository known only by digest (pulled by digest) gets a
/// `<none>` tag row; an image with no name at all is `<none> <none>`.
fn image_rows(list: &Value, no_trunc: bool) -> Vec<Value> {
    let split = |name: &str, sep: char| -> (String, String) {
        match name.rsplit_once(sep) {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (name.to_string(), "<none>".to_string()),
        }
    };
    let mut rows = Vec::new();
    for img in list.as_array().into_iter().flatten() {
        let id = s(img, "Id");
        let id = if no_trunc { id.to_string() } else { id.trim_start_matches("sha256:").chars().take(12).collect() };
        let created = img["Created"].as_i64().unwrap_or(0);
        let size = img["Size"].as_u64().unwrap_or(0);
        let names = |k: &str| -> Vec<String> { img[k].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect() };
        let tags: Vec<(String, String)> = names("RepoTags").iter().map(|t| split(t, ':')).collect();
        let digests: Vec<(String, String)> = names("RepoDigests").iter().map(|d| split(d, '@')).collect();
        let digest_of = |repo: &str| digests.iter().find(|(r, _)| r == repo).map(|(_, d)| d.clone()).unwrap_or_else(|| "<none>".into());
        let mut named: Vec<(String, String, String)> = tags.iter().map(|(r, t)| (r.clone(), t.clone(), digest_of(r))).collect();
        for (r, d) in &digests {
            if !tags.iter().any(|(tr, _)| tr == r) {
                named.push((r.clone(), "<none>".into(), d.clone()));
            }
        }
        if named.is_empty() {
            named.push(("<none>".into(), "<none>".into(), "<none>".into()));
        }
        for (repo, tag, digest) in named {
            rows.push(json!({
                "Containers": "N/A",
                "CreatedAt": rfc3339ish(created),
                "CreatedSince": ago(created),
                "Digest": digest,
                "ID": id,
                "Repository": repo,
                "SharedSize": "N/A",
                "Size": human_size(size),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(size),
            }));
        }
    }
    rows
}

/// `-f key=value` flags as the API's `filters` JSON (`{"key":["value",...]}`).
fn filters_json(pairs: &[(String, String)]) -> String {
    let mut m = serde_json::Map::new();
    for (k, v) in pairs {
        if let Some(a) = m.entry(k.clone()).or_insert_with(|| json!([])).as_array_mut() {
            a.push(json!(v));
        }
    }
    Value::Object(m).to_string()
}

fn filter_arg(cmd: &str, v: String) -> anyhow::Result<(String, String)> {
    match v.split_once('=') {
        // `label!=k=v` is the key `label!`.
        Some((k, val)) if !k.is_empty() => Ok((k.to_string(), val.to_string())),
        _ => Err(usage(cmd, format!("bad format of filter (expected name=value): {v}"))),
    }
}

pub fn rfc3339ish(secs: i64) -> String {
    // Days to civil date (Howard Hinnant's algorithm), for CreatedAt.
    let z = secs.div_euclid(86400) + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let t = secs.rem_euclid(86400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC", t / 3600, t / 60 % 60, t % 60)
}

pub fn images(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut quiet, mut no_trunc, mut digests, mut fmt, mut reference, mut filters) = (false, false, false, None, None, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage("images", e.to_string()))? {
        match a {
            Short('q') | Long("quiet") => quiet = true,
            Long("no-trunc") => no_trunc = true,
            Long("digests") => digests = true,
            Short('a') | Long("all") => {} // no intermediate images exist: -a lists the same
            Short('f') | Long("filter") => filters.push(filter_arg("images", p.value()?.string()?)?),
            Long("format") => fmt = Some(p.value()?.string()?),
            Value(v) if reference.is_none() => reference = Some(v.string()?),
            Value(_) => return Err(usage("images", "\"berth images\" accepts at most 1 argument.")),
            o => return Err(usage("images", o.unexpected().to_string())),
        }
    }
    if let Some(r) = reference {
        filters.push(("reference".into(), r));
    }
    let path = if filters.is_empty() { "/images/json".to_string() } else { format!("/images/json?filters={}", encode_query(&filters_json(&filters))) };
    let list = c.request("GET", &path, &[])?.ok()?.json()?;
    let rows = image_rows(&list, no_trunc);
    let mut out = std::io::stdout().lock();
    if quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            if seen.insert(s(r, "ID").to_string()) {
                writeln!(out, "{}", s(r, "ID"))?;
            }
        }
        return Ok(0);
    }
    let header = |f: &str| match f {
        "ID" => "IMAGE ID".to_string(),
        "CreatedSince" | "CreatedAt" => "CREATED".into(),
        other => other.to_uppercase(),
    };
    let default = if digests { "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}" } else { "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}" };
    print_rows(&mut out, fmt.as_deref(), default, &header, &rows)
}

/// `berth image prune [-a] [-f] [--filter k=v]`: dangling images (every
/// image no container uses, with -a), after a confirmation unless -f.
pub fn prune(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut all, mut force, mut filters) = (false, false, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage("image prune", e.to_string()))? {
        match a {
            Short('a') | Long("all") => all = true,
            Short('f') | Long("force") => force = true,
            Long("filter") => filters.push(filter_arg("image prune", p.value()?.string()?)?),
            Value(v) => return Err(usage("image prune", format!("\"berth image prune\" accepts no arguments, got {v:?}"))),
            o => return Err(usage("image prune", o.unexpected().to_string())),
        }
    }
    if !force {
        let what = if all { "all images without at least one container associated to them" } else { "all dangling images" };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes" | "Yes") {
            println!();
            return Ok(0);
        }
    }
    filters.retain(|(k, _)| k != "dangling");
    filters.push(("dangling".into(), if all { "false" } else { "true" }.into()));
    let v = c.request("POST", &format!("/images/prune?filters={}", encode_query(&filters_json(&filters))), &[])?.ok()?.json()?;
    let items = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for i in &items {
            if let Some(u) = i.get("Untagged").and_then(Value::as_str) {
                println!("untagged: {u}");
            }
            if let Some(d) = i.get("Deleted").and_then(Value::as_str) {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(v["SpaceReclaimed"].as_u64().unwrap_or(0)));
    Ok(0)
}

/// Rows through `--format` (a Go-style template, `table ...` with headers, or
/// `json`), or through the command's default table.
pub fn print_rows(out: &mut dyn Write, fmt: Option<&str>, default: &str, header: &dyn Fn(&str) -> String, rows: &[Value]) -> R {
    let tpl = match fmt {
        None | Some("table") => default.to_string(),
        Some("json") => "{{json .}}".to_string(),
        Some(f) => f.to_string(),
    };
    let t = Template::parse(&tpl)?;
    let mut lines = Vec::new();
    if t.table {
        lines.push(t.header(header));
    }
    for r in rows {
        lines.push(t.render(r)?);
    }
    if t.table {
        write!(out, "{}", tabwrite(&lines))?;
    } else {
        for l in lines {
            writeln!(out, "{l}")?;
        }
    }
    Ok(0)
}

pub fn inspect(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut fmt, mut names) = (None, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage("image inspect", e.to_string()))? {
        match a {
            Short('f') | Long("format") => fmt = Some(p.value()?.string()?),
            Value(v) => names.push(v.string()?),
            o => return Err(usage("image inspect", o.unexpected().to_string())),
        }
    }
    if names.is_empty() {
        return Err(usage("image inspect", "\"berth image inspect\" requires at least 1 argument."));
    }
    let t = fmt.as_deref().map(|f| if f == "json" { "{{json .}}" } else { f }).map(Template::parse).transpose()?;
    let (mut found, mut code) = (Vec::new(), 0);
    for n in &names {
        match c.request("GET", &format!("/images/{}/json", encode_path(n)), &[])?.ok() {
            Ok(r) => found.push(r.json()?),
            Err(HttpError::Daemon(m)) => {
                eprintln!("Error: {m}");
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    print_inspected(found, t.as_ref())?;
    Ok(code)
}

pub fn rmi(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut force, mut no_prune, mut names) = (false, false, Vec::new());
    while let Some(a) = p.next().map_err(|e| usage("rmi", e.to_string()))? {
        match a {
            Short('f') | Long("force") => force = true,
            Long("no-prune") => no_prune = true,
            Value(v) => names.push(v.string()?),
            o => return Err(usage("rmi", o.unexpected().to_string())),
        }
    }
    if names.is_empty() {
        return Err(usage("rmi", "\"berth rmi\" requires at least 1 argument."));
    }
    let mut code = 0;
    for n in &names {
        let path = format!("/images/{}?force={}&noprune={}", encode_path(n), force, no_prune);
        match c.request("DELETE", &path, &[])?.ok() {
            Ok(r) => {
                for item in r.json()?.as_array().into_iter().flatten() {
                    if let Some(u) = item.get("Untagged").and_then(Value::as_str) {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item.get("Deleted").and_then(Value::as_str) {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(HttpError::Daemon(m)) => {
                eprintln!("Error response from daemon: {m}");
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(code)
}

pub fn tag(c: &Client, mut p: lexopt::Parser) -> R {
    let mut args = Vec::new();
    while let Some(a) = p.next().map_err(|e| usage("tag", e.to_string()))? {
        match a {
            Value(v) => args.push(v.string()?),
            o => return Err(usage("tag", o.unexpected().to_string())),
        }
    }
    let [src, target] = args.as_slice() else {
        return Err(usage("tag", "\"berth tag\" requires exactly 2 arguments.\n\nUsage:  berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"));
    };
    let t = Reference::parse(target).map_err(|e| anyhow::anyhow!("{e}"))?;
    if t.digest().is_some() {
        return Err(usage("tag", "refusing to create a tag with a digest reference"));
    }
    let path = format!("/images/{}/tag?repo={}&tag={}", encode_path(src), encode_query(&t.repository()), encode_query(t.tag().unwrap_or("latest")));
    c.request("POST", &path, &[])?.ok()?;
    Ok(0)
}

/// `inspect`'s output: each object through `-f`'s template, or all of them
/// as one JSON array indented as docker indents it.
/// `GET {base}/{name}` for each name, printed as inspect does; a name the
/// daemon refuses is reported and makes the exit code 1, the others still print.
pub fn inspect_named(c: &Client, base: &str, names: &[String], fmt: Option<&str>) -> R {
    let t = fmt.map(Template::parse).transpose()?;
    let (mut found, mut code) = (Vec::new(), 0);
    for n in names {
        match c.request("GET", &format!("{base}/{}", encode_path(n)), &[])?.ok() {
            Ok(r) => found.push(r.json()?),
            Err(HttpError::Daemon(m)) => {
                eprintln!("Error response from daemon: {m}");
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    print_inspected(found, t.as_ref())?;
    Ok(code)
}

/// `DELETE {base}/{name}{query}` for each name, printing the name when it
/// went; `ignore` says which daemon errors are not errors (`rm -f` of a missing one).
pub fn delete_named(c: &Client, base: &str, query: &str, names: &[String], ignore: &dyn Fn(&str) -> bool) -> R {
    let mut code = 0;
    for n in names {
        match c.request("DELETE", &format!("{base}/{}{query}", encode_path(n)), &[])?.ok() {
            Ok(_) => println!("{n}"),
            Err(HttpError::Daemon(m)) if ignore(&m) => {}
            Err(HttpError::Daemon(m)) => {
                eprintln!("Error response from daemon: {m}");
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(code)
}

pub fn print_inspected(found: Vec<Value>, t: Option<&Template>) -> anyhow::Result<()> {
    match t {
        Some(t) => {
            for v in &found {
                println!("{}", t.render(v)?);
            }
        }
        None => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&Value::Array(found), &mut ser)?;
            println!("{}", String::from_utf8_lossy(&buf));
        }
    }
    Ok(())
}

/// `berth history IMAGE`: the layers and the steps that made them, newest first.
pub fn history(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut quiet, mut no_trunc, mut human, mut fmt, mut name) = (false, false, true, None, None);
    while let Some(a) = p.next().map_err(|e| usage("history", e.to_string()))? {
        match a {
            Short('q') | Long("quiet") => quiet = true,
            Long("no-trunc") => no_trunc = true,
            Short('H') | Long("human") => {
                human = match p.optional_value().map(|v| v.string()).transpose()?.as_deref() {
                    None | Some("true") | Some("1") => true,
                    Some("false") | Some("0") => false,
                    Some(v) => return Err(usage("history", format!("invalid argument {v:?} for \"-H, --human\" flag"))),
                }
            }
            Long("format") => fmt = Some(p.value()?.string()?),
            Value(v) if name.is_none() => name = Some(v.string()?),
            Value(_) => return Err(usage("history", "\"berth history\" requires exactly 1 argument.")),
            o => return Err(usage("history", o.unexpected().to_string())),
        }
    }
    let name = name.ok_or_else(|| usage("history", "\"berth history\" requires exactly 1 argument.\n\nUsage:  berth history [OPTIONS] IMAGE"))?;
    let list = c.request("GET", &format!("/images/{}/history", encode_path(&name)), &[])?.ok()?.json()?;
    let now = now();
    let mut out = std::io::stdout().lock();
    let rows: Vec<Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let id = s(h, "Id");
            let id = if id == "<missing>" || no_trunc { id.to_string() } else { id.trim_start_matches("sha256:").chars().take(12).collect() };
            let created = h["Created"].as_i64().unwrap_or(0);
            let by = s(h, "CreatedBy").to_string();
            let by = if no_trunc || by.chars().count() <= 45 { by } else { format!("{}…", by.chars().take(44).collect::<String>()) };
            let size = h["Size"].as_u64().unwrap_or(0);
            json!({
                "ID": id,
                "CreatedSince": if human { format!("{} ago", human_duration(now - created)) } else { rfc3339ish(created) },
                "CreatedAt": rfc3339ish(created),
                "CreatedBy": by,
                "Size": if human { human_size(size) } else { size.to_string() },
                "Comment": s(h, "Comment"),
            })
        })
        .collect();
    if quiet {
        for r in &rows {
            writeln!(out, "{}", s(r, "ID"))?;
        }
        return Ok(0);
    }
    let header = |f: &str| match f {
        "ID" => "IMAGE".to_string(),
        "CreatedSince" | "CreatedAt" => "CREATED".into(),
        "CreatedBy" => "CREATED BY".into(),
        other => other.to_uppercase(),
    };
    print_rows(&mut out, fmt.as_deref(), "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", &header, &rows)
}

/// docker's prune prompt; true when the answer is yes.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    eprint!("WARNING! This will remove {warning}.\nAre you sure you want to continue? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// docker's prune report: the removed ids under a title, then the space.
pub fn print_pruned(title: &str, deleted: &[Value], reclaimed: u64) {
    if !deleted.is_empty() {
        println!("{title}:");
        for d in deleted {
            println!("{}", d.as_str().unwrap_or_default());
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
}

/// One `--filter k=v`, gathered into the API's filters JSON.
pub fn add_filter(filters: &mut serde_json::Map<String, Value>, cmd: &str, f: &str) -> anyhow::Result<()> {
    let (k, v) = f.split_once('=').ok_or_else(|| usage(cmd, format!("bad format of filter (expected name=value): {f}")))?;
    if let Some(a) = filters.entry(k.to_string()).or_insert_with(|| json!([])).as_array_mut() {
        a.push(json!(v));
    }
    Ok(())
}
