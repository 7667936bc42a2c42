//! The derived state in sled: files' events, the dedupe index, file summaries, the index of
//! next alert instants, catalog changes and the applied journal position.
//!
//! Everything here can be rebuilt from the journal. A [`StateBatch`] is applied atomically
//! (one sled batch on one tree) and carries the journal position it brings the state to, so
//! after a crash the state is exactly "the journal up to `applied_seq`" and replay resumes
//! from there. This module speaks domain types and opaque record bytes; no sled type leaves
//! it.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use dunghan_domain::clock::{FileVerdict, FinishKind, Judgement, RuleSet, Standing, Verdict};
use dunghan_domain::event::{Channel, Holder};
use dunghan_domain::stats::{self, CounterKey, Counts};
use dunghan_domain::{CalendarId, EventId, FieldCode, FileId, OfficerId, ProcedureCode, UnitId};
use prost::Message;
use thiserror::Error;

use super::alerts::{self, EmittedAlert};
use super::keys::{self, Kind};
use crate::proto::storage::v1 as pb;

/// Name of the applied-position metadata key.
const APPLIED_SEQ: &str = "applied_seq";

/// A storage failure. Expected outcomes (a duplicate event) are not errors.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The storage engine failed (I/O, or corruption it detected itself).
    #[error("storage engine failed to {op}: {message}")]
    Engine {
        /// What was being done.
        op: &'static str,
        /// The engine's message.
        message: String,
    },
    /// A stored record cannot be decoded.
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt {
        /// The key, escaped.
        key: String,
        /// Why.
        reason: String,
    },
    /// An instant before 1970 cannot be stored as non-negative milliseconds.
    #[error("instant {0} is before 1970 and cannot be stored")]
    InstantOutOfRange(DateTime<Utc>),
}

/// The dedupe entry of an event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupeEntry {
    /// The file the event belongs to.
    pub file_id: FileId,
    /// The content hash of the stored event.
    pub content_hash: [u8; 32],
}

/// Where a file stands in its life, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Pre-registered online.
    Submitted,
    /// Being processed.
    InProgress,
    /// Waiting for the applicant's documents.
    WaitingSupplement,
    /// Waiting for the applicant to pay.
    WaitingFinancialObligation,
    /// Stopped by another wait (consultation, expert council, site visit).
    Paused,
    /// Result ready.
    Resolved,
    /// Result handed over.
    Returned,
    /// Refused after appraisal.
    Rejected,
    /// Processing stopped.
    Stopped,
    /// Withdrawn by the applicant.
    Withdrawn,
    /// Refused at the desk.
    NotAccepted,
}

/// A file's summary: what listings, indexes and the alert timer need without re-folding.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSummary {
    /// The file.
    pub file_id: FileId,
    /// Whether it counts.
    pub standing: SummaryStanding,
    /// Where it stands.
    pub status: Option<FileStatus>,
    /// Procedure.
    pub procedure: Option<ProcedureCode>,
    /// Field of the procedure.
    pub field: Option<FieldCode>,
    /// Channel.
    pub channel: Option<Channel>,
    /// The receiving holder.
    pub receiving: Option<Holder>,
    /// The current holder of an open file.
    pub holder: Option<Holder>,
    /// When received.
    pub received_at: Option<DateTime<Utc>>,
    /// When the clock started.
    pub clock_started_at: Option<DateTime<Utc>>,
    /// The computed due time (none while the clock is stopped).
    pub due: Option<DateTime<Utc>>,
    /// The source's appointment.
    pub appointment: Option<DateTime<Utc>>,
    /// The extended due time.
    pub extended_due: Option<DateTime<Utc>>,
    /// When the clock ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The verdict of a finished file (open files are judged at query time).
    pub finished_verdict: Option<Verdict>,
    /// Calendar and version used.
    pub calendar: Option<(CalendarId, u32)>,
    /// Rule set.
    pub rule_set: Option<RuleSet>,
    /// Counts.
    pub supplement_requests: u32,
    /// Number of extensions.
    pub extensions: u32,
    /// Number of handovers.
    pub handovers: u32,
    /// Number of events.
    pub events: u32,
    /// Newest event time.
    pub newest_event_at: Option<DateTime<Utc>>,
    /// The next instant an alert condition starts to hold.
    pub next_alert_at: Option<DateTime<Utc>>,
    /// The journal position of the last event applied to the file.
    pub journal_position: u64,
    /// What the file contributes to the counters (encoded counter key, counts).
    pub contributions: Vec<(Vec<u8>, Counts)>,
    /// Alert conditions emitted for the file and not retracted.
    pub emitted_alerts: Vec<EmittedAlert>,
}

