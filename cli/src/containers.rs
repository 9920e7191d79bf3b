//! Container commands: run, create, start, stop, kill, rm, ps, logs, wait, inspect.

use std::io::{Read, Write};

use lexopt::prelude::*;
use serde_json::Value;

use crate::format::ago;
use crate::http::{encode_path, encode_query, Client, Error as HttpError};
use crate::commands::print_inspected;
use crate::create::{create_container, parse_create};
use crate::usage;

type R = anyhow::Result<i32>;

pub fn create(c: &Client, p: lexopt::Parser) -> R {
    let o = parse_create("create", p)?;
    println!("{}", create_container(c, &o, o.rm)?);
    Ok(0)
}

/// docker run's exit codes for a container that could not be run.
fn run_failure(m: &str) -> i32 {
    if m.contains("executable file not found") || m.to_ascii_lowercase().contains("no such file or directory") {
        127
    } else if m.to_ascii_lowercase().contains("permission denied") {
        126
    } else {
        125
    }
}

pub fn run(c: &Client, p: lexopt::Parser) -> R {
    let o = parse_create("run", p)?;
    // Detached, the daemon removes the container when it exits; in the
    // foreground berth does, after it has read the exit code and the logs.
    let id = match create_container(c, &o, o.rm && o.detach) {
        Ok(id) => id,
        Err(e) => match e.downcast_ref::<HttpError>() {
            Some(HttpError::Daemon(m)) => {
                eprintln!("berth: Error response from daemon: {m}");
                return Ok(125);
            }
            _ => return Err(e),
        },
    };
    if !o.detach && (o.interactive || o.tty) {
        return run_attached(c, &o, &id);
    }
    if let Err(e) = c.request("POST", &format!("/containers/{id}/start"), &[])?.ok() {
        let m = e.to_string();
        eprintln!("berth: {m}");
        if o.rm {
            let _ = c.request("DELETE", &format!("/containers/{id}?force=1&v=1"), &[]);
        }
        return Ok(run_failure(&m));
    }
    if o.detach {
        println!("{id}");
        return Ok(0);
    }
    stream_logs(c, &id, "stdout=1&stderr=1&follow=1", o.tty)?;
    let code = wait_code(c, &id)?;
    if o.rm {
        // --rm takes the anonymous volumes too, as docker's AutoRemove does.
        c.request("DELETE", &format!("/containers/{id}?v=1"), &[])?.ok()?;
    }
    Ok(code as i32)
}

/// `run -i`/`-t` in the foreground: attach first (so no output is missed),
/// start, relay the terminal; then the exit code, or 0 when detached.
fn run_attached(c: &Client, o: &crate::create::CreateOpts, id: &str) -> R {
    let h = match attach_stream(c, id, o.interactive, o.detach_keys.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("berth: {e}");
            if o.rm {
                let _ = c.request("DELETE", &format!("/containers/{id}?force=1&v=1"), &[]);
            }
            return Ok(125);
        }
    };
    if let Err(e) = c.request("POST", &format!("/containers/{id}/start"), &[])?.ok() {
        let m = e.to_string();
        eprintln!("berth: {m}");
        if o.rm {
            let _ = c.request("DELETE", &format!("/containers/{id}?force=1&v=1"), &[]);
        }
        return Ok(run_failure(&m));
    }
    match relay_attached(c, id, h, o.interactive, o.tty, true)? {
        None => Ok(0),
        Some(code) => {
            if o.rm {
                c.request("DELETE", &format!("/containers/{id}?v=1"), &[])?.ok()?;
            }
            Ok(code as i32)
        }
    }
}

/// The hijacked attach stream of a container (started or not yet).
fn attach_stream(c: &Client, id: &str, stdin: bool, keys: Option<&str>) -> anyhow::Result<crate::hijack::Hijacked> {
    let mut q = format!("stream=1&stdin={}&stdout=1&stderr=1", stdin as u8);
    if let Some(k) = keys {
        q.push_str(&format!("&detachKeys={}", encode_query(k)));
    }
    crate::hijack::upgrade(c, &format!("/containers/{}/attach?{q}", encode_path(id)), "")
}

