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
use dunghan_domain::report::FileFacts;
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
    /// Its unit chain (see [`FilesIndex::chain`]); chain 0 is the empty chain of a file
    /// never received.
    pub chain: u32,
    /// The officer its verdict counts under (see [`FileSummary::last_officer`]).
    pub officer: Option<u32>,
    /// The receiving unit and local receipt date, to recompute the chain.
    receipt: Option<(u32, NaiveDate)>,
}

/// The index of every stored file.
#[derive(Debug, Clone)]
pub struct FilesIndex {
    slots: HashMap<FileId, u32>,
    rows: Vec<Row>,
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
            rows: Vec::new(),
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
            index.upsert(&summary?, catalog);
        }
        Ok(index)
    }

    /// Adds a file, or replaces its row.
    pub fn upsert(&mut self, summary: &FileSummary, catalog: &Catalog) {
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
        match self.slots.get(&summary.file_id) {
            Some(slot) => {
                if let Some(existing) = self.rows.get_mut(usize::try_from(*slot).unwrap_or(0)) {
                    *existing = row;
                }
            }
            None => {
                let slot = u32::try_from(self.rows.len()).unwrap_or(u32::MAX);
                self.slots.insert(summary.file_id.clone(), slot);
                self.rows.push(row);
            }
        }
    }

    /// Recomputes every row's unit chain under a changed catalog.
    pub fn rechain(&mut self, catalog: &Catalog) {
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
