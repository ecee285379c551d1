//! Copies a container's output into plain `stdout.log` and `stderr.log`.
//!
//! Every container is created with podman's `k8s-file` log driver: conmon writes each
//! chunk of output as one line, `<time> <stdout|stderr> <F|P> <text>` (`P`: the text did
//! not end a line yet), into a file podman names in `HostConfig.LogConfig.Path`. While
//! [`Delegate::wait`](crate::Delegate::wait) runs, a [`Relay`] per container turns new
//! lines of that file into plain text appended to the instance's log files, woken by
//! inotify (never polling). `podman logs` keeps working for the administrator.
//!
//! Why not `podman logs --follow`: it cannot resume exactly. Its `--since` is a time, and
//! a stdout and a stderr line often carry the same time; its `--timestamps` output puts a
//! time in the middle of a line that was written in two parts. Reading the file itself
//! resumes at a byte offset. Why not podman's `passthrough` driver (the container writing
//! into our files directly): podman then prints the container's name into the same
//! stdout.
//!
//! Where the relay got to is kept in `<log directory>/.podman-log-position-<name>` as
//! `<container id> <inode> <offset>`, so a restarted agent continues where the last one
//! stopped, and nothing is written twice (the position is saved right after each write;
//! only a crash between the two could repeat a chunk). The position file is also locked
//! while a relay works: a second `wait` on the same container copies nothing.

use rustix::fs::{flock, FlockOperation};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use tokio::io::unix::AsyncFd;

/// Written out at least this often while catching up on a long backlog.
const FLUSH_BYTES: usize = 64 * 1024;

pub fn position_file(log_directory: &Path, container_name: &str) -> PathBuf {
    log_directory.join(format!(".podman-log-position-{container_name}"))
}

pub struct Relay {
    container_id: String,
    name: String,
    source_path: PathBuf,
    log_directory: PathBuf,
    state: Option<Locked>,
    /// Whether taking the position lock failed for a reason worth one warning.
    warned: bool,
}

/// What a relay holds once it owns the position lock.
struct Locked {
    position: File,
    stdout: File,
    stderr: File,
    source: Option<(File, u64)>,
    /// The inode the offset belongs to (`None`: start of whatever file is there).
    inode: Option<u64>,
    offset: u64,
}

impl Relay {
    pub fn new(container_id: &str, name: &str, source_path: &Path, log_directory: &Path) -> Self {
        Relay {
            container_id: container_id.to_owned(),
            name: name.to_owned(),
            source_path: source_path.to_owned(),
            log_directory: log_directory.to_owned(),
            state: None,
            warned: false,
        }
    }

    /// The directory to watch: conmon may replace the file (when rotating), so its
    /// directory is watched rather than the file.
    pub fn watch_directory(&self) -> Option<&Path> {
        self.source_path.parent()
    }

    /// Copies whatever complete lines were added since the last call.
    pub fn drain(&mut self) {
        if self.state.is_none() {
            match self.lock() {
                Ok(Some(state)) => self.state = Some(state),
                Ok(None) => return,
                Err(e) => {
                    if !self.warned {
                        tracing::warn!(container = %self.name, "cannot copy the container's output to {}: {e}", self.log_directory.display());
                        self.warned = true;
                    }
                    return;
                }
            }
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        if let Err(e) = state.copy(&self.source_path, &self.container_id) {
            tracing::warn!(container = %self.name, "copying the container's output: {e}");
        }
    }

    /// Takes the position lock and reads the saved position; `None` while another relay
    /// holds it.
    fn lock(&self) -> std::io::Result<Option<Locked>> {
        std::fs::create_dir_all(&self.log_directory)?;
        let path = position_file(&self.log_directory, &self.name);
        let mut position = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match flock(&position, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let mut saved = String::new();
        position.read_to_string(&mut saved)?;
        let (inode, offset) = parse_position(&saved, &self.container_id).unwrap_or((None, 0));
        let append = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_directory.join(name))
        };
        Ok(Some(Locked {
            position,
            stdout: append("stdout.log")?,
            stderr: append("stderr.log")?,
            source: None,
            inode,
            offset,
        }))
    }
}

