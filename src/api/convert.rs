//! Conversions between the wire API (`dunghan.v1`) and the domain types: the single place
//! where the wire format meets `dunghan_domain`.
//!
//! It owns the validation of everything a client sends: required fields, id syntax (through
//! the domain newtypes), enum values, timestamp ranges and text bounds. Each failure is a
//! [`FieldError`] naming the full field path (proto field names joined by dots, after a
//! prefix the caller passes, e.g. `events[3].handed_over.to_unit_id`) and the offending
//! value, so one bad event can be refused alone.
//!
//! It must never read the clock, touch the store, or let a wire type pass for a domain type:
//! every function here either validates into a domain value or renders one.
//!
//! Where the wire API carries data the domain has no home for yet, the data is validated and
//! then dropped (documented on each function); where the domain needs data the wire API
//! calls optional, the field is required here.

mod catalog;
mod file;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use dunghan_domain::alert::{AlertKind, Severity};
use dunghan_domain::calendar::LocalHours;
use dunghan_domain::catalog::{Deadline, DeadlineUnit, WaitKind};
use dunghan_domain::clock::{FileVerdict, Verdict};
use dunghan_domain::event::{Channel, Event, EventKind, Holder};
use dunghan_domain::ids::{
    EventId, FileId, IdError, OfficerId, ProcedureCode, SourceId, StepCode, UnitId,
};
use dunghan_domain::rules::Rule;

use crate::proto::v1;

pub use catalog::{
    calendar_from_pb, calendar_to_pb, officer_from_pb, officer_to_pb, procedure_from_pb,
    procedure_to_pb, unit_from_pb, unit_to_pb, utc_offset_from_zone, DEFAULT_CALENDAR_ID,
};
pub use file::file_to_pb;

/// Longest free-text field accepted (reasons, notes, names, items), in bytes.
pub const MAX_TEXT_LEN: usize = 2_000;

/// Most entries accepted in a repeated free-text field (supplement items).
pub const MAX_ITEMS: usize = 100;

/// Longest offending value quoted back in a [`FieldError`], in characters, as the wire
/// `RejectionResult.value` documents.
pub const MAX_QUOTED_VALUE_CHARS: usize = 256;

/// The first instant accepted in a timestamp: 2000-01-01T00:00:00Z, the start of every
/// calendar's horizon.
pub const EARLIEST_SECS: i64 = 946_684_800;

/// The first instant refused in a timestamp: 2101-01-01T00:00:00Z, just past the end of
/// every calendar's horizon.
pub const END_SECS: i64 = 4_133_980_800;

/// The class of a [`FieldError`]; maps onto the wire `RejectionReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldReason {
    /// A required field is absent or empty.
    Missing,
    /// A field has a value outside its range or format.
    Invalid,
    /// A string or list is longer than its limit.
    TooLong,
}

/// One field of a wire message that cannot become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    /// The full field path, e.g. `events[3].handed_over.to_unit_id`.
    pub field: String,
    /// The offending value as text, at most [`MAX_QUOTED_VALUE_CHARS`] characters; empty
    /// when the field is missing.
    pub value: String,
    /// The class of problem.
    pub reason: FieldReason,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.field, self.message)
        } else {
            write!(f, "{} = {:?}: {}", self.field, self.value, self.message)
        }
    }
}

impl FieldError {
    /// A required field is absent or empty.
    pub fn missing(field: String, message: impl Into<String>) -> Self {
        Self {
            field,
            value: String::new(),
            reason: FieldReason::Missing,
            message: message.into(),
        }
    }

    /// A field has a value outside its range or format; `value` is truncated for quoting.
    pub fn invalid(field: String, value: impl AsRef<str>, message: impl Into<String>) -> Self {
        Self {
            field,
            value: quote(value.as_ref()),
            reason: FieldReason::Invalid,
            message: message.into(),
        }
    }

    /// A string or list is longer than its limit; `value` is truncated for quoting.
    pub fn too_long(field: String, value: impl AsRef<str>, message: impl Into<String>) -> Self {
        Self {
            field,
            value: quote(value.as_ref()),
            reason: FieldReason::TooLong,
            message: message.into(),
        }
    }

    /// The wire rejection reason for this error.
    pub fn rejection_reason(&self) -> v1::RejectionReason {
        match self.reason {
            FieldReason::Missing => v1::RejectionReason::MissingField,
            FieldReason::Invalid => v1::RejectionReason::InvalidValue,
            FieldReason::TooLong => v1::RejectionReason::TooLong,
        }
    }
}

