//! `berth save` and `berth load`: image archives to and from the daemon.

use std::io::{IsTerminal, Read, Write};

use lexopt::prelude::*;
use serde_json::Value;

use crate::http::{encode_path, encode_query, Client};
use crate::usage;

type R = anyhow::Result<i32>;

/// `berth save [-o FILE] IMAGE...`: the daemon's tar to a file (written
/// under a temporary name and renamed when complete, so a failed save never
/// leaves a truncated archive under the name asked for) or to stdout.
pub fn save(c: &Client, mut p: lexopt::Parser) -> R {
    let u = |m: String| usage("save", m);
    let (mut output, mut names, mut platform) = (None, Vec::new(), None);
    while let Some(a) = p.next().map_err(|e| u(e.to_string()))? {
        match a {
            Short('o') | Long("output") => output = Some(p.value()?.string()?),
            Long("platform") => platform = Some(p.value()?.string()?),
            Value(v) => names.push(v.string()?),
            o => return Err(u(o.unexpected().to_string())),
        }
    }
    if names.is_empty() {
        return Err(u("\"berth save\" requires at least 1 argument.\n\nUsage:  berth save [OPTIONS] IMAGE [IMAGE...]".into()));
    }
    if output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let mut path = if names.len() == 1 {
        format!("/images/{}/get", encode_path(&names[0]))
    } else {
        format!("/images/get?{}", names.iter().map(|n| format!("names={}", encode_query(n))).collect::<Vec<_>>().join("&"))
    };
    if let Some(pl) = &platform {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&format!("platform={}", encode_query(pl)));
    }
    let mut resp = c.request("GET", &path, &[])?.ok()?;
    match output {
        None => {
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut resp.body, &mut out).map_err(|e| anyhow::anyhow!("saving: {e}"))?;
            out.flush()?;
        }
        Some(o) => {
            let dest = std::path::PathBuf::from(&o);
            let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "archive".into());
            let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
            let r = (|| -> anyhow::Result<()> {
                let mut f = std::fs::File::create(&tmp).map_err(|e| anyhow::anyhow!("failed to save image: {}: {e}", tmp.display()))?;
                std::io::copy(&mut resp.body, &mut f).map_err(|e| anyhow::anyhow!("failed to save image: {e}"))?;
                f.sync_all()?;
                std::fs::rename(&tmp, &dest).map_err(|e| anyhow::anyhow!("failed to save image: {o}: {e}"))?;
                Ok(())
            })();
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r?;
        }
    }
    Ok(0)
}

/// `berth load [-i FILE] [-q]`: an archive from a file or stdin, streamed
/// to the daemon (plain, gzip or zstd: the daemon sniffs it).
pub fn load(c: &Client, mut p: lexopt::Parser) -> R {
    let u = |m: String| usage("load", m);
    let (mut input, mut quiet, mut platform) = (None, false, None);
    while let Some(a) = p.next().map_err(|e| u(e.to_string()))? {
        match a {
            Short('i') | Long("input") => input = Some(p.value()?.string()?),
            Short('q') | Long("quiet") => quiet = true,
            Long("platform") => platform = Some(p.value()?.string()?),
            Value(v) => return Err(u(format!("\"berth load\" accepts no arguments, got {v:?}"))),
            o => return Err(u(o.unexpected().to_string())),
        }
    }
    let mut src: Box<dyn Read> = match &input {
        Some(f) => Box::new(std::fs::File::open(f).map_err(|e| anyhow::anyhow!("open {f}: {e}"))?),
        None => {
            if std::io::stdin().is_terminal() {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            Box::new(std::io::stdin().lock())
        }
    };
    let mut path = format!("/images/load?quiet={}", if quiet { "1" } else { "0" });
    if let Some(pl) = &platform {
        path.push_str(&format!("&platform={}", encode_query(pl)));
    }
    let resp = c.request_stream("POST", &path, &[("Content-Type", "application/x-tar".to_string())], &mut src)?.ok()?;
    let mut out = std::io::stdout().lock();
    crate::commands::json_messages(resp, &mut |m| {
        // Layer progress is for terminals; "Loaded image" lines always show.
        if let Some(s) = m.get("stream").and_then(Value::as_str) {
            write!(out, "{s}")?;
        }
        Ok(())
    })?;
    Ok(0)
}
