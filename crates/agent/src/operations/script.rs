//! Running a script artifact: the command chosen from the file, its environment, output
//! relayed line by line and appended to the instance's `operations.log`, a time limit, and
//! the outputs the script writes to `$KHUTULUN_OUTPUTS`.

use super::protocol::{OperationMessage, OutputStream};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc::UnboundedSender;

/// One script to run.
pub struct Script {
    pub file: PathBuf,
    /// The artifact's type names (first the type, then its ancestors).
    pub types: Vec<String>,
    pub working_directory: PathBuf,
    pub environment: BTreeMap<String, String>,
    /// Where `KHUTULUN_OUTPUTS` points.
    pub outputs_file: PathBuf,
    /// Appended with every line of output, prefixed with the operation's name.
    pub log_file: PathBuf,
    /// `<interface>.<operation>`, for the log and messages.
    pub operation: String,
    pub timeout: Duration,
}

/// How a script ended.
pub struct ScriptEnd {
    pub code: i32,
    pub outputs: Map<String, Value>,
    /// The last lines it wrote to stderr (for failure messages).
    pub stderr_tail: Vec<String>,
}

/// The argv that runs `file`: the file itself when it is executable (its `#!` line
/// decides), else an interpreter chosen by the artifact type or the file's extension.
pub fn command_for(file: &Path, types: &[String]) -> Result<Vec<String>, String> {
    let metadata = khutulun_state::blocking(|| std::fs::metadata(file))
        .map_err(|e| format!("cannot read the script {}: {e}", file.display()))?;
    if !metadata.is_file() {
        return Err(format!("{} is not a file", file.display()));
    }
    let path = file.display().to_string();
    if metadata.permissions().mode() & 0o111 != 0 {
        return Ok(vec![path]);
    }
    let is_type = |names: &[&str]| types.iter().any(|t| names.contains(&t.as_str()));
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    let interpreter = if is_type(&["Bash"]) || extension == "bash" {
        "bash"
    } else if is_type(&["Shell", "Sh"]) || extension == "sh" {
        "sh"
    } else if is_type(&["Python"]) || extension == "py" {
        "python3"
    } else {
        return Err(format!(
            "cannot run {path}: it is not executable and neither its artifact type nor its \
             extension (.sh, .bash, .py) says how; make it executable (chmod +x, with a #! \
             line) or give it a Bash, Shell or Python artifact type"
        ));
    };
    Ok(vec![interpreter.to_owned(), path])
}

/// Runs the script to its end (or its time limit), relaying output to `sink`.
pub async fn run(
    script: &Script,
    sink: Option<&UnboundedSender<OperationMessage>>,
) -> Result<ScriptEnd, String> {
    let argv = command_for(&script.file, &script.types)?;
    if let Some(dir) = script.outputs_file.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // A fresh outputs file: what a previous run wrote is not this run's output.
    std::fs::write(&script.outputs_file, b"")
        .map_err(|e| format!("cannot create {}: {e}", script.outputs_file.display()))?;
    let log = open_log(&script.log_file, &script.operation)?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env_clear()
        .envs(&script.environment)
        .env("KHUTULUN_OUTPUTS", &script.outputs_file)
        .current_dir(&script.working_directory)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", argv.join(" ")))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let log = std::sync::Arc::new(std::sync::Mutex::new(log));
    let prefix = script.operation.clone();
    let out_task = tokio::spawn(relay(
        stdout,
        OutputStream::Stdout,
        sink.cloned(),
        log.clone(),
        prefix.clone(),
    ));
    let err_task = tokio::spawn(relay(
        stderr,
        OutputStream::Stderr,
        sink.cloned(),
        log.clone(),
        prefix,
    ));
    let status = match tokio::time::timeout(script.timeout, child.wait()).await {
        Ok(status) => status.map_err(|e| format!("waiting for {}: {e}", argv.join(" ")))?,
        Err(_) => {
            if let Some(pid) = pid {
                // The whole group: a script's children go with it.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
            let _ = child.wait().await;
            return Err(format!(
                "did not finish within {:?}; it was killed (raise the implementation's \
                 timeout if it needs longer)",
                script.timeout
            ));
        }
    };
    let _ = out_task.await;
    let stderr_tail = err_task.await.unwrap_or_default();
    let code = status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
    });
    let outputs = read_outputs(&script.outputs_file)?;
    Ok(ScriptEnd {
        code,
        outputs,
        stderr_tail,
    })
}

fn open_log(path: &Path, operation: &str) -> Result<std::fs::File, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let _ = writeln!(
        file,
        "--- {} {operation} ---",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    Ok(file)
}

/// Relays one stream line by line; returns the last lines (for stderr's failure message).
async fn relay(
    stream: impl AsyncRead + Unpin,
    which: OutputStream,
    sink: Option<UnboundedSender<OperationMessage>>,
    log: std::sync::Arc<std::sync::Mutex<std::fs::File>>,
    operation: String,
) -> Vec<String> {
    const TAIL: usize = 5;
    let mut reader = BufReader::new(stream);
    let mut tail = Vec::new();
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buffer)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        if let Ok(mut file) = log.lock() {
            let _ = writeln!(file, "[{operation} {}] {line}", which.as_str());
        }
        if let Some(sink) = &sink {
            let _ = sink.send(OperationMessage::Output {
                stream: which,
                line: line.clone(),
            });
        }
        tail.push(line);
        if tail.len() > TAIL {
            tail.remove(0);
        }
    }
    tail
}

