//! The plugin host: one wasmtime engine, the loaded plugins, and the calls.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreContextMut,
    Trap,
};

use crate::api::HostApi;
use crate::bindings;
use crate::error::PluginError;
use crate::state::CallState;

/// How often the epoch advances: the granularity of the time limit.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How many calls may run at the same time (the size of the instance pool); more wait.
pub const CONCURRENT_CALLS: usize = 16;

/// The bounds of every call of a [`PluginHost`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time a call may take (instantiation included); then it is stopped. A
    /// plugin's sleep is cut at the limit; a call blocked in the [`HostApi`] is stopped
    /// when it returns to the plugin.
    pub timeout: Duration,
    /// The size a memory of the plugin may grow to, in bytes (rounded up to 64 KiB pages).
    pub memory: usize,
}

impl Default for Limits {
    /// 2 s and 64 MiB.
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(2),
            memory: 64 << 20,
        }
    }
}

/// What a plugin says it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub functions: Vec<String>,
    pub handlers: Vec<String>,
}

/// A loaded plugin: compiled and linked, ready to be instantiated for each call. Get one
/// from [`PluginHost::load`]; call it through its host.
pub struct Plugin {
    manifest: Manifest,
    hash: String,
    path: PathBuf,
    from_cache: bool,
    pre: bindings::PluginPre<CallState>,
}

impl Plugin {
    /// The plugin's manifest, asked once when it was loaded.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The plugin's name (from its manifest).
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The SHA-256 of the component's bytes, lower-case hex.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The file it was loaded from (the name hint for [`PluginHost::load_bytes`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether its compiled code came from the cache directory (else it was compiled).
    pub fn loaded_from_cache(&self) -> bool {
        self.from_cache
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("manifest", &self.manifest)
            .field("hash", &self.hash)
            .field("path", &self.path)
            .field("from_cache", &self.from_cache)
            .finish_non_exhaustive()
    }
}

