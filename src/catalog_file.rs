//! The catalog document: procedures, units, officers and calendars in TOML or JSON, parsed
//! into validated domain objects.
//!
//! Every problem is reported with the line, the entry and the field: syntax and type errors
//! come from the parser with their position; semantic errors (a bad id, an unknown kind, a
//! reference to a missing unit) are located in the text by the entry they belong to. The
//! whole document is refused if anything is wrong; warnings (step allotments that do not add
//! up to the deadline) do not refuse it. The format is documented in README.md.
//!
//! This module parses text; it never reads files or touches the store.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{FixedOffset, NaiveDate, NaiveTime, Offset, TimeZone};
use dunghan_domain::calendar::{
    vietnam_spec, Calendar, CalendarSpec, DayOverride, HolidayRule, LocalHours, OverrideKind,
    WeekSchedule, WeekVersion,
};
use dunghan_domain::catalog::{
    Catalog, CountingRule, Deadline, DeadlineUnit, Officer, Procedure, Step, Term, Unit, UnitKind,
    WaitKind,
};
use dunghan_domain::{
    CalendarId, FieldCode, IdError, OfficerId, ProcedureCode, StepCode, UnitId, WorkingTime,
};
use serde::Deserialize;

/// The id of the shipped Vietnamese calendar, always present.
pub const DEFAULT_CALENDAR: &str = "vn";

/// The format of a catalog document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML (the default for files ending in `.toml`).
    Toml,
    /// JSON.
    Json,
}

impl Format {
    /// The format a file name implies: `.json` is JSON, anything else TOML.
    pub fn from_path(path: &str) -> Format {
        if path.to_ascii_lowercase().ends_with(".json") {
            Format::Json
        } else {
            Format::Toml
        }
    }
}

/// One problem in a catalog document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    /// 1-based line, when it can be located.
    pub line: Option<usize>,
    /// The entry and field, e.g. `procedure[2] (1.004227).deadline.amount`.
    pub field: String,
    /// What is wrong, naming the value.
    pub message: String,
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// A parsed, validated catalog document.
#[derive(Debug, Clone, Default)]
pub struct CatalogDocument {
    /// Calendar specs (compiled when merged).
    pub calendars: Vec<CalendarSpec>,
    /// Unit versions with their effective dates.
    pub units: Vec<(NaiveDate, Unit)>,
    /// Officer versions with their effective dates.
    pub officers: Vec<(NaiveDate, Officer)>,
    /// Procedure versions with their effective dates.
    pub procedures: Vec<(NaiveDate, Procedure)>,
    /// Warnings (not errors), each with its location.
    pub warnings: Vec<String>,
}

/// The catalog with only the shipped Vietnamese calendar.
///
/// # Panics
/// Never in practice: the shipped calendar is tested to compile.
pub fn default_catalog() -> Catalog {
    let mut catalog = Catalog::default();
    let id = calendar_id(DEFAULT_CALENDAR);
    #[allow(clippy::expect_used)] // The shipped spec is data under test; failing here is a bug.
    let calendar = Calendar::compile(vietnam_spec(id.clone()))
        .expect("the shipped Vietnamese calendar compiles (tested)");
    catalog.calendars.insert(id, Arc::new(calendar));
    catalog
}

