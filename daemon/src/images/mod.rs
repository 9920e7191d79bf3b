//! Images: the store on disk, the pull that fills it, and import of a
//! rootfs tarball.

pub mod import;
pub mod pull;
pub mod store;
