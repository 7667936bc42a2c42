//! The demo province: a deterministic simulation of a Vietnamese province's one-stop
//! service centers, and `dunghan demo`, which feeds it to an in-process server through the
//! real gRPC API.
//!
//! - [`province`](mod@province) generates the province (units, officers, procedures) from a seed and
//!   renders it as a catalog document and as domain objects.
//! - [`workload`](mod@workload) generates months of files on the shipped Vietnamese calendar as one
//!   time-ordered stream of `dunghan.v1.Event`, in bounded memory.
//! - [`run`](mod@run) is `dunghan demo`: server, catalog load, ingestion, live summary.
//!
//! For the benchmark (issue 7), [`workload()`] and [`workload_catalog`] give the same
//! workload for the same seed on every machine:
//!
//! ```no_run
//! let catalog_toml = dunghan::demo::workload_catalog(7);
//! for event in dunghan::demo::workload(7, 1_000_000) {
//!     // send `event` (a `dunghan.v1.Event`) to the system under test
//!     # let _ = (&catalog_toml, event);
//! }
//! ```
//!
//! The benchmark province is a large one ([`BENCH_COMMUNES`] communes, about 1.7 million
//! files a year, 8–9 events a file on average), starting on [`bench_start`]; every file is
//! followed to its end. Load the catalog document first (`CatalogService.LoadCatalog`, or
//! `catalog_file::parse`), then send the events in stream order.
//!
//! This module never prints: it writes to the writer it is given, and draws progress
//! with indicatif on stderr.

pub mod province;
pub mod run;
pub mod workload;

use std::sync::Arc;

use chrono::NaiveDate;
use thiserror::Error;

pub use province::{Province, ProvinceConfig};
pub use run::{run, DemoArgs, DemoOptions, DemoReport};
pub use workload::{Planned, Workload, WorkloadConfig};

use crate::proto::v1 as pb;

/// Communes of the benchmark province: with its provincial center, about 140,000 files a
/// month.
pub const BENCH_COMMUNES: usize = 100;

/// Why the demo could not run.
#[derive(Debug, Error)]
pub enum DemoError {
    /// The generated catalog does not parse or merge (a generator bug).
    #[error("the generated catalog is invalid:\n{}", errors.join("\n"))]
    Catalog {
        /// Every problem, with its line.
        errors: Vec<String>,
    },
    /// An argument is invalid.
    #[error("--{flag} {value}: {reason}")]
    Argument {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The temporary data directory could not be made.
    #[error("cannot make a temporary data directory: {0}")]
    TempDir(std::io::Error),
    /// The server could not start or stop.
    #[error("server: {0}")]
    Server(#[from] crate::server::ServeError),
    /// The in-process client could not connect.
    #[error("cannot connect to the demo server at {server}: {reason}")]
    Connect {
        /// The address.
        server: String,
        /// The cause.
        reason: String,
    },
    /// An RPC failed.
    #[error("{rpc} failed with {code:?}: {message}")]
    Rpc {
        /// The RPC, e.g. `IngestService.Ingest`.
        rpc: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The status message.
        message: String,
    },
    /// The server refused the generated catalog.
    #[error("the server refused the generated catalog:\n{}", errors.join("\n"))]
    CatalogRefused {
        /// The server's error diagnostics.
        errors: Vec<String>,
    },
    /// The engine could not be read for the summary.
    #[error("engine: {0}")]
    Engine(#[from] crate::engine::EngineError),
    /// The summary could not be written.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// The first day of the benchmark workload: 1 January 2024, the first year of the shipped
/// official calendar.
pub fn bench_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The province of the benchmark workload for `seed`.
pub fn workload_province(seed: u64) -> Province {
    let mut config = ProvinceConfig::new(seed, BENCH_COMMUNES);
    config.effective_from = NaiveDate::from_ymd_opt(2023, 7, 1).unwrap_or(NaiveDate::MIN);
    config.reshuffle_on = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or(NaiveDate::MIN);
    Province::generate(config)
}

/// The catalog document (TOML) of the benchmark workload for `seed`: load it before the
/// events of [`workload()`].
pub fn workload_catalog(seed: u64) -> String {
    workload_province(seed).catalog_document()
}

/// The benchmark workload: `files` files of the province of [`workload_province`] from
/// [`bench_start`], every one followed to its end, as a time-ordered stream of events.
/// Deterministic for a seed; memory stays bounded (only files in progress are held).
///
/// Yields nothing if the generated catalog were invalid (a generator bug, tested).
pub fn workload(seed: u64, files: u64) -> impl Iterator<Item = pb::Event> {
    let province = Arc::new(workload_province(seed));
    Workload::new(province, WorkloadConfig::files(seed, bench_start(), files))
        .ok()
        .into_iter()
        .flatten()
}
