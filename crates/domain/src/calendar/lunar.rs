//! The Vietnamese lunisolar calendar (âm lịch), computed astronomically at meridian UTC+7.
//!
//! The method is the one Hồ Ngọc Đức describes for the Vietnamese calendar, written here from
//! its description: a lunar month starts on the local day of an astronomical new moon; month
//! 11 is the month that contains the winter solstice; a year with 13 months between two
//! months 11 repeats the first month that contains no major solar term (trung khí). New
//! moons and the sun's longitude come from the truncated series of Jean Meeus,
//! *Astronomical Algorithms*, which are accurate to minutes over 1800–2200.
//!
//! Vietnam has used UTC+7 for its lunar calendar since 1968, China UTC+8, so a new moon
//! between 16:00 and 17:00 UTC falls on different days in the two countries; this is why
//! Tết 1985 (21 January in Vietnam, 20 February in China) and Tết 2007 (17 February in
//! Vietnam, 18 February in China) differ.
//!
//! Everything here is pure arithmetic on `f64` and day numbers; nothing reads the clock
//! and nothing panics: a date chrono cannot represent yields `None`.

use std::f64::consts::PI;

use chrono::{Datelike, NaiveDate};

/// A date of the Vietnamese lunar calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LunarDate {
    /// The lunar year, named by the Gregorian year in which its month 1 starts.
    pub year: i32,
    /// The month, 1–12.
    pub month: u32,
    /// The day of the month, 1–30.
    pub day: u32,
    /// Whether the month is the intercalary (nhuận) repeat of `month`.
    pub leap: bool,
}

/// Offset of the Vietnamese calendar's meridian from UTC, in hours.
const VIETNAM_UTC_OFFSET_HOURS: f64 = 7.0;

/// The Julian day number of 1900-01-01, the epoch of the new-moon series (new moon 0 falls
/// close to it).
const NEW_MOON_EPOCH_JD: f64 = 2_415_021.076_998_695;

/// The mean synodic month, in days.
const SYNODIC_MONTH: f64 = 29.530_588_853;

/// Julian day number of 0001-01-01 (proleptic Gregorian) minus one, so that
/// `jdn = num_days_from_ce + JDN_OF_CE_DAY_ZERO`.
const JDN_OF_CE_DAY_ZERO: i64 = 1_721_425;

/// The Gregorian date of Tết Nguyên Đán (lunar 1/1) in Gregorian `year`.
pub fn lunar_new_year(year: i32) -> Option<NaiveDate> {
    lunar_to_solar(LunarDate {
        year,
        month: 1,
        day: 1,
        leap: false,
    })
}

/// The Gregorian date of a lunar date, or `None` if the lunar date does not exist (a day 30
/// in a 29-day month, a leap month the year does not have) or lies outside chrono's range.
pub fn lunar_to_solar(lunar: LunarDate) -> Option<NaiveDate> {
    if !(1..=12).contains(&lunar.month) || !(1..=30).contains(&lunar.day) {
        return None;
    }
    // Months 11 and 12 of lunar year Y lie after the month 11 that contains the solstice of
    // December Y; months 1 to 10 lie before the one of December Y.
    let gregorian = if lunar.month >= 11 {
        lunar.year.checked_add(1)?
    } else {
        lunar.year
    };
    let months = months_between_solstices(gregorian)?;
    let (index, found) = months
        .iter()
        .enumerate()
        .find(|(_, m)| m.month == lunar.month && m.leap == lunar.leap)?;
    let next = months.get(index + 1)?;
    let day_number = found.start_jdn + i64::from(lunar.day) - 1;
    if day_number >= next.start_jdn {
        return None;
    }
    date_of_jdn(day_number)
}

