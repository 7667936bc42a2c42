//! The file clock: a pure fold of a file's events into a [`Judgement`] (due time, waits,
//! holder segments, finish), and the verdicts of DOMAIN.md §5.
//!
//! The fold reads the events in event-time order ([`crate::event::FileHistory::ordered`]),
//! so any order of arrival gives the same judgement. It needs the catalog in force when the
//! events happened; a file whose procedure, unit or calendar is missing is kept and marked
//! [`Standing::Unjudged`] with the reasons, and is judged once the catalog has them.
//!
//! Clock rules (DOMAIN.md §5.2), and the decisions taken where the text is silent:
//! - The clock starts at the first opening at or after receipt; after the procedure's
//!   same-day cut-off it starts at the next working day's opening.
//! - Every counting rule is reduced to a working-time budget from the clock start:
//!   working hours (N × standard day), civil code (up to the close of the N-th working day
//!   after the day the clock starts), calendar days (close of the N-th day, or of the next
//!   working day). Pauses then shift the due time by the working time they stopped.
//! - A supplement request stops the clock; when the complete dossier is back the clock
//!   restarts from zero (Decree 61/2018 Art. 19(4)). A request made after the due time has
//!   already passed does not restart the clock: a restart cannot erase a breach.
//! - Other waits stop the clock only where the procedure says so; applicant waits
//!   (supplement, financial obligation) are charged to no officer either way.
//! - At most one extension counts; the headline verdict is always against the original due.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use thiserror::Error;

use crate::calendar::{Calendar, CalendarError};
use crate::catalog::{deadline_budget, Catalog, CountingRule, DeadlineUnit, Procedure, WaitKind};
use crate::event::{Channel, EventKind, FileHistory, Holder};
use crate::ids::{
    CalendarId, EventId, FieldCode, FileId, OfficerId, ProcedureCode, StepCode, UnitId,
};
use crate::time::WorkingTime;

/// Configurable thresholds; the defaults are what a Vietnamese province expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// A step is due soon when this percentage of its allotment is used (default 75).
    pub step_due_soon_percent: u32,
    /// A file is due soon when this many standard working days are left (default 1: the
    /// last moment for an apology).
    pub file_due_soon_days: u32,
    /// An event recorded more than this after it occurred is backdated (default 24 hours).
    pub backdate_tolerance: Duration,
    /// Returns to a holder the file already left that count as passing responsibility
    /// along (default 2: A→B→A→B).
    pub handback_returns: u32,
    /// Working days after receipt within which a supplement may be requested (default 3).
    pub supplement_window_days: u32,
    /// Working days before the due time an extension must be issued (default 1).
    pub extension_notice_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            step_due_soon_percent: 75,
            file_due_soon_days: 1,
            backdate_tolerance: Duration::hours(24),
            handback_returns: 2,
            supplement_window_days: 3,
            extension_notice_days: 1,
        }
    }
}

/// The legal texts a file is judged under, chosen by its receipt date (DOMAIN.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleSet {
    /// Received up to 30/6/2025: Decree 61/2018/NĐ-CP as amended by Decree 107/2021/NĐ-CP,
    /// Circular 01/2018/TT-VPCP.
    Decree61Of2018,
    /// Received from 1/7/2025: Decree 118/2025/NĐ-CP (amended by Decree 367/2025/NĐ-CP),
    /// Circular 03/2025/TT-VPCP.
    Decree118Of2025,
}

impl RuleSet {
    /// The rule set for a file received on local date `received`.
    pub fn for_receipt(received: NaiveDate) -> RuleSet {
        match NaiveDate::from_ymd_opt(2025, 7, 1) {
            Some(switch) if received < switch => RuleSet::Decree61Of2018,
            _ => RuleSet::Decree118Of2025,
        }
    }

    /// The texts, for explanations.
    pub fn label(self) -> &'static str {
        match self {
            RuleSet::Decree61Of2018 => {
                "Nghị định 61/2018/NĐ-CP (sửa đổi bởi 107/2021/NĐ-CP), Thông tư 01/2018/TT-VPCP"
            }
            RuleSet::Decree118Of2025 => {
                "Nghị định 118/2025/NĐ-CP (sửa đổi bởi 367/2025/NĐ-CP), Thông tư 03/2025/TT-VPCP"
            }
        }
    }

    /// A short stable code, for the API and storage.
    pub fn code(self) -> &'static str {
        match self {
            RuleSet::Decree61Of2018 => "nd61-2018",
            RuleSet::Decree118Of2025 => "nd118-2025",
        }
    }
}

/// How a file's clock ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FinishKind {
    /// The result is ready (status 9).
    Resolved,
    /// Refused after appraisal.
    Rejected,
    /// Processing stopped (status 8).
    Stopped,
    /// Withdrawn by the applicant (status 7).
    Withdrawn,
}