/// Validates a wire event into a domain event.
///
/// `prefix` is the path of the event in the request (e.g. `events[3]`, or empty); every
/// error's field path starts with it. The event kind's data the domain does not keep yet is
/// validated and dropped: `financial_obligation_requested.description`,
/// `pause_started.note`, and `resolved.officer_id` / `resolved.unit_id`.
/// Two fields the wire API calls optional are required, because the domain needs them:
/// `handed_over.from_unit_id` and `consultation_requested.deadline`.
///
/// # Errors
/// [`FieldError`] for the first field that is missing, invalid or too long.
pub fn event_from_pb(prefix: &str, pb: &v1::Event) -> Result<Event, FieldError> {
    let id = id_from_pb(join(prefix, "event_id"), &pb.event_id, EventId::new)?;
    let file_id = id_from_pb(join(prefix, "file_id"), &pb.file_id, FileId::new)?;
    let occurred_at = instant_from_pb(join(prefix, "occurred_at"), pb.occurred_at.as_ref())?;
    let source = id_from_pb(join(prefix, "source"), &pb.source, SourceId::new)?;
    let Some(kind) = &pb.kind else {
        return Err(FieldError::missing(
            join(prefix, "kind"),
            "event has no kind (submitted, received, handed_over...)",
        ));
    };
    let kind = event_kind_from_pb(prefix, kind)?;
    Ok(Event {
        id,
        file_id,
        occurred_at,
        source,
        kind,
    })
}

/// Renders a domain event as a wire event; the inverse of [`event_from_pb`] for every event
/// it returns.
///
/// Dropped wire fields come out empty. A pause for a wait the wire API cannot express
/// (`WaitKind::Consultation`) comes out as `WAIT_KIND_UNSPECIFIED`; [`event_from_pb`] never
/// produces one.
pub fn event_to_pb(event: &Event) -> v1::Event {
    v1::Event {
        event_id: event.id.to_string(),
        file_id: event.file_id.to_string(),
        occurred_at: Some(instant_to_pb(event.occurred_at)),
        source: event.source.to_string(),
        kind: Some(event_kind_to_pb(&event.kind)),
    }
}

/// The wire verdict of a file verdict.
pub fn verdict_to_pb(verdict: FileVerdict) -> v1::Verdict {
    match verdict {
        FileVerdict::Judged(Verdict::Early) => v1::Verdict::Early,
        FileVerdict::Judged(Verdict::OnTime) => v1::Verdict::OnTime,
        FileVerdict::Judged(Verdict::Late) => v1::Verdict::Late,
        FileVerdict::Judged(Verdict::WithinTime) => v1::Verdict::WithinTime,
        FileVerdict::Judged(Verdict::Overdue) => v1::Verdict::Overdue,
        FileVerdict::NotCounted => v1::Verdict::NotCounted,
        FileVerdict::Unjudged => v1::Verdict::Unjudged,
    }
}

/// The wire rule kind of a rule.
///
/// The domain's [`Rule::AlteredRecord`] covers both a backdated event and a change to a
/// finished file; it maps to `RULE_KIND_BACKDATED_EVENT`, so
/// `RULE_KIND_FINISHED_FILE_CHANGED` is never produced until the domain tells them apart.
pub fn rule_to_pb(rule: Rule) -> v1::RuleKind {
    match rule {
        Rule::SecondSupplementRequest => v1::RuleKind::SecondSupplementRequest,
        Rule::LateSupplementRequest => v1::RuleKind::LateSupplementRequest,
        Rule::NoTimelyExtension => v1::RuleKind::LateWithoutExtension,
        Rule::SecondExtension => v1::RuleKind::SecondExtension,
        Rule::RepeatedHandback => v1::RuleKind::HandedBack,
        Rule::AppointmentInflation => v1::RuleKind::AppointmentInflated,
        Rule::AlteredRecord => v1::RuleKind::BackdatedEvent,
        Rule::LateConsultationAnswer => v1::RuleKind::LateConsultationAnswer,
        Rule::RejectionAfterDue => v1::RuleKind::RejectionAfterDue,
    }
}

