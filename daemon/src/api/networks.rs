//! `/networks`: list, inspect, create, remove, prune, connect and
//! disconnect, in docker's shapes for the `bridge` driver.

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::{empty, json, Body, Query};
use crate::error::{Error, Result};
use crate::network::{CreateRequest, EndpointConfig, Net};
use crate::State;

type Response = hyper::Response<Body>;

fn body_json(body: &[u8]) -> Result<Map<String, Value>> {
    let v: Value = if body.is_empty() { json!({}) } else { serde_json::from_slice(body).map_err(|e| Error::BadParameter(format!("invalid JSON body: {e}")))? };
    v.as_object().cloned().ok_or_else(|| Error::BadParameter("the body must be a JSON object".into()))
}

/// The network with its running containers, as inspect and list show it.
fn view(s: &State, n: &Net) -> Result<Value> {
    let mut containers = Map::new();
    let prefix = n.subnet.map(|x| x.prefix).unwrap_or(0);
    for (cid, ip) in s.containers.net.holders(n)? {
        let name = s.containers.get(&cid)?.map(|c| c.name).unwrap_or_default();
        containers.insert(
            cid.clone(),
            json!({
                "Name": name,
                "EndpointID": format!("{}{}", &cid[..32.min(cid.len())], &n.id[..32.min(n.id.len())]),
                "MacAddress": crate::network::mac_str(ip),
                "IPv4Address": format!("{ip}/{prefix}"),
                "IPv6Address": "",
            }),
        );
    }
    Ok(n.to_json(Value::Object(containers)))
}

fn label_matches(n: &Net, f: &str) -> bool {
    match f.split_once('=') {
        Some((k, v)) => n.labels.get(k).and_then(Value::as_str) == Some(v),
        None => n.labels.get(f).is_some(),
    }
}

fn keep(s: &State, n: &Net, filters: &[(String, String)]) -> Result<bool> {
    let mut names: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let mut any = false;
        for (_, v) in filters.iter().filter(|(k, _)| k == name) {
            any |= match name {
                "name" => n.name.contains(v.as_str()),
                "id" => n.id.starts_with(v.as_str()),
                "driver" => n.driver == *v,
                "label" => label_matches(n, v),
                "type" => match v.as_str() {
                    "custom" => !n.builtin(),
                    "builtin" => n.builtin(),
                    other => return Err(Error::BadParameter(format!("invalid filter: 'type'='{other}'"))),
                },
                "dangling" => {
                    let unused = !n.builtin() && s.containers.net.users(n)? == 0;
                    match v.as_str() {
                        "true" | "1" => unused,
                        "false" | "0" => !unused,
                        other => return Err(Error::BadParameter(format!("invalid filter 'dangling={other}'"))),
                    }
                }
                "scope" => v == "local",
                _ => false,
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
    let f = q.filters(&["name", "id", "driver", "label", "type", "dangling", "scope"])?;
    let mut out = Vec::new();
    for n in s.containers.net.list()? {
        if keep(s, &n, &f)? {
            out.push(view(s, &n)?);
        }
    }
    Ok(json(StatusCode::OK, &Value::Array(out)))
}

pub fn inspect(s: &Arc<State>, key: &str, q: &Query) -> Result<Response> {
    q.only(&["verbose", "scope"])?;
    if q.flag("verbose")? {
        return Err(Error::BadParameter("verbose network inspect is for swarm networks: not implemented".into()));
    }
    let n = s.containers.net.find(key)?;
    Ok(json(StatusCode::OK, &view(s, &n)?))
}

pub fn create(s: &Arc<State>, body: &[u8]) -> Result<Response> {
    let o = body_json(body)?;
    let mut r = CreateRequest::default();
    for (k, v) in &o {
        match k.as_str() {
            "Name" => r.name = v.as_str().unwrap_or_default().to_string(),
            "Driver" => r.driver = v.as_str().unwrap_or_default().to_string(),
            "Internal" => r.internal = v.as_bool().unwrap_or(false),
            "Labels" => r.labels = v.clone(),
            "Options" => r.options = v.clone(),
            "IPAM" => {
                for (ik, iv) in v.as_object().into_iter().flatten() {
                    match ik.as_str() {
                        "Driver" if matches!(iv.as_str(), None | Some("" | "default")) => {}
                        "Options" if iv.as_object().is_none_or(|x| x.is_empty()) => {}
                        "Config" => {
                            let cfgs = iv.as_array().cloned().unwrap_or_default();
                            if cfgs.len() > 1 {
                                return Err(Error::BadParameter("one IPAM config (one IPv4 subnet) per network is supported".into()));
                            }
                            for c in cfgs {
                                for (ck, cv) in c.as_object().into_iter().flatten() {
                                    let val = cv.as_str().filter(|x| !x.is_empty()).map(str::to_string);
                                    match ck.as_str() {
                                        "Subnet" => r.subnet = val,
                                        "Gateway" => r.gateway = val,
                                        "IPRange" => r.ip_range = val,
                                        "AuxiliaryAddresses" if cv.as_object().is_none_or(|x| x.is_empty()) => {}
                                        other => return Err(Error::BadParameter(format!("IPAM.Config.{other} is not implemented"))),
                                    }
                                }
                            }
                        }
                        other => return Err(Error::BadParameter(format!("IPAM.{other} is not implemented (only the default IPAM driver)"))),
                    }
                }
            }
            "CheckDuplicate" => {}
            "EnableIPv6" | "Attachable" | "Ingress" | "ConfigOnly" if v.as_bool() != Some(true) => {}
            "Scope" if matches!(v.as_str(), None | Some("" | "local")) => {}
            "ConfigFrom" if v.is_null() || v["Network"].as_str().is_some_and(str::is_empty) => {}
            other => return Err(Error::BadParameter(format!("network create: {other} {v} is not implemented"))),
        }
    }
    let n = s.containers.net.create(r)?;
    s.containers.events.emit("network", "create", &n.id, network_attrs(&n));
    Ok(json(StatusCode::CREATED, &json!({"Id": n.id, "Warning": ""})))
}

fn network_attrs(n: &Net) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(n.name));
    m.insert("type".into(), json!(n.driver));
    m
}

