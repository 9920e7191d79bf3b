//! `/containers/...`: create, start, stop, kill, wait, remove, list,
//! inspect, logs. Every create option is either implemented or refused
//! with a 400 that names it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::{empty, json, Body, Query};
use crate::containers::{self, Container};
use crate::error::{Error, Result};
use crate::State;

/// A value docker clients send when an option is not used.
fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        // `{"80/tcp": {}}` is a setting; `{"Name": ""}` is not.
        Value::Object(o) => o.values().all(|v| !v.is_object() && is_unset(v)),
    }
}

const CONFIG_KEYS: &[&str] = &[
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "WorkingDir",
    "User",
    "Tty",
    "OpenStdin",
    "Labels",
    "Hostname",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "StdinOnce",
    "StopSignal",
    "StopTimeout",
    "Volumes",
    "ExposedPorts",
];
const HOST_KEYS: &[&str] = &[
    "PortBindings",
    "PublishAllPorts",
    "NetworkMode",
    "AutoRemove",
    "Memory",
    "MemorySwap",
    "PidsLimit",
    // hostconfig::normalize's:
    "Privileged",
    "ReadonlyRootfs",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
    "Devices",
    "Ulimits",
    "Sysctls",
    "Tmpfs",
    "ShmSize",
    "CpuShares",
    "NanoCpus",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "BlkioWeight",
    "MemoryReservation",
    "LogConfig",
    // binds::resolve's:
    "Binds",
    "Mounts",
    "VolumesFrom",
    "RestartPolicy", "Init",
    // network::etc's:
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "ExtraHosts",
];

fn refuse_others(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<()> {
    for (k, v) in obj {
        if allowed.contains(&k.as_str()) || is_unset(v) {
            continue;
        }
        // What docker's own CLI sends when the option is at its default.
        let default = match k.as_str() {
            "CgroupnsMode" => v == "private",
            "MemorySwappiness" => v == -1,
            "Isolation" => v == "default",
            "ConsoleSize" => true,
            _ => false,
        };
        if !default {
            return Err(Error::BadParameter(format!("{what}.{k} is not implemented yet (given {v})")));
        }
    }
    Ok(())
}

fn str_list(v: &Value, what: &str) -> Result<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(s) => Ok(json!([s])),
        Value::Array(a) if a.iter().all(Value::is_string) => Ok(v.clone()),
        _ => Err(Error::BadParameter(format!("{what} must be a list of strings"))),
    }
}

