//! The working calendar: when a unit is open, and working-time arithmetic on it.
//!
//! A [`CalendarSpec`] is data: default weeks with effective dates, dated overrides
//! (holidays, days off, swapped working days, partial days) and a rule for computing public
//! holidays in years without an official schedule. [`Calendar::compile`] validates it and
//! expands every local day of the horizon into sorted, disjoint UTC working intervals with
//! prefix sums of working seconds and a prefix count of working days, so that every query
//! (next opening, elapsed working time, due time, n-th working day) is a binary search,
//! O(log n), and never a walk over days.
//!
//! Submodules: [`lunar`] (the Vietnamese lunar calendar), `vietnam` (public holidays, the
//! shipped official schedules and their parser), `year` (the operator's view of one year).
//!
//! Local time exists only in this module; the zone is a fixed UTC offset passed in the spec
//! (Asia/Ho_Chi_Minh has been UTC+7 without daylight saving since 1975).
//! This module never reads the clock, does no I/O (the official schedule is embedded at
//! build time) and never panics on input: queries outside the horizon are
//! [`CalendarError::OutOfRange`]. Instants are counted in whole seconds; a sub-second part
//! of an instant is ignored by the working-time arithmetic.

mod compile;
pub mod lunar;
mod vietnam;
mod year;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use thiserror::Error;

use crate::ids::CalendarId;
use crate::time::WorkingTime;

pub use vietnam::{
    parse_overrides, vietnam_spec, vietnamese_holidays, OFFICIAL_SCHEDULE_CSV,
    VIETNAM_OFFICIAL_YEARS,
};
pub use year::{OverrideOrigin, YearOverride, YearView};

/// Why a calendar cannot be built or a query cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    /// The calendar never opens between the instant and the end of its horizon, or a budget
    /// cannot be spent before the horizon ends.
    #[error("calendar {calendar} has no open hours after {after} within its horizon")]
    NoOpenHours {
        /// The calendar.
        calendar: CalendarId,
        /// The instant searched from.
        after: DateTime<Utc>,
    },
    /// The instant or date lies outside the calendar's horizon.
    #[error("calendar {calendar} does not cover {what}")]
    OutOfRange {
        /// The calendar.
        calendar: CalendarId,
        /// The instant or date, as text.
        what: String,
    },
    /// A working interval of the spec is empty, reversed or overlaps another.
    #[error("calendar {calendar}: {field} has invalid hours {value}")]
    InvalidHours {
        /// The calendar.
        calendar: CalendarId,
        /// Where in the spec, e.g. `week[2025-01-01].monday` or `override[2025-01-25]`.
        field: String,
        /// The offending value.
        value: String,
    },
    /// Two overrides name the same date.
    #[error("calendar {calendar} has two overrides for {date}")]
    DuplicateOverride {
        /// The calendar.
        calendar: CalendarId,
        /// The date named twice.
        date: NaiveDate,
    },
    /// A part of the spec other than hours is invalid: no week, a week list out of order,
    /// hours on a holiday, a horizon out of bounds.
    #[error("calendar {calendar}: {field} = {value}: {reason}")]
    InvalidSpec {
        /// The calendar.
        calendar: CalendarId,
        /// Where in the spec, e.g. `weeks[0].effective_from` or `override[2025-01-25].hours`.
        field: String,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A line of an override file cannot be read.
    #[error("line {line}: {field} {value:?}: {reason}")]
    Parse {
        /// The 1-based line number.
        line: usize,
        /// The column: `date`, `kind`, `hours`, `note`, `source` or `line`.
        field: &'static str,
        /// The offending text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Local working hours `[start, end)` within one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalHours {
    /// Opening, local time.
    pub start: NaiveTime,
    /// Closing, local time, after `start`.
    pub end: NaiveTime,
}

/// The working hours of each weekday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekSchedule {
    /// Hours per weekday, Monday first; an empty list is a closed day.
    pub days: [Vec<LocalHours>; 7],
}

/// A default week in force from a date on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekVersion {
    /// First local date the week applies to.
    pub effective_from: NaiveDate,
    /// The week.
    pub week: WeekSchedule,
}

/// What a dated override does to its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OverrideKind {
    /// A public holiday: closed.
    Holiday,
    /// A day off (compensatory day off, swapped day off): closed.
    DayOff,
    /// A working day on a day the week closes (a swapped Saturday, làm bù).
    WorkingDay,
}

