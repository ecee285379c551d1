//! How long plugin calls take: cold (a new host compiling the component), cold with the
//! compilation cache present (a new host mapping it), and warm (the same host again).
//!
//! ```text
//! scripts/build-plugins
//! cargo run --release -p khutulun-plugins --example plugin-bench [PLUGIN_DIR [WARM_CALLS]]
//! ```
//!
//! PLUGIN_DIR defaults to `target/plugins`, WARM_CALLS to 1000. A cold row's time is a new
//! `PluginHost` + `load` (which also instantiates once for the manifest) + the first call;
//! its parts are shown beside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use khutulun_plugins::{HostApi, Level, Limits, NoHostApi, Plugin, PluginHost};
use serde_json::{json, Value};

/// Cold runs per row (each compiles, so few).
const COLD_RUNS: usize = 5;

/// Attributes in memory, events counted: what the failure-watch handler needs.
#[derive(Default)]
struct MemoryApi {
    attributes: Mutex<HashMap<(String, u32, String), Value>>,
    events: Mutex<usize>,
}

impl HostApi for MemoryApi {
    fn log(&self, _level: Level, _message: &str) {}

    fn service_graph(&self) -> Result<String, String> {
        Ok("{}".into())
    }

    fn get_attribute(&self, node: &str, index: u32, name: &str) -> Result<Value, String> {
        let attributes = self.attributes.lock().unwrap();
        Ok(attributes
            .get(&(node.into(), index, name.into()))
            .cloned()
            .unwrap_or(Value::Null))
    }

    fn set_attribute(
        &self,
        node: &str,
        index: u32,
        name: &str,
        value: Value,
    ) -> Result<(), String> {
        self.attributes
            .lock()
            .unwrap()
            .insert((node.into(), index, name.into()), value);
        Ok(())
    }

    fn emit_event(
        &self,
        _name: &str,
        _node: Option<&str>,
        _index: Option<u32>,
        _data: Value,
    ) -> Result<(), String> {
        *self.events.lock().unwrap() += 1;
        Ok(())
    }
}

/// One benchmarked call.
struct Case {
    label: &'static str,
    file: &'static str,
    call: fn(&PluginHost, &Plugin),
}

fn upper(host: &PluginHost, plugin: &Plugin) {
    let result = host
        .call_function(plugin, "upper", &[json!("web-server")], Arc::new(NoHostApi))
        .unwrap();
    assert_eq!(result, json!("WEB-SERVER"));
}

fn count_failures(host: &PluginHost, plugin: &Plugin) {
    let event = json!({
        "kind": "instance_exited", "host": "h1", "time": "2026-01-01T00:00:00Z",
        "namespace": "default", "service": "shop", "node": "web", "index": 0,
        "data": {"code": 1}, "inputs": {"threshold": 3},
    });
    let result = host
        .handle_event(
            plugin,
            "count_failures",
            &event,
            Arc::new(MemoryApi::default()),
        )
        .unwrap();
    assert_eq!(result, json!({"failures": 1}));
}

const CASES: [Case; 2] = [
    Case {
        label: "text-functions upper",
        file: "text-functions",
        call: upper,
    },
    Case {
        label: "failure-watch count_failures",
        file: "failure-watch",
        call: count_failures,
    },
];

struct Cold {
    new_host: Duration,
    load: Duration,
    call: Duration,
    from_cache: bool,
}

impl Cold {
    fn total(&self) -> Duration {
        self.new_host + self.load + self.call
    }
}

fn cold(cache: &Path, wasm: &Path, call: fn(&PluginHost, &Plugin)) -> Cold {
    let started = Instant::now();
    let host = PluginHost::new(cache, Limits::default()).unwrap();
    let new_host = started.elapsed();
    let started = Instant::now();
    let plugin = host.load(wasm).unwrap();
    let load = started.elapsed();
    let started = Instant::now();
    call(&host, &plugin);
    let call_time = started.elapsed();
    Cold {
        new_host,
        load,
        call: call_time,
        from_cache: plugin.loaded_from_cache(),
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn percentile(times: &mut [Duration], percent: usize) -> Duration {
    times.sort();
    let rank = (times.len() * percent).div_ceil(100).max(1);
    times[rank - 1]
}

fn shown(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros >= 10_000.0 {
        format!("{:.1} ms", micros / 1000.0)
    } else if micros >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.0} µs")
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/plugins".into()));
    let warm_calls: usize = args
        .next()
        .map(|calls| calls.parse().expect("WARM_CALLS must be a number"))
        .unwrap_or(1000);

    println!(
        "{:<30} {:<18} {:>5} {:>10} {:>10}   parts (median): new host / load / first call",
        "call", "scenario", "runs", "median", "p99/max"
    );
    for case in CASES {
        let wasm = dir.join(format!("{}.wasm", case.file));
        assert!(
            wasm.is_file(),
            "{} is missing; run scripts/build-plugins",
            wasm.display()
        );

        // Cold, compiled: every run with an empty cache directory.
        let runs: Vec<Cold> = (0..COLD_RUNS)
            .map(|_| {
                let cache = tempfile::tempdir().unwrap();
                let run = cold(cache.path(), &wasm, case.call);
                assert!(!run.from_cache);
                run
            })
            .collect();
        cold_row(case.label, "cold, compiled", &runs);

        // Cold, from the cache: one compilation, then new hosts on its directory.
        let cache = tempfile::tempdir().unwrap();
        cold(cache.path(), &wasm, case.call);
        let runs: Vec<Cold> = (0..COLD_RUNS)
            .map(|_| {
                let run = cold(cache.path(), &wasm, case.call);
                assert!(run.from_cache);
                run
            })
            .collect();
        cold_row(case.label, "cold, from cache", &runs);

        // Warm: the same host and plugin, after a first call.
        let host = PluginHost::new(cache.path(), Limits::default()).unwrap();
        let plugin = host.load(&wasm).unwrap();
        (case.call)(&host, &plugin);
        let mut times: Vec<Duration> = (0..warm_calls)
            .map(|_| {
                let started = Instant::now();
                (case.call)(&host, &plugin);
                started.elapsed()
            })
            .collect();
        println!(
            "{:<30} {:<18} {:>5} {:>10} {:>10}",
            case.label,
            "warm",
            warm_calls,
            shown(median(&mut times)),
            shown(percentile(&mut times, 99)),
        );
    }
}

fn cold_row(label: &str, scenario: &str, runs: &[Cold]) {
    let pick = |part: fn(&Cold) -> Duration| median(&mut runs.iter().map(part).collect::<Vec<_>>());
    let max = runs.iter().map(Cold::total).max().unwrap_or_default();
    println!(
        "{:<30} {:<18} {:>5} {:>10} {:>10}   {} / {} / {}",
        label,
        scenario,
        runs.len(),
        shown(pick(Cold::total)),
        shown(max),
        shown(pick(|run| run.new_host)),
        shown(pick(|run| run.load)),
        shown(pick(|run| run.call)),
    );
}
