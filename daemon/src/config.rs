//! daemon.json and dockerd-like flags. As dockerd does, an unknown key or
//! flag is refused, and a setting given both as a flag and in the file is an
//! error rather than a silent override.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

pub const DEFAULT_CONFIG: &str = "/etc/berth/daemon.json";
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub data_root: Option<PathBuf>,
    pub hosts: Option<Vec<String>>,
    pub registry_mirrors: Option<Vec<String>>,
    pub insecure_registries: Option<Vec<String>>,
    pub log_level: Option<String>,
    pub group: Option<String>,
    pub max_concurrent_downloads: Option<usize>,
    pub max_concurrent_uploads: Option<usize>,
    pub exec_root: Option<PathBuf>,
    pub runtime: Option<PathBuf>,
    pub shim: Option<PathBuf>,
    pub init_path: Option<PathBuf>,
    /// The default bridge's address and prefix (docker's `bip`).
    pub bip: Option<String>,
    /// `nftables` or `iptables` (dockerd's key); the host's tools decide without it.
    pub firewall_backend: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_root: PathBuf,
    pub socket: PathBuf,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub log_level: tracing::Level,
    pub group: String,
    pub max_concurrent_downloads: usize,
    pub max_concurrent_uploads: usize,
    pub exec_root: PathBuf,
    pub runtime: PathBuf,
    pub shim: PathBuf,
    /// `run --init`'s init (a static binary, bind-mounted into containers).
    pub init_path: PathBuf,
    pub bip: Option<String>,
    pub firewall_backend: Option<String>,
    /// Per-registry CA certificates, `<dir>/<host[:port]>/*.crt`: the
    /// `certs.d` next to the configuration file, as Docker keeps
    /// /etc/docker/certs.d next to its daemon.json.
    pub certs_dir: PathBuf,
}

#[derive(Debug, Default)]
pub struct Flags {
    pub config_file: Option<PathBuf>,
    pub data_root: Option<PathBuf>,
    pub hosts: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub log_level: Option<String>,
    pub group: Option<String>,
    pub max_concurrent_downloads: Option<usize>,
    pub max_concurrent_uploads: Option<usize>,
    pub exec_root: Option<PathBuf>,
    pub runtime: Option<PathBuf>,
    pub shim: Option<PathBuf>,
    pub init_path: Option<PathBuf>,
    pub bip: Option<String>,
    pub firewall_backend: Option<String>,
}

pub const USAGE: &str = "Usage: berthd [OPTIONS]

The berth daemon: Docker Engine API on a Unix socket.

Options:
      --config-file string           daemon configuration file (default /etc/berth/daemon.json)
      --data-root string             root of persistent state (default /var/lib/berth)
  -H, --host unix://PATH             socket to listen on (default unix:///run/berth/berth.sock)
      --group string                 group owning the socket (default berth, if it exists)
      --registry-mirror URL          preferred registry mirror for docker.io (repeatable)
      --insecure-registry HOST[:PORT] registry reached over plain HTTP (repeatable)
      --max-concurrent-downloads n   layers downloaded at once per pull (default 3)
      --max-concurrent-uploads n     layers uploaded at once per push (default 5)
      --exec-root string             root of per-run state: shim state, runtime root (default /run/berth)
      --runtime PATH                 the OCI runtime (default berth-runtime next to berthd, else on PATH)
      --shim PATH                    the per-container shim (default berth-shim next to berthd, else on PATH)
      --init-path PATH               the init of run --init, a static binary (default berth-init next to berthd, else on PATH)
      --bip CIDR                     the default bridge berth0's address and prefix (default 10.89.0.1/24)
      --firewall-backend string      nftables or iptables (default: nftables if nft works, else iptables)
  -l, --log-level string             debug, info, warn, error, fatal (default info)
  -h, --help                         this help
  -v, --version                      print the version
";

#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    Run(Flags),
    Help,
    Version,
}

