//! One supervisor task per running instance of this host. It waits for the workload to end
//! (an event: the pidfd becomes readable), applies the restart policy with backoff, and
//! stops the workload when told to.

use crate::agent::Agent;
use crate::readiness::{Readiness, READY_TIMEOUT};
use crate::restart::Backoff;
use crate::workload::Workload;
use khutulun_delegates::{Delegate, Exit, Network, Running, WorkloadSpec};
use khutulun_state::{EventKind, InstanceRef, InstanceStatus};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub struct Supervisor {
    control: mpsc::UnboundedSender<Control>,
    /// The placement epoch the workload runs under.
    pub epoch: u64,
    /// Tells this supervisor from a later one of the same instance.
    id: u64,
}

static SUPERVISOR_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Whether the supervisor `id` is still the one registered for `instance` (self-fencing
/// and stale-copy stops take supervisors out: those must never restart anything).
fn still_registered(agent: &Agent, instance: &InstanceRef, id: u64) -> bool {
    agent
        .supervisors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(instance)
        .is_some_and(|s| s.id == id)
}

enum Control {
    /// Stop the workload for good and record it.
    Stop(oneshot::Sender<()>),
    /// Kill the workload within the grace, writing nothing to the state (self-fencing, or a
    /// stale copy).
    Fence(Duration, oneshot::Sender<()>),
}

impl Supervisor {
    /// Asks the supervisor to stop its workload; resolves once it has stopped.
    pub async fn stop(&self) {
        let (ack, done) = oneshot::channel();
        if self.control.send(Control::Stop(ack)).is_ok() {
            let _ = done.await;
        }
    }

    /// Stops the workload without a word to the state (SIGTERM, SIGKILL after `grace`);
    /// resolves once it has ended.
    pub async fn fence(&self, grace: Duration) {
        let (ack, done) = oneshot::channel();
        if self.control.send(Control::Fence(grace, ack)).is_ok() {
            let _ = done.await;
        }
    }
}

/// Starts a workload and waits until it is ready: started, and listening on its reserved
/// ports if it has any. Records and announces each step. On failure nothing is left running.
pub async fn start_workload(
    agent: &Agent,
    delegate: &dyn Delegate,
    instance: &InstanceRef,
    workload: &Workload,
    epoch: u64,
) -> Result<Running, String> {
    if !agent.lease.wait_valid(agent.lease.timing.period).await {
        return Err(format!(
            "{instance} could not start: host {} is fenced (its lease on the shared state lapsed); it starts again once the lease is renewed",
            agent.host.name
        ));
    }
    // Held until the pid is recorded; the wait for readiness does without it.
    let slot = agent
        .start_slots
        .acquire()
        .await
        .expect("the start slots are never closed");
    // Intent before effect: no process is spawned that its record does not announce (a
    // full or read-only state refuses the start; a restart policy tries again later). A
    // record that says `pending` here under this epoch announces it already (an agent that
    // starts after a crash ends what runs of its pending instances: `adopt`), so the first
    // start of a deploy writes no record before its spawn.
    let current = agent.store.instance_record(instance).ok().flatten();
    let announced = current.as_ref().is_some_and(|r| {
        r.state == InstanceStatus::Pending && r.host == agent.host.name && r.epoch == epoch
    });
    let starting = if announced {
        current
    } else {
        agent
            .try_update_instance(instance, |r| {
                r.state = InstanceStatus::Starting;
                r.message = None;
            })
            .map_err(|unwritten| {
                format!(
                    "{instance} could not start: its record cannot be written ({}); it starts once the state can be written",
                    unwritten.error
                )
            })?
    };
    agent.emit(EventKind::InstanceStarting {
        instance: instance.clone(),
    });
    // Readiness is a connection to the reserved ports: with another program listening on
    // one, a workload that cannot bind it would pass for ready.
    if binds_host_ports(&workload.spec) {
        if let Some((endpoint, port)) = starting
            .iter()
            .flat_map(|r| r.ports.iter())
            .find(|(_, port)| crate::readiness::port_in_use(**port))
        {
            return Err(format!(
                "{instance} could not start: port {port} (endpoint {endpoint}), reserved for it, is in use by a program outside Khutulun (see `ss -ltnp`)"
            ));
        }
    }
    let running = delegate
        .start(&agent.with_lifeline(&workload.spec))
        .await
        .map_err(|e| format!("{instance} could not start: {e}"))?;
    crate::crash::point("start.spawned");
    // Noted before the fence check: self-fencing marks the host fenced before it takes the
    // list, so a start either is on the list or sees the fence.
    agent.note_live(instance, workload.kind, &running);
    if !agent.lease.is_valid() {
        // Fenced while it started: it must not run.
        let _ = delegate
            .stop(&running, agent.lease.timing.stop_budget())
            .await;
        agent.note_gone(instance, &running);
        return Err(format!(
            "{instance} was stopped as it started: host {} is fenced",
            agent.host.name
        ));
    }
    crate::local::write_pid_file(agent, instance, &running, workload.kind.name(), epoch);
    // Without reserved ports it is ready once started: its pid and `running` are one write.
    let ready_at_once = starting.as_ref().is_none_or(|r| r.ports.is_empty());
    let recorded = agent.try_update_instance(instance, |r| {
        r.state = if ready_at_once {
            InstanceStatus::Running
        } else {
            InstanceStatus::Starting
        };
        r.message = None;
        r.pid = running.pid;
        r.pid_start_time = running.pid_start_time;
        r.handle = running.handle.clone();
        r.attributes.extend(running.attributes.clone());
        r.exit_code = None;
        r.exit_signal = None;
    });
    let record = match recorded {
        Ok(record) => record,
        Err(unwritten) => {
            let e = unwritten.error;
            // Not left running unrecorded: stopped again, and the start fails.
            let _ = delegate
                .stop(&running, agent.lease.timing.stop_budget())
                .await;
            agent.note_gone(instance, &running);
            return Err(format!(
                "{instance} was stopped as it started: its pid cannot be recorded ({e}); it starts once the state can be written"
            ));
        }
    };
    crate::crash::point("start.recorded");
    drop(slot);
    let ports: Vec<u16> = record
        .as_ref()
        .map(|r| r.ports.values().copied().collect())
        .unwrap_or_default();
    if !ports.is_empty() {
        let logs = log_hint(&workload.spec);
        match crate::readiness::ready_or_not(&agent.host.address, &ports, delegate.wait(&running))
            .await
        {
            Readiness::Listening => {}
            Readiness::Ended(exit) => {
                agent.note_gone(instance, &running);
                agent.update_instance(instance, |r| {
                    r.pid = None;
                    r.exit_code = exit.code;
                    r.exit_signal = exit.signal;
                });
                return Err(format!(
                    "{instance} ended ({exit}) before it listened on port(s) {ports:?}{logs}"
                ));
            }
            Readiness::TimedOut => {
                let _ = delegate.stop(&running, workload.stop_timeout).await;
                let _ = delegate.wait(&running).await;
                agent.note_gone(instance, &running);
                agent.update_instance(instance, |r| r.pid = None);
                return Err(format!(
                    "{instance} did not listen on port(s) {ports:?} within {}s{logs}",
                    READY_TIMEOUT.as_secs()
                ));
            }
        }
    }
    if !ready_at_once {
        agent.update_instance(instance, |r| r.state = InstanceStatus::Running);
    }
    agent.emit(EventKind::InstanceRunning {
        instance: instance.clone(),
        pid: running.pid,
    });
    crate::exposure::open(agent, instance, &workload.exposed).await;
    Ok(running)
}

/// Workloads that listen on their reserved host ports themselves. (An engine that publishes
/// a container's ports binds them itself, and fails when one is taken.)
fn binds_host_ports(spec: &WorkloadSpec) -> bool {
    match spec {
        WorkloadSpec::Process(_) | WorkloadSpec::SystemContainer(_) => true,
        WorkloadSpec::Container(c) => c.network == Network::Host,
        _ => false,
    }
}

fn log_hint(spec: &WorkloadSpec) -> String {
    match spec {
        WorkloadSpec::Process(p) => format!("; see {}/stderr.log", p.log_directory.display()),
        _ => String::new(),
    }
}

/// Supervises a started (or adopted) workload until it ends for good or is stopped.
pub fn spawn(
    agent: Agent,
    instance: InstanceRef,
    workload: Workload,
    running: Running,
    restarts_so_far: u32,
    epoch: u64,
) {
    let (control, mut requests) = mpsc::unbounded_channel::<Control>();
    agent.hold_epoch(&instance, epoch);
    let id = SUPERVISOR_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    agent
        .supervisors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(instance.clone(), Supervisor { control, epoch, id });
    if !agent.lease.is_valid() {
        // Fenced while it started: it must not run.
        let agent = agent.clone();
        let instance = instance.clone();
        tokio::spawn(async move { crate::lease::fence_stragglers(&agent, &instance).await });
    }
    let task_agent = agent.clone();
    tokio::spawn(async move {
        let agent = task_agent;
        let delegate = agent
            .delegate(workload.kind)
            .expect("every spec has a built-in delegate");
        let mut running = running;
        let mut started = Instant::now();
        let mut backoff = Backoff::new();
        let mut restarts = restarts_so_far;
        loop {
            let exit = tokio::select! {
                exit = delegate.wait(&running) => exit,
                request = requests.recv() => {
                    match request {
                        Some(Control::Fence(grace, ack)) => {
                            fence(&agent, delegate, &instance, &workload, &running, grace).await;
                            finish(&agent, &instance, id);
                            let _ = ack.send(());
                        }
                        Some(Control::Stop(ack)) => {
                            stop(&agent, delegate, &instance, &workload, &running).await;
                            finish(&agent, &instance, id);
                            let _ = ack.send(());
                        }
                        None => {
                            stop(&agent, delegate, &instance, &workload, &running).await;
                            finish(&agent, &instance, id);
                        }
                    }
                    return;
                }
            };
            agent.note_gone(&instance, &running);
            if !still_registered(&agent, &instance, id) {
                // Fenced or replaced while it ran: its end is not this supervisor's to record.
                return;
            }
            if workload.kind == crate::workload::DelegateKind::Process {
                // The run is over when its main process is: what it left in its group (a
                // shell's background child) ends too, before any restart.
                let _ = delegate.stop(&running, workload.stop_timeout).await;
            }
            on_exit(&agent, &instance, &running, exit);
            if !workload.restart.restarts_after(&exit) {
                finish(&agent, &instance, id);
                return;
            }
            // Restart, with backoff, until it runs or we are told to stop.
            loop {
                let delay = backoff.next_delay(started.elapsed());
                restarts += 1;
                agent.update_instance(&instance, |r| r.restarts = restarts);
                agent.emit(EventKind::InstanceRestarting {
                    instance: instance.clone(),
                    attempt: backoff.attempt(),
                    delay_ms: delay.as_millis() as u64,
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    request = requests.recv() => {
                        // Nothing runs between restarts.
                        match request {
                            Some(Control::Fence(_, ack)) => {
                                finish(&agent, &instance, id);
                                let _ = ack.send(());
                            }
                            Some(Control::Stop(ack)) => {
                                agent.update_instance(&instance, |r| r.state = InstanceStatus::Stopped);
                                agent.emit(EventKind::InstanceStopped { instance: instance.clone() });
                                finish(&agent, &instance, id);
                                let _ = ack.send(());
                            }
                            None => finish(&agent, &instance, id),
                        }
                        return;
                    }
                }
                if !still_registered(&agent, &instance, id) {
                    return;
                }
                started = Instant::now();
                match start_workload(&agent, delegate, &instance, &workload, epoch).await {
                    Ok(r) => {
                        running = r;
                        break;
                    }
                    Err(message) => {
                        agent.update_instance(&instance, |r| {
                            r.state = InstanceStatus::Failed;
                            r.message = Some(message.clone());
                        });
                        agent.emit(EventKind::InstanceFailed {
                            instance: instance.clone(),
                            message,
                        });
                    }
                }
            }
        }
    });
}

fn on_exit(agent: &Agent, instance: &InstanceRef, running: &Running, exit: Exit) {
    agent.update_instance(instance, |r| {
        r.state = if exit.success() {
            InstanceStatus::Exited
        } else {
            InstanceStatus::Failed
        };
        r.pid = None;
        r.pid_start_time = None;
        r.exit_code = exit.code;
        r.exit_signal = exit.signal;
        r.message = Some(format!("ended with {exit}"));
    });
    agent.emit(EventKind::InstanceExited {
        instance: instance.clone(),
        pid: running.pid,
        code: exit.code,
        signal: exit.signal,
    });
}

async fn stop(
    agent: &Agent,
    delegate: &dyn Delegate,
    instance: &InstanceRef,
    workload: &Workload,
    running: &Running,
) {
    agent.update_instance(instance, |r| r.state = InstanceStatus::Stopping);
    agent.emit(EventKind::InstanceStopping {
        instance: instance.clone(),
    });
    if let Err(e) = delegate.stop(running, workload.stop_timeout).await {
        tracing::warn!("stopping {instance}: {e}");
    }
    if running.pid.is_some() {
        // Collect the exit status so no zombie is left; bounded in case it is not our child.
        let _ = tokio::time::timeout(Duration::from_secs(1), delegate.wait(running)).await;
    }
    agent.note_gone(instance, running);
    agent.update_instance(instance, |r| {
        r.state = InstanceStatus::Stopped;
        r.pid = None;
        r.pid_start_time = None;
    });
    agent.emit(EventKind::InstanceStopped {
        instance: instance.clone(),
    });
}

/// Kills the workload within `grace` without writing the state.
async fn fence(
    agent: &Agent,
    delegate: &dyn Delegate,
    instance: &InstanceRef,
    workload: &Workload,
    running: &Running,
    grace: Duration,
) {
    tracing::warn!("fencing {instance}: stopping it without a word to the state");
    if let Err(e) = delegate
        .stop(running, grace.min(workload.stop_timeout))
        .await
    {
        tracing::warn!("fencing {instance}: {e}");
    }
    if running.pid.is_some() {
        let _ = tokio::time::timeout(Duration::from_secs(1), delegate.wait(running)).await;
    }
    agent.note_gone(instance, running);
}

/// Leaves the supervisors' map, unless a later supervisor took the place.
fn finish(agent: &Agent, instance: &InstanceRef, id: u64) {
    let mut supervisors = agent.supervisors.lock().unwrap_or_else(|e| e.into_inner());
    if supervisors.get(instance).is_some_and(|s| s.id == id) {
        supervisors.remove(instance);
    }
}