pub async fn create(s: Arc<State>, q: &Query, body: Bytes) -> Result<hyper::Response<Body>> {
    q.only(&["name", "platform"])?;
    if q.get("platform").is_some_and(|p| !p.is_empty()) {
        return Err(Error::BadParameter("platform is not supported for create yet".into()));
    }
    let name = q.get("name").filter(|n| !n.is_empty()).map(|n| n.strip_prefix('/').unwrap_or(n).to_string());
    if let Some(n) = &name {
        if !containers::valid_name(n) {
            return Err(Error::BadParameter(format!("Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
        }
    }
    let req: Value = serde_json::from_slice(&body).map_err(|e| Error::BadParameter(format!("invalid JSON body: {e}")))?;
    let obj = req.as_object().ok_or_else(|| Error::BadParameter("the body must be a JSON object".into()))?;
    let host = obj.get("HostConfig").cloned().unwrap_or(json!({}));
    let host = host.as_object().cloned().ok_or_else(|| Error::BadParameter("HostConfig must be an object".into()))?;
    let mut cfg_obj = obj.clone();
    cfg_obj.remove("HostConfig");
    let networking = cfg_obj.remove("NetworkingConfig").unwrap_or(Value::Null);
    refuse_others(&cfg_obj, CONFIG_KEYS, "Config")?;
    refuse_others(&host, HOST_KEYS, "HostConfig")?;

    let image = cfg_obj
        .get("Image")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| Error::BadParameter("Config.Image is required".into()))?
        .to_string();
    let net = host.get("NetworkMode").and_then(Value::as_str).unwrap_or("");
    let net = if matches!(net, "" | "default") { "bridge" } else { net };
    let host_network = net == "host";
    // The networks the container joins: its NetworkMode's first, then the
    // other EndpointsConfig entries (API 1.44 takes several at create).
    let mut eps = networking.get("EndpointsConfig").and_then(Value::as_object).cloned().unwrap_or_default();
    // docker's CLI names the default network `default`, as in NetworkMode.
    if let Some(v) = eps.remove("default") {
        eps.insert("bridge".into(), v);
    }
    let mut joins: Vec<(crate::network::Net, crate::network::EndpointConfig)> = Vec::new();
    if let Some(other) = net.strip_prefix("container:") {
        // Joins another container's network namespace at start; it must exist now.
        s.containers.resolve(other)?;
    } else if crate::network::bridged(net) {
        let n = s.containers.net.find(net)?;
        let mine = eps.get(net).or_else(|| eps.get(&n.id)).or_else(|| eps.get(&n.name));
        joins.push((n, crate::network::EndpointConfig::from_json(mine.unwrap_or(&Value::Null))?));
    }
    for (k, v) in &eps {
        if k == net || joins.iter().any(|(n, _)| n.id == *k || n.name == *k) {
            continue;
        }
        let c = crate::network::EndpointConfig::from_json(v)?;
        if !crate::network::bridged(net) {
            if c == crate::network::EndpointConfig::default() && s.containers.net.find(k).is_ok_and(|n| n.name == net) {
                continue;
            }
            return Err(Error::BadParameter(format!("container sharing a network namespace ({net}) cannot be connected to network {k}")));
        }
        let n = s.containers.net.find(k)?;
        if !n.is_bridge() {
            return Err(Error::BadParameter(format!("container cannot be connected to both {net} and {} networks", n.name)));
        }
        joins.push((n, c));
    }
    let dns = crate::network::etc::DnsSettings::from_host_config(&Value::Object(host.clone()))?;
    if (!dns.servers.is_empty() || !dns.search.is_empty() || !dns.options.is_empty()) && net.starts_with("container:") {
        return Err(Error::Conflict("conflicting options: dns and the network mode container:".into()));
    }
    let host_gateway = s.containers.net.find("bridge").ok().and_then(|b| b.gateway);
    let extra_hosts = crate::network::etc::extra_hosts(host.get("ExtraHosts").unwrap_or(&Value::Null), joins.first().and_then(|(n, _)| n.gateway).or(host_gateway))?;
    let ports = crate::network::ports::parse_bindings(host.get("PortBindings").unwrap_or(&Value::Null))?;
    let publish_all = host.get("PublishAllPorts").and_then(Value::as_bool).unwrap_or(false);
    if (!ports.is_empty() || publish_all) && !crate::network::bridged(net) {
        return Err(Error::BadParameter("published ports need bridge networking (not --network none, host or container:)".into()));
    }
    let checked = containers::hostconfig::normalize(&host, host_network)?;
    let policy = containers::restart::Policy::parse(host.get("RestartPolicy").unwrap_or(&Value::Null))?;
    if policy != containers::restart::Policy::No && host.get("AutoRemove").and_then(Value::as_bool).unwrap_or(false) {
        return Err(Error::Conflict("Conflicting options: cannot use restart policy and auto-remove together (--restart and --rm)".into()));
    }
    let int = |k: &str| -> Result<i64> {
        match host.get(k) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v.as_i64().ok_or_else(|| Error::BadParameter(format!("HostConfig.{k} must be an integer"))),
        }
    };
    let (memory, swap, pids) = (int("Memory")?, int("MemorySwap")?, int("PidsLimit")?);
    if memory < 0 {
        return Err(Error::BadParameter("invalid Memory: must be positive".into()));
    }
    if memory > 0 && memory < 6 << 20 {
        return Err(Error::BadParameter("Minimum memory limit allowed is 6MB".into()));
    }
    if swap != 0 && memory == 0 {
        return Err(Error::BadParameter("You should always set the Memory limit when using Memoryswap limit".into()));
    }
    if swap > 0 && swap < memory {
        return Err(Error::BadParameter("Minimum memoryswap limit should be larger than memory limit, see usage".into()));
    }
    if swap < -1 {
        return Err(Error::BadParameter("invalid MemorySwap".into()));
    }
    let (img, _) = s.store.lookup(&image)?;

    let id = containers::random_id()?;
    let mut config = json!({
        "Hostname": cfg_obj.get("Hostname").and_then(Value::as_str).unwrap_or(""),
        "User": cfg_obj.get("User").and_then(Value::as_str).unwrap_or(""),
        "Env": str_list(cfg_obj.get("Env").unwrap_or(&Value::Null), "Env")?,
        "Cmd": str_list(cfg_obj.get("Cmd").unwrap_or(&Value::Null), "Cmd")?,
        "Entrypoint": str_list(cfg_obj.get("Entrypoint").unwrap_or(&Value::Null), "Entrypoint")?,
        "WorkingDir": cfg_obj.get("WorkingDir").and_then(Value::as_str).unwrap_or(""),
        "Tty": cfg_obj.get("Tty").and_then(Value::as_bool).unwrap_or(false),
        "OpenStdin": cfg_obj.get("OpenStdin").and_then(Value::as_bool).unwrap_or(false),
        "StdinOnce": cfg_obj.get("StdinOnce").and_then(Value::as_bool).unwrap_or(false),
        "AttachStdin": cfg_obj.get("AttachStdin").and_then(Value::as_bool).unwrap_or(false),
        "AttachStdout": cfg_obj.get("AttachStdout").and_then(Value::as_bool).unwrap_or(false),
        "AttachStderr": cfg_obj.get("AttachStderr").and_then(Value::as_bool).unwrap_or(false),
        "Labels": cfg_obj.get("Labels").filter(|l| l.is_object()).cloned().unwrap_or(json!({})),
        "Image": image,
    });
    // The image's settings are merged at create, as docker does, so that
    // inspect shows what runs and a retag of the image changes nothing.
    let img_cfg = oci_image::ImageConfig::parse(&s.store.read_blob(&img.id)?)?.config.unwrap_or(Value::Null);
    let p = crate::containers::spec::merge(&img_cfg, &config)?;
    if config["Hostname"] == "" {
        let h = if host_network {
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string()
        } else {
            id[..12].to_string()
        };
        config["Hostname"] = json!(h);
    }
    let hostname = config["Hostname"].as_str().unwrap_or_default().to_string();
    config["Env"] = json!(p.env);
    config["WorkingDir"] = json!(p.cwd);
    config["User"] = json!(p.user);
    if config["Entrypoint"].is_null() {
        config["Entrypoint"] = img_cfg.get("Entrypoint").cloned().unwrap_or(Value::Null);
        if config["Cmd"].is_null() || config["Cmd"] == json!([]) {
            config["Cmd"] = img_cfg.get("Cmd").cloned().unwrap_or(Value::Null);
        }
    }
    // The create's StopSignal, else the image's.
    let stop_signal = cfg_obj
        .get("StopSignal")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .or_else(|| img_cfg.get("StopSignal").and_then(Value::as_str).filter(|v| !v.is_empty()));
    if let Some(sig) = stop_signal {
        containers::parse_signal(sig)?;
        config["StopSignal"] = json!(sig);
    }
    match cfg_obj.get("StopTimeout") {
        None | Some(Value::Null) => {}
        Some(t) => {
            let t = t
                .as_i64()
                .filter(|t| *t >= -1)
                .ok_or_else(|| Error::BadParameter("Config.StopTimeout must be an integer of seconds (-1: wait forever)".into()))?;
            config["StopTimeout"] = json!(t);
        }
    }
    let mut labels = img_cfg.get("Labels").filter(|l| l.is_object()).cloned().unwrap_or(json!({}));
    if let (Some(l), Some(mine)) = (labels.as_object_mut(), config["Labels"].as_object()) {
        l.extend(mine.clone());
    }
    config["Labels"] = labels;
    // The image's ExposedPorts and the create's (docker's CLI sends the
    // -p ones, `--expose` adds more): what -P publishes and inspect shows.
    let mut exposed = img_cfg.get("ExposedPorts").and_then(Value::as_object).cloned().unwrap_or_default();
    match cfg_obj.get("ExposedPorts") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for k in m.keys() {
                let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                if p.parse::<u16>().map_or(true, |p| p == 0) || !matches!(proto, "tcp" | "udp") {
                    return Err(Error::BadParameter(format!("invalid ExposedPorts entry {k:?}: want PORT[/tcp|udp]")));
                }
                exposed.insert(format!("{p}/{proto}"), json!({}));
            }
        }
        Some(_) => return Err(Error::BadParameter("Config.ExposedPorts must be an object".into())),
    }
    if !exposed.is_empty() {
        config["ExposedPorts"] = Value::Object(exposed);
    }
    let host_config = json!({
        "NetworkMode": net,
        "PortBindings": host.get("PortBindings").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| json!({})),
        "PublishAllPorts": publish_all,
        "AutoRemove": host.get("AutoRemove").and_then(Value::as_bool).unwrap_or(false),
        "Memory": memory,
        "MemorySwap": if memory > 0 && swap == 0 { memory * 2 } else { swap },
        "PidsLimit": if pids > 0 { Value::from(pids) } else { Value::Null },
    });
    let mut host_config = host_config;
    if let Some(h) = host_config.as_object_mut() {
        h.extend(checked);
        h.insert("RestartPolicy".into(), policy.to_json());
        h.insert("Init".into(), json!(host.get("Init").and_then(Value::as_bool).unwrap_or(false)));
        for k in ["Dns", "DnsSearch", "DnsOptions", "ExtraHosts"] {
            h.insert(k.into(), host.get(k).filter(|v| v.is_array()).cloned().unwrap_or(json!([])));
        }
    }
    // Mounts: the create's, --volumes-from's, and anonymous volumes for the VOLUMEs.
    let config_volumes = cfg_obj.get("Volumes").cloned().unwrap_or(Value::Null);
    let mut tmpfs = host_config["Tmpfs"].as_object().cloned().unwrap_or_default();
    let mut mounts = containers::binds::resolve(&host, &config_volumes, img_cfg.get("Volumes").unwrap_or(&Value::Null), &mut tmpfs, |n| {
        let other = s.containers.resolve(n)?;
        s.containers.mounts(&other.id)
    })?;
    host_config["Tmpfs"] = Value::Object(tmpfs);
    if config_volumes.is_object() {
        config["Volumes"] = config_volumes;
    }
    let mut made_anonymous = Vec::new();
    let made = (|| -> Result<()> {
        for m in &mut mounts {
            if m.typ == "volume" {
                if m.name.is_empty() {
                    m.name = containers::random_id()?;
                    made_anonymous.push(m.name.clone());
                    s.containers.volumes.create(&m.name, &m.labels, true)?;
                } else {
                    s.containers.volumes.create(&m.name, &m.labels, false)?;
                }
            } else if m.create_source && !std::path::Path::new(&m.source).exists() {
                // -v creates a missing host directory, as docker's does (--mount refuses).
                std::fs::create_dir_all(&m.source).map_err(|e| Error::io("creating the bind source", std::path::Path::new(&m.source), e))?;
            }
        }
        Ok(())
    })();
    let files = containers::etc_files(&hostname, host_network, &extra_hosts, &dns);
    let created = made.and_then(|_| s.containers.net.configure(&id, &joins)).and_then(|_| {
        s.containers.create(
            &id,
            name.as_deref(),
            config["Image"].as_str().unwrap_or_default(),
            &img.id.to_string(),
            &config,
            &host_config,
            &files,
            &mounts,
        )
    });
    let c = match created {
        Ok(c) => c,
        Err(e) => {
            for v in made_anonymous {
                let _ = s.containers.volumes.remove(&v, true);
            }
            let _ = s.containers.net.forget(&id);
            return Err(e);
        }
    };
    tracing::info!(container = %c.id, name = %c.name, image = %c.image, "container created");
    s.containers.emit(&c, "create", &[]);
    Ok(json(StatusCode::CREATED, &json!({"Id": c.id, "Warnings": []})))
}

