//! The fan-out point: the engine publishes each committed batch of alerts once, and every
//! live subscriber gets the alerts that pass its filter in its own bounded queue.
//!
//! `publish` runs on the engine thread and must never block or wait for a subscriber: it
//! takes two short `std::sync::Mutex` sections per subscriber (no `.await` is ever held
//! under them) and never allocates more than one shared copy of each alert. A subscriber
//! whose queue would exceed its capacity is marked lagged and its queue is freed; it is
//! then the subscriber's job to end its stream and let the client resume from the store.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::filter::AlertFilter;
use crate::engine::AlertSink;
use crate::store::AlertRecord;

/// Delivers published alerts to live subscribers (cheap to clone; clones share the hub).
#[derive(Debug, Clone, Default)]
pub struct AlertHub {
    inner: Arc<Inner>,
}

/// A live subscription: the alerts published after it was made that pass its filter.
///
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    slot: Arc<Slot>,
    hub: Arc<Inner>,
}

/// Why a subscription delivers nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Its queue was full when an alert for it was published: the subscriber fell behind.
    Lagged,
    /// The hub was closed (the service is shutting down).
    Closed,
}

#[derive(Debug, Default)]
struct Inner {
    slots: Mutex<Slots>,
    next_id: AtomicU64,
    published: AtomicU64,
}

#[derive(Debug, Default)]
struct Slots {
    live: Vec<Arc<Slot>>,
    /// Set once by [`AlertHub::close`]; checked under the same lock as `live` so that no
    /// subscription can slip in after the close.
    closed: bool,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    filter: AlertFilter,
    capacity: usize,
    queue: Mutex<Queue>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    pending: VecDeque<Arc<AlertRecord>>,
    /// The sequence of the first alert published after the subscription was made, whether
    /// or not it passed the filter: every alert before it was stored before the
    /// subscription existed.
    first_live: Option<u64>,
    ended: Option<Ended>,
}

impl AlertHub {
    /// A hub with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes to alerts published from now on that pass `filter`, buffering at most
    /// `capacity` of them (at least one) before the subscription is marked lagged.
    pub fn subscribe(&self, filter: AlertFilter, capacity: usize) -> Subscription {
        let slot = Arc::new(Slot {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            filter,
            capacity: capacity.max(1),
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
        });
        let mut slots = lock(&self.inner.slots);
        if slots.closed {
            lock(&slot.queue).ended = Some(Ended::Closed);
        } else {
            slots.live.push(slot.clone());
        }
        drop(slots);
        Subscription {
            slot,
            hub: self.inner.clone(),
        }
    }

    /// Ends every subscription with [`Ended::Closed`], now and for any made later.
    pub fn close(&self) {
        let mut slots = lock(&self.inner.slots);
        slots.closed = true;
        let live = std::mem::take(&mut slots.live);
        drop(slots);
        for slot in live {
            slot.end(Ended::Closed);
        }
    }

    /// The number of live subscriptions.
    pub fn subscribers(&self) -> usize {
        lock(&self.inner.slots).live.len()
    }

    /// The highest sequence published so far (0 if none).
    pub fn last_published(&self) -> u64 {
        self.inner.published.load(Ordering::Acquire)
    }
}

impl AlertSink for AlertHub {
    fn publish(&self, alerts: &[AlertRecord]) {
        let Some(last) = alerts.last() else {
            return;
        };
        self.inner
            .published
            .fetch_max(last.sequence, Ordering::AcqRel);
        let mut slots = lock(&self.inner.slots);
        if slots.live.is_empty() {
            return;
        }
        // One shared copy per alert, whatever the number of subscribers.
        let shared: Vec<Arc<AlertRecord>> = alerts.iter().cloned().map(Arc::new).collect();
        slots.live.retain(|slot| slot.offer(&shared));
    }
}

impl Subscription {
    /// Waits for the next alerts of this subscription, in sequence order.
    ///
    /// # Errors
    /// [`Ended`] once the subscription lagged or the hub closed; alerts still queued when
    /// the hub closed are delivered first, a lagged queue is discarded.
    pub async fn next_batch(&mut self) -> Result<VecDeque<Arc<AlertRecord>>, Ended> {
        loop {
            {
                let mut queue = lock(&self.slot.queue);
                if !queue.pending.is_empty() {
                    return Ok(std::mem::take(&mut queue.pending));
                }
                if let Some(ended) = queue.ended {
                    return Err(ended);
                }
            }
            // `Notify` keeps one permit, so a publish between the check and here is not lost.
            self.slot.notify.notified().await;
        }
    }

    /// The sequence of the first alert published after this subscription was made (whether
    /// or not it passed the filter); `None` while nothing was published since.
    pub fn first_live(&self) -> Option<u64> {
        lock(&self.slot.queue).first_live
    }

