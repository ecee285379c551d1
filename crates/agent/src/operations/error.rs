//! Why an operation could not be run, in its own terms; `api::error` alone maps it to a
//! status. An operation that ran and exited non-zero is not an error: its end says so.

#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// The service or the instance is not in the state.
    #[error("{0}")]
    NotFound(String),
    /// The name is not an operation name, or the node or relationship has no such
    /// operation, or it has no implementation.
    #[error("{0}")]
    NoSuchOperation(String),
    /// The instance is placed on another host (an internal call that reached the wrong one).
    #[error("{0}")]
    NotHere(String),
    /// The shared state could not be read.
    #[error("{0}")]
    State(String),
    /// It could not be run: its inputs, its script or plugin, or another host's agent.
    #[error("{0}")]
    CannotRun(String),
}
