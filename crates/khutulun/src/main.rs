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
    let runtime = tokio::runtime::Runtime::new().expect("start the async runtime");
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.exit_code())
        }
    }
}
