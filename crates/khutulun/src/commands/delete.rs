use crate::client::Client;
use crate::failure::{CliResult, Failure};
use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};

pub async fn run(client: &Client, ns: &str, name: &str, wait: bool, timeout: u64) -> CliResult {
    // Followed before the delete starts: its last event cannot be missed.
    let mut events = if wait {
        Some(super::watch::ServiceEvents::open(client, ns, name).await)
    } else {
        None
    };
    client
        .send(client.request(Method::DELETE, &format!("/namespaces/{ns}/services/{name}")))
        .await?;
    let Some(events) = events.as_mut() else {
        println!("deleting service {ns}/{name}");
        return Ok(());
    };
    let progress = super::deploy::spinner();
    progress.set_message(format!("deleting {ns}/{name}"));
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        let response = client
            .request(Method::GET, &format!("/namespaces/{ns}/services/{name}"))
            .send()
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            progress.finish_and_clear();
            println!("deleted service {ns}/{name}");
            return Ok(());
        }
        if Instant::now() >= deadline {
            progress.finish_and_clear();
            return Err(Failure::new(format!(
                "{ns}/{name} is still being deleted after {timeout}s"
            )));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, events.changed()).await;
    }
}
