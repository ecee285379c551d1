//! Errors of this crate.

use std::io;
use std::net::SocketAddr;

/// Why the cluster could not start (or a value was rejected).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The gossip socket could not be bound.
    #[error("cannot bind the gossip socket on UDP {addr}: {source}; {hint}")]
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// The multicast discovery socket could not be set up.
    #[error("cannot set up multicast discovery on {group}: {source}; {hint}")]
    Multicast {
        /// The group and port.
        group: std::net::SocketAddrV4,
        /// What the OS said.
        #[source]
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// A cluster key that is not in the expected format.
    #[error("invalid cluster key: {0}")]
    InvalidKey(String),
    /// A configuration value that cannot work.
    #[error("invalid cluster configuration: {0}")]
    InvalidConfig(String),
    /// Host metadata too large to gossip.
    #[error(
        "host metadata is {len} bytes of JSON; the limit is {limit} (it travels in one UDP packet)"
    )]
    MetadataTooLarge {
        /// Its compact JSON size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The cluster has been left (or its tasks stopped).
    #[error("this host has left the cluster")]
    Stopped,
}

impl ClusterError {
    pub(crate) fn bind(addr: SocketAddr, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::AddrInUse => {
                "another process (maybe another agent) uses this port; stop it or choose another gossip port"
            }
            io::ErrorKind::AddrNotAvailable => {
                "this host has no such address; bind to 0.0.0.0 or one of its own addresses"
            }
            io::ErrorKind::PermissionDenied => {
                "ports below 1024 need privileges; choose a higher gossip port"
            }
            _ => "check the gossip bind address",
        };
        ClusterError::Bind { addr, source, hint }
    }
}
