//! One subscriber's view: the stored backlog after a sequence number, then the live alerts,
//! in strictly increasing sequence order with no gap and no repeat at the switch-over.
//!
//! The live subscription is made first, so every alert published later is queued; every
//! alert published earlier was committed to the store before it was published (the
//! engine's contract), so a backlog read made after subscribing finds it. The backlog is
//! read up to the first live sequence (or to its end if nothing was published since), and
//! live alerts at or below the last sequence seen are skipped.

use std::collections::VecDeque;
use std::sync::Arc;

use super::filter::AlertFilter;
use super::hub::{AlertHub, Ended, Subscription};
use crate::store::{AlertRecord, Store, StoreError};

/// Stored alerts read per backlog page.
pub const BACKLOG_PAGE_ALERTS: usize = 256;

/// The backlog then the live alerts after a sequence number that pass a filter.
#[derive(Debug)]
pub struct Tail {
    store: Store,
    filter: AlertFilter,
    subscription: Subscription,
    /// The highest sequence seen, delivered or filtered out: everything at or below it that
    /// passes the filter was delivered.
    seen: u64,
    /// The highest sequence delivered (the request's `after` until one is).
    sent: u64,
    ready: VecDeque<Arc<AlertRecord>>,
    backlog_done: bool,
}

/// Why a tail delivers nothing more.
#[derive(Debug, thiserror::Error)]
pub enum TailEnd {
    /// The subscriber fell too far behind the live alerts; it resumes after `last_sent`.
    #[error("subscriber lagged; last sequence sent {last_sent}")]
    Lagged {
        /// The last sequence delivered (or the sequence the tail started after).
        last_sent: u64,
    },
    /// The service is shutting down; the subscriber resumes after `last_sent`.
    #[error("the service is shutting down; last sequence sent {last_sent}")]
    Closed {
        /// The last sequence delivered (or the sequence the tail started after).
        last_sent: u64,
    },
    /// The backlog cannot be read.
    #[error("reading stored alerts after {after}: {source}")]
    Store {
        /// The sequence the failed read started after.
        after: u64,
        /// The cause.
        source: StoreError,
    },
    /// The blocking backlog read was cancelled (the runtime is shutting down).
    #[error("backlog read after {after} was cancelled")]
    Cancelled {
        /// The sequence the cancelled read started after.
        after: u64,
    },
}

impl Tail {
    /// Subscribes now to live alerts passing `filter`, buffering at most `capacity` of them,
    /// and prepares to read the stored alerts after `after` first.
    pub fn start(
        hub: &AlertHub,
        store: Store,
        after: u64,
        filter: AlertFilter,
        capacity: usize,
    ) -> Self {
        // Subscribe before the first backlog read: see the module docs.
        let subscription = hub.subscribe(filter.clone(), capacity);
        Self {
            store,
            filter,
            subscription,
            seen: after,
            sent: after,
            ready: VecDeque::new(),
            backlog_done: false,
        }
    }

    /// The next alert passing the filter: the backlog first, then live alerts as they are
    /// published.
    ///
    /// # Errors
    /// [`TailEnd`] when the tail is over: lagged, closed, or the backlog cannot be read.
    pub async fn next(&mut self) -> Result<Arc<AlertRecord>, TailEnd> {
        loop {
            while let Some(alert) = self.ready.pop_front() {
                if alert.sequence <= self.seen {
                    continue;
                }
                self.seen = alert.sequence;
                if self.filter.matches(&alert) {
                    self.sent = alert.sequence;
                    return Ok(alert);
                }
            }
            if self.backlog_done {
                let batch = self
                    .subscription
                    .next_batch()
                    .await
                    .map_err(|ended| match ended {
                        Ended::Lagged => TailEnd::Lagged {
                            last_sent: self.sent,
                        },
                        Ended::Closed => TailEnd::Closed {
                            last_sent: self.sent,
                        },
                    })?;
                self.ready = batch;
            } else {
                self.read_backlog_page().await?;
            }
        }
    }

    /// The last sequence delivered (or the one the tail started after).
    pub fn last_sent(&self) -> u64 {
        self.sent
    }

