//! The catalog: procedures, units, officers and calendars, each versioned by the date it
//! takes effect (DOMAIN.md §3).
//!
//! A file is judged by the versions in force when its events happened: [`Versioned::at`]
//! picks the version whose effective date is the latest one at or before a local date.
//! Validation returns errors that name the object, the field and the value, and warnings
//! for suspicious but legal data (step allotments that do not add up to the deadline).
//! This module never reads files: parsing a catalog document happens outside the core.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};
use thiserror::Error;

use crate::calendar::Calendar;
use crate::ids::{CalendarId, FieldCode, OfficerId, ProcedureCode, StepCode, UnitId};
use crate::time::WorkingTime;

/// The unit of a published deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeadlineUnit {
    /// Working hours on the receiving unit's calendar.
    WorkingHours,
    /// Working days; see [`CountingRule`] for how they are counted.
    WorkingDays,
    /// Calendar days; a limit ending on a closed day moves to the close of the next working day.
    CalendarDays,
}

/// A published processing deadline (thời hạn giải quyết): an amount and its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    /// How many units, at least 1.
    pub amount: u32,
    /// The unit.
    pub unit: DeadlineUnit,
}

/// How a deadline in working days is counted (DOMAIN.md §5.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CountingRule {
    /// N working days are N × the standard day's working time on the working-time line,
    /// hour-and-minute precise, as the receipt slip prints it. The default.
    #[default]
    WorkingHours,
    /// Civil Code 2015 Art. 147–148: the day of receipt is not counted; the limit ends at the
    /// close of the N-th working day after it.
    CivilCode,
}

/// A wait that may stop a file's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WaitKind {
    /// Waiting for the applicant's missing documents. Always stops the clock, and the clock
    /// restarts from zero when the complete dossier is back.
    Supplement,
    /// Waiting for the applicant's financial obligation (fees, taxes).
    FinancialObligation,
    /// Waiting for a consulted unit's answer.
    Consultation,
    /// Waiting for an expert council.
    ExpertCouncil,
    /// Waiting for a site visit.
    SiteVisit,
}

impl WaitKind {
    /// Whether the wait is the applicant's time (charged to no officer even if the
    /// procedure does not stop the clock for it).
    pub fn is_applicant_time(self) -> bool {
        matches!(self, WaitKind::Supplement | WaitKind::FinancialObligation)
    }
}

/// One internal step of a procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Step code, unique within the procedure.
    pub code: StepCode,
    /// Name, e.g. `Thẩm định hồ sơ`.
    pub name: String,
    /// The unit expected to perform it, used to match handovers that carry no step code.
    pub unit: Option<UnitId>,
    /// The role expected to perform it (free text), for display.
    pub role: Option<String>,
    /// Allotted working time.
    pub allotted: WorkingTime,
}

/// A published procedure (thủ tục hành chính) as in force from a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Procedure {
    /// Code in the national database, e.g. `1.004227`.
    pub code: ProcedureCode,
    /// Name.
    pub name: String,
    /// Field (lĩnh vực), the rows of the reports.
    pub field: FieldCode,
    /// Level (e.g. `province`, `commune`), free text.
    pub level: String,
    /// The published deadline.
    pub deadline: Deadline,
    /// How working days are counted.
    pub counting: CountingRule,
    /// Same-day cut-off: a file received after this local time counts as received at the
    /// next working day's opening.
    pub cutoff: Option<NaiveTime>,
    /// Internal steps, in order.
    pub steps: Vec<Step>,
    /// Waits that stop the clock besides the supplement request, which always does.
    pub clock_stopping_waits: BTreeSet<WaitKind>,
}

impl Procedure {
    /// Whether a wait of `kind` stops the clock for this procedure.
    pub fn stops_clock(&self, kind: WaitKind) -> bool {
        kind == WaitKind::Supplement || self.clock_stopping_waits.contains(&kind)
    }

    /// The step with `code`.
    pub fn step(&self, code: &StepCode) -> Option<&Step> {
        self.steps.iter().find(|step| &step.code == code)
    }

