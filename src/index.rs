//! The in-memory index of every stored file's report facts, so that statistics, form II.06a
//! and the Decision 766 index count millions of files without reading sled.
//!
//! It is derived state of derived state: built from the stored file summaries when the
//! engine starts (after the journal is replayed), then kept current by the engine thread,
//! which hands it every summary it commits, after the commit. Queries take a read lock and
//! walk a flat vector of small rows; field, procedure, officer and unit chains are interned
//! as numbers. A row holds a [`FileFacts<u32, u32>`], so the pure report functions of
//! `dunghan_domain::report` run on it unchanged.
//!
//! A file belongs to the unit that received it, as the unit tree stood on its local receipt
//! date: that chain (the receiving unit, then its ancestors) is interned per row, and
//! recomputed for every row when the catalog changes.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, NaiveDate, Utc};
use dunghan_domain::catalog::Catalog;
use dunghan_domain::report::{
    self, FactStanding, FileCredits, FileFacts, Leaderboard, Standing, Subject, SubjectKind,
};
use dunghan_domain::{FieldCode, FileId, OfficerId, ProcedureCode, UnitId};

use crate::store::FileSummary;

/// Values numbered in order of first sight.
#[derive(Debug, Clone)]
pub struct Interner<T> {
    values: Vec<T>,
    numbers: HashMap<T, u32>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Vec::new(),
            numbers: HashMap::new(),
        }
    }
}

impl<T: Clone + Eq + Hash> Interner<T> {
    /// The number of `value`, numbering it if it is new.
    pub fn intern(&mut self, value: &T) -> u32 {
        if let Some(number) = self.numbers.get(value) {
            return *number;
        }
        let number = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(value.clone());
        self.numbers.insert(value.clone(), number);
        number
    }

    /// The number of `value`, if it has one.
    pub fn find(&self, value: &T) -> Option<u32> {
        self.numbers.get(value).copied()
    }

    /// The value numbered `number`.
    pub fn get(&self, number: u32) -> Option<&T> {
        self.values.get(usize::try_from(number).ok()?)
    }

    /// How many values are numbered.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no value is numbered.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every value, by number.
    pub fn values(&self) -> &[T] {
        &self.values
    }
}

/// One file in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Its report facts, field and procedure interned.
    pub facts: FileFacts<u32, u32>,
    /// Its unit chain (see [`FilesIndex::chains`]); chain 0 is the empty chain of a file
    /// never received.
    pub chain: u32,
    /// The officer its verdict counts under (see [`FileSummary::last_officer`]).
    pub officer: Option<u32>,
    /// The receiving unit and local receipt date, to recompute the chain.
    receipt: Option<(u32, NaiveDate)>,
}

/// The leaderboard kinds, in the order boards are kept.
const KINDS: [SubjectKind; 3] = [
    SubjectKind::Officers,
    SubjectKind::Units,
    SubjectKind::Heads,
];

/// A leaderboard kept as a running sum, so that a file's contribution can be taken out again:
/// each standing counts the files whose own leaderboard named its subject, and leaves when
/// none is left (as a leaderboard computed afresh would not have it).
#[derive(Debug, Clone)]
struct BoardSum {
    standings: HashMap<Subject, (Standing, u64)>,
    total_late_files: u64,
    total_lateness: i64,
    unassigned: i64,
}

impl BoardSum {
    fn new() -> BoardSum {
        BoardSum {
            standings: HashMap::new(),
            total_late_files: 0,
            total_lateness: 0,
            unassigned: 0,
        }
    }

    /// Adds (`sign` 1) or takes out (`sign` -1) one file's leaderboard.
    fn apply(&mut self, board: &Leaderboard, sign: i64) {
        let add = |total: &mut u64, value: u64| {
            *total = if sign > 0 {
                total.saturating_add(value)
            } else {
                total.saturating_sub(value)
            };
        };
        add(&mut self.total_late_files, board.total_late_files);
        self.total_lateness += sign * board.total_lateness.as_secs();
        self.unassigned += sign * board.unassigned.as_secs();
        for (subject, theirs) in &board.standings {
            let (ours, files) = self
                .standings
                .entry(subject.clone())
                .or_insert_with(|| (Standing::empty(subject.clone()), 0));
            add(files, 1);
            add(&mut ours.late_files, theirs.late_files);
            ours.late_working_time = dunghan_domain::WorkingTime::seconds(
                ours.late_working_time.as_secs() + sign * theirs.late_working_time.as_secs(),
            );
            add(&mut ours.files_handled, theirs.files_handled);
            add(&mut ours.steps_finished, theirs.steps_finished);
            add(&mut ours.steps_on_time, theirs.steps_on_time);
            if *files == 0 {
                self.standings.remove(subject);
            }
        }
    }

