//! Reports (DOMAIN.md §9): verdict counts by group, form II.06a, the Decision 766 group-2
//! index and leaderboards, computed from per-file facts at query time.
//!
//! Everything here is a sum of whole-file contributions, so the numbers do not depend on
//! the order files are given in, and every rate is computed from the sums (never an average
//! of rates). The module never reads the clock: the reporting [`Window`] carries the
//! instant open files are judged at.
//!
//! Which files a window `[start, end)` covers (the same rule for statistics, form II.06a and
//! the index): a counted file received before `end` and not finished before `start`. A covered
//! file finished before `end` counts with its finished verdict (early, on time, late); one
//! still open at `end` is judged at `end`: within time if its due time is not before `end`
//! (or its clock is stopped), overdue otherwise.
//!
//! Judging an open file at `end` with the due time stored after later events is exact: the
//! clock only ever stops or restarts, so an event after `end` can only move the due time to
//! an instant after `end` when the file was within time at `end`, and never changes it when
//! the file was already overdue.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::AddAssign;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::catalog::Catalog;
use crate::clock::{FileVerdict, Judgement, Verdict};
use crate::event::{Channel, Holder};
use crate::ids::{FieldCode, OfficerId, ProcedureCode, UnitId};
use crate::slip::{attribute, control_slip, roll_up};
use crate::stats::{CounterKey, Counts};
use crate::time::WorkingTime;

/// Why a report cannot be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReportError {
    /// The window ends before it starts.
    #[error("period starts at {start} after it ends at {end}")]
    ReversedWindow {
        /// The start given.
        start: DateTime<Utc>,
        /// The end given.
        end: DateTime<Utc>,
    },
}

/// A reporting window `[start, end)`; open files are judged at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: Option<DateTime<Utc>>,
    end: DateTime<Utc>,
}

impl Window {
    /// The window `[start, end)`; no start means unbounded in the past.
    ///
    /// # Errors
    /// [`ReportError::ReversedWindow`] if `start` is after `end`.
    pub fn new(start: Option<DateTime<Utc>>, end: DateTime<Utc>) -> Result<Window, ReportError> {
        match start {
            Some(start) if start > end => Err(ReportError::ReversedWindow { start, end }),
            _ => Ok(Window { start, end }),
        }
    }

    /// The first instant included, if bounded.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.start
    }

    /// The first instant excluded, and the instant open files are judged at.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Whether `instant` lies in the window.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start.is_none_or(|start| start <= instant) && instant < self.end
    }

    fn is_before_start(&self, instant: DateTime<Utc>) -> bool {
        self.start.is_some_and(|start| instant < start)
    }
}

/// Whether and how a file counts, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactStanding {
    /// Received and judged.
    Judged,
    /// Received, but the catalog cannot judge it yet.
    Unjudged,
    /// Not counted: refused at the desk, or never received.
    NotCounted,
}

/// What reports need to know about one file, without re-folding its events.
///
/// The field and procedure are generic so that an index can keep them as small interned
/// numbers (`FileFacts<u32, u32>`) and still use every function here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts<F = FieldCode, P = ProcedureCode> {
    /// Whether it counts.
    pub standing: FactStanding,
    /// When the complete dossier was received.
    pub received_at: Option<DateTime<Utc>>,
    /// The original due time (none while the clock is stopped, or unjudged).
    pub due: Option<DateTime<Utc>>,
    /// When the clock ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The verdict of a finished, judged file.
    pub finished_verdict: Option<Verdict>,
    /// Working time from clock start to finish, waits charged to no one subtracted.
    pub handling: WorkingTime,
    /// Newest event time (dates a file that is not counted).
    pub last_event_at: Option<DateTime<Utc>>,
    /// Channel.
    pub channel: Option<Channel>,
    /// The procedure's field.
    pub field: Option<F>,
    /// The procedure.
    pub procedure: Option<P>,
    /// How many supplement requests the file had.
    pub supplement_requests: u32,
}

/// How a file counts in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Not in the window.
    Outside,
    /// A file not counted, whose newest event lies in the window.
    NotCounted,
    /// A received file not judged yet, covered by the window.
    Unjudged,
    /// A covered file with its verdict: finished in the window, or open at its end.
    Judged(Verdict),
}