    /// The position of the step with `code` in the procedure.
    pub fn step_index(&self, code: &StepCode) -> Option<usize> {
        self.steps.iter().position(|step| &step.code == code)
    }
}

/// The kind of a node of the unit tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitKind {
    /// The province (tỉnh).
    Province,
    /// A department (sở) or equivalent.
    Department,
    /// A division (phòng) of a department.
    Division,
    /// A commune (xã, phường).
    Commune,
    /// A public-administration service center (trung tâm phục vụ hành chính công, bộ phận một cửa).
    Center,
    /// Anything else.
    Other,
}

/// A unit (cơ quan, đơn vị) as in force from a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Id.
    pub id: UnitId,
    /// Name.
    pub name: String,
    /// Parent in the tree; `None` for a root.
    pub parent: Option<UnitId>,
    /// Kind.
    pub kind: UnitKind,
    /// The working calendar of the unit.
    pub calendar: CalendarId,
    /// The heads (người đứng đầu) accountable for the unit, each for a dated term.
    pub heads: Vec<Term<OfficerId>>,
    /// Units merged into this one; their history stays queryable under this unit.
    pub predecessors: Vec<UnitId>,
}

/// An officer (cán bộ, công chức) as in force from a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Officer {
    /// Id.
    pub id: OfficerId,
    /// Name.
    pub name: String,
    /// The units the officer belongs to, each for a dated term.
    pub memberships: Vec<Term<UnitId>>,
}

/// A value that holds from a local date until another (exclusive), or open-ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term<T> {
    /// The value.
    pub value: T,
    /// First local date of the term.
    pub from: NaiveDate,
    /// First local date after the term; `None` while it lasts.
    pub until: Option<NaiveDate>,
}

impl<T> Term<T> {
    /// An open-ended term from `from`.
    pub fn from(value: T, from: NaiveDate) -> Self {
        Self {
            value,
            from,
            until: None,
        }
    }

    /// Whether the term covers `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && self.until.is_none_or(|until| date < until)
    }
}

/// The value of the latest-starting term that covers `date`.
pub fn term_at<T>(terms: &[Term<T>], date: NaiveDate) -> Option<&T> {
    terms
        .iter()
        .filter(|term| term.covers(date))
        .max_by_key(|term| term.from)
        .map(|term| &term.value)
}

/// The versions of one catalog object, each in force from its effective local date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    versions: BTreeMap<NaiveDate, T>,
}

impl<T> Default for Versioned<T> {
    fn default() -> Self {
        Self {
            versions: BTreeMap::new(),
        }
    }
}

impl<T> Versioned<T> {
    /// One version in force from `effective_from`.
    pub fn single(effective_from: NaiveDate, value: T) -> Self {
        let mut versioned = Self::default();
        versioned.insert(effective_from, value);
        versioned
    }

    /// Adds or replaces the version in force from `effective_from`.
    pub fn insert(&mut self, effective_from: NaiveDate, value: T) {
        self.versions.insert(effective_from, value);
    }

    /// The version in force on `date`: the one with the latest effective date at or before it.
    pub fn at(&self, date: NaiveDate) -> Option<&T> {
        self.versions
            .range(..=date)
            .next_back()
            .map(|(_, value)| value)
    }

    /// The version in force on `date` with its effective date.
    pub fn at_with_date(&self, date: NaiveDate) -> Option<(NaiveDate, &T)> {
        self.versions
            .range(..=date)
            .next_back()
            .map(|(from, value)| (*from, value))
    }

    /// The latest version.
    pub fn latest(&self) -> Option<&T> {
        self.versions.values().next_back()
    }

    /// Every version, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&NaiveDate, &T)> {
        self.versions.iter()
    }
}

