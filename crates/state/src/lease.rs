//! Host leases: what an agent may do, and what another agent may conclude, given a host's
//! lease record, the clock and the epoch. Pure: no IO, no clock reads; callers pass the
//! times in.
//!
//! A lock on a shared filesystem says little: "held" does not prove the holder alive (an NFS
//! server keeps a crashed client's locks for its own lease), and "free" does not prove it
//! gone (the server frees a cut-off client's locks without telling it). So each agent also
//! renews `hosts/<host>/lease.json` and fences itself:
//!
//! - The holder renews every [`LeaseTiming::renew_every`]. If no renewal has succeeded for
//!   [`LeaseTiming::self_fence_after`] (three quarters of the period, counted from the start
//!   of the last renewal that succeeded, on its own monotonic clock), it stops its workloads,
//!   killing what is left after [`LeaseTiming::stop_budget`] (the last quarter): when the
//!   period ends, nothing of it runs.
//! - Another agent watches the record. Once it has seen the same `(epoch, renewals)` for
//!   [`LeaseTiming::expired_after`] (the period plus a margin for clock rates), on its own
//!   monotonic clock, the holder has surely stopped: it may fence the host (write a new
//!   epoch) and move its instances. No wall clocks are compared for this.
//! - The fast path: the host's `alive.lock` is free and the lease was renewed so recently
//!   (by the wall clocks, less the skew margin) that the lock cannot have been freed by a
//!   server expiring a cut-off client: the agent process ended. On a local filesystem a free
//!   lock always means that.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `hosts/<host>/lease.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub host: String,
    /// Grows by one each time an agent takes the host and each time another agent fences
    /// it. An agent acts for the host only under the epoch it took.
    pub epoch: u64,
    /// Grows with every renewal within the epoch: what watchers compare.
    pub renewals: u64,
    pub renewed_at: DateTime<Utc>,
    /// The holder's lease period, in milliseconds.
    pub period_ms: u64,
    /// `"state": "held"`, or `"state": "fenced"` with `by` and `at`.
    #[serde(flatten)]
    pub state: LeaseState,
    /// The pid of the agent that holds it.
    #[serde(default)]
    pub agent_pid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum LeaseState {
    /// An agent serves the host.
    #[default]
    Held,
    /// Another agent fenced the host: whatever ran there is moved or being moved.
    Fenced { by: String, at: DateTime<Utc> },
}

/// The timings, all derived from the lease period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    pub period: Duration,
    /// How far two hosts' clocks (rates and wall time) may disagree.
    pub skew: Duration,
    /// The shortest time after which the filesystem may free a lock of a client that is cut
    /// off but alive (the NFS server's lease); `None` when a free lock always means its
    /// holder's process ended (a local filesystem).
    pub lock_expiry_floor: Option<Duration>,
}

/// The shortest lease an NFS server may grant (Linux's nfsd refuses less than 10 s).
pub const NFS_MIN_SERVER_LEASE: Duration = Duration::from_secs(10);
/// The lease period when none is given.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(30);
/// The clock margin when none is given.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(2);

impl LeaseTiming {
    /// How often the holder renews: a quarter of the period, at most every 5 s, so that the
    /// fast path (which needs a recent renewal) works for long periods too.
    pub fn renew_every(&self) -> Duration {
        (self.period / 4).min(Duration::from_secs(5))
    }

    /// How long the holder goes on without a successful renewal before it stops its
    /// workloads: early enough that they are gone when the period ends.
    pub fn self_fence_after(&self) -> Duration {
        self.period - self.stop_budget()
    }

    /// How long stopping the workloads may take when fencing: they are killed at its end.
    pub fn stop_budget(&self) -> Duration {
        self.period / 4
    }

    /// How long a watcher must see the same renewal before the lease has surely expired.
    pub fn expired_after(&self) -> Duration {
        self.period + self.skew
    }

    /// A renewal taking longer than this means the shared state stalls.
    pub fn stalled_after(&self) -> Duration {
        (self.period / 8).max(Duration::from_secs(1))
    }

    /// The renewal age (by wall clocks) below which a free lock proves the holder's process
    /// ended; `None`: a free lock always proves it.
    fn fast_path_window(&self) -> Option<Duration> {
        self.lock_expiry_floor
            .map(|floor| floor.saturating_sub(self.skew))
    }
}

/// The holder's side: must it fence itself now?
pub fn must_self_fence(since_last_renewal: Duration, timing: &LeaseTiming) -> bool {
    since_last_renewal >= timing.self_fence_after()
}

