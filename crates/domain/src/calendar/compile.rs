//! Validation of a [`CalendarSpec`] and its expansion into working intervals with prefix sums.
//!
//! This is the only place that walks the horizon day by day, once, at compile time; every
//! query on the compiled [`Calendar`] is a binary search over what is built here.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Timelike};

use super::{
    vietnam, week_hours, Calendar, CalendarError, CalendarSpec, HolidayRule, LocalHours,
    OverrideKind, OverrideOrigin, WeekSchedule, YearOverride,
};
use crate::time::WorkingTime;

/// The years a horizon may cover: the lunar series are accurate over this span, and it
/// bounds the memory of a compiled calendar (about 25 bytes per working interval).
const HORIZON_YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// Seconds in a day.
const DAY_SECS: i64 = 86_400;

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

pub(super) fn compile(spec: CalendarSpec) -> Result<Calendar, CalendarError> {
    let (first_date, end_date) = validate_horizon(&spec)?;
    validate_weeks(&spec, first_date)?;
    let standard_hours: Vec<Vec<LocalHours>> = spec
        .weeks
        .iter()
        .map(|version| standard_hours(&version.week))
        .collect();
    validate_overrides(&spec, &standard_hours)?;
    let overrides = resolve_overrides(&spec, first_date, end_date);

    let offset_secs = i64::from(spec.utc_offset.local_minus_utc());
    let n_days = usize::try_from((end_date - first_date).num_days()).unwrap_or(0);
    let mut calendar = Calendar {
        offset_secs,
        first_date,
        n_days,
        horizon_start: local_midnight_utc(first_date, offset_secs),
        horizon_end: local_midnight_utc(end_date, offset_secs),
        starts: Vec::new(),
        ends: Vec::new(),
        worked: vec![0],
        working_days: Vec::with_capacity(n_days + 1),
        overrides,
        standard_day: standard_day(spec.weeks.last().map(|version| &version.week)),
        standard_hours,
        spec,
    };
    expand(&mut calendar);
    Ok(calendar)
}