impl<F, P> FileFacts<F, P> {
    /// How the file counts in `window` (see the module documentation).
    pub fn coverage(&self, window: &Window) -> Coverage {
        if self.standing == FactStanding::NotCounted {
            return match self.last_event_at {
                Some(at) if window.contains(at) => Coverage::NotCounted,
                _ => Coverage::Outside,
            };
        }
        let Some(received_at) = self.received_at else {
            return Coverage::Outside;
        };
        if received_at >= window.end {
            return Coverage::Outside;
        }
        if self
            .finished_at
            .is_some_and(|at| window.is_before_start(at))
        {
            return Coverage::Outside;
        }
        if self.standing == FactStanding::Unjudged {
            return Coverage::Unjudged;
        }
        match (self.finished_at, self.finished_verdict) {
            (Some(at), Some(verdict)) if at < window.end => Coverage::Judged(verdict),
            (Some(at), None) if at < window.end => Coverage::Unjudged,
            _ => Coverage::Judged(open_verdict(self.due, window.end)),
        }
    }

    /// The headline verdict at `instant`, as `GetFile` would give it with `as_of`: a file
    /// finished at or before `instant` has its finished verdict, an open one is judged
    /// against its due time, and a file received after `instant` is not counted yet.
    pub fn verdict_at(&self, instant: DateTime<Utc>) -> FileVerdict {
        match self.standing {
            FactStanding::NotCounted => return FileVerdict::NotCounted,
            FactStanding::Unjudged => return FileVerdict::Unjudged,
            FactStanding::Judged => {}
        }
        match self.received_at {
            Some(received) if received <= instant => {}
            _ => return FileVerdict::NotCounted,
        }
        match (self.finished_at, self.finished_verdict) {
            (Some(at), Some(verdict)) if at <= instant => FileVerdict::Judged(verdict),
            (Some(at), None) if at <= instant => FileVerdict::Unjudged,
            _ => FileVerdict::Judged(open_verdict(self.due, instant)),
        }
    }
}

/// The verdict of an open file at `instant`: overdue once past its due time.
fn open_verdict(due: Option<DateTime<Utc>>, instant: DateTime<Utc>) -> Verdict {
    match due {
        Some(due) if instant > due => Verdict::Overdue,
        _ => Verdict::WithinTime,
    }
}

/// Counts of files by verdict; additive over disjoint groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    /// Finished early.
    pub early: u64,
    /// Finished on time.
    pub on_time: u64,
    /// Finished late.
    pub late: u64,
    /// Open and within time.
    pub within_time: u64,
    /// Open and overdue.
    pub overdue: u64,
    /// Not counted in rates.
    pub not_counted: u64,
    /// Not judged yet.
    pub unjudged: u64,
}

impl VerdictCounts {
    /// Adds one file's coverage.
    pub fn add(&mut self, coverage: Coverage) {
        match coverage {
            Coverage::Outside => {}
            Coverage::NotCounted => self.not_counted += 1,
            Coverage::Unjudged => self.unjudged += 1,
            Coverage::Judged(Verdict::Early) => self.early += 1,
            Coverage::Judged(Verdict::OnTime) => self.on_time += 1,
            Coverage::Judged(Verdict::Late) => self.late += 1,
            Coverage::Judged(Verdict::WithinTime) => self.within_time += 1,
            Coverage::Judged(Verdict::Overdue) => self.overdue += 1,
        }
    }

    /// Files finished (early + on time + late).
    pub fn finished(&self) -> u64 {
        self.early + self.on_time + self.late
    }

    /// Files with one of the five verdicts.
    pub fn judged(&self) -> u64 {
        self.finished() + self.within_time + self.overdue
    }

    /// (early + on time + within time) / the five verdicts; `None` without judged files.
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.early + self.on_time + self.within_time, self.judged())
    }

    /// (early + on time) / finished; `None` when no file finished.
    pub fn finished_on_time_rate(&self) -> Option<f64> {
        rate(self.early + self.on_time, self.finished())
    }
}

impl AddAssign for VerdictCounts {
    fn add_assign(&mut self, other: VerdictCounts) {
        self.early += other.early;
        self.on_time += other.on_time;
        self.late += other.late;
        self.within_time += other.within_time;
        self.overdue += other.overdue;
        self.not_counted += other.not_counted;
        self.unjudged += other.unjudged;
    }
}

