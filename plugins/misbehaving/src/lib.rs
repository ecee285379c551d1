//! A plugin that misbehaves on purpose, for the host's tests (not for use).
//!
//! - `spin` loops forever,
//! - `hog` allocates memory without bound, touching every page,
//! - `nap` sleeps for an hour (blocked in the host, not running wasm),
//! - `boom` panics (the call traps),
//! - `ok` returns its arguments (the host still works after the others).

use std::hint::black_box;

use khutulun_plugin_sdk::{plugin, Value};

fn spin(_args: Vec<Value>) -> Result<Value, String> {
    let mut turns: u64 = 0;
    loop {
        turns = black_box(turns.wrapping_add(1));
    }
}

fn hog(_args: Vec<Value>) -> Result<Value, String> {
    const CHUNK: usize = 1 << 20;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        // Touch every page so that the memory is really used.
        for page in (0..CHUNK).step_by(4096) {
            chunk[page] = kept.len() as u8;
        }
        kept.push(black_box(chunk));
    }
}

fn nap(_args: Vec<Value>) -> Result<Value, String> {
    std::thread::sleep(std::time::Duration::from_secs(3600));
    Ok(Value::Null)
}

fn boom(_args: Vec<Value>) -> Result<Value, String> {
    panic!("boom: this plugin panics on purpose");
}

fn ok(args: Vec<Value>) -> Result<Value, String> {
    Ok(Value::Array(args))
}

plugin! {
    name: "misbehaving",
    functions: [spin, hog, nap, boom, ok],
    handlers: [],
}
