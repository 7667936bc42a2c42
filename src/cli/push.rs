//! `dunghan push FILE`: streams events from a file to a server over
//! `IngestService.Ingest` and reports, by line, what happened to each one.
//!
//! The input is read through an [`EventSource`], so that other formats (CSV and XES
//! event logs) can be added beside JSON Lines without touching the streaming code.
//! A line that is not an event is reported with its line number and never sent; the
//! other lines still go. The streaming keeps up to `--window` requests unacknowledged
//! at once, and matches each ack to its request by `request_index` and to its lines
//! by `event_index`.
//!
//! This module never decides whether an event is valid beyond parsing it: the server
//! judges, and the summary repeats the server's reasons. It never retries on its own:
//! pushing the same file again is safe, because ingestion is idempotent by event id.
//!
//! Exit status: [`run`] returns [`CliError::EventsNotStored`] (a failure) when any
//! line was unreadable, rejected or conflicting, after writing the whole summary.
//! Duplicates are success: resending events is the documented way to recover.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use prost::Message as _;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::client::{connect_authorized, AuthorizedChannel, ClientArgs};
use super::import::xes::Compression;
use super::import::{LogFormat, LogSource};
use super::progress::{Progress, ProgressMode};
use super::CliError;
use crate::proto::v1 as pb;

/// Events per request when `--batch-size` is not given.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// The most events the server takes in one request (IngestService limit).
pub const MAX_BATCH_SIZE: usize = 1_000;

/// Requests that may be unacknowledged at once when `--window` is not given.
pub const DEFAULT_WINDOW: usize = 8;

/// The largest `--window`; more buys nothing once the server is the bottleneck.
pub const MAX_WINDOW: usize = 64;

/// The server's limit on one encoded request, 1 MiB.
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The encoded size at which a batch is cut before reaching `--batch-size`. The margin
/// below [`MAX_REQUEST_BYTES`] covers the per-event field tags and length prefixes of
/// the enclosing `IngestRequest` (at most a few bytes for each of 1,000 events).
const BATCH_BYTES_BUDGET: usize = MAX_REQUEST_BYTES - 16 * 1024;

/// Batches the reader may prepare ahead of the sender.
const READ_AHEAD_BATCHES: usize = 2;

/// The RPC named in errors.
const INGEST_RPC: &str = "IngestService.Ingest";

/// Arguments of `dunghan push`.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// The file of events: JSON Lines, one `dunghan.v1.Event` in proto3 JSON per line; or
    /// an event log, CSV (`.csv`) or XES (`.xes`, `.xes.gz`), see docs/import.md.
    pub file: PathBuf,
    /// The file's format; `auto` chooses by extension.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,
    /// For an event log: how its attributes become events, `receipt`, `bpic15` or a TOML
    /// mapping file; detected from the log's attributes if absent.
    #[arg(long)]
    pub mapping: Option<String>,
    /// Events per request, 1 to 1000; a request is also cut before it reaches 1 MiB.
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Requests sent ahead of their acknowledgements, 1 to 64.
    #[arg(long, default_value_t = DEFAULT_WINDOW)]
    pub window: usize,
    /// Print the summary as JSON (and draw no progress bar).
    #[arg(long)]
    pub json: bool,
    /// Import historic events (an older system's data, an event log): the server records
    /// each event as of its own time, so it is not flagged as backdated. Needs an admin token.
    #[arg(long)]
    pub backfill: bool,
    /// The server to push to.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Input formats `dunghan push` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// By extension; anything not recognised is read as JSON Lines.
    Auto,
    /// JSON Lines: one proto3 JSON `dunghan.v1.Event` per line.
    Jsonl,
    /// A CSV event log with a header row, mapped to events (docs/import.md).
    Csv,
    /// An XES event log, plain or gzip-compressed (`.xes.gz`), mapped to events.
    Xes,
}

/// One record of an input file: an event to send, or a line that is not one.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceRecord {
    /// An event, and the line it came from (1-based).
    Event {
        /// The 1-based line number in the file.
        line: u64,
        /// The event, as it will be sent.
        event: pb::Event,
    },
    /// A line that is not an event; reported, never sent.
    Unreadable {
        /// The 1-based line number in the file.
        line: u64,
        /// Why it is not an event, e.g. serde's message with the column.
        message: String,
    },
}

/// A reader of events from one input file, whatever its format.
///
/// Implementations read lazily, so a large file is never held in memory, and report
/// a bad record as [`SourceRecord::Unreadable`] rather than stopping.
pub trait EventSource: Send {
    /// The next record, or `None` at the end of the input.
    ///
    /// # Errors
    /// [`CliError::Read`] when the file itself cannot be read; a bad record is not an
    /// error.
    fn next_record(&mut self) -> Result<Option<SourceRecord>, CliError>;

