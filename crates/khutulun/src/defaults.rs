//! Where a single host keeps things when nobody says otherwise: /var/lib/khutulun as root,
//! else the XDG state directory.

use std::path::PathBuf;

pub fn base_dir() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/khutulun");
    }
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    xdg.join("khutulun")
}

pub fn state_dir() -> PathBuf {
    base_dir().join("state")
}

pub fn data_dir() -> PathBuf {
    base_dir().join("data")
}

/// The local agent's API socket: `agent.sock` in its data directory (KHUTULUN_DATA_DIR when
/// set, as the agent reads it too).
pub fn socket() -> PathBuf {
    std::env::var_os("KHUTULUN_DATA_DIR")
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(data_dir)
        .join("agent.sock")
}

pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .split('.')
        .next()
        .unwrap_or("localhost")
        .to_owned()
}
