//! `berth create` and `berth run`'s options, turned into a Docker API
//! ContainerCreate body the way docker's CLI builds it. A flag berth does
//! not implement is refused here, by name, never dropped.

use std::io::IsTerminal;

use lexopt::prelude::*;
use serde_json::{json, Map, Value};

use crate::http::{encode_query, Client, Error as HttpError};
use crate::usage;

/// docker's RAMInBytes: `512m`, `1g`, `100k`, `1024b`, plain bytes.
pub fn parse_bytes(s: &str) -> Option<i64> {
    let l = s.trim().to_ascii_lowercase();
    let l = l.strip_suffix('b').filter(|r| r.ends_with(|c: char| "kmgt".contains(c))).map(str::to_string).unwrap_or(l);
    let (num, mult) = match l.chars().last()? {
        'k' => (&l[..l.len() - 1], 1i64 << 10),
        'm' => (&l[..l.len() - 1], 1 << 20),
        'g' => (&l[..l.len() - 1], 1 << 30),
        't' => (&l[..l.len() - 1], 1 << 40),
        'b' => (&l[..l.len() - 1], 1),
        _ => (l.as_str(), 1),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as i64)
}

/// One `-e` value: `NAME=VALUE` as given, or `NAME` alone taking its value
/// from berth's own environment (nothing when it is unset), as docker.
pub fn env_arg(e: String) -> Option<String> {
    if e.contains('=') {
        Some(e)
    } else {
        std::env::var(&e).ok().map(|v| format!("{e}={v}"))
    }
}

/// `--env-file`: one variable a line, `#` comments and blank lines skipped.
fn env_file(path: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("open {path}: {e}"))?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('=') || l.split('=').next().is_some_and(|k| k.contains(char::is_whitespace)) {
            anyhow::bail!("{path}:{}: variable '{}' contains whitespaces or has no name", i + 1, l.split('=').next().unwrap_or(l));
        }
        out.extend(env_arg(l.to_string()));
    }
    Ok(out)
}

/// `--device /dev/x[:/dev/y][:rwm]`.
fn device(s: &str) -> Option<Value> {
    let parts: Vec<&str> = s.split(':').collect();
    let is_mode = |m: &str| !m.is_empty() && m.chars().all(|c| "rwm".contains(c));
    let (host, ctr, mode) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, m] if is_mode(m) => (*h, *h, *m),
        [h, c] => (*h, *c, "rwm"),
        [h, c, m] if is_mode(m) => (*h, *c, *m),
        _ => return None,
    };
    Some(json!({"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": mode}))
}

