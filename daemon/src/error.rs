use std::path::PathBuf;

use hyper::StatusCode;

/// Every failure of berthd; each knows the HTTP status docker gives it.
/// Messages start lowercase, except the few docker users grep for
/// ("No such image").
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    BadParameter(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// docker's 403: an operation on a network that is not allowed (removing a predefined one).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Registry(String),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Image(#[from] oci_image::Error),
    #[error("metadata store")]
    Db(#[from] rusqlite::Error),
    #[error("{op} {path:?}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
    /// The runtime could not start an exec'd command (not found, not executable).
    #[error("OCI runtime exec failed: {0}")]
    ExecFailed(String),
}

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { op, path: path.into(), source }
    }

    pub fn status(&self) -> StatusCode {
        use oci_image::Error as I;
        match self {
            Error::NoSuchImage(_) | Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::BadParameter(_) | Error::Config(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Image(I::InvalidReference { .. } | I::InvalidPlatform { .. } | I::InvalidDigest { .. }) => StatusCode::BAD_REQUEST,
            Error::Image(I::NoMatchingPlatform { .. }) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message with its whole source chain, as one line for `{"message"}`.
    pub fn chain(&self) -> String {
        let mut s = self.to_string();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(self);
        while let Some(e) = cur {
            s.push_str(": ");
            s.push_str(&e.to_string());
            cur = e.source();
        }
        s
    }
}

pub type Result<T> = std::result::Result<T, Error>;
