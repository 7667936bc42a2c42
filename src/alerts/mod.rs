//! Alert delivery: subscriptions, fan-out and backpressure.
//!
//! The engine decides and stores alerts (with their sequence numbers) and hands each
//! committed batch to the hub (`AlertSink::publish` of [`AlertHub`]), on its own thread and
//! in sequence order. The hub fans every batch out to the live subscribers, each with its
//! own bounded queue; a subscriber whose queue is full is marked lagged (its stream then
//! ends with `RESOURCE_EXHAUSTED`) instead of ever slowing the engine or dropping an alert
//! silently.
//! A [`Tail`] joins the stored backlog (read from the [`Store`](crate::store::Store)) to the
//! live queue without a gap or a repeat.
//!
//! This module only delivers: it never decides whether an alert holds (that is the domain's
//! `alert_plan`), never writes to the store, and never names gRPC types (that is `api`).

mod filter;
mod hub;
mod tail;

pub use filter::{AlertFilter, KindSelection};
pub use hub::{AlertHub, Ended, Subscription};
pub use tail::{Tail, TailEnd, BACKLOG_PAGE_ALERTS};
