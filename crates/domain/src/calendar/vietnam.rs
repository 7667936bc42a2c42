//! Vietnamese public holidays: the rule that computes them, the official schedules shipped as
//! data, and the parser for dated override files.
//!
//! # The computed (provisional) rule
//! For a year without an official schedule, [`vietnamese_holidays`] applies the Labour Code
//! 2019, Art. 112(1), with the Prime Minister's yearly choices replaced by fixed rules:
//! - 1/1 (Tết Dương lịch).
//! - Tết Nguyên Đán, 5 days: the last day of the lunar year and lunar 1/1 to 4/1. (The
//!   Prime Minister picks the 5 days each year, often 1–2 days before Tết and 3–4 after;
//!   the rule takes the most common pattern.)
//! - Hùng Kings' day, lunar 10/3 (the first month 3 if the year repeats it).
//! - 30/4 and 1/5.
//! - National Day 2/9 and one adjacent day, taken as 1/9. With the compensation rule below
//!   this reproduces every announced schedule 2022–2025: 2/9 on a Monday gives Mon+Tue off
//!   (2024: 1/9 is a Sunday, compensated on 3/9), on a Saturday gives Fri 1/9 and Mon 4/9
//!   off (2023).
//!
//! Compensation (nghỉ bù, Art. 111(3)): "if a weekly day off coincides with a holiday of
//! Art. 112(1), the worker takes the day off on the next working day". Every holiday day
//! that falls on a weekly rest day of the week in force (Saturday and Sunday by default),
//! including the weekend days inside the 5 days of Tết, gives one compensatory day off on
//! the first following day that is a working day of the week and is neither a holiday nor
//! already a compensatory day. The official notices apply Art. 111(3) the same way to Tết:
//! Thông báo 5015/TB-LĐTBXH (2023) gives Tết 2024 as "5 days of Tết and 2 compensatory days
//! for the weekly rest days" (Thu 8/2 – Wed 14/2). Two holidays on the same date (Hùng Kings' day can fall on
//! 30/4 or 1/5) are treated the same way: the second one is compensated.
//!
//! Lunar dates come from [`super::lunar`], the Vietnamese calendar at meridian UTC+7.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, FixedOffset, NaiveDate, NaiveTime, Offset, Utc};

use super::lunar::{lunar_new_year, lunar_to_solar, LunarDate};
use super::{
    vietnamese_default_week, week_hours, CalendarError, CalendarSpec, DayOverride, HolidayRule,
    LocalHours, OverrideKind, WeekVersion,
};
use crate::ids::CalendarId;

/// The shipped official schedules (`crates/domain/data/vn-official.csv`), in the format
/// [`parse_overrides`] reads.
pub const OFFICIAL_SCHEDULE_CSV: &str = include_str!("../../data/vn-official.csv");

/// The years whose holidays [`OFFICIAL_SCHEDULE_CSV`] gives as officially announced.
pub const VIETNAM_OFFICIAL_YEARS: [i32; 3] = [2024, 2025, 2026];

/// The `source` of every computed override.
const COMPUTED_SOURCE: &str = "computed";

/// The shipped Vietnamese calendar: the default week (Mon–Fri 07:30–11:30, 13:00–17:00) at
/// UTC+7, the official schedules of [`VIETNAM_OFFICIAL_YEARS`], holidays computed by
/// [`HolidayRule::Vietnam`] for every other year, horizon 2000–2100, version 1.
///
/// # Panics
/// Never at run time: the embedded schedule is a build-time constant and the test
/// `shipped_schedule_parses` proves it parses.
pub fn vietnam_spec(id: CalendarId) -> CalendarSpec {
    #[allow(clippy::expect_used)] // The embedded file is fixed at build time and tested.
    let overrides = parse_overrides(OFFICIAL_SCHEDULE_CSV)
        .expect("the embedded vn-official.csv parses (test shipped_schedule_parses)");
    CalendarSpec {
        id,
        version: 1,
        // UTC+7 is a valid offset; the fallback only satisfies the type.
        utc_offset: FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| Utc.fix()),
        weeks: vec![WeekVersion {
            effective_from: NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN),
            week: vietnamese_default_week(),
        }],
        overrides,
        official_years: VIETNAM_OFFICIAL_YEARS.into_iter().collect(),
        holiday_rule: HolidayRule::Vietnam,
        first_year: 2000,
        last_year: 2100,
    }
}

