//! The mapping from an event log's attributes to dunghan events: which attribute is the
//! case, the activity, the resource, the group, the timestamp, the deadline, and how the
//! events of one case become `received`, `handed_over` and `resolved`.
//!
//! Two mappings are built in (`receipt` for the WABO receipt-phase log, `bpic15` for BPI
//! Challenge 2015 municipality 1) and any other log can be described in a TOML mapping
//! file with the same fields. docs/import.md documents both tables and the file format.
//!
//! This module maps one case at a time and never reads files: the readers in `csv_log`
//! and `xes` hand it rows of attributes.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

use super::ImportError;
use crate::cli::push::SourceRecord;
use crate::proto::v1 as pb;

/// The name of the built-in mapping for the WABO receipt-phase log.
pub const RECEIPT: &str = "receipt";

/// The name of the built-in mapping for BPI Challenge 2015 municipality 1.
pub const BPIC15: &str = "bpic15";

/// How the attributes of one event log become dunghan events and a catalog.
///
/// Attribute names are the log's keys; in XES, trace attributes are read as `case:KEY`
/// (as pm4py flattens them into CSV columns), so one mapping serves a log in both formats.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// A short name for the mapping, shown in messages.
    pub name: String,
    /// The `source` of every event, e.g. `wabo-receipt-log`.
    pub source: String,
    /// Prefixed to every case id to make the file id, and to unit and officer ids.
    pub id_prefix: String,
    /// The attribute holding the case id (the file).
    pub case: String,
    /// The attribute holding the activity (the step code of a handover).
    pub activity: String,
    /// The attribute holding a readable activity name for the catalog's steps; the
    /// activity itself if absent.
    #[serde(default)]
    pub activity_name: Option<String>,
    /// The attribute holding the resource (the officer); events without it have no officer.
    #[serde(default)]
    pub resource: Option<String>,
    /// The attribute holding the group (the unit); events without it are held by the root unit.
    #[serde(default)]
    pub group: Option<String>,
    /// The attribute holding the event's instant, with its UTC offset.
    pub timestamp: String,
    /// An attribute holding the instant the case started (the application date); when it
    /// is present and not after the first event, the `received` event takes it as its time.
    #[serde(default)]
    pub start: Option<String>,
    /// An attribute holding the source's deadline for the case; its latest value in the
    /// case becomes the `received` event's appointment.
    #[serde(default)]
    pub deadline: Option<String>,
    /// The attribute holding the channel, read through `channels`; in person if absent.
    #[serde(default)]
    pub channel: Option<String>,
    /// Channel values (`Internet`) to channels (`online`, `in-person`, `postal`).
    #[serde(default)]
    pub channels: BTreeMap<String, String>,
    /// If set, the last event with this activity becomes `resolved` (instead of the
    /// case's last event), and a case without it stays open.
    #[serde(default)]
    pub end_activity: Option<String>,
    /// The catalog derived for the log.
    pub catalog: CatalogSettings,
}

/// The parts of a derived catalog that the log does not say.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    /// The procedure code every file of the log follows.
    pub procedure_code: String,
    /// The procedure's name.
    pub procedure_name: String,
    /// The procedure's field (lĩnh vực).
    pub field: String,
    /// The procedure's deadline amount.
    pub deadline_amount: u32,
    /// The deadline's unit: `calendar-days`, `working-days` or `working-hours`.
    pub deadline_unit: String,
    /// The root unit's name; groups become its divisions.
    pub root_unit_name: String,
    /// A fixed-offset IANA zone for the calendar, e.g. `Etc/GMT-1` (UTC+01:00).
    pub zone: String,
    /// Opening hours of each weekday, Monday to Friday, e.g. `["08:00-17:00"]`.
    pub hours: Vec<String>,
    /// The date catalog objects take effect, `YYYY-MM-DD`; before the log's first event.
    pub effective_from: String,
}

/// One event of a log: its line (or event ordinal) and its attributes, case attributes
/// included as `case:KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// The 1-based line in the file where the event starts.
    pub line: u64,
    /// Attribute key to value; empty values are left out.
    pub attributes: BTreeMap<String, String>,
}

/// A channel of the wire API, by its name in a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelName {
    /// `in-person`.
    InPerson,
    /// `online`.
    Online,
    /// `postal`.
    Postal,
}

impl Mapping {
    /// The built-in mapping called `name` (`receipt` or `bpic15`), if there is one.
    pub fn builtin(name: &str) -> Option<Mapping> {
        let text = match name {
            RECEIPT => RECEIPT_TOML,
            BPIC15 => BPIC15_TOML,
            _ => return None,
        };
        // The built-in texts are constants checked by the tests; an error here is a bug,
        // reported as a mapping error rather than a panic.
        Mapping::parse(text, name).ok()
    }

