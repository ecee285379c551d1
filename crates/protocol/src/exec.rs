//! The messages of an exec WebSocket.
//!
//! The client opens `GET /v1/namespaces/{ns}/services/{name}/instances/{node}/{index}/exec`
//! as a WebSocket (with the same bearer token as every call) and sends a text
//! [`ClientMessage::Start`] first. Afterwards:
//! - client → agent: binary frames are the command's standard input; text frames are
//!   [`ClientMessage::Resize`] or [`ClientMessage::Eof`] (no more input).
//! - agent → client: binary frames are output, the first byte naming the stream
//!   ([`STDOUT`] or [`STDERR`]; under a terminal everything is stdout); the last frame is a
//!   text [`ServerMessage::Exit`] with the exit code, or [`ServerMessage::Error`] when
//!   the command could not be run at all.

use serde::{Deserialize, Serialize};

/// First byte of an output frame from the command's standard output.
pub const STDOUT: u8 = 1;
/// First byte of an output frame from the command's standard error.
pub const STDERR: u8 = 2;

/// Exit code when the command was found but could not be executed (as a shell says).
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit code when the command was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermSize {
    pub rows: u16,
    pub cols: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Run under a pseudo-terminal (implies `stdin`).
    #[serde(default)]
    pub tty: bool,
    /// Pass the client's standard input; without it the command reads an empty input.
    #[serde(default)]
    pub stdin: bool,
    /// The terminal's size, under `tty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TermSize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Start(ExecRequest),
    Resize(TermSize),
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The command ended: its exit code, or 128 + the signal that ended it.
    Exit { code: i32 },
    /// The command was not run: a stable `code` and what to do.
    Error { code: String, message: String },
}

/// The WebSocket base of an HTTP base URL: `http://h:p` → `ws://h:p`, `https://` →
/// `wss://` (anything else as it is).
pub fn websocket_base(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    }
}

/// An output frame: the stream byte, then the bytes.
pub fn output_frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(stream);
    frame.extend_from_slice(data);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_a_stable_json_form() {
        let start = ClientMessage::Start(ExecRequest {
            command: vec!["sh".into(), "-c".into(), "exit 3".into()],
            tty: true,
            stdin: true,
            size: Some(TermSize { rows: 24, cols: 80 }),
        });
        let text = serde_json::to_string(&start).unwrap();
        assert_eq!(
            text,
            r#"{"type":"start","command":["sh","-c","exit 3"],"tty":true,"stdin":true,"size":{"rows":24,"cols":80}}"#
        );
        assert_eq!(serde_json::from_str::<ClientMessage>(&text).unwrap(), start);
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"eof"}"#).unwrap(),
            ClientMessage::Eof
        );
        assert_eq!(
            serde_json::to_string(&ServerMessage::Exit { code: 3 }).unwrap(),
            r#"{"type":"exit","code":3}"#
        );
    }

    #[test]
    fn output_frames_lead_with_their_stream() {
        assert_eq!(output_frame(STDERR, b"oops"), b"\x02oops");
    }

    #[test]
    fn http_bases_become_websocket_bases() {
        assert_eq!(websocket_base("http://10.0.0.2:8181"), "ws://10.0.0.2:8181");
        assert_eq!(
            websocket_base("https://a.example:443"),
            "wss://a.example:443"
        );
        assert_eq!(websocket_base("ws://x"), "ws://x");
    }
}
