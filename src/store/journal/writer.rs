//! The group-commit writer: one thread that owns the open segment, and the async handle that
//! feeds it.
//!
//! Owns [`JournalWriter`], the writer thread and the [`Appender`] it drives. It must never answer
//! an append with `Ok` before the sync that covers its records returned `Ok`, and never write or
//! sync again after a failed write or sync.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::disk::Disk;
use super::error::JournalError;
use super::record::{encode_record, record_len, MAX_PAYLOAD_BYTES};
use super::{segment_path, Journal, JournalReader, SegmentInfo};
use crate::metrics::names;

/// A handle on the journal's writer thread; cheap to clone and shared between tasks.
///
/// The request queue is a bounded `tokio::sync::mpsc` channel rather than a std or crossbeam
/// one: `append` awaits free capacity instead of blocking a runtime worker thread, and the writer
/// thread still receives with plain blocking calls (`blocking_recv`, then `try_recv` to drain).
#[derive(Debug)]
pub struct JournalWriter<D: Disk = super::RealDisk> {
    requests: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    disk: Arc<D>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// Counters of the writer since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Append calls answered `Ok`.
    pub appends: u64,
    /// Records written and synced.
    pub records: u64,
    /// Record bytes (headers included) written and synced.
    pub bytes: u64,
    /// Group commits: batches of appends written together.
    pub batches: u64,
    /// Successful `fdatasync` calls on segments (one per batch, plus one per segment rotation).
    pub syncs: u64,
    /// Sequence number of the last synced record; 0 if none.
    pub synced_seq: u64,
}

enum Command {
    Append {
        payloads: Vec<Vec<u8>>,
        reply: oneshot::Sender<Result<Range<u64>, JournalError>>,
    },
    Shutdown {
        reply: oneshot::Sender<Result<(), JournalError>>,
    },
}

/// State the writer thread publishes to handles.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    synced_seq: AtomicU64,
    appends: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    batches: AtomicU64,
    syncs: AtomicU64,
    /// Segments and their synced lengths, consistent with `synced_seq` when read under the lock.
    synced: Mutex<SyncedView>,
}

#[derive(Debug, Default, Clone)]
struct SyncedView {
    segments: Vec<SegmentInfo>,
}

/// The synchronous core of the writer: owns the open segment and appends batches to it.
///
/// The writer thread drives it; the simulation test drives it directly, so that one seed is one
/// reproducible interleaving.
pub(crate) struct Appender<D: Disk> {
    disk: Arc<D>,
    dir: PathBuf,
    segment_bytes: u64,
    file: D::AppendFile,
    segment_path: PathBuf,
    /// Bytes written to the current segment, synced or not.
    written_len: u64,
    /// Bytes of the current segment covered by a successful sync.
    synced_len: u64,
    next_seq: u64,
    /// Encoded records not yet handed to the disk.
    buffer: Vec<u8>,
    poison: Option<Arc<JournalError>>,
    shared: Arc<Shared>,
}

/// Flush the encode buffer to the disk once it holds this many bytes.
const FLUSH_BUFFER_BYTES: usize = 1024 * 1024;

impl<D: Disk> Clone for JournalWriter<D> {
    fn clone(&self) -> Self {
        JournalWriter {
            requests: self.requests.clone(),
            shared: Arc::clone(&self.shared),
            disk: Arc::clone(&self.disk),
            thread: Arc::clone(&self.thread),
        }
    }
}

