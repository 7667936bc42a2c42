//! `dunghan demo`: starts a server in-process on its embedded defaults, loads the generated
//! province through `CatalogService.LoadCatalog`, feeds the generated files through
//! `IngestService.Ingest` (as a backfill: the events are simulated history), prints a live
//! summary, then keeps serving so the user can query it.
//!
//! The server's clock is a [`DemoClock`] that follows the simulated time, so verdicts and
//! alerts are computed "as of" the simulation: an open file is overdue when the simulated
//! time has passed its due time, not the wall clock. With `--speed X` the simulated time
//! runs at most X times faster than real time (nights and weekends pass in moments);
//! `--as-fast-as-possible` does not wait at all.
//!
//! The summary reads the server's own state (counters, file summaries) in-process and the
//! latest alerts over `AlertService.ListAlerts`, or from the stored alerts while that
//! service answers UNIMPLEMENTED. It writes to the writer it is given, never to stdout
//! directly; the progress bar goes to stderr.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::province::{Province, ProvinceConfig};
use super::workload::{Examples, Planned, Workload, WorkloadConfig};
use super::DemoError;
use crate::cli::client::{connect_authorized, AuthorizedChannel, ClientArgs};
use crate::config::Config;
use crate::engine::{Clock, EngineHandle};
use crate::proto::v1 as pb;
use crate::server;
use crate::store::SummaryStanding;

/// Events per ingest request.
const BATCH_EVENTS: usize = 500;

/// Requests queued per stream ahead of the sender.
const STREAM_QUEUE: usize = 4;

/// How often the live summary is written.
const SUMMARY_EVERY: StdDuration = StdDuration::from_secs(3);

/// How often the engine is asked to re-judge the files that fell due in simulated time.
const TICK_EVERY: StdDuration = StdDuration::from_millis(500);

/// The longest real sleep before the clock is moved on, in speed mode.
const SLEEP_SLICE: StdDuration = StdDuration::from_millis(200);

/// Arguments of `dunghan demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Seed of the simulation: the same seed gives the same province and the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Months of files to simulate, 1 to 24.
    #[arg(long, default_value_t = 3)]
    pub months: u32,
    /// Communes (each with its one-stop center), 1 to 500.
    #[arg(long, default_value_t = 30)]
    pub communes: usize,
    /// First day of the simulation, YYYY-MM-DD (default 2025-12-01: month ends, the new
    /// year and the pre-Tết surge of 2026).
    #[arg(long)]
    pub start: Option<NaiveDate>,
    /// Simulated seconds per real second (86400: a simulated day per second), at most.
    #[arg(
        long,
        default_value_t = 86_400.0,
        conflicts_with = "as_fast_as_possible"
    )]
    pub speed: f64,
    /// Do not wait: feed the events as fast as the server takes them.
    #[arg(long)]
    pub as_fast_as_possible: bool,
    /// Data directory of the demo server (default: a temporary directory, removed at exit).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address the demo server listens on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Concurrent ingest streams, 1 to 16.
    #[arg(long, default_value_t = 4)]
    pub streams: usize,
    /// Stop the server when everything is fed, instead of serving until Ctrl-C (tests, CI).
    #[arg(long)]
    pub exit_when_done: bool,
    /// Also serve Prometheus metrics on this address (`GET /metrics`), as `dunghan serve
    /// --metrics-listen` does.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
}

/// The settings of one demo run, checked.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seed.
    pub seed: u64,
    /// Months simulated.
    pub months: u32,
    /// Communes.
    pub communes: usize,
    /// First simulated day.
    pub start: NaiveDate,
    /// Simulated seconds per real second; `None` for as fast as possible.
    pub speed: Option<f64>,
    /// Data directory; `None` for a temporary one.
    pub data_dir: Option<PathBuf>,
    /// Listen address.
    pub listen: SocketAddr,
    /// Concurrent ingest streams.
    pub streams: usize,
    /// Stop when done instead of serving until Ctrl-C.
    pub exit_when_done: bool,
    /// Address of the metrics endpoint, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// What a demo run did.