    /// How many bytes of the input have been consumed so far, for progress.
    fn bytes_read(&self) -> u64;

    /// The size of the whole input in bytes, if known.
    fn total_bytes(&self) -> Option<u64>;
}

/// JSON Lines: one proto3 JSON `dunghan.v1.Event` per line; blank lines are skipped.
#[derive(Debug)]
pub struct JsonLinesSource<R> {
    /// The input.
    reader: R,
    /// The path, for read errors.
    path: String,
    /// The number of the last line read, 1-based; zero before the first.
    line: u64,
    /// Bytes consumed so far.
    bytes_read: u64,
    /// The input's size, if known.
    total_bytes: Option<u64>,
    /// The current line's bytes, reused between lines.
    buffer: Vec<u8>,
}

/// What happened to the events of one push, line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushSummary {
    /// The input file as given.
    pub file: String,
    /// The server as given.
    pub server: String,
    /// Events sent to the server (lines that parsed as events).
    pub sent: u64,
    /// New events, now durable.
    pub accepted: u64,
    /// Events already stored with the same content; harmless.
    pub duplicate: u64,
    /// Events whose id is stored with different content; the stored one stands.
    pub conflicting: u64,
    /// Events the server refused.
    pub rejected: u64,
    /// Lines that are not events; not sent.
    pub unreadable: u64,
    /// Events sent but never acknowledged because the stream failed; resend them.
    pub unacknowledged: u64,
    /// Each conflict, in line order.
    pub conflicts: Vec<ConflictReport>,
    /// Each rejection, in line order.
    pub rejections: Vec<RejectionReport>,
    /// Each unreadable line, in line order.
    pub unreadable_lines: Vec<UnreadableLine>,
}

/// One conflicting event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictReport {
    /// The 1-based line of the event in the file.
    pub line: u64,
    /// The event id.
    pub event_id: String,
    /// Which fields differ from the stored event, as the server says.
    pub description: String,
}

/// One rejected event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectionReport {
    /// The 1-based line of the event in the file.
    pub line: u64,
    /// The event id as sent; empty if it was missing.
    pub event_id: String,
    /// The reason class, as the proto enum names it (`REJECTION_REASON_INVALID_VALUE`).
    pub reason: String,
    /// The offending field, e.g. `received.receiving_unit_id`; empty if none applies.
    pub field_path: String,
    /// The offending value; empty if the field was missing.
    pub value: String,
    /// The server's explanation.
    pub message: String,
}

/// One line that is not an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableLine {
    /// The 1-based line number.
    pub line: u64,
    /// Why it is not an event.
    pub message: String,
}

/// The result of [`push`]: the summary, and the failure that cut the stream short if
/// one did (the summary then counts what was acknowledged before it).
#[derive(Debug)]
pub struct PushOutcome {
    /// What happened to each event acknowledged, and each unreadable line.
    pub summary: PushSummary,
    /// Why the push stopped early, if it did.
    pub failure: Option<CliError>,
}

/// Settings of one push, checked.
#[derive(Debug, Clone, Copy)]
pub struct PushOptions {
    /// Events per request, 1 to [`MAX_BATCH_SIZE`].
    batch_size: usize,
    /// Requests unacknowledged at once, 1 to [`MAX_WINDOW`].
    window: usize,
    /// Historic import: the server records each event as of its own event time.
    backfill: bool,
}

impl InputFormat {
    /// The concrete format of `path`: `auto` looks at the extension (`.csv`, `.xes` and
    /// `.xes.gz` are event logs; anything else is JSON Lines).
    pub fn resolve(self, path: &Path) -> InputFormat {
        match self {
            InputFormat::Auto => match LogFormat::of_path(path) {
                Some(LogFormat::Csv) => InputFormat::Csv,
                Some(LogFormat::Xes(_)) => InputFormat::Xes,
                None => InputFormat::Jsonl,
            },
            InputFormat::Jsonl | InputFormat::Csv | InputFormat::Xes => self,
        }
    }
}

impl<R: BufRead> JsonLinesSource<R> {
    /// A source reading `reader`; `path` names it in errors, `total_bytes` is its size
    /// if known.
    pub fn new(reader: R, path: impl Into<String>, total_bytes: Option<u64>) -> Self {
        JsonLinesSource {
            reader,
            path: path.into(),
            line: 0,
            bytes_read: 0,
            total_bytes,
            buffer: Vec::new(),
        }
    }
}

