//! API errors: an HTTP status, a stable machine-readable `code`, a human `message`, and for
//! templates that do not compile, every diagnostic.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use khutulun_tosca::Diagnostic;

/// The JSON body of every error response, and its stable codes: the protocol's.
pub use khutulun_protocol::error::{code, ErrorBody};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            diagnostics: Vec::new(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    /// The state cannot hold what was sent (a full or read-only disk): 507, in the OS's words.
    pub fn cannot_store(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            code::CANNOT_STORE,
            message,
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code::NOT_FOUND, message)
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            error.to_string(),
        )
    }

    pub fn invalid_template(diagnostics: Vec<Diagnostic>) -> ApiError {
        let errors = diagnostics.len();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: code::INVALID_TEMPLATE,
            message: format!(
                "the template does not compile ({errors} problem{}); nothing was deployed",
                if errors == 1 { "" } else { "s" }
            ),
            diagnostics,
        }
    }

    /// Maps state errors: a missing service is a 404, the rest are internal.
    pub fn from_state(error: khutulun_state::StateError) -> ApiError {
        match error {
            khutulun_state::StateError::ServiceNotFound { .. } => ApiError::not_found(format!(
                "{error}; `khutulun services` lists the services of a namespace"
            )),
            other => ApiError::internal(other),
        }
    }
}

/// The one place a flow's failure becomes an HTTP status.
impl From<crate::flow_error::FlowError> for ApiError {
    fn from(error: crate::flow_error::FlowError) -> ApiError {
        use crate::flow_error::FlowError as F;
        match error {
            F::BadInput { code, message } => ApiError::bad_request(code, message),
            F::InvalidTemplate(diagnostics) => ApiError::invalid_template(diagnostics),
            F::CannotRun { code, message } => ApiError::unprocessable(code, message),
            F::Conflict { code, message } => ApiError::conflict(code, message),
            F::NotFound(message) => ApiError::not_found(message),
            F::CannotStore(message) => ApiError::cannot_store(message),
            F::Internal(message) => ApiError::internal(message),
        }
    }
}

/// The one place a failed start of an instance becomes an HTTP status (internal API).
impl From<crate::instance_error::InstanceError> for ApiError {
    fn from(error: crate::instance_error::InstanceError) -> ApiError {
        use crate::instance_error::InstanceError as E;
        let message = error.to_string();
        match error {
            E::NotFound(_) => ApiError::not_found(message),
            E::NotHere(_) => ApiError::conflict(code::NOT_HERE, message),
            E::Failed(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::START_FAILED,
                message,
            ),
            E::State(_) => ApiError::internal(message),
            E::Unreachable { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, code::HOST_UNREACHABLE, message)
            }
            // Another agent's code, passed on when it is one of ours.
            E::Remote { code: theirs, .. } => {
                let known = code::ALL
                    .iter()
                    .find(|c| **c == theirs)
                    .copied()
                    .unwrap_or(code::INTERNAL);
                ApiError::new(StatusCode::BAD_GATEWAY, known, message)
            }
        }
    }
}

/// The one place an operation that could not be run becomes an HTTP status.
impl From<crate::operations::OperationError> for ApiError {
    fn from(error: crate::operations::OperationError) -> ApiError {
        use crate::operations::OperationError as E;
        let message = error.to_string();
        match error {
            E::NotFound(_) => ApiError::not_found(message),
            E::NoSuchOperation(_) => ApiError::unprocessable(code::NO_SUCH_OPERATION, message),
            E::NotHere(_) => ApiError::conflict(code::NOT_HERE, message),
            E::State(_) => ApiError::internal(message),
            E::CannotRun(_) => ApiError::unprocessable(code::CANNOT_RUN, message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
            diagnostics: self.diagnostics.into_iter().map(wire_diagnostic).collect(),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// A compiler diagnostic in its wire form (the same JSON).
pub fn wire_diagnostic(d: Diagnostic) -> khutulun_protocol::Diagnostic {
    khutulun_protocol::Diagnostic {
        severity: match d.severity {
            khutulun_tosca::Severity::Error => khutulun_protocol::Severity::Error,
            khutulun_tosca::Severity::Warning => khutulun_protocol::Severity::Warning,
        },
        file: d.file,
        line: d.line,
        column: d.column,
        message: d.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use khutulun_tosca::{Location, Severity};

    /// A failed start answers what the other agent can act on: gone, elsewhere, failed.
    #[test]
    fn instance_errors_map_to_statuses_and_codes() {
        use crate::instance_error::InstanceError as E;
        let cases = [
            (
                E::NotFound("x".into()),
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
            ),
            (E::NotHere("x".into()), StatusCode::CONFLICT, code::NOT_HERE),
            (
                E::Failed("x".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                code::START_FAILED,
            ),
            (
                E::Remote {
                    instance: "i".into(),
                    host: "h".into(),
                    code: code::NOT_HERE.into(),
                    message: "m".into(),
                },
                StatusCode::BAD_GATEWAY,
                code::NOT_HERE,
            ),
            (
                E::Remote {
                    instance: "i".into(),
                    host: "h".into(),
                    code: "from_a_newer_agent".into(),
                    message: "m".into(),
                },
                StatusCode::BAD_GATEWAY,
                code::INTERNAL,
            ),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.status, api.code), (status, code), "{}", api.message);
        }
    }

    /// An operation that cannot run says why in a status the user can act on; a state
    /// that cannot be read is not "no such operation".
    #[test]
    fn operation_errors_map_to_statuses_and_codes() {
        use crate::operations::OperationError as E;
        let cases = [
            (
                E::NotFound("x".into()),
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
            ),
            (
                E::NoSuchOperation("x".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
                code::NO_SUCH_OPERATION,
            ),
            (E::NotHere("x".into()), StatusCode::CONFLICT, code::NOT_HERE),
            (
                E::State("x".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
            ),
            (
                E::CannotRun("x".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
                code::CANNOT_RUN,
            ),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.status, api.code), (status, code), "{}", api.message);
        }
    }

    /// The API's diagnostics are the compiler's, in the same JSON.
    #[test]
    fn wire_diagnostics_serialize_as_the_compilers() {
        for severity in [Severity::Error, Severity::Warning] {
            let diagnostic = Diagnostic::new(
                severity,
                &Location::new("service.yaml", 3, 5),
                "unknown type",
            );
            let wire = wire_diagnostic(diagnostic.clone());
            assert_eq!(
                serde_json::to_string(&wire).unwrap(),
                serde_json::to_string(&diagnostic).unwrap()
            );
            assert_eq!(wire.to_string(), diagnostic.to_string());
        }
    }
}
