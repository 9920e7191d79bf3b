//! `update` and `events`: change the limits of a live container, and watch
//! what it uses.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::cgroups::{apply, stats, Placement};
use crate::error::{Error, Result};
use crate::spec::Resources;
use crate::state::{Container, Status};

fn live_cgroup(root: &Path, id: &str, action: &'static str) -> Result<(Container, Placement)> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if status == Status::Stopped {
        return Err(Error::WrongState { id: id.into(), status: status.to_string(), action, wanted: "created, running or paused" });
    }
    let p = c.saved.cgroup.clone().ok_or_else(|| Error::Other(format!("container {id} has no cgroup (this host had none when it was created)")))?;
    Ok((c, p))
}

/// Applies `r` to the running container, as runc's update does: device
/// rules are not changed on a live container.
pub fn update(root: &Path, id: &str, r: &Resources) -> Result<()> {
    let (_, p) = live_cgroup(root, id, "update")?;
    if !r.devices.is_empty() {
        return Err(Error::Usage("update: device rules cannot be changed on a live container (runc refuses this too); recreate it".into()));
    }
    apply::apply(&p, r, &[], true)
}

/// runc's `{"type":"stats","id":...,"data":{...}}`.
pub fn stats_event(root: &Path, id: &str) -> Result<serde_json::Value> {
    let (_, p) = live_cgroup(root, id, "events")?;
    Ok(serde_json::json!({"type": "stats", "id": id, "data": stats::collect(&p)}))
}

/// Prints a stats event every `interval`, and an `oom` event as soon as the
/// kernel's OOM killer kills in the container, until the container stops.
pub fn stream(root: &Path, id: &str, interval: Duration, out: &mut dyn Write) -> Result<()> {
    let (c, p) = live_cgroup(root, id, "events")?;
    let mut ooms = stats::oom_kills(&p);
    // OOM kills are checked more often than stats are printed, so the
    // event comes soon after the kill.
    let tick = interval.min(Duration::from_millis(100));
    let mut since_stats = interval;
    loop {
        let now = stats::oom_kills(&p);
        if now > ooms {
            ooms = now;
            emit(out, &serde_json::json!({"type": "oom", "id": id}))?;
        }
        if since_stats >= interval {
            since_stats = Duration::ZERO;
            emit(out, &serde_json::json!({"type": "stats", "id": id, "data": stats::collect(&p)}))?;
        }
        if !c.init_alive() {
            return Ok(());
        }
        std::thread::sleep(tick);
        since_stats += tick;
    }
}

fn emit(out: &mut dyn Write, v: &serde_json::Value) -> Result<()> {
    writeln!(out, "{v}").and_then(|_| out.flush()).map_err(|e| Error::io("writing events", e))
}

/// Go-style durations as runc's --interval takes them: `5s`, `100ms`, `1m30s`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || Error::Usage(format!("invalid duration {s:?}: expected e.g. 5s, 100ms, 1m"));
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let secs = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::from_secs_f64(n * secs);
        rest = &rest[u_end..];
    }
    if total.is_zero() {
        return Err(Error::Usage(format!("--interval {s}: must be greater than zero")));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
