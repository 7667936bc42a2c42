//! Stored alerts: one record per alert, keyed by its server-wide sequence number, written in
//! the same atomic batch as the fold that decided it; and the identities a file has emitted.

use chrono::{DateTime, Utc};
use dunghan_domain::alert::{AlertKind, Severity};
use dunghan_domain::rules::Rule;
use dunghan_domain::{FileId, OfficerId, StepCode, UnitId};
use prost::Message;

use super::keys::{self, Kind};
use super::state::{StateBatch, Store, StoreError};
use crate::proto::storage::v1 as pb;

/// One stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// Server-wide increasing sequence number.
    pub sequence: u64,
    /// The file.
    pub file_id: FileId,
    /// What the condition is (for a retraction: the kind retracted).
    pub kind: AlertKind,
    /// The step, for step alerts.
    pub step: Option<StepCode>,
    /// The occurrence key (a rule's event id), empty when the kind occurs once per file.
    pub key: String,
    /// How urgent it is.
    pub severity: Severity,
    /// The due time in question.
    pub due_at: Option<DateTime<Utc>>,
    /// When the condition began to hold.
    pub fired_at: DateTime<Utc>,
    /// When the service emitted the alert.
    pub recorded_at: DateTime<Utc>,
    /// The receiving unit and its ancestors at receipt, unit first.
    pub unit_path: Vec<UnitId>,
    /// The officer holding the file (or responsible for the step) when it was emitted.
    pub officer: Option<OfficerId>,
    /// What happened, in words.
    pub detail: String,
    /// For a retraction: the sequence of the alert it retracts.
    pub retracts: Option<u64>,
}

/// An alert identity a file has emitted and not retracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmittedAlert {
    /// The kind.
    pub kind: AlertKind,
    /// The step, for step alerts.
    pub step: Option<StepCode>,
    /// The occurrence key.
    pub key: String,
    /// The sequence of the alert that announced it.
    pub sequence: u64,
}

impl Store {
    /// Stored alerts with a sequence greater than `after`, in sequence order, at most `limit`.
    ///
    /// # Errors
    /// [`StoreError`] on engine failure or a corrupt record.
    pub fn alerts_after(&self, after: u64, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let start = keys::alert(after.saturating_add(1));
        let end = keys::prefix_end(Kind::Alert);
        self.range(start, end)
            .take(limit)
            .map(|item| {
                let (key, value) = item?;
                decode_alert(&key, &value)
            })
            .collect()
    }

    /// The sequence of the last stored alert (0 if none).
    ///
    /// # Errors
    /// [`StoreError`] on engine failure or a corrupt key.
    pub fn last_alert_sequence(&self) -> Result<u64, StoreError> {
        let start = keys::alert(0);
        let end = keys::prefix_end(Kind::Alert);
        match self.range(start, end).next_back() {
            None => Ok(0),
            Some(item) => {
                let (key, _) = item?;
                keys::parse_alert(&key).ok_or_else(|| StoreError::Corrupt {
                    key: key.escape_ascii().to_string(),
                    reason: "bad alert key".to_owned(),
                })
            }
        }
    }
}

impl StateBatch {
    /// Stores an alert under its sequence.
    pub fn put_alert(&mut self, record: &AlertRecord) {
        self.put_raw(
            keys::alert(record.sequence),
            encode_alert(record).encode_to_vec(),
        );
    }
}