/// The whole catalog: the context every file is judged in.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Procedures by code.
    pub procedures: BTreeMap<ProcedureCode, Versioned<Procedure>>,
    /// Units by id.
    pub units: BTreeMap<UnitId, Versioned<Unit>>,
    /// Officers by id.
    pub officers: BTreeMap<OfficerId, Versioned<Officer>>,
    /// Compiled calendars by id, shared because compiling one is costly.
    pub calendars: BTreeMap<CalendarId, Arc<Calendar>>,
}

/// Why a catalog object is invalid. Names the object, the field and the value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{object}: {field} = {value:?}: {reason}")]
pub struct CatalogError {
    /// The object, e.g. `procedure 1.004227`.
    pub object: String,
    /// The field path, e.g. `steps[2].allotted`.
    pub field: String,
    /// The offending value, as text.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Legal but suspicious catalog data, shown to the operator who loaded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogWarning {
    /// The object, e.g. `procedure 1.004227`.
    pub object: String,
    /// What is suspicious.
    pub message: String,
}

impl fmt::Display for CatalogWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.message)
    }
}

/// The budget a deadline stands for on the working-time line, for deadlines that are
/// measured in working time (`None` for calendar days, which have no fixed budget).
pub fn deadline_budget(deadline: Deadline, standard_day: WorkingTime) -> Option<WorkingTime> {
    let amount = i64::from(deadline.amount);
    match deadline.unit {
        DeadlineUnit::WorkingHours => Some(WorkingTime::hours(amount)),
        DeadlineUnit::WorkingDays => Some(standard_day.saturating_mul(amount)),
        DeadlineUnit::CalendarDays => None,
    }
}

impl Procedure {
    /// Checks the procedure; warnings for step allotments that do not add up to the deadline.
    ///
    /// `standard_day` is the working time of one working day used to compare allotments
    /// with a deadline in working days (8 hours on the Vietnamese default week).
    ///
    /// # Errors
    /// [`CatalogError`] naming the first invalid field.
    pub fn validate(&self, standard_day: WorkingTime) -> Result<Vec<CatalogWarning>, CatalogError> {
        let object = format!("procedure {}", self.code);
        let invalid = |field: &str, value: String, reason: &str| CatalogError {
            object: object.clone(),
            field: field.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", self.name.clone(), "must not be empty"));
        }
        if self.deadline.amount == 0 {
            return Err(invalid(
                "deadline.amount",
                "0".to_owned(),
                "must be at least 1",
            ));
        }
        if self.deadline.amount > 3650 {
            return Err(invalid(
                "deadline.amount",
                self.deadline.amount.to_string(),
                "must be at most 3650",
            ));
        }
        let mut seen = BTreeSet::new();
        for (idx, step) in self.steps.iter().enumerate() {
            if !seen.insert(step.code.clone()) {
                return Err(invalid(
                    &format!("steps[{idx}].code"),
                    step.code.to_string(),
                    "appears twice in the procedure",
                ));
            }
            if step.allotted.is_zero() {
                return Err(invalid(
                    &format!("steps[{idx}].allotted"),
                    step.allotted.to_string(),
                    "must be more than zero",
                ));
            }
        }
        let mut warnings = Vec::new();
        let total: WorkingTime = self.steps.iter().map(|step| step.allotted).sum();
        if let Some(budget) = deadline_budget(self.deadline, standard_day) {
            if !self.steps.is_empty() && total != budget {
                warnings.push(CatalogWarning {
                    object: object.clone(),
                    message: format!(
                        "step allotments add up to {total}, the deadline allows {budget}"
                    ),
                });
            }
        }
        Ok(warnings)
    }
}

impl Catalog {
    /// The procedure in force on `date`, with its effective date.
    pub fn procedure_at(
        &self,
        code: &ProcedureCode,
        date: NaiveDate,
    ) -> Option<(NaiveDate, &Procedure)> {
        self.procedures.get(code)?.at_with_date(date)
    }

    /// The unit in force on `date`.
    pub fn unit_at(&self, id: &UnitId, date: NaiveDate) -> Option<&Unit> {
        self.units.get(id)?.at(date)
    }

