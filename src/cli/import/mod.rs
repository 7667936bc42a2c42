//! Event logs as input: CSV and XES (`.xes`, `.xes.gz`) readers behind `dunghan push`'s
//! [`EventSource`], the mapping from a log's attributes to dunghan events, and the
//! catalog derived from a log (`dunghan import catalog`).
//!
//! A log is read as a stream of rows (one per log event), grouped by case: the rows of
//! one case must be contiguous (one XES trace; consecutive CSV rows), so that only one
//! case is held in memory. Every row becomes exactly one event or one unreadable record
//! with its line and reason, so `dunghan push` accounts for every event of the log.
//!
//! This module never talks to a server: `push` sends what it produces. docs/import.md
//! documents the mappings, the catalog and the commands.

pub mod catalog;
pub mod csv_log;
pub mod mapping;
pub mod xes;

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use thiserror::Error;

use self::csv_log::CsvLog;
use self::mapping::{LogRow, Mapping};
use self::xes::{Compression, XesLog};
use super::progress::{Progress, ProgressMode};
use super::push::{EventSource, SourceRecord};
use super::CliError;

/// The kinds of event log the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// CSV with a header row.
    Csv,
    /// XES, plain or gzip-compressed.
    Xes(Compression),
}

/// Why a log cannot be imported as asked.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ImportError {
    /// The mapping file does not parse or has a bad value.
    #[error("mapping {mapping} is invalid: {reason}")]
    Mapping {
        /// The mapping as given.
        mapping: String,
        /// What is wrong, with the line where known.
        reason: String,
    },
    /// No mapping was given and no built-in mapping fits the log.
    #[error("no built-in mapping fits {path} (attributes: {attributes}); give --mapping receipt, bpic15 or a mapping file")]
    Undetected {
        /// The log.
        path: String,
        /// The attribute names seen, comma-separated.
        attributes: String,
    },
}

/// Arguments of `dunghan import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// What to do with the log.
    #[command(subcommand)]
    pub command: ImportCommand,
}

/// Subcommands of `dunghan import`.
#[derive(Debug, Clone, Subcommand)]
pub enum ImportCommand {
    /// Print the catalog document (TOML) derived from an event log: a calendar, units
    /// from groups, officers from resources, one procedure with a step per activity.
    Catalog(CatalogArgs),
}

/// Arguments of `dunghan import catalog`.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// The event log: `.csv`, `.xes` or `.xes.gz`.
    pub log: PathBuf,
    /// `receipt`, `bpic15`, or a TOML mapping file; detected from the log if absent.
    #[arg(long)]
    pub mapping: Option<String>,
}

/// A reader of log rows, whatever the file format.
pub trait RowReader: Send {
    /// The next row, or `None` at the end of the log.
    ///
    /// # Errors
    /// [`CliError::Read`] when the file cannot be read; a bad row is not an error.
    fn next_row(&mut self) -> Result<Option<RowRecord>, CliError>;

    /// Bytes of the file consumed so far.
    fn bytes_read(&self) -> u64;

    /// The file's size, if known.
    fn total_bytes(&self) -> Option<u64>;
}

/// The rows of an opened log, and for CSV the header's attribute names.
pub type OpenedRows = (Box<dyn RowReader>, Option<Vec<String>>);

/// One row of a log, or a part of the file that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowRecord {
    /// A log event.
    Row(LogRow),
    /// Not a log event; reported with its line.
    Unreadable {
        /// The 1-based line.
        line: u64,
        /// Why.
        message: String,
    },
}

/// A log read as dunghan events: rows grouped by case and mapped.
pub struct LogSource {
    /// The rows.
    rows: Box<dyn RowReader>,
    /// The mapping.
    mapping: Mapping,
    /// Records ready to hand out, in order.
    ready: VecDeque<SourceRecord>,
    /// Rows read ahead (while detecting the mapping), handed out first.
    read_ahead: VecDeque<RowRecord>,
    /// The case being collected and its rows.
    current: Option<(String, Vec<LogRow>)>,
    /// Every case finished so far, to catch a case whose rows are split.
    finished_cases: BTreeSet<String>,
    /// Whether the rows have ended.
    ended: bool,
}

impl std::fmt::Debug for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSource")
            .field("mapping", &self.mapping.name)
            .field("n_cases", &self.finished_cases.len())
            .finish_non_exhaustive()
    }
}

impl LogFormat {
    /// The format of `path` by its extension: `.csv`, `.xes` or `.xes.gz`.
    pub fn of_path(path: &Path) -> Option<LogFormat> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".csv") {
            Some(LogFormat::Csv)
        } else if name.ends_with(".xes") {
            Some(LogFormat::Xes(Compression::None))
        } else if name.ends_with(".xes.gz") {
            Some(LogFormat::Xes(Compression::Gzip))
        } else {
            None
        }
    }
}