/// The computed Vietnamese public holidays of `year` for the default week (Saturday and
/// Sunday rest): holidays, then compensatory days off, sorted by date, each with source
/// `computed`. See the module docs for the rule.
pub fn vietnamese_holidays(year: i32) -> Vec<DayOverride> {
    let week = vietnamese_default_week();
    holidays_with_rest_days(year, &|date| week_hours(&week, date).is_empty())
}

/// Reads dated overrides, one per line: `date,kind,hours,note,source` (see
/// `crates/domain/data/vn-official.csv` for the documented format).
///
/// # Errors
/// [`CalendarError::Parse`] naming the 1-based line, the column and the text: a wrong
/// number of columns, a bad date, an unknown kind, bad or reversed hours, hours on a
/// holiday or day off, an empty source, or a date given twice.
pub fn parse_overrides(text: &str) -> Result<Vec<DayOverride>, CalendarError> {
    let mut overrides = Vec::new();
    let mut first_line_of: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    let mut seen_data = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !seen_data && trimmed.replace(' ', "") == "date,kind,hours,note,source" {
            seen_data = true;
            continue;
        }
        seen_data = true;
        let parsed = parse_line(line, trimmed)?;
        if let Some(earlier) = first_line_of.insert(parsed.date, line) {
            return Err(parse_error(
                line,
                "date",
                &parsed.date.to_string(),
                &format!("the date is already overridden on line {earlier}"),
            ));
        }
        overrides.push(parsed);
    }
    Ok(overrides)
}

/// The computed holidays of `year` when `is_rest_day` tells the weekly rest days.
pub(super) fn holidays_with_rest_days(
    year: i32,
    is_rest_day: &dyn Fn(NaiveDate) -> bool,
) -> Vec<DayOverride> {
    let holidays = holiday_days(year);
    let mut by_date: BTreeMap<NaiveDate, DayOverride> = BTreeMap::new();
    let mut needs_compensation = Vec::new();
    for (date, note) in &holidays {
        if let Some(existing) = by_date.get_mut(date) {
            existing.note = format!("{} + {note}", existing.note);
            needs_compensation.push((*date, note.clone()));
            continue;
        }
        if is_rest_day(*date) {
            needs_compensation.push((*date, note.clone()));
        }
        by_date.insert(*date, computed(*date, OverrideKind::Holiday, note.clone()));
    }
    let holiday_dates: BTreeSet<NaiveDate> = by_date.keys().copied().collect();
    let mut compensations: BTreeMap<NaiveDate, DayOverride> = BTreeMap::new();
    for (holiday, note) in needs_compensation {
        // The search is bounded: a run of holidays and rest days never lasts 60 days.
        let next = (1..60)
            .filter_map(|days| holiday.checked_add_signed(Duration::days(days)))
            .find(|date| {
                !is_rest_day(*date)
                    && !holiday_dates.contains(date)
                    && !compensations.contains_key(date)
            });
        if let Some(date) = next {
            let note = format!("Nghỉ bù (Art. 111(3)) for {holiday}: {note}");
            compensations.insert(date, computed(date, OverrideKind::DayOff, note));
        }
    }
    by_date.extend(compensations);
    by_date.into_values().collect()
}

/// The holiday days of Art. 112(1) in `year`, in date order, with their notes; a date may
/// appear twice when two holidays coincide.
fn holiday_days(year: i32) -> Vec<(NaiveDate, String)> {
    let mut days = Vec::new();
    let mut push = |date: Option<NaiveDate>, note: &str| {
        if let Some(date) = date {
            days.push((date, note.to_owned()));
        }
    };
    push(NaiveDate::from_ymd_opt(year, 1, 1), "Tết Dương lịch");
    if let Some(tet) = lunar_new_year(year) {
        push(
            tet.pred_opt(),
            "Tết Nguyên Đán (last day of the lunar year)",
        );
        for (offset, name) in ["mùng 1", "mùng 2", "mùng 3", "mùng 4"].iter().enumerate() {
            let date = tet.checked_add_signed(Duration::days(offset as i64));
            push(date, &format!("Tết Nguyên Đán ({name})"));
        }
    }
    let hung_kings = lunar_to_solar(LunarDate {
        year,
        month: 3,
        day: 10,
        leap: false,
    });
    push(hung_kings, "Giỗ Tổ Hùng Vương (10/3 âm lịch)");
    push(NaiveDate::from_ymd_opt(year, 4, 30), "Ngày Chiến thắng");
    push(NaiveDate::from_ymd_opt(year, 5, 1), "Ngày Quốc tế Lao động");
    push(
        NaiveDate::from_ymd_opt(year, 9, 1),
        "Quốc khánh (adjacent day, provisional rule: 1/9)",
    );
    push(NaiveDate::from_ymd_opt(year, 9, 2), "Quốc khánh");
    days.sort_by_key(|(date, _)| *date);
    days
}