/// One dated exception to the default week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayOverride {
    /// The local date.
    pub date: NaiveDate,
    /// What happens that day.
    pub kind: OverrideKind,
    /// Hours for a working day or a partial day; `None` means the default week's hours
    /// (for a working day: the standard day's hours).
    pub hours: Option<Vec<LocalHours>>,
    /// Why, in words (e.g. `Tết Nguyên Đán`).
    pub note: String,
    /// Where it comes from (e.g. `Công văn 7004/BLĐTBXH 2024`, or `computed`).
    pub source: String,
}

/// Which public holidays are computed for years with no official schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolidayRule {
    /// Only the overrides given.
    None,
    /// Vietnamese public holidays (Labour Code 2019 Art. 112), lunar dates on UTC+7.
    Vietnam,
}

/// The data that defines a calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarSpec {
    /// Calendar id.
    pub id: CalendarId,
    /// Increases with every change; recorded in each verdict's explanation.
    pub version: u32,
    /// The zone's fixed offset from UTC.
    pub utc_offset: FixedOffset,
    /// Default weeks by effective date; the first must start at or before the horizon.
    pub weeks: Vec<WeekVersion>,
    /// Dated overrides; at most one per date.
    pub overrides: Vec<DayOverride>,
    /// Years whose overrides are an official schedule (not provisional).
    pub official_years: BTreeSet<i32>,
    /// Holidays computed for the other years.
    pub holiday_rule: HolidayRule,
    /// First year covered.
    pub first_year: i32,
    /// Last year covered (inclusive).
    pub last_year: i32,
}

/// Whether a year's holidays are known or computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YearStatus {
    /// An official schedule was loaded for the year.
    Official,
    /// Holidays were computed by rule; the Prime Minister's schedule may differ.
    Provisional,
    /// The year lies outside the calendar's horizon.
    OutOfRange,
}

/// A compiled calendar: working intervals over the horizon with prefix sums.
///
/// Built only by [`Calendar::compile`]; immutable afterwards, cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Calendar {
    spec: CalendarSpec,
    /// The zone's offset, seconds east of UTC.
    offset_secs: i64,
    /// The first local date of the horizon (1 January of `first_year`).
    first_date: NaiveDate,
    /// Number of local dates in the horizon.
    n_days: usize,
    /// The horizon in UTC seconds since the epoch, `[horizon_start, horizon_end)`.
    horizon_start: i64,
    horizon_end: i64,
    /// Working intervals `[starts[i], ends[i])` in UTC seconds since the epoch: sorted,
    /// disjoint, and never adjacent (adjacent intervals are merged at compile time).
    starts: Vec<i64>,
    ends: Vec<i64>,
    /// `worked[i]` is the working seconds before interval `i`; `worked[n]` is the total.
    worked: Vec<i64>,
    /// `working_days[d]` is the number of working days among the first `d` dates.
    working_days: Vec<u32>,
    /// The overrides in force, spec and computed, one per date, within the horizon.
    overrides: BTreeMap<NaiveDate, YearOverride>,
    /// The hours a working-day override without hours gets, per week version.
    standard_hours: Vec<Vec<LocalHours>>,
    /// The standard day's working time in the latest week.
    standard_day: WorkingTime,
}

impl Calendar {
    /// Compiles `spec` into working intervals over its horizon.
    ///
    /// Overrides outside the horizon are validated but have no effect. For years in the
    /// horizon that are not in `official_years`, the holiday rule's computed overrides are
    /// added, except on dates the spec already overrides.
    ///
    /// # Errors
    /// [`CalendarError::InvalidHours`] for reversed, overlapping or unordered hours,
    /// [`CalendarError::DuplicateOverride`] for two overrides on one date, and
    /// [`CalendarError::InvalidSpec`] for no week, weeks out of order or starting after the
    /// horizon, hours on a holiday or day off, or a horizon outside 1900–2200.
    pub fn compile(spec: CalendarSpec) -> Result<Calendar, CalendarError> {
        compile::compile(spec)
    }

    /// The calendar's id.
    pub fn id(&self) -> &CalendarId {
        &self.spec.id
    }

    /// The calendar's version.
    pub fn version(&self) -> u32 {
        self.spec.version
    }

    /// The spec it was compiled from.
    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// The local date of `instant`.
    pub fn local_date(&self, instant: DateTime<Utc>) -> NaiveDate {
        self.local_time(instant).date()
    }

    /// The local wall-clock time of `instant`.
    pub fn local_time(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        instant.with_timezone(&self.spec.utc_offset).naive_local()
    }

