//! A delegate that runs nothing (tests only). A workload is an entry in a table, "running"
//! until it is stopped or the test ends it; one with a `PORT` in its environment listens
//! there, so readiness waits work as with real processes. What it did is kept as a journal
//! the tests read: the order of starts and stops is the flows' order.
//!
//! The table outlives the agent that started its entries (share the `FakeDelegate` with a
//! restarted agent): workloads survive the agent, as processes do.

use khutulun_delegates::{Capabilities, Delegate, DelegateError, Exit, Running, WorkloadSpec};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Fake pids start above any `pid_max`, so none is ever a real process.
const FIRST_PID: u32 = 5_000_000;

/// What the fake did, in order, by instance ("node-index").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Started(String),
    Stopped(String),
}

#[derive(Clone)]
pub struct FakeDelegate {
    table: Arc<Mutex<Table>>,
    capabilities: Capabilities,
}

#[derive(Default)]
struct Table {
    next: u32,
    workloads: BTreeMap<u32, Workload>,
    journal: Vec<Step>,
    /// Instances that do not listen on their port until the test releases them.
    held: BTreeSet<String>,
}

struct Workload {
    instance: String,
    ended: watch::Sender<Option<Exit>>,
    /// Held while it runs: what readiness connects to.
    listener: Option<std::net::TcpListener>,
    /// The port it listens on once released (held instances).
    pending_port: Option<String>,
}

impl FakeDelegate {
    /// Declares what a process delegate declares.
    pub fn new() -> FakeDelegate {
        FakeDelegate::with_capabilities(khutulun_delegates::ProcessDelegate::CAPABILITIES)
    }

    pub fn with_capabilities(capabilities: Capabilities) -> FakeDelegate {
        FakeDelegate {
            table: Arc::default(),
            capabilities,
        }
    }

    pub fn journal(&self) -> Vec<Step> {
        self.table().journal.clone()
    }

    /// The instances running now, sorted.
    pub fn running(&self) -> Vec<String> {
        let table = self.table();
        let mut running: Vec<String> = table
            .workloads
            .values()
            .filter(|w| w.ended.borrow().is_none())
            .map(|w| w.instance.clone())
            .collect();
        running.sort();
        running
    }

    /// `instance` will start without listening on its port: not ready until `release`.
    pub fn hold(&self, instance: &str) {
        self.table().held.insert(instance.to_owned());
    }

    /// Lets a held `instance` listen on its port (it becomes ready).
    pub fn release(&self, instance: &str) {
        let mut table = self.table();
        table.held.remove(instance);
        for workload in table
            .workloads
            .values_mut()
            .filter(|w| w.instance == instance)
        {
            if let Some(port) = workload.pending_port.take() {
                workload.listener = Some(
                    std::net::TcpListener::bind(format!("127.0.0.1:{port}"))
                        .expect("the held port is free"),
                );
            }
        }
    }

    /// Ends `instance` ("node-index") as a crash would: exit code 1.
    pub fn crash(&self, instance: &str) {
        let mut table = self.table();
        let workload = table
            .workloads
            .values_mut()
            .find(|w| w.instance == instance && w.ended.borrow().is_none())
            .unwrap_or_else(|| panic!("{instance} does not run"));
        workload.listener = None;
        workload.ended.send_replace(Some(Exit {
            code: Some(1),
            signal: None,
        }));
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The instance a process spec is for: the last part of its instance directory (the mark
/// every process carries).
fn instance_of(
    spec: &WorkloadSpec,
) -> Result<(String, &khutulun_delegates::ProcessSpec), DelegateError> {
    let WorkloadSpec::Process(process) = spec else {
        return Err(DelegateError::Invalid(
            "the fake runs process specs only".into(),
        ));
    };
    let dir = process
        .environment
        .get(crate::local::INSTANCE_MARK)
        .ok_or_else(|| DelegateError::Invalid("no instance mark".into()))?;
    let name = std::path::Path::new(dir)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    Ok((name, process))
}

#[async_trait::async_trait]
impl Delegate for FakeDelegate {
    fn name(&self) -> &'static str {
        "process"
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn check(&self, _spec: &WorkloadSpec) -> Result<(), DelegateError> {
        Ok(())
    }

    /// Fails for a process whose arguments say `fail`.
    async fn start(&self, spec: &WorkloadSpec) -> Result<Running, DelegateError> {
        let (instance, process) = instance_of(spec)?;
        if process.arguments.iter().any(|a| a == "fail") {
            return Err(DelegateError::Invalid(format!(
                "{instance} fails, as asked"
            )));
        }
        let mut table = self.table();
        let port = process.environment.get("PORT").cloned();
        let held = table.held.contains(&instance);
        let listener = match &port {
            Some(port) if !held => Some(
                std::net::TcpListener::bind(format!("127.0.0.1:{port}"))
                    .map_err(|e| DelegateError::io(format!("listen on {port}"), e))?,
            ),
            _ => None,
        };
        table.next += 1;
        let pid = FIRST_PID + table.next;
        table.workloads.insert(
            pid,
            Workload {
                instance: instance.clone(),
                ended: watch::channel(None).0,
                listener,
                pending_port: port.filter(|_| held),
            },
        );
        table.journal.push(Step::Started(instance));
        Ok(Running {
            pid: Some(pid),
            pid_start_time: Some(u64::from(pid)),
            handle: BTreeMap::from([("fake".into(), Value::from(pid))]),
            ..Default::default()
        })
    }

    async fn is_alive(&self, running: &Running) -> bool {
        let table = self.table();
        running
            .pid
            .and_then(|pid| table.workloads.get(&pid))
            .is_some_and(|w| w.ended.borrow().is_none())
    }

    async fn wait(&self, running: &Running) -> Exit {
        let ended = {
            let table = self.table();
            running
                .pid
                .and_then(|pid| table.workloads.get(&pid))
                .map(|w| w.ended.subscribe())
        };
        let unknown = Exit {
            code: None,
            signal: None,
        };
        let Some(mut ended) = ended else {
            return unknown;
        };
        let exit = match ended.wait_for(Option::is_some).await {
            Ok(exit) => exit.unwrap_or(unknown),
            Err(_) => unknown,
        };
        exit
    }

    async fn stop(&self, running: &Running, _grace: Duration) -> Result<(), DelegateError> {
        let mut table = self.table();
        let Some(workload) = running.pid.and_then(|pid| table.workloads.get_mut(&pid)) else {
            return Ok(());
        };
        if workload.ended.borrow().is_some() {
            return Ok(());
        }
        workload.listener = None;
        workload.ended.send_replace(Some(Exit {
            code: None,
            signal: Some(15),
        }));
        let instance = workload.instance.clone();
        table.journal.push(Step::Stopped(instance));
        Ok(())
    }

    async fn remove(&self, _spec: &WorkloadSpec) -> Result<(), DelegateError> {
        Ok(())
    }
}
