//! Foca custom broadcasts: host metadata and leave notices, newest per host wins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foca::{BroadcastHandler, Invalidates};

use crate::codec::{self, Item, MetaItem};
use crate::identity::NodeId;

/// What has been accepted so far, shared between foca's handler and the driver.
#[derive(Default)]
pub(crate) struct Seen {
    meta: HashMap<String, (u64, u64)>,
    left: HashMap<String, u64>,
    /// Items accepted since the driver last looked, oldest first.
    inbox: Vec<Item>,
}

impl Seen {
    /// Records `item` if it is news; returns whether it was.
    pub(crate) fn accept(&mut self, item: &Item) -> bool {
        let news = match item {
            Item::Meta(meta) => Self::newer(&mut self.meta, &meta.name, meta.order()),
            Item::Leave { name, generation } => Self::newer(&mut self.left, name, *generation),
        };
        if news {
            self.inbox.push(item.clone());
        }
        news
    }

    pub(crate) fn accept_meta(&mut self, meta: MetaItem) -> bool {
        self.accept(&Item::Meta(meta))
    }

    pub(crate) fn take_inbox(&mut self) -> Vec<Item> {
        std::mem::take(&mut self.inbox)
    }

    fn newer<V: Ord + Copy>(seen: &mut HashMap<String, V>, name: &str, value: V) -> bool {
        match seen.get_mut(name) {
            Some(known) if *known >= value => false,
            Some(known) => {
                *known = value;
                true
            }
            None => {
                seen.insert(name.to_owned(), value);
                true
            }
        }
    }
}

/// The foca `BroadcastHandler`.
pub(crate) struct Handler {
    seen: Arc<Mutex<Seen>>,
}

impl Handler {
    pub(crate) fn new(seen: Arc<Mutex<Seen>>) -> Self {
        Self { seen }
    }
}

/// Broadcasts about the same host and of the same kind replace each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemKey {
    Meta(String),
    Leave(String),
}

impl Invalidates for ItemKey {
    fn invalidates(&self, other: &Self) -> bool {
        self == other
    }
}

impl BroadcastHandler<NodeId> for Handler {
    type Key = ItemKey;
    type Error = postcard::Error;

    fn receive_item(
        &mut self,
        data: &[u8],
        _sender: Option<&NodeId>,
    ) -> Result<Option<ItemKey>, Self::Error> {
        let item: Item = codec::decode(data)?;
        let news = self.seen.lock().expect("seen lock").accept(&item);
        // Only news is passed on; stale copies die here, which bounds the gossip.
        Ok(news.then_some(match item {
            Item::Meta(meta) => ItemKey::Meta(meta.name),
            Item::Leave { name, .. } => ItemKey::Leave(name),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, epoch: u64, version: u64) -> Item {
        Item::Meta(MetaItem {
            name: name.into(),
            epoch,
            version,
            json: "null".into(),
        })
    }

    #[test]
    fn newest_wins_and_is_passed_on_once() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut handler = Handler::new(seen.clone());
        let enc = |item: &Item| codec::encode(item);
        assert_eq!(
            handler.receive_item(&enc(&meta("a", 1, 1)), None).unwrap(),
            Some(ItemKey::Meta("a".into()))
        );
        assert_eq!(
            handler.receive_item(&enc(&meta("a", 1, 1)), None).unwrap(),
            None
        );
        assert!(handler
            .receive_item(&enc(&meta("a", 1, 2)), None)
            .unwrap()
            .is_some());
        // A restarted host (higher epoch) wins even with a lower version.
        assert!(handler
            .receive_item(&enc(&meta("a", 2, 1)), None)
            .unwrap()
            .is_some());
        assert_eq!(
            handler.receive_item(&enc(&meta("a", 1, 9)), None).unwrap(),
            None
        );
        let leave = Item::Leave {
            name: "a".into(),
            generation: 5,
        };
        assert!(handler.receive_item(&enc(&leave), None).unwrap().is_some());
        assert_eq!(handler.receive_item(&enc(&leave), None).unwrap(), None);
        assert_eq!(seen.lock().unwrap().take_inbox().len(), 4);
        assert!(handler.receive_item(b"\xff\xff\xff", None).is_err());
    }
}
