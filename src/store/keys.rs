//! The key layout of the state tree: one byte of record kind, then fixed-width big-endian
//! numbers and 0x00-terminated ids, so byte order is numeric, time and lexical order.
//!
//! Ids never contain control characters (the domain's id types refuse them), so 0x00 ends
//! an id unambiguously and `[kind] "a" 0x00` is never a prefix of `[kind] "ab" 0x00`.
//! Instants are stored as non-negative milliseconds since the Unix epoch.
//! This module owns the encoding; nothing else builds keys by hand.

use chrono::{DateTime, NaiveDate, Utc};
use dunghan_domain::event::Channel;
use dunghan_domain::stats::CounterKey;
use dunghan_domain::{FieldCode, OfficerId, ProcedureCode, UnitId};

/// The one sled tree that holds all derived state.
pub(crate) const STATE_TREE: &str = "state";

/// Record kinds: the first byte of every key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Metadata: applied journal position, layout version.
    Meta = 1,
    /// One event of one file: `[2] file 0 event`.
    Event = 2,
    /// Dedupe index: `[3] event` → content hash and file.
    Dedupe = 3,
    /// File summary: `[4] file`.
    File = 4,
    /// Next alert instant of a file: `[5] ms file`.
    Deadline = 5,
    /// Alerts by sequence: `[7] sequence`.
    Alert = 7,
    /// Additive counters: `[6] day unit 0 officer 0 procedure 0 field 0 channel`.
    Counter = 6,
    /// Catalog change by revision: `[8] revision`.
    Catalog = 8,
    /// Files the catalog cannot judge yet: `[9] file`.
    Unjudged = 9,
}

/// `[1] name`.
pub(crate) fn meta(name: &str) -> Vec<u8> {
    let mut key = vec![Kind::Meta as u8];
    key.extend_from_slice(name.as_bytes());
    key
}

/// `[2] file 0 event`.
pub(crate) fn event(file: &str, event: &str) -> Vec<u8> {
    let mut key = events_of(file);
    key.extend_from_slice(event.as_bytes());
    key
}

/// `[2] file 0`: the prefix of every event of `file`.
pub(crate) fn events_of(file: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(file.len() + 2);
    key.push(Kind::Event as u8);
    push_id(&mut key, file);
    key
}

/// `[3] event`.
pub(crate) fn dedupe(event: &str) -> Vec<u8> {
    let mut key = vec![Kind::Dedupe as u8];
    key.extend_from_slice(event.as_bytes());
    key
}

/// `[4] file`.
pub(crate) fn file(file: &str) -> Vec<u8> {
    let mut key = vec![Kind::File as u8];
    key.extend_from_slice(file.as_bytes());
    key
}

/// `[5] ms file`.
pub(crate) fn deadline(at_ms: u64, file: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(9 + file.len());
    key.push(Kind::Deadline as u8);
    key.extend_from_slice(&at_ms.to_be_bytes());
    key.extend_from_slice(file.as_bytes());
    key
}

/// Splits a deadline key into its instant and file id.
pub(crate) fn parse_deadline(key: &[u8]) -> Option<(u64, String)> {
    let rest = key.strip_prefix(&[Kind::Deadline as u8])?;
    let (ms, file) = rest.split_at_checked(8)?;
    let ms = u64::from_be_bytes(ms.try_into().ok()?);
    Some((ms, String::from_utf8(file.to_vec()).ok()?))
}

/// `[6] day unit 0 officer 0 procedure 0 field 0 channel`: days since 1970 as a big-endian
/// `u32`, so a period is a key range; an absent officer or field is empty, an absent channel 0.
pub(crate) fn counter(key: &CounterKey) -> Vec<u8> {
    let mut bytes = counter_day(key.day);
    push_id(&mut bytes, key.unit.as_str());
    push_id(&mut bytes, key.officer.as_ref().map_or("", |o| o.as_str()));
    push_id(&mut bytes, key.procedure.as_str());
    push_id(&mut bytes, key.field.as_ref().map_or("", |f| f.as_str()));
    bytes.push(match key.channel {
        None => 0,
        Some(Channel::InPerson) => 1,
        Some(Channel::Online) => 2,
        Some(Channel::Postal) => 3,
    });
    bytes
}

/// `[6] day`: the first key of a day's counters.
pub(crate) fn counter_day(day: NaiveDate) -> Vec<u8> {
    let days = (day - EPOCH).num_days().clamp(0, i64::from(u32::MAX));
    let mut bytes = vec![Kind::Counter as u8];
    bytes.extend_from_slice(&u32::try_from(days).unwrap_or(u32::MAX).to_be_bytes());
    bytes
}

