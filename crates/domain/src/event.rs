//! File events as pushed by service-center systems (DOMAIN.md §5.1), and a file's history:
//! the set of its events with idempotency by event id.
//!
//! Events may arrive late, twice, or out of order. [`FileHistory::insert`] makes the same
//! event twice a no-op and the same event id with different content a conflict value that
//! is never applied. The history is kept in event-time order with a documented tie rule,
//! so any order of arrival gives the same history.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::catalog::{Deadline, WaitKind};
use crate::ids::{EventId, FileId, OfficerId, ProcedureCode, SourceId, StepCode, UnitId};

/// How a file reached the service center (national channel codes 1–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// 1: in person at the desk.
    InPerson,
    /// 2: online, through the public-service portal.
    Online,
    /// 3: by the public postal service.
    Postal,
}

/// Who holds a file: an officer of a unit, or a unit not yet assigned to a person.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Holder {
    /// The officer, if one is named.
    pub officer: Option<OfficerId>,
    /// The unit.
    pub unit: UnitId,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.officer {
            Some(officer) => write!(f, "{officer}@{}", self.unit),
            None => write!(f, "{}", self.unit),
        }
    }
}

/// What happened to a file, with what the event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// Status 1: pre-registered online; the clock does not run yet.
    Submitted {
        /// The procedure applied for.
        procedure: ProcedureCode,
        /// The channel.
        channel: Channel,
    },
    /// Status 2: the complete dossier was received; the clock starts.
    Received {
        /// The procedure applied for.
        procedure: ProcedureCode,
        /// The channel.
        channel: Channel,
        /// The receiving unit and officer: the first holder.
        holder: Holder,
        /// The due time printed on the receipt slip by the source system, if any.
        appointment: Option<DateTime<Utc>>,
    },
    /// Status 3: refused at the desk; the file is not counted.
    NotAccepted {
        /// Why.
        reason: String,
    },
    /// Status 4: passed from one holder to the next (one row of the control slip).
    HandedOver {
        /// Who passed it on.
        from: Holder,
        /// Who received it.
        to: Holder,
        /// The step the receiving holder performs, if the source names it.
        step: Option<StepCode>,
    },
    /// Status 5: the applicant is asked for missing documents.
    SupplementRequested {
        /// The officer asking.
        officer: Option<OfficerId>,
        /// Why.
        reason: String,
        /// The documents asked for.
        items: Vec<String>,
    },
    /// The complete dossier is back.
    SupplementReceived,
    /// Status 6: the applicant is asked to pay fees or taxes.
    FinancialObligationRequested,
    /// The applicant paid.
    FinancialObligationFulfilled,
    /// Another unit is consulted, with its own deadline.
    ConsultationRequested {
        /// The consulted unit.
        consulted: UnitId,
        /// Its deadline to answer.
        deadline: Deadline,
    },
    /// The consulted unit answered.
    ConsultationAnswered {
        /// The consulted unit.
        consulted: UnitId,
    },
    /// A wait that is not the applicant's starts (expert council, site visit).
    PauseStarted {
        /// Which wait.
        wait: WaitKind,
    },
    /// That wait ends.
    PauseEnded {
        /// Which wait.
        wait: WaitKind,
    },
    /// Apology and extension (xin lỗi và gia hạn): a new due time.
    Extended {
        /// Why.
        reason: String,
        /// The new due time.
        new_due: DateTime<Utc>,
    },
    /// Status 7: withdrawn by the applicant. Ends the clock.
    Withdrawn {
        /// Why.
        reason: String,
    },
    /// Status 8: processing stopped (notice of stop). Ends the clock.
    Stopped {
        /// Why.
        reason: String,
    },
    /// Refused after appraisal. Ends the clock.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Status 9: the result is ready at the desk. Ends the clock.
    Resolved,
    /// Status 10: the result was handed to the applicant.
    Returned,
}

impl EventKind {
    /// Rank in a file's life, used to order events that share an instant: a file is received
    /// before it is handed over, and handed over before it is resolved.
    pub fn lifecycle_rank(&self) -> u8 {
        match self {
            EventKind::Submitted { .. } => 0,
            EventKind::Received { .. } => 1,
            EventKind::NotAccepted { .. } => 2,
            EventKind::HandedOver { .. } => 3,
            EventKind::SupplementRequested { .. } => 4,
            EventKind::SupplementReceived => 5,
            EventKind::FinancialObligationRequested => 6,
            EventKind::FinancialObligationFulfilled => 7,
            EventKind::ConsultationRequested { .. } => 8,
            EventKind::ConsultationAnswered { .. } => 9,
            EventKind::PauseStarted { .. } => 10,
            EventKind::PauseEnded { .. } => 11,
            EventKind::Extended { .. } => 12,
            EventKind::Withdrawn { .. } => 13,
            EventKind::Stopped { .. } => 14,
            EventKind::Rejected { .. } => 15,
            EventKind::Resolved => 16,
            EventKind::Returned => 17,
        }
    }