/// Runs plugins: compiles them (once per content, cached on disk), and calls their functions
/// and handlers, each call in a fresh instance with nothing granted but the [`HostApi`], a
/// time limit and a memory limit.
///
/// `Send + Sync`; share it in an `Arc`. The calls block: from async code, run them in
/// `spawn_blocking`. A plugin that traps, loops or runs out of memory fails only its call.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<CallState>,
    cache_dir: PathBuf,
    limits: Limits,
    pooling: bool,
    /// Loaded plugins by content hash.
    plugins: Mutex<HashMap<String, Arc<Plugin>>>,
    /// Calls running now, at most [`CONCURRENT_CALLS`].
    running: Mutex<usize>,
    call_ended: Condvar,
    /// Advances the epoch while calls run; stops its thread with the host.
    ticker: Ticker,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cache_dir", &self.cache_dir)
            .field("limits", &self.limits)
            .field("pooling", &self.pooling)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// A host whose compiled components are cached in `cache_dir` (created if missing), with
    /// `limits` for every call.
    ///
    /// The cache directory must be private to this host's process (e.g. the agent's data
    /// directory, never the shared state directory): its files are mapped and run as code.
    pub fn new(cache_dir: &Path, limits: Limits) -> Result<PluginHost, PluginError> {
        let setup = |reason: String| PluginError::Setup { reason };
        std::fs::create_dir_all(cache_dir).map_err(|error| {
            setup(format!(
                "cannot create the cache directory {}: {error}",
                cache_dir.display()
            ))
        })?;
        let (engine, pooling) =
            engine(&limits).map_err(|error| setup(format!("cannot set up wasmtime: {error:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|error| setup(format!("cannot link WASI: {error:#}")))?;
        bound_waits(&mut linker)
            .map_err(|error| setup(format!("cannot link WASI clocks: {error:#}")))?;
        bindings::Plugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| {
            state
        })
        .map_err(|error| setup(format!("cannot link the host interface: {error:#}")))?;
        let ticker = Ticker::start(engine.clone())
            .map_err(|error| setup(format!("cannot start the epoch thread: {error}")))?;
        Ok(PluginHost {
            engine,
            linker,
            cache_dir: cache_dir.to_path_buf(),
            limits,
            pooling,
            plugins: Mutex::new(HashMap::new()),
            running: Mutex::new(0),
            call_ended: Condvar::new(),
            ticker,
        })
    }

    /// The limits of every call.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether instances come from the pooling allocator (else they are allocated on demand,
    /// because the pool could not be set up).
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Loads the component at `wasm`: compiled once per content (from the cache directory
    /// when an earlier host compiled it), linked, and its manifest asked. Loading the same
    /// content again returns the same plugin.
    pub fn load(&self, wasm: &Path) -> Result<Arc<Plugin>, PluginError> {
        let bytes = std::fs::read(wasm).map_err(|error| PluginError::Load {
            path: wasm.to_path_buf(),
            reason: error.to_string(),
        })?;
        self.load_bytes(wasm, &bytes)
    }

    /// Loads a component from its bytes; `name_hint` names it in errors (a path or a name).
    pub fn load_bytes(
        &self,
        name_hint: impl AsRef<Path>,
        bytes: &[u8],
    ) -> Result<Arc<Plugin>, PluginError> {
        let path = name_hint.as_ref();
        let failed = |reason: String| PluginError::Load {
            path: path.to_path_buf(),
            reason,
        };
        let hash = hex(&Sha256::digest(bytes));
        if let Some(plugin) = lock(&self.plugins).get(&hash) {
            return Ok(plugin.clone());
        }
        let (component, from_cache) = self.compile(&hash, bytes).map_err(failed)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|error| failed(format!("it needs what the host does not grant: {error:#}")))?;
        let pre = bindings::PluginPre::new(pre).map_err(|error| {
            failed(format!(
                "it is not a Khutulun plugin (world khutulun:plugin/plugin): {error:#}"
            ))
        })?;
        let what = format!("the manifest of plugin {}", path.display());
        let manifest = self
            .run(&pre, &what, Arc::new(crate::NoHostApi), |plugin, store| {
                plugin.call_manifest(store).map(Ok)
            })
            .map_err(|error| failed(error.to_string()))?;
        let manifest = Manifest {
            name: manifest.name,
            version: manifest.version,
            functions: manifest.functions,
            handlers: manifest.handlers,
        };
        if manifest.name.trim().is_empty() {
            return Err(failed("its manifest has no name".into()));
        }
        let plugin = Arc::new(Plugin {
            manifest,
            hash: hash.clone(),
            path: path.to_path_buf(),
            from_cache,
            pre,
        });
        // Another thread may have loaded the same content meanwhile: keep the first.
        Ok(lock(&self.plugins).entry(hash).or_insert(plugin).clone())
    }

    /// Forgets a loaded plugin: the next `load` of its content links it again (from the
    /// cache directory). Calls holding it go on working.
    pub fn forget(&self, plugin: &Plugin) {
        lock(&self.plugins).remove(&plugin.hash);
    }

    /// Calls the function `name` of `plugin` with `args`; the plugin may use `api`.
    pub fn call_function(
        &self,
        plugin: &Plugin,
        name: &str,
        args: &[Value],
        api: Arc<dyn HostApi>,
    ) -> Result<Value, PluginError> {
        let manifest = plugin.manifest();
        if !manifest.functions.iter().any(|function| function == name) {
            return Err(PluginError::NoSuchExport {
                plugin: manifest.name.clone(),
                kind: "function",
                name: name.to_string(),
                available: manifest.functions.clone(),
            });
        }
        let what = format!("function \"{name}\" of plugin {}", manifest.name);
        let args = Value::from(args.to_vec()).to_string();
        let result = self.run(&plugin.pre, &what, api, |bindings, store| {
            bindings.call_call_function(store, name, &args)
        })?;
        parse_result(&what, &result)
    }

    /// Calls the event handler `handler` of `plugin` with `event` (a JSON object, see the
    /// SDK's `Event`); the plugin may use `api`.
    pub fn handle_event(
        &self,
        plugin: &Plugin,
        handler: &str,
        event: &Value,
        api: Arc<dyn HostApi>,
    ) -> Result<Value, PluginError> {
        let manifest = plugin.manifest();
        if !manifest.handlers.iter().any(|offered| offered == handler) {
            return Err(PluginError::NoSuchExport {
                plugin: manifest.name.clone(),
                kind: "handler",
                name: handler.to_string(),
                available: manifest.handlers.clone(),
            });
        }
        let what = format!("handler \"{handler}\" of plugin {}", manifest.name);
        let event = event.to_string();
        let result = self.run(&plugin.pre, &what, api, |bindings, store| {
            bindings.call_handle_event(store, handler, &event)
        })?;
        parse_result(&what, &result)
    }

    /// Compiles the component, or deserializes what an earlier compilation left in the cache.
    fn compile(&self, hash: &str, bytes: &[u8]) -> Result<(Component, bool), String> {
        let cached = self
            .cache_dir
            .join(format!("{hash}-{}.cwasm", self.engine_hash()));
        if cached.is_file() {
            // SAFETY: `deserialize_file` trusts the file to be what `Component::serialize` of a
            // compatible engine wrote (it maps it and runs its code). Only the plugin host
            // writes the cache directory (the agent's private data directory, not the shared
            // state), always atomically (temporary file, then rename), and wasmtime checks the
            // header, version and engine settings; a file that fails to load is rewritten.
            match unsafe { Component::deserialize_file(&self.engine, &cached) } {
                Ok(component) => return Ok((component, true)),
                Err(error) => tracing::warn!(
                    "the cached compilation {} is unusable ({error:#}); compiling again",
                    cached.display()
                ),
            }
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|error| format!("it is not a valid component: {error:#}"))?;
        // The cache only saves time: a failure to write it is logged, not returned.
        match component.serialize() {
            Ok(serialized) => {
                if let Err(error) = write_atomically(&cached, &serialized) {
                    tracing::warn!(
                        "cannot write the compiled plugin to {}: {error}",
                        cached.display()
                    );
                }
            }
            Err(error) => tracing::warn!("cannot serialize the compiled plugin: {error:#}"),
        }
        Ok((component, false))
    }

    /// A hash of what compiled code depends on besides the component: the wasmtime version
    /// and the engine's settings (so hosts with other limits do not share compilations).
    fn engine_hash(&self) -> String {
        let mut hasher = ShaHasher(Sha256::new());
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        hex(&hasher.0.finalize()[..8])
    }

    /// Runs one call in a fresh instance: waits for a free slot, bounds it in time and
    /// memory, passes the plugin's output to the log, and tells how it ended.
    fn run<R>(
        &self,
        pre: &bindings::PluginPre<CallState>,
        what: &str,
        api: Arc<dyn HostApi>,
        call: impl FnOnce(
            &bindings::Plugin,
            &mut Store<CallState>,
        ) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, PluginError> {
        let _slot = self.slot();
        let _ticking = self.ticker.busy();
        let started = Instant::now();
        let mut store = Store::new(&self.engine, CallState::new(api, self.limits));
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(deadline_ticks(self.limits.timeout));
        store.epoch_deadline_trap();
        let result = pre
            .instantiate(&mut store)
            .and_then(|plugin| call(&plugin, &mut store));
        let outcome = match result {
            // It waited (sleeping) past the time limit and woke before its epoch deadline
            // stopped it (the epoch thread may lag on a busy machine): it did not finish
            // in time all the same.
            Ok(_) if store.data().wait_cut && started.elapsed() >= self.limits.timeout => {
                Err(PluginError::Timeout {
                    what: what.to_string(),
                    limit: self.limits.timeout,
                })
            }
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(PluginError::Failed {
                what: what.to_string(),
                message,
            }),
            Err(error) => Err(self.stopped(what, &error, store.data())),
        };
        store.data().flush_output();
        outcome
    }

    /// Why wasmtime stopped a call.
    fn stopped(&self, what: &str, error: &wasmtime::Error, state: &CallState) -> PluginError {
        let what = what.to_string();
        if state.limiter.denied {
            return PluginError::MemoryExceeded {
                what,
                limit: self.limits.memory,
            };
        }
        let message = match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                return PluginError::Timeout {
                    what,
                    limit: self.limits.timeout,
                }
            }
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        PluginError::Trap {
            what,
            message: with_stderr(message, &state.stderr.peek()),
        }
    }

    /// Waits for one of the [`CONCURRENT_CALLS`] slots.
    fn slot(&self) -> Slot<'_> {
        let mut running = lock(&self.running);
        while *running >= CONCURRENT_CALLS {
            running = self
                .call_ended
                .wait(running)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *running += 1;
        Slot(self)
    }
}

/// A running call's slot; freed when dropped.
struct Slot<'a>(&'a PluginHost);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *lock(&self.0.running) -= 1;
        self.0.call_ended.notify_one();
    }
}

