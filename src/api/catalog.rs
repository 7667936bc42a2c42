//! CatalogService: procedures, units, officers and calendars (upsert, get, list), loading a
//! whole catalog document, a calendar year, and a due time computed by hand.
//!
//! Every change goes through the engine, so it is journaled and replayed like events.
//! Reads answer from the catalog in force (a shared snapshot).

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Utc};
use dunghan_domain::calendar::{Calendar, OverrideKind};
use dunghan_domain::catalog::{Catalog, Versioned};
use dunghan_domain::clock::{due_time, DueRule};
use dunghan_domain::{CalendarId, OfficerId, ProcedureCode, UnitId};
use tonic::{Request, Response, Status};

use super::convert::{self, FieldError};
use crate::auth::{self, Principal};
use crate::catalog_file::{self, CatalogDocument, Format, DEFAULT_CALENDAR};
use crate::config::Role;
use crate::engine::{CatalogChange, CatalogOutcome, EngineHandle};
use crate::proto::v1 as pb;
use crate::store::codec::CatalogObject;

/// Default and largest page sizes of the list calls.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The CatalogService implementation.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    engine: EngineHandle,
}

impl CatalogApi {
    /// Serves the catalog of `engine`.
    pub fn new(engine: EngineHandle) -> Self {
        Self { engine }
    }

    async fn upsert(
        &self,
        principal: &Principal,
        change: CatalogChange,
    ) -> Result<Vec<pb::CatalogDiagnostic>, Status> {
        principal.require(Role::Admin)?;
        let outcome = self
            .engine
            .change_catalog(vec![change], principal.name.clone(), false)
            .await?;
        refused(&outcome)?;
        Ok(warnings(&outcome))
    }
}

/// The changes a catalog document makes, in document order (calendars first, since units
/// refer to them).
pub fn changes_of(document: &CatalogDocument) -> Vec<CatalogChange> {
    let mut changes = Vec::new();
    let calendar_from = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN);
    for spec in &document.calendars {
        changes.push(CatalogChange {
            effective_from: calendar_from,
            object: CatalogObject::Calendar(spec.clone()),
        });
    }
    for (from, unit) in &document.units {
        changes.push(CatalogChange {
            effective_from: *from,
            object: CatalogObject::Unit(unit.clone()),
        });
    }
    for (from, officer) in &document.officers {
        changes.push(CatalogChange {
            effective_from: *from,
            object: CatalogObject::Officer(officer.clone()),
        });
    }
    for (from, procedure) in &document.procedures {
        changes.push(CatalogChange {
            effective_from: *from,
            object: CatalogObject::Procedure(procedure.clone()),
        });
    }
    changes
}

/// Whether `change` is already in force, identically, in `catalog`.
pub fn is_in_force(catalog: &Catalog, change: &CatalogChange) -> bool {
    fn same<T: PartialEq>(versions: Option<&Versioned<T>>, from: NaiveDate, value: &T) -> bool {
        versions
            .and_then(|v| {
                v.iter()
                    .find(|(date, _)| **date == from)
                    .map(|(_, found)| found)
            })
            .is_some_and(|found| found == value)
    }
    match &change.object {
        CatalogObject::Procedure(p) => {
            same(catalog.procedures.get(&p.code), change.effective_from, p)
        }
        CatalogObject::Unit(u) => same(catalog.units.get(&u.id), change.effective_from, u),
        CatalogObject::Officer(o) => same(catalog.officers.get(&o.id), change.effective_from, o),
        CatalogObject::Calendar(spec) => catalog
            .calendars
            .get(&spec.id)
            .is_some_and(|calendar| calendar.spec() == spec),
    }
}

fn refused(outcome: &CatalogOutcome) -> Result<(), Status> {
    if outcome.errors.is_empty() {
        return Ok(());
    }
    Err(Status::invalid_argument(outcome.errors.join("; ")))
}

fn warnings(outcome: &CatalogOutcome) -> Vec<pb::CatalogDiagnostic> {
    outcome
        .warnings
        .iter()
        .map(|message| {
            diagnostic(
                pb::DiagnosticLevel::Warning,
                0,
                String::new(),
                message.clone(),
            )
        })
        .collect()
}

