//! The Prometheus metrics endpoint (`metrics_listen`): the recorder, `GET /metrics`, and the
//! per-unit gauges computed when scraped.
//!
//! Counters and histograms are recorded where things happen (the journal, the engine, the
//! ingest API, every RPC through [`RpcMetricsLayer`]) through the `metrics` facade, with the
//! names in [`names`]. Gauges that describe the state (files per unit, alert subscribers)
//! are computed at scrape time by [`unit_overview`], through the same scan and the same
//! tally as `dunghan stats`, so the endpoint and the query API never disagree.
//!
//! Like `server`, this module sits at the edge and may use `api`; nothing but `server`
//! uses it, except the instrumented code, which names [`names`] only. It never writes
//! state. The endpoint has no authentication: bind it to loopback or a private network
//! (the configuration warns otherwise); it shows unit ids and counts, never file contents.

pub mod names;
mod rpc;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use dunghan_domain::report::{self, VerdictCounts, Window};
use dunghan_domain::UnitId;
use metrics::{counter, gauge, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use rpc::{RpcMetrics, RpcMetricsLayer};

use crate::alerts::AlertHub;
use crate::engine::EngineHandle;
use crate::proto::v1 as pb;

/// Upper bounds of the latency histograms, in seconds: from 100 µs (an fdatasync on a fast
/// disk) to 10 s (a report over a large province).
const LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Upper bounds of the records-per-group-commit histogram (a cycle holds at most 20,000
/// events).
const RECORD_BUCKETS: [f64; 9] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1_024.0, 4_096.0, 16_384.0, 65_536.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes, so their
/// memory stays bounded.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Why the metrics endpoint could not start.
#[derive(Debug, Error)]
pub enum MetricsError {
    /// The Prometheus recorder could not be built or installed (another metrics recorder
    /// is installed in this process).
    #[error("cannot install the metrics recorder: {reason}")]
    Install {
        /// The exporter's message.
        reason: String,
    },
    /// The metrics address cannot be bound.
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        /// The address (`metrics_listen`).
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The per-unit overview could not be computed (the state could not be read).
    #[error("cannot compute the per-unit overview: {reason}")]
    Overview {
        /// The cause, as the query path reports it.
        reason: String,
    },
}

/// One unit's files now: the files it received, counted by verdict as `dunghan stats
/// --group-by unit` counts them (finished files with their verdict, open files judged now).
#[derive(Debug, Clone, PartialEq)]
pub struct UnitOverview {
    /// The receiving unit.
    pub unit: UnitId,
    /// Its files by verdict.
    pub counts: VerdictCounts,
}

/// The running metrics endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    /// The address it listens on (the real port when configured with port 0).
    pub local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// What a scrape needs.
#[derive(Debug, Clone)]
struct Scrape {
    handle: PrometheusHandle,
    engine: EngineHandle,
    hub: AlertHub,
    /// One overview at a time: concurrent scrapes wait for the one running rather than
    /// scanning the state twice.
    overview: Arc<tokio::sync::Mutex<()>>,
}

impl UnitOverview {
    /// Open files: within time or overdue.
    pub fn open_files(&self) -> u64 {
        self.counts.within_time + self.counts.overdue
    }

    /// Open files past their due time.
    pub fn overdue_files(&self) -> u64 {
        self.counts.overdue
    }
}

impl MetricsServer {
    /// Stops accepting scrapes, lets the ones in progress finish, and joins the task.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "metrics task failed");
        }
    }
}

/// Installs the Prometheus recorder (once per process; later calls return the same
/// handle), binds `addr` and serves `GET /metrics` until [`MetricsServer::stop`].
///
/// # Errors
/// [`MetricsError::Install`] if another recorder is installed, [`MetricsError::Bind`] if
/// `addr` cannot be bound.
pub async fn start(
    addr: SocketAddr,
    engine: EngineHandle,
    hub: AlertHub,
) -> Result<MetricsServer, MetricsError> {
    let handle = install()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| MetricsError::Bind { addr, source })?;
    let scrape = Scrape {
        handle: handle.clone(),
        engine,
        hub,
        overview: Arc::new(tokio::sync::Mutex::new(())),
    };
    let router = Router::new()
        .route("/metrics", get(serve_scrape))
        .with_state(scrape);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serving = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        let upkeep = async {
            let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                interval.tick().await;
                handle.run_upkeep();
            }
        };
        tokio::select! {
            served = serving => {
                if let Err(err) = served {
                    tracing::error!(error = %err, "metrics endpoint failed");
                }
            }
            () = upkeep => {}
        }
    });
    tracing::info!(%local_addr, "serving metrics at /metrics");
    Ok(MetricsServer {
        local_addr,
        stop,
        task,
    })
}