/// `part / whole` as a rate in `[0, 1]`; `None` when `whole` is zero.
pub fn rate(part: u64, whole: u64) -> Option<f64> {
    // Counts stay far below 2^53, so the conversion to f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Verdict counts grouped by a key, with the total over every file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally<K: Ord> {
    /// One entry per key.
    pub rows: BTreeMap<K, VerdictCounts>,
    /// Every covered file, including those no row covers and those not counted.
    pub total: VerdictCounts,
}

/// Groups coverages by key: each file counts in its key's row (none if the key is `None`)
/// and always in the total. Files not counted count only in the total, since their unit,
/// officer and field are unknown.
pub fn tally<K: Ord>(items: impl IntoIterator<Item = (Option<K>, Coverage)>) -> Tally<K> {
    let mut rows: BTreeMap<K, VerdictCounts> = BTreeMap::new();
    let mut total = VerdictCounts::default();
    for (key, coverage) in items {
        if let (true, Some(key)) = (count_in_total(&mut total, coverage), key) {
            rows.entry(key).or_default().add(coverage);
        }
    }
    Tally { rows, total }
}

/// Adds a covered file to `total`; returns whether it also counts in its key's row (a file
/// not counted has no known unit, officer or field).
fn count_in_total(total: &mut VerdictCounts, coverage: Coverage) -> bool {
    if coverage == Coverage::Outside {
        return false;
    }
    total.add(coverage);
    coverage != Coverage::NotCounted
}

/// [`tally`] for keys that are small numbers below `keys`: one slot per key instead of a
/// map, for counting millions of files quickly. Keys at or above `keys` count only in the
/// total, as `None` does.
pub fn tally_dense(
    keys: usize,
    items: impl IntoIterator<Item = (Option<u32>, Coverage)>,
) -> (Vec<VerdictCounts>, VerdictCounts) {
    let mut rows = vec![VerdictCounts::default(); keys];
    let mut total = VerdictCounts::default();
    for (key, coverage) in items {
        if !count_in_total(&mut total, coverage) {
            continue;
        }
        if let Some(row) = key.and_then(|k| rows.get_mut(usize::try_from(k).ok()?)) {
            row.add(coverage);
        }
    }
    (rows, total)
}

/// A dimension of the additive counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// The receiving unit.
    Unit,
    /// The receiving officer (receipts) or last holder (verdicts).
    Officer,
    /// The procedure code.
    Procedure,
    /// The field code.
    Field,
    /// The channel, as its national code (0 when not given).
    Channel,
}

/// Sums counters by one dimension; an absent officer or field sums under the empty key.
pub fn group_counters<'a>(
    entries: impl IntoIterator<Item = &'a (CounterKey, Counts)>,
    dimension: Dimension,
) -> BTreeMap<String, Counts> {
    let mut groups: BTreeMap<String, Counts> = BTreeMap::new();
    for (key, counts) in entries {
        let group = match dimension {
            Dimension::Unit => key.unit.to_string(),
            Dimension::Officer => key
                .officer
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            Dimension::Procedure => key.procedure.to_string(),
            Dimension::Field => key
                .field
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            Dimension::Channel => channel_code(key.channel).to_string(),
        };
        *groups.entry(group).or_default() += *counts;
    }
    groups
}

/// The national channel code: 1 in person, 2 online, 3 postal, 0 not given.
pub fn channel_code(channel: Option<Channel>) -> u8 {
    match channel {
        None => 0,
        Some(Channel::InPerson) => 1,
        Some(Channel::Online) => 2,
        Some(Channel::Postal) => 3,
    }
}

/// One row of form II.06a. Its fields are the leaf columns, and each file adds exactly one
/// receipt column and one outcome column, so the identities of the form hold by
/// construction: received = online + in person or postal + carried over = resolved + in
/// progress; resolved = early + on time + late; in progress = within time + overdue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportRow {
    online: u64,
    in_person_or_postal: u64,
    carried_over: u64,
    early: u64,
    on_time: u64,
    late: u64,
    within_time: u64,
    overdue: u64,
}