/// The five verdicts of DOMAIN.md §5.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Finished on an earlier local date than the due date.
    Early,
    /// Finished by the due time.
    OnTime,
    /// Finished after the due time.
    Late,
    /// Open, and the due time has not passed (or the clock is stopped).
    WithinTime,
    /// Open, and the due time has passed.
    Overdue,
}

impl Verdict {
    /// Every verdict, in report order.
    pub const ALL: [Verdict; 5] = [
        Verdict::Early,
        Verdict::OnTime,
        Verdict::Late,
        Verdict::WithinTime,
        Verdict::Overdue,
    ];

    /// Whether the verdict counts as a breach (late or overdue).
    pub fn is_breach(self) -> bool {
        matches!(self, Verdict::Late | Verdict::Overdue)
    }

    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Early => "early",
            Verdict::OnTime => "on_time",
            Verdict::Late => "late",
            Verdict::WithinTime => "within_time",
            Verdict::Overdue => "overdue",
        }
    }
}

/// Why a file is not judged yet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnjudgedReason {
    /// The procedure is not in the catalog (or has no version in force on the receipt date).
    #[error("procedure {0} is not in the catalog")]
    UnknownProcedure(ProcedureCode),
    /// The receiving unit is not in the catalog.
    #[error("unit {0} is not in the catalog")]
    UnknownUnit(UnitId),
    /// The unit's calendar is not in the catalog.
    #[error("calendar {0} is not in the catalog")]
    UnknownCalendar(CalendarId),
    /// The calendar cannot place the due time (e.g. outside its horizon).
    #[error("{0}")]
    Calendar(CalendarError),
}

/// Whether and how a file counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Only pre-registered (or no event yet): the clock has not started; not counted.
    NotReceived,
    /// Refused at the desk: not counted.
    NotAccepted {
        /// The reason given.
        reason: String,
    },
    /// Received, but the catalog lacks what is needed to judge it.
    Unjudged {
        /// Every missing piece.
        reasons: Vec<UnjudgedReason>,
    },
    /// Received and judged.
    Judged,
}

/// The verdict of a file at an instant, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileVerdict {
    /// Counted, with one of the five verdicts.
    Judged(Verdict),
    /// Not counted (not received, or not accepted).
    NotCounted,
    /// Not judged yet (catalog incomplete).
    Unjudged,
}

/// A wait interval of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// What is waited for.
    pub kind: WaitKind,
    /// When the wait began.
    pub start: DateTime<Utc>,
    /// When it ended; `None` while it lasts.
    pub end: Option<DateTime<Utc>>,
    /// Whether it stops the clock for this file's procedure.
    pub stops_clock: bool,
    /// The consulted unit, for consultations.
    pub consulted: Option<UnitId>,
}

/// How a holder segment maps to the procedure's steps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StepRef {
    /// A step of the procedure.
    Planned(StepCode),
    /// Work the procedure does not plan (unknown step code, no matching unit).
    Unplanned,
}

/// One holder's time with the file: a row of the control slip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Who held the file.
    pub holder: Holder,
    /// Which step it was.
    pub step: StepRef,
    /// Handed in (received by this holder).
    pub start: DateTime<Utc>,
    /// Handed on (or the file finished); `None` while held.
    pub end: Option<DateTime<Utc>>,
    /// The event that handed the file in.
    pub event: EventId,
}

/// An extension (apology letter with a new due time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The event.
    pub event: EventId,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// The new due time.
    pub new_due: DateTime<Utc>,
}

/// A consultation of another unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consultation {
    /// The consulted unit.
    pub consulted: UnitId,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// Its own due time (from its deadline on the file's calendar), if computable.
    pub due: Option<DateTime<Utc>>,
    /// When it was answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// The requesting event.
    pub event: EventId,
}

/// How the file's clock ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// Which end.
    pub kind: FinishKind,
    /// When.
    pub at: DateTime<Utc>,
    /// The event.
    pub event: EventId,
    /// When the service recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// Something in a file's events that does not fit its state; kept and shown, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// A second `received`: ignored.
    SecondReceipt(EventId),
    /// A handover before the file was received: ignored.
    HandoverBeforeReceipt(EventId),
    /// A handover from someone who does not hold the file (applied: the source knows the
    /// actual holder).
    HandoverFromNonHolder {
        /// The event.
        event: EventId,
        /// Who the file's history says holds it.
        holder: Holder,
        /// Who the event says handed it over.
        claimed: Holder,
    },
    /// A wait ends that never began: ignored.
    WaitEndWithoutStart(EventId),
    /// A second end of the clock: ignored.
    SecondFinish(EventId),
    /// An event after the clock ended (other than `returned`): kept, ignored by the clock.
    AfterFinish(EventId),
    /// Refused at the desk after it was received: ignored.
    NotAcceptedAfterReceipt(EventId),
}

/// An event whose record time or content changes history in a suspicious way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChange {
    /// The event.
    pub event: EventId,
    /// When it says it happened.
    pub occurred_at: DateTime<Utc>,
    /// When the service recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Whether it was recorded after the file's finish was recorded.
    pub after_finish: bool,
    /// Whether it was recorded longer after it happened than the tolerance allows.
    pub backdated: bool,
}

