//! Work on a service's nodes in dependency order, each node as soon as the nodes it waits
//! for are done: independent nodes go at the same time, so their readiness waits overlap.
//! Starts wait for the nodes a node requires; stops for the nodes that require it.

use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

/// Who waits for whom: for starts, each node's requirements' targets; for stops, the
/// nodes that require it. Nodes not in `order` are ignored.
pub type WaitsFor = BTreeMap<String, Vec<String>>;

/// The nodes of `order` that may go now: not launched yet, and all they wait for done.
/// Pure, and in `order`'s order.
pub fn ready<'a>(
    order: &'a [String],
    waits_for: &WaitsFor,
    launched: &BTreeSet<String>,
    done: &BTreeSet<String>,
) -> Vec<&'a String> {
    order
        .iter()
        .filter(|node| !launched.contains(*node))
        .filter(|node| {
            waits_for.get(*node).is_none_or(|deps| {
                deps.iter()
                    .all(|d| d == *node || done.contains(d) || !order.contains(d))
            })
        })
        .collect()
}

/// How a run of [`each_when_ready`] ended.
pub struct Ran<E> {
    pub failures: Vec<E>,
    /// False when it stopped launching early (a failure, or `stop`).
    pub all_launched: bool,
}

/// Launches every node of `order` as soon as what it waits for is done: `launch` gets each
/// batch of nodes that became ready together (one state read can serve a batch) and gives
/// one future per node. After a failure, or once `stop` says so, nothing more is launched
/// and what runs is awaited. `order` must be a valid order (every node after what it waits
/// for), which guarantees progress.
pub async fn each_when_ready<E, Fut>(
    order: &[String],
    waits_for: &WaitsFor,
    stop: impl Fn() -> bool,
    mut launch: impl FnMut(&[&String]) -> Vec<Fut>,
) -> Ran<E>
where
    Fut: Future<Output = (String, Result<(), Vec<E>>)>,
{
    let mut launched = BTreeSet::new();
    let mut done = BTreeSet::new();
    let mut running = FuturesUnordered::new();
    let mut failures = Vec::new();
    loop {
        if failures.is_empty() && !stop() {
            let batch = ready(order, waits_for, &launched, &done);
            if !batch.is_empty() {
                launched.extend(batch.iter().map(|n| (*n).clone()));
                running.extend(launch(&batch));
            }
        }
        match running.next().await {
            None => break,
            Some((node, Ok(()))) => {
                done.insert(node);
            }
            Some((_, Err(failed))) => failures.extend(failed),
        }
    }
    Ran {
        all_launched: launched.len() == order.len(),
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn waits(pairs: &[(&str, &[&str])]) -> WaitsFor {
        pairs
            .iter()
            .map(|(n, deps)| (n.to_string(), names(deps)))
            .collect()
    }

    #[test]
    fn independent_nodes_are_ready_together_and_dependants_after() {
        let order = names(&["db", "cache", "app"]);
        let waits_for = waits(&[("app", &["db", "cache"])]);
        let none = BTreeSet::new();
        assert_eq!(ready(&order, &waits_for, &none, &none), ["db", "cache"]);
        let launched: BTreeSet<String> = names(&["db", "cache"]).into_iter().collect();
        let db: BTreeSet<String> = names(&["db"]).into_iter().collect();
        assert!(ready(&order, &waits_for, &launched, &db).is_empty());
        assert_eq!(ready(&order, &waits_for, &launched, &launched), ["app"]);
    }

    #[tokio::test]
    async fn batches_follow_completions_and_a_failure_stops_launching() {
        let order = names(&["a", "b", "c", "d"]);
        let waits_for = waits(&[("c", &["a"]), ("d", &["c"])]);
        let batches = Arc::new(Mutex::new(Vec::new()));
        let ran = each_when_ready(
            &order,
            &waits_for,
            || false,
            |batch: &[&String]| {
                batches
                    .lock()
                    .unwrap()
                    .push(batch.iter().map(|n| n.to_string()).collect::<Vec<_>>());
                batch
                    .iter()
                    .map(|node| {
                        let node = node.to_string();
                        async move {
                            let result = if node == "c" {
                                Err(vec![format!("{node} failed")])
                            } else {
                                Ok(())
                            };
                            (node, result)
                        }
                    })
                    .collect()
            },
        )
        .await;
        assert_eq!(ran.failures, ["c failed"]);
        assert!(!ran.all_launched, "d waits for c, which failed");
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches[0], ["a", "b"]);
        assert_eq!(batches[1], ["c"]);
        assert_eq!(batches.len(), 2);
    }
}
