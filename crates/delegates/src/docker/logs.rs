//! Copying a container's output out of the engine into `stdout.log` / `stderr.log`.
//!
//! Why copy at all: the agent's log API reads plain files in the instance's log directory
//! for every delegate; the engine keeps the output in its own log driver (json-file by
//! default), which the agent cannot read directly. Why from `wait`: `wait` runs for as long
//! as the container does (the agent supervises every instance with it, again after an agent
//! restart), and the logs stream with `follow` ends exactly when the container stops, so
//! the copy is complete when `wait` resolves.
//!
//! Why timestamps: after an agent restart the stream is asked again from the last second
//! copied (`since` has a one-second granularity), and the frames up to the last copied
//! frame's timestamp are skipped, so no line is written twice. The engine stamps each
//! stream's lines in that stream's own reader, so timestamps only grow within a stream,
//! not across stdout and stderr (a stderr line can carry an earlier stamp than the stdout
//! line before it): [`POSITION_FILE`] keeps one position per stream, with the container's id
//! so that a new container starts from its beginning.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Remembers, in the log directory, the container and the timestamps of the last stdout
/// and stderr frames copied: `<container id> <secs> <nanos> <secs> <nanos>`.
pub const POSITION_FILE: &str = ".docker-logs-position";

/// A point in time, as (unix seconds, nanoseconds): ordered.
pub type Timestamp = (i64, u32);

/// Parses an RFC 3339 timestamp as the Engine API prefixes log frames with
/// (`2024-05-01T10:00:00.123456789Z`, or with a `+02:00` offset from some log drivers).
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos: u32 = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut padded = fraction[..digits.min(9)].to_string();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some((seconds, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Splits a timestamped frame into its timestamp and the output.
pub fn split_frame(frame: &[u8]) -> Option<(Timestamp, &[u8])> {
    let space = frame.iter().position(|b| *b == b' ')?;
    let stamp = std::str::from_utf8(&frame[..space]).ok()?;
    Some((parse_timestamp(stamp)?, &frame[space + 1..]))
}

/// How far the copy got, per stream ((0, 0): nothing copied yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub stdout: Timestamp,
    pub stderr: Timestamp,
}

/// Reads the position file, if it is this container's.
pub fn read_position(log_directory: &Path, container_id: &str) -> Option<Position> {
    let text = std::fs::read_to_string(log_directory.join(POSITION_FILE)).ok()?;
    let mut fields = text.split_whitespace();
    if fields.next()? != container_id {
        return None;
    }
    let mut next = || fields.next()?.parse::<i64>().ok();
    let (a, b, c, d) = (next()?, next()?, next()?, next()?);
    Some(Position {
        stdout: (a, u32::try_from(b).ok()?),
        stderr: (c, u32::try_from(d).ok()?),
    })
}

fn write_position(log_directory: &Path, container_id: &str, at: Position) {
    // Written aside and renamed: a crash never leaves a torn position.
    let path = log_directory.join(POSITION_FILE);
    let temporary = log_directory.join(format!("{POSITION_FILE}.tmp"));
    let text = format!(
        "{container_id} {} {} {} {}\n",
        at.stdout.0, at.stdout.1, at.stderr.0, at.stderr.1
    );
    let result = std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(e) = result {
        tracing::warn!("cannot record the log position in {}: {e}", path.display());
    }
}

/// The containers whose output this process copies right now: a second `wait` on the same
/// container (two supervisors, or a test) must not copy every line twice.
fn copying() -> &'static Mutex<HashSet<String>> {
    static COPYING: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    COPYING.get_or_init(Default::default)
}

struct CopyingGuard(String);

impl CopyingGuard {
    fn claim(container_id: &str) -> Option<Self> {
        let mut set = copying().lock().unwrap_or_else(|e| e.into_inner());
        set.insert(container_id.to_string())
            .then(|| CopyingGuard(container_id.to_string()))
    }
}

