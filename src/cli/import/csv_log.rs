//! CSV event logs: a header row of attribute names, then one event per row.
//!
//! Rows are read one at a time with their line numbers (a quoted field may span lines;
//! the line is where the row starts). A row that is not valid UTF-8 or has the wrong
//! number of fields is reported and skipped; reading goes on.
//! This module only reads rows; `mapping` decides what they mean.

use std::collections::BTreeMap;
use std::fs::File;

use super::mapping::LogRow;
use super::{RowReader, RowRecord};
use crate::cli::CliError;

/// A CSV log being read.
#[derive(Debug)]
pub struct CsvLog {
    /// The csv reader, positioned after the header.
    reader: csv::Reader<File>,
    /// The header's attribute names.
    header: Vec<String>,
    /// The path, for read errors.
    path: String,
    /// The file's size, if known.
    total_bytes: Option<u64>,
    /// The current row, reused.
    record: csv::ByteRecord,
}

impl CsvLog {
    /// Opens `file` and reads its header; `path` names it in errors.
    ///
    /// # Errors
    /// [`CliError::Read`] if the header cannot be read.
    pub fn open(file: File, path: &str) -> Result<CsvLog, CliError> {
        let total_bytes = file.metadata().ok().map(|metadata| metadata.len());
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(file);
        let header = reader
            .byte_headers()
            .map_err(|err| read_error(path, err))?
            .iter()
            .enumerate()
            .map(|(column_idx, name)| {
                let name = String::from_utf8_lossy(name);
                // A byte-order mark may open files saved on Windows.
                let name = if column_idx == 0 {
                    name.trim_start_matches('\u{feff}')
                } else {
                    &name
                };
                name.trim().to_owned()
            })
            .collect();
        Ok(CsvLog {
            reader,
            header,
            path: path.to_owned(),
            total_bytes,
            record: csv::ByteRecord::new(),
        })
    }

    /// The attribute names of the header.
    pub fn header(&self) -> &[String] {
        &self.header
    }
}

impl RowReader for CsvLog {
    fn next_row(&mut self) -> Result<Option<RowRecord>, CliError> {
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|err| read_error(&self.path, err))?;
        if !more {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, csv::Position::line);
        if self.record.len() != self.header.len() {
            return Ok(Some(RowRecord::Unreadable {
                line,
                message: format!(
                    "{} fields where the header has {}",
                    self.record.len(),
                    self.header.len()
                ),
            }));
        }
        let mut attributes = BTreeMap::new();
        for (name, value) in self.header.iter().zip(self.record.iter()) {
            let Ok(value) = std::str::from_utf8(value) else {
                return Ok(Some(RowRecord::Unreadable {
                    line,
                    message: format!("column {name:?} is not valid UTF-8"),
                }));
            };
            if !value.trim().is_empty() {
                attributes.insert(name.clone(), value.trim().to_owned());
            }
        }
        Ok(Some(RowRecord::Row(LogRow { line, attributes })))
    }

    fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }

    fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }
}

/// A csv error as a read error of `path`.
fn read_error(path: &str, err: csv::Error) -> CliError {
    let line = err
        .position()
        .map(|position| format!(" (line {})", position.line()))
        .unwrap_or_default();
    CliError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{err}{line}")),
    }
}