/// Resolves and refreshes: the record as it is now.
pub(super) async fn current(s: &State, name: &str) -> Result<Container> {
    let c = s.containers.resolve(name)?;
    s.containers.refresh(c).await?.ok_or_else(|| Error::NotFound(format!("No such container: {name}")))
}

pub async fn start(s: Arc<State>, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["detachKeys"])?;
    let c = current(&s, name).await?;
    if c.running() {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    s.containers.mark_started_by_user(&c.id)?;
    s.containers.start(&s.store, &c).await?;
    s.containers.emit(&c, "start", &[]);
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn stop(s: Arc<State>, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["t", "signal"])?;
    let c = current(&s, name).await?;
    // The request's t, else the container's StopTimeout, else docker's 10 s.
    let t = match q.get("t").filter(|t| !t.is_empty()) {
        None => c.config["StopTimeout"].as_i64().unwrap_or(10),
        Some(v) => v.parse::<i64>().map_err(|_| Error::BadParameter(format!("invalid value for t: {v:?}")))?,
    };
    // The image's StopSignal unless the request names one, as docker.
    let sig = containers::parse_signal(
        q.get("signal")
            .filter(|v| !v.is_empty())
            .or(c.config["StopSignal"].as_str().filter(|v| !v.is_empty()))
            .unwrap_or("TERM"),
    )?;
    // A stop wins over a pending restart, as docker's.
    s.containers.mark_stopped_by_user(&c.id)?;
    if c.status == "restarting" {
        s.containers.emit(&c, "stop", &[]);
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    if !c.running() {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    // t = -1: wait forever, as docker.
    let wait = if t < 0 { None } else { Some(Duration::from_secs(t as u64)) };
    s.containers.emit(&c, "kill", &[("signal", sig.to_string())]);
    s.containers.stop(&c, sig, wait).await?;
    s.containers.emit(&c, "stop", &[]);
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn kill(s: Arc<State>, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["signal"])?;
    let sig = containers::parse_signal(q.get("signal").filter(|v| !v.is_empty()).unwrap_or("KILL"))?;
    let c = current(&s, name).await?;
    if !c.running() {
        return Err(Error::Conflict(format!("Cannot kill container: {name}: container {} is not running", c.id)));
    }
    s.containers.mark_stopped_by_user(&c.id)?;
    s.containers.signal(&c, sig)?;
    s.containers.emit(&c, "kill", &[("signal", sig.to_string())]);
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn wait(s: Arc<State>, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["condition"])?;
    let condition = q.get("condition").unwrap_or("").to_string();
    if !matches!(condition.as_str(), "" | "not-running" | "next-exit" | "removed") {
        return Err(Error::BadParameter(format!("invalid condition: {condition:?}")));
    }
    let c = s.containers.resolve(name)?;
    let id = c.id.clone();
    // The headers go out now and the status when the wait ends, as
    // dockerd does: docker's CLI sends `wait` and only then `start`.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        let r: Result<i64> = async {
            // next-exit: a container not running yet is waited for to start first
            // (docker run waits before it starts the container).
            let mut c = c;
            if condition == "next-exit" && !c.running() {
                let started = c.started_at.clone();
                loop {
                    match s.containers.refresh(c.clone()).await? {
                        None => break,
                        Some(n) if n.running() || n.started_at != started => {
                            c = n;
                            break;
                        }
                        Some(n) => c = n,
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let mut code = match s.containers.wait_exit(&c, None).await? {
                Some(c) => c.exit_code,
                None => s.containers.removed_exit_code(&id).unwrap_or(0),
            };
            if condition == "removed" {
                while let Some(n) = s.containers.get(&id)? {
                    code = n.exit_code;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ = s.containers.refresh(n).await?;
                }
                code = s.containers.removed_exit_code(&id).unwrap_or(code);
            }
            Ok(code)
        }
        .await;
        let v = match r {
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
        };
        let _ = tx.send(Bytes::from(format!("{v}\n")));
    });
    Ok(super::stream_as(rx, "application/json"))
}

pub async fn remove(s: Arc<State>, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["force", "v", "link"])?;
    if q.flag("link")? {
        return Err(Error::BadParameter("links are not implemented".into()));
    }
    let volumes = q.flag("v")?;
    let force = q.flag("force")?;
    let c = current(&s, name).await?;
    if c.status == "restarting" {
        if !force {
            return Err(Error::Conflict(format!(
                "cannot remove container \"/{}\": container is restarting: stop the container before removing or force remove",
                c.name
            )));
        }
        s.containers.mark_stopped_by_user(&c.id)?;
    }
    if c.running() {
        if !force {
            return Err(Error::Conflict(format!(
                "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                c.name
            )));
        }
        s.containers.signal(&c, libc::SIGKILL)?;
        if let Some(n) = s.containers.wait_exit(&c, Some(Duration::from_secs(30))).await? {
            if n.running() {
                return Err(Error::Internal(format!("container {} did not exit after SIGKILL", c.id)));
            }
        }
    }
    s.containers.remove(&c, volumes).await?;
    tracing::info!(container = %c.id, "container removed");
    Ok(empty(StatusCode::NO_CONTENT))
}

fn secs(rfc: &str) -> i64 {
    crate::time::parse_rfc3339(rfc).unwrap_or(0)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h) = (s / 60, s / 3600);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

pub(super) fn status_text(c: &Container) -> String {
    match c.status.as_str() {
        "running" if c.paused => format!("Up {} (Paused)", human_duration(now() - secs(&c.started_at))),
        "running" => format!("Up {}", human_duration(now() - secs(&c.started_at))),
        "exited" => format!("Exited ({}) {} ago", c.exit_code, human_duration(now() - secs(&c.finished_at))),
        "restarting" => format!("Restarting ({}) {} ago", c.exit_code, human_duration(now() - secs(&c.finished_at))),
        _ => "Created".into(),
    }
}

fn command(c: &Container) -> (String, Vec<String>) {
    let list = |v: &Value| -> Vec<String> { v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default() };
    let mut all = list(&c.config["Entrypoint"]);
    all.extend(list(&c.config["Cmd"]));
    if all.is_empty() {
        return (String::new(), vec![]);
    }
    let path = all.remove(0);
    (path, all)
}

pub async fn list(s: Arc<State>, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["all", "size", "limit", "filters"])?;
    let f = q.filters(&["id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "network"])?;
    let all = q.flag("all")?;
    let size = q.flag("size")?;
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        None => -1,
        Some(v) => v.parse::<i64>().map_err(|_| Error::BadParameter(format!("invalid limit {v:?}")))?,
    };
    s.containers.sweep(&s.store).await?;
    let list = s.containers.list()?;
    // before/since name a container: the ones created after (before) it.
    let created_of = |n: &str| -> Result<String> { Ok(s.containers.resolve(n)?.created) };
    let mut bounds = (None, None);
    for (k, v) in &f {
        match k.as_str() {
            "before" => bounds.0 = Some(created_of(v)?),
            "since" => bounds.1 = Some(created_of(v)?),
            "status" if !matches!(v.as_str(), "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead") => {
                return Err(Error::BadParameter(format!("invalid filter 'status={v}'")));
            }
            "exited" if v.parse::<i64>().is_err() => return Err(Error::BadParameter(format!("invalid filter 'exited={v}'"))),
            _ => {}
        }
    }
    // A status filter (or `exited`) looks at every container, as docker's.
    let all = all || f.iter().any(|(k, _)| k == "status" || k == "exited");
    let mut out = Vec::new();
    for c in list {
        if !all && !matches!(c.status.as_str(), "running" | "restarting") && limit <= 0 {
            continue;
        }
        if bounds.0.as_ref().is_some_and(|b| c.created >= *b) || bounds.1.as_ref().is_some_and(|b| c.created <= *b) {
            continue;
        }
        if !container_matches(&s, &c, &f)? {
            continue;
        }
        if limit > 0 && out.len() as i64 >= limit {
            break;
        }
        let mut row = summary(&s, &c)?;
        if size {
            add_sizes(&s, &c, &mut row);
        }
        out.push(row);
    }
    Ok(json(StatusCode::OK, &Value::Array(out)))
}

/// A container as `ps` lists it (docker's ContainerSummary).
pub(super) fn summary(s: &State, c: &Container) -> Result<Value> {
    let (path, args) = command(c);
    let cmdline = std::iter::once(path).chain(args).collect::<Vec<_>>().join(" ");
    Ok(json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": cmdline,
        "Created": secs(&c.created),
        "Ports": s.containers.net.published(&c.id).iter().map(|p| json!({"IP": p.host_ip_str(), "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto})).collect::<Vec<_>>(),
        "Labels": c.config["Labels"],
        "State": if c.paused { "paused" } else { c.status.as_str() },
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config["NetworkMode"]},
        "NetworkSettings": {"Networks": network_settings(s, c)["Networks"]},
        "Mounts": s.containers.mounts(&c.id)?.iter().map(|m| m.to_json(|n| s.containers.volumes.data_dir(n))).collect::<Vec<_>>(),
    }))
}

/// `SizeRw` (what the container wrote: its upper directory) and
/// `SizeRootFs` (that plus its image), as `ps --size` and `system df` show.
pub(super) fn add_sizes(s: &State, c: &Container, row: &mut Value) {
    let rw = crate::volumes::dir_size(&s.containers.dir(&c.id).join("upper"));
    let image = s.store.lookup(&c.image_id).map(|(img, _)| img.size).unwrap_or(0);
    row["SizeRw"] = json!(rw);
    row["SizeRootFs"] = json!(rw + image);
}

/// docker ps's filters other than before/since: values of one name are
/// alternatives, different names must all match.
fn container_matches(s: &State, c: &Container, f: &[(String, String)]) -> Result<bool> {
    let mut names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).filter(|k| *k != "before" && *k != "since").collect();
    names.sort_unstable();
    names.dedup();
    for n in names {
        let mut any = false;
        for (_, v) in f.iter().filter(|(k, _)| k == n) {
            any |= match n {
                "id" => c.id.starts_with(v.as_str()),
                "name" => c.name.contains(v.trim_start_matches('/')),
                "label" => match v.split_once('=') {
                    Some((k, val)) => c.config["Labels"][k] == val,
                    None => c.config["Labels"].get(v.as_str()).is_some(),
                },
                "status" => (if c.paused { "paused" } else { c.status.as_str() }) == v,
                "exited" => c.status == "exited" && v.parse::<i64>().ok() == Some(c.exit_code),
                "ancestor" => {
                    c.image == *v
                        || c.image_id == *v
                        || c.image_id.trim_start_matches("sha256:").starts_with(v.trim_start_matches("sha256:"))
                        || s.store.lookup(v).is_ok_and(|(i, _)| i.id.to_string() == c.image_id)
                }
                "volume" => s.containers.mounts(&c.id)?.iter().any(|m| m.name == *v || m.destination == *v),
                "network" => c.host_config["NetworkMode"] == v.as_str() || s.containers.net.configured(&c.id)?.iter().any(|(n, _)| n.name == *v || n.id.starts_with(v.as_str())),
                _ => false,
            };
        }
        if !any {
            return Ok(false);
        }
    }
    Ok(true)
}

