//! The JSON body of every error answer: a stable machine-readable `code`, a human
//! `message`, and for templates that do not compile, every diagnostic.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable identifier of the kind of error, e.g. `invalid_template`, `not_found`.
    pub code: String,
    pub message: String,
    /// For `invalid_template`: every problem, each with file, line and column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub diagnostics: Vec<Diagnostic>,
}

/// How bad a diagnostic is: errors make a compile fail, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem of a template, where it is (`line` and `column` are 1-based). The JSON
/// shape of the compiler's diagnostics (see the crate's documentation for why it is a
/// type of its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: severity: message`, as the compiler prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.severity, self.message
        )
    }
}

/// The stable error codes: an error body's `code`, and an exec error message's (docs/api.md).
/// A client may act on them; their messages are for people.
pub mod code {
    /// 400: a body that does not fit its type, or an exec session's bad start message.
    pub const BAD_REQUEST: &str = "bad_request";
    /// 400: a name in the path (namespace, service, node, host) that is not a valid name.
    pub const BAD_NAME: &str = "bad_name";
    /// 400: a deploy's entry is not a path relative to the package root.
    pub const BAD_ENTRY: &str = "bad_entry";
    /// 400: a deploy's package cannot be read or unpacked, or lacks its entry file.
    pub const BAD_PACKAGE: &str = "bad_package";
    /// 400: a log stream other than stdout, stderr or both.
    pub const BAD_STREAM: &str = "bad_stream";
    /// 400: a plugin registration name that is not a valid name.
    pub const INVALID_NAME: &str = "invalid_name";
    /// 400: a user event with a bad name, or too much data.
    pub const INVALID_EVENT: &str = "invalid_event";
    /// 401: no token, or the wrong one.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// 404: no such service, instance, plugin or path.
    pub const NOT_FOUND: &str = "not_found";
    /// 409: a deploy's ports are taken.
    pub const PORTS_UNAVAILABLE: &str = "ports_unavailable";
    /// 409: a deploy of a service that is being deleted.
    pub const SERVICE_DELETING: &str = "service_deleting";
    /// 409: no placement honours the policies or fits.
    pub const PLACEMENT_FAILED: &str = "placement_failed";
    /// 409: a deploy with `check_revision` of a service now at another revision.
    pub const REVISION_CHANGED: &str = "revision_changed";
    /// 413: a package larger than the limit.
    pub const PACKAGE_TOO_LARGE: &str = "package_too_large";
    /// 422: the template does not compile; the body carries every diagnostic.
    pub const INVALID_TEMPLATE: &str = "invalid_template";
    /// 422: the template compiles but cannot run here (e.g. a missing executable).
    pub const CANNOT_RUN: &str = "cannot_run";
    /// 422: a Khutulun policy that does not hold.
    pub const INVALID_POLICY: &str = "invalid_policy";
    /// 422: an output that cannot be evaluated now.
    pub const OUTPUT_UNAVAILABLE: &str = "output_unavailable";
    /// 422: an unknown operation, or one without an implementation.
    pub const NO_SUCH_OPERATION: &str = "no_such_operation";
    /// 422: a plugin that does not load.
    pub const INVALID_PLUGIN: &str = "invalid_plugin";
    /// 429: more user events than the agent takes.
    pub const TOO_MANY_EVENTS: &str = "too_many_events";
    /// 500 (internal API): an instance that did not start.
    pub const START_FAILED: &str = "start_failed";
    /// 409 (internal API): the instance is placed on another host, or this host is fenced.
    pub const NOT_HERE: &str = "not_here";
    /// 500: anything else.
    pub const INTERNAL: &str = "internal";
    /// 502: the instance's host does not answer.
    pub const HOST_UNREACHABLE: &str = "host_unreachable";
    /// 503: the shared state did not answer a read in time.
    pub const STATE_STALLED: &str = "state_stalled";
    /// 507: the state cannot hold what was sent (a full or read-only disk).
    pub const CANNOT_STORE: &str = "cannot_store";
    /// Exec error message: the command cannot be run in the instance.
    pub const CANNOT_EXEC: &str = "cannot_exec";

    /// Every code above.
    pub const ALL: &[&str] = &[
        BAD_REQUEST,
        BAD_NAME,
        BAD_ENTRY,
        BAD_PACKAGE,
        BAD_STREAM,
        INVALID_NAME,
        INVALID_EVENT,
        UNAUTHORIZED,
        NOT_FOUND,
        PORTS_UNAVAILABLE,
        SERVICE_DELETING,
        PLACEMENT_FAILED,
        REVISION_CHANGED,
        PACKAGE_TOO_LARGE,
        INVALID_TEMPLATE,
        CANNOT_RUN,
        INVALID_POLICY,
        OUTPUT_UNAVAILABLE,
        NO_SUCH_OPERATION,
        INVALID_PLUGIN,
        TOO_MANY_EVENTS,
        START_FAILED,
        NOT_HERE,
        INTERNAL,
        HOST_UNREACHABLE,
        STATE_STALLED,
        CANNOT_STORE,
        CANNOT_EXEC,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_bodies_have_the_documented_json_form() {
        let plain = ErrorBody {
            code: code::NOT_FOUND.into(),
            message: "no such service".into(),
            diagnostics: Vec::new(),
        };
        let value = serde_json::to_value(&plain).unwrap();
        // No diagnostics: the field is left out.
        assert_eq!(
            value,
            json!({"code": "not_found", "message": "no such service"})
        );
        assert_eq!(serde_json::from_value::<ErrorBody>(value).unwrap(), plain);

        let invalid = ErrorBody {
            code: code::INVALID_TEMPLATE.into(),
            message: "the template does not compile (1 problem); nothing was deployed".into(),
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                file: "service.yaml".into(),
                line: 3,
                column: 5,
                message: "unknown type".into(),
            }],
        };
        let value = serde_json::to_value(&invalid).unwrap();
        assert_eq!(
            value["diagnostics"],
            json!([{"severity": "error", "file": "service.yaml", "line": 3, "column": 5,
                "message": "unknown type"}])
        );
        assert_eq!(serde_json::from_value::<ErrorBody>(value).unwrap(), invalid);
        assert_eq!(
            invalid.diagnostics[0].to_string(),
            "service.yaml:3:5: error: unknown type"
        );
    }

    #[test]
    fn codes_are_distinct_snake_case_words() {
        let mut seen = std::collections::BTreeSet::new();
        for code in code::ALL {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!(seen.insert(code), "{code} twice");
        }
    }
}