impl Drop for CopyingGuard {
    fn drop(&mut self) {
        copying()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// Copies the container's output into `log_directory` until the engine ends the stream
/// (the container stopped) or fails.
pub async fn copy_output(docker: &Docker, container_id: &str, log_directory: PathBuf) {
    let Some(_guard) = CopyingGuard::claim(container_id) else {
        return;
    };
    if let Err(e) = std::fs::create_dir_all(&log_directory) {
        tracing::warn!(
            "cannot create log directory {}: {e}",
            log_directory.display()
        );
        return;
    }
    let open = |name: &str| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_directory.join(name))
    };
    let (mut stdout, mut stderr) = match (open("stdout.log"), open("stderr.log")) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("cannot open logs in {}: {e}", log_directory.display());
            return;
        }
    };
    // Frames up to `resume` were copied before (by an earlier agent); `position` follows
    // the copy. Only the replayed frames are compared: two live lines may share a stamp.
    let resume = read_position(&log_directory, container_id).unwrap_or_default();
    let mut position = resume;
    let since = resume.stdout.min(resume.stderr).0;
    let options = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: true,
        since: i32::try_from(since).unwrap_or(i32::MAX),
        ..Default::default()
    };
    // Frames that are ready together are written together, then the position is recorded
    // once for the batch.
    let mut frames = docker.logs(container_id, Some(options)).ready_chunks(256);
    while let Some(batch) = frames.next().await {
        let before = position;
        for frame in batch {
            let (file, bytes, done, at) = match &frame {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    (&mut stdout, message, resume.stdout, &mut position.stdout)
                }
                Ok(LogOutput::StdErr { message }) => {
                    (&mut stderr, message, resume.stderr, &mut position.stderr)
                }
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(e) => {
                    tracing::warn!("the output of container {container_id} stopped: {e}");
                    continue;
                }
            };
            let output = match split_frame(bytes) {
                Some((stamp, _)) if stamp <= done => continue,
                Some((stamp, output)) => {
                    *at = stamp;
                    output
                }
                None => &bytes[..],
            };
            if let Err(e) = file.write_all(output) {
                tracing::warn!("cannot write the output of container {container_id}: {e}");
            }
        }
        if position != before {
            write_position(&log_directory, container_id, position);
        }
    }
}

/// Forgets the position (the service is deleted).
pub fn forget_position(log_directory: &Path) {
    let _ = std::fs::remove_file(log_directory.join(POSITION_FILE));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engine_timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_timestamp("2026-11-22T02:43:23.674842306Z"),
            Some((1_795_315_403, 674_842_306))
        );
        // Trailing zeros trimmed (RFC3339Nano) and an offset.
        assert_eq!(
            parse_timestamp("2026-11-22T03:43:23.5+01:00"),
            Some((1_795_315_403, 500_000_000))
        );
        assert_eq!(
            parse_timestamp("2000-02-29T12:00:00Z"),
            Some((951_825_600, 0))
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2026-11-22T02:43:23."), None);
    }

    #[test]
    fn splits_frames_and_orders_timestamps() {
        let (at, out) = split_frame(b"2026-11-22T02:43:23.000000001Z hello world\n").unwrap();
        assert_eq!(out, b"hello world\n");
        let (later, _) = split_frame(b"2026-11-22T02:43:23.00000001Z x\n").unwrap();
        assert!(later > at);
        assert_eq!(split_frame(b"no timestamp here"), None);
    }

    #[test]
    fn position_belongs_to_one_container() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_position(dir.path(), "abc"), None);
        let at = Position {
            stdout: (12, 34),
            stderr: (11, 999_999_999),
        };
        write_position(dir.path(), "abc", at);
        assert_eq!(read_position(dir.path(), "abc"), Some(at));
        assert_eq!(read_position(dir.path(), "def"), None);
        forget_position(dir.path());
        assert_eq!(read_position(dir.path(), "abc"), None);
    }
}
