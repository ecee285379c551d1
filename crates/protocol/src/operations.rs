//! What an operation run sends back, one JSON object per line (`application/x-ndjson`):
//! output lines as they come, then exactly one `finished` or `failed`. The request body of
//! a run is [`RunRequest`](crate::requests::RunRequest).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperationMessage {
    Output {
        stream: OutputStream,
        line: String,
    },
    /// It ran: a script's exit code (0 for a plugin handler that returned Ok), and its
    /// outputs.
    Finished {
        code: i32,
        #[serde(default)]
        outputs: Map<String, Value>,
    },
    /// It could not run, or did not end on its own (time limit, trap, memory limit).
    Failed {
        message: String,
    },
}

/// `Standard.create` → (`Standard`, `create`).
pub fn split_name(operation: &str) -> Result<(&str, &str), String> {
    operation
        .split_once('.')
        .filter(|(i, o)| !i.is_empty() && !o.is_empty())
        .ok_or_else(|| {
            format!("\"{operation}\" is not an operation name: write <interface>.<operation>, e.g. Standard.configure")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_documented_json_form() {
        let output = OperationMessage::Output {
            stream: OutputStream::Stderr,
            line: "oops".into(),
        };
        let text = serde_json::to_string(&output).unwrap();
        assert_eq!(text, r#"{"type":"output","stream":"stderr","line":"oops"}"#);
        assert_eq!(
            serde_json::from_str::<OperationMessage>(&text).unwrap(),
            output
        );
        let mut outputs = Map::new();
        outputs.insert("url".into(), Value::from("http://x"));
        let finished = OperationMessage::Finished { code: 3, outputs };
        let text = serde_json::to_string(&finished).unwrap();
        assert_eq!(
            text,
            r#"{"type":"finished","code":3,"outputs":{"url":"http://x"}}"#
        );
        assert_eq!(
            serde_json::from_str::<OperationMessage>(&text).unwrap(),
            finished
        );
        assert_eq!(
            serde_json::from_str::<OperationMessage>(r#"{"type":"finished","code":0}"#).unwrap(),
            OperationMessage::Finished {
                code: 0,
                outputs: Map::new()
            }
        );
        assert_eq!(
            serde_json::to_string(&OperationMessage::Failed {
                message: "no".into()
            })
            .unwrap(),
            r#"{"type":"failed","message":"no"}"#
        );
    }

    #[test]
    fn operation_names_are_interface_dot_operation() {
        assert_eq!(
            split_name("Standard.configure"),
            Ok(("Standard", "configure"))
        );
        assert!(split_name("configure").is_err());
        assert!(split_name(".configure").is_err());
        assert!(split_name("Standard.").is_err());
    }
}
