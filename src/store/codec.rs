//! The record codec: domain values to and from the storage messages of
//! `dunghan.storage.v1`, encoded with prost.
//!
//! It owns the bytes of journal records (events, catalog changes, re-judgings), the per-file
//! event records, and the content hash that tells a duplicate event from a conflict. It must
//! never name a wire type (`dunghan.v1`): the disk format changes only by adding storage
//! fields, never because the API changed. Decoding validates everything through the domain
//! constructors, so a damaged or foreign record is a [`CodecError`], never a panic or an
//! invalid domain value.
//!
//! A calendar's fixed offset is stored in `utc_offset_seconds` (and rendered as `+HH:MM` in
//! `time_zone` for people reading the record).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Timelike, Utc};
use dunghan_domain::calendar::{
    CalendarSpec, DayOverride, HolidayRule, LocalHours, OverrideKind, WeekSchedule, WeekVersion,
};
use dunghan_domain::catalog::{
    CountingRule, Deadline, DeadlineUnit, Officer, Procedure, Step, Term, Unit, UnitKind, WaitKind,
};
use dunghan_domain::clock::{FileVerdict, Verdict};
use dunghan_domain::event::{Channel, Event, EventKind, Holder, RecordedEvent};
use dunghan_domain::ids::{
    CalendarId, EventId, FieldCode, FileId, IdError, OfficerId, ProcedureCode, SourceId, StepCode,
    UnitId,
};
use dunghan_domain::WorkingTime;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::proto::storage::v1 as pb;

/// Why stored bytes cannot become a domain value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a prost encoding of the expected message.
    #[error("cannot decode {what}")]
    Decode {
        /// The record decoded, e.g. `journal record`.
        what: &'static str,
        /// prost's reason.
        source: prost::DecodeError,
    },
    /// A required field is absent or empty.
    #[error("{what}: {field} is missing")]
    Missing {
        /// The record, e.g. `journal record`.
        what: &'static str,
        /// The field path inside it, e.g. `event.event.occurred_at`.
        field: String,
    },
    /// A field holds a value the domain refuses.
    #[error("{what}: {field} has invalid value {value:?}")]
    Invalid {
        /// The record, e.g. `journal record`.
        what: &'static str,
        /// The field path inside it, e.g. `event.event.channel`.
        field: String,
        /// The offending value as text.
        value: String,
    },
}

/// One decoded journal record.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalEntry {
    /// An accepted file event.
    Event {
        /// The event with the instant the service recorded it.
        recorded: RecordedEvent,
        /// The name of the token that pushed it; empty when the server runs without tokens.
        recorded_by: String,
        /// [`content_hash`] of the event.
        content_hash: [u8; 32],
    },
    /// A change of one catalog object.
    Catalog(CatalogChangeEntry),
    /// An applied re-judging.
    Rejudge(RejudgeEntry),
}

/// A change of one catalog object, as the journal keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogChangeEntry {
    /// The first local date the version applies to (for calendars, the date of the change;
    /// their weeks and overrides carry their own dates).
    pub effective_from: NaiveDate,
    /// The object as stored after the change.
    pub object: CatalogObject,
    /// Who made the change: a token name or `catalog-file:<name>`.
    pub actor: String,
    /// When the server accepted the change.
    pub recorded_at: DateTime<Utc>,
    /// The catalog revision number assigned to the change.
    pub revision: u64,
}

/// One catalog object version.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogObject {
    /// A procedure version.
    Procedure(Procedure),
    /// A unit version.
    Unit(Unit),
    /// An officer version.
    Officer(Officer),
    /// A whole calendar.
    Calendar(CalendarSpec),
}

/// An applied re-judging: the audit trail of the verdicts it replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct RejudgeEntry {
    /// The audit id returned to the caller.
    pub audit_id: String,
    /// Why, as the caller wrote it.
    pub reason: String,
    /// The token name that asked for it.
    pub actor: String,
    /// When it was applied.
    pub applied_at: DateTime<Utc>,
    /// The scope, as a human-readable description.
    pub scope: String,
    /// One entry per file whose verdict or due time changed.
    pub replaced: Vec<VerdictReplacement>,
}

/// The verdict a file had before a re-judging, and the one after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictReplacement {
    /// The file.
    pub file_id: FileId,
    /// The verdict before.
    pub old_verdict: FileVerdict,
    /// The verdict after.
    pub new_verdict: FileVerdict,
    /// The original due time before; `None` if it was unjudged.
    pub old_due_at: Option<DateTime<Utc>>,
    /// The original due time after; `None` if it stays unjudged.
    pub new_due_at: Option<DateTime<Utc>>,
}

/// A stable hash of an event's content, excluding its `source`.
///
/// The same event relayed by a second system differs only in `source`, and must count as a
/// duplicate, not a conflict. The hash is SHA-256 of the storage encoding of the event with
/// `source` cleared; prost encodes a message deterministically (fields in number order, no
/// maps here), and SHA-256, unlike `std::hash::Hash`, is the same on every Rust version and
/// platform, so hashes in the dedupe index stay valid across releases.
pub fn content_hash(event: &Event) -> [u8; 32] {
    let mut canonical = event_to_storage(event);
    canonical.source.clear();
    Sha256::digest(canonical.encode_to_vec()).into()
}

/// Encodes an accepted event as a journal record.
pub fn encode_event_record(
    recorded: &RecordedEvent,
    recorded_by: &str,
    content_hash: [u8; 32],
) -> Vec<u8> {
    let envelope = envelope_to_storage(recorded, recorded_by, content_hash);
    pb::JournalRecord {
        record: Some(pb::journal_record::Record::Event(envelope)),
    }
    .encode_to_vec()
}

