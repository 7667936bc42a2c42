//! Additive statistics: what one file contributes to the counters, so that statistics are
//! sums of counters and rates are computed at query time (never averages of rates).
//!
//! A file contributes at most two counter entries: its receipt (on the local receipt day,
//! under the receiving officer) and, once its clock has ended, its verdict, lateness and
//! handling time (on the local finish day, under the officer who held it at the end). Each
//! entry is keyed by (day, receiving unit, officer, procedure, field, channel), so grouping
//! by any of these dimensions is a sum. Files not counted (not received, not accepted) and
//! files not yet judged contribute nothing; open files are judged at query time, since their
//! verdict changes with the clock.
//!
//! When a file is re-folded (a late event, a catalog change), the store subtracts its old
//! contribution and adds the new one, so the counters always equal a recount.

use std::collections::BTreeMap;
use std::ops::{AddAssign, Neg};

use chrono::NaiveDate;

use crate::clock::{FileVerdict, Judgement, Verdict};
use crate::event::Channel;
use crate::ids::{FieldCode, OfficerId, ProcedureCode, UnitId};

/// The dimensions of one counter entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CounterKey {
    /// The local day (receipt day for receipts, finish day for verdicts).
    pub day: NaiveDate,
    /// The receiving unit (the file's owner in reports).
    pub unit: UnitId,
    /// The receiving officer (receipts) or the officer holding the file at the end.
    pub officer: Option<OfficerId>,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The procedure's field.
    pub field: Option<FieldCode>,
    /// The channel.
    pub channel: Option<Channel>,
}

/// Additive counts; negative only transiently, as a difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Files received.
    pub received: i64,
    /// Files finished early.
    pub early: i64,
    /// Files finished on time.
    pub on_time: i64,
    /// Files finished late.
    pub late: i64,
    /// Lateness of the late files, working seconds.
    pub late_seconds: i64,
    /// Handling time of finished files, from clock start to finish, working seconds
    /// (for averages per procedure: divide by the finished count).
    pub handling_seconds: i64,
    /// Finished files with more than one supplement request (counted late by Decision 766).
    pub repeated_supplements: i64,
}

impl Counts {
    /// The number of values, for storage.
    pub const LEN: usize = 7;

    /// The values in a fixed order, for storage.
    pub fn to_array(self) -> [i64; Counts::LEN] {
        [
            self.received,
            self.early,
            self.on_time,
            self.late,
            self.late_seconds,
            self.handling_seconds,
            self.repeated_supplements,
        ]
    }

    /// Counts from stored values (missing values are zero, extra ones ignored).
    pub fn from_slice(values: &[i64]) -> Counts {
        let at = |idx: usize| values.get(idx).copied().unwrap_or(0);
        Counts {
            received: at(0),
            early: at(1),
            on_time: at(2),
            late: at(3),
            late_seconds: at(4),
            handling_seconds: at(5),
            repeated_supplements: at(6),
        }
    }

    /// Finished files (early + on time + late).
    pub fn finished(self) -> i64 {
        self.early + self.on_time + self.late
    }

    /// Whether every value is zero.
    pub fn is_zero(self) -> bool {
        self == Counts::default()
    }

    /// Whether any value is negative (a counter must never be).
    pub fn has_negative(self) -> bool {
        self.to_array().iter().any(|v| *v < 0)
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.received += other.received;
        self.early += other.early;
        self.on_time += other.on_time;
        self.late += other.late;
        self.late_seconds += other.late_seconds;
        self.handling_seconds += other.handling_seconds;
        self.repeated_supplements += other.repeated_supplements;
    }
}

impl Neg for Counts {
    type Output = Counts;
    fn neg(self) -> Counts {
        Counts::from_slice(&self.to_array().map(|v| -v))
    }
}

/// What a file contributes to the counters.
pub fn contribution(judgement: &Judgement) -> BTreeMap<CounterKey, Counts> {
    let mut entries: BTreeMap<CounterKey, Counts> = BTreeMap::new();
    if !judgement.is_judged() {
        return entries;
    }
    let (Some(received_at), Some(receiving), Some(procedure)) = (
        judgement.received_at,
        judgement.receiving.as_ref(),
        judgement.procedure_code.as_ref(),
    ) else {
        return entries;
    };
    let local_date = |instant| judgement.local_date(instant);
    let key = |day: NaiveDate, officer: Option<OfficerId>| CounterKey {
        day,
        unit: receiving.unit.clone(),
        officer,
        procedure: procedure.clone(),
        field: judgement.field.clone(),
        channel: judgement.channel,
    };
    if let Some(day) = local_date(received_at) {
        *entries
            .entry(key(day, receiving.officer.clone()))
            .or_default() += Counts {
            received: 1,
            ..Counts::default()
        };
    }
    let Some(finish) = &judgement.finish else {
        return entries;
    };
    let FileVerdict::Judged(verdict) = judgement.verdict_at(finish.at) else {
        return entries;
    };
    let Some(day) = local_date(finish.at) else {
        return entries;
    };
    let officer = judgement
        .segments
        .last()
        .and_then(|segment| segment.holder.officer.clone());
    let mut counts = Counts {
        repeated_supplements: i64::from(judgement.supplement_requests.len() > 1),
        ..Counts::default()
    };
    match verdict {
        Verdict::Early => counts.early = 1,
        Verdict::OnTime => counts.on_time = 1,
        Verdict::Late => {
            counts.late = 1;
            counts.late_seconds = judgement.lateness_at(finish.at).as_secs();
        }
        // A finished file is never open; nothing to count.
        Verdict::WithinTime | Verdict::Overdue => return entries,
    }
    if let (Some(calendar), Some(started)) = (
        judgement.calendar.as_deref(),
        judgement.explanation.clock_started_at,
    ) {
        counts.handling_seconds = calendar
            .elapsed(started, finish.at)
            .saturating_sub(judgement.excluded_time(calendar, started, finish.at))
            .as_secs();
    }
    *entries.entry(key(day, officer)).or_default() += counts;
    entries
}

/// The difference `new - old` of two contributions, without zero entries.
pub fn difference(
    old: &BTreeMap<CounterKey, Counts>,
    new: &BTreeMap<CounterKey, Counts>,
) -> BTreeMap<CounterKey, Counts> {
    let mut delta: BTreeMap<CounterKey, Counts> = new.clone();
    for (key, counts) in old {
        *delta.entry(key.clone()).or_default() += -*counts;
    }
    delta.retain(|_, counts| !counts.is_zero());
    delta
}