#[derive(Debug, Clone, Default)]
pub struct DemoReport {
    /// The address the server listened on.
    pub local_addr: Option<SocketAddr>,
    /// Events sent.
    pub sent: u64,
    /// Events the server accepted.
    pub accepted: u64,
    /// Events the server reported as duplicates.
    pub duplicate: u64,
    /// Events the server reported as conflicts.
    pub conflicting: u64,
    /// Events the server rejected.
    pub rejected: u64,
    /// The first few rejections and conflicts, in words.
    pub problems: Vec<String>,
    /// The server's view at the end of the simulated period.
    pub snapshot: Snapshot,
    /// What the generator planned.
    pub planned: Planned,
    /// File ids worth looking at.
    pub examples: Examples,
    /// Whether Ctrl-C cut the feeding short (the demo then stops instead of serving).
    pub interrupted: bool,
}

/// The server's view of the files at one simulated instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The simulated instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Files stored.
    pub files: u64,
    /// Finished files, early.
    pub early: i64,
    /// Finished files, on time.
    pub on_time: i64,
    /// Finished files, late.
    pub late: i64,
    /// Judged files still open.
    pub open: u64,
    /// Open files past their due time.
    pub overdue: u64,
    /// The latest alerts, in words, newest last.
    pub alerts: Vec<String>,
    /// Where the alerts came from (the AlertService, or the stored state).
    pub alerts_from: &'static str,
}

/// A clock that follows the simulated time: the engine's "now" during the demo.
#[derive(Debug)]
pub struct DemoClock {
    /// Unix milliseconds of the simulated now; it only moves forward.
    millis: AtomicI64,
}

/// Acknowledged outcomes across the ingest streams.
#[derive(Debug, Default)]
struct Tally {
    sent: AtomicU64,
    accepted: AtomicU64,
    duplicate: AtomicU64,
    conflicting: AtomicU64,
    rejected: AtomicU64,
    problems: Mutex<Vec<String>>,
}

impl DemoClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> DemoClock {
        DemoClock {
            millis: AtomicI64::new(at.timestamp_millis()),
        }
    }

    /// Moves the clock to `at` if that is later than where it stands.
    pub fn advance_to(&self, at: DateTime<Utc>) {
        self.millis
            .fetch_max(at.timestamp_millis(), AtomicOrdering::SeqCst);
    }
}

impl Clock for DemoClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.millis.load(AtomicOrdering::SeqCst))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl DemoArgs {
    /// The checked options of these arguments.
    ///
    /// # Errors
    /// [`DemoError::Argument`] for a value out of range.
    pub fn options(&self) -> Result<DemoOptions, DemoError> {
        let bad = |flag: &'static str, value: String, reason: &str| DemoError::Argument {
            flag,
            value,
            reason: reason.to_owned(),
        };
        if !(1..=24).contains(&self.months) {
            return Err(bad("months", self.months.to_string(), "must be 1 to 24"));
        }
        if !(1..=500).contains(&self.communes) {
            return Err(bad(
                "communes",
                self.communes.to_string(),
                "must be 1 to 500",
            ));
        }
        if !(1..=16).contains(&self.streams) {
            return Err(bad("streams", self.streams.to_string(), "must be 1 to 16"));
        }
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(bad(
                "speed",
                self.speed.to_string(),
                "must be a positive number",
            ));
        }
        let start = self.start.unwrap_or_else(default_start);
        if !(2001..=2098).contains(&chrono::Datelike::year(&start)) {
            return Err(bad(
                "start",
                start.to_string(),
                "must lie within the calendar's horizon (2001 to 2098)",
            ));
        }
        Ok(DemoOptions {
            seed: self.seed,
            months: self.months,
            communes: self.communes,
            start,
            speed: (!self.as_fast_as_possible).then_some(self.speed),
            data_dir: self.data_dir.clone(),
            listen: self.listen,
            streams: self.streams,
            exit_when_done: self.exit_when_done,
            metrics_listen: self.metrics_listen,
            progress: true,
        })
    }
}

/// The province config of a demo: the catalog in force five months before the start,
/// memberships and heads reshuffled halfway through.
pub fn province_config(options: &DemoOptions) -> ProvinceConfig {
    let mut config = ProvinceConfig::new(options.seed, options.communes);
    config.effective_from = options
        .start
        .checked_sub_months(chrono::Months::new(5))
        .unwrap_or(options.start);
    config.reshuffle_on = options
        .start
        .checked_add_days(chrono::Days::new(u64::from(options.months) * 15))
        .unwrap_or(options.start);
    config
}

