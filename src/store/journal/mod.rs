//! The event journal: the durable source of truth for every acknowledged event.
//!
//! It owns the segment files in `<data dir>/journal/`, the record format, recovery after a crash,
//! the group-commit writer thread, and replay. sled holds only state derived from it, rebuilt by
//! replaying the journal.
//!
//! It must never:
//! - acknowledge an append before its records were written and `fdatasync`'ed;
//! - retry a failed sync, or acknowledge anything after one (see [Durability](#durability));
//! - skip a damaged record silently: only the torn tail of the *last* segment is truncated, and
//!   that is reported in [`Recovery`] and logged;
//! - interpret payload bytes (they are usually encoded `dunghan.storage.v1` messages), or name
//!   sled.
//!
//! # On-disk format
//!
//! The journal is a directory of append-only segment files. A segment is named by the sequence
//! number of its first record, zero-padded to 20 digits so that lexical order is numeric order:
//! `00000000000000000001.seg`. The writer starts a new segment before a record that would make the
//! current one exceed [`JournalConfig::segment_bytes`] (a record larger than that gets a segment
//! to itself). It syncs the old segment before creating the new one, and syncs the directory
//! after creating it, so a segment that is not the last is always complete.
//!
//! A segment is a sequence of records, with no file header. A record is a 17-byte header then the
//! payload, all integers big-endian:
//!
//! | offset | size | field                                                              |
//! |--------|------|--------------------------------------------------------------------|
//! | 0      | 1    | magic/version byte [`RECORD_MAGIC_V1`] = `0xD1`                     |
//! | 1      | 8    | sequence number, `u64`                                             |
//! | 9      | 4    | payload length in bytes, `u32`, at most [`MAX_PAYLOAD_BYTES`] (4 MiB) |
//! | 13     | 4    | CRC-32C (Castagnoli) over bytes 0..13 of the header, then the payload |
//! | 17     | len  | payload, opaque bytes                                              |
//!
//! Sequence numbers start at 1 and are contiguous across records and segments; 0 means "none".
//! A gap is corruption. A later format gets a new magic/version byte; old bytes are never
//! reinterpreted.
//!
//! # Recovery
//!
//! [`Journal::open`] scans every segment in order and validates every record (magic, length
//! bound, checksum, sequence number). Damage in the last segment is a torn tail left by a crash:
//! the segment is truncated at the first damaged record, the truncation is synced, and the
//! byte count is reported. Damage anywhere else, a sequence gap, or a segment whose name does not
//! continue the previous one is a [`JournalError`] naming the segment and offset; the service
//! must not start on such a journal.
//!
//! A torn tail can only hold records that were never acknowledged, since an acknowledgement waits
//! for the sync. The same holds for undamaged records after the last sync: they may or may not be
//! present after a crash, and once recovered they are synced before new appends are accepted.
//! Bit rot inside the synced part of the last segment cannot be told apart from a torn tail; it
//! is truncated too, and the warning names the segment, offset and byte count.
//!
//! # Durability
//!
//! [`JournalWriter::append`] resolves `Ok` only after its records were written and the segment
//! `fdatasync`'ed. One writer thread drains all pending appends, writes them, syncs once and then
//! answers all of them, so concurrent appends share a sync (group commit).
//!
//! If a write or sync fails, the writer is poisoned: that batch and every later append fail, and
//! nothing is acknowledged again. Retrying `fsync` is not safe: Linux may drop the dirty pages,
//! mark them clean and report success next time ("fsyncgate"). The poisoned writer cuts the
//! segment back to its synced length, so that the page cache no longer shows records that may not
//! be on disk. The service must restart; recovery then reads what is on disk, and records of a
//! failed batch may or may not be there, with contiguous sequence numbers either way. If even that
//! cut fails (logged at `error`), or the writer fails to start on a sync error, reboot the machine
//! before restarting the service, so that recovery reads the disk rather than stale cache.
//!
//! When the writer starts, it syncs the last segment and the directory: recovered records, and
//! the entry of a segment created just before a failure, may have been volatile until then.
//!
//! # Simulation
//!
//! The file operations go through the [`Disk`] trait. [`SimDisk`] models the page cache, crashes,
//! torn writes and failed syncs, and the simulation test drives the writer and recovery over many
//! seeds. The test suite runs 300 seeds; a long run with thousands:
//!
//! ```text
//! DUNGHAN_SIM_SEEDS=20000 cargo test --release journal_simulation -- --nocapture
//! ```
//!
//! `DUNGHAN_SIM_SEED_START` shifts the first seed, so a failing seed can be rerun alone with
//! `DUNGHAN_SIM_SEED_START=<seed> DUNGHAN_SIM_SEEDS=1`.

