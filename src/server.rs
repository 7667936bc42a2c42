//! Starting and stopping the service: open the journal and the state, replay, start the
//! engine, serve gRPC (with health and reflection), and shut down in order.
//!
//! Shutdown order: stop accepting and let in-flight calls finish (tonic's graceful
//! shutdown), then stop the engine (which syncs the journal and flushes the state), then
//! join its thread. Nothing acknowledged is lost at any step: acks are only sent after the
//! journal sync.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server as TonicServer;
use tower::ServiceBuilder;

use crate::api::alerts::AlertApi;
use crate::api::catalog::CatalogApi;
use crate::api::ingest::IngestApi;
use crate::api::query::QueryApi;
use crate::auth::{self, Authenticator};
use crate::catalog_file::{self, Format};
use crate::config::Config;
use crate::engine::{CatalogChange, Clock, Engine, EngineConfig, EngineError, EngineHandle};
use crate::metrics::{self, MetricsError, MetricsServer, RpcMetricsLayer};
use crate::proto::{self, v1 as pb};
use crate::store::journal::{journal_dir, Journal, JournalConfig, JournalError};
use crate::store::{Store, StoreError};
use crate::tls;

/// Why the service could not start or stop cleanly.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The data directory cannot be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The journal cannot be opened or recovered.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The state cannot be opened.
    #[error("state: {0}")]
    Store(#[from] StoreError),
    /// The engine failed (replay, or the final sync).
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// The catalog document given in the configuration is invalid.
    #[error("catalog {path}:\n{errors}")]
    Catalog {
        /// The document.
        path: String,
        /// Every problem, one per line.
        errors: String,
    },
    /// Authentication or TLS cannot be set up.
    #[error("security setup: {0}")]
    Security(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The metrics endpoint could not start.
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
}

/// A running service.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on (the real port when configured with port 0).
    pub local_addr: SocketAddr,
    engine: EngineHandle,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<Result<(), tonic::transport::Error>>,
    engine_thread: std::thread::JoinHandle<()>,
    hub: crate::alerts::AlertHub,
    metrics: Option<MetricsServer>,
}