/// Whether a file counts, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryStanding {
    /// Not received yet.
    NotReceived,
    /// Refused at the desk.
    NotAccepted,
    /// Not judged yet, with the reasons in words.
    Unjudged(String),
    /// Judged.
    Judged,
}

impl FileSummary {
    /// The summary of a judgement.
    pub fn of(
        judgement: &Judgement,
        next_alert_at: Option<DateTime<Utc>>,
        journal_position: u64,
        newest_event_at: Option<DateTime<Utc>>,
    ) -> FileSummary {
        let standing = match &judgement.standing {
            Standing::NotReceived => SummaryStanding::NotReceived,
            Standing::NotAccepted { .. } => SummaryStanding::NotAccepted,
            Standing::Unjudged { reasons } => SummaryStanding::Unjudged(
                reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Standing::Judged => SummaryStanding::Judged,
        };
        let finished_verdict = match (&judgement.finish, judgement.finish.as_ref().map(|f| f.at)) {
            (Some(_), Some(at)) => match judgement.verdict_at(at) {
                FileVerdict::Judged(verdict) => Some(verdict),
                FileVerdict::NotCounted | FileVerdict::Unjudged => None,
            },
            _ => None,
        };
        FileSummary {
            file_id: judgement.file_id.clone(),
            standing,
            status: status_of(judgement),
            procedure: judgement.procedure_code.clone(),
            field: judgement.field.clone(),
            channel: judgement.channel,
            receiving: judgement.receiving.clone(),
            holder: judgement.current_holder().cloned(),
            received_at: judgement.received_at,
            clock_started_at: judgement.explanation.clock_started_at,
            due: judgement.due(),
            appointment: judgement.explanation.appointment,
            extended_due: judgement.extended_due(),
            finished_at: judgement.finish.as_ref().map(|f| f.at),
            finished_verdict,
            calendar: judgement.explanation.calendar.clone(),
            rule_set: judgement.explanation.rule_set,
            supplement_requests: count(judgement.supplement_requests.len()),
            extensions: count(judgement.extensions.len()),
            handovers: count(judgement.segments.len().saturating_sub(1)),
            events: count(judgement.n_events),
            newest_event_at,
            next_alert_at,
            journal_position,
            contributions: stats::contribution(judgement)
                .iter()
                .map(|(key, counts)| (keys::counter(key), *counts))
                .collect(),
            emitted_alerts: Vec::new(),
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn status_of(judgement: &Judgement) -> Option<FileStatus> {
    if let Standing::NotAccepted { .. } = judgement.standing {
        return Some(FileStatus::NotAccepted);
    }
    if let Some(finish) = &judgement.finish {
        return Some(match finish.kind {
            FinishKind::Resolved if judgement.returned_at.is_some() => FileStatus::Returned,
            FinishKind::Resolved => FileStatus::Resolved,
            FinishKind::Rejected => FileStatus::Rejected,
            FinishKind::Stopped => FileStatus::Stopped,
            FinishKind::Withdrawn => FileStatus::Withdrawn,
        });
    }
    if judgement.received_at.is_none() {
        return judgement.submitted_at.map(|_| FileStatus::Submitted);
    }
    let open_wait = judgement.waits.iter().rev().find(|w| w.end.is_none());
    Some(match open_wait.map(|w| w.kind) {
        Some(dunghan_domain::catalog::WaitKind::Supplement) => FileStatus::WaitingSupplement,
        Some(dunghan_domain::catalog::WaitKind::FinancialObligation) => {
            FileStatus::WaitingFinancialObligation
        }
        Some(_) => FileStatus::Paused,
        None => FileStatus::InProgress,
    })
}

/// The sled-backed derived state.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
}

/// Changes applied atomically by [`Store::commit`].
#[derive(Debug, Default)]
pub struct StateBatch {
    batch: sled::Batch,
    n_ops: usize,
}

/// sled's page cache. Its default (1 GiB) would dominate the resident memory of a service
/// whose queries read the in-memory index; the engine's reads are of recent files' events,
/// which this holds.
const STATE_CACHE_BYTES: u64 = 256 << 20;

impl Store {
    /// Opens (or creates) the state under `dir`.
    ///
    /// # Errors
    /// [`StoreError::Engine`] if sled cannot open it.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        // sled releases its file lock from a background thread after the last handle of a
        // previous instance in this process is dropped; wait for it briefly rather than
        // fail a restart. A killed process's lock is released by the OS at once.
        let mut attempts = 0;
        let db = loop {
            match sled::Config::new()
                .path(dir)
                .cache_capacity(STATE_CACHE_BYTES)
                .open()
            {
                Ok(db) => break db,
                Err(sled::Error::Io(err)) if is_lock_held(&err) && attempts < 500 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(err) => return Err(engine("open the state")(err)),
            }
        };
        let tree = db
            .open_tree(keys::STATE_TREE)
            .map_err(engine("open the state tree"))?;
        Ok(Store { db, tree })
    }

    /// The last journal sequence applied (0: none).
    ///
    /// # Errors
    /// [`StoreError`] on engine failure or a corrupt record.
    pub fn applied_seq(&self) -> Result<u64, StoreError> {
        let key = keys::meta(APPLIED_SEQ);
        match self
            .tree
            .get(&key)
            .map_err(engine("read the applied position"))?
        {
            None => Ok(0),
            Some(value) => {
                let bytes: [u8; 8] = value
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt(&key, "not 8 bytes"))?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }

    /// The stored event records of `file`, in event-id order (undecoded).
    ///
    /// # Errors
    /// [`StoreError::Engine`].
    pub fn event_records(&self, file: &FileId) -> Result<Vec<Vec<u8>>, StoreError> {
        self.tree
            .scan_prefix(keys::events_of(file.as_str()))
            .values()
            .map(|value| value.map(|v| v.to_vec()).map_err(engine("read events")))
            .collect()
    }

    /// The dedupe entry of an event id.
    ///
    /// # Errors
    /// [`StoreError`] on engine failure or a corrupt entry.
    pub fn dedupe(&self, event: &EventId) -> Result<Option<DedupeEntry>, StoreError> {
        let key = keys::dedupe(event.as_str());
        let Some(value) = self
            .tree
            .get(&key)
            .map_err(engine("read the dedupe index"))?
        else {
            return Ok(None);
        };
        let (hash, file) = value
            .split_at_checked(32)
            .ok_or_else(|| corrupt(&key, "shorter than a hash"))?;
        let content_hash: [u8; 32] = hash.try_into().map_err(|_| corrupt(&key, "bad hash"))?;
        let file = std::str::from_utf8(file).map_err(|_| corrupt(&key, "file id not utf-8"))?;
        let file_id = FileId::new(file).map_err(|err| corrupt(&key, &err.to_string()))?;
        Ok(Some(DedupeEntry {
            file_id,
            content_hash,
        }))
    }

    /// The summary of `file`.
    ///
    /// # Errors
    /// [`StoreError`] on engine failure or a corrupt summary.
    pub fn file(&self, file: &FileId) -> Result<Option<FileSummary>, StoreError> {
        let key = keys::file(file.as_str());
        match self.tree.get(&key).map_err(engine("read a file"))? {
            None => Ok(None),
            Some(value) => decode_summary(&key, &value).map(Some),
        }
    }

    /// Every file summary, in file-id order.
    pub fn files(&self) -> impl Iterator<Item = Result<FileSummary, StoreError>> + '_ {
        self.tree.scan_prefix(keys::prefix(Kind::File)).map(|item| {
            let (key, value) = item.map_err(engine("scan files"))?;
            decode_summary(&key, &value)
        })
    }

    /// Files whose next alert instant is at or before `until`, earliest first.
    ///
    /// # Errors
    /// [`StoreError`] on engine failure or a corrupt key.
    pub fn deadlines_until(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, FileId)>, StoreError> {
        let end = keys::deadline(to_ms(until)?.saturating_add(1), "");
        let start = keys::deadline(0, "");
        let mut found = Vec::new();
        for item in self.tree.range(start..end) {
            let (key, _) = item.map_err(engine("scan deadlines"))?;
            found.push(parse_deadline_key(&key)?);
        }
        Ok(found)
    }

    /// The earliest next alert instant of any file.
    ///
    /// # Errors
    /// [`StoreError`] on engine failure or a corrupt key.
    pub fn next_deadline(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let first = self
            .tree
            .scan_prefix(keys::prefix(Kind::Deadline))
            .keys()
            .next()
            .transpose()
            .map_err(engine("scan deadlines"))?;
        first
            .map(|key| parse_deadline_key(&key).map(|(at, _)| at))
            .transpose()
    }

    /// Files the catalog could not judge when they were last folded.
    ///
    /// # Errors
    /// [`StoreError`] on engine failure or a corrupt key.
    pub fn unjudged_files(&self) -> Result<Vec<FileId>, StoreError> {
        self.tree
            .scan_prefix(keys::prefix(Kind::Unjudged))
            .keys()
            .map(|key| {
                let key = key.map_err(engine("scan unjudged files"))?;
                let id = keys::id_after_kind(&key).ok_or_else(|| corrupt(&key, "bad id"))?;
                FileId::new(id).map_err(|err| corrupt(&key, &err.to_string()))
            })
            .collect()
    }

    /// Every catalog change record, in revision order (undecoded).
    ///
    /// # Errors
    /// [`StoreError::Engine`].
    pub fn catalog_records(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.tree
            .scan_prefix(keys::prefix(Kind::Catalog))
            .values()
            .map(|value| {
                value
                    .map(|v| v.to_vec())
                    .map_err(engine("read the catalog"))
            })
            .collect()
    }

    /// The counts stored under an encoded counter key (zero if none).
    ///
    /// # Errors
    /// [`StoreError::Engine`].
    pub fn counter(&self, key: &[u8]) -> Result<Counts, StoreError> {
        let value = self.tree.get(key).map_err(engine("read a counter"))?;
        Ok(value.map_or_else(Counts::default, |v| decode_counts(&v)))
    }

    /// Every counter of the local days `from..=to`, in key order.
    ///
    /// # Errors
    /// [`StoreError`] on engine failure or a corrupt key.
    pub fn counters_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(CounterKey, Counts)>, StoreError> {
        let start = keys::counter_day(from);
        let end = keys::counter_day(to + chrono::Days::new(1));
        self.tree
            .range(start..end)
            .map(|item| {
                let (key, value) = item.map_err(engine("scan counters"))?;
                let parsed =
                    keys::parse_counter(&key).ok_or_else(|| corrupt(&key, "bad counter key"))?;
                Ok((parsed, decode_counts(&value)))
            })
            .collect()
    }

    /// The records with keys in `start..end`.
    pub(crate) fn range(
        &self,
        start: Vec<u8>,
        end: [u8; 1],
    ) -> impl DoubleEndedIterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + '_ {
        self.tree.range(start..end.to_vec()).map(|item| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(engine("scan a range"))
        })
    }

