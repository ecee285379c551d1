//! The errors of loading and calling plugins.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// What went wrong with a plugin. Each message names the plugin and what was called
/// (`what`, e.g. `function "upper" of plugin text-functions`).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The host could not be set up (cache directory, wasmtime, the epoch thread).
    #[error("cannot set up the plugin host: {reason}")]
    Setup { reason: String },

    /// The file could not be read, is not a component, is not a Khutulun plugin (does not
    /// fit the `khutulun:plugin/plugin` world or imports what the host does not grant), or
    /// its manifest could not be had.
    #[error("cannot load plugin {}: {reason}", path.display())]
    Load { path: PathBuf, reason: String },

    /// The call ran past the time limit and was stopped.
    #[error("{what} did not finish within {}; it was stopped", Shown(*limit))]
    Timeout { what: String, limit: Duration },

    /// The call tried to grow a memory of the plugin past the memory limit and was stopped.
    #[error("{what} tried to use more than {} of memory", Bytes(*limit))]
    MemoryExceeded { what: String, limit: usize },

    /// The plugin crashed: a panic, or another trap (e.g. an out-of-bounds access).
    #[error("{what} crashed: {message}")]
    Trap { what: String, message: String },

    /// The plugin returned an error (or a result that is not JSON).
    #[error("{what} failed: {message}")]
    Failed { what: String, message: String },

    /// The plugin's manifest lists no function (or handler) of that name.
    #[error(
        "plugin {plugin} has no {kind} \"{name}\" ({})",
        Available(available, kind)
    )]
    NoSuchExport {
        plugin: String,
        /// `function` or `handler`.
        kind: &'static str,
        name: String,
        available: Vec<String>,
    },
}

/// A duration as a person writes it: `2s`, `200ms`, `1.5s`.
struct Shown(Duration);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis.is_multiple_of(1000) {
            write!(f, "{}s", millis / 1000)
        } else if millis >= 1000 {
            write!(f, "{}s", self.0.as_secs_f64())
        } else {
            write!(f, "{millis}ms")
        }
    }
}

/// A size in the largest binary unit that divides it: `64 MiB`, `1536 KiB`.
struct Bytes(usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (size, unit) in UNITS {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{} {unit}", self.0 / size);
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

struct Available<'a>(&'a [String], &'a str);

impl fmt::Display for Available<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            write!(f, "it has no {}s", self.1)
        } else {
            write!(f, "it has: {}", self.0.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let what = "function \"spin\" of plugin misbehaving".to_string();
        let timeout = PluginError::Timeout {
            what: what.clone(),
            limit: Duration::from_secs(2),
        };
        assert_eq!(
            timeout.to_string(),
            "function \"spin\" of plugin misbehaving did not finish within 2s; it was stopped"
        );
        let timeout = PluginError::Timeout {
            what: what.clone(),
            limit: Duration::from_millis(200),
        };
        assert!(timeout.to_string().contains("within 200ms"));
        let memory = PluginError::MemoryExceeded {
            what,
            limit: 64 << 20,
        };
        assert!(memory
            .to_string()
            .ends_with("tried to use more than 64 MiB of memory"));
        let missing = PluginError::NoSuchExport {
            plugin: "text-functions".into(),
            kind: "function",
            name: "nope".into(),
            available: vec!["lower".into(), "upper".into()],
        };
        assert_eq!(
            missing.to_string(),
            "plugin text-functions has no function \"nope\" (it has: lower, upper)"
        );
        let missing = PluginError::NoSuchExport {
            plugin: "text-functions".into(),
            kind: "handler",
            name: "h".into(),
            available: vec![],
        };
        assert_eq!(
            missing.to_string(),
            "plugin text-functions has no handler \"h\" (it has no handlers)"
        );
    }
}
