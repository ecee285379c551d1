//! Runs an [`ExecPlan`] and relays its input and output through channels, so that the
//! WebSocket (or a test) on the other side stays out of process handling.

use super::protocol::{TermSize, EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, STDERR, STDOUT};
use khutulun_delegates::ExecPlan;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the client sends while the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Data(Vec<u8>),
    Resize(TermSize),
    /// No more input: the command's standard input is closed.
    Eof,
}

/// One chunk of output: the stream ([`STDOUT`] or [`STDERR`]) and its bytes.
pub type Output = (u8, Vec<u8>);

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The command exited with this code (128 + the signal when a signal ended it).
    Exited(i32),
    /// The client went away first; the command was killed.
    Abandoned,
}

/// The command could not be started: the exit code a shell would give, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnError {
    pub code: i32,
    pub message: String,
}

/// How long output may still arrive after the command exited (a child it left behind
/// may hold the pipes open; its output after that is not waited for).
const DRAIN: Duration = Duration::from_secs(2);

/// Runs the plan with pipes, or under a pseudo-terminal with `tty`. With `stdin` false the
/// command's input is empty. Returns when the command exits or the input channel closes.
pub async fn run(
    plan: &ExecPlan,
    tty: bool,
    stdin: bool,
    size: Option<TermSize>,
    input: mpsc::Receiver<Input>,
    output: mpsc::Sender<Output>,
) -> Result<Ended, SpawnError> {
    let command = command(plan)?;
    if tty {
        run_tty(plan, command, size, input, output).await
    } else {
        run_piped(plan, command, stdin, input, output).await
    }
}

fn command(plan: &ExecPlan) -> Result<Command, SpawnError> {
    let Some((program, args)) = plan.argv.split_first() else {
        return Err(SpawnError {
            code: EXIT_CANNOT_EXECUTE,
            message: "no command to execute".into(),
        });
    };
    let mut command = Command::new(program);
    command.args(args).kill_on_drop(true);
    if let Some(environment) = &plan.environment {
        command.env_clear().envs(environment);
    }
    if let Some(directory) = &plan.working_directory {
        command.current_dir(directory);
    }
    // Setting the uid as root also drops the supplementary groups (std does setgroups).
    if let Some((uid, gid)) = plan.user {
        command.uid(uid).gid(gid);
    }
    Ok(command)
}

fn spawn_error(program: &str, error: std::io::Error) -> SpawnError {
    let code = match error.kind() {
        std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXECUTE,
    };
    SpawnError {
        code,
        message: format!("cannot run {program}: {error}"),
    }
}

async fn run_piped(
    plan: &ExecPlan,
    mut command: Command,
    stdin: bool,
    mut input: mpsc::Receiver<Input>,
    output: mpsc::Sender<Output>,
) -> Result<Ended, SpawnError> {
    command
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that abandoning it reaches what it started.
        .process_group(0);
    let mut child = command.spawn().map_err(|e| spawn_error(&plan.argv[0], e))?;
    let pumps = [
        pump(child.stdout.take(), STDOUT, output.clone()),
        pump(child.stderr.take(), STDERR, output),
    ];
    let mut writer = child.stdin.take();
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            message = input.recv() => match message {
                Some(Input::Data(data)) => {
                    if let Some(w) = writer.as_mut() {
                        if w.write_all(&data).await.is_err() {
                            writer = None;
                        }
                    }
                }
                Some(Input::Eof) => writer = None,
                Some(Input::Resize(_)) => {}
                None => return Ok(abandon(&mut child).await),
            },
        }
    };
    drop(writer);
    finish(status, pumps).await
}

async fn run_tty(
    plan: &ExecPlan,
    command: Command,
    size: Option<TermSize>,
    mut input: mpsc::Receiver<Input>,
    output: mpsc::Sender<Output>,
) -> Result<Ended, SpawnError> {
    let pty_error = |e: pty_process::Error| SpawnError {
        code: EXIT_CANNOT_EXECUTE,
        message: format!("cannot open a pseudo-terminal for {}: {e}", plan.argv[0]),
    };
    let (pty, pts) = pty_process::open().map_err(pty_error)?;
    // A client without a terminal of its own gets the classic 24x80.
    let size = size.unwrap_or(TermSize { rows: 24, cols: 80 });
    pty.resize(pty_process::Size::new(size.rows, size.cols))
        .map_err(pty_error)?;
    let mut child = pty_process::Command::from(command)
        .spawn(pts)
        .map_err(|e| match e {
            pty_process::Error::Io(io) => spawn_error(&plan.argv[0], io),
            other => pty_error(other),
        })?;
    let (reader, mut writer) = pty.into_split();
    let pumps = [pump(Some(reader), STDOUT, output)];
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            message = input.recv() => match message {
                Some(Input::Data(data)) => {
                    let _ = writer.write_all(&data).await;
                }
                Some(Input::Resize(size)) => {
                    let _ = writer.resize(pty_process::Size::new(size.rows, size.cols));
                }
                // A terminal has no end of input of its own; the user types it.
                Some(Input::Eof) => {}
                None => return Ok(abandon(&mut child).await),
            },
        }
    };
    // The pty's master reads end (EIO) once nothing holds the terminal any more.
    drop(writer);
    finish(status, pumps).await
}