/// Parses and validates a catalog document.
///
/// # Errors
/// Every problem found, each with its line (where it can be located) and field.
pub fn parse(text: &str, format: Format) -> Result<CatalogDocument, Vec<DocumentError>> {
    let raw: RawCatalog = match format {
        Format::Toml => toml::from_str(text).map_err(|err| {
            vec![DocumentError {
                line: err.span().map(|span| line_of(text, span.start)),
                field: "document".to_owned(),
                message: err.message().to_owned(),
            }]
        })?,
        Format::Json => serde_json::from_str(text).map_err(|err| {
            vec![DocumentError {
                line: Some(err.line()),
                field: "document".to_owned(),
                message: err.to_string(),
            }]
        })?,
    };
    let locator = Locator::new(text, format);
    let mut errors = Vec::new();
    let mut document = CatalogDocument::default();
    for (idx, entry) in raw.calendar.iter().enumerate() {
        let mut ctx = Ctx::new(&locator, "calendar", idx, &entry.id, &mut errors);
        if let Some(spec) = convert_calendar(entry, &mut ctx) {
            document.calendars.push(spec);
        }
    }
    for (idx, entry) in raw.unit.iter().enumerate() {
        let mut ctx = Ctx::new(&locator, "unit", idx, &entry.id, &mut errors);
        if let Some(unit) = convert_unit(entry, &mut ctx) {
            document.units.push(unit);
        }
    }
    for (idx, entry) in raw.officer.iter().enumerate() {
        let mut ctx = Ctx::new(&locator, "officer", idx, &entry.id, &mut errors);
        if let Some(officer) = convert_officer(entry, &mut ctx) {
            document.officers.push(officer);
        }
    }
    for (idx, entry) in raw.procedure.iter().enumerate() {
        let mut ctx = Ctx::new(&locator, "procedure", idx, &entry.code, &mut errors);
        if let Some((from, procedure)) = convert_procedure(entry, &mut ctx) {
            match procedure.validate(WorkingTime::hours(8)) {
                Ok(warnings) => {
                    let line = locator.entry_line("procedure", idx, &entry.code);
                    document
                        .warnings
                        .extend(warnings.into_iter().map(|w| match line {
                            Some(line) => format!("line {line}: {w}"),
                            None => w.to_string(),
                        }));
                    document.procedures.push((from, procedure));
                }
                Err(err) => ctx.error(&err.field, format!("{:?}: {}", err.value, err.reason)),
            }
        }
    }
    if errors.is_empty() {
        Ok(document)
    } else {
        Err(errors)
    }
}