mod disk;
mod error;
mod record;
mod sim;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use self::disk::{Disk, RealDisk};
pub use self::error::{JournalError, RecordDamage};
pub use self::record::{HEADER_LEN, MAX_PAYLOAD_BYTES, RECORD_MAGIC_V1};
pub use self::sim::{SimDisk, SimFile, SimRng};
pub use self::writer::{JournalStats, JournalWriter};

use self::record::{read_record, Decoded};

/// The name of the journal directory inside the data directory.
pub const JOURNAL_DIR_NAME: &str = "journal";

/// The extension of segment file names.
const SEGMENT_EXTENSION: &str = "seg";

/// Number of digits in a segment name: enough for every `u64`.
const SEGMENT_NAME_DIGITS: usize = 20;

/// Settings of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// Size in bytes past which the writer starts a new segment; default 64 MiB.
    pub segment_bytes: u64,
    /// Number of append calls that may wait for the writer before callers wait to enqueue;
    /// default 4096.
    pub queue_capacity: usize,
}

/// A recovered journal, ready for replay and for starting its writer.
#[derive(Debug)]
pub struct Journal<D: Disk = RealDisk> {
    disk: Arc<D>,
    dir: PathBuf,
    config: JournalConfig,
    segments: Vec<SegmentInfo>,
    recovery: Recovery,
}

/// What [`Journal::open`] found and repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Number of segment files.
    pub segments: usize,
    /// Number of valid records in all segments.
    pub records: u64,
    /// Sequence number of the first record, or 0 if there is none.
    pub first_seq: u64,
    /// Sequence number of the last record; the next append gets `last_seq + 1`.
    ///
    /// For an empty journal it is the first segment's number minus one, or 0 without segments.
    pub last_seq: u64,
    /// Bytes cut from the tail of the last segment because they were torn or damaged.
    pub bytes_truncated: u64,
    /// The segment that was truncated, if any.
    pub truncated_segment: Option<PathBuf>,
}

/// One segment file and how much of it is synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Path of the segment file.
    pub path: PathBuf,
    /// Sequence number of its first record (also its name).
    pub first_seq: u64,
    /// Length in bytes of its synced, valid prefix: a backup copies exactly these bytes.
    pub synced_len: u64,
}

/// Replays records in order, as `(sequence number, payload)`.
///
/// It reads only the synced part of each segment as of its creation, so it may run while the
/// writer appends. After an error it yields nothing more.
#[derive(Debug)]
pub struct JournalReader<D: Disk = RealDisk> {
    disk: Arc<D>,
    pending: VecDeque<SegmentInfo>,
    current: Option<SegmentCursor<D::Reader>>,
    from_seq: u64,
    failed: bool,
}

#[derive(Debug)]
struct SegmentCursor<R> {
    segment: SegmentInfo,
    reader: std::io::Take<R>,
    offset: u64,
    expected_seq: u64,
}

/// How a segment scan ended.
enum ScanEnd {
    /// The segment ended at a record boundary.
    Clean,
    /// A damaged record starts at this offset.
    Damaged { offset: u64, damage: RecordDamage },
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            segment_bytes: 64 * 1024 * 1024,
            queue_capacity: 4096,
        }
    }
}

impl JournalConfig {
    /// Checks that every value is in range.
    ///
    /// # Errors
    /// [`JournalError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), JournalError> {
        if self.segment_bytes == 0 {
            return Err(JournalError::InvalidConfig {
                field: "segment_bytes",
                value: 0,
            });
        }
        if self.queue_capacity == 0 {
            return Err(JournalError::InvalidConfig {
                field: "queue_capacity",
                value: 0,
            });
        }
        Ok(())
    }
}

/// Returns the journal directory inside `data_dir`.
pub fn journal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(JOURNAL_DIR_NAME)
}

impl Journal<RealDisk> {
    /// Opens and recovers the journal in `dir` on the real disk, creating it if needed.
    ///
    /// See [`Journal::open_on`].
    ///
    /// # Errors
    /// As [`Journal::open_on`].
    pub fn open(dir: &Path, config: JournalConfig) -> Result<Self, JournalError> {
        Journal::open_on(Arc::new(RealDisk), dir, config)
    }
}