    /// The instant of a local wall-clock time (saturating at chrono's range).
    pub fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match local.checked_sub_offset(self.spec.utc_offset) {
            Some(utc) => utc.and_utc(),
            None if self.offset_secs > 0 => DateTime::<Utc>::MIN_UTC,
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// Whether the unit is open at `instant` (inside a working interval `[start, end)`).
    ///
    /// Outside the horizon the unit is closed.
    pub fn is_open(&self, instant: DateTime<Utc>) -> bool {
        let secs = instant.timestamp();
        let index = self.starts.partition_point(|&start| start <= secs);
        index > 0 && secs < self.ends[index - 1]
    }

    /// The working hours of a local date (empty when closed or outside the horizon).
    pub fn hours_on(&self, date: NaiveDate) -> Vec<LocalHours> {
        if self.day_index(date).is_none() {
            return Vec::new();
        }
        self.resolved_hours(date).to_vec()
    }

    /// Whether `date` has working hours (false outside the horizon).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.day_index(date)
            .is_some_and(|day| self.working_days[day + 1] > self.working_days[day])
    }

    /// The first instant at or after `instant` at which the unit is open.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if `instant` lies outside the horizon;
    /// [`CalendarError::NoOpenHours`] if the unit never opens again within the horizon.
    pub fn next_opening(&self, instant: DateTime<Utc>) -> Result<DateTime<Utc>, CalendarError> {
        let secs = self.secs_in_horizon(instant)?;
        let index = self.ends.partition_point(|&end| end <= secs);
        let Some(&start) = self.starts.get(index) else {
            return Err(self.no_open_hours(instant));
        };
        if start <= secs {
            return Ok(instant);
        }
        self.instant_of(start)
    }