/// `--ulimit nofile=1024:2048` (or `=1024` for both).
fn ulimit(s: &str) -> Option<Value> {
    let (name, v) = s.split_once('=')?;
    let (soft, hard) = match v.split_once(':') {
        Some((a, b)) => (a.parse::<i64>().ok()?, b.parse::<i64>().ok()?),
        None => {
            let n = v.parse::<i64>().ok()?;
            (n, n)
        }
    };
    Some(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

/// `--security-opt seccomp=FILE`: the CLI sends the file's JSON, as docker's.
fn security_opt(s: &str) -> anyhow::Result<String> {
    match s.split_once('=') {
        Some(("seccomp", f)) if f != "unconfined" => {
            let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("opening seccomp profile ({f}) failed: {e}"))?;
            Ok(format!("seccomp={text}"))
        }
        _ => Ok(s.to_string()),
    }
}

/// `--mount type=bind,source=/a,target=/b,readonly,bind-propagation=rshared`
/// as a HostConfig.Mounts entry (docker's CSV keys).
fn mount(s: &str) -> Result<Value, String> {
    let mut m = json!({"Type": "volume"});
    let truth = |k: &str, v: Option<&str>| -> Result<bool, String> {
        match v {
            None | Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(x) => Err(format!("invalid value for {k}: {x}")),
        }
    };
    for field in s.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = || v.ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"));
        match k.as_str() {
            "type" => m["Type"] = json!(need()?),
            "source" | "src" => m["Source"] = json!(need()?),
            "target" | "destination" | "dst" => m["Target"] = json!(need()?),
            "readonly" | "ro" => m["ReadOnly"] = json!(truth(&k, v)?),
            "bind-propagation" => m["BindOptions"]["Propagation"] = json!(need()?),
            "volume-nocopy" => m["VolumeOptions"]["NoCopy"] = json!(truth(&k, v)?),
            "volume-driver" => m["VolumeOptions"]["DriverConfig"]["Name"] = json!(need()?),
            "volume-label" => {
                let (lk, lv) = need()?.split_once('=').unwrap_or((need()?, ""));
                m["VolumeOptions"]["Labels"][lk] = json!(lv);
            }
            "volume-opt" => {
                let (ok, ov) = need()?.split_once('=').unwrap_or((need()?, ""));
                m["VolumeOptions"]["DriverConfig"]["Options"][ok] = json!(ov);
            }
            "tmpfs-size" => m["TmpfsOptions"]["SizeBytes"] = json!(parse_bytes(need()?).ok_or_else(|| format!("invalid tmpfs-size {:?}", v.unwrap_or_default()))?),
            "tmpfs-mode" => m["TmpfsOptions"]["Mode"] = json!(u32::from_str_radix(need()?, 8).map_err(|_| format!("invalid tmpfs-mode {:?}", v.unwrap_or_default()))?),
            "consistency" => m["Consistency"] = json!(need()?),
            "" => {}
            other => return Err(format!("unexpected key '{other}' in '{field}'")),
        }
    }
    if m["Target"].is_null() {
        return Err("target is required".into());
    }
    Ok(m)
}

#[derive(Default)]
pub struct CreateOpts {
    pub name: Option<String>,
    publish: Vec<String>,
    publish_all: bool,
    env: Vec<String>,
    workdir: Option<String>,
    user: Option<String>,
    hostname: Option<String>,
    pub rm: bool,
    pub detach: bool,
    pub tty: bool,
    pub interactive: bool,
    pub detach_keys: Option<String>,
    entrypoint: Option<String>,
    network: Option<String>,
    aliases: Vec<String>,
    ip: Option<String>,
    labels: Vec<String>,
    pub cidfile: Option<String>,
    /// HostConfig and Config members set by flags, in the API's names.
    host: Map<String, Value>,
    config: Map<String, Value>,
    log_opts: Map<String, Value>,
    pub image: String,
    cmd: Vec<String>,
}

impl CreateOpts {
    fn push(&mut self, key: &str, v: Value) {
        match self.host.entry(key.to_string()).or_insert_with(|| json!([])) {
            Value::Array(a) => a.push(v),
            other => *other = json!([v]),
        }
    }
}

