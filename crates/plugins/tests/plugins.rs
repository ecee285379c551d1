//! The host with Khutulun's own plugins (built components, no mocks): functions, handlers,
//! manifests, errors.

mod common;

use std::sync::Arc;

use common::{plugin_file, Recording};
use khutulun_plugins::{Level, Limits, NoHostApi, PluginError, PluginHost};
use serde_json::{json, Value};

fn host() -> (PluginHost, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let host = PluginHost::new(cache.path(), Limits::default()).unwrap();
    (host, cache)
}

fn args(value: Value) -> Vec<Value> {
    match value {
        Value::Array(args) => args,
        other => panic!("arguments must be a list, not {other}"),
    }
}

#[test]
fn text_functions() {
    let (host, _cache) = host();
    let plugin = host.load(&plugin_file("text-functions")).unwrap();
    let call = |name: &str, arguments: Value| {
        host.call_function(&plugin, name, &args(arguments), Arc::new(NoHostApi))
    };
    assert_eq!(
        call("upper", json!(["web server"])).unwrap(),
        json!("WEB SERVER")
    );
    assert_eq!(call("lower", json!(["ABC"])).unwrap(), json!("abc"));
    assert_eq!(
        call("slug", json!(["My Web Server (prod)!"])).unwrap(),
        json!("my-web-server-prod")
    );
    assert_eq!(
        call("pad_left", json!([42, 5, "0"])).unwrap(),
        json!("00042")
    );
    assert_eq!(call("repeat", json!(["ab", 3])).unwrap(), json!("ababab"));
    assert_eq!(
        call("split", json!(["a:b:c", ":"])).unwrap(),
        json!(["a", "b", "c"])
    );
    assert_eq!(
        call("join", json!([["a", "b"], ", "])).unwrap(),
        json!("a, b")
    );

    // The plugin's own errors come back as Failed, with its message.
    let error = call("upper", json!([])).unwrap_err();
    assert!(matches!(error, PluginError::Failed { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "function \"upper\" of plugin text-functions failed: upper takes 1 argument (text), got 0"
    );
}

#[test]
fn unknown_function_names_the_available_ones() {
    let (host, _cache) = host();
    let plugin = host.load(&plugin_file("text-functions")).unwrap();
    let error = host
        .call_function(&plugin, "shout", &[], Arc::new(NoHostApi))
        .unwrap_err();
    assert!(
        matches!(error, PluginError::NoSuchExport { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "plugin text-functions has no function \"shout\" (it has: upper, lower, trim, slug, repeat, \
         pad_left, pad_right, truncate, replace, split, join)"
    );
    let error = host
        .handle_event(&plugin, "count_failures", &json!({}), Arc::new(NoHostApi))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin text-functions has no handler \"count_failures\" (it has no handlers)"
    );
}

#[test]
fn manifests() {
    let (host, _cache) = host();
    let text = host.load(&plugin_file("text-functions")).unwrap();
    let manifest = text.manifest();
    assert_eq!(manifest.name, "text-functions");
    assert_eq!(manifest.version, "0.1.0");
    assert!(manifest.functions.iter().any(|name| name == "upper"));
    assert!(manifest.handlers.is_empty());
    assert_eq!(text.hash().len(), 64);

    let watch = host.load(&plugin_file("failure-watch")).unwrap();
    assert_eq!(watch.name(), "failure-watch");
    assert!(watch.manifest().functions.is_empty());
    assert_eq!(watch.manifest().handlers, ["count_failures"]);

    let misbehaving = host.load(&plugin_file("misbehaving")).unwrap();
    assert_eq!(
        misbehaving.manifest().functions,
        ["spin", "hog", "nap", "boom", "ok"]
    );

    // The same content again is the same plugin.
    let again = host.load(&plugin_file("text-functions")).unwrap();
    assert!(Arc::ptr_eq(&text, &again));

    // Serialized as the agent will store it.
    let serialized = serde_json::to_value(manifest).unwrap();
    assert_eq!(serialized["name"], "text-functions");
}

#[test]
fn failure_watch_counts_and_emits_at_the_threshold() {
    let (host, _cache) = host();
    let plugin = host.load(&plugin_file("failure-watch")).unwrap();
    let api = Arc::new(Recording::default());
    let event = json!({
        "kind": "instance_exited", "host": "h1", "time": "2026-01-01T00:00:00Z",
        "namespace": "default", "service": "shop", "node": "web", "index": 1,
        "data": {"code": 1}, "inputs": {"threshold": 3},
    });
    for expected in 1..=4 {
        let result = host
            .handle_event(&plugin, "count_failures", &event, api.clone())
            .unwrap();
        assert_eq!(result, json!({ "failures": expected }));
        assert_eq!(api.attribute("web", 1, "failures"), Some(json!(expected)));
        let events = api.events.lock().unwrap().clone();
        // Emitted once, when the count reached the threshold.
        let want = if expected < 3 { 0 } else { 1 };
        assert_eq!(events.len(), want, "after {expected} failures: {events:?}");
    }
    let events = api.events.lock().unwrap().clone();
    assert_eq!(
        events[0],
        (
            "failures_exceeded".to_string(),
            Some("web".to_string()),
            Some(1),
            json!({"node": "web", "index": 1, "failures": 3})
        )
    );
    assert!(api
        .logs()
        .iter()
        .any(|(level, message)| *level == Level::Warn && message.contains("web-1 failed 3 times")));

    // Without inputs the threshold is 3; another instance counts apart.
    let api = Arc::new(Recording::default());
    let event = json!({"kind": "instance_failed", "node": "db", "index": 0});
    for _ in 0..3 {
        host.handle_event(&plugin, "count_failures", &event, api.clone())
            .unwrap();
    }
    assert_eq!(api.attribute("db", 0, "failures"), Some(json!(3)));
    assert_eq!(api.events.lock().unwrap().len(), 1);

    // An event about no instance fails with the handler's message.
    let error = host
        .handle_event(
            &plugin,
            "count_failures",
            &json!({"kind": "x"}),
            api.clone(),
        )
        .unwrap_err();
    assert!(matches!(error, PluginError::Failed { .. }), "{error:?}");
    assert!(
        error.to_string().contains("not about an instance"),
        "{error}"
    );

    // Without a service (compiling), the host's refusal reaches the plugin and comes back.
    let error = host
        .handle_event(&plugin, "count_failures", &event, Arc::new(NoHostApi))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "handler \"count_failures\" of plugin failure-watch failed: not available when compiling"
    );
}

#[test]
fn invalid_components_are_refused() {
    let (host, _cache) = host();
    let error = host
        .load_bytes("garbage.wasm", b"not wasm at all")
        .unwrap_err();
    assert!(matches!(error, PluginError::Load { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("cannot load plugin garbage.wasm: it is not a valid component"),
        "{error}"
    );
    let error = host
        .load(std::path::Path::new("/nonexistent/plugin.wasm"))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot load plugin /nonexistent/plugin.wasm:"),
        "{error}"
    );
}

#[test]
fn concurrent_calls_wait_for_a_slot() {
    let (host, _cache) = host();
    let plugin = host.load(&plugin_file("text-functions")).unwrap();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..40)
            .map(|worker| {
                let (host, plugin) = (&host, &plugin);
                scope.spawn(move || {
                    for round in 0..5 {
                        let text = format!("w{worker}r{round}");
                        let result = host
                            .call_function(plugin, "upper", &[json!(text)], Arc::new(NoHostApi))
                            .unwrap();
                        assert_eq!(result, json!(text.to_uppercase()));
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
    });
}