pub async fn inspect(s: Arc<State>, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["size"])?;
    let c = current(&s, name).await?;
    let (path, args) = command(&c);
    let dir = s.containers.dir(&c.id);
    let lower: Vec<String> = match s.store.lookup(&c.image_id) {
        Ok((img, _)) => img.diff_ids.iter().rev().map(|d| s.store.layer_path(d).display().to_string()).collect(),
        Err(_) => vec![],
    };
    let status = if c.paused { "paused" } else { c.status.as_str() };
    let v = json!({
        "Id": c.id,
        "Created": c.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": status,
            "Running": c.running(),
            "Paused": c.paused,
            "Restarting": c.status == "restarting",
            "OOMKilled": c.oom_killed,
            "Dead": false,
            "Pid": c.pid,
            "ExitCode": c.exit_code,
            "Error": c.error,
            "StartedAt": c.started_at,
            "FinishedAt": c.finished_at,
        },
        "Image": c.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": s.containers.log_path(&c.id),
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "HostConfig": c.host_config,
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": lower.join(":"),
            "UpperDir": dir.join("upper"),
            "WorkDir": dir.join("work"),
            "MergedDir": dir.join("rootfs"),
        }},
        "Mounts": s.containers.mounts(&c.id)?.iter().map(|m| m.to_json(|n| s.containers.volumes.data_dir(n))).collect::<Vec<_>>(),
        "Config": c.config,
        "NetworkSettings": network_settings(&s, &c),
    });
    Ok(json(StatusCode::OK, &v))
}

