//! `up`: the one command a new user runs. Ensure a local agent, deploy, wait, print outputs.

use crate::cli::{Format, Global};
use crate::client::{Client, Endpoint};
use crate::defaults;
use crate::failure::{CliResult, Failure};
use crate::package;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub async fn run(
    client: &Client,
    global: &Global,
    ns: &str,
    path: &Path,
    name: Option<String>,
    inputs: &[String],
    timeout: u64,
) -> CliResult {
    ensure_agent(client, global).await?;
    let name = name.unwrap_or_else(|| package::default_name(path));
    eprintln!("deploying {} as {ns}/{name}", path.display());
    super::deploy::send(client, ns, &name, path, inputs, None).await?;
    super::deploy::wait_until_deployed(client, ns, &name, timeout).await?;
    eprintln!("{ns}/{name} is running");
    super::query::outputs(client, ns, &name, Format::Table).await
}

/// Starts a local agent in the background when none answers at the --agent socket (or
/// loopback URL).
async fn ensure_agent(client: &Client, global: &Global) -> CliResult {
    if client.reachable().await {
        return Ok(());
    }
    let listen = match client.endpoint() {
        Endpoint::Socket(path) => vec!["--socket".into(), path.display().to_string()],
        Endpoint::Url(given) => {
            let url = reqwest::Url::parse(given)
                .map_err(|e| Failure::new(format!("--agent {given} is not a URL: {e}")))?;
            let host = url.host_str().unwrap_or_default().to_owned();
            let local = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]" | "::1");
            if !local {
                return Err(Failure::new(format!(
                    "no agent answers at {given}; `up` starts an agent only on this machine (127.0.0.1); start the remote one first"
                )));
            }
            if global.token.is_none() {
                return Err(Failure::new(format!(
                    "no agent answers at {given}, and an agent serves TCP only with a token: give one (--token-file or KHUTULUN_TOKEN), or leave --agent out to use the local agent's socket"
                )));
            }
            let port = url.port_or_known_default().unwrap_or(8181);
            vec!["--api".into(), format!("127.0.0.1:{port}")]
        }
    };
    let data_dir = std::env::var_os("KHUTULUN_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(defaults::data_dir);
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", data_dir.display())))?;
    let log_path = data_dir.join("agent.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Failure::new(format!("cannot open {}: {e}", log_path.display())))?;
    let exe = std::env::current_exe()?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("agent")
        .args(&listen)
        // A local single-host agent: gossip on any free loopback port, never in the way.
        .arg("--gossip")
        .arg("127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(token) = &global.token {
        command.env("KHUTULUN_TOKEN", token);
    }
    // Its own session: the agent outlives this command and the terminal.
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| Failure::new(format!("cannot start a local agent: {e}")))?;
    eprintln!(
        "started a local agent (pid {}) on {}; its log is {}",
        child.id(),
        client.endpoint(),
        log_path.display()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.reachable().await {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Failure::new(format!(
                "the local agent exited ({status}) before it answered; see {}",
                log_path.display()
            )));
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(format!(
                "the local agent did not answer within 30s; see {}",
                log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
