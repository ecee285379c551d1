//! Datagrams in and out: sealing, counting, dropping what does not authenticate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::crypto::{OpenError, Sealer};
use crate::error::ClusterError;

/// Packet counters, shared with the `Cluster` handle.
#[derive(Default)]
pub(crate) struct Counters {
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub dropped_bad_key: AtomicU64,
    pub dropped_malformed: AtomicU64,
    /// Test hook: a "partitioned" host neither sends nor receives.
    pub cut_off: AtomicBool,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Seals outgoing and opens incoming datagrams, for the gossip and the multicast socket.
pub(crate) struct Wire {
    sealer: Sealer,
    out: Vec<u8>,
    counters: Arc<Counters>,
    last_key_warning: Option<Instant>,
}

const KEY_WARNING_EVERY: Duration = Duration::from_secs(30);

impl Wire {
    pub(crate) fn new(key: Option<[u8; 32]>, counters: Arc<Counters>) -> Self {
        Self {
            sealer: Sealer::new(key),
            out: Vec::new(),
            counters,
            last_key_warning: None,
        }
    }

    /// Seals and sends one datagram; failures are logged, never fatal (UDP is lossy anyway).
    pub(crate) async fn send(
        &mut self,
        socket: &UdpSocket,
        to: SocketAddr,
        kind: u8,
        payload: &[u8],
    ) {
        if self.counters.cut_off.load(Ordering::Relaxed) {
            return;
        }
        self.sealer.seal(kind, payload, &mut self.out);
        match socket.send_to(&self.out, to).await {
            Ok(_) => Counters::bump(&self.counters.packets_out),
            Err(err) => tracing::debug!(%to, %err, "cannot send a gossip packet"),
        }
    }

    /// Authenticates a received datagram; `None` (counted, logged) when it must be dropped.
    pub(crate) fn open<'a>(
        &mut self,
        datagram: &'a mut [u8],
        from: SocketAddr,
    ) -> Option<(u8, &'a [u8])> {
        if self.counters.cut_off.load(Ordering::Relaxed) {
            return None;
        }
        Counters::bump(&self.counters.packets_in);
        match self.sealer.open(datagram) {
            Ok(opened) => Some(opened),
            Err(OpenError::Malformed) => {
                Counters::bump(&self.counters.dropped_malformed);
                tracing::debug!(%from, "dropped a datagram that is not Khutulun gossip");
                None
            }
            Err(err) => {
                Counters::bump(&self.counters.dropped_bad_key);
                let why = match err {
                    OpenError::KeyPresenceMismatch {
                        packet_has_key: true,
                    } => "it is encrypted but this host has no cluster key",
                    OpenError::KeyPresenceMismatch {
                        packet_has_key: false,
                    } => "it is not encrypted but this host has a cluster key",
                    _ => "it does not authenticate with this host's cluster key",
                };
                tracing::debug!(%from, why, "dropped a gossip packet");
                let now = Instant::now();
                if self
                    .last_key_warning
                    .is_none_or(|last| now.duration_since(last) >= KEY_WARNING_EVERY)
                {
                    self.last_key_warning = Some(now);
                    let dropped = self.counters.dropped_bad_key.load(Ordering::Relaxed);
                    tracing::warn!(
                        %from,
                        dropped,
                        "dropping gossip packets because {why}; every host of a cluster needs the same key"
                    );
                }
                None
            }
        }
    }

    pub(crate) fn count_malformed(&self) {
        Counters::bump(&self.counters.dropped_malformed);
    }
}

/// Binds the gossip socket, with an error that says what to do.
pub(crate) async fn bind(addr: SocketAddr) -> Result<UdpSocket, ClusterError> {
    UdpSocket::bind(addr)
        .await
        .map_err(|err| ClusterError::bind(addr, err))
}
