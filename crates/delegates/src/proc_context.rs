//! What a running process works with, read from /proc: its environment, working directory
//! and user — what `khutulun exec` gives a command run beside a bare process.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The environment the process was started with (/proc/<pid>/environ).
pub fn environment(pid: u32) -> std::io::Result<BTreeMap<String, String>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ"))?;
    Ok(raw
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let (key, value) = text.split_once('=')?;
            (!key.is_empty()).then(|| (key.to_owned(), value.to_owned()))
        })
        .collect())
}

/// Its current working directory (/proc/<pid>/cwd).
pub fn working_directory(pid: u32) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd"))
}

/// Its real uid and gid (/proc/<pid>/status).
pub fn user(pid: u32) -> std::io::Result<(u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|real| real.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("/proc/{pid}/status has no {name} line"),
                )
            })
    };
    Ok((field("Uid:")?, field("Gid:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_child_s_environment_directory_and_user() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env_clear()
            .env("ONLY", "this=that")
            .current_dir("/tmp")
            .spawn()
            .unwrap();
        let pid = child.id();
        let env = environment(pid).unwrap();
        assert_eq!(env.get("ONLY").map(String::as_str), Some("this=that"));
        assert_eq!(env.len(), 1, "{env:?}");
        assert_eq!(working_directory(pid).unwrap(), PathBuf::from("/tmp"));
        let me = rustix::process::getuid().as_raw();
        assert_eq!(user(pid).unwrap().0, me);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            environment(pid).is_err(),
            "a reaped process has no /proc entry"
        );
    }
}
