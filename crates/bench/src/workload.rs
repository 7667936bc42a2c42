//! The benchmark workload: the demo's province and its time-ordered event stream
//! (`dunghan::demo::workload`), cut into segments of files so that a run can grow the store
//! from one scale to the next, and the province data the PostgreSQL side needs.
//!
//! Segments: `workload(seed, n)` plans files in arrival order, so its first `m` files are
//! exactly the files of `workload(seed, m)`, with the same events. A segment `(from, to]`
//! streams `workload(seed, to)` and keeps the events of files whose arrival ordinal is above
//! `from`. A file's first event (id suffix `-01`) is at its arrival, so arrival ordinals are
//! counted on those events; the file id carries the arrival day, so only the files of the
//! boundary day need remembering.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{anyhow, Context as _, Result};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use dunghan::demo::{self, Province};
use dunghan::proto::v1 as pb;
use dunghan_domain::calendar::Calendar;
use dunghan_domain::clock::DueRule;
use dunghan_domain::ProcedureCode;

/// How many file ids a segment keeps for the timeline queries.
const SAMPLED_FILES: u64 = 2_000;

/// The province of a seed, resolved for the PostgreSQL loader.
#[derive(Debug)]
pub(crate) struct Context {
    /// The catalog document to load into dunghan.
    pub(crate) catalog_toml: String,
    /// The generated province.
    pub(crate) province: Arc<Province>,
    /// The calendar every unit uses (the shipped Vietnamese one).
    pub(crate) calendar: Arc<Calendar>,
    /// Due rule and field code of every procedure code.
    pub(crate) procedures: HashMap<String, (DueRule, &'static str)>,
}

/// What a segment streamed.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegmentInfo {
    /// Files of the segment (first events sent).
    pub(crate) files: u64,
    /// Events sent.
    pub(crate) events: u64,
    /// Sampled file ids of the segment, for GetFile.
    pub(crate) sample: Vec<String>,
    /// Arrival instant of the segment's first and last file.
    pub(crate) first_arrival: Option<DateTime<Utc>>,
    /// See `first_arrival`.
    pub(crate) last_arrival: Option<DateTime<Utc>>,
}

impl Context {
    /// The province of `seed` with its calendar and due rules.
    pub(crate) fn new(seed: u64) -> Result<Context> {
        let province = demo::workload_province(seed);
        let catalog = province
            .catalog()
            .map_err(|err| anyhow!("the demo province of seed {seed} has no catalog: {err}"))?;
        let calendar = catalog
            .calendars
            .values()
            .next()
            .cloned()
            .ok_or_else(|| anyhow!("the demo catalog of seed {seed} has no calendar"))?;
        let mut procedures = HashMap::new();
        for procedure in &province.procedures {
            let code = ProcedureCode::new(procedure.code)
                .map_err(|err| anyhow!("procedure code {}: {err}", procedure.code))?;
            let (_, found) = catalog
                .procedure_at(&code, province.config.effective_from)
                .ok_or_else(|| anyhow!("procedure {} is not in the catalog", procedure.code))?;
            procedures.insert(
                procedure.code.to_owned(),
                (DueRule::of(found), procedure.field),
            );
        }
        Ok(Context {
            catalog_toml: province.catalog_document(),
            province: Arc::new(province),
            calendar,
            procedures,
        })
    }

    /// Every unit as (id, parent id, the unit's ancestor one level below the province).
    pub(crate) fn units(&self) -> Vec<(String, Option<String>, Option<String>)> {
        let units = &self.province.units;
        units
            .iter()
            .map(|unit| {
                let parent = unit.parent.and_then(|p| units.get(p)).map(|p| p.id.clone());
                // Walk up until the parent is the root (the province itself has no parent).
                let mut top = None;
                let mut current = Some(unit);
                while let Some(node) = current {
                    match node.parent.and_then(|p| units.get(p)) {
                        Some(parent) if parent.parent.is_some() => current = Some(parent),
                        Some(_) => {
                            top = Some(node.id.clone());
                            current = None;
                        }
                        None => current = None,
                    }
                }
                (unit.id.clone(), parent, top)
            })
            .collect()
    }
}

