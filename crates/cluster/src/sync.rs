//! Full-state exchange ("push-pull", as memberlist calls it).
//!
//! SWIM gossips *changes*; a newcomer hears of the others only through the sample of
//! members in foca's reply to its announce, and from later changes. So after joining, and
//! then now and then, a host sends its whole membership table to one random member, which
//! applies it and sends its own back. Both end up knowing everything either knew.

use std::net::SocketAddr;

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

/// Decodes one chunk.
pub fn decode_sync(bytes: &[u8]) -> Result<SyncChunk, postcard::Error> {
    crate::codec::decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