/// Relays an attach until it ends; Some(exit code) when the container
/// ended, None when we detached and it runs on.
fn relay_attached(c: &Client, id: &str, h: crate::hijack::Hijacked, stdin: bool, tty: bool, close_stdin: bool) -> anyhow::Result<Option<i64>> {
    if tty {
        if let Some((rows, cols)) = crate::hijack::term_size() {
            let _ = c.request("POST", &format!("/containers/{}/resize?h={rows}&w={cols}", encode_path(id)), &[]);
        }
    }
    h.pump(stdin, tty, close_stdin)?;
    let v = c.request("GET", &format!("/containers/{}/json", encode_path(id)), &[])?.ok()?.json()?;
    if v["State"]["Running"] == true {
        eprintln!("read escape sequence");
        return Ok(None);
    }
    Ok(Some(wait_code(c, id)?))
}

/// `berth attach [--no-stdin] [--detach-keys K] CONTAINER`.
pub fn attach(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut no_stdin, mut keys, mut name) = (false, None, None);
    while let Some(a) = p.next().map_err(|e| usage("attach", e.to_string()))? {
        match a {
            Long("no-stdin") => no_stdin = true,
            Long("detach-keys") => keys = Some(p.value()?.string()?),
            Long("sig-proxy") => {
                let v = p.optional_value().map(|v| v.string()).transpose()?;
                if !matches!(v.as_deref(), Some("false")) {
                    return Err(usage("attach", "--sig-proxy: berth does not forward signals to the container; only --sig-proxy=false is accepted"));
                }
            }
            Value(v) if name.is_none() => name = Some(v.string()?),
            Value(_) => return Err(usage("attach", "\"berth attach\" requires exactly 1 argument.")),
            o => return Err(usage("attach", o.unexpected().to_string())),
        }
    }
    let name = name.ok_or_else(|| usage("attach", "\"berth attach\" requires exactly 1 argument.\n\nUsage:  berth attach [OPTIONS] CONTAINER"))?;
    let v = c.request("GET", &format!("/containers/{}/json", encode_path(&name)), &[])?.ok()?.json()?;
    if v["State"]["Running"] != true {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    let id = v["Id"].as_str().unwrap_or_default().to_string();
    let stdin = !no_stdin && v["Config"]["OpenStdin"] == true;
    let tty = v["Config"]["Tty"] == true;
    let h = attach_stream(c, &id, stdin, keys.as_deref())?;
    // docker attach leaves the container's stdin open when ours ends, unless it was created StdinOnce.
    Ok(relay_attached(c, &id, h, stdin, tty, false)?.unwrap_or(0) as i32)
}

fn wait_code(c: &Client, id: &str) -> anyhow::Result<i64> {
    let v = c.request("POST", &format!("/containers/{}/wait", encode_path(id)), &[])?.ok()?.json()?;
    Ok(v["StatusCode"].as_i64().unwrap_or(0))
}

