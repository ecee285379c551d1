//! Counts the failures of instances and tells when there were too many, as a Khutulun plugin.
//!
//! Handler `count_failures`, for events about an instance (e.g. `instance_exited`,
//! `instance_failed`):
//!
//! 1. reads the instance's runtime attribute `failures` (unset or null counts as 0),
//! 2. adds 1 and sets the attribute,
//! 3. when the count reaches the threshold (the operation input `threshold`, default 3),
//!    emits the user event `failures_exceeded` about the instance, with data
//!    `{"node": ..., "index": ..., "failures": ...}`; once, at the count that reaches it
//!    (resetting the attribute re-arms it),
//! 4. returns `{"failures": <count>}`.
//!
//! An event that names no instance, a `failures` attribute that is not a non-negative
//! integer, or a threshold that is not a positive integer fail the call with a message.

use khutulun_plugin_sdk::{host, json, plugin, Event, Value};

/// The threshold when the operation gives none.
const DEFAULT_THRESHOLD: u64 = 3;

fn count_failures(event: Event) -> Result<Value, String> {
    let (node, index) = event
        .instance()
        .ok_or("count_failures: the event is not about an instance (it has no node and index)")?;
    let threshold = match event.input("threshold") {
        None => DEFAULT_THRESHOLD,
        Some(value) => positive(value).ok_or_else(|| {
            format!("count_failures: the input threshold must be a positive integer, got {value}")
        })?,
    };
    let failures = match host::get_attribute(node, index, "failures")? {
        Value::Null => 0,
        value => value.as_u64().ok_or_else(|| {
            format!(
                "count_failures: the attribute failures of {node}-{index} is not a count: {value}"
            )
        })?,
    } + 1;
    host::set_attribute(node, index, "failures", failures)?;
    if failures == threshold {
        host::log(
            host::Level::Warn,
            &format!("{node}-{index} failed {failures} times (threshold {threshold})"),
        );
        host::emit_event(
            "failures_exceeded",
            Some(node),
            Some(index),
            json!({ "node": node, "index": index, "failures": failures }),
        )?;
    }
    Ok(json!({ "failures": failures }))
}

/// A positive integer, or its text.
fn positive(value: &Value) -> Option<u64> {
    let number = match value {
        Value::String(text) => text.trim().parse().ok(),
        other => other.as_u64(),
    }?;
    (number > 0).then_some(number)
}

plugin! {
    name: "failure-watch",
    functions: [],
    handlers: [count_failures],
}
