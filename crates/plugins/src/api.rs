//! What the host grants a plugin during a call: the embedder's side of the `host` interface.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The severity of a message a plugin logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// The embedder's implementation of what a plugin may ask during one call (the WIT
/// interface `khutulun:plugin/host`). One value per call: it knows the service the call is
/// for, and decides what the plugin may see and change.
///
/// Errors are messages for the plugin (it gets them as `Err`); they do not stop the call.
/// The methods are called on the thread that runs the call and block it. Their time counts
/// toward the call's time limit, but a call is stopped only when it runs plugin code again:
/// keep them short.
pub trait HostApi: Send + Sync {
    /// A message from the plugin: `host.log`, and each line the plugin wrote to stdout
    /// (`Info`) or stderr (`Warn`).
    fn log(&self, level: Level, message: &str);

    /// The representation graph of the service the call is for (`graph.json`), as JSON text.
    fn service_graph(&self) -> Result<String, String>;

    /// The runtime value of an attribute of an instance of the service, `null` when unset.
    fn get_attribute(&self, node: &str, index: u32, name: &str) -> Result<Value, String>;

    /// Sets a runtime attribute of an instance of the service.
    fn set_attribute(&self, node: &str, index: u32, name: &str, value: Value)
        -> Result<(), String>;

    /// Emits a user event `name` with `data` (always a JSON object), about the instance
    /// `node`-`index` when given.
    fn emit_event(
        &self,
        name: &str,
        node: Option<&str>,
        index: Option<u32>,
        data: Value,
    ) -> Result<(), String>;
}

/// The [`HostApi`] of calls that are for no deployed service, e.g. functions evaluated while
/// a template is compiled: logs go to `tracing` (target `khutulun_plugins::plugin`), the
/// rest answers "not available when compiling".
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHostApi;

/// The error [`NoHostApi`] answers with.
pub const NOT_AVAILABLE: &str = "not available when compiling";

impl HostApi for NoHostApi {
    fn log(&self, level: Level, message: &str) {
        match level {
            Level::Debug => tracing::debug!(target: "khutulun_plugins::plugin", "{message}"),
            Level::Info => tracing::info!(target: "khutulun_plugins::plugin", "{message}"),
            Level::Warn => tracing::warn!(target: "khutulun_plugins::plugin", "{message}"),
            Level::Error => tracing::error!(target: "khutulun_plugins::plugin", "{message}"),
        }
    }

    fn service_graph(&self) -> Result<String, String> {
        Err(NOT_AVAILABLE.into())
    }

    fn get_attribute(&self, _node: &str, _index: u32, _name: &str) -> Result<Value, String> {
        Err(NOT_AVAILABLE.into())
    }

    fn set_attribute(
        &self,
        _node: &str,
        _index: u32,
        _name: &str,
        _value: Value,
    ) -> Result<(), String> {
        Err(NOT_AVAILABLE.into())
    }

    fn emit_event(
        &self,
        _name: &str,
        _node: Option<&str>,
        _index: Option<u32>,
        _data: Value,
    ) -> Result<(), String> {
        Err(NOT_AVAILABLE.into())
    }
}