/// The clock of the current cycle: its start, its budget and the waits that stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockLine {
    /// Start of the current cycle (after the last restart).
    pub start: DateTime<Utc>,
    /// The working-time budget of the cycle.
    pub budget: WorkingTime,
    /// Merged stopped intervals (start, end or `None` while stopped), sorted.
    pub stops: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

/// Why a verdict is what it is: everything a dashboard shows under "why".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Calendar used, and its version.
    pub calendar: Option<(CalendarId, u32)>,
    /// Rule set by receipt date.
    pub rule_set: Option<RuleSet>,
    /// Procedure version (effective date) used.
    pub procedure_version: Option<NaiveDate>,
    /// Counting rule and deadline unit.
    pub counting: Option<(CountingRule, DeadlineUnit, u32)>,
    /// The first clock start (after opening hours and cut-off).
    pub clock_started_at: Option<DateTime<Utc>>,
    /// Restarts after a complete supplement (new clock starts).
    pub restarts: Vec<DateTime<Utc>>,
    /// Budget of the current cycle.
    pub budget: Option<WorkingTime>,
    /// The waits, each with whether it stopped the clock.
    pub waits: Vec<Wait>,
    /// The source's appointment.
    pub appointment: Option<DateTime<Utc>>,
    /// The computed (original) due time.
    pub due: Option<DateTime<Utc>>,
    /// The extended due time, if an extension was issued.
    pub extended_due: Option<DateTime<Utc>>,
}

/// A file's state: the fold of its events in the catalog's context.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// The file.
    pub file_id: FileId,
    /// Whether and how it counts.
    pub standing: Standing,
    /// Procedure applied for.
    pub procedure_code: Option<ProcedureCode>,
    /// The procedure version in force at receipt.
    pub procedure: Option<Procedure>,
    /// Its field.
    pub field: Option<FieldCode>,
    /// Channel.
    pub channel: Option<Channel>,
    /// The receiving holder.
    pub receiving: Option<Holder>,
    /// When submitted online (pre-registration).
    pub submitted_at: Option<DateTime<Utc>>,
    /// When the complete dossier was received.
    pub received_at: Option<DateTime<Utc>>,
    /// The calendar the file is judged on (the receiving unit's).
    pub calendar: Option<Arc<Calendar>>,
    /// The current cycle's clock, when judged.
    pub clock: Option<ClockLine>,
    /// The explanation.
    pub explanation: Explanation,
    /// Holder segments in order.
    pub segments: Vec<Segment>,
    /// Every wait, in order of start.
    pub waits: Vec<Wait>,
    /// Supplement requests (event, instant), in order.
    pub supplement_requests: Vec<(EventId, DateTime<Utc>)>,
    /// Extensions in order; only the first counts.
    pub extensions: Vec<Extension>,
    /// Consultations.
    pub consultations: Vec<Consultation>,
    /// How the clock ended.
    pub finish: Option<Finish>,
    /// When the result was handed over.
    pub returned_at: Option<DateTime<Utc>>,
    /// Events that do not fit.
    pub anomalies: Vec<Anomaly>,
    /// Backdated events and changes to a finished file.
    pub record_changes: Vec<RecordChange>,
    /// Number of events folded.
    pub n_events: usize,
}