impl<D: Disk> Journal<D> {
    /// Opens and recovers the journal in `dir` on `disk`, creating the directory if needed.
    ///
    /// Validates every record; truncates and syncs a torn tail of the last segment (see the
    /// module docs). Opening twice gives the same result: the second open truncates nothing.
    ///
    /// # Errors
    /// [`JournalError::Damaged`], [`JournalError::SequenceGap`], [`JournalError::SegmentGap`] or
    /// [`JournalError::SegmentAtZero`] for corruption outside the last segment's tail;
    /// [`JournalError::Io`] or [`JournalError::SyncFailed`] if the disk fails;
    /// [`JournalError::InvalidConfig`] for a bad `config`.
    pub fn open_on(disk: Arc<D>, dir: &Path, config: JournalConfig) -> Result<Self, JournalError> {
        config.validate()?;
        disk.create_dir_all(dir)
            .map_err(|err| JournalError::io("create directory", dir, err))?;
        // The journal directory's own entry must be durable before any segment in it counts.
        if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            disk.sync_dir(parent)
                .map_err(|err| JournalError::sync(parent, err))?;
        }
        let mut segments = list_segments(disk.as_ref(), dir)?;
        let mut recovery = Recovery {
            segments: segments.len(),
            records: 0,
            first_seq: 0,
            last_seq: 0,
            bytes_truncated: 0,
            truncated_segment: None,
        };
        let n_segments = segments.len();
        let mut next_seq: Option<u64> = None;
        for (segment_idx, segment) in segments.iter_mut().enumerate() {
            let is_last = segment_idx + 1 == n_segments;
            if let Some(expected) = next_seq {
                if segment.first_seq != expected {
                    return Err(JournalError::SegmentGap {
                        path: segment.path.clone(),
                        expected,
                        found: segment.first_seq,
                    });
                }
            }
            let mut n_records = 0u64;
            let (end_seq, valid_len, scan_end) =
                scan_segment(disk.as_ref(), segment, |_, _| n_records += 1)?;
            if let ScanEnd::Damaged { offset, damage } = scan_end {
                if !is_last {
                    return Err(JournalError::Damaged {
                        path: segment.path.clone(),
                        offset,
                        damage,
                    });
                }
                let file_len = file_len(disk.as_ref(), &segment.path)?;
                disk.truncate(&segment.path, valid_len)
                    .map_err(|err| JournalError::sync(&segment.path, err))?;
                tracing::warn!(
                    segment = %segment.path.display(),
                    offset,
                    bytes_truncated = file_len - valid_len,
                    %damage,
                    "truncated the torn tail of the last journal segment"
                );
                recovery.bytes_truncated = file_len - valid_len;
                recovery.truncated_segment = Some(segment.path.clone());
            }
            segment.synced_len = valid_len;
            if recovery.first_seq == 0 && n_records > 0 {
                recovery.first_seq = segment.first_seq;
            }
            recovery.records += n_records;
            next_seq = Some(end_seq);
        }
        recovery.last_seq = next_seq.map_or(0, |next| next - 1);
        tracing::info!(
            dir = %dir.display(),
            segments = recovery.segments,
            records = recovery.records,
            last_seq = recovery.last_seq,
            bytes_truncated = recovery.bytes_truncated,
            "journal recovered"
        );
        Ok(Journal {
            disk,
            dir: dir.to_owned(),
            config,
            segments,
            recovery,
        })
    }

    /// Returns what recovery found and repaired.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Returns the segments with their valid lengths, in sequence order.
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// Returns a reader over the records with sequence numbers `from_seq` and above, for replay
    /// before the writer starts.
    pub fn read_from(&self, from_seq: u64) -> JournalReader<D> {
        JournalReader::new(Arc::clone(&self.disk), self.segments.clone(), from_seq)
    }

    /// Starts the writer thread and returns its handle.
    ///
    /// Syncs the last segment first (records recovered after a crash may not have been durable
    /// yet), or creates the first segment and syncs the directory.
    ///
    /// # Errors
    /// [`JournalError::Io`] or [`JournalError::SyncFailed`] if the disk fails;
    /// [`JournalError::SpawnWriter`] if the thread cannot be started.
    pub fn start_writer(self) -> Result<JournalWriter<D>, JournalError> {
        JournalWriter::start(self)
    }
}

impl<D: Disk> JournalReader<D> {
    fn new(disk: Arc<D>, segments: Vec<SegmentInfo>, from_seq: u64) -> Self {
        let mut pending: VecDeque<SegmentInfo> = segments.into();
        // Skip whole segments that end before `from_seq`: the next one starts at or before it.
        while pending.len() > 1 && pending[1].first_seq <= from_seq {
            pending.pop_front();
        }
        JournalReader {
            disk,
            pending,
            current: None,
            from_seq,
            failed: false,
        }
    }