pub fn parse_flags(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Parsed> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut f = Flags::default();
    let bad = |e: lexopt::Error| Error::Config(format!("{e}\nSee 'berthd --help'."));
    while let Some(arg) = p.next().map_err(bad)? {
        match arg {
            Long("config-file") => f.config_file = Some(val(&mut p)?.into()),
            Long("data-root") | Long("graph") => f.data_root = Some(val(&mut p)?.into()),
            Short('H') | Long("host") => f.hosts.push(val(&mut p)?),
            Long("registry-mirror") => f.registry_mirrors.push(val(&mut p)?),
            Long("insecure-registry") => f.insecure_registries.push(val(&mut p)?),
            Short('l') | Long("log-level") => f.log_level = Some(val(&mut p)?),
            Short('G') | Long("group") => f.group = Some(val(&mut p)?),
            Long("max-concurrent-downloads") => {
                let v = val(&mut p)?;
                f.max_concurrent_downloads = Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| Error::Config(format!("invalid --max-concurrent-downloads {v:?}")))?)
            }
            Long("max-concurrent-uploads") => {
                let v = val(&mut p)?;
                f.max_concurrent_uploads = Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| Error::Config(format!("invalid --max-concurrent-uploads {v:?}")))?)
            }
            Long("exec-root") => f.exec_root = Some(val(&mut p)?.into()),
            Long("runtime") => f.runtime = Some(val(&mut p)?.into()),
            Long("shim") => f.shim = Some(val(&mut p)?.into()),
            Long("init-path") => f.init_path = Some(val(&mut p)?.into()),
            Long("bip") => f.bip = Some(val(&mut p)?),
            Long("firewall-backend") => f.firewall_backend = Some(val(&mut p)?),
            Short('D') | Long("debug") => f.log_level = Some("debug".into()),
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('v') | Long("version") => return Ok(Parsed::Version),
            other => return Err(bad(other.unexpected())),
        }
    }
    Ok(Parsed::Run(f))
}

fn val(p: &mut lexopt::Parser) -> Result<String> {
    p.value().map_err(|e| Error::Config(format!("{e}\nSee 'berthd --help'.")))?.into_string().map_err(|_| Error::Config("flag value is not UTF-8".into()))
}

fn both(name: &str) -> Error {
    Error::Config(format!("the following directives are specified both as a flag and in the configuration file: {name}"))
}

fn merge<T>(name: &str, flag: Option<T>, file: Option<T>) -> Result<Option<T>> {
    match (flag, file) {
        (Some(_), Some(_)) => Err(both(name)),
        (a, b) => Ok(a.or(b)),
    }
}

fn merge_list(name: &str, flag: Vec<String>, file: Option<Vec<String>>) -> Result<Vec<String>> {
    match (flag.is_empty(), file) {
        (false, Some(_)) => Err(both(name)),
        (true, Some(v)) => Ok(v),
        (_, None) => Ok(flag),
    }
}

pub fn load(flags: Flags) -> Result<Config> {
    let path = flags.config_file.clone().unwrap_or_else(|| DEFAULT_CONFIG.into());
    let file = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice::<FileConfig>(&b).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?,
        // Only the default file may be absent.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && flags.config_file.is_none() => FileConfig::default(),
        Err(e) => return Err(Error::io("reading configuration", &path, e)),
    };
    let hosts = merge_list("hosts", flags.hosts, file.hosts)?;
    let socket = match hosts.as_slice() {
        [] => PathBuf::from(DEFAULT_SOCKET),
        [h] => parse_host(h)?,
        _ => return Err(Error::Config("only one -H/--host is supported".into())),
    };
    let level = merge("log-level", flags.log_level, file.log_level)?.unwrap_or_else(|| "info".into());
    let log_level = match level.as_str() {
        "debug" | "trace" => tracing::Level::DEBUG,
        "info" => tracing::Level::INFO,
        "warn" => tracing::Level::WARN,
        "error" | "fatal" => tracing::Level::ERROR,
        other => return Err(Error::Config(format!("unable to parse logging level: {other}"))),
    };
    let mirrors = merge_list("registry-mirrors", flags.registry_mirrors, file.registry_mirrors)?;
    for m in &mirrors {
        validate_mirror(m)?;
    }
    let insecure = merge_list("insecure-registries", flags.insecure_registries, file.insecure_registries)?;
    let data_root = merge("data-root", flags.data_root, file.data_root)?.unwrap_or_else(|| DEFAULT_DATA_ROOT.into());
    if !data_root.is_absolute() {
        return Err(Error::Config(format!("data-root {:?} must be an absolute path", data_root)));
    }
    let exec_root = merge("exec-root", flags.exec_root, file.exec_root)?.unwrap_or_else(|| DEFAULT_EXEC_ROOT.into());
    if !exec_root.is_absolute() {
        return Err(Error::Config(format!("exec-root {:?} must be an absolute path", exec_root)));
    }
    let runtime = find_binary("runtime", merge("runtime", flags.runtime, file.runtime)?, "berth-runtime")?;
    let shim = find_binary("shim", merge("shim", flags.shim, file.shim)?, "berth-shim")?;
    let init_path = find_binary("init-path", merge("init-path", flags.init_path, file.init_path)?, "berth-init")?;
    let bip = merge("bip", flags.bip, file.bip)?;
    let firewall_backend = merge("firewall-backend", flags.firewall_backend, file.firewall_backend)?;
    if let Some(b) = firewall_backend.as_deref().filter(|b| !matches!(*b, "nftables" | "iptables")) {
        return Err(Error::Config(format!("invalid firewall-backend {b:?}: nftables or iptables")));
    }
    let certs_dir = path.parent().unwrap_or(std::path::Path::new("/")).join("certs.d");
    Ok(Config {
        certs_dir,
        bip,
        firewall_backend,
        exec_root,
        runtime,
        shim,
        init_path,
        data_root,
        socket,
        registry_mirrors: mirrors.into_iter().map(|m| m.trim_end_matches('/').to_string()).collect(),
        insecure_registries: insecure,
        log_level,
        group: merge("group", flags.group, file.group)?.unwrap_or_else(|| "berth".into()),
        max_concurrent_downloads: merge("max-concurrent-downloads", flags.max_concurrent_downloads, file.max_concurrent_downloads)?.unwrap_or(3),
        max_concurrent_uploads: merge("max-concurrent-uploads", flags.max_concurrent_uploads, file.max_concurrent_uploads)?.unwrap_or(5),
    })
}

