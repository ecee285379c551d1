//! The data of the store of one call: WASI with nothing granted, the memory limiter, the
//! captured stdout/stderr, and the `host` interface answered by the embedder's [`HostApi`].

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::api::{HostApi, Level};
use crate::bindings::khutulun::plugin::host as wit;
use crate::host::{Limits, EPOCH_TICK};

/// How much of each of stdout and stderr a call keeps (the rest is dropped, not refused: a
/// chatty plugin is not failed for it).
const OUTPUT_LIMIT: usize = 64 << 10;

/// The longest message a plugin may log (longer ones are cut).
const MESSAGE_LIMIT: usize = 16 << 10;

/// Tables (of function references) may not grow past this many elements.
const TABLE_ELEMENTS_LIMIT: usize = 100_000;

pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    api: Arc<dyn HostApi>,
    /// When the call's epoch deadline has surely passed.
    deadline: Instant,
    /// Whether the plugin asked to wait past the deadline (and was given less).
    pub(crate) wait_cut: bool,
}

impl CallState {
    pub(crate) fn new(api: Arc<dyn HostApi>, limits: Limits) -> CallState {
        let stdout = CapturedOutput::default();
        let stderr = CapturedOutput::default();
        // Nothing granted: no preopened directories, no environment, no arguments, stdin
        // closed, stdout/stderr captured, no sockets and no name lookup. Clocks and random
        // numbers stay (they grant nothing).
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: limits.memory,
                denied: false,
            },
            stdout,
            stderr,
            api,
            deadline: Instant::now() + limits.timeout + 2 * EPOCH_TICK,
            wait_cut: false,
        }
    }

    /// A wait of `nanos` the plugin asks for, cut to the time left before the deadline.
    pub(crate) fn bounded_wait(&mut self, nanos: u64) -> u64 {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let left = u64::try_from(left.as_nanos()).unwrap_or(u64::MAX);
        if nanos > left {
            self.wait_cut = true;
        }
        nanos.min(left)
    }

    /// Passes what the plugin wrote to stdout (as `Info`) and stderr (as `Warn`) to the log,
    /// line by line.
    pub(crate) fn flush_output(&self) {
        for (output, level) in [(&self.stdout, Level::Info), (&self.stderr, Level::Warn)] {
            let (text, truncated) = output.take();
            for line in text.lines().filter(|line| !line.trim().is_empty()) {
                self.api.log(level, line);
            }
            if truncated {
                self.api.log(
                    Level::Warn,
                    &format!(
                        "(the plugin wrote more than {OUTPUT_LIMIT} bytes; the rest was dropped)"
                    ),
                );
            }
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Denies memory growth past the limit and remembers that it did, so that the trap that
/// follows (Rust's allocator aborts when it gets no memory) is reported as the memory limit.
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub(crate) denied: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit || maximum.is_some_and(|maximum| desired > maximum) {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // Allowed by the limit but refused by the pool or the system: still out of memory.
        self.denied = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS_LIMIT && maximum.is_none_or(|maximum| desired <= maximum))
    }

    fn instances(&self) -> usize {
        100
    }

    fn tables(&self) -> usize {
        100
    }

    fn memories(&self) -> usize {
        100
    }
}

/// A plugin's stdout or stderr, kept in memory up to [`OUTPUT_LIMIT`] bytes; writes past the
/// limit succeed and are dropped.
#[derive(Clone, Default)]
pub(crate) struct CapturedOutput(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

impl CapturedOutput {
    fn write(&self, bytes: &[u8]) {
        let mut captured = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let room = OUTPUT_LIMIT.saturating_sub(captured.bytes.len());
        if bytes.len() > room {
            captured.truncated = true;
        }
        captured
            .bytes
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What was written (lossy UTF-8) and whether some was dropped; empties the buffer.
    pub(crate) fn take(&self) -> (String, bool) {
        let mut captured = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bytes = std::mem::take(&mut captured.bytes);
        let truncated = std::mem::replace(&mut captured.truncated, false);
        (String::from_utf8_lossy(&bytes).into_owned(), truncated)
    }

    /// The text written so far, without emptying the buffer.
    pub(crate) fn peek(&self) -> String {
        let captured = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        String::from_utf8_lossy(&captured.bytes).into_owned()
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        CapturedOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always room: what does not fit is dropped.
        Ok(OUTPUT_LIMIT)
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        CapturedOutput::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Cuts a message to [`MESSAGE_LIMIT`] bytes, at a character boundary.
fn bounded(mut message: String) -> String {
    if message.len() > MESSAGE_LIMIT {
        let mut end = MESSAGE_LIMIT;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(" (cut)");
    }
    message
}

impl wit::Host for CallState {
    fn log(&mut self, level: wit::Level, message: String) {
        let level = match level {
            wit::Level::Debug => Level::Debug,
            wit::Level::Info => Level::Info,
            wit::Level::Warn => Level::Warn,
            wit::Level::Error => Level::Error,
        };
        self.api.log(level, &bounded(message));
    }

    fn service_graph(&mut self) -> Result<String, String> {
        self.api.service_graph()
    }

    fn get_attribute(&mut self, node: String, index: u32, name: String) -> Result<String, String> {
        self.api
            .get_attribute(&node, index, &name)
            .map(|value| value.to_string())
    }

    fn set_attribute(
        &mut self,
        node: String,
        index: u32,
        name: String,
        value: String,
    ) -> Result<(), String> {
        let value = serde_json::from_str(&value).map_err(|error| {
            format!("the value for attribute {name} of {node}-{index} is not JSON: {error}")
        })?;
        self.api.set_attribute(&node, index, &name, value)
    }

    fn emit_event(
        &mut self,
        name: String,
        node: Option<String>,
        index: Option<u32>,
        data: String,
    ) -> Result<(), String> {
        let data: serde_json::Value = serde_json::from_str(&data)
            .map_err(|error| format!("the data of event {name} is not JSON: {error}"))?;
        if !data.is_object() {
            return Err(format!("the data of event {name} must be a JSON object"));
        }
        self.api.emit_event(&name, node.as_deref(), index, data)
    }
}