    fn next_record(&mut self) -> Result<Option<(u64, Vec<u8>)>, JournalError> {
        loop {
            let cursor = match &mut self.current {
                Some(cursor) => cursor,
                None => {
                    let Some(segment) = self.pending.pop_front() else {
                        return Ok(None);
                    };
                    let reader = self
                        .disk
                        .open_read(&segment.path)
                        .map_err(|err| JournalError::io("open for reading", &segment.path, err))?;
                    self.current.insert(SegmentCursor {
                        reader: reader.take(segment.synced_len),
                        offset: 0,
                        expected_seq: segment.first_seq,
                        segment,
                    })
                }
            };
            match cursor.next_record()? {
                Some((seq, payload)) if seq >= self.from_seq => return Ok(Some((seq, payload))),
                Some(_) => continue,
                None => self.current = None,
            }
        }
    }
}

impl<D: Disk> Iterator for JournalReader<D> {
    type Item = Result<(u64, Vec<u8>), JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = self.next_record();
        if result.is_err() {
            self.failed = true;
        }
        result.transpose()
    }
}

impl<R: Read> SegmentCursor<R> {
    /// Returns the next record; within the synced length any damage or gap is an error.
    fn next_record(&mut self) -> Result<Option<(u64, Vec<u8>)>, JournalError> {
        let path = &self.segment.path;
        let decoded =
            read_record(&mut self.reader).map_err(|err| JournalError::io("read", path, err))?;
        match decoded {
            Decoded::End => Ok(None),
            Decoded::Damaged(damage) => Err(JournalError::Damaged {
                path: path.clone(),
                offset: self.offset,
                damage,
            }),
            Decoded::Record { seq, payload } => {
                if seq != self.expected_seq {
                    return Err(JournalError::SequenceGap {
                        path: path.clone(),
                        offset: self.offset,
                        expected: self.expected_seq,
                        found: seq,
                    });
                }
                self.offset += record::record_len(payload.len());
                self.expected_seq += 1;
                Ok(Some((seq, payload)))
            }
        }
    }
}

/// Returns the path of the segment whose first record is `first_seq`.
pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!(
        "{first_seq:0width$}.{SEGMENT_EXTENSION}",
        width = SEGMENT_NAME_DIGITS
    ))
}

/// Returns the segments in `dir` in sequence order, with `synced_len` not yet known (0).
fn list_segments<D: Disk>(disk: &D, dir: &Path) -> Result<Vec<SegmentInfo>, JournalError> {
    let names = disk
        .list(dir)
        .map_err(|err| JournalError::io("list", dir, err))?;
    let mut segments = Vec::new();
    for name in names {
        let Some(first_seq) = parse_segment_name(&name) else {
            tracing::debug!(dir = %dir.display(), name, "ignoring a file that is not a segment");
            continue;
        };
        let path = dir.join(&name);
        if first_seq == 0 {
            return Err(JournalError::SegmentAtZero { path });
        }
        segments.push(SegmentInfo {
            path,
            first_seq,
            synced_len: 0,
        });
    }
    segments.sort_by_key(|segment| segment.first_seq);
    Ok(segments)
}

/// Parses `00000000000000000042.seg` into 42.
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_EXTENSION)?.strip_suffix('.')?;
    if digits.len() != SEGMENT_NAME_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Scans a whole segment, calling `on_record` for each valid record.
///
/// Returns the sequence number after the last valid record, the length of the valid prefix, and
/// how the scan ended.
///
/// # Errors
/// [`JournalError::SequenceGap`] for a valid record out of sequence; I/O errors.
fn scan_segment<D: Disk>(
    disk: &D,
    segment: &SegmentInfo,
    mut on_record: impl FnMut(u64, &[u8]),
) -> Result<(u64, u64, ScanEnd), JournalError> {
    let reader = disk
        .open_read(&segment.path)
        .map_err(|err| JournalError::io("open for reading", &segment.path, err))?;
    let mut cursor = SegmentCursor {
        segment: SegmentInfo {
            synced_len: u64::MAX,
            ..segment.clone()
        },
        reader: reader.take(u64::MAX),
        offset: 0,
        expected_seq: segment.first_seq,
    };
    loop {
        match cursor.next_record() {
            Ok(Some((seq, payload))) => on_record(seq, &payload),
            Ok(None) => return Ok((cursor.expected_seq, cursor.offset, ScanEnd::Clean)),
            Err(JournalError::Damaged { offset, damage, .. }) => {
                return Ok((
                    cursor.expected_seq,
                    cursor.offset,
                    ScanEnd::Damaged { offset, damage },
                ))
            }
            Err(err) => return Err(err),
        }
    }
}

/// Returns the length of a file by reading it to the end, through the [`Disk`] trait.
fn file_len<D: Disk>(disk: &D, path: &Path) -> Result<u64, JournalError> {
    let mut reader = disk
        .open_read(path)
        .map_err(|err| JournalError::io("open for reading", path, err))?;
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|err| JournalError::io("read", path, err))
}