    fn add_to(&self, board: &mut Leaderboard) {
        let mut mine = Leaderboard::empty();
        mine.total_late_files = self.total_late_files;
        mine.total_lateness = dunghan_domain::WorkingTime::seconds(self.total_lateness);
        mine.unassigned = dunghan_domain::WorkingTime::seconds(self.unassigned);
        mine.standings = self
            .standings
            .iter()
            .map(|(subject, (standing, _))| (subject.clone(), standing.clone()))
            .collect();
        *board += &mine;
    }
}

/// What a finished file contributes to the leaderboards, as it was and as it is now: the
/// engine computes both when it re-folds a file, so the index can swap one for the other.
#[derive(Debug, Clone, Default)]
pub struct CreditChange {
    /// The credits the file had before (none if it was not finished and judged).
    pub old: Option<FileCredits>,
    /// Its credits now (none if it is not finished and judged).
    pub new: Option<FileCredits>,
}

impl Row {
    /// Whether the row's chain is one of the `visible` ones (indexed by chain number).
    pub fn seen_in(&self, visible: &[bool]) -> bool {
        usize::try_from(self.chain)
            .ok()
            .and_then(|chain| visible.get(chain))
            .copied()
            .unwrap_or(false)
    }
}

/// The index of every stored file.
#[derive(Debug, Clone)]
pub struct FilesIndex {
    slots: HashMap<FileId, u32>,
    ids: Vec<FileId>,
    rows: Vec<Row>,
    /// Leaderboards of the finished, judged files of slots below `credited`, per unit chain
    /// and kind. Built by the engine a slice at a time (see [`FilesIndex::next_to_credit`]),
    /// kept current as files change, and started again when the catalog changes.
    boards: HashMap<u32, [BoardSum; 3]>,
    credited: usize,
    /// The newest event of any credited file: the boards hold for windows ending after it.
    credited_until: Option<DateTime<Utc>>,
    fields: Interner<FieldCode>,
    procedures: Interner<ProcedureCode>,
    officers: Interner<OfficerId>,
    units: Interner<UnitId>,
    chains: Interner<Vec<UnitId>>,
    /// Chain per (receiving unit, local date), under the current catalog.
    chain_of: HashMap<(u32, NaiveDate), u32>,
}

impl Default for FilesIndex {
    fn default() -> Self {
        let mut chains = Interner::default();
        chains.intern(&Vec::new());
        FilesIndex {
            slots: HashMap::new(),
            ids: Vec::new(),
            rows: Vec::new(),
            boards: HashMap::new(),
            credited: 0,
            credited_until: None,
            fields: Interner::default(),
            procedures: Interner::default(),
            officers: Interner::default(),
            units: Interner::default(),
            chains,
            chain_of: HashMap::new(),
        }
    }
}

impl FilesIndex {
    /// An index of `summaries` under `catalog`.
    ///
    /// # Errors
    /// The first error of `summaries`.
    pub fn build<E>(
        summaries: impl IntoIterator<Item = Result<FileSummary, E>>,
        catalog: &Catalog,
    ) -> Result<FilesIndex, E> {
        let mut index = FilesIndex::default();
        for summary in summaries {
            index.upsert(&summary?, catalog, None);
        }
        Ok(index)
    }

