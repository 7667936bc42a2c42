//! XES event logs (`.xes`, and gzip-compressed `.xes.gz`), read as a stream with
//! quick-xml, so a large log is never held in memory.
//!
//! Each `<event>` of a `<trace>` becomes one row: its attributes by key, and the trace's
//! attributes as `case:KEY` (the way pm4py flattens a log into CSV columns), so one
//! mapping serves a log in both formats. Nested attributes are read as `PARENT/KEY`; a
//! `<list>`'s values as `LIST/KEY`. Log-level attributes, `<global>`, `<extension>` and
//! `<classifier>` declarations are skipped. Trace attributes must come before the
//! trace's events, as OpenXES and pm4py write them.
//!
//! A row's line is the line of its `<event>` tag. XML that does not parse cannot be
//! resynchronised, so it is reported once, with its line, and the rest of the file is
//! not read. This module only reads rows; `mapping` decides what they mean.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};

use super::mapping::LogRow;
use super::{RowReader, RowRecord};
use crate::cli::CliError;

/// Whether the file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain XML (`.xes`).
    None,
    /// Gzip (`.xes.gz`).
    Gzip,
}

/// An XES log being read.
pub struct XesLog {
    /// The XML reader over the (decompressed) text.
    reader: quick_xml::Reader<Box<dyn BufRead + Send>>,
    /// Bytes of the file (compressed, if it is) consumed so far.
    file_bytes: Arc<AtomicU64>,
    /// The file's size, if known.
    total_bytes: Option<u64>,
    /// The path, for read errors.
    path: String,
    /// The event buffer, reused.
    buffer: Vec<u8>,
    /// Newlines seen so far: the current line is one more.
    n_newlines: u64,
    /// The attributes of the trace being read, as `case:KEY`.
    trace_attributes: BTreeMap<String, String>,
    /// Whether the reader is inside a `<trace>`.
    in_trace: bool,
    /// The event being read: its line and attributes.
    event: Option<LogRow>,
    /// Keys of the attribute elements open around the current position.
    open_keys: Vec<String>,
    /// Depth inside a skipped declaration (`<global>` …); zero outside one.
    skip_depth: u32,
    /// Set after an XML error: the rest of the file is not read.
    failed: bool,
}

impl std::fmt::Debug for XesLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XesLog")
            .field("path", &self.path)
            .field("line", &(self.n_newlines + 1))
            .finish_non_exhaustive()
    }
}

/// Counts the bytes read through it, for progress on compressed input.
struct CountingReader<R> {
    /// The input.
    inner: R,
    /// Bytes read so far, shared with the log.
    n_bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n_read = self.inner.read(buf)?;
        self.n_bytes.fetch_add(n_read as u64, Ordering::Relaxed);
        Ok(n_read)
    }
}

/// What reading one XML event gave.
enum Step {
    /// A finished row.
    Row(LogRow),
    /// Nothing to hand out yet.
    Continue,
    /// The end of the file.
    End,
    /// A problem to report.
    Unreadable {
        /// The line to report it at.
        line: u64,
        /// Why.
        message: String,
    },
}

/// XES element names that hold one attribute.
const ATTRIBUTE_ELEMENTS: [&[u8]; 8] = [
    b"string",
    b"date",
    b"int",
    b"float",
    b"boolean",
    b"id",
    b"list",
    b"container",
];

