//! `berth login` / `berth logout`: credentials checked by the daemon (which
//! answers the registry's challenge), kept where the docker CLI keeps them:
//! `auths.<server>.auth` (base64 `user:password`) in
//! `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. The file's other
//! keys are kept; it is replaced atomically and readable by its owner only.
//! Credential helpers (`credsStore`, `credHelpers`) are not used.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use base64::Engine as _;
use lexopt::prelude::*;
use serde_json::{json, Map, Value};

use crate::http::Client;
use crate::usage;

type R = anyhow::Result<i32>;

/// Docker Hub's key in `auths`, as the docker CLI writes it.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

pub fn config_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()).map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    Some(dir.join("config.json"))
}

/// The `auths` key for a server as given: its host for a registry
/// (`http://127.0.0.1:5001/v2/` -> `127.0.0.1:5001`), Docker Hub's URL for
/// Docker Hub.
fn server_key(server: Option<&str>) -> String {
    let Some(s) = server.map(str::trim).filter(|s| !s.is_empty()) else { return DOCKER_HUB.to_string() };
    let host = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s).split('/').next().unwrap_or("");
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_string(),
        h => h.to_string(),
    }
}

fn read_config(path: &std::path::Path) -> anyhow::Result<Map<String, Value>> {
    match std::fs::read(path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(Value::Object(m)) => Ok(m),
            // Never overwrite a file we cannot read back whole.
            _ => anyhow::bail!("{} is not a JSON object: fix or remove it", path.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
    }
}

/// Temp file (0600) in the same directory, fsync, rename, fsync the directory.
fn write_config(path: &std::path::Path, cfg: &Map<String, Value>) -> anyhow::Result<()> {
    let dir = path.parent().ok_or_else(|| anyhow::anyhow!("{}: no directory", path.display()))?;
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    }
    let tmp = dir.join(format!(".config.json.tmp-{}", std::process::id()));
    let r = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        // An existing temp file keeps its old mode through open(): set it.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        let mut body = serde_json::to_vec_pretty(&Value::Object(cfg.clone()))?;
        body.push(b'\n');
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!("writing {}: {e}", path.display());
    }
    Ok(())
}

/// A line from the terminal, echoed or not (a password).
fn prompt(label: &str, echo: bool) -> anyhow::Result<String> {
    use std::os::fd::AsFd;
    eprint!("{label}");
    std::io::stderr().flush()?;
    let stdin = std::io::stdin();
    let saved = if echo { None } else { nix::sys::termios::tcgetattr(stdin.as_fd()).ok() };
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_flags.remove(nix::sys::termios::LocalFlags::ECHO);
        let _ = nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &quiet);
    }
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, t);
        eprintln!();
    }
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn login(c: &Client, mut p: lexopt::Parser) -> R {
    let u = |m: &str| usage("login", m);
    let (mut user, mut pass, mut pass_stdin, mut server) = (None, None, false, None);
    while let Some(a) = p.next().map_err(|e| u(&e.to_string()))? {
        match a {
            Short('u') | Long("username") => user = Some(p.value()?.string()?),
            Short('p') | Long("password") => pass = Some(p.value()?.string()?),
            Long("password-stdin") => pass_stdin = true,
            Value(v) if server.is_none() => server = Some(v.string()?),
            Value(_) => return Err(u("\"berth login\" requires at most 1 argument.\n\nUsage:  berth login [OPTIONS] [SERVER]")),
            o => return Err(u(&o.unexpected().to_string())),
        }
    }
    if pass.is_some() && pass_stdin {
        return Err(u("--password and --password-stdin are mutually exclusive"));
    }
    if pass_stdin {
        if user.is_none() {
            return Err(u("Must provide --username with --password-stdin"));
        }
        let mut s = String::new();
        std::io::stdin().lock().read_to_string(&mut s)?;
        pass = Some(s.trim_end_matches(['\n', '\r']).to_string());
    } else if pass.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let interactive = std::io::stdin().is_terminal();
    let user = match user {
        Some(u) => u,
        None if interactive => prompt("Username: ", true)?,
        None => anyhow::bail!("Cannot perform an interactive login from a non TTY device"),
    };
    let pass = match pass {
        Some(p) => p,
        None if interactive => prompt("Password: ", false)?,
        None => anyhow::bail!("Cannot perform an interactive login from a non TTY device"),
    };
    if user.is_empty() {
        anyhow::bail!("Username is required");
    }
    if pass.is_empty() {
        anyhow::bail!("Password is required");
    }
    let key = server_key(server.as_deref());
    let path = config_path().ok_or_else(|| anyhow::anyhow!("neither DOCKER_CONFIG nor HOME is set: nowhere to keep the credentials"))?;
    // Read (and refuse a broken file) before asking the daemon.
    let mut cfg = read_config(&path)?;
    c.post_json("/auth", &json!({"username": user, "password": pass, "serveraddress": key}))?.ok()?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let auths = cfg.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    auths[&key] = json!({"auth": auth});
    write_config(&path, &cfg)?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(_c: &Client, mut p: lexopt::Parser) -> R {
    let mut server = None;
    while let Some(a) = p.next().map_err(|e| usage("logout", e.to_string()))? {
        match a {
            Value(v) if server.is_none() => server = Some(v.string()?),
            Value(_) => return Err(usage("logout", "\"berth logout\" requires at most 1 argument.\n\nUsage:  berth logout [SERVER]")),
            o => return Err(usage("logout", o.unexpected().to_string())),
        }
    }
    let key = server_key(server.as_deref());
    let path = config_path().ok_or_else(|| anyhow::anyhow!("neither DOCKER_CONFIG nor HOME is set"))?;
    let mut cfg = read_config(&path)?;
    // The key as docker writes it, and the spellings older clients used.
    let spellings = [key.clone(), format!("https://{key}"), format!("http://{key}")];
    let removed = match cfg.get_mut("auths").and_then(Value::as_object_mut) {
        Some(a) => spellings.iter().filter(|k| a.remove(k.as_str()).is_some()).count(),
        None => 0,
    };
    if removed == 0 {
        println!("Not logged in to {key}");
        return Ok(0);
    }
    println!("Removing login credentials for {key}");
    write_config(&path, &cfg)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys() {
        assert_eq!(server_key(None), DOCKER_HUB);
        assert_eq!(server_key(Some("docker.io")), DOCKER_HUB);
        assert_eq!(server_key(Some("127.0.0.1:5001")), "127.0.0.1:5001");
        assert_eq!(server_key(Some("http://127.0.0.1:5001/v2/")), "127.0.0.1:5001");
    }

    #[test]
    fn config_kept_and_private() {
        let dir = std::env::temp_dir().join(format!("berth-login-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/config.json");
        let mut m = read_config(&path).unwrap();
        assert!(m.is_empty());
        m.insert("psFormat".into(), json!("table {{.ID}}"));
        write_config(&path, &m).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_config(&path).unwrap()["psFormat"], "table {{.ID}}");
        std::fs::write(&path, "[1]").unwrap();
        assert!(read_config(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
