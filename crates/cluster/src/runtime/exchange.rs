//! What the driver exchanges besides SWIM itself: metadata, whole membership tables, and
//! the leave notice.

use std::net::SocketAddr;

use rand::RngExt;
use serde_json::Value;

use super::Driver;
use crate::codec::{self, Item, MetaPush, KIND_FOCA, KIND_META_PUSH, KIND_SYNC};
use crate::config::MAX_METADATA_LEN;
use crate::error::ClusterError;
use crate::member::MemberState;
use crate::swim;

/// Most metadata requests per housekeeping tick, so a big cluster is not flooded.
const META_REQUESTS_PER_TICK: usize = 16;

impl Driver {
    /// Another host's metadata, sent straight to us.
    pub(super) async fn on_meta_push(&mut self, payload: &[u8], from: SocketAddr) {
        match codec::decode::<MetaPush>(payload) {
            Ok(push) => {
                self.seen.lock().expect("seen lock").accept_meta(push.item);
                if let Some(reply_to) = push.reply_to.filter(|a| self.is_member(*a)) {
                    self.send_own_meta(reply_to, false).await;
                }
            }
            Err(err) => {
                self.wire.count_malformed();
                tracing::debug!(%from, %err, "bad metadata packet");
            }
        }
    }

    /// A chunk of another host's membership table.
    pub(super) async fn on_table(&mut self, payload: &[u8], from: SocketAddr) {
        match swim::decode_sync(payload) {
            Ok(chunk) => {
                let fresh = swim::news(self.foca.iter_membership_state(), chunk.members);
                let members = fresh.into_iter();
                // Not re-gossiped: the sender has it, and so, most likely, do others.
                if let Err(err) = self.foca.apply_many(members, false, &mut self.rt) {
                    tracing::debug!(%from, %err, "membership table not applied");
                }
                if let Some(reply_to) = chunk.reply_to.filter(|a| self.is_member(*a)) {
                    self.send_table(reply_to, false).await;
                }
            }
            Err(err) => {
                self.wire.count_malformed();
                tracing::debug!(%from, %err, "bad membership table packet");
            }
        }
    }

    /// Every probe period: ask members whose metadata we lack for it, and announce
    /// newcomers whose metadata is late without it.
    /// Announces newcomers whose metadata is late and asks them for it again. Runs every
    /// probe period while some newcomer lacks metadata (`keep_house_when_needed`).
    pub(super) async fn housekeeping(&mut self) {
        self.housekeeping_scheduled = false;
        let period = swim::probe_period(self.timing);
        let (lacking, released) = {
            let mut roster = self.shared.roster.lock().expect("roster lock");
            (roster.lacking_metadata(), roster.release_held(period))
        };
        self.publish(released);
        for addr in lacking.into_iter().take(META_REQUESTS_PER_TICK) {
            self.send_own_meta(addr, true).await;
        }
    }

    /// Replies go only to members: a forged `reply_to` cannot aim our table at a stranger.
    fn is_member(&self, addr: SocketAddr) -> bool {
        self.foca.iter_members().any(|m| m.id().addr == addr)
    }

    /// Push-pull with one random active member.
    pub(super) async fn sync_with_someone(&mut self) {
        let active: Vec<SocketAddr> = self.foca.iter_members().map(|m| m.id().addr).collect();
        if active.is_empty() {
            return;
        }
        let peer = active[rand::rng().random_range(0..active.len())];
        self.send_table(peer, true).await;
    }

    pub(super) async fn send_table(&mut self, to: SocketAddr, want_reply: bool) {
        let me = self.foca.identity().clone();
        let reply_to = want_reply.then_some(me.addr);
        // Ourselves first: the peer may not have heard of us yet.
        let myself = foca::Member::alive(me);
        let table = std::iter::once(&myself).chain(self.foca.iter_membership_state());
        for chunk in swim::sync_chunks(table, reply_to) {
            self.wire.send(&self.socket, to, KIND_SYNC, &chunk).await;
        }
    }

    pub(super) async fn send_own_meta(&mut self, to: SocketAddr, want_reply: bool) {
        let push = MetaPush {
            item: self.own_meta.clone(),
            reply_to: want_reply.then(|| self.foca.identity().addr),
        };
        self.wire
            .send(&self.socket, to, KIND_META_PUSH, &codec::encode(&push))
            .await;
    }

    pub(super) fn broadcast_own_meta(&mut self) {
        let data = codec::encode(&Item::Meta(self.own_meta.clone()));
        if let Err(err) = self.foca.add_broadcast(&data) {
            tracing::warn!(%err, "cannot gossip this host's metadata");
        }
    }

    pub(super) fn set_metadata(&mut self, value: &Value) -> Result<(), ClusterError> {
        let json = value.to_string();
        if json.len() > MAX_METADATA_LEN {
            return Err(ClusterError::MetadataTooLarge {
                len: json.len(),
                limit: MAX_METADATA_LEN,
            });
        }
        self.own_meta.version += 1;
        self.own_meta.json = json;
        self.broadcast_own_meta();
        // Push it to a few members now rather than at the next gossip round.
        if let Err(err) = self.foca.broadcast(&mut self.rt) {
            tracing::debug!(%err, "cannot broadcast metadata");
        }
        Ok(())
    }

    /// Graceful exit: a leave notice and our own "down", gossiped together, twice (to
    /// different random members), so that others record `Left` and not `Dead`.
    pub(super) async fn leave(&mut self) {
        let me = self.foca.identity().clone();
        let notice = codec::encode(&Item::Leave {
            name: me.name.clone(),
            generation: me.generation,
        });
        if let Err(err) = self.foca.add_broadcast(&notice) {
            tracing::warn!(%err, "cannot queue the leave notice");
        }
        if let Err(err) = self.foca.leave_cluster(&mut self.rt) {
            tracing::warn!(%err, "cannot leave the cluster cleanly");
        }
        if let Err(err) = self.foca.gossip(&mut self.rt) {
            tracing::debug!(%err, "second leave round");
        }
        while let Some((to, data)) = self.rt.to_send() {
            self.wire
                .send(&self.socket, to.addr, KIND_FOCA, &data)
                .await;
        }
        self.shared
            .roster
            .lock()
            .expect("roster lock")
            .set_local_state(MemberState::Left);
        tracing::info!("left the cluster");
    }
}
