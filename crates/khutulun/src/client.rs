//! The agent's API as the CLI uses it.

use crate::failure::{CliResult, Failure};
use khutulun_protocol::ErrorBody;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the agent is: its Unix socket (this host's own, no token needed) or a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Socket(PathBuf),
    Url(String),
}

impl Endpoint {
    /// `unix:/path`, a bare absolute path, or an `http(s)://` URL.
    pub fn parse(given: &str) -> CliResult<Endpoint> {
        if let Some(path) = given.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return Ok(Endpoint::Socket(PathBuf::from(path)));
        }
        if given.starts_with('/') {
            return Ok(Endpoint::Socket(PathBuf::from(given)));
        }
        if given.starts_with("http://") || given.starts_with("https://") {
            return Ok(Endpoint::Url(given.trim_end_matches('/').to_owned()));
        }
        Err(Failure::new(format!(
            "--agent \"{given}\" is neither a socket (unix:/path) nor a URL (http://host:port)"
        )))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Socket(path) => write!(f, "unix:{}", path.display()),
            Endpoint::Url(url) => f.write_str(url),
        }
    }
}

pub struct Client {
    endpoint: Endpoint,
    /// The URL requests are built on (a placeholder host for the socket).
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// The command's `--timeout`, counted from its start: no call waits past it.
    deadline: Option<(Instant, Duration)>,
}

/// How long one call may wait for an answer when the command has no `--timeout` (an agent
/// that hangs must not hang the CLI). Streams are bounded until their first bytes only.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// An answer of the agent: its JSON as sent, which `-o json` prints as it is (every field,
/// also those this CLI does not know), and the typed view the CLI reads.
pub struct Answer<T> {
    pub json: Value,
    pub view: T,
}

impl<T: DeserializeOwned> Answer<T> {
    /// Reads `json` as a `T`; `what` names the call for the failure.
    fn read(json: Value, what: &str) -> CliResult<Answer<T>> {
        let view = T::deserialize(&json).map_err(|e| {
            Failure::new(format!(
                "the agent's answer to {what} is not what this CLI expects: {e}"
            ))
        })?;
        Ok(Answer { json, view })
    }
}

impl Client {
    pub fn new(endpoint: Endpoint, token: Option<String>) -> Client {
        let builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
        let (builder, base) = match &endpoint {
            Endpoint::Socket(path) => (
                builder.unix_socket(path.as_path()),
                "http://localhost".to_owned(),
            ),
            Endpoint::Url(url) => (builder, url.clone()),
        };
        Client {
            endpoint,
            base,
            token: token.filter(|t| !t.is_empty()),
            http: builder.build().expect("HTTP client"),
            deadline: None,
        }
    }