    /// Parses and checks a TOML mapping document; `shown` names it in errors.
    ///
    /// # Errors
    /// [`ImportError::Mapping`] with the line and message of the first problem.
    pub fn parse(text: &str, shown: &str) -> Result<Mapping, ImportError> {
        let mapping: Mapping = toml::from_str(text).map_err(|err| ImportError::Mapping {
            mapping: shown.to_owned(),
            reason: match err.span() {
                Some(span) => format!(
                    "line {}: {}",
                    text[..span.start.min(text.len())].matches('\n').count() + 1,
                    err.message()
                ),
                None => err.message().to_owned(),
            },
        })?;
        for (value, channel) in &mapping.channels {
            if channel_name(channel).is_none() {
                return Err(ImportError::Mapping {
                    mapping: shown.to_owned(),
                    reason: format!(
                        "channels.{value} = {channel:?} is not one of in-person, online, postal"
                    ),
                });
            }
        }
        Ok(mapping)
    }

    /// The built-in mapping that fits a log with these attribute names, if one does.
    ///
    /// The receipt log has case attributes `deadline` and `startdate` and event groups;
    /// BPI Challenge 2015 has `monitoringResource` and `dueDate` on events.
    pub fn detect<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Mapping> {
        let names: Vec<&str> = names.into_iter().collect();
        let has = |name: &str| names.contains(&name);
        if has("case:deadline") && has("case:startdate") && has("org:group") {
            return Mapping::builtin(RECEIPT);
        }
        if has("monitoringResource") && has("dueDate") {
            return Mapping::builtin(BPIC15);
        }
        None
    }

    /// The file id of `case`.
    pub fn file_id(&self, case: &str) -> String {
        format!("{}{case}", self.id_prefix)
    }

    /// The unit id of a group, or of the root unit for `None`.
    pub fn unit_id(&self, group: Option<&str>) -> String {
        match group {
            Some(group) => format!("{}{}", self.id_prefix, slug(group)),
            None => format!("{}root", self.id_prefix),
        }
    }

    /// The officer id of a resource.
    pub fn officer_id(&self, resource: &str) -> String {
        format!("{}{}", self.id_prefix, slug(resource))
    }

    /// The id of the derived calendar.
    pub fn calendar_id(&self) -> String {
        format!("{}calendar", self.id_prefix)
    }

    /// Maps the rows of one case, in log order, to records: each row becomes exactly one
    /// event or one unreadable record, so nothing is lost silently.
    ///
    /// The events come out in time order, the order in which they happened and in which
    /// the service folds them, then the unreadable rows in line order. Sent in line order,
    /// a handover that the log lists before earlier ones (BPIC15 does) would reach the
    /// service before the handovers that lead to it, and be refused as coming from
    /// someone who does not hold the file.
    ///
    /// Rows are ordered by time (log order breaks ties). The first becomes `received`,
    /// the end (the last row, or the last `end_activity`) becomes `resolved`, and every
    /// other row becomes `handed_over` from the previous row's holder to its own holder,
    /// with the activity as step code. The event id is the file id, `#`, and the row's
    /// 1-based ordinal in the case in log order, so importing again gives duplicates.
    /// The ordinal has six digits, because the service orders the events of one instant
    /// by id: unpadded, `#10` would come before `#7` and the handovers of a day would be
    /// folded out of log order (BPIC15 records dates only).
    pub fn map_case(&self, case: &str, rows: Vec<LogRow>) -> Vec<SourceRecord> {
        let file_id = self.file_id(case);
        let mut records = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        let mut timed = Vec::with_capacity(rows.len());
        for (row_idx, row) in rows.into_iter().enumerate() {
            match self.check_row(&row) {
                Ok(at) => timed.push((at, row_idx + 1, row)),
                Err(message) => unreadable.push(SourceRecord::Unreadable {
                    line: row.line,
                    message,
                }),
            }
        }
        timed.sort_by_key(|(at, ordinal, _)| (*at, *ordinal));
        let end_idx = match &self.end_activity {
            Some(end) => timed
                .iter()
                .rposition(|(_, _, row)| row.attributes.get(&self.activity) == Some(end)),
            None if timed.len() >= 2 => Some(timed.len() - 1),
            None => None,
        };
        let appointment = self.appointment(&timed);
        let mut previous_holder: Option<(String, String)> = None;
        for (event_idx, (at, ordinal, row)) in timed.iter().enumerate() {
            let holder = self.holder(row);
            let kind = if event_idx == 0 {
                let channel = self.channel_of(row);
                pb::event::Kind::Received(pb::event::Received {
                    procedure_code: self.catalog.procedure_code.clone(),
                    channel: channel as i32,
                    receiving_unit_id: holder.1.clone(),
                    receiving_officer_id: holder.0.clone(),
                    appointment_at: appointment.map(timestamp),
                })
            } else if Some(event_idx) == end_idx {
                pb::event::Kind::Resolved(pb::event::Resolved {
                    officer_id: holder.0.clone(),
                    unit_id: holder.1.clone(),
                })
            } else {
                let (from_officer_id, from_unit_id) =
                    previous_holder.clone().unwrap_or_else(|| holder.clone());
                pb::event::Kind::HandedOver(pb::event::HandedOver {
                    from_officer_id,
                    from_unit_id,
                    to_officer_id: holder.0.clone(),
                    to_unit_id: holder.1.clone(),
                    step_code: row
                        .attributes
                        .get(&self.activity)
                        .cloned()
                        .unwrap_or_default(),
                })
            };
            let occurred_at = if event_idx == 0 {
                self.received_at(row, *at)
            } else {
                *at
            };
            records.push(SourceRecord::Event {
                line: row.line,
                event: pb::Event {
                    event_id: format!("{file_id}#{ordinal:06}"),
                    file_id: file_id.clone(),
                    occurred_at: Some(timestamp(occurred_at)),
                    source: self.source.clone(),
                    kind: Some(kind),
                },
            });
            previous_holder = Some(holder);
        }
        records.append(&mut unreadable);
        records
    }