    /// Number of files stored.
    pub fn n_files(&self) -> usize {
        self.tree.scan_prefix(keys::prefix(Kind::File)).count()
    }

    /// Applies `batch` atomically.
    ///
    /// # Errors
    /// [`StoreError::Engine`].
    pub fn commit(&self, batch: StateBatch) -> Result<(), StoreError> {
        if batch.n_ops == 0 {
            return Ok(());
        }
        self.tree
            .apply_batch(batch.batch)
            .map_err(engine("apply a batch"))
    }

    /// Flushes sled's buffers (not a durability promise: the journal is the truth).
    ///
    /// # Errors
    /// [`StoreError::Engine`].
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(engine("flush"))
    }
}

impl StateBatch {
    /// An empty batch.
    pub fn new() -> StateBatch {
        StateBatch::default()
    }

    /// Whether the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.n_ops == 0
    }

    /// Stores an event record of a file.
    pub fn put_event(&mut self, file: &FileId, event: &EventId, record: Vec<u8>) {
        self.insert(keys::event(file.as_str(), event.as_str()), record);
    }

    /// Records an event id's content hash and file.
    pub fn put_dedupe(&mut self, event: &EventId, file: &FileId, content_hash: [u8; 32]) {
        let mut value = content_hash.to_vec();
        value.extend_from_slice(file.as_str().as_bytes());
        self.insert(keys::dedupe(event.as_str()), value);
    }

    /// Stores a file summary, moving its deadline-index entry and unjudged mark from
    /// `previous`.
    ///
    /// # Errors
    /// [`StoreError::InstantOutOfRange`] for a next alert instant before 1970.
    pub fn put_file(
        &mut self,
        summary: &FileSummary,
        previous: Option<&FileSummary>,
    ) -> Result<(), StoreError> {
        let file = summary.file_id.as_str();
        if let Some(at) = previous.and_then(|p| p.next_alert_at) {
            if previous.and_then(|p| p.next_alert_at) != summary.next_alert_at {
                self.remove(keys::deadline(to_ms(at)?, file));
            }
        }
        if let Some(at) = summary.next_alert_at {
            self.insert(keys::deadline(to_ms(at)?, file), Vec::new());
        }
        match summary.standing {
            SummaryStanding::Unjudged(_) => self.insert(keys::unjudged(file), Vec::new()),
            _ => {
                if matches!(
                    previous.map(|p| &p.standing),
                    Some(SummaryStanding::Unjudged(_))
                ) {
                    self.remove(keys::unjudged(file));
                }
            }
        }
        self.insert(keys::file(file), encode_summary(summary).encode_to_vec());
        Ok(())
    }

    /// Stores the counts of an encoded counter key (removing it when zero).
    pub fn put_counter(&mut self, key: Vec<u8>, counts: Counts) {
        if counts.is_zero() {
            self.remove(key);
        } else {
            self.insert(key, encode_counts(counts));
        }
    }

    /// Stores a catalog change record under its revision.
    pub fn put_catalog(&mut self, revision: u64, record: Vec<u8>) {
        self.insert(keys::catalog(revision), record);
    }

    /// Sets the journal position the batch brings the state to.
    pub fn set_applied_seq(&mut self, seq: u64) {
        self.insert(keys::meta(APPLIED_SEQ), seq.to_be_bytes().to_vec());
    }

    /// Inserts a record whose key and value another store module encoded.
    pub(crate) fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.insert(key, value);
    }

    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.batch.insert(key, value);
        self.n_ops += 1;
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.batch.remove(key);
        self.n_ops += 1;
    }
}

