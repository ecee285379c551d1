//! khutulun-graph: the representation graph of a deployed service.
//!
//! - [`instantiate`]: a compiled TOSCA service template plus input values gives a
//!   [`ServiceGraph`], with every value evaluated that can be before run time;
//! - [`start_order`], [`stop_order`], [`dependencies_of`]: dependency order of nodes;
//! - [`evaluate`]: run-time evaluation of what stayed a function call (`$get_attribute` and
//!   what uses it) against the runtime state ([`RuntimeAttributes`]);
//! - [`instantiate_with`], [`evaluate_with`]: the same with custom functions (§10.4) computed
//!   by the orchestrator ([`CustomFunctions`]);
//! - [`diff`]: what differs between two revisions, node by node (a redeploy's plan).
//!
//! Pure: no IO.

pub mod diff;
pub mod eval;
mod instantiate;
pub mod model;
mod order;

pub use diff::{
    changed_files, diff, files_of_node, unnamed_changed_files, FileDigests, NodeAction, NodeChange,
};
pub use eval::{
    evaluate, evaluate_with, CustomFunctions, EvalContext, EvalError, NoFunctions, NoRuntime,
    RuntimeAttributes,
};
pub use instantiate::{convert, instantiate, instantiate_with};
pub use model::*;
pub use order::{dependencies_of, start_order, stop_order, CycleError};

#[cfg(test)]
mod tests;