fn diagnostic(
    level: pb::DiagnosticLevel,
    line: usize,
    field_path: String,
    message: String,
) -> pb::CatalogDiagnostic {
    pb::CatalogDiagnostic {
        level: level as i32,
        object: None,
        line: u32::try_from(line).unwrap_or(0),
        column: 0,
        field_path,
        value: String::new(),
        message,
    }
}

fn invalid(err: &FieldError) -> Status {
    Status::invalid_argument(err.to_string())
}

fn parse_id<T>(
    field: &str,
    value: &str,
    make: fn(String) -> Result<T, dunghan_domain::IdError>,
) -> Result<T, Status> {
    make(value.to_owned()).map_err(|err| Status::invalid_argument(format!("{field}: {err}")))
}

fn as_of(date: Option<&pb::Date>) -> Result<Option<NaiveDate>, Status> {
    date.map(|d| convert::date_from_pb("as_of".to_owned(), Some(d)).map_err(|err| invalid(&err)))
        .transpose()
}

fn version_at<T: Clone>(
    versions: &Versioned<T>,
    date: Option<NaiveDate>,
) -> Option<(NaiveDate, T)> {
    match date {
        Some(date) => versions
            .at_with_date(date)
            .map(|(from, v)| (from, v.clone())),
        None => versions
            .iter()
            .next_back()
            .map(|(from, v)| (*from, v.clone())),
    }
}

