//! The cluster as this agent sees it: each host's membership state (gossip, else its
//! alive.lock) and the hosts that can take work. Read by flows; gossip itself is
//! `membership`'s.

use crate::agent::Agent;
use khutulun_cluster::MemberState;
use khutulun_state::HostInfo;

/// The membership state of a host as this agent sees it: gossip when the host takes part in
/// it, else its alive.lock.
pub fn host_state(agent: &Agent, name: &str) -> &'static str {
    if name == agent.host.name {
        return "alive";
    }
    if let Some(member) = agent.cluster.get().and_then(|c| c.member(name)) {
        return match member.state {
            MemberState::Alive => "alive",
            MemberState::Suspect => "suspect",
            MemberState::Dead => "dead",
            MemberState::Left => "left",
        };
    }
    if agent.store.host_is_alive(name).unwrap_or(false) {
        // Its agent runs but gossip has not brought it here (yet).
        "unreachable"
    } else {
        "dead"
    }
}

/// Hosts that can take new instances: this one and every member gossip says is alive, less
/// those being drained and `except`.
pub fn live_hosts(agent: &Agent, except: &[&str]) -> Vec<HostInfo> {
    let hosts = agent.store.hosts().unwrap_or_default();
    hosts
        .into_iter()
        .filter(|h| !except.contains(&h.name.as_str()))
        .filter(|h| {
            h.name == agent.host.name
                || agent
                    .cluster
                    .get()
                    .and_then(|c| c.member(&h.name))
                    .is_some_and(|m| m.state == MemberState::Alive)
        })
        .filter(|h| !matches!(agent.store.drain(&h.name), Ok(Some(_))))
        .collect()
}