impl<D: Disk> JournalWriter<D> {
    pub(crate) fn start(journal: Journal<D>) -> Result<Self, JournalError> {
        let queue_capacity = journal.config.queue_capacity;
        let disk = Arc::clone(&journal.disk);
        let appender = Appender::start(journal)?;
        let shared = Arc::clone(&appender.shared);
        let (requests, receiver) = mpsc::channel(queue_capacity);
        let thread = std::thread::Builder::new()
            .name("journal-writer".to_owned())
            .spawn(move || run_writer(appender, receiver, queue_capacity))
            .map_err(|err| JournalError::SpawnWriter {
                source: Arc::new(err),
            })?;
        Ok(JournalWriter {
            requests,
            shared,
            disk,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Appends `payloads` as consecutive records and returns their sequence numbers.
    ///
    /// Resolves only after the records were written and synced; concurrent calls share a sync.
    /// An empty `payloads` returns an empty range and writes nothing. If the future is dropped
    /// early, the records may still be written.
    ///
    /// # Errors
    /// [`JournalError::PayloadTooLarge`] if a payload exceeds [`MAX_PAYLOAD_BYTES`] (nothing of
    /// this call is written); [`JournalError::Io`] or [`JournalError::SyncFailed`] if this batch
    /// failed, and [`JournalError::Poisoned`] for every append after that (records may or may not
    /// be on disk; the service must restart); [`JournalError::Closed`] after shutdown.
    pub async fn append(&self, payloads: Vec<Vec<u8>>) -> Result<Range<u64>, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Command::Append { payloads, reply })
            .await
            .map_err(|_| JournalError::Closed)?;
        answer.await.map_err(|_| JournalError::Closed)?
    }

    /// Returns the sequence number of the last synced record (0 if none).
    ///
    /// Every record up to it is durable; an append is answered at or after the moment this
    /// passes its last record.
    pub fn synced_seq(&self) -> u64 {
        self.shared.synced_seq.load(Ordering::Acquire)
    }

    /// Returns every segment with the length of its synced prefix, for backups.
    ///
    /// Copying exactly `synced_len` bytes of each listed segment gives a valid journal.
    pub fn synced_segments(&self) -> Vec<SegmentInfo> {
        self.shared.synced_segments()
    }

    /// Returns a reader over synced records with sequence numbers `from_seq` and above.
    ///
    /// It stops at the position synced when it was created; records appended later are not
    /// seen.
    pub fn read_from(&self, from_seq: u64) -> JournalReader<D> {
        JournalReader::new(Arc::clone(&self.disk), self.synced_segments(), from_seq)
    }

    /// Returns the writer's counters.
    pub fn stats(&self) -> JournalStats {
        self.shared.stats()
    }

    /// Answers every append queued before this call, syncs, and joins the writer thread.
    ///
    /// Appends queued after it fail with [`JournalError::Closed`]. Calling it again, from any
    /// clone, returns `Ok`.
    ///
    /// # Errors
    /// [`JournalError::Poisoned`] if an earlier failure poisoned the writer;
    /// [`JournalError::SyncFailed`] if the final sync failed; [`JournalError::WriterPanicked`].
    pub async fn shutdown(&self) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        let result = match self.requests.send(Command::Shutdown { reply }).await {
            Ok(()) => answer.await.unwrap_or(Ok(())),
            // The thread is gone: an earlier shutdown, or a panic that the join reports.
            Err(_) => Ok(()),
        };
        let thread = self.lock_thread().take();
        // The thread has answered the shutdown (or is gone) and only returns now, so joining
        // blocks for moments at most; no runtime is needed for it.
        if let Some(thread) = thread {
            if thread.join().is_err() {
                return Err(JournalError::WriterPanicked);
            }
        }
        result
    }

