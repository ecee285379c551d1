//! The in-process event bus: every event is appended to the shared event log, then
//! broadcast to this agent's handlers and API streams.

use khutulun_state::group_commit::GroupCommit;
use khutulun_state::{DirStore, Event, EventKind};
use tokio::sync::{broadcast, mpsc};

/// How long an event the log must not miss is tried again: longer than an NFS lease
/// (90 s by default) and the client's recovery after it.
const LOG_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// Events the broadcast ring keeps for streams that fall behind. Each kept event holds a
/// few small allocations, spread over the pages a flow used: 4096 of them kept about 7 MB
/// of the agent's memory after a mass flow.
const RING: usize = 512;

#[derive(Clone)]
pub struct EventBus {
    host: String,
    store: DirStore,
    sender: broadcast::Sender<Event>,
    /// Concurrent emits share one append and one fsync.
    log: std::sync::Arc<GroupCommit<Event, String>>,
    /// The handlers' queue: unbounded, so that a mass flow's burst of events, larger than
    /// the broadcast ring, is never lost to them.
    handlers: std::sync::Arc<std::sync::OnceLock<mpsc::UnboundedSender<Event>>>,
}

impl EventBus {
    pub fn new(host: String, store: DirStore) -> EventBus {
        let (sender, _) = broadcast::channel(RING);
        EventBus {
            host,
            store,
            sender,
            log: Default::default(),
            handlers: Default::default(),
        }
    }

    /// Records and publishes an event. A failure to write the log is reported, never fatal:
    /// the event still reaches live subscribers.
    pub fn emit(&self, kind: EventKind) -> Event {
        let event = Event::now(&self.host, kind);
        if let Err(e) = self.append(&event) {
            tracing::error!("cannot append to the event log: {e}");
        }
        self.publish(event)
    }

    /// Appends `event` to the log; returns once it is written (with others emitted at the
    /// same time).
    fn append(&self, event: &Event) -> Result<(), String> {
        // Waiting for another caller's write is a blocking section too.
        khutulun_state::blocking(|| {
            self.log.submit(event.clone(), |batch| {
                let result = self.store.append_events(batch).map_err(|e| e.to_string());
                vec![result; batch.len()]
            })
        })
    }

    /// Logs `event` and hands it to this agent's subscribers.
    fn publish(&self, event: Event) -> Event {
        tracing::info!(event = %serde_json::to_string(&event).unwrap_or_default(), "event");
        if let Some(handlers) = self.handlers.get() {
            let _ = handlers.send(event.clone());
        }
        let _ = self.sender.send(event.clone());
        event
    }

    /// Records and publishes an event the log must not miss (a host fenced itself, rejoined,
    /// its state stalled): while the state cannot take it, the append is tried again with
    /// backoff, for as long as the state may take to come back. Subscribers hear it once,
    /// when it is written (or given up on).
    pub async fn emit_until_logged(&self, kind: EventKind) -> Event {
        let event = Event::now(&self.host, kind);
        let mut wait = std::time::Duration::from_millis(200);
        let give_up = tokio::time::Instant::now() + LOG_RETRY_FOR;
        loop {
            match self.append(&event) {
                Ok(()) => break,
                Err(e) if tokio::time::Instant::now() + wait < give_up => {
                    tracing::warn!(
                        "cannot append to the event log yet ({e}); trying again in {wait:?}"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(10));
                }
                Err(e) => {
                    tracing::error!(
                        "cannot append to the event log, gave up after {LOG_RETRY_FOR:?}: {e}"
                    );
                    break;
                }
            }
        }
        self.publish(event)
    }

    /// Every event from now on, for streams that may fall behind: one that misses events
    /// hears `Lagged` (the API's event stream then says `events_missed`).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Every event from now on, none missed: for the handlers, once per bus.
    pub fn handler_queue(&self) -> Option<mpsc::UnboundedReceiver<Event>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.handlers.set(sender).ok().map(|()| receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use khutulun_state::InstanceRef;

    #[test]
    fn handlers_get_every_event_of_a_burst_larger_than_the_ring() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::new("h".into(), DirStore::open(dir.path()).unwrap());
        let mut handlers = bus.handler_queue().unwrap();
        assert!(bus.handler_queue().is_none(), "a second handler queue");
        let mut stream = bus.subscribe();
        let burst = RING * 2;
        for index in 0..burst as u32 {
            bus.emit(EventKind::InstanceStarting {
                instance: InstanceRef::new("default", "web", "n", index).unwrap(),
            });
        }
        for index in 0..burst as u32 {
            let event = handlers
                .try_recv()
                .expect("an event the handlers never got");
            assert!(
                matches!(&event.kind, EventKind::InstanceStarting { instance } if instance.index == index),
                "{event:?}"
            );
        }
        // A stream that fell behind hears it (the API then sends `events_missed`).
        assert!(matches!(
            stream.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        // And every event is in the log.
        assert_eq!(bus.store.events(None).unwrap().len(), burst);
    }
}