/// Fills the intervals, their prefix sums and the working-day counts, one pass over the days.
fn expand(calendar: &mut Calendar) {
    let mut n_working_days = 0u32;
    calendar.working_days.push(0);
    let mut date = calendar.first_date;
    for _ in 0..calendar.n_days {
        let midnight = local_midnight_utc(date, calendar.offset_secs);
        let hours = calendar.resolved_hours(date).to_vec();
        if !hours.is_empty() {
            n_working_days += 1;
        }
        for interval in hours {
            let start = midnight + i64::from(interval.start.num_seconds_from_midnight());
            let end = midnight + i64::from(interval.end.num_seconds_from_midnight());
            // Adjacent intervals (07:30–11:30 and 11:30–12:00) become one, so that every
            // boundary in the vectors is a real opening or closing.
            if calendar.ends.last() == Some(&start) {
                if let Some(last) = calendar.ends.last_mut() {
                    *last = end;
                }
                if let Some(worked) = calendar.worked.last_mut() {
                    *worked += end - start;
                }
                continue;
            }
            let worked_before = calendar.worked.last().copied().unwrap_or(0);
            calendar.starts.push(start);
            calendar.ends.push(end);
            calendar.worked.push(worked_before + (end - start));
        }
        calendar.working_days.push(n_working_days);
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    calendar.starts.shrink_to_fit();
    calendar.ends.shrink_to_fit();
    calendar.worked.shrink_to_fit();
}

/// The horizon's first date and the date after its last.
fn validate_horizon(spec: &CalendarSpec) -> Result<(NaiveDate, NaiveDate), CalendarError> {
    let invalid = |field: &str, value: i32| CalendarError::InvalidSpec {
        calendar: spec.id.clone(),
        field: field.to_owned(),
        value: value.to_string(),
        reason: format!(
            "the horizon must lie within {}..={} with first_year <= last_year",
            HORIZON_YEARS.start(),
            HORIZON_YEARS.end()
        ),
    };
    if !HORIZON_YEARS.contains(&spec.first_year) {
        return Err(invalid("first_year", spec.first_year));
    }
    if !HORIZON_YEARS.contains(&spec.last_year) || spec.last_year < spec.first_year {
        return Err(invalid("last_year", spec.last_year));
    }
    let first = NaiveDate::from_ymd_opt(spec.first_year, 1, 1);
    let end = NaiveDate::from_ymd_opt(spec.last_year + 1, 1, 1);
    match (first, end) {
        (Some(first), Some(end)) => Ok((first, end)),
        _ => Err(invalid("first_year", spec.first_year)),
    }
}

fn validate_weeks(spec: &CalendarSpec, first_date: NaiveDate) -> Result<(), CalendarError> {
    let invalid = |field: String, value: String, reason: &str| CalendarError::InvalidSpec {
        calendar: spec.id.clone(),
        field,
        value,
        reason: reason.to_owned(),
    };
    let Some(first) = spec.weeks.first() else {
        return Err(invalid(
            "weeks".to_owned(),
            "[]".to_owned(),
            "a calendar needs at least one week",
        ));
    };
    if first.effective_from > first_date {
        return Err(invalid(
            "weeks[0].effective_from".to_owned(),
            first.effective_from.to_string(),
            &format!("the first week must start on or before the horizon start {first_date}"),
        ));
    }
    for (index, pair) in spec.weeks.windows(2).enumerate() {
        if pair[1].effective_from <= pair[0].effective_from {
            return Err(invalid(
                format!("weeks[{}].effective_from", index + 1),
                pair[1].effective_from.to_string(),
                "weeks must be in strictly increasing order of effective date",
            ));
        }
    }
    for version in &spec.weeks {
        for (weekday, hours) in version.week.days.iter().enumerate() {
            let field = format!(
                "week[{}].{}",
                version.effective_from,
                WEEKDAY_NAMES.get(weekday).copied().unwrap_or("day")
            );
            validate_hours(spec, &field, hours)?;
        }
    }
    Ok(())
}

/// Checks one day's hours: whole seconds, each non-empty, in order and not overlapping.
fn validate_hours(
    spec: &CalendarSpec,
    field: &str,
    hours: &[LocalHours],
) -> Result<(), CalendarError> {
    let invalid = |value: String| CalendarError::InvalidHours {
        calendar: spec.id.clone(),
        field: field.to_owned(),
        value,
    };
    for interval in hours {
        if interval.start >= interval.end
            || interval.start.nanosecond() != 0
            || interval.end.nanosecond() != 0
        {
            return Err(invalid(format_hours(interval)));
        }
    }
    for pair in hours.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(invalid(format!(
                "{} overlaps or precedes {}",
                format_hours(&pair[1]),
                format_hours(&pair[0])
            )));
        }
    }
    Ok(())
}

fn validate_overrides(
    spec: &CalendarSpec,
    standard_hours: &[Vec<LocalHours>],
) -> Result<(), CalendarError> {
    let mut seen = std::collections::BTreeSet::new();
    for found in &spec.overrides {
        if !seen.insert(found.date) {
            return Err(CalendarError::DuplicateOverride {
                calendar: spec.id.clone(),
                date: found.date,
            });
        }
        let field = format!("override[{}]", found.date);
        match (found.kind, &found.hours) {
            (OverrideKind::Holiday | OverrideKind::DayOff, Some(hours)) => {
                return Err(CalendarError::InvalidSpec {
                    calendar: spec.id.clone(),
                    field: format!("{field}.hours"),
                    value: hours.iter().map(format_hours).collect::<Vec<_>>().join(" "),
                    reason: format!("a {:?} closes the day and takes no hours", found.kind),
                });
            }
            (OverrideKind::WorkingDay, Some(hours)) if hours.is_empty() => {
                return Err(CalendarError::InvalidHours {
                    calendar: spec.id.clone(),
                    field,
                    value: "[]".to_owned(),
                });
            }
            (OverrideKind::WorkingDay, Some(hours)) => validate_hours(spec, &field, hours)?,
            (OverrideKind::WorkingDay, None) => {
                let version = spec
                    .weeks
                    .partition_point(|version| version.effective_from <= found.date)
                    .saturating_sub(1);
                if standard_hours.get(version).is_none_or(Vec::is_empty) {
                    return Err(CalendarError::InvalidSpec {
                        calendar: spec.id.clone(),
                        field: format!("{field}.hours"),
                        value: "none".to_owned(),
                        reason: "the week in force has no working day to copy hours from"
                            .to_owned(),
                    });
                }
            }
            (OverrideKind::Holiday | OverrideKind::DayOff, None) => {}
        }
    }
    Ok(())
}

