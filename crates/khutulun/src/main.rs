//! `khutulun`: the agent and the command line in one binary.

mod cli;
mod client;
mod commands;
mod defaults;
mod failure;
mod package;
mod render;
mod table;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if !matches!(cli.command, cli::Command::Agent(_)) {
        // A command whose output is piped into `head` ends quietly when the reader goes,
        // like other Unix tools; the agent keeps Rust's default (writes fail with EPIPE).
        // SAFETY: at start-up, before any thread exists, setting a signal's disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // Offline commands (tosca, csar, keygen) start no runtime and no threads.
    let result = match commands::run_offline(&cli.command) {
        Some(result) => result,
        None => {
            let runtime = if matches!(cli.command, cli::Command::Agent(_)) {
                khutulun_agent::agent_runtime()
            } else {
                tokio::runtime::Runtime::new()
            };
            runtime
                .expect("start the async runtime")
                .block_on(commands::run(cli))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.exit_code())
        }
    }
}