impl CatalogDocument {
    /// Merges the document into `base`: new versions are added, same-dated versions replaced,
    /// calendars compiled; then the whole catalog's cross references are checked.
    ///
    /// # Errors
    /// Every calendar that does not compile and every broken cross reference.
    pub fn merge_into(
        &self,
        base: &Catalog,
        text: &str,
        format: Format,
    ) -> Result<Catalog, Vec<DocumentError>> {
        let locator = Locator::new(text, format);
        let mut catalog = base.clone();
        let mut errors = Vec::new();
        for (idx, spec) in self.calendars.iter().enumerate() {
            match Calendar::compile(spec.clone()) {
                Ok(calendar) => {
                    catalog
                        .calendars
                        .insert(spec.id.clone(), Arc::new(calendar));
                }
                Err(err) => errors.push(DocumentError {
                    line: locator.entry_line("calendar", idx, spec.id.as_str()),
                    field: format!("calendar[{idx}] ({})", spec.id),
                    message: err.to_string(),
                }),
            }
        }
        for (from, unit) in &self.units {
            catalog
                .units
                .entry(unit.id.clone())
                .or_default()
                .insert(*from, unit.clone());
        }
        for (from, officer) in &self.officers {
            catalog
                .officers
                .entry(officer.id.clone())
                .or_default()
                .insert(*from, officer.clone());
        }
        for (from, procedure) in &self.procedures {
            catalog
                .procedures
                .entry(procedure.code.clone())
                .or_default()
                .insert(*from, procedure.clone());
        }
        let (invalid, _) = catalog.validate(WorkingTime::hours(8));
        for err in invalid {
            // The object reads `unit X (from D)`: find the entry by its id.
            let mut words = err.object.split_whitespace();
            let (kind, id) = (
                words.next().unwrap_or_default(),
                words.next().unwrap_or_default(),
            );
            errors.push(DocumentError {
                line: locator.find_id_line(kind, id),
                field: format!("{}.{}", err.object, err.field),
                message: format!("{:?}: {}", err.value, err.reason),
            });
        }
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(errors)
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    calendar: Vec<RawCalendar>,
    #[serde(default)]
    unit: Vec<RawUnit>,
    #[serde(default)]
    officer: Vec<RawOfficer>,
    #[serde(default)]
    procedure: Vec<RawProcedure>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    id: String,
    /// `vietnam` (the shipped calendar: default week, holidays, official schedules) or `empty`.
    #[serde(default)]
    base: Option<String>,
    #[serde(default)]
    version: Option<u32>,
    /// IANA zone name; must have one fixed offset (no daylight saving).
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    official_years: Vec<i32>,
    #[serde(default)]
    week: Vec<RawWeek>,
    #[serde(default, rename = "override")]
    overrides: Vec<RawOverride>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeek {
    effective_from: String,
    #[serde(default)]
    monday: Vec<String>,
    #[serde(default)]
    tuesday: Vec<String>,
    #[serde(default)]
    wednesday: Vec<String>,
    #[serde(default)]
    thursday: Vec<String>,
    #[serde(default)]
    friday: Vec<String>,
    #[serde(default)]
    saturday: Vec<String>,
    #[serde(default)]
    sunday: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    date: String,
    kind: String,
    #[serde(default)]
    hours: Option<Vec<String>>,
    #[serde(default)]
    note: String,
    #[serde(default)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    id: String,
    name: String,
    #[serde(default)]
    parent: Option<String>,
    kind: String,
    #[serde(default)]
    calendar: Option<String>,
    /// Shorthand for one open-ended head term from `effective_from`.
    #[serde(default)]
    head: Option<String>,
    #[serde(default)]
    heads: Vec<RawTerm>,
    #[serde(default)]
    predecessors: Vec<String>,
    effective_from: String,
}

/// A dated term: `{ id = "...", from = "2025-01-01", until = "2026-01-01" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerm {
    id: String,
    from: String,
    #[serde(default)]
    until: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOfficer {
    id: String,
    name: String,
    /// Shorthand for one open-ended membership from `effective_from`.
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    memberships: Vec<RawTerm>,
    effective_from: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcedure {
    code: String,
    name: String,
    field: String,
    #[serde(default)]
    level: String,
    effective_from: String,
    deadline: RawDeadline,
    #[serde(default)]
    counting: Option<String>,
    #[serde(default)]
    cutoff: Option<String>,
    #[serde(default)]
    stops_clock: Vec<String>,
    #[serde(default)]
    step: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadline {
    amount: u32,
    unit: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    code: String,
    name: String,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    role: Option<String>,
    allotted: String,
}

/// Collects errors for one entry, each located at the entry's field.
struct Ctx<'a> {
    locator: &'a Locator<'a>,
    section: &'static str,
    idx: usize,
    id: String,
    errors: &'a mut Vec<DocumentError>,
    failed: bool,
}

impl<'a> Ctx<'a> {
    fn new(
        locator: &'a Locator<'a>,
        section: &'static str,
        idx: usize,
        id: &str,
        errors: &'a mut Vec<DocumentError>,
    ) -> Self {
        Self {
            locator,
            section,
            idx,
            id: id.to_owned(),
            errors,
            failed: false,
        }
    }

    fn error(&mut self, field: &str, message: String) {
        self.failed = true;
        let key = field.split(['.', '[']).next_back().unwrap_or(field);
        self.errors.push(DocumentError {
            line: self
                .locator
                .field_line(self.section, self.idx, &self.id, key),
            field: format!("{}[{}] ({}).{field}", self.section, self.idx, self.id),
            message,
        });
    }

    fn id<T>(
        &mut self,
        field: &str,
        value: &str,
        make: fn(String) -> Result<T, IdError>,
    ) -> Option<T> {
        match make(value.to_owned()) {
            Ok(id) => Some(id),
            Err(err) => {
                self.error(field, err.to_string());
                None
            }
        }
    }

    fn date(&mut self, field: &str, value: &str) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                self.error(
                    field,
                    format!("{value:?} is not a date like \"2025-07-01\""),
                );
                None
            }
        }
    }

    fn hours(&mut self, field: &str, values: &[String]) -> Option<Vec<LocalHours>> {
        let mut hours = Vec::new();
        for value in values {
            let parsed = value.split_once('-').and_then(|(start, end)| {
                let start = NaiveTime::parse_from_str(start.trim(), "%H:%M").ok()?;
                let end = NaiveTime::parse_from_str(end.trim(), "%H:%M").ok()?;
                (start < end).then_some(LocalHours { start, end })
            });
            match parsed {
                Some(parsed) => hours.push(parsed),
                None => {
                    self.error(
                        field,
                        format!("{value:?} is not hours like \"07:30-11:30\""),
                    );
                    return None;
                }
            }
        }
        Some(hours)
    }

    fn pick<T: Copy>(&mut self, field: &str, value: &str, choices: &[(&str, T)]) -> Option<T> {
        if let Some((_, found)) = choices.iter().find(|(name, _)| *name == value) {
            return Some(*found);
        }
        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        self.error(
            field,
            format!("{value:?} is not one of {}", names.join(", ")),
        );
        None
    }
}

