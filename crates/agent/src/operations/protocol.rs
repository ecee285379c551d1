//! Operation runs between agents: the request one agent sends another (it names the
//! instance by the state's validated names), and the messages that come back, one JSON
//! object per line (`khutulun_protocol::operations`, re-exported here).

use khutulun_state::InstanceRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub use khutulun_protocol::operations::{OperationMessage, OutputStream};

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