/// Streams the events of files `(from, to]` of `workload(seed, to)` to `sink`, in stream
/// order, until the stream ends or `sink` returns false. Runs on the calling thread.
pub(crate) fn stream_segment(
    seed: u64,
    from: u64,
    to: u64,
    mut sink: impl FnMut(pb::Event) -> bool,
) -> SegmentInfo {
    let mut info = SegmentInfo::default();
    let stride = ((to - from) / SAMPLED_FILES).max(1);
    let mut ordinal = 0u64;
    // Arrival day (yymmdd) of the last file before the segment, and that day's files.
    let mut boundary_day: Option<u32> = None;
    let mut boundary_files: HashSet<String> = HashSet::new();
    for event in demo::workload(seed, to) {
        let day = arrival_day(&event.file_id);
        if event.event_id.ends_with("-01") {
            ordinal += 1;
            if ordinal <= from {
                if boundary_day != day {
                    boundary_files.clear();
                    boundary_day = day;
                }
                boundary_files.insert(event.file_id.clone());
                continue;
            }
            let at = event.occurred_at.as_ref().and_then(instant);
            info.first_arrival = info.first_arrival.or(at);
            info.last_arrival = at.or(info.last_arrival);
            if info.files % stride == 0 {
                info.sample.push(event.file_id.clone());
            }
            info.files += 1;
        } else {
            let before_segment = match (boundary_day, day) {
                (Some(boundary), Some(day)) => {
                    day < boundary || (day == boundary && boundary_files.contains(&event.file_id))
                }
                _ => false,
            };
            if before_segment {
                continue;
            }
        }
        info.events += 1;
        if !sink(event) {
            break;
        }
    }
    info
}

/// Local calendar day of an instant in Vietnam (UTC+7).
pub(crate) fn local_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&vietnam()).date_naive()
}

/// Local midnight starting `day` in Vietnam, as an instant.
pub(crate) fn local_midnight(day: NaiveDate) -> Result<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0)
        .and_then(|naive| naive.and_local_timezone(vietnam()).single())
        .map(|at| at.with_timezone(&Utc))
        .with_context(|| format!("local midnight of {day}"))
}

/// The II.06a period of a store whose files arrived from `first` to `last`: the local days
/// of the middle half of that span (at least one day).
pub(crate) fn report_period(
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let span = last - first;
    let start_day = local_day(first + span / 4);
    let end_day = local_day(first + span * 3 / 4).max(start_day + Duration::days(1));
    Ok((local_midnight(start_day)?, local_midnight(end_day)?))
}

/// A wire timestamp as an instant.
pub(crate) fn instant(ts: &dunghan::proto::wkt::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap_or(0))
}

/// An instant as a wire timestamp.
pub(crate) fn timestamp(at: DateTime<Utc>) -> dunghan::proto::wkt::Timestamp {
    dunghan::proto::wkt::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The arrival day `yymmdd` in a demo file id `000.00.NN.H99-yymmdd-nnnn`.
fn arrival_day(file_id: &str) -> Option<u32> {
    file_id.split('-').nth(1).and_then(|day| day.parse().ok())
}

fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3_600).expect("UTC+7 is a valid offset")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_partition_the_files_of_the_larger_workload() {
        let mut whole = Vec::new();
        let all = stream_segment(11, 0, 300, |event| {
            whole.push(event.event_id);
            true
        });
        let mut parts = Vec::new();
        let first = stream_segment(11, 0, 120, |event| {
            parts.push(event.event_id);
            true
        });
        let second = stream_segment(11, 120, 300, |event| {
            parts.push(event.event_id);
            true
        });
        assert_eq!(all.files, 300);
        assert_eq!(first.files + second.files, 300);
        whole.sort();
        parts.sort();
        assert_eq!(whole, parts);
    }

    #[test]
    fn arrival_day_reads_the_file_id() {
        assert_eq!(arrival_day("000.00.30.H99-240102-0001"), Some(240_102));
        assert_eq!(arrival_day("bench-alert"), None);
    }
}
