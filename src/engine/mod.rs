//! The engine: the one owner of writes. It classifies incoming events (accepted, duplicate,
//! conflict, out of scope), appends the accepted ones to the journal and waits for the
//! sync, then applies them to the derived state and answers.
//!
//! It runs on its own thread, fed by a bounded command queue: a full queue is refused at
//! once ([`EngineError::Overloaded`], which the API maps to RESOURCE_EXHAUSTED) rather than
//! buffered without bound. Each cycle drains every queued command, so concurrent clients
//! share one journal sync (group commit). Replay at start-up and `dunghan rebuild` go
//! through the same `Engine::apply_entries` path as live events, so the derived
//! state is always "the journal up to `applied_seq`".
//!
//! It never reads the wall clock directly: `now` comes from the injected [`Clock`].

mod catalog;
mod replay;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use dunghan_domain::alert::{alert_plan, AlertPlan, Severity};
use dunghan_domain::catalog::Catalog;
use dunghan_domain::clock::{judge, Judgement, Policy};
use dunghan_domain::event::{Event, EventKind, FileHistory, RecordedEvent};
use dunghan_domain::report;
use dunghan_domain::stats::{self, CounterKey, Counts};
use dunghan_domain::{EventId, FileId, StepCode, UnitId};
use thiserror::Error;
use tokio::sync::oneshot;

pub use catalog::{CatalogChange, CatalogOutcome};

use crate::index::{credit_window, summary_creditable, CreditChange, FilesIndex, SharedIndex};
use crate::metrics::names::ENGINE_QUEUE_COMMANDS;
use crate::store::codec::{self, CodecError, JournalEntry, RejudgeEntry};
use crate::store::journal::{JournalError, JournalWriter, RealDisk};
use crate::store::{AlertRecord, EmittedAlert, FileSummary, StateBatch, Store, StoreError};

/// Where "now" comes from; tests inject a controlled clock.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Where the engine hands the alerts it stored; delivery (the alert stream) implements it.
///
/// `publish` is called after the alerts were committed and flushed to the operating system,
/// in sequence order, from the engine thread: it must not block.
pub trait AlertSink: Send + Sync + 'static {
    /// Hands over newly stored alerts, in sequence order.
    fn publish(&self, alerts: &[AlertRecord]);
}

/// A sink that drops alerts (for `rebuild` and tools that do not deliver).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAlertSink;

impl AlertSink for NoAlertSink {
    fn publish(&self, _alerts: &[AlertRecord]) {}
}

/// Which units a caller may push events for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestScope {
    /// Every unit.
    All,
    /// The subtrees rooted at these units.
    Subtrees(Vec<UnitId>),
}

/// A validated event to ingest, with who pushed it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The event.
    pub event: Event,
    /// The name of the token (or `open`) that pushed it.
    pub recorded_by: String,
    /// A historic import: recorded as of its own event time, so it is never "backdated".
    pub backfill: bool,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New and now durable, at this journal position.
    Accepted {
        /// Journal sequence number.
        seq: u64,
    },
    /// The same event id with the same content is already stored.
    Duplicate,
    /// The same event id with different content is stored; this one was refused.
    Conflict {
        /// Content hash of the stored event.
        stored_hash: [u8; 32],
        /// Content hash of the refused event.
        received_hash: [u8; 32],
        /// The file the stored event belongs to.
        stored_file: FileId,
    },
    /// Refused: the caller may not push events for this file's units.
    OutOfScope {
        /// Why, naming the unit or file.
        message: String,
    },
    /// Refused: the event contradicts the file's state as of its newest event (a handover
    /// from someone who does not hold the file, an event after the file's clock ended).
    Contradicts {
        /// The field at fault, e.g. `handed_over.from_officer_id`.
        field: String,
        /// Its value.
        value: String,
        /// Why, naming the file and its state.
        message: String,
    },
}

