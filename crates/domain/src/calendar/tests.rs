//! Tests of the compiled calendar: worked examples on the shipped Vietnamese calendar, spec
//! validation, and property tests against a naive day-by-day reference kept only here.

// Tests fail loudly on a bad fixture; the workspace has no clippy.toml allowing it.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use proptest::prelude::*;

use super::*;

fn vn() -> &'static Calendar {
    static CALENDAR: OnceLock<Calendar> = OnceLock::new();
    CALENDAR.get_or_init(|| Calendar::compile(vietnam_spec(calendar_id("vn"))).unwrap())
}

fn calendar_id(text: &str) -> CalendarId {
    CalendarId::new(text).unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn hm(text: &str) -> NaiveTime {
    NaiveTime::parse_from_str(text, "%H:%M").unwrap()
}

fn hours(ranges: &[(&str, &str)]) -> Vec<LocalHours> {
    ranges
        .iter()
        .map(|(start, end)| LocalHours {
            start: hm(start),
            end: hm(end),
        })
        .collect()
}

/// Budget as `H:MM` of working time.
fn budget(text: &str) -> WorkingTime {
    let (h, m) = text.split_once(':').unwrap();
    WorkingTime::minutes(h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap())
}

// ---- due times -------------------------------------------------------------------------

#[track_caller]
fn check_due(start: &str, budget_hm: &str, expected: &str) {
    let due = vn().due_at(at(start), budget(budget_hm)).unwrap();
    assert_eq!(due, at(expected), "start={start} budget={budget_hm}");
    assert_eq!(vn().elapsed(at(start), due), budget(budget_hm));
}

#[test]
fn friday_afternoon_plus_two_working_days_is_tuesday_afternoon() {
    check_due(
        "2025-03-07T16:30:00+07:00",
        "16:00",
        "2025-03-11T16:30:00+07:00",
    );
}

#[test]
fn budget_ending_at_closing_time_is_the_closing_time() {
    check_due(
        "2025-03-10T07:30:00+07:00",
        "8:00",
        "2025-03-10T17:00:00+07:00",
    );
    check_due(
        "2025-03-10T07:30:00+07:00",
        "4:00",
        "2025-03-10T11:30:00+07:00",
    );
}

#[test]
fn budget_crossing_lunch_resumes_at_one() {
    check_due(
        "2025-03-10T11:00:00+07:00",
        "1:00",
        "2025-03-10T13:30:00+07:00",
    );
}

#[test]
fn clock_started_outside_hours_counts_from_next_opening() {
    check_due(
        "2025-03-08T10:00:00+07:00",
        "1:00",
        "2025-03-10T08:30:00+07:00",
    );
    check_due(
        "2025-03-10T12:00:00+07:00",
        "0:30",
        "2025-03-10T13:30:00+07:00",
    );
}

#[test]
fn file_spanning_tet_2025_skips_the_nine_day_break() {
    // Fri 24/1 16:30: 30 min that day; Tết 25/1–2/2 closed; Mon 3/2 and Tue 4/2 8 h each;
    // 7 h 30 on Wed 5/2 from 07:30 ends at 16:30.
    check_due(
        "2025-01-24T16:30:00+07:00",
        "24:00",
        "2025-02-05T16:30:00+07:00",
    );
}

#[test]
fn swapped_working_saturday_2025_counts_and_swapped_friday_does_not() {
    check_due(
        "2025-04-25T16:30:00+07:00",
        "2:00",
        "2025-04-26T09:00:00+07:00",
    );
    // Tue 29/4 all day; 30/4, 1/5 holidays; Fri 2/5 swapped off; Mon 5/5 all day.
    check_due(
        "2025-04-29T07:30:00+07:00",
        "16:00",
        "2025-05-05T17:00:00+07:00",
    );
}

#[test]
fn swapped_days_2024_follow_the_official_notice() {
    // Mon 29/4/2024 off, Sat 4/5/2024 worked (VPCP 2450/VPCP-KGVX).
    check_due(
        "2024-04-26T17:00:00+07:00",
        "8:00",
        "2024-05-02T17:00:00+07:00",
    );
    check_due(
        "2024-05-03T17:00:00+07:00",
        "8:00",
        "2024-05-04T17:00:00+07:00",
    );
}

#[test]
fn zero_budget_is_the_start_itself_even_when_closed() {
    check_due(
        "2025-03-08T10:00:00+07:00",
        "0:00",
        "2025-03-08T10:00:00+07:00",
    );
}

// ---- next opening, elapsed, working days -----------------------------------------------

#[track_caller]
fn check_next_opening(instant: &str, expected: &str) {
    assert_eq!(
        vn().next_opening(at(instant)).unwrap(),
        at(expected),
        "{instant}"
    );
}

#[test]
fn next_opening_skips_closed_time() {
    check_next_opening("2025-01-29T10:00:00+07:00", "2025-02-03T07:30:00+07:00");
    check_next_opening("2025-03-10T11:30:00+07:00", "2025-03-10T13:00:00+07:00");
    check_next_opening("2025-03-10T17:00:00+07:00", "2025-03-11T07:30:00+07:00");
    check_next_opening("2025-03-10T09:15:00+07:00", "2025-03-10T09:15:00+07:00");
    check_next_opening("2025-03-07T17:00:00+07:00", "2025-03-10T07:30:00+07:00");
}

#[track_caller]
fn check_elapsed(from: &str, to: &str, expected_hm: &str) {
    assert_eq!(
        vn().elapsed(at(from), at(to)),
        budget(expected_hm),
        "{from} → {to}"
    );
}

#[test]
fn elapsed_counts_working_time_only() {
    check_elapsed(
        "2025-03-07T16:00:00+07:00",
        "2025-03-10T08:30:00+07:00",
        "2:00",
    );
    check_elapsed(
        "2025-03-10T11:00:00+07:00",
        "2025-03-10T13:30:00+07:00",
        "1:00",
    );
    check_elapsed(
        "2025-01-24T07:30:00+07:00",
        "2025-02-03T07:30:00+07:00",
        "8:00",
    );
    check_elapsed(
        "2025-03-10T13:30:00+07:00",
        "2025-03-10T11:00:00+07:00",
        "0:00",
    );
    // Provisional 2027: 261 weekdays less 1/1, 4 weekdays of Tết and its 2 compensatory
    // days, Hùng Kings' day (Fri 16/4), 30/4, the compensation for 1/5 (a Saturday), 1/9
    // and 2/9: 250 days of 8 h.
    check_elapsed(
        "2027-01-01T00:00:00+07:00",
        "2028-01-01T00:00:00+07:00",
        "2000:00",
    );
}

#[track_caller]
fn check_nth(start: &str, n: u32, expected: &str) {
    assert_eq!(
        vn().nth_working_day_after(date(start), n).unwrap(),
        date(expected),
        "{start} + {n}"
    );
}

#[test]
fn nth_working_day_after_skips_tet() {
    check_nth("2025-01-24", 0, "2025-01-24");
    check_nth("2025-01-24", 1, "2025-02-03");
    check_nth("2025-01-24", 3, "2025-02-05");
    check_nth("2025-01-25", 0, "2025-02-03");
    check_nth("2025-01-25", 1, "2025-02-03");
    check_nth("2025-04-25", 1, "2025-04-26");
    check_nth("2025-04-29", 2, "2025-05-06");
}

#[test]
fn day_boundaries_follow_the_day_hours() {
    let calendar = vn();
    assert_eq!(
        calendar.close_of_day(date("2025-03-10")),
        Some(at("2025-03-10T17:00:00+07:00"))
    );
    assert_eq!(
        calendar.opening_of_day(date("2025-04-26")),
        Some(at("2025-04-26T07:30:00+07:00"))
    );
    assert_eq!(calendar.close_of_day(date("2025-01-29")), None);
    assert_eq!(calendar.opening_of_day(date("2025-03-09")), None);
    assert!(calendar.is_working_day(date("2025-04-26")));
    assert!(!calendar.is_working_day(date("2025-05-02")));
    assert!(calendar.is_open(at("2025-04-26T10:00:00+07:00")));
    assert!(!calendar.is_open(at("2025-03-10T11:30:00+07:00")));
    assert!(calendar.is_open(at("2025-03-10T07:30:00+07:00")));
    assert_eq!(calendar.standard_day(), WorkingTime::hours(8));
    assert_eq!(
        calendar.hours_on(date("2025-04-26")),
        hours(&[("07:30", "11:30"), ("13:00", "17:00")])
    );
}

// ---- horizon ------------------------------------------------------------------------------

#[test]
fn queries_beyond_the_horizon_are_out_of_range() {
    let calendar = vn();
    let beyond = at("2101-01-02T09:00:00+07:00");
    let before = at("1999-12-31T09:00:00+07:00");
    for instant in [beyond, before] {
        assert!(matches!(
            calendar.due_at(instant, WorkingTime::hours(1)),
            Err(CalendarError::OutOfRange { .. })
        ));
        assert!(matches!(
            calendar.next_opening(instant),
            Err(CalendarError::OutOfRange { .. })
        ));
        assert!(!calendar.is_open(instant));
    }
    assert!(matches!(
        calendar.nth_working_day_after(date("2101-01-01"), 0),
        Err(CalendarError::OutOfRange { .. })
    ));
    assert!(matches!(
        calendar.nth_working_day_after(date("2100-12-29"), 5),
        Err(CalendarError::OutOfRange { .. })
    ));
    assert!(matches!(
        calendar.due_at(at("2100-12-31T16:00:00+07:00"), WorkingTime::hours(2)),
        Err(CalendarError::NoOpenHours { .. })
    ));
    assert!(matches!(
        calendar.due_at(
            at("2050-01-03T08:00:00+07:00"),
            WorkingTime::seconds(i64::MAX)
        ),
        Err(CalendarError::NoOpenHours { .. })
    ));
    assert!(matches!(
        calendar.next_opening(at("2100-12-31T17:00:00+07:00")),
        Err(CalendarError::NoOpenHours { .. })
    ));
    assert_eq!(calendar.hours_on(date("2101-01-03")), Vec::new());
    assert_eq!(calendar.close_of_day(date("2101-01-03")), None);
    assert_eq!(
        calendar.elapsed(
            at("2100-12-29T07:30:00+07:00"),
            at("2200-01-01T00:00:00+07:00")
        ),
        WorkingTime::hours(24)
    );
    assert_eq!(calendar.year_status(2101), YearStatus::OutOfRange);
    assert_eq!(calendar.year_status(2025), YearStatus::Official);
    assert_eq!(calendar.year_status(2027), YearStatus::Provisional);
}

// ---- computed holidays ----------------------------------------------------------------

#[track_caller]
fn check_closed(dates: &[&str]) {
    for text in dates {
        assert!(!vn().is_working_day(date(text)), "{text} should be closed");
    }
}

#[track_caller]
fn check_open(dates: &[&str]) {
    for text in dates {
        assert!(vn().is_working_day(date(text)), "{text} should be open");
    }
}

#[test]
fn provisional_tet_2027_compensates_its_weekend_days_after_the_break() {
    // Tết 2027 is Sat 6/2: holidays Fri 5/2 (last day of the year) to Tue 9/2, and the
    // Saturday and Sunday inside it are compensated on Wed 10/2 and Thu 11/2.
    check_open(&["2027-02-04", "2027-02-12"]);
    check_closed(&[
        "2027-02-05",
        "2027-02-08",
        "2027-02-09",
        "2027-02-10",
        "2027-02-11",
    ]);
}

#[track_caller]
fn check_holidays(year: i32, expected: &[(&str, OverrideKind)]) {
    let computed: Vec<(NaiveDate, OverrideKind)> = vietnamese_holidays(year)
        .into_iter()
        .map(|found| (found.date, found.kind))
        .collect();
    let expected: Vec<(NaiveDate, OverrideKind)> = expected
        .iter()
        .map(|(text, kind)| (date(text), *kind))
        .collect();
    assert_eq!(computed, expected, "holidays of {year}");
}

#[test]
fn computed_holidays_2023_reproduce_the_announced_april_and_september_breaks() {
    use OverrideKind::{DayOff, Holiday};
    check_holidays(
        2023,
        &[
            ("2023-01-01", Holiday),
            ("2023-01-02", DayOff),
            ("2023-01-21", Holiday),
            ("2023-01-22", Holiday),
            ("2023-01-23", Holiday),
            ("2023-01-24", Holiday),
            ("2023-01-25", Holiday),
            ("2023-01-26", DayOff),
            ("2023-01-27", DayOff),
            // Hùng Kings' day Sat 29/4 and 30/4 Sun: off until Wed 3/5, as announced.
            ("2023-04-29", Holiday),
            ("2023-04-30", Holiday),
            ("2023-05-01", Holiday),
            ("2023-05-02", DayOff),
            ("2023-05-03", DayOff),
            // 2/9 Sat: Fri 1/9 and Mon 4/9 off, as announced.
            ("2023-09-01", Holiday),
            ("2023-09-02", Holiday),
            ("2023-09-04", DayOff),
        ],
    );
}

#[test]
fn computed_national_day_2024_matches_the_official_schedule() {
    let computed = vietnamese_holidays(2024);
    let closed: Vec<NaiveDate> = computed
        .iter()
        .filter(|found| found.date.month() == 9)
        .map(|found| found.date)
        .collect();
    // 1/9 is a Sunday, compensated on Tue 3/9: Mon 2/9 and Tue 3/9 off, as announced.
    assert_eq!(
        closed,
        vec![date("2024-09-01"), date("2024-09-02"), date("2024-09-03")]
    );
    assert!(computed.iter().all(|found| found.source == "computed"));
}

// ---- overrides and validation -------------------------------------------------------------

fn small_spec(overrides: Vec<DayOverride>) -> CalendarSpec {
    CalendarSpec {
        id: calendar_id("test"),
        version: 3,
        utc_offset: FixedOffset::east_opt(7 * 3600).unwrap(),
        weeks: vec![WeekVersion {
            effective_from: date("2024-01-01"),
            week: vietnamese_default_week(),
        }],
        overrides,
        official_years: BTreeSet::new(),
        holiday_rule: HolidayRule::None,
        first_year: 2024,
        last_year: 2026,
    }
}

fn day_override(text: &str, kind: OverrideKind, day_hours: Option<Vec<LocalHours>>) -> DayOverride {
    DayOverride {
        date: date(text),
        kind,
        hours: day_hours,
        note: "test".to_owned(),
        source: "test".to_owned(),
    }
}

#[test]
fn working_day_override_sets_partial_day_hours_and_opens_saturdays() {
    let calendar = Calendar::compile(small_spec(vec![
        day_override(
            "2025-03-10",
            OverrideKind::WorkingDay,
            Some(hours(&[("07:30", "11:30")])),
        ),
        day_override("2025-03-15", OverrideKind::WorkingDay, None),
    ]))
    .unwrap();
    assert_eq!(
        calendar.close_of_day(date("2025-03-10")),
        Some(at("2025-03-10T11:30:00+07:00"))
    );
    assert_eq!(
        calendar.due_at(at("2025-03-10T11:00:00+07:00"), WorkingTime::hours(1)),
        Ok(at("2025-03-11T08:00:00+07:00"))
    );
    assert_eq!(
        calendar.hours_on(date("2025-03-15")),
        hours(&[("07:30", "11:30"), ("13:00", "17:00")])
    );
    assert_eq!(calendar.year_status(2025), YearStatus::Provisional);
}

#[test]
fn adjacent_hours_merge_and_count_once() {
    let mut spec = small_spec(Vec::new());
    spec.weeks[0].week.days[0] = hours(&[("08:00", "10:00"), ("10:00", "12:00")]);
    let calendar = Calendar::compile(spec).unwrap();
    assert_eq!(
        calendar.due_at(at("2025-03-10T08:00:00+07:00"), WorkingTime::hours(4)),
        Ok(at("2025-03-10T12:00:00+07:00"))
    );
    assert!(calendar.is_open(at("2025-03-10T10:00:00+07:00")));
}

#[test]
fn week_versions_take_effect_on_their_date() {
    let mut spec = small_spec(Vec::new());
    let mut later = vietnamese_default_week();
    later.days[0] = hours(&[("08:00", "12:00")]);
    spec.weeks.push(WeekVersion {
        effective_from: date("2025-06-01"),
        week: later,
    });
    let calendar = Calendar::compile(spec).unwrap();
    assert_eq!(
        calendar.close_of_day(date("2025-05-26")),
        Some(at("2025-05-26T17:00:00+07:00"))
    );
    assert_eq!(
        calendar.close_of_day(date("2025-06-02")),
        Some(at("2025-06-02T12:00:00+07:00"))
    );
}

#[track_caller]
fn check_invalid(spec: CalendarSpec, expected_field: &str) {
    let err = Calendar::compile(spec).unwrap_err();
    let field = match &err {
        CalendarError::InvalidHours { field, .. } | CalendarError::InvalidSpec { field, .. } => {
            field.clone()
        }
        CalendarError::DuplicateOverride { date, .. } => format!("override[{date}]"),
        other => panic!("unexpected error {other:?}"),
    };
    assert_eq!(field, expected_field, "{err}");
    assert!(err.to_string().contains("test"), "{err} names the calendar");
}

#[test]
fn invalid_specs_are_refused_with_the_field_named() {
    let mut reversed = small_spec(Vec::new());
    reversed.weeks[0].week.days[1] = hours(&[("17:00", "07:30")]);
    check_invalid(reversed, "week[2024-01-01].tuesday");

    let mut overlapping = small_spec(Vec::new());
    overlapping.weeks[0].week.days[2] = hours(&[("07:30", "12:00"), ("11:00", "17:00")]);
    check_invalid(overlapping, "week[2024-01-01].wednesday");

    let duplicate = small_spec(vec![
        day_override("2025-03-10", OverrideKind::Holiday, None),
        day_override("2025-03-10", OverrideKind::DayOff, None),
    ]);
    check_invalid(duplicate, "override[2025-03-10]");

    let hours_on_holiday = small_spec(vec![day_override(
        "2025-03-10",
        OverrideKind::Holiday,
        Some(hours(&[("07:30", "11:30")])),
    )]);
    check_invalid(hours_on_holiday, "override[2025-03-10].hours");

    let mut no_week = small_spec(Vec::new());
    no_week.weeks.clear();
    check_invalid(no_week, "weeks");

    let mut late_week = small_spec(Vec::new());
    late_week.weeks[0].effective_from = date("2024-01-02");
    check_invalid(late_week, "weeks[0].effective_from");

    let mut unordered = small_spec(Vec::new());
    unordered.weeks.push(unordered.weeks[0].clone());
    check_invalid(unordered, "weeks[1].effective_from");

    let mut horizon = small_spec(Vec::new());
    horizon.last_year = 2023;
    check_invalid(horizon, "last_year");

    let mut closed_week = small_spec(vec![day_override(
        "2025-03-15",
        OverrideKind::WorkingDay,
        None,
    )]);
    closed_week.weeks[0].week = WeekSchedule {
        days: Default::default(),
    };
    check_invalid(closed_week, "override[2025-03-15].hours");
}

#[test]
fn calendar_that_never_opens_has_no_open_hours() {
    let mut spec = small_spec(Vec::new());
    spec.weeks[0].week = WeekSchedule {
        days: Default::default(),
    };
    let calendar = Calendar::compile(spec).unwrap();
    let start = at("2025-03-10T08:00:00+07:00");
    assert!(matches!(
        calendar.next_opening(start),
        Err(CalendarError::NoOpenHours { .. })
    ));
    assert!(matches!(
        calendar.due_at(start, WorkingTime::hours(1)),
        Err(CalendarError::NoOpenHours { .. })
    ));
    assert_eq!(calendar.standard_day(), WorkingTime::ZERO);
}

// ---- the override file --------------------------------------------------------------------

#[track_caller]
fn check_parse_error(text: &str, expected_line: usize, expected_field: &str) {
    match parse_overrides(text) {
        Err(CalendarError::Parse { line, field, .. }) => {
            assert_eq!((line, field), (expected_line, expected_field), "{text}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn override_file_errors_name_line_and_column() {
    let header = "# comment\ndate,kind,hours,note,source\n";
    check_parse_error(&format!("{header}2026-13-01,holiday,,x,y"), 3, "date");
    check_parse_error(&format!("{header}2026-11-24,feast,,x,y"), 3, "kind");
    check_parse_error(
        &format!("{header}2026-11-24,holiday,07:30-11:30,x,y"),
        3,
        "hours",
    );
    check_parse_error(
        &format!("{header}2026-11-28,working-day,11:30-07:30,x,y"),
        3,
        "hours",
    );
    check_parse_error(&format!("{header}2026-11-24,holiday,,x,"), 3, "source");
    check_parse_error(&format!("{header}2026-11-24,holiday,,x"), 3, "line");
    check_parse_error(
        &format!("{header}2026-11-24,holiday,,x,y\n\n2026-11-24,day-off,,x,y"),
        5,
        "date",
    );
}

#[test]
fn override_file_loads_a_new_holiday_without_a_release() {
    let text = "date,kind,hours,note,source\n\
                2027-11-24,holiday,,\"Ngày Văn hóa Việt Nam, 24/11\",Bộ luật Lao động (sửa đổi)\n\
                2027-11-27,working-day,07:30-11:30,Làm bù buổi sáng,\"Quyết định \"\"X\"\"\"\n";
    let loaded = parse_overrides(text).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].note, "Ngày Văn hóa Việt Nam, 24/11");
    assert_eq!(loaded[1].source, "Quyết định \"X\"");
    assert_eq!(loaded[1].hours, Some(hours(&[("07:30", "11:30")])));
    let mut spec = vietnam_spec(calendar_id("vn"));
    spec.overrides.extend(loaded);
    let calendar = Calendar::compile(spec).unwrap();
    assert!(!calendar.is_working_day(date("2027-11-24")));
    assert_eq!(
        calendar.close_of_day(date("2027-11-27")),
        Some(at("2027-11-27T11:30:00+07:00"))
    );
    let view = calendar.year(2027);
    let loaded_day = view
        .overrides
        .iter()
        .find(|found| found.day.date == date("2027-11-24"))
        .unwrap();
    assert_eq!(loaded_day.origin, OverrideOrigin::Loaded);
}

// ---- the year view ------------------------------------------------------------------------

#[test]
fn year_view_lists_swaps_holidays_and_origins() {
    let view = vn().year(2025);
    assert_eq!(view.status, YearStatus::Official);
    assert_eq!(view.working_weekend_days, vec![date("2025-04-26")]);
    assert!(view.non_working_weekdays.contains(&date("2025-05-02")));
    assert!(view.non_working_weekdays.contains(&date("2025-01-27")));
    assert!(!view.non_working_weekdays.contains(&date("2025-01-25")));
    assert!(view
        .overrides
        .iter()
        .all(|found| found.origin == OverrideOrigin::Official && found.day.date.year() == 2025));
    // 261 weekdays, 11 closed (1/1, 5 of Tết, Hùng Kings, 30/4, 1/5, 2/5, 1/9, 2/9 = 12),
    // plus the swapped Saturday.
    assert_eq!(view.n_working_days, 261 - 12 + 1);

    let provisional = vn().year(2027);
    assert_eq!(provisional.status, YearStatus::Provisional);
    assert!(provisional
        .overrides
        .iter()
        .all(|found| found.origin == OverrideOrigin::Computed));

    let outside = vn().year(2101);
    assert_eq!(outside.status, YearStatus::OutOfRange);
    assert!(outside.overrides.is_empty());
}

// ---- laws, against a naive reference --------------------------------------------------------

/// Naive reference: working seconds in `[from, to)` by walking the days and their hours.
fn naive_elapsed(calendar: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    if to <= from {
        return 0;
    }
    let mut total = 0;
    let mut day = calendar.local_date(from).pred_opt().unwrap();
    while day <= calendar.local_date(to) {
        for interval in calendar.hours_on(day) {
            let start = calendar.to_utc(day.and_time(interval.start)).max(from);
            let end = calendar.to_utc(day.and_time(interval.end)).min(to);
            if start < end {
                total += (end - start).num_seconds();
            }
        }
        day = day.succ_opt().unwrap();
    }
    total
}

/// Naive reference: the instant `budget` seconds are used up, walking day by day.
fn naive_due(calendar: &Calendar, start: DateTime<Utc>, budget: i64) -> Option<DateTime<Utc>> {
    // An instant outside the horizon is out of range, even for a zero budget (found by
    // proptest: 2023-01-01T00:00+07:00 is still 2022 on a UTC−5:30 calendar of 2023–2027).
    if !in_horizon(calendar, start) {
        return None;
    }
    if budget == 0 {
        return Some(start);
    }
    let mut left = budget;
    let mut day = calendar.local_date(start).pred_opt().unwrap();
    for _ in 0..4000 {
        for interval in calendar.hours_on(day) {
            let open = calendar.to_utc(day.and_time(interval.start)).max(start);
            let close = calendar.to_utc(day.and_time(interval.end));
            if open < close {
                let length = (close - open).num_seconds();
                if length >= left {
                    return Some(open + chrono::Duration::seconds(left));
                }
                left -= length;
            }
        }
        day = day.succ_opt().unwrap();
    }
    None
}

/// Whether `instant` falls in a local year of the calendar's horizon.
fn in_horizon(calendar: &Calendar, instant: DateTime<Utc>) -> bool {
    let year = chrono::Datelike::year(&calendar.local_date(instant));
    calendar.spec().first_year <= year && year <= calendar.spec().last_year
}

/// Naive reference: the first open instant at or after `instant`.
fn naive_next_opening(calendar: &Calendar, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !in_horizon(calendar, instant) {
        return None;
    }
    let mut day = calendar.local_date(instant).pred_opt().unwrap();
    for _ in 0..4000 {
        for interval in calendar.hours_on(day) {
            let open = calendar.to_utc(day.and_time(interval.start));
            let close = calendar.to_utc(day.and_time(interval.end));
            if instant < close {
                return Some(open.max(instant));
            }
        }
        day = day.succ_opt().unwrap();
    }
    None
}

/// Instants between 2023 and 2028, whole seconds, often on round minutes so that openings
/// and closings are hit exactly.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let start = at("2023-01-01T00:00:00+07:00").timestamp();
    let end = at("2028-01-01T00:00:00+07:00").timestamp();
    prop_oneof![
        (start..end).prop_map(|secs| DateTime::from_timestamp(secs, 0).unwrap()),
        (start / 1800..end / 1800)
            .prop_map(|half| DateTime::from_timestamp(half * 1800, 0).unwrap()),
    ]
}

fn working_time() -> impl Strategy<Value = WorkingTime> {
    prop_oneof![
        (0i64..200 * 3600).prop_map(WorkingTime::seconds),
        (0i64..400).prop_map(|half_hours| WorkingTime::minutes(half_hours * 30)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn due_time_lies_in_open_hours_or_at_a_closing(start in instant(), budget in working_time()) {
        let calendar = vn();
        let due = calendar.due_at(start, budget).unwrap();
        prop_assert!(due >= start);
        if !budget.is_zero() {
            // In (open, close] of an interval: open just before it.
            let just_before = due - chrono::Duration::seconds(1);
            prop_assert!(calendar.is_open(just_before), "due {due} is not at the end of open time");
        }
    }

    #[test]
    fn larger_budget_never_gives_an_earlier_due_time(
        start in instant(),
        small in working_time(),
        extra in working_time(),
    ) {
        let calendar = vn();
        let due_small = calendar.due_at(start, small).unwrap();
        let due_large = calendar.due_at(start, small + extra).unwrap();
        prop_assert!(due_small <= due_large);
    }

    #[test]
    fn elapsed_until_due_is_the_budget(start in instant(), budget in working_time()) {
        let calendar = vn();
        let due = calendar.due_at(start, budget).unwrap();
        prop_assert_eq!(calendar.elapsed(start, due), budget);
    }

    #[test]
    fn elapsed_is_additive(a in instant(), b in instant(), c in instant()) {
        let mut points = [a, b, c];
        points.sort();
        let [a, b, c] = points;
        let calendar = vn();
        prop_assert_eq!(
            calendar.elapsed(a, c),
            calendar.elapsed(a, b) + calendar.elapsed(b, c)
        );
    }

    #[test]
    fn next_opening_is_open_and_not_earlier(instant in instant()) {
        let calendar = vn();
        let opening = calendar.next_opening(instant).unwrap();
        prop_assert!(opening >= instant);
        prop_assert!(calendar.is_open(opening));
        prop_assert_eq!(calendar.elapsed(instant, opening), WorkingTime::ZERO);
    }

    #[test]
    fn fast_arithmetic_agrees_with_the_naive_reference(
        from in instant(),
        to in instant(),
        budget in working_time(),
    ) {
        let calendar = vn();
        prop_assert_eq!(calendar.elapsed(from, to).as_secs(), naive_elapsed(calendar, from, to));
        prop_assert_eq!(
            calendar.due_at(from, budget).ok(),
            naive_due(calendar, from, budget.as_secs())
        );
        prop_assert_eq!(calendar.next_opening(from).ok(), naive_next_opening(calendar, from));
        let day = calendar.local_date(from);
        let naive_working = !calendar.hours_on(day).is_empty();
        prop_assert_eq!(calendar.is_working_day(day), naive_working);
    }

    #[test]
    fn nth_working_day_agrees_with_counting(start in instant(), n in 0u32..30) {
        let calendar = vn();
        let day = calendar.local_date(start);
        let found = calendar.nth_working_day_after(day, n).unwrap();
        let mut expected = day;
        if n == 0 {
            while calendar.hours_on(expected).is_empty() {
                expected = expected.succ_opt().unwrap();
            }
        } else {
            let mut counted = 0;
            while counted < n {
                expected = expected.succ_opt().unwrap();
                if !calendar.hours_on(expected).is_empty() {
                    counted += 1;
                }
            }
        }
        prop_assert_eq!(found, expected);
    }
}

/// A calendar that exercises what the Vietnamese one does not: a negative offset with half
/// hours, a week change, adjacent and partial-day hours, working Saturdays, an override
/// with hours on a working day, and a day whose hours reach 23:59.
fn odd_calendar() -> &'static Calendar {
    static CALENDAR: OnceLock<Calendar> = OnceLock::new();
    CALENDAR.get_or_init(|| {
        let mut first = WeekSchedule {
            days: Default::default(),
        };
        first.days[0] = hours(&[("00:00", "03:00"), ("03:00", "05:00"), ("22:00", "23:59")]);
        first.days[2] = hours(&[("09:00", "12:00"), ("12:30", "18:15")]);
        first.days[5] = hours(&[("08:00", "09:00")]);
        let mut second = vietnamese_default_week();
        second.days[6] = hours(&[("10:00", "11:00")]);
        let spec = CalendarSpec {
            id: calendar_id("odd"),
            version: 1,
            utc_offset: FixedOffset::west_opt(5 * 3600 + 1800).unwrap(),
            weeks: vec![
                WeekVersion {
                    effective_from: date("2023-01-01"),
                    week: first,
                },
                WeekVersion {
                    effective_from: date("2024-07-17"),
                    week: second,
                },
            ],
            overrides: vec![
                day_override("2023-03-01", OverrideKind::Holiday, None),
                day_override(
                    "2024-01-03",
                    OverrideKind::WorkingDay,
                    Some(hours(&[("13:00", "13:01")])),
                ),
                day_override("2024-01-04", OverrideKind::WorkingDay, None),
                day_override("2025-03-10", OverrideKind::DayOff, None),
            ],
            official_years: BTreeSet::new(),
            holiday_rule: HolidayRule::Vietnam,
            first_year: 2023,
            last_year: 2027,
        };
        Calendar::compile(spec).unwrap()
    })
}

#[test]
fn odd_calendar_resolves_overrides_and_weeks() {
    let calendar = odd_calendar();
    assert_eq!(
        calendar.hours_on(date("2024-01-03")),
        hours(&[("13:00", "13:01")])
    );
    // A working-day override without hours on a Thursday of the first week gets the
    // standard day of that week (Wednesday's, the longest among equally common lengths).
    assert_eq!(
        calendar.hours_on(date("2024-01-04")),
        hours(&[("09:00", "12:00"), ("12:30", "18:15")])
    );
    assert!(calendar.is_open(at("2023-01-09T03:00:00-05:30")));
    assert_eq!(
        calendar.due_at(at("2023-01-09T02:00:00-05:30"), WorkingTime::hours(3)),
        Ok(at("2023-01-09T05:00:00-05:30"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn odd_calendar_agrees_with_the_naive_reference(
        from in instant(),
        to in instant(),
        budget in working_time(),
    ) {
        let calendar = odd_calendar();
        prop_assert_eq!(calendar.elapsed(from, to).as_secs(), naive_elapsed(calendar, from, to));
        let due = calendar.due_at(from, budget).ok();
        prop_assert_eq!(due, naive_due(calendar, from, budget.as_secs()));
        if let Some(due) = due {
            prop_assert_eq!(calendar.elapsed(from, due), budget);
        }
        prop_assert_eq!(calendar.next_opening(from).ok(), naive_next_opening(calendar, from));
    }
}
