//! The catalog derived from an event log: a fixed-offset calendar, a root unit with one
//! division per group, one officer per resource (in the group they work in most), and one
//! procedure whose steps are the log's activities.
//!
//! The log says nothing about opening hours or the procedure's deadline; the mapping's
//! `[catalog]` table does (docs/import.md explains the choices for the two built-in logs).
//! This module only reads the log and writes TOML text; loading it is `catalog load`'s job.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::Path;

use super::mapping::{LogRow, Mapping};
use super::{open_rows, read_first_names, resolve_mapping, ImportError, LogFormat, RowRecord};
use crate::cli::progress::Progress;
use crate::cli::CliError;

/// Rows read between two moves of the progress bar.
const PROGRESS_EVERY_ROWS: u64 = 1_000;

/// What a log says about its organisation and activities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogInventory {
    /// Events per group.
    pub groups: BTreeMap<String, u64>,
    /// Events per resource and group (`None`: events without a group).
    pub resources: BTreeMap<String, BTreeMap<Option<String>, u64>>,
    /// Activities in order of first appearance, each with its readable name and the
    /// events per group.
    pub activities: Vec<ActivityInventory>,
}

/// One activity of a log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityInventory {
    /// The activity (the step code).
    pub activity: String,
    /// Its readable name (the mapping's `activity_name`, else the activity).
    pub name: String,
    /// Events per group.
    pub groups: BTreeMap<Option<String>, u64>,
}

/// Reads the whole log at `path` and derives its catalog document, moving `progress` over
/// the bytes of the file read.
///
/// # Errors
/// [`CliError::Read`] if the log or the mapping file cannot be read;
/// [`CliError::Argument`] if the mapping is invalid or none fits.
pub fn derive_from_path(
    path: &Path,
    format: LogFormat,
    mapping: Option<&str>,
    progress: &Progress,
) -> Result<String, CliError> {
    let (mut rows, header) = open_rows(path, format)?;
    if let Some(total) = rows.total_bytes() {
        progress.set_total(total);
    }
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
    let mut inventory = LogInventory::default();
    let mut activity_idx: BTreeMap<String, usize> = BTreeMap::new();
    let mut n_rows: u64 = 0;
    loop {
        let record = match read_ahead.pop_front() {
            Some(record) => record,
            None => match rows.next_row()? {
                Some(record) => record,
                None => break,
            },
        };
        if let RowRecord::Row(row) = record {
            inventory.add(&mapping, &row, &mut activity_idx);
            n_rows += 1;
            if n_rows % PROGRESS_EVERY_ROWS == 0 {
                progress.update(rows.bytes_read(), format!("{n_rows} events"));
            }
        }
    }
    Ok(derive_catalog(&mapping, &inventory))
}

impl LogInventory {
    /// Counts one row.
    fn add(&mut self, mapping: &Mapping, row: &LogRow, activity_idx: &mut BTreeMap<String, usize>) {
        let attribute = |name: &Option<String>| {
            name.as_ref()
                .and_then(|name| row.attributes.get(name))
                .cloned()
        };
        let group = attribute(&mapping.group);
        if let Some(group) = &group {
            *self.groups.entry(group.clone()).or_default() += 1;
        }
        if let Some(resource) = attribute(&mapping.resource) {
            *self
                .resources
                .entry(resource)
                .or_default()
                .entry(group.clone())
                .or_default() += 1;
        }
        let Some(activity) = row.attributes.get(&mapping.activity) else {
            return;
        };
        let idx = *activity_idx.entry(activity.clone()).or_insert_with(|| {
            self.activities.push(ActivityInventory {
                activity: activity.clone(),
                name: attribute(&mapping.activity_name).unwrap_or_else(|| activity.clone()),
                groups: BTreeMap::new(),
            });
            self.activities.len() - 1
        });
        if let Some(entry) = self.activities.get_mut(idx) {
            *entry.groups.entry(group).or_default() += 1;
        }
    }
}

