//! Names: those from a request are checked once, at the edge, by the rule of
//! `khutulun_state::Name`; those read back from the state were checked on their way in.

use crate::flow_error::FlowError;
use khutulun_state::InstanceRef;

/// Names become file names: keep them plain (the rule is `khutulun_state::Name`'s).
pub fn check_name(what: &'static str, name: &str) -> Result<(), FlowError> {
    khutulun_state::Name::parse(what, name)
        .map(|_| ())
        .map_err(|e| FlowError::bad_input(khutulun_protocol::code::BAD_NAME, e.to_string()))
}

/// The instance of names read back from the state or from an API path already checked:
/// names are validated on their way into the state (deploy checks the namespace, the
/// service and every node). A name that fails here was put there by hand; the task that
/// meets it ends with a message saying so, instead of building a path from it.
pub fn instance_ref(ns: &str, svc: &str, node: &str, index: u32) -> InstanceRef {
    InstanceRef::new(ns, svc, node, index).unwrap_or_else(|e| {
        panic!("the state holds a name that was never valid ({e}): was the state directory edited by hand?")
    })
}