/// Whether sled failed to open because another instance still holds its file lock (sled
/// wraps the `WouldBlock` from the lock call in an error of its own).
fn is_lock_held(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::WouldBlock
        || err.to_string().contains("could not acquire lock")
}

fn encode_counts(counts: Counts) -> Vec<u8> {
    counts
        .to_array()
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

fn decode_counts(bytes: &[u8]) -> Counts {
    let values: Vec<i64> = bytes
        .chunks_exact(8)
        .filter_map(|chunk| chunk.try_into().ok().map(i64::from_be_bytes))
        .collect();
    Counts::from_slice(&values)
}

fn engine(op: &'static str) -> impl Fn(sled::Error) -> StoreError {
    move |err| StoreError::Engine {
        op,
        message: err.to_string(),
    }
}

fn corrupt(key: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupt {
        key: key.escape_ascii().to_string(),
        reason: reason.to_owned(),
    }
}

fn to_ms(instant: DateTime<Utc>) -> Result<u64, StoreError> {
    keys::to_ms(instant).ok_or(StoreError::InstantOutOfRange(instant))
}

fn parse_deadline_key(key: &[u8]) -> Result<(DateTime<Utc>, FileId), StoreError> {
    let (ms, file) = keys::parse_deadline(key).ok_or_else(|| corrupt(key, "bad deadline key"))?;
    let at = keys::from_ms(ms).ok_or_else(|| corrupt(key, "instant out of range"))?;
    let file = FileId::new(file).map_err(|err| corrupt(key, &err.to_string()))?;
    Ok((at, file))
}

fn ts(instant: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    instant.map(|t| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

fn from_ts(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

fn holder_pb(holder: Option<&Holder>) -> Option<pb::Holder> {
    holder.map(|h| pb::Holder {
        officer_id: h
            .officer
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        unit_id: h.unit.to_string(),
        step_code: String::new(),
        since: None,
    })
}

fn holder_of(holder: Option<&pb::Holder>) -> Option<Holder> {
    let holder = holder?;
    Some(Holder {
        officer: (!holder.officer_id.is_empty())
            .then(|| OfficerId::new(holder.officer_id.clone()).ok())
            .flatten(),
        unit: UnitId::new(holder.unit_id.clone()).ok()?,
    })
}

fn encode_summary(summary: &FileSummary) -> pb::StoredFile {
    let (standing, unjudged_reason) = match &summary.standing {
        SummaryStanding::NotReceived => (pb::StoredStanding::NotReceived, None),
        SummaryStanding::NotAccepted => (pb::StoredStanding::NotAccepted, None),
        SummaryStanding::Unjudged(detail) => (
            pb::StoredStanding::Unjudged,
            Some(pb::UnjudgedReason {
                cause: pb::UnjudgedCause::Unspecified as i32,
                missing_id: String::new(),
                detail: detail.clone(),
            }),
        ),
        SummaryStanding::Judged => (pb::StoredStanding::Judged, None),
    };
    pb::StoredFile {
        file_id: summary.file_id.to_string(),
        procedure_code: summary
            .procedure
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        field_code: summary
            .field
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        channel: match summary.channel {
            None => pb::Channel::Unspecified,
            Some(Channel::InPerson) => pb::Channel::InPerson,
            Some(Channel::Online) => pb::Channel::Online,
            Some(Channel::Postal) => pb::Channel::Postal,
        } as i32,
        receiving_unit_id: summary
            .receiving
            .as_ref()
            .map(|h| h.unit.to_string())
            .unwrap_or_default(),
        receiving_officer_id: summary
            .receiving
            .as_ref()
            .and_then(|h| h.officer.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default(),
        holder: holder_pb(summary.holder.as_ref()),
        status: match summary.status {
            None => pb::StoredFileStatus::Unspecified,
            Some(FileStatus::Submitted) => pb::StoredFileStatus::Submitted,
            Some(FileStatus::InProgress) => pb::StoredFileStatus::InProgress,
            Some(FileStatus::WaitingSupplement) => pb::StoredFileStatus::WaitingSupplement,
            Some(FileStatus::WaitingFinancialObligation) => {
                pb::StoredFileStatus::WaitingFinancialObligation
            }
            Some(FileStatus::Paused) => pb::StoredFileStatus::Paused,
            Some(FileStatus::Resolved) => pb::StoredFileStatus::Resolved,
            Some(FileStatus::Returned) => pb::StoredFileStatus::Returned,
            Some(FileStatus::Rejected) => pb::StoredFileStatus::Rejected,
            Some(FileStatus::Stopped) => pb::StoredFileStatus::Stopped,
            Some(FileStatus::Withdrawn) => pb::StoredFileStatus::Withdrawn,
            Some(FileStatus::NotAccepted) => pb::StoredFileStatus::NotAccepted,
        } as i32,
        received_at: ts(summary.received_at),
        clock_started_at: ts(summary.clock_started_at),
        due_at: ts(summary.due),
        appointment_at: ts(summary.appointment),
        extended_due_at: ts(summary.extended_due),
        finished_at: ts(summary.finished_at),
        verdict: match summary.finished_verdict {
            None => pb::Verdict::Unspecified,
            Some(Verdict::Early) => pb::Verdict::Early,
            Some(Verdict::OnTime) => pb::Verdict::OnTime,
            Some(Verdict::Late) => pb::Verdict::Late,
            Some(Verdict::WithinTime) => pb::Verdict::WithinTime,
            Some(Verdict::Overdue) => pb::Verdict::Overdue,
        } as i32,
        unjudged_reason,
        judged_at: None,
        calendar_id: summary
            .calendar
            .as_ref()
            .map(|(id, _)| id.to_string())
            .unwrap_or_default(),
        calendar_revision: summary.calendar.as_ref().map_or(0, |(_, v)| u64::from(*v)),
        rule_set: match summary.rule_set {
            None => pb::RuleSet::Unspecified,
            Some(RuleSet::Decree61Of2018) => pb::RuleSet::Decree612018,
            Some(RuleSet::Decree118Of2025) => pb::RuleSet::Decree1182025,
        } as i32,
        supplement_requests: summary.supplement_requests,
        extensions: summary.extensions,
        handovers: summary.handovers,
        events: summary.events,
        lateness: None,
        newest_event_at: ts(summary.newest_event_at),
        journal_position: summary.journal_position,
        next_alert_at: ts(summary.next_alert_at),
        standing: standing as i32,
        contributions: summary
            .contributions
            .iter()
            .map(|(key, counts)| pb::CounterContribution {
                key: key.clone(),
                values: counts.to_array().to_vec(),
            })
            .collect(),
        emitted_alerts: summary
            .emitted_alerts
            .iter()
            .map(alerts::emitted_to_pb)
            .collect(),
    }
}

fn decode_summary(key: &[u8], value: &[u8]) -> Result<FileSummary, StoreError> {
    let stored = pb::StoredFile::decode(value).map_err(|err| corrupt(key, &err.to_string()))?;
    let bad = |field: &str| corrupt(key, &format!("bad {field}"));
    let id = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    let standing =
        match pb::StoredStanding::try_from(stored.standing).map_err(|_| bad("standing"))? {
            pb::StoredStanding::NotReceived => SummaryStanding::NotReceived,
            pb::StoredStanding::NotAccepted => SummaryStanding::NotAccepted,
            pb::StoredStanding::Unjudged => SummaryStanding::Unjudged(
                stored
                    .unjudged_reason
                    .as_ref()
                    .map(|r| r.detail.clone())
                    .unwrap_or_default(),
            ),
            pb::StoredStanding::Judged | pb::StoredStanding::Unspecified => SummaryStanding::Judged,
        };
    let status = match pb::StoredFileStatus::try_from(stored.status).map_err(|_| bad("status"))? {
        pb::StoredFileStatus::Unspecified => None,
        pb::StoredFileStatus::Submitted => Some(FileStatus::Submitted),
        pb::StoredFileStatus::InProgress => Some(FileStatus::InProgress),
        pb::StoredFileStatus::WaitingSupplement => Some(FileStatus::WaitingSupplement),
        pb::StoredFileStatus::WaitingFinancialObligation => {
            Some(FileStatus::WaitingFinancialObligation)
        }
        pb::StoredFileStatus::Paused => Some(FileStatus::Paused),
        pb::StoredFileStatus::Resolved => Some(FileStatus::Resolved),
        pb::StoredFileStatus::Returned => Some(FileStatus::Returned),
        pb::StoredFileStatus::Rejected => Some(FileStatus::Rejected),
        pb::StoredFileStatus::Stopped => Some(FileStatus::Stopped),
        pb::StoredFileStatus::Withdrawn => Some(FileStatus::Withdrawn),
        pb::StoredFileStatus::NotAccepted => Some(FileStatus::NotAccepted),
    };
    let channel = match pb::Channel::try_from(stored.channel).map_err(|_| bad("channel"))? {
        pb::Channel::Unspecified => None,
        pb::Channel::InPerson => Some(Channel::InPerson),
        pb::Channel::Online => Some(Channel::Online),
        pb::Channel::Postal => Some(Channel::Postal),
    };
    let finished_verdict =
        match pb::Verdict::try_from(stored.verdict).map_err(|_| bad("verdict"))? {
            pb::Verdict::Unspecified | pb::Verdict::NotCounted | pb::Verdict::Unjudged => None,
            pb::Verdict::Early => Some(Verdict::Early),
            pb::Verdict::OnTime => Some(Verdict::OnTime),
            pb::Verdict::Late => Some(Verdict::Late),
            pb::Verdict::WithinTime => Some(Verdict::WithinTime),
            pb::Verdict::Overdue => Some(Verdict::Overdue),
        };
    let rule_set = match pb::RuleSet::try_from(stored.rule_set).map_err(|_| bad("rule set"))? {
        pb::RuleSet::Unspecified => None,
        pb::RuleSet::Decree612018 => Some(RuleSet::Decree61Of2018),
        pb::RuleSet::Decree1182025 => Some(RuleSet::Decree118Of2025),
    };
    let receiving = id(&stored.receiving_unit_id).and_then(|unit| {
        Some(Holder {
            officer: id(&stored.receiving_officer_id).and_then(|o| OfficerId::new(o).ok()),
            unit: UnitId::new(unit).ok()?,
        })
    });
    Ok(FileSummary {
        file_id: FileId::new(stored.file_id.clone()).map_err(|_| bad("file id"))?,
        standing,
        status,
        procedure: id(&stored.procedure_code).and_then(|c| ProcedureCode::new(c).ok()),
        field: id(&stored.field_code).and_then(|c| FieldCode::new(c).ok()),
        channel,
        receiving,
        holder: holder_of(stored.holder.as_ref()),
        received_at: from_ts(stored.received_at.as_ref()),
        clock_started_at: from_ts(stored.clock_started_at.as_ref()),
        due: from_ts(stored.due_at.as_ref()),
        appointment: from_ts(stored.appointment_at.as_ref()),
        extended_due: from_ts(stored.extended_due_at.as_ref()),
        finished_at: from_ts(stored.finished_at.as_ref()),
        finished_verdict,
        calendar: id(&stored.calendar_id).and_then(|c| {
            Some((
                CalendarId::new(c).ok()?,
                u32::try_from(stored.calendar_revision).ok()?,
            ))
        }),
        rule_set,
        supplement_requests: stored.supplement_requests,
        extensions: stored.extensions,
        handovers: stored.handovers,
        events: stored.events,
        newest_event_at: from_ts(stored.newest_event_at.as_ref()),
        next_alert_at: from_ts(stored.next_alert_at.as_ref()),
        journal_position: stored.journal_position,
        contributions: stored
            .contributions
            .iter()
            .map(|c| (c.key.clone(), Counts::from_slice(&c.values)))
            .collect(),
        emitted_alerts: stored
            .emitted_alerts
            .iter()
            .filter_map(alerts::emitted_from_pb)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Event {
            file: u8,
            event: u8,
            byte: u8,
        },
        File {
            file: u8,
            next_at_min: Option<u16>,
            unjudged: bool,
        },
        Applied(u64),
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0_u8..4, 0_u8..6, any::<u8>()).prop_map(|(file, event, byte)| Op::Event {
                file,
                event,
                byte
            }),
            (0_u8..4, proptest::option::of(0_u16..500), any::<bool>()).prop_map(
                |(file, next_at_min, unjudged)| Op::File {
                    file,
                    next_at_min,
                    unjudged
                }
            ),
            (0_u64..1000).prop_map(Op::Applied),
            Just(Op::Reopen),
        ]
    }

    fn file_id(n: u8) -> FileId {
        // "f1" and "f10" share a prefix, which the key layout must keep apart.
        FileId::new(format!("f1{}", "0".repeat(usize::from(n)))).unwrap()
    }

    fn at_min(min: u16) -> DateTime<Utc> {
        DateTime::from_timestamp(1_735_689_600 + i64::from(min) * 60, 0).unwrap()
    }

    fn summary(file: &FileId, next_at: Option<DateTime<Utc>>, unjudged: bool) -> FileSummary {
        FileSummary {
            file_id: file.clone(),
            standing: if unjudged {
                SummaryStanding::Unjudged("procedure x is not in the catalog".to_owned())
            } else {
                SummaryStanding::Judged
            },
            status: Some(FileStatus::InProgress),
            procedure: Some(ProcedureCode::new("1.004227").unwrap()),
            field: None,
            channel: Some(Channel::Online),
            receiving: Some(Holder {
                officer: None,
                unit: UnitId::new("center").unwrap(),
            }),
            holder: None,
            received_at: Some(at_min(0)),
            clock_started_at: Some(at_min(0)),
            due: next_at,
            appointment: None,
            extended_due: None,
            finished_at: None,
            finished_verdict: None,
            calendar: Some((CalendarId::new("vn").unwrap(), 3)),
            rule_set: Some(RuleSet::Decree118Of2025),
            supplement_requests: 1,
            extensions: 0,
            handovers: 2,
            events: 4,
            newest_event_at: Some(at_min(9)),
            next_alert_at: next_at,
            journal_position: 17,
            contributions: vec![(
                b"k".to_vec(),
                Counts {
                    received: 1,
                    ..Counts::default()
                },
            )],
            emitted_alerts: vec![EmittedAlert {
                kind: dunghan_domain::alert::AlertKind::FileOverdue,
                step: None,
                key: String::new(),
                sequence: 9,
            }],
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn store_agrees_with_a_model_across_reopens(ops in proptest::collection::vec(op(), 1..40)) {
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::open(dir.path()).unwrap();
            let mut events: BTreeMap<(FileId, String), Vec<u8>> = BTreeMap::new();
            let mut files: BTreeMap<FileId, FileSummary> = BTreeMap::new();
            let mut applied = 0;
            for op in ops {
                let mut batch = StateBatch::new();
                match op {
                    Op::Event { file, event, byte } => {
                        let (file, event) = (file_id(file), EventId::new(format!("e{event}")).unwrap());
                        batch.put_event(&file, &event, vec![byte]);
                        batch.put_dedupe(&event, &file, [byte; 32]);
                        events.insert((file, event.to_string()), vec![byte]);
                    }
                    Op::File { file, next_at_min, unjudged } => {
                        let file = file_id(file);
                        let new = summary(&file, next_at_min.map(at_min), unjudged);
                        let previous = store.file(&file).unwrap();
                        prop_assert_eq!(previous.as_ref(), files.get(&file));
                        batch.put_file(&new, previous.as_ref()).unwrap();
                        files.insert(file, new);
                    }
                    Op::Applied(seq) => {
                        batch.set_applied_seq(seq);
                        applied = seq;
                    }
                    Op::Reopen => {
                        store.flush().unwrap();
                        drop(store);
                        store = Store::open(dir.path()).unwrap();
                    }
                }
                store.commit(batch).unwrap();
            }
            prop_assert_eq!(store.applied_seq().unwrap(), applied);
            for n in 0..4 {
                let file = file_id(n);
                let expected: Vec<Vec<u8>> = events
                    .iter()
                    .filter(|((f, _), _)| f == &file)
                    .map(|(_, v)| v.clone())
                    .collect();
                prop_assert_eq!(store.event_records(&file).unwrap(), expected);
                let stored = store.file(&file).unwrap();
                prop_assert_eq!(stored.as_ref(), files.get(&file));
            }
            let mut expected_deadlines: Vec<(DateTime<Utc>, FileId)> = files
                .values()
                .filter_map(|s| s.next_alert_at.map(|at| (at, s.file_id.clone())))
                .filter(|(at, _)| *at <= at_min(250))
                .collect();
            expected_deadlines.sort();
            prop_assert_eq!(store.deadlines_until(at_min(250)).unwrap(), expected_deadlines);
            let unjudged: BTreeSet<FileId> = files
                .values()
                .filter(|s| matches!(s.standing, SummaryStanding::Unjudged(_)))
                .map(|s| s.file_id.clone())
                .collect();
            prop_assert_eq!(store.unjudged_files().unwrap().into_iter().collect::<BTreeSet<_>>(), unjudged);
            prop_assert_eq!(store.n_files(), files.len());
        }
    }
}
