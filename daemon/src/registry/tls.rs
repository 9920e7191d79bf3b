//! TLS to registries: rustls with the ring provider, so no system OpenSSL
//! is linked and the static builds stay static. What is trusted: the
//! system's roots (`SSL_CERT_FILE`, `SSL_CERT_DIR`, else the usual bundle
//! paths) plus, per registry, every `*.crt` in `<certs.d>/<host[:port]>/`,
//! the layout Docker reads from /etc/docker/certs.d (berthd's certs.d sits
//! next to its config file: /etc/berth/certs.d by default). Certificates
//! are always verified: insecure registries are reached over plain HTTP
//! instead (see the module above).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

static CERTS_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Where the per-registry CA directories are; set once at start.
pub fn set_certs_dir(dir: PathBuf) {
    let _ = CERTS_DIR.set(dir);
}

/// The system's roots, parsed once.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "reading the system's CA certificates");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "system CA certificates loaded");
        roots
    })
}

/// The registry's own CA files: `<certs.d>/<authority>/*.crt`.
fn registry_cas(authority: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let Some(dir) = CERTS_DIR.get().map(|d| d.join(authority)) else { return Ok(Vec::new()) };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("reading {}: {e}", dir.display())),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "crt") {
            for c in CertificateDer::pem_file_iter(&p).map_err(|e| format!("reading {}: {e}", p.display()))? {
                out.push(c.map_err(|e| format!("reading {}: {e}", p.display()))?);
            }
        }
    }
    Ok(out)
}

/// The client configuration for one registry. Made for each connection
/// (the system roots are parsed once): a CA put into certs.d counts from
/// the next connection on, without restarting berthd, as with Docker.
fn config_for(authority: &str) -> Result<Arc<ClientConfig>, String> {
    let mut roots = system_roots().clone();
    for ca in registry_cas(authority)? {
        roots.add(ca).map_err(|e| format!("a CA certificate for {authority}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("no CA certificates to verify {authority} with (install ca-certificates, or put its CA in certs.d/{authority}/ca.crt)"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The TLS handshake over a connected socket; the certificate must be
/// valid for `host`.
pub async fn connect(tcp: TcpStream, host: &str, authority: &str) -> Result<TlsStream<TcpStream>, String> {
    let cfg = config_for(authority)?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: not a name TLS can verify: {e}"))?;
    tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await.map_err(|e| format!("TLS handshake with {authority}: {e}"))
}