fn convert_calendar(raw: &RawCalendar, ctx: &mut Ctx<'_>) -> Option<CalendarSpec> {
    let id = ctx.id("id", &raw.id, CalendarId::new)?;
    let base = raw.base.as_deref().unwrap_or("vietnam");
    let mut spec = match ctx.pick("base", base, &[("vietnam", true), ("empty", false)])? {
        true => vietnam_spec(id),
        false => {
            let mut spec = vietnam_spec(id);
            spec.overrides.clear();
            spec.official_years.clear();
            spec.holiday_rule = HolidayRule::None;
            spec
        }
    };
    if let Some(version) = raw.version {
        spec.version = version;
    }
    if let Some(zone) = &raw.zone {
        spec.utc_offset = fixed_offset_of(ctx, zone)?;
    }
    spec.official_years
        .extend(raw.official_years.iter().copied());
    if !raw.week.is_empty() {
        spec.weeks.clear();
    }
    for (idx, week) in raw.week.iter().enumerate() {
        let effective_from =
            ctx.date(&format!("week[{idx}].effective_from"), &week.effective_from)?;
        let days = [
            &week.monday,
            &week.tuesday,
            &week.wednesday,
            &week.thursday,
            &week.friday,
            &week.saturday,
            &week.sunday,
        ];
        let mut schedule = WeekSchedule {
            days: Default::default(),
        };
        for (day_idx, hours) in days.iter().enumerate() {
            schedule.days[day_idx] = ctx.hours(&format!("week[{idx}].hours"), hours)?;
        }
        spec.weeks.push(WeekVersion {
            effective_from,
            week: schedule,
        });
    }
    spec.weeks.sort_by_key(|week| week.effective_from);
    let mut seen = BTreeSet::new();
    for (idx, raw_override) in raw.overrides.iter().enumerate() {
        let field = format!("override[{idx}]");
        let date = ctx.date(&format!("{field}.date"), &raw_override.date)?;
        let kind = ctx.pick(
            &format!("{field}.kind"),
            &raw_override.kind,
            &[
                ("holiday", OverrideKind::Holiday),
                ("day-off", OverrideKind::DayOff),
                ("working-day", OverrideKind::WorkingDay),
            ],
        )?;
        let hours = match &raw_override.hours {
            Some(hours) => Some(ctx.hours(&format!("{field}.hours"), hours)?),
            None => None,
        };
        if !seen.insert(date) {
            ctx.error(
                &format!("{field}.date"),
                format!("{date} has two overrides in this calendar"),
            );
            continue;
        }
        // A loaded override replaces the shipped or computed one for the same date.
        spec.overrides.retain(|existing| existing.date != date);
        spec.overrides.push(DayOverride {
            date,
            kind,
            hours,
            note: raw_override.note.clone(),
            source: raw_override.source.clone(),
        });
    }
    (!ctx.failed).then_some(spec)
}

fn fixed_offset_of(ctx: &mut Ctx<'_>, zone: &str) -> Option<FixedOffset> {
    let Ok(tz) = zone.parse::<chrono_tz::Tz>() else {
        ctx.error("zone", format!("{zone:?} is not an IANA time zone"));
        return None;
    };
    // The domain works with one fixed offset: refuse zones whose offset changes in the horizon.
    let offset_at = |year: i32, month: u32| {
        tz.with_ymd_and_hms(year, month, 1, 12, 0, 0)
            .single()
            .map(|dt| dt.offset().fix())
    };
    let first = offset_at(2000, 1)?;
    for year in 2000..=2100 {
        for month in [1, 7] {
            if offset_at(year, month) != Some(first) {
                ctx.error(
                    "zone",
                    format!("{zone:?} changes its UTC offset (daylight saving); only fixed-offset zones are supported"),
                );
                return None;
            }
        }
    }
    Some(first)
}

