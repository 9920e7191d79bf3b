//! `/volumes`: create, list (filters), inspect, remove, prune — docker's
//! shapes for the `local` driver.

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::{empty, json, Body, Query};
use crate::error::{Error, Result};
use crate::volumes::Volume;
use crate::State;

type Response = hyper::Response<Body>;

pub fn create(s: &Arc<State>, body: &[u8]) -> Result<Response> {
    let req: Value = if body.is_empty() { json!({}) } else { serde_json::from_slice(body).map_err(|e| Error::BadParameter(format!("invalid JSON body: {e}")))? };
    let obj = req.as_object().ok_or_else(|| Error::BadParameter("the body must be a JSON object".into()))?;
    for (k, v) in obj {
        match k.as_str() {
            "Name" | "Labels" => {}
            "Driver" if matches!(v.as_str(), None | Some("" | "local")) => {}
            "Driver" => return Err(Error::BadParameter(format!("volume driver {v} is not implemented: only local is"))),
            "DriverOpts" if v.as_object().is_none_or(|o| o.is_empty()) => {}
            "DriverOpts" => return Err(Error::BadParameter("driver options of the local driver (type, device, o) are not implemented".into())),
            "ClusterVolumeSpec" if v.is_null() => {}
            other => return Err(Error::BadParameter(format!("{other} is not implemented for volumes"))),
        }
    }
    let labels: Map<String, Value> = obj.get("Labels").and_then(Value::as_object).cloned().unwrap_or_default();
    if labels.values().any(|v| !v.is_string()) {
        return Err(Error::BadParameter("Labels must map names to strings".into()));
    }
    let name = obj.get("Name").and_then(Value::as_str).unwrap_or("");
    let (name, anonymous) = if name.is_empty() { (crate::containers::random_id()?, true) } else { (name.to_string(), false) };
    let v = s.containers.volumes.create(&name, &labels, anonymous)?;
    Ok(json(StatusCode::CREATED, &v.to_json()))
}

/// docker's `label` filter: `key` present, or `key=value`.
fn label_matches(v: &Volume, f: &str) -> bool {
    match f.split_once('=') {
        Some((k, val)) => v.labels.get(k).and_then(Value::as_str) == Some(val),
        None => v.labels.contains_key(f) || (f == "com.docker.volume.anonymous" && v.anonymous),
    }
}

fn keep(s: &State, v: &Volume, filters: &[(String, String)]) -> Result<bool> {
    // Filters of one name are alternatives; different names must all hold.
    let mut names: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    names.dedup();
    for n in names {
        let vals: Vec<&str> = filters.iter().filter(|(k, _)| k == n).map(|(_, v)| v.as_str()).collect();
        let mut any = false;
        for val in vals {
            any |= match n {
                "name" => v.name.contains(val),
                "driver" => val == "local",
                "label" => label_matches(v, val),
                "label!" => !label_matches(v, val),
                "dangling" => match val {
                    "true" | "1" => s.containers.volumes.users(&v.name)?.is_empty(),
                    "false" | "0" => !s.containers.volumes.users(&v.name)?.is_empty(),
                    other => return Err(Error::BadParameter(format!("invalid filter 'dangling={other}'"))),
                },
                _ => unreachable!("Query::filters checked the names"),
            };
        }
        if !any {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn list(s: &Arc<State>, q: &Query) -> Result<Response> {
    q.only(&["filters"])?;
    let f = q.filters(&["name", "driver", "label", "dangling"])?;
    let mut out = Vec::new();
    for v in s.containers.volumes.list()? {
        if keep(s, &v, &f)? {
            out.push(v.to_json());
        }
    }
    Ok(json(StatusCode::OK, &json!({"Volumes": out, "Warnings": []})))
}

pub fn inspect(s: &Arc<State>, name: &str) -> Result<Response> {
    Ok(json(StatusCode::OK, &s.containers.volumes.inspect(name)?.to_json()))
}

pub fn remove(s: &Arc<State>, name: &str, q: &Query) -> Result<Response> {
    q.only(&["force"])?;
    s.containers.volumes.remove(name, q.flag("force")?)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Unused volumes: anonymous ones only, unless the filter `all=true`
/// (docker API 1.42+); `label`/`label!` narrow it.
pub fn prune(s: &Arc<State>, q: &Query) -> Result<Response> {
    q.only(&["filters"])?;
    let f = q.filters(&["label", "label!", "all"])?;
    let all = f.iter().any(|(k, v)| k == "all" && matches!(v.as_str(), "true" | "1"));
    let narrowing: Vec<(String, String)> = f.into_iter().filter(|(k, _)| k != "all").collect();
    let (mut deleted, mut reclaimed) = (Vec::new(), 0u64);
    for v in s.containers.volumes.list()? {
        if (!all && !v.anonymous) || !s.containers.volumes.users(&v.name)?.is_empty() || !keep(s, &v, &narrowing)? {
            continue;
        }
        let size = s.containers.volumes.size(&v.name);
        match s.containers.volumes.remove(&v.name, true) {
            Ok(()) => {
                deleted.push(v.name.clone());
                reclaimed += size;
            }
            // In use since the check: not pruned, as docker.
            Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json(StatusCode::OK, &json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed})))
}
