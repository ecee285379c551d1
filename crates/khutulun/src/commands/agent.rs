use crate::cli::AgentArgs;
use crate::defaults;
use crate::failure::{CliResult, Failure};
use khutulun_agent::AgentConfig;

pub async fn run(args: AgentArgs, token: Option<String>) -> CliResult {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KHUTULUN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let address = args.address.unwrap_or_else(|| {
        let ip = args.api.ip();
        if ip.is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            ip.to_string()
        }
    });
    let config = AgentConfig {
        state_dir: args.state_dir.unwrap_or_else(defaults::state_dir),
        data_dir: args.data_dir.unwrap_or_else(defaults::data_dir),
        host: args.host.unwrap_or_else(defaults::host_name),
        api: args.api,
        address,
        token,
        port_range: args.port_range,
        systemd_scopes: args.systemd_scopes,
    };
    khutulun_agent::run(config).await.map_err(Failure::new)
}