    /// Bounds every call of this command by `timeout` from now (`--timeout`).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.deadline = Some((Instant::now() + timeout, timeout));
    }

    /// How long the next call may wait, or the failure when the command's time is up.
    fn call_limit(&self) -> CliResult<Duration> {
        match self.deadline {
            None => Ok(CALL_TIMEOUT),
            Some((deadline, total)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(self.timed_out())
                } else {
                    Ok(left.min(total))
                }
            }
        }
    }

    /// The command's time ran out (its `--timeout`, or one call's limit without one).
    fn timed_out(&self) -> Failure {
        let limit = self.deadline.map_or(CALL_TIMEOUT, |(_, total)| total);
        Failure::new(format!(
            "the agent at {} did not answer within {} s; it may be overloaded or hung (see its log); raise --timeout to wait longer",
            self.endpoint,
            limit.as_secs()
        ))
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The URL requests go to (for the socket, a placeholder host).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self.http.request(method, format!("{}/v1{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends a request; a non-2xx answer becomes a Failure carrying the agent's message.
    pub async fn send(&self, request: RequestBuilder) -> CliResult<Response> {
        let limit = self.call_limit()?;
        let response = tokio::time::timeout(limit, request.send())
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.unreachable(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Failure {
                message: body.message,
                diagnostics: body.diagnostics.into_iter().map(diagnostic).collect(),
                code: 1,
            },
            Err(_) if status == StatusCode::UNAUTHORIZED => {
                Failure::new("the agent refused the token; pass --token or set KHUTULUN_TOKEN")
            }
            Err(_) => Failure::new(format!("the agent answered {status}: {text}")),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        let response = self.send(self.request(Method::GET, path)).await?;
        let limit = self.call_limit()?;
        let body = tokio::time::timeout(limit, response.json())
            .await
            .map_err(|_| self.timed_out())?;
        body.map_err(|e| {
            Failure::new(format!(
                "the agent's answer to GET {path} is not what this CLI expects: {e}"
            ))
        })
    }

    /// `get`, keeping the JSON as the agent sent it beside its typed view.
    pub async fn get_answer<T: DeserializeOwned>(&self, path: &str) -> CliResult<Answer<T>> {
        let json: Value = self.get(path).await?;
        Answer::read(json, &format!("GET {path}"))
    }

    /// The JSON body of a successful `response` to `what`, and its typed view.
    pub async fn answer<T: DeserializeOwned>(
        &self,
        response: Response,
        what: &str,
    ) -> CliResult<Answer<T>> {
        let limit = self.call_limit()?;
        let json: Value = tokio::time::timeout(limit, response.json())
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| Failure::new(format!("unreadable answer from the agent: {e}")))?;
        Answer::read(json, what)
    }

    /// True when an agent answers at the base URL.
    pub async fn reachable(&self) -> bool {
        self.http
            .get(format!("{}/v1/health", self.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    fn unreachable(&self, e: reqwest::Error) -> Failure {
        if e.is_connect() || e.is_timeout() {
            unreachable_failure(&self.endpoint, &root_cause(&e))
        } else {
            Failure::new(format!(
                "request to {} failed: {}",
                self.endpoint,
                root_cause(&e)
            ))
        }
    }
}

/// A diagnostic of an `invalid_template` answer, to print as the offline compiler does.
fn diagnostic(d: khutulun_protocol::Diagnostic) -> khutulun_tosca::Diagnostic {
    khutulun_tosca::Diagnostic {
        severity: match d.severity {
            khutulun_protocol::Severity::Error => khutulun_tosca::Severity::Error,
            khutulun_protocol::Severity::Warning => khutulun_tosca::Severity::Warning,
        },
        file: d.file,
        line: d.line,
        column: d.column,
        message: d.message,
    }
}

/// No connection to the agent: why, and what to do.
pub fn unreachable_failure(endpoint: &Endpoint, cause: &str) -> Failure {
    if matches!(endpoint, Endpoint::Socket(_)) && cause.to_lowercase().contains("permission denied")
    {
        return Failure::new(format!(
            "cannot reach the agent at {endpoint}: {cause}; its socket is only for the agent's own user and root: run this as that user, or reach the agent over TCP with its token (--agent http://HOST:PORT, --token-file)"
        ));
    }
    Failure::new(format!(
        "cannot reach the agent at {endpoint}: {cause}; start one with `khutulun agent` (or `khutulun up PATH`), or point --agent / KHUTULUN_AGENT at a running one"
    ))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_sockets_or_urls() {
        let socket = |p: &str| Endpoint::Socket(PathBuf::from(p));
        assert_eq!(
            Endpoint::parse("unix:/run/a.sock").unwrap(),
            socket("/run/a.sock")
        );
        assert_eq!(
            Endpoint::parse("unix:///run/a.sock").unwrap(),
            socket("/run/a.sock")
        );
        assert_eq!(
            Endpoint::parse("/run/a.sock").unwrap(),
            socket("/run/a.sock")
        );
        assert_eq!(
            Endpoint::parse("http://10.0.0.1:8181/").unwrap(),
            Endpoint::Url("http://10.0.0.1:8181".into())
        );
        let err = Endpoint::parse("10.0.0.1:8181").unwrap_err();
        assert!(err.message.contains("unix:/path"), "{}", err.message);
        assert_eq!(socket("/run/a.sock").to_string(), "unix:/run/a.sock");
    }
}
