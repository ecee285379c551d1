//! How fast the TOSCA front end validates a corpus: prints tables, asserts nothing.
//!
//! ```text
//! cargo build --release -p khutulun-tosca --examples
//! target/release/examples/corpus-bench [MANIFEST] [--command "PROGRAM ARGS..."] [--jobs N]
//!                                      [--seconds S] [--runs N]
//! ```
//!
//! `MANIFEST` defaults to `../shared/tosca-corpus/manifest.json` (the corpus of
//! `tosca-corpus-check`: a list of `{ "file": ..., "expect": "valid" | "invalid" }`).
//!
//! 1. In-process: every file is compiled with its absolute path through [`FsReader`] (so
//!    its imports resolve against its folder, as the corpus tool's working directory does),
//!    passes repeated for about `--seconds` (default 3); per-file time is the median of a
//!    file's passes. Goal: median under 1 ms.
//! 2. One process per file, as a user runs it: `PROGRAM ARGS... FILE` in the file's folder,
//!    `--jobs` (default 2) at a time, `--runs` (default 3) passes over the corpus. The
//!    default program is `target/release/examples/tosca-check`; give
//!    `--command "target/release/khutulun tosca validate"` for the CLI. Goal: the whole
//!    corpus well under 1 s on 2 cores.

use khutulun_tosca::{compile, FsReader, ProfileRegistry};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Case {
    path: PathBuf,
    valid: bool,
}

struct Options {
    manifest: PathBuf,
    command: Vec<String>,
    jobs: usize,
    seconds: f64,
    runs: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: corpus-bench [MANIFEST] [--command \"PROGRAM ARGS...\"] [--jobs N] [--seconds S] [--runs N]"
    );
    std::process::exit(2);
}

fn options() -> Options {
    let mut options = Options {
        manifest: PathBuf::from("../shared/tosca-corpus/manifest.json"),
        command: vec!["target/release/examples/tosca-check".to_string()],
        jobs: 2,
        seconds: 3.0,
        runs: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--command" => {
                options.command = value().split_whitespace().map(str::to_string).collect();
                if options.command.is_empty() {
                    usage();
                }
            }
            "--jobs" => options.jobs = value().parse().unwrap_or_else(|_| usage()),
            "--seconds" => options.seconds = value().parse().unwrap_or_else(|_| usage()),
            "--runs" => options.runs = value().parse().unwrap_or_else(|_| usage()),
            "-h" | "--help" => usage(),
            _ if arg.starts_with("--") => usage(),
            _ => options.manifest = PathBuf::from(arg),
        }
    }
    options.jobs = options.jobs.max(1);
    options.runs = options.runs.max(1);
    options
}

fn load_manifest(manifest: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(manifest).unwrap_or_else(|error| {
        eprintln!("cannot read {}: {error}", manifest.display());
        std::process::exit(2);
    });
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_else(|error| {
        eprintln!("{} is not a JSON list: {error}", manifest.display());
        std::process::exit(2);
    });
    let dir = manifest
        .parent()
        .unwrap_or(Path::new("."))
        .canonicalize()
        .expect("the manifest's folder exists");
    entries
        .iter()
        .filter_map(|entry| {
            Some(Case {
                path: dir.join(entry["file"].as_str()?),
                valid: entry["expect"].as_str() == Some("valid"),
            })
        })
        .collect()
}

