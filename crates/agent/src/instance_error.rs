//! Why work on one instance failed (a start on this host or through another host's agent),
//! in its own terms. Flows report it in records and events; only `api::internal` maps it to
//! a status, and `remote` reads another agent's answer back into it.

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// The service, its current revision or the instance's record is not in the state.
    #[error("{0}")]
    NotFound(String),
    /// This host may not run it now: it is placed on another host, or the host is fenced.
    #[error("{0}")]
    NotHere(String),
    /// Its workload, a lifecycle operation or its delegate failed; its record says so too.
    #[error("{0}")]
    Failed(String),
    /// The shared state could not be read.
    #[error("{0}")]
    State(String),
    /// Another host's agent could not be asked (no address, no answer).
    #[error("{instance} on host {host}: {cause}")]
    Unreachable {
        instance: String,
        host: String,
        cause: String,
    },
    /// Another host's agent answered that it could not do it.
    #[error("{instance} on host {host}: {message}")]
    Remote {
        instance: String,
        host: String,
        /// The error code of its answer (`khutulun_protocol::code`).
        code: String,
        message: String,
    },
}

impl InstanceError {
    pub fn state(error: impl std::fmt::Display) -> InstanceError {
        InstanceError::State(error.to_string())
    }
}