pub fn parse_create(cmd: &str, mut p: lexopt::Parser) -> anyhow::Result<CreateOpts> {
    let mut o = CreateOpts::default();
    let u = |m: String| usage(cmd, m);
    let val = |p: &mut lexopt::Parser| -> anyhow::Result<String> { Ok(p.value().map_err(|e| usage(cmd, e.to_string()))?.string()?) };
    let invalid = |v: &str, flag: &str| u(format!("invalid argument {v:?} for \"{flag}\" flag"));
    loop {
        let a = match p.next().map_err(|e| usage(cmd, e.to_string()))? {
            Some(a) => a,
            None => break,
        };
        match a {
            Long("name") => o.name = Some(val(&mut p)?),
            Short('e') | Long("env") => o.env.extend(env_arg(val(&mut p)?)),
            Long("env-file") => o.env.extend(env_file(&val(&mut p)?)?),
            Short('w') | Long("workdir") => o.workdir = Some(val(&mut p)?),
            Short('u') | Long("user") => o.user = Some(val(&mut p)?),
            Short('h') | Long("hostname") => o.hostname = Some(val(&mut p)?),
            Short('l') | Long("label") => o.labels.push(val(&mut p)?),
            Long("rm") => o.rm = true,
            Short('d') | Long("detach") if cmd == "run" => o.detach = true,
            Short('t') | Long("tty") => o.tty = true,
            Long("entrypoint") => o.entrypoint = Some(val(&mut p)?),
            Long("network") | Long("net") => o.network = Some(val(&mut p)?),
            Long("network-alias") | Long("net-alias") => o.aliases.push(val(&mut p)?),
            Long("expose") => {
                let v = val(&mut p)?;
                let (ports, proto) = v.split_once('/').unwrap_or((&v, "tcp"));
                let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
                let (a, b) = (a.parse::<u16>().map_err(|_| invalid(&v, "--expose"))?, b.parse::<u16>().map_err(|_| invalid(&v, "--expose"))?);
                if a == 0 || a > b || !matches!(proto, "tcp" | "udp") {
                    return Err(invalid(&v, "--expose"));
                }
                let e = o.config.entry("ExposedPorts".to_string()).or_insert_with(|| json!({}));
                for port in a..=b {
                    e[format!("{port}/{proto}")] = json!({});
                }
            }
            Long("ip") => {
                let v = val(&mut p)?;
                v.parse::<std::net::Ipv4Addr>().map_err(|_| invalid(&v, "--ip"))?;
                o.ip = Some(v);
            }
            Long("dns") => {
                let v = val(&mut p)?;
                v.parse::<std::net::IpAddr>().map_err(|_| u(format!("invalid argument {v:?} for \"--dns\" flag: {v} is not an ip address")))?;
                o.push("Dns", json!(v));
            }
            Long("dns-search") => {
                let v = val(&mut p)?;
                o.push("DnsSearch", json!(v));
            }
            Long("dns-option") | Long("dns-opt") => {
                let v = val(&mut p)?;
                o.push("DnsOptions", json!(v));
            }
            Long("add-host") => {
                let v = val(&mut p)?;
                // docker's CLI takes name:ip and name=ip; the API wants name:ip.
                let (n, a) = v.split_once('=').or_else(|| v.split_once(':')).ok_or_else(|| invalid(&v, "--add-host"))?;
                o.push("ExtraHosts", json!(format!("{n}:{a}")));
            }
            Long("cidfile") => o.cidfile = Some(val(&mut p)?),
            Long("restart") => {
                let v = val(&mut p)?;
                let (name, max) = match v.split_once(':') {
                    Some((n, m)) => (n.to_string(), m.parse::<i64>().map_err(|_| invalid(&v, "--restart"))?),
                    None => (v.clone(), 0),
                };
                o.host.insert("RestartPolicy".into(), json!({"Name": name, "MaximumRetryCount": max}));
            }
            Short('m') | Long("memory") | Long("memory-reservation") | Long("shm-size") => {
                let (flag, key) = match a {
                    Long("memory-reservation") => ("--memory-reservation", "MemoryReservation"),
                    Long("shm-size") => ("--shm-size", "ShmSize"),
                    _ => ("-m, --memory", "Memory"),
                };
                let v = val(&mut p)?;
                o.host.insert(key.into(), json!(parse_bytes(&v).ok_or_else(|| invalid(&v, flag))?));
            }
            Long("memory-swap") => {
                let v = val(&mut p)?;
                let n = if v == "-1" { -1 } else { parse_bytes(&v).ok_or_else(|| invalid(&v, "--memory-swap"))? };
                o.host.insert("MemorySwap".into(), json!(n));
            }
            Long("pids-limit") | Short('c') | Long("cpu-shares") | Long("cpu-period") | Long("cpu-quota") | Long("blkio-weight") => {
                let (flag, key) = match a {
                    Long("pids-limit") => ("--pids-limit", "PidsLimit"),
                    Long("cpu-period") => ("--cpu-period", "CpuPeriod"),
                    Long("cpu-quota") => ("--cpu-quota", "CpuQuota"),
                    Long("blkio-weight") => ("--blkio-weight", "BlkioWeight"),
                    _ => ("-c, --cpu-shares", "CpuShares"),
                };
                let v = val(&mut p)?;
                o.host.insert(key.into(), json!(v.parse::<i64>().map_err(|_| invalid(&v, flag))?));
            }
            Long("cpus") => {
                let v = val(&mut p)?;
                let n: f64 = v.parse().map_err(|_| invalid(&v, "--cpus"))?;
                if !(n >= 0.0 && n.is_finite()) {
                    return Err(invalid(&v, "--cpus"));
                }
                o.host.insert("NanoCpus".into(), json!((n * 1e9).round() as i64));
            }
            Long("cpuset-cpus") => {
                let v = val(&mut p)?;
                o.host.insert("CpusetCpus".into(), json!(v));
            }
            Long("cpuset-mems") => {
                let v = val(&mut p)?;
                o.host.insert("CpusetMems".into(), json!(v));
            }
            Long("privileged") => {
                o.host.insert("Privileged".into(), json!(true));
            }
            Long("init") => {
                o.host.insert("Init".into(), json!(true));
            }
            Long("read-only") => {
                o.host.insert("ReadonlyRootfs".into(), json!(true));
            }
            Long("cap-add") => {
                let v = val(&mut p)?;
                o.push("CapAdd", json!(v));
            }
            Long("cap-drop") => {
                let v = val(&mut p)?;
                o.push("CapDrop", json!(v));
            }
            Long("security-opt") => {
                let v = security_opt(&val(&mut p)?)?;
                o.push("SecurityOpt", json!(v));
            }
            Long("device") => {
                let v = val(&mut p)?;
                let d = device(&v).ok_or_else(|| invalid(&v, "--device"))?;
                o.push("Devices", d);
            }
            Long("ulimit") => {
                let v = val(&mut p)?;
                let l = ulimit(&v).ok_or_else(|| invalid(&v, "--ulimit"))?;
                o.push("Ulimits", l);
            }
            Long("sysctl") => {
                let v = val(&mut p)?;
                let (k, x) = v.split_once('=').ok_or_else(|| invalid(&v, "--sysctl"))?;
                let m = o.host.entry("Sysctls").or_insert_with(|| json!({}));
                m[k] = json!(x);
            }
            Long("tmpfs") => {
                let v = val(&mut p)?;
                let (dest, opts) = v.split_once(':').unwrap_or((&v, ""));
                let m = o.host.entry("Tmpfs").or_insert_with(|| json!({}));
                m[dest] = json!(opts);
            }
            Long("stop-signal") => {
                let v = val(&mut p)?;
                o.config.insert("StopSignal".into(), json!(v));
            }
            Long("stop-timeout") => {
                let v = val(&mut p)?;
                o.config.insert("StopTimeout".into(), json!(v.parse::<i64>().map_err(|_| invalid(&v, "--stop-timeout"))?));
            }
            Long("log-driver") => {
                let v = val(&mut p)?;
                if v != "json-file" {
                    return Err(u(format!("--log-driver {v}: only the json-file log driver is implemented")));
                }
            }
            Long("log-opt") => {
                let v = val(&mut p)?;
                let (k, x) = v.split_once('=').ok_or_else(|| invalid(&v, "--log-opt"))?;
                o.log_opts.insert(k.to_string(), json!(x));
            }
            Short('i') | Long("interactive") => o.interactive = true,
            Long("detach-keys") => o.detach_keys = Some(val(&mut p)?),
            Short('p') | Long("publish") => {
                let v = val(&mut p)?;
                crate::network::port_bindings(std::slice::from_ref(&v)).map_err(|e| u(format!("invalid argument {v:?} for \"-p, --publish\" flag: {e}")))?;
                o.publish.push(v);
            }
            Short('P') | Long("publish-all") => o.publish_all = true,
            Short('v') | Long("volume") => {
                let v = val(&mut p)?;
                // `-v /path` alone is an anonymous volume (Config.Volumes), as docker's CLI sends it.
                if v.starts_with('/') && !v.contains(':') {
                    let m = o.config.entry("Volumes").or_insert_with(|| json!({}));
                    m[v.as_str()] = json!({});
                } else {
                    o.push("Binds", json!(v));
                }
            }
            Long("mount") => {
                let v = val(&mut p)?;
                let m = mount(&v).map_err(|e| u(format!("invalid argument {v:?} for \"--mount\" flag: {e}")))?;
                o.push("Mounts", m);
            }
            Long("volumes-from") => {
                let v = val(&mut p)?;
                o.push("VolumesFrom", json!(v));
            }
            Value(v) => {
                o.image = v.string()?;
                for r in p.raw_args()? {
                    o.cmd.push(r.into_string().map_err(|_| u("argument is not UTF-8".into()))?);
                }
                break;
            }
            other => return Err(u(other.unexpected().to_string())),
        }
    }
    if o.image.is_empty() {
        return Err(u(format!("\"berth {cmd}\" requires at least 1 argument.\n\nUsage:  berth {cmd} [OPTIONS] IMAGE [COMMAND] [ARG...]")));
    }
    Ok(o)
}