/// The value at quantile `q` (0..=1) of sorted durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn in_process(cases: &[Case], seconds: f64) {
    let profiles = ProfileRegistry::new();
    // One warm-up pass (page cache, allocator), which also gives the outcome per file.
    let mut agree = 0;
    for case in cases {
        let accepted = compile(&case.path, &FsReader, &profiles).is_ok();
        agree += usize::from(accepted == case.valid);
    }
    // Then passes until `seconds` have gone by, at least 5.
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let mut passes = 0;
    let started = Instant::now();
    while passes < 5 || started.elapsed().as_secs_f64() < seconds {
        for (case, times) in cases.iter().zip(&mut times) {
            let t = Instant::now();
            let result = compile(&case.path, &FsReader, &profiles);
            times.push(t.elapsed());
            drop(result);
        }
        passes += 1;
    }
    let total = started.elapsed();
    let mut per_file: Vec<Duration> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            quantile(t, 0.5)
        })
        .collect();
    per_file.sort();
    let slowest = times
        .iter()
        .enumerate()
        .max_by_key(|(_, t)| quantile(t, 0.5))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let compiles = cases.len() * passes;
    let median = quantile(&per_file, 0.5);

    println!("## In process (compile with FsReader, absolute paths)\n");
    println!("| files | passes | compiles | total | files/s | median | p90 | max | agree with manifest |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {:.2} s | {:.0} | {} | {} | {} | {}/{} |",
        cases.len(),
        passes,
        compiles,
        total.as_secs_f64(),
        compiles as f64 / total.as_secs_f64(),
        ms(median),
        ms(quantile(&per_file, 0.9)),
        ms(*per_file.last().unwrap_or(&Duration::ZERO)),
        agree,
        cases.len()
    );
    if let Some(case) = cases.get(slowest) {
        println!("\nslowest file: {}", case.path.display());
    }
    println!(
        "goal: median under 1 ms — {}\n",
        if median < Duration::from_millis(1) {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// Outcome of one pass of one process per file.
struct Pass {
    wall: Duration,
    per_process: Vec<Duration>,
    accepted: usize,
    agree: usize,
    crashed: Vec<String>,
}

fn one_pass(cases: &[Case], program: &Path, args: &[String], jobs: usize) -> Pass {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Duration, Option<i32>)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let dir = case.path.parent().unwrap_or(Path::new("."));
                let name = case.path.file_name().unwrap_or_default();
                let t = Instant::now();
                let status = Command::new(program)
                    .args(args)
                    .arg(name)
                    .current_dir(dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let elapsed = t.elapsed();
                let code = match status {
                    Ok(status) => status.code(),
                    Err(error) => {
                        eprintln!("cannot run {}: {error}", program.display());
                        std::process::exit(2);
                    }
                };
                results.lock().unwrap().push((i, elapsed, code));
            });
        }
    });
    let wall = started.elapsed();
    let results = results.into_inner().unwrap();
    let mut pass = Pass {
        wall,
        per_process: results.iter().map(|r| r.1).collect(),
        accepted: 0,
        agree: 0,
        crashed: Vec::new(),
    };
    for (i, _, code) in &results {
        let accepted = *code == Some(0);
        pass.accepted += usize::from(accepted);
        pass.agree += usize::from(accepted == cases[*i].valid);
        if !matches!(code, Some(0..=2)) {
            pass.crashed
                .push(format!("{} ({code:?})", cases[*i].path.display()));
        }
    }
    pass.per_process.sort();
    pass
}

fn per_process(cases: &[Case], command: &[String], jobs: usize, runs: usize) {
    let program = PathBuf::from(&command[0]);
    // A relative program path is taken from here, not from each file's folder.
    let program = if program.components().count() > 1 && program.is_relative() {
        std::env::current_dir().unwrap().join(program)
    } else {
        program
    };
    if program.components().count() > 1 && !program.exists() {
        eprintln!(
            "{} does not exist: build it (cargo build --release -p khutulun-tosca --examples) or give --command",
            program.display()
        );
        return;
    }
    let args = &command[1..];
    println!(
        "## One process per file: `{} FILE` in the file's folder, {jobs} at a time\n",
        command.join(" ")
    );
    println!("| run | files | wall | files/s | median per process | p90 | max | accepted | agree | crashes |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut walls = Vec::new();
    for run in 1..=runs {
        let pass = one_pass(cases, &program, args, jobs);
        println!(
            "| {run} | {} | {:.3} s | {:.0} | {} | {} | {} | {} | {}/{} | {} |",
            cases.len(),
            pass.wall.as_secs_f64(),
            cases.len() as f64 / pass.wall.as_secs_f64(),
            ms(quantile(&pass.per_process, 0.5)),
            ms(quantile(&pass.per_process, 0.9)),
            ms(*pass.per_process.last().unwrap_or(&Duration::ZERO)),
            pass.accepted,
            pass.agree,
            cases.len(),
            pass.crashed.len()
        );
        for crashed in &pass.crashed {
            println!("  crashed or unexpected exit: {crashed}");
        }
        walls.push(pass.wall);
    }
    walls.sort();
    let median = quantile(&walls, 0.5);
    println!(
        "\nmedian wall {:.3} s; goal: whole corpus well under 1 s on {jobs} workers — {}",
        median.as_secs_f64(),
        if median < Duration::from_millis(500) {
            "met"
        } else if median < Duration::from_secs(1) {
            "under 1 s, not well under"
        } else {
            "NOT met"
        }
    );
}

fn main() {
    let options = options();
    let cases = load_manifest(&options.manifest);
    if cases.is_empty() {
        eprintln!("no cases in {}", options.manifest.display());
        std::process::exit(2);
    }
    println!(
        "corpus: {} ({} files), {} CPUs\n",
        options.manifest.display(),
        cases.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    in_process(&cases, options.seconds);
    per_process(&cases, &options.command, options.jobs, options.runs);
}
