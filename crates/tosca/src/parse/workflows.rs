//! Imperative workflows (§13.2): steps and their activities (§13.2.3), and the triggers of
//! policy types and policies (§16.5), whose actions are activities too.

use super::defs::ValueDefKind;
use super::{Entry, Parser};
use crate::ast::{Activity, Named, StepDef, TriggerDef, WorkflowDef};
use crate::yaml::{Node, Yaml};

const WORKFLOW_KEYNAMES: &[&str] = &[
    "description",
    "metadata",
    "inputs",
    "precondition",
    "steps",
    "implementation",
    "outputs",
];
const STEP_KEYNAMES: &[&str] = &[
    "target",
    "target_relationship",
    "filter",
    "activities",
    "on_success",
    "on_failure",
];
const ACTIVITIES: &[&str] = &["delegate", "set_state", "call_operation", "inline"];
const TRIGGER_KEYNAMES: &[&str] = &["description", "event", "condition", "action"];

impl Parser<'_> {
    pub fn workflows(&mut self, node: &Node) -> Vec<WorkflowDef> {
        let Some(entries) = self.entries(node, "workflows") else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|entry| self.workflow(entry))
            .collect()
    }

    fn workflow(&mut self, entry: &Entry) -> Option<WorkflowDef> {
        let what = format!("workflow \"{}\"", entry.key);
        let fields = self.entries_or_empty(entry.value, &what)?;
        let mut workflow = WorkflowDef {
            name: entry.named(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            precondition: None,
            steps: Vec::new(),
            implementation: None,
        };
        let has = |key: &str| fields.iter().any(|f| f.key == key);
        if has("steps") && has("implementation") {
            self.error(
                &entry.key_node.location(),
                format!(
                    "{what} has both steps and implementation, which exclude each other (§13.2)"
                ),
            );
        }
        for field in &fields {
            match field.key {
                "description" => {
                    self.description(field.value);
                }
                "metadata" => {
                    self.metadata(field.value);
                }
                "inputs" => {
                    workflow.inputs =
                        self.value_definitions(field.value, ValueDefKind::Parameter, &what)
                }
                "outputs" => {
                    workflow.outputs =
                        self.value_definitions(field.value, ValueDefKind::IncomingParameter, &what)
                }
                "precondition" => {
                    workflow.precondition = Some(self.condition(field.value, "a precondition"))
                }
                "steps" => workflow.steps = self.steps(field.value, &what),
                "implementation" => {
                    workflow.implementation = self.implementation(field.value, &what)
                }
                _ => self.unknown_keyname(field, &what, WORKFLOW_KEYNAMES),
            }
        }
        Some(workflow)
    }

    fn steps(&mut self, node: &Node, owner: &str) -> Vec<StepDef> {
        let Some(entries) = self.entries_or_empty(node, &format!("the steps of {owner}")) else {
            return Vec::new();
        };
        let mut steps = Vec::new();
        for entry in &entries {
            let what = format!("step \"{}\" of {owner}", entry.key);
            let Some(fields) = self.entries(entry.value, &what) else {
                continue;
            };
            let mut step = StepDef {
                name: entry.named(),
                target: None,
                target_relationship: None,
                filter: Vec::new(),
                activities: Vec::new(),
                on_success: Vec::new(),
                on_failure: Vec::new(),
            };
            for key in ["target", "activities"] {
                if !fields.iter().any(|f| f.key == key) {
                    self.error(
                        &entry.key_node.location(),
                        format!("{what} needs {key} (§13.2.2)"),
                    );
                }
            }
            for field in &fields {
                let label = format!("the {} of {what}", field.key);
                match field.key {
                    "target" => step.target = self.named(field.value, &label),
                    "target_relationship" => {
                        step.target_relationship = self.named(field.value, &label)
                    }
                    "filter" => match field.value.as_seq() {
                        Some(items) => {
                            step.filter = items
                                .iter()
                                .map(|i| self.condition(i, "a step filter"))
                                .collect()
                        }
                        None => self.error(
                            &field.value.location(),
                            format!(
                                "{label} must be a list of condition clauses, not {}",
                                field.value.describe()
                            ),
                        ),
                    },
                    "activities" => step.activities = self.activities(field.value, &label),
                    "on_success" => step.on_success = self.step_names(field.value, &label),
                    "on_failure" => step.on_failure = self.step_names(field.value, &label),
                    _ => self.unknown_keyname(field, &what, STEP_KEYNAMES),
                }
            }
            steps.push(step);
        }
        steps
    }

    /// `on_success` and `on_failure`: a step name or a list of them (§13.2.2 writes both).
    fn step_names(&mut self, node: &Node, what: &str) -> Vec<Named> {
        if let Yaml::Str(_) = node.value {
            return self.named(node, what).into_iter().collect();
        }
        self.names(node, what).unwrap_or_default()
    }

    /// A list of activity definitions (§13.2.3).
    pub fn activities(&mut self, node: &Node, what: &str) -> Vec<Activity> {
        let Some(items) = node.as_seq() else {
            self.error(
                &node.location(),
                format!(
                    "{what} must be a list of activity definitions (- delegate, - set_state, - call_operation or - inline), not {}",
                    node.describe()
                ),
            );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let entry = self.single_entry(item, &format!("an activity of {what}"))?;
                self.activity(&entry, what)
            })
            .collect()
    }

    fn activity(&mut self, entry: &Entry, owner: &str) -> Option<Activity> {
        let what = format!("the {} activity of {owner}", entry.key);
        let (name_key, section) = match entry.key {
            "set_state" => {
                return self
                    .named(entry.value, &format!("the state of {what}"))
                    .map(|_| Activity::SetState)
            }
            "delegate" | "inline" => ("workflow", "§13.2.3"),
            "call_operation" => ("operation", "§13.2.3.3"),
            _ => {
                self.keyname_error(entry, &format!("an activity of {owner}"), ACTIVITIES);
                return None;
            }
        };
        let (name, inputs) = if let Yaml::Str(_) = entry.value.value {
            (self.named(entry.value, &what), Vec::new())
        } else {
            let fields = self.entries(entry.value, &what)?;
            if !fields.iter().any(|f| f.key == name_key) {
                self.error(
                    &entry.value.location(),
                    format!("{what} needs {name_key} ({section})"),
                );
            }
            let (mut name, mut inputs) = (None, Vec::new());
            for field in &fields {
                match field.key {
                    key if key == name_key => {
                        name = self.named(field.value, &format!("the {key} of {what}"))
                    }
                    "inputs" => {
                        inputs = self.assignments(field.value, &format!("the inputs of {what}"))
                    }
                    _ => self.unknown_keyname(field, &what, &[name_key, "inputs"]),
                }
            }
            (name, inputs)
        };
        let name = name?;
        Some(match entry.key {
            "delegate" => Activity::Delegate { inputs },
            "inline" => Activity::Inline {
                workflow: name,
                inputs,
            },
            _ => Activity::CallOperation {
                operation: name,
                inputs,
            },
        })
    }

    /// Trigger definitions of a policy type or policy (§16.5).
    pub fn triggers(&mut self, node: &Node, owner: &str) -> Vec<TriggerDef> {
        let Some(entries) = self.entries(node, &format!("the triggers of {owner}")) else {
            return Vec::new();
        };
        let mut triggers = Vec::new();
        for entry in &entries {
            let what = format!("trigger \"{}\" of {owner}", entry.key);
            let Some(fields) = self.entries(entry.value, &what) else {
                continue;
            };
            let mut trigger = TriggerDef {
                name: entry.named(),
                event: None,
                condition: None,
                action: Vec::new(),
            };
            for key in ["event", "action"] {
                if !fields.iter().any(|f| f.key == key) {
                    self.error(
                        &entry.key_node.location(),
                        format!("{what} needs {key} (§16.5)"),
                    );
                }
            }
            for field in &fields {
                match field.key {
                    "description" => {
                        self.description(field.value);
                    }
                    "event" => {
                        trigger.event = self.named(field.value, &format!("the event of {what}"))
                    }
                    "condition" => {
                        trigger.condition = Some(self.condition(field.value, "a trigger condition"))
                    }
                    "action" => {
                        trigger.action =
                            self.activities(field.value, &format!("the action of {what}"))
                    }
                    _ => self.unknown_keyname(field, &what, TRIGGER_KEYNAMES),
                }
            }
            triggers.push(trigger);
        }
        triggers
    }
}
