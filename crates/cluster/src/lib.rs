//! Khutulun membership: SWIM gossip ([foca]) over UDP between agents.
//!
//! - Hosts join through seeds (retried with backoff while alone) and/or IPv4 multicast
//!   discovery.
//! - Every datagram is sealed with XChaCha20-Poly1305 under the cluster key; packets that do
//!   not authenticate are dropped and counted.
//! - Each host gossips opaque metadata (its API URL, labels, capacity); the newest version
//!   per host wins.
//! - A member is a host *name*. Its SWIM identity also carries a generation, so a restarted
//!   host, or one declared dead that comes back (e.g. after a partition heals), rejoins as a
//!   newer identity that supersedes the old one, without anyone restarting.
//! - `Dead` means failed probes; `Left` means a graceful [`Cluster::leave`] (announced with
//!   a leave notice gossiped along with the host's own "down").
//! - SWIM spreads changes; on joining (and every 30 s with `lan` timing) a host also swaps
//!   its whole membership table with one random member, so newcomers learn everyone at once.
//!
//! Datagrams (at most [`swim::MAX_DATAGRAM`] bytes) carry a foca packet, a metadata push,
//! a membership-table chunk or a multicast announcement.
//!
//! Everything runs in one tokio task per cluster handle; it sleeps until a packet, a command
//! or its next timer.

mod broadcast;
mod codec;
mod config;
mod crypto;
mod error;
mod identity;
mod key;
mod member;
mod multicast;
mod runtime;
mod seeds;
pub mod swim;
mod sync;
mod timers;
mod transport;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast as channel, mpsc, oneshot};
use tracing::Instrument;

pub use crate::config::{
    ClusterConfig, Timing, DEFAULT_GOSSIP_PORT, MAX_METADATA_LEN, MAX_NAME_LEN,
};
pub use crate::error::ClusterError;
pub use crate::identity::NodeId;
pub use crate::key::{generate_key, parse_key};
pub use crate::member::{Member, MemberState, MembershipEvent};
/// The foca version this crate drives (for simulations).
pub use foca;

use crate::member::Roster;
use crate::runtime::{Command, Driver, Setup};
use crate::transport::{Counters, Wire};

/// How many events a slow subscriber may fall behind before it sees `Lagged`.
const EVENT_BUFFER: usize = 1024;

/// Packet counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Datagrams received (gossip and multicast), before any check.
    pub packets_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Dropped: sealed with another key, or with/without a key when this host has none/one.
    pub dropped_bad_key: u64,
    /// Dropped: not Khutulun gossip, or undecodable after authentication.
    pub dropped_malformed: u64,
}

/// State shared by the handles and the driver task.
pub(crate) struct Shared {
    roster: Mutex<Roster>,
    counters: Arc<Counters>,
    events: channel::Sender<MembershipEvent>,
    #[cfg_attr(not(test), allow(dead_code))]
    local_addr: SocketAddr,
}

/// A running membership. Cheap to clone.
///
/// Dropping every handle stops gossip *without* leaving: others will declare this host
/// dead. Call [`Cluster::leave`] for a graceful exit.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Binds the sockets and starts gossiping (and joining through the seeds, and
    /// multicast discovery, when configured).
    ///
    /// Fails only for what cannot work: a socket that cannot be bound, an invalid
    /// configuration, metadata too large. Unreachable seeds are retried in the background.
    /// An `advertise` port of 0 means "the port actually bound".
    pub async fn start(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        config.validate()?;
        let metadata_json = config.metadata.to_string();
        if metadata_json.len() > MAX_METADATA_LEN {
            return Err(ClusterError::MetadataTooLarge {
                len: metadata_json.len(),
                limit: MAX_METADATA_LEN,
            });
        }
        let socket = transport::bind(config.bind).await?;
        let local_addr = socket
            .local_addr()
            .map_err(|err| ClusterError::bind(config.bind, err))?;
        let mut advertise = config.advertise;
        if advertise.port() == 0 {
            advertise.set_port(local_addr.port());
        }
        let multicast = config
            .multicast
            .map(|group| multicast::open(group, config.bind, advertise))
            .transpose()?;
        if config.key.is_none() {
            tracing::warn!(
                bind = %local_addr,
                "no cluster key: gossip is neither encrypted nor authenticated, and any host \
                 that reaches this port can join"
            );
        }

        let id = NodeId::new(config.name.clone(), advertise);
        let meta_order = (id.generation, 1);
        let counters = Arc::new(Counters::default());
        let (events, _) = channel::channel(EVENT_BUFFER);
        let shared = Arc::new(Shared {
            roster: Mutex::new(Roster::new(id.clone(), config.metadata.clone(), meta_order)),
            counters: counters.clone(),
            events,
            local_addr,
        });
        let (commands, command_rx) = mpsc::channel(16);
        tracing::info!(
            name = %config.name,
            bind = %local_addr,
            advertise = %advertise,
            seeds = ?config.seeds,
            timing = %config.timing,
            "gossip started"
        );
        let driver = Driver::new(Setup {
            id,
            timing: config.timing,
            seeds: config.seeds,
            socket,
            multicast,
            wire: Wire::new(config.key, counters),
            shared: shared.clone(),
            commands: command_rx,
            metadata_json,
        });
        let span = tracing::info_span!("gossip", host = %config.name);
        tokio::spawn(driver.run().instrument(span));
        Ok(Cluster { shared, commands })
    }

    /// Every member ever seen, this host included, sorted by name. Dead and left members
    /// stay listed.
    pub fn members(&self) -> Vec<Member> {
        self.shared.roster.lock().expect("roster lock").members()
    }

    /// One member by name.
    pub fn member(&self, name: &str) -> Option<Member> {
        self.shared.roster.lock().expect("roster lock").member(name)
    }

    /// Membership changes from now on (about other members, never this host).
    pub fn subscribe(&self) -> channel::Receiver<MembershipEvent> {
        self.shared.events.subscribe()
    }

    /// Replaces this host's metadata and gossips it. Too large metadata is refused and
    /// logged; see [`Cluster::try_set_metadata`] to get the error.
    pub async fn set_metadata(&self, metadata: serde_json::Value) {
        if let Err(err) = self.try_set_metadata(metadata).await {
            tracing::error!(%err, "host metadata not updated");
        }
    }

    /// Replaces this host's metadata and gossips it.
    pub async fn try_set_metadata(&self, metadata: serde_json::Value) -> Result<(), ClusterError> {
        let (done, result) = oneshot::channel();
        self.commands
            .send(Command::SetMetadata(metadata, done))
            .await
            .map_err(|_| ClusterError::Stopped)?;
        result.await.map_err(|_| ClusterError::Stopped)?
    }

    /// Leaves gracefully (others see `Left`, not `Dead`), then stops gossiping. Later calls
    /// do nothing.
    pub async fn leave(&self) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Leave(done)).await.is_ok() {
            let _ = finished.await;
        }
    }

    /// Packet counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            packets_in: c.packets_in.load(Ordering::Relaxed),
            packets_out: c.packets_out.load(Ordering::Relaxed),
            dropped_bad_key: c.dropped_bad_key.load(Ordering::Relaxed),
            dropped_malformed: c.dropped_malformed.load(Ordering::Relaxed),
        }
    }

    /// The address the gossip socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Test hook: drop every packet in and out, as if this host were cut off.
    #[cfg(test)]
    pub(crate) fn set_partitioned(&self, cut_off: bool) {
        self.shared
            .counters
            .cut_off
            .store(cut_off, Ordering::Relaxed);
    }
}