    /// The unit an officer belonged to on `date`.
    pub fn officer_unit_at(&self, id: &OfficerId, date: NaiveDate) -> Option<&UnitId> {
        term_at(&self.officers.get(id)?.at(date)?.memberships, date)
    }

    /// The chain from `unit` up to its root as in force on `date`, `unit` first.
    ///
    /// Stops at a unit missing from the catalog or at a cycle, so bad data cannot loop.
    pub fn ancestry_at(&self, unit: &UnitId, date: NaiveDate) -> Vec<UnitId> {
        let mut chain = vec![unit.clone()];
        let mut current = unit.clone();
        while let Some(parent) = self.unit_at(&current, date).and_then(|u| u.parent.clone()) {
            if chain.contains(&parent) {
                break;
            }
            chain.push(parent.clone());
            current = parent;
        }
        chain
    }

    /// The head of `unit` on `date`.
    pub fn head_at(&self, unit: &UnitId, date: NaiveDate) -> Option<&OfficerId> {
        term_at(&self.unit_at(unit, date)?.heads, date)
    }

    /// The calendar with `id`.
    pub fn calendar(&self, id: &CalendarId) -> Option<&Arc<Calendar>> {
        self.calendars.get(id)
    }

    /// Checks cross references: parents, calendars and heads that exist, officers' units.
    ///
    /// Returns every error found (not just the first) and the procedures' warnings.
    pub fn validate(&self, standard_day: WorkingTime) -> (Vec<CatalogError>, Vec<CatalogWarning>) {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        for (code, versions) in &self.procedures {
            for (from, procedure) in versions.iter() {
                match procedure.validate(standard_day) {
                    Ok(found) => warnings.extend(found),
                    Err(mut err) => {
                        err.object = format!("procedure {code} (from {from})");
                        errors.push(err);
                    }
                }
            }
        }
        for (id, versions) in &self.units {
            for (from, unit) in versions.iter() {
                let object = format!("unit {id} (from {from})");
                if let Some(parent) = &unit.parent {
                    if !self.units.contains_key(parent) {
                        errors.push(reference_error(&object, "parent", parent.as_str(), "unit"));
                    }
                }
                if !self.calendars.contains_key(&unit.calendar) {
                    errors.push(reference_error(
                        &object,
                        "calendar",
                        unit.calendar.as_str(),
                        "calendar",
                    ));
                }
                for (idx, term) in unit.heads.iter().enumerate() {
                    if !self.officers.contains_key(&term.value) {
                        let field = format!("heads[{idx}]");
                        errors.push(reference_error(
                            &object,
                            &field,
                            term.value.as_str(),
                            "officer",
                        ));
                    }
                    if term.until.is_some_and(|until| until <= term.from) {
                        errors.push(CatalogError {
                            object: object.clone(),
                            field: format!("heads[{idx}].until"),
                            value: term.until.map(|d| d.to_string()).unwrap_or_default(),
                            reason: "must be after the term's start".to_owned(),
                        });
                    }
                }
                if self.ancestry_at(id, *from).len() > 64 {
                    errors.push(CatalogError {
                        object: object.clone(),
                        field: "parent".to_owned(),
                        value: unit
                            .parent
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        reason: "the unit tree is deeper than 64 levels".to_owned(),
                    });
                }
            }
        }
        for (id, versions) in &self.officers {
            for (from, officer) in versions.iter() {
                for (idx, term) in officer.memberships.iter().enumerate() {
                    if !self.units.contains_key(&term.value) {
                        errors.push(reference_error(
                            &format!("officer {id} (from {from})"),
                            &format!("memberships[{idx}]"),
                            term.value.as_str(),
                            "unit",
                        ));
                    }
                }
            }
        }
        (errors, warnings)
    }
}

