//! The Khutulun agent: one per host, every one a master. It serves the HTTP API, runs the
//! orchestration flows (deploy, delete, restart, adoption) and publishes events.

mod adopt;
mod agent;
pub mod api;
mod bus;
mod compile;
mod config;
mod delete;
mod deploy;
mod package;
mod readiness;
mod restart;
mod runtime;
mod supervisor;
mod workload;

pub use agent::{run, Agent};
pub use compile::{compile_package, CompileError};
pub use config::AgentConfig;
pub use package::{pack_directory, unpack};