/// Encodes a catalog change as a journal record.
pub fn encode_catalog_change(change: &CatalogChangeEntry) -> Vec<u8> {
    let object = match &change.object {
        CatalogObject::Procedure(procedure) => {
            pb::catalog_change::Object::Procedure(procedure_to_storage(procedure))
        }
        CatalogObject::Unit(unit) => pb::catalog_change::Object::Unit(unit_to_storage(unit)),
        CatalogObject::Officer(officer) => {
            pb::catalog_change::Object::Officer(officer_to_storage(officer))
        }
        CatalogObject::Calendar(spec) => {
            pb::catalog_change::Object::Calendar(calendar_to_storage(spec))
        }
    };
    let record = pb::CatalogChange {
        object: Some(object),
        effective_from: Some(date_to_storage(change.effective_from)),
        actor: change.actor.clone(),
        recorded_at: Some(instant_to_storage(change.recorded_at)),
        revision: change.revision,
    };
    pb::JournalRecord {
        record: Some(pb::journal_record::Record::CatalogChange(record)),
    }
    .encode_to_vec()
}

/// Encodes an applied re-judging as a journal record.
pub fn encode_rejudge(entry: &RejudgeEntry) -> Vec<u8> {
    let record = pb::RejudgeApplied {
        audit_id: entry.audit_id.clone(),
        reason: entry.reason.clone(),
        actor: entry.actor.clone(),
        applied_at: Some(instant_to_storage(entry.applied_at)),
        scope: entry.scope.clone(),
        replaced: entry
            .replaced
            .iter()
            .map(|replacement| pb::VerdictReplaced {
                file_id: replacement.file_id.to_string(),
                old_verdict: verdict_to_storage(&replacement.old_verdict).into(),
                new_verdict: verdict_to_storage(&replacement.new_verdict).into(),
                old_due_at: replacement.old_due_at.map(instant_to_storage),
                new_due_at: replacement.new_due_at.map(instant_to_storage),
            })
            .collect(),
    };
    pb::JournalRecord {
        record: Some(pb::journal_record::Record::RejudgeApplied(record)),
    }
    .encode_to_vec()
}

/// Decodes one journal record payload.
///
/// # Errors
/// [`CodecError::Decode`] for bytes that are not a journal record;
/// [`CodecError::Missing`] or [`CodecError::Invalid`] for a record the domain refuses.
pub fn decode_journal_record(bytes: &[u8]) -> Result<JournalEntry, CodecError> {
    const WHAT: &str = "journal record";
    let record = pb::JournalRecord::decode(bytes)
        .map_err(|source| CodecError::Decode { what: WHAT, source })?;
    let ctx = Ctx { what: WHAT };
    match record.record {
        None => Err(ctx.missing("record")),
        Some(pb::journal_record::Record::Event(envelope)) => {
            let (recorded, recorded_by, content_hash) =
                envelope_from_storage(ctx, "event", &envelope)?;
            Ok(JournalEntry::Event {
                recorded,
                recorded_by,
                content_hash,
            })
        }
        Some(pb::journal_record::Record::CatalogChange(change)) => {
            catalog_change_from_storage(ctx, &change).map(JournalEntry::Catalog)
        }
        Some(pb::journal_record::Record::RejudgeApplied(rejudge)) => {
            rejudge_from_storage(ctx, &rejudge).map(JournalEntry::Rejudge)
        }
    }
}

/// Encodes an event for the per-file event records the store keeps (an `EventEnvelope`
/// without token name, with the content hash).
pub fn encode_stored_event(recorded: &RecordedEvent) -> Vec<u8> {
    envelope_to_storage(recorded, "", content_hash(&recorded.event)).encode_to_vec()
}

/// Decodes a per-file event record written by [`encode_stored_event`].
///
/// # Errors
/// [`CodecError::Decode`] for bytes that are not an envelope; [`CodecError::Missing`] or
/// [`CodecError::Invalid`] for an event the domain refuses.
pub fn decode_stored_event(bytes: &[u8]) -> Result<RecordedEvent, CodecError> {
    const WHAT: &str = "stored event";
    let envelope = pb::EventEnvelope::decode(bytes)
        .map_err(|source| CodecError::Decode { what: WHAT, source })?;
    envelope_from_storage(Ctx { what: WHAT }, "", &envelope).map(|(recorded, _, _)| recorded)
}

/// Names the record being decoded, for errors.
#[derive(Clone, Copy)]
struct Ctx {
    what: &'static str,
}

impl Ctx {
    fn missing(self, field: impl Into<String>) -> CodecError {
        CodecError::Missing {
            what: self.what,
            field: field.into(),
        }
    }

    fn invalid(self, field: impl Into<String>, value: impl ToString) -> CodecError {
        CodecError::Invalid {
            what: self.what,
            field: field.into(),
            value: value.to_string(),
        }
    }

    fn id<T>(
        self,
        field: String,
        value: &str,
        make: impl FnOnce(String) -> Result<T, IdError>,
    ) -> Result<T, CodecError> {
        make(value.to_owned()).map_err(|err| match err {
            IdError::Empty { .. } => self.missing(field),
            IdError::TooLong { .. } | IdError::ControlCharacter { .. } => {
                self.invalid(field, value)
            }
        })
    }

    fn optional_id<T>(
        self,
        field: String,
        value: &str,
        make: impl FnOnce(String) -> Result<T, IdError>,
    ) -> Result<Option<T>, CodecError> {
        if value.is_empty() {
            return Ok(None);
        }
        self.id(field, value, make).map(Some)
    }

    fn instant(
        self,
        field: String,
        ts: Option<&prost_types::Timestamp>,
    ) -> Result<DateTime<Utc>, CodecError> {
        let Some(ts) = ts else {
            return Err(self.missing(field));
        };
        u32::try_from(ts.nanos)
            .ok()
            .and_then(|nanos| DateTime::<Utc>::from_timestamp(ts.seconds, nanos))
            .ok_or_else(|| {
                self.invalid(field, format!("seconds={} nanos={}", ts.seconds, ts.nanos))
            })
    }

    fn optional_instant(
        self,
        field: String,
        ts: Option<&prost_types::Timestamp>,
    ) -> Result<Option<DateTime<Utc>>, CodecError> {
        match ts {
            Some(ts) => self.instant(field, Some(ts)).map(Some),
            None => Ok(None),
        }
    }

