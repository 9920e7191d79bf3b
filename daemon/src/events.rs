//! The event stream of `/events`: what happened to containers, images and
//! volumes, in docker's message shape, broadcast to every listener and kept
//! (the last 1024) for `since`.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

const KEEP: usize = 1024;

pub struct Events {
    tx: broadcast::Sender<Value>,
    recent: Mutex<VecDeque<Value>>,
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    pub fn new() -> Events {
        Events { tx: broadcast::channel(KEEP).0, recent: Mutex::new(VecDeque::with_capacity(KEEP)) }
    }

    /// Records and broadcasts one event. `attrs` are the Actor's attributes
    /// (a container's name and image, its labels, an exit code ...).
    pub fn emit(&self, typ: &str, action: &str, id: &str, attrs: Map<String, Value>) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut e = json!({
            "Type": typ,
            "Action": action,
            "Actor": {"ID": id, "Attributes": attrs},
            "scope": "local",
            "time": now.as_secs(),
            "timeNano": now.as_nanos() as u64,
        });
        // The old top-level fields docker still sends for containers and images.
        if typ == "container" || typ == "image" {
            e["status"] = json!(action);
            e["id"] = json!(id);
            if let Some(img) = e["Actor"]["Attributes"].get("image").cloned() {
                e["from"] = img;
            }
        }
        {
            let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if r.len() == KEEP {
                r.pop_front();
            }
            r.push_back(e.clone());
        }
        tracing::debug!(r#type = typ, action, id, "event");
        let _ = self.tx.send(e);
    }

    /// The kept events and a receiver for the ones after them, taken
    /// together so that none falls between.
    pub fn subscribe(&self) -> (Vec<Value>, broadcast::Receiver<Value>) {
        let r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        (r.iter().cloned().collect(), rx)
    }
}

/// Attributes of a container event: name, image, labels (as docker's).
pub fn container_attrs(name: &str, image: &str, labels: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(l) = labels.as_object() {
        for (k, v) in l {
            m.insert(k.clone(), v.clone());
        }
    }
    m.insert("name".into(), json!(name));
    m.insert("image".into(), json!(image));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kept_and_broadcast() {
        let ev = Events::new();
        ev.emit("container", "create", "abc", container_attrs("web", "busybox", &json!({"a": "b"})));
        let (old, mut rx) = ev.subscribe();
        assert_eq!(old.len(), 1);
        assert_eq!((old[0]["status"].as_str(), old[0]["from"].as_str(), old[0]["Actor"]["Attributes"]["a"].as_str()), (Some("create"), Some("busybox"), Some("b")));
        ev.emit("volume", "create", "v1", Map::new());
        let e = rx.recv().await.unwrap();
        assert_eq!((e["Type"].as_str(), e.get("status")), (Some("volume"), None));
    }
}
