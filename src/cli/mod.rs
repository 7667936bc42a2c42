//! Command-line subcommands that do not serve: each parses its arguments with clap, runs
//! the same code as the service, and writes a readable table or JSON to a writer.

pub mod calendar;

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
