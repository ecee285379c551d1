//! Picks the best host for one unit.
//!
//! Score, lowest wins: preferred-separation violations, instances of the unit's nodes on
//! the host, instances in total, committed fraction, name. Only hosts that already hold
//! instances of the unit's nodes or separation sets can score above zero on the first two,
//! and those are few; every other host is ranked by the `Load` spread order, so the best of
//! them is the first feasible one in that order. This keeps a unit's cost near
//! O(log hosts + hosts it touches) instead of O(hosts).

use crate::hostset::HostSet;
use crate::load::{Frac, Load};
use crate::model::Resources;
use crate::plan::UnitPlan;

/// Units allowed on at most this many hosts are scored host by host.
pub(crate) const SCAN_LIMIT: u32 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Score {
    pub violations: u64,
    pub same_node: u32,
    pub total: u32,
    pub load: Frac,
    pub host: u32,
}

/// Per-host scratch for the hosts a unit touches, reset lazily by epoch.
pub(crate) struct Chooser {
    scan_limit: u32,
    epoch: Vec<u32>,
    current: u32,
    same_node: Vec<u32>,
    violations: Vec<u64>,
    blocked: Vec<bool>,
    touched: Vec<u32>,
    /// Hosts the walk found too full for any unit still to place; see `choose`.
    pub retired: Vec<u32>,
}

impl Chooser {
    pub fn new(hosts: usize, scan_limit: u32) -> Self {
        Chooser {
            scan_limit,
            epoch: vec![0; hosts],
            current: 0,
            same_node: vec![0; hosts],
            violations: vec![0; hosts],
            blocked: vec![false; hosts],
            touched: Vec::new(),
            retired: Vec::new(),
        }
    }

    /// The best feasible host, or None when none is. `floor` is the least that every unit
    /// still to place (this one included) needs of each resource: hosts the walk passes
    /// that cannot fit it are put in `retired`, for the caller to drop from the spread
    /// order, so full hosts are not skipped over again and again.
    pub fn choose(
        &mut self,
        plan: &UnitPlan,
        eligible: &HostSet,
        load: &Load,
        floor: Resources,
    ) -> Option<Score> {
        self.retired.clear();
        self.mark(plan, load);
        if let Some(pin) = &plan.pin {
            return self.score(pin.host, plan, eligible, load);
        }
        if plan.eligible_count <= self.scan_limit {
            return eligible
                .iter()
                .filter_map(|h| self.score(h, plan, eligible, load))
                .min();
        }
        let best_touched = self
            .touched
            .iter()
            .filter_map(|&h| self.score(h, plan, eligible, load))
            .min();
        for &(total, fraction, host) in load.ordered() {
            if let Some(best) = best_touched {
                // Untouched hosts score (0, 0, spread key): nothing later in the order
                // can beat a touched host that scores zero on both.
                if best.violations == 0
                    && best.same_node == 0
                    && (total, fraction, host) >= (best.total, best.load, best.host)
                {
                    break;
                }
            }
            if self.is_touched(host) || !eligible.contains(host) {
                continue;
            }
            if !load.fits(host, plan.resources) {
                if !load.fits(host, floor) {
                    self.retired.push(host);
                }
                continue;
            }
            let here = Score {
                violations: 0,
                same_node: 0,
                total,
                load: fraction,
                host,
            };
            return Some(best_touched.map_or(here, |best| best.min(here)));
        }
        best_touched
    }

    fn score(&self, host: u32, plan: &UnitPlan, eligible: &HostSet, load: &Load) -> Option<Score> {
        let touched = self.is_touched(host);
        if (touched && self.blocked[host as usize])
            || !eligible.contains(host)
            || !load.fits(host, plan.resources)
        {
            return None;
        }
        let (violations, same_node) = if touched {
            (
                self.violations[host as usize],
                self.same_node[host as usize],
            )
        } else {
            (0, 0)
        };
        Some(Score {
            violations,
            same_node,
            total: load.total(host),
            load: load.fraction(host),
            host,
        })
    }

    fn is_touched(&self, host: u32) -> bool {
        self.epoch[host as usize] == self.current
    }

    /// Fills the scratch for hosts holding instances of the unit's nodes or separation sets.
    fn mark(&mut self, plan: &UnitPlan, load: &Load) {
        self.current = self.current.wrapping_add(1);
        if self.current == 0 {
            self.epoch.fill(0);
            self.current = 1;
        }
        self.touched.clear();
        for &node in &plan.nodes {
            for (&host, &n) in &load.per_node[node as usize] {
                self.touch(host);
                self.same_node[host as usize] += n;
            }
        }
        for sep in &plan.separation {
            for (&host, &n) in &load.occupancy[sep.policy as usize] {
                self.touch(host);
                if sep.strict {
                    self.blocked[host as usize] = true;
                } else {
                    self.violations[host as usize] += n as u64 * sep.count as u64;
                }
            }
        }
    }

    fn touch(&mut self, host: u32) {
        let h = host as usize;
        if self.epoch[h] != self.current {
            self.epoch[h] = self.current;
            self.same_node[h] = 0;
            self.violations[h] = 0;
            self.blocked[h] = false;
            self.touched.push(host);
        }
    }
}
