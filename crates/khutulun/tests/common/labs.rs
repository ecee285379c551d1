//! What the network-namespace lab (`netns.rs`) and the NFS lab (`uml.rs`) share: `ip`
//! commands, and lab ids handed out under flock so that parallel test processes never
//! share a lab.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::process::{Command, Stdio};

/// Runs `ip ARGS`; Ok(stdout) or Err(a message naming the command and its stderr).
pub fn ip(args: &[&str]) -> Result<String, String> {
    let shown = format!("ip {}", args.join(" "));
    match Command::new("ip").args(args).stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("`{shown}` could not run: {e}")),
    }
}

/// Lab ids 1..=`max`: a counter file says where to start looking, and a lab holds the flock
/// of `<lock_prefix><id>.lock` for its whole life.
pub struct IdPool {
    /// Names the lab kind in messages.
    pub what: &'static str,
    pub counter: &'static str,
    pub lock_prefix: &'static str,
    pub max: u32,
}

impl IdPool {
    /// Takes an id whose lock nobody holds, starting after the last one handed out; runs
    /// `sweep` (removing what dead labs left behind) first, under the counter's flock.
    pub fn allocate(&self, sweep: impl FnOnce()) -> (u32, File) {
        let what = self.what;
        let counter = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.counter)
            .unwrap_or_else(|e| panic!("{what}: open {}: {e}", self.counter));
        counter.lock().expect("lock the lab id counter");
        sweep();
        let mut text = String::new();
        let _ = (&counter).read_to_string(&mut text);
        let next: u32 = text.trim().parse().unwrap_or(1);
        let start = if (1..=self.max).contains(&next) {
            next
        } else {
            1
        };
        for k in 0..self.max {
            let id = (start - 1 + k) % self.max + 1;
            let lock = self.lock_file(id);
            if lock.try_lock().is_ok() {
                (&counter).seek(std::io::SeekFrom::Start(0)).unwrap();
                counter.set_len(0).unwrap();
                write!(&counter, "{}", id % self.max + 1).unwrap();
                let _ = counter.unlock();
                return (id, lock);
            }
        }
        panic!("{what}: all {} lab ids are in use", self.max);
    }

    /// The lock file of lab `id` (opened, not locked).
    pub fn lock_file(&self, id: u32) -> File {
        let path = format!("{}{id}.lock", self.lock_prefix);
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: open {path}: {e}", self.what))
    }
}