fn convert_unit(raw: &RawUnit, ctx: &mut Ctx<'_>) -> Option<(NaiveDate, Unit)> {
    let id = ctx.id("id", &raw.id, UnitId::new);
    let parent = raw
        .parent
        .as_deref()
        .map(|p| ctx.id("parent", p, UnitId::new));
    let kind = ctx.pick(
        "kind",
        &raw.kind,
        &[
            ("province", UnitKind::Province),
            ("department", UnitKind::Department),
            ("division", UnitKind::Division),
            ("commune", UnitKind::Commune),
            ("center", UnitKind::Center),
            ("other", UnitKind::Other),
        ],
    );
    let calendar = ctx.id(
        "calendar",
        raw.calendar.as_deref().unwrap_or(DEFAULT_CALENDAR),
        CalendarId::new,
    );
    let head = raw
        .head
        .as_deref()
        .map(|h| ctx.id("head", h, OfficerId::new));
    let heads = terms(ctx, "heads", &raw.heads, OfficerId::new);
    let predecessors: Vec<Option<UnitId>> = raw
        .predecessors
        .iter()
        .map(|p| ctx.id("predecessors", p, UnitId::new))
        .collect();
    let from = ctx.date("effective_from", &raw.effective_from);
    if raw.name.trim().is_empty() {
        ctx.error("name", "must not be empty".to_owned());
    }
    if ctx.failed {
        return None;
    }
    let from = from?;
    let mut heads = heads?;
    if let Some(head) = head.flatten() {
        heads.insert(0, Term::from(head, from));
    }
    Some((
        from,
        Unit {
            id: id?,
            name: raw.name.clone(),
            parent: parent.flatten(),
            kind: kind?,
            calendar: calendar?,
            heads,
            predecessors: predecessors.into_iter().flatten().collect(),
        },
    ))
}

fn convert_officer(raw: &RawOfficer, ctx: &mut Ctx<'_>) -> Option<(NaiveDate, Officer)> {
    let id = ctx.id("id", &raw.id, OfficerId::new);
    let unit = raw.unit.as_deref().map(|u| ctx.id("unit", u, UnitId::new));
    let memberships = terms(ctx, "memberships", &raw.memberships, UnitId::new);
    let from = ctx.date("effective_from", &raw.effective_from);
    if ctx.failed {
        return None;
    }
    let from = from?;
    let mut memberships = memberships?;
    if let Some(unit) = unit.flatten() {
        memberships.insert(0, Term::from(unit, from));
    }
    Some((
        from,
        Officer {
            id: id?,
            name: raw.name.clone(),
            memberships,
        },
    ))
}

fn terms<T>(
    ctx: &mut Ctx<'_>,
    field: &str,
    raw: &[RawTerm],
    make: fn(String) -> Result<T, IdError>,
) -> Option<Vec<Term<T>>> {
    let mut terms = Vec::new();
    for (idx, term) in raw.iter().enumerate() {
        let value = ctx.id(&format!("{field}[{idx}].id"), &term.id, make);
        let from = ctx.date(&format!("{field}[{idx}].from"), &term.from);
        let until = match &term.until {
            Some(until) => ctx.date(&format!("{field}[{idx}].until"), until).map(Some),
            None => Some(None),
        };
        if let (Some(value), Some(from), Some(until)) = (value, from, until) {
            terms.push(Term { value, from, until });
        }
    }
    (!ctx.failed).then_some(terms)
}

