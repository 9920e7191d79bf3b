//! `/_ping`, `/version`, `/info`.

use hyper::{Method, StatusCode};
use serde_json::json;

use super::{empty, json, text, Body, API_VERSION, MIN_API_VERSION};
use crate::error::Result;
use crate::State;

pub fn ping(m: &Method) -> hyper::Response<Body> {
    let mut r = if m == Method::HEAD { empty(StatusCode::OK) } else { text(StatusCode::OK, "OK") };
    let h = r.headers_mut();
    h.insert("cache-control", "no-cache, no-store, must-revalidate".parse().expect("static header"));
    h.insert("docker-experimental", "false".parse().expect("static header"));
    h.insert("pragma", "no-cache".parse().expect("static header"));
    r
}

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default()
}

fn os_name() -> String {
    let s = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_string()).unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    let s = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).map(|k| k * 1024).unwrap_or(0)
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

pub fn version(_s: &State) -> Result<hyper::Response<Body>> {
    let v = env!("CARGO_PKG_VERSION");
    let kernel = read_trim("/proc/sys/kernel/osrelease");
    Ok(json(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "berth"},
            "Components": [{"Name": "Engine", "Version": v, "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch(), "KernelVersion": kernel}}],
            "Version": v,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or(""),
            "GoVersion": "",
            "Os": "linux",
            "Arch": arch(),
            "KernelVersion": kernel,
            "BuildTime": "",
        }),
    ))
}

pub fn info(s: &State) -> Result<hyper::Response<Body>> {
    let images = s.store.count()?;
    let all = s.containers.list()?;
    let running = all.iter().filter(|c| c.running()).count();
    let cfg = &s.cfg;
    Ok(json(
        StatusCode::OK,
        &json!({
            "ID": s.id,
            "Containers": all.len(), "ContainersRunning": running, "ContainersPaused": 0, "ContainersStopped": all.len() - running,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", ""], ["Supports d_type", "true"]],
            "DockerRootDir": cfg.data_root,
            "Name": read_trim("/proc/sys/kernel/hostname"),
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem_total(),
            "OperatingSystem": os_name(),
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "KernelVersion": read_trim("/proc/sys/kernel/osrelease"),
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" },
            "LoggingDriver": "json-file",
            "DefaultRuntime": "berth-runtime",
            "Runtimes": {"berth-runtime": {"path": "berth-runtime"}},
            "RegistryConfig": {
                "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
                "IndexConfigs": {},
                "Mirrors": cfg.registry_mirrors,
                "InsecureRegistries": cfg.insecure_registries,
            },
            "Debug": cfg.log_level == tracing::Level::DEBUG,
            "SystemTime": crate::time::rfc3339_now(),
            "Warnings": ["berthd: HTTPS registries are not supported yet; plain-HTTP (insecure) registries and mirrors only"],
        }),
    ))
}

/// `POST /auth`: checks credentials against the registry's `/v2/` (its
/// challenge decides basic or bearer), as `docker login` asks the daemon to.
pub async fn auth(s: &State, body: &[u8]) -> Result<hyper::Response<Body>> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| crate::error::Error::BadParameter(format!("invalid auth configuration: {e}")))?;
    let get = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let (user, pass) = (get("username"), get("password"));
    if user.is_empty() || pass.is_empty() {
        return Err(crate::error::Error::BadParameter("username and password are required".into()));
    }
    let server = get("serveraddress");
    let domain = registry_domain(&server);
    crate::registry::upload::check_login(&s.registry, &domain, crate::registry::Credentials { username: user, password: pass }).await?;
    tracing::info!(registry = %domain, "login succeeded");
    Ok(json(StatusCode::OK, &json!({"Status": "Login Succeeded", "IdentityToken": ""})))
}

/// The registry host of a login's server address: `127.0.0.1:5001`,
/// `http://127.0.0.1:5001/v2/`, or docker.io's `https://index.docker.io/v1/`.
pub fn registry_domain(server: &str) -> String {
    let s = server.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => oci_image::reference::DEFAULT_DOMAIN.to_string(),
        h => h.to_string(),
    }
}
