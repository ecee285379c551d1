//! Write Khutulun plugins in Rust.
//!
//! A Khutulun plugin is a WebAssembly component (world `khutulun:plugin/plugin`, see
//! `crates/plugins/wit/khutulun-plugin.wit`) that offers custom TOSCA functions and event
//! handlers. With this crate a plugin is a `cdylib` crate of ordinary Rust functions and one
//! [`plugin!`] invocation; no WIT, no bindings, no JSON plumbing.
//!
//! - A **function** takes its arguments as a list of JSON values and returns a JSON value:
//!   `fn(Vec<Value>) -> Result<Value, String>`. It is called as a TOSCA function
//!   (`$upper: [ ... ]`), at compile time or at run time.
//! - A **handler** takes an [`Event`] and returns a JSON value:
//!   `fn(Event) -> Result<Value, String>`. The agent calls it when an event it is bound to
//!   happens.
//! - Both may call the [`host`]: log, read the service's graph, read and set runtime
//!   attributes of instances of the service, emit user events.
//!
//! An `Err(message)` is reported by the host as the plugin's failure with that message. A
//! panic traps the call (the host reports it, with the panic message, as a crash); the host
//! also stops a call that runs longer than its time limit or grows its memory past its limit.
//! A plugin has no files, environment, arguments or network; what it prints goes to the
//! host's log.
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "text-functions"
//! version = "0.1.0"
//! edition = "2021"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! khutulun-plugin-sdk = { path = "../../crates/plugin-sdk" }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```ignore
//! use khutulun_plugin_sdk::{host, json, plugin, Event, Value};
//!
//! /// `$upper: [text]`: the text in upper case.
//! fn upper(args: Vec<Value>) -> Result<Value, String> {
//!     match args.as_slice() {
//!         [Value::String(text)] => Ok(Value::String(text.to_uppercase())),
//!         _ => Err("upper takes one string".into()),
//!     }
//! }
//!
//! /// Counts the failures of the instance the event is about.
//! fn count_failures(event: Event) -> Result<Value, String> {
//!     let (node, index) = event.instance().ok_or("the event is not about an instance")?;
//!     let failures = host::get_attribute(node, index, "failures")?.as_u64().unwrap_or(0) + 1;
//!     host::set_attribute(node, index, "failures", failures)?;
//!     if failures == 3 {
//!         host::emit_event("failures_exceeded", Some(node), Some(index), json!({"failures": failures}))?;
//!     }
//!     host::log(host::Level::Info, &format!("{node}-{index} failed {failures} times"));
//!     Ok(json!({ "failures": failures }))
//! }
//!
//! plugin! {
//!     name: "example",
//!     functions: [upper],
//!     handlers: [count_failures],
//! }
//! ```
//!
//! A function or handler is offered under its Rust name; `functions: [to_upper as "upper"]`
//! offers `to_upper` as `upper`. The plugin's version is its crate's version.
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` file in
//! `target/wasm32-wasip2/release/` is the component.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
pub use serde_json::{json, Map, Value};

// So that the paths the bindings and the macros use (`::khutulun_plugin_sdk::...`) also
// resolve inside this crate.
extern crate self as khutulun_plugin_sdk;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// The generated bindings of the `khutulun:plugin` world. Not part of the API.
#[doc(hidden)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../plugins/wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "::khutulun_plugin_sdk::__bindings",
        runtime_path: "::khutulun_plugin_sdk::__wit_bindgen::rt",
    });
}

/// The signature of a plugin function: arguments in, result out, as JSON.
pub type Function = fn(Vec<Value>) -> Result<Value, String>;

/// The signature of an event handler.
pub type Handler = fn(Event) -> Result<Value, String>;

/// An event passed to a handler.
///
/// Every field is optional: what an event does not carry is `None` (or empty), it never
/// fails to parse for a missing field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    /// What happened, e.g. `instance_exited`, `instance_failed`, or a user event's name.
    pub kind: Option<String>,
    /// The host the event happened on.
    pub host: Option<String>,
    /// When, RFC 3339.
    pub time: Option<String>,
    /// The namespace of the service the event is about.
    pub namespace: Option<String>,
    /// The service the event is about.
    pub service: Option<String>,
    /// The node template of the instance the event is about.
    pub node: Option<String>,
    /// The index of the instance the event is about.
    pub index: Option<u32>,
    /// The event's other fields (e.g. an exit code), `null` when none.
    pub data: Value,
    /// The inputs of the operation that bound the handler to the event.
    pub inputs: Map<String, Value>,
}

impl Event {
    /// The instance the event is about, when it names one (node and index).
    pub fn instance(&self) -> Option<(&str, u32)> {
        Some((self.node.as_deref()?, self.index?))
    }

    /// An input of the operation, `None` when not given (or given as null).
    pub fn input(&self, name: &str) -> Option<&Value> {
        self.inputs.get(name).filter(|value| !value.is_null())
    }
}

/// What a plugin may ask of the host.
///
/// Values cross the boundary as JSON; these wrappers parse and print it.
pub mod host {
    use serde_json::Value;

    use crate::__bindings::khutulun::plugin::host as imports;

    /// The severity of a log message.
    pub use imports::Level;

    /// Writes a message to the host's log, attributed to the plugin.
    pub fn log(level: Level, message: &str) {
        imports::log(level, message);
    }

    /// The representation graph of the service the call is for (its `graph.json`).
    pub fn service_graph() -> Result<Value, String> {
        parse(&imports::service_graph()?, "service graph")
    }

    /// The runtime value of an attribute of an instance of the service, `null` when unset.
    pub fn get_attribute(node: &str, index: u32, name: &str) -> Result<Value, String> {
        parse(
            &imports::get_attribute(node, index, name)?,
            &format!("attribute {name} of {node}-{index}"),
        )
    }

    /// Sets a runtime attribute of an instance of the service.
    pub fn set_attribute(
        node: &str,
        index: u32,
        name: &str,
        value: impl Into<Value>,
    ) -> Result<(), String> {
        imports::set_attribute(node, index, name, &value.into().to_string())
    }

    /// Emits a user event named `name` with `data` (a JSON object), about the instance
    /// `node`-`index` when given.
    pub fn emit_event(
        name: &str,
        node: Option<&str>,
        index: Option<u32>,
        data: Value,
    ) -> Result<(), String> {
        if !data.is_object() {
            return Err(format!("the data of event {name} must be a JSON object"));
        }
        imports::emit_event(name, node, index, &data.to_string())
    }

    fn parse(text: &str, what: &str) -> Result<Value, String> {
        serde_json::from_str(text)
            .map_err(|error| format!("the host sent invalid JSON for the {what}: {error}"))
    }
}

/// Generates the component's exports from the plugin's functions and handlers.
///
/// ```ignore
/// plugin! {
///     name: "text-functions",
///     functions: [upper, lower, to_slug as "slug"],
///     handlers: [],
/// }
/// ```
///
/// `functions` are `fn(Vec<Value>) -> Result<Value, String>`, `handlers` are
/// `fn(Event) -> Result<Value, String>`; each is offered under its Rust name, or under the
/// name after `as`. The manifest's version is the plugin crate's version.
#[macro_export]
macro_rules! plugin {
    (
        name: $name:literal,
        functions: [$($function:ident $(as $function_name:literal)?),* $(,)?],
        handlers: [$($handler:ident $(as $handler_name:literal)?),* $(,)?] $(,)?
    ) => {
        #[doc(hidden)]
        pub struct __KhutulunPlugin;

        impl $crate::__bindings::Guest for __KhutulunPlugin {
            fn manifest() -> $crate::__bindings::Manifest {
                $crate::__bindings::Manifest {
                    name: ::std::string::String::from($name),
                    version: ::std::string::String::from(env!("CARGO_PKG_VERSION")),
                    functions: ::std::vec![
                        $(::std::string::String::from($crate::__export_name!($function $(as $function_name)?))),*
                    ],
                    handlers: ::std::vec![
                        $(::std::string::String::from($crate::__export_name!($handler $(as $handler_name)?))),*
                    ],
                }
            }

            fn call_function(
                name: ::std::string::String,
                args: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                $crate::__call_function(
                    $name,
                    &name,
                    &args,
                    &[$(($crate::__export_name!($function $(as $function_name)?), $function as $crate::Function)),*],
                )
            }

            fn handle_event(
                handler: ::std::string::String,
                event: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                $crate::__handle_event(
                    $name,
                    &handler,
                    &event,
                    &[$(($crate::__export_name!($handler $(as $handler_name)?), $handler as $crate::Handler)),*],
                )
            }
        }

        $crate::__bindings::__export_plugin_world!(__KhutulunPlugin with_types_in $crate::__bindings);
    };
}