    fn date(self, field: String, date: Option<&pb::Date>) -> Result<NaiveDate, CodecError> {
        match date {
            Some(date) if date.year != 0 => u32::try_from(date.month)
                .ok()
                .zip(u32::try_from(date.day).ok())
                .and_then(|(month, day)| NaiveDate::from_ymd_opt(date.year, month, day))
                .ok_or_else(|| {
                    self.invalid(field, format!("{}-{}-{}", date.year, date.month, date.day))
                }),
            Some(_) | None => Err(self.missing(field)),
        }
    }

    fn optional_date(
        self,
        field: String,
        date: Option<&pb::Date>,
    ) -> Result<Option<NaiveDate>, CodecError> {
        match date {
            Some(date) if date.year != 0 => self.date(field, Some(date)).map(Some),
            Some(_) | None => Ok(None),
        }
    }

    fn time(self, field: String, time: Option<&pb::TimeOfDay>) -> Result<NaiveTime, CodecError> {
        let Some(time) = time else {
            return Err(self.missing(field));
        };
        u32::try_from(time.hour)
            .ok()
            .zip(u32::try_from(time.minute).ok())
            .and_then(|(hour, minute)| NaiveTime::from_hms_opt(hour, minute, 0))
            .ok_or_else(|| self.invalid(field, format!("{}:{}", time.hour, time.minute)))
    }

    fn hours(self, field: &str, periods: &[pb::OpenPeriod]) -> Result<Vec<LocalHours>, CodecError> {
        periods
            .iter()
            .enumerate()
            .map(|(period_idx, period)| {
                Ok(LocalHours {
                    start: self.time(
                        format!("{field}[{period_idx}].start"),
                        period.start.as_ref(),
                    )?,
                    end: self.time(format!("{field}[{period_idx}].end"), period.end.as_ref())?,
                })
            })
            .collect()
    }

    fn channel(self, field: String, raw: i32) -> Result<Channel, CodecError> {
        match pb::Channel::try_from(raw) {
            Ok(pb::Channel::InPerson) => Ok(Channel::InPerson),
            Ok(pb::Channel::Online) => Ok(Channel::Online),
            Ok(pb::Channel::Postal) => Ok(Channel::Postal),
            Ok(pb::Channel::Unspecified) | Err(_) => Err(self.invalid(field, raw)),
        }
    }

    fn wait(self, field: String, raw: i32) -> Result<WaitKind, CodecError> {
        match pb::WaitKind::try_from(raw) {
            Ok(pb::WaitKind::Supplement) => Ok(WaitKind::Supplement),
            Ok(pb::WaitKind::FinancialObligation) => Ok(WaitKind::FinancialObligation),
            Ok(pb::WaitKind::Consultation) => Ok(WaitKind::Consultation),
            Ok(pb::WaitKind::ExpertCouncil) => Ok(WaitKind::ExpertCouncil),
            Ok(pb::WaitKind::SiteVisit) => Ok(WaitKind::SiteVisit),
            Ok(pb::WaitKind::Unspecified) | Err(_) => Err(self.invalid(field, raw)),
        }
    }

    fn deadline(
        self,
        field: &str,
        deadline: Option<&pb::Deadline>,
    ) -> Result<Deadline, CodecError> {
        let Some(deadline) = deadline else {
            return Err(self.missing(field));
        };
        let unit = match pb::DeadlineUnit::try_from(deadline.unit) {
            Ok(pb::DeadlineUnit::WorkingHours) => DeadlineUnit::WorkingHours,
            Ok(pb::DeadlineUnit::WorkingDays) => DeadlineUnit::WorkingDays,
            Ok(pb::DeadlineUnit::CalendarDays) => DeadlineUnit::CalendarDays,
            Ok(pb::DeadlineUnit::Unspecified) | Err(_) => {
                return Err(self.invalid(format!("{field}.unit"), deadline.unit))
            }
        };
        Ok(Deadline {
            amount: deadline.amount,
            unit,
        })
    }

