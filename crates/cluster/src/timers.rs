//! The driver's timer queue: foca's timers and our own jobs, earliest first.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use foca::Timer;
use tokio::time::Instant;

use crate::identity::NodeId;

/// Something to do at a given time.
pub(crate) enum Job {
    Foca(Timer<NodeId>),
    // The u64 is the round that scheduled it: a restarted round cancels the old one.
    Join(u64),
    Discover(u64),
    Housekeeping,
    Sync,
    // The table exchanges that follow a join.
    SyncAfterJoin(u64),
}

struct Scheduled {
    at: Instant,
    seq: u64,
    job: Job,
}

// Earliest first in a max-heap; ties in scheduling order.
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Scheduled {}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Scheduled>,
    seq: u64,
}

impl Timers {
    pub(crate) fn schedule(&mut self, after: Duration, job: Job) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at: Instant::now() + after,
            seq: self.seq,
            job,
        });
    }

    /// When the driver must wake up next, if ever.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|s| s.at)
    }

    /// The next job due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Job> {
        if self.heap.peek()?.at <= now {
            self.heap.pop().map(|s| s.job)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_in_order() {
        let mut timers = Timers::default();
        for (round, ms) in [(1, 30), (2, 10), (3, 20), (4, 10)] {
            timers.schedule(Duration::from_millis(ms), Job::Join(round));
        }
        assert!(timers.pop_due(Instant::now()).is_none());
        let later = Instant::now() + Duration::from_millis(25);
        let mut order = Vec::new();
        while let Some(Job::Join(round)) = timers.pop_due(later) {
            order.push(round);
        }
        assert_eq!(order, [2, 4, 3]);
        assert!(timers.next_deadline().is_some());
    }
}