/// docker's NetworkSettings: per network, the configured endpoint with
/// what it has while running; the top-level fields are the first one's.
fn network_settings(s: &State, c: &Container) -> Value {
    let live = if c.running() { s.containers.net.endpoints(&c.id) } else { Vec::new() };
    let mut nets = Map::new();
    for (n, conf) in s.containers.net.configured(&c.id).unwrap_or_default() {
        let ep = live.iter().find(|e| e.network.id == n.id);
        let mut dns_names: Vec<String> = Vec::new();
        if !n.is_default() {
            dns_names.push(c.name.clone());
            dns_names.extend(conf.aliases.iter().cloned());
            dns_names.push(c.id[..12].to_string());
        }
        nets.insert(
            n.name.clone(),
            json!({
                "IPAMConfig": conf.ipv4.map(|a| json!({"IPv4Address": a.to_string()})),
                "Links": null,
                "Aliases": if conf.aliases.is_empty() { Value::Null } else { json!(conf.aliases) },
                "NetworkID": n.id,
                "EndpointID": ep.map(|_| format!("{}{}", &c.id[..32], &n.id[..32])).unwrap_or_default(),
                "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
                "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0),
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(),
                "DNSNames": if dns_names.is_empty() { Value::Null } else { json!(dns_names) },
            }),
        );
    }
    let mode = c.host_config["NetworkMode"].as_str().unwrap_or_default();
    if nets.is_empty() && matches!(mode, "host" | "none") {
        if let Ok(n) = s.containers.net.find(mode) {
            nets.insert(n.name.clone(), json!({"NetworkID": n.id, "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": ""}));
        }
    }
    let first = live.first();
    let ports = if c.running() { crate::network::ports::settings(&s.containers.net.published(&c.id)) } else { json!({}) };
    json!({
        "SandboxKey": first.map(|_| s.containers.net.netns_path(&c.id).to_string_lossy().into_owned()).unwrap_or_default(),
        "IPAddress": first.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": first.map(|e| e.prefix).unwrap_or(0),
        "Gateway": first.map(|e| e.gateway.to_string()).unwrap_or_default(),
        "MacAddress": first.map(|e| e.mac.clone()).unwrap_or_default(),
        "Ports": ports,
        "Networks": nets,
    })
}

