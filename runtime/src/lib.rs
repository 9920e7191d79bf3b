//! berth-runtime: an OCI runtime for Linux.
//!
//! The library holds the whole runtime; the binary (`main.rs`, `cli/`)
//! only parses runc's command line and calls into it. Read it in the order
//! a container is made: `container::create` → `process::intermediate` →
//! `process::init` → `rootfs` → `container::start`.

pub mod capabilities;
pub mod cgroups;
pub mod container;
pub mod error;
pub mod explain;
pub mod features;
pub mod hooks;
pub mod namespaces;
pub mod process;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod security;
pub mod spec;
pub mod state;
pub mod sync;
pub mod sys;
pub mod template;
pub mod tty;

pub use error::{Error, Result};
