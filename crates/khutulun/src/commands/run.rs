//! `khutulun run`: an interface operation of an instance, run on its host; its output is
//! printed as it comes and its exit code is ours (125 when Khutulun itself fails).

use crate::cli::Format;
use crate::client::Client;
use crate::failure::{CliResult, Failure};
use futures_util::StreamExt;
use khutulun_protocol::operations::{split_name, OperationMessage, OutputStream};
use khutulun_protocol::requests::RunRequest;
use reqwest::Method;
use std::io::Write;

const EXIT_KHUTULUN_FAILED: u8 = 125;

fn failed(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_KHUTULUN_FAILED,
        ..Failure::new(message)
    }
}

pub async fn run(
    client: &Client,
    ns: &str,
    name: &str,
    instance: &str,
    operation: &str,
    inputs: &[String],
    format: Format,
) -> CliResult {
    let (node, index) = super::instance_arg(instance).map_err(|f| failed(f.message))?;
    split_name(operation).map_err(failed)?;
    let inputs = crate::package::parse_inputs(inputs).map_err(|f| failed(f.message))?;
    let body = RunRequest {
        inputs: inputs.into_iter().collect(),
    };
    let path =
        format!("/namespaces/{ns}/services/{name}/instances/{node}/{index}/operations/{operation}");
    let response = client
        .send(client.request(Method::POST, &path).json(&body))
        .await
        .map_err(|f| Failure {
            code: EXIT_KHUTULUN_FAILED,
            ..f
        })?;
    let mut stream = response.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| failed(format!("the operation's output broke off: {e}")))?;
        pending.extend_from_slice(&chunk);
        while let Some(newline) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=newline).collect();
            let message: OperationMessage = serde_json::from_slice(&line)
                .map_err(|e| failed(format!("the agent sent something unexpected: {e}")))?;
            match message {
                OperationMessage::Output { stream, line } => {
                    if format == Format::Json {
                        continue;
                    }
                    match stream {
                        OutputStream::Stdout => {
                            let mut out = std::io::stdout().lock();
                            let _ = writeln!(out, "{line}");
                            let _ = out.flush();
                        }
                        OutputStream::Stderr => eprintln!("{line}"),
                    }
                }
                OperationMessage::Finished { code, outputs } => {
                    if format == Format::Json {
                        super::print_json(&serde_json::json!({ "code": code, "outputs": outputs }));
                    }
                    return match u8::try_from(code) {
                        Ok(0) => Ok(()),
                        Ok(code) => Err(Failure::exit_quietly(code)),
                        Err(_) => Err(Failure::exit_quietly(1)),
                    };
                }
                OperationMessage::Failed { message } => {
                    return Err(failed(format!("{operation} of {node}/{index}: {message}")))
                }
            }
        }
    }
    Err(failed(
        "the agent ended the stream before the operation ended",
    ))
}