/// The lunar date of a Gregorian date.
pub fn solar_to_lunar(date: NaiveDate) -> Option<LunarDate> {
    let jdn = jdn_of_date(date);
    // The date lies in the lunar year run that starts at the month 11 of December Y-1 or of
    // December Y.
    for gregorian in [date.year(), date.year().checked_add(1)?] {
        let months = months_between_solstices(gregorian)?;
        for pair in months.windows(2) {
            if pair[0].start_jdn <= jdn && jdn < pair[1].start_jdn {
                let month = pair[0];
                // Months 11 and 12 belong to the lunar year before the one of months 1–10.
                let year = if month.month >= 11 {
                    gregorian - 1
                } else {
                    gregorian
                };
                let day = u32::try_from(jdn - month.start_jdn + 1).ok()?;
                return Some(LunarDate {
                    year,
                    month: month.month,
                    day,
                    leap: month.leap,
                });
            }
        }
    }
    None
}

/// The start of one lunar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MonthStart {
    start_jdn: i64,
    month: u32,
    leap: bool,
}

/// The lunar months from the month 11 of December `year - 1` up to and including the month
/// 11 of December `year`, labelled with their numbers and leap flags.
fn months_between_solstices(year: i32) -> Option<Vec<MonthStart>> {
    let first = month_11(year.checked_sub(1)?)?;
    let last = month_11(year)?;
    let k0 = ((first as f64 - NEW_MOON_EPOCH_JD) / SYNODIC_MONTH + 0.5).floor() as i64;
    // Twelve lunations span about 354 days, thirteen about 384.
    let leap_year = last - first > 365;
    let n_months = if leap_year { 13 } else { 12 };
    let leap_offset = if leap_year { leap_month_offset(k0) } else { 0 };
    let mut months = Vec::with_capacity(n_months + 1);
    for offset in 0..=n_months {
        let start_jdn = if offset == n_months {
            last
        } else {
            new_moon_day(k0 + offset as i64)
        };
        // Counted from month 11: offset 0 is month 11, 1 is month 12, 2 is month 1, and
        // every month after the leap month carries the number of the one before it.
        let (counted, leap) = match offset.cmp(&leap_offset) {
            _ if !leap_year => (offset, false),
            std::cmp::Ordering::Less => (offset, false),
            std::cmp::Ordering::Equal => (offset - 1, true),
            std::cmp::Ordering::Greater => (offset - 1, false),
        };
        let month = ((counted + 10) % 12 + 1) as u32;
        months.push(MonthStart {
            start_jdn,
            month,
            leap,
        });
    }
    Some(months)
}

/// The day number of the first day of the lunar month 11 that contains the winter solstice
/// of December `year`.
fn month_11(year: i32) -> Option<i64> {
    let december_31 = jdn_of_date(NaiveDate::from_ymd_opt(year, 12, 31)?);
    let k = ((december_31 as f64 - 2_415_021.0) / SYNODIC_MONTH).floor() as i64;
    let new_moon = new_moon_day(k);
    // A new moon on or after the sun reaches 270° (sector 9) starts the month after the
    // solstice; month 11 then starts one lunation earlier.
    if sun_sector(new_moon) >= 9 {
        Some(new_moon_day(k - 1))
    } else {
        Some(new_moon)
    }
}

/// Which month after the month 11 that starts at lunation `k0` is the leap month: the first
/// one in which the sun does not enter a new 30° sector (no major solar term).
fn leap_month_offset(k0: i64) -> usize {
    let mut offset = 1;
    let mut sector = sun_sector(new_moon_day(k0 + 1));
    loop {
        let previous = sector;
        offset += 1;
        sector = sun_sector(new_moon_day(k0 + offset as i64));
        if sector == previous || offset >= 14 {
            return offset - 1;
        }
    }
}

/// The local (UTC+7) day number on which new moon `k` (counted from January 1900) falls.
fn new_moon_day(k: i64) -> i64 {
    (new_moon_jd(k) + 0.5 + VIETNAM_UTC_OFFSET_HOURS / 24.0).floor() as i64
}