/// The name a function or handler is offered under. Not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_name {
    ($function:ident) => {
        stringify!($function)
    };
    ($function:ident as $name:literal) => {
        $name
    };
}

/// Dispatches `call-function`. Not part of the API.
#[doc(hidden)]
pub fn __call_function(
    plugin: &str,
    name: &str,
    args: &str,
    functions: &[(&str, Function)],
) -> Result<String, String> {
    let Some((_, function)) = functions.iter().find(|(offered, _)| *offered == name) else {
        return Err(unknown(
            plugin,
            "function",
            name,
            functions.iter().map(|(offered, _)| *offered),
        ));
    };
    let args: Vec<Value> = serde_json::from_str(args)
        .map_err(|error| format!("function {name}: the arguments are not a JSON array: {error}"))?;
    let result = function(args)?;
    Ok(result.to_string())
}

/// Dispatches `handle-event`. Not part of the API.
#[doc(hidden)]
pub fn __handle_event(
    plugin: &str,
    name: &str,
    event: &str,
    handlers: &[(&str, Handler)],
) -> Result<String, String> {
    let Some((_, handler)) = handlers.iter().find(|(offered, _)| *offered == name) else {
        return Err(unknown(
            plugin,
            "handler",
            name,
            handlers.iter().map(|(offered, _)| *offered),
        ));
    };
    let event: Event = serde_json::from_str(event).map_err(|error| {
        format!("handler {name}: the event is not a valid event object: {error}")
    })?;
    let result = handler(event)?;
    Ok(result.to_string())
}

