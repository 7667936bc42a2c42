//! Errors of the event journal.
//!
//! Owns [`JournalError`] and [`RecordDamage`]; it must never hide the path, offset or sequence number
//! that a caller or an operator needs to act on a failure.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// A failure of the event journal.
///
/// The type is `Clone` so that one failed group commit can answer every append of its batch;
/// I/O errors are therefore held in an [`Arc`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    /// An I/O operation other than a sync failed on a journal file or directory.
    #[error("journal {op} failed on {path}")]
    Io {
        /// The operation that failed, such as `write` or `list`.
        op: &'static str,
        /// The file or directory the operation was applied to.
        path: PathBuf,
        /// The error reported by the operating system.
        #[source]
        source: Arc<io::Error>,
    },
    /// `fdatasync` (or the directory fsync) failed; nothing of the batch is acknowledged.
    ///
    /// Retrying a sync is not safe: the kernel may have dropped the dirty pages and will report
    /// success the next time. The writer is poisoned and the service must restart.
    #[error("journal sync failed on {path}; the service must restart")]
    SyncFailed {
        /// The segment file or journal directory whose sync failed.
        path: PathBuf,
        /// The error reported by the operating system.
        #[source]
        source: Arc<io::Error>,
    },
    /// An earlier I/O failure poisoned the writer; this append was not written.
    #[error("journal is poisoned by an earlier failure; the service must restart")]
    Poisoned {
        /// The failure that poisoned the writer.
        #[source]
        source: Arc<JournalError>,
    },
    /// A record is damaged where damage cannot be a torn tail (a non-last segment, or a range
    /// that was synced before).
    #[error("damaged record in segment {path} at offset {offset}: {damage}")]
    Damaged {
        /// The segment file holding the record.
        path: PathBuf,
        /// Byte offset of the record's header within the segment.
        offset: u64,
        /// What is wrong with the record.
        damage: RecordDamage,
    },
    /// A valid record carries a sequence number other than the next one.
    #[error(
        "sequence gap in segment {path} at offset {offset}: expected {expected}, found {found}"
    )]
    SequenceGap {
        /// The segment file holding the record.
        path: PathBuf,
        /// Byte offset of the record's header within the segment.
        offset: u64,
        /// The sequence number that must come next.
        expected: u64,
        /// The sequence number found in the record.
        found: u64,
    },
    /// A segment's name does not continue the sequence numbers of the segment before it.
    #[error("segment {path} starts at sequence {found}, expected {expected}")]
    SegmentGap {
        /// The segment file.
        path: PathBuf,
        /// The first sequence number the segment must hold.
        expected: u64,
        /// The first sequence number given by its name.
        found: u64,
    },
    /// A segment's name gives first sequence number 0, which is never assigned.
    #[error("segment {path} is named for sequence 0, which is never assigned")]
    SegmentAtZero {
        /// The segment file.
        path: PathBuf,
    },
    /// A payload exceeds [`MAX_PAYLOAD_BYTES`](super::MAX_PAYLOAD_BYTES); nothing of the append
    /// was written.
    #[error("payload {index} of {len} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// Position of the payload within the append call.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: u32,
    },
    /// A configuration value is out of range.
    #[error("journal setting {field} = {value} is out of range")]
    InvalidConfig {
        /// Name of the [`JournalConfig`](super::JournalConfig) field.
        field: &'static str,
        /// The rejected value.
        value: u64,
    },
    /// The writer was shut down, or its thread is gone.
    #[error("journal writer is closed")]
    Closed,
    /// The writer thread could not be started.
    #[error("journal writer thread could not be started")]
    SpawnWriter {
        /// The error reported by the operating system.
        #[source]
        source: Arc<io::Error>,
    },
    /// The writer thread panicked; appends it had not answered are lost, never acknowledged.
    #[error("journal writer thread panicked")]
    WriterPanicked,
}

/// What is wrong with one record, as found by the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordDamage {
    /// The segment ends inside a record header.
    #[error("torn header: {available} of {needed} bytes present")]
    TornHeader {
        /// Bytes present.
        available: usize,
        /// Header length in bytes.
        needed: usize,
    },
    /// The segment ends inside a record payload.
    #[error("torn payload: {available} of {needed} bytes present")]
    TornPayload {
        /// Bytes present.
        available: usize,
        /// Payload length from the header.
        needed: usize,
    },
    /// The first byte is not the magic/version byte.
    #[error("bad magic byte {found:#04x}")]
    BadMagic {
        /// The byte found.
        found: u8,
    },
    /// The header claims a payload longer than the format allows.
    #[error("payload length {len} exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// Claimed length in bytes.
        len: u32,
        /// The limit in bytes.
        max: u32,
    },
    /// The checksum does not match the header fields and payload.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadChecksum {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn sync(path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::SyncFailed {
            path: path.into(),
            source: Arc::new(source),
        }
    }
}