/// The 30° sector (0–11, 0 at the March equinox) the sun is in at the start of local day
/// `jdn`.
fn sun_sector(jdn: i64) -> i64 {
    let instant = jdn as f64 - 0.5 - VIETNAM_UTC_OFFSET_HOURS / 24.0;
    (sun_longitude(instant) / PI * 6.0).floor() as i64
}

/// The Julian date (TT, close enough to UT for day resolution) of mean-corrected new moon
/// `k`: Meeus's series truncated to its largest terms.
fn new_moon_jd(k: i64) -> f64 {
    let k = k as f64;
    let t = k / 1236.85;
    let t2 = t * t;
    let t3 = t2 * t;
    let rad = PI / 180.0;
    let mean = 2_415_020.759_33 + 29.530_588_68 * k + 0.000_117_8 * t2 - 0.000_000_155 * t3
        + 0.000_33 * ((166.56 + 132.87 * t - 0.009_173 * t2) * rad).sin();
    // Mean anomalies of the sun and the moon, and the moon's argument of latitude, degrees.
    let sun = (359.2242 + 29.105_356_08 * k - 0.000_033_3 * t2 - 0.000_003_47 * t3) * rad;
    let moon = (306.0253 + 385.816_918_06 * k + 0.010_730_6 * t2 + 0.000_012_36 * t3) * rad;
    let latitude = (21.2964 + 390.670_506_46 * k - 0.001_652_8 * t2 - 0.000_002_39 * t3) * rad;
    let correction = (0.1734 - 0.000_393 * t) * sun.sin() + 0.0021 * (2.0 * sun).sin()
        - 0.4068 * moon.sin()
        + 0.0161 * (2.0 * moon).sin()
        - 0.0004 * (3.0 * moon).sin()
        + 0.0104 * (2.0 * latitude).sin()
        - 0.0051 * (sun + moon).sin()
        - 0.0074 * (sun - moon).sin()
        + 0.0004 * (2.0 * latitude + sun).sin()
        - 0.0004 * (2.0 * latitude - sun).sin()
        - 0.0006 * (2.0 * latitude + moon).sin()
        + 0.0010 * (2.0 * latitude - moon).sin()
        + 0.0005 * (2.0 * moon + sun).sin();
    // ΔT (TT − UT) in days, as a polynomial fit.
    let delta_t = if t < -11.0 {
        0.001 + 0.000_839 * t + 0.000_226_1 * t2 - 0.000_008_45 * t3 - 0.000_000_081 * t * t3
    } else {
        -0.000_278 + 0.000_265 * t + 0.000_262 * t2
    };
    mean + correction - delta_t
}

/// The sun's apparent ecliptic longitude at Julian date `jd`, in radians within `[0, 2π)`.
fn sun_longitude(jd: f64) -> f64 {
    let t = (jd - 2_451_545.0) / 36_525.0;
    let t2 = t * t;
    let rad = PI / 180.0;
    let anomaly = (357.529_10 + 35_999.050_30 * t - 0.000_155_9 * t2 - 0.000_000_48 * t * t2) * rad;
    let mean_longitude = 280.466_45 + 36_000.769_83 * t + 0.000_303_2 * t2;
    let centre = (1.914_600 - 0.004_817 * t - 0.000_014 * t2) * anomaly.sin()
        + (0.019_993 - 0.000_101 * t) * (2.0 * anomaly).sin()
        + 0.000_290 * (3.0 * anomaly).sin();
    let longitude = (mean_longitude + centre) * rad;
    longitude - 2.0 * PI * (longitude / (2.0 * PI)).floor()
}

/// The Julian day number of a (proleptic Gregorian) date.
fn jdn_of_date(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) + JDN_OF_CE_DAY_ZERO
}

/// The date of a Julian day number.
fn date_of_jdn(jdn: i64) -> Option<NaiveDate> {
    let days = i32::try_from(jdn - JDN_OF_CE_DAY_ZERO).ok()?;
    NaiveDate::from_num_days_from_ce_opt(days)
}