    /// The row's instant, or why the row is not an event.
    fn check_row(&self, row: &LogRow) -> Result<DateTime<FixedOffset>, String> {
        let Some(text) = row.attributes.get(&self.timestamp) else {
            return Err(format!("no timestamp (attribute {:?})", self.timestamp));
        };
        let at = parse_instant(text).map_err(|reason| {
            format!(
                "timestamp {:?} = {text:?} is not an instant: {reason}",
                self.timestamp
            )
        })?;
        if !row.attributes.contains_key(&self.activity) {
            return Err(format!("no activity (attribute {:?})", self.activity));
        }
        Ok(at)
    }

    /// The holder of a row: (officer id or empty, unit id).
    fn holder(&self, row: &LogRow) -> (String, String) {
        let attribute = |name: &Option<String>| {
            name.as_ref()
                .and_then(|name| row.attributes.get(name))
                .map(String::as_str)
        };
        let officer = attribute(&self.resource)
            .map(|resource| self.officer_id(resource))
            .unwrap_or_default();
        (officer, self.unit_id(attribute(&self.group)))
    }

    /// The `received` event's time: the case start if the mapping names one and it is
    /// not after the first event, else the first event's time.
    fn received_at(&self, row: &LogRow, first_at: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        self.start
            .as_ref()
            .and_then(|name| row.attributes.get(name))
            .and_then(|text| parse_instant(text).ok())
            .filter(|start| *start <= first_at)
            .unwrap_or(first_at)
    }

    /// The latest deadline value of the case's rows, if the mapping names one.
    fn appointment(
        &self,
        rows: &[(DateTime<FixedOffset>, usize, LogRow)],
    ) -> Option<DateTime<FixedOffset>> {
        let name = self.deadline.as_ref()?;
        rows.iter()
            .filter_map(|(_, _, row)| row.attributes.get(name))
            .filter_map(|text| parse_instant(text).ok())
            .max()
    }

    /// The channel of the case, from the first row.
    fn channel_of(&self, row: &LogRow) -> pb::Channel {
        let name = self
            .channel
            .as_ref()
            .and_then(|attribute| row.attributes.get(attribute))
            .and_then(|value| self.channels.get(value))
            .and_then(|channel| channel_name(channel));
        match name {
            Some(ChannelName::Online) => pb::Channel::Online,
            Some(ChannelName::Postal) => pb::Channel::Postal,
            Some(ChannelName::InPerson) | None => pb::Channel::InPerson,
        }
    }
}