/// Why the engine could not do what was asked.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The command queue is full: shed load.
    #[error("the ingest queue is full; retry later")]
    Overloaded,
    /// The engine has stopped (shutting down, or a failed journal).
    #[error("the engine is not running")]
    Stopped,
    /// The journal failed; nothing in this cycle was acknowledged.
    #[error("journal failure: {0}")]
    Journal(#[from] JournalError),
    /// The derived state failed.
    #[error("state failure: {0}")]
    Store(#[from] StoreError),
    /// A journal or state record cannot be decoded.
    #[error("record failure: {0}")]
    Codec(#[from] CodecError),
    /// A journaled catalog change cannot be applied (a calendar that does not compile).
    #[error("catalog change cannot be applied: {0}")]
    InvalidCatalog(String),
}

/// An ingest command waiting in a cycle: scope, events, and where to answer.
type PendingIngest = (
    IngestScope,
    Vec<Candidate>,
    oneshot::Sender<Result<Vec<Outcome>, EngineError>>,
);

/// Commands, the only way to change state.
enum Command {
    Ingest {
        scope: IngestScope,
        candidates: Vec<Candidate>,
        reply: oneshot::Sender<Result<Vec<Outcome>, EngineError>>,
    },
    Catalog {
        changes: Vec<CatalogChange>,
        actor: String,
        dry_run: bool,
        reply: oneshot::Sender<Result<CatalogOutcome, EngineError>>,
    },
    Rejudge {
        entry: RejudgeEntry,
        reply: oneshot::Sender<Result<u64, EngineError>>,
    },
    Tick {
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    Shutdown {
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
}

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Commands waiting at most (each carries up to a batch of events).
    pub queue_commands: usize,
    /// Events applied per cycle at most.
    pub max_cycle_events: usize,
    /// The domain's thresholds.
    pub policy: Policy,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            queue_commands: 1024,
            max_cycle_events: 20_000,
            policy: Policy::default(),
        }
    }
}

/// Files counted into the leaderboards per slice of engine time (about 10 ms).
const CREDIT_SLICE_FILES: usize = 256;

/// A cheap handle to the engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    commands: SyncSender<Command>,
    catalog: Arc<RwLock<Arc<Catalog>>>,
    store: Store,
    index: SharedIndex,
    clock: Arc<dyn Clock>,
    policy: Policy,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

/// The engine thread's state.
pub struct Engine {
    store: Store,
    index: SharedIndex,
    journal: JournalWriter<RealDisk>,
    catalog: Arc<Catalog>,
    shared_catalog: Arc<RwLock<Arc<Catalog>>>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    max_cycle_events: usize,
    runtime: tokio::runtime::Handle,
    next_alert_sequence: u64,
    sink: Arc<dyn AlertSink>,
}

impl EngineHandle {
    /// Pushes events; resolves once every accepted one is durable and applied.
    ///
    /// # Errors
    /// [`EngineError::Overloaded`] at once if the queue is full; others if the journal or
    /// state failed (then nothing in the request was acknowledged).
    pub async fn ingest(
        &self,
        scope: IngestScope,
        candidates: Vec<Candidate>,
    ) -> Result<Vec<Outcome>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Ingest {
            scope,
            candidates,
            reply,
        })?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Applies catalog changes (all or nothing), or only checks them with `dry_run`.
    ///
    /// # Errors
    /// As [`EngineHandle::ingest`]. Invalid changes are an [`CatalogOutcome`], not an error.
    pub async fn change_catalog(
        &self,
        changes: Vec<CatalogChange>,
        actor: String,
        dry_run: bool,
    ) -> Result<CatalogOutcome, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Catalog {
            changes,
            actor,
            dry_run,
            reply,
        })?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Re-folds the files listed in `entry` under the catalog in force, after journaling the
    /// entry (the audit trail keeps the verdicts replaced); returns its journal position.
    ///
    /// # Errors
    /// As [`EngineHandle::ingest`].
    pub async fn rejudge(&self, entry: RejudgeEntry) -> Result<u64, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Rejudge { entry, reply })?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Re-folds now every file whose next alert instant has come (the engine also does this
    /// by itself when the instant comes; tests with a controlled clock call it).
    ///
    /// # Errors
    /// As [`EngineHandle::ingest`].
    pub async fn tick(&self) -> Result<(), EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Tick { reply })?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Stops the engine after the commands already queued; syncs the journal and flushes.
    ///
    /// # Errors
    /// [`EngineError`] if the final sync or flush failed.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        let (reply, answer) = oneshot::channel();
        // Shutdown waits for room rather than being shed.
        let commands = self.commands.clone();
        tokio::task::spawn_blocking(move || {
            commands.send(Command::Shutdown { reply }).map_err(|_| ())
        })
        .await
        .map_err(|_| EngineError::Stopped)?
        .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// The catalog in force now (shared, cheap to clone).
    pub fn catalog(&self) -> Arc<Catalog> {
        match self.catalog.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The in-memory index of every file's report facts.
    pub fn index(&self) -> &SharedIndex {
        &self.index
    }

    /// The derived state, for reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine's "now" (the injected clock), so reads judge at the same instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The domain's thresholds in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A file's history as stored, or `None` if no event of it is stored.
    ///
    /// # Errors
    /// [`EngineError`] if the state cannot be read or a record decoded.
    pub fn history(&self, file: &FileId) -> Result<Option<FileHistory>, EngineError> {
        let records = self.store.event_records(file)?;
        if records.is_empty() {
            return Ok(None);
        }
        let mut history = FileHistory::new(file.clone());
        for record in records {
            let _ = history.insert(codec::decode_stored_event(&record)?);
        }
        Ok(Some(history))
    }

    /// Every stored counter, merged by key (for checks against [`EngineHandle::recount`]).
    ///
    /// # Errors
    /// [`EngineError`] if the state cannot be read.
    pub fn stored_counters(&self) -> Result<BTreeMap<CounterKey, Counts>, EngineError> {
        let first = chrono::NaiveDate::MIN
            .max(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
        let last = chrono::NaiveDate::from_ymd_opt(2200, 1, 1).unwrap_or_default();
        let mut counters = BTreeMap::new();
        for (key, counts) in self.store.counters_between(first, last)? {
            *counters.entry(key).or_insert_with(Counts::default) += counts;
        }
        Ok(counters)
    }

    /// The counters recomputed from every stored file's events under the catalog in force:
    /// what the stored counters must equal when the catalog has not changed since.
    ///
    /// # Errors
    /// [`EngineError`] if the state cannot be read or a record decoded.
    pub fn recount(&self) -> Result<BTreeMap<CounterKey, Counts>, EngineError> {
        let catalog = self.catalog();
        let mut counters: BTreeMap<CounterKey, Counts> = BTreeMap::new();
        for summary in self.store.files() {
            let summary = summary?;
            let Some(history) = self.history(&summary.file_id)? else {
                continue;
            };
            let judgement = judge(&catalog, &self.policy, &history);
            for (key, counts) in stats::contribution(&judgement) {
                *counters.entry(key).or_default() += counts;
            }
        }
        counters.retain(|_, counts| !counts.is_zero());
        Ok(counters)
    }

    fn send(&self, command: Command) -> Result<(), EngineError> {
        self.commands.try_send(command).map_err(|err| match err {
            TrySendError::Full(_) => EngineError::Overloaded,
            TrySendError::Disconnected(_) => EngineError::Stopped,
        })?;
        // Counted after the send, so the gauge may dip below zero for a moment.
        metrics::gauge!(ENGINE_QUEUE_COMMANDS).increment(1);
        Ok(())
    }
}

impl Engine {
    /// Loads the catalog from the state, replays the journal past `applied_seq`, and starts
    /// the engine thread.
    ///
    /// `base_catalog` is the catalog before any stored change (the shipped calendar).
    ///
    /// # Errors
    /// [`EngineError`] if replay fails.
    pub fn start(
        store: Store,
        journal: JournalWriter<RealDisk>,
        base_catalog: Catalog,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn AlertSink>,
    ) -> Result<(EngineHandle, JoinHandle<()>), EngineError> {
        let catalog = catalog::load_stored(&store, base_catalog)?;
        let policy = config.policy.clone();
        let handle_clock = clock.clone();
        let shared_catalog = Arc::new(RwLock::new(Arc::new(catalog.clone())));
        let index = SharedIndex::default();
        let mut engine = Engine {
            store: store.clone(),
            index: index.clone(),
            journal,
            catalog: Arc::new(catalog),
            shared_catalog: shared_catalog.clone(),
            policy: config.policy,
            clock,
            max_cycle_events: config.max_cycle_events,
            runtime: tokio::runtime::Handle::current(),
            next_alert_sequence: store.last_alert_sequence()? + 1,
            sink,
        };
        let replayed = engine.replay()?;
        tracing::info!(
            replayed,
            applied_seq = engine.store.applied_seq()?,
            "journal replayed"
        );
        let built = FilesIndex::build(store.files(), &engine.catalog)?;
        tracing::info!(files = built.len(), "file index built");
        *index.write() = built;
        let (commands, queue) = mpsc::sync_channel(config.queue_commands.max(1));
        let thread = std::thread::Builder::new()
            .name("dunghan-engine".to_owned())
            .spawn(move || engine.run(&queue))
            .map_err(|_| EngineError::Stopped)?;
        Ok((
            EngineHandle {
                commands,
                catalog: shared_catalog,
                store,
                index,
                clock: handle_clock,
                policy,
            },
            thread,
        ))
    }

    fn run(mut self, queue: &Receiver<Command>) {
        let mut crediting = true;
        loop {
            let until_deadline = self.time_to_next_deadline();
            // While the leaderboards are being built, idle time goes to them.
            let wait = if crediting {
                StdDuration::ZERO
            } else {
                until_deadline
            };
            let first = match queue.recv_timeout(wait) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let Some(first) = first else {
                if until_deadline.is_zero() || !crediting {
                    if let Err(err) = self.refresh_due() {
                        tracing::error!(error = %err, "refreshing due files failed");
                    }
                } else {
                    crediting = self.credit_some();
                }
                continue;
            };
            let mut batch = vec![first];
            let mut n_events = count_events(&batch[0]);
            while n_events < self.max_cycle_events {
                match queue.try_recv() {
                    Ok(command) => {
                        n_events += count_events(&command);
                        batch.push(command);
                    }
                    Err(_) => break,
                }
            }
            metrics::gauge!(ENGINE_QUEUE_COMMANDS).decrement(batch.len() as f64);
            if self.cycle(batch) {
                break;
            }
            crediting = self.credit_some();
        }
        tracing::info!("engine stopped");
    }

    /// One slice of building the leaderboards, if they need it; returns whether more is left.
    fn credit_some(&mut self) -> bool {
        if self.index.read().boards_ready() {
            return false;
        }
        match self.credit_slice(CREDIT_SLICE_FILES) {
            Ok(more) => more,
            Err(err) => {
                tracing::error!(error = %err, "building the leaderboards failed");
                false
            }
        }
    }

    /// Runs one cycle; returns whether the engine must stop.
    fn cycle(&mut self, commands: Vec<Command>) -> bool {
        let mut ingests = Vec::new();
        let mut stop = None;
        for command in commands {
            match command {
                Command::Ingest {
                    scope,
                    candidates,
                    reply,
                } => ingests.push((scope, candidates, reply)),
                Command::Catalog {
                    changes,
                    actor,
                    dry_run,
                    reply,
                } => {
                    // Catalog changes are rare: settle pending ingests first to keep order.
                    self.ingest_all(std::mem::take(&mut ingests));
                    let _ = reply.send(self.change_catalog(changes, &actor, dry_run));
                }
                Command::Rejudge { entry, reply } => {
                    self.ingest_all(std::mem::take(&mut ingests));
                    let _ = reply.send(self.journal_rejudge(entry));
                }
                Command::Tick { reply } => {
                    self.ingest_all(std::mem::take(&mut ingests));
                    let _ = reply.send(self.refresh_due());
                }
                Command::Shutdown { reply } => stop = Some(reply),
            }
        }
        self.ingest_all(ingests);
        if let Some(reply) = stop {
            let result = self
                .runtime
                .block_on(self.journal.shutdown())
                .map_err(EngineError::from)
                .and_then(|()| self.store.flush().map_err(EngineError::from));
            let _ = reply.send(result);
            return true;
        }
        false
    }

    fn ingest_all(&mut self, ingests: Vec<PendingIngest>) {
        if ingests.is_empty() {
            return;
        }
        let now = self.clock.now();
        // Classify every event of every command; accepted ones get a journal payload.
        let mut in_cycle: HashMap<EventId, (FileId, [u8; 32])> = HashMap::new();
        // Receipts accepted earlier in this cycle, for scope checks of later events, and the
        // files with events accepted in this cycle (their stored state is not current).
        let mut receipts: HashMap<FileId, UnitId> = HashMap::new();
        let mut touched: HashSet<FileId> = HashSet::new();
        let mut outcomes: Vec<Vec<Option<Outcome>>> = Vec::with_capacity(ingests.len());
        let mut payloads = Vec::new();
        let mut accepted: Vec<(usize, usize, RecordedEvent, [u8; 32], String)> = Vec::new();
        let mut failure = None;
        for (command_idx, (scope, candidates, _)) in ingests.iter().enumerate() {
            let mut these = Vec::with_capacity(candidates.len());
            for (event_idx, candidate) in candidates.iter().enumerate() {
                match self.classify(scope, candidate, &in_cycle, &receipts, &touched) {
                    Ok(Some(outcome)) => these.push(Some(outcome)),
                    Ok(None) => {
                        touched.insert(candidate.event.file_id.clone());
                        if let EventKind::Received { holder, .. } = &candidate.event.kind {
                            receipts
                                .entry(candidate.event.file_id.clone())
                                .or_insert_with(|| holder.unit.clone());
                        }
                        let hash = codec::content_hash(&candidate.event);
                        let recorded = RecordedEvent {
                            event: candidate.event.clone(),
                            recorded_at: if candidate.backfill {
                                candidate.event.occurred_at
                            } else {
                                now
                            },
                        };
                        in_cycle.insert(
                            candidate.event.id.clone(),
                            (candidate.event.file_id.clone(), hash),
                        );
                        payloads.push(codec::encode_event_record(
                            &recorded,
                            &candidate.recorded_by,
                            hash,
                        ));
                        accepted.push((
                            command_idx,
                            event_idx,
                            recorded,
                            hash,
                            candidate.recorded_by.clone(),
                        ));
                        these.push(None);
                    }
                    Err(err) => {
                        failure = Some(err);
                        these.push(None);
                    }
                }
            }
            outcomes.push(these);
        }
        if failure.is_none() && !payloads.is_empty() {
            match self.runtime.block_on(self.journal.append(payloads)) {
                Ok(range) => {
                    let entries: Vec<(u64, JournalEntry)> = accepted
                        .iter()
                        .zip(range)
                        .map(|((_, _, recorded, hash, by), seq)| {
                            (
                                seq,
                                JournalEntry::Event {
                                    recorded: recorded.clone(),
                                    recorded_by: by.clone(),
                                    content_hash: *hash,
                                },
                            )
                        })
                        .collect();
                    let seqs: Vec<u64> = entries.iter().map(|(seq, _)| *seq).collect();
                    match self.apply_entries(entries) {
                        Ok(()) => {
                            for ((command_idx, event_idx, ..), seq) in accepted.iter().zip(seqs) {
                                outcomes[*command_idx][*event_idx] =
                                    Some(Outcome::Accepted { seq });
                            }
                        }
                        Err(err) => failure = Some(err),
                    }
                }
                Err(err) => failure = Some(EngineError::Journal(err)),
            }
        }
        for ((_, _, reply), these) in ingests.into_iter().zip(outcomes) {
            let answer = match &failure {
                Some(err) => Err(clone_error(err)),
                None => Ok(these
                    .into_iter()
                    .map(|o| o.unwrap_or(Outcome::Duplicate))
                    .collect()),
            };
            let _ = reply.send(answer);
        }
        if let Some(err) = failure {
            tracing::error!(error = %err, "ingest cycle failed; nothing in it was acknowledged");
        }
    }

    /// `Ok(None)`: new and in scope. `Ok(Some(outcome))`: decided without the journal.
    fn classify(
        &self,
        scope: &IngestScope,
        candidate: &Candidate,
        in_cycle: &HashMap<EventId, (FileId, [u8; 32])>,
        receipts: &HashMap<FileId, UnitId>,
        touched: &HashSet<FileId>,
    ) -> Result<Option<Outcome>, EngineError> {
        let event = &candidate.event;
        let known = match in_cycle.get(&event.id) {
            Some((file, hash)) => Some((file.clone(), *hash)),
            None => self
                .store
                .dedupe(&event.id)?
                .map(|entry| (entry.file_id, entry.content_hash)),
        };
        if let Some((stored_file, stored_hash)) = known {
            let received_hash = codec::content_hash(event);
            if stored_hash == received_hash && stored_file == event.file_id {
                return Ok(Some(Outcome::Duplicate));
            }
            return Ok(Some(Outcome::Conflict {
                stored_hash,
                received_hash,
                stored_file,
            }));
        }
        if let Some(message) = self.out_of_scope(scope, event, receipts.get(&event.file_id))? {
            return Ok(Some(Outcome::OutOfScope { message }));
        }
        if !touched.contains(&event.file_id) {
            if let Some(summary) = self.store.file(&event.file_id)? {
                if let Some(refusal) = contradiction(&summary, event) {
                    return Ok(Some(refusal));
                }
            }
        }
        Ok(None)
    }

    /// Why `scope` may not push `event`, if it may not.
    ///
    /// A scoped caller may push events for files received by a unit in its subtrees. For a
    /// file not received yet, the units the event itself names must be in scope; an event
    /// that names no unit for a file not yet received cannot be checked and is refused.
    fn out_of_scope(
        &self,
        scope: &IngestScope,
        event: &Event,
        received_in_cycle: Option<&UnitId>,
    ) -> Result<Option<String>, EngineError> {
        let IngestScope::Subtrees(roots) = scope else {
            return Ok(None);
        };
        let date = event.occurred_at.date_naive();
        let in_scope = |unit: &UnitId| {
            self.catalog
                .ancestry_at(unit, date)
                .iter()
                .any(|ancestor| roots.contains(ancestor))
        };
        let receiving = match self.store.file(&event.file_id)?.and_then(|s| s.receiving) {
            Some(holder) => Some(holder.unit),
            None => received_in_cycle.cloned(),
        };
        let named: Vec<&UnitId> = match &event.kind {
            EventKind::Received { holder, .. } => vec![&holder.unit],
            EventKind::HandedOver { from, to, .. } => vec![&from.unit, &to.unit],
            _ => Vec::new(),
        };
        let message = match (&receiving, named.first()) {
            (Some(unit), _) if in_scope(unit) => return Ok(None),
            (Some(unit), _) => format!("file {} was received by unit {unit}, outside this token's units", event.file_id),
            (None, Some(_)) if named.iter().all(|unit| in_scope(unit)) => return Ok(None),
            (None, Some(unit)) => format!("unit {unit} is outside this token's units"),
            (None, None) => format!(
                "file {} has not been received yet, so its units cannot be checked; send its received event first",
                event.file_id
            ),
        };
        Ok(Some(message))
    }

    /// Applies journal entries to the derived state up to the last one's sequence, in atomic
    /// batches that each bring the state to a journal position: one for a run of events, and
    /// one at each catalog change or re-judging (whose re-folds read the stored state), so a
    /// replay of mixed entries reaches the state the live commands reached one by one. Used by
    /// live ingest, catalog changes, replay and rebuild.
    pub(crate) fn apply_entries(
        &mut self,
        entries: Vec<(u64, JournalEntry)>,
    ) -> Result<(), EngineError> {
        let Some(last_seq) = entries.last().map(|(seq, _)| *seq) else {
            return Ok(());
        };
        let now = self.clock.now();
        let mut batch = Pending::default();
        let mut by_file: BTreeMap<FileId, Vec<(u64, RecordedEvent, [u8; 32])>> = BTreeMap::new();
        // The last position whose entry is in `batch` (or `by_file`).
        let mut applied: Option<u64> = None;
        for (seq, entry) in entries {
            match entry {
                JournalEntry::Event {
                    recorded,
                    content_hash,
                    ..
                } => by_file
                    .entry(recorded.event.file_id.clone())
                    .or_default()
                    .push((seq, recorded, content_hash)),
                JournalEntry::Catalog(change) => {
                    // Events before a catalog change are judged under the old catalog, as
                    // live, and committed first: the re-folds after the change read the
                    // stored state (a file's events, its counter contribution), so they
                    // must find everything before it there, as live commands do.
                    self.apply_files(std::mem::take(&mut by_file), now, &mut batch)?;
                    self.commit_through(applied, std::mem::take(&mut batch))?;
                    self.catalog = Arc::new(catalog::apply_change(&self.catalog, &change)?);
                    batch
                        .state
                        .put_catalog(seq, codec::encode_catalog_change(&change));
                    batch.rechain = true;
                    self.publish_catalog();
                    for file in self.store.unjudged_files()? {
                        self.refold(&file, Vec::new(), seq, now, &mut batch)?;
                    }
                    self.commit_through(Some(seq), std::mem::take(&mut batch))?;
                }
                JournalEntry::Rejudge(entry) => {
                    // The same for a re-judging: its re-folds read the stored state.
                    self.apply_files(std::mem::take(&mut by_file), now, &mut batch)?;
                    self.commit_through(applied, std::mem::take(&mut batch))?;
                    // The leaderboards are counted again after a re-judging (rare).
                    batch.rechain = true;
                    for replaced in &entry.replaced {
                        self.refold(&replaced.file_id, Vec::new(), seq, now, &mut batch)?;
                    }
                    self.commit_through(Some(seq), std::mem::take(&mut batch))?;
                }
            }
            applied = Some(seq);
        }
        self.apply_files(by_file, now, &mut batch)?;
        self.commit_through(Some(last_seq), batch)
    }

    /// Commits `batch` as the state up to journal position `seq`; nothing to do without a
    /// position (no entry was applied yet).
    fn commit_through(&self, seq: Option<u64>, mut batch: Pending) -> Result<(), EngineError> {
        let Some(seq) = seq else {
            return Ok(());
        };
        batch.state.set_applied_seq(seq);
        self.commit(batch)
    }

    /// Adds the cycle's counter differences to the stored counters and commits atomically,
    /// then brings the file index up to date.
    fn commit(&self, pending: Pending) -> Result<(), EngineError> {
        let mut state = pending.state;
        for (key, delta) in pending.deltas {
            let mut counts = self.store.counter(&key)?;
            counts += delta;
            if counts.has_negative() {
                // A negative counter means a contribution was subtracted twice: a bug.
                tracing::error!(key = %key.escape_ascii(), ?counts, "counter would go negative");
            }
            state.put_counter(key, counts);
        }
        for alert in &pending.alerts {
            state.put_alert(alert);
        }
        self.store.commit(state)?;
        if !pending.summaries.is_empty() || pending.rechain {
            let mut index = self.index.write();
            for (summary, credits) in &pending.summaries {
                index.upsert(summary, &self.catalog, credits.as_ref());
            }
            if pending.rechain {
                index.rechain(&self.catalog);
            }
        }
        if !pending.alerts.is_empty() {
            // Published alerts must survive a killed process with their sequence numbers:
            // hand them out only once sled has written them to the operating system.
            self.store.flush()?;
            self.sink.publish(&pending.alerts);
        }
        Ok(())
    }

    fn apply_files(
        &mut self,
        by_file: BTreeMap<FileId, Vec<(u64, RecordedEvent, [u8; 32])>>,
        now: DateTime<Utc>,
        batch: &mut Pending,
    ) -> Result<(), EngineError> {
        for (file, events) in by_file {
            let last_seq = events.iter().map(|(seq, ..)| *seq).max().unwrap_or(0);
            for (_, recorded, hash) in &events {
                batch.state.put_event(
                    &file,
                    &recorded.event.id,
                    codec::encode_stored_event(recorded),
                );
                batch.state.put_dedupe(&recorded.event.id, &file, *hash);
            }
            let new = events
                .into_iter()
                .map(|(_, recorded, _)| recorded)
                .collect();
            self.refold(&file, new, last_seq, now, batch)?;
        }
        Ok(())
    }

    /// Re-folds one file with its stored events plus `new` ones and stores its summary,
    /// with the alerts that start or stop holding.
    fn refold(
        &mut self,
        file: &FileId,
        new: Vec<RecordedEvent>,
        journal_position: u64,
        now: DateTime<Utc>,
        batch: &mut Pending,
    ) -> Result<Judgement, EngineError> {
        let previous = self.store.file(file)?;
        let mut history = self.stored_history(file)?;
        // A finished file counted in the leaderboards: its credits as they were, to take out.
        let old_credits = match &previous {
            Some(previous) if summary_creditable(previous) => {
                credit_window(previous).map(|window| {
                    let before = judge(&self.catalog, &self.policy, &history);
                    report::file_credits(&self.catalog, &before, &window)
                })
            }
            _ => None,
        };
        for recorded in new {
            let _ = history.insert(recorded);
        }
        let judgement = judge(&self.catalog, &self.policy, &history);
        let plan = alert_plan(&judgement, &self.policy, now);
        let position = previous.as_ref().map_or(journal_position, |p| {
            p.journal_position.max(journal_position)
        });
        let mut summary = FileSummary::of(&judgement, plan.next_at, position, history.newest());
        let emitted = previous
            .as_ref()
            .map(|p| p.emitted_alerts.clone())
            .unwrap_or_default();
        summary.emitted_alerts = self.decide_alerts(&judgement, &plan, emitted, now, batch);
        let old = previous
            .as_ref()
            .map(|p| p.contributions.as_slice())
            .unwrap_or(&[]);
        for (key, counts) in old {
            *batch.deltas.entry(key.clone()).or_default() += -*counts;
        }
        for (key, counts) in &summary.contributions {
            *batch.deltas.entry(key.clone()).or_default() += *counts;
        }
        batch.deltas.retain(|_, delta| !delta.is_zero());
        batch.state.put_file(&summary, previous.as_ref())?;
        let new_credits = if summary_creditable(&summary) {
            credit_window(&summary)
                .map(|window| report::file_credits(&self.catalog, &judgement, &window))
        } else {
            None
        };
        let credits = (old_credits.is_some() || new_credits.is_some()).then_some(CreditChange {
            old: old_credits,
            new: new_credits,
        });
        batch.summaries.push((summary, credits));
        Ok(judgement)
    }

    /// A file's stored events.
    fn stored_history(&self, file: &FileId) -> Result<FileHistory, EngineError> {
        let mut history = FileHistory::new(file.clone());
        for record in self.store.event_records(file)? {
            let recorded = codec::decode_stored_event(&record)?;
            let _ = history.insert(recorded);
        }
        Ok(history)
    }

    /// Counts up to `max_files` more files into the index's leaderboards; returns whether
    /// some are left.
    fn credit_slice(&mut self, max_files: usize) -> Result<bool, EngineError> {
        let next = self.index.read().next_to_credit(max_files);
        let mut credits = Vec::with_capacity(next.len());
        for (slot, file, needs) in next {
            let credit = match (needs, self.store.file(&file)?) {
                (true, Some(summary)) => match credit_window(&summary) {
                    Some(window) => {
                        let history = self.stored_history(&file)?;
                        let judgement = judge(&self.catalog, &self.policy, &history);
                        Some(report::file_credits(&self.catalog, &judgement, &window))
                    }
                    None => None,
                },
                _ => None,
            };
            credits.push((slot, credit));
        }
        let mut index = self.index.write();
        for (slot, credit) in &credits {
            index.credit(*slot, credit.as_ref());
        }
        Ok(!index.boards_ready())
    }

    fn journal_rejudge(&mut self, entry: RejudgeEntry) -> Result<u64, EngineError> {
        let payload = codec::encode_rejudge(&entry);
        let range = self.runtime.block_on(self.journal.append(vec![payload]))?;
        let seq = range.start;
        self.apply_entries(vec![(seq, JournalEntry::Rejudge(entry))])?;
        Ok(seq)
    }

    /// Emits the conditions that newly hold and retracts emitted ones that no longer hold;
    /// returns the identities emitted and still holding.
    fn decide_alerts(
        &mut self,
        judgement: &Judgement,
        plan: &AlertPlan,
        emitted: Vec<EmittedAlert>,
        now: DateTime<Utc>,
        batch: &mut Pending,
    ) -> Vec<EmittedAlert> {
        let unit_path = match (&judgement.receiving, judgement.received_at) {
            (Some(receiving), Some(received)) => {
                let date = judgement
                    .local_date(received)
                    .unwrap_or_else(|| received.date_naive());
                self.catalog.ancestry_at(&receiving.unit, date)
            }
            _ => Vec::new(),
        };
        let officer = judgement
            .segments
            .last()
            .and_then(|s| s.holder.officer.clone());
        let identity =
            |kind, step: &Option<StepCode>, key: &str| (kind, step.clone(), key.to_owned());
        let mut kept = Vec::new();
        for old in emitted {
            let still = plan
                .holding
                .iter()
                .any(|c| c.identity() == identity(old.kind, &old.step, &old.key));
            if still {
                kept.push(old);
                continue;
            }
            let sequence = self.next_alert_sequence;
            self.next_alert_sequence += 1;
            batch.alerts.push(AlertRecord {
                sequence,
                file_id: judgement.file_id.clone(),
                kind: old.kind,
                step: old.step.clone(),
                key: old.key.clone(),
                severity: Severity::Info,
                due_at: judgement.due(),
                fired_at: now,
                recorded_at: now,
                unit_path: unit_path.clone(),
                officer: officer.clone(),
                detail: format!(
                    "retracts alert {}: {} no longer holds",
                    old.sequence,
                    old.kind.name()
                ),
                retracts: Some(old.sequence),
            });
        }
        for condition in &plan.holding {
            let known = kept
                .iter()
                .any(|e| identity(e.kind, &e.step, &e.key) == condition.identity());
            if known {
                continue;
            }
            let sequence = self.next_alert_sequence;
            self.next_alert_sequence += 1;
            batch.alerts.push(AlertRecord {
                sequence,
                file_id: judgement.file_id.clone(),
                kind: condition.kind,
                step: condition.step.clone(),
                key: condition.key.clone(),
                severity: condition.kind.severity(),
                due_at: condition.due_at,
                fired_at: condition.at,
                recorded_at: now,
                unit_path: unit_path.clone(),
                officer: officer.clone(),
                detail: condition.detail.clone(),
                retracts: None,
            });
            kept.push(EmittedAlert {
                kind: condition.kind,
                step: condition.step.clone(),
                key: condition.key.clone(),
                sequence,
            });
        }
        kept
    }

    /// Re-folds files whose next alert instant has come, so the deadline index moves on.
    fn refresh_due(&mut self) -> Result<(), EngineError> {
        let now = self.clock.now();
        let due = self.store.deadlines_until(now)?;
        if due.is_empty() {
            return Ok(());
        }
        let applied = self.store.applied_seq()?;
        let mut batch = Pending::default();
        for (_, file) in due {
            self.refold(&file, Vec::new(), applied, now, &mut batch)?;
        }
        self.commit(batch)
    }

    fn time_to_next_deadline(&self) -> StdDuration {
        const IDLE: StdDuration = StdDuration::from_secs(60);
        let Ok(Some(next)) = self.store.next_deadline() else {
            return IDLE;
        };
        let wait = next - self.clock.now();
        wait.to_std().unwrap_or(StdDuration::ZERO).min(IDLE)
    }

    fn publish_catalog(&self) {
        match self.shared_catalog.write() {
            Ok(mut guard) => *guard = self.catalog.clone(),
            Err(poisoned) => *poisoned.into_inner() = self.catalog.clone(),
        }
    }
}

/// Why `event` contradicts the stored state of its file, if it does.
///
/// Events may arrive out of order, so only an event at or after the file's newest event can
/// contradict it: a handover from a holder other than the current one, or an event (other
/// than `returned`) after the file's clock ended. Older events are accepted; the fold flags
/// them (anomalies, the altered-record rule).
fn contradiction(summary: &FileSummary, event: &Event) -> Option<Outcome> {
    if summary
        .newest_event_at
        .is_some_and(|newest| event.occurred_at < newest)
    {
        return None;
    }
    if let Some(finished_at) = summary.finished_at {
        if !matches!(event.kind, EventKind::Returned) && event.occurred_at > finished_at {
            return Some(Outcome::Contradicts {
                field: "kind".to_owned(),
                value: event.kind.name().to_owned(),
                message: format!(
                    "file {} ended its clock at {}; a {} event after that is refused",
                    event.file_id,
                    finished_at.to_rfc3339(),
                    event.kind.name()
                ),
            });
        }
    }
    if let (EventKind::HandedOver { from, .. }, Some(holder)) = (&event.kind, &summary.holder) {
        let officer_differs =
            matches!((&from.officer, &holder.officer), (Some(a), Some(b)) if a != b);
        if from.unit != holder.unit || officer_differs {
            let (field, value) = if from.unit != holder.unit {
                ("handed_over.from_unit_id", from.unit.to_string())
            } else {
                (
                    "handed_over.from_officer_id",
                    from.officer
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                )
            };
            return Some(Outcome::Contradicts {
                field: field.to_owned(),
                value,
                message: format!("file {} is held by {holder}, not by {from}", event.file_id),
            });
        }
    }
    None
}

/// A cycle's changes: the state batch and the counter differences still to add.
#[derive(Debug, Default)]
struct Pending {
    state: StateBatch,
    deltas: BTreeMap<Vec<u8>, Counts>,
    alerts: Vec<AlertRecord>,
    /// Summaries stored in this batch, with how their leaderboard credits changed, for the
    /// file index once committed.
    summaries: Vec<(FileSummary, Option<CreditChange>)>,
    /// Whether the catalog changed, so every file's unit chain must be recomputed.
    rechain: bool,
}

fn count_events(command: &Command) -> usize {
    match command {
        Command::Ingest { candidates, .. } => candidates.len(),
        Command::Catalog { .. }
        | Command::Rejudge { .. }
        | Command::Tick { .. }
        | Command::Shutdown { .. } => 1,
    }
}

/// Engine errors are shared by every reply of a failed cycle.
fn clone_error(err: &EngineError) -> EngineError {
    match err {
        EngineError::Overloaded => EngineError::Overloaded,
        EngineError::Stopped => EngineError::Stopped,
        EngineError::Journal(_)
        | EngineError::Store(_)
        | EngineError::Codec(_)
        | EngineError::InvalidCatalog(_) => EngineError::Store(StoreError::Engine {
            op: "ingest",
            message: err.to_string(),
        }),
    }
}
