//! Foca configuration: the timing profiles and how they scale with cluster size.
//!
//! Public so that simulations (`examples/membership-sim.rs`) run exactly what the agent runs.

use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

use foca::{Config, PeriodicParams};

use crate::config::Timing;
use crate::crypto;

pub use crate::seeds::backoff as join_backoff;
pub use crate::sync::{decode_sync, news, sync_chunks, SyncChunk};

/// Largest UDP payload we send. Below a 1400-byte MTU (this sandbox's) so gossip never
/// fragments.
pub const MAX_DATAGRAM: usize = 1350;

/// Largest foca packet: what is left of a datagram after sealing.
pub const MAX_FOCA_PACKET: usize = MAX_DATAGRAM - crypto::OVERHEAD;

struct Profile {
    probe_period: Duration,
    probe_rtt: Duration,
    suspect_to_down: Duration,
    gossip_every: Duration,
    announce_every: Duration,
    announce_down_every: Duration,
}

fn profile(timing: Timing) -> Profile {
    match timing {
        Timing::Lan => Profile {
            probe_period: Duration::from_millis(800),
            probe_rtt: Duration::from_millis(250),
            suspect_to_down: Duration::from_millis(1200),
            gossip_every: Duration::from_millis(200),
            announce_every: Duration::from_secs(10),
            announce_down_every: Duration::from_secs(5),
        },
        Timing::Fast => Profile {
            probe_period: Duration::from_millis(400),
            probe_rtt: Duration::from_millis(150),
            suspect_to_down: Duration::from_millis(700),
            gossip_every: Duration::from_millis(100),
            announce_every: Duration::from_secs(2),
            announce_down_every: Duration::from_secs(1),
        },
    }
}

/// How often this host probes a member (also the housekeeping period).
pub fn probe_period(timing: Timing) -> Duration {
    profile(timing).probe_period
}

/// How often a host exchanges its whole membership table with one random member
/// (besides right after joining).
pub fn sync_period(timing: Timing) -> Duration {
    match timing {
        Timing::Lan => Duration::from_secs(30),
        Timing::Fast => Duration::from_secs(5),
    }
}

/// When a host that just joined exchanges tables again (after the exchange right at
/// joining): hosts that joined at about the same time learn of each other here rather than
/// at the next periodic exchange.
pub fn sync_after_join(timing: Timing) -> [Duration; 2] {
    match timing {
        Timing::Lan => [Duration::from_secs(2), Duration::from_secs(8)],
        Timing::Fast => [Duration::from_secs(1), Duration::from_secs(3)],
    }
}

/// The foca configuration for `timing` in a cluster of about `cluster_size` members.
///
/// Like memberlist, suspicion lasts longer (× log10 n from 10 members up) and updates are
/// retransmitted more often (5 × log10(n + 1), at least 10 times) in big clusters. Extensions on: periodic gossip (fast dissemination), periodic announce (full
/// roster), announce to down members plus telling down members they are down (a partition
/// that heals converges back by itself, with renewed identities).
pub fn config(timing: Timing, cluster_size: usize) -> Config {
    let p = profile(timing);
    let n = cluster_size.max(1) as f64;
    let scale = n.log10().max(1.0);
    // A member misses an update only if none of the ~n × max_tx sends reach it: ≈ e^-max_tx.
    // memberlist uses 4 × log10(n + 1); a little more makes 10-second stragglers (seen in
    // the simulation) rare, for a few bytes.
    let max_tx = (5.0 * (n + 1.0).log10()).ceil().clamp(10.0, 255.0) as u8;
    Config {
        probe_period: p.probe_period,
        probe_rtt: p.probe_rtt,
        num_indirect_probes: NonZeroUsize::new(3).expect("non-zero"),
        max_transmissions: NonZeroU8::new(max_tx).expect("at least 10"),
        suspect_to_down_after: p.suspect_to_down.mul_f64(scale),
        remove_down_after: Some(Duration::from_secs(24 * 3600)),
        max_packet_size: NonZeroUsize::new(MAX_FOCA_PACKET).expect("non-zero"),
        notify_down_members: true,
        periodic_announce: Some(periodic(p.announce_every, 1)),
        periodic_announce_to_down_members: Some(periodic(p.announce_down_every, 2)),
        periodic_gossip: Some(periodic(p.gossip_every, 3)),
    }
}

fn periodic(frequency: Duration, num_members: usize) -> PeriodicParams {
    PeriodicParams {
        frequency,
        num_members: NonZeroUsize::new(num_members).expect("non-zero"),
    }
}

/// Follows the cluster size in powers of two and says when the configuration should change.
#[derive(Debug, Clone)]
pub struct Tuner {
    timing: Timing,
    bucket: usize,
}

impl Tuner {
    /// Starts at the smallest bucket.
    pub fn new(timing: Timing) -> Self {
        Self { timing, bucket: 8 }
    }

    /// The configuration to start with.
    pub fn initial(&self) -> Config {
        config(self.timing, self.bucket)
    }

    /// A new configuration if `members` moved the cluster to another size bucket.
    pub fn retune(&mut self, members: usize) -> Option<Config> {
        let bucket = (members + 1).next_power_of_two().max(8);
        (bucket != self.bucket).then(|| {
            self.bucket = bucket;
            config(self.timing, bucket)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_clusters_use_the_profile_as_is() {
        let lan = config(Timing::Lan, 8);
        assert_eq!(lan.probe_period, Duration::from_millis(800));
        assert_eq!(lan.suspect_to_down_after, Duration::from_millis(1200));
        assert_eq!(lan.max_transmissions.get(), 10);
        assert!(lan.probe_rtt * 3 <= lan.probe_period);
        let fast = config(Timing::Fast, 3);
        assert_eq!(fast.suspect_to_down_after, Duration::from_millis(700));
        assert!(fast.probe_rtt * 2 < fast.probe_period);
    }

    #[test]
    fn big_clusters_suspect_longer_and_retransmit_more() {
        let big = config(Timing::Lan, 1000);
        assert_eq!(big.suspect_to_down_after, Duration::from_millis(3600));
        assert_eq!(big.max_transmissions.get(), 16);
    }

    #[test]
    fn tuner_moves_by_powers_of_two() {
        let mut t = Tuner::new(Timing::Lan);
        assert!(t.retune(3).is_none());
        assert!(t.retune(7).is_none());
        assert!(t.retune(8).is_some());
        assert!(t.retune(9).is_none());
        assert!(t.retune(2).is_some());
    }
}