/// Runs `dunghan demo` with `args`, writing the summary to `out`.
///
/// # Errors
/// As [`run_with`].
pub async fn run(args: &DemoArgs, out: &mut dyn Write) -> Result<(), DemoError> {
    let options = args.options()?;
    run_with(&options, out).await.map(|_| ())
}

/// Runs a demo with `options`: serves, loads, feeds, summarizes, then serves until Ctrl-C
/// (or stops at once with `exit_when_done`).
///
/// # Errors
/// [`DemoError`] if the server cannot start, the catalog is refused, or a stream fails.
pub async fn run_with(options: &DemoOptions, out: &mut dyn Write) -> Result<DemoReport, DemoError> {
    let province = Arc::new(Province::generate(province_config(options)));
    let document = province.catalog_document();
    let workload = Workload::new(
        Arc::clone(&province),
        WorkloadConfig::months(options.seed, options.start, options.months),
    )?;
    let period_start = local_midnight(options.start);
    let period_end = workload.end().unwrap_or(period_start);
    let (_temp_dir, data_dir) = match &options.data_dir {
        Some(dir) => (None, dir.clone()),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("dunghan-demo-")
                .tempdir()
                .map_err(DemoError::TempDir)?;
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    };
    let config = Config {
        listen: options.listen,
        data_dir: data_dir.clone(),
        metrics_listen: options.metrics_listen,
        ..Config::default()
    };
    let clock = Arc::new(DemoClock::new(period_start));
    let running = server::start(&config, Arc::clone(&clock) as Arc<dyn Clock>).await?;
    let server_url = format!("http://{}", running.local_addr);
    writeln!(
        out,
        "dunghan demo: {} with {} departments, {} communes, {} units, {} officers, {} procedures",
        province.name,
        province
            .units
            .iter()
            .filter(|unit| unit.kind == super::province::UnitKindName::Department)
            .count(),
        options.communes,
        province.units.len(),
        province.officers.len(),
        province.procedures.len()
    )?;
    writeln!(
        out,
        "simulating {} to {} (seed {}), {}; server on {server_url}, data in {}",
        options.start,
        calendar_date(period_end),
        options.seed,
        match options.speed {
            Some(speed) => format!("up to {speed} simulated seconds per second"),
            None => "as fast as possible".to_owned(),
        },
        data_dir.display()
    )?;
    let channel = connect_authorized(&ClientArgs::for_server(server_url.clone()))
        .await
        .map_err(|err| DemoError::Connect {
            server: server_url.clone(),
            reason: err.to_string(),
        })?;
    if let Some(metrics_addr) = running.metrics_addr() {
        writeln!(out, "metrics on http://{metrics_addr}/metrics")?;
    }
    load_catalog(channel.clone(), &document).await?;
    writeln!(out, "loaded the catalog through CatalogService.LoadCatalog")?;
    let engine = running.engine().clone();
    let feed = feed(
        options,
        workload,
        channel.clone(),
        Arc::clone(&clock),
        engine.clone(),
        out,
    )
    .await;
    let mut report = match feed {
        Ok(report) => report,
        Err(err) => {
            let _ = running.stop().await;
            return Err(err);
        }
    };
    // The end of the simulated period: judge the open files as of then.
    clock.advance_to(period_end);
    let _ = engine.tick().await;
    let mut alerts = AlertSource::new(channel.clone());
    report.snapshot = snapshot(&engine, &mut alerts).await?;
    report.local_addr = Some(running.local_addr);
    let period = (options.start, calendar_date(period_end));
    write_final(out, &report, &server_url, period)?;
    if options.exit_when_done || report.interrupted {
        running.stop().await?;
        return Ok(report);
    }
    writeln!(out, "serving on {server_url} until Ctrl-C")?;
    out.flush()?;
    running.serve_until(server::shutdown_signal()).await?;
    Ok(report)
}

