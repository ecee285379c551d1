//! A plugin that loops, hogs memory or crashes fails only its call: the same host keeps
//! serving it and the other plugins.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{plugin_file, Recording};
use khutulun_plugins::{Level, Limits, NoHostApi, Plugin, PluginError, PluginHost};
use serde_json::json;

const LIMITS: Limits = Limits {
    timeout: Duration::from_millis(200),
    memory: 16 << 20,
};

fn still_serving(host: &PluginHost, misbehaving: &Plugin, text: &Plugin) {
    let ok = host
        .call_function(
            misbehaving,
            "ok",
            &[json!(1), json!("two")],
            Arc::new(NoHostApi),
        )
        .unwrap();
    assert_eq!(ok, json!([1, "two"]));
    let upper = host
        .call_function(text, "upper", &[json!("still here")], Arc::new(NoHostApi))
        .unwrap();
    assert_eq!(upper, json!("STILL HERE"));
}

#[test]
fn misbehaving_calls_fail_alone() {
    let cache = tempfile::tempdir().unwrap();
    let host = PluginHost::new(cache.path(), LIMITS).unwrap();
    let misbehaving = host.load(&plugin_file("misbehaving")).unwrap();
    let text = host.load(&plugin_file("text-functions")).unwrap();
    still_serving(&host, &misbehaving, &text);

    // Loops forever: stopped at the time limit.
    let started = Instant::now();
    let error = host
        .call_function(&misbehaving, "spin", &[], Arc::new(NoHostApi))
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&error, PluginError::Timeout { limit, .. } if *limit == LIMITS.timeout),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "function \"spin\" of plugin misbehaving did not finish within 200ms; it was stopped"
    );
    assert!(
        took >= LIMITS.timeout,
        "stopped after {took:?}, before the limit"
    );
    assert!(
        took < Duration::from_secs(10),
        "stopped only after {took:?}"
    );
    still_serving(&host, &misbehaving, &text);

    // Sleeps for an hour (blocked in WASI, not in wasm): stopped at the time limit too.
    let started = Instant::now();
    let error = host
        .call_function(&misbehaving, "nap", &[], Arc::new(NoHostApi))
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, PluginError::Timeout { .. }), "{error:?}");
    assert!(
        took >= LIMITS.timeout,
        "stopped after {took:?}, before the limit"
    );
    assert!(
        took < Duration::from_secs(10),
        "stopped only after {took:?}"
    );
    still_serving(&host, &misbehaving, &text);

    // Allocates without bound: stopped at the memory limit.
    let error = host
        .call_function(&misbehaving, "hog", &[], Arc::new(NoHostApi))
        .unwrap_err();
    assert!(
        matches!(&error, PluginError::MemoryExceeded { limit, .. } if *limit == LIMITS.memory),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "function \"hog\" of plugin misbehaving tried to use more than 16 MiB of memory"
    );
    still_serving(&host, &misbehaving, &text);

    // Panics: a trap, with the panic's message; what it wrote to stderr is logged.
    let api = Arc::new(Recording::default());
    let error = host
        .call_function(&misbehaving, "boom", &[], api.clone())
        .unwrap_err();
    assert!(matches!(error, PluginError::Trap { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("function \"boom\" of plugin misbehaving crashed: "),
        "{message}"
    );
    assert!(
        message.contains("boom: this plugin panics on purpose"),
        "{message}"
    );
    assert!(
        api.logs()
            .iter()
            .any(|(level, line)| *level == Level::Warn && line.contains("panics on purpose")),
        "{:?}",
        api.logs()
    );
    still_serving(&host, &misbehaving, &text);

    // All of them again, interleaved with good calls, in the same host.
    for _ in 0..3 {
        for function in ["spin", "hog", "nap", "boom"] {
            host.call_function(&misbehaving, function, &[], Arc::new(NoHostApi))
                .unwrap_err();
            still_serving(&host, &misbehaving, &text);
        }
    }
}

#[test]
fn misbehaving_calls_do_not_stop_concurrent_good_ones() {
    let cache = tempfile::tempdir().unwrap();
    let host = PluginHost::new(cache.path(), LIMITS).unwrap();
    let misbehaving = host.load(&plugin_file("misbehaving")).unwrap();
    let text = host.load(&plugin_file("text-functions")).unwrap();
    std::thread::scope(|scope| {
        let bad: Vec<_> = ["spin", "hog", "boom", "nap"]
            .into_iter()
            .map(|function| {
                let (host, misbehaving) = (&host, &misbehaving);
                scope.spawn(move || {
                    host.call_function(misbehaving, function, &[], Arc::new(NoHostApi))
                })
            })
            .collect();
        for _ in 0..50 {
            still_serving(&host, &misbehaving, &text);
        }
        for call in bad {
            assert!(call.join().unwrap().is_err());
        }
    });
}
