//! `GET /events`: the kept events since `since`, then live ones until
//! `until` (or until the client goes), one JSON object a line, filtered
//! by type, event, container, image, volume and label as docker's.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::{stream_as, Body, Query};
use crate::error::Result;
use crate::State;

fn matches(e: &Value, f: &[(String, String)]) -> bool {
    let attrs = &e["Actor"]["Attributes"];
    let mut names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter().all(|n| {
        f.iter().filter(|(k, _)| k == n).any(|(_, v)| match n {
            "type" => e["Type"] == v.as_str(),
            "event" => e["Action"].as_str().is_some_and(|a| a == v || a.split(':').next() == Some(v.as_str())),
            "container" => e["Type"] == "container" && (e["Actor"]["ID"].as_str().is_some_and(|id| id.starts_with(v.as_str())) || attrs["name"] == v.as_str()),
            "image" => attrs["image"] == v.as_str() || (e["Type"] == "image" && e["Actor"]["ID"] == v.as_str()),
            "volume" => e["Type"] == "volume" && e["Actor"]["ID"] == v.as_str(),
            "label" => match v.split_once('=') {
                Some((k, val)) => attrs[k] == val,
                None => attrs.get(v.as_str()).is_some(),
            },
            _ => false,
        })
    })
}

fn nanos(e: &Value) -> u64 {
    e["timeNano"].as_u64().unwrap_or(0)
}

pub async fn events(s: Arc<State>, q: &Query) -> Result<hyper::Response<Body>> {
    q.only(&["since", "until", "filters"])?;
    let f = q.filters(&["type", "event", "container", "image", "volume", "label"])?;
    let since = q.get("since").filter(|v| !v.is_empty()).map(crate::time::filter_timestamp).transpose()?;
    let until = q.get("until").filter(|v| !v.is_empty()).map(crate::time::filter_timestamp).transpose()?;
    let (kept, mut rx) = s.containers.events.subscribe();
    let (tx, out) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let send = move |e: &Value| tx.send(Bytes::from(format!("{e}\n"))).is_ok();
    let to_ns = |t: i64| (t.max(0) as u64).saturating_mul(1_000_000_000);
    tokio::spawn(async move {
        let until_ns = until.map(|u| to_ns(u) + 999_999_999);
        // History only when asked for with since, as docker's.
        if let Some(since) = since {
            for e in kept.iter().filter(|e| nanos(e) >= to_ns(since) && until_ns.is_none_or(|u| nanos(e) <= u) && matches(e, &f)) {
                if !send(e) {
                    return;
                }
            }
        }
        let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        if until_ns.is_some_and(|u| u <= now_ns) {
            return;
        }
        let deadline = until_ns.map(|u| tokio::time::Instant::now() + std::time::Duration::from_nanos(u - now_ns));
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                    Ok(r) => r,
                    Err(_) => return,
                },
                None => rx.recv().await,
            };
            match next {
                Ok(e) if matches(&e, &f) => {
                    if !send(&e) {
                        return;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, "an events client fell behind"),
                Err(_) => return,
            }
        }
    });
    Ok(stream_as(out, "application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_like_docker() {
        let e = json!({"Type": "container", "Action": "exec_start: sh -c true", "Actor": {"ID": "abcdef", "Attributes": {"name": "web", "image": "busybox", "tier": "front"}}});
        let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert!(matches(&e, &f(&[("type", "container"), ("event", "exec_start")])));
        assert!(matches(&e, &f(&[("container", "web")])) && matches(&e, &f(&[("container", "abc")])));
        assert!(matches(&e, &f(&[("event", "die"), ("event", "exec_start")])), "one name: any value");
        assert!(!matches(&e, &f(&[("type", "image")])));
        assert!(matches(&e, &f(&[("label", "tier=front")])) && !matches(&e, &f(&[("label", "tier=back")])));
        assert!(matches(&e, &f(&[("image", "busybox")])));
    }
}
