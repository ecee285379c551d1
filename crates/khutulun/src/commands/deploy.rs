use crate::cli::Format;
use crate::client::{Answer, Client};
use crate::failure::{CliResult, Failure};
use crate::package;
use indicatif::{ProgressBar, ProgressStyle};
use khutulun_protocol::views::{PlanView, ServiceDetail, ServiceView};
use reqwest::Method;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

#[allow(clippy::too_many_arguments)]
pub async fn run(
    client: &Client,
    ns: &str,
    name: &str,
    path: &Path,
    inputs: &[String],
    check_revision: Option<u64>,
    wait: bool,
    timeout: u64,
    format: Format,
) -> CliResult {
    let sent = send(client, ns, name, path, inputs, check_revision).await?;
    // What the agent answered last: the deploy, or the service once it runs.
    let (json, view) = if wait {
        let deployed = wait_until_deployed(client, ns, name, timeout).await?;
        (deployed.json, deployed.view.service)
    } else {
        (sent.json, sent.view)
    };
    match format {
        Format::Json => super::print_json(&json),
        Format::Table => {
            println!(
                "service {ns}/{name} revision {}: {} ({}/{} instances running)",
                view.revision, view.status, view.running, view.instances
            );
        }
    }
    Ok(())
}

/// `deploy --plan`: what a deploy of PATH would change, node by node; nothing changes.
pub async fn plan(
    client: &Client,
    ns: &str,
    name: &str,
    path: &Path,
    inputs: &[String],
    format: Format,
) -> CliResult {
    let what = format!("/namespaces/{ns}/services/{name}/plan");
    let answer: Answer<PlanView> = upload(client, Method::POST, &what, path, inputs, None).await?;
    if format == Format::Json {
        super::print_json(&answer.json);
        return Ok(());
    }
    let plan = &answer.view;
    match plan.current_revision {
        Some(revision) => println!("{ns}/{name}, against revision {revision}:"),
        None => println!("{ns}/{name} does not exist yet:"),
    }
    let rows: Vec<Vec<String>> = plan
        .nodes
        .iter()
        .map(|n| {
            let instances = if n.count_before == n.count_after {
                n.count_after.to_string()
            } else {
                format!("{} → {}", n.count_before, n.count_after)
            };
            vec![
                n.node.clone(),
                n.action.clone(),
                instances,
                n.reasons.join("; "),
            ]
        })
        .collect();
    crate::table::print(&["NODE", "ACTION", "INSTANCES", "WHAT DIFFERS"], &rows);
    if !plan.other_files_changed.is_empty() {
        println!(
            "files of the package that no node names changed (what reads them sees the new content): {}",
            plan.other_files_changed.join(", ")
        );
    }
    if !plan.changes {
        println!("no changes");
    }
    if plan.current_revision.is_some() {
        println!(
            "a deploy stores a new revision and replaces every instance of the service (updates that touch only what changed are not built yet)"
        );
    }
    Ok(())
}

/// Packs PATH and sends it; returns the agent's view of the service.
pub async fn send(
    client: &Client,
    ns: &str,
    name: &str,
    path: &Path,
    inputs: &[String],
    check_revision: Option<u64>,
) -> CliResult<Answer<ServiceView>> {
    let what = format!("/namespaces/{ns}/services/{name}");
    upload(client, Method::PUT, &what, path, inputs, check_revision).await
}

/// Packs PATH and sends it to `what` with the inputs and the entry file in the query.
async fn upload<T: serde::de::DeserializeOwned>(
    client: &Client,
    method: Method,
    what: &str,
    path: &Path,
    inputs: &[String],
    check_revision: Option<u64>,
) -> CliResult<Answer<T>> {
    let inputs = package::parse_inputs(inputs)?;
    let located = package::locate(path)?;
    let root = located.root.clone();
    let bytes = tokio::task::spawn_blocking(move || khutulun_agent::pack_directory(&root))
        .await?
        .map_err(|e| Failure::new(format!("cannot pack {}: {e}", located.root.display())))?;
    // The package itself as the body (the agent streams it to disk), the rest in the query.
    let inputs = serde_json::to_string(&inputs).expect("inputs are JSON");
    let mut request = client.request(method.clone(), what).query(&[
        ("entry", located.entry.as_str()),
        ("inputs", inputs.as_str()),
    ]);
    if let Some(revision) = check_revision {
        request = request.query(&[("check_revision", revision)]);
    }
    let response = client
        .send(
            request
                .header(reqwest::header::CONTENT_TYPE, "application/gzip")
                .body(bytes),
        )
        .await?;
    client.answer(response, &format!("{method} {what}")).await
}

/// Waits until every instance runs; fails with the agent's reason when the deploy fails.
pub async fn wait_until_deployed(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: u64,
) -> CliResult<Answer<ServiceDetail>> {
    let progress = spinner();
    let deadline = Instant::now() + Duration::from_secs(timeout);
    // Followed before the first look, so that no event falls in between.
    let mut events = super::watch::ServiceEvents::open(client, ns, name).await;
    loop {
        let answer = client
            .get_answer::<ServiceDetail>(&format!("/namespaces/{ns}/services/{name}"))
            .await?;
        let detail = &answer.view;
        let status = detail.service.status.clone();
        let waiting: Vec<String> = detail
            .instance_list
            .iter()
            .filter(|i| i.state != "running")
            .map(|i| format!("{}/{} {}", i.node, i.index, i.state))
            .collect();
        progress.set_message(format!(
            "{ns}/{name}: {status}, {}/{} running{}",
            detail.service.running,
            detail.service.instances,
            if waiting.is_empty() {
                String::new()
            } else {
                format!(" (waiting for {})", waiting.join(", "))
            }
        ));
        match status.as_str() {
            "deployed" => {
                progress.finish_and_clear();
                return Ok(answer);
            }
            "failed" => {
                progress.finish_and_clear();
                return Err(Failure::new(format!(
                    "deploy of {ns}/{name} failed: {}; everything it started was stopped (see `khutulun events`)",
                    detail.service.message.as_deref().unwrap_or("no reason given")
                )));
            }
            "deleting" => {
                progress.finish_and_clear();
                return Err(Failure::new(format!("{ns}/{name} is being deleted")));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            progress.finish_and_clear();
            return Err(Failure::new(format!(
                "{ns}/{name} is not running after {timeout}s; still waiting for {}; it keeps starting in the background (see `khutulun instances {name}` and `khutulun logs`)",
                waiting.join(", ")
            )));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, events.changed()).await;
    }
}

pub fn spinner() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