/// The engine: components, epoch interruption, and a small pool of instances whose memories
/// are bounded by the limit. Falls back to allocating on demand when the pool cannot be
/// reserved (e.g. a low `ulimit -v`); the store's limiter bounds memory either way.
fn engine(limits: &Limits) -> wasmtime::Result<(Engine, bool)> {
    const PAGE: usize = 64 << 10;
    let memory = limits.memory.div_ceil(PAGE).max(1) * PAGE;
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Reserve only the memory limit per linear memory (not the default 4 GiB): bounds checks
    // are then explicit, but the pool's address space stays small (32 memories of 64 MiB plus
    // guards), and a memory can never outgrow the limit.
    config.memory_reservation(memory as u64);
    config.memory_guard_size(2 << 20);
    config.memory_reservation_for_growth(0);
    let mut pool = PoolingAllocationConfig::new();
    let slots = CONCURRENT_CALLS as u32;
    // A Rust component has a handful of core instances (the program, WASI adapter shims) and
    // one or two memories and tables.
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .max_memories_per_component(2)
        .max_tables_per_component(4)
        .max_core_instances_per_component(8)
        .max_memory_size(memory)
        // Keep a little of each memory mapped when an instance ends: the next call of the
        // same plugin starts faster.
        .linear_memory_keep_resident(1 << 20);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok((engine, true)),
        Err(error) => {
            tracing::warn!("cannot set up the plugin instance pool ({error:#}); allocating instances on demand");
            Ok((Engine::new(&config)?, false))
        }
    }
}

