//! `GET /system/df`: what images, containers and volumes take on disk, in
//! docker's shape. An image's `Size` counts all its layers; `SharedSize`
//! the part in layers another image also uses; `LayersSize` every layer
//! once, which is what the disk really holds. Sizes are of the unpacked
//! layer directories (the compressed blobs kept for `save` and `push` are
//! not counted, as docker counts its unpacked snapshots).

use std::collections::{HashMap, HashSet};

use hyper::StatusCode;
use serde_json::{json, Value};

use super::containers::{add_sizes, summary};
use super::images::{config_of, familiar, labels_of};
use super::{json, Body, Query};
use crate::error::{Error, Result};
use crate::State;

const TYPES: [&str; 4] = ["container", "image", "volume", "build-cache"];

pub fn df(s: &State, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["type"])?;
    let asked = q.all("type");
    if let Some(bad) = asked.iter().find(|t| !TYPES.contains(&t.as_str())) {
        return Err(Error::BadParameter(format!("unknown object type {bad:?}: the types are {}", TYPES.join(", "))));
    }
    let wants = |t: &str| asked.is_empty() || asked.iter().any(|a| a == t);
    let mut out = json!({});
    if wants("image") {
        let (images, layers_size) = images(s)?;
        out["Images"] = Value::Array(images);
        out["LayersSize"] = json!(layers_size);
    }
    if wants("container") {
        let mut list = Vec::new();
        for c in s.containers.list()? {
            let mut row = summary(s, &c)?;
            add_sizes(s, &c, &mut row);
            list.push(row);
        }
        out["Containers"] = Value::Array(list);
    }
    if wants("volume") {
        let mut list = Vec::new();
        for v in s.containers.volumes.list()? {
            let mut row = v.to_json();
            let users = s.containers.volumes.users(&v.name)?.len();
            row["UsageData"] = json!({"Size": s.containers.volumes.size(&v.name), "RefCount": users});
            list.push(row);
        }
        out["Volumes"] = Value::Array(list);
    }
    if wants("build-cache") {
        // Builds keep no cache of their own yet.
        out["BuildCache"] = json!([]);
    }
    Ok(json(StatusCode::OK, &out))
}

/// Every image as `images` lists it plus SharedSize and Containers, and
/// the bytes of all distinct layers.
fn images(s: &State) -> Result<(Vec<Value>, u64)> {
    let list = s.store.list()?;
    // Each image's distinct layers, how many images hold each, their sizes.
    let layers: Vec<HashSet<String>> = list.iter().map(|img| img.diff_ids.iter().map(|d| d.to_string()).collect()).collect();
    let mut users: HashMap<&str, usize> = HashMap::new();
    for l in layers.iter().flatten() {
        *users.entry(l.as_str()).or_default() += 1;
    }
    let mut sizes: HashMap<String, u64> = HashMap::new();
    for d in list.iter().flat_map(|img| &img.diff_ids) {
        if let std::collections::hash_map::Entry::Vacant(e) = sizes.entry(d.to_string()) {
            e.insert(s.store.layer_size(d)?);
        }
    }
    let mut out = Vec::new();
    for (img, own) in list.iter().zip(&layers) {
        let shared: u64 = own.iter().filter(|l| users[l.as_str()] > 1).map(|l| sizes[l]).sum();
        let containers = s.containers.using_image(&img.id.to_string())?.len();
        out.push(json!({
            "Id": img.id.to_string(),
            "ParentId": "",
            "RepoTags": familiar(&img.tags),
            "RepoDigests": familiar(&img.repo_digests),
            "Created": img.created.as_deref().and_then(crate::time::parse_rfc3339).unwrap_or(0),
            "Size": img.size,
            "SharedSize": shared,
            "Labels": labels_of(&config_of(s, img)?),
            "Containers": containers,
        }));
    }
    Ok((out, sizes.values().sum()))
}
