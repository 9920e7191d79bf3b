//! `berth import FILE|- [REPOSITORY[:TAG]]`: an image from a rootfs tarball.

use std::io::Read;

use lexopt::prelude::*;
use serde_json::Value;

use crate::http::{encode_query, Client};
use crate::usage;

type R = anyhow::Result<i32>;

pub fn import(c: &Client, mut p: lexopt::Parser) -> R {
    let u = |m: String| usage("import", m);
    let (mut changes, mut message, mut platform, mut args) = (Vec::new(), None, None, Vec::new());
    while let Some(a) = p.next().map_err(|e| u(e.to_string()))? {
        match a {
            Short('c') | Long("change") => changes.push(p.value()?.string()?),
            Short('m') | Long("message") => message = Some(p.value()?.string()?),
            Long("platform") => platform = Some(p.value()?.string()?),
            Value(v) => args.push(v.string()?),
            o => return Err(u(o.unexpected().to_string())),
        }
    }
    if args.is_empty() || args.len() > 2 {
        return Err(u("\"berth import\" requires at least 1 and at most 2 arguments.\n\nUsage:  berth import [OPTIONS] file|- [REPOSITORY[:TAG]]".into()));
    }
    let src = &args[0];
    if src.contains("://") {
        return Err(u(format!("importing from a URL ({src}) is not supported: download it and give the file")));
    }
    // The whole tarball in memory: what import is for (a rootfs of a few
    // MB) fits; the daemon side streams it to disk.
    let mut body = Vec::new();
    if src == "-" {
        std::io::stdin().lock().read_to_end(&mut body)?;
    } else {
        std::fs::File::open(src).map_err(|e| anyhow::anyhow!("open {src}: {e}"))?.read_to_end(&mut body)?;
    }
    let mut q = String::from("/images/create?fromSrc=-");
    if let Some(repo) = args.get(1) {
        q.push_str(&format!("&repo={}", encode_query(repo)));
    }
    for ch in &changes {
        q.push_str(&format!("&changes={}", encode_query(ch)));
    }
    if let Some(m) = &message {
        q.push_str(&format!("&message={}", encode_query(m)));
    }
    if let Some(pl) = &platform {
        q.push_str(&format!("&platform={}", encode_query(pl)));
    }
    let resp = c.request_body("POST", &q, &[("Content-Type", "application/x-tar".to_string())], Some(&body))?.ok()?;
    crate::commands::json_messages(resp, &mut |m| {
        if let Some(s) = m.get("status").and_then(Value::as_str) {
            println!("{s}");
        }
        Ok(())
    })?;
    Ok(0)
}