/// The WASI version whose monotonic clock [`bound_waits`] replaces (wasmtime-wasi's; a
/// component importing an older 0.2 version is linked to it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Epoch interruption stops wasm code, not a host call that blocks: a plugin sleeping (a
/// clock subscription it then blocks on) would hold its call past the time limit. So the
/// subscriptions are cut at the call's deadline; when the plugin wakes, its epoch deadline has
/// passed and it is stopped.
fn bound_waits(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::clocks::WasiClocksView as _;
    use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host as _;

    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, CallState>, (duration,): (u64,)| {
            let state = store.data_mut();
            let duration = state.bounded_wait(duration);
            Ok((state.clocks().subscribe_duration(duration)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, CallState>, (when,): (u64,)| {
            let state = store.data_mut();
            let now = state.clocks().now()?;
            let duration = state.bounded_wait(when.saturating_sub(now));
            Ok((state.clocks().subscribe_duration(duration)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The epoch deadline, in ticks, of a call that may run `timeout`: never less than the
/// timeout (the first tick may come at once).
fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    u64::try_from(timeout.as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX / 2)
        .saturating_add(1)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] while a call runs, and sleeps while
/// none does: an idle agent's plugin host wakes no one.
struct Ticker {
    shared: Arc<(Mutex<Ticking>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Ticking {
    /// Calls running now.
    busy: usize,
    /// Epochs advanced so far (for tests and the curious).
    ticks: u64,
    stop: bool,
}

impl Ticker {
    fn start(engine: Engine) -> std::io::Result<Ticker> {
        let shared: Arc<(Mutex<Ticking>, Condvar)> = Arc::default();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("plugin-epoch".into())
                .spawn(move || tick_while_busy(&engine, &shared))?
        };
        Ok(Ticker {
            shared,
            thread: Some(thread),
        })
    }

    /// Ticks until the guard is dropped (and no other call runs).
    fn busy(&self) -> Busy<'_> {
        let (ticking, wake) = &*self.shared;
        lock(ticking).busy += 1;
        wake.notify_all();
        Busy(self)
    }

    #[cfg(test)]
    fn ticks(&self) -> u64 {
        lock(&self.shared.0).ticks
    }
}

/// The epoch thread: asleep on the condition variable while no call runs; while calls run,
/// one tick per [`EPOCH_TICK`] (a wake-up for another reason does not tick early).
fn tick_while_busy(engine: &Engine, shared: &(Mutex<Ticking>, Condvar)) {
    let (ticking, wake) = shared;
    let mut state = lock(ticking);
    let mut next_tick: Option<Instant> = None;
    loop {
        if state.stop {
            return;
        }
        if state.busy == 0 {
            next_tick = None;
            state = wake.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        let now = Instant::now();
        let due = *next_tick.get_or_insert(now + EPOCH_TICK);
        if now >= due {
            engine.increment_epoch();
            state.ticks += 1;
            next_tick = Some(due + EPOCH_TICK);
            continue;
        }
        state = wake
            .wait_timeout(state, due - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// A running call, for the ticker.
struct Busy<'a>(&'a Ticker);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        lock(&self.0.shared.0).busy -= 1;
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (ticking, wake) = &*self.shared;
        lock(ticking).stop = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn parse_result(what: &str, result: &str) -> Result<Value, PluginError> {
    serde_json::from_str(result).map_err(|error| PluginError::Failed {
        what: what.to_string(),
        message: format!("it returned something that is not JSON ({error})"),
    })
}

/// The trap's message, with what the plugin wrote to stderr if anything; a Rust panic (whose
/// trap is just "unreachable") is told by its message and place instead.
fn with_stderr(trap: String, stderr: &str) -> String {
    const LIMIT: usize = 1000;
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE=1`"))
        .collect();
    if lines.is_empty() {
        return trap;
    }
    let mut said = lines.join(" ");
    if said.len() > LIMIT {
        let mut start = said.len() - LIMIT;
        while !said.is_char_boundary(start) {
            start += 1;
        }
        said = format!("…{}", &said[start..]);
    }
    // "thread '<unnamed>' (1) panicked at src/lib.rs:3:5: message"
    if let Some(at) = said.find("panicked at ") {
        return said[at..].to_string();
    }
    format!("{trap}; it wrote: {said}")
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that no reader ever sees part of it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let directory = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = directory.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Feeds a [`Hash`] into SHA-256 (stable across processes, unlike `DefaultHasher`).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only the digest is used")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<PluginHost>();
        send_sync::<Plugin>();
        send_sync::<PluginError>();
    }

    /// No call, no tick: the epoch thread sleeps. A call makes it tick until it ends.
    #[test]
    fn the_epoch_advances_only_while_a_call_runs() {
        let ticker = Ticker::start(Engine::default()).unwrap();
        std::thread::sleep(EPOCH_TICK * 5);
        assert_eq!(ticker.ticks(), 0, "ticked with no call running");
        let call = ticker.busy();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ticker.ticks() < 3 {
            assert!(Instant::now() < deadline, "no tick while a call ran");
            std::thread::sleep(EPOCH_TICK);
        }
        drop(call);
        // A tick already due may still land; after it, nothing more.
        std::thread::sleep(EPOCH_TICK * 2);
        let after = ticker.ticks();
        std::thread::sleep(EPOCH_TICK * 5);
        assert_eq!(ticker.ticks(), after, "ticked after the call ended");
    }

    #[test]
    fn deadline_covers_the_timeout() {
        assert_eq!(deadline_ticks(Duration::from_millis(200)), 21);
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 2);
        assert_eq!(deadline_ticks(Duration::from_secs(2)), 201);
    }

    #[test]
    fn stderr_is_summarised() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            with_stderr("wasm trap: unreachable".into(), stderr),
            "panicked at src/lib.rs:3:5: boom"
        );
        assert_eq!(
            with_stderr("wasm trap: x".into(), "oops\n"),
            "wasm trap: x; it wrote: oops"
        );
        assert_eq!(with_stderr("x".into(), ""), "x");
    }
}