/// What the holder learns when it reads the record before renewing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// The record is this agent's epoch: renew it.
    Ours,
    /// Another agent fenced the host (or took it under a newer epoch): this agent's
    /// instances may run elsewhere now. It must stop them and take the host again.
    Lost { epoch: u64, by: Option<String> },
}

pub fn ownership(record: Option<&LeaseRecord>, my_epoch: u64) -> Ownership {
    match record {
        Some(r) if r.epoch == my_epoch && r.state == LeaseState::Held => Ownership::Ours,
        Some(r) => Ownership::Lost {
            epoch: r.epoch,
            by: match &r.state {
                LeaseState::Fenced { by, .. } => Some(by.clone()),
                LeaseState::Held => None,
            },
        },
        // The record vanished: someone removed the host's directory. Not ours any more.
        None => Ownership::Lost { epoch: 0, by: None },
    }
}

/// The epoch an agent takes the host under: one more than any it ever had.
pub fn next_epoch(record: Option<&LeaseRecord>) -> u64 {
    record.map_or(1, |r| r.epoch + 1)
}

/// A watcher's view of a host it wants to fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// The host's alive.lock could be taken just now.
    pub lock_free: bool,
    /// Something still holds the host's workloads.lock: its agent, or processes the agent
    /// started (they inherit the agent's shared lock), or a crashed client whose locks the
    /// NFS server keeps for its lease.
    pub workloads_held: bool,
    /// How long this watcher has seen the same `(epoch, renewals)`, on its monotonic clock.
    pub unchanged_for: Duration,
    /// Whether the renewal changed since this watcher started watching.
    pub renewed_while_watched: bool,
    /// The watcher's wall clock minus the record's `renewed_at` (zero if negative).
    pub renewal_age: Duration,
}

/// What a watcher may conclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fence the host now: its agent is surely gone or has surely stopped its workloads.
    Fence(FenceReason),
    /// Not yet: the lease may still be held for up to `remaining` (or, with
    /// `workloads_held`, the host's workloads run without their agent: until they end or
    /// an agent comes back).
    Wait { remaining: Duration, renewing: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceReason {
    /// The lock is free and the lease fresh: the agent's process ended.
    AgentExited,
    /// Nobody renewed the lease for longer than its period plus the margin.
    LeaseExpired,
    /// Another agent fenced it before and did not finish (its lock is free again).
    AlreadyFenced,
    /// There is no lease record (an agent from before leases) and the lock is free.
    NoLease,
}

impl FenceReason {
    pub fn describe(self) -> &'static str {
        match self {
            FenceReason::AgentExited => "its agent's process ended (its lock was released)",
            FenceReason::LeaseExpired => "its lease expired without renewal",
            FenceReason::AlreadyFenced => "it was fenced before and that failover did not finish",
            FenceReason::NoLease => "it has no lease and its lock is free",
        }
    }
}

/// The watcher's rule. `record` is the host's lease as read now. Nothing is fenced while
/// the host's workloads lock is held: whatever holds it may run the instances (an agent
/// killed alone leaves its workloads running, and they hold the lock).
pub fn judge(record: Option<&LeaseRecord>, watch: Watch, timing: &LeaseTiming) -> Verdict {
    let verdict = judge_lease(record, watch, timing);
    match verdict {
        Verdict::Fence(_) if watch.workloads_held => Verdict::Wait {
            remaining: timing.period,
            renewing: watch.renewed_while_watched,
        },
        verdict => verdict,
    }
}

fn judge_lease(record: Option<&LeaseRecord>, watch: Watch, timing: &LeaseTiming) -> Verdict {
    let Some(record) = record else {
        return if watch.lock_free {
            Verdict::Fence(FenceReason::NoLease)
        } else {
            Verdict::Wait {
                remaining: timing.expired_after(),
                renewing: false,
            }
        };
    };
    if matches!(record.state, LeaseState::Fenced { .. }) && watch.lock_free {
        return Verdict::Fence(FenceReason::AlreadyFenced);
    }
    // The holder's own period decides how long it may go unrenewed, if longer than ours.
    let expired_after = timing
        .expired_after()
        .max(Duration::from_millis(record.period_ms) + timing.skew);
    if watch.unchanged_for >= expired_after {
        return Verdict::Fence(FenceReason::LeaseExpired);
    }
    if watch.lock_free && !watch.renewed_while_watched {
        let fresh = match timing.fast_path_window() {
            None => true,
            Some(window) => watch.renewal_age < window,
        };
        if fresh {
            return Verdict::Fence(FenceReason::AgentExited);
        }
    }
    Verdict::Wait {
        remaining: expired_after - watch.unchanged_for,
        renewing: watch.renewed_while_watched,
    }
}

