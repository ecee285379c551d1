//! How compile time grows with the size of a service template: prints a table, asserts
//! nothing.
//!
//! ```text
//! cargo run --release -p khutulun-tosca --example stress-bench -- [N...] [--reps R] [--late] [--print N]
//! ```
//!
//! For each N (default 500 1000 2000 4000 8000 16000) it generates a service template of N
//! node templates; each has properties with values and function calls ($concat, $get_input,
//! $get_property of itself and of the previous node) and two requirements to earlier nodes:
//! one by node template name, one by node type and capability. It compiles the text in
//! memory (`compile_text`, best of R runs, default 3) and prints N, the time of the YAML load
//! alone, the whole compile, and the compile time per node template: that column stays flat
//! when growth is linear. `--late` makes the requirements by type search the whole list (only
//! the last node template has the wanted type). `--print N` prints the generated template
//! instead (put `--late` before it).

use khutulun_tosca::{compile_text, yaml, ProfileRegistry};
use std::fmt::Write;
use std::time::{Duration, Instant};

const TYPES: &str = r#"tosca_definitions_version: tosca_2_0
capability_types:
  Endpoint:
    properties:
      port:
        type: integer
        required: false
    attributes:
      address:
        type: string
relationship_types:
  ConnectsTo:
    valid_capability_types: [ Endpoint ]
    properties:
      retries:
        type: integer
        required: false
node_types:
  Service:
    properties:
      name:
        type: string
      port:
        type: integer
      url:
        type: string
      tags:
        type: list
        entry_schema: string
        required: false
      limits:
        type: map
        entry_schema: integer
        required: false
    attributes:
      state:
        type: string
    capabilities:
      endpoint: Endpoint
    requirements:
      - upstream:
          capability: Endpoint
          relationship: ConnectsTo
          count_range: [ 0, 1 ]
      - backend:
          capability: Endpoint
          relationship: ConnectsTo
          count_range: [ 0, 1 ]
  Backend:
    derived_from: Service
"#;

/// A service template of `n` node templates. With `late`, the requirements by type ask for a
/// `Backend`, and only the last node template is one: every search runs through the whole
/// list of node templates.
pub fn template(n: usize, late: bool) -> String {
    let mut text = String::with_capacity(TYPES.len() + n * 700);
    text.push_str(TYPES);
    text.push_str(
        "service_template:\n  inputs:\n    domain:\n      type: string\n      default: example.org\n  node_templates:\n",
    );
    for i in 0..n {
        let _ = write!(
            text,
            r#"    n{i}:
      type: {node_type}
      properties:
        name: n{i}
        port: {port}
        url: {{ $concat: [ "http://", {{ $get_input: domain }}, "/", {{ $get_property: [ SELF, name ] }} ] }}
        tags: [ web, "tier-{tier}" ]
        limits: {{ cpu: 2, memory: 512 }}
      capabilities:
        endpoint:
          properties:
            port: {port}
"#,
            port = 10_000 + i,
            tier = i % 3,
            node_type = if late && i + 1 == n {
                "Backend"
            } else {
                "Service"
            },
        );
        if i > 0 {
            let _ = write!(
                text,
                r#"      requirements:
        - upstream:
            node: n{prev}
            relationship:
              properties:
                retries: {{ $get_property: [ n{prev}, port ] }}
        - backend:
            node: {wanted}
            capability: Endpoint
"#,
                prev = i - 1,
                wanted = if late { "Backend" } else { "Service" },
            );
        }
    }
    let _ = write!(
        text,
        "  outputs:\n    first:\n      value: {{ $get_property: [ n0, url ] }}\n    last:\n      value: {{ $get_attribute: [ n{}, state ] }}\n",
        n.saturating_sub(1)
    );
    text
}

fn best_of<T>(reps: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        let out = f();
        best = best.min(started.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let mut sizes = Vec::new();
    let mut reps = 3;
    let mut late = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--late" => late = true,
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).unwrap_or(3),
            "--print" => {
                let n = args.next().and_then(|v| v.parse().ok()).unwrap_or(3);
                print!("{}", template(n, late));
                return;
            }
            _ => match arg.parse() {
                Ok(n) => sizes.push(n),
                Err(_) => {
                    eprintln!("usage: stress-bench [N...] [--reps R] [--late] [--print N]");
                    std::process::exit(2);
                }
            },
        }
    }
    if sizes.is_empty() {
        sizes = vec![500, 1000, 2000, 4000, 8000, 16000];
    }
    let profiles = ProfileRegistry::new();

    println!("| N | YAML | load | compile | compile/N | growth vs previous N | result |");
    println!("|---:|---:|---:|---:|---:|---:|---|");
    let mut previous: Option<(usize, Duration)> = None;
    for n in sizes {
        let text = template(n, late);
        let (load, _) = best_of(reps, || yaml::load("stress.yaml", &text).map(|_| ()));
        let (time, result) = best_of(reps, || compile_text("stress.yaml", &text, &profiles));
        let outcome = match &result {
            Ok(template) => format!(
                "ok: {} nodes, {} relationships, {} warnings",
                template.node_templates.len(),
                template
                    .node_templates
                    .iter()
                    .map(|node| node.requirements.len())
                    .sum::<usize>(),
                template.warnings.len()
            ),
            Err(diagnostics) => format!(
                "{} diagnostics, first: {}",
                diagnostics.len(),
                diagnostics
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
        };
        let growth = match previous {
            // time ratio over size ratio: 1.0 is linear, 2.0 quadratic when N doubles.
            Some((pn, pt)) => format!(
                "{:.2}× time for {:.1}× N",
                time.as_secs_f64() / pt.as_secs_f64(),
                n as f64 / pn as f64
            ),
            None => "-".to_string(),
        };
        println!(
            "| {n} | {:.1} MiB | {:.1} ms | {:.1} ms | {:.1} µs | {growth} | {outcome} |",
            text.len() as f64 / f64::from(1 << 20),
            load.as_secs_f64() * 1e3,
            time.as_secs_f64() * 1e3,
            time.as_secs_f64() * 1e6 / n as f64,
        );
        previous = Some((n, time));
    }
}
