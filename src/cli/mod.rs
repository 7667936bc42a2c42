//! Command-line subcommands that do not serve: each parses its arguments with clap, runs
//! the same code as the service, and writes a readable table or JSON to a writer.

pub mod calendar;
pub mod catalog;
pub mod client;
pub mod file;
pub mod files;
pub mod import;
pub mod leaderboard;
pub mod progress;
pub mod push;
pub mod report;
pub mod stats;
pub mod table;
pub mod tail;

use std::path::Path;

use dunghan_domain::catalog::Catalog;
use thiserror::Error;

use crate::catalog_file::{self, DocumentError, Format};

/// Why a command failed; printed to stderr by `main`.
#[derive(Debug, Error)]
pub enum CliError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The catalog document is invalid.
    #[error("catalog {path} is invalid:\n{}", errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Catalog {
        /// The path.
        path: String,
        /// Every problem.
        errors: Vec<DocumentError>,
    },
    /// An argument is invalid.
    #[error("--{flag} {value:?}: {reason}")]
    Argument {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The output could not be written.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// JSON output could not be produced.
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The server could not be reached, or the TLS handshake failed.
    #[error("cannot connect to {server}: {reason}")]
    Connect {
        /// The server address as given (`--server`).
        server: String,
        /// The cause, with its chain of sources.
        reason: String,
    },
    /// An RPC failed as a whole with a gRPC status.
    #[error("{rpc} on {server} failed with {code:?}: {message}")]
    Rpc {
        /// The server address as given (`--server`).
        server: String,
        /// The RPC, e.g. `IngestService.Ingest`.
        rpc: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The status message from the server.
        message: String,
    },
    /// The server answered in a way the API does not allow (e.g. an ack out
    /// of order); nothing more can be trusted on that stream.
    #[error("unexpected reply from {server}: {reason}")]
    Protocol {
        /// The server address as given (`--server`).
        server: String,
        /// What was wrong.
        reason: String,
    },
    /// `dunghan push` finished, but some events were not stored; the summary
    /// written before lists each one with its line.
    #[error(
        "events not stored: {conflicting} conflicting, {rejected} rejected, {unreadable} unreadable"
    )]
    EventsNotStored {
        /// Events whose id is stored with different content.
        conflicting: u64,
        /// Events the server refused.
        rejected: u64,
        /// Lines that were not sent because they are not events.
        unreadable: u64,
    },
    /// `dunghan catalog load`: the server found errors in the document, so
    /// nothing was stored; the diagnostics written before name each line.
    #[error("catalog {path} has {n_errors} errors; nothing was stored")]
    CatalogRefused {
        /// The path of the document.
        path: String,
        /// How many error diagnostics the server returned.
        n_errors: usize,
    },
    /// `dunghan tail`: the state file that remembers the last sequence seen cannot be
    /// read, written, or does not hold a number.
    #[error("tail state file {path}: {reason}")]
    TailState {
        /// The path of the state file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The shipped catalog, extended with the document at `path` if one is given.
///
/// # Errors
/// [`CliError::Read`] or [`CliError::Catalog`].
pub fn load_catalog(path: Option<&Path>) -> Result<Catalog, CliError> {
    let base = catalog_file::default_catalog();
    let Some(path) = path else {
        return Ok(base);
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: shown.clone(),
        source,
    })?;
    let format = Format::from_path(&shown);
    let document = catalog_file::parse(&text, format).map_err(|errors| CliError::Catalog {
        path: shown.clone(),
        errors,
    })?;
    document
        .merge_into(&base, &text, format)
        .map_err(|errors| CliError::Catalog {
            path: shown,
            errors,
        })
}
