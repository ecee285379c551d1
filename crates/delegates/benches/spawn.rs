//! Starting a process from a big agent: `fork` (std's `Command` with a `pre_exec` hook, as
//! the process delegate did) against `launch::Launch` (clone with CLONE_VM|CLONE_VFORK), as
//! the parent's resident memory grows. Prints a table: microseconds per start (spawn until
//! the child has exec'd, plus its reaping), best of 3 rounds.
//!
//! ```sh
//! cargo bench -p khutulun-delegates --bench spawn
//! ```
//!
//! `KH_BENCH_SPAWNS`: starts per round (default 300). `KH_BENCH_RSS_MB`: the resident
//! sizes to measure at (default `20,200,600`).

use khutulun_delegates::launch::Launch;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "spawn: a benchmark; run it with `cargo bench -p khutulun-delegates --bench spawn`"
        );
        return;
    }
    let spawns: usize = env_list("KH_BENCH_SPAWNS", "300")[0];
    let sizes = env_list("KH_BENCH_RSS_MB", "20,200,600");
    let mut ballast: Vec<u8> = Vec::new();
    let mut rows = Vec::new();
    for mb in sizes {
        // Grow the resident set to about `mb` MB: touched pages, as a busy agent has.
        let want = mb * 1024 * 1024;
        if ballast.len() < want {
            ballast.resize(want, 1);
            for page in ballast.chunks_mut(4096) {
                page[0] = page[0].wrapping_add(1);
            }
        }
        let rss = rss_mb();
        let fork_us = best_of(3, || per_start_us(spawns, fork_start));
        let launch_us = best_of(3, || per_start_us(spawns, launch_start));
        eprintln!("spawn bench: RSS {rss:.0} MB: fork {fork_us:.0} us, launch {launch_us:.0} us");
        rows.push((rss, fork_us, launch_us));
    }
    println!("\nStarting `/bin/true` and reaping it, microseconds per start (best of 3 rounds of {spawns})\n");
    println!(
        "{:>12}  {:>10}  {:>12}  {:>7}",
        "parent RSS MB", "fork us", "launch us", "ratio"
    );
    for (rss, fork, launch) in rows {
        println!(
            "{rss:>12.0}  {fork:>10.0}  {launch:>12.0}  {:>7.2}",
            fork / launch
        );
    }
    std::hint::black_box(&ballast);
}

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: numbers"))
        })
        .collect()
}

fn best_of(rounds: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..rounds).map(|_| f()).fold(f64::MAX, f64::min)
}

fn per_start_us(n: usize, start: fn() -> u32) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        let pid = start();
        let mut status = 0;
        unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// What the process delegate did before: a session of its own in `pre_exec`, so std forks.
fn fork_start() -> u32 {
    let mut command = Command::new("/bin/true");
    command
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    command.spawn().expect("fork and exec").id()
}

fn launch_start() -> u32 {
    let null = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
    Launch::new(
        Path::new("/bin/true"),
        &[] as &[&str],
        [] as [(&str, &str); 0],
        Path::new("/"),
        null(),
        null(),
        null(),
    )
    .unwrap()
    .spawn()
    .expect("launch")
    .pid
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}
