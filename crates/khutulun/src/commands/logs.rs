use crate::client::Client;
use crate::failure::{CliResult, Failure};
use futures_util::StreamExt;
use reqwest::Method;
use std::io::Write;

pub async fn run(
    client: &Client,
    ns: &str,
    name: &str,
    instance: &str,
    follow: bool,
    stream: &str,
) -> CliResult {
    let (node, index) = super::instance_arg(instance)?;
    let request = client
        .request(
            Method::GET,
            &format!("/namespaces/{ns}/services/{name}/instances/{node}/{index}/logs"),
        )
        .query(&[
            ("stream", stream),
            ("follow", if follow { "true" } else { "false" }),
        ]);
    let response = client.send(request).await?;
    let mut body = response.bytes_stream();
    let mut stdout = std::io::stdout();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            Failure::new(format!(
                "the log stream from {} ended: {e} (did the agent stop?)",
                client.endpoint()
            ))
        })?;
        stdout.write_all(&chunk)?;
        stdout.flush()?;
    }
    Ok(())
}
