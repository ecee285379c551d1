//! The listings' JSON, made once per snapshot of the index: a listing of every service and
//! instance is then a concatenation, not a serialisation of every record on each request.

use super::views::{instance_view, service_view};
use khutulun_state::ServiceSnapshot;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// The JSON of one snapshot: its service view, and its instance views joined by commas.
#[derive(Clone)]
struct Rendering {
    snapshot: Weak<ServiceSnapshot>,
    service: Arc<[u8]>,
    instances: Arc<[u8]>,
}

#[derive(Default)]
pub struct Rendered {
    by_service: Mutex<HashMap<(String, String), Rendering>>,
}

impl Rendered {
    /// A JSON array of the services' views.
    pub fn services(&self, snapshots: &[Arc<ServiceSnapshot>]) -> Vec<u8> {
        let parts: Vec<Rendering> = snapshots.iter().map(|s| self.of(s)).collect();
        self.prune();
        json_array(parts.iter().map(|r| &r.service[..]))
    }

    /// A JSON array of the instance views of all the services, in their order.
    pub fn instances(&self, snapshots: &[Arc<ServiceSnapshot>]) -> Vec<u8> {
        let parts: Vec<Rendering> = snapshots.iter().map(|s| self.of(s)).collect();
        self.prune();
        json_array(
            parts
                .iter()
                .map(|r| &r.instances[..])
                .filter(|items| !items.is_empty()),
        )
    }

    fn of(&self, snapshot: &Arc<ServiceSnapshot>) -> Rendering {
        let key = (
            snapshot.record.namespace.clone(),
            snapshot.record.name.clone(),
        );
        let kept = self.lock().get(&key).cloned();
        // The same snapshot (alive, since the caller holds it): its JSON is still right.
        if let Some(kept) = kept.filter(|k| {
            k.snapshot
                .upgrade()
                .is_some_and(|alive| Arc::ptr_eq(&alive, snapshot))
        }) {
            return kept;
        }
        let service = serde_json::to_vec(&service_view(&snapshot.record, &snapshot.instances))
            .expect("views serialize");
        let items: Vec<Vec<u8>> = snapshot
            .instances
            .iter()
            .map(|r| serde_json::to_vec(&instance_view(r)).expect("views serialize"))
            .collect();
        let rendering = Rendering {
            snapshot: Arc::downgrade(snapshot),
            service: service.into(),
            instances: items.join(&b","[..]).into(),
        };
        self.lock().insert(key, rendering.clone());
        rendering
    }

    /// Forgets the JSON of snapshots the index no longer holds.
    fn prune(&self) {
        self.lock().retain(|_, r| r.snapshot.strong_count() > 0);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Rendering>> {
        self.by_service
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn json_array<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use khutulun_state::{InstanceRecord, ServiceRecord};

    fn snapshot(name: &str, instances: usize) -> Arc<ServiceSnapshot> {
        let record: ServiceRecord = serde_json::from_value(serde_json::json!({
            "namespace": "default", "name": name, "revision": 1, "status": "deployed",
            "entry": "service.yaml", "inputs": {},
            "created_at": "2026-12-07T00:00:00Z", "updated_at": "2026-12-07T00:00:00Z"
        }))
        .unwrap();
        let instances: Vec<InstanceRecord> = (0..instances)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "namespace": "default", "service": name, "node": "n", "index": i,
                    "revision": 1, "host": "h", "epoch": 1, "delegate": "process",
                    "state": "running", "address": "127.0.0.1",
                    "updated_at": "2026-12-07T00:00:00Z"
                }))
                .unwrap()
            })
            .collect();
        Arc::new(ServiceSnapshot { record, instances })
    }

    #[test]
    fn listings_are_the_json_of_the_views_as_serde_writes_them() {
        let rendered = Rendered::default();
        let snapshots = vec![snapshot("a", 2), snapshot("empty", 0), snapshot("b", 1)];
        for _ in 0..2 {
            let services: Vec<_> = snapshots
                .iter()
                .map(|s| service_view(&s.record, &s.instances))
                .collect();
            assert_eq!(
                rendered.services(&snapshots),
                serde_json::to_vec(&services).unwrap()
            );
            let instances: Vec<_> = snapshots
                .iter()
                .flat_map(|s| s.instances.iter().map(instance_view))
                .collect();
            assert_eq!(
                rendered.instances(&snapshots),
                serde_json::to_vec(&instances).unwrap()
            );
        }
        assert_eq!(rendered.services(&[]), b"[]");
    }

    #[test]
    fn a_new_snapshot_is_rendered_again_and_a_dropped_one_is_forgotten() {
        let rendered = Rendered::default();
        let first = snapshot("a", 1);
        let one = rendered.instances(std::slice::from_ref(&first));
        let second = snapshot("a", 2);
        let two = rendered.instances(std::slice::from_ref(&second));
        assert_ne!(one, two, "the old snapshot's JSON was served");
        drop(second);
        rendered.services(&[]);
        assert!(rendered.lock().is_empty());
    }
}