/// The wire alert kind of an alert kind; a broken rule maps to the alert kind of the rule.
///
/// `ALERT_KIND_RETRACTION` and `ALERT_KIND_EVENT_CONFLICT` are made by the alert delivery
/// and the ingest path, never from a domain alert kind.
pub fn alert_kind_to_pb(kind: AlertKind) -> v1::AlertKind {
    match kind {
        AlertKind::StepDueSoon => v1::AlertKind::StepDueSoon,
        AlertKind::StepOverdue => v1::AlertKind::StepOverdue,
        AlertKind::FileDueSoon => v1::AlertKind::FileDueSoon,
        AlertKind::FileOverdue => v1::AlertKind::FileOverdue,
        AlertKind::RuleBroken(rule) => match rule {
            Rule::SecondSupplementRequest => v1::AlertKind::SecondSupplementRequest,
            Rule::LateSupplementRequest => v1::AlertKind::LateSupplementRequest,
            Rule::NoTimelyExtension => v1::AlertKind::LateWithoutExtension,
            Rule::SecondExtension => v1::AlertKind::SecondExtension,
            Rule::RepeatedHandback => v1::AlertKind::HandedBack,
            Rule::AppointmentInflation => v1::AlertKind::AppointmentInflated,
            Rule::AlteredRecord => v1::AlertKind::BackdatedEvent,
            Rule::LateConsultationAnswer => v1::AlertKind::LateConsultationAnswer,
            Rule::RejectionAfterDue => v1::AlertKind::RejectionAfterDue,
        },
    }
}

/// The wire severity of a severity.
pub fn severity_to_pb(severity: Severity) -> v1::Severity {
    match severity {
        Severity::Info => v1::Severity::Info,
        Severity::Warning => v1::Severity::Warning,
        Severity::Critical => v1::Severity::Critical,
    }
}

/// The wire channel of a channel (national channel codes 1–3).
pub fn channel_to_pb(channel: Channel) -> v1::Channel {
    match channel {
        Channel::InPerson => v1::Channel::InPerson,
        Channel::Online => v1::Channel::Online,
        Channel::Postal => v1::Channel::Postal,
    }
}

/// The wire timestamp of an instant.
pub fn instant_to_pb(instant: DateTime<Utc>) -> crate::proto::wkt::Timestamp {
    crate::proto::wkt::Timestamp {
        seconds: instant.timestamp(),
        // At most 1_999_999_999 (a leap second), which fits an i32.
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or(i32::MAX),
    }
}

/// Validates a required wire timestamp into an instant in `[2000-01-01, 2101-01-01)` UTC.
///
/// # Errors
/// [`FieldReason::Missing`] if absent; [`FieldReason::Invalid`] for nanos outside
/// `0..1e9`, instants before 1970 or 2000, or from 2101 on, naming the value as RFC 3339
/// (or raw seconds when it has no calendar date).
pub fn instant_from_pb(
    field: String,
    pb: Option<&crate::proto::wkt::Timestamp>,
) -> Result<DateTime<Utc>, FieldError> {
    let Some(pb) = pb else {
        return Err(FieldError::missing(field, "timestamp is required"));
    };
    let raw = format!("seconds={} nanos={}", pb.seconds, pb.nanos);
    let Ok(nanos) = u32::try_from(pb.nanos) else {
        return Err(FieldError::invalid(
            field,
            raw,
            "nanos must be 0 to 999999999",
        ));
    };
    if nanos >= 1_000_000_000 {
        return Err(FieldError::invalid(
            field,
            raw,
            "nanos must be 0 to 999999999",
        ));
    }
    let Some(instant) = DateTime::<Utc>::from_timestamp(pb.seconds, nanos) else {
        return Err(FieldError::invalid(
            field,
            raw,
            "timestamp has no calendar date",
        ));
    };
    let shown = instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    if pb.seconds < 0 {
        return Err(FieldError::invalid(
            field,
            shown,
            "timestamp is before 1970",
        ));
    }
    if pb.seconds < EARLIEST_SECS {
        return Err(FieldError::invalid(
            field,
            shown,
            "timestamp is before 2000-01-01, outside every calendar",
        ));
    }
    if pb.seconds >= END_SECS {
        return Err(FieldError::invalid(
            field,
            shown,
            "timestamp is after 2100, outside every calendar",
        ));
    }
    Ok(instant)
}

/// Validates a required id through its domain newtype's constructor.
///
/// # Errors
/// [`FieldReason::Missing`] for an empty id, [`FieldReason::TooLong`] beyond 128 bytes,
/// [`FieldReason::Invalid`] for a control character.
pub fn id_from_pb<T>(
    field: String,
    value: &str,
    make: impl FnOnce(String) -> Result<T, IdError>,
) -> Result<T, FieldError> {
    make(value.to_owned()).map_err(|err| match err {
        IdError::Empty { kind } => FieldError::missing(field, format!("{kind} is required")),
        IdError::TooLong { .. } => FieldError::too_long(field, value, err.to_string()),
        IdError::ControlCharacter { .. } => FieldError::invalid(field, value, err.to_string()),
    })
}