/// The stored kind of a domain alert kind.
pub(crate) fn kind_to_pb(kind: AlertKind) -> pb::StoredAlertKind {
    match kind {
        AlertKind::StepDueSoon => pb::StoredAlertKind::StepDueSoon,
        AlertKind::StepOverdue => pb::StoredAlertKind::StepOverdue,
        AlertKind::FileDueSoon => pb::StoredAlertKind::FileDueSoon,
        AlertKind::FileOverdue => pb::StoredAlertKind::FileOverdue,
        AlertKind::RuleBroken(Rule::SecondSupplementRequest) => {
            pb::StoredAlertKind::SecondSupplementRequest
        }
        AlertKind::RuleBroken(Rule::LateSupplementRequest) => {
            pb::StoredAlertKind::LateSupplementRequest
        }
        AlertKind::RuleBroken(Rule::NoTimelyExtension) => pb::StoredAlertKind::LateWithoutExtension,
        AlertKind::RuleBroken(Rule::SecondExtension) => pb::StoredAlertKind::SecondExtension,
        AlertKind::RuleBroken(Rule::RepeatedHandback) => pb::StoredAlertKind::HandedBack,
        AlertKind::RuleBroken(Rule::AppointmentInflation) => {
            pb::StoredAlertKind::AppointmentInflated
        }
        AlertKind::RuleBroken(Rule::AlteredRecord) => pb::StoredAlertKind::BackdatedEvent,
        AlertKind::RuleBroken(Rule::LateConsultationAnswer) => {
            pb::StoredAlertKind::LateConsultationAnswer
        }
        AlertKind::RuleBroken(Rule::RejectionAfterDue) => pb::StoredAlertKind::RejectionAfterDue,
    }
}

/// The domain alert kind of a stored kind (`None` for retraction, conflict or unspecified).
pub(crate) fn kind_from_pb(kind: pb::StoredAlertKind) -> Option<AlertKind> {
    Some(match kind {
        pb::StoredAlertKind::StepDueSoon => AlertKind::StepDueSoon,
        pb::StoredAlertKind::StepOverdue => AlertKind::StepOverdue,
        pb::StoredAlertKind::FileDueSoon => AlertKind::FileDueSoon,
        pb::StoredAlertKind::FileOverdue => AlertKind::FileOverdue,
        pb::StoredAlertKind::SecondSupplementRequest => {
            AlertKind::RuleBroken(Rule::SecondSupplementRequest)
        }
        pb::StoredAlertKind::LateSupplementRequest => {
            AlertKind::RuleBroken(Rule::LateSupplementRequest)
        }
        pb::StoredAlertKind::LateWithoutExtension => AlertKind::RuleBroken(Rule::NoTimelyExtension),
        pb::StoredAlertKind::SecondExtension => AlertKind::RuleBroken(Rule::SecondExtension),
        pb::StoredAlertKind::HandedBack => AlertKind::RuleBroken(Rule::RepeatedHandback),
        pb::StoredAlertKind::AppointmentInflated => {
            AlertKind::RuleBroken(Rule::AppointmentInflation)
        }
        pb::StoredAlertKind::BackdatedEvent | pb::StoredAlertKind::FinishedFileChanged => {
            AlertKind::RuleBroken(Rule::AlteredRecord)
        }
        pb::StoredAlertKind::LateConsultationAnswer => {
            AlertKind::RuleBroken(Rule::LateConsultationAnswer)
        }
        pb::StoredAlertKind::RejectionAfterDue => AlertKind::RuleBroken(Rule::RejectionAfterDue),
        pb::StoredAlertKind::Unspecified
        | pb::StoredAlertKind::Retraction
        | pb::StoredAlertKind::EventConflict => return None,
    })
}

fn severity_to_pb(severity: Severity) -> pb::StoredSeverity {
    match severity {
        Severity::Info => pb::StoredSeverity::Info,
        Severity::Warning => pb::StoredSeverity::Warning,
        Severity::Critical => pb::StoredSeverity::Critical,
    }
}

