//! Full-state exchange ("push-pull", as memberlist calls it).
//!
//! SWIM gossips *changes*; a newcomer hears of the others only through the sample of
//! members in foca's reply to its announce, and from later changes. So after joining, and
//! then now and then, a host sends its whole membership table to one random member, which
//! applies it and sends its own back. Both end up knowing everything either knew.

use std::net::SocketAddr;

use std::collections::HashMap;

use foca::Member;
use serde::{Deserialize, Serialize};

use crate::identity::NodeId;
use crate::swim::MAX_FOCA_PACKET;

/// One datagram of a membership table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncChunk {
    /// Set (in the first chunk only) when the sender wants the receiver's table back.
    pub reply_to: Option<SocketAddr>,
    /// Members as foca knows them (identity, incarnation, state).
    pub members: Vec<Member<NodeId>>,
}

// Room for the chunk's own fields around the members.
const CHUNK_OVERHEAD: usize = 32;

/// Splits a membership table into datagram-sized chunks (at least one, maybe empty).
pub fn sync_chunks<'a>(
    members: impl IntoIterator<Item = &'a Member<NodeId>>,
    reply_to: Option<SocketAddr>,
) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut current = SyncChunk {
        reply_to,
        members: Vec::new(),
    };
    let mut size = CHUNK_OVERHEAD;
    for member in members {
        let len = crate::codec::encode(member).len();
        if size + len > MAX_FOCA_PACKET && !current.members.is_empty() {
            let full = std::mem::replace(
                &mut current,
                SyncChunk {
                    reply_to: None,
                    members: Vec::new(),
                },
            );
            chunks.push(crate::codec::encode(&full));
            size = CHUNK_OVERHEAD;
        }
        size += len;
        current.members.push(member.clone());
    }
    chunks.push(crate::codec::encode(&current));
    chunks
}

/// The members of a received chunk that would change anything in `known` (foca's
/// table): applying only those keeps a table exchange O(n) instead of O(n²) (foca looks
/// members up by scanning).
pub fn news<'a>(
    known: impl IntoIterator<Item = &'a Member<NodeId>>,
    received: Vec<Member<NodeId>>,
) -> Vec<Member<NodeId>> {
    // Index the (small) chunk, scan the (big) table once.
    let index: HashMap<(SocketAddr, u64), usize> = received
        .iter()
        .enumerate()
        .map(|(i, m)| ((m.id().addr, m.id().generation), i))
        .collect();
    let mut same = vec![false; received.len()];
    for k in known {
        if let Some(&i) = index.get(&(k.id().addr, k.id().generation)) {
            let m = &received[i];
            same[i] =
                m.id() == k.id() && m.incarnation() == k.incarnation() && m.state() == k.state();
        }
    }
    received
        .into_iter()
        .zip(same)
        .filter_map(|(m, same)| (!same).then_some(m))
        .collect()
}

/// Decodes one chunk.
pub fn decode_sync(bytes: &[u8]) -> Result<SyncChunk, postcard::Error> {
    crate::codec::decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::State;

    #[test]
    fn big_tables_split_into_datagrams_and_come_back_whole() {
        let members: Vec<Member<NodeId>> = (0..1000u32)
            .map(|i| {
                Member::new(
                    NodeId {
                        name: format!("host-with-a-longish-name-{i:05}"),
                        addr: SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 8183)),
                        generation: u64::MAX - u64::from(i),
                    },
                    7,
                    foca::State::Alive,
                )
            })
            .collect();
        let reply_to = Some(SocketAddr::from(([10, 9, 9, 9], 8183)));
        let chunks = sync_chunks(&members, reply_to);
        assert!(chunks.len() > 1);
        let mut back = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            assert!(chunk.len() <= MAX_FOCA_PACKET, "{}", chunk.len());
            let decoded = decode_sync(chunk).unwrap();
            assert_eq!(decoded.reply_to, if i == 0 { reply_to } else { None });
            back.extend(decoded.members);
        }
        assert_eq!(back, members);
        assert_eq!(sync_chunks([], None).len(), 1);
    }

    #[test]
    fn only_news_is_applied() {
        let id = |i: u8| NodeId {
            name: format!("h{i}"),
            addr: SocketAddr::from(([10, 0, 0, i], 1)),
            generation: 1,
        };
        let known = vec![
            Member::new(id(1), 3, State::Alive),
            Member::new(id(2), 0, State::Alive),
        ];
        let received = vec![
            Member::new(id(1), 3, State::Alive),
            Member::new(id(2), 0, State::Suspect),
            Member::new(id(3), 0, State::Alive),
        ];
        let fresh = news(&known, received);
        assert_eq!(
            fresh
                .iter()
                .map(|m| m.id().name.as_str())
                .collect::<Vec<_>>(),
            ["h2", "h3"]
        );
    }
}