/// Copies the logs endpoint's stream: raw for a TTY, else docker's 8-byte
/// frames (1 stdout, 2 stderr).
fn stream_logs(c: &Client, id: &str, q: &str, tty: bool) -> anyhow::Result<()> {
    let mut r = c.request("GET", &format!("/containers/{}/logs?{q}", encode_path(id)), &[])?.ok()?;
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    if tty {
        let mut buf = [0u8; 8192];
        loop {
            let n = r.body.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
    }
    let mut h = [0u8; 8];
    loop {
        match r.body.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let mut data = vec![0u8; len];
        r.body.read_exact(&mut data)?;
        if h[0] == 2 {
            err.write_all(&data)?;
            err.flush()?;
        } else {
            out.write_all(&data)?;
            out.flush()?;
        }
    }
}

/// Container names/ids and the flags of commands that take a list of them.
/// `flag` gets `-t` or `--time` and says whether it knows it.
pub(crate) fn names(cmd: &str, mut p: lexopt::Parser, mut flag: impl FnMut(&str, &mut lexopt::Parser) -> anyhow::Result<bool>) -> anyhow::Result<Vec<String>> {
    let mut v = Vec::new();
    loop {
        let key = match p.next().map_err(|e| usage(cmd, e.to_string()))? {
            None => break,
            Some(Value(x)) => {
                v.push(x.string()?);
                continue;
            }
            Some(Short(c)) => format!("-{c}"),
            Some(Long(l)) => format!("--{l}"),
        };
        if !flag(&key, &mut p)? {
            return Err(usage(cmd, format!("unknown flag: {key}")));
        }
    }
    if v.is_empty() {
        return Err(usage(cmd, format!("\"berth {cmd}\" requires at least 1 argument.")));
    }
    Ok(v)
}

/// Runs `f` on each name; prints errors as docker does and returns 1 if any failed.
pub(crate) fn each(v: &[String], mut f: impl FnMut(&str) -> Result<(), HttpError>) -> R {
    let mut code = 0;
    for n in v {
        match f(n) {
            Ok(()) => {}
            Err(HttpError::Daemon(m)) => {
                eprintln!("Error response from daemon: {m}");
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(code)
}

pub fn start(c: &Client, p: lexopt::Parser) -> R {
    let (mut attach, mut interactive, mut keys) = (false, false, None);
    let v = names("start", p, |a, p| {
        Ok(match a {
            "-a" | "--attach" => {
                attach = true;
                true
            }
            "-i" | "--interactive" => {
                interactive = true;
                true
            }
            "--detach-keys" => {
                keys = Some(p.value()?.string()?);
                true
            }
            _ => false,
        })
    })?;
    if attach || interactive {
        if v.len() != 1 {
            return Err(usage("start", "you cannot start and attach multiple containers at once"));
        }
        let info = c.request("GET", &format!("/containers/{}/json", encode_path(&v[0])), &[])?.ok()?.json()?;
        let id = info["Id"].as_str().unwrap_or_default().to_string();
        let stdin = interactive && info["Config"]["OpenStdin"] == true;
        let tty = info["Config"]["Tty"] == true;
        let h = attach_stream(c, &id, stdin, keys.as_deref())?;
        c.request("POST", &format!("/containers/{}/start", encode_path(&id)), &[])?.ok()?;
        return Ok(relay_attached(c, &id, h, stdin, tty, true)?.unwrap_or(0) as i32);
    }
    each(&v, |n| {
        c.request("POST", &format!("/containers/{}/start", encode_path(n)), &[])?.ok()?;
        println!("{n}");
        Ok(())
    })
}

pub fn stop(c: &Client, p: lexopt::Parser) -> R {
    stop_or_restart(c, p, "stop")
}

pub fn restart(c: &Client, p: lexopt::Parser) -> R {
    stop_or_restart(c, p, "restart")
}

fn stop_or_restart(c: &Client, p: lexopt::Parser, cmd: &str) -> R {
    let mut t: Option<String> = None;
    let mut sig: Option<String> = None;
    let v = names(cmd, p, |a, p| {
        Ok(match a {
            "-t" | "--time" | "--timeout" => {
                let x = p.value()?.string()?;
                x.parse::<i64>().map_err(|_| usage(cmd, format!("invalid argument {x:?} for \"-t, --time\" flag")))?;
                t = Some(x);
                true
            }
            "-s" | "--signal" => {
                sig = Some(p.value()?.string()?);
                true
            }
            _ => false,
        })
    })?;
    let mut q = Vec::new();
    if let Some(t) = &t {
        q.push(format!("t={t}"));
    }
    if let Some(s) = &sig {
        q.push(format!("signal={}", encode_query(s)));
    }
    let q = if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) };
    each(&v, |n| {
        c.request("POST", &format!("/containers/{}/{cmd}{q}", encode_path(n)), &[])?.ok()?;
        println!("{n}");
        Ok(())
    })
}

pub fn kill(c: &Client, p: lexopt::Parser) -> R {
    let mut sig: Option<String> = None;
    let v = names("kill", p, |a, p| {
        Ok(match a {
            "-s" | "--signal" => {
                sig = Some(p.value()?.string()?);
                true
            }
            _ => false,
        })
    })?;
    let q = sig.map(|s| format!("?signal={}", encode_query(&s))).unwrap_or_default();
    each(&v, |n| {
        c.request("POST", &format!("/containers/{}/kill{q}", encode_path(n)), &[])?.ok()?;
        println!("{n}");
        Ok(())
    })
}

pub fn rm(c: &Client, p: lexopt::Parser) -> R {
    let (mut force, mut volumes) = (false, false);
    let v = names("rm", p, |a, _| {
        Ok(match a {
            "-f" | "--force" => {
                force = true;
                true
            }
            "-v" | "--volumes" => {
                volumes = true;
                true
            }
            _ => false,
        })
    })?;
    let q = match (force, volumes) {
        (true, true) => "?force=1&v=1",
        (true, false) => "?force=1",
        (false, true) => "?v=1",
        (false, false) => "",
    };
    each(&v, |n| {
        c.request("DELETE", &format!("/containers/{}{q}", encode_path(n)), &[])?.ok()?;
        println!("{n}");
        Ok(())
    })
}

pub fn wait(c: &Client, p: lexopt::Parser) -> R {
    let v = names("wait", p, |_, _| Ok(false))?;
    each(&v, |n| {
        let r = c.request("POST", &format!("/containers/{}/wait", encode_path(n)), &[])?.ok()?.json()?;
        println!("{}", r["StatusCode"]);
        Ok(())
    })
}

pub fn logs(c: &Client, p: lexopt::Parser) -> R {
    let (mut ts, mut tail, mut follow) = (false, None::<String>, false);
    let (mut since, mut until) = (None::<String>, None::<String>);
    let v = names("logs", p, |a, p| {
        Ok(match a {
            "-t" | "--timestamps" => {
                ts = true;
                true
            }
            "-f" | "--follow" => {
                follow = true;
                true
            }
            "--since" => {
                since = Some(p.value()?.string()?);
                true
            }
            "--until" => {
                until = Some(p.value()?.string()?);
                true
            }
            "-n" | "--tail" => {
                let x = p.value()?.string()?;
                if x != "all" && x.parse::<usize>().is_err() {
                    return Err(usage("logs", format!("invalid argument {x:?} for \"-n, --tail\" flag")));
                }
                tail = Some(x);
                true
            }
            _ => false,
        })
    })?;
    if v.len() != 1 {
        return Err(usage("logs", "\"berth logs\" requires exactly 1 argument."));
    }
    let info = c.request("GET", &format!("/containers/{}/json", encode_path(&v[0])), &[])?.ok()?.json()?;
    let mut q = "stdout=1&stderr=1".to_string();
    if ts {
        q.push_str("&timestamps=1");
    }
    if follow {
        q.push_str("&follow=1");
    }
    if let Some(t) = tail {
        q.push_str(&format!("&tail={t}"));
    }
    for (k, v) in [("since", since), ("until", until)] {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", encode_query(&v)));
        }
    }
    stream_logs(c, &v[0], &q, info["Config"]["Tty"].as_bool().unwrap_or(false))?;
    Ok(0)
}

/// docker's truncated, quoted COMMAND column.
fn short_command(cmd: &str, no_trunc: bool) -> String {
    let c = if !no_trunc && cmd.chars().count() > 20 { format!("{}…", cmd.chars().take(19).collect::<String>()) } else { cmd.to_string() };
    format!("\"{c}\"")
}

pub fn ps(c: &Client, mut p: lexopt::Parser) -> R {
    let (mut all, mut quiet, mut no_trunc, mut fmt, mut last, mut size) = (false, false, false, None, None::<i64>, false);
    let mut filters = serde_json::Map::new();
    while let Some(a) = p.next().map_err(|e| usage("ps", e.to_string()))? {
        match a {
            Short('a') | Long("all") => all = true,
            Short('q') | Long("quiet") => quiet = true,
            Long("no-trunc") => no_trunc = true,
            Long("format") => fmt = Some(p.value()?.string()?),
            Short('l') | Long("latest") => last = Some(1),
            Short('n') | Long("last") => {
                let v = p.value()?.string()?;
                last = Some(v.parse().map_err(|_| usage("ps", format!("invalid argument {v:?} for \"-n, --last\" flag")))?);
            }
            Short('f') | Long("filter") => crate::commands::add_filter(&mut filters, "ps", &p.value()?.string()?)?,
            Short('s') | Long("size") => size = true,
            Value(v) => return Err(usage("ps", format!("\"berth ps\" accepts no arguments, got {:?}", v))),
            o => return Err(usage("ps", o.unexpected().to_string())),
        }
    }
    let mut q = Vec::new();
    if all {
        q.push("all=1".to_string());
    }
    if let Some(n) = last.filter(|n| *n > 0) {
        q.push(format!("limit={n}"));
    }
    // Sizes cost a walk of every container's upper directory: only when
    // asked, or when a --format wants them.
    let size = size || fmt.as_deref().is_some_and(|f| f.contains(".Size"));
    if size {
        q.push("size=1".to_string());
    }
    if !filters.is_empty() {
        q.push(format!("filters={}", encode_query(&Value::Object(filters).to_string())));
    }
    let path = if q.is_empty() { "/containers/json".to_string() } else { format!("/containers/json?{}", q.join("&")) };
    let list = c.request("GET", &path, &[])?.ok()?.json()?;
    let list = list.as_array().cloned().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let id = |v: &Value| -> String {
        let i = v["Id"].as_str().unwrap_or_default();
        if no_trunc { i.to_string() } else { i.chars().take(12).collect() }
    };
    if quiet {
        for v in &list {
            writeln!(out, "{}", id(v))?;
        }
        return Ok(0);
    }
    // docker's template fields for ps.
    let rows: Vec<Value> = list
        .iter()
        .map(|v| {
            let names: Vec<String> = v["Names"].as_array().map(|a| a.iter().filter_map(|n| n.as_str().map(|s| s.trim_start_matches('/').to_string())).collect()).unwrap_or_default();
            let labels = v["Labels"].as_object().map(|l| l.iter().map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")).unwrap_or_default();
            serde_json::json!({
                "ID": id(v),
                "Image": v["Image"],
                "Command": short_command(v["Command"].as_str().unwrap_or_default(), no_trunc),
                "CreatedAt": crate::commands::rfc3339ish(v["Created"].as_i64().unwrap_or(0)),
                "RunningFor": ago(v["Created"].as_i64().unwrap_or(0)),
                "Status": v["Status"],
                "State": v["State"],
                "Ports": crate::network::ports_column(&v["Ports"]),
                "Names": names.join(","),
                "Labels": labels,
                "Networks": v["HostConfig"]["NetworkMode"],
                "Size": if size { format!("{} (virtual {})", crate::format::human_size(v["SizeRw"].as_u64().unwrap_or(0)), crate::format::human_size(v["SizeRootFs"].as_u64().unwrap_or(0))) } else { String::new() },
            })
        })
        .collect();
    let header = |f: &str| match f {
        "ID" => "CONTAINER ID".to_string(),
        "RunningFor" | "CreatedAt" => "CREATED".into(),
        other => other.to_uppercase(),
    };
    let default = if size { "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}" } else { "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}" };
    crate::commands::print_rows(&mut out, fmt.as_deref(), default, &header, &rows)
}

/// `berth inspect` / `container inspect`: containers first, then images (as docker).
pub fn inspect(c: &Client, mut p: lexopt::Parser, containers_only: bool) -> R {
    let (mut fmt, mut names) = (None, Vec::new());
    let cmd = if containers_only { "container inspect" } else { "inspect" };
    while let Some(a) = p.next().map_err(|e| usage(cmd, e.to_string()))? {
        match a {
            Short('f') | Long("format") => fmt = Some(p.value()?.string()?),
            Value(v) => names.push(v.string()?),
            o => return Err(usage(cmd, o.unexpected().to_string())),
        }
    }
    if names.is_empty() {
        return Err(usage(cmd, format!("\"berth {cmd}\" requires at least 1 argument.")));
    }
    let t = fmt.as_deref().map(|f| if f == "json" { "{{json .}}" } else { f }).map(crate::format::Template::parse).transpose()?;
    let (mut found, mut code) = (Vec::new(), 0);
    for n in &names {
        let r = match c.request("GET", &format!("/containers/{}/json", encode_path(n)), &[])?.ok() {
            Err(HttpError::Daemon(m)) if !containers_only && m.starts_with("No such container") => c.request("GET", &format!("/images/{}/json", encode_path(n)), &[])?.ok(),
            other => other,
        };
        match r {
            Ok(r) => found.push(r.json()?),
            Err(HttpError::Daemon(m)) => {
                eprintln!("Error: {}", if containers_only { m } else { format!("No such object: {n}") });
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    print_inspected(found, t.as_ref())?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(short_command("sh -c 'echo hello world; sleep 100'", false), "\"sh -c 'echo hello w…\"");
        assert_eq!(short_command("top", false), "\"top\"");
    }
}
