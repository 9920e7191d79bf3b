//! OCI and Docker image formats, with no async runtime: what the daemon needs
//! to name an image (`reference`), address content (`digest`), read
//! manifests, indexes and configs (`manifest`), choose a platform
//! (`platform`) and turn a layer tar into an overlayfs lower directory
//! without ever writing outside it (`unpack`).
//!
//! Error messages start lowercase and do not repeat their source (the chain
//! is printed by the caller).

pub mod digest;
pub mod error;
pub mod manifest;
pub mod platform;
pub mod reference;
pub mod unpack;

pub use digest::{Digest, HashingReader};
pub use error::Error;
pub use manifest::{Descriptor, ImageConfig, Index, Manifest, ManifestKind};
pub use platform::Platform;
pub use reference::Reference;