/// The files of every unit that received some, now.
///
/// This is the one place the per-unit gauges are computed: it runs the query API's scan
/// (every stored file, unlimited scope) and the domain's tally, keyed by the receiving unit.
/// It reads the whole state: call it on the blocking pool.
///
/// # Errors
/// [`MetricsError::Overview`] if the state cannot be read.
pub fn unit_overview(engine: &EngineHandle) -> Result<Vec<UnitOverview>, MetricsError> {
    let window = Window::new(None, engine.now()).map_err(|err| MetricsError::Overview {
        reason: err.to_string(),
    })?;
    let index = engine.index().read();
    // Each unit chain starts with the receiving unit (chain 0, never received, has none).
    let (units, chain_unit) = index.chain_units(<[UnitId]>::first);
    let (counts, _) = report::tally_dense(
        units.len(),
        index.rows().iter().map(|row| {
            let unit = usize::try_from(row.chain)
                .ok()
                .and_then(|chain| chain_unit.get(chain).copied().flatten());
            (unit, row.facts.coverage(&window))
        }),
    );
    drop(index);
    let mut overview: Vec<UnitOverview> = units
        .into_iter()
        .zip(counts)
        .filter(|(_, counts)| *counts != VerdictCounts::default())
        .map(|(unit, counts)| UnitOverview { unit, counts })
        .collect();
    overview.sort_by(|a, b| a.unit.cmp(&b.unit));
    Ok(overview)
}

/// Counts the outcomes of one answered ingest request.
pub fn record_ingest(results: &[pb::EventResult]) {
    counter!(names::INGEST_BATCHES).increment(1);
    for outcome in [
        pb::EventOutcome::Accepted,
        pb::EventOutcome::Duplicate,
        pb::EventOutcome::Conflict,
        pb::EventOutcome::Rejected,
    ] {
        let n = results
            .iter()
            .filter(|result| result.outcome == outcome as i32)
            .count();
        if n > 0 {
            counter!(names::INGEST_EVENTS, "outcome" => outcome_label(outcome)).increment(n as u64);
        }
    }
}

/// Counts the events of a request refused whole because the engine's queue was full.
pub fn record_shed_events(n_events: usize) {
    counter!(names::INGEST_SHED_EVENTS).increment(n_events as u64);
}