/// Validates an optional id: empty means `None`.
///
/// # Errors
/// As [`id_from_pb`], except that an empty id is not an error.
pub fn optional_id_from_pb<T>(
    field: String,
    value: &str,
    make: impl FnOnce(String) -> Result<T, IdError>,
) -> Result<Option<T>, FieldError> {
    if value.is_empty() {
        return Ok(None);
    }
    id_from_pb(field, value, make).map(Some)
}

/// Validates free text (a reason, note, name or item): at most [`MAX_TEXT_LEN`] bytes.
///
/// # Errors
/// [`FieldReason::TooLong`] beyond the limit.
pub fn text_from_pb(field: String, value: &str) -> Result<String, FieldError> {
    if value.len() > MAX_TEXT_LEN {
        return Err(FieldError::too_long(
            field,
            value,
            format!(
                "text is {} bytes long, more than the {MAX_TEXT_LEN} allowed",
                value.len()
            ),
        ));
    }
    Ok(value.to_owned())
}

/// Joins a field path prefix and a field name with a dot (no dot after an empty prefix).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn quote(value: &str) -> String {
    value.chars().take(MAX_QUOTED_VALUE_CHARS).collect()
}

fn event_kind_from_pb(prefix: &str, kind: &v1::event::Kind) -> Result<EventKind, FieldError> {
    use v1::event::Kind;
    Ok(match kind {
        Kind::Submitted(pb) => {
            let at = join(prefix, "submitted");
            EventKind::Submitted {
                procedure: id_from_pb(
                    join(&at, "procedure_code"),
                    &pb.procedure_code,
                    ProcedureCode::new,
                )?,
                channel: channel_from_pb(join(&at, "channel"), pb.channel)?,
            }
        }
        Kind::Received(pb) => {
            let at = join(prefix, "received");
            let procedure = id_from_pb(
                join(&at, "procedure_code"),
                &pb.procedure_code,
                ProcedureCode::new,
            )?;
            let channel = channel_from_pb(join(&at, "channel"), pb.channel)?;
            let officer = optional_id_from_pb(
                join(&at, "receiving_officer_id"),
                &pb.receiving_officer_id,
                OfficerId::new,
            )?;
            let unit = id_from_pb(
                join(&at, "receiving_unit_id"),
                &pb.receiving_unit_id,
                UnitId::new,
            )?;
            let appointment = match &pb.appointment_at {
                Some(ts) => Some(instant_from_pb(join(&at, "appointment_at"), Some(ts))?),
                None => None,
            };
            EventKind::Received {
                procedure,
                channel,
                holder: Holder { officer, unit },
                appointment,
            }
        }
        Kind::NotAccepted(pb) => EventKind::NotAccepted {
            reason: text_from_pb(join(prefix, "not_accepted.reason"), &pb.reason)?,
        },
        Kind::HandedOver(pb) => {
            let at = join(prefix, "handed_over");
            let from = Holder {
                officer: optional_id_from_pb(
                    join(&at, "from_officer_id"),
                    &pb.from_officer_id,
                    OfficerId::new,
                )?,
                unit: id_from_pb(join(&at, "from_unit_id"), &pb.from_unit_id, UnitId::new)?,
            };
            let to = Holder {
                officer: optional_id_from_pb(
                    join(&at, "to_officer_id"),
                    &pb.to_officer_id,
                    OfficerId::new,
                )?,
                unit: id_from_pb(join(&at, "to_unit_id"), &pb.to_unit_id, UnitId::new)?,
            };
            let step = optional_id_from_pb(join(&at, "step_code"), &pb.step_code, StepCode::new)?;
            EventKind::HandedOver { from, to, step }
        }
        Kind::SupplementRequested(pb) => {
            let at = join(prefix, "supplement_requested");
            let officer =
                optional_id_from_pb(join(&at, "officer_id"), &pb.officer_id, OfficerId::new)?;
            let reason = text_from_pb(join(&at, "reason"), &pb.reason)?;
            if pb.items.len() > MAX_ITEMS {
                return Err(FieldError::too_long(
                    join(&at, "items"),
                    pb.items.len().to_string(),
                    format!(
                        "{} items, more than the {MAX_ITEMS} allowed",
                        pb.items.len()
                    ),
                ));
            }
            let items = pb
                .items
                .iter()
                .enumerate()
                .map(|(item_idx, item)| text_from_pb(format!("{at}.items[{item_idx}]"), item))
                .collect::<Result<Vec<_>, _>>()?;
            EventKind::SupplementRequested {
                officer,
                reason,
                items,
            }
        }
        Kind::SupplementReceived(_) => EventKind::SupplementReceived,
        Kind::FinancialObligationRequested(pb) => {
            // Validated so that a bad value is refused, then dropped: the domain does not
            // keep the description yet.
            text_from_pb(
                join(prefix, "financial_obligation_requested.description"),
                &pb.description,
            )?;
            EventKind::FinancialObligationRequested
        }
        Kind::FinancialObligationFulfilled(_) => EventKind::FinancialObligationFulfilled,
        Kind::ConsultationRequested(pb) => {
            let at = join(prefix, "consultation_requested");
            let consulted = id_from_pb(
                join(&at, "consulted_unit_id"),
                &pb.consulted_unit_id,
                UnitId::new,
            )?;
            let deadline = deadline_from_pb(join(&at, "deadline"), pb.deadline.as_ref())?;
            EventKind::ConsultationRequested {
                consulted,
                deadline,
            }
        }
        Kind::ConsultationAnswered(pb) => EventKind::ConsultationAnswered {
            consulted: id_from_pb(
                join(prefix, "consultation_answered.consulted_unit_id"),
                &pb.consulted_unit_id,
                UnitId::new,
            )?,
        },
        Kind::PauseStarted(pb) => {
            let at = join(prefix, "pause_started");
            let wait = pause_wait_from_pb(join(&at, "reason"), pb.reason)?;
            // Validated, then dropped: the domain does not keep the note yet.
            text_from_pb(join(&at, "note"), &pb.note)?;
            EventKind::PauseStarted { wait }
        }
        Kind::PauseEnded(pb) => EventKind::PauseEnded {
            wait: pause_wait_from_pb(join(prefix, "pause_ended.reason"), pb.reason)?,
        },
        Kind::Extended(pb) => {
            let at = join(prefix, "extended");
            let reason = text_from_pb(join(&at, "reason"), &pb.reason)?;
            let new_due = instant_from_pb(join(&at, "new_due_at"), pb.new_due_at.as_ref())?;
            EventKind::Extended { reason, new_due }
        }
        Kind::Withdrawn(pb) => EventKind::Withdrawn {
            reason: text_from_pb(join(prefix, "withdrawn.reason"), &pb.reason)?,
        },
        Kind::Stopped(pb) => EventKind::Stopped {
            reason: text_from_pb(join(prefix, "stopped.reason"), &pb.reason)?,
        },
        Kind::Rejected(pb) => EventKind::Rejected {
            reason: text_from_pb(join(prefix, "rejected.reason"), &pb.reason)?,
        },
        Kind::Resolved(pb) => {
            // Validated, then dropped: the domain takes the resolver from the holder.
            let at = join(prefix, "resolved");
            optional_id_from_pb(join(&at, "officer_id"), &pb.officer_id, OfficerId::new)?;
            optional_id_from_pb(join(&at, "unit_id"), &pb.unit_id, UnitId::new)?;
            EventKind::Resolved
        }
        Kind::Returned(_) => EventKind::Returned,
    })
}