/// Opens the data, replays the journal, and starts serving.
///
/// # Errors
/// [`ServeError`] naming what could not be opened, recovered or bound.
pub async fn start(config: &Config, clock: Arc<dyn Clock>) -> Result<Running, ServeError> {
    if config.metrics_listen.is_some() {
        // Before the journal opens, so that recovery and the startup catalog are measured.
        metrics::install()?;
    }
    let hub = crate::alerts::AlertHub::new();
    let alert_hub = hub.clone();
    let sink: Arc<dyn crate::engine::AlertSink> = Arc::new(hub.clone());
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let journal = Journal::open(
        &journal_dir(&config.data_dir),
        JournalConfig {
            segment_bytes: config.journal_segment_bytes,
            ..JournalConfig::default()
        },
    )?;
    let recovery = journal.recovery().clone();
    tracing::info!(
        records = recovery.records,
        last_seq = recovery.last_seq,
        bytes_truncated = recovery.bytes_truncated,
        "journal recovered"
    );
    let writer = journal.start_writer()?;
    let store = Store::open(&config.data_dir.join("state"))?;
    let (engine, engine_thread) = Engine::start(
        store,
        writer,
        catalog_file::default_catalog(),
        EngineConfig {
            // The queue holds commands of up to a batch each.
            queue_commands: (config.limits.ingest_queue_events
                / config.limits.max_batch_events.max(1))
            .max(16),
            ..EngineConfig::default()
        },
        clock,
        sink,
    )?;
    if let Some(path) = &config.catalog {
        load_configured_catalog(&engine, path).await?;
    }
    let authenticator = Arc::new(
        Authenticator::new(&config.tokens).map_err(|err| ServeError::Security(err.to_string()))?,
    );
    if authenticator.is_open() {
        tracing::warn!(listen = %config.listen, "no tokens configured: serving open, on loopback only");
    }
    let metrics = match config.metrics_listen {
        Some(addr) => Some(metrics::start(addr, engine.clone(), alert_hub.clone()).await?),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::ingest_service_server::IngestServiceServer<IngestApi>>()
        .await;
    health
        .set_serving::<pb::catalog_service_server::CatalogServiceServer<CatalogApi>>()
        .await;
    health
        .set_serving::<pb::query_service_server::QueryServiceServer<QueryApi>>()
        .await;
    health
        .set_serving::<pb::alert_service_server::AlertServiceServer<AlertApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|err| ServeError::Security(format!("reflection: {err}")))?;
    let limits = &config.limits;
    let interceptor = auth::interceptor(authenticator);
    let ingest = pb::ingest_service_server::IngestServiceServer::new(IngestApi::new(
        engine.clone(),
        limits.max_batch_events,
    ))
    .max_decoding_message_size(limits.max_message_bytes);
    let catalog =
        pb::catalog_service_server::CatalogServiceServer::new(CatalogApi::new(engine.clone()))
            .max_decoding_message_size(limits.max_message_bytes);
    let query = pb::query_service_server::QueryServiceServer::new(QueryApi::new(engine.clone()))
        .max_decoding_message_size(limits.max_message_bytes);
    let alerts = pb::alert_service_server::AlertServiceServer::new(AlertApi::new(
        engine.clone(),
        hub,
        limits.alert_subscriber_buffer_alerts,
    ))
    .max_decoding_message_size(limits.max_message_bytes);
    let mut builder = TonicServer::builder();
    if let Some(tls_config) = &config.tls {
        let server_tls =
            tls::server_tls(tls_config).map_err(|err| ServeError::Security(err.to_string()))?;
        builder = builder
            .tls_config(server_tls)
            .map_err(|err| ServeError::Security(err.to_string()))?;
    }
    // Past the limit, calls are refused at once with RESOURCE_EXHAUSTED instead of queueing.
    // The metrics layer is outside the shedding, so it sees (and counts) the calls shed.
    let router = builder
        .layer(RpcMetricsLayer)
        .layer(ServiceBuilder::new().load_shed().layer(
            tower::limit::GlobalConcurrencyLimitLayer::new(limits.max_concurrent_requests),
        ))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(InterceptedService::new(ingest, interceptor.clone()))
        .add_service(InterceptedService::new(catalog, interceptor.clone()))
        .add_service(InterceptedService::new(query, interceptor.clone()))
        .add_service(InterceptedService::new(alerts, interceptor));
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(router.serve_with_incoming_shutdown(
        // TCP_NODELAY on every accepted connection, as tonic's own listener sets it: without
        // it, small replies (an ack, a query answer) wait for the client's delayed ACK
        // (about 40 ms on Linux) under Nagle's algorithm.
        TcpIncoming::from(listener).with_nodelay(Some(true)),
        async {
            let _ = stopped.await;
        },
    ));
    tracing::info!(%local_addr, data_dir = %config.data_dir.display(), "serving");
    Ok(Running {
        local_addr,
        engine,
        stop,
        serving,
        engine_thread,
        hub: alert_hub,
        metrics,
    })
}

