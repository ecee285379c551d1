use crate::cli::AgentArgs;
use crate::defaults;
use crate::failure::{CliResult, Failure};
use khutulun_agent::{AgentConfig, GossipConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

pub async fn run(args: AgentArgs, token: Option<String>) -> CliResult {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KHUTULUN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // With a token the API is on TCP as before (127.0.0.1:8181 unless told otherwise);
    // without one only the Unix socket is served (`validate` refuses --api without a token).
    let has_token = token.as_deref().is_some_and(|t| !t.is_empty());
    let api = args
        .api
        .or_else(|| has_token.then(|| SocketAddr::from(([127, 0, 0, 1], 8181))));
    let api_ip = api.map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    let address = args.address.unwrap_or_else(|| {
        if api_ip.is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            api_ip.to_string()
        }
    });
    let labels = parse_labels(&args.labels)?;
    let memory_bytes = args
        .memory
        .as_deref()
        .map(|m| {
            khutulun_protocol::parse_size(m).map_err(|e| Failure::new(format!("--memory {e}")))
        })
        .transpose()?;
    let key =
        match &args.key_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Failure::new(format!(
                        "cannot read the cluster key file {}: {e}",
                        path.display()
                    ))
                })?;
                Some(khutulun_agent::parse_key(&text).map_err(|e| {
                    Failure::new(format!("cluster key file {}: {e}", path.display()))
                })?)
            }
        };
    let gossip_bind = args.gossip.unwrap_or_else(|| SocketAddr::new(api_ip, 8183));
    // Relative directories are taken from where the agent starts, once: its flows and the
    // processes it starts do not share its working directory.
    let absolute = |path: PathBuf| {
        std::path::absolute(&path)
            .map_err(|e| Failure::new(format!("cannot make {} absolute: {e}", path.display())))
    };
    let data_dir = absolute(args.data_dir.unwrap_or_else(defaults::data_dir))?;
    let config = AgentConfig {
        state_dir: absolute(args.state_dir.unwrap_or_else(defaults::state_dir))?,
        socket: absolute(args.socket.unwrap_or_else(|| data_dir.join("agent.sock")))?,
        data_dir,
        host: args.host.unwrap_or_else(defaults::host_name),
        api,
        address,
        token,
        port_range: args.port_range,
        systemd_scopes: args.systemd_scopes,
        labels,
        cpus: args.cpus,
        memory_bytes,
        gossip: GossipConfig {
            bind: gossip_bind,
            seeds: args.seeds,
            multicast: args.multicast.then_some(args.multicast_group),
            key,
            fast: args.gossip_profile == "fast",
        },
        docker_socket: args.docker_socket,
        lease_period: std::time::Duration::from_secs(args.lease_period),
        clock_skew: std::time::Duration::from_secs(args.clock_skew),
        plugin_limits: khutulun_plugins::Limits {
            timeout: std::time::Duration::from_millis(args.plugin_timeout_ms),
            memory: khutulun_protocol::parse_size(&args.plugin_memory)
                .map_err(|e| Failure::new(format!("--plugin-memory: {e}")))?
                as usize,
        },
    };
    // Not dumpable: its /proc entries (environ with KHUTULUN_TOKEN, memory, descriptors)
    // belong to root, so a workload running as the agent's own user cannot read them.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        eprintln!("warning: cannot make the agent non-dumpable ({e}): workloads running as its user could read its environment");
    }
    khutulun_agent::run(config).await.map_err(Failure::new)
}

fn parse_labels(given: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut labels = BTreeMap::new();
    for label in given {
        let (key, value) = label
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| {
                Failure::new(format!(
                    "--label \"{label}\" must look like KEY=VALUE, e.g. --label disk=ssd"
                ))
            })?;
        labels.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(labels)
}
