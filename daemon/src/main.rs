//! berthd: the Docker Engine API on a Unix socket, over the image store.

mod api;
mod config;
mod containers;
mod error;
mod events;
mod images;
mod network;
mod registry;
mod time;
mod volumes;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, Parsed};
use crate::images::store::Store;
use crate::registry::RegistryConfig;

pub struct State {
    pub cfg: Config,
    pub store: Arc<Store>,
    pub containers: Arc<containers::Containers>,
    pub registry: RegistryConfig,
    pub id: String,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let flags = match config::parse_flags(std::env::args_os().skip(1))? {
        Parsed::Help => {
            print!("{}", config::USAGE);
            return Ok(());
        }
        Parsed::Version => {
            println!("berthd version {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Parsed::Run(f) => f,
    };
    let explicit_group = flags.group.is_some();
    let cfg = config::load(flags)?;
    use std::io::IsTerminal;
    tracing_subscriber::fmt().with_max_level(cfg.log_level).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).with_target(false).init();
    // Two workers are plenty for an API socket; unpacking runs on the
    // blocking pool, one thread per layer in flight.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).max_blocking_threads(16).enable_all().build().context("starting the tokio runtime")?;
    rt.block_on(serve(cfg, explicit_group))
}

/// The gid of `name` from /etc/group, if the group exists.
fn group_id(name: &str) -> Option<u32> {
    let s = std::fs::read_to_string("/etc/group").ok()?;
    s.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// A stable daemon id, made once per data root.
fn engine_id(root: &Path) -> anyhow::Result<String> {
    let p = root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        if s.trim().len() == 32 {
            return Ok(s.trim().to_string());
        }
    }
    let mut b = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut b)?;
    let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let tmp = root.join(".tmp-engine-id");
    std::fs::write(&tmp, &id)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &p)?;
    Ok(id)
}

fn listen(cfg: &Config, explicit_group: bool) -> anyhow::Result<UnixListener> {
    let path = &cfg.socket;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another daemon is listening on {}", path.display());
        }
        // A socket left by a daemon that died: nobody answers on it.
        std::fs::remove_file(path).with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    let l = UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).with_context(|| format!("chmod {}", path.display()))?;
    match group_id(&cfg.group) {
        Some(gid) => std::os::unix::fs::chown(path, None, Some(gid)).with_context(|| format!("chown {} to group {}", path.display(), cfg.group))?,
        None if explicit_group => bail!("group {:?} not found", cfg.group),
        None => tracing::debug!(group = %cfg.group, "group not found: the socket stays root-only"),
    }
    Ok(l)
}

async fn serve(cfg: Config, explicit_group: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_root).with_context(|| format!("creating {}", cfg.data_root.display()))?;
    let store = Arc::new(Store::open(&cfg.data_root).with_context(|| format!("opening the store in {}", cfg.data_root.display()))?);
    let id = engine_id(&cfg.data_root).context("engine id")?;
    let listener = listen(&cfg, explicit_group)?;
    registry::set_certs_dir(cfg.certs_dir.clone());
    let registry = RegistryConfig { mirrors: cfg.registry_mirrors.clone(), insecure: cfg.insecure_registries.clone() };
    let paths = containers::Paths { data_root: cfg.data_root.clone(), exec_root: cfg.exec_root.clone(), runtime: cfg.runtime.clone(), shim: cfg.shim.clone(), init: cfg.init_path.clone(), bip: cfg.bip.clone(), firewall_backend: cfg.firewall_backend.clone() };
    let ctrs = Arc::new(containers::Containers::open(paths).context("opening the container records")?);
    // Live restore: running containers whose shim lives stay running; the
    // others get the exit their shim recorded, or an error.
    ctrs.sweep(&store).await.context("reconciling containers")?;
    ctrs.net.sweep(&|id| ctrs.get(id).ok().flatten().is_some_and(|c| c.running()));
    // Restart policies apply again, as after a reboot.
    ctrs.boot_restarts(&store).await.context("restart policies")?;
    {
        let (ctrs, store) = (ctrs.clone(), store.clone());
        tokio::spawn(async move {
            loop {
                // Every second, or sooner when a restart is due (the backoff starts at 100 ms).
                let wake = tokio::time::Instant::now() + Duration::from_secs(1);
                let wake = ctrs.next_restart().map_or(wake, |t| t.min(wake));
                tokio::time::sleep_until(wake).await;
                if let Err(e) = ctrs.sweep(&store).await {
                    tracing::warn!(error = %e.chain(), "container sweep");
                }
            }
        });
    }
    let state = Arc::new(State { cfg: cfg.clone(), store, containers: ctrs, registry, id });
    tracing::info!(socket = %cfg.socket.display(), data_root = %cfg.data_root.display(), version = env!("CARGO_PKG_VERSION"), "berthd listening");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let state = state.clone();
                let active = active.clone();
                active.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| api::handle(state.clone(), req));
                    if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).with_upgrades().await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }
    }
    tracing::info!("shutting down");
    let _ = std::fs::remove_file(&cfg.socket);
    remove_parent_cgroups();
    // In-flight requests get a moment to finish; an unfinished pull leaves
    // only temporary files, swept at the next start.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while active.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Containers' cgroups live under `/berth` in every hierarchy (see
/// containers::spec). The runtime removes a parent only when the container
/// that made it goes last; on shutdown the daemon removes what is left
/// empty, and a parent that still holds running containers stays (EBUSY).
fn remove_parent_cgroups() {
    let Ok(h) = berth_runtime::cgroups::Hierarchies::detect() else { return };
    for mnt in h.unified.iter().chain(h.v1.iter().map(|(_, m)| m)) {
        let _ = std::fs::remove_dir(mnt.join("berth"));
    }
}