/// Loads the province's catalog document through the real CatalogService.
async fn load_catalog(channel: AuthorizedChannel, document: &str) -> Result<(), DemoError> {
    let mut client = pb::catalog_service_client::CatalogServiceClient::new(channel);
    let response = client
        .load_catalog(pb::LoadCatalogRequest {
            document: document.to_owned(),
            format: pb::CatalogFormat::Toml as i32,
            document_name: "demo-province.toml".to_owned(),
            dry_run: false,
        })
        .await
        .map_err(|status| rpc_error("CatalogService.LoadCatalog", &status))?
        .into_inner();
    let errors: Vec<String> = response
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.level() == pb::DiagnosticLevel::Error)
        .map(|diagnostic| format!("{diagnostic:?}"))
        .collect();
    if !response.applied || !errors.is_empty() {
        return Err(DemoError::CatalogRefused { errors });
    }
    Ok(())
}

/// Feeds the workload through `options.streams` concurrent Ingest streams, moving the clock
/// with the simulated time and writing a summary every few seconds.
async fn feed(
    options: &DemoOptions,
    workload: Workload,
    channel: AuthorizedChannel,
    clock: Arc<DemoClock>,
    engine: EngineHandle,
    out: &mut dyn Write,
) -> Result<DemoReport, DemoError> {
    let tally = Arc::new(Tally::default());
    let mut senders = Vec::with_capacity(options.streams);
    let mut streams = Vec::with_capacity(options.streams);
    for _ in 0..options.streams {
        let (batch_tx, batch_rx) = mpsc::channel::<Vec<pb::Event>>(STREAM_QUEUE);
        senders.push(batch_tx);
        streams.push(tokio::spawn(stream_events(
            channel.clone(),
            batch_rx,
            Arc::clone(&tally),
        )));
    }
    let period_start = local_midnight(options.start);
    let period_secs = workload
        .end()
        .map_or(1, |end| (end - period_start).num_seconds().max(1));
    let bar = progress_bar(options.progress, period_secs);
    let watermark = Arc::new(Watermark::default());
    let speed = options.speed;
    let interrupted = Arc::new(AtomicBool::new(false));
    let dispatcher = {
        let clock = Arc::clone(&clock);
        let watermark = Arc::clone(&watermark);
        let tally = Arc::clone(&tally);
        let interrupted = Arc::clone(&interrupted);
        tokio::task::spawn_blocking(move || {
            dispatch(
                workload,
                &senders,
                &clock,
                &watermark,
                &tally,
                speed,
                period_start,
                &interrupted,
            )
        })
    };
    tokio::pin!(dispatcher);
    let mut summary_timer = tokio::time::interval(SUMMARY_EVERY);
    summary_timer.tick().await;
    let mut tick_timer = tokio::time::interval(TICK_EVERY);
    let mut alerts = AlertSource::new(channel);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let dispatched = loop {
        tokio::select! {
            joined = &mut dispatcher => break joined,
            _ = &mut ctrl_c, if !interrupted.load(AtomicOrdering::SeqCst) => {
                // Stop feeding; what was sent is still acknowledged and summarized.
                interrupted.store(true, AtomicOrdering::SeqCst);
            }
            _ = tick_timer.tick() => {
                // A full queue only delays the re-judging to the next tick.
                watermark.release(tally.answered(), &clock);
                let _ = engine.tick().await;
                let position = (clock.now() - period_start).num_seconds();
                bar.set_position(u64::try_from(position).unwrap_or(0));
                bar.set_message(short_status(&tally, clock.now()));
            }
            _ = summary_timer.tick() => {
                let view = snapshot(&engine, &mut alerts).await?;
                let line = summary_lines(&view, tally.acked());
                bar.suspend(|| out.write_all(line.as_bytes()))?;
            }
        }
    };
    let (planned, examples) = dispatched.map_err(|join| DemoError::Rpc {
        rpc: "generator",
        code: tonic::Code::Internal,
        message: join.to_string(),
    })?;
    let mut failure = None;
    for stream in streams {
        match stream.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => failure = failure.or(Some(err)),
            Err(join) => {
                failure = failure.or(Some(DemoError::Rpc {
                    rpc: "IngestService.Ingest",
                    code: tonic::Code::Internal,
                    message: join.to_string(),
                }));
            }
        }
    }
    bar.finish_and_clear();
    if let Some(err) = failure {
        return Err(err);
    }
    let problems = match tally.problems.lock() {
        Ok(problems) => problems.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    Ok(DemoReport {
        local_addr: None,
        sent: tally.sent.load(AtomicOrdering::SeqCst),
        accepted: tally.accepted.load(AtomicOrdering::SeqCst),
        duplicate: tally.duplicate.load(AtomicOrdering::SeqCst),
        conflicting: tally.conflicting.load(AtomicOrdering::SeqCst),
        rejected: tally.rejected.load(AtomicOrdering::SeqCst),
        problems,
        snapshot: Snapshot::default(),
        planned,
        examples,
        interrupted: interrupted.load(AtomicOrdering::SeqCst),
    })
}