    /// Adds a file, or replaces its row; `credits` is how its leaderboard contribution
    /// changed (`None`: unknown, so the boards are built again if they counted the file).
    pub fn upsert(
        &mut self,
        summary: &FileSummary,
        catalog: &Catalog,
        credits: Option<&CreditChange>,
    ) {
        let facts = summary.facts();
        let facts = FileFacts {
            standing: facts.standing,
            received_at: facts.received_at,
            due: facts.due,
            finished_at: facts.finished_at,
            finished_verdict: facts.finished_verdict,
            handling: facts.handling,
            last_event_at: facts.last_event_at,
            channel: facts.channel,
            field: facts.field.as_ref().map(|f| self.fields.intern(f)),
            procedure: facts.procedure.as_ref().map(|p| self.procedures.intern(p)),
            supplement_requests: facts.supplement_requests,
        };
        let receipt = match (&summary.receiving, summary.received_at) {
            (Some(receiving), Some(received_at)) => Some((
                self.units.intern(&receiving.unit),
                local_date(catalog, summary, received_at),
            )),
            _ => None,
        };
        let row = Row {
            facts,
            chain: self.chain_for(receipt, catalog),
            officer: summary.last_officer().map(|o| self.officers.intern(&o)),
            receipt,
        };
        let slot = match self.slots.get(&summary.file_id) {
            Some(slot) => usize::try_from(*slot).unwrap_or(usize::MAX),
            None => {
                let slot = self.rows.len();
                self.slots.insert(
                    summary.file_id.clone(),
                    u32::try_from(slot).unwrap_or(u32::MAX),
                );
                self.ids.push(summary.file_id.clone());
                self.rows.push(row);
                // A new file lies past the credited slots: the builder will reach it.
                return;
            }
        };
        let Some(old) = self.rows.get(slot).copied() else {
            return;
        };
        if let Some(existing) = self.rows.get_mut(slot) {
            *existing = row;
        }
        if slot >= self.credited || (!creditable(&old) && !creditable(&row)) {
            return;
        }
        match credits {
            Some(change) if change.old.is_some() == creditable(&old) => {
                if let Some(old_credits) = &change.old {
                    self.apply_credits(old.chain, old_credits, -1);
                }
                if let Some(new_credits) = &change.new {
                    self.apply_credits(row.chain, new_credits, 1);
                    self.note_credited(&row);
                }
            }
            _ => self.restart_boards(),
        }
    }

    /// The next files (at most `max`) the leaderboards still need, as (slot, file, whether
    /// it must be credited), in slot order; empty once every file is counted.
    pub fn next_to_credit(&self, max: usize) -> Vec<(usize, FileId, bool)> {
        let end = self.credited.saturating_add(max).min(self.rows.len());
        (self.credited..end)
            .filter_map(|slot| {
                let row = self.rows.get(slot)?;
                Some((slot, self.ids.get(slot)?.clone(), creditable(row)))
            })
            .collect()
    }

    /// Records the credits of the file at `slot` (from [`FilesIndex::next_to_credit`], in
    /// order).
    pub fn credit(&mut self, slot: usize, credits: Option<&FileCredits>) {
        if slot != self.credited {
            return;
        }
        if let (Some(credits), Some(row)) = (credits, self.rows.get(slot).copied()) {
            if creditable(&row) {
                self.apply_credits(row.chain, credits, 1);
                self.note_credited(&row);
            }
        }
        self.credited += 1;
    }

    /// Whether the boards count every finished, judged file.
    pub fn boards_ready(&self) -> bool {
        self.credited == self.rows.len()
    }

    /// The newest event of a credited file (the boards answer windows ending after it).
    pub fn credited_until(&self) -> Option<DateTime<Utc>> {
        self.credited_until
    }

    /// The leaderboard of `kind` over the finished, judged files of the `visible` chains.
    pub fn board(&self, kind: SubjectKind, visible: &[bool]) -> Leaderboard {
        let at = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
        let mut board = Leaderboard::empty();
        for (chain, sums) in &self.boards {
            let seen =
                usize::try_from(*chain).is_ok_and(|c| visible.get(c).copied().unwrap_or(false));
            if let (true, Some(sum)) = (seen, sums.get(at)) {
                sum.add_to(&mut board);
            }
        }
        board
    }

    /// The file at `slot`.
    pub fn id(&self, slot: usize) -> Option<&FileId> {
        self.ids.get(slot)
    }

    fn apply_credits(&mut self, chain: u32, credits: &FileCredits, sign: i64) {
        let sums = self
            .boards
            .entry(chain)
            .or_insert_with(|| [BoardSum::new(), BoardSum::new(), BoardSum::new()]);
        for (sum, kind) in sums.iter_mut().zip(KINDS) {
            sum.apply(&report::leaderboard(kind, [credits]), sign);
        }
    }

    fn note_credited(&mut self, row: &Row) {
        let newest = row.facts.last_event_at.max(row.facts.finished_at);
        self.credited_until = self.credited_until.max(newest);
    }

    fn restart_boards(&mut self) {
        self.boards.clear();
        self.credited = 0;
        self.credited_until = None;
    }

    /// Recomputes every row's unit chain under a changed catalog; the leaderboards are built
    /// again, since a catalog change can change who answers for what.
    pub fn rechain(&mut self, catalog: &Catalog) {
        self.restart_boards();
        self.chain_of.clear();
        for at in 0..self.rows.len() {
            let receipt = self.rows.get(at).and_then(|row| row.receipt);
            let chain = self.chain_for(receipt, catalog);
            if let Some(row) = self.rows.get_mut(at) {
                row.chain = chain;
            }
        }
    }

