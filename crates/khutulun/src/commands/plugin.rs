//! `khutulun plugin add|list|remove`: the registered Wasm plugins.

use crate::cli::Format;
use crate::client::Client;
use crate::failure::{CliResult, Failure};
use crate::table;
use reqwest::Method;
use serde_json::Value;
use std::path::Path;

pub async fn add(client: &Client, name: &str, file: &Path, format: Format) -> CliResult {
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", file.display())))?;
    let response = client
        .send(
            client
                .request(Method::PUT, &format!("/plugins/{name}"))
                .header("content-type", "application/wasm")
                .body(bytes),
        )
        .await?;
    let view: Value = response.json().await?;
    match format {
        Format::Json => super::print_json(&view),
        Format::Table => println!(
            "registered plugin {name} version {} (functions: {}; handlers: {})",
            view["version"].as_str().unwrap_or("?"),
            list_text(&view["functions"]),
            list_text(&view["handlers"])
        ),
    }
    Ok(())
}

pub async fn list(client: &Client, format: Format) -> CliResult {
    let plugins: Vec<Value> = client.get("/plugins").await?;
    match format {
        Format::Json => super::print_json(&plugins),
        Format::Table => {
            let rows: Vec<Vec<String>> = plugins
                .iter()
                .map(|p| {
                    vec![
                        p["name"].as_str().unwrap_or_default().to_owned(),
                        p["version"].as_str().unwrap_or_default().to_owned(),
                        list_text(&p["functions"]),
                        list_text(&p["handlers"]),
                    ]
                })
                .collect();
            table::print(&["NAME", "VERSION", "FUNCTIONS", "HANDLERS"], &rows);
        }
    }
    Ok(())
}

pub async fn remove(client: &Client, name: &str) -> CliResult {
    client
        .send(client.request(Method::DELETE, &format!("/plugins/{name}")))
        .await?;
    println!("removed plugin {name}");
    Ok(())
}

fn list_text(value: &Value) -> String {
    let names: Vec<&str> = value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(", ")
    }
}
