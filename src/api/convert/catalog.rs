//! Catalog objects between the wire API and the domain: procedures, units, officers (each
//! with the date its version takes effect) and calendars.
//!
//! Wire fields the domain has no home for are dropped: `Procedure.field_name`,
//! `Unit.roles`, `Unit.dissolved_on`, `Calendar.name` and every output-only `revision`
//! except a calendar's revision number, which is the calendar's version. This module never
//! checks cross references (a parent that exists): that is the catalog's job.

use std::collections::BTreeSet;

use chrono::{FixedOffset, NaiveDate, Offset, TimeZone};
use dunghan_domain::calendar::{
    CalendarSpec, DayOverride, HolidayRule, OverrideKind, WeekSchedule, WeekVersion,
};
use dunghan_domain::catalog::{
    CountingRule, DeadlineUnit, Officer, Procedure, Step, Term, Unit, UnitKind,
};
use dunghan_domain::ids::{
    CalendarId, FieldCode, IdError, OfficerId, ProcedureCode, StepCode, UnitId,
};
use dunghan_domain::WorkingTime;

use super::{
    date_from_pb, date_to_pb, deadline_from_pb, deadline_to_pb, hours_from_pb, hours_to_pb,
    id_from_pb, join, optional_date_from_pb, optional_id_from_pb, optional_to_string, text_from_pb,
    time_of_day_from_pb, time_of_day_to_pb, wait_kind_from_pb, wait_kind_to_pb, FieldError,
};
use crate::proto::v1;

/// The calendar a unit without a calendar id works by: the shipped Vietnamese calendar.
pub const DEFAULT_CALENDAR_ID: &str = "vn";

/// The fixed offset of Asia/Ho_Chi_Minh, the zone of an empty `time_zone`.
const VIETNAM_OFFSET_SECS: i32 = 7 * 3600;