fn ts(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn from_ts(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

fn encode_alert(record: &AlertRecord) -> pb::StoredAlert {
    let (kind, retracted_kind) = match record.retracts {
        Some(_) => (pb::StoredAlertKind::Retraction, kind_to_pb(record.kind)),
        None => (kind_to_pb(record.kind), pb::StoredAlertKind::Unspecified),
    };
    pb::StoredAlert {
        sequence: record.sequence,
        file_id: record.file_id.to_string(),
        kind: kind as i32,
        step_code: record
            .step
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        severity: severity_to_pb(record.severity) as i32,
        due_at: record.due_at.map(ts),
        fired_at: Some(ts(record.fired_at)),
        unit_id: record
            .unit_path
            .first()
            .map(ToString::to_string)
            .unwrap_or_default(),
        officer_id: record
            .officer
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        detail: record.detail.clone(),
        retracted_sequence: record.retracts.unwrap_or(0),
        event_id: String::new(),
        journal_position: 0,
        retracted_kind: retracted_kind as i32,
        occurrence_key: record.key.clone(),
        unit_path: record.unit_path.iter().map(ToString::to_string).collect(),
        recorded_at: Some(ts(record.recorded_at)),
    }
}

fn decode_alert(key: &[u8], value: &[u8]) -> Result<AlertRecord, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        key: key.escape_ascii().to_string(),
        reason: reason.to_owned(),
    };
    let stored = pb::StoredAlert::decode(value).map_err(|err| corrupt(&err.to_string()))?;
    let kind = pb::StoredAlertKind::try_from(stored.kind).map_err(|_| corrupt("bad kind"))?;
    let (kind, retracts) = if kind == pb::StoredAlertKind::Retraction {
        let retracted = pb::StoredAlertKind::try_from(stored.retracted_kind)
            .map_err(|_| corrupt("bad retracted kind"))?;
        (kind_from_pb(retracted), Some(stored.retracted_sequence))
    } else {
        (kind_from_pb(kind), None)
    };
    let kind = kind.ok_or_else(|| corrupt("alert kind has no domain meaning"))?;
    let severity =
        match pb::StoredSeverity::try_from(stored.severity).map_err(|_| corrupt("bad severity"))? {
            pb::StoredSeverity::Info | pb::StoredSeverity::Unspecified => Severity::Info,
            pb::StoredSeverity::Warning => Severity::Warning,
            pb::StoredSeverity::Critical => Severity::Critical,
        };
    let optional = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    Ok(AlertRecord {
        sequence: stored.sequence,
        file_id: FileId::new(stored.file_id.clone()).map_err(|_| corrupt("bad file id"))?,
        kind,
        step: optional(&stored.step_code).and_then(|s| StepCode::new(s).ok()),
        key: stored.occurrence_key.clone(),
        severity,
        due_at: from_ts(stored.due_at.as_ref()),
        fired_at: from_ts(stored.fired_at.as_ref()).ok_or_else(|| corrupt("no fired_at"))?,
        recorded_at: from_ts(stored.recorded_at.as_ref())
            .ok_or_else(|| corrupt("no recorded_at"))?,
        unit_path: stored
            .unit_path
            .iter()
            .filter_map(|u| UnitId::new(u.clone()).ok())
            .collect(),
        officer: optional(&stored.officer_id).and_then(|o| OfficerId::new(o).ok()),
        detail: stored.detail,
        retracts,
    })
}

/// Stored form of an emitted identity.
pub(crate) fn emitted_to_pb(emitted: &EmittedAlert) -> pb::EmittedAlert {
    pb::EmittedAlert {
        kind: kind_to_pb(emitted.kind) as i32,
        step_code: emitted
            .step
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        occurrence_key: emitted.key.clone(),
        sequence: emitted.sequence,
    }
}

/// Domain form of a stored emitted identity (`None` if its kind has no domain meaning).
pub(crate) fn emitted_from_pb(stored: &pb::EmittedAlert) -> Option<EmittedAlert> {
    let kind = kind_from_pb(pb::StoredAlertKind::try_from(stored.kind).ok()?)?;
    Some(EmittedAlert {
        kind,
        step: (!stored.step_code.is_empty())
            .then(|| StepCode::new(stored.step_code.clone()).ok())
            .flatten(),
        key: stored.occurrence_key.clone(),
        sequence: stored.sequence,
    })
}
