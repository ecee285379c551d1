//! Atomic file replacement: a reader sees the old file or the new one, never a mix, and the
//! new one survives a crash once this returns.

use crate::error::{StateError, StateResult};
use serde::{de::DeserializeOwned, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Who writes: the host name an agent sets at start (`set_writer`), so that its temporary
/// files can be told from other hosts' on a shared state and swept after a crash.
static WRITER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names this process's temporary files after `host` (once; later calls are ignored).
pub fn set_writer(host: &str) {
    let _ = WRITER.set(host.to_owned());
}

/// The temporary name `write_atomic` uses for `name`: `.<name>~<host>~<pid>.<n>.tmp`.
fn temp_name(name: &str) -> String {
    format!(
        ".{name}~{}~{}.{}.tmp",
        WRITER.get().map_or("", String::as_str),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// True when `file_name` is a temporary file of `write_atomic` written for `host` by a
/// process other than this one: left behind by a crash of an earlier agent of the host.
pub(crate) fn is_stale_temp_of(file_name: &str, host: &str) -> bool {
    let Some(inner) = file_name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
    else {
        return false;
    };
    let mut parts = inner.rsplit('~');
    let (Some(pid_and_n), Some(writer)) = (parts.next(), parts.next()) else {
        return false;
    };
    let pid = pid_and_n
        .split('.')
        .next()
        .and_then(|p| p.parse::<u32>().ok());
    writer == host && pid.is_some_and(|p| p != std::process::id())
}

/// Writes `bytes` to `path` through a temporary file in the same directory:
/// write, fsync, rename over the target, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> StateResult<()> {
    crate::offload::blocking(|| write_atomic_here(path, bytes, Durability::Synced))
}

/// Whether a replaced file must survive a crash of the machine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// fsync the file and its directory: state other hosts and later boots rely on.
    Synced,
    /// Readers see the old file or the new one, but a machine crash may lose both: for
    /// notes about running processes, which do not survive one either.
    ThisBoot,
}

fn write_atomic_here(path: &Path, bytes: &[u8], durability: Durability) -> StateResult<()> {
    let dir = path.parent().expect("state paths always have a parent");
    fs::create_dir_all(dir).map_err(|e| StateError::io("create directory", dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(temp_name(name));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| StateError::io("create", &temp, e))?;
        file.write_all(bytes)
            .map_err(|e| StateError::io("write", &temp, e))?;
        if durability == Durability::Synced {
            file.sync_all()
                .map_err(|e| StateError::io("fsync", &temp, e))?;
        }
        fs::rename(&temp, path).map_err(|e| StateError::io("rename into place", path, e))?;
        match durability {
            Durability::Synced => sync_dir(dir),
            Durability::ThisBoot => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Makes a rename or unlink in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> StateResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StateError::io("fsync directory", dir, e))
}

/// Writes `value` as pretty JSON (people read these files).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> StateResult<()> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("state types always serialize");
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Like [`write_json`], without the fsyncs: the file is replaced atomically for readers,
/// but a crash of the machine may lose it. Only for what is worthless after such a crash
/// (a note of the processes an agent runs: they die with the machine).
pub fn write_json_for_this_boot<T: Serialize>(path: &Path, value: &T) -> StateResult<()> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("state types always serialize");
    bytes.push(b'\n');
    crate::offload::blocking(|| write_atomic_here(path, &bytes, Durability::ThisBoot))
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> StateResult<Option<T>> {
    match crate::offload::blocking(|| fs::read(path)) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StateError::Corrupt {
                    path: path.to_owned(),
                    source,
                })
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StateError::io("read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_for_this_boot_is_replaced_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid.json");
        for pid in [1, 2] {
            write_json_for_this_boot(&path, &serde_json::json!({ "pid": pid })).unwrap();
            let read: serde_json::Value = read_json(&path).unwrap().unwrap();
            assert_eq!(read["pid"], pid);
        }
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["pid.json"]);
    }

    #[test]
    fn stale_temporary_files_are_told_by_host_and_pid() {
        let other_pid = std::process::id() + 1;
        assert!(is_stale_temp_of(
            &format!(".service.json~h1~{other_pid}.3.tmp"),
            "h1"
        ));
        let mine = format!(".service.json~h1~{}.3.tmp", std::process::id());
        assert!(!is_stale_temp_of(&mine, "h1"), "this process's own");
        assert!(!is_stale_temp_of(
            &format!(".service.json~h2~{other_pid}.3.tmp"),
            "h1"
        ));
        assert!(!is_stale_temp_of("service.json", "h1"));
        assert!(!is_stale_temp_of(".a~b.tmp", "h1"));
        // Host names may hold dots and file names tildes.
        assert!(is_stale_temp_of(
            &format!(".a~b.json~h.x~{other_pid}.0.tmp"),
            "h.x"
        ));
    }

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.json");
        write_json(&path, &serde_json::json!({"n": 1})).unwrap();
        write_json(&path, &serde_json::json!({"n": 2})).unwrap();
        let value: serde_json::Value = read_json(&path).unwrap().unwrap();
        assert_eq!(value["n"], 2);
        let names: Vec<_> = fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["b.json"]);
    }

    #[test]
    fn missing_file_reads_as_none_and_garbage_as_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        assert!(read_json::<serde_json::Value>(&path).unwrap().is_none());
        fs::write(&path, b"{not json").unwrap();
        let err = read_json::<serde_json::Value>(&path).unwrap_err();
        assert!(
            err.to_string().contains("x.json is not valid JSON"),
            "{err}"
        );
    }
}
