use crate::cli::Format;
use crate::client::Client;
use crate::failure::CliResult;
use crate::table;
use futures_util::StreamExt;
use khutulun_protocol::requests::EmitRequest;
use reqwest::Method;
use serde_json::Value;

pub async fn run(
    client: &Client,
    ns: &str,
    service: Option<&str>,
    since: Option<&str>,
    follow: bool,
    format: Format,
) -> CliResult {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = service {
        query.push(("namespace", ns));
        query.push(("service", service));
    }
    if let Some(since) = since {
        query.push(("since", since));
    }
    if !follow {
        let response = client
            .send(client.request(Method::GET, "/events").query(&query))
            .await?;
        let events: Vec<Value> = response.json().await?;
        match format {
            Format::Json => super::print_json(&events),
            Format::Table => {
                let rows: Vec<Vec<String>> = events.iter().map(row).collect();
                table::print(&["TIME", "HOST", "EVENT", "SUBJECT", "DETAIL"], &rows);
            }
        }
        return Ok(());
    }
    query.push(("follow", "true"));
    let response = client
        .send(client.request(Method::GET, "/events").query(&query))
        .await?;
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            crate::failure::Failure::new(format!(
                "the event stream from {} ended: {e} (did the agent stop?)",
                client.endpoint()
            ))
        })?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        // Server-sent events are separated by a blank line; `data:` carries the JSON.
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
                        continue;
                    };
                    match format {
                        Format::Json => println!("{}", serde_json::to_string(&event)?),
                        Format::Table => println!("{}", row(&event).join("  ")),
                    }
                }
            }
        }
    }
    Ok(())
}

fn row(event: &Value) -> Vec<String> {
    let text = |k: &str| event[k].as_str().unwrap_or_default().to_owned();
    let subject = match (event["service"].as_str(), event["node"].as_str()) {
        (Some(svc), Some(node)) => format!("{}/{svc} {node}/{}", text("namespace"), event["index"]),
        (Some(svc), None) => format!("{}/{svc}", text("namespace")),
        _ => "-".into(),
    };
    let mut detail = Vec::new();
    for key in [
        "pid",
        "code",
        "signal",
        "attempt",
        "delay_ms",
        "revision",
        "on_host",
        "endpoint",
        "port",
        "already_open",
        "operation",
        "cause",
        "function",
        "message",
        "outputs",
        "data",
        "api_url",
    ] {
        if let Some(v) = event.get(key) {
            detail.push(format!(
                "{key}={}",
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            ));
        }
    }
    let kind = match event["type"].as_str() {
        Some("user") => format!("user {}", text("name")),
        _ => text("type"),
    };
    vec![text("time"), text("host"), kind, subject, detail.join(" ")]
}

/// `khutulun event emit`: publishes a user event through the agent.
pub async fn emit(
    client: &Client,
    ns: &str,
    name: &str,
    service: Option<&str>,
    instance: Option<&str>,
    data: Option<&str>,
    format: Format,
) -> CliResult {
    let data: Value = match data {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            crate::failure::Failure::new(format!("--data is not valid JSON ({e}): {text}"))
        })?,
        None => Value::Null,
    };
    let (node, index) = match instance {
        Some(text) => {
            let (node, index) = super::instance_arg(text)?;
            (Some(node), Some(index))
        }
        None => (None, None),
    };
    let body = EmitRequest {
        name: name.to_owned(),
        namespace: Some(ns.to_owned()),
        service: service.map(str::to_owned),
        node: node.map(str::to_owned),
        index,
        data,
    };
    let response = client
        .send(client.request(Method::POST, "/events").json(&body))
        .await?;
    // The event as logged: an event of the log, printed as the agent wrote it.
    let event: Value = response.json().await?;
    match format {
        Format::Json => super::print_json(&event),
        Format::Table => println!(
            "emitted {name} at {}",
            event["time"].as_str().unwrap_or("?")
        ),
    }
    Ok(())
}