fn event_kind_to_pb(kind: &EventKind) -> v1::event::Kind {
    use v1::event::{self as pb, Kind};
    match kind {
        EventKind::Submitted { procedure, channel } => Kind::Submitted(pb::Submitted {
            procedure_code: procedure.to_string(),
            channel: channel_to_pb(*channel).into(),
        }),
        EventKind::Received {
            procedure,
            channel,
            holder,
            appointment,
        } => Kind::Received(pb::Received {
            procedure_code: procedure.to_string(),
            channel: channel_to_pb(*channel).into(),
            receiving_unit_id: holder.unit.to_string(),
            receiving_officer_id: optional_to_string(holder.officer.as_ref()),
            appointment_at: appointment.map(instant_to_pb),
        }),
        EventKind::NotAccepted { reason } => Kind::NotAccepted(pb::NotAccepted {
            reason: reason.clone(),
        }),
        EventKind::HandedOver { from, to, step } => Kind::HandedOver(pb::HandedOver {
            from_officer_id: optional_to_string(from.officer.as_ref()),
            from_unit_id: from.unit.to_string(),
            to_officer_id: optional_to_string(to.officer.as_ref()),
            to_unit_id: to.unit.to_string(),
            step_code: optional_to_string(step.as_ref()),
        }),
        EventKind::SupplementRequested {
            officer,
            reason,
            items,
        } => Kind::SupplementRequested(pb::SupplementRequested {
            officer_id: optional_to_string(officer.as_ref()),
            reason: reason.clone(),
            items: items.clone(),
        }),
        EventKind::SupplementReceived => Kind::SupplementReceived(pb::SupplementReceived {}),
        EventKind::FinancialObligationRequested => {
            Kind::FinancialObligationRequested(pb::FinancialObligationRequested {
                description: String::new(),
            })
        }
        EventKind::FinancialObligationFulfilled => {
            Kind::FinancialObligationFulfilled(pb::FinancialObligationFulfilled {})
        }
        EventKind::ConsultationRequested {
            consulted,
            deadline,
        } => Kind::ConsultationRequested(pb::ConsultationRequested {
            consulted_unit_id: consulted.to_string(),
            deadline: Some(deadline_to_pb(*deadline)),
        }),
        EventKind::ConsultationAnswered { consulted } => {
            Kind::ConsultationAnswered(pb::ConsultationAnswered {
                consulted_unit_id: consulted.to_string(),
            })
        }
        EventKind::PauseStarted { wait } => Kind::PauseStarted(pb::PauseStarted {
            reason: wait_kind_to_pb(*wait).into(),
            note: String::new(),
        }),
        EventKind::PauseEnded { wait } => Kind::PauseEnded(pb::PauseEnded {
            reason: wait_kind_to_pb(*wait).into(),
        }),
        EventKind::Extended { reason, new_due } => Kind::Extended(pb::Extended {
            reason: reason.clone(),
            new_due_at: Some(instant_to_pb(*new_due)),
        }),
        EventKind::Withdrawn { reason } => Kind::Withdrawn(pb::Withdrawn {
            reason: reason.clone(),
        }),
        EventKind::Stopped { reason } => Kind::Stopped(pb::Stopped {
            reason: reason.clone(),
        }),
        EventKind::Rejected { reason } => Kind::Rejected(pb::Rejected {
            reason: reason.clone(),
        }),
        EventKind::Resolved => Kind::Resolved(pb::Resolved {
            officer_id: String::new(),
            unit_id: String::new(),
        }),
        EventKind::Returned => Kind::Returned(pb::Returned {}),
    }
}