    async fn read_backlog_page(&mut self) -> Result<(), TailEnd> {
        let after = self.seen;
        let store = self.store.clone();
        let page =
            tokio::task::spawn_blocking(move || store.alerts_after(after, BACKLOG_PAGE_ALERTS))
                .await
                .map_err(|_| TailEnd::Cancelled { after })?
                .map_err(|source| TailEnd::Store { after, source })?;
        let read_to = page.last().map_or(after, |alert| alert.sequence);
        // Every alert before the first live one was stored before the subscription was
        // made, so the backlog ends there even while more alerts keep coming.
        let reached_live = self
            .subscription
            .first_live()
            .is_some_and(|first_live| read_to.saturating_add(1) >= first_live);
        self.backlog_done = page.len() < BACKLOG_PAGE_ALERTS || reached_live;
        self.ready.extend(page.into_iter().map(Arc::new));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use dunghan_domain::alert::{AlertKind, Severity};
    use dunghan_domain::{FileId, UnitId};

    use super::*;
    use crate::engine::AlertSink;
    use crate::store::StateBatch;

    fn alert(sequence: u64) -> AlertRecord {
        let at = Utc.with_ymd_and_hms(2025, 3, 3, 1, 0, 0).unwrap();
        AlertRecord {
            sequence,
            file_id: FileId::new(format!("F{}", sequence % 3)).unwrap(),
            kind: AlertKind::FileOverdue,
            step: None,
            key: String::new(),
            severity: Severity::Critical,
            due_at: Some(at),
            fired_at: at,
            recorded_at: at,
            unit_path: vec![UnitId::new("ttphvhcc".to_owned()).unwrap()],
            officer: None,
            detail: String::new(),
            retracts: None,
        }
    }

    /// Stores then publishes `sequences` as one batch, as the engine does.
    fn emit(store: &Store, hub: &AlertHub, sequences: std::ops::RangeInclusive<u64>) {
        let alerts: Vec<AlertRecord> = sequences.map(alert).collect();
        let mut batch = StateBatch::default();
        for record in &alerts {
            batch.put_alert(record);
        }
        store.commit(batch).unwrap();
        hub.publish(&alerts);
    }

    async fn take(tail: &mut Tail, n: usize) -> Vec<u64> {
        let mut sequences = Vec::with_capacity(n);
        for _ in 0..n {
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), tail.next());
            sequences.push(next.await.unwrap().unwrap().sequence);
        }
        sequences
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backlog_joins_live_alerts_without_gap_or_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let hub = AlertHub::new();
        // More than two backlog pages before the tail, then alerts racing its backlog read.
        emit(&store, &hub, 1..=600);
        let mut tail = Tail::start(&hub, store.clone(), 0, AlertFilter::default(), 10_000);
        let producer = {
            let (store, hub) = (store.clone(), hub.clone());
            std::thread::spawn(move || {
                for first in (601..=1200).step_by(10) {
                    emit(&store, &hub, first..=first + 9);
                }
            })
        };
        let received = take(&mut tail, 1200).await;
        producer.join().unwrap();
        assert_eq!(received, (1..=1200).collect::<Vec<u64>>());
        assert_eq!(tail.last_sent(), 1200);
    }

    #[tokio::test]
    async fn resumed_tail_with_a_filter_starts_after_its_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let hub = AlertHub::new();
        emit(&store, &hub, 1..=9);
        let filter = AlertFilter {
            file: Some(FileId::new("F1".to_owned()).unwrap()),
            ..AlertFilter::default()
        };
        let mut tail = Tail::start(&hub, store.clone(), 4, filter, 4);
        emit(&store, &hub, 10..=13);
        assert_eq!(take(&mut tail, 3).await, [7, 10, 13]);
    }

    #[tokio::test]
    async fn lag_ends_the_tail_with_the_last_sequence_sent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let hub = AlertHub::new();
        let mut tail = Tail::start(&hub, store.clone(), 0, AlertFilter::default(), 2);
        emit(&store, &hub, 1..=2);
        assert_eq!(take(&mut tail, 2).await, [1, 2]);
        emit(&store, &hub, 3..=5);
        let end = tail.next().await.unwrap_err();
        assert!(matches!(end, TailEnd::Lagged { last_sent: 2 }), "{end:?}");
        hub.close();
    }
}
