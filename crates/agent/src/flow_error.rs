//! How a flow (deploy, delete) fails, in its own terms. Flows know nothing of HTTP: only
//! `api::error` maps each kind to a status (see ARCHITECTURE.md, "The agent in layers").

use khutulun_tosca::Diagnostic;

#[derive(Debug)]
pub enum FlowError {
    /// What was sent is wrong: a name, an entry, a package (`code` says which).
    BadInput {
        code: &'static str,
        message: String,
    },
    /// The template does not compile: every diagnostic.
    InvalidTemplate(Vec<Diagnostic>),
    /// It compiles but cannot run here or breaks a rule (a policy, a missing executable).
    CannotRun {
        code: &'static str,
        message: String,
    },
    /// It conflicts with what is: ports, placement, a delete under way.
    Conflict {
        code: &'static str,
        message: String,
    },
    NotFound(String),
    /// The state cannot hold it (full, over quota, read-only), in the OS's words.
    CannotStore(String),
    Internal(String),
}

impl FlowError {
    pub fn bad_input(code: &'static str, message: impl Into<String>) -> FlowError {
        FlowError::BadInput {
            code,
            message: message.into(),
        }
    }

    pub fn cannot_run(code: &'static str, message: impl Into<String>) -> FlowError {
        FlowError::CannotRun {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> FlowError {
        FlowError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn internal(error: impl std::fmt::Display) -> FlowError {
        FlowError::Internal(error.to_string())
    }

    /// A state read that failed: a missing service is `NotFound`, the rest internal.
    pub fn from_state(error: khutulun_state::StateError) -> FlowError {
        match error {
            khutulun_state::StateError::ServiceNotFound { .. } => FlowError::NotFound(format!(
                "{error}; `khutulun services` lists the services of a namespace"
            )),
            other => FlowError::internal(other),
        }
    }

    /// A state write that failed: a full, over-quota or read-only state is `CannotStore`
    /// (the user can act on it), anything else internal.
    pub fn from_state_write(error: khutulun_state::StateError) -> FlowError {
        use std::io::ErrorKind;
        match &error {
            khutulun_state::StateError::Io { source, .. }
                if matches!(
                    source.kind(),
                    ErrorKind::StorageFull
                        | ErrorKind::QuotaExceeded
                        | ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                FlowError::CannotStore(format!(
                    "{error}: free space on the state's filesystem (or make it writable), then deploy again"
                ))
            }
            _ => FlowError::internal(error),
        }
    }

    /// The message a person reads.
    pub fn message(&self) -> String {
        match self {
            FlowError::BadInput { message, .. }
            | FlowError::CannotRun { message, .. }
            | FlowError::Conflict { message, .. }
            | FlowError::NotFound(message)
            | FlowError::CannotStore(message)
            | FlowError::Internal(message) => message.clone(),
            FlowError::InvalidTemplate(diagnostics) => format!(
                "the template has {} error(s): {}",
                diagnostics.len(),
                diagnostics
                    .iter()
                    .map(|d| d.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}
