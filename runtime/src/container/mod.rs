//! The lifecycle verbs of the runtime spec, one file each.

pub mod create;
pub mod delete;
pub mod exec;
pub mod foreground;
pub mod kill;
pub mod pause;
pub mod ps;
pub mod start;
pub mod update;
