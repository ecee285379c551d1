//! The Khutulun agent: one per host, every one a master. It serves the HTTP API, runs the
//! orchestration flows (deploy, delete, restart, adoption) and publishes events.

mod adopt;
mod agent;
pub mod api;
mod assign;
mod bus;
mod commit;
mod compile;
mod config;
mod containers;
mod crash;
mod delete;
mod deploy;
mod drain;
pub mod exec;
mod exposure;
mod failover;
mod flow_error;
mod fscheck;
pub mod handlers;
mod hosts;
mod instance;
mod instance_error;
mod lease;
mod local;
mod locks;
mod membership;
mod memory;
mod names;
pub mod operations;
mod package;
mod peers;
mod placement;
pub mod plugins;
mod rate;
mod readiness;
mod registry;
mod relocate;
mod remote;
mod restart;
mod runtime;
mod supervisor;
#[cfg(test)]
mod testing;
mod waves;
mod workload;

pub use agent::{run, Agent};
pub use compile::{compile_package, CompileError};
pub use config::{AgentConfig, GossipConfig};
pub use khutulun_cluster::{generate_key, parse_key};
pub use memory::agent_runtime;
pub use package::{pack_directory, unpack};