impl<R: BufRead + Send> EventSource for JsonLinesSource<R> {
    fn next_record(&mut self) -> Result<Option<SourceRecord>, CliError> {
        loop {
            self.buffer.clear();
            let n_bytes = self
                .reader
                .read_until(b'\n', &mut self.buffer)
                .map_err(|source| CliError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            if n_bytes == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.bytes_read += n_bytes as u64;
            let line = self.line;
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                return Ok(Some(SourceRecord::Unreadable {
                    line,
                    message: "not valid UTF-8".to_owned(),
                }));
            };
            // A byte-order mark may open the first line of files saved on Windows.
            let text = text.trim_start_matches('\u{feff}').trim();
            if text.is_empty() {
                continue;
            }
            return Ok(Some(parse_event_line(line, text)));
        }
    }

    fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }
}

impl PushOptions {
    /// Checked settings.
    ///
    /// # Errors
    /// [`CliError::Argument`] for a batch size outside 1 to 1000 or a window outside 1
    /// to 64.
    pub fn new(batch_size: usize, window: usize) -> Result<PushOptions, CliError> {
        if !(1..=MAX_BATCH_SIZE).contains(&batch_size) {
            return Err(CliError::Argument {
                flag: "batch-size",
                value: batch_size.to_string(),
                reason: format!("must be 1 to {MAX_BATCH_SIZE}, the server's limit"),
            });
        }
        if !(1..=MAX_WINDOW).contains(&window) {
            return Err(CliError::Argument {
                flag: "window",
                value: window.to_string(),
                reason: format!("must be 1 to {MAX_WINDOW}"),
            });
        }
        Ok(PushOptions {
            batch_size,
            window,
            backfill: false,
        })
    }

    /// The same options, marking the push as a historic import (or not).
    pub fn with_backfill(self, backfill: bool) -> PushOptions {
        PushOptions { backfill, ..self }
    }
}

impl PushSummary {
    /// Lines that were not stored: unreadable, rejected or conflicting.
    pub fn n_not_stored(&self) -> u64 {
        self.unreadable + self.rejected + self.conflicting
    }

    /// Writes the summary as a short table followed by one line per problem, in line
    /// order.
    ///
    /// # Errors
    /// [`CliError::Output`] if `out` fails.
    pub fn write_table(&self, out: &mut dyn Write) -> Result<(), CliError> {
        writeln!(
            out,
            "pushed {} events from {} to {}",
            self.sent, self.file, self.server
        )?;
        for (label, count) in [
            ("accepted", self.accepted),
            ("duplicate", self.duplicate),
            ("conflicting", self.conflicting),
            ("rejected", self.rejected),
            ("unreadable", self.unreadable),
        ] {
            writeln!(out, "  {label:<12}{count:>10}")?;
        }
        if self.unacknowledged > 0 {
            writeln!(
                out,
                "  {:<12}{:>10}  (the stream failed; push the file again)",
                "unacked", self.unacknowledged
            )?;
        }
        for (_, problem) in self.problems_by_line() {
            writeln!(out, "{problem}")?;
        }
        Ok(())
    }

    /// Every problem as `(line, text)`, sorted by line.
    fn problems_by_line(&self) -> Vec<(u64, String)> {
        let mut problems = Vec::new();
        for unreadable in &self.unreadable_lines {
            problems.push((
                unreadable.line,
                format!(
                    "line {}: unreadable: {}",
                    unreadable.line, unreadable.message
                ),
            ));
        }
        for conflict in &self.conflicts {
            problems.push((
                conflict.line,
                format!(
                    "line {}: conflict: event {} is stored with different {}",
                    conflict.line, conflict.event_id, conflict.description
                ),
            ));
        }
        for rejection in &self.rejections {
            let mut text = format!(
                "line {}: rejected: event {:?}: {}",
                rejection.line,
                rejection.event_id,
                reason_text(&rejection.reason)
            );
            if !rejection.field_path.is_empty() {
                text.push_str(&format!(
                    " {} = {:?}",
                    rejection.field_path, rejection.value
                ));
            }
            text.push_str(": ");
            text.push_str(&rejection.message);
            problems.push((rejection.line, text));
        }
        // Stable, so problems on one line keep the order above.
        problems.sort_by_key(|(line, _)| *line);
        problems
    }
}

/// Runs `dunghan push`: reads the file, streams its events, writes the summary.
///
/// # Errors
/// [`CliError::Argument`] for bad settings, [`CliError::Read`] for an unreadable file,
/// [`CliError::Connect`] when the server cannot be reached, [`CliError::Rpc`] or
/// [`CliError::Protocol`] when the stream fails (after writing what was acknowledged),
/// and [`CliError::EventsNotStored`] when the push finished but some lines were
/// unreadable, rejected or conflicting.
pub async fn run(args: &PushArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let options = PushOptions::new(args.batch_size, args.window)?.with_backfill(args.backfill);
    let source = open_source_with_mapping(&args.file, args.format, args.mapping.as_deref())?;
    let channel = connect_authorized(&args.client).await?;
    let mode = if args.json {
        ProgressMode::Hidden
    } else {
        ProgressMode::Auto
    };
    let progress = Progress::bytes(source.total_bytes(), mode);
    let mut outcome = push(channel, &args.client.server, source, options, &progress).await;
    progress.finish();
    outcome.summary.file = args.file.display().to_string();
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &outcome.summary)?;
        writeln!(out)?;
    } else {
        outcome.summary.write_table(out)?;
    }
    if let Some(failure) = outcome.failure {
        return Err(failure);
    }
    let summary = &outcome.summary;
    if summary.n_not_stored() > 0 {
        return Err(CliError::EventsNotStored {
            conflicting: summary.conflicting,
            rejected: summary.rejected,
            unreadable: summary.unreadable,
        });
    }
    Ok(())
}

