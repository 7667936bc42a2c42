//! The working calendar: when a unit is open, and working-time arithmetic on it.
//!
//! STUB API (to be replaced by the full implementation): the signatures below are the
//! contract the rest of the domain uses. A [`CalendarSpec`] is data (default weeks with
//! effective dates, dated overrides); [`Calendar::compile`] turns it into working intervals
//! over the horizon with prefix sums of working seconds, so every query is O(log n).
//!
//! Local time exists only in this module; the zone is a fixed UTC offset passed in the spec
//! (Asia/Ho_Chi_Minh has been UTC+7 without daylight saving since 1975).

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use thiserror::Error;

use crate::ids::CalendarId;
use crate::time::WorkingTime;

/// Why a calendar cannot be built or a query cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    /// The calendar never opens between the instant and the end of its horizon.
    #[error("calendar {calendar} has no open hours after {after}")]
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
#[derive(Debug, Clone)]
pub struct Calendar {
    spec: CalendarSpec,
}

impl Calendar {
    /// Compiles `spec` into working intervals over its horizon.
    ///
    /// # Errors
    /// [`CalendarError::InvalidHours`] or [`CalendarError::DuplicateOverride`] for a bad spec.
    pub fn compile(spec: CalendarSpec) -> Result<Calendar, CalendarError> {
        Ok(Calendar { spec })
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

    /// The instant of a local wall-clock time.
    pub fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        (local - self.spec.utc_offset).and_utc()
    }

    /// Whether the unit is open at `instant` (inside a working interval `[start, end)`).
    pub fn is_open(&self, instant: DateTime<Utc>) -> bool {
        let local = self.local_time(instant);
        self.hours_on(local.date())
            .iter()
            .any(|hours| hours.start <= local.time() && local.time() < hours.end)
    }

    /// The working hours of a local date (empty when closed).
    pub fn hours_on(&self, date: NaiveDate) -> Vec<LocalHours> {
        if let Some(found) = self.spec.overrides.iter().find(|o| o.date == date) {
            return match found.kind {
                OverrideKind::Holiday | OverrideKind::DayOff => Vec::new(),
                OverrideKind::WorkingDay => found
                    .hours
                    .clone()
                    .unwrap_or_else(|| self.week_on(date).days[0].clone()),
            };
        }
        let week = self.week_on(date);
        week.days[date.weekday().num_days_from_monday() as usize].clone()
    }

