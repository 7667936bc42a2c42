//! Catalog changes through the engine: checked as a whole against the catalog in force,
//! journaled, then applied; files the catalog could not judge are judged again.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;
use dunghan_domain::calendar::Calendar;
use dunghan_domain::catalog::Catalog;
use dunghan_domain::WorkingTime;

use super::{Engine, EngineError};
use crate::store::codec::{self, CatalogChangeEntry, CatalogObject, JournalEntry};
use crate::store::Store;

/// One catalog object version to add or replace.
#[derive(Debug, Clone)]
pub struct CatalogChange {
    /// The local date it takes effect.
    pub effective_from: NaiveDate,
    /// The object.
    pub object: CatalogObject,
}

/// What became of a set of catalog changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogOutcome {
    /// Whether they were applied (false for a dry run or when any is invalid).
    pub applied: bool,
    /// The revision (journal position) of each applied change, in order.
    pub revisions: Vec<u64>,
    /// Problems that refused the whole set, each naming the object and field.
    pub errors: Vec<String>,
    /// Suspicious but accepted data.
    pub warnings: Vec<String>,
    /// Files whose judgement the changes may alter (unjudged files are judged at once).
    pub unjudged_files_judged: usize,
}

/// The standard day used to compare step allotments with deadlines in working days.
const STANDARD_DAY: WorkingTime = WorkingTime::hours(8);

/// `catalog` with `change` applied.
///
/// # Errors
/// [`EngineError::InvalidCatalog`] if a calendar does not compile.
pub(crate) fn apply_change(
    catalog: &Catalog,
    change: &CatalogChangeEntry,
) -> Result<Catalog, EngineError> {
    let mut next = catalog.clone();
    let from = change.effective_from;
    match &change.object {
        CatalogObject::Procedure(procedure) => next
            .procedures
            .entry(procedure.code.clone())
            .or_default()
            .insert(from, procedure.clone()),
        CatalogObject::Unit(unit) => next
            .units
            .entry(unit.id.clone())
            .or_default()
            .insert(from, unit.clone()),
        CatalogObject::Officer(officer) => next
            .officers
            .entry(officer.id.clone())
            .or_default()
            .insert(from, officer.clone()),
        CatalogObject::Calendar(spec) => {
            let calendar = Calendar::compile(spec.clone())
                .map_err(|err| EngineError::InvalidCatalog(err.to_string()))?;
            next.calendars.insert(spec.id.clone(), Arc::new(calendar));
        }
    }
    Ok(next)
}

/// The catalog: `base` with every stored change applied in revision order.
///
/// # Errors
/// [`EngineError`] if a stored change cannot be read or applied.
pub(crate) fn load_stored(store: &Store, base: Catalog) -> Result<Catalog, EngineError> {
    let mut catalog = base;
    for record in store.catalog_records()? {
        match codec::decode_journal_record(&record)? {
            JournalEntry::Catalog(change) => catalog = apply_change(&catalog, &change)?,
            JournalEntry::Event { .. } | JournalEntry::Rejudge(_) => {
                return Err(EngineError::InvalidCatalog(
                    "a stored catalog record holds no catalog change".to_owned(),
                ))
            }
        }
    }
    Ok(catalog)
}

impl Engine {
    pub(super) fn change_catalog(
        &mut self,
        changes: Vec<CatalogChange>,
        actor: &str,
        dry_run: bool,
    ) -> Result<CatalogOutcome, EngineError> {
        let now = self.clock.now();
        let entries: Vec<CatalogChangeEntry> = changes
            .into_iter()
            .map(|change| CatalogChangeEntry {
                effective_from: change.effective_from,
                object: change.object,
                actor: actor.to_owned(),
                recorded_at: now,
                revision: 0,
            })
            .collect();
        let mut outcome = CatalogOutcome::default();
        let mut candidate = (*self.catalog).clone();
        for entry in &entries {
            match apply_change(&candidate, entry) {
                Ok(next) => candidate = next,
                Err(err) => outcome
                    .errors
                    .push(format!("{}: {err}", describe(&entry.object))),
            }
        }
        // Only problems the changes introduce refuse them; older ones are not the caller's.
        let (before, _) = self.catalog.validate(STANDARD_DAY);
        let before: BTreeSet<String> = before.iter().map(ToString::to_string).collect();
        let (after, warnings) = candidate.validate(STANDARD_DAY);
        outcome.errors.extend(
            after
                .iter()
                .map(ToString::to_string)
                .filter(|err| !before.contains(err)),
        );
        outcome.warnings = warnings.iter().map(ToString::to_string).collect();
        if dry_run || !outcome.errors.is_empty() || entries.is_empty() {
            return Ok(outcome);
        }
        let payloads = entries.iter().map(codec::encode_catalog_change).collect();
        let range = self.runtime.block_on(self.journal.append(payloads))?;
        let n_unjudged = self.store.unjudged_files()?.len();
        let journaled: Vec<(u64, JournalEntry)> = range
            .clone()
            .zip(entries)
            .map(|(seq, mut entry)| {
                entry.revision = seq;
                (seq, JournalEntry::Catalog(entry))
            })
            .collect();
        self.apply_entries(journaled)?;
        outcome.applied = true;
        outcome.revisions = range.collect();
        outcome.unjudged_files_judged =
            n_unjudged.saturating_sub(self.store.unjudged_files()?.len());
        tracing::info!(
            actor,
            changes = outcome.revisions.len(),
            judged = outcome.unjudged_files_judged,
            "catalog changed"
        );
        Ok(outcome)
    }
}

/// `procedure 1.004227`, `unit so-xd`...
pub(crate) fn describe(object: &CatalogObject) -> String {
    match object {
        CatalogObject::Procedure(p) => format!("procedure {}", p.code),
        CatalogObject::Unit(u) => format!("unit {}", u.id),
        CatalogObject::Officer(o) => format!("officer {}", o.id),
        CatalogObject::Calendar(c) => format!("calendar {}", c.id),
    }
}