/// Opens `path` as an event source of `format`; an event log is mapped by detection.
///
/// # Errors
/// [`CliError::Read`] if the file cannot be opened; [`CliError::Argument`] for an event
/// log that no built-in mapping fits.
pub fn open_source(path: &Path, format: InputFormat) -> Result<Box<dyn EventSource>, CliError> {
    open_source_with_mapping(path, format, None)
}

/// Opens `path` as an event source of `format`; an event log is read with `mapping`
/// (`receipt`, `bpic15` or a mapping file; `None` detects one).
///
/// # Errors
/// [`CliError::Read`] if the file or the mapping file cannot be read;
/// [`CliError::Argument`] (flag `mapping`) for an invalid mapping or a log none fits.
pub fn open_source_with_mapping(
    path: &Path,
    format: InputFormat,
    mapping: Option<&str>,
) -> Result<Box<dyn EventSource>, CliError> {
    let log_format = |fallback: LogFormat| LogFormat::of_path(path).unwrap_or(fallback);
    match format.resolve(path) {
        InputFormat::Csv => {
            let format = log_format(LogFormat::Csv);
            return Ok(Box::new(LogSource::open(path, format, mapping)?));
        }
        InputFormat::Xes => {
            let format = match log_format(LogFormat::Xes(Compression::None)) {
                LogFormat::Csv => LogFormat::Xes(Compression::None),
                xes => xes,
            };
            return Ok(Box::new(LogSource::open(path, format, mapping)?));
        }
        InputFormat::Auto | InputFormat::Jsonl => {}
    }
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| CliError::Read {
        path: shown.clone(),
        source,
    })?;
    let total_bytes = file.metadata().ok().map(|metadata| metadata.len());
    Ok(Box::new(JsonLinesSource::new(
        BufReader::new(file),
        shown,
        total_bytes,
    )))
}

/// Streams every event of `source` over `IngestService.Ingest` on `channel`, with up
/// to `options.window` requests unacknowledged, and tallies the acks.
///
/// Never fails as a whole: a failure of the stream or of the file is returned in
/// [`PushOutcome::failure`] next to what was acknowledged before it.
pub async fn push(
    channel: AuthorizedChannel,
    server: &str,
    source: Box<dyn EventSource>,
    options: PushOptions,
    progress: &Progress,
) -> PushOutcome {
    let mut summary = PushSummary::default();
    let (batch_tx, batch_rx) = mpsc::channel(READ_AHEAD_BATCHES);
    // Parsing is blocking file I/O and CPU work; it runs beside the stream so that
    // reading the next batch overlaps waiting for acks.
    let batch_size = options.batch_size;
    let reader = tokio::task::spawn_blocking(move || read_batches(source, batch_size, &batch_tx));
    let stream_failure =
        stream_batches(channel, server, batch_rx, options, progress, &mut summary).await;
    // If the stream failed, `batch_rx` is gone by now, so a reader blocked on a full
    // channel wakes up and stops.
    let read_failure = match reader.await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(err),
        Err(join_error) => Some(CliError::Protocol {
            server: server.to_owned(),
            reason: format!("the file reader stopped: {join_error}"),
        }),
    };
    summary.server = server.to_owned();
    PushOutcome {
        summary,
        failure: stream_failure.or(read_failure),
    }
}

/// The events of one request, with their lines, and the lines skipped before them.
#[derive(Debug, Default)]
struct Batch {
    /// The events to send, at most `batch_size`.
    events: Vec<pb::Event>,
    /// `lines[i]` is the line of `events[i]`.
    lines: Vec<u64>,
    /// Lines read since the previous batch that are not events.
    unreadable: Vec<UnreadableLine>,
    /// Bytes of the input consumed up to the end of this batch.
    end_bytes: u64,
}

/// A request sent and not yet acknowledged.
#[derive(Debug)]
struct InFlight {
    /// Its `request_index` on the stream.
    request_index: u64,
    /// The line of each of its events, by `event_index`.
    lines: Vec<u64>,
    /// Bytes of the input consumed up to the end of it, for progress.
    end_bytes: u64,
}