/// Folds a file's history into its judgement, in the catalog's context.
///
/// Never fails: missing catalog data makes the file [`Standing::Unjudged`].
pub fn judge(catalog: &Catalog, policy: &Policy, history: &FileHistory) -> Judgement {
    let mut judgement = Judgement {
        file_id: history.file_id().clone(),
        standing: Standing::NotReceived,
        procedure_code: None,
        procedure: None,
        field: None,
        channel: None,
        receiving: None,
        submitted_at: None,
        received_at: None,
        calendar: None,
        clock: None,
        explanation: Explanation {
            calendar: None,
            rule_set: None,
            procedure_version: None,
            counting: None,
            clock_started_at: None,
            restarts: Vec::new(),
            budget: None,
            waits: Vec::new(),
            appointment: None,
            due: None,
            extended_due: None,
        },
        segments: Vec::new(),
        waits: Vec::new(),
        supplement_requests: Vec::new(),
        extensions: Vec::new(),
        consultations: Vec::new(),
        finish: None,
        returned_at: None,
        anomalies: Vec::new(),
        record_changes: Vec::new(),
        n_events: history.len(),
    };
    let ordered = history.ordered();
    let mut not_accepted: Option<String> = None;
    let mut consultation_deadlines = Vec::new();
    for recorded in &ordered {
        let event = &recorded.event;
        let at = event.occurred_at;
        if let Some(finish) = &judgement.finish {
            if !matches!(event.kind, EventKind::Returned) && event.id != finish.event {
                if event.kind.is_finish() {
                    judgement
                        .anomalies
                        .push(Anomaly::SecondFinish(event.id.clone()));
                } else {
                    judgement
                        .anomalies
                        .push(Anomaly::AfterFinish(event.id.clone()));
                }
                continue;
            }
        }
        match &event.kind {
            EventKind::Submitted { procedure, channel } => {
                judgement.submitted_at.get_or_insert(at);
                judgement
                    .procedure_code
                    .get_or_insert_with(|| procedure.clone());
                judgement.channel.get_or_insert(*channel);
            }
            EventKind::Received {
                procedure,
                channel,
                holder,
                appointment,
            } => {
                if judgement.received_at.is_some() {
                    judgement
                        .anomalies
                        .push(Anomaly::SecondReceipt(event.id.clone()));
                    continue;
                }
                judgement.received_at = Some(at);
                judgement.procedure_code = Some(procedure.clone());
                judgement.channel = Some(*channel);
                judgement.receiving = Some(holder.clone());
                judgement.explanation.appointment = *appointment;
                judgement.segments.push(Segment {
                    holder: holder.clone(),
                    step: StepRef::Unplanned,
                    start: at,
                    end: None,
                    event: event.id.clone(),
                });
            }
            EventKind::NotAccepted { reason } => {
                if judgement.received_at.is_some() {
                    judgement
                        .anomalies
                        .push(Anomaly::NotAcceptedAfterReceipt(event.id.clone()));
                } else if not_accepted.is_none() {
                    not_accepted = Some(reason.clone());
                }
            }
            EventKind::HandedOver { from, to, step } => {
                let Some(current) = judgement.segments.last_mut() else {
                    judgement
                        .anomalies
                        .push(Anomaly::HandoverBeforeReceipt(event.id.clone()));
                    continue;
                };
                if !holds(&current.holder, from) {
                    judgement.anomalies.push(Anomaly::HandoverFromNonHolder {
                        event: event.id.clone(),
                        holder: current.holder.clone(),
                        claimed: from.clone(),
                    });
                }
                current.end = Some(at);
                let step = step
                    .clone()
                    .map(StepRef::Planned)
                    .unwrap_or(StepRef::Unplanned);
                judgement.segments.push(Segment {
                    holder: to.clone(),
                    step,
                    start: at,
                    end: None,
                    event: event.id.clone(),
                });
            }
            EventKind::SupplementRequested { .. } => {
                judgement.supplement_requests.push((event.id.clone(), at));
                open_wait(&mut judgement.waits, WaitKind::Supplement, at, None);
            }
            EventKind::SupplementReceived => {
                close_wait(&mut judgement, WaitKind::Supplement, at, None, &event.id);
            }
            EventKind::FinancialObligationRequested => {
                open_wait(
                    &mut judgement.waits,
                    WaitKind::FinancialObligation,
                    at,
                    None,
                );
            }
            EventKind::FinancialObligationFulfilled => {
                close_wait(
                    &mut judgement,
                    WaitKind::FinancialObligation,
                    at,
                    None,
                    &event.id,
                );
            }
            EventKind::ConsultationRequested {
                consulted,
                deadline,
            } => {
                judgement.consultations.push(Consultation {
                    consulted: consulted.clone(),
                    requested_at: at,
                    due: None,
                    answered_at: None,
                    event: event.id.clone(),
                });
                consultation_deadlines.push(*deadline);
                open_wait(
                    &mut judgement.waits,
                    WaitKind::Consultation,
                    at,
                    Some(consulted.clone()),
                );
            }
            EventKind::ConsultationAnswered { consulted } => {
                if let Some(consultation) = judgement
                    .consultations
                    .iter_mut()
                    .find(|c| &c.consulted == consulted && c.answered_at.is_none())
                {
                    consultation.answered_at = Some(at);
                }
                close_wait(
                    &mut judgement,
                    WaitKind::Consultation,
                    at,
                    Some(consulted),
                    &event.id,
                );
            }
            EventKind::PauseStarted { wait } => {
                open_wait(&mut judgement.waits, *wait, at, None);
            }
            EventKind::PauseEnded { wait } => {
                close_wait(&mut judgement, *wait, at, None, &event.id);
            }
            EventKind::Extended { new_due, .. } => judgement.extensions.push(Extension {
                event: event.id.clone(),
                issued_at: at,
                new_due: *new_due,
            }),
            EventKind::Withdrawn { .. }
            | EventKind::Stopped { .. }
            | EventKind::Rejected { .. }
            | EventKind::Resolved => {
                let kind = match &event.kind {
                    EventKind::Withdrawn { .. } => FinishKind::Withdrawn,
                    EventKind::Stopped { .. } => FinishKind::Stopped,
                    EventKind::Rejected { .. } => FinishKind::Rejected,
                    _ => FinishKind::Resolved,
                };
                if let Some(current) = judgement.segments.last_mut() {
                    current.end = Some(at);
                }
                judgement.finish = Some(Finish {
                    kind,
                    at,
                    event: event.id.clone(),
                    recorded_at: recorded.recorded_at,
                });
            }
            EventKind::Returned => {
                judgement.returned_at.get_or_insert(at);
            }
        }
    }
    record_changes(&mut judgement, policy, &ordered);
    if judgement.received_at.is_none() {
        judgement.standing = match not_accepted {
            Some(reason) => Standing::NotAccepted { reason },
            None => Standing::NotReceived,
        };
        return judgement;
    }
    resolve_catalog(&mut judgement, catalog);
    if judgement.standing == Standing::Judged {
        if let Err(err) = run_clock(&mut judgement, &consultation_deadlines) {
            judgement.standing = Standing::Unjudged {
                reasons: vec![UnjudgedReason::Calendar(err)],
            };
        }
    }
    judgement.explanation.waits = judgement.waits.clone();
    judgement
}