/// Validates a national channel code (1 in person, 2 online, 3 postal).
fn channel_from_pb(field: String, raw: i32) -> Result<Channel, FieldError> {
    match v1::Channel::try_from(raw) {
        Ok(v1::Channel::InPerson) => Ok(Channel::InPerson),
        Ok(v1::Channel::Online) => Ok(Channel::Online),
        Ok(v1::Channel::Postal) => Ok(Channel::Postal),
        // The domain has no unknown channel: a file's channel is always one of the three.
        Ok(v1::Channel::Unspecified) => Err(FieldError::invalid(
            field,
            raw.to_string(),
            "channel is unspecified; expected 1 (in person), 2 (online) or 3 (postal)",
        )),
        Err(_) => Err(FieldError::invalid(
            field,
            raw.to_string(),
            format!("{raw} is not a national channel code; expected 1 (in person), 2 (online) or 3 (postal)"),
        )),
    }
}

/// Validates the wait of a pause event: only an expert council or a site visit, since the
/// other waits have their own events.
fn pause_wait_from_pb(field: String, raw: i32) -> Result<WaitKind, FieldError> {
    match v1::WaitKind::try_from(raw) {
        Ok(v1::WaitKind::ExpertCouncil) => Ok(WaitKind::ExpertCouncil),
        Ok(v1::WaitKind::SiteVisit) => Ok(WaitKind::SiteVisit),
        Ok(
            v1::WaitKind::Unspecified
            | v1::WaitKind::Supplement
            | v1::WaitKind::FinancialObligation
            | v1::WaitKind::Consultation,
        ) => Err(FieldError::invalid(
            field,
            raw.to_string(),
            format!(
                "wait kind {raw} cannot pause a file; expected 3 (expert council) or 4 (site visit)"
            ),
        )),
        Err(_) => Err(FieldError::invalid(
            field,
            raw.to_string(),
            format!("{raw} is not a wait kind"),
        )),
    }
}

/// Validates any wait kind except the unspecified one.
fn wait_kind_from_pb(field: String, raw: i32) -> Result<WaitKind, FieldError> {
    match v1::WaitKind::try_from(raw) {
        Ok(v1::WaitKind::Supplement) => Ok(WaitKind::Supplement),
        Ok(v1::WaitKind::FinancialObligation) => Ok(WaitKind::FinancialObligation),
        Ok(v1::WaitKind::ExpertCouncil) => Ok(WaitKind::ExpertCouncil),
        Ok(v1::WaitKind::SiteVisit) => Ok(WaitKind::SiteVisit),
        Ok(v1::WaitKind::Consultation) => Ok(WaitKind::Consultation),
        Ok(v1::WaitKind::Unspecified) => Err(FieldError::invalid(
            field,
            raw.to_string(),
            "wait kind is unspecified",
        )),
        Err(_) => Err(FieldError::invalid(
            field,
            raw.to_string(),
            format!("{raw} is not a wait kind"),
        )),
    }
}

