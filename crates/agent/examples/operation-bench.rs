//! The cost of one script operation: what `operations::script::run` adds to running a
//! trivial shell script (environment, output relayed line by line, the operations log, the
//! outputs file), next to spawning the same script bare. Prints a table.
//!
//! cargo run --release -p khutulun-agent --example operation-bench [RUNS]

use khutulun_agent::operations::script::{run, Script};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn row(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "| {name:<34} | {:>6} | {:>9.2} | {:>9.2} | {:>9.2} |",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples.iter().sum::<Duration>().as_secs_f64() * 1000.0 / samples.len() as f64,
    );
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("op.sh");
    std::fs::write(
        &file,
        "echo configuring\necho ready=true >> \"$KHUTULUN_OUTPUTS\"\n",
    )
    .expect("the script");
    let script = Script {
        file: file.clone(),
        types: Vec::new(),
        working_directory: dir.path().to_owned(),
        environment: BTreeMap::from([
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            ("journal".to_owned(), "/dev/null".to_owned()),
        ]),
        outputs_file: dir.path().join("operations/op.outputs"),
        log_file: dir.path().join("operations.log"),
        operation: "Standard.configure".into(),
        timeout: Duration::from_secs(30),
    };

    let mut bare = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let status = tokio::process::Command::new("sh")
            .arg(&file)
            .env("KHUTULUN_OUTPUTS", "/dev/null")
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .expect("sh runs");
        assert!(status.success());
        bare.push(started.elapsed());
    }
    let mut operation = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let end = run(&script, None).await.expect("the operation runs");
        assert_eq!(end.code, 0);
        assert_eq!(end.outputs["ready"], true);
        operation.push(started.elapsed());
    }
    println!(
        "| {:<34} | {:>6} | {:>9} | {:>9} | {:>9} |",
        "what", "runs", "p50 ms", "p99 ms", "mean ms"
    );
    println!(
        "|{:-<36}|{:-<8}|{:-<11}|{:-<11}|{:-<11}|",
        "", "", "", "", ""
    );
    row("bare `sh op.sh` (baseline)", bare);
    row("script operation (runner)", operation);
}
