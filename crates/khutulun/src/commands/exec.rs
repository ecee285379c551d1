//! `khutulun exec`: a command in an instance over the agent's exec WebSocket, standard
//! streams relayed, the terminal raw under `-t`, the command's exit code as ours.

use crate::client::{unreachable_failure, Client, Endpoint};
use crate::failure::{CliResult, Failure};
use futures_util::{SinkExt, StreamExt};
use khutulun_protocol::exec::{
    websocket_base, ClientMessage, ExecRequest, ServerMessage, TermSize, STDERR, STDOUT,
};
use khutulun_protocol::ErrorBody;
use rustix::termios::{self, OptionalActions, Termios};
use std::io::{Read, Write};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};

/// Our exit code when Khutulun itself fails (as `docker exec` and `podman exec` do), so a
/// script can tell it from the command's own codes.
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
    tty: bool,
    interactive: bool,
    command: Vec<String>,
) -> CliResult {
    let (node, index) = super::instance_arg(instance).map_err(|f| failed(f.message))?;
    let url = format!(
        "{}/v1/namespaces/{ns}/services/{name}/instances/{node}/{index}/exec",
        websocket_base(client.base())
    );
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| failed(format!("bad agent URL {url}: {e}")))?;
    if let Some(token) = client.token() {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| failed("the token cannot be sent in a header"))?;
        request.headers_mut().insert("authorization", value);
    }
    let endpoint = client.endpoint().to_string();
    let session = Session {
        command,
        tty,
        interactive,
        url: &url,
    };
    match client.endpoint() {
        Endpoint::Url(_) => {
            let (socket, _) = tokio_tungstenite::connect_async(request)
                .await
                .map_err(|e| connect_failure(&endpoint, e))?;
            session.run(socket).await
        }
        Endpoint::Socket(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| unreachable_failure(client.endpoint(), &e.to_string()))?;
            let (socket, _) = tokio_tungstenite::client_async(request, stream)
                .await
                .map_err(|e| connect_failure(&endpoint, e))?;
            session.run(socket).await
        }
    }
}

/// One exec session over an open WebSocket (TCP or the agent's Unix socket).
struct Session<'a> {
    command: Vec<String>,
    tty: bool,
    interactive: bool,
    url: &'a str,
}

impl Session<'_> {
    async fn run<S>(self, socket: tokio_tungstenite::WebSocketStream<S>) -> CliResult
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Session {
            command,
            tty,
            interactive,
            url,
        } = self;
        let (mut sink, mut stream) = socket.split();

        let terminal_in = termios::isatty(std::io::stdin());
        let size = tty.then(terminal_size).flatten();
        let start = ClientMessage::Start(ExecRequest {
            command,
            tty,
            stdin: interactive || tty,
            size,
        });
        sink.send(text(&start))
            .await
            .map_err(|e| failed(format!("the exec session with {url} failed: {e}")))?;

        // Raw mode for the session's length: keys go to the remote terminal as typed.
        let _raw = (tty && terminal_in).then(RawMode::enter).flatten();
        let (outgoing_tx, mut outgoing_rx) = mpsc::channel::<Message>(16);
        if interactive || tty {
            forward_stdin(outgoing_tx.clone());
        }
        if tty {
            forward_resizes(outgoing_tx.clone());
        }
        drop(outgoing_tx);
        let sender = tokio::spawn(async move {
            while let Some(message) = outgoing_rx.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        });

        let outcome = receive(&mut stream).await;
        sender.abort();
        drop(_raw);
        match outcome? {
            0 => Ok(()),
            code => Err(Failure::exit_quietly((code & 0xff) as u8)),
        }
    }
}

/// Writes output frames to our stdout and stderr until the exit message.
async fn receive(
    stream: &mut (impl futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin),
) -> CliResult<i32> {
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    while let Some(message) = stream.next().await {
        let message =
            message.map_err(|e| failed(format!("the exec session ended abruptly: {e}")))?;
        match message {
            Message::Binary(frame) => match frame.split_first() {
                Some((&STDOUT, data)) => {
                    stdout.write_all(data)?;
                    stdout.flush()?;
                }
                Some((&STDERR, data)) => {
                    stderr.write_all(data)?;
                    stderr.flush()?;
                }
                _ => {}
            },
            Message::Text(text) => match serde_json::from_str::<ServerMessage>(&text) {
                Ok(ServerMessage::Exit { code }) => return Ok(code),
                Ok(ServerMessage::Error { message, .. }) => return Err(failed(message)),
                Err(_) => {}
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    Err(failed(
        "the agent ended the exec session without the command's exit code (did the agent stop?)",
    ))
}

fn text(message: &ClientMessage) -> Message {
    Message::Text(serde_json::to_string(message).expect("serializable").into())
}

/// Reads standard input on a thread of its own (a blocking read cannot be cancelled; the
/// thread ends with the process) and sends it, then the end of input.
fn forward_stdin(outgoing: mpsc::Sender<Message>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let data = Message::Binary(buffer[..n].to_vec().into());
                    if outgoing.blocking_send(data).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = outgoing.blocking_send(text(&ClientMessage::Eof));
    });
}

/// Sends the terminal's new size whenever it changes (SIGWINCH).
fn forward_resizes(outgoing: mpsc::Sender<Message>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut changes) = signal(SignalKind::window_change()) else {
        return;
    };
    tokio::spawn(async move {
        while changes.recv().await.is_some() {
            if let Some(size) = terminal_size() {
                if outgoing
                    .send(text(&ClientMessage::Resize(size)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
}

fn terminal_size() -> Option<TermSize> {
    let size = termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| termios::tcgetwinsize(std::io::stdin()))
        .ok()?;
    (size.ws_row > 0 && size.ws_col > 0).then_some(TermSize {
        rows: size.ws_row,
        cols: size.ws_col,
    })
}

/// The local terminal in raw mode until dropped, when its settings come back.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let saved = termios::tcgetattr(std::io::stdin()).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The agent refused the WebSocket: say why, with its own message when it sent one.
fn connect_failure(base: &str, error: tungstenite::Error) -> Failure {
    match error {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let message = serde_json::from_str::<ErrorBody>(&body)
                .ok()
                .map(|error| error.message);
            match message {
                Some(message) => failed(message),
                None if status == 401 => {
                    failed("the agent refused the token; pass --token or set KHUTULUN_TOKEN")
                }
                None => failed(format!("the agent at {base} answered {status}: {body}")),
            }
        }
        tungstenite::Error::Io(e) => failed(format!(
            "cannot reach the agent at {base}: {e}; start one with `khutulun agent` (or `khutulun up PATH`), or point --agent / KHUTULUN_AGENT at a running one"
        )),
        other => failed(format!("the exec session with the agent at {base} failed: {other}")),
    }
}