/// The catalog document (TOML) for a log with `inventory`, under `mapping`.
///
/// Each step's allotment is an equal share of the deadline in working time (calendar
/// days count 5 working days a week, a working day 8 hours), at least one minute; the
/// service only warns when allotments do not add up to the deadline.
pub fn derive_catalog(mapping: &Mapping, inventory: &LogInventory) -> String {
    let settings = &mapping.catalog;
    let from = quoted(&settings.effective_from);
    let calendar = mapping.calendar_id();
    let root = mapping.unit_id(None);
    let hours = format!(
        "[{}]",
        settings
            .hours
            .iter()
            .map(|range| quoted(range))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        text,
        "# Catalog derived by `dunghan import catalog` with the {:?} mapping (docs/import.md).",
        mapping.name
    );
    let _ = writeln!(
        text,
        "# The calendar has one fixed offset ({}): dunghan's calendars have no daylight saving.\n",
        settings.zone
    );
    let _ = writeln!(
        text,
        "[[calendar]]\nid = {}\nbase = \"empty\"\nversion = 1\nzone = {}",
        quoted(&calendar),
        quoted(&settings.zone)
    );
    let _ = writeln!(
        text,
        "[[calendar.week]]\neffective_from = {from}\nmonday = {hours}\ntuesday = {hours}\nwednesday = {hours}\nthursday = {hours}\nfriday = {hours}\n"
    );
    let _ = writeln!(
        text,
        "[[unit]]\nid = {}\nname = {}\nkind = \"other\"\ncalendar = {}\neffective_from = {from}\n",
        quoted(&root),
        quoted(&settings.root_unit_name),
        quoted(&calendar)
    );
    for group in inventory.groups.keys() {
        let _ = writeln!(
            text,
            "[[unit]]\nid = {}\nname = {}\nkind = \"division\"\nparent = {}\ncalendar = {}\neffective_from = {from}\n",
            quoted(&mapping.unit_id(Some(group))),
            quoted(group),
            quoted(&root),
            quoted(&calendar)
        );
    }
    for (resource, groups) in &inventory.resources {
        let unit = mapping.unit_id(most_frequent(groups).and_then(Option::as_deref));
        let _ = writeln!(
            text,
            "[[officer]]\nid = {}\nname = {}\nunit = {}\neffective_from = {from}\n",
            quoted(&mapping.officer_id(resource)),
            quoted(resource),
            quoted(&unit)
        );
    }
    let _ = writeln!(
        text,
        "[[procedure]]\ncode = {}\nname = {}\nfield = {}\nlevel = \"municipality\"\neffective_from = {from}\ndeadline = {{ amount = {}, unit = {} }}\ncounting = \"working-hours\"",
        quoted(&settings.procedure_code),
        quoted(&settings.procedure_name),
        quoted(&settings.field),
        settings.deadline_amount,
        quoted(&settings.deadline_unit)
    );
    let allotted_minutes = step_allotment_minutes(mapping, inventory.activities.len());
    for activity in &inventory.activities {
        let _ = write!(
            text,
            "[[procedure.step]]\ncode = {}\nname = {}\nallotted = \"{allotted_minutes}m\"\n",
            quoted(&activity.activity),
            quoted(&activity.name)
        );
        if let Some(Some(group)) = most_frequent(&activity.groups) {
            let _ = writeln!(text, "unit = {}", quoted(&mapping.unit_id(Some(group))));
        }
        text.push('\n');
    }
    text
}

/// Each step's equal share of the deadline, in whole minutes, at least one.
fn step_allotment_minutes(mapping: &Mapping, n_steps: usize) -> u64 {
    let amount = u64::from(mapping.catalog.deadline_amount);
    let deadline_minutes = match mapping.catalog.deadline_unit.as_str() {
        "working-hours" => amount * 60,
        "working-days" => amount * 8 * 60,
        // Calendar days: five working days in every seven.
        _ => amount * 5 / 7 * 8 * 60,
    };
    (deadline_minutes / (n_steps.max(1) as u64)).max(1)
}

/// The key with the highest count (the smallest key among equals).
fn most_frequent<K: Ord>(counts: &BTreeMap<K, u64>) -> Option<&K> {
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(key, _)| key)
}

/// A TOML basic string.
fn quoted(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog_file::{self, Format};
    use crate::cli::import::mapping::RECEIPT;

    #[test]
    fn a_derived_catalog_loads() {
        let mapping = Mapping::builtin(RECEIPT).unwrap();
        let mut inventory = LogInventory::default();
        let mut activity_idx = BTreeMap::new();
        for (resource, group, activity) in [
            ("Resource21", "Group 1", "Confirmation of receipt"),
            ("Resource10", "Group 4", "T02 Check confirmation of receipt"),
            ("Resource10", "Group 1", "T02 Check confirmation of receipt"),
            ("Resource10", "Group 4", "T06 \"quoted\" step"),
        ] {
            let row = LogRow {
                line: 2,
                attributes: [
                    ("org:resource", resource),
                    ("org:group", group),
                    ("concept:name", activity),
                ]
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
            };
            inventory.add(&mapping, &row, &mut activity_idx);
        }
        let text = derive_catalog(&mapping, &inventory);
        let document = catalog_file::parse(&text, Format::Toml)
            .unwrap_or_else(|errors| panic!("{errors:?}\n{text}"));
        assert_eq!(document.units.len(), 3);
        assert_eq!(document.officers.len(), 2);
        assert_eq!(document.procedures[0].1.steps.len(), 3);
        document
            .merge_into(&catalog_file::default_catalog(), &text, Format::Toml)
            .unwrap_or_else(|errors| panic!("{errors:?}\n{text}"));
        assert!(text
            .contains("id = \"wabo-resource10\"\nname = \"Resource10\"\nunit = \"wabo-group-4\""));
    }
}