impl From<ImportError> for CliError {
    fn from(err: ImportError) -> CliError {
        let (value, reason) = match &err {
            ImportError::Mapping { mapping, .. } => (mapping.clone(), err.to_string()),
            ImportError::Undetected { .. } => ("auto".to_owned(), err.to_string()),
        };
        CliError::Argument {
            flag: "mapping",
            value,
            reason,
        }
    }
}

impl LogSource {
    /// Opens the log at `path` in `format` with the mapping `mapping` (`receipt`,
    /// `bpic15`, a mapping file, or `None` to detect one from the log's attributes).
    ///
    /// # Errors
    /// [`CliError::Read`] if the log or the mapping file cannot be read;
    /// [`CliError::Argument`] (flag `mapping`) if the mapping is invalid or none fits.
    pub fn open(
        path: &Path,
        format: LogFormat,
        mapping: Option<&str>,
    ) -> Result<LogSource, CliError> {
        let (mut rows, header) = open_rows(path, format)?;
        let mut read_ahead = VecDeque::new();
        let mapping = match mapping {
            Some(choice) => resolve_mapping(choice)?,
            None => {
                let names = match header {
                    Some(header) => header,
                    None => read_first_names(rows.as_mut(), &mut read_ahead)?,
                };
                Mapping::detect(names.iter().map(String::as_str)).ok_or_else(|| {
                    ImportError::Undetected {
                        path: path.display().to_string(),
                        attributes: names.join(", "),
                    }
                })?
            }
        };
        Ok(LogSource {
            rows,
            mapping,
            ready: VecDeque::new(),
            read_ahead,
            current: None,
            finished_cases: BTreeSet::new(),
            ended: false,
        })
    }

    /// The mapping in use.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// The next row, read-ahead first.
    fn next_row(&mut self) -> Result<Option<RowRecord>, CliError> {
        if let Some(record) = self.read_ahead.pop_front() {
            return Ok(Some(record));
        }
        self.rows.next_row()
    }

    /// Maps the case being collected and queues its records.
    fn finish_case(&mut self) {
        if let Some((case, rows)) = self.current.take() {
            let records = self.mapping.map_case(&case, rows);
            self.ready.extend(records);
            self.finished_cases.insert(case);
        }
    }

    /// Takes one row into the case being collected, or queues why it cannot be.
    fn take_row(&mut self, row: LogRow) {
        let Some(case) = row.attributes.get(&self.mapping.case).cloned() else {
            self.ready.push_back(SourceRecord::Unreadable {
                line: row.line,
                message: format!("no case id (attribute {:?})", self.mapping.case),
            });
            return;
        };
        if let Some((current, rows)) = &mut self.current {
            if *current == case {
                rows.push(row);
                return;
            }
        }
        self.finish_case();
        if self.finished_cases.contains(&case) {
            self.ready.push_back(SourceRecord::Unreadable {
                line: row.line,
                message: format!(
                    "case {case:?} appears again after other cases; a log must keep the events of one case together"
                ),
            });
            return;
        }
        self.current = Some((case, vec![row]));
    }
}

impl EventSource for LogSource {
    fn next_record(&mut self) -> Result<Option<SourceRecord>, CliError> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Ok(Some(record));
            }
            if self.ended {
                return Ok(None);
            }
            match self.next_row()? {
                Some(RowRecord::Row(row)) => self.take_row(row),
                Some(RowRecord::Unreadable { line, message }) => {
                    self.ready
                        .push_back(SourceRecord::Unreadable { line, message });
                }
                None => {
                    self.ended = true;
                    self.finish_case();
                }
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.rows.bytes_read()
    }

    fn total_bytes(&self) -> Option<u64> {
        self.rows.total_bytes()
    }
}

/// The mapping named `choice`: a built-in name, or a TOML mapping file.
///
/// # Errors
/// [`CliError::Read`] if the file cannot be read; [`CliError::Argument`] if it is invalid.
pub fn resolve_mapping(choice: &str) -> Result<Mapping, CliError> {
    if let Some(mapping) = Mapping::builtin(choice) {
        return Ok(mapping);
    }
    let text = std::fs::read_to_string(choice).map_err(|source| CliError::Read {
        path: choice.to_owned(),
        source,
    })?;
    Ok(Mapping::parse(&text, choice)?)
}

/// Reads `rows` up to the first row, keeping what was read in `read_ahead`, and returns
/// that row's attribute names (none if the log has no row).
///
/// # Errors
/// [`CliError::Read`] if the file cannot be read.
pub fn read_first_names(
    rows: &mut dyn RowReader,
    read_ahead: &mut VecDeque<RowRecord>,
) -> Result<Vec<String>, CliError> {
    while let Some(record) = rows.next_row()? {
        let names = match &record {
            RowRecord::Row(row) => Some(row.attributes.keys().cloned().collect()),
            RowRecord::Unreadable { .. } => None,
        };
        read_ahead.push_back(record);
        if let Some(names) = names {
            return Ok(names);
        }
    }
    Ok(Vec::new())
}