/// Reads `source` into batches of up to `batch_size` events and [`BATCH_BYTES_BUDGET`]
/// encoded bytes, and sends them to `batch_tx` until the input ends or the receiver is
/// gone.
fn read_batches(
    mut source: Box<dyn EventSource>,
    batch_size: usize,
    batch_tx: &mpsc::Sender<Batch>,
) -> Result<(), CliError> {
    let mut batch = Batch::default();
    let mut batch_bytes = 0;
    while let Some(record) = source.next_record()? {
        let (line, event) = match record {
            SourceRecord::Unreadable { line, message } => {
                batch.unreadable.push(UnreadableLine { line, message });
                continue;
            }
            SourceRecord::Event { line, event } => (line, event),
        };
        let event_bytes = event.encoded_len();
        if event_bytes > BATCH_BYTES_BUDGET {
            batch.unreadable.push(UnreadableLine {
                line,
                message: format!(
                    "event is {event_bytes} bytes encoded, over the server's 1 MiB request limit"
                ),
            });
            continue;
        }
        if batch_bytes + event_bytes > BATCH_BYTES_BUDGET {
            batch.end_bytes = source.bytes_read();
            if batch_tx.blocking_send(std::mem::take(&mut batch)).is_err() {
                return Ok(());
            }
            batch_bytes = 0;
        }
        batch.events.push(event);
        batch.lines.push(line);
        batch_bytes += event_bytes;
        if batch.events.len() == batch_size {
            batch.end_bytes = source.bytes_read();
            if batch_tx.blocking_send(std::mem::take(&mut batch)).is_err() {
                return Ok(());
            }
            batch_bytes = 0;
        }
    }
    if !batch.events.is_empty() || !batch.unreadable.is_empty() {
        batch.end_bytes = source.bytes_read();
        // A closed receiver means the stream already failed; nothing is lost here.
        let _ = batch_tx.blocking_send(batch);
    }
    Ok(())
}

/// Sends the batches from `batch_rx` on one Ingest stream and folds the acks into
/// `summary`; returns why the stream stopped early, if it did.
async fn stream_batches(
    channel: AuthorizedChannel,
    server: &str,
    mut batch_rx: mpsc::Receiver<Batch>,
    options: PushOptions,
    progress: &Progress,
    summary: &mut PushSummary,
) -> Option<CliError> {
    // The window bounds the requests in flight, and every queued request is in
    // flight, so this channel always has room when a request is sent.
    let (request_tx, request_rx) = mpsc::channel(options.window);
    let mut request_tx = Some(request_tx);
    let mut client = pb::ingest_service_client::IngestServiceClient::new(channel);
    let mut acks = match client.ingest(ReceiverStream::new(request_rx)).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Some(rpc_failure(server, &status)),
    };
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut next_request_index: u64 = 0;
    let mut reading = true;
    while reading || !in_flight.is_empty() {
        tokio::select! {
            batch = batch_rx.recv(), if reading && in_flight.len() < options.window => {
                let Some(batch) = batch else {
                    reading = false;
                    // Half-close now rather than after the last ack: the server acks
                    // every request received once the client half-closes, and may wait
                    // for more requests (group commit) until then.
                    request_tx = None;
                    continue;
                };
                summary.unreadable += batch.unreadable.len() as u64;
                summary.unreadable_lines.extend(batch.unreadable);
                if batch.events.is_empty() {
                    continue;
                }
                summary.sent += batch.events.len() as u64;
                in_flight.push_back(InFlight {
                    request_index: next_request_index,
                    lines: batch.lines,
                    end_bytes: batch.end_bytes,
                });
                next_request_index += 1;
                // A closed stream means the server ended the call; its status
                // arrives with the next ack read, so keep reading acks.
                if let Some(request_tx) = &request_tx {
                    let _ = request_tx.try_send(pb::IngestRequest {
                        events: batch.events,
                        backfill: options.backfill,
                    });
                }
            }
            ack = acks.message(), if !in_flight.is_empty() => {
                if let Err(failure) = take_ack(ack, &mut in_flight, summary, progress, server) {
                    summary.unacknowledged += in_flight
                        .iter()
                        .map(|request| request.lines.len() as u64)
                        .sum::<u64>();
                    return Some(failure);
                }
            }
        }
    }
    // Every request is acknowledged and the stream half-closed: the server ends it.
    match acks.message().await {
        Ok(None) => None,
        Ok(Some(ack)) => Some(protocol_failure(
            server,
            format!("ack for request {} that was never sent", ack.request_index),
        )),
        Err(status) => Some(rpc_failure(server, &status)),
    }
}

