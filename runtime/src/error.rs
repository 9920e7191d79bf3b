//! The runtime's one error type.
//!
//! Messages start lowercase and do not repeat their source: the chain is
//! printed by the binary (`creating mount namespace: Operation not permitted`).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: field `{field}`: {msg}", path.display())]
    Config { path: PathBuf, field: String, msg: String },

    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{what}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },

    #[error("container {0:?} does not exist")]
    NotFound(String),

    #[error("container {0:?} already exists")]
    Exists(String),

    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.', not starting with '.' or '-'")]
    BadId(String),

    #[error("container {id} is {status}: {action} needs it to be {wanted}")]
    WrongState { id: String, status: String, action: &'static str, wanted: &'static str },

    #[error("{what}: {msg}")]
    Hook { what: String, msg: String },

    /// An error reported by the container's init process over the sync
    /// socket; it already carries its own context.
    #[error("container init: {0}")]
    Init(String),

    #[error("{0}")]
    Usage(String),

    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { what: what.into(), source }
    }
    pub fn sys(what: impl Into<String>, source: nix::Error) -> Error {
        Error::Sys { what: what.into(), source }
    }
}

/// Adds "what we were doing" to low-level errors, as `anyhow::Context` does,
/// without leaving the crate's error type.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}

impl<T> Context<T> for std::result::Result<T, nix::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(what(), e))
    }
}

/// Renders an error and its sources on one line, `a: b: c`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