pub fn remove(s: &Arc<State>, key: &str) -> Result<Response> {
    let n = s.containers.net.remove(key)?;
    s.containers.events.emit("network", "destroy", &n.id, network_attrs(&n));
    Ok(empty(StatusCode::NO_CONTENT))
}

pub fn prune(s: &Arc<State>, q: &Query) -> Result<Response> {
    q.only(&["filters"])?;
    let f = q.filters(&["label", "label!", "until"])?;
    let until = f.iter().filter(|(k, _)| k == "until").map(|(_, v)| crate::time::filter_timestamp(v)).collect::<Result<Vec<_>>>()?;
    let keep = |n: &Net| -> bool {
        let created = crate::time::parse_rfc3339(&n.created).unwrap_or(0);
        f.iter().any(|(k, v)| (k == "label" && !label_matches(n, v)) || (k == "label!" && label_matches(n, v))) || until.iter().any(|u| created >= *u)
    };
    let gone = s.containers.net.prune(&keep)?;
    Ok(json(StatusCode::OK, &json!({"NetworksDeleted": gone})))
}

/// The container of a connect/disconnect body, checked against its network mode.
fn container_of(s: &State, o: &Map<String, Value>) -> Result<crate::containers::Container> {
    let name = o.get("Container").and_then(Value::as_str).filter(|c| !c.is_empty()).ok_or_else(|| Error::BadParameter("Container is required".into()))?;
    let c = s.containers.resolve(name)?;
    let mode = c.host_config["NetworkMode"].as_str().unwrap_or_default();
    if !crate::network::bridged(mode) {
        return Err(Error::Forbidden(format!("container sharing network namespace with another container or host cannot be connected to any other network (network mode {mode})")));
    }
    Ok(c)
}

pub async fn connect(s: Arc<State>, key: &str, body: &[u8]) -> Result<Response> {
    let o = body_json(body)?;
    let c = container_of(&s, &o)?;
    let cfg = EndpointConfig::from_json(o.get("EndpointConfig").unwrap_or(&Value::Null))?;
    let _g = s.containers.transitions.lock().await;
    let c = s.containers.get(&c.id)?.ok_or_else(|| Error::NotFound(format!("No such container: {}", c.id)))?;
    let n = s.containers.net.connect(&c.id, key, &cfg, c.running())?;
    let mut attrs = network_attrs(&n);
    attrs.insert("container".into(), json!(c.id));
    s.containers.events.emit("network", "connect", &n.id, attrs);
    Ok(empty(StatusCode::OK))
}

pub async fn disconnect(s: Arc<State>, key: &str, body: &[u8]) -> Result<Response> {
    let o = body_json(body)?;
    let c = container_of(&s, &o)?;
    let _g = s.containers.transitions.lock().await;
    let n = s.containers.net.disconnect(&c.id, key)?;
    let mut attrs = network_attrs(&n);
    attrs.insert("container".into(), json!(c.id));
    s.containers.events.emit("network", "disconnect", &n.id, attrs);
    Ok(empty(StatusCode::OK))
}