/// The process's Prometheus handle, installing the recorder the first time: from then on
/// the instrumented code records (before, its records are dropped).
///
/// # Errors
/// [`MetricsError::Install`] if another metrics recorder is installed in this process.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _installing = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let failed = |err: metrics_exporter_prometheus::BuildError| MetricsError::Install {
        reason: err.to_string(),
    };
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".to_owned()),
            &LATENCY_BUCKETS_SECONDS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(names::JOURNAL_COMMIT_RECORDS.to_owned()),
                &RECORD_BUCKETS,
            )
        })
        .map_err(failed)?
        .install_recorder()
        .map_err(failed)?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The HELP lines of every metric.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        names::INGEST_EVENTS,
        Unit::Count,
        "Events answered by IngestService, by outcome."
    );
    describe_counter!(
        names::INGEST_BATCHES,
        Unit::Count,
        "Ingest requests answered (IngestBatch calls and Ingest stream messages)."
    );
    describe_counter!(
        names::INGEST_SHED_EVENTS,
        Unit::Count,
        "Events refused with RESOURCE_EXHAUSTED because the engine queue was full."
    );
    describe_gauge!(
        names::ENGINE_QUEUE_COMMANDS,
        Unit::Count,
        "Commands waiting in the engine queue."
    );
    describe_histogram!(
        names::JOURNAL_SYNC_SECONDS,
        Unit::Seconds,
        "Duration of one fdatasync of a journal segment."
    );
    describe_histogram!(
        names::JOURNAL_COMMIT_SECONDS,
        Unit::Seconds,
        "Duration of one group commit: write the queued appends, then sync."
    );
    describe_histogram!(
        names::JOURNAL_COMMIT_RECORDS,
        Unit::Count,
        "Journal records written by one group commit."
    );
    describe_histogram!(
        names::RPC_SECONDS,
        Unit::Seconds,
        "Time from a request's arrival to its response headers, by RPC."
    );
    describe_counter!(
        names::RPC_SHED,
        Unit::Count,
        "Requests refused with RESOURCE_EXHAUSTED by the concurrency limit, by RPC."
    );
    describe_gauge!(names::ALERT_SUBSCRIBERS, Unit::Count, "Open alert streams.");
    describe_gauge!(
        names::ALERT_LAST_SEQUENCE,
        Unit::Count,
        "Sequence number of the last alert handed to the alert streams since start."
    );
    describe_gauge!(
        names::UNIT_OPEN_FILES,
        Unit::Count,
        "Open files (within time or overdue) received by the unit."
    );
    describe_gauge!(
        names::UNIT_OVERDUE_FILES,
        Unit::Count,
        "Open files received by the unit and past their due time."
    );
    describe_gauge!(
        names::UNIT_JUDGED_FILES,
        Unit::Count,
        "Files received by the unit that have a verdict (finished, or open and judged now)."
    );
    describe_gauge!(
        names::UNIT_ON_TIME_RATE,
        "(early + on time + open within time) / judged files received by the unit."
    );
    describe_gauge!(
        names::UNIT_OVERVIEW_SECONDS,
        Unit::Seconds,
        "Time the last scrape took to compute the per-unit gauges."
    );
    describe_counter!(
        names::UNIT_OVERVIEW_FAILURES,
        Unit::Count,
        "Scrapes whose per-unit gauges could not be computed."
    );
}

/// `GET /metrics`: refreshes the gauges computed at scrape time, then renders everything.
async fn serve_scrape(State(scrape): State<Scrape>) -> impl IntoResponse {
    scrape.refresh().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.handle.render(),
    )
}

impl Scrape {
    /// Sets the gauges that describe the state now.
    async fn refresh(&self) {
        gauge!(names::ALERT_SUBSCRIBERS).set(self.hub.subscribers() as f64);
        gauge!(names::ALERT_LAST_SEQUENCE).set(self.hub.last_published() as f64);
        let _one_at_a_time = self.overview.lock().await;
        let engine = self.engine.clone();
        let started = Instant::now();
        let units = match tokio::task::spawn_blocking(move || unit_overview(&engine)).await {
            Ok(Ok(units)) => units,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "metrics scrape without fresh per-unit gauges");
                counter!(names::UNIT_OVERVIEW_FAILURES).increment(1);
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, "per-unit overview task failed");
                counter!(names::UNIT_OVERVIEW_FAILURES).increment(1);
                return;
            }
        };
        for overview in &units {
            let unit = overview.unit.to_string();
            gauge!(names::UNIT_OPEN_FILES, "unit" => unit.clone())
                .set(overview.open_files() as f64);
            gauge!(names::UNIT_OVERDUE_FILES, "unit" => unit.clone())
                .set(overview.overdue_files() as f64);
            gauge!(names::UNIT_JUDGED_FILES, "unit" => unit.clone())
                .set(overview.counts.judged() as f64);
            if let Some(rate) = overview.counts.on_time_rate() {
                gauge!(names::UNIT_ON_TIME_RATE, "unit" => unit).set(rate);
            }
        }
        gauge!(names::UNIT_OVERVIEW_SECONDS).set(started.elapsed());
    }
}

fn outcome_label(outcome: pb::EventOutcome) -> &'static str {
    match outcome {
        pb::EventOutcome::Accepted => "accepted",
        pb::EventOutcome::Duplicate => "duplicate",
        pb::EventOutcome::Conflict => "conflict",
        pb::EventOutcome::Rejected => "rejected",
        pb::EventOutcome::Unspecified => "unspecified",
    }
}
