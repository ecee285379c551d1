mod agent;
mod delete;
mod deploy;
mod events;
mod exec;
mod logs;
mod plugin;
mod query;
mod run;
pub mod tosca;
mod up;
mod watch;

use crate::cli::{
    Cli, Command, CsarCommand, EventCommand, HostCommand, PluginCommand, ServiceCommand,
    ToscaCommand,
};
use crate::client::{Client, Endpoint};
use crate::failure::{CliResult, Failure};

/// NODE or NODE/INDEX (index 0 when omitted).
pub fn instance_arg(text: &str) -> CliResult<(&str, u32)> {
    match text.split_once('/') {
        Some((node, index)) => index.parse::<u32>().map(|i| (node, i)).map_err(|_| {
            Failure::new(format!(
                "\"{text}\" must be NODE or NODE/INDEX with a number as INDEX"
            ))
        }),
        None => Ok((text, 0)),
    }
}

/// The token: from --token-file, or --token / KHUTULUN_TOKEN (with a warning when it was
/// typed on the command line, where `ps` shows it to every user).
fn token(global: &crate::cli::Global) -> CliResult<Option<String>> {
    if let Some(path) = &global.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::new(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
        let token = text.lines().next().unwrap_or("").trim_end().to_owned();
        if token.is_empty() {
            return Err(Failure::new(format!(
                "the token file {} is empty: write the token on its first line",
                path.display()
            )));
        }
        return Ok(Some(token));
    }
    let typed = std::env::args().any(|a| a == "--token" || a.starts_with("--token="));
    if typed && global.token.is_some() {
        eprintln!(
            "warning: a token given with --token is visible to every user of this machine (ps, /proc); use --token-file FILE or KHUTULUN_TOKEN"
        );
    }
    Ok(global.token.clone())
}

/// Commands that need neither an agent nor the async runtime (main runs them before it
/// starts one): `tosca validate`, `tosca compile`, `csar create`, `keygen`.
pub fn run_offline(command: &Command) -> Option<CliResult> {
    Some(match command {
        Command::Tosca {
            command:
                ToscaCommand::Validate {
                    path,
                    format,
                    profile_path,
                },
        } => tosca::validate(path, profile_path, *format),
        Command::Tosca {
            command:
                ToscaCommand::Compile {
                    path,
                    inputs,
                    output,
                    format,
                    profile_path,
                },
        } => tosca::compile_command(path, profile_path, inputs, *output, *format),
        Command::Csar {
            command: CsarCommand::Create { dir, out, entry },
        } => tosca::csar_create(dir, out, entry.as_deref()),
        Command::Keygen => {
            println!("{}", khutulun_agent::generate_key());
            Ok(())
        }
        _ => return None,
    })
}

pub async fn run(cli: Cli) -> CliResult {
    if let Some(result) = run_offline(&cli.command) {
        return result;
    }
    let mut global = cli.global;
    global.token = token(&global)?;
    let endpoint = match &global.agent {
        Some(given) => Endpoint::parse(given)?,
        None => Endpoint::Socket(crate::defaults::socket()),
    };
    let mut client = Client::new(endpoint, global.token.clone());
    if let Some(timeout) = cli.command.timeout() {
        client.set_timeout(std::time::Duration::from_secs(timeout));
    }
    let ns = global.namespace.as_str();
    match cli.command {
        Command::Agent(args) => agent::run(*args, global.token).await,
        Command::Up {
            path,
            name,
            inputs,
            timeout,
        } => up::run(&client, &global, ns, &path, name, &inputs, timeout).await,
        Command::Deploy {
            name,
            path,
            inputs,
            plan: true,
            output,
            ..
        } => deploy::plan(&client, ns, &name, &path, &inputs, output.format).await,
        Command::Deploy {
            name,
            path,
            inputs,
            wait,
            timeout,
            check_revision,
            output,
            ..
        } => {
            deploy::run(
                &client,
                ns,
                &name,
                &path,
                &inputs,
                check_revision,
                wait,
                timeout,
                output.format,
            )
            .await
        }
        Command::Services { output } => query::services(&client, ns, output.format).await,
        Command::Service {
            command:
                ServiceCommand::Show {
                    name,
                    placement,
                    output,
                },
        } => query::service(&client, ns, &name, placement, output.format).await,
        Command::Outputs { name, output } => {
            query::outputs(&client, ns, &name, output.format).await
        }
        Command::Instances { name, output } => {
            query::instances(&client, ns, name.as_deref(), output.format).await
        }
        Command::Logs {
            name,
            instance,
            follow,
            stream,
        } => logs::run(&client, ns, &name, &instance, follow, &stream).await,
        Command::Exec {
            name,
            instance,
            tty,
            interactive,
            command,
        } => exec::run(&client, ns, &name, &instance, tty, interactive, command).await,
        Command::Run {
            name,
            instance,
            operation,
            inputs,
            output,
        } => {
            run::run(
                &client,
                ns,
                &name,
                &instance,
                &operation,
                &inputs,
                output.format,
            )
            .await
        }
        Command::Plugin {
            command: PluginCommand::Add { name, file, output },
        } => plugin::add(&client, &name, &file, output.format).await,
        Command::Plugin {
            command: PluginCommand::List { output },
        } => plugin::list(&client, output.format).await,
        Command::Plugin {
            command: PluginCommand::Remove { name },
        } => plugin::remove(&client, &name).await,
        Command::Event {
            command:
                EventCommand::Emit {
                    name,
                    service,
                    instance,
                    data,
                    output,
                },
        } => {
            events::emit(
                &client,
                ns,
                &name,
                service.as_deref(),
                instance.as_deref(),
                data.as_deref(),
                output.format,
            )
            .await
        }
        Command::Delete {
            name,
            wait,
            timeout,
        } => delete::run(&client, ns, &name, wait, timeout).await,
        Command::Hosts { output } => query::hosts(&client, output.format).await,
        Command::Host {
            command: HostCommand::Drain { name, output },
        } => query::drain(&client, &name, output.format).await,
        Command::Host {
            command: HostCommand::Undrain { name },
        } => query::undrain(&client, &name).await,
        Command::Gossip { output } => query::gossip(&client, output.format).await,
        Command::Tosca { .. } | Command::Csar { .. } | Command::Keygen => {
            unreachable!("run_offline ran it")
        }
        Command::Events {
            follow,
            service,
            since,
            output,
        } => {
            events::run(
                &client,
                ns,
                service.as_deref(),
                since.as_deref(),
                follow,
                output.format,
            )
            .await
        }
    }
}

/// Prints a JSON value the way scripts like it: pretty, one document.
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serializable")
    );
}