    /// Working time in `[from, to)`; zero when `to <= from`.
    ///
    /// Instants outside the horizon are clamped to it: the calendar knows no working time
    /// before its first or after its last day.
    pub fn elapsed(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> WorkingTime {
        if to <= from {
            return WorkingTime::ZERO;
        }
        let worked = self.worked_until(to.timestamp()) - self.worked_until(from.timestamp());
        WorkingTime::seconds(worked)
    }

    /// The earliest instant `t >= start` with `elapsed(start, t) == budget`.
    ///
    /// A budget that ends exactly at a closing time gives that closing time (17:00), not the
    /// next opening. A zero budget gives `start`.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if `start` lies outside the horizon;
    /// [`CalendarError::NoOpenHours`] if the budget cannot be spent within the horizon.
    pub fn due_at(
        &self,
        start: DateTime<Utc>,
        budget: WorkingTime,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let secs = self.secs_in_horizon(start)?;
        if budget.is_zero() {
            return Ok(start);
        }
        let total = self.worked.last().copied().unwrap_or(0);
        let target = self
            .worked_until(secs)
            .checked_add(budget.as_secs())
            .filter(|&target| target <= total)
            .ok_or_else(|| self.no_open_hours(start))?;
        // The first interval whose end has `target` seconds worked before it; the budget is
        // used up inside it, in `(start, end]`, so a budget ending at a closing time gives
        // the closing time.
        let index = self.worked[1..].partition_point(|&worked_by_end| worked_by_end < target);
        let (Some(&interval_start), Some(&worked_before)) =
            (self.starts.get(index), self.worked.get(index))
        else {
            return Err(self.no_open_hours(start));
        };
        self.instant_of(interval_start + (target - worked_before))
    }

    /// The end of the last working interval of `date`, or `None` if it is not a working day.
    pub fn close_of_day(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        self.day_index(date)?;
        self.resolved_hours(date)
            .last()
            .map(|hours| self.to_utc(date.and_time(hours.end)))
    }

    /// The start of the first working interval of `date`, or `None` if it is not a working day.
    pub fn opening_of_day(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        self.day_index(date)?;
        self.resolved_hours(date)
            .first()
            .map(|hours| self.to_utc(date.and_time(hours.start)))
    }

    /// The `n`-th working day strictly after `date` (`n = 0` gives `date` itself if it is a
    /// working day, else the next working day).
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if `date` or the answer lies outside the horizon.
    pub fn nth_working_day_after(
        &self,
        date: NaiveDate,
        n: u32,
    ) -> Result<NaiveDate, CalendarError> {
        let day = self
            .day_index(date)
            .ok_or_else(|| self.out_of_range(date))?;
        let through_date = self.working_days[day + 1];
        if n == 0 && through_date > self.working_days[day] {
            return Ok(date);
        }
        // The answer is the day whose prefix count (days before it, plus itself) first
        // reaches `wanted`: the first index `m` with `working_days[m] >= wanted`, minus one.
        let wanted = u64::from(through_date) + u64::from(n.max(1));
        let first_reaching = self
            .working_days
            .partition_point(|&count| u64::from(count) < wanted);
        if first_reaching >= self.working_days.len() {
            return Err(self.out_of_range(date));
        }
        self.date_of_index(first_reaching - 1)
            .ok_or_else(|| self.out_of_range(date))
    }

    /// The working time of a standard day (the most common non-zero day length of the
    /// latest week; 8 hours for the Vietnamese default).
    pub fn standard_day(&self) -> WorkingTime {
        self.standard_day
    }

    /// Whether a year's holidays are official or provisional.
    pub fn year_status(&self, year: i32) -> YearStatus {
        if year < self.spec.first_year || year > self.spec.last_year {
            YearStatus::OutOfRange
        } else if self.spec.official_years.contains(&year) {
            YearStatus::Official
        } else {
            YearStatus::Provisional
        }
    }

    /// The hours of a date in the horizon: its override's, else its week's.
    fn resolved_hours(&self, date: NaiveDate) -> &[LocalHours] {
        let version = self.week_index_on(date);
        if let Some(found) = self.overrides.get(&date) {
            return match (found.day.kind, &found.day.hours) {
                (OverrideKind::Holiday | OverrideKind::DayOff, _) => &[],
                (OverrideKind::WorkingDay, Some(hours)) => hours,
                (OverrideKind::WorkingDay, None) => self
                    .standard_hours
                    .get(version)
                    .map_or(&[][..], Vec::as_slice),
            };
        }
        self.spec
            .weeks
            .get(version)
            .map_or(&[][..], |week| week_hours(&week.week, date))
    }

    /// The index of the week version in force on `date` (the first one before the horizon).
    fn week_index_on(&self, date: NaiveDate) -> usize {
        self.spec
            .weeks
            .partition_point(|version| version.effective_from <= date)
            .saturating_sub(1)
    }

    /// Working seconds from the horizon start to `secs` (clamped to the horizon).
    fn worked_until(&self, secs: i64) -> i64 {
        let index = self.starts.partition_point(|&start| start <= secs);
        if index == 0 {
            return 0;
        }
        let last = index - 1;
        self.worked[last] + secs.min(self.ends[last]) - self.starts[last]
    }

    /// The seconds of `instant`, if it lies in the horizon.
    fn secs_in_horizon(&self, instant: DateTime<Utc>) -> Result<i64, CalendarError> {
        let secs = instant.timestamp();
        if secs < self.horizon_start || secs >= self.horizon_end {
            return Err(CalendarError::OutOfRange {
                calendar: self.spec.id.clone(),
                what: instant.to_rfc3339(),
            });
        }
        Ok(secs)
    }

    /// The index of `date` among the horizon's dates.
    fn day_index(&self, date: NaiveDate) -> Option<usize> {
        let day = usize::try_from((date - self.first_date).num_days()).ok()?;
        (day < self.n_days).then_some(day)
    }

    /// The date at index `day` of the horizon.
    fn date_of_index(&self, day: usize) -> Option<NaiveDate> {
        self.first_date
            .checked_add_days(chrono::Days::new(u64::try_from(day).ok()?))
    }

    fn instant_of(&self, secs: i64) -> Result<DateTime<Utc>, CalendarError> {
        DateTime::from_timestamp(secs, 0).ok_or_else(|| CalendarError::OutOfRange {
            calendar: self.spec.id.clone(),
            what: format!("{secs} s after the epoch"),
        })
    }

    fn no_open_hours(&self, after: DateTime<Utc>) -> CalendarError {
        CalendarError::NoOpenHours {
            calendar: self.spec.id.clone(),
            after,
        }
    }

    fn out_of_range(&self, date: NaiveDate) -> CalendarError {
        CalendarError::OutOfRange {
            calendar: self.spec.id.clone(),
            what: date.to_string(),
        }
    }
}

/// The Vietnamese default week: Monday to Friday, 07:30–11:30 and 13:00–17:00.
pub fn vietnamese_default_week() -> WeekSchedule {
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
    let day = vec![
        LocalHours {
            start: hm(7, 30),
            end: hm(11, 30),
        },
        LocalHours {
            start: hm(13, 0),
            end: hm(17, 0),
        },
    ];
    let mut days: [Vec<LocalHours>; 7] = Default::default();
    for weekday in [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ] {
        days[weekday.num_days_from_monday() as usize] = day.clone();
    }
    WeekSchedule { days }
}

/// The hours `week` gives the weekday of `date`.
fn week_hours(week: &WeekSchedule, date: NaiveDate) -> &[LocalHours] {
    &week.days[date.weekday().num_days_from_monday() as usize]
}
