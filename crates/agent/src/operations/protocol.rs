//! What an operation run sends back, one JSON object per line (`application/x-ndjson`):
//! output lines as they come, then exactly one `finished` or `failed`.

use khutulun_state::InstanceRef;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperationMessage {
    Output {
        stream: OutputStream,
        line: String,
    },
    /// It ran: a script's exit code (0 for a plugin handler that returned Ok), and its
    /// outputs.
    Finished {
        code: i32,
        #[serde(default)]
        outputs: Map<String, Value>,
    },
    /// It could not run, or did not end on its own (time limit, trap, memory limit).
    Failed {
        message: String,
    },
}

/// One run of an operation, as one agent asks another (and the public API asks the agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRequest {
    /// The instance it runs for: SELF, or for a relationship operation the end whose host
    /// runs it.
    #[serde(flatten)]
    pub instance: InstanceRef,
    /// `<interface>.<operation>`.
    pub operation: String,
    /// Input values that override the template's for this run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Value>,
    /// Set for a relationship operation (SELF is the relationship).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<RelationshipEnds>,
    /// The event that caused this run (trigger actions, notifications), given to the script
    /// as `KHUTULUN_EVENT` and to a plugin handler as its input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    /// What asked for it, for the events: `<policy>.<trigger>`, `lifecycle`, `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// The two ends of one relationship: requirement `requirement` of source representation
/// `source_index`, reaching target representation `target_index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipEnds {
    pub source: String,
    pub source_index: u32,
    pub requirement: String,
    pub target: String,
    pub target_index: u32,
}