impl ReportRow {
    /// Adds a file to the row if the window covers it with a verdict; returns whether it did.
    ///
    /// Receipt column: carried over if received before the window's start, else online or
    /// in person or postal (unknown channels count with in person). Outcome column: the
    /// finished verdict if it finished in the window, else its verdict at the window's end.
    pub fn add<F, P>(&mut self, facts: &FileFacts<F, P>, window: &Window) -> bool {
        let Coverage::Judged(verdict) = facts.coverage(window) else {
            return false;
        };
        let Some(received_at) = facts.received_at else {
            return false;
        };
        if window.is_before_start(received_at) {
            self.carried_over += 1;
        } else if facts.channel == Some(Channel::Online) {
            self.online += 1;
        } else {
            self.in_person_or_postal += 1;
        }
        match verdict {
            Verdict::Early => self.early += 1,
            Verdict::OnTime => self.on_time += 1,
            Verdict::Late => self.late += 1,
            Verdict::WithinTime => self.within_time += 1,
            Verdict::Overdue => self.overdue += 1,
        }
        true
    }

    /// Files to handle in the period: online + in person or postal + carried over.
    pub fn received(&self) -> u64 {
        self.online + self.in_person_or_postal + self.carried_over
    }

    /// Received online in the period.
    pub fn online(&self) -> u64 {
        self.online
    }

    /// Received in person, by post, or through an unknown channel in the period.
    pub fn in_person_or_postal(&self) -> u64 {
        self.in_person_or_postal
    }

    /// Received before the period and still open at its start.
    pub fn carried_over(&self) -> u64 {
        self.carried_over
    }

    /// Finished in the period: early + on time + late.
    pub fn resolved(&self) -> u64 {
        self.early + self.on_time + self.late
    }

    /// Finished early.
    pub fn early(&self) -> u64 {
        self.early
    }

    /// Finished on time.
    pub fn on_time(&self) -> u64 {
        self.on_time
    }

    /// Finished late.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Open at the end of the period: within time + overdue.
    pub fn in_progress(&self) -> u64 {
        self.within_time + self.overdue
    }

    /// Open and within time at the end of the period.
    pub fn within_time(&self) -> u64 {
        self.within_time
    }

    /// Open and overdue at the end of the period.
    pub fn overdue(&self) -> u64 {
        self.overdue
    }
}

impl AddAssign for ReportRow {
    fn add_assign(&mut self, other: ReportRow) {
        self.online += other.online;
        self.in_person_or_postal += other.in_person_or_postal;
        self.carried_over += other.carried_over;
        self.early += other.early;
        self.on_time += other.on_time;
        self.late += other.late;
        self.within_time += other.within_time;
        self.overdue += other.overdue;
    }
}

/// Form II.06a (Circular 01/2020/TT-VPCP): rows by field code, and their total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form06a<F = FieldCode> {
    /// One row per field code (`None` for files whose field is unknown).
    pub rows: BTreeMap<Option<F>, ReportRow>,
    /// The sum of the rows.
    pub total: ReportRow,
    /// Covered files not in the form because they are not judged yet.
    pub unjudged: u64,
}

/// Builds form II.06a over the judged files `window` covers; unjudged files are counted
/// apart so the form can say how many it leaves out.
pub fn form_06a<'a, F: Ord + Clone + 'a, P: 'a>(
    files: impl IntoIterator<Item = &'a FileFacts<F, P>>,
    window: &Window,
) -> Form06a<F> {
    let mut form = Form06a {
        rows: BTreeMap::new(),
        total: ReportRow::default(),
        unjudged: 0,
    };
    for facts in files {
        if facts.coverage(window) == Coverage::Unjudged {
            form.unjudged += 1;
            continue;
        }
        let field = facts.field.clone();
        let mut row = ReportRow::default();
        if row.add(facts, window) {
            *form.rows.entry(field).or_default() += row;
            form.total += row;
        }
    }
    form
}

/// Handling time of one procedure's finished files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandlingTotal {
    /// Files finished in the window.
    pub files_finished: u64,
    /// Their handling time, summed.
    pub handling: WorkingTime,
}

impl HandlingTotal {
    /// The mean handling time, rounded down to whole seconds; zero without files.
    pub fn average(&self) -> WorkingTime {
        let files = i64::try_from(self.files_finished).unwrap_or(i64::MAX);
        if files == 0 {
            return WorkingTime::ZERO;
        }
        WorkingTime::seconds(self.handling.as_secs() / files)
    }
}

