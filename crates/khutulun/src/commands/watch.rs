//! Waiting on a service without polling: the agent's event stream (server-sent events) of
//! one service tells when to look again. The wait asks for the service's state at once, then
//! again on each of its service-level events, and every few seconds all the same (a flow
//! that another agent took over emits its events there, not here).

use crate::client::Client;
use futures_util::StreamExt;
use reqwest::Method;
use std::time::Duration;

/// How long a wait goes without an event before it looks again.
pub const LOOK_AGAIN: Duration = Duration::from_secs(2);

pub struct ServiceEvents {
    body: Option<futures_util::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>>,
    buffer: String,
}

impl ServiceEvents {
    /// Follows the events of `ns/name`. If the stream cannot be opened, the wait falls
    /// back to looking every [`LOOK_AGAIN`].
    pub async fn open(client: &Client, ns: &str, name: &str) -> ServiceEvents {
        let request = client.request(Method::GET, "/events").query(&[
            ("follow", "true"),
            ("namespace", ns),
            ("service", name),
        ]);
        let body = match tokio::time::timeout(LOOK_AGAIN, request.send()).await {
            Ok(Ok(response)) if response.status().is_success() => Some(
                response
                    .bytes_stream()
                    .map(|c| c.map(|b| b.to_vec()))
                    .boxed(),
            ),
            _ => None,
        };
        ServiceEvents {
            body,
            buffer: String::new(),
        }
    }

    /// Resolves on the service's next service-level event (`service_deployed`,
    /// `service_failed`, ...) or an instance that failed, or after [`LOOK_AGAIN`].
    pub async fn changed(&mut self) {
        let _ = tokio::time::timeout(LOOK_AGAIN, self.next_that_matters()).await;
    }

    async fn next_that_matters(&mut self) {
        loop {
            if let Some(kind) = self.buffered_event() {
                // `events_missed`: the stream fell behind the agent's bus; look again.
                if kind.starts_with("service_")
                    || kind == "instance_failed"
                    || kind == "events_missed"
                {
                    return;
                }
                continue;
            }
            let Some(body) = self.body.as_mut() else {
                return std::future::pending().await;
            };
            match body.next().await {
                Some(Ok(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                // The stream ended (the agent stopped?): look every LOOK_AGAIN from now on.
                _ => {
                    self.body = None;
                    return;
                }
            }
        }
    }

    /// The type of the next complete event in the buffer (its `event:` line).
    fn buffered_event(&mut self) -> Option<String> {
        let end = self.buffer.find("\n\n")?;
        let block: String = self.buffer.drain(..end + 2).collect();
        Some(
            block
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(|k| k.trim().to_owned())
                .unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_block_by_block() {
        let mut events = ServiceEvents {
            body: None,
            buffer: "event: instance_running\ndata: {}\n\nevent: service_deployed\ndata: {}\n\nevent: par".into(),
        };
        assert_eq!(events.buffered_event().as_deref(), Some("instance_running"));
        assert_eq!(events.buffered_event().as_deref(), Some("service_deployed"));
        assert_eq!(events.buffered_event(), None, "an incomplete block waits");
    }
}