/// A helper binary: as configured, else next to berthd's own executable,
/// else on PATH. A configured path must exist.
fn find_binary(key: &str, given: Option<PathBuf>, name: &str) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            return Err(Error::Config(format!("{key} {} does not exist", p.display())));
        }
        return Ok(p);
    }
    let next_to_us = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join(name)));
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect::<Vec<_>>());
    // Not finding it is no error for an images-only daemon: starting a
    // container says what is missing.
    Ok(next_to_us.into_iter().chain(on_path).find(|p| p.is_file()).unwrap_or_else(|| PathBuf::from(name)))
}

fn parse_host(h: &str) -> Result<PathBuf> {
    match h.strip_prefix("unix://") {
        Some("") => Ok(DEFAULT_SOCKET.into()),
        Some(p) if Path::new(p).is_absolute() => Ok(p.into()),
        _ if h.starts_with("tcp://") || h.starts_with("fd://") || h.starts_with("ssh://") => {
            Err(Error::Config(format!("host {h:?}: only unix:// sockets are supported (an unauthenticated TCP listener is not offered)")))
        }
        _ => Err(Error::Config(format!("host {h:?}: expected unix:///absolute/path"))),
    }
}

fn validate_mirror(m: &str) -> Result<()> {
    let rest = m.strip_prefix("http://").or_else(|| m.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.trim_end_matches('/').contains('/') => Ok(()),
        _ => Err(Error::Config(format!("invalid mirror {m:?}: expected http(s)://host[:port] with no path"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(a: &[&str]) -> Result<Parsed> {
        parse_flags(a.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn flags_and_file() {
        let dir = std::env::temp_dir().join(format!("berthd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("daemon.json");
        std::fs::write(&file, r#"{"data-root":"/tmp/x","insecure-registries":["reg:5000"]}"#).unwrap();
        let Parsed::Run(f) = flags(&["--config-file", file.to_str().unwrap(), "-H", "unix:///tmp/b.sock", "--registry-mirror", "http://127.0.0.1:5000"]).ok().unwrap() else { panic!() };
        let c = load(f).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/tmp/x"));
        assert_eq!(c.socket, PathBuf::from("/tmp/b.sock"));
        assert_eq!(c.insecure_registries, vec!["reg:5000"]);
        assert_eq!(c.registry_mirrors, vec!["http://127.0.0.1:5000"]);
        let Parsed::Run(f) = flags(&["--config-file", file.to_str().unwrap(), "--data-root", "/y"]).ok().unwrap() else { panic!() };
        assert!(load(f).unwrap_err().to_string().contains("both as a flag and in the configuration file"));
        std::fs::write(&file, r#"{"data-rot":"/tmp/x"}"#).unwrap();
        let Parsed::Run(f) = flags(&["--config-file", file.to_str().unwrap()]).ok().unwrap() else { panic!() };
        assert!(load(f).is_err());
        let Parsed::Run(f) = flags(&["--config-file", dir.join("missing.json").to_str().unwrap()]).ok().unwrap() else { panic!() };
        assert!(load(f).is_err(), "an explicit config file must exist");
        assert!(flags(&["--bogus"]).is_err());
        assert!(flags(&["--max-concurrent-uploads", "0"]).is_err());
        let Parsed::Run(f) = flags(&["--max-concurrent-uploads", "2", "--data-root", "/tmp/x"]).ok().unwrap() else { panic!() };
        assert_eq!(f.max_concurrent_uploads, Some(2));
        let Parsed::Run(f) = flags(&["-H", "tcp://0.0.0.0:2375"]).ok().unwrap() else { panic!() };
        assert!(load(f).unwrap_err().to_string().contains("only unix://"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
