//! Images: the store on disk and the pull that fills it.

pub mod pull;
pub mod store;