/// Reads the workload on a blocking thread, paces it, and hands batches to the streams
/// (a file's events always to the same stream, so they arrive in order).
#[allow(clippy::too_many_arguments)] // The parts of one feeding; a struct would only rename them.
fn dispatch(
    mut workload: Workload,
    senders: &[mpsc::Sender<Vec<pb::Event>>],
    clock: &DemoClock,
    watermark: &Watermark,
    tally: &Tally,
    speed: Option<f64>,
    period_start: DateTime<Utc>,
    interrupted: &AtomicBool,
) -> (Planned, Examples) {
    let started = Instant::now();
    let n_streams = senders.len().max(1);
    let mut batches: Vec<Vec<pb::Event>> = vec![Vec::with_capacity(BATCH_EVENTS); n_streams];
    let mut closed = false;
    let mut handed: u64 = 0;
    for event in workload.by_ref() {
        if interrupted.load(AtomicOrdering::Relaxed) {
            break;
        }
        let Some(at) = event
            .occurred_at
            .as_ref()
            .and_then(|ts| DateTime::from_timestamp(ts.seconds, 0))
        else {
            continue;
        };
        if let Some(speed) = speed {
            // Wait until real time catches up with the simulated time of this event,
            // sending what is ready and moving the clock while waiting.
            loop {
                let simulated = period_start
                    + chrono::Duration::milliseconds(
                        (started.elapsed().as_secs_f64() * speed * 1000.0) as i64,
                    );
                if simulated >= at || interrupted.load(AtomicOrdering::Relaxed) {
                    break;
                }
                (closed, handed) = flush(&mut batches, senders, closed, handed);
                watermark.mark(handed, simulated);
                watermark.release(tally.answered(), clock);
                let remaining = (at - simulated).num_milliseconds() as f64 / speed;
                std::thread::sleep(
                    SLEEP_SLICE.min(StdDuration::from_millis(remaining.ceil().max(1.0) as u64)),
                );
            }
        }
        let stream = stream_of(&event.file_id, n_streams);
        batches[stream].push(event);
        if batches[stream].len() >= BATCH_EVENTS {
            (closed, handed) = flush(&mut batches, senders, closed, handed);
            watermark.mark(handed, at);
            watermark.release(tally.answered(), clock);
        }
        if closed {
            break;
        }
    }
    flush(&mut batches, senders, closed, handed);
    (workload.planned(), workload.examples().clone())
}

/// Instants the clock may move to once the events handed before them are answered, so
/// that the server judges "now" only after it has the events before now.
#[derive(Debug, Default)]
struct Watermark {
    /// `(events handed so far, unix milliseconds)`, oldest first.
    checkpoints: Mutex<std::collections::VecDeque<(u64, i64)>>,
}

impl Watermark {
    /// The clock may reach `at` once `handed` events are answered.
    fn mark(&self, handed: u64, at: DateTime<Utc>) {
        if let Ok(mut checkpoints) = self.checkpoints.lock() {
            checkpoints.push_back((handed, at.timestamp_millis()));
        }
    }

    /// Moves `clock` to the latest checkpoint whose events are all answered.
    fn release(&self, answered: u64, clock: &DemoClock) {
        let Ok(mut checkpoints) = self.checkpoints.lock() else {
            return;
        };
        while let Some(&(handed, millis)) = checkpoints.front() {
            if handed > answered {
                break;
            }
            checkpoints.pop_front();
            if let Some(at) = DateTime::from_timestamp_millis(millis) {
                clock.advance_to(at);
            }
        }
    }
}