fn computed(date: NaiveDate, kind: OverrideKind, note: String) -> DayOverride {
    DayOverride {
        date,
        kind,
        hours: None,
        note,
        source: COMPUTED_SOURCE.to_owned(),
    }
}

fn parse_line(line: usize, text: &str) -> Result<DayOverride, CalendarError> {
    let fields = split_fields(line, text)?;
    let [date, kind, hours, note, source] = fields.as_slice() else {
        return Err(parse_error(
            line,
            "line",
            text,
            &format!(
                "expected 5 columns (date,kind,hours,note,source), found {}",
                fields.len()
            ),
        ));
    };
    let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map_err(|err| parse_error(line, "date", date, &format!("expected YYYY-MM-DD: {err}")))?;
    let kind = match kind.trim() {
        "holiday" => OverrideKind::Holiday,
        "day-off" => OverrideKind::DayOff,
        "working-day" => OverrideKind::WorkingDay,
        other => {
            return Err(parse_error(
                line,
                "kind",
                other,
                "expected holiday, day-off or working-day",
            ))
        }
    };
    let hours = parse_hours(line, hours.trim())?;
    if hours.is_some() && kind != OverrideKind::WorkingDay {
        return Err(parse_error(
            line,
            "hours",
            hours_text(hours.as_deref()).as_str(),
            "a holiday or day-off closes the day and takes no hours",
        ));
    }
    let source = source.trim();
    if source.is_empty() {
        return Err(parse_error(
            line,
            "source",
            source,
            "every override needs a source",
        ));
    }
    Ok(DayOverride {
        date,
        kind,
        hours,
        note: note.trim().to_owned(),
        source: source.to_owned(),
    })
}

/// Space-separated `HH:MM-HH:MM` ranges, in order and not overlapping; empty means `None`.
fn parse_hours(line: usize, text: &str) -> Result<Option<Vec<LocalHours>>, CalendarError> {
    if text.is_empty() {
        return Ok(None);
    }
    let mut hours: Vec<LocalHours> = Vec::new();
    for range in text.split_whitespace() {
        let bad = |reason: &str| parse_error(line, "hours", range, reason);
        let (start, end) = range
            .split_once('-')
            .ok_or_else(|| bad("expected HH:MM-HH:MM"))?;
        let start =
            NaiveTime::parse_from_str(start, "%H:%M").map_err(|_| bad("expected HH:MM-HH:MM"))?;
        let end =
            NaiveTime::parse_from_str(end, "%H:%M").map_err(|_| bad("expected HH:MM-HH:MM"))?;
        if start >= end {
            return Err(bad("the range ends before it starts"));
        }
        if hours.last().is_some_and(|last| start < last.end) {
            return Err(bad("the range overlaps or precedes the one before it"));
        }
        hours.push(LocalHours { start, end });
    }
    Ok(Some(hours))
}

/// Splits one CSV line: commas separate fields; a field wrapped in double quotes may hold
/// commas, and `""` inside it is one quote.
fn split_fields(line: usize, text: &str) -> Result<Vec<String>, CalendarError> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err(parse_error(line, "line", text, "unterminated quoted field"));
    }
    fields.push(field);
    Ok(fields)
}

fn hours_text(hours: Option<&[LocalHours]>) -> String {
    hours
        .unwrap_or_default()
        .iter()
        .map(|interval| {
            format!(
                "{}-{}",
                interval.start.format("%H:%M"),
                interval.end.format("%H:%M")
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_error(line: usize, field: &'static str, value: &str, reason: &str) -> CalendarError {
    CalendarError::Parse {
        line,
        field,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
// Tests fail loudly on a bad fixture; the workspace has no clippy.toml allowing it.
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::Datelike;

    use super::*;

    #[test]
    fn shipped_schedule_parses() {
        let overrides = parse_overrides(OFFICIAL_SCHEDULE_CSV).unwrap();
        assert!(overrides.len() > 40);
        assert!(overrides
            .iter()
            .all(|o| VIETNAM_OFFICIAL_YEARS.contains(&o.date.year())));
    }
}
