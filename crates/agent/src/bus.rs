//! The in-process event bus: every event is appended to the shared event log, then
//! broadcast to this agent's handlers and API streams.

use khutulun_state::{DirStore, Event, EventKind};
use tokio::sync::broadcast;

#[derive(Clone)]
pub struct EventBus {
    host: String,
    store: DirStore,
    sender: broadcast::Sender<Event>,
}

impl EventBus {
    pub fn new(host: String, store: DirStore) -> EventBus {
        let (sender, _) = broadcast::channel(4096);
        EventBus {
            host,
            store,
            sender,
        }
    }

    /// Records and publishes an event. A failure to write the log is reported, never fatal:
    /// the event still reaches live subscribers.
    pub fn emit(&self, kind: EventKind) -> Event {
        let event = Event::now(&self.host, kind);
        if let Err(e) = self.store.append_event(&event) {
            tracing::error!("cannot append to the event log: {e}");
        }
        tracing::info!(event = %serde_json::to_string(&event).unwrap_or_default(), "event");
        let _ = self.sender.send(event.clone());
        event
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