pub fn body(o: &CreateOpts, auto_remove: bool) -> Value {
    let mut labels = Map::new();
    for l in &o.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), json!(v));
    }
    let mut b = json!({
        "Image": o.image,
        "Env": o.env,
        "Tty": o.tty,
        "OpenStdin": o.interactive,
        // Attached, the container's stdin ends with ours (docker's StdinOnce).
        "StdinOnce": o.interactive && !o.detach,
        "AttachStdin": o.interactive && !o.detach,
        "AttachStdout": !o.detach,
        "AttachStderr": !o.detach,
        "Labels": labels,
        "HostConfig": {
            "NetworkMode": o.network.clone().unwrap_or_else(|| "default".into()),
            "AutoRemove": auto_remove,
        },
    });
    if !o.aliases.is_empty() || o.ip.is_some() {
        let net = o.network.clone().unwrap_or_else(|| "default".into());
        let mut ep = json!({});
        if !o.aliases.is_empty() {
            ep["Aliases"] = json!(o.aliases);
        }
        if let Some(ip) = &o.ip {
            ep["IPAMConfig"] = json!({"IPv4Address": ip});
        }
        b["NetworkingConfig"] = json!({"EndpointsConfig": {net: ep}});
    }
    if let Some(h) = b["HostConfig"].as_object_mut() {
        h.extend(o.host.clone());
    }
    if let Some(c) = b.as_object_mut() {
        c.extend(o.config.clone());
    }
    if !o.log_opts.is_empty() {
        b["HostConfig"]["LogConfig"] = json!({"Type": "json-file", "Config": o.log_opts});
    }
    if o.publish_all {
        b["HostConfig"]["PublishAllPorts"] = json!(true);
    }
    if !o.publish.is_empty() {
        // Checked when parsed.
        b["HostConfig"]["PortBindings"] = crate::network::port_bindings(&o.publish).unwrap_or_default();
    }
    if !o.cmd.is_empty() {
        b["Cmd"] = json!(o.cmd);
    }
    if let Some(e) = &o.entrypoint {
        b["Entrypoint"] = json!([e]);
    }
    for (k, v) in [("WorkingDir", &o.workdir), ("User", &o.user), ("Hostname", &o.hostname)] {
        if let Some(v) = v {
            b[k] = json!(v);
        }
    }
    b
}

