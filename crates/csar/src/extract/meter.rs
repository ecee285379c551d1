//! Metering a decompressed stream: how many bytes went in and came out, stopping the
//! stream when it expands too much, grows past a cap, or when the tar reader consumes too
//! much between two entries (headers, long names, skipped data).

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// Why a metered stream was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trip {
    /// Unpacked more than `ratio` times the compressed bytes.
    Ratio,
    /// Unpacked more than the cap.
    Cap,
    /// More than [`HEADER_ALLOWANCE`] bytes between two entries.
    Headers,
}

/// Bytes the tar reader may consume between two entries (1 MiB): headers, GNU long
/// names, pax records, padding.
pub(crate) const HEADER_ALLOWANCE: u64 = 1 << 20;

/// State shared between the metered readers and the extraction loop.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    compressed: Cell<u64>,
    unpacked: Cell<u64>,
    /// While the tar reader is between entries: the unpacked count not to pass.
    header_cap: Cell<Option<u64>>,
    tripped: Cell<Option<Trip>>,
}

impl Meter {
    /// Starts a stretch between two entries.
    pub fn begin_headers(&self) {
        self.header_cap
            .set(Some(self.unpacked.get().saturating_add(HEADER_ALLOWANCE)));
    }

    /// Ends a stretch between two entries.
    pub fn end_headers(&self) {
        self.header_cap.set(None);
    }

    /// Why the stream was stopped, if it was.
    pub fn tripped(&self) -> Option<Trip> {
        self.tripped.get()
    }
}

/// Counts the compressed bytes read from the archive file.
pub(crate) struct CountIn<R> {
    pub inner: R,
    pub meter: Rc<Meter>,
}

impl<R: Read> Read for CountIn<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter
            .compressed
            .set(self.meter.compressed.get() + n as u64);
        Ok(n)
    }
}

/// Counts the unpacked bytes and stops the stream when a bound is passed.
pub(crate) struct Guard<R> {
    pub inner: R,
    pub meter: Rc<Meter>,
    /// Largest accepted unpacked/compressed ratio; `None` when not compressed.
    pub ratio: Option<u64>,
    /// Most unpacked bytes the whole stream may have.
    pub cap: u64,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.meter.tripped.get().is_some() {
            return Err(stopped());
        }
        let n = self.inner.read(buf)?;
        let meter = &self.meter;
        let unpacked = meter.unpacked.get() + n as u64;
        meter.unpacked.set(unpacked);
        let trip = if unpacked > self.cap {
            Some(Trip::Cap)
        } else if meter.header_cap.get().is_some_and(|cap| unpacked > cap) {
            Some(Trip::Headers)
        } else if self.ratio.is_some_and(|ratio| {
            unpacked > crate::limits::RATIO_ALLOWANCE
                && unpacked > meter.compressed.get().saturating_mul(ratio)
        }) {
            Some(Trip::Ratio)
        } else {
            None
        };
        if trip.is_some() {
            meter.tripped.set(trip);
            return Err(stopped());
        }
        Ok(n)
    }
}

fn stopped() -> io::Error {
    io::Error::other("extraction stopped: a limit was passed")
}
