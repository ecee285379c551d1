//! User event handlers: policy triggers (§16.5) and interface notifications (§11.6), run in
//! situ when an event of this agent's bus matches.
//!
//! - A trigger whose `event` is the event's name (`instance_exited`, a user event's own
//!   name, `<interface>.<notification>`, ...) fires when the event is about one of its
//!   policy's targets (or about no instance at all: then for every instance of the
//!   targets). When its condition holds, its `call_operation` actions run in order on the
//!   target instance's host, with the event as input.
//! - A notification whose name is the event's name, on the node the event is about, runs
//!   its implementation on that instance's host; then the user event
//!   `<interface>.<notification>` is emitted with its outputs, for triggers to act on.
//!
//! Every run ends in `operation_finished` or `operation_failed` (see `crate::operations`).
//! Each agent handles the events of its own bus only, so a handler runs once.

pub mod condition;

use crate::agent::Agent;
use crate::instance::load_current;
use crate::names::instance_ref;
use crate::operations::protocol::OperationRequest;
use crate::runtime::InstanceAttributes;
use khutulun_graph::{Action, EvalContext, ServiceGraph, Trigger};
use khutulun_state::{Event, EventKind, InstanceRecord, InstanceRef};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

type Job = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// One queue per instance (or per service, for runs about no instance): the handlers of
/// one instance run one at a time, in the order of their events, so that a handler that
/// reads and writes an attribute never races its own next run.
#[derive(Default)]
struct Queues {
    senders: std::sync::Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<Job>>>,
}

impl Queues {
    fn push(&self, key: String, job: Job) {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        let sender = senders.entry(key).or_insert_with(|| {
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Job>();
            tokio::spawn(async move {
                while let Some(job) = receiver.recv().await {
                    job.await;
                }
            });
            sender
        });
        let _ = sender.send(job);
    }
}

/// Starts the task that hands this agent's events to the handlers the templates declare.
pub fn spawn(agent: &Agent) {
    let Some(mut events) = agent.bus.handler_queue() else {
        tracing::error!("the event handlers were started twice; the second start is ignored");
        return;
    };
    let agent = agent.clone();
    let queues = Queues::default();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            dispatch(&agent, &queues, &event);
        }
    });
}

/// The event as handlers get it: its name, where and when, the instance it is about, and
/// the whole event under `data`.
pub fn handler_event(event: &Event) -> Value {
    let (namespace, service) = event.service().unzip();
    let (node, index) = event.instance().unzip();
    json!({
        "kind": event.trigger_name(),
        "host": event.host,
        "time": event.time,
        "namespace": namespace,
        "service": service,
        "node": node,
        "index": index,
        "data": event,
    })
}

fn dispatch(agent: &Agent, queues: &Queues, event: &Event) {
    if event.host != agent.host.name {
        return;
    }
    let name = event.trigger_name();
    let services = match event.service() {
        Some((ns, svc)) => vec![(ns.to_owned(), svc.to_owned())],
        // Host events, and user events about no service: every service may listen.
        None => all_services(agent),
    };
    for (ns, svc) in services {
        let Ok((_, graph)) = load_current(agent, &ns, &svc) else {
            continue;
        };
        let about = event
            .instance()
            .filter(|_| event.service() == Some((ns.as_str(), svc.as_str())))
            .map(|(node, index)| (node.to_owned(), index));
        let runs = matching_runs(&graph, &name, about.as_ref());
        if runs.is_empty() {
            continue;
        }
        let Ok(instances) = agent.store.instances(&ns, &svc) else {
            continue;
        };
        let event_value = handler_event(event);
        let key = match &about {
            Some((node, index)) => format!("{ns}/{svc}/{node}/{index}"),
            None => format!("{ns}/{svc}"),
        };
        for run in runs {
            let agent = agent.clone();
            let (graph, instances, event_value) =
                (graph.clone(), instances.clone(), event_value.clone());
            let (ns, svc) = (ns.clone(), svc.clone());
            queues.push(
                key.clone(),
                Box::pin(async move {
                    execute(&agent, &ns, &svc, &graph, &instances, run, event_value).await;
                }),
            );
        }
    }
}

fn all_services(agent: &Agent) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for ns in agent.store.namespaces().unwrap_or_default() {
        for service in agent.store.services(&ns).unwrap_or_default() {
            all.push((ns.clone(), service.name));
        }
    }
    all
}

/// What an event makes run, before the instances are looked up.
#[derive(Debug, Clone, PartialEq)]
pub enum Run {
    /// A trigger of a policy, for the target instances named (none: every instance of
    /// every target).
    Trigger {
        policy: String,
        trigger: Trigger,
        targets: Vec<String>,
        about: Option<(String, u32)>,
    },
    /// The notification `interface.notification` of the instance the event is about.
    Notification {
        interface: String,
        notification: String,
        node: String,
        index: u32,
    },
}