    /// The kind's name in snake case, as in the API and the logs.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Submitted { .. } => "submitted",
            EventKind::Received { .. } => "received",
            EventKind::NotAccepted { .. } => "not_accepted",
            EventKind::HandedOver { .. } => "handed_over",
            EventKind::SupplementRequested { .. } => "supplement_requested",
            EventKind::SupplementReceived => "supplement_received",
            EventKind::FinancialObligationRequested => "financial_obligation_requested",
            EventKind::FinancialObligationFulfilled => "financial_obligation_fulfilled",
            EventKind::ConsultationRequested { .. } => "consultation_requested",
            EventKind::ConsultationAnswered { .. } => "consultation_answered",
            EventKind::PauseStarted { .. } => "pause_started",
            EventKind::PauseEnded { .. } => "pause_ended",
            EventKind::Extended { .. } => "extended",
            EventKind::Withdrawn { .. } => "withdrawn",
            EventKind::Stopped { .. } => "stopped",
            EventKind::Rejected { .. } => "rejected",
            EventKind::Resolved => "resolved",
            EventKind::Returned => "returned",
        }
    }

    /// Whether the event ends the clock (resolved, rejected, stopped, withdrawn).
    pub fn is_finish(&self) -> bool {
        matches!(
            self,
            EventKind::Resolved
                | EventKind::Rejected { .. }
                | EventKind::Stopped { .. }
                | EventKind::Withdrawn { .. }
        )
    }
}

/// One event about one file, as the source sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique from the source; the idempotency key.
    pub id: EventId,
    /// The file it concerns.
    pub file_id: FileId,
    /// When it happened (event time).
    pub occurred_at: DateTime<Utc>,
    /// The pushing system.
    pub source: SourceId,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// Whether two events say the same thing: equal in everything but their `source`, so an
    /// event relayed by a second system (the national portal) is a duplicate, not a conflict.
    pub fn same_content(&self, other: &Event) -> bool {
        self.id == other.id
            && self.file_id == other.file_id
            && self.occurred_at == other.occurred_at
            && self.kind == other.kind
    }

    /// The key that orders a file's events: event time, then lifecycle rank, then event id.
    pub fn order_key(&self) -> (DateTime<Utc>, u8, &EventId) {
        (self.occurred_at, self.kind.lifecycle_rank(), &self.id)
    }
}

/// An event with the instant the service made it durable (server time, passed in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The event as sent.
    pub event: Event,
    /// When the service recorded it; used to detect backdating and changes to finished files.
    pub recorded_at: DateTime<Utc>,
}

/// What inserting an event into a history did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// New event, now part of the history.
    Accepted,
    /// The same event id with the same content (whatever its source) was already there:
    /// nothing changed.
    Duplicate,
    /// The same event id with different content: refused, the stored event is kept.
    Conflict {
        /// The event already stored under that id.
        stored: Box<Event>,
    },
}

/// An event addressed to a different file than the history's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("event {event} is for file {event_file}, not {history_file}")]
pub struct WrongFile {
    /// The event id.
    pub event: EventId,
    /// The file the event names.
    pub event_file: FileId,
    /// The file of the history.
    pub history_file: FileId,
}

/// All events of one file, deduplicated by event id, in event-time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHistory {
    file_id: FileId,
    by_id: BTreeMap<EventId, RecordedEvent>,
}

impl FileHistory {
    /// An empty history for `file_id`.
    pub fn new(file_id: FileId) -> Self {
        Self {
            file_id,
            by_id: BTreeMap::new(),
        }
    }

    /// The file.
    pub fn file_id(&self) -> &FileId {
        &self.file_id
    }

    /// Adds an event unless its id is known.
    ///
    /// # Errors
    /// [`WrongFile`] if the event names another file.
    pub fn insert(&mut self, recorded: RecordedEvent) -> Result<InsertOutcome, WrongFile> {
        if recorded.event.file_id != self.file_id {
            return Err(WrongFile {
                event: recorded.event.id.clone(),
                event_file: recorded.event.file_id.clone(),
                history_file: self.file_id.clone(),
            });
        }
        if let Some(stored) = self.by_id.get(&recorded.event.id) {
            if stored.event.same_content(&recorded.event) {
                return Ok(InsertOutcome::Duplicate);
            }
            return Ok(InsertOutcome::Conflict {
                stored: Box::new(stored.event.clone()),
            });
        }
        self.by_id.insert(recorded.event.id.clone(), recorded);
        Ok(InsertOutcome::Accepted)
    }

    /// Whether the history has an event with `id`.
    pub fn contains(&self, id: &EventId) -> bool {
        self.by_id.contains_key(id)
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The events in event-time order (ties: lifecycle rank, then event id).
    pub fn ordered(&self) -> Vec<&RecordedEvent> {
        let mut events: Vec<&RecordedEvent> = self.by_id.values().collect();
        events.sort_by(|a, b| a.event.order_key().cmp(&b.event.order_key()));
        events
    }

    /// The newest event time in the history.
    pub fn newest(&self) -> Option<DateTime<Utc>> {
        self.by_id.values().map(|r| r.event.occurred_at).max()
    }
}