impl Judgement {
    /// The original due time (computed); `None` if not judged or the clock is stopped.
    pub fn due(&self) -> Option<DateTime<Utc>> {
        self.explanation.due
    }

    /// The due time after the one counted extension.
    pub fn extended_due(&self) -> Option<DateTime<Utc>> {
        self.explanation.extended_due
    }

    /// The headline verdict at `now`, against the original due time.
    ///
    /// A finished file's verdict does not depend on `now`.
    pub fn verdict_at(&self, now: DateTime<Utc>) -> FileVerdict {
        self.verdict_against(self.due(), now)
    }

    /// The verdict at `now` against the extended due time (the original if none).
    pub fn extended_verdict_at(&self, now: DateTime<Utc>) -> FileVerdict {
        self.verdict_against(self.extended_due().or(self.due()), now)
    }

    /// Whether the clock has ended.
    pub fn is_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// Whether the file is counted and judged.
    pub fn is_judged(&self) -> bool {
        self.standing == Standing::Judged
    }

    /// Lateness at `now`: working time from the due time to the finish (or `now` while
    /// open), less the time waiting for the applicant or stopped by the procedure.
    /// Zero for a file that is not late.
    pub fn lateness_at(&self, now: DateTime<Utc>) -> WorkingTime {
        let (Some(calendar), Some(due)) = (&self.calendar, self.due()) else {
            return WorkingTime::ZERO;
        };
        let end = self.finish.as_ref().map_or(now, |finish| finish.at);
        if end <= due {
            return WorkingTime::ZERO;
        }
        calendar
            .elapsed(due, end)
            .saturating_sub(self.excluded_time(calendar, due, end))
    }

    /// Working time in `[from, to)` that is charged to no officer: applicant waits and waits
    /// that stop the clock.
    pub fn excluded_time(
        &self,
        calendar: &Calendar,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> WorkingTime {
        self.excluded_spans()
            .iter()
            .map(|(start, end)| {
                let start = (*start).max(from);
                let end = end.map_or(to, |end| end.min(to));
                calendar.elapsed(start, end)
            })
            .sum()
    }

    /// The waits charged to no officer (applicant waits and waits that stop the clock),
    /// merged into sorted disjoint intervals.
    pub(crate) fn excluded_spans(&self) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        merge(
            self.waits
                .iter()
                .filter(|wait| wait.stops_clock || wait.kind.is_applicant_time())
                .map(|wait| (wait.start, wait.end)),
        )
    }

    /// The holder at `instant` (the segment with `start <= instant < end`; the last one
    /// if `instant` is at or after its start).
    pub fn holder_at(&self, instant: DateTime<Utc>) -> Option<&Segment> {
        self.segments
            .iter()
            .rev()
            .find(|segment| segment.start <= instant)
            .or_else(|| self.segments.first())
    }

    /// The current holder of an open file.
    pub fn current_holder(&self) -> Option<&Holder> {
        if self.is_finished() {
            return None;
        }
        self.segments.last().map(|segment| &segment.holder)
    }

    /// The local date of `instant` on the file's calendar.
    pub fn local_date(&self, instant: DateTime<Utc>) -> Option<NaiveDate> {
        self.calendar.as_ref().map(|c| c.local_date(instant))
    }