/// Sends every non-empty batch; returns whether a stream is gone and the events handed.
fn flush(
    batches: &mut [Vec<pb::Event>],
    senders: &[mpsc::Sender<Vec<pb::Event>>],
    mut closed: bool,
    mut handed: u64,
) -> (bool, u64) {
    for (batch, sender) in batches.iter_mut().zip(senders) {
        if batch.is_empty() {
            continue;
        }
        let events = std::mem::replace(batch, Vec::with_capacity(BATCH_EVENTS));
        handed += events.len() as u64;
        closed |= sender.blocking_send(events).is_err();
    }
    (closed, handed)
}

/// One Ingest stream: sends the batches it is handed, tallies the acks.
async fn stream_events(
    channel: AuthorizedChannel,
    mut batches: mpsc::Receiver<Vec<pb::Event>>,
    tally: Arc<Tally>,
) -> Result<(), DemoError> {
    let (request_tx, request_rx) = mpsc::channel(STREAM_QUEUE);
    let mut client = pb::ingest_service_client::IngestServiceClient::new(channel);
    let mut acks = client
        .ingest(ReceiverStream::new(request_rx))
        .await
        .map_err(|status| rpc_error("IngestService.Ingest", &status))?
        .into_inner();
    let sending = {
        let tally = Arc::clone(&tally);
        async move {
            while let Some(events) = batches.recv().await {
                tally
                    .sent
                    .fetch_add(events.len() as u64, AtomicOrdering::Relaxed);
                let request = pb::IngestRequest {
                    events,
                    backfill: true,
                };
                if request_tx.send(request).await.is_err() {
                    break;
                }
            }
            // Dropping the sender half-closes the stream: the server acks what it has.
        }
    };
    let receiving = async {
        loop {
            match acks.message().await {
                Ok(Some(ack)) => tally.count(ack),
                Ok(None) => return Ok(()),
                Err(status) => return Err(rpc_error("IngestService.Ingest", &status)),
            }
        }
    };
    let ((), received) = tokio::join!(sending, receiving);
    received
}

impl Tally {
    /// Events answered in any way.
    fn answered(&self) -> u64 {
        self.acked()
            + self.conflicting.load(AtomicOrdering::Relaxed)
            + self.rejected.load(AtomicOrdering::Relaxed)
    }

    /// Events acknowledged as stored (accepted or duplicate).
    fn acked(&self) -> u64 {
        self.accepted.load(AtomicOrdering::Relaxed) + self.duplicate.load(AtomicOrdering::Relaxed)
    }

    fn count(&self, ack: pb::IngestAck) {
        for result in ack.results {
            let counter = match result.outcome() {
                pb::EventOutcome::Accepted => &self.accepted,
                pb::EventOutcome::Duplicate => &self.duplicate,
                pb::EventOutcome::Conflict => &self.conflicting,
                pb::EventOutcome::Rejected | pb::EventOutcome::Unspecified => &self.rejected,
            };
            counter.fetch_add(1, AtomicOrdering::Relaxed);
            let problem = match (&result.rejection, &result.conflict) {
                (Some(rejection), _) => Some(format!(
                    "event {} rejected: {} {} = {:?}: {}",
                    result.event_id,
                    rejection.reason().as_str_name(),
                    rejection.field_path,
                    rejection.value,
                    rejection.message
                )),
                (None, Some(conflict)) => Some(format!(
                    "event {} conflicts: {}",
                    result.event_id, conflict.description
                )),
                (None, None) => None,
            };
            if let Some(problem) = problem {
                if let Ok(mut problems) = self.problems.lock() {
                    if problems.len() < 20 {
                        problems.push(problem);
                    }
                }
            }
        }
    }
}

/// Where the latest alerts come from.
struct AlertSource {
    client: pb::alert_service_client::AlertServiceClient<AuthorizedChannel>,
    /// Set once the AlertService answered UNIMPLEMENTED.
    unimplemented: bool,
}

impl AlertSource {
    fn new(channel: AuthorizedChannel) -> AlertSource {
        AlertSource {
            client: pb::alert_service_client::AlertServiceClient::new(channel),
            unimplemented: false,
        }
    }

