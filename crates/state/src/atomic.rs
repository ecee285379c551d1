//! Atomic file replacement: a reader sees the old file or the new one, never a mix, and the
//! new one survives a crash once this returns.

use crate::error::{StateError, StateResult};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
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

/// One file a batch replaces (`write_atomic_batch`): where, and its new content.
#[derive(Debug)]
pub struct Replacement {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl Replacement {
    /// `value` as pretty JSON, like [`write_json`] writes it.
    pub fn json<T: Serialize>(path: PathBuf, value: &T) -> Replacement {
        Replacement {
            path,
            bytes: json_bytes(value),
        }
    }
}

/// Replaces several files, each atomically as [`write_atomic`] does, with the fsyncs
/// shared: every temporary file is written, their writeback started together, each
/// fsynced (on a journalling filesystem the first commit carries the others), then all are
/// renamed in order (a later item for the same path wins), then each directory is fsynced
/// once. One result per item, in order. An item whose result is an error was not replaced,
/// unless only its directory's fsync failed: then, as with `write_atomic`, it is in place
/// but maybe not durable. `renamed` is told the index of each item once it is in place.
pub fn write_atomic_batch(
    items: &[Replacement],
    renamed: &mut dyn FnMut(usize),
) -> Vec<StateResult<()>> {
    crate::offload::blocking(|| write_batch_here(items, renamed))
}

pub(crate) fn write_batch_here(
    items: &[Replacement],
    renamed: &mut dyn FnMut(usize),
) -> Vec<StateResult<()>> {
    let mut results: Vec<StateResult<()>> = Vec::with_capacity(items.len());
    let mut temps: Vec<Option<(PathBuf, File)>> = Vec::with_capacity(items.len());
    let mut dirs_made: BTreeSet<&Path> = BTreeSet::new();
    for item in items {
        let dir = item
            .path
            .parent()
            .expect("state paths always have a parent");
        let written = (|| {
            if !dirs_made.contains(dir) {
                fs::create_dir_all(dir).map_err(|e| StateError::io("create directory", dir, e))?;
                dirs_made.insert(dir);
            }
            let name = item
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("file");
            let temp = dir.join(temp_name(name));
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(|e| StateError::io("create", &temp, e))?;
            if let Err(e) = file.write_all(&item.bytes) {
                let _ = fs::remove_file(&temp);
                return Err(StateError::io("write", &temp, e));
            }
            Ok((temp, file))
        })();
        match written {
            Ok(temp) => {
                temps.push(Some(temp));
                results.push(Ok(()));
            }
            Err(e) => {
                temps.push(None);
                results.push(Err(e));
            }
        }
    }
    // Writeback of every file at once: the fsyncs below then find their data on its way
    // (a hint; an error here shows again in the fsync).
    for (_, file) in temps.iter().flatten() {
        start_writeback(file);
    }
    for (at, temp) in temps.iter_mut().enumerate() {
        if let Some((path, file)) = temp {
            if let Err(e) = file.sync_all() {
                results[at] = Err(StateError::io("fsync", &*path, e));
                let _ = fs::remove_file(&*path);
                *temp = None;
            }
        }
    }
    let mut renamed_dirs: BTreeSet<&Path> = BTreeSet::new();
    for (at, temp) in temps.into_iter().enumerate() {
        let Some((path, file)) = temp else { continue };
        drop(file);
        let target = &items[at].path;
        match fs::rename(&path, target) {
            Ok(()) => {
                renamed_dirs.insert(target.parent().expect("state paths always have a parent"));
                renamed(at);
            }
            Err(e) => {
                results[at] = Err(StateError::io("rename into place", target, e));
                let _ = fs::remove_file(&path);
            }
        }
    }
    for dir in renamed_dirs {
        if let Err(e) = sync_dir(dir) {
            let why = e.to_string();
            for (at, item) in items.iter().enumerate() {
                if item.path.parent() == Some(dir) && results[at].is_ok() {
                    results[at] = Err(StateError::io(
                        "fsync directory",
                        dir,
                        std::io::Error::other(why.clone()),
                    ));
                }
            }
        }
    }
    results
}

/// Starts writing `file`'s dirty pages back without waiting (`sync_file_range`).
fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on a descriptor `file` owns for the whole call.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Makes a rename or unlink in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> StateResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StateError::io("fsync directory", dir, e))
}

/// Writes `value` as pretty JSON (people read these files).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> StateResult<()> {
    write_atomic(path, &json_bytes(value))
}

/// A state file's content: pretty JSON and a final newline (people read these files).
fn json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("state types always serialize");
    bytes.push(b'\n');
    bytes
}

/// Like [`write_json`], without the fsyncs: the file is replaced atomically for readers,
/// but a crash of the machine may lose it. Only for what is worthless after such a crash
/// (a note of the processes an agent runs: they die with the machine).
pub fn write_json_for_this_boot<T: Serialize>(path: &Path, value: &T) -> StateResult<()> {
    let bytes = json_bytes(value);
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

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_batch_replaces_each_file_in_order_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let item = |path: &str, n: u32| {
            Replacement::json(dir.path().join(path), &serde_json::json!({ "n": n }))
        };
        write_json(&dir.path().join("a/x.json"), &serde_json::json!({ "n": 0 })).unwrap();
        let items = [
            item("a/x.json", 1),
            item("b/y.json", 2),
            item("a/x.json", 3),
            item("a/z.json", 4),
        ];
        let mut renamed = Vec::new();
        let results = write_atomic_batch(&items, &mut |at| renamed.push(at));
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(renamed, [0, 1, 2, 3]);
        let n = |path: &str| {
            read_json::<serde_json::Value>(&dir.path().join(path))
                .unwrap()
                .unwrap()["n"]
                .clone()
        };
        // The later item for the same file wins.
        assert_eq!(n("a/x.json"), 3);
        assert_eq!(n("b/y.json"), 2);
        assert_eq!(n("a/z.json"), 4);
        assert_eq!(names_in(&dir.path().join("a")), ["x.json", "z.json"]);
        assert_eq!(names_in(&dir.path().join("b")), ["y.json"]);
    }

    #[test]
    fn an_item_that_cannot_be_written_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        // "blocked" is a file, so nothing can be created below it.
        fs::write(dir.path().join("blocked"), b"").unwrap();
        let items = [
            Replacement::json(dir.path().join("ok/1.json"), &1),
            Replacement::json(dir.path().join("blocked/2.json"), &2),
            Replacement::json(dir.path().join("ok/3.json"), &3),
        ];
        let mut renamed = Vec::new();
        let results = write_atomic_batch(&items, &mut |at| renamed.push(at));
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        let error = results[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("blocked"), "{error}");
        assert_eq!(renamed, [0, 2]);
        assert_eq!(names_in(&dir.path().join("ok")), ["1.json", "3.json"]);
        assert_eq!(
            read_json::<u32>(&dir.path().join("ok/3.json")).unwrap(),
            Some(3)
        );
    }
}