impl Running {
    /// The engine, for in-process use (tests, the demo).
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// The address of the metrics endpoint, if `metrics_listen` is configured (the real
    /// port when configured with port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|metrics| metrics.local_addr)
    }

    /// Stops accepting, finishes in-flight calls, syncs the journal and flushes the state.
    ///
    /// # Errors
    /// [`ServeError`] if the server or the final sync failed.
    pub async fn stop(self) -> Result<(), ServeError> {
        let _ = self.stop.send(());
        // Open alert streams never end by themselves: end them (UNAVAILABLE with the last
        // sequence sent) so the graceful shutdown can finish.
        self.hub.close();
        let served = self.serving.await;
        // Scrapes read the engine: end them before it stops.
        if let Some(metrics) = self.metrics {
            metrics.stop().await;
        }
        let engine_result = self.engine.shutdown().await;
        let thread = self.engine_thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        engine_result?;
        match served {
            Ok(result) => result.map_err(ServeError::from),
            Err(join) => Err(ServeError::Security(format!("server task failed: {join}"))),
        }
    }

    /// Serves until `signal` resolves, then stops in order.
    ///
    /// # Errors
    /// As [`Running::stop`].
    pub async fn serve_until(self, signal: impl Future<Output = ()>) -> Result<(), ServeError> {
        signal.await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// Loads the configured catalog document through the engine (journaled like any change),
/// skipping it when every object in it is already in force.
async fn load_configured_catalog(
    engine: &EngineHandle,
    path: &std::path::Path,
) -> Result<(), ServeError> {
    let shown = path.display().to_string();
    let bad = |errors: Vec<String>| ServeError::Catalog {
        path: shown.clone(),
        errors: errors.join("\n"),
    };
    let text = std::fs::read_to_string(path).map_err(|err| bad(vec![err.to_string()]))?;
    let format = Format::from_path(&shown);
    let document = catalog_file::parse(&text, format)
        .map_err(|errors| bad(errors.iter().map(ToString::to_string).collect()))?;
    let current = engine.catalog();
    document
        .merge_into(&current, &text, format)
        .map_err(|errors| bad(errors.iter().map(ToString::to_string).collect()))?;
    let changes: Vec<CatalogChange> = crate::api::catalog::changes_of(&document)
        .into_iter()
        .filter(|change| !crate::api::catalog::is_in_force(&current, change))
        .collect();
    if changes.is_empty() {
        tracing::info!(path = %shown, "configured catalog already in force");
        return Ok(());
    }
    let outcome = engine
        .change_catalog(changes, "config".to_owned(), false)
        .await?;
    if !outcome.applied {
        return Err(bad(outcome.errors));
    }
    tracing::info!(path = %shown, changes = outcome.revisions.len(), "configured catalog loaded");
    Ok(())
}

/// Told how far a replay has come: journal records applied, of the last sequence number
/// in the journal. Called from a watcher thread a few times a second, and once at the end.
pub type ReplayProgress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Deletes the derived state under `data_dir` and rebuilds it from the journal alone;
/// returns the number of journal records replayed. The service must not be running.
/// `progress` is told how far the replay has come (for `dunghan rebuild`'s bar).
///
/// # Errors
/// [`ServeError`] if the journal cannot be read or a record cannot be applied.
pub async fn rebuild(
    data_dir: &std::path::Path,
    progress: ReplayProgress<'_>,
) -> Result<u64, ServeError> {
    let state_dir = data_dir.join("state");
    if state_dir.exists() {
        std::fs::remove_dir_all(&state_dir).map_err(|source| ServeError::DataDir {
            path: state_dir.display().to_string(),
            source,
        })?;
    }
    let journal = Journal::open(&journal_dir(data_dir), JournalConfig::default())?;
    let records = journal.recovery().records;
    let last_seq = journal.recovery().last_seq;
    let writer = journal.start_writer()?;
    let store = Store::open(&state_dir)?;
    let watched = store.clone();
    let done = std::sync::atomic::AtomicBool::new(false);
    // The replay runs inside `Engine::start`; a watcher thread reads how far the state has
    // got (it is committed a chunk at a time) so the engine needs no progress hook.
    let started = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                if let Ok(applied) = watched.applied_seq() {
                    progress(applied, last_seq);
                }
                std::thread::park_timeout(std::time::Duration::from_millis(100));
            }
        });
        let started = start_offline(store, writer);
        done.store(true, std::sync::atomic::Ordering::Release);
        watcher.thread().unpark();
        started
    });
    let (engine, thread) = started?;
    progress(last_seq, last_seq);
    engine.shutdown().await?;
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    Ok(records)
}