    fn chain_for(&mut self, receipt: Option<(u32, NaiveDate)>, catalog: &Catalog) -> u32 {
        let Some((unit, date)) = receipt else {
            return 0;
        };
        if let Some(chain) = self.chain_of.get(&(unit, date)) {
            return *chain;
        }
        let ancestry = self
            .units
            .get(unit)
            .map(|unit| catalog.ancestry_at(unit, date))
            .unwrap_or_default();
        let chain = self.chains.intern(&ancestry);
        self.chain_of.insert((unit, date), chain);
        chain
    }

    /// Every file's row.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// How many files are indexed.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no file is indexed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row of `file`.
    pub fn row(&self, file: &FileId) -> Option<&Row> {
        self.rows.get(usize::try_from(*self.slots.get(file)?).ok()?)
    }

    /// The unit chains: the receiving unit, then its ancestors; chain 0 is empty.
    pub fn chains(&self) -> &[Vec<UnitId>] {
        self.chains.values()
    }

    /// Numbers the unit `pick` finds on each chain: the distinct units, and per chain the
    /// number of its unit (`None` where `pick` finds none). For grouping rows by a unit.
    pub fn chain_units<'a>(
        &'a self,
        mut pick: impl FnMut(&'a [UnitId]) -> Option<&'a UnitId>,
    ) -> (Vec<UnitId>, Vec<Option<u32>>) {
        let mut units = Interner::default();
        let per_chain = self
            .chains()
            .iter()
            .map(|chain| pick(chain).map(|unit| units.intern(unit)))
            .collect();
        (units.values, per_chain)
    }

    /// The interned fields.
    pub fn fields(&self) -> &Interner<FieldCode> {
        &self.fields
    }

    /// The interned procedures.
    pub fn procedures(&self) -> &Interner<ProcedureCode> {
        &self.procedures
    }

    /// The interned officers.
    pub fn officers(&self) -> &Interner<OfficerId> {
        &self.officers
    }
}

/// Whether a file has leaderboard credits of its own: finished, with a verdict.
fn creditable(row: &Row) -> bool {
    facts_creditable(&row.facts)
}

fn facts_creditable<F, P>(facts: &FileFacts<F, P>) -> bool {
    facts.standing == FactStanding::Judged
        && facts.finished_at.is_some()
        && facts.finished_verdict.is_some()
}

/// The window a finished file's credits are computed for: everything up to just after its
/// newest event. Its credits are the same for every window without a start that ends later.
pub fn credit_window(summary: &FileSummary) -> Option<report::Window> {
    let finished = summary.finished_at?;
    let newest = summary.newest_event_at.max(Some(finished))?;
    report::Window::new(None, newest + chrono::Duration::seconds(1)).ok()
}

/// Whether a summary has leaderboard credits of its own: finished, with a verdict.
pub fn summary_creditable(summary: &FileSummary) -> bool {
    facts_creditable(&summary.facts())
}

/// The index shared by the engine (the only writer) and the queries.
#[derive(Debug, Clone, Default)]
pub struct SharedIndex(Arc<RwLock<FilesIndex>>);

impl SharedIndex {
    /// Shares `index`.
    pub fn new(index: FilesIndex) -> SharedIndex {
        SharedIndex(Arc::new(RwLock::new(index)))
    }

    /// Reads the index (a poisoned lock still holds a whole index: writers only replace rows).
    pub fn read(&self) -> RwLockReadGuard<'_, FilesIndex> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the index.
    pub fn write(&self) -> RwLockWriteGuard<'_, FilesIndex> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The local date of `instant` on the file's calendar (UTC+7, Vietnam's offset, when the
/// calendar is not in the catalog).
pub fn local_date(catalog: &Catalog, summary: &FileSummary, instant: DateTime<Utc>) -> NaiveDate {
    if let Some(calendar) = summary
        .calendar
        .as_ref()
        .and_then(|(id, _)| catalog.calendar(id))
    {
        return calendar.local_date(instant);
    }
    (instant + chrono::Duration::hours(7)).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_stays_small() {
        // The index holds a row per stored file: its size is the memory per million files.
        eprintln!("row: {} bytes", std::mem::size_of::<Row>());
        assert!(
            std::mem::size_of::<Row>() <= 104,
            "{}",
            std::mem::size_of::<Row>()
        );
    }
}
