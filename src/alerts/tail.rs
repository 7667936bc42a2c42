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
