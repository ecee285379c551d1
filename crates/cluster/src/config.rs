//! What a caller configures.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ClusterError;

/// The default gossip port (UDP).
pub const DEFAULT_GOSSIP_PORT: u16 = 8183;

/// Longest accepted host name, in bytes (the name travels in every gossip packet).
pub const MAX_NAME_LEN: usize = 64;

/// Largest accepted host metadata, in bytes of compact JSON (it travels in one packet).
pub const MAX_METADATA_LEN: usize = 900;

/// How this host takes part in the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// This host's name, unique in the cluster.
    pub name: String,
    /// UDP gossip socket to bind (the agent's default is `0.0.0.0:8183`).
    pub bind: SocketAddr,
    /// The address other hosts use to reach this host's gossip socket. Port 0 means the
    /// port actually bound (handy with `bind` on port 0).
    pub advertise: SocketAddr,
    /// `host:port` of hosts to join through. Resolved when used; unreachable seeds are
    /// retried with backoff and never make `start` fail.
    pub seeds: Vec<String>,
    /// Multicast discovery group and port (e.g. `239.255.83.83:8184`); `None` turns it off.
    pub multicast: Option<SocketAddrV4>,
    /// The cluster key. `None` sends unencrypted (still framed and checked) packets.
    pub key: Option<[u8; 32]>,
    /// Opaque host metadata (API URL, labels, capacity) gossiped to every member.
    pub metadata: serde_json::Value,
    /// Probe and suspicion timing.
    pub timing: Timing,
}

impl ClusterConfig {
    /// A configuration with no seeds, no multicast, no key, `null` metadata and LAN timing.
    pub fn new(name: impl Into<String>, bind: SocketAddr, advertise: SocketAddr) -> Self {
        Self {
            name: name.into(),
            bind,
            advertise,
            seeds: Vec::new(),
            multicast: None,
            key: None,
            metadata: serde_json::Value::Null,
            timing: Timing::Lan,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ClusterError> {
        let invalid = |message: String| Err(ClusterError::InvalidConfig(message));
        if self.name.is_empty() {
            return invalid("the host name is empty".into());
        }
        if self.name.len() > MAX_NAME_LEN {
            return invalid(format!(
                "the host name {:?} is {} bytes long; the limit is {MAX_NAME_LEN}",
                self.name,
                self.name.len()
            ));
        }
        if self.advertise.ip().is_unspecified() {
            return invalid(format!(
                "the advertised gossip address {} is not one other hosts can reach; \
                 give the host's own IP address and port",
                self.advertise
            ));
        }
        Ok(())
    }
}

/// Probe and suspicion timing profile (see [`crate::swim::config`]).
///
/// | profile | probe period | direct-ack timeout | suspect → dead | gossip | dead declared (small cluster, simulated) |
/// |---|---|---|---|---|---|
/// | `lan` | 800 ms | 250 ms | 1.2 s | every 200 ms to 3 | ~3 s median, ≤ ~4.5 s |
/// | `fast` | 400 ms | 150 ms | 700 ms | every 100 ms to 3 | ~1.5 s median, ≤ ~3 s |
///
/// From 10 members up, suspicion grows with log10 of the cluster size, as in memberlist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// The default: a failed host is declared dead in about 3 s in a small cluster.
    #[default]
    Lan,
    /// Quicker failover on a quiet network, and tests: dead in about 1.5 s.
    Fast,
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timing::Lan => "lan",
            Timing::Fast => "fast",
        })
    }
}

impl FromStr for Timing {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "lan" => Ok(Timing::Lan),
            "fast" => Ok(Timing::Fast),
            other => Err(ClusterError::InvalidConfig(format!(
                "unknown gossip timing profile {other:?}; expected \"lan\" or \"fast\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_parses_and_prints() {
        assert_eq!("fast".parse::<Timing>().unwrap(), Timing::Fast);
        assert_eq!(" LAN ".parse::<Timing>().unwrap(), Timing::Lan);
        assert!("wan".parse::<Timing>().is_err());
        assert_eq!(Timing::Fast.to_string(), "fast");
        assert_eq!(serde_json::to_string(&Timing::Lan).unwrap(), "\"lan\"");
    }

    #[test]
    fn rejects_unreachable_advertise_and_bad_names() {
        let bind = "0.0.0.0:8183".parse().unwrap();
        let ok = ClusterConfig::new("a", bind, "10.0.0.1:8183".parse().unwrap());
        assert!(ok.validate().is_ok());
        let unspecified = ClusterConfig::new("a", bind, bind);
        assert!(unspecified.validate().is_err());
        let empty = ClusterConfig::new("", bind, "10.0.0.1:8183".parse().unwrap());
        assert!(empty.validate().is_err());
        let long = ClusterConfig::new("x".repeat(65), bind, "10.0.0.1:8183".parse().unwrap());
        assert!(long.validate().is_err());
    }
}
