//! Finding the cluster: seeds (with backoff, while alone) and multicast discovery.

use std::net::SocketAddr;
use std::time::Duration;

use foca::{Codec, PostcardCodec};

use super::{Driver, Internal};
use crate::codec::{self, Discovery, KIND_DISCOVERY};
use crate::identity::NodeId;
use crate::multicast::ANNOUNCE_DELAYS;
use crate::seeds;
use crate::timers::Job;

impl Driver {
    /// A multicast announcement: join through its sender unless we know it already.
    pub(super) fn on_multicast(&mut self, datagram: &mut [u8], from: SocketAddr) {
        let Some((kind, payload)) = self.wire.open(datagram, from) else {
            return;
        };
        let discovery = match (kind, codec::decode::<Discovery>(payload)) {
            (KIND_DISCOVERY, Ok(discovery)) => discovery,
            _ => {
                self.wire.count_malformed();
                return;
            }
        };
        if discovery.name == self.own_meta.name {
            return;
        }
        let known = self
            .shared
            .roster
            .lock()
            .expect("roster lock")
            .is_active(&discovery.name);
        if !known {
            tracing::info!(
                member = %discovery.name,
                addr = %discovery.gossip,
                "discovered a host by multicast; joining through it"
            );
            self.announce_to(&[discovery.gossip]);
        }
    }

    /// Announces to each address that is not this host; returns how many that was.
    pub(super) fn announce_to(&mut self, addrs: &[SocketAddr]) -> usize {
        let local = self.shared.local_addr;
        let own = self.foca.identity().addr;
        let mut sent = 0;
        for &addr in addrs {
            if addr == own
                || addr == local
                || self.self_addrs.contains(&addr)
                || addr.is_ipv4() != local.is_ipv4()
            {
                continue;
            }
            match self.foca.announce(NodeId::placeholder(addr), &mut self.rt) {
                Ok(()) => sent += 1,
                Err(err) => tracing::debug!(%addr, %err, "cannot announce"),
            }
        }
        sent
    }

    /// A seed list often names this host too (the same list on every host), under an
    /// address we cannot tell is ours (`127.0.1.1`, a DNS name). Our own announce coming
    /// back says so: skip that address from now on.
    pub(super) fn note_self_announce(&mut self, payload: &[u8]) {
        let decoded: Result<foca::Header<NodeId>, _> = PostcardCodec.decode_header(payload);
        if let Ok(header) = decoded {
            if header.message == foca::Message::Announce && header.dst.name.is_empty() {
                tracing::debug!(addr = %header.dst.addr, "a seed address is this host");
                self.self_addrs.insert(header.dst.addr);
            }
        }
    }

    /// (Re)starts announcing to the seeds, from the shortest backoff.
    pub(super) fn start_joining(&mut self) {
        if self.seeds.is_empty() {
            return;
        }
        self.join_round += 1;
        self.join_attempt = 0;
        self.schedule(Duration::ZERO, Job::Join(self.join_round));
    }

    /// One join attempt: while alone, resolve the seeds and announce to them, then wait
    /// longer each time.
    pub(super) fn join_tick(&mut self) {
        if self.foca.num_members() > 0 {
            return;
        }
        // Quiet when the only seed is this host: others join through it, not the reverse.
        if self.join_attempt > 1 && self.seeds_announced > 0 {
            tracing::warn!(
                seeds = ?self.seeds,
                attempt = self.join_attempt,
                "no seed has answered yet; announcing again"
            );
        }
        let seeds = self.seeds.clone();
        let results = self.internal_tx.clone();
        // Resolution may wait on DNS: off the driver, which keeps answering probes.
        tokio::spawn(async move {
            let _ = results.send(Internal::Announce(seeds::resolve(&seeds).await));
        });
        let delay = seeds::backoff(self.join_attempt);
        self.join_attempt += 1;
        self.schedule(delay, Job::Join(self.join_round));
    }

    /// (Re)starts the multicast announcement schedule.
    pub(super) fn start_discovery(&mut self) {
        if self.multicast.is_none() {
            return;
        }
        self.discover_round += 1;
        self.schedule(ANNOUNCE_DELAYS[0], Job::Discover(self.discover_round));
        self.discover_step = 1;
    }

    /// One multicast announcement, and the next one scheduled.
    pub(super) async fn discover_tick(&mut self) {
        let Some(multicast) = &self.multicast else {
            return;
        };
        let announcement = Discovery {
            name: self.own_meta.name.clone(),
            gossip: self.foca.identity().addr,
        };
        let group = SocketAddr::V4(multicast.group);
        self.wire
            .send(
                &multicast.socket,
                group,
                KIND_DISCOVERY,
                &codec::encode(&announcement),
            )
            .await;
        if let Some(&delay) = ANNOUNCE_DELAYS.get(self.discover_step) {
            self.discover_step += 1;
            self.schedule(delay, Job::Discover(self.discover_round));
        }
    }
}