/// The wire wait kind; the wire API has no consultation wait, so it is unspecified.
fn wait_kind_to_pb(wait: WaitKind) -> v1::WaitKind {
    match wait {
        WaitKind::Supplement => v1::WaitKind::Supplement,
        WaitKind::FinancialObligation => v1::WaitKind::FinancialObligation,
        WaitKind::Consultation => v1::WaitKind::Consultation,
        WaitKind::ExpertCouncil => v1::WaitKind::ExpertCouncil,
        WaitKind::SiteVisit => v1::WaitKind::SiteVisit,
    }
}

/// Validates a required deadline: amount at least 1, a known unit.
pub fn deadline_from_pb(field: String, pb: Option<&v1::Deadline>) -> Result<Deadline, FieldError> {
    let Some(pb) = pb else {
        return Err(FieldError::missing(field, "deadline is required"));
    };
    if pb.amount == 0 {
        return Err(FieldError::missing(
            join(&field, "amount"),
            "deadline amount is required (at least 1)",
        ));
    }
    let unit = match v1::DeadlineUnit::try_from(pb.unit) {
        Ok(v1::DeadlineUnit::WorkingHours) => DeadlineUnit::WorkingHours,
        Ok(v1::DeadlineUnit::WorkingDays) => DeadlineUnit::WorkingDays,
        Ok(v1::DeadlineUnit::CalendarDays) => DeadlineUnit::CalendarDays,
        Ok(v1::DeadlineUnit::Unspecified) | Err(_) => {
            return Err(FieldError::invalid(
                join(&field, "unit"),
                pb.unit.to_string(),
                format!(
                    "{} is not a deadline unit; expected 1 (working hours), 2 (working days) or 3 (calendar days)",
                    pb.unit
                ),
            ))
        }
    };
    Ok(Deadline {
        amount: pb.amount,
        unit,
    })
}

/// The wire form of a deadline.
pub fn deadline_to_pb(deadline: Deadline) -> v1::Deadline {
    let unit = match deadline.unit {
        DeadlineUnit::WorkingHours => v1::DeadlineUnit::WorkingHours,
        DeadlineUnit::WorkingDays => v1::DeadlineUnit::WorkingDays,
        DeadlineUnit::CalendarDays => v1::DeadlineUnit::CalendarDays,
    };
    v1::Deadline {
        amount: deadline.amount,
        unit: unit.into(),
    }
}

/// Validates a required civil date; year 0 means absent.
pub fn date_from_pb(field: String, pb: Option<&v1::Date>) -> Result<NaiveDate, FieldError> {
    match pb {
        Some(pb) if pb.year != 0 => {
            let shown = format!("{:04}-{:02}-{:02}", pb.year, pb.month, pb.day);
            let date = u32::try_from(pb.month)
                .ok()
                .zip(u32::try_from(pb.day).ok())
                .and_then(|(month, day)| NaiveDate::from_ymd_opt(pb.year, month, day));
            date.ok_or_else(|| FieldError::invalid(field, shown, "not a valid date"))
        }
        Some(_) | None => Err(FieldError::missing(field, "date is required")),
    }
}

/// Validates an optional civil date: absent or year 0 means `None`.
fn optional_date_from_pb(
    field: String,
    pb: Option<&v1::Date>,
) -> Result<Option<NaiveDate>, FieldError> {
    match pb {
        Some(pb) if pb.year != 0 => date_from_pb(field, Some(pb)).map(Some),
        Some(_) | None => Ok(None),
    }
}

/// The wire form of a local date.
pub fn date_to_pb(date: NaiveDate) -> v1::Date {
    v1::Date {
        year: date.year(),
        // Month and day are at most 12 and 31.
        month: i32::try_from(date.month()).unwrap_or(0),
        day: i32::try_from(date.day()).unwrap_or(0),
    }
}

/// Validates a local time of day, minute precision. The domain has no 24:00, so the end of
/// the day must be written as 23:59.
fn time_of_day_from_pb(field: String, pb: &v1::TimeOfDay) -> Result<NaiveTime, FieldError> {
    let shown = format!("{:02}:{:02}", pb.hour, pb.minute);
    u32::try_from(pb.hour)
        .ok()
        .zip(u32::try_from(pb.minute).ok())
        .and_then(|(hour, minute)| NaiveTime::from_hms_opt(hour, minute, 0))
        .ok_or_else(|| {
            FieldError::invalid(
                field,
                shown,
                "not a time of day from 00:00 to 23:59 (24:00 is not supported; use 23:59)",
            )
        })
}

