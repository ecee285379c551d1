//! What the Khutulun agent and its clients say to each other: the wire types of the HTTP
//! API (docs/api.md) and nothing else. No IO, no Khutulun crate: the agent serves these
//! types and the CLI reads them, and neither needs the other to know their shape.
//!
//! - [`views`]: what the API answers (health, services, instances, hosts, gossip, plugins,
//!   a drain's result).
//! - [`requests`]: the JSON bodies a client sends (deploy, run an operation, emit an event).
//! - [`error`]: the JSON body of every error answer, and the stable error [`code`]s.
//! - [`exec`]: the messages of the exec WebSocket.
//! - [`operations`]: the NDJSON messages of an operation run.
//! - [`size`]: sizes such as `512 MiB`, as the profile's Size type writes them.
//!
//! **Diagnostics.** An `invalid_template` error carries the compiler's diagnostics. They
//! are a wire type of their own here ([`error::Diagnostic`], the same JSON shape as
//! `khutulun_tosca::Diagnostic`), not the compiler's type: the protocol then depends on no
//! Khutulun crate (a client gets no YAML parser with it), and the JSON the API documents
//! does not change when the compiler's type does. The agent converts its diagnostics into
//! these where it answers an error; a test there checks that both serialize alike.
//!
//! **Conversions** from the state's records (an instance record into an
//! [`InstanceView`](views::InstanceView), ...) live in the agent, which knows the records.
//!
//! With the `openapi` feature every type derives `utoipa::ToSchema`, for the OpenAPI
//! document the agent serves at `/v1/openapi.json`.

pub mod error;
pub mod exec;
pub mod operations;
pub mod requests;
pub mod size;
pub mod views;

pub use error::{code, Diagnostic, ErrorBody, Severity};
pub use size::parse_size;