    fn lock_thread(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        // The lock only guards taking the handle; a panic cannot leave it half-changed.
        self.thread.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shared {
    fn view(&self) -> MutexGuard<'_, SyncedView> {
        // Every critical section leaves the view consistent before it can panic.
        self.synced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> JournalStats {
        JournalStats {
            appends: self.appends.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            synced_seq: self.synced_seq.load(Ordering::Acquire),
        }
    }

    pub(crate) fn synced_segments(&self) -> Vec<SegmentInfo> {
        self.view().segments.clone()
    }
}

impl<D: Disk> Appender<D> {
    /// Takes over a recovered journal: syncs its last segment, or creates the first one.
    pub(crate) fn start(journal: Journal<D>) -> Result<Self, JournalError> {
        let Journal {
            disk,
            dir,
            config,
            mut segments,
            recovery,
        } = journal;
        let next_seq = recovery.last_seq + 1;
        let (file, written_len, segment_path) = match segments.last() {
            Some(last) => {
                let mut file = disk
                    .open_append(&last.path)
                    .map_err(|err| JournalError::io("open for appending", &last.path, err))?;
                // Records recovered after a crash may have been in the page cache only, and so
                // may the segment's directory entry, if the last run failed to sync the
                // directory after creating it (found by the simulation, seed 1051).
                disk.sync_data(&mut file)
                    .map_err(|err| JournalError::sync(&last.path, err))?;
                disk.sync_dir(&dir)
                    .map_err(|err| JournalError::sync(&dir, err))?;
                (file, last.synced_len, last.path.clone())
            }
            None => {
                let path = segment_path(&dir, next_seq);
                let file = create_segment(disk.as_ref(), &dir, &path)?;
                segments.push(SegmentInfo {
                    path: path.clone(),
                    first_seq: next_seq,
                    synced_len: 0,
                });
                (file, 0, path)
            }
        };
        let shared = Arc::new(Shared::default());
        shared
            .synced_seq
            .store(recovery.last_seq, Ordering::Release);
        shared.view().segments = segments;
        tracing::info!(dir = %dir.display(), next_seq, "journal writer started");
        Ok(Appender {
            disk,
            dir,
            segment_bytes: config.segment_bytes,
            file,
            segment_path,
            written_len,
            synced_len: written_len,
            next_seq,
            buffer: Vec::new(),
            poison: None,
            shared,
        })
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Appends a batch of requests with one sync, and answers each request.
    ///
    /// A request with an oversized payload fails alone. Any I/O failure fails every request of
    /// the batch and poisons the appender.
    pub(crate) fn commit(
        &mut self,
        requests: &[Vec<Vec<u8>>],
    ) -> Vec<Result<Range<u64>, JournalError>> {
        if let Some(cause) = &self.poison {
            let poisoned = JournalError::Poisoned {
                source: Arc::clone(cause),
            };
            return requests.iter().map(|_| Err(poisoned.clone())).collect();
        }
        let mut results: Vec<Result<Range<u64>, JournalError>> = requests
            .iter()
            .map(|payloads| check_payloads(payloads).map(|()| 0..0))
            .collect();
        let started = Instant::now();
        let written = self.write_batch(requests, &mut results);
        metrics::histogram!(names::JOURNAL_COMMIT_SECONDS).record(started.elapsed());
        match written {
            Ok(n_bytes) => {
                let n_written: u64 = results
                    .iter()
                    .filter_map(|result| result.as_ref().ok())
                    .map(|range| range.end - range.start)
                    .sum();
                let n_ok = results.iter().filter(|result| result.is_ok()).count() as u64;
                metrics::histogram!(names::JOURNAL_COMMIT_RECORDS).record(n_written as f64);
                let shared = &self.shared;
                shared.appends.fetch_add(n_ok, Ordering::Relaxed);
                shared.records.fetch_add(n_written, Ordering::Relaxed);
                shared.bytes.fetch_add(n_bytes, Ordering::Relaxed);
                shared.batches.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    appends = n_ok,
                    records = n_written,
                    bytes = n_bytes,
                    synced_seq = self.next_seq - 1,
                    "journal batch committed"
                );
                results
            }
            Err(err) => {
                tracing::error!(
                    error = %err,
                    dir = %self.dir.display(),
                    "journal write failed; the journal is poisoned and the service must restart"
                );
                self.poison_with(&err);
                results
                    .into_iter()
                    .map(|result| result.and(Err(err.clone())))
                    .collect()
            }
        }
    }

    /// Syncs anything written but not synced; used at shutdown.
    pub(crate) fn close(&mut self) -> Result<(), JournalError> {
        if let Some(cause) = &self.poison {
            return Err(JournalError::Poisoned {
                source: Arc::clone(cause),
            });
        }
        if self.written_len > self.synced_len {
            if let Err(err) = self.sync() {
                self.poison_with(&err);
                return Err(err);
            }
        }
        tracing::info!(
            dir = %self.dir.display(),
            synced_seq = self.next_seq - 1,
            "journal writer closed"
        );
        Ok(())
    }

    /// Stops all further writes and cuts the current segment back to its synced length.
    ///
    /// After a failed sync the kernel may have dropped the unsynced pages while reads still
    /// show them from the page cache; a restart without a reboot would then recover records
    /// that are not on disk, sync them "successfully" and build on them. Truncating removes
    /// those pages from the cache. The records cut were never acknowledged.
    fn poison_with(&mut self, err: &JournalError) {
        self.poison = Some(Arc::new(err.clone()));
        self.buffer.clear();
        if let Err(truncate_err) = self.disk.truncate(&self.segment_path, self.synced_len) {
            tracing::error!(
                segment = %self.segment_path.display(),
                synced_len = self.synced_len,
                error = %truncate_err,
                "could not cut unsynced journal records after a failure; reboot the machine \
                 before restarting the service, so that recovery reads the disk, not the page cache"
            );
        }
    }

    /// Writes the valid requests, fills in their ranges, syncs; returns the bytes written.
    fn write_batch(
        &mut self,
        requests: &[Vec<Vec<u8>>],
        results: &mut [Result<Range<u64>, JournalError>],
    ) -> Result<u64, JournalError> {
        let mut n_bytes = 0;
        for (payloads, result) in requests.iter().zip(results.iter_mut()) {
            let Ok(range) = result else {
                continue;
            };
            range.start = self.next_seq;
            for payload in payloads {
                let len = record_len(payload.len());
                let segment_len = self.written_len + self.buffer.len() as u64;
                if segment_len > 0 && segment_len + len > self.segment_bytes {
                    self.rotate()?;
                }
                encode_record(self.next_seq, payload, &mut self.buffer);
                self.next_seq += 1;
                n_bytes += len;
                if self.buffer.len() >= FLUSH_BUFFER_BYTES {
                    self.flush()?;
                }
            }
            range.end = self.next_seq;
        }
        self.flush()?;
        if self.written_len > self.synced_len {
            self.sync()?;
        }
        Ok(n_bytes)
    }

    /// Hands the encode buffer to the disk.
    fn flush(&mut self) -> Result<(), JournalError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        // Count the bytes as written before the call: on failure an unknown prefix may be.
        self.written_len += self.buffer.len() as u64;
        let written = self.disk.write_all(&mut self.file, &self.buffer);
        self.buffer.clear();
        written.map_err(|err| JournalError::io("write", &self.segment_path, err))
    }

    /// Makes the current segment durable and publishes the new synced position.
    fn sync(&mut self) -> Result<(), JournalError> {
        let started = Instant::now();
        self.disk
            .sync_data(&mut self.file)
            .map_err(|err| JournalError::sync(&self.segment_path, err))?;
        metrics::histogram!(names::JOURNAL_SYNC_SECONDS).record(started.elapsed());
        self.synced_len = self.written_len;
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        let mut view = self.shared.view();
        if let Some(last) = view.segments.last_mut() {
            last.synced_len = self.synced_len;
        }
        // Published under the lock, so a reader's segment list covers every synced record.
        self.shared
            .synced_seq
            .store(self.next_seq - 1, Ordering::Release);
        Ok(())
    }

    /// Completes the current segment and starts the next at `next_seq`.
    fn rotate(&mut self) -> Result<(), JournalError> {
        self.flush()?;
        // The old segment must be durable before the new one exists: recovery treats damage in
        // any segment but the last as corruption.
        if self.written_len > self.synced_len {
            self.sync()?;
        }
        let path = segment_path(&self.dir, self.next_seq);
        self.file = create_segment(self.disk.as_ref(), &self.dir, &path)?;
        tracing::debug!(segment = %path.display(), "journal segment started");
        self.shared.view().segments.push(SegmentInfo {
            path: path.clone(),
            first_seq: self.next_seq,
            synced_len: 0,
        });
        self.segment_path = path;
        self.written_len = 0;
        self.synced_len = 0;
        Ok(())
    }
}

/// The writer thread: drain, commit with one sync, answer; until shutdown or every handle is
/// dropped.
fn run_writer<D: Disk>(
    mut appender: Appender<D>,
    mut receiver: mpsc::Receiver<Command>,
    max_batch: usize,
) {
    let mut replies = Vec::new();
    let mut requests = Vec::new();
    loop {
        let mut shutdown = None;
        let Some(first) = receiver.blocking_recv() else {
            // Every handle is gone; nothing can wait for an answer.
            let _ = appender.close();
            return;
        };
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append { payloads, reply } => {
                    requests.push(payloads);
                    replies.push(reply);
                }
                Command::Shutdown { reply } => {
                    shutdown = Some(reply);
                    break;
                }
            }
            if requests.len() < max_batch {
                next = receiver.try_recv().ok();
            }
        }
        if !requests.is_empty() {
            let results = appender.commit(&requests);
            for (reply, result) in replies.drain(..).zip(results) {
                // A caller that stopped waiting needs no answer; its records are written anyway.
                let _ = reply.send(result);
            }
            requests.clear();
        }
        if let Some(reply) = shutdown {
            let _ = reply.send(appender.close());
            return;
        }
    }
}

/// Refuses a request whose payloads break the size limit.
fn check_payloads(payloads: &[Vec<u8>]) -> Result<(), JournalError> {
    for (index, payload) in payloads.iter().enumerate() {
        if payload.len() > MAX_PAYLOAD_BYTES as usize {
            return Err(JournalError::PayloadTooLarge {
                index,
                len: payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
    }
    Ok(())
}

/// Creates a segment file and makes its directory entry durable.
fn create_segment<D: Disk>(
    disk: &D,
    dir: &std::path::Path,
    path: &std::path::Path,
) -> Result<D::AppendFile, JournalError> {
    let file = disk
        .create(path)
        .map_err(|err| JournalError::io("create segment", path, err))?;
    disk.sync_dir(dir)
        .map_err(|err| JournalError::sync(dir, err))?;
    Ok(file)
}
