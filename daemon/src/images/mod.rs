//! Images: the store on disk, the pull that fills it, import of a rootfs
//! tarball, save and load of image archives, and push.

pub mod import;
pub mod load;
pub mod pull;
pub mod push;
pub mod save;
pub mod store;
