//! The drain flow: a drained host takes no new instances, and its instances move to other
//! hosts (stopped there, started elsewhere, dependants restarted with the new address).

use crate::agent::Agent;
use crate::flow_error::FlowError;
use khutulun_state::{DrainRecord, EventKind};

/// What a drain did: how many instances moved, and why others could not.
pub struct Drained {
    pub moved: usize,
    pub problems: Vec<String>,
}

/// Drains `host`; returns when every instance has moved or could not be.
pub async fn drain(agent: &Agent, host: &str) -> Result<Drained, FlowError> {
    known_host(agent, host)?;
    let record = DrainRecord {
        since: chrono::Utc::now(),
        by: agent.host.name.clone(),
    };
    agent
        .store
        .set_drain(host, Some(&record))
        .map_err(FlowError::from_state_write)?;
    agent.emit(EventKind::HostDraining {
        name: host.to_owned(),
    });
    // A task of its own: a client that goes away must not cut a drain in half.
    let task_agent = agent.clone();
    let from = host.to_owned();
    let (moved, problems) = tokio::spawn(async move {
        crate::relocate::relocate_host(&task_agent, &from, crate::relocate::Why::Drain).await
    })
    .await
    .map_err(FlowError::internal)?;
    agent.emit(EventKind::HostDrained {
        name: host.to_owned(),
        moved,
    });
    Ok(Drained { moved, problems })
}

/// Ends a drain: the host takes new instances again (nothing moves back by itself).
pub fn undrain(agent: &Agent, host: &str) -> Result<(), FlowError> {
    known_host(agent, host)?;
    agent
        .store
        .set_drain(host, None)
        .map_err(FlowError::from_state_write)?;
    agent.emit(EventKind::HostUndrained {
        name: host.to_owned(),
    });
    Ok(())
}

fn known_host(agent: &Agent, name: &str) -> Result<(), FlowError> {
    crate::names::check_name("host", name)?;
    match agent.store.host(name).map_err(FlowError::internal)? {
        Some(_) => Ok(()),
        None => {
            let known: Vec<String> = agent
                .store
                .hosts()
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.name)
                .collect();
            Err(FlowError::NotFound(format!(
                "no host \"{name}\"; hosts: {}",
                known.join(", ")
            )))
        }
    }
}