fn reference_error(object: &str, field: &str, value: &str, kind: &str) -> CatalogError {
    CatalogError {
        object: object.to_owned(),
        field: field.to_owned(),
        value: value.to_owned(),
        reason: format!("no {kind} with this id in the catalog"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn procedure(steps: &[(&str, i64)], days: u32) -> Procedure {
        Procedure {
            code: ProcedureCode::new("1.004227").unwrap(),
            name: "Cấp giấy phép xây dựng".to_owned(),
            field: FieldCode::new("construction").unwrap(),
            level: "province".to_owned(),
            deadline: Deadline {
                amount: days,
                unit: DeadlineUnit::WorkingDays,
            },
            counting: CountingRule::WorkingHours,
            cutoff: None,
            steps: steps
                .iter()
                .map(|(code, hours)| Step {
                    code: StepCode::new(*code).unwrap(),
                    name: (*code).to_owned(),
                    unit: None,
                    role: None,
                    allotted: WorkingTime::hours(*hours),
                })
                .collect(),
            clock_stopping_waits: BTreeSet::new(),
        }
    }

    #[test]
    fn versioned_picks_the_version_in_force() {
        let mut versions = Versioned::single(date(2024, 1, 1), "old");
        versions.insert(date(2025, 7, 1), "new");
        assert_eq!(versions.at(date(2023, 12, 31)), None);
        assert_eq!(versions.at(date(2025, 6, 30)), Some(&"old"));
        assert_eq!(versions.at(date(2025, 7, 1)), Some(&"new"));
    }

    #[test]
    fn allotments_not_adding_up_warn() {
        let warnings = procedure(&[("a", 8), ("b", 8)], 3)
            .validate(WorkingTime::hours(8))
            .unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("16h00m00s"), "{:?}", warnings);
        let none = procedure(&[("a", 8), ("b", 16)], 3)
            .validate(WorkingTime::hours(8))
            .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn errors_name_field_and_value() {
        let err = procedure(&[("a", 8), ("a", 8)], 2)
            .validate(WorkingTime::hours(8))
            .unwrap_err();
        assert_eq!(err.field, "steps[1].code");
        assert_eq!(err.value, "a");
        let err = procedure(&[], 0)
            .validate(WorkingTime::hours(8))
            .unwrap_err();
        assert_eq!(err.field, "deadline.amount");
    }

    #[test]
    fn terms_pick_the_holder_on_a_date() {
        let terms = vec![
            Term {
                value: "old",
                from: date(2020, 1, 1),
                until: Some(date(2025, 3, 1)),
            },
            Term::from("new", date(2025, 3, 1)),
        ];
        assert_eq!(term_at(&terms, date(2019, 12, 31)), None);
        assert_eq!(term_at(&terms, date(2025, 2, 28)), Some(&"old"));
        assert_eq!(term_at(&terms, date(2025, 3, 1)), Some(&"new"));
    }

    #[test]
    fn ancestry_follows_dated_parents_and_stops_on_cycles() {
        let mut catalog = Catalog::default();
        let unit = |id: &str, parent: Option<&str>| Unit {
            id: UnitId::new(id).unwrap(),
            name: id.to_owned(),
            parent: parent.map(|p| UnitId::new(p).unwrap()),
            kind: UnitKind::Division,
            calendar: CalendarId::new("vn").unwrap(),
            heads: Vec::new(),
            predecessors: Vec::new(),
        };
        catalog.units.insert(
            UnitId::new("div").unwrap(),
            Versioned::single(date(2020, 1, 1), unit("div", Some("dep"))),
        );
        let mut dep = Versioned::single(date(2020, 1, 1), unit("dep", Some("prov")));
        dep.insert(date(2025, 7, 1), unit("dep", Some("div")));
        catalog.units.insert(UnitId::new("dep").unwrap(), dep);
        catalog.units.insert(
            UnitId::new("prov").unwrap(),
            Versioned::single(date(2020, 1, 1), unit("prov", None)),
        );
        let names = |d| {
            catalog
                .ancestry_at(&UnitId::new("div").unwrap(), d)
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(date(2024, 1, 1)), ["div", "dep", "prov"]);
        assert_eq!(names(date(2025, 8, 1)), ["div", "dep"]);
    }
}
