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
    /// Where the HTTP API listens on TCP; only with a token (see `validate`).
    pub api: Option<SocketAddr>,
    /// The API's Unix socket, for this host's own users: mode 0600, owned by the agent's
    /// user, served always and without a token (the kernel says who connects).
    pub socket: PathBuf,
    /// The address workloads on this host are reached at.
    pub address: String,
    /// Bearer token required on TCP; the API is served on TCP only with one.
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
        let token = self.token.as_deref().unwrap_or("");
        if let (Some(api), true) = (self.api, token.is_empty()) {
            return Err(if api.ip().is_loopback() {
                format!(
                    "serving the API on TCP ({api}) needs a token: without one, every local user could act as this agent's user through it. Give a token (--token-file or KHUTULUN_TOKEN), or drop --api and use the agent's Unix socket ({})",
                    self.socket.display()
                )
            } else {
                format!(
                    "the API address {api} is reachable from other machines, so a token is required: pass --token-file or set KHUTULUN_TOKEN (or drop --api and use the Unix socket {})",
                    self.socket.display()
                )
            });
        }
        let joins = !self.gossip.seeds.is_empty() || self.gossip.multicast.is_some();
        if joins && self.api.is_none() {
            return Err("joining a cluster (--seed or --multicast) needs the API on TCP, where the other agents call it: give every agent the same token (--token-file or KHUTULUN_TOKEN) and an --api address".into());
        }
        if self.socket.as_os_str().len() > 100 {
            return Err(format!(
                "the socket path {} is too long for a Unix socket (at most 100 bytes here): choose a shorter --socket",
                self.socket.display()
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

    /// Where other agents reach this one: its TCP address, or `unix:<socket>` when it serves
    /// only its Unix socket (then only this host's own clients can).
    pub fn api_url(&self) -> String {
        let Some(api) = self.api else {
            return format!("unix:{}", self.socket.display());
        };
        let ip = api.ip();
        let host = if ip.is_unspecified() {
            self.address.clone()
        } else {
            ip.to_string()
        };
        if host.contains(':') {
            format!("http://[{host}]:{}", api.port())
        } else {
            format!("http://{host}:{}", api.port())
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
            api: Some(api)
                .filter(|a| !a.is_empty())
                .map(|a| a.parse().unwrap()),
            socket: "/tmp/d/agent.sock".into(),
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
    fn tcp_needs_a_token_and_the_unix_socket_does_not() {
        assert!(config("", None).validate().is_ok());
        assert_eq!(config("", None).api_url(), "unix:/tmp/d/agent.sock");
        let err = config("127.0.0.1:8181", None).validate().unwrap_err();
        assert!(err.contains("needs a token"), "{err}");
        assert!(err.contains("/tmp/d/agent.sock"), "{err}");
        let err = config("0.0.0.0:8181", None).validate().unwrap_err();
        assert!(err.contains("a token is required"), "{err}");
        assert!(config("0.0.0.0:8181", Some("s3cret")).validate().is_ok());
        assert!(config("127.0.0.1:8181", Some("s3cret")).validate().is_ok());
    }

    #[test]
    fn a_cluster_needs_the_api_on_tcp() {
        let mut joining = config("", None);
        joining.gossip.seeds = vec!["10.0.0.1:8183".into()];
        let err = joining.validate().unwrap_err();
        assert!(err.contains("--seed or --multicast"), "{err}");
        let mut joining = config("10.0.0.2:8181", Some("s3cret"));
        joining.gossip.seeds = vec!["10.0.0.1:8183".into()];
        assert!(joining.validate().is_ok());
    }

    #[test]
    fn blank_tokens_and_tokens_with_spaces_are_refused() {
        for token in ["   ", "\t", "two words", "tab\tinside", "new\nline"] {
            let err = config("0.0.0.0:8181", Some(token)).validate().unwrap_err();
            assert!(err.contains("token"), "{token:?}: {err}");
            assert!(config("", Some(token)).validate().is_err());
        }
        assert!(config("", Some("")).validate().is_ok());
    }
}