/// Takes the next message of the ack stream: folds an ack into `summary` and retires
/// the oldest request in flight, or returns why the stream cannot go on.
fn take_ack(
    ack: Result<Option<pb::IngestAck>, tonic::Status>,
    in_flight: &mut VecDeque<InFlight>,
    summary: &mut PushSummary,
    progress: &Progress,
    server: &str,
) -> Result<(), CliError> {
    let ack = match ack {
        Ok(Some(ack)) => ack,
        Ok(None) => {
            return Err(protocol_failure(
                server,
                format!(
                    "the stream ended with {} requests unacknowledged",
                    in_flight.len()
                ),
            ))
        }
        Err(status) => return Err(rpc_failure(server, &status)),
    };
    let Some(request) = in_flight.pop_front() else {
        return Err(protocol_failure(
            server,
            format!("ack for request {} that was never sent", ack.request_index),
        ));
    };
    if let Err(reason) = apply_ack(summary, &request, ack) {
        summary.unacknowledged += request.lines.len() as u64;
        return Err(protocol_failure(server, reason));
    }
    progress.update(request.end_bytes, progress_message(summary));
    Ok(())
}

/// Folds the ack of `request` into `summary`, or says why it does not fit.
fn apply_ack(
    summary: &mut PushSummary,
    request: &InFlight,
    ack: pb::IngestAck,
) -> Result<(), String> {
    if ack.request_index != request.request_index {
        return Err(format!(
            "ack for request {} while request {} was the oldest unacknowledged",
            ack.request_index, request.request_index
        ));
    }
    if ack.results.len() != request.lines.len() {
        return Err(format!(
            "ack for request {} has {} results for {} events",
            ack.request_index,
            ack.results.len(),
            request.lines.len()
        ));
    }
    // Check every result before counting any, so that a bad ack counts its whole
    // request as unacknowledged rather than half of it.
    let mut results = Vec::with_capacity(ack.results.len());
    for result in ack.results {
        let line = usize::try_from(result.event_index)
            .ok()
            .and_then(|event_index| request.lines.get(event_index))
            .copied()
            .ok_or_else(|| {
                format!(
                    "ack for request {} names event_index {} of {} events",
                    ack.request_index,
                    result.event_index,
                    request.lines.len()
                )
            })?;
        if result.outcome() == pb::EventOutcome::Unspecified {
            return Err(format!(
                "ack for request {} has no outcome for the event on line {line}",
                ack.request_index
            ));
        }
        results.push((line, result));
    }
    for (line, result) in results {
        count_result(summary, line, result);
    }
    Ok(())
}

/// Counts one checked result of the event on `line`.
fn count_result(summary: &mut PushSummary, line: u64, result: pb::EventResult) {
    match result.outcome() {
        // Checked by the caller; counted nowhere rather than panicking.
        pb::EventOutcome::Unspecified => {}
        pb::EventOutcome::Accepted => summary.accepted += 1,
        pb::EventOutcome::Duplicate => summary.duplicate += 1,
        pb::EventOutcome::Conflict => {
            summary.conflicting += 1;
            summary.conflicts.push(ConflictReport {
                line,
                event_id: result.event_id,
                description: result
                    .conflict
                    .map(|conflict| conflict.description)
                    .unwrap_or_default(),
            });
        }
        pb::EventOutcome::Rejected => {
            summary.rejected += 1;
            let rejection = result.rejection.unwrap_or_default();
            summary.rejections.push(RejectionReport {
                line,
                event_id: result.event_id,
                reason: rejection.reason().as_str_name().to_owned(),
                field_path: rejection.field_path,
                value: rejection.value,
                message: rejection.message,
            });
        }
    }
}

/// Parses one non-blank line as a proto3 JSON event.
fn parse_event_line(line: u64, text: &str) -> SourceRecord {
    match serde_json::from_str::<pb::Event>(text) {
        Ok(event) => SourceRecord::Event { line, event },
        Err(err) => SourceRecord::Unreadable {
            line,
            message: json_error_text(&err),
        },
    }
}

