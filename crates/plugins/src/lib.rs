//! Khutulun's plugins: WebAssembly components of the world `khutulun:plugin/plugin`
//! (`wit/khutulun-plugin.wit`) that offer custom TOSCA functions and event handlers, and the
//! wasmtime host that runs them.
//!
//! ```no_run
//! use std::path::Path;
//! use std::sync::Arc;
//! use khutulun_plugins::{Limits, NoHostApi, PluginHost};
//!
//! let host = PluginHost::new(Path::new("/var/lib/khutulun/plugin-cache"), Limits::default())?;
//! let plugin = host.load(Path::new("target/plugins/text-functions.wasm"))?;
//! println!("{:?}", plugin.manifest());
//! let upper = host.call_function(&plugin, "upper", &["web".into()], Arc::new(NoHostApi))?;
//! assert_eq!(upper, "WEB");
//! # Ok::<(), khutulun_plugins::PluginError>(())
//! ```
//!
//! - [`PluginHost::load`] compiles a component once per content (SHA-256 of its bytes) and
//!   keeps the compilation in the cache directory as `<sha256>-<engine>.cwasm`, so later
//!   hosts (agent restarts) only map it; then it links it and asks its [`Manifest`].
//! - [`PluginHost::call_function`] and [`PluginHost::handle_event`] instantiate the plugin
//!   afresh for each call (from a pool of [`CONCURRENT_CALLS`] instances), with WASI granting
//!   nothing (no files, environment, arguments, network; stdout/stderr go to the log) and
//!   the [`HostApi`] the caller passes. A call is stopped after [`Limits::timeout`] and may
//!   not grow a memory past [`Limits::memory`]; such a call fails alone
//!   ([`PluginError::Timeout`], [`PluginError::MemoryExceeded`], [`PluginError::Trap`]).
//!
//! Plugins are written with the `khutulun-plugin-sdk` crate (`crates/plugin-sdk`); Khutulun's
//! own are in `plugins/`, built by `scripts/build-plugins` into `target/plugins/`.

mod api;
mod error;
mod host;
mod state;

pub use api::{HostApi, Level, NoHostApi, NOT_AVAILABLE};
pub use error::PluginError;
pub use host::{Limits, Manifest, Plugin, PluginHost, CONCURRENT_CALLS, EPOCH_TICK};

/// The generated bindings of the world (`wit/`).
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "plugin",
    });
}

/// The WIT package, as text (the contract plugins are written against).
pub const WIT: &str = include_str!("../wit/khutulun-plugin.wit");
