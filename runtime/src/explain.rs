//! `--explain`: narrate every kernel step of making a container.
//!
//! Each step is one line on stderr: what is done, then why. The order of the
//! lines is the order of the syscalls, so a learner can follow along with
//! docs/internals.md, which names the file that does each step.

use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Prints one step, e.g. `[explain] [init] mount proc on /proc  -- a procfs for the new pid namespace`.
pub fn step(who: &str, what: impl std::fmt::Display, why: &str) {
    if enabled() {
        use std::io::Write;
        // One write per line so that lines of the parent and the child do not interleave mid-line.
        let line = format!("[explain] [{who}] {what}\n          why: {why}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}