/// Creates the container, pulling its image first if the daemon has none,
/// and writes `--cidfile` (which must not exist yet, as docker's).
pub fn create_container(c: &Client, o: &CreateOpts, auto_remove: bool) -> anyhow::Result<String> {
    if let Some(f) = &o.cidfile {
        if std::path::Path::new(f).exists() {
            anyhow::bail!("Container ID file found, make sure the other container isn't running or delete {f}");
        }
    }
    let path = match &o.name {
        Some(n) => format!("/containers/create?name={}", encode_query(n)),
        None => "/containers/create".to_string(),
    };
    let b = body(o, auto_remove);
    let r = match c.post_json(&path, &b)?.ok() {
        Ok(r) => r,
        Err(HttpError::Daemon(m)) if m.starts_with("No such image") => {
            eprintln!("Unable to find image '{}' locally", o.image);
            crate::commands::pull_named(c, &o.image, None, false, &mut std::io::stderr().lock(), std::io::stderr().is_terminal())?;
            c.post_json(&path, &b)?.ok()?
        }
        Err(e) => return Err(e.into()),
    };
    let v = r.json()?;
    let id = v["Id"].as_str().unwrap_or_default().to_string();
    if let Some(f) = &o.cidfile {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(f).map_err(|e| anyhow::anyhow!("failed to create the container ID file {f}: {e}"))?;
        file.write_all(id.as_bytes())?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("512m"), Some(512 << 20));
        assert_eq!(parse_bytes("1G"), Some(1 << 30));
        assert_eq!(parse_bytes("64mb"), Some(64 << 20));
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("x"), None);
    }

    #[test]
    fn flag_values() {
        assert_eq!(device("/dev/fuse").unwrap(), json!({"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}));
        assert_eq!(device("/dev/a:r").unwrap()["CgroupPermissions"], "r");
        assert_eq!(device("/dev/a:/dev/b:rw").unwrap()["PathInContainer"], "/dev/b");
        assert!(device("/dev/a:/b:c:d").is_none());
        assert_eq!(ulimit("nofile=10:20").unwrap(), json!({"Name": "nofile", "Soft": 10, "Hard": 20}));
        assert_eq!(ulimit("nproc=5").unwrap()["Hard"], 5);
        assert!(ulimit("nofile").is_none());
        let args = ["--cap-add", "NET_ADMIN", "--cap-add", "SYS_TIME", "--cpus", "1.5", "--sysctl", "net.a=1", "--tmpfs", "/run:size=1m", "--stop-timeout", "3", "img"];
        let o = parse_create("run", lexopt::Parser::from_args(args)).unwrap();
        let b = body(&o, false);
        assert_eq!(b["HostConfig"]["CapAdd"], json!(["NET_ADMIN", "SYS_TIME"]));
        assert_eq!(b["HostConfig"]["NanoCpus"], 1_500_000_000i64);
        assert_eq!(b["HostConfig"]["Sysctls"], json!({"net.a": "1"}));
        assert_eq!(b["HostConfig"]["Tmpfs"], json!({"/run": "size=1m"}));
        assert_eq!(b["StopTimeout"], 3);
        assert!(parse_create("run", lexopt::Parser::from_args(["--log-driver", "syslog", "img"])).is_err());
        let m = mount("type=bind,src=/a,dst=/b,readonly,bind-propagation=rshared").unwrap();
        assert_eq!(m, json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true, "BindOptions": {"Propagation": "rshared"}}));
        assert_eq!(mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap()["TmpfsOptions"], json!({"SizeBytes": 1048576, "Mode": 0o1770}));
        assert!(mount("type=volume,source=v").is_err());
        assert!(mount("bogus=1,target=/x").is_err());
        let o = parse_create("run", lexopt::Parser::from_args(["-v", "/anon", "-v", "data:/data:ro", "img"])).unwrap();
        let b = body(&o, false);
        assert_eq!((b["Volumes"].clone(), b["HostConfig"]["Binds"].clone()), (json!({"/anon": {}}), json!(["data:/data:ro"])));
    }
}