impl XesLog {
    /// Reads `file`; `path` names it in errors.
    pub fn open(file: File, path: &str, compression: Compression) -> XesLog {
        let total_bytes = file.metadata().ok().map(|metadata| metadata.len());
        let file_bytes = Arc::new(AtomicU64::new(0));
        let counted = CountingReader {
            inner: file,
            n_bytes: Arc::clone(&file_bytes),
        };
        let input: Box<dyn BufRead + Send> = match compression {
            Compression::None => Box::new(BufReader::new(counted)),
            Compression::Gzip => Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
                BufReader::new(counted),
            ))),
        };
        XesLog::from_reader(input, path, total_bytes, file_bytes)
    }

    /// Reads XES text from `input`; `path` names it in errors.
    pub fn from_reader(
        input: Box<dyn BufRead + Send>,
        path: &str,
        total_bytes: Option<u64>,
        file_bytes: Arc<AtomicU64>,
    ) -> XesLog {
        let mut reader = quick_xml::Reader::from_reader(input);
        // Whitespace is kept so that every newline passes through an event and is counted.
        reader.config_mut().trim_text(false);
        XesLog {
            reader,
            file_bytes,
            total_bytes,
            path: path.to_owned(),
            buffer: Vec::new(),
            n_newlines: 0,
            trace_attributes: BTreeMap::new(),
            in_trace: false,
            event: None,
            open_keys: Vec::new(),
            skip_depth: 0,
            failed: false,
        }
    }

    /// Records the attribute element `element` (a `<string key=… value=…>` or the like).
    fn record_attribute(&mut self, element: &BytesStart<'_>, is_open: bool) -> Result<(), String> {
        let mut key = None;
        let mut value = None;
        for attribute in element.attributes() {
            let attribute = attribute.map_err(|err| err.to_string())?;
            let text = attribute.unescape_value().map_err(|err| err.to_string())?;
            match attribute.key.as_ref() {
                b"key" => key = Some(text.into_owned()),
                b"value" => value = Some(text.into_owned()),
                _ => {}
            }
        }
        let key = key.unwrap_or_default();
        let path = if self.open_keys.is_empty() {
            key.clone()
        } else {
            format!("{}/{key}", self.open_keys.join("/"))
        };
        if is_open {
            self.open_keys.push(key);
        }
        let Some(value) = value.filter(|value| !value.trim().is_empty()) else {
            return Ok(());
        };
        if let Some(event) = &mut self.event {
            event.attributes.insert(path, value.trim().to_owned());
        } else if self.in_trace {
            self.trace_attributes
                .insert(format!("case:{path}"), value.trim().to_owned());
        }
        Ok(())
    }

    /// Handles one XML event; returns a finished row at `</event>`.
    fn handle(&mut self, event: Event<'_>, line: u64) -> Result<Option<LogRow>, String> {
        match event {
            Event::Start(element) => {
                let name = element.local_name();
                let name = name.as_ref();
                if self.skip_depth > 0 || matches!(name, b"global" | b"extension" | b"classifier") {
                    self.skip_depth += 1;
                } else if name == b"trace" {
                    self.in_trace = true;
                    self.trace_attributes.clear();
                } else if name == b"event" && self.in_trace {
                    self.event = Some(LogRow {
                        line,
                        attributes: BTreeMap::new(),
                    });
                } else if ATTRIBUTE_ELEMENTS.contains(&name) {
                    self.record_attribute(&element, true)?;
                } else if name == b"values" {
                    // The values of a <list> have no key of their own.
                    self.open_keys.push(String::new());
                }
            }
            Event::Empty(element) => {
                let name = element.local_name();
                let name = name.as_ref();
                if self.skip_depth == 0 && ATTRIBUTE_ELEMENTS.contains(&name) {
                    self.record_attribute(&element, false)?;
                } else if self.skip_depth == 0 && name == b"event" && self.in_trace {
                    return Ok(Some(self.finish_row(LogRow {
                        line,
                        attributes: BTreeMap::new(),
                    })));
                }
            }
            Event::End(element) => {
                let name = element.local_name();
                let name = name.as_ref();
                if self.skip_depth > 0 {
                    self.skip_depth -= 1;
                } else if name == b"trace" {
                    self.in_trace = false;
                    self.trace_attributes.clear();
                } else if name == b"event" {
                    if let Some(row) = self.event.take() {
                        return Ok(Some(self.finish_row(row)));
                    }
                } else if ATTRIBUTE_ELEMENTS.contains(&name) || name == b"values" {
                    self.open_keys.pop();
                }
            }
            _ => {}
        }
        Ok(None)
    }

    /// Reads one XML event into `buffer` and handles it; `line` is where it starts.
    fn step(&mut self, buffer: &mut Vec<u8>, line: u64) -> Result<Step, CliError> {
        let event = match self.reader.read_event_into(buffer) {
            Ok(Event::Eof) => return Ok(Step::End),
            Ok(event) => event,
            Err(quick_xml::Error::Io(err)) => {
                return Err(CliError::Read {
                    path: self.path.clone(),
                    source: std::io::Error::new(err.kind(), err.to_string()),
                })
            }
            Err(err) => {
                self.failed = true;
                return Ok(Step::Unreadable {
                    line,
                    message: format!("XML error: {err}; the rest of the file is not read"),
                });
            }
        };
        // The newlines inside this event; the tag delimiters hold none.
        let n_newlines = event.iter().filter(|byte| **byte == b'\n').count() as u64;
        let handled = self.handle(event, line);
        self.n_newlines += n_newlines;
        Ok(match handled {
            Ok(Some(row)) => Step::Row(row),
            Ok(None) => Step::Continue,
            Err(message) => {
                // A bad attribute spoils its event only: the event is dropped and
                // reported at its own line.
                let event_line = self.event.take().map_or(line, |row| row.line);
                Step::Unreadable {
                    line: event_line,
                    message: format!("bad XES attribute on line {line}: {message}"),
                }
            }
        })
    }

    /// Adds the trace's attributes to an event's row.
    fn finish_row(&self, mut row: LogRow) -> LogRow {
        for (key, value) in &self.trace_attributes {
            row.attributes
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        row
    }
}

