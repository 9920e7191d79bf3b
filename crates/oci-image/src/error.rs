use std::path::PathBuf;

/// Every failure of this crate; variants carry what they concern.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid reference format: {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: &'static str },
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: &'static str },
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch { digest: String, expected: u64, actual: u64 },
    #[error("invalid platform {platform:?}: {reason}")]
    InvalidPlatform { platform: String, reason: &'static str },
    #[error("no matching manifest for {wanted} in the manifest list entries (available: {})", available.join(", "))]
    NoMatchingPlatform { wanted: String, available: Vec<String> },
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("malformed {what}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("layer entry {path:?}: {reason}")]
    UnsafeEntry { path: String, reason: &'static str },
    #[error("{op} {path:?}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading layer tar")]
    Tar(#[source] std::io::Error),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { op, path: path.into(), source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