    /// Whether the subscription has ended (lagged or closed).
    pub fn ended(&self) -> Option<Ended> {
        lock(&self.slot.queue).ended
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let id = self.slot.id;
        lock(&self.hub.slots).live.retain(|slot| slot.id != id);
    }
}

impl Slot {
    /// Queues the alerts of `batch` that pass the filter; returns whether the slot stays
    /// subscribed.
    fn offer(&self, batch: &[Arc<AlertRecord>]) -> bool {
        let mut queue = lock(&self.queue);
        if queue.ended.is_some() {
            return false;
        }
        if queue.first_live.is_none() {
            queue.first_live = batch.first().map(|alert| alert.sequence);
        }
        let mut added = false;
        for alert in batch.iter().filter(|alert| self.filter.matches(alert)) {
            if queue.pending.len() >= self.capacity {
                queue.pending = VecDeque::new();
                queue.ended = Some(Ended::Lagged);
                drop(queue);
                self.notify.notify_one();
                return false;
            }
            queue.pending.push_back(alert.clone());
            added = true;
        }
        drop(queue);
        if added {
            self.notify.notify_one();
        }
        true
    }

    fn end(&self, ended: Ended) {
        let mut queue = lock(&self.queue);
        if queue.ended.is_none() {
            queue.ended = Some(ended);
        }
        drop(queue);
        self.notify.notify_one();
    }
}

/// Locks a mutex, recovering it if a thread panicked while holding it: every critical
/// section here leaves the data consistent at each step.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use dunghan_domain::alert::{AlertKind, Severity};
    use dunghan_domain::{FileId, UnitId};

    use super::*;

    fn alert(sequence: u64) -> AlertRecord {
        let at = Utc.with_ymd_and_hms(2025, 3, 3, 1, 0, 0).unwrap();
        AlertRecord {
            sequence,
            file_id: FileId::new(format!("F{sequence}")).unwrap(),
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

    fn sequences(batch: &VecDeque<Arc<AlertRecord>>) -> Vec<u64> {
        batch.iter().map(|alert| alert.sequence).collect()
    }

    #[tokio::test]
    async fn subscriber_gets_alerts_published_after_it_subscribed() {
        let hub = AlertHub::new();
        hub.publish(&[alert(1)]);
        let mut subscription = hub.subscribe(AlertFilter::default(), 8);
        assert_eq!(subscription.first_live(), None);
        hub.publish(&[alert(2), alert(3)]);
        hub.publish(&[alert(4)]);
        assert_eq!(subscription.first_live(), Some(2));
        assert_eq!(
            sequences(&subscription.next_batch().await.unwrap()),
            [2, 3, 4]
        );
        assert_eq!(hub.last_published(), 4);
    }

    #[tokio::test]
    async fn full_queue_marks_the_subscriber_lagged_and_unsubscribes_it() {
        let hub = AlertHub::new();
        let mut slow = hub.subscribe(AlertFilter::default(), 2);
        let mut fast = hub.subscribe(AlertFilter::default(), 8);
        hub.publish(&[alert(1), alert(2)]);
        assert_eq!(sequences(&fast.next_batch().await.unwrap()), [1, 2]);
        hub.publish(&[alert(3)]);
        assert_eq!(slow.next_batch().await, Err(Ended::Lagged));
        assert_eq!(hub.subscribers(), 1);
        assert_eq!(sequences(&fast.next_batch().await.unwrap()), [3]);
    }

    #[tokio::test]
    async fn filtered_out_alerts_take_no_room() {
        let hub = AlertHub::new();
        let filter = AlertFilter {
            file: Some(FileId::new("F3".to_owned()).unwrap()),
            ..AlertFilter::default()
        };
        let mut subscription = hub.subscribe(filter, 1);
        hub.publish(&[alert(1), alert(2), alert(3), alert(4)]);
        assert_eq!(subscription.first_live(), Some(1));
        assert_eq!(sequences(&subscription.next_batch().await.unwrap()), [3]);
    }

    #[tokio::test]
    async fn close_ends_subscriptions_after_what_they_hold() {
        let hub = AlertHub::new();
        let mut subscription = hub.subscribe(AlertFilter::default(), 8);
        hub.publish(&[alert(1)]);
        hub.close();
        assert_eq!(sequences(&subscription.next_batch().await.unwrap()), [1]);
        assert_eq!(subscription.next_batch().await, Err(Ended::Closed));
        let mut late = hub.subscribe(AlertFilter::default(), 8);
        assert_eq!(late.next_batch().await, Err(Ended::Closed));
        assert_eq!(hub.subscribers(), 0);
    }

    #[tokio::test]
    async fn dropping_a_subscription_unsubscribes() {
        let hub = AlertHub::new();
        let subscription = hub.subscribe(AlertFilter::default(), 8);
        assert_eq!(hub.subscribers(), 1);
        drop(subscription);
        assert_eq!(hub.subscribers(), 0);
    }
}