    /// Whether `date` has working hours.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !self.hours_on(date).is_empty()
    }

    /// The first instant at or after `instant` at which the unit is open.
    ///
    /// # Errors
    /// [`CalendarError::NoOpenHours`] if it never opens again within the horizon.
    pub fn next_opening(&self, instant: DateTime<Utc>) -> Result<DateTime<Utc>, CalendarError> {
        let mut date = self.local_date(instant);
        for _ in 0..3660 {
            for hours in self.hours_on(date) {
                let start = self.to_utc(date.and_time(hours.start));
                let end = self.to_utc(date.and_time(hours.end));
                if instant < end {
                    return Ok(start.max(instant));
                }
            }
            date = date.succ_opt().ok_or_else(|| self.no_open_hours(instant))?;
        }
        Err(self.no_open_hours(instant))
    }

    /// Working time in `[from, to)`; zero when `to <= from`.
    pub fn elapsed(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> WorkingTime {
        if to <= from {
            return WorkingTime::ZERO;
        }
        let mut total = 0;
        let mut date = self.local_date(from);
        while date <= self.local_date(to) {
            for hours in self.hours_on(date) {
                let start = self.to_utc(date.and_time(hours.start)).max(from);
                let end = self.to_utc(date.and_time(hours.end)).min(to);
                if start < end {
                    total += (end - start).num_seconds();
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        WorkingTime::seconds(total)
    }

    /// The earliest instant `t >= start` with `elapsed(start, t) == budget`.
    ///
    /// A budget that ends exactly at a closing time gives that closing time (17:00), not the
    /// next opening. A zero budget gives `start`.
    ///
    /// # Errors
    /// [`CalendarError::NoOpenHours`] if the budget cannot be spent within the horizon.
    pub fn due_at(
        &self,
        start: DateTime<Utc>,
        budget: WorkingTime,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let mut left = budget.as_secs();
        if left == 0 {
            return Ok(start);
        }
        let mut date = self.local_date(start);
        for _ in 0..36600 {
            for hours in self.hours_on(date) {
                let open = self.to_utc(date.and_time(hours.start)).max(start);
                let close = self.to_utc(date.and_time(hours.end));
                if open < close {
                    let length = (close - open).num_seconds();
                    if length >= left {
                        return Ok(open + chrono::Duration::seconds(left));
                    }
                    left -= length;
                }
            }
            date = date.succ_opt().ok_or_else(|| self.no_open_hours(start))?;
        }
        Err(self.no_open_hours(start))
    }

    /// The end of the last working interval of `date`, or `None` if it is not a working day.
    pub fn close_of_day(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        self.hours_on(date)
            .last()
            .map(|hours| self.to_utc(date.and_time(hours.end)))
    }

    /// The start of the first working interval of `date`, or `None` if it is not a working day.
    pub fn opening_of_day(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        self.hours_on(date)
            .first()
            .map(|hours| self.to_utc(date.and_time(hours.start)))
    }

    /// The `n`-th working day strictly after `date` (`n = 0` gives `date` itself if it is a
    /// working day, else the next working day).
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] past the horizon.
    pub fn nth_working_day_after(
        &self,
        date: NaiveDate,
        n: u32,
    ) -> Result<NaiveDate, CalendarError> {
        let mut current = date;
        let mut count = 0;
        if n == 0 && self.is_working_day(date) {
            return Ok(date);
        }
        for _ in 0..36600 {
            current = current.succ_opt().ok_or_else(|| self.out_of_range(date))?;
            if self.is_working_day(current) {
                count += 1;
                if count >= n.max(1) {
                    return Ok(current);
                }
            }
        }
        Err(self.out_of_range(date))
    }

    /// The working time of a standard day (the most common non-zero day length of the
    /// current week; 8 hours for the Vietnamese default).
    pub fn standard_day(&self) -> WorkingTime {
        let week = &self.spec.weeks.last().map(|w| w.week.clone());
        let Some(week) = week else {
            return WorkingTime::ZERO;
        };
        let secs = week.days[0]
            .iter()
            .map(|hours| (hours.end - hours.start).num_seconds())
            .sum();
        WorkingTime::seconds(secs)
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

    fn week_on(&self, date: NaiveDate) -> &WeekSchedule {
        let mut found = &self.spec.weeks[0].week;
        for version in &self.spec.weeks {
            if version.effective_from <= date {
                found = &version.week;
            }
        }
        found
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

use chrono::Datelike;

/// STUB: the shipped Vietnamese calendar (only the 2025 overrides the tests need).
pub fn vietnam_spec(id: CalendarId) -> CalendarSpec {
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN);
    let mut overrides = Vec::new();
    let mut closed = |date: NaiveDate, note: &str| {
        overrides.push(DayOverride {
            date,
            kind: OverrideKind::Holiday,
            hours: None,
            note: note.to_owned(),
            source: "stub".to_owned(),
        })
    };
    for d in 25..=31 {
        closed(day(2025, 1, d), "Tết");
    }
    closed(day(2025, 2, 1), "Tết");
    closed(day(2025, 2, 2), "Tết");
    closed(day(2025, 4, 30), "30/4");
    closed(day(2025, 5, 1), "1/5");
    closed(day(2025, 5, 2), "swap");
    overrides.push(DayOverride {
        date: day(2025, 4, 26),
        kind: OverrideKind::WorkingDay,
        hours: None,
        note: "làm bù".to_owned(),
        source: "stub".to_owned(),
    });
    CalendarSpec {
        id,
        version: 1,
        utc_offset: FixedOffset::east_opt(7 * 3600)
            .unwrap_or(FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!())),
        weeks: vec![WeekVersion {
            effective_from: day(2000, 1, 1),
            week: vietnamese_default_week(),
        }],
        overrides,
        official_years: BTreeSet::from([2025]),
        holiday_rule: HolidayRule::None,
        first_year: 2000,
        last_year: 2100,
    }
}