/// The group-2 (progress) indicators of Decision 766/QĐ-TTg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index766<P = ProcedureCode> {
    /// Files handled: covered by the window with a verdict (finished in it, or open at its
    /// end); the same files as form II.06a's "received" column.
    pub files_handled: u64,
    /// Of those, finished early or on time or open within time at the end, with at most one
    /// supplement request (a file with more is late by the decision's rule).
    pub files_on_time: u64,
    /// Per procedure of a handled file, the handling time of those finished in the window.
    pub handling: BTreeMap<P, HandlingTotal>,
    /// Files received in the window (carried-over files excluded), per channel code.
    pub channels: BTreeMap<u8, u64>,
}

impl<P> Index766<P> {
    /// files on time / files handled; `None` when none was handled.
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.files_on_time, self.files_handled)
    }

    /// Files received in the window, all channels.
    pub fn received(&self) -> u64 {
        self.channels.values().sum()
    }
}

/// Computes the Decision 766 group-2 indicators over the files `window` covers.
pub fn index_766<'a, F: 'a, P: Ord + Clone + 'a>(
    files: impl IntoIterator<Item = &'a FileFacts<F, P>>,
    window: &Window,
) -> Index766<P> {
    let mut index = Index766 {
        files_handled: 0,
        files_on_time: 0,
        handling: BTreeMap::new(),
        channels: BTreeMap::new(),
    };
    for facts in files {
        let Coverage::Judged(verdict) = facts.coverage(window) else {
            continue;
        };
        index.files_handled += 1;
        let on_time = matches!(
            verdict,
            Verdict::Early | Verdict::OnTime | Verdict::WithinTime
        );
        if on_time && facts.supplement_requests <= 1 {
            index.files_on_time += 1;
        }
        if let Some(procedure) = &facts.procedure {
            let total = index.handling.entry(procedure.clone()).or_default();
            if matches!(verdict, Verdict::Early | Verdict::OnTime | Verdict::Late) {
                total.files_finished += 1;
                total.handling += facts.handling;
            }
        }
        if facts.received_at.is_some_and(|at| window.contains(at)) {
            *index
                .channels
                .entry(channel_code(facts.channel))
                .or_default() += 1;
        }
    }
    index
}

/// Who a leaderboard entry is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// An officer, for their own shares and work.
    Officer(OfficerId),
    /// A unit, for its officers' and its descendants' officers' shares and work.
    Unit(UnitId),
    /// The head of a unit, answering for the unit during their term.
    Head {
        /// The head.
        officer: OfficerId,
        /// The unit headed.
        unit: UnitId,
    },
}

/// Which subjects a leaderboard ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    /// Officers.
    Officers,
    /// Units.
    Units,
    /// Unit heads.
    Heads,
}

impl Subject {
    /// The kind of subject.
    pub fn kind(&self) -> SubjectKind {
        match self {
            Subject::Officer(_) => SubjectKind::Officers,
            Subject::Unit(_) => SubjectKind::Units,
            Subject::Head { .. } => SubjectKind::Heads,
        }
    }
}

/// A share of lateness and everyone who answers for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// The officer (if named), their unit and its ancestors, and the heads of those units.
    pub subjects: Vec<Subject>,
    /// The share, whole seconds of working time.
    pub amount: WorkingTime,
}

/// A step segment handed on in the window and everyone it counts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCredit {
    /// As for [`Credit::subjects`], for the holder of the segment.
    pub subjects: Vec<Subject>,
    /// Whether the step was still within its allotment when handed on.
    pub on_time: bool,
}

/// What one file contributes to the leaderboards of a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCredits {
    /// Whether the file finished late in the window or was overdue at its end.
    pub breach: bool,
    /// Its lateness (zero unless `breach`).
    pub lateness: WorkingTime,
    /// The shares of its lateness; they add up to exactly `lateness`.
    pub charges: Vec<Credit>,
    /// Everyone who held the file in the window.
    pub handled: Vec<Subject>,
    /// Its step segments handed on in the window.
    pub steps: Vec<StepCredit>,
}