    /// The latest `limit` alerts in words and where they came from.
    async fn latest(&mut self, engine: &EngineHandle, limit: u64) -> (Vec<String>, &'static str) {
        if !self.unimplemented {
            match self.over_grpc(limit).await {
                Ok(alerts) => return (alerts, "AlertService.ListAlerts"),
                Err(status) if status.code() == tonic::Code::Unimplemented => {
                    self.unimplemented = true;
                }
                Err(_) => return (Vec::new(), "AlertService.ListAlerts (failed)"),
            }
        }
        let store = engine.store();
        let last = store.last_alert_sequence().unwrap_or(0);
        let alerts = store
            .alerts_after(
                last.saturating_sub(limit),
                usize::try_from(limit).unwrap_or(5),
            )
            .unwrap_or_default()
            .into_iter()
            .map(|alert| {
                format!(
                    "#{} {} {} {} {}",
                    alert.sequence,
                    alert.kind.name(),
                    alert.file_id,
                    alert
                        .unit_path
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    alert.detail
                )
            })
            .collect();
        (alerts, "the stored alerts (AlertService not served yet)")
    }

    async fn over_grpc(&mut self, limit: u64) -> Result<Vec<String>, tonic::Status> {
        let last = self
            .client
            .list_alerts(pb::ListAlertsRequest {
                page_size: 1,
                ..pb::ListAlertsRequest::default()
            })
            .await?
            .into_inner()
            .last_stored_sequence;
        let page = self
            .client
            .list_alerts(pb::ListAlertsRequest {
                after_sequence: last.saturating_sub(limit),
                page_size: u32::try_from(limit).unwrap_or(5),
                ..pb::ListAlertsRequest::default()
            })
            .await?
            .into_inner();
        Ok(page
            .alerts
            .into_iter()
            .map(|alert| {
                format!(
                    "#{} {} {} {} {}",
                    alert.sequence,
                    alert
                        .kind()
                        .as_str_name()
                        .trim_start_matches("ALERT_KIND_")
                        .to_lowercase(),
                    alert.file_id,
                    alert.unit_id,
                    alert.detail
                )
            })
            .collect())
    }
}

/// The server's view now: counters for the finished files, a scan of the file summaries
/// for the open ones, and the latest alerts.
async fn snapshot(engine: &EngineHandle, alerts: &mut AlertSource) -> Result<Snapshot, DemoError> {
    let reader = engine.clone();
    let counted = tokio::task::spawn_blocking(move || count_files(&reader))
        .await
        .map_err(|join| DemoError::Rpc {
            rpc: "summary",
            code: tonic::Code::Internal,
            message: join.to_string(),
        })??;
    let (latest, from) = alerts.latest(engine, 5).await;
    Ok(Snapshot {
        alerts: latest,
        alerts_from: from,
        ..counted
    })
}

fn count_files(engine: &EngineHandle) -> Result<Snapshot, DemoError> {
    let now = engine.now();
    let mut view = Snapshot {
        as_of: Some(now),
        files: engine.store().n_files() as u64,
        ..Snapshot::default()
    };
    for counts in engine.stored_counters()?.values() {
        view.early += counts.early;
        view.on_time += counts.on_time;
        view.late += counts.late;
    }
    for summary in engine.store().files() {
        let summary = summary.map_err(crate::engine::EngineError::from)?;
        if summary.standing != SummaryStanding::Judged || summary.finished_at.is_some() {
            continue;
        }
        view.open += 1;
        if summary.due.is_some_and(|due| due < now) {
            view.overdue += 1;
        }
    }
    Ok(view)
}

impl Snapshot {
    /// Files finished early or on time among the finished files, if any finished.
    pub fn on_time_rate(&self) -> Option<f64> {
        let finished = self.early + self.on_time + self.late;
        (finished > 0).then(|| (self.early + self.on_time) as f64 / finished as f64)
    }
}

fn summary_lines(view: &Snapshot, acked: u64) -> String {
    let mut text = format!(
        "[{}] {} files, {} events acked; finished: {} early, {} on time, {} late ({}); open {}, overdue now {}\n",
        view.as_of.map(local_minute).unwrap_or_default(),
        view.files,
        acked,
        view.early,
        view.on_time,
        view.late,
        view.on_time_rate()
            .map_or("no file finished yet".to_owned(), |rate| format!("{:.2}% on time", rate * 100.0)),
        view.open,
        view.overdue
    );
    for alert in &view.alerts {
        text.push_str("    alert ");
        text.push_str(alert);
        text.push('\n');
    }
    text
}

