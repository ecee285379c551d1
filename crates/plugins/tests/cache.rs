//! Compilations are cached on disk and reused by later hosts; a broken cache file is
//! recompiled and rewritten.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::plugin_file;
use khutulun_plugins::{Limits, NoHostApi, PluginHost};
use serde_json::json;

fn cached_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "cwasm")
        })
        .collect();
    files.sort();
    files
}

fn upper_works(host: &PluginHost, plugin: &khutulun_plugins::Plugin) {
    let result = host
        .call_function(plugin, "upper", &[json!("abc")], Arc::new(NoHostApi))
        .unwrap();
    assert_eq!(result, json!("ABC"));
}

#[test]
fn later_hosts_load_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = plugin_file("text-functions");

    let first = PluginHost::new(cache.path(), Limits::default()).unwrap();
    let plugin = first.load(&wasm).unwrap();
    assert!(!plugin.loaded_from_cache());
    upper_works(&first, &plugin);
    let files = cached_files(cache.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(plugin.hash()),
        "{name} is not keyed by the content hash"
    );
    drop(first);

    let second = PluginHost::new(cache.path(), Limits::default()).unwrap();
    let plugin = second.load(&wasm).unwrap();
    assert!(plugin.loaded_from_cache());
    upper_works(&second, &plugin);

    // Forgotten, it is loaded again (from the cache).
    second.forget(&plugin);
    let again = second.load(&wasm).unwrap();
    assert!(!Arc::ptr_eq(&plugin, &again));
    assert!(again.loaded_from_cache());
    upper_works(&second, &plugin);

    // A host with other limits compiles for its own engine settings, beside the first.
    let other = PluginHost::new(
        cache.path(),
        Limits {
            memory: 32 << 20,
            ..Limits::default()
        },
    )
    .unwrap();
    let plugin = other.load(&wasm).unwrap();
    assert!(!plugin.loaded_from_cache());
    upper_works(&other, &plugin);
    assert_eq!(cached_files(cache.path()).len(), 2);
}

#[test]
fn a_corrupt_cache_file_is_recompiled_and_rewritten() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = plugin_file("text-functions");
    let first = PluginHost::new(cache.path(), Limits::default()).unwrap();
    assert!(!first.load(&wasm).unwrap().loaded_from_cache());
    drop(first);
    let [file] = cached_files(cache.path()).try_into().unwrap();
    let good = std::fs::read(&file).unwrap();

    for broken in [
        b"garbage".to_vec(),
        good[..good.len() / 2].to_vec(),
        Vec::new(),
    ] {
        std::fs::write(&file, &broken).unwrap();
        let host = PluginHost::new(cache.path(), Limits::default()).unwrap();
        let plugin = host.load(&wasm).unwrap();
        assert!(!plugin.loaded_from_cache());
        upper_works(&host, &plugin);
        drop(host);
        // Rewritten: the next host loads it.
        let host = PluginHost::new(cache.path(), Limits::default()).unwrap();
        let plugin = host.load(&wasm).unwrap();
        assert!(plugin.loaded_from_cache());
        upper_works(&host, &plugin);
    }
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