/// What `judgement` contributes to the leaderboards of `window`.
///
/// `judgement` must be the fold of the file's events before `window.end()`, so that a file
/// finished after the window is open in it. Shares come from [`attribute`] at the window's
/// end (or the finish) and are charged by [`roll_up`].
pub fn file_credits(catalog: &Catalog, judgement: &Judgement, window: &Window) -> FileCredits {
    let mut credits = FileCredits::default();
    let breach = match judgement.verdict_at(window.end) {
        FileVerdict::Judged(Verdict::Late) => judgement
            .finish
            .as_ref()
            .is_some_and(|finish| window.contains(finish.at)),
        FileVerdict::Judged(Verdict::Overdue) => true,
        FileVerdict::Judged(_) | FileVerdict::NotCounted | FileVerdict::Unjudged => false,
    };
    if breach {
        if let Some(attribution) = attribute(judgement, window.end) {
            credits.breach = true;
            credits.lateness = attribution.lateness;
            credits.charges = roll_up(catalog, judgement, &attribution)
                .into_iter()
                .map(|charge| {
                    let mut subjects: Vec<Subject> =
                        charge.officer.into_iter().map(Subject::Officer).collect();
                    subjects.extend(charge.units.into_iter().map(Subject::Unit));
                    subjects.extend(
                        charge
                            .heads
                            .into_iter()
                            .map(|(unit, officer)| Subject::Head { officer, unit }),
                    );
                    Credit {
                        subjects,
                        amount: charge.amount,
                    }
                })
                .collect();
        }
    }
    let subjects_of = |holder: &Holder, at: DateTime<Utc>| {
        let date = judgement.local_date(at).unwrap_or_else(|| at.date_naive());
        let units = catalog.ancestry_at(&holder.unit, date);
        let mut subjects: Vec<Subject> = holder
            .officer
            .iter()
            .cloned()
            .map(Subject::Officer)
            .collect();
        for unit in &units {
            if let Some(head) = catalog.head_at(unit, date) {
                subjects.push(Subject::Head {
                    officer: head.clone(),
                    unit: unit.clone(),
                });
            }
        }
        subjects.extend(units.into_iter().map(Subject::Unit));
        subjects
    };
    let mut handled = BTreeSet::new();
    for segment in &judgement.segments {
        let ends_before = segment.end.is_some_and(|end| window.is_before_start(end));
        if segment.start < window.end && !ends_before {
            handled.extend(subjects_of(&segment.holder, segment.start));
        }
    }
    credits.handled = handled.into_iter().collect();
    if judgement.is_judged() {
        for row in control_slip(judgement, window.end).rows {
            let (Some(handed_on), Some(verdict)) = (row.handed_on, row.verdict) else {
                continue;
            };
            if !window.contains(handed_on) {
                continue;
            }
            credits.steps.push(StepCredit {
                subjects: subjects_of(&row.holder, row.handed_in),
                on_time: matches!(verdict, Verdict::Early | Verdict::OnTime),
            });
        }
    }
    credits
}

/// One subject's standing on a leaderboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Who.
    pub subject: Subject,
    /// Late or overdue files with a share for this subject.
    pub late_files: u64,
    /// Sum of this subject's shares.
    pub late_working_time: WorkingTime,
    /// Files this subject held in the window.
    pub files_handled: u64,
    /// Step segments handed on in the window.
    pub steps_finished: u64,
    /// Of those, handed on within the step's allotment.
    pub steps_on_time: u64,
}

impl Standing {
    /// A subject's standing before any file.
    pub fn empty(subject: Subject) -> Standing {
        Standing::new(subject)
    }

    fn new(subject: Subject) -> Standing {
        Standing {
            subject,
            late_files: 0,
            late_working_time: WorkingTime::ZERO,
            files_handled: 0,
            steps_finished: 0,
            steps_on_time: 0,
        }
    }

    /// steps on time / steps finished; `None` when none finished.
    pub fn step_on_time_rate(&self) -> Option<f64> {
        rate(self.steps_on_time, self.steps_finished)
    }
}

/// A leaderboard before ranking: every subject of one kind with its standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaderboard {
    /// Standings by subject.
    pub standings: BTreeMap<Subject, Standing>,
    /// Late or overdue files.
    pub total_late_files: u64,
    /// Their lateness, summed.
    pub total_lateness: WorkingTime,
    /// For officers: shares held by a unit with no officer named, so that the officers'
    /// shares plus this add up to `total_lateness`. Zero for units and heads.
    pub unassigned: WorkingTime,
}

/// What a leaderboard ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankBy {
    /// Late or overdue files with a share.
    LateFiles,
    /// Sum of shares of late working time.
    LateWorkingTime,
}

