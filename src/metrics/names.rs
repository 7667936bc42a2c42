//! The name of every metric the service exports, in one place, so the README's "Metrics"
//! section and the code cannot drift apart.
//!
//! Instrumented code (the journal, the engine, the API) records through the `metrics`
//! facade with these names; it depends on this leaf module only, never on the endpoint.
//! When no recorder is installed (no `metrics_listen`, `dunghan rebuild`, most tests) every
//! record is a no-op.

/// Counter, label `outcome` (`accepted`, `duplicate`, `conflict`, `rejected`): events
/// answered by IngestService, by outcome.
pub const INGEST_EVENTS: &str = "dunghan_ingest_events_total";

/// Counter: ingest requests answered (one `IngestBatch` call, or one message of an `Ingest`
/// stream), whatever their events' outcomes.
pub const INGEST_BATCHES: &str = "dunghan_ingest_batches_total";

/// Counter: events refused whole with RESOURCE_EXHAUSTED because the engine's queue was
/// full (the client retries them).
pub const INGEST_SHED_EVENTS: &str = "dunghan_ingest_shed_events_total";

/// Gauge: commands (ingest requests, catalog changes, re-judgings) waiting in the engine's
/// queue.
pub const ENGINE_QUEUE_COMMANDS: &str = "dunghan_engine_queue_commands";

/// Histogram, seconds: one `fdatasync` of a journal segment.
pub const JOURNAL_SYNC_SECONDS: &str = "dunghan_journal_sync_seconds";

/// Histogram, seconds: one group commit (write every queued append, then one sync).
pub const JOURNAL_COMMIT_SECONDS: &str = "dunghan_journal_commit_seconds";

/// Histogram: journal records (events, catalog changes) written by one group commit. The
/// engine appends once per cycle for every client it drained, so this is the group size.
pub const JOURNAL_COMMIT_RECORDS: &str = "dunghan_journal_commit_records";

/// Histogram, seconds, label `rpc` (`dunghan.v1.QueryService/GetStats`, ...): time from a
/// request's arrival to its response headers. For a stream this is the time to open it.
pub const RPC_SECONDS: &str = "dunghan_rpc_duration_seconds";

/// Counter, label `rpc`: requests refused with RESOURCE_EXHAUSTED before reaching a handler,
/// because `limits.max_concurrent_requests` were being served.
pub const RPC_SHED: &str = "dunghan_rpc_shed_total";

/// Gauge: open alert streams (`SubscribeAlerts`, `dunghan tail`).
pub const ALERT_SUBSCRIBERS: &str = "dunghan_alert_subscribers";

/// Gauge: sequence number of the last alert handed to the alert streams since start (0 if
/// none).
pub const ALERT_LAST_SEQUENCE: &str = "dunghan_alert_last_sequence";

/// Gauge, label `unit`: open files (within time or overdue) received by the unit.
pub const UNIT_OPEN_FILES: &str = "dunghan_unit_open_files";

/// Gauge, label `unit`: open files received by the unit and past their due time.
pub const UNIT_OVERDUE_FILES: &str = "dunghan_unit_overdue_files";

/// Gauge, label `unit`: files received by the unit that have a verdict (finished, or open
/// and judged now); the denominator of the on-time rate.
pub const UNIT_JUDGED_FILES: &str = "dunghan_unit_judged_files";

/// Gauge, label `unit`: (early + on time + open within time) / judged, as `dunghan stats`
/// reports it; absent while the unit has no judged file.
pub const UNIT_ON_TIME_RATE: &str = "dunghan_unit_on_time_rate";

/// Gauge, seconds: time the last scrape took to compute the per-unit gauges.
pub const UNIT_OVERVIEW_SECONDS: &str = "dunghan_unit_overview_seconds";

/// Counter: scrapes whose per-unit gauges could not be computed (they keep their previous
/// values; the cause is logged).
pub const UNIT_OVERVIEW_FAILURES: &str = "dunghan_unit_overview_failures_total";