/// The triggers and notifications an event named `name`, about instance `about`, sets off.
/// Pure.
pub fn matching_runs(graph: &ServiceGraph, name: &str, about: Option<&(String, u32)>) -> Vec<Run> {
    let mut runs = Vec::new();
    for policy in &graph.policies {
        for trigger in policy.triggers.iter().filter(|t| t.event == name) {
            match about {
                Some((node, index)) if policy.targets.contains(node) => runs.push(Run::Trigger {
                    policy: policy.name.clone(),
                    trigger: trigger.clone(),
                    targets: vec![node.clone()],
                    about: Some((node.clone(), *index)),
                }),
                Some(_) => {}
                None => runs.push(Run::Trigger {
                    policy: policy.name.clone(),
                    trigger: trigger.clone(),
                    targets: policy.targets.clone(),
                    about: None,
                }),
            }
        }
    }
    if let Some((node, index)) = about {
        if let Some(n) = graph.node(node) {
            for (interface_name, interface) in &n.interfaces {
                if let Some(notification) = interface.notifications.get(name) {
                    if notification.implementation.is_some() {
                        runs.push(Run::Notification {
                            interface: interface_name.clone(),
                            notification: name.to_owned(),
                            node: node.clone(),
                            index: *index,
                        });
                    }
                }
            }
        }
    }
    runs
}

async fn execute(
    agent: &Agent,
    ns: &str,
    svc: &str,
    graph: &ServiceGraph,
    instances: &[InstanceRecord],
    run: Run,
    event: Value,
) {
    match run {
        Run::Trigger {
            policy,
            trigger,
            targets,
            about,
        } => {
            let chosen: Vec<&InstanceRecord> = instances
                .iter()
                .filter(|r| targets.contains(&r.node))
                .filter(|r| {
                    about
                        .as_ref()
                        .is_none_or(|(node, index)| &r.node == node && r.index == *index)
                })
                .collect();
            for record in chosen {
                let instance = instance_ref(ns, svc, &record.node, record.index);
                let cause = format!("{policy}.{}", trigger.name);
                run_trigger(agent, graph, instances, &instance, &trigger, &cause, &event).await;
            }
        }
        Run::Notification {
            interface,
            notification,
            node,
            index,
        } => {
            let instance = instance_ref(ns, svc, &node, index);
            let operation = format!("{interface}.{notification}");
            let request = OperationRequest {
                instance: instance.clone(),
                operation: operation.clone(),
                inputs: BTreeMap::new(),
                relationship: None,
                event: Some(event),
                cause: Some(format!("notification {operation}")),
            };
            let host = host_of(agent, instances, &instance);
            if let Ok(end) = crate::operations::run_on(agent, &host, &request, None).await {
                if end.code == 0 {
                    agent.emit(EventKind::User {
                        name: operation,
                        namespace: Some(ns.to_owned()),
                        service: Some(svc.to_owned()),
                        node: Some(node),
                        index: Some(index),
                        data: Value::Object(end.outputs),
                    });
                }
            }
        }
    }
}

async fn run_trigger(
    agent: &Agent,
    graph: &ServiceGraph,
    instances: &[InstanceRecord],
    instance: &InstanceRef,
    trigger: &Trigger,
    cause: &str,
    event: &Value,
) {
    let runtime = InstanceAttributes { instances };
    let context = EvalContext::node(instance.node.as_str(), instance.index);
    if let Some(condition) = &trigger.condition {
        match condition::holds(graph, condition, &context, &runtime) {
            Ok(true) => {}
            Ok(false) => return,
            Err(message) => {
                tracing::warn!("trigger {cause} on {instance}: {message}");
                agent.emit(EventKind::OperationFailed {
                    instance: instance.clone(),
                    operation: "condition".into(),
                    message: format!(
                        "the condition of trigger {cause} cannot be evaluated: {message}"
                    ),
                    code: None,
                    cause: Some(cause.to_owned()),
                });
                return;
            }
        }
    }
    let host = host_of(agent, instances, instance);
    for action in &trigger.actions {
        let Action::CallOperation { operation, inputs } = action;
        let mut values = BTreeMap::new();
        for (name, expr) in inputs {
            match khutulun_graph::evaluate(graph, expr, &context, &runtime) {
                Ok(value) => {
                    values.insert(name.clone(), value);
                }
                Err(e) => tracing::warn!("trigger {cause}: input {name}: {e}"),
            }
        }
        let request = OperationRequest {
            instance: instance.clone(),
            operation: operation.clone(),
            inputs: values,
            relationship: None,
            event: Some(event.clone()),
            cause: Some(cause.to_owned()),
        };
        // The action's end is announced by the operation itself; a failed one ends the
        // sequence.
        match crate::operations::run_on(agent, &host, &request, None).await {
            Ok(end) if end.code == 0 => {}
            _ => break,
        }
    }
}

fn host_of(agent: &Agent, instances: &[InstanceRecord], instance: &InstanceRef) -> String {
    instances
        .iter()
        .find(|r| r.node == instance.node && r.index == instance.index)
        .map(|r| r.host.clone())
        .unwrap_or_else(|| agent.host.name.clone())
}