fn convert_procedure(raw: &RawProcedure, ctx: &mut Ctx<'_>) -> Option<(NaiveDate, Procedure)> {
    let code = ctx.id("code", &raw.code, ProcedureCode::new);
    let field = ctx.id("field", &raw.field, FieldCode::new);
    let from = ctx.date("effective_from", &raw.effective_from);
    let unit = ctx.pick(
        "deadline.unit",
        &raw.deadline.unit,
        &[
            ("working-hours", DeadlineUnit::WorkingHours),
            ("working-days", DeadlineUnit::WorkingDays),
            ("calendar-days", DeadlineUnit::CalendarDays),
        ],
    );
    let counting = ctx.pick(
        "counting",
        raw.counting.as_deref().unwrap_or("working-hours"),
        &[
            ("working-hours", CountingRule::WorkingHours),
            ("civil-code", CountingRule::CivilCode),
        ],
    );
    let cutoff = raw.cutoff.as_deref().and_then(|value| {
        let parsed = NaiveTime::parse_from_str(value, "%H:%M").ok();
        if parsed.is_none() {
            ctx.error("cutoff", format!("{value:?} is not a time like \"15:00\""));
        }
        parsed
    });
    let mut waits = BTreeSet::new();
    for (idx, wait) in raw.stops_clock.iter().enumerate() {
        if let Some(kind) = ctx.pick(
            &format!("stops_clock[{idx}]"),
            wait,
            &[
                ("financial-obligation", WaitKind::FinancialObligation),
                ("consultation", WaitKind::Consultation),
                ("expert-council", WaitKind::ExpertCouncil),
                ("site-visit", WaitKind::SiteVisit),
                ("supplement", WaitKind::Supplement),
            ],
        ) {
            waits.insert(kind);
        }
    }
    let mut steps = Vec::new();
    for (idx, raw_step) in raw.step.iter().enumerate() {
        let step_code = ctx.id(&format!("step[{idx}].code"), &raw_step.code, StepCode::new);
        let step_unit = raw_step
            .unit
            .as_deref()
            .map(|u| ctx.id(&format!("step[{idx}].unit"), u, UnitId::new));
        let allotted = parse_working_time(&raw_step.allotted);
        if allotted.is_none() {
            ctx.error(
                &format!("step[{idx}].allotted"),
                format!(
                    "{:?} is not a working time like \"8h\", \"4h30m\" or \"2d\" (8h days)",
                    raw_step.allotted
                ),
            );
        }
        if let (Some(code), Some(allotted)) = (step_code, allotted) {
            steps.push(Step {
                code,
                name: raw_step.name.clone(),
                unit: step_unit.flatten(),
                role: raw_step.role.clone(),
                allotted,
            });
        }
    }
    if ctx.failed {
        return None;
    }
    Some((
        from?,
        Procedure {
            code: code?,
            name: raw.name.clone(),
            field: field?,
            level: raw.level.clone(),
            deadline: Deadline {
                amount: raw.deadline.amount,
                unit: unit?,
            },
            counting: counting?,
            cutoff,
            steps,
            clock_stopping_waits: waits,
        },
    ))
}

/// Parses `8h`, `4h30m`, `90m` or `2d` (a day is 8 working hours).
pub fn parse_working_time(text: &str) -> Option<WorkingTime> {
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut any = false;
    for ch in text.trim().chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let value: i64 = number.parse().ok()?;
        number.clear();
        let unit_secs = match ch {
            'd' => 8 * 3600,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(value.checked_mul(unit_secs)?)?;
        any = true;
    }
    (number.is_empty() && any && total > 0).then(|| WorkingTime::seconds(total))
}