impl RowReader for XesLog {
    fn next_row(&mut self) -> Result<Option<RowRecord>, CliError> {
        if self.failed {
            return Ok(None);
        }
        loop {
            let line = self.n_newlines + 1;
            // The buffer is moved out while the event borrows it, and back in after.
            let mut buffer = std::mem::take(&mut self.buffer);
            buffer.clear();
            let step = self.step(&mut buffer, line);
            self.buffer = buffer;
            match step? {
                Step::Row(row) => return Ok(Some(RowRecord::Row(row))),
                Step::Continue => {}
                Step::End => return Ok(None),
                Step::Unreadable { line, message } => {
                    return Ok(Some(RowRecord::Unreadable { line, message }))
                }
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.file_bytes.load(Ordering::Relaxed)
    }

    fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<RowRecord> {
        let mut log = XesLog::from_reader(
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            "t.xes",
            None,
            Arc::default(),
        );
        let mut rows = Vec::new();
        while let Some(row) = log.next_row().unwrap() {
            rows.push(row);
        }
        rows
    }

    const LOG: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0">
	<global scope="event">
		<string key="concept:name" value="UNKNOWN"/>
	</global>
	<string key="concept:name" value="the log"/>
	<trace>
		<string key="concept:name" value="case-1"/>
		<date key="deadline" value="2011-12-06T13:41:31.788+01:00"/>
		<event>
			<string key="concept:name" value="A &amp; B"/>
			<date key="time:timestamp" value="2011-10-11T13:45:40.276+02:00"/>
			<container key="extra">
				<int key="n" value="3"/>
			</container>
		</event>
		<event>
			<string key="concept:name" value="C"/>
		</event>
	</trace>
</log>
"#;

    #[test]
    fn events_carry_their_trace_attributes_and_their_line() {
        let rows = rows(LOG);
        assert_eq!(rows.len(), 2);
        let RowRecord::Row(first) = &rows[0] else {
            panic!("{rows:?}")
        };
        assert_eq!(first.line, 10);
        assert_eq!(first.attributes["concept:name"], "A & B");
        assert_eq!(first.attributes["case:concept:name"], "case-1");
        assert_eq!(
            first.attributes["case:deadline"],
            "2011-12-06T13:41:31.788+01:00"
        );
        assert_eq!(first.attributes["extra/n"], "3");
        // Declarations and log attributes are not event attributes.
        assert_eq!(first.attributes.len(), 5);
        let RowRecord::Row(second) = &rows[1] else {
            panic!("{rows:?}")
        };
        assert_eq!(second.line, 17);
    }

    #[test]
    fn broken_xml_is_reported_with_its_line_and_reading_stops() {
        let text = LOG.replace(
            "<event>\n\t\t\t<string key=\"concept:name\" value=\"C\"/>",
            "<event>\n\t\t\t<string key=\"concept:name\" value=\"C\"/></trace>",
        );
        let rows = rows(&text);
        assert_eq!(rows.len(), 2, "{rows:?}");
        let RowRecord::Unreadable { line, message } = &rows[1] else {
            panic!("{rows:?}")
        };
        assert_eq!(*line, 18, "{message}");
        assert!(message.contains("XML error"), "{message}");
    }
}