/// The overrides in force on the horizon's dates: the spec's, then the holiday rule's for
/// the years without an official schedule, where the spec says nothing about the date.
fn resolve_overrides(
    spec: &CalendarSpec,
    first_date: NaiveDate,
    end_date: NaiveDate,
) -> BTreeMap<NaiveDate, YearOverride> {
    let mut overrides = BTreeMap::new();
    for found in &spec.overrides {
        if found.date < first_date || found.date >= end_date {
            continue;
        }
        let origin = if spec.official_years.contains(&found.date.year()) {
            OverrideOrigin::Official
        } else {
            OverrideOrigin::Loaded
        };
        overrides.insert(
            found.date,
            YearOverride {
                day: found.clone(),
                origin,
            },
        );
    }
    if spec.holiday_rule == HolidayRule::None {
        return overrides;
    }
    let is_rest_day = |date: NaiveDate| {
        let version = spec
            .weeks
            .partition_point(|version| version.effective_from <= date)
            .saturating_sub(1);
        spec.weeks
            .get(version)
            .is_none_or(|version| week_hours(&version.week, date).is_empty())
    };
    for year in spec.first_year..=spec.last_year {
        if spec.official_years.contains(&year) {
            continue;
        }
        for computed in vietnam::holidays_with_rest_days(year, &is_rest_day) {
            overrides
                .entry(computed.date)
                .or_insert_with(|| YearOverride {
                    day: computed,
                    origin: OverrideOrigin::Computed,
                });
        }
    }
    overrides
}

/// The hours of the week's standard day: the first weekday (Monday first) whose length is
/// the most common non-zero day length. Empty if the week never opens.
pub(super) fn standard_hours(week: &WeekSchedule) -> Vec<LocalHours> {
    let length = standard_day(Some(week));
    week.days
        .iter()
        .find(|hours| !hours.is_empty() && day_length(hours) == length)
        .cloned()
        .unwrap_or_default()
}

/// The most common non-zero day length of `week` (ties go to the longer day).
fn standard_day(week: Option<&WeekSchedule>) -> WorkingTime {
    let Some(week) = week else {
        return WorkingTime::ZERO;
    };
    let mut counts: BTreeMap<WorkingTime, usize> = BTreeMap::new();
    for hours in &week.days {
        if !hours.is_empty() {
            *counts.entry(day_length(hours)).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(length, count)| (count, length))
        .map_or(WorkingTime::ZERO, |(length, _)| length)
}

fn day_length(hours: &[LocalHours]) -> WorkingTime {
    hours
        .iter()
        .map(|interval| WorkingTime::seconds((interval.end - interval.start).num_seconds()))
        .sum()
}

/// The UTC seconds since the epoch of local midnight starting `date`.
fn local_midnight_utc(date: NaiveDate, offset_secs: i64) -> i64 {
    (i64::from(date.num_days_from_ce()) - UNIX_EPOCH_DAYS_FROM_CE) * DAY_SECS - offset_secs
}

fn format_hours(hours: &LocalHours) -> String {
    format!("{}-{}", hours.start, hours.end)
}

const WEEKDAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