    fn verdict(self, field: String, raw: i32) -> Result<FileVerdict, CodecError> {
        match pb::Verdict::try_from(raw) {
            Ok(pb::Verdict::Early) => Ok(FileVerdict::Judged(Verdict::Early)),
            Ok(pb::Verdict::OnTime) => Ok(FileVerdict::Judged(Verdict::OnTime)),
            Ok(pb::Verdict::Late) => Ok(FileVerdict::Judged(Verdict::Late)),
            Ok(pb::Verdict::WithinTime) => Ok(FileVerdict::Judged(Verdict::WithinTime)),
            Ok(pb::Verdict::Overdue) => Ok(FileVerdict::Judged(Verdict::Overdue)),
            Ok(pb::Verdict::NotCounted) => Ok(FileVerdict::NotCounted),
            Ok(pb::Verdict::Unjudged) => Ok(FileVerdict::Unjudged),
            Ok(pb::Verdict::Unspecified) | Err(_) => Err(self.invalid(field, raw)),
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn envelope_to_storage(
    recorded: &RecordedEvent,
    recorded_by: &str,
    content_hash: [u8; 32],
) -> pb::EventEnvelope {
    pb::EventEnvelope {
        event: Some(event_to_storage(&recorded.event)),
        recorded_at: Some(instant_to_storage(recorded.recorded_at)),
        recorded_by: recorded_by.to_owned(),
        content_hash: content_hash.to_vec(),
    }
}

fn envelope_from_storage(
    ctx: Ctx,
    prefix: &str,
    envelope: &pb::EventEnvelope,
) -> Result<(RecordedEvent, String, [u8; 32]), CodecError> {
    let Some(event) = &envelope.event else {
        return Err(ctx.missing(join(prefix, "event")));
    };
    let event = event_from_storage(ctx, &join(prefix, "event"), event)?;
    let recorded_at = ctx.instant(join(prefix, "recorded_at"), envelope.recorded_at.as_ref())?;
    let content_hash: [u8; 32] = envelope.content_hash.as_slice().try_into().map_err(|_| {
        ctx.invalid(
            join(prefix, "content_hash"),
            format!("{} bytes", envelope.content_hash.len()),
        )
    })?;
    Ok((
        RecordedEvent { event, recorded_at },
        envelope.recorded_by.clone(),
        content_hash,
    ))
}

fn instant_to_storage(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        // At most 1_999_999_999 (a leap second), which fits an i32.
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or(i32::MAX),
    }
}

fn date_to_storage(date: NaiveDate) -> pb::Date {
    pb::Date {
        year: date.year(),
        // Month and day are at most 12 and 31.
        month: i32::try_from(date.month()).unwrap_or(0),
        day: i32::try_from(date.day()).unwrap_or(0),
    }
}

fn time_to_storage(time: NaiveTime) -> pb::TimeOfDay {
    pb::TimeOfDay {
        // Hour and minute are at most 23 and 59.
        hour: i32::try_from(time.hour()).unwrap_or(0),
        minute: i32::try_from(time.minute()).unwrap_or(0),
    }
}

fn hours_to_storage(hours: &[LocalHours]) -> Vec<pb::OpenPeriod> {
    hours
        .iter()
        .map(|period| pb::OpenPeriod {
            start: Some(time_to_storage(period.start)),
            end: Some(time_to_storage(period.end)),
        })
        .collect()
}

fn channel_to_storage(channel: Channel) -> pb::Channel {
    match channel {
        Channel::InPerson => pb::Channel::InPerson,
        Channel::Online => pb::Channel::Online,
        Channel::Postal => pb::Channel::Postal,
    }
}

fn wait_to_storage(wait: WaitKind) -> pb::WaitKind {
    match wait {
        WaitKind::Supplement => pb::WaitKind::Supplement,
        WaitKind::FinancialObligation => pb::WaitKind::FinancialObligation,
        WaitKind::Consultation => pb::WaitKind::Consultation,
        WaitKind::ExpertCouncil => pb::WaitKind::ExpertCouncil,
        WaitKind::SiteVisit => pb::WaitKind::SiteVisit,
    }
}

fn deadline_to_storage(deadline: Deadline) -> pb::Deadline {
    let unit = match deadline.unit {
        DeadlineUnit::WorkingHours => pb::DeadlineUnit::WorkingHours,
        DeadlineUnit::WorkingDays => pb::DeadlineUnit::WorkingDays,
        DeadlineUnit::CalendarDays => pb::DeadlineUnit::CalendarDays,
    };
    pb::Deadline {
        amount: deadline.amount,
        unit: unit.into(),
    }
}

fn verdict_to_storage(verdict: &FileVerdict) -> pb::Verdict {
    match verdict {
        FileVerdict::Judged(Verdict::Early) => pb::Verdict::Early,
        FileVerdict::Judged(Verdict::OnTime) => pb::Verdict::OnTime,
        FileVerdict::Judged(Verdict::Late) => pb::Verdict::Late,
        FileVerdict::Judged(Verdict::WithinTime) => pb::Verdict::WithinTime,
        FileVerdict::Judged(Verdict::Overdue) => pb::Verdict::Overdue,
        FileVerdict::NotCounted => pb::Verdict::NotCounted,
        FileVerdict::Unjudged => pb::Verdict::Unjudged,
    }
}

fn optional_to_string<T: ToString>(value: Option<&T>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

fn event_to_storage(event: &Event) -> pb::Event {
    use pb::event::{self as ev, Kind};
    let kind = match &event.kind {
        EventKind::Submitted { procedure, channel } => Kind::Submitted(ev::Submitted {
            procedure_code: procedure.to_string(),
            channel: channel_to_storage(*channel).into(),
        }),
        EventKind::Received {
            procedure,
            channel,
            holder,
            appointment,
        } => Kind::Received(ev::Received {
            procedure_code: procedure.to_string(),
            channel: channel_to_storage(*channel).into(),
            receiving_unit_id: holder.unit.to_string(),
            receiving_officer_id: optional_to_string(holder.officer.as_ref()),
            appointment_at: appointment.map(instant_to_storage),
        }),
        EventKind::NotAccepted { reason } => Kind::NotAccepted(ev::NotAccepted {
            reason: reason.clone(),
        }),
        EventKind::HandedOver { from, to, step } => Kind::HandedOver(ev::HandedOver {
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
        } => Kind::SupplementRequested(ev::SupplementRequested {
            officer_id: optional_to_string(officer.as_ref()),
            reason: reason.clone(),
            items: items.clone(),
        }),
        EventKind::SupplementReceived => Kind::SupplementReceived(ev::SupplementReceived {}),
        EventKind::FinancialObligationRequested => {
            Kind::FinancialObligationRequested(ev::FinancialObligationRequested {
                description: String::new(),
            })
        }
        EventKind::FinancialObligationFulfilled => {
            Kind::FinancialObligationFulfilled(ev::FinancialObligationFulfilled {})
        }
        EventKind::ConsultationRequested {
            consulted,
            deadline,
        } => Kind::ConsultationRequested(ev::ConsultationRequested {
            consulted_unit_id: consulted.to_string(),
            deadline: Some(deadline_to_storage(*deadline)),
        }),
        EventKind::ConsultationAnswered { consulted } => {
            Kind::ConsultationAnswered(ev::ConsultationAnswered {
                consulted_unit_id: consulted.to_string(),
            })
        }
        EventKind::PauseStarted { wait } => Kind::PauseStarted(ev::PauseStarted {
            reason: wait_to_storage(*wait).into(),
            note: String::new(),
        }),
        EventKind::PauseEnded { wait } => Kind::PauseEnded(ev::PauseEnded {
            reason: wait_to_storage(*wait).into(),
        }),
        EventKind::Extended { reason, new_due } => Kind::Extended(ev::Extended {
            reason: reason.clone(),
            new_due_at: Some(instant_to_storage(*new_due)),
        }),
        EventKind::Withdrawn { reason } => Kind::Withdrawn(ev::Withdrawn {
            reason: reason.clone(),
        }),
        EventKind::Stopped { reason } => Kind::Stopped(ev::Stopped {
            reason: reason.clone(),
        }),
        EventKind::Rejected { reason } => Kind::Rejected(ev::Rejected {
            reason: reason.clone(),
        }),
        EventKind::Resolved => Kind::Resolved(ev::Resolved {
            officer_id: String::new(),
            unit_id: String::new(),
        }),
        EventKind::Returned => Kind::Returned(ev::Returned {}),
    };
    pb::Event {
        event_id: event.id.to_string(),
        file_id: event.file_id.to_string(),
        occurred_at: Some(instant_to_storage(event.occurred_at)),
        source: event.source.to_string(),
        kind: Some(kind),
    }
}

fn event_from_storage(ctx: Ctx, prefix: &str, event: &pb::Event) -> Result<Event, CodecError> {
    use pb::event::Kind;
    let field = |name: &str| join(prefix, name);
    let kind = match &event.kind {
        None => return Err(ctx.missing(field("kind"))),
        Some(Kind::Submitted(kind)) => EventKind::Submitted {
            procedure: ctx.id(
                field("submitted.procedure_code"),
                &kind.procedure_code,
                ProcedureCode::new,
            )?,
            channel: ctx.channel(field("submitted.channel"), kind.channel)?,
        },
        Some(Kind::Received(kind)) => EventKind::Received {
            procedure: ctx.id(
                field("received.procedure_code"),
                &kind.procedure_code,
                ProcedureCode::new,
            )?,
            channel: ctx.channel(field("received.channel"), kind.channel)?,
            holder: Holder {
                officer: ctx.optional_id(
                    field("received.receiving_officer_id"),
                    &kind.receiving_officer_id,
                    OfficerId::new,
                )?,
                unit: ctx.id(
                    field("received.receiving_unit_id"),
                    &kind.receiving_unit_id,
                    UnitId::new,
                )?,
            },
            appointment: ctx.optional_instant(
                field("received.appointment_at"),
                kind.appointment_at.as_ref(),
            )?,
        },
        Some(Kind::NotAccepted(kind)) => EventKind::NotAccepted {
            reason: kind.reason.clone(),
        },
        Some(Kind::HandedOver(kind)) => EventKind::HandedOver {
            from: Holder {
                officer: ctx.optional_id(
                    field("handed_over.from_officer_id"),
                    &kind.from_officer_id,
                    OfficerId::new,
                )?,
                unit: ctx.id(
                    field("handed_over.from_unit_id"),
                    &kind.from_unit_id,
                    UnitId::new,
                )?,
            },
            to: Holder {
                officer: ctx.optional_id(
                    field("handed_over.to_officer_id"),
                    &kind.to_officer_id,
                    OfficerId::new,
                )?,
                unit: ctx.id(
                    field("handed_over.to_unit_id"),
                    &kind.to_unit_id,
                    UnitId::new,
                )?,
            },
            step: ctx.optional_id(
                field("handed_over.step_code"),
                &kind.step_code,
                StepCode::new,
            )?,
        },
        Some(Kind::SupplementRequested(kind)) => EventKind::SupplementRequested {
            officer: ctx.optional_id(
                field("supplement_requested.officer_id"),
                &kind.officer_id,
                OfficerId::new,
            )?,
            reason: kind.reason.clone(),
            items: kind.items.clone(),
        },
        Some(Kind::SupplementReceived(_)) => EventKind::SupplementReceived,
        Some(Kind::FinancialObligationRequested(_)) => EventKind::FinancialObligationRequested,
        Some(Kind::FinancialObligationFulfilled(_)) => EventKind::FinancialObligationFulfilled,
        Some(Kind::ConsultationRequested(kind)) => EventKind::ConsultationRequested {
            consulted: ctx.id(
                field("consultation_requested.consulted_unit_id"),
                &kind.consulted_unit_id,
                UnitId::new,
            )?,
            deadline: ctx.deadline(
                &field("consultation_requested.deadline"),
                kind.deadline.as_ref(),
            )?,
        },
        Some(Kind::ConsultationAnswered(kind)) => EventKind::ConsultationAnswered {
            consulted: ctx.id(
                field("consultation_answered.consulted_unit_id"),
                &kind.consulted_unit_id,
                UnitId::new,
            )?,
        },
        Some(Kind::PauseStarted(kind)) => EventKind::PauseStarted {
            wait: ctx.wait(field("pause_started.reason"), kind.reason)?,
        },
        Some(Kind::PauseEnded(kind)) => EventKind::PauseEnded {
            wait: ctx.wait(field("pause_ended.reason"), kind.reason)?,
        },
        Some(Kind::Extended(kind)) => EventKind::Extended {
            reason: kind.reason.clone(),
            new_due: ctx.instant(field("extended.new_due_at"), kind.new_due_at.as_ref())?,
        },
        Some(Kind::Withdrawn(kind)) => EventKind::Withdrawn {
            reason: kind.reason.clone(),
        },
        Some(Kind::Stopped(kind)) => EventKind::Stopped {
            reason: kind.reason.clone(),
        },
        Some(Kind::Rejected(kind)) => EventKind::Rejected {
            reason: kind.reason.clone(),
        },
        Some(Kind::Resolved(_)) => EventKind::Resolved,
        Some(Kind::Returned(_)) => EventKind::Returned,
    };
    Ok(Event {
        id: ctx.id(field("event_id"), &event.event_id, EventId::new)?,
        file_id: ctx.id(field("file_id"), &event.file_id, FileId::new)?,
        occurred_at: ctx.instant(field("occurred_at"), event.occurred_at.as_ref())?,
        source: ctx.id(field("source"), &event.source, SourceId::new)?,
        kind,
    })
}

fn catalog_change_from_storage(
    ctx: Ctx,
    change: &pb::CatalogChange,
) -> Result<CatalogChangeEntry, CodecError> {
    let object = match &change.object {
        None => return Err(ctx.missing("catalog_change.object")),
        Some(pb::catalog_change::Object::Procedure(procedure)) => {
            CatalogObject::Procedure(procedure_from_storage(ctx, procedure)?)
        }
        Some(pb::catalog_change::Object::Unit(unit)) => {
            CatalogObject::Unit(unit_from_storage(ctx, unit)?)
        }
        Some(pb::catalog_change::Object::Officer(officer)) => {
            CatalogObject::Officer(officer_from_storage(ctx, officer)?)
        }
        Some(pb::catalog_change::Object::Calendar(calendar)) => {
            CatalogObject::Calendar(calendar_from_storage(ctx, calendar)?)
        }
    };
    Ok(CatalogChangeEntry {
        effective_from: ctx.date(
            "catalog_change.effective_from".to_owned(),
            change.effective_from.as_ref(),
        )?,
        object,
        actor: change.actor.clone(),
        recorded_at: ctx.instant(
            "catalog_change.recorded_at".to_owned(),
            change.recorded_at.as_ref(),
        )?,
        revision: change.revision,
    })
}

fn rejudge_from_storage(
    ctx: Ctx,
    rejudge: &pb::RejudgeApplied,
) -> Result<RejudgeEntry, CodecError> {
    let replaced = rejudge
        .replaced
        .iter()
        .enumerate()
        .map(|(entry_idx, entry)| {
            let at = format!("rejudge_applied.replaced[{entry_idx}]");
            Ok(VerdictReplacement {
                file_id: ctx.id(join(&at, "file_id"), &entry.file_id, FileId::new)?,
                old_verdict: ctx.verdict(join(&at, "old_verdict"), entry.old_verdict)?,
                new_verdict: ctx.verdict(join(&at, "new_verdict"), entry.new_verdict)?,
                old_due_at: ctx
                    .optional_instant(join(&at, "old_due_at"), entry.old_due_at.as_ref())?,
                new_due_at: ctx
                    .optional_instant(join(&at, "new_due_at"), entry.new_due_at.as_ref())?,
            })
        })
        .collect::<Result<Vec<_>, CodecError>>()?;
    Ok(RejudgeEntry {
        audit_id: rejudge.audit_id.clone(),
        reason: rejudge.reason.clone(),
        actor: rejudge.actor.clone(),
        applied_at: ctx.instant(
            "rejudge_applied.applied_at".to_owned(),
            rejudge.applied_at.as_ref(),
        )?,
        scope: rejudge.scope.clone(),
        replaced,
    })
}

fn procedure_to_storage(procedure: &Procedure) -> pb::Procedure {
    let counting = match procedure.counting {
        CountingRule::WorkingHours => pb::CountingRule::WorkingHours,
        CountingRule::CivilCode => pb::CountingRule::CivilCode,
    };
    pb::Procedure {
        code: procedure.code.to_string(),
        name: procedure.name.clone(),
        field_code: procedure.field.to_string(),
        field_name: String::new(),
        // The free-text level lives in `level_name`; the enum stays unspecified.
        level: pb::ProcedureLevel::Unspecified.into(),
        deadline: Some(deadline_to_storage(procedure.deadline)),
        counting_rule: counting.into(),
        same_day_cutoff: procedure.cutoff.map(time_to_storage),
        steps: procedure
            .steps
            .iter()
            .map(|step| pb::Step {
                code: step.code.to_string(),
                name: step.name.clone(),
                performer: match (&step.unit, &step.role) {
                    (Some(unit), _) => Some(pb::step::Performer::UnitId(unit.to_string())),
                    (None, Some(role)) => Some(pb::step::Performer::Role(role.clone())),
                    (None, None) => None,
                },
                allotted: Some(prost_types::Duration {
                    seconds: step.allotted.as_secs(),
                    nanos: 0,
                }),
            })
            .collect(),
        clock_stopping_waits: procedure
            .clock_stopping_waits
            .iter()
            .map(|wait| wait_to_storage(*wait).into())
            .collect(),
        effective_from: None,
        revision: None,
        level_name: procedure.level.clone(),
    }
}

fn procedure_from_storage(ctx: Ctx, procedure: &pb::Procedure) -> Result<Procedure, CodecError> {
    let at = "catalog_change.procedure";
    let field = |name: &str| join(at, name);
    let counting = match pb::CountingRule::try_from(procedure.counting_rule) {
        Ok(
            pb::CountingRule::Unspecified
            | pb::CountingRule::WorkingHours
            | pb::CountingRule::CalendarDays,
        ) => CountingRule::WorkingHours,
        Ok(pb::CountingRule::CivilCode) => CountingRule::CivilCode,
        Err(_) => return Err(ctx.invalid(field("counting_rule"), procedure.counting_rule)),
    };
    let level = if procedure.level_name.is_empty() {
        match pb::ProcedureLevel::try_from(procedure.level) {
            Ok(pb::ProcedureLevel::Unspecified) | Err(_) => "",
            Ok(pb::ProcedureLevel::Central) => "central",
            Ok(pb::ProcedureLevel::Province) => "province",
            Ok(pb::ProcedureLevel::District) => "district",
            Ok(pb::ProcedureLevel::Commune) => "commune",
        }
        .to_owned()
    } else {
        procedure.level_name.clone()
    };
    let steps = procedure
        .steps
        .iter()
        .enumerate()
        .map(|(step_idx, step)| {
            let step_at = format!("{at}.steps[{step_idx}]");
            let (unit, role) = match &step.performer {
                Some(pb::step::Performer::UnitId(unit)) => (
                    Some(ctx.id(join(&step_at, "unit_id"), unit, UnitId::new)?),
                    None,
                ),
                Some(pb::step::Performer::Role(role)) => (None, Some(role.clone())),
                None => (None, None),
            };
            let allotted = step
                .allotted
                .as_ref()
                .ok_or_else(|| ctx.missing(join(&step_at, "allotted")))?;
            Ok(Step {
                code: ctx.id(join(&step_at, "code"), &step.code, StepCode::new)?,
                name: step.name.clone(),
                unit,
                role,
                allotted: WorkingTime::seconds(allotted.seconds),
            })
        })
        .collect::<Result<Vec<_>, CodecError>>()?;
    let clock_stopping_waits = procedure
        .clock_stopping_waits
        .iter()
        .enumerate()
        .map(|(wait_idx, raw)| ctx.wait(format!("{at}.clock_stopping_waits[{wait_idx}]"), *raw))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let cutoff = match &procedure.same_day_cutoff {
        Some(cutoff) => Some(ctx.time(field("same_day_cutoff"), Some(cutoff))?),
        None => None,
    };
    Ok(Procedure {
        code: ctx.id(field("code"), &procedure.code, ProcedureCode::new)?,
        name: procedure.name.clone(),
        field: ctx.id(field("field_code"), &procedure.field_code, FieldCode::new)?,
        level,
        deadline: ctx.deadline(&field("deadline"), procedure.deadline.as_ref())?,
        counting,
        cutoff,
        steps,
        clock_stopping_waits,
    })
}

fn unit_to_storage(unit: &Unit) -> pb::Unit {
    let kind = match unit.kind {
        UnitKind::Province => pb::UnitKind::Province,
        UnitKind::Department => pb::UnitKind::Department,
        UnitKind::Division => pb::UnitKind::Division,
        UnitKind::Commune => pb::UnitKind::Commune,
        UnitKind::Center => pb::UnitKind::ServiceCenter,
        UnitKind::Other => pb::UnitKind::Other,
    };
    pb::Unit {
        id: unit.id.to_string(),
        name: unit.name.clone(),
        parent_id: optional_to_string(unit.parent.as_ref()),
        kind: kind.into(),
        calendar_id: unit.calendar.to_string(),
        heads: unit
            .heads
            .iter()
            .map(|term| pb::HeadTerm {
                officer_id: term.value.to_string(),
                from: Some(date_to_storage(term.from)),
                until: term.until.map(date_to_storage),
            })
            .collect(),
        predecessor_ids: unit.predecessors.iter().map(ToString::to_string).collect(),
        roles: Vec::new(),
        effective_from: None,
        dissolved_on: None,
        revision: None,
    }
}

fn unit_from_storage(ctx: Ctx, unit: &pb::Unit) -> Result<Unit, CodecError> {
    let at = "catalog_change.unit";
    let field = |name: &str| join(at, name);
    let kind = match pb::UnitKind::try_from(unit.kind) {
        Ok(pb::UnitKind::Province) => UnitKind::Province,
        Ok(pb::UnitKind::Department) => UnitKind::Department,
        Ok(pb::UnitKind::Division) => UnitKind::Division,
        Ok(pb::UnitKind::Commune) => UnitKind::Commune,
        Ok(pb::UnitKind::ServiceCenter) => UnitKind::Center,
        Ok(pb::UnitKind::Other) => UnitKind::Other,
        Ok(pb::UnitKind::Unspecified) | Err(_) => return Err(ctx.invalid(field("kind"), unit.kind)),
    };
    let heads = unit
        .heads
        .iter()
        .enumerate()
        .map(|(term_idx, term)| {
            let term_at = format!("{at}.heads[{term_idx}]");
            Ok(Term {
                value: ctx.id(
                    join(&term_at, "officer_id"),
                    &term.officer_id,
                    OfficerId::new,
                )?,
                from: ctx.date(join(&term_at, "from"), term.from.as_ref())?,
                until: ctx.optional_date(join(&term_at, "until"), term.until.as_ref())?,
            })
        })
        .collect::<Result<Vec<_>, CodecError>>()?;
    let predecessors = unit
        .predecessor_ids
        .iter()
        .enumerate()
        .map(|(pred_idx, raw)| {
            ctx.id(
                format!("{at}.predecessor_ids[{pred_idx}]"),
                raw,
                UnitId::new,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Unit {
        id: ctx.id(field("id"), &unit.id, UnitId::new)?,
        name: unit.name.clone(),
        parent: ctx.optional_id(field("parent_id"), &unit.parent_id, UnitId::new)?,
        kind,
        calendar: ctx.id(field("calendar_id"), &unit.calendar_id, CalendarId::new)?,
        heads,
        predecessors,
    })
}

fn officer_to_storage(officer: &Officer) -> pb::Officer {
    pb::Officer {
        id: officer.id.to_string(),
        name: officer.name.clone(),
        memberships: officer
            .memberships
            .iter()
            .map(|term| pb::Membership {
                unit_id: term.value.to_string(),
                from: Some(date_to_storage(term.from)),
                until: term.until.map(date_to_storage),
            })
            .collect(),
        effective_from: None,
        revision: None,
    }
}

fn officer_from_storage(ctx: Ctx, officer: &pb::Officer) -> Result<Officer, CodecError> {
    let at = "catalog_change.officer";
    let memberships = officer
        .memberships
        .iter()
        .enumerate()
        .map(|(term_idx, term)| {
            let term_at = format!("{at}.memberships[{term_idx}]");
            Ok(Term {
                value: ctx.id(join(&term_at, "unit_id"), &term.unit_id, UnitId::new)?,
                from: ctx.date(join(&term_at, "from"), term.from.as_ref())?,
                until: ctx.optional_date(join(&term_at, "until"), term.until.as_ref())?,
            })
        })
        .collect::<Result<Vec<_>, CodecError>>()?;
    Ok(Officer {
        id: ctx.id(join(at, "id"), &officer.id, OfficerId::new)?,
        name: officer.name.clone(),
        memberships,
    })
}

/// The storage weekdays, Monday first, in the order of [`WeekSchedule::days`].
const WEEKDAYS: [pb::Weekday; 7] = [
    pb::Weekday::Monday,
    pb::Weekday::Tuesday,
    pb::Weekday::Wednesday,
    pb::Weekday::Thursday,
    pb::Weekday::Friday,
    pb::Weekday::Saturday,
    pb::Weekday::Sunday,
];

fn calendar_to_storage(spec: &CalendarSpec) -> pb::Calendar {
    let holiday_rule = match spec.holiday_rule {
        HolidayRule::None => pb::HolidayRule::None,
        HolidayRule::Vietnam => pb::HolidayRule::Vietnam,
    };
    pb::Calendar {
        id: spec.id.to_string(),
        name: String::new(),
        time_zone: spec.utc_offset.to_string(),
        weeks: spec
            .weeks
            .iter()
            .map(|week| pb::WeekVersion {
                effective_from: Some(date_to_storage(week.effective_from)),
                // Closed days are stored too, so a week reads back exactly.
                days: week
                    .week
                    .days
                    .iter()
                    .zip(WEEKDAYS)
                    .map(|(hours, weekday)| pb::WorkingDay {
                        weekday: weekday.into(),
                        hours: hours_to_storage(hours),
                    })
                    .collect(),
            })
            .collect(),
        overrides: spec
            .overrides
            .iter()
            .map(|day| pb::CalendarOverride {
                date: Some(date_to_storage(day.date)),
                kind: match day.kind {
                    OverrideKind::Holiday => pb::OverrideKind::Holiday,
                    OverrideKind::DayOff => pb::OverrideKind::DayOff,
                    OverrideKind::WorkingDay => pb::OverrideKind::WorkingDay,
                }
                .into(),
                hours: day
                    .hours
                    .as_deref()
                    .map(hours_to_storage)
                    .unwrap_or_default(),
                note: day.note.clone(),
                source: day.source.clone(),
            })
            .collect(),
        official_years: spec.official_years.iter().copied().collect(),
        revision: None,
        holiday_rule: holiday_rule.into(),
        first_year: spec.first_year,
        last_year: spec.last_year,
        version: spec.version,
        utc_offset_seconds: Some(spec.utc_offset.local_minus_utc()),
    }
}

fn calendar_from_storage(ctx: Ctx, calendar: &pb::Calendar) -> Result<CalendarSpec, CodecError> {
    let at = "catalog_change.calendar";
    let field = |name: &str| join(at, name);
    let utc_offset = match calendar.utc_offset_seconds {
        Some(secs) => FixedOffset::east_opt(secs)
            .ok_or_else(|| ctx.invalid(field("utc_offset_seconds"), secs))?,
        None if calendar.time_zone.is_empty() || calendar.time_zone == "Asia/Ho_Chi_Minh" => {
            FixedOffset::east_opt(7 * 3600)
                .ok_or_else(|| ctx.invalid(field("time_zone"), &calendar.time_zone))?
        }
        None => calendar
            .time_zone
            .parse::<FixedOffset>()
            .map_err(|_| ctx.invalid(field("time_zone"), &calendar.time_zone))?,
    };
    let weeks = calendar
        .weeks
        .iter()
        .enumerate()
        .map(|(week_idx, week)| {
            let week_at = format!("{at}.weeks[{week_idx}]");
            let mut schedule = WeekSchedule {
                days: Default::default(),
            };
            for (day_idx, day) in week.days.iter().enumerate() {
                let day_at = format!("{week_at}.days[{day_idx}]");
                let slot = pb::Weekday::try_from(day.weekday)
                    .ok()
                    .and_then(|weekday| WEEKDAYS.iter().position(|known| *known == weekday))
                    .ok_or_else(|| ctx.invalid(join(&day_at, "weekday"), day.weekday))?;
                schedule.days[slot] = ctx.hours(&join(&day_at, "hours"), &day.hours)?;
            }
            Ok(WeekVersion {
                effective_from: ctx.date(
                    join(&week_at, "effective_from"),
                    week.effective_from.as_ref(),
                )?,
                week: schedule,
            })
        })
        .collect::<Result<Vec<_>, CodecError>>()?;
    let overrides = calendar
        .overrides
        .iter()
        .enumerate()
        .map(|(override_idx, day)| {
            let day_at = format!("{at}.overrides[{override_idx}]");
            let kind = match pb::OverrideKind::try_from(day.kind) {
                Ok(pb::OverrideKind::Holiday) => OverrideKind::Holiday,
                Ok(pb::OverrideKind::DayOff) => OverrideKind::DayOff,
                Ok(pb::OverrideKind::WorkingDay) => OverrideKind::WorkingDay,
                Ok(pb::OverrideKind::Unspecified) | Err(_) => {
                    return Err(ctx.invalid(join(&day_at, "kind"), day.kind))
                }
            };
            Ok(DayOverride {
                date: ctx.date(join(&day_at, "date"), day.date.as_ref())?,
                kind,
                hours: if day.hours.is_empty() {
                    None
                } else {
                    Some(ctx.hours(&join(&day_at, "hours"), &day.hours)?)
                },
                note: day.note.clone(),
                source: day.source.clone(),
            })
        })
        .collect::<Result<Vec<_>, CodecError>>()?;
    let holiday_rule = match pb::HolidayRule::try_from(calendar.holiday_rule) {
        Ok(pb::HolidayRule::None) => HolidayRule::None,
        Ok(pb::HolidayRule::Vietnam | pb::HolidayRule::Unspecified) => HolidayRule::Vietnam,
        Err(_) => return Err(ctx.invalid(field("holiday_rule"), calendar.holiday_rule)),
    };
    Ok(CalendarSpec {
        id: ctx.id(field("id"), &calendar.id, CalendarId::new)?,
        version: calendar.version,
        utc_offset,
        weeks,
        overrides,
        official_years: calendar.official_years.iter().copied().collect(),
        holiday_rule,
        first_year: if calendar.first_year == 0 {
            2000
        } else {
            calendar.first_year
        },
        last_year: if calendar.last_year == 0 {
            2100
        } else {
            calendar.last_year
        },
    })
}

#[cfg(test)]
pub(crate) mod tests;