/// Copies a stream into the output channel until it ends.
fn pump(
    source: Option<impl AsyncRead + Unpin + Send + 'static>,
    stream: u8,
    output: mpsc::Sender<Output>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut source) = source else { return };
        let mut buffer = vec![0u8; 16 * 1024];
        // EOF, or EIO from a pty whose terminal closed.
        while let Ok(n @ 1..) = source.read(&mut buffer).await {
            if output.send((stream, buffer[..n].to_vec())).await.is_err() {
                return;
            }
        }
    })
}

async fn finish(
    status: std::io::Result<ExitStatus>,
    pumps: impl IntoIterator<Item = JoinHandle<()>>,
) -> Result<Ended, SpawnError> {
    for pump in pumps {
        let abort = pump.abort_handle();
        if tokio::time::timeout(DRAIN, pump).await.is_err() {
            abort.abort();
        }
    }
    let status = status.map_err(|e| SpawnError {
        code: EXIT_CANNOT_EXECUTE,
        message: format!("lost the command: {e}"),
    })?;
    Ok(Ended::Exited(exit_code(status)))
}

fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The client is gone: kill the command's process group (or session) and reap it.
async fn abandon(child: &mut Child) -> Ended {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a negative pid signals the group the child leads.
        unsafe {
            libc::kill(-(pid as i32), libc::SIGKILL);
        }
    }
    let _ = child.kill().await;
    Ended::Abandoned
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn plan(argv: &[&str]) -> ExecPlan {
        ExecPlan {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Runs a session to its end and collects its output by stream.
    async fn collect(
        plan: &ExecPlan,
        tty: bool,
        inputs: Vec<Input>,
    ) -> (Result<Ended, SpawnError>, Vec<u8>, Vec<u8>) {
        let (in_tx, in_rx) = mpsc::channel(16);
        let (out_tx, mut out_rx) = mpsc::channel(16);
        let collector = tokio::spawn(async move {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            while let Some((stream, data)) = out_rx.recv().await {
                if stream == STDOUT { &mut out } else { &mut err }.extend(data);
            }
            (out, err)
        });
        let feeder = tokio::spawn(async move {
            for input in inputs {
                in_tx.send(input).await.unwrap();
            }
            // Keep the input open until the session ends, as a connected client does.
            in_tx.closed().await;
        });
        let size = Some(TermSize { rows: 33, cols: 99 });
        let ended = run(plan, tty, true, size, in_rx, out_tx).await;
        feeder.abort();
        let (out, err) = collector.await.unwrap();
        (ended, out, err)
    }

    #[tokio::test]
    async fn pipes_carry_input_output_error_and_the_exit_code() {
        let plan = plan(&["sh", "-c", "cat; echo oops >&2; exit 3"]);
        let (ended, out, err) = collect(
            &plan,
            false,
            vec![
                Input::Data(b"hello ".to_vec()),
                Input::Data(b"there".to_vec()),
                Input::Eof,
            ],
        )
        .await;
        assert_eq!(ended, Ok(Ended::Exited(3)));
        assert_eq!(out, b"hello there");
        assert_eq!(err, b"oops\n");
    }

    #[tokio::test]
    async fn the_plan_sets_environment_and_directory() {
        let mut plan = plan(&["sh", "-c", "echo $ONLY:$HOME:$(pwd)"]);
        plan.environment = Some(BTreeMap::from([
            ("ONLY".to_string(), "this".to_string()),
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ]));
        plan.working_directory = Some("/tmp".into());
        let (ended, out, _) = collect(&plan, false, vec![Input::Eof]).await;
        assert_eq!(ended, Ok(Ended::Exited(0)));
        assert_eq!(String::from_utf8(out).unwrap(), "this::/tmp\n");
    }

    #[tokio::test]
    async fn a_terminal_has_its_size_and_is_a_tty() {
        let plan = plan(&["sh", "-c", "stty size; test -t 0 && echo tty; exit 5"]);
        let (ended, out, err) = collect(&plan, true, Vec::new()).await;
        assert_eq!(ended, Ok(Ended::Exited(5)));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("33 99"), "{text:?}");
        assert!(text.contains("tty"), "{text:?}");
        assert!(err.is_empty());
    }

    #[tokio::test]
    async fn a_signal_gives_128_plus_its_number() {
        let (ended, _, _) = collect(&plan(&["sh", "-c", "kill -TERM $$"]), false, vec![]).await;
        assert_eq!(ended, Ok(Ended::Exited(128 + libc::SIGTERM)));
    }

    #[tokio::test]
    async fn a_missing_program_is_127() {
        let (ended, _, _) = collect(&plan(&["/nonexistent/program"]), false, vec![]).await;
        let error = ended.unwrap_err();
        assert_eq!(error.code, EXIT_NOT_FOUND);
        assert!(error.message.contains("/nonexistent/program"), "{error:?}");
    }

    #[tokio::test]
    async fn a_client_that_goes_away_kills_the_command() {
        let (in_tx, in_rx) = mpsc::channel(1);
        let (out_tx, mut out_rx) = mpsc::channel(16);
        let plan = plan(&["sh", "-c", "echo started; exec sleep 60"]);
        let session =
            tokio::spawn(async move { run(&plan, false, false, None, in_rx, out_tx).await });
        let (_, first) = out_rx.recv().await.unwrap();
        assert_eq!(first, b"started\n");
        drop(in_tx);
        let ended = tokio::time::timeout(Duration::from_secs(10), session)
            .await
            .expect("the session ends when its client goes")
            .unwrap();
        assert_eq!(ended, Ok(Ended::Abandoned));
    }
}