/// What `dunghan check` found in a stopped service's data.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// Journal records read.
    pub journal_records: u64,
    /// Events in the journal.
    pub journal_events: u64,
    /// Event ids that appear more than once in the journal (must be none).
    pub duplicated_in_journal: Vec<String>,
    /// Journaled events missing from the state (must be none).
    pub missing_from_state: Vec<String>,
    /// Files in the state.
    pub files: u64,
    /// Counter keys whose stored counts differ from a recount (must be none).
    pub counter_mismatches: Vec<String>,
    /// Counter keys with a negative count (must be none).
    pub negative_counters: Vec<String>,
}

impl CheckReport {
    /// Whether everything holds.
    pub fn is_sound(&self) -> bool {
        self.duplicated_in_journal.is_empty()
            && self.missing_from_state.is_empty()
            && self.counter_mismatches.is_empty()
            && self.negative_counters.is_empty()
    }
}

/// Checks a stopped service's data: brings the state up to the journal (replay), then
/// verifies every journaled event is in the state exactly once and every counter equals a
/// recount. The service must not be running.
///
/// # Errors
/// [`ServeError`] if the data cannot be opened or read.
pub async fn check(data_dir: &std::path::Path) -> Result<CheckReport, ServeError> {
    use std::collections::{BTreeMap, BTreeSet};

    use crate::store::codec::{self, JournalEntry};

    let journal = Journal::open(&journal_dir(data_dir), JournalConfig::default())?;
    let mut report = CheckReport::default();
    let mut seen: BTreeMap<(String, String), u32> = BTreeMap::new();
    for item in journal.read_from(1) {
        let (_, payload) = item?;
        report.journal_records += 1;
        let entry = codec::decode_journal_record(&payload).map_err(EngineError::from)?;
        if let JournalEntry::Event { recorded, .. } = entry {
            report.journal_events += 1;
            *seen
                .entry((
                    recorded.event.file_id.to_string(),
                    recorded.event.id.to_string(),
                ))
                .or_default() += 1;
        }
    }
    let writer = journal.start_writer()?;
    let store = Store::open(&data_dir.join("state"))?;
    let (engine, thread) = start_offline(store, writer)?;
    let mut files = BTreeSet::new();
    for ((file, event), count) in &seen {
        if *count > 1 {
            report.duplicated_in_journal.push(event.clone());
        }
        let file_id = dunghan_domain::FileId::new(file.clone())
            .map_err(|err| ServeError::Security(err.to_string()))?;
        let event_id = dunghan_domain::EventId::new(event.clone())
            .map_err(|err| ServeError::Security(err.to_string()))?;
        if engine.store().dedupe(&event_id)?.is_none()
            || !engine
                .history(&file_id)?
                .is_some_and(|history| history.contains(&event_id))
        {
            report.missing_from_state.push(event.clone());
        }
        files.insert(file.clone());
    }
    report.files = engine.store().n_files() as u64;
    let stored = engine.stored_counters()?;
    let recounted = engine.recount()?;
    for key in stored
        .keys()
        .chain(recounted.keys())
        .collect::<BTreeSet<_>>()
    {
        let a = stored.get(key).copied().unwrap_or_default();
        let b = recounted.get(key).copied().unwrap_or_default();
        if a != b {
            report
                .counter_mismatches
                .push(format!("{key:?}: stored {a:?}, recount {b:?}"));
        }
        if a.has_negative() {
            report.negative_counters.push(format!("{key:?}: {a:?}"));
        }
    }
    engine.shutdown().await?;
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    Ok(report)
}

/// The engine of an offline command (rebuild, check): the shipped catalog before the stored
/// changes, the system clock, and no alert subscribers.
fn start_offline(
    store: Store,
    writer: crate::store::journal::JournalWriter<crate::store::journal::RealDisk>,
) -> Result<(EngineHandle, std::thread::JoinHandle<()>), EngineError> {
    Engine::start(
        store,
        writer,
        catalog_file::default_catalog(),
        EngineConfig::default(),
        Arc::new(crate::engine::SystemClock),
        Arc::new(crate::engine::NoAlertSink),
    )
}
