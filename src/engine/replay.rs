//! Replay: applying the journal past the state's applied position, at start-up and for
//! `dunghan rebuild`.

use super::{Engine, EngineError};
use crate::store::codec;

/// Journal records applied per state batch during replay.
const REPLAY_CHUNK: usize = 5_000;

impl Engine {
    /// Applies every synced journal record after the state's applied position; returns how
    /// many were applied.
    ///
    /// # Errors
    /// [`EngineError`] if a record cannot be read, decoded or applied.
    pub(super) fn replay(&mut self) -> Result<u64, EngineError> {
        let from = self.store.applied_seq()? + 1;
        let mut chunk = Vec::with_capacity(REPLAY_CHUNK);
        let mut applied = 0;
        for item in self.journal.read_from(from) {
            let (seq, payload) = item?;
            chunk.push((seq, codec::decode_journal_record(&payload)?));
            if chunk.len() == REPLAY_CHUNK {
                applied += chunk.len() as u64;
                self.apply_entries(std::mem::take(&mut chunk))?;
            }
        }
        applied += chunk.len() as u64;
        self.apply_entries(chunk)?;
        Ok(applied)
    }
}
