use khutulun_state::PortRange;
use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;

/// How the agent takes part in gossip.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// The UDP socket to bind.
    pub bind: SocketAddr,
    /// Members to join through ("host:port").
    pub seeds: Vec<String>,
    /// Multicast discovery group, when on.
    pub multicast: Option<SocketAddrV4>,
    /// The cluster key; gossip is plaintext without one.
    pub key: Option<[u8; 32]>,
    /// Quicker failure detection (tests, small LANs).
    pub fast: bool,
}

/// Everything an agent needs to know to start.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The shared state directory.
    pub state_dir: PathBuf,
    /// This host's own data: logs, per-instance directories.
    pub data_dir: PathBuf,
    /// This host's name in the cluster.
    pub host: String,
    /// Where the HTTP API listens.
    pub api: SocketAddr,
    /// The address workloads on this host are reached at.
    pub address: String,
    /// Bearer token required by the API; mandatory when `api` is not loopback.
    pub token: Option<String>,
    /// Ports handed out to endpoints that ask for any port.
    pub port_range: PortRange,
    /// Wrap processes in transient systemd user scopes when a user manager runs.
    pub systemd_scopes: bool,
    /// Labels placement policies match against.
    pub labels: BTreeMap<String, String>,
    /// CPUs and memory offered to workloads; None = what the machine has.
    pub cpus: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub gossip: GossipConfig,
    /// The Docker Engine's socket for the docker delegate; None = DOCKER_HOST, else
    /// /var/run/docker.sock.
    pub docker_socket: Option<PathBuf>,
    /// How long one plugin call may run and how much memory it may use.
    pub plugin_limits: khutulun_plugins::Limits,
    /// The host lease (see `khutulun_state::lease`).
    pub lease_period: std::time::Duration,
    /// How far hosts' clocks may disagree.
    pub clock_skew: std::time::Duration,
}

impl AgentConfig {
    /// Refuses configurations that would be unsafe or cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(token) = &self.token {
            if !token.is_empty() && token.trim().is_empty() {
                return Err("the token is blank (only whitespace): give a real secret with --token or KHUTULUN_TOKEN".into());
            }
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("the token holds whitespace or control characters, which an HTTP header cannot carry: use printable characters only".into());
            }
        }
        if !self.api.ip().is_loopback() && self.token.as_deref().unwrap_or("").is_empty() {
            return Err(format!(
                "the API address {} is reachable from other machines, so a token is required: pass --token or set KHUTULUN_TOKEN (or listen on 127.0.0.1)",
                self.api
            ));
        }
        if self.host.is_empty() || self.host.contains('/') || self.host.starts_with('.') {
            return Err(format!(
                "host name \"{}\" is not usable: it must be non-empty, without '/' and not start with '.'",
                self.host
            ));
        }
        Ok(())
    }

    pub fn api_url(&self) -> String {
        let ip = self.api.ip();
        let host = if ip.is_unspecified() {
            self.address.clone()
        } else {
            ip.to_string()
        };
        if host.contains(':') {
            format!("http://[{host}]:{}", self.api.port())
        } else {
            format!("http://{host}:{}", self.api.port())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(api: &str, token: Option<&str>) -> AgentConfig {
        AgentConfig {
            state_dir: "/tmp/s".into(),
            data_dir: "/tmp/d".into(),
            host: "h".into(),
            api: api.parse().unwrap(),
            address: "127.0.0.1".into(),
            token: token.map(str::to_owned),
            port_range: PortRange::default(),
            systemd_scopes: false,
            labels: BTreeMap::new(),
            cpus: None,
            memory_bytes: None,
            gossip: GossipConfig {
                bind: "127.0.0.1:0".parse().unwrap(),
                seeds: Vec::new(),
                multicast: None,
                key: None,
                fast: false,
            },
            docker_socket: None,
            plugin_limits: Default::default(),
            lease_period: std::time::Duration::from_secs(30),
            clock_skew: std::time::Duration::from_secs(2),
        }
    }

    #[test]
    fn non_loopback_api_needs_a_token() {
        assert!(config("127.0.0.1:8181", None).validate().is_ok());
        let err = config("0.0.0.0:8181", None).validate().unwrap_err();
        assert!(err.contains("a token is required"), "{err}");
        assert!(config("0.0.0.0:8181", Some("s3cret")).validate().is_ok());
    }

    #[test]
    fn blank_tokens_and_tokens_with_spaces_are_refused() {
        for token in ["   ", "\t", "two words", "tab\tinside", "new\nline"] {
            let err = config("0.0.0.0:8181", Some(token)).validate().unwrap_err();
            assert!(err.contains("token"), "{token:?}: {err}");
            assert!(config("127.0.0.1:8181", Some(token)).validate().is_err());
        }
        assert!(config("127.0.0.1:8181", Some("")).validate().is_ok());
    }
}