/// Opens the rows of a log; for CSV also returns the header's attribute names.
///
/// # Errors
/// [`CliError::Read`] if the file cannot be opened or its header read.
pub fn open_rows(path: &Path, format: LogFormat) -> Result<OpenedRows, CliError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| CliError::Read {
        path: shown.clone(),
        source,
    })?;
    Ok(match format {
        LogFormat::Csv => {
            let log = CsvLog::open(file, &shown)?;
            let header = log.header().to_vec();
            (Box::new(log), Some(header))
        }
        LogFormat::Xes(compression) => (Box::new(XesLog::open(file, &shown, compression)), None),
    })
}

/// Runs `dunghan import`.
///
/// # Errors
/// [`CliError::Argument`] for a log of unknown format or a bad mapping,
/// [`CliError::Read`] if the log cannot be read, [`CliError::Output`] if `out` fails.
pub fn run(args: &ImportArgs, out: &mut dyn Write) -> Result<(), CliError> {
    match &args.command {
        ImportCommand::Catalog(catalog_args) => {
            let format =
                LogFormat::of_path(&catalog_args.log).ok_or_else(|| CliError::Argument {
                    flag: "log",
                    value: catalog_args.log.display().to_string(),
                    reason: "not a .csv, .xes or .xes.gz file".to_owned(),
                })?;
            let progress = Progress::bytes(None, ProgressMode::Auto);
            let document = catalog::derive_from_path(
                &catalog_args.log,
                format,
                catalog_args.mapping.as_deref(),
                &progress,
            );
            progress.finish();
            out.write_all(document?.as_bytes())?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn records(text: &str, name: &str, mapping: Option<&str>) -> Vec<SourceRecord> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let mut source =
            LogSource::open(&path, LogFormat::of_path(&path).unwrap(), mapping).unwrap();
        let mut records = Vec::new();
        while let Some(record) = source.next_record().unwrap() {
            records.push(record);
        }
        records
    }

    fn lines(records: &[SourceRecord]) -> Vec<(u64, bool)> {
        records
            .iter()
            .map(|record| match record {
                SourceRecord::Event { line, .. } => (*line, true),
                SourceRecord::Unreadable { line, .. } => (*line, false),
            })
            .collect()
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(
            LogFormat::of_path(Path::new("a/b.CSV")),
            Some(LogFormat::Csv)
        );
        assert_eq!(
            LogFormat::of_path(Path::new("08_receipt.xes.gz")),
            Some(LogFormat::Xes(Compression::Gzip))
        );
        assert_eq!(
            LogFormat::of_path(Path::new("x.xes")),
            Some(LogFormat::Xes(Compression::None))
        );
        assert_eq!(LogFormat::of_path(Path::new("events.jsonl")), None);
    }

    #[test]
    fn every_row_is_an_event_or_reported_and_split_cases_are_caught() {
        let text = "case:concept:name,concept:name,org:resource,time:timestamp,monitoringResource,dueDate\n\
            c1,A,1,2014-04-11T00:00:00+02:00,1,\n\
            c1,B,2,2014-04-12T00:00:00+02:00,1,2014-04-17T09:30:39+02:00\n\
            ,B,2,2014-04-12T00:00:00+02:00,1,\n\
            c2,A,1,2014-04-13T00:00:00+02:00,1,\n\
            c2,A,1\n\
            c1,C,1,2014-04-14T00:00:00+02:00,1,\n\
            c3,C,1,2014-04-14,1,\n";
        // Detected as BPIC15 from the header. A case's events come out when the next case
        // starts, so a problem may be reported before them (the summary sorts by line).
        let records = records(text, "log.csv", None);
        assert_eq!(
            lines(&records),
            [
                (4, false),
                (2, true),
                (3, true),
                (6, false),
                (5, true),
                (7, false),
                (8, false)
            ]
        );
        let messages: Vec<&str> = records
            .iter()
            .filter_map(|record| match record {
                SourceRecord::Unreadable { message, .. } => Some(message.as_str()),
                SourceRecord::Event { .. } => None,
            })
            .collect();
        assert!(messages[0].contains("no case id"), "{messages:?}");
        assert!(messages[1].contains("3 fields"), "{messages:?}");
        assert!(messages[2].contains("appears again"), "{messages:?}");
        assert!(messages[3].contains("without a time"), "{messages:?}");
    }

    #[test]
    fn an_unknown_log_needs_a_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.csv");
        std::fs::write(&path, "id,what,when\n").unwrap();
        let err = LogSource::open(&path, LogFormat::Csv, None).unwrap_err();
        assert!(
            matches!(&err, CliError::Argument { flag: "mapping", reason, .. } if reason.contains("id, what, when")),
            "{err}"
        );
    }
}