/// A log entry's RFC 3339 time with its fraction, in nanoseconds since the epoch.
fn entry_nanos(t: &str) -> u128 {
    let secs = crate::time::parse_rfc3339(t).unwrap_or(0).max(0) as u128;
    let frac = t
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches('Z').chars().take_while(char::is_ascii_digit).collect::<String>())
        .unwrap_or_default();
    let ns: u128 = format!("{frac:0<9}").get(..9).and_then(|d| d.parse().ok()).unwrap_or(0);
    secs * 1_000_000_000 + ns
}

/// One json-file log entry as the logs endpoint sends it.
fn frame(entry: &Value, stdout: bool, stderr: bool, timestamps: bool, tty: bool) -> Option<Vec<u8>> {
    let stream = entry["stream"].as_str().unwrap_or("stdout");
    let err = stream == "stderr";
    if (err && !stderr) || (!err && !stdout) {
        return None;
    }
    let mut payload = Vec::new();
    if timestamps {
        payload.extend_from_slice(entry["time"].as_str().unwrap_or(containers::ZERO_TIME).as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(entry["log"].as_str().unwrap_or("").as_bytes());
    if tty {
        return Some(payload);
    }
    let mut out = vec![if err { 2 } else { 1 }, 0, 0, 0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    Some(out)
}

pub async fn logs(s: Arc<State>, name: &str, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["stdout", "stderr", "tail", "timestamps", "follow", "since", "until", "details"])?;
    // Whole seconds, as the CLI's forms resolve them; entries carry nanoseconds.
    let bound = |k: &str| -> Result<Option<u128>> {
        match q.get(k).filter(|v| !v.is_empty() && *v != "0") {
            None => Ok(None),
            Some(v) => Ok(Some(crate::time::filter_timestamp(v)?.max(0) as u128 * 1_000_000_000)),
        }
    };
    let (since, until) = (bound("since")?, bound("until")?);
    if q.flag("details")? {
        return Err(Error::BadParameter("logs details is not implemented yet".into()));
    }
    let (stdout, stderr, timestamps, follow) = (q.flag("stdout")?, q.flag("stderr")?, q.flag("timestamps")?, q.flag("follow")?);
    if !stdout && !stderr {
        return Err(Error::BadParameter("you must choose at least one stream".into()));
    }
    let tail: Option<usize> = match q.get("tail").filter(|t| !t.is_empty() && *t != "all") {
        None => None,
        Some(t) => Some(t.parse().map_err(|_| Error::BadParameter(format!("invalid tail {t:?}")))?),
    };
    let c = current(&s, name).await?;
    let tty = c.tty();
    let path = s.containers.log_path(&c.id);
    let content_type = if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let file = std::fs::File::open(&path).ok();
    let skip_by_tail = move |lines: &Vec<String>| tail.map(|t| lines.len().saturating_sub(t)).unwrap_or(0);
    tokio::spawn(async move {
        use std::io::{BufRead, BufReader};
        let Some(f) = file else { return };
        let mut r = BufReader::new(f);
        let mut pending = String::new();
        let in_range = |e: &Value| {
            let t = e["time"].as_str().map(entry_nanos).unwrap_or(0);
            since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
        };
        let emit = |line: &str, tx: &tokio::sync::mpsc::UnboundedSender<Bytes>| -> bool {
            match serde_json::from_str::<Value>(line).ok().filter(in_range).and_then(|e| frame(&e, stdout, stderr, timestamps, tty)) {
                Some(b) => tx.send(Bytes::from(b)).is_ok(),
                None => true,
            }
        };
        // What is there now (the rotated files, oldest first, then the
        // current one), the last `tail` lines of it.
        let mut lines = Vec::new();
        for n in (1..100).rev() {
            let Ok(text) = std::fs::read_to_string(format!("{}.{n}", path.display())) else { continue };
            lines.extend(text.lines().map(|l| format!("{l}\n")));
        }
        loop {
            let mut l = String::new();
            match r.read_line(&mut l) {
                Ok(0) | Err(_) => break,
                Ok(_) if l.ends_with('\n') => lines.push(l),
                Ok(_) => {
                    pending = l;
                    break;
                }
            }
        }
        // tail counts the lines in range, as docker's does.
        let lines: Vec<String> = lines.into_iter().filter(|l| serde_json::from_str::<Value>(l).ok().is_some_and(|e| in_range(&e))).collect();
        let skip = skip_by_tail(&lines);
        for l in &lines[skip..] {
            if !emit(l, &tx) {
                return;
            }
        }
        let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        if !follow || until.is_some_and(|u| u <= now_ns) {
            return;
        }
        let mut cur = Some(c);
        loop {
            let mut l = String::new();
            match r.read_line(&mut l) {
                Ok(n) if n > 0 => {
                    pending.push_str(&l);
                    if pending.ends_with('\n') {
                        let line = std::mem::take(&mut pending);
                        if !emit(&line, &tx) {
                            return;
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                Err(_) => return,
            }
            // At the end of the file: done once the container is no longer
            // running (and what it wrote before exiting is read).
            let Some(c) = cur.take() else { return };
            match s.containers.refresh(c).await {
                Ok(Some(n)) if n.running() => cur = Some(n),
                _ => {
                    // One last read for what came in before the exit.
                    let mut rest = String::new();
                    while r.read_line(&mut rest).unwrap_or(0) > 0 {}
                    for line in (pending + &rest).lines() {
                        if !emit(line, &tx) {
                            return;
                        }
                    }
                    return;
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Ok(super::stream_as(rx, content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_refused() {
        assert!(is_unset(&json!({"Name": "", "X": []})));
        assert!(!is_unset(&json!({"80/tcp": {}})));
        let m = json!({"Cmd": ["x"], "AttachStdout": true, "Volumes": {}, "Healthcheck": null}).as_object().cloned().unwrap();
        assert!(refuse_others(&m, CONFIG_KEYS, "Config").is_ok());
        let m = json!({"ExposedPorts": {"80/tcp": {}}}).as_object().cloned().unwrap();
        assert!(refuse_others(&m, CONFIG_KEYS, "Config").is_ok());
        let m = json!({"Healthcheck": {"Test": ["CMD", "true"]}}).as_object().cloned().unwrap();
        assert!(refuse_others(&m, CONFIG_KEYS, "Config").unwrap_err().to_string().contains("Config.Healthcheck"));
        let m = json!({"RestartPolicy": {"Name": "no"}, "LogConfig": {"Type": "json-file", "Config": {}}, "Links": ["a:b"]})
            .as_object()
            .cloned()
            .unwrap();
        assert!(refuse_others(&m, HOST_KEYS, "HostConfig").unwrap_err().to_string().contains("HostConfig.Links"));
    }

    #[test]
    fn log_frames() {
        let e = json!({"log": "hi\n", "stream": "stderr", "time": "2024-01-01T00:00:00.5Z"});
        assert_eq!(frame(&e, true, true, false, false).unwrap(), [2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
        assert_eq!(frame(&e, true, true, true, true).unwrap(), b"2024-01-01T00:00:00.5Z hi\n");
        assert!(frame(&e, true, false, false, false).is_none());
    }
}
