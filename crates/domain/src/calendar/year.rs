//! The operator's view of one calendar year: what differs from the default week, and why.
//!
//! The `dunghan calendar` command prints a [`YearView`]; it only lists, it never decides.

use chrono::{Datelike, NaiveDate};

use super::{week_hours, Calendar, DayOverride, YearStatus};
use crate::ids::CalendarId;

/// Where an override in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OverrideOrigin {
    /// Given in the spec for a year whose schedule is official.
    Official,
    /// Given in the spec for a year without an official schedule (dated data loaded by an
    /// operator, such as a new holiday).
    Loaded,
    /// Computed by the calendar's holiday rule; provisional.
    Computed,
}

/// An override in force on a date, with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearOverride {
    /// The override, with its note and source.
    pub day: DayOverride,
    /// Whether it is official, loaded or computed.
    pub origin: OverrideOrigin,
}

/// One year of a calendar as an operator reads it.
///
/// "Weekday" here means a day the default week in force opens, "weekend day" one it
/// closes, whatever the day's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearView {
    /// The calendar.
    pub calendar: CalendarId,
    /// The calendar's version.
    pub version: u32,
    /// The year.
    pub year: i32,
    /// Official, provisional, or outside the horizon (then every list is empty).
    pub status: YearStatus,
    /// Days the week would open that are closed (holidays, days off), in date order.
    pub non_working_weekdays: Vec<NaiveDate>,
    /// Days the week would close that are open (swapped working days), in date order.
    pub working_weekend_days: Vec<NaiveDate>,
    /// Every override in force in the year, in date order, including those that change
    /// nothing (a holiday on a Sunday), with note, source and origin.
    pub overrides: Vec<YearOverride>,
    /// Number of working days in the year.
    pub n_working_days: u32,
}

impl Calendar {
    /// The year's non-working weekdays, working weekend days and overrides.
    ///
    /// Lists the year's days once (at most 366), for display; no query depends on it.
    pub fn year(&self, year: i32) -> YearView {
        let mut view = YearView {
            calendar: self.spec.id.clone(),
            version: self.spec.version,
            year,
            status: self.year_status(year),
            non_working_weekdays: Vec::new(),
            working_weekend_days: Vec::new(),
            overrides: Vec::new(),
            n_working_days: 0,
        };
        let (Some(first), Some(last)) = (
            NaiveDate::from_ymd_opt(year, 1, 1),
            NaiveDate::from_ymd_opt(year, 12, 31),
        ) else {
            return view;
        };
        if view.status == YearStatus::OutOfRange {
            return view;
        }
        view.overrides = self
            .overrides
            .range(first..=last)
            .map(|(_, found)| found.clone())
            .collect();
        for date in first.iter_days().take_while(|date| *date <= last) {
            let week_opens = self
                .spec
                .weeks
                .get(self.week_index_on(date))
                .is_some_and(|version| !week_hours(&version.week, date).is_empty());
            let working = self.is_working_day(date);
            if working {
                view.n_working_days += 1;
            }
            match (week_opens, working) {
                (true, false) => view.non_working_weekdays.push(date),
                (false, true) => view.working_weekend_days.push(date),
                _ => {}
            }
        }
        debug_assert!(view.overrides.iter().all(|o| o.day.date.year() == year));
        view
    }
}
