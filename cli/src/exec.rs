//! `berth exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] CONTAINER CMD...`
//!
//! Creates the exec, then starts it on a hijacked connection: after the
//! `101 Switching Protocols` the socket is the process's stdin one way and
//! its output the other (raw with -t, docker's 8-byte frames without). The
//! exit code is the process's, read back from `GET /exec/{id}/json`.

use lexopt::prelude::*;
use serde_json::json;

use crate::http::{encode_path, Client};
use crate::usage;

type R = anyhow::Result<i32>;

struct Opts {
    interactive: bool,
    tty: bool,
    detach: bool,
    env: Vec<String>,
    user: Option<String>,
    workdir: Option<String>,
    container: String,
    cmd: Vec<String>,
}

fn parse(mut p: lexopt::Parser) -> anyhow::Result<Opts> {
    let u = |m: String| usage("exec", m);
    let mut o = Opts { interactive: false, tty: false, detach: false, env: vec![], user: None, workdir: None, container: String::new(), cmd: vec![] };
    loop {
        let Some(a) = p.next().map_err(|e| u(e.to_string()))? else { break };
        match a {
            Short('i') | Long("interactive") => o.interactive = true,
            Short('t') | Long("tty") => o.tty = true,
            Short('d') | Long("detach") => o.detach = true,
            Short('e') | Long("env") => o.env.extend(crate::create::env_arg(p.value()?.string()?)),
            Short('u') | Long("user") => o.user = Some(p.value()?.string()?),
            Short('w') | Long("workdir") => o.workdir = Some(p.value()?.string()?),
            Long("privileged") => return Err(u("--privileged is not implemented yet".into())),
            Long("detach-keys") => return Err(u("--detach-keys is not implemented yet".into())),
            Value(v) => {
                o.container = v.string()?;
                for r in p.raw_args()? {
                    o.cmd.push(r.into_string().map_err(|_| u("argument is not UTF-8".into()))?);
                }
                break;
            }
            other => return Err(u(other.unexpected().to_string())),
        }
    }
    if o.container.is_empty() || o.cmd.is_empty() {
        return Err(u("\"berth exec\" requires at least 2 arguments.\n\nUsage:  berth exec [OPTIONS] CONTAINER COMMAND [ARG...]".into()));
    }
    Ok(o)
}

pub fn exec(c: &Client, p: lexopt::Parser) -> R {
    let o = parse(p)?;
    let attach = !o.detach;
    let size = if o.tty { crate::hijack::term_size() } else { None };
    let mut body = json!({
        "AttachStdin": o.interactive && attach,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Tty": o.tty,
        "Env": o.env,
        "Cmd": o.cmd,
    });
    if let Some(u) = &o.user {
        body["User"] = json!(u);
    }
    if let Some(w) = &o.workdir {
        body["WorkingDir"] = json!(w);
    }
    if let Some((h, w)) = size {
        body["ConsoleSize"] = json!([h, w]);
    }
    let created = c.post_json(&format!("/containers/{}/exec", encode_path(&o.container)), &body)?.ok()?.json()?;
    let id = created["Id"].as_str().unwrap_or_default().to_string();
    if o.detach {
        c.post_json(&format!("/exec/{id}/start"), &json!({"Detach": true, "Tty": o.tty}))?.ok()?;
        return Ok(0);
    }
    let start = json!({"Detach": false, "Tty": o.tty, "ConsoleSize": size.map(|(h, w)| json!([h, w]))}).to_string();
    crate::hijack::upgrade(c, &format!("/exec/{id}/start"), &start)?.pump(o.interactive, o.tty, true)?;
    let v = c.request("GET", &format!("/exec/{id}/json"), &[])?.ok()?.json()?;
    Ok(v["ExitCode"].as_i64().unwrap_or(126) as i32)
}