    fn verdict_against(&self, due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> FileVerdict {
        match self.standing {
            Standing::NotReceived | Standing::NotAccepted { .. } => return FileVerdict::NotCounted,
            Standing::Unjudged { .. } => return FileVerdict::Unjudged,
            Standing::Judged => {}
        }
        let Some(calendar) = &self.calendar else {
            return FileVerdict::Unjudged;
        };
        let verdict = match (&self.finish, due) {
            (Some(finish), Some(due)) if finish.at > due => Verdict::Late,
            (Some(finish), Some(due))
                if calendar.local_date(finish.at) < calendar.local_date(due) =>
            {
                Verdict::Early
            }
            (Some(_), _) => Verdict::OnTime,
            (None, Some(due)) if now > due => Verdict::Overdue,
            (None, _) => Verdict::WithinTime,
        };
        FileVerdict::Judged(verdict)
    }
}

impl ClockLine {
    /// Counted (running) working time in `[from, to)`.
    pub fn counted(
        &self,
        calendar: &Calendar,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> WorkingTime {
        if to <= from {
            return WorkingTime::ZERO;
        }
        let stopped: WorkingTime = self
            .stops
            .iter()
            .map(|(start, end)| {
                let start = (*start).max(from);
                let end = end.map_or(to, |end| end.min(to));
                calendar.elapsed(start, end)
            })
            .sum();
        calendar.elapsed(from, to).saturating_sub(stopped)
    }

    /// The instant at which `amount` of counted working time has run after `from`;
    /// `None` if the clock is stopped for good before that (an open wait).
    ///
    /// # Errors
    /// [`CalendarError`] if the calendar cannot place it.
    pub fn instant_after(
        &self,
        calendar: &Calendar,
        from: DateTime<Utc>,
        amount: WorkingTime,
    ) -> Result<Option<DateTime<Utc>>, CalendarError> {
        let mut cursor = from;
        let mut remaining = amount;
        for (stop_start, stop_end) in &self.stops {
            if let Some(end) = stop_end {
                if *end <= cursor {
                    continue;
                }
            }
            if *stop_start > cursor {
                let running = calendar.elapsed(cursor, *stop_start);
                if running >= remaining {
                    return calendar.due_at(cursor, remaining).map(Some);
                }
                remaining = remaining.saturating_sub(running);
            }
            match stop_end {
                None => return Ok(None),
                Some(end) => cursor = cursor.max(*end),
            }
        }
        calendar.due_at(cursor, remaining).map(Some)
    }
}

fn holds(current: &Holder, claimed: &Holder) -> bool {
    current.unit == claimed.unit
        && match (&current.officer, &claimed.officer) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

fn open_wait(waits: &mut Vec<Wait>, kind: WaitKind, at: DateTime<Utc>, consulted: Option<UnitId>) {
    let already_open = waits
        .iter()
        .any(|w| w.kind == kind && w.end.is_none() && w.consulted == consulted);
    if already_open {
        return;
    }
    waits.push(Wait {
        kind,
        start: at,
        end: None,
        stops_clock: false,
        consulted,
    });
}

fn close_wait(
    judgement: &mut Judgement,
    kind: WaitKind,
    at: DateTime<Utc>,
    consulted: Option<&UnitId>,
    event: &EventId,
) {
    let open = judgement.waits.iter_mut().find(|w| {
        w.kind == kind
            && w.end.is_none()
            && (consulted.is_none() || w.consulted.as_ref() == consulted)
    });
    match open {
        Some(wait) => wait.end = Some(at),
        None => judgement
            .anomalies
            .push(Anomaly::WaitEndWithoutStart(event.clone())),
    }
}

fn record_changes(
    judgement: &mut Judgement,
    policy: &Policy,
    ordered: &[&crate::event::RecordedEvent],
) {
    let finish_recorded = judgement
        .finish
        .as_ref()
        .map(|f| (f.event.clone(), f.recorded_at));
    for recorded in ordered {
        let event = &recorded.event;
        let backdated = recorded.recorded_at - event.occurred_at > policy.backdate_tolerance;
        let after_finish = match &finish_recorded {
            Some((finish_event, finish_recorded_at)) => {
                &event.id != finish_event
                    && !matches!(event.kind, EventKind::Returned)
                    && recorded.recorded_at > *finish_recorded_at
            }
            None => false,
        };
        if backdated || after_finish {
            judgement.record_changes.push(RecordChange {
                event: event.id.clone(),
                occurred_at: event.occurred_at,
                recorded_at: recorded.recorded_at,
                after_finish,
                backdated,
            });
        }
    }
}

/// Finds the procedure, unit and calendar in force at receipt; marks the file unjudged
/// with every missing piece.
fn resolve_catalog(judgement: &mut Judgement, catalog: &Catalog) {
    let (Some(received_at), Some(receiving), Some(code)) = (
        judgement.received_at,
        judgement.receiving.clone(),
        judgement.procedure_code.clone(),
    ) else {
        return;
    };
    let mut reasons = Vec::new();
    // The unit is looked up on the UTC date first to find its calendar, then again on the
    // calendar's local date, which is the date its versions are keyed by.
    let utc_date = received_at.date_naive();
    let calendar = match catalog.unit_at(&receiving.unit, utc_date).or_else(|| {
        catalog
            .units
            .get(&receiving.unit)
            .and_then(|versions| versions.latest())
    }) {
        None => {
            reasons.push(UnjudgedReason::UnknownUnit(receiving.unit.clone()));
            None
        }
        Some(unit) => match catalog.calendar(&unit.calendar) {
            None => {
                reasons.push(UnjudgedReason::UnknownCalendar(unit.calendar.clone()));
                None
            }
            Some(calendar) => Some(calendar.clone()),
        },
    };
    let local_date = calendar
        .as_ref()
        .map_or(utc_date, |c| c.local_date(received_at));
    match catalog.procedure_at(&code, local_date) {
        None => reasons.push(UnjudgedReason::UnknownProcedure(code)),
        Some((version, procedure)) => {
            judgement.explanation.procedure_version = Some(version);
            judgement.field = Some(procedure.field.clone());
            judgement.procedure = Some(procedure.clone());
        }
    }
    judgement.explanation.rule_set = Some(RuleSet::for_receipt(local_date));
    if let Some(calendar) = &calendar {
        judgement.explanation.calendar = Some((calendar.id().clone(), calendar.version()));
    }
    judgement.calendar = calendar;
    judgement.standing = if reasons.is_empty() {
        Standing::Judged
    } else {
        Standing::Unjudged { reasons }
    };
}

/// Computes the clock: start, restarts after supplements, stops, due and extended due;
/// assigns steps to segments and consultation due times.
fn run_clock(
    judgement: &mut Judgement,
    consultation_deadlines: &[crate::catalog::Deadline],
) -> Result<(), CalendarError> {
    let (Some(calendar), Some(procedure), Some(received_at)) = (
        judgement.calendar.clone(),
        judgement.procedure.clone(),
        judgement.received_at,
    ) else {
        return Ok(());
    };
    for wait in &mut judgement.waits {
        wait.stops_clock = procedure.stops_clock(wait.kind);
    }
    assign_steps(&mut judgement.segments, &procedure);
    judgement.explanation.counting = Some((
        procedure.counting,
        procedure.deadline.unit,
        procedure.deadline.amount,
    ));

    let first_start = clock_start(&calendar, procedure.cutoff, received_at)?;
    judgement.explanation.clock_started_at = Some(first_start);
    let mut cycle_start = first_start;
    let finish_at = judgement.finish.as_ref().map(|f| f.at);
    let supplements: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = judgement
        .waits
        .iter()
        .filter(|w| w.kind == WaitKind::Supplement)
        .map(|w| (w.start, w.end))
        .collect();
    let mut line = cycle_line(&calendar, &procedure, &judgement.waits, cycle_start)?;
    for (requested_at, back_at) in supplements {
        if requested_at < cycle_start || finish_at.is_some_and(|f| requested_at >= f) {
            continue;
        }
        let due_then = line.instant_after(&calendar, cycle_start, line.budget)?;
        let before_breach = due_then.is_none_or(|due| requested_at < due);
        if !before_breach {
            continue;
        }
        match back_at {
            Some(back_at) if finish_at.is_none_or(|f| back_at < f) => {
                cycle_start = clock_start(&calendar, procedure.cutoff, back_at)?;
                judgement.explanation.restarts.push(cycle_start);
                line = cycle_line(&calendar, &procedure, &judgement.waits, cycle_start)?;
            }
            // Still waiting (or finished while waiting): the clock is stopped by the open
            // wait, which `cycle_line` already holds.
            _ => break,
        }
    }
    let due = line.instant_after(&calendar, cycle_start, line.budget)?;
    judgement.explanation.budget = Some(line.budget);
    judgement.explanation.due = due;
    judgement.explanation.extended_due = judgement.extensions.first().map(|e| e.new_due);
    judgement.clock = Some(line);
    for (consultation, deadline) in judgement
        .consultations
        .iter_mut()
        .zip(consultation_deadlines)
    {
        let start = calendar.next_opening(consultation.requested_at)?;
        let budget = budget_from(&calendar, *deadline, CountingRule::WorkingHours, start)?;
        consultation.due = Some(calendar.due_at(start, budget)?);
    }
    Ok(())
}

/// The deadline rules of a procedure that place a due time: what the receipt slip needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueRule {
    /// The published deadline.
    pub deadline: crate::catalog::Deadline,
    /// How working days are counted.
    pub counting: CountingRule,
    /// Same-day cut-off, local time.
    pub cutoff: Option<chrono::NaiveTime>,
}

impl DueRule {
    /// The rules of `procedure`.
    pub fn of(procedure: &Procedure) -> DueRule {
        DueRule {
            deadline: procedure.deadline,
            counting: procedure.counting,
            cutoff: procedure.cutoff,
        }
    }
}

/// A due time placed from a receipt, with how it was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTime {
    /// When the clock starts (next opening, or next working day after the cut-off).
    pub clock_start: DateTime<Utc>,
    /// The working-time budget the deadline stands for from that start.
    pub budget: WorkingTime,
    /// The due time, with no pauses.
    pub due: DateTime<Utc>,
}

/// Places the due time of a dossier complete at `received_at`, with no pauses: the
/// computation the receipt slip prints and `dunghan calendar due` shows.
///
/// # Errors
/// [`CalendarError`] if the calendar cannot place it (outside its horizon).
pub fn due_time(
    calendar: &Calendar,
    rule: DueRule,
    received_at: DateTime<Utc>,
) -> Result<DueTime, CalendarError> {
    let clock_start = clock_start(calendar, rule.cutoff, received_at)?;
    let budget = budget_from(calendar, rule.deadline, rule.counting, clock_start)?;
    let due = calendar.due_at(clock_start, budget)?;
    Ok(DueTime {
        clock_start,
        budget,
        due,
    })
}

/// The clock start for a dossier complete at `at`: the next opening, or the next working
/// day's opening when received after the procedure's cut-off.
fn clock_start(
    calendar: &Calendar,
    cutoff: Option<chrono::NaiveTime>,
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>, CalendarError> {
    if let Some(cutoff) = cutoff {
        let local = calendar.local_time(at);
        if local.time() > cutoff && calendar.is_working_day(local.date()) {
            let next_day = calendar.nth_working_day_after(local.date(), 1)?;
            if let Some(opening) = calendar.opening_of_day(next_day) {
                return Ok(opening);
            }
        }
    }
    calendar.next_opening(at)
}

/// The working-time budget of a deadline counted from the clock start `start`.
fn budget_from(
    calendar: &Calendar,
    deadline: crate::catalog::Deadline,
    counting: CountingRule,
    start: DateTime<Utc>,
) -> Result<WorkingTime, CalendarError> {
    if let (CountingRule::WorkingHours, Some(budget)) =
        (counting, deadline_budget(deadline, calendar.standard_day()))
    {
        return Ok(budget);
    }
    let start_date = calendar.local_date(start);
    let last_day = match deadline.unit {
        DeadlineUnit::CalendarDays => {
            let day = start_date
                .checked_add_days(chrono::Days::new(u64::from(deadline.amount)))
                .ok_or_else(|| CalendarError::OutOfRange {
                    calendar: calendar.id().clone(),
                    what: format!("{start_date} + {} days", deadline.amount),
                })?;
            calendar.nth_working_day_after(day, 0)?
        }
        DeadlineUnit::WorkingDays | DeadlineUnit::WorkingHours => {
            calendar.nth_working_day_after(start_date, deadline.amount)?
        }
    };
    let close = calendar
        .close_of_day(last_day)
        .ok_or_else(|| CalendarError::NoOpenHours {
            calendar: calendar.id().clone(),
            after: start,
        })?;
    Ok(calendar.elapsed(start, close))
}

/// The clock line of a cycle starting at `cycle_start`: the budget and the merged stops
/// (waits that stop the clock and do not end before the cycle starts).
fn cycle_line(
    calendar: &Calendar,
    procedure: &Procedure,
    waits: &[Wait],
    cycle_start: DateTime<Utc>,
) -> Result<ClockLine, CalendarError> {
    let budget = budget_from(
        calendar,
        procedure.deadline,
        procedure.counting,
        cycle_start,
    )?;
    let stops = merge(
        waits
            .iter()
            .filter(|w| w.stops_clock && w.end.is_none_or(|end| end > cycle_start))
            .map(|w| (w.start.max(cycle_start), w.end)),
    );
    Ok(ClockLine {
        start: cycle_start,
        budget,
        stops,
    })
}

/// Merges intervals (end `None` = still open) into sorted disjoint ones.
pub(crate) fn merge(
    intervals: impl Iterator<Item = (DateTime<Utc>, Option<DateTime<Utc>>)>,
) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let mut sorted: Vec<_> = intervals.collect();
    sorted.sort();
    let mut merged: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
    for (start, end) in sorted {
        if let Some(last) = merged.last_mut() {
            match last.1 {
                None => continue,
                Some(last_end) if start <= last_end => {
                    last.1 = end.map(|end| end.max(last_end));
                    continue;
                }
                Some(_) => {}
            }
        }
        merged.push((start, end));
    }
    merged
}

/// Gives each segment its step: the step code in the handover, else the step whose unit
/// matches the holder's unit (the first not yet passed), else unplanned. The receipt
/// segment is the procedure's first step.
fn assign_steps(segments: &mut [Segment], procedure: &Procedure) {
    let mut last_index = 0;
    for (position, segment) in segments.iter_mut().enumerate() {
        let explicit = match &segment.step {
            StepRef::Planned(code) => procedure.step_index(code),
            StepRef::Unplanned => None,
        };
        let index = explicit.or_else(|| {
            if position == 0 {
                return (!procedure.steps.is_empty()).then_some(0);
            }
            procedure
                .steps
                .iter()
                .enumerate()
                .skip(last_index)
                .find(|(_, step)| step.unit.as_ref() == Some(&segment.holder.unit))
                .map(|(index, _)| index)
        });
        segment.step = match index {
            Some(index) => {
                last_index = index;
                StepRef::Planned(procedure.steps[index].code.clone())
            }
            None => StepRef::Unplanned,
        };
    }
}

/// The officer named by a holder, for attribution.
pub fn officer_of(holder: &Holder) -> Option<&OfficerId> {
    holder.officer.as_ref()
}

#[cfg(test)]
mod tests;