/// `name=value` lines; a value that parses as JSON is that JSON, else the text itself.
pub fn parse_outputs(text: &str) -> Result<Map<String, Value>, String> {
    let mut outputs = Map::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "line {} of the outputs file is not NAME=VALUE: {line:?}",
                number + 1
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!(
                "line {} of the outputs file has no name",
                number + 1
            ));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
        outputs.insert(name.to_owned(), value);
    }
    Ok(outputs)
}

fn read_outputs(path: &Path) -> Result<Map<String, Value>, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    parse_outputs(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_json_when_they_parse_and_text_otherwise() {
        let outputs = parse_outputs("port=8080\nname=web one\nlist=[1,2]\n\nempty=\n").unwrap();
        assert_eq!(outputs["port"], Value::from(8080));
        assert_eq!(outputs["name"], Value::from("web one"));
        assert_eq!(outputs["list"], serde_json::json!([1, 2]));
        assert_eq!(outputs["empty"], Value::from(""));
        assert!(parse_outputs("no equals sign")
            .unwrap_err()
            .contains("line 1"));
    }

    #[test]
    fn the_command_follows_the_executable_bit_then_the_type_then_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.sh");
        std::fs::write(&plain, "echo hi").unwrap();
        assert_eq!(command_for(&plain, &[]).unwrap()[0], "sh");
        assert_eq!(command_for(&plain, &["Bash".into()]).unwrap()[0], "bash");
        let python = dir.path().join("b.py");
        std::fs::write(&python, "print(1)").unwrap();
        assert_eq!(command_for(&python, &[]).unwrap()[0], "python3");
        let unknown = dir.path().join("c.bin");
        std::fs::write(&unknown, "").unwrap();
        assert!(command_for(&unknown, &[]).unwrap_err().contains("chmod +x"));
        std::fs::set_permissions(&unknown, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            command_for(&unknown, &[]).unwrap(),
            vec![unknown.display().to_string()]
        );
        assert!(command_for(&dir.path().join("missing"), &[])
            .unwrap_err()
            .contains("cannot read"));
    }

    #[tokio::test]
    async fn a_script_streams_its_output_and_reports_outputs_and_its_code() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("op.sh");
        std::fs::write(
            &file,
            "echo out-$GREETING\necho err >&2\necho answer=42 >> \"$KHUTULUN_OUTPUTS\"\nexit 3\n",
        )
        .unwrap();
        let script = Script {
            file,
            types: Vec::new(),
            working_directory: dir.path().to_owned(),
            environment: BTreeMap::from([
                ("GREETING".to_owned(), "hello".to_owned()),
                ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            ]),
            outputs_file: dir.path().join("out/op.outputs"),
            log_file: dir.path().join("operations.log"),
            operation: "Standard.create".into(),
            timeout: Duration::from_secs(30),
        };
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let end = run(&script, Some(&sender)).await.unwrap();
        assert_eq!(end.code, 3);
        assert_eq!(end.outputs["answer"], Value::from(42));
        assert_eq!(end.stderr_tail, vec!["err".to_owned()]);
        drop(sender);
        let mut lines = Vec::new();
        while let Some(message) = receiver.recv().await {
            if let OperationMessage::Output { line, .. } = message {
                lines.push(line);
            }
        }
        lines.sort();
        assert_eq!(lines, vec!["err".to_owned(), "out-hello".to_owned()]);
        let log = std::fs::read_to_string(dir.path().join("operations.log")).unwrap();
        assert!(log.contains("[Standard.create stdout] out-hello"), "{log}");
    }

    #[tokio::test]
    async fn a_script_over_its_time_limit_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("slow.sh");
        std::fs::write(&file, "sleep 30 &\necho $! > child.pid\nwait\n").unwrap();
        let script = Script {
            file,
            types: Vec::new(),
            working_directory: dir.path().to_owned(),
            environment: BTreeMap::from([("PATH".to_owned(), "/usr/bin:/bin".to_owned())]),
            outputs_file: dir.path().join("slow.outputs"),
            log_file: dir.path().join("operations.log"),
            operation: "Standard.start".into(),
            timeout: Duration::from_millis(500),
        };
        let error = run(&script, None).await.err().unwrap();
        assert!(error.contains("did not finish within"), "{error}");
        let child: i32 = std::fs::read_to_string(dir.path().join("child.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The child was sent SIGKILL with the group. It dies a moment later and may linger
        // as a zombie (PID 1 of these machines does not reap), so wait for its state to be
        // dead, not for it to be gone.
        let dead = || {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            matches!(state, None | Some("Z") | Some("X"))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !dead() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(dead(), "the script's child {child} outlived the kill");
    }
}
