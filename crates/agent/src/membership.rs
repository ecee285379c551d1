//! The agent's side of membership: starts gossip, turns membership changes into events, and
//! starts failover when SWIM declares a host dead. What this agent knows of the other hosts
//! is `hosts`.

use crate::agent::Agent;
use khutulun_cluster::{Cluster, ClusterConfig, MemberState, MembershipEvent, Timing};
use khutulun_state::EventKind;
use std::collections::HashMap;

/// Joins (or forms) the cluster and spawns the task that follows membership changes.
pub async fn start(agent: &Agent) -> Result<(), String> {
    let gossip = &agent.config.gossip;
    let advertise = advertise_addr(agent, gossip.bind);
    let config = ClusterConfig {
        name: agent.host.name.clone(),
        bind: gossip.bind,
        advertise,
        seeds: gossip.seeds.clone(),
        multicast: gossip.multicast,
        key: gossip.key,
        metadata: serde_json::json!({
            "api_url": agent.host.api_url,
            "address": agent.host.address,
            "labels": agent.host.labels,
            "cpus": agent.host.cpus,
            "memory_bytes": agent.host.memory_bytes,
        }),
        timing: if gossip.fast {
            Timing::Fast
        } else {
            Timing::Lan
        },
    };
    let cluster = Cluster::start(config).await.map_err(|e| e.to_string())?;
    let bound = cluster.local_addr();
    let mut info = agent.host.clone();
    info.gossip_addr = Some(advertise_addr(agent, bound).to_string());
    info.delegates = agent.available_delegates();
    agent.store.write_host(&info).map_err(|e| e.to_string())?;
    let mut events = cluster.subscribe();
    let _ = agent.cluster.set(cluster);
    let agent = agent.clone();
    tokio::spawn(async move {
        let mut last: HashMap<String, MemberState> = HashMap::new();
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("membership: {n} changes were missed");
                    continue;
                }
                Err(_) => return,
            };
            on_event(&agent, event, &mut last);
        }
    });
    Ok(())
}

fn on_event(agent: &Agent, event: MembershipEvent, last: &mut HashMap<String, MemberState>) {
    let (member, state) = match event {
        MembershipEvent::Alive(m) => (m, MemberState::Alive),
        MembershipEvent::Suspect(m) => (m, MemberState::Suspect),
        MembershipEvent::Dead(m) => (m, MemberState::Dead),
        MembershipEvent::Left(m) => (m, MemberState::Left),
    };
    if member.name == agent.host.name {
        return;
    }
    // Metadata updates come as Alive again: only transitions are news.
    if last.insert(member.name.clone(), state) == Some(state) {
        return;
    }
    let name = member.name.clone();
    agent.emit(match state {
        MemberState::Alive => EventKind::HostAlive {
            name: name.clone(),
            gossip_addr: Some(member.gossip_addr.to_string()),
        },
        MemberState::Suspect => EventKind::HostSuspect { name: name.clone() },
        MemberState::Dead => EventKind::HostDead { name: name.clone() },
        MemberState::Left => EventKind::HostLeft { name: name.clone() },
    });
    if state == MemberState::Dead {
        let agent = agent.clone();
        tokio::spawn(async move { crate::failover::on_host_dead(&agent, &name).await });
    }
}

/// The address other hosts reach this host's gossip socket at.
fn advertise_addr(agent: &Agent, bound: std::net::SocketAddr) -> std::net::SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    match agent.host.address.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, bound.port()),
        Err(_) => bound,
    }
}