/// Parses an instant with its UTC offset: RFC 3339 (`2011-12-06T13:41:31.788+01:00`), or
/// with a space between date and time (`2011-12-06 13:41:31.788000+01:00`, as pandas
/// writes CSV).
///
/// # Errors
/// chrono's reason, or that the offset is missing.
pub fn parse_instant(text: &str) -> Result<DateTime<FixedOffset>, String> {
    let text = text.trim();
    let mut normalized = text.to_owned();
    if normalized.len() > 10 && normalized.as_bytes()[10] == b' ' {
        normalized.replace_range(10..11, "T");
    }
    DateTime::parse_from_rfc3339(&normalized).map_err(|err| {
        if normalized.len() <= 10 {
            return "it is a date without a time and UTC offset".to_owned();
        }
        let has_offset = normalized.ends_with('Z')
            || normalized
                .get(normalized.len().saturating_sub(6)..)
                .is_some_and(|tail| tail.starts_with('+') || tail.starts_with('-'));
        if has_offset {
            err.to_string()
        } else {
            "it has no UTC offset".to_owned()
        }
    })
}

/// An id part from a log value: lowercase, with every run of characters other than
/// letters and digits turned into one `-`.
pub fn slug(value: &str) -> String {
    let mut slug = String::with_capacity(value.len());
    for ch in value.trim().chars() {
        if ch.is_alphanumeric() {
            slug.extend(ch.to_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// A wire timestamp of an instant.
fn timestamp(at: DateTime<FixedOffset>) -> crate::proto::wkt::Timestamp {
    crate::proto::wkt::Timestamp {
        seconds: at.timestamp(),
        // Below one billion by chrono's contract (no leap second in parsed text).
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The channel called `name` in a mapping.
fn channel_name(name: &str) -> Option<ChannelName> {
    match name {
        "in-person" => Some(ChannelName::InPerson),
        "online" => Some(ChannelName::Online),
        "postal" => Some(ChannelName::Postal),
        _ => None,
    }
}

/// The built-in mapping of the WABO receipt-phase log (`08_receipt.xes.gz`, `receipt.csv`).
pub const RECEIPT_TOML: &str = include_str!("mappings/receipt.toml");

/// The built-in mapping of BPI Challenge 2015 municipality 1 (`BPIC15_1_imported.csv`).
pub const BPIC15_TOML: &str = include_str!("mappings/bpic15.toml");

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u64, pairs: &[(&str, &str)]) -> LogRow {
        LogRow {
            line,
            attributes: pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    fn kinds(records: &[SourceRecord]) -> Vec<String> {
        records
            .iter()
            .map(|record| match record {
                SourceRecord::Event { line, event } => {
                    let kind = format!("{:?}", event.kind.as_ref().unwrap());
                    format!("{line}:{}", kind.split('(').next().unwrap())
                }
                SourceRecord::Unreadable { line, .. } => format!("{line}:unreadable"),
            })
            .collect()
    }

    #[test]
    fn builtin_mappings_parse() {
        assert_eq!(Mapping::builtin(RECEIPT).unwrap().name, "receipt");
        assert_eq!(Mapping::builtin(BPIC15).unwrap().name, "bpic15");
        assert!(Mapping::builtin("other").is_none());
    }

    #[test]
    fn detection_reads_the_attribute_names() {
        let receipt = [
            "case:deadline",
            "case:startdate",
            "org:group",
            "concept:name",
        ];
        assert_eq!(Mapping::detect(receipt).unwrap().name, "receipt");
        let bpic = ["monitoringResource", "dueDate", "concept:name"];
        assert_eq!(Mapping::detect(bpic).unwrap().name, "bpic15");
        assert!(Mapping::detect(["concept:name"]).is_none());
    }

    #[test]
    fn a_case_becomes_received_handovers_and_resolved_in_time_order() {
        let mapping = Mapping::builtin(RECEIPT).unwrap();
        let common = [
            ("case:concept:name", "case-1"),
            ("case:startdate", "2011-10-11 13:42:22.688000+02:00"),
            ("case:deadline", "2011-12-06 13:41:31.788000+01:00"),
            ("case:channel", "Internet"),
        ];
        let with = |line: u64, at: &str, activity: &str, resource: &str| {
            let mut pairs = common.to_vec();
            pairs.extend([
                ("time:timestamp", at),
                ("concept:name", activity),
                ("org:resource", resource),
                ("org:group", "Group 1"),
            ]);
            row(line, &pairs)
        };
        let rows = vec![
            with(
                2,
                "2011-10-11 13:45:40+02:00",
                "Confirmation of receipt",
                "R1",
            ),
            // Out of time order in the log: sorted by time, the ordinal stays its own.
            with(3, "2011-10-13 09:00:00+02:00", "T05", "R2"),
            with(4, "2011-10-12 08:26:25+02:00", "T02", "R2"),
            with(5, "yesterday", "T06", "R2"),
        ];
        let records = mapping.map_case("case-1", rows);
        // In time order, as the service folds them; the unreadable row last.
        assert_eq!(
            kinds(&records),
            ["2:Received", "4:HandedOver", "3:Resolved", "5:unreadable"]
        );
        let SourceRecord::Event { event, .. } = &records[0] else {
            panic!()
        };
        assert_eq!(event.event_id, "wabo-case-1#000001");
        assert_eq!(event.file_id, "wabo-case-1");
        // The received time is the case's start date, before the first event.
        assert_eq!(
            event.occurred_at.unwrap().seconds,
            parse_instant("2011-10-11T13:42:22.688+02:00")
                .unwrap()
                .timestamp()
        );
        let Some(pb::event::Kind::Received(received)) = &event.kind else {
            panic!()
        };
        assert_eq!(received.channel(), pb::Channel::Online);
        assert_eq!(received.receiving_unit_id, "wabo-group-1");
        assert_eq!(received.receiving_officer_id, "wabo-r1");
        assert!(received.appointment_at.is_some());
        let SourceRecord::Event { event, .. } = &records[1] else {
            panic!()
        };
        assert_eq!(event.event_id, "wabo-case-1#000003");
        let Some(pb::event::Kind::HandedOver(handed)) = &event.kind else {
            panic!()
        };
        assert_eq!(handed.from_officer_id, "wabo-r1");
        assert_eq!(handed.to_officer_id, "wabo-r2");
        assert_eq!(handed.step_code, "T02");
        let SourceRecord::Unreadable { message, .. } = &records[3] else {
            panic!()
        };
        assert!(message.contains("\"yesterday\""), "{message}");
    }

    #[test]
    fn a_case_of_one_event_stays_open() {
        let mapping = Mapping::builtin(BPIC15).unwrap();
        let records = mapping.map_case(
            "7",
            vec![row(
                9,
                &[
                    ("time:timestamp", "2014-04-11T00:00:00+02:00"),
                    ("concept:name", "01_HOOFD_010"),
                ],
            )],
        );
        assert_eq!(kinds(&records), ["9:Received"]);
    }

    #[test]
    fn an_end_activity_resolves_at_its_last_occurrence_and_without_it_the_file_stays_open() {
        let mut mapping = Mapping::builtin(BPIC15).unwrap();
        mapping.end_activity = Some("close".to_owned());
        let at = |line: u64, day: u32, activity: &str| {
            row(
                line,
                &[
                    (
                        "time:timestamp",
                        &format!("2014-04-{day:02}T00:00:00+02:00"),
                    ),
                    ("concept:name", activity),
                ],
            )
        };
        let rows = vec![
            at(2, 1, "a"),
            at(3, 2, "close"),
            at(4, 3, "close"),
            at(5, 4, "b"),
        ];
        assert_eq!(
            kinds(&mapping.map_case("c", rows)),
            ["2:Received", "3:HandedOver", "4:Resolved", "5:HandedOver"]
        );
        let rows = vec![at(2, 1, "a"), at(3, 2, "b")];
        assert_eq!(
            kinds(&mapping.map_case("c", rows)),
            ["2:Received", "3:HandedOver"]
        );
    }

    #[test]
    fn a_mapping_file_is_read_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(
            &path,
            RECEIPT_TOML.replace("name = \"receipt\"", "name = \"mine\""),
        )
        .unwrap();
        let mapping = crate::cli::import::resolve_mapping(path.to_str().unwrap()).unwrap();
        assert_eq!(mapping.name, "mine");
        let err = Mapping::parse("name = \"x\"\nkase = 1\n", "bad.toml").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn instants_need_an_offset() {
        assert!(parse_instant("2014-04-14 00:00:00")
            .unwrap_err()
            .contains("no UTC offset"));
        assert_eq!(
            parse_instant("2011-12-06 13:41:31.788000+01:00").unwrap(),
            parse_instant("2011-12-06T13:41:31.788+01:00").unwrap()
        );
    }

    #[test]
    fn slugs_are_lowercase_words() {
        assert_eq!(slug("Group 1"), "group-1");
        assert_eq!(slug("Customer contact "), "customer-contact");
        assert_eq!(slug("9264148"), "9264148");
    }

    #[test]
    fn a_bad_channel_in_a_mapping_file_is_refused() {
        let text = RECEIPT_TOML.replace("\"online\"", "\"pigeon\"");
        let err = Mapping::parse(&text, "m.toml").unwrap_err();
        assert!(err.to_string().contains("pigeon"), "{err}");
    }
}