fn time_of_day_to_pb(time: NaiveTime) -> v1::TimeOfDay {
    v1::TimeOfDay {
        // Hour and minute are at most 23 and 59.
        hour: i32::try_from(time.hour()).unwrap_or(0),
        minute: i32::try_from(time.minute()).unwrap_or(0),
    }
}

/// Validates open periods `[start, end)`; order and overlap are checked by the calendar.
fn hours_from_pb(field: &str, pb: &[v1::OpenPeriod]) -> Result<Vec<LocalHours>, FieldError> {
    pb.iter()
        .enumerate()
        .map(|(period_idx, period)| {
            let at = format!("{field}[{period_idx}]");
            let start = match &period.start {
                Some(start) => time_of_day_from_pb(join(&at, "start"), start)?,
                None => return Err(FieldError::missing(join(&at, "start"), "start is required")),
            };
            let end = match &period.end {
                Some(end) => time_of_day_from_pb(join(&at, "end"), end)?,
                None => return Err(FieldError::missing(join(&at, "end"), "end is required")),
            };
            if end <= start {
                return Err(FieldError::invalid(
                    at,
                    format!("{}-{}", start.format("%H:%M"), end.format("%H:%M")),
                    "period must end after it starts",
                ));
            }
            Ok(LocalHours { start, end })
        })
        .collect()
}

fn hours_to_pb(hours: &[LocalHours]) -> Vec<v1::OpenPeriod> {
    hours
        .iter()
        .map(|period| v1::OpenPeriod {
            start: Some(time_of_day_to_pb(period.start)),
            end: Some(time_of_day_to_pb(period.end)),
        })
        .collect()
}

fn optional_to_string<T: fmt::Display>(value: Option<&T>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

/// The wire counting rule of a domain rule for a deadline of `unit`.
pub fn counting_rule_to_pb(
    counting: dunghan_domain::catalog::CountingRule,
    unit: dunghan_domain::catalog::DeadlineUnit,
) -> v1::CountingRule {
    use dunghan_domain::catalog::{CountingRule, DeadlineUnit};
    match (counting, unit) {
        (CountingRule::WorkingHours, DeadlineUnit::CalendarDays) => v1::CountingRule::CalendarDays,
        (CountingRule::WorkingHours, DeadlineUnit::WorkingHours | DeadlineUnit::WorkingDays) => {
            v1::CountingRule::WorkingHours
        }
        (CountingRule::CivilCode, _) => v1::CountingRule::CivilCode,
    }
}

/// The domain counting rule of a wire value (unspecified means working hours).
///
/// # Errors
/// [`FieldError`] (Invalid) for an unknown value.
pub fn counting_rule_from_pb(
    field: String,
    raw: i32,
) -> Result<dunghan_domain::catalog::CountingRule, FieldError> {
    use dunghan_domain::catalog::CountingRule;
    match v1::CountingRule::try_from(raw) {
        Ok(
            v1::CountingRule::Unspecified
            | v1::CountingRule::WorkingHours
            | v1::CountingRule::CalendarDays,
        ) => Ok(CountingRule::WorkingHours),
        Ok(v1::CountingRule::CivilCode) => Ok(CountingRule::CivilCode),
        Err(_) => Err(FieldError::invalid(
            field,
            raw.to_string(),
            "is not a known counting rule",
        )),
    }
}

/// The wire weekday of a chrono weekday.
pub fn weekday_to_pb(weekday: chrono::Weekday) -> v1::Weekday {
    match weekday {
        chrono::Weekday::Mon => v1::Weekday::Monday,
        chrono::Weekday::Tue => v1::Weekday::Tuesday,
        chrono::Weekday::Wed => v1::Weekday::Wednesday,
        chrono::Weekday::Thu => v1::Weekday::Thursday,
        chrono::Weekday::Fri => v1::Weekday::Friday,
        chrono::Weekday::Sat => v1::Weekday::Saturday,
        chrono::Weekday::Sun => v1::Weekday::Sunday,
    }
}

/// A length of working time as a wire duration.
pub fn working_time_to_pb(time: dunghan_domain::WorkingTime) -> crate::proto::wkt::Duration {
    crate::proto::wkt::Duration {
        seconds: time.as_secs(),
        nanos: 0,
    }
}
