//! `khutulun plugin add|list|remove`: the registered Wasm plugins.

use crate::cli::Format;
use crate::client::Client;
use crate::failure::{CliResult, Failure};
use crate::table;
use khutulun_protocol::views::PluginView;
use reqwest::Method;
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
    let answer = client
        .answer::<PluginView>(response, &format!("PUT /plugins/{name}"))
        .await?;
    let view = &answer.view;
    match format {
        Format::Json => super::print_json(&answer.json),
        Format::Table => println!(
            "registered plugin {name} version {} (functions: {}; handlers: {})",
            view.version,
            list_text(&view.functions),
            list_text(&view.handlers)
        ),
    }
    Ok(())
}

pub async fn list(client: &Client, format: Format) -> CliResult {
    let plugins = client.get_answer::<Vec<PluginView>>("/plugins").await?;
    match format {
        Format::Json => super::print_json(&plugins.json),
        Format::Table => {
            let rows: Vec<Vec<String>> = plugins
                .view
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.version.clone(),
                        list_text(&p.functions),
                        list_text(&p.handlers),
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

fn list_text(names: &[String]) -> String {
    if names.is_empty() {
        "-".into()
    } else {
        names.join(", ")
    }
}