/// Validates a wire procedure into its effective date and a domain procedure.
///
/// The level enum becomes the domain's free-text level (`central`, `province`, `district`,
/// `commune`, or empty). `COUNTING_RULE_CALENDAR_DAYS` is accepted only with a deadline in
/// calendar days, where the domain's counting rule does not apply.
///
/// # Errors
/// [`FieldError`] for the first field that is missing, invalid or too long.
pub fn procedure_from_pb(
    prefix: &str,
    pb: &v1::Procedure,
) -> Result<(NaiveDate, Procedure), FieldError> {
    let code = id_from_pb(join(prefix, "code"), &pb.code, ProcedureCode::new)?;
    let name = required_text(join(prefix, "name"), &pb.name)?;
    let field = id_from_pb(join(prefix, "field_code"), &pb.field_code, FieldCode::new)?;
    let level = match v1::ProcedureLevel::try_from(pb.level) {
        Ok(v1::ProcedureLevel::Unspecified) => "",
        Ok(v1::ProcedureLevel::Central) => "central",
        Ok(v1::ProcedureLevel::Province) => "province",
        Ok(v1::ProcedureLevel::District) => "district",
        Ok(v1::ProcedureLevel::Commune) => "commune",
        Err(_) => {
            return Err(FieldError::invalid(
                join(prefix, "level"),
                pb.level.to_string(),
                format!("{} is not a procedure level", pb.level),
            ))
        }
    };
    let deadline = deadline_from_pb(join(prefix, "deadline"), pb.deadline.as_ref())?;
    let counting_field = join(prefix, "counting_rule");
    let counting = match v1::CountingRule::try_from(pb.counting_rule) {
        Ok(v1::CountingRule::Unspecified | v1::CountingRule::WorkingHours) => {
            CountingRule::WorkingHours
        }
        Ok(v1::CountingRule::CivilCode) => CountingRule::CivilCode,
        Ok(v1::CountingRule::CalendarDays) if deadline.unit == DeadlineUnit::CalendarDays => {
            CountingRule::WorkingHours
        }
        Ok(v1::CountingRule::CalendarDays) => {
            return Err(FieldError::invalid(
                counting_field,
                pb.counting_rule.to_string(),
                "calendar-day counting needs a deadline in calendar days",
            ))
        }
        Err(_) => {
            return Err(FieldError::invalid(
                counting_field,
                pb.counting_rule.to_string(),
                format!("{} is not a counting rule", pb.counting_rule),
            ))
        }
    };
    let cutoff = match &pb.same_day_cutoff {
        Some(cutoff) => Some(time_of_day_from_pb(
            join(prefix, "same_day_cutoff"),
            cutoff,
        )?),
        None => None,
    };
    let steps = pb
        .steps
        .iter()
        .enumerate()
        .map(|(step_idx, step)| {
            step_from_pb(&format!("{}[{step_idx}]", join(prefix, "steps")), step)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let clock_stopping_waits = pb
        .clock_stopping_waits
        .iter()
        .enumerate()
        .map(|(wait_idx, raw)| {
            wait_kind_from_pb(
                format!("{}[{wait_idx}]", join(prefix, "clock_stopping_waits")),
                *raw,
            )
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    let effective_from = date_from_pb(join(prefix, "effective_from"), pb.effective_from.as_ref())?;
    Ok((
        effective_from,
        Procedure {
            code,
            name,
            field,
            level: level.to_owned(),
            deadline,
            counting,
            cutoff,
            steps,
            clock_stopping_waits,
        },
    ))
}

/// Renders a procedure version as a wire procedure.
///
/// A free-text level other than the four wire levels comes out unspecified; a step with both
/// a unit and a role keeps the unit; a consultation among the clock-stopping waits is left
/// out (the wire API has no such wait).
pub fn procedure_to_pb(effective_from: NaiveDate, procedure: &Procedure) -> v1::Procedure {
    let level = match procedure.level.as_str() {
        "central" => v1::ProcedureLevel::Central,
        "province" => v1::ProcedureLevel::Province,
        "district" => v1::ProcedureLevel::District,
        "commune" => v1::ProcedureLevel::Commune,
        _ => v1::ProcedureLevel::Unspecified,
    };
    let counting = match (procedure.counting, procedure.deadline.unit) {
        (CountingRule::WorkingHours, DeadlineUnit::CalendarDays) => v1::CountingRule::CalendarDays,
        (CountingRule::WorkingHours, DeadlineUnit::WorkingHours | DeadlineUnit::WorkingDays) => {
            v1::CountingRule::WorkingHours
        }
        (CountingRule::CivilCode, _) => v1::CountingRule::CivilCode,
    };
    v1::Procedure {
        code: procedure.code.to_string(),
        name: procedure.name.clone(),
        field_code: procedure.field.to_string(),
        field_name: String::new(),
        level: level.into(),
        deadline: Some(deadline_to_pb(procedure.deadline)),
        counting_rule: counting.into(),
        same_day_cutoff: procedure.cutoff.map(time_of_day_to_pb),
        steps: procedure.steps.iter().map(step_to_pb).collect(),
        clock_stopping_waits: procedure
            .clock_stopping_waits
            .iter()
            .map(|wait| wait_kind_to_pb(*wait))
            .filter(|wait| *wait != v1::WaitKind::Unspecified)
            .map(Into::into)
            .collect(),
        effective_from: Some(date_to_pb(effective_from)),
        revision: None,
    }
}

/// Validates a wire unit into its effective date and a domain unit.
///
/// An unspecified kind becomes [`UnitKind::Other`]; an empty calendar id becomes
/// [`DEFAULT_CALENDAR_ID`], as in the catalog file (the parent's calendar is not resolved
/// here). Roles and the dissolution date are dropped.
///
/// # Errors
/// [`FieldError`] for the first field that is missing, invalid or too long.
pub fn unit_from_pb(prefix: &str, pb: &v1::Unit) -> Result<(NaiveDate, Unit), FieldError> {
    let id = id_from_pb(join(prefix, "id"), &pb.id, UnitId::new)?;
    let name = required_text(join(prefix, "name"), &pb.name)?;
    let parent = optional_id_from_pb(join(prefix, "parent_id"), &pb.parent_id, UnitId::new)?;
    let kind = match v1::UnitKind::try_from(pb.kind) {
        Ok(v1::UnitKind::Province) => UnitKind::Province,
        Ok(v1::UnitKind::Department) => UnitKind::Department,
        Ok(v1::UnitKind::Division) => UnitKind::Division,
        Ok(v1::UnitKind::Commune) => UnitKind::Commune,
        Ok(v1::UnitKind::ServiceCenter) => UnitKind::Center,
        Ok(v1::UnitKind::Other | v1::UnitKind::Unspecified) => UnitKind::Other,
        Err(_) => {
            return Err(FieldError::invalid(
                join(prefix, "kind"),
                pb.kind.to_string(),
                format!("{} is not a unit kind", pb.kind),
            ))
        }
    };
    let calendar_raw = if pb.calendar_id.is_empty() {
        DEFAULT_CALENDAR_ID
    } else {
        pb.calendar_id.as_str()
    };
    let calendar = id_from_pb(join(prefix, "calendar_id"), calendar_raw, CalendarId::new)?;
    let heads = pb
        .heads
        .iter()
        .enumerate()
        .map(|(term_idx, term)| {
            term_from_pb(
                &format!("{}[{term_idx}]", join(prefix, "heads")),
                "officer_id",
                &term.officer_id,
                term.from.as_ref(),
                term.until.as_ref(),
                OfficerId::new,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let predecessors = pb
        .predecessor_ids
        .iter()
        .enumerate()
        .map(|(pred_idx, raw)| {
            id_from_pb(
                format!("{}[{pred_idx}]", join(prefix, "predecessor_ids")),
                raw,
                UnitId::new,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let effective_from = date_from_pb(join(prefix, "effective_from"), pb.effective_from.as_ref())?;
    Ok((
        effective_from,
        Unit {
            id,
            name,
            parent,
            kind,
            calendar,
            heads,
            predecessors,
        },
    ))
}

/// Renders a unit version as a wire unit (no roles, no dissolution date).
pub fn unit_to_pb(effective_from: NaiveDate, unit: &Unit) -> v1::Unit {
    let kind = match unit.kind {
        UnitKind::Province => v1::UnitKind::Province,
        UnitKind::Department => v1::UnitKind::Department,
        UnitKind::Division => v1::UnitKind::Division,
        UnitKind::Commune => v1::UnitKind::Commune,
        UnitKind::Center => v1::UnitKind::ServiceCenter,
        UnitKind::Other => v1::UnitKind::Other,
    };
    v1::Unit {
        id: unit.id.to_string(),
        name: unit.name.clone(),
        parent_id: optional_to_string(unit.parent.as_ref()),
        kind: kind.into(),
        calendar_id: unit.calendar.to_string(),
        heads: unit
            .heads
            .iter()
            .map(|term| v1::HeadTerm {
                officer_id: term.value.to_string(),
                from: Some(date_to_pb(term.from)),
                until: term.until.map(date_to_pb),
            })
            .collect(),
        predecessor_ids: unit.predecessors.iter().map(ToString::to_string).collect(),
        roles: Vec::new(),
        effective_from: Some(date_to_pb(effective_from)),
        dissolved_on: None,
        revision: None,
    }
}

/// Validates a wire officer into its effective date and a domain officer.
///
/// # Errors
/// [`FieldError`] for the first field that is missing, invalid or too long.
pub fn officer_from_pb(prefix: &str, pb: &v1::Officer) -> Result<(NaiveDate, Officer), FieldError> {
    let id = id_from_pb(join(prefix, "id"), &pb.id, OfficerId::new)?;
    // The name may be empty where privacy rules require it.
    let name = text_from_pb(join(prefix, "name"), &pb.name)?;
    let memberships = pb
        .memberships
        .iter()
        .enumerate()
        .map(|(term_idx, term)| {
            term_from_pb(
                &format!("{}[{term_idx}]", join(prefix, "memberships")),
                "unit_id",
                &term.unit_id,
                term.from.as_ref(),
                term.until.as_ref(),
                UnitId::new,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let effective_from = date_from_pb(join(prefix, "effective_from"), pb.effective_from.as_ref())?;
    Ok((
        effective_from,
        Officer {
            id,
            name,
            memberships,
        },
    ))
}

/// Renders an officer version as a wire officer.
pub fn officer_to_pb(effective_from: NaiveDate, officer: &Officer) -> v1::Officer {
    v1::Officer {
        id: officer.id.to_string(),
        name: officer.name.clone(),
        memberships: officer
            .memberships
            .iter()
            .map(|term| v1::Membership {
                unit_id: term.value.to_string(),
                from: Some(date_to_pb(term.from)),
                until: term.until.map(date_to_pb),
            })
            .collect(),
        effective_from: Some(date_to_pb(effective_from)),
        revision: None,
    }
}

/// Validates a wire calendar into a calendar spec.
///
/// The time zone must be empty or `Asia/Ho_Chi_Minh` (UTC+7), a fixed offset such as
/// `+07:00`, or an IANA zone whose offset never changes from 2000 to 2100. The spec's version
/// is the revision number (zero when absent); holidays of years not in `official_years` are
/// computed by the Vietnamese rule; the horizon is 2000–2100. Hours are checked for order
/// and overlap only when the spec is compiled.
///
/// # Errors
/// [`FieldError`] for the first field that is missing, invalid or too long.
pub fn calendar_from_pb(prefix: &str, pb: &v1::Calendar) -> Result<CalendarSpec, FieldError> {
    let id = id_from_pb(join(prefix, "id"), &pb.id, CalendarId::new)?;
    text_from_pb(join(prefix, "name"), &pb.name)?;
    let utc_offset = utc_offset_from_zone(join(prefix, "time_zone"), &pb.time_zone)?;
    if pb.weeks.is_empty() {
        return Err(FieldError::missing(
            join(prefix, "weeks"),
            "a calendar needs at least one week",
        ));
    }
    let weeks = pb
        .weeks
        .iter()
        .enumerate()
        .map(|(week_idx, week)| {
            week_from_pb(&format!("{}[{week_idx}]", join(prefix, "weeks")), week)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let overrides = pb
        .overrides
        .iter()
        .enumerate()
        .map(|(override_idx, day)| {
            override_from_pb(
                &format!("{}[{override_idx}]", join(prefix, "overrides")),
                day,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut official_years = BTreeSet::new();
    for (year_idx, year) in pb.official_years.iter().enumerate() {
        if !(2000..=2100).contains(year) {
            return Err(FieldError::invalid(
                format!("{}[{year_idx}]", join(prefix, "official_years")),
                year.to_string(),
                "year is outside 2000 to 2100",
            ));
        }
        official_years.insert(*year);
    }
    let version = match &pb.revision {
        Some(revision) => u32::try_from(revision.number).map_err(|_| {
            FieldError::invalid(
                join(prefix, "revision.number"),
                revision.number.to_string(),
                "revision number is too large for a calendar version",
            )
        })?,
        None => 0,
    };
    Ok(CalendarSpec {
        id,
        version,
        utc_offset,
        weeks,
        overrides,
        official_years,
        holiday_rule: HolidayRule::Vietnam,
        first_year: 2000,
        last_year: 2100,
    })
}

/// Renders a calendar spec as a wire calendar.
///
/// UTC+7 comes out as `Asia/Ho_Chi_Minh`, other offsets as `+HH:MM`. The version becomes the
/// revision number (no revision for version 0). The holiday rule and horizon have no wire
/// field and are not rendered.
pub fn calendar_to_pb(spec: &CalendarSpec) -> v1::Calendar {
    let time_zone = if spec.utc_offset.local_minus_utc() == VIETNAM_OFFSET_SECS {
        "Asia/Ho_Chi_Minh".to_owned()
    } else {
        spec.utc_offset.to_string()
    };
    v1::Calendar {
        id: spec.id.to_string(),
        name: String::new(),
        time_zone,
        weeks: spec
            .weeks
            .iter()
            .map(|week| v1::WeekVersion {
                effective_from: Some(date_to_pb(week.effective_from)),
                days: week
                    .week
                    .days
                    .iter()
                    .zip(WEEKDAYS)
                    .filter(|(hours, _)| !hours.is_empty())
                    .map(|(hours, weekday)| v1::WorkingDay {
                        weekday: weekday.into(),
                        hours: hours_to_pb(hours),
                    })
                    .collect(),
            })
            .collect(),
        overrides: spec
            .overrides
            .iter()
            .map(|day| v1::CalendarOverride {
                date: Some(date_to_pb(day.date)),
                kind: match day.kind {
                    OverrideKind::Holiday => v1::OverrideKind::Holiday,
                    OverrideKind::DayOff => v1::OverrideKind::DayOff,
                    OverrideKind::WorkingDay => v1::OverrideKind::WorkingDay,
                }
                .into(),
                hours: day.hours.as_deref().map(hours_to_pb).unwrap_or_default(),
                note: day.note.clone(),
                source: day.source.clone(),
            })
            .collect(),
        official_years: spec.official_years.iter().copied().collect(),
        revision: (spec.version != 0).then(|| v1::CatalogRevision {
            number: u64::from(spec.version),
            changed_at: None,
            changed_by: String::new(),
        }),
    }
}

/// Resolves a time zone name to the fixed offset the domain works with.
///
/// # Errors
/// [`FieldReason::Invalid`](super::FieldReason::Invalid) for an unknown zone, or a zone whose
/// offset changes (daylight saving) between 2000 and 2100.
pub fn utc_offset_from_zone(field: String, zone: &str) -> Result<FixedOffset, FieldError> {
    if zone.is_empty() || zone == "Asia/Ho_Chi_Minh" {
        return FixedOffset::east_opt(VIETNAM_OFFSET_SECS)
            .ok_or_else(|| FieldError::invalid(field, zone, "no fixed offset"));
    }
    if zone.starts_with('+') || zone.starts_with('-') {
        return zone
            .parse::<FixedOffset>()
            .map_err(|_| FieldError::invalid(field, zone, "not an offset like \"+07:00\""));
    }
    let Ok(tz) = zone.parse::<chrono_tz::Tz>() else {
        return Err(FieldError::invalid(
            field,
            zone,
            "not a known time zone; use \"Asia/Ho_Chi_Minh\" or an offset like \"+07:00\"",
        ));
    };
    // The domain works with one fixed offset, so a zone whose offset changes in the
    // calendar horizon (daylight saving) is refused rather than approximated.
    let offset_at = |year: i32, month: u32| {
        tz.with_ymd_and_hms(year, month, 1, 12, 0, 0)
            .single()
            .map(|instant| instant.offset().fix())
    };
    let first = offset_at(2000, 1);
    let is_fixed =
        (2000..=2100).all(|year| [1, 7].iter().all(|month| offset_at(year, *month) == first));
    match first {
        Some(offset) if is_fixed => Ok(offset),
        Some(_) | None => Err(FieldError::invalid(
            field,
            zone,
            "time zone changes its utc offset (daylight saving); only fixed offsets are supported",
        )),
    }
}

/// The wire weekdays, Monday first, in the order of [`WeekSchedule::days`].
const WEEKDAYS: [v1::Weekday; 7] = [
    v1::Weekday::Monday,
    v1::Weekday::Tuesday,
    v1::Weekday::Wednesday,
    v1::Weekday::Thursday,
    v1::Weekday::Friday,
    v1::Weekday::Saturday,
    v1::Weekday::Sunday,
];

fn required_text(field: String, value: &str) -> Result<String, FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::missing(field, "text is required"));
    }
    text_from_pb(field, value)
}

fn step_from_pb(prefix: &str, pb: &v1::Step) -> Result<Step, FieldError> {
    let code = id_from_pb(join(prefix, "code"), &pb.code, StepCode::new)?;
    let name = text_from_pb(join(prefix, "name"), &pb.name)?;
    let (unit, role) = match &pb.performer {
        Some(v1::step::Performer::UnitId(unit)) => (
            Some(id_from_pb(join(prefix, "unit_id"), unit, UnitId::new)?),
            None,
        ),
        Some(v1::step::Performer::Role(role)) => {
            (None, Some(text_from_pb(join(prefix, "role"), role)?))
        }
        None => (None, None),
    };
    let field = join(prefix, "allotted");
    let Some(allotted) = &pb.allotted else {
        return Err(FieldError::missing(
            field,
            "allotted working time is required",
        ));
    };
    let shown = format!("{}s {}ns", allotted.seconds, allotted.nanos);
    if allotted.seconds <= 0 || allotted.nanos != 0 || allotted.seconds % 60 != 0 {
        return Err(FieldError::invalid(
            field,
            shown,
            "allotted working time must be a positive whole number of minutes",
        ));
    }
    Ok(Step {
        code,
        name,
        unit,
        role,
        allotted: WorkingTime::seconds(allotted.seconds),
    })
}

fn step_to_pb(step: &Step) -> v1::Step {
    let performer = match (&step.unit, &step.role) {
        (Some(unit), _) => Some(v1::step::Performer::UnitId(unit.to_string())),
        (None, Some(role)) => Some(v1::step::Performer::Role(role.clone())),
        (None, None) => None,
    };
    v1::Step {
        code: step.code.to_string(),
        name: step.name.clone(),
        performer,
        allotted: Some(crate::proto::wkt::Duration {
            seconds: step.allotted.as_secs(),
            nanos: 0,
        }),
    }
}

fn term_from_pb<T>(
    prefix: &str,
    id_field: &str,
    raw_id: &str,
    from: Option<&v1::Date>,
    until: Option<&v1::Date>,
    make: impl FnOnce(String) -> Result<T, IdError>,
) -> Result<Term<T>, FieldError> {
    let value = id_from_pb(join(prefix, id_field), raw_id, make)?;
    let from = date_from_pb(join(prefix, "from"), from)?;
    let until = optional_date_from_pb(join(prefix, "until"), until)?;
    if let Some(until) = until {
        if until <= from {
            return Err(FieldError::invalid(
                join(prefix, "until"),
                until.to_string(),
                format!("term must end after it starts on {from}"),
            ));
        }
    }
    Ok(Term { value, from, until })
}

fn week_from_pb(prefix: &str, pb: &v1::WeekVersion) -> Result<WeekVersion, FieldError> {
    let effective_from = date_from_pb(join(prefix, "effective_from"), pb.effective_from.as_ref())?;
    let mut week = WeekSchedule {
        days: Default::default(),
    };
    let mut seen = BTreeSet::new();
    for (day_idx, day) in pb.days.iter().enumerate() {
        let at = format!("{}[{day_idx}]", join(prefix, "days"));
        let weekday_field = join(&at, "weekday");
        let slot = match v1::Weekday::try_from(day.weekday) {
            Ok(v1::Weekday::Unspecified) | Err(_) => {
                return Err(FieldError::invalid(
                    weekday_field,
                    day.weekday.to_string(),
                    format!("{} is not a weekday (1 monday to 7 sunday)", day.weekday),
                ))
            }
            Ok(weekday) => WEEKDAYS
                .iter()
                .position(|known| *known == weekday)
                .unwrap_or(0),
        };
        if !seen.insert(slot) {
            return Err(FieldError::invalid(
                weekday_field,
                day.weekday.to_string(),
                "weekday appears twice in the week",
            ));
        }
        week.days[slot] = hours_from_pb(&join(&at, "hours"), &day.hours)?;
    }
    Ok(WeekVersion {
        effective_from,
        week,
    })
}

fn override_from_pb(prefix: &str, pb: &v1::CalendarOverride) -> Result<DayOverride, FieldError> {
    let date = date_from_pb(join(prefix, "date"), pb.date.as_ref())?;
    let kind = match v1::OverrideKind::try_from(pb.kind) {
        Ok(v1::OverrideKind::Holiday) => OverrideKind::Holiday,
        Ok(v1::OverrideKind::DayOff) => OverrideKind::DayOff,
        Ok(v1::OverrideKind::WorkingDay) => OverrideKind::WorkingDay,
        Ok(v1::OverrideKind::Unspecified) | Err(_) => {
            return Err(FieldError::invalid(
                join(prefix, "kind"),
                pb.kind.to_string(),
                format!(
                    "{} is not an override kind (1 holiday, 2 day off, 3 working day)",
                    pb.kind
                ),
            ))
        }
    };
    // Empty hours mean the default week's hours: the domain's `None`.
    let hours = if pb.hours.is_empty() {
        None
    } else {
        Some(hours_from_pb(&join(prefix, "hours"), &pb.hours)?)
    };
    Ok(DayOverride {
        date,
        kind,
        hours,
        note: text_from_pb(join(prefix, "note"), &pb.note)?,
        source: text_from_pb(join(prefix, "source"), &pb.source)?,
    })
}
