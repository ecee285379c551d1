//! Start-up cost of offline commands, printed as a table: `khutulun tosca validate` of a
//! small template against `khutulun --version` (the floor: the same binary doing nothing),
//! each run many times in a row, best of three rounds.
//!
//! ```sh
//! cargo bench -p khutulun --bench cli
//! ```

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS_PER_ROUND: u32 = 50;
const ROUNDS: usize = 3;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("cli bench: run it with `cargo bench -p khutulun --bench cli`");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_khutulun");
    let template = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/hello-world/service.yaml")
        .display()
        .to_string();
    let cases: [(&str, Vec<&str>); 2] = [
        ("--version (floor)", vec!["--version"]),
        (
            "tosca validate hello-world",
            vec!["tosca", "validate", &template],
        ),
    ];
    let mut rows = Vec::new();
    for (name, args) in &cases {
        let best = (0..ROUNDS)
            .map(|_| mean_run(binary, args))
            .min()
            .expect("rounds");
        rows.push((*name, best));
    }
    let floor = rows[0].1.as_secs_f64();
    println!(
        "\nOffline commands: mean wall time per run, best of {ROUNDS} rounds of {RUNS_PER_ROUND}\n"
    );
    println!("{:<28}  {:>8}  {:>8}", "command", "ms/run", "÷ floor");
    for (name, best) in rows {
        println!(
            "{name:<28}  {:>8.2}  {:>8.2}",
            best.as_secs_f64() * 1e3,
            best.as_secs_f64() / floor
        );
    }
}

fn mean_run(binary: &str, args: &[&str]) -> Duration {
    let started = Instant::now();
    for _ in 0..RUNS_PER_ROUND {
        let status = Command::new(binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the khutulun binary runs");
        assert!(status.success(), "khutulun {args:?} failed");
    }
    started.elapsed() / RUNS_PER_ROUND
}