/// A page of `items` (sorted by key) after `token`, with the next token.
fn page<T>(items: Vec<(String, T)>, size: u32, token: &str) -> (Vec<T>, String) {
    let size = match size {
        0 => DEFAULT_PAGE,
        n => (n as usize).min(MAX_PAGE),
    };
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(key, _)| token.is_empty() || key.as_str() > token)
        .collect();
    let more = rest.len() > size;
    rest.truncate(size);
    let next = if more {
        rest.last().map(|(k, _)| k.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    (rest.into_iter().map(|(_, v)| v).collect(), next)
}

fn calendar_of(catalog: &Catalog, id: &str) -> Result<Arc<Calendar>, Status> {
    let calendar_id = parse_id("calendar_id", id, CalendarId::new)?;
    catalog
        .calendar(&calendar_id)
        .cloned()
        .ok_or_else(|| Status::not_found(format!("calendar {id} not found")))
}

#[tonic::async_trait]
impl pb::catalog_service_server::CatalogService for CatalogApi {
    async fn upsert_procedure(
        &self,
        request: Request<pb::UpsertProcedureRequest>,
    ) -> Result<Response<pb::UpsertProcedureResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        let wire = request
            .into_inner()
            .procedure
            .ok_or_else(|| Status::invalid_argument("procedure: missing"))?;
        let (from, procedure) =
            convert::procedure_from_pb("procedure", &wire).map_err(|err| invalid(&err))?;
        let warnings = self
            .upsert(
                &principal,
                CatalogChange {
                    effective_from: from,
                    object: CatalogObject::Procedure(procedure.clone()),
                },
            )
            .await?;
        Ok(Response::new(pb::UpsertProcedureResponse {
            procedure: Some(convert::procedure_to_pb(from, &procedure)),
            warnings,
            files_to_rejudge: 0,
        }))
    }

    async fn get_procedure(
        &self,
        request: Request<pb::GetProcedureRequest>,
    ) -> Result<Response<pb::GetProcedureResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let request = request.into_inner();
        let code = parse_id("code", &request.code, ProcedureCode::new)?;
        let date = as_of(request.as_of.as_ref())?;
        let catalog = self.engine.catalog();
        let (from, procedure) = catalog
            .procedures
            .get(&code)
            .and_then(|versions| version_at(versions, date))
            .ok_or_else(|| Status::not_found(format!("procedure {code} not found")))?;
        Ok(Response::new(pb::GetProcedureResponse {
            procedure: Some(convert::procedure_to_pb(from, &procedure)),
        }))
    }

    async fn list_procedures(
        &self,
        request: Request<pb::ListProceduresRequest>,
    ) -> Result<Response<pb::ListProceduresResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let request = request.into_inner();
        let date = as_of(request.as_of.as_ref())?;
        let catalog = self.engine.catalog();
        let mut items = Vec::new();
        for (code, versions) in &catalog.procedures {
            let chosen: Vec<(NaiveDate, dunghan_domain::catalog::Procedure)> =
                if request.all_versions {
                    versions.iter().map(|(d, p)| (*d, p.clone())).collect()
                } else {
                    version_at(versions, date).into_iter().collect()
                };
            for (from, procedure) in chosen {
                if !request.field_code.is_empty() && procedure.field.as_str() != request.field_code
                {
                    continue;
                }
                items.push((
                    format!("{code}\u{1}{from}"),
                    convert::procedure_to_pb(from, &procedure),
                ));
            }
        }
        let (procedures, next_page_token) = page(items, request.page_size, &request.page_token);
        Ok(Response::new(pb::ListProceduresResponse {
            procedures,
            next_page_token,
        }))
    }

    async fn upsert_unit(
        &self,
        request: Request<pb::UpsertUnitRequest>,
    ) -> Result<Response<pb::UpsertUnitResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        let wire = request
            .into_inner()
            .unit
            .ok_or_else(|| Status::invalid_argument("unit: missing"))?;
        let (from, unit) = convert::unit_from_pb("unit", &wire).map_err(|err| invalid(&err))?;
        let warnings = self
            .upsert(
                &principal,
                CatalogChange {
                    effective_from: from,
                    object: CatalogObject::Unit(unit.clone()),
                },
            )
            .await?;
        Ok(Response::new(pb::UpsertUnitResponse {
            unit: Some(convert::unit_to_pb(from, &unit)),
            warnings,
            files_to_rejudge: 0,
        }))
    }

    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::GetUnitResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let request = request.into_inner();
        let id = parse_id("id", &request.id, UnitId::new)?;
        let date = as_of(request.as_of.as_ref())?;
        let catalog = self.engine.catalog();
        let (from, unit) = catalog
            .units
            .get(&id)
            .and_then(|versions| version_at(versions, date))
            .ok_or_else(|| Status::not_found(format!("unit {id} not found")))?;
        let on = date.unwrap_or_else(|| Utc::now().date_naive());
        let child_ids = catalog
            .units
            .iter()
            .filter(|(_, versions)| versions.at(on).and_then(|u| u.parent.as_ref()) == Some(&id))
            .map(|(child, _)| child.to_string())
            .collect();
        Ok(Response::new(pb::GetUnitResponse {
            unit: Some(convert::unit_to_pb(from, &unit)),
            child_ids,
        }))
    }

    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let request = request.into_inner();
        let date = as_of(request.as_of.as_ref())?;
        let on = date.unwrap_or_else(|| Utc::now().date_naive());
        let root = (!request.subtree_unit_id.is_empty())
            .then(|| parse_id("subtree_unit_id", &request.subtree_unit_id, UnitId::new))
            .transpose()?;
        let catalog = self.engine.catalog();
        let mut items = Vec::new();
        for (id, versions) in &catalog.units {
            if let Some(root) = &root {
                if !catalog.ancestry_at(id, on).contains(root) {
                    continue;
                }
            }
            let chosen: Vec<(NaiveDate, dunghan_domain::catalog::Unit)> = if request.all_versions {
                versions.iter().map(|(d, u)| (*d, u.clone())).collect()
            } else {
                version_at(versions, date).into_iter().collect()
            };
            for (from, unit) in chosen {
                items.push((format!("{id}\u{1}{from}"), convert::unit_to_pb(from, &unit)));
            }
        }
        let (units, next_page_token) = page(items, request.page_size, &request.page_token);
        Ok(Response::new(pb::ListUnitsResponse {
            units,
            next_page_token,
        }))
    }

    async fn upsert_officer(
        &self,
        request: Request<pb::UpsertOfficerRequest>,
    ) -> Result<Response<pb::UpsertOfficerResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        let wire = request
            .into_inner()
            .officer
            .ok_or_else(|| Status::invalid_argument("officer: missing"))?;
        let (from, officer) =
            convert::officer_from_pb("officer", &wire).map_err(|err| invalid(&err))?;
        let warnings = self
            .upsert(
                &principal,
                CatalogChange {
                    effective_from: from,
                    object: CatalogObject::Officer(officer.clone()),
                },
            )
            .await?;
        Ok(Response::new(pb::UpsertOfficerResponse {
            officer: Some(convert::officer_to_pb(from, &officer)),
            warnings,
            files_to_rejudge: 0,
        }))
    }

    async fn get_officer(
        &self,
        request: Request<pb::GetOfficerRequest>,
    ) -> Result<Response<pb::GetOfficerResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let request = request.into_inner();
        let id = parse_id("id", &request.id, OfficerId::new)?;
        let date = as_of(request.as_of.as_ref())?;
        let catalog = self.engine.catalog();
        let (from, officer) = catalog
            .officers
            .get(&id)
            .and_then(|versions| version_at(versions, date))
            .ok_or_else(|| Status::not_found(format!("officer {id} not found")))?;
        Ok(Response::new(pb::GetOfficerResponse {
            officer: Some(convert::officer_to_pb(from, &officer)),
        }))
    }

    async fn list_officers(
        &self,
        request: Request<pb::ListOfficersRequest>,
    ) -> Result<Response<pb::ListOfficersResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let request = request.into_inner();
        let date = as_of(request.as_of.as_ref())?;
        let on = date.unwrap_or_else(|| Utc::now().date_naive());
        let root = (!request.subtree_unit_id.is_empty())
            .then(|| parse_id("subtree_unit_id", &request.subtree_unit_id, UnitId::new))
            .transpose()?;
        let catalog = self.engine.catalog();
        let mut items = Vec::new();
        for (id, versions) in &catalog.officers {
            let Some((from, officer)) = version_at(versions, date) else {
                continue;
            };
            if let Some(root) = &root {
                let in_subtree = catalog
                    .officer_unit_at(id, on)
                    .is_some_and(|unit| catalog.ancestry_at(unit, on).contains(root));
                if !in_subtree {
                    continue;
                }
            }
            items.push((id.to_string(), convert::officer_to_pb(from, &officer)));
        }
        let (officers, next_page_token) = page(items, request.page_size, &request.page_token);
        Ok(Response::new(pb::ListOfficersResponse {
            officers,
            next_page_token,
        }))
    }

    async fn upsert_calendar(
        &self,
        request: Request<pb::UpsertCalendarRequest>,
    ) -> Result<Response<pb::UpsertCalendarResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        let wire = request
            .into_inner()
            .calendar
            .ok_or_else(|| Status::invalid_argument("calendar: missing"))?;
        let spec = convert::calendar_from_pb("calendar", &wire).map_err(|err| invalid(&err))?;
        let from = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN);
        let warnings = self
            .upsert(
                &principal,
                CatalogChange {
                    effective_from: from,
                    object: CatalogObject::Calendar(spec.clone()),
                },
            )
            .await?;
        Ok(Response::new(pb::UpsertCalendarResponse {
            calendar: Some(convert::calendar_to_pb(&spec)),
            warnings,
            files_to_rejudge: 0,
        }))
    }

    async fn get_calendar(
        &self,
        request: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::GetCalendarResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let calendar = calendar_of(&self.engine.catalog(), &request.into_inner().id)?;
        Ok(Response::new(pb::GetCalendarResponse {
            calendar: Some(convert::calendar_to_pb(calendar.spec())),
        }))
    }

    async fn list_calendars(
        &self,
        request: Request<pb::ListCalendarsRequest>,
    ) -> Result<Response<pb::ListCalendarsResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let request = request.into_inner();
        let items = self
            .engine
            .catalog()
            .calendars
            .iter()
            .map(|(id, calendar)| (id.to_string(), convert::calendar_to_pb(calendar.spec())))
            .collect();
        let (calendars, next_page_token) = page(items, request.page_size, &request.page_token);
        Ok(Response::new(pb::ListCalendarsResponse {
            calendars,
            next_page_token,
        }))
    }

    async fn load_catalog(
        &self,
        request: Request<pb::LoadCatalogRequest>,
    ) -> Result<Response<pb::LoadCatalogResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Admin)?;
        let request = request.into_inner();
        let format = match pb::CatalogFormat::try_from(request.format) {
            Ok(pb::CatalogFormat::Json) => Format::Json,
            Ok(pb::CatalogFormat::Toml) => Format::Toml,
            Ok(pb::CatalogFormat::Unspecified) => Format::from_path(&request.document_name),
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "format: unknown value {}",
                    request.format
                )));
            }
        };
        let text = &request.document;
        let document_errors = |errors: Vec<catalog_file::DocumentError>| pb::LoadCatalogResponse {
            applied: false,
            results: Vec::new(),
            diagnostics: errors
                .into_iter()
                .map(|err| {
                    diagnostic(
                        pb::DiagnosticLevel::Error,
                        err.line.unwrap_or(0),
                        err.field,
                        err.message,
                    )
                })
                .collect(),
            files_to_rejudge: 0,
        };
        let document = match catalog_file::parse(text, format) {
            Ok(document) => document,
            Err(errors) => return Ok(Response::new(document_errors(errors))),
        };
        let current = self.engine.catalog();
        if let Err(errors) = document.merge_into(&current, text, format) {
            return Ok(Response::new(document_errors(errors)));
        }
        let changes = changes_of(&document);
        let results = changes
            .iter()
            .map(|change| object_result(&current, change))
            .collect();
        let outcome = self
            .engine
            .change_catalog(changes, principal.name.clone(), request.dry_run)
            .await?;
        let mut diagnostics: Vec<pb::CatalogDiagnostic> = outcome
            .errors
            .iter()
            .map(|message| {
                diagnostic(
                    pb::DiagnosticLevel::Error,
                    0,
                    String::new(),
                    message.clone(),
                )
            })
            .collect();
        diagnostics.extend(document.warnings.iter().map(|message| {
            diagnostic(
                pb::DiagnosticLevel::Warning,
                0,
                String::new(),
                message.clone(),
            )
        }));
        Ok(Response::new(pb::LoadCatalogResponse {
            applied: outcome.applied,
            results,
            diagnostics,
            files_to_rejudge: 0,
        }))
    }

    async fn get_calendar_year(
        &self,
        request: Request<pb::GetCalendarYearRequest>,
    ) -> Result<Response<pb::GetCalendarYearResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let request = request.into_inner();
        let id = if request.calendar_id.is_empty() {
            DEFAULT_CALENDAR
        } else {
            &request.calendar_id
        };
        let calendar = calendar_of(&self.engine.catalog(), id)?;
        let view = calendar.year(request.year);
        if view.status == dunghan_domain::calendar::YearStatus::OutOfRange {
            return Err(Status::invalid_argument(format!(
                "year: {} is outside the calendar's horizon",
                request.year
            )));
        }
        let days = view
            .overrides
            .iter()
            .map(|o| pb::CalendarDay {
                date: Some(convert::date_to_pb(o.day.date)),
                weekday: convert::weekday_to_pb(o.day.date.weekday()) as i32,
                kind: match o.day.kind {
                    OverrideKind::Holiday => pb::DayKind::Holiday,
                    OverrideKind::DayOff => pb::DayKind::DayOff,
                    OverrideKind::WorkingDay => pb::DayKind::SwappedWorkingDay,
                } as i32,
                hours: Vec::new(),
                note: o.day.note.clone(),
                source: o.day.source.clone(),
            })
            .collect();
        Ok(Response::new(pb::GetCalendarYearResponse {
            calendar_id: id.to_owned(),
            calendar_revision: u64::from(view.version),
            year: request.year,
            provisional: view.status == dunghan_domain::calendar::YearStatus::Provisional,
            days,
            working_days: view.n_working_days,
            working_time: Some(convert::working_time_to_pb(
                calendar
                    .standard_day()
                    .saturating_mul(i64::from(view.n_working_days)),
            )),
        }))
    }

    async fn compute_due_time(
        &self,
        request: Request<pb::ComputeDueTimeRequest>,
    ) -> Result<Response<pb::ComputeDueTimeResponse>, Status> {
        auth::principal(&request)?.require(Role::Read)?;
        let request = request.into_inner();
        let received_at =
            convert::instant_from_pb("received_at".to_owned(), request.received_at.as_ref())
                .map_err(|err| invalid(&err))?;
        let catalog = self.engine.catalog();
        let calendar = match &request.calendar_source {
            Some(pb::compute_due_time_request::CalendarSource::UnitId(unit)) => {
                let id = parse_id("unit_id", unit, UnitId::new)?;
                let calendar_id = catalog
                    .units
                    .get(&id)
                    .and_then(|versions| {
                        versions
                            .at(received_at.date_naive())
                            .or_else(|| versions.latest())
                    })
                    .map(|u| u.calendar.to_string())
                    .ok_or_else(|| Status::not_found(format!("unit {unit} not found")))?;
                calendar_of(&catalog, &calendar_id)?
            }
            Some(pb::compute_due_time_request::CalendarSource::CalendarId(id)) => {
                calendar_of(&catalog, id)?
            }
            None => calendar_of(&catalog, DEFAULT_CALENDAR)?,
        };
        let rule = match &request.deadline_source {
            Some(pb::compute_due_time_request::DeadlineSource::ProcedureCode(code)) => {
                let code = parse_id("procedure_code", code, ProcedureCode::new)?;
                let (_, procedure) = catalog
                    .procedure_at(&code, calendar.local_date(received_at))
                    .ok_or_else(|| Status::not_found(format!("procedure {code} not found")))?;
                DueRule::of(procedure)
            }
            Some(pb::compute_due_time_request::DeadlineSource::Deadline(deadline)) => DueRule {
                deadline: convert::deadline_from_pb("deadline".to_owned(), Some(deadline))
                    .map_err(|err| invalid(&err))?,
                counting: convert::counting_rule_from_pb(
                    "counting_rule".to_owned(),
                    request.counting_rule,
                )
                .map_err(|err| invalid(&err))?,
                cutoff: None,
            },
            None => {
                return Err(Status::invalid_argument(
                    "deadline_source: missing (give procedure_code or deadline)",
                ))
            }
        };
        let placed = due_time(&calendar, rule, received_at)
            .map_err(|err| Status::invalid_argument(format!("received_at: {err}")))?;
        let provisional = calendar.year_status(calendar.local_date(placed.due).year())
            == dunghan_domain::calendar::YearStatus::Provisional;
        Ok(Response::new(pb::ComputeDueTimeResponse {
            clock_started_at: Some(convert::instant_to_pb(placed.clock_start)),
            due_at: Some(convert::instant_to_pb(placed.due)),
            working_time: Some(convert::working_time_to_pb(placed.budget)),
            calendar_id: calendar.id().to_string(),
            calendar_revision: u64::from(calendar.version()),
            counting_rule: convert::counting_rule_to_pb(rule.counting, rule.deadline.unit) as i32,
            deadline: Some(convert::deadline_to_pb(rule.deadline)),
            provisional,
            explanation: format!(
                "clock starts {}, {} of working time on calendar {} v{}",
                placed.clock_start.to_rfc3339(),
                placed.budget,
                calendar.id(),
                calendar.version()
            ),
        }))
    }
}

