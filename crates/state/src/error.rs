use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source} (fix or remove the file)")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("service \"{namespace}/{service}\" not found")]
    ServiceNotFound { namespace: String, service: String },
    #[error("{0}")]
    Ports(String),
    #[error("a batched write panicked; what it carried was not written (see the agent's log)")]
    WritePanicked,
    #[error("host \"{host}\" is already served by a running agent (its {path} is locked); stop that agent or choose another --host")]
    HostTaken { host: String, path: PathBuf },
}

impl StateError {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StateError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<crate::group_commit::WritePanicked> for StateError {
    fn from(_: crate::group_commit::WritePanicked) -> Self {
        StateError::WritePanicked
    }
}

pub type StateResult<T> = Result<T, StateError>;