impl Locked {
    fn copy(&mut self, path: &Path, container_id: &str) -> std::io::Result<()> {
        // At most a few rounds: the current file, then a replacement found afterwards.
        for _ in 0..4 {
            if self.source.is_none() {
                let file = match File::open(path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(e),
                };
                let inode = file.metadata()?.ino();
                if self.inode != Some(inode) {
                    self.inode = Some(inode);
                    self.offset = 0;
                }
                self.source = Some((file, inode));
            }
            let Some((file, inode)) = &self.source else {
                return Ok(());
            };
            let inode = *inode;
            if file.metadata()?.len() < self.offset {
                // Truncated in place: start over.
                self.offset = 0;
            }
            self.copy_from_offset(container_id)?;
            match std::fs::metadata(path) {
                Ok(m) if m.ino() == inode => return Ok(()),
                // Replaced (rotated) after what we read: go on with the new file.
                Ok(_) => self.source = None,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn copy_from_offset(&mut self, container_id: &str) -> std::io::Result<()> {
        let Some((file, _)) = &self.source else {
            return Ok(());
        };
        let mut reader = BufReader::new(file.try_clone()?);
        reader.seek(SeekFrom::Start(self.offset))?;
        let mut out = [Vec::new(), Vec::new()];
        let mut consumed = 0u64;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                // The end, or a line conmon is still writing: it is read next time.
                break;
            }
            let (stream, text) = parse_record(&line);
            out[stream as usize].extend_from_slice(text);
            consumed += n as u64;
            if out[0].len() + out[1].len() >= FLUSH_BYTES {
                self.write(&mut out, consumed, container_id)?;
                consumed = 0;
            }
        }
        if consumed > 0 {
            self.write(&mut out, consumed, container_id)?;
        }
        Ok(())
    }

    /// Appends the text, then records the new position (in that order: a crash between
    /// the two repeats a chunk rather than losing it).
    fn write(
        &mut self,
        out: &mut [Vec<u8>; 2],
        consumed: u64,
        container_id: &str,
    ) -> std::io::Result<()> {
        if !out[0].is_empty() {
            self.stdout.write_all(&out[0])?;
        }
        if !out[1].is_empty() {
            self.stderr.write_all(&out[1])?;
        }
        out[0].clear();
        out[1].clear();
        self.offset += consumed;
        let saved = format!(
            "{container_id} {} {}\n",
            self.inode.unwrap_or(0),
            self.offset
        );
        self.position.set_len(0)?;
        self.position.write_all_at(saved.as_bytes(), 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

/// One line of a k8s-file log: `<time> <stream> <tag> <text>\n`, where tag `P` marks text
/// that continues in the next record (so it gets no newline). A line in any other shape
/// is kept whole as stdout.
pub fn parse_record(line: &[u8]) -> (Stream, &[u8]) {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let (Some(_time), Some(stream), Some(tag)) = (fields.next(), fields.next(), fields.next())
    else {
        return (Stream::Stdout, line);
    };
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return (Stream::Stdout, line),
    };
    // `tag` is the last field when the text is empty; then it still holds the newline.
    let (tag, text) = match fields.next() {
        Some(text) => (tag, text),
        None => (tag.strip_suffix(b"\n").unwrap_or(tag), &b"\n"[..]),
    };
    let partial = tag.split(|b| *b == b':').any(|t| t == b"P");
    if partial {
        (stream, text.strip_suffix(b"\n").unwrap_or(text))
    } else {
        (stream, text)
    }
}

/// `<container id> <inode> <offset>` when it belongs to `container_id`.
fn parse_position(saved: &str, container_id: &str) -> Option<(Option<u64>, u64)> {
    let mut fields = saved.split_whitespace();
    if fields.next()? != container_id {
        return None;
    }
    let inode: u64 = fields.next()?.parse().ok()?;
    let offset = fields.next()?.parse().ok()?;
    Some(((inode != 0).then_some(inode), offset))
}

/// inotify on the directories of the containers' log files.
pub struct Watcher {
    fd: AsyncFd<OwnedFd>,
}

impl Watcher {
    pub fn new<'a>(directories: impl Iterator<Item = &'a Path>) -> std::io::Result<Watcher> {
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)?;
        for directory in directories {
            inotify::add_watch(
                &fd,
                directory,
                inotify::WatchFlags::MODIFY
                    | inotify::WatchFlags::CREATE
                    | inotify::WatchFlags::MOVED_TO
                    | inotify::WatchFlags::CLOSE_WRITE,
            )?;
        }
        // SAFETY: `fd` is an owned inotify descriptor that the AsyncFd owns until it is
        // dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)? };
        Ok(Watcher { fd })
    }

    /// Resolves when something changed in a watched directory.
    pub async fn changed(&self) {
        let Ok(mut guard) = self.fd.readable().await else {
            return std::future::pending().await;
        };
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(self.fd.get_ref(), &mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => {
                    guard.clear_ready();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_plain_text() {
        assert_eq!(
            parse_record(b"2026-11-22T02:45:16.148851045+00:00 stdout F out\n"),
            (Stream::Stdout, &b"out\n"[..])
        );
        assert_eq!(
            parse_record(b"2026-11-22T02:45:16.148851045+00:00 stdout P part\n"),
            (Stream::Stdout, &b"part"[..])
        );
        assert_eq!(
            parse_record(b"2026-11-22T02:45:16.148941079+00:00 stderr F err with  spaces \n"),
            (Stream::Stderr, &b"err with  spaces \n"[..])
        );
        assert_eq!(
            parse_record(b"2026-11-22T02:45:16+00:00 stdout F\n"),
            (Stream::Stdout, &b"\n"[..])
        );
        assert_eq!(
            parse_record(b"2026-11-22T02:45:16+00:00 stdout F \n"),
            (Stream::Stdout, &b"\n"[..])
        );
        assert_eq!(
            parse_record(b"garbage\n"),
            (Stream::Stdout, &b"garbage\n"[..])
        );
    }

    #[test]
    fn positions_belong_to_one_container() {
        assert_eq!(parse_position("abc 12 345\n", "abc"), Some((Some(12), 345)));
        assert_eq!(parse_position("abc 12 345\n", "def"), None);
        assert_eq!(parse_position("", "abc"), None);
    }

    fn relay_output(source: &Path, logs: &Path) -> (String, String) {
        let mut relay = Relay::new("id1", "web", source, logs);
        relay.drain();
        drop(relay);
        (
            std::fs::read_to_string(logs.join("stdout.log")).unwrap_or_default(),
            std::fs::read_to_string(logs.join("stderr.log")).unwrap_or_default(),
        )
    }

    #[test]
    fn resumes_where_it_stopped_and_waits_for_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("ctr.log");
        let logs = dir.path().join("logs");
        let mut log = File::create(&source).unwrap();
        log.write_all(b"t stdout F one\nt stderr F err\nt stdout P par")
            .unwrap();
        assert_eq!(
            relay_output(&source, &logs),
            ("one\n".into(), "err\n".into())
        );
        // A restarted agent: nothing twice, the rest once it is complete.
        log.write_all(b"t\nt stdout F two\n").unwrap();
        assert_eq!(
            relay_output(&source, &logs),
            ("one\nparttwo\n".into(), "err\n".into())
        );
        assert_eq!(
            relay_output(&source, &logs),
            ("one\nparttwo\n".into(), "err\n".into())
        );
        // A new container of the same name starts from the beginning of its own file.
        // The position lock is an flock: a process forked by another test in this binary
        // holds a copy of its descriptor until it execs, so a drain may find it taken for a
        // moment and copy on a later one, as a relay does.
        let mut other = Relay::new("id2", "web", &source, &logs);
        let expected = "one\nparttwo\none\nparttwo\n";
        for _ in 0..100 {
            other.drain();
            if std::fs::read_to_string(logs.join("stdout.log")).unwrap() == expected {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            std::fs::read_to_string(logs.join("stdout.log")).unwrap(),
            expected
        );
    }

    #[test]
    fn a_second_relay_copies_nothing_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("ctr.log");
        let logs = dir.path().join("logs");
        std::fs::write(&source, "t stdout F one\n").unwrap();
        let mut first = Relay::new("id1", "web", &source, &logs);
        first.drain();
        let mut second = Relay::new("id1", "web", &source, &logs);
        std::fs::write(&source, "t stdout F one\nt stdout F two\n").unwrap();
        second.drain();
        first.drain();
        drop(first);
        second.drain();
        assert_eq!(
            std::fs::read_to_string(logs.join("stdout.log")).unwrap(),
            "one\ntwo\n"
        );
    }

    #[test]
    fn a_replaced_file_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("ctr.log");
        let logs = dir.path().join("logs");
        std::fs::write(&source, "t stdout F one\n").unwrap();
        let mut relay = Relay::new("id1", "web", &source, &logs);
        relay.drain();
        let rotated = dir.path().join("ctr.log.new");
        std::fs::write(&rotated, "t stdout F two\n").unwrap();
        std::fs::rename(&rotated, &source).unwrap();
        relay.drain();
        assert_eq!(
            std::fs::read_to_string(logs.join("stdout.log")).unwrap(),
            "one\ntwo\n"
        );
    }
}