fn short_status(tally: &Tally, now: DateTime<Utc>) -> String {
    format!(
        "{} · {} events acked",
        local_minute(now),
        tally.accepted.load(AtomicOrdering::Relaxed)
            + tally.duplicate.load(AtomicOrdering::Relaxed)
    )
}

/// The summary at the end of the feed, and commands to try next; `period` is the first
/// and last simulated day.
fn write_final(
    out: &mut dyn Write,
    report: &DemoReport,
    server_url: &str,
    period: (NaiveDate, NaiveDate),
) -> Result<(), DemoError> {
    let view = &report.snapshot;
    writeln!(out)?;
    writeln!(
        out,
        "done: {} events sent, {} accepted, {} duplicate, {} conflicting, {} rejected",
        report.sent, report.accepted, report.duplicate, report.conflicting, report.rejected
    )?;
    for problem in &report.problems {
        writeln!(out, "  {problem}")?;
    }
    write!(
        out,
        "{}",
        summary_lines(view, report.accepted + report.duplicate)
    )?;
    writeln!(
        out,
        "planned by the generator: {} files ({} refused at the desk, {} on time, {} late, {} withdrawn, {} rejected, {} stopped; {} with supplement requests, {} extended, {} passed back and forth)",
        report.planned.files,
        report.planned.not_accepted,
        report.planned.on_time,
        report.planned.late,
        report.planned.withdrawn,
        report.planned.rejected,
        report.planned.stopped,
        report.planned.supplements,
        report.planned.extended,
        report.planned.buck_passed
    )?;
    writeln!(out, "alerts from {}", view.alerts_from)?;
    let server = if server_url == "http://127.0.0.1:50051" {
        String::new()
    } else {
        format!(" --server {server_url}")
    };
    let late = report
        .examples
        .late_file
        .as_deref()
        .unwrap_or("000.00.00.H99-251201-0001");
    writeln!(out, "\ntry next, in another terminal:")?;
    writeln!(
        out,
        "  dunghan file {late}{server}      # a late file: control slip, who answers for it"
    )?;
    if let Some(file) = &report.examples.buck_passed_file {
        writeln!(
            out,
            "  dunghan file {file}{server}      # passed back and forth between divisions"
        )?;
    }
    if let Some(file) = &report.examples.supplement_file {
        writeln!(
            out,
            "  dunghan file {file}{server}      # a supplement request restarted its clock"
        )?;
    }
    writeln!(out, "  dunghan stats --by unit{server}")?;
    writeln!(out, "  dunghan stats --by field{server}")?;
    writeln!(out, "  dunghan leaderboard{server}")?;
    writeln!(
        out,
        "  dunghan report --unit tinh --from {} --to {}{server}      # form II.06a for the whole province",
        period.0, period.1
    )?;
    writeln!(out, "  dunghan tail{server}      # alerts as they fire")?;
    Ok(())
}

fn progress_bar(enabled: bool, period_secs: i64) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(period_secs).unwrap_or(1)),
        ProgressDrawTarget::stderr(),
    );
    // The template is a constant; fall back to the default style rather than fail.
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {percent}% of the period · {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// The stream a file's events go to: always the same one for a file.
fn stream_of(file_id: &str, n_streams: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    file_id.hash(&mut hasher);
    (hasher.finish() % n_streams as u64) as usize
}

fn rpc_error(rpc: &'static str, status: &tonic::Status) -> DemoError {
    DemoError::Rpc {
        rpc,
        code: status.code(),
        message: status.message().to_owned(),
    }
}

/// The demo's default first day.
fn default_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 12, 1).unwrap_or(NaiveDate::MIN)
}

/// Midnight at the start of `day` in Vietnam (UTC+7).
fn local_midnight(day: NaiveDate) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::MIN);
    (local - chrono::Duration::hours(7)).and_utc()
}

/// `2025-12-15 10:32` in Vietnam time.
fn local_minute(at: DateTime<Utc>) -> String {
    (at + chrono::Duration::hours(7))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The last simulated day of a period ending at `end` (exclusive).
fn calendar_date(end: DateTime<Utc>) -> NaiveDate {
    (end + chrono::Duration::hours(7) - chrono::Duration::seconds(1)).date_naive()
}