/// The counter key of a `[6] ...` key.
pub(crate) fn parse_counter(bytes: &[u8]) -> Option<CounterKey> {
    let rest = bytes.strip_prefix(&[Kind::Counter as u8])?;
    let (days, rest) = rest.split_at_checked(4)?;
    let day = EPOCH + chrono::Days::new(u64::from(u32::from_be_bytes(days.try_into().ok()?)));
    let mut parts = rest.splitn(5, |b| *b == 0);
    let mut text = || std::str::from_utf8(parts.next()?).ok().map(str::to_owned);
    let (unit, officer, procedure, field) = (text()?, text()?, text()?, text()?);
    let channel = match rest.last()? {
        0 => None,
        1 => Some(Channel::InPerson),
        2 => Some(Channel::Online),
        3 => Some(Channel::Postal),
        _ => return None,
    };
    Some(CounterKey {
        day,
        unit: UnitId::new(unit).ok()?,
        officer: (!officer.is_empty())
            .then(|| OfficerId::new(officer).ok())
            .flatten(),
        procedure: ProcedureCode::new(procedure).ok()?,
        field: (!field.is_empty())
            .then(|| FieldCode::new(field).ok())
            .flatten(),
        channel,
    })
}

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a date");

/// `[7] sequence`.
pub(crate) fn alert(sequence: u64) -> Vec<u8> {
    let mut key = vec![Kind::Alert as u8];
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// The sequence of a `[7] sequence` key.
pub(crate) fn parse_alert(key: &[u8]) -> Option<u64> {
    let rest = key.strip_prefix(&[Kind::Alert as u8])?;
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

/// The first key after every key of `kind`.
pub(crate) fn prefix_end(kind: Kind) -> [u8; 1] {
    [kind as u8 + 1]
}

/// `[8] revision`.
pub(crate) fn catalog(revision: u64) -> Vec<u8> {
    let mut key = vec![Kind::Catalog as u8];
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

/// `[9] file`.
pub(crate) fn unjudged(file: &str) -> Vec<u8> {
    let mut key = vec![Kind::Unjudged as u8];
    key.extend_from_slice(file.as_bytes());
    key
}

/// The prefix of every key of `kind`.
pub(crate) fn prefix(kind: Kind) -> [u8; 1] {
    [kind as u8]
}

/// The id after the kind byte of a `[kind] id` key.
pub(crate) fn id_after_kind(key: &[u8]) -> Option<String> {
    String::from_utf8(key.get(1..)?.to_vec()).ok()
}

/// Milliseconds since the epoch of a non-negative instant.
pub(crate) fn to_ms(instant: DateTime<Utc>) -> Option<u64> {
    u64::try_from(instant.timestamp_millis()).ok()
}

/// The instant of stored milliseconds.
pub(crate) fn from_ms(ms: u64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)
}

fn push_id(key: &mut Vec<u8>, id: &str) {
    key.extend_from_slice(id.as_bytes());
    key.push(0);
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn deadline_keys_sort_by_time_then_file() {
        let early = deadline(1_000, "zzz");
        let late = deadline(2_000, "aaa");
        let much_later = deadline(256_000, "aaa");
        assert!(early < late);
        assert!(late < much_later);
        assert_eq!(parse_deadline(&late), Some((2_000, "aaa".to_owned())));
    }

    #[test]
    fn event_prefix_of_a_file_is_not_a_prefix_of_a_longer_file() {
        let key = event("ab", "e1");
        assert!(!key.starts_with(&events_of("a")));
        assert!(key.starts_with(&events_of("ab")));
    }

    #[test]
    fn counter_keys_sort_by_day_and_round_trip() {
        let key = |day: u32, unit: &str| CounterKey {
            day: NaiveDate::from_ymd_opt(2025, 3, day).unwrap(),
            unit: UnitId::new(unit).unwrap(),
            officer: None,
            procedure: ProcedureCode::new("1.009972").unwrap(),
            field: Some(FieldCode::new("xay-dung").unwrap()),
            channel: Some(Channel::Online),
        };
        assert!(counter(&key(3, "zz")) < counter(&key(4, "aa")));
        assert!(counter(&key(3, "zz")) >= counter_day(key(3, "zz").day));
        assert!(counter(&key(3, "zz")) < counter_day(key(4, "aa").day));
        assert_eq!(
            parse_counter(&counter(&key(3, "so-xd"))),
            Some(key(3, "so-xd"))
        );
    }

    #[test]
    fn kinds_do_not_overlap() {
        assert!(file("x") < deadline(0, "x"));
        assert!(dedupe("x") < file("x"));
        assert!(catalog(u64::MAX) < unjudged(""));
    }

    #[test]
    fn instants_round_trip_and_negative_ones_are_refused() {
        let at = Utc.with_ymd_and_hms(2025, 1, 24, 9, 30, 0).unwrap();
        assert_eq!(from_ms(to_ms(at).unwrap()), Some(at));
        let before_epoch = Utc.with_ymd_and_hms(1969, 12, 31, 0, 0, 0).unwrap();
        assert_eq!(to_ms(before_epoch), None);
    }
}
