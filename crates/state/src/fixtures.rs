//! Records for the unit tests.

use crate::model::{InstanceRecord, InstanceStatus, ServiceRecord, ServiceStatus};
use chrono::Utc;
use std::collections::BTreeMap;

pub fn service(ns: &str, name: &str, revision: u64) -> ServiceRecord {
    ServiceRecord {
        namespace: ns.into(),
        name: name.into(),
        revision,
        status: ServiceStatus::Deploying,
        message: None,
        entry: "service.yaml".into(),
        inputs: BTreeMap::new(),
        coordinator: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

/// A running instance on host `h` with one port.
pub fn instance(ns: &str, service: &str, node: &str, index: u32) -> InstanceRecord {
    InstanceRecord {
        namespace: ns.into(),
        service: service.into(),
        node: node.into(),
        index,
        revision: 1,
        host: "h".into(),
        epoch: 1,
        delegate: "process".into(),
        state: InstanceStatus::Running,
        address: "127.0.0.1".into(),
        pid: Some(1),
        pid_start_time: Some(2),
        ports: BTreeMap::from([("endpoint".into(), 20000)]),
        attributes: BTreeMap::new(),
        handle: BTreeMap::new(),
        exit_code: None,
        exit_signal: None,
        restarts: 0,
        message: None,
        cpu_millis: 0,
        memory_bytes: 0,
        placement: Vec::new(),
        updated_at: Utc::now(),
    }
}
