//! Service locks that never hold an async worker. Within this agent, waiters queue on a
//! tokio mutex per service (so any number of concurrent requests wait without a thread
//! each); the holder then takes the cross-host `flock` on the blocking pool. Both are
//! released together when the guard drops.

use khutulun_state::{DirStore, FileLock, StateError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

type Key = (String, String);

#[derive(Default)]
pub struct ServiceLocks {
    queues: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds a service's lock: this agent's queue and the state's flock.
pub struct ServiceGuard {
    file: Option<FileLock>,
    queue: Option<OwnedMutexGuard<()>>,
}

impl ServiceLocks {
    pub async fn lock(
        &self,
        store: &DirStore,
        namespace: &str,
        service: &str,
    ) -> Result<ServiceGuard, StateError> {
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            // Forget queues nobody waits on, so the map stays as small as the work at hand.
            queues.retain(|_, q| Arc::strong_count(q) > 1);
            queues
                .entry((namespace.to_owned(), service.to_owned()))
                .or_default()
                .clone()
        };
        let queued = queue.lock_owned().await;
        let store = store.clone();
        let (ns, svc) = (namespace.to_owned(), service.to_owned());
        let file = tokio::task::spawn_blocking(move || store.lock_service(&ns, &svc))
            .await
            .map_err(|e| StateError::io("lock", "service lock", std::io::Error::other(e)))??;
        Ok(ServiceGuard {
            file: Some(file),
            queue: Some(queued),
        })
    }
}

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        let (file, queue) = (self.file.take(), self.queue.take());
        // Closing the lock file is a filesystem call too (an unlock on NFS): off the
        // runtime's workers when there is a runtime, and the queue moves on after it.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || {
                    drop(file);
                    drop(queue);
                });
            }
            Err(_) => {
                drop(file);
                drop(queue);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn many_waiters_queue_without_blocking_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let locks = Arc::new(ServiceLocks::default());
        let counter = Arc::new(Mutex::new((0u32, 0u32))); // (inside now, most inside at once)
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (locks, store, counter) = (locks.clone(), store.clone(), counter.clone());
            tasks.push(tokio::spawn(async move {
                let _guard = locks.lock(&store, "default", "s").await.unwrap();
                {
                    let mut c = counter.lock().unwrap();
                    c.0 += 1;
                    c.1 = c.1.max(c.0);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                counter.lock().unwrap().0 -= 1;
            }));
        }
        // One runtime thread: if a waiter blocked it, nothing else could run and this
        // would never finish.
        tokio::time::timeout(Duration::from_secs(20), async {
            for task in tasks {
                task.await.unwrap();
            }
        })
        .await
        .expect("all waiters got the lock in turn");
        assert_eq!(counter.lock().unwrap().1, 1, "never two holders at once");
    }
}