fn unknown<'a>(
    plugin: &str,
    kind: &str,
    name: &str,
    offered: impl Iterator<Item = &'a str>,
) -> String {
    let mut message = format!("plugin {plugin} has no {kind} \"{name}\"");
    let offered: Vec<&str> = offered.collect();
    if offered.is_empty() {
        let _ = write!(message, " (it has no {kind}s)");
    } else {
        let _ = write!(message, " (it has: {})", offered.join(", "));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(args: Vec<Value>) -> Result<Value, String> {
        Ok(Value::Array(args))
    }

    fn node_of(event: Event) -> Result<Value, String> {
        Ok(json!(event
            .instance()
            .map(|(node, index)| format!("{node}-{index}"))))
    }

    #[test]
    fn dispatches_functions_by_name() {
        let functions: &[(&str, Function)] = &[("echo", echo)];
        assert_eq!(
            __call_function("p", "echo", "[1,\"a\"]", functions).unwrap(),
            "[1,\"a\"]"
        );
        let error = __call_function("p", "nope", "[]", functions).unwrap_err();
        assert_eq!(error, "plugin p has no function \"nope\" (it has: echo)");
        let error = __call_function("p", "echo", "{}", functions).unwrap_err();
        assert!(
            error.starts_with("function echo: the arguments are not a JSON array"),
            "{error}"
        );
    }

    #[test]
    fn events_parse_with_fields_missing() {
        let handlers: &[(&str, Handler)] = &[("node_of", node_of)];
        assert_eq!(
            __handle_event("p", "node_of", "{}", handlers).unwrap(),
            "null"
        );
        let event = r#"{"kind":"instance_exited","node":"web","index":2,"extra":1}"#;
        assert_eq!(
            __handle_event("p", "node_of", event, handlers).unwrap(),
            "\"web-2\""
        );
        let error = __handle_event("p", "other", "{}", &[]).unwrap_err();
        assert_eq!(
            error,
            "plugin p has no handler \"other\" (it has no handlers)"
        );
    }
}