/// Finds lines of entries and fields in the document text.
struct Locator<'a> {
    text: &'a str,
    format: Format,
    /// For TOML: the byte offset of each `[[section]]` header, per section.
    headers: BTreeMap<String, Vec<usize>>,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str, format: Format) -> Self {
        let mut headers: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        if format == Format::Toml {
            let mut offset = 0;
            for line in text.split_inclusive('\n') {
                let trimmed = line.trim();
                if let Some(name) = trimmed
                    .strip_prefix("[[")
                    .and_then(|r| r.strip_suffix("]]"))
                {
                    headers
                        .entry(name.trim().to_owned())
                        .or_default()
                        .push(offset);
                }
                offset += line.len();
            }
        }
        Self {
            text,
            format,
            headers,
        }
    }

    /// The byte range of entry `idx` of `section`.
    fn entry_range(&self, section: &str, idx: usize, id: &str) -> Option<(usize, usize)> {
        match self.format {
            Format::Toml => {
                let starts = self.headers.get(section)?;
                let start = *starts.get(idx)?;
                let end = self
                    .headers
                    .iter()
                    .filter(|(name, _)| !name.starts_with(&format!("{section}.")))
                    .flat_map(|(_, offsets)| offsets.iter().copied())
                    .filter(|offset| *offset > start)
                    .min()
                    .unwrap_or(self.text.len());
                Some((start, end))
            }
            Format::Json => {
                let needle = format!("\"{id}\"");
                let start = self.text.find(&needle)?;
                let start = self.text[..start].rfind('{').unwrap_or(start);
                Some((start, self.text.len()))
            }
        }
    }

    fn entry_line(&self, section: &str, idx: usize, id: &str) -> Option<usize> {
        self.entry_range(section, idx, id)
            .map(|(start, _)| line_of(self.text, start))
    }

    fn field_line(&self, section: &str, idx: usize, id: &str, key: &str) -> Option<usize> {
        let (start, end) = self.entry_range(section, idx, id)?;
        let body = &self.text[start..end];
        let patterns = match self.format {
            Format::Toml => vec![format!("{key} ="), format!("{key}=")],
            Format::Json => vec![format!("\"{key}\"")],
        };
        let found = patterns.iter().filter_map(|p| body.find(p.as_str())).min();
        Some(line_of(self.text, start + found.unwrap_or(0)))
    }

    fn find_id_line(&self, kind: &str, id: &str) -> Option<usize> {
        let key = if kind == "procedure" { "code" } else { "id" };
        let patterns = match self.format {
            Format::Toml => vec![format!("{key} = \"{id}\""), format!("{key}=\"{id}\"")],
            Format::Json => vec![format!("\"{id}\"")],
        };
        patterns
            .iter()
            .filter_map(|p| self.text.find(p.as_str()))
            .min()
            .map(|offset| line_of(self.text, offset))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn calendar_id(id: &str) -> CalendarId {
    #[allow(clippy::expect_used)] // A constant id, checked by the tests.
    CalendarId::new(id).expect("constant calendar id is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../examples/catalog.toml");

    #[test]
    fn the_readme_example_loads() {
        let document = parse(EXAMPLE, Format::Toml).unwrap();
        assert_eq!(document.procedures.len(), 2);
        let catalog = document
            .merge_into(&default_catalog(), EXAMPLE, Format::Toml)
            .unwrap();
        assert!(catalog.units.contains_key(&UnitId::new("so-xd").unwrap()));
        assert!(catalog
            .calendars
            .contains_key(&CalendarId::new("vn").unwrap()));
    }

    #[test]
    fn bad_value_names_line_entry_and_field() {
        let text = "[[procedure]]\ncode = \"1.1\"\nname = \"x\"\nfield = \"land\"\neffective_from = \"2025-01-01\"\ndeadline = { amount = 3, unit = \"weeks\" }\n";
        let errors = parse(text, Format::Toml).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, Some(6));
        assert_eq!(errors[0].field, "procedure[0] (1.1).deadline.unit");
        assert!(errors[0].message.contains("\"weeks\""), "{}", errors[0]);
    }

    #[test]
    fn syntax_error_names_the_line() {
        let errors = parse("[[unit]]\nid = \"a\"\nname = \n", Format::Toml).unwrap_err();
        assert_eq!(errors[0].line, Some(3), "{}", errors[0]);
    }

    #[test]
    fn unknown_reference_is_refused_with_its_line() {
        let text = "[[unit]]\nid = \"a\"\nname = \"A\"\nkind = \"division\"\neffective_from = \"2025-01-01\"\n\n[[unit]]\nid = \"b\"\nname = \"B\"\nkind = \"division\"\nparent = \"zzz\"\neffective_from = \"2025-01-01\"\n";
        let document = parse(text, Format::Toml).unwrap();
        let errors = document
            .merge_into(&default_catalog(), text, Format::Toml)
            .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, Some(8), "{}", errors[0]);
        assert!(errors[0].field.ends_with(".parent"), "{}", errors[0]);
        assert!(errors[0].message.contains("zzz"));
    }

    #[test]
    fn json_errors_name_the_line() {
        let text = "{\n  \"unit\": [\n    {\"id\": \"a\", \"name\": \"A\",\n     \"kind\": \"palace\", \"effective_from\": \"2025-01-01\"}\n  ]\n}\n";
        let errors = parse(text, Format::Json).unwrap_err();
        assert_eq!(errors[0].line, Some(4), "{}", errors[0]);
        assert!(errors[0].message.contains("palace"));
    }

    #[test]
    fn working_times_parse() {
        assert_eq!(parse_working_time("4h30m"), Some(WorkingTime::minutes(270)));
        assert_eq!(parse_working_time("2d"), Some(WorkingTime::hours(16)));
        assert_eq!(parse_working_time("8"), None);
        assert_eq!(parse_working_time("0h"), None);
    }

    #[test]
    fn daylight_saving_zone_is_refused() {
        let text = "[[calendar]]\nid = \"paris\"\nzone = \"Europe/Paris\"\n";
        let errors = parse(text, Format::Toml).unwrap_err();
        assert!(
            errors[0].message.contains("daylight saving"),
            "{}",
            errors[0]
        );
        assert_eq!(errors[0].line, Some(3));
    }
}