#[cfg(test)]
// Tests fail loudly on a bad fixture; the workspace has no clippy.toml allowing it.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[track_caller]
    fn check_tet(year: i32, expected: &str) {
        assert_eq!(lunar_new_year(year), Some(date(expected)), "Tết {year}");
    }

    #[track_caller]
    fn check_lunar(lunar: (i32, u32, u32, bool), expected: &str) {
        let (year, month, day, leap) = lunar;
        let lunar = LunarDate {
            year,
            month,
            day,
            leap,
        };
        assert_eq!(lunar_to_solar(lunar), Some(date(expected)), "{lunar:?}");
        assert_eq!(solar_to_lunar(date(expected)), Some(lunar), "{expected}");
    }

    #[test]
    fn tet_dates_2000_to_2030_match_published_vietnamese_calendars() {
        for (year, expected) in [
            (2000, "2000-02-05"),
            (2001, "2001-01-24"),
            (2002, "2002-02-12"),
            (2003, "2003-02-01"),
            (2004, "2004-01-22"),
            (2005, "2005-02-09"),
            (2006, "2006-01-29"),
            (2007, "2007-02-17"),
            (2008, "2008-02-07"),
            (2009, "2009-01-26"),
            (2010, "2010-02-14"),
            (2011, "2011-02-03"),
            (2012, "2012-01-23"),
            (2013, "2013-02-10"),
            (2014, "2014-01-31"),
            (2015, "2015-02-19"),
            (2016, "2016-02-08"),
            (2017, "2017-01-28"),
            (2018, "2018-02-16"),
            (2019, "2019-02-05"),
            (2020, "2020-01-25"),
            (2021, "2021-02-12"),
            (2022, "2022-02-01"),
            (2023, "2023-01-22"),
            (2024, "2024-02-10"),
            (2025, "2025-01-29"),
            (2026, "2026-02-17"),
            (2027, "2027-02-06"),
            (2028, "2028-01-26"),
            (2029, "2029-02-13"),
            // The new moon is at 16:08 UTC on 2 February 2030: 23:08 in Vietnam, 00:08 on
            // 3 February in China. Lists giving 3 February copy the Chinese date.
            (2030, "2030-02-02"),
        ] {
            check_tet(year, expected);
        }
    }

    #[test]
    fn tet_differs_from_the_chinese_calendar_where_utc7_and_utc8_split_a_new_moon() {
        // China: 20 February 1985, 18 February 2007 and 3 February 2030.
        check_tet(1985, "1985-01-21");
        check_tet(2007, "2007-02-17");
        check_tet(2030, "2030-02-02");
    }

    #[test]
    fn hung_kings_day_is_lunar_3_10() {
        for (year, expected) in [
            (2019, "2019-04-14"),
            (2020, "2020-04-02"),
            (2021, "2021-04-21"),
            (2022, "2022-04-10"),
            (2023, "2023-04-29"),
            (2024, "2024-04-18"),
            (2025, "2025-04-07"),
            (2026, "2026-04-26"),
        ] {
            check_lunar((year, 3, 10, false), expected);
        }
    }

    #[test]
    fn leap_months_are_labelled() {
        // 2020 had a leap 4th month starting 23 May 2020; 2023 a leap 2nd month from 22 March.
        check_lunar((2020, 4, 1, true), "2020-05-23");
        check_lunar((2023, 2, 1, true), "2023-03-22");
        // Months 11 and 12 belong to the lunar year before the Tết that follows them.
        check_lunar((2024, 12, 1, false), "2024-12-31");
    }

    #[test]
    fn impossible_lunar_dates_are_none() {
        let no_leap = LunarDate {
            year: 2024,
            month: 5,
            day: 1,
            leap: true,
        };
        assert_eq!(lunar_to_solar(no_leap), None);
        let month_13 = LunarDate {
            year: 2024,
            month: 13,
            day: 1,
            leap: false,
        };
        assert_eq!(lunar_to_solar(month_13), None);
    }
}