/// Sums the credits of every file for the subjects of `kind`.
pub fn leaderboard<'a>(
    kind: SubjectKind,
    files: impl IntoIterator<Item = &'a FileCredits>,
) -> Leaderboard {
    let mut board = Leaderboard {
        standings: BTreeMap::new(),
        total_late_files: 0,
        total_lateness: WorkingTime::ZERO,
        unassigned: WorkingTime::ZERO,
    };
    for file in files {
        if file.breach {
            board.total_late_files += 1;
            board.total_lateness += file.lateness;
        }
        let mut charged = BTreeSet::new();
        for credit in &file.charges {
            let mut named = false;
            let unique: BTreeSet<&Subject> = credit
                .subjects
                .iter()
                .filter(|s| s.kind() == kind)
                .collect();
            for subject in unique {
                named = true;
                let standing = board
                    .standings
                    .entry(subject.clone())
                    .or_insert_with(|| Standing::new(subject.clone()));
                standing.late_working_time += credit.amount;
                if !credit.amount.is_zero() {
                    charged.insert(subject.clone());
                }
            }
            if !named && kind == SubjectKind::Officers {
                board.unassigned += credit.amount;
            }
        }
        for subject in charged {
            if let Some(standing) = board.standings.get_mut(&subject) {
                standing.late_files += 1;
            }
        }
        for subject in file.handled.iter().filter(|s| s.kind() == kind) {
            board
                .standings
                .entry(subject.clone())
                .or_insert_with(|| Standing::new(subject.clone()))
                .files_handled += 1;
        }
        for step in &file.steps {
            let unique: BTreeSet<&Subject> =
                step.subjects.iter().filter(|s| s.kind() == kind).collect();
            for subject in unique {
                let standing = board
                    .standings
                    .entry(subject.clone())
                    .or_insert_with(|| Standing::new(subject.clone()));
                standing.steps_finished += 1;
                standing.steps_on_time += u64::from(step.on_time);
            }
        }
    }
    board
}

impl Leaderboard {
    /// A leaderboard of no file.
    pub fn empty() -> Leaderboard {
        Leaderboard {
            standings: BTreeMap::new(),
            total_late_files: 0,
            total_lateness: WorkingTime::ZERO,
            unassigned: WorkingTime::ZERO,
        }
    }
}

/// Leaderboards of disjoint sets of files add up to the leaderboard of their union: an
/// index can keep one per group of files and sum the groups a query covers.
impl AddAssign<&Leaderboard> for Leaderboard {
    fn add_assign(&mut self, other: &Leaderboard) {
        self.total_late_files += other.total_late_files;
        self.total_lateness += other.total_lateness;
        self.unassigned += other.unassigned;
        for (subject, theirs) in &other.standings {
            let ours = self
                .standings
                .entry(subject.clone())
                .or_insert_with(|| Standing::new(subject.clone()));
            ours.late_files += theirs.late_files;
            ours.late_working_time += theirs.late_working_time;
            ours.files_handled += theirs.files_handled;
            ours.steps_finished += theirs.steps_finished;
            ours.steps_on_time += theirs.steps_on_time;
        }
    }
}

impl Leaderboard {
    /// The standings best first (largest value of `rank_by`, then the other measure, ties
    /// by subject), each with its 1-based rank; tied standings share a rank (1, 1, 3).
    /// At most `limit` standings.
    pub fn ranked(&self, rank_by: RankBy, limit: usize) -> Vec<(u32, &Standing)> {
        let measure = |standing: &Standing| match rank_by {
            RankBy::LateFiles => (standing.late_files, standing.late_working_time.as_secs()),
            RankBy::LateWorkingTime => (
                u64::try_from(standing.late_working_time.as_secs()).unwrap_or(0),
                i64::try_from(standing.late_files).unwrap_or(i64::MAX),
            ),
        };
        let mut sorted: Vec<&Standing> = self.standings.values().collect();
        sorted.sort_by(|a, b| {
            measure(b)
                .cmp(&measure(a))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        let mut ranked = Vec::with_capacity(sorted.len().min(limit));
        let mut rank = 0_u32;
        let mut previous = None;
        for (position, standing) in sorted.into_iter().enumerate().take(limit) {
            let value = measure(standing);
            if previous != Some(value) {
                rank = u32::try_from(position + 1).unwrap_or(u32::MAX);
                previous = Some(value);
            }
            ranked.push((rank, standing));
        }
        ranked
    }
}

#[cfg(test)]
mod tests;