fn object_result(current: &Catalog, change: &CatalogChange) -> pb::CatalogObjectResult {
    let (kind, id, exists) = match &change.object {
        CatalogObject::Procedure(p) => (
            pb::CatalogObjectKind::Procedure,
            p.code.to_string(),
            current.procedures.contains_key(&p.code),
        ),
        CatalogObject::Unit(u) => (
            pb::CatalogObjectKind::Unit,
            u.id.to_string(),
            current.units.contains_key(&u.id),
        ),
        CatalogObject::Officer(o) => (
            pb::CatalogObjectKind::Officer,
            o.id.to_string(),
            current.officers.contains_key(&o.id),
        ),
        CatalogObject::Calendar(c) => (
            pb::CatalogObjectKind::Calendar,
            c.id.to_string(),
            current.calendars.contains_key(&c.id),
        ),
    };
    let outcome = if is_in_force(current, change) {
        pb::CatalogObjectOutcome::Unchanged
    } else if exists {
        pb::CatalogObjectOutcome::Updated
    } else {
        pb::CatalogObjectOutcome::Created
    };
    pb::CatalogObjectResult {
        object: Some(pb::CatalogObjectRef {
            kind: kind as i32,
            id,
            effective_from: Some(convert::date_to_pb(change.effective_from)),
        }),
        outcome: outcome as i32,
        line: 0,
    }
}
