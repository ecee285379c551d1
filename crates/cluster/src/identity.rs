//! Who a member is, as far as SWIM is concerned.

use std::fmt;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The SWIM identity of one running agent: its name, the address of its gossip socket and a
/// generation.
///
/// The generation starts at the wall-clock time of the agent's start (nanoseconds), so a
/// restarted agent supersedes the identity of its previous life, and grows by at least one on
/// every renewal (when the cluster declared this identity down and foca rejoins with a new
/// one). Foca keeps one identity per gossip address (`Identity::Addr`); the highest generation
/// wins a conflict.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeId {
    /// The host's name, unique in the cluster.
    pub name: String,
    /// Where the host's gossip socket is reached.
    pub addr: SocketAddr,
    /// Start time in nanoseconds since the Unix epoch, bumped on every renewal.
    pub generation: u64,
}

impl NodeId {
    /// A fresh identity for an agent starting now.
    pub fn new(name: impl Into<String>, addr: SocketAddr) -> Self {
        Self {
            name: name.into(),
            addr,
            generation: now_nanos(),
        }
    }

    /// A placeholder for a host known only by address (a seed, a multicast announcement).
    ///
    /// Foca accepts an `Announce` whose destination has the receiver's address, whatever the
    /// rest of the identity says, so this is enough to join through it. It is never added to
    /// the member list: the reply carries the real identity.
    pub fn placeholder(addr: SocketAddr) -> Self {
        Self {
            name: String::new(),
            addr,
            generation: 0,
        }
    }
}

impl fmt::Debug for NodeId {
    // Short form because foca's tracing prints identities a lot.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}#{}", self.name, self.addr, self.generation)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl foca::Identity for NodeId {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        // Time-based when the clock allows, so a renewed identity also orders after one
        // from a restart that happened in between.
        Some(Self {
            generation: now_nanos().max(self.generation.saturating_add(1)),
            ..self.clone()
        })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Identity;

    #[test]
    fn renewal_wins_over_the_old_identity() {
        let id = NodeId::new("a", "127.0.0.1:1".parse().unwrap());
        let renewed = id.renew().unwrap();
        assert_eq!(renewed.name, id.name);
        assert_eq!(renewed.addr(), id.addr());
        assert!(renewed.win_addr_conflict(&id));
        assert!(!id.win_addr_conflict(&renewed));
    }

    #[test]
    fn renewal_is_monotonic_even_from_the_future() {
        let mut id = NodeId::new("a", "127.0.0.1:1".parse().unwrap());
        id.generation = u64::MAX - 1;
        assert_eq!(id.renew().unwrap().generation, u64::MAX);
    }
}