/// The epoch of a new placement of an instance (deploy, failover, drain): larger than any
/// it had, and at least the placing agent's clock in milliseconds, so that a placement made
/// after a record was deleted and written again still grows.
pub fn placement_epoch(previous: Option<u64>, now_millis: u64) -> u64 {
    previous.map_or(0, |p| p + 1).max(now_millis)
}

/// Whether a copy of an instance this host runs (started under `running_epoch`) is the
/// instance the state describes now: the record names this host and the same epoch. A copy
/// that is not is stale: it is stopped before anything else is done for the instance.
pub fn copy_is_current(record: Option<(&str, u64)>, this_host: &str, running_epoch: u64) -> bool {
    matches!(record, Some((host, epoch)) if host == this_host && epoch == running_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn timing(lock_floor: Option<u64>) -> LeaseTiming {
        LeaseTiming {
            period: S(20),
            skew: S(2),
            lock_expiry_floor: lock_floor.map(S),
        }
    }

    fn record(epoch: u64) -> LeaseRecord {
        LeaseRecord {
            host: "h1".into(),
            epoch,
            renewals: 7,
            renewed_at: Utc::now(),
            period_ms: 20_000,
            state: LeaseState::Held,
            agent_pid: 42,
        }
    }

    fn watch(lock_free: bool, unchanged: u64, renewal_age: u64) -> Watch {
        Watch {
            lock_free,
            workloads_held: false,
            unchanged_for: S(unchanged),
            renewed_while_watched: false,
            renewal_age: S(renewal_age),
        }
    }

    #[test]
    fn the_holder_stops_its_workloads_before_anyone_may_take_over() {
        let t = timing(Some(10));
        assert!(!must_self_fence(S(14), &t));
        assert!(must_self_fence(S(15), &t));
        // Stopped by self_fence_after + stop_budget (the period), before a watcher concludes.
        assert_eq!(t.self_fence_after() + t.stop_budget(), t.period);
        assert!(t.period < t.expired_after());
        assert_eq!(t.renew_every(), S(5));
        assert!(t.renew_every() < t.self_fence_after());
    }

    #[test]
    fn a_lease_renewed_recently_with_its_lock_held_is_waited_for() {
        let t = timing(Some(10));
        let v = judge(Some(&record(3)), watch(false, 4, 1), &t);
        assert_eq!(
            v,
            Verdict::Wait {
                remaining: S(18),
                renewing: false
            }
        );
    }

    #[test]
    fn a_lease_unrenewed_for_period_plus_skew_expires_even_with_its_lock_held() {
        // A crashed NFS client: the server keeps its lock, nobody renews.
        let t = timing(Some(10));
        assert_eq!(
            judge(Some(&record(3)), watch(false, 22, 30), &t),
            Verdict::Fence(FenceReason::LeaseExpired)
        );
        assert!(matches!(
            judge(Some(&record(3)), watch(false, 21, 30), &t),
            Verdict::Wait { .. }
        ));
    }

    #[test]
    fn a_free_lock_with_a_fresh_lease_means_the_agent_process_ended() {
        let t = timing(Some(10));
        assert_eq!(
            judge(Some(&record(3)), watch(true, 0, 3), &t),
            Verdict::Fence(FenceReason::AgentExited)
        );
    }

    #[test]
    fn a_free_lock_with_an_old_lease_may_be_a_server_expiring_a_cut_off_client() {
        // Renewed 9 s ago by its clock; the server may free locks after 10 s, less 2 s of
        // skew: the agent may be alive and cut off, so wait for the lease.
        let t = timing(Some(10));
        assert_eq!(
            judge(Some(&record(3)), watch(true, 1, 9), &t),
            Verdict::Wait {
                remaining: S(21),
                renewing: false
            }
        );
        // On a local filesystem, a free lock always means the process ended.
        assert_eq!(
            judge(Some(&record(3)), watch(true, 1, 9), &timing(None)),
            Verdict::Fence(FenceReason::AgentExited)
        );
    }

    #[test]
    fn a_lease_renewed_while_watched_is_alive_whatever_the_lock_says() {
        let t = timing(None);
        let mut w = watch(true, 1, 0);
        w.renewed_while_watched = true;
        assert_eq!(
            judge(Some(&record(3)), w, &t),
            Verdict::Wait {
                remaining: S(21),
                renewing: true
            }
        );
    }

    #[test]
    fn workloads_that_outlived_their_agent_are_never_fenced() {
        // The agent was killed alone: its lock is free, but its processes still hold the
        // workloads lock. Neither the fast path nor an expired lease may move them.
        let t = timing(None);
        let mut w = watch(true, 0, 1);
        w.workloads_held = true;
        assert!(matches!(
            judge(Some(&record(3)), w, &t),
            Verdict::Wait { .. }
        ));
        let mut w = watch(true, 600, 600);
        w.workloads_held = true;
        assert!(matches!(
            judge(Some(&record(3)), w, &t),
            Verdict::Wait { .. }
        ));
        // Once they end, the host is fenced.
        w.workloads_held = false;
        assert_eq!(
            judge(Some(&record(3)), w, &t),
            Verdict::Fence(FenceReason::LeaseExpired)
        );
    }

    #[test]
    fn the_holders_longer_period_is_respected() {
        let t = timing(Some(10));
        let mut r = record(3);
        r.period_ms = 60_000;
        assert!(matches!(
            judge(Some(&r), watch(false, 30, 40), &t),
            Verdict::Wait { .. }
        ));
        assert_eq!(
            judge(Some(&r), watch(false, 62, 70), &t),
            Verdict::Fence(FenceReason::LeaseExpired)
        );
    }

    #[test]
    fn an_unfinished_fence_with_a_free_lock_may_be_taken_over() {
        let mut r = record(4);
        r.state = LeaseState::Fenced {
            by: "h2".into(),
            at: Utc::now(),
        };
        assert_eq!(
            judge(Some(&r), watch(true, 0, 100), &timing(Some(10))),
            Verdict::Fence(FenceReason::AlreadyFenced)
        );
        assert!(matches!(
            judge(Some(&r), watch(false, 0, 100), &timing(Some(10))),
            Verdict::Wait { .. }
        ));
    }

    #[test]
    fn no_lease_record_falls_back_to_the_lock() {
        let t = timing(Some(10));
        assert_eq!(
            judge(None, watch(true, 0, 0), &t),
            Verdict::Fence(FenceReason::NoLease)
        );
        assert!(matches!(
            judge(None, watch(false, 0, 0), &t),
            Verdict::Wait { .. }
        ));
    }

    #[test]
    fn the_record_reads_plainly() {
        let mut r = record(4);
        let held = serde_json::to_value(&r).unwrap();
        assert_eq!(held["state"], "held");
        r.state = LeaseState::Fenced {
            by: "h2".into(),
            at: Utc::now(),
        };
        let fenced = serde_json::to_value(&r).unwrap();
        assert_eq!(fenced["state"], "fenced");
        assert_eq!(fenced["by"], "h2");
        let back: LeaseRecord = serde_json::from_value(fenced).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn placements_only_grow() {
        assert_eq!(placement_epoch(None, 1_000), 1_000);
        assert_eq!(placement_epoch(Some(5_000), 1_000), 5_001);
        assert_eq!(placement_epoch(Some(5_000), 9_000), 9_000);
    }

    #[test]
    fn a_copy_is_current_only_under_the_recorded_host_and_epoch() {
        assert!(copy_is_current(Some(("h1", 7)), "h1", 7));
        // Moved away, moved back (a newer epoch), or gone: stale.
        assert!(!copy_is_current(Some(("h2", 7)), "h1", 7));
        assert!(!copy_is_current(Some(("h1", 8)), "h1", 7));
        assert!(!copy_is_current(None, "h1", 7));
    }

    #[test]
    fn ownership_is_lost_to_a_newer_epoch_or_a_fence() {
        assert_eq!(ownership(Some(&record(3)), 3), Ownership::Ours);
        assert_eq!(
            ownership(Some(&record(4)), 3),
            Ownership::Lost { epoch: 4, by: None }
        );
        let mut fenced = record(4);
        fenced.state = LeaseState::Fenced {
            by: "h2".into(),
            at: Utc::now(),
        };
        assert_eq!(
            ownership(Some(&fenced), 3),
            Ownership::Lost {
                epoch: 4,
                by: Some("h2".into())
            }
        );
        assert_eq!(ownership(None, 3), Ownership::Lost { epoch: 0, by: None });
        assert_eq!(next_epoch(Some(&record(4))), 5);
        assert_eq!(next_epoch(None), 1);
    }
}
