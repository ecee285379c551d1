//! What travels inside a sealed datagram besides foca's own packets.

use std::net::SocketAddr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A foca packet (foca's postcard codec).
pub(crate) const KIND_FOCA: u8 = 1;
/// A [`MetaPush`], sent point to point.
pub(crate) const KIND_META_PUSH: u8 = 2;
/// A [`Discovery`] announcement on the multicast group.
pub(crate) const KIND_DISCOVERY: u8 = 3;
/// A chunk of a membership table ([`crate::swim::SyncChunk`]).
pub(crate) const KIND_SYNC: u8 = 4;

/// One version of a host's metadata.
///
/// Newest wins by `(epoch, version)`: the epoch is the generation the agent started with
/// (so a restarted agent's version counter starting again at 1 still wins), the version
/// counts `set_metadata` calls in that life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetaItem {
    pub name: String,
    pub epoch: u64,
    pub version: u64,
    /// Compact JSON text (postcard cannot carry a self-describing `serde_json::Value`).
    pub json: String,
}

impl MetaItem {
    pub(crate) fn order(&self) -> (u64, u64) {
        (self.epoch, self.version)
    }
}

/// A custom broadcast carried by foca's gossip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Item {
    /// A host's (new) metadata.
    Meta(MetaItem),
    /// A host is leaving on purpose: when its identity goes down, it left, it did not fail.
    Leave { name: String, generation: u64 },
}

/// Metadata sent straight to a member we just met, so that it learns it without waiting
/// for a change to be gossiped. `reply_to` asks the receiver to send its own back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetaPush {
    pub item: MetaItem,
    pub reply_to: Option<SocketAddr>,
}

/// "I am here": sent to the multicast group so that hosts find each other without seeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Discovery {
    pub name: String,
    pub gossip: SocketAddr,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("our own messages always serialize")
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    match postcard::take_from_bytes(bytes)? {
        (value, []) => Ok(value),
        _ => Err(postcard::Error::DeserializeBadEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_roundtrip_and_trailing_bytes_are_refused() {
        let item = Item::Meta(MetaItem {
            name: "a".into(),
            epoch: 1,
            version: 2,
            json: "{}".into(),
        });
        let mut bytes = encode(&item);
        assert_eq!(decode::<Item>(&bytes).unwrap(), item);
        bytes.push(0);
        assert!(decode::<Item>(&bytes).is_err());
        assert!(decode::<Discovery>(&[0xff, 0xff]).is_err());
    }
}