/// serde's message with the column; the "line 1" serde adds is always 1 for one line,
/// so it is dropped in favour of the file's line number.
fn json_error_text(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&suffix) {
        Some(message) if err.column() > 0 => format!("{message} (column {})", err.column()),
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// `REJECTION_REASON_INVALID_VALUE` as "invalid value".
fn reason_text(reason: &str) -> String {
    reason
        .strip_prefix("REJECTION_REASON_")
        .unwrap_or(reason)
        .to_lowercase()
        .replace('_', " ")
}

/// The text beside the progress bar.
fn progress_message(summary: &PushSummary) -> String {
    format!(
        "{} accepted, {} duplicate, {} not stored",
        summary.accepted,
        summary.duplicate,
        summary.n_not_stored()
    )
}

/// A failed stream, as an error naming the RPC.
fn rpc_failure(server: &str, status: &tonic::Status) -> CliError {
    CliError::Rpc {
        server: server.to_owned(),
        rpc: INGEST_RPC,
        code: status.code(),
        message: status.message().to_owned(),
    }
}

/// A reply the API does not allow.
fn protocol_failure(server: &str, reason: String) -> CliError {
    CliError::Protocol {
        server: server.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// Every record of `text` read as JSON Lines.
    fn read_all(text: &[u8]) -> Vec<SourceRecord> {
        let mut source = JsonLinesSource::new(Cursor::new(text.to_vec()), "test.jsonl", None);
        let mut records = Vec::new();
        while let Some(record) = source.next_record().unwrap() {
            records.push(record);
        }
        assert_eq!(source.bytes_read(), text.len() as u64);
        records
    }

    /// The `json` code blocks of a Markdown text.
    fn json_blocks(markdown: &str) -> Vec<String> {
        let mut blocks = Vec::new();
        let mut current: Option<String> = None;
        for line in markdown.lines() {
            match (&mut current, line.trim()) {
                (None, "```json") => current = Some(String::new()),
                (Some(block), "```") => {
                    blocks.push(std::mem::take(block));
                    current = None;
                }
                (Some(block), text) => block.push_str(text),
                (None, _) => {}
            }
        }
        blocks
    }

    #[test]
    fn every_line_of_the_example_file_is_an_event() {
        let text = include_str!("../../examples/events.jsonl");
        let records = read_all(text.as_bytes());
        assert_eq!(records.len(), text.lines().count());
        for record in records {
            let SourceRecord::Event { event, line } = record else {
                panic!("not an event: {record:?}");
            };
            assert!(event.kind.is_some(), "line {line} has no kind");
            assert!(event.occurred_at.is_some(), "line {line} has no occurredAt");
        }
    }

    #[test]
    fn every_example_in_the_docs_is_an_event_and_every_kind_has_one() {
        let blocks = json_blocks(include_str!("../../docs/events.md"));
        let mut kinds = std::collections::BTreeSet::new();
        for block in &blocks {
            let event: pb::Event =
                serde_json::from_str(block).unwrap_or_else(|err| panic!("{err}: {block}"));
            let kind = event.kind.expect("every example has a kind");
            // The discriminant names the variant without listing the 18 of them here.
            kinds.insert(format!("{kind:?}").split('(').next().unwrap().to_owned());
        }
        assert_eq!(kinds.len(), 18, "kinds with an example: {kinds:?}");
        assert_eq!(blocks.len(), 18);
    }

    #[test]
    fn every_example_line_in_the_readme_is_an_event_and_every_kind_has_one() {
        let readme = include_str!("../../README.md");
        let lines: Vec<&str> = readme
            .split("```json\n")
            .skip(1)
            .filter_map(|block| block.split("```").next())
            .flat_map(str::lines)
            .filter(|line| line.contains("\"eventId\""))
            .collect();
        let mut kinds = std::collections::BTreeSet::new();
        for line in &lines {
            let event: pb::Event =
                serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
            let kind = event.kind.expect("every example has a kind");
            kinds.insert(format!("{kind:?}").split('(').next().unwrap().to_owned());
        }
        assert_eq!(
            kinds.len(),
            18,
            "kinds with an example in README.md: {kinds:?}"
        );
    }

    #[test]
    fn timestamps_read_with_an_offset_are_instants() {
        let record = parse_event_line(
            7,
            r#"{"eventId":"e","fileId":"f","occurredAt":"2026-03-02T08:15:00+07:00","source":"s","returned":{}}"#,
        );
        let SourceRecord::Event { line, event } = record else {
            panic!("not an event: {record:?}");
        };
        assert_eq!(line, 7);
        let occurred_at = event.occurred_at.unwrap();
        // 2026-03-02T01:15:00Z.
        assert_eq!(occurred_at.seconds, 1_772_414_100);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["occurredAt"], "2026-03-02T01:15:00+00:00");
        assert_eq!(json["returned"], serde_json::json!({}));
    }

    #[test]
    fn durations_use_the_proto3_json_form() {
        let duration = crate::proto::wkt::Duration {
            seconds: 1,
            nanos: 500_000_000,
        };
        assert_eq!(serde_json::to_value(duration).unwrap(), "1.500s");
        let read: crate::proto::wkt::Duration = serde_json::from_str("\"1.5s\"").unwrap();
        assert_eq!(read, duration);
    }

    #[test]
    fn proto_field_names_and_enum_numbers_are_accepted() {
        let record = parse_event_line(
            1,
            r#"{"event_id":"e","file_id":"f","source":"s","received":{"procedure_code":"2.000488","channel":1,"receiving_unit_id":"ttphvhcc"}}"#,
        );
        let SourceRecord::Event { event, .. } = record else {
            panic!("not an event: {record:?}");
        };
        let Some(pb::event::Kind::Received(received)) = event.kind else {
            panic!("not received");
        };
        assert_eq!(received.channel(), pb::Channel::InPerson);
        assert_eq!(received.receiving_unit_id, "ttphvhcc");
    }

    #[test]
    fn bad_lines_are_reported_with_their_line_and_blank_lines_skipped() {
        let text = b"\xef\xbb\xbf{\"eventId\":\"a\",\"returned\":{}}\n\n  \n{\"eventId\":\n{\"occured_at\":\"x\"}\n\xff\xfe\r\n{\"eventId\":\"b\",\"occurredAt\":\"yesterday\"}\r\n{\"eventId\":\"c\"}";
        let records = read_all(text);
        let summary: Vec<(u64, bool)> = records
            .iter()
            .map(|record| match record {
                SourceRecord::Event { line, .. } => (*line, true),
                SourceRecord::Unreadable { line, .. } => (*line, false),
            })
            .collect();
        assert_eq!(
            summary,
            [
                (1, true),
                (4, false),
                (5, false),
                (6, false),
                (7, false),
                (8, true)
            ]
        );
        let messages: Vec<&str> = records
            .iter()
            .filter_map(|record| match record {
                SourceRecord::Unreadable { message, .. } => Some(message.as_str()),
                SourceRecord::Event { .. } => None,
            })
            .collect();
        assert!(
            messages[0].starts_with("EOF while parsing"),
            "{}",
            messages[0]
        );
        assert!(
            messages[1].contains("unknown field `occured_at`"),
            "{}",
            messages[1]
        );
        assert_eq!(messages[2], "not valid UTF-8");
        assert!(messages[3].ends_with("(column 39)"), "{}", messages[3]);
        // The position is the column of the line, not serde's "line 1".
        assert!(!messages[3].contains("line 1"), "{}", messages[3]);
    }

    #[test]
    fn batches_hold_at_most_batch_size_events_in_line_order() {
        let mut text = String::new();
        for event_idx in 0..7 {
            text.push_str(&format!(
                "{{\"eventId\":\"e-{event_idx}\",\"returned\":{{}}}}\n"
            ));
            if event_idx == 3 {
                text.push_str("not json\n");
            }
        }
        let source = Box::new(JsonLinesSource::new(
            Cursor::new(text.into_bytes()),
            "t",
            None,
        ));
        let (batch_tx, mut batch_rx) = mpsc::channel(16);
        read_batches(source, 3, &batch_tx).unwrap();
        drop(batch_tx);
        let mut batches = Vec::new();
        while let Ok(batch) = batch_rx.try_recv() {
            batches.push(batch);
        }
        let lines: Vec<Vec<u64>> = batches.iter().map(|batch| batch.lines.clone()).collect();
        assert_eq!(lines, [vec![1, 2, 3], vec![4, 6, 7], vec![8]]);
        let unreadable: Vec<u64> = batches
            .iter()
            .flat_map(|batch| batch.unreadable.iter().map(|line| line.line))
            .collect();
        assert_eq!(unreadable, [5]);
    }

    #[test]
    fn an_event_over_the_request_limit_is_not_sent() {
        let long_reason = "x".repeat(MAX_REQUEST_BYTES);
        let text = format!(
            "{{\"eventId\":\"big\",\"rejected\":{{\"reason\":\"{long_reason}\"}}}}\n{{\"eventId\":\"small\",\"returned\":{{}}}}\n"
        );
        let source = Box::new(JsonLinesSource::new(
            Cursor::new(text.into_bytes()),
            "t",
            None,
        ));
        let (batch_tx, mut batch_rx) = mpsc::channel(16);
        read_batches(source, 500, &batch_tx).unwrap();
        let batch = batch_rx.try_recv().unwrap();
        assert_eq!(batch.lines, [2]);
        assert_eq!(batch.unreadable.len(), 1);
        assert_eq!(batch.unreadable[0].line, 1);
        assert!(batch.unreadable[0].message.contains("1 MiB"));
    }

    #[test]
    fn settings_outside_their_range_are_refused() {
        assert!(matches!(
            PushOptions::new(0, 8),
            Err(CliError::Argument {
                flag: "batch-size",
                ..
            })
        ));
        assert!(matches!(
            PushOptions::new(1_001, 8),
            Err(CliError::Argument {
                flag: "batch-size",
                ..
            })
        ));
        assert!(matches!(
            PushOptions::new(500, 0),
            Err(CliError::Argument { flag: "window", .. })
        ));
        assert!(PushOptions::new(1_000, 64).is_ok());
    }

    #[test]
    fn rejection_reasons_read_as_words() {
        assert_eq!(
            reason_text("REJECTION_REASON_INVALID_VALUE"),
            "invalid value"
        );
        assert_eq!(reason_text("REJECTION_REASON_OUT_OF_SCOPE"), "out of scope");
    }
}
