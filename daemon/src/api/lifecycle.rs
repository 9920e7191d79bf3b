//! `/containers/{id}/pause|unpause|restart|rename` and `/containers/prune`.

use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use super::containers::current;
use super::{empty, json, Body, Query};
use crate::containers;
use crate::error::{Error, Result};
use crate::State;

type Response = hyper::Response<Body>;

pub async fn pause(s: Arc<State>, name: &str, q: &Query, paused: bool) -> Result<Response> {
    q.only(&[])?;
    let c = current(&s, name).await?;
    if !c.running() {
        return Err(Error::Conflict(format!("Container {} is not running", c.id)));
    }
    if c.paused == paused {
        let m = if paused { format!("Container {} is already paused", c.id) } else { format!("Container {} is not paused", c.id) };
        return Err(Error::Conflict(m));
    }
    s.containers.set_paused(&c, paused)?;
    s.containers.emit(&c, if paused { "pause" } else { "unpause" }, &[]);
    Ok(empty(StatusCode::NO_CONTENT))
}

/// docker restart: stop (signal, `t`, SIGKILL) if running, then start.
pub async fn restart(s: Arc<State>, name: &str, q: &Query) -> Result<Response> {
    q.only(&["t", "signal"])?;
    let c = current(&s, name).await?;
    let t = match q.get("t").filter(|t| !t.is_empty()) {
        None => c.config["StopTimeout"].as_i64().unwrap_or(10),
        Some(v) => v.parse::<i64>().map_err(|_| Error::BadParameter(format!("invalid value for t: {v:?}")))?,
    };
    let sig = containers::parse_signal(q.get("signal").filter(|v| !v.is_empty()).or(c.config["StopSignal"].as_str().filter(|v| !v.is_empty())).unwrap_or("TERM"))?;
    // Stopped by the user, so no policy restarts it in between; started by the user after.
    s.containers.mark_stopped_by_user(&c.id)?;
    if c.running() {
        let wait = if t < 0 { None } else { Some(Duration::from_secs(t as u64)) };
        s.containers.stop(&c, sig, wait).await?;
    }
    let c = current(&s, name).await?;
    s.containers.mark_started_by_user(&c.id)?;
    s.containers.start(&s.store, &c).await?;
    s.containers.emit(&c, "restart", &[]);
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn rename(s: Arc<State>, name: &str, q: &Query) -> Result<Response> {
    q.only(&["name"])?;
    let new = q.get("name").unwrap_or("").trim_start_matches('/');
    if new.is_empty() {
        return Err(Error::BadParameter("Neither old nor new names may be empty".into()));
    }
    if !containers::valid_name(new) {
        return Err(Error::BadParameter(format!("Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
    }
    let c = current(&s, name).await?;
    if c.name == new {
        return Err(Error::BadParameter("Renaming a container with the same name as its current name".into()));
    }
    s.containers.rename(&c, new)?;
    let renamed = current(&s, &c.id).await?;
    s.containers.emit(&renamed, "rename", &[("oldName", format!("/{}", c.name))]);
    tracing::info!(container = %c.id, from = %c.name, to = %new, "container renamed");
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Removes every stopped container (`until`, `label`, `label!` narrow it).
pub async fn prune(s: Arc<State>, q: &Query) -> Result<Response> {
    q.only(&["filters"])?;
    let f = q.filters(&["until", "label", "label!"])?;
    let mut until = None;
    for (k, v) in &f {
        if k == "until" {
            until = Some(crate::time::filter_timestamp(v)?);
        }
    }
    s.containers.sweep(&s.store).await?;
    let (mut deleted, mut reclaimed) = (Vec::new(), 0u64);
    for c in s.containers.list()? {
        if c.running() || c.status == "restarting" {
            continue;
        }
        let labels = &c.config["Labels"];
        let has = |l: &str| match l.split_once('=') {
            Some((k, v)) => labels[k].as_str() == Some(v),
            None => labels.get(l).is_some(),
        };
        let created = crate::time::parse_rfc3339(&c.created).unwrap_or(0);
        let keep = until.is_some_and(|t| created >= t)
            || f.iter().any(|(k, v)| match k.as_str() {
                "label" => !has(v),
                "label!" => has(v),
                _ => false,
            });
        if keep {
            continue;
        }
        reclaimed += crate::volumes::dir_size(&s.containers.dir(&c.id).join("upper"));
        s.containers.remove(&c, false).await?;
        deleted.push(c.id.clone());
    }
    Ok(json(StatusCode::OK, &json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed})))
}
