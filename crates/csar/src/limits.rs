//! How much an archive may unpack to.

/// Bounds enforced while unpacking an archive. Sizes and counts are checked against what
/// the archive declares (to fail before writing anything) and against what it actually
/// produces (headers can lie): extraction stops as soon as a limit is passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Entries of any kind (files, directories, global pax headers of a tarball).
    pub max_entries: usize,
    /// Bytes of all files together, once unpacked.
    pub max_total_bytes: u64,
    /// Bytes of one file, once unpacked.
    pub max_entry_bytes: u64,
    /// Largest accepted ratio of unpacked to compressed bytes (per zip entry; over the
    /// whole stream for tar.gz). Data up to [`RATIO_ALLOWANCE`] is exempt, since small,
    /// repetitive files legitimately compress very well.
    pub max_ratio: u64,
}

/// Unpacked bytes exempt from the compression-ratio check (1 MiB).
pub const RATIO_ALLOWANCE: u64 = 1 << 20;

impl Default for Limits {
    /// 10 000 entries, 256 MiB in total (the agent's package limit: a CSAR the CLI accepts is
    /// one the agent accepts), 256 MiB per file, compression ratio 200:1.
    fn default() -> Self {
        Limits {
            max_entries: 10_000,
            max_total_bytes: 256 << 20,
            max_entry_bytes: 256 << 20,
            max_ratio: 200,
        }
    }
}

impl Limits {
    /// Whether `unpacked` bytes from `compressed` bytes exceed the ratio.
    pub(crate) fn ratio_exceeded(&self, unpacked: u64, compressed: u64) -> bool {
        unpacked > RATIO_ALLOWANCE && unpacked > compressed.saturating_mul(self.max_ratio)
    }
}
